// ClickHouse adapter of the EventStore port: commits go to the ingest log (durable on return) and
// reach ClickHouse through ClickHouseIngest; reads first wait for what was logged before them.
import type { JsonObject } from '../../shared/json.js';
import type { Logger } from '../../shared/log.js';
import type {
  CommitBatch,
  CommitResult,
  EventRow,
  EventStore,
  IdentityLink,
  LatestEventsOptions,
  ListEventsOptions,
  PrivacyCountRow,
  ProfileKey,
  StoredProfile,
} from '../types.js';
import { ClickHouseClient } from './client.js';
import { quoteIdentifier, quoteString } from './escape.js';
import {
  ClickHouseIngest,
  DEFAULT_CLICKHOUSE_INGEST_OPTIONS,
  type ClickHouseIngestOptions,
} from './ingest.js';
import { EVENT_READ_COLUMNS, rowToEvent } from './rows.js';
import {
  checkCluster,
  migrate,
  SHARDED_SETTINGS,
  storageTable,
  type ClickHouseFeatures,
  type ClickHouseLayout,
} from './schema.js';
import { AppError } from '../../shared/errors.js';

export interface ClickHouseEventStoreOptions {
  /** `http://host:8123` of the HTTP interface. */
  url: string;
  database: string;
  /** Folder of this node's ingest log (inside the data directory). */
  logDir: string;
  logger: Logger;
  ingest?: Partial<ClickHouseIngestOptions>;
  /** The ingest log's key (encrypted at rest, as with DuckDB); none: a plain log. */
  logKeys?: { read: Buffer | null; write: Buffer | null };
  /** How long erasure and retention wait for their mutations (default 60 s). */
  mutationTimeoutMs?: number;
  /**
   * A sharded cluster (see ClickHouseLayout in schema.ts): its name in the servers'
   * `remote_servers`, and the HTTP URL of every shard's server (one each; `url` is one of them, the
   * one that takes this node's reads and inserts). Absent: one server.
   */
  sharding?: { cluster: string; shardUrls: readonly string[] };
  /**
   * The client to use instead of one for `url` (tests: a newer ClickHouse embedded in the test
   * process, test/helpers/chdb.ts). Not with `sharding`.
   */
  client?: ClickHouseClient;
}

const int = (v: number): string => {
  if (!Number.isSafeInteger(v)) throw new RangeError('not a safe integer');
  return String(v);
};

/**
 * Events, profiles and identity links on ClickHouse. Acknowledged = durable holds because the
 * ingest log (fdatasync) stays in front: `append` resolves once logged; ClickHouse may be down,
 * slow or killed, and the log is drained into it when it is back (see ingest.ts for why a replay
 * counts every event once).
 */
export class ClickHouseEventStore implements EventStore {
  private constructor(
    readonly client: ClickHouseClient,
    private readonly ingest: ClickHouseIngest,
    private readonly mutationTimeoutMs: number,
    readonly layout: ClickHouseLayout,
    /** The server of every shard (the one server when not sharded): where mutations run. */
    private readonly shards: readonly ClickHouseClient[],
    /** What each of those servers offers, in the same order (schema.ts). */
    readonly features: readonly ClickHouseFeatures[],
  ) {}

  static async open(options: ClickHouseEventStoreOptions): Promise<ClickHouseEventStore> {
    const layout: ClickHouseLayout = options.sharding
      ? { kind: 'sharded', cluster: options.sharding.cluster }
      : { kind: 'single' };
    const settings = layout.kind === 'sharded' ? SHARDED_SETTINGS : {};
    if (options.client && options.sharding) throw new Error('a given client is one server');
    const client =
      options.client ??
      new ClickHouseClient({ url: options.url, database: options.database, settings });
    const shards = options.sharding
      ? options.sharding.shardUrls.map(
          (url) => new ClickHouseClient({ url, database: options.database, settings }),
        )
      : [client];
    if (options.sharding) await checkCluster(shards, options.sharding.cluster);
    // Every shard's tables first: the Distributed tables of one need the locals of all.
    const features: ClickHouseFeatures[] = [];
    for (const shard of shards) {
      const offered = await migrate(shard, quoteIdentifier(options.database), layout);
      features.push(offered);
      const fields = { host: shard.host, version: offered.version };
      if (offered.fsyncParts) options.logger.info('ClickHouse fsyncs inserted parts', fields);
      else
        options.logger.info(
          'ClickHouse does not fsync inserted parts (no fsync_after_insert): a power loss of its host may lose the last loads',
          fields,
        );
    }
    const ingest = await ClickHouseIngest.open(
      client,
      options.logDir,
      { ...DEFAULT_CLICKHOUSE_INGEST_OPTIONS, ...options.ingest },
      options.logger,
      options.logKeys,
    );
    return new ClickHouseEventStore(
      client,
      ingest,
      options.mutationTimeoutMs ?? 60_000,
      layout,
      shards,
      features,
    );
  }

