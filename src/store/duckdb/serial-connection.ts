// A DuckDB connection with the mutex that serialises its statements (used by the database and
// the ingest loader; its own file so that neither imports the other for it).
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Serial } from '../../shared/serial.js';

/** A connection together with the mutex that keeps its statements from interleaving. */
export interface SerialConnection {
  /** The current connection (replaced when the database is reopened after a fatal error). */
  connection: DuckDBConnection;
  serial: Serial;
  run<T>(task: (c: DuckDBConnection) => Promise<T>): Promise<T>;
}
