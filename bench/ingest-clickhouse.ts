// `npm run bench:ingest -- --store clickhouse [--shards S] [--events N]`: the same batched,
// mixpanel-browser-shaped load (N events, 400,000 by default, 50 per /track request) sent over
// loopback to three `sillage serve` processes in turn, in the same run: one on the embedded
// DuckDB store, one with SILLAGE_EVENTS_URL on one throw-away ClickHouse 18.16 server, one on S
// throw-away shards (2 by default, 0 to skip) named in SILLAGE_CLICKHOUSE_CLUSTER. For each:
// acknowledged events/s, CPU per event of the node (user + system from /proc, from the load's
// start until every event is queryable, so the loading into the store counts) and of the
// ClickHouse servers beside it, peak RSS of each, and the time from the last acknowledgement until
// the query API counts every acknowledged event; then the exact count on each store (through the
// query API, and on ClickHouse with `count() … FINAL` too). Load averages are printed with the
// figures: the machine is shared. Growth: run again with another N.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as NodeFlags from '../src/shared/node-flags.js';
import { ClickHouseClient } from '../src/store/clickhouse/index.js';
import {
  clickHouseAvailable,
  startClickHouse,
  startClickHouseCluster,
  type ClickHouseTestServer,
} from '../test/helpers/clickhouse.js';
import { browserEvent } from './browser-event.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist/cli/main.js');
const BATCH = 50;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
/** Bound of one store's load: requests still unsent after it are not sent (and are reported). */
const LOAD_LIMIT_MS = Number(process.env.BENCH_MAX_SECONDS ?? 600) * 1000;
/** Bound of the wait for every acknowledged event to be queryable. */
const QUERYABLE_LIMIT_MS = Number(process.env.BENCH_QUERYABLE_SECONDS ?? 180) * 1000;
/** Tries of one request answered 429/503 (or not at all) before it counts as failed. */
const TRIES = 10;
const CLOCK_TICKS = 100;
const DATABASE = 'bench';
const CLUSTER = 'bench';

const UA =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

/** `--name value` from the command line. */
function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const loadAverage = (): string =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** CPU (user + system, every thread) of a running process, µs, from /proc/<pid>/stat. */
function cpuMicros(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat
    .slice(stat.lastIndexOf(')') + 2)
    .trim()
    .split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
}

/** Peak resident memory of a running process (VmHWM), MB. */
function peakRssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

/**
 * The events of the bench (bench/ingest.ts's mixpanel-browser shape), `run` + a counter as their
 * insert ids: every event of a run is distinct, so that the exact count is the acknowledged count.
 */
function batchBody(token: string, run: string, first: number, nowS: number): string {
  const events = [];
  for (let n = first; n < first + BATCH; n++) {
    events.push(browserEvent(token, n, `${run}-${n.toString(36)}`, nowS));
  }
  return 'data=' + encodeURIComponent(Buffer.from(JSON.stringify(events)).toString('base64'));
}

function post(agent: http.Agent, port: number, payload: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/track?ip=1&verbose=1',
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(payload),
          'user-agent': UA,
          'x-forwarded-for': '81.2.69.142',
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(payload);
  });
}

interface LoadResult {
  acked: number;
  failedRequests: number;
  unsent: number;
  seconds: number;
}

/**
 * `events` events in batches of BATCH over CONCURRENCY keep-alive connections; bodies are made as
 * they are sent (the same work for every store). Bounded by the count and by LOAD_LIMIT_MS.
 */
async function runLoad(port: number, token: string, events: number): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const run = randomBytes(4).toString('hex');
  const requests = Math.ceil(events / BATCH);
  let next = 0;
  let acked = 0;
  let failedRequests = 0;
  const started = performance.now();
  const deadline = started + LOAD_LIMIT_MS;
  const worker = async (): Promise<void> => {
    while (next < requests && performance.now() < deadline) {
      const payload = batchBody(token, run, next++ * BATCH, Date.now() / 1000);
      let status = 0;
      // A refused batch (backpressure) is sent again, the same insert ids: it counts once.
      for (let t = 0; t < TRIES && status !== 200; t++) {
        status = await post(agent, port, payload);
        if (status !== 200 && status !== 429 && status !== 503 && status !== 0) break;
        if (status !== 200) await new Promise((r) => setTimeout(r, 100 * (t + 1)));
      }
      if (status === 200) acked += BATCH;
      else failedRequests++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return { acked, failedRequests, unsent: requests - next, seconds };
}

async function waitForLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('server did not start: ' + buf)), 60_000);
    const onData = (d: Buffer): void => {
      buf += d.toString();
      const m = pattern.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] ?? m[0]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error('process exited: ' + buf));
    });
  });
}

