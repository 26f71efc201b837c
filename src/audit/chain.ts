// The integrity chain: each entry's hash covers every column and the previous entry's hash
// (a CloudTrail-style hash chain), and signed checkpoints of the head (Ed25519) commit to it.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import type { AuditCheckpoint, AuditEntry } from './types.js';

/** The hash before the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/** The exact bytes an entry's hash covers, in a fixed order. */
export function entryBody(e: Omit<AuditEntry, 'hash'>): string {
  return JSON.stringify([
    'sillage-audit-v1',
    e.seq,
    e.atMs,
    e.kind,
    e.actor,
    e.orgId,
    e.projectId,
    e.source,
    e.country,
    e.network,
    e.outcome,
    e.target,
    e.detail,
    e.fields,
    e.eventNames,
    e.rows,
    e.subjectCount,
    createHash('sha256').update(e.subjects).digest('hex'),
    e.prevHash,
  ]);
}

export function entryHash(e: Omit<AuditEntry, 'hash'>): string {
  return createHash('sha256').update(entryBody(e)).digest('hex');
}

/** What a checkpoint signs. */
export function checkpointMessage(c: Omit<AuditCheckpoint, 'signature'>): Buffer {
  return Buffer.from(`sillage-audit-checkpoint-v1\n${c.seq}\n${c.hash}\n${c.atMs}\n`);
}

// An Ed25519 private key in PKCS#8 DER is this fixed prefix followed by the 32-byte seed.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Signs and verifies checkpoints with a key derived from the master key (never stored). */
export class CheckpointSigner {
  private readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;

  constructor(seed: Buffer) {
    if (seed.length !== 32) throw new RangeError('the audit signing seed must be 32 bytes');
    this.privateKey = createPrivateKey({
      key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
      format: 'der',
      type: 'pkcs8',
    });
    this.publicKey = createPublicKey(this.privateKey);
  }

  /** The public key (SPKI PEM), for whoever keeps copies of the checkpoints. */
  publicKeyPem(): string {
    return this.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  }

  sign(c: Omit<AuditCheckpoint, 'signature'>): AuditCheckpoint {
    return {
      ...c,
      signature: sign(null, checkpointMessage(c), this.privateKey).toString('base64url'),
    };
  }

  /** Signs any payload (webhook bodies). */
  signBytes(bytes: Buffer): string {
    return sign(null, bytes, this.privateKey).toString('base64url');
  }

  verify(c: AuditCheckpoint): boolean {
    try {
      return verify(
        null,
        checkpointMessage(c),
        this.publicKey,
        Buffer.from(c.signature, 'base64url'),
      );
    } catch {
      return false;
    }
  }
}
