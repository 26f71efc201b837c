// Issue 9 as an attacker runs it: two organisations sharing one person, over real HTTP on
// loopback (real DuckDB file) with software authenticators. The owner and an admin of X try every
// member-management path on Yvonne, who owns Y and is a viewer in X, and on accounts that are not
// set up yet. After each attempt, Yvonne's organisation Y is untouched and she still signs in with
// her own passkey.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminConfirm, adminCreate, adminReset, operatorProof } from '../src/cli/admin-commands.js';
import { AccountClient, linkToken } from './helpers/account-client.js';
import { SoftwareAuthenticator } from './helpers/authenticator.js';
import { startInProcess } from './helpers/inprocess.js';
import { startSmtpSink, type Mail, type SmtpSink } from './helpers/smtp-sink.js';
import { pollUntil } from './helpers/wait.js';

const ORIGIN = 'http://localhost:8443';
const YVONNE = 'yvonne@y.example';
const XAVIER = 'xavier@x.example';
const ADAM = 'adam@x.example';
const PASSWORD = {
  yvonne: 'heron meadow 41 quietly rising',
  xavier: 'copper lantern 17 over the dunes',
  adam: 'velvet harbour 29 beneath pines',
  attacker: 'the attacker chose this 2026 phrase',
};

interface Person {
  email: string;
  password: string;
  key: SoftwareAuthenticator;
  client: AccountClient;
  id: string;
}

async function startWorld(env: Record<string, string> = {}) {
  const s = await startInProcess({ SILLAGE_PUBLIC_URL: ORIGIN, ...env });
  // Every reading of the clock moves it on: sessions and cut-offs never share a millisecond.
  let clock = Date.now();
  s.server.runtime.auth.now = () => (clock += 1);
  const store = s.server.runtime.auth.store;
  const client = (): AccountClient => new AccountClient(s.server.url, ORIGIN);

  const owner = async (email: string, password: string, orgName: string) => {
    const created = await adminCreate(s.server.runtime, { email, org: orgName });
    const p: Person = {
      email,
      password,
      key: new SoftwareAuthenticator(),
      client: client(),
      id: '',
    };
    const done = await p.client.setUpWithPasskey(created.setup_link, password, p.key);
    expect(done.status).toBe(200);
    p.id = done.body.user.id as string;
    return { person: p, orgId: created.org_id };
  };
  const y = await owner(YVONNE, PASSWORD.yvonne, 'Org Y');
  const x = await owner(XAVIER, PASSWORD.xavier, 'Org X');
  const yvonne = y.person;
  const xavier = x.person;

  /** An owner or admin of an organisation invites `email`; answers the link. */
  const invite = async (by: Person, orgId: string, email: string, role: string) => {
    expect((await by.client.stepUpWithPasskey(by.key)).status).toBe(200);
    const res = await by.client.call('POST', `/api/v1/orgs/${orgId}/invitations`, { email, role });
    expect(res.status).toBe(201);
    return res.body.link as string;
  };

  // Yvonne joins X as a viewer while signed in; Adam becomes an admin of X (X only).
  const yInX = await yvonne.client.call('POST', '/api/v1/auth/invitations/accept', {
    token: linkToken(await invite(xavier, x.orgId, YVONNE, 'viewer')),
  });
  expect(yInX.body).toMatchObject({ status: 'joined', org_id: x.orgId });
  const adam: Person = {
    email: ADAM,
    password: PASSWORD.adam,
    key: new SoftwareAuthenticator(),
    client: client(),
    id: '',
  };
  const adamLink = await invite(xavier, x.orgId, ADAM, 'admin');
  const adamDone = await adam.client.setUpWithPasskey(adamLink, PASSWORD.adam, adam.key);
  expect(adamDone.status).toBe(200);
  adam.id = adamDone.body.user.id as string;

  // Y has a project with data worth stealing.
  const project = await yvonne.client.call('POST', `/api/v1/orgs/${y.orgId}/projects`, {
    name: 'Y product',
  });
  expect(project.status).toBe(201);

  /**
   * The victim's other organisation is untouched and she still signs in with her own passkey:
   * her Y grant is the same, her factor is hers, and a fresh sign-in reaches Y.
   */
  const yvonneIntact = async (): Promise<void> => {
    expect(await store.listMemberships(yvonne.id)).toContainEqual(
      expect.objectContaining({
        orgId: y.orgId,
        role: 'owner',
        accessFromMs: null,
        suspended: null,
      }),
    );
    expect((await store.getUser(yvonne.id))?.status).toBe('active');
    const fresh = client();
    const signedIn = await fresh.loginWithPasskey(YVONNE, PASSWORD.yvonne, yvonne.key);
    expect(signedIn.status).toBe(200);
    expect((await fresh.call('GET', `/api/v1/orgs/${y.orgId}`)).status).toBe(200);
    const projects = await fresh.call('GET', `/api/v1/orgs/${y.orgId}/projects`);
    expect(projects.body.projects.map((p: { id: string }) => p.id)).toContain(project.body.id);
  };

  const noticesOf = async (userId: string) =>
    (await store.listNotices(userId, 100)).map((n) => ({ kind: n.kind, details: n.details }));

  return {
    s,
    store,
    client,
    invite,
    yvonne,
    xavier,
    adam,
    orgX: x.orgId,
    orgY: y.orgId,
    yProject: project.body.id as string,
    yvonneIntact,
    noticesOf,
  };
}

