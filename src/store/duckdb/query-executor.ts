// DuckDB adapter of the QueryExecutor port: runs rendered, bound SQL on dedicated read
// connections, with a deadline enforced by `connection.interrupt()` and a bounded wait queue.
import {
  DuckDBDecimalValue,
  DuckDBTimestampTZValue,
  type DuckDBConnection,
  type DuckDBPreparedStatement,
  type DuckDBValue,
} from '@duckdb/node-api';
import type { QueryExecutor, QueryRows, RenderedSql, RunOptions } from '../../query/index.js';
import { AppError } from '../../shared/errors.js';
import { Serial } from '../../shared/serial.js';
import { bindValue } from './bind.js';
import { BUSY_RETRY_AFTER_SECONDS, storeError, type DuckDbDatabase } from './database.js';
import { isOutOfMemory } from './load-error.js';
import { sizeBytes } from './memory-limit.js';
import type { QueryActivity } from './query-activity.js';

/** JS value of a result cell: numbers, bigints, strings, booleans or null. */
function cell(value: DuckDBValue): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof DuckDBTimestampTZValue) return Number(value.micros / 1000n);
  if (value instanceof DuckDBDecimalValue) return value.toDouble();
  return String(value);
}

export interface DuckDbQueryExecutorOptions {
  /** Queries run at once (each on its own connection). Default 2. */
  connections?: number;
  /** Queries allowed to wait for a connection; more are refused with QUERY_OVERLOADED. */
  maxQueued?: number;
  /**
   * Connections one source (`RunOptions.source`: a project) may hold at once while another source
   * is active (ran or asked for a statement within SOURCE_ACTIVE_MS). Default: all but one (at
   * least one), so that another project's query finds a connection at once however long one
   * project's statements run; a server whose only active project is this one lets it use every
   * connection. Its other statements wait, and waiting statements are handed out source by
   * source (the one holding fewest connections first), so a flood of one project delays
   * another's by at most one statement each. Once the queue is three quarters full, a source may
   * fill at most its fair share of it (the queue over the sources waiting, plus one).
   */
  perSource?: number;
  /**
   * DuckDB worker threads while at least one query runs (DuckDB's thread count is instance-wide).
   * The store keeps fewer by default so that ingestion's JavaScript thread has a core; an
   * interactive query wants them all. Unset: the store's setting is left alone.
   */
  threadsWhileQuerying?: number;
  /**
   * DuckDB's memory limit in bytes while queries run, from the first until MEMORY_LINGER_MS after
   * the last (instance-wide, as threads). It is the cache of the tables' blocks as much as working
   * memory: a question that reads three columns of 10M events (flows) found them evicted at 256MB
   * by whatever ran between two askings. The store's own limit (SILLAGE_DUCKDB_MEMORY_LIMIT)
   * holds the rest of the time: ingestion alone, a flood, keeps the smaller footprint. Unset or
   * not above the store's limit: left alone.
   */
  memoryWhileQuerying?: number;
  /** Tests only: how long the raised memory limit outlives the last query (MEMORY_LINGER_MS). */
  memoryLingerMs?: number;
  /**
   * Tests only: plan small inputs with the operators DuckDB uses on large ones. DuckDB switches
   * operators by estimated input size (an ASOF join under 64 left rows runs as a nested loop), so
   * the small datasets of differential tests would otherwise never run what production runs, and
   * a bug of the large-input operator (issue 12) would hide from them.
   */
  planAsAtScale?: boolean;
  /** Statements kept prepared per connection (default PREPARED_PER_CONNECTION; 0 keeps none). */
  keepPrepared?: number;
  /** Told when each query starts and ends (the ingest loader waits for them: query-activity.ts). */
  activity?: QueryActivity;
}

/** How long the raised thread count outlives the last query (a dashboard asks in bursts). */
const THREADS_LINGER_MS = 2_000;

/**
 * How long the raised memory limit outlives the last query: lowering it evicts the cached blocks
 * past the store's limit, so it waits out an analyst's pause between two questions.
 */
const MEMORY_LINGER_MS = 60_000;

