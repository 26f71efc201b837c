// Wire-level replay of mixpanel-ruby (gem `mixpanel-ruby` 3.3.0, mixpanel/mixpanel-ruby@35be7ba,
// lib/mixpanel-ruby/{consumer,events,people,groups,tracker}.rb, read 2026-12-03): no RubyGems here,
// so each request is rebuilt as `Consumer#send!` and `#request` send it — POST with
// `set_form_data({"data" => Base64.encode64(json).gsub("\n", ''), "verbose" => 1[, "api_key"]})`
// (URI.encode_www_form), Basic auth and `?project_id=` only for service-account imports — and each
// answer is read as `send!` reads it (200 → `JSON.parse(body)['status'] != 1` raises). Before
// issue 10 every call crashed with "no implicit conversion of String into Integer".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcess } from '../helpers/inprocess.js';
import {
  basicAuth,
  countEvent,
  groupProfiles,
  profileOfDoer,
  readAsMixpanelRuby,
  rubyForm,
  send,
  type RawResponse,
} from '../helpers/sdk-wire.js';

const VERSION = '3.3.0';
const HEADERS = {
  'Accept-Encoding': 'gzip;q=1.0,deflate;q=0.6,identity;q=0.3',
  Accept: '*/*',
  'User-Agent': 'Ruby',
  'Content-Type': 'application/x-www-form-urlencoded',
};

let s: InProcess;
beforeAll(async () => {
  s = await startInProcess();
});
afterAll(async () => {
  await s.close();
});

const nowMs = (): number => Date.now(); // (Time.now.to_f * 1000).to_i
/** Ruby's `Base64.encode64(x).gsub("\n", '')` of `to_json` (UTF-8 kept raw, `/` not escaped). */
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64');

type Kind = 'event' | 'profile_update' | 'group_update' | 'import';
const PATHS: Record<Kind, string> = {
  event: '/track',
  profile_update: '/engage',
  group_update: '/groups',
  import: '/import',
};

/** `Consumer#send!(type, message)` where message is `{"data": …, "api_key"?: …}.to_json`. */
function sendBang(
  type: Kind,
  data: unknown,
  options: { apiKey?: string; account?: [string, string, string] } = {},
): Promise<RawResponse> {
  const fields: [string, string | number][] = [
    ['data', b64(data)],
    ['verbose', 1],
  ];
  if (options.apiKey && !options.account) fields.push(['api_key', options.apiKey]);
  const headers: Record<string, string> = { ...HEADERS };
  let path = PATHS[type];
  if (options.account && type === 'import') {
    path += `?project_id=${encodeURIComponent(options.account[2])}`;
    headers.Authorization = basicAuth(options.account[0], options.account[1]);
  }
  return send(s.server.url, { path, headers, body: rubyForm(fields) });
}

const event = (distinctId: string, name: string, properties: Record<string, unknown> = {}) => ({
  event: name,
  properties: {
    distinct_id: distinctId,
    token: s.project.token,
    time: nowMs(),
    mp_lib: 'ruby',
    $lib_version: VERSION,
    ...properties,
  },
});
const update = (message: Record<string, unknown>) => ({
  $token: s.project.token,
  $time: nowMs(),
  ...message,
});

async function expectOk(res: Promise<RawResponse>): Promise<void> {
  const answer = await res;
  expect(readAsMixpanelRuby(answer), answer.text).toEqual({ kind: 'ok' });
}

