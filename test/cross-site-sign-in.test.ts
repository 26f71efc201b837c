// Red team: signing a victim's browser in to the attacker's own account (login CSRF). The
// attacker, a tenant with an account of their own, starts a sign-in (or a setup) themselves and
// has the victim's browser send the last step from a page of theirs — an HTML form can post a
// JSON body as text/plain without any preflight. The answer's Set-Cookie would leave the victim's
// browser in the attacker's account: whatever the victim then saves, creates or uploads in what
// looks like their dashboard goes to the attacker. Over real HTTP on loopback, real server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE, type AuthDeps } from '../src/auth/index.js';
import { totpCode } from '../src/auth/totp.js';
import { AccountClient } from './helpers/account-client.js';
import { mintMember, mintOrg, mintSession } from './helpers/fixtures.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

const PASSWORD = 'the attacker chose this long passphrase 2026';
const EVIL = 'https://evil.example';

let s: InProcess;
let auth: AuthDeps;
let origin: string;
// TOTP codes are accepted once per time step: the test moves the account clock.
let clock = 0;

beforeAll(async () => {
  s = await startInProcess({ SILLAGE_PUBLIC_URL: 'https://analytics.example' });
  auth = s.server.runtime.auth;
  origin = new URL(auth.settings.publicUrl).origin;
  clock = Date.now();
  auth.now = () => clock;
}, 60_000);

afterAll(async () => {
  await s?.close();
});

/** A link for `email` to join a fresh organisation. */
async function invitationLink(email: string): Promise<string> {
  const org = await mintOrg(auth, `Org of ${email}`);
  const owner = await mintMember(auth, org.id, 'owner', `owner-of-${email}`);
  const asOwner = await mintSession(auth, owner);
  const res = await fetch(`${s.server.url}/api/v1/orgs/${org.id}/invitations`, {
    method: 'POST',
    headers: {
      cookie: `${SESSION_COOKIE}=${asOwner.token}`,
      origin,
      'x-csrf-token': asOwner.csrf,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ email, role: 'analyst' }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { link: string }).link;
}

/** What the attacker's page makes the victim's browser send: a form posting text/plain. */
async function fromEvilPage(path: string, body: unknown): Promise<Response> {
  return fetch(`${s.server.url}${path}`, {
    method: 'POST',
    headers: {
      origin: EVIL,
      'sec-fetch-site': 'cross-site',
      'content-type': 'text/plain',
    },
    body: JSON.stringify(body),
  });
}

const sessionCookieOf = (res: Response): string[] =>
  res.headers
    .getSetCookie()
    .filter((c) => c.startsWith(`${SESSION_COOKIE}=`) && !/Max-Age=0/.test(c));

describe('a sign-in finished from another site', () => {
  it("does not leave the victim's browser signed in to the attacker's account", async () => {
    const attacker = new AccountClient(s.server.url, origin);
    const email = 'attacker@evil.example';
    const { answer, secret } = await attacker.setUpWithTotp(
      await invitationLink(email),
      PASSWORD,
      clock,
    );
    expect(answer.status).toBe(200);
    clock += 30_000;
    const started = await attacker.login(email, PASSWORD);
    expect(started.status).toBe(200);
    const res = await fromEvilPage('/api/v1/auth/login/verify', {
      login_token: started.body.login_token,
      method: 'totp',
      code: await totpCode(secret, clock),
    });
    const text = await res.text();
    expect(sessionCookieOf(res), text).toEqual([]);
    expect(res.status, text).toBe(403);
    expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe('AUTH_CSRF_INVALID');
  });

  it('nor an account setup the attacker began with a link of their own', async () => {
    const attacker = new AccountClient(s.server.url, origin);
    const accepted = await attacker.accept(
      await invitationLink('attacker-setup@evil.example'),
      PASSWORD,
    );
    expect(accepted.status).toBe(200);
    const setupToken = accepted.body.setup_token as string;
    const started = await attacker.call('POST', '/api/v1/auth/setup/totp', {
      setup_token: setupToken,
    });
    expect(started.status).toBe(200);
    clock += 30_000;
    const res = await fromEvilPage('/api/v1/auth/setup/complete', {
      setup_token: setupToken,
      method: 'totp',
      code: await totpCode(started.body.secret as string, clock),
    });
    const text = await res.text();
    expect(sessionCookieOf(res), text).toEqual([]);
    expect(res.status, text).toBe(403);
    // The same steps from the Sillage page itself still work.
    const own = await attacker.call('POST', '/api/v1/auth/setup/complete', {
      setup_token: setupToken,
      method: 'totp',
      code: await totpCode(started.body.secret as string, clock),
    });
    expect(own.status).toBe(200);
  });
});