/**
 * Statements kept prepared per connection, least recently used first out. A dashboard asks the
 * same questions again and again (the values change, the text does not): a kept statement skips
 * DuckDB's parse, bind and plan — ~1 ms of a 4 ms daily trend over the rollups — and the part of
 * them the driver runs on the main thread.
 */
const PREPARED_PER_CONNECTION = 64;

/**
 * Result rows read into JavaScript between two turns of the event loop. The driver's reading is
 * synchronous: the two statements of an hourly trend over ten years (87,840 rows each) held the
 * thread serving HTTP for ~100 ms apiece in one block (bench/query-abuse.ts, --cpu-prof).
 */
const ROWS_PER_TURN = 16_384;

/** How often a statement past its deadline is interrupted again until it returns. */
const INTERRUPT_AGAIN_MS = 100;

/** Longest `close` waits for interrupted queries to return their connections. */
const CLOSE_WAIT_MS = 10_000;

/**
 * Share of DuckDB's memory limit that other work must hold when a statement is refused memory for
 * the refusal to be theirs (QUERY_BUSY) rather than the statement's own (QUERY_TOO_LARGE). A
 * refused statement's memory is freed by the time it rejects, so what DuckDB still holds then is
 * other statements' (cached table blocks aside: DuckDB evicts those before it refuses).
 */
const BUSY_SHARE = 0.25;

/**
 * DuckDB memory tags that are caches of stored data (evicted before a refusal), not memory another
 * statement holds (`duckdb_memory()`).
 */
const CACHE_TAGS = ['BASE_TABLE', 'METADATA', 'EXTERNAL_FILE_CACHE', 'ART_INDEX'];

/** A statement refused memory by DuckDB (`runOn`); `runQuery` decides whose fault it was. */
class RefusedMemory extends Error {
  constructor(readonly refusal: unknown) {
    super('refused memory');
  }
}

/** The source of statements that name none (all of them share one share). */
const NO_SOURCE = '';

/**
 * How long a source counts as active after it last asked for a statement: while another source
 * is, a source holds at most `perSource` connections (a single project uses them all).
 */
const SOURCE_ACTIVE_MS = 60_000;

interface Waiter {
  source: string;
  resolve: (c: DuckDBConnection) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

/**
 * Runs queries on connections of their own, so that analytics never wait behind (or hold up)
 * the ingest writer's connection. DuckDB's MVCC lets them read while the writer commits.
 */
export class DuckDbQueryExecutor implements QueryExecutor {
  private readonly idle: DuckDBConnection[];
  private readonly waiting: Waiter[] = [];
  private closed = false;
  private running = 0;
  /** Connections held, by source (absent: none). */
  private readonly holding = new Map<string, number>();
  /** When each source last asked for a statement (those within SOURCE_ACTIVE_MS). */
  private readonly lastSeen = new Map<string, number>();
  /** The control connection's statements, one at a time. */
  private readonly controlSerial = new Serial();
  /** DuckDB's threads, raised while querying. */
  private readonly threads: WhileQuerying;
  /** DuckDB's memory limit in bytes, raised while querying (null: the limit is unknown). */
  private readonly memory: WhileQuerying | null;
  /** Statements running now, each told whether another ran beside it (`beside`). */
  private readonly statements = new Set<{ beside: boolean }>();
  /** Per connection: its prepared statements by text, in order of use (see PREPARED_PER_CONNECTION). */
  private readonly prepared = new Map<DuckDBConnection, Map<string, DuckDBPreparedStatement>>();

  private constructor(
    private readonly all: DuckDBConnection[],
    private readonly maxQueued: number,
    /** Runs `SET threads` and `SET memory_limit`; never used for queries. */
    private readonly control: DuckDBConnection,
    threads: { base: number; querying: number },
    private readonly keepPrepared: number,
    private readonly activity: QueryActivity | null,
    private readonly perSource: number,
    /** DuckDB's memory limit in bytes, the store's (null: unknown) and while querying. */
    memory: { base: number | null; querying: number; lingerMs: number },
  ) {
    this.idle = [...all];
    const raise = (base: number, querying: number, lingerMs: number, set: (v: number) => string) =>
      new WhileQuerying(
        { base, querying, lingerMs },
        this.controlSerial,
        (value) => this.control.run(set(value)),
        () => this.running,
        () => this.closed,
      );
    // Integers from configuration, never from a request.
    this.threads = raise(
      threads.base,
      threads.querying,
      THREADS_LINGER_MS,
      (v) => `SET threads = ${v}`,
    );
    this.memory =
      memory.base === null
        ? null
        : raise(memory.base, memory.querying, memory.lingerMs, (v) => `SET memory_limit = '${v}B'`);
  }

