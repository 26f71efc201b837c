// Planning: properties resolve to columns or JSON keys; date ranges become exact scans when the
// zone's offset is constant; result-size limits are checked before anything runs.
import { describe, expect, it } from 'vitest';
import { AppError } from '../shared/errors.js';
import { parseQuery } from './model.js';
import {
  DEFAULT_PLAN_LIMITS,
  plan,
  resolveProperty,
  type RetentionPlan,
  type TrendsPlan,
} from './plan.js';

const ctx = (timezone = 'UTC') => ({ projectId: 'p', timezone, limits: DEFAULT_PLAN_LIMITS });
const trends = (extra: Record<string, unknown> = {}, timezone = 'UTC') =>
  plan(
    parseQuery({ kind: 'trends', from: '2024-03-01', to: '2024-03-31', series: [{}], ...extra }),
    ctx(timezone),
  ) as TrendsPlan;

describe('plan', () => {
  it('resolves Mixpanel names to columns, everything else to the JSON bag', () => {
    expect(resolveProperty('$browser')).toEqual({
      kind: 'column',
      name: '$browser',
      column: 'browser',
    });
    expect(resolveProperty('mp_country_code')).toMatchObject({ column: 'country_code' });
    expect(resolveProperty('$country_code')).toMatchObject({ column: 'country_code' });
    expect(resolveProperty('$lib')).toMatchObject({ column: 'lib' });
    expect(resolveProperty('utm_term')).toMatchObject({ column: 'utm_term' });
    expect(resolveProperty('toString')).toEqual({
      kind: 'json',
      name: 'toString',
      key: 'toString',
    });
    expect(resolveProperty('a.b/c')).toEqual({ kind: 'json', name: 'a.b/c', key: 'a.b/c' });
  });

  it('scans exactly the range when the offset is constant', () => {
    const p = trends({}, 'Asia/Kolkata');
    expect(p.scope.exact).toBe(true);
    expect(p.scope.scanFromMs).toBe(Date.parse('2024-03-01T00:00:00+05:30'));
    expect(p.scope.scanToMs).toBe(Date.parse('2024-04-01T00:00:00+05:30'));
  });

  it('widens the scan and checks local dates when the offset changes', () => {
    const p = trends({}, 'Europe/Paris');
    expect(p.scope.exact).toBe(false);
    expect(p.scope.scanFromMs).toBeLessThan(Date.parse('2024-03-01T00:00:00+01:00'));
    expect(p.scope.scanToMs).toBeGreaterThan(Date.parse('2024-04-01T00:00:00+02:00'));
    expect(p.scope.clock.segments).toHaveLength(2);
  });

  it('counts buckets per interval', () => {
    const count = (p: TrendsPlan) => p.lastBucket - p.firstBucket + 1;
    expect(count(trends())).toBe(31);
    expect(count(trends({ interval: 'hour' }))).toBe(31 * 24);
    expect(count(trends({ interval: 'week' }))).toBe(5); // Feb 26 … Mar 25
    expect(count(trends({ interval: 'month' }))).toBe(1);
  });

  it('extends retention scans to the last cohort’s last period', () => {
    const p = plan(
      parseQuery({
        kind: 'retention',
        from: '2024-03-01',
        to: '2024-03-31',
        start_event: 'a',
        return_event: 'b',
        period: 'week',
        periods: 4,
      }),
      ctx(),
    ) as RetentionPlan;
    expect(p.lastCohort - p.firstCohort + 1).toBe(5);
    expect(p.returnScanToMs).toBeGreaterThanOrEqual(Date.parse('2024-04-22T00:00:00Z'));
  });

  it('refuses results above the cell limit before running', () => {
    const attempt = () =>
      trends({
        from: '2020-01-01',
        to: '2024-12-31',
        interval: 'hour',
        series: [{}, {}, {}],
        breakdown: '$os',
        breakdown_limit: 100,
      });
    expect(attempt).toThrow(AppError);
    expect(attempt).toThrow(/cells/);
  });

  it('counts a formula’s rows (per segment, and over the whole series) in the cells', () => {
    // 700 days × 2 series × 100 rows = 140,000 cells; the formula adds 101 rows: 210,700.
    const query = {
      from: '2022-01-01',
      to: '2023-12-01',
      series: [{}, {}],
      breakdown: '$os',
      breakdown_limit: 98,
    };
    expect(() => trends(query)).not.toThrow();
    expect(() => trends({ ...query, formula: 'B / A' })).toThrow(/210700 cells/);
  });
});
