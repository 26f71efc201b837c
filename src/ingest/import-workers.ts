// The parallel file importer behind `sillage import` on a stopped store: chunks of an export file
// are prepared on worker threads (parsing, /import rules, enrichment, privacy stage, row encoding),
// then committed in large batches, which the store loads with DuckDB's own JSON reader (the
// embedded store straight into its tables, `DirectLoad`; another through the writer). Memory stays
// bounded: the reader waits while the workers and the commit are full.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { AppError, isAppError } from '../shared/errors.js';
import type { ProjectContext } from '../projects/index.js';
import type { CommitResult, IdentityLink, PrivacyCountRow } from '../store/types.js';
import type { GeoShared } from './enrich/index.js';
import type { GroupCommitWriter } from './writer.js';
import type { RecordError } from './records.js';

/** Main → import worker. */
export type ToImportWorker =
  | {
      type: 'init';
      geo: GeoShared;
      projectId: string;
      token: string;
      policy: unknown;
      pseudonymKey: Uint8Array;
    }
  | { type: 'chunk'; id: number; text: Uint8Array; firstLine: number }
  /** Buffers of results whose rows are loaded, for the worker to write its next rows into. */
  | { type: 'recycle'; buffers: ArrayBuffer[] };

/** What a worker made of one chunk of whole lines. */
export interface ImportChunkResult {
  /** Non-blank lines in the chunk. */
  lines: number;
  /** Event rows, one line of row JSON each (see store/row-json.ts). */
  encoded: Uint8Array;
  count: number;
  /** alias, canonical pseudonym pairs, with one time per pair. */
  links: string[];
  linkTimes: number[];
  privacyCounts: PrivacyCountRow[];
  /** Rejected lines and records; `index` is the 0-based file line. */
  errors: RecordError[];
  ignored: number;
}

type FromImportWorker =
  | ({ id: number; kind: 'done' } & ImportChunkResult)
  | { id: number; kind: 'failed'; errorName: string };

/** Totals of an import so far. */
export interface ImportTotals {
  lines: number;
  imported: number;
  duplicates: number;
  ignored: number;
}

/**
 * A store's own way to load an import's batch in one transaction, with exact counts, instead of
 * the writer's (the embedded store's `IngestLoader.loadDirect`: straight into DuckDB, without the
 * ingest log). `chunks` are the workers' encoded rows, in file order; the store may empty the
 * array as it copies them.
 */
export type DirectLoad = (batch: {
  chunks: Uint8Array[];
  eventRows: number;
  identityLinks: IdentityLink[];
  privacyCounts: PrivacyCountRow[];
}) => Promise<CommitResult>;

export interface FileImporterOptions {
  /** Loads each batch directly (a stopped embedded store) instead of through the writer. */
  load?: DirectLoad;
  /** Worker threads (default: one per core). */
  workers?: number;
  /** Events per commit (one DuckDB transaction). */
  commitEvents?: number;
  /** Told of each rejected line or record, in file order. */
  onError?: (error: RecordError) => void;
}

/**
 * Events per commit. A commit is loaded in one transaction; larger ones cost less
 * per event (measured with bench/ingest.ts: 8k events per commit spent most of the time in
 * DuckDB's per-transaction work, 64k made it small) but hold more rows in memory (~0.7 KB each as
 * row JSON, held twice at most: one batch gathering, one committing). At one DuckDB row group
 * (122,880 rows, DUCKDB_ROW_GROUP_ROWS in store/duckdb/ingest-loader.ts) a transaction's rows
 * are written straight into the database file instead of through the WAL and a checkpoint: the
 * same 200k rows loaded by the importer's statement, on a machine at load 15, took 4.5 s of CPU
 * as 137k + 63k rows against 6.4 s as three segments of ~66k; a 1M-event `bench:ingest`
 * import, same run, 82.2 against 88.1 µs of CPU per event (with the import workers' memo off),
 * for +8 % peak RSS.
 */
export const IMPORT_COMMIT_EVENTS = 122_880;

/**
 * Young generation of an import worker, MB (three semi-spaces of 4 MB). A worker takes each line
 * through every stage before the next one, so what it allocates dies young; the server workers'
 * 96 MB young generation made each import worker hold ~60 MB more resident for nothing (100k-event
 * import, same run: peak RSS 773 and 789 MB with 12, 927 MB with 96; CPU 17.0 and 19.0 s with
 * 12, 21.1 s with 96).
 */
const IMPORT_WORKER_YOUNG_GENERATION_MB = 12;

/** Chunks a worker may hold at once (one running, one waiting, so that it never idles). */
const CHUNKS_PER_WORKER = 2;

interface Slot {
  worker: Worker;
  jobs: number;
}

interface Pending {
  id: number;
  result: ImportChunkResult | null;
}

