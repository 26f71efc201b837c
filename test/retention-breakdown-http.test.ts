// Retention types and breakdowns over HTTP (issue 12): first_in_range, first_time and recurring
// retention; breakdowns by an event property, by several properties (event and person), and by
// a saved cohort, in retention, trends and funnels; their CSV; the 400s naming the field. Events
// go through the real /import path (pseudonymised ids; a device merged into its user after it
// signed up), profiles through /engage; every expected number is counted by hand below.
import { compileErrors, validate } from '@readme/openapi-parser';
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
const device = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c';
let nextId = 0;

beforeAll(async () => {
  s = await startInProcess();
  world = await buildWorld(s);
  const e = (event: string, who: string, time: number, browser?: string) => ({
    event,
    properties: {
      distinct_id: who,
      ...(who.startsWith('$device:') ? { $device_id: device } : { $user_id: who }),
      ...(browser ? { $browser: browser } : {}),
      time,
      $insert_id: `r${nextId++}`,
      token: s.project.token,
    },
  });
  const anon = `$device:${device}`;
  const events = [
    // alice: signed up once before the range (not first-time in it), again on D0; opens on D1.
    e('Sign Up', 'alice', at(-2, 12), 'Chrome'),
    e('Sign Up', 'alice', at(0, 12), 'Chrome'),
    e('Open', 'alice', at(1, 12)),
    // bob: signs up on a device on D0, identifies on D1 and opens; signs up again on D2 (Safari),
    // opens on D3 (3 periods after D0: beyond `periods`).
    e('Sign Up', anon, at(0, 10), 'Firefox'),
    {
      event: '$identify',
      properties: {
        distinct_id: 'bob',
        $user_id: 'bob',
        $device_id: device,
        $anon_distinct_id: anon,
        time: at(1, 9),
        $insert_id: 'rid',
        token: s.project.token,
      },
    },
    e('Open', 'bob', at(1, 10)),
    e('Sign Up', 'bob', at(2, 10), 'Safari'),
    e('Open', 'bob', at(3, 10)),
    // carol: signs up on D1, opens on D2 and signs up again that day.
    e('Sign Up', 'carol', at(1, 8), 'Chrome'),
    e('Open', 'carol', at(2, 8)),
    e('Sign Up', 'carol', at(2, 9), 'Chrome'),
  ];
  await importWithPlans(s, events, [
    ['alice', 'gold'],
    ['carol', 'gold'],
    ['bob', 'free'],
  ]);
});

afterAll(async () => {
  await s.close();
});

const api = (method: 'GET' | 'POST', path: string, body?: unknown, accept?: string) =>
  s.server.app.inject({
    method,
    url: `/api/v1/projects/${s.project.project_id}${path}`,
    headers: {
      authorization: `Bearer ${s.project.secret}`,
      'content-type': 'application/json',
      ...(accept ? { accept } : {}),
    },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });

const retention = (extra: Record<string, unknown>, accept?: string) =>
  api(
    'POST',
    '/query',
    {
      kind: 'retention',
      from: D(0),
      to: D(3),
      start_event: 'Sign Up',
      return_event: 'Open',
      period: 'day',
      periods: 2,
      ...extra,
    },
    accept,
  );

const table = (cohorts: { start: string; counts: number[] }[]) =>
  Object.fromEntries(cohorts.map((c) => [c.start, c.counts]));

const EMPTY = [0, 0, 0];

describe('retention types', () => {
  it('first_in_range (the default): each user once, from their first start event in the range', async () => {
    const res = await retention({});
    expect(res.statusCode).toBe(200);
    expect(table(res.json().cohorts)).toEqual({
      [D(0)]: [2, 2, 0], // alice, bob (his device's sign-up, merged); both open on D1
      [D(1)]: [1, 1, 0], // carol
      [D(2)]: EMPTY,
      [D(3)]: EMPTY,
    });
    expect((await retention({ retention_type: 'first_in_range' })).json()).toEqual(res.json());
  });

  it('first_time: only users whose first start event ever is in the range', async () => {
    const res = await retention({ retention_type: 'first_time' });
    expect(res.statusCode).toBe(200);
    // alice signed up two days before the range: left out.
    expect(table(res.json().cohorts)).toEqual({
      [D(0)]: [1, 1, 0],
      [D(1)]: [1, 1, 0],
      [D(2)]: EMPTY,
      [D(3)]: EMPTY,
    });
  });

  it('recurring: every period with a start event starts a cohort', async () => {
    const res = await retention({ retention_type: 'recurring' });
    expect(res.statusCode).toBe(200);
    expect(table(res.json().cohorts)).toEqual({
      [D(0)]: [2, 2, 0], // alice, bob
      [D(1)]: [1, 1, 0], // carol
      [D(2)]: [2, 1, 0], // bob (opens on D3), carol (her D2 open is the same period)
      [D(3)]: EMPTY,
    });
  });
});

