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

describe('isOutOfMemory', () => {
  it('knows the memory refusal DuckDB reports as a failed commit, and nothing else of that type', () => {
    // As DuckDB 1.5 worded it when a flood of queries filled the memory limit (bench/query-abuse.ts).
    const commit = new Error(
      'TransactionContext Error: Failed to commit: failed to pin block of size 256.0 KiB (243.9 MiB/244.1 MiB used)\n\nPossible solutions:',
    );
    expect(isOutOfMemory(commit)).toBe(true);
    expect(
      isOutOfMemory(
        new Error(
          'TransactionContext Error: Failed to commit: could not allocate block of size 256.0 KiB (1/2 used)',
        ),
      ),
    ).toBe(true);
    expect(isOutOfMemory(new Error('TransactionContext Error: Conflict on update'))).toBe(false);
    // A value quoting the words is not a memory refusal.
    expect(isOutOfMemory(new Error("Conversion Error: 'failed to pin block of size 1'"))).toBe(
      false,
    );
  });
});
