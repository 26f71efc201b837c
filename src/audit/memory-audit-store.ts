// An in-memory AuditStore (unit tests of the log's logic; never used by the server).
import { GENESIS_HASH } from './chain.js';
import type {
  AuditCheckpoint,
  AuditEntry,
  AuditStore,
  ChainSealer,
  SealedBatch,
  SuspensionRecord,
} from './types.js';

export class MemoryAuditStore implements AuditStore {
  entries: AuditEntry[] = [];
  headCp: AuditCheckpoint | null = null;
  periodic: AuditCheckpoint[] = [];
  failing = false;
  private readonly claims = new Set<string>();
  append(seal: ChainSealer): Promise<SealedBatch> {
    if (this.failing) return Promise.reject(new Error('disk full'));
    const last = this.entries.at(-1);
    const cp = this.periodic.at(-1);
    const batch = seal({
      seq: last?.seq ?? 0,
      hash: last?.hash ?? GENESIS_HASH,
      lastCheckpoint: cp ? { seq: cp.seq, atMs: cp.atMs } : null,
    });
    this.entries.push(...batch.entries);
    this.headCp = batch.head;
    if (batch.checkpoint) this.periodic.push(batch.head);
    return Promise.resolve(batch);
  }
  last = () => Promise.resolve(this.entries.at(-1) ?? null);
  head = () => Promise.resolve(this.headCp);
  checkpoints = () => Promise.resolve(this.periodic);
  scan = () => Promise.resolve([...this.entries].sort((a, b) => a.seq - b.seq));
  walk(visit: (p: AuditEntry[]) => void) {
    visit([...this.entries].sort((a, b) => a.seq - b.seq));
    return Promise.resolve();
  }
  putSuspension = (_s: SuspensionRecord) => Promise.resolve();
  liftSuspension = () => Promise.resolve(true);
  listSuspensions = () => Promise.resolve([]);
  claimTrigger(key: string): Promise<boolean> {
    if (this.claims.has(key)) return Promise.resolve(false);
    this.claims.add(key);
    return Promise.resolve(true);
  }
}
