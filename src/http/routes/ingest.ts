// Ingest routes: the SDKs' own paths for Mixpanel and PostHog, handed to the one ingest pipeline
// (which decodes the body with the wire layer, on a worker thread for large bodies).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IngestOutcome, IngestPipeline } from '../../ingest/pipeline.js';
import type { IpMode, RequestContext } from '../../ingest/records.js';
import type { WireMapping, WireRequest } from '../../ingest/wire-input.js';
import type { DecodeLimits } from '../../ingest/wire/index.js';
import type { ProjectDirectory } from '../../projects/index.js';
import { AppError } from '../../shared/errors.js';
import { applyIngestCors } from '../cors.js';
import { sendImportResult, sendMixpanelOk, type Flavor } from '../responses.js';
import { flavorOptions } from '../app.js';

export interface IngestRouteDeps {
  pipeline: IngestPipeline;
  projects: ProjectDirectory;
  limits: DecodeLimits;
  /** Resolves the client IP from the socket and X-Forwarded-For (trusted proxies only). */
  clientIp: (socketIp: string | undefined, xff: string | string[] | undefined) => string | null;
  /**
   * The project of a secret key allowed to import (live, `import` scope, allowed network), or
   * null. Keys live with accounts; ingest only asks this question.
   */
  importKeyProject: (secret: string, clientIp: string | null) => Promise<string | null>;
}

type MixpanelKind = 'track' | 'engage' | 'groups' | 'import';

const METHODS = ['GET', 'POST', 'OPTIONS'] as const;

function header(request: FastifyRequest, name: string): string | null {
  const value = request.headers[name];
  return typeof value === 'string' ? value : Array.isArray(value) ? (value[0] ?? null) : null;
}

/** The body and what the pipeline needs to decode it (there, or on a worker thread). */
function wire(
  request: FastifyRequest,
  deps: IngestRouteDeps,
  mapping: WireMapping,
  context: RequestContext,
): WireRequest {
  return {
    decode: {
      body: Buffer.isBuffer(request.body) ? request.body : null,
      contentType: header(request, 'content-type'),
      contentEncoding: header(request, 'content-encoding'),
      query: request.query as Record<string, string | undefined>,
    },
    limits: deps.limits,
    mapping,
    context,
  };
}

function context(
  request: FastifyRequest,
  deps: IngestRouteDeps,
  source: RequestContext['source'],
  ipMode: IpMode,
): RequestContext {
  return {
    source,
    clientIp: deps.clientIp(request.socket.remoteAddress, request.headers['x-forwarded-for']),
    userAgent: header(request, 'user-agent'),
    ipMode,
    receivedAtMs: Date.now(),
  };
}

/** True when the records came in a `data=` form field or query parameter (the SDKs' encoding). */
function isFormPayload(request: FastifyRequest): boolean {
  if ((request.query as Record<string, string | undefined>).data !== undefined) return true;
  const type = header(request, 'content-type') ?? '';
  if (type.startsWith('application/x-www-form-urlencoded')) return true;
  return (
    Buffer.isBuffer(request.body) && request.body.subarray(0, 5).toString('latin1') === 'data='
  );
}

/** Mixpanel's `ip` query parameter: browser default 1, Node SDK default 0, absent means 1. */
function ipModeFrom(request: FastifyRequest): IpMode {
  const ip = (request.query as Record<string, string | undefined>).ip;
  return ip === '0' || ip === 'false' ? 'ignore-request-ip' : 'use-request-ip';
}

function failIfUnattributed(outcome: IngestOutcome): void {
  if (outcome.authFailure === 'unknown') {
    throw new AppError('INGEST_TOKEN_UNKNOWN', 'unknown project token');
  }
  if (outcome.authFailure === 'missing') {
    throw new AppError(
      'INGEST_TOKEN_MISSING',
      'missing project token (properties.token or $token)',
    );
  }
}

/** Basic auth for `/import`: the project secret (`secret:`), or the token with an empty password. */
async function importProject(
  request: FastifyRequest,
  deps: IngestRouteDeps,
): Promise<string | undefined> {
  const auth = header(request, 'authorization');
  if (!auth) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(auth);
  if (!match?.[1]) throw new AppError('INGEST_CREDENTIALS_INVALID', 'Invalid credentials');
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon === -1 ? decoded : decoded.slice(0, colon);
  const password = colon === -1 ? '' : decoded.slice(colon + 1);
  const wanted = (request.query as Record<string, string | undefined>).project_id;
  // Service-account style `user:secret` with ?project_id, or the secret / token as user name.
  const candidates = password ? [password] : [user];
  const ip = deps.clientIp(request.socket.remoteAddress, request.headers['x-forwarded-for']);
  for (const candidate of candidates) {
    const byKey = await deps.importKeyProject(candidate, ip);
    if (byKey && (!wanted || wanted === byKey)) return byKey;
    if (!password) {
      const byToken = await deps.projects.byToken(candidate);
      if (byToken && (!wanted || wanted === byToken.project.id)) return byToken.project.id;
    }
  }
  throw new AppError('INGEST_CREDENTIALS_INVALID', 'Invalid credentials');
}

