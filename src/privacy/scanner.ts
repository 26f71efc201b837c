// The PII scanner: finds e-mails, phones, cards, IBANs, IPs, JWTs and secrets in strings and redacts them.
import { isIPv6 } from 'node:net';
import type { JsonObject, JsonValue } from '../ingest/records.js';

/** What the scanner detects. */
export type PiiKind = 'email' | 'phone' | 'card' | 'iban' | 'ip' | 'jwt' | 'secret';

/** Every kind, in the order the detectors run. */
export const PII_KINDS: readonly PiiKind[] = [
  'secret',
  'jwt',
  'email',
  'iban',
  'card',
  'ip',
  'phone',
];

/** What any privacy step may redact: scanner kinds plus token-like and UUID URL path segments. */
export type RedactionKind = PiiKind | 'token' | 'uuid';

/** How many matches of each kind were redacted. */
export type PiiHits = Partial<Record<RedactionKind, number>>;

/** The typed placeholder that replaces each match. */
export const PLACEHOLDERS: Readonly<Record<RedactionKind, string>> = {
  email: '[email]',
  phone: '[phone]',
  card: '[card]',
  iban: '[iban]',
  ip: '[ip]',
  jwt: '[jwt]',
  secret: '[secret]',
  token: '[token]',
  uuid: '[uuid]',
};

/** A scanned string and what was found in it. */
export interface ScanResult {
  text: string;
  hits: PiiHits;
}

/** A scanned JSON value; `hits` is keyed by top-level property name ('' for a non-object). */
export interface ScanValueResult {
  value: JsonValue;
  hits: Map<string, PiiHits>;
}

/**
 * Redacts every detected PII match in a string to its typed placeholder. Cheap pre-checks keep the
 * common clean case fast: each detector runs only when the characters it needs are present (an '@'
 * for e-mails, ≥ 13 digits for cards, …). Idempotent: scanning the output finds nothing more.
 *
 * Deliberately not flagged (false positives would destroy ordinary analytics values): bare digit
 * runs without a '+' or separators (timestamps, ids: so a phone typed as bare national digits is
 * missed), dates and times, version strings, UUIDs, prices, screen sizes, `X.0.0.0` (reduced
 * user-agent versions), `A::B`, `::1` and `fe80::1`, `logo@2x.png`, IPv4 glued to letters
 * (`v1.2.3.4`), numbers inside alphanumeric tokens (hashes). Accepted false positives: a bare
 * 13–19 digit number with a card prefix (2–6) that passes Luhn (one in ten such ids), and
 * `2xx.xxx.xxxx`, which is a dotted North American phone number.
 */
export function scanString(s: string): ScanResult {
  const hits: PiiHits = {};
  return { text: scanText(s, hits), hits };
}

/**
 * Scans a JSON value: every string and every object key, through nested objects and arrays, plus
 * integers that could be card numbers. A key that contains PII becomes its redacted form; when two
 * keys of one object collide after redaction they merge deterministically (see `mergeEntries`).
 * The input is never mutated, and unchanged subtrees are returned as the same references.
 */
export function scanValue(value: JsonValue): ScanValueResult {
  const hits = new Map<string, PiiHits>();
  if (!isJsonObject(value)) {
    const h: PiiHits = {};
    const out = scanJson(value, h);
    if (hasHits(h)) hits.set('', h);
    return { value: out, hits };
  }
  const entries: Array<[string, JsonValue, string]> = [];
  let changed = false;
  for (const [key, v] of Object.entries(value)) {
    const h: PiiHits = {};
    const cleanKey = scanKey(key, h);
    const out = scanJson(v, h);
    if (cleanKey !== key || out !== v) changed = true;
    if (hasHits(h)) addHits(hits, cleanKey, h);
    entries.push([cleanKey, out, key]);
  }
  return { value: changed ? mergeEntries(entries) : value, hits };
}

// ---- internals shared with sanitize.ts (not exported from the module's index) ----

/** Scans a string, adding to `hits`; returns the same string when nothing was found. */
export function scanText(s: string, hits: PiiHits): string {
  if (s.length < MIN_PII_LENGTH) return s;
  let text = s;
  // A redaction can expose a new boundary (a placeholder ends in ']'), so rescan until stable.
  for (let pass = 0; pass < 4; pass++) {
    const before = hitTotal;
    const next = scanOnce(text, hits);
    if (hitTotal === before) return next;
    text = next;
  }
  return text;
}

