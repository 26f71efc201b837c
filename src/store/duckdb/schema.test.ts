// A data directory written by a newer Sillage (a rollback after an upgrade) is refused with a
// precise message, before anything is changed: this build would not keep what the newer one added
// (tables it keeps in step with the events), and they would drift from the events unseen.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterEach, describe, expect, it } from 'vitest';
import { DUCKDB_FILE, DuckDbDatabase } from './database.js';
import { DUCKDB_MIGRATIONS } from './schema.js';

let dir: string | null = null;

afterEach(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = null;
});

/** Runs `sql` on the directory's database file directly (no Sillage in between). */
async function direct(at: string, sql: string): Promise<unknown[][]> {
  const instance = await DuckDBInstance.create(path.join(at, DUCKDB_FILE));
  const c = await instance.connect();
  try {
    return (await c.runAndReadAll(sql)).getRowsJS();
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

describe('the database schema', () => {
  it('is refused when a newer Sillage wrote it, and left as it was', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-schema-'));
    await (await DuckDbDatabase.open(dir)).close();
    const known = Math.max(...DUCKDB_MIGRATIONS.map((m) => m.version));
    await direct(
      dir,
      `INSERT INTO schema_migrations VALUES (${known + 1}, 'from the future', now())`,
    );
    await expect(DuckDbDatabase.open(dir)).rejects.toMatchObject({
      code: 'STORE_FAILURE',
      message: `this data directory was written by a newer Sillage (database schema ${known + 1}; this build knows up to ${known}): run that version or a later one`,
    });
    expect(await direct(dir, 'SELECT max(version) FROM schema_migrations')).toEqual([[known + 1]]);
    // Its own schema it opens as before.
    await direct(dir, `DELETE FROM schema_migrations WHERE version = ${known + 1}`);
    await (await DuckDbDatabase.open(dir)).close();
  });
});
