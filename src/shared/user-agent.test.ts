// User-agent parsing: a table of real user agents, agreement with mixpanel-browser's names, cache.
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UserAgentParser, parseUserAgent, type UserAgentInfo } from './user-agent.js';

/** mixpanel-browser's own `_.info` (the helper that sets `$browser` in the browser). */
interface MixpanelInfo {
  browser(ua: string, vendor: string, opera?: unknown): string;
  browserVersion(ua: string, vendor: string, opera?: unknown): number | null;
}
const mixpanelBrowser = createRequire(import.meta.url)('mixpanel-browser') as {
  _: { info: MixpanelInfo };
};
const mixpanelInfo = mixpanelBrowser._.info;

const APPLE = 'Apple Computer, Inc.';
const GOOGLE = 'Google Inc.';

interface Case {
  name: string;
  ua: string;
  expected: UserAgentInfo;
  /** `navigator.vendor` of that browser, when mixpanel-browser is expected to agree with us. */
  mixpanelVendor?: string;
}

const info = (
  browser: string | null,
  browserVersion: string | null,
  os: string | null,
  deviceType: UserAgentInfo['deviceType'],
): UserAgentInfo => ({ browser, browserVersion, os, deviceType });

const CASES: Case[] = [
  {
    name: 'Chrome on Windows',
    ua: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    expected: info('Chrome', '120', 'Windows', 'desktop'),
    mixpanelVendor: GOOGLE,
  },
  {
    name: 'Chrome on macOS',
    ua: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    expected: info('Chrome', '120', 'Mac OS X', 'desktop'),
    mixpanelVendor: GOOGLE,
  },
  {
    name: 'Chrome on Linux',
    ua: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    expected: info('Chrome', '120', 'Linux', 'desktop'),
    mixpanelVendor: GOOGLE,
  },
  {
    name: 'Chrome on Chrome OS',
    ua: 'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    expected: info('Chrome', '120', 'Chrome OS', 'desktop'),
    mixpanelVendor: GOOGLE,
  },
  {
    name: 'Firefox on Windows',
    ua: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0',
    expected: info('Firefox', '121', 'Windows', 'desktop'),
    mixpanelVendor: '',
  },
  {
    name: 'Firefox on macOS',
    ua: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0',
    expected: info('Firefox', '121', 'Mac OS X', 'desktop'),
    mixpanelVendor: '',
  },
  {
    name: 'Firefox on Ubuntu',
    ua: 'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
    expected: info('Firefox', '121', 'Linux', 'desktop'),
    mixpanelVendor: '',
  },
  {
    name: 'Safari on macOS',
    ua: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15',
    expected: info('Safari', '17', 'Mac OS X', 'desktop'),
    mixpanelVendor: APPLE,
  },
  {
    name: 'Edge (Chromium) on Windows',
    ua: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91',
    expected: info('Microsoft Edge', '120', 'Windows', 'desktop'),
    mixpanelVendor: GOOGLE,
  },
  {
    name: 'Edge (legacy EdgeHTML) on Windows',
    ua: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19582',
    expected: info('Microsoft Edge', '18', 'Windows', 'desktop'),
    mixpanelVendor: '',
  },
  {
    name: 'Opera on Windows',
    ua: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0',
    expected: info('Opera', '106', 'Windows', 'desktop'),
    mixpanelVendor: GOOGLE,
  },
  {
    name: 'Internet Explorer 11',
    ua: 'Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko',
    expected: info('Internet Explorer', '11', 'Windows', 'desktop'),
    mixpanelVendor: '',
  },
  {
    name: 'Safari on iPhone',
    ua: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
    expected: info('Mobile Safari', '17', 'iOS', 'mobile'),
    mixpanelVendor: APPLE,
  },
  {
    name: 'Chrome on iPhone',
    ua: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1',
    expected: info('Chrome iOS', '120', 'iOS', 'mobile'),
    mixpanelVendor: APPLE,
  },
  {
    name: 'Firefox on iPhone',
    ua: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15',
    expected: info('Firefox iOS', '121', 'iOS', 'mobile'),
    mixpanelVendor: APPLE,
  },
  {
    name: 'Facebook in-app browser on iPhone',
    ua: 'Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/16.6;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]',
    expected: info('Facebook Mobile', null, 'iOS', 'mobile'),
    mixpanelVendor: APPLE,
  },
  {
    name: 'Safari on iPad',
    ua: 'Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
    expected: info('Mobile Safari', '17', 'iOS', 'tablet'),
    mixpanelVendor: APPLE,
  },
  {
    name: 'Chrome on an Android phone',
    ua: 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36',
    expected: info('Chrome', '120', 'Android', 'mobile'),
    mixpanelVendor: GOOGLE,
  },
  {
    name: 'Chrome on an Android tablet',
    ua: 'Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    expected: info('Chrome', '120', 'Android', 'tablet'),
    mixpanelVendor: GOOGLE,
  },
  {
    name: 'Android WebView',
    ua: 'Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230805.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.144 Mobile Safari/537.36',
    expected: info('Chrome', '120', 'Android', 'mobile'),
    mixpanelVendor: GOOGLE,
  },
  {
    name: 'Firefox on Android',
    ua: 'Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0',
    // mixpanel-browser says "Android Mobile": its Android check comes before its Firefox check.
    expected: info('Firefox', '121', 'Android', 'mobile'),
  },
  {
    name: 'Samsung Internet',
    ua: 'Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36',
    expected: info('Samsung Internet', '23', 'Android', 'mobile'),
    mixpanelVendor: GOOGLE,
  },
  {
    name: 'UC Browser on Android',
    ua: 'Mozilla/5.0 (Linux; U; Android 10; en-US; RMX1911 Build/QKQ1.200209.002) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/78.0.3904.108 UCBrowser/13.4.0.1306 Mobile Safari/537.36',
    // mixpanel-browser says "Chrome" here: its Chrome check comes before its UC Browser check.
    expected: info('UC Browser', '13', 'Android', 'mobile'),
  },
  {
    name: 'Opera Mini',
    ua: 'Opera/9.80 (Android; Opera Mini/36.2.2254/119.132; U; id) Presto/2.12.423 Version/12.16',
    expected: info('Opera Mini', '12', 'Android', 'mobile'),
  },
  {
    name: 'NAVER Whale',
    ua: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Whale/3.23.214.10 Safari/537.36',
    expected: info('Whale Browser', '3', 'Windows', 'desktop'),
    mixpanelVendor: GOOGLE,
  },
  {
    name: 'Edge on iPhone (Mixpanel: "Mobile Safari"; we keep the real browser)',
    ua: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 EdgiOS/120.0.2210.126 Mobile/15E148 Safari/605.1.15',
    expected: info('Microsoft Edge', '120', 'iOS', 'mobile'),
  },
  {
    name: 'Vivaldi (no Mixpanel name; Mixpanel says "Chrome")',
    ua: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Vivaldi/6.5.3206.48',
    expected: info('Vivaldi', '6', 'Windows', 'desktop'),
  },
  {
    name: 'Samsung smart TV',
    ua: 'Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 85.0.4183.93/6.0 TV Safari/537.36',
    expected: info('Tizen', null, 'Tizen', 'tv'),
  },
  {
    name: 'Cubot phone (a brand, not a bot)',
    ua: 'Mozilla/5.0 (Linux; Android 11; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36',
    expected: info('Chrome', '120', 'Android', 'mobile'),
  },
  {
    name: 'Googlebot',
    ua: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
    expected: info('Googlebot', '2', null, 'bot'),
  },
  {
    name: 'Googlebot smartphone',
    ua: 'Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.216 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
    expected: info('Googlebot', '2', 'Android', 'bot'),
  },
  {
    name: 'bingbot',
    ua: 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
    expected: info('BingCrawler', '2', null, 'bot'),
  },
  {
    name: 'AhrefsBot (not in bowser: caught by the generic pattern)',
    ua: 'Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)',
    expected: info(null, null, null, 'bot'),
  },
  {
    name: 'Headless Chrome',
    ua: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.28 Safari/537.36',
    expected: info('Chrome', '120', 'Linux', 'bot'),
  },
  {
    name: 'native app HTTP client (an app token, not a browser)',
    ua: 'ShopApp/4.2.1 (iPhone; iOS 17.2; Scale/3.00)',
    expected: info(null, null, 'iOS', 'mobile'),
  },
  { name: 'curl', ua: 'curl/8.4.0', expected: info(null, null, null, null) },
  { name: 'python-requests', ua: 'python-requests/2.31.0', expected: info(null, null, null, null) },
  { name: 'posthog-node', ua: 'posthog-node/3.1.0', expected: info(null, null, null, null) },
  { name: 'empty', ua: '', expected: info(null, null, null, null) },
  { name: 'blank', ua: '   ', expected: info(null, null, null, null) },
  {
    name: 'garbage',
    ua: '\u0000\u00ff$$$ not a browser ###',
    expected: info(null, null, null, null),
  },
];

