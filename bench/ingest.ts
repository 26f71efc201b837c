// `npm run bench:ingest`: sustained Mixpanel-style load on loopback against Sillage and, in the
// same run, against a bare node:http baseline that only decodes the same bodies.
// Prints events/s, p50/p99 acknowledgement latency and peak RSS for both, and the ratio; checks
// that every acknowledged event is in the store after shutdown; and measures, in process, what
// the privacy stage costs per event next to parsing the event's JSON.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as EnrichStage from '../src/ingest/enrich-stage.js';
import type * as PrivacyStage from '../src/ingest/privacy-stage.js';
import type { IncomingEvent } from '../src/ingest/records.js';
import type * as Rows from '../src/ingest/rows.js';
import type * as Wire from '../src/ingest/wire/index.js';
import type * as Privacy from '../src/privacy/index.js';
import type * as MasterKey from '../src/privacy/master-key.js';
import type * as NodeFlags from '../src/shared/node-flags.js';
import type { ProjectContext } from '../src/projects/index.js';
import type * as Store from '../src/store/duckdb/index.js';
import type * as RowJson from '../src/store/row-json.js';
import { MemorySampler } from './memory-breakdown.js';
import { SEED_EVENTS_SQL } from './seed-store.js';
import { browserEvent, EVENT_NAMES } from './browser-event.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist/cli/main.js');
/** The compiled module (what the server runs), for the in-process measurements. */
const dist = <T>(module: string, root = ROOT): Promise<T> =>
  import(pathToFileURL(path.join(root, 'dist', module)).href) as Promise<T>;
/**
 * Events stored before each server starts (`BENCH_STORE_EVENTS`, default 0), in another project,
 * over 90 days, written by that server's own build: loads then meet a grown store, as a server
 * does after months (at 10M, a build whose events had a unique index took seconds per load).
 */
const STORE_EVENTS = Number(process.env.BENCH_STORE_EVENTS ?? 0);
const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 10) * 1000;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const MAX_REQUESTS = 1_000_000;
/** Extra node flags for the server, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it. */
const EXTRA_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
/**
 * Another build's CLI (`BENCH_SERVER_BEFORE=/path/to/dist/cli/main.js`, e.g. a checkout of an
 * earlier commit, built): its server takes the same loads in the same run, right after this
 * build's, in a data directory of its own, so that two versions are compared back to back.
 */
const SERVER_BEFORE_CLI = process.env.BENCH_SERVER_BEFORE;
/** The loads to run (`BENCH_LOADS=batched,single,segment,import`, default all). */
const WANTED = new Set((process.env.BENCH_LOADS ?? 'batched,single,segment,import').split(','));
/**
 * The `segment` load: this many events in batches of 50, as fast as the server takes them, with
 * loads held back (SILLAGE_INGEST_LOAD_DELAY_MS) so that they fill one full segment of the ingest
 * log (a DuckDB row group, 122,880 events) whose load into DuckDB is measured too — what a server
 * under full batched load does every few seconds, whatever this machine's speed.
 */
const SEGMENT_EVENTS = 125_000;
const LOADS = (
  [
    ['batched', 'batched (50 events/request)', 50],
    ['single', 'single event/request', 1],
  ] as const
)
  .filter(([key]) => WANTED.has(key))
  .map(([, label, batch]) => [label, batch] as const);

const UAS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
];

let seq = 0;
/** A mixpanel-browser style event with its usual automatic properties. */
function makeEvent(token: string): unknown {
  return browserEvent(token, seq++, randomBytes(8).toString('hex'), Date.now() / 1000);
}

function body(token: string, batch: number): string {
  const payload =
    batch === 1 ? makeEvent(token) : Array.from({ length: batch }, () => makeEvent(token));
  return 'data=' + encodeURIComponent(Buffer.from(JSON.stringify(payload)).toString('base64'));
}

interface LoadResult {
  events: number;
  requests: number;
  failures: number;
  seconds: number;
  p50: number;
  p99: number;
}

async function runLoad(
  port: number,
  token: string,
  batch: number,
  durationMs: number,
  /** Send exactly this many requests (bounded by `durationMs` too) instead of an estimate. */
  requests?: number,
): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  // Bodies are prepared before the clock starts so the generator does not compete for CPU.
  const estimate = Math.min(
    MAX_REQUESTS,
    requests ?? Math.ceil((batch === 1 ? 12_000 : 2_500) * (durationMs / 1000)),
  );
  const bodies = Array.from({ length: estimate }, () => body(token, batch));
  const latencies: number[] = [];
  let next = 0;
  let failures = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  const path = batch === 1 ? '/track?ip=1' : '/track?ip=1&verbose=1';
  const one = (payload: string): Promise<number> =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path,
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'content-length': Buffer.byteLength(payload),
            'user-agent': UAS[next % UAS.length],
            'x-forwarded-for': '81.2.69.142',
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - t0);
            resolve(res.statusCode ?? 0);
          });
        },
      );
      req.on('error', () => resolve(0));
      req.end(payload);
    });
  let okRequests = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline && next < bodies.length) {
      const payload = bodies[next++]!;
      const status = await one(payload);
      if (status === 200) okRequests++;
      else failures++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return {
    events: okRequests * batch,
    requests: okRequests,
    failures,
    seconds,
    p50: pct(0.5),
    p99: pct(0.99),
  };
}

