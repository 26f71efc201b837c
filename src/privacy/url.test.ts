// Tests for URL minimisation and referring domains.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scannerWork, type PiiHits } from './scanner.js';
import { cleanUrl, cleanUrlPath, isClickIdKey, referringDomain } from './url.js';

const SEED = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = { seed: SEED, numRuns: Number(process.env.FC_RUNS ?? 400) };
const STRICT = { keepClickIds: false };

describe('cleanUrl', () => {
  const cases: Array<[string, string, string | null]> = [
    [
      'keeps scheme, host, path and utm_*',
      'https://www.example.com/pricing?utm_source=news&utm_medium=email&ref=abc',
      'https://www.example.com/pricing?utm_source=news&utm_medium=email',
    ],
    [
      'drops the fragment',
      'https://app.example.com/#/settings?access_token=abc',
      'https://app.example.com/',
    ],
    [
      'drops credentials, keeps the port',
      'https://user:hunter2@Example.COM:8443/a',
      'https://example.com:8443/a',
    ],
    [
      'drops click ids',
      'https://example.com/?gclid=Cj0KCQ&fbclid=IwAR&utm_campaign=spring',
      'https://example.com/?utm_campaign=spring',
    ],
    [
      'redacts e-mails in the path',
      'https://example.com/users/jane.doe@example.com/edit',
      'https://example.com/users/[email]/edit',
    ],
    [
      'redacts percent-encoded e-mails in the path',
      'https://example.com/u/jane%40example.com',
      'https://example.com/u/[email]',
    ],
    [
      'redacts PII in utm values',
      'https://example.com/?utm_content=jane%40example.com',
      'https://example.com/?utm_content=[email]',
    ],
    [
      'redacts UUID segments',
      'https://app.example.com/invite/550e8400-e29b-41d4-a716-446655440000',
      'https://app.example.com/invite/[uuid]',
    ],
    [
      'redacts token-like segments',
      'https://example.com/reset/5j2-8a8e3f7b5c0d1e2f3a4b',
      'https://example.com/reset/[token]',
    ],
    [
      'redacts random ids with - and _',
      'https://example.com/s/V1StGXR8_Z5jdHi6B-myT',
      'https://example.com/s/[token]',
    ],
    [
      'redacts 32+ hex segments',
      `https://example.com/verify/${'a1b2c3d4'.repeat(4)}`,
      'https://example.com/verify/[token]',
    ],
    [
      'redacts JWTs in the path',
      'https://example.com/magic/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl',
      'https://example.com/magic/[jwt]',
    ],
    [
      'drops matrix parameters',
      'https://shop.example.com/cart;jsessionid=1A2B3C4D5E6F7G8H/checkout',
      'https://shop.example.com/cart/checkout',
    ],
    [
      'keeps slugs and short numeric ids',
      'https://blog.example.com/2024/03/how-to-ship-faster-in-2024/comments/1234',
      'https://blog.example.com/2024/03/how-to-ship-faster-in-2024/comments/1234',
    ],
    [
      'keeps title-case slugs',
      'https://en.wikipedia.org/wiki/2024_Summer_Olympics',
      'https://en.wikipedia.org/wiki/2024_Summer_Olympics',
    ],
    [
      'keeps hashed asset names',
      'https://cdn.example.com/assets/main.3f2a9c1b.js',
      'https://cdn.example.com/assets/main.3f2a9c1b.js',
    ],
    ['replaces an IP host', 'http://192.168.1.20:3000/dashboard', 'http://[ip]:3000/dashboard'],
    ['replaces an IPv6 host', 'http://[2001:db8::1]/x', 'http://[ip]/x'],
    ['cleans a relative path', '/pricing?utm_source=x&q=secret#top', '/pricing?utm_source=x'],
    ['cleans a protocol-relative URL', '//cdn.example.com/a?x=1', '//cdn.example.com/a'],
    ['cleans mailto:', 'mailto:jane@example.com', 'mailto:[email]'],
    [
      'cleans file: paths',
      'file:///Users/jane/Documents/report.html',
      'file:///Users/jane/Documents/report.html',
    ],
    [
      'keeps app schemes with their host',
      'android-app://com.example.app/path',
      'android-app://com.example.app/path',
    ],
    [
      'reduces data: URLs',
      'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==',
      'data:text/html',
    ],
    ['returns null for a non-URL', 'not a url', null],
    ['returns null for invalid punycode', 'http://xn--0.com/', null],
    ['returns null for an empty string', '   ', null],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    expect(cleanUrl(input, STRICT)).toBe(expected);
  });

  it('keeps click ids when the policy says so', () => {
    expect(
      cleanUrl('https://example.com/?gclid=abc&x=1&utm_source=g', { keepClickIds: true }),
    ).toBe('https://example.com/?gclid=abc&utm_source=g');
  });

  it('counts what it redacted', () => {
    const hits: PiiHits = {};
    cleanUrl(
      'http://10.0.0.1/u/jane@example.com/550e8400-e29b-41d4-a716-446655440000',
      STRICT,
      hits,
    );
    expect(hits).toEqual({ ip: 1, email: 1, uuid: 1 });
  });
});

describe('cleanUrlPath', () => {
  it('cleans segment by segment and keeps what is clean as it was', () => {
    expect(cleanUrlPath('/a%20b/c')).toBe('/a%20b/c');
    expect(cleanUrlPath('/users/+33612345678/call')).toBe('/users/[phone]/call');
    expect(cleanUrlPath('')).toBe('');
  });
});

