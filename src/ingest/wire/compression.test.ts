// Tests for bounded gunzip and the bounded LZ-string port (differential against lz-string itself).
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import LZString from 'lz-string';
import { describe, expect, it } from 'vitest';
import { decompressLz64, gunzipBounded, hasGzipMagic } from './compression.js';

const LZ_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=';

/**
 * Hand-built LZ-string stream: one literal 'a', then `codes` back-references to the entry being
 * defined (output grows 2, 3, 4, … characters per code), then the end code. Output is about
 * codes²/2 characters from about codes × 2 bytes of input: a quadratic bomb.
 */
function lzBomb(codes: number): string {
  const out: string[] = [];
  let value = 0;
  let filled = 0;
  const write = (code: number, bits: number): void => {
    for (let i = 0; i < bits; i++) {
      value = (value << 1) | ((code >> i) & 1);
      if (++filled === 6) {
        out.push(LZ_ALPHABET[value] ?? '');
        value = 0;
        filled = 0;
      }
    }
  };
  write(0, 2);
  write(0x61, 8);
  let dictSize = 4;
  let numBits = 3;
  let enlargeIn = 4;
  for (let k = 0; k < codes; k++) {
    write(dictSize, numBits);
    dictSize++;
    if (--enlargeIn === 0) {
      enlargeIn = 2 ** numBits;
      numBits++;
    }
  }
  write(2, numBits);
  if (filled > 0) out.push(LZ_ALPHABET[value << (6 - filled)] ?? '');
  while (out.length % 4 !== 0) out.push('=');
  return out.join('');
}

describe('gunzipBounded', () => {
  it('inflates gzip, including concatenated members', () => {
    const one = gzipSync('{"a":1}');
    const result = gunzipBounded(Buffer.concat([one, one]), 1024);
    expect(result.ok && result.value.toString()).toBe('{"a":1}{"a":1}');
    expect(hasGzipMagic(one)).toBe(true);
    expect(hasGzipMagic(Buffer.from('{}'))).toBe(false);
  });

  it('stops at the output cap', () => {
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(100_000);
    expect(gunzipBounded(bomb, 10 * 1024 * 1024)).toEqual({ ok: false, kind: 'too-large' });
  });

  it('tells truncated from corrupt data', () => {
    const gz = gzipSync('{"a":1}'.repeat(100));
    expect(gunzipBounded(gz.subarray(0, gz.length - 10), 1 << 20)).toMatchObject({
      ok: false,
      reason: 'gzip data is truncated',
    });
    const corrupt = Buffer.from(gz);
    corrupt[12] = (corrupt[12] ?? 0) ^ 0xff;
    corrupt[13] = (corrupt[13] ?? 0) ^ 0xff;
    expect(gunzipBounded(corrupt, 1 << 20)).toMatchObject({ ok: false, kind: 'invalid' });
    expect(gunzipBounded(Buffer.concat([gz, Buffer.from('junk')]), 1 << 20)).toMatchObject({
      ok: false,
      kind: 'invalid',
    });
  });
});

describe('decompressLz64', () => {
  it('decodes what lz-string encodes, exactly as lz-string decodes it', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        const packed = LZString.compressToBase64(text);
        const ours = decompressLz64(packed, 1 << 20);
        if (packed === '') return;
        expect(ours).toEqual({ ok: true, value: LZString.decompressFromBase64(packed) });
        expect(ours.ok && ours.value).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with lz-string on mutated input whenever lz-string gives a non-empty result', () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 2 }), fc.nat(), fc.nat(63), (text, at, replacement) => {
        const packed = LZString.compressToBase64(text);
        const i = at % packed.length;
        const mutated = packed.slice(0, i) + LZ_ALPHABET.charAt(replacement) + packed.slice(i + 1);
        let theirs: string | null;
        try {
          theirs = LZString.decompressFromBase64(mutated);
        } catch {
          theirs = null;
        }
        const ours = decompressLz64(mutated, 1 << 20);
        if (ours.ok) expect(ours.value).toBe(theirs);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses characters outside the alphabet, with their position', () => {
    expect(decompressLz64('N4Ig*bA', 100)).toEqual({
      ok: false,
      kind: 'invalid',
      reason: 'invalid character',
      position: 4,
    });
    expect(decompressLz64('', 100)).toMatchObject({ ok: false, kind: 'invalid' });
  });

  it('refuses truncated streams, which lz-string turns into ""', () => {
    const packed = LZString.compressToBase64(
      JSON.stringify({ event: 'x'.repeat(50), properties: { a: 1 } }),
    );
    expect(decompressLz64(packed.slice(0, 10), 1 << 20)).toMatchObject({
      ok: false,
      kind: 'invalid',
    });
  });

  it('is a faithful bit-level model (the bomb builder agrees with lz-string on a small case)', () => {
    const small = lzBomb(100);
    const expected = 'a'.repeat(1 + (100 * 103) / 2);
    expect(LZString.decompressFromBase64(small)).toBe(expected);
    expect(decompressLz64(small, 1 << 20)).toEqual({ ok: true, value: expected });
  });

  it('stops a quadratic LZ bomb at the cap (140 kB asking for 1.25 G characters)', () => {
    const bomb = lzBomb(50_000);
    expect(bomb.length).toBeLessThan(150_000);
    expect(decompressLz64(bomb, 10 * 1024 * 1024)).toEqual({ ok: false, kind: 'too-large' });
  });
});
