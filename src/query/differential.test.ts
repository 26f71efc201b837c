// Differential property tests: random small datasets and random queries of every kind; the SQL
// engine on a real DuckDB file must answer exactly what the plain-TypeScript reference answers.
// Reproduce a failure with FC_SEED=<seed printed below> (and FC_PATH from fast-check's report).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject, JsonValue } from '../shared/json.js';
import { DuckDbDatabase, DuckDbEventStore } from '../store/duckdb/index.js';
import { DUCKDB_DIALECT } from '../store/duckdb/dialect.js';
import { DuckDbQueryExecutor } from '../store/duckdb/query-executor.js';
import type { EventRow, IdentityLink, ProfileUpdateRow, StoredProfile } from '../store/types.js';
import { DAY_MS, buildClock, offsetAt } from './clock.js';
import { QueryEngine } from './engine.js';
import { parseQuery } from './model.js';
import { referenceAnswer, unknownProperties } from './reference.js';

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() % 2 ** 31;
const RUNS = Number(process.env.FC_RUNS_FACTOR ?? 1);
const SAMPLE_SIZE = 40;

// Zones with DST (both hemispheres, 30-minute and midnight transitions) and odd fixed offsets.
const ZONES = [
  'UTC',
  'Europe/Paris',
  'America/New_York',
  'Australia/Lord_Howe',
  'America/Sao_Paulo',
  'Asia/Kathmandu',
  'America/St_Johns',
  'Pacific/Chatham',
  'Pacific/Kiritimati',
  'Pacific/Pago_Pago',
];
// Days next to DST changes (2018-11-04 and 2019-02-17 are midnight changes in São Paulo), month
// and year ends, a leap day.
const BASE_DAYS = [
  '2024-03-08',
  '2024-03-29',
  '2024-10-25',
  '2024-11-01',
  '2018-11-02',
  '2019-02-15',
  '2024-12-27',
  '2024-02-27',
  '2024-04-05',
];
const EVENTS = ['A', 'B', 'C', 'Sign up', 'é'];
/** SDK bookkeeping events in the data: "any event" leaves them out unless asked for. */
const SDK_EVENTS = ['$identify', '$set', '$feature_flag_called'];
const USERS = ['u1', 'u2', 'u3'];
const DEVICES = ['d1', 'd2', 'd3', 'd4'];
const BROWSERS = ['Chrome', 'Firefox', 'Safari', 'Édge', 'chrome'];
const VERSIONS = ['120', '17.5', '1e3', '-0', 'x'];
const COUNTRIES = ['FR', 'US', 'DE'];
// Text values: numeric-looking strings that are and are not JSON numbers, unicode, empty.
const TEXTS = ['pro', 'free', 'Pro', '12', '1.5', ' 3', '0x10', '-2', 'é', '', 'a/b', 'true'];
// Values summed exactly in any order (multiples of 1/4), often from a small set shared with the
// filters so that boundaries (gt vs gte, equal values) are hit.
const COMMON_NUMBERS = [-2, 0, 1.5, 3, 12, 17.5, 120, 1000];
const EXACT_NUMBER = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...COMMON_NUMBERS) },
  { weight: 1, arbitrary: fc.integer({ min: -4000, max: 4000 }).map((n) => n / 4) },
);
const ODD_NUMBERS = [
  1e21,
  1e20,
  2 ** 64,
  2 ** 63,
  -(2 ** 63),
  5e-7,
  1e-7,
  0.1,
  -0,
  123456789.125,
  1.5e300,
];
const COMPANIES = ['c1', 'c2', 'c3', '12'];
/** Profile properties: persons and companies share names with events (`plan`) and have their own. */
const PROFILE_PROPERTIES = [
  'person.plan',
  'person.seats',
  'person.missing',
  'group.company.plan',
  'group.company.seats',
  'group.team.plan',
];
const profileProps: fc.Arbitrary<JsonObject> = fc
  .record(
    {
      plan: fc.constantFrom(...TEXTS),
      seats: fc.oneof(EXACT_NUMBER, fc.constantFrom('12', 'x')),
      odd: fc.constantFrom<JsonValue>(true, null, ['x', 1], { k: 'v' }, 1e21),
    },
    { requiredKeys: [] },
  )
  .map((p) => p as JsonObject);
/** Most users, some devices and most companies have a profile; a few ids of other kinds too. */
const profiles = fc
  .tuple(
    fc.array(fc.option(profileProps, { nil: null, freq: 4 }), {
      minLength: USERS.length + 2,
      maxLength: USERS.length + 2,
    }),
    fc.array(fc.option(profileProps, { nil: null, freq: 4 }), {
      minLength: COMPANIES.length,
      maxLength: COMPANIES.length,
    }),
    fc.array(
      fc.record({
        groupKey: fc.constantFrom('', 'company', 'team'),
        id: fc.constantFrom(...USERS, ...DEVICES, 'o1', 'o2', ...COMPANIES),
        properties: profileProps,
      }),
      { maxLength: 3 },
    ),
  )
  .map(([people, companies, extra]) => [
    ...people.flatMap((properties, i) =>
      properties ? [{ groupKey: '', id: [...USERS, 'o1', 'd1'][i]!, properties }] : [],
    ),
    ...companies.flatMap((properties, i) =>
      properties ? [{ groupKey: 'company', id: COMPANIES[i]!, properties }] : [],
    ),
    ...extra,
  ]);
