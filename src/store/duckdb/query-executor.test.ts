// The DuckDB query executor: values bound by type; a statement past its deadline is interrupted
// (QUERY_TIMEOUT) and the connection serves the next one; too many rows is QUERY_TOO_LARGE; a
// full wait queue is QUERY_OVERLOADED.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryExecutorConformance } from '../../query/query-executor.conformance.js';
import { DuckDbDatabase } from './database.js';
import { DUCKDB_DIALECT } from './dialect.js';
import { DuckDbQueryExecutor } from './query-executor.js';

describe('DuckDbQueryExecutor (port conformance)', () => {
  queryExecutorConformance(async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-exec-conf-'));
    const database = await DuckDbDatabase.open(tmp);
    const conforming = await DuckDbQueryExecutor.open(database, { connections: 1 });
    return {
      executor: conforming,
      dialect: DUCKDB_DIALECT,
      endless: {
        text: 'SELECT sum(a.range * b.range) FROM range(100000000) a, range(100000000) b',
        params: [],
      },
      thousandRows: { text: 'SELECT * FROM range(1000)', params: [] },
      close: async () => {
        await conforming.close();
        await database.close();
        fs.rmSync(tmp, { recursive: true, force: true });
      },
    };
  });
});

let dir: string;
let db: DuckDbDatabase;
let executor: DuckDbQueryExecutor;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-exec-'));
  db = await DuckDbDatabase.open(dir);
  executor = await DuckDbQueryExecutor.open(db, { connections: 1, maxQueued: 0 });
});
afterAll(async () => {
  await executor.close();
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const soon = (ms: number) => ({ deadlineMs: Date.now() + ms, maxRows: 100 });
// Never finishes in a test's lifetime: only the deadline ends it.
const ENDLESS = {
  text: 'SELECT sum(a.range * b.range) FROM range(100000000) a, range(100000000) b',
  params: [],
};

describe('DuckDbQueryExecutor', () => {
  it('binds values with their types', async () => {
    const rows = await executor.run(
      {
        text: 'SELECT $1 AS s, $2 + 1 AS i, $3 * 2 AS d, epoch_ms($4) AS t',
        params: [
          { type: 'varchar', value: "o'clock; DROP TABLE events" },
          { type: 'bigint', value: 41 },
          { type: 'double', value: 1.25 },
          { type: 'timestamp', value: 1_700_000_000_123 },
        ],
      },
      soon(10_000),
    );
    expect(rows).toEqual({
      columns: ['s', 'i', 'd', 't'],
      rows: [["o'clock; DROP TABLE events", 42n, 2.5, 1_700_000_000_123n]],
    });
  });

  it('cancels a statement at its deadline, then serves the next one', async () => {
    await expect(executor.run(ENDLESS, soon(200))).rejects.toMatchObject({ code: 'QUERY_TIMEOUT' });
    const rows = await executor.run({ text: 'SELECT 42 AS x', params: [] }, soon(10_000));
    expect(rows.rows).toEqual([[42]]);
  });

  it('refuses results above the row limit', async () => {
    await expect(
      executor.run(
        { text: 'SELECT * FROM range(1000)', params: [] },
        { deadlineMs: Date.now() + 10_000, maxRows: 10 },
      ),
    ).rejects.toMatchObject({ code: 'QUERY_TOO_LARGE' });
  });

  it('refuses queries beyond the wait queue while its connections are busy', async () => {
    const busy = executor.run(ENDLESS, soon(300));
    await expect(
      executor.run({ text: 'SELECT 1', params: [] }, soon(10_000)),
    ).rejects.toMatchObject({
      code: 'QUERY_OVERLOADED',
      retryAfterSeconds: 1,
    });
    await expect(busy).rejects.toMatchObject({ code: 'QUERY_TIMEOUT' });
  });

  it('wraps database errors without their text', async () => {
    const error = await executor
      .run({ text: 'SELECT * FROM no_such_table_secret', params: [] }, soon(10_000))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORE_FAILURE' });
    expect((error as Error).message).not.toContain('no_such_table_secret');
  });
});

describe('DuckDbQueryExecutor threads', () => {
  it('raises DuckDB threads while querying and restores them', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-exec-threads-'));
    const small = await DuckDbDatabase.open(tmp, { tuning: { threads: 1 } });
    const threads = () =>
      small.read(async (c) =>
        Number((await c.runAndReadAll(`SELECT current_setting('threads')`)).getRowsJS()[0]![0]),
      );
    try {
      const boosted = await DuckDbQueryExecutor.open(small, { threadsWhileQuerying: 2 });
      const during = await boosted.run(
        { text: `SELECT current_setting('threads') AS t`, params: [] },
        soon(10_000),
      );
      expect(Number(during.rows[0]![0])).toBe(2);
      await boosted.close();
      expect(await threads()).toBe(1);
    } finally {
      await small.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
