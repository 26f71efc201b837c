// The DuckDB query executor: values bound by type; a statement past its deadline is interrupted
// (QUERY_TIMEOUT) and the connection serves the next one; too many rows is QUERY_TOO_LARGE; a
// full wait queue is QUERY_OVERLOADED; more memory than the limit is QUERY_TOO_LARGE; statements are kept prepared and answer as if prepared anew.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBConnection, DuckDBDataChunk } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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

  it('does not start a statement whose time is up before it runs', async () => {
    const setup = await db.connect();
    await setup.run('CREATE TABLE IF NOT EXISTS late_marks (n INTEGER)');
    try {
      // The deadline passes while the statement is prepared: an interruption then is lost.
      await expect(
        executor.run({ text: 'INSERT INTO late_marks VALUES (1)', params: [] }, soon(-1)),
      ).rejects.toMatchObject({ code: 'QUERY_TIMEOUT' });
      const count = await setup.runAndReadAll('SELECT count(*) FROM late_marks');
      expect(count.getRowsJS()).toEqual([[0n]]);
    } finally {
      setup.closeSync();
    }
  });

  it('interrupts a statement past its deadline until it stops', async () => {
    // DuckDB drops an interruption that comes before the statement executes: the first is lost.
    const interrupt = vi
      .spyOn(DuckDBConnection.prototype, 'interrupt')
      .mockImplementationOnce(() => undefined);
    try {
      await expect(executor.run(ENDLESS, soon(200))).rejects.toMatchObject({
        code: 'QUERY_TIMEOUT',
      });
      expect(interrupt.mock.calls.length).toBeGreaterThanOrEqual(2);
    } finally {
      interrupt.mockRestore();
    }
    expect((await executor.run({ text: 'SELECT 42 AS x', params: [] }, soon(10_000))).rows).toEqual(
      [[42]],
    );
  });

  it('reads a large result in pieces, letting the event loop turn between them', async () => {
    let turns = 0;
    let stop = false;
    const tick = () => {
      turns++;
      if (!stop) setImmediate(tick);
    };
    setImmediate(tick);
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called on each chunk, as its method
    const getRows = DuckDBDataChunk.prototype.getRows;
    const turnAtRead: number[] = [];
    const read = vi.spyOn(DuckDBDataChunk.prototype, 'getRows').mockImplementation(function (
      this: DuckDBDataChunk,
    ) {
      turnAtRead.push(turns);
      return getRows.call(this);
    });
    try {
      const rows = await executor.run(
        { text: 'SELECT range AS n FROM range(100000)', params: [] },
        { deadlineMs: Date.now() + 10_000, maxRows: 1_000_000 },
      );
      expect(rows.rows).toHaveLength(100_000);
    } finally {
      stop = true;
      read.mockRestore();
    }
    expect(new Set(turnAtRead).size).toBeGreaterThan(1);
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

/** Names in the order their statements settled (answered or refused). */
function settlement(): {
  settled: string[];
  note: (name: string, p: Promise<unknown>) => Promise<unknown>;
} {
  const settled: string[] = [];
  return {
    settled,
    note: (name, p) =>
      p.then(
        () => settled.push(name),
        () => settled.push(name),
      ),
  };
}

describe('DuckDbQueryExecutor sources', () => {
  const from = (source: string, ms: number) => ({ ...soon(ms), source });
  const ONE = { text: 'SELECT 1 AS x', params: [] };

  it("keeps a connection for another source while one source's statements run long", async () => {
    const fair = await DuckDbQueryExecutor.open(db, { connections: 2, maxQueued: 8 });
    const settled: string[] = [];
    const note = (name: string, p: Promise<unknown>) =>
      p.then(
        () => settled.push(`${name} ok`),
        (e: { code?: string }) => settled.push(`${name} ${e.code}`),
      );
    try {
      // b has asked for a statement lately: while it is active, a keeps one connection free.
      await fair.run(ONE, from('b', 10_000));
      const a = [1, 2, 3].map((i) => note(`a${i}`, fair.run(ENDLESS, from('a', 1_500))));
      await note('b', fair.run(ONE, from('b', 10_000)));
      await Promise.all(a);
      // b ran while a's first statement held the only connection a may have: a's others waited.
      expect(settled[0]).toBe('b ok');
      expect(settled.slice(1).sort()).toEqual([
        'a1 QUERY_TIMEOUT',
        'a2 QUERY_TIMEOUT',
        'a3 QUERY_TIMEOUT',
      ]);
    } finally {
      await fair.close();
    }
  });

  it('lets the only active source use every connection', async () => {
    const alone = await DuckDbQueryExecutor.open(db, { connections: 2, maxQueued: 8 });
    const { settled, note } = settlement();
    try {
      // a2 runs beside a1 (no other project is active): it is answered before a1 times out.
      await Promise.all([
        note('a1', alone.run(ENDLESS, from('a', 1_500))),
        note('a2', alone.run(ONE, from('a', 10_000))),
      ]);
      expect(settled).toEqual(['a2', 'a1']);
    } finally {
      await alone.close();
    }
  });

  it('hands a freed connection to the waiting source that holds fewest', async () => {
    const fair = await DuckDbQueryExecutor.open(db, { connections: 2, maxQueued: 8, perSource: 2 });
    const { settled, note } = settlement();
    try {
      const all = [
        note('a1', fair.run(ENDLESS, from('a', 600))),
        note('a2', fair.run(ENDLESS, from('a', 900))),
        note('a3', fair.run(ONE, from('a', 10_000))),
        note('a4', fair.run(ONE, from('a', 10_000))),
        note('b', fair.run(ONE, from('b', 10_000))),
      ];
      await Promise.all(all);
      // When a1 stops, a still holds one connection and b none: b goes before a's waiting ones.
      expect(settled.indexOf('b')).toBeLessThan(settled.indexOf('a4'));
      expect(settled.indexOf('b')).toBeLessThan(settled.indexOf('a2'));
    } finally {
      await fair.close();
    }
  });

  it('lets one source fill at most its share of a queue three quarters full', async () => {
    const fair = await DuckDbQueryExecutor.open(db, { connections: 2, maxQueued: 8 });
    const pending: Promise<unknown>[] = [];
    const codes: string[] = [];
    const run = (source: string) => {
      const p = fair.run(ENDLESS, from(source, 1_500)).catch((e: { code?: string }) => {
        codes.push(`${source} ${e.code}`);
      });
      pending.push(p);
    };
    try {
      await fair.run(ONE, from('b', 10_000)); // b is active: a may not take every connection
      // a: one running, then waiting until the queue is 3/4 full (6), then one more: refused.
      for (let i = 0; i < 8; i++) run('a');
      run('b'); // runs at once (the connection a may not take)
      run('b'); // waits: a's flood left it room
      await new Promise((r) => setTimeout(r, 50));
      expect(codes).toEqual(['a QUERY_OVERLOADED']);
      await Promise.all(pending);
      expect(codes.filter((c) => c === 'b QUERY_TIMEOUT')).toHaveLength(2);
      expect(codes.filter((c) => c === 'a QUERY_TIMEOUT')).toHaveLength(7);
    } finally {
      await fair.close();
    }
  });
});

describe('DuckDbQueryExecutor memory', () => {
  it('answers a query that needs more than the memory limit as too large, and serves the next', async () => {
    const small = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-exec-mem-'));
    const database = await DuckDbDatabase.open(small, { tuning: { memoryLimit: '32MB' } });
    const limited = await DuckDbQueryExecutor.open(database, { connections: 1 });
    try {
      // `list` states live in arenas DuckDB cannot spill: ~100 MB of them here.
      const error = await limited
        .run(
          {
            text: "SELECT sum(len(v)) FROM (SELECT range % 1000000 AS k, list(repeat('x', 100) || range) AS v FROM range(1000000) GROUP BY k)",
            params: [],
          },
          soon(60_000),
        )
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'QUERY_TOO_LARGE' });
      expect((error as Error).message).toContain('SILLAGE_DUCKDB_MEMORY_LIMIT');
      const next = await limited.run({ text: 'SELECT 42 AS n', params: [] }, soon(10_000));
      expect(next.rows).toEqual([[42]]);
    } finally {
      await limited.close();
      await database.close();
      fs.rmSync(small, { recursive: true, force: true });
    }
  });
});

