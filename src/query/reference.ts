// Reference evaluator (tests only): answers every query kind in plain TypeScript over in-memory
// events, straight from the documented semantics, sharing no planning or SQL code with the
// engine. The differential tests require the engine's answers to equal these exactly.
import type { JsonObject, JsonValue } from '../shared/json.js';
import { STANDARD_EVENT_PROPERTIES } from '../shared/event-schema.js';
import type { EventRow, IdentityLink, StoredProfile } from '../store/types.js';
import { namedProperties } from './catalog.js';
import { offsetAt } from './clock.js';
import { evaluateFormula, parseFormula } from './formula.js';
import { isSdkBookkeepingEvent } from './sdk-events.js';
import type {
  BreakdownKind,
  EventNamesResult,
  EventPropertiesResult,
  FlowsResult,
  FrequencyPeriodResult,
  FrequencyResult,
  FrequencySeriesResult,
  FunnelResult,
  FunnelStepResult,
  JsonTypeName,
  LifecycleResult,
  PropertyValuesResult,
  QueryResult,
  RetentionResult,
  TrendsResult,
  TrendsSeriesResult,
} from './format.js';
import type { CohortContext, CohortDefinition } from './cohorts.js';
import {
  COHORT_PROPERTY,
  COLUMN_PROPERTY_NAMES,
  STANDARD_PROPERTIES,
  isQueryableJsonKey,
  profilePropertyOf,
  type DateRange,
  type Filter,
  type FilterNode,
  type FlowsQuery,
  type FrequencyQuery,
  type FunnelQuery,
  type LifecycleQuery,
  type MathKind,
  type Query,
  type RetentionQuery,
  type TrendsQuery,
  type Breakdown,
  breakdownCohorts,
  breakdownProperties,
} from './model.js';

export interface ReferenceData {
  projectId: string;
  timezone: string;
  /** May include other projects' events: they must be ignored. */
  events: EventRow[];
  links: IdentityLink[];
  /** Current profiles (person: group key ''), of any project. */
  profiles?: StoredProfile[];
  /** Saved cohorts the queries may name, and the instant they are evaluated at. */
  cohorts?: CohortContext;
  propertySampleSize: number;
}

const DAY = 86_400_000;

const utf8 = (a: string, b: string): number =>
  Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

// ---------------------------------------------------------------------------------------------
// Local time, computed per event from the tz database (no offset segments).

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

interface Local {
  /** Local wall clock as a UTC Date (read with getUTC*). */
  wall: Date;
  date: string;
}

function local(tz: string, ms: number): Local {
  const wall = new Date(ms + offsetAt(tz, ms));
  return { wall, date: wall.toISOString().slice(0, 10) };
}

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** The as-many days just before `from` (what `compare: previous_period` asks about). */
function previousRangeOf(q: { from: string; to: string }): { from: string; to: string } {
  const days =
    Math.round((Date.parse(`${q.to}T00:00:00Z`) - Date.parse(`${q.from}T00:00:00Z`)) / DAY) + 1;
  return { from: addDays(q.from, -days), to: addDays(q.from, -1) };
}

/** Whether two answer rows are the same segment of a breakdown. */
const sameSegment = (
  a: { breakdown_kind: string; breakdown_value: unknown },
  b: { breakdown_kind: string; breakdown_value: unknown },
): boolean =>
  a.breakdown_kind === b.breakdown_kind &&
  JSON.stringify(a.breakdown_value) === JSON.stringify(b.breakdown_value);

/** Label of the period holding a local wall-clock time. */
function periodLabel(unit: 'hour' | 'day' | 'week' | 'month', l: Local): string {
  switch (unit) {
    case 'hour':
      return `${l.date}T${pad(l.wall.getUTCHours())}:00`;
    case 'day':
      return l.date;
    case 'week': {
      const mondayBased = (l.wall.getUTCDay() + 6) % 7;
      return addDays(l.date, -mondayBased);
    }
    case 'month':
      return `${l.date.slice(0, 7)}-01`;
  }
}

const labelOfDate = (unit: 'hour' | 'day' | 'week' | 'month', date: string): string =>
  periodLabel(unit, { wall: new Date(`${date}T00:00:00Z`), date });

/** Every period label from the one holding `from` to the one holding the end of `to`. */
function labelsBetween(
  unit: 'hour' | 'day' | 'week' | 'month',
  from: string,
  to: string,
): string[] {
  const out: string[] = [];
  if (unit === 'hour') {
    for (let d = from; d <= to; d = addDays(d, 1))
      for (let h = 0; h < 24; h++) out.push(`${d}T${pad(h)}:00`);
    return out;
  }
  const last = labelOfDate(unit, to);
  let label = labelOfDate(unit, from);
  while (label <= last) {
    out.push(label);
    if (unit === 'day') label = addDays(label, 1);
    else if (unit === 'week') label = addDays(label, 7);
    else {
      const d = new Date(`${label}T00:00:00Z`);
      d.setUTCMonth(d.getUTCMonth() + 1);
      label = d.toISOString().slice(0, 10);
    }
  }
  return out;
}

