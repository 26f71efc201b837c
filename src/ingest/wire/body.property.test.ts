// Property tests for decodePayload: every SDK encoding round-trips; any body gets a 4xx, never a crash.
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import LZString from 'lz-string';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import type { JsonValue } from '../records.js';
import { decodePayload, type DecodeInput, type DecodeLimits } from './body.js';
import { findForbiddenKey } from './json.js';

const LIMITS: DecodeLimits = {
  maxBodyBytes: 1024 * 1024,
  maxDecodedBytes: 4 * 1024 * 1024,
  maxDepth: 12,
  maxRecordsPerRequest: 2000,
};

const FORM = 'application/x-www-form-urlencoded';

function req(body: string | Buffer | null, extra: Partial<DecodeInput> = {}): DecodeInput {
  return {
    body: body === null ? null : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'),
    contentType: FORM,
    contentEncoding: null,
    query: {},
    ...extra,
  };
}

/** Every way an SDK (or a hand-written client) encodes a batch, by name. */
function encodings(events: JsonValue[]): [string, DecodeInput][] {
  const json = JSON.stringify(events);
  const b64 = Buffer.from(json).toString('base64');
  const list: [string, DecodeInput][] = [
    ['raw JSON', req(json, { contentType: 'application/json' })],
    ['form JSON', req(`data=${encodeURIComponent(json)}`)],
    ['form URL-encoded base64', req(`data=${encodeURIComponent(b64)}`)],
    ['form raw base64 with +', req(`data=${b64}`)],
    ['form base64, + turned to spaces', req(`data=${b64.replaceAll('+', ' ')}`)],
    ['form URL-safe base64', req(`data=${Buffer.from(json).toString('base64url')}`)],
    [
      'sendBeacon text/plain',
      req(`data=${encodeURIComponent(b64)}`, { contentType: 'text/plain;charset=UTF-8' }),
    ],
    ['GET ?data=base64', req(null, { contentType: null, query: { data: b64 } })],
    [
      'GET ?data=base64, + turned to spaces',
      req(null, { contentType: null, query: { data: b64.replaceAll('+', ' ') } }),
    ],
    ['GET ?data=JSON', req(null, { contentType: null, query: { data: json } })],
    [
      'gzip with header',
      req(gzipSync(json), { contentType: 'application/json', contentEncoding: 'gzip' }),
    ],
    ['gzip by magic', req(gzipSync(json), { contentType: 'text/plain' })],
    ['gzip form', req(gzipSync(`data=${b64}`), { contentEncoding: 'gzip' })],
    [
      'base64 of gzip',
      req(`data=${encodeURIComponent(gzipSync(json).toString('base64'))}&compression=gzip-js`),
    ],
    ['lz64', req(`data=${encodeURIComponent(LZString.compressToBase64(json))}&compression=lz64`)],
    ['raw base64 body', req(b64, { contentType: 'text/plain' })],
  ];
  if (events.length >= 2) {
    list.push([
      'NDJSON',
      req(events.map((e) => JSON.stringify(e)).join('\n'), { contentType: 'application/x-ndjson' }),
    ]);
  }
  return list;
}

const anyString = fc.string({ unit: 'binary', maxLength: 16 });
const eventArb: fc.Arbitrary<JsonValue> = fc.record(
  {
    event: anyString,
    properties: fc.dictionary(
      anyString,
      fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }) as fc.Arbitrary<JsonValue>,
      {
        maxKeys: 6,
      },
    ),
  },
  { requiredKeys: [] },
);
const batchArb = fc.array(eventArb, { maxLength: 6 });

function expectClientError(result: ReturnType<typeof decodePayload>): void {
  if (result.ok) {
    expect(Array.isArray(result.value)).toBe(true);
    return;
  }
  expect(result.error).toBeInstanceOf(AppError);
  expect(result.error.status).toBeGreaterThanOrEqual(400);
  expect(result.error.status).toBeLessThan(500);
}

describe('decodePayload properties', () => {
  it('decodes every SDK encoding of any batch to the same value', () => {
    fc.assert(
      fc.property(batchArb, (events) => {
        const expected = JSON.parse(JSON.stringify(events)) as JsonValue[];
        const forbidden = findForbiddenKey(expected) !== null;
        for (const [name, encoded] of encodings(events)) {
          const result = decodePayload(encoded, LIMITS);
          if (forbidden) {
            expect(result.ok ? 'ok' : result.error.code, name).toBe('INGEST_FORBIDDEN_KEY');
          } else {
            expect(
              result.ok ? result.value : `${result.error.code}: ${result.error.message}`,
              name,
            ).toEqual(expected);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('answers any random body with records or a 4xx AppError, never a throw', () => {
    const bytes = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));
    const formish = fc
      .string({
        unit: fc.constantFrom(
          ...'data=%+&{}[]":,\\ Aa9/_-\n\r\u00e9\u{1F600}compression=lz64gzip'.split(''),
        ),
        maxLength: 80,
      })
      .map((s) => Buffer.from(s));
    const headers = fc.record({
      contentType: fc.constantFrom(
        null,
        FORM,
        'text/plain',
        'application/json',
        'application/x-ndjson',
        'multipart/form-data',
      ),
      contentEncoding: fc.constantFrom(null, 'gzip', 'identity', 'deflate', ''),
      query: fc.record(
        {
          data: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
          compression: fc.constantFrom(undefined, 'lz64', 'gzip', 'base64', 'nope'),
        },
        { requiredKeys: [] },
      ),
    });
    fc.assert(
      fc.property(fc.oneof(bytes, formish, fc.constant(null)), headers, (body, head) => {
        expectClientError(decodePayload({ body, ...head }, LIMITS));
      }),
      { numRuns: 500 },
    );
  });

  it('answers bit-flipped, truncated and spliced encodings with records or a 4xx AppError', () => {
    const mutation = fc.record({
      which: fc.nat(),
      flips: fc.array(fc.tuple(fc.nat(), fc.nat(7)), { maxLength: 4 }),
      cut: fc.option(fc.nat()),
      splice: fc.option(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 }))),
    });
    fc.assert(
      fc.property(batchArb, mutation, (events, m) => {
        const all = encodings(events);
        const [, base] = all[m.which % all.length] ?? all[0]!;
        const source = base.body ?? Buffer.from(base.query.data ?? '');
        let body = Buffer.from(source);
        for (const [at, bit] of m.flips) {
          if (body.length > 0) body[at % body.length] = (body[at % body.length] ?? 0) ^ (1 << bit);
        }
        if (m.cut !== null && body.length > 0) body = body.subarray(0, m.cut % body.length);
        if (m.splice !== null) {
          const [at, extra] = m.splice;
          const i = body.length === 0 ? 0 : at % body.length;
          body = Buffer.concat([body.subarray(0, i), Buffer.from(extra), body.subarray(i)]);
        }
        expectClientError(decodePayload({ ...base, body }, LIMITS));
        if (base.body === null) {
          expectClientError(
            decodePayload({ ...base, query: { data: body.toString('latin1') } }, LIMITS),
          );
        }
      }),
      { numRuns: 400 },
    );
  });
});
