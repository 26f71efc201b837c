// Compile stage for ClickHouse 18.16 (Debian's): the same plans and the same result rows as
// compile.ts, in statement shapes 18.16 can run. It has no CTEs (subqueries are nested instead),
// one JOIN per SELECT and no window functions or GROUPING SETS; so identities and profiles are
// looked up in arrays read once per statement by scalar subqueries (`WITH (SELECT …) AS x`), and
// totals are a second GROUP BY joined by UNION ALL. Values still enter only as bound pieces
// (the ClickHouse dialect renders them through its one escaping function).
import { AppError } from '../shared/errors.js';
import type { CompiledQuery } from './compile.js';
import {
  DISCOVERY_COLUMNS,
  SEGMENT_NOT_SET,
  SEGMENT_OTHER,
  SEGMENT_VALUE,
  bucketOf,
  dayOf,
  localTime,
} from './compile.js';
import { PERCENTILES, profilePropertyOf, type MathKind } from './model.js';
import { plannedLeaves } from './plan.js';
import { SDK_BOOKKEEPING_EVENTS } from './sdk-events.js';
import type {
  EventNamesPlan,
  EventPropertiesPlan,
  Plan,
  PlannedBreakdown,
  PlannedFilter,
  PlannedFilterNode,
  PlannedSeries,
  PropertyRef,
  PropertyValuesPlan,
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
    `if(isNull(${id}), NULL, if(indexOf(tupleElement(links, 1), assumeNotNull(${id})) = 0, NULL, tupleElement(links, 2)[indexOf(tupleElement(links, 1), assumeNotNull(${id}))]))`,
  );
}

/** The resolved user of an event (see RESOLVED_USER in compile.ts; the same rule). */
const RESOLVED_USER = sql`coalesce(nullIf(e.user_id, ''), ${linkOf('e.device_id')}, ${linkOf('e.distinct_id')}, nullIf(e.distinct_id, ''))`;

/** A profile's property text: the profile is `id` among the arrays `name`. */
function profileText(name: string, id: SqlNode, key: string): SqlNode {
  const arrays = ident(name);
  const at = sql`if(isNull(${id}), 0, indexOf(tupleElement(${arrays}, 1), concat(toString(length(assumeNotNull(${id}))), ':', assumeNotNull(${id}), ${param.varchar(key)})))`;
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
      throw new AppError(
        'QUERY_UNSUPPORTED',
        'cohort filters are not answered on the ClickHouse event store yet',
      );
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
  const top = scalar(
    sql`SELECT (groupArray(bd), groupArray(rank_n)) FROM (SELECT bd, count() AS rank_n FROM (${base}) WHERE bd IS NOT NULL GROUP BY bd ORDER BY rank_n DESC, bd LIMIT ${param.bigint(breakdown.limit)})`,
    'top',
  );
  const at = 'if(isNull(bd), 0, indexOf(tupleElement(top, 1), assumeNotNull(bd)))';
  return sql`WITH ${top} SELECT *, toInt32(multiIf(isNull(bd), ${raw(String(SEGMENT_NOT_SET))}, ${raw(at)} = 0, ${raw(String(SEGMENT_OTHER))}, ${raw(String(SEGMENT_VALUE))})) AS seg, if(${raw(at)} = 0, NULL, bd) AS seg_value, if(${raw(at)} = 0, NULL, tupleElement(top, 2)[${raw(at)}]) AS rank_n FROM (${base})`;
}

/** A filter entry: `any` groups OR-ed, `all` groups AND-ed, recursively. */
function filterNodeCondition(f: PlannedFilterNode): SqlNode {
  if ('any' in f) return or(f.any.map(filterNodeCondition));
  if ('all' in f) return and(f.all.map(filterNodeCondition));
  return filterCondition(f);
}

/** "Any event" leaves out SDK bookkeeping events unless the series asks for them. */
function seriesEventCondition(s: PlannedSeries): SqlNode {
  if (s.event !== null || s.includeSdkEvents) return eventCondition(s.event);
  return sql`e.event NOT IN (${join(
    SDK_BOOKKEEPING_EVENTS.map((name) => param.varchar(name)),
    ', ',
  )})`;
}

/** The maths this compiler answers; the others are refused, never answered differently. */
const CLICKHOUSE_MATHS: ReadonlySet<MathKind> = new Set([
  'total',
  'unique_users',
  'sum',
  'avg',
  'min',
  'max',
  'p50',
  'p90',
  'p99',
]);

