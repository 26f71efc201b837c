// The query model: zod schemas for every query kind (the public contract) and the typed queries
// the rest of the engine works on. Validation happens here, once; later stages trust these types.
import { z } from 'zod';
import { AppError } from '../shared/errors.js';
import { FormulaError, parseFormula } from './formula.js';
import { withResolvedDays } from './relative-dates.js';
import { DAY_MS, bucketOfDay, bucketStartLocal, dayNumber, dayString } from './clock.js';
import {
  STANDARD_EVENT_PROPERTIES,
  STANDARD_PROPERTY_BY_NAME,
  type StandardColumn,
} from '../shared/event-schema.js';

/** Bucket width of a trend. Weeks start on Monday, months on the 1st, in the project time zone. */
export type Interval = 'hour' | 'day' | 'week' | 'month';
/** Retention period. */
export type Period = 'day' | 'week' | 'month';
export type MathKind =
  | 'total'
  | 'unique_users'
  | 'sum'
  | 'avg'
  | 'min'
  | 'max'
  | 'p50'
  | 'p90'
  | 'p99'
  | 'unique_groups'
  | ActiveMath
  | PerUserMath;
/** Distinct users active in the 7 / 30 days ending on each bucket's last day (or `to`). */
export type ActiveMath = 'weekly_active' | 'monthly_active';
export const ACTIVE_WINDOW_DAYS: Readonly<Record<ActiveMath, number>> = {
  weekly_active: 7,
  monthly_active: 30,
};
export const isActiveMath = (m: MathKind): m is ActiveMath =>
  m === 'weekly_active' || m === 'monthly_active';
/** Events per user (in the bucket, or over the range for `total`), then aggregated over users. */
export type PerUserMath =
  | 'per_user_avg'
  | 'per_user_median'
  | 'per_user_min'
  | 'per_user_max'
  | 'per_user_p90'
  | 'per_user_p99';
export const PER_USER_MATHS: readonly PerUserMath[] = [
  'per_user_avg',
  'per_user_median',
  'per_user_min',
  'per_user_max',
  'per_user_p90',
  'per_user_p99',
];
export const isPerUserMath = (m: MathKind): m is PerUserMath =>
  (PER_USER_MATHS as readonly string[]).includes(m);
/** Maths that aggregate the numeric value of a property (and therefore need `property`). */
export const PROPERTY_MATHS: ReadonlySet<MathKind> = new Set([
  'sum',
  'avg',
  'min',
  'max',
  'p50',
  'p90',
  'p99',
]);
/** Percentile maths and their fraction (continuous, linearly interpolated). */
export const PERCENTILES: Readonly<Partial<Record<MathKind, number>>> = {
  p50: 0.5,
  p90: 0.9,
  p99: 0.99,
};

export type Scalar = string | number | boolean;
export type StringOp = 'eq' | 'neq' | 'contains' | 'not_contains';
export type ListOp = 'in' | 'not_in';
export type NumberOp = 'gt' | 'gte' | 'lt' | 'lte';
export type PresenceOp = 'is_set' | 'is_not_set';
export type FilterOp = StringOp | ListOp | NumberOp | PresenceOp;

/** One condition on an event property. Several filters are AND-ed. */
export type Filter =
  | { property: string; op: StringOp; value: string }
  | { property: string; op: ListOp; value: string[] }
  | { property: string; op: NumberOp; value: number }
  | { property: string; op: PresenceOp };

/** A group of filters: `any` holds when one of them does (OR), `all` when every one does (AND). */
export type FilterGroup = { any: FilterNode[] } | { all: FilterNode[] };
/** An entry of a `filters` list: one condition, or a group (nested up to MAX_FILTER_DEPTH). */
export type FilterNode = Filter | FilterGroup;

/** Whether a filter entry is a group. */
export const isFilterGroup = (f: FilterNode): f is FilterGroup => 'any' in f || 'all' in f;

/** The conditions of a filter tree, depth first. */
export function filterLeaves(nodes: readonly FilterNode[]): Filter[] {
  return nodes.flatMap((n) => (isFilterGroup(n) ? filterLeaves('any' in n ? n.any : n.all) : [n]));
}

export interface Series {
  /** Event name, or null for every event. */
  event: string | null;
  math: MathKind;
  /** Numeric property for sum/avg/min/max/percentiles, else null. */
  property: string | null;
  /** For `unique_groups`: the property holding the group id (e.g. `company`), else null. */
  groupKey: string | null;
  /** Filters of this series only (AND-ed with the query's filters). */
  filters: FilterNode[];
  /**
   * With `event: null` ("any event"): whether SDK bookkeeping events ($identify, $set, …; see
   * sdk-events.ts) count too. False unless asked for.
   */
  includeSdkEvents: boolean;
}

export interface DateRange {
  /** Inclusive first day, YYYY-MM-DD in the project time zone. */
  from: string;
  /** Inclusive last day. */
  to: string;
}

/** One dimension of a breakdown: a property's value, or membership of saved cohorts. */
export type BreakdownDimension =
  | { kind: 'property'; property: string }
  /** A user's segment is each of these cohorts they are in; "not set" when in none of them. */
  | { kind: 'cohort'; cohorts: string[] };

export interface Breakdown {
  /**
   * 1 to MAX_BREAKDOWN_PROPERTIES dimensions: properties, at most one of them a cohort dimension
   * (`list` form), or one cohort dimension alone (`single` form).
   */
  dimensions: BreakdownDimension[];
  /**
   * The request's form: `single` (a property name or a cohort object: `breakdown_value` is a
   * string) or `list` (a list of properties and at most one cohort entry: `breakdown_value` is a
   * list, one entry each).
   */
  form: 'single' | 'list';
  /** How many values get their own row; the rest are summed up as "other". */
  limit: number;
}

/** The property names of a breakdown's property dimensions. */
export function breakdownProperties(b: Breakdown | null): string[] {
  return (b?.dimensions ?? []).flatMap((d) => (d.kind === 'property' ? [d.property] : []));
}

/** The cohort ids of a breakdown's cohort dimension. */
export function breakdownCohorts(b: Breakdown | null): string[] {
  return (b?.dimensions ?? []).flatMap((d) => (d.kind === 'cohort' ? d.cohorts : []));
}

