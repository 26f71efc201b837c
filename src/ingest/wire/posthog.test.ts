// Tests for the PostHog mapper: body shapes, tokens, ids, clock-skew handling, person $set.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject, JsonValue } from '../records.js';
import type { WireContext } from './fields.js';
import { mapPosthogRecords } from './posthog.js';

const NOW = Date.UTC(2024, 5, 1, 12, 0, 0);
const CTX: WireContext = {
  clientIp: '203.0.113.9',
  userAgent: 'posthog-node/5',
  ipMode: 'use-request-ip',
  receivedAtMs: NOW,
};
const iso = (ms: number): string => new Date(ms).toISOString();

function single(record: JsonObject, options = {}) {
  const out = mapPosthogRecords([record], CTX, options);
  expect(out.errors).toEqual([]);
  expect(out.events).toHaveLength(1);
  return out;
}

describe('mapPosthogRecords: body shapes', () => {
  it('maps a posthog-js batch object ({api_key, batch, sent_at}) with clock-skew correction', () => {
    // The client clock is 10 minutes fast: it stamped the event 5 s before sending it.
    const skew = 600_000;
    const batch = {
      api_key: 'phc_batch',
      sent_at: iso(NOW + skew),
      batch: [
        {
          event: '$pageview',
          uuid: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
          timestamp: iso(NOW + skew - 5000),
          properties: {
            distinct_id: 'anon-1',
            token: 'phc_batch',
            $current_url: 'https://x.test/',
            $lib: 'web',
          },
        },
      ],
    };
    const out = mapPosthogRecords([batch], CTX);
    expect(out).toEqual({
      events: [
        {
          index: 0,
          token: 'phc_batch',
          event: '$pageview',
          timeMs: NOW - 5000,
          distinctId: 'anon-1',
          insertId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
          properties: { $current_url: 'https://x.test/', $lib: 'web' },
          geoIp: '203.0.113.9',
          userAgent: 'posthog-node/5',
        },
      ],
      updates: [],
      errors: [],
      ignored: 0,
    });
  });

  it('maps an array of events with offset (older posthog-js)', () => {
    const out = mapPosthogRecords(
      [
        { event: 'a', offset: 1500, properties: { distinct_id: 'u', token: 't' } },
        {
          event: 'b',
          offset: 0,
          timestamp: iso(NOW - 99_999),
          properties: { distinct_id: 'u', token: 't' },
        },
      ],
      CTX,
    );
    expect(out.events.map((e) => [e.index, e.event, e.timeMs])).toEqual([
      [0, 'a', NOW - 1500],
      [1, 'b', NOW],
    ]);
  });

  it('maps a single event (capture API) and clamps future times', () => {
    const out = single({
      api_key: 'k',
      event: 'x',
      distinct_id: 'u',
      timestamp: iso(NOW + 86_400_000),
    });
    expect(out.events[0]).toMatchObject({ token: 'k', distinctId: 'u', timeMs: NOW });
  });

  it('uses a timestamp as is without sent_at, and honours $ignore_sent_at', () => {
    expect(
      single({ event: 'x', distinct_id: 'u', timestamp: '2024-01-01T00:00:00Z' }).events[0]?.timeMs,
    ).toBe(Date.UTC(2024, 0, 1));
    const batch = {
      sent_at: iso(NOW + 3_600_000),
      batch: [
        {
          event: 'x',
          distinct_id: 'u',
          timestamp: '2024-01-01T00:00:00Z',
          properties: { $ignore_sent_at: true },
        },
      ],
    };
    expect(mapPosthogRecords([batch], CTX).events[0]?.timeMs).toBe(Date.UTC(2024, 0, 1));
  });

  it('takes sent_at from the options when the body has none', () => {
    const out = mapPosthogRecords(
      [{ event: 'x', distinct_id: 'u', timestamp: NOW - 60_000 }],
      CTX,
      { sentAtMs: NOW - 30_000 },
    );
    expect(out.events[0]?.timeMs).toBe(NOW - 30_000);
  });

  it('uses the receive time without timestamp or offset', () => {
    expect(single({ event: 'x', distinct_id: 'u' }).events[0]?.timeMs).toBe(NOW);
  });

  it('turns an engage-style object into $identify only on /engage', () => {
    const record = { $token: 't', $distinct_id: 'u1', $set: { plan: 'pro' } };
    const out = mapPosthogRecords([record], CTX, { engage: true });
    expect(out.events[0]).toMatchObject({
      event: '$identify',
      token: 't',
      distinctId: 'u1',
      properties: {},
    });
    expect(out.updates).toMatchObject([
      { op: '$set', value: { plan: 'pro' }, target: { kind: 'user', distinctId: 'u1' } },
    ]);
    expect(mapPosthogRecords([record], CTX).errors).toEqual([
      { index: 0, insertId: null, field: 'event', message: 'missing event name' },
    ]);
  });

  it('refuses a batch that is not an array', () => {
    expect(mapPosthogRecords([{ api_key: 'k', batch: {} }], CTX).errors).toEqual([
      { index: 0, insertId: null, field: 'batch', message: 'batch must be an array of events' },
    ]);
  });

  it('indexes errors by position in the batch', () => {
    const out = mapPosthogRecords(
      [
        {
          api_key: 'k',
          batch: [{ event: 'ok', distinct_id: 'u' }, { event: 'bad', uuid: 'e1' }, 7],
        },
      ],
      CTX,
    );
    expect(out.events.map((e) => e.index)).toEqual([0]);
    expect(out.errors).toEqual([
      { index: 1, insertId: 'e1', field: 'distinct_id', message: 'missing distinct_id' },
      { index: 2, insertId: null, field: 'record', message: 'must be a JSON object' },
    ]);
  });
});

