// ClickHouse compiles every funnel option (issue 12) into one statement of 18.16's shapes: no CTE,
// no window function, no ASOF join (those would fail to render: the dialect throws on them). The
// answers are checked against DuckDB by store/clickhouse/differential.test.ts.
import { describe, expect, it } from 'vitest';
import { CLICKHOUSE_DIALECT } from '../store/clickhouse/dialect.js';
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

function rendered(body: Record<string, unknown>): string[] {
  const compiled = compileClickHouse(plan(parseQuery({ ...base, ...body }), ctx));
  return compiled.statements.map((s) => {
    if (!('sql' in s)) throw new Error('a funnel is one plain statement');
    return CLICKHOUSE_DIALECT.render(s.sql).text;
  });
}

describe('ClickHouse and the funnel options', () => {
  it.each([
    [{}, 'arrayFirstIndex'],
    [{ exclusions: [{ event: 'X', after_step: 0, before_step: 2 }] }, 'arrayExists'],
    [{ order: 'any' }, 'arraySort(arrayFilter(x -> x > t1'],
    [{ hold_constant: ['$browser', 'plan'] }, "'|'"],
    [{ conversion_over_time: 'day' }, 'LIMIT 1 BY uid, bucket'],
  ])('compiles %j for 18.16', (option, marker) => {
    const [text, ...more] = rendered(option);
    expect(more).toEqual([]);
    expect(text).toContain(marker);
    expect(text).not.toMatch(/\bOVER\s*\(|\bASOF\b|^WITH\s+\w+\s+AS\s*\(/i);
  });

  it('refuses a plan field it does not read (an option added later) with 501 naming it', () => {
    const planned = plan(parseQuery(base), ctx);
    try {
      compileClickHouse({ ...planned, laterOption: true } as unknown as typeof planned);
      expect.unreachable('compiled');
    } catch (error) {
      expect(error).toMatchObject({ code: 'QUERY_UNSUPPORTED', status: 501 });
      expect((error as Error).message).toContain('laterOption');
    }
  });

  it('keeps each value a literal of the one escaping function', () => {
    const [text] = rendered({ steps: [{ event: "it's" }, { event: 'B\\' }] });
    expect(text).toContain(String.raw`'it\'s'`);
    expect(text).toContain(String.raw`'B\\'`);
  });
});