/** CPU time (user + system, all threads) of a running process, in µs, from /proc. */
function cpuMicros(pid: number): number {
  const fields = procStatFields(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
}

/** The fields of a /proc/PID/stat line after the command name: index 0 is field 3 (state). */
function procStatFields(stat: string): string[] {
  return stat
    .slice(stat.lastIndexOf(')') + 2)
    .trim()
    .split(' ');
}

/** Linux's USER_HZ (the unit of /proc times); 100 on every common build. */
const CLOCK_TICKS = 100;

/**
 * Spawns `node args` under a shell that, once node has exited, prints its own /proc stat: the
 * children's CPU (cutime + cstime) is then node's whole CPU, the shutdown's included. `node` is
 * the returned `pid` (signals go to it); `totalCpu` resolves to its CPU in µs after exit. The
 * shell exits with node's code, so that a failed import reads as failed, not as empty output.
 */
function spawnMeasured(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string },
): { child: ChildProcess; pid: Promise<number>; totalCpu: Promise<number> } {
  const child = spawn(
    '/bin/sh',
    [
      '-c',
      'node_bin=$1; shift; "$node_bin" "$@" & p=$!; echo "node-pid $p" >&2; wait $p; code=$?; echo "self-stat $(cat /proc/$$/stat)" >&2; exit $code',
      'sh',
      process.execPath,
      ...args,
    ],
    options,
  );
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const pid = new Promise<number>((resolve, reject) => {
    const onData = (): void => {
      const m = /node-pid (\d+)/.exec(err);
      if (m) {
        child.stderr?.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', () => reject(new Error('process exited: ' + err)));
  });
  const totalCpu = new Promise<number>((resolve) => {
    child.once('exit', () => {
      const line = /self-stat (.*)/.exec(err)?.[1] ?? '';
      const fields = procStatFields(line);
      resolve(((Number(fields[13]) + Number(fields[14])) * 1e6) / CLOCK_TICKS);
    });
  });
  return { child, pid, totalCpu };
}

function peakRssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

async function waitForLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString();
      const m = pattern.exec(buf);
      if (m) resolve(m[1] ?? m[0]);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', () => reject(new Error('process exited: ' + buf)));
  });
}

/**
 * Encryption at rest, measured on and off in the same run (`BENCH_ENCRYPTION=on|off|both`,
 * default both), each in its own data directory. "on" uses DuckDB's bundled crypto module
 * (SILLAGE_DANGEROUSLY_ALLOW_WEAK_DB_CRYPTO): the httpfs extension that a production set-up
 * would load is not installed here (see README "Encryption at rest").
 */
/**
 * Whether the project was queried before the load (`BENCH_QUERIED=yes|no|both`, default no): a
 * queried project has its per-day tables (person_days, event_days) built, and every load keeps them up to
 * date in its transaction — what a server whose projects people look at does. `both` runs each
 * server twice, the second "(queried)", so that the upkeep's cost reads from one run.
 */
const QUERIED = (() => {
  const wanted = process.env.BENCH_QUERIED ?? 'no';
  if (!['yes', 'no', 'both'].includes(wanted)) throw new Error('BENCH_QUERIED: yes, no or both');
  return [
    ...(wanted === 'yes' ? [] : [{ suffix: '', queried: false }]),
    ...(wanted === 'no' ? [] : [{ suffix: wanted === 'yes' ? '' : ' (queried)', queried: true }]),
  ];
})();

const ENCRYPTION_MODES = [
  { name: 'encryption off', env: { SILLAGE_ENCRYPTION: 'off' } },
  {
    name: 'encryption on',
    env: { SILLAGE_ENCRYPTION: 'on', SILLAGE_DANGEROUSLY_ALLOW_WEAK_DB_CRYPTO: '1' },
  },
].filter((m) => {
  const wanted = process.env.BENCH_ENCRYPTION ?? 'both';
  return wanted === 'both' || m.name === `encryption ${wanted}`;
});

interface ModeRun {
  /** The CLI whose server runs (this build's, or BENCH_SERVER_BEFORE's). */
  cli: string;
  env: NodeJS.ProcessEnv;
  token: string;
  projectId: string;
  acked: number;
}

async function createBenchProject(
  env: NodeJS.ProcessEnv,
  cli = CLI,
): Promise<{ token: string; project_id: string }> {
  return JSON.parse(
    await new Promise<string>((resolve, reject) => {
      const c = spawn(process.execPath, [cli, 'project', 'create', '--name', 'bench', '--json'], {
        env,
      });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.on('exit', (code) =>
        code === 0 ? resolve(out) : reject(new Error('project create failed')),
      );
    }),
  ) as { token: string; project_id: string };
}