  /** In the log and in ClickHouse once resolved; duplicates (by dedup key) counted exactly. */
  commit(batch: CommitBatch): Promise<CommitResult> {
    return this.ingest.commit(batch);
  }

  /** Durable once resolved (the ingest log); in ClickHouse shortly after. */
  append(batch: CommitBatch): Promise<CommitResult> {
    return this.ingest.append(batch);
  }

  flush(): Promise<void> {
    return this.ingest.flush();
  }

  backlog(): number {
    return this.ingest.backlog();
  }

  recoveredLog(): { segments: number; events: number } {
    return this.ingest.recovered;
  }

  async countEvents(projectId: string): Promise<number> {
    await this.flush();
    const r = await this.client.query(
      `SELECT toString(count()) FROM events FINAL WHERE project_id = ${quoteString(projectId)}`,
    );
    return Number(r.rows[0]?.[0] ?? 0);
  }

  async listEvents(projectId: string, options: ListEventsOptions = {}): Promise<EventRow[]> {
    await this.flush();
    const conditions = [
      `project_id = ${quoteString(projectId)}`,
      `time >= ${int(options.fromMs ?? 0)}`,
      `time < ${int(options.toMs ?? 253_402_300_800_000)}`,
    ];
    if (options.after) {
      const hi = (options.after.dedupKey >> 64n).toString();
      const lo = (options.after.dedupKey & ((1n << 64n) - 1n)).toString();
      const t = int(options.after.timeMs);
      conditions.push(
        `(time > ${t} OR (time = ${t} AND (dedup_hi > toUInt64(${quoteString(hi)}) OR (dedup_hi = toUInt64(${quoteString(hi)}) AND dedup_lo > toUInt64(${quoteString(lo)})))))`,
      );
    }
    const r = await this.client.query(
      `SELECT ${EVENT_READ_COLUMNS.join(', ')} FROM events FINAL WHERE ${conditions.join(' AND ')}
        ORDER BY time, dedup_hi, dedup_lo LIMIT ${int(options.limit ?? 1_000_000)}`,
    );
    return r.rows.map(rowToEvent);
  }

  /** The newest events by arrival (live events), after a cursor when given, newest first. */
  async latestEvents(projectId: string, options: LatestEventsOptions): Promise<EventRow[]> {
    await this.flush();
    const conditions = [`project_id = ${quoteString(projectId)}`];
    if (options.after) {
      const hi = quoteString((options.after.dedupKey >> 64n).toString());
      const lo = quoteString((options.after.dedupKey & ((1n << 64n) - 1n)).toString());
      const t = int(options.after.receivedMs);
      conditions.push(
        `(received_at > ${t} OR (received_at = ${t} AND (dedup_hi > toUInt64(${hi}) OR (dedup_hi = toUInt64(${hi}) AND dedup_lo > toUInt64(${lo})))))`,
      );
    }
    const r = await this.client.query(
      `SELECT ${EVENT_READ_COLUMNS.join(', ')} FROM events FINAL WHERE ${conditions.join(' AND ')}
        ORDER BY received_at DESC, dedup_hi DESC, dedup_lo DESC LIMIT ${int(options.limit)}`,
    );
    return r.rows.map(rowToEvent);
  }

  async getProfile(key: ProfileKey): Promise<StoredProfile | null> {
    await this.flush();
    const r = await this.client.query(
      `SELECT argMax(properties, version), toString(argMax(created_at, version)),
              toString(argMax(updated_at, version)), argMax(deleted, version)
         FROM profiles
        WHERE project_id = ${quoteString(key.projectId)} AND group_key = ${quoteString(key.groupKey)}
          AND profile_id = ${quoteString(key.profileId)}
        GROUP BY project_id`,
    );
    const row = r.rows[0];
    if (!row || Number(row[3]) === 1) return null;
    return {
      ...key,
      properties: JSON.parse(String(row[0])) as JsonObject,
      createdAtMs: Number(row[1]),
      updatedAtMs: Number(row[2]),
    };
  }

