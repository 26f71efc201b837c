// The API route registry: every /api route is declared here with how it authenticates, what it
// requires (action, step-up), and its body schema. One function registers them all, so that
// authentication, CSRF, authorisation and validation happen in one place and in one order; the
// OpenAPI document and the authorisation-matrix test read the same declarations.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Access, AuthDeps, ClientInfo, Principal, UserPrincipal } from '../../auth/index.js';
import {
  authenticateApiKey,
  authenticateSession,
  authorize,
  csrfTokenValid,
  DEVICE_COOKIE,
  requireStepUp,
  SESSION_COOKIE,
  type Action,
  type ClientDescriber,
} from '../../auth/index.js';
import { actingAs, type AuditLog } from '../../audit/index.js';
import { parseJsonRecords } from '../../ingest/wire/index.js';
import type { ClientIpResolver } from '../../ingest/enrich/index.js';
import { AppError } from '../../shared/errors.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * How a route authenticates: `none` (public: sign-in, setup, the OpenAPI document), `session`
 * (a signed-in person only), `session-or-key` (a person, or a secret key with the right scope).
 * `optional-session` reads a session when one is sent (accepting an invitation while signed in).
 */
export type AuthMode = 'none' | 'optional-session' | 'session' | 'session-or-key';

/** What the route acts on, from its path parameters (for the object-level check). */
export type TargetParam = 'projectId' | 'orgId';

export interface RouteContext<B> {
  request: FastifyRequest;
  reply: FastifyReply;
  principal: Principal | null;
  /** The signed-in person (routes with `auth: 'session'` always have one). */
  user: UserPrincipal | null;
  access: Access | null;
  body: B;
  params: Record<string, string>;
  query: Record<string, string | undefined>;
  client: ClientInfo;
}

export interface ApiRoute<B = unknown, R = unknown> {
  /** Stable name, used by the authorisation matrix and as the OpenAPI operationId. */
  id: string;
  method: HttpMethod;
  url: string;
  summary: string;
  tag: string;
  auth: AuthMode;
  /** The permission the route needs on its target (see auth/permissions.ts). */
  action?: Action;
  target?: TargetParam;
  /** A fresh passkey check (step-up) for routes without an action (the person's own factors). */
  stepUp?: boolean;
  /** Body schema (JSON object). Validated after authorisation, so denials never depend on it. */
  body?: z.ZodType<B>;
  /**
   * Body schema for the OpenAPI document only, where the handler validates the body itself (the
   * query route: `parseQuery` resolves relative days first and reports paths its own way).
   */
  bodyDoc?: z.ZodType;
  /** Query-string schema, for the OpenAPI document (values arrive as strings). */
  querySchema?: z.ZodType;
  /** Success status and what it returns, for the OpenAPI document. */
  success?: { status: number; description: string };
  /**
   * The JSON a successful answer carries (src/http/api/responses.ts), for the OpenAPI document
   * and the dashboard's generated types. The handler is type-checked against it; routes that
   * answer 204 have none.
   */
  response?: z.ZodType<R>;
  /**
   * Media types the route also answers as text when asked (`Accept: text/csv`, `format=ndjson`):
   * the handler then returns the text itself.
   */
  textAnswers?: readonly string[];
  handler: (ctx: RouteContext<B>) => Promise<NoInfer<R> | string | undefined>;
}

/**
 * Declares a route: the body type flows from the schema to the handler and the handler's answer
 * is checked against the response schema; both are then erased so that routes with different
 * bodies share one list (the registry validates before calling).
 */
export function defineRoute<B = unknown, R = unknown>(route: ApiRoute<B, R>): ApiRoute<unknown> {
  return route as unknown as ApiRoute<unknown>;
}

const MAX_DEPTH = 16;

/** Parses a JSON object body with the same safe parser as ingest (no prototype keys, bounded). */
export function jsonBody(
  request: FastifyRequest,
  code: 'REQUEST_INVALID' | 'QUERY_INVALID',
): unknown {
  const body = Buffer.isBuffer(request.body) ? request.body.toString('utf8') : '';
  if (body.trim() === '') throw new AppError(code, 'a JSON body is required');
  let value: unknown;
  let rest: unknown[];
  try {
    [value, ...rest] = parseJsonRecords(body, MAX_DEPTH, 'request body');
  } catch (error) {
    // The ingest parser's codes (INGEST_JSON_INVALID, …_NESTING_TOO_DEEP, …_FORBIDDEN_KEY) are
    // not this route's: the caller gets the route's own code, with the parser's message.
    if (error instanceof AppError) throw new AppError(code, error.message);
    throw error;
  }
  if (rest.length > 0 || value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new AppError(code, 'the request body must be one JSON object');
  }
  return value;
}

