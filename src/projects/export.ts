// Raw-data export: a project's events as Mixpanel export lines (what `sillage import --format
// mixpanel` reads back), in pages with a cursor. Identifiers are the stored pseudonyms.
import { subjectsOfEventProperties } from '../audit/subjects.js';
import type { Actor, AuditPort } from '../audit/types.js';
import type { JsonObject } from '../shared/json.js';
import { AppError } from '../shared/errors.js';
import { STANDARD_EVENT_PROPERTIES } from '../shared/event-schema.js';
import type { EventRow, EventStore } from '../store/types.js';

/** Largest page one request may take. */
export const EXPORT_MAX_PAGE = 100_000;

/** One event in Mixpanel's raw export shape. */
export function exportLine(row: EventRow): JsonObject {
  const typed: [string, string | null][] = [
    ...STANDARD_EVENT_PROPERTIES.map(
      (def) => [def.property, row[def.field]] as [string, string | null],
    ),
    ['$device_id', row.deviceId],
    ['$user_id', row.userId],
  ];
  const properties: JsonObject = {
    time: row.timeMs / 1000,
    distinct_id: row.distinctId,
    $insert_id: row.insertId,
  };
  for (const [name, value] of typed) if (value !== null) properties[name] = value;
  for (const [name, value] of Object.entries(row.properties)) {
    if (!(name in properties)) properties[name] = value;
  }
  return { event: row.event, properties };
}

/** An opaque cursor: the (time, dedup key) of the last event of a page. */
export function encodeCursor(row: EventRow): string {
  return Buffer.from(`${row.timeMs}:${row.dedupKey.toString(16)}`).toString('base64url');
}

export function decodeCursor(cursor: string): { timeMs: number; dedupKey: bigint } {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^(\d{1,16}):([0-9a-f]{1,32})$/.exec(text);
  if (!match?.[1] || !match[2]) {
    throw new AppError('REQUEST_INVALID', 'cursor: not a cursor this server issued', {
      details: [{ path: 'cursor', message: 'invalid' }],
    });
  }
  return { timeMs: Number(match[1]), dedupKey: BigInt(`0x${match[2]}`) };
}

export interface ExportPage {
  lines: JsonObject[];
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
  /** Distinct pseudonymous subjects in the page (what the record of the read keeps). */
  subjects: number;
}

/** One page of a project's events in [fromMs, toMs). */
export async function exportPage(
  events: EventStore,
  projectId: string,
  range: { fromMs: number; toMs: number },
  limit: number,
  cursor: string | null,
): Promise<ExportPage> {
  const rows = await events.listEvents(projectId, {
    fromMs: range.fromMs,
    toMs: range.toMs,
    limit: limit + 1,
    ...(cursor ? { after: decodeCursor(cursor) } : {}),
  });
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    lines: page.map(exportLine),
    nextCursor: rows.length > limit && last ? encodeCursor(last) : null,
    subjects: new Set(page.map((r) => r.distinctId)).size,
  };
}

/**
 * The raw-data export as a service: the principal is checked against suspensions first, then the
 * page is read, and it is released only once its audit entry (fields, event names, rows and the
 * exact set of subjects in it) is durable. Used by the API; the same shape serves any caller.
 */
export async function exportEvents(
  deps: { events: EventStore; audit: AuditPort },
  by: Actor,
  projectId: string,
  range: { fromMs: number; toMs: number },
  limit: number,
  cursor: string | null,
): Promise<ExportPage> {
  // What was asked: the attempt a suspended principal's refusal records, and the entry's head.
  const asked = {
    kind: 'export' as const,
    actor: by.actor,
    projectId,
    source: by.source,
    detail: {
      from_ms: range.fromMs,
      to_ms: range.toMs,
      limit,
      page: cursor === null ? 'first' : 'next',
    },
  };
  await deps.audit.admitRead(asked);
  const page = await exportPage(deps.events, projectId, range, limit, cursor);
  const fields = new Set<string>();
  const events = new Set<string>();
  const subjects = new Set<string>();
  for (const line of page.lines) {
    if (typeof line.event === 'string') events.add(line.event);
    const props = line.properties as JsonObject;
    for (const name of Object.keys(props)) fields.add(name);
    // User and device ids, group ids and identifier properties (the insert id names an event).
    subjectsOfEventProperties(props, subjects);
  }
  await deps.audit.record({
    ...asked,
    fields: [...fields],
    eventNames: [...events],
    rows: page.lines.length,
    subjects,
  });
  return page;
}
