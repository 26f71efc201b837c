// DuckDB adapter of the EventStore port: group-committed appends with dedup, profiles, identities.
import {
  DuckDBTimestampTZValue,
  type DuckDBAppender,
  type DuckDBConnection,
} from '@duckdb/node-api';
import type { JsonObject } from '../../ingest/records.js';
import { applyProfileOp } from '../profile-ops.js';
import type {
  CommitBatch,
  CommitResult,
  EventRow,
  EventStore,
  IdentityLink,
  ProfileKey,
  PrivacyCountRow,
  ProfileUpdateRow,
  StoredProfile,
} from '../types.js';
import { storeError, type DuckDbDatabase } from './database.js';

const tsValue = (ms: number): DuckDBTimestampTZValue =>
  new DuckDBTimestampTZValue(BigInt(Math.round(ms)) * 1000n);

const tsMs = (value: unknown): number => {
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

/** Stores events in one DuckDB table keyed by a 128-bit dedup key (`INSERT OR IGNORE`). */
export class DuckDbEventStore implements EventStore {
  private stagingReady = false;

  constructor(private readonly db: DuckDbDatabase) {}

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
    this.stagingReady = true;
  }

  async commit(batch: CommitBatch): Promise<CommitResult> {
    return this.db.writer.run(async (c) => {
      await this.ensureStaging(c);
      await c.run('BEGIN TRANSACTION');
      try {
        const { inserted, duplicates } = await this.writeEvents(c, batch.events);
        await this.writeLinks(c, batch.identityLinks);
        const profilesWritten = await this.writeProfiles(c, batch.profileUpdates);
        await this.writePrivacyCounts(c, batch.privacyCounts);
        await c.run('COMMIT');
        return { eventsInserted: inserted, eventsDuplicate: duplicates, profilesWritten };
      } catch (cause) {
        try {
          await c.run('ROLLBACK');
        } catch {
          // The transaction may already be aborted; the original error is what matters.
        }
        throw storeError(cause, 'commit');
      }
    });
  }

  private async writeEvents(
    c: DuckDBConnection,
    events: EventRow[],
  ): Promise<{ inserted: number; duplicates: number }> {
    if (events.length === 0) return { inserted: 0, duplicates: 0 };
    const seen = new Set<bigint>();
    const appender = await c.createAppender('staging_events', 'main', 'temp');
    for (const e of events) {
      if (seen.has(e.dedupKey)) continue;
      seen.add(e.dedupKey);
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
      appender.endRow();
    }
    appender.closeSync();
    const result = await c.run('INSERT OR IGNORE INTO events SELECT * FROM staging_events');
    const inserted = Number(result.rowsChanged);
    await c.run('DELETE FROM staging_events');
    return { inserted, duplicates: events.length - inserted };
  }

  private async writeLinks(c: DuckDBConnection, links: IdentityLink[]): Promise<void> {
    if (links.length === 0) return;
    const seen = new Set<string>();
    const appender = await c.createAppender('staging_links', 'main', 'temp');
    for (const link of links) {
      const key = `${link.projectId}\u0000${link.aliasId}`;
      // First link wins, within the batch as in the table.
      if (seen.has(key) || link.aliasId === link.canonicalId) continue;
      seen.add(key);
      appender.appendVarchar(link.projectId);
      appender.appendVarchar(link.aliasId);
      appender.appendVarchar(link.canonicalId);
      appender.appendTimestampTZ(tsValue(link.timeMs));
      appender.endRow();
    }
    appender.closeSync();
    await c.run('INSERT OR IGNORE INTO identity_links SELECT * FROM staging_links');
    await c.run('DELETE FROM staging_links');
  }

  private async writeProfiles(c: DuckDBConnection, updates: ProfileUpdateRow[]): Promise<number> {
    if (updates.length === 0) return 0;
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
    const state = new Map<string, { properties: JsonObject | null; createdAtMs: number; updatedAtMs: number }>();
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

  private async writePrivacyCounts(c: DuckDBConnection, rows: PrivacyCountRow[]): Promise<void> {
    if (rows.length === 0) return;
    const merged = new Map<string, PrivacyCountRow>();
    for (const row of rows) {
      const key = `${row.projectId}\u0000${row.day}\u0000${row.property}\u0000${row.kind}`;
      const existing = merged.get(key);
      if (existing) existing.count += row.count;
      else merged.set(key, { ...row });
    }
    for (const row of merged.values()) {
      await c.run(
        `INSERT INTO privacy_counters VALUES ($1, $2::DATE, $3, $4, $5)
         ON CONFLICT DO UPDATE SET count = privacy_counters.count + excluded.count`,
        [row.projectId, row.day, row.property, row.kind, row.count],
      );
    }
  }

  async privacyCounts(projectId: string, fromDay: string, toDay: string): Promise<PrivacyCountRow[]> {
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
    return this.db.read(async (c) => {
      const r = await c.runAndReadAll('SELECT count(*) FROM events WHERE project_id = $1', [
        projectId,
      ]);
      return Number(r.getRowsJS()[0]?.[0] ?? 0);
    });
  }

  async listEvents(projectId: string, options: { limit?: number } = {}): Promise<EventRow[]> {
    return this.db.read(async (c) => {
      const r = await c.runAndReadAll(
        `SELECT * FROM events WHERE project_id = $1 ORDER BY time, dedup_key LIMIT $2`,
        [projectId, options.limit ?? 1_000_000],
      );
      return r.getRowObjects().map((row) => ({
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
      }));
    });
  }

  async getProfile(key: ProfileKey): Promise<StoredProfile | null> {
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
    return this.db.writer.run(async (c) => {
      const r = await c.run('DELETE FROM events WHERE project_id = $1 AND time < $2', [
        projectId,
        tsValue(cutoffMs),
      ]);
      return Number(r.rowsChanged);
    });
  }

  async eraseSubject(projectId: string, profileId: string): Promise<number> {
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
        for (const id of ids) {
          const r = await c.run(
            `DELETE FROM events WHERE project_id = $1 AND (distinct_id = $2 OR user_id = $2 OR device_id = $2)`,
            [projectId, id],
          );
          removed += Number(r.rowsChanged);
          await c.run('DELETE FROM profiles WHERE project_id = $1 AND group_key = $3 AND profile_id = $2', [
            projectId,
            id,
            '',
          ]);
        }
        await c.run(
          'DELETE FROM identity_links WHERE project_id = $1 AND (canonical_id = $2 OR alias_id = $2)',
          [projectId, profileId],
        );
        await c.run('COMMIT');
        return removed;
      } catch (cause) {
        await c.run('ROLLBACK');
        throw storeError(cause, 'erase subject');
      }
    });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

function nullableString(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}
