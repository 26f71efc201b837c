// Unit tests of the screens' pure helpers: merging live pages, the policy's loosenings as the
// server words them, list fields, datetime-local values, and shortened lists.
import { describe, expect, it } from 'vitest';
import type { LiveEvent, PrivacyPolicy } from '../api/types';
import { isoOf, localInput, shortList } from './audit';
import { conditionBody, describeCondition, insightsForCohort } from './cohorts';
import { buildFrequencyQuery } from './frequency';
import { buildTrendsQuery } from './insights';
import { buildLifecycleQuery } from './lifecycle';
import { mergeLive } from './live';
import { listOf, looseningsOf } from './privacy';

const ev = (insert: string, at: string): LiveEvent => ({
  event: 'E',
  time: at,
  received_at: at,
  properties: { $insert_id: insert },
});

const SAFE: PrivacyPolicy = {
  geo: 'region',
  properties: {},
  identifierProperties: [],
  groupKeys: ['company_id'],
  vault: false,
  retentionDays: null,
  keepClickIds: false,
  keepGroupNames: false,
  keepEventProperties: [],
};

describe('mergeLive', () => {
  it('puts newer events on top, drops repeats, and keeps at most `keep`', () => {
    const shown = [ev('b', '2026-01-01T00:00:02Z'), ev('a', '2026-01-01T00:00:01Z')];
    const merged = mergeLive(shown, [ev('c', '2026-01-01T00:00:03Z'), shown[0]!], 2);
    expect(merged.map((e) => e.properties.$insert_id)).toEqual(['c', 'b']);
  });
});

describe('looseningsOf', () => {
  it('finds none in the safe defaults, and names each loosening', () => {
    expect(looseningsOf(SAFE)).toEqual([]);
    expect(looseningsOf({ ...SAFE, geo: 'country', retentionDays: 30 })).toEqual([]);
    expect(
      looseningsOf({
        ...SAFE,
        geo: 'city',
        vault: true,
        keepClickIds: true,
        properties: { plan: 'keep', other: 'redact' },
      }),
    ).toEqual([
      'geolocation stored down to city',
      'ad click ids kept',
      'profile PII kept in the encrypted vault',
      'property "plan" kept as sent, without PII scanning',
    ]);
  });
});

describe('form helpers', () => {
  it('splits comma lists without blanks or repeats', () => {
    expect(listOf(' a, b ,,a ,c ')).toEqual(['a', 'b', 'c']);
    expect(listOf('')).toEqual([]);
  });
  it('round-trips a datetime-local value to the same minute', () => {
    const ms = Date.parse('2026-03-04T05:06:00Z');
    expect(isoOf(localInput(ms))).toBe(new Date(ms).toISOString());
    expect(isoOf('')).toBeUndefined();
  });
  it('shortens long lists', () => {
    expect(shortList(['a', 'b'], 3)).toBe('a, b');
    expect(shortList(['a', 'b', 'c', 'd'], 2)).toBe('a, b and 2 more');
  });
});

describe('cohort conditions', () => {
  it('are described in words, "at most 0" as did not', () => {
    expect(
      describeCondition({
        kind: 'did_event',
        event: 'Purchase',
        count_op: 'gte',
        count: 2,
        within_days: 30,
      }),
    ).toBe('did Purchase at least 2 times in the last 30 days');
    expect(
      describeCondition({
        kind: 'did_event',
        event: 'Purchase',
        count_op: 'lte',
        count: 0,
        within_days: 7,
      }),
    ).toBe('did not do Purchase in the last 7 days');
    expect(
      describeCondition({ kind: 'person_property', property: 'plan', op: 'eq', value: 'paid' }),
    ).toBe('person property plan equals paid');
  });

  it('send person-property values typed for their operator', () => {
    expect(
      conditionBody({ kind: 'person_property', property: 'plan', op: 'in', value: 'a, b,' }),
    ).toEqual({ kind: 'person_property', property: 'plan', op: 'in', value: ['a', 'b'] });
    expect(
      conditionBody({ kind: 'person_property', property: 'age', op: 'gt', value: '30' }),
    ).toEqual({ kind: 'person_property', property: 'age', op: 'gt', value: 30 });
    expect(
      conditionBody({ kind: 'person_property', property: 'plan', op: 'is_set', value: 'x' }),
    ).toEqual({ kind: 'person_property', property: 'plan', op: 'is_set' });
  });

  it('open Insights filtered to the cohort', () => {
    const href = insightsForCohort('p1', 'coh_1');
    const q = JSON.parse(new URLSearchParams(href.split('?')[1]).get('q') ?? '{}');
    expect(q.filters).toEqual({
      match: 'all',
      items: [{ property: 'cohort', op: 'in', value: 'coh_1' }],
    });
  });
});

describe('Insights analysis', () => {
  const report = {
    series: [{ event: 'View', math: 'total' as const, property: '' }],
    interval: 'week' as const,
    range: { preset: 'custom' as const, from: '2026-01-01', to: '2026-01-31' },
    filters: [],
    breakdown: '',
    view: 'line' as const,
  };
  it('asks for a cumulative or a rolling trend, the window only when valid', () => {
    expect(buildTrendsQuery(report)).not.toHaveProperty('analysis');
    expect(buildTrendsQuery({ ...report, analysis: 'cumulative' })).toMatchObject({
      analysis: 'cumulative',
    });
    expect(buildTrendsQuery({ ...report, analysis: 'rolling', rollingWindow: 4 })).toMatchObject({
      analysis: 'rolling',
      rolling_window: 4,
    });
    // No window typed (or one the server refuses): the interval's default, left to the server.
    const rolling = buildTrendsQuery({ ...report, analysis: 'rolling', rollingWindow: 0 });
    expect(rolling).toMatchObject({ analysis: 'rolling' });
    expect(rolling).not.toHaveProperty('rolling_window');
  });
});

describe('Frequency', () => {
  const report = {
    event: 'View',
    interval: 'day' as const,
    per: 'week' as const,
    mode: 'exactly' as const,
    compare: false,
    range: { preset: 'custom' as const, from: '2026-01-01', to: '2026-01-31' },
  };
  it('sends the filters and the breakdown chosen, and neither for a report saved without them', () => {
    const asked = buildFrequencyQuery({
      ...report,
      filters: {
        match: 'all',
        items: [{ property: '$browser', op: 'eq', value: 'Firefox' }],
      },
      breakdown: { by: 'properties', properties: ['person.plan'] },
    });
    expect(asked).toMatchObject({
      filters: [{ property: '$browser', op: 'eq', value: 'Firefox' }],
      breakdown: 'person.plan',
    });
    const saved = buildFrequencyQuery(report);
    expect(saved).not.toHaveProperty('filters');
    expect(saved).not.toHaveProperty('breakdown');
  });
});

describe('Lifecycle', () => {
  const report = {
    event: '',
    interval: 'week' as const,
    range: { preset: 'custom' as const, from: '2026-01-01', to: '2026-01-31' },
    filters: { match: 'all' as const, items: [] },
  };
  it('asks for any event without naming one, and sends the filters chosen', () => {
    const any = buildLifecycleQuery(report);
    expect(any).toEqual({
      kind: 'lifecycle',
      from: '2026-01-01',
      to: '2026-01-31',
      interval: 'week',
    });
    const filtered = buildLifecycleQuery({
      ...report,
      event: 'View',
      filters: { match: 'all', items: [{ property: 'person.plan', op: 'eq', value: 'pro' }] },
    });
    expect(filtered).toMatchObject({
      event: 'View',
      filters: [{ property: 'person.plan', op: 'eq', value: 'pro' }],
    });
  });
});