/**
 * Imports chunks of whole lines into one project. `push` resolves once the chunk is handed over
 * and there is room for the next one; `finish` resolves once everything pushed is committed and
 * loaded, with exact counts (each commit is exclusive, so duplicates are counted per commit).
 */
export class FileImporter {
  private readonly slots: Slot[];
  private nextId = 1;
  /** Chunks in file order, until their result joins the gathering batch. */
  private readonly order: Pending[] = [];
  private readonly byId = new Map<number, Pending>();
  private gathering: ImportChunkResult[] = [];
  private gatheredEvents = 0;
  private committing: Promise<void> | null = null;
  private failure: Error | null = null;
  private roomWaiters: (() => void)[] = [];
  private readonly totals: ImportTotals = { lines: 0, imported: 0, duplicates: 0, ignored: 0 };
  private readonly commitEvents: number;

  constructor(
    private readonly writer: GroupCommitWriter,
    private readonly project: ProjectContext,
    geo: GeoShared,
    private readonly options: FileImporterOptions = {},
  ) {
    this.commitEvents = options.commitEvents ?? IMPORT_COMMIT_EVENTS;
    const count = Math.max(1, options.workers ?? os.availableParallelism());
    this.slots = Array.from({ length: count }, () => this.spawn(geo));
  }

  /** What has been committed so far (for progress). */
  progress(): ImportTotals {
    return { ...this.totals };
  }