describe('mixpanel-ruby 3.3 over the wire', () => {
  it('track answers verbose JSON that send! accepts', async () => {
    await expectOk(sendBang('event', event('rb-ann', 'rb_signup')));
    await expectOk(sendBang('event', event('rb-ann', 'rb_view', { path: '/docs/a+b' })));
    await expectOk(sendBang('event', event('rb-ben', 'rb_view')));
    expect(await countEvent(s, 'rb_view')).toMatchObject({ total: 2, users: 2 });
  });

  it('BufferedConsumer: 120 events flush as 50 + 50 + 20 ({"data": [...]})', async () => {
    // No $insert_id (Ruby sends none): distinct properties keep them distinct events.
    const buffered = Array.from({ length: 120 }, (_, i) =>
      event(`rb-buf-${i % 7}`, 'rb_buffered', { n: i }),
    );
    for (let at = 0; at < buffered.length; at += 50)
      await expectOk(sendBang('event', buffered.slice(at, at + 50)));
    expect(await countEvent(s, 'rb_buffered')).toMatchObject({ total: 120, users: 7 });
  });

  it('people: set, set_once, increment, append, union, unset, remove, track_charge, delete_user', async () => {
    const who = { $distinct_id: 'rb-ann' };
    for (const op of [
      { ...who, $set: { plan: 'team', signed_up: '2026-11-30T09:00:00' } },
      { ...who, $set_once: { source: 'ads' } },
      { ...who, $add: { credits: 5 } },
      { ...who, $add: { credits: -2 } },
      { ...who, $append: { $transactions: { $amount: 9.99, $time: '2026-12-01T12:00:00' } } },
      { ...who, $union: { langs: ['ruby', 'go'] } },
      { ...who, $remove: { langs: 'go' } },
      { ...who, $unset: ['signed_up'] },
      { ...who, $set: { ip_geo: 'no' }, $ip: '0', $ignore_time: true },
      { $distinct_id: 'rb-ben', $set: { plan: 'free' } },
      { $distinct_id: 'rb-ben', $delete: '' },
    ]) {
      await expectOk(sendBang('profile_update', update(op)));
    }
    const ann = await profileOfDoer(s, 'rb_signup');
    expect(ann).toMatchObject({ plan: 'team', source: 'ads', credits: 3, langs: ['ruby'] });
    expect(ann).not.toHaveProperty('signed_up');
    await expectOk(sendBang('event', event('rb-ben', 'rb_ben_only')));
    expect(await profileOfDoer(s, 'rb_ben_only')).toBeNull();
  });

  it('groups: set, set_once, union, remove, unset, delete_group', async () => {
    const g = { $group_key: 'org', $group_id: 'rb-initech' };
    for (const op of [
      { ...g, $set: { size: 'm' } },
      { ...g, $set_once: { since: 2001 } },
      { ...g, $union: { tools: ['a', 'b'] } },
      { ...g, $remove: { tools: 'a' } },
      { ...g, $unset: ['since'] },
      { $group_key: 'org', $group_id: 'rb-gone', $set: { size: 's' } },
      { $group_key: 'org', $group_id: 'rb-gone', $delete: '' },
    ]) {
      await expectOk(sendBang('group_update', update(op)));
    }
    expect(await groupProfiles(s, 'org')).toEqual([{ size: 'm', tools: ['b'] }]);
  });

  it('alias ($create_alias, a fresh Consumer) joins the alias to the user', async () => {
    await expectOk(
      sendBang('event', {
        event: '$create_alias',
        properties: { distinct_id: 'rb-ann', alias: 'rb-ann-mail', token: s.project.token },
      }),
    );
    await expectOk(sendBang('event', event('rb-ann-mail', 'rb_after')));
    await expectOk(sendBang('event', event('rb-ann', 'rb_after')));
    expect(await countEvent(s, 'rb_after')).toMatchObject({ total: 2, users: 1 });
  });

  it('import_events with service-account credentials, and the legacy api_key form field', async () => {
    const tenDaysAgo = nowMs() - 10 * 86_400_000;
    await expectOk(
      sendBang('import', event('rb-ann', 'rb_imported', { time: tenDaysAgo }), {
        account: ['sa.ruby', s.project.secret, s.project.project_id],
      }),
    );
    // `import(api_key, …)`: no Authorization header, the key in the form body.
    await expectOk(
      sendBang('import', event('rb-ben', 'rb_imported', { time: tenDaysAgo }), {
        apiKey: s.project.secret,
      }),
    );
    const counted = await countEvent(s, 'rb_imported', { fromMs: tenDaysAgo, toMs: tenDaysAgo });
    expect(counted).toMatchObject({ total: 2, users: 2 });
  });

  it('generate_tracking_url: GET with URL-safe base64, ip=1 and img=1 answers a GIF', async () => {
    const data = Buffer.from(JSON.stringify(event('rb-pixel', 'rb_pixel', { q: '??>>' })))
      .toString('base64')
      .replaceAll('+', '-')
      .replaceAll('/', '_'); // Base64.urlsafe_encode64
    const res = await send(s.server.url, {
      method: 'GET',
      path: `/track/?data=${data}&ip=1&img=1`,
      headers: { 'User-Agent': 'Mozilla/5.0' },
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/gif');
    expect(res.body.subarray(0, 6).toString('latin1')).toBe('GIF89a');
    expect((await countEvent(s, 'rb_pixel')).total).toBe(1);
  });

  it('errors reach the error handler as ServerError, never a TypeError', async () => {
    // The public token in api_key cannot import.
    const refused = await sendBang('import', event('rb-x', 'rb_refused'), {
      apiKey: s.project.token,
    });
    expect(refused.status).toBe(401);
    expect(readAsMixpanelRuby(refused)).toMatchObject({ kind: 'sdk-error' });
    // An unknown token on /track.
    const unknown = await sendBang('event', {
      event: 'rb_refused',
      properties: { distinct_id: 'x', token: 'not-a-token', time: nowMs() },
    });
    expect(readAsMixpanelRuby(unknown)).toMatchObject({ kind: 'sdk-error' });
    expect((await countEvent(s, 'rb_refused')).total).toBe(0);
  });
});
