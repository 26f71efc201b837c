// Opens a PostgreSQL database (SILLAGE_META_URL) with a connection pool, applies the migrations
// under an advisory lock (several nodes may start at once), and hands out connections with the
// same small surface the DuckDB adapters use (`run`, `runAndReadAll`).
import type pg from 'pg';
import type { Client, Pool, PoolClient } from 'pg';
import { AppError } from '../../shared/errors.js';
import { safeStack, SILENT_LOGGER, type Logger } from '../../shared/log.js';
import { POSTGRES_MIGRATIONS } from './schema.js';

/** A row as an object keyed by column name. */
export type PgRow = Record<string, unknown>;

/** One pooled connection, checked out for the duration of a task. */
export interface PgConnection {
  /** Runs one statement; returns how many rows it changed. */
  run(sql: string, params?: unknown[]): Promise<{ rowsChanged: number }>;
  /** Runs one statement and returns its rows, as objects or as arrays in column order. */
  runAndReadAll(
    sql: string,
    params?: unknown[],
  ): Promise<{ getRowObjects(): PgRow[]; getRows(): unknown[][] }>;
}

/** Any advisory-lock key will do as long as every Sillage node uses the same one. */
const MIGRATION_LOCK = 7_240_115;

/**
 * BIGINT (times in epoch ms, counters) comes back as a number: every value Sillage stores there
 * is far below 2^53. Everything else keeps pg's default parsing.
 */
const INT8_OID = 20;

type PgModule = typeof pg;
let pgModule: PgModule | null = null;

/**
 * The driver, loaded when a PostgreSQL database is first opened: most nodes never open one, and
 * loading it cost every start of the server and of each CLI command ~0.1 s of CPU.
 */
async function loadPg(): Promise<PgModule> {
  return (pgModule ??= (await import('pg')).default);
}

/** The driver once `loadPg` has loaded it (every use below follows an `open`). */
function loadedPg(): PgModule {
  if (!pgModule) throw new Error('the PostgreSQL driver is not loaded yet');
  return pgModule;
}

const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === INT8_OID
      ? (value: string) => Number(value)
      : (loadedPg().types.getTypeParser(
          oid,
          format ?? 'text',
        ) as unknown)) as PgModule['types']['getTypeParser'],
};

/** Wraps a driver error once, at the adapter boundary, without its message (it may quote data). */
export function storeError(cause: unknown, what: string): AppError {
  if (cause instanceof AppError) return cause;
  return new AppError('STORE_FAILURE', `database operation failed: ${what}`, { cause });
}

/** A unique-key clash (SQLSTATE 23505). */
export function isUniqueViolation(cause: unknown): boolean {
  return (
    typeof cause === 'object' && cause !== null && (cause as { code?: unknown }).code === '23505'
  );
}

function connection(client: PoolClient): PgConnection {
  return {
    async run(sql, params = []) {
      const result = await client.query(sql, params);
      return { rowsChanged: result.rowCount ?? 0 };
    },
    async runAndReadAll(sql, params = []) {
      const result = await client.query<PgRow>(sql, params);
      const names = result.fields.map((f) => f.name);
      return {
        getRowObjects: () => result.rows,
        getRows: () => result.rows.map((row) => names.map((name) => row[name])),
      };
    },
  };
}

export interface PostgresOptions {
  /** Connections in the pool (default 10). */
  maxConnections?: number;
  logger?: Logger;
}

/** The metadata database on PostgreSQL. */
export class PostgresDatabase {
  /** Runs a task on one pooled connection (`meta`, as DuckDbDatabase names its own). */
  readonly meta: { run<T>(task: (c: PgConnection) => Promise<T>): Promise<T> };

  private readonly listeners = new Set<() => Promise<void>>();

  private constructor(
    private readonly pool: Pool,
    private readonly url: string,
    private readonly logger: Logger,
  ) {
    this.meta = {
      run: async <T>(task: (c: PgConnection) => Promise<T>): Promise<T> => {
        const client = await this.pool.connect().catch((cause: unknown) => {
          throw new AppError('STORE_UNAVAILABLE', 'the metadata database cannot be reached', {
            cause,
          });
        });
        try {
          return await task(connection(client));
        } finally {
          client.release();
        }
      },
    };
  }

