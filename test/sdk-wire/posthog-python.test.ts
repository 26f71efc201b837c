// Wire-level replay of posthog-python (PyPI `posthog` 7.42.0, PostHog/posthog-python@c55c9b2,
// posthog/{client,consumer,request,capture_v1,capture_compression}.py, read 2026-12-03): no PyPI
// here, so each request is rebuilt as the SDK sends it.
// - v0 (default): `batch_post` → POST /batch/ with JSON {batch, historical_migration, sent_at,
//   api_key}, `Content-Type: application/json`, `User-Agent: posthog-python/7.42.0`, optionally
//   gzip (`Content-Encoding: gzip`); a 200 is success, anything else raises APIError(detail).
// - v1 (`capture_mode="v1"`): POST /i/v1/analytics/events with `Authorization: Bearer <token>`,
//   PostHog-Sdk-Info / -Attempt / -Request-Id / -Request-Timestamp headers, body {created_at,
//   batch: [{event, uuid, distinct_id, timestamp, options, properties, session_id?}]}, gzip or
//   zlib `deflate`; the answer must be {"results": {uuid: {result}}} (`drop` raises CaptureV1Error).
import { randomUUID } from 'node:crypto';
import { deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcess } from '../helpers/inprocess.js';
import {
  countEvent,
  groupProfiles,
  profileOfDoer,
  pythonJson,
  readAsPosthogPythonV0,
  readAsPosthogPythonV1,
  send,
} from '../helpers/sdk-wire.js';

const VERSION = '7.42.0';
const USER_AGENT = `posthog-python/${VERSION}`;

let s: InProcess;
beforeAll(async () => {
  s = await startInProcess();
});
afterAll(async () => {
  await s.close();
});

/** Python's `datetime.now(tz=timezone.utc).isoformat()`: microseconds and `+00:00`. */
const iso = (ms: number = Date.now()): string =>
  new Date(ms).toISOString().replace('Z', '000+00:00');

/** A queued message after `_enqueue` ($lib, $lib_version, $geoip_disable: disable_geoip default). */
const message = (
  event: string,
  distinctId: string,
  properties: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
  timestampMs: number = Date.now(),
) => ({
  properties: {
    ...properties,
    $lib: 'posthog-python',
    $lib_version: VERSION,
    $geoip_disable: true,
  },
  timestamp: iso(timestampMs),
  distinct_id: distinctId,
  event,
  uuid: randomUUID(),
  ...extra,
});

function batchPost(batch: unknown[], gzip = false) {
  // `post(**kwargs)`: body = kwargs, then sent_at and api_key are added.
  const json = pythonJson({
    batch,
    historical_migration: false,
    sent_at: iso(),
    api_key: s.project.token,
  });
  return send(s.server.url, {
    path: '/batch/',
    headers: {
      'User-Agent': USER_AGENT,
      'Accept-Encoding': 'gzip, deflate',
      Accept: '*/*',
      Connection: 'keep-alive',
      'Content-Type': 'application/json',
      ...(gzip ? { 'Content-Encoding': 'gzip' } : {}),
    },
    body: gzip ? gzipSync(json) : json,
  });
}

/** `_to_v1_event`: $set/$set_once into properties, $lib stripped, sentinels to options. */
function toV1(msg: ReturnType<typeof message> & Record<string, unknown>) {
  const properties: Record<string, unknown> = { ...msg.properties };
  for (const key of ['$set', '$set_once']) if (msg[key] !== undefined) properties[key] = msg[key];
  delete properties.$lib;
  delete properties.$lib_version;
  const options: Record<string, unknown> = {};
  if ('$process_person_profile' in properties) {
    options.process_person_profile = properties.$process_person_profile;
    delete properties.$process_person_profile;
  }
  const top: Record<string, unknown> = {};
  if (typeof properties.$session_id === 'string') {
    top.session_id = properties.$session_id;
    delete properties.$session_id;
  }
  return {
    event: msg.event,
    uuid: msg.uuid,
    distinct_id: msg.distinct_id,
    timestamp: msg.timestamp,
    options,
    properties,
    ...top,
  };
}

function postV1(
  messages: ReturnType<typeof message>[],
  compression: 'none' | 'gzip' | 'deflate' = 'none',
  token = s.project.token,
) {
  const json = pythonJson({ created_at: iso(), batch: messages.map(toV1) });
  const body =
    compression === 'gzip'
      ? gzipSync(json)
      : compression === 'deflate'
        ? deflateSync(json)
        : Buffer.from(json);
  return send(s.server.url, {
    path: '/i/v1/analytics/events',
    headers: {
      'User-Agent': USER_AGENT,
      'Accept-Encoding': 'gzip, deflate',
      Accept: '*/*',
      'Content-Type': 'application/json',
      Authorization: `Bearer ${token}`,
      'PostHog-Sdk-Info': USER_AGENT,
      'PostHog-Attempt': '1',
      'PostHog-Request-Id': randomUUID(),
      'PostHog-Request-Timestamp': iso(),
      ...(compression === 'none' ? {} : { 'Content-Encoding': compression }),
    },
    body,
  });
}

