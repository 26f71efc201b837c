// Synthetic product-analytics data for `sillage demo` and the query benchmark, written straight
// into the DuckDB tables (the benchmarks' store; `sillage demo` generates into a scratch database
// and copies through the EventStore port, cli/demo.ts). People, sessions and journeys are planned in TypeScript from a seeded
// generator (deterministic by seed); the millions of event rows are expanded by DuckDB in one
// statement. Identifiers are real pseudonyms of synthetic ids, made by the project's key, exactly
// as ingestion stores them (device ids, `$device:` distinct ids, user ids after identify).
import type { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api';
import type { JsonObject } from '../../shared/json.js';
import type { EventRow } from '../types.js';
import { storeError, type DuckDbDatabase } from './database.js';
import { refreshPersons } from './persons.js';

export interface DemoDataOptions {
  projectId: string;
  /** Approximate number of events to generate. */
  events: number;
  /** People (visitors, some of whom sign up); default one per 50 events. */
  users?: number;
  /** Days of history; default 90. */
  days?: number;
  /** Last day of data, `YYYY-MM-DD` (UTC). */
  endDay: string;
  seed: number;
  /** The project's pseudonymiser, applied to the synthetic raw ids. */
  pseudonymise: (rawId: string) => string;
  onProgress?: (step: string) => void;
}

export interface DemoDataSummary {
  events: number;
  users: number;
  signedUp: number;
  sessions: number;
  identityLinks: number;
  fromDay: string;
  toDay: string;
}

/** The 40 event names; the first is every session's first event. */
export const DEMO_EVENTS = [
  'Session Started',
  'Page Viewed',
  'Button Clicked',
  'Search Performed',
  'Product Viewed',
  'Added to Cart',
  'Removed from Cart',
  'Checkout Started',
  'Logged In',
  'Logged Out',
  'Onboarding Step Completed',
  'Invite Sent',
  'Invite Accepted',
  'File Uploaded',
  'File Downloaded',
  'Comment Added',
  'Settings Updated',
  'Plan Upgraded',
  'Plan Downgraded',
  'Notification Opened',
  'Email Opened',
  'Dashboard Viewed',
  'Report Exported',
  'Integration Connected',
  'Feature Used',
  'Video Played',
  'Video Completed',
  'Help Article Viewed',
  'Support Ticket Created',
  'Feedback Submitted',
  'Error Shown',
  'App Opened',
  'Form Submitted',
  'Filter Applied',
  'Share Clicked',
  'Subscription Renewed',
  'Subscription Cancelled',
  // The journey: sign-up → activation → purchase, with drop-off at each step.
  'Signed Up',
  'Project Created',
  'Purchase Completed',
] as const;

/** Relative frequency of the in-session events (index 1..36 of DEMO_EVENTS) and their page. */
const SESSION_EVENTS: readonly [name: string, weight: number, path: string][] = [
  ['Page Viewed', 300, '/'],
  ['Button Clicked', 120, '/app'],
  ['Search Performed', 45, '/search'],
  ['Product Viewed', 60, '/products'],
  ['Added to Cart', 18, '/cart'],
  ['Removed from Cart', 5, '/cart'],
  ['Checkout Started', 8, '/checkout'],
  ['Logged In', 12, '/login'],
  ['Logged Out', 4, '/logout'],
  ['Onboarding Step Completed', 10, '/onboarding'],
  ['Invite Sent', 3, '/team'],
  ['Invite Accepted', 2, '/team'],
  ['File Uploaded', 14, '/files'],
  ['File Downloaded', 16, '/files'],
  ['Comment Added', 20, '/app/comments'],
  ['Settings Updated', 6, '/settings'],
  ['Plan Upgraded', 1, '/billing'],
  ['Plan Downgraded', 1, '/billing'],
  ['Notification Opened', 15, '/app/notifications'],
  ['Email Opened', 9, '/email'],
  ['Dashboard Viewed', 70, '/dashboard'],
  ['Report Exported', 5, '/reports'],
  ['Integration Connected', 2, '/integrations'],
  ['Feature Used', 90, '/app'],
  ['Video Played', 12, '/learn'],
  ['Video Completed', 5, '/learn'],
  ['Help Article Viewed', 8, '/help'],
  ['Support Ticket Created', 2, '/help/contact'],
  ['Feedback Submitted', 2, '/feedback'],
  ['Error Shown', 6, '/app'],
  ['App Opened', 25, '/app'],
  ['Form Submitted', 10, '/forms'],
  ['Filter Applied', 30, '/app'],
  ['Share Clicked', 6, '/share'],
  ['Subscription Renewed', 1, '/billing'],
  ['Subscription Cancelled', 1, '/billing'],
];
const SLOTS = 1000;

type Weighted<T> = readonly (readonly [T, number])[];

// Shares as seen by a typical web product (StatCounter-like orders of magnitude).
const DEVICES: Weighted<'desktop' | 'mobile' | 'tablet'> = [
  ['desktop', 47],
  ['mobile', 48],
  ['tablet', 5],
];
const DESKTOP: Weighted<readonly [browser: string, os: string, versions: readonly string[]]> = [
  [['Chrome', 'Windows', ['124.0', '125.0', '126.0']], 38],
  [['Chrome', 'Mac OS X', ['125.0', '126.0']], 14],
  [['Microsoft Edge', 'Windows', ['125.0', '126.0']], 12],
  [['Safari', 'Mac OS X', ['17.4', '17.5']], 12],
  [['Firefox', 'Windows', ['126.0', '127.0']], 6],
  [['Firefox', 'Linux', ['127.0']], 2],
  [['Chrome', 'Linux', ['126.0']], 3],
  [['Opera', 'Windows', ['110.0']], 3],
  [['Chrome', 'Chrome OS', ['125.0']], 2],
];
const MOBILE: Weighted<readonly [browser: string, os: string, versions: readonly string[]]> = [
  [['Chrome', 'Android', ['125.0', '126.0']], 40],
  [['Safari', 'iOS', ['17.4', '17.5']], 38],
  [['Samsung Internet', 'Android', ['24.0', '25.0']], 9],
  [['Chrome', 'iOS', ['125.0']], 6],
  [['Firefox', 'Android', ['127.0']], 2],
  [['Opera', 'Android', ['82.0']], 2],
];
const COUNTRIES: Weighted<
  readonly [code: string, regions: readonly string[], utcOffsetHours: number]
> = [
  [['US', ['California', 'New York', 'Texas', 'Washington', 'Illinois', 'Florida'], -6], 30],
  [['GB', ['England', 'Scotland', 'Wales'], 0], 8],
  [['DE', ['Bavaria', 'Berlin', 'Hesse', 'North Rhine-Westphalia'], 1], 8],
  [['FR', ['Île-de-France', 'Auvergne-Rhône-Alpes', 'Occitanie', 'Brittany'], 1], 7],
  [['IN', ['Karnataka', 'Maharashtra', 'Delhi', 'Tamil Nadu'], 5.5], 6],
  [['CA', ['Ontario', 'Quebec', 'British Columbia'], -5], 4],
  [['BR', ['São Paulo', 'Rio de Janeiro', 'Minas Gerais'], -3], 4],
  [['NL', ['North Holland', 'South Holland', 'Utrecht'], 1], 3],
  [['ES', ['Madrid', 'Catalonia', 'Andalusia'], 1], 3],
  [['IT', ['Lombardy', 'Lazio', 'Piedmont'], 1], 3],
  [['AU', ['New South Wales', 'Victoria', 'Queensland'], 10], 3],
  [['JP', ['Tokyo', 'Osaka', 'Kanagawa'], 9], 2],
  [['PL', ['Masovia', 'Lesser Poland'], 1], 2],
  [['SE', ['Stockholm', 'Västra Götaland'], 1], 2],
  [['MX', ['Mexico City', 'Jalisco'], -6], 2],
  [['SG', ['Singapore'], 8], 1],
  [['CH', ['Zurich', 'Geneva'], 1], 1],
  [['IE', ['Leinster', 'Munster'], 0], 1],
];
const REFERRERS: Weighted<string | null> = [
  [null, 34],
  ['www.google.com', 38],
  ['t.co', 4],
  ['www.linkedin.com', 4],
  ['news.ycombinator.com', 3],
  ['www.facebook.com', 3],
  ['duckduckgo.com', 3],
  ['www.bing.com', 3],
  ['github.com', 3],
  ['www.reddit.com', 5],
];
const CAMPAIGNS: Weighted<readonly [source: string, medium: string, campaign: string] | null> = [
  [null, 82],
  [['newsletter', 'email', 'spring_launch'], 6],
  [['google', 'cpc', 'brand_search'], 6],
  [['twitter', 'social', 'product_hunt'], 3],
  [['partner', 'referral', 'integrations'], 3],
];
/** Share of each local hour of the day in sessions (activity peaks mid-morning and evening). */
const HOURS = [
  1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 4, 5, 5.5, 5.5, 5, 5.5, 5.5, 5.2, 5, 4.8, 4.8, 5, 5, 4.5, 3,
  1.8,
];

/** mulberry32: a small, fast, seedable generator (deterministic output per seed). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function picker<T>(items: Weighted<T>): (r: number) => T {
  const total = items.reduce((s, [, w]) => s + w, 0);
  return (r) => {
    let x = r * total;
    for (const [item, w] of items) {
      if (x < w) return item;
      x -= w;
    }
    return items[items.length - 1]![0];
  };
}

const DAY_MS = 86_400_000;
const uuidOf = (rand: () => number): string =>
  Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16))
    .join('')
    .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');

interface Person {
  userPid: string;
  devicePid: string;
  device2Pid: string | null;
  browser: string;
  version: string;
  os: string;
  deviceType: string;
  country: string;
  region: string;
  /** When the person signed up (identified), or null for visitors who never do. */
  signupMs: number | null;
}

