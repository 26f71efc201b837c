// PostHog capture bodies (posthog-js, posthog-node, capture API) → IncomingEvent + person `$set`s.
import type {
  IncomingEvent,
  IncomingProfileUpdate,
  JsonObject,
  JsonValue,
  RecordError,
} from '../records.js';
import {
  MAX_EVENT_NAME_LENGTH,
  OUTSIDE_WINDOW_MESSAGE,
  exceedsCodePoints,
  geoIpFrom,
  isJsonObject,
  isTruthyFlag,
  parseTime,
  withoutKeys,
  type MappedRecords,
  type WireContext,
} from './fields.js';
import { checkName, checkWireValue } from './values.js';

/** Options for the PostHog routes. */
export interface PosthogOptions {
  /** The request came to `/engage`: an object without `event` is an `$identify` (capture does so). */
  engage?: boolean;
  /** Client send time (ms) from the query (`sent_at`, `_`), used when the body carries no `sent_at`. */
  sentAtMs?: number | null;
  /** Project token from outside the body (capture v1's `Authorization: Bearer <token>`). */
  token?: string | null;
}

/** Event properties the mapper turns into fields or updates; they are not stored as properties. */
const EVENT_CONSUMED: ReadonlySet<string> = new Set([
  'token',
  'distinct_id',
  '$ip',
  '$geoip_disable',
  '$set',
  '$set_once',
]);

/** Person operations carried on events, in the order they are emitted. */
const PERSON_OPS = ['$set', '$set_once'] as const;

interface BatchFacts {
  token: string | null;
  sentAtMs: number | null;
}

type Mapped =
  | { kind: 'ok'; event: IncomingEvent; updates: IncomingProfileUpdate[] }
  | { kind: 'error'; error: RecordError };

function firstString(...values: (JsonValue | undefined)[]): string | null {
  for (const value of values) if (typeof value === 'string' && value !== '') return value;
  return null;
}

