// Cohorts over HTTP (issue 12): saved per project, validated, read by every member and changed by
// analysts and up, their size, and their use as a filter in trends, funnels and retention on data
// sent through the real ingest path (a device merged into its user mid-stream). Another tenant —
// a person of another organisation, a key of another project — can neither read nor use them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildWorld,
  call,
  FRESH_PASSKEY,
  mintKey,
  mintSession,
  type Caller,
  type World,
} from './helpers/fixtures.js';
import { importWithPlans, startInProcess, type InProcess } from './helpers/inprocess.js';

let s: InProcess;
let world: World;
const DAY_MS = 86_400_000;
const today = new Date().toISOString().slice(0, 10);
const from = new Date(Date.now() - 10 * DAY_MS).toISOString().slice(0, 10);

async function session(userId: string): Promise<Caller> {
  return {
    kind: 'session',
    session: await mintSession(s.server.runtime.auth, userId, FRESH_PASSKEY),
  };
}

beforeAll(async () => {
  s = await startInProcess();
  world = await buildWorld(s);
  const secs = (daysAgo: number) => Math.floor((Date.now() - daysAgo * DAY_MS) / 1000);
  // Alice: anonymous visit on a device, then signs up (device linked), then buys twice.
  // Bob: one purchase, long ago. Carol: never buys. All three visit.
  const events = [
    ['Page View', { distinct_id: '$device:dev-a', $device_id: 'dev-a' }, 3],
    ['Sign Up', { distinct_id: 'alice', $device_id: 'dev-a', $user_id: 'alice' }, 3],
    ['Purchase', { distinct_id: 'alice', $user_id: 'alice' }, 2],
    ['Purchase', { distinct_id: 'alice', $user_id: 'alice' }, 1],
    ['Page View', { distinct_id: 'bob', $user_id: 'bob' }, 2],
    ['Purchase', { distinct_id: 'bob', $user_id: 'bob' }, 40],
    ['Page View', { distinct_id: 'carol', $user_id: 'carol' }, 1],
  ].map(([event, props, daysAgo], i) => ({
    event,
    properties: {
      ...(props as object),
      time: secs(daysAgo as number),
      $insert_id: `c${i}`,
      token: s.project.token,
    },
  }));
  await importWithPlans(s, events, [
    ['alice', 'gold'],
    ['carol', 'gold'],
    ['bob', 'free'],
  ]);
});

afterAll(async () => {
  await s.close();
});

const base = () => `/api/v1/projects/${world.projectA}`;
const buyers = {
  name: 'Recent buyers on gold',
  match: 'all',
  conditions: [
    { kind: 'did_event', event: 'Purchase', count_op: 'gte', count: 1, within_days: 7 },
    { kind: 'person_property', property: 'plan', op: 'eq', value: 'gold' },
  ],
};

