// Field helpers shared by the Mixpanel and PostHog mappers: objects, flags, ids and timestamps.
import type {
  IncomingEvent,
  IncomingProfileUpdate,
  JsonObject,
  JsonValue,
  RecordError,
  RequestContext,
} from '../records.js';
import { FORBIDDEN_KEYS } from './json.js';

/** The request facts the mappers use (a `RequestContext` fits). */
export type WireContext = Pick<
  RequestContext,
  'clientIp' | 'userAgent' | 'ipMode' | 'receivedAtMs' | 'earliestTimeMs'
>;

/** What a mapper made of a request's records. */
export interface MappedRecords {
  events: IncomingEvent[];
  updates: IncomingProfileUpdate[];
  /** One entry per refused record (the first problem found in it). */
  errors: RecordError[];
  /** Records dropped on purpose (`$ignore`); not errors. */
  ignored: number;
}

/** Longest event name accepted, in characters (code points). */
export const MAX_EVENT_NAME_LENGTH = 255;
/** Epoch ms of 1971-01-01T00:00:00Z, the earliest time `/import` accepts. */
export const IMPORT_EARLIEST_MS = 31_536_000_000;
/**
 * How far back `/track` and the PostHog capture routes accept an event time without the project
 * secret: 5 days, Mixpanel's `/track` window. Older events go to `/import` with the secret.
 */
export const TRACK_WINDOW_MS = 5 * 86_400_000;
/** The error message for an event older than the window (never quotes the value). */
export const OUTSIDE_WINDOW_MESSAGE =
  'time is more than 5 days in the past: this route accepts the last 5 days without the project secret (send older events to /import with the secret)';
/** Identity events `/import` accepts without `time` (Mixpanel documents `$merge` without one). */
export const IDENTITY_EVENTS: ReadonlySet<string> = new Set([
  '$identify',
  '$create_alias',
  '$merge',
]);
/** How far in the future `/import` accepts a time. */
export const IMPORT_MAX_FUTURE_MS = 3_600_000;
/** Numeric times above this are milliseconds, below seconds (1e11 s is the year 5138; 1e11 ms is 1973). */
export const MS_THRESHOLD = 1e11;

/** True for a JSON object (not an array, not null). */
export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Flag semantics for `$ignore`, `$ignore_time` and the like: `true`, a non-zero number, or a
 * non-empty string other than "false"/"0" (SDKs and hand-written curl calls send all of these).
 */
export function isTruthyFlag(value: JsonValue | undefined): boolean {
  if (value === undefined || value === null || value === false) return false;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    return v !== '' && v !== 'false' && v !== '0';
  }
  return true;
}

/** A string or number id as a string; null for anything else (including absent). */
export function idToString(value: JsonValue | undefined): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return null;
}

/**
 * The IP to geolocate from an explicit value (Mixpanel `properties.ip` / profile `$ip`, PostHog
 * `properties.$ip`): an address, or "0" (also 0 or false) for "do not geolocate". Without one, the
 * request IP when the request's `ip` mode allows it.
 */
export function geoIpFrom(explicit: JsonValue | undefined, context: WireContext): string | null {
  if (typeof explicit === 'string' && explicit.trim() !== '') {
    const ip = explicit.trim();
    return ip === '0' ? null : ip;
  }
  if (explicit === 0 || explicit === false) return null;
  return context.ipMode === 'use-request-ip' ? context.clientIp : null;
}

/** Copy of `obj` without `drop` keys (and, defensively, without prototype-polluting keys). */
export function withoutKeys(obj: JsonObject, drop: ReadonlySet<string>): JsonObject {
  const out: JsonObject = {};
  for (const key of Object.keys(obj)) {
    if (drop.has(key) || FORBIDDEN_KEYS.has(key)) continue;
    const value = obj[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** Length in Unicode code points, counting only when UTF-16 length could exceed `max`. */
export function exceedsCodePoints(text: string, max: number): boolean {
  if (text.length <= max) return false;
  let count = 0;
  for (const _ of text) {
    if (++count > max) return true;
  }
  return false;
}

const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(?:([Zz])|([+-])(\d{2}):?(\d{2})?)?$/;
const NUMERIC = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
}

/**
 * ISO 8601 date-time → epoch ms, validated field by field (`Date.parse` accepts 2023-02-30 and
 * reads zone-less times in the server's local zone). A time without zone is UTC: that is how
 * mixpanel-browser formats dates (`YYYY-MM-DDTHH:MM:SS`, UTC, no `Z`). Date-only means midnight UTC.
 */
export function parseIsoTime(text: string): number | null {
  const m = ISO_DATE.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac, , sign, oh, om] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h ?? 0);
  const minute = Number(mi ?? 0);
  const second = Number(s ?? 0);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const ms = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0'));
  let offsetMinutes = 0;
  if (sign !== undefined) {
    const offH = Number(oh);
    const offM = Number(om ?? 0);
    if (offH > 23 || offM > 59) return null;
    offsetMinutes = (sign === '-' ? -1 : 1) * (offH * 60 + offM);
  }
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  return date.getTime() - offsetMinutes * 60_000;
}

/** A numeric time (seconds or ms, by magnitude) → epoch ms. */
export function numericTimeToMs(value: number): number {
  return Math.round(Math.abs(value) > MS_THRESHOLD ? value : value * 1000);
}

/**
 * A time as SDKs send it → epoch ms, or null when it is not a time: a number of seconds (float,
 * mixpanel-browser) or milliseconds (mixpanel-node `Date`s, `/import` examples), told apart by
 * magnitude; a numeric string likewise; or an ISO 8601 string.
 */
export function parseTime(value: JsonValue): number | null {
  let ms: number | null = null;
  if (typeof value === 'number') ms = numericTimeToMs(value);
  else if (typeof value === 'string') {
    const trimmed = value.trim();
    ms = NUMERIC.test(trimmed) ? numericTimeToMs(Number(trimmed)) : parseIsoTime(trimmed);
  }
  return ms !== null && Number.isFinite(ms) ? ms : null;
}
