// Drains the ingest log into ClickHouse. The log stays in front of ClickHouse exactly as it stays
// in front of DuckDB: a batch is acknowledged once it is in the log (fdatasync), and sealed
// segments are loaded in order, in the background, retried with backoff while ClickHouse is down.
//
// ClickHouse has no transactions, so a segment's load is made idempotent instead of atomic: a
// crash (of Sillage or of ClickHouse) part-way through a load replays the whole segment, and
//  - events land in a ReplacingMergeTree keyed by their dedup key (a second copy is collapsed, and
//    reads use FINAL);
//  - identity links are written only for aliases without a link (first link wins);
//  - a profile row carries the segment id as its version: a profile already at this segment's
//    version is skipped, so `$add` and friends apply once;
//  - privacy counters are keyed by (node, segment): a replay rewrites, never adds;
//  - last, `ingest_log_state` records the segment as applied, and its file is removed.
import type { JsonObject } from '../../shared/json.js';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { safeStack } from '../../shared/log.js';
import { applyProfileOp } from '../profile-ops.js';
import type { CommitBatch, CommitResult, IdentityLink, ProfileUpdateRow } from '../types.js';
import { IngestLog, type LogSegment } from '../duckdb/ingest-log.js';
import {
  encodeRecord,
  forEachLine,
  isEventLine,
  mergePrivacyCounts,
  parseEventLine,
} from '../duckdb/log-codec.js';
import type { ClickHouseClient } from './client.js';
import { quoteString } from './escape.js';
import { eventToRow, flattenProperties } from './rows.js';

export interface ClickHouseIngestOptions {
  /** Seal (and load) the open segment once it holds this many events. */
  sealEventRows: number;
  /** Seal (and load) the open segment at the latest this long after its first record. */
  maxDelayMs: number;
  /** This node's name in `ingest_log_state` (each node drains its own log). */
  node: string;
}

export const DEFAULT_CLICKHOUSE_INGEST_OPTIONS: ClickHouseIngestOptions = {
  sealEventRows: 100_000,
  maxDelayMs: 1000,
  node: 'default',
};

/** Rows per INSERT: one block, well under max_insert_block_size (1,048,576). */
const INSERT_ROWS = 50_000;
/** Keys per `IN (…)` look-up. */
const LOOKUP_KEYS = 5_000;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;

interface LoadResult {
  inserted: number;
  profilesWritten: number;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const tuple = (...values: string[]): string => `(${values.map(quoteString).join(', ')})`;

export class ClickHouseIngest {
  private queue: LogSegment[] = [];
  private queuedUnits = 0;
  private running = false;
  private closing = false;
  /** `close` is loading what it can: a failed load is not retried (see close). */
  private finishing = false;
  private timer: NodeJS.Timeout | null = null;
  private timerSegment = -1;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private waiters: { segment: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private readonly results = new Map<number, (r: LoadResult | Error) => void>();
  private idle: (() => void)[] = [];
  private applied: number;

  private constructor(
    private readonly client: ClickHouseClient,
    private readonly log: IngestLog,
    applied: number,
    private readonly options: ClickHouseIngestOptions,
    private readonly logger: Logger,
  ) {
    this.applied = applied;
  }

  /**
   * Opens the log in `dir` and queues every segment ClickHouse does not hold yet. Unlike the
   * DuckDB loader it does not wait for them: ClickHouse may be down at start, and the log keeps
   * accepting (and acknowledging) in the meantime; `flush` waits.
   */
  static async open(
    client: ClickHouseClient,
    dir: string,
    options: ClickHouseIngestOptions,
    logger: Logger,
    keys?: { read: Buffer | null; write: Buffer | null },
  ): Promise<ClickHouseIngest> {
    const r = await client.query(
      `SELECT toString(max(applied)) FROM ingest_log_state WHERE node = ${quoteString(options.node)}`,
    );
    const applied = Number(r.rows[0]?.[0] ?? 0);
    const { log, pending } = await IngestLog.open(dir, applied, logger, keys);
    const ingest = new ClickHouseIngest(client, log, applied, options, logger);
    ingest.recovered = {
      segments: pending.length,
      events: pending.reduce((n, s) => n + s.eventRows, 0),
    };
    ingest.enqueue(pending);
    return ingest;
  }

  /** Records logged but not yet in ClickHouse (for backpressure). */
  backlog(): number {
    return this.log.currentUnits + this.queuedUnits;
  }

  /** What the log held that ClickHouse did not when this opened (what `sillage drain` loads). */
  recovered = { segments: 0, events: 0 };

  /** Durable in the log when resolved; in ClickHouse within `maxDelayMs` plus one load. */
  async append(batch: CommitBatch): Promise<CommitResult> {
    this.assertOpen();
    const segment = await this.log.append(encodeRecord(batch), {
      sealAtEventRows: this.options.sealEventRows,
    });
    this.enqueue(this.log.takeSealed());
    if (this.timerSegment !== segment.id) {
      if (this.timer) clearTimeout(this.timer);
      this.timerSegment = segment.id;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.sealInBackground(segment.id);
      }, this.options.maxDelayMs);
      this.timer.unref();
    }
    const events =
      batch.events.length + (batch.encodedEvents ?? []).reduce((n, e) => n + e.count, 0);
    return {
      eventsInserted: events,
      eventsDuplicate: 0,
      profilesWritten: batch.profileUpdates.length,
    };
  }

