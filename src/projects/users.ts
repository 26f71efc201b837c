// One user, as a service: a pseudonymous user's profile and event stream, each read gated by
// suspensions and released only once its audit entry (kind `user_read`, with every pseudonymous
// subject it returned) is durable, so that user-stream reads count in detection (enumeration)
// and in the breach-impact report. Identity reveal stays with the vault (privacy-operations.ts).
import { pseudonymsIn } from '../audit/subjects.js';
import type { Actor, AuditPort } from '../audit/types.js';
import type { JsonObject } from '../shared/json.js';
import type { UserEvent, UserStreamReader } from '../query/index.js';
import { USER_EVENTS_MAX_PAGE } from '../query/index.js';
import { AppError, isAppError } from '../shared/errors.js';
import { exportLine } from './export.js';

export interface UserReadDeps {
  reader: UserStreamReader;
  audit: AuditPort;
}

/** `GET …/users/{id}`: the person, their linked ids, current profile, first and last seen. */
export interface UserProfileView {
  /** The id asked for. */
  id: string;
  /** The resolved person (the id's canonical id when it is linked to one). */
  person: string;
  /** Ids linked to the person (devices, anonymous ids). */
  aliases: string[];
  /** Current profile properties (pseudonymised and scanned as stored), or null. */
  properties: JsonObject | null;
  profile_updated_at: string | null;
  event_count: number;
  first_seen: string | null;
  last_seen: string | null;
}

/** `GET …/users/{id}/events`: newest first; pass `next_cursor` as `cursor` for the next page. */
export interface UserEventsView {
  person: string;
  /** Mixpanel export shape (as the raw export), plus the time as ISO text. */
  events: (JsonObject & { time: string })[];
  next_cursor: string | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** An opaque cursor: the time and the dedup key (text) of the last event of a page. */
export function encodeUserCursor(e: UserEvent): string {
  return Buffer.from(`${e.row.timeMs}:${e.key}`).toString('base64url');
}

export function decodeUserCursor(cursor: string): { timeMs: number; key: string } {
  const m = /^(\d{1,16}):(\d{1,40})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m?.[1] || !m[2]) {
    throw new AppError('REQUEST_INVALID', 'cursor: not a cursor this server issued', {
      details: [{ path: 'cursor', message: 'invalid' }],
    });
  }
  return { timeMs: Number(m[1]), key: m[2] };
}

/** Validated paging options of the events route (query-string values arrive as text). */
export function userEventsOptions(q: {
  before?: string | undefined;
  limit?: string | undefined;
  cursor?: string | undefined;
}): { beforeMs: number | null; limit: number; cursor: string | null } {
  const bad = (path: string, message: string): never => {
    throw new AppError('REQUEST_INVALID', `${path}: ${message}`, { details: [{ path, message }] });
  };
  const limit = q.limit === undefined ? 100 : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > USER_EVENTS_MAX_PAGE)
    bad('limit', `an integer from 1 to ${USER_EVENTS_MAX_PAGE}`);
  let beforeMs: number | null = null;
  if (q.before !== undefined) {
    beforeMs = /^\d{1,16}$/.test(q.before) ? Number(q.before) : Date.parse(q.before);
    if (!Number.isSafeInteger(beforeMs) || beforeMs < 0)
      bad('before', 'epoch milliseconds or an ISO 8601 time');
  }
  if (q.cursor !== undefined) decodeUserCursor(q.cursor);
  return { beforeMs, limit, cursor: q.cursor ?? null };
}

/**
 * Runs one row-level read on the record: refused for a suspended principal before anything is
 * read; the entry (outcome, subjects, fields, events, rows) is durable before the answer leaves,
 * and a failed or refused read is recorded too.
 */
async function onRecord<T>(
  deps: UserReadDeps,
  by: Actor,
  projectId: string,
  id: string,
  what: JsonObject,
  read: () => Promise<{
    value: T;
    rows: number;
    subjects: Iterable<string>;
    fields: string[];
    eventNames: string[];
  }>,
): Promise<T> {
  const base = {
    kind: 'user_read' as const,
    actor: by.actor,
    projectId,
    source: by.source,
    detail: what,
    // The id as typed may be anything (an analyst may paste a raw e-mail): kept only as an HMAC.
    sensitive: { user: id },
  };
  await deps.audit.admitRead(base);
  let result: Awaited<ReturnType<typeof read>>;
  try {
    result = await read();
  } catch (error) {
    await deps.audit
      .record({
        ...base,
        outcome: isAppError(error) ? error.code : 'INTERNAL',
        subjects: [id],
      })
      .catch(() => undefined);
    throw error;
  }
  await deps.audit.record({
    ...base,
    rows: result.rows,
    subjects: result.subjects,
    fields: result.fields,
    eventNames: result.eventNames,
  });
  return result.value;
}

/** The profile of the user `id` stands for (404 when nothing of theirs exists). */
export async function readUserProfile(
  deps: UserReadDeps,
  by: Actor,
  projectId: string,
  id: string,
): Promise<UserProfileView> {
  return onRecord(deps, by, projectId, id, { read: 'profile' }, async () => {
    const p = await deps.reader.profile(projectId, id);
    if (!p) throw new AppError('NOT_FOUND', 'no such user in this project');
    const properties = p.properties as JsonObject | null;
    return {
      value: {
        id: p.id,
        person: p.person,
        aliases: p.aliases,
        properties,
        profile_updated_at: iso(p.profileUpdatedAtMs),
        event_count: p.eventCount,
        first_seen: iso(p.firstSeenMs),
        last_seen: iso(p.lastSeenMs),
      },
      rows: 1,
      subjects: pseudonymsIn(properties, new Set([p.id, p.person, ...p.aliases])),
      fields: Object.keys(properties ?? {}),
      eventNames: [],
    };
  });
}

/** One page of the user's events, newest first. */
export async function readUserEvents(
  deps: UserReadDeps,
  by: Actor,
  projectId: string,
  id: string,
  options: { beforeMs: number | null; limit: number; cursor: string | null },
): Promise<UserEventsView> {
  return onRecord(
    deps,
    by,
    projectId,
    id,
    {
      read: 'events',
      limit: options.limit,
      page: options.cursor === null ? 'first' : 'next',
      before_ms: options.beforeMs,
    },
    async () => {
      const person = await deps.reader.resolve(projectId, id);
      const rows = await deps.reader.events(projectId, person, {
        beforeMs: options.beforeMs,
        cursor: options.cursor === null ? null : decodeUserCursor(options.cursor),
        limit: options.limit,
      });
      const page = rows.slice(0, options.limit);
      const last = page.at(-1);
      const fields = new Set<string>();
      const eventNames = new Set<string>();
      const subjects = new Set<string>([id, person]);
      const events = page.map((e) => {
        const line = exportLine(e.row);
        for (const name of Object.keys(line.properties as JsonObject)) fields.add(name);
        eventNames.add(e.row.event);
        // Whose row it is: its ids, and any group id among its properties (the insert id, a
        // pseudonym too, names an event, not a subject).
        for (const s of [e.row.distinctId, e.row.deviceId, e.row.userId]) if (s) subjects.add(s);
        pseudonymsIn(e.row.properties, subjects);
        return { time: new Date(e.row.timeMs).toISOString(), ...line };
      });
      return {
        value: {
          person,
          events,
          next_cursor: rows.length > options.limit && last ? encodeUserCursor(last) : null,
        },
        rows: page.length,
        subjects,
        fields: [...fields],
        eventNames: [...eventNames],
      };
    },
  );
}
