// An in-memory AuditStore (unit tests of the log's logic, the conformance suites' reference;
// never used by the server).
import { GENESIS_HASH } from './chain.js';
import { matchesFilter, SummaryFold } from './summary.js';
import type {
  AuditCheckpoint,
  AuditEntry,
  AuditFilter,
  AuditStore,
  AuditSummary,
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
  private readonly suspensions = new Map<string, SuspensionRecord>();
  append(seal: ChainSealer): Promise<SealedBatch> {
    if (this.failing) return Promise.reject(new Error('disk full'));
    const last = this.entries.at(-1);
    const cp = this.periodic.at(-1);
    let batch: SealedBatch;
    try {
      batch = seal({
        seq: last?.seq ?? 0,
        hash: last?.hash ?? GENESIS_HASH,
        lastCheckpoint: cp ? { seq: cp.seq, atMs: cp.atMs } : null,
      });
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    this.entries.push(...batch.entries);
    this.headCp = batch.head;
    if (batch.checkpoint) this.periodic.push(batch.head);
    return Promise.resolve(batch);
  }
  last = () => Promise.resolve(this.entries.at(-1) ?? null);
  head = () => Promise.resolve(this.headCp);
  checkpoints = () => Promise.resolve(this.periodic);
  private matching(filter: AuditFilter): AuditEntry[] {
    return [...this.entries].sort((a, b) => a.seq - b.seq).filter((e) => matchesFilter(e, filter));
  }
  scan(filter: AuditFilter): Promise<AuditEntry[]> {
    const found = this.matching(filter);
    return Promise.resolve(filter.limit === undefined ? found : found.slice(0, filter.limit));
  }
  summarise(filter: AuditFilter, listLimit: number): Promise<AuditSummary> {
    const fold = new SummaryFold(listLimit);
    for (const e of this.matching(filter)) fold.add(e);
    return Promise.resolve(fold.result());
  }
  walk(visit: (p: AuditEntry[]) => void, pageSize = 50_000) {
    const all = this.matching({});
    for (let i = 0; i < all.length; i += pageSize) visit(all.slice(i, i + pageSize));
    return Promise.resolve();
  }
  putSuspension(s: SuspensionRecord): Promise<void> {
    this.suspensions.set(s.id, { ...s });
    return Promise.resolve();
  }
  liftSuspension(id: string, atMs: number, by: string): Promise<boolean> {
    const s = this.suspensions.get(id);
    if (!s || s.liftedAtMs !== null) return Promise.resolve(false);
    this.suspensions.set(id, { ...s, liftedAtMs: atMs, liftedBy: by });
    return Promise.resolve(true);
  }
  listSuspensions(activeOnly: boolean): Promise<SuspensionRecord[]> {
    return Promise.resolve(
      [...this.suspensions.values()]
        .filter((s) => !activeOnly || s.liftedAtMs === null)
        .sort((a, b) => a.createdAtMs - b.createdAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .map((s) => ({ ...s })),
    );
  }
  claimTrigger(key: string): Promise<boolean> {
    if (this.claims.has(key)) return Promise.resolve(false);
    this.claims.add(key);
    return Promise.resolve(true);
  }
}
