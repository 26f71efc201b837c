// TOTP second factor (RFC 6238): secrets, enrolment URIs, once-only verification, sealed storage.
import { generate, generateURI, ScureBase32Plugin, verify } from 'otplib';
import type { OTPVerifyFunctionalOptions } from 'otplib';
import { randomBytes } from 'node:crypto';
import { aeadOpen, aeadSeal } from '../privacy/aead.js';
import { assertKeyLength, deriveMasterSubkey } from '../privacy/master-key.js';
import { AppError } from '../shared/errors.js';

/** Seconds per time step: what authenticator apps assume (RFC 6238 §5.2; ASVS 6.5.5 ≤ 30 s). */
export const TOTP_PERIOD_SECONDS = 30;
/** Digits per code, what authenticator apps assume (NIST allows truncation to 6). */
export const TOTP_DIGITS = 6;
/** Random bytes in a new secret: 160 bits, the HMAC-SHA1 block-size advice of RFC 4226 §4. */
const SECRET_BYTES = 20;
/**
 * Seconds of past-only grace: a code typed at the end of its step still counts during the first
 * 5 s of the next (otplib's RFC-compliant [5, 0]); codes from the future never do.
 */
const EPOCH_TOLERANCE: [number, number] = [5, 0];
const CODE_PATTERN = /^\d{6}$/;
const SEALED_PREFIX = 'v1.';
const SEALED_PATTERN = /^v1\.[A-Za-z0-9_-]+$/;

const base32 = new ScureBase32Plugin();

/** A new TOTP secret: 160 bits from the CSPRNG (ASVS 6.5.3), base32 without padding. */
export function newTotpSecret(): string {
  return base32.encode(randomBytes(SECRET_BYTES));
}

/**
 * The `otpauth://totp/…` URI to show as a QR code at enrolment. SHA-1, 6 digits and 30 s are the
 * Key URI format defaults, so the URI leaves them out and every authenticator app reads it.
 */
export function totpUri(secret: string, account: string, issuer = 'Sillage'): string {
  return generateURI({
    issuer,
    label: account,
    secret,
    algorithm: 'sha1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
  });
}

/** Why a code was refused: not six digits, wrong (or expired), or its step was already used. */
export type TotpVerifyResult =
  { ok: true; step: number } | { ok: false; reason: 'malformed' | 'invalid' | 'replayed' };

/**
 * Checks a code typed by the user at server time `nowMs` (ASVS 6.5.8: the server's clock, never
 * the client's). Spaces are ignored. The code must belong to the current step, or to the previous
 * one during the first 5 s of the current step. A code whose step is at or before `lastUsedStep`
 * is refused as `replayed` (NIST 800-63B §3.1.4.1 and ASVS 6.5.1: accept an OTP only once); on
 * success store the returned `step` as the factor's new `lastUsedStep` — atomically with the
 * check (compare-and-set), or two concurrent requests could both use one code. Rate limiting is
 * the caller's job (`throttle.ts`): 6 digits are far below 64 bits.
 */
export async function verifyTotp(
  secret: string,
  code: string,
  lastUsedStep: number | null,
  nowMs: number,
): Promise<TotpVerifyResult> {
  const token = code.normalize('NFKC').replace(/\s+/gu, '');
  if (!CODE_PATTERN.test(token)) return { ok: false, reason: 'malformed' };
  const epoch = epochSeconds(nowMs);
  const currentStep = Math.floor(epoch / TOTP_PERIOD_SECONDS);
  const last =
    lastUsedStep !== null && Number.isFinite(lastUsedStep) && lastUsedStep >= 0
      ? Math.floor(lastUsedStep)
      : null;
  const options: OTPVerifyFunctionalOptions = {
    secret,
    token,
    epoch,
    epochTolerance: EPOCH_TOLERANCE,
    algorithm: 'sha1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
  };
  // otplib throws when afterTimeStep is beyond the newest acceptable step; then nothing is fresh.
  if (last === null || last < currentStep) {
    const step = await matchedStep(last === null ? options : { ...options, afterTimeStep: last });
    if (step !== null) return { ok: true, step };
  }
  if (last !== null) {
    const step = await matchedStep(options);
    if (step !== null && step <= last) return { ok: false, reason: 'replayed' };
  }
  return { ok: false, reason: 'invalid' };
}

/** The code an authenticator shows at `nowMs` (for tests and enrolment checks). */
export async function totpCode(secret: string, nowMs: number): Promise<string> {
  try {
    return await generate({
      secret,
      epoch: epochSeconds(nowMs),
      algorithm: 'sha1',
      digits: TOTP_DIGITS,
      period: TOTP_PERIOD_SECONDS,
    });
  } catch (cause) {
    throw unusableSecret(cause);
  }
}

/**
 * Encrypts a TOTP secret for the database (NIST: seeds "strongly protected against unauthorized
 * disclosure") with AES-256-GCM under `totpSealKey(master)`. The AAD binds the factor id, so a
 * sealed secret copied onto another factor row does not open. Returns `v1.` + base64url.
 */
export function sealTotpSecret(key: Buffer, factorId: string, secret: string): string {
  assertKeyLength(key);
  const sealed = aeadSeal(key, Buffer.from(secret, 'utf8'), sealAad(factorId));
  return SEALED_PREFIX + sealed.toString('base64url');
}

/**
 * Opens what `sealTotpSecret` produced for the same factor id. Throws AppError `INTERNAL` when
 * the key, the factor id or any byte is wrong: stored data is damaged or misplaced, which no
 * user input can cause.
 */
export function openTotpSecret(key: Buffer, factorId: string, sealed: string): string {
  assertKeyLength(key);
  const opened = SEALED_PATTERN.test(sealed)
    ? aeadOpen(key, Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64url'), sealAad(factorId))
    : null;
  if (opened === null) {
    throw new AppError('INTERNAL', 'A stored TOTP secret could not be decrypted.');
  }
  return opened.toString('utf8');
}

/**
 * The 32-byte key that seals TOTP secrets: HKDF-SHA256 of the master key with info
 * `sillage/v1/master/totp-seal`, the construction of `deriveMasterSubkey`.
 */
export function totpSealKey(master: Buffer): Buffer {
  return deriveMasterSubkey(master, 'totp-seal');
}

function sealAad(factorId: string): Buffer {
  return Buffer.from(`sillage/v1/totp-secret/${factorId}`, 'utf8');
}

function epochSeconds(nowMs: number): number {
  return Math.floor(nowMs / 1000);
}

/** The time step the code matched, or null. */
async function matchedStep(options: OTPVerifyFunctionalOptions): Promise<number | null> {
  let result: Awaited<ReturnType<typeof verify>>;
  try {
    result = await verify(options);
  } catch (cause) {
    throw unusableSecret(cause);
  }
  // verify's result type also covers HOTP, which has no timeStep.
  return result.valid && 'timeStep' in result ? result.timeStep : null;
}

// otplib throws for a secret that is not base32 or is too short: damaged data, not user input.
function unusableSecret(cause: unknown): AppError {
  return new AppError('INTERNAL', 'A TOTP secret could not be used.', { cause });
}
