// The audit log's vocabulary: what is recorded (kinds, sources, entries) and the storage port.
import type { JsonObject } from '../shared/json.js';
import type { RequestSource } from '../shared/request-source.js';

/** Reads of data: each is gated (suspension) and fails closed when its entry cannot be written. */
export const READ_KINDS = [
  'query',
  'export',
  'reveal',
  'pseudonym_lookup',
  'user_read',
  'live_events',
  'audit_read',
  'incident_report',
] as const;

/** Security acts (accounts, keys, policies) and the audit log's own acts. */
export const ACT_KINDS = [
  'sign_in',
  'sign_in_failed',
  'session_revoked',
  'factor_added',
  'factor_removed',
  'password_changed',
  'account_status',
  'key_created',
  'key_used',
  'key_rotated',
  'key_revoked',
  'member_changed',
  'member_removed',
  'invitation_created',
  'org_policy_changed',
  'privacy_policy_changed',
  'lockdown',
  'erasure',
  'alert',
  'suspension',
  'suspension_lifted',
] as const;

export type ReadKind = (typeof READ_KINDS)[number];
export type ActKind = (typeof ACT_KINDS)[number];
export type AuditKind = ReadKind | ActKind;

const READ_SET: ReadonlySet<string> = new Set(READ_KINDS);
export const isReadKind = (kind: string): kind is ReadKind => READ_SET.has(kind);

/**
 * Where an act came from. The address is used in memory only: the log keeps a keyed hash of its
 * network (/24 for IPv4, /48 for IPv6) and the country, never the address.
 */
export type AuditSource = RequestSource;

/** What a service hands to the audit log. */
export interface AuditInput {
  kind: AuditKind;
  /** Non-secret principal label: `user:<id>`, `key:<id>`, `cli`, `system`. */
  actor: string;
  orgId?: string | null;
  projectId?: string | null;
  source?: AuditSource;
  /** 'ok', or the error code of a refused or failed act. */
  outcome?: string;
  /** What the act was on (a key id, a user id, a session id prefix, a rule). */
  target?: string | null;
  /** Non-sensitive facts (the validated query, a role, a scope list). */
  detail?: JsonObject;
  /** Sensitive values (a raw user id, an e-mail): kept only as HMACs under the audit key. */
  sensitive?: Readonly<Record<string, string>>;
  /** Fields (columns, properties) the read returned. */
  fields?: readonly string[];
  /** Event names the read covered. */
  eventNames?: readonly string[];
  /** Rows returned. */
  rows?: number;
  /** Pseudonymous subjects (`u_…`, `g_…`) whose rows were returned. */
  subjects?: Iterable<string>;
}

/** One entry as stored: every column is covered by the entry's hash. */
export interface AuditEntry {
  seq: number;
  atMs: number;
  kind: string;
  actor: string;
  orgId: string | null;
  projectId: string | null;
  /** 'http', 'cli', 'admin-socket' or 'system'. */
  source: string;
  /** ISO country code, or null. */
  country: string | null;
  /** HMAC (hex) of the source network, or null. */
  network: string | null;
  outcome: string;
  target: string | null;
  /** JSON text (exactly as hashed). */
  detail: string;
  /** JSON text of a string list. */
  fields: string;
  /** JSON text of a string list. */
  eventNames: string;
  rows: number;
  subjectCount: number;
  /** Packed subject pseudonyms (see subjects.ts); empty when none. */
  subjects: Uint8Array;
  prevHash: string;
  hash: string;
}

/** A signed statement of the log's head (or of a past point): seq, hash, time. */
export interface AuditCheckpoint {
  seq: number;
  hash: string;
  atMs: number;
  /** Ed25519 signature (base64url) over `checkpointMessage`. */
  signature: string;
}

/** A principal held off data until an owner decides. */
export interface SuspensionRecord {
  id: string;
  actor: string;
  orgId: string | null;
  rule: string;
  reason: string;
  createdAtMs: number;
  liftedAtMs: number | null;
  liftedBy: string | null;
}

/** Which entries a scan returns (all conditions AND; absent means any). */
export interface AuditFilter {
  fromMs?: number;
  toMs?: number;
  actors?: readonly string[];
  kinds?: readonly string[];
  /** An organisation's entries; null: entries of no organisation (a sign-in). */
  orgId?: string | null;
  projectId?: string;
  networks?: readonly string[];
  afterSeq?: number;
  limit?: number;
}

/** An entry without its packed subjects (what a summary lists). */
export type AuditEntryHead = Omit<AuditEntry, 'subjects'>;

/**
 * The aggregates of the entries a filter matches (its `limit` does not apply), computed where
 * they are stored: a breach-impact report over millions of entries never pages through them.
 * A *read* is an entry of a read kind (READ_KINDS) whose outcome is 'ok'; a *refused* entry is
 * one of any kind whose outcome is not 'ok'; any other entry (a key accepted) counts only in
 * `actors`.
 */