describe('cohorts: saved, validated, by role', () => {
  let id = '';

  it('lets an analyst create one, and every member read it', async () => {
    const analyst = await session(world.usersX.analyst);
    const created = await call(s, analyst, 'POST', `${base()}/cohorts`, { body: buyers });
    expect(created.statusCode).toBe(201);
    id = created.json().id;
    expect(created.json()).toMatchObject({ name: buyers.name, match: 'all' });
    const viewer = await session(world.usersX.viewer);
    const list = await call(s, viewer, 'GET', `${base()}/cohorts`);
    expect(list.json().cohorts.map((c: { id: string }) => c.id)).toEqual([id]);
    expect(
      (await call(s, viewer, 'GET', `${base()}/cohorts/${id}`)).json().conditions,
    ).toHaveLength(2);
  });

  it('refuses a viewer and a query key any change', async () => {
    const viewer = await session(world.usersX.viewer);
    expect((await call(s, viewer, 'POST', `${base()}/cohorts`, { body: buyers })).statusCode).toBe(
      403,
    );
    expect((await call(s, viewer, 'DELETE', `${base()}/cohorts/${id}`)).statusCode).toBe(403);
    const key: Caller = {
      kind: 'key',
      secret: await mintKey(s.server.runtime.auth, world.projectA, 'query'),
    };
    expect(
      (await call(s, key, 'PUT', `${base()}/cohorts/${id}`, { body: buyers })).statusCode,
    ).toBe(403);
    expect((await call(s, key, 'GET', `${base()}/cohorts/${id}`)).statusCode).toBe(200);
  });

  it('answers a precise 400 for a wrong definition', async () => {
    const analyst = await session(world.usersX.analyst);
    for (const [conditions, path] of [
      [[], 'conditions'],
      [[{ kind: 'did_event', event: 'A' }], 'conditions.0.within_days'],
      [
        [{ kind: 'did_event', event: 'A', within_days: 7, count_op: 'gt' }],
        'conditions.0.count_op',
      ],
      [[{ kind: 'person_property', property: 'plan', op: 'gt', value: 'x' }], 'conditions.0.value'],
      [[{ kind: 'nope' }], 'conditions.0.kind'],
    ] as const) {
      const res = await call(s, analyst, 'POST', `${base()}/cohorts`, {
        body: { name: 'x', conditions },
      });
      expect(res.statusCode, JSON.stringify(conditions)).toBe(400);
      expect(res.json().error.code).toBe('REQUEST_INVALID');
      expect(JSON.stringify(res.json().error.details ?? res.json().error)).toContain(path);
    }
  });

  it('gives its size, and filters every query kind by it', async () => {
    const viewer = await session(world.usersX.viewer);
    // Alice bought twice this week and is on gold; Bob bought 40 days ago; Carol never bought.
    expect((await call(s, viewer, 'GET', `${base()}/cohorts/${id}/size`)).json()).toEqual({
      cohort: id,
      size: 1,
    });
    const analyst = await session(world.usersX.analyst);
    const q = (body: object) => call(s, analyst, 'POST', `${base()}/query`, { body });
    const inCohort = [{ property: 'cohort', op: 'in', value: id }];
    const outside = [{ property: 'cohort', op: 'not_in', value: [id] }];
    const trend = (filters: object[]) =>
      q({
        kind: 'trends',
        from,
        to: today,
        series: [{ event: 'Page View', math: 'unique_users' }],
        filters,
      });
    // Alice's anonymous page view counts for her: the device was linked to her later.
    expect((await trend(inCohort)).json().series[0].total).toBe(1);
    expect((await trend(outside)).json().series[0].total).toBe(2);
    const funnel = await q({
      kind: 'funnel',
      from,
      to: today,
      steps: [{ event: 'Page View' }, { event: 'Purchase' }],
      window_seconds: 14 * 86_400,
      filters: inCohort,
    });
    expect(funnel.json().steps.map((x: { count: number }) => x.count)).toEqual([1, 1]);
    const retention = await q({
      kind: 'retention',
      from,
      to: today,
      start_event: 'Page View',
      return_event: 'Purchase',
      periods: 5,
      filters: outside,
    });
    expect(retention.json().cohorts.reduce((n: number, c: { size: number }) => n + c.size, 0)).toBe(
      2,
    );
    const unknown = await trend([{ property: 'cohort', op: 'in', value: 'coh_nope' }]);
    expect(unknown.statusCode).toBe(400);
  });

  it('is invisible and unusable to another tenant', async () => {
    const ownerY = await session(world.ownerY);
    for (const url of [
      `${base()}/cohorts`,
      `${base()}/cohorts/${id}`,
      `${base()}/cohorts/${id}/size`,
    ])
      expect((await call(s, ownerY, 'GET', url)).statusCode).toBe(404);
    // A key of another project: its own project has no such cohort (400), ours is refused.
    const other: Caller = {
      kind: 'key',
      secret: await mintKey(s.server.runtime.auth, world.projectC, 'query'),
    };
    const used = await call(s, other, 'POST', `/api/v1/projects/${world.projectC}/query`, {
      body: {
        kind: 'trends',
        from,
        to: today,
        series: [{ event: 'Page View' }],
        filters: [{ property: 'cohort', op: 'in', value: id }],
      },
    });
    expect(used.statusCode).toBe(400);
    expect(used.body).toContain('unknown cohort');
    // Nor as a breakdown, in any kind: the id names nothing in the other tenant's project.
    for (const body of [
      { kind: 'trends', from, to: today, series: [{ event: 'Page View' }] },
      {
        kind: 'funnel',
        from,
        to: today,
        window_seconds: 86_400,
        steps: [{ event: 'Page View' }, { event: 'Purchase' }],
      },
      {
        kind: 'retention',
        from,
        to: today,
        period: 'day',
        periods: 3,
        start_event: 'Page View',
        return_event: 'Page View',
      },
    ]) {
      const split = await call(s, other, 'POST', `/api/v1/projects/${world.projectC}/query`, {
        body: { ...body, breakdown: { cohort: id } },
      });
      expect(split.statusCode).toBe(400);
      expect(split.body).toContain('unknown cohort');
    }
    expect(
      (await call(s, other, 'GET', `/api/v1/projects/${world.projectC}/cohorts/${id}`)).statusCode,
    ).toBe(404);
    expect([403, 404]).toContain(
      (await call(s, other, 'GET', `${base()}/cohorts/${id}`)).statusCode,
    );
  });

  it('updates and deletes; a deleted cohort is refused by queries', async () => {
    const analyst = await session(world.usersX.analyst);
    const updated = await call(s, analyst, 'PUT', `${base()}/cohorts/${id}`, {
      body: { ...buyers, match: 'any' },
    });
    expect(updated.json().match).toBe('any');
    // any: bought within 7 days, or on gold: Alice and Carol.
    expect((await call(s, analyst, 'GET', `${base()}/cohorts/${id}/size`)).json().size).toBe(2);
    expect((await call(s, analyst, 'DELETE', `${base()}/cohorts/${id}`)).statusCode).toBe(204);
    expect((await call(s, analyst, 'GET', `${base()}/cohorts/${id}`)).statusCode).toBe(404);
  });
});
