// Audit API (owners): the audit viewer with filters and NDJSON export (reading it is itself on
// the record), the breach-impact report (step-up), and suspensions (list, lift with step-up).
import { z } from 'zod';
import {
  buildIncidentReport,
  incidentHtml,
  incidentMarkdown,
  entryView,
  liftSuspension,
  readAuditLog,
  type Actor,
  type AuditLog,
  type IncidentDirectory,
  type IncidentScope,
} from '../../audit/index.js';
import { normaliseEmail, type AuthDeps } from '../../auth/index.js';
import { AppError } from '../../shared/errors.js';
import { defineRoute, type ApiRoute, type RouteContext } from '../api/registry.js';
import {
  auditPageResponse,
  incidentReportResponse,
  suspensionLiftedResponse,
  suspensionsResponse,
} from '../api/responses.js';

export interface AuditRouteDeps {
  auth: AuthDeps;
  audit: AuditLog;
}

function actorOf(ctx: RouteContext<unknown>): Actor {
  if (!ctx.principal) throw new AppError('AUTH_REQUIRED', 'sign in first');
  return {
    actor: ctx.principal.actor,
    source: { kind: 'http', ip: ctx.client.ip, place: ctx.client.place },
  };
}

/** People and sessions for the report, from the account store. */
export function incidentDirectory(auth: AuthDeps): IncidentDirectory {
  return {
    userIdByEmail: async (email) =>
      (await auth.store.findUserByEmail(normaliseEmail(email)))?.id ?? null,
    isMember: async (orgId, userId) =>
      (await auth.store.listMemberships(userId)).some((m) => m.orgId === orgId),
    session: async (id) => {
      const s = await auth.store.getSession(id);
      return s
        ? {
            userId: s.userId,
            fromMs: s.createdAtMs,
            toMs: s.revokedAtMs ?? Math.max(s.lastSeenAtMs, auth.now()),
          }
        : null;
    },
    ownerEmails: async (orgId) => {
      const owners = (await auth.store.listMembers(orgId)).filter((m) => m.role === 'owner');
      const users = await Promise.all(owners.map((m) => auth.store.getUser(m.userId)));
      return users.flatMap((u) => (u ? [u.email] : [])).sort();
    },
  };
}

const isoTime = z.iso.datetime({ offset: true });

const reportBody = z
  .strictObject({
    key: z.string().min(1).max(100).optional(),
    user: z.string().min(3).max(320).optional(),
    session: z.string().min(8).max(128).optional(),
    network: z.string().min(3).max(64).optional(),
    from: isoTime,
    to: isoTime,
    format: z.enum(['json', 'markdown', 'html']).optional(),
  })
  .refine(
    (b) => [b.key, b.user, b.session, b.network].filter((v) => v !== undefined).length === 1,
    { message: 'give exactly one of key, user, session, network' },
  );

export function scopeOf(b: {
  key?: string | undefined;
  user?: string | undefined;
  session?: string | undefined;
  network?: string | undefined;
}): IncidentScope {
  if (b.key !== undefined) return { kind: 'key', keyId: b.key.replace(/^key:/, '') };
  if (b.user !== undefined) return { kind: 'user', email: b.user };
  if (b.session !== undefined) return { kind: 'session', sessionId: b.session };
  if (b.network !== undefined) return { kind: 'network', cidr: b.network };
  throw new AppError('REQUEST_INVALID', 'give exactly one of key, user, session, network');
}

const MAX_VIEW = 10_000;

