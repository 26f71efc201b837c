// Weekly and monthly active users broken down (issue 12), hand-counted over HTTP on events sent
// through the real /import path: segments ranked by their events (not by users or user-days),
// days before `from` counted in the first windows, "other" and "not set" rows, a person property
// and a cohort as the breakdown, compare and CSV.
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
  const view = (id: string, k: number, browser: string | null, insert: string, minute = 0) => ({
    event: 'Page View',
    properties: {
      distinct_id: id,
      $user_id: id,
      ...(browser === null ? {} : { $browser: browser }),
      time: at(k, minute),
      $insert_id: insert,
      token: s.project.token,
    },
  });
  await importWithPlans(
    s,
    [
      // Chrome: one user, three events on day -2 (most events, fewest users).
      view('ann', 2, 'Chrome', 'a1'),
      view('ann', 2, 'Chrome', 'a2', 1),
      view('ann', 2, 'Chrome', 'a3', 2),
      // Firefox: two users, one event each.
      view('ben', 2, 'Firefox', 'b1'),
      view('cat', 1, 'Firefox', 'c1'),
      // Safari: one user, only on day -9 — before `from` (day -3), in the first window.
      view('dan', 9, 'Safari', 'd1'),
      // No browser: day 0.
      view('eve', 0, null, 'e1'),
      // Visits: hal on day -9 and day -1, eight days apart.
      { ...view('hal', 9, 'Edge', 'h1'), event: 'Visit' },
      { ...view('hal', 1, 'Edge', 'h2'), event: 'Visit' },
      // In March 2024 (a Thursday, 29 February, and a Friday): see the last test.
      ...[
        ['gus', Date.UTC(2024, 1, 29, 12), 'Opera', 'g1'],
        ['gus', Date.UTC(2024, 1, 29, 13), 'Opera', 'g2'],
        ['fay', Date.UTC(2024, 2, 1, 12), 'Firefox', 'f1'],
      ].map(([id, ms, browser, insert]) => ({
        event: 'Sign Up',
        properties: {
          distinct_id: id,
          $user_id: id,
          $browser: browser,
          time: Number(ms) / 1000,
          $insert_id: insert,
          token: s.project.token,
        },
      })),
    ],
    [
      ['ann', 'pro'],
      ['ben', 'free'],
      ['cat', 'pro'],
    ],
  );
});

afterAll(async () => {
  await s.close();
});

const query = (body: unknown, headers: Record<string, string> = {}) => postQuery(s, body, headers);

const weekly = (extra: Record<string, unknown>) => ({
  kind: 'trends',
  from: day(3),
  to: day(0),
  interval: 'day',
  series: [{ event: 'Page View', math: 'weekly_active' }],
  ...extra,
});

type Row = {
  breakdown_kind: string;
  breakdown_value: unknown;
  values: number[];
  total: number;
  previous_values?: number[];
  previous_total?: number;
};
const rowsOf = (body: { series: Row[] }) =>
  body.series.map((r) => [r.breakdown_kind, r.breakdown_value, r.values, r.total]);

