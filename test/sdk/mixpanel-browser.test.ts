// SDK compatibility: the real mixpanel-browser bundle in real Chromium, pointed at a real Sillage
// server by `api_host` alone, in each transport mode (base64 or JSON payloads, batched or not);
// what landed in the store is checked field by field against what the SDK put on the wire.
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DESKTOP_CHROME_UA,
  launchChromium,
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

const SDK_DIR = path.join(ROOT, 'node_modules/mixpanel-browser');
/** The UMD build defines `window.mixpanel` (the CDN snippet build would fetch from mxpnl.com). */
const SDK_BUNDLE = fs.readFileSync(path.join(SDK_DIR, 'dist/mixpanel.umd.js'));
const SDK_VERSION = (
  JSON.parse(fs.readFileSync(path.join(SDK_DIR, 'package.json'), 'utf8')) as { version: string }
).version;

const SHOP = 'shop.example';
/** A public address the bundled DB-IP database places in GB / England / London. */
const CLIENT_IP = '81.2.69.142';
const LANDING_PATH =
  '/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=spring&gclid=abc123xyz&email=alice%40example.com#plans';
const REFERRER = 'https://news.example.org/article?id=5&reader=alice%40example.com';
const EMAIL = 'alice@example.com';
const FULL_NAME = 'Alice Liddell';

/** The subset of the mixpanel-browser API the pages use. */
interface MixpanelPage {
  init(token: string, config: Record<string, unknown>): void;
  register(props: Record<string, unknown>): void;
  track(name: string, props?: Record<string, unknown>): void;
  track_pageview(props?: Record<string, unknown>): void;
  identify(id: string): void;
  get_distinct_id(): string;
  get_property(name: string): unknown;
  people: { set(props: Record<string, unknown>): void };
}

interface Transport {
  name: string;
  payload: 'base64' | 'json';
  batched: boolean;
  /** Config besides `api_host`; only what the mode needs. */
  config: Record<string, unknown>;
}

// `batch_flush_interval_ms` is shortened from the default 5 s only to keep the test fast.
const TRANSPORTS: Transport[] = [
  {
    name: 'defaults (base64, batched)',
    payload: 'base64',
    batched: true,
    config: { batch_flush_interval_ms: 200 },
  },
  {
    name: 'json, batched',
    payload: 'json',
    batched: true,
    config: { api_payload_format: 'json', batch_flush_interval_ms: 200 },
  },
  {
    name: 'base64, not batched',
    payload: 'base64',
    batched: false,
    config: { batch_requests: false },
  },
  {
    name: 'json, not batched',
    payload: 'json',
    batched: false,
    config: { api_payload_format: 'json', batch_requests: false },
  },
];

interface PageIds {
  /** `$device_id` (a UUID) */
  device: string;
  /** The anonymous distinct id, `$device:<uuid>`. */
  anon: string;
  /** The distinct id after identify(). */
  user: string;
}

interface Run {
  project: CreatedProject;
  userId: string;
  ids: PageIds;
  wire: WireRequest[];
  startedMs: number;
  endedMs: number;
  pseudonyms: Map<string, string>;
  /** Stored insert ids: keyed pseudonyms of the SDK's `$insert_id` (issue 11). */
  insertIds: Map<string, string>;
  snapshot: StoreSnapshot;
}

type Outcome = { ok: true; run: Run } | { ok: false; error: unknown };

const t = makeTestEnv();
let server: ServerProcess | undefined;
let browser: Browser | undefined;
let site: StaticSite | undefined;
let serverExit: number | null = null;
let serverOutput = '';
const outcomes = new Map<string, Outcome>();

/** A scenario's result; rethrows what went wrong while it ran so that its own tests fail. */
function runOf(name: string): Run {
  const outcome = outcomes.get(name);
  if (!outcome) throw new Error(`scenario "${name}" did not run`);
  if (!outcome.ok) throw outcome.error;
  return outcome.run;
}

/** What a scenario produced before the server stopped. */
type Driven = Omit<Run, 'pseudonyms' | 'insertIds' | 'snapshot'>;