/** Whole periods from label a to label b. */
function periodsBetween(unit: 'day' | 'week' | 'month', a: string, b: string): number {
  if (unit === 'month') {
    const months = (s: string) => Number(s.slice(0, 4)) * 12 + Number(s.slice(5, 7));
    return months(b) - months(a);
  }
  const days = (Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / DAY;
  return unit === 'day' ? days : days / 7;
}

// ---------------------------------------------------------------------------------------------
// Property values.

/** Column → event-row field, from the one event schema. */
const COLUMN_FIELDS: Record<string, keyof EventRow> = Object.fromEntries(
  STANDARD_EVENT_PROPERTIES.map((def) => [def.column, def.field]),
);

/**
 * Text of a JSON number as the stored JSON (written by JSON.stringify) gives it back: the same
 * shortest round-trip digits, with exponents written without '+' (`1e21`, not `1e+21`).
 */
export function jsonNumberText(n: number): string {
  return String(n).replace('e+', 'e');
}

/** Compact JSON with numbers written as `jsonNumberText` does. */
function jsonText(value: JsonValue): string {
  if (value === null) return 'null';
  if (typeof value === 'number') return jsonNumberText(value);
  if (typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(jsonText).join(',')}]`;
  return `{${Object.entries(value)
    .map(([k, v]) => `${JSON.stringify(k)}:${jsonText(v)}`)
    .join(',')}}`;
}

/** The text of a key of a JSON object (the bag, a profile), or null when not set. */
function valueText(bag: JsonObject | undefined, key: string): string | null {
  if (!bag || !Object.hasOwn(bag, key)) return null;
  const v = bag[key];
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  return jsonText(v);
}

/** What reading a property needs beyond the event: identities and profiles. */
interface ReadContext {
  uid: (e: EventRow) => string | null;
  /** The members of a cohort of `ReferenceData.cohorts` (resolved users). */
  members: (cohortId: string) => Set<string>;
  persons: Map<string, JsonObject>;
  groups: Map<string, Map<string, JsonObject>>;
}

const contexts = new WeakMap<ReferenceData, ReadContext>();

function contextOf(data: ReferenceData): ReadContext {
  const known = contexts.get(data);
  if (known) return known;
  const persons = new Map<string, JsonObject>();
  const groups = new Map<string, Map<string, JsonObject>>();
  for (const p of data.profiles ?? []) {
    if (p.projectId !== data.projectId) continue;
    if (p.groupKey === '') persons.set(p.profileId, p.properties);
    else {
      const byId = groups.get(p.groupKey) ?? new Map<string, JsonObject>();
      byId.set(p.profileId, p.properties);
      groups.set(p.groupKey, byId);
    }
  }
  const members = new Map<string, Set<string>>();
  const cx: ReadContext = {
    uid: resolver(data),
    persons,
    groups,
    members: (id) => {
      let set = members.get(id);
      if (!set) {
        const definition = data.cohorts?.byId.get(id);
        if (!definition) throw new Error(`reference: no cohort ${id}`);
        set = cohortMembers(definition, data, cx, data.cohorts!.nowMs);
        members.set(id, set);
      }
      return set;
    },
  };
  contexts.set(data, cx);
  return cx;
}

/**
 * The text of a property for an event, or null when not set: a standard column, a key of the
 * bag, `person.<key>` of the resolved person's profile, or `group.<group_key>.<key>` of the
 * profile of the group whose id the event carries under that group key.
 */
function textOf(cx: ReadContext, e: EventRow, property: string): string | null {
  const profile = profilePropertyOf(property);
  if (profile !== null && profile !== 'invalid') {
    if (profile.kind === 'person') {
      const u = cx.uid(e);
      return u === null ? null : valueText(cx.persons.get(u), profile.key);
    }
    const id = valueText(e.properties, profile.groupKey);
    return id === null ? null : valueText(cx.groups.get(profile.groupKey)?.get(id), profile.key);
  }
  const column = Object.hasOwn(STANDARD_PROPERTIES, property)
    ? STANDARD_PROPERTIES[property]
    : undefined;
  if (column) return e[COLUMN_FIELDS[column]!] as string | null;
  return valueText(e.properties, property);
}

const JSON_NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;

function numberOf(cx: ReadContext, e: EventRow, property: string): number | null {
  const text = textOf(cx, e, property);
  if (text === null || !JSON_NUMBER.test(text)) return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

function matches(cx: ReadContext, e: EventRow, f: Filter): boolean {
  if (f.property === COHORT_PROPERTY) return cohortFilterHolds(cx, e, f);
  const text = textOf(cx, e, f.property);
  switch (f.op) {
    case 'eq':
      return text !== null && text === f.value;
    case 'neq':
      return text === null || text !== f.value;
    case 'in':
      return text !== null && f.value.includes(text);
    case 'not_in':
      return text === null || !f.value.includes(text);
    case 'contains':
      return text !== null && text.includes(f.value);
    case 'not_contains':
      return text === null || !text.includes(f.value);
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const n = numberOf(cx, e, f.property);
      if (n === null) return false;
      if (f.op === 'gt') return n > f.value;
      if (f.op === 'gte') return n >= f.value;
      if (f.op === 'lt') return n < f.value;
      return n <= f.value;
    }
    case 'is_set':
      return text !== null;
    case 'is_not_set':
      return text === null;
  }
}

/** A filter entry: a condition, or any (one of) / all (every one of) a group's entries. */
function matchesNode(cx: ReadContext, e: EventRow, f: FilterNode): boolean {
  if ('any' in f) return f.any.some((g) => matchesNode(cx, e, g));
  if ('all' in f) return f.all.every((g) => matchesNode(cx, e, g));
  return matches(cx, e, f);
}

const matchesAll = (cx: ReadContext, e: EventRow, filters: FilterNode[]): boolean =>
  filters.every((f) => matchesNode(cx, e, f));

// ---------------------------------------------------------------------------------------------
// Identity and aggregation helpers.

function resolver(data: ReferenceData): (e: EventRow) => string | null {
  const canonical = new Map<string, string>();
  for (const l of data.links)
    if (l.projectId === data.projectId) canonical.set(l.aliasId, l.canonicalId);
  return (e) => {
    if (e.userId) return e.userId;
    if (e.deviceId && canonical.has(e.deviceId)) return canonical.get(e.deviceId)!;
    if (canonical.has(e.distinctId)) return canonical.get(e.distinctId)!;
    return e.distinctId === '' ? null : e.distinctId;
  };
}

/** Continuous quantile: linear interpolation between the two nearest ranks, lo·(1−d) + hi·d. */
function quantile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rn = (sorted.length - 1) * q;
  const lo = Math.floor(rn);
  const hi = Math.ceil(rn);
  if (lo === hi) return sorted[lo]!;
  const d = rn - lo;
  return sorted[lo]! * (1 - d) + sorted[hi]! * d;
}

function aggregate(
  cx: ReadContext,
  math: MathKind,
  events: EventRow[],
  uid: (e: EventRow) => string | null,
  property: string | null,
): number | null {
  switch (math) {
    case 'total':
      return events.length;
    case 'unique_users':
      return new Set(events.map(uid).filter((u) => u !== null)).size;
    case 'unique_groups':
      // `property` is the group key here: distinct set values of it.
      return new Set(events.map((e) => textOf(cx, e, property!)).filter((v) => v !== null)).size;
    case 'per_user_avg':
    case 'per_user_median':
    case 'per_user_min':
    case 'per_user_max':
    case 'per_user_p90':
    case 'per_user_p99': {
      const perUser = new Map<string, number>();
      for (const e of events) {
        const u = uid(e);
        if (u !== null) perUser.set(u, (perUser.get(u) ?? 0) + 1);
      }
      const counts = [...perUser.values()];
      if (counts.length === 0) return null;
      if (math === 'per_user_avg') return counts.reduce((a, b) => a + b, 0) / counts.length;
      if (math === 'per_user_min') return Math.min(...counts);
      if (math === 'per_user_max') return Math.max(...counts);
      const q = math === 'per_user_median' ? 0.5 : math === 'per_user_p90' ? 0.9 : 0.99;
      return quantile(counts, q);
    }
    default: {
      const values = events
        .map((e) => numberOf(cx, e, property!))
        .filter((v): v is number => v !== null);
      if (math === 'sum') return values.reduce((s, v) => s + v, 0);
      if (values.length === 0) return null;
      if (math === 'avg') return values.reduce((s, v) => s + v, 0) / values.length;
      if (math === 'min') return Math.min(...values);
      if (math === 'max') return Math.max(...values);
      return quantile(values, math === 'p50' ? 0.5 : math === 'p90' ? 0.9 : 0.99);
    }
  }
}

/** A breakdown value: a text (one property, a cohort id) or one entry per property of a list. */
type BdValue = string | (string | null)[];

/** Texts by UTF-8 bytes; lists entry by entry, an unset entry after any text, shorter first. */
function compareBd(a: BdValue, b: BdValue): number {
  if (typeof a === 'string' && typeof b === 'string') return utf8(a, b);
  const x = a as (string | null)[];
  const y = b as (string | null)[];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const p = x[i]!;
    const q = y[i]!;
    if (p === q) continue;
    if (p === null) return 1;
    if (q === null) return -1;
    const c = utf8(p, q);
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

const bdKey = (v: BdValue): string => JSON.stringify(v);

type Segmented<T> = { kind: 'value' | 'other' | 'not_set'; value: BdValue | null; items: T[] };

/**
 * Splits items into the top `limit` values by count (ties by value), "other" and "not set". An
 * item has the values `valuesOf` gives (several with cohorts: it is in each of their segments;
 * none: not set). `otherPerValue`: an item is in "other" once per value of it there (trends:
 * "other" merges the rows it stands for, an event in two of them counting in both); else once.
 */
function segment<T>(
  items: T[],
  valuesOf: (item: T) => BdValue[],
  limit: number,
  otherPerValue = false,
  given?: BdValue[],
): Segmented<T>[] {
  const counts = new Map<string, { value: BdValue; n: number }>();
  for (const item of items)
    for (const v of valuesOf(item)) {
      const c = counts.get(bdKey(v)) ?? { value: v, n: 0 };
      c.n++;
      counts.set(bdKey(v), c);
    }
  const ranked = [...counts.values()].sort((a, b) => b.n - a.n || compareBd(a.value, b.value));
  // `given`: the values of another series (a formula with a breakdown), kept where items have them.
  const top = given ?? ranked.slice(0, limit).map((c) => c.value);
  const topKeys = new Set(top.map(bdKey));
  const out: Segmented<T>[] = top
    .map((value): Segmented<T> => ({
      kind: 'value',
      value,
      items: items.filter((i) => valuesOf(i).some((v) => bdKey(v) === bdKey(value))),
    }))
    .filter((seg) => seg.items.length > 0);
  const other = otherPerValue
    ? items.flatMap((i) => valuesOf(i).flatMap((v) => (topKeys.has(bdKey(v)) ? [] : [i])))
    : items.filter((i) => valuesOf(i).some((v) => !topKeys.has(bdKey(v))));
  const notSet = items.filter((i) => valuesOf(i).length === 0);
  if (other.length > 0) out.push({ kind: 'other', value: null, items: other });
  if (notSet.length > 0) out.push({ kind: 'not_set', value: null, items: notSet });
  return out;
}

/**
 * The breakdown values of an event: one property's text (none when unset); a list's texts (none
 * when every one is unset); or the cohorts of the breakdown its user is in, in any order.
 */
function breakdownValues(cx: ReadContext, b: Breakdown, e: EventRow): BdValue[] {
  if (isCombined(b)) return combinations(cx, b, cx.uid(e), propertyTexts(cx, b, e));
  const cohorts = breakdownCohorts(b);
  if (cohorts.length > 0) {
    const u = cx.uid(e);
    return u === null ? [] : cohorts.filter((id) => cx.members(id).has(u));
  }
  const texts = breakdownProperties(b).map((name) => textOf(cx, e, name));
  if (b.form === 'single') return texts[0] === null ? [] : [texts[0]!];
  return texts.every((t) => t === null) ? [] : [texts];
}

/** Whether a breakdown is a list with a cohort entry (properties and cohorts combined). */
const isCombined = (b: Breakdown): boolean =>
  b.form === 'list' && b.dimensions.some((d) => d.kind === 'cohort');

/** A combined breakdown's property texts in its order (null where unset, and at the cohort's). */
function propertyTexts(cx: ReadContext, b: Breakdown, e: EventRow): (string | null)[] {
  return b.dimensions.map((d) => (d.kind === 'cohort' ? null : textOf(cx, e, d.property)));
}

/**
 * A combined breakdown's values for a user `u` and property texts: one per cohort of the
 * breakdown the user is in (its id in the cohort's place), or one with null there when in none;
 * none when that one has nothing set (not set).
 */
function combinations(
  cx: ReadContext,
  b: Breakdown,
  u: string | null,
  texts: (string | null)[],
): BdValue[] {
  const ids = u === null ? [] : breakdownCohorts(b).filter((id) => cx.members(id).has(u));
  const at = b.dimensions.findIndex((d) => d.kind === 'cohort');
  return (ids.length > 0 ? ids : [null])
    .map((id) => texts.map((t, i) => (i === at ? id : t)))
    .filter((list) => list.some((t) => t !== null));
}

/** Of several candidate values (start events at one instant), the smallest; none if none. */
function smallest(values: BdValue[][]): BdValue[] {
  const set = values.filter((v) => v.length > 0).map((v) => v[0]!);
  if (set.length === 0) return [];
  return [set.sort(compareBd)[0]!];
}

const inDates = (date: string, r: DateRange): boolean => date >= r.from && date <= r.to;

/**
 * The events of a series (its event, or any event with or without SDK bookkeeping) whose local
 * date is in `range` and that match the query's and the series' filters.
 */
function seriesEvents(
  data: ReferenceData,
  events: EventRow[],
  range: DateRange,
  s: { event: string | null; includeSdkEvents: boolean; filters: FilterNode[] },
  filters: FilterNode[],
): EventRow[] {
  const cx = contextOf(data);
  return events.filter(
    (e) =>
      inDates(local(data.timezone, e.timeMs).date, range) &&
      (s.event === null
        ? s.includeSdkEvents || !isSdkBookkeepingEvent(e.event)
        : e.event === s.event) &&
      matchesAll(cx, e, filters) &&
      matchesAll(cx, e, s.filters),
  );
}

// ---------------------------------------------------------------------------------------------
// Query kinds.

/**
 * Trends. `compare`: the same trend over the days just before `from` (as many as the range has),
 * each row beside the previous row of the same series and segment, bucket i beside bucket i.
 * `formula`: the series combined per bucket and on their totals.
 */
function trends(q: TrendsQuery, data: ReferenceData, events: EventRow[]): TrendsResult {
  const shared = q.formula !== null && q.breakdown !== null;
  const current = lineUp(q, analysedRows(q, data, events), shared);
  if (q.compare === 'previous_period') {
    const before = analysedRows({ ...q, ...previousRangeOf(q) }, data, events);
    current.forEach((rows, i) => {
      for (const row of rows) {
        const match = before[i]!.find((r) => sameSegment(r, row));
        const empty = emptyOf(row.math);
        row.previous_values = row.labels.map((_, b) =>
          match && b < match.values.length ? match.values[b]! : empty,
        );
        row.previous_total = match ? match.total : empty;
      }
    });
  }
  const result: TrendsResult = { series: current.flat() };
  if (q.formula === null) return result;
  const tree = parseFormula(q.formula, q.series.length);
  const labels = labelsBetween(q.interval, q.from, q.to);
  const combine = (rows: Pick<TrendsSeriesResult, 'values' | 'total'>[]) => ({
    values: labels.map((_, b) =>
      evaluateFormula(
        tree,
        rows.map((r) => r.values[b] ?? null),
      ),
    ),
    total: evaluateFormula(
      tree,
      rows.map((r) => r.total),
    ),
  });
  if (!shared) {
    result.formula = { formula: q.formula, labels, ...combine(result.series) };
    return result;
  }
  // Broken down: the formula combines the rows of a segment, and, for its overall line, the
  // whole series.
  const whole = analysedRows({ ...q, breakdown: null }, data, events).map((rows) => rows[0]!);
  result.formula = {
    formula: q.formula,
    labels,
    ...combine(whole),
    breakdowns: current[0]!.map((seg, k) => ({
      breakdown_value: seg.breakdown_value,
      breakdown_kind: seg.breakdown_kind as Exclude<BreakdownKind, 'none'>,
      ...combine(current.map((rows) => rows[k]!)),
    })),
  };
  return result;
}

/**
 * With `shared` (a formula with a breakdown): every series gets a row for each segment any of
 * them has (the first series' values, then other, then not set), empty where it has no events.
 */
function lineUp(
  q: TrendsQuery,
  current: TrendsSeriesResult[][],
  shared: boolean,
): TrendsSeriesResult[][] {
  if (!shared) return current;
  const keyOf = (r: TrendsSeriesResult): string =>
    `${r.breakdown_kind}:${JSON.stringify(r.breakdown_value)}`;
  const order = { value: 0, other: 1, not_set: 2, none: 3 };
  const segments = [...new Map(current.flat().map((r) => [keyOf(r), r])).values()].sort(
    (a, b) => order[a.breakdown_kind] - order[b.breakdown_kind],
  );
  return current.map((rows, i) =>
    segments.map((seg) => {
      const found = rows.find((r) => keyOf(r) === keyOf(seg));
      if (found) return found;
      const spec = q.series[i]!;
      const empty = emptyOf(spec.math);
      return {
        event: spec.event,
        math: spec.math,
        property: spec.property,
        breakdown_value: seg.breakdown_value,
        breakdown_kind: seg.breakdown_kind,
        labels: seg.labels,
        values: seg.labels.map(() => empty),
        total: empty,
      };
    }),
  );
}

/** A series' value where it counted nothing: 0 for counts and sums, else no value. */
const emptyOf = (math: MathKind): number | null =>
  math === 'total' ||
  math === 'unique_users' ||
  math === 'sum' ||
  math === 'unique_groups' ||
  math === 'weekly_active' ||
  math === 'monthly_active'
    ? 0
    : null;

/**
 * The rows of each series, rolled when the analysis says so: a rolling row's value at each label
 * is the mean of the values (those it has) at the `rollingWindow` labels ending there, counted
 * over labels before `from` as over the others; its segments are the values each series ranks
 * over the range shown (the others in `other`), and its total that range's, as linear.
 */
function analysedRows(
  q: TrendsQuery,
  data: ReferenceData,
  events: EventRow[],
): TrendsSeriesResult[][] {
  if (q.analysis !== 'rolling') return trendRows(q, data, events);
  const n = q.rollingWindow!;
  const linear: TrendsQuery = { ...q, analysis: 'linear', rollingWindow: null };
  const shown = trendRows(linear, data, events);
  // The first day of the label n - 1 labels before the one of `from`.
  const start = labelOfDate(q.interval, q.from).slice(0, 10);
  let from: string;
  if (q.interval === 'hour') from = addDays(start, -Math.ceil((n - 1) / 24));
  else if (q.interval === 'day') from = addDays(start, -(n - 1));
  else if (q.interval === 'week') from = addDays(start, -7 * (n - 1));
  else {
    const d = new Date(`${start}T00:00:00Z`);
    d.setUTCMonth(d.getUTCMonth() - (n - 1));
    from = d.toISOString().slice(0, 10);
  }
  const valuesOf = (rows: TrendsSeriesResult[]): BdValue[] =>
    rows.filter((r) => r.breakdown_kind === 'value').map((r) => r.breakdown_value!);
  const given = shown.map((rows) =>
    valuesOf(q.formula !== null && q.breakdown !== null ? shown[0]! : rows),
  );
  const wide = trendRows({ ...linear, from }, data, events, given);
  const labels = labelsBetween(q.interval, q.from, q.to);
  const keyOf = (r: TrendsSeriesResult): string =>
    `${r.breakdown_kind}:${JSON.stringify(r.breakdown_value)}`;
  return wide.map((rows, i) =>
    rows.map((r) => {
      const values = r.values.map((_, b) => {
        const known = r.values
          .slice(Math.max(0, b - n + 1), b + 1)
          .filter((v): v is number => v !== null);
        return known.length === 0 ? null : known.reduce((a, v) => a + v, 0) / known.length;
      });
      const match = shown[i]!.find((m) => keyOf(m) === keyOf(r));
      return {
        ...r,
        labels,
        values: values.slice(values.length - labels.length),
        total: match ? match.total : emptyOf(r.math),
      };
    }),
  );
}

/**
 * The rows of each series (one per breakdown segment). `givenBySeries`: the breakdown values
 * each series is split by (a rolling trend's, from the range shown) instead of its own top ones.
 */
function trendRows(
  q: TrendsQuery,
  data: ReferenceData,
  events: EventRow[],
  givenBySeries?: BdValue[][],
): TrendsSeriesResult[][] {
  const cx = contextOf(data);
  const uid = cx.uid;
  const labels = labelsBetween(q.interval, q.from, q.to);
  const out: TrendsSeriesResult[][] = [];
  // A formula with a breakdown: the series after the first are split by the first one's values.
  const given = (): BdValue[] | undefined =>
    givenBySeries
      ? givenBySeries[out.length - 1]
      : q.formula !== null && out.length > 1
        ? out[0]!.filter((r) => r.breakdown_kind === 'value').map((r) => r.breakdown_value!)
        : undefined;
  for (const s of q.series) {
    const series: TrendsSeriesResult[] = [];
    out.push(series);
    if (s.math === 'weekly_active' || s.math === 'monthly_active') {
      // Users active in the W days ending on each label's last day (or `to`), days before `from`
      // included; the total's window ends on `to`. Broken down, the segments are ranked by their
      // events (those without a user too, as for unique users) over the days some window
      // covers, and a segment's users are those of its events in each window.
      const w = s.math === 'weekly_active' ? 7 : 30;
      const lastDay = (label: string): string => {
        if (q.interval === 'day') return label;
        if (q.interval === 'week') return addDays(label, 6);
        const d = new Date(`${label}T00:00:00Z`);
        d.setUTCMonth(d.getUTCMonth() + 1, 0);
        return d.toISOString().slice(0, 10);
      };
      const endOf = (label: string): string => {
        const end = lastDay(label);
        return end < q.to ? end : q.to;
      };
      // The days some window covers (the first one may end after `from`).
      const read = { from: addDays(endOf(labels[0]!), -(w - 1)), to: q.to };
      const matching = seriesEvents(data, events, read, s, q.filters);
      const activeBy = (items: EventRow[], end: string): number => {
        const start = addDays(end, -(w - 1));
        return new Set(
          items
            .filter((e) => inDates(local(data.timezone, e.timeMs).date, { from: start, to: end }))
            .map(uid)
            .filter((u) => u !== null),
        ).size;
      };
      const activeRow = (
        items: EventRow[],
        kind: TrendsSeriesResult['breakdown_kind'],
        value: BdValue | null,
      ): TrendsSeriesResult => ({
        event: s.event,
        math: s.math,
        property: s.property,
        breakdown_value: value,
        breakdown_kind: kind,
        labels,
        values: labels.map((label) => activeBy(items, endOf(label))),
        total: activeBy(items, q.to),
      });
      const b = q.breakdown;
      if (!b) series.push(activeRow(matching, 'none', null));
      else
        for (const seg of segment(
          matching,
          (e) => breakdownValues(cx, b, e),
          b.limit,
          true,
          given(),
        ))
          series.push(activeRow(seg.items, seg.kind, seg.value));
      continue;
    }
    const population = seriesEvents(data, events, q, s, q.filters);
    const zero =
      s.math === 'total' ||
      s.math === 'unique_users' ||
      s.math === 'sum' ||
      s.math === 'unique_groups'
        ? 0
        : null;
    const property = s.math === 'unique_groups' ? s.groupKey : s.property;
    const row = (
      items: EventRow[],
      kind: TrendsSeriesResult['breakdown_kind'],
      value: BdValue | null,
    ): TrendsSeriesResult => ({
      event: s.event,
      math: s.math,
      property: s.property,
      breakdown_value: value,
      breakdown_kind: kind,
      labels,
      values: labels.map((label) => {
        const inBucket = items.filter((e) =>
          q.analysis === 'cumulative'
            ? periodLabel(q.interval, local(data.timezone, e.timeMs)) <= label
            : periodLabel(q.interval, local(data.timezone, e.timeMs)) === label,
        );
        // Cumulative: the events from `from` through the label (labels sort as their times).
        return inBucket.length === 0 ? zero : aggregate(cx, s.math, inBucket, uid, property);
      }),
      total: items.length === 0 ? zero : aggregate(cx, s.math, items, uid, property),
    });
    if (!q.breakdown) {
      series.push(row(population, 'none', null));
      continue;
    }
    const b = q.breakdown;
    for (const seg of segment(population, (e) => breakdownValues(cx, b, e), b.limit, true, given()))
      series.push(row(seg.items, seg.kind, seg.value));
  }
  return out;
}

/**
 * Frequency: per series (and segment, as trends' unique users split them), for each period (the
 * range, or each week or month label it touches, cut to the range), how many users did the event
 * on exactly k distinct interval labels of it (k = 1 … the labels in the period's days), and on
 * k or more. `compare`: the same over the days just before `from`, segment beside segment.
 */
function frequency(q: FrequencyQuery, data: ReferenceData, events: EventRow[]): FrequencyResult {
  const current = frequencyRows(q, data, events);
  if (q.compare === 'previous_period') {
    const range = previousRangeOf(q);
    const before = frequencyRows({ ...q, ...range }, data, events);
    current.forEach((rows, i) => {
      for (const row of rows) {
        const match = before[i]!.find((r) => sameSegment(r, row));
        row.previous_periods = match
          ? match.periods
          : frequencyPeriodsOf({ ...q, ...range }, data, []);
      }
    });
  }
  return { interval: q.interval, per: q.per, series: current.flat() };
}

/** The last day of the week or month labelled `label`. */
function lastDayOf(unit: 'week' | 'month', label: string): string {
  if (unit === 'week') return addDays(label, 6);
  const d = new Date(`${label}T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() + 1, 0);
  return d.toISOString().slice(0, 10);
}

