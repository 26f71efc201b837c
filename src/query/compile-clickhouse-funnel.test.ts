// ClickHouse refuses every funnel option it cannot compile with 501 QUERY_UNSUPPORTED, naming it
// (issue 12): the engine then answers that, never a funnel that silently ignored the option.
import { describe, expect, it } from 'vitest';
import { AppError } from '../shared/errors.js';
import { compileClickHouse } from './compile-clickhouse.js';
import { parseQuery } from './model.js';
import { DEFAULT_PLAN_LIMITS, plan } from './plan.js';

const base = {
  kind: 'funnel',
  from: '2024-03-01',
  to: '2024-03-07',
  steps: [{ event: 'A' }, { event: 'B' }, { event: 'C' }],
  window_seconds: 3600,
};
const ctx = { projectId: 'p', timezone: 'Europe/Paris', limits: DEFAULT_PLAN_LIMITS };

function refusal(body: Record<string, unknown>): AppError {
  try {
    compileClickHouse(plan(parseQuery({ ...base, ...body }), ctx));
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('compiled');
}

describe('ClickHouse and the funnel options', () => {
  it.each([
    [{ exclusions: [{ event: 'X' }] }, 'exclusions'],
    [{ order: 'any' }, 'order "any"'],
    [{ hold_constant: ['$browser'] }, 'hold_constant'],
    [{ conversion_over_time: 'day' }, 'conversion_over_time'],
  ])('refuses %j with 501 QUERY_UNSUPPORTED naming it', (option, name) => {
    const error = refusal(option);
    expect(error.code).toBe('QUERY_UNSUPPORTED');
    expect(error.status).toBe(501);
    expect(error.message).toContain(name);
  });
});