interface Session {
  person: number;
  startMs: number;
  events: number;
  paceMs: number;
  identified: boolean;
  secondDevice: boolean;
  referrer: string | null;
  campaign: readonly [string, string, string] | null;
}

interface JourneyEvent {
  person: number;
  timeMs: number;
  event: 'Signed Up' | 'Project Created' | 'Purchase Completed';
  amount: number | null;
  plan: string;
}

function appendNullable(a: DuckDBAppender, value: string | null): void {
  if (value === null) a.appendNull();
  else a.appendVarchar(value);
}

/** Fills `options.projectId` with synthetic events; resolves once committed. */
export async function generateDemoData(
  db: DuckDbDatabase,
  options: DemoDataOptions,
): Promise<DemoDataSummary> {
  const progress = options.onProgress ?? (() => undefined);
  const rand = random(options.seed);
  const days = options.days ?? 90;
  const endMs = Date.parse(`${options.endDay}T00:00:00Z`) + DAY_MS;
  const startMs = endMs - days * DAY_MS;
  const userCount = Math.max(10, options.users ?? Math.round(options.events / 50));
  const pickDevice = picker(DEVICES);
  const pickDesktop = picker(DESKTOP);
  const pickMobile = picker(MOBILE);
  const pickCountry = picker(COUNTRIES);
  const pickReferrer = picker(REFERRERS);
  const pickCampaign = picker(CAMPAIGNS);
  const hourTotal = HOURS.reduce((s, h) => s + h, 0);
  const pickHour = (r: number): number => {
    let x = r * hourTotal;
    for (let h = 0; h < 24; h++) {
      if (x < HOURS[h]!) return h;
      x -= HOURS[h]!;
    }
    return 23;
  };

  progress('planning people and sessions');
  // People: power-law activity (Pareto, α ≈ 1.2), arrivals spread over the period.
  const people: Person[] = [];
  const weights: number[] = [];
  const arrivals: number[] = [];
  const lastSeen: number[] = [];
  const existing: boolean[] = [];
  const offsets: number[] = [];
  let weightSum = 0;
  for (let i = 0; i < userCount; i++) {
    const deviceType = pickDevice(rand());
    const [browser, os, versions] =
      deviceType === 'desktop' ? pickDesktop(rand()) : pickMobile(rand());
    const [country, regions, offsetHours] = pickCountry(rand());
    const old = rand() < 0.3;
    const arrival = old
      ? startMs - rand() * 60 * DAY_MS
      : startMs + Math.pow(rand(), 0.8) * days * DAY_MS;
    const intensity = Math.min(300, Math.pow(1 - rand(), -1 / 1.2));
    // Churn: people stay a while (heavy users longer), so retention curves decay.
    const lifetime = -Math.log(1 - rand()) * 20 * DAY_MS * (1 + Math.log(intensity));
    const until = Math.min(endMs, arrival + lifetime + DAY_MS);
    const from = Math.max(arrival, startMs);
    const w = until <= from ? 0 : intensity * ((until - from) / (days * DAY_MS));
    weights.push(w);
    weightSum += w;
    arrivals.push(from);
    lastSeen.push(Math.max(until, from + 3_600_000));
    existing.push(old);
    offsets.push(offsetHours);
    people.push({
      userPid: options.pseudonymise(`demo-user-${options.seed}-${i}@example.com`),
      devicePid: options.pseudonymise(uuidOf(rand)),
      device2Pid: null,
      browser,
      version: versions[Math.floor(rand() * versions.length)]!,
      os,
      deviceType,
      country,
      region: regions[Math.floor(rand() * regions.length)]!,
      signupMs: null,
    });
  }

  // Sessions: as many as the person's weight earns (≈ 7.6 events each), at plausible local hours
  // and fewer at weekends.
  const targetSessions = Math.max(userCount, Math.round(options.events / 7.6));
  const sessions: Session[] = [];
  const journey: JourneyEvent[] = [];
  let signedUp = 0;
  for (let p = 0; p < userCount; p++) {
    const person = people[p]!;
    const arrival = arrivals[p]!;
    const until = lastSeen[p]!;
    // Someone gone before the period started left no trace in it.
    if (weights[p] === 0) continue;
    const count = Math.max(1, Math.round((targetSessions * weights[p]!) / weightSum));
    // Newcomers' first session is their arrival; earlier users just carry on.
    const starts: number[] = existing[p] ? [] : [arrival];
    // Bounded: a short stay may not fit the wanted sessions at plausible hours.
    for (let attempt = 0; starts.length < count && attempt < count * 20; attempt++) {
      const day = Math.floor((arrival + rand() * (until - arrival)) / DAY_MS);
      const weekday = new Date(day * DAY_MS).getUTCDay();
      if ((weekday === 0 || weekday === 6) && rand() < 0.3) continue;
      const localHour = pickHour(rand());
      const t = day * DAY_MS + (localHour - offsets[p]!) * 3_600_000 + rand() * 3_600_000;
      if (t >= arrival && t < Math.min(until, endMs - 3_600_000)) starts.push(t);
    }
    if (starts.length === 0) starts.push(arrival + rand() * (until - arrival));
    starts.sort((a, b) => a - b);
    // The journey: 45 % sign up (in one of their first sessions), 55 % of them create a project,
    // 35 % of those buy; the later steps come minutes to days later.
    const signs = rand() < 0.45;
    let signupMs: number | null = null;
    if (signs) {
      const at = starts[Math.min(starts.length - 1, Math.floor(rand() * 3))]!;
      signupMs = at + 60_000 + rand() * 240_000;
      person.signupMs = signupMs;
      signedUp++;
      const plan = rand() < 0.8 ? 'free' : 'trial';
      journey.push({ person: p, timeMs: signupMs, event: 'Signed Up', amount: null, plan });
      if (rand() < 0.55) {
        const created = signupMs + Math.pow(rand(), 3) * 5 * DAY_MS + 120_000;
        if (created < endMs) {
          journey.push({
            person: p,
            timeMs: created,
            event: 'Project Created',
            amount: null,
            plan,
          });
          if (rand() < 0.35) {
            const bought = created + Math.pow(rand(), 2) * 12 * DAY_MS + 600_000;
            const tier = rand();
            if (bought < endMs)
              journey.push({
                person: p,
                timeMs: bought,
                event: 'Purchase Completed',
                amount: tier < 0.6 ? 19 : tier < 0.9 ? 49 : 199,
                plan: tier < 0.6 ? 'starter' : tier < 0.9 ? 'pro' : 'business',
              });
          }
        }
      }
      if (rand() < 0.15) person.device2Pid = options.pseudonymise(uuidOf(rand));
    }
    starts.forEach((t, index) => {
      const events = 1 + Math.min(80, Math.floor(Math.log(1 - rand()) / Math.log(1 - 1 / 7.5)));
      const identified = signupMs !== null && t >= signupMs;
      sessions.push({
        person: p,
        startMs: t,
        events,
        paceMs: 15_000 + Math.floor(rand() * 90_000),
        identified,
        secondDevice: identified && person.device2Pid !== null && rand() < 0.4,
        referrer: index === 0 ? pickReferrer(rand()) : rand() < 0.7 ? null : pickReferrer(rand()),
        campaign: index === 0 ? pickCampaign(rand()) : null,
      });
    });
  }

  const connection = await db.connect();
  try {
    progress('writing the plan');
    await writePlan(connection, people, sessions, journey);
    progress(`expanding ${sessions.length.toLocaleString('en-US')} sessions into events`);
    const inserted = await expand(connection, options.projectId, options.seed);
    // Written outside the ingest path: a project whose per-day rollups exist gets them again.
    await db.rollups.rebuildIfBuilt(connection, options.projectId);
    return {
      events: inserted.events,
      users: userCount,
      signedUp,
      sessions: sessions.length,
      identityLinks: inserted.links,
      fromDay: new Date(startMs).toISOString().slice(0, 10),
      toDay: options.endDay,
    };
  } catch (cause) {
    throw storeError(cause, 'demo data');
  } finally {
    connection.closeSync();
  }
}