/**
 * Scans an object key. Keys repeat across events, so keys found clean are remembered (a bounded
 * set; only clean keys, which by definition hold no detected PII, are kept).
 */
export function scanKey(key: string, hits: PiiHits): string {
  if (key.length < MIN_PII_LENGTH || cleanKeys.has(key)) return key;
  const before = hitTotal;
  const out = scanText(key, hits);
  if (hitTotal === before) {
    if (cleanKeys.size >= CLEAN_KEY_LIMIT) cleanKeys.clear();
    cleanKeys.add(key);
  }
  return out;
}

/** Scans any JSON value recursively (keys included), adding every hit to one `hits`. */
export function scanJson(value: JsonValue, hits: PiiHits): JsonValue {
  if (typeof value === 'string') return scanText(value, hits);
  if (typeof value === 'number') return scanNumber(value, hits);
  if (value === null || typeof value === 'boolean') return value;
  if (Array.isArray(value)) {
    let out: JsonValue[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const item = value[i] as JsonValue;
      const cleaned = scanJson(item, hits);
      if (cleaned !== item && out === null) out = value.slice(0, i);
      if (out !== null) out.push(cleaned);
    }
    return out ?? value;
  }
  const entries: Array<[string, JsonValue, string]> = [];
  let changed = false;
  for (const [key, v] of Object.entries(value)) {
    const cleanKey = scanKey(key, hits);
    const out = scanJson(v, hits);
    if (cleanKey !== key || out !== v) changed = true;
    entries.push([cleanKey, out, key]);
  }
  return changed ? mergeEntries(entries) : value;
}

/** A JSON integer that reads as a card number (brand prefix, 13–16 digits, Luhn) becomes '[card]'. */
export function scanNumber(n: number, hits: PiiHits): JsonValue {
  if (!Number.isSafeInteger(n) || Math.abs(n) < 1e12) return n;
  const digits = String(Math.abs(n));
  if (!isCardNumber(digits)) return n;
  count(hits, 'card', 1);
  return PLACEHOLDERS.card;
}

/**
 * Builds an object from [cleanKey, value, originalKey] entries. When clean keys collide, two
 * objects merge recursively; otherwise the entry whose original key sorts first wins, so the
 * result does not depend on the input's key order. Keys are defined as own data properties, so
 * even a `__proto__` key cannot touch a prototype.
 */
export function mergeEntries(
  entries: ReadonlyArray<readonly [string, JsonValue, string]>,
): JsonObject {
  const out: JsonObject = {};
  // Which original key currently holds each clean key; built only once a collision happens.
  let origin: Map<string, string> | null = null;
  for (const [key, value, original] of entries) {
    if (!Object.hasOwn(out, key)) {
      defineEntry(out, key, value);
      continue;
    }
    if (origin === null) {
      origin = new Map();
      for (const [k, , o] of entries) if (!origin.has(k)) origin.set(k, o);
    }
    const seen = origin.get(key) as string;
    const firstWins = seen <= original;
    defineEntry(out, key, combine(out[key] as JsonValue, value, firstWins));
    if (!firstWins) origin.set(key, original);
  }
  return out;
}

/** Sets an own enumerable property without invoking any setter (safe for `__proto__`). */
export function defineEntry(target: JsonObject, key: string, value: JsonValue): void {
  // `__proto__` is the one inherited accessor of a plain object; defineProperty is much slower,
  // so it is kept for that key only.
  if (key === '__proto__') {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}

/** True for a JSON object (not an array, not null). */
export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Adds `n` matches of `kind` to `hits`. */
export function count(hits: PiiHits, kind: RedactionKind, n: number): void {
  hits[kind] = (hits[kind] ?? 0) + n;
  hitTotal += n;
}

/** Adds every count of `from` into `into`. */
export function mergeHits(into: PiiHits, from: PiiHits): void {
  for (const [kind, n] of Object.entries(from) as Array<[RedactionKind, number]>) {
    into[kind] = (into[kind] ?? 0) + n;
  }
}

/** True when any kind was counted. */
export function hasHits(hits: PiiHits): boolean {
  for (const key in hits) if (Object.hasOwn(hits, key)) return true;
  return false;
}

/** Luhn check digit validation over a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** ISO 13616 mod-97 check of a compact, upper-case IBAN. */
export function ibanChecksumValid(iban: string): boolean {
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i);
    const value = c >= 65 ? c - 55 : c - 48; // 'A' = 10 … 'Z' = 35
    remainder = value >= 10 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
  }
  return remainder === 1;
}

