// Plan stage: a validated query plus the project's facts (id, time zone) and the limits become a
// plan: properties resolved to columns or JSON keys, the date range turned into a UTC scan window
// and a local-time clock, bucket ranges counted and checked against the result-size limits.
import { AppError } from '../shared/errors.js';
import {
  DAY_MS,
  bucketOfDay,
  bucketStartLocal,
  buildClock,
  dayNumber,
  dayString,
  type BucketUnit,
  type LocalClock,
} from './clock.js';
import type { CohortContext } from './cohorts.js';
import {
  ACTIVE_WINDOW_DAYS,
  COHORT_PROPERTY,
  STANDARD_PROPERTIES,
  isActiveMath,
  previousRange,
  profilePropertyOf,
  rollingFrom,
  ROLLING_WINDOWS,
  type ActiveMath,
  type DateRange,
  type EventNamesQuery,
  type EventPropertiesQuery,
  type Filter,
  type FilterNode,
  type FunnelOrder,
  type FrequencyPer,
  type FrequencyQuery,
  type FunnelQuery,
  type LifecycleQuery,
  type MathKind,
  type Period,
  type PropertyValuesQuery,
  type Query,
  type Breakdown,
  type RetentionQuery,
  type RetentionType,
  type StandardColumn,
  type TrendsQuery,
} from './model.js';

/**
 * Where a property's value is read from: a typed column or the JSON bag of the event, the current
 * profile of the event's resolved person, or the profile of the group the event names under
 * `groupKey` (`slot` numbers the query's distinct group keys, from 0).
 */
export type PropertyRef =
  | { kind: 'column'; name: string; column: StandardColumn }
  | { kind: 'json'; name: string; key: string }
  | { kind: 'person'; name: string; key: string }
  | { kind: 'group'; name: string; groupKey: string; key: string; slot: number }
  /** Membership of the event's resolved user in any of the cohorts `ids` (filters only). */
  | { kind: 'cohort'; name: string; ids: string[]; cohorts: CohortContext };

export type PlannedFilter = Filter & { ref: PropertyRef };
/** A filter entry with its properties resolved: a condition, or an any (OR) / all (AND) group. */
export type PlannedFilterNode =
  PlannedFilter | { any: PlannedFilterNode[] } | { all: PlannedFilterNode[] };

/** The facts about the project a plan needs. */
export interface PlanContext {
  projectId: string;
  timezone: string;
  limits: PlanLimits;
  /** The cohorts the query names (the engine loads them), and the instant they are as of. */
  cohorts?: CohortContext;
}

export interface PlanLimits {
  /** Largest number of result cells (series × breakdown rows × buckets, cohorts × periods). */
  maxCells: number;
  /** Events inspected by `event_properties`: the most recent ones (ties at the edge included). */
  propertySampleSize: number;
}

export const DEFAULT_PLAN_LIMITS: PlanLimits = { maxCells: 200_000, propertySampleSize: 100_000 };

/**
 * The days of a query in time. Events are selected by their local date; the UTC window
 * [scanFromMs, scanToMs) is a superset used to prune the scan (exactly the range when `exact`).
 */
export interface TimeScope {
  fromDay: number;
  toDay: number;
  scanFromMs: number;
  scanToMs: number;
  /** The UTC window alone selects exactly the range's events (constant offset): no per-row check. */
  exact: boolean;
  clock: LocalClock;
}

export interface PlannedSeries {
  index: number;
  event: string | null;
  math: MathKind;
  /** The numeric property of a property math, or the group id property of unique_groups. */
  value: PropertyRef | null;
  /** The query's filters followed by the series' own. */
  filters: PlannedFilterNode[];
  /** For "any event" (event null): whether SDK bookkeeping events count. */
  includeSdkEvents: boolean;
  /**
   * weekly_active / monthly_active: the scope whose days are read (the window before `from`
   * included) and each bucket's window end day (`bucket` null: the total, ending on `to`).
   */
  active?: {
    scope: TimeScope;
    windowDays: number;
    ends: { bucket: number | null; endDay: number }[];
  };
}

