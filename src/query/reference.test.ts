// The reference evaluator pinned to the documented semantics with hand-worked examples (the
// differential tests then hold the SQL engine to the reference).
import { describe, expect, it } from 'vitest';
import type { EventRow, IdentityLink } from '../store/types.js';
import { parseQuery } from './model.js';
import { jsonNumberText, referenceAnswer } from './reference.js';

let key = 0n;
const ev = (at: string, event: string, over: Partial<EventRow> = {}): EventRow => ({
  projectId: 'p',
  dedupKey: key++,
  timeMs: Date.parse(at),
  event,
  distinctId: 'd1',
  deviceId: 'd1',
  userId: null,
  insertId: `i${key}`,
  browser: null,
  browserVersion: null,
  os: null,
  deviceType: null,
  countryCode: null,
  region: null,
  city: null,
  referringDomain: null,
  currentUrl: null,
  utmSource: null,
  utmMedium: null,
  utmCampaign: null,
  utmContent: null,
  utmTerm: null,
  lib: null,
  properties: {},
  receivedAtMs: 0,
  ...over,
});
const answer = (events: EventRow[], body: unknown, links: IdentityLink[] = [], timezone = 'UTC') =>
  referenceAnswer(parseQuery(body), {
    projectId: 'p',
    timezone,
    events,
    links,
    propertySampleSize: 100,
  });
const link = (aliasId: string, canonicalId: string): IdentityLink => ({
  projectId: 'p',
  aliasId,
  canonicalId,
  timeMs: 0,
});
const day = (d: string, extra: Record<string, unknown> = {}) => ({
  kind: 'trends',
  from: d,
  to: d,
  ...extra,
});