/** A frequency's periods, each with its users counted from `items` (events of the series). */
function frequencyPeriodsOf(
  q: FrequencyQuery,
  data: ReferenceData,
  items: EventRow[],
): FrequencyPeriodResult[] {
  const uid = contextOf(data).uid;
  const periods =
    q.per === 'range'
      ? [{ label: null as string | null, start: q.from, end: q.to, complete: true }]
      : labelsBetween(q.per, q.from, q.to).map((label) => {
          const last = lastDayOf(q.per as 'week' | 'month', label);
          const start = label < q.from ? q.from : label;
          const end = last > q.to ? q.to : last;
          return { label, start, end, complete: start === label && end === last };
        });
  return periods.map((period) => {
    const intervals = labelsBetween(q.interval, period.start, period.end).length;
    const seen = new Map<string, Set<string>>();
    for (const e of items) {
      const u = uid(e);
      if (u === null) continue;
      const l = local(data.timezone, e.timeMs);
      if (period.label !== null && periodLabel(q.per as 'week' | 'month', l) !== period.label)
        continue;
      const set = seen.get(u) ?? new Set<string>();
      set.add(periodLabel(q.interval, l));
      seen.set(u, set);
    }
    const counts = Array.from({ length: intervals }, () => 0);
    for (const set of seen.values()) counts[set.size - 1]!++;
    const cumulative = counts.map((_, i) => counts.slice(i).reduce((a, b) => a + b, 0));
    return {
      start: period.start,
      end: period.end,
      complete: period.complete,
      intervals,
      users: seen.size,
      counts,
      cumulative,
    };
  });
}

