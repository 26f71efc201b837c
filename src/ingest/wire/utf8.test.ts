// Tests for strict UTF-8 decoding and the error-position walk.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeUtf8Strict, firstInvalidUtf8Byte } from './utf8.js';

describe('strict UTF-8', () => {
  it.each([
    [[0x41, 0xc3, 0xa9], 'Aé'],
    [[0xef, 0xbb, 0xbf, 0x5b, 0x5d], '[]'],
    [[0xf0, 0x9f, 0x98, 0x80], '😀'],
  ])('decodes %j', (bytes, text) => {
    expect(decodeUtf8Strict(new Uint8Array(bytes))).toBe(text);
    expect(firstInvalidUtf8Byte(new Uint8Array(bytes))).toBe(-1);
  });

  it.each([
    [[0x41, 0xff], 1],
    [[0x41, 0xc0, 0x80], 1], // overlong
    [[0xed, 0xa0, 0x80], 0], // surrogate
    [[0xf4, 0x90, 0x80, 0x80], 0], // above U+10FFFF
    [[0x41, 0x42, 0xe2, 0x82], 2], // truncated
    [[0x80], 0], // lone continuation
  ])('refuses %j at byte %i', (bytes, offset) => {
    expect(decodeUtf8Strict(new Uint8Array(bytes))).toBeNull();
    expect(firstInvalidUtf8Byte(new Uint8Array(bytes))).toBe(offset);
  });

  it('locates an error exactly when TextDecoder refuses', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 16 }),
          fc.string({ unit: 'binary' }).map((s) => new Uint8Array(Buffer.from(s, 'utf8'))),
        ),
        (bytes) => {
          expect(firstInvalidUtf8Byte(bytes) === -1).toBe(decodeUtf8Strict(bytes) !== null);
        },
      ),
      { numRuns: 500 },
    );
  });
});
