// Generators of the differential tests (random datasets, random queries of every kind, funnel
// stories), shared by every engine's differential test. Copied from differential.test.ts, which
// can import them from here instead (left untouched while another branch changes it).
import fc from 'fast-check';
import type { JsonObject, JsonValue } from '../shared/json.js';
import type { EventRow } from '../store/types.js';
import { DAY_MS, buildClock, offsetAt } from './clock.js';
import { CUMULATIVE_MATHS, parseQuery, type MathKind } from './model.js';
import { unknownProperties } from './reference.js';

export const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() % 2 ** 31;
export const RUNS = Number(process.env.FC_RUNS_FACTOR ?? 1);
export const SAMPLE_SIZE = 40;

// Zones with DST (both hemispheres, 30-minute and midnight transitions) and odd fixed offsets.
export const ZONES = [
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
export const BASE_DAYS = [
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
export const EVENTS = ['A', 'B', 'C', 'Sign up', 'é'];
export const USERS = ['u1', 'u2', 'u3'];
export const DEVICES = ['d1', 'd2', 'd3', 'd4'];
export const BROWSERS = ['Chrome', 'Firefox', 'Safari', 'Édge', 'chrome'];
export const VERSIONS = ['120', '17.5', '1e3', '-0', 'x'];
export const COUNTRIES = ['FR', 'US', 'DE'];
// Text values: numeric-looking strings that are and are not JSON numbers, unicode, empty.
export const TEXTS = [
  'pro',
  'free',
  'Pro',
  '12',
  '1.5',
  ' 3',
  '0x10',
  '-2',
  'é',
  '',
  'a/b',
  'true',
];
// Values summed exactly in any order (multiples of 1/4), often from a small set shared with the
// filters so that boundaries (gt vs gte, equal values) are hit.
export const COMMON_NUMBERS = [-2, 0, 1.5, 3, 12, 17.5, 120, 1000];
export const EXACT_NUMBER = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...COMMON_NUMBERS) },
  { weight: 1, arbitrary: fc.integer({ min: -4000, max: 4000 }).map((n) => n / 4) },
);
export const ODD_NUMBERS = [
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
export const COMPANIES = ['c1', 'c2', 'c3', '12'];
/** Profile properties: persons and companies share names with events (`plan`) and have their own. */
export const PROFILE_PROPERTIES = [
  'person.plan',
  'person.seats',
  'person.missing',
  'group.company.plan',
  'group.company.seats',
  'group.team.plan',
];
export const profileProps: fc.Arbitrary<JsonObject> = fc
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
export const profiles = fc
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
export const JSON_KEYS = [
  'plan',
  'amount',
  'n',
  'flag',
  'tags',
  'odd',
  'a/b',
  'x.y',
  'c~d',
  '$browser',
];
export const PROPERTIES = [
  ...JSON_KEYS.filter((k) => k !== '$browser'),
  '$browser',
  '$browser_version',
  'mp_country_code',
  '$os',
  'missing',
  ...PROFILE_PROPERTIES,
];
export const NUMERIC_PROPERTIES = [
  'amount',
  'n',
  '$browser_version',
  'person.seats',
  'group.company.seats',
];

// ---------------------------------------------------------------------------------------------
// Datasets.

export interface Dataset {
  timezone: string;
  baseDay: string;
  events: Omit<EventRow, 'projectId' | 'dedupKey'>[];
  links: { aliasId: string; canonicalId: string }[];
  /** Current profiles: persons (group key '') and groups. */
  profiles: { groupKey: string; profileId: string; properties: JsonObject }[];
}

export const jsonValue: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.constantFrom(...TEXTS),
  EXACT_NUMBER,
  fc.constantFrom(...ODD_NUMBERS),
  fc.boolean(),
  fc.constant(null),
  fc.constant(['x', 1, true] as JsonValue),
  fc.constant({ k: 'v', n: 2 }),
);

