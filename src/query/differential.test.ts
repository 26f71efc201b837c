// Differential property tests: random small datasets and random queries of every kind; the SQL
// engine on a real DuckDB file must answer exactly what the plain-TypeScript reference answers.
// Reproduce a failure with FC_SEED=<seed printed below> (and FC_PATH from fast-check's report).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbDatabase, DuckDbEventStore } from '../store/duckdb/index.js';
import { DUCKDB_DIALECT } from '../store/duckdb/dialect.js';
import { DuckDbQueryExecutor } from '../store/duckdb/query-executor.js';
import type { EventRow, IdentityLink, ProfileUpdateRow, StoredProfile } from '../store/types.js';
import { offsetAt } from './clock.js';
import { QueryEngine } from './engine.js';
import {
  BASE_DAYS,
  BROWSERS,
  COUNTRIES,
  DEVICES,
  EVENTS,
  PROPERTIES,
  RUNS,
  SAMPLE_SIZE,
  SEED,
  USERS,
  VERSIONS,
  ZONES,
  dayAfter,
  discoveryQuery,
  filterOf,
  gapsIn,
  instant,
  lifecycleQuery,
  lifecycleStory,
  localMidnight,
  maybe,
  oneProfileEach,
  pickSpecial,
  profiles,
  properties,
  rangeOf,
  specialInstants,
  story,
  storyEvent,
  utcDay,
  windowPairs,
  analysis,
  analysed,
  type Dataset,
} from './differential-generators.js';
import { frequencyQuery, frequencyStory } from './differential-generators.js';
import { parseQuery } from './model.js';
import { referenceAnswer, unknownProperties } from './reference.js';

/** SDK bookkeeping events in the data: "any event" leaves them out unless asked for. */
const SDK_EVENTS = ['$identify', '$set', '$feature_flag_called'];
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
 * one (trends and retention) that reads the per-day rollups where a query can (rollups.ts).
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

/** A query's range: mostly fixed days, sometimes relative ("-7d", "today"). */
const someRange = (d: Dataset) =>
  fc.oneof({ weight: 3, arbitrary: rangeOf(d) }, { weight: 1, arbitrary: relativeRangeOf(d) });

const trendsQuery = (d: Dataset) =>
  fc
    .record({
      range: someRange(d),
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
      analysis,
    })
    .map(({ analysis: a, ...q }) => analysed(trendOf(q), a));

const trendOf = (q: {
  range: Record<string, unknown> & { from: string; to: string };
  breakdown: Record<string, unknown> | undefined;
  interval: string;
  compare: boolean;
  formula: string | null;
  series: unknown[];
  filters: unknown;
}): Record<string, unknown> => {
  const { range: r, breakdown: b, interval, compare, formula, ...rest } = q;
  // Formulas name only the series there are (with a breakdown: every series split by the
  // first one's values); compare sometimes.
  const extra = {
    ...(compare ? { compare: 'previous_period' } : {}),
    ...(formula && maxLetter(formula) < rest.series.length ? { formula } : {}),
  };
  if ('__nowMs' in r) {
    // Relative ranges span up to a month: daily and coarser only.
    const coarse = interval === 'hour' ? 'day' : interval;
    return { kind: 'trends', ...r, interval: coarse, ...rest, ...extra, ...(b ?? {}) };
  }
  // Hourly trends over short ranges only (24 labels a day).
  const to = interval === 'hour' && r.to > dayAfter(r.from, 2) ? dayAfter(r.from, 2) : r.to;
  return { kind: 'trends', from: r.from, to, interval, ...rest, ...extra, ...(b ?? {}) };
};

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

