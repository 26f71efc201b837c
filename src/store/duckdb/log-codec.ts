// The ingest log's record format: one commit batch as newline-delimited JSON that DuckDB's
// `read_json` loads directly (event lines) and that JavaScript reads back for the rest.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { JsonValue } from '../../shared/json.js';
import { decodeEventRow, encodeEventRow, EVENT_ROW_JSON_KEYS, safeJson } from '../row-json.js';
import type { CommitBatch, IdentityLink, PrivacyCountRow, ProfileUpdateRow } from '../types.js';

/** The row JSON line of an event (see store/row-json.ts). */
export const eventLine = encodeEventRow;
/** Reads an event line back. */
export const parseEventLine = decodeEventRow;
export { safeJson };

/**
 * Layout of a segment file (all UTF-8, one JSON value per line):
 *
 *   {"sillage_ingest_log":1,"segment":7}                 first line: format version, segment id
 *   {"h":42,"n":1834,"c":305419896,"u":53}               record header: sequence number, payload
 *   {"p":"prj_…","k":"…","t":…,…,"pr":{…},"r":…}         length in bytes, CRC-32 of the payload,
 *   {"x":"l","v":["prj_…","u_…","u_…",1712345678000]}    backlog units; then the payload: one line
 *   {"h":43,…}                                           per event (`k` = dedup key) and one per
 *   …                                                    identity link / profile update / counter
 *
 * A record counts only when its header parses, its payload is all there and its CRC matches: a
 * crash in the middle of a write leaves a torn tail that replay cuts off (it was never
 * acknowledged, since acknowledgement waits for fdatasync of the whole record). Header and extra
 * lines have no `k`, so `read_json(... ) WHERE k IS NOT NULL` sees exactly the events.
 *
 * Format 2 (sealed) is the same frame around an encrypted payload, so that a copy of the data
 * directory shows how many records and bytes were logged but nothing of what they say:
 *
 *   {"sillage_ingest_log":2,"segment":7,"cipher":"aes-256-gcm","salt":"…"}
 *   {"h":42,"n":1834,"c":305419896,"u":53}
 *   <AES-256-GCM ciphertext ‖ 16-byte tag>\n
 *
 * Each segment has its own key, HKDF-SHA256 of the log key (derived from the master key) with the
 * segment's random salt; the nonce is the record's sequence number, unique within a segment (a
 * sequence number is never reused, even after a failed write), so no nonce repeats under a key
 * and no limit on random nonces applies. The additional data binds a record to its segment,
 * sequence number and units: a record moved, replayed elsewhere or altered fails to open. The
 * CRC still finds torn tails cheaply; the tag is what proves a record authentic.
 */
export const LOG_FORMAT_VERSION = 3;
/** Format of segments whose payloads are encrypted. */
export const LOG_FORMAT_SEALED = 4;
/**
 * Formats 1 and 2 (before 3 and 4) checked only the payload: a damaged digit in a record's header
 * could change its sequence number or units unnoticed. Their segments are still read as written.
 */
const LEGACY_PLAIN = 1;
const LEGACY_SEALED = 2;
const CIPHER = 'aes-256-gcm';
const SALT_BYTES = 32;
const TAG_BYTES = 16;
const NONCE_BYTES = 12;

/** A segment's own key and salt (format 2). */
export interface SegmentKey {
  key: Buffer;
  salt: Buffer;
}

/** The key of one segment: HKDF-SHA256 of the log key with the segment's salt and id. */
export function segmentKey(logKey: Uint8Array, segment: number, salt: Buffer): SegmentKey {
  const key = Buffer.from(
    hkdfSync('sha256', logKey, salt, `sillage/v1/ingest-log/segment/${segment}`, 32),
  );
  return { key, salt };
}

/** A fresh key for a new segment. */
export function newSegmentKey(logKey: Uint8Array, segment: number): SegmentKey {
  return segmentKey(logKey, segment, randomBytes(SALT_BYTES));
}

function nonceOf(seq: number): Buffer {
  const nonce = Buffer.alloc(NONCE_BYTES);
  nonce.writeBigUInt64BE(BigInt(seq), NONCE_BYTES - 8);
  return nonce;
}

function aadOf(segment: number, seq: number, units: number): Buffer {
  return Buffer.from(`sillage-ingest-log/2/${segment}/${seq}/${units}`, 'utf8');
}