  /** Connects, then applies the migrations this database has not seen yet. */
  static async open(url: string, options: PostgresOptions = {}): Promise<PostgresDatabase> {
    const logger = options.logger ?? SILENT_LOGGER;
    const pg = await loadPg();
    const pool = new pg.Pool({
      connectionString: url,
      max: options.maxConnections ?? 10,
      types: TYPES,
      application_name: 'sillage',
    });
    // An idle client's error (the server restarting) must not become an uncaught exception.
    pool.on('error', (error) => {
      logger.warn('metadata database connection lost', { stack: safeStack(error) });
    });
    const db = new PostgresDatabase(pool, url, logger);
    try {
      await db.migrate();
    } catch (error) {
      await pool.end();
      throw error instanceof AppError ? error : storeError(error, 'migrate');
    }
    return db;
  }

  private async migrate(): Promise<void> {
    await this.meta.run(async (c) => {
      await c.run('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      try {
        await c.run(
          `CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)`,
        );
        const done = await c.runAndReadAll('SELECT version FROM schema_migrations');
        const applied = new Set(done.getRows().map((row) => Number(row[0])));
        for (const migration of POSTGRES_MIGRATIONS) {
          if (applied.has(migration.version)) continue;
          await c.run('BEGIN');
          try {
            await c.run(migration.sql);
            await c.run(
              'INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)',
              [migration.version, migration.name, Date.now()],
            );
            await c.run('COMMIT');
          } catch (error) {
            await c.run('ROLLBACK').catch(() => undefined);
            throw error;
          }
        }
      } finally {
        await c.run('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
      }
    });
  }

  /**
   * Listens on `channel` (NOTIFY) on a connection of its own. `reset` is called once the LISTEN
   * is in place, at first and after every reconnection (whatever was announced while the
   * connection was down is lost: the caller must assume anything changed). Reconnects with
   * backoff (0.1 s doubling to 5 s) until the returned function stops it.
   */
  listen(
    channel: string,
    handlers: { message(payload: string): void; reset(): void },
  ): () => Promise<void> {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new RangeError('not a channel name');
    let client: Client | null = null;
    let stopped = false;
    let retryMs = 100;
    let timer: NodeJS.Timeout | null = null;
    const schedule = (): void => {
      if (stopped || timer) return;
      timer = setTimeout(() => {
        timer = null;
        void connect();
      }, retryMs);
      timer.unref();
      retryMs = Math.min(5_000, retryMs * 2);
    };
    const lost = (c: Client): void => {
      if (client !== c) return;
      client = null;
      handlers.reset();
      schedule();
    };
    const connect = async (): Promise<void> => {
      const c = new (loadedPg().Client)({
        connectionString: this.url,
        application_name: 'sillage-listen',
        keepAlive: true,
      });
      c.on('notification', (n) => {
        if (n.channel === channel && n.payload !== undefined) handlers.message(n.payload);
      });
      c.on('error', (error) => {
        this.logger.warn('metadata change feed lost', { stack: safeStack(error) });
        lost(c);
      });
      c.on('end', () => lost(c));
      try {
        await c.connect();
        await c.query(`LISTEN ${channel}`);
      } catch (error) {
        this.logger.warn('metadata change feed not connected', { stack: safeStack(error) });
        await c.end().catch(() => undefined);
        schedule();
        return;
      }
      if (stopped) {
        await c.end().catch(() => undefined);
        return;
      }
      client = c;
      retryMs = 100;
      handlers.reset();
    };
    void connect();
    const stop = async (): Promise<void> => {
      stopped = true;
      if (timer) clearTimeout(timer);
      const c = client;
      client = null;
      this.listeners.delete(stop);
      await c?.end().catch(() => undefined);
    };
    this.listeners.add(stop);
    return stop;
  }

  async close(): Promise<void> {
    for (const stop of [...this.listeners]) await stop();
    await this.pool.end();
  }
}
