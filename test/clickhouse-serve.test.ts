// `sillage serve` with SILLAGE_EVENTS_URL=clickhouse://…: events from the real `mixpanel` Node SDK
// over HTTP land in a real ClickHouse server (Debian's 18.16, started for this suite on loopback),
// trends, funnels, retention, flows, discovery and the one-user profile and stream are answered
// from ClickHouse through the query API, erasure and retention delete there, and an acknowledged
// batch survives ClickHouse being down and the node being SIGKILLed (the ingest log in front of
// ClickHouse is what acknowledges).
import Mixpanel from 'mixpanel';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clickHouseAvailable,
  startClickHouse,
  type ClickHouseTestServer,
} from './helpers/clickhouse.js';
import {
  createProject,
  makeTestEnv,
  runCli,
  startServerProcess,
  type CreatedProject,
  type ServerProcess,
  type TestEnv,
} from './helpers/server.js';
import { ClickHouseClient } from '../src/store/clickhouse/index.js';

const available = clickHouseAvailable();
const DAY_MS = 86_400_000;
const NOW = Date.now();
const TODAY = new Date(NOW).toISOString().slice(0, 10);
const DATABASE = 'sillage_serve';

type Client = ReturnType<typeof Mixpanel.init>;
/** The JSON answers this test reads (trends series; anything else is compared as text). */
interface Answer {
  series: { breakdown_value: string | null; total: number }[];
}

function trackBatch(mp: Client, events: { event: string; properties: object }[]): Promise<void> {
  return new Promise((resolve, reject) => {
    mp.track_batch(events, (errors) =>
      errors && errors.length > 0 ? reject(new Error(String(errors[0]))) : resolve(),
    );
  });
}

function peopleSet(mp: Client, id: string, props: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    mp.people.set(id, props, (error) => (error ? reject(error) : resolve()));
  });
}

