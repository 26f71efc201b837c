// The funnel options as the model reads them (issue 12): defaults, step indexes, limits.
import { describe, expect, it } from 'vitest';
import { parseQuery, type FunnelQuery } from './model.js';

const base = {
  kind: 'funnel',
  from: '2024-03-01',
  to: '2024-03-07',
  steps: [{ event: 'A' }, { event: 'B' }, { event: 'C' }],
  window_seconds: 3600,
};
const parse = (extra: Record<string, unknown>) => parseQuery({ ...base, ...extra }) as FunnelQuery;

describe('funnel options', () => {
  it('defaults to sequential, no exclusions, nothing held, no conversion over time', () => {
    const q = parse({});
    expect(q.order).toBe('strict');
    expect(q.exclusions).toEqual([]);
    expect(q.holdConstant).toEqual([]);
    expect(q.conversionInterval).toBeNull();
  });

  it('lets an exclusion span the whole funnel unless its steps are given', () => {
    const q = parse({
      exclusions: [{ event: 'X' }, { event: 'Y', after_step: 1 }, { event: 'Z', before_step: 1 }],
    });
    expect(q.exclusions.map((x) => [x.event, x.afterStep, x.beforeStep])).toEqual([
      ['X', 0, 2],
      ['Y', 1, 2],
      ['Z', 0, 1],
    ]);
  });

  it('refuses bad options, naming each', () => {
    const paths = (extra: Record<string, unknown>): string[] => {
      try {
        parse(extra);
      } catch (error) {
        return (error as { details: { path: string }[] }).details.map((d) => d.path);
      }
      return [];
    };
    expect(paths({ exclusions: [{ event: 'X', after_step: 2 }] })).toEqual([
      'exclusions.0.after_step',
    ]);
    expect(paths({ exclusions: [{ event: 'X', after_step: -1 }] })).toEqual([
      'exclusions.0.after_step',
    ]);
    expect(paths({ exclusions: Array.from({ length: 6 }, () => ({ event: 'X' })) })).toEqual([
      'exclusions',
    ]);
    expect(paths({ hold_constant: [] })).toEqual(['hold_constant']);
    expect(paths({ hold_constant: ['a', 'b', 'c', 'd'] })).toEqual(['hold_constant']);
    expect(paths({ hold_constant: ['distinct_id'] })).toEqual(['hold_constant.0']);
    expect(paths({ order: 'reverse' })).toEqual(['order']);
  });
});
