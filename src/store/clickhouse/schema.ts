// The ClickHouse schema of the event store. Written for ClickHouse 18.16 (Debian's package): no
// DateTime64 (times are Int64 epoch milliseconds), no JSON functions beyond visitParam* (a JSON
// object's top-level entries are also kept as parallel arrays: key, text, type), no TTL (retention
// and erasure are ALTER … DELETE mutations).
import { AppError } from '../../shared/errors.js';
import type { ClickHouseClient } from './client.js';
import { quoteString } from './escape.js';

/**
 * Every table is a ReplacingMergeTree whose sorting key is the row's identity, so that writing a
 * row twice (a resent event, a replayed ingest-log segment) leaves one row once parts merge; reads
 * use FINAL (or aggregate by the key) and so never see the second copy before that.
 *
 * `events`: one partition per UTC month (retention may drop whole old partitions), sorted by
 * project then time, so that a project's time range is one contiguous range of each part. The
 * 128-bit dedup key is two UInt64 halves (18.16 has no UInt128).
 */
export interface TableSchema {
  table: EventSideTable;
  /** `CREATE TABLE IF NOT EXISTS <table> (…) ENGINE = …` (the name is replaced on shards). */
  ddl: string;
  /**
   * On a sharded layout, the expression that picks a row's shard. Two writes of one row (a
   * resent event, a replayed segment, another node's copy) give the same value, so they land on
   * the same shard, where the ReplacingMergeTree collapses them and FINAL reads them once.
   */
  shardingKey: string;
}

export type EventSideTable =
  'events' | 'profiles' | 'identity_links' | 'privacy_counters' | 'ingest_log_state';

export const SCHEMA: readonly TableSchema[] = [
  {
    table: 'events',
    ddl: `CREATE TABLE IF NOT EXISTS events (
  project_id String,
  time Int64,
  dedup_hi UInt64,
  dedup_lo UInt64,
  event String,
  distinct_id String,
  device_id Nullable(String),
  user_id Nullable(String),
  insert_id String,
  browser Nullable(String),
  browser_version Nullable(String),
  os Nullable(String),
  device_type Nullable(String),
  country_code Nullable(String),
  region Nullable(String),
  city Nullable(String),
  referring_domain Nullable(String),
  current_url Nullable(String),
  utm_source Nullable(String),
  utm_medium Nullable(String),
  utm_campaign Nullable(String),
  utm_content Nullable(String),
  utm_term Nullable(String),
  lib Nullable(String),
  properties String,
  prop_keys Array(String),
  prop_texts Array(String),
  prop_types Array(String),
  received_at Int64,
  day Date MATERIALIZED toDate(intDiv(time, 1000))
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (project_id, time, dedup_hi, dedup_lo)`,
    // The dedup key's high half: already a uniform 64-bit hash, and equal for every copy of an
    // event (whichever node, SDK retry or replay wrote it).
    shardingKey: 'dedup_hi',
  },
  {
    // One row per version of a profile; the highest version is current. Each row names the node
    // and ingest-log segment that wrote it (replays of that segment skip it). A deleted profile
    // is a row with deleted = 1.
    table: 'profiles',
    ddl: `CREATE TABLE IF NOT EXISTS profiles (
  project_id String,
  group_key String,
  profile_id String,
  properties String,
  prop_keys Array(String),
  prop_texts Array(String),
  created_at Int64,
  updated_at Int64,
  deleted UInt8,
  version UInt64,
  applied_node String,
  applied_segment UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, group_key, profile_id)`,
    shardingKey: 'cityHash64(project_id, group_key, profile_id)',
  },
  {
    // First link wins: the loader writes a link only for an alias without one.
    table: 'identity_links',
    ddl: `CREATE TABLE IF NOT EXISTS identity_links (
  project_id String,
  alias_id String,
  canonical_id String,
  time Int64
) ENGINE = ReplacingMergeTree
ORDER BY (project_id, alias_id)`,
    shardingKey: 'cityHash64(project_id, alias_id)',
  },
  {
    // Counts per ingest-log segment: replaying a segment rewrites its rows instead of adding.
    table: 'privacy_counters',
    ddl: `CREATE TABLE IF NOT EXISTS privacy_counters (
  project_id String,
  day Date,
  property String,
  kind String,
  segment UInt64,
  node String,
  count UInt64
) ENGINE = ReplacingMergeTree
ORDER BY (project_id, day, property, kind, node, segment)`,
    shardingKey: 'cityHash64(node, segment)',
  },
  {
    // The last ingest-log segment of each node that is wholly in the tables above.
    table: 'ingest_log_state',
    ddl: `CREATE TABLE IF NOT EXISTS ingest_log_state (
  node String,
  applied UInt64
) ENGINE = ReplacingMergeTree(applied)
ORDER BY node`,
    shardingKey: 'cityHash64(node)',
  },
];