describe('reference semantics', () => {
  it('compares filter values as text, and numbers only where the text is a JSON number', () => {
    const events = [
      ev('2025-01-01T10:00:00Z', 'e', { properties: { v: 1.5 } }),
      ev('2025-01-01T10:00:00Z', 'e', { properties: { v: '1.5' } }),
      ev('2025-01-01T10:00:00Z', 'e', { properties: { v: ' 3' } }),
      ev('2025-01-01T10:00:00Z', 'e', { properties: { v: true } }),
      ev('2025-01-01T10:00:00Z', 'e', { properties: {} }),
    ];
    const count = (filter: unknown) =>
      (
        answer(events, day('2025-01-01', { series: [{ event: 'e', filters: [filter] }] })) as {
          series: { total: number }[];
        }
      ).series[0]!.total;
    expect(count({ property: 'v', op: 'eq', value: 1.5 })).toBe(2);
    expect(count({ property: 'v', op: 'neq', value: 1.5 })).toBe(3); // unset included
    expect(count({ property: 'v', op: 'gt', value: 1 })).toBe(2); // ' 3' and true are not numbers
    expect(count({ property: 'v', op: 'eq', value: true })).toBe(1);
    expect(count({ property: 'v', op: 'contains', value: '.' })).toBe(2);
    expect(count({ property: 'v', op: 'not_contains', value: '.' })).toBe(3);
    expect(count({ property: 'v', op: 'is_not_set' })).toBe(1);
  });

  it('writes JSON numbers back as stored', () => {
    expect(jsonNumberText(1e21)).toBe('1e21');
    expect(jsonNumberText(2 ** 64)).toBe('18446744073709552000');
    expect(jsonNumberText(-0)).toBe('0');
    expect(jsonNumberText(0.1)).toBe('0.1');
  });

  it('counts a device and the user it was linked to as one user', () => {
    const events = [
      ev('2025-01-01T09:00:00Z', 'view', { distinctId: 'dev', deviceId: 'dev' }),
      ev('2025-01-01T09:05:00Z', 'signup', {
        distinctId: 'alice',
        deviceId: 'dev',
        userId: 'alice',
      }),
      ev('2025-01-01T09:06:00Z', 'server', { distinctId: 'alice', deviceId: null }),
      ev('2025-01-01T09:07:00Z', 'anon', { distinctId: 'x', deviceId: null }),
      ev('2025-01-01T09:08:00Z', 'nobody', { distinctId: '', deviceId: null }),
    ];
    const r = answer(events, day('2025-01-01', { series: [{ math: 'unique_users' }] }), [
      link('dev', 'alice'),
    ]) as {
      series: { total: number }[];
    };
    expect(r.series[0]!.total).toBe(2); // alice (3 events) and x; the id-less event is nobody
  });

  it('aggregates numeric values with interpolated percentiles', () => {
    const events = [1, 2, 3, 10].map((v) => ev('2025-01-01T10:00:00Z', 'e', { properties: { v } }));
    const r = answer(
      events,
      day('2025-01-01', {
        series: ['sum', 'avg', 'min', 'max', 'p50', 'p90'].map((math) => ({ math, property: 'v' })),
      }),
    ) as { series: { total: number }[] };
    const totals = r.series.map((s) => s.total);
    expect(totals.slice(0, 5)).toEqual([16, 4, 1, 10, 2.5]);
    expect(totals[5]).toBeCloseTo(7.9, 12); // 3·0.3 + 10·0.7
  });

  it('labels 24 local hours a day, merging the repeated hour when clocks go back', () => {
    const events = [
      ev('2024-10-27T00:30:00Z', 'e'), // 02:30 CEST
      ev('2024-10-27T01:30:00Z', 'e'), // 02:30 CET, same local hour
    ];
    const r = answer(
      events,
      day('2024-10-27', { interval: 'hour', series: [{}] }),
      [],
      'Europe/Paris',
    ) as {
      series: { labels: string[]; values: number[] }[];
    };
    expect(r.series[0]!.labels).toHaveLength(24);
    expect(r.series[0]!.values[2]).toBe(2);
  });

  it('starts weeks on Monday and ranks breakdown values, then other and not set', () => {
    const events = [
      ev('2025-01-01T10:00:00Z', 'e', { browser: 'B' }),
      ev('2025-01-01T10:00:00Z', 'e', { browser: 'A' }),
      ev('2025-01-01T10:00:00Z', 'e', { browser: 'C' }),
      ev('2025-01-01T10:00:00Z', 'e', { browser: 'C' }),
      ev('2025-01-01T10:00:00Z', 'e'),
    ];
    const r = answer(
      events,
      day('2025-01-01', {
        interval: 'week',
        series: [{}],
        breakdown: '$browser',
        breakdown_limit: 2,
      }),
    ) as {
      series: {
        labels: string[];
        breakdown_kind: string;
        breakdown_value: string | null;
        total: number;
      }[];
    };
    expect(r.series[0]!.labels).toEqual(['2024-12-30']);
    expect(r.series.map((s) => [s.breakdown_kind, s.breakdown_value, s.total])).toEqual([
      ['value', 'C', 2],
      ['value', 'A', 1],
      ['other', null, 1],
      ['not_set', null, 1],
    ]);
  });

  it('converts a funnel step strictly later and within the window of the entry', () => {
    const funnel = (window: number) =>
      (
        answer(
          [
            ev('2025-01-01T10:00:00Z', 'a'),
            ev('2025-01-01T10:00:00Z', 'b'), // same instant: not after
            ev('2025-01-01T10:01:00Z', 'b'),
            ev('2025-01-01T10:02:00Z', 'c'),
          ],
          {
            kind: 'funnel',
            from: '2025-01-01',
            to: '2025-01-01',
            steps: [{ event: 'a' }, { event: 'b' }, { event: 'c' }],
            window_seconds: window,
          },
        ) as { steps: { count: number; median_seconds_to_convert: number | null }[] }
      ).steps;
    expect(funnel(120).map((s) => s.count)).toEqual([1, 1, 1]); // 10:02 is exactly at the window's end
    expect(funnel(119).map((s) => s.count)).toEqual([1, 1, 0]);
    expect(funnel(120).map((s) => s.median_seconds_to_convert)).toEqual([null, 60, 60]);
  });

  it('takes the best entry per user and counts conversions after the range', () => {
    const r = answer(
      [
        ev('2025-01-01T10:00:00Z', 'a', { browser: 'first' }),
        ev('2025-01-02T10:00:00Z', 'a', { browser: 'second' }),
        ev('2025-01-02T11:00:00Z', 'b'), // outside the range: still a conversion
      ],
      {
        kind: 'funnel',
        from: '2025-01-01',
        to: '2025-01-01',
        steps: [{ event: 'a' }, { event: 'b' }],
        window_seconds: 2 * 86_400,
        breakdown: '$browser',
      },
    ) as { steps: { count: number }[]; breakdowns: { breakdown_value: string | null }[] };
    expect(r.steps.map((s) => s.count)).toEqual([1, 1]);
    expect(r.breakdowns.map((b) => b.breakdown_value)).toEqual(['first']);
  });

  it('builds cohorts from the first start event in the range', () => {
    const r = answer(
      [
        ev('2024-12-31T10:00:00Z', 's'), // before the range: not the cohort
        ev('2025-01-02T10:00:00Z', 's'),
        ev('2025-01-03T10:00:00Z', 's'),
        ev('2025-01-04T10:00:00Z', 'r'),
        ev('2025-01-09T10:00:00Z', 'r'), // beyond the periods asked for
      ],
      {
        kind: 'retention',
        from: '2025-01-01',
        to: '2025-01-03',
        start_event: 's',
        return_event: 'r',
        period: 'day',
        periods: 3,
      },
    );
    expect(r).toEqual({
      cohorts: [
        { start: '2025-01-01', size: 0, counts: [0, 0, 0, 0] },
        { start: '2025-01-02', size: 1, counts: [1, 0, 1, 0] },
        { start: '2025-01-03', size: 0, counts: [0, 0, 0, 0] },
      ],
    });
  });
});