/** Validates with zod; the error names each wrong field and why (never its value). */
export function validated<T>(
  schema: z.ZodType<T>,
  value: unknown,
  code: 'REQUEST_INVALID' | 'QUERY_INVALID' = 'REQUEST_INVALID',
): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues.slice(0, 20).map((issue) => ({
    path: issue.path.join('.') || 'body',
    message: issue.message,
  }));
  const first = details[0];
  throw new AppError(code, `${first?.path ?? 'body'}: ${first?.message ?? 'invalid'}`, { details });
}

/** Cookie header → name/value pairs (first occurrence wins; no decoding beyond what we set). */
export function readCookies(request: FastifyRequest): Map<string, string> {
  const out = new Map<string, string>();
  const header = request.headers.cookie;
  if (typeof header !== 'string' || header.length > 8192) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

const UNSAFE = new Set<HttpMethod>(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface ApiDeps {
  auth: AuthDeps;
  clients: ClientDescriber;
  clientIp: ClientIpResolver;
  /** Principals held after unusual access (the audit log's suspensions), and their refusals. */
  audit: Pick<AuditLog, 'isSuspended' | 'record'>;
  /**
   * Largest request body, bytes (SILLAGE_MAX_API_BODY_BYTES): the body is parsed on the thread
   * serving every request. Larger: 413 REQUEST_TOO_LARGE, before any of it is parsed.
   */
  maxBodyBytes: number;
}

function bearer(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) {
    throw new AppError('AUTH_REQUIRED', 'send "Authorization: Bearer <secret key>"');
  }
  return match[1];
}

/**
 * Cross-site request forgery: a cookie-authenticated change must carry the session's CSRF token
 * in `X-CSRF-Token`, and must not come from another site (Origin / Sec-Fetch-Site, when sent).
 */
function checkCsrf(deps: ApiDeps, request: FastifyRequest, principal: UserPrincipal): void {
  const origin = request.headers.origin;
  const expected = new URL(deps.auth.settings.publicUrl).origin;
  const site = request.headers['sec-fetch-site'];
  const token = request.headers['x-csrf-token'];
  const ok =
    (origin === undefined || origin === expected) &&
    (site === undefined || site === 'same-origin' || site === 'none') &&
    typeof token === 'string' &&
    csrfTokenValid(deps.auth, principal.session, token);
  if (!ok) {
    throw new AppError(
      'AUTH_CSRF_INVALID',
      'send the session CSRF token in X-CSRF-Token, from the Sillage origin',
    );
  }
}

/**
 * A change sent by a browser from another site, to a route that needs no session (sign-in, setup,
 * invitations): refused. Otherwise a page of an attacker's could post (an HTML form sends a JSON
 * body as text/plain, without a preflight) the last step of a sign-in the attacker began in their
 * own account, and the answer's cookie would sign the victim's browser in to it (login CSRF).
 * Clients that are not browsers send neither header and are unaffected.
 */
function checkSameSite(deps: ApiDeps, request: FastifyRequest): void {
  const origin = request.headers.origin;
  const site = request.headers['sec-fetch-site'];
  const expected = new URL(deps.auth.settings.publicUrl).origin;
  if (
    (origin !== undefined && origin !== expected) ||
    (site !== undefined && site !== 'same-origin' && site !== 'none')
  ) {
    throw new AppError('AUTH_CSRF_INVALID', 'send this from the Sillage origin');
  }
}

async function authenticate(
  deps: ApiDeps,
  route: ApiRoute<unknown>,
  request: FastifyRequest,
  client: ClientInfo,
): Promise<Principal | null> {
  if ((route.auth === 'none' || route.auth === 'optional-session') && UNSAFE.has(route.method)) {
    checkSameSite(deps, request);
  }
  if (route.auth === 'none') return null;
  const secret = bearer(request);
  if (secret !== null) {
    if (route.auth !== 'session-or-key') {
      throw new AppError('AUTH_FORBIDDEN', 'this route is for signed-in people, not secret keys');
    }
    return authenticateApiKey(deps.auth, secret, client);
  }
  const token = readCookies(request).get(SESSION_COOKIE);
  if (!token) {
    if (route.auth === 'optional-session') return null;
    throw new AppError('AUTH_REQUIRED', 'sign in, or send a secret key as a Bearer token');
  }
  let principal: UserPrincipal;
  try {
    principal = await authenticateSession(deps.auth, token);
  } catch (error) {
    // A stale cookie on a route that works signed out (accepting an invitation) is no cookie.
    if (route.auth === 'optional-session') return null;
    throw error;
  }
  if (UNSAFE.has(route.method)) checkCsrf(deps, request, principal);
  return principal;
}

/** `projectId` when it belongs to one of the person's organisations, else null. */
async function projectOfMember(
  auth: AuthDeps,
  principal: UserPrincipal,
  projectId: string | null,
): Promise<string | null> {
  if (projectId === null) return null;
  const orgId = await auth.store.projectOrg(projectId);
  if (orgId === null) return null;
  const memberships = await auth.store.listMemberships(principal.user.id);
  return memberships.some((m) => m.orgId === orgId) ? projectId : null;
}

/** Registers every route: authenticate → CSRF → authorise (object level, step-up) → validate. */
export function registerApiRoutes(
  app: FastifyInstance,
  deps: ApiDeps,
  routes: readonly ApiRoute<unknown>[],
): void {
  for (const route of routes) {
    app.route({
      method: route.method,
      url: route.url,
      config: { flavor: 'api', apiRouteId: route.id },
      bodyLimit: deps.maxBodyBytes,
      handler: async (request, reply) => {
        const ip = deps.clientIp(request.socket.remoteAddress, request.headers['x-forwarded-for']);
        const ua = request.headers['user-agent'];
        const client = deps.clients.describe(
          ip,
          typeof ua === 'string' ? ua : null,
          readCookies(request).get(DEVICE_COOKIE) ?? null,
        );
        const principal = await authenticate(deps, route, request, client);
        if (principal && deps.audit.isSuspended(principal.actor)) {
          // A session still open when its person was suspended (the responder ends sessions
          // last; detection runs after the read that trips it) acts on nothing: no new key, no
          // invitation, no lifting of its own hold. Refused and put on the record.
          // With the project the entry is about, as a key's refusal at its presentation carries
          // it (a key's own project; a person's, the route's), so that reports find it there —
          // but only a project of one of the person's organisations: another organisation's log
          // is not theirs to write into (the path's project id is whatever they sent).
          const routeProject = (request.params as Record<string, string>).projectId ?? null;
          await deps.audit
            .record({
              kind: principal.kind === 'user' ? 'sign_in_failed' : 'key_used',
              actor: principal.actor,
              projectId:
                principal.kind === 'api-key'
                  ? principal.key.projectId
                  : await projectOfMember(deps.auth, principal, routeProject),
              source: { kind: 'http', ip: client.ip, place: client.place },
              outcome: 'AUDIT_PRINCIPAL_SUSPENDED',
              detail: { route: route.id },
            })
            .catch(() => undefined);
          throw new AppError(
            'AUDIT_PRINCIPAL_SUSPENDED',
            'this account or key is suspended after unusual access; an owner must lift it',
          );
        }
        const params = request.params as Record<string, string>;
        let access: Access | null = null;
        if (route.action) {
          if (!principal) throw new AppError('AUTH_REQUIRED', 'sign in first');
          const id = route.target ? params[route.target] : undefined;
          if (!route.target || id === undefined) {
            throw new AppError('INTERNAL', 'route declares an action without a target');
          }
          access = await authorize(
            deps.auth,
            principal,
            route.action,
            route.target === 'projectId' ? { projectId: id } : { orgId: id },
          );
        }
        const user = principal?.kind === 'user' ? principal : null;
        if (route.stepUp) {
          if (!user) throw new AppError('AUTH_REQUIRED', 'sign in first');
          await requireStepUp(deps.auth, user);
        }
        const body = route.body
          ? validated(route.body, jsonBody(request, 'REQUEST_INVALID'))
          : undefined;
        reply.header('Cache-Control', 'no-store');
        const ctx: RouteContext<unknown> = {
          request,
          reply,
          principal,
          user,
          access,
          body,
          params,
          query: request.query as Record<string, string | undefined>,
          client,
        };
        // Acts the handler causes deep down (a role change, sessions ended) are recorded with
        // this principal as their initiator.
        const result = principal
          ? await actingAs(
              {
                actor: principal.actor,
                source: { kind: 'http', ip: client.ip, place: client.place },
              },
              () => route.handler(ctx),
            )
          : await route.handler(ctx);
        if (reply.sent) return reply;
        if (result === undefined) return reply.code(route.success?.status ?? 204).send();
        return reply.code(route.success?.status ?? 200).send(result);
      },
    });
  }
}

/** Cookie attributes of the session (NIST 800-63B §5.1.1; no Max-Age: the server times it out). */
export function sessionCookie(token: string): string {
  return `${SESSION_COOKIE}=${token}; Path=/; Secure; HttpOnly; SameSite=Strict`;
}

export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`;
}

export function deviceCookie(id: string): string {
  return `${DEVICE_COOKIE}=${id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=31536000`;
}
