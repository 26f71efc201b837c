// The PostgreSQL adapters (SILLAGE_META_URL): metadata, accounts, the vault and the audit log of every node.
export { PostgresDatabase, type PostgresOptions } from './database.js';
export { PostgresMetaStore } from './meta-store.js';
export { PostgresAccountStore } from './account-store.js';
export { PostgresVaultStore } from './vault-store.js';
export { PostgresAuditStore } from './audit-store.js';
export { PostgresSourceThrottle } from './source-throttle.js';
