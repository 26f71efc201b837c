// Encryption at rest of the DuckDB file: detection, opening through ATTACH with a key derived
// from the master key, and the one-time migration of a plain database to an encrypted one.
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';

/** How the data directory is protected at rest (see ServerConfig.store.encryption). */
export interface AtRestOptions {
  /** Key of the ingest log (HKDF label `ingest-log`); sealed segments need it to be read. */
  logKey: Buffer;
  /** Key given to DuckDB's `ENCRYPTION_KEY` (HKDF label `database`). */
  databaseKey: Buffer;
  mode: 'auto' | 'on' | 'off';
  /**
   * Lets DuckDB write with its bundled crypto (`force_mbedtls_unsafe`), whose nonces and temp-file
   * keys come from a timestamp-seeded generator. For tests and benchmarks of the code path only.
   */
  dangerouslyAllowWeakCrypto?: boolean;
}

/** Name under which an encrypted database is attached (and made the default with USE). */
export const ATTACHED_NAME = 'sillage';

const MAGIC = Buffer.from('DUCK', 'ascii');

/**
 * Whether a DuckDB file is encrypted, from its main header (which DuckDB keeps in plaintext):
 * `DUCK` at offset 8, then the storage version (8 bytes), then flags whose lowest bit says
 * "encrypted". null when there is no such file.
 */
export function isEncryptedFile(file: string): boolean | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const head = Buffer.alloc(28);
    const read = fs.readSync(fd, head, 0, head.length, 0);
    if (read < head.length || !head.subarray(8, 12).equals(MAGIC)) return false;
    return (head.readUInt8(20) & 1) === 1;
  } finally {
    fs.closeSync(fd);
  }
}