describe('active users broken down', () => {
  it('ranks segments by their events and counts each window, days before the range included', async () => {
    const res = await query(weekly({ breakdown: '$browser', breakdown_limit: 1 }));
    expect(res.statusCode).toBe(200);
    // Windows end on days -3, -2, -1 and 0 (the total's on day 0), each 7 days long.
    expect(rowsOf(res.json())).toEqual([
      // Chrome has the most events (3) though the fewest users: it is the top value.
      ['value', 'Chrome', [0, 1, 1, 1], 1],
      // Firefox and Safari: Safari's one user (day -9) is active in the window ending on day -3
      // only; Firefox's two users from day -2 and day -1 on.
      ['other', null, [1, 1, 2, 2], 2],
      ['not_set', null, [0, 0, 0, 1], 1],
    ]);
  });

  it('breaks down by a person property and by cohorts, and compares with the previous period', async () => {
    const byPlan = await query(weekly({ breakdown: 'person.plan' }));
    expect(byPlan.statusCode).toBe(200);
    expect(rowsOf(byPlan.json())).toEqual([
      // pro: ann (3 events, day -2) and cat (day -1); free: ben (day -2); no plan: dan, eve.
      ['value', 'pro', [0, 1, 2, 2], 2],
      ['value', 'free', [0, 1, 1, 1], 1],
      ['not_set', null, [1, 0, 0, 1], 1],
    ]);
    // A cohort as an owner saves it (the route needs a signed-in person; the service is the same).
    const { id } = await createCohort(
      s.server.runtime.meta,
      s.project.project_id,
      {
        name: 'Pro',
        conditions: [{ kind: 'person_property', property: 'plan', op: 'eq', value: 'pro' }],
      },
      'test',
      Date.now(),
    );
    const byCohort = await query(weekly({ breakdown: { cohort: id }, compare: 'previous_period' }));
    expect(byCohort.statusCode).toBe(200);
    expect(rowsOf(byCohort.json())).toEqual([
      ['value', id, [0, 1, 2, 2], 2],
      ['not_set', null, [1, 1, 1, 2], 2],
    ]);
    // The previous period (days -7 to -4, as many days): only dan (day -9) is active there, in
    // every window (7 days ending on day -4 start on day -10); no one of the cohort is.
    const notSet = (byCohort.json().series as Row[])[1]!;
    expect(notSet.previous_values).toEqual([1, 1, 1, 1]);
    expect(notSet.previous_total).toBe(1);
  });

  it('reads only the days a window covers: a week cut by the range starts its window later', async () => {
    // Weeks from Wednesday 6 March 2024 to Thursday the 7th: one bucket, the week of Monday the
    // 4th, cut to end on the 7th; its 7 days start on 1 March. Opera's two events on 29
    // February are in no window: they neither rank (Firefox, one event, is the top value) nor
    // make a row.
    const res = await query({
      kind: 'trends',
      from: '2024-03-06',
      to: '2024-03-07',
      interval: 'week',
      series: [{ event: 'Sign Up', math: 'weekly_active' }],
      breakdown: '$browser',
      breakdown_limit: 1,
    });
    expect(res.statusCode).toBe(200);
    expect(rowsOf(res.json())).toEqual([['value', 'Firefox', [1], 1]]);
  });

  it('leaves a user out of the windows that fall between their days', async () => {
    // hal (days -9 and -1) is active in the week ending on day -3, not in the one ending on day
    // -2 (days -8 to -2), then again from day -1.
    const visit = { event: 'Visit', math: 'weekly_active' };
    const plain = await query(weekly({ series: [visit] }));
    expect(rowsOf(plain.json())).toEqual([['none', null, [1, 0, 1, 1], 1]]);
    const byBrowser = await query(weekly({ series: [visit], breakdown: '$browser' }));
    expect(rowsOf(byBrowser.json())).toEqual([['value', 'Edge', [1, 0, 1, 1], 1]]);
    // Any event, read from the per-day table of persons once it is built: dan and hal; ann and
    // ben; ann, ben, cat and hal; ann, ben, cat, eve and hal.
    await embeddedDatabase(s.server.runtime).rollups.ensure(s.project.project_id, 'UTC');
    const any = await query(weekly({ series: [{ math: 'weekly_active' }] }));
    expect(rowsOf(any.json())).toEqual([['none', null, [2, 2, 4, 5], 5]]);
  });

  it('answers monthly active users broken down, and CSV', async () => {
    const res = await query(
      weekly({ series: [{ event: 'Page View', math: 'monthly_active' }], breakdown: ['$browser'] }),
      { accept: 'text/csv' },
    );
    expect(res.statusCode).toBe(200);
    const lines = res.body.trim().split('\r\n');
    expect(lines[0]).toBe(
      `event,math,property,breakdown_kind,breakdown_value_1,total,${day(3)},${day(2)},${day(1)},${day(0)}`,
    );
    expect(lines.slice(1)).toEqual([
      // Ranked by events: Chrome 3, Firefox 2, Safari 1.
      'Page View,monthly_active,,value,Chrome,1,0,1,1,1',
      'Page View,monthly_active,,value,Firefox,2,0,1,2,2',
      'Page View,monthly_active,,value,Safari,1,1,1,1,1',
      'Page View,monthly_active,,not_set,,1,0,0,0,1',
    ]);
  });
});
