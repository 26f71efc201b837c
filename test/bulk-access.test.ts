// The 2025 breach, replayed against the audit log: a phished analyst (password plus a relayed
// TOTP code, under the default policy) pulls data in bulk through the query API. The owner is
// alerted and the account suspended within 60 s, and the breach-impact report names exactly the
// pseudonymous subjects whose rows were returned — checked against the attacker's own record.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCreate } from '../src/cli/admin-commands.js';
import { totpCode } from '../src/auth/totp.js';
import { AccountClient } from './helpers/account-client.js';
import { SoftwareAuthenticator } from './helpers/authenticator.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

const ORIGIN = 'http://localhost:8443';
const OWNER = 'owner@example.com';
const OWNER_PASSWORD = 'harbour violet engine 4410 mist';
const ANALYST = 'analyst@example.com';
const ANALYST_PASSWORD = 'copper meadow sixty rails 9';
const COMPANIES = 60;

describe('bulk access by a phished analyst', () => {
  let s: InProcess;
  let orgId = '';
  let totpSecret = '';
  const ownerKey = new SoftwareAuthenticator();
  const analystKey = new SoftwareAuthenticator();
  let owner: AccountClient;
  // TOTP codes are accepted once per time step: the test moves the account clock.
  let clock = 0;
  const projectPath = (): string => `/api/v1/projects/${s.project.project_id}`;

  beforeAll(async () => {
    s = await startInProcess({
      SILLAGE_PUBLIC_URL: ORIGIN,
      SILLAGE_INGEST_LOAD_DELAY_MS: '50',
      // Small numbers so that a test-sized pull is "bulk".
      SILLAGE_AUDIT_ENUMERATION_SUBJECTS: '25',
    });
    clock = Date.now();
    s.server.runtime.auth.now = () => clock;
    owner = new AccountClient(s.server.url, ORIGIN);
    const analyst = new AccountClient(s.server.url, ORIGIN);
    const created = await adminCreate(s.server.runtime, { email: OWNER, org: 'Acme' });
    orgId = created.org_id;
    expect(
      (await owner.setUpWithPasskey(created.setup_link, OWNER_PASSWORD, ownerKey)).status,
    ).toBe(200);
    const invited = await owner.call('POST', `/api/v1/orgs/${orgId}/invitations`, {
      email: ANALYST,
      role: 'analyst',
    });
    expect(
      (await analyst.setUpWithPasskey(invited.body.link, ANALYST_PASSWORD, analystKey)).status,
    ).toBe(200);
    const started = await analyst.call('POST', '/api/v1/me/totp', { label: 'phone' });
    totpSecret = started.body.secret as string;
    const confirmed = await analyst.call(
      'POST',
      `/api/v1/me/totp/${started.body.factor_id}/confirm`,
      { code: await totpCode(totpSecret, clock) },
    );
    expect(confirmed.status).toBe(200);

    // Events of users of 60 customer companies (company_id is a group key: pseudonymised).
    const now = Date.now();
    for (let c = 0; c < COMPANIES; c++) {
      const body = JSON.stringify({
        event: 'Report viewed',
        properties: {
          token: s.project.token,
          distinct_id: `user-${c}`,
          company_id: `company-${c}`,
          time: Math.floor(now / 1000) - 3600,
        },
      });
      const res = await fetch(`${s.server.url}/track`, {
        method: 'POST',
        body: 'data=' + encodeURIComponent(body),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(await res.text()).toBe('1');
    }
    const deadline = Date.now() + 30_000;
    while ((await s.server.runtime.events.countEvents(s.project.project_id)) < COMPANIES) {
      if (Date.now() > deadline) throw new Error('events not loaded');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  afterAll(async () => {
    await s.close();
  });

  it('alerts the owner, suspends the analyst, and reports exactly whose data left', async () => {
    const from = new Date(Date.now() - 60_000).toISOString();
    // The phishing page relays the password and a code the analyst typed.
    clock += 30_000;
    const attacker = new AccountClient(s.server.url, ORIGIN);
    const signedIn = await attacker.loginWithTotp(ANALYST, ANALYST_PASSWORD, totpSecret, clock);
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.session.method).toBe('totp');

    // The attacker's own record of what it pulled.
    const pulled = new Set<string>();
    const day = new Date().toISOString().slice(0, 10);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    let answered = 0;
    let refused: { status: number; code: string } | null = null;
    const startedAt = Date.now();
    for (let i = 0; i < 20 && refused === null; i++) {
      const r = await attacker.call('POST', `${projectPath()}/query`, {
        kind: 'trends',
        from: yesterday,
        to: day,
        interval: 'day',
        series: [{ event: 'Report viewed', math: 'total' }],
        breakdown: 'company_id',
        breakdown_limit: 100,
      });
      if (r.status !== 200) {
        refused = { status: r.status, code: r.body.error.code as string };
        break;
      }
      answered += 1;
      for (const series of r.body.series as { breakdown_value: string | null }[])
        if (series.breakdown_value?.startsWith('g_')) pulled.add(series.breakdown_value);
    }
    expect(answered).toBeGreaterThan(0);
    expect(pulled.size).toBe(COMPANIES);

    // Owner alerted and account suspended within 60 s of the pull.
    const ownerUser = await s.server.runtime.auth.store.findUserByEmail(OWNER);
    const analystUser = await s.server.runtime.auth.store.findUserByEmail(ANALYST);
    let alerted = false;
    while (Date.now() - startedAt < 60_000) {
      const notices = await s.server.runtime.auth.store.listNotices(ownerUser!.id, 50);
      alerted = notices.some((n) => n.kind === 'access_alert');
      if (alerted && s.server.runtime.audit.isSuspended(`user:${analystUser!.id}`)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(alerted).toBe(true);
    expect(s.server.runtime.audit.isSuspended(`user:${analystUser!.id}`)).toBe(true);
    expect(Date.now() - startedAt).toBeLessThan(60_000);

    // The session is gone, and signing in again (another relayed code) is refused.
    const again = await attacker.call('POST', `${projectPath()}/query`, {
      kind: 'event_names',
    });
    expect([401, 403]).toContain(again.status);
    clock += 30_000;
    const relog = await new AccountClient(s.server.url, ORIGIN).loginWithTotp(
      ANALYST,
      ANALYST_PASSWORD,
      totpSecret,
      clock,
    );
    expect(relog.status).toBe(403);
    expect(relog.body.error.code).toBe('AUDIT_PRINCIPAL_SUSPENDED');

    // The owner's report: exactly the subjects the attacker pulled.
    clock += 30_000;
    expect((await owner.loginWithPasskey(OWNER, OWNER_PASSWORD, ownerKey)).status).toBe(200);
    const report = await owner.call('POST', `/api/v1/orgs/${orgId}/incidents/report`, {
      user: ANALYST,
      from,
      to: new Date(Date.now() + 60_000).toISOString(),
    });
    expect(report.status).toBe(200);
    expect(report.body.accesses).toBe(answered);
    expect(report.body.subjects).toBe(pulled.size);
    expect(report.body.subject_ids).toEqual([...pulled].sort());
    expect(report.body.fields).toEqual(['company_id']);
    expect(report.body.event_names).toEqual(['Report viewed']);
    expect(report.body.rows_returned).toBeGreaterThan(0);
    expect(report.body.art33.approximate_number_of_data_subjects).toBe(COMPANIES);
    expect(report.body.art33.nature).toContain(`user:${analystUser!.id}`);
    const markdown = await owner.call('POST', `/api/v1/orgs/${orgId}/incidents/report`, {
      user: ANALYST,
      from,
      to: new Date(Date.now() + 60_000).toISOString(),
      format: 'markdown',
    });
    expect(markdown.status).toBe(200);

    // The owner lifts the suspension; the log still verifies.
    const list = await owner.call('GET', `/api/v1/orgs/${orgId}/suspensions`);
    const held = (list.body.suspensions as { id: string; principal: string }[]).find(
      (x) => x.principal === `user:${analystUser!.id}`,
    );
    expect(held).toBeDefined();
    const lifted = await owner.call('POST', `/api/v1/orgs/${orgId}/suspensions/${held!.id}/lift`);
    expect(lifted.status).toBe(200);
    expect(s.server.runtime.audit.isSuspended(`user:${analystUser!.id}`)).toBe(false);
    const viewer = await owner.call('GET', `/api/v1/orgs/${orgId}/audit?kind=alert,suspension`);
    expect(viewer.status).toBe(200);
    expect((viewer.body.entries as { kind: string }[]).map((e) => e.kind)).toEqual(
      expect.arrayContaining(['alert', 'suspension']),
    );
  });
});