export interface PlannedBreakdown {
  /** The first dimension (a cohort breakdown: a `cohort` ref, its only dimension). */
  ref: PropertyRef;
  /**
   * Every dimension, in the query's order (1 to 3 properties, at most one of them a cohort ref in
   * the `list` form; or one cohort ref alone).
   */
  refs: PropertyRef[];
  /** `single`: segment values are the property's text; `list`: lists of texts (see compile). */
  form: 'single' | 'list';
  limit: number;
  /**
   * The segment values given by an earlier statement instead of ranked here (a formula with a
   * breakdown: every series after the first is split by the first series' top values, each
   * with its rank there). Set by the compilers, never by `plan`.
   */
  given?: { value: string; rank: number }[];
  /**
   * `given` per series index (a rolling trend: the values each series ranked over the range
   * shown, for the statements over the widened range). Set by the engine, never by `plan`.
   */
  givenBySeries?: Map<number, { value: string; rank: number }[]>;
  /**
   * The statement also answers the series counted whole, where its compiler can from the same
   * rows (rows of `seg` SEGMENT_WHOLE; see compile.ts trendsStatements). Set by the compilers.
   */
  whole?: boolean;
}

/** Whether a breakdown splits users by saved cohorts alone (a user can be in several segments). */
export const isCohortBreakdown = (b: PlannedBreakdown | null): boolean =>
  b?.form === 'single' && b.ref.kind === 'cohort';

/**
 * Whether a breakdown combines a cohort dimension with properties (a list holding a cohort
 * entry): a segment is a (cohort or none, values…) combination, a user in several cohorts being
 * in one per cohort. The properties' part is the event's (or the entry's, the start's), the
 * cohorts the user's.
 */
export const isMixedBreakdown = (b: PlannedBreakdown | null): boolean =>
  b?.form === 'list' && b.refs.some((r) => r.kind === 'cohort');

/** The cohort dimension of a breakdown (alone or in a list), or null. */
export function breakdownCohortRef(
  b: PlannedBreakdown | null,
): Extract<PropertyRef, { kind: 'cohort' }> | null {
  const ref = b?.refs.find((r) => r.kind === 'cohort');
  return ref?.kind === 'cohort' ? ref : null;
}

export interface TrendsPlan {
  kind: 'trends';
  projectId: string;
  scope: TimeScope;
  unit: BucketUnit;
  firstBucket: number;
  lastBucket: number;
  series: PlannedSeries[];
  breakdown: PlannedBreakdown | null;
  /** With `compare`: the same trend over the period just before (its own buckets). */
  previous?: TrendsPlan | null;
  /**
   * A formula with a breakdown: the first series ranks the segment values, every other series is
   * split by those (its other values in `other`), and each series is also counted whole, so that
   * the formula combines rows of one segment, and the whole series for its overall line.
   */
  segmentsOfFirst?: boolean;
  /**
   * The query's analysis. Cumulative unique users are counted so in the statements (each one an
   * active-users series whose window reaches back to `from`); the running sums of total and sum,
   * and the rolling means, are made by format.ts from the buckets the statements give.
   */
  analysis: TrendsQuery['analysis'];
  /**
   * A rolling trend's plan over the widened range (rollingPlans): the buckets each mean covers and
   * the first bucket shown; format.ts rolls the buckets read and keeps those from `firstShown` on.
   */
  rolling?: { window: number; firstShown: number };
  /**
   * The store keeps per-day rollups of this project's events in its time zone (the `person_days`,
   * `event_days`, `value_days` and `person_value_days` tables of the embedded store): the series
   * `readsPersonDays`, `readsEventDays` and `readsValueDays` accept read them instead of the
   * events. Set by the engine, false from `plan`.
   */
  rollups?: boolean;
}

/**
 * Whether a series is answered from the days each person was active: distinct users of "any
 * event" without SDK bookkeeping, no filter and no breakdown, by day, week or month (the days
 * hold no hours), and weekly / monthly active users (read per day anyway) under the same terms.
 */
export function readsPersonDays(p: TrendsPlan, s: PlannedSeries): boolean {
  if (s.event !== null || s.includeSdkEvents || s.filters.length > 0 || p.breakdown !== null)
    return false;
  if (s.active) return true;
  return s.math === 'unique_users' && p.unit !== 'hour';
}

/**
 * Whether a series is answered from the number of events per day and event name: total events,
 * of one event or of any (SDK bookkeeping left out or not), no filter and no breakdown, by day,
 * week or month (the days hold no hours).
 */
