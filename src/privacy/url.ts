// URL minimisation: scheme, host and cleaned path; only utm_* parameters; referrers reduced to a domain.
import { isIP } from 'node:net';
import { TwoGenerationMemo } from './pseudonymise.js';
import { count, PLACEHOLDERS, scanText, type PiiHits } from './scanner.js';

/** The part of the privacy policy URL cleaning needs. */
export interface UrlPolicy {
  /** Keep ad click ids (gclid, fbclid, …) in query strings. Off by default. */
  keepClickIds: boolean;
}

/**
 * Ad-platform click and subscriber ids: they identify one click or one e-mail recipient, so they
 * are dropped unless the policy keeps them. mixpanel-browser's CLICK_IDS plus common others.
 */
// prettier-ignore
export const CLICK_ID_PARAMS: ReadonlySet<string> = new Set([
  'dclid', 'fbclid', 'gclid', 'gbraid', 'wbraid', 'gclsrc', 'ko_click_id', 'li_fat_id', 'msclkid',
  'sccid', 'ttclid', 'twclid', 'igshid', 'epik', 'rdt_cid', 'qclid', 'irclid', 'yclid', 'ymclid',
  'mc_eid', 'mc_cid', '_kx', '_hsenc', '_hsmi', 'mkt_tok', 'vero_id', 'oly_enc_id', 's_kwcid',
]);

/** True when a query parameter or property name is a click id (`$initial_gclid` included). */
export function isClickIdKey(name: string): boolean {
  const lower = name.toLowerCase();
  return CLICK_ID_PARAMS.has(lower.replace(/^\$(?:initial_|session_entry_)?/, ''));
}

/**
 * Reduces a URL to scheme, host[:port] and path, with e-mails, phones, IPs, cards, JWTs, secrets
 * and token-like segments redacted in the path (see `cleanUrlPath`), only `utm_*` query parameters
 * (plus click ids if the policy keeps them; their values scanned too), no credentials and no
 * fragment. An IP-literal host becomes `[ip]`. A path-only input (`/pricing?x=1`) is cleaned the
 * same way and stays relative. Returns null when the input is not a URL. Redactions are counted
 * into `hits` when given. Idempotent.
 */
export function cleanUrl(url: string, policy: UrlPolicy, hits: PiiHits = {}): string | null {
  if (url.length > MAX_MEMO_URL) return cleanUrlOnce(url, policy, hits);
  const memo = policy.keepClickIds ? cleanUrlsKeepingClickIds : cleanUrls;
  const known = memo.get(url);
  if (known !== undefined) return known;
  const found: PiiHits = {};
  const out = cleanUrlOnce(url, policy, found);
  let clean = true;
  for (const kind in found) {
    clean = false;
    hits[kind as keyof PiiHits] =
      (hits[kind as keyof PiiHits] ?? 0) + (found[kind as keyof PiiHits] ?? 0);
  }
  if (clean && out !== null) memo.set(url, out);
  return out;
}

/**
 * URLs recur (the pages of a site, its referrers): the cleaned form of each URL in which nothing
 * was found (no e-mail, phone, IP, card, token…), as `scanKey` remembers clean keys, so that the
 * same page costs one lookup instead of a parse and a scan of its path and query (~2.5 µs of the
 * ~10 µs the privacy stage spends on a mixpanel-browser event: issue 16). Bounded (entries and
 * length), in memory only, forgotten within two generations (MEMO_GENERATION_MS) like the
 * pseudonym memo; a URL with a hit is cleaned (and counted) every time, and never kept. One memo
 * per click-id setting, the one part of the policy that cleaning reads.
 */
const URL_MEMO_ENTRIES = 2048;
const MAX_MEMO_URL = 256;
const cleanUrls = new TwoGenerationMemo(URL_MEMO_ENTRIES);
const cleanUrlsKeepingClickIds = new TwoGenerationMemo(URL_MEMO_ENTRIES);

function cleanUrlOnce(url: string, policy: UrlPolicy, hits: PiiHits): string | null {
  const input = url.trim();
  if (input === '') return null;
  if (input.startsWith('/') && !input.startsWith('//')) {
    const pathEnd = firstIndexOf(input, '?', '#');
    const queryEnd = input.indexOf('#') >= 0 ? input.indexOf('#') : input.length;
    const search =
      pathEnd < queryEnd && input[pathEnd] === '?' ? input.slice(pathEnd, queryEnd) : '';
    return cleanUrlPath(input.slice(0, pathEnd), hits) + cleanQuery(search, policy, hits);
  }
  const parts = parseWithWhatwg(input);
  if (parts === null) return null;
  let host = parts.host;
  if (host !== '' && (host.startsWith('[') || isIP(host) !== 0)) {
    count(hits, 'ip', 1);
    host = PLACEHOLDERS.ip;
  }
  const authority = parts.hasAuthority
    ? `//${host}${parts.port === '' ? '' : `:${parts.port}`}`
    : '';
  return (
    parts.scheme +
    authority +
    cleanUrlPath(parts.path, hits) +
    cleanQuery(parts.search, policy, hits)
  );
}

