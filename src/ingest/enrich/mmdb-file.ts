// A MaxMind-format (MMDB) database read from its file: the search tree stays on disk (the
// operating system's page cache, shared by every thread and process, outside RSS) and only the
// small data section is held in memory. For DB-IP Lite city that is 31 MB in memory instead of
// 134 MB (the trees are 103 MB). Issue 10: the whole files read into memory were a quarter of
// the server's resident memory.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type * as MetadataModule from 'mmdb-lib/lib/metadata.js';

/** The part of mmdb-lib's record decoder used here (maxmind's own Reader uses the same). */
interface DecoderClass {
  decodeFast(offset: number): { value: unknown };
}

// mmdb-lib is CommonJS with `exports.default`; require() reads it the way its own Reader does.
const require = createRequire(import.meta.url);
const Decoder = (
  require('mmdb-lib/lib/decoder.js') as {
    default: new (db: Buffer, baseOffset: number, cache?: MmdbCache) => DecoderClass;
  }
).default;
const { parseMetadata } = require('mmdb-lib/lib/metadata.js') as typeof MetadataModule;

/** The MMDB format puts its metadata in the last 128 KiB of the file. */
const METADATA_MAX_BYTES = 128 * 1024;
/** 16 zero bytes between the search tree and the data section. */
const DATA_SECTION_SEPARATOR = 16;
/** Tree pages read at once and kept per thread and database (the upper levels stay hot). */
const PAGE_BYTES = 4096;
const MAX_CACHED_PAGES = 512;

/** What a thread needs to open the database: its file, its shape and its data section. */
export interface MmdbShared {
  path: string;
  nodeCount: number;
  recordSize: 24 | 28 | 32;
  ipVersion: 4 | 6;
  /** The data section (records), shared between threads. */
  data: SharedArrayBuffer;
}

/** A lookup cache (maxmind's `cache` option shape). */
export interface MmdbCache {
  get(key: number): unknown;
  set(key: number, value: unknown): void;
}

/**
 * Reads the metadata and the data section of the MMDB file at `file`. Throws when the file cannot
 * be read or is not an MMDB database.
 */
export async function loadMmdb(file: string): Promise<MmdbShared> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const { size } = await handle.stat();
    const tailBytes = Math.min(size, METADATA_MAX_BYTES);
    const tail = Buffer.alloc(tailBytes);
    await readFully(handle, tail, size - tailBytes);
    const meta = parseMetadata(tail);
    const recordSize = meta.recordSize as 24 | 28 | 32;
    const ipVersion = meta.ipVersion as 4 | 6;
    if (![24, 28, 32].includes(recordSize) || ![4, 6].includes(ipVersion)) {
      throw new Error('unsupported MMDB layout');
    }
    const dataStart = meta.searchTreeSize + DATA_SECTION_SEPARATOR;
    const metaStart = size - tailBytes + tail.lastIndexOf(METADATA_MARKER);
    if (!(meta.nodeCount > 0) || dataStart > metaStart) throw new Error('truncated MMDB file');
    const data = new SharedArrayBuffer(metaStart - dataStart);
    await readFully(handle, new Uint8Array(data), dataStart);
    return { path: file, nodeCount: meta.nodeCount, recordSize, ipVersion, data };
  } finally {
    await handle.close();
  }
}

const METADATA_MARKER = Buffer.from('abcdef4d61784d696e642e636f6d', 'hex');

async function readFully(
  handle: fs.promises.FileHandle,
  into: Uint8Array,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new Error('short read');
    done += bytesRead;
  }
}

/**
 * One thread's reader of a database loaded by {@link loadMmdb}. Lookups are synchronous: tree
 * nodes come from a small per-thread cache of 4 KiB pages, read from the file (`pread`) on a
 * miss; records are decoded from the shared data section.
 */
export class MmdbFile {
  private readonly fd: number;
  private readonly nodeBytes: number;
  private readonly decoder: DecoderClass;
  private readonly pages = new Map<number, Buffer>();
  private ipv4Start = -1;

  constructor(
    private readonly shared: MmdbShared,
    cache?: MmdbCache,
  ) {
    this.fd = fs.openSync(shared.path, 'r');
    this.nodeBytes = shared.recordSize / 4;
    this.decoder = new Decoder(Buffer.from(shared.data), 0, cache);
  }

  /** Closes the file (lookups afterwards throw). */
  close(): void {
    fs.closeSync(this.fd);
  }

  /**
   * The record for an address given as its bytes (4 for IPv4, 16 for IPv6), or null when the
   * database has none. Throws on a corrupt file.
   */
  get(address: Uint8Array): unknown {
    const { nodeCount } = this.shared;
    const bits = address.length * 8;
    let node = 0;
    if (address.length === 4 && this.shared.ipVersion === 6) node = this.ipv4StartNode();
    for (let depth = 0; depth < bits && node < nodeCount; depth++) {
      const bit = ((address[depth >> 3] ?? 0) >> (7 - (depth & 7))) & 1;
      node = this.record(node, bit);
    }
    if (node <= nodeCount) return null; // == nodeCount: no data; < nodeCount: ran out of bits
    // Record values past the tree point into the data section (MMDB spec, "Search tree").
    return this.decoder.decodeFast(node - nodeCount - DATA_SECTION_SEPARATOR).value;
  }

  /** IPv4 addresses live under ::/96 in an IPv6 tree. */
  private ipv4StartNode(): number {
    if (this.ipv4Start < 0) {
      let node = 0;
      for (let i = 0; i < 96 && node < this.shared.nodeCount; i++) node = this.record(node, 0);
      this.ipv4Start = node;
    }
    return this.ipv4Start;
  }

  /** The left (0) or right (1) record of tree node `node`. */
  private record(node: number, side: number): number {
    const offset = node * this.nodeBytes;
    const index = Math.floor(offset / PAGE_BYTES);
    const at = offset - index * PAGE_BYTES;
    // A node that straddles two pages is copied out (rare: 7-byte nodes in 4 KiB pages).
    const bytes =
      at + this.nodeBytes <= PAGE_BYTES
        ? this.page(index)
        : Buffer.concat([this.page(index), this.page(index + 1)]);
    const b = (i: number): number => bytes[at + i] ?? 0;
    switch (this.shared.recordSize) {
      case 24:
        return side === 0 ? (b(0) << 16) | (b(1) << 8) | b(2) : (b(3) << 16) | (b(4) << 8) | b(5);
      case 28:
        return side === 0
          ? (((b(3) & 0xf0) << 20) | (b(0) << 16) | (b(1) << 8) | b(2)) >>> 0
          : (((b(3) & 0x0f) << 24) | (b(4) << 16) | (b(5) << 8) | b(6)) >>> 0;
      case 32: {
        const o = side === 0 ? 0 : 4;
        return ((b(o) << 24) | (b(o + 1) << 16) | (b(o + 2) << 8) | b(o + 3)) >>> 0;
      }
    }
  }

  /** Tree page `index`, from the cache or read from the file. */
  private page(index: number): Buffer {
    let page = this.pages.get(index);
    if (page === undefined) {
      page = Buffer.allocUnsafeSlow(PAGE_BYTES).fill(0);
      fs.readSync(this.fd, page, 0, PAGE_BYTES, index * PAGE_BYTES);
      if (this.pages.size >= MAX_CACHED_PAGES) {
        // Map keeps insertion order: the first key is the oldest page.
        const oldest = this.pages.keys().next().value;
        if (oldest !== undefined) this.pages.delete(oldest);
      }
      this.pages.set(index, page);
    }
    return page;
  }
}
