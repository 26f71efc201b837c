// Where a benchmarked server's memory is: samples its resident set from /proc and the snapshot it
// writes to SILLAGE_MEMORY_REPORT_FILE (src/cli/memory-report.ts), keeps the snapshot taken at
// the resident-set peak and each part's own peak, and prints them.
import fs from 'node:fs';
import type { MemoryFigures } from '../src/cli/memory-report.js';

const MB = 1024 * 1024;
const mb = (bytes: number): string => (bytes / MB).toFixed(0);

function vmRss(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

function readReport(file: string): MemoryFigures | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as MemoryFigures;
  } catch {
    return null;
  }
}

/** Samples every `intervalMs` until `stop`; bounded by the caller's phase. */
export class MemorySampler {
  private readonly timer: NodeJS.Timeout;
  peakRss = 0;
  /** The server's own snapshot closest to the resident-set peak. */
  atPeak: MemoryFigures | null = null;
  /** Each part's peak over the phase, bytes. */
  readonly peaks = {
    heapTotal: 0,
    external: 0,
    workerHeaps: 0,
    duckdb: 0,
    admittedBodyBytes: 0,
    commitQueueBytes: 0,
    commitQueueRecords: 0,
    logBacklogRecords: 0,
  };
  duckdbSettings = '';

  constructor(
    private readonly pid: number,
    private readonly file: string,
    intervalMs = 100,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    const rss = vmRss(this.pid);
    const report = readReport(this.file);
    if (report) {
      const p = this.peaks;
      p.heapTotal = Math.max(p.heapTotal, report.heapTotal);
      p.external = Math.max(p.external, report.external);
      p.workerHeaps = Math.max(p.workerHeaps, report.workerHeaps);
      p.duckdb = Math.max(p.duckdb, report.duckdb?.memory ?? 0);
      p.admittedBodyBytes = Math.max(p.admittedBodyBytes, report.ingest.admittedBodyBytes);
      p.commitQueueBytes = Math.max(p.commitQueueBytes, report.ingest.commitQueueBytes);
      p.commitQueueRecords = Math.max(p.commitQueueRecords, report.ingest.commitQueueRecords);
      p.logBacklogRecords = Math.max(p.logBacklogRecords, report.ingest.logBacklogRecords);
      if (report.duckdb) {
        this.duckdbSettings = `memory_limit ${report.duckdb.memoryLimit}, threads ${report.duckdb.threads}`;
      }
    }
    if (rss > this.peakRss) {
      this.peakRss = rss;
      if (report) this.atPeak = report;
    }
  }

  stop(): void {
    this.sample();
    clearInterval(this.timer);
  }

  /** Lines describing the peak and the parts' peaks, indented by `indent`. */
  describe(indent = '  '): string[] {
    const r = this.atPeak;
    const p = this.peaks;
    const lines: string[] = [];
    if (r) {
      const duck = r.duckdb?.memory ?? 0;
      const v8 = r.heapTotal + r.workerHeaps;
      const rest = r.rssAnon - v8 - r.external - duck;
      const tags = Object.entries(r.duckdb?.byTag ?? {})
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4)
        .map(([tag, bytes]) => `${tag} ${mb(bytes)}`)
        .join(', ');
      lines.push(
        `${indent}at the RSS peak (server's snapshot at ${mb(r.rss)} MB): code/mapped files ${mb(r.rssFile)} + anonymous ${mb(r.rssAnon)} MB` +
          ` = main V8 heap ${mb(r.heapTotal)} (used ${mb(r.heapUsed)}) + worker V8 heaps ${mb(r.workerHeaps)}` +
          ` + Buffers ${mb(r.external)} (ArrayBuffers ${mb(r.arrayBuffers)}) + DuckDB ${mb(duck)}${tags ? ` (${tags})` : ''}` +
          ` + rest ${mb(rest)} (malloc outside DuckDB's accounting, stacks, V8 code)`,
      );
      lines.push(
        `${indent}ingest at the peak: bodies admitted ${mb(r.ingest.admittedBodyBytes)} MB (on workers ${mb(r.ingest.workerBodyBytes)}),` +
          ` commit queue ${mb(r.ingest.commitQueueBytes)} MB / ${r.ingest.commitQueueRecords} records, log backlog ${r.ingest.logBacklogRecords} records (on disk)`,
      );
    } else {
      lines.push(`${indent}(no memory report from the server)`);
    }
    lines.push(
      `${indent}peaks over the run: main V8 heap ${mb(p.heapTotal)} MB, worker V8 heaps ${mb(p.workerHeaps)} MB, Buffers ${mb(p.external)} MB, DuckDB ${mb(p.duckdb)} MB (${this.duckdbSettings || '?'}),` +
        ` bodies admitted ${mb(p.admittedBodyBytes)} MB, commit queue ${mb(p.commitQueueBytes)} MB / ${p.commitQueueRecords} records, log backlog ${p.logBacklogRecords} records`,
    );
    return lines;
  }
}
