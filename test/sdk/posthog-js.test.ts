// SDK compatibility: the real posthog-js browser bundle in real Chromium, pointed at a real Sillage
// server by `api_host` alone — gzip-js bodies, plain JSON bodies, and the defaults (feature flags
// and remote config on) — with capture, identify ($set / $set_once), alias and group; what landed
// in the store is checked field by field against what the SDK put on the wire.
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DESKTOP_CHROME_UA,
  launchChromium,
  NOT_WEBDRIVER,
  startStaticSite,
  WireLog,
  type StaticSite,
} from '../helpers/browser.js';
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
import type { WireRequest } from '../helpers/wire.js';

const SDK_DIR = path.join(ROOT, 'node_modules/posthog-js');
/** Self-contained browser build: defines `window.posthog` and loads nothing from PostHog's CDN. */
const SDK_BUNDLE = fs.readFileSync(path.join(SDK_DIR, 'dist/array.full.no-external.js'));
const SDK_VERSION = (
  JSON.parse(fs.readFileSync(path.join(SDK_DIR, 'package.json'), 'utf8')) as { version: string }
).version;

const SHOP = 'shop.example';
/** A public address the bundled DB-IP database places in GB / England / London. */
const CLIENT_IP = '81.2.69.142';
const LANDING_PATH =
  '/pricing?utm_source=newsletter&utm_medium=email&gclid=abc123xyz&email=alice%40example.com#plans';
const REFERRER = 'https://news.example.org/article?id=5&reader=alice%40example.com';
const EMAIL = 'alice@example.com';
const FULL_NAME = 'Alice Liddell';
const GROUP_TYPE = 'company';

/** The subset of the posthog-js API the page uses. */
interface PosthogPage {
  init(token: string, config: Record<string, unknown>): void;
  capture(event: string, props?: Record<string, unknown>): void;
  identify(id: string, set?: Record<string, unknown>, setOnce?: Record<string, unknown>): void;
  alias(alias: string): void;
  group(type: string, key: string, props?: Record<string, unknown>): void;
  get_distinct_id(): string;
  get_property(name: string): unknown;
}

interface Mode {
  name: string;
  /** How event bodies must look on the wire. */
  encoding: 'gzip-json' | 'json';
  /** posthog-js config besides `api_host`. */
  config: Record<string, unknown>;
  /** True when the SDK fetches feature flags and remote config from Sillage. */
  remote: boolean;
}

// Common to every mode: no autocapture, page views captured by hand (deterministic), in-memory
// persistence (no cookies between contexts), and a short queue flush to keep the test fast.
const BASE_CONFIG = {
  persistence: 'memory',
  autocapture: false,
  capture_pageview: false,
  capture_pageleave: false,
  disable_session_recording: true,
  request_queue_config: { flush_interval_ms: 100 },
};

const MODES: Mode[] = [
  {
    name: 'gzip-js, flags off',
    encoding: 'gzip-json',
    remote: false,
    config: { ...BASE_CONFIG, disable_compression: false, advanced_disable_flags: true },
  },
  {
    name: 'uncompressed, flags off',
    encoding: 'json',
    remote: false,
    config: { ...BASE_CONFIG, disable_compression: true, advanced_disable_flags: true },
  },
  {
    // Without advanced_disable_flags the SDK asks /flags and /array/<token>/config, and takes
    // its compression from the config's supportedCompression (Sillage offers gzip-js).
    name: 'flags and remote config on',
    encoding: 'gzip-json',
    remote: true,
    config: { ...BASE_CONFIG },
  },
];

const JOURNEY_EVENTS = [
  '$pageview',
  'Viewed pricing',
  '$identify',
  'Upgraded',
  '$create_alias',
  '$groupidentify',
  'Invoice paid',
];

interface PageIds {
  device: string;
  anon: string;
  user: string;
}

interface Run {
  project: CreatedProject;
  userId: string;
  aliasId: string;
  groupId: string;
  ids: PageIds;
  wire: WireRequest[];
  startedMs: number;
  endedMs: number;
  pseudonyms: Map<string, string>;
  groupPseudonym: string;
  /** Stored insert ids: keyed pseudonyms of the events' `uuid` (issue 11). */
  insertIds: Map<string, string>;
  snapshot: StoreSnapshot;
}

