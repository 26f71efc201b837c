// Format stage: database rows become the public response shapes (DESIGN.md "Public contracts"):
// dense, labelled intervals; breakdown rows in rank order; counts as numbers; empty cells filled.
import { bucketLabel } from './clock.js';
import {
  BREAKDOWN_PART_END,
  BREAKDOWN_PART_NOT_SET,
  FUNNEL_OVER_TIME_ROW,
  LIFECYCLE_STATUSES,
  SEGMENT_NOT_SET,
  SEGMENT_WHOLE,
  SEGMENT_OTHER,
  SEGMENT_VALUE,
  DISCOVERY_COLUMNS,
} from './compile.js';
import type { ExecutedQuery } from './execute.js';
import { rowObjects, type QueryRows } from './rows.js';
import {
  COLUMN_PROPERTY_NAMES,
  isQueryableJsonKey,
  type FunnelQuery,
  type MathKind,
  type Query,
  type RetentionQuery,
  type TrendsQuery,
} from './model.js';
import { evaluateFormula, parseFormula } from './formula.js';
import { dayString } from './clock.js';
import type {
  FlowsPlan,
  FrequencyPeriod,
  FrequencyPlan,
  FunnelPlan,
  LifecyclePlan,
  Plan,
  PlannedSeries,
  RetentionPlan,
  TrendsPlan,
} from './plan.js';

/** Which rows of a breakdown a result row is: a value, everything else, or no value at all. */
export type BreakdownKind = 'none' | 'value' | 'other' | 'not_set';

/**
 * A breakdown row's value: the property's text (one property), the cohort's id (cohorts), or
 * one entry per property (a list breakdown; null where that property is not set). Null for the
 * rows that are not a value ('none', 'other', 'not_set').
 */
export type BreakdownValue = string | (string | null)[] | null;

/** The text of a list breakdown's segment value (compile.ts `breakdownValue`) as its list. */
export function decodeBreakdownList(text: string): (string | null)[] {
  const out: (string | null)[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === BREAKDOWN_PART_NOT_SET) {
      out.push(null);
      i += 1;
      continue;
    }
    const end = text.indexOf(BREAKDOWN_PART_END, i);
    if (end < 0) throw new Error('a list breakdown value ends each set part with a space');
    out.push(Buffer.from(text.slice(i, end), 'hex').toString('utf8'));
    i = end + 1;
  }
  return out;
}

/** A segment's public value in the query's form (lists decoded). */
function publicValue(form: 'single' | 'list', value: string | null): BreakdownValue {
  return value !== null && form === 'list' ? decodeBreakdownList(value) : value;
}

export interface TrendsSeriesResult {
  event: string | null;
  math: MathKind;
  property: string | null;
  /** The breakdown value of this row; null for 'none', 'other' and 'not_set'. */
  breakdown_value: BreakdownValue;
  breakdown_kind: BreakdownKind;
  labels: string[];
  /** Per interval; 0 where nothing was counted, null where an average/min/max/percentile has no value. */
  values: (number | null)[];
  /** Over the whole range (distinct users across the range for unique_users). */
  total: number | null;
  /** With `compare`: the values over the previous period, bucket i beside bucket i. */
  previous_values?: (number | null)[];
  previous_total?: number | null;
}

export interface TrendsResult {
  series: TrendsSeriesResult[];
  /** With `formula`: the series combined by letter. */
  formula?: FormulaResult;
}

export interface FormulaResult {
  formula: string;
  labels: string[];
  /** Per interval; null where a series has no value or the formula divides by zero. */
  values: (number | null)[];
  /** The formula applied to the series' totals. */
  total: number | null;
  /**
   * With a breakdown: the formula per segment, over the series' rows of that segment (every
   * series has a row for each), in their order; `values` and `total` are then over the whole
   * series.
   */
  breakdowns?: FormulaBreakdownResult[];
}

export interface FormulaBreakdownResult {
  breakdown_value: BreakdownValue;
  breakdown_kind: BreakdownKind;
  values: (number | null)[];
  total: number | null;
}

export interface FunnelStepResult {
  event: string;
  /** Users who reached this step. */
  count: number;
  /** Median seconds from the previous step, over users who reached this one; null for step 1. */
  median_seconds_to_convert: number | null;
  /**
   * Seconds from the previous step to this one, over the users who reached it (continuous
   * quantiles). Null for step 1; each quantile null when nobody reached the step.
   */
  time_to_convert: TimeQuantiles | null;
  /** Seconds from the entry to this step (the last step's is the whole funnel's). */
  time_from_start: TimeQuantiles | null;
}

