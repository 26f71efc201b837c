// Compile stage: a plan becomes one or more statements, each a dialect-neutral SQL piece tree.
// Every value that came from the request (event names, property keys, filter values, times)
// enters as a bound parameter; the only text is written here.
import { DAY_MS, HOUR_MS, type BucketUnit, type LocalClock } from './clock.js';
import type { CohortCondition, CohortContext, CountOp } from './cohorts.js';
import type { QueryRows } from './rows.js';
import {
  COLUMN_PROPERTY_NAMES,
  PERCENTILES,
  isPerUserMath,
  type Filter,
  type MathKind,
  type PerUserMath,
  type StandardColumn,
} from './model.js';
import type {
  EventNamesPlan,
  EventPropertiesPlan,
  FlowsPlan,
  FrequencyPlan,
  FunnelPlan,
  LifecyclePlan,
  Plan,
  PlannedBreakdown,
  PlannedFilter,
  PlannedFilterNode,
  PlannedSeries,
  PropertyRef,
  PropertyValuesPlan,
  RetentionPlan,
  TimeScope,
  TrendsPlan,
} from './plan.js';
import {
  breakdownCohortRef,
  isCohortBreakdown,
  isMixedBreakdown,
  plannedLeaves,
  readsEventDays,
  readsLifecycleDays,
  readsPersonDays,
  readsPersonEventDays,
  readsValueDays,
  resolveProperty,
} from './plan.js';
import { SDK_BOOKKEEPING_EVENTS } from './sdk-events.js';
import {
  and,
  call,
  ident,
  integerLiteral,
  join,
  jsonEach,
  numberLiteral,
  or,
  param,
  raw,
  sql,
  withCtes,
  type SqlNode,
} from './sql.js';

/**
 * One statement of a compiled query; `name` tells the format stage what its rows are. A statement
 * may be built from the rows of the statements before it (a sample's edge found first, so that the
 * next statement can bind it and let the database prune by it).
 */
export type CompiledStatement =
  | { name: string; sql: SqlNode }
  | { name: string; build: (earlier: ReadonlyMap<string, QueryRows>) => SqlNode };

export interface CompiledQuery {
  statements: CompiledStatement[];
}

/** Segment kinds of a breakdown row (in output order after the ranked values). */
export const SEGMENT_VALUE = 0;
export const SEGMENT_OTHER = 1;
export const SEGMENT_NOT_SET = 2;
/** Rows over the whole series in a split series' statement (`PlannedBreakdown.whole`). */
export const SEGMENT_WHOLE = 3;

// ---------------------------------------------------------------------------------------------
// Expressions over `events e` (and the identity links joined as l1, l2).

/**
 * The property's text (see the `json_text` function for JSON values), or NULL when not set.
 * Profile properties read the joins `profileSources` adds (`pp` for the person, `g<slot>` for
 * groups).
 */
export function propertyText(ref: PropertyRef): SqlNode {
  switch (ref.kind) {
    case 'column':
      return sql`e.${ident(ref.column)}`;
    case 'json':
      return call('json_text', raw('e.properties'), param.varchar(ref.key));
    case 'person':
      return call('json_text', raw('pp.properties'), param.varchar(ref.key));
    case 'group':
      return call('json_text', sql`${ident(`g${ref.slot}`)}.properties`, param.varchar(ref.key));
    case 'cohort':
      throw new Error('a cohort is a filter, not a value (the model refuses it elsewhere)');
  }
}

/** The property's numeric value, or NULL when it is not set or not a number. */
export function propertyNumber(ref: PropertyRef): SqlNode {
  return call('to_number', propertyText(ref));
}

/** One filter as a condition that is never NULL (so that NOT and AND behave). */
export function filterCondition(f: PlannedFilter): SqlNode {
  if (f.ref.kind === 'cohort') {
    const member = cohortMembership(f.ref.ids);
    return f.op === 'not_in' ? sql`(NOT ${member})` : member;
  }
  const text = propertyText(f.ref);
  const isTrue = (condition: SqlNode): SqlNode => sql`coalesce(${condition}, FALSE)`;
  switch (f.op) {
    case 'eq':
      return isTrue(sql`${text} = ${param.varchar(f.value)}`);
    case 'neq':
      return sql`(${text} IS DISTINCT FROM ${param.varchar(f.value)})`;
    case 'in':
    case 'not_in': {
      const list = join(
        f.value.map((v) => param.varchar(v)),
        ', ',
      );
      const inList = isTrue(sql`${text} IN (${list})`);
      return f.op === 'in' ? inList : sql`(NOT ${inList})`;
    }
    case 'contains':
      return isTrue(call('contains', text, param.varchar(f.value)));
    case 'not_contains':
      return sql`(NOT ${isTrue(call('contains', text, param.varchar(f.value)))})`;
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const operator = { gt: '>', gte: '>=', lt: '<', lte: '<=' }[f.op];
      return isTrue(sql`${propertyNumber(f.ref)} ${raw(operator)} ${param.double(f.value)}`);
    }
    case 'is_set':
      return sql`(${text} IS NOT NULL)`;
    case 'is_not_set':
      return sql`(${text} IS NULL)`;
  }
}

/**
 * A filter entry (a condition or a group) as a condition that is never NULL: `any` groups are
 * OR-ed, `all` groups AND-ed, recursively.
 */
export function filterNodeCondition(f: PlannedFilterNode): SqlNode {
  if ('any' in f) return or(f.any.map(filterNodeCondition));
  if ('all' in f) return and(f.all.map(filterNodeCondition));
  return filterCondition(f);
}

/** A `filters` list (AND-ed entries) as one condition. */
export function filtersCondition(filters: readonly PlannedFilterNode[]): SqlNode {
  return and(filters.map(filterNodeCondition));
}

/**
 * A `filters` list as the conjuncts of a WHERE clause: as `filtersCondition`, but a cohort
 * filter that must hold (an `in` entry of the list, or of an `all` group in it) is the bare
 * membership test. There a NULL (no resolved user) drops the row as FALSE does, and DuckDB
 * plans a top-level `IN (subquery)` as a semi join whose keys filter the scan itself, where the
 * never-NULL form is a mark join that every scanned row probes (issue 12: a cohort-filtered
 * trend read 2.8M rows through the join for 0.23M members' events).
 */
function whereFiltersCondition(filters: readonly PlannedFilterNode[]): SqlNode {
  const conjunct = (f: PlannedFilterNode): SqlNode => {
    if ('all' in f) return and(f.all.map(conjunct));
    if ('any' in f || f.ref.kind !== 'cohort' || f.op !== 'in') return filterNodeCondition(f);
    return cohortMembership(f.ref.ids, false);
  };
  return and(filters.map(conjunct));
}

/** Local wall-clock time of `e.time` in epoch milliseconds: UTC plus the segment's offset. */
export function localTime(clock: LocalClock): SqlNode {
  const epoch = call('epoch_ms', raw('e.time'));
  const [first, ...rest] = clock.segments;
  if (!first) throw new Error('a clock has at least one segment');
  if (rest.length === 0)
    return first.offsetMs === 0 ? epoch : sql`(${epoch} + ${integerLiteral(first.offsetMs)})`;
  // CASE picks the offset of the last segment that started at or before the event.
  const whens = [...rest]
    .reverse()
    .map(
      (s) => sql`WHEN e.time >= ${param.timestamp(s.fromMs)} THEN ${integerLiteral(s.offsetMs)} `,
    );
  return sql`(${epoch} + CASE ${join(whens, '')}ELSE ${integerLiteral(first.offsetMs)} END)`;
}

export function dayOf(local: SqlNode): SqlNode {
  return call('floor_div', local, raw(String(DAY_MS)));
}

/** Bucket index of a local time (see clock.ts `bucketOfLocal`; the same arithmetic). */
export function bucketOf(unit: BucketUnit, local: SqlNode): SqlNode {
  return unit === 'hour'
    ? call('floor_div', local, raw(String(HOUR_MS)))
    : bucketOfDay(unit, dayOf(local));
}

/** Bucket index of a local day number (clock.ts `bucketOfDay`), for units of whole days. */
function bucketOfDay(unit: Exclude<BucketUnit, 'hour'>, day: SqlNode): SqlNode {
  switch (unit) {
    case 'day':
      return day;
    case 'week':
      return call('floor_div', sql`${day} + 3`, raw('7'));
    case 'month':
      return call('month_of_day', day);
  }
}

/** Rows of the project inside the scope's UTC window. */
function scanCondition(projectId: string, fromMs: number, toMs: number): SqlNode {
  return sql`e.project_id = ${param.varchar(projectId)} AND e.time >= ${param.timestamp(fromMs)} AND e.time < ${param.timestamp(toMs)}`;
}

/** Exactly the events whose local date is inside the scope (`local` is the local-time piece). */
function inRangeCondition(scope: TimeScope, local: SqlNode): SqlNode {
  if (scope.exact) return raw('TRUE');
  return sql`${dayOf(local)} BETWEEN ${param.bigint(scope.fromDay)} AND ${param.bigint(scope.toDay)}`;
}

/**
 * The project's identity links (alias → canonical). Since the resolved person is a column
 * (RESOLVED_USER below) no statement of this file reads it; the CTE lists still name it, and an
 * unreferenced CTE costs nothing (DuckDB does not evaluate it).
 */
function linksCte(projectId: string): { name: string; body: SqlNode } {
  return {
    name: 'links',
    body: sql`SELECT alias_id, canonical_id FROM identity_links WHERE project_id = ${param.varchar(projectId)}`,
  };
}

// The identity relation. An event's resolved user is its user id, else the user its device id or
// distinct id is linked to, else its distinct id; NULL when the event carries no identity at all.
// The store keeps that in `events.person_id`, current as links arrive and go (DuckDB:
// store/duckdb/persons.ts), so queries read one column instead of joining the links per event.

/** The identifier columns an event's user is read from (grouped by before resolving). */
const RAW_IDS = ['person_id'];

/** Joins after `events e` (or a pre-aggregate of RAW_IDS) that RESOLVED_USER needs: none. */
const IDENTITY_JOINS = raw('');

/** The resolved user of an event (over `events e` or a pre-aggregate of RAW_IDS as `e`). */
const RESOLVED_USER = raw('e.person_id');

type Cte = { name: string; body: SqlNode; materialize?: boolean };

/** The CTEs in order, each name once (the first wins: same-named CTEs here are the same). */
function uniqueCtes(ctes: Cte[]): Cte[] {
  const seen = new Set<string>();
  return ctes.filter((c) => !seen.has(c.name) && (seen.add(c.name), true));
}

/** The property refs of a plan's breakdown (its cohorts, if any, are joined on their own). */
function breakdownRefs(p: { breakdown: PlannedBreakdown | null }): PropertyRef[] {
  return p.breakdown ? p.breakdown.refs.filter((r) => r.kind !== 'cohort') : [];
}

/** The refs of a plan's filters, breakdown and series values. */
function refsOf(
  filters: PlannedFilterNode[],
  ...more: (PropertyRef | null | undefined)[]
): PropertyRef[] {
  return [
    ...plannedLeaves(filters).map((f) => f.ref),
    ...more.filter((r): r is PropertyRef => !!r),
  ];
}

/**
 * The CTEs and joins (after `events e`) that the profile properties among `refs` read: the
 * current profile of the event's resolved person (`pp`), and for each group key the profile of
 * the group the event names under that key (`g<slot>`). Nothing for event properties alone.
 */
function profileSources(projectId: string, refs: PropertyRef[]): { ctes: Cte[]; joins: SqlNode } {
  const ctes: Cte[] = [];
  const joins: SqlNode[] = [];
  if (refs.some((r) => r.kind === 'person')) {
    ctes.push({
      name: 'persons',
      body: sql`SELECT profile_id, properties FROM profiles WHERE project_id = ${param.varchar(projectId)} AND group_key = ''`,
    });
    joins.push(raw(' LEFT JOIN persons pp ON pp.profile_id = e.person_id'));
  }
  const cohort = refs.find((r) => r.kind === 'cohort');
  if (cohort) {
    ctes.push(...cohortMemberCtes(projectId, cohort.cohorts));
    joins.push(COHORT_JOINS);
  }
  const groups = new Map<number, string>();
  for (const r of refs) if (r.kind === 'group') groups.set(r.slot, r.groupKey);
  for (const [slot, groupKey] of [...groups].sort((a, b) => a[0] - b[0])) {
    const cte = ident(`grp${slot}`);
    const alias = ident(`g${slot}`);
    ctes.push({
      name: `grp${slot}`,
      body: sql`SELECT profile_id, properties FROM profiles WHERE project_id = ${param.varchar(projectId)} AND group_key = ${param.varchar(groupKey)}`,
    });
    joins.push(
      sql` LEFT JOIN ${cte} ${alias} ON ${alias}.profile_id = ${call('json_text', raw('e.properties'), param.varchar(groupKey))}`,
    );
  }
  return { ctes, joins: join(joins, '') };
}

function eventCondition(event: string | null): SqlNode {
  return event === null ? raw('TRUE') : sql`e.event = ${param.varchar(event)}`;
}

/** A series' event: the one named, or any event (SDK bookkeeping left out unless asked for). */
function seriesEventCondition(s: Pick<PlannedSeries, 'event' | 'includeSdkEvents'>): SqlNode {
  if (s.event !== null || s.includeSdkEvents) return eventCondition(s.event);
  const names = join(
    SDK_BOOKKEEPING_EVENTS.map((name) => param.varchar(name)),
    ', ',
  );
  // Every bookkeeping event starts with `$` (sdk-events.ts): two byte comparisons keep the other
  // names before the list is tried (DuckDB evaluates an OR's next term only on rows still
  // false). At 10M events the list alone took ~3× the time of the scan without it.
  return sql`(e.event < '$' OR e.event >= '%' OR e.event NOT IN (${names}))`;
}

