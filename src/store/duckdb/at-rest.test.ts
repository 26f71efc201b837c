// Encryption at rest: the ingest log is sealed (AES-256-GCM per record, a key per segment) and
// recovers as the plain one does; the DuckDB file, its WAL and spill files carry no plaintext;
// a plain data directory is migrated on open.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log.js';
import type { CommitBatch, EventRow } from '../types.js';
import { isEncryptedFile, type AtRestOptions } from './at-rest.js';
import { compactDatabase } from './compact.js';
import { DuckDbDatabase } from './database.js';
import { DuckDbEventStore } from './event-store.js';
import { IngestLog, segmentFileName } from './ingest-log.js';
import { encodeRecord, recordHeader, scanSegment } from './log-codec.js';

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
    const file = path.join(dir, segmentFileName(1));
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