// ---- detectors ----

// The shortest PII we look for ("a@b.co", "+1 234…") is 6 characters.
const MIN_PII_LENGTH = 6;
const CLEAN_KEY_LIMIT = 10_000;
const cleanKeys = new Set<string>();
// Module-level tally so scanText can tell, cheaply, whether a pass found anything.
let hitTotal = 0;

function addHits(map: Map<string, PiiHits>, property: string, h: PiiHits): void {
  const existing = map.get(property);
  if (existing) mergeHits(existing, h);
  else map.set(property, h);
}

function combine(a: JsonValue, b: JsonValue, aWins: boolean): JsonValue {
  if (isJsonObject(a) && isJsonObject(b)) {
    const entries: Array<[string, JsonValue, string]> = [];
    // Keep the winner's side first so its values win inner conflicts too.
    const [first, second] = aWins ? [a, b] : [b, a];
    for (const [k, v] of Object.entries(first)) entries.push([k, v, '0']);
    for (const [k, v] of Object.entries(second)) entries.push([k, v, '1']);
    return mergeEntries(entries);
  }
  return aWins ? a : b;
}

const PEM =
  /-----BEGIN[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|$)/g;

const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){1,3}/g;

// Well-known credential formats (vendor documentation and gitleaks' rules). The `sk-` family is
// checked for a digit in the callback so CSS-like names ("sk-something-long-enough") survive.
const SECRET = new RegExp(
  [
    '(?<![A-Za-z0-9_-])(?:',
    [
      'sk-[A-Za-z0-9_-]{20,}',
      '[sr]k_(?:live|test)_[0-9A-Za-z]{10,}',
      'whsec_[A-Za-z0-9+/=]{20,}',
      '(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])',
      'gh[pousr]_[A-Za-z0-9]{36,}',
      'github_pat_[A-Za-z0-9_]{22,}',
      'xox[abposre]-[A-Za-z0-9-]{10,}',
      'xapp-[0-9]-[A-Za-z0-9-]{10,}',
      'AIza[0-9A-Za-z_-]{35}',
      'glpat-[A-Za-z0-9_-]{20,}',
      'npm_[A-Za-z0-9]{36}',
      'SG\\.[A-Za-z0-9_-]{16,}\\.[A-Za-z0-9_-]{16,}',
      'shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}',
      'hf_[A-Za-z]{30,}',
      'dop_v1_[a-f0-9]{64}',
      '[Bb]earer\\s+[A-Za-z0-9._~+/-]{20,}=*',
    ].join('|'),
    ')',
  ].join(''),
  'g',
);

