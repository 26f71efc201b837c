// Tests for keyed pseudonyms: format, stability, domain separation, and matching by a key holder.
import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { KeyedHash128 } from './keyed-hash.js';
import { generateProjectKeys, ProjectKeyring, rotateProjectKey } from './keyring.js';
import {
  createPseudonymiser,
  isPseudonym,
  pseudonymsFor,
  TwoGenerationMemo,
} from './pseudonymise.js';

const SEED = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = { seed: SEED, numRuns: Number(process.env.FC_RUNS ?? 300) };

describe('createPseudonymiser', () => {
  const key = randomBytes(32);
  const p = createPseudonymiser(key);

  it('is u_ + base64url of the first 128 bits of HMAC-SHA256(key, "id:" + id)', () => {
    const expected = `u_${createHmac('sha256', key).update('id:user-42').digest().subarray(0, 16).toString('base64url')}`;
    expect(p('user-42')).toBe(expected);
    expect(p('user-42')).toMatch(/^u_[A-Za-z0-9_-]{22}$/);
    expect(isPseudonym(p('user-42'))).toBe(true);
  });

  it('maps mixpanel-browser "$device:<id>" like the bare device id, and keeps "" as no user', () => {
    expect(p('$device:18c1f2a3-b4c5')).toBe(p('18c1f2a3-b4c5'));
    expect(p('')).toBe('');
  });

  it('separates group ids from user ids and group keys from each other', () => {
    expect(p.group('company', 'acme')).toMatch(/^g_[A-Za-z0-9_-]{22}$/);
    expect(p.group('company', 'acme')).not.toBe(p.group('team', 'acme'));
    expect(p.group('company', 'acme').slice(2)).not.toBe(p('acme').slice(2));
    // Length-prefixing: ("a:b", "c") and ("a", "b:c") must not collide.
    expect(p.group('a:b', 'c')).not.toBe(p.group('a', 'b:c'));
    expect(p.group('company', 'acme')).toBe(
      `g_${createHmac('sha256', key).update('group:7:company:acme').digest().subarray(0, 16).toString('base64url')}`,
    );
  });

  it('gives the same answers with and without its memo, beyond the memo size', () => {
    const small = createPseudonymiser(key, { cacheSize: 8 });
    const none = createPseudonymiser(key, { cacheSize: 0 });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 50; i++) {
        expect(small(`id-${i}`)).toBe(none(`id-${i}`));
        expect(small.group('k', `id-${i}`)).toBe(none.group('k', `id-${i}`));
      }
    }
    const long = 'x'.repeat(1000);
    expect(small(long)).toBe(none(long));
  });

  it('without a memo, hashes an id given twice in a row once (distinct_id and $user_id), and answers the same', () => {
    const digests = vi.spyOn(KeyedHash128.prototype, 'digest');
    try {
      const none = createPseudonymiser(key, { cacheSize: 0 });
      const memo = createPseudonymiser(key);
      const ids = ['a', 'a', '$device:a', 'b', 'a', '', 'a'];
      expect(ids.map((id) => none(id))).toEqual(ids.map((id) => memo(id)));
      // The memo hashes a, $device:a and b once each; `none` a, $device:a, b and a again (the
      // last id only is kept, '' is never hashed).
      expect(digests).toHaveBeenCalledTimes(3 + 4);
    } finally {
      digests.mockRestore();
    }
  });

  it('forgets, in two generations, the raw ids not used since (what a heap dump could show)', () => {
    const memo = new TwoGenerationMemo(100);
    memo.set('alice@example.com', 'u_a');
    memo.set('bob@example.com', 'u_b');
    memo.age();
    // Used during the generation: kept for one more.
    expect(memo.get('alice@example.com')).toBe('u_a');
    memo.age();
    expect(memo.get('alice@example.com')).toBe('u_a');
    expect(memo.get('bob@example.com')).toBeUndefined();
    memo.age();
    memo.age();
    expect(memo.get('alice@example.com')).toBeUndefined();
  });

  it('rejects a key of the wrong size', () => {
    expect(() => createPseudonymiser(randomBytes(16))).toThrow(RangeError);
  });

  describe(`properties (fast-check seed ${SEED}; rerun with FC_SEED=${SEED})`, () => {
    const id = fc.string({ minLength: 1, maxLength: 64 }).filter((s) => !s.startsWith('$device:'));
    it('stable per key: a new pseudonymiser on the same key gives the same pseudonym', () => {
      fc.assert(
        fc.property(id, (value) => {
          expect(createPseudonymiser(Buffer.from(key))(value)).toBe(p(value));
        }),
        RUNS,
      );
    });
    it('differs across keys (projects) and across ids', () => {
      const other = createPseudonymiser(randomBytes(32));
      fc.assert(
        fc.property(id, id, (a, b) => {
          expect(other(a)).not.toBe(p(a));
          if (a !== b) expect(p(a)).not.toBe(p(b));
        }),
        RUNS,
      );
    });
  });
});

describe("pseudonymsFor (matching a key holder's own list of ids)", () => {
  it('computes pseudonyms under every pseudonym key version, newest first', () => {
    const master = randomBytes(32);
    const records = generateProjectKeys(master, 'prj_m');
    const ring = ProjectKeyring.open(master, [
      ...records,
      rotateProjectKey(master, 'prj_m', 'pseudonym', records),
    ]);
    const [match] = pseudonymsFor(ring, ['alice@example.com']);
    expect(match?.id).toBe('alice@example.com');
    expect(match?.pseudonyms.map((x) => x.version)).toEqual([2, 1]);
    expect(match?.pseudonyms[0]?.pseudonym).toBe(
      createPseudonymiser(ring.current('pseudonym').key)('alice@example.com'),
    );
    expect(match?.pseudonyms[1]?.pseudonym).toBe(
      createPseudonymiser(ring.byVersion('pseudonym', 1)!.key)('alice@example.com'),
    );
    const [group] = pseudonymsFor(ring, ['acme'], 'company');
    expect(group?.pseudonyms[0]?.pseudonym).toBe(
      createPseudonymiser(ring.current('pseudonym').key).group('company', 'acme'),
    );
  });
});
