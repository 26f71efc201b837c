// Wire-level replay of mixpanel-go (github.com/mixpanel/mixpanel-go/v2 v2.0.0-beta.2,
// mixpanel/mixpanel-go@fd9efa0, mixpanel.go, http.go, ingestion.go, identity.go, read 2026-12-03):
// no Go module proxy for this here, so each request is rebuilt as the ApiClient sends it —
// Track: POST /track?verbose=1 with a JSON array (`json.Marshal`: sorted keys, `<>&` escaped),
// Accept text/plain; people and groups: POST /engage, /groups (the `#profile-set` fragment never
// leaves the client) with a JSON array, read as a JSON int; Alias: a `data=` form to /track;
// Merge: a `data=` form to /import with Basic `secret:`, read as an int; Import:
// POST /import?strict=1&verbose=1 with gzip JSON and Basic auth, read as ImportSuccess.
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcess } from '../helpers/inprocess.js';
import {
  basicAuth,
  countEvent,
  goForm,
  goJson,
  groupProfiles,
  profileOfDoer,
  readAsGoImport,
  readAsGoPeople,
  readAsGoTrack,
  send,
} from '../helpers/sdk-wire.js';

const VERSION = 'v2.0.0-beta.2';
const UA = { 'User-Agent': 'Go-http-client/1.1', 'Accept-Encoding': 'gzip' };

let s: InProcess;
beforeAll(async () => {
  s = await startInProcess();
});
afterAll(async () => {
  await s.close();
});

/** `NewEvent` + `AddTime` (UnixMilli) + `AddInsertID`. */
const newEvent = (
  name: string,
  distinctId: string,
  properties: Record<string, unknown> = {},
  timeMs: number = Date.now(),
) => ({
  event: name,
  properties: {
    ...properties,
    token: s.project.token,
    distinct_id: distinctId,
    mp_lib: 'go',
    $lib_version: VERSION,
    time: timeMs,
    $insert_id: randomUUID(),
  },
});

const track = (events: unknown[]) =>
  send(s.server.url, {
    path: '/track?verbose=1',
    headers: { ...UA, Accept: 'text/plain', 'Content-Type': 'application/json' },
    body: goJson(events),
  });

/** `doPeopleRequest`: the URL's `#…` fragment is not sent. */
const people = (path: '/engage' | '/groups', payloads: unknown[]) =>
  send(s.server.url, {
    path,
    headers: { ...UA, Accept: 'text/plain', 'Content-Type': 'application/json' },
    body: goJson(payloads),
  });

/** `doIdentifyRequest`: `url.Values{"data": json}.Encode()`, form content type. */
const identify = (path: '/track' | '/import', payload: unknown, auth?: string) =>
  send(s.server.url, {
    path,
    headers: {
      ...UA,
      Accept: 'text/plain',
      'Content-Type': 'application/x-www-form-urlencoded',
      ...(auth ? { Authorization: auth } : {}),
    },
    body: goForm({ data: goJson(payload) }),
  });

