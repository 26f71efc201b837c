// Queries over a set of event names bound the scan by the least and greatest of them as well
// (compile.ts eventAmong): in UTF-8 byte order, DuckDB's for text. Here names whose UTF-16 order
// (JavaScript's sort) is the reverse of their UTF-8 order — "Ａ" (U+FF21) after "😀" (U+1F600)
// in UTF-16, before it in UTF-8 — so a bound in the wrong order would leave nothing between.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  importEvent,
  importWithPlans,
  postQuery,
  startInProcess,
  type InProcess,
} from './helpers/inprocess.js';

let s: InProcess;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const DAY = dayOf(Date.now() - 2 * 86_400_000);
const at = (mm: number) => Date.parse(`${DAY}T10:${String(mm).padStart(2, '0')}:00Z`) / 1000;
const A = 'Ａ';
const SMILE = '😀';

beforeAll(async () => {
  s = await startInProcess();
  let n = 0;
  const e = (event: string, who: string, minute: number) =>
    importEvent(s, event, who, at(minute), `o${n++}`);
  await importWithPlans(
    s,
    [
      e(A, 'u1', 0),
      e(SMILE, 'u1', 5),
      e(SMILE, 'u2', 0),
      e(A, 'u2', 5),
      e(A, 'u3', 0),
      e('B', 'u4', 0),
    ],
    [],
  );
});

afterAll(async () => {
  await s.close();
});

describe('a query over several event names', () => {
  const funnel = async (steps: string[]) => {
    const res = await postQuery(s, {
      kind: 'funnel',
      from: DAY,
      to: DAY,
      steps: steps.map((event) => ({ event })),
      window_seconds: 3600,
    });
    expect(res.statusCode).toBe(200);
    return (res.json().steps as { count: number }[]).map((x) => x.count);
  };

  it('finds every step whichever way the names sort in UTF-16 and UTF-8', async () => {
    expect(await funnel([A, SMILE])).toEqual([3, 1]);
    expect(await funnel([SMILE, A])).toEqual([2, 1]);
  });

  it('counts the cohort of a retention whose start and return events are such names', async () => {
    const res = await postQuery(
      s,
      { kind: 'retention', from: DAY, to: DAY, start_event: A, return_event: SMILE, periods: 1 },
      { accept: 'text/csv' },
    );
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(new RegExp(`^start,size,period_0,period_1\\r\\n${DAY},3,3,0\\r\\n$`));
  });
});
