// The ingest loader against a real DuckDB file: logged batches reach the tables exactly once, on
// flush, on restart after a SIGKILL, and when a load is replayed; DuckDB's reader falling over a
// segment falls back to the JavaScript loader.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { CommitBatch, EventRow } from '../types.js';
import { READ_JSON_LINE_BYTES } from './batch-apply.js';
import { DuckDbDatabase } from './database.js';
import { DuckDbEventStore } from './event-store.js';
import { INGEST_LOG_DIR, segmentFileName } from './ingest-log.js';
import { eventLine, frameRecord, segmentHeader } from './log-codec.js';
import { QueryActivity } from './query-activity.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

function row(i: number, extra: Partial<EventRow> = {}): EventRow {
  return {
    projectId: 'prj_1',
    dedupKey: 1000n + BigInt(i),
    timeMs: 1_700_000_000_000 + i,
    event: 'Viewed',
    distinctId: `u_${i % 7}`,
    deviceId: `d_${i % 5}`,
    userId: `u_${i % 7}`,
    insertId: `i${i}`,
    browser: 'Chrome',
    browserVersion: '120',
    os: 'Linux',
    deviceType: 'desktop',
    countryCode: 'FR',
    region: 'Île-de-France',
    city: null,
    referringDomain: 'www.google.com',
    currentUrl: 'https://example.com/a',
    utmSource: null,
    utmMedium: null,
    utmCampaign: null,
    utmContent: null,
    utmTerm: null,
    lib: 'web',
    properties: { n: i, tags: ['a', 'b'], nested: { ok: true } },
    receivedAtMs: 1_700_000_000_500,
    ...extra,
  };
}