/** Opens a fresh browser context (fresh cookies and localStorage) on the landing page. */
async function withPage<T>(
  options: { userAgent?: string; referer: string },
  fn: (page: Page, wire: WireLog) => Promise<T>,
): Promise<T> {
  const context = await browser!.newContext({
    ...(options.userAgent ? { userAgent: options.userAgent } : {}),
    // Sillage trusts 127.0.0.1 as a proxy in this file, as it would trust a load balancer.
    extraHTTPHeaders: { 'X-Forwarded-For': CLIENT_IP },
  });
  try {
    const page = await context.newPage();
    const wire = new WireLog(page, server!.url);
    await page.goto(site!.origin(SHOP) + LANDING_PATH, { referer: options.referer });
    return await fn(page, wire);
  } finally {
    await context.close();
  }
}

/**
 * The journey every transport runs: register a super property, a page view, a custom event,
 * people.set before identify (queued by the SDK until then), identify, one more event.
 */
async function runJourney(transport: Transport): Promise<Driven> {
  const project = await createProject(t, `mixpanel-browser ${transport.name}`);
  const userId = `mpb-user-${TRANSPORTS.indexOf(transport)}-4711`;
  const startedMs = Date.now();
  return withPage({ userAgent: DESKTOP_CHROME_UA, referer: REFERRER }, async (page, wire) => {
    const ids = await page.evaluate(
      async ({ token, apiHost, config, userId, email, fullName }) => {
        const mp = (window as unknown as { mixpanel: MixpanelPage }).mixpanel;
        await new Promise<void>((resolve) =>
          mp.init(token, { ...config, api_host: apiHost, loaded: () => resolve() }),
        );
        const device = String(mp.get_property('$device_id'));
        const anon = mp.get_distinct_id();
        mp.register({ ab_variant: 'B' });
        mp.track_pageview();
        mp.track('Viewed pricing', { plan: 'pro', seats: 3, contact: email });
        mp.people.set({ $email: email, $name: fullName, plan: 'pro' });
        mp.identify(userId);
        mp.track('Upgraded', { to: 'team' });
        return { device, anon, user: mp.get_distinct_id() };
      },
      {
        token: project.token,
        apiHost: server!.url,
        config: transport.config,
        userId,
        email: EMAIL,
        fullName: FULL_NAME,
      },
    );
    // Batched sends call back on enqueue, not on delivery: wait for the responses themselves.
    await wire.waitForDelivered('/track', 4);
    await wire.waitForDelivered('/engage', 2);
    return { project, userId, ids, wire: [...wire.requests], startedMs, endedMs: Date.now() };
  });
}

/** One event from a page with the browser's own (headless) user agent. */
async function runHeadless(): Promise<Driven> {
  const project = await createProject(t, 'mixpanel-browser headless');
  const startedMs = Date.now();
  return withPage({ referer: REFERRER }, async (page, wire) => {
    const ids = await page.evaluate(
      async ({ token, apiHost }) => {
        const mp = (window as unknown as { mixpanel: MixpanelPage }).mixpanel;
        await new Promise<void>((resolve) =>
          mp.init(token, { api_host: apiHost, batch_requests: false, loaded: () => resolve() }),
        );
        mp.track('Headless visit');
        const id = mp.get_distinct_id();
        return { device: String(mp.get_property('$device_id')), anon: id, user: id };
      },
      { token: project.token, apiHost: server!.url },
    );
    await wire.waitForDelivered('/track', 1);
    return { project, userId: '', ids, wire: [...wire.requests], startedMs, endedMs: Date.now() };
  });
}

/** One event from a visitor who came from a search results page that exposed the query. */
const SEARCH_REFERRER = 'https://www.bing.com/search?q=hiv+clinic+near+me';
async function runSearchReferrer(): Promise<Driven> {
  const project = await createProject(t, 'mixpanel-browser search referrer');
  const startedMs = Date.now();
  return withPage(
    { userAgent: DESKTOP_CHROME_UA, referer: SEARCH_REFERRER },
    async (page, wire) => {
      const ids = await page.evaluate(
        async ({ token, apiHost }) => {
          const mp = (window as unknown as { mixpanel: MixpanelPage }).mixpanel;
          await new Promise<void>((resolve) =>
            mp.init(token, { api_host: apiHost, batch_requests: false, loaded: () => resolve() }),
          );
          mp.track('Landed');
          const id = mp.get_distinct_id();
          return { device: String(mp.get_property('$device_id')), anon: id, user: id };
        },
        { token: project.token, apiHost: server!.url },
      );
      await wire.waitForDelivered('/track', 1);
      return { project, userId: '', ids, wire: [...wire.requests], startedMs, endedMs: Date.now() };
    },
  );
}

