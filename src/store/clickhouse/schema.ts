// The ClickHouse schema of the event store. Written for ClickHouse 18.16 (Debian's package): no
// DateTime64 (times are Int64 epoch milliseconds), no JSON functions beyond visitParam* (a JSON
// object's top-level entries are also kept as parallel arrays: key, text, type), no TTL (retention
// and erasure are ALTER … DELETE mutations).
import type { ClickHouseClient } from './client.js';

/**
 * Every table is a ReplacingMergeTree whose sorting key is the row's identity, so that writing a
 * row twice (a resent event, a replayed ingest-log segment) leaves one row once parts merge; reads
 * use FINAL (or aggregate by the key) and so never see the second copy before that.
 *
 * `events`: one partition per UTC month (retention may drop whole old partitions), sorted by
 * project then time, so that a project's time range is one contiguous range of each part. The
 * 128-bit dedup key is two UInt64 halves (18.16 has no UInt128).
 */
export const SCHEMA: readonly { table: string; ddl: string }[] = [
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
  },
  {
    // The last ingest-log segment of each node that is wholly in the tables above.
    table: 'ingest_log_state',
    ddl: `CREATE TABLE IF NOT EXISTS ingest_log_state (
  node String,
  applied UInt64
) ENGINE = ReplacingMergeTree(applied)
ORDER BY node`,
  },
];

/** Creates the database and the tables when missing. */
export async function migrate(client: ClickHouseClient, quotedDatabase: string): Promise<void> {
  await client.exec(`CREATE DATABASE IF NOT EXISTS ${quotedDatabase}`, { noDatabase: true });
  for (const { ddl } of SCHEMA) await client.exec(ddl);
}
