// Passkeys in a real browser: Debian's Chromium with its WebAuthn virtual authenticator (CDP) opens
// the setup link printed by `sillage admin create`, chooses a password, creates a passkey, gets
// recovery codes and a working session cookie; signs in again with the passkey; and, opened from
// another origin (a look-alike of the sign-in page behind a relay to the real server), the browser
// itself refuses to use the passkey.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './helpers/browser.js';
import {
  freePort,
  makeTestEnv,
  runCli,
  startServerProcess,
  type ServerProcess,
} from './helpers/server.js';

const EMAIL = 'owner@example.com';
const PASSWORD = 'velvet compass 4417 under rain';

describe('passkeys in Chromium', () => {
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let cdp: CDPSession;
  let origin = '';
  let authenticatorId = '';

  beforeAll(async () => {
    const port = await freePort();
    origin = `http://localhost:${port}`;
    const t = makeTestEnv({ SILLAGE_PUBLIC_URL: origin });
    server = await startServerProcess(t, { port });
    const created = JSON.parse(
      await runCli(t, ['admin', 'create', '--email', EMAIL, '--org', 'Acme', '--json']),
    ) as { setup_link: string };
    browser = await launchChromium(['localhost']);
    const context = await browser.newContext();
    page = await context.newPage();
    cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    }));
    await page.goto(created.setup_link);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop('SIGKILL');
  });

  it('sets the account up with a passkey from the setup link', async () => {
    // The token leaves the address bar as soon as the page has read it.
    expect(page.url()).toBe(`${origin}/setup`);
    await page.fill('#password', 'password1234');
    await page.click('#password-form button');
    // The answer is a round trip to a server busy with the rest of the suite: a wait as long as
    // the file's other waits, not the poll's default second (it ran out once under a full run).
    await expect
      .poll(() => page.textContent('#error'), { timeout: 20_000, interval: 100 })
      .toMatch(/common|guess|password/i);
    await page.fill('#password', PASSWORD);
    await page.click('#password-form button');
    await page.waitForSelector('#factor:not([hidden])');
    await page.click('#passkey-button');
    await page.waitForSelector('#done:not([hidden])', { timeout: 15_000 });
    expect(await page.textContent('#who')).toBe(EMAIL);
    const codes = (await page.textContent('#codes'))?.trim().split('\n') ?? [];
    expect(codes).toHaveLength(10);
    // The browser kept the __Host- session cookie: the API answers as the new owner.
    const me = await page.evaluate(async () => {
      const res = await fetch('/api/v1/me');
      return { status: res.status, body: (await res.json()) as { factors: { kind: string }[] } };
    });
    expect(me.status).toBe(200);
    expect(me.body.factors.map((f) => f.kind)).toEqual(['passkey']);
    const credentials = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials.credentials).toHaveLength(1);
    expect(credentials.credentials[0]?.rpId).toBe('localhost');
  });

  it('signs in again with the passkey', async () => {
    await page.context().clearCookies();
    await page.goto(`${origin}/login`);
    await page.fill('#email', EMAIL);
    await page.fill('#password', PASSWORD);
    await page.click('#login-form button');
    await page.waitForSelector('#passkey-button:not([hidden])');
    await page.click('#passkey-button');
    await page.waitForSelector('#done:not([hidden])', { timeout: 15_000 });
    expect(await page.textContent('#who')).toBe(EMAIL);
    expect(await page.textContent('#orgs')).toContain('Acme (owner)');
  });

  it('will not use the passkey for a page on another origin', async () => {
    // A phishing relay: a server of its own at another origin that forwards every request to the
    // real one and says what it likes in their headers (the server refuses a browser's sign-in
    // from another site — test/cross-site-sign-in.test.ts —, so the relay presents the real
    // origin). The password goes through; what must still stop it is the browser, which will
    // not use the passkey for this page.
    await page.context().clearCookies();
    const real = new URL(origin);
    const relay = http.createServer((req, res) => {
      const headers = { ...req.headers, host: real.host };
      if (headers.origin !== undefined) headers.origin = origin;
      delete headers['sec-fetch-site'];
      const upstream = http.request(
        { host: '127.0.0.1', port: real.port, path: req.url, method: req.method, headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const lookAlike = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
    try {
      await page.goto(`${lookAlike}/login`);
      await page.fill('#email', EMAIL);
      await page.fill('#password', PASSWORD);
      await page.click('#login-form button');
      await page.waitForSelector('#passkey-button:not([hidden])');
      await page.click('#passkey-button');
      // The browser refuses before any assertion exists (the RP ID does not match this origin).
      await expect
        .poll(() => page.textContent('#error'), { timeout: 15_000 })
        .toMatch(/relying party|RP ID|domain|not allowed|security/i);
      expect(await page.isHidden('#done')).toBe(true);
      const cookies = await page.context().cookies();
      expect(cookies.some((c) => c.name === '__Host-sillage_session')).toBe(false);
    } finally {
      relay.closeAllConnections();
      await new Promise((resolve) => relay.close(resolve));
    }
  });
});
