// Writes of the ingest path into DuckDB, inside a transaction the caller holds: events (straight
// from a log segment file, or from rows), identity links, profile updates and privacy counters.
import {
  DuckDBTimestampTZValue,
  type DuckDBAppender,
  type DuckDBConnection,
} from '@duckdb/node-api';
import type { JsonObject } from '../../shared/json.js';
import { applyProfileOp } from '../profile-ops.js';
import type {
  EventRow,
  IdentityLink,
  PrivacyCountRow,
  ProfileKey,
  ProfileUpdateRow,
} from '../types.js';
import { EVENT_LINE_COLUMNS } from './log-codec.js';
import { personAtInsert, type ProjectId } from './persons.js';

export const tsValue = (ms: number): DuckDBTimestampTZValue =>
  new DuckDBTimestampTZValue(BigInt(Math.round(ms)) * 1000n);

export const tsMs = (value: unknown): number => {
  if (value instanceof DuckDBTimestampTZValue) return Number(value.micros / 1000n);
  if (value instanceof Date) return value.getTime();
  return Number(value);
};

function appendNullable(appender: DuckDBAppender, value: string | null): void {
  if (value === null) appender.appendNull();
  else appender.appendVarchar(value);
}

const profileKeyString = (k: ProfileKey): string =>
  `${k.projectId}\u0000${k.groupKey}\u0000${k.profileId}`;

/**
 * Longest line `read_json` takes, in two steps. Its reader holds buffers sized by this setting
 * while it loads (measured with duckdb_memory() on a 64k-line segment: ~170 MB of allocator memory
 * at 64 MiB, ~75 MB at 16 MiB, DuckDB's own default), so a segment is read with the usual setting
 * first; DuckDB 1.x then accepts lines up to twice it (32 MiB), more than a decoded request body
 * may hold (`SILLAGE_MAX_DECODED_BYTES`, 20 MB by default). A segment with a longer line (a larger
 * configured body limit) is read again with the largest setting, and past that by the JavaScript
 * fallback.
 */
export const READ_JSON_LINE_BYTES = { usual: 16 * 1024 * 1024, largest: 64 * 1024 * 1024 };

// The statements are fixed text: the file name is a bound parameter, the column list and the
// line limit are constants. A load reads its events' keys and times first (staging_keys); when no
// key repeats within the load — nearly always — it inserts straight from the reader those whose
// key is not stored (INSERT_NEW_FROM); otherwise it stages its rows (`staging_events`, in line
// order) and inserts the first of equal keys among the new (INSERT_NEW_SQL).
// The person of a row with a user id is set as it is inserted (persons.ts), from the line's `u`;
// `load_seq` is the load's number (rollups.ts finds the load's rows by it).
const INSERTED_COLUMNS = `${EVENT_LINE_COLUMNS.map((c) => c[2]).join(', ')}, person_id, load_seq`;
const insertedValues = (seq: string): string =>
  `${EVENT_LINE_COLUMNS.map((c) => c[3]).join(', ')}, ${personAtInsert('u')}, ${seq}`;

/** The line keys a read takes: all of them, or the dedup key and time only. */
type LineColumns = readonly (readonly [string, string, ...string[]])[];
const KEY_COLUMNS: LineColumns = EVENT_LINE_COLUMNS.filter(([key]) => key === 'k' || key === 't');

/**
 * Where a load's event lines are read: a plain segment file (bound as $1) by DuckDB's JSON reader,
 * or lines JavaScript decrypted (a sealed segment) from `staging_lines`, parsed by the same reader
 * with the same column types.
 */
type LineSource = 'usual' | 'largest' | 'lines';
const readLines = (source: LineSource, columns: LineColumns): string =>
  source === 'lines'
    ? `(SELECT unnest(json_transform(line, '{${columns.map(([key, type]) => `"${key}":"${type}"`).join(',')}}'))
          FROM staging_lines)`
    : `read_json($1, format = 'newline_delimited', maximum_object_size = ${READ_JSON_LINE_BYTES[source]},
                 columns = {${columns.map(([key, type]) => `${key}: '${type}'`).join(', ')}})`;
/**
 * One chunk of event lines (a BLOB of whole UTF-8 lines, bound as $1) into `staging_lines`, a row
 * per line in chunk order (blank lines, the chunk's last newline included, left out).
 */
