// ClickHouse adapter of the QueryExecutor port: runs a rendered statement (values already inlined
// as audited literals) under the query's deadline, enforced by the server (max_execution_time).
import { AppError } from '../../shared/errors.js';
import type { QueryExecutor, QueryRows, RenderedSql, RunOptions } from '../../query/index.js';
import type { ClickHouseClient } from './client.js';

/**
 * Values come back as JSONCompact writes them: 64-bit integers as strings (the format stage reads
 * numbers with Number()), UInt8 — ClickHouse's booleans — as JavaScript booleans.
 */
export class ClickHouseQueryExecutor implements QueryExecutor {
  constructor(private readonly client: ClickHouseClient) {}

  async run(statement: RenderedSql, options: RunOptions): Promise<QueryRows> {
    if (statement.params.length > 0) throw new Error('ClickHouse statements carry no parameters');
    const r = await this.client.query(statement.text, { deadlineMs: options.deadlineMs });
    if (r.rows.length > options.maxRows) {
      throw new AppError(
        'QUERY_TOO_LARGE',
        `the result has more than ${options.maxRows} rows; narrow the query`,
      );
    }
    const booleans = r.types.map((t) => t === 'UInt8' || t === 'Nullable(UInt8)');
    const rows = booleans.some(Boolean)
      ? r.rows.map((row) => row.map((v, i) => (booleans[i] && v !== null ? Number(v) === 1 : v)))
      : r.rows;
    return { columns: r.columns, rows };
  }
}