/** PostHog takes any JSON value as a distinct id and uses its JSON text when it is not a string. */
function distinctIdText(value: JsonValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function mapEvent(
  record: JsonValue,
  index: number,
  context: WireContext,
  batch: BatchFacts,
  options: PosthogOptions,
): Mapped {
  let insertId: string | null = null;
  const reject = (field: string, message: string): Mapped => ({
    kind: 'error',
    error: { index, insertId, field, message },
  });
  if (!isJsonObject(record)) return reject('record', 'must be a JSON object');
  const uuid = record.uuid;
  if (uuid !== undefined && uuid !== null) {
    if (typeof uuid !== 'string') return reject('uuid', 'uuid must be a string');
    if (uuid !== '') insertId = uuid;
  }
  const rawProperties = record.properties;
  if (rawProperties !== undefined && rawProperties !== null && !isJsonObject(rawProperties)) {
    return reject('properties', 'must be a JSON object');
  }
  // 1e309, NUL in keys, lone surrogates: refused with the field named (see values.ts).
  const checked = checkWireValue(isJsonObject(rawProperties) ? rawProperties : {}, 'properties');
  if (!checked.ok) return reject(checked.problem.field, checked.problem.message);
  const properties: JsonObject = checked.value;

  let name = record.event;
  if (name === undefined || name === null) {
    if (!options.engage) return reject('event', 'missing event name');
    name = '$identify';
  }
  if (typeof name !== 'string') return reject('event', 'event name must be a string');
  if (name.trim() === '') return reject('event', 'event name must not be empty');
  if (exceedsCodePoints(name, MAX_EVENT_NAME_LENGTH)) {
    return reject('event', `event name is longer than ${MAX_EVENT_NAME_LENGTH} characters`);
  }
  const badName = checkName(name, 'event', 'event name');
  if (badName) return reject(badName.field, badName.message);
  // `$merge` joins two arbitrary identities: only Mixpanel's /import, with the secret, takes it.
  if (name === '$merge') {
    return reject('event', '$merge is accepted only on /import, with the project secret');
  }

  const token =
    firstString(record.token, record.$token, record.api_key, properties.token) ?? batch.token;

  const rawDistinctId = [record.distinct_id, record.$distinct_id, properties.distinct_id].find(
    (v) => v !== undefined && v !== null,
  );
  if (rawDistinctId === undefined || rawDistinctId === '')
    return reject('distinct_id', 'missing distinct_id');
  const distinctId = distinctIdText(rawDistinctId);
  const badId = checkName(distinctId, 'distinct_id', 'distinct_id');
  if (badId) return reject(badId.field, badId.message);

  const now = context.receivedAtMs;
  let timeMs = now;
  const offset = record.offset;
  const timestamp = record.timestamp;
  if (offset !== undefined && offset !== null) {
    // Older posthog-js: `offset` = ms between the event and the send; it wins over `timestamp`,
    // as in PostHog's own ingestion.
    if (typeof offset !== 'number')
      return reject('offset', 'offset must be a number of milliseconds');
    timeMs = now - offset;
  } else if (timestamp !== undefined && timestamp !== null) {
    const parsed = parseTime(timestamp);
    if (parsed === null)
      return reject('timestamp', 'timestamp must be an ISO 8601 string or a number');
    // Clock-skew correction: the client's clock may be off, but (sent_at - timestamp) is not.
    const sentAtMs = isTruthyFlag(properties.$ignore_sent_at) ? null : batch.sentAtMs;
    timeMs = sentAtMs === null ? parsed : parsed + (now - sentAtMs);
  }
  if (!Number.isFinite(timeMs) || timeMs < 0) {
    return reject(
      offset !== undefined && offset !== null ? 'offset' : 'timestamp',
      'event time is before 1970',
    );
  }
  if (context.earliestTimeMs !== undefined && timeMs < context.earliestTimeMs) {
    return reject(
      offset !== undefined && offset !== null ? 'offset' : 'timestamp',
      OUTSIDE_WINDOW_MESSAGE,
    );
  }
  timeMs = Math.min(Math.round(timeMs), now);

  const geoIp = isTruthyFlag(properties.$geoip_disable) ? null : geoIpFrom(properties.$ip, context);

  const updates: IncomingProfileUpdate[] = [];
  for (const op of PERSON_OPS) {
    const inProperties = properties[op];
    const atTop = record[op];
    if (inProperties !== undefined && inProperties !== null && !isJsonObject(inProperties)) {
      return reject(`properties.${op}`, `${op} must be a JSON object`);
    }
    if (atTop !== undefined && atTop !== null && !isJsonObject(atTop))
      return reject(op, `${op} must be a JSON object`);
    const top = isJsonObject(atTop) ? checkWireValue(atTop, op) : null;
    if (top && !top.ok) return reject(top.problem.field, top.problem.message);
    // Top-level values win over `properties.$set` ones, as in PostHog.
    const value: JsonObject = {
      ...(isJsonObject(inProperties) ? inProperties : {}),
      ...(top?.ok ? top.value : {}),
    };
    if (Object.keys(value).length === 0) continue;
    updates.push({
      index,
      token,
      target: { kind: 'user', distinctId },
      op,
      value,
      timeMs,
      ignoreTime: false,
      geoIp,
      userAgent: context.userAgent,
      ...(top?.ok && top.normalised.length > 0 ? { normalised: top.normalised } : {}),
    });
  }

  // `$groupidentify` (posthog-js `group()`, posthog-node `groupIdentify`) sets a group profile.
  const groupType = properties.$group_type;
  const groupKey = properties.$group_key;
  const groupSet = properties.$group_set;
  if (
    name === '$groupidentify' &&
    typeof groupType === 'string' &&
    groupType !== '' &&
    (typeof groupKey === 'string' || typeof groupKey === 'number')
  ) {
    if (groupSet !== undefined && groupSet !== null && !isJsonObject(groupSet)) {
      return reject('properties.$group_set', '$group_set must be a JSON object');
    }
    updates.push({
      index,
      token,
      target: { kind: 'group', groupKey: groupType, groupId: String(groupKey) },
      op: '$set',
      value: isJsonObject(groupSet) ? groupSet : {},
      timeMs,
      ignoreTime: false,
      geoIp: null,
      userAgent: null,
    });
  }

  const stored = withoutKeys(properties, EVENT_CONSUMED);
  // Capture v1 carries the session and window ids at the top level; v0 has them in properties.
  for (const [top, prop] of [
    ['session_id', '$session_id'],
    ['window_id', '$window_id'],
  ] as const) {
    const value = record[top];
    if (typeof value === 'string' && stored[prop] === undefined) stored[prop] = value;
  }
  return {
    kind: 'ok',
    event: {
      index,
      token,
      event: name,
      timeMs,
      distinctId,
      insertId,
      properties: stored,
      geoIp,
      userAgent: context.userAgent,
      ...(checked.normalised.length > 0 ? { normalised: checked.normalised } : {}),
    },
    updates,
  };
}

/** A `{api_key|token, batch: [...], sent_at}` wrapper is recognised by `batch` without `event`. */
function unwrapBatch(
  records: readonly JsonValue[],
  options: PosthogOptions,
): { events: readonly JsonValue[]; facts: BatchFacts } | RecordError {
  const only = records.length === 1 ? records[0] : undefined;
  const fromQuery = options.sentAtMs ?? null;
  if (!isJsonObject(only) || !Object.hasOwn(only, 'batch') || Object.hasOwn(only, 'event')) {
    return { events: records, facts: { token: options.token ?? null, sentAtMs: fromQuery } };
  }
  const batch = only.batch;
  if (!Array.isArray(batch))
    return {
      index: 0,
      insertId: null,
      field: 'batch',
      message: 'batch must be an array of events',
    };
  const sentAt = only.sent_at;
  const sentAtMs = sentAt === undefined || sentAt === null ? null : parseTime(sentAt);
  return {
    events: batch,
    facts: {
      token: firstString(only.api_key, only.token, only.$token) ?? options.token ?? null,
      sentAtMs: sentAtMs ?? fromQuery,
    },
  };
}

/**
 * Maps PostHog capture bodies to events, plus person updates for `$set`/`$set_once` carried on
 * events (top level and `properties`, merged with the top level winning; `$set` first), targeted at
 * the event's distinct id. Accepts an array of events, a batch object `{api_key|token, batch,
 * sent_at, historical_migration}` (the decoder returns it whole), a single event, and on `/engage`
 * an object without `event` (→ `$identify`). Never throws; per-record errors index the events.
 *
 * - `token` ← `token` / `$token` / `api_key` on the event, `properties.token`, then the batch's;
 * - `distinctId` ← `distinct_id` / `$distinct_id` / `properties.distinct_id` (any JSON value; non-
 *   strings as JSON text); required;
 * - `insertId` ← `uuid`;
 * - `timeMs` ← receive − `offset`; else `timestamp` (ISO or number) + (receive − `sent_at`) when
 *   `sent_at` is known (body, else `options.sentAtMs`) and `properties.$ignore_sent_at` is not
 *   set, `timestamp` alone otherwise; else the receive time; clamped to the receive time;
 * - `geoIp` ← `properties.$ip`, else the request IP when allowed; none if `$geoip_disable`;
 * - `token`, `distinct_id`, `$ip`, `$geoip_disable`, `$set`, `$set_once` are removed from properties.
 */
export function mapPosthogRecords(
  records: readonly JsonValue[],
  context: WireContext,
  options: PosthogOptions = {},
): MappedRecords {
  const out: MappedRecords = { events: [], updates: [], errors: [], ignored: 0 };
  const unwrapped = unwrapBatch(records, options);
  if ('field' in unwrapped) {
    out.errors.push(unwrapped);
    return out;
  }
  const { events, facts } = unwrapped;
  for (let index = 0; index < events.length; index++) {
    const mapped = mapEvent(events[index] ?? null, index, context, facts, options);
    if (mapped.kind === 'error') {
      out.errors.push(mapped.error);
      continue;
    }
    out.events.push(mapped.event);
    out.updates.push(...mapped.updates);
  }
  return out;
}
