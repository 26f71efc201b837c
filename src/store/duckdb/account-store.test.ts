// The DuckDB accounts adapter: the AccountStore conformance suite on a real database file, plus
// what only DuckDB has: migration 5 turning existing projects' bootstrap secrets into API keys.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  accountStoreConformance,
  bootstrapKeyOf,
  projectFixture,
} from '../account-store.conformance.js';
import { DuckDbAccountStore } from './account-store.js';
import { DuckDbDatabase } from './database.js';
import { DuckDbMetaStore } from './meta-store.js';
import { DUCKDB_MIGRATIONS } from './schema.js';

const T0 = 1_700_000_000_000;

/** Tables migration 5 creates: dropping them (and its record) leaves a version-4 database. */
const V5_TABLES = [
  'orgs',
  'users',
  'memberships',
  'factors',
  'recovery_codes',
  'sessions',
  'challenges',
  'devices',
  'invitations',
  'api_keys',
  'notices',
  'saved_views',
  'project_orgs',
];

const dirs: string[] = [];
function freshDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-accounts-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('DuckDbAccountStore', () => {
  accountStoreConformance(async () => {
    const db = await DuckDbDatabase.open(freshDir());
    return {
      store: new DuckDbAccountStore(db),
      meta: new DuckDbMetaStore(db),
      close: () => db.close(),
    };
  });

  describe('migration 5', () => {
    it("copies every existing project's bootstrap secret into api_keys (and migration 8 takes its admin scope)", async () => {
      const dir = freshDir();
      const projects = [projectFixture('prj_old_2', T0 + 2), projectFixture('prj_old_1', T0 + 1)];
      let db = await DuckDbDatabase.open(dir);
      try {
        const meta = new DuckDbMetaStore(db);
        for (const p of projects) await meta.createProject(p, [], bootstrapKeyOf(p));
        // Back to the state of a database created before migration 5, projects included.
        await db.meta.run(async (c) => {
          for (const table of V5_TABLES) await c.run(`DROP TABLE ${table}`);
          // Migration 5 copies secrets with the `admin` scope of its time; 8 then takes it away.
          await c.run('DELETE FROM schema_migrations WHERE version IN (5, 8)');
        });
      } finally {
        await db.close();
      }

      db = await DuckDbDatabase.open(dir);
      try {
        const store = new DuckDbAccountStore(db);
        for (const p of projects) {
          expect(await store.findApiKeyByHash(p.secretHash)).toEqual(bootstrapKeyOf(p));
          expect(await store.listApiKeys(p.id)).toEqual([bootstrapKeyOf(p)]);
        }
        expect(await store.listUnassignedProjects()).toEqual(['prj_old_1', 'prj_old_2']);
        const applied = await db.meta.run(async (c) =>
          (await c.runAndReadAll('SELECT version FROM schema_migrations ORDER BY 1')).getRowsJS(),
        );
        expect(applied.map((row) => Number(row[0]))).toEqual(
          DUCKDB_MIGRATIONS.map((m) => m.version),
        );
      } finally {
        await db.close();
      }
    });

    it('keeps accounts across a reopen', async () => {
      const dir = freshDir();
      let db = await DuckDbDatabase.open(dir);
      const key = Uint8Array.from([0, 1, 254, 255]);
      try {
        const store = new DuckDbAccountStore(db);
        await store.addFactor({
          id: 'fac_1',
          userId: 'usr_a',
          kind: 'passkey',
          label: 'key',
          createdAtMs: T0,
          lastUsedAtMs: null,
          credentialId: 'cred',
          publicKey: key,
          counter: 1,
          transports: [],
          backedUp: true,
          trustedFromMs: T0,
        });
      } finally {
        await db.close();
      }
      db = await DuckDbDatabase.open(dir);
      try {
        const found = await new DuckDbAccountStore(db).findPasskey('cred');
        expect(found && Array.from(found.publicKey)).toEqual([0, 1, 254, 255]);
      } finally {
        await db.close();
      }
    });
  });

  it("writes API keys' uses after the request, together, and all of them before a close", async () => {
    const dir = freshDir();
    const project = projectFixture('prj_1', T0);
    const keyId = bootstrapKeyOf(project).id;
    // What the table holds (the store's reads add the uses not written yet).
    const stored = (db: DuckDbDatabase): Promise<unknown[]> =>
      db.read(async (c) =>
        (
          await c.runAndReadAll(
            'SELECT use_count, epoch_ms(last_used_at), last_used_place FROM api_keys WHERE id = $1',
            [keyId],
          )
        )
          .getRowsJS()[0]!
          .map((v) => (typeof v === 'bigint' ? Number(v) : v)),
      );
    let db = await DuckDbDatabase.open(dir);
    try {
      await new DuckDbMetaStore(db).createProject(project, [], bootstrapKeyOf(project));
      const store = new DuckDbAccountStore(db);
      await store.recordApiKeyUse(keyId, T0 + 10, 'Lyon, FR');
      await store.recordApiKeyUse(keyId, T0 + 20, 'FR');
      expect(await store.getApiKey(keyId)).toMatchObject({
        useCount: 2,
        lastUsedAtMs: T0 + 20,
        lastUsedPlace: 'FR',
      });
      // Written in the background (bounded wait: 10 s for a write due after a second).
      for (let i = 0; i < 100 && ((await stored(db))[0] as number) < 2; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await stored(db)).toEqual([2, T0 + 20, 'FR']);
      expect(await store.findApiKeyByHash(bootstrapKeyOf(project).secretHash)).toMatchObject({
        useCount: 2,
        lastUsedAtMs: T0 + 20,
      });
      await store.recordApiKeyUse(keyId, T0 + 30, null);
      expect((await store.listApiKeys('prj_1'))[0]).toMatchObject({
        useCount: 3,
        lastUsedAtMs: T0 + 30,
        lastUsedPlace: null,
      });
    } finally {
      await db.close();
    }
    db = await DuckDbDatabase.open(dir);
    try {
      // The last use, recorded just before the close, was written by it.
      expect(await stored(db)).toEqual([3, T0 + 30, null]);
    } finally {
      await db.close();
    }
  });

  it('creates no project when its bootstrap key cannot be written', async () => {
    const db = await DuckDbDatabase.open(freshDir());
    try {
      const meta = new DuckDbMetaStore(db);
      const first = projectFixture('prj_1', T0);
      await meta.createProject(first, [], bootstrapKeyOf(first));
      // Same secret hash: the API key insert fails, so the whole creation rolls back.
      await expect(
        meta.createProject(projectFixture('prj_2', T0 + 1), [], {
          ...bootstrapKeyOf(projectFixture('prj_2', T0 + 1)),
          secretHash: first.secretHash,
        }),
      ).rejects.toMatchObject({ code: 'STORE_FAILURE' });
      expect(await meta.getProject('prj_2')).toBeNull();
      expect((await meta.listProjects()).map((p) => p.id)).toEqual(['prj_1']);
    } finally {
      await db.close();
    }
  });
});
