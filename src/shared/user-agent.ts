// User-agent parsing with bowser into Mixpanel's `$browser` / `$os` names, behind a bounded cache.
import { BROWSER_MAP, parse as bowserParse, type ParsedResult } from 'bowser';
import { LruCache } from './lru.js';

/** Coarse device class. `bot` marks self-declared crawlers, previewers and headless browsers. */
export type DeviceType = 'desktop' | 'mobile' | 'tablet' | 'tv' | 'bot';

/**
 * What a user-agent string reveals, reduced to the four values Sillage keeps. The raw string is
 * never stored, logged or put into an error; only these values leave this module.
 */
export interface UserAgentInfo {
  /** Mixpanel's `$browser` name where Mixpanel has one (`Chrome`, `Mobile Safari`, …). */
  readonly browser: string | null;
  /** Major version only (`"120"`): minor and patch numbers add fingerprinting precision. */
  readonly browserVersion: string | null;
  /** Mixpanel's `$os` name where Mixpanel has one (`Windows`, `Mac OS X`, `iOS`, …). */
  readonly os: string | null;
  readonly deviceType: DeviceType | null;
}

/** Distinct user agents kept parsed; the same few hundred strings make most of the traffic. */
export const DEFAULT_USER_AGENT_CACHE_SIZE = 5_000;

/**
 * Longer strings are parsed on their first characters and not cached. Real user agents stay well
 * under this; the bound keeps the cache's memory bounded (about 10 MB at the default size) and
 * bowser's regular expressions away from header-sized input.
 */
const MAX_USER_AGENT_LENGTH = 1_024;

const UNKNOWN: UserAgentInfo = Object.freeze({
  browser: null,
  browserVersion: null,
  os: null,
  deviceType: null,
});

/**
 * Every name bowser's browser descriptors can return. When none matches, bowser falls back to the
 * UA's first `name/version` token: `Mozilla` for most crawlers, an app's own name for native
 * apps. Those are not browsers, and an app token may carry anything, so they become null. The
 * four extras are literal names in bowser's descriptors that its BROWSER_MAP lacks.
 */
const KNOWN_BROWSERS: ReadonlySet<string> = new Set([
  ...Object.values(BROWSER_MAP),
  'Miui',
  'Opera Touch',
  'PlayStation 4',
  'SlimerJS',
]);

/** bowser name → mixpanel-browser name (`_.info.browser` in mixpanel-browser's src/utils.js). */
const BROWSER_NAMES: ReadonlyMap<string, string> = new Map([
  ['Samsung Internet for Android', 'Samsung Internet'],
  ['NAVER Whale Browser', 'Whale Browser'],
  ['Android Browser', 'Android Mobile'],
]);

/** bowser name → mixpanel-browser name (`_.info.os`). The others are already the same. */
const OS_NAMES: ReadonlyMap<string, string> = new Map([['macOS', 'Mac OS X']]);

const DEVICE_TYPES: ReadonlySet<string> = new Set<DeviceType>([
  'desktop',
  'mobile',
  'tablet',
  'tv',
  'bot',
]);

/**
 * Crawlers bowser does not list, and headless browsers (which bowser reports as plain Chrome).
 * `(?<!cu)bot(?![a-z])` matches `Googlebot/2.1`, `AhrefsBot`, `bot_version` but not `CUBOT`, a
 * phone brand, nor words that merely contain "bot". HTTP libraries (`curl`, `python-requests`,
 * the server SDKs) are deliberately not bots: server-side integrations send users' events with
 * them, so they yield an unknown device rather than a bot.
 */
const BOT_PATTERN =
  /(?<!cu)bot(?![a-z])|spider|crawl|slurp|headlesschrome|phantomjs|lighthouse|facebookexternalhit|ia_archiver|mediapartners-google|google-inspectiontool|bingpreview/i;

function nonEmpty(value: string | undefined): string | null {
  return value === undefined || value === '' ? null : value;
}

function majorVersion(version: string | undefined): string | null {
  if (version === undefined) return null;
  return /^\d+/.exec(version)?.[0] ?? null;
}

