// Runs the AuditStore conformance suites against the in-memory store (the unit tests' store).
import { describe } from 'vitest';
import { auditStoreConformance } from './audit-store.conformance.js';
import { auditSummaryConformance } from './audit-summary.conformance.js';
import { MemoryAuditStore } from './memory-audit-store.js';

describe('MemoryAuditStore', () => {
  const open = () => {
    const store = new MemoryAuditStore();
    return Promise.resolve({
      store,
      another: () => Promise.resolve(store),
      close: () => Promise.resolve(),
    });
  };
  auditStoreConformance(open);
  auditSummaryConformance(open);
});