export interface TimeQuantiles {
  p25: number | null;
  p50: number | null;
  p75: number | null;
  p90: number | null;
}

/** Conversion per interval of entry: the users who entered in it, each with their best attempt. */
export interface FunnelOverTime {
  interval: 'hour' | 'day' | 'week' | 'month';
  rows: {
    /** The interval's label (as trends labels them). */
    start: string;
    /** Users who entered in the interval. */
    entered: number;
    /** Of those, users who reached the last step. */
    converted: number;
    /** Users reaching each step, among those who entered in the interval ([0]: entered). */
    steps: number[];
    /** Last step ÷ entered; null when nobody entered. */
    conversion_rate: number | null;
  }[];
}

export interface FunnelBreakdownResult {
  breakdown_value: BreakdownValue;
  breakdown_kind: Exclude<BreakdownKind, 'none'>;
  steps: FunnelStepResult[];
}

export interface FunnelResult {
  steps: FunnelStepResult[];
  /** Present when the query has a breakdown: the users split by their entry's property value. */
  breakdowns?: FunnelBreakdownResult[];
  /** Present with `conversion_over_time`: every interval of the range, for all users. */
  conversion_over_time?: FunnelOverTime;
}

export interface RetentionCohort {
  /** First day of the cohort's period, YYYY-MM-DD. */
  start: string;
  size: number;
  /** `periods + 1` entries; [0] is the size. */
  counts: number[];
}

export interface RetentionBreakdownResult {
  breakdown_value: BreakdownValue;
  breakdown_kind: Exclude<BreakdownKind, 'none'>;
  /** The same periods as the overall cohorts (every one, empty ones with zeros). */
  cohorts: RetentionCohort[];
}

export interface RetentionResult {
  /** Every user (a user in several cohort segments counts once here). */
  cohorts: RetentionCohort[];
  /** Present when the query has a breakdown: the cohorts split by segment. */
  breakdowns?: RetentionBreakdownResult[];
}

export interface EventNamesResult {
  events: { event: string; count: number }[];
}

export type JsonTypeName = 'string' | 'number' | 'boolean' | 'array' | 'object';

export interface EventPropertiesResult {
  /** Events inspected: the most recent ones (those at or after the time of the sample-size-th). */
  sampled_events: number;
  properties: {
    property: string;
    /** The most frequent type. */
    type: JsonTypeName;
    /** Events (of the sample) where the property is set. */
    count: number;
    types: { type: JsonTypeName; count: number }[];
  }[];
}

export interface PropertyValuesResult {
  values: { value: string; count: number }[];
}

export interface CohortSizeResult {
  cohort: string;
  /** Users in the cohort now (resolved users). */
  size: number;
}

/** One step of a flow: its events (the top ones, then "$other"), links from the step before. */
export interface FlowStepResult {
  step: number;
  nodes: { event: string; count: number }[];
  links: { from: string; to: string; count: number }[];
  /** Users at the step before who have no event at this one. */
  dropoff: number;
}

export interface FlowsResult {
  steps: FlowStepResult[];
}

/** The name events beyond a step's top ones are grouped under. */
export const FLOW_OTHER = '$other';

/**
 * Lifecycle: per interval (labelled as trends label them), the users active in it split into
 * new, returning and resurrecting, and the users who went dormant in it (active in the interval
 * before, not in this one) as a negative count, so that a stacked chart puts them below zero.
 */
export interface LifecycleResult {
  labels: string[];
  new: number[];
  returning: number[];
  resurrecting: number[];
  /** 0 or less: minus the users who went dormant. */
  dormant: number[];
}

/** One period of a frequency series: its users by the number of distinct intervals. */
export interface FrequencyPeriodResult {
  /** The period's first and last day inside the range, YYYY-MM-DD. */
  start: string;
  end: string;
  /** Whether the whole calendar week or month lies inside the range (always true per range). */
  complete: boolean;
  /** K: the intervals that lie wholly or partly in the period's days (the counts' length). */
  intervals: number;
  /** Users who did the event on at least one interval of the period (= cumulative[0]). */
  users: number;
  /** counts[k - 1]: users who did it on exactly k distinct intervals of the period. */
  counts: number[];
  /** cumulative[k - 1]: users who did it on k or more distinct intervals. */
  cumulative: number[];
}

