// Tests for strict base64: both alphabets, optional padding, positions of bad characters.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBase64Strict } from './base64.js';

/** The grammar, written as plainly as possible, to check the length trick against. */
function referenceValid(text: string): boolean {
  const s = text.replace(/[\r\n]/g, '');
  const m = /^([A-Za-z0-9+/_-]*)(={0,2})$/.exec(s);
  if (!m) return false;
  const core = m[1] ?? '';
  const pad = m[2] ?? '';
  if (core.length === 0 || core.length % 4 === 1) return false;
  return pad.length === 0 || s.length % 4 === 0;
}

describe('decodeBase64Strict', () => {
  it.each([
    ['eyJhIjoxfQ==', '{"a":1}'],
    ['eyJhIjoxfQ', '{"a":1}'],
    ['Pz8_Pz8-', '?????>'],
    ['Pz8/Pz8+', '?????>'],
    ['eyJh\r\nIjoxfQ==\n', '{"a":1}'],
  ])('%j decodes', (input, expected) => {
    const result = decodeBase64Strict(input);
    expect(result.ok && result.bytes.toString('utf8')).toBe(expected);
  });

  it.each([
    ['eyJhIjoxfQ=*', 11, 'data after padding'],
    ['eyJhIjox*Q==', 8, 'invalid character'],
    ['eyJh Ijox', 4, 'invalid character'],
    ['eyJhIjoxf', 9, 'invalid length'],
    ['QQ==QQ==', 4, 'data after padding'],
    ['QQ===', 4, 'too much padding'],
    ['QUJD=', 5, 'invalid length'],
    ['', 0, 'invalid length'],
    ['eyJh\u00e9Ijox', 4, 'invalid character'],
  ])('%j is refused at %i (%s)', (input, position, reason) => {
    expect(decodeBase64Strict(input)).toEqual({ ok: false, position, reason });
  });

  it('accepts exactly the base64 grammar, and round-trips bytes in both alphabets', () => {
    const alphabet = 'ABCXYZabcxyz0189+/-_=\r\n *.';
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: fc.constantFrom(...alphabet.split('')), maxLength: 24 }),
          fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64')),
        ),
        (text) => {
          const result = decodeBase64Strict(text);
          expect(result.ok).toBe(referenceValid(text));
        },
      ),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.boolean(),
        fc.boolean(),
        (bytes, urlSafe, stripPad) => {
          let text = Buffer.from(bytes).toString(urlSafe ? 'base64url' : 'base64');
          if (stripPad) text = text.replace(/=+$/, '');
          const result = decodeBase64Strict(text);
          expect(result.ok && [...result.bytes]).toEqual([...bytes]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