describe('mixpanel-go v2 over the wire', () => {
  it('Track (verbose=1) answers {"status":1,"error":null}', async () => {
    const res = await track([
      newEvent('go_signup', 'go-gail', { plan: '<b>&co' }),
      newEvent('go_view', 'go-gail'),
      newEvent('go_view', 'go-hal'),
    ]);
    expect(readAsGoTrack(res), res.text).toEqual({ kind: 'ok' });
    expect(await countEvent(s, 'go_view')).toMatchObject({ total: 2, users: 2 });
  });

  it('people and group operations answer the integer 1', async () => {
    const t = s.project.token;
    const ops: ['/engage' | '/groups', unknown][] = [
      // PeopleSet with no $ip set: shouldGeoLookupIp() gives "0".
      ['/engage', { $token: t, $distinct_id: 'go-gail', $set: { plan: 'max' }, $ip: '0' }],
      ['/engage', { $token: t, $distinct_id: 'go-gail', $set_once: { origin: 'cli' }, $ip: '0' }],
      ['/engage', { $token: t, $distinct_id: 'go-gail', $add: { builds: 4 } }],
      ['/engage', { $token: t, $distinct_id: 'go-gail', $union: { oses: ['linux', 'mac'] } }],
      ['/engage', { $token: t, $distinct_id: 'go-gail', $append: { events: 'x' } }],
      ['/engage', { $token: t, $distinct_id: 'go-gail', $remove: { oses: 'mac' } }],
      ['/engage', { $token: t, $distinct_id: 'go-gail', $unset: ['origin'] }],
      ['/engage', { $token: t, $distinct_id: 'go-hal', $set: { plan: 'x' }, $ip: '0' }],
      // PeopleDeleteProfile: "$delete": "null", "$ignore_alias": "false" (strings).
      ['/engage', { $token: t, $distinct_id: 'go-hal', $delete: 'null', $ignore_alias: 'false' }],
      ['/groups', { $token: t, $group_key: 'team', $group_id: 'go-core', $set: { lead: 'gail' } }],
      ['/groups', { $token: t, $group_key: 'team', $group_id: 'go-core', $set_once: { n: 1 } }],
      ['/groups', { $token: t, $group_key: 'team', $group_id: 'go-core', $union: { l: ['a'] } }],
      ['/groups', { $token: t, $group_key: 'team', $group_id: 'go-core', $remove: { l: 'a' } }],
      ['/groups', { $token: t, $group_key: 'team', $group_id: 'go-core', $unset: ['n'] }],
      ['/groups', { $token: t, $group_key: 'team', $group_id: 'go-old', $set: { lead: 'x' } }],
      ['/groups', { $token: t, $group_key: 'team', $group_id: 'go-old', $delete: 'null' }],
    ];
    for (const [path, payload] of ops) {
      const res = await people(path, [payload]);
      expect(readAsGoPeople(res), res.text).toEqual({ kind: 'ok' });
    }
    expect(await profileOfDoer(s, 'go_signup')).toMatchObject({
      plan: 'max',
      builds: 4,
      oses: ['linux'],
      events: ['x'],
    });
    expect(await groupProfiles(s, 'team')).toEqual([{ lead: 'gail', l: [] }]);
  });

  it('Alias (form to /track) and Merge (form to /import, Basic secret, no time) join identities', async () => {
    const alias = await identify('/track', {
      event: '$create_alias',
      properties: { distinct_id: 'go-gail', alias: 'go-gail-2', token: s.project.token },
    });
    expect(readAsGoPeople(alias), alias.text).toEqual({ kind: 'ok' });
    // Merge sends no token at all: the project comes from the secret.
    const merge = await identify(
      '/import',
      { event: '$merge', properties: { $distinct_ids: ['go-gail', 'go-laptop-1'] } },
      basicAuth(s.project.secret, ''),
    );
    expect(readAsGoPeople(merge), merge.text).toEqual({ kind: 'ok' });
    const res = await track([
      newEvent('go_joined', 'go-gail-2'),
      newEvent('go_joined', 'go-laptop-1'),
      newEvent('go_joined', 'go-gail'),
    ]);
    expect(readAsGoTrack(res)).toEqual({ kind: 'ok' });
    expect(await countEvent(s, 'go_joined')).toMatchObject({ total: 3, users: 1 });
  });

  it('Import (ImportOptionsRecommend: strict, gzip) with the secret and with a service account', async () => {
    const old = Date.now() - 40 * 86_400_000;
    const body = gzipSync(goJson([newEvent('go_imported', 'go-gail', {}, old)]));
    const headers = {
      ...UA,
      'Content-Type': 'application/json',
      Accept: 'application/json',
      'Content-Encoding': 'gzip',
    };
    const res = await send(s.server.url, {
      path: '/import?strict=1&verbose=1',
      headers: { ...headers, Authorization: basicAuth(s.project.secret, '') },
      body,
    });
    expect(res.status).toBe(200);
    expect(readAsGoImport(res)).toMatchObject({
      kind: 'ok',
      value: { code: 200, num_records_imported: 1 },
    });
    const sa = await send(s.server.url, {
      path: `/import?project_id=${s.project.project_id}&strict=1&verbose=1`,
      headers: { ...headers, Authorization: basicAuth('sa.go', s.project.secret) },
      body: gzipSync(goJson([newEvent('go_imported', 'go-hal', {}, old)])),
    });
    expect(readAsGoImport(sa)).toMatchObject({ kind: 'ok' });
    expect(await countEvent(s, 'go_imported', { fromMs: old, toMs: old })).toMatchObject({
      total: 2,
      users: 2,
    });
  });

  it('Import with only the token (importAuthOptions falls back to it) is refused with 401', async () => {
    const res = await send(s.server.url, {
      path: '/import?strict=1&verbose=1',
      headers: {
        ...UA,
        'Content-Type': 'application/json',
        Accept: 'application/json',
        Authorization: basicAuth(s.project.token, ''),
      },
      body: goJson([newEvent('go_refused', 'go-gail', {}, Date.now() - 86_400_000)]),
    });
    expect(res.status).toBe(401);
    expect(readAsGoImport(res)).toMatchObject({ kind: 'sdk-error', error: 'Invalid credentials' });
  });

  it('Import strict=1 reports failed_records as ImportFailedValidationError', async () => {
    const res = await send(s.server.url, {
      path: '/import?strict=1&verbose=1',
      headers: {
        ...UA,
        'Content-Type': 'application/json',
        Accept: 'application/json',
        Authorization: basicAuth(s.project.secret, ''),
      },
      body: goJson([
        newEvent('go_partial', 'go-gail', {}, Date.now() - 86_400_000),
        { event: 'go_partial', properties: { distinct_id: 'go-gail', $insert_id: 'no-time-1' } },
      ]),
    });
    expect(res.status).toBe(400);
    expect(readAsGoImport(res)).toMatchObject({ kind: 'sdk-error' });
    expect(JSON.parse(res.text)).toMatchObject({
      code: 400,
      num_records_imported: 1,
      failed_records: [{ index: 1, field: 'properties.time' }],
    });
  });
});