export interface FrequencySeriesResult {
  event: string | null;
  breakdown_value: BreakdownValue;
  breakdown_kind: BreakdownKind;
  periods: FrequencyPeriodResult[];
  /** With `compare`: the same segment's periods over the range just before (its own periods). */
  previous_periods?: FrequencyPeriodResult[];
}

export interface FrequencyResult {
  interval: 'hour' | 'day' | 'week' | 'month';
  per: 'range' | 'week' | 'month';
  /** Per series, one row per breakdown segment (ranked as trends'), or one without a breakdown. */
  series: FrequencySeriesResult[];
}

export type QueryResult =
  | TrendsResult
  | FrequencyResult
  | FunnelResult
  | RetentionResult
  | EventNamesResult
  | EventPropertiesResult
  | PropertyValuesResult
  | CohortSizeResult
  | FlowsResult
  | LifecycleResult;

/** Orders strings by UTF-8 bytes (= code points), as the database does. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const num = (value: unknown): number | null =>
  value === null || value === undefined ? null : Number(value);

const count = (value: unknown): number => num(value) ?? 0;

/** Maths whose empty cell is 0 (counts and sums); the others have no value on no data. */
const ZERO_WHEN_EMPTY: ReadonlySet<MathKind> = new Set([
  'total',
  'unique_users',
  'sum',
  'unique_groups',
  'weekly_active',
  'monthly_active',
]);

const KIND_OF_SEGMENT: Record<number, Exclude<BreakdownKind, 'none'>> = {
  [SEGMENT_VALUE]: 'value',
  [SEGMENT_OTHER]: 'other',
  [SEGMENT_NOT_SET]: 'not_set',
};

interface Segment {
  seg: number;
  value: string | null;
  rank: number;
}

/** Ranked values first (rank descending, then value), then "other", then "not set". */
function compareSegments(a: Segment, b: Segment): number {
  if (a.seg !== b.seg) return a.seg - b.seg;
  if (a.rank !== b.rank) return b.rank - a.rank;
  return compareUtf8(a.value ?? '', b.value ?? '');
}

const segmentKey = (seg: number, value: string | null): string => `${seg}\u0000${value ?? ''}`;

type SeriesGroup = { segment: Segment; values: (number | null)[]; total: number | null };

/** The rows of one series statement as groups (one per breakdown segment), dense over buckets. */
function seriesGroups(
  p: TrendsPlan,
  s: PlannedSeries,
  executed: ExecutedQuery,
  name: string,
  shown?: ExecutedQuery,
): Map<string, SeriesGroup> {
  const rows = rowObjects(executed.results.get(name) ?? { columns: [], rows: [] });
  const empty = ZERO_WHEN_EMPTY.has(s.math) ? 0 : null;
  const width = p.lastBucket - p.firstBucket + 1;
  const groups = new Map<string, SeriesGroup>();
  const groupOf = (row: Record<string, unknown>) => {
    const seg = p.breakdown ? Number(row.seg) : SEGMENT_VALUE;
    const value = p.breakdown && row.seg_value !== null ? scalarText(row.seg_value) : null;
    const key = segmentKey(seg, value);
    let g = groups.get(key);
    if (!g) {
      g = {
        segment: { seg, value, rank: count(row.rank_n) },
        values: Array.from({ length: width }, () => empty),
        total: empty,
      };
      groups.set(key, g);
    }
    return g;
  };
  if (!p.breakdown) groupOf({});
  for (const row of rows) {
    const g = groupOf(row);
    const value = num(row.value) ?? empty;
    if (Number(row.is_total) === 1) g.total = value;
    else g.values[Number(row.bucket) - p.firstBucket] = value;
  }
  // Cumulative unique users are counted so by their statement (plan.ts cumulativeWindows).
  if (p.analysis === 'cumulative' && !s.active)
    for (const g of groups.values()) g.values = runningSums(g.values);
  if (p.rolling) {
    const { window, firstShown } = p.rolling;
    const totals = shown ? seriesTotals(p, shown, name, empty) : null;
    for (const [key, g] of groups) {
      g.values = rollingMeans(g.values, window).slice(firstShown - p.firstBucket);
      // The total is the range's shown, as a linear trend's (the values read before are not in it).
      if (totals) g.total = totals.has(key) ? totals.get(key)! : empty;
    }
  }
  return groups;
}

