// A formula with a breakdown (issue 12), hand-counted over HTTP on events sent through the real
// /import path: the first series ranks the segment values and every other series is split by
// them (its other values in `other`), every series lists the same rows, and the formula is
// answered per segment and over the whole series — from the events, and from the per-day tables
// once they are built; compare and CSV.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedDatabase } from '../src/cli/runtime.js';
import { createCohort } from '../src/projects/cohorts.js';
import {
  daysBeforeYesterday,
  importWithPlans,
  postQuery,
  startInProcess,
  type InProcess,
} from './helpers/inprocess.js';

let s: InProcess;
// Day -k: k days before yesterday (UTC project), noon; yesterday is the range's end.
const { day, at } = daysBeforeYesterday();

beforeAll(async () => {
  s = await startInProcess();
  const event = (name: string, id: string, k: number, browser: string | null, minute = 0) => ({
    event: name,
    properties: {
      distinct_id: id,
      $user_id: id,
      ...(browser === null ? {} : { $browser: browser }),
      time: at(k, minute),
      $insert_id: `${name.replace(' ', '')}-${id}-${k}-${minute}`,
      token: s.project.token,
    },
  });
  await importWithPlans(
    s,
    [
      // Sign ups: Chrome 3 (day -2), Firefox 2 (day -1), Safari, Edge and one without a browser
      // (day 0).
      event('Sign Up', 'a', 2, 'Chrome'),
      event('Sign Up', 'b', 2, 'Chrome'),
      event('Sign Up', 'c', 2, 'Chrome'),
      event('Sign Up', 'd', 1, 'Firefox'),
      event('Sign Up', 'e', 1, 'Firefox'),
      event('Sign Up', 'f', 0, 'Safari'),
      event('Sign Up', 'g', 0, 'Edge'),
      event('Sign Up', 'h', 0, null),
      // Purchases: a twice on Chrome (day -1); on day 0 f on Safari, x on Opera (a browser no
      // one signed up with) and i without a browser. No Firefox purchase.
      event('Purchase', 'a', 1, 'Chrome'),
      event('Purchase', 'a', 1, 'Chrome', 5),
      event('Purchase', 'f', 0, 'Safari'),
      event('Purchase', 'x', 0, 'Opera'),
      event('Purchase', 'i', 0, null),
    ],
    [
      ['a', 'pro'],
      ['b', 'pro'],
      ['f', 'free'],
    ],
  );
});

afterAll(async () => {
  await s.close();
});

const conversion = (extra: Record<string, unknown>) => ({
  kind: 'trends',
  from: day(2),
  to: day(0),
  interval: 'day',
  series: [
    { event: 'Sign Up', math: 'unique_users' },
    { event: 'Purchase', math: 'unique_users' },
  ],
  formula: 'B / A * 100',
  breakdown: '$browser',
  ...extra,
});

type Row = {
  event: string | null;
  breakdown_kind: string;
  breakdown_value: unknown;
  values: (number | null)[];
  total: number | null;
  previous_values?: (number | null)[];
};
type Answer = {
  series: Row[];
  formula: {
    values: (number | null)[];
    total: number | null;
    breakdowns: Omit<Row, 'event'>[];
  };
};
const rowsOf = (rows: readonly Omit<Row, 'event'>[]) =>
  rows.map((r) => [r.breakdown_kind, r.breakdown_value, r.values, r.total]);
const ofEvent = (body: Answer, event: string) => body.series.filter((r) => r.event === event);

