// Wire-level replay of mixpanel-python (PyPI `mixpanel` 5.3.0, mixpanel/mixpanel-python@176d855,
// mixpanel/__init__.py and mixpanel/credentials.py, read 2026-12-03): the SDK cannot be installed
// here (no PyPI), so each request is rebuilt byte for byte as `Consumer._write_request` sends it —
// POST, `requests` urlencoding of {data, verbose: 1, ip: 0[, api_key]}, `json.dumps` with
// separators (",", ":") and ensure_ascii, Basic auth only on /import — and each answer is read
// as the SDK reads it (`response.json()["status"] != 1` raises). Counts and unique users are then
// checked through the query API. Issue 10: every call crashed with TypeError before.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcess } from '../helpers/inprocess.js';
import {
  basicAuth,
  countEvent,
  groupProfiles,
  profileOfDoer,
  pythonForm,
  pythonJson,
  readAsMixpanelPython,
  send,
  type RawResponse,
} from '../helpers/sdk-wire.js';

const VERSION = '5.3.0';
/** A public address the bundled DB-IP database places in GB (the "backend's" address here). */
const BACKEND_IP = '81.2.69.142';
const HEADERS = {
  'User-Agent': 'python-requests/2.32.3',
  'Accept-Encoding': 'gzip, deflate',
  Accept: '*/*',
  Connection: 'keep-alive',
  'Content-Type': 'application/x-www-form-urlencoded',
  // The Python app runs behind a proxy Sillage trusts, so its address is the backend's.
  'X-Forwarded-For': BACKEND_IP,
};

let s: InProcess;
beforeAll(async () => {
  s = await startInProcess({ SILLAGE_TRUST_PROXY: '127.0.0.1/32' });
});
afterAll(async () => {
  await s.close();
});

const now = (): number => Date.now() / 1000; // time.time(): float seconds
const insertId = (): string => randomUUID().replaceAll('-', ''); // uuid.uuid4().hex

/** `Consumer.send(endpoint, json_message, api_key, api_secret)` with `credentials`, as sent. */
function consumerSend(
  endpoint: 'events' | 'people' | 'groups' | 'imports',
  jsonMessage: string,
  auth: { apiSecret?: string; apiKey?: string; account?: [string, string, string] } = {},
): Promise<RawResponse> {
  const path = { events: '/track', people: '/engage', groups: '/groups', imports: '/import' }[
    endpoint
  ];
  const fields: [string, string | number][] = [
    ['data', jsonMessage],
    ['verbose', 1],
    ['ip', 0],
  ];
  const headers: Record<string, string> = { ...HEADERS };
  let query = '';
  if (auth.account && endpoint === 'imports') {
    headers.Authorization = basicAuth(auth.account[0], auth.account[1]);
    query = `?project_id=${encodeURIComponent(auth.account[2])}`;
  } else if (auth.apiSecret !== undefined) {
    headers.Authorization = basicAuth(auth.apiSecret, '');
    if (auth.apiKey) fields.push(['api_key', auth.apiKey]);
  }
  return send(s.server.url, { path: path + query, headers, body: pythonForm(fields) });
}

const track = (distinctId: string, event: string, properties: Record<string, unknown> = {}) =>
  pythonJson({
    event,
    properties: {
      token: s.project.token,
      distinct_id: distinctId,
      time: now(),
      $insert_id: insertId(),
      mp_lib: 'python',
      $lib_version: VERSION,
      ...properties,
    },
  });

/** `Mixpanel.people_update` / `group_update`: `$token`, `$time` (float seconds), then the message. */
const update = (message: Record<string, unknown>) =>
  pythonJson({ $token: s.project.token, $time: now(), ...message });

async function expectOk(res: Promise<RawResponse>): Promise<RawResponse> {
  const answer = await res;
  expect(readAsMixpanelPython(answer), answer.text).toEqual({ kind: 'ok' });
  expect(answer.status).toBe(200);
  return answer;
}