export const properties: fc.Arbitrary<JsonObject> = fc
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
export const instant: fc.Arbitrary<number> = fc
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
export function specialInstants(
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
export function pickSpecial(
  special: { changes: number[]; midnights: number[] },
  pick: number,
): number {
  const list = special.changes.length > 0 && pick % 2 === 0 ? special.changes : special.midnights;
  return list[Math.floor(pick / 2) % list.length]!;
}

export const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> =>
  fc.option(arb, { nil: null, freq: 3 });

export const dataset: fc.Arbitrary<Dataset> = fc
  .record({
    timezone: fc.constantFrom(...ZONES),
    baseDay: fc.constantFrom(...BASE_DAYS),
    sharedTimes: fc.array(instant, { minLength: 1, maxLength: 4 }),
    raw: fc.array(
      fc.record({
        instant,
        shared: fc.nat(8),
        event: fc.constantFrom(...EVENTS, 'A', 'B', 'C'),
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
export function oneProfileEach(
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

/**
 * Whether every property `body` (a query with absolute dates) names is one `d` has seen, so that
 * an engine answers it rather than refusing it as unknown (reference.ts unknownProperties, the
 * rule the engines must follow). A property about answers draws its queries under this with
 * `fc.pre`: a property of only refusals would prove nothing.
 */
export function namesOnlySeen(d: Dataset, body: unknown): boolean {
  const projectId = 'seen';
  return (
    unknownProperties(parseQuery(body), {
      projectId,
      timezone: d.timezone,
      events: d.events.map((e, i) => ({ ...e, projectId, dedupKey: BigInt(i) })),
      links: [],
      profiles: d.profiles.map((p) => ({ ...p, projectId, createdAtMs: 0, updatedAtMs: 0 })),
      propertySampleSize: 0,
    }).length === 0
  );
}

// ---------------------------------------------------------------------------------------------
// Queries (as JSON bodies, so that validation is exercised too).

export const dayAfter = (day: string, n: number): string =>
  new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

/** Numbers present in the dataset's numeric properties: filters then hit them exactly. */
export function numbersIn(d: Dataset): number[] {
  const out = new Set<number>(COMMON_NUMBERS);
  for (const e of d.events) {
    for (const v of [e.properties.amount, e.properties.n, e.browserVersion]) {
      const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
      if (Number.isFinite(n)) out.add(n);
    }
  }
  return [...out];
}

export const filterOf = (d: Dataset) =>
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

export const filtersOf = (d: Dataset, max = 2) =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constant([]) },
    { weight: 3, arbitrary: fc.array(filterOf(d), { minLength: 1, maxLength: max }) },
  );

/** Seconds between two events of the dataset: funnel windows then end exactly on an event. */
export function gapsIn(d: Dataset): number[] {
  const times = d.events.map((e) => e.timeMs);
  const out: number[] = [];
  for (const a of times) for (const b of times) if (b > a) out.push(Math.ceil((b - a) / 1000));
  return out.filter((g) => g <= 366 * 86_400).slice(0, 200);
}

export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** A date range: anywhere near the base day, or a few days around one of the events. */
export const rangeOf = (d: Dataset) =>
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

export const breakdown = fc.option(
  fc.record({
    breakdown: fc.constantFrom(...PROPERTIES),
    breakdown_limit: fc.integer({ min: 1, max: 4 }),
  }),
  { nil: undefined },
);

/**
 * A list combining the saved cohorts `c1`/`c2` with 0 to 2 of `names`, the cohort entry in any
 * place, and a limit.
 */
export const combinedBreakdownOf = (names: readonly string[]) =>
  fc.record(
    {
      breakdown: fc
        .tuple(
          fc.uniqueArray(fc.constantFrom(...names), { minLength: 0, maxLength: 2 }),
          fc.constantFrom<{ cohort: string | string[] }>(
            { cohort: 'c1' },
            { cohort: ['c1', 'c2'] },
            { cohort: ['c2', 'c1'] },
          ),
          fc.nat(),
        )
        .map(([names, cohort, at]): (string | { cohort: string | string[] })[] => {
          const list: (string | { cohort: string | string[] })[] = [...names];
          list.splice(at % (names.length + 1), 0, cohort);
          return list;
        }),
      breakdown_limit: fc.integer({ min: 1, max: 4 }),
    },
    { requiredKeys: ['breakdown'] },
  );
export const combinedBreakdown = combinedBreakdownOf(PROPERTIES);

/**
 * A breakdown of every form: one property, a list of 1 to 3 (limit optional), saved cohorts
 * `c1`/`c2` (the test defines them; no limit allowed), or a list combining those cohorts with
 * properties (limit optional).
 */
export const anyBreakdown = fc.oneof(
  fc.record({
    breakdown: fc.constantFrom(...PROPERTIES),
    breakdown_limit: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record(
    {
      breakdown: fc.uniqueArray(fc.constantFrom(...PROPERTIES), { minLength: 1, maxLength: 3 }),
      breakdown_limit: fc.integer({ min: 1, max: 4 }),
    },
    { requiredKeys: ['breakdown'] },
  ),
  fc.record({
    breakdown: fc.constantFrom<{ cohort: string | string[] }>(
      { cohort: 'c1' },
      { cohort: ['c1', 'c2'] },
      { cohort: ['c2', 'c1'] },
    ),
  }),
  combinedBreakdown,
);

/**
 * An answer with non-integer numbers to 12 significant digits: a float aggregate (an average, an
 * interpolated quantile) may add in another order on another engine and differ in the last bits;
 * integers (counts) stay exact.
 */
export function sameDigits(value: unknown): unknown {
  if (typeof value === 'number' && !Number.isInteger(value)) return Number(value.toPrecision(12));
  if (Array.isArray(value)) return value.map(sameDigits);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, sameDigits(v)]));
  return value;
}

/**
 * A trend's analysis (linear mostly; cumulative; rolling, over a drawn window or the interval's
 * default): `analysed` writes it into a trend, each series a cumulative trend cannot add up
 * turned into a count of its events (total), and a cumulative trend of unique users by the hour
 * by the day (400 otherwise).
 */
export const analysis = fc.record(
  {
    analysis: fc.constantFrom('linear', 'linear', 'cumulative', 'rolling', 'rolling'),
    rolling_window: fc.integer({ min: 1, max: 8 }),
  },
  { requiredKeys: ['analysis'] },
);

export function analysed<Q extends Record<string, unknown>>(
  q: Q,
  a: { analysis: string; rolling_window?: number },
): Q {
  if (a.analysis === 'linear') return q;
  if (a.analysis === 'rolling')
    return {
      ...q,
      analysis: 'rolling',
      ...(a.rolling_window === undefined ? {} : { rolling_window: a.rolling_window }),
    };
  const series = (q.series as { event?: string | null; math: string; filters?: unknown }[]).map(
    (s) =>
      CUMULATIVE_MATHS.has(s.math as MathKind)
        ? s
        : { event: s.event ?? null, math: 'total', ...(s.filters ? { filters: s.filters } : {}) },
  );
  const hourly = q.interval === 'hour' && series.some((s) => s.math === 'unique_users');
  return { ...q, series, analysis: 'cumulative', ...(hourly ? { interval: 'day' } : {}) };
}

export const trendsQuery = (d: Dataset) =>
  fc
    .record({
      range: rangeOf(d),
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
            math: fc.constantFrom('sum', 'avg', 'min', 'max', 'p50', 'p90', 'p99'),
            property: fc.constantFrom(...NUMERIC_PROPERTIES),
            filters: filtersOf(d),
          }),
        ),
        { minLength: 1, maxLength: 3 },
      ),
      filters: filtersOf(d),
      breakdown,
      analysis,
    })
    .map((q) => {
      const { range: r, breakdown: b, interval, analysis: a, ...rest } = q;
      // Hourly trends over short ranges only (24 labels a day).
      const to = interval === 'hour' && r.to > dayAfter(r.from, 2) ? dayAfter(r.from, 2) : r.to;
      return analysed({ kind: 'trends', from: r.from, to, interval, ...rest, ...(b ?? {}) }, a);
    });

