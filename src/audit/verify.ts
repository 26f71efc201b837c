// `sillage audit verify`: walks the whole log in sequence order, recomputes every hash, checks
// the chain links, every signed checkpoint and the signed head, and names the first bad entry.
// Copies of the head pushed off-box (a file, a webhook receiver's store) are compared too: a log
// rolled back to an old backup, or rewritten and re-signed, no longer matches them.
import { z } from 'zod';
import { entryHash, GENESIS_HASH, type CheckpointSigner } from './chain.js';
import type { AuditCheckpoint, AuditStore } from './types.js';

/** A signed head as copied off-box, with where the copy was found. */
export interface OutsideCheckpoint extends AuditCheckpoint {
  /** Where it came from: `<file>:<line>`. */
  origin: string;
}

const pushedLine = z.object({
  type: z.literal('sillage.audit_checkpoint'),
  seq: z.number().int().positive(),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  at: z.iso.datetime(),
  signature: z.string().min(1),
});

/**
 * The checkpoints in a file of pushed copies (JSON lines as `pushCheckpoint` writes them and the
 * webhook posts them). Lines that are not such copies are skipped and counted.
 */
export function parseCheckpointCopies(
  text: string,
  file: string,
): { checkpoints: OutsideCheckpoint[]; skipped: number } {
  const checkpoints: OutsideCheckpoint[] = [];
  let skipped = 0;
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      skipped += 1;
      return;
    }
    const parsed = pushedLine.safeParse(json);
    if (!parsed.success) {
      skipped += 1;
      return;
    }
    const { seq, hash, at, signature } = parsed.data;
    checkpoints.push({ seq, hash, atMs: Date.parse(at), signature, origin: `${file}:${i + 1}` });
  });
  return { checkpoints, skipped };
}

export type VerifyProblem =
  | 'altered'
  | 'missing'
  | 'out_of_order'
  | 'broken_link'
  | 'truncated'
  | 'checkpoint_signature'
  | 'checkpoint_mismatch'
  | 'head_missing'
  | 'outside_mismatch'
  | 'outside_truncated';

export interface VerifyReport {
  ok: boolean;
  entries: number;
  head_seq: number;
  checkpoints: number;
  /** Off-box copies of the head compared with the log (valid signatures only). */
  outside_checkpoints: number;
  /** Off-box copies set aside: their signature is not the log's (not evidence either way). */
  outside_ignored: number;
  /** The first problem found (null when intact). */
  first_bad: {
    seq: number;
    problem: VerifyProblem;
    message: string;
    /** The off-box copy that caught it. */
    checkpoint?: { origin: string; seq: number; at: string };
  } | null;
}

/** Verifies the log with the signer's public key. */
export async function verifyAuditLog(
  store: AuditStore,
  signer: CheckpointSigner,
  outside: readonly OutsideCheckpoint[] = [],
): Promise<VerifyReport> {
  const checkpoints = await store.checkpoints();
  const head = await store.head();
  const expectedAt = new Map<number, string>();
  let bad: VerifyReport['first_bad'] = null;
  const fail = (
    seq: number,
    problem: VerifyProblem,
    message: string,
    checkpoint?: OutsideCheckpoint,
  ): void => {
    if (!bad || seq < bad.seq)
      bad = {
        seq,
        problem,
        message,
        ...(checkpoint
          ? {
              checkpoint: {
                origin: checkpoint.origin,
                seq: checkpoint.seq,
                at: new Date(checkpoint.atMs).toISOString(),
              },
            }
          : {}),
      };
  };
  const copies = outside.filter((c) => signer.verify(c));
  const copyAt = new Map<number, OutsideCheckpoint>();
  for (const c of copies) if (!copyAt.has(c.seq)) copyAt.set(c.seq, c);
  const named = (c: OutsideCheckpoint): string =>
    `the checkpoint of entry ${c.seq} pushed at ${new Date(c.atMs).toISOString()} (${c.origin})`;
  for (const cp of checkpoints) {
    if (!signer.verify(cp))
      fail(cp.seq, 'checkpoint_signature', `checkpoint at entry ${cp.seq}: bad signature`);
    expectedAt.set(cp.seq, cp.hash);
  }
  if (head && !signer.verify(head))
    fail(head.seq, 'checkpoint_signature', `signed head at entry ${head.seq}: bad signature`);

  let prevSeq = 0;
  let prevHash = GENESIS_HASH;
  let count = 0;
  let stopped = false;
  await store.walk((page) => {
    for (const e of page) {
      if (stopped) return;
      count += 1;
      const expected = prevSeq + 1;
      if (e.seq > expected) {
        fail(expected, 'missing', `entry ${expected} is missing (next present is ${e.seq})`);
        stopped = true;
        return;
      }
      if (e.seq < expected) {
        fail(e.seq, 'out_of_order', `entry ${e.seq} appears twice or out of order`);
        stopped = true;
        return;
      }
      if (entryHash(e) !== e.hash) {
        fail(e.seq, 'altered', `entry ${e.seq} was altered (its hash does not match its content)`);
        stopped = true;
        return;
      }
      if (e.prevHash !== prevHash) {
        fail(
          e.seq,
          'broken_link',
          `entry ${e.seq} does not follow entry ${e.seq - 1} (moved, replaced or reordered)`,
        );
        stopped = true;
        return;
      }
      const cp = expectedAt.get(e.seq);
      if (cp !== undefined && cp !== e.hash) {
        fail(e.seq, 'checkpoint_mismatch', `entry ${e.seq} differs from its signed checkpoint`);
        stopped = true;
        return;
      }
      const copy = copyAt.get(e.seq);
      if (copy && copy.hash !== e.hash) {
        fail(
          e.seq,
          'outside_mismatch',
          `entry ${e.seq} differs from ${named(copy)}: the log was rewritten or rolled back`,
          copy,
        );
        stopped = true;
        return;
      }
      prevSeq = e.seq;
      prevHash = e.hash;
    }
  });
  if (!stopped) {
    if (head) {
      if (head.seq > prevSeq)
        fail(
          prevSeq + 1,
          'truncated',
          `entries ${prevSeq + 1} to ${head.seq} are missing (the log was truncated after entry ${prevSeq})`,
        );
      else if (head.seq < prevSeq)
        fail(
          head.seq + 1,
          'head_missing',
          `entry ${head.seq + 1} and later are not covered by the signed head`,
        );
      else if (head.hash !== prevHash)
        fail(prevSeq, 'checkpoint_mismatch', `entry ${prevSeq} differs from the signed head`);
    } else if (count > 0) {
      fail(1, 'head_missing', 'the signed head is missing');
    }
    const lastCp = checkpoints.at(-1);
    if (lastCp && lastCp.seq > prevSeq)
      fail(
        prevSeq + 1,
        'truncated',
        `entries ${prevSeq + 1} to ${lastCp.seq} are missing (a signed checkpoint covers them)`,
      );
    const furthest = copies.reduce<OutsideCheckpoint | null>(
      (a, c) => (a === null || c.seq > a.seq ? c : a),
      null,
    );
    if (furthest && furthest.seq > prevSeq)
      fail(
        prevSeq + 1,
        'outside_truncated',
        `the log ends at entry ${prevSeq} but ${named(furthest)} covers entries up to ${furthest.seq}: ` +
          'the log was truncated or rolled back',
        furthest,
      );
  }
  return {
    ok: bad === null,
    entries: count,
    head_seq: head?.seq ?? 0,
    checkpoints: checkpoints.length,
    outside_checkpoints: copies.length,
    outside_ignored: outside.length - copies.length,
    first_bad: bad,
  };
}
