// SILLAGE_META_URL=postgres://…: projects, keys, accounts and the vault live in PostgreSQL, so two
// nodes sharing it (each with its own data directory and the same master key) know the same
// projects and secrets; the embedded file holds no project; a node with another master key
// refuses to start and changes nothing.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcess } from './helpers/inprocess.js';
import { freshPostgresDatabase, pgRows, postgresAvailable } from './helpers/postgres.js';
import { startServer } from '../src/cli/serve.js';
import { loadConfig } from '../src/shared/config.js';
import { SILENT_LOGGER } from '../src/shared/log.js';
import { DuckDbDatabase, DuckDbMetaStore } from '../src/store/duckdb/index.js';

const suite = postgresAvailable() ? describe : describe.skip;
const MASTER_KEY = randomBytes(32).toString('hex');
// /track takes the last 5 days only: the event is from now.
const NOW = Date.now();
const DAY = new Date(NOW).toISOString().slice(0, 10);

suite('metadata on PostgreSQL (SILLAGE_META_URL)', () => {
  let database: Awaited<ReturnType<typeof freshPostgresDatabase>>;
  let nodeA: InProcess;
  let nodeB: InProcess;

  beforeAll(async () => {
    database = await freshPostgresDatabase();
    const env = { SILLAGE_META_URL: database.url, SILLAGE_MASTER_KEY: MASTER_KEY };
    nodeA = await startInProcess(env);
    nodeB = await startInProcess(env);
  });
  afterAll(async () => {
    await nodeA?.close();
    await nodeB?.close();
    await database?.drop();
  });

  it('puts projects and their bootstrap keys in PostgreSQL, not in the embedded file', async () => {
    const rows = await pgRows(database.url, 'SELECT id FROM projects ORDER BY id');
    expect(rows).toEqual(
      [nodeA.project.project_id, nodeB.project.project_id].sort().map((id) => ({ id })),
    );
    const keys = await pgRows(
      database.url,
      "SELECT project_id FROM api_keys WHERE name = 'bootstrap secret'",
    );
    expect(keys).toHaveLength(2);
    await nodeA.close();
    const db = await DuckDbDatabase.open(path.join(nodeA.base, 'data'));
    try {
      expect(await new DuckDbMetaStore(db).listProjects()).toEqual([]);
    } finally {
      await db.close();
    }
    nodeA = await startInProcess({
      SILLAGE_META_URL: database.url,
      SILLAGE_MASTER_KEY: MASTER_KEY,
    });
  });

  it("lets either node take a project's events and answer its secret", async () => {
    const project = nodeA.project;
    const track = await nodeB.server.app.inject({
      method: 'POST',
      url: '/track',
      payload: `data=${encodeURIComponent(
        JSON.stringify({
          event: 'Seen',
          properties: {
            token: project.token,
            distinct_id: 'u1',
            time: NOW,
          },
        }),
      )}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(track.statusCode).toBe(200);
    expect(track.body).toBe('1');
    await nodeB.server.runtime.events.flush();
    const query = await nodeB.server.app.inject({
      method: 'POST',
      url: `/api/v1/projects/${project.project_id}/query`,
      headers: { authorization: `Bearer ${project.secret}`, 'content-type': 'application/json' },
      payload: JSON.stringify({
        kind: 'trends',
        from: DAY,
        to: DAY,
        interval: 'day',
        series: [{ event: 'Seen', math: 'total' }],
      }),
    });
    expect(query.statusCode).toBe(200);
    expect(query.json().series[0].total).toBe(1);
    const wrong = await nodeB.server.app.inject({
      method: 'POST',
      url: `/api/v1/projects/${project.project_id}/query`,
      headers: { authorization: `Bearer sil_sk_${randomBytes(32).toString('base64url')}` },
      payload: '{}',
    });
    expect(wrong.statusCode).toBe(401);
  });

  it('refuses a node whose master key differs, without writing anything', async () => {
    const before = await pgRows(database.url, 'SELECT count(*)::int AS n FROM projects');
    const dir = fs.mkdtempSync(path.join(nodeA.base, 'other-'));
    const config = loadConfig(
      { port: 0, host: '127.0.0.1', data: dir },
      { SILLAGE_MASTER_KEY: randomBytes(32).toString('hex'), SILLAGE_META_URL: database.url },
    );
    await expect(startServer(config, SILENT_LOGGER)).rejects.toMatchObject({
      code: expect.stringMatching(/MASTER_KEY/),
    });
    expect(await pgRows(database.url, 'SELECT count(*)::int AS n FROM projects')).toEqual(before);
  });
});