const SPLIT_CHUNK_SQL = `INSERT INTO staging_lines
  SELECT line FROM (SELECT unnest(string_split(decode($1::BLOB), chr(10))) AS line) WHERE line <> ''`;

/** Bound parameters are numbered after the file's ($1) when the source is a file. */
const param = (source: LineSource, n: number): string => `$${source === 'lines' ? n : n + 1}`;

const bySource = <T>(make: (source: LineSource) => T): Record<LineSource, T> => ({
  usual: make('usual'),
  largest: make('largest'),
  lines: make('lines'),
});

const STAGE_KEYS_FROM = bySource(
  (source) => `INSERT INTO staging_keys SELECT k::UHUGEINT, t FROM ${readLines(source, KEY_COLUMNS)}
   WHERE k IS NOT NULL`,
);

/**
 * The rows whose dedup key is not stored, straight from the reader (no key repeats within the
 * load: the caller checked staging_keys). The key hashes the event's time (ingest/rows.ts), so a
 * stored copy has the same time: only stored rows within the load's first and last instants
 * (bound, epoch ms) and with a key of the load are looked at, and the zone maps of `time` skip
 * every row group outside them — a live load reads the last few, however large the table. (A
 * unique index did this until schema 13: DuckDB held all of it in memory, ~40 bytes per stored
 * event, and rewrote it at every checkpoint — seconds per load at 10M events.)
 */
const storedKeys = (from: string, to: string): string =>
  `SELECT e.dedup_key FROM events e
    WHERE e.time BETWEEN make_timestamptz(${from}::BIGINT * 1000) AND make_timestamptz(${to}::BIGINT * 1000)
      AND e.dedup_key IN (SELECT k FROM staging_keys)`;
const INSERT_NEW_FROM = bySource(
  (source) => `INSERT INTO events (${INSERTED_COLUMNS})
  SELECT ${insertedValues(param(source, 1))} FROM ${readLines(source, EVENT_LINE_COLUMNS)}
   WHERE k IS NOT NULL
     AND k::UHUGEINT NOT IN (${storedKeys(param(source, 2), param(source, 3))})`,
);

/** The same rows, staged in line order (when a key repeats within the load). */
const STAGE_EVENTS_FROM = bySource(
  (source) => `INSERT INTO staging_events (${INSERTED_COLUMNS})
  SELECT ${insertedValues(param(source, 1))} FROM ${readLines(source, EVENT_LINE_COLUMNS)}
   WHERE k IS NOT NULL`,
);

/**
 * The staged rows whose key is new (INSERT_NEW_FROM's reasoning): not stored, and the first
 * staged of equal keys (in staging order, `rowid`). Staged rows fill staging_keys first.
 */
const INSERT_NEW_SQL = `INSERT INTO events
  SELECT * FROM staging_events s
   WHERE s.dedup_key NOT IN (${storedKeys('$1', '$2')})
  QUALIFY row_number() OVER (PARTITION BY s.dedup_key ORDER BY s.rowid) = 1`;

/** The ingest-side writes, on the writer connection. Staging tables are per connection. */
export class DuckDbBatchApplier {
  private stagingReady = false;

  /**
   * After a ROLLBACK: temporary tables created in the rolled-back transaction are gone with it
   * (DuckDB's DDL is transactional), so they are created again on next use. Without this, a
   * first load that failed left every later load failing with "Table with name staging_… does
   * not exist".
   */
  rolledBack(): void {
    this.stagingReady = false;
  }

  private async ensureStaging(c: DuckDBConnection): Promise<void> {
    if (this.stagingReady) return;
    // Temporary tables live in memory for this connection only; rows pass through them on the
    // way into the real tables so that dedup can be done set-wise by the database.
    await c.run('CREATE TEMP TABLE IF NOT EXISTS staging_events AS SELECT * FROM events LIMIT 0');
    await c.run(
      'CREATE TEMP TABLE IF NOT EXISTS staging_links AS SELECT * FROM identity_links LIMIT 0',
    );
    await c.run(
      'CREATE TEMP TABLE IF NOT EXISTS staging_profile_keys (project_id VARCHAR, group_key VARCHAR, profile_id VARCHAR)',
    );
    await c.run(
      'CREATE TEMP TABLE IF NOT EXISTS staging_counts AS SELECT * FROM privacy_counters LIMIT 0',
    );
    await c.run('CREATE TEMP TABLE IF NOT EXISTS staging_lines (line VARCHAR)');
    await c.run('CREATE TEMP TABLE IF NOT EXISTS staging_keys (k UHUGEINT, t BIGINT)');
    this.stagingReady = true;
  }