/** The rows of each frequency series (one per breakdown segment). */
function frequencyRows(
  q: FrequencyQuery,
  data: ReferenceData,
  events: EventRow[],
): FrequencySeriesResult[][] {
  const cx = contextOf(data);
  return q.series.map((s) => {
    const population = seriesEvents(data, events, q, s, q.filters);
    const row = (
      items: EventRow[],
      kind: FrequencySeriesResult['breakdown_kind'],
      value: BdValue | null,
    ): FrequencySeriesResult => ({
      event: s.event,
      breakdown_value: value,
      breakdown_kind: kind,
      periods: frequencyPeriodsOf(q, data, items),
    });
    const b = q.breakdown;
    if (!b) return [row(population, 'none', null)];
    return segment(population, (e) => breakdownValues(cx, b, e), b.limit, true).map((seg) =>
      row(seg.items, seg.kind, seg.value),
    );
  });
}

interface FunnelEntry {
  uid: string;
  /** Entry time, then the time each later step was reached (in order), as far as it got. */
  times: number[];
  /** The entry's breakdown value (empty: not set; a cohort breakdown is the user's: empty). */
  bd: BdValue[];
  /** Label of the interval of entry (conversion over time), or null. */
  label: string | null;
}

/**
 * Deeper first, then the earlier entry, then the smaller breakdown value (unset last), then the
 * earlier at step 2, then at step 3, … (attempts entered at one instant with different held
 * values go on differently). Attempts still tied are alike in every figure the answer shows.
 */
