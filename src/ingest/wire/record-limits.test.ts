// Tests for the per-record bounds: the longest string and the number of properties, named by path.
import { describe, expect, it } from 'vitest';
import { decodePayload, type DecodeLimits } from './body.js';
import { findRecordLimitProblem } from './record-limits.js';

const LIMITS: DecodeLimits = {
  maxBodyBytes: 1024 * 1024,
  maxDecodedBytes: 10 * 1024 * 1024,
  maxDepth: 12,
  maxRecordsPerRequest: 2000,
  maxStringLength: 100,
  maxPropertiesPerRecord: 10,
};

function decode(records: unknown) {
  return decodePayload(
    {
      body: Buffer.from(JSON.stringify(records)),
      contentType: 'application/json',
      contentEncoding: null,
      query: {},
    },
    LIMITS,
  );
}

describe('per-record limits', () => {
  it('accepts records within the bounds', () => {
    const r = decode([{ event: 'e', properties: { token: 't', s: 'x'.repeat(100) } }]);
    expect(r.ok).toBe(true);
  });

  it('refuses a string value longer than the bound with 413 naming the record and the path', () => {
    const r = decode([
      { event: 'e', properties: { token: 't' } },
      { event: 'e', properties: { token: 't', big: '1 '.repeat(51) } },
    ]);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('INGEST_RECORD_TOO_LARGE');
    expect(r.error.status).toBe(413);
    expect(r.error.message).toBe('record 1: properties.big is longer than 100 characters');
    // The value itself is never quoted.
    expect(r.error.message).not.toContain('1 1');
  });

  it('refuses a long key, and long strings inside arrays', () => {
    const key = decode([{ event: 'e', properties: { ['k'.repeat(101)]: 1 } }]);
    expect(!key.ok && key.error.message).toMatch(/^record 0: properties\."k{64}…" is longer/);
    const inArray = decode({ event: 'e', properties: { list: ['a', 'b'.repeat(101)] } });
    expect(!inArray.ok && inArray.error.message).toBe(
      'record 0: properties.list[1] is longer than 100 characters',
    );
  });

  it('counts keys and array elements at every level', () => {
    const many = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`p${i}`, i]));
    // event + properties + 9 keys = 11 > 10
    const r = decode({ event: 'e', properties: many });
    expect(!r.ok && r.error.code).toBe('INGEST_RECORD_TOO_LARGE');
    expect(!r.ok && r.error.message).toBe('record 0: more than 10 properties (at properties)');
    const ok = decode({ event: 'e', properties: { a: [1, 2, 3], b: { c: 1 } } });
    expect(ok.ok).toBe(true);
  });

  it('checks the events of a PostHog batch one by one', () => {
    const batch = {
      api_key: 'k',
      batch: [
        { event: 'a', properties: {} },
        { event: 'b', properties: { s: 'x'.repeat(200) } },
      ],
    };
    const r = decode(batch);
    expect(!r.ok && r.error.message).toBe(
      'record 1: batch[1].properties.s is longer than 100 characters',
    );
    // A batch of many small events is fine although it has more than 10 properties in total.
    const small = {
      api_key: 'k',
      batch: Array.from({ length: 50 }, () => ({ event: 'a', properties: { x: 1 } })),
    };
    expect(decode(small).ok).toBe(true);
  });

  it('is linear: a record of 200,000 keys is refused after counting, not after scanning them all', () => {
    const keys = Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`k${i}`, 1]));
    const problem = findRecordLimitProblem([{ properties: keys }], 100, 2000);
    expect(problem?.kind).toBe('too-many-properties');
  });
});