// Local part (≤ 64 characters, RFC 5321, which also bounds backtracking), then '@' or its URL encoding, then a dotted domain ending in a letter TLD.
const EMAIL =
  /[\p{L}\p{N}._%+'-]{1,64}(?:@|%40)(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+\p{L}{2,63}(?![\p{L}\p{N}-])/gu;
// Retina assets ("logo@2x.png") look like e-mails but are file names (no TLD is an image type).
const RETINA = /^(?:@|%40)\d+(?:\.\d+)?x\.(?:png|jpe?g|gif|webp|svg|avif|bmp|ico|tiff?)$/i;

const IBAN_CANDIDATE = /(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,34}/g;

// Digits with single space/dash separators, standing alone: not inside an alphanumeric token
// (hex hashes, base62 ids), not part of a decimal number (Math.random(), prices), not after '+'.
const CARD_CANDIDATE = /(?<![A-Za-z0-9.+])\d(?:[ -]?\d){12,}(?![A-Za-z0-9]|\.\d)/g;

// The lookahead (no ':' in its classes) keeps matching linear: at least two colons ahead.
const IPV6_CANDIDATE =
  /(?<![\w:.])(?=[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:)[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?/g;

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`(?<![A-Za-z0-9.])(?:${OCTET}\\.){3}${OCTET}(?![A-Za-z0-9]|\\.\\d)`, 'g');

// International: '+' and country code, then digit groups (E.164: at most 15 digits).
const PHONE_INTL = /(?<![\w+])\+[1-9]\d{0,3}(?:[ .-]?(?:\(\d{1,5}\)|\d{1,5}))+/g;
// North American: (415) 555-2671, 415-555-2671, 415.555.2671, 415 555 2671.
const PHONE_NANP =
  /(?<![\w+.-])(?:\([2-9]\d{2}\)|[2-9]\d{2})[ .-]?[2-9]\d{2}[ .-]\d{4}(?![\w-]|\.\d)/g;
// Trunk-prefixed national numbers: 06 12 34 56 78, 020 7946 0958, (030) 1234 5678. Not "00…"
// (an international prefix, or "00:00 1000" times) and not after ':' (clock times).
const PHONE_TRUNK =
  /(?<![\w+.:-])(?:\(0[1-9]\d{0,3}\)|0[1-9]\d{0,3})(?:[ .-]\d{1,8}){1,6}(?![\w-]|\.\d)/g;

function scanOnce(s: string, hits: PiiHits): string {
  let digits = 0;
  let colons = 0;
  let dots = 0;
  let at = false;
  let percent = false;
  let plus = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c === 46) dots++;
    else if (c === 58) colons++;
    else if (c === 64) at = true;
    else if (c === 37) percent = true;
    else if (c === 43) plus = true;
  }
  let text = s;
  if (text.length >= 40 && text.includes('-----BEGIN')) {
    text = replaceAll(text, PEM, () => redact(hits, 'secret'));
  }
  if (text.length >= 16) {
    text = replaceAll(text, SECRET, (m) =>
      m.startsWith('sk-') && !/\d/.test(m.slice(3)) ? m : redact(hits, 'secret'),
    );
    if (text.length >= 20 && text.includes('eyJ'))
      text = replaceAll(text, JWT, () => redact(hits, 'jwt'));
  }
  if (at || (percent && /%40/i.test(text))) {
    text = replaceAll(text, EMAIL, (m) => {
      const sign = m.indexOf('@') >= 0 ? m.indexOf('@') : m.toLowerCase().indexOf('%40');
      return RETINA.test(m.slice(sign)) ? m : redact(hits, 'email');
    });
  }
  if (digits >= 7 && text.length >= 15)
    text = replaceAll(text, IBAN_CANDIDATE, (m) => ibanReplace(m, hits));
  if (digits >= 13) text = replaceAll(text, CARD_CANDIDATE, (m) => cardReplace(m, hits));
  if (colons >= 2) text = replaceAll(text, IPV6_CANDIDATE, (m) => ipv6Replace(m, hits));
  if (dots >= 3 && digits >= 4) {
    text = replaceAll(text, IPV4, (m) => (/^\d+\.0\.0\.0$/.test(m) ? m : redact(hits, 'ip')));
  }
  if (digits >= 8) {
    if (plus) text = replaceAll(text, PHONE_INTL, (m) => phoneReplace(m, hits, 8, false));
    if (digits >= 9) {
      text = replaceAll(text, PHONE_NANP, () => redact(hits, 'phone'));
      text = replaceAll(text, PHONE_TRUNK, (m) => phoneReplace(m, hits, 9, true));
    }
  }
  return text;
}

/** `replace` with a callback costs more than `test` even without a match; most strings are clean. */
function replaceAll(text: string, pattern: RegExp, replacer: (match: string) => string): string {
  pattern.lastIndex = 0;
  if (!pattern.test(text)) return text;
  pattern.lastIndex = 0;
  return text.replace(pattern, replacer);
}

function redact(hits: PiiHits, kind: RedactionKind): string {
  count(hits, kind, 1);
  return PLACEHOLDERS[kind];
}

/** Card brands start with 2–6 (Mastercard 2-series, Amex/Diners/JCB, Visa, Mastercard, Discover/UnionPay/Maestro). */
function isCardNumber(digits: string): boolean {
  if (digits.length < 13 || digits.length > 19) return false;
  const first = digits.charCodeAt(0);
  // 1… would catch millisecond timestamps (13 digits until 2286), which Luhn passes one time in ten.
  return first >= 50 && first <= 54 && luhnValid(digits);
}

function cardReplace(m: string, hits: PiiHits): string {
  // Leftmost windows of whole separator groups holding a card number, left to right.
  const groups = m.split(/[ -]/);
  const seps = m.match(/[ -]/g) ?? [];
  let out = '';
  let start = 0;
  while (start < groups.length) {
    let found = -1;
    let digits = '';
    for (let end = start; end < groups.length; end++) {
      digits += groups[end];
      if (digits.length > 19) break;
      if (digits.length >= 13 && cardGrouping(groups, start, end) && isCardNumber(digits)) {
        found = end;
        break;
      }
    }
    const last = found >= 0 ? found : start;
    // seps[i] sits between groups i and i + 1 (undefined after the last group).
    out += (found >= 0 ? redact(hits, 'card') : (groups[start] as string)) + (seps[last] ?? '');
    start = last + 1;
  }
  return out;
}

