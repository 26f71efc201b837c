// Differential property tests for the people features of issue 12: one user's profile and event
// stream, and saved cohorts (size, and as filters in trends, funnels and retention). Random small
// datasets built to hit the edge shapes on purpose — ties, identity merges mid-stream (a device
// linked to a user after it sent events, a user id that is itself an alias), empty distinct ids,
// events exactly on the edges of a cohort's "last D days" and 1 ms outside, profiles missing or
// with odd values — answered by the SQL engine on a real DuckDB file (both DuckDB plan shapes)
// and by the plain-TypeScript reference, which must agree exactly.
// Reproduce a failure with FC_SEED=<seed printed below>.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../shared/json.js';
import { DuckDbDatabase, DuckDbEventStore } from '../store/duckdb/index.js';
import { DUCKDB_DIALECT } from '../store/duckdb/dialect.js';
import { DuckDbQueryExecutor } from '../store/duckdb/query-executor.js';
import type { EventRow, IdentityLink, StoredProfile } from '../store/types.js';
import { parseCohortDefinition, type CohortDefinition } from './cohorts.js';
import { analysed, analysis } from './differential-generators.js';
import { QueryEngine } from './engine.js';
import { parseQuery } from './model.js';
import { referenceAnswer, unknownProperties, type ReferenceData } from './reference.js';

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() % 2 ** 31;
const RUNS = Number(process.env.FC_RUNS_FACTOR ?? 1);
const DAY = 86_400_000;
/** The instant cohorts are evaluated at (the engine's clock in these tests). */
const NOW = Date.parse('2024-03-10T12:00:00Z');

const USERS = ['u1', 'u2', 'u3'];
const DEVICES = ['d1', 'd2', 'd3'];
const ANON = ['o1', 'o2'];
const EVENTS = ['A', 'B', 'C'];
const PLANS = ['pro', 'free', 'Pro', '12', ''];

let db: DuckDbDatabase;
let store: DuckDbEventStore;
let executors: DuckDbQueryExecutor[] = [];
let engines: QueryEngine[] = [];
/** One query of `projectId` (in `timezone`, UTC unless said) through `engine`. */
const ask = (engine: QueryEngine, projectId: string, body: unknown, timezone = 'UTC') =>
  engine.run({ projectId, actor: 'test' }, { id: projectId, timezone }, body);
let dir: string;
let nextProject = 0;
let nextKey = 1n;
/** Cohorts of the dataset under test, by project (the engines' cohort source reads this). */
const cohortsByProject = new Map<string, Map<string, CohortDefinition>>();

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-diff-people-'));
  db = await DuckDbDatabase.open(dir);
  store = new DuckDbEventStore(db);
  executors = [
    await DuckDbQueryExecutor.open(db),
    await DuckDbQueryExecutor.open(db, { planAsAtScale: true }),
  ];
  // The third reads the per-day rollups where a query can (trends, retention; rollups.ts).
  engines = [...executors, executors[1]!].map(
    (executor, i) =>
      new QueryEngine({
        executor,
        dialect: DUCKDB_DIALECT,
        audit: { record: () => undefined },
        ...(i === 2 ? { rollups: db.rollups } : {}),
        cohorts: {
          now: () => NOW,
          definitions: (projectId, ids) => {
            const all = cohortsByProject.get(projectId) ?? new Map<string, CohortDefinition>();
            return Promise.resolve(new Map([...all].filter(([id]) => ids.includes(id))));
          },
        },
      }),
  );
  console.info(`people differential tests: FC_SEED=${SEED}`);
});

afterAll(async () => {
  for (const executor of executors) await executor.close();
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Datasets.

interface Dataset {
  events: Omit<EventRow, 'projectId' | 'dedupKey'>[];
  links: { aliasId: string; canonicalId: string }[];
  profiles: { profileId: string; properties: JsonObject }[];
  /** Dedup keys: some events share a time; the key order then decides the stream's order. */
  keys: bigint[];
}

/** Instants around the cohort windows' edges (1, 2, 7 days before NOW), NOW, and ties. */
const EDGES = [0, 1, 2, 7].flatMap((d) => [-d * DAY - 1, -d * DAY, -d * DAY + 1]);
/** Local midnights around NOW (UTC): the edges of the breakdown queries' ranges and periods. */
const MIDNIGHTS = [-12, 12, -5 * 24 - 12, -10 * 24 - 12].flatMap((h) => [
  h * 3_600_000 - 1,
  h * 3_600_000,
]);
const instant = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...EDGES, 1, 3_600_000) },
  { weight: 3, arbitrary: fc.integer({ min: -9 * DAY, max: DAY }) },
  { weight: 1, arbitrary: fc.constantFrom(-3 * DAY, -3 * DAY) },
  // Before every range below (first-time retention), and on its days' edges.
  { weight: 2, arbitrary: fc.constantFrom(...MIDNIGHTS, -12 * DAY, -20 * DAY) },
);

