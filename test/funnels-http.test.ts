// Funnel options over HTTP (issue 12): exclusion steps, any-order steps, a property held
// constant, conversion over time and time-to-convert quantiles, on events sent through the real
// /import path (pseudonymised ids, a device merged into its user mid-funnel), hand-counted; the
// 400s naming the wrong field; CSV. Also the issue's bug: a purchase before sign-up is no step 3.
import { compileErrors, validate } from '@readme/openapi-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postQuery, startInProcess, type InProcess } from './helpers/inprocess.js';

let s: InProcess;
// Two days ago (UTC project): inside the default retention, and never in the future.
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const DAY = dayOf(Date.now() - 2 * 86_400_000);
const DAY_BEFORE = dayOf(Date.now() - 3 * 86_400_000);
const at = (hh: number, mm: number) =>
  Date.parse(`${DAY}T${String(hh).padStart(2, '0')}:${String(mm).padStart(2, '0')}:00Z`) / 1000;
const device = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
let nextId = 0;

beforeAll(async () => {
  s = await startInProcess();
  const e = (event: string, who: string, time: number, browser?: string) => ({
    event,
    properties: {
      distinct_id: who,
      ...(who === 'bob' ? { $user_id: 'bob' } : {}),
      ...(who.startsWith('$device:') ? { $device_id: device } : {}),
      ...(browser ? { $browser: browser } : {}),
      time,
      $insert_id: `f${nextId++}`,
      token: s.project.token,
    },
  });
  const anon = `$device:${device}`;
  const events = [
    // alice: the whole funnel in order, with a Cancel between Checkout and Purchase.
    e('Sign Up', 'alice', at(10, 0), 'Chrome'),
    e('Checkout', 'alice', at(10, 5), 'Chrome'),
    e('Cancel', 'alice', at(10, 7)),
    e('Purchase', 'alice', at(10, 10), 'Chrome'),
    // bob: signs up on a device, identifies, purchases, then checks out (reverse order).
    e('Sign Up', anon, at(10, 0), 'Firefox'),
    {
      event: '$identify',
      properties: {
        distinct_id: 'bob',
        $user_id: 'bob',
        $device_id: device,
        $anon_distinct_id: anon,
        time: at(10, 1),
        $insert_id: 'fid',
        token: s.project.token,
      },
    },
    e('Purchase', 'bob', at(10, 3), 'Firefox'),
    e('Checkout', 'bob', at(10, 20), 'Firefox'),
    // carol: the whole funnel, but checks out on another browser.
    e('Sign Up', 'carol', at(11, 0), 'Chrome'),
    e('Checkout', 'carol', at(11, 10), 'Safari'),
    e('Purchase', 'carol', at(11, 30), 'Chrome'),
    // dave: a purchase before he signs up, and nothing after.
    e('Purchase', 'dave', at(9, 0)),
    e('Sign Up', 'dave', at(12, 0)),
  ];
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

const query = (extra: Record<string, unknown>, headers: Record<string, string> = {}) =>
  postQuery(
    s,
    {
      kind: 'funnel',
      from: DAY,
      to: DAY,
      steps: [{ event: 'Sign Up' }, { event: 'Checkout' }, { event: 'Purchase' }],
      window_seconds: 3600,
      ...extra,
    },
    headers,
  );

const counts = async (extra: Record<string, unknown>): Promise<number[]> => {
  const res = await query(extra);
  expect(res.statusCode).toBe(200);
  return (res.json().steps as { count: number }[]).map((x) => x.count);
};

describe('funnel options over HTTP', () => {
  it('counts in order, without crediting a purchase made before sign-up', async () => {
    expect(await counts({})).toEqual([4, 3, 2]);
  });

  it('counts later steps in any order', async () => {
    expect(await counts({ order: 'any' })).toEqual([4, 3, 3]);
  });

  it('drops an attempt with an excluded event between two steps', async () => {
    expect(
      await counts({ exclusions: [{ event: 'Cancel', after_step: 1, before_step: 2 }] }),
    ).toEqual([3, 2, 1]);
    // Between Sign Up and Checkout there is no Cancel: nothing is dropped.
    expect(
      await counts({ exclusions: [{ event: 'Cancel', after_step: 0, before_step: 1 }] }),
    ).toEqual([4, 3, 2]);
  });

  it('drops an attempt that never reached the later step but did the excluded event in its window', async () => {
    // Nobody asks for a refund: each attempt is judged up to the end of its 10-minute window.
    // alice purchased exactly 600 s after signing up (on the window's end: out), bob after 3
    // minutes (out), carol after 30 (past her window: kept), dave before he signed up (kept).
    expect(
      await counts({
        steps: [{ event: 'Sign Up' }, { event: 'Refund' }],
        window_seconds: 600,
        exclusions: [{ event: 'Purchase' }],
      }),
    ).toEqual([2, 0]);
  });

  it('holds the browser constant across the steps', async () => {
    expect(await counts({ hold_constant: ['$browser'] })).toEqual([4, 2, 1]);
  });

  it('answers time-to-convert quantiles and conversion over time', async () => {
    const res = await query({ conversion_over_time: 'day', from: DAY_BEFORE });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    // Checkout after Sign Up: alice 300 s, carol 600 s, bob 1,200 s.
    expect(body.steps[1].time_to_convert).toEqual({ p25: 450, p50: 600, p75: 900, p90: 1080 });
    expect(body.steps[1].time_from_start).toEqual(body.steps[1].time_to_convert);
    // Purchase: alice 300 s after Checkout (600 s after Sign Up), carol 1,200 s (1,800 s).
    expect(body.steps[2].time_to_convert).toEqual({ p25: 525, p50: 750, p75: 975, p90: 1110 });
    expect(body.steps[2].time_from_start).toEqual({ p25: 900, p50: 1200, p75: 1500, p90: 1680 });
    expect(body.steps[2].median_seconds_to_convert).toBe(750);
    expect(body.conversion_over_time).toEqual({
      interval: 'day',
      rows: [
        { start: DAY_BEFORE, entered: 0, converted: 0, steps: [0, 0, 0], conversion_rate: null },
        { start: DAY, entered: 4, converted: 2, steps: [4, 3, 2], conversion_rate: 0.5 },
      ],
    });
    const csv = await query({ conversion_over_time: 'day' }, { accept: 'text/csv' });
    expect(csv.statusCode).toBe(200);
    const lines = csv.body.split('\r\n');
    expect(lines[0]).toBe(
      'breakdown_kind,breakdown_value,step,event,count,median_seconds_to_convert,time_to_convert_p25,time_to_convert_p50,time_to_convert_p75,time_to_convert_p90,time_from_start_p25,time_from_start_p50,time_from_start_p75,time_from_start_p90',
    );
    expect(lines).toContain('none,,3,Purchase,2,750,525,750,975,1110,900,1200,1500,1680');
    expect(lines).toContain(`conversion_over_time,${DAY},3,Purchase,2,,,,,,,,,`);
  });

  it('refuses wrong options with 400 naming the field', async () => {
    const wrong = async (extra: Record<string, unknown>) => {
      const res = await query(extra);
      expect(res.statusCode).toBe(400);
      return (res.json().error.details as { path: string }[]).map((d) => d.path);
    };
    expect(
      await wrong({ exclusions: [{ event: 'Cancel', after_step: 2, before_step: 1 }] }),
    ).toEqual(['exclusions.0.after_step']);
    expect(await wrong({ exclusions: [{ event: 'Cancel', before_step: 3 }] })).toEqual([
      'exclusions.0.before_step',
    ]);
    expect(await wrong({ order: 'random' })).toEqual(['order']);
    expect(await wrong({ hold_constant: ['cohort'] })).toEqual(['hold_constant.0']);
    expect(await wrong({ hold_constant: ['$browser', '$browser'] })).toEqual(['hold_constant']);
    expect(await wrong({ hold_constant: ['$browsr'] })).toEqual(['hold_constant.0']);
    expect(await wrong({ conversion_over_time: 'year' })).toEqual(['conversion_over_time']);
  });

  it('documents the query body, funnel options included, in a valid OpenAPI document', async () => {
    const res = await s.server.app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    const doc = res.json();
    const body = doc.paths['/api/v1/projects/{projectId}/query'].post.requestBody;
    const kinds = body.content['application/json'].schema.anyOf as {
      properties: Record<string, { const?: string }>;
    }[];
    const funnel = kinds.find((k) => k.properties.kind?.const === 'funnel')!;
    expect(Object.keys(funnel.properties)).toEqual(
      expect.arrayContaining(['order', 'exclusions', 'hold_constant', 'conversion_over_time']),
    );
    const verdict = await validate(structuredClone(doc));
    expect(verdict.valid ? [] : compileErrors(verdict)).toEqual([]);
  });
});
