// The QueryExecutor conformance suite: every store's executor runs it against a real backend
// through its own dialect (see store/duckdb/query-executor.test.ts). It pins typed binding (a
// value never becomes SQL), cancellation at the deadline, the row budget and error wrapping.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dialect, RenderedSql } from './dialect.js';
import type { QueryExecutor } from './execute.js';
import { param, raw, sql } from './sql.js';

/** What the suite needs from an adapter. */
export interface QueryExecutorHarness {
  executor: QueryExecutor;
  dialect: Dialect;
  /** A statement that does not finish in a test's lifetime (only the deadline ends it). */
  endless: RenderedSql;
  /** A statement that returns 1000 rows. */
  thousandRows: RenderedSql;
  close(): Promise<void>;
}

const soon = (ms: number) => ({ deadlineMs: Date.now() + ms, maxRows: 100 });

/** Runs the suite on one executor, opened once for the file. */
export function queryExecutorConformance(open: () => Promise<QueryExecutorHarness>): void {
  let h: QueryExecutorHarness;
  beforeAll(async () => {
    h = await open();
  });
  afterAll(async () => {
    await h.close();
  });

  describe('QueryExecutor port', () => {
    it('binds values with their types, so that text stays text', async () => {
      const hostile = "o'clock'); DROP TABLE events; --";
      const rows = await h.executor.run(
        h.dialect.render(
          sql`SELECT ${param.varchar(hostile)} AS s, ${param.bigint(41)} + 1 AS i, ${param.double(1.25)} * 2 AS d, ${raw("'done'")} AS tail`,
        ),
        soon(10_000),
      );
      expect(rows.columns).toEqual(['s', 'i', 'd', 'tail']);
      expect(rows.rows.length).toBe(1);
      const [s, i, d, tail] = rows.rows[0]!;
      expect(s).toBe(hostile);
      expect(Number(i)).toBe(42);
      expect(Number(d)).toBe(2.5);
      expect(tail).toBe('done');
    });

    it('cancels a statement at its deadline, then serves the next one', async () => {
      await expect(h.executor.run(h.endless, soon(200))).rejects.toMatchObject({
        code: 'QUERY_TIMEOUT',
      });
      const rows = await h.executor.run(h.dialect.render(sql`SELECT 42 AS x`), soon(10_000));
      expect(rows.rows.map((r) => Number(r[0]))).toEqual([42]);
    });

    it('refuses results above the row budget', async () => {
      await expect(
        h.executor.run(h.thousandRows, { deadlineMs: Date.now() + 10_000, maxRows: 10 }),
      ).rejects.toMatchObject({ code: 'QUERY_TOO_LARGE' });
      const all = await h.executor.run(h.thousandRows, {
        deadlineMs: Date.now() + 10_000,
        maxRows: 1000,
      });
      expect(all.rows.length).toBe(1000);
    });

    it('wraps database errors without their text', async () => {
      const error = await h.executor
        .run(h.dialect.render(sql`SELECT * FROM no_such_table_secret`), soon(10_000))
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'STORE_FAILURE' });
      expect((error as Error).message).not.toContain('no_such_table_secret');
    });
  });
}