const dataset: fc.Arbitrary<Dataset> = fc
  .record({
    raw: fc.array(
      fc.record({
        at: instant,
        event: fc.constantFrom(...EVENTS),
        user: fc.option(fc.constantFrom(...USERS), { nil: null, freq: 2 }),
        device: fc.option(fc.constantFrom(...DEVICES), { nil: null, freq: 3 }),
        distinct: fc.constantFrom('user', 'device', 'device', 'empty', ...ANON),
        plan: fc.option(fc.constantFrom(...PLANS), { nil: null, freq: 3 }),
        amount: fc.option(fc.constantFrom(0, 1, 2.5, 10, '3'), { nil: null, freq: 3 }),
        // Keys that sort differently as numbers and as text (9 < 10, "9" > "10").
        key: fc.constantFrom(1n, 2n, 9n, 10n, 11n, 99n, 100n, 12345678901234567890n),
      }),
      { minLength: 1, maxLength: 30, size: 'max' },
    ),
    links: fc.array(
      fc.record({
        aliasId: fc.constantFrom(...DEVICES, ...USERS, ...ANON),
        canonicalId: fc.constantFrom(...USERS),
      }),
      { maxLength: 5 },
    ),
    profiles: fc.array(
      fc.record({
        profileId: fc.constantFrom(...USERS, ...DEVICES, 'o1'),
        properties: fc
          .record(
            {
              plan: fc.constantFrom(...PLANS),
              seats: fc.constantFrom(0, 1, 5, '5', 'x', 12.5),
            },
            { requiredKeys: [] },
          )
          .map((p) => p as JsonObject),
      }),
      { maxLength: 5 },
    ),
  })
  .map(({ raw, links, profiles }) => {
    const usedKeys = new Set<bigint>();
    const keys: bigint[] = [];
    const events = raw.map((r, i) => {
      // Unique dedup keys: the chosen one when free, else a fresh one.
      let key = r.key * 1000n + BigInt(i);
      if (usedKeys.has(key)) key = 10n ** 18n + BigInt(i);
      usedKeys.add(key);
      keys.push(key);
      const distinctId =
        r.distinct === 'user'
          ? (r.user ?? 'o1')
          : r.distinct === 'device'
            ? (r.device ?? 'o2')
            : r.distinct === 'empty'
              ? ''
              : r.distinct;
      const properties: JsonObject = {};
      if (r.plan !== null) properties.plan = r.plan;
      if (r.amount !== null) properties.amount = r.amount;
      return {
        timeMs: NOW + r.at,
        event: r.event,
        distinctId,
        deviceId: r.device,
        userId: r.user,
        insertId: `i${i}`,
        browser: r.plan === 'pro' ? 'Chrome' : null,
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
        properties,
        receivedAtMs: 0,
      };
    });
    const seen = new Set<string>();
    const kept = links.filter((l) => {
      if (seen.has(l.aliasId) || l.aliasId === l.canonicalId) return false;
      seen.add(l.aliasId);
      return true;
    });
    const byId = new Map(profiles.map((p) => [p.profileId, p]));
    return { events, links: kept, profiles: [...byId.values()], keys };
  });

async function load(d: Dataset): Promise<ReferenceData> {
  const projectId = `prj_people_${nextProject++}`;
  const noiseId = `${projectId}_noise`;
  const events: EventRow[] = d.events.map((e, i) => ({
    ...e,
    projectId,
    dedupKey: d.keys[i]! + nextKey * 10n ** 20n,
  }));
  nextKey++;
  // Another project: same ids, other events and profiles; never to be read.
  const noise: EventRow[] = d.events.map((e, i) => ({
    ...e,
    event: 'A',
    projectId: noiseId,
    dedupKey: d.keys[i]! + nextKey * 10n ** 20n,
  }));
  nextKey++;
  const links: IdentityLink[] = d.links.flatMap((l) => [
    { projectId, ...l, timeMs: 0 },
    { projectId: noiseId, aliasId: l.aliasId, canonicalId: 'u9', timeMs: 0 },
  ]);
  await store.commit({
    events: [...events, ...noise],
    identityLinks: links,
    profileUpdates: d.profiles.flatMap((p) => [
      {
        projectId,
        groupKey: '',
        profileId: p.profileId,
        op: '$set' as const,
        value: p.properties,
        timeMs: 0,
        ignoreTime: false,
      },
      {
        projectId: noiseId,
        groupKey: '',
        profileId: p.profileId,
        op: '$set' as const,
        value: { plan: 'noise', seats: 999 },
        timeMs: 0,
        ignoreTime: false,
      },
    ]),
    privacyCounts: [],
  });
  const profiles: StoredProfile[] = [];
  for (const p of d.profiles) {
    const got = await store.getProfile({ projectId, groupKey: '', profileId: p.profileId });
    if (got) profiles.push(got);
  }
  // Built after the data is in (the upkeep as events arrive is rollups.test.ts's).
  await db.rollups.ensure(projectId, 'UTC');
  return { projectId, timezone: 'UTC', events, links, profiles, propertySampleSize: 100 };
}

// ---------------------------------------------------------------------------------------------
// One user: profile and stream.

const text = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The reference person an id stands for, and their events newest first (time, then key text). */
/** Flows from anchor `A` on 2024-03-09 (UTC), both directions and 1–3 steps: every engine = the reference. */
async function expectFlowsAsReference(data: ReferenceData): Promise<void> {
  for (const direction of ['after', 'before'] as const)
    for (const steps of [1, 2, 3]) {
      const body = {
        kind: 'flows',
        from: '2024-03-09',
        to: '2024-03-09',
        anchor: { event: 'A', direction },
        steps,
      };
      const want = referenceAnswer(parseQuery(body), data);
      for (const engine of engines)
        expect(await ask(engine, data.projectId, body), `${direction}, ${steps} steps`).toEqual(
          want,
        );
    }
}