  static async open(
    db: DuckDbDatabase,
    options: DuckDbQueryExecutorOptions = {},
  ): Promise<DuckDbQueryExecutor> {
    const connections: DuckDBConnection[] = [];
    for (let i = 0; i < (options.connections ?? 2); i++) {
      const connection = await db.connect();
      // Results are ordered by the statements themselves; not keeping scan order is ~8 % faster.
      // SESSION: this connection only (a global setting would reorder the writer's inserts).
      await connection.run('SET SESSION preserve_insertion_order = false');
      if (options.planAsAtScale) await connection.run('SET SESSION asof_loop_join_threshold = 0');
      connections.push(connection);
    }
    const control = await db.connect();
    const current = await control.runAndReadAll(`SELECT current_setting('threads')`);
    const base = Number(current.getRowsJS()[0]?.[0] ?? 1);
    const limit = await control.runAndReadAll(`SELECT current_setting('memory_limit')`);
    const limitText = limit.getRowsJS()[0]?.[0];
    let memoryLimitBytes: number | null = null;
    try {
      if (typeof limitText === 'string') memoryLimitBytes = sizeBytes(limitText);
    } catch {
      // An unreadable setting: every refusal is then told busy (see `othersHoldMemory`).
    }
    const querying = Math.max(base, Math.floor(options.threadsWhileQuerying ?? base));
    const memoryQuerying = Math.floor(options.memoryWhileQuerying ?? memoryLimitBytes ?? 0);
    return new DuckDbQueryExecutor(
      connections,
      options.maxQueued ?? 32,
      control,
      { base, querying },
      Math.max(0, Math.floor(options.keepPrepared ?? PREPARED_PER_CONNECTION)),
      options.activity ?? null,
      Math.max(1, Math.floor(options.perSource ?? connections.length - 1)),
      {
        base: memoryLimitBytes,
        querying: memoryQuerying,
        lingerMs: options.memoryLingerMs ?? MEMORY_LINGER_MS,
      },
    );
  }

  private held(source: string): number {
    return this.holding.get(source) ?? 0;
  }

  /** Connections `source` may hold now: `perSource` while another source is active, else all. */
  private limitFor(source: string): number {
    const now = Date.now();
    let others = false;
    for (const [s, at] of this.lastSeen) {
      if (now - at > SOURCE_ACTIVE_MS) this.lastSeen.delete(s);
      else if (s !== source && s !== NO_SOURCE) others = true;
    }
    for (const s of this.holding.keys()) if (s !== source && s !== NO_SOURCE) others = true;
    return others ? this.perSource : this.all.length;
  }

  private take(source: string): DuckDBConnection | undefined {
    if (this.held(source) >= this.limitFor(source)) return undefined;
    const connection = this.idle.pop();
    if (connection) this.holding.set(source, this.held(source) + 1);
    return connection;
  }

  /** Whether `source` may queue one more statement (see `perSource`). */
  private mayWait(source: string): boolean {
    if (this.waiting.length >= this.maxQueued) return false;
    if (this.waiting.length < Math.ceil((this.maxQueued * 3) / 4)) return true;
    const sources = new Set(this.waiting.map((w) => w.source));
    const share = Math.floor(this.maxQueued / (sources.size + 1));
    return this.waiting.filter((w) => w.source === source).length < share;
  }