export interface TrendsQuery extends DateRange {
  kind: 'trends';
  interval: Interval;
  series: Series[];
  filters: FilterNode[];
  breakdown: Breakdown | null;
  /** Combines the series by letter (A = first) into an extra result, or null. */
  formula: string | null;
  /** Adds each series' values over the period just before the range (same length), or null. */
  compare: 'previous_period' | null;
  /**
   * How each bucket's value is shown: as counted in it (`linear`), as a running total from `from`
   * through it (`cumulative`), or as the mean of the values of the `rollingWindow` buckets ending
   * at it (`rolling`, buckets before `from` read). See README "Trends: analysis".
   */
  analysis: Analysis;
  /** With `rolling`: buckets per window (default ROLLING_WINDOWS[interval]); else null. */
  rollingWindow: number | null;
}

export type Analysis = 'linear' | 'cumulative' | 'rolling';
/** The default rolling window per interval, Mixpanel's: 12 hours, 7 days, 5 weeks, 3 months. */
export const ROLLING_WINDOWS: Readonly<Record<Interval, number>> = {
  hour: 12,
  day: 7,
  week: 5,
  month: 3,
};
/** The longest rolling window, in buckets. */
export const MAX_ROLLING_WINDOW = 90;
/**
 * Maths with a running total: counts and sums add up over buckets; unique users count each user
 * once from `from` on (see plan.ts). Averages, quantiles, per-user and active-user maths have no
 * honest running total.
 */
export const CUMULATIVE_MATHS: ReadonlySet<MathKind> = new Set(['total', 'sum', 'unique_users']);

/**
 * The first day a rolling trend reads: the first day of the bucket `window - 1` buckets before the
 * one holding `from` (a week's Monday, a month's 1st, the day of an hour), so that the window of
 * every bucket shown lies in whole buckets read.
 */
export function rollingFrom(r: DateRange, interval: Interval, window: number): string {
  const first = bucketOfDay(interval, dayNumber(r.from));
  return dayString(Math.floor(bucketStartLocal(interval, first - (window - 1)) / DAY_MS));
}

/** The range of the same number of days ending the day before `from`. */
export function previousRange(r: DateRange): DateRange {
  const from = Date.parse(`${r.from}T00:00:00Z`);
  const days = (Date.parse(`${r.to}T00:00:00Z`) - from) / 86_400_000 + 1;
  const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  return { from: iso(from - days * 86_400_000), to: iso(from - 86_400_000) };
}

export interface FunnelStep {
  event: string;
  filters: FilterNode[];
}

/**
 * How later steps are matched: `strict` (in order: each step after the one before; other events
 * may happen in between), or `any` (every step after the first, in any order, inside the
 * window; see README "Funnels").
 */
export type FunnelOrder = 'strict' | 'any';

/**
 * An exclusion: an event of this name (and filters) strictly after the time an attempt reached
 * step `afterStep` and strictly before it reached step `beforeStep` (0-based) — or, when it never
 * reached `beforeStep`, up to the end of its window — disqualifies that attempt.
 */
export interface FunnelExclusion {
  event: string;
  filters: FilterNode[];
  afterStep: number;
  beforeStep: number;
}

export interface FunnelQuery extends DateRange {
  kind: 'funnel';
  steps: FunnelStep[];
  windowSeconds: number;
  filters: FilterNode[];
  breakdown: Breakdown | null;
  order: FunnelOrder;
  exclusions: FunnelExclusion[];
  /** Properties every step of an attempt must share with its entry (not set = its own value). */
  holdConstant: string[];
  /** Adds conversion per interval of entry (`conversion_over_time`), or null. */
  conversionInterval: Interval | null;
}

/** Most exclusions of one funnel, and most properties held constant. */
export const MAX_FUNNEL_EXCLUSIONS = 5;
export const MAX_HOLD_CONSTANT = 3;

/**
 * Who starts a cohort, and when (README "Retention"):
 * - `first_in_range`: each user once, in the period of their first start event inside the range;
 * - `first_time`: each user once, in the period of their first start event ever, and only when
 *   that event is inside the range (users who did it before `from` are left out);
 * - `recurring`: each user in every period of the range in which they did the start event.
 */
export type RetentionType = 'first_in_range' | 'first_time' | 'recurring';
export const RETENTION_TYPES: readonly RetentionType[] = [
  'first_in_range',
  'first_time',
  'recurring',
];

export interface RetentionQuery extends DateRange {
  kind: 'retention';
  startEvent: string;
  returnEvent: string;
  period: Period;
  periods: number;
  filters: FilterNode[];
  retentionType: RetentionType;
  /** Splits each cohort by the start event's property, a person property, or cohorts. */
  breakdown: Breakdown | null;
}

/** Discovery: event names with their counts. */
export interface EventNamesQuery {
  kind: 'event_names';
  range: DateRange | null;
  limit: number;
}

/** Discovery: the properties seen on (recent) events, with their JSON types. */
export interface EventPropertiesQuery {
  kind: 'event_properties';
  event: string | null;
  range: DateRange | null;
  limit: number;
}

/** Discovery: the most frequent values of one property. */
export interface PropertyValuesQuery {
  kind: 'property_values';
  property: string;
  event: string | null;
  range: DateRange | null;
  limit: number;
}

/**
 * Flows: from each user's first anchor event inside the range, their next (or previous) `steps`
 * events in order; per step, the `maxPaths` most frequent events and "$other".
 */
export interface FlowsQuery extends DateRange {
  kind: 'flows';
  anchor: { event: string; direction: 'after' | 'before' };
  steps: number;
  maxPaths: number;
}

/**
 * Lifecycle (README "Lifecycle"): per bucket of the range, the resolved users active in it split
 * into new (their first matching event ever is in this bucket), returning (active in the bucket
 * before too), resurrecting (not in the bucket before, but earlier), and dormant (active in the
 * bucket before, not in this one). "Active" = an event of `event` (null: any event) matching
 * `filters`, whose local date is inside the range.
 */
export interface LifecycleQuery extends DateRange {
  kind: 'lifecycle';
  interval: Period;
  event: string | null;
  filters: FilterNode[];
  /** With `event: null`: whether SDK bookkeeping events ($identify, …) make a user active. */
  includeSdkEvents: boolean;
}

/** How many users a saved cohort holds now (`GET …/cohorts/{id}/size` runs it). */
export interface CohortSizeQuery {
  kind: 'cohort_size';
  cohort: string;
}

/**
 * Frequency (PostHog's stickiness, Mixpanel's frequency report): per series, how many users did
 * the event on exactly 1, 2, … K distinct intervals (hours, days, weeks or months) of each
 * period — the whole range (`per: range`), or each week or month of it — and on K or more.
 */
