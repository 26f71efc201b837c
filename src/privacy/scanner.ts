// The PII scanner: finds e-mails, phones, cards, IBANs, IPs, JWTs and secrets in strings and redacts them.
import { isIPv6 } from 'node:net';
import type { JsonObject, JsonValue } from '../shared/json.js';

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
 * Linear in the input's length whatever it holds (`scanner-linear.test.ts` counts the work).
 * Detection reads the NFKC form without format characters (see `scanForm`).
 *
 * Families: e-mails (also `%40`, `%2540`, full-width `＠`); phones with `+cc`, `(+cc)`, `00cc`,
 * North American with or without `1`, trunk-prefixed national numbers, separated by spaces, dots
 * or dashes; cards in one run or in groups separated by spaces (one or two), dashes or dots;
 * IBANs; IPv4 (zero-padded too, and inside host names: `host-203-0-113-41`, `203.0.113.37.nip.io`)
 * and IPv6; JWTs; secret keys (Sillage's `sil_sk_…` included) and PEM private keys.
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

/**
 * Scans a string, adding to `hits`; returns the same string when nothing was found. PII is looked
 * for in the string's scanning form (`scanForm`: NFKC, format characters removed), so that
 * full-width digits, a full-width `＠`, soft hyphens and zero-width characters hide nothing; when
 * something is found, the redacted scanning form is returned.
 */
export function scanText(s: string, hits: PiiHits): string {
  return scanPasses(s, hits, true);
}

/** `scanText`, with `scanOnce`'s gates (`gated`) or every detector on every string. */
function scanPasses(s: string, hits: PiiHits, gated: boolean): string {
  if (s.length < MIN_PII_LENGTH) return s;
  const form = scanForm(s);
  let text = form;
  const start = hitTotal;
  // A redaction can expose a new boundary (a placeholder ends in ']'), so rescan until stable.
  for (let pass = 0; pass < 4; pass++) {
    const before = hitTotal;
    const next = scanOnce(text, hits, gated);
    if (hitTotal === before) break;
    text = next;
  }
  return hitTotal === start ? s : text;
}

/**
 * The form of a string that the detectors read: NFKC (full-width and other compatibility forms
 * become ASCII: `０６`, `＠`, `．`) without format characters (soft hyphen, zero-width space and
 * joiners, BOM, bidi controls: Unicode category Cf), which hide nothing from a reader but would
 * break a pattern. ASCII strings are returned as they are, without any work.
 */
export function scanForm(s: string): string {
  if (!NON_ASCII.test(s)) return s;
  scanWork += s.length;
  const normal = s.normalize('NFKC');
  // split/join: far cheaper than replace() when a string is full of format characters.
  return FORMAT_CHAR.test(normal) ? normal.split(FORMAT_CHARS).join('') : normal;
}

const NON_ASCII = /[^\x00-\x7f]/;
const FORMAT_CHAR = /\p{Cf}/u;
const FORMAT_CHARS = /\p{Cf}+/u;

/**
 * Work done by the scanner since the process started, in characters examined (each detector pass
 * over a string counts its length; the hand-written e-mail and card passes count every character
 * they step over). Every pass is linear, so this grows linearly with the input: the linearity test
 * checks exactly that on adversarial inputs, without timing anything.
 */
export function scannerWork(): number {
  return scanWork;
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
let scanWork = 0;

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

// The shortest text PEM can match: `-----BEGIN` `PRIVATE KEY` `-----` (the END line is optional).
const PEM_MIN_LENGTH = 26;

const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){1,3}/g;

// Well-known credential formats (vendor documentation and gitleaks' rules). The `sk-` family is
// checked for a digit in the callback so CSS-like names ("sk-something-long-enough") survive.
const SECRET = new RegExp(
  [
    '(?<![A-Za-z0-9_-])(?:',
    [
      'sk-[A-Za-z0-9_-]{20,}',
      'sil_sk_[A-Za-z0-9_-]{16,}',
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
      '[Bb]asic\\s+[A-Za-z0-9+/]{8,}={0,2}(?![A-Za-z0-9+/=])',
    ].join('|'),
    ')',
  ].join(''),
  'g',
);

// The shortest text SECRET can match (`Basic` + one space + 8 characters), and what a match holds
// when it has no '.', '-' or '_': every other alternative has one of those in its fixed prefix.
const SECRET_MIN_LENGTH = 14;
const SECRET_WITHOUT_SEPARATOR = /AKIA|ASIA|AIza|earer|asic/;

// E-mails are found from their '@' (or its URL encodings `%40`, `%2540`, …), not by a regex run
// at every position: the local part is read backwards (≤ 64 characters, RFC 5321) and the domain
// forwards with a sticky pattern, so each character is read a bounded number of times.
const EMAIL_LOCAL_CHAR = /[\p{L}\p{N}._%+'-]/u;
const EMAIL_DOMAIN =
  /(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+\p{L}{2,63}(?![\p{L}\p{N}-])/uy;
// Retina assets ("logo@2x.png") look like e-mails but are file names (no TLD is an image type).
const RETINA = /^\d+(?:\.\d+)?x\.(?:png|jpe?g|gif|webp|svg|avif|bmp|ico|tiff?)$/i;

// What every IBAN candidate starts with: a country code and two check digits.
const IBAN_START = /[A-Za-z]{2}\d{2}/;
const IBAN_CANDIDATE = /(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,34}/g;

// The lookahead (no ':' in its classes) keeps matching linear: at least two colons ahead.
const IPV6_CANDIDATE =
  /(?<![\w:.])(?=[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:)[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?/g;

// An octet, zero-padded or not ("203.000.113.041").
const OCTET = '(?:25[0-5]|2[0-4]\\d|[01]?\\d?\\d)';
// Dotted, also as the first labels of a host name ("203.0.113.37.nip.io", "ip.10.0.0.1.example"),
// but not inside a longer dotted number ("1.3.6.1.4.1.311") or glued to letters ("v1.2.3.4").
const IPV4 = new RegExp(
  `(?<![A-Za-z0-9_]|\\d\\.)(?:${OCTET}\\.){3}${OCTET}(?![A-Za-z0-9_]|\\.\\d)`,
  'g',
);
// Dashed, as cloud and ISP host names write them ("ip-10-0-0-1", "host-203-0-113-41",
// "ec2-203-0-113-25.compute-1.amazonaws.com"); not inside longer dashed numbers (dates, phones).
const IPV4_DASHED = new RegExp(
  `(?<![0-9_]|(?<![A-Za-z])\\d-)(?:${OCTET}-){3}${OCTET}(?![0-9_]|-\\d)`,
  'g',
);

// International: '+' or '(+…)' and a country code, then digit groups (E.164: at most 15 digits).
const PHONE_INTL =
  /(?<![\w+])(?:\(\+[1-9]\d{0,3}\)|\+[1-9]\d{0,3})(?:[ .-]{0,2}(?:\(\d{1,5}\)|\d{1,5}))+/g;
// The same with the international call prefix "00" ("0033 6 12 34 56 23"); a separator must
// follow the country code, so that bare digit runs (ids with leading zeros) are left alone.
const PHONE_IDD = /(?<![\w+.:,/-])00[1-9]\d{0,3}(?=[ .-])(?:[ .-]{1,2}(?:\(\d{1,5}\)|\d{1,5}))+/g;
// North American, with or without the country code 1: (415) 555-2671, 415-555-2671,
// 1-415-555-0125, 1.415.555.0142, 415 555 2671.
const PHONE_NANP =
  /(?<![\w+.-])(?:1[ .-]?)?(?:\([2-9]\d{2}\)|[2-9]\d{2})[ .-]?[2-9]\d{2}[ .-]\d{4}(?![\w-]|\.\d)/g;
// Trunk-prefixed national numbers: 06 12 34 56 78, 020 7946 0958, (030) 1234 5678. Not "00…"
// (an international prefix, or "00:00 1000" times) and not after ':' (clock times).
const PHONE_TRUNK =
  /(?<![\w+.:-])(?:\(0[1-9]\d{0,3}\)|0[1-9]\d{0,3})(?:[ .-]\d{1,8}){1,6}(?![\w-]|\.\d)/g;

/**
 * One pass of every detector. Each runs only when the characters it needs are there (`gated`,
 * the default): every gate is implied by its pattern, so skipping a detector never changes the
 * result (the property test runs the same pass ungated on random and adversarial strings). The
 * gates read the pass's input; a redaction only removes digits, signs and separators and adds a
 * placeholder (`[` letters `]`), so a gate that was false stays false for the later detectors.
 */
function scanOnce(s: string, hits: PiiHits, gated = true): string {
  let digits = 0;
  let colons = 0;
  let dots = 0;
  let dashes = 0;
  let underscores = 0;
  let at = false;
  let percent = false;
  let plus = false;
  scanWork += s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c === 46) dots++;
    else if (c === 45) dashes++;
    else if (c === 95) underscores++;
    else if (c === 58) colons++;
    else if (c === 64) at = true;
    else if (c === 37) percent = true;
    else if (c === 43) plus = true;
  }
  const all = !gated;
  let text = s;
  if (all || (text.length >= PEM_MIN_LENGTH && text.includes('-----BEGIN'))) {
    text = replaceAll(text, PEM, () => redact(hits, 'secret'));
  }
  if (
    all ||
    (text.length >= SECRET_MIN_LENGTH &&
      (dots > 0 || dashes > 0 || underscores > 0 || SECRET_WITHOUT_SEPARATOR.test(text)))
  ) {
    text = replaceAll(text, SECRET, (m) => (looksLikeSecret(m) ? redact(hits, 'secret') : m));
  }
  if (all || (text.length >= 20 && text.includes('eyJ')))
    text = replaceAll(text, JWT, () => redact(hits, 'jwt'));
  if (all || at || percent) text = scanEmails(text, hits);
  // An IBAN may hold no digit but its check digits (Qatar's, Malta's accounts are alphanumeric).
  if (all || (digits >= 2 && text.length >= 15 && IBAN_START.test(text)))
    text = replaceAll(text, IBAN_CANDIDATE, (m) => ibanReplace(m, hits));
  if (all || digits >= 13) text = scanCards(text, hits);
  if (all || colons >= 2) text = replaceAll(text, IPV6_CANDIDATE, (m) => ipv6Replace(m, hits));
  if (all || (digits >= 4 && dots >= 3))
    text = replaceAll(text, IPV4, (m) => (/^\d+\.0+\.0+\.0+$/.test(m) ? m : redact(hits, 'ip')));
  if (all || (digits >= 4 && dashes >= 3))
    text = replaceAll(text, IPV4_DASHED, () => redact(hits, 'ip'));
  if (all || (digits >= 8 && plus))
    text = replaceAll(text, PHONE_INTL, (m) => phoneReplace(m, hits, 8, 15, false));
  if (all || digits >= 9) {
    text = replaceAll(text, PHONE_IDD, (m) => phoneReplace(m, hits, 10, 17, false));
    text = replaceAll(text, PHONE_NANP, () => redact(hits, 'phone'));
    text = replaceAll(text, PHONE_TRUNK, (m) => phoneReplace(m, hits, 9, 15, true));
  }
  return text;
}

/**
 * `scanText` with every detector run on every string, whatever its characters: what the gates of
 * `scanOnce` must not change (exported for the property test only; far slower).
 */
export function scanTextUngated(s: string, hits: PiiHits): string {
  return scanPasses(s, hits, false);
}

/** Redacts every e-mail address, found from its '@' sign (see EMAIL_DOMAIN). */
function scanEmails(text: string, hits: PiiHits): string {
  let out = '';
  let last = 0;
  // A local part never reaches back over an earlier sign: each character is read back once.
  let floor = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    const signLength = c === 64 ? 1 : c === 37 ? percentAtLength(text, i) : 0;
    if (signLength === 0) {
      i++;
      continue;
    }
    let start = i;
    while (start > floor && i - start < 64 && isEmailLocalChar(text, start - 1)) start--;
    scanWork += i - start + 1;
    const domainStart = i + signLength;
    floor = domainStart;
    i = domainStart;
    if (start === domainStart - signLength || !isEmailDomainStart(text, domainStart)) continue;
    EMAIL_DOMAIN.lastIndex = domainStart;
    const m = EMAIL_DOMAIN.exec(text);
    if (m === null) continue;
    const end = domainStart + m[0].length;
    scanWork += m[0].length;
    if (!RETINA.test(m[0])) {
      out += text.slice(last, start) + redact(hits, 'email');
      last = end;
      floor = end;
    }
    i = end;
  }
  return last === 0 ? text : out + text.slice(last);
}

function isEmailLocalChar(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  if (c < 128) return isAlnumCode(c) || EMAIL_LOCAL_PUNCTUATION.has(c);
  return EMAIL_LOCAL_CHAR.test(text[i] as string);
}
const EMAIL_LOCAL_PUNCTUATION = new Set([..."._%+'-"].map((ch) => ch.charCodeAt(0)));

function isEmailDomainStart(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c >= 128 || isAlnumCode(c);
}

/** Length of `%40`, `%2540`, `%252540`, … (an '@' URL-encoded once or more) at `i`; else 0. */
function percentAtLength(text: string, i: number): number {
  let j = i + 1;
  while (text.startsWith('25', j)) j += 2;
  scanWork += j - i;
  return text.startsWith('40', j) ? j + 2 - i : 0;
}

/**
 * Redacts card numbers: runs of digit groups separated by one space, two spaces, '-' or '.',
 * standing alone (not inside an alphanumeric token, not after '+'), where a window of whole groups
 * holds 13–19 digits written as cards are (one run, groups of four, Amex/Diners 4-6-5 / 4-6-4),
 * starts with a card brand digit and passes Luhn. One pass, left to right; from each group at most
 * six groups are read, so the cost is linear whatever the input.
 */
function scanCards(text: string, hits: PiiHits): string {
  let out = '';
  let last = 0;
  let i = 0;
  const n = text.length;
  // Whether position i starts a group that continues a run (it follows a separator).
  let inRun = false;
  while (i < n) {
    const c = text.charCodeAt(i);
    scanWork++;
    if (!isDigitCode(c)) {
      inRun = false;
      i++;
      continue;
    }
    if (!inRun && i > 0 && blocksCardStart(text.charCodeAt(i - 1))) {
      // Digits glued to a word (a hash, an id, a version): skip this group.
      while (i < n && isDigitCode(text.charCodeAt(i))) i++;
      inRun = false;
      continue;
    }
    const end = cardAt(text, i);
    if (end > 0) {
      out += text.slice(last, i) + redact(hits, 'card');
      last = end;
      i = end;
    } else {
      while (i < n && isDigitCode(text.charCodeAt(i))) {
        i++;
        scanWork++;
      }
    }
    const sep = separatorLength(text, i);
    inRun = sep > 0;
    if (inRun) i += sep;
  }
  return last === 0 ? text : out + text.slice(last);
}

function isDigitCode(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isAlnumCode(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function blocksCardStart(c: number): boolean {
  return isAlnumCode(c) || c === 46 || c === 43 || c === 95; // '.', '+', '_'
}

/** Length of a card group separator at `i` that is followed by a digit (' ', '  ', '-', '.'); else 0. */
function separatorLength(text: string, i: number): number {
  const c = text.charCodeAt(i);
  let length = 0;
  if (c === 32) length = text.charCodeAt(i + 1) === 32 ? 2 : 1;
  else if (c === 45 || c === 46) length = 1;
  return length > 0 && isDigitCode(text.charCodeAt(i + length)) ? length : 0;
}

/** The end of the card number that starts at group `start`, or -1 (reads at most six groups). */
function cardAt(text: string, start: number): number {
  // Every window starts with the brand digit: 2–6 (see isCardNumber).
  const brand = text.charCodeAt(start);
  if (brand < 50 || brand > 54) return -1;
  // Group lengths so far: how many, the first two, whether all are fours but the last.
  let groups = 0;
  let first = 0;
  let second = 0;
  let foursBeforeLast = true;
  let digits = 0;
  let dotted = false;
  let j = start;
  for (;;) {
    const groupStart = j;
    while (j < text.length && isDigitCode(text.charCodeAt(j)) && j - groupStart <= 19) j++;
    scanWork += j - groupStart + 1;
    const length = j - groupStart;
    digits += length;
    if (digits > 19) return -1;
    groups++;
    if (groups === 1) first = length;
    else if (groups === 2) second = length;
    // One run; fours with a shorter last group; Amex/Diners 4-6-5 and 4-6-4.
    const grouping =
      groups === 1 ||
      (foursBeforeLast && length <= 4) ||
      (groups === 3 && first === 4 && second === 6 && (length === 5 || length === 4));
    if (
      digits >= 13 &&
      grouping &&
      cardEndsHere(text, start, j, groups === 1 || dotted) &&
      isCardDigits(text, start, j)
    ) {
      return j;
    }
    // Only groups of four (or Amex's 4-6) can grow into a card.
    const growing =
      (foursBeforeLast && length === 4) || (groups === 2 && first === 4 && length === 6);
    if (!growing) return -1;
    foursBeforeLast = foursBeforeLast && length === 4;
    const sep = separatorLength(text, j);
    if (sep === 0) return -1;
    if (text.charCodeAt(j) === 46) dotted = true;
    j += sep;
  }
}

/** Luhn over the digits of text[start, end), separators skipped (the brand is checked by the caller). */
function isCardDigits(text: string, start: number, end: number): boolean {
  let sum = 0;
  let double = false;
  for (let k = end - 1; k >= start; k--) {
    let d = text.charCodeAt(k) - 48;
    if (d < 0 || d > 9) continue;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * A card ends before a separator, punctuation or the end, never glued to a letter or digit; a
 * single run (or a dotted grouping) is not a card when it is part of a decimal number.
 */
function cardEndsHere(text: string, start: number, end: number, decimalRisk: boolean): boolean {
  const next = text.charCodeAt(end);
  if (isAlnumCode(next)) return false;
  if (!decimalRisk) return true;
  if (next === 46 && isDigitCode(text.charCodeAt(end + 1))) return false;
  return !(text.charCodeAt(start - 1) === 46 && isDigitCode(text.charCodeAt(start - 2)));
}

/**
 * The `sk-` family needs a digit (CSS-like names such as "sk-something-long-enough" survive); HTTP
 * Basic credentials must decode to `user:password` ("Basic authentication" is a phrase).
 */
function looksLikeSecret(m: string): boolean {
  if (m.startsWith('sk-')) return /\d/.test(m.slice(3));
  if (m.startsWith('Basic') || m.startsWith('basic')) {
    const encoded = m.slice(5).trim();
    return Buffer.from(encoded, 'base64').toString('latin1').includes(':');
  }
  return true;
}

/** `replace` with a callback costs more than `test` even without a match; most strings are clean. */
function replaceAll(text: string, pattern: RegExp, replacer: (match: string) => string): string {
  scanWork += text.length;
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

function phoneReplace(
  m: string,
  hits: PiiHits,
  minDigits: number,
  maxDigits: number,
  trunk: boolean,
): string {
  // Split into groups and separators; keep the longest prefix that is a plausible number.
  const parts = m.split(/([ .-]{1,2})/);
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
    if (digitCount > maxDigits) break;
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