  /** Logs a batch in a segment of its own and resolves once ClickHouse holds it. */
  async commit(batch: CommitBatch): Promise<CommitResult> {
    this.assertOpen();
    const segment = await this.log.appendAlone(encodeRecord(batch));
    const loaded = new Promise<LoadResult>((resolve, reject) => {
      this.results.set(segment.id, (r) => (r instanceof Error ? reject(r) : resolve(r)));
    });
    this.enqueue(this.log.takeSealed());
    const result = await loaded;
    return {
      eventsInserted: result.inserted,
      eventsDuplicate: segment.eventRows - result.inserted,
      profilesWritten: result.profilesWritten,
    };
  }

  /** Resolves once everything logged before the call is in ClickHouse. */
  async flush(): Promise<void> {
    await this.log.seal();
    this.enqueue(this.log.takeSealed());
    const last = this.queue.at(-1);
    if (last === undefined) return;
    await new Promise<void>((resolve, reject) => {
      this.waiters.push({ segment: last.id, resolve, reject });
      this.kick();
    });
  }

  /**
   * Loads what it can, then stops; what is not loaded stays in the log for the next start. One
   * attempt: a pending retry runs now, and a load that fails ends the wait instead of being
   * retried (a shutdown, or a `sillage drain` that gave up, while ClickHouse is down would
   * otherwise wait for it indefinitely).
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.finishing = true;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    try {
      await this.flush();
    } catch (error) {
      this.logger.error('ingest log not fully loaded into ClickHouse; it will be replayed', {
        stack: safeStack(error),
      });
    }
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.running) await new Promise<void>((resolve) => this.idle.push(resolve));
    await this.log.close();
  }

  private assertOpen(): void {
    if (this.closing)
      throw new AppError('SHUTTING_DOWN', 'the server is shutting down; retry shortly');
  }

  private sealInBackground(segmentId: number): void {
    this.log
      .seal(segmentId)
      .then(() => this.enqueue(this.log.takeSealed()))
      .catch((error: unknown) => {
        this.logger.error('ingest log segment could not be sealed', { stack: safeStack(error) });
      });
  }

  private enqueue(segments: LogSegment[]): void {
    for (const s of segments) {
      this.queue.push(s);
      this.queuedUnits += s.units;
    }
    if (segments.length > 0) this.kick();
  }

  private kick(): void {
    if (!this.running && this.retryTimer === null && !this.closing) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const segment = this.queue[0] as LogSegment;
        let result: LoadResult;
        try {
          result = await this.load(segment);
        } catch (error) {
          this.failed(segment, error);
          return;
        }
        this.queue.shift();
        this.queuedUnits -= segment.units;
        this.retryMs = RETRY_MIN_MS;
        this.results.get(segment.id)?.(result);
        this.results.delete(segment.id);
        this.waiters = this.waiters.filter((w) => {
          if (w.segment > this.applied) return true;
          w.resolve();
          return false;
        });
      }
    } finally {
      this.running = false;
      for (const wake of this.idle.splice(0)) wake();
    }
  }

  private failed(segment: LogSegment, error: unknown): void {
    this.logger.warn('ingest log segment could not be loaded into ClickHouse; retrying', {
      code: error instanceof AppError ? error.code : 'STORE_FAILURE',
      events: segment.eventRows,
    });
    // A caller waiting for this very segment (`commit`) hears of it; `flush` keeps waiting while
    // the load is retried (the batch is durable in the log either way).
    const failure = new AppError(
      'STORE_UNAVAILABLE',
      'the events could not be loaded yet; retry later',
      {
        cause: error,
      },
    );
    this.results.get(segment.id)?.(failure);
    this.results.delete(segment.id);
    if (this.closing || this.finishing) {
      for (const w of this.waiters.splice(0)) w.reject(failure);
      return;
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.kick();
    }, this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
  }

  private async load(segment: LogSegment): Promise<LoadResult> {
    const rows: Record<string, unknown>[] = [];
    for (const payload of await this.log.readPayloads(segment)) {
      forEachLine(payload, (line) => {
        if (isEventLine(line)) rows.push(eventToRow(parseEventLine(line.toString('utf8'))));
      });
    }
    const inserted = segment.alone ? rows.length - (await this.existing(rows)) : rows.length;
    for (const part of chunks(rows, INSERT_ROWS)) await this.client.insert('events', part);
    await this.writeLinks(segment.extras.identityLinks);
    const profilesWritten = await this.writeProfiles(segment.extras.profileUpdates, segment.id);
    const counts = mergePrivacyCounts(segment.extras.privacyCounts).map((c) => ({
      project_id: c.projectId,
      day: c.day,
      property: c.property,
      kind: c.kind,
      segment: segment.id,
      node: this.options.node,
      count: c.count,
    }));
    await this.client.insert('privacy_counters', counts);
    await this.client.insert('ingest_log_state', [
      { node: this.options.node, applied: segment.id },
    ]);
    this.applied = segment.id;
    await this.log.remove(segment).catch((error: unknown) => {
      this.logger.warn('applied ingest log segment could not be removed', {
        stack: safeStack(error),
      });
    });
    return { inserted, profilesWritten };
  }

  /** How many of `rows` are already stored (or repeat an earlier row of the list): duplicates. */
  private async existing(rows: readonly Record<string, unknown>[]): Promise<number> {
    const keys = rows.map((r) => `${String(r.dedup_hi)}:${String(r.dedup_lo)}`);
    const unique = [...new Set(keys)];
    if (rows.length === 0) return 0;
    // Bounds on the sorting key (project, time), so that the look-up reads only that range.
    const projects = [...new Set(rows.map((r) => String(r.project_id)))]
      .map(quoteString)
      .join(', ');
    let min = Infinity;
    let max = -Infinity;
    for (const r of rows) {
      min = Math.min(min, Number(r.time));
      max = Math.max(max, Number(r.time));
    }
    const range = `project_id IN (${projects}) AND time BETWEEN ${min} AND ${max}`;
    let stored = 0;
    for (const part of chunks(unique, LOOKUP_KEYS)) {
      const list = part
        .map((k) => {
          const [hi, lo] = k.split(':') as [string, string];
          return `(toUInt64(${quoteString(hi)}), toUInt64(${quoteString(lo)}))`;
        })
        .join(', ');
      const r = await this.client.query(
        `SELECT count() FROM (SELECT DISTINCT dedup_hi, dedup_lo FROM events WHERE ${range} AND (dedup_hi, dedup_lo) IN (${list}))`,
      );
      stored += Number(r.rows[0]?.[0] ?? 0);
    }
    return stored + (keys.length - unique.length);
  }

