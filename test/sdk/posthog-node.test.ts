// SDK compatibility: the real posthog-node SDK (gzip on, its default) against a real Sillage
// server: batches flushed by flushAt, by flushInterval and by shutdown(); capture (with groups,
// $ip, a historical timestamp), identify ($set / $set_once / $anon_distinct_id), alias and
// groupIdentify; the store is then read back field by field.
import { PostHog, type PostHogOptions } from 'posthog-node';
import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLeaks, storeText } from '../helpers/leaks.js';
import { pseudonymOf, pseudonymsOf } from '../helpers/pseudonyms.js';
import {
  createProject,
  makeTestEnv,
  ROOT,
  startServerProcess,
  type CreatedProject,
  type ServerProcess,
} from '../helpers/server.js';
import { readSnapshot, type StoreSnapshot } from '../helpers/store.js';
import { nextEvent } from '../helpers/wait.js';

// The package's "exports" hide package.json; read it from disk.
const SDK_VERSION = (
  JSON.parse(
    fs.readFileSync(path.join(ROOT, 'node_modules/posthog-node/package.json'), 'utf8'),
  ) as {
    version: string;
  }
).version;

/** A public address the bundled DB-IP database places in GB / England / London. */
const CLIENT_IP = '81.2.69.142';
const BATCH_USER = 'phn-batch-user-31';
const USER = 'phn-user-4711';
const ANON = 'phn-anon-5b8e7c';
const ALIAS = 'phn-crm-8841';
const GROUP_TYPE = 'company';
const ACME = 'phn-acme-42';
const EMAIL = 'alice.phn@example.com';
const FULL_NAME = 'Alice Liddell';
const PHONE = '+44 20 7946 0958';

type FetchFn = NonNullable<PostHogOptions['fetch']>;

/** One request the SDK made, as it made it (the body decoded from gzip). */
interface SentRequest {
  url: string;
  headers: Record<string, string>;
  status: number;
  payload: { api_key?: string; batch?: Array<Record<string, unknown>>; sent_at?: string };
}

/** A flushed message as the SDK reports it in its 'flush' event. */
interface FlushedMessage {
  event: string;
  uuid: string;
  distinct_id: string;
  properties: Record<string, unknown>;
}

/** Passes every request through to the global fetch, keeping a copy for the wire assertions. */
function recordingFetch(log: SentRequest[]): FetchFn {
  return async (url, options) => {
    const raw = options.body;
    const bytes =
      typeof raw === 'string'
        ? Buffer.from(raw)
        : raw instanceof Uint8Array
          ? Buffer.from(raw)
          : Buffer.alloc(0);
    const gzipped = options.headers['Content-Encoding'] === 'gzip';
    const response = await fetch(url, options);
    log.push({
      url,
      headers: options.headers,
      status: response.status,
      payload: JSON.parse(
        (gzipped ? gunzipSync(bytes) : bytes).toString('utf8'),
      ) as SentRequest['payload'],
    });
    return response;
  };
}

const t = makeTestEnv();
let server: ServerProcess | undefined;
let project: CreatedProject;
let serverExit: number | null = null;
let serverOutput = '';
let snapshot: StoreSnapshot;
let users: Map<string, string>;
let acme = '';
let startedMs = 0;
let endedMs = 0;
// Inside the capture routes' 5-day window (issue 10), with milliseconds.
const T_PAST = Math.floor((Date.now() - 2 * 86_400_000) / 1000) * 1000 + 678;

const wire = {
  flushAt: [] as SentRequest[],
  flushInterval: [] as SentRequest[],
  shutdown: [] as SentRequest[],
};
const flushed = { flushAt: [] as FlushedMessage[], flushInterval: [] as FlushedMessage[] };
/** Stored insert ids: keyed pseudonyms of the messages' `uuid` (issue 11). */
let insertIds = new Map<string, string>();
let sentBeforeShutdown = -1;
const sdkErrors: string[] = [];

function client(options: Partial<PostHogOptions>, log: SentRequest[]): PostHog {
  const ph = new PostHog(project.token, {
    host: server!.url,
    fetch: recordingFetch(log),
    ...options,
  });
  ph.on('error', (error: unknown) =>
    sdkErrors.push(error instanceof Error ? error.message : String(error)),
  );
  return ph;
}