export function readsEventDays(p: TrendsPlan, s: PlannedSeries): boolean {
  return (
    s.math === 'total' &&
    !s.active &&
    s.filters.length === 0 &&
    p.breakdown === null &&
    p.unit !== 'hour'
  );
}

/**
 * The standard columns the embedded store rolls up per day and value (`value_days` and
 * `person_value_days`, store/duckdb/rollups.ts): the breakdowns of unique users dashboards ask
 * most, each of few values. Each one adds about a row per person and active day to the tables.
 */
export const VALUE_DAYS_COLUMNS: readonly StandardColumn[] = [
  'browser',
  'os',
  'device_type',
  'country_code',
];

/**
 * Whether a series is answered from the persons and events per day and value of a standard
 * column: distinct or active users of "any event" without SDK bookkeeping and no filter, broken
 * down by one of VALUE_DAYS_COLUMNS alone, by day, week or month.
 */
export function readsValueDays(p: TrendsPlan, s: PlannedSeries): boolean {
  const b = p.breakdown;
  return (
    b !== null &&
    b.form === 'single' &&
    b.ref.kind === 'column' &&
    VALUE_DAYS_COLUMNS.includes(b.ref.column) &&
    (s.math === 'unique_users' || s.active !== undefined) &&
    s.event === null &&
    !s.includeSdkEvents &&
    s.filters.length === 0 &&
    p.unit !== 'hour'
  );
}

export interface FunnelPlan {
  kind: 'funnel';
  projectId: string;
  /** Entries: step-1 events inside the date range. */
  scope: TimeScope;
  windowMs: number;
  steps: { event: string; filters: PlannedFilterNode[] }[];
  breakdown: PlannedBreakdown | null;
  order: FunnelOrder;
  /** Each with the query's filters followed by its own; steps are 0-based. */
  exclusions: {
    event: string;
    filters: PlannedFilterNode[];
    afterStep: number;
    beforeStep: number;
  }[];
  /** Properties every step of an attempt shares with its entry. */
  holdConstant: PropertyRef[];
  /** Conversion per bucket of entry, over every bucket of the range; or null. */
  overTime: { unit: BucketUnit; firstBucket: number; lastBucket: number } | null;
}

export interface RetentionPlan {
  kind: 'retention';
  projectId: string;
  retentionType: RetentionType;
  breakdown: PlannedBreakdown | null;
  /** First start events inside the range make the cohorts. */
  scope: TimeScope;
  unit: Period;
  periods: number;
  firstCohort: number;
  lastCohort: number;
  /** Return events are read up to here (end of the last cohort's last period, plus margin). */
  returnScanToMs: number;
  startEvent: string;
  returnEvent: string;
  filters: PlannedFilterNode[];
  /**
   * Whether the store's per-day rollups may be read (see `readsPersonEventDays`). Set by the
   * engine, false from `plan`.
   */
  rollups?: boolean;
}

/**
 * Whether a retention is answered from each person's first event of a name per local day and
 * its standard values (`person_event_days`, store/duckdb/rollups.ts) instead of the events: no
 * filter, and no breakdown, a cohort breakdown, or one by person properties and at most one of
 * VALUE_DAYS_COLUMNS. A period's first start event is the day row with the first instant, and
 * its value that row's; with two columns the values could come from different events of that
 * instant, so the events are read. A person property has one value per person.
 */
export function readsPersonEventDays(p: RetentionPlan): boolean {
  if (p.filters.length > 0) return false;
  const b = p.breakdown;
  if (b === null || isCohortBreakdown(b)) return true;
  // The cohorts of a combined breakdown are the user's: joined to the rows either way.
  const refs = b.refs.filter((r) => r.kind !== 'cohort');
  const columns = refs.filter((r) => r.kind === 'column');
  return (
    refs.every(
      (r) => r.kind === 'person' || (r.kind === 'column' && VALUE_DAYS_COLUMNS.includes(r.column)),
    ) && columns.length <= 1
  );
}

export interface EventNamesPlan {
  kind: 'event_names';
  projectId: string;
  scope: TimeScope | null;
  limit: number;
}

export interface EventPropertiesPlan {
  kind: 'event_properties';
  projectId: string;
  scope: TimeScope | null;
  event: string | null;
  sampleSize: number;
  limit: number;
}