/** What a scenario produced before the server stopped. */
type Driven = Omit<Run, 'pseudonyms' | 'groupPseudonym' | 'insertIds' | 'snapshot'>;
type Outcome = { ok: true; run: Run } | { ok: false; error: unknown };

const t = makeTestEnv();
let server: ServerProcess | undefined;
let browser: Browser | undefined;
let site: StaticSite | undefined;
let serverExit: number | null = null;
let serverOutput = '';
const outcomes = new Map<string, Outcome>();

function runOf(name: string): Run {
  const outcome = outcomes.get(name);
  if (!outcome) throw new Error(`scenario "${name}" did not run`);
  if (!outcome.ok) throw outcome.error;
  return outcome.run;
}

async function withPage<T>(fn: (page: Page, wire: WireLog) => Promise<T>): Promise<T> {
  const context = await browser!.newContext({
    userAgent: DESKTOP_CHROME_UA,
    // Sillage trusts 127.0.0.1 as a proxy in this file, as it would trust a load balancer.
    extraHTTPHeaders: { 'X-Forwarded-For': CLIENT_IP },
  });
  try {
    const page = await context.newPage();
    const wire = new WireLog(page, server!.url);
    await page.goto(site!.origin(SHOP) + LANDING_PATH, { referer: REFERRER });
    return await fn(page, wire);
  } finally {
    await context.close();
  }
}

async function runJourney(mode: Mode): Promise<Driven> {
  const index = MODES.indexOf(mode);
  const project = await createProject(t, `posthog-js ${mode.name}`);
  const userId = `phjs-user-${index}-0077`;
  const aliasId = `phjs-crm-${index}-8841`;
  const groupId = `phjs-acme-${index}-42`;
  const startedMs = Date.now();
  return withPage(async (page, wire) => {
    const ids = await page.evaluate(
      async ({ token, apiHost, config, userId, aliasId, groupId, groupType, email, fullName }) => {
        const ph = (window as unknown as { posthog: PosthogPage }).posthog;
        await new Promise<void>((resolve) =>
          ph.init(token, { ...config, api_host: apiHost, loaded: () => resolve() }),
        );
        const device = String(ph.get_property('$device_id'));
        const anon = ph.get_distinct_id();
        ph.capture('$pageview');
        ph.capture('Viewed pricing', { plan: 'pro', contact: email });
        ph.identify(userId, { plan: 'pro', email, name: fullName }, { first_plan: 'free' });
        ph.capture('Upgraded', { to: 'team' });
        ph.alias(aliasId);
        ph.group(groupType, groupId, { industry: 'widgets', name: 'Acme Corporation' });
        ph.capture('Invoice paid', { amount: 120 });
        return { device, anon, user: ph.get_distinct_id() };
      },
      {
        token: project.token,
        apiHost: server!.url,
        config: mode.config,
        userId,
        aliasId,
        groupId,
        groupType: GROUP_TYPE,
        email: EMAIL,
        fullName: FULL_NAME,
      },
    );
    await wire.waitForDelivered('/e', JOURNEY_EVENTS.length);
    if (mode.remote) {
      await wire.waitFor('the remote config and feature flags requests', (requests) =>
        ['/array/', '/flags'].every((prefix) => requests.some((r) => r.path.startsWith(prefix))),
      );
    }
    return {
      project,
      userId,
      aliasId,
      groupId,
      ids,
      wire: [...wire.requests],
      startedMs,
      endedMs: Date.now(),
    };
  });
}