async function createProject(
  env: NodeJS.ProcessEnv,
): Promise<{ token: string; project_id: string; secret: string }> {
  return JSON.parse(
    await new Promise<string>((resolve, reject) => {
      const c = spawn(process.execPath, [CLI, 'project', 'create', '--name', 'bench', '--json'], {
        env,
      });
      let out = '';
      let err = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (err += d.toString()));
      c.on('exit', (code) =>
        code === 0 ? resolve(out) : reject(new Error('project create failed: ' + err)),
      );
    }),
  ) as { token: string; project_id: string; secret: string };
}

/** Events of the project counted by the query API (a trends total of "any event"). */
async function countThroughApi(
  url: string,
  project: { project_id: string; secret: string },
  from: string,
): Promise<number> {
  const res = await fetch(`${url}/api/v1/projects/${project.project_id}/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${project.secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      kind: 'trends',
      from,
      to: new Date().toISOString().slice(0, 10),
      interval: 'day',
      series: [{}],
    }),
    signal: AbortSignal.timeout(30_000),
  });
  if (res.status !== 200) throw new Error(`query: ${res.status} ${await res.text()}`);
  const answer = (await res.json()) as { series: { total: number }[] };
  return answer.series[0]?.total ?? 0;
}

interface StoreResult {
  label: string;
  events: number;
  load: LoadResult;
  /** From the last acknowledgement until the query API counted every acknowledged event. */
  queryableMs: number | null;
  apiCount: number;
  /** `count() FROM events FINAL` on ClickHouse, null on DuckDB. */
  storeCount: number | null;
  nodeCpuPerEvent: number;
  nodeRss: number;
  clickHouseCpuPerEvent: number | null;
  clickHouseRss: number | null;
  loadBefore: string;
  loadAfter: string;
}

interface StoreSetup {
  label: string;
  env: Record<string, string>;
  servers: ClickHouseTestServer[];
}

async function benchStore(
  base: string,
  setup: StoreSetup,
  events: number,
  flags: typeof NodeFlags,
): Promise<StoreResult> {
  const env = {
    ...process.env,
    ...flags.SERVER_ENV,
    SILLAGE_DATA_DIR: path.join(base, setup.label.replace(/\W+/g, '-')),
    SILLAGE_MASTER_KEY: randomBytes(32).toString('hex'),
    SILLAGE_TRUST_PROXY: '127.0.0.1',
    SILLAGE_LOG_LEVEL: 'warn',
    ...setup.env,
  };
  const project = await createProject(env);
  // Started as `npm start` starts it (the same node flags and environment).
  const server = spawn(
    process.execPath,
    [...flags.SERVER_NODE_FLAGS, CLI, 'serve', '--port', '0'],
    {
      env,
      cwd: base,
    },
  );
  try {
    const url = await waitForLine(server, /listening on (http:\/\/\S+)/);
    const port = Number(new URL(url).port);
    const pid = server.pid!;
    const from = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const chPids = setup.servers.map((s) => s.pid);
    const chCpu = (): number => chPids.reduce((sum, p) => sum + cpuMicros(p), 0);
    const loadBefore = loadAverage();
    const cpu0 = cpuMicros(pid);
    const ch0 = chCpu();
    const load = await runLoad(port, project.token, events);
    const acked = performance.now();
    let apiCount = 0;
    let queryableMs: number | null = null;
    // Bounded by QUERYABLE_LIMIT_MS; one count every 250 ms.
    while (performance.now() - acked < QUERYABLE_LIMIT_MS) {
      apiCount = await countThroughApi(url, project, from);
      if (apiCount >= load.acked) {
        queryableMs = performance.now() - acked;
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const nodeCpuPerEvent = (cpuMicros(pid) - cpu0) / Math.max(1, load.acked);
    const clickHouseCpuPerEvent = chPids.length ? (chCpu() - ch0) / Math.max(1, load.acked) : null;
    const nodeRss = peakRssMb(pid);
    const clickHouseRss = chPids.length ? chPids.reduce((sum, p) => sum + peakRssMb(p), 0) : null;
    const loadAfter = loadAverage();
    // The exact count once more, after the timing (a count past the acknowledged one is a bug too).
    apiCount = await countThroughApi(url, project, from);
    let storeCount: number | null = null;
    if (setup.servers.length) {
      const client = new ClickHouseClient({ url: setup.servers[0]!.url, database: DATABASE });
      const r = await client.query(
        `SELECT count() FROM events FINAL WHERE project_id = '${project.project_id}'`,
      );
      storeCount = Number(r.rows[0]![0]);
    }
    return {
      label: setup.label,
      events,
      load,
      queryableMs,
      apiCount,
      storeCount,
      nodeCpuPerEvent,
      nodeRss,
      clickHouseCpuPerEvent,
      clickHouseRss,
      loadBefore,
      loadAfter,
    };
  } finally {
    const exited = new Promise<void>((r) =>
      server.exitCode !== null ? r() : server.once('exit', () => r()),
    );
    server.kill('SIGTERM');
    const timer = setTimeout(() => server.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
}

function print(r: StoreResult, duck: StoreResult | undefined): void {
  const rate = r.load.acked / r.load.seconds;
  const exact = r.apiCount === r.load.acked && (r.storeCount ?? r.apiCount) === r.load.acked;
  console.log(`\n${r.label}`);
  console.log(
    `  ${Math.round(rate).toLocaleString('en-US')} acknowledged events/s (${r.load.acked.toLocaleString('en-US')} in ${r.load.seconds.toFixed(1)} s; ${r.load.failedRequests} requests failed, ${r.load.unsent} unsent)${duck && duck !== r ? `, ${((rate / (duck.load.acked / duck.load.seconds)) * 100).toFixed(0)} % of DuckDB's` : ''}`,
  );
  console.log(
    `  node: CPU ${r.nodeCpuPerEvent.toFixed(1)} µs/event${duck && duck !== r ? ` (${(r.nodeCpuPerEvent / duck.nodeCpuPerEvent).toFixed(2)}× DuckDB's)` : ''}, peak RSS ${r.nodeRss} MB` +
      (r.clickHouseCpuPerEvent === null
        ? ''
        : `; ClickHouse server(s): CPU ${r.clickHouseCpuPerEvent.toFixed(1)} µs/event, peak RSS ${r.clickHouseRss} MB (sum)`),
  );
  console.log(
    `  every acknowledged event queryable ${r.queryableMs === null ? `NOT within ${QUERYABLE_LIMIT_MS / 1000} s` : `${(r.queryableMs / 1000).toFixed(1)} s after the last acknowledgement`}`,
  );
  console.log(
    `  exact count: query API ${r.apiCount.toLocaleString('en-US')}${r.storeCount === null ? '' : `, ClickHouse count() FINAL ${r.storeCount.toLocaleString('en-US')}`} of ${r.load.acked.toLocaleString('en-US')} acknowledged: ${exact ? 'yes' : 'NO'}`,
  );
  console.log(`  load average before ${r.loadBefore}, after ${r.loadAfter}`);
}

export async function clickHouseIngestBench(): Promise<void> {
  if (!fs.existsSync(CLI)) throw new Error('run `npm run build` first');
  if (!clickHouseAvailable()) throw new Error('clickhouse-server is not installed here');
  const events = Number(flag('events') ?? process.env.BENCH_EVENTS ?? 400_000);
  const shards = Number(flag('shards') ?? 2);
  const flags = (await import(
    pathToFileURL(path.join(ROOT, 'dist/shared/node-flags.js')).href
  )) as typeof NodeFlags;
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-bench-ingest-ch-'));
  const results: StoreResult[] = [];
  console.log(
    `Ingest on DuckDB and ClickHouse — ${events.toLocaleString('en-US')} events per store, ${BATCH} per /track request, ${CONCURRENCY} connections, loopback, ${os.cpus().length} cores; SILLAGE_INGEST_LOAD_DELAY_MS ${process.env.SILLAGE_INGEST_LOAD_DELAY_MS ?? 'default (5000)'}`,
  );
  try {
    const setups: (() => Promise<StoreSetup>)[] = [
      () => Promise.resolve({ label: 'DuckDB (embedded)', env: {}, servers: [] }),
      async () => {
        const s = await startClickHouse();
        return {
          label: 'ClickHouse, 1 server',
          env: { SILLAGE_EVENTS_URL: `clickhouse://127.0.0.1:${new URL(s.url).port}/${DATABASE}` },
          servers: [s],
        };
      },
      ...(shards > 0
        ? [
            async () => {
              const cluster = await startClickHouseCluster(shards, CLUSTER);
              return {
                label: `ClickHouse, ${shards} shards`,
                env: {
                  SILLAGE_EVENTS_URL: cluster
                    .map((s) => `clickhouse://127.0.0.1:${new URL(s.url).port}/${DATABASE}`)
                    .join(','),
                  SILLAGE_CLICKHOUSE_CLUSTER: CLUSTER,
                },
                servers: cluster,
              };
            },
          ]
        : []),
    ];
    for (const make of setups) {
      const setup = await make();
      try {
        const r = await benchStore(base, setup, events, flags);
        results.push(r);
        print(r, results[0]);
      } finally {
        for (const s of setup.servers) await s.stop();
      }
    }
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
  if (
    results.some(
      (r) => r.apiCount !== r.load.acked || (r.storeCount ?? r.apiCount) !== r.load.acked,
    )
  ) {
    process.exitCode = 1;
    console.log('\nNOT every store holds exactly the acknowledged events');
  }
}
