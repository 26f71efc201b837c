// Turns a privacy-cleaned event into a store row: typed columns out of the property bag, dedup key.
import { createHash } from 'node:crypto';
import type { EventRow } from '../store/types.js';
import type { JsonObject, JsonValue } from './records.js';
import type { CleanEvent } from './privacy-stage.js';

/** Property → typed column. The property leaves the JSON bag when it fills a column. */
const TYPED_PROPERTIES = {
  browser: ['$browser'],
  browserVersion: ['$browser_version'],
  os: ['$os'],
  deviceType: ['$device_type'],
  countryCode: ['mp_country_code', '$geoip_country_code'],
  region: ['$region', '$geoip_subdivision_1_name'],
  city: ['$city', '$geoip_city_name'],
  referringDomain: ['$referring_domain'],
  currentUrl: ['$current_url'],
  utmSource: ['utm_source'],
  utmMedium: ['utm_medium'],
  utmCampaign: ['utm_campaign'],
  utmContent: ['utm_content'],
  utmTerm: ['utm_term'],
  lib: ['mp_lib', '$lib'],
} as const satisfies Record<string, readonly string[]>;

type TypedField = keyof typeof TYPED_PROPERTIES;

function asColumn(value: JsonValue | undefined): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value === '' ? null : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return null;
}

/** 128-bit key over the dedup tuple (event, distinct_id, time, insert_id), scoped by project. */
export function dedupKey(
  projectId: string,
  event: string,
  distinctId: string,
  timeMs: number,
  insertId: string,
): bigint {
  const digest = createHash('sha256')
    .update(`${projectId}\u0000${event}\u0000${distinctId}\u0000${timeMs}\u0000${insertId}`)
    .digest();
  return digest.readBigUInt64BE(0) * 2n ** 64n + digest.readBigUInt64BE(8);
}

/** Builds the stored row. `clean` holds only pseudonyms and scanned values. */
export function toEventRow(projectId: string, clean: CleanEvent, receivedAtMs: number): EventRow {
  const rest: JsonObject = { ...clean.properties };
  const typed = {} as Record<TypedField, string | null>;
  for (const [field, names] of Object.entries(TYPED_PROPERTIES) as [
    TypedField,
    readonly string[],
  ][]) {
    let value: string | null = null;
    for (const name of names) {
      const candidate = asColumn(rest[name]);
      // A value that fits the column leaves the bag; others (objects, arrays) stay as sent.
      if (candidate !== null || rest[name] === null || rest[name] === '') delete rest[name];
      if (value === null && candidate !== null) value = candidate;
    }
    typed[field] = value;
  }
  delete rest.$device_id;
  delete rest.$user_id;
  return {
    projectId,
    dedupKey: dedupKey(projectId, clean.event, clean.distinctId, clean.timeMs, clean.insertId),
    timeMs: clean.timeMs,
    event: clean.event,
    distinctId: clean.distinctId,
    deviceId: clean.deviceId,
    userId: clean.userId,
    insertId: clean.insertId,
    ...typed,
    properties: rest,
    receivedAtMs,
  };
}
