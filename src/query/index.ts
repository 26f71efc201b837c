// The query engine's public entry: the engine (one choke point), the query model and result
// shapes, and the ports an adapter implements (Dialect for SQL text, QueryExecutor for running it).
export { QueryEngine, DEFAULT_QUERY_LIMITS } from './engine.js';
export type { RollupsSource } from './engine.js';
export type {
  QueryAuditEntry,
  QueryAuditSink,
  QueryEngineDeps,
  QueryLimits,
  QueryPrincipal,
  QueryProject,
} from './engine.js';
export { MATHS, parseQuery, QUERY_BODY_SCHEMA, QUERY_KINDS } from './model.js';
export type { Query, QueryKind, FieldIssue } from './model.js';
export type * from './format.js';
export { createDialect } from './dialect.js';
export type { Dialect, DialectSpelling, RenderedSql } from './dialect.js';
export type { QueryExecutor, QueryRows, RunOptions } from './execute.js';
export type { SqlFunction, SqlNode, SqlValue } from './sql.js';
export { UserStreamReader, USER_EVENTS_MAX_PAGE, USER_ALIASES_MAX } from './users.js';
export type { UserEvent, UserEventsPage, UserProfileRows } from './users.js';
export { resultToCsv, wantsCsv } from './csv.js';
