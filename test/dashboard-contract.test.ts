// The dashboard's API calls (web/app/api/operations.ts) against the server's OpenAPI document:
// every operation the app makes must exist with its method and path, under the same route id,
// and declare what it answers (a JSON schema, or 204) and the error envelope — as must every
// other route of /api/v1 (a JSON schema, a text media type, or 204); and the types the
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

/**
 * What `op` fails to declare: one success status, with a schema for each media type it answers
 * (a JSON schema when `json`; a route answering only text, e.g. NDJSON, otherwise) or a 204
 * without content; and the shared error envelope.
 */
function declarationProblems(id: string, op: Operation, options: { json: boolean }): string[] {
  const out: string[] = [];
  const success = Object.keys(op.responses).filter((k) => /^2\d\d$/.test(k));
  if (success.length !== 1) out.push(`${id}: ${success.length} success statuses`);
  const status = success[0] ?? '';
  const content = op.responses[status]?.content;
  if (status === '204') {
    if (content !== undefined) out.push(`${id}: 204 with content`);
  } else if (options.json && content?.['application/json']?.schema === undefined) {
    out.push(`${id}: no ${status} JSON schema`);
  } else if (
    Object.keys(content ?? {}).length === 0 ||
    Object.values(content ?? {}).some((c) => c.schema === undefined)
  ) {
    out.push(`${id}: no ${status} schema`);
  }
  const error = op.responses.default?.content?.['application/json']?.schema;
  if (JSON.stringify(error) !== '{"$ref":"#/components/schemas/Error"}')
    out.push(`${id}: no error envelope`);
  return out;
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
      undeclared.push(...declarationProblems(id, op, { json: true }));
    }
    expect(undeclared).toEqual([]);
  });

  it('describes the whole /api/v1: every route declares its answer and its errors', () => {
    const undeclared: string[] = [];
    let routes = 0;
    for (const [path, methods] of Object.entries(doc.paths)) {
      if (!path.startsWith('/api/v1/')) continue;
      for (const op of Object.values(methods)) {
        routes++;
        undeclared.push(...declarationProblems(op.operationId, op, { json: false }));
      }
    }
    expect(undeclared).toEqual([]);
    expect(routes).toBeGreaterThan(Object.keys(OPERATIONS).length);
  });

  it('is compiled against the types generated from this document (npm run generate:api)', async () => {
    const fresh = await apiTypesSource(doc);
    const checkedIn = fs.readFileSync(API_TYPES_FILE, 'utf8');
    expect(checkedIn === fresh, 'web/app/api/schema.d.ts is stale: run npm run generate:api').toBe(
      true,
    );
  });
});