describe('parseUserAgent', () => {
  it.each(CASES)('$name', ({ ua, expected }) => {
    expect(parseUserAgent(ua)).toEqual(expected);
  });

  it('gives all-null fields for null', () => {
    expect(parseUserAgent(null)).toEqual(info(null, null, null, null));
  });

  it.each(CASES.filter((c) => c.mixpanelVendor !== undefined))(
    'names $name as mixpanel-browser does',
    ({ ua, mixpanelVendor }) => {
      const vendor = mixpanelVendor ?? '';
      const ours = parseUserAgent(ua);
      expect(ours.browser).toBe(mixpanelInfo.browser(ua, vendor));
      const theirs = mixpanelInfo.browserVersion(ua, vendor);
      expect(ours.browserVersion).toBe(theirs === null ? null : String(Math.trunc(theirs)));
    },
  );

  it('returns frozen results', () => {
    const result = parseUserAgent(CASES[0]!.ua);
    expect(Object.isFrozen(result)).toBe(true);
  });

  it('never throws and keeps its output shape on arbitrary input', () => {
    const parser = new UserAgentParser({ cacheSize: 50 });
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (ua) => {
        const r = parser.parse(ua);
        expect(r.browserVersion === null || /^\d+$/.test(r.browserVersion)).toBe(true);
        expect([null, 'desktop', 'mobile', 'tablet', 'tv', 'bot']).toContain(r.deviceType);
        for (const value of [r.browser, r.os]) {
          expect(value === null || (typeof value === 'string' && value !== '')).toBe(true);
        }
      }),
    );
  });
});

