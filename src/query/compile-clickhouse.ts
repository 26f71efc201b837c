// Compile stage for ClickHouse 18.16 (Debian's): the same plans and the same result rows as
// compile.ts, in statement shapes 18.16 can run. It has no CTEs (subqueries are nested instead),
// one JOIN per SELECT and no window functions or GROUPING SETS; so identities and profiles are
// looked up in arrays read once per statement by scalar subqueries (`WITH (SELECT …) AS x`), and
// totals are a second GROUP BY joined by UNION ALL. Values still enter only as bound pieces
// (the ClickHouse dialect renders them through its one escaping function).
import { AppError } from '../shared/errors.js';
import type { CompiledQuery } from './compile.js';
import {
  BREAKDOWN_COHORT_SLOT,
  BREAKDOWN_PART_END,
  BREAKDOWN_PART_NOT_SET,
  DISCOVERY_COLUMNS,
  SEGMENT_NOT_SET,
  SEGMENT_OTHER,
  SEGMENT_VALUE,
  bucketOf,
  dayOf,
  localTime,
  frequencyStatements,
  FUNNEL_OVER_TIME_ROW,
  FUNNEL_QUANTILES,
  trendsStatements,
} from './compile.js';
import { DAY_MS } from './clock.js';
import type { CohortContext, CountOp } from './cohorts.js';
import {
  PERCENTILES,
  isPerUserMath,
  profilePropertyOf,
  type Filter,
  type MathKind,
  type PerUserMath,
} from './model.js';
import {
  breakdownCohortRef,
  isCohortBreakdown,
  isMixedBreakdown,
  plannedLeaves,
  resolveProperty,
} from './plan.js';
import { SDK_BOOKKEEPING_EVENTS } from './sdk-events.js';
import { USER_ALIASES_MAX, USER_EVENT_COLUMNS, type UserStreamStatements } from './users.js';
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
  and as andOrTrue,
  call,
  ident,
  integerLiteral,
  join,
  numberLiteral,
  or,
  param,
  raw,
  sql,
  type SqlNode,
} from './sql.js';

/** `a AND b AND …`, or 1 for none (18.16 has no TRUE). */
const and = (conditions: SqlNode[]): SqlNode =>
  conditions.length === 0 ? raw('1') : andOrTrue(conditions);

/** Events read for the suggestions of an unknown property (as catalog.ts). */
const SUGGESTION_SAMPLE = 10_000;

// ---------------------------------------------------------------------------------------------
// Look-up arrays, read once per statement.

/** What the expressions of one events SELECT need looked up. */
interface Needs {
  links: boolean;
  persons: boolean;
  /** Group slot → group key. */
  groups: Map<number, string>;
}

const noNeeds = (): Needs => ({ links: false, persons: false, groups: new Map() });

function needsOf(refs: (PropertyRef | null | undefined)[], needs = noNeeds()): Needs {
  for (const r of refs) {
    if (!r) continue;
    if (r.kind === 'person') needs.persons = needs.links = true;
    if (r.kind === 'group') needs.groups.set(r.slot, r.groupKey);
    // Membership is of the event's resolved user.
    if (r.kind === 'cohort') needs.links = true;
  }
  return needs;
}

/**
 * Marks around a scalar subquery (`(SELECT …)`) that does not depend on the row: the executor
 * (store/clickhouse/query-executor.ts) runs each one once, innermost first, and puts its value in
 * the statement as a literal before sending it. 18.16 evaluates scalar subqueries while it
 * analyses a statement, and analyses nested ones again at every level: a trends statement with a
 * breakdown and profile look-ups took 2-25 s to analyse on empty tables, 0.25 s once hoisted. NUL
 * cannot occur in rendered text otherwise (the escaping function spells it `\0` in literals).
 */
export const SCALAR_OPEN = '\u0000<';
export const SCALAR_CLOSE = '\u0000>';

/** `(SELECT …) AS name`, marked as a scalar to hoist (see SCALAR_OPEN). */
function scalar(body: SqlNode, name: string): SqlNode {
  return sql`${raw(SCALAR_OPEN)}(${body})${raw(SCALAR_CLOSE)} AS ${ident(name)}`;
}

/**
 * Current profiles of one kind as two flat arrays: (profile id, key) pairs, each spelled
 * `<byte length of the id>:<id><key>` (a one-to-one spelling), and the property's text. Flat
 * because 18.16 fails on an empty Array(Array(String)) from a scalar subquery. Deleted profiles
 * are left out.
 */
function profilesScalar(projectId: string, groupKey: string, name: string): SqlNode {
  return scalar(
    sql`SELECT (groupArray(concat(toString(length(profile_id)), ':', profile_id, key)), groupArray(text)) FROM (SELECT profile_id, argMax(prop_keys, version) AS k, argMax(prop_texts, version) AS t, argMax(deleted, version) AS del FROM profiles WHERE project_id = ${param.varchar(projectId)} AND group_key = ${param.varchar(groupKey)} GROUP BY profile_id) ARRAY JOIN k AS key, t AS text WHERE del = 0`,
    name,
  );
}

/** `WITH …` for the profile look-ups an events SELECT needs (empty when none). */
function scalars(projectId: string, needs: Needs): SqlNode {
  const parts: SqlNode[] = [];
  if (needs.persons) parts.push(profilesScalar(projectId, '', 'persons'));
  for (const [slot, groupKey] of [...needs.groups].sort((a, b) => a[0] - b[0]))
    parts.push(profilesScalar(projectId, groupKey, `grp${slot}`));
  return parts.length === 0 ? raw('') : sql`WITH ${join(parts, ', ')} `;
}

/** The user an alias is linked to, or NULL (`id` may be NULL: then nothing). */
function linkOf(id: string): SqlNode {
  return raw(
    // transform() builds a hash table of the (constant) links once per query: a row costs
    // O(1) instead of indexOf's scan of every link (events × links made unique users time out).
    // '' is "not linked"; the ('' → '') pair keeps the arrays non-empty (18.16 refuses empty ones).
    `if(isNull(${id}), NULL, nullIf(transform(assumeNotNull(${id}), arrayPushBack(tupleElement(links, 1), ''), arrayPushBack(tupleElement(links, 2), ''), ''), ''))`,
  );
}

/** The resolved user of an event (see RESOLVED_USER in compile.ts; the same rule). */
const RESOLVED_USER = sql`coalesce(nullIf(e.user_id, ''), ${linkOf('e.device_id')}, ${linkOf('e.distinct_id')}, nullIf(e.distinct_id, ''))`;

/** A profile's property text: the profile is `id` among the arrays `name`. */
function profileText(name: string, id: SqlNode, key: string): SqlNode {
  const arrays = ident(name);
  // As linkOf: transform() hashes the (constant) spellings once per query, where indexOf scanned
  // every profile property per row. It maps a spelling to its 1-based place, 0 when absent; the
  // ('' → 0) pair keeps the arrays non-empty (no spelling is '').
  const places = sql`arrayPushBack(arrayEnumerate(tupleElement(${arrays}, 1)), 0)`;
  const at = sql`if(isNull(${id}), 0, transform(concat(toString(length(assumeNotNull(${id}))), ':', assumeNotNull(${id}), ${param.varchar(key)}), arrayPushBack(tupleElement(${arrays}, 1), ''), ${places}, 0))`;
  return sql`if(${at} = 0, NULL, tupleElement(${arrays}, 2)[${at}])`;
}

// ---------------------------------------------------------------------------------------------
// Expressions over `events e`.

function propertyText(ref: PropertyRef): SqlNode {
  switch (ref.kind) {
    case 'column':
      return sql`e.${ident(ref.column)}`;
    case 'json':
      return call('json_text', raw('e.properties'), param.varchar(ref.key));
    case 'person':
      // `e.uid`: resolved once per event by the inner SELECT of eventsSelect.
      return profileText('persons', raw('e.uid'), ref.key);
    case 'group':
      return profileText(
        `grp${ref.slot}`,
        call('json_text', raw('e.properties'), param.varchar(ref.groupKey)),
        ref.key,
      );
    case 'cohort':
      // Cohorts are filters only (the model refuses them elsewhere): filterNodeCondition.
      throw new Error('a cohort is a filter, not a value');
  }
}

const propertyNumber = (ref: PropertyRef): SqlNode => call('to_number', propertyText(ref));

