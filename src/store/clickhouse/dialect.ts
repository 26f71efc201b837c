// The ClickHouse SQL dialect (18.16 and later): spellings of the engine's portable operations.
// 18.16 has no query parameters, so bound values are rendered as literals by the one escaping
// function (escape.ts); the statement's `params` stay empty. The statement shapes 18.16 can run
// (no CTEs, one JOIN per SELECT, no window functions, no ASOF join) come from the ClickHouse
// compiler (query/compile-clickhouse.ts), which never emits the nodes 18.16 lacks.
import { createDialect, type Dialect, type RenderedSql, type SqlNode } from '../../query/index.js';
import { literal, quoteString } from './escape.js';

// A JSON number literal (RFC 8259 §6): what `to_number` accepts, and nothing else.
const JSON_NUMBER = String.raw`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`;

/**
 * `json_text` reads a JSON bag from its parallel arrays: `x.properties` (events, or a profile
 * relation) is stored as `x.prop_keys` / `x.prop_texts` (see schema.ts). The argument is always
 * trusted text written by the compiler.
 */
function bagArrays(bag: string): { keys: string; texts: string } {
  if (!bag.endsWith('properties')) throw new Error('json_text reads a properties column');
  const prefix = bag.slice(0, -'properties'.length);
  return { keys: `${prefix}prop_keys`, texts: `${prefix}prop_texts` };
}

const spelled = createDialect({
  name: 'clickhouse',
  placeholder: (_index, value) => literal(value),
  call(fn, args) {
    const [a = '', b = ''] = args;
    switch (fn) {
      case 'epoch_ms':
        // Times are Int64 epoch milliseconds already.
        return `(${a})`;
      case 'json_text': {
        const { keys, texts } = bagArrays(a);
        return `if(indexOf(${keys}, ${b}) = 0, NULL, ${texts}[indexOf(${keys}, ${b})])`;
      }
      case 'to_number':
        return (
          `nullIf(nullIf(if(match(ifNull(${a}, ''), ${quoteString(JSON_NUMBER)}), toFloat64OrNull(ifNull(${a}, '')), NULL),` +
          ` inf), -inf)`
        );
      case 'contains':
        return `(position(${a}, ${b}) > 0)`;
      case 'floor_div':
        // Callers guarantee a ≥ 0 and b > 0, where integer division already rounds down.
        return `intDiv(${a}, ${b})`;
      case 'month_of_day':
        return `(toRelativeMonthNum(toDate(0) + (${a})) - toRelativeMonthNum(toDate(0)))`;
      case 'count_distinct':
        return `uniqExact(${a})`;
      case 'quantile': {
        // Continuous quantile, interpolated as DuckDB's quantile_cont on doubles, to the last bit:
        // v[lo] × (1 − d) + v[hi] × d at position (n − 1) × f, d its fraction (18.16 has no
        // interpolating exact quantile). `v[lo] + d × (v[hi] − v[lo])`, the same in exact
        // arithmetic, rounds differently: p90 of [-2, 1.5] is 1.15 there, 1.1500000000000001 in
        // DuckDB.
        const s = `arraySort(groupArray(toFloat64(${a})))`;
        const pos = `(${b} * (length(${s}) - 1))`;
        const d = `(${pos} - floor(${pos}))`;
        const lo = `${s}[toUInt64(floor(${pos})) + 1]`;
        const hi = `${s}[toUInt64(ceil(${pos})) + 1]`;
        return `if(length(${s}) = 0, NULL, ${lo} * (1 - ${d}) + ${hi} * ${d})`;
      }
      case 'grouping':
        throw new Error('ClickHouse 18.16 has no GROUPING SETS: the compiler uses UNION ALL');
      case 'arg_min':
        return `argMin(${a}, ${b})`;
      case 'hex':
        // ClickHouse's hex of a String is its bytes in upper case, as the contract says.
        return `hex(${a})`;
      case 'json_type_name':
        // The compiler reads the stored type array (already these names).
        return `(${a})`;
    }
  },
  cte() {
    throw new Error('ClickHouse 18.16 has no common table expressions');
  },
  asofNextJoin() {
    throw new Error('ClickHouse 18.16 has no ASOF join');
  },
  jsonEach() {
    throw new Error('ClickHouse 18.16 has no lateral JSON relation');
  },
});

/** ClickHouse: values inlined as audited literals, portable functions spelled for 18.16. */
export const CLICKHOUSE_DIALECT: Dialect = {
  name: 'clickhouse',
  render(node: SqlNode): RenderedSql {
    return { text: spelled.render(node).text, params: [] };
  },
};
