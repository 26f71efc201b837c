// Formatting: dense labelled intervals, defaults for empty cells, breakdown rows in rank order
// (then "other", then "not set"), funnel medians in seconds, dense retention cohorts.
import { describe, expect, it } from 'vitest';
import type { ExecutedQuery, QueryRows } from './execute.js';
import { format } from './format.js';
import { parseQuery } from './model.js';
import { DEFAULT_PLAN_LIMITS, plan } from './plan.js';

const executed = (results: Record<string, QueryRows>): ExecutedQuery => ({
  results: new Map(Object.entries(results)),
  rowCount: 0,
});
const rows = (columns: string[], data: unknown[][]): QueryRows => ({ columns, rows: data });
const run = (body: unknown, results: Record<string, QueryRows>) => {
  const q = parseQuery(body);
  return format(
    q,
    plan(q, { projectId: 'p', timezone: 'UTC', limits: DEFAULT_PLAN_LIMITS }),
    executed(results),
  );
};

describe('format', () => {
  it('fills every interval, with 0 for counts and null for averages', () => {
    const body = {
      kind: 'trends',
      from: '2025-01-01',
      to: '2025-01-03',
      series: [{ event: 'a' }, { event: 'a', math: 'avg', property: 'x' }],
    };
    const day2 = Date.parse('2025-01-02T00:00:00Z') / 86_400_000;
    const result = run(body, {
      'series:0': rows(
        ['is_total', 'bucket', 'value'],
        [
          [0, BigInt(day2), 5n],
          [1, null, 5n],
        ],
      ),
      'series:1': rows(
        ['is_total', 'bucket', 'value'],
        [
          [0, day2, 2.5],
          [1, null, 2.5],
        ],
      ),
    });
    expect(result).toEqual({
      series: [
        {
          event: 'a',
          math: 'total',
          property: null,
          breakdown_value: null,
          breakdown_kind: 'none',
          labels: ['2025-01-01', '2025-01-02', '2025-01-03'],
          values: [0, 5, 0],
          total: 5,
        },
        {
          event: 'a',
          math: 'avg',
          property: 'x',
          breakdown_value: null,
          breakdown_kind: 'none',
          labels: ['2025-01-01', '2025-01-02', '2025-01-03'],
          values: [null, 2.5, null],
          total: 2.5,
        },
      ],
    });
  });

  it('answers an empty series with zeros', () => {
    const result = run(
      { kind: 'trends', from: '2025-01-01', to: '2025-01-01', series: [{ math: 'unique_users' }] },
      {
        'series:0': rows(['is_total', 'bucket', 'value'], []),
      },
    );
    expect(result).toMatchObject({ series: [{ values: [0], total: 0 }] });
  });

  it('orders breakdown rows by rank, then value bytes, then other and not set', () => {
    const cols = ['seg', 'seg_value', 'rank_n', 'is_total', 'bucket', 'value'];
    const result = run(
      { kind: 'trends', from: '2025-01-01', to: '2025-01-01', series: [{}], breakdown: '$browser' },
      {
        'series:0': rows(cols, [
          [2, null, null, 1, null, 1n],
          [1, null, null, 1, null, 2n],
          [0, 'b', 3n, 1, null, 3n],
          [0, 'É', 3n, 1, null, 3n],
          [0, 'a', 3n, 1, null, 3n],
          [0, 'z', 9n, 1, null, 9n],
        ]),
      },
    ) as { series: { breakdown_value: string | null; breakdown_kind: string; values: number[] }[] };
    expect(result.series.map((s) => [s.breakdown_kind, s.breakdown_value])).toEqual([
      ['value', 'z'],
      ['value', 'a'],
      ['value', 'b'],
      ['value', 'É'],
      ['other', null],
      ['not_set', null],
    ]);
    expect(result.series[0]!.values).toEqual([0]);
  });

  it('reports funnel steps with time-to-convert quantiles in seconds', () => {
    const body = {
      kind: 'funnel',
      from: '2025-01-01',
      to: '2025-01-01',
      steps: [{ event: 'a' }, { event: 'b' }],
      window_seconds: 60,
    };
    const result = run(body, {
      funnel: rows(
        [
          'seg',
          'seg_value',
          'rank_n',
          'is_total',
          'bucket',
          'n1',
          'n2',
          'prev_p25_2',
          'start_p25_2',
          'prev_median_2',
          'start_median_2',
          'prev_p75_2',
          'start_p75_2',
          'prev_p90_2',
          'start_p90_2',
        ],
        [
          [
            null,
            null,
            null,
            1,
            null,
            4n,
            2n,
            1000,
            1000,
            1500.4999999999998,
            1500.0000000000002,
            2000,
            2000,
            2500,
            null,
          ],
        ],
      ),
    });
    // Interpolation noise below a millisecond is rounded away (engines differ in the last digit).
    const q = { p25: 1, p50: 1.5, p75: 2, p90: 2.5 };
    expect(result).toEqual({
      steps: [
        {
          event: 'a',
          count: 4,
          median_seconds_to_convert: null,
          time_to_convert: null,
          time_from_start: null,
        },
        {
          event: 'b',
          count: 2,
          median_seconds_to_convert: 1.5,
          time_to_convert: q,
          time_from_start: { ...q, p90: null },
        },
      ],
    });
  });

  it('lists every cohort of the range, empty ones included', () => {
    const body = {
      kind: 'retention',
      from: '2025-01-01',
      to: '2025-01-03',
      start_event: 'a',
      return_event: 'a',
      periods: 2,
    };
    const c = Date.parse('2025-01-02T00:00:00Z') / 86_400_000;
    const result = run(body, {
      retention: rows(
        ['cohort', 'k', 'users'],
        [
          [c, 0, 3n],
          [c, 2, 1n],
        ],
      ),
    });
    expect(result).toEqual({
      cohorts: [
        { start: '2025-01-01', size: 0, counts: [0, 0, 0] },
        { start: '2025-01-02', size: 3, counts: [3, 0, 1] },
        { start: '2025-01-03', size: 0, counts: [0, 0, 0] },
      ],
    });
  });
});
