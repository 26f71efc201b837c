// Tests for wrapping project keys under the master key, and the project keyring.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from '../shared/errors.js';
import {
  generateProjectKeys,
  ProjectKeyring,
  rotateProjectKey,
  unwrapKey,
  wrapKey,
  type KeyContext,
} from './keyring.js';

const SEED = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = { seed: SEED, numRuns: Number(process.env.FC_RUNS ?? 300) };

const master = randomBytes(32);
const ctx: KeyContext = { projectId: 'prj_a', purpose: 'pseudonym', version: 1 };

function unwrapFails(run: () => unknown): void {
  let error: unknown;
  try {
    run();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe('PROJECT_KEY_INVALID');
}

describe('wrapKey / unwrapKey', () => {
  it('round-trips, with a fresh IV each time (61 bytes: format, IV, key, tag)', () => {
    const raw = randomBytes(32);
    const a = wrapKey(master, ctx, raw);
    const b = wrapKey(master, ctx, raw);
    expect(a).toHaveLength(61);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    expect(unwrapKey(master, ctx, a).equals(raw)).toBe(true);
    expect(Buffer.from(a).includes(raw)).toBe(false);
  });

  it('fails with another project id, purpose or version (records cannot be swapped)', () => {
    const wrapped = wrapKey(master, ctx, randomBytes(32));
    unwrapFails(() => unwrapKey(master, { ...ctx, projectId: 'prj_b' }, wrapped));
    unwrapFails(() => unwrapKey(master, { ...ctx, purpose: 'vault' }, wrapped));
    unwrapFails(() => unwrapKey(master, { ...ctx, version: 2 }, wrapped));
  });

  it('fails with a wrong master key, a truncated record or an unknown format', () => {
    const wrapped = wrapKey(master, ctx, randomBytes(32));
    unwrapFails(() => unwrapKey(randomBytes(32), ctx, wrapped));
    unwrapFails(() => unwrapKey(master, ctx, wrapped.subarray(0, 60)));
    const otherFormat = Uint8Array.from(wrapped);
    otherFormat[0] = 2;
    unwrapFails(() => unwrapKey(master, ctx, otherFormat));
  });

  it('rejects bad inputs', () => {
    expect(() => wrapKey(master, ctx, randomBytes(16))).toThrow(AppError);
    expect(() => wrapKey(randomBytes(16), ctx, randomBytes(32))).toThrow(AppError);
    expect(() => wrapKey(master, { ...ctx, version: 0 }, randomBytes(32))).toThrow(AppError);
    expect(() => wrapKey(master, { ...ctx, projectId: '' }, randomBytes(32))).toThrow(AppError);
  });

  describe(`properties (fast-check seed ${SEED}; rerun with FC_SEED=${SEED})`, () => {
    const context = fc.record({
      projectId: fc.string({ minLength: 1, maxLength: 40 }),
      purpose: fc.constantFrom('pseudonym' as const, 'vault' as const),
      version: fc.integer({ min: 1, max: 1_000_000 }),
    });
    const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

    it('round-trips for any context and key', () => {
      fc.assert(
        fc.property(context, key32, (c, raw) => {
          expect(unwrapKey(master, c, wrapKey(master, c, raw)).equals(Buffer.from(raw))).toBe(true);
        }),
        RUNS,
      );
    });

    it('any flipped bit makes unwrapping fail', () => {
      fc.assert(
        fc.property(
          context,
          key32,
          fc.nat(60),
          fc.integer({ min: 0, max: 7 }),
          (c, raw, byte, bit) => {
            const wrapped = Uint8Array.from(wrapKey(master, c, raw));
            wrapped[byte] = (wrapped[byte] as number) ^ (1 << bit);
            unwrapFails(() => unwrapKey(master, c, wrapped));
          },
        ),
        RUNS,
      );
    });

    it('a record never opens under another project', () => {
      fc.assert(
        fc.property(context, fc.string({ minLength: 1, maxLength: 40 }), key32, (c, other, raw) => {
          fc.pre(other !== c.projectId);
          unwrapFails(() => unwrapKey(master, { ...c, projectId: other }, wrapKey(master, c, raw)));
        }),
        RUNS,
      );
    });
  });
});

describe('project keys and the keyring', () => {
  it('generates one pseudonym key and one vault key at version 1, both distinct', () => {
    const records = generateProjectKeys(master, 'prj_x', 1234);
    expect(records.map((r) => [r.projectId, r.purpose, r.version, r.createdAtMs])).toEqual([
      ['prj_x', 'pseudonym', 1, 1234],
      ['prj_x', 'vault', 1, 1234],
    ]);
    const ring = ProjectKeyring.unwrap(master, 'prj_x', records);
    expect(ring.current('pseudonym').key.equals(ring.current('vault').key)).toBe(false);
  });

  it('rotation adds a newer current version and keeps the old one reachable', () => {
    const records = generateProjectKeys(master, 'prj_x');
    const rotated = rotateProjectKey(master, 'prj_x', 'pseudonym', records);
    expect(rotated.version).toBe(2);
    const ring = ProjectKeyring.open(master, [...records, rotated]);
    expect(ring.current('pseudonym').version).toBe(2);
    expect(ring.current('vault').version).toBe(1);
    expect(ring.byVersion('pseudonym', 1)?.key.equals(ring.current('pseudonym').key)).toBe(false);
    expect(ring.byVersion('pseudonym', 3)).toBeUndefined();
    expect(ring.all('pseudonym').map((k) => k.version)).toEqual([2, 1]);
  });

  it('refuses records of another project, duplicates, and an empty set', () => {
    const a = generateProjectKeys(master, 'prj_a');
    const b = generateProjectKeys(master, 'prj_b');
    expect(() => ProjectKeyring.unwrap(master, 'prj_a', [...a, ...b])).toThrow(AppError);
    expect(() => ProjectKeyring.unwrap(master, 'prj_a', [...a, ...a])).toThrow(AppError);
    expect(() => ProjectKeyring.open(master, [])).toThrow(AppError);
    expect(() => new ProjectKeyring('prj_a', []).current('vault')).toThrow(AppError);
  });

  it('a record moved to another project fails to unwrap', () => {
    const [pseudonym] = generateProjectKeys(master, 'prj_a');
    const moved = { ...pseudonym!, projectId: 'prj_b' };
    unwrapFails(() => ProjectKeyring.open(master, [moved]));
  });

  it('a wrong master key fails to unwrap', () => {
    unwrapFails(() => ProjectKeyring.open(randomBytes(32), generateProjectKeys(master, 'prj_a')));
  });
});
