// Admission control for ingest request bodies: a byte budget shared by every request from its
// first body byte until its answer is sent (received, waiting for a worker, decoded, committed),
// so that memory under any flood stays bounded; past the budget the answer is 503 + Retry-After.
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
}

/**
 * A byte budget. A request whose first reservation would overflow it is refused, except when
 * nothing else is held (so that one body up to the size limit always gets through).
 */
export class ByteBudget {
  private held = 0;
  private refused = 0;

  constructor(
    readonly maxBytes: number,
    private readonly retryAfterSeconds: number,
  ) {}

  open(): Reservation {
    let mine = 0;
    let released = false;
    const take = (bytes: number): boolean => {
      const alone = this.held === mine;
      if (!alone && this.held + bytes > this.maxBytes) {
        this.refused++;
        return false;
      }
      this.held += bytes;
      mine += bytes;
      return true;
    };
    const giveBack = (): void => {
      this.held -= mine;
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
    return { heldBytes: this.held, maxBytes: this.maxBytes, refused: this.refused };
  }
}