/** Each value plus those before it (a missing value adds nothing; counts and sums have none). */
export function runningSums(values: (number | null)[]): (number | null)[] {
  let sum = 0;
  return values.map((v) => (sum += v ?? 0));
}

/**
 * Each value the mean of the values of the `window` positions ending there (fewer at the start),
 * those without a value left out; null when none has one.
 */
export function rollingMeans(values: (number | null)[], window: number): (number | null)[] {
  return values.map((_, i) => {
    let sum = 0;
    let n = 0;
    for (let j = Math.max(0, i - window + 1); j <= i; j++) {
      const v = values[j];
      if (v === null || v === undefined) continue;
      sum += v;
      n++;
    }
    return n === 0 ? null : sum / n;
  });
}

/** The totals (is_total rows) of a statement, by segment key. */
function seriesTotals(
  p: TrendsPlan,
  executed: ExecutedQuery,
  name: string,
  empty: number | null,
): Map<string, number | null> {
  const totals = new Map<string, number | null>();
  for (const row of rowObjects(executed.results.get(name) ?? { columns: [], rows: [] })) {
    if (Number(row.is_total) !== 1) continue;
    const seg = p.breakdown ? Number(row.seg) : SEGMENT_VALUE;
    const value = p.breakdown && row.seg_value !== null ? scalarText(row.seg_value) : null;
    totals.set(segmentKey(seg, value), num(row.value) ?? empty);
  }
  return totals;
}

/**
 * A trend's rows. A rolling trend's plan reads from before `from` (plan.ts rollingPlans): its
 * buckets are rolled and those shown kept, and its totals are `shown`'s, the linear trend's.
 */
function formatTrends(
  q: TrendsQuery,
  p: TrendsPlan,
  executed: ExecutedQuery,
  shown?: ExecutedQuery,
): TrendsResult {
  const labels: string[] = [];
  for (let b = p.rolling?.firstShown ?? p.firstBucket; b <= p.lastBucket; b++)
    labels.push(bucketLabel(p.unit, b));
  const width = labels.length;
  const series: TrendsSeriesResult[] = [];
  const groupsOf = p.series.map((s) => seriesGroups(p, s, executed, `series:${s.index}`, shown));
  // A split series' statement may also hold the series counted whole (compile.ts wholeInline).
  const inlineWhole = groupsOf.map((groups) => {
    const key = segmentKey(SEGMENT_WHOLE, null);
    const g = groups.get(key);
    groups.delete(key);
    return g;
  });
  // Split by the first series' values (a formula with a breakdown): every series gets a row for
  // each segment any of them has, empty where it has no events, so that the rows line up.
  const shared = p.segmentsOfFirst && p.breakdown ? sharedSegments(groupsOf) : null;
  const byKey = new Map<string, TrendsSeriesResult[]>();
  p.series.forEach((s, i) => {
    const spec = q.series[s.index]!;
    const groups = groupsOf[i]!;
    const previous = p.previous
      ? seriesGroups(p.previous, s, executed, `previous:series:${s.index}`, shown)
      : null;
    const empty = ZERO_WHEN_EMPTY.has(s.math) ? 0 : null;
    const ordered = shared
      ? shared.map(([key, segment]): [string, SeriesGroup] => [
          key,
          groups.get(key) ?? {
            segment,
            values: Array.from({ length: width }, () => empty),
            total: empty,
          },
        ])
      : [...groups.entries()].sort((a, b) => compareSegments(a[1].segment, b[1].segment));
    for (const [key, g] of ordered) {
      const row: TrendsSeriesResult = {
        event: spec.event,
        math: spec.math,
        property: spec.property,
        breakdown_value:
          g.segment.seg === SEGMENT_VALUE && p.breakdown
            ? publicValue(p.breakdown.form, g.segment.value)
            : null,
        breakdown_kind: p.breakdown ? KIND_OF_SEGMENT[g.segment.seg]! : 'none',
        labels,
        values: g.values,
        total: g.total,
      };
      if (previous) {
        // Bucket i of the previous period beside bucket i of this one (same segment).
        const before = previous.get(key);
        row.previous_values = labels.map((_, i) => (before ? (before.values[i] ?? empty) : empty));
        row.previous_total = before ? before.total : empty;
      }
      series.push(row);
      byKey.set(key, [...(byKey.get(key) ?? []), row]);
    }
  });
  const result: TrendsResult = { series };
  if (q.formula !== null) {
    if (!shared) result.formula = formulaResult(q.formula, series, labels);
    else {
      const whole = p.series.map((s, i) => {
        const name = `whole:series:${s.index}`;
        // Counted whole in its own statement, or in the split one's rows (none: nothing matched).
        const [g] = executed.results.has(name)
          ? seriesGroups({ ...p, breakdown: null }, s, executed, name, shown).values()
          : [inlineWhole[i]];
        const empty = ZERO_WHEN_EMPTY.has(s.math) ? 0 : null;
        return g ?? { values: Array.from({ length: width }, () => empty), total: empty };
      });
      result.formula = {
        ...formulaResult(q.formula, whole, labels),
        breakdowns: shared.map(([key]) => {
          const rows = byKey.get(key)!;
          const { values, total } = formulaResult(q.formula!, rows, labels);
          return {
            breakdown_value: rows[0]!.breakdown_value,
            breakdown_kind: rows[0]!.breakdown_kind,
            values,
            total,
          };
        }),
      };
    }
  }
  return result;
}

