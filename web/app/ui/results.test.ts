// How results are labelled and shaded.
import { describe, expect, it } from 'vitest';
import type { TrendsResult, TrendsSeries } from '../api/types';
import { segmentNamer } from './breakdown';
import {
  chartedColumns,
  formatDuration,
  heatColour,
  retentionBlocks,
  retentionRows,
  seriesLabel,
  timeToConvertRows,
  trendColumns,
} from './results';

const series = (patch: Partial<TrendsSeries>): TrendsSeries => ({
  event: 'Page View',
  math: 'total',
  property: null,
  breakdown_value: null,
  breakdown_kind: 'none',
  labels: [],
  values: [],
  total: 0,
  ...patch,
});

describe('seriesLabel', () => {
  it('names the event, the measure and the breakdown value', () => {
    expect(seriesLabel(series({}))).toBe('Page View · Total events');
    expect(seriesLabel(series({ event: null, math: 'p90', property: 'price' }))).toBe(
      'All events · 90th percentile of price',
    );
    expect(seriesLabel(series({ breakdown_kind: 'value', breakdown_value: 'Chrome' }))).toBe(
      'Page View · Total events · Chrome',
    );
    expect(seriesLabel(series({ breakdown_kind: 'other' }))).toBe(
      'Page View · Total events · Other values',
    );
    expect(seriesLabel(series({ breakdown_kind: 'not_set' }))).toBe(
      'Page View · Total events · (not set)',
    );
  });

  it('combines a list breakdown’s values, and names cohorts', () => {
    expect(
      seriesLabel(series({ breakdown_kind: 'value', breakdown_value: ['Chrome', null] })),
    ).toBe('Page View · Total events · Chrome / (not set)');
    const byCohort = segmentNamer({ cohort: 'c1' }, [{ id: 'c1', name: 'Buyers' }]);
    expect(seriesLabel(series({ breakdown_kind: 'value', breakdown_value: 'c1' }), byCohort)).toBe(
      'Page View · Total events · Buyers',
    );
    expect(seriesLabel(series({ breakdown_kind: 'not_set' }), byCohort)).toBe(
      'Page View · Total events · In none of these cohorts',
    );
  });
});

describe('retention', () => {
  const cohort = (start: string, counts: number[]) => ({ start, size: counts[0] ?? 0, counts });
  it('shows each cohort’s share returning per period, with the count', () => {
    expect(
      retentionRows([cohort('2026-01-01', [2, 1]), cohort('2026-01-02', [0, 0])], 3, 'day'),
    ).toEqual({
      header: ['Cohort', 'Users', 'day 0', 'day 1', 'day 2'],
      rows: [
        ['2026-01-01', 2, '100.0% (2)', '50.0% (1)', ''],
        ['2026-01-02', 0, '– (0)', '– (0)', ''],
      ],
    });
  });

  it('has a block for every user, then one per breakdown row, named', () => {
    const all = [cohort('2026-01-01', [3, 1])];
    const blocks = retentionBlocks(
      {
        cohorts: all,
        breakdowns: [
          { breakdown_kind: 'value', breakdown_value: ['Chrome', 'gold'], cohorts: all },
          { breakdown_kind: 'other', breakdown_value: null, cohorts: all },
        ],
      },
      segmentNamer(['$browser', 'person.plan']),
    );
    expect(blocks.map((b) => b.label)).toEqual(['All users', 'Chrome / gold', 'Other values']);
    expect(retentionBlocks({ cohorts: all }).map((b) => b.label)).toEqual(['All users']);
  });
});

describe('formatDuration', () => {
  it('picks a readable unit', () => {
    expect(formatDuration(null)).toBe('–');
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(600)).toBe('10 min');
    expect(formatDuration(7200)).toBe('2.0 h');
    expect(formatDuration(3 * 86_400)).toBe('3.0 days');
  });
});

describe('heatColour', () => {
  it('darkens with the rate, with readable text on each shade', () => {
    const light = heatColour(0);
    const dark = heatColour(1);
    expect(light.background).not.toBe(dark.background);
    expect(light.color).toBe('#1a1a1a');
    expect(dark.color).toBe('#fff');
    expect(heatColour(2)).toEqual(dark);
    expect(heatColour(-1)).toEqual(light);
  });
});

describe('trendColumns', () => {
  it('puts each previous period beside its series, in its colour, and the formula last', () => {
    const cols = trendColumns({
      series: [
        series({ values: [1, 2], total: 3, previous_values: [0, 1], previous_total: 1 }),
        series({ event: 'Signed Up', values: [1, 0], total: 1 }),
      ],
      formula: { formula: 'B / A', labels: [], values: [1, 0], total: 0.33 },
    });
    expect(cols.map((c) => [c.label, c.total, c.previous, c.formula, c.colour])).toEqual([
      ['Page View · Total events', 3, false, false, 0],
      ['Page View · Total events · previous period', 1, true, false, 0],
      ['Signed Up · Total events', 1, false, false, 1],
      ['Formula B / A', 0.33, false, true, 2],
    ]);
  });

  it('follows the whole formula with a column per segment of a breakdown, and charts only those', () => {
    const result: TrendsResult = {
      series: [
        series({ breakdown_kind: 'value', breakdown_value: 'Chrome', values: [2], total: 2 }),
        series({ breakdown_kind: 'other', breakdown_value: null, values: [4], total: 4 }),
      ],
      formula: {
        formula: 'A * 2',
        labels: ['2026-12-01'],
        values: [12],
        total: 12,
        breakdowns: [
          { breakdown_kind: 'value', breakdown_value: 'Chrome', values: [4], total: 4 },
          { breakdown_kind: 'other', breakdown_value: null, values: [8], total: 8 },
        ],
      },
    };
    const cols = trendColumns(result);
    expect(chartedColumns(result, cols).map((c) => c.label)).toEqual([
      'Formula A * 2',
      'Formula A * 2 · Chrome',
      'Formula A * 2 · Other values',
    ]);
    // Without a breakdown the formula is drawn beside its series.
    const whole = { ...result, formula: { ...result.formula!, breakdowns: undefined } };
    expect(chartedColumns(whole, cols)).toHaveLength(5);
    expect(cols.map((c) => [c.label, c.total, c.formula, c.colour])).toEqual([
      ['Page View · Total events · Chrome', 2, false, 0],
      ['Page View · Total events · Other values', 4, false, 1],
      ['Formula A * 2', 12, true, 2],
      ['Formula A * 2 · Chrome', 4, true, 3],
      ['Formula A * 2 · Other values', 8, true, 4],
    ]);
  });
});

describe('timeToConvertRows', () => {
  const q = (p25: number, p50: number, p75: number, p90: number) => ({ p25, p50, p75, p90 });
  it('has a row per later step from the previous one, then the whole funnel', () => {
    expect(
      timeToConvertRows([
        {
          event: 'A',
          count: 3,
          median_seconds_to_convert: null,
          time_to_convert: null,
          time_from_start: null,
        },
        {
          event: 'B',
          count: 2,
          median_seconds_to_convert: 20,
          time_to_convert: q(10, 20, 30, 40),
          time_from_start: q(10, 20, 30, 40),
        },
        {
          event: 'C',
          count: 1,
          median_seconds_to_convert: 5,
          time_to_convert: q(5, 5, 5, 5),
          time_from_start: q(25, 25, 25, 25),
        },
      ]),
    ).toEqual([
      ['2. B (from step 1)', 10, 20, 30, 40],
      ['3. C (from step 2)', 5, 5, 5, 5],
      ['Whole funnel (step 1 to 3)', 25, 25, 25, 25],
    ]);
  });
});
