// The memory limit grows with the dedup index. The failure it prevents needs millions of events
// to show (a 10.2M-event store at the 256 MB default failed every load with "Out of Memory Error";
// with the limit fitted, the same replay loaded): here, the limit a grown store gets on reopening
// and keeps while it loads.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventFixture } from '../event-store.conformance.js';
import { DuckDbDatabase } from './database.js';
import { DuckDbEventStore } from './event-store.js';
import { INDEX_BYTES_PER_EVENT, limitFor, sizeBytes } from './index-memory.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('sizes and limits', () => {
  it('reads DuckDB sizes as config.ts accepts them', () => {
    expect(sizeBytes('256MB')).toBe(256_000_000);
    expect(sizeBytes('1.5 GiB')).toBe(1.5 * 1024 ** 3);
    expect(sizeBytes('64kib')).toBe(65_536);
    expect(() => sizeBytes('lots')).toThrow();
    expect(() => sizeBytes('12 parsecs')).toThrow();
  });

  it('adds the index of the events to the working memory, in whole steps, never less', () => {
    const step = 64 * 1024 * 1024;
    let previous = 0;
    for (const events of [0, 1, 1_000_000, 7_000_000, 11_400_000, 100_000_000]) {
      const limit = limitFor(sizeBytes('256MB'), events);
      expect(limit % step).toBe(0);
      expect(limit).toBeGreaterThanOrEqual(256_000_000 + events * INDEX_BYTES_PER_EVENT);
      expect(limit - step).toBeLessThan(256_000_000 + events * INDEX_BYTES_PER_EVENT);
      expect(limit).toBeGreaterThanOrEqual(previous);
      previous = limit;
    }
  });
});

describe('a store whose dedup index outgrows the configured limit', () => {
  it('gets a limit raised for its index, and loads events', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-index-memory-'));
    dirs.push(dir);
    const tuning = { memoryLimit: '32MB', threads: 1 };
    // 2M stored events: an index of ~70 MB, past the 32 MB the store is configured with.
    let db = await DuckDbDatabase.open(dir, { tuning: { ...tuning, memoryLimit: '1GB' } });
    await db.writer.run((c) =>
      c.run(
        `INSERT INTO events (project_id, dedup_key, time, event, distinct_id, insert_id, properties, received_at)
         SELECT 'prj_index', CAST(i AS UHUGEINT) * 7919, TIMESTAMPTZ '2024-01-01 00:00:00+00', 'seed', 'u', 'i', '{}', TIMESTAMPTZ '2024-01-01 00:00:00+00'
           FROM range(2000000) AS t(i)`,
      ),
    );
    await db.close();
    // Reopened, as a server restarts on a grown store: then a load of new events.
    db = await DuckDbDatabase.open(dir, { tuning });
    try {
      const store = new DuckDbEventStore(db);
      const events = Array.from({ length: 500 }, (_, i) =>
        eventFixture(i, { projectId: 'prj_index' }),
      );
      const result = await store.commit({
        events,
        identityLinks: [],
        profileUpdates: [],
        privacyCounts: [],
      });
      expect(result.eventsInserted).toBe(500);
      const limit = await db.writer.run(async (c) => {
        const r = await c.runAndReadAll("SELECT current_setting('memory_limit')");
        return r.getRowsJS()[0]?.[0] as string;
      });
      // DuckDB spells the limit in binary units, e.g. "128.0 MiB".
      expect(sizeBytes(limit.replace(/\s+/g, ''))).toBeGreaterThanOrEqual(
        sizeBytes('32MB') + 2_000_000 * INDEX_BYTES_PER_EVENT - 1024 * 1024,
      );
    } finally {
      await db.close();
    }
  }, 120_000);
});
