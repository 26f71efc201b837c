// Compilation: request values only ever travel as bound parameters; identity joins appear only
// where users are counted; the DuckDB rendering numbers its placeholders in order.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DUCKDB_DIALECT } from '../store/duckdb/dialect.js';
import { compile } from './compile.js';
import { parseQuery } from './model.js';
import { DEFAULT_PLAN_LIMITS, plan } from './plan.js';

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() % 2 ** 31;

const render = (body: unknown, timezone = 'UTC') =>
  compile(
    plan(parseQuery(body), { projectId: 'prj_x', timezone, limits: DEFAULT_PLAN_LIMITS }),
  ).statements.map((s) => DUCKDB_DIALECT.render('sql' in s ? s.sql : s.build(new Map())));

describe(`compile (FC_SEED=${SEED})`, () => {
  it('never puts a request value into the SQL text', () => {
    // A marker makes every generated value impossible to find in the SQL by accident.
    const value = fc.string({ minLength: 1, maxLength: 20, unit: 'binary' }).map((s) => `ZQ${s}`);
    fc.assert(
      fc.property(
        value,
        value,
        value,
        value,
        fc.constantFrom('trends', 'funnel', 'retention', 'property_values'),
        (event, key, text, other, kind) => {
          const filters = [
            { property: key, op: 'eq', value: text },
            { property: key, op: 'in', value: [text, other] },
            { property: key, op: 'contains', value: other },
          ];
          const body =
            kind === 'trends'
              ? {
                  kind,
                  from: '2025-01-01',
                  to: '2025-01-02',
                  series: [{ event, math: 'sum', property: key, filters }],
                  filters,
                  breakdown: key,
                }
              : kind === 'funnel'
                ? {
                    kind,
                    from: '2025-01-01',
                    to: '2025-01-02',
                    steps: [{ event, filters }, { event: other }],
                    window_seconds: 60,
                    breakdown: key,
                  }
                : kind === 'retention'
                  ? {
                      kind,
                      from: '2025-01-01',
                      to: '2025-01-02',
                      start_event: event,
                      return_event: other,
                      periods: 3,
                      filters,
                    }
                  : { kind, property: key, event };
          for (const statement of render(body, 'Europe/Paris')) {
            for (const v of [event, key, text, other]) expect(statement.text).not.toContain(v);
            const bound = statement.params.map((p) => p.value);
            expect(bound).toContain(
              kind === 'property_values' || kind === 'trends' || kind === 'funnel' ? key : event,
            );
          }
        },
      ),
      { seed: SEED, numRuns: 100 },
    );
  });

  it('binds dates, names and numbers; numbers its placeholders in order', () => {
    const [statement] = render({
      kind: 'trends',
      from: '2025-01-01',
      to: '2025-01-31',
      series: [{ event: "it's", filters: [{ property: 'n', op: 'gt', value: 3.5 }] }],
    });
    expect(statement!.params).toEqual(
      expect.arrayContaining([
        { type: 'varchar', value: "it's" },
        { type: 'double', value: 3.5 },
        { type: 'varchar', value: 'n' },
        { type: 'timestamp', value: Date.parse('2025-01-01T00:00:00Z') },
        { type: 'timestamp', value: Date.parse('2025-02-01T00:00:00Z') },
      ]),
    );
    const placeholders = [...statement!.text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
    expect(new Set(placeholders)).toEqual(new Set(statement!.params.map((_, i) => i + 1)));
  });

  it('counts users by the resolved person column, never joining the identity links', () => {
    const base = { kind: 'trends', from: '2025-01-01', to: '2025-01-02' };
    expect(render({ ...base, series: [{ event: 'a' }] })[0]!.text).not.toContain('identity_links');
    expect(
      render({ ...base, series: [{ event: 'a', math: 'avg', property: 'x' }] })[0]!.text,
    ).not.toContain('identity_links');
    const users = render({ ...base, series: [{ event: 'a', math: 'unique_users' }] })[0]!.text;
    expect(users).toContain('e.person_id');
    expect(users).not.toContain('identity_links');
    expect(render({ kind: 'event_names' })[0]!.text).not.toContain('identity_links');
  });

  it('checks local dates per row only where the zone changes offset', () => {
    const base = { kind: 'trends', from: '2025-01-01', to: '2025-01-02', series: [{}] };
    expect(render(base, 'Asia/Tokyo')[0]!.text).not.toContain('BETWEEN');
    expect(
      render({ ...base, from: '2025-03-29', to: '2025-03-31' }, 'Europe/Paris')[0]!.text,
    ).toContain('BETWEEN');
  });

  it('compiles one statement per series', () => {
    expect(
      render({ kind: 'trends', from: '2025-01-01', to: '2025-01-02', series: [{}, {}, {}] }),
    ).toHaveLength(3);
  });
});
