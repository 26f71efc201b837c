// Encryption at rest: the ingest log is sealed (AES-256-GCM per record, a key per segment) and
// recovers as the plain one does; the DuckDB file, its WAL and spill files carry no plaintext;
// a plain data directory is migrated on open.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../shared/log.js';
import type { CommitBatch, EventRow } from '../types.js';
import { isEncryptedFile, type AtRestOptions } from './at-rest.js';
import { compactDatabase } from './compact.js';
import { DuckDbDatabase } from './database.js';
import { DuckDbEventStore } from './event-store.js';
import {
  INGEST_LOG_DIR,
  IngestLog,
  isForgedRecord,
  SegmentNeedsScan,
  segmentFileName,
  type LogSegment,
} from './ingest-log.js';
import { encodeRecord, forEachLine, isEventLine, recordHeader, scanSegment } from './log-codec.js';
import { QueryActivity } from './query-activity.js';

const CANARY_EVENT = 'CanaryEventName7f3a';
const CANARY_KEY = 'canary_key_9b1e';
const CANARY_VALUE = 'canary-value-4d2c';
const CANARIES = [CANARY_EVENT, CANARY_KEY, CANARY_VALUE];

function row(i: number): EventRow {
  return {
    projectId: 'prj_1',
    dedupKey: 2n ** 120n + BigInt(i),
    timeMs: 1_700_000_000_000 + i,
    event: CANARY_EVENT,
    distinctId: `u_${i}`,
    deviceId: null,
    userId: null,
    insertId: `i${i}`,
    browser: 'Chrome',
    browserVersion: '120',
    os: null,
    deviceType: 'desktop',
    countryCode: 'FR',
    region: null,
    city: null,
    referringDomain: null,
    currentUrl: null,
    utmSource: null,
    utmMedium: null,
    utmCampaign: null,
    utmContent: null,
    utmTerm: null,
    lib: 'web',
    properties: { [CANARY_KEY]: `${CANARY_VALUE}-${i}`, n: i },
    receivedAtMs: 1_700_000_000_500,
  };
}

function batch(from: number, count: number): CommitBatch {
  return {
    events: Array.from({ length: count }, (_, k) => row(from + k)),
    identityLinks: [],
    profileUpdates: [
      {
        projectId: 'prj_1',
        groupKey: '',
        profileId: `u_${from}`,
        op: '$set',
        value: { [CANARY_KEY]: CANARY_VALUE },
        timeMs: 6,
        ignoreTime: false,
      },
    ],
    privacyCounts: [],
  };
}

const quiet = createLogger({ sink: () => undefined });
const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-at-rest-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** Every file below `dir` that holds one of the canaries in any byte. */
function leaks(dir: string): string[] {
  const found: string[] = [];
  for (const name of fs.readdirSync(dir, { recursive: true }).map(String)) {
    const full = path.join(dir, name);
    if (!fs.statSync(full).isFile()) continue;
    const bytes = fs.readFileSync(full);
    for (const c of CANARIES) if (bytes.includes(c)) found.push(`${name}: ${c}`);
  }
  return found;
}

/** Alters the second record of a sealed segment and gives it a matching CRC: only the tag can tell. */
function forgeSecondRecord(file: string): void {
  const buf = fs.readFileSync(file);
  const second = scanSegment(buf).records[1]!;
  const payload = Buffer.from(buf.subarray(second.payloadStart, second.end));
  payload[2] = payload[2]! ^ 0x01;
  const forged = Buffer.concat([
    buf.subarray(0, second.start),
    recordHeader(second.seq, { payload, units: second.units }),
    payload,
    buf.subarray(second.end),
  ]);
  fs.writeFileSync(file, forged);
}

