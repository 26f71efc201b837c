// `npm run bench:ingest`: sustained Mixpanel-style load on loopback against Sillage and, in the
// same run, against a bare node:http baseline that only decodes the same bodies.
// Prints events/s, p50/p99 acknowledgement latency and peak RSS for both, and the ratio.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist/cli/main.js');
const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 10) * 1000;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const MAX_REQUESTS = 1_000_000;

const UAS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
];
const EVENTS = ['Page view', 'Signed up', 'Added to cart', 'Checkout', 'Search'];

let seq = 0;
/** A mixpanel-browser style event with its usual automatic properties. */
function makeEvent(token: string): unknown {
  const n = seq++;
  const user = `user-${n % 5000}`;
  return {
    event: EVENTS[n % EVENTS.length],
    properties: {
      token,
      time: Date.now() / 1000,
      distinct_id: user,
      $device_id: `dev-${n % 7000}`,
      $user_id: user,
      $insert_id: randomBytes(8).toString('hex'),
      $os: 'Windows',
      $browser: 'Chrome',
      $browser_version: 120,
      $current_url: `https://shop.example.com/products/${n % 300}?utm_source=news&ref=abc`,
      $referrer: 'https://www.google.com/search?q=shoes',
      $referring_domain: 'www.google.com',
      $screen_height: 1080,
      $screen_width: 1920,
      mp_lib: 'web',
      $lib_version: '2.55.0',
      plan: n % 3 === 0 ? 'pro' : 'free',
      cart_value: (n % 1000) / 10,
      items: n % 7,
      search_term: 'running shoes',
    },
  };
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
): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  // Bodies are prepared before the clock starts so the generator does not compete for CPU.
  const estimate = Math.min(
    MAX_REQUESTS,
    Math.ceil((batch === 1 ? 12_000 : 2_500) * (durationMs / 1000)),
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

async function main(): Promise<void> {
  if (!fs.existsSync(CLI)) throw new Error('run `npm run build` first');
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-bench-'));
  const env = {
    ...process.env,
    SILLAGE_DATA_DIR: path.join(base, 'data'),
    SILLAGE_MASTER_KEY: randomBytes(32).toString('hex'),
    SILLAGE_TRUST_PROXY: '127.0.0.1',
    SILLAGE_LOG_LEVEL: 'warn',
  };
  const created = JSON.parse(
    await new Promise<string>((resolve, reject) => {
      const c = spawn(process.execPath, [CLI, 'project', 'create', '--name', 'bench', '--json'], {
        env,
      });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.on('exit', (code) =>
        code === 0 ? resolve(out) : reject(new Error('project create failed')),
      );
    }),
  ) as { token: string };

  const results: Record<
    string,
    { sillage?: LoadResult & { rss: number }; baseline?: LoadResult & { rss: number } }
  > = {};
  for (const [label, batch] of [
    ['batched (50 events/request)', 50],
    ['single event/request', 1],
  ] as const) {
    results[label] = {};
    const baseline = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'bench/baseline-server.ts'), '0'],
      { cwd: ROOT },
    );
    const basePort = Number(await waitForLine(baseline, /listening (\d+)/));
    await runLoad(basePort, created.token, batch, 1000); // warm-up
    const b = await runLoad(basePort, created.token, batch, DURATION_MS);
    results[label].baseline = { ...b, rss: peakRssMb(baseline.pid!) };
    baseline.kill('SIGKILL');

    const server = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { env, cwd: base });
    const url = await waitForLine(server, /listening on (http:\/\/\S+)/);
    const port = Number(new URL(url).port);
    await runLoad(port, created.token, batch, 1000); // warm-up
    const s = await runLoad(port, created.token, batch, DURATION_MS);
    results[label].sillage = { ...s, rss: peakRssMb(server.pid!) };
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }

  const fmt = (r: LoadResult & { rss: number }): string =>
    `${Math.round(r.events / r.seconds)
      .toLocaleString('en-US')
      .padStart(
        9,
      )} events/s  p50 ${r.p50.toFixed(2).padStart(7)} ms  p99 ${r.p99.toFixed(2).padStart(7)} ms  peak RSS ${String(r.rss).padStart(5)} MB  failures ${r.failures}`;
  console.log(
    `\nIngest benchmark — ${os.cpus().length} cores, ${CONCURRENCY} concurrent connections, ${DURATION_MS / 1000}s per run, loopback`,
  );
  for (const [label, r] of Object.entries(results)) {
    if (!r.sillage || !r.baseline) continue;
    const ratio = r.sillage.events / r.sillage.seconds / (r.baseline.events / r.baseline.seconds);
    console.log(`\n${label}`);
    console.log(`  sillage  (durable): ${fmt(r.sillage)}`);
    console.log(`  baseline (no store): ${fmt(r.baseline)}`);
    console.log(`  ratio: ${(ratio * 100).toFixed(1)} % of baseline`);
  }
  fs.rmSync(base, { recursive: true, force: true });
}

await main();
