// Frequency (stickiness) over HTTP, hand-counted on events sent through the real /import path
// (pseudonymised ids; a device merged into its user mid-range), profiles through /engage: users
// per number of distinct days over the range (PostHog's stickiness) and per week (Mixpanel's
// frequency report), "any event" without SDK bookkeeping, a person-property breakdown, a week
// cut by the range with the range before compared, hours; its CSV, the audit entry, who may ask,
// and another tenant's cohort id refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCohort } from '../src/projects/cohorts.js';
import { buildWorld, call, mintKey, mintSession, type World } from './helpers/fixtures.js';
import {
  importWithPlans,
  postQuery,
  rangeStartingDaysAgo,
  startInProcess,
  type InProcess,
} from './helpers/inprocess.js';

let s: InProcess;
let world: World;
// D(0) is the Monday two weeks before this week's: D(0)–D(6) and D(7)–D(13) are whole weeks,
// D(13) at the latest yesterday.
const weekday = (new Date().getUTCDay() + 6) % 7;
const { D, at } = rangeStartingDaysAgo(14 + weekday);
const device = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d';
let nextId = 0;

beforeAll(async () => {
  s = await startInProcess();
  world = await buildWorld(s);
  const e = (event: string, who: string, time: number) => ({
    event,
    properties: {
      distinct_id: who,
      ...(who.startsWith('$device:') ? { $device_id: device } : { $user_id: who }),
      time,
      $insert_id: `f${nextId++}`,
      token: s.project.token,
    },
  });
  const anon = `$device:${device}`;
  await importWithPlans(
    s,
    [
      // alice: D0, D1, D2 (twice), D8, the last second of D13; the first second of D14 is out.
      e('Open', 'alice', at(0, 12)),
      e('Open', 'alice', at(1, 12)),
      e('Open', 'alice', at(2, 12)),
      e('Open', 'alice', at(2, 13)),
      e('Open', 'alice', at(8, 12)),
      e('Open', 'alice', at(14, 0) - 1),
      e('Open', 'alice', at(14, 0)),
      // bob: opens on D0, buys on D5.
      e('Open', 'bob', at(0, 9)),
      e('Buy', 'bob', at(5, 9)),
      // carol: opens on D3 on a device, identifies on D9 (merging it) and opens.
      e('Open', anon, at(3, 10)),
      {
        event: '$identify',
        properties: {
          distinct_id: 'carol',
          $user_id: 'carol',
          $device_id: device,
          $anon_distinct_id: anon,
          time: at(9, 9),
          $insert_id: 'fid',
          token: s.project.token,
        },
      },
      e('Open', 'carol', at(9, 10)),
      // dave: SDK bookkeeping on D4 (not an event of "any event"), opens on D10.
      e('$feature_flag_called', 'dave', at(4, 10)),
      e('Open', 'dave', at(10, 10)),
    ],
    [
      ['alice', 'pro'],
      ['bob', 'pro'],
      ['carol', 'free'],
    ],
  );
});

afterAll(async () => {
  await s.close();
});

/** `counts` then zeros up to `k` entries. */
const padded = (counts: number[], k: number): number[] => [
  ...counts,
  ...Array.from({ length: k - counts.length }, () => 0),
];
/** users on k or more, from users on exactly k. */
const atLeast = (counts: number[]): number[] =>
  counts.map((_, i) => counts.slice(i).reduce((a, b) => a + b, 0));

type Period = {
  start: string;
  end: string;
  complete: boolean;
  intervals: number;
  users: number;
  counts: number[];
  cumulative: number[];
};
type Row = {
  event: string | null;
  breakdown_kind: string;
  breakdown_value: unknown;
  periods: Period[];
  previous_periods?: Period[];
};
type Answer = { interval: string; per: string; series: Row[] };

