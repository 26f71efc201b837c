// Lifecycle against a daily unique-users trend of the same event, on a copy of a demo data
// directory (BENCH_DATA, made by bench:query; its project.json and master.key beside `data/`):
// CPU milliseconds of the whole process (process.cpuUsage: DuckDB's threads included) and wall
// milliseconds, medians of BENCH_RUNS (5) runs, the questions alternated. Each question runs once
// reading the events and once reading the per-day rollups (built first, not timed).
//   BENCH_DATA=<copy of a demo data directory> npm run bench:lifecycle
import fs from 'node:fs';
import path from 'node:path';
import { embeddedDatabase, openRuntime } from '../src/cli/runtime.js';
import { QueryEngine } from '../src/query/index.js';
import { loadConfig } from '../src/shared/config.js';
import { SILENT_LOGGER } from '../src/shared/log.js';
import { DUCKDB_DIALECT, DuckDbQueryExecutor } from '../src/store/duckdb/index.js';

const BASE = process.env.BENCH_DATA ?? '';
if (BASE === '') throw new Error('set BENCH_DATA to a copy of a demo data directory');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const FROM = process.env.BENCH_FROM ?? '2025-06-01';
const TO = process.env.BENCH_TO ?? '2025-06-30';
const EVENT = process.env.BENCH_EVENT ?? 'Page Viewed';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const project = JSON.parse(fs.readFileSync(path.join(BASE, 'project.json'), 'utf8')) as {
    project_id: string;
  };
  const env = {
    SILLAGE_MASTER_KEY: fs.readFileSync(path.join(BASE, 'master.key'), 'utf8').trim(),
    SILLAGE_LOG_LEVEL: 'warn',
  };
  const runtime = await openRuntime(
    loadConfig({ data: path.join(BASE, 'data'), port: 0 }, env),
    SILENT_LOGGER,
  );
  const db = embeddedDatabase(runtime);
  await db.rollups.ensure(project.project_id, 'UTC');
  const executor = await DuckDbQueryExecutor.open(db);
  const engine = (rollups: boolean) =>
    new QueryEngine({
      executor,
      dialect: DUCKDB_DIALECT,
      audit: { record: () => undefined },
      ...(rollups ? { rollups: db.rollups } : {}),
    });
  const engines = { events: engine(false), rollups: engine(true) };
  const principal = { projectId: project.project_id, actor: 'bench' };
  const target = { id: project.project_id, timezone: 'UTC' };
  const range = { from: FROM, to: TO };
  const questions: [string, unknown][] = [
    [
      `daily unique users of ${EVENT}`,
      {
        kind: 'trends',
        ...range,
        interval: 'day',
        series: [{ event: EVENT, math: 'unique_users' }],
      },
    ],
    [`lifecycle of ${EVENT}, day`, { kind: 'lifecycle', ...range, interval: 'day', event: EVENT }],
    [
      `lifecycle of ${EVENT}, week`,
      { kind: 'lifecycle', ...range, interval: 'week', event: EVENT },
    ],
    [
      'daily unique users of any event',
      { kind: 'trends', ...range, interval: 'day', series: [{ math: 'unique_users' }] },
    ],
    ['lifecycle of any event, day', { kind: 'lifecycle', ...range, interval: 'day' }],
  ];
  const cpu: Record<string, number[]> = {};
  const wall: Record<string, number[]> = {};
  // One warm-up run of each.
  for (const [, query] of questions)
    for (const e of Object.values(engines)) await e.run(principal, target, query);
  for (let i = 0; i < RUNS; i++)
    for (const [name, query] of questions)
      for (const [how, e] of Object.entries(engines)) {
        const key = `${name} (${how})`;
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await e.run(principal, target, query);
        const t = performance.now() - t0;
        const c = process.cpuUsage(c0);
        (cpu[key] ??= []).push((c.user + c.system) / 1000);
        (wall[key] ??= []).push(t);
      }
  console.log(
    `${FROM} .. ${TO}, medians of ${RUNS}, load ${fs.readFileSync('/proc/loadavg', 'utf8').trim()}`,
  );
  for (const key of Object.keys(cpu))
    console.log(
      `  ${key.padEnd(50)} cpu ${median(cpu[key]!).toFixed(0).padStart(6)} ms   wall ${median(wall[key]!).toFixed(0).padStart(6)} ms`,
    );
  await executor.close();
  await runtime.close();
}

await main();
