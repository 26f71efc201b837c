// Moves the ingest log into DuckDB: commits are acknowledged once logged, and sealed segments are
// loaded in large transactions in the background, each recording its segment id as applied.
import type { DuckDBConnection } from '@duckdb/node-api';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { safeStack } from '../../shared/log.js';
import type { CommitBatch, CommitResult, IdentityLink, PrivacyCountRow } from '../types.js';
import { DuckDbBatchApplier } from './batch-apply.js';
import { describeLoadError, isOutOfMemory } from './load-error.js';
import type { ProjectRollups } from './rollups.js';
import type { QueryActivity } from './query-activity.js';
import { refreshPersons } from './persons.js';
import type { SerialConnection } from './serial-connection.js';
import { IngestLog, isForgedRecord, SegmentNeedsScan, type LogSegment } from './ingest-log.js';
import {
  encodeRecord,
  forEachLine,
  isEventLine,
  mergePrivacyCounts,
  parseEventLine,
} from './log-codec.js';

/**
 * DuckDB writes a transaction that appends at least one row group (122,880 rows) straight into
 * the database file, compressed, instead of through its WAL and a later checkpoint: a segment of
 * that many events is the cheapest unit to load.
 */
export const DUCKDB_ROW_GROUP_ROWS = 122_880;

export interface IngestLoaderOptions {
  /** Seal (and load) the open segment once it holds this many events. */
  sealEventRows: number;
  /** Seal (and load) the open segment at the latest this long after its first record. */
  maxDelayMs: number;
  /** DuckDB's memory limit, bytes, when configured (named in the advice for a full memory). */
  memoryLimitBytes?: number | undefined;
  /** The per-day rollups, kept in each load's transaction (rollups.ts). */
  rollups?: ProjectRollups | null;
  /**
   * What a failed load does. `retry` (the server, the default): the callers waiting on it are
   * told, and the segment stays queued and is retried with backoff, as acknowledged events wait
   * in the log. `stop` (`sillage import` on a stopped store, which owns its file and can simply
   * run again): the failure is final. The commit waiting on the load fails with the load's own
   * error, and so does every later commit and flush. Nothing more is loaded, and the segment
   * stays in the log, to be loaded when the store next opens.
   */
  onFailedLoad?: 'retry' | 'stop';
  /**
   * Longest a load waits for running queries to end before it starts anyway (see
   * `deferWhileQuerying`); default LOAD_DEFER_MAX_MS.
   */
  deferMaxMs?: number;
}

export const DEFAULT_INGEST_LOADER_OPTIONS: IngestLoaderOptions = {
  sealEventRows: DUCKDB_ROW_GROUP_ROWS,
  maxDelayMs: 5000,
};

const APPLIED_SEGMENT = 'applied_segment';
/**
 * Longest a load waits for running queries to end (per load). A load beside an interactive query
 * doubled the query's time on two cores (issue 12); the events it carries are durable in the log
 * already, so waiting loses nothing, and the tables show them at most this much later.
 */
export const LOAD_DEFER_MAX_MS = 5_000;
/** While a load waits for queries, how often it checks whether it must start (a flush, the backlog). */
const DEFER_CHECK_MS = 100;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 30_000;
/** Aliases remembered as linked (identity links are first-wins, so later ones need no write). */
const KNOWN_ALIASES = 100_000;

interface Waiter {
  /** Resolved once this segment id is applied. */
  segment: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * A batch `loadDirect` loads: chunks of event lines (row JSON, store/row-json.ts, whole lines),
 * with the identity links and privacy counts that go with them.
 */
export interface DirectBatch {
  /** Taken out as DuckDB copies them (see DuckDbBatchApplier.loadEventChunks). */
  chunks: Uint8Array[];
  /** Event lines in `chunks`. */
  eventRows: number;
  identityLinks: IdentityLink[];
  privacyCounts: PrivacyCountRow[];
}

/** What one load transaction applies: a log segment's, or a direct batch's (no segment id). */
type LoadUnit = Pick<LogSegment, 'eventRows' | 'extras'> & { id: number | null };

/** What loading one segment wrote. */
interface LoadResult {
  inserted: number;
  profilesWritten: number;
}

/** A bounded set with O(1) operations: when the young set fills, it becomes the old one. */
class RecentSet {
  private young = new Set<string>();
  private old = new Set<string>();

  constructor(private readonly limit: number) {}

  has(key: string): boolean {
    return this.young.has(key) || this.old.has(key);
  }