  /**
   * Loads the event lines of a log segment with DuckDB's own reader; duplicates (same dedup key,
   * in the table or earlier in the file) are skipped. Returns the number of rows inserted, each
   * numbered `loadSeq`. `lines` picks the longest line the reader accepts (READ_JSON_LINE_BYTES).
   */
  async loadEventsFromFile(
    c: DuckDBConnection,
    file: string,
    loadSeq: number,
    lines: keyof typeof READ_JSON_LINE_BYTES = 'usual',
  ): Promise<number> {
    await this.ensureStaging(c);
    return this.insertNew(c, lines, [file], loadSeq);
  }

  /**
   * Loads event lines given in memory (a decrypted segment) with DuckDB's JSON reader, as
   * `loadEventsFromFile` does for a plain segment. Returns the number of rows inserted.
   */
  async loadEventLines(
    c: DuckDBConnection,
    lines: readonly Buffer[],
    loadSeq: number,
  ): Promise<number> {
    if (lines.length === 0) return 0;
    await this.ensureStaging(c);
    const appender = await c.createAppender('staging_lines', 'main', 'temp');
    for (const line of lines) {
      appender.appendVarchar(line.toString('utf8'));
      appender.endRow();
    }
    appender.closeSync();
    try {
      return await this.insertNew(c, 'lines', [], loadSeq);
    } finally {
      // After a failure the transaction is aborted and this DELETE fails too ("Current
      // transaction is aborted"): the load's own error is the one to report, and the caller's
      // ROLLBACK empties the table.
      await c.run('DELETE FROM staging_lines').catch(() => undefined);
    }
  }

  /**
   * Loads chunks of event lines (row JSON, one line per event, as a log segment holds them) with
   * the same reader as `loadEventLines`: each chunk is bound whole and split into `staging_lines`
   * by DuckDB, so that JavaScript makes one call per chunk instead of one per line (the
   * appender's per-line calls and string conversions were ~4 µs per event of the main thread in a
   * 124k-line load). The chunks are consumed as they are staged (DuckDB holds a copy): an array's
   * are taken out of it, and an iterable's (a sealed segment decrypted as it is read) are asked
   * for one at a time, the next once the last is staged, so that only the staged copy of the
   * whole load is in memory. Returns the number of rows inserted, each numbered `loadSeq`.
   */
  async loadEventChunks(
    c: DuckDBConnection,
    chunks: Uint8Array[] | AsyncIterable<Uint8Array>,
    loadSeq: number,
  ): Promise<number> {
    if (Array.isArray(chunks) && chunks.length === 0) return 0;
    await this.ensureStaging(c);
    try {
      const split = await c.prepare(SPLIT_CHUNK_SQL);
      for await (const chunk of Array.isArray(chunks) ? drain(chunks) : chunks) {
        split.bindBlob(1, chunk);
        await split.run();
      }
      return await this.insertNew(c, 'lines', [], loadSeq);
    } finally {
      // As in loadEventLines: after a failure the caller's ROLLBACK empties the table.
      await c.run('DELETE FROM staging_lines').catch(() => undefined);
    }
  }

  /**
   * Inserts the events of `source` whose key is new, numbered `loadSeq`: straight from the reader
   * when no key repeats within them, else through staging_events. `fileParams` is the file
   * ([] for staged lines).
   */
  private async insertNew(
    c: DuckDBConnection,
    source: LineSource,
    fileParams: [string] | [],
    loadSeq: number,
  ): Promise<number> {
    try {
      await c.run(STAGE_KEYS_FROM[source], fileParams);
      const keys = await this.stagedKeys(c);
      if (keys === null) return 0;
      if (keys.distinct) {
        const result = await c.run(INSERT_NEW_FROM[source], [...fileParams, loadSeq, ...keys.span]);
        return Number(result.rowsChanged);
      }
      await c.run(STAGE_EVENTS_FROM[source], [...fileParams, loadSeq]);
      return Number((await c.run(INSERT_NEW_SQL, keys.span)).rowsChanged);
    } finally {
      await this.emptyStaging(c);
    }
  }

