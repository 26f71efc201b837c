// Execute stage: renders each compiled statement through the dialect and runs it through the
// QueryExecutor port, under one deadline and one row budget for the whole query.
import type { CompiledQuery } from './compile.js';
import type { Dialect, RenderedSql } from './dialect.js';

/** Rows as plain JS values: numbers, bigints, strings, booleans, null. */
export interface QueryRows {
  columns: string[];
  rows: unknown[][];
}

export interface RunOptions {
  /** Epoch ms after which the statement is cancelled (QUERY_TIMEOUT). */
  deadlineMs: number;
  /** More rows than this is QUERY_TOO_LARGE. */
  maxRows: number;
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

/** Rows as objects keyed by column name. */
export function rowObjects(rows: QueryRows): Record<string, unknown>[] {
  return rows.rows.map((row) => Object.fromEntries(rows.columns.map((c, i) => [c, row[i]])));
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
    const rows = await executor.run(dialect.render(statement.sql), {
      deadlineMs: options.deadlineMs,
      maxRows: options.maxRows - rowCount,
    });
    rowCount += rows.rows.length;
    results.set(statement.name, rows);
  }
  return { results, rowCount };
}
