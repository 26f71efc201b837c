// Mixpanel records → IncomingEvent (/track, /import) and IncomingProfileUpdate (/engage, /groups).
import {
  PROFILE_OPS,
  type IncomingEvent,
  type IncomingProfileUpdate,
  type JsonObject,
  type JsonValue,
  type ProfileOp,
  type ProfileTarget,
  type RecordError,
} from '../records.js';
import {
  IDENTITY_EVENTS,
  IMPORT_EARLIEST_MS,
  IMPORT_MAX_FUTURE_MS,
  OUTSIDE_WINDOW_MESSAGE,
  MAX_EVENT_NAME_LENGTH,
  exceedsCodePoints,
  geoIpFrom,
  idToString,
  isJsonObject,
  isTruthyFlag,
  parseTime,
  withoutKeys,
  type MappedRecords,
  type WireContext,
} from './fields.js';
import { checkName, checkWireValue } from './values.js';

/** Options for `/track` versus `/import`. */
export interface MixpanelEventOptions {
  /**
   * `/import` rules (reference §1.3, §2.2, §2.3): `time` required, not before 1971-01-01 nor more
   * than 1 h ahead; placeholder distinct ids refused; `$insert_id` 1–36 letters, digits or `-`.
   */
  importMode: boolean;
}

/** Which kind of profile the updates target. */
export interface MixpanelProfileOptions {
  /** `/engage`: user profiles by `$distinct_id`; `/groups`: group profiles by `$group_key` + `$group_id`. */
  target: 'user' | 'group';
}

/** Event properties the mapper turns into fields; they are not stored as properties. */
const EVENT_CONSUMED: ReadonlySet<string> = new Set([
  'token',
  'time',
  'distinct_id',
  '$insert_id',
  'ip',
  '$ip',
]);

/** Distinct ids (and insert ids) that `/import` refuses (reference §2.3), compared case-insensitively. */
const IMPORT_PLACEHOLDER_IDS: ReadonlySet<string> = new Set([
  '00000000-0000-0000-0000-000000000000',
  'anon',
  'anonymous',
  'nil',
  'none',
  'null',
  'n/a',
  'na',
  'undefined',
  'unknown',
  '<nil>',
  '0',
  '-1',
  'true',
  'false',
  '[]',
  '{}',
]);

const IMPORT_INSERT_ID = /^[A-Za-z0-9-]{1,36}$/;

type Mapped<T> =
  { kind: 'ok'; value: T } | { kind: 'error'; error: RecordError } | { kind: 'ignored' };

function isPlaceholderId(id: string): boolean {
  return IMPORT_PLACEHOLDER_IDS.has(id.trim().toLowerCase());
}

