// `npm run bench:abuse`: hostile traffic with only the public token, on loopback. Two phases in
// one run against one server: benign batches alone, then the same benign batches next to a flood
// of adversarial bodies (a 9.5 MB string, deep nesting, many keys, "1 1 1 …" card-like strings,
// slow bodies, gzip bombs). Prints, for each phase side by side: /healthz p50/p99/max latency seen
// by a poller in its own process (so that building and uploading the flood here cannot delay the
// probes), the server main thread's event-loop delay (perf_hooks, preloaded into the server) and
// peak RSS; then the answers each kind got, and checks after shutdown that every acknowledged
// event is in the store. Every loop is bounded in count and time. BENCH_STORE_EVENTS=N stores N
// events first (in another project), so that the flood meets a grown store.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVER_ENV, SERVER_NODE_FLAGS } from '../src/shared/node-flags.js';
import { makeTestEnv } from '../test/helpers/server.js';
import { openStopped, readEvents } from '../test/helpers/store.js';
import {
  loopDelayPreload,
  mainThreadMemory,
  quantile,
  startHealthPoller,
  takeLoopDelay,
  workerHeapsMb,
  type LoopDelay,
} from '../test/helpers/health-probe.js';
import { MemorySampler } from './memory-breakdown.js';
import { SEED_EVENTS_SQL } from './seed-store.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist/cli/main.js');
const PHASE_MS = Number(process.env.BENCH_SECONDS ?? 15) * 1000;
const BENIGN_SENDERS = 4;
const MAX_REQUESTS_PER_SENDER = 5_000;
/** Events per benign batch: 50 (~12 KB, decoded on a worker); under 30, on the HTTP thread. */
const BENIGN_EVENTS = Number(process.env.BENCH_BENIGN_EVENTS ?? 50);
/**
 * Events already stored before the server starts (another project's, over 90 days), so that the
 * flood meets a grown store: its memory must not grow with the data (README "Memory").
 */
const STORE_EVENTS = Number(process.env.BENCH_STORE_EVENTS ?? 0);

/** Writes `n` synthetic events of a project of their own into the stopped store at `dataDir`. */
async function seedStore(dataDir: string, n: number): Promise<void> {
  const db = await openStopped(dataDir);
  try {
    await db.writer.run((c) => c.run(SEED_EVENTS_SQL, [n]));
    await db.checkpoint();
  } finally {
    await db.close();
  }
  console.log(`seeded the store with ${n.toLocaleString('en-US')} events of another project`);
}

/**
 * The variables of this process that reach the server (makeTestEnv starts from an empty
 * environment): Sillage's own settings, the C library's allocator tunables and DuckDB's jemalloc
 * options (`DUCKDB_JE_MALLOC_CONF`), so that e.g. `MALLOC_ARENA_MAX=2 npm run bench:abuse`
 * measures what it says.
 */
function passedEnv(): Record<string, string> {
  const passed: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (
      /^(SILLAGE_|MALLOC_)/.test(k) ||
      k === 'GLIBC_TUNABLES' ||
      k === 'DUCKDB_JE_MALLOC_CONF' ||
      k === 'UV_THREADPOOL_SIZE'
    ) {
      passed[k] = v;
    }
  }
  return passed;
}

interface Phase {
  name: string;
  health: number[];
  loop: LoopDelay;
  peakRssMb: number;
  /** At the peak: anonymous memory (heaps, buffers, DuckDB) and mapped files (code). */
  peakAnonMb: number;
  peakFileMb: number;
  /** Peak of the worker threads' V8 heaps together. */
  peakWorkerHeapsMb: number;
  answers: Map<string, number>;
  /** Latency of each benign request (sent to answered), ms; a failed one counts as infinite. */
  benignMs: number[];
  /** Main-thread V8 heap, Buffers and worker heaps sampled at the RSS peak, MB. */
  atPeak: { heapMb: number; externalMb: number; workersMb: number };
  /** The server's own memory report (DuckDB, ingest queues) over the phase. */
  memory: MemorySampler | null;
}

function count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function rssMb(pid: number): { rss: number; anon: number; file: number } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return { rss: kb('VmRSS') / 1024, anon: kb('RssAnon') / 1024, file: kb('RssFile') / 1024 };
  } catch {
    return { rss: 0, anon: 0, file: 0 };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts bench/abuse-flood.ts for `ms`: `ready` resolves once its bodies are built and the flood
 * begins, `done` when it ended, having added the answers its requests got to `answers`.
 */
function startFlood(
  url: string,
  token: string,
  ms: number,
  answers: Map<string, number>,
): { ready: Promise<void>; done: Promise<void> } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'bench/abuse-flood.ts'), url, token, String(ms)],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env } },
  );
  let out = '';
  let signalReady = (): void => undefined;
  const ready = new Promise<void>((resolve) => (signalReady = resolve));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    if (out.startsWith('ready\n')) signalReady();
  });
  const done = new Promise<void>((resolve) => {
    child.once('exit', () => {
      signalReady();
      const json = out.startsWith('ready\n') ? out.slice('ready\n'.length) : out;
      const counted = JSON.parse(json.trim() || '{}') as Record<string, number>;
      for (const [k, v] of Object.entries(counted)) answers.set(k, (answers.get(k) ?? 0) + v);
      resolve();
    });
  });
  return { ready, done };
}

