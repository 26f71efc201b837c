// Unit tests of the audit log's logic against an in-memory store: chaining, fail-closed reads,
// suspension gate, subjects packing, network search.
import { describe, expect, it } from 'vitest';
import { SILENT_LOGGER } from '../shared/log.js';
import { AuditLog, deriveAuditKeys } from './audit-log.js';
import { coarseNetwork, networksOfCidr } from './network.js';
import { maskQueryValues, queryTouches } from './query-sink.js';
import { packSubjects, pseudonymsIn, unpackSubjects } from './subjects.js';
import { MemoryAuditStore } from './memory-audit-store.js';
import { verifyAuditLog } from './verify.js';

const KEYS = deriveAuditKeys(Buffer.alloc(32, 7));
const U1 = 'u_' + Buffer.alloc(16, 1).toString('base64url');
const U2 = 'u_' + Buffer.alloc(16, 2).toString('base64url');
const G1 = 'g_' + Buffer.alloc(16, 3).toString('base64url');

async function open(store = new MemoryAuditStore()) {
  return {
    store,
    log: await AuditLog.open(store, KEYS, () => Promise.resolve('org_1'), SILENT_LOGGER),
  };
}

describe('AuditLog', () => {
  it('chains concurrent entries in one order and verifies', async () => {
    const { store, log } = await open();
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        log.record({ kind: 'query', actor: `user:u${i % 3}`, projectId: 'prj_1', rows: i }),
      ),
    );
    expect(store.entries.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(store.entries[0]?.orgId).toBe('org_1');
    const report = await verifyAuditLog(store, log.signer);
    expect(report).toMatchObject({ ok: true, entries: 50, head_seq: 50 });
    store.entries[20] = { ...store.entries[20]!, actor: 'user:someone-else' };
    expect((await verifyAuditLog(store, log.signer)).first_bad).toMatchObject({ seq: 21 });
  });

  it('fails closed: a read whose entry cannot be written is refused, and the chain stays whole', async () => {
    const { store, log } = await open();
    await log.record({ kind: 'query', actor: 'user:a' });
    store.failing = true;
    await expect(log.record({ kind: 'export', actor: 'user:a' })).rejects.toMatchObject({
      code: 'AUDIT_UNAVAILABLE',
      status: 503,
    });
    store.failing = false;
    const next = await log.record({ kind: 'query', actor: 'user:a' });
    expect(next.seq).toBe(2);
    expect((await verifyAuditLog(store, log.signer)).ok).toBe(true);
  });

  it('refuses reads by a suspended principal before they run, but records acts about it', async () => {
    const { store, log } = await open();
    log.markSuspended(['user:mallory'], true);
    expect(() => log.assertMayRead('user:mallory')).toThrow(/suspended/);
    // A read admitted before the suspension and finished after it: refused, and on the record as
    // an attempt (what was asked; none of what it found, which does not leave).
    await expect(
      log.record({ kind: 'query', actor: 'user:mallory', rows: 7, subjects: [U1], fields: ['x'] }),
    ).rejects.toMatchObject({ code: 'AUDIT_PRINCIPAL_SUSPENDED' });
    expect(store.entries).toEqual([
      expect.objectContaining({
        kind: 'query',
        actor: 'user:mallory',
        outcome: 'AUDIT_PRINCIPAL_SUSPENDED',
        rows: 0,
        subjectCount: 0,
        fields: '[]',
      }),
    ]);
    await expect(
      log.record({ kind: 'query', actor: 'user:mallory', outcome: 'AUDIT_PRINCIPAL_SUSPENDED' }),
    ).resolves.toMatchObject({ outcome: 'AUDIT_PRINCIPAL_SUSPENDED' });
    log.markSuspended(['user:mallory'], false);
    expect(() => log.assertMayRead('user:mallory')).not.toThrow();
  });

  it("puts a suspended principal's refused attempt on the record, then refuses it", async () => {
    const { store, log } = await open();
    await expect(
      log.admitRead({ kind: 'export', actor: 'user:alice', projectId: 'prj_1' }),
    ).resolves.toBeUndefined();
    expect(store.entries).toHaveLength(0);
    log.markSuspended(['user:mallory'], true);
    await expect(
      log.admitRead({
        kind: 'export',
        actor: 'user:mallory',
        projectId: 'prj_1',
        source: { kind: 'http', ip: '203.0.113.7', place: 'FR' },
        detail: { page: 'first' },
        sensitive: { user: 'alice@example.com' },
      }),
    ).rejects.toMatchObject({ code: 'AUDIT_PRINCIPAL_SUSPENDED', status: 403 });
    expect(store.entries).toEqual([
      expect.objectContaining({
        kind: 'export',
        actor: 'user:mallory',
        outcome: 'AUDIT_PRINCIPAL_SUSPENDED',
        orgId: 'org_1',
        country: 'FR',
        rows: 0,
        subjectCount: 0,
      }),
    ]);
    expect(store.entries[0]?.network).toBe(log.networkKey('203.0.113.0/24'));
    expect(store.entries[0]?.detail).not.toContain('alice@example.com');
    // Refused all the same when even the refusal cannot be written.
    store.failing = true;
    await expect(log.admitRead({ kind: 'query', actor: 'user:mallory' })).rejects.toMatchObject({
      code: 'AUDIT_PRINCIPAL_SUSPENDED',
    });
    store.failing = false;
    expect((await verifyAuditLog(store, log.signer)).ok).toBe(true);
  });

  it('keeps sensitive values and addresses only as keyed hashes', async () => {
    const { log } = await open();
    const e = await log.record({
      kind: 'reveal',
      actor: 'user:a',
      source: { kind: 'http', ip: '203.0.113.77', place: 'Lyon, FR' },
      sensitive: { user_id: 'alice@example.com' },
    });
    const all = JSON.stringify({ ...e, subjects: [] });
    expect(all).not.toContain('alice');
    expect(all).not.toContain('203.0.113');
    expect(e.country).toBe('FR');
    expect(e.network).toBe(log.networkKey('203.0.113.0/24'));
    expect(e.detail).toContain(log.hmacValue('user_id', 'alice@example.com'));
  });
});

