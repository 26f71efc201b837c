// Conformance suite of the AuditStore port, run against every adapter (DuckDB, PostgreSQL): one
// chain however many writers append to it, entries that come back exactly as written, filters,
// paging, suspensions, and trigger claims that only one node wins.
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { SILENT_LOGGER } from '../shared/log.js';
import { AuditLog, deriveAuditKeys } from './audit-log.js';
import { GENESIS_HASH } from './chain.js';
import type { AuditEntry, AuditStore, ChainPosition } from './types.js';
import { verifyAuditLog } from './verify.js';

export interface AuditStoreFixture {
  store: AuditStore;
  /**
   * Another writer on the same log: for PostgreSQL another pool, as a second node has; for the
   * embedded file the same store (one process opens it), written by a second AuditLog.
   */
  another(): Promise<AuditStore>;
  close(): Promise<void>;
}

const KEYS = deriveAuditKeys(randomBytes(32));
const U1 = 'u_AAAAAAAAAAAAAAAAAAAAAA';
const G1 = 'g_AQIDBAUGBwgJCgsMDQ4PEA';

/** An entry with its subjects as hex (a Buffer and a Uint8Array of the same bytes are equal). */
const plain = (e: AuditEntry) => ({ ...e, subjects: Buffer.from(e.subjects).toString('hex') });

async function logOn(store: AuditStore, now?: () => number): Promise<AuditLog> {
  return AuditLog.open(store, KEYS, () => Promise.resolve(null), SILENT_LOGGER, {
    checkpointEvery: 3,
    ...(now ? { now } : {}),
  });
}

