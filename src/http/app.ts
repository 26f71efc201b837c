// The Fastify application: raw-body parsing, ingest routes, health, one error→HTTP mapping.
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { AppError, isAppError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { safeStack } from '../shared/log.js';
import { sendError, type Flavor } from './responses.js';
import { flavorOptions } from './params.js';
import { registerIngestRoutes, type IngestRouteDeps } from './routes/ingest.js';
import type { QueryEngine } from '../query/index.js';
import type { PrivacyOperationsDeps } from '../projects/privacy-operations.js';
import type { AuthDeps, ClientDescriber } from '../auth/index.js';
import type { EventStore } from '../store/types.js';
import { defineRoute, registerApiRoutes, type ApiRoute } from './api/registry.js';
import { openApiDocument } from './api/openapi.js';
import { openApiResponse, type OpenApiResponse } from './api/responses.js';
import { accountRoutes } from './routes/accounts.js';
import { orgRoutes } from './routes/orgs.js';
import { projectRoutes } from './routes/projects.js';
import { auditRoutes } from './routes/audit.js';
import { peopleRoutes } from './routes/people.js';
import type { AuditLog } from '../audit/index.js';
import { registerPages } from './pages.js';
import { admitBodies } from './admission.js';
import { drainBody } from './drain.js';
import { ServerErrorLog } from './answer-log.js';
import { guardConnections, serverTimeoutOptions, type ConnectionLimits } from './connections.js';
import type { ByteBudget } from '../ingest/admission.js';
import { DEFAULT_MAX_API_BODY_BYTES } from '../shared/config.js';

export interface AppDeps extends IngestRouteDeps {
  privacyOps: PrivacyOperationsDeps;
  /** Analytics queries (their one choke point). */
  queries: QueryEngine;
  /** Accounts and access. */
  auth: AuthDeps;
  clients: ClientDescriber;
  events: EventStore;
  /** The audit log (viewer, incident report, suspensions). */
  audit: AuditLog;
  /** Version reported in the OpenAPI document. */
  version: string;
  /** PEM key and certificate to serve HTTPS, or null for plain HTTP. */
  tls: { key: Buffer; cert: Buffer } | null;
  /** Timeouts and connection caps of the HTTP server. */
  connections: ConnectionLimits;
  logger: Logger;
  /** Health: null once the store is open and the writer accepts events, else why not. */
  health: () => HealthProblem | null;
  /** The byte budget every request body is admitted under (503 past it). */
  admission: ByteBudget;
  /** Largest body of an `/api/…` request (default DEFAULT_MAX_API_BODY_BYTES). */
  maxApiBodyBytes?: number;
}

/** Why the server cannot accept or serve right now (`/healthz` answers 503 with it). */
export type HealthProblem = 'starting' | 'shutting_down' | 'store_unavailable' | 'disk_full';

declare module 'fastify' {
  interface FastifyContextConfig {
    flavor?: Flavor;
    /** The declared API route (see http/api/registry.ts); absent on ingest routes. */
    apiRouteId?: string;
  }
}

/** Every API route, in registration order (the authorisation matrix test reads this too). */
export function apiRoutes(deps: AppDeps): ApiRoute<unknown>[] {
  const routes: ApiRoute<unknown>[] = [
    ...accountRoutes(deps.auth),
    ...orgRoutes({ auth: deps.auth, projects: deps.projects }),
    ...projectRoutes({
      auth: deps.auth,
      projects: deps.projects,
      queries: deps.queries,
      events: deps.events,
      privacyOps: deps.privacyOps,
      logger: deps.logger,
    }),
    ...auditRoutes({ auth: deps.auth, audit: deps.audit }),
    ...peopleRoutes({
      projects: deps.projects,
      queries: deps.queries,
      audit: deps.audit,
      meta: deps.privacyOps.meta,
      now: () => deps.auth.now(),
    }),
  ];
  let document: OpenApiResponse | null = null;
  routes.push(
    defineRoute({
      id: 'openapi',
      method: 'GET',
      url: '/api/v1/openapi.json',
      summary: 'This document.',
      tag: 'meta',
      auth: 'none',
      response: openApiResponse,
      handler: () =>
        Promise.resolve((document ??= openApiDocument(routes, deps.version) as OpenApiResponse)),
    }),
  );
  return routes;
}

/**
 * Headers on every answer. The CSP forbids everything (the sign-in pages loosen it to their own
 * scripts and styles, see pages.ts); HSTS is sent when Sillage is reached over HTTPS (browsers
 * ignore it on plain HTTP).
 */
function securityHeaders(deps: AppDeps): Record<string, string> {
  const https = deps.tls !== null || deps.auth.settings.publicUrl.startsWith('https:');
  return {
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Content-Security-Policy':
      "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    'X-Frame-Options': 'DENY',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=()',
    ...(https ? { 'Strict-Transport-Security': 'max-age=63072000; includeSubDomains' } : {}),
  };
}

/** Turns anything thrown into an AppError without leaking foreign messages. */
export function toAppError(error: unknown, apiBodyLimit?: number): AppError {
  if (isAppError(error)) return error;
  if (
    apiBodyLimit !== undefined &&
    (error as { code?: string } | null)?.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
  )
    return new AppError(
      'REQUEST_TOO_LARGE',
      `request body is larger than ${apiBodyLimit} bytes (SILLAGE_MAX_API_BODY_BYTES)`,
    );
  const e = error as { code?: string; statusCode?: number } | null;
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('INGEST_BODY_TOO_LARGE', 'request body exceeds the size limit');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('INGEST_UNSUPPORTED_MEDIA', 'unsupported content type');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('INGEST_PAYLOAD_SHAPE', 'request body does not match its content length');
    case 'ECONNRESET':
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return new AppError('INGEST_PAYLOAD_SHAPE', 'request body was cut short');
    default:
      if (e?.statusCode === 400) return new AppError('INGEST_PAYLOAD_SHAPE', 'malformed request');
      return new AppError('INTERNAL', 'internal error', { cause: error });
  }
}

