// A software WebAuthn authenticator (and the browser's clientDataJSON) for passkey e2e tests.
import crypto, { type KeyObject } from 'node:crypto';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { isoCBOR } from '@simplewebauthn/server/helpers';

/** One credential the software authenticator holds. */
export interface SoftwareCredential {
  /** Credential ID, base64url without padding. */
  readonly credentialId: string;
  /** The RP ID the credential is scoped to (what was in the creation options). */
  readonly rpId: string;
  /** The user handle from the creation options (base64url, as `options.user.id`). */
  readonly userHandle: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** Signature counter; 0 at creation, incremented before each assertion. */
  counter: number;
  /** Resident ("discoverable"): usable without allowCredentials, and returns userHandle. */
  readonly discoverable: boolean;
  /** BE flag; a backup-eligible credential also reports BS (backed up), like a synced passkey. */
  readonly backupEligible: boolean;
}

/** Options for {@link SoftwareAuthenticator.createCredential}. */
export interface CreateOptions {
  /** UV flag (PIN or biometric done). Default true. */
  userVerified?: boolean;
  /** UP flag (the user touched it). Default true; false is never what a real client sends. */
  userPresent?: boolean;
  /** Set BE and BS, like a synced passkey. Default false (a hardware key). */
  backupEligible?: boolean;
}

/** Options for {@link SoftwareAuthenticator.getAssertion}. */
export interface AssertOptions {
  /** UV flag. Default true. */
  userVerified?: boolean;
  /** UP flag. Default true. */
  userPresent?: boolean;
  /** Use this credential (must be usable for the request); default: the first usable one. */
  credentialId?: string;
  /**
   * Sign this counter value and leave the stored counter alone (a clone, or an authenticator
   * that always reports 0).
   */
  counterOverride?: number;
}

/** An error shaped like the DOMException a browser would reject `create()`/`get()` with. */
export class AuthenticatorError extends Error {
  constructor(
    name: 'InvalidStateError' | 'NotAllowedError' | 'NotSupportedError',
    message: string,
  ) {
    super(message);
    this.name = name;
  }
}

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;
const COSE_ALG_ES256 = -7;

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
const fromB64url = (text: string): Buffer => Buffer.from(text, 'base64url');
const sha256 = (data: Uint8Array | string): Buffer =>
  crypto.createHash('sha256').update(data).digest();

/** Flags byte of authenticator data. */
function flagsByte(up: boolean, uv: boolean, backupEligible: boolean, attested: boolean): number {
  return (
    (up ? FLAG_UP : 0) |
    (uv ? FLAG_UV : 0) |
    (backupEligible ? FLAG_BE | FLAG_BS : 0) |
    (attested ? FLAG_AT : 0)
  );
}

function counterBytes(counter: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(counter >>> 0);
  return out;
}

/** The credential's public key as a COSE_Key (RFC 9053 §7.1.1): integer labels, so a Map. */
function coseEc2PublicKey(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.x === undefined || jwk.y === undefined) throw new Error('not an EC public key');
  const cose = new Map<number, number | Uint8Array>([
    [1, 2], // kty: EC2
    [3, COSE_ALG_ES256], // alg: ES256
    [-1, 1], // crv: P-256
    [-2, new Uint8Array(fromB64url(jwk.x))],
    [-3, new Uint8Array(fromB64url(jwk.y))],
  ]);
  return isoCBOR.encode(cose);
}

/** What a browser puts in clientDataJSON (WebAuthn §5.8.1), keys in the browser's order. */
function clientDataJSON(
  type: 'webauthn.create' | 'webauthn.get',
  challenge: string,
  origin: string,
) {
  return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }), 'utf8');
}

/**
 * A P-256 platform authenticator in software, together with the browser half of the ceremony.
 * It is honest the way a real one is: it signs for whatever RP ID the options carry and reports the
 * page origin it is given. Phishing is simulated by passing another origin or RP ID; it is the
 * server's job to reject those.
 */
export class SoftwareAuthenticator {
  readonly #credentials: SoftwareCredential[] = [];

  /** Every credential held, oldest first. Counters are live. */
  get credentials(): readonly SoftwareCredential[] {
    return this.#credentials;
  }

  /** Finds a held credential by ID. */
  credential(credentialId: string): SoftwareCredential | undefined {
    return this.#credentials.find((c) => c.credentialId === credentialId);
  }

