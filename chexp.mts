import fs from 'node:fs';
import { startClickHouse } from './test/helpers/clickhouse.ts';
import { ClickHouseClient } from './src/store/clickhouse/client.ts';
import { migrate } from './src/store/clickhouse/schema.ts';
const server = await startClickHouse();
try {
  const c = new ClickHouseClient({ url: server.url, database: 'sillage' });
  await migrate(c, '`sillage`');
  for (const f of process.argv.slice(2)) {
    const sql = fs.readFileSync(f, 'utf8').trim();
    const t0 = Date.now();
    try { await c.query(sql); console.log(f, 'ok', Date.now() - t0, 'ms'); } catch (e) { console.log(f, 'fail', Date.now() - t0, String(e)); }
  }
} finally { await server.stop(); }
