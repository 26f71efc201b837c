// The audit journal on a real directory: acknowledged entries survive a crash before the database
// load, a torn tail is ignored, a failed write refuses the read and the chain stays whole; a write
// in flight holds its entries back, entries arriving meanwhile share the next write, and neither a
// load nor a close cuts in under a write. (A crash with groups in flight, real process and SIGKILL:
// test/audit-journal-crash.test.ts.)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SILENT_LOGGER } from '../shared/log.js';
import { AuditLog, deriveAuditKeys } from './audit-log.js';
import { JournaledAuditStore, parseSegment } from './journal.js';
import { MemoryAuditStore } from './memory-audit-store.js';
import { verifyAuditLog } from './verify.js';

const KEYS = deriveAuditKeys(Buffer.alloc(32, 9));
const U1 = 'u_' + Buffer.alloc(16, 1).toString('base64url');
let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-audit-journal-'));
});
afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Never loads by itself (the test decides when the database copy is made). */
const LAZY = { loadDelayMs: 3_600_000, loadEntries: 1_000_000 };

async function openLog(inner: MemoryAuditStore) {
  const journal = await JournaledAuditStore.open(dir, inner, SILENT_LOGGER, LAZY);
  const log = await AuditLog.open(journal, KEYS, () => Promise.resolve('org_1'), SILENT_LOGGER);
  return { journal, log };
}

const segments = (): string[] => fs.readdirSync(dir).filter((n) => n.endsWith('.jsonl'));

type WriteCallback = (error: NodeJS.ErrnoException | null, written: number) => void;

/**
 * Holds every write(2) the journal makes until the test lets it go: a write stays "in flight"
 * (the disk still flushing) for as long as the test needs, with no timing involved.
 */
