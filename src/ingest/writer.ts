// Group commit: concurrent requests share one durable commit; a bounded queue pushes back.
import { AppError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { safeStack } from '../shared/log.js';
import type { CommitBatch, CommitResult } from '../store/types.js';

/**
 * What the writer needs from the event store: `EventStore.commit`, which an adapter may extend with
 * exact counts (a store that logs ahead of its tables otherwise reports counts before dedup), and
 * the number of records it has accepted but not yet applied, which counts against the queue bound.
 */
export interface CommitTarget {
  commit(batch: CommitBatch, options?: { exactCounts?: boolean }): Promise<CommitResult>;
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
  /** Commit alone, so that the result's counts (duplicates) are this batch's own. */
  exclusive: boolean;
  resolve: (result: CommitResult) => void;
  reject: (error: unknown) => void;
}

const sizeOf = (b: CommitBatch): number =>
  b.events.length + b.profileUpdates.length + b.identityLinks.length + b.privacyCounts.length;

/** Counters exposed for health and benchmarks. */
export interface WriterStats {
  queuedRecords: number;
  commits: number;
  committedRecords: number;
}

/**
 * Accepts batches and resolves each one only after the commit holding it is durable. While one
 * commit runs, new submissions queue up and go together in the next one, so the cost of a durable
 * commit (one fdatasync of the store's log) is shared by every request waiting at that moment.
 */
export class GroupCommitWriter {
  private queue: Pending[] = [];
  private queuedRecords = 0;
  private running = false;
  private closing = false;
  private idleWaiters: (() => void)[] = [];
  private readonly stats = { commits: 0, committedRecords: 0 };

  constructor(
    private readonly store: CommitTarget,
    private readonly logger: Logger,
    private readonly options: WriterOptions = DEFAULT_WRITER_OPTIONS,
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
    return new Promise<CommitResult>((resolve, reject) => {
      this.queue.push({ batch, size, exclusive: options.exclusive ?? false, resolve, reject });
      this.queuedRecords += size;
      if (!this.running) void this.loop();
    });
  }

  getStats(): WriterStats {
    return { queuedRecords: this.queuedRecords, ...this.stats };
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const group = this.takeGroup();
        const merged: CommitBatch = {
          events: [],
          profileUpdates: [],
          identityLinks: [],
          privacyCounts: [],
        };
        for (const p of group) {
          merged.events.push(...p.batch.events);
          merged.profileUpdates.push(...p.batch.profileUpdates);
          merged.identityLinks.push(...p.batch.identityLinks);
          merged.privacyCounts.push(...p.batch.privacyCounts);
        }
        const size = group.reduce((n, p) => n + p.size, 0);
        try {
          const exclusive = group.length === 1 && group[0]?.exclusive === true;
          const result = await this.store.commit(merged, exclusive ? { exactCounts: true } : {});
          this.stats.commits++;
          this.stats.committedRecords += size;
          for (const p of group) p.resolve(result);
        } catch (error) {
          this.logger.error('group commit failed', {
            code: error instanceof AppError ? error.code : 'STORE_FAILURE',
            events: merged.events.length,
            stack: safeStack(error),
          });
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
        }
      }
    } finally {
      this.running = false;
      for (const wake of this.idleWaiters.splice(0)) wake();
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
    if (!this.running && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}