describe('the sealed ingest log', () => {
  const keys = { read: randomBytes(32), write: null as Buffer | null };
  keys.write = keys.read;

  it('holds no plaintext, and reads back every record and extra', async () => {
    const dir = tempDir();
    const { log } = await IngestLog.open(dir, 0, quiet, keys);
    await log.append(encodeRecord(batch(0, 3)));
    await log.append(encodeRecord(batch(3, 2)));
    await log.close();
    expect(leaks(dir)).toEqual([]);

    const again = await IngestLog.open(dir, 0, quiet, keys);
    const [segment] = again.pending;
    expect(segment?.eventRows).toBe(5);
    expect(segment?.key).not.toBeNull();
    expect(segment?.extras.profileUpdates.map((u) => u.value)).toEqual([
      { [CANARY_KEY]: CANARY_VALUE },
      { [CANARY_KEY]: CANARY_VALUE },
    ]);
    const payloads = await again.log.readPayloads(segment!);
    expect(payloads.join('')).toContain(CANARY_EVENT);
    await again.log.close();
  });

  it('cuts a torn tail off as the plain log does', async () => {
    const dir = tempDir();
    const { log } = await IngestLog.open(dir, 0, quiet, keys);
    const segment = await log.append(encodeRecord(batch(0, 2)));
    await log.append(encodeRecord(batch(2, 2)));
    await log.close();
    const file = path.join(dir, segmentFileName(segment.id));
    const whole = fs.readFileSync(file);
    fs.writeFileSync(file, whole.subarray(0, whole.length - 9));
    const lines: string[] = [];
    const reopened = await IngestLog.open(
      dir,
      0,
      createLogger({ sink: (l) => lines.push(l) }),
      keys,
    );
    expect(reopened.pending.map((s) => s.eventRows)).toEqual([2]);
    expect(lines.some((l) => l.includes('torn write'))).toBe(true);
    // Appends go on in a new segment, under a new key, and read back.
    await reopened.log.append(encodeRecord(batch(4, 1)));
    await reopened.log.close();
    const last = await IngestLog.open(dir, 0, quiet, keys);
    expect(last.pending.map((s) => s.eventRows)).toEqual([2, 1]);
    await last.log.close();
  });

  it('sets aside a record altered with a matching CRC (the tag catches it)', async () => {
    const dir = tempDir();
    const { log } = await IngestLog.open(dir, 0, quiet, keys);
    for (let i = 0; i < 3; i++) await log.append(encodeRecord(batch(i * 10, 2)));
    await log.close();
    forgeSecondRecord(path.join(dir, segmentFileName(1)));
    const lines: string[] = [];
    const reopened = await IngestLog.open(
      dir,
      0,
      createLogger({ sink: (l) => lines.push(l) }),
      keys,
    );
    expect(reopened.pending.map((s) => s.eventRows)).toEqual([4]);
    expect(lines.some((l) => l.includes('damaged'))).toBe(true);
    await reopened.log.close();
  });

  /** Every chunk `eventChunks` hands out for the first pending segment of `dir`. */
  async function chunksOf(dir: string, chunkBytes: number): Promise<Buffer[]> {
    const { log, pending } = await IngestLog.open(dir, 0, quiet, keys);
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of log.eventChunks(pending[0]!, chunkBytes)) chunks.push(chunk);
      return chunks;
    } finally {
      await log.close();
    }
  }

  /** A batch of `count` events of ~`bytes` each (a property of that size). */
  const bulky = (from: number, count: number, bytes: number): CommitBatch => {
    const b = batch(from, count);
    for (const e of b.events) e.properties = { ...e.properties, pad: 'p'.repeat(bytes) };
    return b;
  };

  /** Overwrites bytes of `file` in place (same inode: an open handle reads the change). */
  function damageAt(file: string, offset: number, bytes: Buffer): void {
    const fd = fs.openSync(file, 'r+');
    try {
      fs.writeSync(fd, bytes, 0, bytes.length, offset);
    } finally {
      fs.closeSync(fd);
    }
  }

  it('hands out the event lines, in order, decrypted a chunk at a time (records longer than a read window too)', async () => {
    const dir = tempDir();
    const { log } = await IngestLog.open(dir, 0, quiet, keys);
    // 3 small records, one of ~1.5 MB (longer than the 1 MiB read window), 2 small ones.
    await log.append(encodeRecord(batch(0, 3)));
    await log.append(encodeRecord(batch(3, 4)));
    await log.append(encodeRecord(batch(7, 2)));
    await log.append(encodeRecord(bulky(9, 3, 500_000)));
    await log.append(encodeRecord(batch(12, 5)));
    await log.append(encodeRecord(batch(17, 1)));
    await log.close();

    const { log: again, pending } = await IngestLog.open(dir, 0, quiet, keys);
    const expected: string[] = [];
    for (const payload of await again.readPayloads(pending[0]!)) {
      forEachLine(payload, (line) => {
        if (isEventLine(line)) expected.push(line.toString('utf8'));
      });
    }
    await again.close();
    expect(expected.length).toBe(18);

    const chunks = await chunksOf(dir, 1500);
    const lines = chunks.flatMap((c) => c.toString('utf8').split('\n').slice(0, -1));
    expect(lines).toEqual(expected);
    // Whole lines in every chunk; a chunk closes at the record that takes it past the size.
    for (const c of chunks) expect(c.at(-1)).toBe(0x0a);
    expect(chunks.length).toBeGreaterThan(3);
    for (const c of chunks.slice(0, -1)) expect(c.length).toBeGreaterThanOrEqual(1500);
    // One chunk for the whole segment when the size allows.
    expect((await chunksOf(dir, 1 << 30)).map((c) => c.toString('utf8'))).toEqual([
      `${expected.join('\n')}\n`,
    ]);
  });

  it('reads the file as the chunks are taken, and stops at damage it meets (SegmentNeedsScan)', async () => {
    const dir = tempDir();
    const { log } = await IngestLog.open(dir, 0, quiet, keys);
    for (let i = 0; i < 4; i++) await log.append(encodeRecord(bulky(i * 10, 10, 50_000)));
    await log.close();
    const file = path.join(dir, segmentFileName(1));
    const records = scanSegment(fs.readFileSync(file)).records;
    expect(records.length).toBe(4);
    const { log: again, pending } = await IngestLog.open(dir, 0, quiet, keys);
    try {
      const chunks = again.eventChunks(pending[0]!, 1000);
      expect((await chunks.next()).done).toBe(false);
      // Past the first read window: damage there is met only when the next chunks are read.
      const last = records[3]!;
      expect(last.payloadStart).toBeGreaterThan(1 << 20);
      damageAt(file, last.payloadStart + 10, Buffer.from('garbage'));
      const rest = (async () => {
        for (let r = await chunks.next(); !r.done; r = await chunks.next());
      })();
      await expect(rest).rejects.toBeInstanceOf(SegmentNeedsScan);
      // readPayloads scans past the damage: the three intact records.
      expect((await again.readPayloads(pending[0]!)).length).toBe(3);
    } finally {
      await again.close();
    }
  });

  /** A sealed segment of three records written and the log reopened, with its file. */
  async function threeRecords(): Promise<{ log: IngestLog; segment: LogSegment; file: string }> {
    const dir = tempDir();
    const { log } = await IngestLog.open(dir, 0, quiet, keys);
    for (let i = 0; i < 3; i++) await log.append(encodeRecord(batch(i * 10, 2)));
    await log.close();
    const { log: again, pending } = await IngestLog.open(dir, 0, quiet, keys);
    return { log: again, segment: pending[0]!, file: path.join(dir, segmentFileName(1)) };
  }

  /** Takes every chunk of `segment` (a line each): what the reader throws, or undefined. */
  async function readAll(log: IngestLog, segment: LogSegment): Promise<unknown> {
    try {
      for await (const chunk of log.eventChunks(segment, 1))
        expect(chunk.length).toBeGreaterThan(0);
      return undefined;
    } catch (error) {
      return error;
    }
  }

  it('finds a record whose header claims more bytes than the file has cut short, without reading them', async () => {
    const { log: again, segment, file } = await threeRecords();
    try {
      const buf = fs.readFileSync(file);
      const second = scanSegment(buf).records[1]!;
      const header = buf.toString('utf8', second.start, second.payloadStart);
      const claimed = header.replace(/"n":\d+/, '"n":1000000000000');
      fs.writeFileSync(
        file,
        Buffer.concat([
          buf.subarray(0, second.start),
          Buffer.from(claimed),
          buf.subarray(second.payloadStart),
        ]),
      );
      expect(await readAll(again, segment)).toBeInstanceOf(SegmentNeedsScan);
    } finally {
      await again.close();
    }
  });

  it('refuses a record altered with a matching CRC, as readPayloads does', async () => {
    const { log: again, segment, file } = await threeRecords();
    try {
      // Altered after the segment was checked (as it would be between open and load).
      forgeSecondRecord(file);
      expect(isForgedRecord(await readAll(again, segment))).toBe(true);
      const whole = await again.readPayloads(segment).catch((error: unknown) => error);
      expect(isForgedRecord(whole)).toBe(true);
    } finally {
      await again.close();
    }
  });

  it('refuses to open sealed segments without the key, and opens them under no other key', async () => {
    const dir = tempDir();
    const { log } = await IngestLog.open(dir, 0, quiet, keys);
    await log.append(encodeRecord(batch(0, 2)));
    await log.close();
    await expect(IngestLog.open(dir, 0, quiet)).rejects.toThrow(/encrypted/);
    const other = randomBytes(32);
    const wrong = await IngestLog.open(dir, 0, quiet, { read: other, write: other });
    expect(wrong.pending).toEqual([]);
    await wrong.log.close();
    expect(fs.existsSync(path.join(dir, `${segmentFileName(1)}.damaged`))).toBe(true);
  });
});

