// Runs the AuditStore conformance suites (entries, and summaries) against a DuckDB file, bare and
// behind the journal (the embedded server's configuration).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, describe } from 'vitest';
import { auditStoreConformance } from '../../audit/audit-store.conformance.js';
import { auditSummaryConformance } from '../../audit/audit-summary.conformance.js';
import { JournaledAuditStore } from '../../audit/journal.js';
import { SILENT_LOGGER } from '../../shared/log.js';
import { DuckDbAuditStore } from './audit-store.js';
import { DuckDbDatabase } from './database.js';

const dirs: string[] = [];
function freshDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-audit-store-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('DuckDbAuditStore', () => {
  const open = async () => {
    const db = await DuckDbDatabase.open(freshDir());
    const store = new DuckDbAuditStore(db);
    return { store, another: () => Promise.resolve(store), close: () => db.close() };
  };
  auditStoreConformance(open);
  auditSummaryConformance(open);
});

describe('JournaledAuditStore over DuckDB', () => {
  const open = async () => {
    const dir = freshDir();
    const db = await DuckDbDatabase.open(path.join(dir, 'data'));
    const store = await JournaledAuditStore.open(
      path.join(dir, 'journal'),
      new DuckDbAuditStore(db),
      SILENT_LOGGER,
      { key: randomBytes(32) },
    );
    return {
      store,
      another: () => Promise.resolve(store),
      close: async () => {
        await store.close();
        await db.close();
      },
    };
  };
  auditStoreConformance(open);
  auditSummaryConformance(open);
});