describe('breakdowns', () => {
  it('splits retention cohorts by the start event property', async () => {
    const res = await retention({ breakdown: '$browser' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(table(body.cohorts)[D(0)]).toEqual([2, 2, 0]);
    expect(
      body.breakdowns.map((b: { breakdown_value: unknown; breakdown_kind: string }) => [
        b.breakdown_kind,
        b.breakdown_value,
      ]),
    ).toEqual([
      ['value', 'Chrome'],
      ['value', 'Firefox'],
    ]);
    expect(table(body.breakdowns[0].cohorts)).toEqual({
      [D(0)]: [1, 1, 0],
      [D(1)]: [1, 1, 0],
      [D(2)]: EMPTY,
      [D(3)]: EMPTY,
    });
    expect(table(body.breakdowns[1].cohorts)[D(0)]).toEqual([1, 1, 0]);
  });

  it('splits recurring retention by an event and a person property, with "other" past the limit, and as CSV', async () => {
    const extra = {
      retention_type: 'recurring',
      breakdown: ['$browser', 'person.plan'],
      breakdown_limit: 2,
    };
    const res = await retention(extra);
    expect(res.statusCode).toBe(200);
    const rows = res
      .json()
      .breakdowns.map(
        (b: {
          breakdown_kind: string;
          breakdown_value: unknown;
          cohorts: { start: string; counts: number[] }[];
        }) => [b.breakdown_kind, b.breakdown_value, table(b.cohorts)],
      );
    expect(rows).toEqual([
      // alice D0, carol D1 and D2: three cohort starts.
      [
        'value',
        ['Chrome', 'gold'],
        { [D(0)]: [1, 1, 0], [D(1)]: [1, 1, 0], [D(2)]: [1, 0, 0], [D(3)]: EMPTY },
      ],
      // Tied at one start each: Firefox before Safari; Safari goes to "other".
      [
        'value',
        ['Firefox', 'free'],
        { [D(0)]: [1, 1, 0], [D(1)]: EMPTY, [D(2)]: EMPTY, [D(3)]: EMPTY },
      ],
      ['other', null, { [D(0)]: EMPTY, [D(1)]: EMPTY, [D(2)]: [1, 1, 0], [D(3)]: EMPTY }],
    ]);
    const csv = await retention(extra, 'text/csv');
    expect(csv.statusCode).toBe(200);
    const lines = csv.body.split('\r\n');
    expect(lines[0]).toBe(
      'breakdown_kind,breakdown_value_1,breakdown_value_2,start,size,period_0,period_1,period_2',
    );
    expect(lines).toContain(`none,,,${D(2)},2,2,1,0`);
    expect(lines).toContain(`value,Chrome,gold,${D(2)},1,1,0,0`);
    expect(lines).toContain(`other,,,${D(2)},1,1,1,0`);
  });

  it('breaks trends down by up to three properties, lists in JSON and one column each in CSV', async () => {
    const body = {
      kind: 'trends',
      from: D(0),
      to: D(3),
      interval: 'day',
      series: [{ event: 'Sign Up' }],
      breakdown: ['$browser', 'person.plan'],
    };
    const res = await api('POST', '/query', body);
    expect(res.statusCode).toBe(200);
    expect(
      res
        .json()
        .series.map((r: { breakdown_value: unknown; total: number; values: number[] }) => [
          r.breakdown_value,
          r.total,
          r.values,
        ]),
    ).toEqual([
      [['Chrome', 'gold'], 3, [1, 1, 1, 0]],
      [['Firefox', 'free'], 1, [1, 0, 0, 0]],
      [['Safari', 'free'], 1, [0, 0, 1, 0]],
    ]);
    const csv = await api('POST', '/query', body, 'text/csv');
    const lines = csv.body.split('\r\n');
    expect(lines[0]).toBe(
      `event,math,property,breakdown_kind,breakdown_value_1,breakdown_value_2,total,${D(0)},${D(1)},${D(2)},${D(3)}`,
    );
    expect(lines[1]).toBe('Sign Up,total,,value,Chrome,gold,3,1,1,1,0');
    // The single-property form keeps its string values.
    const single = await api('POST', '/query', { ...body, breakdown: 'person.plan' });
    expect(
      single.json().series.map((r: { breakdown_value: unknown }) => r.breakdown_value),
    ).toEqual(['gold', 'free']);
  });

  it('breaks retention, trends and funnels down by a saved cohort', async () => {
    // Cohorts are saved by people (an analyst), then used by the query key.
    const analyst = {
      kind: 'session' as const,
      session: await mintSession(s.server.runtime.auth, world.usersX.analyst, FRESH_PASSKEY),
    };
    const created = await call(s, analyst, 'POST', `/api/v1/projects/${world.projectA}/cohorts`, {
      body: {
        name: 'Gold',
        conditions: [{ kind: 'person_property', property: 'plan', op: 'eq', value: 'gold' }],
      },
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().id as string;
    const segments = (rows: { breakdown_kind: string; breakdown_value: unknown }[]) =>
      rows.map((b) => [b.breakdown_kind, b.breakdown_value]);

    const r = (await retention({ breakdown: { cohort: id } })).json();
    expect(segments(r.breakdowns)).toEqual([
      ['value', id],
      ['not_set', null],
    ]);
    expect(table(r.breakdowns[0].cohorts)).toMatchObject({ [D(0)]: [1, 1, 0], [D(1)]: [1, 1, 0] });
    expect(table(r.breakdowns[1].cohorts)).toMatchObject({ [D(0)]: [1, 1, 0], [D(1)]: EMPTY });

    const t = await api('POST', '/query', {
      kind: 'trends',
      from: D(0),
      to: D(3),
      series: [{ event: 'Sign Up', math: 'unique_users' }],
      breakdown: { cohort: [id] },
    });
    expect(t.statusCode).toBe(200);
    expect(
      t
        .json()
        .series.map((x: { breakdown_value: unknown; total: number }) => [
          x.breakdown_value,
          x.total,
        ]),
    ).toEqual([
      [id, 2],
      [null, 1],
    ]);

    const f = await api('POST', '/query', {
      kind: 'funnel',
      from: D(0),
      to: D(3),
      steps: [{ event: 'Sign Up' }, { event: 'Open' }],
      window_seconds: 2 * 86_400,
      breakdown: { cohort: id },
    });
    expect(f.statusCode).toBe(200);
    const funnel = f.json();
    expect(funnel.steps.map((x: { count: number }) => x.count)).toEqual([3, 3]);
    expect(
      funnel.breakdowns.map((b: { breakdown_value: unknown; steps: { count: number }[] }) => [
        b.breakdown_value,
        b.steps.map((x) => x.count),
      ]),
    ).toEqual([
      [id, [2, 2]],
      [null, [1, 1]],
    ]);
  });

  it('refuses wrong breakdowns and retention types with 400 naming the field', async () => {
    const paths = async (extra: Record<string, unknown>) => {
      const res = await retention(extra);
      expect(res.statusCode).toBe(400);
      return (res.json().error.details as { path: string }[]).map((d) => d.path);
    };
    expect(await paths({ retention_type: 'first' })).toEqual(['retention_type']);
    expect(await paths({ breakdown: ['$browser', 'a', 'b', 'c'] })).toEqual(['breakdown']);
    expect(await paths({ breakdown: ['$browser', '$browser'] })).toEqual(['breakdown']);
    expect(await paths({ breakdown: 'cohort' })).toEqual(['breakdown']);
    expect(await paths({ breakdown: { cohort: 'nope' } })).toEqual(['breakdown.cohort']);
    expect(await paths({ breakdown: { cohort: 'x' }, breakdown_limit: 2 })).toEqual([
      'breakdown_limit',
    ]);
    expect(await paths({ breakdown: ['$browser', 'never_seen'] })).toEqual(['breakdown.1']);
  });

  it('documents retention_type and the breakdown forms in a valid OpenAPI document', async () => {
    const res = await s.server.app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    const doc = res.json();
    const body = doc.paths['/api/v1/projects/{projectId}/query'].post.requestBody;
    const kinds = body.content['application/json'].schema.anyOf as {
      properties: Record<string, { const?: string; enum?: string[]; description?: string }>;
    }[];
    const retention = kinds.find((k) => k.properties.kind?.const === 'retention')!;
    expect(retention.properties.retention_type?.enum).toEqual([
      'first_in_range',
      'first_time',
      'recurring',
    ]);
    expect(retention.properties.retention_type?.description).toContain('first start event ever');
    for (const kind of ['trends', 'funnel', 'retention'])
      expect(
        kinds.find((k) => k.properties.kind?.const === kind)!.properties.breakdown?.description,
      ).toContain('1 to 3 distinct property names');
    const verdict = await validate(structuredClone(doc));
    expect(verdict.valid ? [] : compileErrors(verdict)).toEqual([]);
  });
});