const JSON_KEYS = ['plan', 'amount', 'n', 'flag', 'tags', 'odd', 'a/b', 'x.y', 'c~d', '$browser'];
const PROPERTIES = [
  ...JSON_KEYS.filter((k) => k !== '$browser'),
  '$browser',
  '$browser_version',
  'mp_country_code',
  '$os',
  'missing',
  ...PROFILE_PROPERTIES,
];
const NUMERIC_PROPERTIES = [
  'amount',
  'n',
  '$browser_version',
  'person.seats',
  'group.company.seats',
];

let db: DuckDbDatabase;
let store: DuckDbEventStore;
let executors: DuckDbQueryExecutor[] = [];
/**
 * One engine with DuckDB's small-input plans, one with the plans it uses at scale (issue 12), and
 * one (trends only) that reads the per-day rollups where a series can (rollups.ts).
 */
let engines: QueryEngine[] = [];
let rollupsEngine: QueryEngine;
let dir: string;
let nextProject = 0;
let nextKey = 1n;
/** The engines' clock: relative days ("-7d", "today") resolve against it. */
let nowMs = Date.parse('2024-03-10T12:00:00Z');

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-diff-'));
  db = await DuckDbDatabase.open(dir);
  store = new DuckDbEventStore(db);
  executors = [
    await DuckDbQueryExecutor.open(db),
    await DuckDbQueryExecutor.open(db, { planAsAtScale: true }),
  ];
  engines = executors.map(
    (executor) =>
      new QueryEngine({
        executor,
        dialect: DUCKDB_DIALECT,
        audit: { record: () => undefined },
        limits: { propertySampleSize: SAMPLE_SIZE },
        calendarNow: () => nowMs,
      }),
  );
  rollupsEngine = new QueryEngine({
    executor: executors[1]!,
    dialect: DUCKDB_DIALECT,
    audit: { record: () => undefined },
    limits: { propertySampleSize: SAMPLE_SIZE },
    calendarNow: () => nowMs,
    rollups: db.rollups,
  });
  console.info(`differential tests: FC_SEED=${SEED}`);
});

afterAll(async () => {
  for (const executor of executors) await executor.close();
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Datasets.

interface Dataset {
  timezone: string;
  baseDay: string;
  events: Omit<EventRow, 'projectId' | 'dedupKey'>[];
  links: { aliasId: string; canonicalId: string }[];
  /** Current profiles: persons (group key '') and groups. */
  profiles: { groupKey: string; profileId: string; properties: JsonObject }[];
}

const jsonValue: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.constantFrom(...TEXTS),
  EXACT_NUMBER,
  fc.constantFrom(...ODD_NUMBERS),
  fc.boolean(),
  fc.constant(null),
  fc.constant(['x', 1, true] as JsonValue),
  fc.constant({ k: 'v', n: 2 }),
);

const properties: fc.Arbitrary<JsonObject> = fc
  .record(
    {
      plan: fc.constantFrom(...TEXTS),
      amount: fc.oneof(EXACT_NUMBER, fc.constantFrom('12', '1.5', 'abc', ' 3')),
      n: EXACT_NUMBER,
      flag: fc.boolean(),
      tags: fc.constant(['x', 1, true] as JsonValue),
      odd: jsonValue,
      'a/b': fc.constantFrom(...TEXTS),
      'x.y': jsonValue,
      'c~d': fc.constantFrom(...TEXTS),
      $browser: fc.constant({ nested: 'not a column value' }),
      company: fc.constantFrom(...COMPANIES, 12),
    },
    { requiredKeys: [] },
  )
  .map((p) => p as JsonObject);

/**
 * Milliseconds after the base day: mostly on whole hours, half and three-quarter hours (local
 * midnights of every zone above, and funnel windows, are then hit exactly), or a millisecond off.
 */
const instant: fc.Arbitrary<number> = fc
  .record({
    hour: fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: -30, max: 10 * 24 }) },
      { weight: 1, arbitrary: fc.integer({ min: -48, max: 45 * 24 }) },
    ),
    minute: fc.constantFrom(0, 0, 0, 15, 30, 45, 59),
    ms: fc.constantFrom(0, 0, 0, 0, 1, -1, 59_999),
  })
  .map(({ hour, minute, ms }) => hour * 3_600_000 + minute * 60_000 + ms);

/** Offset changes of the zone and its local midnights around the base day (epoch ms). */
function specialInstants(
  timezone: string,
  base: number,
): { changes: number[]; midnights: number[] } {
  const clock = buildClock(timezone, base - 2 * DAY_MS, base + 31 * DAY_MS);
  const midnights: number[] = [];
  for (let d = -1; d <= 30; d++) {
    const day = base + d * DAY_MS;
    midnights.push(day - offsetAt(timezone, day - offsetAt(timezone, day)));
  }
  return { changes: clock.segments.slice(1).map((seg) => seg.fromMs), midnights };
}

/** An offset change (half the time, when the zone has one nearby) or a local midnight. */
function pickSpecial(special: { changes: number[]; midnights: number[] }, pick: number): number {
  const list = special.changes.length > 0 && pick % 2 === 0 ? special.changes : special.midnights;
  return list[Math.floor(pick / 2) % list.length]!;
}

const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> =>
  fc.option(arb, { nil: null, freq: 3 });

