// End to end over real HTTP on loopback (real DuckDB file): setup links, passkeys with a software
// authenticator, TOTP, sign-in, sessions and their timeouts, CSRF, step-up, API keys, throttling,
// notices and the lock-down. The server's clock is the test's, so timeouts need no waiting.
import { compileErrors, validate } from '@readme/openapi-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCreate } from '../src/cli/admin-commands.js';
import { AccountClient } from './helpers/account-client.js';
import { SoftwareAuthenticator } from './helpers/authenticator.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

const ORIGIN = 'http://localhost:8443';
const OWNER = 'owner@example.com';
const OWNER_PASSWORD = 'plum orchard wagon 1987 tidal';
const ANALYST = 'analyst@example.com';
const ANALYST_PASSWORD = 'quiet lantern across 52 dunes';
const MINUTE = 60_000;

describe('accounts end to end', () => {
  let s: InProcess;
  let clock = 0;
  let orgId = '';
  let analystSecret = '';
  const ownerKey = new SoftwareAuthenticator();
  const owner = (): AccountClient => ownerClient;
  let ownerClient: AccountClient;
  let analyst: AccountClient;

  const advance = (ms: number): void => {
    clock += ms;
  };
  const notices = async (email: string): Promise<string[]> => {
    const store = s.server.runtime.auth.store;
    const user = await store.findUserByEmail(email);
    return (await store.listNotices(user?.id ?? '', 100)).map((n) => n.kind);
  };

  beforeAll(async () => {
    s = await startInProcess({ SILLAGE_PUBLIC_URL: ORIGIN });
    clock = Date.now();
    s.server.runtime.auth.now = () => clock;
    ownerClient = new AccountClient(s.server.url, ORIGIN);
    analyst = new AccountClient(s.server.url, ORIGIN);
  });
  afterAll(async () => {
    await s.close();
  });

  it('sets up the first owner from a single-use link: password policy, passkey, secure cookie', async () => {
    const created = await adminCreate(s.server.runtime, { email: OWNER, org: 'Acme' });
    orgId = created.org_id;
    expect(created.setup_link.startsWith(`${ORIGIN}/setup#token=`)).toBe(true);
    // The project that existed before any organisation joined the first one.
    expect(created.adopted_projects).toEqual([s.project.project_id]);

    const weak = await owner().accept(created.setup_link, 'password1234');
    expect(weak.status).toBe(400);
    expect(weak.body.error.code).toBe('AUTH_PASSWORD_REJECTED');
    const short = await owner().accept(created.setup_link, 'Xq7!vB2');
    expect(short.body.error.message).toMatch(/12/);

    const done = await owner().setUpWithPasskey(created.setup_link, OWNER_PASSWORD, ownerKey);
    expect(done.status).toBe(200);
    expect(done.body.recovery_codes).toHaveLength(10);
    expect(done.body.organisations).toEqual([{ id: orgId, name: 'Acme', role: 'owner' }]);
    const session = done.setCookies.find((c) => c.startsWith('__Host-sillage_session='));
    expect(session).toBeDefined();
    for (const attr of ['Path=/', 'Secure', 'HttpOnly', 'SameSite=Strict']) {
      expect(session).toContain(attr);
    }
    expect(session).not.toMatch(/Domain=|Max-Age|Expires/i);
    // ≥ 128 bits: 32 random bytes as base64url.
    expect(owner().cookies.get('__Host-sillage_session')).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const again = await new AccountClient(s.server.url, ORIGIN).accept(
      created.setup_link,
      OWNER_PASSWORD,
    );
    expect(again.body.error.code).toBe('AUTH_TOKEN_INVALID');

    const me = await owner().call('GET', '/api/v1/me');
    expect(me.status).toBe(200);
    expect(me.body.factors).toMatchObject([{ kind: 'passkey', phishing_resistant: true }]);
    expect(me.headers.get('cache-control')).toBe('no-store');
    expect(await notices(OWNER)).toContain('factor_added');
  });

  it('signs in with a password then a passkey; failures are generic; a phishing origin fails', async () => {
    expect((await owner().call('POST', '/api/v1/auth/logout')).status).toBe(204);
    expect((await owner().call('GET', '/api/v1/auth/session')).status).toBe(401);

    const wrong = await owner().login(OWNER, 'not the password at all');
    const unknown = await owner().login('nobody@example.com', 'not the password at all');
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);

    const started = await owner().login(OWNER, OWNER_PASSWORD);
    expect(started.status).toBe(200);
    expect(started.body.methods).toEqual(['passkey', 'recovery_code']);
    // A proxy page on another origin relays the challenge: the assertion names that origin.
    const phished = ownerKey.getAssertion(
      started.body.passkey,
      'https://sillage-login.example.net',
    );
    const refused = await owner().call('POST', '/api/v1/auth/login/verify', {
      login_token: started.body.login_token,
      method: 'passkey',
      response: phished,
    });
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('AUTH_WEBAUTHN_INVALID');
    expect(owner().cookies.has('__Host-sillage_session')).toBe(false);

    const signedIn = await owner().call('POST', '/api/v1/auth/login/verify', {
      login_token: started.body.login_token,
      method: 'passkey',
      response: ownerKey.getAssertion(started.body.passkey, ORIGIN),
    });
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.session.method).toBe('passkey');
    // The same login token cannot open a second session.
    const replay = await owner().call('POST', '/api/v1/auth/login/verify', {
      login_token: started.body.login_token,
      method: 'passkey',
      response: ownerKey.getAssertion(started.body.passkey, ORIGIN),
    });
    expect(replay.body.error.code).toBe('AUTH_TOKEN_INVALID');
  });

  it('invites an analyst who enrols an authenticator app; a TOTP code works once', async () => {
    const invited = await owner().call('POST', `/api/v1/orgs/${orgId}/invitations`, {
      email: ANALYST,
      role: 'analyst',
    });
    expect(invited.status).toBe(201);
    const { answer, secret } = await analyst.setUpWithTotp(
      invited.body.link,
      ANALYST_PASSWORD,
      clock,
    );
    expect(answer.status).toBe(200);
    expect(answer.body.organisations).toEqual([{ id: orgId, name: 'Acme', role: 'analyst' }]);
    analystSecret = secret;
    // Requiring passkeys now would shut the analyst out: the answer says so.
    const policy = (requirePasskeys: string) =>
      owner().call('PUT', `/api/v1/orgs/${orgId}/policy`, {
        require_passkeys: requirePasskeys,
        allow_totp_step_up: false,
        session_idle_minutes: 30,
        session_absolute_hours: 12,
      });
    const analystId = (await s.server.runtime.auth.store.findUserByEmail(ANALYST))?.id;
    expect((await policy('everyone')).body.members_without_passkey).toEqual([analystId]);
    expect((await policy('admins')).body.members_without_passkey).toEqual([]);
    expect((await policy('none')).status).toBe(200);
    const me = await analyst.call('GET', '/api/v1/me');
    expect(me.body.factors).toMatchObject([{ kind: 'totp', phishing_resistant: false }]);

    await analyst.call('POST', '/api/v1/auth/logout');
    // The code used at setup cannot be used again in the same 30-second step.
    const replay = await analyst.loginWithTotp(ANALYST, ANALYST_PASSWORD, secret, clock);
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('AUTH_TOTP_INVALID');
    expect(replay.body.error.message).toMatch(/already used/);
    advance(30_000);
    const ok = await analyst.loginWithTotp(ANALYST, ANALYST_PASSWORD, secret, clock);
    expect(ok.status).toBe(200);
    expect(ok.body.session.method).toBe('totp');
  });

  it('needs the CSRF token and the Sillage origin for cookie-authenticated changes', async () => {
    const path = '/api/v1/me/notices/read';
    const csrf = analyst.csrf ?? '';
    analyst.csrf = null;
    const missing = await analyst.call('POST', path);
    expect(missing.status).toBe(403);
    expect(missing.body.error.code).toBe('AUTH_CSRF_INVALID');
    analyst.csrf = csrf;
    const foreign = await analyst.call('POST', path, undefined, { origin: 'https://evil.example' });
    expect(foreign.body.error.code).toBe('AUTH_CSRF_INVALID');
    const crossSite = await analyst.call('POST', path, undefined, {
      'sec-fetch-site': 'cross-site',
    });
    expect(crossSite.body.error.code).toBe('AUTH_CSRF_INVALID');
    const other = await analyst.call('POST', path, undefined, {
      'x-csrf-token': owner().csrf ?? '',
    });
    expect(other.body.error.code).toBe('AUTH_CSRF_INVALID');
    expect((await analyst.call('POST', path)).status).toBe(204);
  });

  it('lists sessions with device and place, revokes one, and ends idle and old sessions', async () => {
    const laptop = new AccountClient(
      s.server.url,
      ORIGIN,
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
    );
    advance(30_000);
    expect(
      (await laptop.loginWithTotp(ANALYST, ANALYST_PASSWORD, analystSecret, clock)).status,
    ).toBe(200);
    expect(await notices(ANALYST)).toContain('new_device');

    const list = await analyst.call('GET', '/api/v1/me/sessions');
    expect(list.body.sessions).toHaveLength(2);
    const other = list.body.sessions.find((x: { current: boolean }) => !x.current);
    expect(other.device).toMatch(/Safari 17 on macOS|Safari 17 on Mac OS X/);
    expect(other.place).toBe('unknown place');
    expect(JSON.stringify(list.body)).not.toContain(laptop.cookies.get('__Host-sillage_session'));

    expect((await analyst.call('DELETE', `/api/v1/me/sessions/${other.id}`)).status).toBe(204);
    const gone = await laptop.call('GET', '/api/v1/me');
    expect(gone.status).toBe(401);
    expect(gone.body.error.code).toBe('AUTH_SESSION_EXPIRED');

    // Idle: 30 minutes by default.
    advance(29 * MINUTE);
    expect((await analyst.call('GET', '/api/v1/me')).status).toBe(200);
    advance(31 * MINUTE);
    const idle = await analyst.call('GET', '/api/v1/me');
    expect(idle.body.error.code).toBe('AUTH_SESSION_EXPIRED');

    // Absolute: 12 hours, however active.
    advance(30_000);
    expect(
      (await analyst.loginWithTotp(ANALYST, ANALYST_PASSWORD, analystSecret, clock)).status,
    ).toBe(200);
    for (let quarter = 0; quarter < 47; quarter += 1) {
      advance(15 * MINUTE);
      expect((await analyst.call('GET', '/api/v1/me')).status).toBe(200);
    }
    advance(14 * MINUTE); // 11 h 59 min in, active all along
    expect((await analyst.call('GET', '/api/v1/me')).status).toBe(200);
    advance(2 * MINUTE); // 12 h 01 min: over the absolute limit, 2 minutes after the last use
    const expired = await analyst.call('GET', '/api/v1/me');
    expect(expired.body.error.code).toBe('AUTH_SESSION_EXPIRED');
  });

  it('asks for a fresh passkey check before creating a key, then issues a scoped key', async () => {
    advance(30_000);
    expect((await owner().loginWithPasskey(OWNER, OWNER_PASSWORD, ownerKey)).status).toBe(200);
    advance(6 * MINUTE);
    const base = `/api/v1/projects/${s.project.project_id}/keys`;
    const refused = await owner().call('POST', base, { name: 'ci', scopes: ['query'] });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('AUTH_STEP_UP_REQUIRED');

    const stepped = await owner().stepUpWithPasskey(ownerKey);
    expect(stepped.status).toBe(200);
    expect(stepped.body.sufficient_for_sensitive_actions).toBe(true);
    const created = await owner().call('POST', base, { name: 'ci', scopes: ['query'] });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^sil_sk_[A-Za-z0-9_-]{43}$/);
    expect(created.body.key).toMatchObject({ scopes: ['query'], status: 'active', use_count: 0 });
    expect(created.body.key.prefix).toBe(created.body.secret.slice(0, 11));

    const secret = created.body.secret as string;
    const bearer = { authorization: `Bearer ${secret}` };
    const machine = new AccountClient(s.server.url, ORIGIN);
    const q = await machine.call(
      'GET',
      `/api/v1/projects/${s.project.project_id}/events?from=2020-01-01&to=2030-01-01`,
      undefined,
      bearer,
    );
    expect(q.status).toBe(200);
    const exportRefused = await machine.call(
      'GET',
      `/api/v1/projects/${s.project.project_id}/export?from=2020-01-01&to=2030-01-01`,
      undefined,
      bearer,
    );
    expect(exportRefused.status).toBe(403);
    const listed = await owner().call('GET', base);
    const mine = listed.body.keys.find((k: { id: string }) => k.id === created.body.key.id);
    expect(mine).toMatchObject({ use_count: 2, last_used_place: 'unknown place' });
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    expect(await notices(OWNER)).toContain('key_created');

    // Network allow-list: loopback is not in 10.0.0.0/8.
    const fenced = await owner().call('POST', base, {
      name: 'fenced',
      scopes: ['query'],
      allowed_cidrs: ['10.0.0.0/8'],
    });
    const offNet = await machine.call(
      'GET',
      `/api/v1/projects/${s.project.project_id}`,
      undefined,
      {
        authorization: `Bearer ${fenced.body.secret}`,
      },
    );
    expect(offNet.status).toBe(403);

    // Expiry.
    const shortLived = await owner().call('POST', base, {
      name: 'short',
      scopes: ['query'],
      expires_at: new Date(clock + 60 * MINUTE).toISOString(),
    });
    expect(shortLived.status).toBe(201);

    // Rotation with overlap: both work, then only the new one.
    const rotated = await owner().call('POST', `${base}/${created.body.key.id}/rotate`, {
      overlap_hours: 1,
    });
    expect(rotated.status).toBe(201);
    const get = (key: string) =>
      machine.call('GET', `/api/v1/projects/${s.project.project_id}`, undefined, {
        authorization: `Bearer ${key}`,
      });
    expect((await get(secret)).status).toBe(200);
    expect((await get(rotated.body.secret)).status).toBe(200);
    advance(61 * MINUTE);
    const old = await get(secret);
    expect(old.status).toBe(401);
    expect(old.body.error.message).toMatch(/expired/);
    expect((await get(shortLived.body.secret)).body.error.message).toMatch(/expired/);
    expect((await get(rotated.body.secret)).status).toBe(200);

    // Revocation is immediate and needs no step-up.
    expect((await owner().call('GET', '/api/v1/me')).status).toBe(401); // idle since
    advance(30_000);
    await owner().loginWithPasskey(OWNER, OWNER_PASSWORD, ownerKey);
    advance(6 * MINUTE);
    const revoked = await owner().call('DELETE', `${base}/${rotated.body.key.id}`);
    expect(revoked.status).toBe(204);
    const after = await get(rotated.body.secret);
    expect(after.status).toBe(401);
    expect(after.body.error.message).toMatch(/revoked/);
  });

  it('throttles failed sign-ins with growing delays and tells the account', async () => {
    const attacker = new AccountClient(s.server.url, ORIGIN);
    for (let i = 0; i < 5; i += 1) {
      expect((await attacker.login(ANALYST, `wrong password number ${i}`)).status).toBe(401);
    }
    const sixth = await attacker.login(ANALYST, 'wrong password number 6');
    expect(sixth.status).toBe(401);
    const locked = await attacker.login(ANALYST, ANALYST_PASSWORD);
    expect(locked.status).toBe(429);
    expect(locked.body.error.code).toBe('AUTH_THROTTLED');
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await notices(ANALYST)).filter((k) => k === 'lockout')).toHaveLength(1);
    advance(31_000);
    advance(30_000);
    const ok = await analyst.loginWithTotp(ANALYST, ANALYST_PASSWORD, analystSecret, clock);
    expect(ok.status).toBe(200);
  });

  it('locks the organisation down in one action; ingest keeps working', async () => {
    advance(30_000);
    await owner().loginWithPasskey(OWNER, OWNER_PASSWORD, ownerKey);
    const result = await owner().call('POST', `/api/v1/orgs/${orgId}/lockdown`);
    expect(result.status).toBe(200);
    expect(result.body.sessions_revoked).toBeGreaterThanOrEqual(2);
    expect(result.body.keys_revoked).toBeGreaterThanOrEqual(2);

    expect((await owner().call('GET', '/api/v1/me')).body.error.code).toBe('AUTH_SESSION_EXPIRED');
    expect((await analyst.call('GET', '/api/v1/me')).body.error.code).toBe('AUTH_SESSION_EXPIRED');
    // The bootstrap secret of the project is revoked too.
    const bootstrap = await new AccountClient(s.server.url, ORIGIN).call(
      'GET',
      `/api/v1/projects/${s.project.project_id}`,
      undefined,
      { authorization: `Bearer ${s.project.secret}` },
    );
    expect(bootstrap.status).toBe(401);
    expect(await notices(ANALYST)).toContain('lockdown');
    const lockNotice = (
      await s.server.runtime.auth.store.listNotices(
        (await s.server.runtime.auth.store.findUserByEmail(ANALYST))?.id ?? '',
        10,
      )
    ).find((n) => n.kind === 'lockdown');
    expect(lockNotice?.details.actor).toBe(OWNER);

    // Ingest: the public token is write-only and keeps working.
    const data = Buffer.from(
      JSON.stringify([
        { event: 'still collecting', properties: { token: s.project.token, distinct_id: 'u1' } },
      ]),
    ).toString('base64');
    const track = await fetch(`${s.server.url}/track`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `data=${encodeURIComponent(data)}`,
    });
    expect(await track.text()).toBe('1');

    advance(30_000);
    await owner().loginWithPasskey(OWNER, OWNER_PASSWORD, ownerKey);
    const org = await owner().call('GET', `/api/v1/orgs/${orgId}`);
    expect(org.body.locked_down_at).not.toBeNull();
  });

  it('spends recovery codes once', async () => {
    const codes = (await owner().call('POST', '/api/v1/me/recovery-codes')).body
      .recovery_codes as string[];
    expect(codes).toHaveLength(10);
    const fresh = new AccountClient(s.server.url, ORIGIN);
    const use = async (): Promise<number> => {
      const started = await fresh.login(OWNER, OWNER_PASSWORD);
      const done = await fresh.call('POST', '/api/v1/auth/login/verify', {
        login_token: started.body.login_token,
        method: 'recovery_code',
        code: codes[0]?.toUpperCase(),
      });
      return done.status;
    };
    expect(await use()).toBe(200);
    fresh.dropSession();
    expect(await use()).toBe(401);
    expect(await notices(OWNER)).toContain('recovery_code_used');
  });

  it("lets an admin end one member's sessions and clear a lock, and a person change their password", async () => {
    advance(30_000);
    expect(
      (await analyst.loginWithTotp(ANALYST, ANALYST_PASSWORD, analystSecret, clock)).status,
    ).toBe(200);
    const analystId = (await s.server.runtime.auth.store.findUserByEmail(ANALYST))?.id ?? '';
    const ended = await owner().call(
      'POST',
      `/api/v1/orgs/${orgId}/members/${analystId}/sessions/revoke`,
    );
    expect(ended.status).toBe(200);
    expect(ended.body.sessions_revoked).toBe(1);
    expect((await analyst.call('GET', '/api/v1/me')).status).toBe(401);

    const attacker = new AccountClient(s.server.url, ORIGIN);
    for (let i = 0; i < 6; i += 1) await attacker.login(ANALYST, `still wrong ${i}`);
    expect((await attacker.login(ANALYST, ANALYST_PASSWORD)).status).toBe(429);
    expect(
      (await owner().call('POST', `/api/v1/orgs/${orgId}/members/${analystId}/unlock`)).status,
    ).toBe(204);
    advance(30_000);
    expect(
      (await analyst.loginWithTotp(ANALYST, ANALYST_PASSWORD, analystSecret, clock)).status,
    ).toBe(200);

    // Password change: the current password is needed, other sessions end, the account is told.
    const wrongCurrent = await analyst.call('POST', '/api/v1/me/password', {
      current_password: 'not it at all, sorry',
      new_password: 'a brand new phrase 2026 oak',
    });
    expect(wrongCurrent.status).toBe(403); // a TOTP sign-in is no step-up under the default policy
    const laptop = new AccountClient(s.server.url, ORIGIN);
    advance(30_000);
    expect((await laptop.loginWithPasskey(OWNER, OWNER_PASSWORD, ownerKey)).status).toBe(200);
    const mistaken = await owner().call('POST', '/api/v1/me/password', {
      current_password: 'not it at all, sorry',
      new_password: 'a brand new phrase 2026 oak',
    });
    expect(mistaken.status).toBe(401);
    const weak = await owner().call('POST', '/api/v1/me/password', {
      current_password: OWNER_PASSWORD,
      new_password: 'owner@example.com',
    });
    expect(weak.body.error.code).toBe('AUTH_PASSWORD_REJECTED');
    const changed = await owner().call('POST', '/api/v1/me/password', {
      current_password: OWNER_PASSWORD,
      new_password: 'a brand new phrase 2026 oak',
    });
    expect(changed.status).toBe(204);
    expect((await laptop.call('GET', '/api/v1/me')).status).toBe(401);
    expect((await owner().call('GET', '/api/v1/me')).status).toBe(200);
    expect(await notices(OWNER)).toContain('password_changed');
    expect(
      (await new AccountClient(s.server.url, ORIGIN).login(OWNER, OWNER_PASSWORD)).status,
    ).toBe(401);
    expect(
      (await new AccountClient(s.server.url, ORIGIN).login(OWNER, 'a brand new phrase 2026 oak'))
        .status,
    ).toBe(200);
  });

  it('recovers a member who lost every factor: reset, new link, new factor', async () => {
    advance(30_000);
    await owner().loginWithPasskey(OWNER, 'a brand new phrase 2026 oak', ownerKey);
    const analystId = (await s.server.runtime.auth.store.findUserByEmail(ANALYST))?.id ?? '';
    const reset = await owner().call('POST', `/api/v1/orgs/${orgId}/members/${analystId}/reset`);
    expect(reset.status).toBe(201);
    // No SMTP here: the link is shown to the owner, and the membership waits for the operator.
    expect(reset.body).toMatchObject({ delivery: 'shown', membership_suspended: true });
    const lost = await analyst.loginWithTotp(
      ANALYST,
      ANALYST_PASSWORD,
      analystSecret,
      clock + 30_000,
    );
    expect(lost.status).toBe(401);
    const fresh = new AccountClient(s.server.url, ORIGIN);
    const key = new SoftwareAuthenticator();
    const back = await fresh.setUpWithPasskey(reset.body.link, 'a whole new start 77 pine', key);
    expect(back.status).toBe(200);
    expect(back.body.organisations).toEqual([{ id: orgId, name: 'Acme', role: 'analyst' }]);
    expect(await notices(ANALYST)).toContain('account_reset');
  });

  it('publishes an OpenAPI document that lists every route with its permission', async () => {
    const doc = await new AccountClient(s.server.url, ORIGIN).call('GET', '/api/v1/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    const lockdown = doc.body.paths['/api/v1/orgs/{orgId}/lockdown'].post;
    expect(lockdown['x-sillage-roles']).toEqual(['owner']);
    const keys = doc.body.paths['/api/v1/projects/{projectId}/keys'].post;
    expect(keys['x-sillage-step-up']).toBe(true);
    expect(keys.requestBody.content['application/json'].schema.properties.scopes).toBeDefined();
    expect(doc.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    // A valid OpenAPI 3.1 document (checked by a real validator, not by shape).
    const verdict = await validate(structuredClone(doc.body));
    expect(verdict.valid ? [] : compileErrors(verdict)).toEqual([]);
    expect(doc.headers.get('referrer-policy')).toBe('no-referrer');
  });
});