  async listIdentityLinks(projectId: string): Promise<IdentityLink[]> {
    await this.flush();
    const r = await this.client.query(
      `SELECT alias_id, canonical_id, toString(time) FROM identity_links FINAL
        WHERE project_id = ${quoteString(projectId)} ORDER BY time, alias_id`,
    );
    return r.rows.map((row) => ({
      projectId,
      aliasId: String(row[0]),
      canonicalId: String(row[1]),
      timeMs: Number(row[2]),
    }));
  }

  async privacyCounts(
    projectId: string,
    fromDay: string,
    toDay: string,
  ): Promise<PrivacyCountRow[]> {
    await this.flush();
    const r = await this.client.query(
      `SELECT toString(day), property, kind, toString(sum(count)) FROM privacy_counters FINAL
        WHERE project_id = ${quoteString(projectId)}
          AND day BETWEEN toDate(${quoteString(fromDay)}) AND toDate(${quoteString(toDay)})
        GROUP BY day, property, kind ORDER BY day, property, kind`,
    );
    return r.rows.map((row) => ({
      projectId,
      day: String(row[0]),
      property: String(row[1]),
      kind: String(row[2]),
      count: Number(row[3]),
    }));
  }

  /**
   * Retention: an `ALTER TABLE … DELETE` mutation (18.16 has no TTL), awaited until done. Whole
   * old months could be dropped by partition instead, but partitions hold every project.
   */
  async deleteEventsBefore(projectId: string, cutoffMs: number): Promise<number> {
    await this.flush();
    const where = `project_id = ${quoteString(projectId)} AND time < ${int(Math.floor(cutoffMs))}`;
    const r = await this.client.query(`SELECT toString(count()) FROM events FINAL WHERE ${where}`);
    const n = Number(r.rows[0]?.[0] ?? 0);
    if (n > 0) await this.mutate('events', where);
    return n;
  }

  /** Erasure: events, the person profile and identity links of the subject, by mutations. */
  async eraseSubject(projectId: string, profileId: string): Promise<number> {
    await this.flush();
    const project = quoteString(projectId);
    const links = await this.client.query(
      `SELECT DISTINCT alias_id FROM identity_links WHERE project_id = ${project} AND canonical_id = ${quoteString(profileId)}`,
    );
    const ids = [profileId, ...links.rows.map((row) => String(row[0]))];
    const list = [...new Set(ids)].map(quoteString).join(', ');
    const eventsWhere = `project_id = ${project} AND (distinct_id IN (${list}) OR user_id IN (${list}) OR device_id IN (${list}))`;
    const r = await this.client.query(
      `SELECT toString(count()) FROM events FINAL WHERE ${eventsWhere}`,
    );
    const removed = Number(r.rows[0]?.[0] ?? 0);
    await this.mutate('events', eventsWhere);
    await this.mutate(
      'profiles',
      `project_id = ${project} AND group_key = '' AND profile_id IN (${list})`,
    );
    await this.mutate(
      'identity_links',
      `project_id = ${project} AND (canonical_id = ${quoteString(profileId)} OR alias_id = ${quoteString(profileId)})`,
    );
    return removed;
  }

  /**
   * Runs `ALTER TABLE t DELETE WHERE …` and waits until the mutation has rewritten every part. On
   * a sharded layout the Distributed table takes no mutation: each shard's local table does
   * (issued to every shard first, then awaited on each, so that shards rewrite in parallel).
   */
  private async mutate(
    table: 'events' | 'profiles' | 'identity_links',
    where: string,
  ): Promise<void> {
    const target = storageTable(this.layout, table);
    for (const shard of this.shards)
      await shard.exec(`ALTER TABLE ${target} DELETE WHERE ${where}`);
    const deadline = Date.now() + this.mutationTimeoutMs;
    const pending = [...this.shards];
    for (let wait = 20; Date.now() < deadline; wait = Math.min(500, wait * 2)) {
      while (pending.length > 0) {
        const r = await pending[0]!.query(
          `SELECT count() FROM system.mutations WHERE database = ${quoteString(this.client.database)}
              AND table = ${quoteString(target)} AND is_done = 0`,
          { noDatabase: true },
        );
        if (Number(r.rows[0]?.[0] ?? 0) > 0) break;
        pending.shift();
      }
      if (pending.length === 0) return;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    throw new AppError(
      'STORE_FAILURE',
      'a ClickHouse delete did not finish in time; it continues in the background',
    );
  }

  async close(): Promise<void> {
    await this.ingest.close();
  }
}
