// The ClickHouse event store on a sharded layout: two real clickhouse-servers (Debian's 18.16) on
// loopback, each one shard of the cluster `sillage_test` in both servers' `remote_servers`. The
// EventStore conformance suite runs on it (a fresh database per test), and the layout's own
// promises are checked on the servers themselves: rows are spread over both shards, every copy of
// an event lands on one shard (so FINAL counts it once), erasure and retention delete on every
// shard, and a misconfiguration is refused with a message that says what to change.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clickHouseAvailable,
  startClickHouse,
  startClickHouseCluster,
  type ClickHouseTestServer,
} from '../../../test/helpers/clickhouse.js';
import { SILENT_LOGGER } from '../../shared/log.js';
import { CLICKHOUSE_COMPILER } from '../../query/compile-clickhouse.js';
import { QueryEngine, type UserEvent, type UserStreamReader } from '../../query/index.js';
import {
  DUCKDB_DIALECT,
  DuckDbDatabase,
  DuckDbEventStore,
  DuckDbQueryExecutor,
} from '../duckdb/index.js';
import { eventFixture, eventStoreConformance } from '../event-store.conformance.js';
import type { CommitBatch } from '../types.js';
import { ClickHouseClient } from './client.js';
import { CLICKHOUSE_DIALECT } from './dialect.js';
import { ClickHouseEventStore } from './event-store.js';
import { ClickHouseQueryExecutor } from './query-executor.js';

const available = clickHouseAvailable();
const CLUSTER = 'sillage_test';
/** An instant of the data below. */
const T0 = 1_700_000_000_000;

const batch = (parts: Partial<CommitBatch>): CommitBatch => ({
  events: [],
  profileUpdates: [],
  identityLinks: [],
  privacyCounts: [],
  ...parts,
});

