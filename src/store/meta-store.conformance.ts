// The MetaStore conformance suite: every adapter runs it against a real backend (see
// duckdb/meta-store.test.ts, postgres/stores.test.ts). It pins projects, wrapped keys (every byte
// value), policies with their change record, settings, and creation as one transaction.
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AccountStore, ApiKeyRecord } from './account-types.js';
import type { MetaStore, PolicyChange, ProjectRecord, WrappedKeyRecord } from './types.js';

/** What the suite needs from an adapter: the store and the same backend's AccountStore. */
export interface MetaStoreHarness {
  meta: MetaStore;
  accounts: AccountStore;
  close(): Promise<void>;
}

const T0 = 1_700_000_000_000;
const hex = (bytes = 32): string => randomBytes(bytes).toString('hex');
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

function project(id: string, createdAtMs: number, extra: Partial<ProjectRecord> = {}) {
  return {
    id,
    name: `Project ${id} — é 漢字`,
    token: `tok_${hex(8)}`,
    secretHash: sha256(`sil_sk_${hex()}`),
    timezone: 'Europe/Paris',
    createdAtMs,
    ...extra,
  } satisfies ProjectRecord;
}

function bootstrap(p: ProjectRecord): ApiKeyRecord {
  return {
    id: `key_${p.secretHash.slice(0, 16)}`,
    projectId: p.id,
    name: 'bootstrap secret',
    secretHash: p.secretHash,
    prefix: 'sil_sk_',
    scopes: ['query', 'import'],
    allowedCidrs: [],
    createdBy: null,
    createdAtMs: p.createdAtMs,
    expiresAtMs: null,
    revokedAtMs: null,
    rotatedFrom: null,
    lastUsedAtMs: null,
    lastUsedPlace: null,
    useCount: 0,
  };
}

function key(projectId: string, purpose: WrappedKeyRecord['purpose'], version: number) {
  return {
    projectId,
    purpose,
    version,
    // Every byte value, so that no encoding step can hide behind text-safe data.
    wrapped: Uint8Array.from({ length: 256 }, (_, i) => (i * 13 + version) % 256),
    createdAtMs: T0 + version,
  } satisfies WrappedKeyRecord;
}

