// Where the server's memory is: the process (V8 heap, Buffers, resident set), DuckDB's own
// accounting, the ingest workers' heaps and what the ingest path holds. Written now and then to a
// file named by SILLAGE_MEMORY_REPORT_FILE (benchmarks read it); figures only, never data.
import fs from 'node:fs';
import type { DuckDbDatabase } from '../store/duckdb/index.js';
import type { ByteBudget } from '../ingest/admission.js';
import type { EventWorkerPool } from '../ingest/event-workers.js';
import type { GroupCommitWriter } from '../ingest/writer.js';
import { safeStack, type Logger } from '../shared/log.js';

/** One snapshot; sizes in bytes. */
export interface MemoryFigures {
  atMs: number;
  /** process.memoryUsage(): resident set, main V8 heap (committed, used), memory of JS objects outside it. */
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** Linux (/proc/self/status): resident anonymous memory and mapped files (code); 0 elsewhere. */
  rssAnon: number;
  rssFile: number;
  /** The ingest worker threads' V8 heaps together. */
  workerHeaps: number;
  /** DuckDB's `duckdb_memory()` (its buffer manager's accounting) and settings; null if unreadable. */
  duckdb: {
    memory: number;
    temporaryStorage: number;
    /** The largest tags (`BASE_TABLE`, `HASH_TABLE`, `ART_INDEX`, …) with their bytes. */
    byTag: Record<string, number>;
    memoryLimit: string;
    threads: number;
  } | null;
  /** What the ingest path holds. */
  ingest: {
    /** Request bodies admitted and not yet answered (SILLAGE_MAX_QUEUED_BYTES). */
    admittedBodyBytes: number;
    /** Of those, bodies on the worker threads. */
    workerBodyBytes: number;
    /** Encoded event rows waiting for (or in) a group commit, and records waiting in all. */
    commitQueueBytes: number;
    commitQueueRecords: number;
    /** Records in the ingest log (on disk) not yet loaded into the tables. */
    logBacklogRecords: number;
  };
}

export interface MemorySources {
  db: DuckDbDatabase | null;
  admission: ByteBudget;
  workers: EventWorkerPool;
  writer: GroupCommitWriter;
  backlog: () => number;
}

function procStatus(): { rssAnon: number; rssFile: number } {
  try {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const kb = (field: string): number =>
      Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
    return { rssAnon: kb('RssAnon'), rssFile: kb('RssFile') };
  } catch {
    return { rssAnon: 0, rssFile: 0 };
  }
}

async function duckdbFigures(db: DuckDbDatabase): Promise<MemoryFigures['duckdb']> {
  return db.read(async (c) => {
    const tags = (
      await c.runAndReadAll(
        'SELECT tag, memory_usage_bytes, temporary_storage_bytes FROM duckdb_memory()',
      )
    ).getRowsJS();
    const settings = (
      await c.runAndReadAll("SELECT current_setting('memory_limit'), current_setting('threads')")
    ).getRowsJS()[0];
    let memory = 0;
    let temporaryStorage = 0;
    const byTag: Record<string, number> = {};
    for (const [tag, used, temporary] of tags) {
      memory += Number(used);
      temporaryStorage += Number(temporary);
      if (Number(used) > 0) byTag[tag as string] = Number(used);
    }
    return {
      memory,
      temporaryStorage,
      byTag,
      memoryLimit: settings?.[0] as string,
      threads: Number(settings?.[1] ?? 0),
    };
  });
}

/** One snapshot now. */
/** How often DuckDB's own figures are read, unless the resident set reaches a new peak. */
const DUCKDB_FIGURES_MS = 1_000;

/**
 * Collects snapshots of `sources`. DuckDB's figures are two queries on a reader connection (a
 * libuv thread and ~2 ms of CPU each time): read when the resident set is at a new peak — so the
 * snapshot a benchmark keeps at its peak has them fresh — and otherwise at most once a second,
 * the last ones repeated between. Every 200 ms they weighed on what bench:ingest measures.
 */
export function memoryCollector(sources: MemorySources): () => Promise<MemoryFigures> {
  let duckdb: MemoryFigures['duckdb'] = null;
  let duckdbAtMs = -Infinity;
  let peakRss = 0;
  return async () => {
    const m = process.memoryUsage();
    const writer = sources.writer.getStats();
    const atMs = Date.now();
    if (sources.db && (m.rss > peakRss || atMs - duckdbAtMs >= DUCKDB_FIGURES_MS)) {
      duckdb = await duckdbFigures(sources.db).catch(() => null);
      duckdbAtMs = atMs;
    }
    peakRss = Math.max(peakRss, m.rss);
    return {
      atMs,
      rss: m.rss,
      heapTotal: m.heapTotal,
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      ...procStatus(),
      workerHeaps: sources.workers.heapBytes(),
      duckdb,
      ingest: {
        admittedBodyBytes: sources.admission.stats().heldBytes,
        workerBodyBytes: sources.workers.heldBodyBytes,
        commitQueueBytes: writer.queuedBytes,
        commitQueueRecords: writer.queuedRecords,
        logBacklogRecords: sources.backlog(),
      },
    };
  };
}

/**
 * Writes a snapshot to `file` every `intervalMs` (replacing the previous one, through a temporary
 * file so that a reader never sees half of one). Returns the function that stops it.
 */
export function startMemoryReport(
  file: string,
  collect: () => Promise<MemoryFigures>,
  logger: Logger,
  intervalMs = 200,
): () => void {
  let busy = false;
  let failed = false;
  const tick = (): void => {
    if (busy) return;
    busy = true;
    collect()
      .then((figures) => {
        fs.writeFileSync(`${file}.tmp`, JSON.stringify(figures));
        fs.renameSync(`${file}.tmp`, file);
      })
      .catch((error: unknown) => {
        if (!failed) logger.warn('memory report not written', { stack: safeStack(error) });
        failed = true;
      })
      .finally(() => (busy = false));
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  tick();
  return () => clearInterval(timer);
}
