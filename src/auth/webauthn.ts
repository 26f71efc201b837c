// Passkeys: a thin typed wrapper over @simplewebauthn/server; UV, origin and RP ID always checked.
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import {
  COSEALG,
  cose,
  decodeCredentialPublicKey,
  isoBase64URL,
} from '@simplewebauthn/server/helpers';
import { z } from 'zod';
import { AppError } from '../shared/errors.js';

export type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
};

/** The relying party: this Sillage server as browsers see it. */
export interface RelyingParty {
  /** RP ID, a registrable domain of the origins, e.g. 'localhost' or 'analytics.example.com'. */
  id: string;
  /** Human-readable name shown by the browser's passkey dialog. */
  name: string;
  /** Exact origins the dashboard is served from, e.g. ['http://localhost:8080']. */
  origins: string[];
}

/** What Sillage keeps about one registered passkey. */
export interface StoredCredential {
  /** Credential ID, base64url without padding. */
  credentialId: string;
  /** COSE-encoded public key, as returned by the authenticator. */
  publicKey: Uint8Array;
  /** Last signature counter seen; 0 for authenticators that don't count. */
  counter: number;
  /** Transport hints for the browser (`usb`, `internal`, `hybrid`, …). */
  transports: string[];
}

/**
 * Algorithms offered at registration and accepted at verification (ES256 first: every passkey
 * provider supports it). The library's default would add ML-DSA-44 on runtimes that have it; we
 * pin the list so registration and verification can never disagree.
 */
const SUPPORTED_ALGORITHMS: readonly number[] = [COSEALG.ES256, COSEALG.EdDSA, COSEALG.RS256];

/** Transports the browser understands; anything else an authenticator reports is dropped. */
const KNOWN_TRANSPORTS = new Set([
  'ble',
  'cable',
  'hybrid',
  'internal',
  'nfc',
  'smart-card',
  'usb',
]);

/** WebAuthn §5.4.3: a user handle is at most 64 bytes. */
const MAX_USER_HANDLE_BYTES = 64;
/** WebAuthn §7.1 step 24 (L3): credential IDs longer than 1023 bytes are rejected. */
const MAX_CREDENTIAL_ID_BYTES = 1023;

// Generous upper bounds so a hostile body cannot make us decode megabytes of base64.
const MAX_ID_CHARS = 1400; // base64url of 1023 bytes is 1364 characters
const MAX_CLIENT_DATA_CHARS = 16 * 1024;
const MAX_ATTESTATION_CHARS = 64 * 1024; // room for attestation certificate chains
const MAX_AUTH_DATA_CHARS = 16 * 1024;
const MAX_SIGNATURE_CHARS = 8 * 1024; // RS256 with a 4096-bit key is 683 characters

/**
 * Canonical base64url, padding optional. The library's decoder is lax (it turns 'A' into zero bytes
 * and ignores stray bits), so we insist that decoding and re-encoding gives the same text.
 */
function isCanonicalBase64url(text: string): boolean {
  const unpadded = text.replace(/={1,2}$/, '');
  if (unpadded !== text && text.length % 4 !== 0) return false;
  return Buffer.from(unpadded, 'base64url').toString('base64url') === unpadded;
}

function base64url(maxChars: number) {
  return z
    .string()
    .min(1, 'must not be empty')
    .max(maxChars, 'is too long')
    .regex(/^[A-Za-z0-9_-]+={0,2}$/, 'must be base64url')
    .refine(isCanonicalBase64url, 'must be canonical base64url');
}

const registrationSchema = z.object({
  id: base64url(MAX_ID_CHARS),
  rawId: base64url(MAX_ID_CHARS),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64url(MAX_CLIENT_DATA_CHARS),
    attestationObject: base64url(MAX_ATTESTATION_CHARS),
    transports: z.array(z.string().max(32)).max(16).optional(),
  }),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).optional(),
});

const authenticationSchema = z.object({
  id: base64url(MAX_ID_CHARS),
  rawId: base64url(MAX_ID_CHARS),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64url(MAX_CLIENT_DATA_CHARS),
    authenticatorData: base64url(MAX_AUTH_DATA_CHARS),
    signature: base64url(MAX_SIGNATURE_CHARS),
    // Browsers send null when the authenticator returned no user handle.
    userHandle: base64url(MAX_ID_CHARS).nullish(),
  }),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).optional(),
});

/** Parses `input` or throws AUTH_WEBAUTHN_INVALID naming the wrong fields (never their values). */
function parseShape<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues.map((issue) => ({
    path: issue.path.map(String).join('.') || '(root)',
    message: issue.message,
  }));
  const fields = [...new Set(details.map((d) => d.path))].join(', ');
  throw new AppError('AUTH_WEBAUTHN_INVALID', `Malformed ${what}: check ${fields}`, { details });
}

