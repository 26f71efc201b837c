// Tests for the value checks: 1e309, NUL in names and keys, lone surrogates, and the one
// normalisation (mixpanel-browser's 255-unit truncation cutting an emoji in half).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../records.js';
import { mapMixpanelEvents, mapMixpanelProfiles } from './mixpanel.js';
import { mapPosthogRecords } from './posthog.js';
import { parseJsonRecords } from './json.js';
import { checkName, checkWireValue, checkWireValueWalk } from './values.js';

const ctx = {
  clientIp: null,
  userAgent: null,
  ipMode: 'use-request-ip' as const,
  receivedAtMs: 1e12,
};
const parse = (text: string): JsonValue[] => parseJsonRecords(text, 32, 'request body');

describe('checkWireValue', () => {
  it.each([
    ['{"price":1e309}', 'properties.price', /not a finite double/],
    ['{"list":[1,-1e309]}', 'properties.list[1]', /not a finite double/],
    ['{"a":{"b":"\\ud800x"}}', 'properties.a.b', /unpaired UTF-16 surrogate/],
    ['{"x":"\\udc00"}', 'properties.x', /unpaired/],
    ['{"ok":1,"bad\\u0000key":1}', 'properties[key #2]', /property name must not contain NUL/],
    ['{"\\ud83d":1}', 'properties[key #1]', /property name has an unpaired/],
  ])('%s → %s', (json, field, message) => {
    const [value] = parse(json);
    const checked = checkWireValue(value ?? null, 'properties');
    expect(checked.ok).toBe(false);
    if (!checked.ok) {
      expect(checked.problem.field).toBe(field);
      expect(checked.problem.message).toMatch(message);
    }
  });

  it('keeps valid values as the same object, emoji pairs and NUL in values included', () => {
    const [value] = parse('{"e":"😀 \\ud83d\\ude00","n":1e308,"v":"a\\u0000b","k":[1,{"z":null}]}');
    const checked = checkWireValue(value ?? null, 'properties');
    expect(checked).toEqual({ ok: true, value, normalised: [] });
    if (checked.ok) expect(checked.value).toBe(value);
  });

  it('drops a high surrogate left at unit 255 by mixpanel-browser truncation, and only that', () => {
    const cut = 'x'.repeat(254) + '\ud83d';
    const checked = checkWireValue({ note: cut, other: 'y' }, 'properties');
    // The altered top-level property is named, for the privacy report.
    expect(checked).toEqual({
      ok: true,
      value: { note: 'x'.repeat(254), other: 'y' },
      normalised: ['note'],
    });
    expect(checkWireValue({ a: [{ b: cut }, cut], c: cut }, '$set')).toMatchObject({
      ok: true,
      normalised: ['a', 'c'],
    });
    // Anywhere else (or any other length) it is refused.
    expect(checkWireValue({ note: 'x'.repeat(253) + '\ud83d' }, 'properties').ok).toBe(false);
  });

  it('accepts every well-formed string (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (text) => {
        expect(checkWireValue({ k: text }, 'p').ok).toBe(true);
        expect(checkName(text.replaceAll('\u0000', ''), 'event', 'name')).toBeNull();
      }),
    );
  });
});

describe('checkWireValue fast path', () => {
  const SEED = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const RUNS = { seed: SEED, numRuns: Number(process.env.FC_RUNS ?? 500) };
  // Strings that reach every branch: lone and paired surrogates, NUL, a high surrogate at unit 255.
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 8 }),
    fc.constantFrom('\ud800', '\udc00', '\ud83d\ude00', 'a\u0000b', '\u0000', '', 'ok'),
    fc.string({ maxLength: 3 }).map((tail) => 'x'.repeat(254) + '\ud83d' + tail),
  );
  const value: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      text,
      fc.oneof(fc.double(), fc.constantFrom(Infinity, -Infinity, NaN, 1e308)),
      fc.constantFrom(null, true, false),
      fc.array(tie('value'), { maxLength: 4 }),
      fc
        .array(fc.tuple(text, tie('value')), { maxLength: 4 })
        .map((entries) => Object.fromEntries(entries) as JsonValue),
    ),
  })).value;

  it(`answers as the full walk, the same object when unchanged (fast-check seed ${SEED}; rerun with FC_SEED=${SEED})`, () => {
    fc.assert(
      fc.property(value, (v) => {
        const fast = checkWireValue(v, 'properties');
        const walk = checkWireValueWalk(v, 'properties');
        expect(fast).toEqual(walk);
        if (fast.ok && walk.ok && walk.value === v) expect(fast.value).toBe(v);
      }),
      RUNS,
    );
  });
});

describe('the mappers refuse the record, name the field, and keep the others', () => {
  it('Mixpanel events', () => {
    const records = parse(
      '[{"event":"ok","properties":{"token":"t"}},' +
        '{"event":"a","properties":{"token":"t","price":1e309}},' +
        '{"event":"b\\u0000c","properties":{"token":"t"}},' +
        '{"event":"d","properties":{"token":"t","distinct_id":"u\\u0000"}},' +
        '{"event":"\\ud800","properties":{"token":"t"}}]',
    );
    const out = mapMixpanelEvents(records, ctx, { importMode: false });
    expect(out.events.map((e) => e.event)).toEqual(['ok']);
    expect(out.errors.map((e) => [e.index, e.field])).toEqual([
      [1, 'properties.price'],
      [2, 'event'],
      [3, 'properties.distinct_id'],
      [4, 'event'],
    ]);
  });

  it('Mixpanel profiles', () => {
    const out = mapMixpanelProfiles(
      parse(
        '[{"$token":"t","$distinct_id":"u","$set":{"n":-1e400}},' +
          '{"$token":"t","$distinct_id":"u","$add":{"n":1}}]',
      ),
      ctx,
      { target: 'user' },
    );
    expect(out.errors).toMatchObject([{ index: 0, field: '$set.n' }]);
    expect(out.updates).toHaveLength(1);
  });

  it('PostHog events', () => {
    const out = mapPosthogRecords(
      parse(
        '{"api_key":"t","batch":[{"event":"e","distinct_id":"u","properties":{"\\u0000":1}},' +
          '{"event":"e","distinct_id":"u","$set":{"x":"\\udfff"}},' +
          '{"event":"e","distinct_id":"u"}]}',
      ),
      ctx,
    );
    expect(out.errors.map((e) => e.field)).toEqual(['properties[key #1]', '$set.x']);
    expect(out.events).toHaveLength(1);
  });
});
