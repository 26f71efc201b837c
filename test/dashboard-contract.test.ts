// The dashboard's API calls (web/app/api/operations.ts) against the server's OpenAPI document:
// every operation the app makes must exist with its method and path, under the same route id.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATIONS } from '../web/app/api/operations.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

describe('dashboard API contract', () => {
  let s: InProcess;
  beforeAll(async () => {
    s = await startInProcess();
  });
  afterAll(async () => {
    await s.close();
  });

  it('calls only routes the server declares, with their ids', async () => {
    const res = await fetch(`${s.server.url}/api/v1/openapi.json`);
    const doc = (await res.json()) as {
      paths: Record<string, Record<string, { operationId: string }>>;
    };
    const missing: string[] = [];
    for (const [id, [method, path]] of Object.entries(OPERATIONS)) {
      const op = doc.paths[path]?.[method.toLowerCase()];
      if (op?.operationId !== id) missing.push(`${id}: ${method} ${path}`);
    }
    expect(missing).toEqual([]);
    expect(Object.keys(OPERATIONS).length).toBeGreaterThan(20);
  });
});