/**
 * Two events of one user, the second exactly one window after the first (where the data has such
 * a pair): the funnel then converts, or not, on the window's last millisecond.
 */
export function windowPairs(d: Dataset): { first: number; second: number; seconds: number }[] {
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

export const randomFunnel = (d: Dataset) =>
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

export const windowFunnel = (d: Dataset) => {
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

export const funnelQuery = (d: Dataset) => fc.oneof(randomFunnel(d), windowFunnel(d));

export const retentionQuery = (d: Dataset) =>
  fc
    .record({
      range: rangeOf(d),
      start_event: fc.constantFrom(...EVENTS),
      return_event: fc.constantFrom(...EVENTS),
      period: fc.constantFrom('day', 'week', 'month'),
      periods: fc.integer({ min: 1, max: 8 }),
      filters: filtersOf(d, 1),
    })
    .map(({ range: r, ...rest }) => ({ kind: 'retention', ...r, ...rest }));

export const discoveryQuery = (d: Dataset) =>
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

export const DST_ZONES = [
  'Europe/Paris',
  'America/New_York',
  'Australia/Lord_Howe',
  'America/Sao_Paulo',
];
/** Where a later step's event is put, relative to the entry and the step before it. */
export const STEP_SHAPES = [
  'after',
  'after',
  'tie', // same instant as the previous step: not "after" it
  'missing',
  'before_entry',
  'window_end', // exactly one window after the entry: converts
  'past_window', // one millisecond later: does not
] as const;
export const ENTRY_AT = [
  'inside',
  'first_ms',
  'last_ms',
  'before_range',
  'after_range',
  'dst',
] as const;
export const STORY_WINDOWS = [3600, 86_400, 7 * 86_400];

export interface Story {
  dataset: Dataset;
  funnel: Record<string, unknown>;
  retention: Record<string, unknown>;
}

/** Epoch ms of a local date's midnight in `tz`. */
export function localMidnight(tz: string, day: string): number {
  const utc = Date.parse(`${day}T00:00:00Z`);
  return utc - offsetAt(tz, utc - offsetAt(tz, utc));
}

export function storyEvent(
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

/**
 * A story user's ids (the i-th user and device, "b" after the lists run out), entry instant (at
 * the range's first or last millisecond, just outside it, on a DST change or an hour inside) and
 * ids at step k (a merged device carries only itself before `mergeAt`), with the link a merge
 * writes.
 */
function storyIdentity(
  u: {
    entryAt: (typeof ENTRY_AT)[number];
    entryHour: number;
    identity: 'user' | 'merge' | 'anonymous';
    mergeAt: number;
  },
  i: number,
  { first, end, changes }: { first: number; end: number; changes: readonly number[] },
) {
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
  const who = (k: number): { user: string | null; device: string | null } =>
    u.identity === 'user'
      ? { user, device: null }
      : u.identity === 'anonymous' || k < u.mergeAt
        ? { user: null, device }
        : { user, device };
  const link = u.identity === 'merge' ? { aliasId: device, canonicalId: user } : null;
  return { user, entry, who, link };
}

/**
 * When a story's next step happens, by its shape: `gap` after the step before, at its instant,
 * before the entry, at the window's end or a millisecond past it, or (`reverse`) before the step
 * before it yet after the entry (any order counts it); null: not at all.
 */
function stepTime(
  shape: (typeof STEP_SHAPES)[number] | 'reverse',
  {
    previous,
    gap,
    entry,
    windowMs,
  }: { previous: number; gap: number; entry: number; windowMs: number },
): number | null {
  switch (shape) {
    case 'after':
      return previous + gap;
    case 'tie':
      return previous;
    case 'before_entry':
      return entry - gap;
    case 'window_end':
      return entry + windowMs;
    case 'past_window':
      return entry + windowMs + 1;
    case 'reverse':
      return Math.max(entry + 1, previous - gap);
    default:
      return null;
  }
}

/**
 * Adds a story user's steps after the entry (each at `stepTime` of its shape and gap, and the
 * early step before the entry); returns every step's time, the entry first (null: not done).
 */
function laterSteps(
  u: {
    shapes: readonly ((typeof STEP_SHAPES)[number] | 'reverse')[];
    gapMinutes: readonly number[];
    earlyStep: number | null;
  },
  stepCount: number,
  entry: number,
  windowMs: number,
  add: (t: number, k: number) => void,
): (number | null)[] {
  const at: (number | null)[] = [entry];
  let previous = entry;
  for (let k = 1; k < stepCount; k++) {
    const gap = u.gapMinutes[(k - 1) % 3]! * 60_000;
    const t = stepTime(u.shapes[(k - 1) % 3]!, { previous, gap, entry, windowMs });
    if (t !== null) {
      add(t, k);
      previous = t;
    }
    at.push(t);
    if (u.earlyStep === k) add(entry - gap, k);
  }
  return at;
}

/** A story's noise: other events of the known users, anywhere around the range. */
function noiseEvents(
  noise: readonly { at: number; event: string }[],
  baseDay: string,
): Dataset['events'] {
  return noise.map((n, i) =>
    storyEvent(
      Date.parse(`${baseDay}T00:00:00Z`) + n.at,
      n.event,
      { user: USERS[i % USERS.length]!, device: null },
      `n${i}`,
    ),
  );
}

export const storyUser = fc.record({
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

export const story: fc.Arbitrary<Story> = fc
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
      const { entry, who, link } = storyIdentity(u, i, { first, end, changes });
      if (link) links.push(link);
      const add = (t: number, k: number) =>
        events.push(storyEvent(t, steps[k]!, who(k), `s${i}-${events.length}`));
      add(entry, 0);
      for (const hours of u.repeats) add(entry + hours * 3_600_000, 0);
      laterSteps(u, steps.length, entry, windowMs, add);
    });
    events.push(...noiseEvents(noise, baseDay));
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

export const withQuery = (make: (d: Dataset) => fc.Arbitrary<Record<string, unknown>>) =>
  dataset.chain((d) => make(d).map((q) => [d, q] as const));

// Funnels using every option (exclusions, any order, hold constant, conversion over time), for the
// DuckDB-vs-reference and DuckDB-vs-ClickHouse funnel tests alike.
const HOLD = ['$browser', 'plan', 'mp_country_code', 'person.plan', 'group.company.plan'];

const funnelOptions = (d: Dataset, steps: number) =>
  fc.record(
    {
      order: fc.constantFrom('strict', 'any'),
      exclusions: fc.array(
        fc
          .record({
            event: fc.constantFrom(...EVENTS, 'X'),
            filters: filtersOf(d, 1),
            from: fc.nat(steps - 1),
            span: fc.integer({ min: 1, max: steps - 1 }),
          })
          .map(({ event, filters, from, span }) => {
            const start = Math.min(from, steps - 2);
            return {
              event,
              filters,
              after_step: start,
              before_step: Math.min(steps - 1, start + span),
            };
          }),
        { minLength: 1, maxLength: 2 },
      ),
      hold_constant: fc.uniqueArray(fc.constantFrom(...HOLD), { minLength: 1, maxLength: 2 }),
      conversion_over_time: fc.constantFrom('hour', 'day', 'week', 'month'),
    },
    { requiredKeys: [] },
  );

export const funnelWithOptions = (d: Dataset) =>
  fc
    .record({
      range: rangeOf(d),
      steps: fc.array(
        fc.record({ event: fc.constantFrom(...EVENTS, 'A', 'B', 'C'), filters: filtersOf(d, 1) }),
        { minLength: 2, maxLength: 4 },
      ),
      window_seconds: fc.oneof(
        fc.constantFrom(1, 60, 3600, 86_400, 3 * 86_400, 30 * 86_400),
        gapsIn(d).length > 0 ? fc.constantFrom(...gapsIn(d)) : fc.constant(3600),
      ),
      filters: filtersOf(d, 1),
      breakdown: fc.option(fc.constantFrom(...PROPERTIES), { nil: undefined }),
    })
    .chain((q) =>
      funnelOptions(d, q.steps.length).map(({ conversion_over_time, ...rest }) => {
        const { range, breakdown, ...base } = q;
        // Hourly conversion over short ranges only.
        const to =
          conversion_over_time === 'hour' && range.to > dayAfter(range.from, 2)
            ? dayAfter(range.from, 2)
            : range.to;
        return {
          kind: 'funnel',
          ...base,
          from: range.from,
          to,
          ...rest,
          ...(conversion_over_time ? { conversion_over_time } : {}),
          ...(breakdown ? { breakdown } : {}),
        };
      }),
    );

/** Pace of a twin attempt: from one step to the next, as a fraction of the window (at least 1 ms). */
const TWIN_PACES = [0.001, 0.01, 0.01, 0.1, 0.25, 0.5];

/** The value after `v` in `values` (cyclically; one not in the list is followed by the first). */
const nextOf = <T>(values: readonly T[], v: T): T =>
  values[(values.indexOf(v) + 1) % values.length]!;

/**
 * Attempts entered at one instant that only held values tell apart (issue 12), on random data: for
 * one or two events of the dataset, an entry (the funnel's first step, with the event's ids and
 * values at its instant) and a twin entry at the same millisecond with other values of some of the
 * properties a funnel may hold ($browser, `plan`, the country, the company), each going on through
 * the funnel's later steps at its own pace with its own values. Which attempt's times count is then
 * the tie rule's to decide (deepest, earliest, smaller breakdown value, then earliest at each step).
 */
export function funnelTwins(d: Dataset, q: Record<string, unknown>): fc.Arbitrary<Dataset> {
  const steps = (q.steps as { event: string }[]).map((s) => s.event);
  const windowMs = Number(q.window_seconds) * 1000;
  // Entries inside the range (else any event's instant).
  const from = localMidnight(d.timezone, String(q.from));
  const end = localMidnight(d.timezone, dayAfter(String(q.to), 1));
  const inside = d.events.filter((e) => e.timeMs >= from && e.timeMs < end);
  const bases = inside.length > 0 ? inside : d.events;
  if (bases.length === 0) return fc.constant(d);
  const pace = fc.array(fc.constantFrom(...TWIN_PACES), { minLength: 3, maxLength: 3 });
  return fc
    .array(
      fc.record({
        base: fc.nat(bases.length - 1),
        alter: fc.constantFrom(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        paces: fc.tuple(pace, pace),
      }),
      { minLength: 1, maxLength: 2 },
    )
    .map((groups) => {
      const events = [...d.events];
      groups.forEach((g, gi) => {
        const base = bases[g.base]!;
        // The held properties when the funnel holds some (not the person's: one per user), else
        // any of them.
        const held = (q.hold_constant as string[] | undefined) ?? [];
        const heldMask =
          (held.includes('$browser') ? 1 : 0) |
          (held.includes('mp_country_code') ? 2 : 0) |
          (held.includes('plan') ? 4 : 0) |
          (held.includes('group.company.plan') ? 8 : 0);
        const alter = heldMask === 0 ? g.alter : heldMask;
        const props = { ...base.properties };
        if (alter & 4) {
          const plan = nextOf([...TEXTS, undefined], props.plan as string | undefined);
          if (plan === undefined) delete props.plan;
          else props.plan = plan;
        }
        if (alter & 8) {
          const company = nextOf([...COMPANIES, undefined], props.company as string | undefined);
          if (company === undefined) delete props.company;
          else props.company = company;
        }
        const twin = {
          ...base,
          browser: alter & 1 ? nextOf([...BROWSERS, null], base.browser) : base.browser,
          countryCode:
            alter & 2 ? nextOf([...COUNTRIES, null], base.countryCode) : base.countryCode,
          properties: props,
        };
        [base, twin].forEach((values, j) => {
          let t = base.timeMs;
          steps.forEach((event, k) => {
            if (k > 0) t += Math.max(1, Math.floor(g.paces[j]![(k - 1) % 3]! * windowMs));
            events.push({ ...values, event, timeMs: t, insertId: `tw${gi}-${j}-${k}` });
          });
        });
      });
      return { ...d, events };
    });
}

/** A dataset, a funnel from `make`, and tied twin attempts for that funnel (funnelTwins). */
export const withFunnelTwins = (make: (d: Dataset) => fc.Arbitrary<Record<string, unknown>>) =>
  dataset.chain((d) => make(d).chain((q) => funnelTwins(d, q).map((t) => [t, q] as const)));

// ---------------------------------------------------------------------------------------------
// Funnel stories with every option (issue 12), for the DuckDB-vs-reference and DuckDB-vs-ClickHouse
// funnel tests alike: exclusions, any order, held values, conversion over time, at their edges, and
// attempts entered at one instant that held values tell apart.

/** Where an excluded event is put for one user, relative to the steps it lies between. */
const EXCLUSION_AT = [
  'between',
  'between',
  'at_from', // the same instant as the "from" step: not strictly between
  'at_to', // the same instant as the "to" step: not strictly between
  'after_from', // 1 ms after the "from" step
  'before_to', // 1 ms before the "to" step
  'before_entry',
  'after_to',
  'window_end', // exactly one window after the entry (counts when "to" was not reached)
  'past_window', // 1 ms later
  'none',
] as const;
/** The held property on a later step's event: the entry's value, another, or not set. */
const HELD = ['same', 'same', 'same', 'other', 'unset'] as const;

const funnelStoryUser = fc.record({
  entryAt: fc.constantFrom(...ENTRY_AT),
  entryHour: fc.integer({ min: 0, max: 3 * 24 - 1 }),
  shapes: fc.array(fc.constantFrom(...STEP_SHAPES, 'reverse'), { minLength: 3, maxLength: 3 }),
  gapMinutes: fc.array(fc.constantFrom(1, 30, 60, 61, 24 * 60), { minLength: 3, maxLength: 3 }),
  repeats: fc.array(fc.integer({ min: -30, max: 30 }), { maxLength: 2 }),
  identity: fc.constantFrom('user', 'merge', 'merge', 'anonymous'),
  mergeAt: fc.integer({ min: 1, max: 3 }),
  earlyStep: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
  exclusionAt: fc.constantFrom(...EXCLUSION_AT),
  // The excluded event comes from the device before a merge, or from the user.
  exclusionFromDevice: fc.boolean(),
  entryBrowser: fc.option(fc.constantFrom(...BROWSERS.slice(0, 2)), { nil: null, freq: 4 }),
  held: fc.array(fc.constantFrom(...HELD), { minLength: 3, maxLength: 3 }),
  // Two more entries at the entry's very millisecond, each with another held value (the two
  // values the entry does not have, "not set" being one), each going on through the later steps at
  // its own pace (minutes between steps; 0: at the instant of the step before): the attempts tie
  // on entry and often on depth, and only the tie rule (deepest, earliest, smaller breakdown value,
  // then earliest at step 2, 3, …) decides whose times count. Most users have them.
  twins: fc.option(
    fc.array(fc.array(fc.constantFrom(1, 1, 30, 60, 61, 0), { minLength: 3, maxLength: 3 }), {
      minLength: 2,
      maxLength: 2,
    }),
    { nil: null, freq: 5 },
  ),
});

export interface FunnelStory {
  dataset: Dataset;
  funnel: Record<string, unknown>;
}

export const funnelStory: fc.Arbitrary<FunnelStory> = fc
  .record({
    timezone: fc.constantFrom(...DST_ZONES, 'UTC'),
    baseDay: fc.constantFrom(...BASE_DAYS),
    steps: fc.array(fc.constantFrom('A', 'B', 'C', 'A'), { minLength: 2, maxLength: 4 }),
    window: fc.constantFrom(...STORY_WINDOWS),
    users: fc.array(funnelStoryUser, { minLength: 1, maxLength: 5 }),
    noise: fc.array(fc.record({ at: instant, event: fc.constantFrom(...EVENTS, 'X') }), {
      maxLength: 8,
    }),
    order: fc.constantFrom('strict', 'any'),
    exclusion: fc.option(
      fc.record({
        event: fc.constantFrom('X', 'X', 'B'),
        from: fc.nat(2),
        span: fc.integer({ min: 1, max: 3 }),
      }),
      { nil: null, freq: 4 },
    ),
    // `plan` (an event property that follows the browser on every event but a twin's) is held
    // while the breakdown is by `$browser`: tied attempts then share a breakdown value.
    hold: fc.constantFrom(null, '$browser', 'plan', 'plan', 'person.plan'),
    interval: fc.option(fc.constantFrom('hour', 'day', 'week'), { nil: null, freq: 2 }),
    breakdown: fc.option(fc.constant('$browser'), { nil: null, freq: 4 }),
  })
  .map((s) => {
    const { timezone, baseDay, steps, window, users, noise } = s;
    const from = dayAfter(baseDay, 1);
    const to = dayAfter(baseDay, 3);
    const first = localMidnight(timezone, from);
    const end = localMidnight(timezone, dayAfter(to, 1));
    const changes = specialInstants(timezone, Date.parse(`${baseDay}T00:00:00Z`)).changes;
    const windowMs = window * 1000;
    const last = steps.length - 1;
    const exclusion = s.exclusion
      ? {
          event: s.exclusion.event,
          after_step: Math.min(s.exclusion.from, last - 1),
          before_step: Math.min(last, Math.min(s.exclusion.from, last - 1) + s.exclusion.span),
        }
      : null;
    const events: Dataset['events'] = [];
    const links: Dataset['links'] = [];
    const profiles: Dataset['profiles'] = [];
    users.forEach((u, i) => {
      const { user, entry, who, link } = storyIdentity(u, i, { first, end, changes });
      if (i % 2 === 0)
        profiles.push({ groupKey: '', profileId: user, properties: { plan: 'pro' } });
      if (link) links.push(link);
      const browserOf = (k: number): string | null => {
        if (k === 0) return u.entryBrowser;
        const held = u.held[(k - 1) % 3]!;
        return held === 'same'
          ? u.entryBrowser
          : held === 'unset'
            ? null
            : u.entryBrowser === 'Chrome'
              ? 'Firefox'
              : 'Chrome';
      };
      const planOf = (browser: string | null): string | null =>
        browser === null ? null : browser === 'Chrome' ? 'pro' : 'free';
      const push = (
        t: number,
        k: number,
        event: string,
        browser: string | null,
        plan: string | null,
      ) => {
        const e = storyEvent(t, event, who(k), `s${i}-${events.length}`);
        events.push({ ...e, browser, properties: plan === null ? {} : { plan } });
      };
      const add = (t: number, k: number, event: string = steps[k]!) =>
        push(t, k, event, browserOf(k), planOf(browserOf(k)));
      add(entry, 0);
      for (const hours of u.repeats) add(entry + hours * 3_600_000, 0);
      const at = laterSteps(u, steps.length, entry, windowMs, add);
      if (u.twins) {
        // They differ in the held property only: with `plan` held they keep the entry's browser,
        // so that a breakdown by `$browser` does not tell them apart.
        const browsers = [null, 'Chrome', 'Firefox'].filter((b) => b !== u.entryBrowser);
        u.twins.forEach((gaps, j) => {
          const browser = s.hold === 'plan' ? u.entryBrowser : browsers[j]!;
          const plan = planOf(s.hold === 'plan' ? browsers[j]! : browser);
          let t = entry;
          push(t, 0, steps[0]!, browser, plan);
          for (let k = 1; k < steps.length; k++) {
            t += gaps[(k - 1) % 3]! * 60_000;
            push(t, k, steps[k]!, browser, plan);
          }
        });
      }
      if (exclusion && u.exclusionAt !== 'none') {
        const a = at[exclusion.after_step] ?? entry;
        const b = at[exclusion.before_step] ?? a + 120_000;
        const lo = Math.min(a, b);
        const hi = Math.max(a, b);
        const t =
          u.exclusionAt === 'between'
            ? Math.floor((lo + hi) / 2)
            : u.exclusionAt === 'at_from'
              ? a
              : u.exclusionAt === 'at_to'
                ? b
                : u.exclusionAt === 'after_from'
                  ? a + 1
                  : u.exclusionAt === 'before_to'
                    ? b - 1
                    : u.exclusionAt === 'before_entry'
                      ? entry - 60_000
                      : u.exclusionAt === 'window_end'
                        ? entry + windowMs
                        : u.exclusionAt === 'past_window'
                          ? entry + windowMs + 1
                          : hi + 60_000;
        const k = u.exclusionFromDevice ? 0 : last;
        add(t, k, exclusion.event);
      }
    });
    events.push(...noiseEvents(noise, baseDay));
    return {
      dataset: { timezone, baseDay, events, links, profiles },
      funnel: {
        kind: 'funnel',
        from,
        to,
        steps: steps.map((event) => ({ event })),
        window_seconds: window,
        order: s.order,
        ...(exclusion ? { exclusions: [exclusion] } : {}),
        ...(s.hold ? { hold_constant: [s.hold] } : {}),
        ...(s.interval ? { conversion_over_time: s.interval } : {}),
        ...(s.breakdown ? { breakdown: s.breakdown } : {}),
      },
    };
  });

// ---------------------------------------------------------------------------------------------
// Lifecycle: random queries over the random datasets (events before `from` are common there), and
// stories built for its edges.

/** A lifecycle of one event or of any event (SDK bookkeeping in or out), with filters or not. */
export const lifecycleQuery = (d: Dataset) =>
  fc
    .record({
      range: rangeOf(d),
      interval: fc.constantFrom('day', 'week', 'month', undefined),
      event: fc.constantFrom(...EVENTS, null, undefined),
      sdk: fc.boolean(),
      filters: filtersOf(d, 1),
    })
    .map(({ range: r, interval, event, sdk, filters }) => ({
      kind: 'lifecycle',
      ...r,
      ...(interval === undefined ? {} : { interval }),
      ...(event === undefined ? {} : { event }),
      ...(sdk && (event === null || event === undefined) ? { include_sdk_events: true } : {}),
      ...(filters.length > 0 ? { filters } : {}),
    }));

/** Days a bucket of each interval spans in the stories (a month: about one). */
const LIFECYCLE_STEP = { day: 1, week: 7, month: 30 } as const;

/**
 * Lifecycle stories: users active in every bucket, every other bucket (gaps of exactly one),
 * or some buckets, from up to three buckets before `from` (first events before the range, and
 * the first bucket's previous one read whole) to one after `to`; events on a local midnight, a
 * millisecond either side, midday or the day's last millisecond, on days next to DST changes;
 * a device whose history starts before its user's, merged into the user (or not), and events of
 * another name (the event asked, or any event).
 */
export const lifecycleStory: fc.Arbitrary<readonly [Dataset, Record<string, unknown>]> = fc
  .record({
    timezone: fc.constantFrom(...ZONES),
    baseDay: fc.constantFrom(...BASE_DAYS),
    interval: fc.constantFrom('day', 'week', 'month'),
    start: fc.integer({ min: 0, max: 6 }),
    buckets: fc.integer({ min: 1, max: 4 }),
    users: fc.array(
      fc.record({
        who: fc.constantFrom('u1', 'u2', 'u3', 'd1', 'd2'),
        pattern: fc.constantFrom('every', 'alternate', 'some'),
        some: fc.array(fc.integer({ min: -3, max: 5 }), { minLength: 1, maxLength: 4 }),
        phase: fc.integer({ min: 0, max: 1 }),
        shift: fc.integer({ min: 0, max: 40 }),
        at: fc.constantFrom(-1, 0, 1, 12 * 3_600_000, 86_399_999),
        event: fc.constantFrom('A', 'A', 'B'),
      }),
      { minLength: 1, maxLength: 5 },
    ),
    merge: fc.boolean(),
    asked: fc.constantFrom<string | null>('A', 'A', null),
  })
  .map(({ timezone, baseDay, interval, start, buckets, users, merge, asked }) => {
    const step = LIFECYCLE_STEP[interval];
    const from = dayAfter(baseDay, start);
    const to = dayAfter(from, Math.max(0, buckets * step - 1 - (start % 3)));
    const events: Dataset['events'] = [];
    users.forEach((u, i) => {
      const ks =
        u.pattern === 'every'
          ? [-3, -2, -1, 0, 1, 2, 3, 4, 5]
          : u.pattern === 'alternate'
            ? [-3, -1, 1, 3, 5].map((k) => k - u.phase)
            : u.some;
      const who = u.who.startsWith('u')
        ? { user: u.who, device: null }
        : { user: null, device: u.who };
      for (const k of ks) {
        if (k > buckets) continue;
        const day = dayAfter(from, k * step + (u.shift % step));
        events.push(storyEvent(localMidnight(timezone, day) + u.at, u.event, who, `l${i}_${k}`));
      }
    });
    return [
      {
        timezone,
        baseDay,
        events,
        links: merge ? [{ aliasId: 'd1', canonicalId: 'u1' }] : [],
        profiles: [],
      },
      {
        kind: 'lifecycle',
        from,
        to,
        interval,
        ...(asked === null ? {} : { event: asked }),
      },
    ] as const;
  });

// Frequency (stickiness).

/** The (interval, per) pairs a frequency accepts: the interval finer than the period. */
export const FREQUENCY_SHAPES = [
  { interval: 'day', per: 'range' },
  { interval: 'day', per: 'range' },
  { interval: 'hour', per: 'range' },
  { interval: 'week', per: 'range' },
  { interval: 'month', per: 'range' },
  { interval: 'day', per: 'week' },
  { interval: 'day', per: 'week' },
  { interval: 'hour', per: 'week' },
  { interval: 'day', per: 'month' },
  { interval: 'week', per: 'month' },
] as const;

/**
 * A frequency: 1 to 3 series (an event; any event, SDK bookkeeping left out or not), every
 * (interval, per) pair, filters, a breakdown (`breakdowns`) and compare sometimes. Ranges are
 * those of the other kinds, or up to 40 days from a few days before the base day (weeks and
 * months cut at both ends); hourly ones 3 days at most.
 */
export const frequencyQuery = (
  d: Dataset,
  breakdowns: fc.Arbitrary<object | undefined> = breakdown,
) =>
  fc
    .record({
      range: fc.oneof(
        { weight: 2, arbitrary: rangeOf(d) },
        {
          weight: 1,
          arbitrary: fc
            .record({
              start: fc.integer({ min: -3, max: 3 }),
              length: fc.integer({ min: 7, max: 40 }),
            })
            .map(({ start, length }) => ({
              from: dayAfter(d.baseDay, start),
              to: dayAfter(d.baseDay, start + length),
            })),
        },
      ),
      shape: fc.constantFrom(...FREQUENCY_SHAPES),
      series: fc.array(
        fc.oneof(
          fc.record({
            event: fc.option(fc.constantFrom(...EVENTS), { nil: null }),
            filters: filtersOf(d),
          }),
          fc.record(
            { include_sdk_events: fc.boolean(), filters: filtersOf(d) },
            { requiredKeys: [] },
          ),
        ),
        { minLength: 1, maxLength: 3 },
      ),
      filters: filtersOf(d),
      breakdown: fc.option(breakdowns, { nil: undefined, freq: 2 }),
      compare: fc.boolean(),
    })
    .map(({ range: r, shape, breakdown: b, compare, ...rest }) => {
      const to =
        shape.interval === 'hour' && r.to > dayAfter(r.from, 2) ? dayAfter(r.from, 2) : r.to;
      return {
        kind: 'frequency',
        from: r.from,
        to,
        interval: shape.interval,
        per: shape.per,
        ...rest,
        ...(compare ? { compare: 'previous_period' } : {}),
        ...(b ?? {}),
      };
    });

/**
 * A frequency over a dataset with the shapes random data rarely makes: a user (`u1`, whose
 * device `d1` is merged into them half the time, mid-range) who does `A` on every local day of
 * the range and the days around it, at the day's first or last millisecond, or at an offset
 * change; so that the last count (K of K) and period edges are hit.
 */
export const frequencyStory = dataset.chain((d) =>
  fc
    .record({
      q: frequencyQuery(d),
      at: fc.constantFrom('first_ms', 'last_ms', 'noon', 'change'),
      merge: fc.boolean(),
      skip: fc.nat(6),
      byBrowser: fc.boolean(),
    })
    .map(({ q: drawn, at, merge, skip, byBrowser }) => {
      // Half the time broken down by the browser, one value ranked: the user's two browsers of a
      // day then both fall in "other" (or one in each segment), one day there all the same.
      const q = byBrowser ? { ...drawn, breakdown: '$browser', breakdown_limit: 1 } : drawn;
      const from = q.from;
      const to = q.to;
      const changes = specialInstants(d.timezone, Date.parse(`${d.baseDay}T00:00:00Z`)).changes;
      const events = [...d.events];
      const days = Math.round(
        (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS,
      );
      const middle = dayAfter(from, Math.floor(days / 2));
      let n = 0;
      for (let day = dayAfter(from, -1); day <= dayAfter(to, 1); day = dayAfter(day, 1)) {
        const midnight = localMidnight(d.timezone, day);
        const next = localMidnight(d.timezone, dayAfter(day, 1));
        const change = changes.find((c) => c >= midnight && c < next);
        const time =
          at === 'first_ms'
            ? midnight
            : at === 'last_ms'
              ? next - 1
              : at === 'change' && change !== undefined
                ? change
                : midnight + 12 * 3_600_000;
        n++;
        // One day in seven (from `skip` on) is missed: then K − 1 days, not K.
        if (n % 7 === skip) continue;
        // The first half of the days by the device alone (merged into u1 or not), then by u1.
        const early = day < middle;
        const who = early ? { user: null, device: 'd1' } : { user: 'u1', device: 'd1' };
        events.push(
          { ...storyEvent(time, 'A', who, `f${n}`), browser: BROWSERS[n % 3]! },
          { ...storyEvent(time, 'A', who, `g${n}`), browser: BROWSERS[(n + 1) % 3]! },
        );
      }
      const links = d.links.filter((l) => l.aliasId !== 'd1');
      if (merge) links.push({ aliasId: 'd1', canonicalId: 'u1' });
      return [{ ...d, events, links }, q] as const;
    }),
);