function referenceUser(data: ReferenceData, id: string) {
  const canonical = new Map(
    data.links.filter((l) => l.projectId === data.projectId).map((l) => [l.aliasId, l.canonicalId]),
  );
  const person = canonical.get(id) ?? id;
  const uid = (e: EventRow): string | null => {
    if (e.userId) return e.userId;
    if (e.deviceId && canonical.has(e.deviceId)) return canonical.get(e.deviceId)!;
    if (canonical.has(e.distinctId)) return canonical.get(e.distinctId)!;
    return e.distinctId === '' ? null : e.distinctId;
  };
  const mine = data.events
    .filter((e) => e.projectId === data.projectId && uid(e) === person)
    .sort((a, b) => b.timeMs - a.timeMs || text(String(b.dedupKey), String(a.dedupKey)));
  const aliases = [...canonical]
    .filter(([, c]) => c === person)
    .map(([a]) => a)
    .sort();
  const profile = data.profiles?.find(
    (p) => p.projectId === data.projectId && p.groupKey === '' && p.profileId === person,
  );
  return { person, mine, aliases, profile };
}

describe(`one user: engine = reference (FC_SEED=${SEED})`, () => {
  it('profile and every page of the stream, at any page size and start', async () => {
    await fc.assert(
      fc.asyncProperty(
        dataset,
        fc.constantFrom(...USERS, ...DEVICES, ...ANON, 'nobody', ''),
        fc.integer({ min: 1, max: 4 }),
        fc.option(fc.constantFrom(...EDGES.map((x) => NOW + x)), { nil: null }),
        async (d, id, limit, beforeMs) => {
          const data = await load(d);
          const want = referenceUser(data, id);
          for (const engine of engines) {
            const reader = engine.userStreams();
            const profile = await reader.profile(data.projectId, id);
            if (want.mine.length === 0 && !want.profile && want.aliases.length === 0) {
              expect(profile).toBeNull();
            } else {
              expect(profile).toEqual({
                id,
                person: want.person,
                aliases: want.aliases,
                properties: want.profile ? want.profile.properties : null,
                profileUpdatedAtMs: want.profile ? want.profile.updatedAtMs : null,
                eventCount: want.mine.length,
                firstSeenMs: want.mine.at(-1)?.timeMs ?? null,
                lastSeenMs: want.mine[0]?.timeMs ?? null,
              });
            }
            // Walk every page from `beforeMs`; the concatenation is the reference list.
            const expected = want.mine.filter((e) => beforeMs === null || e.timeMs < beforeMs);
            const got: EventRow[] = [];
            let cursor: { timeMs: number; key: string } | null = null;
            for (let page = 0; page < 40; page++) {
              const rows = await reader.events(data.projectId, want.person, {
                beforeMs,
                cursor,
                limit,
              });
              const shown = rows.slice(0, limit);
              got.push(...shown.map((r) => r.row));
              if (rows.length <= limit) break;
              const last = shown.at(-1)!;
              cursor = { timeMs: last.row.timeMs, key: last.key };
            }
            expect(got.map((e) => [e.timeMs, String(e.dedupKey), e.event, e.distinctId])).toEqual(
              expected.map((e) => [e.timeMs, String(e.dedupKey), e.event, e.distinctId]),
            );
            expect(got.map((e) => e.properties)).toEqual(expected.map((e) => e.properties));
          }
        },
      ),
      { seed: SEED, numRuns: Math.round(40 * RUNS) },
    );
  }, 240_000);
});

// ---------------------------------------------------------------------------------------------
// Cohorts.

const eventFilter = fc.oneof(
  fc.record({
    property: fc.constant('plan'),
    op: fc.constantFrom('eq', 'neq'),
    value: fc.constantFrom(...PLANS),
  }),
  fc.record({
    property: fc.constant('amount'),
    op: fc.constantFrom('gt', 'lte'),
    value: fc.constantFrom(0, 2.5, 3),
  }),
  fc.record({
    property: fc.constantFrom('$browser', 'plan'),
    op: fc.constantFrom('is_set', 'is_not_set'),
  }),
);

const condition = fc.oneof(
  fc.record(
    {
      kind: fc.constant('did_event'),
      event: fc.constantFrom(...EVENTS),
      filters: fc.array(eventFilter, { maxLength: 1 }),
      count_op: fc.constantFrom('gte', 'lte', 'eq'),
      count: fc.constantFrom(0, 1, 1, 2, 3),
      within_days: fc.constantFrom(1, 1, 2, 7),
    },
    { requiredKeys: ['kind', 'event', 'within_days'] },
  ),
  fc.oneof(
    fc.record({
      kind: fc.constant('person_property'),
      property: fc.constantFrom('plan', 'person.plan'),
      op: fc.constantFrom('eq', 'neq', 'contains'),
      value: fc.constantFrom(...PLANS),
    }),
    fc.record({
      kind: fc.constant('person_property'),
      property: fc.constantFrom('seats', 'missing'),
      op: fc.constantFrom('gt', 'gte', 'lt'),
      value: fc.constantFrom(0, 1, 5),
    }),
    fc.record({
      kind: fc.constant('person_property'),
      property: fc.constantFrom('plan', 'seats'),
      op: fc.constantFrom('is_set', 'is_not_set'),
    }),
    fc.record({
      kind: fc.constant('person_property'),
      property: fc.constant('plan'),
      op: fc.constantFrom('in', 'not_in'),
      value: fc.constant(['pro', '12']),
    }),
  ),
);

