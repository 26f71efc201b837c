// Runs the MetaStore and VaultStore conformance suites against DuckDB files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
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

describe('DuckDbDatabase.close', () => {
  it('runs the statements submitted before it, refuses later ones, and only then frees the connections', async () => {
    const db = await DuckDbDatabase.open(freshDir());
    // A job holds the metadata connection while the database closes (a response to an alert).
    let release!: () => void;
    const held = db.meta.run(() => new Promise<void>((resolve) => (release = resolve)));
    const queued = db.meta.run((c) => c.runAndReadAll('SELECT 42'));
    const closing = db.close();
    // Reads are served until close stops taking statements; it cannot finish while the job holds
    // its connection.
    let refused: unknown;
    for (let i = 0; i < 10_000 && refused === undefined; i++) {
      await db.read((c) => c.run('SELECT 1')).catch((error: unknown) => (refused = error));
    }
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).code).toBe('STORE_UNAVAILABLE');
    // The job's next step, submitted now, is refused instead of starting on a connection that is
    // about to be freed (the driver crashed the process with a segmentation fault then).
    const late = db.meta
      .run((c) => c.runAndReadAll('SELECT 1'))
      .then(
        () => null,
        (error: unknown) => error,
      );
    release();
    await held;
    expect(Number((await queued).getRowsJS()[0]?.[0])).toBe(42);
    expect(await late).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await closing;
  });
});