type World = Awaited<ReturnType<typeof startWorld>>;

describe('cross-organisation account takeover (issue 9), no e-mail configured', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld();
  }, 120_000);
  afterAll(async () => {
    await w.s.close();
  });

  it("X's owner and X's admin cannot reset a person who also belongs to Y (409)", async () => {
    const factorsBefore = await w.store.listFactors(w.yvonne.id);
    for (const attacker of [w.xavier, w.adam]) {
      expect((await attacker.client.stepUpWithPasskey(attacker.key)).status).toBe(200);
      const res = await attacker.client.call(
        'POST',
        `/api/v1/orgs/${w.orgX}/members/${w.yvonne.id}/reset`,
      );
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('MEMBER_ACCOUNT_SHARED');
      expect(res.body.error.message).toMatch(/another organisation/);
      expect(JSON.stringify(res.body)).not.toMatch(/setup#token=/);
    }
    expect(await w.store.listFactors(w.yvonne.id)).toEqual(factorsBefore);
    // Her open session in Y was not ended either.
    expect((await w.yvonne.client.call('GET', `/api/v1/orgs/${w.orgY}`)).status).toBe(200);
    await w.yvonneIntact();
  });

  it('an invitation never sets credentials on an account whose owner link is unopened', async () => {
    // The operator creates organisation V for Victor; his setup link is not opened yet.
    const victor = 'victor@v.example';
    const v = await adminCreate(w.s.server.runtime, { email: victor, org: 'Org V' });
    // X's admin invites Victor's address and opens the invitation himself.
    const link = await w.invite(w.adam, w.orgX, victor, 'viewer');
    const stolen = await w.client().accept(link, PASSWORD.attacker);
    expect(stolen.status).toBe(401);
    expect(stolen.body.error.code).toBe('AUTH_REQUIRED');
    expect(stolen.body.error.message).toMatch(/own setup link/);
    expect(await w.store.findUserByEmail(victor)).toBeNull();

    // Victor's own link still works, and he owns V.
    const victorKey = new SoftwareAuthenticator();
    const victorClient = w.client();
    const done = await victorClient.setUpWithPasskey(v.setup_link, PASSWORD.yvonne, victorKey);
    expect(done.status).toBe(200);
    expect(done.body.organisations).toEqual([{ id: v.org_id, name: 'Org V', role: 'owner' }]);
    // Now the account exists: the invitation needs Victor signed in, not a password.
    const again = await w.client().accept(link, PASSWORD.attacker);
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('AUTH_REQUIRED');
    const fresh = w.client();
    expect((await fresh.loginWithPasskey(victor, PASSWORD.yvonne, victorKey)).status).toBe(200);
    await w.yvonneIntact();
  });

  it('an invitation never sets credentials on an account that was just reset; only its own link does, and the membership waits for the operator', async () => {
    // Paula belongs to X only; X's admin resets her (no SMTP: the link is shown to him).
    const paula = 'paula@x.example';
    const paulaLink = await w.invite(w.xavier, w.orgX, paula, 'analyst');
    const paulaClient = w.client();
    const paulaKey = new SoftwareAuthenticator();
    const set = await paulaClient.setUpWithPasskey(paulaLink, PASSWORD.adam, paulaKey);
    expect(set.status).toBe(200);
    const paulaId = set.body.user.id as string;

    expect((await w.adam.client.stepUpWithPasskey(w.adam.key)).status).toBe(200);
    const reset = await w.adam.client.call(
      'POST',
      `/api/v1/orgs/${w.orgX}/members/${paulaId}/reset`,
    );
    expect(reset.status).toBe(201);
    expect(reset.body).toMatchObject({ delivery: 'shown', membership_suspended: true });
    expect(reset.body.message).toMatch(/operator/);

    // Yvonne, as owner of Y, invites Paula's address and tries to set the pending account up.
    const yLink = await w.invite(w.yvonne, w.orgY, paula, 'viewer');
    const hijack = await w.client().accept(yLink, PASSWORD.attacker);
    expect(hijack.status).toBe(401);
    expect(hijack.body.error.code).toBe('AUTH_REQUIRED');
    expect((await w.store.findUserByEmail(paula))?.status).toBe('pending');
    expect(await w.store.listMemberships(paulaId)).toEqual([
      expect.objectContaining({ orgId: w.orgX, suspended: 'unconfirmed_reset' }),
    ]);

    // Her own link sets her up again; the X grant stays on hold until the operator confirms.
    const back = await w.client().setUpWithPasskey(reset.body.link, PASSWORD.xavier, paulaKey);
    expect(back.status).toBe(200);
    const held = w.client();
    expect((await held.loginWithPasskey(paula, PASSWORD.xavier, paulaKey)).status).toBe(200);
    const denied = await held.call('GET', `/api/v1/orgs/${w.orgX}`);
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('AUTH_MEMBERSHIP_SUSPENDED');
    const members = await w.xavier.client.call('GET', `/api/v1/orgs/${w.orgX}/members`);
    expect(members.body.members).toContainEqual(
      expect.objectContaining({ user_id: paulaId, suspended: 'unconfirmed_reset' }),
    );

    // The operator's confirmation needs the master key (proof), then the grant resumes.
    const runtime = w.s.server.runtime;
    await expect(adminConfirm(runtime, { email: paula, proof: 'guessed' })).rejects.toMatchObject({
      code: 'AUTH_FORBIDDEN',
    });
    const proof = operatorProof(runtime.operatorKey, 'admin-confirm', paula);
    expect(await adminConfirm(runtime, { email: paula, proof })).toEqual({
      confirmed_orgs: [w.orgX],
    });
    expect((await held.call('GET', `/api/v1/orgs/${w.orgX}`)).status).toBe(200);
    expect((await w.noticesOf(paulaId)).map((n) => n.kind)).toEqual(
      expect.arrayContaining(['account_reset', 'org_access_changed']),
    );
    await w.yvonneIntact();
  });

  it("X ending a member's sessions ends them for X only; Y and her account keep working", async () => {
    const session = w.yvonne.client;
    expect((await session.call('GET', `/api/v1/orgs/${w.orgX}`)).status).toBe(200);
    const ended = await w.adam.client.call(
      'POST',
      `/api/v1/orgs/${w.orgX}/members/${w.yvonne.id}/sessions/revoke`,
    );
    expect(ended.status).toBe(200);
    expect(ended.body.sessions_revoked).toBeGreaterThanOrEqual(1);
    const inX = await session.call('GET', `/api/v1/orgs/${w.orgX}`);
    expect(inX.status).toBe(401);
    expect(inX.body.error.code).toBe('AUTH_ORG_ACCESS_ENDED');
    expect((await session.call('GET', `/api/v1/orgs/${w.orgY}`)).status).toBe(200);
    expect((await session.call('GET', '/api/v1/me')).status).toBe(200);
    const notice = (await w.noticesOf(w.yvonne.id)).find(
      (n) => n.kind === 'org_access_changed' && n.details.change === 'sessions_ended',
    );
    expect(notice?.details).toMatchObject({ orgName: 'Org X', actor: ADAM });
    // Signing in again reaches X again.
    const again = w.client();
    expect((await again.loginWithPasskey(YVONNE, PASSWORD.yvonne, w.yvonne.key)).status).toBe(200);
    expect((await again.call('GET', `/api/v1/orgs/${w.orgX}`)).status).toBe(200);
    w.yvonne.client = again;
    await w.yvonneIntact();
  });

  it("X's organisation-wide revocation and lock-down reach X only: Y's sessions and keys live on", async () => {
    const session = w.yvonne.client;
    expect(
      (await w.adam.client.call('POST', `/api/v1/orgs/${w.orgX}/sessions/revoke`)).status,
    ).toBe(200);
    expect((await session.call('GET', `/api/v1/orgs/${w.orgX}`)).body.error.code).toBe(
      'AUTH_ORG_ACCESS_ENDED',
    );
    expect((await session.call('GET', `/api/v1/orgs/${w.orgY}`)).status).toBe(200);

    // A secret key of Y's project, made before X's lock-down.
    expect((await session.stepUpWithPasskey(w.yvonne.key)).status).toBe(200);
    const key = await session.call('POST', `/api/v1/projects/${w.yProject}/keys`, {
      name: 'y export',
      scopes: ['query'],
    });
    expect(key.status).toBe(201);

    const xavier = w.client();
    expect((await xavier.loginWithPasskey(XAVIER, PASSWORD.xavier, w.xavier.key)).status).toBe(200);
    w.xavier.client = xavier;
    const locked = await xavier.call('POST', `/api/v1/orgs/${w.orgX}/lockdown`);
    expect(locked.status).toBe(200);
    expect((await session.call('GET', `/api/v1/orgs/${w.orgY}`)).status).toBe(200);
    const machine = await w.client().call('GET', `/api/v1/projects/${w.yProject}`, undefined, {
      authorization: `Bearer ${key.body.secret as string}`,
    });
    expect(machine.status).toBe(200);
    expect((await w.noticesOf(w.yvonne.id)).map((n) => n.kind)).toContain('lockdown');
    await w.yvonneIntact();
  });

  it("X's role change and removal touch X's grant only; her sessions live on in Y", async () => {
    const xavier = w.client();
    expect((await xavier.loginWithPasskey(XAVIER, PASSWORD.xavier, w.xavier.key)).status).toBe(200);
    expect((await xavier.stepUpWithPasskey(w.xavier.key)).status).toBe(200);
    w.xavier.client = xavier;
    const session = w.client();
    expect((await session.loginWithPasskey(YVONNE, PASSWORD.yvonne, w.yvonne.key)).status).toBe(
      200,
    );
    const changed = await xavier.call('PATCH', `/api/v1/orgs/${w.orgX}/members/${w.yvonne.id}`, {
      role: 'analyst',
    });
    expect(changed.status).toBe(204);
    expect((await session.call('GET', `/api/v1/orgs/${w.orgY}`)).status).toBe(200);
    expect((await session.call('GET', `/api/v1/orgs/${w.orgX}`)).status).toBe(200);
    const removed = await xavier.call('DELETE', `/api/v1/orgs/${w.orgX}/members/${w.yvonne.id}`);
    expect(removed.status).toBe(204);
    expect((await session.call('GET', `/api/v1/orgs/${w.orgX}`)).body.error.code).toBe(
      'ORG_NOT_FOUND',
    );
    expect((await session.call('GET', `/api/v1/orgs/${w.orgY}`)).status).toBe(200);
    const changes = (await w.noticesOf(w.yvonne.id))
      .filter((n) => n.kind === 'org_access_changed')
      .map((n) => n.details.change);
    expect(changes).toEqual(expect.arrayContaining(['role_changed', 'removed']));
    await w.yvonneIntact();
  });

  it("X cannot clear the sign-in lock of a person who belongs to Y (409); the operator's reset works whatever her organisations", async () => {
    // Back in X as a viewer, signed in.
    const link = await w.invite(w.xavier, w.orgX, YVONNE, 'viewer');
    expect(
      (
        await w.yvonne.client.call('POST', '/api/v1/auth/invitations/accept', {
          token: linkToken(link),
        })
      ).body.status,
    ).toBe('joined');
    // Someone guesses her password until sign-in is paused.
    const guesser = w.client();
    for (let i = 0; i < 6; i += 1) await guesser.login(YVONNE, `wrong guess number ${i}`);
    const lockedUntil = (await w.store.getUser(w.yvonne.id))?.lockedUntilMs ?? 0;
    expect(lockedUntil).toBeGreaterThan(0);
    expect((await w.xavier.client.stepUpWithPasskey(w.xavier.key)).status).toBe(200);
    const unlock = await w.xavier.client.call(
      'POST',
      `/api/v1/orgs/${w.orgX}/members/${w.yvonne.id}/unlock`,
    );
    expect(unlock.status).toBe(409);
    expect(unlock.body.error.code).toBe('MEMBER_ACCOUNT_SHARED');
    expect((await w.store.getUser(w.yvonne.id))?.lockedUntilMs).toBe(lockedUntil);
    // Her grants are untouched; the lock is hers (it will pass; nobody else may clear it).
    expect(await w.store.listMemberships(w.yvonne.id)).toContainEqual(
      expect.objectContaining({ orgId: w.orgY, role: 'owner', suspended: null }),
    );

    // The instance operator (master key) can reset any account; the link is for the person.
    const runtime = w.s.server.runtime;
    await expect(adminReset(runtime, { email: YVONNE })).rejects.toMatchObject({
      code: 'AUTH_FORBIDDEN',
    });
    const proof = operatorProof(runtime.operatorKey, 'admin-reset', YVONNE);
    const done = (await adminReset(runtime, { email: YVONNE, proof })) as { setup_link: string };
    const newKey = new SoftwareAuthenticator();
    const back = await w.client().setUpWithPasskey(done.setup_link, PASSWORD.yvonne, newKey);
    expect(back.status).toBe(200);
    expect(back.body.organisations).toEqual(
      expect.arrayContaining([
        { id: w.orgY, name: 'Org Y', role: 'owner' },
        { id: w.orgX, name: 'Org X', role: 'viewer' },
      ]),
    );
    w.yvonne.key = newKey;
    await w.yvonneIntact();
  });
});

