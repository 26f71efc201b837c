// Opens the embedded DuckDB file, applies migrations, replays the ingest log and hands out
// serialised connections.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { AppError, isAppError } from '../../shared/errors.js';
import { restrictTree, usePrivateUmask } from '../../shared/file-modes.js';
import { safeStack, SILENT_LOGGER, type Logger } from '../../shared/log.js';
import { Serial } from '../../shared/serial.js';
import { ATTACHED_NAME, openAtRest, type AtRestOptions } from './at-rest.js';
import { INGEST_LOG_DIR } from './ingest-log.js';
import { isOutOfMemory } from './load-error.js';
import { sizeBytes } from './memory-limit.js';
import { ProjectRollups } from './rollups.js';
import {
  DEFAULT_INGEST_LOADER_OPTIONS,
  IngestLoader,
  type IngestLoaderOptions,
} from './ingest-loader.js';
import { DUCKDB_MIGRATIONS } from './schema.js';
import type { SerialConnection } from './serial-connection.js';

export type { SerialConnection } from './serial-connection.js';

/** File name of the database inside the data directory. */
export const DUCKDB_FILE = 'sillage.duckdb';

/**
 * DuckDB invalidates a database after a fatal error (a write failing on a full disk): every later
 * statement fails until the database is opened again.
 */
const INVALIDATED = /database has been invalidated|FATAL Error/i;

/**
 * Set by `DuckDbDatabase.close` once its own last statements are queued: from then on a statement
 * is refused when submitted, so that none can start on a connection after it is freed (the driver
 * does not guard that: a late statement — a background job still running at shutdown — crashed
 * the process with a segmentation fault).
 */
interface Admission {
  released: boolean;
}

function serialConnection(
  connection: DuckDBConnection,
  admission: Admission,
  onFatal: (error: unknown) => void = () => undefined,
  /**
   * A statement refused for memory rejects with STORE_BUSY (requests wait on this connection).
   * False for the writer: the ingest loader and the rollups read DuckDB's own error to advise.
   */
  busyOnOutOfMemory = true,
): SerialConnection {
  const serial = new Serial();
  const holder: SerialConnection = {
    connection,
    serial,
    run: (task) => {
      if (admission.released)
        return Promise.reject(new AppError('STORE_UNAVAILABLE', 'the database is closed'));
      return serial.run(async () => {
        try {
          return await task(holder.connection);
        } catch (error) {
          if (error instanceof Error && INVALIDATED.test(error.message)) onFatal(error);
          if (busyOnOutOfMemory && isOutOfMemory(error)) throw storeBusy(error);
          throw error;
        }
      });
    },
  };
  return holder;
}

/** Called around a reopen of the database (see `DuckDbDatabase.onReopen`). */
export interface ReopenHooks {
  before(): Promise<void>;
  after(): Promise<void>;
}

/** Seconds a request refused for memory is told to wait (a heavy query holds it for seconds). */
export const BUSY_RETRY_AFTER_SECONDS = 5;

/**
 * DuckDB refused memory to a statement that needs little: the memory limit, which the whole
 * store shares, is full of other work (heavy queries of any project, a load). Not a fault: 503
 * with Retry-After. (A key look-up and the project's metadata answered 500 under a flood of
 * queries before: bench/query-abuse.ts overload-40.)
 */
export function storeBusy(cause: unknown): AppError {
  return new AppError(
    'STORE_BUSY',
    'the store is short of memory right now (other work holds it); retry in a few seconds',
    { cause, retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS },
  );
}

/**
 * Wraps a driver error once, at the adapter boundary, without its message (it may quote data).
 * A refusal for memory is STORE_BUSY (see `storeBusy`), not a failure.
 */
export function storeError(cause: unknown, what: string): AppError {
  if (isAppError(cause) && cause.code === 'STORE_BUSY') return cause;
  if (isOutOfMemory(cause)) return storeBusy(cause);
  return new AppError('STORE_FAILURE', `database operation failed: ${what}`, { cause });
}