export interface PropertyValuesPlan {
  kind: 'property_values';
  projectId: string;
  scope: TimeScope | null;
  event: string | null;
  ref: PropertyRef;
  limit: number;
}

export interface CohortSizePlan {
  kind: 'cohort_size';
  projectId: string;
  cohortId: string;
  cohorts: CohortContext;
}

export interface FlowsPlan {
  kind: 'flows';
  projectId: string;
  /** Anchors: anchor events inside the range; the path events may lie outside it. */
  scope: TimeScope;
  anchor: string;
  direction: 'after' | 'before';
  steps: number;
  maxPaths: number;
  /**
   * Whether the store's per-day rollups may be read: the anchors from `person_event_days` and the
   * names the paths can hold from `event_days` (compileFlows). Set by the engine, false from `plan`.
   */
  rollups?: boolean;
}

/**
 * Lifecycle (model.ts LifecycleQuery). Activity is read over the range's days; the bucket before
 * the first lies wholly before `from` and is read whole; every earlier matching event only tells
 * that the user was seen before (the scan has no lower bound: "first ever" is in all stored
 * history). `clock` covers the bucket before the first on: an earlier event, read with its first
 * offset, still falls before it.
 */
export interface LifecyclePlan {
  kind: 'lifecycle';
  projectId: string;
  /** The range's days; `scope.clock` starts a day before the bucket before the first. */
  scope: TimeScope;
  unit: Period;
  firstBucket: number;
  lastBucket: number;
  event: string | null;
  includeSdkEvents: boolean;
  filters: PlannedFilterNode[];
  /**
   * Whether the store's per-day rollups may be read (`readsLifecycleDays`). Set by the engine,
   * false from `plan`.
   */
  rollups?: boolean;
}

/**
 * Whether a lifecycle is answered from the days each person was active (`person_days`, any event
 * without SDK bookkeeping) or did the event (`person_event_days`): no filter.
 */
export function readsLifecycleDays(p: LifecyclePlan): boolean {
  return p.filters.length === 0 && (p.event !== null || !p.includeSdkEvents);
}

function planLifecycle(q: LifecycleQuery, ctx: PlanContext): LifecyclePlan {
  const range = timeScope(ctx.timezone, q);
  const unit = q.interval;
  const firstBucket = bucketOfDay(unit, range.fromDay);
  const lastBucket = bucketOfDay(unit, range.toDay);
  checkCells(4 * (lastBucket - firstBucket + 1), ctx.limits, 'statuses × intervals');
  const historyFromMs = bucketStartLocal(unit, firstBucket - 1) - DAY_MS;
  const clock = buildClock(ctx.timezone, historyFromMs, range.scanToMs + DAY_MS);
  return {
    kind: 'lifecycle',
    projectId: ctx.projectId,
    scope: { ...range, clock, exact: range.exact && clock.segments.length === 1 },
    unit,
    firstBucket,
    lastBucket,
    event: q.event,
    includeSdkEvents: q.includeSdkEvents,
    filters: planFilters(q.filters, new Map(), ctx.cohorts),
  };
}

/** One period of a frequency: the part of a week, a month or the range inside the range. */
export interface FrequencyPeriod {
  /** The period's bucket of `per` (clock.ts numbering); 0 for the range. */
  index: number;
  /** Its first and last local day inside the range. */
  fromDay: number;
  toDay: number;
  /** The intervals (of the plan's unit) that lie wholly or partly in those days: K. */
  intervals: number;
  /** Whether the whole calendar period lies inside the range (always, per range). */
  complete: boolean;
}

export interface FrequencyPlan {
  kind: 'frequency';
  projectId: string;
  scope: TimeScope;
  /** The interval counted. */
  unit: BucketUnit;
  per: FrequencyPer;
  periods: FrequencyPeriod[];
  /** Series of unique users (math `unique_users`), each with the query's filters first. */
  series: PlannedSeries[];
  breakdown: PlannedBreakdown | null;
  /** With `compare`: the same frequency over the range just before (its own periods). */
  previous?: FrequencyPlan | null;
}

/** Intervals of `unit` that lie wholly or partly in the local days [fromDay, toDay]. */
export function intervalsBetween(unit: BucketUnit, fromDay: number, toDay: number): number {
  if (unit === 'hour') return (toDay - fromDay + 1) * 24;
  return bucketOfDay(unit, toDay) - bucketOfDay(unit, fromDay) + 1;
}

