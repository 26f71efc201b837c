// Passkey ceremonies against a software authenticator: what must verify and what must not.
// Reproduce a property failure with FC_SEED=<seed in the describe title>.
import crypto from 'node:crypto';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { AuthenticatorError, SoftwareAuthenticator } from '../../test/helpers/authenticator.js';
import { AppError } from '../shared/errors.js';
import {
  authenticationOptions,
  credentialIdOf,
  isStrictDerEcdsaSignature,
  registrationOptions,
  userIdOf,
  verifyAuthentication,
  verifyRegistration,
  type RelyingParty,
  type StoredCredential,
} from './webauthn.js';

const SEED = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));

const ORIGIN = 'http://localhost:8080';
const RP: RelyingParty = { id: 'localhost', name: 'Sillage', origins: [ORIGIN] };
const PHISHING_ORIGIN = 'https://sillage-login.example.net';
const USER = { id: 'usr_01HZXAMPLE', name: 'ada@example.com' };

const b64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

/** Runs `fn` and returns the AppError it must throw (anything else fails the test). */
async function rejection(fn: () => Promise<unknown>): Promise<AppError> {
  let thrown: unknown;
  try {
    await fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'expected a rejection').toBeInstanceOf(AppError);
  const err = thrown as AppError;
  expect(err.code).toBe('AUTH_WEBAUTHN_INVALID');
  expect(err.status).toBe(401);
  return err;
}

async function register(
  authenticator: SoftwareAuthenticator,
  opts: { backupEligible?: boolean } = {},
): Promise<StoredCredential> {
  const { options, challenge } = await registrationOptions(RP, USER, []);
  const response = authenticator.createCredential(options, ORIGIN, opts);
  return (await verifyRegistration(RP, response, challenge)).credential;
}

/** One sign-in (options, assertion, verification); returns the stored credential updated. */
async function signIn(
  authenticator: SoftwareAuthenticator,
  stored: StoredCredential,
): Promise<StoredCredential> {
  const { options, challenge } = await authenticationOptions(RP, [stored]);
  const response = authenticator.getAssertion(options, ORIGIN);
  const { newCounter } = await verifyAuthentication(RP, response, challenge, stored);
  return { ...stored, counter: newCounter };
}

