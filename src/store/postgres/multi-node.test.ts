// Several nodes on one PostgreSQL database: a change one node makes to a project's cached state
// is announced to the others (LISTEN/NOTIFY from migration 3's triggers), and the per-source
// sign-in throttle answers exactly as the in-memory one while counting every node's failures.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SourceThrottle } from '../../auth/index.js';
import { PostgresDatabase } from './database.js';
import { PostgresMetaStore } from './meta-store.js';
import { PostgresSourceThrottle } from './source-throttle.js';
import { dropTestDatabase } from '../../../test/helpers/postgres.js';

const SERVER_URL = process.env.SILLAGE_TEST_PG;
const REQUIRED = process.env.CI === 'true' || process.env.SILLAGE_REQUIRE_PG === '1';
if (!SERVER_URL && REQUIRED) {
  throw new Error('SILLAGE_TEST_PG is not set, but CI must run the PostgreSQL suites');
}
const suite = SERVER_URL ? describe : describe.skip;

const databaseName = `sillage_t_${randomBytes(6).toString('hex')}`;

async function admin<T>(task: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: SERVER_URL });
  await client.connect();
  try {
    return await task(client);
  } finally {
    await client.end();
  }
}

suite('several nodes on one PostgreSQL database', () => {
  let url = '';
  const open: PostgresDatabase[] = [];
  const node = async (): Promise<PostgresDatabase> => {
    const db = await PostgresDatabase.open(url, { maxConnections: 2 });
    open.push(db);
    return db;
  };

  beforeAll(async () => {
    await admin((c) => c.query(`CREATE DATABASE ${databaseName}`));
    const u = new URL(SERVER_URL!);
    u.pathname = `/${databaseName}`;
    url = u.toString();
  });
  afterAll(async () => {
    for (const db of open) await db.close();
    await dropTestDatabase(databaseName, SERVER_URL);
  });

  it("announces another node's policy and key changes to a watching node", async () => {
    const a = new PostgresMetaStore(await node());
    const b = new PostgresMetaStore(await node());
    const seen: (string | null)[] = [];
    const stop = b.watchProjects((projectId) => seen.push(projectId));
    const until = async (ok: () => boolean, label: string): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!ok()) {
        if (Date.now() > deadline) throw new Error(`no announcement: ${label}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    // The first call says "anything may have changed" once the LISTEN is in place.
    await until(() => seen.includes(null), 'reset at start');
    const project = {
      id: 'prj_watch',
      name: 'w',
      token: 'tok_watch',
      secretHash: 'h'.repeat(64),
      timezone: 'UTC',
      createdAtMs: 1,
    };
    await a.createProject(project, [], {
      id: 'key_watch',
      projectId: project.id,
      name: 'bootstrap secret',
      secretHash: project.secretHash,
      prefix: 'sk_',
      scopes: ['query'],
      allowedCidrs: [],
      createdBy: null,
      createdAtMs: 1,
      expiresAtMs: null,
      revokedAtMs: null,
      rotatedFrom: null,
      lastUsedAtMs: null,
      lastUsedPlace: null,
      useCount: 0,
    });
    await until(() => seen.includes('prj_watch'), 'project created');
    seen.length = 0;
    await a.setPolicy(
      'prj_watch',
      { geo: 'off' },
      { projectId: 'prj_watch', actor: 'test', atMs: 2, before: null, after: { geo: 'off' } },
    );
    await until(() => seen.includes('prj_watch'), 'policy changed');
    seen.length = 0;
    await a.addKey({
      projectId: 'prj_watch',
      purpose: 'pseudonym',
      version: 2,
      wrapped: new Uint8Array([1, 2, 3]),
      createdAtMs: 3,
    });
    await until(() => seen.includes('prj_watch'), 'key added');
    await stop();
    seen.length = 0;
    await a.setPolicy(
      'prj_watch',
      { geo: 'country' },
      { projectId: 'prj_watch', actor: 'test', atMs: 4, before: null, after: { geo: 'country' } },
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([]);
  });

  it('after the watching connection is killed, says "anything may have changed" and listens again', async () => {
    const a = new PostgresMetaStore(await node());
    const b = new PostgresMetaStore(await node());
    const seen: (string | null)[] = [];
    const stop = b.watchProjects((projectId) => seen.push(projectId));
    const until = async (ok: () => boolean): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!ok()) {
        if (Date.now() > deadline) throw new Error('timed out');
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until(() => seen.includes(null));
    seen.length = 0;
    await admin((c) =>
      c.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = $1 AND application_name = 'sillage-listen'`,
        [databaseName],
      ),
    );
    await until(() => seen.includes(null));
    // Listening again: a later change is announced.
    await new Promise((r) => setTimeout(r, 500));
    await a.setPolicy(
      'prj_watch',
      { geo: 'off' },
      { projectId: 'prj_watch', actor: 'test', atMs: 5, before: null, after: { geo: 'off' } },
    );
    await until(() => seen.includes('prj_watch'));
    await stop();
  });

  it('throttles sources as the in-memory throttle does, counting failures made on any node', async () => {
    const options = { maxFailures: 6, maxAccounts: 4, windowMs: 60_000, blockMs: 90_000 };
    const memory = new SourceThrottle(options);
    const nodes = [
      new PostgresSourceThrottle(await node(), options),
      new PostgresSourceThrottle(await node(), options),
    ];
    // A seeded walk: failures, successes and checks of three sources against six accounts, time
    // moving forward by up to 3 s a step, sometimes 45 s; each step on one node or the other.
    let seed = 15;
    const next = (n: number): number => {
      // mulberry32
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    let now = 1_000_000;
    let blocked = 0;
    for (let step = 0; step < 160; step++) {
      // Mostly short steps (limits are reached), sometimes a long one (windows expire).
      now += next(12) === 0 ? 45_000 : next(3_000);
      const key = `src${next(3)}`;
      const account = `acct${next(6)}`;
      const pgNode = nodes[step % 2]!;
      const op = next(10);
      if (op < 6) {
        memory.fail(key, account, now);
        await pgNode.fail(key, account, now);
      } else if (op < 7) {
        memory.succeed(key, account);
        await pgNode.succeed(key, account);
      }
      const expected = memory.check(key, now);
      if (expected > 0) blocked++;
      expect({ step, wait: await nodes[(step + 1) % 2]!.check(key, now) }).toEqual({
        step,
        wait: expected,
      });
    }
    // The walk did reach the limits (the comparison is not only of zeros).
    expect(blocked).toBeGreaterThan(10);
  });
});
