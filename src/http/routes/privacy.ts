// Privacy API: report, policy (with its change record), pseudonym matching and subject erasure.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { pseudonymsFor } from '../../privacy/index.js';
import {
  eraseSubject,
  getPolicy,
  policyHistory,
  privacyReport,
  setPolicy,
  type PrivacyOperationsDeps,
} from '../../projects/privacy-operations.js';
import { parseJsonRecords } from '../../ingest/wire/index.js';
import { AppError } from '../../shared/errors.js';
import { authenticateProject } from '../auth.js';

const MAX_DEPTH = 16;

/** Parses a JSON object body with the same safe parser as ingest (no prototype keys, bounded). */
export function jsonBody(request: FastifyRequest): unknown {
  const body = Buffer.isBuffer(request.body) ? request.body.toString('utf8') : '';
  if (body.trim() === '') throw new AppError('QUERY_INVALID', 'a JSON body is required');
  const [value, ...rest] = parseJsonRecords(body, MAX_DEPTH, 'request body');
  if (rest.length > 0 || value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new AppError('QUERY_INVALID', 'the request body must be one JSON object');
  }
  return value;
}

const eraseSchema = z.strictObject({ user: z.string().min(1).max(1024) });
const pseudonymSchema = z.strictObject({
  ids: z.array(z.string().max(1024)).min(1).max(10_000),
  group_key: z.string().max(255).optional(),
});

function validated<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AppError(
      'QUERY_INVALID',
      `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

export function registerPrivacyRoutes(app: FastifyInstance, deps: PrivacyOperationsDeps): void {
  const base = '/api/v1/projects/:projectId/privacy';
  const projectIdOf = (request: FastifyRequest): string =>
    (request.params as { projectId: string }).projectId;

  app.get(`${base}/report`, async (request) => {
    const projectId = projectIdOf(request);
    await authenticateProject(request, deps.projects, projectId);
    const q = request.query as { from?: string; to?: string };
    return privacyReport(deps, projectId, { from: q.from, to: q.to });
  });

  app.get(`${base}/policy`, async (request) => {
    const projectId = projectIdOf(request);
    await authenticateProject(request, deps.projects, projectId);
    return { policy: await getPolicy(deps, projectId) };
  });

  app.put(`${base}/policy`, async (request) => {
    const projectId = projectIdOf(request);
    const principal = await authenticateProject(request, deps.projects, projectId);
    return setPolicy(deps, projectId, jsonBody(request), principal.actor);
  });

  app.get(`${base}/policy/history`, async (request) => {
    const projectId = projectIdOf(request);
    await authenticateProject(request, deps.projects, projectId);
    return { changes: await policyHistory(deps, projectId) };
  });

  app.post(`${base}/pseudonyms`, async (request) => {
    const projectId = projectIdOf(request);
    await authenticateProject(request, deps.projects, projectId);
    const body = validated(pseudonymSchema, jsonBody(request));
    const project = await deps.projects.byId(projectId);
    if (!project) throw new AppError('PROJECT_NOT_FOUND', 'no such project');
    return { matches: pseudonymsFor(project.keyring, body.ids, body.group_key) };
  });

  app.post(`${base}/erase`, async (request) => {
    const projectId = projectIdOf(request);
    await authenticateProject(request, deps.projects, projectId);
    const body = validated(eraseSchema, jsonBody(request));
    return eraseSubject(deps, projectId, body.user);
  });
}
