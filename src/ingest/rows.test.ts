// Store rows: typed columns come out of the property bag exactly as the first implementation did.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { STANDARD_EVENT_PROPERTIES, namesOf } from '../shared/event-schema.js';
import { STANDARD_PROPERTIES } from '../query/model.js';
import type { CleanEvent } from './privacy-stage.js';
import type { JsonObject, JsonValue } from './records.js';
import { dedupKey, toEventRow } from './rows.js';

const SEED = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));

// The straightforward version (copy the bag, then delete what fills a column), kept as the
// reference for the one-pass version.
const TYPED: Record<string, readonly string[]> = Object.fromEntries(
  STANDARD_EVENT_PROPERTIES.map((def) => [def.field, namesOf(def)]),
);

function asColumn(value: JsonValue | undefined): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value === '' ? null : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return null;
}

function reference(properties: JsonObject): {
  typed: Record<string, string | null>;
  rest: JsonObject;
} {
  const rest: JsonObject = { ...properties };
  const typed: Record<string, string | null> = {};
  for (const [field, names] of Object.entries(TYPED)) {
    let value: string | null = null;
    for (const name of names) {
      const candidate = asColumn(rest[name]);
      if (candidate !== null || rest[name] === null || rest[name] === '') delete rest[name];
      if (value === null && candidate !== null) value = candidate;
    }
    typed[field] = value;
  }
  delete rest.$device_id;
  delete rest.$user_id;
  return { typed, rest };
}

const clean = (properties: JsonObject): CleanEvent => ({
  event: 'Viewed',
  timeMs: 1_700_000_000_123,
  distinctId: 'u_aaaaaaaaaaaaaaaaaaaaaa',
  deviceId: null,
  userId: null,
  insertId: 'abc',
  properties,
  identityLinks: [],
});

const NAMES = [...Object.values(TYPED).flat(), '$device_id', '$user_id', 'plan', 'n', '__proto__'];
const value: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.constantFrom<JsonValue>('', null, 'x', 'Chrome', 0, -0, 12.5, true, false, [], {}, ['a'], {
    k: 'v',
  }),
  fc.string({ maxLength: 5 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const bag = fc.array(fc.tuple(fc.constantFrom(...NAMES), value), { maxLength: 12 }).map((pairs) => {
  const out: JsonObject = {};
  for (const [k, v] of pairs)
    Object.defineProperty(out, k, {
      value: v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  return out;
});

describe(`toEventRow (FC_SEED=${SEED})`, () => {
  it('fills the typed columns and the bag like the reference, keys in the same order', () => {
    fc.assert(
      fc.property(bag, (properties) => {
        const row = toEventRow('prj_1', clean(properties), 5);
        const want = reference(properties);
        for (const [field, v] of Object.entries(want.typed)) {
          expect(row[field as keyof typeof row]).toBe(v);
        }
        expect(Object.keys(row.properties)).toEqual(Object.keys(want.rest));
        expect(row.properties).toEqual(want.rest);
        expect(Object.getPrototypeOf(row.properties)).toBe(Object.prototype);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('puts every name the query model reads from a column into that column (issue 12: $country_code)', () => {
    for (const [name, column] of Object.entries(STANDARD_PROPERTIES)) {
      const row = toEventRow('prj_1', clean({ [name]: 'FR' }), 5);
      const def = STANDARD_EVENT_PROPERTIES.find((d) => d.column === column)!;
      expect(row[def.field]).toBe('FR');
      expect(row.properties).toEqual({});
    }
    expect(toEventRow('prj_1', clean({ $country_code: 'DE' }), 5).countryCode).toBe('DE');
  });

  it('keys rows by the SHA-256 of the dedup tuple (first 128 bits, big-endian)', () => {
    const digest = createHash('sha256').update('p\u0000e\u0000d\u000012\u0000i').digest('hex');
    expect(dedupKey('p', 'e', 'd', 12, 'i')).toBe(BigInt(`0x${digest.slice(0, 32)}`));
    const row = toEventRow('prj_1', clean({}), 5);
    expect(row.dedupKey).toBe(
      dedupKey('prj_1', 'Viewed', 'u_aaaaaaaaaaaaaaaaaaaaaa', 1_700_000_000_123, 'abc'),
    );
  });
});
