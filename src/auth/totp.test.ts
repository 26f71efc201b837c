// Tests for TOTP secrets, codes, once-only verification and sealed storage.
import { randomBytes } from 'node:crypto';
import { generate, ScureBase32Plugin } from 'otplib';
import { describe, expect, it } from 'vitest';
import { isAppError } from '../shared/errors.js';
import {
  newTotpSecret,
  openTotpSecret,
  sealTotpSecret,
  totpCode,
  totpSealKey,
  totpUri,
  verifyTotp,
} from './totp.js';

const STEP_MS = 30_000;
// A step boundary, plus 10 s: well inside step T (no grace window in play).
const T = 1_767_225_600_000 + 10_000;
const STEP_T = Math.floor(T / STEP_MS);

describe('newTotpSecret', () => {
  it('is base32 of 160 random bits, different every time', () => {
    const secrets = new Set(Array.from({ length: 50 }, () => newTotpSecret()));
    expect(secrets.size).toBe(50);
    for (const secret of secrets) {
      expect(secret).toMatch(/^[A-Z2-7]{32}$/);
      expect(new ScureBase32Plugin().decode(secret)).toHaveLength(20);
    }
  });
});

describe('totpUri', () => {
  it('is an otpauth URI with the issuer, the account and the secret', () => {
    const secret = newTotpSecret();
    const uri = new URL(totpUri(secret, 'ana@example.com'));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Sillage:ana@example.com');
    expect(uri.searchParams.get('secret')).toBe(secret);
    expect(uri.searchParams.get('issuer')).toBe('Sillage');
    // Absent means the defaults authenticator apps assume: SHA1, 6 digits, 30 s.
    for (const name of ['algorithm', 'digits', 'period']) {
      const value = uri.searchParams.get(name);
      expect(value === null || ['SHA1', '6', '30'].includes(value)).toBe(true);
    }
  });
});

describe('verifyTotp', () => {
  const secret = newTotpSecret();

  it('matches the RFC 6238 SHA-1 test vector', async () => {
    // RFC 6238 Appendix B: key "12345678901234567890", T = 59 s → 94287082 (8 digits); 6 → 287082.
    const rfcSecret = new ScureBase32Plugin().encode(Buffer.from('12345678901234567890'));
    expect(await totpCode(rfcSecret, 59_000)).toBe('287082');
    expect(await verifyTotp(rfcSecret, '287082', null, 59_000)).toEqual({ ok: true, step: 1 });
  });

  it('accepts the code of the current step and returns that step', async () => {
    const code = await totpCode(secret, T);
    expect(code).toMatch(/^\d{6}$/);
    expect(code).toBe(await generate({ secret, epoch: Math.floor(T / 1000) }));
    expect(await verifyTotp(secret, code, null, T)).toEqual({ ok: true, step: STEP_T });
    expect(await verifyTotp(secret, code, STEP_T - 1, T)).toEqual({ ok: true, step: STEP_T });
  });

  it('ignores spaces in the code', async () => {
    const code = await totpCode(secret, T);
    const spaced = ` ${code.slice(0, 3)} ${code.slice(3)}\t`;
    expect(await verifyTotp(secret, spaced, null, T)).toEqual({ ok: true, step: STEP_T });
  });

  it('refuses codes from two steps ago and from the next step', async () => {
    const old = await totpCode(secret, T - 2 * STEP_MS);
    const next = await totpCode(secret, T + STEP_MS);
    expect(await verifyTotp(secret, old, null, T)).toEqual({ ok: false, reason: 'invalid' });
    expect(await verifyTotp(secret, next, null, T)).toEqual({ ok: false, reason: 'invalid' });
    // No future grace either: a fast clock on the phone is not accepted, even 1 s early.
    const lastSecond = (STEP_T + 1) * STEP_MS - 1_000;
    expect(await verifyTotp(secret, next, null, lastSecond)).toEqual({
      ok: false,
      reason: 'invalid',
    });
  });

  it('accepts the previous step only during the first 5 s of the next', async () => {
    const boundary = (STEP_T + 1) * STEP_MS;
    const previous = await totpCode(secret, boundary - 1_000);
    for (const [offset, expected] of [
      [0, { ok: true, step: STEP_T }],
      [4_999, { ok: true, step: STEP_T }],
      [5_000, { ok: false, reason: 'invalid' }],
      [20_000, { ok: false, reason: 'invalid' }],
    ] as const) {
      expect(await verifyTotp(secret, previous, null, boundary + offset)).toEqual(expected);
    }
  });

  it('refuses a code whose step was already used, also after the step ends', async () => {
    const code = await totpCode(secret, T);
    const first = await verifyTotp(secret, code, null, T);
    expect(first).toEqual({ ok: true, step: STEP_T });
    expect(await verifyTotp(secret, code, STEP_T, T + 1_000)).toEqual({
      ok: false,
      reason: 'replayed',
    });
    // In the grace window of the next step the old code is still recognised as a replay.
    const graceTime = (STEP_T + 1) * STEP_MS + 2_000;
    expect(await verifyTotp(secret, code, STEP_T, graceTime)).toEqual({
      ok: false,
      reason: 'replayed',
    });
    // The next step's code is fresh.
    const nextCode = await totpCode(secret, graceTime);
    expect(await verifyTotp(secret, nextCode, STEP_T, graceTime)).toEqual({
      ok: true,
      step: STEP_T + 1,
    });
    // A last step in the future (clock went back) makes every code a replay, without throwing.
    expect(await verifyTotp(secret, code, STEP_T + 5, T)).toEqual({
      ok: false,
      reason: 'replayed',
    });
  });

  it('calls a wrong code invalid even when a step was used before', async () => {
    const code = await totpCode(secret, T);
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    expect(await verifyTotp(secret, wrong, STEP_T - 3, T)).toEqual({
      ok: false,
      reason: 'invalid',
    });
  });

  it('calls anything but six digits malformed', async () => {
    for (const code of ['', '12345', '1234567', '12345a', '123-456', '١٢٣٤٥٦', '0x1234']) {
      expect(await verifyTotp(secret, code, null, T)).toEqual({ ok: false, reason: 'malformed' });
    }
  });

  it('throws an INTERNAL AppError for a damaged secret', async () => {
    await expect(verifyTotp('not base32!', '123456', null, T)).rejects.toMatchObject({
      code: 'INTERNAL',
    });
  });
});

