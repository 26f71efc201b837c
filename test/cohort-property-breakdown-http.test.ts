// A saved cohort combined with properties in one breakdown, over HTTP (issue 12): trends (event
// counts and unique users, "other" past the limit and "not set"), funnels (each user once in
// "other") and retention, their CSV, and the 400s naming the field. Events go through the real
// /import path, plans through /engage, cohorts are saved by an analyst; every expected number is
// counted by hand below.
//
// Users and cohorts: G = plan "gold" (alice, carol, erin); B = did Purchase in the last 30 days
// (alice, bob, erin). dave (free) is in neither. Rows are ordered so that the cohorts' ids
// (random) never decide a tie: the counts, or the property before them, do.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWorld, call, FRESH_PASSKEY, mintSession, type World } from './helpers/fixtures.js';
import {
  importWithPlans,
  rangeStartingDaysAgo,
  startInProcess,
  type InProcess,
} from './helpers/inprocess.js';

let s: InProcess;
let world: World;
/** D(k): k days after the first day of the range, six days ago (UTC project). */
const { D, at } = rangeStartingDaysAgo(6);
let nextId = 0;
let G = '';
let B = '';

beforeAll(async () => {
  s = await startInProcess();
  world = await buildWorld(s);
  const e = (event: string, who: string, time: number, browser?: string) => ({
    event,
    properties: {
      distinct_id: who,
      $user_id: who,
      ...(browser ? { $browser: browser } : {}),
      time,
      $insert_id: `m${nextId++}`,
      token: s.project.token,
    },
  });
  const events = [
    // alice (G, B): signs up on D0 (Chrome), opens on D1, signs up again on D2 (Chrome).
    e('Sign Up', 'alice', at(0, 10), 'Chrome'),
    e('Purchase', 'alice', at(0, 11)),
    e('Open', 'alice', at(1, 10)),
    e('Sign Up', 'alice', at(2, 10), 'Chrome'),
    // bob (B): signs up on D0 (Firefox), opens on D2 (within two days).
    e('Sign Up', 'bob', at(0, 10), 'Firefox'),
    e('Purchase', 'bob', at(1, 10)),
    e('Open', 'bob', at(2, 9)),
    // carol (G): signs up on D1 (Chrome), opens on D2.
    e('Sign Up', 'carol', at(1, 8), 'Chrome'),
    e('Open', 'carol', at(2, 8)),
    // dave (neither): signs up on D1 without a browser, then with Safari; opens on D3 (more than
    // two days after either).
    e('Sign Up', 'dave', at(1, 9)),
    e('Sign Up', 'dave', at(1, 10), 'Safari'),
    e('Open', 'dave', at(3, 12)),
    // erin (G, B): signs up on D3 (Firefox), never opens.
    e('Sign Up', 'erin', at(3, 10), 'Firefox'),
    e('Purchase', 'erin', at(3, 11)),
  ];
  await importWithPlans(s, events, [
    ['alice', 'gold'],
    ['bob', 'pro'],
    ['carol', 'gold'],
    ['dave', 'free'],
    ['erin', 'gold'],
  ]);
  const analyst = {
    kind: 'session' as const,
    session: await mintSession(s.server.runtime.auth, world.usersX.analyst, FRESH_PASSKEY),
  };
  const save = async (name: string, conditions: unknown[]) => {
    const res = await call(s, analyst, 'POST', `/api/v1/projects/${world.projectA}/cohorts`, {
      body: { name, conditions },
    });
    expect(res.statusCode).toBe(201);
    return res.json().id as string;
  };
  G = await save('Gold', [{ kind: 'person_property', property: 'plan', op: 'eq', value: 'gold' }]);
  B = await save('Buyers', [{ kind: 'did_event', event: 'Purchase', within_days: 30 }]);
});

afterAll(async () => {
  await s.close();
});

const query = (body: Record<string, unknown>, accept?: string) =>
  s.server.app.inject({
    method: 'POST',
    url: `/api/v1/projects/${s.project.project_id}/query`,
    headers: {
      authorization: `Bearer ${s.project.secret}`,
      'content-type': 'application/json',
      ...(accept ? { accept } : {}),
    },
    payload: JSON.stringify(body),
  });

