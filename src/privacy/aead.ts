// AES-256-GCM sealing shared by the keyring and the vault (internal to the privacy module).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Size added to a plaintext by `aeadSeal`: the random IV and the authentication tag. */
export const AEAD_OVERHEAD = IV_BYTES + TAG_BYTES;

/**
 * Encrypts with AES-256-GCM under a fresh 96-bit random IV (SP 800-38D §8.2.2) and returns
 * IV ‖ ciphertext ‖ tag. Keys sealed here encrypt few messages each, far below the 2^32 limit
 * for random IVs.
 */
export function aeadSeal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

/** Opens what `aeadSeal` produced; null when the key, the AAD or any byte is wrong. */
export function aeadOpen(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer | null {
  if (sealed.length < AEAD_OVERHEAD) return null;
  const iv = sealed.subarray(0, IV_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const body = sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES);
  // authTagLength pins the tag to 16 bytes: Node 20 otherwise accepts truncated tags (DEP0182).
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    return null;
  }
}
