// The store's public entry: ports, shared profile semantics and the adapters.
export type * from './types.js';
export type * from './account-types.js';
export { EVENT_COLUMNS } from './types.js';
export { applyProfileOp } from './profile-ops.js';
export {
  DuckDbDatabase,
  DuckDbEventStore,
  DuckDbMetaStore,
  DuckDbAccountStore,
  DuckDbVaultStore,
  DuckDbAuditStore,
  compactDatabase,
  DUCKDB_DIALECT,
  DuckDbQueryExecutor,
  generateDemoData,
  DEMO_EVENTS,
  DUCKDB_FILE,
} from './duckdb/index.js';
export type { AtRestOptions, DemoDataOptions, DemoDataSummary } from './duckdb/index.js';