/**
 * The segments of a trend whose series are split by the first one's values, in order: the first
 * series' values (its ranks), then `other` and `not_set` if any series has them.
 */
function sharedSegments(groupsOf: Map<string, SeriesGroup>[]): [string, Segment][] {
  const all = new Map<string, Segment>();
  for (const groups of groupsOf)
    for (const [key, g] of groups) if (!all.has(key)) all.set(key, g.segment);
  return [...all].sort((a, b) => compareSegments(a[1], b[1]));
}

/** The formula over one row of each series: per bucket, and over the series' totals. */
export function formulaResult(
  formula: string,
  series: readonly Pick<TrendsSeriesResult, 'values' | 'total'>[],
  labels: string[],
): FormulaResult {
  const tree = parseFormula(formula, series.length);
  return {
    formula,
    labels,
    values: labels.map((_, i) =>
      evaluateFormula(
        tree,
        series.map((s) => s.values[i] ?? null),
      ),
    ),
    total: evaluateFormula(
      tree,
      series.map((s) => s.total),
    ),
  };
}

function funnelSteps(q: FunnelQuery, row: Record<string, unknown> | undefined): FunnelStepResult[] {
  const seconds = (name: string): number | null => {
    const ms = row ? num(row[name]) : null;
    // Interpolated quantiles of millisecond times: whole milliseconds, so that engines whose
    // float arithmetic differs in the last digit (DuckDB, ClickHouse) give the same answer.
    return ms === null ? null : Math.round(ms) / 1000;
  };
  const quantiles = (tag: string, k: number): TimeQuantiles => ({
    p25: seconds(`${tag}_p25_${k}`),
    p50: seconds(`${tag}_median_${k}`),
    p75: seconds(`${tag}_p75_${k}`),
    p90: seconds(`${tag}_p90_${k}`),
  });
  return q.steps.map((step, i) => {
    const k = i + 1;
    const fromPrevious = k === 1 ? null : quantiles('prev', k);
    return {
      event: step.event,
      count: row ? count(row[`n${k}`]) : 0,
      median_seconds_to_convert: fromPrevious?.p50 ?? null,
      time_to_convert: fromPrevious,
      time_from_start: k === 1 ? null : quantiles('start', k),
    };
  });
}

/** Conversion rate of a row of step counts: last step ÷ first, null when nobody entered. */
export function conversionRate(steps: number[]): number | null {
  const entered = steps[0] ?? 0;
  return entered === 0 ? null : steps[steps.length - 1]! / entered;
}

