// The query model: defaults, normalisation of filter values, and errors that name the field.
import { describe, expect, it } from 'vitest';
import { isAppError } from '../shared/errors.js';
import { isQueryableJsonKey, parseQuery } from './model.js';

const issues = (body: unknown): { path: string; message: string }[] => {
  try {
    parseQuery(body);
  } catch (error) {
    if (isAppError(error) && error.code === 'QUERY_INVALID') return [...(error.details ?? [])];
    throw error;
  }
  throw new Error('expected the query to be refused');
};

describe('parseQuery', () => {
  it('fills defaults and normalises a trends query', () => {
    expect(
      parseQuery({
        kind: 'trends',
        from: '2025-01-01',
        to: '2025-01-31',
        series: [{ event: 'A' }, { math: 'p90', property: 'amount' }],
        filters: [
          { property: '$browser', op: 'eq', value: 120 },
          { property: 'plan', op: 'in', value: ['pro', true, 1.5] },
          { property: 'n', op: 'gte', value: 3 },
          { property: 'x', op: 'is_set' },
        ],
        breakdown: 'mp_country_code',
      }),
    ).toEqual({
      kind: 'trends',
      from: '2025-01-01',
      to: '2025-01-31',
      interval: 'day',
      series: [
        {
          event: 'A',
          math: 'total',
          property: null,
          groupKey: null,
          filters: [],
          includeSdkEvents: false,
        },
        {
          event: null,
          math: 'p90',
          property: 'amount',
          groupKey: null,
          filters: [],
          includeSdkEvents: false,
        },
      ],
      filters: [
        { property: '$browser', op: 'eq', value: '120' },
        { property: 'plan', op: 'in', value: ['pro', 'true', '1.5'] },
        { property: 'n', op: 'gte', value: 3 },
        { property: 'x', op: 'is_set' },
      ],
      breakdown: {
        dimensions: [{ kind: 'property', property: 'mp_country_code' }],
        form: 'single',
        limit: 10,
      },
      formula: null,
      compare: null,
      analysis: 'linear',
      rollingWindow: null,
    });
  });

  it('takes an analysis: the rolling window defaults per interval, and is refused without rolling', () => {
    const trend = (extra: Record<string, unknown>) =>
      parseQuery({
        kind: 'trends',
        from: '2025-01-01',
        to: '2025-03-31',
        series: [{ event: 'A' }],
        ...extra,
      }) as { analysis: string; rollingWindow: number | null };
    expect(trend({ analysis: 'rolling', interval: 'week' })).toMatchObject({
      analysis: 'rolling',
      rollingWindow: 5,
    });
    expect(trend({ analysis: 'rolling', rolling_window: 28 }).rollingWindow).toBe(28);
    expect(trend({ analysis: 'cumulative' }).rollingWindow).toBeNull();
    expect(() => trend({ analysis: 'cumulative', rolling_window: 3 })).toThrow(/rolling_window/);
    expect(() =>
      trend({ analysis: 'cumulative', series: [{ event: 'A', math: 'weekly_active' }] }),
    ).toThrow(/series\.0\.math: weekly_active has no running total/);
    expect(() =>
      trend({ analysis: 'cumulative', interval: 'hour', series: [{ math: 'unique_users' }] }),
    ).toThrow(/day, week or month/);
  });

  it('parses a list combining a cohort with properties: each cohort once, the limit kept', () => {
    const base = {
      kind: 'retention',
      from: '2025-01-01',
      to: '2025-01-02',
      start_event: 's',
      periods: 2,
    };
    expect(
      parseQuery({
        ...base,
        return_event: 'r',
        breakdown: ['$os', { cohort: ['c2', 'c1', 'c2'] }],
        breakdown_limit: 3,
      }),
    ).toMatchObject({
      breakdown: {
        dimensions: [
          { kind: 'property', property: '$os' },
          { kind: 'cohort', cohorts: ['c2', 'c1'] },
        ],
        form: 'list',
        limit: 3,
      },
    });
    expect(parseQuery({ ...base, return_event: 'r', breakdown: [{ cohort: 'c1' }] })).toMatchObject(
      {
        breakdown: { dimensions: [{ kind: 'cohort', cohorts: ['c1'] }], form: 'list', limit: 10 },
      },
    );
  });

  it('parses funnels, retention and discovery', () => {
    expect(
      parseQuery({
        kind: 'funnel',
        from: '2025-01-01',
        to: '2025-01-01',
        steps: [
          { event: 'a' },
          { event: 'b', filters: [{ property: 'p', op: 'neq', value: 'x' }] },
        ],
        window_seconds: 60,
        breakdown: '$os',
        breakdown_limit: 3,
      }),
    ).toMatchObject({
      kind: 'funnel',
      windowSeconds: 60,
      breakdown: { dimensions: [{ kind: 'property', property: '$os' }], form: 'single', limit: 3 },
    });
    expect(
      parseQuery({
        kind: 'retention',
        from: '2025-01-01',
        to: '2025-02-01',
        start_event: 's',
        return_event: 'r',
        periods: 4,
      }),
    ).toMatchObject({ period: 'day', periods: 4, startEvent: 's', returnEvent: 'r', filters: [] });
    expect(parseQuery({ kind: 'event_names' })).toEqual({
      kind: 'event_names',
      range: null,
      limit: 200,
    });
    expect(
      parseQuery({
        kind: 'property_values',
        property: 'plan',
        from: '2025-01-01',
        to: '2025-01-02',
      }),
    ).toEqual({
      kind: 'property_values',
      property: 'plan',
      event: null,
      range: { from: '2025-01-01', to: '2025-01-02' },
      limit: 50,
    });
  });

  it('names every wrong field and why, never the value', () => {
    const found = issues({
      kind: 'trends',
      from: '2025-13-01',
      to: 'last tuesday',
      interval: 'minute',
      series: [{ event: 5, math: 'sum' }],
      filters: [
        { property: 'a', op: 'between', value: 1 },
        { property: 'b', op: 'in', value: [] },
      ],
      breakdown_limit: 0,
      extra: 'secret-value',
    });
    const byPath = Object.fromEntries(found.map((i) => [i.path, i.message]));
    expect(byPath.from).toBe('is not a calendar date');
    expect(byPath.to).toContain('must be a date YYYY-MM-DD or a relative day');
    expect(byPath.interval).toBe('must be one of hour, day, week, month');
    expect(byPath['series.0.event']).toBe('must be an event name (string)');
    expect(byPath['filters.0.op']).toContain('must be one of eq, neq');
    expect(byPath['filters.1.value']).toBe(
      'in needs a list of 1 to 1000 strings, numbers or booleans',
    );
    expect(byPath.breakdown_limit).toBe('must be at least 1');
    expect(found.some((i) => i.message.includes('extra'))).toBe(true);
    expect(JSON.stringify(found)).not.toContain('secret-value');
  });

  it('checks cross-field rules', () => {
    expect(issues({ kind: 'trends', from: '2025-01-02', to: '2025-01-01', series: [{}] })).toEqual([
      { path: 'to', message: 'must not be before from' },
    ]);
    expect(
      issues({ kind: 'trends', from: '2015-01-01', to: '2025-12-31', series: [{}] })[0]!.message,
    ).toContain('at most 3660 days');
    expect(
      issues({
        kind: 'trends',
        from: '2025-01-01',
        to: '2025-01-01',
        series: [{ math: 'total', property: 'x' }],
      }),
    ).toEqual([
      {
        path: 'series.0.property',
        message: 'total takes no property (only sum, avg, min, max and percentiles do)',
      },
    ]);
    expect(issues({ kind: 'event_names', from: '2025-01-01' })).toEqual([
      { path: 'to', message: 'give both from and to, or neither' },
    ]);
    expect(
      issues({ kind: 'trends', from: '1960-01-01', to: '1960-01-01', series: [{}] })[0]!.path,
    ).toBe('from');
  });

  it('refuses identifiers, which are stored as pseudonyms', () => {
    for (const property of ['distinct_id', '$device_id', '$user_id', '$insert_id']) {
      expect(issues({ kind: 'property_values', property })[0]!.message).toContain('pseudonyms');
    }
  });

  it('refuses bodies that are not objects, and unknown kinds', () => {
    expect(issues(null)).toEqual([{ path: '', message: 'the query must be a JSON object' }]);
    expect(issues({ kind: '__proto__' })[0]!.path).toBe('kind');
  });

  it('knows which JSON keys are shadowed by columns', () => {
    expect(isQueryableJsonKey('plan')).toBe(true);
    expect(isQueryableJsonKey('$browser')).toBe(false);
    expect(isQueryableJsonKey('$device_id')).toBe(false);
  });

  it('reads nested any/all filter groups and names the path of each problem', () => {
    const q = parseQuery({
      kind: 'trends',
      from: '2025-01-01',
      to: '2025-01-02',
      series: [{}],
      filters: [
        {
          any: [
            { property: 'plan', op: 'eq', value: 'pro' },
            {
              all: [
                { property: 'n', op: 'gt', value: 1 },
                { property: 'x', op: 'is_set' },
              ],
            },
          ],
        },
      ],
    });
    expect(q.kind === 'trends' && q.filters).toEqual([
      {
        any: [
          { property: 'plan', op: 'eq', value: 'pro' },
          {
            all: [
              { property: 'n', op: 'gt', value: 1 },
              { property: 'x', op: 'is_set' },
            ],
          },
        ],
      },
    ]);
    const found = issues({
      kind: 'trends',
      from: '2025-01-01',
      to: '2025-01-02',
      series: [{}],
      filters: [
        { any: [{ property: 'plan', op: 'gt', value: 'x' }] },
        { any: [] },
        { any: [{ property: 'a', op: 'is_set' }], all: [] },
        { any: [{ any: [{ any: [{ any: [{ property: 'a', op: 'is_set' }] }] }] }] },
      ],
    });
    const byPath = Object.fromEntries(found.map((i) => [i.path, i.message]));
    expect(byPath['filters.0.any.0.value']).toBe('gt needs a finite number value');
    expect(byPath['filters.1.any']).toBe('must be a list of 1 to 20 filters or groups');
    expect(byPath['filters.2']).toContain('exactly one key');
    expect(byPath['filters.3.any.0.any.0.any.0.any']).toContain('nest at most 3 deep');
  });

  it('resolves relative days against the given today, and checks the range after', () => {
    const q = parseQuery(
      { kind: 'trends', from: '-6d', to: 'today', series: [{}] },
      { today: '2024-03-01' },
    );
    expect(q.kind === 'trends' && [q.from, q.to]).toEqual(['2024-02-24', '2024-03-01']);
    const month = parseQuery(
      {
        kind: 'retention',
        from: 'start_of_month-1m',
        to: 'start_of_month-1d',
        start_event: 'a',
        return_event: 'a',
        periods: 2,
      },
      { today: '2024-03-31' },
    );
    expect(month.kind === 'retention' && [month.from, month.to]).toEqual([
      '2024-02-01',
      '2024-02-29',
    ]);
    const found = issues({ kind: 'trends', from: 'today', to: '-1d', series: [{}] });
    expect(found).toEqual([{ path: 'to', message: 'must not be before from' }]);
  });

  it('takes include_sdk_events on "any event" series only', () => {
    const found = issues({
      kind: 'trends',
      from: '2025-01-01',
      to: '2025-01-02',
      series: [{ event: 'A', include_sdk_events: true }, { include_sdk_events: 'yes' }],
    });
    const byPath = Object.fromEntries(found.map((i) => [i.path, i.message]));
    expect(byPath['series.0.include_sdk_events']).toContain('"any event" series only');
    expect(byPath['series.1.include_sdk_events']).toBe('must be true or false');
  });

  it('checks formulas against the series, with a breakdown too', () => {
    const found = issues({
      kind: 'trends',
      from: '2025-01-01',
      to: '2025-01-02',
      series: [{}, {}],
      formula: 'C / A',
      breakdown: '$browser',
    });
    const messages = found.filter((i) => i.path === 'formula').map((i) => i.message);
    expect(messages).toEqual(['names series C but the query has 2 (A–B)']);
    expect(
      issues({
        kind: 'trends',
        from: '1971-01-01',
        to: '1971-01-02',
        series: [{}],
        compare: 'previous_period',
      }),
    ).toEqual([{ path: 'compare', message: 'the previous period would start before 1971-01-01' }]);
  });
});

describe('parseQuery: lifecycle', () => {
  it('defaults to days of any event, SDK bookkeeping left out', () => {
    expect(parseQuery({ kind: 'lifecycle', from: '2025-01-01', to: '2025-01-31' })).toEqual({
      kind: 'lifecycle',
      from: '2025-01-01',
      to: '2025-01-31',
      interval: 'day',
      event: null,
      filters: [],
      includeSdkEvents: false,
    });
  });

  it('names what is wrong: an hour interval, SDK bookkeeping with a named event, a breakdown', () => {
    const base = { kind: 'lifecycle', from: '2025-01-01', to: '2025-01-31' };
    expect(issues({ ...base, interval: 'hour' }).map((i) => i.path)).toEqual(['interval']);
    expect(issues({ ...base, event: 'A', include_sdk_events: true }).map((i) => i.path)).toEqual([
      'include_sdk_events',
    ]);
    expect(issues({ ...base, breakdown: '$browser' }).map((i) => i.path)).toEqual(['']);
  });
});
