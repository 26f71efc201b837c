// Tests for the password policy and the peppered Argon2id hasher.
import * as argon2 from '@node-rs/argon2';
import { hkdfSync, randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { deriveMasterSubkey } from '../privacy/master-key.js';
import {
  ARGON2_MIN_PARAMS,
  checkPasswordPolicy,
  MAX_CONCURRENT_HASHES,
  MAX_WAITING_HASHES,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
  PasswordHasher,
  passwordPepper,
} from './passwords.js';
import type { PasswordContext } from './passwords.js';

// A pass-through spy, so that tests can see which hash verifyDummy checks against.
vi.mock('@node-rs/argon2', async (importOriginal) => {
  const original = await importOriginal<typeof argon2>();
  return { ...original, verify: vi.fn(original.verify) };
});

const STRONG = 'tide maple quartz ochre lantern';
const CONTEXT = { email: 'marguerite.delacroix@acme-widgets.io', orgName: 'Acme Widgets' };

function reasonOf(password: string, context: PasswordContext = CONTEXT): string {
  const result = checkPasswordPolicy(password, context);
  return result.ok ? 'ok' : result.reason;
}

describe('checkPasswordPolicy', () => {
  it('accepts a long random passphrase', () => {
    expect(checkPasswordPolicy(STRONG, CONTEXT)).toEqual({ ok: true });
    expect(checkPasswordPolicy(randomBytes(24).toString('base64url'), {})).toEqual({ ok: true });
  });

  it('counts code points after NFKC, not UTF-16 units', () => {
    const emoji = ['🦊', '🌊', '🍋', '🎻', '🚲', '🧭', '🪁', '🛶', '🌵', '🧩', '🦉', '🪐'];
    expect(emoji.slice(0, 11).join('').length).toBe(22);
    expect(reasonOf(emoji.slice(0, 11).join(''))).toBe('too_short');
    expect(reasonOf(emoji.join(''))).not.toBe('too_short');
    // q + U+0301 has no precomposed form, so NFKC keeps two code points per pair.
    expect(reasonOf('q\u0301'.repeat(5) + 'z')).toBe('too_short'); // 11 code points
    expect(reasonOf('q\u0301'.repeat(6))).not.toBe('too_short'); // 12 code points
    // e + U+0301 composes to é under NFKC: twelve of them are 12 characters, not 24.
    expect(reasonOf('e\u0301'.repeat(6) + 'x'.repeat(5))).toBe('too_short');
    // The ligature ﬁ decomposes to "fi" under NFKC: 11 typed, 12 counted.
    expect(reasonOf('ﬁrmament-lo')).not.toBe('too_short');
  });

  it(`rejects ${PASSWORD_MIN_LENGTH - 1} characters and allows ${PASSWORD_MIN_LENGTH}`, () => {
    expect(reasonOf('vx7-Kq2#wLp')).toBe('too_short');
    expect(reasonOf('vx7-Kq2#wLpz')).toBe('ok');
  });

  it(`allows ${PASSWORD_MAX_LENGTH} characters and rejects ${PASSWORD_MAX_LENGTH + 1}`, () => {
    const long = randomBytes(PASSWORD_MAX_LENGTH).toString('hex').slice(0, PASSWORD_MAX_LENGTH);
    // (The strength estimate reads only a bounded prefix: unbounded zxcvbn took seconds on this.)
    expect(reasonOf(long)).toBe('ok');
    expect(reasonOf(`${long}a`)).toBe('too_long');
    expect(reasonOf('🦊'.repeat(PASSWORD_MAX_LENGTH + 1))).toBe('too_long');
  });

  it('rejects common and breached passwords, whatever the case or spacing', () => {
    expect(reasonOf('password1234')).toBe('common');
    expect(reasonOf('Qwerty123456')).toBe('common');
    expect(reasonOf('1q2w3e4r5t6y')).toBe('common');
    expect(reasonOf('leave me alone')).toBe('common');
    expect(reasonOf('correcthorsebatterystaple')).toBe('common');
    expect(reasonOf('Correct Horse Battery Staple')).toBe('common');
  });

  it('rejects context words used as the password', () => {
    expect(reasonOf('marguerite.delacroix')).toBe('context');
    expect(reasonOf('Marguerite Delacroix')).toBe('context');
    expect(reasonOf('marguerite.delacroix@acme-widgets.io')).toBe('context');
    expect(reasonOf('acme widgets', { orgName: 'Acme Widgets!' })).toBe('context');
    // Without the context the same e-mail local part is only a name.
    expect(reasonOf('marguerite.delacroix', {})).not.toBe('context');
  });

  it('lets zxcvbn refuse guessable variations of context words', () => {
    expect(reasonOf('marguerite.delacroix1')).toBe('context');
    expect(reasonOf('Sillage2025!')).toBe('context');
    expect(reasonOf('sillage123456')).toBe('context');
  });

  it('rejects weak passwords that are not in the list', () => {
    expect(reasonOf('aaaaaaaaaaaaaaa')).toBe('weak');
    expect(reasonOf('abcdefghijklmnop')).toBe('weak');
  });

  it('explains without echoing the password', () => {
    const password = 'marguerite.delacroix';
    for (const candidate of [password, 'password1234', 'aaaaaaaaaaaaaaa', 'short']) {
      const result = checkPasswordPolicy(candidate, CONTEXT);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.message.length).toBeGreaterThan(10);
        expect(result.message.toLowerCase()).not.toContain(candidate);
      }
    }
  });
});

