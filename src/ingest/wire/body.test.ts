// Tests for decodePayload: every SDK encoding, and a precise 4xx for every kind of bad body.
import type * as zlib from 'node:zlib';
import { gunzipSync, gzipSync } from 'node:zlib';
import LZString from 'lz-string';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { decodePayload, type DecodeInput, type DecodeLimits } from './body.js';

// Wrap the real gunzipSync so tests can see how it was called (the bomb test checks the cap).
vi.mock('node:zlib', async (importOriginal) => {
  const actual = await importOriginal<typeof zlib>();
  return { ...actual, gunzipSync: vi.fn(actual.gunzipSync) };
});

const LIMITS: DecodeLimits = {
  maxBodyBytes: 1024 * 1024,
  maxDecodedBytes: 10 * 1024 * 1024,
  maxDepth: 12,
  maxRecordsPerRequest: 2000,
};

const EVENTS = [
  {
    event: 'Signed up',
    properties: { token: 't0k', distinct_id: 'u1', plan: 'pro?', note: 'a+b c/d é' },
  },
  {
    event: 'Page Viewed',
    properties: { token: 't0k', time: 1700000000.123, $current_url: 'https://x.test/?q=1&r=2' },
  },
];
const JSON_TEXT = JSON.stringify(EVENTS);
const BASE64 = Buffer.from(JSON_TEXT).toString('base64');

function input(body: string | Buffer | null, extra: Partial<DecodeInput> = {}): DecodeInput {
  return {
    body: body === null ? null : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'),
    contentType: 'application/x-www-form-urlencoded',
    contentEncoding: null,
    query: {},
    ...extra,
  };
}

function decodeOk(value: DecodeInput, limits: DecodeLimits = LIMITS): unknown[] {
  const result = decodePayload(value, limits);
  if (!result.ok) throw new Error(`unexpected ${result.error.code}: ${result.error.message}`);
  return result.value;
}

function decodeErr(value: DecodeInput, limits: DecodeLimits = LIMITS): AppError {
  const result = decodePayload(value, limits);
  if (result.ok) throw new Error('expected an error');
  expect(result.error).toBeInstanceOf(AppError);
  expect(result.error.status).toBeGreaterThanOrEqual(400);
  expect(result.error.status).toBeLessThan(500);
  return result.error;
}

beforeEach(() => {
  vi.mocked(gunzipSync).mockClear();
});

describe('decodePayload: SDK encodings', () => {
  it.each<[string, DecodeInput]>([
    ['mixpanel-node POST: data=<base64> not URL-encoded, + kept', input(`data=${BASE64}`)],
    [
      'mixpanel-browser POST: data=<URL-encoded base64>',
      input(`data=${encodeURIComponent(BASE64)}`),
    ],
    ['mixpanel-browser api_payload_format json', input(`data=${encodeURIComponent(JSON_TEXT)}`)],
    [
      'sendBeacon: text/plain body with data=',
      input(`data=${encodeURIComponent(BASE64)}`, { contentType: 'text/plain;charset=UTF-8' }),
    ],
    ['base64 whose + a proxy decoded to spaces', input(`data=${BASE64.replaceAll('+', ' ')}`)],
    [
      'URL-safe base64 without padding',
      input(`data=${Buffer.from(JSON_TEXT).toString('base64url')}`),
    ],
    [
      'extra form fields around data',
      input(`ver=1&data=${encodeURIComponent(BASE64)}&_=1700000000000`),
    ],
    [
      'GET ?data=<base64> (mixpanel-node single calls)',
      input(null, { contentType: null, query: { data: BASE64, ip: '0' } }),
    ],
    [
      'GET ?data= after a query parser turned + into spaces',
      input(null, { contentType: null, query: { data: BASE64.replaceAll('+', ' ') } }),
    ],
    ['GET ?data=<JSON>', input(null, { contentType: null, query: { data: JSON_TEXT } })],
    [
      'raw JSON body (mixpanel-swift, /import)',
      input(JSON_TEXT, { contentType: 'application/json' }),
    ],
    [
      'raw JSON body with a BOM and whitespace',
      input(`\uFEFF \n${JSON_TEXT}\n`, { contentType: 'application/json' }),
    ],
    [
      'NDJSON body (/import)',
      input(EVENTS.map((e) => JSON.stringify(e)).join('\n') + '\n', {
        contentType: 'application/x-ndjson',
      }),
    ],
    [
      'gzip by Content-Encoding (posthog-node, /import)',
      input(gzipSync(JSON_TEXT), { contentType: 'application/json', contentEncoding: 'gzip' }),
    ],
    [
      'gzip by magic bytes (posthog-js gzip-js, text/plain)',
      input(gzipSync(JSON_TEXT), { contentType: 'text/plain' }),
    ],
    ['gzip of a form body', input(gzipSync(`data=${BASE64}`), { contentEncoding: 'x-gzip' })],
    [
      'base64 of gzip in data=',
      input(
        `data=${encodeURIComponent(gzipSync(JSON_TEXT).toString('base64'))}&compression=gzip-js`,
      ),
    ],
    [
      'lz64 in the form (old posthog-js)',
      input(`data=${encodeURIComponent(LZString.compressToBase64(JSON_TEXT))}&compression=lz64`),
    ],
    [
      'lz-string hint in the query',
      input(`data=${encodeURIComponent(LZString.compressToBase64(JSON_TEXT))}`, {
        query: { compression: 'lz-string' },
      }),
    ],
    [
      'compression=base64 (posthog-js sendBeacon)',
      input(`data=${encodeURIComponent(BASE64)}&compression=base64`),
    ],
    ['raw base64 body without data=', input(BASE64, { contentType: 'text/plain' })],
    ['raw base64 body with a trailing newline', input(`${BASE64}\n`, { contentType: null })],
  ])('%s', (_name, value) => {
    expect(decodeOk(value)).toEqual(EVENTS);
  });

  it('returns a single object as a one-element list, and a PostHog batch object whole', () => {
    expect(decodeOk(input(JSON.stringify(EVENTS[0])))).toEqual([EVENTS[0]]);
    const batch = { api_key: 'k', batch: EVENTS, sent_at: '2024-01-01T00:00:00Z' };
    expect(decodeOk(input(JSON.stringify(batch), { contentType: 'application/json' }))).toEqual([
      batch,
    ]);
  });

  it('prefers the body over the query and tolerates repeated query keys', () => {
    const query = { data: 'not base64 !' } as Record<string, string | undefined>;
    expect(decodeOk(input(JSON_TEXT, { query }))).toEqual(EVENTS);
    const repeated = { data: [BASE64, 'x'] } as unknown as Record<string, string | undefined>;
    expect(decodeOk(input(null, { query: repeated }))).toEqual(EVENTS);
  });
});

