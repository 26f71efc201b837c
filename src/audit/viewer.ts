// The audit viewer as a service: an organisation's entries, filtered, read on the record (the
// reading is itself an `audit_read` entry, and a suspended principal's attempt is refused and
// recorded). Used by the API; the same shape serves any caller.
import type { JsonObject } from '../shared/json.js';
import type { AuditLog } from './audit-log.js';
import { unpackSubjects } from './subjects.js';
import type { Actor, AuditEntry, AuditFilter } from './types.js';

/** What the viewer may filter on (all conditions AND). */
export interface AuditViewFilter {
  fromMs?: number;
  toMs?: number;
  actors?: readonly string[];
  kinds?: readonly string[];
  projectId?: string;
  /** Refused or failed acts only (outcome other than `ok`), or successful ones only. */
  outcome?: 'ok' | 'refused';
  afterSeq?: number;
  limit: number;
}

/** An entry as the viewer shows it (subjects unpacked; nothing sensitive is in an entry). */
export interface AuditEntryView {
  seq: number;
  at: string;
  kind: string;
  actor: string;
  org_id: string | null;
  project_id: string | null;
  source: string;
  country: string | null;
  network_hmac: string | null;
  outcome: string;
  target: string | null;
  detail: unknown;
  fields: string[];
  event_names: string[];
  rows: number;
  subjects: string[];
  hash: string;
}

/** An entry as the viewer shows it (subjects unpacked; nothing sensitive is in an entry). */
export function entryView(e: AuditEntry): AuditEntryView {
  return {
    seq: e.seq,
    at: new Date(e.atMs).toISOString(),
    kind: e.kind,
    actor: e.actor,
    org_id: e.orgId,
    project_id: e.projectId,
    source: e.source,
    country: e.country,
    network_hmac: e.network,
    outcome: e.outcome,
    target: e.target,
    detail: JSON.parse(e.detail) as unknown,
    fields: JSON.parse(e.fields) as string[],
    event_names: JSON.parse(e.eventNames) as string[],
    rows: e.rows,
    subjects: unpackSubjects(e.subjects),
    hash: e.hash,
  };
}

/**
 * Reads an organisation's entries (in sequence order, at most `limit`), on the record: the
 * filters asked and the number of entries returned are an `audit_read` entry, durable before the
 * entries are released. `next_after` is the sequence number to page on from, or null at the end.
 */
export async function readAuditLog(
  audit: AuditLog,
  orgId: string,
  filter: AuditViewFilter,
  by: Actor,
): Promise<{ entries: AuditEntry[]; next_after: number | null }> {
  const asked: JsonObject = {
    ...(filter.fromMs !== undefined ? { from_ms: filter.fromMs } : {}),
    ...(filter.toMs !== undefined ? { to_ms: filter.toMs } : {}),
    ...(filter.actors ? { actors: [...filter.actors] } : {}),
    ...(filter.kinds ? { kinds: [...filter.kinds] } : {}),
    ...(filter.projectId !== undefined ? { project: filter.projectId } : {}),
    ...(filter.outcome !== undefined ? { outcome: filter.outcome } : {}),
    ...(filter.afterSeq !== undefined ? { after: filter.afterSeq } : {}),
    limit: filter.limit,
  };
  const attempt = {
    kind: 'audit_read' as const,
    actor: by.actor,
    orgId,
    source: by.source,
    detail: { filters: asked },
  };
  await audit.admitRead(attempt);
  const scan: AuditFilter = {
    orgId,
    ...(filter.fromMs !== undefined ? { fromMs: filter.fromMs } : {}),
    ...(filter.toMs !== undefined ? { toMs: filter.toMs } : {}),
    ...(filter.actors ? { actors: filter.actors } : {}),
    ...(filter.kinds ? { kinds: filter.kinds } : {}),
    ...(filter.projectId !== undefined ? { projectId: filter.projectId } : {}),
  };
  // The outcome filter is applied here (the store filters on indexed columns): pages of the
  // store are read until the limit is met or the log ends (bounded in pages).
  const wanted = (e: AuditEntry): boolean =>
    filter.outcome === undefined || (filter.outcome === 'ok') === (e.outcome === 'ok');
  const entries: AuditEntry[] = [];
  let after = filter.afterSeq ?? 0;
  let end = false;
  for (let pages = 0; !end && entries.length < filter.limit && pages < 1000; pages++) {
    const page = await audit.store.scan({ ...scan, afterSeq: after, limit: filter.limit });
    end = page.length < filter.limit;
    for (const e of page) {
      if (entries.length === filter.limit) break;
      after = e.seq;
      if (wanted(e)) entries.push(e);
    }
  }
  await audit.record({ ...attempt, rows: entries.length });
  return {
    entries,
    next_after:
      entries.length === filter.limit ? (entries.at(-1)?.seq ?? null) : end ? null : after,
  };
}
