// The DuckDB adapters (embedded default store).
export { DuckDbDatabase, DUCKDB_FILE } from './database.js';
export { DuckDbEventStore } from './event-store.js';
export { DuckDbMetaStore } from './meta-store.js';
export { DuckDbAccountStore } from './account-store.js';
export { DuckDbVaultStore } from './vault-store.js';
export { compactDatabase } from './compact.js';
export { DUCKDB_DIALECT } from './dialect.js';
export { DuckDbQueryExecutor } from './query-executor.js';
export { QueryActivity } from './query-activity.js';
export { generateDemoData, projectEventPages, DEMO_EVENTS } from './demo-data.js';
export type { DemoDataOptions, DemoDataSummary } from './demo-data.js';
export { DuckDbAuditStore } from './audit-store.js';
export type { AtRestOptions } from './at-rest.js';
