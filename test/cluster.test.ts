// A real cluster: two ClickHouse 18.16 servers on loopback, each one shard of the cluster
// `sillage` behind Distributed tables (SILLAGE_CLICKHOUSE_CLUSTER), one PostgreSQL for metadata,
// and two `sillage serve` nodes, each listing both shards (in another order, so each node's reads
// and inserts start on another shard). The real `mixpanel` SDK sends traffic spread over both
// nodes; node A is SIGKILLed mid-stream with events it acknowledged still in its ingest log; every
// batch that failed on A is sent again to B, and some that A had acknowledged are sent to B too
// (an SDK that never saw the answer). A's log is drained from another machine (`sillage drain` on
// its data directory, with B's configuration); then every event counts exactly once — copies
// written through different nodes and different initiator shards land on one shard (the sharding
// key is the dedup key) — and the query API answers exactly as a single embedded node fed the
// same events once.
import fs from 'node:fs';
import Mixpanel from 'mixpanel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clickHouseAvailable,
  startClickHouseCluster,
  type ClickHouseTestServer,
} from './helpers/clickhouse.js';
import { freshPostgresDatabase, postgresAvailable } from './helpers/postgres.js';
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
// Floats to 12 significant digits: a float aggregate adds in another order on two shards.
import { sameDigits } from '../src/query/differential-generators.js';

const ready = postgresAvailable() && clickHouseAvailable();
const CLUSTER = 'sillage';
const DATABASE = 'sillage_cluster';
const NOW = Date.now();
const DAY_MS = 86_400_000;
const FROM = new Date(NOW - DAY_MS).toISOString().slice(0, 10);
const TO = new Date(NOW).toISOString().slice(0, 10);
const BATCHES = 24;
const PER_BATCH = 25;
const TOTAL = BATCHES * PER_BATCH;
const USERS = 30;
const EVENTS = ['Page View', 'Signed Up', 'Purchase'] as const;
const PLANS = ['free', 'pro', 'gold'] as const;

type Client = ReturnType<typeof Mixpanel.init>;
interface SdkEvent {
  event: string;
  properties: Record<string, unknown>;
}

const user = (k: number) => `cluster-user-${k}@example.com`;

/** The whole stream, deterministic: batch b holds events b×25 … b×25+24. */
const BATCH_LIST: SdkEvent[][] = Array.from({ length: BATCHES }, (_, b) =>
  Array.from({ length: PER_BATCH }, (_, j) => {
    const i = b * PER_BATCH + j;
    return {
      event: EVENTS[(i * 7) % 3]!,
      properties: {
        distinct_id: user((i * 11) % USERS),
        $insert_id: `cluster-${i}`,
        // Spread over the last ~20 hours (whole seconds, as the SDKs send).
        time: NOW - 60_000 - (i % 150) * 479_000,
        plan: PLANS[i % 3],
        amount: (i % 17) * 3 + 0.5,
        $browser: i % 4 === 0 ? 'Firefox' : 'Chrome',
      },
    };
  }),
);

const client = (node: { port: number }, token: string): Client =>
  Mixpanel.init(token, { host: `127.0.0.1:${node.port}`, protocol: 'http' });

/** Sends a copy of `events` (the SDK writes its token into the objects it is given). */
function trackBatch(mp: Client, events: SdkEvent[]): Promise<void> {
  return new Promise((resolve, reject) => {
    mp.track_batch(structuredClone(events), (errors) =>
      errors && errors.length > 0 ? reject(new Error(String(errors[0]))) : resolve(),
    );
  });
}

function peopleSet(mp: Client, id: string, props: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    mp.people.set(id, props, (error) => (error ? reject(error) : resolve()));
  });
}