function mapEvent(
  record: JsonValue,
  index: number,
  context: WireContext,
  options: MixpanelEventOptions,
): Mapped<IncomingEvent> {
  let insertIdForErrors: string | null = null;
  const reject = (field: string, message: string): Mapped<IncomingEvent> => ({
    kind: 'error',
    error: { index, insertId: insertIdForErrors, field, message },
  });
  if (!isJsonObject(record))
    return reject('record', 'must be a JSON object with "event" and "properties"');
  const rawProperties = record.properties;
  if (rawProperties !== undefined && rawProperties !== null && !isJsonObject(rawProperties)) {
    return reject('properties', 'must be a JSON object');
  }
  const sent: JsonObject = isJsonObject(rawProperties) ? rawProperties : {};
  const rawInsertId = sent.$insert_id;
  // Echoed in `failed_records` (as Mixpanel does) only when it has an insert id's shape: a
  // refused one may be anything, an e-mail or a URL, and answers quote no input.
  if (typeof rawInsertId === 'string' && IMPORT_INSERT_ID.test(rawInsertId)) {
    insertIdForErrors = rawInsertId;
  }
  // 1e309, NUL in keys, lone surrogates: refused with the field named (see values.ts).
  const checked = checkWireValue(sent, 'properties');
  if (!checked.ok) return reject(checked.problem.field, checked.problem.message);
  const properties = checked.value;
  const normalised = checked.normalised;

  // Reserved property: the event is dropped silently (reference §2.1).
  if (isTruthyFlag(properties.$ignore)) return { kind: 'ignored' };

  const name = record.event;
  if (name === undefined || name === null) return reject('event', 'missing event name');
  if (typeof name !== 'string') return reject('event', 'event name must be a string');
  if (name.trim() === '') return reject('event', 'event name must not be empty');
  if (exceedsCodePoints(name, MAX_EVENT_NAME_LENGTH)) {
    return reject('event', `event name is longer than ${MAX_EVENT_NAME_LENGTH} characters`);
  }

  const badName = checkName(name, 'event', 'event name');
  if (badName) return reject(badName.field, badName.message);
  // `$merge` joins two arbitrary identities: Mixpanel takes it only on /import, with the secret.
  if (name === '$merge' && !options.importMode) {
    return reject('event', '$merge is accepted only on /import, with the project secret');
  }

  const rawToken = properties.token;
  if (rawToken !== undefined && rawToken !== null && typeof rawToken !== 'string') {
    return reject('properties.token', 'token must be a string');
  }
  const token = typeof rawToken === 'string' ? rawToken : null;

  const rawDistinctId = properties.distinct_id;
  let distinctId = '';
  if (rawDistinctId !== undefined && rawDistinctId !== null) {
    const id = idToString(rawDistinctId);
    if (id === null)
      return reject('properties.distinct_id', 'distinct_id must be a string or a number');
    const badId = checkName(id, 'properties.distinct_id', 'distinct_id');
    if (badId) return reject(badId.field, badId.message);
    if (options.importMode && isPlaceholderId(id)) {
      return reject(
        'properties.distinct_id',
        'distinct_id is a placeholder value (such as "null" or "anonymous") that /import refuses',
      );
    }
    distinctId = id;
  }

  let insertId: string | null = null;
  if (rawInsertId !== undefined && rawInsertId !== null) {
    if (typeof rawInsertId !== 'string')
      return reject('properties.$insert_id', '$insert_id must be a string');
    if (options.importMode && !IMPORT_INSERT_ID.test(rawInsertId)) {
      return reject(
        'properties.$insert_id',
        '$insert_id must be 1 to 36 characters, each a letter, a digit or "-"',
      );
    }
    if (options.importMode && isPlaceholderId(rawInsertId)) {
      return reject(
        'properties.$insert_id',
        '$insert_id is a placeholder value that /import refuses',
      );
    }
    insertId = rawInsertId === '' ? null : rawInsertId;
  }

  const now = context.receivedAtMs;
  let timeMs = now;
  const rawTime = properties.time;
  if (rawTime === undefined || rawTime === null) {
    // Identity events carry no time of their own (mixpanel-python and -go send `$merge` without).
    if (options.importMode && !IDENTITY_EVENTS.has(name))
      return reject('properties.time', 'time is required on /import');
  } else {
    const parsed = parseTime(rawTime);
    if (parsed === null) {
      return reject(
        'properties.time',
        'time must be seconds or milliseconds since the epoch, or an ISO 8601 string',
      );
    }
    if (parsed < 0) return reject('properties.time', 'time is before 1970');
    if (options.importMode && parsed < IMPORT_EARLIEST_MS) {
      return reject('properties.time', 'time is before 1971-01-01, which /import refuses');
    }
    if (context.earliestTimeMs !== undefined && parsed < context.earliestTimeMs) {
      return reject('properties.time', OUTSIDE_WINDOW_MESSAGE);
    }
    if (options.importMode && parsed > now + IMPORT_MAX_FUTURE_MS) {
      return reject('properties.time', 'time is more than 1 hour in the future');
    }
    // Future times are clamped to the receive time (reference §2.2).
    timeMs = Math.min(parsed, now);
  }

  return {
    kind: 'ok',
    value: {
      index,
      token,
      event: name,
      timeMs,
      distinctId,
      insertId,
      properties: withoutKeys(properties, EVENT_CONSUMED),
      geoIp: geoIpFrom(properties.ip, context),
      userAgent: context.userAgent,
      ...(normalised.length > 0 ? { normalised } : {}),
    },
  };
}

