// The 2025 breach, replayed: an attacker has an admin's password and relays a valid TOTP code
// from a phishing page, but has no passkey. Under the default policy they may sign in but cannot
// export raw data or create keys (nor buy a passkey that would let them); under a passkey-required
// policy they cannot sign in at all. A passkey assertion relayed from the phishing origin fails.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCreate } from '../src/cli/admin-commands.js';
import { AccountClient } from './helpers/account-client.js';
import { SoftwareAuthenticator } from './helpers/authenticator.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';
import { totpCode } from '../src/auth/totp.js';

const ORIGIN = 'http://localhost:8443';
const PHISHING_ORIGIN = 'https://sillage-login.example.net';
const OWNER = 'owner@example.com';
const OWNER_PASSWORD = 'harbour violet engine 4410 mist';
const VICTIM = 'admin@example.com';
const VICTIM_PASSWORD = 'copper meadow sixty rails 9';

describe('phishing: password plus a relayed TOTP code is not enough', () => {
  let s: InProcess;
  let clock = 0;
  let orgId = '';
  let totpSecret = '';
  const ownerKey = new SoftwareAuthenticator();
  const victimKey = new SoftwareAuthenticator();
  let owner: AccountClient;
  let victim: AccountClient;
  const projectPath = (): string => `/api/v1/projects/${s.project.project_id}`;

  beforeAll(async () => {
    s = await startInProcess({ SILLAGE_PUBLIC_URL: ORIGIN });
    clock = Date.now();
    s.server.runtime.auth.now = () => clock;
    owner = new AccountClient(s.server.url, ORIGIN);
    victim = new AccountClient(s.server.url, ORIGIN);

    const created = await adminCreate(s.server.runtime, { email: OWNER, org: 'Acme' });
    orgId = created.org_id;
    expect(
      (await owner.setUpWithPasskey(created.setup_link, OWNER_PASSWORD, ownerKey)).status,
    ).toBe(200);
    const invited = await owner.call('POST', `/api/v1/orgs/${orgId}/invitations`, {
      email: VICTIM,
      role: 'admin',
    });
    // The victim has a passkey and, as many people do, an authenticator app as a fallback.
    expect(
      (await victim.setUpWithPasskey(invited.body.link, VICTIM_PASSWORD, victimKey)).status,
    ).toBe(200);
    const started = await victim.call('POST', '/api/v1/me/totp', { label: 'phone' });
    expect(started.status).toBe(201);
    totpSecret = started.body.secret as string;
    const confirmed = await victim.call(
      'POST',
      `/api/v1/me/totp/${started.body.factor_id}/confirm`,
      {
        code: await totpCode(totpSecret, clock),
      },
    );
    expect(confirmed.status).toBe(200);
  });
  afterAll(async () => {
    await s.close();
  });

  it('default policy: the attacker signs in but cannot export, create keys or disable the passkey', async () => {
    clock += 30_000;
    const attacker = new AccountClient(s.server.url, ORIGIN);
    // The phishing page forwards the password and the code the victim typed, in real time.
    const signedIn = await attacker.loginWithTotp(VICTIM, VICTIM_PASSWORD, totpSecret, clock);
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.session.method).toBe('totp');

    const exported = await attacker.call(
      'GET',
      `${projectPath()}/export?from=2020-01-01&to=2030-01-01`,
    );
    expect(exported.status).toBe(403);
    expect(exported.body.error.code).toBe('AUTH_STEP_UP_REQUIRED');
    const key = await attacker.call('POST', `${projectPath()}/keys`, {
      name: 'x',
      scopes: ['export'],
    });
    expect(key.body.error.code).toBe('AUTH_STEP_UP_REQUIRED');

    // A second relayed code does not count as step-up for these actions.
    clock += 30_000;
    const totpStep = await attacker.call('POST', '/api/v1/auth/step-up', {
      method: 'totp',
      code: await totpCode(totpSecret, clock),
    });
    expect(totpStep.status).toBe(200);
    expect(totpStep.body.sufficient_for_sensitive_actions).toBe(false);
    expect(
      (await attacker.call('GET', `${projectPath()}/export?from=2020-01-01&to=2030-01-01`)).body
        .error.code,
    ).toBe('AUTH_STEP_UP_REQUIRED');

    // Enrolling the attacker's own passkey is allowed (a code was just checked) but it counts
    // only after 24 hours, and the victim is told at once.
    const attackerKey = new SoftwareAuthenticator();
    const options = await attacker.call('POST', '/api/v1/me/passkeys/options');
    expect(options.status).toBe(200);
    const added = await attacker.call('POST', '/api/v1/me/passkeys', {
      response: attackerKey.createCredential(options.body.passkey, ORIGIN),
      label: 'totally mine',
    });
    expect(added.status).toBe(201);
    expect(Date.parse(added.body.usable_from)).toBeGreaterThanOrEqual(clock + 24 * 3_600_000);
    const kinds = (
      await s.server.runtime.auth.store.listNotices(
        (await s.server.runtime.auth.store.findUserByEmail(VICTIM))?.id ?? '',
        20,
      )
    ).map((n) => n.kind);
    expect(kinds.filter((k) => k === 'factor_added').length).toBeGreaterThanOrEqual(3);
    const stepUp = await attacker.call('POST', '/api/v1/auth/step-up/options');
    // Only the victim's own (trusted) passkey is offered; the attacker's cannot answer.
    expect(() => attackerKey.getAssertion(stepUp.body.passkey, ORIGIN)).toThrow();
    const forced = attackerKey.getAssertion(
      { ...stepUp.body.passkey, allowCredentials: [] },
      ORIGIN,
    );
    const refused = await attacker.call('POST', '/api/v1/auth/step-up', {
      method: 'passkey',
      response: forced,
    });
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('AUTH_WEBAUTHN_INVALID');
    expect(
      (await attacker.call('POST', `${projectPath()}/keys`, { name: 'x', scopes: ['export'] })).body
        .error.code,
    ).toBe('AUTH_STEP_UP_REQUIRED');
    // Removing the victim's passkey needs step-up too.
    const me = await attacker.call('GET', '/api/v1/me');
    const passkey = me.body.factors.find((f: { label: string }) => f.label === 'Test key');
    const removal = await attacker.call('DELETE', `/api/v1/me/factors/${passkey.id}`);
    expect(removal.body.error.code).toBe('AUTH_STEP_UP_REQUIRED');

    // The real person, with the real passkey, can do what the attacker could not.
    clock += 30_000;
    expect((await victim.loginWithPasskey(VICTIM, VICTIM_PASSWORD, victimKey)).status).toBe(200);
    const real = await victim.call('GET', `${projectPath()}/export?from=2020-01-01&to=2030-01-01`);
    expect(real.status).toBe(200);
    expect(real.headers.get('content-type')).toContain('application/x-ndjson');
  });

  it('a passkey assertion relayed from the phishing origin is refused', async () => {
    clock += 30_000;
    const attacker = new AccountClient(s.server.url, ORIGIN);
    const started = await attacker.login(VICTIM, VICTIM_PASSWORD);
    // The victim's browser answers the challenge on the phishing page: it names that origin.
    const relayed = victimKey.getAssertion(started.body.passkey, PHISHING_ORIGIN);
    const verify = await attacker.call('POST', '/api/v1/auth/login/verify', {
      login_token: started.body.login_token,
      method: 'passkey',
      response: relayed,
    });
    expect(verify.status).toBe(401);
    expect(verify.body.error.code).toBe('AUTH_WEBAUTHN_INVALID');
    // And for the phishing site's own RP ID the victim has no credential at all.
    expect(() =>
      victimKey.getAssertion(
        { ...started.body.passkey, rpId: 'sillage-login.example.net' },
        PHISHING_ORIGIN,
      ),
    ).toThrow();
  });

  it('passkey-required policy: password plus a valid TOTP code cannot sign in', async () => {
    clock += 30_000;
    expect((await owner.loginWithPasskey(OWNER, OWNER_PASSWORD, ownerKey)).status).toBe(200);
    const policy = await owner.call('PUT', `/api/v1/orgs/${orgId}/policy`, {
      require_passkeys: 'everyone',
      allow_totp_step_up: false,
      session_idle_minutes: 15,
      session_absolute_hours: 12,
    });
    expect(policy.status).toBe(200);
    // Everyone here has a passkey: nobody is shut out by the new policy.
    expect(policy.body.members_without_passkey).toEqual([]);

    clock += 30_000;
    const attacker = new AccountClient(s.server.url, ORIGIN);
    const started = await attacker.login(VICTIM, VICTIM_PASSWORD);
    expect(started.status).toBe(200);
    expect(started.body.methods).toEqual(['passkey']);
    const viaTotp = await attacker.call('POST', '/api/v1/auth/login/verify', {
      login_token: started.body.login_token,
      method: 'totp',
      code: await totpCode(totpSecret, clock),
    });
    expect(viaTotp.status).toBe(403);
    expect(viaTotp.body.error.code).toBe('AUTH_PASSKEY_REQUIRED');
    expect(attacker.cookies.has('__Host-sillage_session')).toBe(false);
    const viaRecovery = await attacker.call('POST', '/api/v1/auth/login/verify', {
      login_token: started.body.login_token,
      method: 'recovery_code',
      code: 'aaaa-bbbb-cccc-dddd-eeee-ffff',
    });
    expect(viaRecovery.body.error.code).toBe('AUTH_PASSKEY_REQUIRED');
    expect((await attacker.call('GET', '/api/v1/me')).status).toBe(401);

    // The victim with the passkey still signs in, with the stricter idle timeout.
    clock += 30_000;
    const real = await victim.loginWithPasskey(VICTIM, VICTIM_PASSWORD, victimKey);
    expect(real.status).toBe(200);
    expect(real.body.session.idle_timeout_seconds).toBe(15 * 60);
  });
});
