// `npm run bench:query-abuse`: the query side attacked by a tenant holding a valid read key. One
// server on a copy of a store (BENCH_DATA: a directory holding data/, master.key and project.json
// as `sillage demo` leaves them; it is copied first, never used in place), then each hostile
// request alone, one after the other: its answer (status, error code, bytes, time), the server main
// thread's event-loop delay over it (perf_hooks, preloaded), the slowest /healthz probe of a poller
// in its own process, and the server's resident memory (peak while it ran, sampled every 20 ms).
// A benign query runs first and last as the baseline of the same run. BENCH_CASES=a,b runs only
// the named cases. Every loop is bounded in count and time; loopback only.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVER_ENV, SERVER_NODE_FLAGS } from '../src/shared/node-flags.js';
import {
  loopDelayPreload,
  quantile,
  startHealthPoller,
  takeLoopDelay,
} from '../test/helpers/health-probe.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = process.env.BENCH_DIST ?? path.join(ROOT, 'dist');
const SOURCE = process.env.BENCH_DATA ?? '';
const WORK = process.env.BENCH_WORK ?? '/tmp/sillage-query-abuse';
const ONLY = (process.env.BENCH_CASES ?? '').split(',').filter(Boolean);
/** Longest the client waits for one answer. */
const CLIENT_TIMEOUT_MS = 90_000;

interface Case {
  name: string;
  method?: 'GET' | 'POST';
  /** Path under /api/v1/projects/{id}. */
  path?: string;
  /** A JSON value (sent as JSON) or raw bytes. */
  body?: unknown;
  raw?: Buffer | string;
  csv?: boolean;
  /** Copies sent at once (the same request). */
  parallel?: number;
  /** A full path (not under the project), sent without the key. */
  anonymousPath?: string;
  /** Asked by another project's key 1 s after this case's requests are sent (its answer shown). */
  otherTenant?: Case;
}

interface Answer {
  status: number;
  code: string;
  bytes: number;
  ms: number;
}

function request(port: number, projectId: string, secret: string, c: Case): Promise<Answer> {
  const started = performance.now();
  const payload =
    c.raw !== undefined
      ? Buffer.from(c.raw)
      : c.body !== undefined
        ? Buffer.from(JSON.stringify(c.body))
        : null;
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: c.method ?? 'POST',
        path: c.anonymousPath ?? `/api/v1/projects/${projectId}${c.path ?? '/query'}`,
        headers: {
          ...(c.anonymousPath ? {} : { authorization: `Bearer ${secret}` }),
          accept: c.csv ? 'text/csv' : 'application/json',
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': payload.length }
            : {}),
        },
        timeout: CLIENT_TIMEOUT_MS,
      },
      (res) => {
        let bytes = 0;
        let head = '';
        res.on('data', (d: Buffer) => {
          bytes += d.length;
          if (head.length < 400) head += d.toString('utf8', 0, 400);
        });
        res.on('end', () => {
          const code = /"code":"([A-Z_]+)"/.exec(head)?.[1] ?? '';
          resolve({ status: res.statusCode ?? 0, code, bytes, ms: performance.now() - started });
        });
        res.on('error', () =>
          resolve({ status: -1, code: 'RESET', bytes, ms: performance.now() - started }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (e) =>
      resolve({
        status: 0,
        code: e.message.slice(0, 20),
        bytes: 0,
        ms: performance.now() - started,
      }),
    );
    if (payload) req.end(payload);
    else req.end();
  });
}

