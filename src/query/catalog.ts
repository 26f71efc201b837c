// Catalog check, between the model and the plan: every property a query names must be one the
// project has seen (a standard column; a key some event carries; for `person.` and `group.`, a key
// some profile of that kind carries). An unknown one answers 400 naming it with close matches,
// never a silent zero (DESIGN.md "Query API, second generation"; issue 12: "user.plan" was 0).
import { AppError } from '../shared/errors.js';
import type { CompiledQuery } from './compile.js';
import {
  COHORT_PROPERTY,
  STANDARD_PROPERTIES,
  breakdownProperties,
  isQueryableJsonKey,
  profilePropertyOf,
  type Breakdown,
  type FilterNode,
  type Query,
} from './model.js';
import type { QueryRows } from './rows.js';
import { call, integerLiteral, join, jsonEach, param, raw, sql, type SqlNode } from './sql.js';

/** A property named by a query, and where (the request path, for the error's details). */
export interface NamedProperty {
  name: string;
  path: string;
}

/** Events read for suggestions (the most recent ones): enough to know the common keys. */
const SUGGESTION_SAMPLE = 10_000;

/** Every property a query names, with its path; standard columns left out (always known). */
export function namedProperties(q: Query): NamedProperty[] {
  const out: NamedProperty[] = [];
  const add = (name: string | null | undefined, path: string) => {
    if (name && !Object.hasOwn(STANDARD_PROPERTIES, name)) out.push({ name, path });
  };
  // Cohort filters name cohorts, not a property (the engine checks those ids).
  const filters = (list: readonly FilterNode[], path: string): void =>
    list.forEach((f, i) => {
      if ('any' in f) filters(f.any, `${path}.${i}.any`);
      else if ('all' in f) filters(f.all, `${path}.${i}.all`);
      else if (f.property !== COHORT_PROPERTY) add(f.property, `${path}.${i}.property`);
    });
  // A list's path is the entry's place (a cohort entry may sit among the properties).
  const breakdown = (b: Breakdown | null): void => {
    if (b?.form === 'single') breakdownProperties(b).forEach((name) => add(name, 'breakdown'));
    else
      b?.dimensions.forEach((d, i) => {
        if (d.kind === 'property') add(d.property, `breakdown.${i}`);
      });
  };
  switch (q.kind) {
    case 'trends':
      filters(q.filters, 'filters');
      q.series.forEach((s, i) => {
        add(s.property, `series.${i}.property`);
        add(s.groupKey, `series.${i}.group_key`);
        filters(s.filters, `series.${i}.filters`);
      });
      breakdown(q.breakdown);
      break;
    case 'frequency':
      filters(q.filters, 'filters');
      q.series.forEach((s, i) => filters(s.filters, `series.${i}.filters`));
      breakdown(q.breakdown);
      break;
    case 'funnel':
      filters(q.filters, 'filters');
      q.steps.forEach((s, i) => filters(s.filters, `steps.${i}.filters`));
      q.exclusions.forEach((x, i) => filters(x.filters, `exclusions.${i}.filters`));
      q.holdConstant.forEach((name, i) => add(name, `hold_constant.${i}`));
      breakdown(q.breakdown);
      break;
    case 'retention':
      filters(q.filters, 'filters');
      breakdown(q.breakdown);
      break;
    case 'lifecycle':
      filters(q.filters, 'filters');
      break;
    case 'property_values':
      add(q.property, 'property');
      break;
    case 'event_names':
    case 'event_properties':
    case 'cohort_size':
    case 'flows':
      break;
  }
  return out;
}

/** Whether one property has a value anywhere in the project: events, or profiles of its kind. */
function seenCondition(projectId: string, name: string): SqlNode {
  const profile = profilePropertyOf(name);
  const project = param.varchar(projectId);
  if (profile === null || profile === 'invalid') {
    return sql`EXISTS (SELECT 1 FROM events e WHERE e.project_id = ${project} AND ${call('json_text', raw('e.properties'), param.varchar(name))} IS NOT NULL)`;
  }
  const groupKey = profile.kind === 'person' ? '' : profile.groupKey;
  return sql`EXISTS (SELECT 1 FROM profiles p WHERE p.project_id = ${project} AND p.group_key = ${param.varchar(groupKey)} AND ${call('json_text', raw('p.properties'), param.varchar(profile.key))} IS NOT NULL)`;
}

/** One statement answering, per distinct name (by index `i`), whether it was ever seen. */
export function compileSeen(projectId: string, names: string[]): CompiledQuery {
  const rows = names.map(
    (name, i) => sql`SELECT ${integerLiteral(i)} AS i, ${seenCondition(projectId, name)} AS seen`,
  );
  return { statements: [{ name: 'seen', sql: join(rows, ' UNION ALL ') }] };
}

/**
 * The keys to suggest from: recent events' keys, and every profile key by group key — only keys
 * with a value, as `seenCondition` counts them (a key only ever null was suggested, then refused
 * as unknown when used; ClickHouse, whose key arrays skip nulls, never suggested it).
 */
