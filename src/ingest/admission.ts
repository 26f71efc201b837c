// Admission control for ingest request bodies: a byte budget shared by every request from its
// first body byte until its answer is sent (received, waiting for a worker, decoded, committed),
// so that memory under any flood stays bounded; past the budget the answer is 503 + Retry-After.
// Each source (a connection, or the project token when a request names it in a header) has a fair
// share, so that a flood from one source cannot take the room every other source needs.
import { AppError } from '../shared/errors.js';

/** One request's share of the budget. */
export interface Reservation {
  /** Bytes held by this request. */
  readonly bytes: number;
  /** Takes `bytes` more; false (and nothing taken) when the budget cannot hold them. */
  grow(bytes: number): boolean;
  /** Gives everything back (idempotent). */
  release(): void;
}

/** Counters for health, tests and benchmarks. */
export interface AdmissionStats {
  heldBytes: number;
  maxBytes: number;
  /** Requests refused because the budget was full, since start. */
  refused: number;
  /** Of those, refused because their source already held its fair share of a busy budget. */
  refusedOverShare: number;
  /** Sources holding bytes now. */
  sources: number;
}

/**
 * The fill ratio past which a source grows only within its fair share: `maxBytes / (sources
 * holding bytes + 1)`, the + 1 keeping room for a source that has none yet.
 */
export const FAIR_SHARE_FROM = 0.75;

/**
 * A byte budget. A request whose first reservation would overflow it is refused, except when
 * nothing else is held (so that one body up to the size limit always gets through). Once the
 * budget is three quarters full, a source may grow only within its fair share (the bound divided
 * by the sources holding bytes plus one): the last quarter stays for the sources that hold
 * little, so one flooding source cannot leave every other caller with a 503.
 */
export class ByteBudget {
  private held = 0;
  private refused = 0;
  private refusedOverShare = 0;
  /** Bytes held per source (a key object or string; never a client address). */
  private readonly bySource = new Map<unknown, number>();

  constructor(
    readonly maxBytes: number,
    private readonly retryAfterSeconds: number,
  ) {}

  /**
   * A reservation for one request of `source` (the same key for requests of the same source;
   * without one, the request is a source of its own).
   */
  open(source: unknown = {}): Reservation {
    let mine = 0;
    let released = false;
    const take = (bytes: number): boolean => {
      const alone = this.held === mine;
      if (!alone && this.held + bytes > this.maxBytes) {
        this.refused++;
        return false;
      }
      const ofSource = this.bySource.get(source) ?? 0;
      if (!alone && this.held + bytes > this.maxBytes * FAIR_SHARE_FROM) {
        // Sources holding bytes, this one included, plus room for one more to come.
        const sources = this.bySource.size + (ofSource === 0 ? 1 : 0) + 1;
        if (ofSource + bytes > this.maxBytes / sources) {
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

  /** The error a refused request answers with (503, Retry-After). */
  overloaded(): AppError {
    return new AppError(
      'INGEST_OVERLOADED',
      'the server is holding too many request bodies; retry after the delay given',
      { retryAfterSeconds: this.retryAfterSeconds },
    );
  }

  stats(): AdmissionStats {
    return {
      heldBytes: this.held,
      maxBytes: this.maxBytes,
      refused: this.refused,
      refusedOverShare: this.refusedOverShare,
      sources: this.bySource.size,
    };
  }
}