  add(key: string): void {
    if (this.young.size >= this.limit) {
      this.old = this.young;
      this.young = new Set();
    }
    this.young.add(key);
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }
}

/** The event lines of a segment's plain payloads. */
function eventLinesOf(payloads: readonly Buffer[]): Buffer[] {
  const lines: Buffer[] = [];
  for (const payload of payloads) {
    forEachLine(payload, (line) => {
      if (isEventLine(line)) lines.push(line);
    });
  }
  return lines;
}

/**
 * The ingest side of the DuckDB adapter. `append` adds a batch to the log and resolves once it is
 * on disk; segments are sealed when they reach `sealEventRows` events or `maxDelayMs` after their
 * first record (or on `flush`), then loaded one transaction each, in order. A load writes the
 * segment's id into `ingest_log_state` in the same transaction, so a restart replays exactly the
 * segments after it: each segment is applied once (counters and profile operations need that;
 * for events the dedup key would make a second load harmless anyway).
 */
export class IngestLoader {
  private readonly applier = new DuckDbBatchApplier();
  /** Per project: aliases known to be linked (in DuckDB or earlier in the log). */
  private readonly knownAliases = new Map<string, RecentSet>();
  private queue: LogSegment[] = [];
  private queuedUnits = 0;
  private applied: number;
  private lastLoadSeq = 0;
  private running = false;
  private closing = false;
  /** Seals the open segment `timerSegment` once `maxDelayMs` have passed since its first record. */
  private timer: NodeJS.Timeout | null = null;
  private timerSegment = -1;
  /** A segment whose delay ran out while a load was running: sealed when the loader is idle. */
  private sealWhenIdle: number | null = null;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Set by a failed load when `onFailedLoad` is `stop`: why nothing more can be committed. */
  private stopped: AppError | null = null;
  private waiters: Waiter[] = [];
  private readonly results = new Map<number, (result: LoadResult | Error) => void>();
  private idle: (() => void)[] = [];
  /** Interactive queries a load waits for (`deferWhileQuerying`). */
  private queries: QueryActivity | null = null;
  /** A load is waiting for queries to end now (tests look). */
  deferring = false;

  private constructor(
    private readonly writer: SerialConnection,
    private readonly log: IngestLog,
    applied: number,
    private readonly options: IngestLoaderOptions,
    private readonly logger: Logger,
  ) {
    this.applied = applied;
  }

  /**
   * Opens the log in `dir` and applies every segment DuckDB does not hold yet, before returning:
   * after this, the tables hold every acknowledged batch.
   */
  static async open(
    writer: SerialConnection,
    dir: string,
    options: IngestLoaderOptions,
    logger: Logger,
    keys?: { read: Buffer | null; write: Buffer | null },
  ): Promise<IngestLoader> {
    const applied = await writer.run(async (c) => {
      const r = await c.runAndReadAll('SELECT value FROM ingest_log_state WHERE name = $1', [
        APPLIED_SEGMENT,
      ]);
      return Number(r.getRowsJS()[0]?.[0] ?? 0);
    });
    const { log, pending } = await IngestLog.open(dir, applied, logger, keys);
    const loader = new IngestLoader(writer, log, applied, options, logger);
    if (pending.length > 0) {
      logger.info('replaying the ingest log', {
        batches: pending.reduce((n, s) => n + s.records, 0),
      });
    }
    for (const segment of pending) {
      try {
        await loader.load(segment);
      } catch (cause) {
        await log.close();
        throw new AppError(
          'STORE_FAILURE',
          `the ingest log could not be replayed into the database: ${loader.reasonOf(cause)}`,
          { cause },
        );
      }
    }
    return loader;
  }

  /**
   * From now on a load does not start while `queries` says a query runs: it waits for the
   * queries to end, at most `deferMaxMs` (LOAD_DEFER_MAX_MS), and not at all once someone waits
   * for it (a flush, a `commit`, the close) or the backlog reaches twice the sealing size — at
   * most half of the writer's bound, so a deferral never makes commits be refused.
   */
  deferWhileQuerying(queries: QueryActivity | null): void {
    this.queries = queries;
  }

  /** Records appended or waiting to be appended that DuckDB does not hold yet (backpressure). */
  backlog(): number {
    return this.log.currentUnits + this.queuedUnits;
  }