interface UrlParts {
  /** With the colon (`https:`), or '' for a protocol-relative input. */
  scheme: string;
  hasAuthority: boolean;
  host: string;
  port: string;
  path: string;
  /** With the `?`, or ''. */
  search: string;
}

function parseWithWhatwg(input: string): UrlParts | null {
  return fastUrlParts(input) ?? whatwgUrlParts(input);
}

/** The parts of a URL as the WHATWG parser (`new URL`) gives them. */
export function whatwgUrlParts(input: string): UrlParts | null {
  const parsed = parseUrl(input.startsWith('//') ? `https:${input}` : input);
  if (parsed === null) return null;
  const scheme = input.startsWith('//') ? '' : parsed.protocol;
  return {
    scheme,
    hasAuthority: input.slice(scheme.length).startsWith('//'),
    host: parsed.hostname,
    port: parsed.port,
    path: parsed.pathname,
    search: parsed.search,
  };
}

// The common shape of a web URL, for which the WHATWG parser changes nothing but the case of the
// host (checked against `new URL` by a property test): http(s), a host of ASCII letters, digits and
// hyphens whose last label starts with a letter (so not an IPv4 address in any of the numeric
// forms WHATWG accepts) and has no punycode label (which WHATWG validates), no user info, no port,
// a path with only characters that are neither percent-encoded nor special (`\`) and no dot
// segments, a query without characters WHATWG would encode. Anything else takes the full parser.
const FAST_URL =
  /^(https?:)\/\/((?:[A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*)((?:\/[A-Za-z0-9\-._~!$&'()*+,;=:@%]*)*)(\?[A-Za-z0-9\-._~!$&()*+,;=:@%/?]*)?(?:#.*)?$/s;
const DOT_SEGMENT = /\/\.{1,2}(?:\/|$)|%2e/i;

/** `whatwgUrlParts` for the common shape (see FAST_URL), without the parser; null otherwise. */
export function fastUrlParts(input: string): UrlParts | null {
  const m = FAST_URL.exec(input);
  if (m === null) return null;
  const host = (m[2] as string).toLowerCase();
  const path = m[3] ?? '';
  if (host.includes('xn--') || DOT_SEGMENT.test(path)) return null;
  const search = m[4] ?? '';
  return {
    scheme: m[1] as string,
    hasAuthority: true,
    host,
    port: '',
    path: path === '' ? '/' : path,
    search: search.length <= 1 ? '' : search,
  };
}

/**
 * Cleans a URL path segment by segment: matrix parameters (`;jsessionid=…`) are dropped, UUIDs
 * become `[uuid]`, token-like segments `[token]`, and the PII scanner runs on each decoded segment.
 *
 * Why UUIDs go: in paths they are mostly resource ids, but they are also the usual bearer secret
 * of invite, reset, unsubscribe and share links, and often user ids; ASVS 11.5.1 notes that they
 * are not secrets yet they are used as such. Page analytics lose little (`/projects/[uuid]/board`
 * even aggregates better). Short numeric ids (`/orders/1234`) are kept.
 */
export function cleanUrlPath(path: string, hits: PiiHits = {}): string {
  if (path === '' || path === '/') return path;
  const segments = path.split('/');
  let changed = false;
  for (let i = 0; i < segments.length; i++) {
    const raw = segments[i] as string;
    if (raw === '') continue;
    const cleaned = cleanSegment(raw, hits);
    if (cleaned !== raw) {
      segments[i] = cleaned;
      changed = true;
    }
  }
  return changed ? segments.join('/') : path;
}

/**
 * The referring domain of a referrer URL (host name only, lower case), `$direct` unchanged, an IP
 * literal as `[ip]`, a bare domain accepted as is; null when nothing usable remains. The host name
 * is scanned like any string (`203.0.113.37.nip.io` → `[ip].nip.io`), counted into `hits`.
 */
export function referringDomain(url: string, hits: PiiHits = {}): string | null {
  const host = referringHost(url);
  return host === null || host === '$direct' || host === PLACEHOLDERS.ip
    ? host
    : scanText(host, hits);
}

function referringHost(url: string): string | null {
  const input = url.trim();
  if (input === '$direct') return input;
  if (input === '') return null;
  const fast = fastHostname(input);
  if (fast !== null) return fast;
  // A bare host ("www.google.com", "news.example.org:8080/x"), as Mixpanel's $referring_domain is.
  const parsed = BARE_HOST.test(input) ? parseUrl(`https://${input}`) : parseUrl(input);
  const host = parsed?.hostname ?? '';
  if (host === '') return null;
  if (host.startsWith('[') || isIP(host) !== 0) return PLACEHOLDERS.ip;
  return host.toLowerCase().replace(/\.$/, '');
}

const BARE_HOST = /^[A-Za-z0-9.-]+(?::\d+)?(?:[/?#].*)?$/s;

// A referrer's host in the common shapes (`https://www.google.com/…`, or a bare `www.google.com`),
// where WHATWG parsing would only lower the case; see FAST_URL for why these are safe. A port,
// user info, punycode or a numeric last label take the full parser.
const FAST_HOST = /^(?:https?:\/\/)?((?:[A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*)(?:[/?#]|$)/;

/** `referringDomain` for the common shapes (see FAST_HOST), without the parser; null otherwise. */
export function fastHostname(input: string): string | null {
  const m = FAST_HOST.exec(input);
  if (m === null) return null;
  const host = (m[1] as string).toLowerCase();
  return host.includes('xn--') ? null : host;
}
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function cleanSegment(raw: string, hits: PiiHits): string {
  const semicolon = raw.indexOf(';');
  const bare = semicolon >= 0 ? raw.slice(0, semicolon) : raw;
  if (bare === '') return bare;
  const decoded = safeDecode(bare);
  if (UUID.test(decoded)) {
    count(hits, 'uuid', 1);
    return PLACEHOLDERS.uuid;
  }
  // The scanner first, so that typed kinds (a JWT, an e-mail) are reported as such.
  const scanned = scanText(decoded, hits);
  if (isTokenLike(scanned)) {
    count(hits, 'token', 1);
    return PLACEHOLDERS.token;
  }
  return scanned === decoded ? bare : encodeKeepingPlaceholders(scanned);
}

/**
 * Random-looking segments: a long run of digits, or letters and digits mixed inside one long
 * chunk. Slugs ("how-to-ship-2024", "2024_Summer_Olympics") keep words and numbers in separate
 * chunks, so they survive. Letters-only random strings are not detected (rare as tokens).
 */
function isTokenLike(segment: string): boolean {
  if (segment.length < 16) return false;
  if (/^\d{20,}$/.test(segment)) return true;
  const chunks = segment.split(/[-_.~+=,:]/);
  for (const chunk of chunks) {
    if (chunk.length < 8 || !/\d/.test(chunk) || !/[A-Za-z]/.test(chunk)) continue;
    if (chunk.length >= 16 || segment.length >= 20) return true;
  }
  return false;
}

/** `new URL`, without the cost of a thrown exception (several µs) on the many non-URL inputs. */
function parseUrl(input: string): URL | null {
  return URL.canParse(input) ? new URL(input) : null;
}

function cleanQuery(search: string, policy: UrlPolicy, hits: PiiHits): string {
  if (search.length <= 1) return '';
  const kept: string[] = [];
  for (const pair of search.slice(1).split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawKey = eq >= 0 ? pair.slice(0, eq) : pair;
    const key = safeDecode(plusToSpace(rawKey)).toLowerCase();
    const keep = key.startsWith('utm_') || (policy.keepClickIds && CLICK_ID_PARAMS.has(key));
    if (!keep) continue;
    if (eq < 0) {
      kept.push(rawKey);
      continue;
    }
    const rawValue = pair.slice(eq + 1);
    const value = safeDecode(plusToSpace(rawValue));
    const scanned = scanText(value, hits);
    kept.push(scanned === value ? pair : `${rawKey}=${encodeKeepingPlaceholders(scanned)}`);
  }
  return kept.length === 0 ? '' : `?${kept.join('&')}`;
}

function encodeKeepingPlaceholders(text: string): string {
  return encodeURIComponent(text).replace(/%5B/g, '[').replace(/%5D/g, ']');
}

// application/x-www-form-urlencoded: '+' is a space in query strings.
function plusToSpace(text: string): string {
  return text.includes('+') ? text.replace(/\+/g, ' ') : text;
}

function safeDecode(text: string): string {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function firstIndexOf(text: string, a: string, b: string): number {
  const i = text.indexOf(a);
  const j = text.indexOf(b);
  if (i < 0) return j < 0 ? text.length : j;
  return j < 0 ? i : Math.min(i, j);
}

// ---- URLs inside any text (event names, keys, values) ----

// A URL in running text, in the shapes people and SDKs write: any `scheme://…`; a web or script
// scheme with one slash, none, or a space after the colon (`https:/…`, `https: //…`,
// `javascript:…`, to the end of the line); a host name followed by a path, query or fragment (`www.example.com/reset?…`);
// a root-relative path with a query or fragment (`/reset?token=…`). Each stops at whitespace,
// quotes and brackets, as in HTML.
const URL_IN_TEXT = new RegExp(
  [
    '(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,20}:\\/\\/[^\\s"\'<>\\\\^`{|}]*',
    '(?<![A-Za-z0-9+.-])(?:https?|ftps?|wss?|file):(?:\\s{0,3}\\/{0,3})[^\\s"\'<>\\\\^`{|}]*',
    // A script or data URL is code or content: everything after it on the line goes.
    '(?<![A-Za-z0-9+.-])(?:javascript|vbscript):(?!\\s)[^\\n]*',
    '(?<![A-Za-z0-9+.-])data:[\\w.+-]+\\/[\\w.+-]+[;,][^\\n]*',
    '(?<![\\w@.%/-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]{2,24}(?::\\d{1,5})?[/?#][^\\s"\'<>\\\\^`{|}]*',
    '(?<![\\w.:/-])\\/[^\\s?#"\'<>\\\\^`{|}]*[?#][^\\s"\'<>\\\\^`{|}]*',
  ].join('|'),
  'gi',
);
// A query string or fragment left in text outside a URL (a URL cut by a space: `…/reset password
// ?token=…`, `#access_token=…`): `?k=v`, `&k=v`, `#k=v` pairs go
// (an empty value carries nothing and stays), `utm_*` stay.
const QUERY_RESIDUE = /[?#&][A-Za-z0-9_.\-[\]%$]{1,64}=[^\s&#]+/g;
const SCRIPT_SCHEME = /^(?:javascript|vbscript|data):/i;

/**
 * Cleans every URL inside a text, as `cleanUrl` does for a URL property: scheme, host and cleaned
 * path, only `utm_*` parameters, no fragment; script and data URLs keep their scheme only; and any
 * query-string pair left outside a URL is removed. Text without any URL is returned unchanged
 * (the same string). Linear: each pattern starts only at a boundary and stops at whitespace.
 */
export function cleanUrlsInText(text: string, policy: UrlPolicy, hits: PiiHits = {}): string {
  if (!mayHoldUrl(text)) return text;
  let out = text;
  URL_IN_TEXT.lastIndex = 0;
  if (URL_IN_TEXT.test(out)) {
    URL_IN_TEXT.lastIndex = 0;
    out = out.replace(URL_IN_TEXT, (m) => cleanUrlInText(m, policy, hits));
  }
  QUERY_RESIDUE.lastIndex = 0;
  if (QUERY_RESIDUE.test(out)) {
    QUERY_RESIDUE.lastIndex = 0;
    out = out.replace(QUERY_RESIDUE, (pair) =>
      pair.slice(1).toLowerCase().startsWith('utm_') ? pair : '',
    );
  }
  return out;
}

/** Whether a text has any character a URL or a query residue needs (one pass, not five). */
const URL_CHARACTER = /[:/?#&]/;

function mayHoldUrl(text: string): boolean {
  return URL_CHARACTER.test(text);
}

function cleanUrlInText(m: string, policy: UrlPolicy, hits: PiiHits): string {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]{1,20}):/.exec(m);
  if (scheme !== null) {
    const name = (scheme[1] as string).toLowerCase();
    if (SCRIPT_SCHEME.test(m)) {
      if (m.length > scheme[0].length) count(hits, 'token', 1);
      return `${name}:`;
    }
    // `https:/x`, `https: //x`, `https:x` → `https://x`.
    const rest = m.slice(scheme[0].length).replace(/^\s*\/*/, '');
    if (rest === '') return m;
    return cleanUrl(`${name}://${rest}`, policy, hits) ?? `${name}:`;
  }
  if (m.startsWith('/')) return cleanUrl(m, policy, hits) ?? '';
  const cleaned = cleanUrl(`https://${m}`, policy, hits);
  if (cleaned === null) return m.replace(/[?#].*$/s, '');
  const bare = cleaned.slice('https://'.length);
  // `index.html?x=1` has no path: do not add the '/' that URL parsing gives it.
  return m.includes('/') ? bare : bare.replace(/\/(?=\?|$)/, '');
}
