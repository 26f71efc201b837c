// Turns a privacy-cleaned event into a store row: typed columns out of the property bag, dedup key.
import crypto from 'node:crypto';
import { defineEntry } from '../privacy/index.js';
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

const TYPED_FIELDS = Object.keys(TYPED_PROPERTIES) as TypedField[];
/** Property name → [index of its field in TYPED_FIELDS, rank among the field's names]. */
const TYPED_NAMES = new Map<string, readonly [number, number]>(
  TYPED_FIELDS.flatMap((field, index) =>
    TYPED_PROPERTIES[field].map((name, rank) => [name, [index, rank] as const] as const),
  ),
);
// Per-call scratch (toEventRow is synchronous and reads them out before returning).
const scratchTyped: (string | null)[] = new Array<string | null>(TYPED_FIELDS.length).fill(null);
const scratchRanks: number[] = new Array<number>(TYPED_FIELDS.length).fill(Infinity);
/** Identifiers that have their own columns and leave the bag. */
const ID_COLUMNS = new Set(['$device_id', '$user_id']);

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
  const tuple = `${projectId}\u0000${event}\u0000${distinctId}\u0000${timeMs}\u0000${insertId}`;
  return BigInt(`0x${sha256Hex(tuple).slice(0, 32)}`);
}

/** SHA-256 in hex; the one-shot `crypto.hash` (Node ≥ 20.12) costs a third of `createHash`. */
const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text).digest('hex');

/**
 * Builds the stored row. `clean` holds only pseudonyms and scanned values. A property that fits
 * its typed column (a string, number or boolean) leaves the bag for the column; when several names
 * feed one column, the first name in TYPED_PROPERTIES wins. Empty and null values of those names
 * leave the bag too; objects and arrays stay as sent.
 */
export function toEventRow(projectId: string, clean: CleanEvent, receivedAtMs: number): EventRow {
  const props = clean.properties;
  const rest: JsonObject = {};
  const typed = scratchTyped.fill(null);
  const ranks = scratchRanks.fill(Infinity);
  for (const key of Object.keys(props)) {
    const value = props[key] as JsonValue;
    const column = TYPED_NAMES.get(key);
    if (column === undefined) {
      if (!ID_COLUMNS.has(key)) defineEntry(rest, key, value);
      continue;
    }
    const candidate = asColumn(value);
    if (candidate === null) {
      if (value !== null && value !== '') defineEntry(rest, key, value);
      continue;
    }
    const [index, rank] = column;
    if (rank < (ranks[index] as number)) {
      typed[index] = candidate;
      ranks[index] = rank;
    }
  }
  return {
    projectId,
    dedupKey: dedupKey(projectId, clean.event, clean.distinctId, clean.timeMs, clean.insertId),
    timeMs: clean.timeMs,
    event: clean.event,
    distinctId: clean.distinctId,
    deviceId: clean.deviceId,
    userId: clean.userId,
    insertId: clean.insertId,
    browser: typed[0] ?? null,
    browserVersion: typed[1] ?? null,
    os: typed[2] ?? null,
    deviceType: typed[3] ?? null,
    countryCode: typed[4] ?? null,
    region: typed[5] ?? null,
    city: typed[6] ?? null,
    referringDomain: typed[7] ?? null,
    currentUrl: typed[8] ?? null,
    utmSource: typed[9] ?? null,
    utmMedium: typed[10] ?? null,
    utmCampaign: typed[11] ?? null,
    utmContent: typed[12] ?? null,
    utmTerm: typed[13] ?? null,
    lib: typed[14] ?? null,
    properties: rest,
    receivedAtMs,
  };
}
