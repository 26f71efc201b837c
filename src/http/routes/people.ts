// People API: one pseudonymous user (profile, event stream), on the record, and saved cohorts.
// Identity reveal stays in projects.ts behind the vault and a step-up; these routes return
// pseudonyms only.
import { z } from 'zod';
import type { AuditPort } from '../../audit/index.js';
import {
  cohortView,
  createCohort,
  deleteCohort,
  requireCohort,
  updateCohort,
} from '../../projects/cohorts.js';
import type { ProjectDirectory } from '../../projects/index.js';
import { readUserEvents, readUserProfile, userEventsOptions } from '../../projects/users.js';
import type { CohortSizeResult, QueryEngine } from '../../query/index.js';
import { AppError } from '../../shared/errors.js';
import type { MetaStore } from '../../store/types.js';
import { defineRoute, type ApiRoute, type RouteContext } from '../api/registry.js';
import {
  cohortResponse,
  cohortSizeResult,
  cohortsResponse,
  userEventsResponse,
  userProfileResponse,
} from '../api/responses.js';

export interface PeopleRouteDeps {
  projects: ProjectDirectory;
  queries: QueryEngine;
  audit: AuditPort;
  meta: MetaStore;
  now: () => number;
}

/** Who acts and from where (the address stays in memory; the audit log keeps a network HMAC). */
function actorOf(ctx: RouteContext<unknown>) {
  if (!ctx.principal) throw new AppError('AUTH_REQUIRED', 'sign in first');
  return {
    actor: ctx.principal.actor,
    source: { kind: 'http' as const, ip: ctx.client.ip, place: ctx.client.place },
  };
}

async function projectIdOf(ctx: RouteContext<unknown>, projects: ProjectDirectory) {
  const project = await projects.byId(ctx.params.projectId ?? '');
  if (!project) throw new AppError('PROJECT_NOT_FOUND', 'no such project');
  return project.project.id;
}

/** A user id in the path: a pseudonymous distinct id, device id or user id. */
function userIdOf(ctx: RouteContext<unknown>): string {
  const id = ctx.params.userId ?? '';
  if (id.length === 0 || id.length > 255)
    throw new AppError('REQUEST_INVALID', 'userId: 1 to 255 characters', {
      details: [{ path: 'userId', message: '1 to 255 characters' }],
    });
  return id;
}

/** A cohort as sent: its name and definition (validated in depth by query/cohorts.ts). */
const cohortBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  match: z.unknown().optional(),
  conditions: z.unknown(),
});