describe('a formula with a breakdown', () => {
  it('splits every series by the first one’s values and combines the rows of each segment', async () => {
    const res = await postQuery(s, conversion({ breakdown_limit: 2 }));
    expect(res.statusCode).toBe(200);
    const body = res.json<Answer>();
    // Sign ups rank the values by their events: Chrome (3), Firefox (2); Safari and Edge are
    // other.
    expect(rowsOf(ofEvent(body, 'Sign Up'))).toEqual([
      ['value', 'Chrome', [3, 0, 0], 3],
      ['value', 'Firefox', [0, 2, 0], 2],
      ['other', null, [0, 0, 2], 2],
      ['not_set', null, [0, 0, 1], 1],
    ]);
    // Purchases are split by those values — not by their own top two (Chrome, then Opera): no
    // Firefox purchase (a row of zeros), and Opera with Safari in other.
    expect(rowsOf(ofEvent(body, 'Purchase'))).toEqual([
      ['value', 'Chrome', [0, 1, 0], 1],
      ['value', 'Firefox', [0, 0, 0], 0],
      ['other', null, [0, 0, 2], 2],
      ['not_set', null, [0, 0, 1], 1],
    ]);
    // Per segment, bucket by bucket (dividing by zero is null), and on the totals.
    expect(rowsOf(body.formula.breakdowns)).toEqual([
      ['value', 'Chrome', [0, null, null], (1 / 3) * 100],
      ['value', 'Firefox', [null, 0, null], 0],
      ['other', null, [null, null, 100], 100],
      ['not_set', null, [null, null, 100], 100],
    ]);
    // Over the whole series: 8 users signed up (3, 2, 3 a day), 4 bought (0, 1, 3).
    expect(body.formula.values).toEqual([0, 50, 100]);
    expect(body.formula.total).toBe(50);
  });

  it('gives every series the rows any of them has, and compares each with the previous period', async () => {
    // Five values: every sign-up browser is a value, so the sign ups have no other of their
    // own; the purchases' Opera is, and the sign ups get an empty row for it.
    const res = await postQuery(
      s,
      conversion({
        breakdown_limit: 5,
        series: [
          { event: 'Sign Up', math: 'total' },
          { event: 'Purchase', math: 'total' },
        ],
        compare: 'previous_period',
      }),
    );
    expect(res.statusCode).toBe(200);
    const body = res.json<Answer>();
    // Ties (Edge and Safari, one event each) by value.
    expect(rowsOf(ofEvent(body, 'Sign Up'))).toEqual([
      ['value', 'Chrome', [3, 0, 0], 3],
      ['value', 'Firefox', [0, 2, 0], 2],
      ['value', 'Edge', [0, 0, 1], 1],
      ['value', 'Safari', [0, 0, 1], 1],
      ['other', null, [0, 0, 0], 0],
      ['not_set', null, [0, 0, 1], 1],
    ]);
    expect(rowsOf(ofEvent(body, 'Purchase'))).toEqual([
      ['value', 'Chrome', [0, 2, 0], 2],
      ['value', 'Firefox', [0, 0, 0], 0],
      ['value', 'Edge', [0, 0, 0], 0],
      ['value', 'Safari', [0, 0, 1], 1],
      ['other', null, [0, 0, 1], 1],
      ['not_set', null, [0, 0, 1], 1],
    ]);
    expect(rowsOf(body.formula.breakdowns)).toEqual([
      ['value', 'Chrome', [0, null, null], (2 / 3) * 100],
      ['value', 'Firefox', [null, 0, null], 0],
      ['value', 'Edge', [null, null, 0], 0],
      ['value', 'Safari', [null, null, 100], 100],
      ['other', null, [null, null, null], null],
      ['not_set', null, [null, null, 100], 100],
    ]);
    // Nothing happened in the three days before: every row, those added empty included, has
    // its previous period.
    for (const row of body.series) expect(row.previous_values).toEqual([0, 0, 0]);
  });

  it('counts the whole series once when a cohort of the breakdown repeats a user’s events', async () => {
    // Saved as an owner saves them (the route needs a signed-in person; the service is the same).
    const cohort = (name: string, op: string, value?: string) =>
      createCohort(
        s.server.runtime.meta,
        s.project.project_id,
        {
          name,
          conditions: [
            { kind: 'person_property', property: 'plan', op, ...(value ? { value } : {}) },
          ],
        },
        'test',
        Date.now(),
      );
    const pro = (await cohort('Pro', 'eq', 'pro')).id;
    const planned = (await cohort('Any plan', 'is_set')).id;
    // a and b (pro) are in both cohorts: their sign-ups are in two rows each.
    const res = await postQuery(
      s,
      conversion({
        series: [{ event: 'Sign Up', math: 'total' }],
        formula: 'A',
        breakdown: [{ cohort: [pro, planned] }, '$browser'],
      }),
    );
    expect(res.statusCode).toBe(200);
    const body = res.json<Answer>();
    // Per (cohort, browser): c, d, e and g are in neither cohort (null); h has neither a
    // cohort nor a browser (not set).
    const sorted = (rows: unknown[][]) => rows.map((r) => JSON.stringify(r)).sort();
    expect(sorted(rowsOf(body.formula.breakdowns))).toEqual(
      sorted([
        ['value', [pro, 'Chrome'], [2, 0, 0], 2],
        ['value', [planned, 'Chrome'], [2, 0, 0], 2],
        ['value', [null, 'Chrome'], [1, 0, 0], 1],
        ['value', [null, 'Firefox'], [0, 2, 0], 2],
        ['value', [null, 'Edge'], [0, 0, 1], 1],
        ['value', [planned, 'Safari'], [0, 0, 1], 1],
        ['not_set', null, [0, 0, 1], 1],
      ]),
    );
    // Over the whole series: the 8 sign-ups, each once.
    expect(body.formula.values).toEqual([3, 2, 3]);
    expect(body.formula.total).toBe(8);
  });

  it('splits a series read from the per-day tables the same way, and answers CSV', async () => {
    await embeddedDatabase(s.server.runtime).rollups.ensure(s.project.project_id, 'UTC');
    // Buyers per active user by browser. The purchases rank the values: Chrome (2 events), then
    // Opera before Safari (one each, by value). Any event's users, read from the per-day values
    // once built, would rank Chrome (5), then Firefox; they are split by Chrome and Opera.
    const res = await postQuery(
      s,
      conversion({
        breakdown_limit: 2,
        series: [{ event: 'Purchase', math: 'unique_users' }, { math: 'unique_users' }],
        formula: 'A / B * 100',
      }),
      { accept: 'text/csv' },
    );
    expect(res.statusCode).toBe(200);
    const lines = res.body.trim().split('\r\n');
    expect(lines[0]).toBe(
      `event,math,property,breakdown_kind,breakdown_value,total,${day(2)},${day(1)},${day(0)}`,
    );
    expect(lines.slice(1)).toEqual([
      'Purchase,unique_users,,value,Chrome,1,0,1,0',
      'Purchase,unique_users,,value,Opera,1,0,0,1',
      'Purchase,unique_users,,other,,1,0,0,1',
      'Purchase,unique_users,,not_set,,1,0,0,1',
      // Chrome: a, b, c on day -2, a on day -1. Other: d and e on day -1, f and g on day 0.
      ',unique_users,,value,Chrome,3,3,1,0',
      ',unique_users,,value,Opera,1,0,0,1',
      ',unique_users,,other,,4,0,2,2',
      ',unique_users,,not_set,,2,0,0,2',
      // The whole series: 4 buyers (0, 1 and 3 a day) of 10 users (3, 3 and 5).
      `A / B * 100,formula,,none,,40,0,${(1 / 3) * 100},${(3 / 5) * 100}`,
      `A / B * 100,formula,,value,Chrome,${(1 / 3) * 100},0,100,`,
      'A / B * 100,formula,,value,Opera,100,,,100',
      'A / B * 100,formula,,other,,25,,0,50',
      'A / B * 100,formula,,not_set,,50,,,50',
    ]);
  });
});