async function main(): Promise<void> {
  if (!fs.existsSync(CLI)) throw new Error('run `npm run build` first');
  const { SERVER_NODE_FLAGS, SERVER_ENV } = await dist<typeof NodeFlags>('shared/node-flags.js');
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-bench-'));
  const masterKey = randomBytes(32).toString('hex');
  const runs = new Map<string, ModeRun>();
  const builds = [
    { suffix: '', cli: CLI },
    ...(SERVER_BEFORE_CLI ? [{ suffix: ' (before)', cli: SERVER_BEFORE_CLI }] : []),
  ];
  for (const mode of ENCRYPTION_MODES) {
    for (const [build, queried] of builds.flatMap((b) => QUERIED.map((q) => [b, q] as const))) {
      const name = mode.name + build.suffix + queried.suffix;
      const env = {
        // What `npm start` sets (MALLOC_ARENA_MAX), unless this environment says otherwise.
        ...SERVER_ENV,
        ...process.env,
        SILLAGE_DATA_DIR: path.join(base, name.replace(/\W+/g, '-')),
        SILLAGE_MASTER_KEY: masterKey,
        SILLAGE_TRUST_PROXY: '127.0.0.1',
        SILLAGE_LOG_LEVEL: 'warn',
        SILLAGE_MEMORY_REPORT_FILE: path.join(base, `${name.replace(/\W+/g, '-')}-memory.json`),
        ...mode.env,
      };
      const created = await createBenchProject(env, build.cli);
      if (STORE_EVENTS > 0) {
        // The build's own code opens its store (the schema it expects).
        const root = path.resolve(build.cli, '../../..');
        await withStoppedStore(
          env.SILLAGE_DATA_DIR,
          masterKey,
          (db) => db.writer.run((c) => c.run(SEED_EVENTS_SQL, [STORE_EVENTS])),
          root,
        );
      }
      if (queried.queried) {
        await withStoppedStore(env.SILLAGE_DATA_DIR, masterKey, (db) =>
          db.rollups.ensure(created.project_id, 'UTC'),
        );
      }
      runs.set(name, {
        cli: build.cli,
        env,
        token: created.token,
        projectId: created.project_id,
        acked: 0,
      });
    }
  }
  const anyToken = [...runs.values()][0]?.token ?? 'none';

  interface ServerResult extends LoadResult {
    rss: number;
    drainMs: number;
    stored: number;
    acked: number;
    /** Server CPU (user + system, every thread) per acknowledged event during the load, µs. */
    cpuPerEvent: number;
    /** The same from the warm-up to the exit: the loader's work and the drain included. */
    cpuWithLoad: number;
    /** Where the memory was (the server's own report, sampled with its RSS). */
    memory: MemorySampler;
  }
  const results: Record<
    string,
    {
      baseline?: LoadResult & { rss: number; cpuPerEvent: number };
      sillage: Record<string, ServerResult>;
    }
  > = {};
  for (const [label, batch] of LOADS) {
    results[label] = { sillage: {} };
    const baseline = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'bench/baseline-server.ts'), '0'],
      { cwd: ROOT },
    );
    const basePort = Number(await waitForLine(baseline, /listening (\d+)/));
    await runLoad(basePort, anyToken, batch, 1000); // warm-up
    const baseCpu0 = cpuMicros(baseline.pid!);
    const b = await runLoad(basePort, anyToken, batch, DURATION_MS);
    const baseCpu = (cpuMicros(baseline.pid!) - baseCpu0) / Math.max(1, b.events);
    results[label].baseline = { ...b, rss: peakRssMb(baseline.pid!), cpuPerEvent: baseCpu };
    baseline.kill('SIGKILL');

    for (const [name, run] of runs) {
      // Started as `npm start` starts it (the same node flags), so that the product is measured.
      const measured = spawnMeasured(
        [...SERVER_NODE_FLAGS, ...EXTRA_FLAGS, run.cli, 'serve', '--port', '0'],
        {
          env: run.env,
          cwd: base,
        },
      );
      const server = measured.child;
      const url = await waitForLine(server, /listening on (http:\/\/\S+)/);
      const pid = await measured.pid;
      const port = Number(new URL(url).port);
      const cpuStart = cpuMicros(pid);
      const memory = new MemorySampler(pid, run.env.SILLAGE_MEMORY_REPORT_FILE!);
      const warm = await runLoad(port, run.token, batch, 1000); // warm-up
      const cpu0 = cpuMicros(pid);
      const s = await runLoad(port, run.token, batch, DURATION_MS);
      const cpuPerEvent = (cpuMicros(pid) - cpu0) / Math.max(1, s.events);
      const rss = peakRssMb(pid);
      memory.stop();
      // Graceful stop: what the ingest log holds is loaded into DuckDB before the process exits.
      const stopping = performance.now();
      process.kill(pid, 'SIGTERM');
      await new Promise((r) => server.once('exit', r));
      const drainMs = performance.now() - stopping;
      // Everything from the warm-up on, the loader's work and the shutdown's drain included.
      const cpuWithLoad =
        ((await measured.totalCpu) - cpuStart) / Math.max(1, warm.events + s.events);
      run.acked += warm.events + s.events;
      const stored = await storedEvents(run.env.SILLAGE_DATA_DIR!, run.projectId, masterKey);
      results[label].sillage[name] = {
        ...s,
        rss,
        drainMs,
        stored,
        acked: run.acked,
        cpuPerEvent,
        cpuWithLoad,
        memory,
      };
    }
  }
  const segmentLoads = new Map<string, SegmentLoadResult>();
  if (WANTED.has('segment')) {
    for (const [name, run] of runs) {
      segmentLoads.set(name, await segmentLoad(run, base, SERVER_NODE_FLAGS));
    }
  }
  const imported = WANTED.has('import') ? await importBench(base, [...runs.values()][0]!) : null;
  const privacy = await privacyCost(anyToken);

  const fmt = (r: LoadResult & { rss: number; cpuPerEvent: number }): string =>
    `${Math.round(r.events / r.seconds)
      .toLocaleString('en-US')
      .padStart(
        9,
      )} events/s  p50 ${r.p50.toFixed(2).padStart(7)} ms  p99 ${r.p99.toFixed(2).padStart(7)} ms  peak RSS ${String(r.rss).padStart(5)} MB  CPU ${r.cpuPerEvent.toFixed(1).padStart(6)} µs/event  failures ${r.failures}`;
  const rate = (r: LoadResult): number => r.events / r.seconds;
  console.log(
    `\nIngest benchmark — ${os.cpus().length} cores, ${CONCURRENCY} concurrent connections, ${DURATION_MS / 1000}s per run, loopback`,
  );
  for (const [label, r] of Object.entries(results)) {
    if (!r.baseline) continue;
    console.log(`\n${label}`);
    for (const [name, s] of Object.entries(r.sillage)) {
      console.log(`  sillage, ${name.padEnd(23)} (durable): ${fmt(s)}`);
      for (const line of s.memory.describe('      ')) console.log(line);
    }
    console.log(`  baseline (no store):                             ${fmt(r.baseline)}`);
    for (const [name, s] of Object.entries(r.sillage)) {
      console.log(
        `  ${name}: ${((rate(s) / rate(r.baseline)) * 100).toFixed(1)} % of baseline; server CPU ${s.cpuPerEvent.toFixed(1)} µs/event (${(s.cpuPerEvent / r.baseline.cpuPerEvent).toFixed(1)}× baseline's ${r.baseline.cpuPerEvent.toFixed(1)}), ${s.cpuWithLoad.toFixed(1)} µs/event with the loader and the drain; durable: ${s.stored.toLocaleString('en-US')} of ${s.acked.toLocaleString('en-US')} acknowledged events (all runs so far) in DuckDB after shutdown; shutdown (log drain) ${Math.round(s.drainMs)} ms`,
      );
    }
    for (const [name, s] of Object.entries(r.sillage)) {
      const before = r.sillage[`${name} (before)`];
      if (!before) continue;
      console.log(
        `  ${name}, this build / BENCH_SERVER_BEFORE's: events/s ${((rate(s) / rate(before)) * 100).toFixed(1)} %, peak RSS ${s.rss} / ${before.rss} MB (${((s.rss / before.rss) * 100).toFixed(1)} %), CPU per event ${((s.cpuPerEvent / before.cpuPerEvent) * 100).toFixed(1)} %`,
      );
    }
    const off = r.sillage['encryption off'];
    const on = r.sillage['encryption on'];
    if (off && on) {
      console.log(
        `  encryption on / off: ${((rate(on) / rate(off)) * 100).toFixed(1)} % of the throughput, p50 ${(on.p50 / off.p50).toFixed(2)}×, p99 ${(on.p99 / off.p99).toFixed(2)}×, shutdown ${(on.drainMs / Math.max(1, off.drainMs)).toFixed(2)}×`,
      );
    }
  }
  if (segmentLoads.size > 0) {
    console.log(
      `\nOne full ingest-log segment (${SEGMENT_EVENTS.toLocaleString('en-US')} events in batches of 50, ${CONCURRENCY} connections) taken, then loaded into DuckDB:`,
    );
    for (const [name, r] of segmentLoads) {
      console.log(
        `  sillage, ${name.padEnd(23)}: ${Math.round(r.events / r.seconds)
          .toLocaleString('en-US')
          .padStart(
            9,
          )} events/s taken, loaded ${r.loadedMs === null ? 'not within the time allowed' : `${(r.loadedMs / 1000).toFixed(1)} s after the last`}; peak RSS ${String(r.rss).padStart(5)} MB  failures ${r.failures}`,
      );
      for (const line of r.memory.describe('      ')) console.log(line);
    }
  }
  if (imported) printImport(imported);
  console.log(
    `\nIn process, per event (median of ${PRIVACY_ROUNDS} rounds over ${PRIVACY_EVENTS.toLocaleString('en-US')} events):`,
  );
  console.log(
    `  JSON.parse of the event's JSON:          ${privacy.parse.toFixed(2).padStart(6)} µs`,
  );
  console.log(
    `  privacy stage (scan, pseudonymise, URLs): ${privacy.privacy.toFixed(2).padStart(6)} µs  (${(privacy.privacy / privacy.parse).toFixed(1)}× JSON.parse)`,
  );
  console.log(
    `  + store row and row JSON:                ${privacy.rows.toFixed(2).padStart(6)} µs`,
  );
  fs.rmSync(base, { recursive: true, force: true });
}