describe('decodePayload: refusals', () => {
  it.each<[string, DecodeInput, string, string]>([
    [
      'no body, no data',
      input(null),
      'INGEST_BODY_EMPTY',
      "request body is empty and there is no 'data' query parameter",
    ],
    [
      'blank body',
      input(' \n'),
      'INGEST_BODY_EMPTY',
      "request body is empty and there is no 'data' query parameter",
    ],
    ['empty data field', input('data=&x=1'), 'INGEST_BODY_EMPTY', "form field 'data' is empty"],
    [
      'form without data',
      input('foo=bar&baz=1'),
      'INGEST_PAYLOAD_SHAPE',
      "form body has no 'data' field",
    ],
    [
      'invalid base64',
      input('data=eyJldmVudCI6!!'),
      'INGEST_BASE64_INVALID',
      "form field 'data' is not valid base64: invalid character (position 12)",
    ],
    [
      'bad percent escape',
      input('data=%7B%2'),
      'INGEST_PAYLOAD_SHAPE',
      "form field 'data' has an invalid percent-escape (position 3)",
    ],
    [
      'percent escape of invalid UTF-8',
      input('data=%7B%FF'),
      'INGEST_UTF8_INVALID',
      "form field 'data' has percent-escapes that are not valid UTF-8",
    ],
    [
      'invalid JSON in base64',
      input(`data=${Buffer.from('[{"event":}]').toString('base64')}`),
      'INGEST_JSON_INVALID',
      "form field 'data' (base64-decoded) is not valid JSON: unexpected character where a value was expected (position 10)",
    ],
    [
      'invalid UTF-8 body',
      input(Buffer.from([0x5b, 0x22, 0xc3, 0x28, 0x22, 0x5d]), { contentType: 'application/json' }),
      'INGEST_UTF8_INVALID',
      'request body is not valid UTF-8 (byte 2)',
    ],
    [
      'invalid UTF-8 inside base64',
      input(`data=${Buffer.from([0x5b, 0x22, 0xff, 0x22, 0x5d]).toString('base64')}`),
      'INGEST_UTF8_INVALID',
      "form field 'data' (base64-decoded) is not valid UTF-8 (byte 2)",
    ],
    [
      'declared gzip that is not gzip',
      input(JSON_TEXT, { contentEncoding: 'gzip' }),
      'INGEST_GZIP_INVALID',
      'request body is declared gzip but is not gzip data',
    ],
    [
      'truncated gzip',
      input(gzipSync(JSON_TEXT).subarray(0, 20), { contentType: 'text/plain' }),
      'INGEST_GZIP_INVALID',
      'request body is not valid gzip: gzip data is truncated',
    ],
    [
      'unsupported Content-Encoding',
      input(JSON_TEXT, { contentEncoding: 'br' }),
      'INGEST_UNSUPPORTED_MEDIA',
      'unsupported Content-Encoding (gzip and deflate are accepted)',
    ],
    [
      'multipart without its boundary',
      input(JSON_TEXT, { contentType: 'multipart/form-data; boundary=x' }),
      'INGEST_PAYLOAD_SHAPE',
      'multipart body does not contain its boundary',
    ],
    [
      'multipart without a data field',
      input('--x\r\nContent-Disposition: form-data; name="verbose"\r\n\r\n1\r\n--x--\r\n', {
        contentType: 'multipart/form-data; boundary=x',
      }),
      'INGEST_PAYLOAD_SHAPE',
      "multipart body has no 'data' field",
    ],
    [
      'lz64 hint on non-LZ data',
      input('data=eyJ*&compression=lz64'),
      'INGEST_LZ64_INVALID',
      "form field 'data' is not valid LZ-string base64: invalid character (position 3)",
    ],
    [
      'JSON scalar',
      input('data=' + Buffer.from('"x"').toString('base64')),
      'INGEST_PAYLOAD_SHAPE',
      "form field 'data' (base64-decoded) must hold a JSON object or array",
    ],
    [
      '__proto__ key',
      input('{"event":"x","properties":{"__proto__":{"admin":true}}}'),
      'INGEST_FORBIDDEN_KEY',
      'JSON key "__proto__" is not allowed',
    ],
    [
      'constructor key in base64',
      input(`data=${Buffer.from('[{"constructor":{}}]').toString('base64')}`),
      'INGEST_FORBIDDEN_KEY',
      'JSON key "constructor" is not allowed',
    ],
    [
      'nesting',
      input('[{"properties":' + '{"a":'.repeat(11) + '1' + '}'.repeat(12) + ']'),
      'INGEST_NESTING_TOO_DEEP',
      'JSON nesting deeper than 12 levels',
    ],
  ])('%s', (_name, value, code, message) => {
    const error = decodeErr(value);
    expect(error.code).toBe(code);
    expect(error.message).toBe(message);
  });

  it('refuses 100k-deep nesting in every container, without a stack overflow', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(decodeErr(input(deep)).code).toBe('INGEST_NESTING_TOO_DEEP');
    expect(decodeErr(input(`data=${Buffer.from(deep).toString('base64')}`)).code).toBe(
      'INGEST_NESTING_TOO_DEEP',
    );
    expect(decodeErr(input(gzipSync(deep))).code).toBe('INGEST_NESTING_TOO_DEEP');
  });

  it('counts records, including the events of a PostHog batch', () => {
    const limits = { ...LIMITS, maxRecordsPerRequest: 3 };
    const four = JSON.stringify([{}, {}, {}, {}]);
    expect(decodeErr(input(four), limits)).toMatchObject({
      code: 'INGEST_TOO_MANY_RECORDS',
      message: 'request has more than 3 records',
    });
    expect(decodeErr(input(JSON.stringify({ batch: [{}, {}, {}, {}] })), limits).code).toBe(
      'INGEST_TOO_MANY_RECORDS',
    );
    expect(decodeOk(input(JSON.stringify([{}, {}, {}])), limits)).toHaveLength(3);
  });

  it('refuses bodies above maxBodyBytes', () => {
    const error = decodeErr(input('x'.repeat(101)), { ...LIMITS, maxBodyBytes: 100 });
    expect(error).toMatchObject({
      code: 'INGEST_BODY_TOO_LARGE',
      message: 'request body is larger than 100 bytes',
    });
  });

  it('refuses a gzip bomb through the inflater cap, without inflating it in full', () => {
    const bombSize = 50 * 1024 * 1024;
    const bomb = gzipSync(Buffer.alloc(bombSize));
    const error = decodeErr(input(bomb, { contentType: 'text/plain', contentEncoding: 'gzip' }));
    expect(error).toMatchObject({
      code: 'INGEST_DECOMPRESSED_TOO_LARGE',
      message: `request body decompresses to more than ${LIMITS.maxDecodedBytes} bytes`,
    });
    // zlib was asked for at most maxDecodedBytes (a fifth of the bomb) and stopped there.
    const spy = vi.mocked(gunzipSync);
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy.mock.calls[0]?.[1]).toEqual({ maxOutputLength: LIMITS.maxDecodedBytes });
    expect(LIMITS.maxDecodedBytes).toBeLessThan(bombSize);
    expect(spy.mock.results[0]).toMatchObject({
      type: 'throw',
      value: { code: 'ERR_BUFFER_TOO_LARGE' },
    });
  });

  it('applies the cap to gzip inside base64 too', () => {
    const bomb = gzipSync(Buffer.alloc(2 * 1024 * 1024)).toString('base64');
    const error = decodeErr(input(`data=${encodeURIComponent(bomb)}`), {
      ...LIMITS,
      maxDecodedBytes: 1024 * 1024,
    });
    expect(error.code).toBe('INGEST_DECOMPRESSED_TOO_LARGE');
    expect(vi.mocked(gunzipSync).mock.calls[0]?.[1]).toEqual({ maxOutputLength: 1024 * 1024 });
  });

  it('never echoes input in error messages', () => {
    const secret = 'alice@example.com';
    const bodies = [
      input(`{"email":"${secret}" "x":1}`),
      input(`data=${secret}`),
      input(`data=${encodeURIComponent(`[{"e":"${secret}",}]`)}`),
      input(`${secret}\n{"a":1}`, { contentType: 'application/x-ndjson' }),
    ];
    for (const body of bodies) {
      expect(decodeErr(body).message).not.toContain('alice');
    }
  });
});