function betterEntry(a: FunnelEntry, b: FunnelEntry): boolean {
  if (a.times.length !== b.times.length) return a.times.length > b.times.length;
  if (a.times[0] !== b.times[0]) return a.times[0]! < b.times[0]!;
  const x = a.bd[0];
  const y = b.bd[0];
  if (x === undefined && y !== undefined) return false;
  if (y === undefined && x !== undefined) return true;
  const byValue = x === undefined || y === undefined ? 0 : compareBd(x, y);
  if (byValue !== 0) return byValue < 0;
  for (let i = 1; i < a.times.length; i++)
    if (a.times[i] !== b.times[i]) return a.times[i]! < b.times[i]!;
  return false;
}

const FUNNEL_QUANTILE_FRACTIONS = { p25: 0.25, p50: 0.5, p75: 0.75, p90: 0.9 } as const;

/**
 * Funnels, read straight from the README's contract. Each step-1 event of a user whose local date
 * is in the range is an attempt. Sequential: step k is the user's first step-k event strictly
 * after step k-1, no later than the window after the entry. Any order: each later step's first
 * event strictly after the entry within the window; the times of those done, sorted, are the
 * attempt's step 2, 3, … With `hold_constant`, a later step's event counts only when each held
 * property has the entry's value (both not set counts as equal). An attempt that did an excluded
 * event strictly between its `after_step` and `before_step` times is dropped, and so is one that never reached `before_step` but did the excluded event after
 * `after_step` no later than the window's end. Each user counts once, with their best attempt (deepest, earliest, smaller breakdown
 * value, then earliest at each later step in turn); over time, once per interval of entry with their
 * best attempt entered in it.
 */
