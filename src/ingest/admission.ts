// Admission control for ingest request bodies: a byte budget shared by every request from its
// first body byte until its answer is sent (received, waiting for a worker, decoded, committed),
// so that memory under any flood stays bounded; past the budget the answer is 503 + Retry-After.
// Each source (a connection, or the project token when a request names it in a header) has a fair
// share, so that a flood from one source cannot take the room every other source needs. With a
// bound on the process's resident memory, the room for large bodies also shrinks by however much
// the rest of the process (DuckDB's loads above all) holds, so that a flood of them cannot add to
// a peak it did not cause.
import { AppError } from '../shared/errors.js';
import { LARGE_JOB_BYTES } from './event-workers.js';

/** One request's share of the budget. */
export interface Reservation {
  /** Bytes held by this request. */
  readonly bytes: number;
  /** Takes `bytes` more; false (and nothing taken) when the budget cannot hold them. */
  grow(bytes: number): boolean;
  /** Gives everything back (idempotent). */
  release(): void;
  /** Whether the last refusal was for the memory bound rather than the byte budget. */
  readonly overMemory: boolean;
}

/** Counters for health, tests and benchmarks. */
export interface AdmissionStats {
  heldBytes: number;
  maxBytes: number;
  /** Requests refused because the budget was full, since start. */
  refused: number;
  /** Of those, refused because their source already held its fair share of a busy budget. */
  refusedOverShare: number;
  /** Of those, refused because the process's resident memory was at its bound. */
  refusedOverMemory: number;
  /** Sources holding bytes now. */
  sources: number;
}

/**
 * The fill ratio past which a source grows only within its fair share: `maxBytes / (sources
 * holding bytes + 1)`, the + 1 keeping room for a source that has none yet.
 */
export const FAIR_SHARE_FROM = 0.75;

/** How long one reading of the process's resident memory serves admission decisions, ms. */
export const RSS_SAMPLE_MS = 25;

export interface MemoryBound {
  /** The resident memory past which new bodies are refused (SILLAGE_MAX_RSS_BYTES), bytes. */
  maxRssBytes: number;
  /** The process's resident memory now, bytes (~10 µs: it reads /proc; sampled every 25 ms). */
  rss?: () => number;
  /** Milliseconds, monotonic (performance.now by default). */
  now?: () => number;
}

/**
 * A byte budget. A request whose first reservation would overflow it is refused, except when
 * nothing else is held (so that one body up to the size limit always gets through). Once the
 * budget is three quarters full, a source may grow only within its fair share (the bound divided
 * by the sources holding bytes plus one): the last quarter stays for the sources that hold
 * little, so one flooding source cannot leave every other caller with a 503. Given a memory
 * bound, a large body (LARGE_JOB_BYTES and more) is admitted only within that bound minus the
 * rest of the process's resident memory (read at most every RSS_SAMPLE_MS): past the bound, a
 * large body gets in only alone, so large bodies cannot add to a peak they did not cause (DuckDB's
 * loads above all); smaller ones stay within the budget.
 */
export class ByteBudget {
  private held = 0;
  private refused = 0;
  private refusedOverShare = 0;
  /** Bytes held per source (a key object or string; never a client address). */
  private readonly bySource = new Map<unknown, number>();

  private refusedOverMemory = 0;
  /** The last reading of resident memory minus the bodies held then, and when it was taken. */
  private outside = 0;
  private sampledAt = Number.NEGATIVE_INFINITY;
  private readonly rss: () => number;
  private readonly now: () => number;

  constructor(
    readonly maxBytes: number,
    private readonly retryAfterSeconds: number,
    private readonly memory: MemoryBound | null = null,
  ) {
    this.rss = memory?.rss ?? (() => process.memoryUsage.rss());
    this.now = memory?.now ?? (() => performance.now());
  }

  /**
   * What the bodies may hold now: `maxBytes`, or less when the rest of the process (resident
   * memory minus the bodies held when it was read) leaves less than that under the memory bound.
   */
  private limit(): number {
    if (!this.memory) return this.maxBytes;
    const t = this.now();
    if (t - this.sampledAt >= RSS_SAMPLE_MS) {
      this.sampledAt = t;
      this.outside = Math.max(0, this.rss() - this.held);
    }
    return Math.min(this.maxBytes, this.memory.maxRssBytes - this.outside);
  }

  /**
   * A reservation for one request of `source` (the same key for requests of the same source;
   * without one, the request is a source of its own).
   */
  open(source: unknown = {}): Reservation {
    let mine = 0;
    let released = false;
    let overMemory = false;
    const take = (bytes: number): boolean => {
      const alone = this.held === mine;
      // The memory bound weighs on large bodies only (a flood's; an SDK's batch is far smaller),
      // so that a server whose DuckDB holds much (queries on a large store) still takes them.
      const large = mine + bytes >= LARGE_JOB_BYTES;
      const limit = alone || !large ? this.maxBytes : this.limit();
      if (!alone && this.held + bytes > limit) {
        this.refused++;
        overMemory = limit < this.maxBytes && this.held + bytes <= this.maxBytes;
        if (overMemory) this.refusedOverMemory++;
        return false;
      }
      const ofSource = this.bySource.get(source) ?? 0;
      if (!alone && this.held + bytes > limit * FAIR_SHARE_FROM) {
        // Sources holding bytes, this one included, plus room for one more to come.
        const sources = this.bySource.size + (ofSource === 0 ? 1 : 0) + 1;
        if (ofSource + bytes > limit / sources) {
          this.refused++;
          this.refusedOverShare++;
          return false;
        }
      }
      this.held += bytes;
      this.bySource.set(source, ofSource + bytes);
      mine += bytes;
      return true;
    };
    const giveBack = (): void => {
      this.held -= mine;
      const left = (this.bySource.get(source) ?? 0) - mine;
      if (left <= 0) this.bySource.delete(source);
      else this.bySource.set(source, left);
      mine = 0;
    };
    return {
      get bytes() {
        return mine;
      },
      get overMemory() {
        return overMemory;
      },
      grow(bytes: number): boolean {
        if (released || bytes <= 0) return !released;
        return take(bytes);
      },
      release(): void {
        if (released) return;
        released = true;
        giveBack();
      },
    };
  }

  /**
   * The error a refused request answers with (503, Retry-After); `overMemory` when the memory
   * bound refused it.
   */
  overloaded(overMemory = false): AppError {
    return new AppError(
      'INGEST_OVERLOADED',
      overMemory
        ? 'the server is at its memory bound; retry after the delay given'
        : 'the server is holding too many request bodies; retry after the delay given',
      { retryAfterSeconds: this.retryAfterSeconds },
    );
  }

  stats(): AdmissionStats {
    return {
      heldBytes: this.held,
      maxBytes: this.maxBytes,
      refused: this.refused,
      refusedOverShare: this.refusedOverShare,
      refusedOverMemory: this.refusedOverMemory,
      sources: this.bySource.size,
    };
  }
}
