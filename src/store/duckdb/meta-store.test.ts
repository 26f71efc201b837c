// Runs the MetaStore and VaultStore conformance suites against DuckDB files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe } from 'vitest';
import { metaStoreConformance } from '../meta-store.conformance.js';
import { vaultStoreConformance } from '../vault-store.conformance.js';
import { DuckDbAccountStore } from './account-store.js';
import { DuckDbDatabase } from './database.js';
import { DuckDbMetaStore } from './meta-store.js';
import { DuckDbVaultStore } from './vault-store.js';

const dirs: string[] = [];
function freshDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-meta-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('DuckDbMetaStore', () => {
  metaStoreConformance(async () => {
    const db = await DuckDbDatabase.open(freshDir());
    return {
      meta: new DuckDbMetaStore(db),
      accounts: new DuckDbAccountStore(db),
      close: () => db.close(),
    };
  });
});

describe('DuckDbVaultStore', () => {
  vaultStoreConformance(async () => {
    const db = await DuckDbDatabase.open(freshDir());
    return { vault: new DuckDbVaultStore(db), close: () => db.close() };
  });
});
