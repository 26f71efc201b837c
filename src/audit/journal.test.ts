// The audit journal on a real directory: acknowledged entries survive a crash before the database
// load, a torn tail is ignored, a failed write refuses the read and the chain stays whole.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
});