const SCENARIOS: Array<[string, () => Promise<Driven>]> = [
  ...TRANSPORTS.map((tr): [string, () => Promise<Driven>] => [tr.name, () => runJourney(tr)]),
  ['headless', runHeadless],
  ['search referrer', runSearchReferrer],
];

beforeAll(async () => {
  server = await startServerProcess(t, { env: { SILLAGE_TRUST_PROXY: '127.0.0.1' } });
  site = await startStaticSite({
    '/sdk/mixpanel.js': { contentType: 'text/javascript', body: SDK_BUNDLE },
    '/pricing': {
      contentType: 'text/html; charset=utf-8',
      body: '<!doctype html><html><head><title>Pricing</title><script src="/sdk/mixpanel.js"></script></head><body><h1>Plans</h1></body></html>',
    },
  });
  browser = await launchChromium([SHOP]);
  const partials = new Map<string, Driven>();
  for (const [name, run] of SCENARIOS) {
    try {
      partials.set(name, await run());
    } catch (error) {
      outcomes.set(name, { ok: false, error });
    }
  }
  // Pseudonyms through the running server's admin socket, then stop it to read its store.
  const pseudonyms = new Map<string, Map<string, string>>();
  const insertIds = new Map<string, Map<string, string>>();
  for (const [name, p] of partials) {
    const ids = [p.ids.device, p.ids.anon, p.ids.user, ...(p.userId ? [p.userId] : [])];
    pseudonyms.set(name, await pseudonymsOf(t, p.project.project_id, ids));
    const sentInsertIds = p.wire
      .filter((w) => w.path.startsWith('/track') && w.status === 200)
      .flatMap((w) => w.records.map((r) => (r.properties as Record<string, unknown>).$insert_id))
      .filter((id): id is string => typeof id === 'string');
    insertIds.set(name, await pseudonymsOf(t, p.project.project_id, sentInsertIds, '$insert_id'));
  }
  serverExit = await server.stop('SIGTERM');
  serverOutput = server.output();
  for (const [name, p] of partials) {
    const snapshot = await readSnapshot(t.dataDir, p.project.project_id);
    outcomes.set(name, {
      ok: true,
      run: { ...p, pseudonyms: pseudonyms.get(name)!, insertIds: insertIds.get(name)!, snapshot },
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
    if (!request.path.startsWith('/track') || request.status !== 200) continue;
    const record = request.records.find((r) => r.event === event);
    if (record) return record;
  }
  throw new Error(`the SDK never delivered "${event}"`);
}

function sentProperties(run: Run, event: string): Record<string, unknown> {
  return sent(run, event).properties as Record<string, unknown>;
}

describe.each(TRANSPORTS)('mixpanel-browser $name', (transport) => {
  const run = (): Run => runOf(transport.name);
  const origin = (): string => site!.origin(SHOP);
  const P = (id: string): string => pseudonymOf(run().pseudonyms, id);

  it('puts the payload on the wire in the configured format, and every request succeeds', () => {
    const r = run();
    const sdkRequests = r.wire.filter(
      (w) => w.path.startsWith('/track') || w.path.startsWith('/engage'),
    );
    expect(sdkRequests.length).toBeGreaterThan(0);
    for (const request of sdkRequests) {
      expect(request.method).toBe('POST');
      expect(request.status).toBe(200);
      expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
      // The host is not *.mixpanel.com, so the SDK keeps its base64 default unless told otherwise.
      expect(request.encoding).toBe(transport.payload);
      expect(request.batched).toBe(transport.batched);
      expect(request.query.get('ip')).toBe('1');
      if (transport.batched) {
        // Batches ask for verbose responses and are dropped from the queue on any 200.
        expect(request.query.get('verbose')).toBe('1');
        expect(JSON.parse(request.responseText)).toMatchObject({ status: 1, error: null });
      } else {
        expect(request.responseText).toBe('1');
      }
    }
    expect(
      r.wire
        .filter((w) => w.path.startsWith('/track'))
        .flatMap((w) => w.records.map((x) => x.event)),
    ).toEqual(
      expect.arrayContaining(['$mp_web_page_view', 'Viewed pricing', '$identify', 'Upgraded']),
    );
  });

  it('stores each event once, with the typed columns filled from the SDK and the request', () => {
    const r = run();
    const device = P(r.ids.device);
    const user = P(r.userId);
    expect(r.ids.anon).toBe(`$device:${r.ids.device}`);
    expect(r.ids.user).toBe(r.userId);
    // `$device:<uuid>` and `<uuid>` are the same subject.
    expect(P(r.ids.anon)).toBe(device);

    const events = r.snapshot.events;
    // Sorted by name: events tracked in the same millisecond have no defined order.
    expect(events.map((e) => e.event).sort()).toEqual(
      ['$mp_web_page_view', 'Viewed pricing', '$identify', 'Upgraded'].sort(),
    );
    const identified = new Set(['$identify', 'Upgraded']);
    for (const row of events) {
      const wire = sentProperties(r, row.event);
      expect(row.projectId).toBe(r.project.project_id);
      expect(row.timeMs).toBe(Math.round(Number(wire.time) * 1000));
      expect(row.timeMs).toBeGreaterThanOrEqual(r.startedMs);
      expect(row.timeMs).toBeLessThanOrEqual(r.endedMs);
      expect(row.receivedAtMs).toBeGreaterThanOrEqual(row.timeMs);
      expect(row.distinctId).toBe(identified.has(row.event) ? user : device);
      expect(row.deviceId).toBe(device);
      expect(row.userId).toBe(identified.has(row.event) ? user : null);
      // mixpanel-browser's `$insert_id` (16 base-36 characters) is the dedup key; it is stored as
      // its keyed pseudonym (apps put user ids there too), so resends still dedup.
      expect(wire.$insert_id).toMatch(/^[0-9a-z]{16}$/);
      expect(row.insertId).toBe(pseudonymOf(r.insertIds, String(wire.$insert_id)));
      expect(row.insertId).not.toBe(wire.$insert_id);
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
        utmContent: row.utmContent,
        utmTerm: row.utmTerm,
        lib: row.lib,
      }).toEqual({
        browser: 'Chrome',
        browserVersion: '131',
        os: 'Windows',
        deviceType: 'desktop',
        countryCode: 'GB',
        region: 'England',
        // Region granularity by default: the city (London) is not kept.
        city: null,
        referringDomain: 'news.example.org',
        // Scheme, host and path; only utm_* kept; gclid, the e-mail parameter and the fragment gone.
        currentUrl: `${origin()}/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=spring`,
        utmSource: 'newsletter',
        utmMedium: 'email',
        utmCampaign: 'spring',
        utmContent: null,
        utmTerm: null,
        lib: 'web',
      });
    }
  });

  it('keeps custom and super properties, and nothing the privacy policy removes', () => {
    const r = run();
    const common = {
      $screen_height: expect.any(Number),
      $screen_width: expect.any(Number),
      $lib_version: SDK_VERSION,
      $initial_referring_domain: 'news.example.org',
      ab_variant: 'B',
      // The batcher stamps what sent each event.
      ...(transport.batched ? { mp_sent_by_lib_version: SDK_VERSION } : {}),
    };
    const expected: Record<string, Record<string, unknown>> = {
      $mp_web_page_view: {
        ...common,
        current_page_title: 'Pricing',
        current_domain: SHOP,
        current_url_path: '/pricing',
        current_url_protocol: 'http:',
      },
      'Viewed pricing': { ...common, plan: 'pro', seats: 3, contact: '[email]' },
      $identify: { ...common, $anon_distinct_id: P(r.ids.anon) },
      Upgraded: { ...common, to: 'team' },
    };
    for (const row of r.snapshot.events) {
      // Exact: typed columns left the bag; $referrer, $initial_referrer, gclid, current_url_search,
      // token, ids, time and $insert_id are not in it.
      expect(row.properties, row.event).toEqual(expected[row.event]);
    }
  });

  it('applies people.set and the SDK’s initial-UTM set_once to the identified profile, without $email and $name', () => {
    const r = run();
    expect(r.snapshot.profiles).toHaveLength(1);
    const profile = r.snapshot.profiles[0]!;
    expect(profile.groupKey).toBe('');
    expect(profile.profileId).toBe(P(r.userId));
    expect(profile.properties).toEqual({
      // people.set merges the SDK's own $os/$browser/$browser_version into $set.
      $os: 'Windows',
      $browser: 'Chrome',
      $browser_version: 131,
      plan: 'pro',
      // Every profile update made with an IP moves the profile's location (Mixpanel semantics).
      $country_code: 'GB',
      $region: 'England',
      initial_utm_source: 'newsletter',
      initial_utm_medium: 'email',
      initial_utm_campaign: 'spring',
      initial_utm_content: null,
      initial_utm_term: null,
      initial_utm_id: null,
      initial_utm_source_platform: null,
      initial_utm_campaign_id: null,
      initial_utm_creative_format: null,
      initial_utm_marketing_tactic: null,
      $initial_referring_domain: 'news.example.org',
    });
    expect(profile.createdAtMs).toBeGreaterThanOrEqual(r.startedMs);
    expect(profile.createdAtMs).toBeLessThanOrEqual(r.endedMs);
  });

  it('links the device to the user (identify: Simplified ID Merge and $anon_distinct_id agree)', () => {
    const r = run();
    expect(
      r.snapshot.identityLinks.map(({ aliasId, canonicalId }) => ({ aliasId, canonicalId })),
    ).toEqual([{ aliasId: P(r.ids.device), canonicalId: P(r.userId) }]);
    // The link carries the time of the first stored event that established it.
    const identifiedTimes = r.snapshot.events.filter((e) => e.userId !== null).map((e) => e.timeMs);
    expect(identifiedTimes).toContain(r.snapshot.identityLinks[0]!.timeMs);
  });

  it('keeps no raw id, e-mail, name, click id or referrer query, in the store, its files or the logs', () => {
    const r = run();
    const needles = [
      r.ids.device,
      r.userId,
      EMAIL,
      'alice%40example.com',
      FULL_NAME,
      'abc123xyz',
      'article?id=5',
      CLIENT_IP,
    ];
    const leaks = findLeaks(needles, { store: storeText(r.snapshot), serverOutput }, t.dataDir);
    expect(leaks).toEqual([]);
    // Control: the file scan does see stored strings (here, the user's pseudonym).
    expect(findLeaks([P(r.userId)], {}, t.dataDir)).not.toEqual([]);
  });
});

describe('mixpanel-browser in plain headless Chromium', () => {
  it('takes the browser name from the SDK but classes the device as a bot (UA says HeadlessChrome)', () => {
    const r = runOf('headless');
    const [row] = r.snapshot.events;
    expect(r.snapshot.events).toHaveLength(1);
    const major = browser!.version().split('.')[0]!;
    // mixpanel-browser reports "Chrome" for HeadlessChrome; the server's UA parser flags it.
    expect(sentProperties(r, 'Headless visit').$browser).toBe('Chrome');
    expect(row).toMatchObject({
      event: 'Headless visit',
      browser: 'Chrome',
      browserVersion: major,
      os: 'Linux',
      deviceType: 'bot',
      countryCode: 'GB',
      lib: 'web',
      distinctId: pseudonymOf(r.pseudonyms, r.ids.device),
    });
  });
});

describe('mixpanel-browser after a search engine that exposed the query', () => {
  it('keeps the referring domain and search engine only, not the searched words (mp_keyword)', () => {
    const r = runOf('search referrer');
    // The SDK parses the referrer's q= into mp_keyword; the raw referrer itself is dropped.
    expect(sentProperties(r, 'Landed').mp_keyword).toBe('hiv clinic near me');
    const [row] = r.snapshot.events;
    expect(row?.referringDomain).toBe('www.bing.com');
    expect(row?.properties.$search_engine).toBe('bing');
    // "Referrers keep only the domain" (DESIGN.md): the search terms are the referrer's query.
    expect(row?.properties).not.toHaveProperty('mp_keyword');
    expect(storeText(r.snapshot)).not.toContain('clinic');
  });
});
