// A store's memory does not grow with its events. Until schema 13 the events' unique index on
// the dedup key was held in memory whole (~40 bytes per event) and the limit had to be raised with
// it: a 10.2M-event store at the 256 MB default failed every load with "Out of Memory Error". Here
// a store of 2M events loads new events (and skips stored ones) under a 32 MB limit, which stays.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventFixture } from '../event-store.conformance.js';
import { DuckDbDatabase } from './database.js';
import { DuckDbEventStore } from './event-store.js';
import { sizeBytes } from './memory-limit.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('sizes', () => {
  it('reads DuckDB sizes as config.ts accepts them', () => {
    expect(sizeBytes('256MB')).toBe(256_000_000);
    expect(sizeBytes('1.5 GiB')).toBe(1.5 * 1024 ** 3);
    expect(sizeBytes('64kib')).toBe(65_536);
    expect(() => sizeBytes('lots')).toThrow();
    expect(() => sizeBytes('12 parsecs')).toThrow();
  });
});

describe('a store of millions of events under a small memory limit', () => {
  it('loads new events and skips stored ones, its limit unchanged', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-memory-limit-'));
    dirs.push(dir);
    const tuning = { memoryLimit: '32MB', threads: 1 };
    // 2M stored events: the index that schema 13 removed would have been ~70 MB.
    let db = await DuckDbDatabase.open(dir, { tuning: { ...tuning, memoryLimit: '1GB' } });
    await db.writer.run((c) =>
      c.run(
        `INSERT INTO events (project_id, dedup_key, time, event, distinct_id, insert_id, properties, received_at)
         SELECT 'prj_index', CAST(i AS UHUGEINT) * 7919, TIMESTAMPTZ '2024-01-01 00:00:00+00', 'seed', 'u', 'i', '{}', TIMESTAMPTZ '2024-01-01 00:00:00+00'
           FROM range(2000000) AS t(i)`,
      ),
    );
    await db.close();
    // Reopened, as a server restarts on a grown store: then a load of new events, and again.
    db = await DuckDbDatabase.open(dir, { tuning });
    try {
      const store = new DuckDbEventStore(db);
      const events = Array.from({ length: 500 }, (_, i) =>
        eventFixture(i, { projectId: 'prj_index' }),
      );
      const batch = { events, identityLinks: [], profileUpdates: [], privacyCounts: [] };
      expect((await store.commit(batch)).eventsInserted).toBe(500);
      expect((await store.commit(batch)).eventsInserted).toBe(0);
      const [limit, stored] = await db.writer.run(async (c) => {
        const r = await c.runAndReadAll(
          "SELECT current_setting('memory_limit'), (SELECT count(*) FROM events)",
        );
        return r.getRowsJS()[0] as [string, bigint];
      });
      expect(Number(stored)).toBe(2_000_500);
      // DuckDB spells the limit in binary units, e.g. "30.5 MiB".
      expect(sizeBytes(limit.replace(/\s+/g, ''))).toBeLessThanOrEqual(sizeBytes('32MB'));
    } finally {
      await db.close();
    }
  }, 120_000);
});
