// The ingest log: append-only segment files in the data directory where every commit batch is
// made durable (fdatasync) before it is acknowledged; a loader moves sealed segments into DuckDB.
import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { Serial } from '../../shared/serial.js';
import {
  newSegmentKey,
  forEachLine,
  isEventLine,
  openPayload,
  readExtrasOf,
  readFormatLine,
  recordAt,
  recordHeader,
  sealPayload,
  segmentKey,
  splitRecord,
  scanSegment,
  segmentHeader,
  type EncodedRecord,
  type RecordExtras,
  type SegmentScan,
  type SegmentKey,
} from './log-codec.js';

/** Folder of the log inside the data directory. */
export const INGEST_LOG_DIR = 'ingest-log';

const SEGMENT_FILE = /^seg-(\d{20})\.ndjson$/;

export function segmentFileName(id: number): string {
  return `seg-${String(id).padStart(20, '0')}.ndjson`;
}

/** Bytes of plain event lines per chunk of `IngestLog.eventChunks`. */
export const EVENT_CHUNK_BYTES = 1 << 20;
/** Bytes read from a segment file at a time by `eventChunks` (more when a record is longer). */
const READ_WINDOW_BYTES = 1 << 20;
/** A format line is shorter than this (scanSegment's rule). */
const FORMAT_LINE_BYTES = 300;
/** A record header is at most this long, its newline included (log-codec's parseHeader). */
const RECORD_HEADER_BYTES = 202;
const NEWLINE = Buffer.from('\n');

/** `eventChunks` met something other than a clean run of records: read the segment whole. */
export class SegmentNeedsScan extends Error {}

/** The error of a record whose tag does not verify: the segment was altered since it was checked. */
class ForgedRecord extends AppError {}

function forgedRecord(): AppError {
  return new ForgedRecord('STORE_FAILURE', 'an ingest log record does not authenticate');
}

/** True for the error a segment with a forged record is refused with (no reader can load it). */
export function isForgedRecord(error: unknown): boolean {
  return error instanceof ForgedRecord;
}

/** Header plus payload length of the record `buf` starts with, when its header reads. */
function recordLength(buf: Buffer): number | null {
  const eol = buf.indexOf(NEWLINE);
  if (eol === -1 || eol >= RECORD_HEADER_BYTES) return null;
  try {
    const { n } = JSON.parse(buf.toString('utf8', 0, eol)) as { n?: unknown };
    return Number.isSafeInteger(n) && (n as number) >= 0 ? eol + 1 + (n as number) : null;
  } catch {
    return null;
  }
}

/**
 * Reads a file front to back, a window at a time, keeping only what has not been consumed. Never
 * allocates past the file's end (`size`, taken when it was opened): a damaged header that claims
 * gigabytes gets what the file has, and the record is then found cut short.
 */
class WindowReader {
  private buf = Buffer.alloc(0);
  private position = 0;

  constructor(
    private readonly handle: fs.promises.FileHandle,
    private readonly size: number,
  ) {}

  /** The unconsumed bytes, at least `bytes` of them unless the file ends first. */
  async peek(bytes: number): Promise<Buffer> {
    while (this.buf.length < bytes && this.position < this.size) {
      const want = Math.max(READ_WINDOW_BYTES, bytes - this.buf.length);
      const more = Buffer.allocUnsafe(Math.min(want, this.size - this.position));
      const { bytesRead } = await this.handle.read(more, 0, more.length, this.position);
      if (bytesRead === 0) break;
      this.position += bytesRead;
      this.buf = Buffer.concat([this.buf, more.subarray(0, bytesRead)]);
    }
    return this.buf;
  }

  consume(bytes: number): void {
    this.buf = this.buf.subarray(bytes);
  }
}

/** A segment that holds records not yet applied to DuckDB. */
export interface LogSegment {
  id: number;
  file: string;
  records: number;
  eventRows: number;
  /** Backlog units of its records (see EncodedRecord.units). */
  units: number;
  lastSeq: number;
  /** Identity links, profile updates and counters of its records, in log order. */
  extras: RecordExtras;
  /** Holds one batch that must be loaded on its own (exact insert/duplicate counts). */
  alone: boolean;
  /** The segment's own key when its payloads are encrypted (format 2), else null. */
  key: SegmentKey | null;
}

/** The plain payloads of a scanned segment, and the records that did not authenticate. */
interface OpenedRecords {
  payloads: Buffer[];
  /** Indexes (in `scan.records`) of records whose tag did not verify. */
  forged: number[];
}