function funnel(q: FunnelQuery, data: ReferenceData, events: EventRow[]): FunnelResult {
  const cx = contextOf(data);
  const uid = cx.uid;
  const windowMs = q.windowSeconds * 1000;
  const byUser = new Map<string, EventRow[]>();
  for (const e of events) {
    const u = uid(e);
    if (u === null) continue;
    const list = byUser.get(u) ?? [];
    list.push(e);
    byUser.set(u, list);
  }
  const stepOk = (e: EventRow, k: number): boolean =>
    e.event === q.steps[k]!.event &&
    matchesAll(cx, e, q.filters) &&
    matchesAll(cx, e, q.steps[k]!.filters);
  const excludedBy = (e: EventRow, x: FunnelQuery['exclusions'][number]): boolean =>
    e.event === x.event && matchesAll(cx, e, q.filters) && matchesAll(cx, e, x.filters);
  const attemptsOf = (u: string, sorted: EventRow[]): FunnelEntry[] => {
    const out: FunnelEntry[] = [];
    for (const entry of sorted) {
      if (!stepOk(entry, 0) || !inDates(local(data.timezone, entry.timeMs).date, q)) continue;
      const held = q.holdConstant.map((name) => textOf(cx, entry, name));
      const same = (e: EventRow): boolean =>
        q.holdConstant.every((name, i) => textOf(cx, e, name) === held[i]);
      const t1 = entry.timeMs;
      const times = [t1];
      if (q.order === 'strict') {
        for (let k = 1; k < q.steps.length; k++) {
          const prev = times[k - 1]!;
          const next = sorted.find((e) => e.timeMs > prev && stepOk(e, k) && same(e));
          if (!next || next.timeMs > t1 + windowMs) break;
          times.push(next.timeMs);
        }
      } else {
        const done: number[] = [];
        for (let k = 1; k < q.steps.length; k++) {
          const next = sorted.find((e) => e.timeMs > t1 && stepOk(e, k) && same(e));
          if (next && next.timeMs <= t1 + windowMs) done.push(next.timeMs);
        }
        times.push(...done.sort((a, b) => a - b));
      }
      // Strictly after step `after`, and strictly before step `before` — or, never reached,
      // no later than the window's end.
      const disqualified = q.exclusions.some((x) => {
        if (times.length <= x.afterStep) return false;
        const lo = times[x.afterStep]!;
        const reached = times.length > x.beforeStep;
        const hi = reached ? times[x.beforeStep]! : t1 + windowMs;
        return sorted.some(
          (e) => e.timeMs > lo && (reached ? e.timeMs < hi : e.timeMs <= hi) && excludedBy(e, x),
        );
      });
      if (disqualified) continue;
      out.push({
        uid: u,
        times,
        bd: !q.breakdown
          ? []
          : isCombined(q.breakdown)
            ? [propertyTexts(cx, q.breakdown, entry)]
            : breakdownCohorts(q.breakdown).length === 0
              ? breakdownValues(cx, q.breakdown, entry)
              : [],
        label: q.conversionInterval
          ? periodLabel(q.conversionInterval, local(data.timezone, t1))
          : null,
      });
    }
    return out;
  };
  const best: FunnelEntry[] = [];
  const bestPerLabel: FunnelEntry[] = [];
  for (const [u, list] of byUser) {
    const sorted = [...list].sort((a, b) => a.timeMs - b.timeMs);
    const attempts = attemptsOf(u, sorted);
    let chosen: FunnelEntry | null = null;
    for (const a of attempts) if (!chosen || betterEntry(a, chosen)) chosen = a;
    if (chosen) best.push(chosen);
    const perLabel = new Map<string, FunnelEntry>();
    for (const a of attempts) {
      const seen = perLabel.get(a.label ?? '');
      if (
        !seen ||
        a.times.length > seen.times.length ||
        (a.times.length === seen.times.length && a.times[0]! < seen.times[0]!)
      )
        perLabel.set(a.label ?? '', a);
    }
    bestPerLabel.push(...perLabel.values());
  }
  const seconds = (values: number[], fraction: number): number | null => {
    const v = quantile(values, fraction);
    return v === null ? null : Math.round(v) / 1000; // whole milliseconds, as format.ts
  };
  const quantiles = (values: number[]) => ({
    p25: seconds(values, FUNNEL_QUANTILE_FRACTIONS.p25),
    p50: seconds(values, FUNNEL_QUANTILE_FRACTIONS.p50),
    p75: seconds(values, FUNNEL_QUANTILE_FRACTIONS.p75),
    p90: seconds(values, FUNNEL_QUANTILE_FRACTIONS.p90),
  });
  const steps = (entries: FunnelEntry[]): FunnelStepResult[] =>
    q.steps.map((step, i) => {
      const reached = entries.filter((en) => en.times.length > i);
      const fromPrevious =
        i === 0 ? null : quantiles(reached.map((en) => en.times[i]! - en.times[i - 1]!));
      return {
        event: step.event,
        count: reached.length,
        median_seconds_to_convert: fromPrevious?.p50 ?? null,
        time_to_convert: fromPrevious,
        time_from_start:
          i === 0 ? null : quantiles(reached.map((en) => en.times[i]! - en.times[0]!)),
      };
    });
  const result: FunnelResult = { steps: steps(best) };
  if (q.breakdown) {
    const b = q.breakdown;
    const cohorts = breakdownCohorts(b);
    const valuesOf = (en: FunnelEntry): BdValue[] =>
      isCombined(b)
        ? combinations(cx, b, en.uid, en.bd[0] as (string | null)[])
        : cohorts.length > 0
          ? cohorts.filter((id) => cx.members(id).has(en.uid))
          : en.bd;
    result.breakdowns = segment(best, valuesOf, b.limit).map((seg) => ({
      breakdown_value: seg.value,
      breakdown_kind: seg.kind,
      steps: steps(seg.items),
    }));
  }
  if (q.conversionInterval) {
    const unit = q.conversionInterval;
    result.conversion_over_time = {
      interval: unit,
      rows: labelsBetween(unit, q.from, q.to).map((label) => {
        const here = bestPerLabel.filter((en) => en.label === label);
        const counts = q.steps.map((_, i) => here.filter((en) => en.times.length > i).length);
        const entered = counts[0]!;
        return {
          start: label,
          entered,
          converted: counts[counts.length - 1]!,
          steps: counts,
          conversion_rate: entered === 0 ? null : counts[counts.length - 1]! / entered,
        };
      }),
    };
  }
  return result;
}

/**
 * Retention, from the README. A user's start events are those named `start_event` matching the
 * filters; cohort starts by type: first_in_range — the period of their first start event whose
 * local date is in the range; first_time — the same, only when no start event of theirs came
 * earlier (at any time); recurring — every period holding a start event inside the range.
 * counts[k] (k ≥ 1) are the users of a cohort with a return event (matching the filters) in the
 * k-th period after it. A breakdown splits each cohort by the value of its first start event in
 * that period (of several at one instant, the smallest), a person property, or the user's
 * cohorts.
 */
function retention(q: RetentionQuery, data: ReferenceData, events: EventRow[]): RetentionResult {
  const cx = contextOf(data);
  const uid = cx.uid;
  const ok = (e: EventRow, name: string) => e.event === name && matchesAll(cx, e, q.filters);
  const labelOf = (e: EventRow) => periodLabel(q.period, local(data.timezone, e.timeMs));
  // Per user: their start events in the range, by period label; and their earliest ever.
  const starts = new Map<string, Map<string, EventRow[]>>();
  const earliest = new Map<string, number>();
  for (const e of events) {
    const u = uid(e);
    if (u === null || !ok(e, q.startEvent)) continue;
    earliest.set(u, Math.min(earliest.get(u) ?? Infinity, e.timeMs));
    if (!inDates(local(data.timezone, e.timeMs).date, q)) continue;
    const byLabel = starts.get(u) ?? new Map<string, EventRow[]>();
    const list = byLabel.get(labelOf(e)) ?? [];
    list.push(e);
    byLabel.set(labelOf(e), list);
    starts.set(u, byLabel);
  }
  const returns = new Map<string, Set<string>>();
  for (const e of events) {
    const u = uid(e);
    if (u === null || !ok(e, q.returnEvent)) continue;
    const set = returns.get(u) ?? new Set<string>();
    set.add(labelOf(e));
    returns.set(u, set);
  }
  interface Start {
    uid: string;
    label: string;
    bd: BdValue[];
  }
  const cohortStarts: Start[] = [];
  const b = q.breakdown;
  const valueAt = (u: string, list: EventRow[]): BdValue[] => {
    if (!b) return [];
    const t = Math.min(...list.map((e) => e.timeMs));
    if (isCombined(b)) {
      // The properties of the first start event (the smallest list at one instant), then the
      // user's cohorts.
      const firsts = list.filter((e) => e.timeMs === t).map((e) => [propertyTexts(cx, b, e)]);
      return combinations(cx, b, u, smallest(firsts)[0] as (string | null)[]);
    }
    const cohorts = breakdownCohorts(b);
    if (cohorts.length > 0) return cohorts.filter((id) => cx.members(id).has(u));
    return smallest(list.filter((e) => e.timeMs === t).map((e) => breakdownValues(cx, b, e)));
  };
  for (const [u, byLabel] of starts) {
    if (q.retentionType === 'recurring') {
      for (const [label, list] of byLabel)
        cohortStarts.push({ uid: u, label, bd: valueAt(u, list) });
      continue;
    }
    const [label, list] = [...byLabel].sort(
      (x, y) => Math.min(...x[1].map((e) => e.timeMs)) - Math.min(...y[1].map((e) => e.timeMs)),
    )[0]!;
    const first = Math.min(...list.map((e) => e.timeMs));
    if (q.retentionType === 'first_time' && earliest.get(u)! < first) continue;
    cohortStarts.push({ uid: u, label, bd: valueAt(u, list) });
  }
  const table = (items: Start[]) => {
    const cohorts = labelsBetween(q.period, q.from, q.to).map((start) => ({
      start,
      size: 0,
      counts: Array.from({ length: q.periods + 1 }, () => 0),
    }));
    for (const s of items) {
      const cohort = cohorts.find((c) => c.start === s.label);
      if (!cohort) continue;
      cohort.size++;
      cohort.counts[0]!++;
      for (const label of returns.get(s.uid) ?? []) {
        const k = periodsBetween(q.period, s.label, label);
        if (k >= 1 && k <= q.periods) cohort.counts[k]!++;
      }
    }
    return cohorts;
  };
  const result: RetentionResult = { cohorts: table(cohortStarts) };
  if (b)
    result.breakdowns = segment(cohortStarts, (s) => s.bd, b.limit).map((seg) => ({
      breakdown_value: seg.value,
      breakdown_kind: seg.kind,
      cohorts: table(seg.items),
    }));
  return result;
}

