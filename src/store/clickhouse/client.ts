// A small client for ClickHouse's HTTP interface (port 8123): statements as text (see escape.ts
// for how values get into them), rows back as JSON, inserts as JSONEachRow. No driver: `fetch`.
import { AppError } from '../../shared/errors.js';

export interface ClickHouseClientOptions {
  /** `http://host:8123` (a path, user info and query string are not used). */
  url: string;
  database: string;
  /** Per-request time limit when the caller gives none. */
  timeoutMs?: number;
  /** Server settings sent with every statement (names and values are trusted text). */
  settings?: Readonly<Record<string, string>>;
}

export interface QueryOptions {
  /** Epoch ms after which the server cancels the statement (max_execution_time). */
  deadlineMs?: number;
  /** Run without a current database (to create it). */
  noDatabase?: boolean;
}

/** Column names and rows of a SELECT, values as ClickHouse's JSON output writes them. */
export interface ClickHouseRows {
  columns: string[];
  types: string[];
  rows: unknown[][];
}

/** Longest statement text the server parses (its default is 256 KiB). */
export const MAX_QUERY_BYTES = 64 * 1024 * 1024;

/**
 * The error code number of a ClickHouse error body ("Code: 62, e.displayText() = …"; newer
 * servers: "Code: 62. DB::Exception: …").
 */
export function errorCode(body: string): string {
  return /^Code: (\d+)/.exec(body)?.[1] ?? 'unknown';
}

/**
 * One ClickHouse server (or a load balancer in front of several). Errors are wrapped once here:
 * the message carries the server's error code only, never statement text or values (the
 * server's own message quotes the statement).
 */
export class ClickHouseClient {
  readonly database: string;
  private readonly base: URL;
  private readonly timeoutMs: number;
  private readonly settings: Readonly<Record<string, string>>;

  constructor(options: ClickHouseClientOptions) {
    this.base = new URL(options.url);
    this.base.pathname = '/';
    this.base.search = '';
    this.base.username = '';
    this.base.password = '';
    this.database = options.database;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.settings = options.settings ?? {};
  }

  /** `host:port` of the server (for messages; no credentials are kept). */
  get host(): string {
    return this.base.host;
  }

  /**
   * Sends `query` (when the statement is in the URL) and `body` and returns the answer's text.
   * Protected: a test reaches an embedded ClickHouse (test/helpers/chdb.ts) through the same
   * statements by replacing only this.
   */
  protected async post(query: string | null, body: string, options: QueryOptions): Promise<string> {
    const url = new URL(this.base);
    if (!options.noDatabase) url.searchParams.set('database', this.database);
    if (query !== null) url.searchParams.set('query', query);
    for (const [name, value] of Object.entries(this.settings)) url.searchParams.set(name, value);
    const deadline = options.deadlineMs ?? Date.now() + this.timeoutMs;
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new AppError('QUERY_TIMEOUT', 'the query took too long');
    // The server stops the statement itself at the limit; the client stops waiting a little later.
    url.searchParams.set('max_execution_time', String(Math.max(1, Math.ceil(remaining / 1000))));
    // Hoisted scalars (query-executor.ts) put look-up arrays in the text: past the 256 KiB default.
    url.searchParams.set('max_query_size', String(MAX_QUERY_BYTES));
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        body,
        signal: AbortSignal.timeout(remaining + 2000),
      });
    } catch (cause) {
      if (cause instanceof Error && cause.name === 'TimeoutError')
        throw new AppError('QUERY_TIMEOUT', 'the query took too long');
      throw new AppError('STORE_UNAVAILABLE', 'the event store (ClickHouse) is unreachable', {
        cause,
      });
    }
    const text = await res.text();
    if (!res.ok) {
      const code = errorCode(text);
      // 159: TIMEOUT_EXCEEDED.
      if (code === '159') throw new AppError('QUERY_TIMEOUT', 'the query took too long');
      throw new AppError('STORE_FAILURE', `ClickHouse refused a statement (error code ${code})`);
    }
    return text;
  }

  /** Runs a statement that returns nothing (DDL, ALTER, INSERT … SELECT). */
  async exec(statement: string, options: QueryOptions = {}): Promise<void> {
    await this.post(null, statement, options);
  }

  /** Runs a SELECT and returns its rows (JSONCompact: 64-bit integers arrive as strings). */
  async query(statement: string, options: QueryOptions = {}): Promise<ClickHouseRows> {
    const text = await this.post(null, `${statement}\nFORMAT JSONCompact`, options);
    const parsed = JSON.parse(text) as {
      meta: { name: string; type: string }[];
      data: unknown[][];
    };
    return {
      columns: parsed.meta.map((m) => m.name),
      types: parsed.meta.map((m) => m.type),
      rows: parsed.data,
    };
  }

  /** Inserts rows (objects keyed by column) in one block: all of them land, or none. */
  async insert(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    if (rows.length === 0) return;
    const body = rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
    await this.post(`INSERT INTO ${table} FORMAT JSONEachRow`, body, {});
  }

  /** The server's version, e.g. [18, 16, 1]. */
  async version(): Promise<number[]> {
    const r = await this.query('SELECT version()', { noDatabase: true });
    const text = r.rows[0]?.[0];
    return (typeof text === 'string' ? text : '0').split('.').map(Number);
  }
}
