// The URL fast paths must agree with the WHATWG parser on every input they accept.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fastHostname, fastUrlParts, whatwgUrlParts } from './url.js';

const SEED = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = { seed: SEED, numRuns: Number(process.env.FC_RUNS ?? 3000) };

/** What `referringDomain` computed before the fast path, for the inputs the fast path takes. */
function whatwgHostname(input: string): string | null {
  const bare = /^[A-Za-z0-9.-]+(?::\d+)?(?:[/?#].*)?$/s.test(input);
  const candidate = bare ? `https://${input}` : input;
  if (!URL.canParse(candidate)) return null;
  return new URL(candidate).hostname.toLowerCase().replace(/\.$/, '');
}

// Pieces that stress the corners: case, ports, user info, IPv4 in its numeric forms, punycode,
// dot segments (plain and encoded), backslashes, characters WHATWG percent-encodes, whitespace.
const piece = fc.constantFrom(
  'https://',
  'http://',
  'HTTP://',
  'ftp://',
  '//',
  'www',
  'example',
  'Example',
  'COM',
  'com',
  'xn--bcher-kva',
  '0x7f',
  '127',
  '1',
  '0',
  '.',
  '..',
  '-',
  '/',
  '\\',
  ':',
  ':443',
  ':8080',
  ':0',
  '@',
  'user:pw@',
  '?',
  '&',
  '=',
  '#',
  '%',
  '%2e',
  '%2E',
  '%41',
  ' ',
  '\t',
  '\n',
  '"',
  "'",
  '<',
  '>',
  '`',
  '{',
  '}',
  '|',
  '^',
  '[',
  ']',
  'é',
  '中',
  'utm_source',
  'a',
  'b1',
  '_',
  '~',
  ';',
  '!',
);
const urlish = fc.array(piece, { maxLength: 14 }).map((parts) => parts.join(''));
const realistic = fc
  .tuple(
    fc.constantFrom('https://', 'http://', ''),
    fc.array(fc.stringMatching(/^[A-Za-z0-9-]{1,8}$/), { minLength: 1, maxLength: 4 }),
    fc.array(fc.stringMatching(/^[A-Za-z0-9._~%!$&'()*+,;=:@-]{0,8}$/), { maxLength: 4 }),
    fc.option(fc.stringMatching(/^[A-Za-z0-9._~%!$&()*+,;=:@/?'" -]{0,16}$/)),
    fc.option(fc.string({ maxLength: 6 })),
  )
  .map(
    ([scheme, labels, segments, query, fragment]) =>
      `${scheme}${labels.join('.')}${segments.map((s) => `/${s}`).join('')}` +
      `${query === null ? '' : `?${query}`}${fragment === null ? '' : `#${fragment}`}`,
  );
const input = fc.oneof(urlish, realistic, fc.string({ maxLength: 40 }));

describe('URL fast paths (FC_SEED=' + SEED + ')', () => {
  it('fastUrlParts equals the WHATWG parts whenever it answers', () => {
    fc.assert(
      fc.property(input, (url) => {
        const fast = fastUrlParts(url);
        if (fast !== null) expect(fast).toEqual(whatwgUrlParts(url));
      }),
      RUNS,
    );
  });

  it('fastHostname equals the WHATWG hostname whenever it answers', () => {
    fc.assert(
      fc.property(input, (url) => {
        const fast = fastHostname(url);
        if (fast !== null) expect(fast).toBe(whatwgHostname(url));
      }),
      RUNS,
    );
  });

  it('takes the common shapes', () => {
    expect(fastUrlParts('https://shop.example.com/products/12?utm_source=news&ref=abc')).toEqual({
      scheme: 'https:',
      hasAuthority: true,
      host: 'shop.example.com',
      port: '',
      path: '/products/12',
      search: '?utm_source=news&ref=abc',
    });
    expect(fastUrlParts('https://Example.com')?.path).toBe('/');
    expect(fastHostname('https://www.google.com/search?q=shoes')).toBe('www.google.com');
    expect(fastHostname('www.google.com')).toBe('www.google.com');
  });

  it('leaves the corner cases to the full parser', () => {
    for (const url of [
      'https://user:pw@example.com/',
      'https://example.com:8443/',
      'https://127.0.0.1/',
      'https://0x7f.1/',
      'https://xn--bcher-kva.example/',
      'https://example.com/a/../b',
      'https://example.com/a/%2e%2e/b',
      'https://example.com/a b',
      'https://example.com\\evil.com/',
      'HTTPS://example.com/',
      "https://example.com/?q='x'",
    ]) {
      expect(fastUrlParts(url)).toBeNull();
    }
    expect(fastHostname('example.com:8080')).toBeNull();
    expect(fastHostname('https://1.2.3.4/')).toBeNull();
  });
});