function typeOf(v: JsonValue): JsonTypeName | null {
  if (v === null) return null;
  if (Array.isArray(v)) return 'array';
  const t = typeof v;
  return t === 'string' || t === 'number' || t === 'boolean' ? t : 'object';
}

function discoveryEvents(
  q: { range: DateRange | null; event?: string | null },
  data: ReferenceData,
  events: EventRow[],
): EventRow[] {
  return events.filter(
    (e) =>
      (q.range === null || inDates(local(data.timezone, e.timeMs).date, q.range)) &&
      (q.event === undefined || q.event === null || e.event === q.event),
  );
}

/**
 * The properties `query` names that the project has never seen: no event carries a value for
 * it (standard columns are always known), or, for `person.` / `group.<key>.`, no profile of that
 * kind does. The engine must refuse exactly these.
 */
export function unknownProperties(query: Query, data: ReferenceData): string[] {
  const events = data.events.filter((e) => e.projectId === data.projectId);
  const profiles = (data.profiles ?? []).filter((p) => p.projectId === data.projectId);
  const seen = (name: string): boolean => {
    if (Object.hasOwn(STANDARD_PROPERTIES, name)) return true;
    const profile = profilePropertyOf(name);
    if (profile === null || profile === 'invalid')
      return events.some((e) => valueText(e.properties, name) !== null);
    const groupKey = profile.kind === 'person' ? '' : profile.groupKey;
    return profiles.some(
      (p) => p.groupKey === groupKey && valueText(p.properties, profile.key) !== null,
    );
  };
  return [...new Set(namedProperties(query).map((n) => n.name))].filter((n) => !seen(n));
}

