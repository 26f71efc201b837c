// describeLoadError on errors real DuckDB statements throw: an engine-state message is shown, a
// message that quotes a value is not.
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { describeLoadError, isOutOfMemory } from './load-error.js';

async function thrownBy(sql: string[]): Promise<unknown> {
  const instance = await DuckDBInstance.create(':memory:');
  const c = await instance.connect();
  try {
    for (const statement of sql) await c.run(statement);
  } catch (error) {
    return error;
  } finally {
    c.closeSync();
    instance.closeSync();
  }
  throw new Error('no error');
}

describe('describeLoadError', () => {
  it("shows an out-of-memory error's first line, without DuckDB's advice", async () => {
    const error = await thrownBy([
      "SET memory_limit = '20MB'",
      'CREATE TABLE t (k UHUGEINT PRIMARY KEY, s VARCHAR)',
      "INSERT INTO t SELECT i::UHUGEINT, repeat('x', 100) || i FROM range(3000000) r(i)",
    ]);
    expect(isOutOfMemory(error)).toBe(true);
    const text = describeLoadError(error);
    expect(text).toMatch(/^Out of Memory Error: .+ used\)$/);
    expect(text).not.toContain('Possible solutions');
  });

  it('shows only the type of an error whose message quotes a value', async () => {
    const secret = 'jane.doe@example.org';
    const error = await thrownBy([
      'CREATE TABLE t (n INTEGER)',
      `INSERT INTO t VALUES ('${secret}')`,
    ]);
    expect((error as Error).message).toContain(secret);
    expect(isOutOfMemory(error)).toBe(false);
    expect(describeLoadError(error)).toBe(
      'Conversion Error (its message is not shown: it may quote event data)',
    );
  });

  it("shows an AppError's own message and a system error's code only", () => {
    expect(describeLoadError(new AppError('STORE_FAILURE', 'segment unreadable'))).toBe(
      'segment unreadable',
    );
    const system = Object.assign(new Error('ENOSPC: no space left on device, write /data/x'), {
      code: 'ENOSPC',
    });
    expect(describeLoadError(system)).toBe('system error ENOSPC');
    expect(describeLoadError('x')).toBe('unknown error');
  });
});
