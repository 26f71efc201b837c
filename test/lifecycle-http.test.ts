// Lifecycle (issue 12), hand-counted over HTTP on events sent through the real /import path: new,
// returning, resurrecting and dormant users per day, with first events before the range, the
// day before the range read (not assumed empty), a device merged into its user whose history
// starts first, another event and SDK bookkeeping left out of "any event", a person-property
// filter; the same answer from the per-day tables once built; CSV, the audit entry, a key with
// the query scope, and another project's cohort and secret.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedDatabase } from '../src/cli/runtime.js';
import { createCohort } from '../src/projects/cohorts.js';
import { mintKey } from './helpers/fixtures.js';
import {
  daysBeforeYesterday,
  importWithPlans,
  postQuery,
  startInProcess,
  type InProcess,
} from './helpers/inprocess.js';

let s: InProcess;
// Day -k: k days before yesterday (UTC project), noon; yesterday (day 0) is the range's end.
const { day, at } = daysBeforeYesterday();

beforeAll(async () => {
  s = await startInProcess();
  let n = 0;
  const event = (name: string, ids: Record<string, string>, k: number) => ({
    event: name,
    properties: { ...ids, time: at(k), $insert_id: `lc-${n++}`, token: s.project.token },
  });
  const user = (id: string) => ({ distinct_id: id, $user_id: id });
  const pageViews = (id: string, days: number[]) =>
    days.map((k) => event('Page View', user(id), k));
  await importWithPlans(
    s,
    [
      // a: first seen on day -6, before the range; active on -3, -2 and 0.
      ...pageViews('a', [6, 3, 2, 0]),
      // b: every day from -4 (the day before the range) on.
      ...pageViews('b', [4, 3, 2, 1, 0]),
      // c: first ever on day -2, then -1.
      ...pageViews('c', [2, 1]),
      // d: only on day -4, the day before the range: dormant on its first day.
      ...pageViews('d', [4]),
      // e: a device on day -5, merged into user e when they sign in on day -1.
      event('Page View', { distinct_id: '$device:dev-e', $device_id: 'dev-e' }, 5),
      event('Page View', { distinct_id: 'e', $device_id: 'dev-e', $user_id: 'e' }, 1),
      // f: another event only; g: SDK bookkeeping only.
      event('Sign Up', user('f'), 2),
      event('$identify', user('g'), 1),
    ],
    [
      ['a', 'pro'],
      ['b', 'pro'],
      ['c', 'free'],
    ],
  );
});

afterAll(async () => {
  await s.close();
});

const lifecycle = (extra: Record<string, unknown> = {}) => ({
  kind: 'lifecycle',
  from: day(3),
  to: day(0),
  interval: 'day',
  event: 'Page View',
  ...extra,
});

// Days -3, -2, -1, 0. New: c on -2. Returning: b every day, a on -2, c on -1. Resurrecting: a on
// -3 and 0 (seen on -6), e on -1 (its device on -5). Dormant: d on -3, a on -1, c and e on 0.
const PAGE_VIEWS = {
  new: [0, 1, 0, 0],
  returning: [1, 2, 2, 1],
  resurrecting: [1, 0, 1, 1],
  dormant: [-1, 0, -1, -2],
};

describe('lifecycle over HTTP', () => {
  it('splits each day’s users into new, returning, resurrecting and dormant', async () => {
    const res = await postQuery(s, lifecycle());
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ labels: [day(3), day(2), day(1), day(0)], ...PAGE_VIEWS });
  });

  it('counts any event but SDK bookkeeping, unless asked, and filters by a person property', async () => {
    // f's sign-up makes f new on -2 and dormant on -1; g's $identify counts only when asked.
    const any = await postQuery(s, lifecycle({ event: null }));
    expect(any.json()).toMatchObject({ new: [0, 2, 0, 0], dormant: [-1, 0, -2, -2] });
    const sdk = await postQuery(s, lifecycle({ event: null, include_sdk_events: true }));
    expect(sdk.json()).toMatchObject({ new: [0, 2, 1, 0], dormant: [-1, 0, -2, -3] });
    // Pro users are a and b.
    const pro = await postQuery(
      s,
      lifecycle({ filters: [{ property: 'person.plan', op: 'eq', value: 'pro' }] }),
    );
    expect(pro.json()).toEqual({
      labels: [day(3), day(2), day(1), day(0)],
      new: [0, 0, 0, 0],
      returning: [1, 2, 1, 1],
      resurrecting: [1, 0, 0, 1],
      dormant: [0, 0, -1, 0],
    });
  });

  it('answers the same from the per-day tables, and as CSV', async () => {
    await embeddedDatabase(s.server.runtime).rollups.ensure(s.project.project_id, 'UTC');
    for (const extra of [{}, { event: null }]) {
      const events = await postQuery(s, lifecycle({ ...extra, filters: [] }));
      expect(events.statusCode).toBe(200);
      if (Object.keys(extra).length === 0) expect(events.json()).toMatchObject(PAGE_VIEWS);
      else expect(events.json()).toMatchObject({ new: [0, 2, 0, 0], dormant: [-1, 0, -2, -2] });
    }
    const csv = await postQuery(s, lifecycle(), { accept: 'text/csv' });
    expect(csv.statusCode).toBe(200);
    expect(csv.body.trim().split('\r\n')).toEqual([
      'start,new,returning,resurrecting,dormant',
      `${day(3)},0,1,1,-1`,
      `${day(2)},1,2,0,0`,
      `${day(1)},0,2,1,-1`,
      `${day(0)},0,1,1,-2`,
    ]);
  });

  it('is on the record, open to a key with the query scope, and closed to another project', async () => {
    const key = await mintKey(s.server.runtime.auth, s.project.project_id, 'query');
    const scoped = await postQuery(s, lifecycle({ interval: 'week' }), {
      authorization: `Bearer ${key}`,
    });
    expect(scoped.statusCode).toBe(200);
    const audited = await s.server.runtime.audit.store.scan({ kinds: ['query'] });
    const last = audited.at(-1);
    expect(JSON.parse(String(last?.detail))).toMatchObject({ query_kind: 'lifecycle' });
    expect(JSON.parse(String(last?.eventNames))).toEqual(['Page View']);
    // Another project's cohort names nothing here; its secret opens nothing here.
    const other = await s.server.runtime.projects.create('Other');
    const cohort = await createCohort(
      s.server.runtime.meta,
      other.project_id,
      { name: 'Theirs', conditions: [{ kind: 'person_property', property: 'plan', op: 'is_set' }] },
      'test',
      Date.now(),
    );
    const foreign = await postQuery(
      s,
      lifecycle({ filters: [{ property: 'cohort', op: 'in', value: cohort.id }] }),
    );
    expect(foreign.statusCode).toBe(400);
    expect(foreign.body).toContain('unknown cohort');
    const stranger = await postQuery(s, lifecycle(), { authorization: `Bearer ${other.secret}` });
    expect(stranger.statusCode).toBe(404);
  });
});
