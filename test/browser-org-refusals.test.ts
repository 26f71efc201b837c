// What the dashboard says, in Chromium (Debian's, virtual WebAuthn authenticator) against a real
// server, when an organisation refuses a session that is still open: one signed in with an
// authenticator-app code once the owner requires passkeys (AUTH_PASSKEY_REQUIRED — the passkey it
// has lifts the refusal in one step; an account with none is told what will), and one whose access
// the organisation ended (AUTH_ORG_ACCESS_ENDED — signing in again restores it). The sessions list
// shows the end the server will enforce after the owner shortens the sessions.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../src/auth/totp.js';
import { AccountClient, linkToken } from './helpers/account-client.js';
import { SoftwareAuthenticator } from './helpers/authenticator.js';
import { launchChromium } from './helpers/browser.js';
import { addVirtualPasskey, checkAccessibility, pageApi } from './helpers/dashboard.js';
import {
  createProject,
  freePort,
  makeTestEnv,
  runCli,
  startServerProcess,
  type ServerProcess,
} from './helpers/server.js';
import { pollUntil } from './helpers/wait.js';

const PASSWORD = 'velvet compass 4417 under rain';
const OWNER = 'owner@acme.example';
/** Has a passkey (in the page's virtual authenticator) and an authenticator app. */
const ANALYST = 'analyst@acme.example';
/** Has an authenticator app only. */
const CODER = 'coder@acme.example';

/** Waits for the next 30-second TOTP step: a code counts once. */
async function nextTotpStep(): Promise<void> {
  const step = Math.floor(Date.now() / 30_000);
  await pollUntil('the next authenticator code', () => Math.floor(Date.now() / 30_000) > step, {
    timeoutMs: 35_000,
    intervalMs: 250,
  });
}