describe('DuckDbQueryExecutor prepared statements', () => {
  const run = (e: DuckDbQueryExecutor, text: string, value: number | string) =>
    e.run(
      {
        text,
        params: [
          typeof value === 'number' ? { type: 'bigint', value } : { type: 'varchar', value },
        ],
      },
      soon(10_000),
    );

  it('prepares a text once, binds each run its own values and reads the data as it is then', async () => {
    const prepare = vi.spyOn(DuckDBConnection.prototype, 'prepare');
    try {
      await db.writer.run((c) => c.run('CREATE TABLE kept_t (n BIGINT)'));
      const text = 'SELECT count(*) AS c, $1 + 0 AS v FROM kept_t';
      expect((await run(executor, text, 1)).rows).toEqual([[0n, 1n]]);
      await db.writer.run((c) => c.run('INSERT INTO kept_t VALUES (1), (2)'));
      expect((await run(executor, text, 2)).rows).toEqual([[2n, 2n]]);
      // The table replaced by one of another shape: DuckDB binds the kept statement again.
      await db.writer.run((c) =>
        c.run('DROP TABLE kept_t; CREATE TABLE kept_t (n VARCHAR); INSERT INTO kept_t VALUES (1)'),
      );
      expect((await run(executor, text, 3)).rows).toEqual([[1n, 3n]]);
      expect(prepare.mock.calls.filter(([t]) => t === text)).toHaveLength(1);
    } finally {
      prepare.mockRestore();
    }
  });

  it('filters each run by its own values (none is planned into the kept statement)', async () => {
    await db.writer.run((c) =>
      c.run(
        `CREATE TABLE kept_f AS SELECT range AS n, 'e' || (range % 3) AS ev,
           make_timestamptz(range * 3600 * 1000000) AS t FROM range(300000)`,
      ),
    );
    const text = 'SELECT count(*) AS c FROM kept_f WHERE ev = $1 AND t >= $2 AND t < $3 AND n > $4';
    const at = (hours: number) => ({ type: 'timestamp' as const, value: hours * 3_600_000 });
    for (const [ev, from, to, above, expected] of [
      ['e0', 0, 300_000, -1, 100_000n],
      ['e1', 0, 300_000, -1, 100_000n],
      ['e1', 1_000, 2_000, -1, 334n],
      ['e2', 250_000, 300_000, 299_990, 3n],
      ['e0', 0, 300_000, -1, 100_000n],
    ] as const) {
      const rows = await executor.run(
        {
          text,
          params: [
            { type: 'varchar', value: ev },
            at(from),
            at(to),
            { type: 'bigint', value: above },
          ],
        },
        soon(10_000),
      );
      expect(rows.rows).toEqual([[expected]]);
    }
  });

  it('prepares again after a failed or interrupted run, and keeps at most its share', async () => {
    const few = await DuckDbQueryExecutor.open(db, { connections: 1, keepPrepared: 2 });
    const prepare = vi.spyOn(DuckDBConnection.prototype, 'prepare');
    try {
      const cast = 'SELECT CAST($1 AS INTEGER) AS n';
      await expect(run(few, cast, 'not a number')).rejects.toMatchObject({ code: 'STORE_FAILURE' });
      expect((await run(few, cast, '41')).rows).toEqual([[41]]);
      await expect(few.run(ENDLESS, soon(200))).rejects.toMatchObject({ code: 'QUERY_TIMEOUT' });
      await expect(few.run(ENDLESS, soon(200))).rejects.toMatchObject({ code: 'QUERY_TIMEOUT' });
      // Three texts through two places: each answers right, the first is prepared again.
      for (const round of [1, 2]) {
        for (const k of [1, 2, 3]) {
          expect((await run(few, `SELECT $1 + ${k} AS v`, round)).rows).toEqual([
            [BigInt(round + k)],
          ]);
        }
      }
      const calls = prepare.mock.calls.map(([t]) => t);
      expect(calls.filter((t) => t === cast)).toHaveLength(2);
      expect(calls.filter((t) => t === ENDLESS.text)).toHaveLength(2);
      expect(calls.filter((t) => t === 'SELECT $1 + 1 AS v')).toHaveLength(2);
    } finally {
      prepare.mockRestore();
      await few.close();
    }
  });

  it('keeps none when told so', async () => {
    const none = await DuckDbQueryExecutor.open(db, { connections: 1, keepPrepared: 0 });
    const prepare = vi.spyOn(DuckDBConnection.prototype, 'prepare');
    try {
      for (const v of [1, 2, 3])
        expect((await run(none, 'SELECT $1 AS v', v)).rows).toEqual([[BigInt(v)]]);
      expect(prepare.mock.calls.filter(([t]) => t === 'SELECT $1 AS v')).toHaveLength(3);
    } finally {
      prepare.mockRestore();
      await none.close();
    }
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

describe('DuckDbQueryExecutor memory limit', () => {
  it('raises DuckDB’s memory limit while querying and lowers it after the last query', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-exec-memory-'));
    const db = await DuckDbDatabase.open(tmp, { tuning: { memoryLimit: '64MB' } });
    const setting = `SELECT current_setting('memory_limit') AS m`;
    const limit = () =>
      db.read(async (c) => (await c.runAndReadAll(setting)).getRowsJS()[0]![0] as string);
    try {
      const before = await limit();
      const executor = await DuckDbQueryExecutor.open(db, {
        memoryWhileQuerying: 128_000_000,
        memoryLingerMs: 50,
      });
      try {
        const during = await executor.run({ text: setting, params: [] }, soon(10_000));
        expect(String(during.rows[0]![0])).toBe('122.0 MiB');
        // Still raised just after (a pause between two questions), then back to the store's.
        expect(await limit()).toBe('122.0 MiB');
        for (let i = 0; i < 200 && (await limit()) !== before; i++)
          await new Promise((r) => setTimeout(r, 10));
        expect(await limit()).toBe(before);
        // Raised again by the next query; restored when the executor closes.
        await executor.run({ text: setting, params: [] }, soon(10_000));
        expect(await limit()).toBe('122.0 MiB');
      } finally {
        await executor.close();
      }
      expect(await limit()).toBe(before);
      // Not above the store's limit: left alone.
      const lower = await DuckDbQueryExecutor.open(db, { memoryWhileQuerying: 32_000_000 });
      try {
        const during = await lower.run({ text: setting, params: [] }, soon(10_000));
        expect(String(during.rows[0]![0])).toBe(before);
      } finally {
        await lower.close();
      }
    } finally {
      await db.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
