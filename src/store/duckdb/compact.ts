// Physical compaction of the DuckDB file. DuckDB marks deleted rows and reuses free blocks later,
// so the bytes of erased data can linger in the file; copying the live database into a fresh file
// and swapping it in is the only way to make an erasure physical.
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { AppError } from '../../shared/errors.js';
import {
  ATTACHED_NAME,
  attachEncryptedSql,
  encryptingInstance,
  isEncryptedFile,
  type AtRestOptions,
} from './at-rest.js';
import { DUCKDB_FILE } from './database.js';

/**
 * Rewrites `dataDir`'s database into a new file holding only live rows, then replaces the old
 * file (and its WAL). Needs exclusive access: the server must be stopped. Returns the sizes.
 */
export async function compactDatabase(
  dataDir: string,
  atRest?: AtRestOptions,
): Promise<{ beforeBytes: number; afterBytes: number }> {
  const file = path.join(dataDir, DUCKDB_FILE);
  if (!fs.existsSync(file))
    throw new AppError('STORE_UNAVAILABLE', 'no database in this data directory');
  const fresh = path.join(dataDir, `${DUCKDB_FILE}.compacting`);
  fs.rmSync(fresh, { force: true });
  fs.rmSync(`${fresh}.wal`, { force: true });
  const beforeBytes =
    fs.statSync(file).size + (fs.existsSync(`${file}.wal`) ? fs.statSync(`${file}.wal`).size : 0);
  const settings = { temp_directory: path.join(dataDir, 'tmp') };
  // An encrypted database is compacted into an encrypted file, under the same key.
  const encrypted = isEncryptedFile(file) === true;
  if (encrypted && atRest === undefined) {
    throw new AppError('STORE_UNAVAILABLE', 'the database is encrypted: the master key is needed');
  }
  let instance: DuckDBInstance;
  let key = '';
  try {
    if (encrypted && atRest) ({ instance, key } = await encryptingInstance(settings, atRest));
    else instance = await DuckDBInstance.create(file, settings);
  } catch (cause) {
    if (cause instanceof AppError) throw cause;
    throw new AppError(
      'STORE_UNAVAILABLE',
      'the database is in use (stop the server before compacting)',
      { cause },
    );
  }
  try {
    // File paths and names come from our own configuration, never from a request.
    const c = await instance.connect();
    if (encrypted) {
      await c.run(attachEncryptedSql(file, ATTACHED_NAME, key));
      await c.run(`USE ${ATTACHED_NAME}`);
    }
    // Fold the WAL in first so that nothing committed is left behind in it.
    await c.run('CHECKPOINT');
    const current = await c.runAndReadAll('SELECT current_database()');
    const name = String((current.getRows()[0]?.[0] as string | undefined) ?? 'sillage').replace(
      /"/g,
      '""',
    );
    await c.run(
      encrypted
        ? attachEncryptedSql(fresh, 'fresh', key)
        : `ATTACH '${fresh.replace(/'/g, "''")}' AS fresh`,
    );
    await c.run(`COPY FROM DATABASE "${name}" TO fresh`);
    await c.run('DETACH fresh');
    if (encrypted) {
      await c.run('USE memory');
      await c.run(`DETACH ${ATTACHED_NAME}`);
    }
    c.closeSync();
  } finally {
    instance.closeSync();
  }
  // Swap: the fresh file replaces the old one; the old WAL is empty after the checkpoint.
  fs.renameSync(fresh, file);
  fs.rmSync(`${file}.wal`, { force: true });
  fs.rmSync(`${fresh}.wal`, { force: true });
  return { beforeBytes, afterBytes: fs.statSync(file).size };
}