export function auditStoreConformance(open: () => Promise<AuditStoreFixture>): void {
  it('starts empty and hands the first batch the genesis position', async () => {
    const f = await open();
    try {
      expect(await f.store.last()).toBeNull();
      expect(await f.store.head()).toBeNull();
      expect(await f.store.checkpoints()).toEqual([]);
      expect(await f.store.scan({})).toEqual([]);
      let seen: ChainPosition | null = null;
      const log = await logOn(f.store);
      const store = f.store;
      const spy: AuditStore = Object.create(store) as AuditStore;
      spy.append = (seal) =>
        store.append((prev) => {
          seen = prev;
          return seal(prev);
        });
      await (await logOn(spy)).record({ kind: 'query', actor: 'user:a' });
      expect(seen).toEqual({ seq: 0, hash: GENESIS_HASH, lastCheckpoint: null });
      await log.drain();
    } finally {
      await f.close();
    }
  });

  it('keeps every column exactly, chains batches, and keeps the signed head and checkpoints', async () => {
    const f = await open();
    try {
      let t = 1_700_000_000_000;
      const log = await logOn(f.store, () => (t += 1000));
      const written: AuditEntry[] = [];
      written.push(
        await log.record({
          kind: 'user_read',
          actor: 'key:k1',
          orgId: 'org_1',
          projectId: 'p1',
          source: { kind: 'http', ip: '203.0.113.7', place: 'FR' },
          detail: { read: 'events', note: 'é ✓' },
          sensitive: { user: 'someone@example.com' },
          fields: ['$browser', 'company_id'],
          eventNames: ['Signed Up'],
          rows: 12,
          subjects: [U1, G1, 'not-a-pseudonym'],
        }),
      );
      for (let i = 0; i < 4; i++)
        written.push(await log.record({ kind: 'sign_in', actor: `user:${i}`, outcome: 'ok' }));
      const stored = await f.store.scan({});
      expect(stored.map(plain)).toEqual(written.map(plain));
      expect(stored[0]!.subjectCount).toBe(2);
      expect(stored.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(plain((await f.store.last())!)).toEqual(plain(written.at(-1)!));
      const head = await f.store.head();
      expect(head).toMatchObject({ seq: 5, hash: written.at(-1)!.hash });
      expect(log.signer.verify(head!)).toBe(true);
      // checkpointEvery 3: a periodic checkpoint at entry 3.
      expect((await f.store.checkpoints()).map((c) => c.seq)).toEqual([3]);
      expect(await verifyAuditLog(f.store, log.signer)).toMatchObject({ ok: true, entries: 5 });
    } finally {
      await f.close();
    }
  });

  it('keeps a group commit larger than one INSERT statement takes, in order', async () => {
    const f = await open();
    try {
      const log = await logOn(f.store);
      // At once: the first entry goes alone, the 1,200 queued behind it in one batch (adapters
      // split a batch into statements of 500 or 1,000 rows).
      const written = await Promise.all(
        Array.from({ length: 1201 }, (_, i) =>
          log.record({ kind: 'query', actor: `key:k${i % 7}`, rows: i, subjects: [U1] }),
        ),
      );
      const stored = await f.store.scan({});
      expect(stored.map(plain)).toEqual(written.map(plain));
      expect(stored.map((e) => e.rows)).toEqual(written.map((_, i) => i));
      expect(await verifyAuditLog(f.store, log.signer)).toMatchObject({ ok: true, entries: 1201 });
    } finally {
      await f.close();
    }
  });

  it('filters scans and pages walks in sequence order', async () => {
    const f = await open();
    try {
      let t = 1_000_000;
      const log = await logOn(f.store, () => (t += 10));
      for (let i = 0; i < 12; i++)
        await log.record({
          kind: i % 2 ? 'query' : 'export',
          actor: `key:k${i % 3}`,
          orgId: i < 6 ? 'org_a' : 'org_b',
          projectId: `p${i % 2}`,
          source: { kind: 'http', ip: `198.51.${i % 4}.9`, place: null },
        });
      const all = await f.store.scan({});
      const seqs = (es: AuditEntry[]) => es.map((e) => e.seq);
      expect(seqs(await f.store.scan({ fromMs: all[3]!.atMs, toMs: all[6]!.atMs }))).toEqual([
        4, 5, 6,
      ]);
      expect(seqs(await f.store.scan({ actors: ['key:k1'] }))).toEqual([2, 5, 8, 11]);
      expect(seqs(await f.store.scan({ kinds: ['export'], orgId: 'org_b' }))).toEqual([7, 9, 11]);
      expect(seqs(await f.store.scan({ projectId: 'p1', afterSeq: 8 }))).toEqual([10, 12]);
      expect(seqs(await f.store.scan({ afterSeq: 2, limit: 3 }))).toEqual([3, 4, 5]);
      const net = all[0]!.network!;
      expect(seqs(await f.store.scan({ networks: [net, 'nothing'] }))).toEqual([1, 5, 9]);
      expect(await f.store.scan({ actors: [] })).toEqual([]);
      expect(await f.store.scan({ kinds: [] })).toEqual([]);
      expect(await f.store.scan({ networks: [] })).toEqual([]);
      const pages: number[][] = [];
      await f.store.walk((page) => pages.push(seqs(page)), 5);
      expect(pages).toEqual([
        [1, 2, 3, 4, 5],
        [6, 7, 8, 9, 10],
        [11, 12],
      ]);
    } finally {
      await f.close();
    }
  });

  it('writes nothing when the sealer refuses (fail closed)', async () => {
    const f = await open();
    try {
      const log = await logOn(f.store);
      await log.record({ kind: 'query', actor: 'user:a' });
      await expect(
        f.store.append(() => {
          throw new Error('refused');
        }),
      ).rejects.toThrow();
      expect((await f.store.scan({})).map((e) => e.seq)).toEqual([1]);
      expect((await f.store.head())?.seq).toBe(1);
    } finally {
      await f.close();
    }
  });

  it('makes one chain of concurrent appends by two writers (two nodes)', async () => {
    const f = await open();
    try {
      const a = await logOn(f.store);
      const b = await logOn(await f.another());
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (i % 2 ? a : b).record({ kind: 'query', actor: `key:n${i % 2}`, rows: i }),
        ),
      );
      const entries = await f.store.scan({});
      expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      expect(new Set(entries.map((e) => e.actor))).toEqual(new Set(['key:n0', 'key:n1']));
      expect(await verifyAuditLog(f.store, a.signer)).toMatchObject({
        ok: true,
        entries: 40,
        head_seq: 40,
      });
    } finally {
      await f.close();
    }
  });

  it('keeps suspensions and lifts each once', async () => {
    const f = await open();
    try {
      const s = {
        id: 'sus_1',
        actor: 'key:k1',
        orgId: 'org_1',
        rule: 'enumeration',
        reason: 'many subjects',
        createdAtMs: 10,
        liftedAtMs: null,
        liftedBy: null,
      };
      await f.store.putSuspension(s);
      await f.store.putSuspension({ ...s, id: 'sus_2', actor: 'user:u', orgId: null });
      expect((await f.store.listSuspensions(true)).map((x) => x.id)).toEqual(['sus_1', 'sus_2']);
      expect(await f.store.liftSuspension('sus_1', 20, 'user:owner')).toBe(true);
      expect(await f.store.liftSuspension('sus_1', 30, 'user:owner')).toBe(false);
      expect((await f.store.listSuspensions(true)).map((x) => x.id)).toEqual(['sus_2']);
      expect((await f.store.listSuspensions(false))[0]).toEqual({
        ...s,
        liftedAtMs: 20,
        liftedBy: 'user:owner',
      });
    } finally {
      await f.close();
    }
  });

  it('lets one writer only claim a trigger', async () => {
    const f = await open();
    try {
      const other = await f.another();
      expect(await f.store.claimTrigger('enumeration:key:k1:7', 1)).toBe(true);
      expect(await f.store.claimTrigger('enumeration:key:k1:7', 2)).toBe(false);
      expect(await f.store.claimTrigger('enumeration:key:k1:8', 2)).toBe(true);
      expect(await other.claimTrigger('enumeration:key:k1:8', 3)).toBe(false);
      expect(await other.claimTrigger('volume:key:k1:8', 3)).toBe(true);
    } finally {
      await f.close();
    }
  });
}