describe('posthog-python 7.42 over the wire: v0 /batch/', () => {
  it('capture, set, set_once, alias and group_identify in one batch, plain and gzip', async () => {
    const res = await batchPost([
      message('ph_signup', 'ph-pia', { plan: 'scale' }),
      message('ph_view', 'ph-pia'),
      message('ph_view', 'ph-quinn', { $groups: { company: 'ph-co' } }),
      message('$set', 'ph-pia', {}, { $set: { tier: 'gold' } }),
      message('$set_once', 'ph-pia', {}, { $set_once: { first_touch: 'blog' } }),
      message('$create_alias', 'ph-quinn', { distinct_id: 'ph-quinn', alias: 'ph-quinn-2' }),
      message('$groupidentify', 'ph-pia', {
        $group_type: 'company',
        $group_key: 'ph-co',
        $group_set: { seats: 40 },
      }),
    ]);
    expect(readAsPosthogPythonV0(res), res.text).toEqual({ kind: 'ok' });
    const gz = await batchPost([message('ph_view', 'ph-quinn-2')], true);
    expect(readAsPosthogPythonV0(gz), gz.text).toEqual({ kind: 'ok' });
    // quinn-2 is an alias of quinn: 3 views by 2 people.
    expect(await countEvent(s, 'ph_view')).toMatchObject({ total: 3, users: 2 });
    expect(await profileOfDoer(s, 'ph_signup')).toMatchObject({
      tier: 'gold',
      first_touch: 'blog',
    });
    expect(await groupProfiles(s, 'company')).toEqual([{ seats: 40 }]);
  });

  it('an event older than the 5-day window is refused with its field named (APIError)', async () => {
    const res = await batchPost([message('ph_old', 'ph-pia', {}, {}, Date.now() - 8 * 86_400_000)]);
    const reading = readAsPosthogPythonV0(res);
    expect(res.status).toBe(400);
    expect(reading.kind === 'sdk-error' && reading.error).toMatch(
      /timestamp: time is more than 5 days in the past/,
    );
    expect((await countEvent(s, 'ph_old', { fromMs: Date.now() - 9 * 86_400_000 })).total).toBe(0);
  });
});

describe('posthog-python 7.42 over the wire: capture_mode="v1"', () => {
  it('accepts a batch (plain, gzip, deflate) and answers per-event results with no drops', async () => {
    for (const compression of ['none', 'gzip', 'deflate'] as const) {
      const res = await postV1(
        [
          message('ph_v1', 'ph-v1-a', { $session_id: 'sess-1', $process_person_profile: true }),
          message('ph_v1', 'ph-v1-b', {}, { $set: { v1: compression } }),
        ],
        compression,
      );
      expect(res.status, res.text).toBe(200);
      expect(readAsPosthogPythonV1(res)).toMatchObject({ kind: 'ok' });
    }
    expect(await countEvent(s, 'ph_v1')).toMatchObject({ total: 6, users: 2 });
  });

  it('drops an out-of-window event by uuid and keeps the rest', async () => {
    const stale = message('ph_v1_mixed', 'ph-v1-a', {}, {}, Date.now() - 7 * 86_400_000);
    const fresh = message('ph_v1_mixed', 'ph-v1-a');
    const res = await postV1([stale, fresh]);
    expect(res.status).toBe(200);
    const body = JSON.parse(res.text) as { results: Record<string, { result: string }> };
    expect(body.results[stale.uuid]).toMatchObject({ result: 'drop' });
    expect(body.results[fresh.uuid]).toBeUndefined(); // absent = success for the SDK
    expect(readAsPosthogPythonV1(res)).toMatchObject({ kind: 'sdk-error' });
    expect((await countEvent(s, 'ph_v1_mixed')).total).toBe(1);
  });

  it('refuses an unknown Bearer token with 401 and a message the SDK reads', async () => {
    const res = await postV1([message('ph_v1_bad', 'x')], 'none', 'phc_not_a_project');
    expect(res.status).toBe(401);
    expect(readAsPosthogPythonV1(res)).toMatchObject({ kind: 'sdk-error' });
  });

  it('refuses zstd (Node 20 has no zstd) with 415, a terminal status for the SDK', async () => {
    const res = await send(s.server.url, {
      path: '/i/v1/analytics/events',
      headers: {
        'Content-Type': 'application/json',
        Authorization: `Bearer ${s.project.token}`,
        'Content-Encoding': 'zstd',
      },
      body: Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]),
    });
    expect(res.status).toBe(415);
  });
});