const trends = (math: string, extra: Record<string, unknown> = {}, accept?: string) =>
  query(
    {
      kind: 'trends',
      from: D(0),
      to: D(3),
      interval: 'day',
      series: [{ event: 'Sign Up', math }],
      breakdown: [{ cohort: [G, B] }, '$browser'],
      ...extra,
    },
    accept,
  );

type Row = { breakdown_kind: string; breakdown_value: unknown; total: number; values: number[] };
const rows = (series: Row[]) =>
  series.map((r) => [r.breakdown_kind, r.breakdown_value, r.total, r.values]);

describe('a cohort combined with a property', () => {
  it('splits trends events by (cohort, property): a user in two cohorts is in both rows', async () => {
    // Sign-ups: alice D0, D2 (Chrome) → (G, Chrome) and (B, Chrome) each; bob D0 (Firefox) →
    // (B, Firefox); carol D1 (Chrome) → (G, Chrome); dave D1 → not set, and (none, Safari);
    // erin D3 (Firefox) → (G, Firefox) and (B, Firefox).
    const res = await trends('total', { breakdown_limit: 4 });
    expect(res.statusCode).toBe(200);
    expect(rows(res.json().series)).toEqual([
      ['value', [G, 'Chrome'], 3, [1, 1, 1, 0]],
      // Tied at 2: the cohort is the same, Chrome before Firefox.
      ['value', [B, 'Chrome'], 2, [1, 0, 1, 0]],
      ['value', [B, 'Firefox'], 2, [1, 0, 0, 1]],
      // Tied at 1: a cohort before none.
      ['value', [G, 'Firefox'], 1, [0, 0, 0, 1]],
      ['other', null, 1, [0, 1, 0, 0]], // (none, Safari)
      ['not_set', null, 1, [0, 1, 0, 0]], // dave's sign-up without a browser
    ]);
  });

  it('merges the rows past the limit into "other": events once per row, users once', async () => {
    // Past the first two: (B, Firefox) bob D0, erin D3; (G, Firefox) erin D3; (none, Safari)
    // dave D1. Erin's sign-up is in two of those rows: two events there, one user.
    const total = await trends('total', { breakdown_limit: 2 });
    expect(rows(total.json().series)).toEqual([
      ['value', [G, 'Chrome'], 3, [1, 1, 1, 0]],
      ['value', [B, 'Chrome'], 2, [1, 0, 1, 0]],
      ['other', null, 4, [1, 1, 0, 2]],
      ['not_set', null, 1, [0, 1, 0, 0]],
    ]);
    const users = await trends('unique_users', { breakdown_limit: 2 });
    expect(rows(users.json().series)).toEqual([
      ['value', [G, 'Chrome'], 2, [1, 1, 1, 0]], // alice, carol
      ['value', [B, 'Chrome'], 1, [1, 0, 1, 0]], // alice
      ['other', null, 3, [1, 1, 0, 1]], // bob, dave, erin
      ['not_set', null, 1, [0, 1, 0, 0]], // dave
    ]);
  });

  it('writes one CSV column per entry, the cohort as its id', async () => {
    const csv = await trends('total', { breakdown_limit: 2 }, 'text/csv');
    expect(csv.statusCode).toBe(200);
    const lines = csv.body.split('\r\n');
    expect(lines[0]).toBe(
      `event,math,property,breakdown_kind,breakdown_value_1,breakdown_value_2,total,${D(0)},${D(1)},${D(2)},${D(3)}`,
    );
    expect(lines[1]).toBe(`Sign Up,total,,value,${G},Chrome,3,1,1,1,0`);
    expect(lines[3]).toBe('Sign Up,total,,other,,,4,1,1,0,2');
  });

  it('splits funnels by the entry property and the user cohorts, each user once in "other"', async () => {
    // Best attempts (Sign Up → Open within 2 days): alice D0 Chrome (converted), bob D0 Firefox
    // (converted), carol D1 Chrome (converted), dave D1 9:00 without a browser (his open is too
    // late: the earliest entry), erin D3 Firefox (not converted).
    const res = await query({
      kind: 'funnel',
      from: D(0),
      to: D(3),
      steps: [{ event: 'Sign Up' }, { event: 'Open' }],
      window_seconds: 2 * 86_400,
      breakdown: ['$browser', { cohort: [G, B] }],
      breakdown_limit: 1,
    });
    expect(res.statusCode).toBe(200);
    const f = res.json();
    expect(f.steps.map((x: { count: number }) => x.count)).toEqual([5, 3]);
    expect(
      f.breakdowns.map(
        (b: { breakdown_kind: string; breakdown_value: unknown; steps: { count: number }[] }) => [
          b.breakdown_kind,
          b.breakdown_value,
          b.steps.map((x) => x.count),
        ],
      ),
    ).toEqual([
      // (Chrome, G) alice, carol; tied with (Firefox, B) bob, erin: Chrome first.
      ['value', ['Chrome', G], [2, 2]],
      // (Chrome, B) alice; (Firefox, B) bob, erin; (Firefox, G) erin: three users, erin once.
      ['other', null, [3, 2]],
      ['not_set', null, [1, 0]],
    ]);
  });

  it('splits retention starts by the start event property and the user cohorts, each start once in "other"', async () => {
    // First sign-up in the range: alice D0 Chrome (opens D1), bob D0 Firefox (opens D2), carol
    // D1 Chrome (opens D2), dave D1 without a browser (opens D3), erin D3 Firefox.
    const body = {
      kind: 'retention',
      from: D(0),
      to: D(3),
      start_event: 'Sign Up',
      return_event: 'Open',
      period: 'day',
      periods: 2,
      breakdown: ['$browser', { cohort: [G, B] }],
    };
    const res = await query(body);
    expect(res.statusCode).toBe(200);
    const r = res.json();
    const table = (cohorts: { start: string; counts: number[] }[]) =>
      Object.fromEntries(cohorts.map((c) => [c.start, c.counts]));
    const none = [0, 0, 0];
    expect(table(r.cohorts)).toEqual({
      [D(0)]: [2, 1, 1],
      [D(1)]: [2, 1, 1],
      [D(2)]: none,
      [D(3)]: [1, 0, 0],
    });
    expect(
      r.breakdowns.map(
        (b: {
          breakdown_kind: string;
          breakdown_value: unknown;
          cohorts: { start: string; counts: number[] }[];
        }) => [b.breakdown_kind, b.breakdown_value, table(b.cohorts)],
      ),
    ).toEqual([
      [
        'value',
        ['Chrome', G],
        { [D(0)]: [1, 1, 0], [D(1)]: [1, 1, 0], [D(2)]: none, [D(3)]: none },
      ],
      [
        'value',
        ['Firefox', B],
        { [D(0)]: [1, 0, 1], [D(1)]: none, [D(2)]: none, [D(3)]: [1, 0, 0] },
      ],
      ['value', ['Chrome', B], { [D(0)]: [1, 1, 0], [D(1)]: none, [D(2)]: none, [D(3)]: none }],
      ['value', ['Firefox', G], { [D(0)]: none, [D(1)]: none, [D(2)]: none, [D(3)]: [1, 0, 0] }],
      ['not_set', null, { [D(0)]: none, [D(1)]: [1, 0, 1], [D(2)]: none, [D(3)]: none }],
    ]);
    // Past the first combination: (Firefox, B) bob D0, erin D3; (Chrome, B) alice D0; (Firefox,
    // G) erin D3 — erin's start once.
    const cut = await query({ ...body, breakdown_limit: 1 });
    const other = cut.json().breakdowns[1];
    expect(other.breakdown_kind).toBe('other');
    expect(table(other.cohorts)).toEqual({
      [D(0)]: [2, 1, 1],
      [D(1)]: none,
      [D(2)]: none,
      [D(3)]: [1, 0, 0],
    });
  });

  it('refuses two cohort entries, an unknown cohort or property with 400 naming the entry', async () => {
    const paths = async (breakdown: unknown) => {
      const res = await trends('total', { breakdown });
      expect(res.statusCode).toBe(400);
      return (res.json().error.details as { path: string }[]).map((d) => d.path);
    };
    expect(await paths([{ cohort: G }, { cohort: B }])).toEqual(['breakdown']);
    expect(await paths(['$browser', { cohort: 'nope' }])).toEqual(['breakdown.1.cohort']);
    expect(await paths([{ cohort: G }, 'never_seen'])).toEqual(['breakdown.1']);
    expect(await paths([{ cohort: G }, '$browser', 'plan', '$os'])).toEqual(['breakdown']);
  });
});
