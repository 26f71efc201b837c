// DuckDB adapter of the EventStore port: commits go to the ingest log (durable on return) and
// reach the tables through its loader; reads first wait for what was logged before them.
import type { DuckDBValue } from '@duckdb/node-api';
import type { JsonObject } from '../../shared/json.js';
import type {
  LatestEventsOptions,
  ListEventsOptions,
  CommitBatch,
  CommitResult,
  EventRow,
  EventStore,
  IdentityLink,
  ProfileKey,
  PrivacyCountRow,
  StoredProfile,
} from '../types.js';
import { param, sql } from '../../query/sql.js';
import { tsMs, tsValue } from './batch-apply.js';
import { storeError, type DuckDbDatabase } from './database.js';
import { refreshPersonsAfterErasure } from './persons.js';

/**
 * Stores events in one DuckDB table, each 128-bit dedup key once (batch-apply.ts INSERT_NEW_SQL).
 *
 * Ingest writes (`append`) are acknowledged once they are in the ingest log (fdatasync) and loaded
 * into the tables in the background, in large transactions (see IngestLoader): analytics queries
 * may lag an acknowledgement by up to the loader delay (5 s by default) plus one load. `commit`
 * keeps the port's contract (in the tables when resolved). The read methods of this port (tools
 * and tests) read their own writes: they wait for the log to be loaded first, as erasure and
 * retention do.
 */
export class DuckDbEventStore implements EventStore {
  constructor(private readonly db: DuckDbDatabase) {}

  /** Durable and in the tables once resolved, with exact insert and duplicate counts. */
  async commit(batch: CommitBatch): Promise<CommitResult> {
    return this.db.ingest.commit(batch);
  }

  /**
   * Durable once resolved (fdatasync of the ingest log); in the tables after the loader delay. The
   * group-commit writer uses this; every event is counted as inserted (duplicates are skipped
   * when the log is loaded).
   */
  async append(batch: CommitBatch): Promise<CommitResult> {
    return this.db.ingest.append(batch);
  }

  /** Resolves once everything committed before the call is in the tables. */
  async flush(): Promise<void> {
    await this.db.ingest.flush();
  }

  /** Records committed (durable) but not yet in the tables, for backpressure. */
  backlog(): number {
    return this.db.ingest.backlog();
  }

  async privacyCounts(
    projectId: string,
    fromDay: string,
    toDay: string,
  ): Promise<PrivacyCountRow[]> {
    await this.flush();
    return this.db.read(async (c) => {
      const r = await c.runAndReadAll(
        `SELECT strftime(day, '%Y-%m-%d'), property, kind, sum(count)::BIGINT FROM privacy_counters
          WHERE project_id = $1 AND day BETWEEN $2::DATE AND $3::DATE
          GROUP BY ALL ORDER BY 1, 2, 3`,
        [projectId, fromDay, toDay],
      );
      return r.getRows().map((row) => ({
        projectId,
        day: String(row[0]),
        property: String(row[1]),
        kind: String(row[2]),
        count: Number(row[3]),
      }));
    });
  }

  async countEvents(projectId: string): Promise<number> {
    await this.flush();
    return this.db.read(async (c) => {
      const r = await c.runAndReadAll('SELECT count(*) FROM events WHERE project_id = $1', [
        projectId,
      ]);
      return Number(r.getRowsJS()[0]?.[0] ?? 0);
    });
  }

  async listEvents(projectId: string, options: ListEventsOptions = {}): Promise<EventRow[]> {
    await this.flush();
    const after = options.after;
    return this.db.read(async (c) => {
      const r = await c.runAndReadAll(
        `SELECT * FROM events WHERE project_id = $1
           AND time >= $3 AND time < $4
           AND ($5::TIMESTAMPTZ IS NULL OR time > $5::TIMESTAMPTZ
                OR (time = $5::TIMESTAMPTZ AND dedup_key > $6::UHUGEINT))
         ORDER BY time, dedup_key LIMIT $2`,
        [
          projectId,
          options.limit ?? 1_000_000,
          tsValue(options.fromMs ?? 0),
          tsValue(options.toMs ?? 253_402_300_800_000),
          after ? tsValue(after.timeMs) : null,
          after ? after.dedupKey.toString() : null,
        ],
      );
      return r.getRowObjects().map(eventRowOf);
    });
  }

  async latestEvents(projectId: string, options: LatestEventsOptions): Promise<EventRow[]> {
    await this.flush();
    const after = options.after;
    return this.db.read(async (c) => {
      const r = await c.runAndReadAll(
        `SELECT * FROM events WHERE project_id = $1
           AND ($3::TIMESTAMPTZ IS NULL OR received_at > $3::TIMESTAMPTZ
                OR (received_at = $3::TIMESTAMPTZ AND dedup_key > $4::UHUGEINT))
         ORDER BY received_at DESC, dedup_key DESC LIMIT $2`,
        [
          projectId,
          options.limit,
          after ? tsValue(after.receivedMs) : null,
          after ? after.dedupKey.toString() : null,
        ],
      );
      return r.getRowObjects().map(eventRowOf);
    });
  }