describe('referringDomain', () => {
  it.each([
    ['https://www.google.com/search?q=jane+doe', 'www.google.com'],
    ['https://News.Ycombinator.com/item?id=1', 'news.ycombinator.com'],
    ['$direct', '$direct'],
    ['www.bing.com', 'www.bing.com'],
    ['android-app://com.google.android.gm/', 'com.google.android.gm'],
    ['http://10.1.2.3/x', '[ip]'],
    ['', null],
    ['not a domain at all', null],
  ])('%s → %s', (input, expected) => {
    expect(referringDomain(input)).toBe(expected);
  });
});

describe('isClickIdKey', () => {
  it('recognises click ids and their $initial_ variants', () => {
    for (const key of [
      'gclid',
      'fbclid',
      'dclid',
      'ko_click_id',
      'li_fat_id',
      'msclkid',
      'sccid',
      'ttclid',
      'twclid',
      'wbraid',
      '$initial_gclid',
      'GCLID',
    ]) {
      expect(isClickIdKey(key)).toBe(true);
    }
    expect(isClickIdKey('utm_source')).toBe(false);
  });
});

// A curated set of PII values (the scanner tests generate them; here they are planted in URLs).
const PII = [
  'jane.doe@example.com',
  'JOHN+tag@Mail.Example.co.uk',
  '+33 6 12 34 56 78',
  '+14155552671',
  '4111 1111 1111 1111',
  '378282246310005',
  'GB82WEST12345698765432',
  '203.0.113.42',
  '2001:db8:85a3::8a2e:370:7334',
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
  'sk_live_51HxYzAbCdEfGhIjKlMn',
  'AKIAIOSFODNN7EXAMPLE',
];

describe(`cleanUrl properties (fast-check seed ${SEED}; rerun with FC_SEED=${SEED})`, () => {
  // (Not punycode: an invalid xn-- label makes the URL malformed, which is tested above.)
  const label = fc
    .stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/)
    .filter((l) => !l.startsWith('xn--'));
  const segment = fc.oneof(
    fc.stringMatching(/^[a-z0-9-]{1,20}$/),
    fc.uuid(),
    fc.stringMatching(/^[A-Za-z0-9_-]{21,40}$/),
    fc.constantFrom(...PII).map(encodeURIComponent),
    fc.constantFrom(...PII.filter((p) => !/[\s/]/.test(p))),
  );
  const param = fc.tuple(
    fc.oneof(
      fc.constantFrom('utm_source', 'utm_content', 'gclid', 'email', 'token', 'q'),
      fc.stringMatching(/^[a-z]{1,8}$/),
    ),
    fc.oneof(
      fc.stringMatching(/^[a-z0-9]{0,12}$/),
      fc.constantFrom(...PII).map(encodeURIComponent),
    ),
  );
  const url = fc
    .tuple(
      fc.constantFrom('http', 'https', 'HTTPS'),
      fc.array(label, { minLength: 1, maxLength: 3 }),
      fc.array(segment, { maxLength: 5 }),
      fc.array(param, { maxLength: 4 }),
      fc.option(fc.constantFrom(...PII).map(encodeURIComponent)),
    )
    .map(([scheme, labels, segments, params, fragment]) => {
      const query = params.length === 0 ? '' : `?${params.map(([k, v]) => `${k}=${v}`).join('&')}`;
      return `${scheme}://${labels.join('.')}.com/${segments.join('/')}${query}${fragment === null ? '' : `#${fragment}`}`;
    });

  it('is idempotent', () => {
    fc.assert(
      fc.property(url, fc.boolean(), (u, keepClickIds) => {
        const once = cleanUrl(u, { keepClickIds });
        expect(once).not.toBeNull();
        expect(cleanUrl(once as string, { keepClickIds })).toBe(once);
      }),
      RUNS,
    );
  });

  it('leaves no planted PII, plain or percent-encoded, and only utm_* parameters', () => {
    fc.assert(
      fc.property(url, (u) => {
        const out = cleanUrl(u, STRICT) as string;
        const decoded = decodeURIComponent(out);
        for (const pii of PII) {
          expect(decoded.toLowerCase()).not.toContain(pii.toLowerCase());
          expect(out.toLowerCase()).not.toContain(encodeURIComponent(pii).toLowerCase());
        }
        expect(out).not.toContain('#');
        const query = out.includes('?') ? out.slice(out.indexOf('?') + 1).split('&') : [];
        for (const pair of query) expect(pair.toLowerCase()).toMatch(/^utm_/);
      }),
      RUNS,
    );
  });
});

describe('cleanUrl memo', () => {
  it('cleans a URL in which nothing was found once; one with PII is scanned and counted every time', () => {
    // A path segment long enough for the detectors to read it (scannerWork counts what they read).
    const url = `https://shop.example.com/orders/${'7'.repeat(12)}x/list?utm_source=news&ref=abc`;
    const first = cleanUrl(url, STRICT);
    const before = scannerWork();
    expect(cleanUrl(url, STRICT)).toBe(first);
    expect(scannerWork() - before).toBe(0);
    // The memo is per click-id setting: the other setting cleans (and keeps) its own form.
    expect(cleanUrl(`${url}&gclid=Cj0`, { keepClickIds: true })).toBe(`${first}&gclid=Cj0`);

    const withPii = 'https://shop.example.com/u/jane.doe@example.com/settings';
    for (let i = 0; i < 2; i++) {
      const hits: PiiHits = {};
      const work = scannerWork();
      expect(cleanUrl(withPii, STRICT, hits)).toBe('https://shop.example.com/u/[email]/settings');
      expect(hits).toEqual({ email: 1 });
      expect(scannerWork()).toBeGreaterThan(work);
    }
  });
});