const dataset: fc.Arbitrary<Dataset> = fc
  .record({
    timezone: fc.constantFrom(...ZONES),
    baseDay: fc.constantFrom(...BASE_DAYS),
    sharedTimes: fc.array(instant, { minLength: 1, maxLength: 4 }),
    raw: fc.array(
      fc.record({
        instant,
        shared: fc.nat(8),
        event: fc.constantFrom(...EVENTS, 'A', 'B', 'C', ...SDK_EVENTS),
        snap: fc.nat(99),
        snapPick: fc.nat(),
        snapDelta: fc.constantFrom(0, 0, 1, -1),
        user: fc.option(fc.constantFrom(...USERS), { nil: null, freq: 2 }),
        device: maybe(fc.constantFrom(...DEVICES)),
        distinct: fc.constantFrom('user', 'device', 'device', 'empty', 'o1', 'o2', 'o1', 'o2'),
        browser: maybe(fc.constantFrom(...BROWSERS)),
        version: maybe(fc.constantFrom(...VERSIONS)),
        country: maybe(fc.constantFrom(...COUNTRIES)),
        properties,
      }),
      { minLength: 3, maxLength: 45, size: 'max' },
    ),
    links: fc.array(
      fc.record({
        aliasId: fc.constantFrom(...DEVICES, ...USERS, 'o1', 'o2'),
        canonicalId: fc.constantFrom(...USERS),
      }),
      { maxLength: 6, size: 'max' },
    ),
    profiles,
  })
  .map(({ timezone, baseDay, sharedTimes, raw, links, profiles: rawProfiles }) => {
    const base = Date.parse(`${baseDay}T00:00:00Z`);
    const special = specialInstants(timezone, base);
    const events = raw.map((r, i) => {
      // Some events share instants (ties) with others; some sit on (or next to) a local
      // midnight or an offset change of the zone.
      const at =
        r.snap < 25
          ? pickSpecial(special, r.snapPick) + r.snapDelta - base
          : r.shared < sharedTimes.length
            ? sharedTimes[r.shared]!
            : r.instant;
      const distinctId =
        r.distinct === 'user'
          ? (r.user ?? 'o1')
          : r.distinct === 'device'
            ? (r.device ?? 'o2')
            : r.distinct === 'empty'
              ? ''
              : r.distinct;
      return {
        timeMs: base + at,
        event: r.event,
        distinctId,
        deviceId: r.device,
        userId: r.user,
        insertId: `i${i}`,
        browser: r.browser,
        browserVersion: r.version,
        os: r.browser === 'Safari' ? 'iOS' : null,
        deviceType: null,
        countryCode: r.country,
        region: null,
        city: null,
        referringDomain: null,
        currentUrl: null,
        utmSource: null,
        utmMedium: null,
        utmCampaign: null,
        utmContent: null,
        utmTerm: null,
        lib: 'web',
        properties: r.properties,
        receivedAtMs: 0,
      };
    });
    // First link wins, and an id is never linked to itself (as the store enforces).
    const seen = new Set<string>();
    const kept = links.filter((l) => {
      if (seen.has(l.aliasId) || l.aliasId === l.canonicalId) return false;
      seen.add(l.aliasId);
      return true;
    });
    return { timezone, baseDay, events, links: kept, profiles: oneProfileEach(rawProfiles) };
  });

/** One profile per (group key, id): the last one given. Person ids are never company ids. */
function oneProfileEach(
  list: { groupKey: string; id: string; properties: JsonObject }[],
): Dataset['profiles'] {
  const byKey = new Map<string, Dataset['profiles'][number]>();
  for (const p of list)
    byKey.set(`${p.groupKey}\u0000${p.id}`, {
      groupKey: p.groupKey,
      profileId: p.id,
      properties: p.properties,
    });
  return [...byKey.values()];
}

/** Stores a dataset under a fresh project id (plus noise in another project); returns both. */
async function load(d: Dataset): Promise<{
  projectId: string;
  events: EventRow[];
  links: IdentityLink[];
  profiles: StoredProfile[];
}> {
  const projectId = `prj_diff_${nextProject++}`;
  const noiseId = `${projectId}_noise`;
  const events: EventRow[] = [];
  for (const e of d.events) {
    events.push({ ...e, projectId, dedupKey: nextKey++ });
    if (events.length % 4 === 0) events.push({ ...e, projectId: noiseId, dedupKey: nextKey++ });
  }
  const links: IdentityLink[] = d.links.flatMap((l) => [
    { projectId, ...l, timeMs: 0 },
    { projectId: noiseId, aliasId: l.aliasId, canonicalId: 'u9', timeMs: 0 },
  ]);
  const profileUpdates: ProfileUpdateRow[] = d.profiles.flatMap((p) => [
    { projectId, ...p, op: '$set' as const, value: p.properties, timeMs: 0, ignoreTime: false },
    // The other project's profiles say something else: they must not be read.
    {
      projectId: noiseId,
      groupKey: p.groupKey,
      profileId: p.profileId,
      op: '$set' as const,
      value: { plan: 'noise', seats: 999 },
      timeMs: 0,
      ignoreTime: false,
    },
  ]);
  await store.commit({ events, identityLinks: links, profileUpdates, privacyCounts: [] });
  // The reference reads the profiles as the store keeps them.
  const stored: StoredProfile[] = [];
  for (const p of d.profiles) {
    const got = await store.getProfile({ projectId, groupKey: p.groupKey, profileId: p.profileId });
    if (got) stored.push(got);
  }
  return { projectId, events, links, profiles: stored };
}

// ---------------------------------------------------------------------------------------------
// Queries (as JSON bodies, so that validation is exercised too).

const dayAfter = (day: string, n: number): string =>
  new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

/** Numbers present in the dataset's numeric properties: filters then hit them exactly. */
function numbersIn(d: Dataset): number[] {
  const out = new Set<number>(COMMON_NUMBERS);
  for (const e of d.events) {
    for (const v of [e.properties.amount, e.properties.n, e.browserVersion]) {
      const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
      if (Number.isFinite(n)) out.add(n);
    }
  }
  return [...out];
}