describe('mapPosthogRecords: fields', () => {
  it.each<[string, JsonObject, JsonObject | null, string | null]>([
    [
      'event token',
      { token: 'a', $token: 'b', api_key: 'c', properties: { token: 'd' } },
      { api_key: 'e' },
      'a',
    ],
    [
      'event $token',
      { $token: 'b', api_key: 'c', properties: { token: 'd' } },
      { api_key: 'e' },
      'b',
    ],
    ['event api_key', { api_key: 'c', properties: { token: 'd' } }, { api_key: 'e' }, 'c'],
    ['properties.token', { properties: { token: 'd' } }, { api_key: 'e' }, 'd'],
    ['batch api_key', {}, { api_key: 'e' }, 'e'],
    ['batch token', {}, { token: 'f' }, 'f'],
    ['none', {}, null, null],
  ])('token from %s', (_name, fields, batch, token) => {
    const record = { event: 'x', distinct_id: 'u', ...fields };
    const body = batch ? [{ ...batch, batch: [record] }] : [record];
    expect(mapPosthogRecords(body, CTX).events[0]?.token).toBe(token);
  });

  it.each<[string, JsonObject, string]>([
    ['distinct_id', { distinct_id: 'a', $distinct_id: 'b', properties: { distinct_id: 'c' } }, 'a'],
    ['$distinct_id', { $distinct_id: 'b', properties: { distinct_id: 'c' } }, 'b'],
    ['properties.distinct_id', { properties: { distinct_id: 'c' } }, 'c'],
    ['a number', { distinct_id: 42 }, '42'],
    ['an object (JSON text)', { distinct_id: { id: 1 } }, '{"id":1}'],
    ['a boolean', { distinct_id: true }, 'true'],
  ])('distinct id from %s', (_name, fields, distinctId) => {
    const out = single({ event: 'x', ...fields });
    expect(out.events[0]?.distinctId).toBe(distinctId);
    expect(out.events[0]?.properties).not.toHaveProperty('distinct_id');
  });

  it.each<[string, JsonObject, string, string]>([
    ['no distinct id', { event: 'x' }, 'distinct_id', 'missing distinct_id'],
    ['an empty distinct id', { event: 'x', distinct_id: '' }, 'distinct_id', 'missing distinct_id'],
    ['a numeric uuid', { event: 'x', distinct_id: 'u', uuid: 5 }, 'uuid', 'uuid must be a string'],
    [
      'array properties',
      { event: 'x', distinct_id: 'u', properties: [] },
      'properties',
      'must be a JSON object',
    ],
    ['a numeric event', { event: 1, distinct_id: 'u' }, 'event', 'event name must be a string'],
    ['an empty event', { event: '', distinct_id: 'u' }, 'event', 'event name must not be empty'],
    [
      'a bad timestamp',
      { event: 'x', distinct_id: 'u', timestamp: 'noon' },
      'timestamp',
      'timestamp must be an ISO 8601 string or a number',
    ],
    [
      'a string offset',
      { event: 'x', distinct_id: 'u', offset: '10' },
      'offset',
      'offset must be a number of milliseconds',
    ],
    [
      'a huge offset',
      { event: 'x', distinct_id: 'u', offset: NOW + 1 },
      'offset',
      'event time is before 1970',
    ],
    [
      'a non-object $set',
      { event: 'x', distinct_id: 'u', $set: 'a' },
      '$set',
      '$set must be a JSON object',
    ],
    [
      'a non-object properties.$set_once',
      { event: 'x', distinct_id: 'u', properties: { $set_once: [1] } },
      'properties.$set_once',
      '$set_once must be a JSON object',
    ],
  ])('refuses %s', (_name, record, field, message) => {
    const out = mapPosthogRecords([record], CTX);
    expect(out.events).toEqual([]);
    expect(out.errors).toMatchObject([{ index: 0, field, message }]);
  });

  it('emits person updates from $set/$set_once (top level wins over properties) and removes them', () => {
    const out = single({
      event: '$identify',
      distinct_id: 'user-1',
      $set: { plan: 'team', seats: 5 },
      properties: {
        $set: { plan: 'pro', email_verified: true },
        $set_once: { first_seen: '2024-01-01' },
        keep: 1,
      },
    });
    expect(out.events[0]?.properties).toEqual({ keep: 1 });
    expect(out.updates).toEqual([
      {
        index: 0,
        token: null,
        target: { kind: 'user', distinctId: 'user-1' },
        op: '$set',
        value: { plan: 'team', email_verified: true, seats: 5 },
        timeMs: NOW,
        ignoreTime: false,
        geoIp: '203.0.113.9',
        userAgent: 'posthog-node/5',
      },
      {
        index: 0,
        token: null,
        target: { kind: 'user', distinctId: 'user-1' },
        op: '$set_once',
        value: { first_seen: '2024-01-01' },
        timeMs: NOW,
        ignoreTime: false,
        geoIp: '203.0.113.9',
        userAgent: 'posthog-node/5',
      },
    ]);
  });

  it('emits no update for an empty $set', () => {
    expect(
      single({ event: 'x', distinct_id: 'u', $set: {}, properties: { $set: null } }).updates,
    ).toEqual([]);
  });

  it.each<[string, JsonObject, WireContext, string | null]>([
    ['the request IP by default', {}, CTX, '203.0.113.9'],
    ['properties.$ip when given', { $ip: '198.51.100.7' }, CTX, '198.51.100.7'],
    ['nothing with $geoip_disable', { $ip: '198.51.100.7', $geoip_disable: true }, CTX, null],
    [
      'nothing when the request IP may not be used',
      {},
      { ...CTX, ipMode: 'ignore-request-ip' },
      null,
    ],
  ])('geolocates %s, and drops $ip', (_name, properties, context, geoIp) => {
    const out = mapPosthogRecords([{ event: 'x', distinct_id: 'u', properties }], context);
    expect(out.events[0]?.geoIp).toBe(geoIp);
    expect(out.events[0]?.properties).toEqual({});
  });

  it('does not modify its input', () => {
    const record = {
      event: 'x',
      distinct_id: 'u',
      properties: { token: 't', $set: { a: 1 }, $ip: '1.2.3.4' },
    };
    const copy = structuredClone(record);
    mapPosthogRecords([record], CTX);
    expect(record).toEqual(copy);
  });

  it('never throws and accounts for every event (random input)', () => {
    const eventArb = fc.record(
      {
        event: fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 1 })),
        distinct_id: fc.jsonValue({ maxDepth: 1 }),
        uuid: fc.jsonValue({ maxDepth: 1 }),
        timestamp: fc.oneof(
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          fc.double(),
          fc.string(),
        ),
        offset: fc.oneof(fc.integer(), fc.jsonValue({ maxDepth: 1 })),
        $set: fc.jsonValue({ maxDepth: 2 }),
        properties: fc.oneof(
          fc.jsonValue({ maxDepth: 2 }),
          fc.dictionary(
            fc.constantFrom('$set', '$set_once', '$ip', 'token', 'x'),
            fc.jsonValue({ maxDepth: 2 }),
          ),
        ),
      },
      { requiredKeys: [] },
    ) as fc.Arbitrary<JsonValue>;
    const body = fc.oneof(
      fc.array(eventArb, { maxLength: 6 }),
      fc
        .record({
          api_key: fc.jsonValue({ maxDepth: 1 }),
          sent_at: fc.jsonValue({ maxDepth: 1 }),
          batch: fc.array(eventArb, { maxLength: 6 }),
        })
        .map((b) => [b as JsonValue]),
    );
    fc.assert(
      fc.property(body, fc.boolean(), (records, engage) => {
        const out = mapPosthogRecords(records, CTX, { engage });
        const first = records[0];
        const inner =
          records.length === 1 &&
          typeof first === 'object' &&
          first !== null &&
          !Array.isArray(first) &&
          Array.isArray(first.batch)
            ? first.batch
            : records;
        expect(out.events.length + out.errors.length).toBe(inner.length);
        for (const e of out.events) {
          expect(Number.isInteger(e.timeMs) && e.timeMs <= NOW && e.timeMs >= 0).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
