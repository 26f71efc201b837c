// Live events: the newest events of a project exactly as stored (already scrubbed and
// pseudonymised), for checking an integration. A row-level read like the export: gated by
// suspensions, and released only once its audit entry (fields, event names, rows, subjects) is
// durable.
import { subjectsOfEventProperties } from '../audit/subjects.js';
import type { Actor, AuditPort } from '../audit/types.js';
import type { JsonObject } from '../shared/json.js';
import { AppError } from '../shared/errors.js';
import type { EventRow, EventStore } from '../store/types.js';
import { exportLine } from './export.js';

/** Most events one request may take. */
export const LIVE_MAX_LIMIT = 200;
export const LIVE_DEFAULT_LIMIT = 50;

/** One stored event as the live view shows it. */
export interface LiveEvent {
  event: string;
  /** When it happened (the SDK's time), ISO 8601. */
  time: string;
  /** When Sillage accepted it, ISO 8601. */
  received_at: string;
  /** Mixpanel export shape: distinct_id, $insert_id, the standard columns, then the rest. */
  properties: JsonObject;
}

export interface LivePage {
  /** Newest arrival first. */
  events: LiveEvent[];
  /** Pass as `after` to get only what arrives next; the caller's own cursor when none did. */
  cursor: string | null;
}

/** An opaque cursor: the (received time, dedup key) of the newest event seen. */
export function encodeLiveCursor(row: EventRow): string {
  return Buffer.from(`${row.receivedAtMs}:${row.dedupKey.toString(16)}`).toString('base64url');
}

export function decodeLiveCursor(cursor: string): { receivedMs: number; dedupKey: bigint } {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^(\d{1,16}):([0-9a-f]{1,32})$/.exec(text);
  if (!match?.[1] || !match[2]) {
    throw new AppError('REQUEST_INVALID', 'after: not a cursor this server issued', {
      details: [{ path: 'after', message: 'invalid' }],
    });
  }
  return { receivedMs: Number(match[1]), dedupKey: BigInt(`0x${match[2]}`) };
}

function liveEventOf(row: EventRow): LiveEvent {
  const line = exportLine(row);
  const { time: _time, ...properties } = line.properties as JsonObject;
  return {
    event: row.event,
    time: new Date(row.timeMs).toISOString(),
    received_at: new Date(row.receivedAtMs).toISOString(),
    properties,
  };
}

/**
 * The newest `limit` events of a project (or only those newer than `after`), newest first, on
 * the record: the entry keeps the fields and event names shown, the row count, and the exact
 * pseudonymous subjects whose events were returned.
 */
export async function latestEvents(
  deps: { events: EventStore; audit: AuditPort },
  by: Actor,
  projectId: string,
  limit: number,
  after: string | null,
): Promise<LivePage> {
  await deps.audit.admitRead({
    kind: 'live_events',
    actor: by.actor,
    projectId,
    source: by.source,
    detail: { limit, page: after === null ? 'latest' : 'newer' },
  });
  const rows = await deps.events.latestEvents(projectId, {
    limit,
    ...(after ? { after: decodeLiveCursor(after) } : {}),
  });
  const events = rows.map(liveEventOf);
  const fields = new Set<string>();
  const names = new Set<string>();
  const subjects = new Set<string>();
  for (const e of events) {
    names.add(e.event);
    for (const name of Object.keys(e.properties)) fields.add(name);
    // Every pseudonym shown: user and device ids, group ids, identifier properties.
    subjectsOfEventProperties(e.properties, subjects);
  }
  await deps.audit.record({
    kind: 'live_events',
    actor: by.actor,
    projectId,
    source: by.source,
    detail: { limit, page: after === null ? 'latest' : 'newer' },
    fields: [...fields],
    eventNames: [...names],
    rows: events.length,
    subjects,
  });
  const newest = rows[0];
  return { events, cursor: newest ? encodeLiveCursor(newest) : after };
}