/**
 * How card numbers are written: one run, groups of four (the last may be shorter), or Amex /
 * Diners 4-6-5 / 4-6-4. Other groupings are ids, dates or UUIDs (8-4-4-4-12), not cards.
 */
function cardGrouping(groups: readonly string[], start: number, end: number): boolean {
  if (start === end) return true;
  const lengths = groups.slice(start, end + 1).map((g) => g.length);
  if (
    lengths.length === 3 &&
    lengths[0] === 4 &&
    lengths[1] === 6 &&
    (lengths[2] === 5 || lengths[2] === 4)
  ) {
    return true;
  }
  return lengths.every((length, i) =>
    i === lengths.length - 1 ? length >= 1 && length <= 4 : length === 4,
  );
}

function ibanReplace(m: string, hits: PiiHits): string {
  const country = m.slice(0, 2).toUpperCase();
  const length = IBAN_LENGTHS[country];
  if (length === undefined) return m;
  let compact = '';
  let end = 0;
  while (end < m.length && compact.length < length) {
    const c = m[end] as string;
    if (c !== ' ') compact += c;
    end++;
  }
  if (compact.length !== length) return m;
  // The IBAN must end on a boundary: the next character is a space or the end of the candidate.
  if (end < m.length && m[end] !== ' ') return m;
  const hasUpper = /[A-Z]/.test(compact);
  const hasLower = /[a-z]/.test(compact);
  // Mixed case reads as a random token (base62), not as an IBAN someone typed.
  if (hasUpper && hasLower) return m;
  if (!ibanChecksumValid(compact.toUpperCase())) return m;
  return redact(hits, 'iban') + m.slice(end);
}

function ipv6Replace(m: string, hits: PiiHits): string {
  const zoneAt = m.indexOf('%');
  let address = zoneAt >= 0 ? m.slice(0, zoneAt) : m;
  let tail = '';
  if (zoneAt < 0) {
    // A sentence may end right after the address.
    const trimmed = address.replace(/\.+$/, '');
    tail = address.slice(trimmed.length);
    address = trimmed;
  }
  if (!isIPv6(address)) return m;
  const colons = address.split(':').length - 1;
  // "a::b", "::1" and "fe80::1" carry no one's address and C++/Ruby "A::B" names must survive;
  // with two colons only a global unicast prefix (2000::/3, e.g. "2001::1") counts.
  if (colons < 3 && !address.includes('.') && !/^[23][0-9a-fA-F]{3}::/.test(address)) return m;
  return redact(hits, 'ip') + tail;
}

function phoneReplace(m: string, hits: PiiHits, minDigits: number, trunk: boolean): string {
  // Split into groups and separators; keep the longest prefix that is a plausible number.
  const parts = m.split(/([ .-])/);
  let firstSep: string | null = null;
  let digitCount = 0;
  let best = -1;
  let bestDigits = 0;
  for (let i = 0; i < parts.length; i += 2) {
    if (i > 0) {
      const sep = parts[i - 1] as string;
      // Trunk numbers use one separator throughout: "05.10.2023 14" is a date and an hour.
      if (trunk) {
        if (firstSep === null) firstSep = sep;
        else if (sep !== firstSep) break;
      }
    }
    digitCount += (parts[i] as string).replace(/\D/g, '').length;
    if (digitCount > 15) break;
    best = i;
    bestDigits = digitCount;
  }
  if (best < 0 || bestDigits < minDigits) return m;
  const kept = parts.slice(0, best + 1).join('');
  if (trunk && (kept === parts[0] || DATE_LIKE.test(kept))) return m;
  return redact(hits, 'phone') + m.slice(kept.length);
}

const DATE_LIKE = /^(?:\d{2}[./-]\d{2}[./-]\d{4}|\d{4}[./-]\d{2}[./-]\d{2})$/;

// IBAN lengths per country (SWIFT IBAN registry); unknown countries are not IBANs.
// prettier-ignore
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28,
  CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18,
  FK: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HN: 28, HR: 21, HU: 28,
  IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20,
  LU: 20, LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28,
  NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24, SC: 31,
  SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29,
  VA: 22, VG: 24, XK: 20, YE: 30,
};