function compileSeries(p: TrendsPlan, s: TrendsPlan['series'][number]): SqlNode {
  if (!CLICKHOUSE_MATHS.has(s.math))
    throw new AppError(
      'QUERY_UNSUPPORTED',
      `math ${s.math} is not answered on the ClickHouse event store yet`,
    );
  const local = localTime(p.scope.clock);
  const scan = sql`${scanCondition(p.projectId, p.scope.scanFromMs, p.scope.scanToMs)} AND ${seriesEventCondition(s)}`;
  const where = sql`${inRangeCondition(p.scope, local)} AND ${and(s.filters.map(filterNodeCondition))}`;
  const needs = needsOf([...plannedLeaves(s.filters).map((f) => f.ref), s.value, p.breakdown?.ref]);
  const columns: SqlNode[] = [sql`toInt64(${bucketOf(p.unit, local)}) AS bucket`];
  if (p.breakdown) columns.push(sql`${propertyText(p.breakdown.ref)} AS bd`);
  if (s.math === 'unique_users') {
    needs.links = true;
    columns.push(raw('e.uid AS uid'));
  } else if (s.math !== 'total' && s.value) {
    columns.push(sql`${propertyNumber(s.value)} AS val`);
  }
  const base = eventsSelect(p.projectId, needs, scan, columns, where);
  const value = valueAggregate(s.math);
  if (!p.breakdown) {
    return sql`SELECT 0 AS is_total, toNullable(bucket) AS bucket, ${value} AS value FROM (${base}) GROUP BY bucket UNION ALL SELECT 1 AS is_total, CAST(NULL AS Nullable(Int64)) AS bucket, ${value} AS value FROM (${base})`;
  }
  const seg = segmented(base, p.breakdown);
  return sql`SELECT seg, seg_value, any(rank_n) AS rank_n, 0 AS is_total, toNullable(bucket) AS bucket, ${value} AS value FROM (${seg}) GROUP BY seg, seg_value, bucket UNION ALL SELECT seg, seg_value, any(rank_n) AS rank_n, 1 AS is_total, CAST(NULL AS Nullable(Int64)) AS bucket, ${value} AS value FROM (${seg}) GROUP BY seg, seg_value`;
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

/**
 * The funnel options of issue 12 (exclusions, any order, held properties, conversion over time)
 * need per-attempt joins this compiler does not write: each is refused by name, so that they stay
 * refused when plain funnels are compiled here.
 */
function refuseFunnelOptions(p: Extract<Plan, { kind: 'funnel' }>): void {
  const used = [
    p.exclusions.length > 0 ? 'exclusions' : null,
    p.order === 'any' ? 'order "any"' : null,
    p.holdConstant.length > 0 ? 'hold_constant' : null,
    p.overTime ? 'conversion_over_time' : null,
  ].filter((x): x is string => x !== null);
  if (used.length > 0)
    throw new AppError(
      'QUERY_UNSUPPORTED',
      `funnel ${used.join(', ')} ${used.length === 1 ? 'is' : 'are'} not answered on the ClickHouse event store yet`,
    );
}

/**
 * Breakdowns by several properties or by cohorts, and retention types other than first_in_range
 * (issue 12), are answered on DuckDB only: refused here by name rather than answered by the
 * first property alone.
 */
function refuseBreakdownOptions(p: Plan): void {
  const breakdown = 'breakdown' in p ? p.breakdown : null;
  if (breakdown && (breakdown.form === 'list' || breakdown.ref.kind === 'cohort'))
    throw new AppError(
      'QUERY_UNSUPPORTED',
      `breakdown by ${breakdown.ref.kind === 'cohort' ? 'cohorts' : 'a list of properties'} is not answered on the ClickHouse event store yet`,
    );
  if (p.kind === 'retention' && p.retentionType !== 'first_in_range')
    throw new AppError(
      'QUERY_UNSUPPORTED',
      `retention_type ${p.retentionType} is not answered on the ClickHouse event store yet`,
    );
}

/**
 * Compiles a plan for ClickHouse 18.16. Funnels and retention are not done yet: they need the
 * per-user ordered scans that compile.ts writes with ASOF joins and window functions, which
 * 18.16 lacks (an array-based form is the way; see notes/clickhouse.md).
 */
export function compileClickHouse(p: Plan): CompiledQuery {
  refuseBreakdownOptions(p);
  switch (p.kind) {
    case 'trends':
      if (p.previous)
        throw new AppError(
          'QUERY_UNSUPPORTED',
          'compare is not answered on the ClickHouse event store yet',
        );
      return {
        statements: p.series.map((s) => ({ name: `series:${s.index}`, sql: compileSeries(p, s) })),
      };
    case 'event_names':
      return compileEventNames(p);
    case 'event_properties':
      return compileEventProperties(p);
    case 'property_values':
      return compilePropertyValues(p);
    case 'funnel':
      refuseFunnelOptions(p);
      throw new AppError(
        'QUERY_UNSUPPORTED',
        'funnel queries are not answered on the ClickHouse event store yet',
      );
    case 'retention':
    case 'cohort_size':
    case 'flows':
      throw new AppError(
        'QUERY_UNSUPPORTED',
        `${p.kind} queries are not answered on the ClickHouse event store yet`,
      );
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

/** The ClickHouse compiler as the engine takes it (QueryEngineDeps.compiler). */
export const CLICKHOUSE_COMPILER = {
  compile: compileClickHouse,
  compileSeen: compileSeenClickHouse,
  compileKnownKeys: compileKnownKeysClickHouse,
};