/** Wraps any library failure (Error, TypeError from odd decoded data, …) in one safe AppError. */
async function verifying<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof AppError) throw err;
    // The library's messages echo challenges and origins from the request: `cause` only.
    throw new AppError('AUTH_WEBAUTHN_INVALID', `The ${what} did not verify`, { cause: err });
  }
}

/**
 * Whether `sig` is exactly one X.690 DER `Ecdsa-Sig-Value` (WebAuthn §6.5.6): minimal lengths,
 * minimal positive INTEGERs, nothing after the SEQUENCE. The library's ASN.1 parser ignores
 * trailing bytes, which would let anyone append bytes to a valid signature and still pass; strict
 * DER is also what OpenSSL and Go's `ecdsa.VerifyASN1` demand, so real authenticators produce it.
 */
export function isStrictDerEcdsaSignature(sig: Uint8Array): boolean {
  const readLength = (at: number): { length: number; next: number } | null => {
    const first = sig[at];
    if (first === undefined) return null;
    if (first < 0x80) return { length: first, next: at + 1 };
    const second = sig[at + 1];
    // Long form is needed only past 127 bytes (P-521), and then in one byte.
    if (first === 0x81 && second !== undefined && second >= 0x80) {
      return { length: second, next: at + 2 };
    }
    return null;
  };
  const readInteger = (at: number): number | null => {
    if (sig[at] !== 0x02) return null;
    const len = readLength(at + 1);
    if (len === null || len.length === 0) return null;
    const first = sig[len.next];
    const second = sig[len.next + 1];
    if (first === undefined || (first & 0x80) !== 0) return null; // negative
    if (first === 0 && len.length > 1 && (second === undefined || (second & 0x80) === 0)) {
      return null; // a leading zero that is not needed
    }
    const end = len.next + len.length;
    return end <= sig.length ? end : null;
  };
  if (sig[0] !== 0x30) return false;
  const seq = readLength(1);
  if (seq === null || seq.next + seq.length !== sig.length) return false;
  const afterR = readInteger(seq.next);
  return afterR !== null && readInteger(afterR) === sig.length;
}

function descriptors(credentials: readonly StoredCredential[]) {
  return credentials.map((c) => ({ id: c.credentialId, transports: [...c.transports] }));
}

function byteLength(b64url: string): number {
  return isoBase64URL.toBuffer(b64url).byteLength;
}

/**
 * Options for `navigator.credentials.create()` to register a passkey for `user`. UV is required,
 * a discoverable credential preferred, no attestation asked for, and the user's existing passkeys
 * excluded so the same authenticator is not registered twice. Store `challenge` server-side (bound
 * to the user's session) and pass it to {@link verifyRegistration}.
 */
export async function registrationOptions(
  rp: RelyingParty,
  user: { id: string; name: string },
  existing: readonly StoredCredential[],
): Promise<{ options: PublicKeyCredentialCreationOptionsJSON; challenge: string }> {
  const userID = new TextEncoder().encode(user.id);
  if (userID.byteLength === 0 || userID.byteLength > MAX_USER_HANDLE_BYTES) {
    throw new RangeError(`A WebAuthn user handle must be 1–${MAX_USER_HANDLE_BYTES} bytes`);
  }
  const options = await generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: user.name,
    userDisplayName: user.name,
    userID,
    attestationType: 'none',
    excludeCredentials: descriptors(existing),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
    supportedAlgorithmIDs: [...SUPPORTED_ALGORITHMS],
  });
  // The library's challenge: 32 bytes from the platform CSPRNG (≥ 64 bits, ASVS 6.7.2).
  return { options, challenge: options.challenge };
}

/**
 * Verifies the browser's answer to {@link registrationOptions}: shape, type, challenge, origin,
 * RP ID, UP and UV, algorithm and attestation. Throws AppError AUTH_WEBAUTHN_INVALID on any
 * failure.
 * The caller must still check that `credential.credentialId` is not registered already.
 */
export async function verifyRegistration(
  rp: RelyingParty,
  response: unknown,
  expectedChallenge: string,
): Promise<{
  credential: StoredCredential;
  backedUp: boolean;
  deviceType: 'singleDevice' | 'multiDevice';
  aaguid: string;
}> {
  const parsed = parseShape(registrationSchema, response, 'passkey registration');
  const body: RegistrationResponseJSON = {
    ...parsed,
    clientExtensionResults: parsed.clientExtensionResults ?? {},
  };
  return verifying('passkey registration', async () => {
    const result = await verifyRegistrationResponse({
      response: body,
      expectedChallenge,
      expectedOrigin: [...rp.origins],
      expectedRPID: rp.id,
      requireUserPresence: true,
      requireUserVerification: true,
      supportedAlgorithmIDs: [...SUPPORTED_ALGORITHMS],
    });
    if (!result.verified) throw new Error('Attestation did not verify');
    const info = result.registrationInfo;
    if (!info.userVerified) throw new Error('User verification missing');
    const credentialId = info.credential.id;
    if (byteLength(credentialId) > MAX_CREDENTIAL_ID_BYTES)
      throw new Error('Credential ID too long');
    // The ID the browser reports must be the one the authenticator put in authenticator data.
    if (isoBase64URL.trimPadding(body.id) !== credentialId) {
      throw new Error('Credential ID does not match authenticator data');
    }
    return {
      credential: {
        credentialId,
        publicKey: info.credential.publicKey,
        counter: info.credential.counter,
        transports: (body.response.transports ?? []).filter((t) => KNOWN_TRANSPORTS.has(t)),
      },
      backedUp: info.credentialBackedUp,
      deviceType: info.credentialDeviceType,
      aaguid: info.aaguid,
    };
  });
}

