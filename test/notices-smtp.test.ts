// Notices by e-mail end to end: a real SMTP server on loopback receives what the account system
// sends when a factor is added, a sign-in comes from a new device, and the organisation is locked
// down; the in-app list has the same notices.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCreate } from '../src/cli/admin-commands.js';
import { AccountClient } from './helpers/account-client.js';
import { SoftwareAuthenticator } from './helpers/authenticator.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';
import { startSmtpSink, type Mail, type SmtpSink } from './helpers/smtp-sink.js';
import { pollUntil } from './helpers/wait.js';

const ORIGIN = 'http://localhost:8443';
const OWNER = 'owner@example.com';
const PASSWORD = 'saffron kettle 73 northern gale';

describe('security notices by e-mail', () => {
  let sink: SmtpSink;
  let received: Mail[] = [];
  let s: InProcess;

  beforeAll(async () => {
    sink = await startSmtpSink();
    received = sink.received;
    s = await startInProcess({ SILLAGE_PUBLIC_URL: ORIGIN, ...sink.env });
  });
  afterAll(async () => {
    await s.close();
    await sink.close();
  });

  it('e-mails the account and keeps the notice in the in-app list', async () => {
    const created = await adminCreate(s.server.runtime, { email: OWNER, org: 'Acme' });
    const key = new SoftwareAuthenticator();
    const owner = new AccountClient(s.server.url, ORIGIN);
    expect((await owner.setUpWithPasskey(created.setup_link, PASSWORD, key)).status).toBe(200);

    const added = await pollUntil('the factor-added e-mail', () =>
      received.find((m) => /Subject: .*(passkey|factor)/i.test(m.raw)),
    );
    expect(added.to).toEqual([OWNER]);
    expect(added.raw).toMatch(/wasn't you|was not you/i);
    expect(added.raw).toContain(ORIGIN);

    // A sign-in from a browser without the device cookie: a new device.
    const elsewhere = new AccountClient(
      s.server.url,
      ORIGIN,
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    );
    expect((await elsewhere.loginWithPasskey(OWNER, PASSWORD, key)).status).toBe(200);
    const device = await pollUntil('the new-device e-mail', () =>
      received.find((m) => /new device|new sign-in/i.test(m.raw)),
    );
    expect(device.raw).toMatch(/Chrome 131/);

    const lockdown = await elsewhere.call('POST', `/api/v1/orgs/${created.org_id}/lockdown`);
    expect(lockdown.status).toBe(200);
    await pollUntil('the lock-down e-mail', () => received.find((m) => /lock/i.test(m.raw)));

    const store = s.server.runtime.auth.store;
    const user = await store.findUserByEmail(OWNER);
    const kinds = (await store.listNotices(user?.id ?? '', 20)).map((n) => n.kind);
    expect(kinds).toEqual(expect.arrayContaining(['factor_added', 'new_device', 'lockdown']));
    // Nothing secret travels by e-mail: no session token, no password.
    for (const mail of received) {
      expect(mail.raw).not.toContain(PASSWORD);
      expect(mail.raw).not.toContain(owner.cookies.get('__Host-sillage_session') ?? 'never');
    }
  });
});