  private acquire(deadlineMs: number, source: string): Promise<DuckDBConnection> {
    if (this.closed) return Promise.reject(new AppError('SHUTTING_DOWN', 'the server is stopping'));
    this.lastSeen.set(source, Date.now());
    const free = this.take(source);
    if (free) return Promise.resolve(free);
    if (!this.mayWait(source)) {
      return Promise.reject(
        new AppError('QUERY_OVERLOADED', 'too many queries are waiting; retry shortly', {
          retryAfterSeconds: 1,
        }),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        source,
        resolve,
        reject,
        timer: setTimeout(
          () => {
            const i = this.waiting.indexOf(waiter);
            if (i >= 0) this.waiting.splice(i, 1);
            reject(new AppError('QUERY_TIMEOUT', 'the query timed out waiting for its turn'));
          },
          Math.max(0, deadlineMs - Date.now()),
        ),
      };
      this.waiting.push(waiter);
    });
  }

  private release(connection: DuckDBConnection, source: string): void {
    const held = this.held(source) - 1;
    if (held > 0) this.holding.set(source, held);
    else this.holding.delete(source);
    this.idle.push(connection);
    // Each idle connection to the waiter whose source holds fewest (the longest waiting first).
    for (;;) {
      let next: Waiter | undefined;
      for (const w of this.waiting) {
        const h = this.held(w.source);
        if (h < this.limitFor(w.source) && (next === undefined || h < this.held(next.source)))
          next = w;
      }
      if (!next) return;
      const free = this.take(next.source);
      if (!free) return;
      this.waiting.splice(this.waiting.indexOf(next), 1);
      clearTimeout(next.timer);
      next.resolve(free);
    }
  }

  async run(statement: RenderedSql, options: RunOptions): Promise<QueryRows> {
    this.activity?.enter();
    try {
      return await this.runQuery(statement, options);
    } finally {
      this.activity?.leave();
    }
  }

  private async runQuery(statement: RenderedSql, options: RunOptions): Promise<QueryRows> {
    const source = options.source ?? NO_SOURCE;
    const connection = await this.acquire(options.deadlineMs, source);
    this.running++;
    try {
      await this.threads.adjust();
      await this.memory?.adjust();
      for (let attempt = 1; ; attempt++) {
        const mine = { beside: this.statements.size > 0 };
        for (const other of this.statements) other.beside = true;
        this.statements.add(mine);
        try {
          return await this.runOn(connection, statement, options);
        } catch (error) {
          if (!(error instanceof RefusedMemory)) throw error;
          this.dropKeptStatements(connection);
          const busy = await this.othersHoldMemory();
          // Memory free again, but another statement ran beside this one: it may have been the
          // other's doing (two heavy statements growing together both fail). Once more.
          if (!busy && mine.beside && attempt === 1 && Date.now() < options.deadlineMs) continue;
          throw this.refusal(error.refusal, busy || mine.beside);
        } finally {
          this.statements.delete(mine);
        }
      }
    } finally {
      this.running--;
      this.release(connection, source);
      await this.threads.adjust().catch(() => undefined);
      await this.memory?.adjust().catch(() => undefined);
    }
  }

