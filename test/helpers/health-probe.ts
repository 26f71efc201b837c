// Measuring a server under load without sharing an event loop with the load: a /healthz poller in
// its own process, and an event-loop delay monitor preloaded into the server process.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** One /healthz probe: when it started (ms since the poller started), its latency, its status. */
export interface HealthSample {
  atMs: number;
  latencyMs: number;
  /** 0: no answer (connection refused or reset). */
  status: number;
}

// The poller: one request at a time, `PAUSE_MS` apart, bounded by `MAX_PROBES` and by `stop`
// (SIGTERM), then prints its samples as JSON. A separate process, so that a load generator in
// the parent (building and uploading large bodies) cannot delay the probes it is measuring.
const POLLER = `
const url = process.argv[1] + '/healthz';
const MAX_PROBES = 50000, PAUSE_MS = Number(process.argv[2]);
const t0 = performance.now(); const samples = []; let stopped = false;
process.on('SIGTERM', () => { stopped = true; });
for (let i = 0; i < MAX_PROBES && !stopped; i++) {
  const start = performance.now();
  let status = 0;
  try { const r = await fetch(url); await r.arrayBuffer(); status = r.status; } catch {}
  samples.push([Math.round(start - t0), performance.now() - start, status]);
  await new Promise((r) => setTimeout(r, PAUSE_MS));
}
process.stdout.write(JSON.stringify(samples));
`;

/** A running poller; `stop` ends it and returns its samples. */
export interface HealthPoller {
  stop(): Promise<HealthSample[]>;
}

/** Starts polling `url`/healthz from a separate process, one probe every `pauseMs` (plus latency). */
export function startHealthPoller(url: string, pauseMs = 10): HealthPoller {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--input-type=module', '-e', POLLER, url, String(pauseMs)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    async stop() {
      child.kill('SIGTERM');
      await exited;
      const raw = JSON.parse(out || '[]') as [number, number, number][];
      return raw.map(([atMs, latencyMs, status]) => ({ atMs, latencyMs, status }));
    },
  };
}

/** The q-quantile (0..1) of `values`, NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? Number.NaN;
}

/** Event-loop delay of the server's main thread over one interval, ms. */
export interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
  /** Peak of the main thread's V8 heap and of memory outside it (Buffers, DuckDB, workers), MB. */
  peakHeapMb: number;
  peakExternalMb: number;
}

/**
 * Node arguments that preload an event-loop delay monitor (perf_hooks.monitorEventLoopDelay) into
 * the server's main thread. Each SIGUSR2 appends the figures since the previous one to `file` as
 * a JSON line and starts a new interval. Measurement only: nothing of the server changes.
 */
export function loopDelayPreload(file: string): string[] {
  const code = `
import { isMainThread, threadId } from 'node:worker_threads';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import fs from 'node:fs';
if (!isMainThread) {
  // Worker threads cannot get the signal: each writes its current V8 heap to its own file.
  setInterval(() => {
    fs.writeFileSync(${JSON.stringify(file)} + '.thread-' + threadId,
      String(getHeapStatistics().total_physical_size));
  }, 100).unref();
}
if (isMainThread) {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  let heap = 0, external = 0;
  setInterval(() => {
    const m = process.memoryUsage();
    heap = Math.max(heap, m.heapTotal); external = Math.max(external, m.external);
    fs.writeFileSync(${JSON.stringify(file)} + '.main', JSON.stringify([m.heapTotal, m.external]));
  }, 100).unref();
  process.on('SIGUSR2', () => {
    const ms = (ns) => Math.round(ns / 1e4) / 100;
    const mb = (b) => Math.round(b / 1048576);
    fs.appendFileSync(${JSON.stringify(file)}, JSON.stringify({ p50: ms(h.percentile(50)),
      p99: ms(h.percentile(99)), max: ms(h.max), peakHeapMb: mb(heap),
      peakExternalMb: mb(external) }) + '\\n');
    h.reset(); heap = 0; external = 0;
  });
}`;
  return ['--import', `data:text/javascript,${encodeURIComponent(code)}`];
}

/** The V8 heaps of the server's worker threads now (sum over threads, MB), from the preload. */
export function workerHeapsMb(file: string): number {
  const dir = path.dirname(file);
  let bytes = 0;
  for (const name of fs.readdirSync(dir)) {
    if (!name.startsWith(`${path.basename(file)}.thread-`)) continue;
    try {
      bytes += Number(fs.readFileSync(path.join(dir, name), 'utf8')) || 0;
    } catch {
      // A file being rewritten: counted at the next sample.
    }
  }
  return bytes / 1048576;
}

/**
 * The server main thread's V8 heap (committed) and memory outside V8 heaps held by JavaScript
 * objects (Buffers, ArrayBuffers, also those shared with workers) now, MB, from the preload.
 */
export function mainThreadMemory(file: string): { heapMb: number; externalMb: number } {
  try {
    const [heap, external] = JSON.parse(fs.readFileSync(`${file}.main`, 'utf8')) as number[];
    return { heapMb: (heap ?? 0) / 1048576, externalMb: (external ?? 0) / 1048576 };
  } catch {
    // Not written yet, or being rewritten.
    return { heapMb: 0, externalMb: 0 };
  }
}

/** Asks the preloaded monitor for the interval just ended and returns its figures. */
export async function takeLoopDelay(pid: number, file: string): Promise<LoopDelay> {
  const before = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').length : 1;
  process.kill(pid, 'SIGUSR2');
  // Bounded: the server answers within a turn of its event loop; give it up to 10 s.
  for (let i = 0; i < 200; i++) {
    const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n') : [''];
    if (lines.length > before) return JSON.parse(lines[lines.length - 2] as string) as LoopDelay;
    await new Promise((r) => setTimeout(r, 50));
  }
  const none = Number.NaN;
  return { p50: none, p99: none, max: none, peakHeapMb: none, peakExternalMb: none };
}