/** The periods of a frequency over the days [fromDay, toDay], each cut to them. */
export function frequencyPeriods(
  unit: BucketUnit,
  per: FrequencyPer,
  fromDay: number,
  toDay: number,
): FrequencyPeriod[] {
  if (per === 'range')
    return [
      {
        index: 0,
        fromDay,
        toDay,
        intervals: intervalsBetween(unit, fromDay, toDay),
        complete: true,
      },
    ];
  const out: FrequencyPeriod[] = [];
  for (let b = bucketOfDay(per, fromDay); b <= bucketOfDay(per, toDay); b++) {
    const first = Math.floor(bucketStartLocal(per, b) / DAY_MS);
    const last = Math.floor(bucketStartLocal(per, b + 1) / DAY_MS) - 1;
    const from = Math.max(first, fromDay);
    const to = Math.min(last, toDay);
    out.push({
      index: b,
      fromDay: from,
      toDay: to,
      intervals: intervalsBetween(unit, from, to),
      complete: from === first && to === last,
    });
  }
  return out;
}

function planFrequency(q: FrequencyQuery, ctx: PlanContext): FrequencyPlan {
  const scope = timeScope(ctx.timezone, q);
  const periods = frequencyPeriods(q.interval, q.per, scope.fromDay, scope.toDay);
  const rows = q.breakdown ? q.breakdown.limit + 2 : 1;
  checkCells(
    q.series.length * rows * periods.reduce((n, p) => n + p.intervals, 0),
    ctx.limits,
    'series × breakdown rows × intervals of every period',
  );
  const groups = new Map<string, number>();
  const global = planFilters(q.filters, groups, ctx.cohorts);
  return {
    kind: 'frequency',
    projectId: ctx.projectId,
    scope,
    unit: q.interval,
    per: q.per,
    periods,
    series: q.series.map((s, index) => ({
      index,
      event: s.event,
      math: 'unique_users',
      includeSdkEvents: s.includeSdkEvents,
      value: null,
      filters: [...global, ...planFilters(s.filters, groups, ctx.cohorts)],
    })),
    breakdown: planBreakdown(q.breakdown, groups, ctx.cohorts),
    previous:
      q.compare === 'previous_period'
        ? planFrequency({ ...q, ...previousRange(q), compare: null }, ctx)
        : null,
  };
}

export type Plan =
  | TrendsPlan
  | FrequencyPlan
  | FunnelPlan
  | RetentionPlan
  | EventNamesPlan
  | EventPropertiesPlan
  | PropertyValuesPlan
  | CohortSizePlan
  | FlowsPlan
  | LifecyclePlan;

/**
 * Resolves a property name to its column, a key of the JSON bag, or a profile property. `groups`
 * numbers the group keys of one query (shared by all its properties).
 */
export function resolveProperty(
  name: string,
  groups: Map<string, number> = new Map(),
): PropertyRef {
  const profile = profilePropertyOf(name);
  if (profile === 'invalid') throw new Error('property names are validated by the model');
  if (profile?.kind === 'person') return { kind: 'person', name, key: profile.key };
  if (profile?.kind === 'group') {
    const slot = groups.get(profile.groupKey) ?? groups.size;
    groups.set(profile.groupKey, slot);
    return { kind: 'group', name, groupKey: profile.groupKey, key: profile.key, slot };
  }
  const column = Object.hasOwn(STANDARD_PROPERTIES, name) ? STANDARD_PROPERTIES[name] : undefined;
  return column ? { kind: 'column', name, column } : { kind: 'json', name, key: name };
}

const planFilters = (
  filters: FilterNode[],
  groups: Map<string, number>,
  cohorts?: CohortContext,
): PlannedFilterNode[] =>
  filters.map((f): PlannedFilterNode => {
    if ('any' in f) return { any: planFilters(f.any, groups, cohorts) };
    if ('all' in f) return { all: planFilters(f.all, groups, cohorts) };
    return {
      ...f,
      ref:
        f.property === COHORT_PROPERTY && (f.op === 'in' || f.op === 'not_in')
          ? cohortRef(f.value, cohorts)
          : resolveProperty(f.property, groups),
    };
  });

