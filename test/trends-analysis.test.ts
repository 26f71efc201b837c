// Cumulative and rolling trends (issue 12), hand-counted over HTTP on events sent through the
// real /import path: running totals that count a user once, rolling means that read the days
// before `from` and rank breakdown values over the days shown, compare, a formula, the per-day
// tables, CSV, relative dates and a saved view.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedDatabase } from '../src/cli/runtime.js';
import { newId } from '../src/auth/index.js';
import {
  daysBeforeYesterday,
  importEvent,
  importWithPlans,
  postQuery,
  startInProcess,
  type InProcess,
} from './helpers/inprocess.js';

let s: InProcess;
// Day -k: k days before yesterday (UTC project), noon. The range shown is day -3 to day 0.
const { day, at } = daysBeforeYesterday();

beforeAll(async () => {
  s = await startInProcess();
  let n = 0;
  const view = (id: string, k: number, browser: string) =>
    importEvent(s, 'View', id, at(k, n), `view-${id}-${k}-${n++}`, { $browser: browser });
  // Per day (-6 … 0): events 1, 1, 1, 2, 2, 1, 2; users 1, 1, 1, 2, 1, 1, 2.
  await importWithPlans(
    s,
    [
      view('u4', 6, 'Opera'), // a value seen only before the range
      view('u1', 5, 'Chrome'),
      view('u2', 4, 'Firefox'),
      view('u1', 3, 'Chrome'),
      view('u2', 3, 'Firefox'),
      view('u3', 2, 'Safari'),
      view('u3', 2, 'Safari'),
      view('u1', 1, 'Chrome'),
      view('u2', 0, 'Firefox'),
      view('u3', 0, 'Safari'),
    ],
    [],
  );
});

afterAll(async () => {
  await s.close();
});

const trend = (extra: Record<string, unknown>) => ({
  kind: 'trends',
  from: day(3),
  to: day(0),
  interval: 'day',
  series: [{ event: 'View', math: 'total' }],
  ...extra,
});

type Row = {
  math: string;
  breakdown_kind: string;
  breakdown_value: unknown;
  labels: string[];
  values: (number | null)[];
  total: number | null;
  previous_values?: (number | null)[];
  previous_total?: number | null;
};
type Answer = { series: Row[]; formula?: { values: (number | null)[]; total: number | null } };

async function ask(extra: Record<string, unknown>): Promise<Answer> {
  const res = await postQuery(s, trend(extra));
  expect(res.statusCode, res.body).toBe(200);
  return res.json<Answer>();
}

describe('cumulative trends', () => {
  it('adds events up, and counts each user once from their first event in the range', async () => {
    const body = await ask({
      analysis: 'cumulative',
      series: [
        { event: 'View', math: 'total' },
        { event: 'View', math: 'unique_users' },
      ],
      compare: 'previous_period',
    });
    const [events, users] = body.series;
    expect(events!.labels).toEqual([day(3), day(2), day(1), day(0)]);
    // Events 2, 2, 1, 2 a day.
    expect(events!.values).toEqual([2, 4, 5, 7]);
    expect(events!.total).toBe(7);
    // Days -7 … -4: 0, 1 (u4), 1 (u1), 1 (u2).
    expect(events!.previous_values).toEqual([0, 1, 2, 3]);
    expect(events!.previous_total).toBe(3);
    // u1 and u2 on day -3, u3 on day -2; later days bring no one new (a running sum of the
    // daily users would say 2, 3, 4, 6).
    expect(users!.values).toEqual([2, 3, 3, 3]);
    expect(users!.total).toBe(3);
    expect(users!.previous_values).toEqual([0, 1, 2, 3]);
  });

  it('answers the same from the per-day tables', async () => {
    await embeddedDatabase(s.server.runtime).rollups.ensure(s.project.project_id, 'UTC');
    const body = await ask({
      analysis: 'cumulative',
      series: [{ math: 'unique_users' }, { math: 'total' }],
    });
    expect(body.series.map((r) => [r.values, r.total])).toEqual([
      [[2, 3, 3, 3], 3],
      [[2, 4, 5, 7], 7],
    ]);
  });

  it('refuses a math without a running total, and a window without rolling', async () => {
    const avg = await postQuery(
      s,
      trend({ analysis: 'cumulative', series: [{ event: 'View', math: 'avg', property: 'x' }] }),
    );
    expect(avg.statusCode).toBe(400);
    expect(avg.body).toContain('series.0.math');
    const window = await postQuery(s, trend({ rolling_window: 3 }));
    expect(window.statusCode).toBe(400);
    expect(window.body).toContain('rolling_window');
  });
});

