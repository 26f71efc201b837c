// The memory report reads DuckDB's figures at a new resident-set peak, else once a second.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { memoryCollector, type MemorySources } from './memory-report.js';

function sources(reads: { n: number }): MemorySources {
  const db = {
    read: async (fn: (c: unknown) => Promise<unknown>) => {
      reads.n += 1;
      return fn({
        runAndReadAll: (sql: string) =>
          Promise.resolve({
            getRowsJS: () =>
              sql.includes('duckdb_memory') ? [['BASE_TABLE', reads.n, 0]] : [['256.0 MiB', 1]],
          }),
      });
    },
  };
  return {
    db: db as unknown as MemorySources['db'],
    admission: { stats: () => ({ heldBytes: 0 }) } as unknown as MemorySources['admission'],
    workers: { heapBytes: () => 0, heldBodyBytes: 0 } as unknown as MemorySources['workers'],
    writer: {
      getStats: () => ({ queuedBytes: 0, queuedRecords: 0 }),
    } as unknown as MemorySources['writer'],
    backlog: () => 0,
  };
}

describe('memoryCollector', () => {
  afterEach(() => vi.restoreAllMocks());

  it("reads DuckDB's figures at a new peak of the resident set, else at most once a second", async () => {
    const reads = { n: 0 };
    let rss = 100;
    let now = 1_000_000;
    vi.spyOn(Date, 'now').mockImplementation(() => now);
    const usage = process.memoryUsage();
    vi.spyOn(process, 'memoryUsage').mockImplementation(() => ({ ...usage, rss }));
    const collect = memoryCollector(sources(reads));

    expect((await collect()).duckdb?.byTag).toEqual({ BASE_TABLE: 1 });
    now += 200;
    rss = 90; // below the peak, within the second: the last figures again
    expect((await collect()).duckdb?.byTag).toEqual({ BASE_TABLE: 1 });
    now += 200;
    rss = 120; // a new peak: read now
    expect((await collect()).duckdb?.byTag).toEqual({ BASE_TABLE: 2 });
    now += 999;
    rss = 110;
    await collect();
    expect(reads.n).toBe(2);
    now += 1;
    expect((await collect()).duckdb?.byTag).toEqual({ BASE_TABLE: 3 }); // a second later
  });
});