/** A breakdown with its dimensions resolved. */
function planBreakdown(
  b: Breakdown | null,
  groups: Map<string, number>,
  cohorts: CohortContext | undefined,
): PlannedBreakdown | null {
  if (!b) return null;
  const refs = b.dimensions.map((d) =>
    d.kind === 'cohort' ? cohortRef(d.cohorts, cohorts) : resolveProperty(d.property, groups),
  );
  return { ref: refs[0]!, refs, form: b.form, limit: b.limit };
}

/** A cohort filter's ref: the engine has loaded every cohort the query names. */
function cohortRef(ids: string[], cohorts: CohortContext | undefined): PropertyRef {
  if (!cohorts || ids.some((id) => !cohorts.byId.has(id)))
    throw new Error('cohorts are loaded by the engine before planning');
  return { kind: 'cohort', name: COHORT_PROPERTY, ids, cohorts };
}

/** The conditions of a planned filter tree, depth first. */
export function plannedLeaves(nodes: readonly PlannedFilterNode[]): PlannedFilter[] {
  return nodes.flatMap((n) =>
    'any' in n ? plannedLeaves(n.any) : 'all' in n ? plannedLeaves(n.all) : [n],
  );
}

/**
 * Local offsets stay within (−1 day, +1 day), so a local day D lies inside UTC
 * [D − 1 day, D + 2 days): the scan window is widened by one day on each side.
 */
function timeScope(timezone: string, range: DateRange, clockToMs?: number): TimeScope {
  const fromDay = dayNumber(range.from);
  const toDay = dayNumber(range.to);
  const wideFrom = (fromDay - 1) * DAY_MS;
  const wideTo = (toDay + 2) * DAY_MS;
  const clock = buildClock(timezone, wideFrom, Math.max(wideTo, clockToMs ?? wideTo));
  const first = clock.segments[0]!;
  const constant = clock.segments.length === 1;
  return {
    fromDay,
    toDay,
    scanFromMs: constant ? fromDay * DAY_MS - first.offsetMs : wideFrom,
    scanToMs: constant ? (toDay + 1) * DAY_MS - first.offsetMs : wideTo,
    exact: constant,
    clock,
  };
}

function checkCells(cells: number, limits: PlanLimits, what: string): void {
  if (cells > limits.maxCells) {
    throw new AppError(
      'QUERY_TOO_LARGE',
      `the result would have ${cells} cells (${what}); the limit is ${limits.maxCells}: use a shorter range, a wider interval or fewer series/breakdown values`,
    );
  }
}

function planTrends(q: TrendsQuery, ctx: PlanContext): TrendsPlan {
  const scope = timeScope(ctx.timezone, q);
  const unit: BucketUnit = q.interval;
  const firstBucket = bucketOfDay(unit, scope.fromDay);
  const lastBucket =
    unit === 'hour' ? bucketOfDay('hour', scope.toDay + 1) - 1 : bucketOfDay(unit, scope.toDay);
  const rows = q.breakdown ? q.breakdown.limit + 2 : 1;
  // A formula adds a row of its own per segment, and one over the whole series.
  const formulaRows = q.formula === null ? 0 : rows + (q.breakdown ? 1 : 0);
  checkCells(
    (q.series.length * rows + formulaRows) * (lastBucket - firstBucket + 1),
    ctx.limits,
    q.formula === null
      ? 'series × breakdown rows × intervals'
      : '(series + formula) × breakdown rows × intervals',
  );
  const groups = new Map<string, number>();
  const global = planFilters(q.filters, groups, ctx.cohorts);
  return {
    kind: 'trends',
    projectId: ctx.projectId,
    scope,
    unit,
    firstBucket,
    lastBucket,
    series: q.series.map((s, index) => ({
      index,
      event: s.event,
      math: s.math,
      includeSdkEvents: s.includeSdkEvents,
      value:
        s.groupKey !== null
          ? resolveProperty(s.groupKey, groups)
          : s.property === null
            ? null
            : resolveProperty(s.property, groups),
      filters: [...global, ...planFilters(s.filters, groups, ctx.cohorts)],
      ...(isActiveMath(s.math)
        ? { active: activeWindows(ctx.timezone, q, unit, firstBucket, lastBucket, s.math) }
        : q.analysis === 'cumulative' && s.math === 'unique_users'
          ? { active: cumulativeWindows(scope, q, unit, firstBucket, lastBucket) }
          : {}),
    })),
    breakdown: planBreakdown(q.breakdown, groups, ctx.cohorts),
    previous:
      q.compare === 'previous_period'
        ? planTrends({ ...q, ...previousRange(q), compare: null }, ctx)
        : null,
    ...(q.formula !== null && q.breakdown ? { segmentsOfFirst: true } : {}),
    analysis: q.analysis,
  };
}