export function auditRoutes(deps: AuditRouteDeps): ApiRoute<unknown>[] {
  const { auth, audit } = deps;
  const base = '/api/v1/orgs/:orgId';
  return [
    defineRoute({
      id: 'audit.list',
      method: 'GET',
      url: `${base}/audit`,
      summary:
        'The audit log of the organisation (owners), filtered by time, principal, kind, project and outcome (`refused`: refused or failed acts), paged with `after`; `format=ndjson` exports it (next page in `X-Next-After`). Reading it is itself recorded.',
      tag: 'audit',
      response: auditPageResponse,
      textAnswers: ['application/x-ndjson'],
      auth: 'session',
      action: 'audit.read',
      target: 'orgId',
      querySchema: z.object({
        from: isoTime.optional(),
        to: isoTime.optional(),
        actor: z.string().optional(),
        kind: z.string().optional(),
        project: z.string().optional(),
        after: z.number().int().min(0).optional(),
        limit: z.number().int().min(1).max(MAX_VIEW).optional(),
        outcome: z.enum(['ok', 'refused']).optional(),
        format: z.enum(['json', 'ndjson']).optional(),
      }),
      handler: async (ctx) => {
        const q = ctx.query;
        const orgId = ctx.params.orgId ?? '';
        const time = (v: string | undefined, path: string): number | undefined => {
          if (v === undefined) return undefined;
          const ms = Date.parse(v);
          if (Number.isNaN(ms))
            throw new AppError('REQUEST_INVALID', `${path}: an ISO time`, {
              details: [{ path, message: 'not a time' }],
            });
          return ms;
        };
        const limit = q.limit === undefined ? 1000 : Number(q.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > MAX_VIEW)
          throw new AppError('REQUEST_INVALID', `limit: 1 to ${MAX_VIEW}`, {
            details: [{ path: 'limit', message: 'out of range' }],
          });
        const list = (v: string | undefined): string[] | undefined =>
          v === undefined || v === '' ? undefined : v.split(',');
        const after = q.after === undefined ? undefined : Number(q.after);
        if (after !== undefined && !(Number.isInteger(after) && after >= 0))
          throw new AppError('REQUEST_INVALID', 'after: an entry sequence number', {
            details: [{ path: 'after', message: 'not a sequence number' }],
          });
        const fromMs = time(q.from, 'from');
        const toMs = time(q.to, 'to');
        const actors = list(q.actor);
        const kinds = list(q.kind);
        const { entries, next_after } = await readAuditLog(
          audit,
          orgId,
          {
            limit,
            ...(fromMs !== undefined ? { fromMs } : {}),
            ...(toMs !== undefined ? { toMs } : {}),
            ...(actors ? { actors } : {}),
            ...(kinds ? { kinds } : {}),
            ...(q.project ? { projectId: q.project } : {}),
            ...(q.outcome === 'ok' || q.outcome === 'refused' ? { outcome: q.outcome } : {}),
            ...(after !== undefined ? { afterSeq: after } : {}),
          },
          actorOf(ctx),
        );
        const views = entries.map(entryView);
        if (q.format === 'ndjson') {
          void ctx.reply.header('Content-Type', 'application/x-ndjson; charset=utf-8');
          // The export's next page starts after this entry (absent at the end of the log).
          if (next_after !== null) void ctx.reply.header('X-Next-After', String(next_after));
          return views.map((v) => JSON.stringify(v) + '\n').join('');
        }
        return { entries: views, next_after };
      },
    }),
    defineRoute({
      id: 'incidents.report',
      method: 'POST',
      url: `${base}/incidents/report`,
      summary:
        'Breach-impact report (owners, step-up): for a key, a person, a session or a network and a window, every read, the fields and events exposed, rows, the exact pseudonymous subjects, and the GDPR Art. 33(3) fields. JSON, Markdown or a printable page.',
      tag: 'audit',
      response: incidentReportResponse,
      textAnswers: ['text/markdown', 'text/html'],
      auth: 'session',
      action: 'audit.respond',
      target: 'orgId',
      body: reportBody,
      handler: async (ctx) => {
        const report = await buildIncidentReport(
          audit,
          incidentDirectory(auth),
          scopeOf(ctx.body),
          { fromMs: Date.parse(ctx.body.from), toMs: Date.parse(ctx.body.to) },
          ctx.params.orgId ?? '',
          actorOf(ctx),
        );
        if (ctx.body.format === 'markdown') {
          void ctx.reply.header('Content-Type', 'text/markdown; charset=utf-8');
          return incidentMarkdown(report);
        }
        if (ctx.body.format === 'html') {
          void ctx.reply.header('Content-Type', 'text/html; charset=utf-8');
          return incidentHtml(report);
        }
        return report;
      },
    }),
    defineRoute({
      id: 'suspensions.list',
      method: 'GET',
      url: `${base}/suspensions`,
      summary: 'Principals suspended after unusual access (and lifted ones, with who lifted them).',
      tag: 'audit',
      response: suspensionsResponse,
      auth: 'session',
      action: 'audit.read',
      target: 'orgId',
      handler: async (ctx) => ({
        suspensions: (await audit.store.listSuspensions(false))
          .filter((s) => s.orgId === ctx.params.orgId)
          .map((s) => ({
            id: s.id,
            principal: s.actor,
            rule: s.rule,
            reason: s.reason,
            created_at: new Date(s.createdAtMs).toISOString(),
            lifted_at: s.liftedAtMs === null ? null : new Date(s.liftedAtMs).toISOString(),
            lifted_by: s.liftedBy,
          })),
      }),
    }),
    defineRoute({
      id: 'suspensions.lift',
      method: 'POST',
      url: `${base}/suspensions/:suspensionId/lift`,
      summary: 'Lifts a suspension (owners, step-up): the principal may read again.',
      tag: 'audit',
      response: suspensionLiftedResponse,
      auth: 'session',
      action: 'audit.respond',
      target: 'orgId',
      handler: async (ctx) => {
        const s = await liftSuspension(
          audit,
          ctx.params.suspensionId ?? '',
          ctx.params.orgId ?? '',
          actorOf(ctx),
          auth.now(),
        );
        return { id: s.id, principal: s.actor, lifted_by: s.liftedBy };
      },
    }),
  ];
}