export type FrequencyPer = 'range' | 'week' | 'month';
export const FREQUENCY_PERS: readonly FrequencyPer[] = ['range', 'week', 'month'];

export interface FrequencyQuery extends DateRange {
  kind: 'frequency';
  /** The unit counted: distinct hours, days, weeks or months a user did the event on. */
  interval: Interval;
  per: FrequencyPer;
  /** Each series' math is `unique_users` (the users counted), property and group key null. */
  series: Series[];
  filters: FilterNode[];
  breakdown: Breakdown | null;
  /** Adds each series' periods over the range just before (same length), or null. */
  compare: 'previous_period' | null;
}

/** Whether `interval` is finer than `per` (a week holds hours and days; a month weeks too). */
export function frequencyIntervalFits(interval: Interval, per: FrequencyPer): boolean {
  if (per === 'range') return true;
  if (per === 'week') return interval === 'hour' || interval === 'day';
  return interval !== 'month';
}

export type Query =
  | TrendsQuery
  | FrequencyQuery
  | FunnelQuery
  | RetentionQuery
  | EventNamesQuery
  | EventPropertiesQuery
  | PropertyValuesQuery
  | CohortSizeQuery
  | FlowsQuery
  | LifecycleQuery;
export type QueryKind = Query['kind'];

// ---------------------------------------------------------------------------------------------
// Properties. Names are Mixpanel's; the ones with a typed column are read from it, everything else
// from the JSON bag. Identifiers are stored as pseudonyms, so filtering on them is refused.

/** Mixpanel property name (and every other name of a column) → typed column of `events`. */
export const STANDARD_PROPERTIES: Readonly<Record<string, StandardColumn>> = Object.fromEntries(
  [...STANDARD_PROPERTY_BY_NAME].map(([name, def]) => [name, def.column]),
);

export type { StandardColumn };

/** The name discovery reports for each typed column (Mixpanel's event property name). */
export const COLUMN_PROPERTY_NAMES = Object.fromEntries(
  STANDARD_EVENT_PROPERTIES.map((def) => [def.column, def.property]),
) as Readonly<Record<StandardColumn, string>>;

/** Stored as pseudonyms or not stored as properties at all: not queryable by value. */
const UNQUERYABLE_PROPERTIES = new Set([
  'distinct_id',
  '$distinct_id',
  '$device_id',
  '$user_id',
  '$insert_id',
  'time',
  '$time',
  'token',
]);

/**
 * Whether a key of the JSON bag can be queried as a property: keys shadowed by a typed column's
 * name (a value that did not fit the column) and identifiers cannot.
 */
export function isQueryableJsonKey(key: string): boolean {
  return !Object.hasOwn(STANDARD_PROPERTIES, key) && !UNQUERYABLE_PROPERTIES.has(key);
}

// ---------------------------------------------------------------------------------------------
// Schemas.

/** Earliest and latest day a query may name: keeps every local timestamp positive and finite. */
export const MIN_DAY = '1971-01-01';
export const MAX_DAY = '2199-12-31';
/** Longest date range, in days (ten years). */
export const MAX_RANGE_DAYS = 3660;
/** Longest funnel conversion window. */
export const MAX_WINDOW_SECONDS = 366 * 86_400;
export const MAX_BREAKDOWN_LIMIT = 100;
export const DEFAULT_BREAKDOWN_LIMIT = 10;
/** Most properties of one breakdown, and most cohorts of a cohort breakdown. */
export const MAX_BREAKDOWN_PROPERTIES = 3;
export const MAX_BREAKDOWN_COHORTS = 10;

const isCalendarDay = (s: string): boolean => {
  const ms = Date.parse(`${s}T00:00:00Z`);
  return Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 10) === s;
};

// Each check stops the next ones: one clear message per field.
const DAY_FORMS =
  'must be a date YYYY-MM-DD or a relative day (today, yesterday, -7d, -2w, -1m, start_of_week, start_of_month, start_of_year, start_of_month-1m)';
const day = z
  .string({ error: DAY_FORMS })
  .regex(/^\d{4}-\d{2}-\d{2}$/, { error: DAY_FORMS, abort: true })
  .refine(isCalendarDay, { error: 'is not a calendar date', abort: true })
  .refine((s) => s >= MIN_DAY && s <= MAX_DAY, {
    error: `must be between ${MIN_DAY} and ${MAX_DAY}`,
  });

const eventName = z
  .string({ error: 'must be an event name (string)' })
  .min(1, { error: 'must not be empty' })
  .max(255, { error: 'must be at most 255 characters' });

const propertyName = z
  .string({ error: 'must be a property name (string)' })
  .min(1, { error: 'must not be empty', abort: true })
  .max(255, { error: 'must be at most 255 characters', abort: true })
  .refine((name) => !UNQUERYABLE_PROPERTIES.has(name), {
    error: 'identifiers are stored as pseudonyms and cannot be filtered or broken down by',
  })
  .refine((name) => profilePropertyOf(name) !== 'invalid', {
    error: 'must be person.<name> or group.<group_key>.<name>',
  });

/** A property of a profile named in a query: `person.<key>` or `group.<group_key>.<key>`. */
export type ProfileProperty =
  { kind: 'person'; key: string } | { kind: 'group'; groupKey: string; key: string };

/**
 * What a property name reads: a person's or a group's profile property, an event property
 * (null), or 'invalid' for `person.` / `group.` names without their parts.
 */
export function profilePropertyOf(name: string): ProfileProperty | null | 'invalid' {
  if (name.startsWith('person.')) {
    const key = name.slice('person.'.length);
    return key === '' ? 'invalid' : { kind: 'person', key };
  }
  if (name.startsWith('group.')) {
    const rest = name.slice('group.'.length);
    const dot = rest.indexOf('.');
    if (dot <= 0 || dot === rest.length - 1) return 'invalid';
    return { kind: 'group', groupKey: rest.slice(0, dot), key: rest.slice(dot + 1) };
  }
  return null;
}

const scalar = z.union([z.string().max(1024), z.number(), z.boolean()], {
  error: 'must be a string, a finite number or a boolean',
});

const FILTER_OPS = [
  'eq',
  'neq',
  'in',
  'not_in',
  'contains',
  'not_contains',
  'gt',
  'gte',
  'lt',
  'lte',
  'is_set',
  'is_not_set',
] as const;

