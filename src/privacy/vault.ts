// The opt-in PII vault: values sealed under a per-subject data key, so erasing a subject is deleting one key.
import { randomBytes } from 'node:crypto';
import type { JsonObject, JsonValue } from '../shared/json.js';
import { AppError } from '../shared/errors.js';
import { aeadOpen, aeadSeal, AEAD_OVERHEAD } from './aead.js';
import { KEY_BYTES } from './master-key.js';
import { defineEntry } from './scanner.js';

const VALUE_PREFIX = 'v1.';
const WRAP_FORMAT = 1;
const WRAPPED_BYTES = 1 + AEAD_OVERHEAD + KEY_BYTES;

/** What a wrapped subject key is bound to (AAD): the project, the subject and the vault key version. */
export interface SubjectKeyContext {
  projectId: string;
  /** The subject's pseudonym (never a raw id). */
  subjectId: string;
  /** Version of the project vault key that wraps this subject key. */
  vaultKeyVersion: number;
}

/** A fresh random 256-bit data key for one subject. */
export function generateSubjectKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/**
 * Seals one JSON value under a subject key (AES-256-GCM, random 96-bit IV). `context` (usually the
 * property name) is authenticated, so a sealed `$email` cannot be passed off as `$name`. The result
 * is `v1.` + base64url(IV ‖ ciphertext ‖ tag). Values are padded to a multiple of 16 bytes so the
 * length of short values (initials, phone formats) leaks less.
 */
export function sealValue(subjectKey: Buffer, value: JsonValue, context = ''): string {
  assertSubjectKey(subjectKey);
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  // JSON never contains a raw NUL byte, so trailing NULs are unambiguous padding.
  const padded = Buffer.alloc(Math.ceil((json.length + 1) / 16) * 16);
  json.copy(padded);
  return VALUE_PREFIX + aeadSeal(subjectKey, padded, valueAad(context)).toString('base64url');
}

/**
 * Opens a value sealed by `sealValue` with the same key and context. Throws AppError
 * `VAULT_VALUE_INVALID` when the key or context is wrong or the value was altered.
 */
export function openValue(subjectKey: Buffer, sealed: string, context = ''): JsonValue {
  assertSubjectKey(subjectKey);
  const opened = sealed.startsWith(VALUE_PREFIX)
    ? aeadOpen(
        subjectKey,
        Buffer.from(sealed.slice(VALUE_PREFIX.length), 'base64url'),
        valueAad(context),
      )
    : null;
  if (opened === null) {
    throw new AppError(
      'VAULT_VALUE_INVALID',
      'A vault value could not be opened: wrong subject key or altered value.',
    );
  }
  let end = opened.length;
  while (end > 0 && opened[end - 1] === 0) end--;
  try {
    return JSON.parse(opened.subarray(0, end).toString('utf8')) as JsonValue;
  } catch (cause) {
    throw new AppError('VAULT_VALUE_INVALID', 'A vault value is not valid JSON after decryption.', {
      cause,
    });
  }
}

/** Seals every property of a bag, each bound to its own name. */
export function sealProperties(subjectKey: Buffer, properties: JsonObject): Record<string, string> {
  const out: JsonObject = {};
  for (const [name, value] of Object.entries(properties))
    defineEntry(out, name, sealValue(subjectKey, value, name));
  return out as Record<string, string>;
}

/** Opens what `sealProperties` produced. */
export function openProperties(
  subjectKey: Buffer,
  sealed: Readonly<Record<string, string>>,
): JsonObject {
  const out: JsonObject = {};
  for (const [name, value] of Object.entries(sealed))
    defineEntry(out, name, openValue(subjectKey, value, name));
  return out;
}

/**
 * Wraps a subject key under the project's vault key, bound to project, subject and vault key
 * version. Store only this; deleting it erases every value of the subject (crypto-shredding,
 * NIST SP 800-88 cryptographic erase), backups of the vault values included.
 */
export function wrapSubjectKey(
  vaultKey: Buffer,
  context: SubjectKeyContext,
  subjectKey: Buffer,
): Uint8Array {
  assertSubjectKey(vaultKey);
  assertSubjectKey(subjectKey);
  const sealed = aeadSeal(vaultKey, subjectKey, subjectAad(context));
  return Uint8Array.from(Buffer.concat([Buffer.of(WRAP_FORMAT), sealed]));
}

/** Unwraps a subject key; throws AppError `VAULT_VALUE_INVALID` on any mismatch or alteration. */
export function unwrapSubjectKey(
  vaultKey: Buffer,
  context: SubjectKeyContext,
  wrapped: Uint8Array,
): Buffer {
  assertSubjectKey(vaultKey);
  const opened =
    wrapped.length === WRAPPED_BYTES && wrapped[0] === WRAP_FORMAT
      ? aeadOpen(vaultKey, wrapped.subarray(1), subjectAad(context))
      : null;
  if (opened === null || opened.length !== KEY_BYTES) {
    throw new AppError(
      'VAULT_VALUE_INVALID',
      'A subject key could not be unwrapped: wrong vault key, or the record was altered or moved.',
    );
  }
  return opened;
}

function assertSubjectKey(key: Buffer): void {
  if (key.length !== KEY_BYTES)
    throw new AppError('VAULT_VALUE_INVALID', 'Vault keys must be exactly 32 bytes.');
}

function valueAad(context: string): Buffer {
  return Buffer.from(JSON.stringify(['sillage/vault-value', 1, context]), 'utf8');
}

function subjectAad(context: SubjectKeyContext): Buffer {
  return Buffer.from(
    JSON.stringify([
      'sillage/vault-subject-key',
      WRAP_FORMAT,
      context.projectId,
      context.subjectId,
      context.vaultKeyVersion,
    ]),
    'utf8',
  );
}
