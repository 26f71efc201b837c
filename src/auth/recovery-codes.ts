// Single-use recovery codes (look-up secrets): generation, and the hash that is stored.
import { createHash, randomBytes } from 'node:crypto';

/** Codes in a new set when the caller does not say. */
export const RECOVERY_CODE_COUNT = 10;
/** Random bits in one code: above the 112 bits of NIST 800-63B §3.1.2 and ASVS 6.5.2. */
export const RECOVERY_CODE_BITS = 120;

/** Crockford base32: no I, L, O or U, so codes read aloud or typed are hard to get wrong. */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const CODE_CHARS = RECOVERY_CODE_BITS / 5; // 24
const GROUP_CHARS = 4;
const CANONICAL = /^[0-9abcdefghjkmnpqrstvwxyz]{24}$/;

/** A fresh set of codes to show once, and the hashes to store in the same order. */
export interface RecoveryCodeSet {
  codes: string[];
  hashes: string[];
}

/**
 * Generates `count` single-use recovery codes, each 120 bits from the CSPRNG written as 24
 * lower-case Crockford base32 characters in six groups (`7kq2-m9xd-…`). Show `codes` to the user
 * once and store only `hashes`; mark a hash used when it signs someone in (ASVS 6.5.1).
 */
export function generateRecoveryCodes(count = RECOVERY_CODE_COUNT): RecoveryCodeSet {
  if (!Number.isInteger(count) || count < 1 || count > 100) {
    throw new RangeError('The number of recovery codes must be an integer from 1 to 100.');
  }
  const canonical = new Set<string>();
  while (canonical.size < count) canonical.add(encode(randomBytes(RECOVERY_CODE_BITS / 8)));
  const codes: string[] = [];
  const hashes: string[] = [];
  for (const code of canonical) {
    codes.push(groups(code).join('-'));
    hashes.push(digest(code));
  }
  return { codes, hashes };
}

/**
 * The stored form of a code as typed: spaces and dashes removed, case folded, and the Crockford
 * look-alikes read as digits (O → 0, I and L → 1); then SHA-256, hex. Null when the result is not
 * 24 code characters. A fast hash is enough: ASVS 6.5.2 asks for a slow salted hash only for
 * look-up secrets under 112 bits of entropy, and guessing one of these takes ~2^117 tries even
 * against a stolen table of ten hashes.
 */
export function hashRecoveryCode(input: string): string | null {
  const canonical = input
    .normalize('NFKC')
    .replace(/[\s-]+/gu, '')
    .toLowerCase()
    .replace(/o/gu, '0')
    .replace(/[il]/gu, '1');
  return CANONICAL.test(canonical) ? digest(canonical) : null;
}

function digest(canonical: string): string {
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

function groups(code: string): string[] {
  const parts: string[] = [];
  for (let i = 0; i < code.length; i += GROUP_CHARS) parts.push(code.slice(i, i + GROUP_CHARS));
  return parts;
}

/** 15 bytes → 24 base32 characters, most significant bits first. */
function encode(bytes: Buffer): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  return out.slice(0, CODE_CHARS);
}
