// Free space of the data directory's file system, sampled once a second, so that /healthz and
// the ingest path can tell a full disk without a system call per request.
import fs from 'node:fs';

/** Watches the free bytes of the file system holding `dir`. */
export class DiskSpaceWatch {
  private freeBytes = Number.POSITIVE_INFINITY;
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
    return this.freeBytes < this.minFreeBytes;
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
