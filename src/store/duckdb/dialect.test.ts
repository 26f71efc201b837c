// The DuckDB dialect holds the portable operations to their documented semantics on a real
// database, with the operators DuckDB uses at scale as well as on small inputs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ident, raw, sql, withCtes, type SqlNode } from '../../query/sql.js';
import { DuckDbDatabase } from './database.js';
import { DUCKDB_DIALECT } from './dialect.js';
import { DuckDbQueryExecutor } from './query-executor.js';

let dir: string;
let db: DuckDbDatabase;
let small: DuckDbQueryExecutor;
let scale: DuckDbQueryExecutor;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-dialect-'));
  db = await DuckDbDatabase.open(dir);
  small = await DuckDbQueryExecutor.open(db, { connections: 1 });
  scale = await DuckDbQueryExecutor.open(db, { connections: 1, planAsAtScale: true });
});
afterAll(async () => {
  await small.close();
  await scale.close();
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const run = async (executor: DuckDbQueryExecutor, node: SqlNode) =>
  (
    await executor.run(DUCKDB_DIALECT.render(node), {
      deadlineMs: Date.now() + 30_000,
      maxRows: 10,
    })
  ).rows[0]!.map(Number);

describe('asof_next_join on DuckDB', () => {
  // Left rows: every 4th has a NULL time, every 5th a NULL key. Right rows: one per key, at time 5
  // (before every left time) for a third of the keys, else at 30.
  const query = (n: number): SqlNode =>
    withCtes(
      [
        {
          name: 'l',
          body: raw(
            `SELECT CASE WHEN i % 5 = 4 THEN NULL ELSE 'u' || i END AS k, CASE WHEN i % 4 = 0 THEN NULL ELSE 10::BIGINT END AS t FROM range(${n}) r(i)`,
          ),
          materialize: true,
        },
        {
          name: 'r',
          body: raw(
            `SELECT CASE WHEN i % 5 = 4 THEN NULL ELSE 'u' || i END AS k, (CASE WHEN i % 3 = 0 THEN 5 ELSE 30 END)::BIGINT AS t FROM range(${n}) r(i)`,
          ),
          materialize: true,
        },
      ],
      sql`SELECT count(*), count(nx.t), count(CASE WHEN c.t IS NULL OR c.k IS NULL THEN nx.t END), count(CASE WHEN nx.t <= c.t THEN 1 END) FROM l c ${{
        kind: 'asof_next_join',
        right: ident('r'),
        rightAlias: 'nx',
        leftKey: raw('c.k'),
        rightKey: raw('nx.k'),
        leftTime: raw('c.t'),
        rightTime: raw('nx.t'),
      }}`,
    );
  // Matches: keys not NULL (i % 5 ≠ 4), times not NULL (i % 4 ≠ 0), right time 30 (i % 3 ≠ 0).
  const expected = (n: number): number[] => {
    let matched = 0;
    for (let i = 0; i < n; i++) if (i % 5 !== 4 && i % 4 !== 0 && i % 3 !== 0) matched++;
    return [n, matched, 0, 0];
  };

  it.each([12, 1000])('matches nothing for a NULL left time or key (%i rows)', async (n) => {
    expect(await run(small, query(n))).toEqual(expected(n));
    expect(await run(scale, query(n))).toEqual(expected(n));
  });
});