function formatFunnel(q: FunnelQuery, p: FunnelPlan, executed: ExecutedQuery): FunnelResult {
  const rows = rowObjects(executed.results.get('funnel') ?? { columns: [], rows: [] });
  const total = rows.find((r) => Number(r.is_total) === 1);
  const result: FunnelResult = { steps: funnelSteps(q, total) };
  const breakdown = p.breakdown;
  if (breakdown) {
    result.breakdowns = rows
      .filter((r) => Number(r.is_total) === 0)
      .map((r) => ({
        segment: {
          seg: Number(r.seg),
          value: r.seg_value === null ? null : scalarText(r.seg_value),
          rank: count(r.rank_n),
        },
        row: r,
      }))
      .sort((a, b) => compareSegments(a.segment, b.segment))
      .map(({ segment, row }) => ({
        breakdown_value:
          segment.seg === SEGMENT_VALUE ? publicValue(breakdown.form, segment.value) : null,
        breakdown_kind: KIND_OF_SEGMENT[segment.seg]!,
        steps: funnelSteps(q, row),
      }));
  }
  if (p.overTime) {
    const { unit, firstBucket, lastBucket } = p.overTime;
    const byBucket = new Map<number, Record<string, unknown>>();
    for (const r of rows)
      if (Number(r.is_total) === FUNNEL_OVER_TIME_ROW) byBucket.set(Number(r.bucket), r);
    const out: FunnelOverTime = { interval: unit, rows: [] };
    for (let b = firstBucket; b <= lastBucket; b++) {
      const r = byBucket.get(b);
      const steps = q.steps.map((_, i) => (r ? count(r[`n${i + 1}`]) : 0));
      out.rows.push({
        start: bucketLabel(unit, b),
        entered: steps[0]!,
        converted: steps[steps.length - 1]!,
        steps,
        conversion_rate: conversionRate(steps),
      });
    }
    result.conversion_over_time = out;
  }
  return result;
}

function formatRetention(
  q: RetentionQuery,
  p: RetentionPlan,
  executed: ExecutedQuery,
): RetentionResult {
  const emptyCohorts = (): RetentionCohort[] => {
    const cohorts: RetentionCohort[] = [];
    for (let c = p.firstCohort; c <= p.lastCohort; c++) {
      cohorts.push({
        start: bucketLabel(p.unit, c),
        size: 0,
        counts: Array.from({ length: q.periods + 1 }, () => 0),
      });
    }
    return cohorts;
  };
  const fill = (cohorts: RetentionCohort[], row: Record<string, unknown>): void => {
    const cohort = cohorts[Number(row.cohort) - p.firstCohort];
    const k = Number(row.k);
    if (!cohort || k < 0 || k > q.periods) return;
    cohort.counts[k] = count(row.users);
    if (k === 0) cohort.size = count(row.users);
  };
  const cohorts = emptyCohorts();
  const segments = new Map<string, { segment: Segment; cohorts: RetentionCohort[] }>();
  for (const row of rowObjects(executed.results.get('retention') ?? { columns: [], rows: [] })) {
    if (row.seg === null || row.seg === undefined) {
      fill(cohorts, row);
      continue;
    }
    const seg = Number(row.seg);
    const value = row.seg_value === null ? null : scalarText(row.seg_value);
    const key = segmentKey(seg, value);
    let s = segments.get(key);
    if (!s) {
      s = { segment: { seg, value, rank: count(row.rank_n) }, cohorts: emptyCohorts() };
      segments.set(key, s);
    }
    fill(s.cohorts, row);
  }
  const result: RetentionResult = { cohorts };
  const breakdown = p.breakdown;
  if (breakdown)
    result.breakdowns = [...segments.values()]
      .sort((a, b) => compareSegments(a.segment, b.segment))
      .map(({ segment, cohorts: rows }) => ({
        breakdown_value:
          segment.seg === SEGMENT_VALUE ? publicValue(breakdown.form, segment.value) : null,
        breakdown_kind: KIND_OF_SEGMENT[segment.seg]!,
        cohorts: rows,
      }));
  return result;
}

function formatEventProperties(limit: number, rows: QueryRows | undefined): EventPropertiesResult {
  const props: EventPropertiesResult['properties'] = [];
  const byKey = new Map<string, { type: JsonTypeName; count: number }[]>();
  let sampled = 0;
  const columnCounts = new Map<string, number>();
  for (const row of rows ? rowObjects(rows) : []) {
    const key = String(row.key);
    if (row.type === 'sampled') sampled = count(row.n);
    else if (row.type === 'column') columnCounts.set(key, count(row.n));
    else if (isQueryableJsonKey(key)) {
      const list = byKey.get(key) ?? [];
      list.push({ type: String(row.type) as JsonTypeName, count: count(row.n) });
      byKey.set(key, list);
    }
  }
  for (const column of DISCOVERY_COLUMNS) {
    const n = columnCounts.get(column) ?? 0;
    if (n > 0)
      props.push({
        property: COLUMN_PROPERTY_NAMES[column],
        type: 'string',
        count: n,
        types: [{ type: 'string', count: n }],
      });
  }
  for (const [key, types] of byKey) {
    types.sort((a, b) => b.count - a.count || compareUtf8(a.type, b.type));
    props.push({
      property: key,
      type: types[0]!.type,
      count: types.reduce((sum, t) => sum + t.count, 0),
      types,
    });
  }
  props.sort((a, b) => b.count - a.count || compareUtf8(a.property, b.property));
  return { sampled_events: sampled, properties: props.slice(0, limit) };
}

