// The store's ports: what the core needs from an event store and a metadata store.
import type { JsonObject, JsonValue } from '../shared/json.js';
import type { ProfileOp } from '../shared/profile-op.js';
import type { StandardEventFields } from '../shared/event-schema.js';
import type { ApiKeyRecord } from './account-types.js';

/**
 * One event as stored. Identifiers are already pseudonyms; no IP or raw user agent exists here.
 * The typed property fields (`browser`, `countryCode`, …) are the event schema's.
 */
export interface EventRow extends StandardEventFields {
  projectId: string;
  /**
   * 128-bit dedup key over (project, event, distinct_id, time, insert_id). Rows with equal keys
   * are one event: the first stored wins. A key determines its row's time (the DuckDB store looks
   * a key up among the stored rows of that instant only).
   */
  dedupKey: bigint;
  timeMs: number;
  event: string;
  distinctId: string;
  deviceId: string | null;
  userId: string | null;
  insertId: string;
  /** Custom properties (everything without a typed column). */
  properties: JsonObject;
  receivedAtMs: number;
}

/** The typed columns of EventRow, in table order after the key columns. */
export const EVENT_COLUMNS = [
  'project_id',
  'dedup_key',
  'time',
  'event',
  'distinct_id',
  'device_id',
  'user_id',
  'insert_id',
  'browser',
  'browser_version',
  'os',
  'device_type',
  'country_code',
  'region',
  'city',
  'referring_domain',
  'current_url',
  'utm_source',
  'utm_medium',
  'utm_campaign',
  'utm_content',
  'utm_term',
  'lib',
  'properties',
  'received_at',
] as const;

export interface ProfileKey {
  projectId: string;
  /** '' for user profiles, the group key for group profiles. */
  groupKey: string;
  /** Pseudonymous distinct id or group id. */
  profileId: string;
}

export interface ProfileUpdateRow extends ProfileKey {
  op: ProfileOp;
  value: JsonValue;
  timeMs: number;
  ignoreTime: boolean;
}

export interface StoredProfile extends ProfileKey {
  properties: JsonObject;
  createdAtMs: number;
  updatedAtMs: number;
}

/** A device/anonymous id linked to a user id (both pseudonyms). First link wins. */
export interface IdentityLink {
  projectId: string;
  aliasId: string;
  canonicalId: string;
  timeMs: number;
}

/** What the privacy stage caught, per project, day, property and kind (for the privacy report). */
export interface PrivacyCountRow {
  projectId: string;
  /** UTC day, YYYY-MM-DD. */
  day: string;
  /** Top-level property name (already redacted if the name itself was PII). */
  property: string;
  /** PII kind (`email`, `phone`, …) or an action (`dropped`, `pseudonymised`, …). */
  kind: string;
  count: number;
}

/**
 * Events already serialised as row JSON (`encodeEventRows` in store/row-json.ts): one line per
 * event, each ending in '\n'. Lets the costly part of ingestion run off the main thread; a store
 * takes them like `events` (and can read them back with `decodeEventRow`).
 */
export interface EncodedEventRows {
  lines: Uint8Array;
  count: number;
}

/** Everything one group commit writes, atomically. */
export interface CommitBatch {
  events: EventRow[];
  /** More events, encoded (see EncodedEventRows); absent or empty for most batches. */
  encodedEvents?: EncodedEventRows[];
  profileUpdates: ProfileUpdateRow[];
  identityLinks: IdentityLink[];
  privacyCounts: PrivacyCountRow[];
}

export interface CommitResult {
  eventsInserted: number;
  eventsDuplicate: number;
  profilesWritten: number;
}

/** A page of events: `[fromMs, toMs)` and strictly after a (time, dedup key) cursor. */
export interface ListEventsOptions {
  limit?: number;
  fromMs?: number;
  toMs?: number;
  after?: { timeMs: number; dedupKey: bigint };
}

/** The newest events by arrival: strictly after a (received time, dedup key) cursor. */
export interface LatestEventsOptions {
  limit: number;
  after?: { receivedMs: number; dedupKey: bigint };
}

/** Port: the event store (events, profiles, identity links). */
export interface EventStore {
  /** Writes the batch in one durable transaction; resolves only once committed (fsynced WAL). */
  commit(batch: CommitBatch): Promise<CommitResult>;
  /** Resolves once every committed event is visible to reads and queries (tests, tools, export). */
  flush(): Promise<void>;
  /**
   * What this node's ingest log held, not yet in the store, when the store opened (`sillage
   * drain` reports it). Absent where the log is loaded before the store opens (embedded DuckDB).
   */
  recoveredLog?(): { segments: number; events: number };
  countEvents(projectId: string): Promise<number>;
  /** Reads events back in (time, dedup key) order: tests, tools and the raw-data export. */
  listEvents(projectId: string, options?: ListEventsOptions): Promise<EventRow[]>;
  /** Events as stored, newest arrival first (received time, then dedup key): the live view. */
  latestEvents(projectId: string, options: LatestEventsOptions): Promise<EventRow[]>;
  getProfile(key: ProfileKey): Promise<StoredProfile | null>;
  listIdentityLinks(projectId: string): Promise<IdentityLink[]>;
  /** Privacy counters summed over [fromDay, toDay] (inclusive, YYYY-MM-DD). */
  privacyCounts(projectId: string, fromDay: string, toDay: string): Promise<PrivacyCountRow[]>;
  /** Deletes events older than the cutoff; returns how many went. */
  deleteEventsBefore(projectId: string, cutoffMs: number): Promise<number>;
  /** Deletes every event, profile and identity link of one subject (pseudonym). */
  eraseSubject(projectId: string, profileId: string): Promise<number>;
  close(): Promise<void>;
}