  /**
   * A second authenticator holding copies of these keys with the same counters, as if the device
   * had been cloned: both then count independently.
   */
  clone(): SoftwareAuthenticator {
    const copy = new SoftwareAuthenticator();
    for (const c of this.#credentials) copy.#credentials.push({ ...c });
    return copy;
  }

  /**
   * `navigator.credentials.create()`: makes a new ES256 credential and answers with "none"
   * attestation. Throws InvalidStateError when a held credential is in `excludeCredentials`,
   * NotSupportedError when ES256 is not offered.
   */
  createCredential(
    options: PublicKeyCredentialCreationOptionsJSON,
    origin: string,
    opts: CreateOptions = {},
  ): RegistrationResponseJSON {
    const rpId = options.rp.id ?? new URL(origin).hostname;
    const excluded = new Set((options.excludeCredentials ?? []).map((d) => d.id));
    if (this.#credentials.some((c) => c.rpId === rpId && excluded.has(c.credentialId))) {
      throw new AuthenticatorError(
        'InvalidStateError',
        'The authenticator was previously registered',
      );
    }
    if (
      !options.pubKeyCredParams.some((p) => p.type === 'public-key' && p.alg === COSE_ALG_ES256)
    ) {
      throw new AuthenticatorError('NotSupportedError', 'ES256 is not among pubKeyCredParams');
    }
    const userVerified = opts.userVerified ?? true;
    const userPresent = opts.userPresent ?? true;
    const backupEligible = opts.backupEligible ?? false;
    const discoverable = options.authenticatorSelection?.residentKey !== 'discouraged';

    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const credentialIdBytes = crypto.randomBytes(32);
    const credential: SoftwareCredential = {
      credentialId: b64url(credentialIdBytes),
      rpId,
      userHandle: options.user.id,
      privateKey,
      publicKey,
      counter: 0,
      discoverable,
      backupEligible,
    };

    const credIdLength = Buffer.alloc(2);
    credIdLength.writeUInt16BE(credentialIdBytes.length);
    const authData = Buffer.concat([
      sha256(rpId),
      Buffer.from([flagsByte(userPresent, userVerified, backupEligible, true)]),
      counterBytes(credential.counter),
      Buffer.alloc(16), // AAGUID all zero, as with "none" attestation
      credIdLength,
      credentialIdBytes,
      coseEc2PublicKey(publicKey),
    ]);
    const attestationObject = isoCBOR.encode(
      new Map<string, string | Uint8Array | Map<string, never>>([
        ['fmt', 'none'],
        ['attStmt', new Map<string, never>()],
        ['authData', new Uint8Array(authData)],
      ]),
    );

    // A new discoverable credential for the same RP and user replaces the old one (CTAP2).
    if (discoverable) {
      const i = this.#credentials.findIndex(
        (c) => c.discoverable && c.rpId === rpId && c.userHandle === credential.userHandle,
      );
      if (i >= 0) this.#credentials.splice(i, 1);
    }
    this.#credentials.push(credential);

    const spki = publicKey.export({ format: 'der', type: 'spki' });
    return {
      id: credential.credentialId,
      rawId: credential.credentialId,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientDataJSON('webauthn.create', options.challenge, origin)),
        attestationObject: b64url(attestationObject),
        authenticatorData: b64url(authData),
        transports: ['internal'],
        publicKeyAlgorithm: COSE_ALG_ES256,
        publicKey: b64url(spki),
      },
      authenticatorAttachment: 'platform',
      clientExtensionResults: options.extensions?.credProps
        ? { credProps: { rk: discoverable } }
        : {},
    };
  }

  /**
   * `navigator.credentials.get()`: signs `authData || sha256(clientDataJSON)` with a credential for
   * `options.rpId` (default: the origin's host) that `allowCredentials` names, or any discoverable
   * one when the list is empty. Throws NotAllowedError when none is usable.
   */
  getAssertion(
    options: PublicKeyCredentialRequestOptionsJSON,
    origin: string,
    opts: AssertOptions = {},
  ): AuthenticationResponseJSON {
    const rpId = options.rpId ?? new URL(origin).hostname;
    const allowed = new Set((options.allowCredentials ?? []).map((d) => d.id));
    const usable = this.#credentials.filter(
      (c) => c.rpId === rpId && (allowed.size === 0 ? c.discoverable : allowed.has(c.credentialId)),
    );
    const credential =
      opts.credentialId === undefined
        ? usable[0]
        : usable.find((c) => c.credentialId === opts.credentialId);
    if (credential === undefined) {
      throw new AuthenticatorError('NotAllowedError', 'No usable credential for this request');
    }

    let counter: number;
    if (opts.counterOverride === undefined) {
      credential.counter += 1;
      counter = credential.counter;
    } else {
      counter = opts.counterOverride;
    }
    const authData = Buffer.concat([
      sha256(rpId),
      Buffer.from([
        flagsByte(
          opts.userPresent ?? true,
          opts.userVerified ?? true,
          credential.backupEligible,
          false,
        ),
      ]),
      counterBytes(counter),
    ]);
    const clientData = clientDataJSON('webauthn.get', options.challenge, origin);
    // ES256 in WebAuthn is a DER ECDSA signature (WebAuthn §6.5.6), Node's default encoding.
    const signature = crypto.sign(
      'sha256',
      Buffer.concat([authData, sha256(clientData)]),
      credential.privateKey,
    );
    return {
      id: credential.credentialId,
      rawId: credential.credentialId,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientData),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        ...(credential.discoverable ? { userHandle: credential.userHandle } : {}),
      },
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
    };
  }
}
