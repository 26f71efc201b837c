// The store's public entry: the ports and shared profile semantics. Adapters have their own
// entries (store/duckdb/index.ts, …) and are chosen in the composition root (cli/runtime.ts).
export type * from './types.js';
export type * from './account-types.js';
export { EVENT_COLUMNS } from './types.js';
export { applyProfileOp } from './profile-ops.js';
