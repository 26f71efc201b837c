// The ingest log's format and recovery: records round-trip, a torn tail is cut off, damage is set
// aside without losing the records around it, segments split at exact event counts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../shared/log.js';
import type { CommitBatch, EventRow } from '../types.js';
import { IngestLog, segmentFileName } from './ingest-log.js';
import {
  encodeRecord,
  eventLine,
  forEachPayloadLine,
  frameRecord,
  isEventLine,
  parseEventLine,
  readExtras,
  safeJson,
  scanSegment,
  segmentHeader,
  splitRecord,
} from './log-codec.js';

const SEED = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));

function row(i: number, extra: Partial<EventRow> = {}): EventRow {
  return {
    projectId: 'prj_1',
    dedupKey: 2n ** 127n + BigInt(i),
    timeMs: 1_700_000_000_000 + i,
    event: 'Viewed',
    distinctId: `u_${i}`,
    deviceId: i % 2 ? null : `d_${i}`,
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
    currentUrl: 'https://example.com/a',
    utmSource: null,
    utmMedium: null,
    utmCampaign: null,
    utmContent: null,
    utmTerm: null,
    lib: 'web',
    properties: { n: i, nested: { a: [1, 'two', null] } },
    receivedAtMs: 1_700_000_000_500,
    ...extra,
  };
}

function batch(from: number, count: number): CommitBatch {
  return {
    events: Array.from({ length: count }, (_, k) => row(from + k)),
    identityLinks: [
      { projectId: 'prj_1', aliasId: `d_${from}`, canonicalId: `u_${from}`, timeMs: 5 },
    ],
    profileUpdates: [
      {
        projectId: 'prj_1',
        groupKey: '',
        profileId: `u_${from}`,
        op: '$set',
        value: { plan: 'pro' },
        timeMs: 6,
        ignoreTime: false,
      },
    ],
    privacyCounts: [
      { projectId: 'prj_1', day: '2024-01-01', property: 'email', kind: 'email', count: 2 },
      { projectId: 'prj_1', day: '2024-01-01', property: 'email', kind: 'email', count: 3 },
    ],
  };
}

/** Every event and extra of a segment file, as read back. */
function readBack(buf: Buffer) {
  const scan = scanSegment(buf);
  const events: EventRow[] = [];
  for (const record of scan.records) {
    forEachPayloadLine(buf, record, (line) => {
      if (isEventLine(line)) events.push(parseEventLine(line.toString('utf8')));
    });
  }
  return { scan, events, ...readExtras(buf, scan.records) };
}

const quiet = createLogger({ sink: () => undefined });
const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-log-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  vi.restoreAllMocks();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** FileHandle.prototype (node:fs/promises does not export the class). */
async function fileHandlePrototype(dir: string): Promise<fs.promises.FileHandle> {
  const handle = await fs.promises.open(path.join(dir, 'probe'), 'w');
  await handle.close();
  return Object.getPrototypeOf(handle) as fs.promises.FileHandle;
}

/** The real `datasync` of FileHandle.prototype, callable on any handle. */
function realDatasync(
  proto: fs.promises.FileHandle,
): (handle: fs.promises.FileHandle) => Promise<void> {
  const original = Object.getOwnPropertyDescriptor(proto, 'datasync')?.value as (
    this: fs.promises.FileHandle,
  ) => Promise<void>;
  return (handle) => original.call(handle);
}

