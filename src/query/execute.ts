// Execute stage: renders each compiled statement through the dialect and runs it through the
// QueryExecutor port, under one deadline and one row budget for the whole query.
import type { CompiledQuery } from './compile.js';
import type { Dialect, RenderedSql } from './dialect.js';
import type { QueryRows } from './rows.js';

export type { QueryRows } from './rows.js';

export interface RunOptions {
  /** Epoch ms after which the statement is cancelled (QUERY_TIMEOUT). */
  deadlineMs: number;
  /** More rows than this is QUERY_TOO_LARGE. */
  maxRows: number;
  /**
   * Whom the statement runs for (the project: one tenant): an executor with a bounded number of
   * connections shares them, and its wait queue, fairly between sources. Absent: one shared source.
   */
  source?: string;
}

/**
 * Port: runs one rendered statement with its bound values. Implemented per store
 * (DuckDbQueryExecutor); must cancel the statement at the deadline, not merely stop waiting.
 */
export interface QueryExecutor {
  run(statement: RenderedSql, options: RunOptions): Promise<QueryRows>;
}

/** The rows of every statement, by statement name, and how many rows came back in all. */
export interface ExecutedQuery {
  results: Map<string, QueryRows>;
  rowCount: number;
}

/** Runs the statements one after the other; the deadline and the row budget are shared. */
export async function execute(
  compiled: CompiledQuery,
  dialect: Dialect,
  executor: QueryExecutor,
  options: RunOptions,
): Promise<ExecutedQuery> {
  const results = new Map<string, QueryRows>();
  let rowCount = 0;
  for (const statement of compiled.statements) {
    const tree = 'sql' in statement ? statement.sql : statement.build(results);
    const rows = await executor.run(dialect.render(tree), {
      deadlineMs: options.deadlineMs,
      maxRows: options.maxRows - rowCount,
      ...(options.source === undefined ? {} : { source: options.source }),
    });
    rowCount += rows.rows.length;
    results.set(statement.name, rows);
  }
  return { results, rowCount };
}
