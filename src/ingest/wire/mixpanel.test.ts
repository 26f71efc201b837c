// Tests for the Mixpanel mappers: /track and /import events, /engage and /groups profile updates.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject, JsonValue } from '../records.js';
import type { WireContext } from './fields.js';
import { mapMixpanelEvents, mapMixpanelProfiles } from './mixpanel.js';

const NOW = Date.UTC(2024, 5, 1, 12, 0, 0);
const CTX: WireContext = {
  clientIp: '203.0.113.9',
  userAgent: 'Mozilla/5.0 test',
  ipMode: 'use-request-ip',
  receivedAtMs: NOW,
};
const TRACK = { importMode: false };
const IMPORT = { importMode: true };

function event(properties: JsonObject, name: JsonValue = 'Signed up'): JsonObject {
  return { event: name, properties };
}

function one(record: JsonValue, options = TRACK, context = CTX) {
  const out = mapMixpanelEvents([record], context, options);
  expect(out.updates).toEqual([]);
  return out;
}

function mapped(record: JsonValue, options = TRACK, context = CTX) {
  const out = one(record, options, context);
  expect(out.errors).toEqual([]);
  expect(out.events).toHaveLength(1);
  return out.events[0]!;
}

function rejected(record: JsonValue, options = TRACK) {
  const out = one(record, options);
  expect(out.events).toEqual([]);
  expect(out.errors).toHaveLength(1);
  return out.errors[0]!;
}

