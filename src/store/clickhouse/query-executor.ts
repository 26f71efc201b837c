// ClickHouse adapter of the QueryExecutor port: runs a rendered statement (values already inlined
// as audited literals) under the query's deadline, enforced by the server (max_execution_time).
import { AppError } from '../../shared/errors.js';
import type { QueryExecutor, QueryRows, RenderedSql, RunOptions } from '../../query/index.js';
import { SCALAR_CLOSE, SCALAR_OPEN } from '../../query/compile-clickhouse.js';
import type { ClickHouseClient } from './client.js';
import { distributedSafe } from './distributed-text.js';
import { integerLiteral, quoteString } from './escape.js';

/** Splits `A, B(C, D), E` at its top-level commas. */
function splitTypes(list: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    const ch = list[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      out.push(list.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(list.slice(start).trim());
  return out;
}

const INTEGER_TYPES = /^U?Int(8|16|32|64)$/;

/**
 * A value of a hoisted scalar subquery as a literal of exactly its type (as JSONCompact wrote
 * it): tuples, arrays (typed by CAST, so that an empty one keeps its element type), nullable
 * values, strings (through the one escaping function) and integers. Other types are not produced
 * by the compiler's scalars and are refused.
 */
export function scalarLiteral(type: string, value: unknown): string {
  const wrapped = /^(Tuple|Array|Nullable)\((.*)\)$/.exec(type);
  if (wrapped) {
    const [, kind, inner] = wrapped as unknown as [string, string, string];
    if (kind === 'Nullable') return value === null ? 'NULL' : scalarLiteral(inner, value);
    if (!Array.isArray(value)) throw new Error(`ClickHouse scalar: ${kind} without an array`);
    if (kind === 'Array') {
      return `CAST([${value.map((v) => scalarLiteral(inner, v)).join(', ')}] AS ${type})`;
    }
    const types = splitTypes(inner);
    if (types.length < 2 || types.length !== value.length)
      throw new Error('ClickHouse scalar: tuple arity');
    return `(${types.map((t, i) => scalarLiteral(t, value[i])).join(', ')})`;
  }
  if (type === 'String' && typeof value === 'string') return quoteString(value);
  if (INTEGER_TYPES.test(type) && (typeof value === 'number' || typeof value === 'string')) {
    const text = String(value);
    if (!/^-?[0-9]{1,20}$/.test(text)) throw new Error('ClickHouse scalar: not an integer');
    return `to${type}(${integerLiteral(BigInt(text))})`;
  }
  throw new Error(`ClickHouse scalar: type ${type} is not handled`);
}

/**
 * Values come back as JSONCompact writes them: 64-bit integers as strings (the format stage reads
 * numbers with Number()), UInt8 — ClickHouse's booleans — as JavaScript booleans.
 */
export class ClickHouseQueryExecutor implements QueryExecutor {
  constructor(private readonly client: ClickHouseClient) {}

  /**
   * Runs each marked scalar subquery once, innermost first, and replaces it (and its repeats)
   * by its value (see SCALAR_OPEN in compile-clickhouse.ts for why).
   */
  private async hoistScalars(text: string, deadlineMs: number): Promise<string> {
    const values = new Map<string, string>();
    // Bounded: every pass removes one marked pair.
    for (let pass = 0; text.includes(SCALAR_OPEN); pass++) {
      const close = text.indexOf(SCALAR_CLOSE);
      const open = close < 0 ? -1 : text.lastIndexOf(SCALAR_OPEN, close);
      if (open < 0 || pass > 10_000) throw new Error('ClickHouse statement: unbalanced scalars');
      const body = text.slice(open + SCALAR_OPEN.length, close);
      let value = values.get(body);
      if (value === undefined) {
        const r = await this.client.query(`SELECT ${body}`, { deadlineMs });
        value = scalarLiteral(r.types[0] ?? '', r.rows[0]?.[0]);
        values.set(body, value);
      }
      text = text.slice(0, open) + value + text.slice(close + SCALAR_CLOSE.length);
    }
    return text;
  }

  async run(statement: RenderedSql, options: RunOptions): Promise<QueryRows> {
    if (statement.params.length > 0) throw new Error('ClickHouse statements carry no parameters');
    const text = await this.hoistScalars(distributedSafe(statement.text), options.deadlineMs);
    const r = await this.client.query(text, { deadlineMs: options.deadlineMs });
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