/** Builds the HTTP application (not yet listening). */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const timeouts = serverTimeoutOptions(deps.connections);
  const app = Fastify({
    ...(deps.tls ? { https: { ...deps.tls, ...timeouts } } : { http: timeouts }),
    requestTimeout: timeouts.requestTimeout,
    keepAliveTimeout: timeouts.keepAliveTimeout,
    // No socket inactivity timeout: a request may wait quietly for its commit. Slow clients are
    // bounded by the header, request and keep-alive timeouts instead.
    connectionTimeout: 0,
    logger: false,
    bodyLimit: deps.limits.maxBodyBytes,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 200 },
    // Client IPs are resolved by our own trusted-proxy logic, never by Fastify's.
    trustProxy: false,
  });

  const probe = '192.0.2.1';
  guardConnections(
    app.server,
    deps.connections,
    (address) => deps.clientIp(address, probe) !== deps.clientIp(address, undefined),
    deps.logger,
  );

  // Every body arrives as raw bytes: the SDKs send form, text/plain, JSON and gzip to the same
  // routes, and only the ingest decoder knows how to read them safely.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const headers = securityHeaders(deps);
  // Hooks that do not wait take Fastify's callback: an async one costs a promise and a trip
  // through the microtask queue per request, which shows on single-event ingestion (issue 16).
  app.addHook('onRequest', function securityHeadersHook(request, reply, done) {
    reply.headers(headers);
    // API answers are for this origin only; ingest answers must stay readable cross-origin.
    if (request.routeOptions.config.apiRouteId !== undefined) {
      reply.header('Cross-Origin-Resource-Policy', 'same-origin');
    }
    done();
  });

  // 5xx answers (503 under a flood above all) are summarised per interval, not one line each.
  const serverErrors = new ServerErrorLog(deps.logger);
  app.addHook('onClose', (_instance, done) => {
    serverErrors.flush();
    done();
  });
  app.addHook('onResponse', function answerLogHook(request, reply, done) {
    const fields = {
      route: request.routeOptions.url ?? 'unmatched',
      method: request.method,
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 100) / 100,
    };
    if (reply.statusCode >= 500) {
      serverErrors.note(fields.route, fields.method, fields.status, fields.durationMs);
    }
    deps.logger.debug('request', fields);
    done();
  });

  const apiBodyLimit = deps.maxApiBodyBytes ?? DEFAULT_MAX_API_BODY_BYTES;
  app.setErrorHandler(async (error, request, reply) => {
    const isApi = request.routeOptions.config.apiRouteId !== undefined;
    const appError = toAppError(error, isApi ? apiBodyLimit : undefined);
    if (
      appError.status >= 500 &&
      appError.code !== 'INGEST_OVERLOADED' &&
      appError.code !== 'QUERY_OVERLOADED' &&
      appError.code !== 'QUERY_BUSY' &&
      appError.code !== 'STORE_BUSY' &&
      appError.code !== 'QUERY_TIMEOUT' &&
      appError.code !== 'SHUTTING_DOWN'
    ) {
      deps.logger.error('request failed', {
        code: appError.code,
        route: request.routeOptions.url ?? 'unmatched',
        errorName: error instanceof Error ? error.name : typeof error,
        stack: safeStack(appError.cause ?? error),
      });
    }
    // A body over its limit is refused before it has all arrived: answered now, the client still
    // uploading would see its connection closed instead of the 413 (drain.ts).
    if ((error as { code?: string } | null)?.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      await drainBody(request.raw);
    const flavor = request.routeOptions.config.flavor ?? 'api';
    return sendError(reply, flavor, flavorOptions(request), appError);
  });

  app.setNotFoundHandler(async (request, reply) =>
    sendError(reply, 'api', flavorOptions(request), new AppError('NOT_FOUND', 'no such route')),
  );

  admitBodies(app, deps.admission);

  app.get('/healthz', async (_request, reply: FastifyReply) => {
    const problem = deps.health();
    if (problem !== null) {
      return reply.code(503).header('Retry-After', '5').send({ status: problem });
    }
    return reply.send({ status: 'ok' });
  });

  registerIngestRoutes(app, deps);
  registerPages(app);
  registerApiRoutes(
    app,
    {
      auth: deps.auth,
      clients: deps.clients,
      clientIp: deps.clientIp,
      audit: deps.audit,
      maxBodyBytes: apiBodyLimit,
    },
    apiRoutes(deps),
  );
  return app;
}
