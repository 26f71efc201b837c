// Frequency (stickiness) on a copy of a demo data directory, next to the daily unique users of the
// same event in the same run: CPU ms of the process (process.cpuUsage: DuckDB's threads are in
// it) and wall ms, medians of BENCH_RUNS (5) warm runs, questions alternated run by run.
//   BENCH_DATA=/tmp/frequency-q10m npm run bench:frequency
// (BENCH_DATA: a directory made by `npm run bench:query` or `sillage demo`, holding data/ and
// project.json; use a copy, the store is opened read-write.)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { QueryEngine } from '../src/query/index.js';
import { DUCKDB_DIALECT, DuckDbDatabase, DuckDbQueryExecutor } from '../src/store/duckdb/index.js';

const dir = process.env.BENCH_DATA;
if (!dir) throw new Error('set BENCH_DATA to a copy of a demo data directory');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const TZ = process.env.BENCH_TZ ?? 'UTC';
const { project_id: projectId } = JSON.parse(
  fs.readFileSync(path.join(dir, 'project.json'), 'utf8'),
) as { project_id: string };

const db = await DuckDbDatabase.open(path.join(dir, 'data'));
const executor = await DuckDbQueryExecutor.open(db);
const engine = new QueryEngine({ executor, dialect: DUCKDB_DIALECT, audit: { record: () => {} } });
const run = (body: unknown) =>
  engine.run({ projectId, actor: 'bench' }, { id: projectId, timezone: TZ }, body);

// The range of the data: the 90 days up to its last day.
const names = (await run({ kind: 'event_names', limit: 5 })) as {
  events: { event: string; count: number }[];
};
const event = process.env.BENCH_EVENT ?? names.events[0]!.event;
// Its last day with events, from a year of daily totals.
const today = execFileSync('date', ['-u', '+%F']).toString().trim();
const yearAgo = new Date(Date.parse(`${today}T00:00:00Z`) - 3650 * 86_400_000)
  .toISOString()
  .slice(0, 10);
const daily = (await run({
  kind: 'trends',
  from: yearAgo,
  to: today,
  interval: 'day',
  series: [{ event, math: 'total' }],
})) as { series: { labels: string[]; values: number[] }[] };
const { labels, values } = daily.series[0]!;
const to = process.env.BENCH_TO ?? labels[values.findLastIndex((v) => v > 0)]!;
const from = new Date(Date.parse(`${to}T00:00:00Z`) - 89 * 86_400_000).toISOString().slice(0, 10);
const range = { from, to };
const questions: [string, unknown][] = [
  [
    'trends: daily unique users',
    { kind: 'trends', ...range, interval: 'day', series: [{ event, math: 'unique_users' }] },
  ],
  ['frequency: days per range', { kind: 'frequency', ...range, series: [{ event }] }],
  ['frequency: days per week', { kind: 'frequency', ...range, per: 'week', series: [{ event }] }],
  [
    'frequency: weeks per month',
    { kind: 'frequency', ...range, interval: 'week', per: 'month', series: [{ event }] },
  ],
  [
    'frequency: days per range by $browser',
    { kind: 'frequency', ...range, series: [{ event }], breakdown: '$browser' },
  ],
  [
    'frequency: days per range by person.plan',
    { kind: 'frequency', ...range, series: [{ event }], breakdown: 'person.plan' },
  ],
];
console.log(
  `event ${JSON.stringify(event)}, ${from} … ${to}, ${TZ}; load ${fs.readFileSync('/proc/loadavg', 'utf8').trim()}`,
);
const cpu = new Map<string, number[]>();
const wall = new Map<string, number[]>();
for (const [name, body] of questions) {
  try {
    await run(body); // warm
  } catch (error) {
    console.log(`${name}: ${(error as Error).message}`);
  }
}
for (let r = 0; r < RUNS; r++)
  for (const [name, body] of r % 2 === 0 ? questions : [...questions].reverse()) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await run(body).catch(() => null);
    const t = performance.now() - t0;
    const c = process.cpuUsage(c0);
    (cpu.get(name) ?? cpu.set(name, []).get(name)!).push((c.user + c.system) / 1000);
    (wall.get(name) ?? wall.set(name, []).get(name)!).push(t);
  }
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [name] of questions)
  console.log(
    `${name.padEnd(42)} cpu ${median(cpu.get(name)!).toFixed(0).padStart(6)} ms   wall ${median(wall.get(name)!).toFixed(0).padStart(6)} ms`,
  );
console.log(`load after ${fs.readFileSync('/proc/loadavg', 'utf8').trim()}`);
await executor.close();
await db.close();