/**
 * A rolling trend's two plans: `shown`, the trend as a linear one (its totals, and the breakdown
 * values each series ranks over the range shown), and `read`, the same trend from the first day a
 * window reads (model.ts rollingFrom) with, for `compare`, the previous period widened the same
 * way. The engine runs `shown` first and splits `read`'s series by `shown`'s values.
 */
export function rollingPlans(
  q: TrendsQuery,
  ctx: PlanContext,
): { shown: TrendsPlan; read: TrendsPlan } {
  const window = q.rollingWindow ?? ROLLING_WINDOWS[q.interval];
  const linear: TrendsQuery = { ...q, analysis: 'linear', rollingWindow: null };
  const shown = planTrends(linear, ctx);
  const widened = (range: DateRange, firstShown: number): TrendsPlan => ({
    ...planTrends(
      { ...linear, from: rollingFrom(range, q.interval, window), to: range.to, compare: null },
      ctx,
    ),
    rolling: { window, firstShown },
  });
  const read = widened(q, shown.firstBucket);
  if (shown.previous) read.previous = widened(previousRange(q), shown.previous.firstBucket);
  return { shown, read };
}

/** Each bucket's last day, or `to` when it ends after it; then `to` alone (the total). */
function windowEnds(
  q: TrendsQuery,
  unit: BucketUnit,
  firstBucket: number,
  lastBucket: number,
): { bucket: number | null; endDay: number }[] {
  const toDay = dayNumber(q.to);
  const ends: { bucket: number | null; endDay: number }[] = [];
  for (let b = firstBucket; b <= lastBucket; b++) {
    const nextStartDay = Math.floor(bucketStartLocal(unit, b + 1) / DAY_MS);
    ends.push({ bucket: b, endDay: Math.min(nextStartDay - 1, toDay) });
  }
  ends.push({ bucket: null, endDay: toDay });
  return ends;
}

/**
 * Cumulative unique users: the users active from `from` through each bucket's last day, i.e. an
 * active-users series over the range alone whose window is as long as the range (each user counted
 * once, in the bucket of their first event in the range, and in every later one).
 */
function cumulativeWindows(
  scope: TimeScope,
  q: TrendsQuery,
  unit: BucketUnit,
  firstBucket: number,
  lastBucket: number,
): NonNullable<PlannedSeries['active']> {
  return {
    scope,
    windowDays: scope.toDay - scope.fromDay + 1,
    ends: windowEnds(q, unit, firstBucket, lastBucket),
  };
}

/** The windows of an active-users series: one per bucket, ending on its last day (or `to`). */
function activeWindows(
  timezone: string,
  q: TrendsQuery,
  unit: BucketUnit,
  firstBucket: number,
  lastBucket: number,
  math: ActiveMath,
): NonNullable<PlannedSeries['active']> {
  const windowDays = ACTIVE_WINDOW_DAYS[math];
  const ends = windowEnds(q, unit, firstBucket, lastBucket);
  // The days some window covers: from the first window's start (the first bucket may end after
  // `from`, and then the days just before its window are in none).
  const from = dayString(Math.min(...ends.map((e) => e.endDay)) - windowDays + 1);
  return { scope: timeScope(timezone, { from, to: q.to }), windowDays, ends };
}

