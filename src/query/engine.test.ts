// The choke point: every query is recorded (who, what, rows, outcome), valid or not; the
// deadline handed to the executor is the start plus the time limit; a failed record fails the query.
import { describe, expect, it } from 'vitest';
import { AppError } from '../shared/errors.js';
import { DUCKDB_DIALECT } from '../store/duckdb/dialect.js';
import { QueryEngine, type QueryAuditEntry } from './engine.js';
import type { QueryExecutor, RunOptions } from './execute.js';

const principal = { projectId: 'p1', actor: 'secret-key:abc' };
const project = { id: 'p1', timezone: 'UTC' };
const trends = { kind: 'trends', from: '2025-01-01', to: '2025-01-02', series: [{ event: 'a' }] };

function setup(executor: QueryExecutor, failAudit = false) {
  const entries: QueryAuditEntry[] = [];
  let clock = 1_000;
  const engine = new QueryEngine({
    executor,
    dialect: DUCKDB_DIALECT,
    audit: {
      record: (e) => {
        if (failAudit) throw new Error('audit store down');
        entries.push({ ...e });
      },
    },
    limits: { timeoutMs: 5_000 },
    now: () => (clock += 10),
  });
  return { engine, entries };
}

const rowsExecutor = (calls: RunOptions[]): QueryExecutor => ({
  run: (_statement, options) => {
    calls.push(options);
    return Promise.resolve({
      columns: ['is_total', 'bucket', 'value'],
      rows: [
        [1, null, 7n],
        [0, 20089, 7n],
      ],
    });
  },
});

describe('QueryEngine', () => {
  it('answers and records who asked what and how many rows came back', async () => {
    const calls: RunOptions[] = [];
    const { engine, entries } = setup(rowsExecutor(calls));
    const result = await engine.run(principal, project, trends);
    expect(result).toMatchObject({ series: [{ total: 7 }] });
    expect(entries).toEqual([
      expect.objectContaining({
        actor: 'secret-key:abc',
        projectId: 'p1',
        kind: 'trends',
        rows: 2,
        outcome: 'ok',
        durationMs: 10,
      }),
    ]);
    expect(entries[0]!.query).toMatchObject({ kind: 'trends', series: [{ event: 'a' }] });
    expect(calls[0]!.deadlineMs).toBe(1_010 + 5_000);
  });

  it('records invalid queries and failures with their code', async () => {
    const { engine, entries } = setup({
      run: () => Promise.reject(new AppError('QUERY_TIMEOUT', 'the query ran past its time limit')),
    });
    await expect(engine.run(principal, project, { kind: 'nope' })).rejects.toMatchObject({
      code: 'QUERY_INVALID',
    });
    await expect(engine.run(principal, project, trends)).rejects.toMatchObject({
      code: 'QUERY_TIMEOUT',
    });
    expect(entries.map((e) => [e.kind, e.outcome])).toEqual([
      [null, 'QUERY_INVALID'],
      ['trends', 'QUERY_TIMEOUT'],
    ]);
  });

  it('refuses a principal of another project, on the record', async () => {
    const { engine, entries } = setup(rowsExecutor([]));
    await expect(
      engine.run({ ...principal, projectId: 'p2' }, project, trends),
    ).rejects.toMatchObject({ code: 'AUTH_FORBIDDEN' });
    expect(entries[0]!.outcome).toBe('AUTH_FORBIDDEN');
  });

  it('releases nothing when the record cannot be written', async () => {
    const { engine } = setup(rowsExecutor([]), true);
    await expect(engine.run(principal, project, trends)).rejects.toThrow('audit store down');
  });

  it('gives later statements of a query what is left of the row budget', async () => {
    const calls: RunOptions[] = [];
    const { engine } = setup(rowsExecutor(calls));
    await engine.run(principal, project, { ...trends, series: [{}, {}] });
    expect(calls.map((c) => c.maxRows)).toEqual([1_000_000, 999_998]);
  });

  it('runs every statement of a query as its project (executors share connections by it)', async () => {
    const calls: RunOptions[] = [];
    const { engine } = setup(rowsExecutor(calls));
    await engine.run(principal, project, { ...trends, series: [{}, {}] });
    expect(calls.map((c) => c.source)).toEqual(['p1', 'p1']);
  });
});
