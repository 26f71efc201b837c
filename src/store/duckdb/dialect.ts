// The DuckDB SQL dialect: spellings of the engine's portable operations. Pure text rendering
// (no driver import); the DuckDB query executor binds the values.
import { createDialect, type Dialect } from '../../query/index.js';

// A JSON number literal (RFC 8259 §6): what `to_number` accepts, and nothing else.
const JSON_NUMBER = String.raw`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`;

const MAX_BIGINT = '9223372036854775807';

/** DuckDB: `$n` placeholders, JSON Pointer paths, ASOF joins, materialised CTEs. */
export const DUCKDB_DIALECT: Dialect = createDialect({
  name: 'duckdb',
  placeholder: (index) => `$${index + 1}`,
  call(fn, args) {
    const [a = '', b = ''] = args;
    switch (fn) {
      case 'epoch_ms':
        return `epoch_ms(${a})`;
      case 'json_text':
        // The key is bound; as a JSON Pointer (RFC 6901) any key is addressable: `~` and `/` are
        // escaped, dots, quotes and brackets need nothing.
        return `json_extract_string(${a}, '/' || replace(replace(${b}, '~', '~0'), '/', '~1'))`;
      case 'to_number':
        return (
          `nullif(nullif(TRY_CAST(CASE WHEN regexp_full_match(${a}, '${JSON_NUMBER}') THEN ${a} END AS DOUBLE),` +
          ` 'Infinity'::DOUBLE), '-Infinity'::DOUBLE)`
        );
      case 'contains':
        return `contains(${a}, ${b})`;
      case 'floor_div':
        // Callers guarantee a ≥ 0 and b > 0, where integer division already rounds down.
        return `((${a}) // (${b}))`;
      case 'month_of_day':
        return `date_diff('month', DATE '1970-01-01', DATE '1970-01-01' + CAST(${a} AS INTEGER))`;
      case 'count_distinct':
        return `count(DISTINCT ${a})`;
      case 'quantile':
        return `quantile_cont(${a}, ${b})`;
      case 'grouping':
        return `grouping(${a})`;
      case 'arg_min':
        return `arg_min(${a}, ${b})`;
      case 'hex':
        return `hex(CAST(${a} AS VARCHAR))`;
      case 'json_type_name':
        return (
          `(CASE ${a} WHEN 'VARCHAR' THEN 'string' WHEN 'BIGINT' THEN 'number' WHEN 'UBIGINT' THEN 'number'` +
          ` WHEN 'DOUBLE' THEN 'number' WHEN 'BOOLEAN' THEN 'boolean' WHEN 'ARRAY' THEN 'array'` +
          ` WHEN 'OBJECT' THEN 'object' ELSE 'null' END)`
        );
    }
  },
  cte: (name, body, materialize) => `${name} AS ${materialize ? 'MATERIALIZED ' : ''}(${body})`,
  jsonEach: (json, alias) => `json_each(${json}) AS ${alias}`,
  // DuckDB's ASOF operator (used from about 64 estimated left rows; smaller inputs run as a nested
  // loop, which gets NULLs right) pairs a NULL left time with the earliest right row. A NULL time
  // becomes the largest BIGINT, after which no right time is: the join stays an ASOF join (an
  // `IS NOT NULL` condition would turn it into a nested loop).
  asofNextJoin: (p) =>
    `ASOF LEFT JOIN ${p.right} AS ${p.rightAlias} ON ${p.leftKey} = ${p.rightKey} AND coalesce(${p.leftTime}, ${MAX_BIGINT}) < ${p.rightTime}`,
});