function batch(from: number, count: number): CommitBatch {
  const events = Array.from({ length: count }, (_, k) => row(from + k));
  return {
    events,
    identityLinks: events.map((e) => ({
      projectId: 'prj_1',
      aliasId: e.deviceId!,
      canonicalId: e.userId!,
      timeMs: e.timeMs,
    })),
    profileUpdates: [],
    privacyCounts: [
      { projectId: 'prj_1', day: '2023-11-14', property: 'email', kind: 'email', count: count },
    ],
  };
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-loader-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** Waits (polling) until `holds` answers true; fails after 20 s. */
async function until(holds: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await holds()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the condition did not come true');
}

/** `count` events from `from`, without identity links (a unit of backlog per event). */
const eventsOnly = (from: number, count: number): CommitBatch => ({
  ...batch(from, count),
  identityLinks: [],
});

async function tableCount(db: DuckDbDatabase, sql: string): Promise<number> {
  return db.read(async (c) => Number((await c.runAndReadAll(sql)).getRowsJS()[0]?.[0] ?? 0));
}

describe('IngestLoader', () => {
  it('logs batches, loads them on flush, and skips duplicates within and across loads', async () => {
    const dir = tempDir();
    const db = await DuckDbDatabase.open(dir, { ingest: { maxDelayMs: 3_600_000 } });
    try {
      const store = new DuckDbEventStore(db);
      await store.append(batch(0, 30));
      await store.append(batch(20, 30)); // 10 resent
      expect(store.backlog()).toBeGreaterThan(0);
      // Not in the table yet: only in the log.
      expect(await tableCount(db, 'SELECT count(*) FROM events')).toBe(0);
      await store.flush();
      expect(store.backlog()).toBe(0);
      expect(await tableCount(db, 'SELECT count(*) FROM events')).toBe(50);
      await store.append(batch(40, 20)); // 10 already in the table
      expect(await store.countEvents('prj_1')).toBe(60); // reads wait for the log
      // First link wins; every alias has one link.
      const links = await store.listIdentityLinks('prj_1');
      expect(links.map((l) => [l.aliasId, l.canonicalId]).sort()).toEqual(
        [0, 1, 2, 3, 4].map((d) => [`d_${d}`, `u_${d}`]),
      );
      const counts = await store.privacyCounts('prj_1', '2023-11-14', '2023-11-14');
      expect(counts).toEqual([
        { projectId: 'prj_1', day: '2023-11-14', property: 'email', kind: 'email', count: 80 },
      ]);
      const [first] = await store.listEvents('prj_1', { limit: 1 });
      expect(first).toEqual(row(0));
      expect(fs.readdirSync(path.join(dir, INGEST_LOG_DIR))).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('commit() loads at once and reports exact insert and duplicate counts', async () => {
    const db = await DuckDbDatabase.open(tempDir(), { ingest: { maxDelayMs: 3_600_000 } });
    try {
      const store = new DuckDbEventStore(db);
      await store.append(batch(0, 5)); // logged, not loaded: commit() must load it first
      expect(await store.commit(batch(3, 5))).toEqual({
        eventsInserted: 3,
        eventsDuplicate: 2,
        profilesWritten: 0,
      });
      expect(await store.commit(batch(3, 5))).toEqual({
        eventsInserted: 0,
        eventsDuplicate: 5,
        profilesWritten: 0,
      });
      expect(await tableCount(db, 'SELECT count(*) FROM events')).toBe(8);
    } finally {
      await db.close();
    }
  });

  it('loadDirect() loads chunks of event lines in one transaction, without the log, after what the log holds, with exact counts', async () => {
    const dir = tempDir();
    const db = await DuckDbDatabase.open(dir, { ingest: { maxDelayMs: 3_600_000 } });
    try {
      const store = new DuckDbEventStore(db);
      await store.append(batch(0, 5)); // logged, not loaded: loaded first
      const logged = fs.readdirSync(path.join(dir, INGEST_LOG_DIR));
      // Row 3 is in the log; row 8 comes three times (the first one is kept); row 9 has no user
      // id: its person is its device's link.
      const rows = [row(3), row(5), row(6), row(7), row(8, { event: 'first' })];
      const later = [row(8), row(8), row(9, { userId: null })];
      const chunk = (list: EventRow[]): Uint8Array =>
        Buffer.from(list.map((r) => `${eventLine(r)}\n`).join(''));
      const chunks = [chunk(rows), chunk(later)];
      const result = await db.ingest.loadDirect({
        chunks,
        eventRows: 8,
        identityLinks: [{ projectId: 'prj_1', aliasId: 'd_4', canonicalId: 'u_other', timeMs: 1 }],
        privacyCounts: [
          { projectId: 'prj_1', day: '2023-11-14', property: 'email', kind: 'email', count: 2 },
        ],
      });
      expect(result).toEqual({ eventsInserted: 5, eventsDuplicate: 3, profilesWritten: 0 });
      expect(chunks).toEqual([]); // taken as DuckDB copied them
      const stored = await store.listEvents('prj_1');
      expect(stored).toHaveLength(10);
      expect(stored.find((e) => e.insertId === 'i8')?.event).toBe('first');
      expect(stored).toContainEqual(row(5));
      const person = await db.read(async (c) =>
        (await c.runAndReadAll("SELECT person_id FROM events WHERE insert_id = 'i9'")).getRowsJS(),
      );
      expect(person).toEqual([['u_4']]); // d_4's first link (the log's batch) wins
      expect(await store.privacyCounts('prj_1', '2023-11-14', '2023-11-14')).toEqual([
        { projectId: 'prj_1', day: '2023-11-14', property: 'email', kind: 'email', count: 7 },
      ]);
      // Nothing was logged for it: the log holds what it held (now loaded, so nothing).
      expect(logged.length).toBeGreaterThan(0);
      expect(fs.readdirSync(path.join(dir, INGEST_LOG_DIR))).toEqual([]);
      // Again: every event is a duplicate.
      expect(
        await db.ingest.loadDirect({
          chunks: [chunk(rows)],
          eventRows: 5,
          identityLinks: [],
          privacyCounts: [],
        }),
      ).toEqual({ eventsInserted: 0, eventsDuplicate: 5, profilesWritten: 0 });
    } finally {
      await db.close();
    }
  });

  it('seals at the backlog-derived size and loads the remainder on flush', async () => {
    const dir = tempDir();
    // A backlog limit of 40 seals segments at 10 events.
    const db = await DuckDbDatabase.open(dir, {
      ingest: { maxDelayMs: 3_600_000, backlogLimit: 40 },
    });
    try {
      const store = new DuckDbEventStore(db);
      for (let i = 0; i < 5; i++) await store.append(batch(i * 7, 7));
      // 35 events: three sealed segments of 10 are loading or loaded; 5 wait for a flush.
      expect(store.backlog()).toBeLessThanOrEqual(35 + 5 * 8);
      await store.flush();
      expect(store.backlog()).toBe(0);
      expect(await tableCount(db, 'SELECT count(*) FROM events')).toBe(35);
    } finally {
      await db.close();
    }
  });

  it('replays what a SIGKILLed process logged, exactly once, and again harmlessly', async () => {
    const dir = tempDir();
    // A child process opens the store, logs batches without loading them, then is killed.
    const child = path.join(dir, 'child.mts');
    fs.writeFileSync(
      child,
      `import { DuckDbDatabase } from ${JSON.stringify(path.join(HERE, 'database.ts'))};
       import { DuckDbEventStore } from ${JSON.stringify(path.join(HERE, 'event-store.ts'))};
       const db = await DuckDbDatabase.open(${JSON.stringify(path.join(dir, 'data'))}, { ingest: { maxDelayMs: 3600000 } });
       const store = new DuckDbEventStore(db);
       const batches = JSON.parse(process.argv[2], (k, v) => (k === 'dedupKey' ? BigInt(v) : v));
       for (const b of batches) await store.append(b);
       process.stdout.write('logged\\n');
       setInterval(() => undefined, 1000);`,
    );
    const batches = [batch(0, 40), batch(30, 40)];
    const arg = JSON.stringify(batches, (_k, v: unknown) =>
      typeof v === 'bigint' ? v.toString() : v,
    );
    const proc = spawn(process.execPath, ['--import', 'tsx', child, arg], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('logged')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    proc.kill('SIGKILL');
    await new Promise((resolve) => proc.once('exit', resolve));

    const data = path.join(dir, 'data');
    const logDir = path.join(data, INGEST_LOG_DIR);
    const segments = fs.readdirSync(logDir);
    expect(segments.length).toBeGreaterThan(0);
    const copies = segments.map(
      (name) => [name, fs.readFileSync(path.join(logDir, name))] as const,
    );
    let db = await DuckDbDatabase.open(data);
    try {
      expect(await tableCount(db, 'SELECT count(*) FROM events')).toBe(70);
      expect(await tableCount(db, 'SELECT count(DISTINCT dedup_key) FROM events')).toBe(70);
      expect(fs.readdirSync(logDir)).toEqual([]);
    } finally {
      await db.close();
    }
    // A crash after the load committed but before its file was removed: the segment is known to
    // be applied and is removed without loading.
    for (const [name, bytes] of copies) fs.writeFileSync(path.join(logDir, name), bytes);
    db = await DuckDbDatabase.open(data);
    try {
      expect(fs.readdirSync(logDir)).toEqual([]);
      expect(await tableCount(db, 'SELECT count(*) FROM events')).toBe(70);
      // Even replaying an applied segment adds no event: the dedup key makes event loads
      // idempotent (counters and profile operations rely on the applied position instead).
      await db.writer.run((c) =>
        c.run("UPDATE ingest_log_state SET value = 0 WHERE name = 'applied_segment'"),
      );
    } finally {
      await db.close();
    }
    for (const [name, bytes] of copies) fs.writeFileSync(path.join(logDir, name), bytes);
    db = await DuckDbDatabase.open(data);
    try {
      expect(await tableCount(db, 'SELECT count(*) FROM events')).toBe(70);
      expect(await tableCount(db, 'SELECT sum(count) FROM privacy_counters')).toBeGreaterThan(0);
    } finally {
      await db.close();
    }
  }, 60_000);

  it('falls back to the JavaScript loader for a segment DuckDB refuses', async () => {
    const dir = tempDir();
    const logDir = path.join(dir, INGEST_LOG_DIR);
    fs.mkdirSync(logDir, { recursive: true });
    // An escaped lone surrogate: valid for JSON.parse, refused by DuckDB's reader. (The encoder
    // never writes one; an older or damaged-but-valid segment might.)
    const line = JSON.stringify({
      p: 'prj_1',
      k: '77',
      t: 1,
      e: 'Bad',
      d: 'u_1',
      i: 'x',
      pr: { s: 'a\uD800b' },
      r: 2,
    });
    const payload = Buffer.from(`${line}\n`, 'utf8');
    fs.writeFileSync(
      path.join(logDir, segmentFileName(1)),
      Buffer.concat([segmentHeader(1), frameRecord(1, { payload, units: 1 })]),
    );
    const db = await DuckDbDatabase.open(dir);
    try {
      const rows = await new DuckDbEventStore(db).listEvents('prj_1');
      expect(rows.map((r) => [r.event, r.dedupKey])).toEqual([['Bad', 77n]]);
    } finally {
      await db.close();
    }
  });

  it("loads a line longer than the reader's usual limit with DuckDB's reader, not row by row", async () => {
    const dir = tempDir();
    const warnings: string[] = [];
    const logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: (msg: string) => warnings.push(msg),
      error: (msg: string) => warnings.push(msg),
    };
    const db = await DuckDbDatabase.open(dir, { logger, ingest: { maxDelayMs: 3_600_000 } });
    try {
      const store = new DuckDbEventStore(db);
      // Past what the usual setting lets through (twice the setting), within the largest one.
      const long = 'x'.repeat(2 * READ_JSON_LINE_BYTES.usual + 1024);
      await store.commit({
        events: [row(1), row(2, { properties: { long } }), row(3)],
        identityLinks: [],
        profileUpdates: [],
        privacyCounts: [],
      });
      const rows = await store.listEvents('prj_1');
      expect(rows.map((r) => r.insertId).sort()).toEqual(['i1', 'i2', 'i3']);
      expect(rows.find((r) => r.insertId === 'i2')?.properties.long).toBe(long);
      expect(warnings).toEqual([]);
    } finally {
      await db.close();
    }
  });
  // A store whose events table refuses the rows (a NOT NULL the schema does not have): every
  // loader fails on the same segment, as on a full memory or a damaged file.
  const refuseCity = (db: DuckDbDatabase, refuse: boolean): Promise<void> =>
    db.read(async (c) => {
      await c.run(`ALTER TABLE events ALTER COLUMN city ${refuse ? 'SET' : 'DROP'} NOT NULL`);
    });

  it('retries a failed load until it commits, also when the failed one created the staging tables', async () => {
    const dir = tempDir();
    const db = await DuckDbDatabase.open(dir, { ingest: { maxDelayMs: 3_600_000 } });
    try {
      const store = new DuckDbEventStore(db);
      await refuseCity(db, true);
      // The first load of this loader creates its staging tables inside the transaction that
      // fails; the ROLLBACK drops them, and the retry must create them again.
      await expect(store.commit(batch(0, 10))).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      await refuseCity(db, false);
      await store.flush(); // waits for the retry (backoff from 250 ms)
      expect(await tableCount(db, 'SELECT count(*) FROM events')).toBe(10);
      expect(await tableCount(db, 'SELECT count(*) FROM identity_links')).toBe(5);
    } finally {
      await db.close();
    }
  });

  it("with onFailedLoad 'stop', the first failed load is final: its own error, nothing more loaded, the segment kept for the next open", async () => {
    const dir = tempDir();
    const options = { ingest: { maxDelayMs: 3_600_000, onFailedLoad: 'stop' as const } };
    const db = await DuckDbDatabase.open(dir, options);
    const store = new DuckDbEventStore(db);
    try {
      const inParis = batch(0, 10);
      inParis.events = inParis.events.map((e) => ({ ...e, city: 'Paris' }));
      expect(await store.commit(inParis)).toMatchObject({ eventsInserted: 10 });
      await refuseCity(db, true);
      const failure = store.commit(batch(10, 10));
      await expect(failure).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      const message = ((await failure.catch((e: unknown) => e)) as Error).message;
      // The load's own reason; DuckDB's message is left out, as it may quote a value.
      expect(message).toMatch(
        /^a batch of 10 events could not be loaded into the database: Constraint Error \(its message is not shown: it may quote event data\)\. It stays in the ingest log/,
      );
      // Every later commit and flush fails at once with the same error, without loading.
      await refuseCity(db, false);
      await expect(store.commit(batch(20, 10))).rejects.toThrow(message);
      await expect(store.flush()).rejects.toThrow(message);
      expect(await tableCount(db, 'SELECT count(*) FROM events')).toBe(10);
    } finally {
      await db.close(); // returns: no retry to wait for
    }
    expect(
      fs.readdirSync(path.join(dir, INGEST_LOG_DIR)).filter((f) => f.startsWith('seg-')),
    ).toHaveLength(1);
    // The next open loads the kept segment (the cause is gone): nothing was lost.
    const again = await DuckDbDatabase.open(dir, options);
    try {
      expect(await tableCount(again, 'SELECT count(*) FROM events')).toBe(20);
    } finally {
      await again.close();
    }
  });

  it("a replay that fails at open says why, from the load's own error", async () => {
    const dir = tempDir();
    const db = await DuckDbDatabase.open(dir, { ingest: { maxDelayMs: 3_600_000 } });
    try {
      await new DuckDbEventStore(db).append(batch(0, 10)); // logged, loaded at the next open
      await refuseCity(db, true);
    } finally {
      await db.close();
    }
    await expect(DuckDbDatabase.open(dir)).rejects.toThrow(
      'the ingest log could not be replayed into the database: Constraint Error (its message is not shown',
    );
  });
  describe('while interactive queries run', () => {
    // A backlog limit of 40 seals segments at 10 events: appending 10 starts a load at once.
    const events = (db: DuckDbDatabase) => tableCount(db, 'SELECT count(*) FROM events');
    /** A database whose loads defer to `queries`, one query running; closed after `body`. */
    const whileQuerying = async (
      deferMaxMs: number,
      body: (db: DuckDbDatabase, queries: QueryActivity, store: DuckDbEventStore) => Promise<void>,
    ): Promise<DuckDbDatabase> => {
      const db = await DuckDbDatabase.open(tempDir(), {
        ingest: { maxDelayMs: 3_600_000, backlogLimit: 40, deferMaxMs },
      });
      const queries = new QueryActivity();
      db.ingest.deferWhileQuerying(queries);
      queries.enter();
      try {
        await body(db, queries, new DuckDbEventStore(db));
      } finally {
        await db.close();
      }
      return db;
    };

    it('a load waits for the running queries to end, then starts', async () => {
      await whileQuerying(3_600_000, async (db, queries, store) => {
        await store.append(eventsOnly(0, 10));
        await until(() => db.ingest.deferring);
        expect(await events(db)).toBe(0);
        queries.leave();
        await until(async () => (await events(db)) === 10);
      });
    });

    it('waits at most deferMaxMs: the load starts while the queries still run', async () => {
      await whileQuerying(200, async (db, queries, store) => {
        await store.append(eventsOnly(0, 10));
        await until(() => db.ingest.deferring);
        await until(async () => (await events(db)) === 10);
        expect(queries.busy).toBe(true);
      });
    });

    it('waits no longer than the backlog stays under twice the sealing size (half the bound)', async () => {
      await whileQuerying(3_600_000, async (db, queries, store) => {
        await store.append(eventsOnly(0, 10));
        await until(() => db.ingest.deferring);
        expect(await events(db)).toBe(0);
        // Two sealed segments of 10 events (and a privacy count each): a backlog of 22 units.
        await store.append(eventsOnly(10, 10));
        // The first is loaded at once, queries or not; the second, under the bound, waits.
        await until(async () => (await events(db)) === 10);
        await until(() => db.ingest.deferring);
        expect(queries.busy).toBe(true);
        expect(store.backlog()).toBe(11);
        queries.leave();
        await until(async () => (await events(db)) === 20);
      });
    });

    it('a flush, a commit and the close do not wait for them', async () => {
      const db = await whileQuerying(3_600_000, async (db, _queries, store) => {
        await store.append(eventsOnly(0, 10));
        await until(() => db.ingest.deferring);
        await store.flush();
        expect(await events(db)).toBe(10);
        expect((await store.commit(eventsOnly(10, 3))).eventsInserted).toBe(3);
        await store.append(eventsOnly(13, 10));
        await until(() => db.ingest.deferring);
      });
      const again = await DuckDbDatabase.open(db.filePath.replace(/\/[^/]+$/, ''));
      try {
        expect(await events(again)).toBe(23);
      } finally {
        await again.close();
      }
    });
  });
});