function sqlString(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * Makes DuckDB able to write encrypted files. Its bundled crypto module only reads them: writes
 * need the httpfs extension (OpenSSL), which Sillage never downloads; it is used when it is
 * already installed locally. Returns false when no safe module is available.
 */
async function enableWritableCrypto(c: DuckDBConnection, options: AtRestOptions): Promise<boolean> {
  try {
    await c.run('LOAD httpfs');
    return true;
  } catch {
    if (!options.dangerouslyAllowWeakCrypto) return false;
    await c.run("SET force_mbedtls_unsafe = 'true'");
    return true;
  }
}

/**
 * An in-memory instance whose crypto can write encrypted files, with `temp_file_encryption` on,
 * and the SQL literal of the database key; throws when no crypto module can write safely.
 */
export async function encryptingInstance(
  settings: Record<string, string>,
  atRest: AtRestOptions,
): Promise<{ instance: DuckDBInstance; key: string }> {
  const instance = await DuckDBInstance.create(':memory:', {
    ...settings,
    autoinstall_known_extensions: 'false',
  });
  const c = await instance.connect();
  try {
    if (!(await enableWritableCrypto(c, atRest))) {
      throw new AppError(
        'STORE_UNAVAILABLE',
        'the database is encrypted, but DuckDB has no crypto module that can write it ' +
          '(install its httpfs extension); see README "Encryption at rest"',
      );
    }
    await c.run('SET GLOBAL temp_file_encryption = true');
  } catch (cause) {
    c.closeSync();
    instance.closeSync();
    throw cause;
  }
  c.closeSync();
  return { instance, key: sqlString(atRest.databaseKey.toString('hex')) };
}

/** `ATTACH` of an encrypted database file (the key as returned by `encryptingInstance`). */
export function attachEncryptedSql(file: string, name: string, key: string): string {
  return `ATTACH ${sqlString(file)} AS ${name} (ENCRYPTION_KEY ${key})`;
}

/** What `openAtRest` opened. */
export interface OpenedInstance {
  instance: DuckDBInstance;
  /** True when the database file is encrypted: every connection must `USE` ATTACHED_NAME. */
  encrypted: boolean;
}

/**
 * Opens the database file: directly when it stays plain, else through an in-memory instance that
 * ATTACHes the file with its key. A plain database is migrated first when it should be encrypted.
 */
export async function openAtRest(
  file: string,
  settings: Record<string, string>,
  atRest: AtRestOptions | undefined,
  logger: Logger,
): Promise<OpenedInstance> {
  const existing = isEncryptedFile(file);
  if (atRest === undefined || (atRest.mode === 'off' && existing !== true)) {
    if (existing === true) {
      throw new AppError(
        'STORE_UNAVAILABLE',
        'the database is encrypted: open the data directory with its master key',
      );
    }
    return { instance: await DuckDBInstance.create(file, settings), encrypted: false };
  }
  // Nothing is installed from the network, ever: only a locally installed httpfs is loaded.
  const instance = await DuckDBInstance.create(':memory:', {
    ...settings,
    autoinstall_known_extensions: 'false',
  });
  try {
    const c = await instance.connect();
    try {
      const writable = await enableWritableCrypto(c, atRest);
      if (!writable) {
        if (existing === true || atRest.mode === 'on') {
          throw new AppError(
            'STORE_UNAVAILABLE',
            existing === true
              ? 'the database is encrypted, but DuckDB has no crypto module that can write it ' +
                  '(install its httpfs extension); see README "Encryption at rest"'
              : 'SILLAGE_ENCRYPTION=on, but DuckDB has no crypto module that can write an ' +
                  'encrypted database (install its httpfs extension); see README "Encryption at rest"',
          );
        }
        c.closeSync();
        instance.closeSync();
        logger.warn(
          'the database is not encrypted at rest: DuckDB has no safe crypto module to write ' +
            'it (its httpfs extension is not installed); the ingest log is encrypted',
          {},
        );
        return { instance: await DuckDBInstance.create(file, settings), encrypted: false };
      }
      if (atRest.dangerouslyAllowWeakCrypto) {
        logger.warn(
          'SILLAGE_DANGEROUSLY_ALLOW_WEAK_DB_CRYPTO is set: the database is encrypted with ' +
            "DuckDB's bundled crypto, whose nonces are not from a secure source (tests only)",
          {},
        );
      }
      // Spill files are encrypted too (with a key DuckDB draws per process); DuckDB leaves them
      // plain unless told, even for an encrypted database.
      await c.run('SET GLOBAL temp_file_encryption = true');
      const key = sqlString(atRest.databaseKey.toString('hex'));
      if (existing === false) await migrateToEncrypted(c, file, key, logger);
      await c.run(`ATTACH ${sqlString(file)} AS ${ATTACHED_NAME} (ENCRYPTION_KEY ${key})`);
    } finally {
      c.closeSync();
    }
    return { instance, encrypted: true };
  } catch (cause) {
    instance.closeSync();
    throw cause;
  }
}

function fsyncPath(target: string): void {
  const fd = fs.openSync(target, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Rewrites a plain database as an encrypted one, crash-safely: the copy is written beside it,
 * checkpointed and fsynced, and only then renamed over the plain file (an atomic replace). A
 * crash at any step leaves either the complete plain file (the next start migrates again) or
 * the complete encrypted one.
 */
async function migrateToEncrypted(
  c: DuckDBConnection,
  file: string,
  key: string,
  logger: Logger,
): Promise<void> {
  const fresh = `${file}.encrypting`;
  fs.rmSync(fresh, { force: true });
  fs.rmSync(`${fresh}.wal`, { force: true });
  const started = Date.now();
  logger.info('encrypting the existing database at rest (one-time migration)', {
    path: 'sillage.duckdb',
  });
  // Attaching the plain file replays its WAL; the checkpoint folds it in, so that the plain
  // WAL holds nothing once the copy is complete.
  await c.run(`ATTACH ${sqlString(file)} AS plain_source`);
  await c.run('CHECKPOINT plain_source');
  await c.run(`ATTACH ${sqlString(fresh)} AS encrypted_target (ENCRYPTION_KEY ${key})`);
  await c.run('COPY FROM DATABASE plain_source TO encrypted_target');
  await c.run('CHECKPOINT encrypted_target');
  await c.run('DETACH encrypted_target');
  await c.run('DETACH plain_source');
  fsyncPath(fresh);
  // The plain WAL was folded into the plain file above; one left behind would be replayed into
  // the encrypted file.
  fs.rmSync(`${file}.wal`, { force: true });
  fs.rmSync(`${fresh}.wal`, { force: true });
  fs.renameSync(fresh, file);
  fsyncPath(path.dirname(file));
  logger.info('the database is now encrypted at rest', {
    path: 'sillage.duckdb',
    durationMs: Date.now() - started,
  });
}
