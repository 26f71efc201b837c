// Server-error answers (5xx: 503 under overload above all) logged as one summary line per route
// and status per interval, with counts, instead of one line per request: a flood must not turn
// into a flood of log lines. Only allowlisted fields (route pattern, method, status, counts).
import type { Logger } from '../shared/log.js';

/** How often the summary is written while 5xx answers occur. */
export const ANSWER_LOG_INTERVAL_MS = 10_000;

interface Tally {
  route: string;
  method: string;
  status: number;
  count: number;
  maxDurationMs: number;
}

/** Counts 5xx answers and writes them as `requests answered with a server error` summaries. */
export class ServerErrorLog {
  private readonly tallies = new Map<string, Tally>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs: number = ANSWER_LOG_INTERVAL_MS,
  ) {}

  /** Notes one answer; the first one of a quiet period starts the interval. */
  note(route: string, method: string, status: number, durationMs: number): void {
    const key = `${method} ${route} ${status}`;
    const tally = this.tallies.get(key);
    if (tally) {
      tally.count++;
      tally.maxDurationMs = Math.max(tally.maxDurationMs, durationMs);
    } else {
      this.tallies.set(key, { route, method, status, count: 1, maxDurationMs: durationMs });
    }
    if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** Writes what was counted since the last summary (also on shutdown). */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const t of this.tallies.values()) {
      this.logger.warn('requests answered with a server error', {
        route: t.route,
        method: t.method,
        status: t.status,
        count: t.count,
        durationMs: t.maxDurationMs,
      });
    }
    this.tallies.clear();
  }
}