export interface ProjectRecord {
  id: string;
  name: string;
  /** Public ingest token (write-only). */
  token: string;
  /** SHA-256 (hex) of the secret API key; the secret itself is shown once. */
  secretHash: string;
  timezone: string;
  createdAtMs: number;
}

/** A per-project key, wrapped (encrypted) by the master key. */
export interface WrappedKeyRecord {
  projectId: string;
  purpose: 'pseudonym' | 'vault';
  version: number;
  wrapped: Uint8Array;
  createdAtMs: number;
}

/** A project's privacy policy as stored: JSON that the privacy module validates on read. */
export type PolicyRecord = JsonObject;

/** Who changed a policy, when, and the policy before and after. */
export interface PolicyChange {
  projectId: string;
  actor: string;
  atMs: number;
  before: PolicyRecord | null;
  after: PolicyRecord;
}

/** A saved cohort as stored: its definition is JSON the query module validates on read. */
export interface StoredCohort {
  id: string;
  projectId: string;
  name: string;
  definition: JsonObject;
  createdBy: string;
  createdAtMs: number;
  updatedAtMs: number;
}

/** Port: metadata (projects, keys, policies, cohorts). */
export interface MetaStore {
  /**
   * Creates the project, its wrapped keys and the API key of its bootstrap secret, in one
   * transaction (the key row is the AccountStore's; both stores share one database).
   */
  createProject(
    project: ProjectRecord,
    keys: WrappedKeyRecord[],
    bootstrapKey: ApiKeyRecord,
  ): Promise<void>;
  getProject(id: string): Promise<ProjectRecord | null>;
  findProjectByToken(token: string): Promise<ProjectRecord | null>;
  listProjects(): Promise<ProjectRecord[]>;
  listKeys(projectId: string): Promise<WrappedKeyRecord[]>;
  addKey(key: WrappedKeyRecord): Promise<void>;
  /** The project's privacy policy (validated JSON), or null for the default. */
  getPolicy(projectId: string): Promise<PolicyRecord | null>;
  /** Replaces the policy and records who changed it, in one transaction. */
  setPolicy(projectId: string, policy: PolicyRecord, change: PolicyChange): Promise<void>;
  listPolicyChanges(projectId: string): Promise<PolicyChange[]>;
  /** A small key/value area for instance-level facts (e.g. the master-key check value). */
  getSetting(name: string): Promise<string | null>;
  setSetting(name: string, value: string): Promise<void>;
  /** Saved cohorts of a project (issue 12), by name then id. */
  listCohorts(projectId: string): Promise<StoredCohort[]>;
  /** One cohort of the project, or null (another project's id finds nothing). */
  getCohort(projectId: string, id: string): Promise<StoredCohort | null>;
  /** Inserts or replaces the cohort with this id. */
  putCohort(cohort: StoredCohort): Promise<void>;
  /** Deletes the project's cohort; returns whether it existed. */
  deleteCohort(projectId: string, id: string): Promise<boolean>;
  /**
   * Optional, for a database several nodes share: calls `changed(projectId)` soon after any node
   * changes a project's record, wrapped keys or policy, and `changed(null)` when changes may
   * have been missed (anything may have changed). Returns a function that stops watching. An
   * embedded store has no other writer and does not implement it.
   */
  watchProjects?(changed: (projectId: string | null) => void): () => Promise<void>;
}

/** A subject's data key for the PII vault, wrapped by the project's vault key. */
export interface WrappedSubjectKey {
  vaultKeyVersion: number;
  wrapped: Uint8Array;
}

/**
 * Port: the opt-in PII vault. Values are sealed under a per-subject key before they arrive here;
 * erasing a subject deletes its key (and its sealed values), which makes any copy unreadable.
 */
export interface VaultStore {
  getSubjectKey(projectId: string, subjectId: string): Promise<WrappedSubjectKey | null>;
  /** Stores the key unless one exists; returns the one that is stored (first writer wins). */
  putSubjectKeyIfAbsent(
    projectId: string,
    subjectId: string,
    key: WrappedSubjectKey,
  ): Promise<WrappedSubjectKey>;
  /** `$set` overwrites; `$set_once` keeps existing values. */
  putValues(
    projectId: string,
    subjectId: string,
    sealed: Readonly<Record<string, string>>,
    mode: 'set' | 'set_once',
    atMs: number,
  ): Promise<void>;
  getValues(projectId: string, subjectId: string): Promise<Record<string, string>>;
  /** Deletes the subject's key and sealed values; returns whether a key existed. */
  eraseSubject(projectId: string, subjectId: string): Promise<boolean>;
}