describe('sealTotpSecret / openTotpSecret', () => {
  const key = totpSealKey(randomBytes(32));
  const secret = newTotpSecret();

  it('round-trips and does not contain the secret', () => {
    const sealed = sealTotpSecret(key, 'fac_1', secret);
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain(secret);
    expect(sealTotpSecret(key, 'fac_1', secret)).not.toBe(sealed); // fresh IV
    expect(openTotpSecret(key, 'fac_1', sealed)).toBe(secret);
  });

  it('refuses a sealed secret with any flipped byte', () => {
    const sealed = sealTotpSecret(key, 'fac_1', secret);
    const raw = Buffer.from(sealed.slice(3), 'base64url');
    for (let i = 0; i < raw.length; i += 1) {
      const tampered = Buffer.from(raw);
      tampered[i]! ^= 0x01;
      expect(() => openTotpSecret(key, 'fac_1', `v1.${tampered.toString('base64url')}`)).toThrow(
        /could not be decrypted/,
      );
    }
  });

  it('refuses another factor id, another key and malformed text', () => {
    const sealed = sealTotpSecret(key, 'fac_1', secret);
    const attempts = [
      () => openTotpSecret(key, 'fac_2', sealed),
      () => openTotpSecret(totpSealKey(randomBytes(32)), 'fac_1', sealed),
      () => openTotpSecret(key, 'fac_1', sealed.slice(3)),
      () => openTotpSecret(key, 'fac_1', `${sealed}!`),
      () => openTotpSecret(key, 'fac_1', 'v1.'),
    ];
    for (const attempt of attempts) {
      let caught: unknown;
      try {
        attempt();
      } catch (error) {
        caught = error;
      }
      expect(isAppError(caught) && caught.code === 'INTERNAL').toBe(true);
      expect(String((caught as Error).message)).not.toContain(secret);
    }
  });

  it('derives a 32-byte seal key that differs per master key', () => {
    const master = randomBytes(32);
    expect(totpSealKey(master)).toHaveLength(32);
    expect(totpSealKey(master).equals(totpSealKey(master))).toBe(true);
    expect(totpSealKey(master).equals(totpSealKey(randomBytes(32)))).toBe(false);
  });
});