// ---------------------------------------------------------------------------------------------
// Breakdown: top N values by a ranking count, then "other" and "not set".

/**
 * CTEs `top` (the N best values of `bd` in `source` by `rank` — the number of matching events —
 * ties by value) and `seg` (source rows with their segment kind, segment value and rank).
 */
function breakdownCtes(
  source: string,
  breakdown: PlannedBreakdown,
  rank: SqlNode = raw('count(*)'),
): { name: string; body: SqlNode }[] {
  return [
    {
      name: 'top',
      body: topValues(
        breakdown,
        sql`SELECT bd, ${rank} AS rank_n FROM ${ident(source)} WHERE bd IS NOT NULL GROUP BY bd ORDER BY rank_n DESC, bd LIMIT ${param.bigint(breakdown.limit)}`,
      ),
    },
    {
      name: 'seg',
      body: sql`SELECT s.*, CASE WHEN s.bd IS NULL THEN ${raw(String(SEGMENT_NOT_SET))} WHEN t.bd IS NULL THEN ${raw(String(SEGMENT_OTHER))} ELSE ${raw(String(SEGMENT_VALUE))} END AS seg, t.bd AS seg_value, t.rank_n FROM ${ident(source)} s LEFT JOIN top t ON s.bd = t.bd`,
    },
  ];
}

/**
 * The rows (bd, rank_n) of a breakdown's top values: `ranked` (the best values of this series),
 * or the values an earlier statement gave (`given`) with their ranks there.
 */
function topValues(breakdown: PlannedBreakdown, ranked: SqlNode): SqlNode {
  const given = breakdown.given;
  if (!given) return ranked;
  if (given.length === 0)
    return raw('SELECT CAST(NULL AS VARCHAR) AS bd, CAST(NULL AS BIGINT) AS rank_n WHERE FALSE');
  return join(
    given.map(
      (g) => sql`SELECT ${param.varchar(g.value)} AS bd, ${param.bigint(g.rank)} AS rank_n`,
    ),
    ' UNION ALL ',
  );
}

/**
 * The top values of a breakdown's series statement (its `seg_value` and `rank_n` where `seg` is
 * a value), for the statements split by them (`PlannedBreakdown.given`).
 */
export function segmentsOf(rows: QueryRows | undefined): { value: string; rank: number }[] {
  if (!rows) throw new Error('the first series runs before the series split by its values');
  const at = (name: string): number => rows.columns.indexOf(name);
  const [seg, value, rank] = [at('seg'), at('seg_value'), at('rank_n')];
  const seen = new Map<string, number>();
  for (const row of rows.rows) {
    const v = row[value];
    if (Number(row[seg]) === SEGMENT_VALUE && typeof v === 'string') seen.set(v, Number(row[rank]));
  }
  return [...seen].map(([v, r]) => ({ value: v, rank: r }));
}

/**
 * The statements of a trend: each series (`series:i`) and, with `compare`, each series of the
 * period before (`previous:series:i`). With `segmentsOfFirst` (a formula with a breakdown) the
 * series after the first are built once the first has run, split by its top values, and each
 * series is also counted whole, for the formula's overall line: in its own statement's rows
 * (`SEGMENT_WHOLE`) where `wholeInline` says the dialect's compiler answers it from the split
 * rows, else in a statement of its own (`whole:series:i`). `series` compiles one series in the
 * store's dialect.
 */
export function trendsStatements(
  p: TrendsPlan,
  series: (p: TrendsPlan, s: PlannedSeries) => SqlNode,
  wholeInline: (p: TrendsPlan, s: PlannedSeries) => boolean = () => false,
): CompiledStatement[] {
  // Values given per series (a rolling trend's widened statements): each series split by them.
  const givenTo = (plan: TrendsPlan, s: PlannedSeries): TrendsPlan | null => {
    const b = plan.breakdown;
    if (!b?.givenBySeries) return null;
    return { ...plan, breakdown: { ...b, given: b.givenBySeries.get(s.index) ?? [] } };
  };
  const of = (plan: TrendsPlan, prefix: string, whole: boolean): CompiledStatement[] => {
    if (!plan.segmentsOfFirst || !plan.breakdown)
      return plan.series.map((s) => ({
        name: `${prefix}series:${s.index}`,
        sql: series(givenTo(plan, s) ?? plan, s),
      }));
    const b = whole ? { ...plan.breakdown, whole: true } : plan.breakdown;
    plan = { ...plan, breakdown: b };
    const first = `${prefix}series:0`;
    return [
      ...plan.series.map((s): CompiledStatement => {
        const given = givenTo(plan, s);
        if (given) return { name: `${prefix}series:${s.index}`, sql: series(given, s) };
        return s.index === 0
          ? { name: first, sql: series(plan, s) }
          : {
              name: `${prefix}series:${s.index}`,
              build: (earlier) =>
                series({ ...plan, breakdown: { ...b, given: segmentsOf(earlier.get(first)) } }, s),
            };
      }),
      ...(whole
        ? plan.series
            .filter((s) => !wholeInline(plan, s))
            .map((s) => ({
              name: `whole:series:${s.index}`,
              sql: series({ ...plan, breakdown: null }, s),
            }))
        : []),
    ];
  };
  return [...of(p, '', true), ...(p.previous ? of(p.previous, 'previous:', false) : [])];
}

/** In a list breakdown's segment value: a property that is not set (after every hex digit). */
export const BREAKDOWN_PART_NOT_SET = '~';
/** In a list breakdown's segment value: the end of a set property's hex digits (before them). */
export const BREAKDOWN_PART_END = ' ';

/**
 * In the properties' part of a breakdown that combines a cohort with properties: where the cohort
 * part goes (never in a part: hex digits, a space or `~`).
 */
export const BREAKDOWN_COHORT_SLOT = '|';

/** A list breakdown's part for one property: its hex and a space, or `~` when not set. */
function listPart(r: PropertyRef): SqlNode {
  const v = propertyText(r);
  return sql`CASE WHEN ${v} IS NULL THEN '${raw(BREAKDOWN_PART_NOT_SET)}' ELSE ${call('hex', v)} || '${raw(BREAKDOWN_PART_END)}' END`;
}

/**
 * The properties' part of a breakdown that combines a cohort with properties (isMixedBreakdown):
 * the list value's parts of the properties, the cohort's position holding BREAKDOWN_COHORT_SLOT.
 * Never NULL. Read where the properties are (the event, the funnel's entry, the retention
 * start); `mixedValue` puts the user's cohort in later. Its byte order is the properties' (the
 * slot is at the same place in every one), so the smallest start value is the same either way.
 */
export function breakdownPropertyPart(b: PlannedBreakdown): SqlNode {
  return join(
    b.refs.map((r) => (r.kind === 'cohort' ? raw(`'${BREAKDOWN_COHORT_SLOT}'`) : listPart(r))),
    ' || ',
  );
}

/** The properties' part of a combined breakdown when none of its properties is set. */
export function unsetPropertyPart(b: PlannedBreakdown): string {
  return b.refs
    .map((r) => (r.kind === 'cohort' ? BREAKDOWN_COHORT_SLOT : BREAKDOWN_PART_NOT_SET))
    .join('');
}

/**
 * A combined breakdown's segment value (the list value: cohort id as the text at its position)
 * from its properties' part and a cohort id (NULL: in none of the cohorts); NULL ("not set") when
 * in none and no property is set.
 */
export function mixedValue(b: PlannedBreakdown, part: SqlNode, cohort: SqlNode): SqlNode {
  const cohortPart = sql`CASE WHEN ${cohort} IS NULL THEN '${raw(BREAKDOWN_PART_NOT_SET)}' ELSE ${call('hex', cohort)} || '${raw(BREAKDOWN_PART_END)}' END`;
  return sql`CASE WHEN ${cohort} IS NULL AND ${part} = '${raw(unsetPropertyPart(b))}' THEN NULL ELSE replace(${part}, '${raw(BREAKDOWN_COHORT_SLOT)}', ${cohortPart}) END`;
}

/**
 * The segment value of a row (`bd`), NULL for "not set":
 * - one property (`"breakdown": "$browser"`): its text;
 * - a list of properties: NULL when none is set, else each property in turn, written as the hex
 *   of its UTF-8 bytes followed by a space, or `~` when not set. The text is unambiguous, and
 *   its byte order is the order of the lists (value by value, unset after any text), so ties in
 *   the ranking fall to the smaller list as they fall to the smaller text for one property;
 * - cohorts: the id of the cohort of the row's `bc` join (one row per cohort the user is in, see
 *   `breakdownCohortSources`), NULL when in none;
 * - a list with a cohort entry: the list's text, the cohort of the row's `bc` join as the text at
 *   its position (`~` when in none), NULL when in none and no property is set (mixedValue).
 */
export function breakdownValue(b: PlannedBreakdown): SqlNode {
  if (isMixedBreakdown(b)) return mixedValue(b, breakdownPropertyPart(b), raw('bc.cohort_id'));
  if (b.ref.kind === 'cohort') return raw('bc.cohort_id');
  if (b.form === 'single') return propertyText(b.ref);
  const none = and(b.refs.map((r) => sql`${propertyText(r)} IS NULL`));
  return sql`CASE WHEN ${none} THEN NULL ELSE ${join(b.refs.map(listPart), ' || ')} END`;
}

/**
 * For a breakdown with a cohort dimension: the CTEs listing its cohorts' members
 * (`bcoh(cohort_id, uid)`, each pair once) and the join adding `bc` to rows whose resolved user is
 * `uid`: one row per cohort of the breakdown the user is in, or one with `bc.cohort_id` NULL when
 * in none.
 */
function breakdownCohortSources(
  projectId: string,
  b: PlannedBreakdown | null,
  uid: SqlNode,
): { ctes: Cte[]; joins: SqlNode } {
  const ref = breakdownCohortRef(b);
  if (!ref) return { ctes: [], joins: raw('') };
  const ids = join(
    ref.ids.map((id) => param.varchar(id)),
    ', ',
  );
  return {
    ctes: [
      ...cohortMemberCtes(projectId, ref.cohorts),
      {
        name: 'bcoh',
        body: sql`SELECT DISTINCT cohort_id, uid FROM cohort_members WHERE cohort_id IN (${ids}) AND uid IS NOT NULL`,
      },
    ],
    joins: sql` LEFT JOIN bcoh bc ON bc.uid = ${uid}`,
  };
}

// ---------------------------------------------------------------------------------------------
// Trends: one statement per series.

/** Aggregate of a property math over per-event rows (column `val`). */
function valueAggregate(math: MathKind): SqlNode {
  switch (math) {
    case 'sum':
      return raw('sum(val)');
    case 'avg':
      return raw('avg(val)');
    case 'min':
      return raw('min(val)');
    case 'max':
      return raw('max(val)');
    default:
      return call('quantile', raw('val'), numberLiteral(PERCENTILES[math] ?? 0.5));
  }
}

/** Aggregate over users of their event counts (column `un`: NULL for events without a user). */
function perUserAggregate(math: PerUserMath): SqlNode {
  switch (math) {
    case 'per_user_avg':
      return raw('avg(un)');
    case 'per_user_min':
      return raw('min(un)');
    case 'per_user_max':
      return raw('max(un)');
    case 'per_user_median':
      return call('quantile', raw('un'), numberLiteral(0.5));
    case 'per_user_p90':
      return call('quantile', raw('un'), numberLiteral(0.9));
    case 'per_user_p99':
      return call('quantile', raw('un'), numberLiteral(0.99));
  }
}

/**
 * The final select of a per-user series over `source` (rows: keys, uid, n): events per user per
 * bucket and over the whole range (GROUPING SETS), then aggregated over users. Rows without a
 * user keep their segment and bucket alive (their count is NULL, which the aggregates skip), as
 * the reference keeps a bucket with events but no user (value null).
 */
function perUserSelect(
  math: PerUserMath,
  source: string,
  breakdown: boolean,
): { ctes: Cte[]; select: SqlNode } {
  const segKeys = breakdown ? 'seg, seg_value, ' : '';
  const rank = breakdown ? 'max(rank_n) AS rank_n, ' : '';
  const sets = breakdown
    ? 'GROUPING SETS ((seg, seg_value, bucket, uid), (seg, seg_value, uid))'
    : 'GROUPING SETS ((bucket, uid), (uid))';
  return {
    ctes: [
      {
        name: 'pu',
        body: sql`SELECT ${raw(segKeys)}${raw(rank)}${call('grouping', raw('bucket'))} AS is_total, bucket, uid, CASE WHEN uid IS NOT NULL THEN sum(n) END AS un FROM ${ident(source)} GROUP BY ${raw(sets)}`,
      },
    ],
    select: sql`SELECT ${raw(segKeys)}${raw(rank)}is_total, bucket, ${perUserAggregate(math)} AS value FROM pu GROUP BY ${raw(segKeys)}is_total, bucket`,
  };
}

/**
 * One series. Counts and unique users are computed from rows pre-aggregated per (bucket,
 * breakdown value, user) with their event count `n`: millions of events shrink to about one row
 * per user and active bucket before the breakdown ranking and the distinct counts. Property maths
 * need every value and read per-event rows.
 */
