// The query side attacked by a tenant (and the API bodies by anyone), over real HTTP against a
// real server and DuckDB store: bodies too large to parse on the thread serving HTTP are refused
// before parsing, malformed bodies answer the route's own error code, a statement whose deadline
// passed is not started, and one project flooding the query queue leaves room for another.
// bench/query-abuse.ts measures the same attacks on a store of 10M events.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_FILTER_VALUES } from '../src/query/engine.js';
import { DEFAULT_MAX_API_BODY_BYTES } from '../src/shared/config.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

let s: InProcess;

beforeAll(async () => {
  s = await startInProcess();
  const events = [1, 2, 3].map((i) => ({
    event: 'Page View',
    properties: {
      token: s.project.token,
      time: Date.parse('2025-03-10T09:00:00Z') / 1000 + i,
      distinct_id: `user-${i}`,
      $browser: 'Chrome',
      $insert_id: `e${i}`,
    },
  }));
  const res = await fetch(`${s.server.url}/import`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`${s.project.secret}:`).toString('base64')}`,
    },
    body: JSON.stringify(events),
  });
  expect(res.status).toBe(200);
  await s.server.runtime.events.flush();
});

afterAll(async () => {
  await s.close();
});

interface Answer {
  status: number;
  body: { error?: { code: string; message: string } };
}

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${s.server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

const queryPath = () => `/api/v1/projects/${s.project.project_id}/query`;
const asTenant = () => ({ authorization: `Bearer ${s.project.secret}` });

/** A JSON object of `bytes` bytes that is cheap to build and costly to parse (nested arrays). */
function nestedArrays(bytes: number): string {
  const unit = '[[[[[[[[[[[[1]]]]]]]]]]]]';
  return `{"kind":[${Array(Math.ceil(bytes / (unit.length + 1)))
    .fill(unit)
    .join(',')}]}`;
}

describe('API request bodies', () => {
  it('refuses a body over SILLAGE_MAX_API_BODY_BYTES with 413 before parsing it, signed in or not', async () => {
    const body = nestedArrays(DEFAULT_MAX_API_BODY_BYTES + 1024);
    // The sign-in route needs no credential: anyone could make the server parse this.
    const login = await post('/api/v1/auth/login', body);
    expect(login.status).toBe(413);
    expect(login.body.error?.code).toBe('REQUEST_TOO_LARGE');
    expect(login.body.error?.message).toContain(`${DEFAULT_MAX_API_BODY_BYTES} bytes`);
    const query = await post(queryPath(), body, asTenant());
    expect(query.status).toBe(413);
    expect(query.body.error?.code).toBe('REQUEST_TOO_LARGE');
  });

  it('still reads a body under the limit (and says what is wrong with it)', async () => {
    const query = await post(
      queryPath(),
      nestedArrays(DEFAULT_MAX_API_BODY_BYTES - 1024),
      asTenant(),
    );
    expect(query.status).toBe(400);
    expect(query.body.error?.code).toBe('QUERY_INVALID');
  });

  it("answers malformed query bodies with the query route's own code", async () => {
    const cases = [
      '{"kind":"trends",', // not JSON
      `{"kind":${'['.repeat(40)}${']'.repeat(40)}}`, // too deep
      '{"kind":"trends","__proto__":{"x":1}}', // a forbidden key
      '{"kind":"trends"}\n{"kind":"trends"}', // two values
    ];
    for (const body of cases) {
      const res = await post(queryPath(), body, asTenant());
      expect({ body, status: res.status, code: res.body.error?.code }).toEqual({
        body,
        status: 400,
        code: 'QUERY_INVALID',
      });
    }
  });
});

describe('query work on the thread serving HTTP', () => {
  /** A trends query whose filters hold `n` values in lists of 1,000 (`not_in` Chrome-free). */
  const withValues = (n: number) => ({
    kind: 'trends',
    from: '2025-03-10',
    to: '2025-03-10',
    interval: 'day',
    series: [
      {
        event: 'Page View',
        filters: Array.from({ length: Math.ceil(n / 1000) }, (_, f) => ({
          property: '$browser',
          op: 'not_in',
          value: Array.from({ length: Math.min(1000, n - f * 1000) }, (_, i) => `b${f}-${i}`),
        })),
      },
    ],
  });

  it('refuses more filter values than MAX_FILTER_VALUES in one query, naming the limit', async () => {
    const res = await post(
      queryPath(),
      JSON.stringify(withValues(MAX_FILTER_VALUES + 1)),
      asTenant(),
    );
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('QUERY_INVALID');
    expect(res.body.error?.message).toContain(`at most ${MAX_FILTER_VALUES} filter values`);
  });

  it('answers a query holding MAX_FILTER_VALUES of them', async () => {
    const res = await post(queryPath(), JSON.stringify(withValues(MAX_FILTER_VALUES)), asTenant());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ series: [{ total: 3 }] });
  });
});