/** The query bodies compared between the cluster and the single node. */
const QUERIES: Record<string, unknown>[] = [
  {
    kind: 'trends',
    from: FROM,
    to: TO,
    interval: 'day',
    series: EVENTS.map((event) => ({ event })),
  },
  {
    kind: 'trends',
    from: FROM,
    to: TO,
    interval: 'hour',
    series: [{ event: 'Page View', math: 'unique_users' }],
    breakdown: 'plan',
  },
  {
    kind: 'trends',
    from: FROM,
    to: TO,
    interval: 'day',
    series: [{ event: 'Purchase', math: 'sum', property: 'amount' }],
    breakdown: '$browser',
  },
  {
    kind: 'trends',
    from: FROM,
    to: TO,
    interval: 'day',
    series: [{ event: 'Purchase', filters: [{ property: 'plan', op: 'eq', value: 'gold' }] }],
  },
  {
    kind: 'trends',
    from: FROM,
    to: TO,
    interval: 'day',
    series: [{ event: 'Page View', math: 'unique_users' }],
    breakdown: 'person.tier',
  },
  { kind: 'event_names' },
  { kind: 'property_values', event: 'Page View', property: 'plan' },
  {
    kind: 'funnel',
    from: FROM,
    to: TO,
    steps: [{ event: 'Page View' }, { event: 'Purchase' }],
    window_seconds: 86_400,
  },
  {
    kind: 'trends',
    from: FROM,
    to: TO,
    interval: 'day',
    series: [{ event: 'Page View', math: 'p90', property: 'amount' }],
  },
  {
    kind: 'retention',
    from: FROM,
    to: TO,
    start_event: 'Signed Up',
    return_event: 'Page View',
    periods: 2,
  },
  {
    kind: 'flows',
    from: FROM,
    to: TO,
    anchor: { event: 'Signed Up', direction: 'after' },
    steps: 2,
  },
];

