// Values bound to DuckDB statements built as SQL trees (query/sql.ts): the query executor's, and
// the store's own statements that reuse the query engine's expressions (rollups.ts).
import {
  BIGINT,
  BOOLEAN,
  DOUBLE,
  DuckDBTimestampTZValue,
  TIMESTAMPTZ,
  VARCHAR,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';
import type { SqlValue } from '../../query/index.js';

/** A bound value as DuckDB takes it: its JS value and the type to bind it as. */
export function bindValue(value: SqlValue): { value: DuckDBValue; type: DuckDBType } {
  switch (value.type) {
    case 'varchar':
      return { value: value.value, type: VARCHAR };
    case 'bigint':
      return { value: BigInt(value.value), type: BIGINT };
    case 'double':
      return { value: value.value, type: DOUBLE };
    case 'boolean':
      return { value: value.value, type: BOOLEAN };
    case 'timestamp':
      return { value: new DuckDBTimestampTZValue(BigInt(value.value) * 1000n), type: TIMESTAMPTZ };
  }
}
