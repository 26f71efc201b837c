// Row JSON: one event row as one line of JSON with short keys, the form in which events travel
// from the ingest workers to the store and in which the DuckDB adapter logs and loads them.
import type { JsonObject, JsonValue } from '../shared/json.js';
import type { EncodedEventRows, EventRow } from './types.js';

/** Line key of each EventRow field, in the events table's column order. */
export const EVENT_ROW_JSON_KEYS = {
  projectId: 'p',
  dedupKey: 'k',
  timeMs: 't',
  event: 'e',
  distinctId: 'd',
  deviceId: 'dv',
  userId: 'u',
  insertId: 'i',
  browser: 'b',
  browserVersion: 'bv',
  os: 'o',
  deviceType: 'dt',
  countryCode: 'cc',
  region: 'rg',
  city: 'ci',
  referringDomain: 'rd',
  currentUrl: 'cu',
  utmSource: 'us',
  utmMedium: 'um',
  utmCampaign: 'uc',
  utmContent: 'uo',
  utmTerm: 'ut',
  lib: 'l',
  properties: 'pr',
  receivedAtMs: 'r',
} as const satisfies Record<keyof EventRow, string>;

/**
 * DuckDB's JSON reader (yyjson) refuses a `\udXXX` escape that is not half of a surrogate pair,
 * which `JSON.stringify` writes for a lone surrogate. Such strings can only come from a `\u`
 * escape in the client's JSON; they become U+FFFD, as the DuckDB driver does for any string it
 * stores.
 */
const MAYBE_LONE_SURROGATE = '\\ud';
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function toWellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD');
}

function wellFormed(value: JsonValue): JsonValue {
  if (typeof value === 'string') return toWellFormed(value);
  if (Array.isArray(value)) return value.map(wellFormed);
  if (value === null || typeof value !== 'object') return value;
  const out: JsonObject = {};
  for (const [key, v] of Object.entries(value)) {
    // Own data properties only, so that a `__proto__` key stays a plain key.
    Object.defineProperty(out, toWellFormed(key), {
      value: wellFormed(v),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** JSON text of a value, without lone surrogates (see MAYBE_LONE_SURROGATE). */
export function safeJson(value: unknown): string {
  const text = JSON.stringify(value);
  return text.includes(MAYBE_LONE_SURROGATE)
    ? JSON.stringify(wellFormed(value as JsonValue))
    : text;
}

/** The line for one event, without the newline. Keys in the order of EVENT_ROW_JSON_KEYS. */
export function encodeEventRow(e: EventRow): string {
  return safeJson({
    p: e.projectId,
    k: e.dedupKey.toString(),
    t: Math.round(e.timeMs),
    e: e.event,
    d: e.distinctId,
    dv: e.deviceId,
    u: e.userId,
    i: e.insertId,
    b: e.browser,
    bv: e.browserVersion,
    o: e.os,
    dt: e.deviceType,
    cc: e.countryCode,
    rg: e.region,
    ci: e.city,
    rd: e.referringDomain,
    cu: e.currentUrl,
    us: e.utmSource,
    um: e.utmMedium,
    uc: e.utmCampaign,
    uo: e.utmContent,
    ut: e.utmTerm,
    l: e.lib,
    pr: e.properties,
    r: Math.round(e.receivedAtMs),
  });
}

/** Many rows as newline-terminated lines. */
export function encodeEventRows(rows: readonly EventRow[]): EncodedEventRows {
  let text = '';
  for (const row of rows) text += encodeEventRow(row) + '\n';
  return { lines: Buffer.from(text, 'utf8'), count: rows.length };
}

/** Reads a line back (times come back rounded to the millisecond, as the store keeps them). */
export function decodeEventRow(line: string): EventRow {
  const v = JSON.parse(line) as Record<string, JsonValue>;
  const str = (key: string): string | null => {
    const value = v[key];
    return typeof value === 'string' ? value : null;
  };
  return {
    projectId: str('p') ?? '',
    dedupKey: BigInt(str('k') ?? '0'),
    timeMs: Number(v.t),
    event: str('e') ?? '',
    distinctId: str('d') ?? '',
    deviceId: str('dv'),
    userId: str('u'),
    insertId: str('i') ?? '',
    browser: str('b'),
    browserVersion: str('bv'),
    os: str('o'),
    deviceType: str('dt'),
    countryCode: str('cc'),
    region: str('rg'),
    city: str('ci'),
    referringDomain: str('rd'),
    currentUrl: str('cu'),
    utmSource: str('us'),
    utmMedium: str('um'),
    utmCampaign: str('uc'),
    utmContent: str('uo'),
    utmTerm: str('ut'),
    lib: str('l'),
    properties: (v.pr ?? {}) as JsonObject,
    receivedAtMs: Number(v.r),
  };
}
