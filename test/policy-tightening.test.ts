// Red team: what an organisation's security policy leaves open to sessions that were already
// open when it applied — over real HTTP on loopback against a real server (real DuckDB file).
// Sign-in enforces "passkeys required" (test/phishing.test.ts); these are the sessions sign-in
// never saw: one opened with an authenticator-app code before the owner required passkeys (a
// phishing page relays codes, which is why an owner tightens the policy), and one opened in a lax
// organisation that then joins a strict one through an invitation. Likewise the session
// timeouts: shortened by an owner, they end the sessions already open that exceed them, and what
// a session reports as its end, and how many sessions an ending counts, follow them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE, type AuthDeps } from '../src/auth/index.js';
import type { AuthMethod } from '../src/store/account-types.js';
import { linkToken } from './helpers/account-client.js';
import {
  answerOf,
  mintMember,
  mintOrg,
  mintSession,
  type Answer,
  type MintedSession,
} from './helpers/fixtures.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

let s: InProcess;
let auth: AuthDeps;
let origin: string;

async function hit(
  session: MintedSession,
  method: string,
  path: string,
  body?: unknown,
): Promise<Answer> {
  const headers: Record<string, string> = {
    'user-agent': 'policy-tightening',
    cookie: `${SESSION_COOKIE}=${session.token}`,
  };
  if (method !== 'GET') {
    headers.origin = origin;
    headers['x-csrf-token'] = session.csrf;
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${s.server.url}${path}`, {
    method,
    headers,
    ...(method !== 'GET' ? { body: JSON.stringify(body ?? {}) } : {}),
  });
  return answerOf(res);
}

/**
 * A session as a sign-in under the default policy leaves it (30 min idle, 12 h absolute), signed
 * in with an authenticator-app code unless said otherwise, `ageMs` old and `idleMs` idle.
 */
function codeSession(
  userId: string,
  {
    method = 'totp',
    ageMs = 0,
    idleMs = 0,
  }: Partial<{ method: AuthMethod; ageMs: number; idleMs: number }> = {},
): Promise<MintedSession> {
  return mintSession(
    auth,
    userId,
    { agoMs: ageMs, method },
    { method, ageMs, idleMs, absoluteMs: 12 * 3_600_000, idleTimeoutMs: 30 * 60_000 },
  );
}

const STRICT = {
  require_passkeys: 'everyone',
  allow_totp_step_up: false,
  session_idle_minutes: 30,
  session_absolute_hours: 12,
};

beforeAll(async () => {
  s = await startInProcess({ SILLAGE_PUBLIC_URL: 'https://analytics.example' });
  auth = s.server.runtime.auth;
  origin = new URL(auth.settings.publicUrl).origin;
}, 60_000);

afterAll(async () => {
  await s?.close();
});

describe('passkeys required, for a session opened with a code', () => {
  it('once the owner requires passkeys, a code session reaches nothing of the organisation', async () => {
    const org = await mintOrg(auth, 'Org tightening its policy');
    await auth.store.setProjectOrg(s.project.project_id, org.id);
    const P = `/api/v1/projects/${s.project.project_id}`;
    const O = `/api/v1/orgs/${org.id}`;
    const owner = await mintMember(auth, org.id, 'owner', 'owner@tighten.example');
    const analyst = await mintMember(auth, org.id, 'analyst', 'analyst@tighten.example');
    // The analyst's code session (a phishing page may be relaying it): it works under the
    // default policy, as it should.
    const relayed = await codeSession(analyst);
    const trends = { kind: 'trends', from: '-6d', to: 'today', series: [{ event: 'Signup' }] };
    expect((await hit(relayed, 'POST', `${P}/query`, trends)).status).toBe(200);
    // The owner (passkey session, fresh step-up) requires passkeys of everyone.
    const set = await hit(await mintSession(auth, owner), 'PUT', `${O}/policy`, STRICT);
    expect(set.status, set.text).toBe(200);
    // The code session now reaches neither the project nor the organisation.
    for (const [method, path, body] of [
      ['POST', `${P}/query`, trends],
      ['GET', `${P}/users/someone/events`, undefined],
      ['GET', `${P}/events/latest`, undefined],
      ['GET', `${P}/views`, undefined],
      ['GET', O, undefined],
      ['GET', `${O}/members`, undefined],
    ] as const) {
      const res = await hit(relayed, method, path, body);
      expect([res.status, res.code], `${method} ${path}: ${res.text}`).toEqual([
        403,
        'AUTH_PASSKEY_REQUIRED',
      ]);
    }
    // A session that signed in with a passkey keeps working; so does a code session that has
    // since proved a passkey (a passkey step-up on it).
    expect((await hit(await mintSession(auth, analyst), 'POST', `${P}/query`, trends)).status).toBe(
      200,
    );
    const proved = await codeSession(analyst);
    await auth.store.markStepUp(proved.session.idHash, auth.now(), 'passkey');
    expect((await hit(proved, 'POST', `${P}/query`, trends)).status).toBe(200);
  });

  it('a code session of a lax organisation that accepts an invitation does not reach the strict one', async () => {
    const strict = await mintOrg(auth, 'Strict org');
    const owner = await mintMember(auth, strict.id, 'owner', 'owner@strict.example');
    const asOwner = await mintSession(auth, owner);
    const S = `/api/v1/orgs/${strict.id}`;
    expect((await hit(asOwner, 'PUT', `${S}/policy`, STRICT)).status).toBe(200);
    const lax = await mintOrg(auth, 'Lax org');
    const email = 'person@lax.example';
    const person = await mintMember(auth, lax.id, 'analyst', email);
    const coded = await codeSession(person);
    const invited = await hit(asOwner, 'POST', `${S}/invitations`, { email, role: 'admin' });
    expect(invited.status, invited.text).toBe(201);
    const accepted = await hit(coded, 'POST', '/api/v1/auth/invitations/accept', {
      token: linkToken(invited.json.link as string),
    });
    expect([accepted.status, accepted.json?.status], accepted.text).toEqual([200, 'joined']);
    const res = await hit(coded, 'GET', `${S}/projects`);
    expect([res.status, res.code], res.text).toEqual([403, 'AUTH_PASSKEY_REQUIRED']);
    // The lax organisation is reached as before.
    expect((await hit(coded, 'GET', `/api/v1/orgs/${lax.id}`)).status).toBe(200);
  });
});

describe('shorter session timeouts, for sessions already open', () => {
  it('end a session older or idler than the new policy allows, whatever it was issued with', async () => {
    const org = await mintOrg(auth, 'Org shortening its sessions');
    const O = `/api/v1/orgs/${org.id}`;
    const owner = await mintMember(auth, org.id, 'owner', 'owner@shorten.example');
    const member = await mintMember(auth, org.id, 'analyst', 'analyst@shorten.example');
    // Signed in two hours ago with a passkey (a stolen cookie, say), issued for 12 hours.
    const old = await codeSession(member, { method: 'passkey', ageMs: 2 * 3_600_000 });
    expect((await hit(old, 'GET', O)).status).toBe(200);
    // Idle for ten minutes, issued with 30 minutes of idleness.
    const idle = await codeSession(member, { method: 'passkey', idleMs: 10 * 60_000 });
    const tight = {
      require_passkeys: 'none',
      allow_totp_step_up: false,
      session_idle_minutes: 5,
      session_absolute_hours: 1,
    };
    const set = await hit(await mintSession(auth, owner), 'PUT', `${O}/policy`, tight);
    expect(set.status, set.text).toBe(200);
    for (const [what, session] of [
      ['two hours old', old],
      ['ten minutes idle', idle],
    ] as const) {
      for (const path of [O, '/api/v1/me']) {
        const res = await hit(session, 'GET', path);
        expect([res.status, res.code], `${what}, ${path}: ${res.text}`).toEqual([
          401,
          'AUTH_SESSION_EXPIRED',
        ]);
      }
    }
    // A session within the new limits goes on.
    const fresh = await codeSession(member, { method: 'passkey', ageMs: 30 * 60_000 });
    expect((await hit(fresh, 'GET', O)).status).toBe(200);
  });

  it('are the limits a session reports: its own answer and the sessions list say when it will end', async () => {
    const org = await mintOrg(auth, 'Org reporting its sessions');
    const O = `/api/v1/orgs/${org.id}`;
    const owner = await mintMember(auth, org.id, 'owner', 'owner@report.example');
    const member = await mintMember(auth, org.id, 'analyst', 'analyst@report.example');
    // Signed in 20 minutes ago under the default policy: issued for 12 hours and 30 minutes idle.
    const open = await codeSession(member, { method: 'passkey', ageMs: 20 * 60_000 });
    // Another session of the person, idle for 10 minutes.
    const other = await codeSession(member, { method: 'passkey', idleMs: 10 * 60_000 });
    const tight = {
      require_passkeys: 'none',
      allow_totp_step_up: false,
      session_idle_minutes: 15,
      session_absolute_hours: 1,
    };
    const set = await hit(await mintSession(auth, owner), 'PUT', `${O}/policy`, tight);
    expect(set.status, set.text).toBe(200);
    // The limits the server now enforces: the absolute end 1 hour after sign-in, 15 minutes idle.
    const end = new Date(open.session.createdAtMs + 3_600_000).toISOString();
    for (const path of ['/api/v1/me', '/api/v1/auth/session']) {
      const me = await hit(open, 'GET', path);
      expect(me.status, me.text).toBe(200);
      expect([me.json.session.expires_at, me.json.session.idle_timeout_seconds], path).toEqual([
        end,
        15 * 60,
      ]);
    }
    const list = await hit(open, 'GET', '/api/v1/me/sessions');
    expect(list.status, list.text).toBe(200);
    const listed = new Map(
      (list.json.sessions as { current: boolean; expires_at: string }[]).map((x) => [
        x.current,
        x.expires_at,
      ]),
    );
    expect(listed.get(true)).toBe(end);
    expect(listed.get(false)).toBe(new Date(other.session.createdAtMs + 3_600_000).toISOString());
    // Once the other session has been idle past the new limit, the list no longer shows it: the
    // server would end it at its next request.
    await auth.store.touchSession(other.session.idHash, auth.now() - 16 * 60_000);
    const after = await hit(open, 'GET', '/api/v1/me/sessions');
    expect(
      (after.json.sessions as { current: boolean }[]).map((x) => x.current),
      after.text,
    ).toEqual([true]);
  });

  it("count, when an admin ends a member's sessions, only those the server still accepted", async () => {
    // The member belongs to a strict organisation (15 minutes idle) and to another one, whose
    // admin ends the member's sessions there.
    const strict = await mintOrg(auth, 'Org with short idleness');
    const other = await mintOrg(auth, 'Org ending sessions');
    const strictOwner = await mintMember(auth, strict.id, 'owner', 'owner@short-idle.example');
    const admin = await mintMember(auth, other.id, 'admin', 'admin@ending.example');
    const email = 'member@ending.example';
    const member = await mintMember(auth, strict.id, 'analyst', email);
    await auth.store.putMembership({
      orgId: other.id,
      userId: member,
      role: 'analyst',
      createdAtMs: auth.now(),
      accessFromMs: null,
      suspended: null,
    });
    const tight = {
      require_passkeys: 'none',
      allow_totp_step_up: false,
      session_idle_minutes: 15,
      session_absolute_hours: 12,
    };
    const S = `/api/v1/orgs/${strict.id}`;
    expect(
      (await hit(await mintSession(auth, strictOwner), 'PUT', `${S}/policy`, tight)).status,
    ).toBe(200);
    // One session in use, one idle for 20 minutes (issued with 30): the server ends the second at
    // its next request, so it is not one the admin ended.
    await codeSession(member, { method: 'passkey' });
    await codeSession(member, { method: 'passkey', idleMs: 20 * 60_000 });
    const ended = await hit(
      await mintSession(auth, admin),
      'POST',
      `/api/v1/orgs/${other.id}/members/${member}/sessions/revoke`,
    );
    expect([ended.status, ended.json?.sessions_revoked], ended.text).toEqual([200, 1]);
  });
});

describe('sessions that timed out, when sessions are ended', () => {
  it("are not counted as ended: an admin ending a member's sessions, or yours everywhere else", async () => {
    const org = await mintOrg(auth, 'Org with stale sessions');
    const admin = await mintMember(auth, org.id, 'admin', 'admin@stale.example');
    const member = await mintMember(auth, org.id, 'analyst', 'member@stale.example');
    // Each has a session in use and one left idle for 40 minutes (30 allowed): timed out, never
    // revoked, as a session nobody used again stays in the store.
    await codeSession(member, { method: 'passkey' });
    await codeSession(member, { method: 'passkey', idleMs: 40 * 60_000 });
    const ended = await hit(
      await mintSession(auth, admin),
      'POST',
      `/api/v1/orgs/${org.id}/members/${member}/sessions/revoke`,
    );
    expect([ended.status, ended.json?.sessions_revoked], ended.text).toEqual([200, 1]);
    const mine = await codeSession(admin, { method: 'passkey' });
    await codeSession(admin, { method: 'passkey', idleMs: 40 * 60_000 });
    const all = await hit(mine, 'POST', '/api/v1/me/sessions/revoke-all', { keep_current: true });
    // The admin's other sessions: the one that minted the revocation above, and the idle one.
    expect([all.status, all.json?.sessions_revoked], all.text).toEqual([200, 1]);
  });
});
