// Per-project keys: generated at random, stored wrapped by the master key, versioned for rotation.
import { randomBytes } from 'node:crypto';
import { AppError } from '../shared/errors.js';
import type { WrappedKeyRecord } from '../store/types.js';
import { aeadOpen, aeadSeal, AEAD_OVERHEAD } from './aead.js';
import { assertKeyLength, deriveMasterSubkey, KEY_BYTES } from './master-key.js';

/** What a project key is for: pseudonyms (HMAC) or the vault (wraps per-subject data keys). */
export type KeyPurpose = WrappedKeyRecord['purpose'];

/** Every purpose a project has a key for. */
export const KEY_PURPOSES: readonly KeyPurpose[] = ['pseudonym', 'vault'];

/** What a wrapped key is bound to (authenticated as AAD, so records cannot be swapped). */
export interface KeyContext {
  projectId: string;
  purpose: KeyPurpose;
  version: number;
}

/** One unwrapped project key. Lives in memory only. */
export interface ProjectKey {
  purpose: KeyPurpose;
  version: number;
  key: Buffer;
}

const WRAP_FORMAT = 1;
const WRAPPED_BYTES = 1 + AEAD_OVERHEAD + KEY_BYTES;

/**
 * Encrypts a 32-byte project key under the master key (AES-256-GCM with a key derived from it by
 * HKDF, 12-byte random IV, 16-byte tag). The project id, purpose and version are the AAD: a record
 * moved to another project, purpose or version no longer opens. Layout: format byte ‖ IV ‖
 * ciphertext ‖ tag (61 bytes).
 */
export function wrapKey(master: Buffer, context: KeyContext, rawKey: Uint8Array): Uint8Array {
  assertContext(context);
  if (rawKey.length !== KEY_BYTES) {
    throw new AppError('PROJECT_KEY_INVALID', 'A project key must be exactly 32 bytes.');
  }
  const sealed = aeadSeal(deriveMasterSubkey(master, 'key-wrap'), rawKey, wrapAad(context));
  return Uint8Array.from(Buffer.concat([Buffer.of(WRAP_FORMAT), sealed]));
}

/**
 * Decrypts what `wrapKey` produced for the same context. Throws AppError `PROJECT_KEY_INVALID`
 * when the master key is wrong or the record was altered or belongs to another project, purpose
 * or version (GCM cannot tell these apart, and the message says so).
 */
export function unwrapKey(master: Buffer, context: KeyContext, wrapped: Uint8Array): Buffer {
  assertContext(context);
  const opened =
    wrapped.length === WRAPPED_BYTES && wrapped[0] === WRAP_FORMAT
      ? aeadOpen(deriveMasterSubkey(master, 'key-wrap'), wrapped.subarray(1), wrapAad(context))
      : null;
  if (opened === null || opened.length !== KEY_BYTES) {
    throw new AppError(
      'PROJECT_KEY_INVALID',
      `The ${context.purpose} key (version ${context.version}) of a project could not be ` +
        'unwrapped: wrong master key, or the stored key record was altered or moved.',
    );
  }
  return opened;
}

/** Fresh keys for a new project, one per purpose, at version 1, already wrapped. */
export function generateProjectKeys(
  master: Buffer,
  projectId: string,
  nowMs: number = Date.now(),
): WrappedKeyRecord[] {
  return KEY_PURPOSES.map((purpose) =>
    newRecord(master, { projectId, purpose, version: 1 }, nowMs),
  );
}

/**
 * A new key version for one purpose (the highest existing version + 1). Old versions must be kept:
 * pseudonyms made under them only match with them, and vault values stay sealed under them.
 */
export function rotateProjectKey(
  master: Buffer,
  projectId: string,
  purpose: KeyPurpose,
  existing: readonly WrappedKeyRecord[],
  nowMs: number = Date.now(),
): WrappedKeyRecord {
  const versions = existing
    .filter((r) => r.projectId === projectId && r.purpose === purpose)
    .map((r) => r.version);
  const version = versions.length === 0 ? 1 : Math.max(...versions) + 1;
  return newRecord(master, { projectId, purpose, version }, nowMs);
}