describe('mapMixpanelEvents', () => {
  it('maps a mixpanel-browser event and removes the consumed properties', () => {
    const record = event({
      token: 'tok',
      time: 1717240000.5,
      distinct_id: '$device:abc',
      $device_id: 'abc',
      $insert_id: 'k3j4h5g6f7d8s9a0',
      $browser: 'Chrome',
      ip: '198.51.100.7',
      $ip: '192.0.2.1',
      nested: { a: [1, 2] },
    });
    const copy = structuredClone(record);
    expect(mapped(record)).toEqual({
      index: 0,
      token: 'tok',
      event: 'Signed up',
      timeMs: 1717240000500,
      distinctId: '$device:abc',
      insertId: 'k3j4h5g6f7d8s9a0',
      properties: { $device_id: 'abc', $browser: 'Chrome', nested: { a: [1, 2] } },
      geoIp: '198.51.100.7',
      userAgent: 'Mozilla/5.0 test',
    });
    expect(record).toEqual(copy);
  });

  it('accepts an event without properties (defaults: no token, no user, receive time)', () => {
    expect(mapped({ event: 'x' })).toMatchObject({
      token: null,
      distinctId: '',
      insertId: null,
      timeMs: NOW,
      properties: {},
    });
  });

  it.each<[string, JsonValue, number]>([
    ['float seconds', 1717240000.123, 1717240000123],
    ['integer seconds', 1717240000, 1717240000000],
    ['milliseconds', 1717240000123, 1717240000123],
    ['ISO string', '2024-06-01T11:00:00Z', NOW - 3_600_000],
    ['zone-less ISO string (browser dates are UTC)', '2024-06-01T11:00:00', NOW - 3_600_000],
    ['future seconds are clamped to now', NOW / 1000 + 86_400, NOW],
    ['future ms are clamped to now', NOW + 1, NOW],
    ['null means absent', null, NOW],
  ])('time: %s', (_name, time, expected) => {
    expect(mapped(event({ time })).timeMs).toBe(expected);
  });

  it.each<[string, JsonValue, string]>([
    [
      'a word',
      'yesterday',
      'time must be seconds or milliseconds since the epoch, or an ISO 8601 string',
    ],
    [
      'an impossible date',
      '2023-02-30T00:00:00Z',
      'time must be seconds or milliseconds since the epoch, or an ISO 8601 string',
    ],
    [
      'a boolean',
      true,
      'time must be seconds or milliseconds since the epoch, or an ISO 8601 string',
    ],
    ['negative', -5, 'time is before 1970'],
  ])('time refused: %s', (_name, time, message) => {
    expect(rejected(event({ time, $insert_id: 'abc' }))).toEqual({
      index: 0,
      insertId: 'abc',
      field: 'properties.time',
      message,
    });
  });

  describe('/import rules', () => {
    const base = { time: 1717243200, distinct_id: 'u1', $insert_id: 'a-1' };

    it('requires time', () => {
      expect(rejected(event({ distinct_id: 'u1' }), IMPORT)).toMatchObject({
        field: 'properties.time',
        message: 'time is required on /import',
      });
      expect(mapped(event({ distinct_id: 'u1' }), TRACK).timeMs).toBe(NOW);
    });

    it.each<[string, number, string | number]>([
      ['1970 (seconds)', 86_400, 'time is before 1971-01-01, which /import refuses'],
      ['two hours ahead', NOW + 7_200_000, 'time is more than 1 hour in the future'],
    ])('refuses %s', (_name, time, message) => {
      expect(rejected(event({ ...base, time }), IMPORT)).toMatchObject({
        field: 'properties.time',
        message,
      });
    });

    it('accepts 1971-01-01 exactly and clamps a time within the hour ahead', () => {
      expect(mapped(event({ ...base, time: 31_536_000 }), IMPORT).timeMs).toBe(31_536_000_000);
      expect(mapped(event({ ...base, time: NOW + 1_800_000 }), IMPORT).timeMs).toBe(NOW);
      expect(mapped(event({ ...base, time: NOW + 7_200_000 }), TRACK).timeMs).toBe(NOW);
    });

    it.each([
      '00000000-0000-0000-0000-000000000000',
      'anon',
      'Anonymous',
      'nil',
      'None',
      'null',
      'N/A',
      'na',
      'undefined',
      'unknown',
      '<nil>',
      '0',
      '-1',
      'true',
      'false',
      '[]',
      '{}',
      0,
      -1,
    ])('refuses the placeholder distinct_id %j (accepted on /track)', (distinctId) => {
      expect(rejected(event({ ...base, distinct_id: distinctId }), IMPORT).field).toBe(
        'properties.distinct_id',
      );
      expect(mapped(event({ ...base, distinct_id: distinctId }), TRACK).distinctId).toBe(
        String(distinctId),
      );
    });

    it('allows an empty distinct_id ("no user")', () => {
      expect(mapped(event({ ...base, distinct_id: '' }), IMPORT).distinctId).toBe('');
    });

    it.each([
      ['37 characters', 'a'.repeat(37)],
      ['an underscore', 'abc_def'],
      ['a space', 'abc def'],
      ['empty', ''],
      ['a placeholder', 'null'],
    ])('refuses an $insert_id with %s', (_name, insertId) => {
      expect(rejected(event({ ...base, $insert_id: insertId }), IMPORT).field).toBe(
        'properties.$insert_id',
      );
    });

    it('accepts a 36-character UUID $insert_id and no $insert_id at all', () => {
      const uuid = '123e4567-e89b-12d3-a456-426614174000';
      expect(mapped(event({ ...base, $insert_id: uuid }), IMPORT).insertId).toBe(uuid);
      expect(mapped(event({ time: base.time, distinct_id: 'u1' }), IMPORT).insertId).toBeNull();
    });
  });

  it.each<[string, JsonValue, string, string]>([
    ['not an object', 'hello', 'record', 'must be a JSON object with "event" and "properties"'],
    ['an array', [1], 'record', 'must be a JSON object with "event" and "properties"'],
    [
      'properties not an object',
      { event: 'x', properties: [1] },
      'properties',
      'must be a JSON object',
    ],
    ['no event', { properties: {} }, 'event', 'missing event name'],
    ['event not a string', { event: 3 }, 'event', 'event name must be a string'],
    ['empty event', { event: '  ' }, 'event', 'event name must not be empty'],
    ['long event', { event: 'e'.repeat(256) }, 'event', 'event name is longer than 255 characters'],
    ['token not a string', event({ token: 12 }), 'properties.token', 'token must be a string'],
    [
      'distinct_id an object',
      event({ distinct_id: { a: 1 } }),
      'properties.distinct_id',
      'distinct_id must be a string or a number',
    ],
    [
      '$insert_id a number',
      event({ $insert_id: 5 }),
      'properties.$insert_id',
      '$insert_id must be a string',
    ],
  ])('refuses %s', (_name, record, field, message) => {
    expect(rejected(record)).toMatchObject({ index: 0, field, message });
  });

  it('counts event names in characters, not UTF-16 units', () => {
    expect(mapped({ event: '😀'.repeat(255) }).event).toHaveLength(510);
    expect(rejected({ event: '😀'.repeat(256) }).field).toBe('event');
  });

  it('turns a numeric distinct_id into a string', () => {
    expect(mapped(event({ distinct_id: 42 })).distinctId).toBe('42');
  });

  it.each<[JsonValue, boolean]>([
    [true, true],
    [1, true],
    ['true', true],
    [false, false],
    ['false', false],
    [0, false],
  ])('$ignore %j → dropped %s', ($ignore, dropped) => {
    const out = one(event({ $ignore, time: 'bad' }));
    expect(out.ignored).toBe(dropped ? 1 : 0);
    expect(out.events.length + out.errors.length).toBe(dropped ? 0 : 1);
  });

  describe('ip semantics', () => {
    const ignoring: WireContext = { ...CTX, ipMode: 'ignore-request-ip' };
    it.each<[string, JsonObject, WireContext, string | null]>([
      ['request IP by default (ip=1)', {}, CTX, '203.0.113.9'],
      ['no IP with ip=0 (mixpanel-node default)', {}, ignoring, null],
      ['properties.ip wins', { ip: '198.51.100.7' }, CTX, '198.51.100.7'],
      ['properties.ip works with ip=0', { ip: '198.51.100.7' }, ignoring, '198.51.100.7'],
      ['properties.ip "0" turns geolocation off', { ip: '0' }, CTX, null],
      ['$ip is not a geolocation source for events', { $ip: '192.0.2.1' }, ignoring, null],
    ])('%s', (_name, properties, context, geoIp) => {
      const result = mapped(event(properties), TRACK, context);
      expect(result.geoIp).toBe(geoIp);
      expect(result.properties).not.toHaveProperty('ip');
      expect(result.properties).not.toHaveProperty('$ip');
    });

    it('has no IP when the request IP is unknown', () => {
      expect(mapped(event({}), TRACK, { ...CTX, clientIp: null }).geoIp).toBeNull();
    });
  });

  it('reports each bad record with its index and keeps the good ones', () => {
    const out = mapMixpanelEvents(
      [
        event({ $insert_id: 'i0' }),
        { event: '' },
        event({ $ignore: true }),
        event({ $insert_id: 'i3', time: 'x' }),
      ],
      CTX,
      TRACK,
    );
    expect(out.events.map((e) => e.index)).toEqual([0]);
    expect(out.ignored).toBe(1);
    expect(out.errors.map((e) => [e.index, e.insertId, e.field])).toEqual([
      [1, null, 'event'],
      [3, 'i3', 'properties.time'],
    ]);
  });

  it('never throws and accounts for every record (random input)', () => {
    const record = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record(
        {
          event: fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 1 })),
          properties: fc.record(
            {
              token: fc.jsonValue({ maxDepth: 1 }),
              time: fc.oneof(
                fc.double(),
                fc.integer(),
                fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
                fc.string(),
              ),
              distinct_id: fc.jsonValue({ maxDepth: 1 }),
              $insert_id: fc.jsonValue({ maxDepth: 1 }),
              ip: fc.jsonValue({ maxDepth: 1 }),
              $ignore: fc.jsonValue({ maxDepth: 1 }),
              other: fc.jsonValue({ maxDepth: 2 }),
            },
            { requiredKeys: [] },
          ),
        },
        { requiredKeys: [] },
      ),
    ) as fc.Arbitrary<JsonValue>;
    fc.assert(
      fc.property(fc.array(record, { maxLength: 10 }), fc.boolean(), (records, importMode) => {
        const out = mapMixpanelEvents(records, CTX, { importMode });
        expect(out.events.length + out.errors.length + out.ignored).toBe(records.length);
        for (const e of out.events) {
          expect(e.timeMs).toBeLessThanOrEqual(NOW);
          expect(Number.isInteger(e.timeMs)).toBe(true);
          for (const key of ['token', 'time', 'distinct_id', '$insert_id', 'ip', '$ip'])
            expect(e.properties).not.toHaveProperty(key);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('mapMixpanelProfiles', () => {
  const USER = { target: 'user' as const };
  const GROUP = { target: 'group' as const };

  it('maps a mixpanel-browser people.set', () => {
    const out = mapMixpanelProfiles(
      [
        {
          $token: 'tok',
          $distinct_id: 'u1',
          $device_id: 'd1',
          $user_id: 'u1',
          $had_persisted_distinct_id: true,
          $set: { plan: 'pro' },
        },
      ],
      CTX,
      USER,
    );
    expect(out).toEqual({
      events: [],
      errors: [],
      ignored: 0,
      updates: [
        {
          index: 0,
          token: 'tok',
          target: { kind: 'user', distinctId: 'u1' },
          op: '$set',
          value: { plan: 'pro' },
          timeMs: NOW,
          ignoreTime: false,
          geoIp: '203.0.113.9',
          userAgent: 'Mozilla/5.0 test',
        },
      ],
    });
  });

  it('maps a group update', () => {
    const out = mapMixpanelProfiles(
      [{ $token: 't', $group_key: 'company', $group_id: 42, $set_once: { a: 1 } }],
      CTX,
      GROUP,
    );
    expect(out.updates[0]).toMatchObject({
      target: { kind: 'group', groupKey: 'company', groupId: '42' },
      op: '$set_once',
    });
  });

  it('emits one update per operation, in PROFILE_OPS order with $delete last', () => {
    const out = mapMixpanelProfiles(
      [
        {
          $distinct_id: 'u',
          $delete: '',
          $unset: ['a'],
          $set_once: { b: 1 },
          $set: { c: 2 },
          $add: { n: 1 },
        },
      ],
      CTX,
      USER,
    );
    expect(out.updates.map((u) => [u.op, u.value])).toEqual([
      ['$set', { c: 2 }],
      ['$set_once', { b: 1 }],
      ['$add', { n: 1 }],
      ['$unset', ['a']],
      ['$delete', null],
    ]);
  });

  it.each<[string, JsonObject, JsonValue]>([
    [
      '$union wraps scalars into arrays',
      { $union: { tags: 'a', ids: [1, 2], none: null } },
      { tags: ['a'], ids: [1, 2], none: [null] },
    ],
    ['$unset accepts one name', { $unset: 'plan' }, ['plan']],
    ['$append keeps values as sent', { $append: { list: { x: 1 } } }, { list: { x: 1 } }],
    ['$remove keeps values as sent', { $remove: { list: 'x' } }, { list: 'x' }],
    ['$add accepts negative and float numbers', { $add: { n: -1.5 } }, { n: -1.5 }],
    ['$delete ignores its value', { $delete: 'anything' }, null],
  ])('%s', (_name, ops, value) => {
    const out = mapMixpanelProfiles([{ $distinct_id: 'u', ...ops }], CTX, USER);
    expect(out.errors).toEqual([]);
    expect(out.updates[0]?.value).toEqual(value);
  });

  it.each<[string, JsonValue, string, string]>([
    ['not an object', [1], 'record', 'must be a JSON object with a profile operation'],
    [
      'no operation',
      { $distinct_id: 'u', $device_id: 'd' },
      'record',
      'no profile operation (one of $set, $set_once, $add, $append, $union, $remove, $unset, $delete)',
    ],
    ['no $distinct_id', { $set: { a: 1 } }, '$distinct_id', 'missing $distinct_id'],
    [
      'empty $distinct_id',
      { $distinct_id: '', $set: { a: 1 } },
      '$distinct_id',
      '$distinct_id must not be empty',
    ],
    [
      'boolean $distinct_id',
      { $distinct_id: true, $set: { a: 1 } },
      '$distinct_id',
      '$distinct_id must be a string or a number',
    ],
    [
      '$token a number',
      { $token: 1, $distinct_id: 'u', $set: {} },
      '$token',
      '$token must be a string',
    ],
    [
      '$set not an object',
      { $distinct_id: 'u', $set: [1] },
      '$set',
      '$set value must be a JSON object',
    ],
    [
      '$add with a string',
      { $distinct_id: 'u', $add: { n: '1' } },
      '$add',
      '$add values must be numbers',
    ],
    [
      '$add not an object',
      { $distinct_id: 'u', $add: 1 },
      '$add',
      '$add value must be a JSON object of numbers',
    ],
    [
      '$union not an object',
      { $distinct_id: 'u', $union: ['a'] },
      '$union',
      '$union value must be a JSON object of arrays',
    ],
    [
      '$unset of numbers',
      { $distinct_id: 'u', $unset: [1] },
      '$unset',
      '$unset value must be an array of property names',
    ],
    [
      'bad $time',
      { $distinct_id: 'u', $time: 'soon', $set: {} },
      '$time',
      '$time must be milliseconds since the epoch or an ISO 8601 string',
    ],
  ])('refuses %s', (_name, record, field, message) => {
    const out = mapMixpanelProfiles([record], CTX, USER);
    expect(out.updates).toEqual([]);
    expect(out.errors).toEqual([{ index: 0, insertId: null, field, message }]);
  });

  it('applies none of an object’s operations when one is invalid', () => {
    const out = mapMixpanelProfiles(
      [{ $distinct_id: 'u', $set: { a: 1 }, $add: { n: 'x' } }],
      CTX,
      USER,
    );
    expect(out.updates).toEqual([]);
    expect(out.errors).toHaveLength(1);
  });

  it.each<[string, JsonObject, string, string]>([
    ['no $group_key', { $group_id: 'g' }, '$group_key', 'missing $group_key'],
    [
      'empty $group_key',
      { $group_key: '', $group_id: 'g' },
      '$group_key',
      '$group_key must be a non-empty string',
    ],
    ['no $group_id', { $group_key: 'company' }, '$group_id', 'missing $group_id'],
    [
      'object $group_id',
      { $group_key: 'company', $group_id: {} },
      '$group_id',
      '$group_id must be a non-empty string or a number',
    ],
  ])('groups: refuses %s', (_name, record, field, message) => {
    expect(mapMixpanelProfiles([{ ...record, $set: { a: 1 } }], CTX, GROUP).errors).toEqual([
      { index: 0, insertId: null, field, message },
    ]);
  });

  it.each<[string, JsonObject, WireContext, string | null]>([
    ['request IP by default', {}, CTX, '203.0.113.9'],
    ['$ip "0" leaves geolocation alone', { $ip: '0' }, CTX, null],
    ['$ip given', { $ip: '198.51.100.7' }, CTX, '198.51.100.7'],
    ['ip=0 on the request', {}, { ...CTX, ipMode: 'ignore-request-ip' }, null],
  ])('geolocation: %s', (_name, modifiers, context, geoIp) => {
    expect(
      mapMixpanelProfiles([{ $distinct_id: 'u', $set: { a: 1 }, ...modifiers }], context, USER)
        .updates[0]?.geoIp,
    ).toBe(geoIp);
  });

  it('honours $ignore_time and $time (ms, clamped to now)', () => {
    const [a, b] = mapMixpanelProfiles(
      [
        { $distinct_id: 'u', $set: {}, $ignore_time: true, $time: 1717200000000 },
        { $distinct_id: 'u', $set: {}, $time: NOW + 60_000 },
      ],
      CTX,
      USER,
    ).updates;
    expect([a?.ignoreTime, a?.timeMs]).toEqual([true, 1717200000000]);
    expect([b?.ignoreTime, b?.timeMs]).toEqual([false, NOW]);
  });

  it('never throws and accounts for every record (random input)', () => {
    const ops = fc.dictionary(
      fc.constantFrom(
        '$set',
        '$set_once',
        '$add',
        '$append',
        '$union',
        '$remove',
        '$unset',
        '$delete',
        '$ip',
        '$time',
        '$token',
        '$distinct_id',
        '$group_key',
        '$group_id',
      ),
      fc.jsonValue({ maxDepth: 2 }),
    ) as fc.Arbitrary<JsonValue>;
    fc.assert(
      fc.property(
        fc.array(fc.oneof(ops, fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<JsonValue>), {
          maxLength: 8,
        }),
        fc.constantFrom('user' as const, 'group' as const),
        (records, target) => {
          const out = mapMixpanelProfiles(records, CTX, { target });
          const indexes = new Set([
            ...out.updates.map((u) => u.index),
            ...out.errors.map((e) => e.index),
          ]);
          expect(indexes.size).toBe(records.length);
          expect(out.errors.every((e) => !out.updates.some((u) => u.index === e.index))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