const filterOf = (d: Dataset) =>
  fc.oneof(
    fc.record({
      property: fc.constantFrom(...PROPERTIES),
      op: fc.constantFrom('eq', 'neq', 'contains', 'not_contains'),
      value: fc.oneof(
        fc.constantFrom(...TEXTS, ...BROWSERS, ...VERSIONS, ...COUNTRIES, 'x', '1'),
        fc.constantFrom(...COMMON_NUMBERS, 0.1, 1e21),
        fc.boolean(),
      ),
    }),
    fc.record({
      property: fc.constantFrom(...PROPERTIES),
      op: fc.constantFrom('in', 'not_in'),
      value: fc.array(fc.constantFrom(...TEXTS, ...BROWSERS, ...COUNTRIES, '120', '1'), {
        minLength: 1,
        maxLength: 3,
      }),
    }),
    {
      weight: 2,
      arbitrary: fc.record({
        property: fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom(...NUMERIC_PROPERTIES) },
          { weight: 1, arbitrary: fc.constantFrom(...PROPERTIES) },
        ),
        op: fc.constantFrom('gt', 'gte', 'lt', 'lte'),
        value: fc.oneof(EXACT_NUMBER, fc.constantFrom(...numbersIn(d))),
      }),
    },
    fc.record({
      property: fc.constantFrom(...PROPERTIES),
      op: fc.constantFrom('is_set', 'is_not_set'),
    }),
  );

/** A filter entry: mostly a condition, sometimes an any/all group (nested up to 3 deep). */
const filterNodeOf = (d: Dataset, depth = 0): fc.Arbitrary<unknown> =>
  depth >= 3
    ? filterOf(d)
    : fc.oneof(
        { weight: 3, arbitrary: filterOf(d) },
        {
          weight: 1,
          arbitrary: fc
            .record({
              kind: fc.constantFrom('any', 'any', 'all'),
              items: fc.array(filterNodeOf(d, depth + 1), { minLength: 1, maxLength: 3 }),
            })
            .map(({ kind, items }) => ({ [kind]: items })),
        },
      );

const filtersOf = (d: Dataset, max = 2) =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constant([]) },
    { weight: 3, arbitrary: fc.array(filterNodeOf(d), { minLength: 1, maxLength: max }) },
  );

/**
 * "Now" for relative days: an instant of the data, or a local midnight (± 1 ms) of the zone, so
 * that "today" flips exactly where the data sits.
 */
const nowOf = (d: Dataset) =>
  fc.oneof(
    fc.nat().map((pick) => d.events[pick % d.events.length]!.timeMs),
    fc
      .record({ day: fc.integer({ min: 0, max: 12 }), delta: fc.constantFrom(0, -1, 1) })
      .map(({ day, delta }) => {
        const midnight = Date.parse(`${dayAfter(d.baseDay, day)}T00:00:00Z`);
        return midnight - offsetAt(d.timezone, midnight - offsetAt(d.timezone, midnight)) + delta;
      }),
  );

/** A relative range (and the "now" it is read at): from ≤ today ≤ to. */
const relativeRangeOf = (d: Dataset) =>
  fc.record({
    from: fc.constantFrom(
      'today',
      'yesterday',
      '-1d',
      '-6d',
      '-1w',
      'start_of_week',
      'start_of_month',
      '-1m',
    ),
    to: fc.constantFrom('today', 'today', '+1d', '+3d'),
    __nowMs: nowOf(d),
  });

/** Seconds between two events of the dataset: funnel windows then end exactly on an event. */
function gapsIn(d: Dataset): number[] {
  const times = d.events.map((e) => e.timeMs);
  const out: number[] = [];
  for (const a of times) for (const b of times) if (b > a) out.push(Math.ceil((b - a) / 1000));
  return out.filter((g) => g <= 366 * 86_400).slice(0, 200);
}

const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** A date range: anywhere near the base day, or a few days around one of the events. */
const rangeOf = (d: Dataset) =>
  fc.oneof(
    fc
      .record({ start: fc.integer({ min: -1, max: 6 }), length: fc.integer({ min: 0, max: 10 }) })
      .map(({ start, length }) => ({
        from: dayAfter(d.baseDay, start),
        to: dayAfter(d.baseDay, start + length),
      })),
    fc
      .record({
        pick: fc.nat(),
        before: fc.integer({ min: 0, max: 1 }),
        length: fc.integer({ min: 0, max: 2 }),
      })
      .map(({ pick, before, length }) => {
        const at = d.events[pick % d.events.length]!.timeMs;
        const from = dayAfter(utcDay(at), -before);
        return { from, to: dayAfter(from, length) };
      }),
  );

/** A breakdown: one property (the first API form), or a list of 1 to 3 distinct properties. */
const breakdown = fc.option(
  fc.record({
    breakdown: fc.oneof(
      { weight: 2, arbitrary: fc.constantFrom(...PROPERTIES) },
      {
        weight: 2,
        arbitrary: fc.uniqueArray(fc.constantFrom(...PROPERTIES), { minLength: 1, maxLength: 3 }),
      },
    ),
    breakdown_limit: fc.integer({ min: 1, max: 4 }),
  }),
  { nil: undefined },
);

