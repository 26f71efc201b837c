// Interchangeable nodes: two `sillage serve` processes, each with its own data directory, sharing
// one PostgreSQL database (metadata, accounts, sessions, throttling) and one ClickHouse server
// (events), with no load balancer: the test talks to each on loopback. What one node does must
// hold on the other: a revoked session or key at once (read from PostgreSQL on every request), a
// policy change within PROJECT_CACHE_MAX_AGE_MS at worst (LISTEN/NOTIFY: in practice well under a
// second), and sign-in failures made on either node count against the same source.
import fs from 'node:fs';
import path from 'node:path';
import Mixpanel from 'mixpanel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountClient } from './helpers/account-client.js';
import { SoftwareAuthenticator } from './helpers/authenticator.js';
import {
  clickHouseAvailable,
  startClickHouse,
  type ClickHouseTestServer,
} from './helpers/clickhouse.js';
import { freshPostgresDatabase, pgRows, postgresAvailable } from './helpers/postgres.js';
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
import { PROJECT_CACHE_MAX_AGE_MS } from '../src/cli/runtime.js';

const ready = postgresAvailable() && clickHouseAvailable();
const ORIGIN = 'http://localhost:8443';
const OWNER = 'owner@example.com';
const OWNER_PASSWORD = 'plum orchard wagon 1987 tidal';
const DATABASE = 'sillage_nodes';
const TODAY = new Date().toISOString().slice(0, 10);

type Client = ReturnType<typeof Mixpanel.init>;

function track(mp: Client, event: string, properties: Record<string, unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    mp.track(event, properties, (error) => (error ? reject(error) : resolve()));
  });
}

