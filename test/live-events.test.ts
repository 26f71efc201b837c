// Live events over HTTP (real server, real DuckDB): the newest events exactly as stored (scrubbed,
// pseudonymised), newest arrival first, `after` returning only what arrived since; each read on
// the record with the exact subjects shown; secret keys and other organisations refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCreate } from '../src/cli/admin-commands.js';
import { unpackSubjects } from '../src/audit/index.js';
import { AccountClient } from './helpers/account-client.js';
import { SoftwareAuthenticator } from './helpers/authenticator.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';
import { pollUntil } from './helpers/wait.js';

const ORIGIN = 'http://localhost:8443';
const EMAIL = 'owner@example.com';
const PASSWORD = 'lantern orchard 5521 quiet tide';

describe('live events', () => {
  let s: InProcess;
  let owner: AccountClient;
  const url = (query = ''): string =>
    `/api/v1/projects/${s.project.project_id}/events/latest${query}`;

  const track = async (event: string, distinctId: string, extra: object = {}): Promise<void> => {
    const body = JSON.stringify({
      event,
      properties: { token: s.project.token, distinct_id: distinctId, ...extra },
    });
    const res = await fetch(`${s.server.url}/track`, {
      method: 'POST',
      body: 'data=' + encodeURIComponent(body),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(await res.text()).toBe('1');
  };

  beforeAll(async () => {
    s = await startInProcess({ SILLAGE_PUBLIC_URL: ORIGIN });
    owner = new AccountClient(s.server.url, ORIGIN);
    const created = await adminCreate(s.server.runtime, { email: EMAIL, org: 'Acme' });
    await s.server.runtime.auth.store.setProjectOrg(s.project.project_id, created.org_id);
    const signedUp = await owner.setUpWithPasskey(
      created.setup_link,
      PASSWORD,
      new SoftwareAuthenticator(),
    );
    expect(signedUp.status).toBe(200);
  });
  afterAll(async () => {
    await s.close();
  });

  it('answers the newest events as stored, newest first, and on the record', async () => {
    await track('Signed Up', 'alice-4711', { contact: 'alice@example.com', plan: 'pro' });
    await track('Page View', 'bob-1234');
    const answer = await pollUntil('two events live', async () => {
      const r = await owner.call('GET', url());
      return r.status === 200 && r.body.events.length === 2 ? r : undefined;
    });
    const [newest, older] = answer.body.events;
    expect([newest.event, older.event]).toEqual(['Page View', 'Signed Up']);
    // As stored: the raw id is a pseudonym, the e-mail a placeholder.
    expect(older.properties.distinct_id).toMatch(/^u_/);
    expect(older.properties.contact).toBe('[email]');
    expect(older.properties.plan).toBe('pro');
    expect(JSON.stringify(answer.body)).not.toMatch(/alice|bob-1234/);
    expect(Date.parse(newest.received_at)).toBeGreaterThanOrEqual(Date.parse(older.received_at));

    // The read is on the record: rows, event names, fields and exactly the subjects shown.
    const entries = await s.server.runtime.audit.store.scan({ kinds: ['live_events'] });
    const entry = entries.at(-1);
    expect(entry?.rows).toBe(2);
    expect(entry?.projectId).toBe(s.project.project_id);
    expect(JSON.parse(entry?.eventNames ?? '[]')).toEqual(
      expect.arrayContaining(['Page View', 'Signed Up']),
    );
    expect(JSON.parse(entry?.fields ?? '[]')).toContain('contact');
    expect(new Set(unpackSubjects(entry!.subjects))).toEqual(
      new Set([newest.properties.distinct_id, older.properties.distinct_id]),
    );

    // `after` answers only what arrived since; nothing new keeps the cursor.
    const cursor = answer.body.cursor as string;
    const none = await owner.call('GET', url(`?after=${cursor}`));
    expect(none.body).toEqual({ events: [], cursor });
    await track('Purchase', 'carol-9');
    const next = await pollUntil('the third event live', async () => {
      const r = await owner.call('GET', url(`?after=${cursor}`));
      return r.body.events.length === 1 ? r : undefined;
    });
    expect(next.body.events[0].event).toBe('Purchase');
    expect(next.body.cursor).not.toBe(cursor);

    // limit bounds the page.
    const one = await owner.call('GET', url('?limit=1'));
    expect(one.body.events.map((e: { event: string }) => e.event)).toEqual(['Purchase']);
  });

  it('refuses bad input precisely, secret keys, and strangers', async () => {
    expect((await owner.call('GET', url('?limit=0'))).status).toBe(400);
    expect((await owner.call('GET', url('?limit=201'))).status).toBe(400);
    const bad = await owner.call('GET', url('?after=bm90LWEtY3Vyc29y'));
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('REQUEST_INVALID');
    // The project's secret key (query-capable) is not let in: this is for the dashboard.
    const byKey = await fetch(s.server.url + url(), {
      headers: { authorization: `Bearer ${s.project.secret}` },
    });
    expect(byKey.status).toBe(403);
    // The public ingest token reads nothing (no bearer is let in here).
    const byToken = await fetch(s.server.url + url(), {
      headers: { authorization: `Bearer ${s.project.token}` },
    });
    expect(byToken.status).toBe(403);
    expect(JSON.stringify(await byToken.json())).not.toContain('Page View');
    // Nobody signed in.
    expect((await fetch(s.server.url + url())).status).toBe(401);
  });
});