  private async runOn(
    connection: DuckDBConnection,
    statement: RenderedSql,
    options: RunOptions,
  ): Promise<QueryRows> {
    let timedOut = false;
    let again: NodeJS.Timeout | undefined;
    const timer = setTimeout(
      () => {
        timedOut = true;
        connection.interrupt();
        // DuckDB drops an interruption that arrives before the statement starts executing (while
        // it is prepared or queued for a thread), and the statement then runs to its end — 20 s
        // and more past the limit, its connection held (bench/query-abuse.ts): ask until it ends.
        again = setInterval(() => connection.interrupt(), INTERRUPT_AGAIN_MS);
      },
      Math.max(0, options.deadlineMs - Date.now()),
    );
    try {
      const bound = statement.params.map(bindValue);
      const prepared = await this.preparedOn(connection, statement.text);
      let result;
      try {
        prepared.statement.bind(
          bound.map((b) => b.value),
          bound.map((b) => b.type),
        );
        // The time may be up already (a long wait for a connection, a slow prepare): not started.
        if (timedOut || Date.now() >= options.deadlineMs) {
          timedOut = true;
          throw new AppError(
            'QUERY_TIMEOUT',
            'the query ran past its time limit and was cancelled',
          );
        }
        result = await prepared.statement.run();
      } catch (error) {
        // Whatever failed (an interruption included), the next run prepares it afresh.
        this.forget(connection, statement.text);
        throw error;
      } finally {
        if (!prepared.kept) prepared.statement.destroySync();
      }
      if (timedOut)
        throw new AppError('QUERY_TIMEOUT', 'the query ran past its time limit and was cancelled');
      if (result.rowCount > options.maxRows) {
        throw new AppError(
          'QUERY_TOO_LARGE',
          `the result has more than ${options.maxRows} rows; narrow the query`,
        );
      }
      const columns = result.columnNames();
      // Chunk by chunk: the reader helpers stop at the first empty chunk, which a materialised
      // result of a parallel plan (UNION ALL) can hold before its last one.
      const rows: unknown[][] = [];
      let sinceTurn = 0;
      for (let i = 0; i < result.chunkCount; i++) {
        // Read on the thread serving HTTP: a large result lets it turn now and then.
        if (sinceTurn >= ROWS_PER_TURN) {
          sinceTurn = 0;
          await new Promise((resolve) => setImmediate(resolve));
        }
        const chunk = result.getChunk(i).getRows();
        for (const row of chunk) rows.push(row.map(cell));
        sinceTurn += chunk.length;
      }
      return { columns, rows };
    } catch (error) {
      if (error instanceof AppError) throw error;
      if (timedOut)
        throw new AppError('QUERY_TIMEOUT', 'the query ran past its time limit and was cancelled', {
          cause: error,
        });
      if (isOutOfMemory(error)) throw new RefusedMemory(error);
      throw storeError(error, 'query');
    } finally {
      clearTimeout(timer);
      clearInterval(again);
    }
  }

  /**
   * What a statement refused memory is told. The memory limit is shared by the whole store, so a
   * refusal is the statement's own only if nothing else held much of it: then the question needs
   * more than the store may use (a long flow over hundreds of thousands of users, say), the caller
   * can narrow it and the operator can raise the limit (422). Otherwise other queries or work held
   * it (`busy`): the same question may well fit in a moment (503, Retry-After).
   */
  private refusal(cause: unknown, busy: boolean): AppError {
    if (busy)
      return new AppError(
        'QUERY_BUSY',
        'the store is short of memory right now (other queries hold it); retry in a few seconds',
        { cause, retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS },
      );
    return new AppError(
      'QUERY_TOO_LARGE',
      `the query needs more memory than the store may use (${this.memory?.raises ? 'SILLAGE_DUCKDB_QUERY_MEMORY_LIMIT' : 'SILLAGE_DUCKDB_MEMORY_LIMIT'}); narrow the date range or raise the limit`,
      { cause },
    );
  }

  /**
   * Whether other work holds at least BUSY_SHARE of DuckDB's memory now (as DuckDB reports it,
   * cached stored data aside). Unknown (the limit unread, the report refused too): yes.
   */
  private async othersHoldMemory(): Promise<boolean> {
    const limit = this.memory?.value ?? null;
    if (limit === null || this.closed) return true;
    try {
      const held = await this.controlSerial.run(async () => {
        const r = await this.control.runAndReadAll(
          `SELECT coalesce(sum(memory_usage_bytes), 0)::DOUBLE FROM duckdb_memory() WHERE tag NOT IN (${CACHE_TAGS.map((t) => `'${t}'`).join(', ')})`,
        );
        return Number(r.getRowsJS()[0]?.[0] ?? 0);
      });
      return held >= limit * BUSY_SHARE;
    } catch {
      return true;
    }
  }