/** How a filter value becomes the string it is compared with (`true`, `12.5`, `abc`). */
export function scalarText(value: Scalar): string {
  return typeof value === 'string' ? value : String(value);
}

export const filterSchema = z
  .strictObject({
    property: propertyName,
    op: z.enum(FILTER_OPS, { error: `must be one of ${FILTER_OPS.join(', ')}` }),
    value: z.unknown().optional(),
  })
  .transform((raw, ctx): Filter => {
    const fail = (message: string): Filter => {
      ctx.addIssue({ code: 'custom', message, path: ['value'] });
      return z.NEVER;
    };
    if (raw.property === COHORT_PROPERTY) return cohortFilter(raw.op, raw.value, fail);
    switch (raw.op) {
      case 'eq':
      case 'neq':
      case 'contains':
      case 'not_contains': {
        const parsed = scalar.safeParse(raw.value);
        if (!parsed.success) return fail(`${raw.op} needs a string, number or boolean value`);
        return { property: raw.property, op: raw.op, value: scalarText(parsed.data) };
      }
      case 'in':
      case 'not_in': {
        const parsed = z.array(scalar).min(1).max(1000).safeParse(raw.value);
        if (!parsed.success)
          return fail(`${raw.op} needs a list of 1 to 1000 strings, numbers or booleans`);
        return { property: raw.property, op: raw.op, value: parsed.data.map(scalarText) };
      }
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte': {
        const parsed = z.number().safeParse(raw.value);
        if (!parsed.success) return fail(`${raw.op} needs a finite number value`);
        return { property: raw.property, op: raw.op, value: parsed.data };
      }
      case 'is_set':
      case 'is_not_set':
        if (raw.value !== undefined) return fail(`${raw.op} takes no value`);
        return { property: raw.property, op: raw.op };
    }
  });

/**
 * The virtual property of cohort filters: `{"property":"cohort","op":"in|not_in","value":
 * "<cohort id>" | ["<id>", …]}` keeps (or drops) events of users in any of the cohorts.
 */
export const COHORT_PROPERTY = 'cohort';

const cohortId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/);

function cohortFilter(op: FilterOp, value: unknown, fail: (message: string) => Filter): Filter {
  if (op !== 'in' && op !== 'not_in') return fail('cohort filters take op in or not_in');
  const parsed = z
    .union([cohortId.transform((id) => [id]), z.array(cohortId).min(1).max(20)])
    .safeParse(value);
  if (!parsed.success) return fail('cohort filters need a cohort id or a list of 1 to 20 ids');
  return { property: COHORT_PROPERTY, op, value: [...new Set(parsed.data)] };
}

/** Deepest nesting of filter groups (a group inside a group inside a group). */
export const MAX_FILTER_DEPTH = 3;
/** Most conditions in one `filters` list, counting those inside groups. */
export const MAX_FILTERS = 50;

/**
 * One entry of a `filters` list: a condition, or `{"any": [...]}` / `{"all": [...]}` holding 1 to
 * 20 entries. Each problem is reported at its own path (`filters.1.any.0.value`).
 */
function filterNodeOf(
  raw: unknown,
  ctx: z.RefinementCtx,
  path: PropertyKey[],
  depth: number,
): FilterNode {
  const fail = (message: string, at: PropertyKey[] = path): FilterNode => {
    ctx.addIssue({ code: 'custom', message, path: at });
    return z.NEVER;
  };
  if (
    raw !== null &&
    typeof raw === 'object' &&
    !Array.isArray(raw) &&
    ('any' in raw || 'all' in raw)
  ) {
    const keys = Object.keys(raw);
    if (keys.length !== 1) return fail('a filter group has exactly one key, "any" or "all"');
    const key = keys[0] as 'any' | 'all';
    if (depth >= MAX_FILTER_DEPTH)
      return fail(`filter groups nest at most ${MAX_FILTER_DEPTH} deep`, [...path, key]);
    const list = (raw as Record<string, unknown>)[key];
    if (!Array.isArray(list) || list.length < 1 || list.length > 20)
      return fail('must be a list of 1 to 20 filters or groups', [...path, key]);
    const items = list.map((item, i) => filterNodeOf(item, ctx, [...path, key, i], depth + 1));
    return key === 'any' ? { any: items } : { all: items };
  }
  const parsed = filterSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues)
    ctx.addIssue({ code: 'custom', message: issue.message, path: [...path, ...issue.path] });
  return z.NEVER;
}

const filters = z
  .array(z.unknown(), { error: 'must be a list of filters' })
  .max(MAX_FILTERS, { error: `at most ${MAX_FILTERS} filters` })
  .default([])
  .transform((list, ctx): FilterNode[] => list.map((raw, i) => filterNodeOf(raw, ctx, [i], 0)))
  .superRefine((nodes, ctx) => {
    if (filterLeaves(nodes).length > MAX_FILTERS)
      ctx.addIssue({
        code: 'custom',
        message: `at most ${MAX_FILTERS} filters, counting those in groups`,
      });
  });

/** `include_sdk_events` only where the series is "any event". */
function checkSdkEvents(
  s: { include_sdk_events: boolean; event?: string | null | undefined },
  ctx: z.RefinementCtx,
): void {
  if (s.include_sdk_events && s.event !== undefined && s.event !== null)
    ctx.addIssue({
      code: 'custom',
      path: ['include_sdk_events'],
      message: 'applies to "any event" series only (event null or left out)',
    });
}

/** Every math a series may ask for (the answer schemas of src/http/api/responses.ts use it too). */
export const MATHS = [
  'total',
  'unique_users',
  'sum',
  'avg',
  'min',
  'max',
  'p50',
  'p90',
  'p99',
  'unique_groups',
  'weekly_active',
  'monthly_active',
  ...PER_USER_MATHS,
] as const;

