import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { defaultDuckDbQueryMemoryLimit, loadConfig } from './config.js';

describe('DuckDB memory limit while querying', () => {
  it('is a quarter of the memory available, between 256MB and 512MB', () => {
    expect(defaultDuckDbQueryMemoryLimit(512 * 1024 ** 2)).toBe('256MB');
    expect(defaultDuckDbQueryMemoryLimit(1_000_000_000)).toBe('256MB');
    expect(defaultDuckDbQueryMemoryLimit(1024 ** 3)).toBe('268MB');
    expect(defaultDuckDbQueryMemoryLimit(1.5 * 1024 ** 3)).toBe('402MB');
    expect(defaultDuckDbQueryMemoryLimit(2 * 1024 ** 3)).toBe('512MB');
    expect(defaultDuckDbQueryMemoryLimit(16 * 1024 ** 3)).toBe('512MB');
  });

  it('is the sized default unless SILLAGE_DUCKDB_QUERY_MEMORY_LIMIT says otherwise', () => {
    const store = (env: Record<string, string>) =>
      loadConfig({ data: os.tmpdir(), port: 0 }, env).store;
    expect(store({}).duckdbMemoryLimit).toBe('256MB');
    expect(store({}).duckdbQueryMemoryLimit).toBe(defaultDuckDbQueryMemoryLimit());
    expect(store({ SILLAGE_DUCKDB_QUERY_MEMORY_LIMIT: '1GB' }).duckdbQueryMemoryLimit).toBe('1GB');
    expect(store({ SILLAGE_DUCKDB_MEMORY_LIMIT: '1GB' }).duckdbMemoryLimit).toBe('1GB');
  });
});