/**
 * Options for `navigator.credentials.get()` (sign-in or step-up), UV required. With `allow` empty
 * the browser offers any discoverable passkey for this RP ("username-less" sign-in). Store
 * `challenge` server-side and pass it to {@link verifyAuthentication}.
 */
export async function authenticationOptions(
  rp: RelyingParty,
  allow: readonly StoredCredential[],
): Promise<{ options: PublicKeyCredentialRequestOptionsJSON; challenge: string }> {
  const options = await generateAuthenticationOptions({
    rpID: rp.id,
    allowCredentials: allow.length === 0 ? undefined : descriptors(allow),
    userVerification: 'required',
  });
  return { options, challenge: options.challenge };
}

/**
 * Verifies an assertion made with `credential`: shape, credential ID, type, challenge, origin,
 * RP ID, UP and UV, signature, and that the signature counter moved forward (a counter at or below
 * the stored one, when either is non-zero, means a cloned authenticator). Store `newCounter`.
 * Throws AppError AUTH_WEBAUTHN_INVALID on any failure.
 */
export async function verifyAuthentication(
  rp: RelyingParty,
  response: unknown,
  expectedChallenge: string,
  credential: StoredCredential,
): Promise<{ newCounter: number; userVerified: boolean; backedUp: boolean }> {
  const parsed = parseShape(authenticationSchema, response, 'passkey assertion');
  const { userHandle, ...assertion } = parsed.response;
  const body: AuthenticationResponseJSON = {
    ...parsed,
    response: userHandle == null ? assertion : { ...assertion, userHandle },
    clientExtensionResults: parsed.clientExtensionResults ?? {},
  };
  if (isoBase64URL.trimPadding(body.id) !== isoBase64URL.trimPadding(credential.credentialId)) {
    throw new AppError('AUTH_WEBAUTHN_INVALID', 'The passkey assertion is for another credential');
  }
  return verifying('passkey assertion', async () => {
    // Copy: the library wants an ArrayBuffer-backed array, and a DB driver may hand us a Buffer.
    const publicKey = new Uint8Array(credential.publicKey);
    if (
      cose.isCOSEPublicKeyEC2(decodeCredentialPublicKey(publicKey)) &&
      !isStrictDerEcdsaSignature(isoBase64URL.toBuffer(body.response.signature))
    ) {
      throw new Error('ECDSA signature is not strict DER');
    }
    const result = await verifyAuthenticationResponse({
      response: body,
      expectedChallenge,
      expectedOrigin: [...rp.origins],
      expectedRPID: rp.id,
      credential: {
        id: credential.credentialId,
        publicKey,
        counter: credential.counter,
        transports: [...credential.transports],
      },
      requireUserVerification: true,
    });
    if (!result.verified) throw new Error('Signature did not verify');
    const info = result.authenticationInfo;
    if (!info.userVerified) throw new Error('User verification missing');
    return {
      newCounter: info.newCounter,
      userVerified: info.userVerified,
      backedUp: info.credentialBackedUp,
    };
  });
}

/**
 * The credential ID an assertion claims to be from (base64url, no padding), so the caller can load
 * the stored credential to verify it against; null when `response` has no well-formed ID. Untrusted
 * until {@link verifyAuthentication} succeeds.
 */
export function credentialIdOf(response: unknown): string | null {
  const parsed = z.object({ id: base64url(MAX_ID_CHARS) }).safeParse(response);
  return parsed.success ? isoBase64URL.trimPadding(parsed.data.id) : null;
}

/**
 * The user ID (as given to {@link registrationOptions}) an assertion's user handle names, or null
 * when there is none. After verifying a discoverable sign-in, check it names the credential's owner
 * (WebAuthn §7.2 step 6).
 */
export function userIdOf(response: unknown): string | null {
  const parsed = z
    .object({ response: z.object({ userHandle: base64url(MAX_ID_CHARS) }) })
    .safeParse(response);
  if (!parsed.success) return null;
  try {
    const bytes = isoBase64URL.toBuffer(parsed.data.response.userHandle);
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}