/** Runs the suite; `open` gives a fresh, empty store for each test. */
export function metaStoreConformance(open: () => Promise<MetaStoreHarness>): void {
  let h: MetaStoreHarness;
  let meta: MetaStore;

  beforeEach(async () => {
    h = await open();
    meta = h.meta;
  });
  afterEach(async () => {
    await h.close();
  });

  describe('projects', () => {
    it('round-trips projects by id and by token, and lists them by creation time then id', async () => {
      const b = project('prj_b', T0 + 1000);
      const a = project('prj_a', T0 + 1000);
      const c = project('prj_c', T0);
      for (const p of [b, a, c]) await meta.createProject(p, [], bootstrap(p));
      expect(await meta.getProject('prj_a')).toEqual(a);
      expect(await meta.findProjectByToken(b.token)).toEqual(b);
      expect(await meta.getProject('prj_missing')).toBeNull();
      expect(await meta.findProjectByToken('tok_missing')).toBeNull();
      expect((await meta.listProjects()).map((p) => p.id)).toEqual(['prj_c', 'prj_a', 'prj_b']);
    });

    it('writes the wrapped keys and the bootstrap API key with the project', async () => {
      const p = project('prj_1', T0);
      const keys = [key('prj_1', 'vault', 1), key('prj_1', 'pseudonym', 1)];
      await meta.createProject(p, keys, bootstrap(p));
      const listed = await meta.listKeys('prj_1');
      expect(listed.map((k) => [k.purpose, k.version])).toEqual([
        ['pseudonym', 1],
        ['vault', 1],
      ]);
      expect(listed.map((k) => Buffer.from(k.wrapped))).toEqual([
        Buffer.from(keys[1]!.wrapped),
        Buffer.from(keys[0]!.wrapped),
      ]);
      expect(listed[0]!.createdAtMs).toBe(T0 + 1);
      expect(await h.accounts.findApiKeyByHash(p.secretHash)).toEqual(bootstrap(p));
    });

    it('creates nothing when any part of the creation fails', async () => {
      const first = project('prj_1', T0);
      await meta.createProject(first, [key('prj_1', 'pseudonym', 1)], bootstrap(first));
      // Same secret hash as the first project's bootstrap key: the key insert fails.
      const second = project('prj_2', T0 + 1);
      await expect(
        meta.createProject(second, [key('prj_2', 'pseudonym', 1)], {
          ...bootstrap(second),
          secretHash: first.secretHash,
        }),
      ).rejects.toMatchObject({ code: 'STORE_FAILURE' });
      expect(await meta.getProject('prj_2')).toBeNull();
      expect(await meta.listKeys('prj_2')).toEqual([]);
      // A duplicate id fails as a whole as well.
      const again = project('prj_1', T0 + 2);
      await expect(meta.createProject(again, [], bootstrap(again))).rejects.toMatchObject({
        code: 'STORE_FAILURE',
      });
      expect(await h.accounts.findApiKeyByHash(again.secretHash)).toBeNull();
      expect((await meta.listProjects()).map((p) => p.id)).toEqual(['prj_1']);
    });

    it('adds key versions and keeps them apart per project', async () => {
      for (const id of ['prj_1', 'prj_2']) {
        const p = project(id, T0);
        await meta.createProject(p, [key(id, 'pseudonym', 1)], bootstrap(p));
      }
      await meta.addKey(key('prj_1', 'pseudonym', 2));
      await expect(meta.addKey(key('prj_1', 'pseudonym', 2))).rejects.toBeDefined();
      expect((await meta.listKeys('prj_1')).map((k) => k.version)).toEqual([1, 2]);
      expect((await meta.listKeys('prj_2')).map((k) => k.version)).toEqual([1]);
      expect(await meta.listKeys('prj_missing')).toEqual([]);
    });
  });

  describe('policies', () => {
    it('stores the policy as JSON, replaces it, and records each change in order', async () => {
      const p = project('prj_1', T0);
      await meta.createProject(p, [], bootstrap(p));
      expect(await meta.getPolicy('prj_1')).toBeNull();
      const first = { geo: 'country', identifiers: ['plan_id'], note: 'é "quoted" \\ 漢字' };
      const second = { geo: 'none', nested: { list: [1, 2.5, true, null] } };
      const c1: PolicyChange = {
        projectId: 'prj_1',
        actor: 'usr_1',
        atMs: T0,
        before: null,
        after: first,
      };
      const c2: PolicyChange = {
        projectId: 'prj_1',
        actor: 'usr_2',
        atMs: T0 + 5000,
        before: first,
        after: second,
      };
      await meta.setPolicy('prj_1', first, c1);
      expect(await meta.getPolicy('prj_1')).toEqual(first);
      await meta.setPolicy('prj_1', second, c2);
      expect(await meta.getPolicy('prj_1')).toEqual(second);
      expect(await meta.listPolicyChanges('prj_1')).toEqual([c1, c2]);
      expect(await meta.listPolicyChanges('prj_other')).toEqual([]);
      expect(await meta.getPolicy('prj_other')).toBeNull();
    });
  });

  describe('settings', () => {
    it('reads null for a missing setting, then the last value set', async () => {
      expect(await meta.getSetting('master_key_check')).toBeNull();
      await meta.setSetting('master_key_check', 'v1:abc');
      await meta.setSetting('other', 'x');
      await meta.setSetting('master_key_check', 'v1:def');
      expect(await meta.getSetting('master_key_check')).toBe('v1:def');
      expect(await meta.getSetting('other')).toBe('x');
    });
  });

  describe('cohorts', () => {
    it('round-trips, replaces, lists by name and deletes cohorts, each within its project', async () => {
      const cohort = (id: string, projectId: string, name: string) => ({
        id,
        projectId,
        name,
        definition: {
          match: 'all',
          conditions: [{ kind: 'did_event', event: 'A', within_days: 7 }],
        },
        createdBy: 'user:1',
        createdAtMs: T0,
        updatedAtMs: T0 + 5,
      });
      await meta.putCohort(cohort('coh_2', 'prj_a', 'b'));
      await meta.putCohort(cohort('coh_1', 'prj_a', 'a'));
      await meta.putCohort(cohort('coh_3', 'prj_b', 'a'));
      expect(await meta.getCohort('prj_a', 'coh_1')).toEqual(cohort('coh_1', 'prj_a', 'a'));
      // Another project's id finds nothing.
      expect(await meta.getCohort('prj_b', 'coh_1')).toBeNull();
      expect((await meta.listCohorts('prj_a')).map((c) => c.id)).toEqual(['coh_1', 'coh_2']);
      await meta.putCohort({ ...cohort('coh_1', 'prj_a', 'z'), updatedAtMs: T0 + 9 });
      expect(await meta.getCohort('prj_a', 'coh_1')).toMatchObject({
        name: 'z',
        updatedAtMs: T0 + 9,
      });
      expect(await meta.deleteCohort('prj_b', 'coh_1')).toBe(false);
      expect(await meta.deleteCohort('prj_a', 'coh_1')).toBe(true);
      expect(await meta.deleteCohort('prj_a', 'coh_1')).toBe(false);
      expect((await meta.listCohorts('prj_a')).map((c) => c.id)).toEqual(['coh_2']);
    });
  });
}