describe.skipIf(!ready)('two nodes on a two-shard ClickHouse cluster', () => {
  let shards: ClickHouseTestServer[] = [];
  let pg: Awaited<ReturnType<typeof freshPostgresDatabase>>;
  let tA: TestEnv;
  let tB: TestEnv;
  let tR: TestEnv;
  let a: ServerProcess | undefined;
  let b: ServerProcess | undefined;
  let r: ServerProcess | undefined;
  let project: CreatedProject;
  let reference: CreatedProject;

  const eventsUrl = (order: ClickHouseTestServer[]) =>
    order.map((s) => `clickhouse://127.0.0.1:${new URL(s.url).port}/${DATABASE}`).join(',');

  beforeAll(async () => {
    [shards, pg] = await Promise.all([startClickHouseCluster(2, CLUSTER), freshPostgresDatabase()]);
    const shared = {
      SILLAGE_META_URL: pg.url,
      SILLAGE_CLICKHOUSE_CLUSTER: CLUSTER,
      SILLAGE_PUBLIC_URL: 'http://localhost:8443',
    };
    // Node A keeps what it acknowledges in its ingest log for a minute: when it is killed, those
    // events are provably nowhere but in its log.
    tA = makeTestEnv({
      ...shared,
      SILLAGE_EVENTS_URL: eventsUrl(shards),
      SILLAGE_INGEST_LOAD_DELAY_MS: '60000',
    });
    tB = makeTestEnv({
      ...shared,
      SILLAGE_EVENTS_URL: eventsUrl([...shards].reverse()),
      SILLAGE_INGEST_LOAD_DELAY_MS: '50',
    });
    fs.copyFileSync(tA.keyFile, tB.keyFile);
    // The single embedded node (DuckDB) the cluster's answers must equal.
    tR = makeTestEnv({ SILLAGE_INGEST_LOAD_DELAY_MS: '50' });
    [project, reference] = await Promise.all([createProject(tA), createProject(tR)]);
    // One after the other: each is timed against its own start (the machine may be busy).
    a = await startServerProcess(tA);
    b = await startServerProcess(tB);
    r = await startServerProcess(tR);
  }, 180_000);

  afterAll(async () => {
    for (const node of [a, b, r])
      if (node && node.child.exitCode === null && node.child.signalCode === null)
        await node.stop('SIGKILL');
    await Promise.all(shards.map((s) => s.stop()));
    await pg?.drop();
    for (const t of [tA, tB, tR]) if (t) fs.rmSync(t.base, { recursive: true, force: true });
  });

  const query = async (
    node: ServerProcess,
    p: CreatedProject,
    body: unknown,
  ): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(`${node.url}/api/v1/projects/${p.project_id}/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${p.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  };
  const total = async (node: ServerProcess, p: CreatedProject): Promise<number> => {
    const res = await query(node, p, QUERIES[0]);
    expect(res.status).toBe(200);
    return (res.json as { series: { total: number }[] }).series.reduce((n, s) => n + s.total, 0);
  };
  const waitForTotal = async (node: ServerProcess, p: CreatedProject): Promise<void> => {
    const deadline = Date.now() + 60_000;
    while ((await total(node, p)) < TOTAL && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 250));
  };
  const shardCounts = async (where = '1'): Promise<number[]> =>
    Promise.all(
      shards.map(async (s) => {
        const res = await new ClickHouseClient({ url: s.url, database: DATABASE }).query(
          `SELECT count() FROM events_local WHERE project_id = '${project.project_id}' AND ${where}`,
        );
        return Number(res.rows[0]![0]);
      }),
    );

  it('counts every acknowledged event once after a node is killed mid-stream', async () => {
    const ackedByA: number[] = [];
    const failedOnA: number[] = [];
    let sent = 0;
    const kill: { exited: Promise<unknown> | null } = { exited: null };
    // Four SDK clients, each sending its share of the batches, alternating between the nodes.
    const sender = async (lane: number) => {
      for (let batch = lane; batch < BATCHES; batch += 4) {
        const toA = batch % 2 === 0;
        try {
          await trackBatch(client(toA ? a! : b!, project.token), BATCH_LIST[batch]!);
          if (toA) ackedByA.push(batch);
        } catch {
          // Only node A goes away; a batch it did not acknowledge goes to B.
          expect(toA).toBe(true);
          failedOnA.push(batch);
          await trackBatch(client(b!, project.token), BATCH_LIST[batch]!);
        }
        // Past half the stream, once A has acknowledged a few batches (on a busy machine one
        // node may lag), A dies while other lanes' requests are in flight.
        if (++sent >= BATCHES / 2 && ackedByA.length >= 3 && kill.exited === null)
          kill.exited = a!.stop('SIGKILL');
      }
    };
    await Promise.all([0, 1, 2, 3].map(sender));
    await kill.exited;
    expect(ackedByA.length).toBeGreaterThan(0);
    expect(failedOnA.length).toBeGreaterThan(0);

    // What A acknowledged is in its log only (its load delay has not passed): B's answer lacks it.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const beforeRestart = await total(b!, project);
    expect(beforeRestart).toBe(TOTAL - ackedByA.length * PER_BATCH);

    // An SDK that never saw A's answer sends two of A's acknowledged batches again, to B.
    for (const batch of ackedByA.slice(0, 2))
      await trackBatch(client(b!, project.token), BATCH_LIST[batch]!);

    // A does not come back: another machine mounts its data directory and drains its log with
    // the cluster's configuration (B's, which lists the shards in the other order).
    const drained = await runCli({ ...tB, env: { ...tB.env, SILLAGE_DATA_DIR: tA.dataDir } }, [
      'drain',
    ]);
    // Every batch A acknowledged, and any it logged as it died before answering (sent again to B).
    const loaded = /^drained node_[0-9a-f]{16}: (\d+) events in [1-9]\d* log segments loaded/.exec(
      drained,
    );
    expect(Number(loaded?.[1]), drained).toBeGreaterThanOrEqual(ackedByA.length * PER_BATCH);
    expect(await total(b!, project)).toBe(TOTAL);
    // Nothing is loaded twice: a second drain finds nothing, and when A does come back (same
    // data directory) it has nothing to replay.
    expect(
      await runCli({ ...tB, env: { ...tB.env, SILLAGE_DATA_DIR: tA.dataDir } }, ['drain']),
    ).toMatch(/: 0 events in 0 log segments loaded/);
    a = await startServerProcess(tA, { env: { SILLAGE_INGEST_LOAD_DELAY_MS: '50' } });
    expect(await total(a, project)).toBe(TOTAL);
    expect(await total(b!, project)).toBe(TOTAL);
    // A running node's directory is not drained from elsewhere.
    await expect(
      runCli({ ...tB, env: { ...tB.env, SILLAGE_DATA_DIR: tA.dataDir } }, ['drain']),
    ).rejects.toThrow(/a server is running on this data directory/);

    // Both shards hold a fair part, and no event has copies on both shards: per shard, distinct
    // dedup keys add up to the whole stream.
    const counts = await shardCounts();
    expect(Math.min(...counts)).toBeGreaterThan(TOTAL / 4);
    const distinct = await Promise.all(
      shards.map(async (s) => {
        const res = await new ClickHouseClient({ url: s.url, database: DATABASE }).query(
          `SELECT count() FROM (SELECT DISTINCT dedup_hi, dedup_lo FROM events_local WHERE project_id = '${project.project_id}')`,
        );
        return Number(res.rows[0]![0]);
      }),
    );
    expect(distinct[0]! + distinct[1]!).toBe(TOTAL);
    // Raw identifiers never reach a shard (pseudonyms only).
    expect(
      await shardCounts("distinct_id LIKE '%example.com%' OR properties LIKE '%example.com%'"),
    ).toEqual([0, 0]);
    console.info(
      `cluster: A acknowledged ${ackedByA.length} batches before SIGKILL, ${failedOnA.length} failed on A and went to B; rows per shard ${counts.join(' / ')} (copies included)`,
    );
  }, 180_000);

  it('answers exactly as a single node fed the same events once', async () => {
    // Profiles (read by breakdowns on people properties) through both nodes.
    for (let k = 0; k < 6; k++) {
      await peopleSet(client(k % 2 ? a! : b!, project.token), user(k), {
        tier: k % 2 ? 'team' : 'solo',
      });
      await peopleSet(client(r!, reference.token), user(k), { tier: k % 2 ? 'team' : 'solo' });
    }
    for (const events of BATCH_LIST) await trackBatch(client(r!, reference.token), events);
    await waitForTotal(r!, reference);
    expect(await total(r!, reference)).toBe(TOTAL);

    // Profile updates are loaded shortly after their acknowledgement: wait until both nodes see
    // them (the breakdown by a person property) before comparing strictly.
    const byTier = QUERIES.find((q) => q.breakdown === 'person.tier')!;
    const want = JSON.stringify((await query(r!, reference, byTier)).json);
    const deadline = Date.now() + 30_000;
    for (const node of [a!, b!])
      while (
        JSON.stringify((await query(node, project, byTier)).json) !== want &&
        Date.now() < deadline
      )
        await new Promise((resolve) => setTimeout(resolve, 250));

    let compared = 0;
    for (const body of QUERIES) {
      const single = await query(r!, reference, body);
      expect(single.status, JSON.stringify(body)).toBe(200);
      for (const node of [a!, b!]) {
        // Every kind is answered on ClickHouse: a 501 here is a failure, as any other status.
        const answer = await query(node, project, body);
        expect(
          answer.status,
          `${JSON.stringify(body)} ${JSON.stringify(answer.json)} ${node
            .output()
            .split('\n')
            .filter((l) => /"level":"error"/.test(l))
            .slice(-3)
            .join('\n')}`,
        ).toBe(200);
        expect(sameDigits(answer.json), JSON.stringify(body)).toEqual(sameDigits(single.json));
        compared++;
      }
    }
    // Every query, by both nodes.
    expect(compared).toBe(QUERIES.length * 2);
  }, 120_000);
});