function rssMb(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

const FROM = process.env.BENCH_FROM ?? '2025-04-01';
const TO = process.env.BENCH_TO ?? '2025-06-30';
const WIDE_FROM = '2016-07-01';
const WIDE_TO = '2026-07-01';
const EVENTS = ['Page Viewed', 'Button Clicked', 'Signed Up', 'Feature Used', 'Session Started'];
const PROPS = ['$browser', '$os', 'mp_country_code'];

function deep(n: number): string {
  return '{"kind":' + '['.repeat(n) + ']'.repeat(n) + '}';
}

/** Twenty series of page views, each filtered by `$browser` not in `count` values. */
const notInSeries = (count: number, value: (i: number) => string) =>
  Array.from({ length: 20 }, () => ({
    event: 'Page Viewed',
    filters: [
      {
        property: '$browser',
        op: 'not_in',
        value: Array.from({ length: count }, (_, i) => value(i)),
      },
    ],
  }));

/** Twenty series broken down by three properties, 100 values kept: ~186k result rows. */
const TWENTY_SERIES_BY_THREE = {
  kind: 'trends',
  from: FROM,
  to: TO,
  interval: 'day',
  series: Array.from({ length: 20 }, (_, i) => ({ event: EVENTS[i % EVENTS.length] })),
  breakdown: PROPS,
  breakdown_limit: 100,
};

const CASES: Case[] = [
  {
    name: 'baseline',
    body: { kind: 'trends', from: FROM, to: TO, interval: 'day', series: [{ event: 'Signed Up' }] },
  },
  {
    name: 'hour-10y-2series',
    body: {
      kind: 'trends',
      from: WIDE_FROM,
      to: WIDE_TO,
      interval: 'hour',
      series: [{ event: 'Signed Up' }, { event: 'Page Viewed' }],
    },
  },
  {
    name: 'hour-10y-2series-csv',
    csv: true,
    body: {
      kind: 'trends',
      from: WIDE_FROM,
      to: WIDE_TO,
      interval: 'hour',
      series: [{ event: 'Signed Up' }, { event: 'Page Viewed' }],
    },
  },
  {
    name: '20series-3bd-100',
    body: TWENTY_SERIES_BY_THREE,
  },
  {
    name: '20series-3bd-100-csv',
    csv: true,
    body: TWENTY_SERIES_BY_THREE,
  },
  {
    name: 'mau-day-10y-bd',
    body: {
      kind: 'trends',
      from: WIDE_FROM,
      to: WIDE_TO,
      interval: 'day',
      series: [{ math: 'monthly_active' }],
      breakdown: PROPS,
      breakdown_limit: 40,
    },
  },
  {
    name: 'per-user-p99-hour',
    body: {
      kind: 'trends',
      from: FROM,
      to: TO,
      interval: 'hour',
      series: Array.from({ length: 20 }, (_, i) => ({
        event: EVENTS[i % EVENTS.length],
        math: 'per_user_p99',
      })),
    },
  },
  {
    name: 'compare-20series-bd',
    body: {
      kind: 'trends',
      from: FROM,
      to: TO,
      interval: 'day',
      compare: 'previous_period',
      series: Array.from({ length: 20 }, (_, i) => ({
        event: EVENTS[i % EVENTS.length],
        math: 'unique_users',
      })),
      breakdown: PROPS,
      breakdown_limit: 40,
    },
  },
  {
    name: 'funnel-10-anyorder-excl-hold',
    body: {
      kind: 'funnel',
      from: FROM,
      to: TO,
      window_seconds: 366 * 86400,
      order: 'any',
      steps: Array.from({ length: 10 }, (_, i) => ({ event: EVENTS[i % EVENTS.length] })),
      exclusions: [{ event: 'Logged Out', after_step: 0, before_step: 9 }],
      conversion_over_time: 'hour',
      hold_constant: PROPS,
      breakdown: PROPS,
      breakdown_limit: 100,
    },
  },
  {
    name: 'retention-400-bd',
    body: {
      kind: 'retention',
      from: FROM,
      to: TO,
      start_event: 'Page Viewed',
      return_event: 'Page Viewed',
      period: 'day',
      periods: 400,
      retention_type: 'recurring',
      breakdown: PROPS,
      breakdown_limit: 100,
    },
  },
  {
    name: 'flows-6x50',
    body: {
      kind: 'flows',
      from: FROM,
      to: TO,
      anchor: { event: 'Page Viewed', direction: 'after' },
      steps: 6,
      max_paths_per_step: 50,
    },
  },
  {
    name: 'values-url-1000',
    method: 'GET',
    path: '/properties/values?property=%24current_url&limit=1000',
  },
  {
    name: 'values-hostile-name',
    method: 'GET',
    path: `/properties/values?property=${encodeURIComponent("a' OR 1=1 --%_\\.*[")}&limit=1000`,
  },
  { name: 'properties-1000', method: 'GET', path: '/properties?limit=1000' },
  {
    name: 'filters-in-1000x50',
    body: {
      kind: 'trends',
      from: FROM,
      to: TO,
      interval: 'day',
      series: notInSeries(1000, (i) => `x${i}'); DROP TABLE events; --`),
    },
  },
  {
    name: 'in-values-60k',
    body: {
      kind: 'trends',
      from: FROM,
      to: TO,
      interval: 'day',
      series: [0, 1].map(() => ({
        event: 'Page Viewed',
        filters: Array.from({ length: 30 }, () => ({
          property: '$screen_width',
          op: 'not_in',
          value: Array.from({ length: 1000 }, (_, i) => i),
        })),
      })),
    },
  },
  { name: 'deep-json-5M', raw: deep(5_000_000) },
  {
    name: 'login-nested-9.9MB',
    anonymousPath: '/api/v1/auth/login',
    raw: `{"a":[${Array(380_000).fill('[[[[[[[[[[[[1]]]]]]]]]]]]').join(',')}]}`,
  },
  {
    name: 'keys-1M',
    raw: '{' + Array.from({ length: 600_000 }, (_, i) => `"k${i}":0`).join(',') + '}',
  },
  { name: 'string-9MB', raw: JSON.stringify({ kind: 'trends', x: 'a'.repeat(9_000_000) }) },
  {
    name: 'nul-surrogate-1e309',
    raw: '{"kind":"trends","from":"2025-04-01","to":"2025-04-02","interval":"day","series":[{"event":"\\u0000\\ud800","filters":[{"property":"\\udfff\\u0000","op":"gt","value":1e309}]}]}',
  },
  {
    name: 'overload-40',
    parallel: 40,
    body: {
      kind: 'trends',
      from: WIDE_FROM,
      to: WIDE_TO,
      interval: 'day',
      series: [{ math: 'monthly_active' }],
    },
  },
  {
    name: 'flood-34+other-tenant',
    parallel: 34,
    body: {
      kind: 'trends',
      from: FROM,
      to: TO,
      interval: 'day',
      series: notInSeries(400, (i) => `x${i}`),
    },
    otherTenant: { name: 'other', method: 'GET', path: '/events' },
  },
  {
    name: 'baseline-end',
    body: { kind: 'trends', from: FROM, to: TO, interval: 'day', series: [{ event: 'Signed Up' }] },
  },
];

async function main(): Promise<void> {
  if (!SOURCE)
    throw new Error('set BENCH_DATA to a store directory (data/, master.key, project.json)');
  fs.rmSync(WORK, { recursive: true, force: true });
  fs.mkdirSync(WORK, { recursive: true });
  fs.cpSync(SOURCE, path.join(WORK, 'store'), { recursive: true });
  const store = path.join(WORK, 'store');
  const { project_id: projectId, secret } = JSON.parse(
    fs.readFileSync(path.join(store, 'project.json'), 'utf8'),
  ) as { project_id: string; secret: string };
  // A second project (another tenant) in the copy, for the cases that measure fairness.
  const other = JSON.parse(
    execFileSync(
      process.execPath,
      [path.join(DIST, 'cli/main.js'), 'project', 'create', '--name', 'Other tenant', '--json'],
      {
        env: {
          PATH: process.env.PATH,
          HOME: WORK,
          SILLAGE_DATA_DIR: path.join(store, 'data'),
          SILLAGE_MASTER_KEY_FILE: path.join(store, 'master.key'),
          SILLAGE_LOG_LEVEL: 'warn',
        },
        encoding: 'utf8',
      },
    ),
  ) as { project_id: string; secret: string };
  const port = 18500 + Math.floor(Math.random() * 400);
  const loopFile = path.join(WORK, 'loop.jsonl');
  const child = spawn(
    process.execPath,
    [
      ...SERVER_NODE_FLAGS,
      ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean),
      ...loopDelayPreload(loopFile),
      path.join(DIST, 'cli/main.js'),
      'serve',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
    ],
    {
      env: {
        PATH: process.env.PATH,
        HOME: WORK,
        ...SERVER_ENV,
        SILLAGE_DATA_DIR: path.join(store, 'data'),
        SILLAGE_MASTER_KEY_FILE: path.join(store, 'master.key'),
        SILLAGE_LOG_LEVEL: 'warn',
        ...Object.fromEntries(
          Object.entries(process.env).filter(([k]) => k.startsWith('SILLAGE_QUERY')),
        ),
      },
      stdio: ['ignore', 'ignore', fs.openSync(path.join(WORK, 'server.err'), 'w')],
    },
  );
  const pid = child.pid!;
  try {
    for (let i = 0; i < 600; i++) {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.status === 200)
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await takeLoopDelay(pid, loopFile);
    console.log(
      `load ${fs.readFileSync('/proc/loadavg', 'utf8').trim()}; idle RSS ${rssMb(pid).toFixed(0)} MB`,
    );
    console.log(
      'case                          status code                 bytes        ms  loop max/p99 ms  healthz max ms  RSS peak MB',
    );
    for (const c of CASES) {
      if (ONLY.length > 0 && !ONLY.includes(c.name)) continue;
      await takeLoopDelay(pid, loopFile);
      const poller = startHealthPoller(`http://127.0.0.1:${port}`, 20);
      await new Promise((r) => setTimeout(r, 200));
      let peak = rssMb(pid);
      const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 20);
      const sent = Promise.all(
        Array.from({ length: c.parallel ?? 1 }, () => request(port, projectId, secret, c)),
      );
      let otherAnswer: Answer | null = null;
      if (c.otherTenant) {
        await new Promise((r) => setTimeout(r, 1_000));
        otherAnswer = await request(port, other.project_id, other.secret, c.otherTenant);
      }
      const answers = await sent;
      await new Promise((r) => setTimeout(r, 200));
      clearInterval(sampler);
      const probes = await poller.stop();
      const loop = await takeLoopDelay(pid, loopFile);
      const latencies = probes.map((p) => p.latencyMs);
      const first = answers[0]!;
      const statuses = [...new Set(answers.map((a) => `${a.status}${a.code ? ' ' + a.code : ''}`))];
      console.log(
        [
          c.name.padEnd(29),
          (c.parallel ? statuses.join('|') : `${first.status} ${first.code}`).padEnd(27),
          String(first.bytes).padStart(9),
          (c.parallel
            ? `${Math.round(Math.max(...answers.map((a) => a.ms)))}`
            : first.ms.toFixed(0)
          ).padStart(9),
          `${loop.max}/${loop.p99}`.padStart(16),
          `${Math.max(...latencies).toFixed(0)} (p99 ${quantile(latencies, 0.99).toFixed(0)})`.padStart(
            15,
          ),
          peak.toFixed(0).padStart(12),
        ].join(' '),
      );
      if (otherAnswer)
        console.log(
          `  another project's ${c.otherTenant!.path} meanwhile: ${otherAnswer.status} ${otherAnswer.code} in ${otherAnswer.ms.toFixed(0)} ms`,
        );
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

await main();