describe('an organisation refusing an open session, in the dashboard', () => {
  let server: ServerProcess;
  let browser: Browser;
  let origin = '';
  let t: ReturnType<typeof makeTestEnv>;
  let owner: AccountClient;
  const ownerKey = new SoftwareAuthenticator();
  let acmeId = '';
  let analystId = '';
  let analystSecret = '';
  let coderSecret = '';
  let analystContext: BrowserContext;
  let analyst: Page;
  let coderContext: BrowserContext;
  let coder: Page;

  /** Signs in on the dashboard's sign-in screen with an authenticator-app code. */
  const signInWithCode = async (p: Page, email: string, secret: string): Promise<void> => {
    await p.fill('#signin-email', email);
    await p.fill('#signin-password', PASSWORD);
    await p.click('button:has-text("Continue")');
    await p.fill('#signin-code', await totpCode(secret, Date.now()));
    await p.click('button:has-text("Sign in with the code")');
    await p.waitForSelector('.who', { timeout: 15_000 });
  };

  beforeAll(async () => {
    const port = await freePort();
    origin = `http://localhost:${port}`;
    t = makeTestEnv({ SILLAGE_PUBLIC_URL: origin });
    server = await startServerProcess(t, { port });
    const created = JSON.parse(
      await runCli(t, ['admin', 'create', '--email', OWNER, '--org', 'Acme', '--json']),
    ) as { setup_link: string };
    owner = new AccountClient(server.url, origin);
    const set = await owner.setUpWithPasskey(created.setup_link, PASSWORD, ownerKey);
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    acmeId = set.body.organisations[0].id as string;
    await createProject(t, 'Shop');
    const invite = async (email: string): Promise<string> => {
      const made = await owner.call('POST', `/api/v1/orgs/${acmeId}/invitations`, {
        email,
        role: 'analyst',
      });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      return made.body.link as string;
    };

    browser = await launchChromium(['localhost']);
    // The analyst sets up with a passkey in the browser, then adds an authenticator app.
    analystContext = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    analyst = await analystContext.newPage();
    await addVirtualPasskey(analystContext, analyst);
    await analyst.goto(await invite(ANALYST));
    await analyst.fill('#password', PASSWORD);
    await analyst.click('#password-form button');
    await analyst.waitForSelector('#factor:not([hidden])');
    await analyst.click('#passkey-button');
    await analyst.waitForSelector('#done:not([hidden])', { timeout: 15_000 });
    const started = await pageApi(analyst, 'POST', '/api/v1/me/totp', { label: 'Phone' });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    analystSecret = started.body.secret as string;
    const confirmed = await pageApi(
      analyst,
      'POST',
      `/api/v1/me/totp/${started.body.factor_id as string}/confirm`,
      { code: await totpCode(analystSecret, Date.now()) },
    );
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    analystId = (await pageApi(analyst, 'GET', '/api/v1/me')).body.user.id as string;
    await pageApi(analyst, 'POST', '/api/v1/auth/logout');

    // The coder sets up with an authenticator app only.
    const coderClient = new AccountClient(server.url, origin);
    const coderSetUp = await coderClient.setUpWithTotp(await invite(CODER), PASSWORD, Date.now());
    expect(coderSetUp.answer.status, JSON.stringify(coderSetUp.answer.body)).toBe(200);
    coderSecret = coderSetUp.secret;

    // Both sign in to the dashboard with a code (the next one: each counts once).
    await nextTotpStep();
    await analyst.goto(origin);
    await signInWithCode(analyst, ANALYST, analystSecret);
    coderContext = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    coder = await coderContext.newPage();
    await coder.goto(origin);
    await signInWithCode(coder, CODER, coderSecret);
    for (const p of [analyst, coder]) {
      await p.waitForSelector('nav[aria-label="Main"] a[aria-current="page"]');
      expect((await pageApi(p, 'GET', '/api/v1/auth/session')).body.session.method).toBe('totp');
    }

    // The owner requires passkeys of everyone and shortens the sessions to one hour.
    const policy = await owner.call('PUT', `/api/v1/orgs/${acmeId}/policy`, {
      require_passkeys: 'everyone',
      allow_totp_step_up: false,
      session_idle_minutes: 30,
      session_absolute_hours: 1,
    });
    expect(policy.status, JSON.stringify(policy.body)).toBe(200);
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop('SIGKILL');
  });

  it('tells a code session that the organisation now requires a passkey, and its passkey lifts the refusal', async () => {
    await analyst.reload();
    const dialog = analyst.locator('dialog[open]');
    await dialog.waitFor({ timeout: 15_000 });
    expect(await dialog.locator('h2').textContent()).toBe('Your organisation requires a passkey');
    expect(await dialog.textContent()).toContain('signed in with a code');
    // Codes do not count here: only the passkey is offered.
    expect(await dialog.locator('#step-up-code').count()).toBe(0);
    await checkAccessibility(analyst, 'passkey required (dialog)');
    await dialog.locator('button:has-text("Confirm with passkey")').click();
    // The refused call (the organisation's projects) is retried and the dashboard opens.
    await analyst.waitForSelector('nav[aria-label="Main"] a[aria-current="page"]', {
      timeout: 15_000,
    });
    expect(await analyst.isVisible('dialog[open]')).toBe(false);
    const projects = await pageApi(analyst, 'GET', `/api/v1/orgs/${acmeId}/projects`);
    expect(projects.status).toBe(200);
  });

  it('lists the session with the end the shortened policy gives it', async () => {
    await analyst.click('nav a:has-text("Security")');
    await analyst.waitForSelector('#session-list li');
    const listed = await pageApi(analyst, 'GET', '/api/v1/me/sessions');
    const current = listed.body.sessions.find((s: { current: boolean }) => s.current);
    expect(Date.parse(current.expires_at)).toBe(Date.parse(current.created_at) + 3_600_000);
    expect(
      await analyst.getAttribute(
        `#session-list li[data-session="${current.id as string}"] time.session-end`,
        'datetime',
      ),
    ).toBe(current.expires_at);
  });

  it('tells an account without a passkey what will let it in, here and at sign-in', async () => {
    await coder.reload();
    const dialog = coder.locator('dialog[open]');
    await dialog.waitFor({ timeout: 15_000 });
    expect(await dialog.locator('h2').textContent()).toBe('Your organisation requires a passkey');
    await dialog.locator('#step-up-no-passkey').waitFor();
    expect(await dialog.locator('#step-up-no-passkey').textContent()).toContain(
      'reset your sign-in',
    );
    expect(await dialog.locator('button:has-text("Confirm with passkey")').count()).toBe(0);
    await dialog.locator('button:has-text("Cancel")').click();
    // Cancelled: the refusal stays, worded, with what to do.
    const alert = coder.locator('main [role="alert"]');
    await alert.waitFor();
    expect(await alert.textContent()).toContain('Your organisation requires a passkey');
    await checkAccessibility(coder, 'passkey required (no passkey)');
    // Signing in again offers nothing a code could use, and says why.
    await coder.click('text=Sign out');
    await coder.fill('#signin-email', CODER);
    await coder.fill('#signin-password', PASSWORD);
    await coder.click('button:has-text("Continue")');
    await coder.waitForSelector('#signin-no-factor');
    expect(await coder.textContent('#signin-no-factor')).toContain('requires a passkey');
    expect(await coder.isVisible('#signin-code')).toBe(false);
  });

  it('offers to sign in again when the organisation ended the session, and that restores it', async () => {
    // The analyst also belongs to a second organisation, so that Acme ending the analyst's
    // sessions ends their access to Acme only (the session goes on for the other).
    const beta = JSON.parse(
      await runCli(t, [
        'admin',
        'create',
        '--email',
        'owner@beta.example',
        '--org',
        'Beta',
        '--json',
      ]),
    ) as { setup_link: string };
    const betaOwner = new AccountClient(server.url, origin);
    const betaSet = await betaOwner.setUpWithPasskey(
      beta.setup_link,
      PASSWORD,
      new SoftwareAuthenticator(),
    );
    expect(betaSet.status, JSON.stringify(betaSet.body)).toBe(200);
    const betaId = betaSet.body.organisations[0].id as string;
    const invited = await betaOwner.call('POST', `/api/v1/orgs/${betaId}/invitations`, {
      email: ANALYST,
      role: 'analyst',
    });
    expect(invited.status, JSON.stringify(invited.body)).toBe(201);
    const joined = await pageApi(analyst, 'POST', '/api/v1/auth/invitations/accept', {
      token: linkToken(invited.body.link as string),
    });
    expect(joined.body?.status, JSON.stringify(joined.body)).toBe('joined');

    // An owner of Acme ends the analyst's sessions there (a lost laptop, say).
    expect((await owner.stepUpWithPasskey(ownerKey)).status).toBe(200);
    const ended = await owner.call(
      'POST',
      `/api/v1/orgs/${acmeId}/members/${analystId}/sessions/revoke`,
    );
    expect([ended.status, ended.body?.sessions_revoked]).toEqual([200, 1]);

    await analyst.evaluate((id) => localStorage.setItem('sillage.org', id), acmeId);
    await analyst.goto(origin);
    await analyst.reload();
    const alert = analyst.locator('main [role="alert"]');
    await alert.waitFor({ timeout: 15_000 });
    expect(await alert.textContent()).toContain('Sign in again to go on');
    // Retrying would only be refused again: the one way on is offered instead.
    expect(await alert.locator('button:has-text("Retry")').count()).toBe(0);
    await checkAccessibility(analyst, 'organisation access ended');
    await alert.locator('button:has-text("Sign in again")').click();
    await analyst.waitForSelector('#signin-email');
    await analyst.fill('#signin-email', ANALYST);
    await analyst.fill('#signin-password', PASSWORD);
    await analyst.click('button:has-text("Continue")');
    await analyst.click('button:has-text("Use your passkey")');
    await analyst.waitForSelector('nav[aria-label="Main"] a[aria-current="page"]', {
      timeout: 15_000,
    });
    expect((await pageApi(analyst, 'GET', `/api/v1/orgs/${acmeId}/projects`)).status).toBe(200);
  });
});