/** Shapes the rows of an executed plan into the response for `query`. */
/** The answer to `query` from its plan's statements (a rolling trend: and its `shown` plan's). */
export function format(
  query: Query,
  p: Plan,
  executed: ExecutedQuery,
  shown?: ExecutedQuery,
): QueryResult {
  switch (p.kind) {
    case 'trends':
      return formatTrends(query as TrendsQuery, p, executed, shown);
    case 'frequency':
      return formatFrequency(p, executed);
    case 'funnel':
      return formatFunnel(query as FunnelQuery, p, executed);
    case 'retention':
      return formatRetention(query as RetentionQuery, p, executed);
    case 'event_names':
      return {
        events: rowObjects(executed.results.get('event_names') ?? { columns: [], rows: [] }).map(
          (r) => ({ event: String(r.event), count: count(r.n) }),
        ),
      };
    case 'event_properties':
      return formatEventProperties(p.limit, executed.results.get('properties'));
    case 'flows':
      return formatFlows(p, executed);
    case 'lifecycle':
      return formatLifecycle(p, executed);
    case 'cohort_size':
      return {
        cohort: p.cohortId,
        size: count(rowObjects(executed.results.get('size') ?? { columns: [], rows: [] })[0]?.n),
      };
    case 'property_values':
      return {
        values: rowObjects(executed.results.get('values') ?? { columns: [], rows: [] }).map(
          (r) => ({ value: String(r.value), count: count(r.n) }),
        ),
      };
  }
}

/** A driver scalar as text (strings as they are, numbers and booleans printed, others as JSON). */
function scalarText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  return JSON.stringify(value);
}

/** Rows (step, prev, event, users) → per step: the top events, "$other", links and drop-off. */
function formatFlows(p: FlowsPlan, executed: ExecutedQuery): FlowsResult {
  const rows = rowObjects(executed.results.get('flows') ?? { columns: [], rows: [] });
  const steps: FlowStepResult[] = [];
  let kept = new Set<string>([p.anchor]);
  let before = 0;
  for (let k = 0; k <= p.steps; k++) {
    const here = rows.filter((r) => Number(r.step) === k);
    const counts = new Map<string, number>();
    for (const r of here)
      counts.set(String(r.event), (counts.get(String(r.event)) ?? 0) + count(r.users));
    const ranked = [...counts].sort((a, b) => b[1] - a[1] || compareUtf8(a[0], b[0]));
    const top = new Set(ranked.slice(0, p.maxPaths).map(([e]) => e));
    const bucket = (e: string) => (top.has(e) ? e : FLOW_OTHER);
    const nodes = ranked.filter(([e]) => top.has(e)).map(([event, n]) => ({ event, count: n }));
    const other = ranked.filter(([e]) => !top.has(e)).reduce((sum, [, n]) => sum + n, 0);
    if (other > 0) nodes.push({ event: FLOW_OTHER, count: other });
    const linkCounts = new Map<string, { from: string; to: string; count: number }>();
    if (k > 0) {
      for (const r of here) {
        const from = kept.has(String(r.prev)) ? String(r.prev) : FLOW_OTHER;
        const to = bucket(String(r.event));
        const key = `${from}\u0000${to}`;
        const link = linkCounts.get(key) ?? { from, to, count: 0 };
        link.count += count(r.users);
        linkCounts.set(key, link);
      }
    }
    const users = [...counts.values()].reduce((a, b) => a + b, 0);
    steps.push({
      step: k,
      nodes,
      links: [...linkCounts.values()].sort(
        (a, b) => b.count - a.count || compareUtf8(a.from, b.from) || compareUtf8(a.to, b.to),
      ),
      dropoff: k === 0 ? 0 : before - users,
    });
    before = users;
    kept = top;
  }
  return { steps };
}