/** Trends whose series read the per-day rollups (and a few that do not, beside them). */
const rollupsQuery = (d: Dataset) =>
  fc
    .record({
      range: someRange(d),
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
      // Unique users by a column the rollups keep per value (`value_days`; NULLs, ties in the
      // ranking and events without a person included), or by one they do not keep, beside them.
      breakdown: fc.option(
        fc.record({
          breakdown: fc.constantFrom('$browser', '$os', 'mp_country_code', '$browser_version'),
          breakdown_limit: fc.integer({ min: 1, max: 4 }),
        }),
        { nil: undefined, freq: 2 },
      ),
      analysis,
    })
    .map(({ range: r, compare, interval, breakdown: b, analysis: a, ...rest }) =>
      analysed(
        {
          kind: 'trends',
          ...r,
          ...rest,
          // Active users need whole days (400 otherwise).
          interval:
            interval === 'hour' && rest.series.some((x) => x.math.endsWith('_active'))
              ? 'day'
              : interval,
          ...(compare ? { compare } : {}),
          ...(b ?? {}),
        },
        a,
      ),
    );

/** Trends of the per-user and group maths only, mostly unfiltered: their edges come often. */
const userMathsQuery = (d: Dataset) =>
  fc
    .record({
      range: someRange(d),
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
    .map(({ range: r, breakdown: b, ...rest }) => ({
      kind: 'trends',
      ...r,
      ...rest,
      ...(b ?? {}),
    }));

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
      range: someRange(d),
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

/**
 * Retention that reads each person's first event of a name per day (`person_event_days`): no
 * filter, and no breakdown, one by a column the rollup keeps the first value of, by person
 * properties with at most one such column, or one it cannot answer (two columns, a JSON property:
 * read from the events) beside them. The datasets hold events of one person under several values
 * on one day and in one period, at one instant (shared times), merged identities, and days that
 * start at every offset of the zones (DST included).
 */
const retentionRollupsQuery = (d: Dataset) =>
  fc
    .record({
      range: someRange(d),
      start_event: fc.constantFrom(...EVENTS, ...SDK_EVENTS),
      return_event: fc.constantFrom(...EVENTS),
      period: fc.constantFrom('day', 'week', 'month'),
      periods: fc.integer({ min: 1, max: 8 }),
      retention_type: fc.constantFrom(undefined, 'first_in_range', 'first_time', 'recurring'),
      breakdown: fc.option(
        fc.record({
          breakdown: fc.constantFrom<unknown>(
            '$browser',
            '$os',
            'mp_country_code',
            'person.plan',
            ['$browser', 'person.plan'],
            ['person.plan', 'mp_country_code'],
            ['$browser', '$os'],
            'plan',
          ),
          breakdown_limit: fc.integer({ min: 1, max: 4 }),
        }),
        { nil: undefined, freq: 4 },
      ),
    })
    .map(({ range: r, breakdown: b, retention_type: type, ...rest }) => ({
      kind: 'retention',
      ...r,
      ...rest,
      ...(type === undefined ? {} : { retention_type: type }),
      ...(b ?? {}),
    }));

/**
 * Datasets for that path's shapes: a few people doing the start event on several days of one
 * period under different values (the first day's value is the segment, not the smallest), several
 * times on one day and at one instant (ties: the smallest set value), on either side of a local
 * midnight, under a device id later merged into the user (the first event may be the device's),
 * and before the range (first-time retention).
 */
const retentionRollupsData: fc.Arbitrary<Dataset> = fc
  .record({
    timezone: fc.constantFrom(...ZONES),
    baseDay: fc.constantFrom(...BASE_DAYS),
    events: fc.array(
      fc.record({
        who: fc.constantFrom('u1', 'u2', 'd1', 'd2'),
        event: fc.constantFrom('A', 'A', 'B'),
        day: fc.integer({ min: -3, max: 20 }),
        // Local midnight and the milliseconds around it, or a shared instant of the day.
        at: fc.constantFrom(-1, 0, 1, 9 * 3_600_000, 9 * 3_600_000, 86_399_999),
        browser: fc.constantFrom(null, '', 'Chrome', 'Safari', 'Firefox'),
        country: fc.constantFrom(null, 'FR', 'US'),
      }),
      { minLength: 4, maxLength: 30 },
    ),
    merge: fc.boolean(),
    plans: fc.constantFrom(null, 'pro'),
  })
  .map(({ timezone, baseDay, events, merge, plans }) => ({
    timezone,
    baseDay,
    events: events.map((e, i) => ({
      ...storyEvent(
        localMidnight(timezone, dayAfter(baseDay, e.day)) + e.at,
        e.event,
        e.who.startsWith('u') ? { user: e.who, device: null } : { user: null, device: e.who },
        `r${i}`,
      ),
      browser: e.browser,
      os: e.browser === 'Safari' ? 'iOS' : null,
      countryCode: e.country,
    })),
    links: merge ? [{ aliasId: 'd1', canonicalId: 'u1' }] : [],
    profiles: plans ? [{ groupKey: '', profileId: 'u1', properties: { plan: plans } }] : [],
  }));

const retentionRollupsStory = retentionRollupsData.chain((d) =>
  fc
    .record({
      start: fc.integer({ min: 0, max: 7 }),
      days: fc.integer({ min: 0, max: 14 }),
      return_event: fc.constantFrom('A', 'B'),
      period: fc.constantFrom('day', 'week', 'week', 'month'),
      periods: fc.integer({ min: 1, max: 4 }),
      retention_type: fc.constantFrom('first_in_range', 'first_time', 'recurring'),
      breakdown: fc.constantFrom<unknown>(undefined, '$browser', 'mp_country_code', [
        'person.plan',
        '$browser',
      ]),
    })
    .map(
      ({ start, days, breakdown: b, ...rest }) =>
        [
          d,
          {
            kind: 'retention',
            from: dayAfter(d.baseDay, start),
            to: dayAfter(d.baseDay, start + days),
            start_event: 'A',
            ...rest,
            ...(b === undefined ? {} : { breakdown: b }),
          },
        ] as const,
    ),
);

// ---------------------------------------------------------------------------------------------
// Funnel stories: datasets built around the funnel asked, so that the shapes random data rarely
// makes come every run (issue 12): a later step before the entry, a missing middle step (with the
// step after it present), repeated entries, ties, events exactly at the window's end and one
// millisecond past it, entries on the range's first and last local millisecond and just outside,
// an identity merge in the middle of the funnel, days with an offset change (DST zones only).

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
  const rolled = body.kind === 'trends' || body.kind === 'retention' || body.kind === 'lifecycle';
  // Built after the data is in (the upkeep as events arrive is rollups.test.ts's).
  if (rolled) await db.rollups.ensure(projectId, d.timezone);
  for (const engine of rolled ? [...engines, rollupsEngine] : engines) {
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
      params(60),
    );
  }, 180_000);

  it('trends: users and events counted from the per-day rollups', async () => {
    await fc.assert(
      fc.asyncProperty(withQuery(rollupsQuery), ([d, q]) => agree(d, q)),
      params(25),
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

  it('retention from the per-day rollups', async () => {
    await fc.assert(
      fc.asyncProperty(withQuery(retentionRollupsQuery), ([d, q]) => agree(d, q)),
      params(40),
    );
  }, 180_000);

  it('retention from the per-day rollups: values on several days and at one instant, merges, midnights', async () => {
    await fc.assert(
      fc.asyncProperty(retentionRollupsStory, ([d, q]) => agree(d, q)),
      params(40),
    );
  }, 180_000);

  it('lifecycle', async () => {
    await fc.assert(
      fc.asyncProperty(withQuery(lifecycleQuery), ([d, q]) => agree(d, q)),
      params(25),
    );
  }, 180_000);

  it('lifecycle stories: every bucket, gaps of one, first events before the range, merges, midnights', async () => {
    await fc.assert(
      fc.asyncProperty(lifecycleStory, ([d, q]) => agree(d, q)),
      params(40),
    );
  }, 180_000);

  it('frequency', async () => {
    await fc.assert(
      fc.asyncProperty(withQuery(frequencyQuery), ([d, q]) => agree(d, q)),
      params(30),
    );
  }, 180_000);

  it('frequency stories: a user on every day, at day edges and offset changes, merged mid-range', async () => {
    await fc.assert(
      fc.asyncProperty(frequencyStory, ([d, q]) => agree(d, q)),
      params(15),
    );
  }, 180_000);

  it('discovery', async () => {
    await fc.assert(
      fc.asyncProperty(withQuery(discoveryQuery), ([d, q]) => agree(d, q)),
      params(30),
    );
  }, 180_000);
});