beforeAll(async () => {
  server = await startServerProcess(t);
  project = await createProject(t, 'posthog-node');
  startedMs = Date.now();

  // 1. flushAt: the third capture triggers a flush (no timer: flushInterval 0).
  const a = client({ flushAt: 3, flushInterval: 0 }, wire.flushAt);
  const aFlushed = nextEvent<FlushedMessage[]>(a, 'flush', 'the flushAt=3 flush');
  for (let n = 1; n <= 3; n++)
    a.capture({ distinctId: BATCH_USER, event: 'Batch A', properties: { n } });
  flushed.flushAt = await aFlushed;
  await a.shutdown();

  // 2. flushInterval: two captures, far below flushAt, go out on the 100 ms timer.
  const b = client({ flushAt: 100, flushInterval: 100 }, wire.flushInterval);
  const bFlushed = nextEvent<FlushedMessage[]>(b, 'flush', 'the flushInterval flush');
  for (let n = 1; n <= 2; n++)
    b.capture({ distinctId: BATCH_USER, event: 'Batch B', properties: { n } });
  flushed.flushInterval = await bFlushed;
  await b.shutdown();

  // 3. Everything else, queued and sent by shutdown().
  const c = client({ flushAt: 100, flushInterval: 0 }, wire.shutdown);
  c.capture({
    distinctId: USER,
    event: 'Signed up',
    properties: { plan: 'pro', $ip: CLIENT_IP },
    groups: { [GROUP_TYPE]: ACME },
  });
  c.capture({
    distinctId: USER,
    event: 'Geo checked',
    properties: { $ip: CLIENT_IP },
    disableGeoip: false,
    timestamp: new Date(T_PAST),
  });
  c.capture({
    distinctId: USER,
    event: 'Support ticket',
    properties: { note: `call me on ${PHONE}`, email: EMAIL },
  });
  c.identify({
    distinctId: USER,
    properties: {
      $set: { plan: 'pro', email: EMAIL, name: FULL_NAME },
      $set_once: { first_seen: '2026-01-01' },
      $anon_distinct_id: ANON,
    },
  });
  c.alias({ distinctId: USER, alias: ALIAS });
  c.groupIdentify({
    groupType: GROUP_TYPE,
    groupKey: ACME,
    properties: { industry: 'widgets', employees: 250, name: 'Acme Inc.' },
  });
  sentBeforeShutdown = wire.shutdown.length;
  await c.shutdown();
  endedMs = Date.now();

  users = await pseudonymsOf(t, project.project_id, [
    USER,
    BATCH_USER,
    ANON,
    ALIAS,
    `$${GROUP_TYPE}_${ACME}`,
  ]);
  acme = pseudonymOf(await pseudonymsOf(t, project.project_id, [ACME], GROUP_TYPE), ACME);
  insertIds = await pseudonymsOf(
    t,
    project.project_id,
    [...flushed.flushAt, ...flushed.flushInterval].map((m) => m.uuid),
    '$insert_id',
  );
  serverExit = await server.stop('SIGTERM');
  serverOutput = server.output();
  snapshot = await readSnapshot(t.dataDir, project.project_id);
}, 120_000);

afterAll(async () => {
  if (server && server.child.exitCode === null) await server.stop('SIGKILL');
});

const P = (id: string): string => pseudonymOf(users, id);
const rows = (event: string) => snapshot.events.filter((e) => e.event === event);
const one = (event: string) => {
  const found = rows(event);
  expect(found, event).toHaveLength(1);
  return found[0]!;
};