  /**
   * Makes a batch durable in the log and resolves once it is on disk (every event counted as
   * inserted: duplicates are skipped when the log is loaded). The tables show it later, at the
   * latest `maxDelayMs` plus one load after the call.
   */
  async append(batch: CommitBatch): Promise<CommitResult> {
    this.assertOpen();
    const links = this.newLinks(batch.identityLinks);
    // Segments are sealed at exactly `sealEventRows` events (see DUCKDB_ROW_GROUP_ROWS).
    const segment = await this.log.append(encodeRecord(batch, links), {
      sealAtEventRows: this.options.sealEventRows,
    });
    this.remember(links);
    this.enqueue(this.log.takeSealed());
    // Profile updates and links weigh on a load too (traffic without events has no other limit).
    const extras = segment.extras.profileUpdates.length + segment.extras.identityLinks.length;
    if (extras >= this.options.sealEventRows) {
      this.sealInBackground(segment.id);
    } else if (this.timerSegment !== segment.id) {
      if (this.timer) clearTimeout(this.timer);
      this.timerSegment = segment.id;
      this.timer = setTimeout(() => {
        this.timer = null;
        // While a load runs, the open segment keeps growing: under load, segments get larger
        // (cheaper per row) instead of queueing up behind each other.
        if (this.running || this.queue.length > 0) this.sealWhenIdle = segment.id;
        else this.sealInBackground(segment.id);
      }, this.options.maxDelayMs);
      this.timer.unref();
    }
    return {
      eventsInserted: batch.events.length,
      eventsDuplicate: 0,
      profilesWritten: batch.profileUpdates.length,
    };
  }

  /**
   * Logs a batch in a segment of its own and resolves once that segment is loaded: the tables
   * show it, and the counts of events inserted and skipped as duplicates are exact.
   */
  async commit(batch: CommitBatch): Promise<CommitResult> {
    this.assertOpen();
    const links = this.newLinks(batch.identityLinks);
    const segment = await this.log.appendAlone(encodeRecord(batch, links));
    this.remember(links);
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

  /**
   * Loads a batch straight into the tables in one transaction, without the ingest log, and
   * resolves once it is committed, with exact counts. For `sillage import` on a stopped store,
   * which owns the store while it runs and can simply run again (the dedup key skips what an
   * interrupted run stored): logging the batch first cost it an encryption, a write, an fsync,
   * a read back and a decryption of every row, and the rows' copies (a 200k-event import: ~11 µs
   * of CPU per event in AES-GCM alone, and a third of its peak RSS). The rows reach DuckDB as the
   * privacy stage left them, as they would from the log. What the log holds is loaded first, so
   * that loads stay in order; a failure is final for this batch (nothing of it is stored).
   */
  async loadDirect(batch: DirectBatch): Promise<CommitResult> {
    this.assertOpen();
    await this.flush();
    const links = this.newLinks(batch.identityLinks);
    const unit: LoadUnit = {
      id: null,
      eventRows: batch.eventRows,
      extras: { identityLinks: links, profileUpdates: [], privacyCounts: batch.privacyCounts },
    };
    let result: LoadResult;
    try {
      result = await this.transaction(unit, (c, seq) =>
        this.applier.loadEventChunks(c, batch.chunks, seq),
      );
    } catch (error) {
      throw new AppError(
        'STORE_UNAVAILABLE',
        `a batch of ${batch.eventRows.toLocaleString('en-US')} events could not be loaded into ` +
          `the database: ${this.reasonOf(error)}`,
        { cause: error },
      );
    }
    this.remember(links);
    return {
      eventsInserted: result.inserted,
      eventsDuplicate: batch.eventRows - result.inserted,
      profilesWritten: 0,
    };
  }

  private assertOpen(): void {
    if (this.stopped) throw this.stopped;
    if (this.closing) {
      throw new AppError('SHUTTING_DOWN', 'the server is shutting down; retry shortly');
    }
  }

  private sealInBackground(segmentId?: number): void {
    this.sealNow(segmentId).catch((error: unknown) => {
      this.logger.error('ingest log segment could not be sealed', { stack: safeStack(error) });
    });
  }

  /** Resolves once everything logged before the call is in DuckDB. */
  async flush(): Promise<void> {
    if (this.stopped) throw this.stopped;
    await this.sealNow();
    const last = this.queue.at(-1);
    if (last === undefined) return;
    await new Promise<void>((resolve, reject) => {
      this.waiters.push({ segment: last.id, resolve, reject });
      this.kick();
    });
  }

  /** Forgets which aliases are linked (after links were deleted, e.g. by an erasure). */
  forgetLinks(): void {
    this.knownAliases.clear();
  }

  /** Loads what is logged, then stops. Whatever cannot be loaded stays in the log for next time. */
  async close(): Promise<void> {
    if (this.closing) return;
    try {
      await this.flush();
    } catch (error) {
      this.logger.error(
        'ingest log could not be fully loaded before shutdown; it will be replayed',
        {
          stack: safeStack(error),
        },
      );
    }
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.running) await new Promise<void>((resolve) => this.idle.push(resolve));
    await this.log.close();
  }