function holdWrites() {
  const real = fs.write.bind(fs) as (...args: unknown[]) => void;
  const held: { bytes: Buffer; go: () => void; fail: (half: boolean) => void }[] = [];
  const spy = vi.spyOn(fs, 'write').mockImplementation((...args: unknown[]) => {
    const [fd, buffer, offset, length, position, cb] = args as [
      number,
      Buffer,
      number,
      number,
      null,
      WriteCallback,
    ];
    held.push({
      bytes: buffer.subarray(offset, offset + length),
      go: () => real(fd, buffer, offset, length, position, cb),
      // An I/O error, after half the bytes reached the file when `half` (a torn write).
      fail: (half) => {
        if (half) fs.writeSync(fd, buffer, offset, Math.floor(length / 2));
        cb(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' }), 0);
      },
    });
  });
  return { held, writes: () => spy.mock.calls.length };
}

/** Lets the event loop and the thread pool turn a few times. */
async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Tracks whether a promise has settled, without awaiting it. */
function track<T>(p: Promise<T>): { settled: () => boolean; p: Promise<T> } {
  let settled = false;
  const q = p.finally(() => {
    settled = true;
  });
  q.catch(() => undefined);
  return { settled: () => settled, p: q };
}

describe('JournaledAuditStore', () => {
  it('acknowledges from the journal, loads into the database before any read', async () => {
    const inner = new MemoryAuditStore();
    const { journal, log } = await openLog(inner);
    await log.record({ kind: 'user_read', actor: 'user:a', projectId: 'prj_1', subjects: [U1] });
    expect(inner.entries).toHaveLength(0); // durable in the journal only
    const seen = await journal.scan({});
    expect(seen.map((e) => e.kind)).toEqual(['user_read']);
    expect(inner.entries).toHaveLength(1);
    expect((await verifyAuditLog(journal, log.signer)).ok).toBe(true);
    await journal.close();
  });

  it('replays acknowledged entries after a crash, and ignores a torn tail', async () => {
    const first = new MemoryAuditStore();
    const { log } = await openLog(first);
    for (let i = 0; i < 5; i++) await log.record({ kind: 'query', actor: 'user:a', rows: i });
    expect(first.entries).toHaveLength(0);
    // "kill -9": no close, no load; then half a batch that was never acknowledged.
    const [segment] = segments();
    fs.appendFileSync(path.join(dir, segment!), '{"t":"e","seq":6,"atMs":1,"ki');
    // The database copy survived with entries 1–2 only (an earlier load).
    const survivor = new MemoryAuditStore();
    const text = fs.readFileSync(path.join(dir, segment!), 'utf8');
    const batches = parseSegment(text);
    expect(batches.flatMap((b) => b.entries.map((e) => e.seq))).toEqual([1, 2, 3, 4, 5]);
    await survivor.append(() => ({ ...batches[0]!, checkpoint: false }));
    await survivor.append(() => ({ ...batches[1]!, checkpoint: false }));

    const reopened = await openLog(survivor);
    expect(survivor.entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(await verifyAuditLog(reopened.journal, reopened.log.signer)).toMatchObject({
      ok: true,
      entries: 5,
      head_seq: 5,
    });
    const next = await reopened.log.record({ kind: 'query', actor: 'user:a' });
    expect(next.seq).toBe(6);
    await reopened.journal.close();
    expect((await verifyAuditLog(survivor, reopened.log.signer)).ok).toBe(true);
  });

  it('seals batches under its key: no plaintext on disk, replayed after a crash, torn tail ignored', async () => {
    const key = Buffer.alloc(32, 7);
    const sealed = { ...LAZY, key };
    const first = new MemoryAuditStore();
    const journal = await JournaledAuditStore.open(dir, first, SILENT_LOGGER, sealed);
    const log = await AuditLog.open(journal, KEYS, () => Promise.resolve('org_1'), SILENT_LOGGER);
    for (let i = 0; i < 3; i++)
      await log.record({ kind: 'query', actor: 'user:a', projectId: 'prj_planted', rows: i });
    const [segment] = segments();
    const file = path.join(dir, segment!);
    const bytes = fs.readFileSync(file, 'utf8');
    expect(bytes).not.toContain('prj_planted');
    expect(bytes).not.toContain('user:a');
    expect(parseSegment(bytes)).toEqual([]); // without the key: nothing readable
    expect(parseSegment(bytes, Buffer.alloc(32, 8))).toEqual([]); // another key: nothing either
    expect(parseSegment(bytes, key).flatMap((b) => b.entries.map((e) => e.seq))).toEqual([1, 2, 3]);
    // "kill -9", plus a torn sealed batch that was never acknowledged.
    fs.appendFileSync(file, bytes.split('\n')[0]!.slice(0, 40));
    const survivor = new MemoryAuditStore();
    const reopened = await JournaledAuditStore.open(dir, survivor, SILENT_LOGGER, sealed);
    expect(survivor.entries.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(survivor.entries[0]!.projectId).toBe('prj_planted');
    await reopened.close();
  });

  it('fails closed when the journal cannot be written, then carries on with a whole chain', async () => {
    const inner = new MemoryAuditStore();
    const { journal, log } = await openLog(inner);
    await log.record({ kind: 'query', actor: 'user:a' });
    // The device goes away under the open segment (EBADF on the next write).
    fs.closeSync((journal as unknown as { fd: number }).fd);
    await expect(log.record({ kind: 'export', actor: 'user:a' })).rejects.toMatchObject({
      code: 'AUDIT_UNAVAILABLE',
      status: 503,
    });
    const next = await log.record({ kind: 'query', actor: 'user:a' });
    expect(next.seq).toBe(2);
    expect(await verifyAuditLog(journal, log.signer)).toMatchObject({ ok: true, entries: 2 });
    await journal.close();
  });

  it('a later batch reusing sequence numbers replaces an earlier failed one on replay', async () => {
    const { journal, log } = await openLog(new MemoryAuditStore());
    await log.record({ kind: 'query', actor: 'user:a' });
    const file = path.join(dir, segments()[0]!);
    const firstBatch = fs.readFileSync(file, 'utf8');
    await log.record({ kind: 'query', actor: 'ghost' }); // say its write was reported failed
    const withGhost = fs.readFileSync(file, 'utf8');
    await journal.close();
    // The process carried on from entry 1: the real entry 2, written after.
    const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-audit-journal-'));
    const atOne = new MemoryAuditStore();
    const [b1] = parseSegment(firstBatch);
    await atOne.append(() => ({ ...b1!, checkpoint: false }));
    const j2 = await JournaledAuditStore.open(otherDir, atOne, SILENT_LOGGER, LAZY);
    const l2 = await AuditLog.open(j2, KEYS, () => Promise.resolve('org_1'), SILENT_LOGGER);
    await l2.record({ kind: 'query', actor: 'user:b' });
    const realSecond = fs.readFileSync(path.join(otherDir, fs.readdirSync(otherDir)[0]!), 'utf8');
    await j2.close();
    fs.rmSync(otherDir, { recursive: true, force: true });

    for (const name of segments()) fs.rmSync(path.join(dir, name));
    fs.writeFileSync(path.join(dir, '000000000001.jsonl'), withGhost);
    fs.writeFileSync(path.join(dir, '000000000002.jsonl'), realSecond);
    const fresh = new MemoryAuditStore();
    const replayed = await JournaledAuditStore.open(dir, fresh, SILENT_LOGGER, LAZY);
    expect(fresh.entries.map((e) => e.actor)).toEqual(['user:a', 'user:b']);
    expect((await verifyAuditLog(fresh, l2.signer)).ok).toBe(true);
    await replayed.close();
  });

  it('releases an entry only once its write returns; entries arriving meanwhile share the next write, in call order', async () => {
    const inner = new MemoryAuditStore();
    const { journal, log } = await openLog(inner);
    const { held, writes } = holdWrites();
    const first = track(log.record({ kind: 'query', actor: 'user:c0' }));
    await vi.waitFor(() => expect(held).toHaveLength(1));
    // The disk is flushing entry 1: ten more reads finish meanwhile.
    const more = Array.from({ length: 10 }, (_, i) =>
      track(log.record({ kind: 'query', actor: `user:c${i + 1}` })),
    );
    await turns();
    expect(first.settled()).toBe(false); // not durable yet: not released
    expect(more.some((m) => m.settled())).toBe(false);
    expect(writes()).toBe(1); // they wait for the write in flight
    held[0]!.go();
    expect((await first.p).seq).toBe(1);
    await vi.waitFor(() => expect(held).toHaveLength(2));
    await turns();
    expect(more.some((m) => m.settled())).toBe(false);
    held[1]!.go();
    const entries = await Promise.all(more.map((m) => m.p));
    expect(entries.map((e) => [e.seq, e.actor])).toEqual(
      Array.from({ length: 10 }, (_, i) => [i + 2, `user:c${i + 1}`]),
    );
    expect(writes()).toBe(2); // one write for the whole group
    vi.restoreAllMocks();
    expect((await verifyAuditLog(journal, log.signer)).ok).toBe(true);
    expect(inner.entries.map((e) => e.actor)).toEqual(
      Array.from({ length: 11 }, (_, i) => `user:c${i}`),
    );
    await journal.close();
  });

  it('groups the batches of several writers waiting on one write, chained in the order they came', async () => {
    const inner = new MemoryAuditStore();
    const { journal, log: a } = await openLog(inner);
    const b = await AuditLog.open(journal, KEYS, () => Promise.resolve('org_1'), SILENT_LOGGER);
    const { held, writes } = holdWrites();
    const first = a.record({ kind: 'query', actor: 'user:a1' });
    await vi.waitFor(() => expect(held).toHaveLength(1));
    const fromB = b.record({ kind: 'query', actor: 'user:b1' });
    const fromA = a.record({ kind: 'query', actor: 'user:a2' });
    await turns();
    held[0]!.go();
    await first;
    await vi.waitFor(() => expect(held).toHaveLength(2));
    // One write holds both writers' batches, each with its own signed head.
    const second = held[1]!.bytes.toString('utf8');
    expect(parseSegment(second).map((x) => x.entries.map((e) => e.actor))).toEqual([
      ['user:b1'],
      ['user:a2'],
    ]);
    held[1]!.go();
    expect([(await fromB).seq, (await fromA).seq]).toEqual([2, 3]);
    expect(writes()).toBe(2);
    vi.restoreAllMocks();
    expect(await verifyAuditLog(journal, a.signer)).toMatchObject({ ok: true, entries: 3 });
    await journal.close();
  });

  it('refuses every entry of a failed group write, cuts its torn bytes, and chains the next group after the last durable entry', async () => {
    const inner = new MemoryAuditStore();
    const { journal, log } = await openLog(inner);
    const { held } = holdWrites();
    const ok1 = log.record({ kind: 'query', actor: 'user:ok1' });
    await vi.waitFor(() => expect(held).toHaveLength(1));
    const failed = [
      track(log.record({ kind: 'export', actor: 'user:lost1' })),
      track(log.record({ kind: 'query', actor: 'user:lost2' })),
    ];
    await turns();
    held[0]!.go();
    expect((await ok1).seq).toBe(1);
    await vi.waitFor(() => expect(held).toHaveLength(2));
    const next = [
      track(log.record({ kind: 'query', actor: 'user:ok2' })),
      track(log.record({ kind: 'query', actor: 'user:ok3' })),
    ];
    await turns();
    held[1]!.fail(true); // half of the group reached the file
    for (const f of failed)
      await expect(f.p).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE', status: 503 });
    await vi.waitFor(() => expect(held).toHaveLength(3));
    held[2]!.go();
    const written = await Promise.all(next.map((n) => n.p));
    expect(written.map((e) => e.seq)).toEqual([2, 3]);
    vi.restoreAllMocks();
    // The file holds whole batches only: nothing of the refused one.
    const text = fs.readFileSync(path.join(dir, segments()[0]!), 'utf8');
    expect(text).not.toContain('user:lost');
    expect(parseSegment(text).flatMap((x) => x.entries.map((e) => e.actor))).toEqual([
      'user:ok1',
      'user:ok2',
      'user:ok3',
    ]);
    expect(await verifyAuditLog(journal, log.signer)).toMatchObject({ ok: true, entries: 3 });
    await journal.close();
  });

  it('a load or a close asked for while a write is in flight waits for it (no segment closed under a write)', async () => {
    const inner = new MemoryAuditStore();
    const { journal, log } = await openLog(inner);
    await log.record({ kind: 'query', actor: 'user:1' });
    const { held } = holdWrites();
    const second = track(log.record({ kind: 'query', actor: 'user:2' }));
    await vi.waitFor(() => expect(held).toHaveLength(1));
    const before = segments();
    const scan = track(journal.scan({}));
    await turns();
    expect(scan.settled()).toBe(false);
    expect(segments()).toEqual(before); // not rotated under the write
    held[0]!.go();
    expect((await scan.p).map((e) => e.actor)).toEqual(['user:1', 'user:2']);
    expect((await second.p).seq).toBe(2);
    expect(segments()).not.toEqual(before); // loaded, so rotated and the old segment removed

    const third = track(log.record({ kind: 'query', actor: 'user:3' }));
    await vi.waitFor(() => expect(held).toHaveLength(2));
    const closing = track(journal.close());
    await turns();
    expect(closing.settled()).toBe(false);
    held[1]!.go();
    await closing.p;
    expect((await third.p).seq).toBe(3);
    expect(inner.entries.map((e) => e.actor)).toEqual(['user:1', 'user:2', 'user:3']);
    await expect(log.record({ kind: 'query', actor: 'user:4' })).rejects.toMatchObject({
      code: 'AUDIT_UNAVAILABLE',
    });
    vi.restoreAllMocks();
    expect((await verifyAuditLog(inner, log.signer)).ok).toBe(true);
  });
});