describe('rolling trends', () => {
  it('averages each day over the window ending there, the days before the range read', async () => {
    const body = await ask({
      analysis: 'rolling',
      rolling_window: 4,
      series: [
        { event: 'View', math: 'total' },
        { event: 'View', math: 'unique_users' },
      ],
      formula: 'A / B',
      compare: 'previous_period',
    });
    const [events, users] = body.series;
    expect(events!.labels).toEqual([day(3), day(2), day(1), day(0)]);
    // Events per day -6 … 0: 1, 1, 1, 2, 2, 1, 2.
    expect(events!.values).toEqual([5 / 4, 6 / 4, 6 / 4, 7 / 4]);
    // The total is the range's, as linear.
    expect(events!.total).toBe(7);
    // Users per day: 1, 1, 1, 2, 1, 1, 2.
    expect(users!.values).toEqual([5 / 4, 5 / 4, 5 / 4, 6 / 4]);
    expect(users!.total).toBe(3);
    // The previous period (days -7 … -4) rolled the same way, from days -10 … -4: 0, 0, 0, 0,
    // 1, 1, 1.
    expect(events!.previous_values).toEqual([0, 1 / 4, 2 / 4, 3 / 4]);
    expect(events!.previous_total).toBe(3);
    // The formula over the rolled values; its total over the totals.
    expect(body.formula!.values).toEqual([1, 1.2, 1.2, 7 / 4 / (6 / 4)]);
    expect(body.formula!.total).toBe(7 / 3);
  });

  it('rolls over 7 days by default', async () => {
    const body = await ask({ analysis: 'rolling' });
    // Days -9 … 0: 0, 0, 0, 1, 1, 1, 2, 2, 1, 2.
    expect(body.series[0]!.values).toEqual([5 / 7, 7 / 7, 8 / 7, 10 / 7]);
  });

  it('ranks the breakdown values over the days shown, those seen only before in other', async () => {
    const body = await ask({
      analysis: 'rolling',
      rolling_window: 4,
      breakdown: '$browser',
      breakdown_limit: 2,
    });
    // Over days -3 … 0: Safari 3, Chrome 2, Firefox 2 (over days -6 … 0 Chrome, Firefox and
    // Safari would tie at 3, Chrome and Firefox first).
    expect(
      body.series.map((r) => [r.breakdown_kind, r.breakdown_value, r.values, r.total]),
    ).toEqual([
      // Safari per day -6 … 0: 0, 0, 0, 0, 2, 0, 1.
      ['value', 'Safari', [0, 0.5, 0.5, 0.75], 3],
      // Chrome: 0, 1, 0, 1, 0, 1, 0.
      ['value', 'Chrome', [0.5, 0.5, 0.5, 0.5], 2],
      // Other: Opera on day -6, Firefox on days -4, -3 and 0.
      ['other', null, [0.75, 0.5, 0.5, 0.5], 2],
    ]);
  });

  it('answers the same from the per-day tables, in CSV, and from relative dates', async () => {
    await embeddedDatabase(s.server.runtime).rollups.ensure(s.project.project_id, 'UTC');
    const res = await postQuery(
      s,
      trend({
        from: 'yesterday-3d',
        to: 'yesterday',
        analysis: 'rolling',
        rolling_window: 2,
        series: [{ math: 'unique_users' }],
      }),
      { accept: 'text/csv' },
    );
    expect(res.statusCode).toBe(200);
    const lines = res.body.trim().split('\r\n');
    expect(lines[0]).toBe(
      `event,math,property,breakdown_kind,breakdown_value,total,${day(3)},${day(2)},${day(1)},${day(0)}`,
    );
    // Users per day -4 … 0: 1, 2, 1, 1, 2.
    expect(lines.slice(1)).toEqual([',unique_users,,none,,3,1.5,1.5,1,1.5']);
  });

  it('keeps the analysis in a saved view', async () => {
    const id = newId('view');
    await s.server.runtime.auth.store.createView({
      id,
      projectId: s.project.project_id,
      name: 'rolling',
      query: trend({ analysis: 'rolling', rolling_window: 4 }),
      createdBy: 'test',
      createdAtMs: Date.now(),
    });
    const res = await s.server.app.inject({
      method: 'POST',
      url: `/api/v1/projects/${s.project.project_id}/views/${id}/run`,
      headers: { authorization: `Bearer ${s.project.secret}` },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<Answer>().series[0]!.values).toEqual([5 / 4, 6 / 4, 6 / 4, 7 / 4]);
  });
});
