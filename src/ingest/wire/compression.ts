// Bounded decompression: gzip through zlib's maxOutputLength, LZ-string base64 through a bounded port.
import { gunzipSync, inflateSync } from 'node:zlib';

/** True when the bytes start with the gzip magic number 1f 8b (RFC 1952 §2.3.1). */
export function hasGzipMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Outcome of a bounded decompression. */
export type Inflated<T> =
  | { ok: true; value: T }
  | { ok: false; kind: 'too-large' }
  | { ok: false; kind: 'invalid'; reason: string; position?: number };

/**
 * Gunzips with a hard output cap. zlib stops as soon as the output would pass `maxOutputBytes` and
 * throws ERR_BUFFER_TOO_LARGE, so a bomb (50 MB of zeros in 50 kB) costs at most the cap in memory
 * and time, never its full size. Concatenated gzip members are accepted (RFC 1952 §2.2).
 */
export function gunzipBounded(bytes: Uint8Array, maxOutputBytes: number): Inflated<Buffer> {
  try {
    return { ok: true, value: gunzipSync(bytes, { maxOutputLength: maxOutputBytes }) };
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ERR_BUFFER_TOO_LARGE') return { ok: false, kind: 'too-large' };
    if (code === 'Z_BUF_ERROR')
      return { ok: false, kind: 'invalid', reason: 'gzip data is truncated' };
    return { ok: false, kind: 'invalid', reason: 'gzip data is corrupt' };
  }
}

/**
 * `Content-Encoding: deflate` (RFC 9110 §8.4.1.2: the zlib format of RFC 1950, as posthog-python's
 * capture v1 sends it), with the same hard output cap as gzip.
 */
export function inflateBounded(bytes: Uint8Array, maxOutputBytes: number): Inflated<Buffer> {
  try {
    return { ok: true, value: inflateSync(bytes, { maxOutputLength: maxOutputBytes }) };
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ERR_BUFFER_TOO_LARGE') return { ok: false, kind: 'too-large' };
    if (code === 'Z_BUF_ERROR')
      return { ok: false, kind: 'invalid', reason: 'deflate data is truncated' };
    return { ok: false, kind: 'invalid', reason: 'deflate data is corrupt' };
  }
}

const LZ_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=';
const LZ_VALUES: Int8Array = (() => {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < LZ_ALPHABET.length; i++) table[LZ_ALPHABET.charCodeAt(i)] = i;
  return table;
})();

/**
 * `LZString.decompressFromBase64` (lz-string 1.5, used by old posthog-js for `compression=lz64`),
 * ported so that it can stop: LZ output grows quadratically with the number of codes (each new
 * dictionary entry is one longer than the last), so 100 kB of input can ask for gigabytes. This
 * port refuses characters outside the alphabet (the library reads them as zero bits), truncated
 * input and bad codes (the library returns "" or null), and stops once the output passes
 * `maxOutputChars`. Valid input gives exactly what the library gives (tested differentially).
 */
export function decompressLz64(input: string, maxOutputChars: number): Inflated<string> {
  const length = input.length;
  if (length === 0) return { ok: false, kind: 'invalid', reason: 'empty input', position: 0 };
  for (let i = 0; i < length; i++) {
    const code = input.charCodeAt(i);
    if (code >= 128 || (LZ_VALUES[code] ?? -1) < 0) {
      return { ok: false, kind: 'invalid', reason: 'invalid character', position: i };
    }
  }
  const valueAt = (i: number): number => (i < length ? (LZ_VALUES[input.charCodeAt(i)] ?? 0) : 0);
  // Bit reader: 6 bits per character, most significant first; bits are assembled LSB first.
  let value = valueAt(0);
  let mask = 32;
  let index = 1;
  const readBits = (count: number): number => {
    let bits = 0;
    for (let p = 0; p < count; p++) {
      const bit = value & mask;
      mask >>= 1;
      if (mask === 0) {
        mask = 32;
        value = valueAt(index++);
      }
      if (bit !== 0) bits += 2 ** p;
    }
    return bits;
  };
  const truncated: Inflated<string> = { ok: false, kind: 'invalid', reason: 'data is truncated' };
  const badCode: Inflated<string> = { ok: false, kind: 'invalid', reason: 'data is not LZ-string' };

  // Entries 0..2 are the control codes (8-bit literal, 16-bit literal, end of stream).
  const dictionary: string[] = ['', '', ''];
  const firstChars: string[] = ['', '', ''];
  let enlargeIn = 4;
  let dictSize = 4;
  let numBits = 3;

  const head = readBits(2);
  if (head === 2) return { ok: true, value: '' };
  if (head === 3) return badCode;
  const first = String.fromCharCode(readBits(head === 0 ? 8 : 16));
  dictionary[3] = first;
  firstChars[3] = first;
  let w = first;
  let wFirst = first;
  const output: string[] = [first];
  let total = 1;
  for (;;) {
    if (index > length) return truncated;
    let code = readBits(numBits);
    if (code === 2) break;
    if (code === 0 || code === 1) {
      const literal = String.fromCharCode(readBits(code === 0 ? 8 : 16));
      dictionary[dictSize] = literal;
      firstChars[dictSize] = literal;
      code = dictSize++;
      enlargeIn--;
    }
    if (enlargeIn === 0) {
      enlargeIn = 2 ** numBits;
      numBits++;
    }
    let entry: string;
    let entryFirst: string;
    const known = dictionary[code];
    if (known !== undefined) {
      entry = known;
      entryFirst = firstChars[code] ?? '';
    } else if (code === dictSize) {
      entry = w + wFirst;
      entryFirst = wFirst;
    } else {
      return badCode;
    }
    total += entry.length;
    if (total > maxOutputChars) return { ok: false, kind: 'too-large' };
    output.push(entry);
    dictionary[dictSize] = w + entryFirst;
    firstChars[dictSize] = wFirst;
    dictSize++;
    enlargeIn--;
    w = entry;
    wFirst = entryFirst;
    if (enlargeIn === 0) {
      enlargeIn = 2 ** numBits;
      numBits++;
    }
  }
  return { ok: true, value: output.join('') };
}
