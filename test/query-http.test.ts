// The query API over HTTP: the project secret is required and scoped to its project; invalid
// queries say which field is wrong and why; limits answer with clear errors; events sent through
// the real ingest path (pseudonymised ids, device merged into user) come back as trends, funnels,
// retention and discovery answers; every query leaves a record without its values.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

let s: InProcess;
let other: { project_id: string; token: string; secret: string };

const DAY = '2025-03-10';
const at = (hhmm: string): number => Date.parse(`${DAY}T${hhmm}:00Z`) / 1000;

beforeAll(async () => {
  s = await startInProcess();
  other = await s.server.runtime.projects.create('Other');
  // A mixpanel-browser journey: anonymous page view on a device, sign-up that identifies the
  // user (linking the device), purchase; plus a second, anonymous-only visitor.
  const device = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
  const events = [
    {
      event: 'Page View',
      properties: {
        time: at('09:00'),
        distinct_id: `$device:${device}`,
        $device_id: device,
        $browser: 'Chrome',
        plan_price: 10,
        $insert_id: 'q1',
      },
    },
    {
      event: 'Sign Up',
      properties: {
        time: at('09:05'),
        distinct_id: 'alice@example.com',
        $device_id: device,
        $user_id: 'alice@example.com',
        $browser: 'Chrome',
        $insert_id: 'q2',
      },
    },
    {
      event: 'Purchase',
      properties: {
        time: at('09:30'),
        distinct_id: 'alice@example.com',
        $device_id: device,
        $user_id: 'alice@example.com',
        $browser: 'Chrome',
        plan_price: 30,
        $insert_id: 'q3',
      },
    },
    {
      event: 'Page View',
      properties: {
        time: at('10:00'),
        distinct_id: '$device:other-visitor',
        $device_id: 'other-visitor',
        $browser: 'Firefox',
        plan_price: 'n/a',
        plan_none: null,
        $insert_id: 'q4',
      },
    },
  ].map((e) => ({ ...e, properties: { ...e.properties, token: s.project.token } }));
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
  // Alice's profile (her user id is the distinct id): a person property for queries.
  const profile = await s.server.app.inject({
    method: 'POST',
    url: '/engage',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload:
      'data=' +
      encodeURIComponent(
        JSON.stringify({
          $token: s.project.token,
          $distinct_id: 'alice@example.com',
          $set: { plan: 'gold' },
        }),
      ),
  });
  expect(profile.body).toBe('1');
  await s.server.runtime.events.flush();
});

afterAll(async () => {
  await s.close();
});

const query = (body: unknown, options: { key?: string; project?: string } = {}) =>
  s.server.app.inject({
    method: 'POST',
    url: `/api/v1/projects/${options.project ?? s.project.project_id}/query`,
    headers: {
      ...(options.key === '' ? {} : { authorization: `Bearer ${options.key ?? s.project.secret}` }),
      'content-type': 'application/json',
    },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });

const trends = (extra: Record<string, unknown> = {}) => ({
  kind: 'trends',
  from: DAY,
  to: DAY,
  interval: 'day',
  series: [{ event: 'Page View' }],
  ...extra,
});

describe('query API: authentication', () => {
  it('requires the project secret', async () => {
    const res = await query(trends(), { key: '' });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('AUTH_REQUIRED');
  });

  it('refuses the public ingest token and unknown keys', async () => {
    for (const key of [s.project.token, 'sil_sk_not-a-real-key']) {
      const res = await query(trends(), { key });
      expect(res.statusCode).toBe(401);
    }
  });

  it("refuses another project's secret", async () => {
    const res = await query(trends(), { key: other.secret });
    // Not "forbidden": another project's existence is not disclosed.
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('PROJECT_NOT_FOUND');
  });
});

