// DuckDB's memory limit is shared by the whole store, so a statement refused memory is told whose
// fault it was: a query refused while other work holds the memory is QUERY_BUSY (503, retry),
// not QUERY_TOO_LARGE ("narrow the date range"), and a metadata statement refused memory is
// STORE_BUSY (503), not a failure (500). Real DuckDB under a 32 MB limit; the other work is a
// statement of its own connection whose result is read halfway, so its memory stays held.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DuckDBConnection, DuckDBResult } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../shared/errors.js';
import { DuckDbDatabase, storeError } from './database.js';
import { DuckDbQueryExecutor } from './query-executor.js';

/** Groups of ~110-byte lists: `list` states live in arenas DuckDB cannot spill. */
const lists = (groups: number) =>
  `SELECT k, list(repeat('x', 100) || range) AS v FROM (SELECT range, range % ${groups} AS k FROM range(${groups})) GROUP BY k`;
/** Fits alone under 32 MB (~15 MB), not beside the hog (~18 MB). */
const MIDDLING = `SELECT sum(len(v)) FROM (${lists(40_000)})`;
/** Needs far more than 32 MB alone. */
const HUGE = `SELECT sum(len(v)) FROM (${lists(1_000_000)})`;

let dir: string;
let database: DuckDbDatabase;
let executor: DuckDbQueryExecutor;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-mem-pressure-'));
  database = await DuckDbDatabase.open(dir, { tuning: { memoryLimit: '32MB', threads: 2 } });
  executor = await DuckDbQueryExecutor.open(database, { connections: 2 });
});

afterAll(async () => {
  await executor.close();
  await database.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Other work holding ~18 MB until `release`: a grouping whose result is read one chunk in. */
async function hog(): Promise<{ release(): Promise<void> }> {
  const connection: DuckDBConnection = await database.connect();
  const result: DuckDBResult = await connection.stream(lists(50_000));
  await result.fetchChunk();
  return {
    release: async () => {
      // A new statement on the connection ends the streaming one (and frees its memory).
      await connection.run('SELECT 1');
      connection.closeSync();
    },
  };
}

const soon = () => ({ deadlineMs: Date.now() + 60_000, maxRows: 100 });

describe('a query refused memory', () => {
  it('is told the store is busy while other work holds the memory, and answers once it is free', async () => {
    const held = await hog();
    let refused: unknown;
    try {
      refused = await executor.run({ text: MIDDLING, params: [] }, soon()).catch((e: unknown) => e);
    } finally {
      await held.release();
    }
    expect(refused).toMatchObject({ code: 'QUERY_BUSY', status: 503, retryAfterSeconds: 5 });
    const alone = await executor.run({ text: MIDDLING, params: [] }, soon());
    expect(alone.rows).toEqual([[40_000n]]);
  });

  it('alone and still refused, is told it is too large', async () => {
    const refused = await executor.run({ text: HUGE, params: [] }, soon()).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'QUERY_TOO_LARGE', status: 422 });
  });
});

describe('a metadata statement refused memory', () => {
  it('is STORE_BUSY (retry), not a failure, and its connection serves the next', async () => {
    for (const connection of [database.lookups, database.meta]) {
      const refused = await connection.run((c) => c.run(HUGE)).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'STORE_BUSY', status: 503, retryAfterSeconds: 5 });
      // Wrapped at an adapter's boundary, it stays what it is.
      expect(storeError(refused, 'find API key')).toMatchObject({ code: 'STORE_BUSY' });
      const next = await connection.run(async (c) =>
        (await c.runAndReadAll('SELECT 42')).getRowsJS(),
      );
      expect(next).toEqual([[42]]);
    }
    // The writer's callers (the ingest loader) read DuckDB's own message to advise.
    const raw = await database.writer.run((c) => c.run(HUGE)).catch((e: unknown) => e);
    expect(isAppError(raw)).toBe(false);
    expect(storeError(raw, 'load')).toMatchObject({ code: 'STORE_BUSY' });
  });
});