const trendsQuery = (d: Dataset) =>
  fc
    .record({
      range: fc.oneof(
        { weight: 3, arbitrary: rangeOf(d) },
        { weight: 1, arbitrary: relativeRangeOf(d) },
      ),
      interval: fc.constantFrom('hour', 'day', 'day', 'week', 'month'),
      series: fc.array(
        fc.oneof(
          fc.record({
            event: fc.option(fc.constantFrom(...EVENTS), { nil: null }),
            math: fc.constantFrom('total', 'unique_users', 'unique_users'),
            filters: filtersOf(d),
          }),
          fc.record({
            event: fc.option(fc.constantFrom(...EVENTS), { nil: null }),
            math: fc.constantFrom(
              'per_user_avg',
              'per_user_median',
              'per_user_min',
              'per_user_max',
              'per_user_p90',
              'per_user_p99',
            ),
            filters: filtersOf(d),
          }),
          fc.record({
            event: fc.option(fc.constantFrom(...EVENTS), { nil: null }),
            math: fc.constant('unique_groups'),
            group_key: fc.constantFrom('company', 'company', 'plan', 'mp_country_code', 'missing'),
            filters: filtersOf(d),
          }),
          fc.record(
            {
              math: fc.constantFrom('total', 'unique_users'),
              include_sdk_events: fc.boolean(),
              filters: filtersOf(d),
            },
            { requiredKeys: ['math'] },
          ),
          fc.record({
            event: fc.option(fc.constantFrom(...EVENTS), { nil: null }),
            math: fc.constantFrom('sum', 'avg', 'min', 'max', 'p50', 'p90', 'p99'),
            property: fc.constantFrom(...NUMERIC_PROPERTIES),
            filters: filtersOf(d),
          }),
        ),
        { minLength: 1, maxLength: 3 },
      ),
      filters: filtersOf(d),
      breakdown,
      compare: fc.boolean(),
      formula: fc.option(fc.constantFrom(...FORMULAS), { nil: null, freq: 2 }),
    })
    .map((q) => {
      const { range: r, breakdown: b, interval, compare, formula, ...rest } = q;
      // Formulas (without a breakdown) name only the series there are; compare sometimes.
      const extra = {
        ...(compare ? { compare: 'previous_period' } : {}),
        ...(formula && !b && maxLetter(formula) < rest.series.length ? { formula } : {}),
      };
      if ('__nowMs' in r) {
        // Relative ranges span up to a month: daily and coarser only.
        const coarse = interval === 'hour' ? 'day' : interval;
        return { kind: 'trends', ...r, interval: coarse, ...rest, ...extra, ...(b ?? {}) };
      }
      // Hourly trends over short ranges only (24 labels a day).
      const to = interval === 'hour' && r.to > dayAfter(r.from, 2) ? dayAfter(r.from, 2) : r.to;
      return { kind: 'trends', from: r.from, to, interval, ...rest, ...extra, ...(b ?? {}) };
    });

/** Formulas over up to three series: division by zero and by nothing, negation, precedence. */
const FORMULAS = [
  'A',
  'A + B',
  'B / A * 100',
  '(A - B) / (A + 1)',
  '-A * 2 + C',
  'A / 0',
  'A/B/C',
  '2 - -A',
];
const maxLetter = (formula: string): number =>
  Math.max(-1, ...[...formula.matchAll(/[A-Z]/g)].map((m) => m[0].charCodeAt(0) - 65));

/** Trends of the per-user and group maths only, mostly unfiltered: their edges come often. */
/** Trends whose series read the per-day rollups (and a few that do not, beside them). */
const rollupsQuery = (d: Dataset) =>
  fc
    .record({
      range: fc.oneof(
        { weight: 3, arbitrary: rangeOf(d) },
        { weight: 1, arbitrary: relativeRangeOf(d) },
      ),
      interval: fc.constantFrom('hour', 'day', 'day', 'week', 'month'),
      series: fc.array(
        fc.oneof(
          { weight: 4, arbitrary: fc.record({ math: fc.constant('unique_users') }) },
          {
            weight: 3,
            arbitrary: fc.record({
              math: fc.constant('total'),
              event: fc.option(fc.constantFrom(...EVENTS, ...SDK_EVENTS), { nil: null }),
            }),
          },
          {
            weight: 2,
            arbitrary: fc.record({ math: fc.constantFrom('weekly_active', 'monthly_active') }),
          },
          {
            weight: 1,
            arbitrary: fc.record({
              math: fc.constantFrom('unique_users', 'total'),
              include_sdk_events: fc.boolean(),
            }),
          },
        ),
        { minLength: 1, maxLength: 2 },
      ),
      compare: fc.constantFrom(undefined, 'previous_period'),
    })
    .map(({ range: r, compare, interval, ...rest }) => ({
      kind: 'trends',
      ...r,
      ...rest,
      // Active users need whole days (400 otherwise).
      interval:
        interval === 'hour' && rest.series.some((x) => x.math.endsWith('_active'))
          ? 'day'
          : interval,
      ...(compare ? { compare } : {}),
    }));