const period = (start: string, end: string, counts: number[], k: number, complete = true) => {
  const all = padded(counts, k);
  return {
    start,
    end,
    complete,
    intervals: k,
    users: all.reduce((a, b) => a + b, 0),
    counts: all,
    cumulative: atLeast(all),
  };
};

const frequency = (extra: Record<string, unknown>) => ({
  kind: 'frequency',
  from: D(0),
  to: D(13),
  series: [{ event: 'Open' }],
  ...extra,
});

describe('frequency', () => {
  it('counts users per number of distinct days over the range (stickiness), any event without SDK bookkeeping', async () => {
    const res = await postQuery(s, frequency({ series: [{ event: 'Open' }, {}] }));
    expect(res.statusCode).toBe(200);
    const body = res.json<Answer>();
    expect(body.interval).toBe('day');
    expect(body.per).toBe('range');
    // Open: alice 5 days, carol 2 (her device's day merged into her), bob and dave 1.
    // Any event: bob 2 (his purchase), dave still 1 ($feature_flag_called is bookkeeping).
    expect(body.series).toEqual([
      {
        event: 'Open',
        breakdown_kind: 'none',
        breakdown_value: null,
        periods: [period(D(0), D(13), [2, 1, 0, 0, 1], 14)],
      },
      {
        event: null,
        breakdown_kind: 'none',
        breakdown_value: null,
        periods: [period(D(0), D(13), [1, 2, 0, 0, 1], 14)],
      },
    ]);
    expect(body.series[0]!.periods[0]!.cumulative.slice(0, 6)).toEqual([4, 2, 1, 1, 1, 0]);
  });

  it('counts per week (the frequency report), a breakdown by a person property', async () => {
    const weekly = await postQuery(s, frequency({ per: 'week' }));
    expect(weekly.statusCode).toBe(200);
    // Week 1: alice 3 days, bob 1, carol 1 (her device). Week 2: alice 2, carol 1, dave 1.
    expect(weekly.json<Answer>().series[0]!.periods).toEqual([
      period(D(0), D(6), [2, 0, 1], 7),
      period(D(7), D(13), [2, 1], 7),
    ]);
    const byPlan = await postQuery(s, frequency({ breakdown: 'person.plan' }));
    expect(byPlan.statusCode).toBe(200);
    // pro (alice 5, bob 1; 7 events) before free (carol 2; 2 events); dave has no plan.
    expect(
      byPlan.json<Answer>().series.map((r) => [r.breakdown_kind, r.breakdown_value, r.periods]),
    ).toEqual([
      ['value', 'pro', [period(D(0), D(13), [1, 0, 0, 0, 1], 14)]],
      ['value', 'free', [period(D(0), D(13), [0, 1], 14)]],
      ['not_set', null, [period(D(0), D(13), [1], 14)]],
    ]);
  });

  it('cuts a week at the range’s edge, compares with the range before, and counts hours', async () => {
    const res = await postQuery(
      s,
      frequency({ from: D(2), per: 'week', compare: 'previous_period' }),
    );
    expect(res.statusCode).toBe(200);
    const row = res.json<Answer>().series[0]!;
    // D2–D6: 5 days of the week (alice on D2, carol on D3).
    expect(row.periods).toEqual([
      period(D(2), D(6), [2], 5, false),
      period(D(7), D(13), [2, 1], 7),
    ]);
    // The 12 days before: D(-10) (a Friday) to D1; alice opened on D0 and D1, bob on D0.
    expect(row.previous_periods).toEqual([
      period(D(-10), D(-8), [], 3, false),
      period(D(-7), D(-1), [], 7),
      period(D(0), D(1), [1, 1], 2, false),
    ]);
    const hours = await postQuery(s, frequency({ from: D(2), to: D(2), interval: 'hour' }));
    // alice opened at 12:00 and 13:00 of D2: two hours of 24.
    expect(hours.json<Answer>().series[0]!.periods).toEqual([period(D(2), D(2), [0, 1], 24)]);
  });

  it('answers CSV: one row per period, users on exactly k days and on k or more', async () => {
    const res = await postQuery(s, frequency({ per: 'week' }), { accept: 'text/csv' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/csv');
    const ks = [1, 2, 3, 4, 5, 6, 7];
    expect(res.body.trim().split('\r\n')).toEqual([
      [
        'event,breakdown_kind,breakdown_value,start,end,complete,intervals,users',
        ...ks.map((k) => `exactly_${k}`),
        ...ks.map((k) => `at_least_${k}`),
      ].join(','),
      `Open,none,,${D(0)},${D(6)},true,7,3,2,0,1,0,0,0,0,3,1,1,0,0,0,0`,
      `Open,none,,${D(7)},${D(13)},true,7,3,2,1,0,0,0,0,0,3,1,0,0,0,0,0`,
    ]);
  });

  it('is audited like every query: its kind, the fields and events it names, values as HMACs', async () => {
    const marker = 'Marker-Frequency-91c2';
    const res = await postQuery(
      s,
      frequency({
        filters: [{ property: 'person.plan', op: 'neq', value: marker }],
        breakdown: '$browser',
      }),
    );
    expect(res.statusCode).toBe(200);
    const audited = await s.server.runtime.audit.store.scan({ kinds: ['query'] });
    const last = audited.at(-1)!;
    expect(last.detail).toContain('"query_kind":"frequency"');
    // (The entry keeps its lists as JSON text.)
    expect(last.fields).toContain('person.plan');
    expect(last.fields).toContain('$browser');
    expect(last.eventNames).toContain('Open');
    expect(JSON.stringify(audited)).not.toContain(marker);
  });

  it('is answered to analysts and `query` keys; another tenant’s cohort id names nothing', async () => {
    const analyst = await mintSession(s.server.runtime.auth, world.usersX.analyst);
    const url = `/api/v1/projects/${world.projectA}/query`;
    const asAnalyst = await call(s, { kind: 'session', session: analyst }, 'POST', url, {
      body: frequency({}),
    });
    expect(asAnalyst.statusCode).toBe(200);
    const key = await mintKey(s.server.runtime.auth, world.projectA, 'query');
    const asKey = await call(s, { kind: 'key', secret: key }, 'POST', url, { body: frequency({}) });
    expect(asKey.statusCode).toBe(200);
    expect(asKey.json()).toEqual(asAnalyst.json());
    // A cohort of project A, used by project C's key: unknown there, as filter and breakdown.
    const cohort = await createCohort(
      s.server.runtime.meta,
      world.projectA,
      {
        name: 'Pro',
        conditions: [{ kind: 'person_property', property: 'plan', op: 'eq', value: 'pro' }],
      },
      'test',
      Date.now(),
    );
    const other = await mintKey(s.server.runtime.auth, world.projectC, 'query');
    for (const extra of [
      { filters: [{ property: 'cohort', op: 'in', value: cohort.id }] },
      { breakdown: { cohort: cohort.id } },
    ]) {
      const used = await call(
        s,
        { kind: 'key', secret: other },
        'POST',
        `/api/v1/projects/${world.projectC}/query`,
        { body: frequency(extra) },
      );
      expect(used.statusCode).toBe(400);
      expect(used.body).toContain('unknown cohort');
    }
    // In its own project the cohort works: pro users (alice 5 days, bob 1).
    const own = await postQuery(s, frequency({ breakdown: { cohort: cohort.id } }));
    expect(own.statusCode).toBe(200);
    // Not in it: carol 2 days, dave 1.
    const rows = own.json<Answer>().series;
    expect(
      rows.map((r) => [r.breakdown_kind, r.breakdown_value, r.periods[0]!.counts.slice(0, 5)]),
    ).toEqual([
      ['value', cohort.id, [1, 0, 0, 0, 1]],
      ['not_set', null, [1, 1, 0, 0, 0]],
    ]);
  });
});
