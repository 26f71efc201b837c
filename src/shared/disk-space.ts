// Free space of the data directory's file system, sampled once a second, so that /healthz and
// the ingest path can tell a full disk without a system call per request.
import fs from 'node:fs';

/** Space that must come back after a write failed for lack of it before the disk counts as free. */
const FULL_HEADROOM_BYTES = 4 * 1024 * 1024;

/** True when `error` or one of its causes is the file system saying it is out of space. */
export function isOutOfSpace(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; depth++) {
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC') return true;
    if (/no space left on device|ENOSPC|disk is full/i.test(e.message)) return true;
    e = e.cause;
  }
  return false;
}

/** Watches the free bytes of the file system holding `dir`. */
export class DiskSpaceWatch {
  private freeBytes = Number.POSITIVE_INFINITY;
  /**
   * Free bytes when a write last failed for lack of space (ENOSPC), or null: a write can fail
   * while some bytes are still free (a segment or a page is larger), so the disk counts as full
   * until that much plus FULL_HEADROOM_BYTES is free again, or a write succeeds.
   */
  private freeWhenFull: number | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly dir: string,
    /** Below this many free bytes the disk counts as full. */
    readonly minFreeBytes: number,
    intervalMs = 1_000,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  /** True when the file system has less than `minFreeBytes` available. */
  get low(): boolean {
    if (this.freeBytes < this.minFreeBytes) return true;
    return this.freeWhenFull !== null && this.freeBytes < this.freeWhenFull + FULL_HEADROOM_BYTES;
  }

  /** A write failed; when it was for lack of space, the disk counts as full from now on. */
  noteWriteFailed(error: unknown): void {
    if (!isOutOfSpace(error)) return;
    this.sample();
    this.freeWhenFull = this.freeBytes === Number.POSITIVE_INFINITY ? 0 : this.freeBytes;
  }

  /** A write succeeded: whatever was full is not any more. */
  noteWriteSucceeded(): void {
    this.freeWhenFull = null;
  }

  private sample(): void {
    try {
      const s = fs.statfsSync(this.dir);
      this.freeBytes = Number(s.bavail) * Number(s.bsize);
    } catch {
      // Unknown: do not claim the disk is full.
      this.freeBytes = Number.POSITIVE_INFINITY;
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}