function compileSeries(p: TrendsPlan, s: PlannedSeries): SqlNode {
  if (p.rollups && readsPersonDays(p, s)) return compilePersonDaysSeries(p, s);
  if (p.rollups && readsValueDays(p, s)) return compileValueDaysSeries(p, s);
  if (s.active) return compileActiveSeries(p, s, s.active);
  const local = localTime(p.scope.clock);
  const where = sql`${scanCondition(p.projectId, p.scope.scanFromMs, p.scope.scanToMs)} AND ${seriesEventCondition(s)} AND ${inRangeCondition(p.scope, local)} AND ${whereFiltersCondition(s.filters)}`;
  const columns: SqlNode[] = [sql`${bucketOf(p.unit, local)} AS bucket`];
  if (p.breakdown) columns.push(sql`${breakdownValue(p.breakdown)} AS bd`);
  const keys = p.breakdown ? ['bucket', 'bd'] : ['bucket'];
  const profiles = profileSources(p.projectId, refsOf(s.filters, s.value, ...breakdownRefs(p)));
  const byCohort = breakdownCohortSources(p.projectId, p.breakdown, RESOLVED_USER);
  const from = sql`events e${profiles.joins}${byCohort.joins}`;
  const ctes: Cte[] = [...profiles.ctes, ...byCohort.ctes];
  let value: SqlNode;
  let rank: SqlNode;
  if (s.math === 'total') {
    const group = raw(keys.join(', '));
    ctes.push({
      name: 'base',
      body:
        p.rollups && readsEventDays(p, s)
          ? eventDaysBase(p, s)
          : sql`SELECT ${group}, count(*) AS n FROM (SELECT ${join(columns, ', ')} FROM ${from} WHERE ${where}) GROUP BY ${group}`,
      materialize: p.breakdown !== null,
    });
    value = raw('sum(n)');
    rank = raw('sum(n)');
  } else if (s.math === 'unique_users' || isPerUserMath(s.math)) {
    // The resolved user is a column: one aggregation per (bucket, value, user) straight from the
    // scan (resolving identities per distinct raw ids first, then grouping again by the resolved
    // user, grouped the same rows twice once the raw ids became the resolved user).
    // Plain unique users (no breakdown to rank, no per-user counts) read the scan itself: the
    // distinct count hashes (bucket, user) once, where a pre-aggregate would hash it twice.
    const group = raw([...keys, 'uid'].join(', '));
    const rows = sql`SELECT ${join(columns, ', ')}, ${RESOLVED_USER} AS uid FROM ${from} WHERE ${where}`;
    // A breakdown by person properties alone is a value of the user, not of the event: the
    // events are grouped per (bucket, user) first and the profile joined to those rows (~0.8M
    // at 10M events), its JSON read once per row of them, rather than joined to and read for
    // every event. The profile key is unique, so the rows are the same (bucket, value, user, n).
    const byPerson =
      p.breakdown !== null &&
      p.breakdown.ref.kind !== 'cohort' &&
      p.breakdown.refs.every((r) => r.kind === 'person') &&
      refsOf(s.filters, s.value).every((r) => r.kind !== 'person' && r.kind !== 'group');
    const perUserRows = sql`SELECT bucket, uid, count(*) AS n FROM (SELECT ${bucketOf(p.unit, local)} AS bucket, ${RESOLVED_USER} AS uid FROM events e${byCohort.joins} WHERE ${where}) GROUP BY bucket, uid`;
    ctes.push({
      name: 'base',
      body:
        p.breakdown === null && s.math === 'unique_users'
          ? rows
          : byPerson && p.breakdown
            ? sql`SELECT u.bucket, ${breakdownValue(p.breakdown)} AS bd, u.uid, u.n FROM (${perUserRows}) u LEFT JOIN persons pp ON pp.profile_id = u.uid`
            : sql`SELECT ${group}, count(*) AS n FROM (${rows}) GROUP BY ${group}`,
      materialize: p.breakdown !== null,
    });
    value = call('count_distinct', raw('uid'));
    rank = raw('sum(n)');
  } else if (s.math === 'unique_groups') {
    // Distinct values of the group id property (a list of ids counts as one value, its JSON).
    if (s.value) columns.push(sql`${propertyText(s.value)} AS val`);
    ctes.push({
      name: 'base',
      body: sql`SELECT ${join(columns, ', ')} FROM ${from} WHERE ${where}`,
      materialize: p.breakdown !== null,
    });
    value = call('count_distinct', raw('val'));
    rank = raw('count(*)');
  } else {
    if (s.value) columns.push(sql`${propertyNumber(s.value)} AS val`);
    ctes.push({
      name: 'base',
      body: sql`SELECT ${join(columns, ', ')} FROM ${from} WHERE ${where}`,
      materialize: p.breakdown !== null,
    });
    value = valueAggregate(s.math);
    rank = raw('count(*)');
  }
  const perUser = isPerUserMath(s.math) ? s.math : null;
  if (!p.breakdown) {
    if (perUser) {
      const pu = perUserSelect(perUser, 'base', false);
      return withCtes(uniqueCtes([...ctes, ...pu.ctes]), pu.select);
    }
    return withCtes(
      uniqueCtes(ctes),
      sql`SELECT ${call('grouping', raw('bucket'))} AS is_total, bucket, ${value} AS value FROM base GROUP BY GROUPING SETS ((bucket), ())`,
    );
  }
  const [top, seg] = breakdownCtes('base', p.breakdown, rank);
  // Unique users: `base` is grouped by (bucket, value, user), each once per bucket; `seg` is read
  // by one aggregate per grouping (segmentUsers).
  const users = s.math === 'unique_users';
  ctes.push(top!, users ? { ...seg!, materialize: true } : seg!);
  if (perUser) {
    const pu = perUserSelect(perUser, 'seg', true);
    return withCtes(uniqueCtes([...ctes, ...pu.ctes]), pu.select);
  }
  const whole = wholeInline(p, s) ? sql` UNION ALL ${wholeRows(value)}` : raw('');
  if (users) return withCtes(uniqueCtes(ctes), sql`${segmentUsers(true)}${whole}`);
  return withCtes(
    uniqueCtes(ctes),
    sql`SELECT seg, seg_value, max(rank_n) AS rank_n, ${call('grouping', raw('bucket'))} AS is_total, bucket, ${value} AS value FROM seg GROUP BY GROUPING SETS ((seg, seg_value, bucket), (seg, seg_value))${whole}`,
  );
}

/**
 * The windows of an active-users series: one row (is_total, bucket, end_day) per bucket and the
 * total, as one VALUES list (a UNION ALL of one-row SELECTs, one per bucket, cost DuckDB a
 * pipeline each: 91 daily buckets took 56 instead of 36 ms of a 90-day cumulative trend).
 */
function activeEnds(active: NonNullable<PlannedSeries['active']>): SqlNode {
  const rows = active.ends.map(
    (e) =>
      sql`(${integerLiteral(e.bucket === null ? 1 : 0)}, ${e.bucket === null ? raw('NULL') : integerLiteral(e.bucket)}, ${integerLiteral(e.endDay)})`,
  );
  // Typed as the literals would be were a bucket there: the total's row alone holds a NULL.
  return sql`SELECT is_total, CAST(bucket AS INTEGER) AS bucket, end_day FROM (VALUES ${join(rows, ', ')}) AS t(is_total, bucket, end_day)`;
}

/**
 * The users of each window of an active-users series, from the CTE `source` (rows day, uid or
 * NULL and, broken down, seg, seg_value, rank_n). A user is active on the window ends within W - 1 days
 * after any of their days; their days at most W apart give one span of such ends, so the users
 * of an end are the spans over it: a running sum of span starts (+1) and ends (−1) per segment,
 * read at each window's end. Rows: [seg, seg_value, rank_n,] is_total, bucket, value; a window
 * before any span has no row (0). (Joining every (day, user) to each window it falls in made W
 * rows of each and hashed them all again.)
 */
function activeUsersPerWindow(
  source: string,
  active: NonNullable<PlannedSeries['active']>,
  segmented: boolean,
): { ctes: Cte[]; select: SqlNode } {
  const w = integerLiteral(active.windowDays);
  const seg = segmented ? 'seg, seg_value, rank_n, ' : '';
  const user = raw(`${seg}uid`);
  const keys = raw(seg);
  // A window as long as the days read (cumulative unique users; an active-users trend of one
  // window) holds every day of a user: one span each, from their first day, that ends after every
  // window. So each user's first day alone, and no lag or running span number over their days.
  const oneSpan = active.scope.toDay - active.scope.fromDay + 1 <= active.windowDays;
  const running = (spans: SqlNode): Cte => ({
    name: 'running',
    body: sql`SELECT ${keys}d, sum(sum(c)) OVER (${segmented ? raw('PARTITION BY seg, seg_value ') : raw('')}ORDER BY d ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS active FROM (${spans}) GROUP BY ${keys}d`,
  });
  // A segment whose events have no user keeps its row (0), as unique users' segments do.
  const select = sql`SELECT ${keys}w.is_total, w.bucket, arg_max(r.active, r.d) AS value FROM ends w JOIN running r ON r.d <= w.end_day GROUP BY ${keys}w.is_total, w.bucket${segmented ? sql` UNION ALL SELECT seg, seg_value, rank_n, 1 AS is_total, NULL AS bucket, 0 AS value FROM ${ident(source)} GROUP BY seg, seg_value, rank_n HAVING count(uid) = 0` : raw('')}`;
  if (oneSpan) {
    return {
      ctes: [
        running(
          sql`SELECT ${keys}min(day) AS d, 1 AS c FROM ${ident(source)} WHERE uid IS NOT NULL GROUP BY ${user}`,
        ),
        { name: 'ends', body: activeEnds(active) },
      ],
      select,
    };
  }
  return {
    ctes: [
      {
        name: 'gaps',
        body: sql`SELECT ${user}, day, day - lag(day) OVER (PARTITION BY ${user} ORDER BY day) AS gap FROM ${ident(source)} WHERE uid IS NOT NULL`,
      },
      {
        name: 'spans',
        body: sql`SELECT ${keys}min(day) AS first_end, max(day) + ${w} AS after_end FROM (SELECT ${user}, day, sum(CASE WHEN gap IS NULL OR gap > ${w} THEN 1 ELSE 0 END) OVER (PARTITION BY ${user} ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS span FROM gaps) GROUP BY ${user}, span`,
      },
      running(
        sql`SELECT ${keys}first_end AS d, 1 AS c FROM spans UNION ALL SELECT ${keys}after_end AS d, -1 AS c FROM spans`,
      ),
      { name: 'ends', body: activeEnds(active) },
    ],
    select,
  };
}

/**
 * weekly_active / monthly_active: resolved users per local day (read from the window before
 * `from` on), then, per bucket, the distinct users of the days in the window ending on its end
 * day; the total row's window ends on `to`. Rows: is_total, bucket, value. Broken down, the rows
 * per (day, value, user) are segmented as other series' (ranked by their events over the days
 * read, those without a user too) and each segment's users counted per window: seg, seg_value
 * and rank_n lead the row.
 */
function compileActiveSeries(
  p: TrendsPlan,
  s: PlannedSeries,
  active: NonNullable<PlannedSeries['active']>,
): SqlNode {
  const scope = active.scope;
  const local = localTime(scope.clock);
  const where = sql`${scanCondition(p.projectId, scope.scanFromMs, scope.scanToMs)} AND ${seriesEventCondition(s)} AND ${inRangeCondition(scope, local)} AND ${whereFiltersCondition(s.filters)}`;
  const b = p.breakdown;
  const profiles = profileSources(p.projectId, refsOf(s.filters, ...breakdownRefs(p)));
  const byCohort = breakdownCohortSources(p.projectId, b, RESOLVED_USER);
  const from = sql`events e${profiles.joins}${byCohort.joins}`;
  if (!b) {
    const counts = activeUsersPerWindow('ud', active, false);
    return withCtes(
      uniqueCtes([
        ...profiles.ctes,
        {
          name: 'ud',
          body: sql`SELECT DISTINCT day, uid FROM (SELECT ${dayOf(local)} AS day, ${RESOLVED_USER} AS uid FROM ${from} WHERE ${where}) WHERE uid IS NOT NULL`,
        },
        ...counts.ctes,
      ]),
      counts.select,
    );
  }
  const [top, seg] = breakdownCtes('base', b, raw('sum(n)'));
  const counts = activeUsersPerWindow('seg', active, true);
  // Broken down by person properties alone, the value is the user's: events are grouped per
  // (day, user) first and the profile joined to those rows, as for unique users (compileSeries).
  const byPerson =
    b.ref.kind !== 'cohort' &&
    b.refs.every((r) => r.kind === 'person') &&
    refsOf(s.filters).every((r) => r.kind !== 'person' && r.kind !== 'group');
  const perUserDays = sql`SELECT day, uid, count(*) AS n FROM (SELECT ${dayOf(local)} AS day, ${RESOLVED_USER} AS uid FROM events e WHERE ${where}) GROUP BY day, uid`;
  return withCtes(
    uniqueCtes([
      ...profiles.ctes,
      ...byCohort.ctes,
      {
        name: 'base',
        body: byPerson
          ? sql`SELECT u.day, ${breakdownValue(b)} AS bd, u.uid, u.n FROM (${perUserDays}) u LEFT JOIN persons pp ON pp.profile_id = u.uid`
          : sql`SELECT day, bd, uid, count(*) AS n FROM (SELECT ${dayOf(local)} AS day, ${breakdownValue(b)} AS bd, ${RESOLVED_USER} AS uid FROM ${from} WHERE ${where}) GROUP BY day, bd, uid`,
        materialize: true,
      },
      top!,
      { ...seg!, materialize: true },
      ...counts.ctes,
    ]),
    counts.select,
  );
}

/**
 * A series `readsPersonDays` accepts, from the store's `person_days` (one row per project, local
 * day in the project's time zone and resolved person who did any event but SDK bookkeeping that
 * day; see store/duckdb/rollups.ts): the same rows as the events' series give, from about one
 * row per person and active day instead of one per event.
 */
