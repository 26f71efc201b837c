// An in-memory AuditStore (unit tests of the log's logic; never used by the server).
import type { AuditCheckpoint, AuditEntry, AuditStore, SuspensionRecord } from './types.js';

export class MemoryAuditStore implements AuditStore {
  entries: AuditEntry[] = [];
  headCp: AuditCheckpoint | null = null;
  periodic: AuditCheckpoint[] = [];
  failing = false;
  append(entries: readonly AuditEntry[], head: AuditCheckpoint, checkpoint: boolean) {
    if (this.failing) return Promise.reject(new Error('disk full'));
    this.entries.push(...entries);
    this.headCp = head;
    if (checkpoint) this.periodic.push(head);
    return Promise.resolve();
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
}
