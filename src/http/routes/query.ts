// Query API: POST /api/v1/projects/{id}/query (trends, funnel, retention, discovery kinds) and
// GET shortcuts for discovery. Authenticated by the project's secret key; every request goes
// through QueryEngine.run, the one place where reads are validated, limited and recorded.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ProjectDirectory } from '../../projects/index.js';
import type { QueryEngine } from '../../query/index.js';
import { AppError } from '../../shared/errors.js';
import { authenticateProject } from '../auth.js';
import { jsonBody } from './privacy.js';

export interface QueryRouteDeps {
  projects: ProjectDirectory;
  queries: QueryEngine;
}

type QueryString = Record<string, string | undefined>;

/** A numeric query-string value as a number (validation reports a wrong one by name). */
const numberParam = (value: string | undefined): number | undefined =>
  value === undefined ? undefined : Number(value);

export function registerQueryRoutes(app: FastifyInstance, deps: QueryRouteDeps): void {
  const base = '/api/v1/projects/:projectId';

  /** Authenticates, then answers `body` as a query of the project. */
  async function answer(request: FastifyRequest, body: () => unknown): Promise<unknown> {
    const projectId = (request.params as { projectId: string }).projectId;
    const principal = await authenticateProject(request, deps.projects, projectId);
    const project = await deps.projects.byId(projectId);
    if (!project) throw new AppError('PROJECT_NOT_FOUND', 'no such project');
    return deps.queries.run(
      principal,
      { id: project.project.id, timezone: project.project.timezone },
      body(),
    );
  }

  app.post(`${base}/query`, (request) => answer(request, () => jsonBody(request)));

  // Discovery for the dashboard: the same queries as the `event_names`, `event_properties` and
  // `property_values` kinds, with their fields as query-string parameters.
  app.get(`${base}/events`, (request) =>
    answer(request, () => {
      const q = request.query as QueryString;
      return { kind: 'event_names', from: q.from, to: q.to, limit: numberParam(q.limit) };
    }),
  );

  app.get(`${base}/properties`, (request) =>
    answer(request, () => {
      const q = request.query as QueryString;
      return {
        kind: 'event_properties',
        event: q.event,
        from: q.from,
        to: q.to,
        limit: numberParam(q.limit),
      };
    }),
  );

  app.get(`${base}/properties/values`, (request) =>
    answer(request, () => {
      const q = request.query as QueryString;
      return {
        kind: 'property_values',
        property: q.property,
        event: q.event,
        from: q.from,
        to: q.to,
        limit: numberParam(q.limit),
      };
    }),
  );
}