/** Encrypts a record's payload (format 2): ciphertext ‖ tag ‖ '\n'. */
export function sealPayload(
  key: SegmentKey,
  segment: number,
  seq: number,
  record: Pick<EncodedRecord, 'payload' | 'units'>,
): Buffer {
  const cipher = createCipheriv(CIPHER, key.key, nonceOf(seq), { authTagLength: TAG_BYTES });
  cipher.setAAD(aadOf(segment, seq, record.units));
  return Buffer.concat([
    cipher.update(record.payload),
    cipher.final(),
    cipher.getAuthTag(),
    Buffer.from('\n'),
  ]);
}

/** Decrypts one scanned record's payload; null when it does not authenticate. */
export function openPayload(
  key: SegmentKey,
  segment: number,
  buf: Buffer,
  record: ScannedRecord,
): Buffer | null {
  // ciphertext ‖ tag ‖ '\n'
  const sealed = buf.subarray(record.payloadStart, record.end - 1);
  if (sealed.length < TAG_BYTES) return null;
  const decipher = createDecipheriv(CIPHER, key.key, nonceOf(record.seq), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(aadOf(segment, record.seq, record.units));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([
      decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch {
    return null;
  }
}

/** How `read_json` reads an event line (keys from EVENT_ROW_JSON_KEYS), in column order. */
export const EVENT_LINE_COLUMNS = [
  // [line key, read_json type, events column, SQL that turns the read value into the column]
  ['p', 'VARCHAR', 'project_id', 'p'],
  ['k', 'VARCHAR', 'dedup_key', 'k::UHUGEINT'],
  ['t', 'BIGINT', 'time', 'make_timestamptz(t * 1000)'],
  ['e', 'VARCHAR', 'event', 'e'],
  ['d', 'VARCHAR', 'distinct_id', 'd'],
  ['dv', 'VARCHAR', 'device_id', 'dv'],
  ['u', 'VARCHAR', 'user_id', 'u'],
  ['i', 'VARCHAR', 'insert_id', 'i'],
  ['b', 'VARCHAR', 'browser', 'b'],
  ['bv', 'VARCHAR', 'browser_version', 'bv'],
  ['o', 'VARCHAR', 'os', 'o'],
  ['dt', 'VARCHAR', 'device_type', 'dt'],
  ['cc', 'VARCHAR', 'country_code', 'cc'],
  ['rg', 'VARCHAR', 'region', 'rg'],
  ['ci', 'VARCHAR', 'city', 'ci'],
  ['rd', 'VARCHAR', 'referring_domain', 'rd'],
  ['cu', 'VARCHAR', 'current_url', 'cu'],
  ['us', 'VARCHAR', 'utm_source', 'us'],
  ['um', 'VARCHAR', 'utm_medium', 'um'],
  ['uc', 'VARCHAR', 'utm_campaign', 'uc'],
  ['uo', 'VARCHAR', 'utm_content', 'uo'],
  ['ut', 'VARCHAR', 'utm_term', 'ut'],
  ['l', 'VARCHAR', 'lib', 'l'],
  ['pr', 'JSON', 'properties', 'pr'],
  ['r', 'BIGINT', 'received_at', 'make_timestamptz(r * 1000)'],
] as const;

/** The non-event content of a record, decoded (JavaScript applies it; DuckDB skips these lines). */
export interface RecordExtras {
  identityLinks: IdentityLink[];
  profileUpdates: ProfileUpdateRow[];
  privacyCounts: PrivacyCountRow[];
}

/** One commit batch, encoded. */
export interface EncodedRecord {
  /** Payload lines (events, then extras), each ending in '\n'. */
  payload: Buffer;
  eventRows: number;
  /** Backlog units, as the group-commit writer counts records (events + updates + links + counts). */
  units: number;
  extras: RecordExtras;
}

const NEWLINE = 0x0a;

/**
 * Encodes a batch. `links` are the identity links to log (the caller may already have left out
 * aliases known to be linked); privacy counts are summed per key.
 */
export function encodeRecord(
  batch: CommitBatch,
  links: IdentityLink[] = batch.identityLinks,
): EncodedRecord {
  const parts: string[] = [];
  for (const e of batch.events) parts.push(eventLine(e));
  const encoded = batch.encodedEvents ?? [];
  const encodedRows = encoded.reduce((n, e) => n + e.count, 0);
  for (const l of links) {
    parts.push(
      safeJson({ x: 'l', v: [l.projectId, l.aliasId, l.canonicalId, Math.round(l.timeMs)] }),
    );
  }
  for (const u of batch.profileUpdates) {
    parts.push(
      safeJson({
        x: 'u',
        v: [
          u.projectId,
          u.groupKey,
          u.profileId,
          u.op,
          u.value,
          Math.round(u.timeMs),
          u.ignoreTime,
        ],
      }),
    );
  }
  const counts = mergePrivacyCounts(batch.privacyCounts);
  for (const c of counts)
    parts.push(safeJson({ x: 'c', v: [c.projectId, c.day, c.property, c.kind, c.count] }));
  parts.push('');
  const extrasText = Buffer.from(parts.join('\n'), 'utf8');
  // Event lines first (in-memory rows, then encoded ones), then the extras.
  const eventsEnd = batch.events.length === 0 ? 0 : lineEnd(extrasText, batch.events.length);
  return {
    payload:
      encoded.length === 0
        ? extrasText
        : Buffer.concat([
            extrasText.subarray(0, eventsEnd),
            ...encoded.map((e) => e.lines),
            extrasText.subarray(eventsEnd),
          ]),
    eventRows: batch.events.length + encodedRows,
    units:
      batch.events.length +
      encodedRows +
      batch.profileUpdates.length +
      batch.identityLinks.length +
      batch.privacyCounts.length,
    extras: { identityLinks: links, profileUpdates: batch.profileUpdates, privacyCounts: counts },
  };
}

/** Byte offset just after the `lines`-th newline of `buf`. */
function lineEnd(buf: Uint8Array, lines: number): number {
  let cut = 0;
  for (let i = 0; i < lines; i++) cut = buf.indexOf(NEWLINE, cut) + 1;
  return cut;
}

/**
 * Splits a record after its first `events` event lines: the head holds those events, the tail the
 * other events and every extra (links, profile updates, counters).
 */
export function splitRecord(record: EncodedRecord, events: number): [EncodedRecord, EncodedRecord] {
  const cut = lineEnd(record.payload, events);
  return [
    {
      payload: record.payload.subarray(0, cut),
      eventRows: events,
      units: events,
      extras: { identityLinks: [], profileUpdates: [], privacyCounts: [] },
    },
    {
      payload: record.payload.subarray(cut),
      eventRows: record.eventRows - events,
      units: record.units - events,
      extras: record.extras,
    },
  ];
}

/** Sums counter rows that share project, day, property and kind. */
export function mergePrivacyCounts(rows: readonly PrivacyCountRow[]): PrivacyCountRow[] {
  const merged = new Map<string, PrivacyCountRow>();
  for (const row of rows) {
    const key = `${row.projectId}\u0000${row.day}\u0000${row.property}\u0000${row.kind}`;
    const existing = merged.get(key);
    if (existing) existing.count += row.count;
    else merged.set(key, { ...row });
  }
  return [...merged.values()];
}

/** The first line of every segment file (format 2 when it has a segment key). */
export function segmentHeader(segment: number, key?: SegmentKey): Buffer {
  const head = key
    ? {
        sillage_ingest_log: LOG_FORMAT_SEALED,
        segment,
        cipher: CIPHER,
        salt: key.salt.toString('base64url'),
      }
    : { sillage_ingest_log: LOG_FORMAT_VERSION, segment };
  return Buffer.from(`${JSON.stringify(head)}\n`, 'utf8');
}

/** The CRC of a record: its payload bound to its sequence number, length and units. */
function recordCrc(seq: number, n: number, units: number, payload: Buffer): number {
  return crc32(payload, crc32(`${seq} ${n} ${units}\n`));
}

/** The header line of a record (the payload follows it). */
export function recordHeader(
  seq: number,
  record: Pick<EncodedRecord, 'payload' | 'units'>,
): Buffer {
  const header = JSON.stringify({
    h: seq,
    n: record.payload.length,
    c: recordCrc(seq, record.payload.length, record.units, record.payload),
    u: record.units,
  });
  return Buffer.from(header + '\n', 'utf8');
}

/** A record as written: header line, then the payload. */
export function frameRecord(seq: number, record: Pick<EncodedRecord, 'payload' | 'units'>): Buffer {
  return Buffer.concat([recordHeader(seq, record), record.payload]);
}

/** One valid record found in a segment. */
export interface ScannedRecord {
  seq: number;
  /** Byte offsets of the record (header included) in the segment. */
  start: number;
  end: number;
  payloadStart: number;
  units: number;
}

/** What a segment holds, checked record by record. */
export interface SegmentScan {
  /** The segment id of the first line, or null when the first line is missing or not ours. */
  segment: number | null;
  /** The salt of a sealed segment (format 2); null for a plain one. */
  salt: Buffer | null;
  /** Length of the format line (0 when it is missing). */
  headerEnd: number;
  records: ScannedRecord[];
  /** Byte ranges that are not part of a valid record (a torn tail, or damage). */
  invalid: { start: number; end: number }[];
}

function parseHeader(
  buf: Buffer,
  start: number,
): { seq: number; n: number; c: number; u: number; end: number } | null {
  const eol = buf.indexOf(NEWLINE, start);
  // A header is short; a long "line" is payload bytes, not a header.
  if (eol === -1 || eol - start > 200) return null;
  let value: unknown;
  try {
    value = JSON.parse(buf.toString('utf8', start, eol));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { h, n, c, u } = value as Record<string, unknown>;
  const isCount = (x: unknown): x is number =>
    typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (!isCount(h) || !isCount(n) || !isCount(c) || !isCount(u)) return null;
  return { seq: h, n, c, u, end: eol + 1 };
}

/** The whole, intact record at `start`; null when there is none (damaged, torn or cut short). */
export function recordAt(buf: Buffer, start: number, legacy: boolean): ScannedRecord | null {
  if (buf[start] !== 0x7b) return null;
  const header = parseHeader(buf, start);
  if (header === null) return null;
  const end = header.end + header.n;
  if (end > buf.length) return null;
  const payload = buf.subarray(header.end, end);
  const crc = legacy ? crc32(payload) : recordCrc(header.seq, header.n, header.u, payload);
  if (crc !== header.c) return null;
  // A payload is whole lines.
  if (header.n > 0 && buf[end - 1] !== NEWLINE) return null;
  return { seq: header.seq, start, end, payloadStart: header.end, units: header.u };
}

/** A segment's first line: its id, its salt when sealed, whether it is a legacy format, its end. */
export interface FormatLine {
  segment: number;
  salt: Buffer | null;
  legacy: boolean;
  end: number;
}

/** Reads a segment's format line at the start of `buf`; null when it is not one of ours. */
export function readFormatLine(buf: Buffer): FormatLine | null {
  const eol = buf.indexOf(NEWLINE);
  if (eol === -1 || eol >= 300) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(buf.toString('utf8', 0, eol));
  } catch {
    return null;
  }
  // Damage can leave any JSON value there (`null` has no fields to read).
  if (typeof parsed !== 'object' || parsed === null) return null;
  const first = parsed as Record<string, unknown>;
  const format = first.sillage_ingest_log;
  const plain = format === LOG_FORMAT_VERSION || format === LEGACY_PLAIN;
  const sealed =
    (format === LOG_FORMAT_SEALED || format === LEGACY_SEALED) &&
    first.cipher === CIPHER &&
    typeof first.salt === 'string';
  if (!(plain || sealed) || !Number.isSafeInteger(first.segment)) return null;
  return {
    segment: first.segment as number,
    salt: sealed ? Buffer.from(first.salt as string, 'base64url') : null,
    legacy: format === LEGACY_PLAIN || format === LEGACY_SEALED,
    end: eol + 1,
  };
}

const RECORD_MARK = Buffer.from('\n{"h":', 'utf8');

/**
 * Checks a segment record by record. After an invalid stretch it searches for the next record
 * whose header and CRC are valid, so that damage in the middle of a segment costs only the
 * damaged records; what cannot be read is reported in `invalid`.
 */
export function scanSegment(buf: Buffer): SegmentScan {
  const records: ScannedRecord[] = [];
  const invalid: { start: number; end: number }[] = [];
  // A segment whose format line is missing or damaged is read by the current rules only.
  const format = readFormatLine(buf);
  const segment = format?.segment ?? null;
  const salt = format?.salt ?? null;
  const legacy = format?.legacy ?? false;
  let pos = format?.end ?? 0;
  const headerEnd = pos;
  while (pos < buf.length) {
    const record = recordAt(buf, pos, legacy);
    if (record !== null) {
      records.push(record);
      pos = record.end;
      continue;
    }
    // Resynchronise on the next plausible header that checks out.
    let next = -1;
    for (let from = pos; ;) {
      const mark = buf.indexOf(RECORD_MARK, from);
      if (mark === -1) break;
      if (recordAt(buf, mark + 1, legacy) !== null) {
        next = mark + 1;
        break;
      }
      from = mark + 1;
    }
    const end = next === -1 ? buf.length : next;
    invalid.push({ start: pos, end });
    pos = end;
  }
  return { segment, salt, headerEnd, records, invalid };
}

/** Calls `fn` with each line of a record's payload. */
export function forEachPayloadLine(
  buf: Buffer,
  record: ScannedRecord,
  fn: (line: Buffer) => void,
): void {
  let pos = record.payloadStart;
  while (pos < record.end) {
    const eol = buf.indexOf(NEWLINE, pos);
    const stop = eol === -1 || eol > record.end ? record.end : eol;
    if (stop > pos) fn(buf.subarray(pos, stop));
    pos = stop + 1;
  }
}

const EVENT_PREFIX = Buffer.from(`{"${EVENT_ROW_JSON_KEYS.projectId}":`, 'utf8');
const EXTRA_PREFIX = Buffer.from('{"x":', 'utf8');

/** True for an event line (as written by `eventLine`). */
export function isEventLine(line: Buffer): boolean {
  return line.subarray(0, EVENT_PREFIX.length).equals(EVENT_PREFIX);
}

/** Decodes the extras of the given records (identity links, profile updates, counters), in order. */
export function readExtras(
  buf: Buffer,
  records: readonly ScannedRecord[],
): { extras: RecordExtras; eventRows: number } {
  return readExtrasOf(records.map((r) => buf.subarray(r.payloadStart, r.end)));
}

/** Calls `fn` with each line of a (plain) payload. */
export function forEachLine(payload: Buffer, fn: (line: Buffer) => void): void {
  let pos = 0;
  while (pos < payload.length) {
    const eol = payload.indexOf(NEWLINE, pos);
    const stop = eol === -1 ? payload.length : eol;
    if (stop > pos) fn(payload.subarray(pos, stop));
    pos = stop + 1;
  }
}

/** Decodes the extras of plain payloads (identity links, profile updates, counters), in order. */
export function readExtrasOf(payloads: readonly Buffer[]): {
  extras: RecordExtras;
  eventRows: number;
} {
  const extras: RecordExtras = { identityLinks: [], profileUpdates: [], privacyCounts: [] };
  let eventRows = 0;
  for (const payload of payloads) {
    forEachLine(payload, (line) => {
      if (isEventLine(line)) {
        eventRows++;
        return;
      }
      if (!line.subarray(0, EXTRA_PREFIX.length).equals(EXTRA_PREFIX)) return;
      const { x, v } = JSON.parse(line.toString('utf8')) as { x: string; v: JsonValue[] };
      if (x === 'l') {
        const [projectId, aliasId, canonicalId, timeMs] = v as [string, string, string, number];
        extras.identityLinks.push({ projectId, aliasId, canonicalId, timeMs });
      } else if (x === 'u') {
        const [projectId, groupKey, profileId, op, value, timeMs, ignoreTime] = v as [
          string,
          string,
          string,
          ProfileUpdateRow['op'],
          JsonValue,
          number,
          boolean,
        ];
        extras.profileUpdates.push({
          projectId,
          groupKey,
          profileId,
          op,
          value,
          timeMs,
          ignoreTime,
        });
      } else if (x === 'c') {
        const [projectId, day, property, kind, count] = v as [
          string,
          string,
          string,
          string,
          number,
        ];
        extras.privacyCounts.push({ projectId, day, property, kind, count });
      }
    });
  }
  extras.privacyCounts = mergePrivacyCounts(extras.privacyCounts);
  return { extras, eventRows };
}
