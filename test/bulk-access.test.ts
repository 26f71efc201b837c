// The 2025 breach, replayed against the audit log, twice: a phished analyst (password plus a
// relayed TOTP code, under the default policy) and a leaked secret key each pull data in bulk —
// queries, a raw export, and a walk over the user-stream routes (`GET …/users/{pseudonym}` and
// `…/events` for user after user). Each time: every owner is alerted within 60 s (in-app notice,
// an e-mail through a real SMTP server on loopback, and a signed webhook to a loopback receiver),
// the principal is suspended, further attempts are refused and themselves recorded, and the
// breach-impact report — from the API and from `sillage incident report` over
// the admin socket — names exactly the pseudonymous subjects whose rows were returned, checked
// against the attacker's own record of every answer it got, with the Art. 33(3) fields filled in.
import { execFile } from 'node:child_process';
import { randomBytes, verify as verifySignature } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCreate } from '../src/cli/admin-commands.js';
import { totpCode } from '../src/auth/totp.js';
import { pseudonymsIn } from '../src/audit/subjects.js';
import { AccountClient } from './helpers/account-client.js';
import { SoftwareAuthenticator } from './helpers/authenticator.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';
import { CLI } from './helpers/server.js';
import { startSmtpSink, type SmtpSink } from './helpers/smtp-sink.js';

const execFileAsync = promisify(execFile);

const ORIGIN = 'http://localhost:8443';
const OWNER = 'owner@example.com';
const OWNER2 = 'second-owner@example.com';
const OWNER_PASSWORD = 'harbour violet engine 4410 mist';
const ANALYST = 'analyst@example.com';
const ANALYST_PASSWORD = 'copper meadow sixty rails 9';
const USERS = 60;
/**
 * Small so that a test-sized pull is "bulk" (the default is 1,000 subjects in an hour), and above
 * what the first page of users shows, so that the walk over the user streams is what trips it.
 */
const ENUMERATION = 50;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test assertions read JSON freely
type Json = any;

interface Hook {
  body: Record<string, unknown>;
  valid: boolean;
}

/** What one JSON answer returned: the pseudonyms in it (an event's insert id names no one). */
function subjectsOf(value: unknown, into: Set<string>): void {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(
        Object.entries(v).flatMap(([k, x]) => (k === '$insert_id' ? [] : [[k, strip(x)]])),
      );
    return v;
  };
  pseudonymsIn(strip(value), into);
}