async function writePlan(
  c: DuckDBConnection,
  people: Person[],
  sessions: Session[],
  journey: JourneyEvent[],
): Promise<void> {
  // Times are converted from epoch values in SQL; this connection's zone is UTC so that a
  // TIMESTAMP is read as UTC.
  await c.run(`SET SESSION TimeZone = 'UTC'`);
  await c.run(`CREATE OR REPLACE TEMP TABLE demo_people (p INTEGER, user_pid VARCHAR, device_pid VARCHAR, device2_pid VARCHAR,
    browser VARCHAR, browser_version VARCHAR, os VARCHAR, device_type VARCHAR, country VARCHAR, region VARCHAR, signup_ms BIGINT)`);
  await c.run(`CREATE OR REPLACE TEMP TABLE demo_sessions (s INTEGER, p INTEGER, start_ms BIGINT, n INTEGER, pace_ms INTEGER,
    identified BOOLEAN, second_device BOOLEAN, referrer VARCHAR, utm_source VARCHAR, utm_medium VARCHAR, utm_campaign VARCHAR)`);
  await c.run(
    `CREATE OR REPLACE TEMP TABLE demo_journey (j INTEGER, p INTEGER, t_ms BIGINT, event VARCHAR, amount DOUBLE, plan VARCHAR)`,
  );
  await c.run(
    `CREATE OR REPLACE TEMP TABLE demo_slots (slot INTEGER, event VARCHAR, path VARCHAR)`,
  );
  let a = await c.createAppender('demo_people', 'main', 'temp');
  people.forEach((p, i) => {
    a.appendInteger(i);
    a.appendVarchar(p.userPid);
    a.appendVarchar(p.devicePid);
    appendNullable(a, p.device2Pid);
    a.appendVarchar(p.browser);
    a.appendVarchar(p.version);
    a.appendVarchar(p.os);
    a.appendVarchar(p.deviceType);
    a.appendVarchar(p.country);
    a.appendVarchar(p.region);
    if (p.signupMs === null) a.appendNull();
    else a.appendBigInt(BigInt(Math.round(p.signupMs)));
    a.endRow();
  });
  a.closeSync();
  a = await c.createAppender('demo_sessions', 'main', 'temp');
  sessions.forEach((s, i) => {
    a.appendInteger(i);
    a.appendInteger(s.person);
    a.appendBigInt(BigInt(Math.round(s.startMs)));
    a.appendInteger(s.events);
    a.appendInteger(s.paceMs);
    a.appendBoolean(s.identified);
    a.appendBoolean(s.secondDevice);
    appendNullable(a, s.referrer);
    appendNullable(a, s.campaign?.[0] ?? null);
    appendNullable(a, s.campaign?.[1] ?? null);
    appendNullable(a, s.campaign?.[2] ?? null);
    a.endRow();
  });
  a.closeSync();
  a = await c.createAppender('demo_journey', 'main', 'temp');
  journey.forEach((j, i) => {
    a.appendInteger(i);
    a.appendInteger(j.person);
    a.appendBigInt(BigInt(Math.round(j.timeMs)));
    a.appendVarchar(j.event);
    if (j.amount === null) a.appendNull();
    else a.appendDouble(j.amount);
    a.appendVarchar(j.plan);
    a.endRow();
  });
  a.closeSync();
  // Slot table: a uniform slot number picks an event with its relative frequency.
  const total = SESSION_EVENTS.reduce((s, [, w]) => s + w, 0);
  a = await c.createAppender('demo_slots', 'main', 'temp');
  let slot = 0;
  SESSION_EVENTS.forEach(([name, weight, path]) => {
    const share = Math.max(1, Math.round((weight / total) * SLOTS));
    for (let k = 0; k < share && slot < SLOTS; k++, slot++) {
      a.appendInteger(slot);
      a.appendVarchar(name);
      a.appendVarchar(path);
      a.endRow();
    }
  });
  while (slot < SLOTS) {
    a.appendInteger(slot++);
    a.appendVarchar('Page Viewed');
    a.appendVarchar('/');
    a.endRow();
  }
  a.closeSync();
}