  /** The first and last instants of staging_keys (null when empty), and whether no key repeats. */
  private async stagedKeys(
    c: DuckDBConnection,
  ): Promise<{ span: [bigint, bigint]; distinct: boolean } | null> {
    const summary = await c.runAndReadAll(
      'SELECT min(t), max(t), count(*) = count(DISTINCT k) FROM staging_keys',
    );
    const [from, to, distinct] = summary.getRows()[0] ?? [null, null, true];
    if (from == null || to == null) return null;
    return { span: [BigInt(String(from)), BigInt(String(to))], distinct: distinct === true };
  }

  /**
   * After a failure the transaction is aborted and these fail too: the load's own error is the
   * one to report, and the caller's ROLLBACK empties the tables.
   */
  private async emptyStaging(c: DuckDBConnection): Promise<void> {
    await c.run('DELETE FROM staging_events').catch(() => undefined);
    await c.run('DELETE FROM staging_keys').catch(() => undefined);
  }

  /**
   * Inserts rows given in memory (first of equal dedup keys wins), numbered `loadSeq`. Returns
   * rows inserted.
   */
  async writeEvents(
    c: DuckDBConnection,
    events: readonly EventRow[],
    loadSeq: number,
  ): Promise<number> {
    if (events.length === 0) return 0;
    await this.ensureStaging(c);
    const appender = await c.createAppender('staging_events', 'main', 'temp');
    for (const e of events) {
      appender.appendVarchar(e.projectId);
      appender.appendUHugeInt(e.dedupKey);
      appender.appendTimestampTZ(tsValue(e.timeMs));
      appender.appendVarchar(e.event);
      appender.appendVarchar(e.distinctId);
      appendNullable(appender, e.deviceId);
      appendNullable(appender, e.userId);
      appender.appendVarchar(e.insertId);
      appendNullable(appender, e.browser);
      appendNullable(appender, e.browserVersion);
      appendNullable(appender, e.os);
      appendNullable(appender, e.deviceType);
      appendNullable(appender, e.countryCode);
      appendNullable(appender, e.region);
      appendNullable(appender, e.city);
      appendNullable(appender, e.referringDomain);
      appendNullable(appender, e.currentUrl);
      appendNullable(appender, e.utmSource);
      appendNullable(appender, e.utmMedium);
      appendNullable(appender, e.utmCampaign);
      appendNullable(appender, e.utmContent);
      appendNullable(appender, e.utmTerm);
      appendNullable(appender, e.lib);
      appender.appendVarchar(JSON.stringify(e.properties));
      appender.appendTimestampTZ(tsValue(e.receivedAtMs));
      // person_id: the user id, or resolved with the batch's links (persons.ts, personAtInsert)
      appendNullable(appender, e.userId === '' ? null : e.userId);
      appender.appendBigInt(BigInt(loadSeq));
      appender.endRow();
    }
    appender.closeSync();
    try {
      await c.run('INSERT INTO staging_keys SELECT dedup_key, epoch_ms(time) FROM staging_events');
      const keys = await this.stagedKeys(c);
      return keys === null ? 0 : Number((await c.run(INSERT_NEW_SQL, keys.span)).rowsChanged);
    } finally {
      await this.emptyStaging(c);
    }
  }

  /**
   * First link wins, within the batch as in the table. Returns the aliases that gained a link
   * (the only ones whose events may change person, see persons.ts).
   */
  async writeLinks(c: DuckDBConnection, links: readonly IdentityLink[]): Promise<ProjectId[]> {
    if (links.length === 0) return [];
    await this.ensureStaging(c);
    const seen = new Set<string>();
    const appender = await c.createAppender('staging_links', 'main', 'temp');
    for (const link of links) {
      const key = `${link.projectId}\u0000${link.aliasId}`;
      if (seen.has(key) || link.aliasId === link.canonicalId) continue;
      seen.add(key);
      appender.appendVarchar(link.projectId);
      appender.appendVarchar(link.aliasId);
      appender.appendVarchar(link.canonicalId);
      appender.appendTimestampTZ(tsValue(link.timeMs));
      appender.endRow();
    }
    appender.closeSync();
    const added = await c.runAndReadAll(
      'INSERT OR IGNORE INTO identity_links SELECT * FROM staging_links RETURNING project_id, alias_id',
    );
    await c.run('DELETE FROM staging_links');
    // Both columns are VARCHAR.
    return (added.getRowsJS() as [string, string][]).map(([projectId, id]) => ({ projectId, id }));
  }