  /**
   * The statement `text` prepared on `connection`: kept from an earlier run, or prepared now (and
   * kept unless nothing is; `kept` false: the caller destroys it after its run).
   */
  private async preparedOn(
    connection: DuckDBConnection,
    text: string,
  ): Promise<{ statement: DuckDBPreparedStatement; kept: boolean }> {
    let byText = this.prepared.get(connection);
    if (!byText) {
      byText = new Map();
      this.prepared.set(connection, byText);
    }
    const hit = byText.get(text);
    if (hit) {
      byText.delete(text);
      byText.set(text, hit);
      return { statement: hit, kept: true };
    }
    const statement = await connection.prepare(text);
    if (this.keepPrepared === 0) return { statement, kept: false };
    for (const oldest of byText.keys()) {
      if (byText.size < this.keepPrepared) break;
      this.forget(connection, oldest);
    }
    byText.set(text, statement);
    return { statement, kept: true };
  }

  /**
   * Destroys the statements kept prepared on `mine` and on the idle connections (none of them is
   * running). A kept statement holds memory of its last run until it is destroyed: 16 MB after a
   * grouping into 40,000 lists under a 32 MB limit (typical aggregates keep under 1 MB). When DuckDB
   * refuses memory, that memory is given back before anyone is told the store is busy.
   */
  private dropKeptStatements(mine: DuckDBConnection): void {
    for (const [connection, byText] of this.prepared) {
      if (connection !== mine && !this.idle.includes(connection)) continue;
      for (const text of [...byText.keys()]) this.forget(connection, text);
    }
  }

  private forget(connection: DuckDBConnection, text: string): void {
    const byText = this.prepared.get(connection);
    const statement = byText?.get(text);
    if (!statement) return;
    byText?.delete(text);
    statement.destroySync();
  }

  /** Refuses new queries, interrupts running ones and closes the connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new AppError('SHUTTING_DOWN', 'the server is stopping'));
    }
    for (const c of this.all) if (!this.idle.includes(c)) c.interrupt();
    // Wait for interrupted queries to hand their connection back (at once, unless the machine is
    // very busy): closing a connection while its statement runs frees memory the driver's thread
    // still uses (a segmentation fault).
    for (let i = 0; i < CLOSE_WAIT_MS / 10 && this.idle.length < this.all.length; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await this.threads.restore();
    await this.memory?.restore();
    // One still busy after that is left to the garbage collector rather than freed under its
    // statement. (Closing a connection destroys the statements prepared on it.)
    this.prepared.clear();
    for (const c of [...this.idle, this.control]) c.closeSync();
  }
}

/**
 * An instance-wide DuckDB setting raised while queries run (threads, the memory limit): raised
 * with the first query, lowered `lingerMs` after the last. A lowering that fails (DuckDB cannot
 * free the memory a load holds) leaves it raised until the next pause. Never raised when
 * `querying` is not above `base`.
 */
class WhileQuerying {
  private now: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly values: { base: number; querying: number; lingerMs: number },
    /** The executor's control statements, one at a time: a change is decided and made in turn. */
    private readonly serial: Serial,
    private readonly apply: (value: number) => Promise<unknown>,
    private readonly running: () => number,
    private readonly closed: () => boolean,
  ) {
    this.now = values.base;
  }

  /** The value DuckDB has now. */
  get value(): number {
    return this.now;
  }

  get raises(): boolean {
    return this.values.querying > this.values.base;
  }

  /** Raised while a query runs; lowered `lingerMs` after the last. */
  async adjust(): Promise<void> {
    if (!this.raises || this.closed()) return;
    clearTimeout(this.timer);
    if (this.running() === 0) {
      this.timer = setTimeout(() => {
        this.set(this.values.base).catch(() => this.adjust().catch(() => undefined));
      }, this.values.lingerMs);
      this.timer.unref();
      return;
    }
    await this.set(this.values.querying);
  }

  /** Back to the base value (the executor closes, its queries interrupted). */
  async restore(): Promise<void> {
    clearTimeout(this.timer);
    const base = this.values.base;
    await this.serial
      .run(async () => {
        if (this.now !== base) await this.apply(Math.floor(base));
        this.now = base;
      })
      .catch(() => undefined);
  }

  private set(wanted: number): Promise<void> {
    return this.serial.run(async () => {
      const target = this.running() > 0 ? this.values.querying : wanted;
      if (this.closed() || target === this.now) return;
      await this.apply(Math.floor(target));
      this.now = target;
    });
  }
}
