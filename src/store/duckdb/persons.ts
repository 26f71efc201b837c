// The resolved person of each event, kept in `events.person_id` so that queries read one column
// instead of joining the identity links for every event (issue 12, performance).
//
// The rule (the query engine's and the reference evaluator's): the event's user id when it has
// one, else the canonical id its device id is linked to, else the one its distinct id is linked
// to, else its distinct id; NULL when the event carries no identity at all. Links are first-wins
// and only ever added, except by an erasure, which deletes them. So a row's person changes only
// when it is inserted or when one of its identifiers gains or loses a link, and the upkeep is
// incremental (issue 16: a full pass per load made a long import slow down as the table grew):
// - a row with a user id gets it as its person when it is inserted (PERSON_AT_INSERT), with no
//   lookup; a row without one is inserted unresolved (NULL) and resolved in the same transaction;
// - a link that is new (its alias had none) changes only rows without a user id whose device id
//   or distinct id is that alias;
// - an erasure deletes links, so it recomputes every row that may have read one of them.
// Each runs inside the caller's transaction, so a query never sees events and links that disagree.
import type { DuckDBConnection } from '@duckdb/node-api';
import type { ProjectRollups } from './rollups.js';

/** The rule over `events e` with `identity_links` joined as l1 (device id) and l2 (distinct id). */
export const PERSON_OF_EVENT =
  "coalesce(nullif(e.user_id, ''), l1.canonical_id, l2.canonical_id, nullif(e.distinct_id, ''))";

/** `identity_links` joined to `events e` for PERSON_OF_EVENT. */
export const PERSON_LINK_JOINS =
  'LEFT JOIN identity_links l1 ON l1.project_id = e.project_id AND l1.alias_id = e.device_id ' +
  'LEFT JOIN identity_links l2 ON l2.project_id = e.project_id AND l2.alias_id = e.distinct_id';

/**
 * The person of a row being inserted, from its own user id (`userId`, an SQL expression): final
 * when it has one, NULL (resolved by `refreshPersons` in the same transaction) otherwise. No
 * lookup, so the insert keeps its order and its first-of-equal-keys-wins dedup.
 */
export const personAtInsert = (userId: string): string => `nullif(${userId}, '')`;

/**
 * The rule for the target row of an `UPDATE events`: the links are looked up per row, so the
 * update reads only the rows its WHERE keeps, never the whole table (as a self-join would).
 */
const PERSON_OF_ROW = `coalesce(nullif(user_id, ''),
    (SELECT l.canonical_id FROM identity_links l
      WHERE l.project_id = events.project_id AND l.alias_id = events.device_id),
    (SELECT l.canonical_id FROM identity_links l
      WHERE l.project_id = events.project_id AND l.alias_id = events.distinct_id),
    nullif(distinct_id, ''))`;

/** Rows without a user id whose device id or distinct id is one of the aliases just linked. */
const LINKED_ROWS = `nullif(user_id, '') IS NULL
     AND ((project_id, device_id) IN (SELECT project_id, id FROM staging_touched_ids)
          OR (project_id, distinct_id) IN (SELECT project_id, id FROM staging_touched_ids))`;
/**
 * The row ids of LINKED_ROWS, found in one scan of the table: the persons before, the update and
 * the persons after each read them by row id instead of matching the aliases against every row
 * again (three scans of the device and distinct ids: at 10M events, most of a load's time while
 * a link arrived in it, issue 12). The set cannot change in between: it depends on the user,
 * device and distinct ids, which no write here changes, and rows keep their row id when updated.
 */
const LINKED_ROW_IDS = 'staging_linked_rows';
const STAGE_LINKED_SQL = `INSERT INTO ${LINKED_ROW_IDS} SELECT rowid FROM events WHERE ${LINKED_ROWS}`;
const OF_LINKED = `rowid IN (SELECT r FROM ${LINKED_ROW_IDS})`;
/** Those resolved before (the others are resolved with the rows not resolved yet, below). */
const RELINKED_SQL = `UPDATE events SET person_id = ${PERSON_OF_ROW}
   WHERE person_id IS NOT NULL AND ${OF_LINKED}`;

/**
 * Rows not resolved yet (`scope`: which rows may be): those just inserted without a user id (and
 * the few whose rule gives NULL). The UPDATE runs only when there is one: with none, it still
 * cost ~1 s on a 1.9M-row table (its lookups are planned whatever the rows), the check ~50 ms.
 */
const anyUnresolvedSql = (scope: string): string =>
  `SELECT 1 FROM events WHERE person_id IS NULL AND ${scope} LIMIT 1`;
const unresolvedSql = (scope: string): string =>
  `UPDATE events SET person_id = ${PERSON_OF_ROW} WHERE person_id IS NULL AND ${scope}`;

/**
 * The rows a load may leave unresolved: its own (`load_seq`, bound as $1: the zone maps of that
 * increasing column skip every earlier row group, where the whole column was read twice per
 * load, ~0.5 s at 10M events), and, with links, the linked rows. An earlier row without a person
 * (no user id, an unlinked device id, an empty distinct id) gets one only from a link on its
 * device or distinct id, which makes it a linked row; an erasure recomputes on its own.
 */