describe('posthog-node', () => {
  it('the server stops cleanly and the SDK reported no error', () => {
    expect(serverExit).toBe(0);
    expect(sdkErrors).toEqual([]);
  });

  it('sends gzip JSON batches to /batch/ and gets 200 for each', () => {
    const all = [...wire.flushAt, ...wire.flushInterval, ...wire.shutdown];
    expect(all.map((r) => new URL(r.url).pathname)).toEqual(['/batch/', '/batch/', '/batch/']);
    for (const r of all) {
      expect(r.status).toBe(200);
      expect(r.headers['Content-Encoding']).toBe('gzip');
      expect(r.headers['Content-Type']).toBe('application/json');
      expect(r.payload.api_key).toBe(project.token);
      expect(Date.parse(String(r.payload.sent_at))).toBeGreaterThanOrEqual(startedMs);
    }
    expect(wire.flushAt[0]!.payload.batch).toHaveLength(3);
    expect(wire.flushInterval[0]!.payload.batch).toHaveLength(2);
    // Nothing left the process before shutdown() for the third client; then one batch of 6.
    expect(sentBeforeShutdown).toBe(0);
    expect(wire.shutdown[0]!.payload.batch).toHaveLength(6);
  });

  it('flushAt and flushInterval batches: every flushed event stored once, under its uuid', () => {
    for (const [event, messages] of [
      ['Batch A', flushed.flushAt],
      ['Batch B', flushed.flushInterval],
    ] as const) {
      const stored = rows(event);
      expect(stored.map((r) => r.insertId).sort()).toEqual(
        messages.map((m) => pseudonymOf(insertIds, m.uuid)).sort(),
      );
      for (const r of stored) {
        expect(r).toMatchObject({
          distinctId: P(BATCH_USER),
          deviceId: null,
          userId: null,
          lib: 'posthog-node',
          browser: null,
          os: null,
          countryCode: null,
          properties: { n: expect.any(Number), $lib_version: SDK_VERSION, $is_server: true },
        });
        expect(r.timeMs).toBeGreaterThanOrEqual(startedMs);
        expect(r.timeMs).toBeLessThanOrEqual(endedMs);
      }
      expect(stored.map((r) => r.properties.n).sort()).toEqual(
        messages.map((m) => m.properties.n).sort(),
      );
    }
  });

  it('capture with groups and $ip: $groups pseudonymised; no location, as the SDK asks ($geoip_disable)', () => {
    const row = one('Signed up');
    expect(row).toMatchObject({
      distinctId: P(USER),
      countryCode: null,
      region: null,
      city: null,
      lib: 'posthog-node',
      properties: { plan: 'pro', $groups: { [GROUP_TYPE]: acme }, $lib_version: SDK_VERSION },
    });
    expect(row.properties).not.toHaveProperty('$ip');
    expect(row.properties).not.toHaveProperty('$geoip_disable');
  });

  it('capture with disableGeoip false and a past timestamp: located by $ip, stored at that time', () => {
    const row = one('Geo checked');
    expect(row).toMatchObject({
      distinctId: P(USER),
      countryCode: 'GB',
      region: 'England',
      city: null,
    });
    // Skew-corrected by (receive − sent_at), which on one machine is milliseconds.
    expect(Math.abs(row.timeMs - T_PAST)).toBeLessThan(2_000);
    expect(row.properties).not.toHaveProperty('$ip');
  });

  it('capture: PII in values redacted, PII-named properties dropped', () => {
    const row = one('Support ticket');
    expect(row.properties).toMatchObject({ note: 'call me on [phone]' });
    expect(row.properties).not.toHaveProperty('email');
  });

  it('identify: $identify event, $set and $set_once applied to the person without e-mail and name', () => {
    const row = one('$identify');
    expect(row).toMatchObject({ distinctId: P(USER), properties: { $anon_distinct_id: P(ANON) } });
    expect(row.properties).not.toHaveProperty('$set');
    expect(row.properties).not.toHaveProperty('$set_once');
    const people = snapshot.profiles.filter((p) => p.groupKey === '');
    expect(people.map((p) => ({ id: p.profileId, properties: p.properties }))).toEqual([
      // No location: the SDK disables GeoIP by default.
      { id: P(USER), properties: { plan: 'pro', first_seen: '2026-01-01' } },
    ]);
  });

  it('alias: $create_alias event with the alias pseudonymised', () => {
    expect(one('$create_alias')).toMatchObject({
      distinctId: P(USER),
      properties: { alias: P(ALIAS) },
    });
  });

  it('identity links: the anonymous id ($anon_distinct_id) and the alias both point at the user', () => {
    const links = snapshot.identityLinks.map(({ aliasId, canonicalId }) => ({
      aliasId,
      canonicalId,
    }));
    expect(links).toHaveLength(2);
    expect(links).toEqual(
      expect.arrayContaining([
        { aliasId: P(ANON), canonicalId: P(USER) },
        { aliasId: P(ALIAS), canonicalId: P(USER) },
      ]),
    );
  });

  it('groupIdentify: $groupidentify event with the group key pseudonymised and name dropped', () => {
    expect(one('$groupidentify')).toMatchObject({
      // The SDK's default distinct id for group events is "$<type>_<key>": a pseudonym here.
      distinctId: P(`$${GROUP_TYPE}_${ACME}`),
      properties: {
        $group_type: GROUP_TYPE,
        $group_key: acme,
        $group_set: { industry: 'widgets', employees: 250 },
      },
    });
  });

  it('groupIdentify: the group profile gets $group_set, keyed by the group pseudonym', () => {
    const groups = snapshot.profiles
      .filter((p) => p.groupKey !== '')
      .map(({ groupKey, profileId, properties }) => ({ groupKey, profileId, properties }));
    expect(groups).toEqual([
      {
        groupKey: GROUP_TYPE,
        profileId: acme,
        properties: { industry: 'widgets', employees: 250 },
      },
    ]);
  });

  it('keeps no raw id, PII or IP, in the store, its files or the logs', () => {
    const needles = [
      USER,
      BATCH_USER,
      ANON,
      ALIAS,
      ACME,
      EMAIL,
      FULL_NAME,
      PHONE,
      'Acme Inc.',
      CLIENT_IP,
    ];
    expect(findLeaks(needles, { store: storeText(snapshot), serverOutput }, t.dataDir)).toEqual([]);
    // Control: the file scan does see stored strings.
    expect(findLeaks([P(USER)], {}, t.dataDir)).not.toEqual([]);
  });
});
