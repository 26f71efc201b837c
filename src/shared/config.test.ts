import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { defaultDuckDbMemoryLimit, loadConfig } from './config.js';

describe('DuckDB memory limit', () => {
  it('is a quarter of the memory available, between 256MB and 512MB', () => {
    expect(defaultDuckDbMemoryLimit(512 * 1024 ** 2)).toBe('256MB');
    expect(defaultDuckDbMemoryLimit(1_000_000_000)).toBe('256MB');
    expect(defaultDuckDbMemoryLimit(1024 ** 3)).toBe('268MB');
    expect(defaultDuckDbMemoryLimit(1.5 * 1024 ** 3)).toBe('402MB');
    expect(defaultDuckDbMemoryLimit(2 * 1024 ** 3)).toBe('512MB');
    expect(defaultDuckDbMemoryLimit(16 * 1024 ** 3)).toBe('512MB');
  });

  it('is what the server opens DuckDB with unless SILLAGE_DUCKDB_MEMORY_LIMIT says otherwise', () => {
    const data = os.tmpdir();
    expect(loadConfig({ data, port: 0 }, {}).store.duckdbMemoryLimit).toBe(
      defaultDuckDbMemoryLimit(),
    );
    expect(
      loadConfig({ data, port: 0 }, { SILLAGE_DUCKDB_MEMORY_LIMIT: '1GB' }).store.duckdbMemoryLimit,
    ).toBe('1GB');
  });
});