interface SegmentLoadResult {
  events: number;
  seconds: number;
  failures: number;
  /** From the last acknowledgement until the full segment was loaded (null: timed out). */
  loadedMs: number | null;
  rss: number;
  memory: MemorySampler;
}

/** See SEGMENT_EVENTS. Each run's server is started on its own data directory, as it was left. */
async function segmentLoad(
  run: ModeRun,
  base: string,
  nodeFlags: readonly string[],
): Promise<SegmentLoadResult> {
  const env: NodeJS.ProcessEnv = { ...run.env, SILLAGE_INGEST_LOAD_DELAY_MS: '600000' };
  const measured = spawnMeasured([...nodeFlags, ...EXTRA_FLAGS, run.cli, 'serve', '--port', '0'], {
    env,
    cwd: base,
  });
  const url = await waitForLine(measured.child, /listening on (http:\/\/\S+)/);
  const pid = await measured.pid;
  const memory = new MemorySampler(pid, env.SILLAGE_MEMORY_REPORT_FILE!);
  const logDir = path.join(env.SILLAGE_DATA_DIR!, 'ingest-log');
  const segments = (): string[] => fs.readdirSync(logDir).filter((f) => f.endsWith('.ndjson'));
  const load = await runLoad(
    Number(new URL(url).port),
    run.token,
    50,
    600_000,
    SEGMENT_EVENTS / 50,
  );
  run.acked += load.events;
  // The full segment was sealed at 122,880 events and is removed once loaded: wait until the
  // oldest segment present after the load is gone (bounded: 3 minutes).
  // With one segment left (the open one), the full one is already loaded.
  const present = segments().sort();
  const first = present.length > 1 ? present[0] : undefined;
  const t0 = performance.now();
  let loadedMs: number | null = first === undefined ? 0 : null;
  for (let i = 0; i < 1800 && first !== undefined; i++) {
    if (!segments().includes(first)) {
      loadedMs = performance.now() - t0;
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const rss = peakRssMb(pid);
  memory.stop();
  process.kill(pid, 'SIGTERM');
  await new Promise((r) => measured.child.once('exit', r));
  return {
    events: load.events,
    seconds: load.seconds,
    failures: load.failures,
    loadedMs,
    rss,
    memory,
  };
}

const IMPORT_EVENTS = Number(process.env.BENCH_IMPORT_EVENTS ?? 1_000_000);
/**
 * Another build's CLI (`BENCH_IMPORT_BEFORE=/path/to/dist/cli/main.js`, e.g. a checkout of an
 * earlier commit, built): its importer runs on the same file in the same run, in a data directory
 * of its own, so that two versions of the importer are compared back to back.
 */
const IMPORT_BEFORE_CLI = process.env.BENCH_IMPORT_BEFORE;

/** One line of a Mixpanel raw export (the shape `/api/2.0/export` gives), ~450 bytes. */
function exportLine(n: number): string {
  const user = `user-${(n * 7919) % 50_000}`;
  return JSON.stringify({
    event: EVENT_NAMES[n % EVENT_NAMES.length],
    properties: {
      time: 1_600_000_000 + Math.floor(n / 4),
      distinct_id: user,
      $insert_id: `ins-${n.toString(36)}-${(n * 2654435761) % 1e9}`,
      $device_id: `dev-${(n * 31) % 70_000}`,
      $user_id: user,
      mp_country_code: n % 3 ? 'FR' : 'US',
      $region: n % 3 ? 'Ile-de-France' : 'California',
      $city: n % 3 ? 'Paris' : 'San Francisco',
      $browser: 'Chrome',
      $browser_version: 120,
      $os: 'Windows',
      $current_url: `https://shop.example.com/products/${n % 300}?utm_source=news&ref=abc`,
      $referring_domain: 'www.google.com',
      $screen_height: 1080,
      $screen_width: 1920,
      mp_lib: 'web',
      $lib_version: '2.55.0',
      mp_processing_time_ms: 1_600_000_000_000 + n,
      plan: n % 3 === 0 ? 'pro' : 'free',
      cart_value: (n % 1000) / 10,
      items: n % 7,
    },
  });
}

interface ImportResult {
  events: number;
  bytes: number;
  seconds: number;
  cpuPerEvent: number;
  rss: number;
  imported: number;
  duplicates: number;
  /** Events/s early and late in the import (a pace that falls as the table grows shows here). */
  pace: ImportPace | null;
  baseline: { seconds: number; cpuPerEvent: number; rss: number };
  /** The other build's importer (BENCH_IMPORT_BEFORE), when asked for. */
  before: { seconds: number; cpuPerEvent: number; rss: number; pace: ImportPace | null } | null;
}

/** Events committed by an importer so far, read from one of its progress lines. */
interface ProgressPoint {
  seconds: number;
  imported: number;
}

interface ImportPace {
  /** Events/s over the first third of the events committed (after the first commit). */
  first: number;
  /** Events/s over the last third (until the last commit a progress line showed). */
  last: number;
  /** The events each figure covers (commits are whole batches, so not exactly a third). */
  firstEvents: number;
  lastEvents: number;
}

/**
 * The pace early and late in an import, from its progress lines: between the first line that
 * shows a commit and the last one, so that neither the start (workers starting, the first batch
 * gathering) nor the end (the store's close) blurs it; null when too few lines were printed.
 */
function paceOf(points: ProgressPoint[]): ImportPace | null {
  const start = points.find((p) => p.imported > 0);
  const end = points.at(-1);
  if (!start || !end || end.imported <= start.imported) return null;
  const third = (end.imported - start.imported) / 3;
  const firstEnd = points.find((p) => p.imported >= start.imported + third);
  const lastStart = points.findLast((p) => p.imported <= end.imported - third);
  if (!firstEnd || !lastStart || firstEnd === start || lastStart === end) return null;
  return {
    first: (firstEnd.imported - start.imported) / (firstEnd.seconds - start.seconds),
    last: (end.imported - lastStart.imported) / (end.seconds - lastStart.seconds),
    firstEvents: firstEnd.imported - start.imported,
    lastEvents: end.imported - lastStart.imported,
  };
}

function paceLine(label: string, pace: ImportPace | null): string {
  if (!pace) return `  ${label} pace: too short to tell (too few progress lines)`;
  const rate = (n: number): string => Math.round(n).toLocaleString('en-US');
  return `  ${label} pace: first ${pace.firstEvents.toLocaleString('en-US')} events ${rate(pace.first)} events/s, last ${pace.lastEvents.toLocaleString('en-US')} events ${rate(pace.last)} events/s (last/first ${(pace.last / pace.first).toFixed(2)})`;
}

/**
 * `sillage import` of a generated export (BENCH_IMPORT_EVENTS lines, written to a temporary file
 * and removed afterwards) on the stopped store, next to a bare baseline in the same run: one node
 * process that reads the same file line by line and parses each line's JSON.
 */
async function importBench(base: string, run: ModeRun): Promise<ImportResult> {
  const file = path.join(base, 'export.jsonl');
  const out = fs.createWriteStream(file);
  for (let n = 0; n < IMPORT_EVENTS; n += 1000) {
    let text = '';
    for (let i = n; i < Math.min(IMPORT_EVENTS, n + 1000); i++) text += exportLine(i) + '\n';
    if (!out.write(text)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((e?: Error | null) => (e ? reject(e) : resolve())),
  );
  const bytes = fs.statSync(file).size;
  const measure = async (
    args: string[],
    env: NodeJS.ProcessEnv = run.env,
  ): Promise<{
    seconds: number;
    cpu: number;
    rss: number;
    stdout: string;
    progress: ProgressPoint[];
  }> => {
    const m = spawnMeasured(args, { env, cwd: base });
    let stdout = '';
    m.child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    const t0 = performance.now();
    // The importer's plain progress lines (stderr is not a terminal here, so one every 10 s):
    // how many events were committed when, to compare the pace early and late in the import.
    const progress: ProgressPoint[] = [];
    let partial = '';
    m.child.stderr?.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const hit = /^importing: \d+% \| ([\d,]+) imported/.exec(line);
        if (hit)
          progress.push({
            seconds: (performance.now() - t0) / 1000,
            imported: Number(hit[1]!.replaceAll(',', '')),
          });
      }
    });
    const pid = await m.pid;
    let rss = 0;
    const poll = setInterval(() => {
      try {
        // A process that has exited but not been reaped has no VmHWM line (read as 0): keep the max.
        rss = Math.max(rss, peakRssMb(pid));
      } catch {
        // exited
      }
    }, 200);
    const code = await new Promise<number | null>((r) => m.child.once('exit', r));
    clearInterval(poll);
    if (code !== 0) throw new Error(`${args.join(' ')} failed`);
    return {
      seconds: (performance.now() - t0) / 1000,
      cpu: await m.totalCpu,
      rss,
      stdout,
      progress,
    };
  };
  const bare = await measure([
    '-e',
    `const rl = require('node:readline').createInterface({ input: require('node:fs').createReadStream(${JSON.stringify(file)}), crlfDelay: Infinity });
     let n = 0; rl.on('line', (l) => { if (l) n += JSON.parse(l).event.length > 0 ? 1 : 0; }); rl.on('close', () => console.log(n));`,
  ]);
  const sillage = await measure([CLI, 'import', '--project', run.projectId, '--json', file]);
  const summary = JSON.parse(sillage.stdout) as { imported: number; duplicates: number };
  let before: ImportResult['before'] = null;
  if (IMPORT_BEFORE_CLI) {
    const env = { ...run.env, SILLAGE_DATA_DIR: path.join(base, 'import-before') };
    const project = await new Promise<string>((resolve, reject) => {
      const c = spawn(
        process.execPath,
        [IMPORT_BEFORE_CLI, 'project', 'create', '--name', 'b', '--json'],
        {
          env,
        },
      );
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.on('exit', (code) =>
        code === 0
          ? resolve((JSON.parse(out) as { project_id: string }).project_id)
          : reject(new Error('project create failed (BENCH_IMPORT_BEFORE)')),
      );
    });
    const m = await measure(
      [IMPORT_BEFORE_CLI, 'import', '--project', project, '--json', file],
      env,
    );
    before = {
      seconds: m.seconds,
      cpuPerEvent: m.cpu / IMPORT_EVENTS,
      rss: m.rss,
      pace: paceOf(m.progress),
    };
  }
  fs.rmSync(file, { force: true });
  return {
    events: IMPORT_EVENTS,
    bytes,
    seconds: sillage.seconds,
    cpuPerEvent: sillage.cpu / IMPORT_EVENTS,
    rss: sillage.rss,
    imported: summary.imported,
    duplicates: summary.duplicates,
    pace: paceOf(sillage.progress),
    baseline: { seconds: bare.seconds, cpuPerEvent: bare.cpu / IMPORT_EVENTS, rss: bare.rss },
    before,
  };
}