describe('log records', () => {
  it('round-trip events, identity links, profile updates and summed counters', () => {
    const b = batch(0, 3);
    const buf = Buffer.concat([segmentHeader(1), frameRecord(7, encodeRecord(b))]);
    const back = readBack(buf);
    expect(back.scan.segment).toBe(1);
    expect(back.scan.invalid).toEqual([]);
    expect(back.scan.records.map((r) => r.seq)).toEqual([7]);
    expect(back.events).toEqual(b.events);
    expect(back.eventRows).toBe(3);
    expect(back.extras.identityLinks).toEqual(b.identityLinks);
    expect(back.extras.profileUpdates).toEqual(b.profileUpdates);
    expect(back.extras.privacyCounts).toEqual([{ ...b.privacyCounts[0], count: 5 }]);
  });

  it('round-trip any JSON property bag and any string (fast-check)', () => {
    // Lone surrogates become U+FFFD (DuckDB's JSON reader refuses them); everything else is exact.
    const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
    const wellFormed = (v: unknown): unknown => {
      if (typeof v === 'string') return v.replace(lone, '\uFFFD');
      if (Array.isArray(v)) return v.map(wellFormed);
      if (v === null || typeof v !== 'object') return v;
      return Object.fromEntries(
        Object.entries(v).map(([k, x]) => [k.replace(lone, '\uFFFD'), wellFormed(x)]),
      );
    };
    const text = fc.string({ unit: 'binary', maxLength: 12 });
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), text, text, (value, event, key) => {
        const properties = JSON.parse(
          JSON.stringify({ [key]: value, ['__proto__']: 1 }),
        ) as EventRow['properties'];
        const r = row(1, { event, properties });
        const back = parseEventLine(eventLine(r));
        expect(back.event).toBe(wellFormed(event));
        expect(back.properties).toEqual(wellFormed(properties));
        expect(Object.getPrototypeOf(back.properties)).toBe(Object.prototype);
        expect(back.dedupKey).toBe(r.dedupKey);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('writes no lone-surrogate escape, which DuckDB would refuse', () => {
    expect(safeJson({ a: 'x\uD800y', ['\uDC00']: ['\uD83D\uDE00'] })).toBe(
      '{"a":"x\uFFFDy","\uFFFD":["\uD83D\uDE00"]}',
    );
  });

  it('splits a record after a given number of events, extras in the tail', () => {
    const record = encodeRecord(batch(0, 5));
    const [head, tail] = splitRecord(record, 2);
    const framed = Buffer.concat([segmentHeader(1), frameRecord(1, head), frameRecord(2, tail)]);
    const back = readBack(framed);
    expect(back.events.map((e) => e.insertId)).toEqual(['i0', 'i1', 'i2', 'i3', 'i4']);
    expect(head.eventRows + tail.eventRows).toBe(5);
    expect(head.units + tail.units).toBe(record.units);
    expect(back.extras.identityLinks).toHaveLength(1);
  });
});

describe('segment scan', () => {
  const three = (): Buffer =>
    Buffer.concat([
      segmentHeader(4),
      frameRecord(1, encodeRecord(batch(0, 2))),
      frameRecord(2, encodeRecord(batch(10, 2))),
      frameRecord(3, encodeRecord(batch(20, 2))),
    ]);

  it('stops at a torn tail wherever the write was cut', () => {
    const full = three();
    const lastStart = scanSegment(full).records[2]!.start;
    for (let cut = lastStart; cut < full.length; cut += 7) {
      const scan = scanSegment(full.subarray(0, cut));
      expect(scan.records.map((r) => r.seq)).toEqual([1, 2]);
      if (cut > lastStart) expect(scan.invalid).toEqual([{ start: lastStart, end: cut }]);
    }
  });

  it('skips a damaged record and keeps the ones after it', () => {
    const buf = three();
    const second = scanSegment(buf).records[1]!;
    buf[second.payloadStart + 10] = buf[second.payloadStart + 10]! ^ 0x20; // a flipped bit: CRC mismatch
    const scan = scanSegment(buf);
    expect(scan.records.map((r) => r.seq)).toEqual([1, 3]);
    expect(scan.invalid).toEqual([{ start: second.start, end: second.end }]);
  });

  it('refuses a record whose header digits were damaged (its CRC binds sequence and units)', () => {
    // Found by the property below (seed 1727276795): a '0' over the sequence digit of record 1
    // left valid JSON and a valid payload CRC, so a record "0" that was never written came back.
    const buf = three();
    const first = scanSegment(buf).records[0]!;
    const digit = buf.indexOf('"h":1', first.start) + 4;
    buf[digit] = 0x30;
    const scan = scanSegment(buf);
    expect(scan.records.map((r) => r.seq)).toEqual([2, 3]);
    const units = three();
    const u = units.indexOf('"u":', first.start) + 4;
    units[u] = units[u] === 0x39 ? 0x38 : units[u]! + 1;
    expect(scanSegment(units).records.map((r) => r.seq)).toEqual([2, 3]);
  });

  it('still reads segments of format 1, whose CRC covers the payload only', () => {
    const record = encodeRecord(batch(0, 2));
    const header = `{"h":7,"n":${record.payload.length},"c":${crc32(record.payload)},"u":${record.units}}\n`;
    const legacy = Buffer.concat([
      Buffer.from('{"sillage_ingest_log":1,"segment":4}\n'),
      Buffer.from(header),
      record.payload,
    ]);
    const scan = scanSegment(legacy);
    expect(scan.segment).toBe(4);
    expect(scan.records.map((r) => r.seq)).toEqual([7]);
    expect(scan.invalid).toEqual([]);
    // The same record in a current segment does not check out: formats are not mixed.
    const current = Buffer.concat([segmentHeader(4), Buffer.from(header), record.payload]);
    expect(scanSegment(current).records).toEqual([]);
  });

  it('reads the records after a first line that is JSON but not a format line (null found by review)', () => {
    // Reading the first line's fields outside the parse's try threw a TypeError on `null`, so a
    // store with such a segment failed to open instead of setting the damage aside.
    const records = three().subarray(segmentHeader(4).length);
    for (const first of ['null', '7', '"x"', '[]', '{}', 'true']) {
      const scan = scanSegment(Buffer.concat([Buffer.from(`${first}\n`), records]));
      expect(scan.segment).toBeNull();
      expect(scan.records.map((r) => r.seq)).toEqual([1, 2, 3]);
    }
  });

  it('never mistakes payload bytes for a record (fast-check over random damage)', () => {
    const original = three();
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }),
        (flips) => {
          const buf = Buffer.from(original);
          for (const [at, byte] of flips) buf[at % buf.length] = byte;
          const scan = scanSegment(buf);
          const good = scanSegment(original).records;
          // Whatever survives is a record that was written, byte for byte.
          for (const r of scan.records) {
            const same = good.find((g) => g.seq === r.seq);
            expect(same).toBeDefined();
            expect(
              buf.subarray(r.start, r.end).equals(original.subarray(same!.start, same!.end)),
            ).toBe(true);
          }
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });
});

describe('IngestLog', () => {
  it('appends durably, seals at an exact number of events and reopens with what it holds', async () => {
    const dir = tempDir();
    const { log, pending } = await IngestLog.open(dir, 0, quiet);
    expect(pending).toEqual([]);
    await log.append(encodeRecord(batch(0, 3)), { sealAtEventRows: 5 });
    await log.append(encodeRecord(batch(3, 4)), { sealAtEventRows: 5 }); // 2 + 2 across a seal
    await log.append(encodeRecord(batch(7, 1)), { sealAtEventRows: 5 });
    const sealed = log.takeSealed();
    expect(sealed.map((s) => s.eventRows)).toEqual([5]);
    await log.close();

    const again = await IngestLog.open(dir, 0, quiet);
    expect(again.pending.map((s) => [s.id, s.eventRows])).toEqual([
      [sealed[0]!.id, 5],
      [sealed[0]!.id + 1, 3],
    ]);
    // The extras of a split record travel with its last part.
    expect(again.pending[0]!.extras.identityLinks.map((l) => l.aliasId)).toEqual(['d_0']);
    expect(again.pending[1]!.extras.identityLinks.map((l) => l.aliasId)).toEqual(['d_3', 'd_7']);
    await again.log.close();

    // Segments up to the applied one are gone at the next open.
    const applied = await IngestLog.open(dir, sealed[0]!.id, quiet);
    expect(applied.pending.map((s) => s.id)).toEqual([sealed[0]!.id + 1]);
    expect(fs.existsSync(path.join(dir, segmentFileName(sealed[0]!.id)))).toBe(false);
    await applied.log.close();
  });

  it('cuts a torn tail off the newest segment and keeps appending after it', async () => {
    const dir = tempDir();
    const { log } = await IngestLog.open(dir, 0, quiet);
    const segment = await log.append(encodeRecord(batch(0, 2)));
    await log.append(encodeRecord(batch(2, 2)));
    await log.close();
    const file = path.join(dir, segmentFileName(segment.id));
    const whole = fs.readFileSync(file);
    fs.writeFileSync(file, whole.subarray(0, whole.length - 9)); // a write cut short

    const lines: string[] = [];
    const reopened = await IngestLog.open(dir, 0, createLogger({ sink: (l) => lines.push(l) }));
    expect(reopened.pending.map((s) => s.eventRows)).toEqual([2]);
    expect(lines.some((l) => l.includes('torn write'))).toBe(true);
    expect(scanSegment(fs.readFileSync(file)).invalid).toEqual([]);
    await reopened.log.append(encodeRecord(batch(4, 1)));
    await reopened.log.close();
    const last = await IngestLog.open(dir, 0, quiet);
    expect(last.pending.map((s) => s.eventRows)).toEqual([2, 1]);
    await last.log.close();
  });

  it('sets damage aside in a .damaged file and keeps the records around it', async () => {
    const dir = tempDir();
    const { log } = await IngestLog.open(dir, 0, quiet);
    for (let i = 0; i < 3; i++) await log.append(encodeRecord(batch(i * 10, 2)));
    await log.seal();
    await log.append(encodeRecord(batch(100, 1))); // a newer segment: the first one is not the tail
    await log.close();
    const file = path.join(dir, segmentFileName(1));
    const buf = fs.readFileSync(file);
    const second = scanSegment(buf).records[1]!;
    buf[second.payloadStart + 3] = buf[second.payloadStart + 3]! ^ 0x01;
    fs.writeFileSync(file, buf);

    const lines: string[] = [];
    const reopened = await IngestLog.open(dir, 0, createLogger({ sink: (l) => lines.push(l) }));
    expect(reopened.pending.map((s) => s.eventRows)).toEqual([4, 1]);
    expect(lines.some((l) => l.includes('"level":"error"') && l.includes('damaged'))).toBe(true);
    expect(fs.readFileSync(`${file}.damaged`).length).toBe(second.end - second.start);
    await reopened.log.close();
  });

  it('concurrent appends share fdatasync calls, one at a time, and each returns durable', async () => {
    const dir = tempDir();
    const proto = await fileHandlePrototype(dir);
    const datasync = realDatasync(proto);
    let running = 0;
    let most = 0;
    let calls = 0;
    // Each fdatasync takes 20 ms, as a slow disk's would: appends arrive while one runs.
    vi.spyOn(proto, 'datasync').mockImplementation(async function (this: fs.promises.FileHandle) {
      calls++;
      most = Math.max(most, ++running);
      try {
        await new Promise((r) => setTimeout(r, 20));
        // What was written before the call returned is on disk when it resolves.
        await datasync(this);
      } finally {
        running--;
      }
    });
    const { log } = await IngestLog.open(dir, 0, quiet);
    const appends = Array.from({ length: 40 }, (_, i) => log.append(encodeRecord(batch(i, 1))));
    await Promise.all(appends);
    expect(most).toBe(1);
    // The first append's sync, then few more: each covers every write made while one ran.
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(calls).toBeLessThan(10);
    await log.close();
    vi.restoreAllMocks();
    const again = await IngestLog.open(dir, 0, quiet);
    expect(again.pending.map((s) => s.eventRows)).toEqual([40]);
    await again.log.close();
  });

  it('a failed fdatasync fails the appends waiting on it and on the next one, and seals the segment', async () => {
    const dir = tempDir();
    const proto = await fileHandlePrototype(dir);
    const datasync = realDatasync(proto);
    // The first fdatasync fails; later ones succeed, as Linux's may once it has reported an error.
    let failures = 1;
    vi.spyOn(proto, 'datasync').mockImplementation(async function (this: fs.promises.FileHandle) {
      await new Promise((r) => setTimeout(r, 20));
      if (failures-- > 0)
        throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      await datasync(this);
    });
    const { log } = await IngestLog.open(dir, 0, quiet);
    const first = log.append(encodeRecord(batch(0, 1)));
    // Written while the first sync runs: they wait for the next one, which must not report a
    // success Linux may give after a failure although earlier pages were lost.
    await new Promise((r) => setTimeout(r, 5));
    const later = [1, 2, 3].map((i) => log.append(encodeRecord(batch(i, 1))));
    const results = await Promise.allSettled([first, ...later]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    // Nothing more is appended behind data whose durability is unknown.
    expect(log.takeSealed().map((s) => s.records)).toEqual([4]);
    const next = await log.append(encodeRecord(batch(10, 1)));
    expect(next.records).toBe(1);
    await log.close();
  });
});