/** One filter as a condition that is never NULL (0 or 1). */
function filterCondition(f: PlannedFilter): SqlNode {
  const text = propertyText(f.ref);
  const isTrue = (c: SqlNode): SqlNode => sql`ifNull(${c}, 0)`;
  switch (f.op) {
    case 'eq':
      return isTrue(sql`${text} = ${param.varchar(f.value)}`);
    case 'neq':
      // IS DISTINCT FROM: a missing value differs from every value.
      return sql`(NOT ${isTrue(sql`${text} = ${param.varchar(f.value)}`)})`;
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

function eventCondition(event: string | null): SqlNode {
  return event === null ? raw('1') : sql`e.event = ${param.varchar(event)}`;
}

function inRangeCondition(scope: TimeScope, local: SqlNode): SqlNode {
  if (scope.exact) return raw('1');
  return sql`${dayOf(local)} BETWEEN ${param.bigint(scope.fromDay)} AND ${param.bigint(scope.toDay)}`;
}

function scanCondition(projectId: string, fromMs: number, toMs: number): SqlNode {
  return sql`e.project_id = ${param.varchar(projectId)} AND e.time >= ${param.timestamp(fromMs)} AND e.time < ${param.timestamp(toMs)}`;
}

/**
 * The rows of the project's events in a time window (FINAL: a resent row once), with `uid`, the
 * resolved user, when needed; then `columns` of those that pass `where`, with the profile
 * look-ups. Two levels, so that each expression is written once: 18.16 spends seconds analysing
 * a statement that repeats the identity resolution inside every profile look-up.
 */
function eventsSelect(
  projectId: string,
  needs: Needs,
  scan: SqlNode,
  columns: SqlNode[],
  where: SqlNode,
): SqlNode {
  const inner = needs.links
    ? sql`WITH ${scalar(sql`SELECT (groupArray(alias_id), groupArray(canonical_id)) FROM identity_links FINAL WHERE project_id = ${param.varchar(projectId)}`, 'links')} SELECT e.*, ${RESOLVED_USER} AS uid FROM events AS e FINAL WHERE ${scan}`
    : sql`SELECT e.* FROM events AS e FINAL WHERE ${scan}`;
  return sql`${scalars(projectId, needs)}SELECT ${join(columns, ', ')} FROM (${inner}) AS e WHERE ${where}`;
}

// ---------------------------------------------------------------------------------------------
// Trends.

function valueAggregate(math: MathKind): SqlNode {
  switch (math) {
    case 'total':
      return raw('count()');
    case 'unique_users':
      return call('count_distinct', raw('uid'));
    case 'unique_groups':
      // Distinct group ids (val: the group key property's text).
      return call('count_distinct', raw('val'));
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

/**
 * Rows of `base` with their breakdown segment: `seg` (value, other, not set), `seg_value` and
 * `rank_n` (the value's number of events) for the `limit` best values, ties by value.
 */
function segmented(base: SqlNode, breakdown: PlannedBreakdown): SqlNode {
  const given = breakdown.given;
  // Values an earlier statement gave (compile.ts's trendsStatements), with their ranks there.
  const values = !given
    ? sql`SELECT bd, count() AS rank_n FROM (${base}) WHERE bd IS NOT NULL GROUP BY bd ORDER BY rank_n DESC, bd LIMIT ${param.bigint(breakdown.limit)}`
    : given.length === 0
      ? raw(`SELECT '' AS bd, toUInt64(0) AS rank_n WHERE 0`)
      : join(
          given.map(
            (g) =>
              sql`SELECT ${param.varchar(g.value)} AS bd, toUInt64(${param.bigint(g.rank)}) AS rank_n`,
          ),
          ' UNION ALL ',
        );
  const top = scalar(sql`SELECT (groupArray(bd), groupArray(rank_n)) FROM (${values})`, 'top');
  const at = 'if(isNull(bd), 0, indexOf(tupleElement(top, 1), assumeNotNull(bd)))';
  return sql`WITH ${top} SELECT *, toInt32(multiIf(isNull(bd), ${raw(String(SEGMENT_NOT_SET))}, ${raw(at)} = 0, ${raw(String(SEGMENT_OTHER))}, ${raw(String(SEGMENT_VALUE))})) AS seg, if(${raw(at)} = 0, NULL, bd) AS seg_value, if(${raw(at)} = 0, NULL, tupleElement(top, 2)[${raw(at)}]) AS rank_n FROM (${base})`;
}

/**
 * The segment value of an event for a breakdown by properties (compile.ts's breakdownValue, the
 * same text): one property's text; for a list, NULL when none is set, else each property as the
 * hex of its bytes and a space, or `~` when not set.
 */
function breakdownText(b: PlannedBreakdown): SqlNode {
  if (b.form === 'single') return propertyText(b.ref);
  const parts = b.refs.map((r) => {
    // Combined with a cohort: the properties' part, the cohort's place marked (compile.ts's
    // breakdownPropertyPart); byCohortRows puts the user's cohort there.
    if (r.kind === 'cohort') return param.varchar(BREAKDOWN_COHORT_SLOT);
    const v = propertyText(r);
    return sql`if(isNull(${v}), ${param.varchar(BREAKDOWN_PART_NOT_SET)}, concat(${call('hex', sql`assumeNotNull(${v})`)}, ${param.varchar(BREAKDOWN_PART_END)}))`;
  });
  if (isMixedBreakdown(b)) return sql`concat(${join(parts, ', ')}, '')`;
  const none = and(b.refs.map((r) => sql`isNull(${propertyText(r)})`));
  // concat takes two arguments at least: '' closes a one-property list.
  return sql`if(${none}, CAST(NULL AS Nullable(String)), concat(${join(parts, ', ')}, ''))`;
}

/**
 * The rows of `rows` (a SELECT with the columns `names`, among them `uid`) once per cohort of a
 * cohort breakdown their user is in, its id as `bd`; once with `bd` NULL ("not set") when in
 * none (compile.ts's breakdownCohortSources: the same rows). Combined with properties, `rows`
 * also has `bd`, the properties' part (breakdownText), and `bd` becomes the combination's value
 * (compile.ts's mixedValue: the same text).
 */
function byCohortRows(
  projectId: string,
  b: PlannedBreakdown,
  rows: SqlNode,
  names: readonly string[],
): SqlNode {
  const ref = breakdownCohortRef(b);
  if (!ref) throw new Error('a cohort breakdown has a cohort ref');
  const each = [...new Set(ref.ids)].map(
    (id) =>
      // (18.16 fails on an if() whose two branches are both Nullable: the NULL one is bare.)
      sql`if(ifNull(uid IN (${cohortMembers(projectId, ref.cohorts, [id])}), 0), ${param.varchar(id)}, NULL)`,
  );
  const list = raw(names.join(', '));
  const cohorts = sql`arrayFilter(x -> isNotNull(x), [${join(each, ', ')}]) AS bds0, if(length(bds0) = 0, [CAST(NULL AS Nullable(String))], bds0) AS bds`;
  if (!isMixedBreakdown(b))
    return sql`SELECT ${list}, bd FROM (SELECT ${list}, ${cohorts} FROM (${rows})) ARRAY JOIN bds AS bd`;
  const unset = b.refs
    .map((r) => (r.kind === 'cohort' ? BREAKDOWN_COHORT_SLOT : BREAKDOWN_PART_NOT_SET))
    .join('');
  const part = raw('assumeNotNull(bdp)');
  const cohortPart = sql`if(isNull(bdc), ${param.varchar(BREAKDOWN_PART_NOT_SET)}, concat(${call('hex', raw('assumeNotNull(bdc)'))}, ${param.varchar(BREAKDOWN_PART_END)}))`;
  // (18.16's replaceOne takes a constant replacement: the part is split at its one slot.)
  const value = sql`if(isNull(bdc) AND ${part} = ${param.varchar(unset)}, CAST(NULL AS Nullable(String)), concat(bdps[1], ${cohortPart}, bdps[2]))`;
  return sql`SELECT ${list}, ${value} AS bd FROM (SELECT ${list}, bd AS bdp, splitByChar(${param.varchar(BREAKDOWN_COHORT_SLOT)}, ${part}) AS bdps, ${cohorts} FROM (${rows})) ARRAY JOIN bds AS bdc`;
}

/** A filter entry: `any` groups OR-ed, `all` groups AND-ed, recursively. */
function filterNodeCondition(f: PlannedFilterNode, projectId: string): SqlNode {
  if ('any' in f) return or(f.any.map((x) => filterNodeCondition(x, projectId)));
  if ('all' in f) return and(f.all.map((x) => filterNodeCondition(x, projectId)));
  if (f.ref.kind === 'cohort') {
    const member = sql`ifNull(e.uid IN (${cohortMembers(projectId, f.ref.cohorts, f.ref.ids)}), 0)`;
    return f.op === 'not_in' ? sql`(NOT ${member})` : member;
  }
  return filterCondition(f);
}

/** A filters list (AND-ed entries) of the project's events as one condition. */
const filtersCondition = (filters: readonly PlannedFilterNode[], projectId: string): SqlNode =>
  and(filters.map((f) => filterNodeCondition(f, projectId)));

/** "Any event" leaves out SDK bookkeeping events unless the series asks for them. */
function seriesEventCondition(s: Pick<PlannedSeries, 'event' | 'includeSdkEvents'>): SqlNode {
  if (s.event !== null || s.includeSdkEvents) return eventCondition(s.event);
  return sql`e.event NOT IN (${join(
    SDK_BOOKKEEPING_EVENTS.map((name) => param.varchar(name)),
    ', ',
  )})`;
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
 * A per-user series over `rows` (uid, bucket and, broken down, the segment columns): each user's
 * events per bucket and over the range, aggregated over users (compile.ts's perUserSelect). Rows
 * without a user keep their bucket alive with a NULL count, which the aggregates skip.
 */
function perUserSeries(math: PerUserMath, rows: SqlNode, breakdown: boolean): SqlNode {
  const keys = breakdown ? 'seg, seg_value, ' : '';
  const rank = breakdown ? 'any(rank_n) AS rank_n, ' : '';
  const counted = (by: string) =>
    sql`SELECT ${raw(keys)}${raw(rank)}${raw(by)}uid, if(isNull(uid), NULL, count()) AS un FROM (${rows}) GROUP BY ${raw(keys)}${raw(by)}uid`;
  const value = perUserAggregate(math);
  const segment = raw(`${keys}${rank}`);
  // Without a breakdown the total has no key to group by: HAVING keeps "no rows" as no row (an
  // aggregate of nothing would be 0 or nan, where DuckDB has no row).
  const totalGroup = breakdown ? raw(' GROUP BY seg, seg_value') : raw(' HAVING count() > 0');
  return sql`SELECT ${segment}0 AS is_total, toNullable(bucket) AS bucket, ${value} AS value FROM (${counted('bucket, ')}) GROUP BY ${raw(keys)}bucket UNION ALL SELECT ${segment}1 AS is_total, CAST(NULL AS Nullable(Int64)) AS bucket, ${value} AS value FROM (${counted('')})${totalGroup}`;
}

function compileSeries(p: TrendsPlan, s: TrendsPlan['series'][number]): SqlNode {
  if (s.active) return compileActiveSeries(p, s, s.active);
  const local = localTime(p.scope.clock);
  const scan = sql`${scanCondition(p.projectId, p.scope.scanFromMs, p.scope.scanToMs)} AND ${seriesEventCondition(s)}`;
  const where = sql`${inRangeCondition(p.scope, local)} AND ${filtersCondition(s.filters, p.projectId)}`;
  // Cohorts (alone or combined with properties) are the user's: every series reads the user.
  const byCohort = isCohortBreakdown(p.breakdown) || isMixedBreakdown(p.breakdown);
  const needs = needsOf([
    ...plannedLeaves(s.filters).map((f) => f.ref),
    s.value,
    ...(p.breakdown?.refs ?? []),
  ]);
  const columns: SqlNode[] = [sql`toInt64(${bucketOf(p.unit, local)}) AS bucket`];
  const names = ['bucket'];
  if (p.breakdown && !isCohortBreakdown(p.breakdown))
    columns.push(sql`${breakdownText(p.breakdown)} AS bd`);
  const perUser = isPerUserMath(s.math) ? s.math : null;
  if (s.math === 'unique_users' || perUser || byCohort) {
    needs.links = true;
    columns.push(raw('e.uid AS uid'));
    names.push('uid');
  }
  if (s.math === 'unique_groups' && s.value) {
    columns.push(sql`${propertyText(s.value)} AS val`);
    names.push('val');
  } else if (s.math !== 'total' && s.math !== 'unique_users' && !perUser && s.value) {
    columns.push(sql`${propertyNumber(s.value)} AS val`);
    names.push('val');
  }
  let base = eventsSelect(p.projectId, needs, scan, columns, where);
  if (p.breakdown && byCohort) base = byCohortRows(p.projectId, p.breakdown, base, names);
  if (perUser) {
    return perUserSeries(perUser, p.breakdown ? segmented(base, p.breakdown) : base, !!p.breakdown);
  }
  const value = valueAggregate(s.math);
  if (!p.breakdown) {
    return sql`SELECT 0 AS is_total, toNullable(bucket) AS bucket, ${value} AS value FROM (${base}) GROUP BY bucket UNION ALL SELECT 1 AS is_total, CAST(NULL AS Nullable(Int64)) AS bucket, ${value} AS value FROM (${base})`;
  }
  const seg = segmented(base, p.breakdown);
  return sql`SELECT seg, seg_value, any(rank_n) AS rank_n, 0 AS is_total, toNullable(bucket) AS bucket, ${value} AS value FROM (${seg}) GROUP BY seg, seg_value, bucket UNION ALL SELECT seg, seg_value, any(rank_n) AS rank_n, 1 AS is_total, CAST(NULL AS Nullable(Int64)) AS bucket, ${value} AS value FROM (${seg}) GROUP BY seg, seg_value`;
}

/**
 * weekly_active / monthly_active (compile.ts's compileActiveSeries: the same rows): resolved
 * users per local day, read from the window before `from` on; then each bucket's window, listed
 * as (is_total, bucket, end day) tuples and joined by ARRAY JOIN (18.16: one JOIN per SELECT),
 * counts the distinct users of its days. A window without users has no row, as on DuckDB.
 * Broken down, the events are segmented as other series' (ranked by their events over the days
 * read, those without a user too) and each segment's users counted per window.
 */
function compileActiveSeries(
  p: TrendsPlan,
  s: TrendsPlan['series'][number],
  active: NonNullable<TrendsPlan['series'][number]['active']>,
): SqlNode {
  const scope = active.scope;
  const local = localTime(scope.clock);
  const b = p.breakdown;
  const byCohort = isCohortBreakdown(b) || isMixedBreakdown(b);
  const scan = sql`${scanCondition(p.projectId, scope.scanFromMs, scope.scanToMs)} AND ${seriesEventCondition(s)}`;
  // Broken down, events without a user rank their segment (as for unique users) and count no one.
  const where = sql`${inRangeCondition(scope, local)} AND ${filtersCondition(s.filters, p.projectId)}${b ? raw('') : raw(' AND e.uid IS NOT NULL')}`;
  const needs = needsOf([...plannedLeaves(s.filters).map((f) => f.ref), ...(b?.refs ?? [])]);
  needs.links = true;
  const columns = [sql`toInt64(${dayOf(local)}) AS day`, raw('e.uid AS uid')];
  if (b && !isCohortBreakdown(b)) columns.push(sql`${breakdownText(b)} AS bd`);
  let days = eventsSelect(p.projectId, needs, scan, columns, where);
  if (b && byCohort) days = byCohortRows(p.projectId, b, days, ['day', 'uid']);
  const ends = join(
    active.ends.map(
      (e) =>
        sql`(toInt64(${integerLiteral(e.bucket === null ? 1 : 0)}), toInt64(${integerLiteral(e.bucket ?? 0)}), toInt64(${integerLiteral(e.endDay)}))`,
    ),
    ', ',
  );
  const span = integerLiteral(active.windowDays - 1);
  const windows = (keys: string, rows: SqlNode): SqlNode =>
    sql`SELECT ${raw(keys)}toUInt8(tupleElement(w, 1)) AS is_total, if(is_total = 1, CAST(NULL AS Nullable(Int64)), toNullable(tupleElement(w, 2))) AS bucket, ${call('count_distinct', raw('uid'))} AS value FROM (${rows}) ARRAY JOIN [${ends}] AS w WHERE day BETWEEN tupleElement(w, 3) - ${span} AND tupleElement(w, 3) GROUP BY ${raw(keys)}is_total, bucket`;
  // A window as long as the days read (cumulative unique users) holds every day of a user: their
  // first day alone says which windows count them (compile.ts activeUsersPerWindow).
  const oneSpan = scope.toDay - scope.fromDay + 1 <= active.windowDays;
  // Rows (day, uid), led by the segment when broken down: (`min(day) AS day` would be a cyclic
  // alias on 18.16).
  const perUser = (bySegment: boolean, rows: SqlNode): SqlNode => {
    const keys = raw(bySegment ? 'seg, seg_value, ' : '');
    const rank = raw(bySegment ? 'any(rank_n) AS rank_n, ' : '');
    return oneSpan
      ? sql`SELECT ${keys}${raw(bySegment ? 'rank_n, ' : '')}first_day AS day, uid FROM (SELECT ${keys}${rank}min(day) AS first_day, uid FROM (${rows}) GROUP BY ${keys}uid)`
      : sql`SELECT ${keys}${rank}day, uid FROM (${rows}) GROUP BY ${keys}day, uid`;
  };
  if (!b) return windows('', perUser(false, days));
  const perDay = perUser(true, segmented(days, b));
  // rank_n is one per segment: grouped by, it stays in the row. A segment whose events have no
  // user keeps its row (0), as on DuckDB.
  return sql`${windows('seg, seg_value, rank_n, ', sql`SELECT * FROM (${perDay}) WHERE isNotNull(uid)`)} UNION ALL SELECT seg, seg_value, rank_n, toUInt8(1) AS is_total, CAST(NULL AS Nullable(Int64)) AS bucket, toUInt64(0) AS value FROM (${perDay}) GROUP BY seg, seg_value, rank_n HAVING countIf(isNotNull(uid)) = 0`;
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
        sql: sql`SELECT event, n FROM (SELECT e.event AS event, count() AS n FROM events AS e FINAL WHERE ${discoveryWhere(p, null)} GROUP BY e.event) ORDER BY n DESC, event LIMIT ${param.bigint(p.limit)}`,
      },
    ],
  };
}

function compileEventProperties(p: EventPropertiesPlan): CompiledQuery {
  const where = discoveryWhere(p, p.event);
  return {
    statements: [
      {
        name: 'edge',
        sql: sql`SELECT e.time AS t FROM events AS e FINAL WHERE ${where} ORDER BY e.time DESC LIMIT ${param.bigint(p.sampleSize - 1)}, 1`,
      },
      {
        name: 'properties',
        build: (earlier) => {
          const edge = earlier.get('edge')?.rows[0]?.[0];
          const since =
            edge === undefined || edge === null
              ? raw('1')
              : sql`e.time >= ${param.timestamp(Number(edge))}`;
          const recent = sql`SELECT e.prop_keys AS prop_keys, e.prop_types AS prop_types, ${raw(DISCOVERY_COLUMNS.map((c) => `e.${c} AS ${c}`).join(', '))} FROM events AS e FINAL WHERE ${where} AND ${since}`;
          const counts = DISCOVERY_COLUMNS.map(
            (c) => `'${c}' AS key, 'column' AS type, count(${c}) AS n`,
          );
          const parts: SqlNode[] = [
            sql`SELECT '' AS key, 'sampled' AS type, count() AS n FROM (${recent})`,
            ...counts.map((c) => sql`SELECT ${raw(c)} FROM (${recent})`),
            sql`SELECT key, type, count() AS n FROM (${recent}) ARRAY JOIN prop_keys AS key, prop_types AS type GROUP BY key, type`,
          ];
          return join(parts, ' UNION ALL ');
        },
      },
    ],
  };
}

function compilePropertyValues(p: PropertyValuesPlan): CompiledQuery {
  const inner = eventsSelect(
    p.projectId,
    needsOf([p.ref]),
    discoveryWhere(p, p.event),
    [sql`${propertyText(p.ref)} AS v`],
    raw('1'),
  );
  return {
    statements: [
      {
        name: 'values',
        sql: sql`SELECT value, n FROM (SELECT v AS value, count() AS n FROM (${inner}) WHERE v IS NOT NULL GROUP BY v) ORDER BY n DESC, value LIMIT ${param.bigint(p.limit)}`,
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Funnels: each user's relevant events as one array sorted by time, read with array functions
// (18.16 has no ASOF join and no window functions). The contract is compile.ts's compileFunnel
// (and reference.ts's funnel): every step-1 event inside the range is an attempt; sequential,
// step k is the first step-k event strictly after step k-1, no later than one window after the
// entry; any order, each later step's first event strictly after the entry within the window,
// their times sorted; held properties must repeat the entry's values; an exclusion drops an
// attempt that did the excluded event strictly between its two steps (or, the second step never
// reached, no later than the window's end); each user counts once with the best attempt (deepest,
// earliest, smaller breakdown value, then earliest at each later step in turn), and once per bucket
// of entry over time. ClickHouse's windowFunnel is not used: it counts one chain per user with its
// own tie and window rules, and has no per-step times, exclusions or held properties.

/** Positions in the per-event tuple `(t, k, in_range, bd, bucket, m1…mn, x1…)`. */
const EV_T = 1;
const EV_K = 2;
const EV_IN_RANGE = 3;
const EV_BD = 4;
const EV_BUCKET = 5;
const evStep = (k: number): number => 5 + k; // k is 1-based
const evExclusion = (steps: number, i: number): number => 5 + steps + i + 1; // i is 0-based

/** `tupleElement(v, i)` of the lambda's event `v`. */
const at = (i: number): string => `tupleElement(v, ${i})`;

/**
 * `lambdaCall` (an array function whose lambda reads the columns `names`) as 0 when any of them
 * is NULL. 18.16 does not count a column read only inside a lambda as needed from the subquery
 * below (it prunes it: "Unknown identifier"); naming each outside the lambda keeps it.
 */
function captured(names: string[], lambdaCall: string, prefix = ''): string {
  const guard = names.map((c) => `isNull(${c})`).join(' OR ');
  return `${prefix}if(${guard}, 0, ${lambdaCall})${prefix ? ')' : ''}`;
}

/** The key later steps must share with the entry: the held values, each length-prefixed. */
function heldKey(hold: PropertyRef[]): SqlNode {
  if (hold.length === 0) return raw("''");
  const parts = hold.map((ref) => {
    const v = propertyText(ref);
    return sql`if(isNull(${v}), '-', concat(toString(length(assumeNotNull(${v}))), ':', assumeNotNull(${v})))`;
  });
  return sql`concat(${join(parts, ", '|', ")}${hold.length === 1 ? raw(", ''") : raw('')})`;
}

/** The funnel's attempts: one row per entry (uid, t1, bd, bucket, t2…tn, depth), exclusions out. */
function funnelAttempts(p: FunnelPlan): SqlNode {
  const n = p.steps.length;
  const local = localTime(p.scope.clock);
  const names = [...new Set([...p.steps.map((s) => s.event), ...p.exclusions.map((x) => x.event)])];
  const needs = needsOf([
    ...p.steps.flatMap((s) => plannedLeaves(s.filters).map((f) => f.ref)),
    ...p.exclusions.flatMap((x) => plannedLeaves(x.filters).map((f) => f.ref)),
    ...(p.breakdown?.refs ?? []),
    ...p.holdConstant,
  ]);
  needs.links = true;
  const flags = [
    ...p.steps.map(
      (s) =>
        sql`toUInt8(${eventCondition(s.event)} AND ${filtersCondition(s.filters, p.projectId)})`,
    ),
    ...p.exclusions.map(
      (x) =>
        sql`toUInt8(${eventCondition(x.event)} AND ${filtersCondition(x.filters, p.projectId)})`,
    ),
  ];
  const tuple = [
    raw('e.time'),
    heldKey(p.holdConstant),
    sql`toUInt8(${inRangeCondition(p.scope, local)})`,
    // A cohort breakdown is the user's, not the entry's: added after the best attempt.
    p.breakdown && !isCohortBreakdown(p.breakdown)
      ? breakdownText(p.breakdown)
      : raw('CAST(NULL AS Nullable(String))'),
    p.overTime ? sql`toInt64(${bucketOf(p.overTime.unit, local)})` : raw('toInt64(0)'),
    ...flags,
  ];
  const scan = sql`${scanCondition(p.projectId, p.scope.scanFromMs, p.scope.scanToMs + p.windowMs)} AND e.event IN (${join(
    names.map((name) => param.varchar(name)),
    ', ',
  )})`;
  const events = eventsSelect(
    p.projectId,
    needs,
    scan,
    [raw('e.uid AS uid'), sql`(${join(tuple, ', ')}) AS ev`],
    raw('e.uid IS NOT NULL'),
  );
  const perUser = sql`SELECT uid, arraySort(v -> ${raw(at(EV_T))}, groupArray(ev)) AS evs FROM (${events}) GROUP BY uid`;
  const isEntry = `${at(EV_IN_RANGE)} AND ${at(evStep(1))} AND ${at(EV_T)} < ${p.scope.scanToMs}`;
  let attempts = sql`SELECT uid, evs, tupleElement(en, ${raw(String(EV_T))}) AS t1, tupleElement(en, ${raw(String(EV_K))}) AS k1, tupleElement(en, ${raw(String(EV_BD))}) AS bd, tupleElement(en, ${raw(String(EV_BUCKET))}) AS bucket FROM (${perUser}) ARRAY JOIN arrayFilter(v -> ${raw(isEntry)}, evs) AS en`;
  const w = integerLiteral(p.windowMs);
  const timeAt = (i: string): string => `tupleElement(evs[${i}], ${EV_T})`;
  if (p.order === 'any') {
    // u_k: the first step-k event strictly after the entry, within the window; t1 when none.
    const us: SqlNode[] = [];
    for (let k = 2; k <= n; k++) {
      const i = `i${k}`;
      us.push(
        sql`${raw(captured(['t1', 'k1'], `arrayFirstIndex(v -> ${at(evStep(k))} AND ${at(EV_T)} > t1 AND ${at(EV_K)} = k1, evs)`))} AS ${raw(i)}, if(${raw(i)} = 0, t1, if(${raw(timeAt(i))} <= t1 + ${w}, ${raw(timeAt(i))}, t1)) AS ${raw(`u${k}`)}`,
      );
    }
    const done = `arraySort(arrayFilter(x -> x > t1, [${Array.from({ length: n - 1 }, (_, j) => `u${j + 2}`).join(', ')}]))`;
    const ts = Array.from(
      { length: n - 1 },
      (_, j) =>
        `if(length(done) >= ${j + 1}, toNullable(done[${j + 1}]), CAST(NULL AS Nullable(Int64))) AS t${j + 2}`,
    );
    attempts = sql`SELECT *, ${raw(ts.join(', '))} FROM (SELECT *, ${raw(done)} AS done FROM (SELECT *, ${join(us, ', ')} FROM (${attempts})))`;
  } else {
    for (let k = 2; k <= n; k++) {
      const prev = k === 2 ? 't1' : `t${k - 1}`;
      const i = `i${k}`;
      const first = captured(
        [prev, 't1', 'k1'],
        `arrayFirstIndex(v -> ${at(evStep(k))} AND ${at(EV_T)} > assumeNotNull(${prev}) AND ${at(EV_K)} = k1, evs)`,
      );
      attempts = sql`SELECT *, ${raw(first)} AS ${raw(i)}, if(${raw(i)} = 0, CAST(NULL AS Nullable(Int64)), if(${raw(timeAt(i))} <= t1 + ${w}, toNullable(${raw(timeAt(i))}), NULL)) AS ${raw(`t${k}`)} FROM (${attempts})`;
    }
  }
  // Exclusions: an excluded event (of the user, whatever the held values) strictly after step
  // `after`, and strictly before step `before` or, not reached, no later than the window's end:
  // before `xhi` = t_before, or t1 + window + 1 ms when step `before` was not reached. The bound is
  // a column of its own, never NULL, so that `captured` (which reads a NULL as "nothing matched")
  // keeps an attempt whose step `before` was not reached in the test instead of passing it.
  const bounds = p.exclusions.map(
    (x, i) => `ifNull(t${x.beforeStep + 1}, t1 + ${p.windowMs + 1}) AS xhi${i + 1}`,
  );
  if (bounds.length > 0) attempts = sql`SELECT *, ${raw(bounds.join(', '))} FROM (${attempts})`;
  const dqs = p.exclusions.map((x, i) => {
    const after = `t${x.afterStep + 1}`;
    const hi = `xhi${i + 1}`;
    const flag = at(evExclusion(n, i));
    return raw(
      captured(
        [after, hi],
        `arrayExists(v -> ${flag} AND ${at(EV_T)} > assumeNotNull(${after}) AND ${at(EV_T)} < ${hi}, evs)`,
        `if(isNull(${after}), 0, `,
      ),
    );
  });
  const reached = Array.from({ length: n - 1 }, (_, j) => `isNotNull(t${j + 2})`).join(' + ');
  const stepTimes = Array.from({ length: n - 1 }, (_, j) => `t${j + 2}`).join(', ');
  return sql`SELECT uid, t1, bd, bucket, ${raw(stepTimes)}, toInt64(1 + ${raw(reached)}) AS depth FROM (${attempts}) WHERE ${dqs.length === 0 ? raw('1') : sql`NOT (${join(dqs, ' OR ')})`}`;
}

/** Counts and time-to-convert quantiles of a funnel's rows (`withTimes`: else NULL times). */
function funnelValues(n: number, withTimes: boolean): SqlNode {
  const out: SqlNode[] = [raw('count() AS n1')];
  for (let k = 2; k <= n; k++) out.push(raw(`count(t${k}) AS n${k}`));
  for (let k = 2; k <= n; k++) {
    for (const q of FUNNEL_QUANTILES) {
      for (const [from, tag] of [
        [k - 1, 'prev'],
        [1, 'start'],
      ] as const) {
        const name = raw(`${tag}_${q.name}_${k}`);
        out.push(
          withTimes
            ? sql`toNullable(toFloat64(${call('quantile', raw(`t${k} - t${from}`), numberLiteral(q.fraction))})) AS ${name}`
            : sql`CAST(NULL AS Nullable(Float64)) AS ${name}`,
        );
      }
    }
  }
  return join(out, ', ');
}

function compileFunnel(p: FunnelPlan): CompiledQuery {
  const n = p.steps.length;
  const attempts = funnelAttempts(p);
  // Deepest, earliest, smallest breakdown value, then earliest at step 2, 3, … (compile.ts's `best`).
  const laterSteps = Array.from({ length: n - 1 }, (_, i) => `t${i + 2}`).join(', ');
  const best = sql`SELECT * FROM (${attempts}) ORDER BY uid, depth DESC, t1, bd, ${raw(laterSteps)} LIMIT 1 BY uid`;
  const noSegment = raw(
    'CAST(NULL AS Nullable(Int32)) AS seg, CAST(NULL AS Nullable(String)) AS seg_value, CAST(NULL AS Nullable(UInt64)) AS rank_n',
  );
  const noBucket = raw('CAST(NULL AS Nullable(Int64)) AS bucket');
  const parts: SqlNode[] = [];
  if (p.breakdown) {
    // With cohorts, a user in several of them is in each of their rows (combined with
    // properties, the entry's part is completed by each); "other" has each user once.
    const times = Array.from({ length: n }, (_, i) => `t${i + 1}`);
    const mixed = isMixedBreakdown(p.breakdown);
    const source =
      isCohortBreakdown(p.breakdown) || mixed
        ? byCohortRows(p.projectId, p.breakdown, best, ['uid', ...times])
        : best;
    let seg = segmented(source, p.breakdown);
    if (mixed)
      seg = sql`SELECT DISTINCT uid, ${raw(times.join(', '))}, seg, seg_value, rank_n FROM (${seg})`;
    parts.push(
      sql`SELECT toNullable(seg) AS seg, seg_value, toNullable(toUInt64(any(rank_n))) AS rank_n, toInt32(0) AS is_total, ${noBucket}, ${funnelValues(n, true)} FROM (${seg}) GROUP BY seg, seg_value`,
    );
  }
  parts.push(
    sql`SELECT ${noSegment}, toInt32(1) AS is_total, ${noBucket}, ${funnelValues(n, true)} FROM (${best})`,
  );
  if (p.overTime) {
    const bestPerBucket = sql`SELECT * FROM (${attempts}) ORDER BY uid, bucket, depth DESC, t1 LIMIT 1 BY uid, bucket`;
    parts.push(
      sql`SELECT ${noSegment}, toInt32(${raw(String(FUNNEL_OVER_TIME_ROW))}) AS is_total, toNullable(bucket) AS bucket, ${funnelValues(n, false)} FROM (${bestPerBucket}) GROUP BY bucket`,
    );
  }
  return { statements: [{ name: 'funnel', sql: join(parts, ' UNION ALL ') }] };
}

// ---------------------------------------------------------------------------------------------
// Retention (compile.ts's compileRetention: the same rows). Per user and bucket: whether a start
// event in the range happened there, the first one's time and breakdown value, and whether a
// return event happened; then per user, in one pass and no join, the cohort buckets.
// first_in_range: the bucket of the first start event is the cohort; first_time: the same, only
// when no start event came earlier (the scan then reaches back to the project's first events);
// recurring: every bucket with a start event starts a cohort. Broken down, a cohort's segment is
// the value on its bucket's first start event (of several at that instant, the smallest set
// value), or with cohorts each cohort the user is in.

function compileRetention(p: RetentionPlan): CompiledQuery {
  const local = localTime(p.scope.clock);
  const filters = filtersCondition(p.filters, p.projectId);
  const startMatch = sql`${eventCondition(p.startEvent)} AND ${filters} AND e.time < ${param.timestamp(p.scope.scanToMs)}`;
  const isStart = sql`toUInt8(${startMatch} AND ${inRangeCondition(p.scope, local)} AND e.time >= ${param.timestamp(p.scope.scanFromMs)})`;
  const isReturn = sql`toUInt8(${eventCondition(p.returnEvent)} AND ${filters})`;
  const firstTime = p.retentionType === 'first_time';
  const byProperty = p.breakdown !== null && !isCohortBreakdown(p.breakdown);
  const names = [...new Set([p.startEvent, p.returnEvent])].map((name) => param.varchar(name));
  const needs = needsOf([
    ...plannedLeaves(p.filters).map((f) => f.ref),
    ...(byProperty && p.breakdown ? p.breakdown.refs : []),
  ]);
  needs.links = true;
  // first_time looks at every earlier start event: no lower bound on the scan.
  const scan = firstTime
    ? sql`e.project_id = ${param.varchar(p.projectId)} AND e.time < ${param.timestamp(p.returnScanToMs)}`
    : scanCondition(p.projectId, p.scope.scanFromMs, p.returnScanToMs);
  const events = eventsSelect(
    p.projectId,
    needs,
    sql`${scan} AND e.event IN (${join(names, ', ')})`,
    [
      raw('e.uid AS uid'),
      raw('e.time AS t'),
      sql`toInt64(${bucketOf(p.unit, local)}) AS bucket`,
      sql`${isStart} AS is_start`,
      sql`${isReturn} AS is_return`,
      firstTime ? sql`toUInt8(${startMatch}) AS is_any_start` : raw('toUInt8(0) AS is_any_start'),
      byProperty && p.breakdown
        ? sql`${breakdownText(p.breakdown)} AS bd`
        : raw('CAST(NULL AS Nullable(String)) AS bd'),
    ],
    raw('e.uid IS NOT NULL'),
  );
  // `bfirst`: the first start event of the bucket as (time, value unset, value text): the
  // smallest tuple is the earliest, then a set value before an unset one, then the smallest text.
  const perBucket = sql`SELECT uid, bucket, countIf(is_start = 1) AS bs, minIf(t, is_start = 1) AS bft, minIf((t, isNull(bd), ifNull(bd, '')), is_start = 1) AS bfirst, countIf(is_any_start = 1) AS bas, minIf(t, is_any_start = 1) AS bet, max(is_return) AS bret FROM (${events}) GROUP BY uid, bucket`;
  const users = sql`SELECT uid, sum(bs) AS starts, argMinIf(bucket, bft, bs > 0) AS c, argMinIf(bfirst, bft, bs > 0) AS cfirst, minIf(bft, bs > 0) AS ft, minIf(bet, bas > 0) AS et, groupArrayIf((bucket, bfirst), bs > 0) AS cs, groupArrayIf(bucket, bret = 1) AS rets FROM (${perBucket}) GROUP BY uid HAVING starts > 0${raw(firstTime ? ' AND et = ft' : '')}`;
  // One row per (user, cohort bucket), with the first start event of that bucket.
  const cohortFirsts =
    p.retentionType === 'recurring'
      ? sql`SELECT uid, tupleElement(x, 1) AS c, tupleElement(x, 2) AS f, rets FROM (${users}) ARRAY JOIN cs AS x`
      : sql`SELECT uid, c, cfirst AS f, rets FROM (${users})`;
  const cohorts = sql`SELECT uid, c, rets, if(tupleElement(f, 2) = 1, CAST(NULL AS Nullable(String)), toNullable(tupleElement(f, 3))) AS bd FROM (${cohortFirsts})`;
  const periods = param.bigint(p.periods);
  const totals = sql`SELECT CAST(NULL AS Nullable(Int32)) AS seg, CAST(NULL AS Nullable(String)) AS seg_value, CAST(NULL AS Nullable(UInt64)) AS rank_n, c AS cohort, toInt64(0) AS k, count() AS users FROM (${cohorts}) GROUP BY c UNION ALL SELECT CAST(NULL AS Nullable(Int32)) AS seg, CAST(NULL AS Nullable(String)) AS seg_value, CAST(NULL AS Nullable(UInt64)) AS rank_n, c AS cohort, toInt64(p - c) AS k, count() AS users FROM (${cohorts}) ARRAY JOIN rets AS p WHERE p - c BETWEEN 1 AND ${periods} GROUP BY c, k`;
  if (!p.breakdown) return { statements: [{ name: 'retention', sql: totals }] };
  // Segments ranked by the users they start cohorts for (a user once per cohort period).
  const source =
    byProperty && !isMixedBreakdown(p.breakdown)
      ? cohorts
      : byCohortRows(p.projectId, p.breakdown, cohorts, ['uid', 'c', 'rets']);
  const seg = segmented(source, p.breakdown);
  const segments = sql`SELECT toNullable(seg) AS seg, seg_value, toNullable(toUInt64(max(rank_n))) AS rank_n, c AS cohort, toInt64(0) AS k, ${call('count_distinct', raw('uid'))} AS users FROM (${seg}) GROUP BY seg, seg_value, c UNION ALL SELECT toNullable(seg) AS seg, seg_value, toNullable(toUInt64(max(rank_n))) AS rank_n, c AS cohort, toInt64(p - c) AS k, ${call('count_distinct', raw('uid'))} AS users FROM (${seg}) ARRAY JOIN rets AS p WHERE p - c BETWEEN 1 AND ${periods} GROUP BY seg, seg_value, c, k`;
  return { statements: [{ name: 'retention', sql: sql`${totals} UNION ALL ${segments}` }] };
}

// ---------------------------------------------------------------------------------------------
// Lifecycle (compile.ts's compileLifecycle: the same rows). Per user and bucket, whether they
// were active in it (every bucket before the one before the first folded into one); then, with no
// window functions in 18.16, each user's buckets as one sorted array, each element beside the one
// before and after it, giving its own status and the next bucket's dormant user (two-element
// arrays, ARRAY JOINed; -1: none).

function compileLifecycle(p: LifecyclePlan): CompiledQuery {
  const local = localTime(p.scope.clock);
  const day = dayOf(local);
  const needs = needsOf(plannedLeaves(p.filters).map((f) => f.ref));
  needs.links = true;
  // No lower bound: an event of any earlier time tells that the user was seen before.
  const scan = sql`e.project_id = ${param.varchar(p.projectId)} AND e.time < ${param.timestamp(p.scope.scanToMs)} AND ${seriesEventCondition(p)}`;
  const events = eventsSelect(
    p.projectId,
    needs,
    scan,
    [
      raw('e.uid AS uid'),
      sql`greatest(toInt64(${bucketOf(p.unit, local)}), toInt64(${param.bigint(p.firstBucket - 2)})) AS bucket`,
      sql`toUInt8(${day} >= ${param.bigint(p.scope.fromDay)}) AS in_range`,
    ],
    sql`e.uid IS NOT NULL AND ${day} <= ${param.bigint(p.scope.toDay)} AND ${filtersCondition(p.filters, p.projectId)}`,
  );
  const perBucket = sql`SELECT uid, bucket, toUInt8(max(in_range) = 1 OR bucket = ${param.bigint(p.firstBucket - 1)}) AS active FROM (${events}) GROUP BY uid, bucket`;
  const perUser = sql`SELECT uid, arraySort(groupArray((bucket, active))) AS xs FROM (${perBucket}) GROUP BY uid`;
  const neighbours = raw(
    'SELECT tupleElement(x, 1) AS b, tupleElement(x, 2) AS a, i, length(xs) AS len, tupleElement(xs[i - 1], 1) AS pb, tupleElement(xs[i - 1], 2) AS pa, tupleElement(xs[i + 1], 1) AS nb, tupleElement(xs[i + 1], 2) AS na',
  );
  const own = sql`toInt8(if(a = 1 AND b >= ${param.bigint(p.firstBucket)}, multiIf(i = 1, 0, pb = b - 1 AND pa = 1, 1, 2), -1))`;
  const dormant = sql`toInt8(if(a = 1 AND b + 1 <= ${param.bigint(p.lastBucket)} AND NOT (i < len AND nb = b + 1 AND na = 1), 3, -1))`;
  const outcomes = sql`SELECT [${own}, ${dormant}] AS ss, [b, b + 1] AS bs FROM (${neighbours} FROM (${perUser}) ARRAY JOIN xs AS x, arrayEnumerate(xs) AS i)`;
  return {
    statements: [
      {
        name: 'lifecycle',
        sql: sql`SELECT status, bucket, count() AS n FROM (${outcomes}) ARRAY JOIN ss AS status, bs AS bucket WHERE status >= 0 GROUP BY status, bucket`,
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Flows (compile.ts's compileFlows: the same rows). Each user's events in one total order — time,
// then the decimal text of the 128-bit dedup key, compared as text — as one sorted array; the
// first anchor in it, and the events 0..steps places after (or before) it.

/**
 * Columns computing the decimal text of the dedup key `dedup_hi·2^64 + dedup_lo` as `dk`
 * (18.16 has no 128-bit integers): long division of four 32-bit limbs by 10^9, five times, each
 * intermediate an alias of the same SELECT (so that no expression is repeated), then the nine-digit
 * groups joined without leading zeros.
 */
function dedupTextColumns(hi: string, lo: string): string[] {
  const out: string[] = [];
  let limbs = [
    `bitShiftRight(${hi}, 32)`,
    `bitAnd(${hi}, 4294967295)`,
    `bitShiftRight(${lo}, 32)`,
    `bitAnd(${lo}, 4294967295)`,
  ];
  const digits: string[] = [];
  for (let pass = 0; pass < 5; pass++) {
    let rest = 'toUInt64(0)';
    const quotients: string[] = [];
    limbs.forEach((limb, i) => {
      const cur = `dk_c${pass}_${i}`;
      out.push(`(${rest} * 4294967296 + ${limb}) AS ${cur}`);
      out.push(`intDiv(${cur}, 1000000000) AS dk_q${pass}_${i}`);
      out.push(`(${cur} % 1000000000) AS dk_r${pass}_${i}`);
      quotients.push(`dk_q${pass}_${i}`);
      rest = `dk_r${pass}_${i}`;
    });
    digits.unshift(`substring(toString(1000000000 + ${rest}), 2)`);
    limbs = quotients;
  }
  out.push(
    `if(replaceRegexpOne(concat(${digits.join(', ')}), '^0+', '') = '', '0', replaceRegexpOne(concat(${digits.join(', ')}), '^0+', '')) AS dk`,
  );
  return out;
}

/** A SELECT of the decimal text of (hi, lo) pairs, for the test of dedupTextColumns. */
export function dedupTextProbe(pairs: { hi: string; lo: string }[]): SqlNode {
  const rows = join(
    pairs.map(
      (p, i) =>
        sql`SELECT toInt32(${integerLiteral(i)}) AS i, toUInt64(${param.varchar(p.hi)}) AS hi, toUInt64(${param.varchar(p.lo)}) AS lo`,
    ),
    ' UNION ALL ',
  );
  return sql`SELECT i, dk FROM (SELECT i, ${raw(dedupTextColumns('hi', 'lo').join(', '))} FROM (${rows})) ORDER BY i`;
}

function compileFlows(p: FlowsPlan): CompiledQuery {
  const local = localTime(p.scope.clock);
  const after = p.direction === 'after';
  // Path events may lie outside the range: after it (after), before it (before).
  const window = after
    ? sql`e.time >= ${param.timestamp(p.scope.scanFromMs)}`
    : sql`e.time < ${param.timestamp(p.scope.scanToMs)}`;
  const isAnchor = sql`toUInt8(e.event = ${param.varchar(p.anchor)} AND e.time >= ${param.timestamp(p.scope.scanFromMs)} AND e.time < ${param.timestamp(p.scope.scanToMs)} AND ${inRangeCondition(p.scope, local)})`;
  const needs = noNeeds();
  needs.links = true;
  const inner = sql`WITH ${scalar(sql`SELECT (groupArray(alias_id), groupArray(canonical_id)) FROM identity_links FINAL WHERE project_id = ${param.varchar(p.projectId)}`, 'links')} SELECT e.*, ${RESOLVED_USER} AS uid FROM events AS e FINAL WHERE e.project_id = ${param.varchar(p.projectId)} AND ${window}`;
  const events = sql`SELECT e.uid AS uid, (e.time, dk, e.event, ${isAnchor}) AS ev FROM (SELECT *, ${raw(dedupTextColumns('e.dedup_hi', 'e.dedup_lo').join(', '))} FROM (${inner}) AS e WHERE e.uid IS NOT NULL) AS e`;
  // Each user's events sorted by (time, key text); `arn`, the place of the first anchor.
  const perUser = sql`SELECT uid, seq, arn FROM (SELECT uid, arraySort(groupArray(ev)) AS seq, arrayFirstIndex(v -> tupleElement(v, 4) = 1, seq) AS arn FROM (${events}) GROUP BY uid) WHERE arn > 0`;
  const pos = after ? 'arn + s' : 'arn - s';
  const prevPos = after ? 'arn + s - 1' : 'arn - s + 1';
  return {
    statements: [
      {
        name: 'flows',
        sql: sql`SELECT toInt64(s) AS step, if(s = 0, CAST(NULL AS Nullable(String)), toNullable(tupleElement(seq[${raw(prevPos)}], 3))) AS prev, tupleElement(seq[${raw(pos)}], 3) AS event, count() AS users FROM (${perUser}) ARRAY JOIN range(toUInt64(${param.bigint(p.steps + 1)})) AS s WHERE ${raw(pos)} >= 1 AND ${raw(pos)} <= length(seq) GROUP BY step, prev, event`,
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Cohorts (compile.ts's cohortMemberCtes: the same members). 18.16 has no INTERSECT: each user of
// the project gets one flag per condition in one GROUP BY pass, then the definition combines
// them (all: AND, any: OR).

/** A cohort condition's filter, planned: `person.<key>` or an event property. */
const plannedFilter = (f: Filter): PlannedFilter => ({ ...f, ref: resolveProperty(f.property) });

function countCompare(op: CountOp, value: string, count: number): string {
  if (!Number.isSafeInteger(count)) throw new Error('a cohort count is an integer');
  const operator = op === 'gte' ? '>=' : op === 'lte' ? '<=' : '=';
  return `(${value} ${operator} ${count})`;
}

/** The resolved users (uid) of the project in any of the cohorts `ids`, as a SELECT. */
function cohortMembers(projectId: string, cohorts: CohortContext, ids: readonly string[]): SqlNode {
  const flags: SqlNode[] = [];
  const aggregates: string[] = [];
  const definitions: string[] = [];
  const refs: PropertyRef[] = [];
  for (const id of [...new Set(ids)].sort()) {
    const d = cohorts.byId.get(id);
    if (!d) throw new Error(`cohort ${id} is loaded by the engine before planning`);
    const parts = d.conditions.map((c) => {
      const i = flags.length;
      if (c.kind === 'person_property') {
        const f = plannedFilter(c.filter);
        refs.push(f.ref);
        flags.push(sql`toUInt8(${filterCondition(f)}) AS f${raw(String(i))}`);
        aggregates.push(`max(f${i}) AS a${i}`);
        return `a${i} = 1`;
      }
      const from = cohorts.nowMs - c.withinDays * DAY_MS;
      const planned = c.filters.map(plannedFilter);
      refs.push(...planned.map((f) => f.ref));
      flags.push(
        sql`toUInt8(e.event = ${param.varchar(c.event)} AND e.time >= ${param.timestamp(from)} AND e.time <= ${param.timestamp(cohorts.nowMs)} AND ${and(planned.map(filterCondition))}) AS f${raw(String(i))}`,
      );
      aggregates.push(`sum(f${i}) AS a${i}`);
      return countCompare(c.countOp, `a${i}`, c.count);
    });
    definitions.push(`(${parts.join(d.match === 'all' ? ' AND ' : ' OR ')})`);
  }
  const needs = needsOf(refs);
  needs.links = true;
  const events = eventsSelect(
    projectId,
    needs,
    sql`e.project_id = ${param.varchar(projectId)}`,
    [raw('e.uid AS uid'), ...flags],
    raw('e.uid IS NOT NULL'),
  );
  return sql`SELECT uid FROM (SELECT uid, ${raw(aggregates.join(', '))} FROM (${events}) GROUP BY uid) WHERE ${raw(definitions.length === 0 ? '0' : definitions.join(' OR '))}`;
}

function compileCohortSize(p: Extract<Plan, { kind: 'cohort_size' }>): CompiledQuery {
  return {
    statements: [
      {
        name: 'size',
        sql: sql`SELECT uniqExact(uid) AS n FROM (${cohortMembers(p.projectId, p.cohorts, [p.cohortId])})`,
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Frequency (compile.ts's compileFrequencySeries: the same rows).

/**
 * One frequency series: per period and user the distinct intervals (k), then the users per k.
 * Broken down, the events are segmented as trends' (ranked by their events, those without a
 * user too) and each segment also answers a row with period NULL (k 0, users 0).
 */
function compileFrequencySeries(p: FrequencyPlan, s: PlannedSeries): SqlNode {
  const local = localTime(p.scope.clock);
  const scan = sql`${scanCondition(p.projectId, p.scope.scanFromMs, p.scope.scanToMs)} AND ${seriesEventCondition(s)}`;
  const where = sql`${inRangeCondition(p.scope, local)} AND ${filtersCondition(s.filters, p.projectId)}`;
  const b = p.breakdown;
  const needs = needsOf([...plannedLeaves(s.filters).map((f) => f.ref), ...(b?.refs ?? [])]);
  needs.links = true;
  const period = p.per === 'range' ? raw('0') : bucketOf(p.per, local);
  const columns: SqlNode[] = [
    sql`toInt64(${period}) AS period`,
    sql`toInt64(${bucketOf(p.unit, local)}) AS bucket`,
    raw('e.uid AS uid'),
  ];
  if (b && !isCohortBreakdown(b)) columns.push(sql`${breakdownText(b)} AS bd`);
  let base = eventsSelect(p.projectId, needs, scan, columns, where);
  if (b && (isCohortBreakdown(b) || isMixedBreakdown(b)))
    base = byCohortRows(p.projectId, b, base, ['period', 'bucket', 'uid']);
  const k = call('count_distinct', raw('bucket'));
  if (!b)
    return sql`SELECT period, toInt64(kk) AS k, toInt64(count()) AS users FROM (SELECT period, uid, ${k} AS kk FROM (${base}) WHERE isNotNull(uid) GROUP BY period, uid) GROUP BY period, kk`;
  const seg = segmented(base, b);
  return sql`SELECT seg, seg_value, any(rn) AS rank_n, toNullable(period) AS period, toInt64(kk) AS k, toInt64(count()) AS users FROM (SELECT seg, seg_value, any(rank_n) AS rn, period, uid, ${k} AS kk FROM (${seg}) WHERE isNotNull(uid) GROUP BY seg, seg_value, period, uid) GROUP BY seg, seg_value, period, kk UNION ALL SELECT seg, seg_value, any(rank_n) AS rank_n, CAST(NULL AS Nullable(Int64)) AS period, toInt64(0) AS k, toInt64(0) AS users FROM (${seg}) GROUP BY seg, seg_value`;
}

/**
 * The plan fields each kind's compiler here reads. A field the planner grows later (an option
 * added on the DuckDB side) is refused by name until compiled here, never silently ignored.
 */
const KNOWN_FIELDS: Partial<Record<Plan['kind'], readonly string[]>> = {
  funnel: [
    'kind',
    'projectId',
    'scope',
    'windowMs',
    'steps',
    'breakdown',
    'order',
    'exclusions',
    'holdConstant',
    'overTime',
  ],
  retention: [
    'kind',
    'projectId',
    'scope',
    'unit',
    'periods',
    'firstCohort',
    'lastCohort',
    'returnScanToMs',
    'startEvent',
    'returnEvent',
    'filters',
    'retentionType',
    'breakdown',
  ],
  flows: ['kind', 'projectId', 'scope', 'anchor', 'direction', 'steps', 'maxPaths'],
  lifecycle: [
    'kind',
    'projectId',
    'scope',
    'unit',
    'firstBucket',
    'lastBucket',
    'event',
    'includeSdkEvents',
    'filters',
  ],
  frequency: [
    'kind',
    'projectId',
    'scope',
    'unit',
    'per',
    'periods',
    'series',
    'breakdown',
    'previous',
  ],
};

function refuseUnknownFields(p: Plan): void {
  const known = KNOWN_FIELDS[p.kind];
  if (!known) return;
  // A field left unset (null) asks for nothing; one set to something this compiler does not read
  // would be answered wrongly.
  const unknown = Object.entries(p)
    .filter(([k, v]) => v !== null && v !== undefined && !known.includes(k))
    .map(([k]) => k);
  if (unknown.length > 0)
    throw new AppError(
      'QUERY_UNSUPPORTED',
      `${p.kind} option ${unknown.join(', ')} is not answered on the ClickHouse event store yet`,
    );
}

/**
 * Compiles a plan for ClickHouse 18.16: every query kind, every math and breakdown. What is
 * still refused (501 QUERY_UNSUPPORTED, by name): plan fields this compiler does not read
 * (refuseUnknownFields). The user profile and event stream: CLICKHOUSE_USER_STATEMENTS.
 */
export function compileClickHouse(p: Plan): CompiledQuery {
  refuseUnknownFields(p);
  switch (p.kind) {
    case 'trends':
      return { statements: trendsStatements(p, compileSeries) };
    case 'frequency':
      return { statements: frequencyStatements(p, compileFrequencySeries) };
    case 'event_names':
      return compileEventNames(p);
    case 'event_properties':
      return compileEventProperties(p);
    case 'property_values':
      return compilePropertyValues(p);
    case 'funnel':
      return compileFunnel(p);
    case 'retention':
      return compileRetention(p);
    case 'flows':
      return compileFlows(p);
    case 'lifecycle':
      return compileLifecycle(p);
    case 'cohort_size':
      return compileCohortSize(p);
  }
}

// ---------------------------------------------------------------------------------------------
// Catalog look-ups (see catalog.ts: the same rows).

/** Current profiles of a kind: one row per profile with its keys. */
function currentProfiles(projectId: string, groupKey: string): SqlNode {
  return sql`SELECT profile_id, argMax(prop_keys, version) AS prop_keys, argMax(deleted, version) AS del FROM profiles WHERE project_id = ${param.varchar(projectId)} AND group_key = ${param.varchar(groupKey)} GROUP BY profile_id`;
}

/** Per name (by index): whether some event, or some current profile of its kind, carries it. */
export function compileSeenClickHouse(projectId: string, names: string[]): CompiledQuery {
  const rows = names.map((name, i) => {
    const profile = profilePropertyOf(name);
    const index = integerLiteral(i);
    if (profile === null || profile === 'invalid') {
      return sql`SELECT toInt32(${index}) AS i, toUInt8(count() > 0) AS seen FROM events AS e WHERE e.project_id = ${param.varchar(projectId)} AND has(e.prop_keys, ${param.varchar(name)})`;
    }
    const groupKey = profile.kind === 'person' ? '' : profile.groupKey;
    return sql`SELECT toInt32(${index}) AS i, toUInt8(count() > 0) AS seen FROM (${currentProfiles(projectId, groupKey)}) WHERE del = 0 AND has(prop_keys, ${param.varchar(profile.key)})`;
  });
  return { statements: [{ name: 'seen', sql: join(rows, ' UNION ALL ') }] };
}

/** Keys of recent events (group_key NULL) and of current profiles (their group key). */
export function compileKnownKeysClickHouse(projectId: string): CompiledQuery {
  const project = param.varchar(projectId);
  return {
    statements: [
      {
        name: 'known',
        sql: sql`SELECT DISTINCT CAST(NULL AS Nullable(String)) AS group_key, key FROM (SELECT e.prop_keys AS prop_keys FROM events AS e WHERE e.project_id = ${project} ORDER BY e.time DESC LIMIT ${param.bigint(SUGGESTION_SAMPLE)}) ARRAY JOIN prop_keys AS key UNION ALL SELECT DISTINCT toNullable(group_key) AS group_key, key FROM (SELECT group_key, profile_id, argMax(prop_keys, version) AS prop_keys, argMax(deleted, version) AS del FROM profiles WHERE project_id = ${project} GROUP BY group_key, profile_id) ARRAY JOIN prop_keys AS key WHERE del = 0`,
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// One user (users.ts's DUCKDB_USER_STATEMENTS: the same columns and rows). Events are resolved by
// RESOLVED_USER over the inlined links, as every query here resolves them; ties of an instant
// are ordered by the decimal text of the dedup key (dedupTextColumns), compared as text.

/** The links of the project, as the scalar `links` (see linkOf). */
const linksScalar = (projectId: string): SqlNode =>
  scalar(
    sql`SELECT (groupArray(alias_id), groupArray(canonical_id)) FROM identity_links FINAL WHERE project_id = ${param.varchar(projectId)}`,
    'links',
  );

/**
 * The project's events (FINAL) whose time passes `time`, with their resolved user `uid`; the
 * caller keeps `uid = person`. With `prefilter`, only the events that name one of the person's
 * ids are read whole and resolved: an event resolves to the person only through its user id (the
 * person), its device id or its distinct id (the person or one of their aliases; RESOLVED_USER).
 * The condition is a PREWHERE: the server reads the three id columns, then the rest of a row
 * (properties, URLs, the property arrays: most of its bytes) only in the granules where one of
 * the person's events lies, where it read every row whole and resolved it before. Measured by
 * `npm run bench:query -- --store clickhouse --users` (2–7× faster on 1M demo events).
 *
 * PREWHERE applies before FINAL collapses the copies of a key, so the copies must pass or fail
 * together: they do when they are the same event sent again (a replayed ingest-log segment, an
 * SDK retry). The key covers the distinct id but not the device and user ids: copies that
 * differ there (a client resending an insert id with other ids) are a case where the table
 * already keeps an arbitrary copy (the last merged) and DuckDB the first; with the prefilter, a
 * copy naming this person may be the one read for them.
 */
const resolvedEvents = (
  projectId: string,
  person: string,
  time: SqlNode[],
  prefilter: boolean,
): SqlNode => {
  const project = param.varchar(projectId);
  const who = param.varchar(person);
  const ids = sql`(SELECT alias_id FROM identity_links FINAL WHERE project_id = ${project} AND canonical_id = ${who} UNION ALL SELECT ${who})`;
  const naming = prefilter
    ? sql` PREWHERE e.user_id = ${who} OR e.device_id IN ${ids} OR e.distinct_id IN ${ids}`
    : raw('');
  return sql`WITH ${linksScalar(projectId)} SELECT e.*, ${RESOLVED_USER} AS uid FROM events AS e FINAL${naming} WHERE ${and([sql`e.project_id = ${project}`, ...time])}`;
};

/**
 * The one-user statements; `prefilter` as in resolvedEvents (always on in the compiler: off only
 * for bench/user-stream-clickhouse.ts's same-run baseline).
 */
export function clickHouseUserStatements(prefilter: boolean): UserStreamStatements {
  return {
    link: (projectId, id) =>
      sql`SELECT canonical_id FROM identity_links FINAL WHERE project_id = ${param.varchar(projectId)} AND alias_id = ${param.varchar(id)} LIMIT 1`,

    stats(projectId, person) {
      const who = param.varchar(person);
      const mine = sql`SELECT count() AS n, if(count() = 0, NULL, min(e.time)) AS first_ms, if(count() = 0, NULL, max(e.time)) AS last_ms FROM (${resolvedEvents(projectId, person, [], prefilter)}) AS e WHERE e.uid = ${who}`;
      // Always one row (an aggregate without GROUP BY); NULL when there is no current profile.
      const none = 'count() = 0 OR argMax(deleted, version) = 1';
      const profile = sql`SELECT if(${raw(none)}, NULL, argMax(properties, version)) AS properties, if(${raw(none)}, NULL, argMax(updated_at, version)) AS updated_ms FROM profiles WHERE project_id = ${param.varchar(projectId)} AND group_key = '' AND profile_id = ${who}`;
      return sql`SELECT n, first_ms, last_ms, properties, updated_ms FROM (${mine}) AS s CROSS JOIN (${profile}) AS p`;
    },

    aliases: (projectId, person) =>
      sql`SELECT alias_id FROM identity_links FINAL WHERE project_id = ${param.varchar(projectId)} AND canonical_id = ${param.varchar(person)} ORDER BY alias_id LIMIT ${param.bigint(USER_ALIASES_MAX)}`,

    events(projectId, person, page) {
      const time: SqlNode[] = [];
      if (page.beforeMs !== null) time.push(sql`e.time < ${param.timestamp(page.beforeMs)}`);
      const after: SqlNode[] = [];
      if (page.cursor !== null) {
        const at = param.timestamp(page.cursor.timeMs);
        time.push(sql`e.time <= ${at}`);
        after.push(
          sql`(e.time < ${at} OR (e.time = ${at} AND e.dk < ${param.varchar(page.cursor.key)}))`,
        );
      }
      const mine = sql`SELECT *, ${raw(dedupTextColumns('e.dedup_hi', 'e.dedup_lo').join(', '))} FROM (${resolvedEvents(projectId, person, time, prefilter)}) AS e WHERE e.uid = ${param.varchar(person)}`;
      const columns = USER_EVENT_COLUMNS.map((c) => `e.${c} AS ${c}`).join(', ');
      return sql`SELECT e.time AS t, e.dk AS k, ${raw(columns)}, e.properties AS props FROM (${mine}) AS e WHERE ${and(after)} ORDER BY t DESC, k DESC LIMIT ${param.bigint(page.limit + 1)}`;
    },
  };
}

export const CLICKHOUSE_USER_STATEMENTS: UserStreamStatements = clickHouseUserStatements(true);

/** The ClickHouse compiler as the engine takes it (QueryEngineDeps.compiler). */
export const CLICKHOUSE_COMPILER = {
  compile: compileClickHouse,
  compileSeen: compileSeenClickHouse,
  compileKnownKeys: compileKnownKeysClickHouse,
  userStreams: CLICKHOUSE_USER_STATEMENTS,
};
