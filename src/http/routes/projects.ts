// Project API: the project, its secret keys (scoped, rotated, revoked), saved views (what viewers
// run), the raw-data export (step-up), queries and discovery, and the privacy tools.
import { z } from 'zod';
import {
  createApiKey,
  KEY_SCOPES,
  keyView,
  projectKey,
  revokeApiKey,
  rotateApiKey,
  DEFAULT_ROTATION_OVERLAP_MS,
  newId,
  type AuthDeps,
  type Principal,
  notifyProjectOwners,
  roleAllows,
} from '../../auth/index.js';
import { privacyPolicySchema, refuseTypedPersonalData } from '../../privacy/index.js';
import type { Actor } from '../../audit/index.js';
import type { ProjectContext, ProjectDirectory } from '../../projects/index.js';
import { exportEvents, EXPORT_MAX_PAGE } from '../../projects/export.js';
import { LIVE_DEFAULT_LIMIT, LIVE_MAX_LIMIT, latestEvents } from '../../projects/live-events.js';
import {
  eraseSubject,
  getPolicy,
  lookUpPseudonyms,
  policyHistory,
  privacyReport,
  revealSubject,
  setPolicy,
  type PrivacyOperationsDeps,
} from '../../projects/privacy-operations.js';
import { dayNumber, DAY_MS, offsetAt } from '../../query/clock.js';
import {
  parseQuery,
  QUERY_BODY_SCHEMA,
  resultToCsv,
  wantsCsv,
  type EventNamesResult,
  type EventPropertiesResult,
  type PropertyValuesResult,
  type QueryEngine,
  type QueryResult,
} from '../../query/index.js';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { EventStore } from '../../store/types.js';
import { defineRoute, jsonBody, type ApiRoute, type RouteContext } from '../api/registry.js';
import {
  erasedResponse,
  eventNamesResult,
  eventPropertiesResult,
  keyCreatedResponse,
  keysResponse,
  livePageResponse,
  policyHistoryResponse,
  policyResponse,
  policySavedResponse,
  privacyReportResponse,
  projectResponse,
  propertyValuesResult,
  pseudonymsResponse,
  queryResult,
  revealedResponse,
  viewCreatedResponse,
  viewsResponse,
} from '../api/responses.js';
import { projectView } from './orgs.js';

export interface ProjectRouteDeps {
  auth: AuthDeps;
  projects: ProjectDirectory;
  queries: QueryEngine;
  events: EventStore;
  privacyOps: PrivacyOperationsDeps;
  logger: Logger;
}

type QueryString = Record<string, string | undefined>;

const numberParam = (value: string | undefined): number | undefined =>
  value === undefined ? undefined : Number(value);

const scope = z.enum(KEY_SCOPES as [string, ...string[]]) as z.ZodType<(typeof KEY_SCOPES)[number]>;

const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD');

/** The range and size of a discovery query (GET …/events, …/properties, …/properties/values). */
const queryDay = z
  .string()
  .describe('YYYY-MM-DD or a relative day (today, -7d, start_of_month, …)');
const discoveryQuery = z.object({
  from: queryDay.optional(),
  to: queryDay.optional(),
  limit: z.number().int().min(1).optional(),
});

/** Local midnight of `day` in `timezone`, as epoch ms. */
function localMidnight(day: string, timezone: string): number {
  const utc = dayNumber(day) * DAY_MS;
  const guess = utc - offsetAt(timezone, utc);
  return utc - offsetAt(timezone, guess);
}

async function projectOf(
  ctx: RouteContext<unknown>,
  projects: ProjectDirectory,
): Promise<ProjectContext> {
  const project = await projects.byId(ctx.params.projectId ?? '');
  if (!project) throw new AppError('PROJECT_NOT_FOUND', 'no such project');
  return project;
}

function principalOf(ctx: RouteContext<unknown>): Principal {
  if (!ctx.principal) throw new AppError('AUTH_REQUIRED', 'sign in first');
  return ctx.principal;
}