  /** Applies profile operations in order; returns how many profiles were written. */
  async writeProfiles(c: DuckDBConnection, updates: readonly ProfileUpdateRow[]): Promise<number> {
    if (updates.length === 0) return 0;
    await this.ensureStaging(c);
    const keys = new Map<string, ProfileKey>();
    for (const u of updates) keys.set(profileKeyString(u), u);
    const appender = await c.createAppender('staging_profile_keys', 'main', 'temp');
    for (const k of keys.values()) {
      appender.appendVarchar(k.projectId);
      appender.appendVarchar(k.groupKey);
      appender.appendVarchar(k.profileId);
      appender.endRow();
    }
    appender.closeSync();
    const reader = await c.runAndReadAll(
      `SELECT p.project_id, p.group_key, p.profile_id, p.properties, p.created_at
         FROM profiles p JOIN staging_profile_keys k USING (project_id, group_key, profile_id)`,
    );
    const state = new Map<
      string,
      { properties: JsonObject | null; createdAtMs: number; updatedAtMs: number }
    >();
    for (const row of reader.getRows()) {
      const key = profileKeyString({
        projectId: String(row[0]),
        groupKey: String(row[1]),
        profileId: String(row[2]),
      });
      state.set(key, {
        properties: JSON.parse(String(row[3])) as JsonObject,
        createdAtMs: tsMs(row[4]),
        updatedAtMs: 0,
      });
    }
    for (const u of updates) {
      const key = profileKeyString(u);
      const current = state.get(key);
      const properties = applyProfileOp(current?.properties ?? null, u.op, u.value);
      state.set(key, {
        properties,
        createdAtMs: current?.properties ? current.createdAtMs : u.timeMs,
        updatedAtMs: u.ignoreTime ? (current?.updatedAtMs ?? u.timeMs) : u.timeMs,
      });
    }
    await c.run(
      `DELETE FROM profiles USING staging_profile_keys k
        WHERE profiles.project_id = k.project_id AND profiles.group_key = k.group_key
          AND profiles.profile_id = k.profile_id`,
    );
    const out = await c.createAppender('profiles');
    let written = 0;
    for (const [key, s] of state) {
      if (s.properties === null) continue;
      const k = keys.get(key);
      if (!k) continue;
      out.appendVarchar(k.projectId);
      out.appendVarchar(k.groupKey);
      out.appendVarchar(k.profileId);
      out.appendVarchar(JSON.stringify(s.properties));
      out.appendTimestampTZ(tsValue(s.createdAtMs));
      out.appendTimestampTZ(tsValue(s.updatedAtMs || s.createdAtMs));
      out.endRow();
      written++;
    }
    out.closeSync();
    await c.run('DELETE FROM staging_profile_keys');
    return written;
  }

  /** Adds counter rows (already summed per key) in one statement. */
  async writePrivacyCounts(c: DuckDBConnection, rows: readonly PrivacyCountRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.ensureStaging(c);
    const appender = await c.createAppender('staging_counts', 'main', 'temp');
    for (const row of rows) {
      appender.appendVarchar(row.projectId);
      appender.appendVarchar(row.day);
      appender.appendVarchar(row.property);
      appender.appendVarchar(row.kind);
      appender.appendBigInt(BigInt(row.count));
      appender.endRow();
    }
    appender.closeSync();
    await c.run(
      `INSERT INTO privacy_counters SELECT * FROM staging_counts
         ON CONFLICT DO UPDATE SET count = privacy_counters.count + excluded.count`,
    );
    await c.run('DELETE FROM staging_counts');
  }
}

/** The items of `items`, each taken out of the array as it is handed on. */
function* drain<T>(items: T[]): Generator<T, void, undefined> {
  for (let item = items.shift(); item !== undefined; item = items.shift()) yield item;
}