/**
 * Mixpanel's name for the browser bowser found. mixpanel-browser decides by substrings of the UA
 * and `navigator.vendor`; bowser's detection is more thorough, so it decides the family and this
 * function only renames it. Browsers Mixpanel has no name for keep bowser's name (Vivaldi,
 * Yandex Browser, …) where mixpanel-browser would have said "Chrome".
 */
function browserName(bowserName: string | null, os: string | null, ua: string): string | null {
  if (bowserName === null) return null;
  switch (bowserName) {
    case 'Chrome':
      // CriOS: every iOS browser is WebKit; Mixpanel names Chrome there "Chrome iOS".
      return os === 'iOS' ? 'Chrome iOS' : 'Chrome';
    case 'Firefox':
      return os === 'iOS' ? 'Firefox iOS' : 'Firefox';
    case 'Safari':
      // Facebook's in-app browser on iOS, which bowser reports as Safari.
      if (ua.includes('FBIOS')) return 'Facebook Mobile';
      // Mixpanel: vendor Apple and "Mobile" in the UA (iPhone, iPad, iPod; not iPadOS desktop).
      return ua.includes('Mobile') ? 'Mobile Safari' : 'Safari';
    case 'Opera':
      return ua.includes('Opera Mini') ? 'Opera Mini' : 'Opera';
    case 'Internet Explorer':
      return ua.includes('IEMobile') ? 'Internet Explorer Mobile' : 'Internet Explorer';
    default:
      return BROWSER_NAMES.get(bowserName) ?? bowserName;
  }
}

function parseUncached(ua: string): UserAgentInfo {
  if (ua.trim() === '') return UNKNOWN;
  let parsed: ParsedResult;
  try {
    parsed = bowserParse(ua);
  } catch {
    // bowser throws on input it cannot start on; an unparseable UA is just unknown.
    return UNKNOWN;
  }
  const rawOs = nonEmpty(parsed.os.name);
  const os = rawOs === null ? null : (OS_NAMES.get(rawOs) ?? rawOs);
  const bowserName = nonEmpty(parsed.browser.name);
  const browser = browserName(
    bowserName !== null && KNOWN_BROWSERS.has(bowserName) ? bowserName : null,
    os,
    ua,
  );
  const platform = parsed.platform.type;
  const deviceType: DeviceType | null =
    platform === 'bot' || BOT_PATTERN.test(ua)
      ? 'bot'
      : platform !== undefined && DEVICE_TYPES.has(platform)
        ? (platform as DeviceType)
        : null;
  const browserVersion =
    browser === null || browser === 'Facebook Mobile' ? null : majorVersion(parsed.browser.version);
  if (browser === null && os === null && deviceType === null) return UNKNOWN;
  return Object.freeze({ browser, browserVersion, os, deviceType });
}

/** Options for {@link UserAgentParser}. */
export interface UserAgentParserOptions {
  /** Distinct user agents to keep parsed (LRU). Default {@link DEFAULT_USER_AGENT_CACHE_SIZE}. */
  cacheSize?: number;
}

/**
 * Parses user agents with a bounded LRU cache keyed by the UA string. Results are frozen and
 * shared between callers. Never throws, never logs.
 */
export class UserAgentParser {
  private readonly cache: LruCache<string, UserAgentInfo>;

  constructor(options: UserAgentParserOptions = {}) {
    this.cache = new LruCache(options.cacheSize ?? DEFAULT_USER_AGENT_CACHE_SIZE);
  }

  /** Parses `ua`; null, empty and unrecognisable strings give all-null fields. */
  parse(ua: string | null | undefined): UserAgentInfo {
    if (ua === null || ua === undefined || ua === '') return UNKNOWN;
    if (ua.length > MAX_USER_AGENT_LENGTH) return parseUncached(ua.slice(0, MAX_USER_AGENT_LENGTH));
    const cached = this.cache.get(ua);
    if (cached !== undefined) return cached;
    const info = parseUncached(ua);
    this.cache.set(ua, info);
    return info;
  }
}

const SHARED_PARSER = new UserAgentParser();

/**
 * Parses a User-Agent header into Mixpanel-style `$browser`, `$browser_version` (major only),
 * `$os` and a device type, through a process-wide cache of {@link DEFAULT_USER_AGENT_CACHE_SIZE}.
 */
export function parseUserAgent(ua: string | null): UserAgentInfo {
  return SHARED_PARSER.parse(ua);
}