describe.skipIf(!available)('sillage serve with events on ClickHouse', () => {
  let clickhouse: ClickHouseTestServer;
  let ch: ClickHouseClient;
  let t: TestEnv;
  let server: ServerProcess | undefined;
  let project: CreatedProject;

  const api = async (p: string, body?: unknown): Promise<{ status: number; json: Answer }> => {
    const res = await fetch(`${server!.url}/api/v1/projects/${project.project_id}${p}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        authorization: `Bearer ${project.secret}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: await res.json() };
  };
  const pageViews = async (): Promise<number> => {
    const r = await api('/query', {
      kind: 'trends',
      from: TODAY,
      to: TODAY,
      interval: 'day',
      series: [{ event: 'Page View' }],
    });
    expect(r.status).toBe(200);
    return r.json.series[0]!.total;
  };
  /** Events of the project as ClickHouse itself holds them (FINAL: duplicates collapsed). */
  const storedInClickHouse = async (where = '1'): Promise<number> => {
    const r = await ch.query(
      `SELECT count() FROM events FINAL WHERE project_id = '${project.project_id}' AND ${where}`,
    );
    return Number(r.rows[0]![0]);
  };
  const waitFor = async (what: () => Promise<boolean>, label: string): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while (!(await what())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  beforeAll(async () => {
    clickhouse = await startClickHouse();
    ch = new ClickHouseClient({ url: clickhouse.url, database: DATABASE });
    const port = new URL(clickhouse.url).port;
    t = makeTestEnv({
      SILLAGE_EVENTS_URL: `clickhouse://127.0.0.1:${port}/${DATABASE}`,
      SILLAGE_INGEST_LOAD_DELAY_MS: '50',
    });
    project = await createProject(t);
    server = await startServerProcess(t);
  }, 120_000);

  afterAll(async () => {
    await server?.stop('SIGKILL');
    await clickhouse?.stop();
    if (t) fs.rmSync(t.base, { recursive: true, force: true });
  });

  it('stores SDK events in ClickHouse and answers trends and discovery from there', async () => {
    const mp = Mixpanel.init(project.token, {
      host: `127.0.0.1:${server!.port}`,
      protocol: 'http',
    });
    const users = ['ch-alice@example.com', 'ch-bob@example.com', 'ch-carol@example.com'];
    await trackBatch(
      mp,
      users.flatMap((user, u) =>
        Array.from({ length: u + 1 }, (_, i) => ({
          event: 'Page View',
          properties: {
            distinct_id: user,
            $insert_id: `pv-${u}-${i}`,
            plan: u === 0 ? 'gold' : 'free',
            time: NOW - 60_000,
          },
        })),
      ),
    );
    await trackBatch(mp, [
      {
        event: 'Signed Up',
        properties: { distinct_id: users[0], $insert_id: 'su-0', time: NOW - 30_000 },
      },
    ]);
    await peopleSet(mp, users[0]!, { tier: 'enterprise' });
    // Resent (the SDK retried): the same insert ids count once.
    await trackBatch(mp, [
      {
        event: 'Page View',
        properties: {
          distinct_id: users[2],
          $insert_id: 'pv-2-0',
          plan: 'free',
          time: NOW - 60_000,
        },
      },
    ]);

    await waitFor(async () => (await storedInClickHouse()) === 7, 'seven events in ClickHouse');
    expect(await pageViews()).toBe(6);

    const broken = await api('/query', {
      kind: 'trends',
      from: TODAY,
      to: TODAY,
      interval: 'day',
      series: [{ event: 'Page View', math: 'unique_users' }],
      breakdown: 'plan',
    });
    expect(broken.status).toBe(200);
    const byPlan = Object.fromEntries(broken.json.series.map((s) => [s.breakdown_value, s.total]));
    expect(byPlan).toEqual({ gold: 1, free: 2 });

    const names = await api('/query', { kind: 'event_names' });
    expect(names.status).toBe(200);
    expect(JSON.stringify(names.json)).toContain('Signed Up');
    expect(JSON.stringify(names.json)).toContain('Page View');
    const values = await api('/query', {
      kind: 'property_values',
      event: 'Page View',
      property: 'plan',
    });
    expect(values.status).toBe(200);
    expect(JSON.stringify(values.json)).toContain('gold');

    // The embedded file holds no event: it is ClickHouse that answered.
    expect(fs.existsSync(path.join(t.dataDir, 'node-id'))).toBe(true);
    // Raw identifiers never reach ClickHouse (pseudonyms only).
    const raw = await ch.query(
      `SELECT count() FROM events WHERE distinct_id LIKE '%example.com%' OR properties LIKE '%example.com%'`,
    );
    expect(Number(raw.rows[0]![0])).toBe(0);
  });

  it('answers funnels, retention, flows and one user from ClickHouse', async () => {
    // The events of the test above: Alice, Bob and Carol viewed a page (1, 2 and 3 times, one
    // minute ago); Alice signed up 30 s later.
    const funnel = await api('/query', {
      kind: 'funnel',
      from: TODAY,
      to: TODAY,
      steps: [{ event: 'Page View' }, { event: 'Signed Up' }],
      window_seconds: 3600,
      breakdown: 'plan',
      exclusions: [{ event: 'Never Done', after_step: 0, before_step: 1 }],
    });
    expect(funnel.status).toBe(200);
    const f = funnel.json as unknown as {
      steps: { count: number; median_seconds_to_convert: number | null }[];
      breakdowns: { breakdown_value: string | null; steps: { count: number }[] }[];
    };
    expect(f.steps.map((s) => s.count)).toEqual([3, 1]);
    expect(f.steps[1]!.median_seconds_to_convert).toBe(30);
    expect(
      Object.fromEntries(f.breakdowns.map((b) => [b.breakdown_value, b.steps.map((s) => s.count)])),
    ).toEqual({ free: [2, 0], gold: [1, 1] });

    const retention = await api('/query', {
      kind: 'retention',
      from: TODAY,
      to: TODAY,
      start_event: 'Page View',
      return_event: 'Page View',
      period: 'day',
      periods: 1,
    });
    expect(retention.status).toBe(200);
    const r = retention.json as unknown as { cohorts: { size: number; counts: number[] }[] };
    expect(r.cohorts.map((c) => c.counts)).toEqual([[3, 0]]);

    // Retention broken down, and the per-user and active-user maths with a list breakdown.
    const byPlan = await api('/query', {
      kind: 'retention',
      from: TODAY,
      to: TODAY,
      start_event: 'Page View',
      return_event: 'Page View',
      period: 'day',
      periods: 1,
      breakdown: 'plan',
    });
    expect(byPlan.status).toBe(200);
    const rb = byPlan.json as unknown as {
      breakdowns: { breakdown_value: string | null; cohorts: { counts: number[] }[] }[];
    };
    expect(
      Object.fromEntries(rb.breakdowns.map((b) => [b.breakdown_value, b.cohorts[0]!.counts])),
    ).toEqual({ free: [2, 0], gold: [1, 0] });
    const perUser = await api('/query', {
      kind: 'trends',
      from: TODAY,
      to: TODAY,
      interval: 'day',
      series: [{ event: 'Page View', math: 'per_user_max' }],
      breakdown: ['plan'],
    });
    expect(perUser.status).toBe(200);
    const pu = perUser.json as unknown as {
      series: { breakdown_value: string[] | null; total: number }[];
    };
    expect(pu.series.map((x) => [x.breakdown_value, x.total])).toEqual([
      [['free'], 3],
      [['gold'], 1],
    ]);
    const active = await api('/query', {
      kind: 'trends',
      from: TODAY,
      to: TODAY,
      interval: 'day',
      series: [{ event: 'Page View', math: 'weekly_active' }],
    });
    expect(active.status).toBe(200);
    expect(active.json.series[0]!.total).toBe(3);

    // One user, from ClickHouse: pseudonymous ids as ClickHouse holds them.
    const ids = await ch.query(
      `SELECT distinct_id, groupArray(event) FROM events FINAL WHERE project_id = '${project.project_id}' GROUP BY distinct_id`,
    );
    const byEvents = new Map(ids.rows.map((r) => [(r[1] as string[]).sort().join(','), r[0]]));
    const alice = String(byEvents.get('Page View,Signed Up'));
    const bob = String(byEvents.get('Page View,Page View'));
    const profile = (await api(`/users/${alice}`)).json as unknown as Record<string, unknown>;
    expect(profile).toMatchObject({
      id: alice,
      person: alice,
      aliases: [],
      event_count: 2,
      first_seen: new Date(NOW - 60_000).toISOString(),
      last_seen: new Date(NOW - 30_000).toISOString(),
    });
    expect(profile.properties).toMatchObject({ tier: 'enterprise' });
    const unknown = await api('/users/u_AAAAAAAAAAAAAAAAAAAAAA');
    expect(unknown.status).toBe(404);
    expect(JSON.stringify(unknown.json)).toContain('NOT_FOUND');
    expect(JSON.stringify((await api('/users/ch-bob@example.com')).json)).toContain('NOT_FOUND');
    // Bob's two page views share their millisecond: one per page, neither skipped nor repeated.
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 5; page++) {
      const res = await api(`/users/${bob}/events?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      const body = res.json as unknown as {
        person: string;
        events: { event: string; time: string; properties: { $insert_id: string } }[];
        next_cursor: string | null;
      };
      expect(body.person).toBe(bob);
      seen.push(...body.events.map((e) => `${e.event}@${e.time}`));
      seen.push(...body.events.map((e) => e.properties.$insert_id));
      cursor = body.next_cursor;
      if (!cursor) break;
    }
    const at = new Date(NOW - 60_000).toISOString();
    expect(seen.filter((x) => x.includes('@'))).toEqual([`Page View@${at}`, `Page View@${at}`]);
    expect(new Set(seen.filter((x) => !x.includes('@'))).size).toBe(2);
    expect((await api(`/users/${bob}/events?cursor=abc`)).status).toBe(400);

    const flows = await api('/query', {
      kind: 'flows',
      from: TODAY,
      to: TODAY,
      anchor: { event: 'Page View' },
      steps: 1,
    });
    expect(flows.status).toBe(200);
    const fl = flows.json as unknown as { steps: { nodes: { event: string; count: number }[] }[] };
    expect(fl.steps.map((s) => s.nodes)).toEqual([
      [{ event: 'Page View', count: 3 }],
      [
        { event: 'Page View', count: 2 },
        { event: 'Signed Up', count: 1 },
      ],
    ]);
  });

  it('erases a subject and applies retention in ClickHouse', async () => {
    // Three days old: through /import with the secret (/track takes the last five days, too).
    const old = await fetch(`${server!.url}/import`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`${project.secret}:`).toString('base64')}`,
      },
      body: JSON.stringify(
        Array.from({ length: 4 }, (_, i) => ({
          event: 'Old View',
          properties: { distinct_id: 'ch-dave', $insert_id: `old-${i}`, time: NOW - 3 * DAY_MS },
        })),
      ),
    });
    expect(old.status).toBe(200);
    await waitFor(async () => (await storedInClickHouse("event = 'Old View'")) === 4, 'old events');

    const erased = JSON.parse(
      (
        await runCli(t, [
          'privacy',
          'erase',
          '--project',
          project.project_id,
          '--user',
          'ch-alice@example.com',
        ])
      ).trim(),
    ) as { events_deleted: number };
    // Alice's one page view and her sign-up.
    expect(erased.events_deleted).toBe(2);
    expect(await storedInClickHouse()).toBe(9);
    expect(await pageViews()).toBe(5);

    const policyFile = path.join(t.base, 'policy.json');
    const current = JSON.parse(
      await runCli(t, ['privacy', 'policy', 'get', '--project', project.project_id]),
    ) as Record<string, unknown>;
    fs.writeFileSync(policyFile, JSON.stringify({ ...current, retentionDays: 1 }));
    await runCli(t, [
      'privacy',
      'policy',
      'set',
      '--project',
      project.project_id,
      '--file',
      policyFile,
    ]);
    // The retention job runs 10 s after start (then hourly): restart the node to run it now.
    await server!.stop('SIGTERM');
    server = await startServerProcess(t);
    await waitFor(async () => (await storedInClickHouse("event = 'Old View'")) === 0, 'retention');
    expect(await storedInClickHouse()).toBe(5);
    expect(await pageViews()).toBe(5);
  });

  it('keeps an acknowledged batch while ClickHouse is down and the node is SIGKILLed', async () => {
    await clickhouse.kill();
    const mp = Mixpanel.init(project.token, {
      host: `127.0.0.1:${server!.port}`,
      protocol: 'http',
    });
    // Acknowledged with ClickHouse down: the batch is in this node's ingest log (fdatasynced).
    await trackBatch(
      mp,
      Array.from({ length: 10 }, (_, i) => ({
        event: 'Page View',
        properties: { distinct_id: `ch-erin-${i}`, $insert_id: `down-${i}`, time: NOW - 10_000 },
      })),
    );
    await server!.stop('SIGKILL');
    await clickhouse.restart();
    server = await startServerProcess(t);
    await waitFor(
      async () => (await storedInClickHouse()) === 15,
      'the logged batch in ClickHouse',
    );
    expect(await pageViews()).toBe(15);
  });
});