/** Who acts and from where, as the services record it (the address stays in memory). */
function actorOf(ctx: RouteContext<unknown>): Actor {
  return {
    actor: principalOf(ctx).actor,
    source: { kind: 'http', ip: ctx.client.ip, place: ctx.client.place },
  };
}

/** A query's answer as CSV (`Accept: text/csv`), one table, offered as a file download. */
function csvReply(ctx: RouteContext<unknown>, body: unknown, result: QueryResult): string {
  const kind = String((body as { kind?: unknown }).kind);
  ctx.reply.type('text/csv; charset=utf-8');
  ctx.reply.header('Content-Disposition', `attachment; filename="${kind}.csv"`);
  return resultToCsv(kind, result);
}

const queryPrincipal = (ctx: RouteContext<unknown>, projectId: string) => ({
  projectId,
  ...actorOf(ctx),
});

export function projectRoutes(deps: ProjectRouteDeps): ApiRoute<unknown>[] {
  const { auth, projects, queries } = deps;
  const base = '/api/v1/projects/:projectId';

  /**
   * Runs a query; `R` is the answer of the kind asked for (the engine answers the kind it was
   * given), or CSV text when the caller asks for it.
   */
  const runQuery = async <R extends QueryResult = QueryResult>(
    ctx: RouteContext<unknown>,
    body: unknown,
  ): Promise<R | string> => {
    const project = await projectOf(ctx, projects);
    const result = await queries.run(
      queryPrincipal(ctx, project.project.id),
      { id: project.project.id, timezone: project.project.timezone },
      body,
    );
    return wantsCsv(ctx.request.headers.accept) ? csvReply(ctx, body, result) : (result as R);
  };

  return [
    defineRoute({
      id: 'projects.get',
      method: 'GET',
      url: base,
      summary: 'The project and its public, write-only ingest token.',
      tag: 'projects',
      response: projectResponse,
      auth: 'session-or-key',
      action: 'project.read',
      target: 'projectId',
      handler: async (ctx) => projectView((await projectOf(ctx, projects)).project),
    }),

    // Secret keys.
    defineRoute({
      id: 'keys.list',
      method: 'GET',
      url: `${base}/keys`,
      summary:
        'Secret keys: scopes, networks, expiry, last use (time and coarse place), use count.',
      tag: 'keys',
      response: keysResponse,
      auth: 'session',
      action: 'keys.read',
      target: 'projectId',
      handler: async (ctx) => {
        const now = auth.now();
        return {
          keys: (await auth.store.listApiKeys(ctx.params.projectId ?? '')).map((k) =>
            keyView(k, now),
          ),
        };
      },
    }),
    defineRoute({
      id: 'keys.create',
      method: 'POST',
      url: `${base}/keys`,
      summary:
        'Creates a secret key (step-up). The secret is shown once; it starts with sil_sk_ so secret scanners recognise it.',
      tag: 'keys',
      response: keyCreatedResponse,
      auth: 'session',
      action: 'keys.write',
      target: 'projectId',
      body: z.strictObject({
        name: z.string().trim().min(1).max(100),
        scopes: z.array(scope).min(1).max(4),
        expires_at: z.iso.datetime({ offset: true }).optional(),
        allowed_cidrs: z.array(z.string().max(64)).max(50).optional(),
      }),
      success: { status: 201, description: 'the key and its secret (shown once)' },
      handler: async (ctx) => {
        const projectId = ctx.params.projectId ?? '';
        const { key, secret } = await createApiKey(
          auth,
          projectId,
          {
            name: ctx.body.name,
            scopes: ctx.body.scopes,
            expiresAtMs: ctx.body.expires_at ? Date.parse(ctx.body.expires_at) : null,
            allowedCidrs: ctx.body.allowed_cidrs ?? [],
          },
          ctx.user?.user.id ?? null,
        );
        if (ctx.user)
          await auth.notifier.notify(ctx.user.user, 'key_created', { keyName: key.name });
        return { key: keyView(key, auth.now()), secret };
      },
    }),
    defineRoute({
      id: 'keys.rotate',
      method: 'POST',
      url: `${base}/keys/:keyId/rotate`,
      summary:
        'Rotates a key (step-up): a new secret with the same scopes; the old one keeps working for the overlap (default 24 h), then expires.',
      tag: 'keys',
      response: keyCreatedResponse,
      auth: 'session',
      action: 'keys.write',
      target: 'projectId',
      body: z.strictObject({
        overlap_hours: z
          .number()
          .min(0)
          .max(24 * 30)
          .optional(),
      }),
      success: { status: 201, description: 'the new key and its secret (shown once)' },
      handler: async (ctx) => {
        const old = await projectKey(auth, ctx.params.projectId ?? '', ctx.params.keyId ?? '');
        const overlap =
          ctx.body.overlap_hours === undefined
            ? DEFAULT_ROTATION_OVERLAP_MS
            : ctx.body.overlap_hours * 3_600_000;
        const { key, secret } = await rotateApiKey(auth, old, overlap, ctx.user?.user.id ?? null);
        if (ctx.user)
          await auth.notifier.notify(ctx.user.user, 'key_created', { keyName: key.name });
        return { key: keyView(key, auth.now()), secret };
      },
    }),
    defineRoute({
      id: 'keys.revoke',
      method: 'DELETE',
      url: `${base}/keys/:keyId`,
      summary: 'Revokes a key at once (no step-up: taking access away is never made harder).',
      tag: 'keys',
      success: { status: 204, description: 'Done (no content).' },
      auth: 'session',
      action: 'keys.revoke',
      target: 'projectId',
      handler: async (ctx) => {
        await revokeApiKey(
          auth,
          await projectKey(auth, ctx.params.projectId ?? '', ctx.params.keyId ?? ''),
        );
        return undefined;
      },
    }),

    // Queries and discovery.
    defineRoute({
      id: 'query.run',
      method: 'POST',
      url: `${base}/query`,
      summary: 'Runs a trends, funnel, retention, flows, frequency or discovery query.',
      tag: 'queries',
      response: queryResult,
      textAnswers: ['text/csv'],
      auth: 'session-or-key',
      action: 'query',
      target: 'projectId',
      bodyDoc: QUERY_BODY_SCHEMA,
      handler: async (ctx) => runQuery(ctx, jsonBody(ctx.request, 'QUERY_INVALID')),
    }),
    defineRoute({
      id: 'query.events',
      method: 'GET',
      url: `${base}/events`,
      summary: 'Event names with counts.',
      tag: 'queries',
      querySchema: discoveryQuery,
      response: eventNamesResult,
      textAnswers: ['text/csv'],
      auth: 'session-or-key',
      action: 'query',
      target: 'projectId',
      handler: async (ctx) => {
        const q: QueryString = ctx.query;
        return runQuery<EventNamesResult>(ctx, {
          kind: 'event_names',
          from: q.from,
          to: q.to,
          limit: numberParam(q.limit),
        });
      },
    }),
    defineRoute({
      id: 'query.properties',
      method: 'GET',
      url: `${base}/properties`,
      summary: 'Property names of an event (or of all events) with their types.',
      tag: 'queries',
      querySchema: discoveryQuery.extend({ event: z.string().optional() }),
      response: eventPropertiesResult,
      textAnswers: ['text/csv'],
      auth: 'session-or-key',
      action: 'query',
      target: 'projectId',
      handler: async (ctx) => {
        const q: QueryString = ctx.query;
        return runQuery<EventPropertiesResult>(ctx, {
          kind: 'event_properties',
          event: q.event,
          from: q.from,
          to: q.to,
          limit: numberParam(q.limit),
        });
      },
    }),
    defineRoute({
      id: 'query.property-values',
      method: 'GET',
      url: `${base}/properties/values`,
      summary: 'Top values of a property.',
      tag: 'queries',
      querySchema: discoveryQuery.extend({ property: z.string(), event: z.string().optional() }),
      response: propertyValuesResult,
      textAnswers: ['text/csv'],
      auth: 'session-or-key',
      action: 'query',
      target: 'projectId',
      handler: async (ctx) => {
        const q: QueryString = ctx.query;
        return runQuery<PropertyValuesResult>(ctx, {
          kind: 'property_values',
          property: q.property,
          event: q.event,
          from: q.from,
          to: q.to,
          limit: numberParam(q.limit),
        });
      },
    }),

    // Saved views.
    defineRoute({
      id: 'views.list',
      method: 'GET',
      url: `${base}/views`,
      summary: 'Saved views (every member may see and run them).',
      tag: 'views',
      response: viewsResponse,
      auth: 'session-or-key',
      action: 'views.read',
      target: 'projectId',
      handler: async (ctx) => ({
        views: (await auth.store.listViews(ctx.params.projectId ?? '')).map((v) => ({
          id: v.id,
          name: v.name,
          query: v.query,
          created_at: new Date(v.createdAtMs).toISOString(),
        })),
      }),
    }),
    defineRoute({
      id: 'views.create',
      method: 'POST',
      url: `${base}/views`,
      summary: 'Saves a query as a view (analysts and up).',
      tag: 'views',
      response: viewCreatedResponse,
      auth: 'session',
      action: 'views.write',
      target: 'projectId',
      body: z.strictObject({
        name: z.string().trim().min(1).max(200),
        query: z.record(z.string(), z.unknown()),
      }),
      success: { status: 201, description: 'the view' },
      handler: async (ctx) => {
        parseQuery(ctx.body.query);
        // Kept on disk: no e-mail, phone or card typed into its name or query (typed-input.ts).
        refuseTypedPersonalData({ name: ctx.body.name, query: ctx.body.query });
        const view = {
          id: newId('view'),
          projectId: ctx.params.projectId ?? '',
          name: ctx.body.name,
          query: ctx.body.query as never,
          createdBy: ctx.user?.user.id ?? '',
          createdAtMs: auth.now(),
        };
        await auth.store.createView(view);
        return { id: view.id, name: view.name, query: view.query };
      },
    }),
    defineRoute({
      id: 'views.run',
      method: 'POST',
      url: `${base}/views/:viewId/run`,
      summary: 'Runs a saved view (viewers included: aggregated answers, no raw rows).',
      tag: 'views',
      response: queryResult,
      textAnswers: ['text/csv'],
      auth: 'session-or-key',
      action: 'views.read',
      target: 'projectId',
      handler: async (ctx) => {
        const view = await auth.store.getView(ctx.params.viewId ?? '');
        if (!view || view.projectId !== ctx.params.projectId)
          throw new AppError('NOT_FOUND', 'no such view');
        return runQuery(ctx, view.query);
      },
    }),
    defineRoute({
      id: 'views.delete',
      method: 'DELETE',
      url: `${base}/views/:viewId`,
      summary: 'Deletes a saved view.',
      tag: 'views',
      success: { status: 204, description: 'Done (no content).' },
      auth: 'session',
      action: 'views.write',
      target: 'projectId',
      handler: async (ctx) => {
        const view = await auth.store.getView(ctx.params.viewId ?? '');
        if (!view || view.projectId !== ctx.params.projectId)
          throw new AppError('NOT_FOUND', 'no such view');
        await auth.store.deleteView(view.id);
        return undefined;
      },
    }),

    // Live events: the newest events as stored, for checking an integration (a row-level read,
    // on the record like the export; for people in the dashboard, never for keys).
    defineRoute({
      id: 'events.latest',
      method: 'GET',
      url: `${base}/events/latest`,
      summary:
        "The newest events as stored (already scrubbed and pseudonymised), newest arrival first; `after` (the previous answer's cursor) returns only what arrived since. Audited with the subjects shown.",
      tag: 'queries',
      response: livePageResponse,
      auth: 'session',
      action: 'query',
      target: 'projectId',
      querySchema: z.object({
        limit: z.number().int().min(1).max(LIVE_MAX_LIMIT).optional(),
        after: z.string().optional(),
      }),
      handler: async (ctx) => {
        const project = await projectOf(ctx, projects);
        const q: QueryString = ctx.query;
        const limit = q.limit === undefined ? LIVE_DEFAULT_LIMIT : Number(q.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > LIVE_MAX_LIMIT) {
          throw new AppError('REQUEST_INVALID', `limit: an integer from 1 to ${LIVE_MAX_LIMIT}`, {
            details: [{ path: 'limit', message: 'out of range' }],
          });
        }
        return latestEvents(
          { events: deps.events, audit: deps.privacyOps.audit },
          actorOf(ctx),
          project.project.id,
          limit,
          q.after ?? null,
        );
      },
    }),

    // Raw-data export.
    defineRoute({
      id: 'export.events',
      method: 'GET',
      url: `${base}/export`,
      summary:
        'Raw events as Mixpanel export NDJSON (step-up for people; the export scope for keys), in pages of up to 100,000 with a cursor (X-Next-Cursor).',
      tag: 'export',
      textAnswers: ['application/x-ndjson'],
      auth: 'session-or-key',
      action: 'export',
      target: 'projectId',
      querySchema: z.object({
        from: date,
        to: date,
        limit: z.number().int().min(1).max(EXPORT_MAX_PAGE).optional(),
        cursor: z.string().optional(),
      }),
      handler: async (ctx) => {
        const project = await projectOf(ctx, projects);
        const q: QueryString = ctx.query;
        const range = z.object({ from: date, to: date }).safeParse({ from: q.from, to: q.to });
        if (!range.success) {
          throw new AppError('REQUEST_INVALID', 'from and to: give both as YYYY-MM-DD', {
            details: [{ path: 'from/to', message: 'expected YYYY-MM-DD' }],
          });
        }
        const limit = q.limit === undefined ? EXPORT_MAX_PAGE : Number(q.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > EXPORT_MAX_PAGE) {
          throw new AppError('REQUEST_INVALID', `limit: an integer from 1 to ${EXPORT_MAX_PAGE}`, {
            details: [{ path: 'limit', message: 'out of range' }],
          });
        }
        const tz = project.project.timezone;
        const fromMs = localMidnight(range.data.from, tz);
        const nextDay = new Date((dayNumber(range.data.to) + 1) * DAY_MS)
          .toISOString()
          .slice(0, 10);
        const toMs = localMidnight(nextDay, tz);
        const page = await exportEvents(
          { events: deps.events, audit: deps.privacyOps.audit },
          actorOf(ctx),
          project.project.id,
          { fromMs, toMs },
          limit,
          q.cursor ?? null,
        );
        void ctx.reply.header('Content-Type', 'application/x-ndjson; charset=utf-8');
        if (page.nextCursor) void ctx.reply.header('X-Next-Cursor', page.nextCursor);
        return page.lines.map((line) => JSON.stringify(line) + '\n').join('');
      },
    }),

    // Privacy tools.
    defineRoute({
      id: 'privacy.report',
      method: 'GET',
      url: `${base}/privacy/report`,
      summary: 'What the privacy stage caught and did, per property and kind.',
      tag: 'privacy',
      querySchema: z.object({ from: date.optional(), to: date.optional() }),
      response: privacyReportResponse,
      auth: 'session-or-key',
      action: 'privacy.read',
      target: 'projectId',
      handler: async (ctx) =>
        privacyReport(deps.privacyOps, ctx.params.projectId ?? '', {
          from: ctx.query.from,
          to: ctx.query.to,
        }),
    }),
    defineRoute({
      id: 'privacy.policy.get',
      method: 'GET',
      url: `${base}/privacy/policy`,
      summary: "The project's privacy policy.",
      tag: 'privacy',
      response: policyResponse,
      auth: 'session-or-key',
      action: 'privacy.read',
      target: 'projectId',
      handler: async (ctx) => ({
        policy: await getPolicy(deps.privacyOps, ctx.params.projectId ?? ''),
      }),
    }),
    defineRoute({
      id: 'privacy.policy.set',
      method: 'PUT',
      url: `${base}/privacy/policy`,
      summary:
        'Replaces the privacy policy (step-up for people; fields left out take their defaults); every change is recorded with who made it.',
      tag: 'privacy',
      response: policySavedResponse,
      auth: 'session-or-key',
      action: 'privacy.write',
      target: 'projectId',
      body: privacyPolicySchema,
      handler: async (ctx) => {
        const projectId = ctx.params.projectId ?? '';
        const actor = principalOf(ctx).actor;
        const result = await setPolicy(
          deps.privacyOps,
          projectId,
          ctx.body,
          actor,
          actorOf(ctx).source,
        );
        // Every loosening is told to every owner (issue 11).
        if (result.new_loosenings.length > 0) {
          await notifyProjectOwners(auth, projectId, 'privacy_loosened', {
            actor,
            loosened: result.new_loosenings.join('; '),
          });
        }
        return result;
      },
    }),
    defineRoute({
      id: 'privacy.policy.history',
      method: 'GET',
      url: `${base}/privacy/policy/history`,
      summary: 'Every policy change: who, when, before and after.',
      tag: 'privacy',
      response: policyHistoryResponse,
      auth: 'session-or-key',
      action: 'privacy.read',
      target: 'projectId',
      handler: async (ctx) => ({
        changes: await policyHistory(deps.privacyOps, ctx.params.projectId ?? ''),
      }),
    }),
    defineRoute({
      id: 'privacy.pseudonyms',
      method: 'POST',
      url: `${base}/privacy/pseudonyms`,
      summary:
        'The pseudonyms of raw identifiers (to find one person in the data, e.g. for a request).',
      tag: 'privacy',
      response: pseudonymsResponse,
      auth: 'session-or-key',
      action: 'privacy.pseudonyms',
      target: 'projectId',
      body: z.strictObject({
        ids: z.array(z.string().max(1024)).min(1).max(10_000),
        group_key: z.string().max(255).optional(),
      }),
      handler: async (ctx) => {
        return {
          matches: await lookUpPseudonyms(
            deps.privacyOps,
            ctx.params.projectId ?? '',
            ctx.body.ids,
            ctx.body.group_key,
            actorOf(ctx),
          ),
        };
      },
    }),
    defineRoute({
      id: 'privacy.erase',
      method: 'POST',
      url: `${base}/privacy/erase`,
      summary:
        "Erases a person's events, profile, identity links and vault key. The person's pseudonyms are listed to owners only: others may not look pseudonyms up.",
      tag: 'privacy',
      response: erasedResponse,
      auth: 'session-or-key',
      action: 'privacy.erase',
      target: 'projectId',
      body: z.strictObject({ user: z.string().min(1).max(1024) }),
      handler: async (ctx) => {
        const erased = await eraseSubject(
          deps.privacyOps,
          ctx.params.projectId ?? '',
          ctx.body.user,
          actorOf(ctx),
        );
        // The pseudonyms of the id named are a pseudonym look-up: an admin or an `admin` key
        // naming guessed ids (which erase nothing) would otherwise run a dictionary through the
        // pseudonymiser, which only owners may (and never a key).
        const mayLookUp = ctx.access?.role
          ? roleAllows(ctx.access.role, 'privacy.pseudonyms')
          : false;
        return mayLookUp ? erased : { ...erased, pseudonyms: [] };
      },
    }),
    defineRoute({
      id: 'privacy.reveal',
      method: 'POST',
      url: `${base}/privacy/reveal`,
      summary:
        "Opens a person's sealed profile values from the vault (owners, step-up; never keys).",
      tag: 'privacy',
      response: revealedResponse,
      auth: 'session',
      action: 'privacy.reveal',
      target: 'projectId',
      body: z.strictObject({ user: z.string().min(1).max(1024) }),
      handler: async (ctx) => {
        const result = await revealSubject(
          deps.privacyOps,
          ctx.params.projectId ?? '',
          ctx.body.user,
          actorOf(ctx),
        );
        return { pseudonym: result.pseudonym, values: result.values };
      },
    }),
  ];
}