const seriesSchema = z
  .strictObject({
    event: eventName.nullable().optional(),
    math: z.enum(MATHS, { error: `must be one of ${MATHS.join(', ')}` }).default('total'),
    property: propertyName.optional(),
    filters,
    include_sdk_events: z.boolean({ error: 'must be true or false' }).default(false),
    group_key: propertyName.optional(),
  })
  .superRefine((s, ctx) => {
    if (s.math === 'unique_groups' && s.group_key === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['group_key'],
        message:
          'unique_groups needs a group_key (the property holding the group id, e.g. company)',
      });
    if (s.math !== 'unique_groups' && s.group_key !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['group_key'],
        message: 'only unique_groups takes a group_key',
      });
    checkSdkEvents(s, ctx);
    if (PROPERTY_MATHS.has(s.math) && s.property === undefined)
      ctx.addIssue({ code: 'custom', path: ['property'], message: `${s.math} needs a property` });
    if (!PROPERTY_MATHS.has(s.math) && s.property !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['property'],
        message: `${s.math} takes no property (only sum, avg, min, max and percentiles do)`,
      });
  })
  .transform((s): Series => ({
    event: s.event ?? null,
    math: s.math,
    property: s.property ?? null,
    groupKey: s.group_key ?? null,
    filters: s.filters,
    includeSdkEvents: s.include_sdk_events,
  }));

const breakdownLimit = z
  .number({ error: 'must be a whole number' })
  .int({ error: 'must be a whole number' })
  .min(1, { error: 'must be at least 1' })
  .max(MAX_BREAKDOWN_LIMIT, {
    error: `must be at most ${MAX_BREAKDOWN_LIMIT} (breakdown cardinality limit)`,
  })
  .optional();

const discoveryLimit = (max: number, fallback: number) =>
  z
    .number({ error: 'must be a whole number' })
    .int({ error: 'must be a whole number' })
    .min(1, { error: 'must be at least 1' })
    .max(max, { error: `must be at most ${max}` })
    .default(fallback);