/**
 * How the event side's tables are laid out.
 *
 * - `single`: one server (or one server behind a proxy): each table above is a ReplacingMergeTree.
 * - `sharded`: the shards of a cluster that every server's `remote_servers` configuration names
 *   `cluster`, one server per shard. On each shard, the table above is created as `<table>_local`,
 *   and `<table>` is a Distributed table over the locals of every shard (so the statements of the
 *   query compiler and of the loader, which name `events`, `profiles`…, read and write the
 *   cluster unchanged). DDL goes to every shard's server in turn: `ON CLUSTER` needs ZooKeeper,
 *   which a plain shard set does not have.
 */
export type ClickHouseLayout = { kind: 'single' } | { kind: 'sharded'; cluster: string };

/** The table that holds rows (and takes `ALTER … DELETE`) on one server of the layout. */
export function storageTable(layout: ClickHouseLayout, table: EventSideTable): string {
  return layout.kind === 'sharded' ? `${table}_local` : table;
}

/**
 * Settings every statement carries on a sharded layout: inserts into a Distributed table return
 * once every shard holds its rows (`insert_distributed_sync`; otherwise the initiator would only
 * spool them, and the ingest-log segment would be dropped before the rows are on their shard),
 * and a subquery that reads a Distributed table inside a distributed query is run once and sent
 * to the shards (`GLOBAL`), instead of being refused.
 */
export const SHARDED_SETTINGS: Readonly<Record<string, string>> = {
  insert_distributed_sync: '1',
  distributed_product_mode: 'global',
};

/**
 * The columns of a table's DDL that an INSERT writes: a Distributed table declares only those,
 * because 18.16 forwards every column it declares and a shard refuses a value for a MATERIALIZED
 * one ("Cannot insert column day"). Nothing reads `events.day` (it only partitions).
 */
function storedColumns(ddl: string): string {
  const body = ddl.slice(ddl.indexOf('(') + 1, ddl.lastIndexOf(') ENGINE'));
  return body
    .split('\n')
    .map((line) => line.trim().replace(/,$/, ''))
    .filter((line) => line !== '' && !/ MATERIALIZED /.test(line))
    .join(', ');
}

/**
 * What a server offers beyond 18.16 that the schema uses, found by asking the server (its system
 * tables), not by its version number, so that a build with a feature left out is not assumed to
 * have it. Every statement Sillage sends is the same on every server; only the tables' settings
 * differ.
 */
export interface ClickHouseFeatures {
  /** `SELECT version()`, for the log and the operator. */
  version: string;
  /**
   * The MergeTree settings `fsync_after_insert` and `fsync_part_directory` (not in 18.16): with
   * them on, an INSERT returns once its part and the part's directory are on disk, so the node
   * drops an ingest-log segment only after its rows survive a power loss of the ClickHouse host.
   */
  fsyncParts: boolean;
}

/** Asks `client`'s server what it offers (see ClickHouseFeatures). */
export async function detectFeatures(client: ClickHouseClient): Promise<ClickHouseFeatures> {
  const version = await client.query('SELECT version()', { noDatabase: true });
  const fsync = await client.query(
    `SELECT count() FROM system.merge_tree_settings
      WHERE name IN ('fsync_after_insert', 'fsync_part_directory')`,
    { noDatabase: true },
  );
  return {
    version: version.rows[0]?.[0] as string,
    fsyncParts: Number(fsync.rows[0]?.[0] ?? 0) === 2,
  };
}

/**
 * Creates the database and the tables when missing, and sets the tables that hold rows to what
 * the server offers (ClickHouseFeatures; on every start, so that tables created by an older
 * server get it after an upgrade). Returns what the server offers.
 */
