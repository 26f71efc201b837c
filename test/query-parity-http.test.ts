// Query parity over HTTP (issue 12): OR groups, relative days, "any event" without SDK
// bookkeeping, and CSV answers (RFC 4180, inert against spreadsheet formulas), on events sent
// through the real /import path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postQuery, startInProcess, type InProcess } from './helpers/inprocess.js';

let s: InProcess;
// Events one minute ago: "today" and "-1d" cover them whatever the hour (UTC project).
const nowS = Math.floor(Date.now() / 1000) - 60;

beforeAll(async () => {
  s = await startInProcess();
  const device = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
  const events = [
    {
      event: 'Page View',
      properties: {
        distinct_id: `$device:${device}`,
        $device_id: device,
        plan: '=HYPERLINK("x")',
        $insert_id: 'p1',
      },
    },
    {
      event: '$identify',
      properties: {
        distinct_id: 'bob',
        $device_id: device,
        $user_id: 'bob',
        $anon_distinct_id: `$device:${device}`,
        $insert_id: 'p2',
      },
    },
    {
      event: 'Purchase',
      properties: {
        distinct_id: 'bob',
        $user_id: 'bob',
        plan: 'pro, "yearly"',
        amount: -5,
        $insert_id: 'p3',
      },
    },
    {
      event: 'Purchase',
      properties: {
        distinct_id: 'carol',
        $user_id: 'carol',
        plan: 'free',
        amount: 7,
        $insert_id: 'p4',
      },
    },
  ].map((e) => ({ ...e, properties: { ...e.properties, time: nowS, token: s.project.token } }));
  const res = await s.server.app.inject({
    method: 'POST',
    url: '/import',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`${s.project.secret}:`).toString('base64')}`,
    },
    payload: JSON.stringify(events),
  });
  expect(res.statusCode).toBe(200);
  await s.server.runtime.events.flush();
});

afterAll(async () => {
  await s.close();
});

const query = (body: unknown, headers: Record<string, string> = {}) => postQuery(s, body, headers);

const trends = (extra: Record<string, unknown> = {}) => ({
  kind: 'trends',
  from: '-1d',
  to: 'today',
  interval: 'day',
  series: [{}],
  ...extra,
});

describe('query parity over HTTP', () => {
  it('reads relative days, and counts "any event" without SDK bookkeeping unless asked', async () => {
    const res = await query(
      trends({ series: [{}, { include_sdk_events: true }, { event: '$identify' }] }),
    );
    expect(res.statusCode).toBe(200);
    const today = new Date().toISOString().slice(0, 10);
    const [any, all, identify] = res.json().series;
    expect(any.labels).toHaveLength(2);
    expect(any.labels.at(-1) <= today).toBe(true);
    expect([any.total, all.total, identify.total]).toEqual([3, 4, 1]);
  });

  it('ORs the entries of an any group, nested in an all group', async () => {
    const res = await query(
      trends({
        filters: [
          {
            any: [
              { property: 'plan', op: 'eq', value: 'free' },
              {
                all: [
                  { property: 'amount', op: 'lt', value: 0 },
                  { property: 'plan', op: 'is_set' },
                ],
              },
            ],
          },
        ],
      }),
    );
    expect(res.statusCode).toBe(200);
    expect(res.json().series[0].total).toBe(2);
    const bad = await query(trends({ filters: [{ any: [{ property: 'amount', op: 'lt' }] }] }));
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details).toEqual([
      { path: 'filters.0.any.0.value', message: 'lt needs a finite number value' },
    ]);
    const day = await query(trends({ from: 'last week' }));
    expect(day.statusCode).toBe(400);
    expect(day.json().error.details[0].path).toBe('from');
  });

  it('answers CSV when asked, quoting per RFC 4180 and defusing formulas', async () => {
    const res = await query(trends({ breakdown: 'plan' }), { accept: 'text/csv' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe('attachment; filename="trends.csv"');
    const lines = res.body.split('\r\n');
    expect(lines.at(-1)).toBe('');
    expect(lines[0]).toMatch(
      /^event,math,property,breakdown_kind,breakdown_value,total,\d{4}-\d{2}-\d{2},\d{4}-\d{2}-\d{2}$/,
    );
    const body = lines.slice(1, -1);
    expect(body).toHaveLength(3);
    const injected = body.find((l) => l.includes('HYPERLINK'));
    expect(injected).toMatch(/^,total,,value,"'=HYPERLINK\(""x""\)",1,(0,1|1,0)$/);
    expect(body.some((l) => l.includes(`"pro, ""yearly"""`))).toBe(true);
    expect(res.body).not.toMatch(/(^|,)=/m);
    // JSON stays the default, and when JSON ranks higher.
    const json = await query(trends(), { accept: 'application/json, text/csv;q=0.5' });
    expect(json.headers['content-type']).toMatch(/^application\/json/);
  });

  it('answers CSV for funnels, retention and discovery, and keeps errors JSON', async () => {
    const funnel = await query(
      {
        kind: 'funnel',
        from: '-1d',
        to: 'today',
        steps: [{ event: 'Page View' }, { event: 'Purchase' }],
        window_seconds: 3600,
      },
      { accept: 'text/csv' },
    );
    expect(funnel.body).toBe(
      'breakdown_kind,breakdown_value,step,event,count,median_seconds_to_convert,time_to_convert_p25,time_to_convert_p50,time_to_convert_p75,time_to_convert_p90,time_from_start_p25,time_from_start_p50,time_from_start_p75,time_from_start_p90\r\nnone,,1,Page View,1,,,,,,,,,\r\nnone,,2,Purchase,0,,,,,,,,,\r\n',
    );
    const retention = await query(
      {
        kind: 'retention',
        from: 'today',
        to: 'today',
        start_event: 'Purchase',
        return_event: 'Purchase',
        periods: 1,
      },
      { accept: 'text/csv' },
    );
    expect(retention.body).toMatch(/^start,size,period_0,period_1\r\n\d{4}-\d{2}-\d{2},2,2,0\r\n$/);
    const values = await s.server.app.inject({
      method: 'GET',
      url: `/api/v1/projects/${s.project.project_id}/properties/values?property=plan`,
      headers: { authorization: `Bearer ${s.project.secret}`, accept: 'text/csv' },
    });
    expect(values.statusCode).toBe(200);
    expect(values.body.split('\r\n')[0]).toBe('value,count');
    expect(values.body).toContain(`"'=HYPERLINK(""x"")",1`);
    const error = await query({ kind: 'trends' }, { accept: 'text/csv' });
    expect(error.statusCode).toBe(400);
    expect(error.json().error.code).toBe('QUERY_INVALID');
  });

  it('combines series with a formula and compares with the previous period', async () => {
    const res = await query(
      trends({
        series: [
          { event: 'Purchase' },
          { event: 'Page View' },
          { math: 'unique_groups', group_key: 'plan' },
        ],
        formula: 'A / B * 100',
        compare: 'previous_period',
      }),
    );
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.formula.total).toBe(200);
    expect(body.series[2].total).toBe(3);
    expect(body.series[0].previous_total).toBe(0);
    expect(body.series[0].previous_values).toEqual([0, 0]);
    const csv = await query(trends({ series: [{}, {}], formula: 'A / (B - B)' }), {
      accept: 'text/csv',
    });
    expect(csv.body.split('\r\n')[3]).toMatch(/^A \/ \(B - B\),formula,,none,,,,$/);
    const bad = await query(trends({ formula: 'A * eval(1)' }));
    expect(bad.json().error.details).toEqual([
      { path: 'formula', message: 'only single series letters (A, B, …) at position 5' },
    ]);
  });
});