const dayCount = (from: string, to: string): number =>
  (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000 + 1;

function checkRange(r: { from: string; to: string }, ctx: z.RefinementCtx): void {
  if (r.from > r.to)
    ctx.addIssue({ code: 'custom', path: ['to'], message: 'must not be before from' });
  else if (dayCount(r.from, r.to) > MAX_RANGE_DAYS)
    ctx.addIssue({
      code: 'custom',
      path: ['to'],
      message: `the date range may span at most ${MAX_RANGE_DAYS} days`,
    });
}

/**
 * `breakdown`: a property name (`"$browser"`), a list of 1 to 3 property names
 * (`["$browser", "person.plan"]`), or saved cohorts (`{"cohort": "<id>"}` or
 * `{"cohort": ["<id>", …]}`: one segment per cohort, users in none "not set"). A list may hold
 * one cohort entry among its properties (`[{"cohort": ["c1", "c2"]}, "$browser"]`): a segment is
 * then a combination of a cohort (or none of them) and the properties' values.
 */
const breakdownProperty = propertyName.refine((name) => name !== COHORT_PROPERTY, {
  error: 'to break down by cohorts, write {"cohort": "<cohort id>"} or {"cohort": ["<id>", …]}',
});
const breakdownCohortEntry = z.strictObject({
  cohort: z.union([
    cohortId.transform((id) => [id]),
    z
      .array(cohortId)
      .min(1, { error: `must list 1 to ${MAX_BREAKDOWN_COHORTS} cohort ids` })
      .max(MAX_BREAKDOWN_COHORTS, {
        error: `must list 1 to ${MAX_BREAKDOWN_COHORTS} cohort ids`,
      }),
  ]),
});
const breakdownSchema = z
  .union(
    [
      breakdownProperty,
      z
        .array(z.union([breakdownProperty, breakdownCohortEntry]), {
          error: 'must be a list of property names and at most one {"cohort": …}',
        })
        .min(1, { error: `must name 1 to ${MAX_BREAKDOWN_PROPERTIES} properties or cohorts` })
        .max(MAX_BREAKDOWN_PROPERTIES, {
          error: `must name 1 to ${MAX_BREAKDOWN_PROPERTIES} properties or cohorts`,
        })
        .refine((list) => list.filter((d) => typeof d !== 'string').length <= 1, {
          error: 'names cohorts twice: put every cohort id in one {"cohort": [ids]}',
        })
        .refine(
          (list) => {
            const names = list.filter((d) => typeof d === 'string');
            return new Set(names).size === names.length;
          },
          { error: 'names a property twice' },
        ),
      breakdownCohortEntry,
    ],
    {
      error:
        'must be a property name, a list of 1 to 3 property names (one entry may be {"cohort": …}), or {"cohort": "<id>" | ["<id>", …]}',
    },
  )
  .describe(
    'A property name (breakdown_value is its text); a list of 1 to 3 distinct property names, one of which may instead be {"cohort": id or [ids]} (breakdown_value is a list, one entry each: the text, the cohort id, or null where a property is not set or the user is in none of the cohorts; a user in several cohorts is in one combination per cohort; rows where every entry is null are not_set; breakdown_limit ranks the combinations); or {"cohort": id or [ids]} alone (one row per cohort, a user in several being in each; not_set = in none; breakdown_limit not allowed). Segments ranked by size, ties by value; the first breakdown_limit get rows, the rest are merged as other.',
  );

type BreakdownInput = z.output<typeof breakdownSchema>;

function breakdownOf(raw: BreakdownInput | undefined, limit: number | undefined): Breakdown | null {
  if (raw === undefined) return null;
  if (typeof raw === 'string')
    return {
      dimensions: [{ kind: 'property', property: raw }],
      form: 'single',
      limit: limit ?? DEFAULT_BREAKDOWN_LIMIT,
    };
  // A list ranks its combinations (with a cohort entry too: with properties they are unbounded).
  if (Array.isArray(raw))
    return {
      dimensions: raw.map((d): BreakdownDimension =>
        typeof d === 'string'
          ? { kind: 'property', property: d }
          : { kind: 'cohort', cohorts: [...new Set(d.cohort)] },
      ),
      form: 'list',
      limit: limit ?? DEFAULT_BREAKDOWN_LIMIT,
    };
  // Every cohort named gets its own row: the limit cannot cut them (checkBreakdown refuses one).
  const cohorts = [...new Set(raw.cohort)];
  return { dimensions: [{ kind: 'cohort', cohorts }], form: 'single', limit: cohorts.length };
}

/** A cohort breakdown alone shows every cohort named: a `breakdown_limit` would cut them. */
function checkBreakdown(
  q: { breakdown?: BreakdownInput | undefined; breakdown_limit?: number | undefined },
  ctx: z.RefinementCtx,
): void {
  if (
    q.breakdown !== undefined &&
    typeof q.breakdown === 'object' &&
    !Array.isArray(q.breakdown) &&
    q.breakdown_limit !== undefined
  )
    ctx.addIssue({
      code: 'custom',
      path: ['breakdown_limit'],
      message: 'a cohort breakdown has one row per cohort named: leave breakdown_limit out',
    });
}

const trendsSchema = z
  .strictObject({
    kind: z.literal('trends'),
    from: day,
    to: day,
    interval: z
      .enum(['hour', 'day', 'week', 'month'], { error: 'must be one of hour, day, week, month' })
      .default('day'),
    series: z
      .array(seriesSchema, { error: 'must be a list of series' })
      .min(1, { error: 'needs at least one series' })
      .max(20, { error: 'at most 20 series' }),
    filters,
    breakdown: breakdownSchema.optional(),
    breakdown_limit: breakdownLimit,
    formula: z
      .string({ error: 'must be a formula such as "B / A * 100"' })
      .optional()
      .describe(
        'Combines the series by letter (A = first) with numbers, + - * /, unary minus and parentheses; answered as formula {formula, labels, values, total}. With a breakdown, the first series ranks the values, every series is split by them (rows lined up, other values in other), and formula.breakdowns gives the formula per segment; values and total are then over each series counted whole.',
      ),
    compare: z.enum(['previous_period'], { error: 'must be previous_period' }).optional(),
    analysis: z
      .enum(['linear', 'cumulative', 'rolling'], {
        error: 'must be one of linear, cumulative, rolling',
      })
      .default('linear')
      .describe(
        'linear: each bucket as counted in it; cumulative: a running total from `from` through each bucket (total and sum add up; unique_users counts each user once, from their first event in the range); rolling: each bucket the mean of the values of the rolling_window buckets ending there, buckets before `from` read.',
      ),
    rolling_window: z
      .number({ error: `must be a whole number of intervals from 1 to ${MAX_ROLLING_WINDOW}` })
      .int({ error: `must be a whole number of intervals from 1 to ${MAX_ROLLING_WINDOW}` })
      .min(1, { error: `must be a whole number of intervals from 1 to ${MAX_ROLLING_WINDOW}` })
      .max(MAX_ROLLING_WINDOW, {
        error: `must be a whole number of intervals from 1 to ${MAX_ROLLING_WINDOW}`,
      })
      .optional()
      .describe(
        'With analysis rolling: the buckets each mean covers (default: 12 hours, 7 days, 5 weeks, 3 months).',
      ),
  })
  .superRefine(checkRange)
  .superRefine(checkBreakdown)
  .superRefine((q, ctx) => {
    q.series.forEach((s, i) => {
      if (!isActiveMath(s.math)) return;
      if (q.interval === 'hour')
        ctx.addIssue({
          code: 'custom',
          path: ['series', i, 'math'],
          message: `${s.math} needs a day, week or month interval`,
        });
    });
    if (q.formula !== undefined) {
      try {
        parseFormula(q.formula, q.series.length);
      } catch (error) {
        if (!(error instanceof FormulaError)) throw error;
        ctx.addIssue({ code: 'custom', path: ['formula'], message: error.message });
      }
    }
    if (q.compare !== undefined && previousRange(q).from < MIN_DAY)
      ctx.addIssue({
        code: 'custom',
        path: ['compare'],
        message: `the previous period would start before ${MIN_DAY}`,
      });
    if (q.rolling_window !== undefined && q.analysis !== 'rolling')
      ctx.addIssue({
        code: 'custom',
        path: ['rolling_window'],
        message: 'goes with analysis rolling',
      });
    if (q.analysis === 'cumulative')
      q.series.forEach((s, i) => {
        if (!CUMULATIVE_MATHS.has(s.math))
          ctx.addIssue({
            code: 'custom',
            path: ['series', i, 'math'],
            message: `${s.math} has no running total: analysis cumulative takes total, sum or unique_users`,
          });
        else if (s.math === 'unique_users' && q.interval === 'hour')
          ctx.addIssue({
            code: 'custom',
            path: ['series', i, 'math'],
            message: 'cumulative unique_users needs a day, week or month interval',
          });
      });
    if (q.analysis === 'rolling') {
      const n = q.rolling_window ?? ROLLING_WINDOWS[q.interval];
      const earliest = rollingFrom(q.compare !== undefined ? previousRange(q) : q, q.interval, n);
      if (earliest < MIN_DAY)
        ctx.addIssue({
          code: 'custom',
          path: ['rolling_window'],
          message: `the rolling window would read days before ${MIN_DAY}`,
        });
    }
  })
  .transform((q): TrendsQuery => ({
    kind: 'trends',
    from: q.from,
    to: q.to,
    interval: q.interval,
    series: q.series,
    filters: q.filters,
    breakdown: breakdownOf(q.breakdown, q.breakdown_limit),
    formula: q.formula ?? null,
    compare: q.compare ?? null,
    analysis: q.analysis,
    rollingWindow:
      q.analysis === 'rolling' ? (q.rolling_window ?? ROLLING_WINDOWS[q.interval]) : null,
  }));

/** A 0-based step index (exclusions name the steps they lie between). */
const stepIndex = z
  .number({ error: 'must be a step index (0 for the first step)' })
  .int({ error: 'must be a step index (0 for the first step)' })
  .min(0, { error: 'must be a step index (0 for the first step)' })
  .max(9, { error: 'must be a step index of this funnel' });

const funnelSchema = z
  .strictObject({
    kind: z.literal('funnel'),
    from: day,
    to: day,
    steps: z
      .array(z.strictObject({ event: eventName, filters }), { error: 'must be a list of steps' })
      .min(2, { error: 'a funnel needs 2 to 10 steps' })
      .max(10, { error: 'a funnel needs 2 to 10 steps' }),
    window_seconds: z
      .number({ error: 'must be a whole number of seconds' })
      .int({ error: 'must be a whole number of seconds' })
      .min(1, { error: 'must be at least 1' })
      .max(MAX_WINDOW_SECONDS, { error: `must be at most ${MAX_WINDOW_SECONDS} (366 days)` }),
    filters,
    breakdown: breakdownSchema.optional(),
    breakdown_limit: breakdownLimit,
    order: z.enum(['strict', 'any'], { error: 'must be strict or any' }).default('strict'),
    exclusions: z
      .array(
        z.strictObject({
          event: eventName,
          filters,
          after_step: stepIndex.optional(),
          before_step: stepIndex.optional(),
        }),
        { error: 'must be a list of exclusions' },
      )
      .max(MAX_FUNNEL_EXCLUSIONS, { error: `at most ${MAX_FUNNEL_EXCLUSIONS} exclusions` })
      .default([]),
    hold_constant: z
      .array(
        propertyName.refine((name) => name !== COHORT_PROPERTY, {
          error: 'a cohort is a filter, not a property that can be held constant',
        }),
        { error: 'must be a list of property names' },
      )
      .min(1, { error: 'must name 1 to 3 properties (or be left out)' })
      .max(MAX_HOLD_CONSTANT, { error: `must name 1 to ${MAX_HOLD_CONSTANT} properties` })
      .optional(),
    conversion_over_time: z
      .enum(['hour', 'day', 'week', 'month'], { error: 'must be one of hour, day, week, month' })
      .optional(),
  })
  .superRefine(checkRange)
  .superRefine(checkBreakdown)
  .superRefine((q, ctx) => {
    const last = q.steps.length - 1;
    q.exclusions.forEach((x, i) => {
      const from = x.after_step ?? 0;
      const to = x.before_step ?? last;
      if (to > last)
        ctx.addIssue({
          code: 'custom',
          path: ['exclusions', i, 'before_step'],
          message: `must be a step index of this funnel (0 to ${last})`,
        });
      else if (from >= to)
        ctx.addIssue({
          code: 'custom',
          path: ['exclusions', i, x.after_step === undefined ? 'before_step' : 'after_step'],
          message: 'after_step must come before before_step',
        });
    });
    if (q.hold_constant && new Set(q.hold_constant).size !== q.hold_constant.length)
      ctx.addIssue({
        code: 'custom',
        path: ['hold_constant'],
        message: 'names a property twice',
      });
  })
  .transform((q): FunnelQuery => ({
    kind: 'funnel',
    from: q.from,
    to: q.to,
    steps: q.steps,
    windowSeconds: q.window_seconds,
    filters: q.filters,
    breakdown: breakdownOf(q.breakdown, q.breakdown_limit),
    order: q.order,
    exclusions: q.exclusions.map((x) => ({
      event: x.event,
      filters: x.filters,
      afterStep: x.after_step ?? 0,
      beforeStep: x.before_step ?? q.steps.length - 1,
    })),
    holdConstant: q.hold_constant ?? [],
    conversionInterval: q.conversion_over_time ?? null,
  }));

const retentionSchema = z
  .strictObject({
    kind: z.literal('retention'),
    from: day,
    to: day,
    start_event: eventName,
    return_event: eventName,
    period: z
      .enum(['day', 'week', 'month'], { error: 'must be one of day, week, month' })
      .default('day'),
    periods: z
      .number({ error: 'must be a whole number' })
      .int({ error: 'must be a whole number' })
      .min(1, { error: 'must be at least 1' })
      .max(400, { error: 'must be at most 400' }),
    filters,
    retention_type: z
      .enum(RETENTION_TYPES, { error: `must be one of ${RETENTION_TYPES.join(', ')}` })
      .default('first_in_range')
      .describe(
        'Who starts a cohort. first_in_range (default): each user once, in the period of their first start event inside the range. first_time: the same, only for users whose first start event ever (same filters, any earlier date, all merged identities) is inside the range. recurring: each period of the range in which a user did the start event starts a cohort for them; counts[k] are those who did the return event k periods later.',
      ),
    breakdown: breakdownSchema.optional(),
    breakdown_limit: breakdownLimit,
  })
  .superRefine(checkRange)
  .superRefine(checkBreakdown)
  .transform((q): RetentionQuery => ({
    kind: 'retention',
    from: q.from,
    to: q.to,
    startEvent: q.start_event,
    returnEvent: q.return_event,
    period: q.period,
    periods: q.periods,
    filters: q.filters,
    retentionType: q.retention_type,
    breakdown: breakdownOf(q.breakdown, q.breakdown_limit),
  }));

/** Discovery ranges are optional; when one end is given, both are. */
const optionalRange = {
  from: day.optional(),
  to: day.optional(),
};
function rangeOf(q: { from?: string | undefined; to?: string | undefined }): DateRange | null {
  return q.from !== undefined && q.to !== undefined ? { from: q.from, to: q.to } : null;
}
function checkOptionalRange(
  r: { from?: string | undefined; to?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if ((r.from === undefined) !== (r.to === undefined))
    ctx.addIssue({
      code: 'custom',
      path: [r.from === undefined ? 'from' : 'to'],
      message: 'give both from and to, or neither',
    });
  else if (r.from !== undefined && r.to !== undefined) checkRange({ from: r.from, to: r.to }, ctx);
}

const eventNamesSchema = z
  .strictObject({
    kind: z.literal('event_names'),
    ...optionalRange,
    limit: discoveryLimit(1000, 200),
  })
  .superRefine(checkOptionalRange)
  .transform((q): EventNamesQuery => ({ kind: 'event_names', range: rangeOf(q), limit: q.limit }));

const eventPropertiesSchema = z
  .strictObject({
    kind: z.literal('event_properties'),
    event: eventName.optional(),
    ...optionalRange,
    limit: discoveryLimit(1000, 500),
  })
  .superRefine(checkOptionalRange)
  .transform((q): EventPropertiesQuery => ({
    kind: 'event_properties',
    event: q.event ?? null,
    range: rangeOf(q),
    limit: q.limit,
  }));

const propertyValuesSchema = z
  .strictObject({
    kind: z.literal('property_values'),
    property: propertyName,
    event: eventName.optional(),
    ...optionalRange,
    limit: discoveryLimit(1000, 50),
  })
  .superRefine(checkOptionalRange)
  .transform((q): PropertyValuesQuery => ({
    kind: 'property_values',
    property: q.property,
    event: q.event ?? null,
    range: rangeOf(q),
    limit: q.limit,
  }));

const cohortSizeSchema = z
  .strictObject({ kind: z.literal('cohort_size'), cohort: cohortId })
  .transform((q): CohortSizeQuery => ({ kind: 'cohort_size', cohort: q.cohort }));

const flowsSchema = z
  .strictObject({
    kind: z.literal('flows'),
    from: day,
    to: day,
    anchor: z.strictObject({
      event: eventName,
      direction: z.enum(['after', 'before'], { error: 'must be after or before' }).default('after'),
    }),
    steps: z.number().int().min(1).max(6, { error: 'must be 1 to 6' }),
    max_paths_per_step: z.number().int().min(1).max(50).default(10),
  })
  .superRefine(checkRange)
  .transform((q): FlowsQuery => ({
    kind: 'flows',
    from: q.from,
    to: q.to,
    anchor: q.anchor,
    steps: q.steps,
    maxPaths: q.max_paths_per_step,
  }));

const lifecycleSchema = z
  .strictObject({
    kind: z.literal('lifecycle'),
    from: day,
    to: day,
    interval: z
      .enum(['day', 'week', 'month'], { error: 'must be one of day, week, month' })
      .default('day'),
    event: eventName
      .nullable()
      .optional()
      .describe('The event that makes a user active; null or left out: any event.'),
    filters,
    include_sdk_events: z.boolean({ error: 'must be true or false' }).default(false),
  })
  .superRefine(checkRange)
  .superRefine((q, ctx) => {
    if (q.include_sdk_events && q.event !== undefined && q.event !== null)
      ctx.addIssue({
        code: 'custom',
        path: ['include_sdk_events'],
        message: 'applies to "any event" only (event null or left out)',
      });
  })
  .describe(
    "Per interval of the range, the resolved users active in it (an event of `event` matching `filters`, on a local date inside the range) as new (their first matching event ever, before `from` too, is in this interval), returning (active in the interval before too), resurrecting (not active in the interval before, active earlier), and dormant (active in the interval before, not in this one; counted negative). The first interval's previous one lies before `from` and is read.",
  )
  .transform((q): LifecycleQuery => ({
    kind: 'lifecycle',
    from: q.from,
    to: q.to,
    interval: q.interval,
    event: q.event ?? null,
    filters: q.filters,
    includeSdkEvents: q.include_sdk_events,
  }));

/** A frequency series: the event (or any event) and its own filters; no math, users are counted. */
const frequencySeriesSchema = z
  .strictObject({
    event: eventName.nullable().optional(),
    filters,
    include_sdk_events: z.boolean({ error: 'must be true or false' }).default(false),
  })
  .superRefine(checkSdkEvents)
  .transform((s): Series => ({
    event: s.event ?? null,
    math: 'unique_users',
    property: null,
    groupKey: null,
    filters: s.filters,
    includeSdkEvents: s.include_sdk_events,
  }));

const frequencySchema = z
  .strictObject({
    kind: z.literal('frequency'),
    from: day,
    to: day,
    series: z
      .array(frequencySeriesSchema, { error: 'must be a list of series' })
      .min(1, { error: 'needs at least one series' })
      .max(20, { error: 'at most 20 series' }),
    interval: z
      .enum(['hour', 'day', 'week', 'month'], { error: 'must be one of hour, day, week, month' })
      .default('day')
      .describe(
        'The unit counted: on how many distinct hours, days, weeks or months of a period a user did the event.',
      ),
    per: z
      .enum(FREQUENCY_PERS, { error: `must be one of ${FREQUENCY_PERS.join(', ')}` })
      .default('range')
      .describe(
        "The periods counted over: range (one, the whole range: PostHog's stickiness), or each week or month the range touches (Mixpanel's frequency report), cut to the range at its ends.",
      ),
    filters,
    breakdown: breakdownSchema.optional(),
    breakdown_limit: breakdownLimit,
    compare: z.enum(['previous_period'], { error: 'must be previous_period' }).optional(),
  })
  .superRefine(checkRange)
  .superRefine(checkBreakdown)
  .superRefine((q, ctx) => {
    if (!frequencyIntervalFits(q.interval, q.per))
      ctx.addIssue({
        code: 'custom',
        path: ['interval'],
        message:
          q.per === 'week'
            ? 'per week counts hours or days'
            : 'per month counts hours, days or weeks',
      });
    if (q.compare !== undefined && previousRange(q).from < MIN_DAY)
      ctx.addIssue({
        code: 'custom',
        path: ['compare'],
        message: `the previous period would start before ${MIN_DAY}`,
      });
  })
  .transform((q): FrequencyQuery => ({
    kind: 'frequency',
    from: q.from,
    to: q.to,
    interval: q.interval,
    per: q.per,
    series: q.series,
    filters: q.filters,
    breakdown: breakdownOf(q.breakdown, q.breakdown_limit),
    compare: q.compare ?? null,
  }));

const QUERY_SCHEMAS = {
  trends: trendsSchema,
  funnel: funnelSchema,
  retention: retentionSchema,
  event_names: eventNamesSchema,
  event_properties: eventPropertiesSchema,
  property_values: propertyValuesSchema,
  cohort_size: cohortSizeSchema,
  flows: flowsSchema,
  lifecycle: lifecycleSchema,
  frequency: frequencySchema,
} as const;

export const QUERY_KINDS = Object.keys(QUERY_SCHEMAS) as QueryKind[];

/** Every query body (one per kind), for the OpenAPI document; `parseQuery` is what validates. */
export const QUERY_BODY_SCHEMA: z.ZodType = z.union(Object.values(QUERY_SCHEMAS));

/** One validation problem: which field (dotted path) and why. Never echoes the value. */
export interface FieldIssue {
  path: string;
  message: string;
}

const MAX_REPORTED_ISSUES = 10;

/** What validation needs from outside the body. */
export interface ParseOptions {
  /**
   * Today in the project's time zone (YYYY-MM-DD): relative `from` / `to` ("-7d", "today")
   * resolve against it. Default: today in UTC.
   */
  today?: string;
}

/**
 * Validates a request body; on failure the AppError lists each wrong field and why. Relative
 * days in `from` / `to` come back as the dates they name today.
 */
export function parseQuery(raw: unknown, options: ParseOptions = {}): Query {
  const body = withResolvedDays(raw, options.today ?? new Date().toISOString().slice(0, 10));
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw invalid([{ path: '', message: 'the query must be a JSON object' }]);
  const kind = (body as { kind?: unknown }).kind;
  if (typeof kind !== 'string' || !Object.hasOwn(QUERY_SCHEMAS, kind))
    throw invalid([{ path: 'kind', message: `must be one of ${QUERY_KINDS.join(', ')}` }]);
  const parsed = QUERY_SCHEMAS[kind as QueryKind].safeParse(body);
  if (parsed.success) return parsed.data;
  throw invalid(
    parsed.error.issues.map((issue) => ({
      path: issue.path.map(String).join('.'),
      message: issue.message,
    })),
  );
}

function invalid(issues: FieldIssue[]): AppError {
  const shown = issues.slice(0, MAX_REPORTED_ISSUES);
  const text = shown.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
  return new AppError('QUERY_INVALID', `invalid query: ${text}`, { details: shown });
}