/** The unwrapped keys of one project, by purpose and version. */
export class ProjectKeyring {
  readonly projectId: string;
  private readonly keys = new Map<KeyPurpose, Map<number, ProjectKey>>();

  /** Builds a keyring from keys already unwrapped; rejects duplicates and malformed keys. */
  constructor(projectId: string, keys: Iterable<ProjectKey>) {
    this.projectId = projectId;
    for (const entry of keys) {
      assertContext({ projectId, purpose: entry.purpose, version: entry.version });
      if (entry.key.length !== KEY_BYTES) {
        throw new AppError('PROJECT_KEY_INVALID', 'A project key must be exactly 32 bytes.');
      }
      let byVersion = this.keys.get(entry.purpose);
      if (!byVersion) {
        byVersion = new Map();
        this.keys.set(entry.purpose, byVersion);
      }
      if (byVersion.has(entry.version)) {
        throw new AppError(
          'PROJECT_KEY_INVALID',
          `Duplicate ${entry.purpose} key version ${entry.version} for one project.`,
        );
      }
      byVersion.set(entry.version, {
        purpose: entry.purpose,
        version: entry.version,
        key: entry.key,
      });
    }
  }

  /** Unwraps a project's stored key records (all of them must belong to `projectId`). */
  static unwrap(
    master: Buffer,
    projectId: string,
    records: readonly WrappedKeyRecord[],
  ): ProjectKeyring {
    assertKeyLength(master);
    return new ProjectKeyring(
      projectId,
      records.map((record) => {
        if (record.projectId !== projectId) {
          throw new AppError(
            'PROJECT_KEY_INVALID',
            'A key record of another project was supplied.',
          );
        }
        const context = { projectId, purpose: record.purpose, version: record.version };
        return { ...context, key: unwrapKey(master, context, record.wrapped) };
      }),
    );
  }

  /**
   * Unwraps a project's records when the caller has only the records: the project id is taken
   * from them (they must all agree, and there must be at least one).
   */
  static open(master: Buffer, records: readonly WrappedKeyRecord[]): ProjectKeyring {
    const first = records[0];
    if (!first) throw new AppError('PROJECT_KEY_INVALID', 'The project has no stored keys.');
    return ProjectKeyring.unwrap(master, first.projectId, records);
  }

  /** The newest key of a purpose (used for everything new). Throws if the project has none. */
  current(purpose: KeyPurpose): ProjectKey {
    const versions = this.keys.get(purpose);
    let newest: ProjectKey | undefined;
    for (const key of versions?.values() ?? []) {
      if (!newest || key.version > newest.version) newest = key;
    }
    if (!newest) {
      throw new AppError('PROJECT_KEY_INVALID', `The project has no ${purpose} key.`);
    }
    return newest;
  }

  /** A specific version (to open old vault values or match old pseudonyms), if present. */
  byVersion(purpose: KeyPurpose, version: number): ProjectKey | undefined {
    return this.keys.get(purpose)?.get(version);
  }

  /** Every key of a purpose, newest first. */
  all(purpose: KeyPurpose): ProjectKey[] {
    return [...(this.keys.get(purpose)?.values() ?? [])].sort((a, b) => b.version - a.version);
  }
}

function newRecord(master: Buffer, context: KeyContext, nowMs: number): WrappedKeyRecord {
  const raw = randomBytes(KEY_BYTES);
  try {
    return { ...context, wrapped: wrapKey(master, context, raw), createdAtMs: nowMs };
  } finally {
    raw.fill(0);
  }
}

function wrapAad(context: KeyContext): Buffer {
  // A JSON array is an unambiguous encoding of the fields (no delimiter games with project ids).
  return Buffer.from(
    JSON.stringify([
      'sillage/key-wrap',
      WRAP_FORMAT,
      context.projectId,
      context.purpose,
      context.version,
    ]),
    'utf8',
  );
}

function assertContext(context: KeyContext): void {
  if (
    context.projectId === '' ||
    !KEY_PURPOSES.includes(context.purpose) ||
    !Number.isSafeInteger(context.version) ||
    context.version < 1
  ) {
    throw new AppError(
      'PROJECT_KEY_INVALID',
      'Invalid key context (project id, purpose or version).',
    );
  }
}