/** DuckDB engine settings (`threads`, `checkpoint_threshold`). */
export interface DuckDbTuning {
  /**
   * Worker threads of the engine. Default: one per core but one, which is left to the
   * JavaScript thread that serves requests (at least 1).
   */
  threads?: number | undefined;
  /** WAL size that triggers an automatic checkpoint, e.g. `256MB` (DuckDB default: 16MB). */
  checkpointThreshold?: string | undefined;
  /** DuckDB's `memory_limit`, e.g. `256MB` (DuckDB default: 80 % of RAM). */
  memoryLimit?: string | undefined;
}

/**
 * How DuckDB gives memory back. Its Linux build allocates through a jemalloc of its own, which
 * keeps freed pages for reuse: after a load DuckDB's own accounting (`duckdb_memory()`) fell to
 * ~10 MB while the process kept 110–150 MB more resident than before it, until the database
 * closed — the "rest" outside DuckDB's accounting in bench:abuse's breakdown. jemalloc's
 * background threads return freed pages after its decay time, and a bulk free of more than 16 MB
 * (a load's staged rows, a query's hash tables) returns them at once (DuckDB's default, 512 MB, is
 * twice the whole memory limit). The external file cache keeps the pages of files DuckDB read
 * (the ingest log's segments, each read once) in memory. Measured on one 100k-event load
 * (README "Memory").
 */
const ALLOCATOR_SETTINGS = {
  allocator_background_threads: 'true',
  allocator_bulk_deallocation_flush_threshold: '16MB',
  enable_external_file_cache: 'false',
} as const;

/** Options of `DuckDbDatabase.open`. */
export interface DuckDbOpenOptions {
  readers?: number;
  /**
   * Runs before migrations with a reader of the `settings` table (null when the database is
   * new), so that a wrong master key is refused before anything is written.
   */
  beforeMigrate?: (readSetting: (name: string) => Promise<string | null>) => Promise<void>;
  tuning?: DuckDbTuning;
  /** Encryption at rest (database and ingest log); absent = plain, as test tools open a copy. */
  atRest?: AtRestOptions;
  ingest?: {
    /** Longest a logged batch waits before its segment is loaded. */
    maxDelayMs?: number;
    /**
     * The backlog at which commits are refused (the writer's queue bound): segments are sealed
     * at a quarter of it at most, so that loading starts well before the bound is reached.
     */
    backlogLimit?: number;
    /** What a failed load does (IngestLoaderOptions.onFailedLoad): `stop` for an import. */
    onFailedLoad?: 'retry' | 'stop';
    /** Longest a load waits for running queries (IngestLoaderOptions.deferMaxMs). */
    deferMaxMs?: number;
  };
  logger?: Logger;
}

function loaderOptions(ingest: DuckDbOpenOptions['ingest'] = {}): IngestLoaderOptions {
  const limit = ingest.backlogLimit;
  return {
    maxDelayMs: ingest.maxDelayMs ?? DEFAULT_INGEST_LOADER_OPTIONS.maxDelayMs,
    onFailedLoad: ingest.onFailedLoad ?? 'retry',
    ...(ingest.deferMaxMs === undefined ? {} : { deferMaxMs: ingest.deferMaxMs }),
    sealEventRows:
      limit === undefined
        ? DEFAULT_INGEST_LOADER_OPTIONS.sealEventRows
        : Math.max(1, Math.min(DEFAULT_INGEST_LOADER_OPTIONS.sealEventRows, Math.floor(limit / 4))),
  };
}

/**
 * Creates the data directory if needed and makes it private: every file DuckDB and the ingest
 * log create from now on is 0600 in 0700 directories (umask), and what an earlier version left
 * looser (the database and its WAL were 0644) is tightened.
 */
function preparePrivateDir(dataDir: string, logger: Logger): void {
  usePrivateUmask();
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tightened = restrictTree(dataDir);
  if (tightened > 0) {
    logger.info('tightened file modes in the data directory to 0600 files in 0700 directories', {
      count: tightened,
    });
  }
}

/**
 * One open DuckDB database: a writer connection, a metadata connection, a lookup connection, a
 * reader pool, and the ingest log in front of the event tables (see IngestLoader).
 */
