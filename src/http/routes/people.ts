// People API: one pseudonymous user (profile, event stream), on the record. Identity reveal
// stays in projects.ts behind the vault and a step-up; these routes return pseudonyms only.
import { z } from 'zod';
import type { AuditPort } from '../../audit/index.js';
import type { ProjectDirectory } from '../../projects/index.js';
import { readUserEvents, readUserProfile, userEventsOptions } from '../../projects/users.js';
import type { QueryEngine } from '../../query/index.js';
import { AppError } from '../../shared/errors.js';
import { defineRoute, type ApiRoute, type RouteContext } from '../api/registry.js';

export interface PeopleRouteDeps {
  projects: ProjectDirectory;
  queries: QueryEngine;
  audit: AuditPort;
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
      auth: 'session-or-key',
      action: 'query',
      target: 'projectId',
      querySchema: z.object({
        before: z.string().optional(),
        limit: z.string().optional(),
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
  ];
}
