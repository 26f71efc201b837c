// `sillage audit verify`: walks the whole log in sequence order, recomputes every hash, checks
// the chain links, every signed checkpoint and the signed head, and names the first bad entry.
import { entryHash, GENESIS_HASH, type CheckpointSigner } from './chain.js';
import type { AuditStore } from './types.js';

export type VerifyProblem =
  | 'altered'
  | 'missing'
  | 'out_of_order'
  | 'broken_link'
  | 'truncated'
  | 'checkpoint_signature'
  | 'checkpoint_mismatch'
  | 'head_missing';

export interface VerifyReport {
  ok: boolean;
  entries: number;
  head_seq: number;
  checkpoints: number;
  /** The first problem found (null when intact). */
  first_bad: { seq: number; problem: VerifyProblem; message: string } | null;
}

/** Verifies the log with the signer's public key. */
export async function verifyAuditLog(
  store: AuditStore,
  signer: CheckpointSigner,
): Promise<VerifyReport> {
  const checkpoints = await store.checkpoints();
  const head = await store.head();
  const expectedAt = new Map<number, string>();
  let bad: VerifyReport['first_bad'] = null;
  const fail = (seq: number, problem: VerifyProblem, message: string): void => {
    if (!bad || seq < bad.seq) bad = { seq, problem, message };
  };
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
  }
  return {
    ok: bad === null,
    entries: count,
    head_seq: head?.seq ?? 0,
    checkpoints: checkpoints.length,
    first_bad: bad,
  };
}
