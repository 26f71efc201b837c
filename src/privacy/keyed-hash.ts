// HMAC-SHA256 truncated to 128 bits, for many short inputs under one key: the pseudonymiser's
// hot path. node:crypto computes the same value (the tests compare both on random keys and
// inputs), but each `createHmac` call builds a native object, hashes the key's two padded blocks
// again and copies the digest out: ~4 µs for an id of twenty bytes, of which SHA-256 itself is a
// small part. Here the two padded key blocks are hashed once (HMAC's "midstates", RFC 2104 §4),
// and each input costs its own blocks plus one for the outer hash, in preallocated arrays.
// Only the first 16 bytes of the MAC are ever produced, as base64url (22 characters).

// prettier-ignore
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
// prettier-ignore
const IV = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const BLOCK = 64;
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** One SHA-256 compression of `block` (16 big-endian words) into `state`; `w` is scratch. */
function compress(state: Int32Array, block: Int32Array, w: Int32Array): void {
  for (let i = 0; i < 16; i++) w[i] = block[i] as number;
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15] as number;
    const y = w[i - 2] as number;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = ((w[i - 16] as number) + s0 + (w[i - 7] as number) + s1) | 0;
  }
  let a = state[0] as number;
  let b = state[1] as number;
  let c = state[2] as number;
  let d = state[3] as number;
  let e = state[4] as number;
  let f = state[5] as number;
  let g = state[6] as number;
  let h = state[7] as number;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + S1 + ch + (K[i] as number) + (w[i] as number)) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = ((state[0] as number) + a) | 0;
  state[1] = ((state[1] as number) + b) | 0;
  state[2] = ((state[2] as number) + c) | 0;
  state[3] = ((state[3] as number) + d) | 0;
  state[4] = ((state[4] as number) + e) | 0;
  state[5] = ((state[5] as number) + f) | 0;
  state[6] = ((state[6] as number) + g) | 0;
  state[7] = ((state[7] as number) + h) | 0;
}

/** HMAC-SHA256 under one key, truncated to its first 16 bytes, in base64url. */
export class KeyedHash128 {
  private readonly innerStart = new Int32Array(8);
  private readonly outerStart = new Int32Array(8);
  private readonly state = new Int32Array(8);
  private readonly block = new Int32Array(16);
  private readonly w = new Int32Array(64);
  /** UTF-8 of a non-ASCII input (grown when needed). */
  private bytes = Buffer.alloc(256);

  /** `key` of at most 64 bytes (the pseudonym keys are 32). */
  constructor(key: Uint8Array) {
    if (key.length > BLOCK) throw new RangeError('key longer than one SHA-256 block');
    for (const [start, pad] of [
      [this.innerStart, 0x36],
      [this.outerStart, 0x5c],
    ] as const) {
      for (let i = 0; i < 16; i++) {
        let word = 0;
        for (let j = 0; j < 4; j++) word = (word << 8) | (((key[i * 4 + j] ?? 0) ^ pad) & 0xff);
        this.block[i] = word;
      }
      start.set(IV);
      compress(start, this.block, this.w);
    }
  }

  /** The first 16 bytes of HMAC-SHA256(key, UTF-8 of `input`), base64url without padding. */
  digest(input: string): string {
    const n = input.length;
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if (input.charCodeAt(i) > 0x7f) {
        ascii = false;
        break;
      }
    }
    const state = this.state;
    state.set(this.innerStart);
    if (ascii) this.hashTail(input, null, n);
    else {
      const length = Buffer.byteLength(input, 'utf8');
      if (length > this.bytes.length) this.bytes = Buffer.alloc(length * 2);
      this.bytes.write(input, 0, 'utf8');
      this.hashTail(null, this.bytes, length);
    }
    // Outer hash: the inner digest (32 bytes) in one block after the outer key block.
    const block = this.block;
    for (let i = 0; i < 8; i++) block[i] = state[i] as number;
    block[8] = 0x80000000 | 0;
    for (let i = 9; i < 15; i++) block[i] = 0;
    block[15] = (BLOCK + 32) * 8;
    state.set(this.outerStart);
    compress(state, block, this.w);
    return base64url16(state);
  }

  /**
   * Hashes the message (after the 64-byte key block already in `state`) with SHA-256's padding:
   * the bytes are read from `text` (ASCII) or `bytes`.
   */
  private hashTail(text: string | null, bytes: Buffer | null, length: number): void {
    const block = this.block;
    const state = this.state;
    // Whole blocks of message, then the last one or two with 0x80 and the bit length.
    const total = length + 9;
    const blocks = Math.ceil(total / BLOCK);
    for (let b = 0; b < blocks; b++) {
      const base = b * BLOCK;
      for (let i = 0; i < 16; i++) {
        const at = base + i * 4;
        if (at + 3 < length) {
          // A whole word of message (the usual case): no padding to consider.
          block[i] =
            text !== null
              ? (text.charCodeAt(at) << 24) |
                (text.charCodeAt(at + 1) << 16) |
                (text.charCodeAt(at + 2) << 8) |
                text.charCodeAt(at + 3)
              : (bytes as Buffer).readInt32BE(at);
          continue;
        }
        let word = 0;
        for (let j = 0; j < 4; j++) {
          const k = at + j;
          let byte: number;
          if (k < length)
            byte = text !== null ? text.charCodeAt(k) : ((bytes as Buffer)[k] as number);
          else if (k === length) byte = 0x80;
          else byte = 0;
          word = (word << 8) | byte;
        }
        block[i] = word;
      }
      if (b === blocks - 1) {
        // Bit length of key block + message; inputs here are far below 2^29 bytes.
        const bits = (BLOCK + length) * 8;
        block[14] = Math.floor(bits / 0x100000000) | 0;
        block[15] = bits | 0;
      }
      compress(state, block, this.w);
    }
  }
}

/** Base64url of the first 16 bytes of the state (big-endian words), 22 characters. */
function base64url16(state: Int32Array): string {
  let out = '';
  // 16 bytes = 5 groups of 3 bytes + 1 byte left over.
  let carry = 0;
  let carryBits = 0;
  for (let i = 0; i < 4; i++) {
    const word = state[i] as number;
    for (let j = 3; j >= 0; j--) {
      carry = (carry << 8) | ((word >>> (j * 8)) & 0xff);
      carryBits += 8;
      while (carryBits >= 6) {
        carryBits -= 6;
        out += BASE64URL[(carry >>> carryBits) & 0x3f];
      }
      carry &= (1 << carryBits) - 1;
    }
  }
  if (carryBits > 0) out += BASE64URL[(carry << (6 - carryBits)) & 0x3f];
  return out;
}