beforeAll(async () => {
  server = await startServerProcess(t, { env: { SILLAGE_TRUST_PROXY: '127.0.0.1' } });
  site = await startStaticSite({
    '/sdk/posthog.js': { contentType: 'text/javascript', body: SDK_BUNDLE },
    '/pricing': {
      contentType: 'text/html; charset=utf-8',
      body: '<!doctype html><html><head><title>Pricing</title><script src="/sdk/posthog.js"></script></head><body><h1>Plans</h1></body></html>',
    },
  });
  browser = await launchChromium([SHOP], [NOT_WEBDRIVER]);
  const driven = new Map<string, Driven>();
  for (const mode of MODES) {
    try {
      driven.set(mode.name, await runJourney(mode));
    } catch (error) {
      outcomes.set(mode.name, { ok: false, error });
    }
  }
  const pseudonyms = new Map<
    string,
    { users: Map<string, string>; group: string; insertIds: Map<string, string> }
  >();
  for (const [name, d] of driven) {
    const sessionIds = d.wire.flatMap((w) =>
      w.records.flatMap((r) => {
        const props = (r.properties ?? {}) as Record<string, unknown>;
        return [props.$session_id, props.$window_id].filter(
          (v): v is string => typeof v === 'string',
        );
      }),
    );
    const users = await pseudonymsOf(t, d.project.project_id, [
      d.ids.device,
      d.ids.anon,
      d.userId,
      d.aliasId,
      ...sessionIds,
    ]);
    const groups = await pseudonymsOf(t, d.project.project_id, [d.groupId], GROUP_TYPE);
    const uuids = d.wire
      .flatMap((w) => w.records.map((r) => r.uuid))
      .filter((v): v is string => typeof v === 'string');
    const insertIds = await pseudonymsOf(t, d.project.project_id, uuids, '$insert_id');
    pseudonyms.set(name, { users, group: pseudonymOf(groups, d.groupId), insertIds });
  }
  serverExit = await server.stop('SIGTERM');
  serverOutput = server.output();
  for (const [name, d] of driven) {
    const snapshot = await readSnapshot(t.dataDir, d.project.project_id);
    const p = pseudonyms.get(name)!;
    outcomes.set(name, {
      ok: true,
      run: {
        ...d,
        pseudonyms: p.users,
        groupPseudonym: p.group,
        insertIds: p.insertIds,
        snapshot,
      },
    });
  }
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
  if (server && server.child.exitCode === null) await server.stop('SIGKILL');
});

it('the server stops cleanly after the browser runs', () => {
  expect(serverExit).toBe(0);
});

/** The wire record of the first delivered event with this name. */
function sent(run: Run, event: string): Record<string, unknown> {
  for (const request of run.wire) {
    if (!request.path.startsWith('/e') || request.status !== 200) continue;
    const record = request.records.find((r) => r.event === event);
    if (record) return record;
  }
  throw new Error(`the SDK never delivered "${event}"`);
}

/** Properties Sillage must have removed from every stored posthog-js event. */
const NEVER_KEPT = [
  '$raw_user_agent', // parsed, then dropped
  '$current_url', // typed column (cleaned)
  '$referrer', // only the domain survives
  '$referring_domain', // typed column
  '$session_entry_referrer',
  'gclid', // click ids
  '$session_entry_gclid',
  'li_fat_id',
  'fbclid',
  'token',
  'distinct_id',
  '$device_id', // typed column (pseudonym)
  '$user_id', // typed column (pseudonym)
  '$ip',
  '$set', // person updates, applied to the profile
  '$set_once',
  '$browser', // typed columns
  '$os',
  '$device_type',
  '$lib',
  'utm_source',
  'utm_medium',
];

