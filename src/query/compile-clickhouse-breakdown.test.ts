// ClickHouse refuses the breakdowns of issue 12 it cannot compile yet with
// 501 QUERY_UNSUPPORTED naming them, rather than answering by the first property alone.
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

function refusal(body: Record<string, unknown>): AppError {
  try {
    compileClickHouse(plan(parseQuery(body), ctx));
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('compiled');
}

describe('ClickHouse and the breakdowns of issue 12', () => {
  it.each([
    [{ ...trends, breakdown: ['$browser', '$os'] }, 'a list of properties'],
    [{ ...trends, breakdown: ['$browser'] }, 'a list of properties'],
    [{ ...trends, breakdown: { cohort: 'c1' } }, 'cohorts'],
    [{ ...retention, breakdown: '$browser' }, 'retention with a breakdown'],
    [{ ...retention, breakdown: { cohort: 'c1' } }, 'cohorts'],
  ])('refuses %j with 501 QUERY_UNSUPPORTED naming it', (body, name) => {
    const error = refusal(body);
    expect(error.code).toBe('QUERY_UNSUPPORTED');
    expect(error.status).toBe(501);
    expect(error.message).toContain(name);
  });

  it.each(['first_in_range', 'first_time', 'recurring'])('compiles retention_type %s', (type) => {
    expect(
      compileClickHouse(plan(parseQuery({ ...retention, retention_type: type }), ctx)).statements,
    ).toHaveLength(1);
  });

  it('still compiles a breakdown by one property', () => {
    expect(
      compileClickHouse(plan(parseQuery({ ...trends, breakdown: '$browser' }), ctx)).statements,
    ).toHaveLength(1);
  });
});