function compilePersonDaysSeries(p: TrendsPlan, s: PlannedSeries): SqlNode {
  const days = (scope: TimeScope): SqlNode =>
    sql`SELECT day, person_id AS uid FROM person_days WHERE project_id = ${param.varchar(p.projectId)} AND day BETWEEN ${param.bigint(scope.fromDay)} AND ${param.bigint(scope.toDay)}`;
  if (s.active) {
    const counts = activeUsersPerWindow('ud', s.active, false);
    return withCtes([{ name: 'ud', body: days(s.active.scope) }, ...counts.ctes], counts.select);
  }
  const unit = p.unit;
  if (unit === 'hour') throw new Error('the days of persons hold no hours');
  // The table holds each (project, day, person) once: a day's users are its rows. Longer buckets
  // and the whole range count distinct persons. (One aggregate per grouping here: DuckDB's
  // distinct aggregate over GROUPING SETS took ~5× as long on the same rows.)
  const perBucket =
    unit === 'day'
      ? sql`SELECT 0 AS is_total, day AS bucket, count(*) AS value FROM (${days(p.scope)}) GROUP BY day`
      : sql`SELECT 0 AS is_total, bucket, count(*) AS value FROM (SELECT DISTINCT ${bucketOfDay(unit, raw('day'))} AS bucket, uid FROM (${days(p.scope)})) GROUP BY bucket`;
  return sql`${perBucket} UNION ALL SELECT 1 AS is_total, NULL AS bucket, ${call('count_distinct', raw('uid'))} AS value FROM (${days(p.scope)})`;
}

/**
 * A series `readsValueDays` accepts, from the store's `value_days` (per project, column, local day
 * and value, set or not, its number of events) and `person_value_days` (one row per project,
 * column, local day, value or NULL, and resolved person): the same rows as the events' series
 * give. The values are ranked by their events, those without a person included, as the events'
 * `base` ranks them; and as there, a bucket in which a value had events but no person still
 * counts (0): each (day, value) with events adds a row without a user, which no count counts.
 */
function compileValueDaysSeries(p: TrendsPlan, s: PlannedSeries): SqlNode {
  const b = p.breakdown;
  const unit = p.unit;
  if (b?.ref.kind !== 'column') throw new Error('the values per day are of standard columns');
  if (unit === 'hour') throw new Error('the values per day hold no hours');
  if (s.active) {
    // Active users: the same (day, value, person) rows over the days the windows cover, counted
    // per window as from the events (compileActiveSeries).
    const scope = s.active.scope;
    const inScope = sql`project_id = ${param.varchar(p.projectId)} AND col = ${param.varchar(b.ref.column)} AND day BETWEEN ${param.bigint(scope.fromDay)} AND ${param.bigint(scope.toDay)}`;
    const [, seg] = breakdownCtes('base', b);
    const counts = activeUsersPerWindow('seg', s.active, true);
    return withCtes(
      [
        {
          name: 'top',
          body: topValues(
            b,
            sql`SELECT value AS bd, sum(n) AS rank_n FROM value_days WHERE ${inScope} AND is_set GROUP BY value ORDER BY rank_n DESC, bd LIMIT ${param.bigint(b.limit)}`,
          ),
        },
        {
          name: 'base',
          body: sql`SELECT day, value AS bd, person_id AS uid FROM person_value_days WHERE ${inScope} UNION ALL SELECT DISTINCT day, CASE WHEN is_set THEN value END AS bd, NULL AS uid FROM value_days WHERE ${inScope}`,
          materialize: true,
        },
        { ...seg!, materialize: true },
        ...counts.ctes,
      ],
      counts.select,
    );
  }
  const where = sql`project_id = ${param.varchar(p.projectId)} AND col = ${param.varchar(b.ref.column)} AND day BETWEEN ${param.bigint(p.scope.fromDay)} AND ${param.bigint(p.scope.toDay)}`;
  const bucket = bucketOfDay(unit, raw('day'));
  return withCtes(
    [
      {
        name: 'top',
        body: topValues(
          b,
          sql`SELECT value AS bd, sum(n) AS rank_n FROM value_days WHERE ${where} AND is_set GROUP BY value ORDER BY rank_n DESC, bd LIMIT ${param.bigint(b.limit)}`,
        ),
      },
      {
        name: 'base',
        body: sql`SELECT ${bucket} AS bucket, value AS bd, person_id AS uid FROM person_value_days WHERE ${where} UNION ALL SELECT DISTINCT ${bucket} AS bucket, CASE WHEN is_set THEN value END AS bd, NULL AS uid FROM value_days WHERE ${where}`,
        materialize: true,
      },
      ...valueSegmentCtes(unit === 'day'),
    ],
    wholeInline(p, s)
      ? sql`${VALUE_SEGMENT_USERS} UNION ALL ${wholeRows(call('count_distinct', raw('uid')), 'base')}`
      : VALUE_SEGMENT_USERS,
  );
}

/**
 * The per-day values' segments, counted before they are labelled: per (bucket, value) and per
 * value over the range from `base` (bucket, bd, uid or NULL), then each value joined to its
 * segment (`top`), a few hundred rows, instead of every (day, value, person) row joined to `top`
 * and copied (`seg`): unique users by day by `$browser` at 10.2M events took 250 instead of 374 ms
 * of CPU. Only "other" (values past the top) counts its users over its rows, which merge values.
 * `oncePerBucket`: `base` holds each (bucket, value, user) once (daily buckets).
 */
function valueSegmentCtes(oncePerBucket: boolean): Cte[] {
  const distinct = call('count_distinct', raw('uid'));
  const inTop = raw('EXISTS (SELECT 1 FROM top t WHERE t.bd = s.bd)');
  return [
    {
      name: 'per',
      body: sql`SELECT bucket, bd, ${oncePerBucket ? raw('count(uid)') : distinct} AS users FROM base GROUP BY bucket, bd`,
    },
    {
      name: 'labels',
      body: sql`SELECT s.bd, CASE WHEN s.bd IS NULL THEN ${raw(String(SEGMENT_NOT_SET))} ELSE ${raw(String(SEGMENT_VALUE))} END AS seg, t.bd AS seg_value, t.rank_n FROM (SELECT DISTINCT bd FROM per) s LEFT JOIN top t ON s.bd = t.bd WHERE s.bd IS NULL OR t.bd IS NOT NULL`,
    },
    {
      name: 'totals',
      body: sql`SELECT s.bd, ${distinct} AS users FROM base s WHERE s.bd IS NULL OR ${inTop} GROUP BY s.bd`,
    },
    {
      name: 'other',
      // An anti join on `top` (ten rows) rather than NOT EXISTS: DuckDB plans that as a delim
      // join that first copies every row of `base` (~800k for `$browser` at 10.2M events, when
      // none of them is "other"): 439 -> 231 ms of CPU for the whole statement.
      body: sql`SELECT s.bucket, s.uid FROM base s ANTI JOIN top t ON t.bd = s.bd WHERE s.bd IS NOT NULL`,
      materialize: true,
    },
  ];
}

/** The rows (seg, seg_value, rank_n, is_total, bucket, value) of valueSegmentCtes. */
const VALUE_SEGMENT_USERS = raw(
  [
    'SELECT l.seg, l.seg_value, l.rank_n, 0 AS is_total, p.bucket, p.users AS value FROM per p JOIN labels l ON l.bd IS NOT DISTINCT FROM p.bd',
    `SELECT ${SEGMENT_OTHER}, NULL, NULL, 0, bucket, count(DISTINCT uid) FROM other GROUP BY bucket`,
    'SELECT l.seg, l.seg_value, l.rank_n, 1, NULL, t.users FROM totals t JOIN labels l ON l.bd IS NOT DISTINCT FROM t.bd',
    `SELECT ${SEGMENT_OTHER}, NULL, NULL, 1, NULL, count(DISTINCT uid) FROM other HAVING count(*) > 0`,
  ].join(' UNION ALL '),
);

/**
 * Distinct users per segment and bucket, and per segment over the range (is_total 1), from the
 * `seg` rows (bucket, uid or NULL, seg, seg_value, rank_n). `oncePerBucket`: the rows hold each
 * (bucket, value, user) at most once, so a segment of one value counts its rows' users per bucket
 * without a distinct aggregate (only "other" merges values). One aggregate per grouping: DuckDB's
 * distinct aggregate over GROUPING SETS took about twice as long on the same rows.
 */
function segmentUsers(oncePerBucket: boolean): SqlNode {
  const other = raw(String(SEGMENT_OTHER));
  const distinct = call('count_distinct', raw('uid'));
  const perBucket = (value: SqlNode, where: SqlNode): SqlNode =>
    sql`SELECT seg, seg_value, max(rank_n) AS rank_n, 0 AS is_total, bucket, ${value} AS value FROM seg WHERE ${where} GROUP BY seg, seg_value, bucket`;
  const buckets = oncePerBucket
    ? sql`${perBucket(raw('count(uid)'), sql`seg <> ${other}`)} UNION ALL ${perBucket(distinct, sql`seg = ${other}`)}`
    : perBucket(distinct, raw('TRUE'));
  return sql`${buckets} UNION ALL SELECT seg, seg_value, max(rank_n) AS rank_n, 1 AS is_total, NULL AS bucket, ${distinct} AS value FROM seg GROUP BY seg, seg_value`;
}

/**
 * The `base` rows (bucket, n) of a series `readsEventDays` accepts, from the store's `event_days`
 * (one row per project, local day in the project's time zone and event name, with its number of
 * events; see store/duckdb/rollups.ts): the same rows as the events give, from a few thousand rows.
 */
function eventDaysBase(p: TrendsPlan, s: PlannedSeries): SqlNode {
  const unit = p.unit;
  if (unit === 'hour') throw new Error('the counts per day hold no hours');
  return sql`SELECT ${bucketOfDay(unit, raw('e.day'))} AS bucket, sum(e.n) AS n FROM event_days e WHERE e.project_id = ${param.varchar(p.projectId)} AND e.day BETWEEN ${param.bigint(p.scope.fromDay)} AND ${param.bigint(p.scope.toDay)} AND ${seriesEventCondition(s)} GROUP BY bucket`;
}

function compileTrends(p: TrendsPlan): CompiledQuery {
  return { statements: trendsStatements(p, compileSeries, wholeInline) };
}

/**
 * Whether a split series' statement also has the rows over the whole series (seg
 * SEGMENT_WHOLE), counted from its `seg` rows: events and unique users broken down by
 * properties alone (each event, or each user's rows, in exactly one segment per bucket; a
 * breakdown with cohorts repeats them per cohort).
 */
function wholeInline(p: TrendsPlan, s: PlannedSeries): boolean {
  return (
    p.breakdown?.whole === true &&
    !p.breakdown.refs.some((r) => r.kind === 'cohort') &&
    !s.active &&
    (s.math === 'total' || s.math === 'unique_users')
  );
}

/** The rows over the whole series from `seg`, or `source` (wholeInline): is_total, bucket and value. */
function wholeRows(value: SqlNode, source = 'seg'): SqlNode {
  const whole = raw(`${SEGMENT_WHOLE} AS seg, NULL AS seg_value, NULL AS rank_n`);
  return sql`SELECT ${whole}, 0 AS is_total, bucket, ${value} AS value FROM ${ident(source)} GROUP BY bucket UNION ALL SELECT ${whole}, 1 AS is_total, NULL AS bucket, ${value} AS value FROM ${ident(source)}`;
}

// ---------------------------------------------------------------------------------------------
// Funnel.

/** Time-to-convert quantiles of each step (fractions, and their column-name suffixes). */
export const FUNNEL_QUANTILES = [
  { fraction: 0.25, name: 'p25' },
  { fraction: 0.5, name: 'median' },
  { fraction: 0.75, name: 'p75' },
  { fraction: 0.9, name: 'p90' },
] as const;

/**
 * The join key of an attempt's later steps: the resolved user, and with `hold_constant` the held
 * values too, each written as its length and text (or `-` when not set) so that the key is
 * unambiguous and never NULL for a user: "not set" is a value that must repeat like any other.
 */
function funnelKey(hold: PropertyRef[]): SqlNode {
  const uid = sql`${RESOLVED_USER}`;
  const part = (v: SqlNode): SqlNode =>
    sql`CASE WHEN ${v} IS NULL THEN '-' ELSE CAST(length(${v}) AS VARCHAR) || ':' || ${v} END`;
  return sql`(${join([uid, ...hold.map(propertyText)].map(part), " || '|' || ")})`;
}

/**
 * Funnel attempts: each step-1 event inside the range (an entry) with the time t_k it reached
 * each later step, or NULL. Sequential: t_k is the first step-k event strictly after t_(k-1),
 * within the window of t_1. Any order: the first step-k event strictly after t_1 within the
 * window, for each k, then the times sorted (t_2 is the first later step done, whichever it was).
 * Exclusions then drop the attempts that did an excluded event between the two steps.
 */
