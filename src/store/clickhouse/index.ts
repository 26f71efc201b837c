// The ClickHouse adapters (events on ClickHouse; see README "Scale-out").
export { ClickHouseClient } from './client.js';
export type { ClickHouseClientOptions, ClickHouseRows } from './client.js';
export { ClickHouseEventStore } from './event-store.js';
export type { ClickHouseEventStoreOptions } from './event-store.js';
export { quoteIdentifier, quoteString, literal } from './escape.js';
export { ClickHouseQueryExecutor } from './query-executor.js';
export { CLICKHOUSE_DIALECT } from './dialect.js';