describe('query API: validation says which field is wrong and why', () => {
  const invalid = async (body: unknown) => {
    const res = await query(body);
    expect(res.statusCode).toBe(400);
    const error = res.json().error as {
      code: string;
      message: string;
      details?: { path: string; message: string }[];
    };
    expect(error.code).toBe('QUERY_INVALID');
    return error;
  };

  it('names an unknown kind', async () => {
    const error = await invalid({ kind: 'cohorts' });
    expect(error.details).toEqual([{ path: 'kind', message: expect.stringContaining('trends') }]);
  });

  it('names each wrong field with its path', async () => {
    const error = await invalid({
      kind: 'trends',
      from: '2025-02-30',
      to: DAY,
      series: [{ event: 'x', math: 'median' }],
      filters: [{ property: '$browser', op: 'gt', value: 'ten' }],
    });
    const paths = error.details!.map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['from', 'series.0.math', 'filters.0.value']));
    expect(error.message).toContain('series.0.math');
    expect(error.details!.find((d) => d.path === 'from')!.message).toBe('is not a calendar date');
    expect(error.details!.find((d) => d.path === 'filters.0.value')!.message).toContain('number');
  });

  it('explains cross-field rules', async () => {
    const error = await invalid({
      kind: 'trends',
      from: '2025-03-11',
      to: '2025-03-10',
      series: [{ event: 'x', math: 'sum' }],
    });
    expect(error.details).toEqual(
      expect.arrayContaining([
        { path: 'to', message: 'must not be before from' },
        { path: 'series.0.property', message: 'sum needs a property' },
      ]),
    );
  });

  it('refuses unknown fields, identifiers and funnels of one step', async () => {
    expect((await invalid({ ...trends(), colour: 'red' })).details![0]!.message).toContain(
      'colour',
    );
    const byId = await invalid({ ...trends(), breakdown: 'distinct_id' });
    expect(byId.details![0]).toEqual({
      path: 'breakdown',
      message: expect.stringContaining('pseudonyms'),
    });
    const funnel = await invalid({
      kind: 'funnel',
      from: DAY,
      to: DAY,
      steps: [{ event: 'a' }],
      window_seconds: 60,
    });
    expect(funnel.details![0]).toEqual({ path: 'steps', message: 'a funnel needs 2 to 10 steps' });
  });

  it('refuses malformed JSON and non-object bodies', async () => {
    expect((await query('{"kind":')).statusCode).toBe(400);
    expect((await query('[1,2]')).statusCode).toBe(400);
  });

  it('echoes no value in its messages', async () => {
    const secretish = 'alice@example.com-value';
    const error = await invalid({
      ...trends(),
      filters: [{ property: 'x', op: 'gt', value: secretish }],
    });
    expect(JSON.stringify(error)).not.toContain(secretish);
  });
});

describe('query API: guards', () => {
  it('refuses a breakdown above the cardinality limit', async () => {
    const res = await query(trends({ breakdown: '$browser', breakdown_limit: 5000 }));
    expect(res.statusCode).toBe(400);
    expect(res.json().error.details[0]).toEqual({
      path: 'breakdown_limit',
      message: expect.stringContaining('breakdown cardinality limit'),
    });
  });

  it('refuses a result larger than the limit before running it', async () => {
    const res = await query(
      trends({
        from: '2020-01-01',
        to: '2025-12-31',
        interval: 'hour',
        series: Array.from({ length: 5 }, () => ({ event: 'Page View' })),
      }),
    );
    expect(res.statusCode).toBe(422);
    expect(res.json().error.code).toBe('QUERY_TOO_LARGE');
    expect(res.json().error.message).toContain('cells');
  });
});