async function main(): Promise<void> {
  const loadAtStart = os.loadavg()[0]!.toFixed(2);
  // What `npm start` sets, unless this process's environment says otherwise.
  const serverEnv = { ...SERVER_ENV, ...passedEnv() };
  const memoryFile = path.join(os.tmpdir(), `sillage-abuse-memory-${process.pid}.json`);
  const t = makeTestEnv({
    SILLAGE_LOG_LEVEL: 'warn',
    SILLAGE_MEMORY_REPORT_FILE: memoryFile,
    ...serverEnv,
  });
  const base = t.base;
  const env = t.env;
  const project = JSON.parse(
    execFileSync(process.execPath, [CLI, 'project', 'create', '--name', 'bench', '--json'], {
      env,
    }).toString(),
  ) as { project_id: string; token: string };
  if (STORE_EVENTS > 0) await seedStore(t.dataDir, STORE_EVENTS);
  const port = await new Promise<number>((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
  const loopFile = path.join(base, 'loop-delay.jsonl');
  const child = spawn(
    process.execPath,
    [
      ...SERVER_NODE_FLAGS,
      ...loopDelayPreload(loopFile),
      ...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean),
      CLI,
      'serve',
      '--port',
      String(port),
    ],
    { env, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if ((await fetch(`${url}/healthz`).catch(() => null))?.status === 200) break;
    await sleep(100);
  }
  const acked = new Set<string>();
  let seq = 0;
  const benignSender = async (stop: () => boolean, phase: Phase) => {
    const answers = phase.answers;
    for (let r = 0; r < MAX_REQUESTS_PER_SENDER && !stop(); r++) {
      const ids = Array.from({ length: BENIGN_EVENTS }, () => `e${seq++}`);
      const sentAt = performance.now();
      // verbose=1, as mixpanel-browser sends every batch: a refusal then says why.
      const res = await fetch(`${url}/track?verbose=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(
          ids.map((id) => ({
            event: 'Page view',
            properties: {
              token: project.token,
              distinct_id: `u${seq % 500}`,
              $insert_id: id,
              probe: id,
              $current_url: 'https://shop.example.com/p/1?utm_source=news',
              plan: 'pro',
            },
          })),
        ),
      }).catch(() => null);
      const text = res ? await res.text() : '';
      phase.benignMs.push(
        res?.status === 200 ? performance.now() - sentAt : Number.POSITIVE_INFINITY,
      );
      const answer = ((): { status?: number; error?: string | null } => {
        try {
          return JSON.parse(text) as { status?: number; error?: string | null };
        } catch {
          return {};
        }
      })();
      const why = res?.status === 200 ? '' : ` (${(answer.error ?? text).slice(0, 80)})`;
      count(answers, `benign: ${res?.status ?? 'network error'}${why}`);
      if (res?.status === 200 && answer.status === 1) for (const id of ids) acked.add(id);
      else await sleep(100);
    }
  };
  const run = async (name: string, flood: boolean): Promise<Phase> => {
    const phase: Phase = {
      name,
      health: [],
      loop: { p50: 0, p99: 0, max: 0, peakHeapMb: 0, peakExternalMb: 0 },
      peakRssMb: 0,
      peakAnonMb: 0,
      peakFileMb: 0,
      peakWorkerHeapsMb: 0,
      answers: new Map(),
      benignMs: [],
      atPeak: { heapMb: 0, externalMb: 0, workersMb: 0 },
      memory: null,
    };
    // The flood comes from its own process, so that building and uploading it does not delay
    // the benign senders here (whose latency is measured) on this process's event loop.
    const floodRun = flood ? startFlood(url, project.token, PHASE_MS, phase.answers) : null;
    await floodRun?.ready;
    // The monitor's interval starts now.
    await takeLoopDelay(child.pid!, loopFile);
    phase.memory = new MemorySampler(child.pid!, memoryFile);
    const end = Date.now() + PHASE_MS;
    const stop = () => Date.now() > end;
    const sampler = setInterval(() => {
      const workers = workerHeapsMb(loopFile);
      phase.peakWorkerHeapsMb = Math.max(phase.peakWorkerHeapsMb, workers);
      const m = rssMb(child.pid!);
      if (m.rss > phase.peakRssMb) {
        phase.peakRssMb = m.rss;
        phase.peakAnonMb = m.anon;
        phase.peakFileMb = m.file;
        const main = mainThreadMemory(loopFile);
        phase.atPeak = { heapMb: main.heapMb, externalMb: main.externalMb, workersMb: workers };
      }
    }, 100);
    const work: Promise<unknown>[] = Array.from({ length: BENIGN_SENDERS }, () =>
      benignSender(stop, phase),
    );
    if (floodRun) work.push(floodRun.done);
    const poller = startHealthPoller(url, 20);
    await sleep(PHASE_MS);
    // A probe that got no 200 counts as infinitely slow.
    phase.health = (await poller.stop()).map((s) =>
      s.status === 200 ? s.latencyMs : Number.POSITIVE_INFINITY,
    );
    phase.loop = await takeLoopDelay(child.pid!, loopFile);
    await Promise.all(work);
    clearInterval(sampler);
    phase.memory.stop();
    return phase;
  };

  const benign = await run('benign only', false);
  await sleep(2_000);
  const flooded = await run('benign + flood', true);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));

  // Insert ids are stored as keyed pseudonyms: each event also carries its id as `probe`.
  const events = await readEvents(t.dataDir, project.project_id);
  const stored = new Set(events.map((e) => e.properties.probe as string));
  const lost = [...acked].filter((id) => !stored.has(id)).length;

  const fmt = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)}` : 'failed');
  console.log(
    `\nbench:abuse on ${os.availableParallelism()} cores, ${PHASE_MS / 1000} s per phase; ` +
      `server: node ${[...SERVER_NODE_FLAGS, ...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ')].join(' ').trim()}` +
      `${Object.keys(serverEnv).length ? `, env ${JSON.stringify(serverEnv)}` : ''}`,
  );
  console.log(
    'phase            | /healthz n | p50 ms | p99 ms | max ms | loop delay p99 ms | max ms | peak RSS MB',
  );
  for (const p of [benign, flooded]) {
    console.log(
      `${p.name.padEnd(16)} | ${String(p.health.length).padStart(10)} | ${fmt(quantile(p.health, 0.5)).padStart(6)} | ` +
        `${fmt(quantile(p.health, 0.99)).padStart(6)} | ${fmt(Math.max(...p.health)).padStart(6)} | ` +
        `${fmt(p.loop.p99).padStart(17)} | ${fmt(p.loop.max).padStart(6)} | ${p.peakRssMb.toFixed(0).padStart(11)}`,
    );
  }
  console.log(
    `ratio flood/benign: /healthz p99 ${(quantile(flooded.health, 0.99) / quantile(benign.health, 0.99)).toFixed(2)}×, ` +
      `loop delay p99 ${(flooded.loop.p99 / benign.loop.p99).toFixed(2)}×, ` +
      `peak RSS ${(flooded.peakRssMb / benign.peakRssMb).toFixed(2)}×`,
  );
  console.log(
    `(/healthz from a separate process, one probe every 20 ms; loop delay = the server main ` +
      `thread's perf_hooks event-loop delay)`,
  );
  console.log(`\nbenign batches (${BENIGN_EVENTS} events each), sent to answered:`);
  for (const p of [benign, flooded]) {
    console.log(
      `  ${p.name.padEnd(16)} ${String(p.benignMs.length).padStart(5)} requests, ` +
        `p50 ${fmt(quantile(p.benignMs, 0.5))} ms, p99 ${fmt(quantile(p.benignMs, 0.99))} ms`,
    );
  }
  console.log('\npeak RSS, what it is made of (MB, sampled at the peak):');
  console.log(
    '  phase            |  RSS | code (mapped files) | anonymous = main V8 heap + Buffers + worker V8 heaps + native (DuckDB, malloc, stacks)',
  );
  for (const p of [benign, flooded]) {
    const a = p.atPeak;
    const native = p.peakAnonMb - a.heapMb - a.externalMb - a.workersMb;
    console.log(
      `  ${p.name.padEnd(16)} | ${p.peakRssMb.toFixed(0).padStart(4)} | ` +
        `${p.peakFileMb.toFixed(0).padStart(19)} | ${p.peakAnonMb.toFixed(0)} = ${a.heapMb.toFixed(0)} + ` +
        `${a.externalMb.toFixed(0)} + ${a.workersMb.toFixed(0)} + ${native.toFixed(0)}`,
    );
  }
  for (const p of [benign, flooded]) {
    console.log(
      `  ${p.name}: peaks over the phase: main-thread V8 heap ${p.loop.peakHeapMb} MB, Buffers ` +
        `${p.loop.peakExternalMb} MB, worker V8 heaps ${p.peakWorkerHeapsMb.toFixed(0)} MB`,
    );
  }
  for (const p of [benign, flooded]) {
    console.log(`  ${p.name}, the server's own report:`);
    for (const line of p.memory?.describe('    ') ?? []) console.log(line);
  }
  console.log(
    `machine load (uptime 1-min average) at start ${loadAtStart}, at end ${os.loadavg()[0]!.toFixed(2)}`,
  );
  console.log('targets: /healthz p99 < 100 ms and peak RSS < 512 MB while flooded, nothing lost');
  console.log('\nanswers:');
  for (const p of [benign, flooded]) {
    for (const [k, v] of [...p.answers].sort()) console.log(`  [${p.name}] ${k}: ${v}`);
  }
  console.log(`\nacknowledged events: ${acked.size}, stored: ${stored.size}, lost: ${lost}`);
  fs.rmSync(base, { recursive: true, force: true });
  fs.rmSync(memoryFile, { force: true });
  if (lost > 0) process.exitCode = 1;
}

await main();
