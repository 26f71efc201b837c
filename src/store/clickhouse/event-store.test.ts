// The ClickHouse event store against a real clickhouse-server, and against a current ClickHouse
// embedded by chdb, side by side with the DuckDB store: the same batches go to both, and every read
// of the port must answer the same (events, dedup, profiles with every operation, identity links,
// privacy counters, retention, erasure).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clickHouseTargets, type ClickHouseTarget } from '../../../test/helpers/chdb.js';
import { SILENT_LOGGER } from '../../shared/log.js';
import { DuckDbDatabase, DuckDbEventStore } from '../duckdb/index.js';
import type { CommitBatch, EventRow, EventStore } from '../types.js';
import { ClickHouseEventStore } from './event-store.js';

const { available, targets } = clickHouseTargets();

function event(projectId: string, i: number, over: Partial<EventRow> = {}): EventRow {
  return {
    projectId,
    dedupKey: (BigInt(i) << 64n) + BigInt(i * 7919) + (1n << 127n),
    timeMs: Date.UTC(2024, 0, 1) + i * 3_600_000,
    event: i % 2 ? 'A' : 'B',
    distinctId: `u${i % 3}`,
    deviceId: i % 4 ? `d${i % 4}` : null,
    userId: i % 3 ? `u${i % 3}` : null,
    insertId: `ins-${i}`,
    browser: i % 2 ? 'Chrome' : null,
    browserVersion: '120',
    os: null,
    deviceType: null,
    countryCode: 'FR',
    region: null,
    city: null,
    referringDomain: null,
    currentUrl: null,
    utmSource: null,
    utmMedium: null,
    utmCampaign: null,
    utmContent: null,
    utmTerm: null,
    lib: 'web',
    properties: { plan: "pro'\\\0é", n: i, big: 1e21, nested: { a: [1, 'x'] }, none: null },
    receivedAtMs: Date.UTC(2024, 0, 1),
    ...over,
  };
}

const empty = (): CommitBatch => ({
  events: [],
  profileUpdates: [],
  identityLinks: [],
  privacyCounts: [],
});