export class DuckDbDatabase {
  private closed = false;
  private loader: IngestLoader | null = null;
  /** Set from a fatal error until the database is open again (see `recover`). */
  private invalidated = false;
  private recovering: Promise<void> | null = null;
  private readonly reopenHooks: ReopenHooks[] = [];
  private readonly closeTasks: (() => Promise<void>)[] = [];
  /** Opens the file again the way `open` did (settings, encryption at rest). */
  private reopenInstance: () => Promise<DuckDBInstance> = () =>
    Promise.reject(new Error('the database cannot be reopened before it is opened'));
  private logger: Logger = SILENT_LOGGER;
  private rollupTables: ProjectRollups | null = null;

  private constructor(
    private readonly admission: Admission,
    private currentInstance: DuckDBInstance,
    readonly writer: SerialConnection,
    readonly meta: SerialConnection,
    /**
     * Single-statement reads of metadata that requests wait for (an API key, a project): never
     * queued behind a write on `meta`, whose commit may run DuckDB's automatic checkpoint of
     * everything the loader wrote since the last one (seconds on a busy store; issue 12).
     */
    readonly lookups: SerialConnection,
    private readonly readers: SerialConnection[],
    readonly filePath: string,
    /** The file is encrypted at rest (attached under ATTACHED_NAME). */
    readonly encrypted: boolean,
  ) {}

  /** The engine instance (a new one after a recovery: connect through it at the time of use). */
  get instance(): DuckDBInstance {
    return this.currentInstance;
  }

  /** False while the database is invalidated by a fatal error and not yet reopened. */
  get healthy(): boolean {
    return !this.invalidated;
  }

  /**
   * Lets a holder of its own connections close them before a reopen and open new ones after
   * (the query executor).
   */
  onReopen(hooks: ReopenHooks): void {
    this.reopenHooks.push(hooks);
  }

  /** Runs `task` first when the database closes (a store writing what it holds in memory). */
  beforeClose(task: () => Promise<void>): void {
    this.closeTasks.push(task);
  }

  /** Marks the database invalidated and reopens it in the background until that succeeds. */
  private fatal(error: unknown): void {
    if (this.closed || this.invalidated) return;
    this.invalidated = true;
    this.logger.error('the database was invalidated by a fatal error; reopening it', {
      stack: safeStack(error),
    });
    this.recovering ??= this.recover().finally(() => (this.recovering = null));
  }

  /**
   * Closes the invalidated instance and opens the file again, retrying with backoff (the disk may
   * still be full); the connection holders (`writer`, `meta`, readers) get the new connections,
   * so every store keeps working without a restart. Nothing acknowledged is lost: acknowledged
   * events are in the ingest log, whose loader retries until a load commits.
   */
  private async recover(): Promise<void> {
    let waitMs = 250;
    while (!this.closed) {
      await new Promise((resolve) => setTimeout(resolve, waitMs).unref());
      if (this.closed) return;
      try {
        for (const hooks of this.reopenHooks) await hooks.before();
        const holders = [this.writer, this.meta, this.lookups, ...this.readers];
        // Let statements already queued on each connection finish (they fail fast now).
        await Promise.all(holders.map((h) => h.serial.run(() => Promise.resolve())));
        for (const h of holders) h.connection.closeSync();
        this.currentInstance.closeSync();
        this.currentInstance = await this.reopenInstance();
        for (const h of holders) h.connection = await this.connect();
        for (const hooks of this.reopenHooks) await hooks.after();
        this.invalidated = false;
        this.logger.info('the database is open again');
        return;
      } catch (error) {
        this.logger.warn('the database could not be reopened yet; retrying', {
          stack: safeStack(error),
        });
        waitMs = Math.min(10_000, waitMs * 2);
      }
    }
  }

  /**
   * A new connection to this database. Use it instead of `instance.connect()`: an encrypted
   * database is attached to an in-memory instance, and each connection must select it.
   */
  async connect(): Promise<DuckDBConnection> {
    return DuckDbDatabase.connectTo(this.instance, this.encrypted);
  }