const cohortDefinition = fc.record({
  match: fc.constantFrom('all', 'any'),
  conditions: fc.array(condition, { minLength: 1, maxLength: 3 }),
});

const cohortFilter = fc.record({
  property: fc.constant('cohort'),
  op: fc.constantFrom('in', 'not_in'),
  value: fc.oneof(fc.constant('c1'), fc.constant(['c1', 'c2']), fc.constant(['c2'])),
});

/**
 * A cohort filter, or one inside an `all` or `any` group (with a property condition beside it):
 * a cohort that must hold at the top of a WHERE clause compiles to a bare membership test.
 */
const cohortFilterNode = fc.oneof(
  cohortFilter,
  fc
    .tuple(cohortFilter, fc.constantFrom('all', 'any'), fc.constantFrom('Chrome', 'Safari'))
    .map(([f, key, browser]) => ({
      [key]: [f, { property: '$browser', op: 'eq', value: browser }],
    })),
);

const range = { from: '2024-03-01', to: '2024-03-11' };
const query = fc.oneof(
  fc.constant({ kind: 'cohort_size', cohort: 'c1' }),
  fc.constant({ kind: 'cohort_size', cohort: 'c1' }),
  fc.constant({ kind: 'cohort_size', cohort: 'c2' }),
  fc.record({
    kind: fc.constant('trends'),
    ...Object.fromEntries(Object.entries(range).map(([k, v]) => [k, fc.constant(v)])),
    interval: fc.constantFrom('day', 'week'),
    series: fc.array(
      fc.record({
        event: fc.constantFrom(...EVENTS, null),
        math: fc.constantFrom('total', 'unique_users'),
        filters: fc.array(cohortFilterNode, { maxLength: 1 }),
      }),
      { minLength: 1, maxLength: 2 },
    ),
    filters: fc.array(cohortFilterNode, { minLength: 1, maxLength: 2 }),
    breakdown: fc.constantFrom(undefined, '$browser'),
  }),
  fc.record({
    kind: fc.constant('funnel'),
    ...Object.fromEntries(Object.entries(range).map(([k, v]) => [k, fc.constant(v)])),
    steps: fc.array(
      fc.record({
        event: fc.constantFrom(...EVENTS),
        filters: fc.array(cohortFilter, { maxLength: 1 }),
      }),
      { minLength: 2, maxLength: 3 },
    ),
    window_seconds: fc.constantFrom(3600, 86_400, 7 * 86_400),
    filters: fc.array(cohortFilter, { maxLength: 1 }),
  }),
  fc.record({
    kind: fc.constant('retention'),
    ...Object.fromEntries(Object.entries(range).map(([k, v]) => [k, fc.constant(v)])),
    start_event: fc.constantFrom(...EVENTS),
    return_event: fc.constantFrom(...EVENTS),
    period: fc.constant('day'),
    periods: fc.constant(3),
    filters: fc.array(cohortFilter, { minLength: 1, maxLength: 1 }),
  }),
  // Lifecycle: a cohort (and a property) decides which users' events count; first events
  // and the interval before the first are read before `from`.
  fc.record({
    kind: fc.constant('lifecycle'),
    from: fc.constantFrom('2024-03-04', '2024-03-06'),
    to: fc.constant(range.to),
    interval: fc.constantFrom('day', 'week'),
    event: fc.constantFrom(...EVENTS, null),
    filters: fc.array(cohortFilterNode, { minLength: 1, maxLength: 1 }),
  }),
);

/**
 * Breakdowns of issue 12: one property, lists of up to three (event and person), cohorts, and
 * lists combining a cohort with properties.
 */
