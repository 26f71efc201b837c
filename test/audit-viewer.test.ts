// The audit viewer API (owners): filters by time, principal, kind, project and outcome, paging
// with `after`, NDJSON export with the next page in a header, only the organisation's own
// entries — and every reading of the log is itself an `audit_read` entry naming the filters and
// the number of entries returned. Real server in process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCreate } from '../src/cli/admin-commands.js';
import { AccountClient } from './helpers/account-client.js';
import { SoftwareAuthenticator } from './helpers/authenticator.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

const ORIGIN = 'http://localhost:8443';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test assertions read JSON freely
type Json = any;

describe('audit viewer API', () => {
  let s: InProcess;
  let owner: AccountClient;
  let orgId = '';
  let ownerActor = '';
  let t1 = 0;

  beforeAll(async () => {
    s = await startInProcess({ SILLAGE_PUBLIC_URL: ORIGIN });
    const created = await adminCreate(s.server.runtime, {
      email: 'owner@example.com',
      org: 'Acme',
    });
    orgId = created.org_id;
    owner = new AccountClient(s.server.url, ORIGIN);
    const key = new SoftwareAuthenticator();
    expect(
      (await owner.setUpWithPasskey(created.setup_link, 'harbour violet engine 4410 mist', key))
        .status,
    ).toBe(200);
    ownerActor = `user:${((await owner.call('GET', '/api/v1/me')).body.user as { id: string }).id}`;
    const audit = s.server.runtime.audit;
    // Entries of this organisation (two projects, two principals, one refused read) and of another.
    const at = (kind: 'query' | 'export', actor: string, projectId: string, outcome = 'ok') =>
      audit.record({ kind, actor, orgId, projectId, outcome, rows: 1 });
    await at('query', 'key:a', 'prj_1');
    await at('export', 'key:a', 'prj_1');
    await at('query', 'key:b', 'prj_2');
    await new Promise((r) => setTimeout(r, 20));
    t1 = Date.now();
    await new Promise((r) => setTimeout(r, 20));
    await at('query', 'key:a', 'prj_2');
    await at('export', 'key:b', 'prj_1', 'AUDIT_PRINCIPAL_SUSPENDED');
    await audit.record({ kind: 'query', actor: 'key:z', orgId: 'org_other', rows: 1 });
  });
  afterAll(async () => {
    await s.close();
  });

  const view = async (query: string): Promise<Json> => {
    const r = await owner.call('GET', `/api/v1/orgs/${orgId}/audit?${query}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body;
  };
  const reads = (body: Json): string[] =>
    (body.entries as Json[])
      .filter((e) => e.kind === 'query' || e.kind === 'export')
      .map((e) => `${e.kind} ${e.actor} ${e.project_id} ${e.outcome}`);

  it('filters by kind, principal, project, time and outcome, never beyond the organisation', async () => {
    expect(reads(await view('kind=query,export'))).toEqual([
      'query key:a prj_1 ok',
      'export key:a prj_1 ok',
      'query key:b prj_2 ok',
      'query key:a prj_2 ok',
      'export key:b prj_1 AUDIT_PRINCIPAL_SUSPENDED',
    ]);
    expect(reads(await view('kind=query'))).toHaveLength(3);
    expect(reads(await view('actor=key:a'))).toEqual([
      'query key:a prj_1 ok',
      'export key:a prj_1 ok',
      'query key:a prj_2 ok',
    ]);
    expect(reads(await view('project=prj_2'))).toEqual([
      'query key:b prj_2 ok',
      'query key:a prj_2 ok',
    ]);
    const since = new Date(t1).toISOString();
    expect(reads(await view(`kind=query,export&from=${since}`))).toEqual([
      'query key:a prj_2 ok',
      'export key:b prj_1 AUDIT_PRINCIPAL_SUSPENDED',
    ]);
    expect(reads(await view(`kind=query,export&to=${since}`))).toHaveLength(3);
    expect(reads(await view('kind=query,export&outcome=refused'))).toEqual([
      'export key:b prj_1 AUDIT_PRINCIPAL_SUSPENDED',
    ]);
    expect(reads(await view('kind=export&outcome=ok'))).toEqual(['export key:a prj_1 ok']);
    expect(JSON.stringify(await view('limit=10000'))).not.toContain('key:z');
  });

  it('pages with after, and exports NDJSON with the next page in X-Next-After', async () => {
    const first = await view('kind=query,export&limit=2');
    expect(reads(first)).toHaveLength(2);
    expect(first.next_after).toBe(first.entries[1].seq);
    const second = await view(`kind=query,export&limit=2&after=${first.next_after}`);
    expect(reads(second)).toEqual(['query key:b prj_2 ok', 'query key:a prj_2 ok']);
    const last = await view(`kind=query,export&limit=2&after=${second.next_after}`);
    expect(reads(last)).toEqual(['export key:b prj_1 AUDIT_PRINCIPAL_SUSPENDED']);
    expect(last.next_after).toBeNull();

    const exported = await owner.call(
      'GET',
      `/api/v1/orgs/${orgId}/audit?kind=query,export&limit=3&format=ndjson`,
    );
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines = String(exported.body)
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l));
    expect(lines.map((e) => e.seq)).toEqual(
      [...first.entries, ...second.entries].slice(0, 3).map((e: Json) => e.seq),
    );
    expect(exported.headers.get('x-next-after')).toBe(String(lines[2].seq));
    for (const e of lines)
      expect(Object.keys(e)).toEqual(expect.arrayContaining(['hash', 'subjects', 'network_hmac']));

    const bad = await owner.call('GET', `/api/v1/orgs/${orgId}/audit?after=-3`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('REQUEST_INVALID');
  });

  it('records every reading of the log: who, which filters, how many entries', async () => {
    const before = (await s.server.runtime.audit.store.last())?.seq ?? 0;
    const body = await view('kind=query&actor=key:a&project=prj_1');
    const recorded = await s.server.runtime.audit.store.scan({
      afterSeq: before,
      kinds: ['audit_read'],
    });
    expect(recorded).toHaveLength(1);
    const e = recorded[0]!;
    expect(e).toMatchObject({
      actor: ownerActor,
      orgId,
      outcome: 'ok',
      rows: body.entries.length,
      source: 'http',
    });
    expect(JSON.parse(e.detail)).toEqual({
      filters: { kinds: ['query'], actors: ['key:a'], project: 'prj_1', limit: 1000 },
    });
    // The next reading shows the previous one.
    const seen = await view('kind=audit_read');
    expect((seen.entries as Json[]).map((x) => x.seq)).toContain(e.seq);
  });
});