const loadScope = (withLinks: boolean): string =>
  withLinks ? `(load_seq = $1 OR ${OF_LINKED})` : 'load_seq = $1';

/** After an erasure: every row that may have read a deleted link, or names an erased id. */
const erasedRows = (e: string): string =>
  `${e}person_id IS NULL
     OR (${e}project_id, ${e}person_id) IN (SELECT project_id, id FROM staging_touched_ids)
     OR (nullif(${e}user_id, '') IS NULL
         AND ((${e}project_id, ${e}device_id) IN (SELECT project_id, id FROM staging_touched_ids)
              OR (${e}project_id, ${e}distinct_id) IN (SELECT project_id, id FROM staging_touched_ids)))`;
const ERASED_SQL = `UPDATE events SET person_id = r.uid
    FROM (SELECT e.dedup_key, ${PERSON_OF_EVENT} AS uid FROM events e ${PERSON_LINK_JOINS}
           WHERE ${erasedRows('e.')}) r
   WHERE events.dedup_key = r.dedup_key AND events.person_id IS DISTINCT FROM r.uid`;

/** An identifier of a project (an alias just linked, an erased id). */
export interface ProjectId {
  projectId: string;
  id: string;
}

/**
 * Runs `run` with `ids` in `staging_touched_ids`. Ids are per project: the same alias in another
 * project is another person, and its rows are neither read nor rewritten.
 */
async function withTouchedIds<T>(
  c: DuckDBConnection,
  ids: readonly ProjectId[],
  run: () => Promise<T>,
): Promise<T> {
  await c.run(
    'CREATE TEMP TABLE IF NOT EXISTS staging_touched_ids (project_id VARCHAR, id VARCHAR)',
  );
  const appender = await c.createAppender('staging_touched_ids', 'main', 'temp');
  const seen = new Set<string>();
  for (const { projectId, id } of ids) {
    const key = `${projectId}\u0000${id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    appender.appendVarchar(projectId);
    appender.appendVarchar(id);
    appender.endRow();
  }
  appender.closeSync();
  let result: T;
  try {
    result = await run();
  } catch (error) {
    // Keep the statement's own error: in the aborted transaction this DELETE fails too, and the
    // caller's ROLLBACK empties the table.
    await c.run('DELETE FROM staging_touched_ids').catch(() => undefined);
    throw error;
  }
  await c.run('DELETE FROM staging_touched_ids');
  return result;
}

/**
 * Brings `events.person_id` up to date after events and links were added, inside the caller's
 * transaction: the rows of aliases that gained their (first) link, `linkedAliases` (the aliases
 * of links just written that were new; aliases already linked change nothing, as the first link
 * wins), then every row not resolved yet — with `loadSeq`, the number of the load that inserted
 * the new rows, only those and the linked rows can be (see loadScope). Returns the rows written.
 * The persons merged (before and after) are noted for `rollups`, whose caller recomputes them.
 */
export async function refreshPersons(
  c: DuckDBConnection,
  linkedAliases: readonly ProjectId[] = [],
  rollups?: ProjectRollups,
  loadSeq?: number,
): Promise<number> {
  const unresolved = async (): Promise<number> => {
    const [scope, params] =
      loadSeq === undefined
        ? ['TRUE', []]
        : [loadScope(linkedAliases.length > 0), [BigInt(loadSeq)]];
    if ((await c.runAndReadAll(anyUnresolvedSql(scope), params)).getRows().length === 0) return 0;
    return Number((await c.run(unresolvedSql(scope), params)).rowsChanged);
  };
  if (linkedAliases.length === 0) return unresolved();
  return withTouchedIds(c, linkedAliases, async () => {
    await c.run(`CREATE TEMP TABLE IF NOT EXISTS ${LINKED_ROW_IDS} (r BIGINT)`);
    await c.run(STAGE_LINKED_SQL);
    try {
      await rollups?.collect(c, OF_LINKED);
      const changed = Number((await c.run(RELINKED_SQL)).rowsChanged) + (await unresolved());
      // After both: an earlier row without any person (no user id, an unlinked device id, an
      // empty distinct id) gets its first one from a new link through the second update.
      await rollups?.collect(c, OF_LINKED);
      return changed;
    } finally {
      // As in withTouchedIds: after a failure the caller's ROLLBACK empties the table.
      await c.run(`DELETE FROM ${LINKED_ROW_IDS}`).catch(() => undefined);
    }
  });
}

/**
 * Brings `events.person_id` up to date after an erasure deleted events and links, inside the
 * caller's transaction: `erasedIds` are the erased id and the aliases linked to it. Scans the
 * table (an erasure is rare). Returns the rows changed. The persons changed (before and after)
 * are noted for `rollups`, whose caller recomputes them.
 */
export async function refreshPersonsAfterErasure(
  c: DuckDBConnection,
  erasedIds: readonly ProjectId[],
  rollups?: ProjectRollups,
): Promise<number> {
  return withTouchedIds(c, erasedIds, async () => {
    await rollups?.collect(c, erasedRows(''));
    const n = Number((await c.run(ERASED_SQL)).rowsChanged);
    await rollups?.collect(c, erasedRows(''));
    return n;
  });
}