const breakdownOf = fc.oneof(
  fc.record({ breakdown: fc.constantFrom('plan', '$browser', 'person.plan') }),
  fc.record({
    breakdown: fc.constantFrom(
      ['plan'],
      ['plan', 'person.plan'],
      ['$browser', 'amount', 'person.plan'],
      ['person.seats', 'plan'],
    ),
    breakdown_limit: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
  }),
  fc.record({
    breakdown: fc.constantFrom(
      { cohort: 'c1' },
      { cohort: ['c1', 'c2'] },
      { cohort: ['c2', 'c1'] },
    ),
  }),
  // A cohort combined with properties (event and person), in each place of the list.
  fc.record({
    breakdown: fc.constantFrom<unknown[]>(
      [{ cohort: ['c1', 'c2'] }, '$browser'],
      ['plan', { cohort: 'c1' }],
      ['person.plan', { cohort: ['c2', 'c1'] }, '$browser'],
      ['$browser', 'plan', { cohort: ['c1', 'c2'] }],
      [{ cohort: ['c1', 'c2'] }],
    ),
    breakdown_limit: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
  }),
);
const breakdownRanges = fc.constantFrom(
  { from: '2024-03-01', to: '2024-03-11' },
  { from: '2024-03-05', to: '2024-03-09' },
  { from: '2024-03-10', to: '2024-03-10' },
);
const breakdownQuery = fc
  .oneof(
    fc.record({
      kind: fc.constant('trends'),
      range: breakdownRanges,
      interval: fc.constantFrom('day', 'week'),
      series: fc.array(
        fc.record({
          event: fc.constantFrom(...EVENTS, null),
          math: fc.constantFrom(
            'total',
            'unique_users',
            'per_user_avg',
            'per_user_max',
            'sum',
            'unique_groups',
            'weekly_active',
            'monthly_active',
          ),
        }),
        { minLength: 1, maxLength: 2 },
      ),
      filters: fc.array(cohortFilter, { maxLength: 1 }),
      compare: fc.boolean(),
      bd: breakdownOf,
      // Every series split by the first one's values (B only when there are two series).
      formula: fc.option(fc.constantFrom('A * 2', 'B / A', 'A - B'), { nil: undefined }),
      analysis,
    }),
    fc.record({
      kind: fc.constant('funnel'),
      range: breakdownRanges,
      steps: fc.array(fc.record({ event: fc.constantFrom(...EVENTS) }), {
        minLength: 2,
        maxLength: 3,
      }),
      window_seconds: fc.constantFrom(3600, 86_400, 7 * 86_400),
      filters: fc.array(cohortFilter, { maxLength: 1 }),
      bd: breakdownOf,
    }),
    fc.record({
      kind: fc.constant('retention'),
      range: breakdownRanges,
      start_event: fc.constantFrom(...EVENTS),
      return_event: fc.constantFrom(...EVENTS),
      period: fc.constantFrom('day', 'week'),
      periods: fc.constantFrom(1, 3),
      retention_type: fc.constantFrom('first_in_range', 'first_time', 'recurring'),
      filters: fc.array(cohortFilter, { maxLength: 1 }),
      bd: fc.option(breakdownOf, { nil: undefined }),
    }),
  )
  .map((raw) => {
    const { range: r, bd, ...rest } = raw;
    const series = (rest as { series?: { math: string }[] }).series?.map((s) =>
      s.math === 'sum'
        ? { ...s, property: 'amount' }
        : s.math === 'unique_groups'
          ? { ...s, group_key: 'plan' }
          : s,
    );
    const {
      compare,
      analysis: a,
      ...others
    } = rest as typeof rest & {
      compare?: boolean;
      analysis?: { analysis: string; rolling_window?: number };
    };
    const formula = (others as { formula?: string }).formula;
    if (formula?.includes('B') && series?.length === 1)
      delete (others as { formula?: string }).formula;
    const query: Record<string, unknown> = {
      ...others,
      ...r,
      ...(series ? { series } : {}),
      ...(compare ? { compare: 'previous_period' } : {}),
      ...(bd ?? {}),
    };
    return a ? analysed(query, a) : query;
  });

/**
 * Frequencies filtered by cohorts (in series and for the whole query), broken down by person
 * properties, cohorts or both, per range, week or month.
 */
const frequencyQuery = fc
  .record({
    range: breakdownRanges,
    shape: fc.constantFrom(
      { interval: 'day', per: 'range' },
      { interval: 'hour', per: 'range' },
      { interval: 'day', per: 'week' },
      { interval: 'week', per: 'month' },
    ),
    series: fc.array(
      fc.record({
        event: fc.constantFrom(...EVENTS, null),
        filters: fc.array(cohortFilterNode, { maxLength: 1 }),
      }),
      { minLength: 1, maxLength: 2 },
    ),
    filters: fc.array(cohortFilter, { maxLength: 1 }),
    compare: fc.boolean(),
    bd: fc.option(breakdownOf, { nil: undefined }),
  })
  .map(({ range: r, shape, compare, bd, ...rest }) => ({
    kind: 'frequency',
    ...r,
    ...shape,
    ...rest,
    ...(compare ? { compare: 'previous_period' } : {}),
    ...(bd ?? {}),
  }));

const strip = (v: unknown): unknown =>
  JSON.parse(JSON.stringify(v, (_k, x: unknown) => (x === undefined ? undefined : x)));

