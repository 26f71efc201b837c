// ClickHouse compiles every breakdown of issue 12 (several properties, cohorts, retention broken
// down); a plan field it does not read is still refused by name.
import { describe, expect, it } from 'vitest';
import { AppError } from '../shared/errors.js';
import { compileClickHouse } from './compile-clickhouse.js';
import { parseQuery } from './model.js';
import { DEFAULT_PLAN_LIMITS, plan } from './plan.js';

const ctx = {
  projectId: 'p',
  timezone: 'UTC',
  limits: DEFAULT_PLAN_LIMITS,
  cohorts: {
    nowMs: 0,
    byId: new Map([['c1', { match: 'all' as const, conditions: [] }]]),
  },
};
const trends = {
  kind: 'trends',
  from: '2024-03-01',
  to: '2024-03-07',
  series: [{ event: 'A' }],
};
const retention = {
  kind: 'retention',
  from: '2024-03-01',
  to: '2024-03-07',
  start_event: 'A',
  return_event: 'B',
  periods: 2,
};

describe('ClickHouse and the breakdowns of issue 12', () => {
  const funnel = {
    kind: 'funnel',
    from: '2024-03-01',
    to: '2024-03-07',
    steps: [{ event: 'A' }, { event: 'B' }],
    window_seconds: 3600,
  };
  // Answers are compared with DuckDB's in store/clickhouse/differential.test.ts; here, that
  // every form compiles to one statement per series (nothing is refused any more).
  it.each([
    { ...trends, breakdown: ['$browser', '$os'] },
    { ...trends, breakdown: ['$browser'] },
    { ...trends, breakdown: { cohort: 'c1' } },
    { ...trends, series: [{ event: 'A', math: 'per_user_median' }], breakdown: ['$os'] },
    { ...funnel, breakdown: ['$browser', '$os', 'plan'] },
    { ...funnel, breakdown: { cohort: ['c1'] } },
    { ...retention, breakdown: '$browser' },
    { ...retention, breakdown: ['$browser', 'plan'], retention_type: 'recurring' },
    { ...retention, breakdown: { cohort: 'c1' }, retention_type: 'first_time' },
  ])('compiles %j', (body) => {
    expect(compileClickHouse(plan(parseQuery(body), ctx)).statements).toHaveLength(1);
  });

  it.each(['first_in_range', 'first_time', 'recurring'])('compiles retention_type %s', (type) => {
    expect(
      compileClickHouse(plan(parseQuery({ ...retention, retention_type: type }), ctx)).statements,
    ).toHaveLength(1);
  });

  it('refuses a plan field it does not read, by name', () => {
    const planned = { ...plan(parseQuery(retention), ctx), futureOption: 1 };
    expect(() => compileClickHouse(planned)).toThrow(AppError);
    expect(() => compileClickHouse(planned)).toThrow(/futureOption/);
  });
});