export function peopleRoutes(deps: PeopleRouteDeps): ApiRoute<unknown>[] {
  const base = '/api/v1/projects/:projectId';
  const readDeps = () => ({ reader: deps.queries.userStreams(), audit: deps.audit });
  return [
    defineRoute({
      id: 'users.get',
      method: 'GET',
      url: `${base}/users/:userId`,
      summary:
        'One user by pseudonymous id (resolved through identity links): linked ids, current profile, event count, first and last seen. Audited with the user as subject.',
      tag: 'users',
      response: userProfileResponse,
      auth: 'session-or-key',
      action: 'query',
      target: 'projectId',
      handler: async (ctx) =>
        readUserProfile(
          readDeps(),
          actorOf(ctx),
          await projectIdOf(ctx, deps.projects),
          userIdOf(ctx),
        ),
    }),
    defineRoute({
      id: 'users.events',
      method: 'GET',
      url: `${base}/users/:userId/events`,
      summary:
        "A user's events, newest first, in pages of up to 1,000 (before = epoch ms or ISO time; next_cursor for the next page). Audited with every subject returned.",
      tag: 'users',
      response: userEventsResponse,
      auth: 'session-or-key',
      action: 'query',
      target: 'projectId',
      querySchema: z.object({
        before: z.string().optional(),
        limit: z.number().int().min(1).optional(),
        cursor: z.string().optional(),
      }),
      handler: async (ctx) => {
        const options = userEventsOptions(ctx.query);
        return readUserEvents(
          readDeps(),
          actorOf(ctx),
          await projectIdOf(ctx, deps.projects),
          userIdOf(ctx),
          options,
        );
      },
    }),

    // Cohorts.
    defineRoute({
      id: 'cohorts.list',
      method: 'GET',
      url: `${base}/cohorts`,
      summary: "The project's saved cohorts (every member may see them).",
      tag: 'cohorts',
      response: cohortsResponse,
      auth: 'session-or-key',
      action: 'cohorts.read',
      target: 'projectId',
      handler: async (ctx) => ({
        cohorts: (await deps.meta.listCohorts(await projectIdOf(ctx, deps.projects))).map(
          cohortView,
        ),
      }),
    }),
    defineRoute({
      id: 'cohorts.create',
      method: 'POST',
      url: `${base}/cohorts`,
      summary:
        'Saves a cohort: users matching all (or any) conditions: did_event (at least / at most / exactly N times in the last D days) and person_property.',
      tag: 'cohorts',
      response: cohortResponse,
      auth: 'session',
      action: 'cohorts.write',
      target: 'projectId',
      body: cohortBody,
      success: { status: 201, description: 'the cohort' },
      handler: async (ctx) =>
        createCohort(
          deps.meta,
          await projectIdOf(ctx, deps.projects),
          ctx.body,
          ctx.principal?.actor ?? '',
          deps.now(),
        ),
    }),
    defineRoute({
      id: 'cohorts.get',
      method: 'GET',
      url: `${base}/cohorts/:cohortId`,
      summary: 'One saved cohort.',
      tag: 'cohorts',
      response: cohortResponse,
      auth: 'session-or-key',
      action: 'cohorts.read',
      target: 'projectId',
      handler: async (ctx) =>
        cohortView(
          await requireCohort(
            deps.meta,
            await projectIdOf(ctx, deps.projects),
            ctx.params.cohortId ?? '',
          ),
        ),
    }),
    defineRoute({
      id: 'cohorts.update',
      method: 'PUT',
      url: `${base}/cohorts/:cohortId`,
      summary: "Replaces a cohort's name and definition.",
      tag: 'cohorts',
      response: cohortResponse,
      auth: 'session',
      action: 'cohorts.write',
      target: 'projectId',
      body: cohortBody,
      handler: async (ctx) =>
        updateCohort(
          deps.meta,
          await projectIdOf(ctx, deps.projects),
          ctx.params.cohortId ?? '',
          ctx.body,
          deps.now(),
        ),
    }),
    defineRoute({
      id: 'cohorts.delete',
      method: 'DELETE',
      url: `${base}/cohorts/:cohortId`,
      summary: 'Deletes a cohort (queries naming it then answer 400).',
      tag: 'cohorts',
      success: { status: 204, description: 'Done (no content).' },
      auth: 'session',
      action: 'cohorts.write',
      target: 'projectId',
      handler: async (ctx) => {
        await deleteCohort(
          deps.meta,
          await projectIdOf(ctx, deps.projects),
          ctx.params.cohortId ?? '',
        );
        return undefined;
      },
    }),
    defineRoute({
      id: 'cohorts.size',
      method: 'GET',
      url: `${base}/cohorts/:cohortId/size`,
      summary:
        'How many users the cohort holds now (a cohort_size query, on the record like every query).',
      tag: 'cohorts',
      response: cohortSizeResult,
      auth: 'session-or-key',
      action: 'cohorts.read',
      target: 'projectId',
      handler: async (ctx) => {
        const projectId = await projectIdOf(ctx, deps.projects);
        const cohort = await requireCohort(deps.meta, projectId, ctx.params.cohortId ?? '');
        const project = await deps.projects.byId(projectId);
        // A cohort_size query answers CohortSizeResult (query/format.ts).
        return (await deps.queries.run(
          { projectId, ...actorOf(ctx) },
          { id: projectId, timezone: project?.project.timezone ?? 'UTC' },
          { kind: 'cohort_size', cohort: cohort.id },
        )) as CohortSizeResult;
      },
    }),
  ];
}