function compileFunnel(p: FunnelPlan): CompiledQuery {
  const local = localTime(p.scope.clock);
  const n = p.steps.length;
  const t = (k: number) => raw(`t${k}`);
  const byCohort = isCohortBreakdown(p.breakdown);
  const mixed = isMixedBreakdown(p.breakdown);
  const names = [...new Set([...p.steps.map((s) => s.event), ...p.exclusions.map((x) => x.event)])];
  const flags = [
    ...p.steps.map(
      (s, i) =>
        sql`(${eventCondition(s.event)} AND ${filtersCondition(s.filters)}) AS m${raw(String(i + 1))}`,
    ),
    ...p.exclusions.map(
      (x, i) =>
        sql`(${eventCondition(x.event)} AND ${filtersCondition(x.filters)}) AS x${raw(String(i + 1))}`,
    ),
  ];
  const columns: SqlNode[] = [
    sql`${RESOLVED_USER} AS uid`,
    // The joins and the best attempt key on a 128-bit digest of the user (and of the held
    // values), not on the text: sorting on a fixed-width integer made the 3-step funnel of
    // bench:query 13–20 % cheaper in CPU. Two keys share an MD5 by chance with odds of ~n²/2¹²⁹
    // (10⁻²⁵ for 10M users); user ids are keyed pseudonyms unless a project's policy keeps them
    // as sent, and then only a sender crafting a collision could merge two of its own users
    // here (held values are as sent either way).
    sql`md5_number(${RESOLVED_USER}) AS hu`,
    // Without held properties the key is the user (not computed twice).
    ...(p.holdConstant.length > 0 ? [sql`md5_number(${funnelKey(p.holdConstant)}) AS k`] : []),
    sql`${call('epoch_ms', raw('e.time'))} AS t`,
    sql`(${inRangeCondition(p.scope, local)}) AS in_range`,
    ...flags,
    // A cohort breakdown is the user's, not the entry's: joined after the best attempt (combined
    // with properties: the entry's part now, the cohorts then).
    p.breakdown && !byCohort
      ? sql`${mixed ? breakdownPropertyPart(p.breakdown) : breakdownValue(p.breakdown)} AS bd`
      : raw('CAST(NULL AS VARCHAR) AS bd'),
    p.overTime
      ? sql`${bucketOf(p.overTime.unit, local)} AS bucket`
      : raw('CAST(NULL AS BIGINT) AS bucket'),
  ];
  const profiles = profileSources(
    p.projectId,
    refsOf(
      [...p.steps.flatMap((s) => s.filters), ...p.exclusions.flatMap((x) => x.filters)],
      ...breakdownRefs(p),
      ...p.holdConstant,
    ),
  );
  // Later steps may happen after the range, up to one window after its end; exclusions lie
  // between two steps, so inside the same span.
  const ev = sql`SELECT ${join(columns, ', ')} FROM events e ${IDENTITY_JOINS}${profiles.joins} WHERE ${scanCondition(p.projectId, p.scope.scanFromMs, p.scope.scanToMs + p.windowMs)} AND ${eventAmong(names)}`;
  const key = raw(p.holdConstant.length > 0 ? 'k' : 'hu');
  const ctes: Cte[] = [
    linksCte(p.projectId),
    ...profiles.ctes,
    { name: 'ev', body: ev, materialize: true },
    {
      name: 's1',
      body: sql`SELECT uid, hu, ${key} AS k, t AS t1, bd, bucket FROM ev WHERE m1 AND in_range AND t < ${param.bigint(p.scope.scanToMs)} AND uid IS NOT NULL`,
    },
  ];
  for (let k = 2; k <= n; k++) {
    ctes.push({
      name: `s${k}`,
      body: sql`SELECT ${key} AS k, t FROM ev WHERE m${raw(String(k))} AND uid IS NOT NULL`,
    });
  }
  p.exclusions.forEach((_, i) =>
    ctes.push({
      name: `x${i + 1}`,
      body: sql`SELECT hu, t FROM ev WHERE x${raw(String(i + 1))} AND uid IS NOT NULL`,
    }),
  );
  // c1 = entries; c_k adds step k. Sequential: only when step k-1 was reached — the guard does not
  // trust the join with a NULL t_(k-1): the dialect must match nothing for it, but a join that did
  // (DuckDB's ASOF operator, issue 12) would credit users who never reached step k-1 with step k.
  ctes.push({ name: 'c1', body: raw('SELECT uid, hu, k, bd, bucket, t1 FROM s1') });
  const any = p.order === 'any';
  for (let k = 2; k <= n; k++) {
    const leftTime = any ? raw('c.t1') : raw(`c.t${k - 1}`);
    const join_ = {
      kind: 'asof_next_join' as const,
      right: ident(`s${k}`),
      rightAlias: 'nx',
      leftKey: raw('c.k'),
      rightKey: raw('nx.k'),
      leftTime,
      rightTime: raw('nx.t'),
    };
    ctes.push({
      name: `c${k}`,
      body: sql`SELECT c.*, CASE WHEN ${leftTime} IS NOT NULL AND nx.t <= c.t1 + ${param.bigint(p.windowMs)} THEN nx.t END AS ${raw(any ? `u${k}` : `t${k}`)} FROM ${ident(`c${k - 1}`)} c ${join_}`,
    });
  }
  let attempts = `c${n}`;
  if (any) {
    // Any order: the steps done, sorted by time, become t2, t3, … (ties are equal times).
    ctes.push(
      { name: 'ca', body: sql`SELECT *, row_number() OVER () AS aid FROM ${ident(attempts)}` },
      {
        name: 'cu',
        body: join(
          Array.from(
            { length: n - 1 },
            (_, i) =>
              sql`SELECT aid, ${raw(`u${i + 2}`)} AS t FROM ca WHERE ${raw(`u${i + 2}`)} IS NOT NULL`,
          ),
          ' UNION ALL ',
        ),
      },
      {
        name: 'cr',
        body: raw(
          'SELECT aid, t, row_number() OVER (PARTITION BY aid ORDER BY t) + 1 AS pos FROM cu',
        ),
      },
      {
        name: 'cs',
        body: sql`SELECT a.uid, a.hu, a.k, a.bd, a.bucket, a.t1, ${join(
          Array.from({ length: n - 1 }, (_, i) =>
            raw(`max(CASE WHEN r.pos = ${i + 2} THEN r.t END) AS t${i + 2}`),
          ),
          ', ',
        )} FROM ca a LEFT JOIN cr r ON r.aid = a.aid GROUP BY a.aid, a.uid, a.hu, a.k, a.bd, a.bucket, a.t1`,
      },
    );
    attempts = 'cs';
  }
  // Exclusions: the first excluded event strictly after t_after; the attempt is out when that
  // event came strictly before t_before, or, when step `before` was not reached, no later than
  // the end of the window. An attempt that did not reach step `after` (NULL t_after) is kept.
  p.exclusions.forEach((x, i) => {
    const after = t(x.afterStep + 1);
    const before = t(x.beforeStep + 1);
    const join_ = {
      kind: 'asof_next_join' as const,
      right: ident(`x${i + 1}`),
      rightAlias: 'xx',
      leftKey: raw('c.hu'),
      rightKey: raw('xx.hu'),
      leftTime: sql`c.${after}`,
      rightTime: raw('xx.t'),
    };
    ctes.push({
      name: `d${i + 1}`,
      body: sql`SELECT c.*, CASE WHEN c.${after} IS NOT NULL AND xx.t < coalesce(c.${before}, c.t1 + ${param.bigint(p.windowMs + 1)}) THEN 1 ELSE 0 END AS ${raw(`dq${i + 1}`)} FROM ${ident(attempts)} c ${join_}`,
    });
    attempts = `d${i + 1}`;
  });
  const kept =
    p.exclusions.length === 0
      ? sql`SELECT * FROM ${ident(attempts)}`
      : sql`SELECT * FROM ${ident(attempts)} WHERE ${raw(p.exclusions.map((_, i) => `dq${i + 1} = 0`).join(' AND '))}`;
  const reached = Array.from({ length: n - 1 }, (_, i) =>
    raw(`CAST(t${i + 2} IS NOT NULL AS INTEGER)`),
  );
  ctes.push({
    name: 'att',
    body: sql`SELECT *, 1 + ${join(reached, ' + ')} AS depth FROM (${kept})`,
    materialize: p.overTime !== null,
  });
  // The best attempt per user: deepest, then earliest, then smallest breakdown value, then earliest
  // at step 2, at step 3, … (entries at one instant with different held values go on differently;
  // attempts still tied show the same figures, whichever row_number keeps).
  const laterSteps = Array.from({ length: n - 1 }, (_, i) => `t${i + 2} ASC NULLS LAST`).join(', ');
  ctes.push({
    name: 'best',
    body: raw(
      `SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY hu ORDER BY depth DESC, t1 ASC, bd ASC NULLS LAST, ${laterSteps}) AS rn FROM att) WHERE rn = 1`,
    ),
  });
  // Counts, and the time-to-convert quantiles of each step from the previous one and from the
  // entry: all fractions of one difference in one list-valued quantile (one sort of it rather
  // than one per fraction; step 2's two differences are the same), read out by name around the
  // aggregate.
  const counts: SqlNode[] = [raw('count(*) AS n1')];
  const lists: SqlNode[] = [];
  const times: SqlNode[] = [];
  const noTimes: SqlNode[] = [];
  const fractions = raw(`[${FUNNEL_QUANTILES.map((q) => String(q.fraction)).join(', ')}]`);
  for (let k = 2; k <= n; k++) {
    counts.push(raw(`count(t${k}) AS n${k}`));
    for (const from of new Set([k - 1, 1])) {
      lists.push(
        sql`quantile_cont(${raw(`t${k} - t${from}`)}, ${fractions}) AS ${raw(`q${from}_${k}`)}`,
      );
    }
    FUNNEL_QUANTILES.forEach((q, i) => {
      for (const [from, tag] of [
        [k - 1, 'prev'],
        [1, 'start'],
      ] as const) {
        const name = raw(`${tag}_${q.name}_${k}`);
        times.push(sql`${raw(`q${from}_${k}[${i + 1}]`)} AS ${name}`);
        noTimes.push(sql`CAST(NULL AS DOUBLE) AS ${name}`);
      }
    });
  }
  const countNames = raw(Array.from({ length: n }, (_, i) => `n${i + 1}`).join(', '));
  /** `outer` columns, then the counts and times of the rows `from` reads (`inner`: more columns). */
  const figures = (outer: string, inner: string, from: string): SqlNode =>
    sql`SELECT ${raw(outer)}, ${countNames}, ${join(times, ', ')} FROM (SELECT ${raw(inner)}${join([...counts, ...lists], ', ')} FROM ${raw(from)})`;
  // The total row counts each user once; segment rows are the best attempts split by segment
  // (with cohorts, a user in several of them is in each of their rows).
  const total = figures(
    'CAST(NULL AS INTEGER) AS seg, CAST(NULL AS VARCHAR) AS seg_value, CAST(NULL AS BIGINT) AS rank_n, 1 AS is_total, CAST(NULL AS BIGINT) AS bucket',
    '',
    'best',
  );
  // Combined with properties, a user in several cohorts whose combinations all fall in "other"
  // is one user there: `other` has each user once (their rows differ by `bd` alone).
  const stepTimes = Array.from({ length: n }, (_, i) => `t${i + 1}`).join(', ');
  const main = p.breakdown
    ? sql`${figures(
        'seg, seg_value, rank_n, 0 AS is_total, CAST(NULL AS BIGINT) AS bucket',
        'seg, seg_value, max(rank_n) AS rank_n, ',
        mixed
          ? `(SELECT DISTINCT uid, ${stepTimes}, seg, seg_value, rank_n FROM seg) GROUP BY seg, seg_value`
          : 'seg GROUP BY seg, seg_value',
      )} UNION ALL ${total}`
    : total;
  if (p.breakdown) {
    let source = 'best';
    if (byCohort || mixed) {
      const cohorts = breakdownCohortSources(p.projectId, p.breakdown, raw('b.uid'));
      const value = mixed
        ? mixedValue(p.breakdown, raw('b.bd'), raw('bc.cohort_id'))
        : breakdownValue(p.breakdown);
      ctes.push(...cohorts.ctes, {
        name: 'best_cohort',
        body: sql`SELECT b.uid, ${raw(stepTimes.replace(/t/g, 'b.t'))}, ${value} AS bd FROM best b${cohorts.joins}`,
      });
      source = 'best_cohort';
    }
    ctes.push(...breakdownCtes(source, p.breakdown));
  }
  let body = main;
  if (p.overTime) {
    // Conversion over time: per bucket of entry, each user's best attempt entered in it.
    ctes.push({
      name: 'best_bucket',
      body: raw(
        'SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY hu, bucket ORDER BY depth DESC, t1 ASC) AS rn FROM att) WHERE rn = 1',
      ),
    });
    const overTime = sql`SELECT NULL AS seg, NULL AS seg_value, NULL AS rank_n, ${raw(String(FUNNEL_OVER_TIME_ROW))} AS is_total, bucket, ${join([...counts, ...noTimes], ', ')} FROM best_bucket GROUP BY bucket`;
    body = sql`SELECT * FROM (${main}) UNION ALL SELECT * FROM (${overTime})`;
  }
  return { statements: [{ name: 'funnel', sql: withCtes(uniqueCtes(ctes), body) }] };
}

/** `is_total` of the rows of conversion over time (one per bucket with entries). */
export const FUNNEL_OVER_TIME_ROW = 2;

// ---------------------------------------------------------------------------------------------
// Retention.

/**
 * Retention (README "Retention"). Per resolved user and period: the first start event inside the
 * range (and its breakdown value) and whether a return event happened; then the cohorts by
 * retention type, each user's segment, and per cohort the users returning k periods later.
 */
/**
 * `e.event` is one of `names`, with the least and greatest of them (in UTF-8 byte order, DuckDB's
 * for text) as a range too: DuckDB checks a range inside the scan, on each block's dictionary,
 * and an IN list after it, row by row. The range passes what lies between the names (all of them
 * at worst): a 3-step funnel's scan of 10.2M events took 304 instead of 330 ms of CPU.
 */
function eventAmong(names: readonly string[]): SqlNode {
  const distinct = [...new Set(names)].sort((a, b) =>
    Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')),
  );
  if (distinct.length === 1) return sql`e.event = ${param.varchar(distinct[0]!)}`;
  const list = join(
    distinct.map((name) => param.varchar(name)),
    ', ',
  );
  return sql`e.event BETWEEN ${param.varchar(distinct[0]!)} AND ${param.varchar(distinct.at(-1)!)} AND e.event IN (${list})`;
}