describe('registration', () => {
  it('asks for UV, a discoverable credential, no attestation, a 32-byte challenge', async () => {
    const { options, challenge } = await registrationOptions(RP, USER, []);
    expect(options.rp).toEqual({ id: 'localhost', name: 'Sillage' });
    expect(options.user.id).toBe(b64url(USER.id));
    expect(options.user.name).toBe(USER.name);
    expect(options.authenticatorSelection?.userVerification).toBe('required');
    expect(options.authenticatorSelection?.residentKey).toBe('preferred');
    expect(options.attestation).toBe('none');
    const algs = options.pubKeyCredParams.map((p) => p.alg);
    expect(algs).toEqual(expect.arrayContaining([-7, -257]));
    expect(algs.every((a) => [-7, -8, -257].includes(a))).toBe(true);
    expect(challenge).toBe(options.challenge);
    expect(Buffer.from(challenge, 'base64url')).toHaveLength(32);
    const again = await registrationOptions(RP, USER, []);
    expect(again.challenge).not.toBe(challenge);
  });

  it('round-trips: the stored credential is the one the authenticator made', async () => {
    const authenticator = new SoftwareAuthenticator();
    const { options, challenge } = await registrationOptions(RP, USER, []);
    const result = await verifyRegistration(
      RP,
      authenticator.createCredential(options, ORIGIN),
      challenge,
    );
    const made = authenticator.credentials[0]!;
    expect(result.credential.credentialId).toBe(made.credentialId);
    expect(result.credential.counter).toBe(0);
    expect(result.credential.transports).toEqual(['internal']);
    expect(result.credential.publicKey.byteLength).toBeGreaterThan(64);
    expect(result.deviceType).toBe('singleDevice');
    expect(result.backedUp).toBe(false);
    expect(result.aaguid).toBe('00000000-0000-0000-0000-000000000000');
    expect(made.userHandle).toBe(b64url(USER.id));
  });

  it('reports a synced passkey as multi-device and backed up', async () => {
    const authenticator = new SoftwareAuthenticator();
    const { options, challenge } = await registrationOptions(RP, USER, []);
    const response = authenticator.createCredential(options, ORIGIN, { backupEligible: true });
    const result = await verifyRegistration(RP, response, challenge);
    expect(result.deviceType).toBe('multiDevice');
    expect(result.backedUp).toBe(true);
  });

  // NIST SP 800-63B-4 App. B: verifiers SHALL request and inspect UV.
  it('rejects a credential made without user verification', async () => {
    const { options, challenge } = await registrationOptions(RP, USER, []);
    const response = new SoftwareAuthenticator().createCredential(options, ORIGIN, {
      userVerified: false,
    });
    await rejection(() => verifyRegistration(RP, response, challenge));
  });

  it('rejects a credential made without user presence', async () => {
    const { options, challenge } = await registrationOptions(RP, USER, []);
    const response = new SoftwareAuthenticator().createCredential(options, ORIGIN, {
      userPresent: false,
    });
    await rejection(() => verifyRegistration(RP, response, challenge));
  });

  it('rejects a registration made on a phishing page', async () => {
    const { options, challenge } = await registrationOptions(RP, USER, []);
    const response = new SoftwareAuthenticator().createCredential(options, PHISHING_ORIGIN);
    const err = await rejection(() => verifyRegistration(RP, response, challenge));
    // The message is safe to show and log: it does not echo the origin or challenge.
    expect(err.message).not.toContain('sillage-login');
    expect(err.message).not.toContain(challenge);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('rejects a credential scoped to another RP ID', async () => {
    const { options, challenge } = await registrationOptions(RP, USER, []);
    const response = new SoftwareAuthenticator().createCredential(
      { ...options, rp: { ...options.rp, id: 'sillage-login.example.net' } },
      ORIGIN,
    );
    await rejection(() => verifyRegistration(RP, response, challenge));
  });

  it('rejects an answer to another challenge', async () => {
    const { options } = await registrationOptions(RP, USER, []);
    const { challenge: other } = await registrationOptions(RP, USER, []);
    const response = new SoftwareAuthenticator().createCredential(options, ORIGIN);
    await rejection(() => verifyRegistration(RP, response, other));
  });

  it('rejects an assertion passed off as a registration', async () => {
    const authenticator = new SoftwareAuthenticator();
    const stored = await register(authenticator);
    const { options, challenge } = await authenticationOptions(RP, [stored]);
    const assertion = authenticator.getAssertion(options, ORIGIN);
    await rejection(() => verifyRegistration(RP, assertion, challenge));
  });

  it('excludes passkeys the user already has', async () => {
    const authenticator = new SoftwareAuthenticator();
    const stored = await register(authenticator);
    const { options, challenge } = await registrationOptions(RP, USER, [stored]);
    expect(options.excludeCredentials).toEqual([
      { id: stored.credentialId, transports: ['internal'], type: 'public-key' },
    ]);
    expect(() => authenticator.createCredential(options, ORIGIN)).toThrow(AuthenticatorError);
    expect(() => authenticator.createCredential(options, ORIGIN)).toThrow(
      expect.objectContaining({ name: 'InvalidStateError' }),
    );
    // Another authenticator can still be added.
    const second = new SoftwareAuthenticator().createCredential(options, ORIGIN);
    const result = await verifyRegistration(RP, second, challenge);
    expect(result.credential.credentialId).not.toBe(stored.credentialId);
  });

  it('refuses a user ID that cannot be a user handle', async () => {
    await expect(registrationOptions(RP, { id: '', name: 'x@example.com' }, [])).rejects.toThrow(
      RangeError,
    );
    await expect(
      registrationOptions(RP, { id: 'x'.repeat(65), name: 'x@example.com' }, []),
    ).rejects.toThrow(RangeError);
  });
});

describe('authentication', () => {
  let authenticator: SoftwareAuthenticator;
  let stored: StoredCredential;

  beforeEach(async () => {
    authenticator = new SoftwareAuthenticator();
    stored = await register(authenticator);
  });

  it('asks for UV, names the allowed credentials and uses a 32-byte challenge', async () => {
    const { options, challenge } = await authenticationOptions(RP, [stored]);
    expect(options.rpId).toBe('localhost');
    expect(options.userVerification).toBe('required');
    expect(options.allowCredentials).toEqual([
      { id: stored.credentialId, transports: ['internal'], type: 'public-key' },
    ]);
    expect(challenge).toBe(options.challenge);
    expect(Buffer.from(challenge, 'base64url')).toHaveLength(32);
  });

  it('round-trips and the counter goes up each time', async () => {
    const first = await signIn(authenticator, stored);
    expect(first.counter).toBe(1);
    const second = await signIn(authenticator, first);
    expect(second.counter).toBe(2);
    expect(authenticator.credentials[0]!.counter).toBe(2);

    const { options, challenge } = await authenticationOptions(RP, [second]);
    const result = await verifyAuthentication(
      RP,
      authenticator.getAssertion(options, ORIGIN),
      challenge,
      second,
    );
    expect(result).toEqual({ newCounter: 3, userVerified: true, backedUp: false });
  });

  it('signs in with a discoverable passkey when no credentials are named', async () => {
    const { options, challenge } = await authenticationOptions(RP, []);
    expect(options.allowCredentials).toBeUndefined();
    const response = authenticator.getAssertion(options, ORIGIN);
    expect(credentialIdOf(response)).toBe(stored.credentialId);
    expect(userIdOf(response)).toBe(USER.id);
    const result = await verifyAuthentication(RP, response, challenge, stored);
    expect(result.newCounter).toBe(1);
  });

  it('rejects an assertion without user verification', async () => {
    const { options, challenge } = await authenticationOptions(RP, [stored]);
    const response = authenticator.getAssertion(options, ORIGIN, { userVerified: false });
    await rejection(() => verifyAuthentication(RP, response, challenge, stored));
  });

  it('rejects an assertion without user presence', async () => {
    const { options, challenge } = await authenticationOptions(RP, [stored]);
    const response = authenticator.getAssertion(options, ORIGIN, { userPresent: false });
    await rejection(() => verifyAuthentication(RP, response, challenge, stored));
  });

  it('rejects an assertion relayed from a phishing proxy page', async () => {
    // The proxy fetched real options from us and ran them on its own origin.
    const { options, challenge } = await authenticationOptions(RP, [stored]);
    const response = authenticator.getAssertion(options, PHISHING_ORIGIN);
    const err = await rejection(() => verifyAuthentication(RP, response, challenge, stored));
    expect(err.message).not.toContain('sillage-login');
    expect(err.message).not.toContain(challenge);
  });

  it('rejects an assertion for another RP ID', async () => {
    // Same origin, valid signature and challenge: only the RP ID hash in authData is wrong.
    const other: RelyingParty = { ...RP, id: 'analytics.example.com' };
    const { options, challenge } = await authenticationOptions(RP, [stored]);
    const response = authenticator.getAssertion(options, ORIGIN);
    await rejection(() => verifyAuthentication(other, response, challenge, stored));
  });

  it('has no credential to offer a page asking for another RP ID', async () => {
    const { options } = await authenticationOptions(RP, [stored]);
    expect(() =>
      authenticator.getAssertion({ ...options, rpId: 'sillage-login.example.net' }, ORIGIN),
    ).toThrow(expect.objectContaining({ name: 'NotAllowedError' }));
  });

  it('rejects a replayed assertion against a new challenge', async () => {
    const old = await authenticationOptions(RP, [stored]);
    const response = authenticator.getAssertion(old.options, ORIGIN);
    const { newCounter } = await verifyAuthentication(RP, response, old.challenge, stored);
    const fresh = await authenticationOptions(RP, [stored]);
    await rejection(() =>
      verifyAuthentication(RP, response, fresh.challenge, { ...stored, counter: newCounter }),
    );
  });

  it('rejects a replay even with the old challenge once the counter is stored', async () => {
    const { options, challenge } = await authenticationOptions(RP, [stored]);
    const response = authenticator.getAssertion(options, ORIGIN);
    const { newCounter } = await verifyAuthentication(RP, response, challenge, stored);
    await rejection(() =>
      verifyAuthentication(RP, response, challenge, { ...stored, counter: newCounter }),
    );
  });

  it('rejects a cloned authenticator whose counter falls behind', async () => {
    const clone = authenticator.clone();
    let current = await signIn(authenticator, stored);
    current = await signIn(authenticator, current);
    expect(current.counter).toBe(2);
    // The clone has signed once: its counter (1) is behind the stored 2.
    const { options, challenge } = await authenticationOptions(RP, [current]);
    const response = clone.getAssertion(options, ORIGIN);
    await rejection(() => verifyAuthentication(RP, response, challenge, current));
  });

  it('rejects a counter equal to the stored one, and a counter reset to 0', async () => {
    const current = await signIn(authenticator, await signIn(authenticator, stored));
    for (const counterOverride of [current.counter, 1, 0]) {
      const { options, challenge } = await authenticationOptions(RP, [current]);
      const response = authenticator.getAssertion(options, ORIGIN, { counterOverride });
      await rejection(() => verifyAuthentication(RP, response, challenge, current));
    }
  });

  it('accepts authenticators that never count (counter stays 0 on both sides)', async () => {
    const { options, challenge } = await authenticationOptions(RP, [stored]);
    const response = authenticator.getAssertion(options, ORIGIN, { counterOverride: 0 });
    const result = await verifyAuthentication(RP, response, challenge, stored);
    expect(result.newCounter).toBe(0);
  });

  it('rejects an assertion checked against another stored credential', async () => {
    const otherAuthenticator = new SoftwareAuthenticator();
    const other = await register(otherAuthenticator);
    const { options, challenge } = await authenticationOptions(RP, [stored, other]);
    const response = authenticator.getAssertion(options, ORIGIN);
    expect(credentialIdOf(response)).toBe(stored.credentialId);
    await rejection(() => verifyAuthentication(RP, response, challenge, other));
    // Even when the ID is rewritten to match, the other key does not verify the signature.
    const relabelled = { ...response, id: other.credentialId, rawId: other.credentialId };
    await rejection(() => verifyAuthentication(RP, relabelled, challenge, other));
  });

  it('rejects a valid signature with bytes appended (the library alone accepts it)', async () => {
    const { options, challenge } = await authenticationOptions(RP, [stored]);
    const response = authenticator.getAssertion(options, ORIGIN);
    const signature = Buffer.concat([
      Buffer.from(response.response.signature, 'base64url'),
      Buffer.from([0]),
    ]);
    const padded = {
      ...response,
      response: { ...response.response, signature: signature.toString('base64url') },
    };
    await rejection(() => verifyAuthentication(RP, padded, challenge, stored));
    // The untouched assertion verifies.
    await verifyAuthentication(RP, response, challenge, stored);
  });

  it('rejects a registration response passed off as an assertion', async () => {
    const { options, challenge } = await registrationOptions(RP, USER, []);
    const response = new SoftwareAuthenticator().createCredential(options, ORIGIN);
    await rejection(() => verifyAuthentication(RP, response, challenge, stored));
  });
});

describe('malformed responses', () => {
  let authenticator: SoftwareAuthenticator;
  let stored: StoredCredential;
  let regChallenge: string;
  let registration: Record<string, unknown>;
  let authChallenge: string;
  let assertion: Record<string, unknown>;

  beforeEach(async () => {
    authenticator = new SoftwareAuthenticator();
    stored = await register(authenticator);
    const reg = await registrationOptions(RP, { id: 'usr_2', name: 'bob@example.com' }, []);
    regChallenge = reg.challenge;
    registration = structuredClone(
      new SoftwareAuthenticator().createCredential(reg.options, ORIGIN),
    ) as unknown as Record<string, unknown>;
    const auth = await authenticationOptions(RP, [stored]);
    authChallenge = auth.challenge;
    assertion = structuredClone(
      authenticator.getAssertion(auth.options, ORIGIN),
    ) as unknown as Record<string, unknown>;
  });

  const junkJson = b64url('{"type":"webauthn.get"');
  const nullJson = b64url('null');
  const notBase64 = '***not base64***';
  const nonCanonical = 'A';

  function withResponse(base: Record<string, unknown>, patch: Record<string, unknown>) {
    return { ...base, response: { ...(base.response as object), ...patch } };
  }

  it('turns any malformed assertion into AUTH_WEBAUTHN_INVALID, never a TypeError', async () => {
    const cases: unknown[] = [
      null,
      undefined,
      42,
      'a string',
      [],
      {},
      { ...assertion, response: undefined },
      { ...assertion, response: null },
      { ...assertion, response: 'x' },
      { ...assertion, id: undefined },
      { ...assertion, id: 123 },
      { ...assertion, rawId: notBase64 },
      { ...assertion, type: 'password' },
      withResponse(assertion, { clientDataJSON: undefined }),
      withResponse(assertion, { clientDataJSON: 17 }),
      withResponse(assertion, { clientDataJSON: notBase64 }),
      withResponse(assertion, { clientDataJSON: nonCanonical }),
      withResponse(assertion, { clientDataJSON: junkJson }),
      withResponse(assertion, { clientDataJSON: nullJson }),
      withResponse(assertion, { clientDataJSON: b64url('[]') }),
      withResponse(assertion, { authenticatorData: undefined }),
      withResponse(assertion, { authenticatorData: b64url('short') }),
      withResponse(assertion, { authenticatorData: {} }),
      withResponse(assertion, { signature: '' }),
      withResponse(assertion, { signature: notBase64 }),
      withResponse(assertion, { signature: b64url('not a DER signature') }),
      withResponse(assertion, { userHandle: 5 }),
      { ...assertion, clientExtensionResults: 'x' },
    ];
    for (const input of cases) {
      const err = await rejection(() => verifyAuthentication(RP, input, authChallenge, stored));
      expect(err.message).not.toContain(notBase64);
    }
  });

  it('turns any malformed registration into AUTH_WEBAUTHN_INVALID, never a TypeError', async () => {
    const cases: unknown[] = [
      null,
      undefined,
      0,
      {},
      { ...registration, response: undefined },
      { ...registration, id: undefined },
      { ...registration, rawId: 'AAAA' },
      { ...registration, type: 7 },
      withResponse(registration, { clientDataJSON: undefined }),
      withResponse(registration, { clientDataJSON: notBase64 }),
      withResponse(registration, { clientDataJSON: junkJson }),
      withResponse(registration, { clientDataJSON: nullJson }),
      withResponse(registration, { attestationObject: undefined }),
      withResponse(registration, { attestationObject: nonCanonical }),
      withResponse(registration, { attestationObject: b64url('not CBOR at all') }),
      withResponse(registration, { attestationObject: Buffer.from([0xa0]).toString('base64url') }),
      withResponse(registration, { transports: 'usb' }),
      withResponse(registration, { transports: [1, 2] }),
    ];
    for (const input of cases) {
      await rejection(() => verifyRegistration(RP, input, regChallenge));
    }
  });

  it('names the wrong field, not its value', async () => {
    const err = await rejection(() =>
      verifyAuthentication(
        RP,
        withResponse(assertion, { signature: notBase64 }),
        authChallenge,
        stored,
      ),
    );
    expect(err.message).toContain('response.signature');
    expect(err.details?.map((d) => d.path)).toContain('response.signature');
    expect(JSON.stringify(err.details)).not.toContain(notBase64);
  });

  it('reads the credential ID only from a well-formed ID', () => {
    expect(credentialIdOf(assertion)).toBe(stored.credentialId);
    // 32 bytes need one '=' of padding; the ID comes back in the stored, unpadded form.
    expect(credentialIdOf({ ...assertion, id: `${stored.credentialId}=` })).toBe(
      stored.credentialId,
    );
    for (const input of [null, undefined, 'x', {}, { id: 5 }, { id: '' }, { id: notBase64 }]) {
      expect(credentialIdOf(input)).toBeNull();
    }
    expect(userIdOf({ response: { userHandle: Buffer.from([0xff]).toString('base64url') } })).toBe(
      null,
    );
    expect(userIdOf({})).toBeNull();
  });
});

describe('isStrictDerEcdsaSignature', () => {
  it('accepts what OpenSSL produces, including short r and s', () => {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const lengths = new Set<number>();
    for (let i = 0; i < 400; i++) {
      const sig = crypto.sign('sha256', Buffer.from(`message ${i}`), privateKey);
      lengths.add(sig.length);
      expect(isStrictDerEcdsaSignature(sig)).toBe(true);
    }
    // 70–72 bytes are routine; shorter ones mean an r or s lost a leading zero byte.
    expect(lengths.size).toBeGreaterThan(1);
  });

  it('rejects BER leniencies and trailing bytes', () => {
    const r = [0x01, 0x02];
    const s = [0x03];
    const ok = [0x30, 0x07, 0x02, 0x02, ...r, 0x02, 0x01, ...s];
    expect(isStrictDerEcdsaSignature(Uint8Array.from(ok))).toBe(true);
    const bad: number[][] = [
      [...ok, 0x00], // trailing byte
      [0x30, 0x81, 0x07, 0x02, 0x02, ...r, 0x02, 0x01, ...s], // long form for a short length
      [0x30, 0x08, 0x02, 0x03, 0x00, ...r, 0x02, 0x01, ...s], // unneeded leading zero
      [0x30, 0x07, 0x02, 0x02, 0x81, 0x02, 0x02, 0x01, ...s], // negative r
      [0x30, 0x05, 0x02, 0x00, 0x02, 0x01, ...s], // empty r
      [0x31, 0x07, 0x02, 0x02, ...r, 0x02, 0x01, ...s], // SET, not SEQUENCE
      [0x30, 0x07, 0x02, 0x02, ...r, 0x02, 0x02, ...s], // s runs past the end
      [0x30, 0x04, 0x02, 0x02, ...r], // only r
      [],
    ];
    for (const sig of bad) expect(isStrictDerEcdsaSignature(Uint8Array.from(sig))).toBe(false);
  });
});

describe(`properties (FC_SEED=${SEED})`, () => {
  const params = { seed: SEED, numRuns: 150 };

  type AssertionJSON = ReturnType<SoftwareAuthenticator['getAssertion']>;
  const SIGNED_FIELDS = [
    'id',
    'rawId',
    'type',
    'clientDataJSON',
    'authenticatorData',
    'signature',
  ] as const;
  type Field = (typeof SIGNED_FIELDS)[number];

  function get(a: AssertionJSON, field: Field): string {
    return field === 'id' || field === 'rawId' || field === 'type' ? a[field] : a.response[field];
  }
  function set(a: AssertionJSON, field: Field, value: unknown): unknown {
    return field === 'id' || field === 'rawId' || field === 'type'
      ? { ...a, [field]: value }
      : { ...a, response: { ...a.response, [field]: value } };
  }

  /** A change to a field's value; each arbitrary returns a value different from the input. */
  const mutation = fc.oneof(
    // Flip one bit of the decoded bytes and re-encode (stays well-formed base64url).
    fc.record({
      kind: fc.constant('bit' as const),
      at: fc.nat(),
      bit: fc.integer({ min: 0, max: 7 }),
    }),
    // Cut the decoded bytes short.
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    // Append bytes.
    fc.record({
      kind: fc.constant('append' as const),
      extra: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
    // Replace the text with anything at all.
    fc.record({ kind: fc.constant('replace' as const), value: fc.anything() }),
  );

  function mutate(
    text: string,
    m: typeof mutation extends fc.Arbitrary<infer T> ? T : never,
  ): unknown {
    const bytes = Buffer.from(text, 'base64url');
    switch (m.kind) {
      case 'bit': {
        if (bytes.length === 0) return `${text}x`;
        const copy = Buffer.from(bytes);
        const i = m.at % copy.length;
        copy[i] = copy[i]! ^ (1 << m.bit);
        return copy.toString('base64url');
      }
      case 'truncate':
        return bytes.subarray(0, m.at % Math.max(bytes.length, 1)).toString('base64url');
      case 'append':
        return Buffer.concat([bytes, m.extra]).toString('base64url');
      case 'replace':
        return m.value === text ? `${text}x` : m.value;
    }
  }

  it('no single-field mutation of a valid assertion verifies', async () => {
    const authenticator = new SoftwareAuthenticator();
    let stored = await register(authenticator);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...SIGNED_FIELDS), mutation, async (field, m) => {
        const { options, challenge } = await authenticationOptions(RP, [stored]);
        const valid = authenticator.getAssertion(options, ORIGIN);
        const original = get(valid, field);
        const changed =
          field === 'type' ? (m.kind === 'replace' ? m.value : 'public-keys') : mutate(original, m);
        if (changed === original) return; // the mutation happened to be a no-op
        const tampered = set(valid, field, changed);
        await rejection(() => verifyAuthentication(RP, tampered, challenge, stored));
        // The untouched assertion still verifies: the rejection was the mutation's doing.
        const { newCounter } = await verifyAuthentication(RP, valid, challenge, stored);
        stored = { ...stored, counter: newCounter };
      }),
      params,
    );
  });

  it('arbitrary input is rejected with AUTH_WEBAUTHN_INVALID and nothing else', async () => {
    const authenticator = new SoftwareAuthenticator();
    const stored = await register(authenticator);
    const { challenge } = await authenticationOptions(RP, [stored]);
    const { challenge: regChallenge } = await registrationOptions(RP, USER, []);
    await fc.assert(
      fc.asyncProperty(fc.anything(), async (input) => {
        await rejection(() => verifyAuthentication(RP, input, challenge, stored));
        await rejection(() => verifyRegistration(RP, input, regChallenge));
        expect(credentialIdOf(input) === null || typeof credentialIdOf(input) === 'string').toBe(
          true,
        );
      }),
      params,
    );
  });
});
