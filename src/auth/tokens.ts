// Opaque random tokens (sessions, challenges, invitations, API keys): shown once, stored hashed.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Prefix of secret API keys, so that secret scanners (and people) recognise a leaked one. */
export const SECRET_KEY_PREFIX = 'sil_sk_';

/** A fresh token of `bytes` random bytes (default 32: 256 bits, ASVS 7.2.3 asks ≥ 128) as base64url. */
export function newToken(bytes = 32, prefix = ''): string {
  return prefix + randomBytes(bytes).toString('base64url');
}

/** SHA-256 hex of a token: what is stored and what identifies a session in lists and logs. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex digests of equal length. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** A short random public id with a type prefix (`org_…`, `usr_…`, `key_…`). */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}