describe('PasswordHasher', () => {
  const pepper = randomBytes(32);
  const hasher = new PasswordHasher(pepper);

  it('hashes with Argon2id at least m=19456, t=2, p=1 and verifies', async () => {
    const stored = await hasher.hash(STRONG);
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await hasher.verify(stored, STRONG)).toEqual({ ok: true, needsRehash: false });
    expect(await hasher.hash(STRONG)).not.toBe(stored); // salted
  });

  it('refuses a wrong password', async () => {
    const stored = await hasher.hash(STRONG);
    expect(await hasher.verify(stored, `${STRONG} `)).toEqual({ ok: false, needsRehash: false });
    expect((await hasher.verify(stored, STRONG.slice(0, -1))).ok).toBe(false);
  });

  it('refuses the right password under another pepper', async () => {
    const stored = await hasher.hash(STRONG);
    const other = new PasswordHasher(randomBytes(32));
    expect((await other.verify(stored, STRONG)).ok).toBe(false);
    // And a hash made without any pepper does not verify either.
    const unpeppered = await argon2.hash(STRONG, ARGON2_MIN_PARAMS);
    expect((await hasher.verify(unpeppered, STRONG)).ok).toBe(false);
  });

  it('treats NFKC-equivalent passwords as equal', async () => {
    const composed = 'caf\u00e9 au lait sous la pluie';
    const decomposed = 'cafe\u0301 au lait sous la pluie';
    expect(composed).not.toBe(decomposed);
    const stored = await hasher.hash(composed);
    expect((await hasher.verify(stored, decomposed)).ok).toBe(true);
  });

  it('never truncates: a difference in the last of 256 characters matters', async () => {
    const long = 'x'.repeat(PASSWORD_MAX_LENGTH - 1);
    const stored = await hasher.hash(`${long}a`);
    expect((await hasher.verify(stored, `${long}a`)).ok).toBe(true);
    expect((await hasher.verify(stored, `${long}b`)).ok).toBe(false);
    await expect(hasher.hash(`${long}ab`)).rejects.toMatchObject({
      code: 'AUTH_PASSWORD_REJECTED',
    });
  });

  it('asks for a rehash when the stored parameters are below the current ones', async () => {
    // Made directly with argon2: the hasher itself refuses parameters below the floor.
    const weak = await argon2.hash(STRONG, {
      memoryCost: 1024,
      timeCost: 1,
      parallelism: 1,
      secret: pepper,
    });
    expect(await hasher.verify(weak, STRONG)).toEqual({ ok: true, needsRehash: true });
    expect(await hasher.verify(weak, 'not the password')).toEqual({
      ok: false,
      needsRehash: false,
    });
    const stronger = new PasswordHasher(pepper, { timeCost: 3 });
    const current = await hasher.hash(STRONG);
    expect(await stronger.verify(current, STRONG)).toEqual({ ok: true, needsRehash: true });
  });

  it('refuses parameters below the floor and peppers of the wrong size', () => {
    expect(() => new PasswordHasher(pepper, { memoryCost: 1024 })).toThrow(/memoryCost/);
    expect(() => new PasswordHasher(pepper, { timeCost: 1 })).toThrow(/timeCost/);
    expect(() => new PasswordHasher(randomBytes(16))).toThrow(/32 bytes/);
  });

  it('never matches a stored value that is not an Argon2 hash', async () => {
    for (const stored of ['', '!', '$2b$10$abcdefghijklmnopqrstuv', '$argon2id$garbage']) {
      expect(await hasher.verify(stored, STRONG)).toEqual({ ok: false, needsRehash: false });
    }
  });

  it('makes verifyDummy do one Argon2 check at the current cost with the pepper', async () => {
    const spy = vi.mocked(argon2.verify);
    spy.mockClear();
    await hasher.verifyDummy(STRONG);
    expect(spy).toHaveBeenCalledTimes(1);
    const [dummyHash, , options] = spy.mock.calls[0]!;
    expect(argon2.parseOptions(dummyHash as string)).toMatchObject({
      algorithm: 2,
      ...ARGON2_MIN_PARAMS,
      outputLen: 32,
    });
    expect(options?.secret).toEqual(pepper);
    // The unknown-account path of verify costs the same single check.
    spy.mockClear();
    await hasher.verify('!', STRONG);
    expect(spy).toHaveBeenCalledTimes(1);
  });
});

describe('PasswordHasher under a flood of sign-ins', () => {
  it('runs one hash at a time, queues a bounded number and refuses the rest', async () => {
    const hasher = new PasswordHasher(randomBytes(32));
    const extra = 5;
    const outcomes = await Promise.allSettled(
      Array.from({ length: MAX_CONCURRENT_HASHES + MAX_WAITING_HASHES + extra }, () =>
        hasher.verifyDummy('some password or other'),
      ),
    );
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(refused).toHaveLength(extra);
    for (const r of refused) {
      expect(r.reason).toMatchObject({ code: 'AUTH_THROTTLED' });
    }
    // Once the queue has drained, sign-ins are served again.
    await expect(hasher.verifyDummy('another one entirely')).resolves.toBeUndefined();
  });
});

describe('passwordPepper', () => {
  it('is the HKDF subkey labelled password-pepper, distinct from other subkeys', () => {
    const master = randomBytes(32);
    const pepper = passwordPepper(master);
    expect(pepper).toHaveLength(32);
    const expected = Buffer.from(
      hkdfSync('sha256', master, Buffer.alloc(0), 'sillage/v1/master/password-pepper', 32),
    );
    expect(pepper.equals(expected)).toBe(true);
    expect(pepper.equals(deriveMasterSubkey(master, 'check'))).toBe(false);
    expect(passwordPepper(randomBytes(32)).equals(pepper)).toBe(false);
    expect(() => passwordPepper(randomBytes(16))).toThrow();
  });
});