  /**
   * Hands a chunk of whole lines (starting at 0-based file line `firstLine`) to a worker: its
   * memory moves to the worker's thread, so the caller must not use it again. The chunk's
   * ArrayBuffer must be its own (not a slice of Node's shared Buffer pool, which cannot move).
   */
  async push(chunk: Uint8Array, firstLine: number): Promise<void> {
    for (;;) {
      this.throwIfFailed();
      const slot = this.pick();
      if (slot) {
        this.dispatch(slot, chunk, firstLine);
        return;
      }
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
  }

  /** Waits for every chunk, commits what is left, and stops the workers. */
  async finish(): Promise<ImportTotals> {
    try {
      while (this.order.length > 0 || this.committing) {
        this.throwIfFailed();
        if (this.committing) await this.committing;
        else await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
      }
      this.throwIfFailed();
      await this.commitGathered().catch((error: unknown) => {
        throw this.stoppedBy(error);
      });
      return { ...this.totals };
    } finally {
      await this.close();
    }
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private pick(): Slot | null {
    // The batch being gathered and the one committing bound what waits for the disk.
    if (this.committing && this.gatheredEvents >= this.commitEvents) return null;
    let best: Slot | null = null;
    for (const slot of this.slots) {
      if (slot.jobs >= CHUNKS_PER_WORKER) continue;
      if (best === null || slot.jobs < best.jobs) best = slot;
    }
    return best;
  }

  private dispatch(slot: Slot, chunk: Uint8Array, firstLine: number): void {
    const id = this.nextId++;
    const pending: Pending = { id, result: null };
    this.order.push(pending);
    this.byId.set(id, pending);
    slot.jobs++;
    // Moved, not copied: copying each chunk into a fresh buffer to transfer it cost the main
    // thread a megabyte of memmove and page faults per chunk.
    slot.worker.postMessage(
      { type: 'chunk', id, text: chunk, firstLine } satisfies ToImportWorker,
      [chunk.buffer as ArrayBuffer],
    );
  }

  private wake(): void {
    for (const wake of this.roomWaiters.splice(0)) wake();
  }

  private fail(error: unknown): void {
    this.failure ??=
      error instanceof Error
        ? error
        : new AppError('STORE_FAILURE', 'the import could not be committed', { cause: error });
    this.wake();
  }

  private received(slot: Slot, message: FromImportWorker): void {
    slot.jobs--;
    const pending = this.byId.get(message.id);
    if (!pending) return;
    this.byId.delete(message.id);
    if (message.kind === 'failed') {
      this.fail(new Error(`import worker failed: ${message.errorName}`));
      return;
    }
    const { id: _id, kind: _kind, ...result } = message;
    pending.result = result;
    // Results join the batch in file order, so that errors are reported in order and the first
    // of two equal events in the file is the one kept.
    while (this.order.length > 0 && this.order[0]?.result) {
      const head = this.order.shift() as Pending;
      const r = head.result as ImportChunkResult;
      this.totals.lines += r.lines;
      this.totals.ignored += r.ignored;
      for (const e of r.errors) this.options.onError?.(e);
      this.gathering.push(r);
      this.gatheredEvents += r.count;
    }
    if (!this.committing && this.gatheredEvents >= this.commitEvents) this.startCommit();
    this.wake();
  }

  private startCommit(): void {
    this.committing = this.commitGathered()
      .catch((error: unknown) => this.fail(this.stoppedBy(error)))
      .finally(() => {
        this.committing = null;
        if (this.gatheredEvents >= this.commitEvents) this.startCommit();
        this.wake();
      });
  }

  /**
   * What the import ends with when a commit failed: the first failure stops it (a store that
   * retries its loads says so in the error, and the import does not wait). The message gives the
   * commit's own reason, what earlier commits stored, and that importing the file again is safe:
   * every event's dedup key (project, event, distinct_id pseudonym, time, $insert_id) is the same
   * on a second run, and the load skips keys already stored (batch-apply.ts), as it does
   * identity links (the first link of an alias wins).
   */
  private stoppedBy(error: unknown): AppError {
    const n = (x: number): string => x.toLocaleString('en-US');
    const { imported, duplicates } = this.totals;
    return new AppError(
      isAppError(error) ? error.code : 'STORE_FAILURE',
      `the import stopped: ${isAppError(error) ? error.message : 'a batch could not be committed'}. ` +
        `Stored before it: ${n(imported)} events imported, ${n(duplicates)} duplicates skipped. ` +
        'Importing the same file again is safe: the events already stored are skipped as ' +
        'duplicates (same event, distinct_id, time and $insert_id)',
      { cause: error },
    );
  }

  /** Commits the gathered results as one exclusive batch (durable and loaded once resolved). */
  private async commitGathered(): Promise<void> {
    const parts = this.gathering;
    this.gathering = [];
    this.gatheredEvents = 0;
    if (parts.length === 0) return;
    const projectId = this.project.project.id;
    const identityLinks: IdentityLink[] = [];
    const privacyCounts: PrivacyCountRow[] = [];
    for (const p of parts) {
      for (let i = 0; i < p.linkTimes.length; i++) {
        identityLinks.push({
          projectId,
          aliasId: p.links[2 * i] as string,
          canonicalId: p.links[2 * i + 1] as string,
          timeMs: p.linkTimes[i] as number,
        });
      }
      for (const c of p.privacyCounts) privacyCounts.push(c);
    }
    const counts = parts.map((p) => p.count);
    const eventRows = counts.reduce((n, c) => n + c, 0);
    const chunks = parts.map((p) => p.encoded);
    parts.length = 0;
    // The store's direct load when it has one; otherwise the writer of every ingest path: the
    // chunks go into one log record (one copy) and one segment that DuckDB loads with its JSON
    // reader. Either resolves once loaded, with exact counts.
    if (this.options.load) {
      // The direct load is done with the chunks once it resolves (DuckDB copies them): their
      // memory goes back to the workers to write their next rows into.
      const buffers = chunks.map((c) => c.buffer as ArrayBuffer);
      const committed = await this.options.load({
        chunks,
        eventRows,
        identityLinks,
        privacyCounts,
      });
      this.recycle(buffers);
      this.totals.imported += committed.eventsInserted;
      this.totals.duplicates += committed.eventsDuplicate;
      return;
    }
    const committed = await this.writer.submit(
      {
        events: [],
        encodedEvents: chunks.map((lines, i) => ({ lines, count: counts[i] as number })),
        profileUpdates: [],
        identityLinks,
        privacyCounts,
      },
      { exclusive: true },
    );
    this.totals.imported += committed.eventsInserted;
    this.totals.duplicates += committed.eventsDuplicate;
  }

  /** Hands loaded chunks' buffers back to the workers, spread over them. */
  private recycle(buffers: ArrayBuffer[]): void {
    const count = this.slots.length;
    this.slots.forEach((slot, i) => {
      const mine = buffers.filter((_, j) => j % count === i);
      if (mine.length === 0) return;
      slot.worker.postMessage({ type: 'recycle', buffers: mine } satisfies ToImportWorker, mine);
    });
  }

  private spawn(geo: GeoShared): Slot {
    const fromSource = import.meta.url.endsWith('.ts');
    const resourceLimits = { maxYoungGenerationSizeMb: IMPORT_WORKER_YOUNG_GENERATION_MB };
    const worker = fromSource
      ? new Worker(
          `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(
            new URL('./import-worker.ts', import.meta.url).href,
          )}); });`,
          { eval: true, resourceLimits },
        )
      : new Worker(new URL('./import-worker.js', import.meta.url), { resourceLimits });
    const slot: Slot = { worker, jobs: 0 };
    worker.postMessage({
      type: 'init',
      geo,
      projectId: this.project.project.id,
      token: this.project.project.token,
      policy: this.project.policy,
      pseudonymKey: new Uint8Array(this.project.keyring.current('pseudonym').key),
    } satisfies ToImportWorker);
    worker.on('message', (message: FromImportWorker) => this.received(slot, message));
    worker.on('error', (error) =>
      this.fail(
        new AppError('STORE_FAILURE', 'an import worker failed; nothing after it was imported', {
          cause: error,
        }),
      ),
    );
    return slot;
  }
}
