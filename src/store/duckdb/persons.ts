// The resolved person of each event, kept in `events.person_id` so that queries read one column
// instead of joining the identity links for every event (issue 12, performance).
//
// The rule (the query engine's and the reference evaluator's): the event's user id when it has
// one, else the canonical id its device id is linked to, else the one its distinct id is linked
// to, else its distinct id; NULL when the event carries no identity at all. Links are first-wins
// and only ever added, except by an erasure, which deletes them. So a row's person changes only
// when it is inserted (NULL until resolved) or when one of its identifiers gains or loses a link;
// `refreshPersons` recomputes exactly those rows, inside the caller's transaction, so a query
// never sees events and links that disagree.
import type { DuckDBConnection } from '@duckdb/node-api';

/** The rule over `events e` with `identity_links` joined as l1 (device id) and l2 (distinct id). */
export const PERSON_OF_EVENT =
  "coalesce(nullif(e.user_id, ''), l1.canonical_id, l2.canonical_id, nullif(e.distinct_id, ''))";

/** `identity_links` joined to `events e` for PERSON_OF_EVENT. */
export const PERSON_LINK_JOINS =
  'LEFT JOIN identity_links l1 ON l1.project_id = e.project_id AND l1.alias_id = e.device_id ' +
  'LEFT JOIN identity_links l2 ON l2.project_id = e.project_id AND l2.alias_id = e.distinct_id';

/** Rows not resolved yet, and (with `touched`) rows that may read a link that came or went. */
function refreshSql(touched: boolean): string {
  const stale = touched
    ? ` OR e.person_id IN (SELECT id FROM staging_touched_ids)` +
      ` OR (nullif(e.user_id, '') IS NULL AND (e.device_id IN (SELECT id FROM staging_touched_ids)` +
      ` OR e.distinct_id IN (SELECT id FROM staging_touched_ids)))`
    : '';
  return `UPDATE events SET person_id = r.uid
    FROM (SELECT e.dedup_key, ${PERSON_OF_EVENT} AS uid FROM events e ${PERSON_LINK_JOINS}
           WHERE e.person_id IS NULL${stale}) r
   WHERE events.dedup_key = r.dedup_key AND events.person_id IS DISTINCT FROM r.uid`;
}

/**
 * Brings `events.person_id` up to date, inside the caller's transaction: every row not resolved
 * yet, and every row whose identifiers (or current person) are among `touchedIds` — the alias
 * ids of links just written or deleted, and erased ids. Returns the rows changed.
 */
export async function refreshPersons(
  c: DuckDBConnection,
  touchedIds: readonly string[] = [],
): Promise<number> {
  if (touchedIds.length === 0) return Number((await c.run(refreshSql(false))).rowsChanged);
  await c.run('CREATE TEMP TABLE IF NOT EXISTS staging_touched_ids (id VARCHAR)');
  const appender = await c.createAppender('staging_touched_ids', 'main', 'temp');
  for (const id of new Set(touchedIds)) {
    appender.appendVarchar(id);
    appender.endRow();
  }
  appender.closeSync();
  try {
    return Number((await c.run(refreshSql(true))).rowsChanged);
  } finally {
    await c.run('DELETE FROM staging_touched_ids');
  }
}
