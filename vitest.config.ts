// Test configuration: unit tests sit beside the code, integration tests under test/.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'web/app/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two test files at a time. Vitest 3 runs cores − 1 workers in run mode, which is one on
    // the 2-core CI machine; that put CI over its 20 minutes (1,366 s). With two, the whole
    // suite (PostgreSQL, ClickHouse, Chromium required) ran in 774 s and 724 s, all passing,
    // against 1,090 s with one, on the same quiet machine. Fixed rather than a share of the
    // cores: each file starts servers and browsers of its own.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