function atRest(mode: AtRestOptions['mode'] = 'on'): AtRestOptions {
  return {
    logKey: KEYS.log,
    databaseKey: KEYS.db,
    mode,
    // DuckDB's bundled crypto: the same code path as with httpfs (see README).
    dangerouslyAllowWeakCrypto: true,
  };
}
const KEYS = { log: randomBytes(32), db: randomBytes(32) };

/** Waits (polling) until `holds` answers true; fails after 20 s. */
async function until(holds: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !holds(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(holds()).toBe(true);
}

async function ingest(db: DuckDbDatabase, from: number, count: number): Promise<void> {
  await db.ingest.append(batch(from, count));
}

describe('the encrypted database', () => {
  it('shows no event name, property key or value in any byte: mid-run (WAL) and after close', async () => {
    const dir = tempDir();
    const db = await DuckDbDatabase.open(dir, { atRest: atRest(), logger: quiet });
    expect(db.encrypted).toBe(true);
    await ingest(db, 0, 50);
    expect(leaks(dir)).toEqual([]); // in the ingest log
    await db.ingest.flush();
    expect(fs.existsSync(path.join(dir, 'sillage.duckdb.wal'))).toBe(true);
    expect(leaks(dir)).toEqual([]); // in the database and its WAL
    // A query that spills to disk: spill files are encrypted too.
    await db.read(async (c) => {
      await c.run("SET memory_limit = '64MB'");
      await c.run(
        `SELECT e, count(*) FROM (SELECT '${CANARY_VALUE}' || (range % 1500000) || repeat('x', 40) AS e
           FROM range(3000000)) GROUP BY e ORDER BY e LIMIT 1`,
      );
      await c.run('RESET memory_limit');
    });
    await db.close();
    expect(isEncryptedFile(path.join(dir, 'sillage.duckdb'))).toBe(true);
    expect(leaks(dir)).toEqual([]);

    // Reopened with the key: everything is there.
    const again = await DuckDbDatabase.open(dir, { atRest: atRest(), logger: quiet });
    const events = await new DuckDbEventStore(again).listEvents('prj_1');
    expect(events.length).toBe(50);
    expect(events[0]?.event).toBe(CANARY_EVENT);
    await again.close();
    // Without it: refused.
    await expect(DuckDbDatabase.open(dir, { logger: quiet })).rejects.toThrow(/encrypted/);
  });

  it('loads a sealed segment a chunk at a time, and one damaged since it was checked by reading it whole', async () => {
    const lines: string[] = [];
    const db = await DuckDbDatabase.open(tempDir(), {
      atRest: atRest(),
      logger: createLogger({ sink: (l) => lines.push(l) }),
      // A backlog limit of 40 seals segments at 10 events; loads wait while a query runs.
      ingest: { maxDelayMs: 3_600_000, backlogLimit: 40, deferMaxMs: 3_600_000 },
    });
    const wholeReads = vi.spyOn(IngestLog.prototype, 'readPayloads');
    const original = Object.getOwnPropertyDescriptor(IngestLog.prototype, 'eventChunks')!
      .value as IngestLog['eventChunks'];
    const queries = new QueryActivity();
    db.ingest.deferWhileQuerying(queries);
    const count = () => new DuckDbEventStore(db).listEvents('prj_1').then((e) => e.length);
    /**
     * Ingests events from..from+9 as one segment (three records) while a query holds its load
     * back, damages record `damaged` of it on disk, then lets the load run.
     */
    const loadDamaged = async (from: number, damaged: number): Promise<void> => {
      queries.enter();
      await ingest(db, from, 3);
      await ingest(db, from + 3, 3);
      await ingest(db, from + 6, 4);
      await until(() => db.ingest.deferring);
      const logDir = path.join(db.filePath.replace(/\/[^/]+$/, ''), INGEST_LOG_DIR);
      const [name] = fs.readdirSync(logDir).filter((n) => n.endsWith('.ndjson'));
      const file = path.join(logDir, name!);
      const record = scanSegment(fs.readFileSync(file)).records[damaged]!;
      const fd = fs.openSync(file, 'r+');
      fs.writeSync(fd, Buffer.from('garbage'), 0, 7, record.payloadStart + 3);
      fs.closeSync(fd);
      queries.leave();
      await db.ingest.flush();
    };
    try {
      // A clean segment: loaded without reading it whole.
      await ingest(db, 0, 4);
      await ingest(db, 4, 6);
      await db.ingest.flush();
      expect(await count()).toBe(10);
      expect(wholeReads).not.toHaveBeenCalled();

      // A segment damaged between its check and its load (the load waits for a query meanwhile).
      await loadDamaged(10, 1);
      // The intact records' 7 events, by DuckDB's reader (no row-by-row fallback).
      expect(await count()).toBe(17);
      expect(wholeReads).toHaveBeenCalledTimes(1);
      expect(lines.filter((l) => l.includes('row by row'))).toEqual([]);

      // Damage met after two chunks were staged (a chunk per record here): the attempt is rolled
      // back whole, so the whole read that follows stores each intact event once.
      let staged = 0;
      const chunked = vi
        .spyOn(IngestLog.prototype, 'eventChunks')
        .mockImplementation(async function* (this: IngestLog, segment: LogSegment) {
          for await (const chunk of original.call(this, segment, 1)) {
            staged++;
            yield chunk;
          }
        });
      await loadDamaged(20, 2);
      chunked.mockRestore();
      expect(staged).toBe(2);
      expect(await count()).toBe(23);
      expect(
        new Set((await new DuckDbEventStore(db).listEvents('prj_1')).map((e) => e.insertId)).size,
      ).toBe(23);
      expect(wholeReads).toHaveBeenCalledTimes(2);
      expect(lines.filter((l) => l.includes('row by row'))).toEqual([]);
    } finally {
      wholeReads.mockRestore();
      await db.close();
    }
  });

  it('compacts into an encrypted file under the same key', async () => {
    const dir = tempDir();
    const db = await DuckDbDatabase.open(dir, { atRest: atRest(), logger: quiet });
    await ingest(db, 0, 40);
    await db.close();
    await expect(compactDatabase(dir)).rejects.toThrow(/master key/);
    await compactDatabase(dir, atRest());
    expect(isEncryptedFile(path.join(dir, 'sillage.duckdb'))).toBe(true);
    expect(leaks(dir)).toEqual([]);
    const again = await DuckDbDatabase.open(dir, { atRest: atRest(), logger: quiet });
    expect((await new DuckDbEventStore(again).listEvents('prj_1')).length).toBe(40);
    await again.close();
  });

  it('migrates a plain data directory on open, unloaded plain log segments included', async () => {
    const dir = tempDir();
    // The previous code path: no encryption at all.
    const old = await DuckDbDatabase.open(dir, { logger: quiet });
    expect(old.encrypted).toBe(false);
    await ingest(old, 0, 20);
    await old.ingest.flush();
    await old.close();
    expect(isEncryptedFile(path.join(dir, 'sillage.duckdb'))).toBe(false);
    expect(leaks(dir).length).toBeGreaterThan(0);
    // A plain segment not yet loaded (as after a crash), to be replayed by the new version.
    const plainLog = await IngestLog.open(path.join(dir, 'ingest-log'), 1, quiet);
    await plainLog.log.append(encodeRecord(batch(100, 5)));
    await plainLog.log.close();

    const lines: string[] = [];
    const db = await DuckDbDatabase.open(dir, {
      atRest: atRest(),
      logger: createLogger({ sink: (l) => lines.push(l) }),
    });
    expect(lines.some((l) => l.includes('encrypting the existing database'))).toBe(true);
    expect(lines.some((l) => l.includes('the database is now encrypted'))).toBe(true);
    const events = await new DuckDbEventStore(db).listEvents('prj_1');
    expect(events.length).toBe(25);
    await db.close();
    expect(isEncryptedFile(path.join(dir, 'sillage.duckdb'))).toBe(true);
    expect(fs.readdirSync(dir).filter((n) => n.includes('encrypting'))).toEqual([]);
    expect(leaks(dir)).toEqual([]);
  });

  it('without a safe crypto module: `auto` stays plain with a warning, `on` refuses', async () => {
    const dir = tempDir();
    const lines: string[] = [];
    const options = { ...atRest('auto'), dangerouslyAllowWeakCrypto: false };
    const db = await DuckDbDatabase.open(dir, {
      atRest: options,
      logger: createLogger({ sink: (l) => lines.push(l) }),
    });
    // (httpfs is not installed here; where it is, the database is encrypted instead.)
    if (!db.encrypted) {
      expect(lines.some((l) => l.includes('not encrypted at rest'))).toBe(true);
      await ingest(db, 0, 3);
      // The ingest log is sealed all the same.
      expect(leaks(path.join(dir, 'ingest-log'))).toEqual([]);
    }
    const encrypted = db.encrypted;
    await db.close();
    if (!encrypted) {
      await expect(
        DuckDbDatabase.open(tempDir(), { atRest: { ...options, mode: 'on' }, logger: quiet }),
      ).rejects.toThrow(/SILLAGE_ENCRYPTION=on/);
    }
  });
});
