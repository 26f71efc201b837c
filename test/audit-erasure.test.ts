// What the audit log keeps when a person is erased (a documented decision, README "What Sillage
// stores"): reads made before the erasure still name the person's pseudonym among their subjects
// (the chain is append-only, and a breach report must still say whose data left), the erasure
// entry keeps only an HMAC of the id asked for, no entry holds the raw id, and the log verifies.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unpackSubjects, verifyAuditLog } from '../src/audit/index.js';
import { eraseSubject } from '../src/projects/privacy-operations.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

const RAW_ID = 'alice-7731@example.org';

describe('audit log and erasure', () => {
  let s: InProcess;

  beforeAll(async () => {
    s = await startInProcess({ SILLAGE_INGEST_LOAD_DELAY_MS: '50' });
    const res = await fetch(`${s.server.url}/track`, {
      method: 'POST',
      body:
        'data=' +
        encodeURIComponent(
          JSON.stringify({
            event: 'Signed up',
            properties: { token: s.project.token, distinct_id: RAW_ID, time: Date.now() / 1000 },
          }),
        ),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(await res.text()).toBe('1');
    const deadline = Date.now() + 30_000;
    while ((await s.server.runtime.events.countEvents(s.project.project_id)) < 1) {
      if (Date.now() > deadline) throw new Error('event not loaded');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  afterAll(async () => {
    await s.close();
  });

  it('keeps the pseudonym in earlier reads, only an HMAC in the erasure, and verifies', async () => {
    const rt = s.server.runtime;
    const ctx = (await rt.projects.byId(s.project.project_id))!;
    const pseudonym = ctx.pseudonymise(RAW_ID);
    const read = await fetch(
      `${s.server.url}/api/v1/projects/${s.project.project_id}/users/${pseudonym}/events`,
      { headers: { authorization: `Bearer ${s.project.secret}` } },
    );
    expect(read.status).toBe(200);
    const erased = await eraseSubject(rt, s.project.project_id, RAW_ID);
    expect(erased.pseudonyms).toContain(pseudonym);
    expect(erased.events_deleted).toBe(1);

    const entries = await rt.audit.store.scan({});
    const before = entries.find((e) => e.kind === 'user_read');
    expect(unpackSubjects(before!.subjects)).toContain(pseudonym);
    const erasure = entries.find((e) => e.kind === 'erasure');
    expect(JSON.parse(erasure!.detail)).toMatchObject({
      user_id_hmac: rt.audit.hmacValue('user_id', RAW_ID),
    });
    expect(unpackSubjects(erasure!.subjects)).toEqual([]);
    for (const e of entries)
      expect(JSON.stringify({ ...e, subjects: null })).not.toContain(RAW_ID.split('@')[0]);
    expect(await verifyAuditLog(rt.audit.store, rt.audit.signer)).toMatchObject({ ok: true });
  });
});