function compileRetention(p: RetentionPlan): CompiledQuery {
  const local = localTime(p.scope.clock);
  const filters = filtersCondition(p.filters);
  const isStart = sql`(${eventCondition(p.startEvent)} AND ${filters} AND ${inRangeCondition(p.scope, local)} AND e.time < ${param.timestamp(p.scope.scanToMs)})`;
  const isReturn = sql`(${eventCondition(p.returnEvent)} AND ${filters})`;
  const rawIds = raw(RAW_IDS.join(', '));
  // `byProperty`: the start's value is read from the events (a property breakdown, or the
  // properties' part of one combined with a cohort); `byUser`: the user's cohorts are joined to
  // the cohort starts (a cohort breakdown, or one combined with properties).
  const mixed = isMixedBreakdown(p.breakdown);
  const byProperty = p.breakdown !== null && !isCohortBreakdown(p.breakdown);
  const byUser = p.breakdown !== null && (mixed || !byProperty);
  const startValue = (b: PlannedBreakdown): SqlNode =>
    mixed ? breakdownPropertyPart(b) : breakdownValue(b);
  const profiles = profileSources(p.projectId, refsOf(p.filters, ...breakdownRefs(p)));
  const scan = sql`SELECT ${raw(RAW_IDS.map((c) => `e.${c}`).join(', '))}, ${call('epoch_ms', raw('e.time'))} AS t, ${bucketOf(p.unit, local)} AS bucket, ${isStart} AS is_start, ${isReturn} AS is_return${byProperty && p.breakdown ? sql`, ${startValue(p.breakdown)} AS bd` : raw('')} FROM events e${profiles.joins} WHERE ${scanCondition(p.projectId, p.scope.scanFromMs, p.returnScanToMs)} AND ${eventAmong([p.startEvent, p.returnEvent])}`;
  const ctes: Cte[] = [linksCte(p.projectId), ...profiles.ctes];
  // Per raw identity and period: the earliest in-range start event and whether it returned;
  // identities are then resolved once per row of that (much smaller) set.
  // The segment of a period (by property) is the value on its first start event; of several
  // start events at that same instant, the smallest value (an unset one only when none is set):
  // the least (time, unset, value) of its start events, in the same pass as the rest (rather than
  // a second read of the scan for the value at `first_t`: half the work at 10M events).
  const firstValue = byProperty
    ? raw(`, min(CASE WHEN is_start THEN {'t': t, 'unset': bd IS NULL, 'v': bd} END).v AS bd`)
    : raw('');
  const fromRollups = p.rollups === true && readsPersonEventDays(p);
  if (fromRollups) {
    // The same rows from the first event of each name per person and local day (rollups.ts):
    // the day's first instant stands for its events (the first start event of a period is on
    // the day row with the earliest one), its values for that event's (ties resolved the same
    // way when the row was made), and a day's bucket for its events' buckets. Return rows are
    // read from the range's first day: a return counts only in a period after a cohort's.
    const day = raw('e.day');
    const rows = sql`SELECT e.person_id, e.first_ms AS t, ${bucketOfDay(p.unit, day)} AS bucket, (e.event = ${param.varchar(p.startEvent)} AND e.day BETWEEN ${param.bigint(p.scope.fromDay)} AND ${param.bigint(p.scope.toDay)}) AS is_start, e.event = ${param.varchar(p.returnEvent)} AS is_return${byProperty && p.breakdown ? sql`, ${startValue(p.breakdown)} AS bd` : raw('')} FROM person_event_days e${profiles.joins} WHERE e.project_id = ${param.varchar(p.projectId)} AND ${eventAmong([p.startEvent, p.returnEvent])} AND e.day BETWEEN ${param.bigint(p.scope.fromDay)} AND ${param.bigint(Math.floor(p.returnScanToMs / DAY_MS))}`;
    // A person's start rows in one period are of distinct days, so of distinct first instants:
    // the value on the earliest is the period's, with no tie left to break (a scan of events
    // breaks them with the least (time, unset, value), which costs more).
    const rolledValue = byProperty
      ? raw(', arg_min_null(bd, t) FILTER (WHERE is_start) AS bd')
      : raw('');
    ctes.push({
      name: 'ev',
      body: sql`SELECT person_id AS uid, bucket, min(CASE WHEN is_start THEN t END) AS first_t, max(CASE WHEN is_return THEN 1 ELSE 0 END) AS returned${rolledValue} FROM (${rows}) GROUP BY person_id, bucket`,
      materialize: true,
    });
  } else {
    ctes.push({
      name: 'ids',
      body: sql`SELECT ${rawIds}, bucket, min(CASE WHEN is_start THEN t END) AS first_t, max(CASE WHEN is_return THEN 1 ELSE 0 END) AS returned${firstValue} FROM (${scan}) GROUP BY ${rawIds}, bucket`,
    });
    ctes.push({
      name: 'ev',
      body: sql`SELECT ${RESOLVED_USER} AS uid, e.bucket, e.first_t, e.returned${raw(byProperty ? ', e.bd' : '')} FROM ids e ${IDENTITY_JOINS}`,
      materialize: true,
    });
  }
  const bd = raw(byProperty ? 'bd' : 'CAST(NULL AS VARCHAR) AS bd');
  // With one cohort per user (first start, first time), the user's return periods are listed in
  // the same aggregate as the cohort (`ps`), and each cohort row is joined to its own list
  // (`unnest`) instead of every cohort to `returns` on the user: 12-week retention at 10.2M
  // events took 199 instead of 242 ms of CPU. A recurring user has a cohort per period: joined.
  const perUser = p.retentionType !== 'recurring';
  const withReturns = (alias: string): SqlNode =>
    raw(perUser ? `, unnest(${alias}.ps) AS r(p)` : ` JOIN returns r ON r.uid = ${alias}.uid`);
  if (p.retentionType === 'recurring') {
    // Every period with a start event in the range starts a cohort for the user.
    ctes.push({
      name: 'cohorts',
      body: sql`SELECT uid, bucket AS c, ${bd} FROM ev WHERE first_t IS NOT NULL AND uid IS NOT NULL`,
    });
  } else {
    ctes.push({
      name: 'firsts',
      // Every row of the user: return periods without a start event are listed too.
      body: sql`SELECT uid, ${call('arg_min', raw('bucket'), raw('first_t'))} FILTER (WHERE first_t IS NOT NULL) AS c, min(first_t) AS ft, coalesce(list(bucket) FILTER (WHERE returned = 1), []) AS ps FROM ev WHERE uid IS NOT NULL GROUP BY uid HAVING count(first_t) > 0`,
    });
    let firsts = raw('firsts');
    if (p.retentionType === 'first_time') {
      // Only users whose first start event ever (same filters, any time before the range's
      // end) is their first one inside the range.
      ctes.push({
        name: 'earliest',
        // From the rollups: a day row's first instant is before the end exactly when one of its
        // events is, and is then the earliest of those.
        body: fromRollups
          ? sql`SELECT e.person_id AS uid, min(e.first_ms) AS t FROM person_event_days e WHERE e.project_id = ${param.varchar(p.projectId)} AND e.event = ${param.varchar(p.startEvent)} AND e.first_ms < ${param.bigint(p.scope.scanToMs)} GROUP BY 1`
          : sql`SELECT ${RESOLVED_USER} AS uid, min(${call('epoch_ms', raw('e.time'))}) AS t FROM events e${profiles.joins} WHERE e.project_id = ${param.varchar(p.projectId)} AND e.time < ${param.timestamp(p.scope.scanToMs)} AND ${eventCondition(p.startEvent)} AND ${filters} GROUP BY 1`,
      });
      ctes.push({
        name: 'first_ever',
        body: raw('SELECT f.* FROM firsts f JOIN earliest x ON x.uid = f.uid AND x.t = f.ft'),
      });
      firsts = raw('first_ever');
    }
    ctes.push({
      name: 'cohorts',
      body: byProperty
        ? sql`SELECT f.uid, f.c, v.bd, f.ps FROM ${firsts} f JOIN ev v ON v.uid = f.uid AND v.bucket = f.c`
        : sql`SELECT uid, c, CAST(NULL AS VARCHAR) AS bd, ps FROM ${firsts}`,
    });
  }
  if (!perUser) {
    ctes.push({
      name: 'returns',
      // `ev` holds one row per user and period already (grouped by the resolved person).
      body: raw('SELECT uid, bucket AS p FROM ev WHERE returned = 1 AND uid IS NOT NULL'),
    });
  }
  const periods = param.bigint(p.periods);
  const totals = sql`SELECT CAST(NULL AS INTEGER) AS seg, CAST(NULL AS VARCHAR) AS seg_value, CAST(NULL AS BIGINT) AS rank_n, 1 AS is_total, c AS cohort, 0 AS k, count(*) AS users FROM cohorts GROUP BY c UNION ALL SELECT NULL, NULL, NULL, 1, c.c, r.p - c.c, count(*) FROM cohorts c${withReturns('c')} WHERE r.p - c.c BETWEEN 1 AND ${periods} GROUP BY c.c, r.p - c.c`;
  if (!p.breakdown)
    return { statements: [{ name: 'retention', sql: withCtes(uniqueCtes(ctes), totals) }] };
  let source = 'cohorts';
  if (byUser) {
    const cohorts = breakdownCohortSources(p.projectId, p.breakdown, raw('c.uid'));
    const value = mixed
      ? mixedValue(p.breakdown, raw('c.bd'), raw('bc.cohort_id'))
      : breakdownValue(p.breakdown);
    ctes.push(...cohorts.ctes, {
      name: 'cohorts_bd',
      body: sql`SELECT c.uid, c.c, ${value} AS bd${raw(perUser ? ', c.ps' : '')} FROM cohorts c${cohorts.joins}`,
    });
    source = 'cohorts_bd';
  }
  // Segments ranked by the users they start cohorts for (a user once per cohort period).
  ctes.push(...breakdownCtes(source, p.breakdown));
  // By property, `cohorts` has one row per user and cohort period (`ev` one per user and period,
  // RAW_IDS being the resolved person; `firsts` one per user) and `returns` one per user and
  // period, so a segment's rows are distinct users already: counted without a distinct
  // aggregate. A user in several cohorts of a cohort breakdown is in one row per cohort, each its
  // own segment; counted distinct as before.
  const users = (uid: string): SqlNode =>
    byUser ? call('count_distinct', raw(uid)) : raw('count(*)');
  const segments = sql`SELECT seg, seg_value, max(rank_n) AS rank_n, 0 AS is_total, c AS cohort, 0 AS k, ${users('uid')} AS users FROM seg GROUP BY seg, seg_value, c UNION ALL SELECT s.seg, s.seg_value, max(s.rank_n), 0, s.c, r.p - s.c, ${users('s.uid')} FROM seg s${withReturns('s')} WHERE r.p - s.c BETWEEN 1 AND ${periods} GROUP BY s.seg, s.seg_value, s.c, r.p - s.c`;
  if (!byUser) {
    // By property every cohort start is in exactly one segment: the totals are the segments'
    // sums, and cohorts and returns are joined once instead of twice.
    ctes.push({ name: 'segments', body: segments, materialize: true });
    const summed = sql`SELECT CAST(NULL AS INTEGER) AS seg, CAST(NULL AS VARCHAR) AS seg_value, CAST(NULL AS BIGINT) AS rank_n, 1 AS is_total, cohort, k, CAST(sum(users) AS BIGINT) AS users FROM segments GROUP BY cohort, k`;
    return {
      statements: [
        {
          name: 'retention',
          sql: withCtes(uniqueCtes(ctes), sql`${summed} UNION ALL SELECT * FROM segments`),
        },
      ],
    };
  }
  return {
    statements: [
      {
        name: 'retention',
        sql: withCtes(uniqueCtes(ctes), sql`${totals} UNION ALL ${segments}`),
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Lifecycle.

/** The statuses of a lifecycle's rows (`status`: the index here; format.ts reads them). */
export const LIFECYCLE_STATUSES = ['new', 'returning', 'resurrecting', 'dormant'] as const;

/**
 * Lifecycle (README "Lifecycle"). Per resolved user and bucket: whether they were active in it
 * (an event on a day of the range; the bucket before the first lies wholly before `from` and
 * counts whole), every earlier bucket folded into one (`first - 2`: "seen before"). Then, over
 * each user's buckets in order, a bucket is new with no row before it, returning when the row
 * before is the bucket before and active, else resurrecting; an active bucket whose next row is
 * not the next bucket, active, makes the user dormant in the next bucket. Rows: status (index of
 * LIFECYCLE_STATUSES), bucket, n. From the rollups, the days of each person (any event) or of
 * each person and event name stand for the events (no filter).
 */
function compileLifecycle(p: LifecyclePlan): CompiledQuery {
  const fromDay = param.bigint(p.scope.fromDay);
  const toDay = param.bigint(p.scope.toDay);
  const floor = param.bigint(p.firstBucket - 2);
  const ctes: Cte[] = [];
  let days: SqlNode;
  if (p.rollups === true && readsLifecycleDays(p)) {
    const bucket = bucketOfDay(p.unit, raw('e.day'));
    days =
      p.event === null
        ? sql`SELECT e.person_id AS uid, greatest(${bucket}, ${floor}) AS bucket, e.day >= ${fromDay} AS in_range FROM person_days e WHERE e.project_id = ${param.varchar(p.projectId)} AND e.day <= ${toDay}`
        : sql`SELECT e.person_id AS uid, greatest(${bucket}, ${floor}) AS bucket, e.day >= ${fromDay} AS in_range FROM person_event_days e WHERE e.project_id = ${param.varchar(p.projectId)} AND e.event = ${param.varchar(p.event)} AND e.day <= ${toDay}`;
  } else {
    const local = localTime(p.scope.clock);
    const day = dayOf(local);
    const profiles = profileSources(p.projectId, refsOf(p.filters));
    ctes.push(...profiles.ctes);
    // No lower bound: an event of any earlier time tells that the user was seen before.
    days = sql`SELECT e.person_id AS uid, greatest(${bucketOf(p.unit, local)}, ${floor}) AS bucket, ${day} >= ${fromDay} AS in_range FROM events e${profiles.joins} WHERE e.project_id = ${param.varchar(p.projectId)} AND e.time < ${param.timestamp(p.scope.scanToMs)} AND ${seriesEventCondition(p)} AND e.person_id IS NOT NULL AND ${p.scope.exact ? raw('TRUE') : sql`${day} <= ${toDay}`} AND ${whereFiltersCondition(p.filters)}`;
  }
  const first = param.bigint(p.firstBucket);
  ctes.push(
    {
      name: 'lc_buckets',
      body: sql`SELECT uid, bucket, bool_or(in_range) OR bucket = ${param.bigint(p.firstBucket - 1)} AS active FROM (${days}) GROUP BY uid, bucket`,
    },
    {
      name: 'lc_seq',
      body: raw(
        'SELECT bucket, active, lag(bucket) OVER w AS pb, lag(active) OVER w AS pa, lead(bucket) OVER w AS nb, lead(active) OVER w AS na FROM lc_buckets WINDOW w AS (PARTITION BY uid ORDER BY bucket)',
      ),
    },
  );
  const select = sql`SELECT status, bucket, count(*) AS n FROM (SELECT CASE WHEN pb IS NULL THEN 0 WHEN pb = bucket - 1 AND pa THEN 1 ELSE 2 END AS status, bucket FROM lc_seq WHERE active AND bucket >= ${first} UNION ALL SELECT 3 AS status, bucket + 1 AS bucket FROM lc_seq WHERE active AND bucket + 1 <= ${param.bigint(p.lastBucket)} AND NOT coalesce(nb = bucket + 1 AND na, FALSE)) GROUP BY status, bucket`;
  return { statements: [{ name: 'lifecycle', sql: withCtes(uniqueCtes(ctes), select) }] };
}

// ---------------------------------------------------------------------------------------------
// Discovery.

function discoveryWhere(
  p: { projectId: string; scope: TimeScope | null },
  event: string | null,
): SqlNode {
  const parts: SqlNode[] = [sql`e.project_id = ${param.varchar(p.projectId)}`];
  if (p.scope) {
    parts.push(
      sql`e.time >= ${param.timestamp(p.scope.scanFromMs)} AND e.time < ${param.timestamp(p.scope.scanToMs)}`,
    );
    parts.push(inRangeCondition(p.scope, localTime(p.scope.clock)));
  }
  parts.push(eventCondition(event));
  return and(parts);
}

function compileEventNames(p: EventNamesPlan): CompiledQuery {
  return {
    statements: [
      {
        name: 'event_names',
        sql: sql`SELECT e.event AS event, count(*) AS n FROM events e WHERE ${discoveryWhere(p, null)} GROUP BY e.event ORDER BY n DESC, e.event LIMIT ${param.bigint(p.limit)}`,
      },
    ],
  };
}

/** The typed columns reported by discovery, in a fixed order (the model's standard columns). */
export const DISCOVERY_COLUMNS = Object.keys(COLUMN_PROPERTY_NAMES) as readonly StandardColumn[];

/**
 * Properties of the most recent events: those at or after the time of the `sampleSize`-th most
 * recent one (all of them when there are fewer). The edge is found first on the time column
 * alone, then bound, so that only the sampled rows are read in full; one statement then counts
 * the typed columns (one row per column, `type` = 'column', plus the sample size as key '') and
 * the JSON keys by type.
 */
function compileEventProperties(p: EventPropertiesPlan): CompiledQuery {
  const where = discoveryWhere(p, p.event);
  const typeName = call('json_type_name', raw('j.type'));
  const columnCounts = DISCOVERY_COLUMNS.map(
    (c) => sql`SELECT '${raw(c)}' AS key, 'column' AS type, count(${ident(c)}) AS n FROM recent`,
  );
  const columns = raw(['e.properties', ...DISCOVERY_COLUMNS.map((c) => `e.${c}`)].join(', '));
  return {
    statements: [
      {
        name: 'edge',
        sql: sql`SELECT ${call('epoch_ms', raw('e.time'))} AS t FROM events e WHERE ${where} ORDER BY e.time DESC LIMIT 1 OFFSET ${param.bigint(p.sampleSize - 1)}`,
      },
      {
        name: 'properties',
        build: (earlier) => {
          const edge = earlier.get('edge')?.rows[0]?.[0];
          const since =
            edge === undefined || edge === null
              ? raw('TRUE')
              : sql`e.time >= ${param.timestamp(Number(edge))}`;
          return withCtes(
            [
              {
                name: 'recent',
                body: sql`SELECT ${columns} FROM events e WHERE ${where} AND ${since}`,
                materialize: true,
              },
            ],
            sql`SELECT '' AS key, 'sampled' AS type, count(*) AS n FROM recent UNION ALL ${join(columnCounts, ' UNION ALL ')} UNION ALL SELECT j.key AS key, ${typeName} AS type, count(*) AS n FROM recent r, ${jsonEach(raw('r.properties'), 'j')} WHERE ${typeName} <> 'null' GROUP BY j.key, ${typeName}`,
          );
        },
      },
    ],
  };
}

function compilePropertyValues(p: PropertyValuesPlan): CompiledQuery {
  const profiles = profileSources(p.projectId, [p.ref]);
  return {
    statements: [
      {
        name: 'values',
        sql: withCtes(
          uniqueCtes(profiles.ctes),
          sql`SELECT v AS value, count(*) AS n FROM (SELECT ${propertyText(p.ref)} AS v FROM events e${profiles.joins} WHERE ${discoveryWhere(p, p.event)}) WHERE v IS NOT NULL GROUP BY v ORDER BY n DESC, v LIMIT ${param.bigint(p.limit)}`,
        ),
      },
    ],
  };
}

/** Compiles a plan into dialect-neutral statements. */
export function compile(p: Plan): CompiledQuery {
  switch (p.kind) {
    case 'trends':
      return compileTrends(p);
    case 'frequency':
      return { statements: frequencyStatements(p, compileFrequencySeries) };
    case 'funnel':
      return compileFunnel(p);
    case 'retention':
      return compileRetention(p);
    case 'event_names':
      return compileEventNames(p);
    case 'event_properties':
      return compileEventProperties(p);
    case 'property_values':
      return compilePropertyValues(p);
    case 'flows':
      return compileFlows(p);
    case 'lifecycle':
      return compileLifecycle(p);
    case 'cohort_size':
      return {
        statements: [{ name: 'size', sql: cohortSizeSql(p.projectId, p.cohortId, p.cohorts) }],
      };
  }
}

// ---------------------------------------------------------------------------------------------
// Frequency (stickiness): per series, users per number of distinct intervals in each period.

/**
 * The statements of a frequency: each series (`series:i`) and, with `compare`, each series of
 * the range before (`previous:series:i`). `series` compiles one series in the store's dialect.
 */
export function frequencyStatements(
  p: FrequencyPlan,
  series: (p: FrequencyPlan, s: PlannedSeries) => SqlNode,
): CompiledStatement[] {
  const of = (plan: FrequencyPlan, prefix: string): CompiledStatement[] =>
    plan.series.map((s) => ({ name: `${prefix}series:${s.index}`, sql: series(plan, s) }));
  return [...of(p, ''), ...(p.previous ? of(p.previous, 'previous:') : [])];
}

/**
 * One frequency series. Rows: period, k (a user's distinct intervals in it) and users (how many
 * users have that k). Events without a resolved user count for nobody. Broken down, the rows
 * (period, interval, value, user) are segmented as trends' unique users are (values ranked by
 * their events, those without a user too; a user counts in each segment they have events in,
 * "other" merging the rest), [seg, seg_value, rank_n] lead each row, and each segment has a row
 * with period NULL (k 0, users 0): a segment whose events have no user is still answered, with
 * zeros, as a trend's unique users answer 0 for it.
 */
function compileFrequencySeries(p: FrequencyPlan, s: PlannedSeries): SqlNode {
  const local = localTime(p.scope.clock);
  const where = sql`${scanCondition(p.projectId, p.scope.scanFromMs, p.scope.scanToMs)} AND ${seriesEventCondition(s)} AND ${inRangeCondition(p.scope, local)} AND ${whereFiltersCondition(s.filters)}`;
  const period = p.per === 'range' ? raw('0') : bucketOf(p.per, local);
  const columns: SqlNode[] = [
    sql`${period} AS period`,
    sql`${bucketOf(p.unit, local)} AS bucket`,
    sql`${RESOLVED_USER} AS uid`,
  ];
  if (p.breakdown) columns.push(sql`${breakdownValue(p.breakdown)} AS bd`);
  const profiles = profileSources(p.projectId, refsOf(s.filters, ...breakdownRefs(p)));
  const byCohort = breakdownCohortSources(p.projectId, p.breakdown, RESOLVED_USER);
  const rows = sql`SELECT ${join(columns, ', ')} FROM events e${profiles.joins}${byCohort.joins} WHERE ${where}`;
  if (!p.breakdown)
    // Each (period, interval, user) once, then each user's intervals per period: about one row
    // per user and active interval is hashed twice, rather than every event by a distinct count.
    return withCtes(
      uniqueCtes(profiles.ctes),
      sql`SELECT period, k, count(*) AS users FROM (SELECT period, uid, count(*) AS k FROM (SELECT DISTINCT period, bucket, uid FROM (${rows}) WHERE uid IS NOT NULL) GROUP BY period, uid) GROUP BY period, k`,
    );
  const [top, seg] = breakdownCtes('base', p.breakdown, raw('sum(n)'));
  return withCtes(
    uniqueCtes([
      ...profiles.ctes,
      ...byCohort.ctes,
      {
        name: 'base',
        body: sql`SELECT period, bucket, bd, uid, count(*) AS n FROM (${rows}) GROUP BY period, bucket, bd, uid`,
        materialize: true,
      },
      top!,
      { ...seg!, materialize: true },
    ]),
    sql`SELECT seg, seg_value, max(rank_n) AS rank_n, period, k, count(*) AS users FROM (SELECT seg, seg_value, max(rank_n) AS rank_n, period, uid, count(*) AS k FROM (SELECT DISTINCT seg, seg_value, rank_n, period, bucket, uid FROM seg WHERE uid IS NOT NULL) GROUP BY seg, seg_value, period, uid) GROUP BY seg, seg_value, period, k UNION ALL SELECT seg, seg_value, max(rank_n) AS rank_n, NULL AS period, 0 AS k, 0 AS users FROM seg GROUP BY seg, seg_value`,
  );
}

// ---------------------------------------------------------------------------------------------
// Cohorts: the members of saved cohorts (cohorts.ts), resolved as every query resolves users.

/** A cohort condition's filter, planned: `person.<key>` or an event property. */
const planned = (f: Filter): PlannedFilter => ({ ...f, ref: resolveProperty(f.property) });

function countCondition(op: CountOp, count: number): SqlNode {
  const n = param.bigint(count);
  const v = raw('coalesce(c.n, 0)');
  return op === 'gte' ? sql`${v} >= ${n}` : op === 'lte' ? sql`${v} <= ${n}` : sql`${v} = ${n}`;
}

function conditionSql(projectId: string, c: CohortCondition, nowMs: number): SqlNode {
  if (c.kind === 'person_property') {
    return sql`SELECT u.uid FROM cohort_users u LEFT JOIN persons pp ON pp.profile_id = u.uid WHERE ${filterCondition(planned(c.filter))}`;
  }
  const from = nowMs - c.withinDays * DAY_MS;
  const counted = sql`SELECT ${RESOLVED_USER} AS uid, count(*) AS n FROM events e ${IDENTITY_JOINS} WHERE e.project_id = ${param.varchar(projectId)} AND e.event = ${param.varchar(c.event)} AND e.time >= ${param.timestamp(from)} AND e.time <= ${param.timestamp(nowMs)} AND ${and(c.filters.map((f) => filterCondition(planned(f))))} GROUP BY 1`;
  // At least (or exactly) N ≥ 1 such events: only users among those counted can qualify, and they
  // are all users of the project's events, so the list of every user (`cohort_users`, a scan of
  // all the project's events) is not needed. With 0 allowed, users without such events qualify.
  if (c.count >= 1 && c.countOp !== 'lte')
    return sql`SELECT c.uid FROM (${counted}) c WHERE c.uid IS NOT NULL AND ${countCondition(c.countOp, c.count)}`;
  return sql`SELECT u.uid FROM cohort_users u LEFT JOIN (${counted}) c ON c.uid = u.uid WHERE ${countCondition(c.countOp, c.count)}`;
}

/**
 * CTEs listing the members of each cohort of `cohorts` as `cohort_members(cohort_id, uid)`
 * (with `links`, `persons` and `cohort_users`, the project's resolved users, that they read).
 * Names match compile.ts's CTEs of the same name and body, so the query's own can be shared.
 */
export function cohortMemberCtes(
  projectId: string,
  cohorts: CohortContext,
): { name: string; body: SqlNode }[] {
  const project = param.varchar(projectId);
  const members = [...cohorts.byId].map(([id, d]) => {
    const parts = d.conditions.map((c) => sql`(${conditionSql(projectId, c, cohorts.nowMs)})`);
    const combined = join(parts, d.match === 'all' ? ' INTERSECT ' : ' UNION ');
    return sql`SELECT ${param.varchar(id)} AS cohort_id, m.uid FROM (${combined}) m`;
  });
  return [
    {
      name: 'links',
      body: sql`SELECT alias_id, canonical_id FROM identity_links WHERE project_id = ${project}`,
    },
    {
      name: 'persons',
      body: sql`SELECT profile_id, properties FROM profiles WHERE project_id = ${project} AND group_key = ''`,
    },
    {
      name: 'cohort_users',
      body: sql`SELECT DISTINCT uid FROM (SELECT ${RESOLVED_USER} AS uid FROM events e ${IDENTITY_JOINS} WHERE e.project_id = ${project}) WHERE uid IS NOT NULL`,
    },
    {
      name: 'cohort_members',
      body:
        members.length === 0
          ? raw('SELECT NULL AS cohort_id, NULL AS uid WHERE FALSE')
          : join(members, ' UNION ALL '),
    },
  ];
}

/**
 * Whether the event's resolved user is in any of the cohorts; never NULL unless `neverNull` is
 * false (then NULL for an event without a resolved user: for the top level of a WHERE clause).
 */
export function cohortMembership(ids: readonly string[], neverNull = true): SqlNode {
  const list = join(
    ids.map((id) => param.varchar(id)),
    ', ',
  );
  const member = sql`${RESOLVED_USER} IN (SELECT uid FROM cohort_members WHERE cohort_id IN (${list}))`;
  return neverNull ? sql`coalesce(${member}, FALSE)` : sql`(${member})`;
}

/** The joins `cohortMembership` reads (after `events e`): the identity relation's. */
export const COHORT_JOINS = IDENTITY_JOINS;

/** One statement: the number of members of one cohort. */
export function cohortSizeSql(projectId: string, id: string, cohorts: CohortContext): SqlNode {
  return withCtes(
    cohortMemberCtes(projectId, cohorts),
    sql`SELECT ${call('count_distinct', raw('uid'))} AS n FROM cohort_members WHERE cohort_id = ${param.varchar(id)}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Flows: each user's events in one total order (time in ms, then the text of the dedup key), the
// first anchor event inside the range, and the events `steps` places after (or before) it. Rows
// are (step, previous event, event, users); the format stage keeps the top events per step.
//
// Where the time goes at 10M events (EXPLAIN ANALYZE): one join of the events to the anchor users
// and a top-n per user; everything else must stay small. So:
// - the anchors are one row per user: the first anchor millisecond, numbered (`ai`), so that the
//   top-n groups by an integer. Only `ai` leaves the join: the person's text and the anchor's
//   millisecond are joined back to the kept rows (one per anchor) after the top-n (carried through the join
//   of 4M rows as `any_value` they cost ~7 % of the statement's CPU, and as group keys more);
// - with the per-day rollups built and current (store/duckdb/rollups.ts), the anchors come from
//   `person_event_days` (each person's first instant per name and local day: the same first
//   anchor) and the names from `event_days`, instead of two more scans of every event;
// - the join reads person, time and event only, bounded by the anchor's millisecond on the raw
//   column (`e.time >= tlo`: no function per probed row; stored times are whole milliseconds, and
//   for any time after 1970 the bound is exactly `epoch_ms(e.time) >= ta`);
// - per user it keeps the `steps + 2` nearest events as one BIGINT each, with DuckDB's plain top-n
//   (`min(x, n + 1)`: ~3× cheaper per row than `min_by(event, time, n)` beside a second top-n of
//   the times, which it replaced): the event's distance in ms from the range's edge on the path's
//   side (never negative: the path lies past that edge) in the high 39 bits, clamped at 2^39 - 1
//   (~17 years), and a 24-bit code of its name (the top bits of its 64-bit hash) in the low 24.
//   The kept values sort by time, then code, and hold the path's times and names. No dedup key:
//   reading it costs 16 bytes an event, and its text ~100× more. Aggregate states live in arenas
//   DuckDB cannot spill: with the names themselves in the heap, 230k anchors at 30M events held
//   ~250 MB and the query ran out of memory at the default limit;
// - the codes are named at the end from the names in the window (or a superset: from the
//   rollups, whole local days; more names can only mark more codes shared). A code two names share
//   (`names.k > 1`; about D²/2^25 for D names: 1 in 20,000 for 40 names) would merge them, so a
//   user whose kept path holds one takes the exact pass below;
// - a clamped distance (an event ~17 years from the range's edge) keeps its place after every
//   nearer event, so a path with one clamped event, necessarily last, is right; two clamped ones
//   tie (next point). Their times are unknown: the exact pass's span is then unbounded;
// - when the kept distances are all different (every user, normally), the order is the time's
//   alone and the anchor is the only event of its millisecond: the path is the kept list. Any
//   equal times (another event in the anchor's millisecond, before or after it by key; equal times
//   inside the list or across its end) send the user to an exact ordered pass over its events in
//   a span that holds its path: from the anchor's millisecond to the `steps`-th time strictly
//   beyond it among the kept ones (unbounded if they do not reach it). Raw-time bounds in that
//   join let DuckDB skip the row groups outside the spans (the table is in time order), so with
//   no such user it costs nothing, and with a few, a few row groups;
// - the rows per step are one small GROUP BY each over the paths (a lateral generate_series over
//   them cost more than the whole join), the coded ones named after counting.

/**
 * The text of a dedup key (UHUGEINT) as DuckDB's VARCHAR cast spells it, ~100× cheaper (the one
 * user's stream orders same-instant events by it too: src/query/users.ts).
 */
export const dedupText = (key: string): SqlNode => raw(`CAST(CAST(${key} AS BIGNUM) AS VARCHAR)`);

/** Low bits of a flows path key holding its event's name code (compileFlows). */
const FLOW_CODE_BITS = 24;
/** Largest distance in ms a flows path key holds (39 bits); farther ones are clamped to it. */
const FLOW_FAR_MS = 2 ** 39 - 1;

function compileFlows(p: FlowsPlan): CompiledQuery {
  const local = localTime(p.scope.clock);
  const after = p.direction === 'after';
  const n = p.steps + 1;
  const t = call('epoch_ms', raw('e.time'));
  const project = sql`e.project_id = ${param.varchar(p.projectId)}`;
  // Path events may lie outside the range: after it (after), before it (before).
  const window = after
    ? sql`e.time >= ${param.timestamp(p.scope.scanFromMs)}`
    : sql`e.time < ${param.timestamp(p.scope.scanToMs)}`;
  const isAnchor = sql`e.event = ${param.varchar(p.anchor)} AND e.time >= ${param.timestamp(p.scope.scanFromMs)} AND e.time < ${param.timestamp(p.scope.scanToMs)} AND ${inRangeCondition(p.scope, local)}`;
  // The anchor's side, on the raw column: from its millisecond on (after), up to its end (before).
  const fromAnchor = raw(after ? 'e.time >= a.tlo' : 'e.time < a.thi');
  const dir = raw(after ? 'ASC' : 'DESC');
  // The edge the distances are measured from, and an event's distance (>= 0 inside the window).
  const edge = param.bigint(after ? p.scope.scanFromMs : p.scope.scanToMs);
  const distance = after ? sql`${t} - ${edge}` : sql`${edge} - ${t}`;
  const code = raw(`(hash(e.event) >> ${64 - FLOW_CODE_BITS})::BIGINT`);
  const shift = integerLiteral(FLOW_CODE_BITS);
  const mask = integerLiteral(2 ** FLOW_CODE_BITS - 1);
  const farMs = integerLiteral(FLOW_FAR_MS);
  const packed = sql`least(${distance}, ${farMs}) * ${integerLiteral(2 ** FLOW_CODE_BITS)} + ${code}`;
  // Equal distances anywhere among the kept ones (sorted, at most n + 1 of them).
  const tie = join(
    Array.from(
      { length: n },
      (_, i) => sql`coalesce(k.d[${integerLiteral(i + 1)}] = k.d[${integerLiteral(i + 2)}], FALSE)`,
    ),
    ' OR ',
  );
  // The `steps`-th kept distance strictly beyond the anchor's, as a millisecond: the exact pass's
  // far end (NULL: unbounded).
  const farDistance = sql`list_filter(k.d, lambda v: v > k.d[1])[${integerLiteral(n - 1)}]`;
  const far = sql`CASE WHEN ${farDistance} < ${farMs} THEN ${edge} ${raw(after ? '+' : '-')} ${farDistance} END`;
  const span = after
    ? sql`make_timestamptz(ta * 1000) AS lo, coalesce(make_timestamptz((far + 1) * 1000), 'infinity'::TIMESTAMPTZ) AS hi`
    : sql`coalesce(make_timestamptz(far * 1000), '-infinity'::TIMESTAMPTZ) AS lo, make_timestamptz((ta + 1) * 1000) AS hi`;
  // Per kept user, its rows (step, prev, event) by name code, or one row (step -1) naming a user
  // for the exact pass.
  const stepRows = join(
    Array.from(
      { length: n },
      (_, k) =>
        sql`{'step': ${integerLiteral(k)}, 'prev': ${raw(k === 0 ? 'NULL::BIGINT' : `k.p[${k}]`)}, 'event': k.p[${integerLiteral(k + 1)}], 'uid': NULL::VARCHAR, 'ta': NULL::BIGINT, 'far': NULL::BIGINT}`,
    ),
    ', ',
  );
  // Each user's first anchor millisecond, and a superset of the names in the window: from the
  // per-day rollups when the store keeps them current (store/duckdb/rollups.ts), else the events.
  // `person_event_days` holds each person's first instant per name and local day, and its days
  // are the range's (the project's time zone): the same anchors. `event_days`' local days lie
  // within a day of the UTC ones, so one more day on the open side holds every name of the window.
  const firstAnchors = p.rollups
    ? sql`SELECT e.person_id AS uid, min(e.first_ms) AS ta FROM person_event_days e WHERE ${project} AND e.event = ${param.varchar(p.anchor)} AND e.day BETWEEN ${param.bigint(p.scope.fromDay)} AND ${param.bigint(p.scope.toDay)} GROUP BY uid`
    : sql`SELECT ${RESOLVED_USER} AS uid, min(${t}) AS ta FROM events e ${IDENTITY_JOINS} WHERE ${project} AND ${isAnchor} AND ${RESOLVED_USER} IS NOT NULL GROUP BY uid`;
  const pathNames = p.rollups
    ? sql`SELECT DISTINCT e.event FROM event_days e WHERE ${project} AND ${
        after
          ? sql`e.day >= ${param.bigint(Math.floor(p.scope.scanFromMs / DAY_MS) - 1)}`
          : sql`e.day <= ${param.bigint(Math.floor(p.scope.scanToMs / DAY_MS) + 1)}`
      }`
    : sql`SELECT DISTINCT e.event FROM events e WHERE ${project} AND ${window}`;
  const key = dedupText('e.dedup_key');
  const exactSteps = join(
    Array.from(
      { length: n },
      (_, k) =>
        sql`SELECT ${integerLiteral(k)} AS step, ${raw(k === 0 ? 'NULL::VARCHAR' : `p[${k}]`)} AS prev, p[${integerLiteral(k + 1)}] AS event, count(*) AS users FROM exact WHERE len(p) > ${integerLiteral(k)} GROUP BY ALL`,
    ),
    ' UNION ALL ',
  );
  return {
    statements: [
      {
        name: 'flows',
        sql: withCtes(
          [
            linksCte(p.projectId),
            {
              name: 'anchors',
              body: sql`SELECT row_number() OVER () AS ai, uid, ta, make_timestamptz(ta * 1000) AS tlo, make_timestamptz((ta + 1) * 1000) AS thi FROM (${firstAnchors})`,
              materialize: true,
            },
            {
              // The names the paths can hold, by code; `k` names share a code when above 1.
              name: 'names',
              body: sql`SELECT c, count(*) AS k, any_value(event) AS event FROM (SELECT ${raw(`(hash(event) >> ${64 - FLOW_CODE_BITS})::BIGINT`)} AS c, event FROM (${pathNames})) GROUP BY c`,
              materialize: true,
            },
            {
              name: 'shared',
              body: sql`SELECT coalesce(list(c), []) AS cs FROM names WHERE k > 1`,
            },
            {
              // Per anchor: the kept distances (sorted) and the path's codes. The anchor's user and
              // millisecond ride along, so that `ties` reads them from `stepped`: joined back to
              // `anchors` instead, DuckDB misjudged the side to build in `exact`'s join and hashed
              // every event (10M) to probe a handful of users: 3-4.5 s.
              name: 'kept',
              body: sql`SELECT a.uid, a.ta, list_transform(g.x, lambda v: v >> ${shift}) AS d, list_transform(g.x[1:${integerLiteral(n)}], lambda v: v & ${mask}) AS p FROM anchors a JOIN (SELECT a.ai, min(${packed}, ${integerLiteral(n + 1)}) AS x FROM events e ${IDENTITY_JOINS} JOIN anchors a ON a.uid = ${RESOLVED_USER} AND ${fromAnchor} WHERE ${project} AND ${window} GROUP BY a.ai) g ON g.ai = a.ai`,
            },
            {
              // Read once, so that `kept` is never materialised (DuckDB could not spill it): what
              // is kept is its counts and the anchors of the exact pass.
              name: 'stepped',
              body: sql`SELECT s.step, s.prev, s.event, count(*) AS users, s.uid, s.ta, s.far FROM (SELECT unnest(CASE WHEN ${tie} OR list_has_any(k.p, h.cs) THEN [{'step': -1, 'prev': NULL::BIGINT, 'event': NULL::BIGINT, 'uid': k.uid, 'ta': k.ta, 'far': ${far}}] ELSE [${stepRows}] END, recursive := true) FROM kept k, shared h) s WHERE s.step < 0 OR s.event IS NOT NULL GROUP BY ALL`,
              materialize: true,
            },
            {
              name: 'ties',
              body: sql`SELECT uid, ta, ${span} FROM stepped WHERE step < 0`,
            },
            {
              name: 'exact',
              body: sql`SELECT list_transform(l[pos:pos + ${integerLiteral(n - 1)}], lambda x: x.e) AS p FROM (SELECT l, list_position(list_transform(l, lambda x: x.k), ka) AS pos FROM (SELECT list({'k': ${key}, 'e': e.event} ORDER BY ${t} ${dir}, ${key} ${dir}) AS l, min(${key}) FILTER (WHERE ${isAnchor} AND ${t} = a.ta) AS ka FROM events e ${IDENTITY_JOINS} JOIN ties a ON a.uid = ${RESOLVED_USER} AND e.time >= a.lo AND e.time < a.hi WHERE ${project} AND ${window} GROUP BY a.uid))`,
            },
          ],
          sql`SELECT c.step, pn.event AS prev, en.event AS event, c.users FROM stepped c LEFT JOIN names pn ON pn.c = c.prev JOIN names en ON en.c = c.event WHERE c.step >= 0 UNION ALL ${exactSteps}`,
        ),
      },
    ],
  };
}