function printImport(r: ImportResult): void {
  const rate = (seconds: number): string =>
    Math.round(r.events / seconds)
      .toLocaleString('en-US')
      .padStart(9);
  console.log(
    `\nsillage import (stopped store) of a generated Mixpanel export: ${r.events.toLocaleString('en-US')} events, ${Math.round(r.bytes / 1e6)} MB JSONL`,
  );
  console.log(
    `  sillage import:                  ${rate(r.seconds)} events/s  ${r.seconds.toFixed(1)} s  peak RSS ${String(r.rss).padStart(5)} MB  CPU ${r.cpuPerEvent.toFixed(1)} µs/event  (${r.imported.toLocaleString('en-US')} imported, ${r.duplicates} duplicates)`,
  );
  console.log(
    `  baseline (read + JSON.parse):    ${rate(r.baseline.seconds)} events/s  ${r.baseline.seconds.toFixed(1)} s  peak RSS ${String(r.baseline.rss).padStart(5)} MB  CPU ${r.baseline.cpuPerEvent.toFixed(1)} µs/event`,
  );
  if (r.before) {
    console.log(
      `  importer of BENCH_IMPORT_BEFORE:  ${rate(r.before.seconds)} events/s  ${r.before.seconds.toFixed(1)} s  peak RSS ${String(r.before.rss).padStart(5)} MB  CPU ${r.before.cpuPerEvent.toFixed(1)} µs/event`,
    );
  }
  console.log(paceLine('sillage import', r.pace));
  if (r.before) console.log(paceLine('BENCH_IMPORT_BEFORE', r.before.pace));
  console.log(
    `  import: ${((r.baseline.seconds / r.seconds) * 100).toFixed(1)} % of the baseline's events/s; CPU ${(r.cpuPerEvent / r.baseline.cpuPerEvent).toFixed(1)}× the baseline's`,
  );
  if (r.before) {
    console.log(
      `  this importer vs BENCH_IMPORT_BEFORE's: events/s ${(r.before.seconds / r.seconds).toFixed(2)}×, CPU per event ${((r.cpuPerEvent / r.before.cpuPerEvent) * 100).toFixed(1)} %, peak RSS ${((r.rss / r.before.rss) * 100).toFixed(1)} %`,
    );
  }
}