const userMathsQuery = (d: Dataset) =>
  fc
    .record({
      range: fc.oneof(
        { weight: 3, arbitrary: rangeOf(d) },
        { weight: 1, arbitrary: relativeRangeOf(d) },
      ),
      interval: fc.constantFrom('day', 'week', 'week', 'month'),
      series: fc.array(
        fc.oneof(
          fc.record({
            event: fc.option(fc.constantFrom('A', 'B'), { nil: null, freq: 2 }),
            math: fc.constantFrom(
              'per_user_avg',
              'per_user_median',
              'per_user_min',
              'per_user_max',
              'per_user_p90',
              'per_user_p99',
            ),
          }),
          fc.record({
            event: fc.option(fc.constantFrom('A', 'B'), { nil: null, freq: 2 }),
            math: fc.constantFrom('weekly_active', 'monthly_active'),
          }),
          fc.record({
            event: fc.option(fc.constantFrom('A', 'B'), { nil: null, freq: 2 }),
            math: fc.constant('unique_groups'),
            group_key: fc.constantFrom('company', 'plan', 'mp_country_code'),
          }),
        ),
        { minLength: 1, maxLength: 2 },
      ),
      filters: fc.oneof(fc.constant([]), fc.constant([]), filtersOf(d, 1)),
      breakdown: fc.oneof(fc.constant(undefined), fc.constant(undefined), breakdown),
    })
    .map(({ range: r, breakdown: b, ...rest }) => {
      // Active users cannot be broken down (400 otherwise).
      const active = rest.series.some((x) => x.math.endsWith('_active'));
      return { kind: 'trends', ...r, ...rest, ...(active ? {} : (b ?? {})) };
    });

/**
 * Two events of one user, the second exactly one window after the first (where the data has such
 * a pair): the funnel then converts, or not, on the window's last millisecond.
 */
function windowPairs(d: Dataset): { first: number; second: number; seconds: number }[] {
  const out: { first: number; second: number; seconds: number }[] = [];
  d.events.forEach((a, i) =>
    d.events.forEach((b, j) => {
      const gap = b.timeMs - a.timeMs;
      if (a.userId !== null && a.userId === b.userId && gap > 0 && gap % 1000 === 0)
        out.push({ first: i, second: j, seconds: gap / 1000 });
    }),
  );
  return out.filter((p) => p.seconds <= 366 * 86_400);
}

const randomFunnel = (d: Dataset) =>
  fc
    .record({
      range: rangeOf(d),
      steps: fc.array(
        fc.record({ event: fc.constantFrom(...EVENTS, 'A', 'B', 'C'), filters: filtersOf(d, 1) }),
        {
          minLength: 2,
          maxLength: 4,
        },
      ),
      window_seconds: fc.oneof(
        fc.constantFrom(1, 60, 900, 3600, 86_400, 3 * 86_400, 30 * 86_400),
        gapsIn(d).length > 0 ? fc.constantFrom(...gapsIn(d)) : fc.constant(3600),
      ),
      filters: filtersOf(d, 1),
      breakdown,
    })
    .map(({ range: r, breakdown: b, ...rest }) => ({
      kind: 'funnel',
      ...r,
      ...rest,
      ...(b ?? {}),
    }));

const windowFunnel = (d: Dataset) => {
  const pairs = windowPairs(d);
  if (pairs.length === 0) return randomFunnel(d);
  return fc
    .record({
      pair: fc.constantFrom(...pairs),
      extra: fc.array(fc.constantFrom(...EVENTS), { maxLength: 2 }),
      slack: fc.constantFrom(0, 0, -1, 1),
      breakdown,
    })
    .map(({ pair, extra, slack, breakdown: b }) => {
      const first = d.events[pair.first]!;
      const second = d.events[pair.second]!;
      return {
        kind: 'funnel',
        from: dayAfter(utcDay(first.timeMs), -1),
        to: dayAfter(utcDay(first.timeMs), 1),
        steps: [first.event, second.event, ...extra].map((event) => ({ event })),
        window_seconds: Math.max(1, pair.seconds + slack),
        ...(b ?? {}),
      };
    });
};

const funnelQuery = (d: Dataset) => fc.oneof(randomFunnel(d), windowFunnel(d));

const retentionQuery = (d: Dataset) =>
  fc
    .record({
      range: fc.oneof(
        { weight: 3, arbitrary: rangeOf(d) },
        { weight: 1, arbitrary: relativeRangeOf(d) },
      ),
      start_event: fc.constantFrom(...EVENTS),
      return_event: fc.constantFrom(...EVENTS),
      period: fc.constantFrom('day', 'week', 'month'),
      periods: fc.integer({ min: 1, max: 8 }),
      filters: filtersOf(d, 1),
      retention_type: fc.constantFrom(undefined, 'first_in_range', 'first_time', 'recurring'),
      breakdown: fc.oneof(fc.constant(undefined), breakdown),
    })
    .map(({ range: r, breakdown: b, retention_type: type, ...rest }) => ({
      kind: 'retention',
      ...r,
      ...rest,
      ...(type === undefined ? {} : { retention_type: type }),
      ...(b ?? {}),
    }));

const discoveryQuery = (d: Dataset) =>
  fc
    .oneof(
      fc.record(
        {
          kind: fc.constant('event_names'),
          range: rangeOf(d),
          limit: fc.integer({ min: 1, max: 6 }),
        },
        { requiredKeys: ['kind'] },
      ),
      fc.record(
        {
          kind: fc.constant('event_properties'),
          event: fc.constantFrom(...EVENTS),
          range: rangeOf(d),
          limit: fc.integer({ min: 1, max: 30 }),
        },
        { requiredKeys: ['kind'] },
      ),
      fc.record(
        {
          kind: fc.constant('property_values'),
          property: fc.constantFrom(...PROPERTIES),
          event: fc.constantFrom(...EVENTS),
          range: rangeOf(d),
          limit: fc.integer({ min: 1, max: 6 }),
        },
        { requiredKeys: ['kind', 'property'] },
      ),
    )
    .map((q) => {
      const { range: r, ...rest } = q as { range?: { from: string; to: string } };
      return { ...rest, ...(r ?? {}) };
    });