describe('UserAgentParser cache', () => {
  const [a = '', b = '', c = ''] = CASES.map((x) => x.ua);

  it('answers a repeated user agent from the cache (same object)', () => {
    const parser = new UserAgentParser({ cacheSize: 10 });
    const first = parser.parse(a);
    // A copy with a different identity, so the hit is by value, as with header strings.
    expect(parser.parse(`${a} `.trimEnd())).toBe(first);
  });

  it('evicts the least recently used entry past its bound', () => {
    const parser = new UserAgentParser({ cacheSize: 2 });
    const ra = parser.parse(a);
    const rb = parser.parse(b);
    expect(parser.parse(a)).toBe(ra); // a is now the most recent
    parser.parse(c); // evicts b
    expect(parser.parse(a)).toBe(ra);
    const rb2 = parser.parse(b);
    expect(rb2).not.toBe(rb);
    expect(rb2).toEqual(rb);
  });

  it('parses over-long user agents on their start, without caching them', () => {
    const parser = new UserAgentParser({ cacheSize: 10 });
    const long = `${a} ${'x'.repeat(5_000)}`;
    const first = parser.parse(long);
    expect(first).toEqual(info('Chrome', '120', 'Windows', 'desktop'));
    expect(parser.parse(long)).not.toBe(first);
  });

  it('rejects a non-positive cache size', () => {
    expect(() => new UserAgentParser({ cacheSize: 0 })).toThrow(RangeError);
  });
});
