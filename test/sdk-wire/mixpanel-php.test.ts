// Wire-level replay of mixpanel-php (composer `mixpanel/mixpanel-php` 2.11, mixpanel/mixpanel-php
// @4b0fafa, lib/ConsumerStrategies/{AbstractConsumer,CurlConsumer,SocketConsumer}.php and
// lib/Producers/*.php, read 2026-12-03): no Packagist here, so each request is rebuilt as
// CurlConsumer::_execute sends it — POST with CURLOPT_POSTFIELDS = "data=" . base64_encode(
// json_encode($batch)) (not URL-encoded: `+`, `/` and `=` go raw), curl's default form content
// type, no query string, batches of up to 50 — and the answer is read as it reads it:
// `"1" != trim($response)` is an error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcess } from '../helpers/inprocess.js';
import {
  countEvent,
  groupProfiles,
  phpJson,
  profileOfDoer,
  readAsPhp,
  send,
} from '../helpers/sdk-wire.js';

let s: InProcess;
beforeAll(async () => {
  s = await startInProcess();
});
afterAll(async () => {
  await s.close();
});

const microtime = (): number => Date.now() / 1000; // microtime(true)

/** CurlConsumer::persist($batch) for the producer's endpoint. */
function persist(endpoint: '/track' | '/engage' | '/groups', batch: unknown[]) {
  return send(s.server.url, {
    path: endpoint,
    headers: { Accept: '*/*', 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'data=' + Buffer.from(phpJson(batch)).toString('base64'),
  });
}

/** MixpanelEvents::track: super properties (mp_lib), then token and time when absent. */
const track = (event: string, properties: Record<string, unknown>) => ({
  event,
  properties: { mp_lib: 'php', ...properties, token: s.project.token, time: microtime() },
});
/** MixpanelPeople::_constructPayload. */
const payload = (distinctId: string, op: string, value: unknown, extra = {}) => ({
  $token: s.project.token,
  $distinct_id: distinctId,
  $time: microtime(),
  [op]: value,
  ...extra,
});

async function expectOne(res: ReturnType<typeof persist>): Promise<void> {
  const answer = await res;
  expect(readAsPhp(answer), answer.text).toEqual({ kind: 'ok' });
}

describe('mixpanel-php over the wire', () => {
  it('track batches (raw base64 with + and /) answer 1', async () => {
    // Text whose JSON's base64 holds `+` and `/`; json_encode writes `/` as `\/` and é as \u00e9.
    const batch = Array.from({ length: 50 }, (_, i) =>
      track('php_view', {
        distinct_id: `php-${i % 5}`,
        url: 'https://example.org/a/b?x=>>>',
        label: 'café ~~~',
        n: i,
      }),
    );
    // The raw body really carries the characters a form decoder could mangle.
    const encoded = Buffer.from(phpJson(batch)).toString('base64');
    expect(encoded).toMatch(/\+/);
    expect(encoded).toMatch(/\//);
    await expectOne(persist('/track', batch));
    await expectOne(persist('/track', [track('php_signup', { distinct_id: 'php-0' })]));
    expect(await countEvent(s, 'php_view')).toMatchObject({ total: 50, users: 5 });
  });

  it('identify ($identify with $identified_id and $anon_id) and createAlias join identities', async () => {
    const anon = '$device:3f1b2c3d-1a2b-4c3d-8e9f-0a1b2c3d4e5f';
    await expectOne(persist('/track', [track('php_anon_view', { distinct_id: anon })]));
    await expectOne(
      persist('/track', [
        track('$identify', { distinct_id: 'php-0', $identified_id: 'php-0', $anon_id: anon }),
      ]),
    );
    await expectOne(
      persist('/track', [
        {
          event: '$create_alias',
          properties: { distinct_id: 'php-0', alias: 'php-zero', token: s.project.token },
        },
      ]),
    );
    await expectOne(
      persist('/track', [
        track('php_anon_view', { distinct_id: 'php-0' }),
        track('php_anon_view', { distinct_id: 'php-zero' }),
      ]),
    );
    expect(await countEvent(s, 'php_anon_view')).toMatchObject({ total: 3, users: 1 });
  });

  it('people: set, setOnce, increment, append, union, remove, unset, trackCharge, deleteUser', async () => {
    await expectOne(
      persist('/engage', [
        payload('php-0', '$set', { plan: 'basic', role: 'admin' }, { $ip: '0' }),
        payload('php-0', '$set_once', { first: 'yes' }),
        payload('php-0', '$add', { visits: 7 }),
        payload('php-0', '$append', { pages: '/home' }),
        payload('php-0', '$union', { apps: ['web'] }),
        payload('php-0', '$remove', { apps: 'none' }),
        payload('php-0', '$unset', ['role'], { $ignore_time: true }),
        payload('php-0', '$append', {
          $transactions: { $time: '2026-12-01T08:00:00', $amount: 3 },
        }),
        payload('php-1', '$set', { plan: 'x' }),
        payload('php-1', '$delete', '', { $ignore_alias: true }),
      ]),
    );
    expect(await profileOfDoer(s, 'php_signup')).toMatchObject({
      plan: 'basic',
      first: 'yes',
      visits: 7,
      pages: ['/home'],
      apps: ['web'],
    });
  });

  it('groups: set, setOnce, union, remove, unset, deleteGroup', async () => {
    const g = (op: string, value: unknown) => ({
      $token: s.project.token,
      $group_key: 'club',
      $group_id: 'php-chess',
      $time: microtime(),
      [op]: value,
    });
    await expectOne(
      persist('/groups', [
        g('$set', { members: 12 }),
        g('$set_once', { founded: 1990 }),
        g('$union', { days: ['mon', 'thu'] }),
        g('$remove', { days: 'thu' }),
        g('$unset', ['founded']),
      ]),
    );
    expect(await groupProfiles(s, 'club')).toEqual([{ members: 12, days: ['mon'] }]);
  });

  it('a bad batch answers 0 (the error_callback path), and nothing of it is stored', async () => {
    const res = await persist('/track', [
      { event: 'php_bad', properties: { distinct_id: 'x', token: 'no-such-token' } },
    ]);
    expect(readAsPhp(res)).toMatchObject({ kind: 'sdk-error' });
    expect((await countEvent(s, 'php_bad')).total).toBe(0);
  });
});
