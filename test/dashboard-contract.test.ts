// The dashboard's API calls (web/app/api/operations.ts) against the server's OpenAPI document:
// every operation the app makes must exist with its method and path, under the same route id,
// and declare what it answers (a JSON schema, or 204) and the error envelope; and the types the
// dashboard is compiled against (web/app/api/schema.d.ts) must be those generated from it.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TYPES_FILE, apiTypesSource } from '../scripts/api-types.js';
import { OPERATIONS } from '../web/app/api/operations.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

interface Operation {
  operationId: string;
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
}

describe('dashboard API contract', () => {
  let s: InProcess;
  let doc: Document;
  beforeAll(async () => {
    s = await startInProcess();
    const res = await fetch(`${s.server.url}/api/v1/openapi.json`);
    doc = (await res.json()) as Document;
  });
  afterAll(async () => {
    await s.close();
  });

  it('calls only routes the server declares, with their ids', () => {
    const missing: string[] = [];
    for (const [id, [method, path]] of Object.entries(OPERATIONS)) {
      const op = doc.paths[path]?.[method.toLowerCase()];
      if (op?.operationId !== id) missing.push(`${id}: ${method} ${path}`);
    }
    expect(missing).toEqual([]);
    expect(Object.keys(OPERATIONS).length).toBeGreaterThan(20);
  });

  it('calls only routes that declare their answer and their errors', () => {
    const undeclared: string[] = [];
    for (const [id, [method, path]] of Object.entries(OPERATIONS)) {
      const op = doc.paths[path]?.[method.toLowerCase()];
      if (!op) continue; // reported by the test above
      const success = Object.keys(op.responses).filter((k) => /^2\d\d$/.test(k));
      if (success.length !== 1) undeclared.push(`${id}: ${success.length} success statuses`);
      const status = success[0] ?? '';
      const json = op.responses[status]?.content?.['application/json']?.schema;
      if (status !== '204' && json === undefined) undeclared.push(`${id}: no ${status} schema`);
      if (status === '204' && op.responses[status]?.content !== undefined)
        undeclared.push(`${id}: 204 with content`);
      const error = op.responses.default?.content?.['application/json']?.schema;
      if (JSON.stringify(error) !== '{"$ref":"#/components/schemas/Error"}')
        undeclared.push(`${id}: no error envelope`);
    }
    expect(undeclared).toEqual([]);
  });

  it('is compiled against the types generated from this document (npm run generate:api)', async () => {
    const fresh = await apiTypesSource(doc);
    const checkedIn = fs.readFileSync(API_TYPES_FILE, 'utf8');
    expect(checkedIn === fresh, 'web/app/api/schema.d.ts is stale: run npm run generate:api').toBe(
      true,
    );
  });
});