// ---------------------------------------------------------------------------------------------
// Funnel stories: datasets built around the funnel asked, so that the shapes random data rarely
// makes come every run (issue 12): a later step before the entry, a missing middle step (with the
// step after it present), repeated entries, ties, events exactly at the window's end and one
// millisecond past it, entries on the range's first and last local millisecond and just outside,
// an identity merge in the middle of the funnel, days with an offset change (DST zones only).

const DST_ZONES = ['Europe/Paris', 'America/New_York', 'Australia/Lord_Howe', 'America/Sao_Paulo'];
/** Where a later step's event is put, relative to the entry and the step before it. */
const STEP_SHAPES = [
  'after',
  'after',
  'tie', // same instant as the previous step: not "after" it
  'missing',
  'before_entry',
  'window_end', // exactly one window after the entry: converts
  'past_window', // one millisecond later: does not
] as const;
const ENTRY_AT = ['inside', 'first_ms', 'last_ms', 'before_range', 'after_range', 'dst'] as const;
const STORY_WINDOWS = [3600, 86_400, 7 * 86_400];

interface Story {
  dataset: Dataset;
  funnel: Record<string, unknown>;
  retention: Record<string, unknown>;
}

/** Epoch ms of a local date's midnight in `tz`. */
function localMidnight(tz: string, day: string): number {
  const utc = Date.parse(`${day}T00:00:00Z`);
  return utc - offsetAt(tz, utc - offsetAt(tz, utc));
}

function storyEvent(
  timeMs: number,
  event: string,
  who: { user: string | null; device: string | null },
  insertId: string,
): Dataset['events'][number] {
  return {
    timeMs,
    event,
    distinctId: who.user ?? who.device ?? '',
    deviceId: who.device,
    userId: who.user,
    insertId,
    browser: null,
    browserVersion: null,
    os: null,
    deviceType: null,
    countryCode: null,
    region: null,
    city: null,
    referringDomain: null,
    currentUrl: null,
    utmSource: null,
    utmMedium: null,
    utmCampaign: null,
    utmContent: null,
    utmTerm: null,
    lib: 'web',
    properties: {},
    receivedAtMs: 0,
  };
}

const storyUser = fc.record({
  entryAt: fc.constantFrom(...ENTRY_AT),
  entryHour: fc.integer({ min: 0, max: 3 * 24 - 1 }),
  shapes: fc.array(fc.constantFrom(...STEP_SHAPES), { minLength: 3, maxLength: 3 }),
  gapMinutes: fc.array(fc.constantFrom(1, 30, 60, 61, 24 * 60), { minLength: 3, maxLength: 3 }),
  // Another entry (step 1 again): before, at, or after the first one (by hours; 0 is a tie).
  repeats: fc.array(fc.integer({ min: -30, max: 30 }), { maxLength: 2 }),
  // Identity: one user id throughout; a device merged into the user from step `mergeAt` on (the
  // events before carry only the device); or an anonymous device never linked.
  identity: fc.constantFrom('user', 'merge', 'merge', 'anonymous'),
  mergeAt: fc.integer({ min: 1, max: 3 }),
  // A step-k event before the entry, beside whatever the shape puts after it.
  earlyStep: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
});

const story: fc.Arbitrary<Story> = fc
  .record({
    timezone: fc.constantFrom(...DST_ZONES, 'UTC'),
    baseDay: fc.constantFrom(...BASE_DAYS),
    steps: fc.array(fc.constantFrom('A', 'B', 'C', 'A'), { minLength: 2, maxLength: 4 }),
    window: fc.constantFrom(...STORY_WINDOWS),
    users: fc.array(storyUser, { minLength: 1, maxLength: 5 }),
    noise: fc.array(fc.record({ at: instant, event: fc.constantFrom(...EVENTS) }), {
      maxLength: 8,
    }),
    period: fc.constantFrom('day', 'week'),
  })
  .map(({ timezone, baseDay, steps, window, users, noise, period }) => {
    const from = dayAfter(baseDay, 1);
    const to = dayAfter(baseDay, 3);
    const first = localMidnight(timezone, from);
    const end = localMidnight(timezone, dayAfter(to, 1));
    const changes = specialInstants(timezone, Date.parse(`${baseDay}T00:00:00Z`)).changes;
    const windowMs = window * 1000;
    const events: Dataset['events'] = [];
    const links: Dataset['links'] = [];
    users.forEach((u, i) => {
      const user = USERS[i % USERS.length]! + (i >= USERS.length ? 'b' : '');
      const device = DEVICES[i % DEVICES.length]! + (i >= DEVICES.length ? 'b' : '');
      const entry =
        u.entryAt === 'first_ms'
          ? first
          : u.entryAt === 'last_ms'
            ? end - 1
            : u.entryAt === 'before_range'
              ? first - 1
              : u.entryAt === 'after_range'
                ? end
                : u.entryAt === 'dst' && changes.length > 0
                  ? changes[u.entryHour % changes.length]!
                  : first + u.entryHour * 3_600_000;
      const who = (k: number) =>
        u.identity === 'user'
          ? { user, device: null }
          : u.identity === 'anonymous' || k < u.mergeAt
            ? { user: null, device }
            : { user, device };
      if (u.identity === 'merge') links.push({ aliasId: device, canonicalId: user });
      const add = (t: number, k: number) =>
        events.push(storyEvent(t, steps[k]!, who(k), `s${i}-${events.length}`));
      add(entry, 0);
      for (const hours of u.repeats) add(entry + hours * 3_600_000, 0);
      let previous = entry;
      for (let k = 1; k < steps.length; k++) {
        const gap = u.gapMinutes[(k - 1) % 3]! * 60_000;
        const shape = u.shapes[(k - 1) % 3]!;
        const at =
          shape === 'after'
            ? previous + gap
            : shape === 'tie'
              ? previous
              : shape === 'before_entry'
                ? entry - gap
                : shape === 'window_end'
                  ? entry + windowMs
                  : shape === 'past_window'
                    ? entry + windowMs + 1
                    : null;
        if (at !== null) {
          add(at, k);
          previous = at;
        }
        if (u.earlyStep === k) add(entry - gap, k);
      }
    });
    noise.forEach((n, i) =>
      events.push(
        storyEvent(
          Date.parse(`${baseDay}T00:00:00Z`) + n.at,
          n.event,
          { user: USERS[i % USERS.length]!, device: null },
          `n${i}`,
        ),
      ),
    );
    return {
      dataset: { timezone, baseDay, events, links, profiles: [] },
      funnel: {
        kind: 'funnel',
        from,
        to,
        steps: steps.map((event) => ({ event })),
        window_seconds: window,
      },
      retention: {
        kind: 'retention',
        from,
        to,
        start_event: steps[0]!,
        return_event: steps[steps.length - 1]!,
        period,
        periods: 3,
      },
    };
  });