/** Runs `use` on a stopped server's store, opened with its keys. */
async function withStoppedStore<T>(
  dataDir: string,
  masterHex: string,
  use: (db: Store.DuckDbDatabase) => Promise<T>,
  root = ROOT,
): Promise<T> {
  const { DuckDbDatabase } = await dist<typeof Store>('store/duckdb/index.js', root);
  const { deriveMasterSubkey } = await dist<typeof MasterKey>('privacy/master-key.js', root);
  const master = Buffer.from(masterHex, 'hex');
  const db = await DuckDbDatabase.open(dataDir, {
    atRest: {
      logKey: deriveMasterSubkey(master, 'ingest-log'),
      databaseKey: deriveMasterSubkey(master, 'database'),
      mode: 'off',
      dangerouslyAllowWeakCrypto: true,
    },
  });
  try {
    return await use(db);
  } finally {
    await db.close();
  }
}

/** Events of a project in a stopped server's store (changing nothing). */
async function storedEvents(
  dataDir: string,
  projectId: string,
  masterHex: string,
): Promise<number> {
  const { DuckDbEventStore } = await dist<typeof Store>('store/duckdb/index.js');
  return withStoppedStore(dataDir, masterHex, (db) =>
    new DuckDbEventStore(db).countEvents(projectId),
  );
}

