// Whether interactive queries are running: the query executor counts them, and the ingest loader
// defers starting a load while any runs (issue 12: a load beside a query doubled its time on two
// cores). Its own file so that neither imports the other for it.

/** The interactive queries running now, and a way to wait until there are none. */
export class QueryActivity {
  private running = 0;
  private readonly waiters = new Set<() => void>();

  /** At least one query runs. */
  get busy(): boolean {
    return this.running > 0;
  }

  /** A query starts. */
  enter(): void {
    this.running++;
  }

  /** A query ended (whatever its outcome). */
  leave(): void {
    this.running = Math.max(0, this.running - 1);
    if (this.running > 0) return;
    for (const wake of [...this.waiters]) wake();
  }

  /** Resolves once no query runs, or after `ms` at the latest. */
  idle(ms: number): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, ms));
      timer.unref();
      this.waiters.add(wake);
    });
  }
}