function keyOf(
  scan: SegmentScan,
  id: number,
  logKey: Buffer | null,
  file: string,
): SegmentKey | null {
  if (scan.salt === null) return null;
  if (logKey === null) {
    throw new AppError(
      'STORE_UNAVAILABLE',
      `the ingest log segment ${path.basename(file)} is encrypted: open the data directory with its master key`,
    );
  }
  return segmentKey(logKey, id, scan.salt);
}

function openRecords(buf: Buffer, scan: SegmentScan, id: number, key: SegmentKey | null) {
  const out: OpenedRecords = { payloads: [], forged: [] };
  for (const [index, record] of scan.records.entries()) {
    if (key === null) {
      out.payloads.push(buf.subarray(record.payloadStart, record.end));
      continue;
    }
    const plain = openPayload(key, id, buf, record);
    if (plain === null) out.forged.push(index);
    else out.payloads.push(plain);
  }
  return out;
}

function emptyExtras(): RecordExtras {
  return { identityLinks: [], profileUpdates: [], privacyCounts: [] };
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

interface OpenSegment {
  segment: LogSegment;
  handle: fs.promises.FileHandle;
  size: number;
  /** fdatasync calls in flight on this segment (it is closed only once they have returned). */
  syncs: Set<Promise<void>>;
  /** The fdatasync running now, if any. */
  syncing: Promise<void> | null;
  /** The fdatasync that starts once `syncing` ends, shared by every caller meanwhile. */
  nextSync: Promise<void> | null;
}

/** What `IngestLog.open` found on disk. */
export interface LogRecovery {
  log: IngestLog;
  /** Segments after the applied one, checked and repaired, oldest first. */
  pending: LogSegment[];
}

/**
 * Append-only log of commit batches, in numbered segment files. One writer at a time: appends and
 * seals are serialised. A segment is sealed (closed for appends) when the loader wants to load it;
 * it is removed once DuckDB holds its rows and the applied segment id, in one transaction.
 */
export class IngestLog {
  private readonly serial = new Serial();
  private current: OpenSegment | null = null;
  /** Sealed segments not yet taken by the loader, oldest first. */
  private sealed: LogSegment[] = [];
  private closed = false;

  private constructor(
    readonly dir: string,
    private nextSegmentId: number,
    private nextSeq: number,
    private readonly logger: Logger,
    /** Encrypts new segments when set (and reads sealed ones); null writes plain segments. */
    private readonly logKey: Buffer | null,
    private readonly readKey: Buffer | null,
  ) {}

  /**
   * Opens the log in `dir` (created if needed). Segments up to `appliedSegment` are already in
   * DuckDB and are removed; later ones are checked record by record: a torn tail of the newest
   * segment (a write cut short by a crash, never acknowledged) is cut off; damage anywhere else is
   * logged, set aside in a `.damaged` file and skipped, keeping every record that checks out.
   */
  static async open(
    dir: string,
    appliedSegment: number,
    logger: Logger,
    keys: { read: Buffer | null; write: Buffer | null } = { read: null, write: null },
  ): Promise<LogRecovery> {
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
    const ids: number[] = [];
    for (const name of await fs.promises.readdir(dir)) {
      const match = SEGMENT_FILE.exec(name);
      if (match?.[1]) ids.push(Number(match[1]));
      else if (name.endsWith('.tmp')) await fs.promises.rm(path.join(dir, name), { force: true });
    }
    ids.sort((a, b) => a - b);
    const pending: LogSegment[] = [];
    let lastSeq = 0;
    for (const [index, id] of ids.entries()) {
      const file = path.join(dir, segmentFileName(id));
      if (id <= appliedSegment) {
        await fs.promises.rm(file, { force: true });
        continue;
      }
      const segment = await IngestLog.check(file, id, index === ids.length - 1, logger, keys.read);
      if (segment === null) continue;
      pending.push(segment);
      lastSeq = Math.max(lastSeq, segment.lastSeq);
    }
    const lastId = Math.max(appliedSegment, ids.at(-1) ?? 0);
    return {
      log: new IngestLog(dir, lastId + 1, lastSeq + 1, logger, keys.write, keys.read),
      pending,
    };
  }

  /** Checks and repairs one segment; null when it holds no record (it is then removed). */
  private static async check(
    file: string,
    id: number,
    newest: boolean,
    logger: Logger,
    logKey: Buffer | null,
  ): Promise<LogSegment | null> {
    const buf = await fs.promises.readFile(file);
    const scan = scanSegment(buf);
    const key = keyOf(scan, id, logKey, file);
    const opened = openRecords(buf, scan, id, key);
    if (opened.forged.length > 0) {
      // A record whose CRC matches but whose tag does not was altered (or written under another
      // key): it is damage, never a torn write.
      for (const index of opened.forged) {
        const r = scan.records[index] as (typeof scan.records)[number];
        scan.invalid.push({ start: r.start, end: r.end });
      }
      scan.invalid.sort((a, b) => a.start - b.start);
      const forged = new Set(opened.forged);
      scan.records = scan.records.filter((_, index) => !forged.has(index));
    }
    if (scan.segment !== null && scan.segment !== id) {
      logger.error('ingest log segment has a foreign header; set aside', {
        path: path.basename(file),
      });
      await fs.promises.rename(file, `${file}.damaged`);
      return null;
    }
    const tornTail =
      opened.forged.length === 0 &&
      scan.invalid.length === 1 &&
      newest &&
      scan.invalid[0]?.end === buf.length;
    if (scan.invalid.length > 0 || scan.segment === null) {
      if (tornTail && scan.segment !== null) {
        logger.warn('ingest log: cut off an unacknowledged torn write', {
          path: path.basename(file),
          events: buf.length - (scan.invalid[0]?.start ?? buf.length),
        });
      } else {
        logger.error('ingest log segment is damaged; unreadable parts set aside', {
          path: path.basename(file),
          batches: scan.records.length,
          rejected: scan.invalid.length,
        });
        await fs.promises.writeFile(
          `${file}.damaged`,
          Buffer.concat(scan.invalid.map((r) => buf.subarray(r.start, r.end))),
          { mode: 0o600 },
        );
      }
      // Rewrite the segment with its valid records only, atomically.
      // The original first line keeps a sealed segment's salt (its records stay readable).
      const head = scan.segment === null ? segmentHeader(id) : buf.subarray(0, scan.headerEnd);
      const parts = [head, ...scan.records.map((r) => buf.subarray(r.start, r.end))];
      const tmp = `${file}.tmp`;
      const handle = await fs.promises.open(tmp, 'w', 0o600);
      try {
        await handle.writev(parts);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.promises.rename(tmp, file);
      await fsyncDir(path.dirname(file));
    }
    if (scan.records.length === 0) {
      await fs.promises.rm(file, { force: true });
      return null;
    }
    const { extras, eventRows } = readExtrasOf(opened.payloads);
    return {
      id,
      file,
      records: scan.records.length,
      eventRows,
      units: scan.records.reduce((n, r) => n + r.units, 0),
      lastSeq: scan.records.at(-1)?.seq ?? 0,
      extras,
      alone: false,
      key,
    };
  }

  /**
   * The plain payloads of a sealed (or plain) segment, record by record. Throws if a record does
   * not authenticate: the segment was checked when it was opened or written by this process, so
   * that means it was altered since.
   */
  async readPayloads(segment: LogSegment): Promise<Buffer[]> {
    const buf = await fs.promises.readFile(segment.file);
    const scan = scanSegment(buf);
    const key = segment.key ?? keyOf(scan, segment.id, this.readKey, segment.file);
    const opened = openRecords(buf, scan, segment.id, key);
    if (opened.forged.length > 0) throw forgedRecord();
    return opened.payloads;
  }

  /**
   * The event lines of a sealed segment, decrypted record by record as they are read and handed
   * out in chunks of about `chunkBytes` (whole lines, each ending in '\n'): a load holds one
   * chunk of plain text and a window of the file at a time, not the whole segment twice (its
   * sealed bytes and its plain payloads were ~100 MB each for a full segment). Throws
   * `SegmentNeedsScan` at the first thing a clean run of records does not have (the start of a
   * damaged or torn record): `readPayloads` scans past those. Throws, as `readPayloads` does, if
   * a record does not authenticate.
   */
  async *eventChunks(
    segment: LogSegment,
    chunkBytes = EVENT_CHUNK_BYTES,
  ): AsyncGenerator<Buffer, void, undefined> {
    const key = segment.key;
    if (key === null) throw new SegmentNeedsScan('the segment is not sealed');
    const handle = await fs.promises.open(segment.file, 'r');
    try {
      const file = new WindowReader(handle, (await handle.stat()).size);
      const first = readFormatLine(await file.peek(FORMAT_LINE_BYTES));
      if (first === null || first.segment !== segment.id || !first.salt?.equals(key.salt)) {
        throw new SegmentNeedsScan('the segment does not start with its own format line');
      }
      file.consume(first.end);
      let lines: Buffer[] = [];
      let bytes = 0;
      for (;;) {
        const head = await file.peek(RECORD_HEADER_BYTES);
        if (head.length === 0) break;
        const length = recordLength(head);
        const buf = length === null ? head : await file.peek(length);
        const record = recordAt(buf, 0, first.legacy);
        if (record === null) throw new SegmentNeedsScan('a record is damaged or cut short');
        const plain = openPayload(key, segment.id, buf, record);
        if (plain === null) throw forgedRecord();
        file.consume(record.end);
        forEachLine(plain, (line) => {
          if (!isEventLine(line)) return;
          lines.push(line, NEWLINE);
          bytes += line.length + 1;
        });
        if (bytes >= chunkBytes) {
          yield Buffer.concat(lines, bytes);
          lines = [];
          bytes = 0;
        }
      }
      if (bytes > 0) yield Buffer.concat(lines, bytes);
    } finally {
      await handle.close();
    }
  }

  /** Event rows in the segment currently open for appends. */
  get currentEventRows(): number {
    return this.current?.segment.eventRows ?? 0;
  }

  /** Backlog units in the segment currently open for appends. */
  get currentUnits(): number {
    return this.current?.segment.units ?? 0;
  }

  /**
   * Appends one record and returns once it is on disk (fdatasync), with the segment holding it.
   * Writes are serialised (records stay in order) but the fdatasync calls are not: a record can be
   * written while the previous one is being synced, and one sync covers every write before it.
   * A failed write is cut back; after a failed sync the segment is sealed, so that nothing is
   * appended behind data whose durability is unknown.
   */
  async append(
    record: EncodedRecord,
    options: { sealAtEventRows?: number } = {},
  ): Promise<LogSegment> {
    const sealAt = options.sealAtEventRows ?? Infinity;
    const last = await this.serial.run(async () => {
      let rest = record;
      for (;;) {
        const open = this.current ?? (await this.openSegment());
        const room = sealAt - open.segment.eventRows;
        if (room <= 0) {
          await this.sealCurrent();
          continue;
        }
        if (rest.eventRows < room) {
          await this.write(rest, open);
          return { open, synced: false };
        }
        // The segment fills up: it gets exactly `sealAt` events (a record is split if need be;
        // its parts are durable before the call returns, as a whole record would be).
        const [head, tail] = rest.eventRows === room ? [rest, null] : splitRecord(rest, room);
        await this.write(head, open);
        await this.sync(open, true);
        await this.sealCurrent();
        if (tail === null) return { open, synced: true };
        rest = tail;
      }
    });
    if (!last.synced) await this.sync(last.open);
    return last.open.segment;
  }

  /** Appends one record into a segment of its own, sealed at once (see LogSegment.alone). */
  appendAlone(record: EncodedRecord): Promise<LogSegment> {
    return this.serial.run(async () => {
      await this.sealCurrent();
      const open = await this.openSegment();
      await this.write(record, open);
      await this.sync(open, true);
      open.segment.alone = true;
      await this.sealCurrent();
      return open.segment;
    });
  }

  /**
   * Closes the current segment for appends (if anything was appended to it); with `segmentId`,
   * only if that is still the current segment (several appends may ask to seal the same one).
   */
  seal(segmentId?: number): Promise<void> {
    return this.serial.run(async () => {
      if (segmentId === undefined || this.current?.segment.id === segmentId)
        await this.sealCurrent();
    });
  }

  /** Sealed segments waiting to be loaded, oldest first; the caller now owns them. */
  takeSealed(): LogSegment[] {
    return this.sealed.splice(0);
  }

  private async write(record: EncodedRecord, open: OpenSegment): Promise<void> {
    // Taken before the write: a sequence number is never used twice, not even after a failed
    // write, because it is the nonce of a sealed record.
    const seq = this.nextSeq++;
    const key = open.segment.key;
    const payload = key === null ? record.payload : sealPayload(key, open.segment.id, seq, record);
    const header = recordHeader(seq, { payload, units: record.units });
    const length = header.length + payload.length;
    try {
      const { bytesWritten } = await open.handle.writev([header, payload], open.size);
      // A short write to a regular file is rare (a full disk): finish it or fail.
      if (bytesWritten < length) {
        const rest = Buffer.concat([header, payload]).subarray(bytesWritten);
        const more = await open.handle.write(rest, 0, rest.length, open.size + bytesWritten);
        if (more.bytesWritten < rest.length) throw new Error('short write to the ingest log');
      }
    } catch (error) {
      try {
        await open.handle.truncate(open.size);
      } catch {
        // The segment may end in a partial record now. Seal it: nothing in that record was
        // acknowledged, and replay sets unreadable bytes aside.
        await this.sealCurrent();
      }
      throw error;
    }
    open.size += length;
    const s = open.segment;
    s.records++;
    s.eventRows += record.eventRows;
    s.units += record.units;
    s.lastSeq = seq;
    for (const link of record.extras.identityLinks) s.extras.identityLinks.push(link);
    for (const update of record.extras.profileUpdates) s.extras.profileUpdates.push(update);
    for (const count of record.extras.privacyCounts) s.extras.privacyCounts.push(count);
  }

  /**
   * Resolves once every write to `open` made before the call is on disk. One fdatasync covers
   * every write before it, so at most one runs per segment: a caller that finds one running waits
   * for the next, which starts when it ends and is shared by every caller meanwhile. Under
   * concurrent single-event requests this is most of group commit's saving: an fdatasync costs
   * ~100 µs of CPU on a virtual disk, and with a few commits in flight each used to pay its own
   * (issue 16). `serialised` when called from a task of `this.serial` (which must not re-enter).
   */
  private async sync(open: OpenSegment, serialised = false): Promise<void> {
    try {
      await this.durable(open);
    } catch (error) {
      // What the kernel kept of this segment is unknown now: append nothing more behind it.
      const sealIt = async (): Promise<void> => {
        if (this.current === open) await this.sealCurrent();
      };
      await (serialised ? sealIt() : this.serial.run(sealIt));
      throw error;
    }
  }

  /** The fdatasync that makes what was written to `open` so far durable (see `sync`). */
  private durable(open: OpenSegment): Promise<void> {
    if (open.nextSync !== null) return open.nextSync;
    const running = open.syncing;
    if (running === null) return this.startSync(open);
    // If the running one fails, so does the next: after a failed fdatasync, Linux may report
    // success for a later one although pages written before it were lost.
    const next = running.then(
      () => {
        open.nextSync = null;
        return this.startSync(open);
      },
      (error: unknown) => {
        open.nextSync = null;
        throw error;
      },
    );
    open.nextSync = next;
    open.syncs.add(next);
    void next.catch(() => undefined).finally(() => open.syncs.delete(next));
    return next;
  }

  private startSync(open: OpenSegment): Promise<void> {
    const done = open.handle.datasync();
    open.syncing = done;
    open.syncs.add(done);
    void done
      .catch(() => undefined)
      .finally(() => {
        open.syncs.delete(done);
        if (open.syncing === done) open.syncing = null;
      });
    return done;
  }

  private async sealCurrent(): Promise<void> {
    const open = this.current;
    if (open === null) return;
    this.current = null;
    // Every record of a sealed segment is durable: wait for the syncs still in flight.
    await Promise.allSettled([...open.syncs]);
    await open.handle.close().catch(() => undefined);
    if (open.segment.records === 0) {
      await fs.promises.rm(open.segment.file, { force: true });
      return;
    }
    this.sealed.push(open.segment);
  }

  /** Deletes a segment whose rows DuckDB holds (with its id recorded as applied). */
  async remove(segment: LogSegment): Promise<void> {
    await fs.promises.rm(segment.file, { force: true });
  }

  /** Stops appends. Segments not yet loaded stay on disk and are replayed at the next start. */
  close(): Promise<void> {
    return this.serial.run(async () => {
      this.closed = true;
      const open = this.current;
      this.current = null;
      if (open) await Promise.allSettled([...open.syncs]);
      await open?.handle.close();
    });
  }

  private async openSegment(): Promise<OpenSegment> {
    if (this.closed) throw new Error('ingest log is closed');
    const id = this.nextSegmentId++;
    const file = path.join(this.dir, segmentFileName(id));
    const handle = await fs.promises.open(file, 'wx', 0o600);
    const key = this.logKey === null ? null : newSegmentKey(this.logKey, id);
    const header = segmentHeader(id, key ?? undefined);
    try {
      await handle.write(header, 0, header.length, 0);
      await handle.sync();
      // The new name must survive a power cut before anything in it is acknowledged.
      await fsyncDir(this.dir);
    } catch (error) {
      await handle.close().catch(() => undefined);
      await fs.promises.rm(file, { force: true });
      throw error;
    }
    const open: OpenSegment = {
      handle,
      syncs: new Set(),
      syncing: null,
      nextSync: null,
      size: header.length,
      segment: {
        id,
        file,
        records: 0,
        eventRows: 0,
        units: 0,
        lastSeq: 0,
        extras: emptyExtras(),
        alone: false,
        key,
      },
    };
    this.current = open;
    this.logger.debug('ingest log segment opened', { path: path.basename(file) });
    return open;
  }
}