describe('reset with e-mail configured: the link goes to the person, not the admin', () => {
  let sink: SmtpSink;
  let received: Mail[] = [];
  let w: World;

  beforeAll(async () => {
    sink = await startSmtpSink();
    received = sink.received;
    w = await startWorld(sink.env);
  }, 120_000);
  afterAll(async () => {
    await w.s.close();
    await sink.close();
  });

  it("mails the setup link to a member of X only; the admin's answer holds no link", async () => {
    const paula = 'paula@x.example';
    const link = await w.invite(w.xavier, w.orgX, paula, 'viewer');
    const set = await w.client().setUpWithPasskey(link, PASSWORD.adam, new SoftwareAuthenticator());
    expect(set.status).toBe(200);
    const paulaId = set.body.user.id as string;

    expect((await w.adam.client.stepUpWithPasskey(w.adam.key)).status).toBe(200);
    const reset = await w.adam.client.call(
      'POST',
      `/api/v1/orgs/${w.orgX}/members/${paulaId}/reset`,
    );
    expect(reset.status).toBe(201);
    expect(reset.body).toMatchObject({ delivery: 'email' });
    expect(JSON.stringify(reset.body)).not.toMatch(/token=/);

    const mail = await pollUntil('the reset e-mail', () =>
      received.find((m) => m.to.includes(paula) && /set it up again/.test(m.raw)),
    );
    // Quoted-printable may fold the long link: unfold it before reading.
    const unfolded = mail.raw.replace(/=\r?\n/g, '').replace(/=3D/g, '=');
    const mailed = /http:\/\/localhost:8443\/setup#token=[A-Za-z0-9_-]{43}/.exec(unfolded)?.[0];
    expect(mailed).toBeDefined();
    // The stored notice does not keep the link.
    const stored = await w.store.listNotices(paulaId, 100);
    expect(JSON.stringify(stored)).not.toMatch(/token=/);

    const back = await w
      .client()
      .setUpWithPasskey(mailed ?? '', PASSWORD.xavier, new SoftwareAuthenticator());
    expect(back.status).toBe(200);
    // E-mailed to the person: no suspension.
    expect(back.body.organisations).toEqual([{ id: w.orgX, name: 'Org X', role: 'viewer' }]);
    expect(await w.store.listMemberships(paulaId)).toEqual([
      expect.objectContaining({ orgId: w.orgX, suspended: null }),
    ]);
    await w.yvonneIntact();
  });
});