  private aliasesOf(projectId: string): RecentSet {
    let known = this.knownAliases.get(projectId);
    if (!known) this.knownAliases.set(projectId, (known = new RecentSet(KNOWN_ALIASES)));
    return known;
  }

  /** The links worth logging: first link wins, so an alias linked before keeps its link. */
  private newLinks(links: readonly IdentityLink[]): IdentityLink[] {
    const out: IdentityLink[] = [];
    let seen: Set<string> | null = null;
    for (const link of links) {
      if (link.aliasId === link.canonicalId) continue;
      if (this.aliasesOf(link.projectId).has(link.aliasId)) continue;
      const key = `${link.projectId}\u0000${link.aliasId}`;
      if (seen?.has(key)) continue;
      (seen ??= new Set()).add(key);
      out.push(link);
    }
    return out;
  }

  private remember(links: readonly IdentityLink[]): void {
    for (const link of links) this.aliasesOf(link.projectId).add(link.aliasId);
  }

  /** Seals the open segment (only if it is `segmentId`, when given) and queues it for loading. */
  private async sealNow(segmentId?: number): Promise<void> {
    await this.log.seal(segmentId);
    this.enqueue(this.log.takeSealed());
  }

  private enqueue(segments: LogSegment[]): void {
    for (const segment of segments) {
      this.queue.push(segment);
      this.queuedUnits += segment.units;
    }
    if (segments.length > 0) this.kick();
  }

  private kick(): void {
    if (!this.running && this.retryTimer === null && this.stopped === null) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        await this.deferForQueries();
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
    const overdue = this.sealWhenIdle;
    if (overdue !== null && this.queue.length === 0 && !this.closing) {
      this.sealWhenIdle = null;
      this.sealInBackground(overdue);
    }
  }

  /** Whether a load must start now, queries or not: someone waits for it, or the backlog grew. */
  private mustLoad(): boolean {
    return (
      this.closing ||
      this.waiters.length > 0 ||
      this.results.size > 0 ||
      this.backlog() >= 2 * this.options.sealEventRows
    );
  }

  /** Waits, before a load, for the running queries to end (see `deferWhileQuerying`). */
  private async deferForQueries(): Promise<void> {
    const queries = this.queries;
    if (!queries?.busy || this.mustLoad()) return;
    const until = Date.now() + (this.options.deferMaxMs ?? LOAD_DEFER_MAX_MS);
    this.deferring = true;
    try {
      while (queries.busy && !this.mustLoad() && Date.now() < until) {
        await queries.idle(Math.min(DEFER_CHECK_MS, until - Date.now()));
      }
    } finally {
      this.deferring = false;
    }
  }

  /** Why a load failed, safe to show and log (load-error.ts), with advice for a full memory. */
  private reasonOf(error: unknown): string {
    const reason = describeLoadError(error);
    const limit = this.options.memoryLimitBytes;
    if (!isOutOfMemory(error) || limit === undefined) return reason;
    return (
      `${reason} (DuckDB's memory limit was ${Math.round(limit / 2 ** 20)} MiB, set by ` +
      'SILLAGE_DUCKDB_MEMORY_LIMIT; raise the setting and try again)'
    );
  }

  private failed(segment: LogSegment, error: unknown): void {
    const stop = this.options.onFailedLoad === 'stop';
    const fields = {
      code: error instanceof AppError ? error.code : 'STORE_FAILURE',
      events: segment.eventRows,
      errorName: describeLoadError(error),
      stack: safeStack(error),
    };
    if (stop) {
      this.logger.error('ingest log segment could not be loaded; stopping', fields);
      // 503 like the retried failure, so that the writer hands it on as it is.
      this.stopped = new AppError(
        'STORE_UNAVAILABLE',
        `a batch of ${segment.eventRows.toLocaleString('en-US')} events could not be loaded ` +
          `into the database: ${this.reasonOf(error)}. It stays in the ingest log, which is ` +
          'loaded when the store next opens',
        { cause: error },
      );
      this.results.get(segment.id)?.(this.stopped);
      this.results.delete(segment.id);
      for (const w of this.waiters.splice(0)) w.reject(this.stopped);
      return;
    }
    this.logger.error('ingest log segment could not be loaded; retrying', fields);
    const failure = new AppError(
      'STORE_UNAVAILABLE',
      'the events could not be loaded yet; retry later',
      {
        cause: error,
      },
    );
    // Callers waiting on this load hear about the failure; the segment stays queued (and on
    // disk) and is retried with backoff.
    this.results.get(segment.id)?.(failure);
    this.results.delete(segment.id);
    for (const w of this.waiters.splice(0)) w.reject(failure);
    if (this.closing) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.kick();
    }, this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
  }