/**
 * Maps `/track` and `/import` records (`{event, properties}`) to events. Never throws: a record
 * that cannot be accepted yields one RecordError (its first problem) and the others proceed.
 *
 * - `token` ← `properties.token` (null when absent: `/import` may know the project from Basic auth);
 * - `timeMs` ← `properties.time` (seconds or ms by magnitude, or ISO 8601), the receive time when
 *   absent, clamped to the receive time when in the future;
 * - `distinctId` ← `properties.distinct_id` (string or number; '' when absent = no user);
 * - `insertId` ← `properties.$insert_id`;
 * - `geoIp` ← `properties.ip` ("0" = do not geolocate), else the request IP when `ipMode` allows;
 * - `$ignore` (truthy) drops the event, counted in `ignored`;
 * - `token`, `time`, `distinct_id`, `$insert_id`, `ip` and `$ip` are removed from `properties`.
 *
 * Input records are not modified; `properties` is a new object. `updates` is always empty.
 */
export function mapMixpanelEvents(
  records: readonly JsonValue[],
  context: WireContext,
  options: MixpanelEventOptions,
): MappedRecords {
  const out: MappedRecords = { events: [], updates: [], errors: [], ignored: 0 };
  for (let index = 0; index < records.length; index++) {
    const mapped = mapEvent(records[index] ?? null, index, context, options);
    if (mapped.kind === 'ok') out.events.push(mapped.value);
    else if (mapped.kind === 'error') out.errors.push(mapped.error);
    else out.ignored++;
  }
  return out;
}

type OpCheck = { ok: true; value: JsonValue } | { ok: false; message: string };

/** Validates and normalises the value of one profile operation (reference §3 table). */
function checkOpValue(op: ProfileOp, value: JsonValue | undefined): OpCheck {
  switch (op) {
    case '$set':
    case '$set_once':
    case '$append':
    case '$remove':
      return isJsonObject(value)
        ? { ok: true, value }
        : { ok: false, message: `${op} value must be a JSON object` };
    case '$add': {
      if (!isJsonObject(value))
        return { ok: false, message: '$add value must be a JSON object of numbers' };
      for (const key of Object.keys(value)) {
        if (typeof value[key] !== 'number')
          return { ok: false, message: '$add values must be numbers' };
      }
      return { ok: true, value };
    }
    case '$union': {
      if (!isJsonObject(value))
        return { ok: false, message: '$union value must be a JSON object of arrays' };
      // mixpanel-browser wraps scalars into arrays; do the same for other clients.
      const lists: JsonObject = {};
      for (const key of Object.keys(value)) {
        const item = value[key] ?? null;
        lists[key] = Array.isArray(item) ? item : [item];
      }
      return { ok: true, value: lists };
    }
    case '$unset': {
      const names = typeof value === 'string' ? [value] : value;
      if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) {
        return { ok: false, message: '$unset value must be an array of property names' };
      }
      return { ok: true, value: names };
    }
    case '$delete':
      // The value is ignored ("" or null in the docs).
      return { ok: true, value: null };
  }
}

interface FieldProblem {
  field: string;
  message: string;
}

function profileTarget(
  record: JsonObject,
  target: MixpanelProfileOptions['target'],
): ProfileTarget | FieldProblem {
  if (target === 'user') {
    const raw = record.$distinct_id;
    if (raw === undefined || raw === null)
      return { field: '$distinct_id', message: 'missing $distinct_id' };
    const id = idToString(raw);
    if (id === null)
      return { field: '$distinct_id', message: '$distinct_id must be a string or a number' };
    if (id === '') return { field: '$distinct_id', message: '$distinct_id must not be empty' };
    const bad = checkName(id, '$distinct_id', '$distinct_id');
    if (bad) return bad;
    return { kind: 'user', distinctId: id };
  }
  const key = record.$group_key;
  if (key === undefined || key === null)
    return { field: '$group_key', message: 'missing $group_key' };
  if (typeof key !== 'string' || key === '')
    return { field: '$group_key', message: '$group_key must be a non-empty string' };
  const rawId = record.$group_id;
  if (rawId === undefined || rawId === null)
    return { field: '$group_id', message: 'missing $group_id' };
  const id = idToString(rawId);
  if (id === null || id === '')
    return { field: '$group_id', message: '$group_id must be a non-empty string or a number' };
  const bad = checkName(key, '$group_key', '$group_key') ?? checkName(id, '$group_id', '$group_id');
  if (bad) return bad;
  return { kind: 'group', groupKey: key, groupId: id };
}

