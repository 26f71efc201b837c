// A load interrupted after its rows reached ClickHouse but before the segment was recorded as
// applied is replayed whole: events, links, profile operations and counters must still count once.
// (The failure is injected at the last write of the load, the `ingest_log_state` marker.)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clickHouseAvailable,
  startClickHouse,
  type ClickHouseTestServer,
} from '../../../test/helpers/clickhouse.js';
import { SILENT_LOGGER } from '../../shared/log.js';
import { ClickHouseClient } from './client.js';
import { quoteIdentifier } from './escape.js';
import { ClickHouseEventStore } from './event-store.js';
import { ClickHouseIngest, DEFAULT_CLICKHOUSE_INGEST_OPTIONS } from './ingest.js';
import { migrate } from './schema.js';

const available = clickHouseAvailable();

/** A client whose first `failures` inserts into `table` fail after the rows were written. */
class FlakyClient extends ClickHouseClient {
  constructor(
    url: string,
    private readonly table: string,
    private failures: number,
  ) {
    super({ url, database: 'sillage' });
  }

  override async insert(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    if (table === this.table && this.failures > 0) {
      this.failures--;
      throw new Error('injected failure');
    }
    await super.insert(table, rows);
  }
}

describe.skipIf(!available)('ClickHouseIngest replays an interrupted load once', () => {
  let server: ClickHouseTestServer;
  let dir: string;

  beforeAll(async () => {
    server = await startClickHouse();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-chingest-'));
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('counts events, $add, links and counters once after two failed attempts', async () => {
    const client = new FlakyClient(server.url, 'ingest_log_state', 2);
    await migrate(client, quoteIdentifier('sillage'));
    const logDir = path.join(dir, 'log');
    const ingest = await ClickHouseIngest.open(
      client,
      logDir,
      { ...DEFAULT_CLICKHOUSE_INGEST_OPTIONS, maxDelayMs: 10 },
      SILENT_LOGGER,
    );
    const p = 'prj_replay';
    const event = (i: number) => ({
      projectId: p,
      dedupKey: BigInt(i + 1),
      timeMs: 1_700_000_000_000 + i,
      event: 'e',
      distinctId: 'd1',
      deviceId: 'd1',
      userId: null,
      insertId: `i${i}`,
      browser: null,
      browserVersion: null,
      os: null,
      deviceType: null,
      countryCode: null,
      region: null,
      city: null,
      referringDomain: null,
      currentUrl: null,
      utmSource: null,
      utmMedium: null,
      utmCampaign: null,
      utmContent: null,
      utmTerm: null,
      lib: null,
      properties: {},
      receivedAtMs: 0,
    });
    for (let b = 0; b < 3; b++) {
      await ingest.append({
        events: [event(2 * b), event(2 * b + 1)],
        profileUpdates: [
          {
            projectId: p,
            groupKey: '',
            profileId: 'u1',
            op: '$add',
            value: { n: 1 },
            timeMs: b,
            ignoreTime: false,
          },
        ],
        identityLinks: [{ projectId: p, aliasId: 'd1', canonicalId: `u${b + 1}`, timeMs: b }],
        privacyCounts: [
          { projectId: p, day: '2024-01-01', property: 'x', kind: 'email', count: 2 },
        ],
      });
    }
    // flush waits through the two failed attempts (retried with backoff).
    await ingest.flush();
    await ingest.close();
    const store = await ClickHouseEventStore.open({
      url: server.url,
      database: 'sillage',
      logDir,
      logger: SILENT_LOGGER,
    });
    try {
      expect(await store.countEvents(p)).toBe(6);
      const raw = await store.client.query(
        "SELECT count() FROM events WHERE project_id = 'prj_replay'",
      );
      // Rows were written more than once (each attempt), and are still counted once.
      expect(Number(raw.rows[0]![0])).toBeGreaterThanOrEqual(6);
      expect(
        (await store.getProfile({ projectId: p, groupKey: '', profileId: 'u1' }))?.properties,
      ).toEqual({ n: 3 });
      expect((await store.listIdentityLinks(p)).map((l) => l.canonicalId)).toEqual(['u1']);
      expect(
        (await store.privacyCounts(p, '2024-01-01', '2024-01-01')).map((c) => c.count),
      ).toEqual([6]);
    } finally {
      await store.close();
    }
  });

  it('applies profile operations of two nodes whose segment ids overlap (one node far ahead)', async () => {
    const client = new ClickHouseClient({ url: server.url, database: 'sillage' });
    await migrate(client, quoteIdentifier('sillage'));
    const p = 'prj_two_nodes';
    const open = (node: string) =>
      ClickHouseIngest.open(
        client,
        path.join(dir, `log-${node}`),
        { ...DEFAULT_CLICKHOUSE_INGEST_OPTIONS, maxDelayMs: 10, node },
        SILENT_LOGGER,
      );
    const add = (n: number, timeMs: number) => ({
      events: [],
      profileUpdates: [
        {
          projectId: p,
          groupKey: '',
          profileId: 'u1',
          op: '$add' as const,
          value: { n },
          timeMs,
          ignoreTime: false,
        },
      ],
      identityLinks: [],
      privacyCounts: [],
    });
    const a = await open('node_a');
    const b = await open('node_b');
    try {
      // Node A writes five segments (its ids run ahead), then node B its first one, then A again.
      for (let i = 0; i < 5; i++) {
        await a.append(add(1, i));
        await a.flush();
      }
      await b.append(add(10, 10));
      await b.flush();
      await a.append(add(100, 20));
      await a.flush();
    } finally {
      await a.close();
      await b.close();
    }
    const store = await ClickHouseEventStore.open({
      url: server.url,
      database: 'sillage',
      logDir: path.join(dir, 'log-reader'),
      logger: SILENT_LOGGER,
    });
    try {
      expect(
        (await store.getProfile({ projectId: p, groupKey: '', profileId: 'u1' }))?.properties,
      ).toEqual({ n: 115 });
    } finally {
      await store.close();
    }
  });
});