describe(`cohorts: engine = reference (FC_SEED=${SEED})`, () => {
  it('size, and as filters in trends, funnels and retention', async () => {
    await fc.assert(
      fc.asyncProperty(
        dataset,
        cohortDefinition,
        cohortDefinition,
        query,
        async (d, c1, c2, body) => {
          const data = await load(d);
          const byId = new Map([
            ['c1', parseCohortDefinition(c1).definition],
            ['c2', parseCohortDefinition(c2).definition],
          ]);
          cohortsByProject.set(data.projectId, byId);
          const clean = strip(body) as Record<string, unknown>;
          const want = referenceAnswer(parseQuery(clean), {
            ...data,
            cohorts: { nowMs: NOW, byId },
          });
          for (const engine of engines) {
            const got = await ask(engine, data.projectId, clean);
            expect(strip(got)).toEqual(strip(want));
          }
        },
      ),
      { seed: SEED, numRuns: Math.round(100 * RUNS) },
    );
  }, 300_000);

  /**
   * Engine = reference on `runs` queries of `queries` with random saved cohorts c1 and c2; a
   * property the project has never seen must be a 400 naming it, never a silent answer.
   */
  const agreeWithCohorts = (queries: fc.Arbitrary<Record<string, unknown>>, runs: number) =>
    fc.assert(
      fc.asyncProperty(
        dataset,
        cohortDefinition,
        cohortDefinition,
        queries,
        async (d, c1, c2, body) => {
          const data = await load(d);
          const byId = new Map([
            ['c1', parseCohortDefinition(c1).definition],
            ['c2', parseCohortDefinition(c2).definition],
          ]);
          cohortsByProject.set(data.projectId, byId);
          const clean = strip(body) as Record<string, unknown>;
          const refData = { ...data, cohorts: { nowMs: NOW, byId } };
          const query = parseQuery(clean);
          const unknown = unknownProperties(query, refData);
          for (const engine of engines) {
            const run = ask(engine, data.projectId, clean);
            if (unknown.length > 0) {
              await expect(run).rejects.toMatchObject({ code: 'QUERY_INVALID' });
              continue;
            }
            expect(strip(await run)).toEqual(strip(referenceAnswer(query, refData)));
          }
        },
      ),
      { seed: SEED, numRuns: Math.round(runs * RUNS) },
    );

  it('breakdowns (lists, person properties, cohorts) and retention types', async () => {
    // 100 runs (150 took 56–120 s, the suite's longest test, once combined lists joined the draws).
    await agreeWithCohorts(breakdownQuery, 100);
  }, 400_000);

  it('frequency: cohort filters, person and cohort breakdowns, merged identities', async () => {
    await agreeWithCohorts(frequencyQuery, 25);
  }, 300_000);

  it('counts exactly the events of the last D days: both edges in, 1 ms outside out', async () => {
    const base = fc.sample(dataset, { seed: 1, numRuns: 1 })[0]!;
    const at = (userId: string, ms: number, i: number) => ({
      ...base.events[0]!,
      event: 'A',
      userId,
      deviceId: null,
      distinctId: userId,
      timeMs: ms,
      insertId: `edge${i}`,
    });
    const events = [
      at('u1', NOW - DAY, 0), // on the far edge: in
      at('u2', NOW - DAY - 1, 1), // 1 ms before it: out
      at('u3', NOW, 2), // now: in
      at('o1', NOW + 1, 3), // 1 ms after now: out
    ];
    const data = await load({ events, links: [], profiles: [], keys: [1n, 2n, 3n, 4n] });
    const byId = new Map([
      [
        'c1',
        parseCohortDefinition({
          conditions: [{ kind: 'did_event', event: 'A', within_days: 1 }],
        }).definition,
      ],
    ]);
    cohortsByProject.set(data.projectId, byId);
    const body = { kind: 'cohort_size', cohort: 'c1' };
    expect(referenceAnswer(parseQuery(body), { ...data, cohorts: { nowMs: NOW, byId } })).toEqual({
      cohort: 'c1',
      size: 2,
    });
    for (const engine of engines)
      expect(await ask(engine, data.projectId, body)).toEqual({ cohort: 'c1', size: 2 });
  });

  it('refuses an unknown cohort id with 400 naming where it was used', async () => {
    const data = await load({ events: [], links: [], profiles: [], keys: [] });
    cohortsByProject.set(data.projectId, new Map());
    await expect(
      ask(engines[0]!, data.projectId, {
        kind: 'trends',
        ...range,
        series: [{ event: 'A' }],
        filters: [{ property: 'cohort', op: 'in', value: 'nope' }],
      }),
    ).rejects.toMatchObject({ code: 'QUERY_INVALID', details: [{ path: 'filters.0.value' }] });
  });
});

// ---------------------------------------------------------------------------------------------
// Flows.

/**
 * Two event names whose codes in the engine's flows keys (the top 24 bits of DuckDB's 64-bit
 * hash; compile.ts, compileFlows) are equal: checked in the test that uses them by name.
 */
const SHARED_CODE = ['E1130', 'E4816'] as const;
/** The distance in ms from a range's edge past which those keys clamp (2^39 - 1, ~17 years). */
const FLOW_FAR_MS = 2 ** 39 - 1;

/**
 * The people datasets, with some events renamed to the two names of one code and some moved
 * ~17 years before or after (around the keys' clamp, on either side of it depending on the
 * range): shapes that break the engine's packed keys if it trusted them.
 */
const flowsDataset: fc.Arbitrary<Dataset> = dataset.chain((d) => {
  const each = <T>(arb: fc.Arbitrary<T>) =>
    fc.array(arb, { minLength: d.events.length, maxLength: d.events.length });
  return fc
    .record({
      names: each(fc.constantFrom(null, null, null, ...SHARED_CODE)),
      moves: each(fc.constantFrom(0, 0, 0, 0, -1, 1)),
      beyond: each(fc.constantFrom(-DAY, -1, 0, 1, 1000, DAY)),
    })
    .map(({ names, moves, beyond }) => ({
      ...d,
      events: d.events.map((e, i) => ({
        ...e,
        event: names[i] ?? e.event,
        timeMs: e.timeMs + moves[i]! * (FLOW_FAR_MS + beyond[i]!),
      })),
    }));
});

