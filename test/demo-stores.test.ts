// `sillage demo` on both event stores: the same seed run once with the embedded DuckDB store and
// once as a scale-out node (SILLAGE_EVENTS_URL on a real ClickHouse server, Debian's 18.16
// started for this suite, and SILLAGE_META_URL on PostgreSQL when SILLAGE_TEST_PG is set), each
// in its own process and data directory; then `sillage serve` on each answers the same questions
// identically (the demo writes through the EventStore port on both).
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clickHouseAvailable,
  startClickHouse,
  type ClickHouseTestServer,
} from './helpers/clickhouse.js';
import {
  makeTestEnv,
  runCli,
  startServerProcess,
  type ServerProcess,
  type TestEnv,
} from './helpers/server.js';
import { freshPostgresDatabase, postgresAvailable } from './helpers/postgres.js';
import { ClickHouseClient } from '../src/store/clickhouse/index.js';
import { sameDigits } from '../src/query/differential-generators.js';

const available = clickHouseAvailable();
const DATABASE = 'sillage_demo';
const END = '2025-06-30';
const FROM = '2025-06-01';
const DEMO = ['demo', '--events', '20000', '--seed', '7', '--days', '30', '--end', END, '--json'];

interface Demo {
  project_id: string;
  secret: string;
  summary: { events: number; identityLinks: number; fromDay: string };
}

/** Questions over what the demo holds; none names a pseudonym (each store's project has its own key). */
const QUERIES: Record<string, unknown>[] = [
  {
    kind: 'trends',
    from: FROM,
    to: END,
    interval: 'day',
    series: [{ event: 'Session Started' }, { event: 'Page Viewed' }, { event: 'Signed Up' }],
  },
  {
    kind: 'trends',
    from: FROM,
    to: END,
    interval: 'week',
    series: [{ event: 'Page Viewed', math: 'unique_users' }],
    breakdown: '$browser',
  },
  {
    kind: 'trends',
    from: FROM,
    to: END,
    interval: 'day',
    series: [{ event: 'Purchase Completed', math: 'sum', property: 'amount' }],
    breakdown: 'plan',
  },
  {
    kind: 'funnel',
    from: FROM,
    to: END,
    steps: [{ event: 'Signed Up' }, { event: 'Project Created' }, { event: 'Purchase Completed' }],
    window_seconds: 604_800,
  },
  {
    kind: 'retention',
    from: FROM,
    to: END,
    start_event: 'Session Started',
    return_event: 'Session Started',
    period: 'week',
    periods: 4,
  },
  {
    kind: 'flows',
    from: FROM,
    to: END,
    anchor: { event: 'Signed Up', direction: 'after' },
    steps: 2,
  },
  { kind: 'lifecycle', from: FROM, to: END, interval: 'week', event: 'Session Started' },
  { kind: 'event_names' },
  { kind: 'property_values', event: 'Button Clicked', property: 'button' },
];

describe.skipIf(!available)('sillage demo on DuckDB and on ClickHouse', () => {
  let clickhouse: ClickHouseTestServer;
  let pg: Awaited<ReturnType<typeof freshPostgresDatabase>> | null = null;
  let tDuck: TestEnv;
  let tCh: TestEnv;
  let duck: ServerProcess | undefined;
  let ch: ServerProcess | undefined;
  let demoDuck: Demo;
  let demoCh: Demo;

  const query = async (
    node: ServerProcess,
    demo: Demo,
    body: unknown,
  ): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(`${node.url}/api/v1/projects/${demo.project_id}/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${demo.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  };

  beforeAll(async () => {
    clickhouse = await startClickHouse();
    if (postgresAvailable()) pg = await freshPostgresDatabase();
    const port = new URL(clickhouse.url).port;
    tDuck = makeTestEnv();
    tCh = makeTestEnv({
      SILLAGE_EVENTS_URL: `clickhouse://127.0.0.1:${port}/${DATABASE}`,
      ...(pg ? { SILLAGE_META_URL: pg.url } : {}),
    });
    // One after the other: two cores.
    demoDuck = JSON.parse(await runCli(tDuck, DEMO)) as Demo;
    demoCh = JSON.parse(await runCli(tCh, DEMO)) as Demo;
    duck = await startServerProcess(tDuck);
    ch = await startServerProcess(tCh);
  }, 600_000);

  afterAll(async () => {
    await duck?.stop();
    await ch?.stop();
    await clickhouse?.stop();
    await pg?.drop();
    for (const t of [tDuck, tCh]) if (t) fs.rmSync(t.base, { recursive: true, force: true });
  });

  it('writes the same demo to ClickHouse, through its ingest log, and leaves no scratch behind', async () => {
    expect(demoCh.summary).toEqual(demoDuck.summary);
    expect(demoDuck.summary.events).toBeGreaterThan(15_000);
    expect(demoDuck.summary.identityLinks).toBeGreaterThan(0);
    const client = new ClickHouseClient({ url: clickhouse.url, database: DATABASE });
    const stored = await client.query(
      `SELECT count(), uniqExact(dedup_hi, dedup_lo) FROM events FINAL WHERE project_id = '${demoCh.project_id}'`,
    );
    expect(stored.rows[0]!.map(Number)).toEqual([demoCh.summary.events, demoCh.summary.events]);
    const links = await client.query(
      `SELECT count() FROM identity_links FINAL WHERE project_id = '${demoCh.project_id}'`,
    );
    expect(Number(links.rows[0]![0])).toBe(demoCh.summary.identityLinks);
    for (const t of [tDuck, tCh])
      expect(fs.readdirSync(t.dataDir).filter((f) => f.startsWith('demo-scratch'))).toEqual([]);
  });

  it('answers every question identically on both stores', async () => {
    let compared = 0;
    for (const body of QUERIES) {
      const [a, b] = [await query(duck!, demoDuck, body), await query(ch!, demoCh, body)];
      expect(a.status, JSON.stringify(a.json)).toBe(200);
      expect(b.status, JSON.stringify(b.json)).toBe(200);
      expect(sameDigits(b.json), JSON.stringify(body)).toEqual(sameDigits(a.json));
      compared++;
    }
    expect(compared).toBe(QUERIES.length);
    // Not a vacuous comparison: the journey is there, with drop-off at each step.
    const funnel = (await query(ch!, demoCh, QUERIES[3])).json as { steps: { count: number }[] };
    const [signed, created, bought] = funnel.steps.map((s) => s.count);
    expect(signed!).toBeGreaterThan(created!);
    expect(created!).toBeGreaterThan(bought!);
    expect(bought!).toBeGreaterThan(0);
  }, 300_000);
});