describe.skipIf(!available).each(targets)(
  'ClickHouseEventStore ($name) = DuckDbEventStore',
  (target: ClickHouseTarget) => {
    let server: Awaited<ReturnType<ClickHouseTarget['start']>>;
    let dir: string;
    let db: DuckDbDatabase;
    let stores: { name: string; store: EventStore }[] = [];

    beforeAll(async () => {
      server = await target.start();
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-chstore-'));
      db = await DuckDbDatabase.open(path.join(dir, 'duck'));
      const ch = await ClickHouseEventStore.open({
        url: server.url,
        ...(server.client ? { client: server.client } : {}),
        database: 'sillage',
        logDir: path.join(dir, 'ch-log'),
        logger: SILENT_LOGGER,
      });
      stores = [
        { name: 'duckdb', store: new DuckDbEventStore(db) },
        { name: 'clickhouse', store: ch },
      ];
    });

    afterAll(async () => {
      for (const { store } of stores.slice(1)) await store.close();
      await db?.close();
      await server?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    /** Runs `fn` on both stores and expects the same answer. */
    async function same<T>(fn: (s: EventStore) => Promise<T>): Promise<T> {
      const [a, b] = [await fn(stores[0]!.store), await fn(stores[1]!.store)];
      expect(b).toEqual(a);
      return a;
    }

    // What the server offers beyond 18.16 (schema.ts ClickHouseFeatures): asked of the server,
    // and set on every table that holds rows, so that a load's INSERT returns once its part is on
    // disk where the server can do that.
    it('fsyncs inserted parts where the server offers it', async () => {
      const ch = stores[1]!.store as ClickHouseEventStore;
      const offers = !target.name.includes('18.16');
      expect(ch.features).toEqual([{ version: expect.any(String), fsyncParts: offers }]);
      const tables = await ch.client.query(
        "SELECT name, engine_full FROM system.tables WHERE database = 'sillage' ORDER BY name",
        { noDatabase: true },
      );
      expect(tables.rows.map((row) => row[0])).toEqual([
        'events',
        'identity_links',
        'ingest_log_state',
        'privacy_counters',
        'profiles',
      ]);
      for (const [, engine] of tables.rows) {
        const fsync =
          /fsync_after_insert = 1\b/.test(String(engine)) &&
          /fsync_part_directory = 1\b/.test(String(engine));
        expect(fsync).toBe(offers);
      }
    });

    it('events: commit, dedup (within a batch and across), list in order, paging, count', async () => {
      const p = 'prj_events';
      const events = Array.from({ length: 30 }, (_, i) => event(p, i));
      const first = await same((s) => s.commit({ ...empty(), events: events.slice(0, 20) }));
      expect(first.eventsInserted).toBe(20);
      const second = await same((s) =>
        s.commit({ ...empty(), events: [...events.slice(10), events[25]!, event('other', 1000)] }),
      );
      expect(second.eventsDuplicate).toBe(11);
      expect(await same((s) => s.countEvents(p))).toBe(30);
      const all = await same((s) => s.listEvents(p));
      expect(all.map((e) => e.insertId)).toEqual(events.map((e) => e.insertId));
      expect(all[3]!.properties).toEqual(events[3]!.properties);
      await same((s) =>
        s.listEvents(p, {
          limit: 5,
          after: { timeMs: all[4]!.timeMs, dedupKey: all[4]!.dedupKey },
        }),
      );
      await same((s) => s.listEvents(p, { fromMs: all[2]!.timeMs, toMs: all[9]!.timeMs }));
      // Live events: newest arrival first, and only what arrived after a cursor.
      const latest = await same((s) => s.latestEvents(p, { limit: 7 }));
      expect(latest).toHaveLength(7);
      const cursor = latest[3]!;
      const after = await same((s) =>
        s.latestEvents(p, {
          limit: 30,
          after: { receivedMs: cursor.receivedAtMs, dedupKey: cursor.dedupKey },
        }),
      );
      expect(after.map((e) => e.insertId)).toEqual(latest.slice(0, 3).map((e) => e.insertId));
    });

    it('profiles: every operation, in order, once', async () => {
      const p = 'prj_profiles';
      const u = (op: string, value: unknown, timeMs: number, ignoreTime = false) => ({
        projectId: p,
        groupKey: '',
        profileId: 'u1',
        op: op as never,
        value: value as never,
        timeMs,
        ignoreTime,
      });
      await same((s) =>
        s.commit({
          ...empty(),
          profileUpdates: [
            u('$set', { plan: 'free', n: 1, tags: ['a'] }, 1000),
            u('$set_once', { plan: 'pro', first: 'x' }, 2000),
            u('$add', { n: 2.5 }, 3000),
          ],
        }),
      );
      await same((s) =>
        s.commit({
          ...empty(),
          profileUpdates: [
            u('$union', { tags: ['a', 'b'] }, 4000),
            u('$append', { tags: 'c' }, 5000, true),
            u('$remove', { tags: 'a' }, 6000),
            u('$unset', ['first'], 7000),
            { ...u('$set', { name: 'company one' }, 7000), groupKey: 'company', profileId: 'c1' },
          ],
        }),
      );
      const got = await same((s) => s.getProfile({ projectId: p, groupKey: '', profileId: 'u1' }));
      expect(got?.properties).toEqual({ plan: 'free', n: 3.5, tags: ['b', 'c'] });
      await same((s) => s.getProfile({ projectId: p, groupKey: 'company', profileId: 'c1' }));
      await same((s) => s.commit({ ...empty(), profileUpdates: [u('$delete', null, 8000)] }));
      expect(await same((s) => s.getProfile({ projectId: p, groupKey: '', profileId: 'u1' }))).toBe(
        null,
      );
    });

    it('identity links (first wins) and privacy counters (summed per day)', async () => {
      const p = 'prj_links';
      const link = (aliasId: string, canonicalId: string, timeMs: number) => ({
        projectId: p,
        aliasId,
        canonicalId,
        timeMs,
      });
      const count = (day: string, property: string, n: number) => ({
        projectId: p,
        day,
        property,
        kind: 'email',
        count: n,
      });
      await same((s) =>
        s.commit({
          ...empty(),
          identityLinks: [link('d1', 'u1', 1), link('d1', 'u2', 2), link('u1', 'u1', 3)],
          privacyCounts: [count('2024-01-01', 'note', 2), count('2024-01-02', 'note', 1)],
        }),
      );
      await same((s) =>
        s.commit({
          ...empty(),
          identityLinks: [link('d1', 'u3', 4), link('d2', 'u1', 5)],
          privacyCounts: [count('2024-01-01', 'note', 5)],
        }),
      );
      const links = await same((s) => s.listIdentityLinks(p));
      expect(links.map((l) => [l.aliasId, l.canonicalId])).toEqual([
        ['d1', 'u1'],
        ['d2', 'u1'],
      ]);
      const counts = await same((s) => s.privacyCounts(p, '2024-01-01', '2024-01-31'));
      expect(counts.map((c) => c.count)).toEqual([7, 1]);
    });

    it('retention and erasure delete the same rows', async () => {
      const p = 'prj_erase';
      const events = Array.from({ length: 24 }, (_, i) => event(p, 100 + i));
      await same((s) =>
        s.commit({
          ...empty(),
          events,
          identityLinks: [{ projectId: p, aliasId: 'd1', canonicalId: 'u1', timeMs: 0 }],
          profileUpdates: [
            {
              projectId: p,
              groupKey: '',
              profileId: 'u1',
              op: '$set',
              value: { plan: 'x' },
              timeMs: 0,
              ignoreTime: false,
            },
          ],
        }),
      );
      const cutoff = events[5]!.timeMs;
      expect(await same((s) => s.deleteEventsBefore(p, cutoff))).toBe(5);
      const erased = await same((s) => s.eraseSubject(p, 'u1'));
      expect(erased).toBeGreaterThan(0);
      await same((s) => s.listEvents(p));
      await same((s) => s.listIdentityLinks(p));
      expect(await same((s) => s.getProfile({ projectId: p, groupKey: '', profileId: 'u1' }))).toBe(
        null,
      );
    });
  },
);