describe.skipIf(!ready)('two nodes sharing PostgreSQL and ClickHouse', () => {
  let clickhouse: ClickHouseTestServer;
  let ch: ClickHouseClient;
  let pg: Awaited<ReturnType<typeof freshPostgresDatabase>>;
  let tA: TestEnv;
  let tB: TestEnv;
  let a: ServerProcess;
  let b: ServerProcess;
  let project: CreatedProject;
  let setupLink = '';
  const owner = { onA: null as AccountClient | null };

  beforeAll(async () => {
    [clickhouse, pg] = await Promise.all([startClickHouse(), freshPostgresDatabase()]);
    ch = new ClickHouseClient({ url: clickhouse.url, database: DATABASE });
    const shared = {
      SILLAGE_META_URL: pg.url,
      SILLAGE_EVENTS_URL: `clickhouse://127.0.0.1:${new URL(clickhouse.url).port}/${DATABASE}`,
      SILLAGE_PUBLIC_URL: ORIGIN,
      SILLAGE_INGEST_LOAD_DELAY_MS: '50',
    };
    tA = makeTestEnv(shared);
    tB = makeTestEnv(shared);
    // One master key for every node (each its own data directory and ingest log).
    fs.copyFileSync(tA.keyFile, tB.keyFile);
    project = await createProject(tA);
    setupLink = (
      JSON.parse(
        await runCli(tA, ['admin', 'create', '--email', OWNER, '--org', 'Acme', '--json']),
      ) as { setup_link: string }
    ).setup_link;
    [a, b] = await Promise.all([startServerProcess(tA), startServerProcess(tB)]);
  }, 120_000);

  afterAll(async () => {
    await a?.stop('SIGTERM');
    await b?.stop('SIGTERM');
    await clickhouse?.stop();
    await pg?.drop();
    for (const t of [tA, tB]) if (t) fs.rmSync(t.base, { recursive: true, force: true });
  });

  const trendsTotal = async (node: ServerProcess, secret: string): Promise<number> => {
    const res = await fetch(`${node.url}/api/v1/projects/${project.project_id}/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        kind: 'trends',
        from: TODAY,
        to: TODAY,
        interval: 'day',
        series: [{ event: 'Spread' }],
      }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { series: { total: number }[] }).series[0]!.total;
  };

  it('have distinct node names and answer the same for traffic spread over both', async () => {
    const names = [tA, tB].map((t) => fs.readFileSync(path.join(t.dataDir, 'node-id'), 'utf8'));
    expect(names[0]).not.toBe(names[1]);
    for (const [i, node] of [a, b, a, b].entries()) {
      const mp = Mixpanel.init(project.token, { host: `127.0.0.1:${node.port}`, protocol: 'http' });
      await track(mp, 'Spread', { distinct_id: `spread-${i}`, $insert_id: `spread-${i}` });
    }
    const deadline = Date.now() + 30_000;
    while ((await trendsTotal(a, project.secret)) < 4 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    expect(await trendsTotal(a, project.secret)).toBe(4);
    expect(await trendsTotal(b, project.secret)).toBe(4);
  });

  it('ends on node B a session signed out on node A, and refuses there a key revoked on A', async () => {
    const authenticator = new SoftwareAuthenticator();
    const onA = new AccountClient(a.url, ORIGIN);
    owner.onA = onA;
    expect((await onA.setUpWithPasskey(setupLink, OWNER_PASSWORD, authenticator)).status).toBe(200);
    // The same session cookie, presented to the other node.
    const onB = new AccountClient(b.url, ORIGIN);
    for (const [k, v] of onA.cookies) onB.cookies.set(k, v);
    onB.csrf = onA.csrf;
    expect((await onB.call('GET', '/api/v1/me')).status).toBe(200);

    const created = await onA.call('POST', `/api/v1/projects/${project.project_id}/keys`, {
      name: 'ci',
      scopes: ['query'],
    });
    expect(created.status).toBe(201);
    const secret = created.body.secret as string;
    expect(await trendsTotal(b, secret)).toBe(4);
    expect(
      (
        await onA.call(
          'DELETE',
          `/api/v1/projects/${project.project_id}/keys/${created.body.key.id}`,
        )
      ).status,
    ).toBe(204);
    // No wait: node B reads keys from PostgreSQL on every request.
    const refused = await fetch(`${b.url}/api/v1/projects/${project.project_id}/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'event_names' }),
    });
    expect(refused.status).toBe(401);

    expect((await onA.call('POST', '/api/v1/auth/logout')).status).toBe(204);
    expect((await onB.call('GET', '/api/v1/me')).status).toBe(401);
  });

  it('applies on node B a policy changed on node A (announced, not waited out)', async () => {
    const mpB = Mixpanel.init(project.token, { host: `127.0.0.1:${b.port}`, protocol: 'http' });
    // Node B has the project's context cached, freshly (a reload by age would come 30 s later).
    await track(mpB, 'probe-0', { distinct_id: 'probe', secret_note: 'kept' });
    const current = JSON.parse(
      await runCli(tA, ['privacy', 'policy', 'get', '--project', project.project_id]),
    ) as { properties: Record<string, string> };
    const file = path.join(tA.base, 'policy.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ ...current, properties: { ...current.properties, secret_note: 'drop' } }),
    );
    // Through node A's admin socket: node A's directory is invalidated locally, B's by NOTIFY.
    await runCli(tA, ['privacy', 'policy', 'set', '--project', project.project_id, '--file', file]);
    const changedAt = Date.now();
    let n = 0;
    let firstDropped = -1;
    // Bounded: at most 100 probes, 100 ms apart.
    while (firstDropped < 0 && n < 100) {
      n++;
      await track(mpB, `probe-${n}`, { distinct_id: 'probe', secret_note: 'kept' });
      const deadline = Date.now() + 10_000;
      for (;;) {
        const r = await ch.query(
          `SELECT has(prop_keys, 'secret_note') FROM events FINAL WHERE event = 'probe-${n}'`,
        );
        if (r.rows.length > 0) {
          if (Number(r.rows[0]![0]) === 0) firstDropped = n;
          break;
        }
        if (Date.now() > deadline) throw new Error(`probe-${n} never reached ClickHouse`);
        await new Promise((r) => setTimeout(r, 50));
      }
      if (firstDropped < 0) await new Promise((r) => setTimeout(r, 100));
    }
    const elapsed = Date.now() - changedAt;
    console.info(`policy change seen by the other node after ${n} probe(s), ≤ ${elapsed} ms`);
    expect(firstDropped).toBeGreaterThan(0);
    // Far below the 30 s reload bound: the announcement did it, not the age limit.
    expect(elapsed).toBeLessThan(PROJECT_CACHE_MAX_AGE_MS / 3);
    const before = await ch.query(
      `SELECT has(prop_keys, 'secret_note') FROM events FINAL WHERE event = 'probe-0'`,
    );
    expect(Number(before.rows[0]![0])).toBe(1);
  });

  it('counts sign-in failures made on either node against the same source', async () => {
    const tries = async (node: ServerProcess, i: number): Promise<number> =>
      (
        await new AccountClient(node.url, ORIGIN).login(
          `nobody-${i}@example.com`,
          'not the password at all',
        )
      ).status;
    // Ten distinct accounts from one address reach the per-source limit: five on each node.
    for (let i = 0; i < 10; i++) expect(await tries(i % 2 === 0 ? a : b, i)).toBe(401);
    // Each node saw five: only a shared count throttles the next attempt, on either node.
    expect(await tries(a, 10)).toBe(429);
    expect(await tries(b, 11)).toBe(429);
    // PostgreSQL holds keyed hashes of the address, never the address or the e-mail.
    const stored = JSON.stringify(
      await pgRows(pg.url, 'SELECT source_key, account FROM sign_in_source_failures'),
    );
    expect(stored).toContain('unknown:');
    expect(stored).not.toContain('127.0.0.1');
    expect(stored).not.toContain('nobody-');
  });
});