describe('mixpanel-python 5.3 over the wire', () => {
  it('track: every call answers {"status":1,"error":null}, which the SDK accepts', async () => {
    const res = await expectOk(
      consumerSend('events', track('py-alice', 'py_signup', { plan: 'pro' })),
    );
    expect(JSON.parse(res.text)).toMatchObject({ status: 1, error: null });
    await expectOk(consumerSend('events', track('py-alice', 'py_view')));
    await expectOk(consumerSend('events', track('py-bob', 'py_view')));
    // Non-ASCII goes out as \u escapes (ensure_ascii): they decode to the same text.
    await expectOk(consumerSend('events', track('py-bob', 'py_view', { city_name: 'Zürich ☃' })));
    const views = await countEvent(s, 'py_view');
    expect(views).toMatchObject({ total: 3, users: 2 });
  });

  it('ip=0 in the body: the backend address is not used to geolocate', async () => {
    await expectOk(consumerSend('events', track('py-geo', 'py_geo')));
    const geo = await countEvent(s, 'py_geo', { breakdown: 'mp_country_code' });
    expect(geo.total).toBe(1);
    expect(geo.byBreakdown.get('GB')).toBeUndefined();
    // Control: the same request with ip=1 is geolocated from that address (the test can fail).
    const body = pythonForm([
      ['data', track('py-geo', 'py_geo_control')],
      ['verbose', 1],
      ['ip', 1],
    ]);
    await expectOk(send(s.server.url, { path: '/track', headers: HEADERS, body }));
    const control = await countEvent(s, 'py_geo_control', { breakdown: 'mp_country_code' });
    expect(control.byBreakdown.get('GB')).toBe(1);
  });

  it('BufferedConsumer: 120 events flush as 50 + 50 + 20, every batch accepted', async () => {
    const buffer = Array.from({ length: 120 }, (_, i) => track(`py-buf-${i % 12}`, 'py_buffered'));
    for (let at = 0; at < buffer.length; at += 50) {
      // `_flush_endpoint`: "[{}]".format(",".join(batch))
      await expectOk(consumerSend('events', `[${buffer.slice(at, at + 50).join(',')}]`));
    }
    expect(await countEvent(s, 'py_buffered')).toMatchObject({ total: 120, users: 12 });
  });

  it('people: $set, $set_once, $add, $append, $union, $remove, $unset, $delete', async () => {
    const who = { $distinct_id: 'py-alice' };
    const ops = [
      { ...who, $set: { plan: 'pro', seats: 3 } },
      { ...who, $set_once: { first_seen_plan: 'trial' } },
      { ...who, $add: { logins: 2 } },
      { ...who, $append: { tags: 'beta' } },
      { ...who, $union: { teams: ['red', 'blue'] } },
      { ...who, $remove: { teams: 'blue' } },
      { ...who, $unset: ['seats'] },
      // people_track_charge: $append of a transaction.
      { ...who, $append: { $transactions: { $amount: 12.5, $time: '2026-12-01T10:00:00' } } },
      { $distinct_id: 'py-bob', $set: { plan: 'free' } },
      { $distinct_id: 'py-bob', $delete: '', $ignore_alias: false },
    ];
    for (const op of ops) await expectOk(consumerSend('people', update(op)));
    // A batch of updates (BufferedConsumer on "people").
    await expectOk(
      consumerSend(
        'people',
        `[${update({ ...who, $add: { logins: 1 } })},${update({ ...who, $set: { color: 'teal' } })}]`,
      ),
    );
    const alice = await profileOfDoer(s, 'py_signup');
    expect(alice).toMatchObject({
      plan: 'pro',
      first_seen_plan: 'trial',
      logins: 3,
      tags: ['beta'],
      teams: ['red'],
      color: 'teal',
    });
    expect(alice).not.toHaveProperty('seats');
    expect((alice?.$transactions as unknown[]).length).toBe(1);
    // bob's profile was deleted; he still has events.
    await expectOk(consumerSend('events', track('py-bob', 'py_bob_only')));
    expect(await profileOfDoer(s, 'py_bob_only')).toBeNull();
  });

  it('groups: group_set, group_set_once, group_union, group_remove, group_unset, group_delete', async () => {
    const g = { $group_key: 'company', $group_id: 'py-acme' };
    for (const op of [
      { ...g, $set: { tier: 'gold' } },
      { ...g, $set_once: { founded: 1999 } },
      { ...g, $union: { regions: ['eu', 'us'] } },
      { ...g, $remove: { regions: 'us' } },
      { ...g, $unset: ['founded'] },
      { $group_key: 'company', $group_id: 'py-gone', $set: { tier: 'x' } },
      { $group_key: 'company', $group_id: 'py-gone', $delete: '' },
    ]) {
      await expectOk(consumerSend('groups', update(op)));
    }
    const companies = await groupProfiles(s, 'company');
    expect(companies).toEqual([expect.objectContaining({ tier: 'gold', regions: ['eu'] })]);
    expect(companies[0]).not.toHaveProperty('founded');
  });

  it('alias ($create_alias on /track, sync Consumer) merges the alias into the user', async () => {
    const alias = pythonJson({
      event: '$create_alias',
      properties: { distinct_id: 'py-alice', alias: 'py-alice-crm', token: s.project.token },
    });
    await expectOk(consumerSend('events', alias));
    await expectOk(consumerSend('events', track('py-alice-crm', 'py_after_alias')));
    await expectOk(consumerSend('events', track('py-alice', 'py_after_alias')));
    expect(await countEvent(s, 'py_after_alias')).toMatchObject({ total: 2, users: 1 });
  });

  it('import_data with api_secret (Basic secret:) back-dates an event 30 days', async () => {
    const thirty = Math.floor(Date.now() / 1000) - 30 * 86_400;
    const event = pythonJson({
      event: 'py_imported',
      properties: {
        token: s.project.token,
        distinct_id: 'py-alice',
        time: thirty,
        $insert_id: insertId(),
        mp_lib: 'python',
        $lib_version: VERSION,
      },
    });
    const res = await expectOk(
      consumerSend('imports', event, { apiSecret: s.project.secret, apiKey: 'legacy-key' }),
    );
    expect(JSON.parse(res.text)).toMatchObject({ code: 200, num_records_imported: 1, status: 1 });
    // ServiceAccountCredentials: Basic user:secret and ?project_id=.
    const again = pythonJson({
      event: 'py_imported',
      properties: {
        token: s.project.token,
        distinct_id: 'py-carol',
        time: thirty,
        $insert_id: insertId(),
      },
    });
    await expectOk(
      consumerSend('imports', again, {
        account: ['sa.python', s.project.secret, s.project.project_id],
      }),
    );
    const day = thirty * 1000;
    expect(await countEvent(s, 'py_imported', { fromMs: day, toMs: day })).toMatchObject({
      total: 2,
      users: 2,
    });
  });

  it('merge ($merge without time, on /import) joins two identities', async () => {
    await expectOk(consumerSend('events', track('py-device-77', 'py_merged')));
    await expectOk(consumerSend('events', track('py-carol', 'py_merged')));
    const merge = pythonJson({
      event: '$merge',
      properties: { $distinct_ids: ['py-carol', 'py-device-77'], token: s.project.token },
    });
    await expectOk(consumerSend('imports', merge, { apiSecret: s.project.secret }));
    expect(await countEvent(s, 'py_merged')).toMatchObject({ total: 2, users: 1 });
  });

  it('errors are the SDK’s own MixpanelException, never a crash', async () => {
    // The public token cannot import.
    const imp = await consumerSend('imports', track('py-x', 'py_refused'), {
      apiSecret: s.project.token,
    });
    expect(imp.status).toBe(401);
    expect(readAsMixpanelPython(imp)).toMatchObject({ kind: 'sdk-error' });
    // /track refuses a 6-day-old event and says why, naming the field.
    const old = track('py-x', 'py_refused', { time: now() - 6 * 86_400 });
    const res = await consumerSend('events', old);
    const reading = readAsMixpanelPython(res);
    expect(reading).toMatchObject({ kind: 'sdk-error' });
    expect(reading.kind === 'sdk-error' && reading.error).toMatch(
      /properties\.time: time is more than 5 days in the past/,
    );
    // `$merge` is for /import only.
    const merge = pythonJson({
      event: '$merge',
      properties: { $distinct_ids: ['a1', 'b1'], token: s.project.token },
    });
    expect(readAsMixpanelPython(await consumerSend('events', merge))).toMatchObject({
      kind: 'sdk-error',
    });
    expect((await countEvent(s, 'py_refused')).total).toBe(0);
  });
});