/** Expands sessions and journeys into events (in time order), and writes the identity links. */
async function expand(
  c: DuckDBConnection,
  projectId: string,
  seed: number,
): Promise<{ events: number; links: number }> {
  // Per-event pseudo-randomness: hash(session, position, seed, salt) (deterministic).
  const sql = `
    INSERT INTO events
    WITH session_events AS (
      SELECT s.*, k, hash(s.s, k, $2) AS h
      FROM (SELECT *, unnest(range(n)) AS k FROM demo_sessions) s
    ),
    expanded AS (
      SELECT
        (se.s::UBIGINT * 4096 + se.k::UBIGINT) AS local_key, se.h,
        (se.start_ms + se.k * se.pace_ms + ((se.h % se.pace_ms) * 9 // 10)::BIGINT)::BIGINT AS t_ms,
        CASE WHEN se.k = 0 THEN 'Session Started' ELSE sl.event END AS event,
        CASE WHEN se.k = 0 THEN '/' ELSE sl.path END AS path,
        se.identified, se.second_device, se.referrer, se.utm_source, se.utm_medium, se.utm_campaign,
        pe.*
      FROM session_events se
      JOIN demo_people pe ON pe.p = se.p
      LEFT JOIN demo_slots sl ON sl.slot = (se.h >> 24) % ${SLOTS}
    ),
    web AS (
      SELECT
        local_key, h, t_ms, event,
        CASE WHEN identified THEN user_pid WHEN second_device THEN device2_pid ELSE device_pid END AS distinct_id,
        CASE WHEN second_device THEN device2_pid ELSE device_pid END AS device_id,
        CASE WHEN identified THEN user_pid END AS user_id,
        browser, browser_version, os, device_type, country, region,
        CASE WHEN event = 'Session Started' OR h % 10 = 0 THEN referrer END AS referring_domain,
        'https://app.example.com' || path AS current_url,
        CASE WHEN event = 'Session Started' THEN utm_source END AS utm_source,
        CASE WHEN event = 'Session Started' THEN utm_medium END AS utm_medium,
        CASE WHEN event = 'Session Started' THEN utm_campaign END AS utm_campaign,
        'web' AS lib,
        CASE
          WHEN event = 'Search Performed' THEN '{"query_length":' || (3 + h % 30) || ',"results":' || (h >> 8) % 120 || '}'
          WHEN event = 'Product Viewed' OR event = 'Added to Cart' THEN '{"product_id":"sku-' || (h >> 8) % 500 || '","price":' || (5 + (h >> 16) % 200) || '.99}'
          WHEN event = 'Button Clicked' THEN '{"button":"' || ['save','share','new','export','close'][((h >> 8) % 5 + 1)::BIGINT] || '"}'
          WHEN event = 'Feature Used' THEN '{"feature":"' || ['editor','search','filters','charts','api','templates'][((h >> 8) % 6 + 1)::BIGINT] || '"}'
          ELSE '{"$screen_width":' || CASE device_type WHEN 'desktop' THEN 1440 WHEN 'tablet' THEN 820 ELSE 390 END || ',"$lib_version":"2.55.1"}'
        END AS properties
      FROM expanded
    ),
    journey AS (
      SELECT
        (1::UBIGINT << 40) + j.j AS local_key, hash(j.j, $2, 'journey') AS h, j.t_ms, j.event,
        p.user_pid AS distinct_id,
        CASE WHEN j.event = 'Purchase Completed' THEN NULL ELSE p.device_pid END AS device_id,
        CASE WHEN j.event = 'Purchase Completed' THEN NULL ELSE p.user_pid END AS user_id,
        CASE WHEN j.event = 'Purchase Completed' THEN NULL ELSE p.browser END AS browser,
        CASE WHEN j.event = 'Purchase Completed' THEN NULL ELSE p.browser_version END AS browser_version,
        CASE WHEN j.event = 'Purchase Completed' THEN NULL ELSE p.os END AS os,
        CASE WHEN j.event = 'Purchase Completed' THEN NULL ELSE p.device_type END AS device_type,
        p.country, p.region, NULL AS referring_domain,
        CASE j.event WHEN 'Signed Up' THEN 'https://app.example.com/signup' WHEN 'Project Created' THEN 'https://app.example.com/projects/new' END AS current_url,
        NULL AS utm_source, NULL AS utm_medium, NULL AS utm_campaign,
        CASE WHEN j.event = 'Purchase Completed' THEN 'node' ELSE 'web' END AS lib,
        CASE WHEN j.amount IS NULL THEN '{"plan":"' || j.plan || '"}'
             ELSE '{"plan":"' || j.plan || '","amount":' || j.amount || ',"currency":"USD"}' END AS properties
      FROM demo_journey j JOIN demo_people p ON p.p = j.p
    ),
    all_events AS (SELECT * FROM web UNION ALL SELECT * FROM journey)
    SELECT
      $1, (hash(local_key, $2, $1, 'key')::UHUGEINT << 64) | local_key::UHUGEINT,
      make_timestamp(t_ms * 1000)::TIMESTAMPTZ, event, distinct_id, device_id, user_id,
      printf('%016x', hash(local_key, $2, 'insert')), browser, browser_version, os, device_type,
      country, region, NULL, referring_domain, current_url, utm_source, utm_medium, utm_campaign,
      NULL, NULL, lib, properties,
      make_timestamp((t_ms + 200 + (h % 3000)::BIGINT) * 1000)::TIMESTAMPTZ, NULL, NULL
    FROM all_events
    ORDER BY t_ms`;
  const result = await c.run(sql, [projectId, seed]);
  const events = Number(result.rowsChanged);
  // Sign-up links the device to the user; a second device is linked at its first identified use.
  const links = await c.run(
    `INSERT OR IGNORE INTO identity_links
     SELECT $1, device_pid, user_pid, make_timestamp(signup_ms * 1000)::TIMESTAMPTZ FROM demo_people WHERE signup_ms IS NOT NULL
     UNION ALL
     SELECT $1, pe.device2_pid, pe.user_pid, make_timestamp(min(s.start_ms) * 1000)::TIMESTAMPTZ
       FROM demo_sessions s JOIN demo_people pe ON pe.p = s.p WHERE s.second_device GROUP BY ALL`,
    [projectId],
  );
  await refreshPersons(c);
  await c.run(
    'DROP TABLE demo_people; DROP TABLE demo_sessions; DROP TABLE demo_journey; DROP TABLE demo_slots',
  );
  return { events, links: Number(links.rowsChanged) };
}