function mapProfile(
  record: JsonValue,
  index: number,
  context: WireContext,
  options: MixpanelProfileOptions,
): { kind: 'ok'; value: IncomingProfileUpdate[] } | { kind: 'error'; error: RecordError } {
  const reject = (field: string, message: string) => ({
    kind: 'error' as const,
    error: { index, insertId: null, field, message },
  });
  if (!isJsonObject(record))
    return reject('record', 'must be a JSON object with a profile operation');

  const rawToken = record.$token;
  if (rawToken !== undefined && rawToken !== null && typeof rawToken !== 'string') {
    return reject('$token', '$token must be a string');
  }
  const token = typeof rawToken === 'string' ? rawToken : null;

  const target = profileTarget(record, options.target);
  if (!('kind' in target)) return reject(target.field, target.message);

  const now = context.receivedAtMs;
  let timeMs = now;
  const rawTime = record.$time;
  if (rawTime !== undefined && rawTime !== null) {
    const parsed = parseTime(rawTime);
    if (parsed === null)
      return reject('$time', '$time must be milliseconds since the epoch or an ISO 8601 string');
    if (parsed < 0) return reject('$time', '$time is before 1970');
    timeMs = Math.min(parsed, now);
  }
  const ignoreTime = isTruthyFlag(record.$ignore_time);
  // `$ip`: an address to geolocate, "0" = leave the geolocation alone (reference §3).
  const geoIp = geoIpFrom(record.$ip, context);

  const updates: IncomingProfileUpdate[] = [];
  for (const op of PROFILE_OPS) {
    if (!Object.hasOwn(record, op)) continue;
    const sane = checkWireValue(record[op] ?? null, op);
    if (!sane.ok) return reject(sane.problem.field, sane.problem.message);
    const checked = checkOpValue(op, record[op] === undefined ? undefined : sane.value);
    if (!checked.ok) return reject(op, checked.message);
    updates.push({
      index,
      token,
      target,
      op,
      value: checked.value,
      timeMs,
      ignoreTime,
      geoIp,
      userAgent: context.userAgent,
      ...(sane.normalised.length > 0 ? { normalised: sane.normalised } : {}),
    });
  }
  if (updates.length === 0) {
    return reject('record', `no profile operation (one of ${PROFILE_OPS.join(', ')})`);
  }
  return { kind: 'ok', value: updates };
}

/**
 * Maps `/engage` (user) and `/groups` (group) update objects to profile updates. Never throws: a
 * bad object yields one RecordError and none of its operations are applied.
 *
 * - target: `$distinct_id` for users; `$group_key` + `$group_id` for groups;
 * - `token` ← `$token`; `timeMs` ← `$time` (ms, seconds or ISO; receive time when absent; clamped);
 * - `ignoreTime` ← `$ignore_time`; `geoIp` ← `$ip` ("0" = none), else the request IP if allowed;
 * - one update per operation present, in `PROFILE_OPS` order (`$set`, `$set_once`, `$add`,
 *   `$append`, `$union`, `$remove`, `$unset`, `$delete`), so an object carrying several operations
 *   applies them deterministically and `$delete` always last;
 * - values: objects for `$set`/`$set_once`/`$append`/`$remove`, numbers for `$add`, arrays for
 *   `$union` (scalars wrapped), names for `$unset` (one string wrapped), null for `$delete`;
 * - other top-level keys (`$device_id`, `$user_id`, `$had_persisted_distinct_id`, `$ignore_alias`,
 *   `$latitude`, `$longitude`, …) are ignored.
 */
export function mapMixpanelProfiles(
  records: readonly JsonValue[],
  context: WireContext,
  options: MixpanelProfileOptions,
): MappedRecords {
  const out: MappedRecords = { events: [], updates: [], errors: [], ignored: 0 };
  for (let index = 0; index < records.length; index++) {
    const mapped = mapProfile(records[index] ?? null, index, context, options);
    if (mapped.kind === 'ok') out.updates.push(...mapped.value);
    else out.errors.push(mapped.error);
  }
  return out;
}