/** The reference answer to `query` over `data`. */
export function referenceAnswer(query: Query, data: ReferenceData): QueryResult {
  const events = data.events.filter((e) => e.projectId === data.projectId);
  switch (query.kind) {
    case 'cohort_size':
      return { cohort: query.cohort, size: referenceCohortSize(data, query.cohort) };
    case 'flows':
      return flows(query, data, events);
    case 'lifecycle':
      return lifecycle(query, data, events);
    case 'trends':
      return trends(query, data, events);
    case 'frequency':
      return frequency(query, data, events);
    case 'funnel':
      return funnel(query, data, events);
    case 'retention':
      return retention(query, data, events);
    case 'event_names': {
      const counts = new Map<string, number>();
      for (const e of discoveryEvents(query, data, events))
        counts.set(e.event, (counts.get(e.event) ?? 0) + 1);
      const out: EventNamesResult = {
        events: [...counts.entries()]
          .sort((a, b) => b[1] - a[1] || utf8(a[0], b[0]))
          .slice(0, query.limit)
          .map(([event, count]) => ({ event, count })),
      };
      return out;
    }
    case 'property_values': {
      const counts = new Map<string, number>();
      for (const e of discoveryEvents(query, data, events)) {
        const v = textOf(contextOf(data), e, query.property);
        if (v !== null) counts.set(v, (counts.get(v) ?? 0) + 1);
      }
      const out: PropertyValuesResult = {
        values: [...counts.entries()]
          .sort((a, b) => b[1] - a[1] || utf8(a[0], b[0]))
          .slice(0, query.limit)
          .map(([value, count]) => ({ value, count })),
      };
      return out;
    }
    case 'event_properties': {
      // The most recent events: at or after the time of the N-th most recent one.
      const candidates = discoveryEvents(query, data, events).sort((a, b) => b.timeMs - a.timeMs);
      const edge = candidates[data.propertySampleSize - 1]?.timeMs;
      const sample = edge === undefined ? candidates : candidates.filter((e) => e.timeMs >= edge);
      const props: EventPropertiesResult['properties'] = [];
      for (const [column, field] of Object.entries(COLUMN_FIELDS)) {
        const n = sample.filter((e) => e[field] !== null).length;
        const name = COLUMN_PROPERTY_NAMES[column as keyof typeof COLUMN_PROPERTY_NAMES];
        if (n > 0)
          props.push({
            property: name,
            type: 'string',
            count: n,
            types: [{ type: 'string', count: n }],
          });
      }
      const byKey = new Map<string, Map<JsonTypeName, number>>();
      for (const e of sample) {
        for (const [key, v] of Object.entries(e.properties)) {
          const t = typeOf(v);
          if (t === null || !isQueryableJsonKey(key)) continue;
          const m = byKey.get(key) ?? new Map<JsonTypeName, number>();
          m.set(t, (m.get(t) ?? 0) + 1);
          byKey.set(key, m);
        }
      }
      for (const [key, m] of byKey) {
        const types = [...m.entries()]
          .map(([type, count]) => ({ type, count }))
          .sort((a, b) => b.count - a.count || utf8(a.type, b.type));
        props.push({
          property: key,
          type: types[0]!.type,
          count: types.reduce((s, t) => s + t.count, 0),
          types,
        });
      }
      props.sort((a, b) => b.count - a.count || utf8(a.property, b.property));
      return { sampled_events: sample.length, properties: props.slice(0, query.limit) };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Cohorts (issue 12), from their documented semantics:
// - the users are the resolved users of the project's events (any time);
// - did_event: the user's events named `event` matching the filters, with time in
//   [now − within_days days, now] (both ends included), counted; the count compared with `count`;
// - person_property: the filter holds on the user's current person profile (no profile: every
//   property unset);
// - match all: every condition holds; any: at least one does.

/** Whether a filter holds for a property text (null: not set). */
function filterHolds(text: string | null, f: Filter): boolean {
  switch (f.op) {
    case 'eq':
      return text !== null && text === f.value;
    case 'neq':
      return text === null || text !== f.value;
    case 'in':
      return text !== null && f.value.includes(text);
    case 'not_in':
      return text === null || !f.value.includes(text);
    case 'contains':
      return text !== null && text.includes(f.value);
    case 'not_contains':
      return text === null || !text.includes(f.value);
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      if (text === null || !JSON_NUMBER.test(text)) return false;
      const n = Number(text);
      if (!Number.isFinite(n)) return false;
      if (f.op === 'gt') return n > f.value;
      if (f.op === 'gte') return n >= f.value;
      if (f.op === 'lt') return n < f.value;
      return n <= f.value;
    }
    case 'is_set':
      return text !== null;
    case 'is_not_set':
      return text === null;
  }
}

function cohortMembers(
  d: CohortDefinition,
  data: ReferenceData,
  cx: ReadContext,
  nowMs: number,
): Set<string> {
  const events = data.events.filter((e) => e.projectId === data.projectId);
  const users = new Set<string>();
  for (const e of events) {
    const u = cx.uid(e);
    if (u !== null) users.add(u);
  }
  const holds = d.conditions.map((c): ((u: string) => boolean) => {
    if (c.kind === 'person_property') {
      const key = c.filter.property.slice('person.'.length);
      return (u) => filterHolds(valueText(cx.persons.get(u), key), c.filter);
    }
    const counts = new Map<string, number>();
    const from = nowMs - c.withinDays * DAY;
    for (const e of events) {
      if (e.event !== c.event || e.timeMs < from || e.timeMs > nowMs) continue;
      if (!matchesAll(cx, e, c.filters)) continue;
      const u = cx.uid(e);
      if (u !== null) counts.set(u, (counts.get(u) ?? 0) + 1);
    }
    return (u) => {
      const n = counts.get(u) ?? 0;
      return c.countOp === 'gte'
        ? n >= c.count
        : c.countOp === 'lte'
          ? n <= c.count
          : n === c.count;
    };
  });
  const out = new Set<string>();
  for (const u of users)
    if (d.match === 'all' ? holds.every((h) => h(u)) : holds.some((h) => h(u))) out.add(u);
  return out;
}

/** A cohort filter: the event's resolved user is (in) / is not (not_in) in any of the cohorts. */
function cohortFilterHolds(cx: ReadContext, e: EventRow, f: Filter): boolean {
  const ids: string[] = f.op === 'in' || f.op === 'not_in' ? f.value : [];
  const u = cx.uid(e);
  const member = u !== null && ids.some((id) => cx.members(id).has(u));
  return f.op === 'not_in' ? !member : member;
}

/** The reference size of a cohort (its members, as of `data.cohorts.nowMs`). */
export function referenceCohortSize(data: ReferenceData, cohortId: string): number {
  return contextOf(data).members(cohortId).size;
}

// ---------------------------------------------------------------------------------------------
// Flows (issue 12): a user's events in one order (time, then the dedup key's decimal text); their
// first anchor event whose local date is in the range; the events 1..steps places after (or
// before) it in that order, whenever they happened. Per step: users per event, the top
// `maxPaths` (count, then name) kept and the rest summed as "$other"; links from the previous
// step's (bucketed) event; drop-off = users at the step before without an event at this one.

function flows(q: FlowsQuery, data: ReferenceData, events: EventRow[]): FlowsResult {
  const cx = contextOf(data);
  const byUser = new Map<string, EventRow[]>();
  for (const e of events) {
    const u = cx.uid(e);
    if (u === null) continue;
    byUser.set(u, [...(byUser.get(u) ?? []), e]);
  }
  const paths: string[][] = [];
  for (const list of byUser.values()) {
    const ordered = [...list].sort((a, b) => {
      if (a.timeMs !== b.timeMs) return a.timeMs - b.timeMs;
      const x = String(a.dedupKey);
      const y = String(b.dedupKey);
      return x < y ? -1 : x > y ? 1 : 0;
    });
    const at = ordered.findIndex(
      (e) => e.event === q.anchor.event && inDates(local(data.timezone, e.timeMs).date, q),
    );
    if (at < 0) continue;
    const path: string[] = [];
    for (let k = 0; k <= q.steps; k++) {
      const e = ordered[q.anchor.direction === 'after' ? at + k : at - k];
      if (!e) break;
      path.push(e.event);
    }
    paths.push(path);
  }
  const steps: FlowsResult['steps'] = [];
  let previousTop = new Set([q.anchor.event]);
  for (let k = 0; k <= q.steps; k++) {
    const reaching = paths.filter((p) => p.length > k);
    const counts = new Map<string, number>();
    for (const p of reaching) counts.set(p[k]!, (counts.get(p[k]!) ?? 0) + 1);
    const ranked = [...counts].sort((a, b) => b[1] - a[1] || utf8(a[0], b[0]));
    const top = new Set(ranked.slice(0, q.maxPaths).map(([e]) => e));
    const nodes = ranked.filter(([e]) => top.has(e)).map(([event, count]) => ({ event, count }));
    const other = reaching.length - nodes.reduce((s, n) => s + n.count, 0);
    if (other > 0) nodes.push({ event: '$other', count: other });
    const links = new Map<string, { from: string; to: string; count: number }>();
    if (k > 0)
      for (const p of reaching) {
        const from = previousTop.has(p[k - 1]!) ? p[k - 1]! : '$other';
        const to = top.has(p[k]!) ? p[k]! : '$other';
        const link = links.get(`${from}\u0000${to}`) ?? { from, to, count: 0 };
        link.count++;
        links.set(`${from}\u0000${to}`, link);
      }
    steps.push({
      step: k,
      nodes,
      links: [...links.values()].sort(
        (a, b) => b.count - a.count || utf8(a.from, b.from) || utf8(a.to, b.to),
      ),
      dropoff: k === 0 ? 0 : paths.filter((p) => p.length === k).length,
    });
    previousTop = top;
  }
  return { steps };
}

/**
 * Lifecycle, from the documented semantics: a user is active in an interval of the range when
 * one of their matching events has its local date inside the range and in that interval; in the
 * interval before the first (wholly before `from`) when one is in it at all. Their first interval
 * is that of their earliest matching event ever. Per interval: new (active, first interval),
 * returning (active, and in the interval before), resurrecting (active, neither), dormant (active
 * in the interval before, not in this one: negative).
 */
function lifecycle(q: LifecycleQuery, data: ReferenceData, events: EventRow[]): LifecycleResult {
  const cx = contextOf(data);
  const labels = labelsBetween(q.interval, q.from, q.to);
  const before = labelOfDate(q.interval, addDays(labels[0]!, -1));
  const counts = (e: EventRow): boolean =>
    (q.event === null
      ? q.includeSdkEvents || !isSdkBookkeepingEvent(e.event)
      : e.event === q.event) && matchesAll(cx, e, q.filters);
  const earliest = new Map<string, number>();
  const active = new Map<string, Set<string>>();
  for (const e of events) {
    const u = cx.uid(e);
    if (u === null || !counts(e)) continue;
    earliest.set(u, Math.min(earliest.get(u) ?? Infinity, e.timeMs));
    const l = local(data.timezone, e.timeMs);
    const label = periodLabel(q.interval, l);
    if (inDates(l.date, q) || label === before) {
      const set = active.get(u) ?? new Set<string>();
      set.add(label);
      active.set(u, set);
    }
  }
  const result: LifecycleResult = {
    labels,
    new: labels.map(() => 0),
    returning: labels.map(() => 0),
    resurrecting: labels.map(() => 0),
    dormant: labels.map(() => 0),
  };
  labels.forEach((label, i) => {
    const previous = i === 0 ? before : labels[i - 1]!;
    for (const [u, set] of active) {
      if (set.has(label)) {
        const firstLabel = periodLabel(q.interval, local(data.timezone, earliest.get(u)!));
        if (firstLabel === label) result.new[i]!++;
        else if (set.has(previous)) result.returning[i]!++;
        else result.resurrecting[i]!++;
      } else if (set.has(previous)) result.dormant[i]!--;
    }
  });
  return result;
}