/** Rows (status, bucket, n) → dense per-status counts over every interval; dormant negative. */
function formatLifecycle(p: LifecyclePlan, executed: ExecutedQuery): LifecycleResult {
  const labels: string[] = [];
  for (let b = p.firstBucket; b <= p.lastBucket; b++) labels.push(bucketLabel(p.unit, b));
  const zeros = (): number[] => labels.map(() => 0);
  const result: LifecycleResult = {
    labels,
    new: zeros(),
    returning: zeros(),
    resurrecting: zeros(),
    dormant: zeros(),
  };
  for (const r of rowObjects(executed.results.get('lifecycle') ?? { columns: [], rows: [] })) {
    const status = LIFECYCLE_STATUSES[Number(r.status)];
    const i = Number(r.bucket) - p.firstBucket;
    const n = count(r.n);
    if (status === undefined || i < 0 || i >= labels.length || n === 0) continue;
    result[status][i] = status === 'dormant' ? -n : n;
  }
  return result;
}

/** A frequency period's answer from users per k (index k; 0 unused), cumulated from K down. */
export function frequencyPeriodResult(
  period: Pick<FrequencyPeriod, 'fromDay' | 'toDay' | 'complete' | 'intervals'>,
  usersByK: readonly number[],
): FrequencyPeriodResult {
  const counts = Array.from({ length: period.intervals }, (_, i) => usersByK[i + 1] ?? 0);
  const cumulative = [...counts];
  for (let i = cumulative.length - 2; i >= 0; i--) cumulative[i]! += cumulative[i + 1]!;
  return {
    start: dayString(period.fromDay),
    end: dayString(period.toDay),
    complete: period.complete,
    intervals: period.intervals,
    users: cumulative[0] ?? 0,
    counts,
    cumulative,
  };
}

type FrequencyGroup = { segment: Segment; byPeriod: Map<number, number[]> };

/** The rows of one frequency statement as groups (one per breakdown segment). */
function frequencyGroups(
  p: FrequencyPlan,
  executed: ExecutedQuery,
  name: string,
): Map<string, FrequencyGroup> {
  const groups = new Map<string, FrequencyGroup>();
  const groupOf = (row: Record<string, unknown>): FrequencyGroup => {
    const seg = p.breakdown ? Number(row.seg) : SEGMENT_VALUE;
    const value = p.breakdown && row.seg_value !== null ? scalarText(row.seg_value) : null;
    const key = segmentKey(seg, value);
    let g = groups.get(key);
    if (!g) {
      g = { segment: { seg, value, rank: count(row.rank_n) }, byPeriod: new Map() };
      groups.set(key, g);
    }
    return g;
  };
  if (!p.breakdown) groupOf({});
  for (const row of rowObjects(executed.results.get(name) ?? { columns: [], rows: [] })) {
    const g = groupOf(row);
    if (row.period === null || row.period === undefined) continue;
    const period = Number(row.period);
    const byK = g.byPeriod.get(period) ?? [];
    byK[Number(row.k)] = count(row.users);
    g.byPeriod.set(period, byK);
  }
  return groups;
}

function formatFrequency(p: FrequencyPlan, executed: ExecutedQuery): FrequencyResult {
  const periodsOf = (plan: FrequencyPlan, g: FrequencyGroup | undefined) =>
    plan.periods.map((period) =>
      frequencyPeriodResult(period, g?.byPeriod.get(period.index) ?? []),
    );
  const series: FrequencySeriesResult[] = [];
  for (const s of p.series) {
    const groups = frequencyGroups(p, executed, `series:${s.index}`);
    const previous = p.previous
      ? frequencyGroups(p.previous, executed, `previous:series:${s.index}`)
      : null;
    for (const [key, g] of [...groups].sort((a, b) =>
      compareSegments(a[1].segment, b[1].segment),
    )) {
      const row: FrequencySeriesResult = {
        event: s.event,
        breakdown_value:
          g.segment.seg === SEGMENT_VALUE && p.breakdown
            ? publicValue(p.breakdown.form, g.segment.value)
            : null,
        breakdown_kind: p.breakdown ? KIND_OF_SEGMENT[g.segment.seg]! : 'none',
        periods: periodsOf(p, g),
      };
      if (p.previous && previous) row.previous_periods = periodsOf(p.previous, previous.get(key));
      series.push(row);
    }
  }
  return { interval: p.unit, per: p.per, series };
}