export function compileKnownKeys(projectId: string): CompiledQuery {
  const project = param.varchar(projectId);
  return {
    statements: [
      {
        name: 'known',
        sql: sql`SELECT DISTINCT NULL AS group_key, j.key AS key FROM (SELECT e.properties FROM events e WHERE e.project_id = ${project} ORDER BY e.time DESC LIMIT ${param.bigint(SUGGESTION_SAMPLE)}) r, ${jsonEach(raw('r.properties'), 'j')} WHERE j.type <> 'NULL' UNION ALL SELECT DISTINCT p.group_key AS group_key, j.key AS key FROM profiles p, ${jsonEach(raw('p.properties'), 'j')} WHERE p.project_id = ${project} AND j.type <> 'NULL'`,
      },
    ],
  };
}

/** The names the `seen` rows say were never seen. */
export function unseenNames(names: string[], seen: QueryRows): Set<string> {
  const known = new Set<number>();
  for (const row of seen.rows) if (row[1] === true) known.add(Number(row[0]));
  return new Set(names.filter((_, i) => !known.has(i)));
}

/** Property names a query may use, from the `known` rows (plus every standard name). */
export function candidateNames(known: QueryRows): string[] {
  const out = new Set<string>(Object.keys(STANDARD_PROPERTIES));
  for (const [groupKey, key] of known.rows as [string | null, string][]) {
    if (groupKey === null) {
      if (isQueryableJsonKey(key)) out.add(key);
    } else out.add(groupKey === '' ? `person.${key}` : `group.${groupKey}.${key}`);
  }
  return [...out];
}

/** Levenshtein distance (insertions, deletions, substitutions), case-insensitive. */
function distance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const row = [i];
    for (let j = 1; j <= t.length; j++)
      row.push(
        Math.min(
          previous[j]! + 1,
          row[j - 1]! + 1,
          previous[j - 1]! + (s[i - 1] === t[j - 1] ? 0 : 1),
        ),
      );
    previous = row;
  }
  return previous[t.length]!;
}

/** Up to three known names close to `name`: nearest first, then alphabetically. */
export function closeMatches(name: string, candidates: string[]): string[] {
  const limit = Math.max(2, Math.floor(name.length / 3));
  return candidates
    .map((c) => ({ c, d: distance(name, c) }))
    .filter(({ c, d }) => d <= limit || c.toLowerCase().endsWith(`.${name.toLowerCase()}`))
    .sort((a, b) => a.d - b.d || (a.c < b.c ? -1 : a.c > b.c ? 1 : 0))
    .slice(0, 3)
    .map(({ c }) => c);
}

/** The 400 for the named properties never seen, each with its close matches. */
export function unknownPropertiesError(unknown: NamedProperty[], candidates: string[]): AppError {
  const details = unknown.map(({ name, path }) => {
    const matches = closeMatches(name, candidates);
    const where = name.startsWith('person.')
      ? 'no person profile of this project has it'
      : name.startsWith('group.')
        ? 'no group profile of that group key has it'
        : 'no event of this project has it';
    return {
      path,
      message: `unknown property "${name}": ${where}${matches.length > 0 ? `; close matches: ${matches.map((m) => `"${m}"`).join(', ')}` : ''}`,
    };
  });
  return new AppError(
    'QUERY_INVALID',
    `invalid query: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`,
    { details },
  );
}

/** Every cohort id a query's filters name, with where (the request path, for the error). */
export function namedCohorts(q: Query): { id: string; path: string }[] {
  const out: { id: string; path: string }[] = [];
  // Inside any/all groups too: an unknown cohort id is refused wherever it is named.
  const filters = (list: readonly FilterNode[], path: string): void =>
    list.forEach((f, i) => {
      if ('any' in f) filters(f.any, `${path}.${i}.any`);
      else if ('all' in f) filters(f.all, `${path}.${i}.all`);
      else if (f.property === COHORT_PROPERTY && 'value' in f && Array.isArray(f.value))
        for (const id of f.value) out.push({ id: String(id), path: `${path}.${i}.value` });
    });
  const breakdown = (b: Breakdown | null): void => {
    b?.dimensions.forEach((d, i) => {
      if (d.kind !== 'cohort') return;
      const path = b.form === 'list' ? `breakdown.${i}.cohort` : 'breakdown.cohort';
      for (const id of d.cohorts) out.push({ id, path });
    });
  };
  switch (q.kind) {
    case 'trends':
    case 'frequency':
      filters(q.filters, 'filters');
      q.series.forEach((s, i) => filters(s.filters, `series.${i}.filters`));
      breakdown(q.breakdown);
      break;
    case 'funnel':
      filters(q.filters, 'filters');
      q.steps.forEach((s, i) => filters(s.filters, `steps.${i}.filters`));
      q.exclusions.forEach((x, i) => filters(x.filters, `exclusions.${i}.filters`));
      breakdown(q.breakdown);
      break;
    case 'retention':
      filters(q.filters, 'filters');
      breakdown(q.breakdown);
      break;
    case 'lifecycle':
      filters(q.filters, 'filters');
      break;
    case 'cohort_size':
      out.push({ id: q.cohort, path: 'cohort' });
      break;
    case 'event_names':
    case 'event_properties':
    case 'property_values':
    case 'flows':
      break;
  }
  return out;
}
