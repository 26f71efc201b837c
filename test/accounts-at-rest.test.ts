// A stolen copy of the data directory gives no way in: no password, TOTP seed, session, device,
// CSRF or login token, recovery code, setup link or secret key is on disk in a usable form (only
// hashes and sealed values), and none reaches a log line either.
import { afterAll, describe, expect, it } from 'vitest';
import { totpCode } from '../src/auth/totp.js';
import { adminCreate } from '../src/cli/admin-commands.js';
import { AccountClient, linkToken } from './helpers/account-client.js';
import { SoftwareAuthenticator } from './helpers/authenticator.js';
import { dumpAllTables, searchCanaries } from './helpers/canary.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

const ORIGIN = 'http://localhost:8443';
const PASSWORD = 'juniper atlas 6120 slow river';
const ANALYST_PASSWORD = 'ember quarry 3390 pale lagoon';

describe('account secrets at rest and in logs', () => {
  let s: InProcess | undefined;
  afterAll(async () => {
    await s?.close();
  });

  it('keeps only hashes and sealed values', async () => {
    s = await startInProcess({ SILLAGE_PUBLIC_URL: ORIGIN });
    // The requests come from 127.0.0.1: a sign-in's address is never kept either.
    const secrets: string[] = [PASSWORD, ANALYST_PASSWORD, '127.0.0.1'];
    const created = await adminCreate(s.server.runtime, {
      email: 'owner@example.com',
      org: 'Acme',
    });
    secrets.push(linkToken(created.setup_link));
    const key = new SoftwareAuthenticator();
    const owner = new AccountClient(s.server.url, ORIGIN);
    const setup = await owner.setUpWithPasskey(created.setup_link, PASSWORD, key);
    expect(setup.status).toBe(200);
    secrets.push(...(setup.body.recovery_codes as string[]));

    const invited = await owner.call('POST', `/api/v1/orgs/${created.org_id}/invitations`, {
      email: 'analyst@example.com',
      role: 'analyst',
    });
    secrets.push(linkToken(invited.body.link));
    const analyst = new AccountClient(s.server.url, ORIGIN);
    const { answer, secret } = await analyst.setUpWithTotp(
      invited.body.link,
      ANALYST_PASSWORD,
      Date.now(),
    );
    expect(answer.status).toBe(200);
    secrets.push(secret, ...(answer.body.recovery_codes as string[]));

    const login = await owner.login('owner@example.com', PASSWORD);
    secrets.push(login.body.login_token as string);
    const verified = await owner.call('POST', '/api/v1/auth/login/verify', {
      login_token: login.body.login_token,
      method: 'passkey',
      response: key.getAssertion(login.body.passkey, ORIGIN),
    });
    expect(verified.status).toBe(200);
    const keyAnswer = await owner.call('POST', `/api/v1/projects/${s.project.project_id}/keys`, {
      name: 'ci',
      scopes: ['query', 'export'],
    });
    expect(keyAnswer.status).toBe(201);
    secrets.push(keyAnswer.body.secret as string, s.project.secret);
    for (const client of [owner, analyst]) {
      secrets.push(...client.cookies.values());
      if (client.csrf) secrets.push(client.csrf);
    }
    // A code that was valid when entered: the seed matters, but so should the codes be absent.
    secrets.push(await totpCode(secret, Date.now()));

    const logs = s.logLines.join('\n');
    const dataDir = s.dataDir;
    await s.close();
    s = undefined;
    // Every file's bytes, and a readable dump of every table (a text column is searchable there
    // even when the file stores it compressed).
    const found = searchCanaries(
      secrets.filter((x) => x.length >= 6),
      { logs, tables: await dumpAllTables(dataDir) },
      dataDir,
    );
    expect(found).toEqual([]);
    // The e-mail addresses are account data (sign-in names, notice addresses): never in logs.
    expect(logs).not.toContain('owner@example.com');
    expect(logs).not.toContain('analyst@example.com');
    expect(logs).not.toContain('127.0.0.1');
  });
});
