// Tests for the safe JSON layer: depth scan, error locator, NDJSON and forbidden keys.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import {
  findForbiddenKey,
  locateJsonError,
  looksLikeJson,
  parseJsonRecords,
  scanDepth,
} from './json.js';

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (error) {
    if (error instanceof AppError) return error.code;
    throw error;
  }
}

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof AppError) return error.message;
    throw error;
  }
  throw new Error('expected an AppError');
}

describe('scanDepth', () => {
  it.each([
    ['[]', 1, false],
    ['[[]]', 1, true],
    ['{"a":{"b":[1]}}', 3, false],
    ['{"a":{"b":[1]}}', 2, true],
    ['["[[[[[[[[", "{{{{{{"]', 1, false],
    ['["\\"[[[[["]', 1, false],
    ['["\\\\", [[1]]]', 2, true],
    [']]]]][[', 2, false],
  ])('%s with max %i → tooDeep %s', (text, max, tooDeep) => {
    expect(scanDepth(text, max).tooDeep).toBe(tooDeep);
  });

  it('finds where the first top-level value ends', () => {
    expect(scanDepth('{"a":"}"}\n{"b":1}', 5).firstValueEnd).toBe(9);
    expect(scanDepth('[1, [2]', 5).firstValueEnd).toBe(-1);
  });

  it('agrees with the real nesting depth of any JSON value', () => {
    const depthOf = (v: unknown): number =>
      typeof v === 'object' && v !== null ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0;
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        const text = JSON.stringify(value);
        const depth = depthOf(value);
        expect(scanDepth(text, depth).tooDeep).toBe(false);
        if (depth > 0) expect(scanDepth(text, depth - 1).tooDeep).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('locateJsonError', () => {
  it.each([
    ['{"a":}', 5, 'unexpected character where a value was expected'],
    ['{"a" 1}', 5, "expected ':' after a property name"],
    ['[1,]', 3, 'unexpected character where a value was expected'],
    ['{"a":1', 6, 'unexpected end of JSON'],
    ['tru', 3, 'unexpected end of JSON'],
    ['"abc', 4, 'unterminated string'],
    ['[1 2]', 3, "expected ',' or ']' after an array element"],
    ['{"a":1}x', 7, 'unexpected data after the JSON value'],
    ['{a:1}', 1, "expected a property name in double quotes or '}'"],
    ['"\u0001"', 1, 'control character inside a string'],
    ['"\\x"', 2, 'invalid escape in a string'],
    ['"\\u12G4"', 5, 'invalid \\u escape in a string'],
    ['1e', 2, 'invalid number'],
    ['-', 1, 'invalid number'],
    ['[01]', 2, "expected ',' or ']' after an array element"],
    ['', 0, 'unexpected end of JSON'],
    ['nul1', 0, 'invalid literal (expected true, false or null)'],
  ])('%j → position %i', (text, position, reason) => {
    expect(() => JSON.parse(text) as unknown).toThrow();
    expect(locateJsonError(text)).toEqual({ position, reason });
  });

  it('is silent exactly when JSON.parse succeeds (random and mutated texts)', () => {
    const texts = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v, null, 1)),
      fc.string({
        unit: fc.constantFrom(...'{}[]":,0123456789.eE+-truefalsn \\u\n'.split('')),
        maxLength: 30,
      }),
      fc
        .tuple(
          fc.jsonValue({ maxDepth: 3 }),
          fc.nat(),
          fc.constantFrom('', ']', '}', '"', ',', ':', 'x', '\\'),
        )
        .map(([v, at, junk]) => {
          const s = JSON.stringify(v);
          const i = at % (s.length + 1);
          return s.slice(0, i) + junk + s.slice(i + 1);
        }),
    );
    fc.assert(
      fc.property(texts, (text) => {
        let valid = true;
        try {
          JSON.parse(text);
        } catch {
          valid = false;
        }
        const problem = locateJsonError(text);
        expect(problem === null).toBe(valid);
        if (problem) expect(problem.position).toBeLessThanOrEqual(text.length);
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseJsonRecords', () => {
  it('gives the elements of an array, an object as one record, and refuses scalars', () => {
    expect(parseJsonRecords('[{"a":1},{"b":2}]', 12, 'body')).toEqual([{ a: 1 }, { b: 2 }]);
    expect(parseJsonRecords(' {"a":1} ', 12, 'body')).toEqual([{ a: 1 }]);
    expect(codeOf(() => parseJsonRecords('42', 12, 'body'))).toBe('INGEST_PAYLOAD_SHAPE');
    expect(codeOf(() => parseJsonRecords('null', 12, 'body'))).toBe('INGEST_PAYLOAD_SHAPE');
  });

  it('reads NDJSON, one record per line, blank lines and CRLF ignored', () => {
    const text = '{"event":"a"}\r\n\n  \n{"event":"b"}\n[1,2]\n';
    expect(parseJsonRecords(text, 12, 'body')).toEqual([{ event: 'a' }, { event: 'b' }, [1, 2]]);
  });

  it('names the NDJSON line and column of a syntax error, without quoting it', () => {
    const message = messageOf(() =>
      parseJsonRecords('{"a":1}\n{"secret-value":}\n', 12, 'request body'),
    );
    expect(message).toBe(
      'request body is not valid NDJSON: unexpected character where a value was expected (line 2, column 17)',
    );
    expect(message).not.toContain('secret');
  });

  it('reports a JSON syntax error with position and without echoing input', () => {
    const message = messageOf(() =>
      parseJsonRecords('{"password":"hunter2" "x":1}', 12, 'request body'),
    );
    expect(message).toBe(
      "request body is not valid JSON: expected ',' or '}' after a property value (position 22)",
    );
    expect(messageOf(() => parseJsonRecords('[1,2] [3]', 12, 'request body'))).toContain(
      'unexpected data after',
    );
  });

  it.each([
    '{"__proto__":{"polluted":true}}',
    '[{"properties":{"constructor":{"prototype":{}}}}]',
    '{"a":[{"b":{"prototype":1}}]}',
    '{"\\u005f_proto__":1}',
    '{"event":"x"}\n{"__proto__":1}',
  ])('refuses forbidden keys: %s', (text) => {
    expect(codeOf(() => parseJsonRecords(text, 12, 'body'))).toBe('INGEST_FORBIDDEN_KEY');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('allows the forbidden words as values', () => {
    expect(parseJsonRecords('{"a":"__proto__","b":["constructor"]}', 12, 'body')).toEqual([
      { a: '__proto__', b: ['constructor'] },
    ]);
  });

  it('refuses nesting beyond the limit with a precise message', () => {
    expect(messageOf(() => parseJsonRecords('{"a":{"b":{"c":1}}}', 2, 'body'))).toBe(
      'JSON nesting deeper than 2 levels',
    );
    expect(parseJsonRecords('{"a":{"b":{"c":1}}}', 3, 'body')).toHaveLength(1);
  });

  it('refuses 100k-deep nesting without overflowing the stack', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(codeOf(() => parseJsonRecords(deep, 12, 'body'))).toBe('INGEST_NESTING_TOO_DEEP');
    const unclosed = '{"a":'.repeat(100_000);
    expect(codeOf(() => parseJsonRecords(unclosed, 12, 'body'))).toBe('INGEST_NESTING_TOO_DEEP');
    // Even when allowed, the locator and key walk are iterative.
    expect(codeOf(() => parseJsonRecords('['.repeat(100_000), 1_000_000, 'body'))).toBe(
      'INGEST_JSON_INVALID',
    );
    expect(findForbiddenKey(JSON.parse(deep))).toBeNull();
  });

  it('looksLikeJson skips leading whitespace only', () => {
    expect(looksLikeJson(' \n\t[')).toBe(true);
    expect(looksLikeJson('data=[')).toBe(false);
    expect(looksLikeJson('')).toBe(false);
  });
});
