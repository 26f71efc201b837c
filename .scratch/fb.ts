import fs from 'node:fs';
import { embeddedDatabase, openRuntime } from '../src/cli/runtime.js';
import { loadConfig } from '../src/shared/config.js';
import { SILENT_LOGGER } from '../src/shared/log.js';
import { DUCKDB_DIALECT, DuckDbQueryExecutor } from '../src/store/duckdb/index.js';
import { QueryEngine } from '../src/query/index.js';
const dir = process.argv[2]!;
const projectId = JSON.parse(fs.readFileSync(`${dir}/project.json`, 'utf8')).project_id;
const key = fs.readFileSync(`${dir}/master.key`, 'utf8').trim();
const runtime = await openRuntime(loadConfig({ data: `${dir}/data`, port: 0 }, { SILLAGE_MASTER_KEY: key, SILLAGE_DUCKDB_THREADS: '2' }), SILENT_LOGGER);
const db = embeddedDatabase(runtime);
await db.rollups.ensure(projectId, 'UTC');
const executor = await DuckDbQueryExecutor.open(db, { connections: 1 });
const engine = new QueryEngine({ executor, dialect: DUCKDB_DIALECT, rollups: db.rollups, audit: { record: () => undefined } });
const queries = JSON.parse(process.argv[3]!) as Record<string, unknown>[];
const runs = Number(process.argv[4] ?? 5);
const times: number[][] = queries.map(() => []);
for (let i = 0; i < runs + 1; i++)
  for (const [k, q] of queries.entries()) {
    const c0 = process.cpuUsage();
    await engine.run({ projectId, actor: 'bench' }, { id: projectId, timezone: 'UTC' }, q);
    const c = process.cpuUsage(c0);
    if (i > 0) times[k]!.push((c.user + c.system) / 1000);
  }
for (const [k, t] of times.entries()) { t.sort((a, b) => a - b); console.log(k, 'median', t[Math.floor(t.length / 2)]!.toFixed(0), 'all', t.map((x) => x.toFixed(0)).join(' ')); }
await runtime.close();