export interface AuditSummary {
  /** Every actor of a matching entry (refused ones too), sorted. */
  actors: string[];
  /** Actors of reads, in the order of each one's first read (by seq). */
  principals: string[];
  reads: number;
  /** Reads by kind, keys in the order of each kind's first read (by seq). */
  readsByKind: Record<string, number>;
  /** Rows the reads returned, summed. */
  rows: number;
  /** Times of the first and last read (by time), or null without reads. */
  firstMs: number | null;
  lastMs: number | null;
  /** Distinct over the reads, each sorted: fields, event names, projects, where they came from. */
  fields: string[];
  eventNames: string[];
  projects: string[];
  sources: string[];
  countries: string[];
  networks: string[];
  /** The exact set of pseudonymous subjects of the reads, sorted (by UTF-16 code unit). */
  subjects: string[];
  /** The first reads by seq, at most the list limit. */
  readList: AuditEntryHead[];
  refused: number;
  /** The first refused entries by seq, at most the list limit. */
  refusedList: AuditEntryHead[];
}

/** Where the chain stands when a batch is appended: its last entry and last periodic checkpoint. */
export interface ChainPosition {
  /** 0 and the genesis hash on an empty log. */
  seq: number;
  hash: string;
  lastCheckpoint: { seq: number; atMs: number } | null;
}

/** A batch chained after a position: its entries, the new signed head, a periodic checkpoint? */
export interface SealedBatch {
  entries: AuditEntry[];
  head: AuditCheckpoint;
  checkpoint: boolean;
}

/** Chains and signs a batch after the position the store read (the log's part of an append). */
export type ChainSealer = (prev: ChainPosition) => SealedBatch;

/**
 * Port: where the audit log lives. One chain, whichever adapter: the embedded DuckDB file of one
 * node, or PostgreSQL shared by every node (appends serialised by an advisory lock).
 */
export interface AuditStore {
  /**
   * Appends one batch: reads the chain's position under the store's write lock, has `seal` chain
   * and sign the batch after it, and writes the entries and the new head in one transaction.
   * Rejects (nothing written) when `seal` throws or the write fails.
   */
  append(seal: ChainSealer): Promise<SealedBatch>;
  /** The last entry by sequence, or null on an empty log. */
  last(): Promise<AuditEntry | null>;
  head(): Promise<AuditCheckpoint | null>;
  checkpoints(): Promise<AuditCheckpoint[]>;
  /** Entries matching the filter, in sequence order. */
  scan(filter: AuditFilter): Promise<AuditEntry[]>;
  /**
   * The aggregates of the entries matching `filter` (see AuditSummary), with at most `listLimit`
   * entries in each of its lists: one answer, however many entries match.
   */
  summarise(filter: AuditFilter, listLimit: number): Promise<AuditSummary>;
  /** Calls `visit` for every entry in sequence order, in pages (verification). */
  walk(visit: (page: AuditEntry[]) => void, pageSize?: number): Promise<void>;
  putSuspension(s: SuspensionRecord): Promise<void>;
  liftSuspension(id: string, atMs: number, by: string): Promise<boolean>;
  listSuspensions(activeOnly: boolean): Promise<SuspensionRecord[]>;
  /**
   * Claims the response to one detection trigger: true for the first caller only (several nodes
   * judge the same entries; one of them alerts and suspends).
   */
  claimTrigger(key: string, atMs: number): Promise<boolean>;
}

/** A read about to run, as far as it is known before it runs (what a refusal records). */
export type ReadAttempt = Pick<
  AuditInput,
  'actor' | 'orgId' | 'projectId' | 'source' | 'target' | 'detail' | 'sensitive'
> & {
  kind: ReadKind;
};

/** What services need from the audit log (the port; AuditLog implements it). */
export interface AuditPort {
  /** Throws AUDIT_PRINCIPAL_SUSPENDED before a read by a suspended principal touches data. */
  assertMayRead(actor: string): void;
  /**
   * Admits a read before it touches data: a suspended principal's attempt is recorded (outcome
   * AUDIT_PRINCIPAL_SUSPENDED, what was asked, from where) and then refused with that code.
   */
  admitRead(attempt: ReadAttempt): Promise<void>;
  /** Resolves once the entry is durable; throws AUDIT_UNAVAILABLE when it cannot be written. */
  record(input: AuditInput): Promise<unknown>;
  /** HMAC of a sensitive value under the audit key (what the log keeps instead of it). */
  hmacValue(name: string, value: string): string;
}

/** Who acts, and from where (passed by routes and CLI commands to the services). */
export interface Actor {
  actor: string;
  source: AuditSource;
}