describe('bulk access by a phished analyst and by a leaked key', () => {
  let s: InProcess;
  const masterKey = randomBytes(32).toString('hex');
  let orgId = '';
  let totpSecret = '';
  const ownerKey = new SoftwareAuthenticator();
  const owner2Key = new SoftwareAuthenticator();
  const analystKey = new SoftwareAuthenticator();
  let owner: AccountClient;
  // TOTP codes are accepted once per time step: the test moves the account clock.
  let clock = 0;
  const hooks: Hook[] = [];
  let smtp: SmtpSink;
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const signature = /^ed25519=(.+)$/.exec(String(req.headers['x-sillage-signature']))?.[1];
      hooks.push({
        body: JSON.parse(raw.toString('utf8')) as Record<string, unknown>,
        valid:
          signature !== undefined &&
          verifySignature(
            null,
            raw,
            s.server.runtime.audit.signer.publicKey,
            Buffer.from(signature, 'base64url'),
          ),
      });
      res.writeHead(204).end();
    });
  });
  const projectPath = (): string => `/api/v1/projects/${s.project.project_id}`;
  const day = (offsetDays: number): string =>
    new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);

  beforeAll(async () => {
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;
    smtp = await startSmtpSink();
    s = await startInProcess({
      ...smtp.env,
      SILLAGE_MASTER_KEY: masterKey,
      SILLAGE_PUBLIC_URL: ORIGIN,
      SILLAGE_INGEST_LOAD_DELAY_MS: '50',
      SILLAGE_AUDIT_ENUMERATION_SUBJECTS: String(ENUMERATION),
      SILLAGE_AUDIT_WEBHOOK_URL: hookUrl,
    });
    clock = Date.now();
    s.server.runtime.auth.now = () => clock;
    owner = new AccountClient(s.server.url, ORIGIN);
    const created = await adminCreate(s.server.runtime, { email: OWNER, org: 'Acme' });
    orgId = created.org_id;
    expect(
      (await owner.setUpWithPasskey(created.setup_link, OWNER_PASSWORD, ownerKey)).status,
    ).toBe(200);
    // Two owners: an alert must reach each of them.
    const invitedOwner = await owner.call('POST', `/api/v1/orgs/${orgId}/invitations`, {
      email: OWNER2,
      role: 'owner',
    });
    expect(invitedOwner.status).toBe(201);
    expect(
      (
        await new AccountClient(s.server.url, ORIGIN).setUpWithPasskey(
          invitedOwner.body.link,
          OWNER_PASSWORD,
          owner2Key,
        )
      ).status,
    ).toBe(200);
    const analyst = new AccountClient(s.server.url, ORIGIN);
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

    // 60 users of 60 customer companies (company_id and workspace_id are group keys:
    // pseudonymised). First every user's older event, naming a workspace too, then every user's
    // newest one: the newest events list users; each user's stream shows one more subject.
    const now = Date.now();
    for (const [event, offset] of [
      ['Report viewed', 7200],
      ['Report shared', 3600],
    ] as const) {
      const body = JSON.stringify(
        Array.from({ length: USERS }, (_, u) => ({
          event,
          properties: {
            token: s.project.token,
            distinct_id: `user-${u}`,
            company_id: `company-${u}`,
            ...(event === 'Report viewed' ? { workspace_id: `workspace-${u}` } : {}),
            time: Math.floor(now / 1000) - offset,
            $insert_id: `ins-${u}-${offset}`,
          },
        })),
      );
      const res = await fetch(`${s.server.url}/track`, {
        method: 'POST',
        body: 'data=' + encodeURIComponent(body),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(await res.text()).toBe('1');
    }
    const deadline = Date.now() + 30_000;
    while ((await s.server.runtime.events.countEvents(s.project.project_id)) < 2 * USERS) {
      if (Date.now() > deadline) throw new Error('events not loaded');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  afterAll(async () => {
    await s.close();
    await new Promise((r) => receiver.close(r));
    await smtp.close();
  });

  /** One call, as the attacker sees it: answered (and what it returned), or refused. */
  type Call = (
    method: string,
    path: string,
    body?: unknown,
  ) => Promise<{ status: number; body: Json; headers: Headers }>;

  /**
   * The pull: an aggregate query, then pages of users — from the newest events (a person) or
   * the raw export (a key) — and user after user (profile and events) until the server refuses;
   * every answered read adds the pseudonyms it returned to `pulled`, and counts by kind.
   */
  async function pull(
    call: Call,
    pulled: Set<string>,
    lister: 'latest' | 'export',
  ): Promise<{
    answered: Record<string, number>;
    refusedWith: { status: number; code: string } | null;
  }> {
    const answered: Record<string, number> = {};
    let refusedWith: { status: number; code: string } | null = null;
    const read = async (kind: string, method: string, path: string, body?: unknown) => {
      const r = await call(method, path, body);
      if (r.status !== 200) {
        refusedWith = { status: r.status, code: r.body?.error?.code };
        return null;
      }
      answered[kind] = (answered[kind] ?? 0) + 1;
      return r.body;
    };
    const counted = await read('query', 'POST', `${projectPath()}/query`, {
      kind: 'trends',
      from: day(-1),
      to: day(0),
      interval: 'day',
      series: [{ event: 'Report viewed', math: 'unique_users' }],
    });
    expect(counted).not.toBeNull();
    subjectsOf(counted, pulled);
    let cursor: string | null = null;
    for (let page = 0; page < 20 && refusedWith === null; page++) {
      let rows: { properties: Record<string, unknown> }[];
      if (lister === 'latest') {
        if (page > 0) break;
        const latest = await read('live_events', 'GET', `${projectPath()}/events/latest?limit=20`);
        if (!latest) break;
        rows = latest.events;
      } else {
        const res = await call(
          'GET',
          `${projectPath()}/export?from=${day(-1)}&to=${day(0)}&limit=5` +
            (cursor ? `&cursor=${cursor}` : ''),
        );
        if (res.status !== 200) {
          refusedWith = { status: res.status, code: res.body?.error?.code };
          break;
        }
        answered.export = (answered.export ?? 0) + 1;
        rows = String(res.body)
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as { properties: Record<string, unknown> });
        cursor = res.headers.get('x-next-cursor');
      }
      subjectsOf(rows, pulled);
      const users = [...new Set(rows.map((r) => String(r.properties.distinct_id)))];
      for (const user of users) {
        const profile = await read('user_read', 'GET', `${projectPath()}/users/${user}`);
        if (!profile) break;
        subjectsOf(profile, pulled);
        const events = await read(
          'user_read',
          'GET',
          `${projectPath()}/users/${user}/events?limit=50`,
        );
        if (!events) break;
        subjectsOf(events, pulled);
      }
      if (lister === 'export' && cursor === null) break;
    }
    return { answered, refusedWith };
  }

  /** The alert e-mails (suspension included) about `label` received since `mailsBefore`. */
  const alertMails = (label: string, mailsBefore: number) =>
    smtp.received.slice(mailsBefore).filter((m) => {
      // The text part is quoted-printable: soft line breaks joined again.
      const text = m.raw.replace(/=\r?\n/g, '');
      return (
        /Sillage noticed unusual access to data by /.test(text) &&
        text.includes(label) &&
        text.includes('The account or key was suspended')
      );
    });

  /**
   * Waits (≤ 60 s from `since`) until both owners hold an alert about `principal`, in the app
   * and by e-mail (mails counted from `mailsBefore`).
   */
  async function ownersAlerted(
    principal: string,
    label: string,
    since: number,
    mailsBefore: number,
  ): Promise<void> {
    const store = s.server.runtime.auth.store;
    const owners = await Promise.all([OWNER, OWNER2].map((e) => store.findUserByEmail(e)));
    let missing: string[] = [];
    while (Date.now() - since < 60_000) {
      missing = [];
      for (const o of owners) {
        const notices = await store.listNotices(o!.id, 100);
        if (!notices.some((n) => n.kind === 'access_alert' && JSON.stringify(n).includes(label)))
          missing.push(o!.email);
        if (!alertMails(label, mailsBefore).some((m) => m.to.includes(o!.email)))
          missing.push(`${o!.email} (e-mail)`);
      }
      const hooked = hooks.some(
        (h) => h.valid && h.body.principal === principal && h.body.suspended === true,
      );
      if (missing.length === 0 && hooked && s.server.runtime.audit.isSuspended(principal)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(missing).toEqual([]);
    // Only the owners are told; nothing secret travels by e-mail.
    for (const m of alertMails(label, mailsBefore)) {
      expect([OWNER, OWNER2]).toEqual(expect.arrayContaining(m.to));
      expect(m.raw).not.toContain(OWNER_PASSWORD);
    }
    expect(s.server.runtime.audit.isSuspended(principal)).toBe(true);
    const hook = hooks.find((h) => h.body.principal === principal && h.body.suspended === true);
    expect(hook?.valid).toBe(true);
    expect(hook?.body.type).toBe('sillage.access_alert');
    expect(hook?.body.rule).toBe('enumeration');
    expect(hook?.body.org_ids).toEqual([orgId]);
    expect(Date.now() - since).toBeLessThan(60_000);
  }

  /** The report from the API (an owner) and from the CLI over the admin socket: same subjects. */
  async function reports(
    scope: { user: string } | { key: string },
    from: string,
  ): Promise<Record<string, Json>[]> {
    const to = new Date(Date.now() + 60_000).toISOString();
    clock += 30_000;
    const reader = new AccountClient(s.server.url, ORIGIN);
    expect((await reader.loginWithPasskey(OWNER, OWNER_PASSWORD, ownerKey)).status).toBe(200);
    const api = await reader.call('POST', `/api/v1/orgs/${orgId}/incidents/report`, {
      ...scope,
      from,
      to,
    });
    expect(api.status).toBe(200);
    const flag = 'user' in scope ? ['--user', scope.user] : ['--key', scope.key];
    const { stdout } = await execFileAsync(
      process.execPath,
      [CLI, 'incident', 'report', ...flag, '--org', orgId, '--from', from, '--to', to, '--json'],
      {
        env: {
          PATH: process.env.PATH,
          HOME: s.base,
          SILLAGE_DATA_DIR: s.dataDir,
          SILLAGE_MASTER_KEY: masterKey,
        },
      },
    );
    return [api.body, JSON.parse(stdout)];
  }

  function expectArt33(report: Record<string, Json>, pulled: Set<string>, principal: string): void {
    expect(report.subject_ids).toEqual([...pulled].sort());
    expect(report.subjects).toBe(pulled.size);
    expect(report.rows_returned).toBeGreaterThan(0);
    expect(report.principals).toEqual([principal]);
    const art33 = report.art33;
    expect(art33.nature).toContain(principal);
    expect(art33.approximate_number_of_data_subjects).toBe(pulled.size);
    expect(art33.approximate_number_of_personal_data_records).toBe(report.rows_returned);
    for (const field of [
      'categories_of_data_subjects',
      'categories_of_personal_data_records',
      'likely_consequences',
      'measures_taken',
      'contact_point',
    ])
      expect(typeof art33[field] === 'string' && art33[field].length > 0, field).toBe(true);
    expect(art33.measures_taken).toContain('suspended');
  }

  it('a phished analyst: alerted, suspended, refused, and exactly whose data left', async () => {
    const from = new Date(Date.now() - 60_000).toISOString();
    clock += 30_000;
    const attacker = new AccountClient(s.server.url, ORIGIN);
    const signedIn = await attacker.loginWithTotp(ANALYST, ANALYST_PASSWORD, totpSecret, clock);
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.session.method).toBe('totp');
    const analystUser = await s.server.runtime.auth.store.findUserByEmail(ANALYST);
    const principal = `user:${analystUser!.id}`;

    // A raw export needs an admin and a fresh passkey: the phished analyst gets neither.
    const exported = await attacker.call(
      'GET',
      `${projectPath()}/export?from=${day(-1)}&to=${day(0)}`,
    );
    expect(exported.status).toBe(403);

    const startedAt = Date.now();
    const mailsBefore = smtp.received.length;
    const pulled = new Set<string>();
    const { answered, refusedWith } = await pull(
      (m, p, b) => attacker.call(m, p, b),
      pulled,
      'latest',
    );
    // Stopped part-way through the walk, by the suspension.
    expect(refusedWith).not.toBeNull();
    expect(answered.user_read).toBeGreaterThan(0);
    expect(pulled.size).toBeGreaterThan(ENUMERATION);
    expect(pulled.size).toBeLessThan(3 * 20);
    await ownersAlerted(principal, ANALYST, startedAt, mailsBefore);

    // Further reads refused: the session is gone, and a new relayed code is refused too.
    const user = [...pulled].find((p) => p.startsWith('u_'));
    expect((await attacker.call('GET', `${projectPath()}/users/${user}/events`)).status).toBe(401);
    expect(
      (await attacker.call('POST', `${projectPath()}/query`, { kind: 'event_names' })).status,
    ).toBe(401);
    clock += 30_000;
    const relog = await new AccountClient(s.server.url, ORIGIN).loginWithTotp(
      ANALYST,
      ANALYST_PASSWORD,
      totpSecret,
      clock,
    );
    expect(relog.status).toBe(403);
    expect(relog.body.error.code).toBe('AUDIT_PRINCIPAL_SUSPENDED');
    // The refused sign-in is on the record: the credentials still work for whoever holds them.
    const refusedSignIns = await s.server.runtime.audit.store.scan({
      actors: [principal],
      kinds: ['sign_in_failed'],
    });
    expect(refusedSignIns.map((e) => [e.outcome, e.country])).toContainEqual([
      'AUDIT_PRINCIPAL_SUSPENDED',
      null,
    ]);

    for (const report of await reports({ user: ANALYST }, from)) {
      expectArt33(report, pulled, principal);
      expect(report.by_kind).toEqual(answered);
      expect(report.event_names).toEqual(['Report shared', 'Report viewed']);
      // The refused sign-in; a read already in flight when the suspension came may be there too.
      expect(report.refused_list).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            kind: 'sign_in_failed',
            actor: principal,
            outcome: 'AUDIT_PRINCIPAL_SUSPENDED',
          }),
        ]),
      );
      for (const a of report.refused_list) expect(a.actor).toBe(principal);
      expect(report.refused_attempts).toBe(report.refused_list.length);
    }

    // The owner lifts the suspension; the log still verifies.
    clock += 30_000;
    expect((await owner.loginWithPasskey(OWNER, OWNER_PASSWORD, ownerKey)).status).toBe(200);
    const list = await owner.call('GET', `/api/v1/orgs/${orgId}/suspensions`);
    const held = (list.body.suspensions as { id: string; principal: string }[]).find(
      (x) => x.principal === principal,
    );
    expect(held).toBeDefined();
    expect(
      (await owner.call('POST', `/api/v1/orgs/${orgId}/suspensions/${held!.id}/lift`)).status,
    ).toBe(200);
    expect(s.server.runtime.audit.isSuspended(principal)).toBe(false);
    const viewer = await owner.call('GET', `/api/v1/orgs/${orgId}/audit?kind=alert,suspension`);
    expect((viewer.body.entries as { kind: string }[]).map((e) => e.kind)).toEqual(
      expect.arrayContaining(['alert', 'suspension']),
    );
  });

  it('a leaked secret key: the raw export alerts, the walk suspends, the report matches', async () => {
    const from = new Date(Date.now() - 60_000).toISOString();
    clock += 30_000;
    expect((await owner.loginWithPasskey(OWNER, OWNER_PASSWORD, ownerKey)).status).toBe(200);
    expect((await owner.stepUpWithPasskey(ownerKey)).status).toBe(200);
    const key = await owner.call('POST', `${projectPath()}/keys`, {
      name: 'reporting job',
      scopes: ['query', 'export'],
    });
    expect(key.status).toBe(201);
    const keyId = key.body.key.id as string;
    const principal = `key:${keyId}`;
    const secret = key.body.secret as string;
    const call: Call = async (method, path, body) => {
      const res = await fetch(s.server.url + path, {
        method,
        headers: {
          authorization: `Bearer ${secret}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // NDJSON (the export) stays text
      }
      return { status: res.status, body: parsed, headers: res.headers };
    };

    const startedAt = Date.now();
    const mailsBefore = smtp.received.length;
    const pulled = new Set<string>();
    const { answered, refusedWith } = await pull(call, pulled, 'export');
    expect(refusedWith).toEqual({ status: 403, code: 'AUDIT_PRINCIPAL_SUSPENDED' });
    await ownersAlerted(principal, 'reporting job', startedAt, mailsBefore);
    // The export alerted (it does not suspend on its own: see README, "Detection").
    const exportHook = hooks.find(
      (h) => h.body.principal === principal && h.body.rule === 'raw_export',
    );
    expect(exportHook?.valid).toBe(true);
    expect(exportHook?.body.suspended).toBe(false);
    expect((await call('POST', `${projectPath()}/query`, { kind: 'event_names' })).status).toBe(
      403,
    );
    // Both refused requests (the one that stopped the walk, and this query) are on the record,
    // with the project. The one that stopped the walk is refused where the suspension met it:
    // at the key's presentation (`key_used`) or, when the suspension landed while that request
    // was already past it, at the read itself; this later query meets it at the key.
    const refused = (await s.server.runtime.audit.store.scan({ actors: [principal] })).filter(
      (e) => e.outcome === 'AUDIT_PRINCIPAL_SUSPENDED',
    );
    expect(refused).toHaveLength(2);
    expect(['key_used', 'export', 'user_read']).toContain(refused[0]?.kind);
    expect(refused.at(-1)?.kind).toBe('key_used');
    expect(refused.every((e) => e.projectId === s.project.project_id)).toBe(true);

    for (const report of await reports({ key: keyId }, from)) {
      expectArt33(report, pulled, principal);
      expect(report.by_kind).toEqual(answered);
      expect(answered.export).toBeGreaterThan(0);
      expect(report.art33.nature).toContain('raw event rows');
      expect(report.refused_attempts).toBe(2);
      expect(report.refused_list.map((a: Json) => [a.kind, a.outcome])).toEqual(
        refused.map((e) => [e.kind, 'AUDIT_PRINCIPAL_SUSPENDED']),
      );
    }
  });
  it("another organisation's owner learns nothing of this one's people from a report", async () => {
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 60_000).toISOString();
    clock += 30_000;
    const outsiderKey = new SoftwareAuthenticator();
    const outsider = new AccountClient(s.server.url, ORIGIN);
    const other = await adminCreate(s.server.runtime, {
      email: 'owner@other.example',
      org: 'Other',
    });
    expect(
      (await outsider.setUpWithPasskey(other.setup_link, OWNER_PASSWORD, outsiderKey)).status,
    ).toBe(200);
    expect(
      (await outsider.loginWithPasskey('owner@other.example', OWNER_PASSWORD, outsiderKey)).status,
    ).toBe(200);
    const ask = async (user: string): Promise<Record<string, Json>> => {
      const res = await outsider.call('POST', `/api/v1/orgs/${other.org_id}/incidents/report`, {
        user,
        from,
        to,
      });
      expect(res.status).toBe(200);
      return res.body;
    };
    // The analyst of Acme (whose refused sign-in belongs to no organisation) and an address with
    // no account answer alike: not even the account's existence is told.
    const [member, nobody] = [await ask(ANALYST), await ask('nobody@example.com')];
    for (const report of [member, nobody]) {
      expect(report.scope.note).toBe('no member of this organisation has this e-mail address');
      expect(report.refused_attempts).toBe(0);
      expect(report.refused_list).toEqual([]);
      expect(report.accesses).toBe(0);
    }
    // Acme's own owner still has the analyst's refused sign-in in Acme's report.
    for (const report of await reports({ user: ANALYST }, from))
      expect(report.refused_list.map((a: Json) => a.kind)).toContain('sign_in_failed');
  });

  it("a pull spread over one person's keys, each under the threshold: the person is held", async () => {
    // The second owner makes three keys; each reads 20 users' profiles (20 < 50 subjects), the
    // three together 60: the person who made them is suspended, and with them every key.
    clock += 30_000;
    const maker = new AccountClient(s.server.url, ORIGIN);
    expect((await maker.loginWithPasskey(OWNER2, OWNER_PASSWORD, owner2Key)).status).toBe(200);
    expect((await maker.stepUpWithPasskey(owner2Key)).status).toBe(200);
    const secrets: string[] = [];
    for (const name of ['nightly', 'weekly', 'adhoc']) {
      const key = await maker.call('POST', `${projectPath()}/keys`, { name, scopes: ['query'] });
      expect(key.status, JSON.stringify(key.body)).toBe(201);
      secrets.push(key.body.secret as string);
    }
    const context = (await s.server.runtime.projects.byId(s.project.project_id))!;
    const profile = (secret: string, u: number): Promise<Response> =>
      fetch(`${s.server.url}${projectPath()}/users/${context.pseudonymise(`user-${u}`)}`, {
        headers: { authorization: `Bearer ${secret}` },
      });
    for (const [k, secret] of secrets.entries())
      for (let u = 20 * k; u < 20 * k + 20; u++) {
        const res = await profile(secret, u);
        // The last key's last reads may already meet the hold.
        if (res.status !== 200) {
          expect(k).toBe(2);
          break;
        }
      }
    const maker2 = await s.server.runtime.auth.store.findUserByEmail(OWNER2);
    const person = `user:${maker2!.id}`;
    const deadline = Date.now() + 60_000;
    while (!s.server.runtime.audit.isSuspended(person) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(s.server.runtime.audit.isSuspended(person)).toBe(true);
    // Every key of the person is held, the one that read least included.
    for (const secret of secrets) {
      const res = await profile(secret, 0);
      expect(res.status).toBe(403);
      expect((await res.json()).error.code).toBe('AUDIT_PRINCIPAL_SUSPENDED');
    }
    // The signed webhook goes out after the hold.
    const hooked = (): Hook | undefined =>
      hooks.find((h) => h.body.principal === person && h.body.rule === 'enumeration');
    while (!hooked() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const alert = hooked();
    expect(alert?.valid).toBe(true);
    expect(String(alert?.body.reason)).toContain("this person's keys together");
  });
});
