// Group commit: concurrent requests share one durable commit; a bounded queue pushes back.
import { AppError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { safeStack } from '../shared/log.js';
import type { CommitBatch, CommitResult } from '../store/types.js';

/** What the writer needs from the event store. */
export interface CommitTarget {
  /** `EventStore.commit`: durable and applied once resolved, with exact counts. */
  commit(batch: CommitBatch): Promise<CommitResult>;
  /**
   * Optional: durable once resolved, applied later (a store that logs ahead of its tables). Its
   * counts are taken before dedup, so batches that need exact counts go through `commit`.
   */
  append?(batch: CommitBatch): Promise<CommitResult>;
  /** Records accepted by `append` but not yet applied; they count against the queue bound. */
  backlog?(): number;
}

export interface WriterOptions {
  /**
   * Records (events, profile updates, identity links, counters) allowed to wait, whether for the
   * durable commit or, once committed, for the store to apply them (its `backlog`); beyond this,
   * requests get 503.
   */
  maxQueuedRecords: number;
  /** Upper bound of records per transaction (a single larger submission still goes alone). */
  maxRecordsPerCommit: number;
  /** Seconds suggested to clients in `Retry-After` when the queue is full. */
  retryAfterSeconds: number;
}

export const DEFAULT_WRITER_OPTIONS: WriterOptions = {
  maxQueuedRecords: 500_000,
  maxRecordsPerCommit: 20_000,
  retryAfterSeconds: 2,
};

interface Pending {
  batch: CommitBatch;
  size: number;
  /** Bytes of its encoded event rows (what most of a batch's memory is). */
  bytes: number;
  /** Commit alone, so that the result's counts (duplicates) are this batch's own. */
  exclusive: boolean;
  resolve: (result: CommitResult) => void;
  reject: (error: unknown) => void;
}

const sizeOf = (b: CommitBatch): number =>
  b.events.length +
  (b.encodedEvents?.reduce((n, e) => n + e.count, 0) ?? 0) +
  b.profileUpdates.length +
  b.identityLinks.length +
  b.privacyCounts.length;

const encodedBytesOf = (b: CommitBatch): number =>
  b.encodedEvents?.reduce((n, e) => n + e.lines.length, 0) ?? 0;

/** Counters exposed for health and benchmarks. */
export interface WriterStats {
  queuedRecords: number;
  /** Bytes of encoded event rows waiting for (or in) a commit. */
  queuedBytes: number;
  commits: number;
  committedRecords: number;
}

/**
 * Commits started while earlier ones are still waiting for the disk. A commit's latency is
 * mostly the wait for fdatasync; letting a few overlap keeps requests from queueing behind a
 * slow sync (one sync covers every write before it, so they finish close together).
 */
const MAX_COMMITS_IN_FLIGHT = 4;

/**
 * Accepts batches and resolves each one only after the commit holding it is durable. While
 * commits run, new submissions queue up and go together in the next one, so the cost of a durable
 * commit (one fdatasync of the store's log) is shared by every request waiting at that moment.
 */
/** What a writer tells of each commit's outcome. */
export interface CommitObserver {
  succeeded(): void;
  failed(error: unknown): void;
}

export class GroupCommitWriter {
  private queue: Pending[] = [];
  private queuedRecords = 0;
  private queuedBytes = 0;
  private inFlight = 0;
  private closing = false;
  private idleWaiters: (() => void)[] = [];
  private readonly stats = { commits: 0, committedRecords: 0 };

  constructor(
    private readonly store: CommitTarget,
    private readonly logger: Logger,
    private readonly options: WriterOptions = DEFAULT_WRITER_OPTIONS,
    /** Why the store cannot take writes now (a full disk), or null; checked per submission. */
    private readonly unavailable: () => string | null = () => null,
    /** Told of every commit's outcome (the disk watch learns of a full disk from a failure). */
    private readonly observer: CommitObserver | null = null,
  ) {}

  /** Queues a batch; resolves once durable. Throws INGEST_OVERLOADED when the queue is full. */
  submit(batch: CommitBatch, options: { exclusive?: boolean } = {}): Promise<CommitResult> {
    const size = sizeOf(batch);
    if (this.closing) {
      return Promise.reject(
        new AppError('SHUTTING_DOWN', 'the server is shutting down; retry shortly', {
          retryAfterSeconds: this.options.retryAfterSeconds,
        }),
      );
    }
    if (size === 0) {
      return Promise.resolve({ eventsInserted: 0, eventsDuplicate: 0, profilesWritten: 0 });
    }
    const why = this.unavailable();
    if (why !== null) {
      return Promise.reject(
        new AppError('STORE_UNAVAILABLE', why, {
          retryAfterSeconds: this.options.retryAfterSeconds,
        }),
      );
    }
    const waiting = this.queuedRecords + (this.store.backlog?.() ?? 0);
    if (waiting > 0 && waiting + size > this.options.maxQueuedRecords) {
      return Promise.reject(
        new AppError(
          'INGEST_OVERLOADED',
          'the server is busy writing; retry after the delay given',
          {
            retryAfterSeconds: this.options.retryAfterSeconds,
          },
        ),
      );
    }
    const bytes = encodedBytesOf(batch);
    return new Promise<CommitResult>((resolve, reject) => {
      this.queue.push({
        batch,
        size,
        bytes,
        exclusive: options.exclusive ?? false,
        resolve,
        reject,
      });
      this.queuedRecords += size;
      this.queuedBytes += bytes;
      this.pump();
    });
  }

  getStats(): WriterStats {
    return { queuedRecords: this.queuedRecords, queuedBytes: this.queuedBytes, ...this.stats };
  }

  private pump(): void {
    while (this.queue.length > 0 && this.inFlight < MAX_COMMITS_IN_FLIGHT) {
      const group = this.takeGroup();
      this.inFlight++;
      void this.commitGroup(group).finally(() => {
        this.inFlight--;
        this.pump();
        if (this.inFlight === 0 && this.queue.length === 0) {
          for (const wake of this.idleWaiters.splice(0)) wake();
        }
      });
    }
  }

  private async commitGroup(group: Pending[]): Promise<void> {
    const merged: CommitBatch =
      group.length === 1 && group[0]
        ? group[0].batch
        : { events: [], profileUpdates: [], identityLinks: [], privacyCounts: [] };
    if (group.length > 1) {
      for (const p of group) {
        for (const e of p.batch.events) merged.events.push(e);
        if (p.batch.encodedEvents) (merged.encodedEvents ??= []).push(...p.batch.encodedEvents);
        for (const u of p.batch.profileUpdates) merged.profileUpdates.push(u);
        for (const l of p.batch.identityLinks) merged.identityLinks.push(l);
        for (const c of p.batch.privacyCounts) merged.privacyCounts.push(c);
      }
    }
    const size = group.reduce((n, p) => n + p.size, 0);
    const bytes = group.reduce((n, p) => n + p.bytes, 0);
    try {
      const exact = group.length === 1 && group[0]?.exclusive === true;
      const result =
        exact || !this.store.append
          ? await this.store.commit(merged)
          : await this.store.append(merged);
      this.stats.commits++;
      this.stats.committedRecords += size;
      this.observer?.succeeded();
      for (const p of group) p.resolve(result);
    } catch (error) {
      this.logger.error('group commit failed', {
        code: error instanceof AppError ? error.code : 'STORE_FAILURE',
        events: merged.events.length,
        stack: safeStack(error),
      });
      this.observer?.failed(error);
      const failure =
        error instanceof AppError && error.status === 503
          ? error
          : new AppError('STORE_UNAVAILABLE', 'the events could not be stored; retry later', {
              cause: error,
              retryAfterSeconds: this.options.retryAfterSeconds,
            });
      for (const p of group) p.reject(failure);
    } finally {
      this.queuedRecords -= size;
      this.queuedBytes -= bytes;
    }
  }

  private takeGroup(): Pending[] {
    const group: Pending[] = [];
    let size = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0];
      if (!next) break;
      if (group.length > 0 && (next.exclusive || group[0]?.exclusive)) break;
      if (group.length > 0 && size + next.size > this.options.maxRecordsPerCommit) break;
      group.push(next);
      size += next.size;
      this.queue.shift();
    }
    return group;
  }

  /** Stops accepting new work and waits until everything queued is committed. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.inFlight === 0 && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}