const json = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

/** Today in a zone at an instant, read from the offset (not the way the engine reads it). */
const todayAt = (tz: string, ms: number): string => utcDay(ms + offsetAt(tz, ms));

async function agree(d: Dataset, asked: Record<string, unknown>): Promise<void> {
  const { __nowMs, ...body } = asked;
  nowMs = typeof __nowMs === 'number' ? __nowMs : Date.parse('2024-03-10T12:00:00Z');
  const today = todayAt(d.timezone, nowMs);
  const { projectId, events, links, profiles: stored } = await load(d);
  const want = referenceAnswer(parseQuery(body, { today }), {
    projectId,
    timezone: d.timezone,
    events,
    links,
    profiles: stored,
    propertySampleSize: SAMPLE_SIZE,
  });
  const unknown = unknownProperties(parseQuery(body, { today }), {
    projectId,
    timezone: d.timezone,
    events,
    links,
    profiles: stored,
    propertySampleSize: SAMPLE_SIZE,
  });
  if (unknown.length > 0) {
    // Never a silent answer: a 400 naming each property the project has never seen.
    for (const engine of engines) {
      const error = await engine
        .run({ projectId, actor: 'test' }, { id: projectId, timezone: d.timezone }, body)
        .then(
          () => null,
          (e: unknown) => e as { code?: string; details?: { message: string }[] },
        );
      expect(error?.code).toBe('QUERY_INVALID');
      const named = new Set(
        (error?.details ?? []).map((x) => /^unknown property "(.*?)"/.exec(x.message)?.[1]),
      );
      expect([...named].sort()).toEqual([...unknown].sort());
    }
    return;
  }
  const trends = body.kind === 'trends';
  // Built after the data is in (the upkeep as events arrive is rollups.test.ts's).
  if (trends) await db.rollups.ensure(projectId, d.timezone);
  for (const engine of trends ? [...engines, rollupsEngine] : engines) {
    const got = await engine.run(
      { projectId, actor: 'test' },
      { id: projectId, timezone: d.timezone },
      body,
    );
    expect(json(got)).toEqual(json(want));
  }
}

const withQuery = (make: (d: Dataset) => fc.Arbitrary<Record<string, unknown>>) =>
  dataset.chain((d) => make(d).map((q) => [d, q] as const));

describe(`SQL engine = reference evaluator (FC_SEED=${SEED})`, () => {
  const params = (runs: number) => ({
    seed: SEED,
    numRuns: Math.round(runs * RUNS),
    // Shrinking a failure stops after this long (the failure is still reported, with its seed).
    interruptAfterTimeLimit: 120_000,
    markInterruptAsFailure: true,
    ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}),
  });

  it('trends', async () => {
    await fc.assert(
      fc.asyncProperty(withQuery(trendsQuery), ([d, q]) => agree(d, q)),
      params(80),
    );
  }, 180_000);

  it('trends: users and events counted from the per-day rollups', async () => {
    await fc.assert(
      fc.asyncProperty(withQuery(rollupsQuery), ([d, q]) => agree(d, q)),
      params(40),
    );
  }, 180_000);

  it('trends: per-user and group maths', async () => {
    await fc.assert(
      fc.asyncProperty(withQuery(userMathsQuery), ([d, q]) => agree(d, q)),
      params(40),
    );
  }, 180_000);

  it('funnels', async () => {
    await fc.assert(
      fc.asyncProperty(withQuery(funnelQuery), ([d, q]) => agree(d, q)),
      params(60),
    );
  }, 180_000);

  it('funnel stories: shapes that random data rarely makes', async () => {
    await fc.assert(
      fc.asyncProperty(story, (st) => agree(st.dataset, st.funnel)),
      params(80),
    );
  }, 180_000);

  it('retention stories', async () => {
    await fc.assert(
      fc.asyncProperty(story, (st) => agree(st.dataset, st.retention)),
      params(30),
    );
  }, 180_000);

  it('retention', async () => {
    await fc.assert(
      fc.asyncProperty(withQuery(retentionQuery), ([d, q]) => agree(d, q)),
      params(40),
    );
  }, 180_000);

  it('discovery', async () => {
    await fc.assert(
      fc.asyncProperty(withQuery(discoveryQuery), ([d, q]) => agree(d, q)),
      params(30),
    );
  }, 180_000);
});