  /**
   * Loads one segment in one transaction (DuckDB's reader first, JavaScript as a fallback). A
   * sealed segment is decrypted here, in memory, a chunk at a time as DuckDB's JSON reader takes
   * its lines: no plain copy of it is ever written to disk, nor held whole in memory.
   */
  private async load(segment: LogSegment): Promise<LoadResult> {
    let result: LoadResult;
    try {
      result = await this.transaction(segment, (c, seq) =>
        segment.key === null
          ? this.applier.loadEventsFromFile(c, segment.file, seq)
          : this.applier.loadEventChunks(c, this.log.eventChunks(segment), seq),
      );
    } catch (error) {
      result = await this.loadAgain(segment, error);
    }
    // Applied exactly once: from here on the segment must not be loaded again (its counters and
    // profile operations are not idempotent), even if its file cannot be removed now (the next
    // start removes it, as its id is recorded as applied).
    this.applied = segment.id;
    await this.log.remove(segment).catch((error: unknown) => {
      this.logger.warn('applied ingest log segment could not be removed', {
        stack: safeStack(error),
      });
    });
    return result;
  }

  /**
   * A segment the fast loader refused. A plain segment may hold a line longer than the reader's
   * usual limit, so it is read once more with the largest one; a sealed one that is not a clean
   * run of records (it could not be read a chunk at a time) is read whole, past what is damaged.
   * Then row by row in JavaScript. A forged record fails the load whichever way it is read.
   */
  private async loadAgain(segment: LogSegment, error: unknown): Promise<LoadResult> {
    if (isForgedRecord(error)) throw error;
    if (segment.key === null || error instanceof SegmentNeedsScan) {
      try {
        return await this.transaction(segment, async (c, seq) =>
          segment.key === null
            ? this.applier.loadEventsFromFile(c, segment.file, seq, 'largest')
            : this.applier.loadEventLines(
                c,
                eventLinesOf(await this.log.readPayloads(segment)),
                seq,
              ),
        );
      } catch (again) {
        if (isForgedRecord(again)) throw again;
        error = again;
      }
    }
    this.logger.warn('ingest log segment refused by the fast loader; loading it row by row', {
      stack: safeStack(error),
    });
    const rows = eventLinesOf(await this.log.readPayloads(segment)).map((line) =>
      parseEventLine(line.toString('utf8')),
    );
    return this.transaction(segment, (c, seq) => this.applier.writeEvents(c, rows, seq));
  }

  /**
   * The number of the next load, stored with the rows it inserts (`load_seq`): increasing, from
   * the clock in microseconds so that it keeps increasing across restarts.
   */
  private nextLoadSeq(): number {
    this.lastLoadSeq = Math.max(Date.now() * 1000, this.lastLoadSeq + 1);
    return this.lastLoadSeq;
  }

  private transaction(
    segment: LoadUnit,
    loadEvents: (c: DuckDBConnection, loadSeq: number) => Promise<number>,
  ): Promise<LoadResult> {
    return this.writer.run(async (c) => {
      const seq = this.nextLoadSeq();
      const rollups = this.options.rollups ?? undefined;
      await c.run('BEGIN TRANSACTION');
      try {
        const inserted = segment.eventRows > 0 ? await loadEvents(c, seq) : 0;
        const linked = await this.applier.writeLinks(c, segment.extras.identityLinks);
        // Resolved persons of the new events, and of earlier events the new links merge: only
        // those rows are read (persons.ts), so a load costs the same however large the table.
        if (inserted > 0 || linked.length > 0) await refreshPersons(c, linked, rollups, seq);
        // The days of the persons merged, then the days and counts of the rows inserted (rollups.ts).
        if (rollups) {
          await rollups.recompute(c);
          if (inserted > 0) await rollups.afterLoad(c, seq);
        }
        const profilesWritten = await this.applier.writeProfiles(c, segment.extras.profileUpdates);
        await this.applier.writePrivacyCounts(c, mergePrivacyCounts(segment.extras.privacyCounts));
        if (segment.id !== null) {
          await c.run('INSERT OR REPLACE INTO ingest_log_state VALUES ($1, $2)', [
            APPLIED_SEGMENT,
            segment.id,
          ]);
        }
        await c.run('COMMIT');
        return { inserted, profilesWritten };
      } catch (error) {
        try {
          await c.run('ROLLBACK');
        } catch {
          // The transaction may already be aborted; the original error is what matters.
        }
        this.applier.rolledBack();
        this.options.rollups?.rolledBack();
        throw error;
      }
    });
  }
}