  async getProfile(key: ProfileKey): Promise<StoredProfile | null> {
    await this.flush();
    return this.db.read(async (c) => {
      const r = await c.runAndReadAll(
        `SELECT properties, created_at, updated_at FROM profiles
          WHERE project_id = $1 AND group_key = $2 AND profile_id = $3`,
        [key.projectId, key.groupKey, key.profileId],
      );
      const row = r.getRows()[0];
      if (!row) return null;
      return {
        ...key,
        properties: JSON.parse(String(row[0])) as JsonObject,
        createdAtMs: tsMs(row[1]),
        updatedAtMs: tsMs(row[2]),
      };
    });
  }

  async listIdentityLinks(projectId: string): Promise<IdentityLink[]> {
    await this.flush();
    return this.db.read(async (c) => {
      const r = await c.runAndReadAll(
        'SELECT alias_id, canonical_id, time FROM identity_links WHERE project_id = $1 ORDER BY time, alias_id',
        [projectId],
      );
      return r.getRows().map((row) => ({
        projectId,
        aliasId: String(row[0]),
        canonicalId: String(row[1]),
        timeMs: tsMs(row[2]),
      }));
    });
  }

  async deleteEventsBefore(projectId: string, cutoffMs: number): Promise<number> {
    // Events logged before the call must be in the table to be deleted with the others.
    await this.flush();
    return this.db.writer.run(async (c) => {
      await c.run('BEGIN TRANSACTION');
      try {
        const r = await c.run('DELETE FROM events WHERE project_id = $1 AND time < $2', [
          projectId,
          tsValue(cutoffMs),
        ]);
        await this.db.rollups.afterRetention(c, projectId, cutoffMs);
        await c.run('COMMIT');
        return Number(r.rowsChanged);
      } catch (cause) {
        await c.run('ROLLBACK').catch(() => undefined);
        this.db.rollups.rolledBack();
        // Wrapped as every other adapter error (a refusal for memory is then STORE_BUSY, 503).
        throw storeError(cause, 'delete events before the retention cut');
      }
    });
  }

  async eraseSubject(projectId: string, profileId: string): Promise<number> {
    // Everything logged before the erasure is loaded first, so that it is erased too.
    await this.flush();
    return this.db.writer.run(async (c) => {
      await c.run('BEGIN TRANSACTION');
      try {
        const ids = new Set<string>([profileId]);
        const links = await c.runAndReadAll(
          'SELECT alias_id FROM identity_links WHERE project_id = $1 AND canonical_id = $2',
          [projectId, profileId],
        );
        for (const row of links.getRows()) ids.add(String(row[0]));
        let removed = 0;
        const rollups = this.db.rollups;
        for (const id of ids) {
          // The persons of the rows about to go: their days are recomputed from what remains;
          // the rows' counts go with them.
          await rollups.collect(
            c,
            'project_id = $1 AND (distinct_id = $2 OR user_id = $2 OR device_id = $2)',
            [projectId, id],
          );
          await rollups.beforeDelete(
            c,
            projectId,
            sql`(e.distinct_id = ${param.varchar(id)} OR e.user_id = ${param.varchar(id)} OR e.device_id = ${param.varchar(id)})`,
          );
          const r = await c.run(
            `DELETE FROM events WHERE project_id = $1 AND (distinct_id = $2 OR user_id = $2 OR device_id = $2)`,
            [projectId, id],
          );
          removed += Number(r.rowsChanged);
          await c.run(
            'DELETE FROM profiles WHERE project_id = $1 AND group_key = $3 AND profile_id = $2',
            [projectId, id, ''],
          );
        }
        await c.run(
          'DELETE FROM identity_links WHERE project_id = $1 AND (canonical_id = $2 OR alias_id = $2)',
          [projectId, profileId],
        );
        // No event left should name the erased ids as its person, nor read a deleted link.
        await refreshPersonsAfterErasure(
          c,
          [...ids].map((id) => ({ projectId, id })),
          rollups,
        );
        await rollups.recompute(c);
        await c.run('COMMIT');
        this.db.ingest.forgetLinks();
        return removed;
      } catch (cause) {
        await c.run('ROLLBACK');
        this.db.rollups.rolledBack();
        throw storeError(cause, 'erase subject');
      }
    });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

function nullableString(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  return JSON.stringify(value);
}

/** One row of the events table as the port's EventRow. */
function eventRowOf(row: Record<string, DuckDBValue>): EventRow {
  return {
    projectId: String(row.project_id),
    dedupKey: BigInt(String(row.dedup_key)),
    timeMs: tsMs(row.time),
    event: String(row.event),
    distinctId: String(row.distinct_id),
    deviceId: row.device_id === null ? null : String(row.device_id),
    userId: row.user_id === null ? null : String(row.user_id),
    insertId: String(row.insert_id),
    browser: nullableString(row.browser),
    browserVersion: nullableString(row.browser_version),
    os: nullableString(row.os),
    deviceType: nullableString(row.device_type),
    countryCode: nullableString(row.country_code),
    region: nullableString(row.region),
    city: nullableString(row.city),
    referringDomain: nullableString(row.referring_domain),
    currentUrl: nullableString(row.current_url),
    utmSource: nullableString(row.utm_source),
    utmMedium: nullableString(row.utm_medium),
    utmCampaign: nullableString(row.utm_campaign),
    utmContent: nullableString(row.utm_content),
    utmTerm: nullableString(row.utm_term),
    lib: nullableString(row.lib),
    properties: JSON.parse(String(row.properties)) as JsonObject,
    receivedAtMs: tsMs(row.received_at),
  };
}
