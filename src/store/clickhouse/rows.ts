// How an event and a profile become ClickHouse rows: typed columns as they are, the JSON bag both
// as text (to read it back) and as parallel arrays of its top-level entries (to query it on 18.16,
// which has no JSON functions to speak of).
import type { JsonObject, JsonValue } from '../../shared/json.js';
import type { EventRow } from '../types.js';

/**
 * A number as JSON text the way the engine's `json_text` reads it (see jsonNumberText in
 * query/reference.ts: JavaScript's shortest form, `1e+21` written `1e21`).
 */
function numberText(n: number): string {
  return String(n).replace('e+', 'e');
}

function compactJson(value: JsonValue): string {
  if (value === null) return 'null';
  if (typeof value === 'number') return numberText(value);
  if (typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(compactJson).join(',')}]`;
  return `{${Object.entries(value)
    .map(([k, v]) => `${JSON.stringify(k)}:${compactJson(v)}`)
    .join(',')}}`;
}

export type JsonTypeName = 'string' | 'number' | 'boolean' | 'array' | 'object';

/**
 * The entries of a JSON object that `json_text` can see: key, text (strings unquoted, anything
 * else as compact JSON) and JSON type. Entries whose value is null are left out (`json_text`
 * reads them as not set; discovery does not count them).
 */
export function flattenProperties(bag: JsonObject): {
  keys: string[];
  texts: string[];
  types: JsonTypeName[];
} {
  const keys: string[] = [];
  const texts: string[] = [];
  const types: JsonTypeName[] = [];
  for (const [key, value] of Object.entries(bag)) {
    if (value === null || value === undefined) continue;
    keys.push(key);
    texts.push(typeof value === 'string' ? value : compactJson(value));
    types.push(
      Array.isArray(value)
        ? 'array'
        : typeof value === 'object'
          ? 'object'
          : (typeof value as 'string' | 'number' | 'boolean'),
    );
  }
  return { keys, texts, types };
}

const LOW_64 = (1n << 64n) - 1n;

/** The events table row (JSONEachRow object) of an event. */
export function eventToRow(e: EventRow): Record<string, unknown> {
  const flat = flattenProperties(e.properties);
  return {
    project_id: e.projectId,
    time: Math.round(e.timeMs),
    // Strings: JSONEachRow reads 64-bit integers exactly when quoted.
    dedup_hi: (e.dedupKey >> 64n).toString(),
    dedup_lo: (e.dedupKey & LOW_64).toString(),
    event: e.event,
    distinct_id: e.distinctId,
    device_id: e.deviceId,
    user_id: e.userId,
    insert_id: e.insertId,
    browser: e.browser,
    browser_version: e.browserVersion,
    os: e.os,
    device_type: e.deviceType,
    country_code: e.countryCode,
    region: e.region,
    city: e.city,
    referring_domain: e.referringDomain,
    current_url: e.currentUrl,
    utm_source: e.utmSource,
    utm_medium: e.utmMedium,
    utm_campaign: e.utmCampaign,
    utm_content: e.utmContent,
    utm_term: e.utmTerm,
    lib: e.lib,
    properties: JSON.stringify(e.properties),
    prop_keys: flat.keys,
    prop_texts: flat.texts,
    prop_types: flat.types,
    received_at: Math.round(e.receivedAtMs),
  };
}

/** Columns read back by `rowToEvent`, in order. */
export const EVENT_READ_COLUMNS = [
  'project_id',
  'toString(dedup_hi)',
  'toString(dedup_lo)',
  'toString(time)',
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
  'toString(received_at)',
] as const;

const str = (v: unknown): string => (typeof v === 'string' ? v : String(v));
const nullable = (v: unknown): string | null => (v === null || v === undefined ? null : str(v));

/** An event back from a row of EVENT_READ_COLUMNS (JSONCompact values). */
export function rowToEvent(row: readonly unknown[]): EventRow {
  const at = (i: number): unknown => row[i];
  return {
    projectId: str(at(0)),
    dedupKey: (BigInt(str(at(1))) << 64n) | BigInt(str(at(2))),
    timeMs: Number(at(3)),
    event: str(at(4)),
    distinctId: str(at(5)),
    deviceId: nullable(at(6)),
    userId: nullable(at(7)),
    insertId: str(at(8)),
    browser: nullable(at(9)),
    browserVersion: nullable(at(10)),
    os: nullable(at(11)),
    deviceType: nullable(at(12)),
    countryCode: nullable(at(13)),
    region: nullable(at(14)),
    city: nullable(at(15)),
    referringDomain: nullable(at(16)),
    currentUrl: nullable(at(17)),
    utmSource: nullable(at(18)),
    utmMedium: nullable(at(19)),
    utmCampaign: nullable(at(20)),
    utmContent: nullable(at(21)),
    utmTerm: nullable(at(22)),
    lib: nullable(at(23)),
    properties: JSON.parse(str(at(24))) as JsonObject,
    receivedAtMs: Number(at(25)),
  };
}
