// Test harness: a current ClickHouse (26.x) embedded in the test process by the `chdb` package
// (~540 MB; not in package.json: .ci/run installs it with `npm install --no-save chdb@3.4.0`),
// reached through the same client class and the same statements as a server, so that what
// Sillage writes for Debian's 18.16 is also checked against the semantics of the ClickHouse a new
// deployment runs. Only the transport differs: the statement goes to chdb's session, not HTTP.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { AppError } from '../../src/shared/errors.js';
import {
  ClickHouseClient,
  errorCode,
  MAX_QUERY_BYTES,
  type QueryOptions,
} from '../../src/store/clickhouse/client.js';
import { quoteIdentifier } from '../../src/store/clickhouse/escape.js';
import { clickHouseAvailable, startClickHouse } from './clickhouse.js';

interface ChdbResult {
  text(): string;
}
interface ChdbSession {
  queryAsync(query: string, options?: { format?: string }): Promise<ChdbResult>;
  close?(): void;
}
interface ChdbModule {
  Session: new (path: string) => ChdbSession;
}

/** The `chdb` package, or null when it is not installed (or has no library for this platform). */
function loadChdb(): ChdbModule | null {
  try {
    return createRequire(import.meta.url)('chdb') as ChdbModule;
  } catch {
    return null;
  }
}

/**
 * Whether chdb can run here. When not, suites report themselves as skipped; CI sets
 * SILLAGE_REQUIRE_CLICKHOUSE=1, which turns a missing chdb into a failure instead.
 */
export function chdbAvailable(): boolean {
  // Resolved, not loaded: the library (~540 MB, threads of its own) is loaded by startChdb only,
  // in the processes that use it.
  const require = createRequire(import.meta.url);
  let present = true;
  try {
    require.resolve('chdb');
    require.resolve(`@chdb/lib-${process.platform}-${process.arch}-gnu/package.json`);
  } catch {
    present = false;
  }
  if (!present && process.env.SILLAGE_REQUIRE_CLICKHOUSE === '1') {
    throw new Error('SILLAGE_REQUIRE_CLICKHOUSE=1 but the chdb package cannot be loaded');
  }
  return present;
}

/** A ClickHouseClient whose statements run in an embedded chdb session. */
class ChdbClient extends ClickHouseClient {
  constructor(
    private readonly session: ChdbSession,
    database: string,
  ) {
    super({ url: 'http://chdb.invalid', database });
  }

  protected override async post(
    query: string | null,
    body: string,
    options: QueryOptions,
  ): Promise<string> {
    const remaining = (options.deadlineMs ?? Date.now() + 60_000) - Date.now();
    if (remaining <= 0) throw new AppError('QUERY_TIMEOUT', 'the query took too long');
    // What the HTTP client puts in the URL, as statements of the same session before this one.
    const setup = [
      options.noDatabase ? '' : `USE ${quoteIdentifier(this.database)}`,
      `SET max_execution_time = ${Math.max(1, Math.ceil(remaining / 1000))}`,
      `SET max_query_size = ${MAX_QUERY_BYTES}`,
    ].filter(Boolean);
    // An INSERT's rows follow its statement, as clickhouse-client sends them.
    const statement = query === null ? body : `${query}\n${body}`;
    try {
      const result = await this.session.queryAsync(`${setup.join(';\n')};\n${statement}`);
      return result.text();
    } catch (cause) {
      const code = errorCode(cause instanceof Error ? cause.message : '');
      if (code === '159') throw new AppError('QUERY_TIMEOUT', 'the query took too long');
      throw new AppError('STORE_FAILURE', `ClickHouse refused a statement (error code ${code})`, {
        cause,
      });
    }
  }
}

export interface ChdbTestServer {
  /** A client of the embedded engine for `database`. */
  client(database: string): ClickHouseClient;
  /** Closes the session and removes its directory. */
  stop(): Promise<void>;
}

/** One chdb session on a temporary directory (chdb allows one per process). */
export function startChdb(): ChdbTestServer {
  const chdb = loadChdb();
  if (!chdb) throw new Error('the chdb package is not installed');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-chdb-'));
  const session = new chdb.Session(dir);
  return {
    client: (database) => new ChdbClient(session, database),
    stop: () => {
      session.close?.();
      fs.rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

/** A ClickHouse a suite runs against: a server, or the embedded engine (with its client). */
export interface ClickHouseTarget {
  name: string;
  /**
   * Share of a property test's runs: chdb runs the same cases at a fraction of the depth (its
   * newer analyser takes several times as long per statement); the server run hunts the shapes.
   */
  depth: number;
  start(): Promise<{ url: string; client?: ClickHouseClient; stop(): Promise<void> }>;
}

/**
 * The ClickHouses to check Sillage against: Debian's 18.16 as a server (the oldest Sillage
 * supports, what CI installs), and a current one (26.x) embedded by chdb — the statements written
 * for 18.16 must mean the same on the ClickHouse a new deployment runs. Never empty: where
 * neither can run, one target that a suite skips on (`available: false`).
 */
export function clickHouseTargets(): { available: boolean; targets: ClickHouseTarget[] } {
  const targets: ClickHouseTarget[] = [
    ...(clickHouseAvailable()
      ? [{ name: 'ClickHouse 18.16', depth: 1, start: () => startClickHouse() }]
      : []),
    ...(chdbAvailable()
      ? [
          {
            name: 'ClickHouse 26 (chdb)',
            depth: 0.25,
            start: () => {
              const chdb = startChdb();
              return Promise.resolve({
                url: 'http://chdb.invalid',
                client: chdb.client('sillage'),
                stop: () => chdb.stop(),
              });
            },
          },
        ]
      : []),
  ];
  if (targets.length > 0) return { available: true, targets };
  const none = (): Promise<never> => Promise.reject(new Error('no ClickHouse here'));
  return { available: false, targets: [{ name: 'ClickHouse', depth: 0, start: none }] };
}