function planFunnel(q: FunnelQuery, ctx: PlanContext): FunnelPlan {
  const groups = new Map<string, number>();
  const global = planFilters(q.filters, groups, ctx.cohorts);
  const scope = timeScope(ctx.timezone, q);
  let overTime: FunnelPlan['overTime'] = null;
  if (q.conversionInterval) {
    const unit: BucketUnit = q.conversionInterval;
    const firstBucket = bucketOfDay(unit, scope.fromDay);
    const lastBucket =
      unit === 'hour' ? bucketOfDay('hour', scope.toDay + 1) - 1 : bucketOfDay(unit, scope.toDay);
    checkCells(
      (lastBucket - firstBucket + 1) * q.steps.length,
      ctx.limits,
      'intervals × steps of conversion over time',
    );
    overTime = { unit, firstBucket, lastBucket };
  }
  return {
    kind: 'funnel',
    projectId: ctx.projectId,
    scope,
    order: q.order,
    exclusions: q.exclusions.map((x) => ({
      event: x.event,
      filters: [...global, ...planFilters(x.filters, groups, ctx.cohorts)],
      afterStep: x.afterStep,
      beforeStep: x.beforeStep,
    })),
    holdConstant: q.holdConstant.map((name) => resolveProperty(name, groups)),
    overTime,
    windowMs: q.windowSeconds * 1000,
    steps: q.steps.map((s) => ({
      event: s.event,
      filters: [...global, ...planFilters(s.filters, groups, ctx.cohorts)],
    })),
    breakdown: planBreakdown(q.breakdown, groups, ctx.cohorts),
  };
}

function planRetention(q: RetentionQuery, ctx: PlanContext): RetentionPlan {
  const fromDay = dayNumber(q.from);
  const toDay = dayNumber(q.to);
  const firstCohort = bucketOfDay(q.period, fromDay);
  const lastCohort = bucketOfDay(q.period, toDay);
  const rows = q.breakdown ? q.breakdown.limit + 3 : 1;
  checkCells(
    rows * (lastCohort - firstCohort + 1) * (q.periods + 1),
    ctx.limits,
    'breakdown rows × cohorts × periods',
  );
  const returnScanToMs = bucketStartLocal(q.period, lastCohort + q.periods + 1) + DAY_MS;
  const groups = new Map<string, number>();
  return {
    kind: 'retention',
    projectId: ctx.projectId,
    retentionType: q.retentionType,
    breakdown: planBreakdown(q.breakdown, groups, ctx.cohorts),
    scope: timeScope(ctx.timezone, q, returnScanToMs),
    unit: q.period,
    periods: q.periods,
    firstCohort,
    lastCohort,
    returnScanToMs,
    startEvent: q.startEvent,
    returnEvent: q.returnEvent,
    filters: planFilters(q.filters, groups, ctx.cohorts),
  };
}

function planDiscovery(
  q: EventNamesQuery | EventPropertiesQuery | PropertyValuesQuery,
  ctx: PlanContext,
): EventNamesPlan | EventPropertiesPlan | PropertyValuesPlan {
  const scope = q.range ? timeScope(ctx.timezone, q.range) : null;
  switch (q.kind) {
    case 'event_names':
      return { kind: q.kind, projectId: ctx.projectId, scope, limit: q.limit };
    case 'event_properties':
      return {
        kind: q.kind,
        projectId: ctx.projectId,
        scope,
        event: q.event,
        sampleSize: ctx.limits.propertySampleSize,
        limit: q.limit,
      };
    case 'property_values':
      return {
        kind: q.kind,
        projectId: ctx.projectId,
        scope,
        event: q.event,
        ref: resolveProperty(q.property),
        limit: q.limit,
      };
  }
}

/** Plans a validated query for one project. Throws QUERY_TOO_LARGE before anything runs. */
export function plan(query: Query, ctx: PlanContext): Plan {
  switch (query.kind) {
    case 'trends':
      return planTrends(query, ctx);
    case 'frequency':
      return planFrequency(query, ctx);
    case 'funnel':
      return planFunnel(query, ctx);
    case 'retention':
      return planRetention(query, ctx);
    case 'event_names':
    case 'event_properties':
    case 'property_values':
      return planDiscovery(query, ctx);
    case 'flows':
      return {
        kind: 'flows',
        projectId: ctx.projectId,
        scope: timeScope(ctx.timezone, query),
        anchor: query.anchor.event,
        direction: query.anchor.direction,
        steps: query.steps,
        maxPaths: query.maxPaths,
      };
    case 'lifecycle':
      return planLifecycle(query, ctx);
    case 'cohort_size':
      if (!ctx.cohorts) throw new Error('cohorts are loaded by the engine before planning');
      return {
        kind: 'cohort_size',
        projectId: ctx.projectId,
        cohortId: query.cohort,
        cohorts: ctx.cohorts,
      };
  }
}