  /** First link wins: writes links for aliases that have none (in ClickHouse or earlier here). */
  private async writeLinks(links: readonly IdentityLink[]): Promise<void> {
    const first = new Map<string, IdentityLink>();
    for (const l of links) {
      const key = `${l.projectId}\u0000${l.aliasId}`;
      if (l.aliasId !== l.canonicalId && !first.has(key)) first.set(key, l);
    }
    if (first.size === 0) return;
    for (const part of chunks([...first.values()], LOOKUP_KEYS)) {
      const r = await this.client.query(
        `SELECT DISTINCT project_id, alias_id FROM identity_links WHERE (project_id, alias_id) IN (${part.map((l) => tuple(l.projectId, l.aliasId)).join(', ')})`,
      );
      for (const row of r.rows) first.delete(`${String(row[0])}\u0000${String(row[1])}`);
    }
    await this.client.insert(
      'identity_links',
      [...first.values()].map((l) => ({
        project_id: l.projectId,
        alias_id: l.aliasId,
        canonical_id: l.canonicalId,
        time: Math.round(l.timeMs),
      })),
    );
  }

  /**
   * Applies profile operations in order, once. Each row written names the (node, segment) that
   * wrote it and takes the next version of its profile (read, then write: several nodes share the
   * table, so a segment id is no order between them). A replay of this segment finds its own
   * mark on the current row and skips that profile, so `$add` and friends apply once.
   */
  private async writeProfiles(
    updates: readonly ProfileUpdateRow[],
    segmentId: number,
  ): Promise<number> {
    if (updates.length === 0) return 0;
    const node = this.options.node;
    const keyOf = (u: { projectId: string; groupKey: string; profileId: string }) =>
      `${u.projectId}\u0000${u.groupKey}\u0000${u.profileId}`;
    const keys = new Map<string, ProfileUpdateRow>();
    for (const u of updates) keys.set(keyOf(u), u);
    interface State {
      properties: JsonObject | null;
      createdAtMs: number;
      updatedAtMs: number;
      version: number;
      /** Written by this very segment (an interrupted earlier load of it). */
      ours: boolean;
    }
    const state = new Map<string, State>();
    for (const part of chunks([...keys.values()], LOOKUP_KEYS)) {
      const r = await this.client.query(
        `SELECT project_id, group_key, profile_id, argMax(properties, version), toString(argMax(created_at, version)),
                toString(argMax(updated_at, version)), argMax(deleted, version), toString(max(version)),
                argMax(applied_node, version), toString(argMax(applied_segment, version))
           FROM profiles WHERE (project_id, group_key, profile_id) IN (${part.map((u) => tuple(u.projectId, u.groupKey, u.profileId)).join(', ')})
          GROUP BY project_id, group_key, profile_id`,
      );
      for (const row of r.rows) {
        state.set(`${String(row[0])}\u0000${String(row[1])}\u0000${String(row[2])}`, {
          properties: Number(row[6]) === 1 ? null : (JSON.parse(String(row[3])) as JsonObject),
          createdAtMs: Number(row[4]),
          // As the DuckDB applier does: a stored profile's update time is not carried forward by
          // an `ignoreTime` update (it becomes its creation time).
          updatedAtMs: 0,
          version: Number(row[7]),
          ours: String(row[8]) === node && Number(row[9]) === segmentId,
        });
      }
    }
    const touched = new Set<string>();
    for (const u of updates) {
      const key = keyOf(u);
      const current = state.get(key);
      // Already applied by an earlier (interrupted) load of this very segment.
      if (current?.ours && !touched.has(key)) continue;
      const version = touched.has(key) ? current!.version : (current?.version ?? 0) + 1;
      touched.add(key);
      const properties = applyProfileOp(current?.properties ?? null, u.op, u.value);
      state.set(key, {
        properties,
        createdAtMs: current?.properties ? current.createdAtMs : u.timeMs,
        updatedAtMs: u.ignoreTime ? (current?.updatedAtMs ?? u.timeMs) : u.timeMs,
        version,
        ours: true,
      });
    }
    const rows: Record<string, unknown>[] = [];
    for (const key of touched) {
      const s = state.get(key)!;
      const k = keys.get(key)!;
      const flat = flattenProperties(s.properties ?? {});
      rows.push({
        project_id: k.projectId,
        group_key: k.groupKey,
        profile_id: k.profileId,
        properties: JSON.stringify(s.properties ?? {}),
        prop_keys: flat.keys,
        prop_texts: flat.texts,
        created_at: Math.round(s.createdAtMs),
        updated_at: Math.round(s.updatedAtMs || s.createdAtMs),
        deleted: s.properties === null ? 1 : 0,
        version: s.version,
        applied_node: node,
        applied_segment: segmentId,
      });
    }
    for (const part of chunks(rows, INSERT_ROWS)) await this.client.insert('profiles', part);
    return rows.filter((r) => r.deleted === 0).length;
  }
}
