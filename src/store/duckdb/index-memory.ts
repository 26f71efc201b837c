// DuckDB's memory limit, grown with the dedup index. The events table's primary key (the 128-bit
// dedup key) is an ART index that an `INSERT OR IGNORE` holds in memory whole, and it counts
// against `memory_limit`: 384 MB for 11.4M events (~34 bytes each). Under a fixed limit a store
// stops taking events once its index outgrows it — at the 256 MB default, past ~7M events every
// load failed with "Out of Memory Error" and acknowledged events waited in the ingest log for
// ever. So the configured limit is the working memory (caches, hash tables, sorts) and the index
// is added on top, re-fitted before each load.
import type { DuckDBConnection } from '@duckdb/node-api';

/** Index bytes reserved per stored event (measured ~34; rounded up for inner nodes and growth). */
export const INDEX_BYTES_PER_EVENT = 40;

/** The limit moves in steps of this much, so that it is set rarely. */
const STEP_BYTES = 64 * 1024 * 1024;

const UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** Bytes of a DuckDB size setting such as `256MB` or `1.5 GiB` (as config.ts validates them). */
export function sizeBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/i.exec(text.trim());
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new Error(`not a size: ${text}`);
  return Math.ceil(Number(m[1]) * unit);
}

/** The memory limit for `events` stored events on top of `workingBytes`, in whole steps. */
export function limitFor(workingBytes: number, events: number): number {
  const wanted = workingBytes + Math.max(0, events) * INDEX_BYTES_PER_EVENT;
  return Math.ceil(wanted / STEP_BYTES) * STEP_BYTES;
}

/**
 * Keeps DuckDB's `memory_limit` at the configured working memory plus the dedup index of the
 * events stored (and about to be). Never lowers it: deletions leave the index's memory in use.
 */
export class IndexMemory {
  private applied: number;

  constructor(private readonly workingBytes: number) {
    this.applied = workingBytes;
  }

  /** The limit in force, in bytes (for the memory report and tests). */
  get limitBytes(): number {
    return this.applied;
  }

  /** Raises the limit, if needed, for the stored events plus `incoming` about to be loaded. */
  async fit(c: DuckDBConnection, incoming: number): Promise<void> {
    const r = await c.runAndReadAll('SELECT count(*) FROM events');
    const stored = Number(r.getRowsJS()[0]?.[0] ?? 0);
    const limit = limitFor(this.workingBytes, stored + incoming);
    if (limit <= this.applied) return;
    // A global setting; the value is a number this module computed, never input.
    await c.run(`SET memory_limit = '${String(limit)}B'`);
    this.applied = limit;
  }
}