async function handleMixpanel(
  kind: MixpanelKind,
  request: FastifyRequest,
  reply: FastifyReply,
  deps: IngestRouteDeps,
): Promise<FastifyReply> {
  if (applyIngestCors(request, reply)) return reply;
  const opts = flavorOptions(request);
  const projectId = kind === 'import' ? await importProject(request, deps) : undefined;
  const ctx = context(request, deps, kind, ipModeFrom(request));
  const mapping: WireMapping =
    kind === 'engage' || kind === 'groups'
      ? { kind: 'mixpanel-profiles', target: kind === 'engage' ? 'user' : 'group' }
      : { kind: 'mixpanel-events', importMode: kind === 'import' };
  const outcome = await deps.pipeline.ingestWire(wire(request, deps, mapping, ctx), { projectId });
  failIfUnattributed(outcome);
  // The mixpanel Node SDK posts `data=` forms to /import and accepts only `1` (or verbose JSON
  // with status 1); raw JSON / NDJSON callers and `strict=1` get Mixpanel's /import JSON.
  if (kind === 'import' && (opts.strict || !isFormPayload(request))) {
    return sendImportResult(reply, opts, outcome.accepted, outcome.errors);
  }
  return sendMixpanelOk(reply, opts, outcome.accepted + outcome.ignored, outcome.errors);
}

async function handlePosthog(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: IngestRouteDeps,
): Promise<FastifyReply> {
  if (applyIngestCors(request, reply)) return reply;
  const ctx = context(request, deps, 'posthog', 'use-request-ip');
  const mapping: WireMapping = {
    kind: 'posthog',
    engage: request.routeOptions.url?.startsWith('/engage') ?? false,
  };
  const outcome = await deps.pipeline.ingestWire(wire(request, deps, mapping, ctx));
  failIfUnattributed(outcome);
  if (outcome.accepted === 0 && outcome.errors.length > 0) {
    const first = outcome.errors[0];
    throw new AppError(
      'INGEST_ALL_RECORDS_INVALID',
      `no valid event: ${first?.field ?? 'record'}: ${first?.message ?? 'invalid'}`,
    );
  }
  if ((request.query as Record<string, string | undefined>).beacon === '1')
    return reply.code(204).send();
  return reply.code(200).type('application/json').send({ status: 1 });
}

/** Registers every ingest path (trailing slashes are handled by the router option). */
export function registerIngestRoutes(app: FastifyInstance, deps: IngestRouteDeps): void {
  const route = (
    url: string,
    flavor: Flavor,
    handler: (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>,
  ) => app.route({ method: [...METHODS], url, config: { flavor }, handler });

  route('/track', 'mixpanel', (req, reply) => handleMixpanel('track', req, reply, deps));
  route('/engage', 'mixpanel', (req, reply) => handleMixpanel('engage', req, reply, deps));
  route('/groups', 'mixpanel', (req, reply) => handleMixpanel('groups', req, reply, deps));
  route('/import', 'mixpanel-import', (req, reply) => handleMixpanel('import', req, reply, deps));
  for (const url of ['/e', '/i/v0/e', '/batch', '/capture']) {
    route(url, 'posthog', (req, reply) => handlePosthog(req, reply, deps));
  }

  // Feature flags and remote settings: Sillage has none; answer with empty sets in both SDKs'
  // shapes so that clients with flags enabled keep working.
  const emptyFlags = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    if (applyIngestCors(req, reply)) return reply;
    return reply.type('application/json').send({
      flags: {},
      featureFlags: {},
      featureFlagPayloads: {},
      errorsWhileComputingFlags: false,
      pending_first_time_events: [],
    });
  };
  route('/flags', 'api', emptyFlags);
  route('/decide', 'api', emptyFlags);
  route('/settings', 'api', async (req, reply) => {
    if (applyIngestCors(req, reply)) return reply;
    return reply.type('application/json').send({ sdk_config: { config: {} } });
  });
  // Session replay is not collected: recordings are page contents, which Sillage will not keep.
  // Answer success so the SDKs do not retry forever, and store nothing.
  route('/record', 'api', async (req, reply) => {
    if (applyIngestCors(req, reply)) return reply;
    return reply.type('application/json').send({ code: 200, status: 'OK' });
  });
  route('/s', 'posthog', async (req, reply) => {
    if (applyIngestCors(req, reply)) return reply;
    return reply.type('application/json').send({ status: 1 });
  });
  app.route({
    method: ['GET', 'OPTIONS'],
    url: '/array/:token/config',
    config: { flavor: 'api' },
    handler: async (req, reply) => {
      if (applyIngestCors(req, reply)) return reply;
      return reply.type('application/json').send({
        supportedCompression: ['gzip-js', 'base64'],
        autocapture_opt_out: true,
        sessionRecording: false,
        heatmaps: false,
        surveys: false,
        capturePerformance: false,
      });
    },
  });
}