  private static async connectTo(
    instance: DuckDBInstance,
    encrypted: boolean,
  ): Promise<DuckDBConnection> {
    const connection = await instance.connect();
    if (encrypted) await connection.run(`USE ${ATTACHED_NAME}`);
    return connection;
  }

  /**
   * Opens (creating if needed) the database in `dataDir`, applies pending migrations, then applies
   * whatever the ingest log holds that the tables do not: once this resolves, the tables hold
   * every acknowledged event.
   */
  static async open(dataDir: string, options: DuckDbOpenOptions = {}): Promise<DuckDbDatabase> {
    preparePrivateDir(dataDir, options.logger ?? SILENT_LOGGER);
    const filePath = path.join(dataDir, DUCKDB_FILE);
    let instance: DuckDBInstance;
    let encrypted: boolean;
    const settings = {
      // Temporary spill files stay inside the data directory, which the canary test searches.
      temp_directory: path.join(dataDir, 'tmp'),
      ...(options.tuning?.checkpointThreshold
        ? { checkpoint_threshold: options.tuning.checkpointThreshold }
        : {}),
      ...(options.tuning?.memoryLimit ? { memory_limit: options.tuning.memoryLimit } : {}),
      threads: String(options.tuning?.threads ?? Math.max(1, os.availableParallelism() - 1)),
      ...ALLOCATOR_SETTINGS,
    };
    try {
      ({ instance, encrypted } = await openAtRest(
        filePath,
        settings,
        options.atRest,
        options.logger ?? SILENT_LOGGER,
      ));
    } catch (cause) {
      if (cause instanceof AppError) throw cause;
      const message =
        cause instanceof Error && /lock/i.test(cause.message)
          ? 'the database is in use by another Sillage process (is the server running?)'
          : 'could not open the database file';
      throw new AppError('STORE_UNAVAILABLE', message, { cause });
    }
    let db: DuckDbDatabase | null = null;
    const onFatal = (error: unknown): void => db?.fatal(error);
    const connect = (): Promise<DuckDBConnection> => DuckDbDatabase.connectTo(instance, encrypted);
    const admission: Admission = { released: false };
    const writer = serialConnection(await connect(), admission, onFatal, false);
    const meta = serialConnection(await connect(), admission, onFatal);
    const lookups = serialConnection(await connect(), admission, onFatal);
    const readers: SerialConnection[] = [];
    for (let i = 0; i < (options.readers ?? 2); i++) {
      readers.push(serialConnection(await connect(), admission, onFatal));
    }
    db = new DuckDbDatabase(
      admission,
      instance,
      writer,
      meta,
      lookups,
      readers,
      filePath,
      encrypted,
    );
    db.reopenInstance = async () =>
      (await openAtRest(filePath, settings, options.atRest, options.logger ?? SILENT_LOGGER))
        .instance;
    db.logger = options.logger ?? SILENT_LOGGER;
    try {
      if (options.beforeMigrate)
        await options.beforeMigrate((name) => db.readSettingIfPresent(name));
      await db.migrate();
      const rollups = new ProjectRollups(
        db.writer,
        () => db.connect(),
        options.logger ?? SILENT_LOGGER,
        {
          memoryLimitBytes: options.tuning?.memoryLimit
            ? sizeBytes(options.tuning.memoryLimit)
            : undefined,
        },
      );
      await db.writer.run((c) => rollups.load(c));
      db.rollupTables = rollups;
      // A build reads on a connection of its own: it ends before the instance is closed.
      db.onReopen({
        before: () => rollups.stopBuilds(),
        after: () => Promise.resolve(rollups.resumeBuilds()),
      });
      db.loader = await IngestLoader.open(
        db.writer,
        path.join(dataDir, INGEST_LOG_DIR),
        {
          ...loaderOptions(options.ingest),
          memoryLimitBytes: options.tuning?.memoryLimit
            ? sizeBytes(options.tuning.memoryLimit)
            : undefined,
          rollups,
        },
        options.logger ?? SILENT_LOGGER,
        options.atRest && {
          read: options.atRest.logKey,
          write: options.atRest.mode === 'off' ? null : options.atRest.logKey,
        },
      );
    } catch (error) {
      await db.close();
      throw error;
    }
    return db;
  }