describe('query API: answers', () => {
  it('counts events and resolved users (the device merges into the user)', async () => {
    const res = await query(
      trends({ series: [{ event: 'Page View' }, { event: null, math: 'unique_users' }] }),
    );
    expect(res.statusCode).toBe(200);
    const [views, users] = res.json().series;
    expect(views).toEqual({
      event: 'Page View',
      math: 'total',
      property: null,
      breakdown_value: null,
      breakdown_kind: 'none',
      labels: [DAY],
      values: [2],
      total: 2,
    });
    // Alice's anonymous page view, her sign-up and purchase are one user; the other visitor two.
    expect(users.values).toEqual([2]);
    expect(users.total).toBe(2);
  });

  it('aggregates numeric properties, ignoring values that are not numbers', async () => {
    const res = await query(
      trends({
        series: [
          { event: null, math: 'sum', property: 'plan_price' },
          { event: null, math: 'avg', property: 'plan_price' },
        ],
      }),
    );
    expect(res.json().series.map((r: { total: number }) => r.total)).toEqual([40, 20]);
  });

  it('breaks down by a standard property, ranked by count', async () => {
    const res = await query(trends({ series: [{ event: null }], breakdown: '$browser' }));
    const rows = res.json().series as { breakdown_value: string; total: number }[];
    expect(rows.map((r) => [r.breakdown_value, r.total])).toEqual([
      ['Chrome', 3],
      ['Firefox', 1],
    ]);
  });

  it('follows a user through a funnel across the identify', async () => {
    const res = await query({
      kind: 'funnel',
      from: DAY,
      to: DAY,
      steps: [{ event: 'Page View' }, { event: 'Sign Up' }, { event: 'Purchase' }],
      window_seconds: 3600,
    });
    expect(res.statusCode).toBe(200);
    const steps = res.json().steps as Record<string, unknown>[];
    expect(steps.map(({ time_to_convert: _, time_from_start: __, ...rest }) => rest)).toEqual([
      { event: 'Page View', count: 2, median_seconds_to_convert: null },
      { event: 'Sign Up', count: 1, median_seconds_to_convert: 300 },
      { event: 'Purchase', count: 1, median_seconds_to_convert: 1500 },
    ]);
    const one = (s: number) => ({ p25: s, p50: s, p75: s, p90: s });
    expect(steps.map((x) => [x.time_to_convert, x.time_from_start])).toEqual([
      [null, null],
      [one(300), one(300)],
      [one(1500), one(1800)],
    ]);
  });

  it('builds retention cohorts', async () => {
    const res = await query({
      kind: 'retention',
      from: DAY,
      to: DAY,
      start_event: 'Page View',
      return_event: 'Purchase',
      period: 'day',
      periods: 2,
    });
    expect(res.json()).toEqual({ cohorts: [{ start: DAY, size: 2, counts: [2, 0, 0] }] });
  });

  it('serves discovery: event names, properties with types, top values', async () => {
    const auth = { authorization: `Bearer ${s.project.secret}` };
    const base = `/api/v1/projects/${s.project.project_id}`;
    const names = await s.server.app.inject({
      method: 'GET',
      url: `${base}/events`,
      headers: auth,
    });
    expect(names.json().events).toEqual([
      { event: 'Page View', count: 2 },
      { event: 'Purchase', count: 1 },
      { event: 'Sign Up', count: 1 },
    ]);
    const props = await s.server.app.inject({
      method: 'GET',
      url: `${base}/properties?event=Page%20View`,
      headers: auth,
    });
    const price = props
      .json()
      .properties.find((p: { property: string }) => p.property === 'plan_price');
    expect(price.types).toEqual(
      expect.arrayContaining([
        { type: 'number', count: 1 },
        { type: 'string', count: 1 },
      ]),
    );
    expect(props.json().properties.map((p: { property: string }) => p.property)).toContain(
      '$browser',
    );
    const values = await s.server.app.inject({
      method: 'GET',
      url: `${base}/properties/values?property=%24browser`,
      headers: auth,
    });
    expect(values.json().values).toEqual([
      { value: 'Chrome', count: 3 },
      { value: 'Firefox', count: 1 },
    ]);
    const bad = await s.server.app.inject({
      method: 'GET',
      url: `${base}/properties/values?limit=lots`,
      headers: auth,
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details.map((d: { path: string }) => d.path)).toEqual(
      expect.arrayContaining(['property', 'limit']),
    );
  });

  it('filters and breaks down by a person property of the resolved user', async () => {
    const res = await query({
      kind: 'trends',
      from: DAY,
      to: DAY,
      interval: 'day',
      series: [{ event: null, math: 'unique_users' }],
      breakdown: 'person.plan',
    });
    expect(res.statusCode).toBe(200);
    // Alice (device merged into her user id) has plan gold; the other visitor has no profile.
    const rows = res
      .json()
      .series.map((r: { breakdown_value: string | null; total: number }) => [
        r.breakdown_value,
        r.total,
      ]);
    expect(rows).toEqual([
      ['gold', 1],
      [null, 1],
    ]);
    const filtered = await query(
      trends({ filters: [{ property: 'person.plan', op: 'eq', value: 'gold' }] }),
    );
    expect(filtered.json().series[0].total).toBe(1);
  });

  it('refuses a property the project has never seen, with close matches (not a silent 0)', async () => {
    const res = await query(
      trends({
        filters: [
          { property: 'plan_prise', op: 'eq', value: 'x' },
          { property: 'user.plan', op: 'eq', value: 'x' },
          { property: 'person.plna', op: 'eq', value: 'x' },
          // Only ever null: never seen, and not suggested for a near name either.
          { property: 'plan_none', op: 'is_set' },
          { property: 'plan_nonee', op: 'is_set' },
        ],
      }),
    );
    expect(res.statusCode).toBe(400);
    const details = res.json().error.details as { path: string; message: string }[];
    expect(details.map((d) => d.path)).toEqual([
      'filters.0.property',
      'filters.1.property',
      'filters.2.property',
      'filters.3.property',
      'filters.4.property',
    ]);
    expect(details[0]!.message).toContain('close matches: "plan_price"');
    expect(details[1]!.message).toContain('unknown property "user.plan"');
    expect(details[2]!.message).toContain('close matches: "person.plan"');
    expect(details[3]!.message).toContain('unknown property "plan_none"');
    expect(details[4]!.message).toContain('unknown property "plan_nonee"');
    expect(details[4]!.message).not.toContain('"plan_none"');
  });

  it('records each query (who, kind, rows) without its values', async () => {
    const marker = 'Marker-Value-7f3a';
    await query(trends({ filters: [{ property: 'plan_price', op: 'eq', value: marker }] }));
    const records = s.logLines
      .filter((l) => JSON.parse(l).msg === 'query')
      .map((l) => JSON.parse(l));
    expect(records.length).toBeGreaterThan(5);
    const last = records.at(-1);
    expect(last).toMatchObject({ kind: 'trends', projectId: s.project.project_id, code: 'ok' });
    expect(last.actor).toMatch(/^key:key_[0-9a-f]{16}$/);
    expect(typeof last.rows).toBe('number');
    expect(records.some((r) => r.code === 'QUERY_INVALID')).toBe(true);
    expect(s.logLines.join('\n')).not.toContain(marker);
    expect(s.logLines.join('\n')).not.toContain(s.project.secret);
    // The audit log has each query too: the filter value only as an HMAC.
    const audited = await s.server.runtime.audit.store.scan({ kinds: ['query'] });
    expect(audited.length).toBe(records.length);
    const lastEntry = audited.at(-1);
    expect(lastEntry?.actor).toBe(last.actor);
    expect(lastEntry?.fields).toContain('plan_price');
    expect(lastEntry?.detail).toContain('hmac:');
    expect(JSON.stringify(audited)).not.toContain(marker);
  });
});