describe.skipIf(!available)('ClickHouseEventStore on two shards', () => {
  let shards: ClickHouseTestServer[] = [];
  let dir: string;
  let databases = 0;

  beforeAll(async () => {
    shards = await startClickHouseCluster(2, CLUSTER);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-chshard-'));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(shards.map((s) => s.stop()));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh database on the cluster; reads and inserts through `via` (a shard index). */
  const open = async (via = 0, database = `shard_db_${++databases}`) =>
    ClickHouseEventStore.open({
      url: shards[via]!.url,
      database,
      logDir: path.join(dir, `log-${database}-${via}`),
      logger: SILENT_LOGGER,
      sharding: { cluster: CLUSTER, shardUrls: shards.map((s) => s.url) },
    });
  /** Rows of `table`'s local part on each shard (what each server holds itself). */
  const perShard = async (database: string, table: string, where = '1'): Promise<number[]> =>
    Promise.all(
      shards.map(async (s) => {
        const r = await new ClickHouseClient({ url: s.url, database }).query(
          `SELECT count() FROM ${table}_local WHERE ${where}`,
        );
        return Number(r.rows[0]![0]);
      }),
    );

  describe('conformance', () => {
    eventStoreConformance(async () => {
      const store = await open(databases % 2);
      return { events: store, close: () => store.close() };
    });
  });

  it('spreads events over both shards and puts every copy of an event on one shard', async () => {
    const database = 'shard_spread';
    const [a, b] = [await open(0, database), await open(1, database)];
    // Keys as ingest makes them (a SHA-256 prefix: uniform; the fixture's keys share their high half).
    const rows = Array.from({ length: 200 }, (_, i) =>
      eventFixture(i, {
        dedupKey: BigInt(`0x${createHash('sha256').update(`k${i}`).digest('hex').slice(0, 32)}`),
      }),
    );
    await a.commit(batch({ events: rows }));
    // The same events again, through the other shard's server (another node, an SDK retry).
    const again = await b.commit(batch({ events: rows.slice(0, 50) }));
    expect(again.eventsDuplicate).toBe(50);
    const counts = await perShard(database, 'events');
    expect(counts[0]! + counts[1]!).toBe(250);
    // Both shards hold a fair part (dedup_hi is a uniform hash; 200 keys: far from 0 or 200).
    expect(Math.min(...counts)).toBeGreaterThan(40);
    // A copy never sits on another shard than its original: per shard, before any merge, the
    // distinct keys add up to the 200 events.
    const distinct = await Promise.all(
      shards.map(async (s) => {
        const r = await new ClickHouseClient({ url: s.url, database }).query(
          'SELECT count() FROM (SELECT DISTINCT dedup_hi, dedup_lo FROM events_local)',
        );
        return Number(r.rows[0]![0]);
      }),
    );
    expect(distinct[0]! + distinct[1]!).toBe(200);
    expect(await a.countEvents('prj_1')).toBe(200);
    expect(await b.countEvents('prj_1')).toBe(200);
    expect((await b.listEvents('prj_1')).map((e) => e.insertId)).toEqual(
      (await a.listEvents('prj_1')).map((e) => e.insertId),
    );

    // Retention and erasure delete on every shard's local table.
    const cutoff = rows[100]!.timeMs;
    expect(await a.deleteEventsBefore('prj_1', cutoff)).toBe(100);
    expect(await perShard(database, 'events', `time < ${cutoff}`)).toEqual([0, 0]);
    const subject = rows[150]!.distinctId;
    const theirs = rows.filter((r, i) => i >= 100 && r.distinctId === subject).length;
    expect(theirs).toBeGreaterThan(0);
    expect(await b.eraseSubject('prj_1', subject)).toBe(theirs);
    expect(await perShard(database, 'events', `distinct_id = '${subject}'`)).toEqual([0, 0]);
    expect(await a.countEvents('prj_1')).toBe(100 - theirs);
    await Promise.all([a.close(), b.close()]);
  });

  // The user stream's statements read Distributed tables (FINAL, a CROSS JOIN of two aggregates,
  // the links inlined once): the same answers as DuckDB on the same data, page after page.
  it('answers one user (profile and every page of the stream) as DuckDB does', async () => {
    const store = await open(1, 'shard_user');
    const db = await DuckDbDatabase.open(path.join(dir, 'duck-user'));
    const duckExecutor = await DuckDbQueryExecutor.open(db);
    try {
      // Ties at one instant whose keys sort differently as numbers and as text, both halves used.
      const keys = [9n, 10n, 1n << 64n, (1n << 100n) + 3n, 99n, 100n, 12345678901234567890n];
      const rows = keys.flatMap((k, i) =>
        [0, 1, 2].map((j) =>
          eventFixture(i * 3 + j, {
            dedupKey: k * 1000n + BigInt(j),
            timeMs: T0 + (i % 3) * 1000,
            distinctId: j === 2 ? 'anon_1' : `u_${j}`,
            userId: j === 1 ? 'u_1' : null,
          }),
        ),
      );
      const parts = batch({
        events: rows,
        identityLinks: [{ projectId: 'prj_1', aliasId: 'anon_1', canonicalId: 'u_1', timeMs: 0 }],
        profileUpdates: [
          {
            projectId: 'prj_1',
            groupKey: '',
            profileId: 'u_1',
            op: '$set',
            value: { plan: 'gold', seats: 3 },
            timeMs: T0,
            ignoreTime: false,
          },
        ],
      });
      const duck = new DuckDbEventStore(db);
      await duck.commit(parts);
      await store.commit(parts);
      const audit = { record: () => undefined };
      const readers = [
        new QueryEngine({ executor: duckExecutor, dialect: DUCKDB_DIALECT, audit }),
        new QueryEngine({
          executor: new ClickHouseQueryExecutor(store.client),
          dialect: CLICKHOUSE_DIALECT,
          compiler: CLICKHOUSE_COMPILER,
          audit,
        }),
      ].map((engine) => engine.userStreams());
      const read = async (reader: UserStreamReader, id: string) => {
        const profile = await reader.profile('prj_1', id);
        const person = await reader.resolve('prj_1', id);
        const pages: UserEvent[][] = [];
        let cursor: { timeMs: number; key: string } | null = null;
        for (let page = 0; page < 30; page++) {
          const got = await reader.events('prj_1', person, { beforeMs: null, cursor, limit: 2 });
          pages.push(got.slice(0, 2));
          if (got.length <= 2) break;
          const last = got[1]!;
          cursor = { timeMs: last.row.timeMs, key: last.key };
        }
        return { profile, pages };
      };
      for (const id of ['anon_1', 'u_1', 'u_0', 'd_0', 'nobody']) {
        const [want, got] = [await read(readers[0]!, id), await read(readers[1]!, id)];
        expect(got, id).toEqual(want);
      }
      // Not a comparison of empty answers: u_1's stream holds their events and anon_1's.
      const u1 = await read(readers[1]!, 'anon_1');
      expect(u1.profile?.person).toBe('u_1');
      expect(u1.pages.flat()).toHaveLength(14);
    } finally {
      await duckExecutor.close();
      await db.close();
      await store.close();
    }
  });

  it('refuses a shard list that is not the cluster, and a layout other than configured', async () => {
    const base = {
      database: 'shard_refuse',
      logDir: path.join(dir, 'refuse'),
      logger: SILENT_LOGGER,
    };
    const attempt = (over: object) =>
      ClickHouseEventStore.open({ ...base, url: shards[0]!.url, ...over });
    await expect(
      attempt({ sharding: { cluster: 'nope', shardUrls: shards.map((s) => s.url) } }),
    ).rejects.toThrow(/has no such cluster/);
    await expect(
      attempt({ sharding: { cluster: CLUSTER, shardUrls: [shards[0]!.url] } }),
    ).rejects.toThrow(/2 shards, SILLAGE_EVENTS_URL lists 1/);
    await expect(
      attempt({ sharding: { cluster: CLUSTER, shardUrls: [shards[0]!.url, shards[0]!.url] } }),
    ).rejects.toThrow(/are the same shard/);
    const outsider = await startClickHouse();
    try {
      await expect(
        attempt({ sharding: { cluster: CLUSTER, shardUrls: [shards[0]!.url, outsider.url] } }),
      ).rejects.toThrow(/has no such cluster/);
    } finally {
      await outsider.stop();
    }
    // A single server's tables are not taken for a cluster's, nor the other way round.
    const single = await ClickHouseEventStore.open({
      ...base,
      database: 'shard_was_single',
      url: shards[0]!.url,
    });
    await single.close();
    await expect(
      attempt({
        database: 'shard_was_single',
        sharding: { cluster: CLUSTER, shardUrls: shards.map((s) => s.url) },
      }),
    ).rejects.toThrow(/not a Distributed one/);
    const sharded = await open(0, 'shard_was_sharded');
    await sharded.close();
    await expect(attempt({ database: 'shard_was_sharded' })).rejects.toThrow(
      /set SILLAGE_CLICKHOUSE_CLUSTER/,
    );
  });
});