  private nextReader = 0;

  /** The ingest log and its loader (event writes go through it). */
  get ingest(): IngestLoader {
    if (!this.loader) throw new AppError('STORE_UNAVAILABLE', 'the database is not open');
    return this.loader;
  }

  /** The per-day rollups' upkeep and state (rollups.ts). */
  get rollups(): ProjectRollups {
    if (!this.rollupTables) throw new AppError('STORE_UNAVAILABLE', 'the database is not open');
    return this.rollupTables;
  }

  /** Runs a read on one of the reader connections (round robin). */
  read<T>(task: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    const reader = this.readers[this.nextReader++ % this.readers.length];
    if (!reader) throw new AppError('STORE_UNAVAILABLE', 'no reader connection');
    return reader.run(task);
  }

  private async readSettingIfPresent(name: string): Promise<string | null> {
    return this.meta.run(async (c) => {
      const exists = await c.runAndReadAll(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'settings' AND schema_name = 'main'",
      );
      if (Number(exists.getRowsJS()[0]?.[0] ?? 0) === 0) return null;
      const r = await c.runAndReadAll('SELECT value FROM settings WHERE name = $1', [name]);
      const row = r.getRows()[0];
      return row ? String(row[0]) : null;
    });
  }

  private async migrate(): Promise<void> {
    await this.writer.run(async (c) => {
      await c.run(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)',
      );
      const reader = await c.runAndReadAll('SELECT version FROM schema_migrations');
      const applied = new Set(reader.getRowsJS().map((row) => Number(row[0])));
      // A newer Sillage wrote this directory (a rollback after an upgrade): this build would not
      // keep what that one added (tables kept in step with the events, read by that one's
      // queries), so it does not start on it rather than leave them to drift.
      const known = Math.max(...DUCKDB_MIGRATIONS.map((m) => m.version));
      const newest = Math.max(0, ...applied);
      if (newest > known) {
        throw new AppError(
          'STORE_FAILURE',
          `this data directory was written by a newer Sillage (database schema ${newest}; this build knows up to ${known}): run that version or a later one`,
        );
      }
      for (const migration of DUCKDB_MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        // Some copy a table (13: the events, about a minute per 10M): say what the start waits for.
        if (applied.size > 0) {
          this.logger.info('applying a schema migration', {
            version: String(migration.version),
            kind: migration.name,
          });
        }
        const startedAt = Date.now();
        await c.run('BEGIN TRANSACTION');
        try {
          await c.run(migration.sql);
          await c.run('INSERT INTO schema_migrations VALUES ($1, $2, now())', [
            migration.version,
            migration.name,
          ]);
          await c.run('COMMIT');
        } catch (cause) {
          await c.run('ROLLBACK');
          throw storeError(cause, `migration ${migration.version}`);
        }
        if (applied.size > 0) {
          this.logger.info('schema migration applied', {
            version: String(migration.version),
            durationMs: Date.now() - startedAt,
          });
        }
      }
    });
  }

  /** Forces a checkpoint (folds the WAL into the main file). */
  async checkpoint(): Promise<void> {
    await this.writer.run((c) => c.run('CHECKPOINT'));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const task of this.closeTasks) {
      await task().catch((error: unknown) => {
        this.logger.warn('a task before the database closed failed', { stack: safeStack(error) });
      });
    }
    // A per-day build reads on a connection of its own: interrupted, and waited for.
    await this.rollupTables?.stopBuilds();
    // Load what the ingest log holds (what cannot be loaded is replayed at the next start).
    await this.loader?.close();
    // Refuse statements submitted from now on, wait for those already submitted, then release
    // the file.
    this.admission.released = true;
    await Promise.all(
      [this.writer, this.meta, this.lookups, ...this.readers].map((h) =>
        h.serial.run(() => Promise.resolve()),
      ),
    );
    await this.recovering;
    for (const conn of [this.writer, this.meta, this.lookups, ...this.readers]) {
      conn.connection.closeSync();
    }
    this.currentInstance.closeSync();
  }
}