/** A VARCHAR column's value (the statement below selects only VARCHAR where these are used). */
const textOrNull = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const text = (value: unknown): string => textOrNull(value) ?? '';

/**
 * A project's events as stored in `db`, in (time, dedup key) order, `pageSize` rows at a time:
 * how `sillage demo` reads the scratch database it generated into, to write the events through
 * the EventStore port. One streamed statement (not `listEvents` pages, which sort again for
 * each page); the dedup key is read as a number (DuckDB turns a UHUGEINT into text slowly).
 */
export async function* projectEventPages(
  db: DuckDbDatabase,
  projectId: string,
  pageSize: number,
): AsyncGenerator<EventRow[]> {
  const c = await db.connect();
  try {
    const result = await c.stream(
      `SELECT dedup_key, epoch_ms(time), event, distinct_id, device_id, user_id, insert_id,
              browser, browser_version, os, device_type, country_code, region, city,
              referring_domain, current_url, utm_source, utm_medium, utm_campaign, utm_content,
              utm_term, lib, properties, epoch_ms(received_at)
         FROM events WHERE project_id = $1 ORDER BY time, dedup_key`,
      [projectId],
    );
    let page: EventRow[] = [];
    for await (const rows of result.yieldRowsJs()) {
      for (const r of rows) {
        page.push({
          projectId,
          dedupKey: BigInt(r[0] as bigint),
          timeMs: Number(r[1]),
          event: text(r[2]),
          distinctId: text(r[3]),
          deviceId: textOrNull(r[4]),
          userId: textOrNull(r[5]),
          insertId: text(r[6]),
          browser: textOrNull(r[7]),
          browserVersion: textOrNull(r[8]),
          os: textOrNull(r[9]),
          deviceType: textOrNull(r[10]),
          countryCode: textOrNull(r[11]),
          region: textOrNull(r[12]),
          city: textOrNull(r[13]),
          referringDomain: textOrNull(r[14]),
          currentUrl: textOrNull(r[15]),
          utmSource: textOrNull(r[16]),
          utmMedium: textOrNull(r[17]),
          utmCampaign: textOrNull(r[18]),
          utmContent: textOrNull(r[19]),
          utmTerm: textOrNull(r[20]),
          lib: textOrNull(r[21]),
          properties: JSON.parse(text(r[22])) as JsonObject,
          receivedAtMs: Number(r[23]),
        });
        if (page.length === pageSize) {
          yield page;
          page = [];
        }
      }
    }
    if (page.length > 0) yield page;
  } catch (cause) {
    throw storeError(cause, 'demo data');
  } finally {
    c.closeSync();
  }
}