export async function migrate(
  client: ClickHouseClient,
  quotedDatabase: string,
  layout: ClickHouseLayout = { kind: 'single' },
): Promise<ClickHouseFeatures> {
  const features = await detectFeatures(client);
  await client.exec(`CREATE DATABASE IF NOT EXISTS ${quotedDatabase}`, { noDatabase: true });
  for (const { table, ddl, shardingKey } of SCHEMA) {
    const storage = storageTable(layout, table);
    await client.exec(
      ddl.replace(
        `CREATE TABLE IF NOT EXISTS ${table} (`,
        `CREATE TABLE IF NOT EXISTS ${storage} (`,
      ),
    );
    if (features.fsyncParts) {
      await client.exec(
        `ALTER TABLE ${storage} MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1`,
      );
    }
    if (layout.kind === 'sharded') {
      await client.exec(
        `CREATE TABLE IF NOT EXISTS ${table} (${storedColumns(ddl)}) ENGINE = Distributed(${quoteString(layout.cluster)}, ${quoteString(client.database)}, ${quoteString(storage)}, ${shardingKey})`,
      );
    }
  }
  await checkEngines(client, layout);
  return features;
}

/**
 * Refuses a database laid out otherwise than configured (a single server's tables read as a
 * cluster would leave every other shard out; a Distributed table read as a single server's would
 * miss the dedup of FINAL across a partly loaded cluster): the message says what to change.
 */
async function checkEngines(client: ClickHouseClient, layout: ClickHouseLayout): Promise<void> {
  const r = await client.query(
    `SELECT name, engine FROM system.tables WHERE database = ${quoteString(client.database)}`,
    { noDatabase: true },
  );
  const engines = new Map(r.rows.map((row) => [String(row[0]), String(row[1])]));
  for (const { table } of SCHEMA) {
    const engine = engines.get(table);
    const distributed = engine === 'Distributed';
    if (layout.kind === 'sharded' && !distributed) {
      throw new AppError(
        'CONFIG_INVALID',
        `invalid configuration: SILLAGE_CLICKHOUSE_CLUSTER is set, but table ${table} of database ${client.database} is a ${engine ?? 'missing'} table of a single server, not a Distributed one (use another database for the cluster)`,
      );
    }
    if (layout.kind === 'single' && distributed) {
      throw new AppError(
        'CONFIG_INVALID',
        `invalid configuration: table ${table} of database ${client.database} is Distributed over a cluster: set SILLAGE_CLICKHOUSE_CLUSTER and list every shard in SILLAGE_EVENTS_URL`,
      );
    }
  }
}

/**
 * Checks that the servers given are exactly the shards of `cluster`, one per shard, each a single
 * replica: a shard missing from the list would have no local tables (reads and inserts through
 * the Distributed tables fail), and a listed server outside the cluster would hold rows no read
 * sees. Reads each server's own `system.clusters` (its `is_local` row says which shard it is).
 */
export async function checkCluster(
  clients: readonly ClickHouseClient[],
  cluster: string,
): Promise<void> {
  const fail = (why: string): never => {
    throw new AppError(
      'CONFIG_INVALID',
      `invalid configuration: SILLAGE_CLICKHOUSE_CLUSTER=${cluster}: ${why}`,
    );
  };
  const seen = new Map<number, number>();
  for (const [i, client] of clients.entries()) {
    const r = await client.query(
      `SELECT toUInt32(shard_num), toUInt32(replica_num), is_local FROM system.clusters WHERE cluster = ${quoteString(cluster)}`,
      { noDatabase: true },
    );
    if (r.rows.length === 0)
      fail(`server ${i + 1} of SILLAGE_EVENTS_URL has no such cluster in its remote_servers`);
    const shards = new Set(r.rows.map((row) => Number(row[0])));
    if (shards.size !== r.rows.length)
      fail('a shard has several replicas (replicated shards are not supported)');
    if (shards.size !== clients.length)
      fail(
        `the cluster has ${shards.size} shards, SILLAGE_EVENTS_URL lists ${clients.length} servers (one per shard)`,
      );
    const own = r.rows.filter((row) => Number(row[2]) === 1).map((row) => Number(row[0]));
    if (own.length !== 1)
      fail(`server ${i + 1} of SILLAGE_EVENTS_URL is not one of the cluster's shards`);
    const shard = own[0] as number;
    const before = seen.get(shard);
    if (before !== undefined)
      fail(`servers ${before + 1} and ${i + 1} of SILLAGE_EVENTS_URL are the same shard`);
    seen.set(shard, i);
  }
}