describe.each(MODES)('posthog-js $name', (mode) => {
  const run = (): Run => runOf(mode.name);
  const origin = (): string => site!.origin(SHOP);
  const P = (id: string): string => pseudonymOf(run().pseudonyms, id);
  const cleanLanding = (): string => `${origin()}/pricing?utm_source=newsletter&utm_medium=email`;

  it('sends the configured body encoding and every request succeeds', () => {
    const r = run();
    const events = r.wire.filter((w) => w.path.startsWith('/e'));
    expect(events.length).toBeGreaterThan(0);
    for (const request of events) {
      expect(request.method).toBe('POST');
      expect(request.status).toBe(200);
      expect(JSON.parse(request.responseText)).toEqual({ status: 1 });
      expect(request.encoding).toBe(mode.encoding);
      // Current posthog-js wraps events as {api_key, batch, sent_at}.
      expect(request.batched).toBe(true);
    }
    expect(
      r.wire.filter((w) => w.status !== 200).map((w) => `${w.method} ${w.path} ${w.status}`),
    ).toEqual([]);
    const other = r.wire
      .filter((w) => !w.path.startsWith('/e'))
      .map((w) => `${w.method} ${w.path}`);
    if (mode.remote) {
      expect(other).toEqual(
        expect.arrayContaining([
          `GET /array/${r.project.token}/config`,
          expect.stringMatching(/^POST \/flags\/?$/),
        ]),
      );
    } else {
      expect(other).toEqual([]);
    }
  });

  it('stores each event once, with the typed columns filled from the SDK and the request', () => {
    const r = run();
    const device = P(r.ids.device);
    const user = P(r.userId);
    expect(r.ids.anon).toBe(r.ids.device);
    expect(r.ids.user).toBe(r.userId);
    expect([...r.snapshot.events.map((e) => e.event)].sort()).toEqual([...JOURNEY_EVENTS].sort());
    const anonymous = new Set(['$pageview', 'Viewed pricing']);
    for (const row of r.snapshot.events) {
      const wire = sent(r, row.event);
      // Clock-skew corrected: timestamp + (receive time − sent_at), on one machine a few ms.
      expect(Math.abs(row.timeMs - Date.parse(String(wire.timestamp))), row.event).toBeLessThan(
        2_000,
      );
      expect(row.timeMs).toBeGreaterThanOrEqual(r.startedMs);
      expect(row.timeMs).toBeLessThanOrEqual(r.endedMs);
      expect(row.distinctId, row.event).toBe(anonymous.has(row.event) ? device : user);
      expect(row.deviceId).toBe(device);
      // posthog-js sends $user_id once identified.
      expect(row.userId, row.event).toBe(anonymous.has(row.event) ? null : user);
      // The event's `uuid` is its insert id (dedup key), stored as its keyed pseudonym.
      expect(row.insertId).toBe(pseudonymOf(r.insertIds, String(wire.uuid)));
      expect(row.insertId).not.toBe(wire.uuid);
      expect({
        browser: row.browser,
        browserVersion: row.browserVersion,
        os: row.os,
        deviceType: row.deviceType,
        countryCode: row.countryCode,
        region: row.region,
        city: row.city,
        referringDomain: row.referringDomain,
        currentUrl: row.currentUrl,
        utmSource: row.utmSource,
        utmMedium: row.utmMedium,
        utmCampaign: row.utmCampaign,
        lib: row.lib,
      }).toEqual({
        browser: 'Chrome',
        browserVersion: '131',
        os: 'Windows',
        // posthog-js sends "Desktop"; stored in Sillage's lower-case vocabulary.
        deviceType: 'desktop',
        countryCode: 'GB',
        region: 'England',
        city: null,
        referringDomain: 'news.example.org',
        currentUrl: cleanLanding(),
        utmSource: 'newsletter',
        utmMedium: 'email',
        utmCampaign: null,
        lib: 'web',
      });
    }
  });

  it('keeps custom properties, pseudonymises session ids and groups, and drops what the policy removes', () => {
    const r = run();
    const byName = new Map(r.snapshot.events.map((e) => [e.event, e.properties]));
    const group = r.groupPseudonym;
    expect(byName.get('Viewed pricing')).toMatchObject({ plan: 'pro', contact: '[email]' });
    expect(byName.get('Upgraded')).toMatchObject({ to: 'team' });
    expect(byName.get('$identify')).toMatchObject({ $anon_distinct_id: P(r.ids.device) });
    expect(byName.get('$create_alias')).toMatchObject({ alias: P(r.aliasId) });
    expect(byName.get('$groupidentify')).toMatchObject({
      $group_type: GROUP_TYPE,
      $group_key: group,
      // `name` is profile PII by Sillage's default policy, for groups too.
      $group_set: { industry: 'widgets' },
      $groups: { [GROUP_TYPE]: group },
    });
    expect(byName.get('Invoice paid')).toMatchObject({
      amount: 120,
      $groups: { [GROUP_TYPE]: group },
    });
    expect(byName.get('$pageview')).toMatchObject({ title: 'Pricing' });
    for (const row of r.snapshot.events) {
      const wire = sent(r, row.event).properties as Record<string, unknown>;
      expect(row.properties, row.event).toMatchObject({
        $lib_version: SDK_VERSION,
        $host: `${SHOP}:${site!.port}`,
        $pathname: '/pricing',
        $session_id: P(String(wire.$session_id)),
        $window_id: P(String(wire.$window_id)),
        $session_entry_url: cleanLanding(),
        $session_entry_referring_domain: 'news.example.org',
      });
      for (const key of NEVER_KEPT)
        expect(row.properties, `${row.event}.${key}`).not.toHaveProperty(key);
    }
  });

  it('applies identify’s $set and $set_once to the person, without e-mail and name', () => {
    const r = run();
    const users = r.snapshot.profiles.filter((p) => p.groupKey === '');
    // person_profiles 'identified_only': no profile for the anonymous device.
    expect(users.map((p) => p.profileId)).toEqual([P(r.userId)]);
    const props = users[0]!.properties;
    expect(props).toMatchObject({
      plan: 'pro',
      first_plan: 'free',
      $country_code: 'GB',
      $region: 'England',
      $initial_referring_domain: 'news.example.org',
      $initial_current_url: cleanLanding(),
      $initial_utm_source: 'newsletter',
      $initial_pathname: '/pricing',
    });
    for (const key of [
      'email',
      'name',
      '$initial_referrer',
      '$initial_gclid',
      '$referrer',
      'gclid',
      '$city',
    ]) {
      expect(props, key).not.toHaveProperty(key);
    }
  });

  it('links the device (identify) and the alias (alias) to the user', () => {
    const r = run();
    const links = r.snapshot.identityLinks.map(({ aliasId, canonicalId }) => ({
      aliasId,
      canonicalId,
    }));
    expect(links).toHaveLength(2);
    expect(links).toEqual(
      expect.arrayContaining([
        { aliasId: P(r.ids.device), canonicalId: P(r.userId) },
        { aliasId: P(r.aliasId), canonicalId: P(r.userId) },
      ]),
    );
  });

  it('keeps no raw id, e-mail, name, user agent, click id or referrer query, in the store, its files or the logs', () => {
    const r = run();
    const sessionIds = [...new Set(r.wire.flatMap((w) => w.records))]
      .map((rec) => (rec.properties ?? {}) as Record<string, unknown>)
      .flatMap((p) => [p.$session_id, p.$window_id])
      .filter((v): v is string => typeof v === 'string');
    const needles = [
      r.ids.device,
      r.userId,
      r.aliasId,
      r.groupId,
      ...new Set(sessionIds),
      EMAIL,
      'alice%40example.com',
      FULL_NAME,
      'Acme Corporation',
      'abc123xyz',
      'article?id=5',
      'Windows NT 10.0; Win64; x64',
      CLIENT_IP,
    ];
    expect(findLeaks(needles, { store: storeText(r.snapshot), serverOutput }, t.dataDir)).toEqual(
      [],
    );
    // Control: the file scan does see stored strings (here, the user's pseudonym).
    expect(findLeaks([P(r.userId)], {}, t.dataDir)).not.toEqual([]);
  });
});

describe('posthog-js group()', () => {
  it('creates the group profile from $groupidentify’s $group_set, keyed by the group pseudonym (every mode)', () => {
    // PostHog applies $group_set to the group's properties; Sillage's /groups does the same for
    // Mixpanel. One assertion across the modes: they share one cause.
    const actual = MODES.map((mode) => {
      const r = runOf(mode.name);
      return r.snapshot.profiles
        .filter((p) => p.groupKey !== '')
        .map(({ groupKey, profileId, properties }) => ({
          mode: mode.name,
          groupKey,
          profileId,
          properties,
        }));
    });
    const expected = MODES.map((mode) => [
      // `name` is profile PII by Sillage's default policy, for groups too.
      {
        mode: mode.name,
        groupKey: GROUP_TYPE,
        profileId: runOf(mode.name).groupPseudonym,
        properties: { industry: 'widgets' },
      },
    ]);
    expect(actual).toEqual(expected);
  });
});