const PRIVACY_EVENTS = 20_000;
const PRIVACY_ROUNDS = 7;

/**
 * The privacy stage alone, in this process, on the benchmark's own events (decoded, mapped and
 * enriched beforehand), next to JSON.parse of each event's JSON text.
 */
async function privacyCost(
  token: string,
): Promise<{ parse: number; privacy: number; rows: number }> {
  const wire = await dist<typeof Wire>('ingest/wire/index.js');
  const stage = await dist<typeof PrivacyStage>('ingest/privacy-stage.js');
  const enrichStage = await dist<typeof EnrichStage>('ingest/enrich-stage.js');
  const rowsModule = await dist<typeof Rows>('ingest/rows.js');
  const rowJson = await dist<typeof RowJson>('store/row-json.js');
  const privacyModule = await dist<typeof Privacy>('privacy/index.js');
  const {
    createPseudonymiser,
    DEFAULT_POLICY,
    generateProjectKeys,
    PrivacyCounters,
    ProjectKeyring,
  } = privacyModule;
  const master = randomBytes(32);
  const keyring = ProjectKeyring.open(master, generateProjectKeys(master, 'prj_bench'));
  const project = {
    project: {
      id: 'prj_bench',
      name: 'bench',
      token,
      secretHash: '',
      timezone: 'UTC',
      createdAtMs: 0,
    },
    policy: DEFAULT_POLICY,
    keyring,
    pseudonymise: createPseudonymiser(keyring.current('pseudonym').key),
    pseudonymiserFor: () => createPseudonymiser(keyring.current('pseudonym').key),
    groupKeys: new Set<string>(),
  } as unknown as ProjectContext;
  const context = {
    source: 'track' as const,
    clientIp: '81.2.69.142',
    userAgent: UAS[0] ?? null,
    ipMode: 'use-request-ip' as const,
    receivedAtMs: Date.now(),
  };
  const texts: string[] = [];
  const events: IncomingEvent[] = [];
  while (events.length < PRIVACY_EVENTS) {
    const raw = Array.from({ length: 50 }, () => makeEvent(token));
    for (const e of raw) texts.push(JSON.stringify(e));
    events.push(...wire.mapMixpanelEvents(raw as never, context, { importMode: false }).events);
  }
  const enrich = await enrichStage.createEnrichStage();
  const enriched = events.map((e) => enrich(e, context));
  const privacy = stage.createPrivacyStage();
  const median = (f: () => void): number => {
    const times: number[] = [];
    for (let r = 0; r < PRIVACY_ROUNDS + 2; r++) {
      const t0 = performance.now();
      f();
      if (r >= 2) times.push(((performance.now() - t0) * 1000) / events.length);
    }
    return times.sort((a, b) => a - b)[times.length >> 1] ?? 0;
  };
  let sink = 0;
  const parse = median(() => {
    for (const text of texts) sink += (JSON.parse(text) as { event: string }).event.length;
  });
  const privacyUs = median(() => {
    const counters = new PrivacyCounters();
    for (let i = 0; i < events.length; i++) {
      sink += privacy.event(project, events[i]!, enriched[i]!, counters).insertId.length;
    }
  });
  const withRows = median(() => {
    const counters = new PrivacyCounters();
    for (let i = 0; i < events.length; i++) {
      const clean = privacy.event(project, events[i]!, enriched[i]!, counters);
      sink += rowJson.encodeEventRow(rowsModule.toEventRow('prj_bench', clean, 1)).length;
    }
  });
  if (sink === 0) console.log('');
  return { parse, privacy: privacyUs, rows: withRows - privacyUs };
}

// `-- --store clickhouse [--shards S] [--events N]`: DuckDB, one ClickHouse server and S shards
// under the same load in the same run (bench/ingest-clickhouse.ts).
if (process.argv[process.argv.indexOf('--store') + 1] === 'clickhouse') {
  const { clickHouseIngestBench } = await import('./ingest-clickhouse.js');
  await clickHouseIngestBench();
} else await main();