const flowsQuery = fc.record({
  kind: fc.constant('flows'),
  from: fc.constantFrom('2024-03-02', '2024-03-08', '2024-03-09', '2024-03-10'),
  to: fc.constantFrom('2024-03-10', '2024-03-11'),
  anchor: fc.record({
    event: fc.constantFrom(...EVENTS, SHARED_CODE[0]),
    direction: fc.constantFrom('after', 'before'),
  }),
  steps: fc.integer({ min: 1, max: 4 }),
  max_paths_per_step: fc.constantFrom(1, 2, 10),
});

describe(`flows: engine = reference (FC_SEED=${SEED})`, () => {
  it('paths after and before an anchor, top events per step, $other, drop-off', async () => {
    await fc.assert(
      fc.asyncProperty(
        flowsDataset,
        flowsQuery,
        fc.constantFrom('UTC', 'Europe/Paris', 'Pacific/Kiritimati'),
        async (d, body, timezone) => {
          const data = { ...(await load(d)), timezone };
          const want = referenceAnswer(parseQuery(body), data);
          for (const engine of engines) {
            const got = await ask(engine, data.projectId, body, timezone);
            expect(got).toEqual(want);
          }
        },
      ),
      { seed: SEED, numRuns: Math.round(80 * RUNS) },
    );
  }, 300_000);

  it('answers a hand-counted flow', async () => {
    const base = fc.sample(dataset, { seed: 1, numRuns: 1 })[0]!;
    const ev = (userId: string, event: string, minutes: number, i: number) => ({
      ...base.events[0]!,
      event,
      userId,
      deviceId: null,
      distinctId: userId,
      timeMs: NOW - DAY + minutes * 60_000,
      insertId: `f${i}`,
    });
    const events = [
      ev('u1', 'C', 0, 0), // before u1's anchor: not on the path after it
      ev('u1', 'A', 1, 1),
      ev('u1', 'B', 2, 2),
      ev('u1', 'C', 3, 3),
      ev('u2', 'A', 1, 4),
      ev('u2', 'A', 2, 5), // a second anchor event: a step, not a new start
      ev('u3', 'A', 1, 6),
    ];
    const data = await load({
      events,
      links: [],
      profiles: [],
      keys: events.map((_, i) => BigInt(i + 1)),
    });
    const body = {
      kind: 'flows',
      from: '2024-03-09',
      to: '2024-03-09',
      anchor: { event: 'A' },
      steps: 2,
      max_paths_per_step: 1,
    };
    const expected = {
      steps: [
        { step: 0, nodes: [{ event: 'A', count: 3 }], links: [], dropoff: 0 },
        {
          step: 1,
          nodes: [
            { event: 'A', count: 1 },
            { event: '$other', count: 1 },
          ],
          links: [
            { from: 'A', to: '$other', count: 1 },
            { from: 'A', to: 'A', count: 1 },
          ],
          dropoff: 1,
        },
        {
          step: 2,
          nodes: [{ event: 'C', count: 1 }],
          links: [{ from: '$other', to: 'C', count: 1 }],
          dropoff: 1,
        },
      ],
    };
    expect(referenceAnswer(parseQuery(body), data)).toEqual(expected);
    for (const engine of engines) expect(await ask(engine, data.projectId, body)).toEqual(expected);
  });

  it('orders events of the same millisecond by the text of their key, in both directions', async () => {
    // The engine keeps each user's nearest events by time and lets the key text decide only
    // between equal times; these users put equal times everywhere that matters. Keys in text
    // order differ from numeric order ("10…" < "9…"), and the reference is the contract.
    const base = fc.sample(dataset, { seed: 1, numRuns: 1 })[0]!;
    const ev = (userId: string, event: string, seconds: number, key: number) => ({
      ...base.events[0]!,
      event,
      userId,
      deviceId: null,
      distinctId: userId,
      timeMs: NOW - DAY + seconds * 1000,
      insertId: `t${key}`,
      // Scaled past the loader's per-project offset (n·10^20), so that digit counts differ.
      key: BigInt(key) * 10n ** 24n,
    });
    // Every key once: equal keys are one event to the store.
    const rows = [
      // u1: the anchor (key 9) after two events of its millisecond ("10", "11" < "9"), then two
      // events tied with each other ("12" < "8"): inside the kept list, and across its end.
      ev('u1', 'B', 60, 10),
      ev('u1', 'C', 60, 11),
      ev('u1', 'A', 60, 9),
      ev('u1', 'B', 120, 8),
      ev('u1', 'C', 120, 12),
      ev('u1', 'A', 180, 7),
      // u2: two anchors in one millisecond (the first is "20" < "3"), one event before both in
      // it ("100") and one between them ("25").
      ev('u2', 'A', 60, 3),
      ev('u2', 'A', 60, 20),
      ev('u2', 'C', 60, 100),
      ev('u2', 'B', 60, 25),
      ev('u2', 'C', 30, 5),
      ev('u2', 'B', 30, 40),
      // u3: everything in one millisecond.
      ev('u3', 'C', 90, 1000),
      ev('u3', 'A', 90, 999),
      ev('u3', 'B', 90, 99),
      ev('u3', 'C', 90, 6),
      ev('u3', 'B', 90, 1),
      // u4: an event before the anchor in its millisecond ("500" < "60"), so the exact pass runs
      // over a span ending at the `steps`-th time beyond the anchor; two events tie at that end
      // ("62" < "630") and a later anchor event lies past it.
      ev('u4', 'B', 600, 500),
      ev('u4', 'A', 600, 60),
      ev('u4', 'C', 660, 61),
      ev('u4', 'B', 720, 62),
      ev('u4', 'C', 720, 630),
      ev('u4', 'A', 780, 64),
      // u5: the mirror for paths before: an event after the anchor in its millisecond ("8000" >
      // "70"), a tie at the span's far end ("72" > "700" walking back), an anchor event past it.
      ev('u5', 'A', 600, 70),
      ev('u5', 'C', 600, 8000),
      ev('u5', 'B', 540, 71),
      ev('u5', 'C', 480, 72),
      ev('u5', 'B', 480, 700),
      ev('u5', 'A', 420, 74),
    ];
    const data = await load({
      events: rows.map(({ key: _key, ...e }) => e),
      links: [],
      profiles: [],
      keys: rows.map((e) => e.key),
    });
    await expectFlowsAsReference(data);
  });

  it('keeps paths exact past its packed keys: names of one code, events ~17 years away', async () => {
    // The engine keeps each user's nearest events as (distance from the range's edge in ms,
    // clamped at 2^39 - 1; a 24-bit code of the name). These users sit where that loses
    // information: two names of one code on one path, two clamped events whose codes sort
    // against their times, a user sent to the exact pass whose span ends at a clamped event.
    const connection = await db.connect();
    const codes = await connection.runAndReadAll(
      `SELECT hash('${SHARED_CODE[0]}') >> 40 = hash('${SHARED_CODE[1]}') >> 40`,
    );
    connection.closeSync();
    expect(codes.getRowsJS()[0]?.[0], 'the two names share a code').toBe(true);
    const base = fc.sample(dataset, { seed: 1, numRuns: 1 })[0]!;
    const [P, Q] = SHARED_CODE;
    // The range (UTC, 2024-03-09): anchors at its noon; its edges.
    const from = Date.parse('2024-03-09T00:00:00Z');
    const to = Date.parse('2024-03-10T00:00:00Z');
    const noon = from + DAY / 2;
    let i = 0;
    const ev = (userId: string, event: string, timeMs: number) => ({
      ...base.events[0]!,
      event,
      userId,
      deviceId: null,
      distinctId: userId,
      timeMs,
      insertId: `k${i++}`,
    });
    const rows = [];
    for (const side of [1, -1]) {
      // Paths after the anchor (side 1) are measured from the range's start, before from its end.
      const edge = side === 1 ? from : to;
      const at = (distance: number) => edge + side * distance;
      const s = side === 1 ? 'a' : 'b';
      rows.push(
        // Names of one code, in both orders, on one path and alone.
        ev(`${s}1`, 'A', noon),
        ev(`${s}1`, P, noon + side * 60_000),
        ev(`${s}1`, Q, noon + side * 120_000),
        ev(`${s}1`, 'B', noon + side * 180_000),
        ev(`${s}2`, 'A', noon),
        ev(`${s}2`, Q, noon + side * 60_000),
        ev(`${s}2`, P, noon + side * 120_000),
        ev(`${s}3`, 'A', noon),
        ev(`${s}3`, Q, noon + side * 60_000),
        // Two clamped events, nearer then farther, as B, C and as C, B (one of the two orders
        // sorts against the times by code), after a near one.
        ev(`${s}4`, 'A', noon),
        ev(`${s}4`, 'C', noon + side * 60_000),
        ev(`${s}4`, 'B', at(FLOW_FAR_MS + 1000)),
        ev(`${s}4`, 'C', at(FLOW_FAR_MS + 5000)),
        ev(`${s}5`, 'A', noon),
        ev(`${s}5`, 'B', noon + side * 60_000),
        ev(`${s}5`, 'C', at(FLOW_FAR_MS + 1000)),
        ev(`${s}5`, 'B', at(FLOW_FAR_MS + 5000)),
        // Exactly at the clamp (kept as is), 1 ms inside it, 1 ms past it.
        ev(`${s}6`, 'A', noon),
        ev(`${s}6`, 'C', at(FLOW_FAR_MS - 1)),
        ev(`${s}6`, 'B', at(FLOW_FAR_MS)),
        ev(`${s}6`, 'C', at(FLOW_FAR_MS + 1)),
        // Another event in the anchor's millisecond (the exact pass), the path running on to
        // clamped events: the pass's span must reach them.
        ev(`${s}7`, 'A', noon),
        ev(`${s}7`, 'B', noon),
        ev(`${s}7`, 'C', at(FLOW_FAR_MS + 1000)),
        ev(`${s}7`, 'B', at(FLOW_FAR_MS + 2000)),
        ev(`${s}7`, 'C', at(FLOW_FAR_MS + 3000)),
      );
    }
    const data = await load({
      events: rows,
      links: [],
      profiles: [],
      keys: rows.map((_, k) => BigInt(k + 1)),
    });
    await expectFlowsAsReference(data);
  });
});
