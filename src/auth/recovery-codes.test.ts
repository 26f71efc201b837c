// Tests for recovery code generation and the normalising hash.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateRecoveryCodes, hashRecoveryCode } from './recovery-codes.js';

const FORMAT = /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){5}$/;

describe('generateRecoveryCodes', () => {
  it('makes ten grouped lower-case Crockford codes by default, hashes in the same order', () => {
    const { codes, hashes } = generateRecoveryCodes();
    expect(codes).toHaveLength(10);
    expect(hashes).toHaveLength(10);
    codes.forEach((code, i) => {
      expect(code).toMatch(FORMAT);
      expect(hashes[i]).toBe(hashRecoveryCode(code));
      expect(hashes[i]).toMatch(/^[0-9a-f]{64}$/);
    });
  });

  it('never repeats a code and uses the whole alphabet (random, not patterned)', () => {
    const codes = Array.from({ length: 50 }, () => generateRecoveryCodes(20).codes).flat();
    expect(new Set(codes).size).toBe(codes.length);
    const seen = new Set(codes.join('').replaceAll('-', ''));
    expect(seen.size).toBe(32);
    // 1000 codes × 24 characters: each of 32 symbols should appear ~750 times.
    const counts = new Map<string, number>();
    for (const ch of codes.join('').replaceAll('-', '')) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    for (const n of counts.values()) expect(n).toBeGreaterThan(500);
  });

  it('honours the count and refuses silly ones', () => {
    expect(generateRecoveryCodes(1).codes).toHaveLength(1);
    expect(generateRecoveryCodes(16).codes).toHaveLength(16);
    for (const bad of [0, -1, 1.5, 101, Number.NaN]) {
      expect(() => generateRecoveryCodes(bad)).toThrow(RangeError);
    }
  });
});

describe('hashRecoveryCode', () => {
  const code = 'a1b2-c3d4-e5f6-g7h8-j9k0-mnpq';
  const expected = createHash('sha256').update('a1b2c3d4e5f6g7h8j9k0mnpq').digest('hex');

  it('is SHA-256 hex of the canonical code', () => {
    expect(hashRecoveryCode(code)).toBe(expected);
  });

  it('ignores case, spaces and dashes', () => {
    for (const typed of [
      'A1B2-C3D4-E5F6-G7H8-J9K0-MNPQ',
      'a1b2c3d4e5f6g7h8j9k0mnpq',
      ' a1b2 c3d4 e5f6\tg7h8 j9k0 mnpq ',
      'a1b2--c3d4-e5f6-g7h8-j9k0-mnpq',
    ]) {
      expect(hashRecoveryCode(typed)).toBe(expected);
    }
  });

  it('reads the Crockford look-alikes O, I and L as 0 and 1', () => {
    expect(hashRecoveryCode('albz-c3d4-e5f6-g7h8-j9kO-mnpq')).toBe(
      hashRecoveryCode('a1bz-c3d4-e5f6-g7h8-j9k0-mnpq'),
    );
    expect(hashRecoveryCode('aIbz-c3d4-e5f6-g7h8-j9ko-mnpq')).toBe(
      hashRecoveryCode('a1bz-c3d4-e5f6-g7h8-j9k0-mnpq'),
    );
  });

  it('tells different codes apart', () => {
    expect(hashRecoveryCode('a1b2-c3d4-e5f6-g7h8-j9k0-mnpr')).not.toBe(expected);
  });

  it('returns null for anything that is not 24 code characters', () => {
    for (const typed of [
      '',
      'a1b2-c3d4-e5f6-g7h8-j9k0-mnp',
      'a1b2-c3d4-e5f6-g7h8-j9k0-mnpqr',
      'a1b2-c3d4-e5f6-g7h8-j9k0-mnpu', // U is not in the alphabet
      'a1b2_c3d4_e5f6_g7h8_j9k0_mnpq',
      'a1b2-c3d4-e5f6-g7h8-j9k0-mnp!',
    ]) {
      expect(hashRecoveryCode(typed)).toBeNull();
    }
  });
});
