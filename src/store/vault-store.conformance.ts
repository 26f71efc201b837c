// The VaultStore conformance suite: every adapter runs it against a real backend (see
// duckdb/vault-store.test.ts, postgres/stores.test.ts): first writer wins for a subject's key,
// `$set` overwrites and `$set_once` keeps, and erasure removes the key with every sealed value.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { VaultStore, WrappedSubjectKey } from './types.js';

/** What the suite needs from an adapter. */
export interface VaultStoreHarness {
  vault: VaultStore;
  close(): Promise<void>;
}

const subjectKey = (seed: number): WrappedSubjectKey => ({
  vaultKeyVersion: 1 + (seed % 3),
  wrapped: Uint8Array.from({ length: 60 }, (_, i) => (i * 31 + seed) % 256),
});

/** Runs the suite; `open` gives a fresh, empty store for each test. */
export function vaultStoreConformance(open: () => Promise<VaultStoreHarness>): void {
  let h: VaultStoreHarness;
  let vault: VaultStore;

  beforeEach(async () => {
    h = await open();
    vault = h.vault;
  });
  afterEach(async () => {
    await h.close();
  });

  describe('subject keys', () => {
    it('keeps the first key stored for a subject (first writer wins), per project', async () => {
      expect(await vault.getSubjectKey('prj_1', 'sub_a')).toBeNull();
      const first = await vault.putSubjectKeyIfAbsent('prj_1', 'sub_a', subjectKey(1));
      expect({ ...first, wrapped: Buffer.from(first.wrapped) }).toEqual({
        ...subjectKey(1),
        wrapped: Buffer.from(subjectKey(1).wrapped),
      });
      const second = await vault.putSubjectKeyIfAbsent('prj_1', 'sub_a', subjectKey(2));
      expect(Buffer.from(second.wrapped)).toEqual(Buffer.from(subjectKey(1).wrapped));
      expect(second.vaultKeyVersion).toBe(subjectKey(1).vaultKeyVersion);
      const stored = await vault.getSubjectKey('prj_1', 'sub_a');
      expect(Buffer.from(stored!.wrapped)).toEqual(Buffer.from(subjectKey(1).wrapped));
      expect(await vault.getSubjectKey('prj_2', 'sub_a')).toBeNull();
    });

    it('gives every concurrent writer the same key', async () => {
      const results = await Promise.all(
        [1, 2, 3, 4, 5].map((seed) =>
          vault.putSubjectKeyIfAbsent('prj_1', 'sub_race', subjectKey(seed)),
        ),
      );
      const distinct = new Set(results.map((r) => Buffer.from(r.wrapped).toString('hex')));
      expect(distinct.size).toBe(1);
    });
  });

  describe('sealed values', () => {
    it('$set overwrites, $set_once keeps, and subjects and projects stay apart', async () => {
      await vault.putValues('prj_1', 'sub_a', { $email: 'seal-1', $name: 'seal-2' }, 'set', 1);
      await vault.putValues(
        'prj_1',
        'sub_a',
        { $email: 'seal-3', $phone: 'seal-4' },
        'set_once',
        2,
      );
      expect(await vault.getValues('prj_1', 'sub_a')).toEqual({
        $email: 'seal-1',
        $name: 'seal-2',
        $phone: 'seal-4',
      });
      await vault.putValues('prj_1', 'sub_a', { $email: 'seal-5' }, 'set', 3);
      expect((await vault.getValues('prj_1', 'sub_a')).$email).toBe('seal-5');
      await vault.putValues('prj_2', 'sub_a', { $email: 'other' }, 'set', 4);
      expect(await vault.getValues('prj_1', 'sub_b')).toEqual({});
      expect(await vault.getValues('prj_2', 'sub_a')).toEqual({ $email: 'other' });
    });

    it('erasure deletes the key and every sealed value of that subject only', async () => {
      await vault.putSubjectKeyIfAbsent('prj_1', 'sub_a', subjectKey(1));
      await vault.putSubjectKeyIfAbsent('prj_1', 'sub_b', subjectKey(2));
      await vault.putValues('prj_1', 'sub_a', { $email: 'seal-a' }, 'set', 1);
      await vault.putValues('prj_1', 'sub_b', { $email: 'seal-b' }, 'set', 1);
      expect(await vault.eraseSubject('prj_1', 'sub_a')).toBe(true);
      expect(await vault.eraseSubject('prj_1', 'sub_a')).toBe(false);
      expect(await vault.getSubjectKey('prj_1', 'sub_a')).toBeNull();
      expect(await vault.getValues('prj_1', 'sub_a')).toEqual({});
      expect(await vault.getValues('prj_1', 'sub_b')).toEqual({ $email: 'seal-b' });
      expect(await vault.getSubjectKey('prj_1', 'sub_b')).not.toBeNull();
    });
  });
}
