// Turns a privacy-cleaned event into a store row: typed columns out of the property bag, dedup key.
import crypto from 'node:crypto';
import { defineEntry } from '../privacy/index.js';
import { STANDARD_EVENT_PROPERTIES, namesOf, type StandardField } from '../shared/event-schema.js';
import type { EventRow } from '../store/types.js';
import type { JsonObject, JsonValue } from './records.js';
import type { CleanEvent } from './privacy-stage.js';

type TypedField = StandardField;

/** The typed fields, in the schema's order; a sent name fills its field and leaves the bag. */
const TYPED_FIELDS: readonly TypedField[] = STANDARD_EVENT_PROPERTIES.map((def) => def.field);
/** Property name → [index of its field in TYPED_FIELDS, rank among the field's names]. */
const TYPED_NAMES = new Map<string, readonly [number, number]>(
  STANDARD_EVENT_PROPERTIES.flatMap((def, index) =>
    namesOf(def).map((name, rank) => [name, [index, rank] as const] as const),
  ),
);
/**
 * Field → its index in TYPED_FIELDS. The row below is written out field by field (an object
 * literal of fixed shape: building it in a loop cost ~40 % of toEventRow); the compiler holds it
 * to the schema (EventRow requires every standard field) and the indexes come from the schema.
 */
const AT = Object.fromEntries(TYPED_FIELDS.map((f, i) => [f, i])) as Record<TypedField, number>;
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
 * feed one column, the first of its names in the schema wins. Empty and null values of those names
 * leave the bag too; objects and arrays stay as sent. The names and their order are the event
 * schema's (shared/event-schema.ts).
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
    browser: typed[AT.browser] ?? null,
    browserVersion: typed[AT.browserVersion] ?? null,
    os: typed[AT.os] ?? null,
    deviceType: typed[AT.deviceType] ?? null,
    countryCode: typed[AT.countryCode] ?? null,
    region: typed[AT.region] ?? null,
    city: typed[AT.city] ?? null,
    referringDomain: typed[AT.referringDomain] ?? null,
    currentUrl: typed[AT.currentUrl] ?? null,
    utmSource: typed[AT.utmSource] ?? null,
    utmMedium: typed[AT.utmMedium] ?? null,
    utmCampaign: typed[AT.utmCampaign] ?? null,
    utmContent: typed[AT.utmContent] ?? null,
    utmTerm: typed[AT.utmTerm] ?? null,
    lib: typed[AT.lib] ?? null,
    properties: rest,
    receivedAtMs,
  };
}