describe('subjects and networks', () => {
  it('packs pseudonyms into 17 bytes each, sorted and deduplicated', () => {
    const { packed, count } = packSubjects([U2, U1, U1, G1, 'not-a-pseudonym']);
    expect(count).toBe(3);
    expect(packed.length).toBe(51);
    expect(unpackSubjects(packed)).toEqual([G1, U1, U2]);
  });

  it('finds pseudonyms anywhere in a query result', () => {
    const result = { series: [{ breakdown_value: U1 }, { breakdown_value: [G1, 'Chrome'] }] };
    expect([...pseudonymsIn(result)].sort()).toEqual([G1, U1]);
  });

  it('reduces addresses to coarse networks and expands CIDRs to them', () => {
    expect(coarseNetwork('203.0.113.77')).toBe('203.0.113.0/24');
    expect(coarseNetwork('::ffff:203.0.113.77')).toBe('203.0.113.0/24');
    expect(coarseNetwork('2001:db8:abcd:12::1')).toBe('2001:db8:abcd::/48');
    expect(networksOfCidr('203.0.113.64/26').networks).toEqual(['203.0.113.0/24']);
    expect(networksOfCidr('10.1.0.0/16').networks).toHaveLength(256);
    expect(networksOfCidr('10.1.0.0/16').networks[255]).toBe('10.1.255.0/24');
    expect(networksOfCidr('2001:db8::/47').networks).toEqual([
      '2001:db8:0::/48',
      '2001:db8:1::/48',
    ]);
    expect(() => networksOfCidr('10.0.0.0/7')).toThrow(/at most/);
  });

  it('names the fields and events of a query and masks its values', () => {
    const q = {
      kind: 'trends',
      series: [{ event: 'Signup', math: 'total' }],
      filters: [{ property: 'plan', op: 'eq', value: 'Pro-Plan-7x' }],
      breakdown: ['$browser'],
    };
    expect(queryTouches(q)).toEqual({ fields: ['plan', '$browser'], events: ['Signup'] });
    expect(JSON.stringify(maskQueryValues(q, () => 'x'))).not.toContain('Pro-Plan-7x');
  });
});
