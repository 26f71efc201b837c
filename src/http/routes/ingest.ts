// Ingest routes: the SDKs' own paths for Mixpanel and PostHog, handed to the one ingest pipeline
// (which decodes the body with the wire layer, on a worker thread for large bodies).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IngestOutcome, IngestPipeline } from '../../ingest/pipeline.js';
import type { IpMode, RequestContext } from '../../ingest/records.js';
import type { WireMapping, WireRequest } from '../../ingest/wire-input.js';
import type { DecodeLimits } from '../../ingest/wire/index.js';
import type { ProjectDirectory } from '../../projects/index.js';
import { AppError } from '../../shared/errors.js';
import { sourceOf } from '../admission.js';
import { applyIngestCors } from '../cors.js';
import { sendImportResult, sendMixpanelOk, type Flavor } from '../responses.js';
import { flavorOptions, requestParams } from '../params.js';
import { ipOff } from '../../ingest/wire/index.js';
import { TRACK_WINDOW_MS } from '../../ingest/wire/fields.js';

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
  // Read (and cached) now: a large body's memory moves to a worker thread, after which the
  // request's Buffer is empty and the error handler must not read the parameters from it.
  requestParams(request);
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
  window: 'recent' | 'any',
): RequestContext {
  const receivedAtMs = Date.now();
  return {
    source,
    clientIp: deps.clientIp(request.socket.remoteAddress, request.headers['x-forwarded-for']),
    userAgent: header(request, 'user-agent'),
    ipMode,
    receivedAtMs,
    ...(window === 'recent' ? { earliestTimeMs: receivedAtMs - TRACK_WINDOW_MS } : {}),
  };
}

/** True when the records came in a `data=` form field or query parameter (the SDKs' encoding). */
function isFormPayload(request: FastifyRequest): boolean {
  if ((request.query as Record<string, string | undefined>).data !== undefined) return true;
  const type = header(request, 'content-type') ?? '';
  if (type.startsWith('application/x-www-form-urlencoded')) return true;
  if (type.startsWith('multipart/form-data')) return true;
  return (
    Buffer.isBuffer(request.body) && request.body.subarray(0, 5).toString('latin1') === 'data='
  );
}

/**
 * Mixpanel's `ip` parameter, from the query string or the form body: `ip=0` (mixpanel-python,
 * mixpanel-node) means "do not geolocate with the request's address"; absent or 1 means use it.
 */
function ipModeFrom(request: FastifyRequest): IpMode {
  return ipOff(requestParams(request).ip) ? 'ignore-request-ip' : 'use-request-ip';
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

/** The credentials a request offers: Basic (user, password), Bearer, and Mixpanel's `api_key`. */
function offeredSecrets(request: FastifyRequest): string[] {
  const out: string[] = [];
  const auth = header(request, 'authorization');
  if (auth) {
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(auth);
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (basic?.[1]) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const user = colon === -1 ? decoded : decoded.slice(0, colon);
      const password = colon === -1 ? '' : decoded.slice(colon + 1);
      // Service accounts send `user:secret` (+ ?project_id); the legacy form is `secret:`.
      if (password) out.push(password);
      else if (user) out.push(user);
    } else if (bearer?.[1]) {
      out.push(bearer[1]);
    } else {
      throw new AppError('INGEST_CREDENTIALS_INVALID', 'Invalid credentials');
    }
  }
  // mixpanel-ruby's legacy import posts `api_key=` in the form body instead of a header.
  const apiKey = requestParams(request).api_key;
  if (apiKey) out.push(apiKey);
  return out;
}

/** The project whose import key (the project secret, or a key with the `import` scope) is offered. */
async function secretProject(
  request: FastifyRequest,
  deps: IngestRouteDeps,
  secrets: readonly string[],
): Promise<string | null> {
  const wanted = requestParams(request).project_id;
  const ip = deps.clientIp(request.socket.remoteAddress, request.headers['x-forwarded-for']);
  for (const candidate of secrets) {
    const project = await deps.importKeyProject(candidate, ip);
    if (project && (!wanted || wanted === project)) return project;
  }
  return null;
}

/**
 * `/import` needs the project secret or a key with the `import` scope, as Mixpanel needs the
 * project secret or a service account: the public token (which every web page carries) cannot
 * write history. Basic `secret:` (mixpanel-node, -python, -go), Basic `user:secret` with
 * `project_id` (service accounts), or the `api_key` form field (mixpanel-ruby's legacy import).
 */
async function importProject(request: FastifyRequest, deps: IngestRouteDeps): Promise<string> {
  const secrets = offeredSecrets(request);
  if (secrets.length === 0) {
    throw new AppError(
      'INGEST_CREDENTIALS_INVALID',
      'Invalid credentials: /import needs the project secret (Basic auth)',
    );
  }
  const project = await secretProject(request, deps, secrets);
  if (!project) throw new AppError('INGEST_CREDENTIALS_INVALID', 'Invalid credentials');
  return project;
}

/**
 * On `/track` and the PostHog routes, a request that also carries the project secret (or an
 * import key) may send events older than the window; its events must then belong to that project.
 * A credential that is not such a key is ignored here (the event tokens decide, as before).
 */
async function optionalSecretProject(
  request: FastifyRequest,
  deps: IngestRouteDeps,
): Promise<string | null> {
  let secrets: string[];
  try {
    secrets = offeredSecrets(request);
  } catch {
    return null;
  }
  return secrets.length === 0 ? null : secretProject(request, deps, secrets);
}

async function handleMixpanel(
  kind: MixpanelKind,
  request: FastifyRequest,
  reply: FastifyReply,
  deps: IngestRouteDeps,
): Promise<FastifyReply> {
  if (applyIngestCors(request, reply)) return reply;
  const opts = flavorOptions(request);
  const projectId =
    kind === 'import'
      ? await importProject(request, deps)
      : kind === 'track'
        ? await optionalSecretProject(request, deps)
        : null;
  const window = kind === 'track' && projectId === null ? 'recent' : 'any';
  // Decided before the pipeline runs: a large body is handed over to a worker thread.
  const formPayload = isFormPayload(request);
  const ctx = context(request, deps, kind, ipModeFrom(request), window);
  const mapping: WireMapping =
    kind === 'engage' || kind === 'groups'
      ? { kind: 'mixpanel-profiles', target: kind === 'engage' ? 'user' : 'group' }
      : { kind: 'mixpanel-events', importMode: kind === 'import' };
  const outcome = await deps.pipeline.ingestWire(wire(request, deps, mapping, ctx), {
    ...(projectId ? { projectId } : {}),
    source: sourceOf(request),
  });
  failIfUnattributed(outcome);
  if (kind === 'import') {
    // Raw JSON / NDJSON callers, `strict=1` and `verbose=1` (mixpanel-python, -ruby, -go) get
    // Mixpanel's /import JSON; a plain `data=` form (mixpanel-node, mixpanel-go's merge) accepts
    // only `1`.
    if (opts.strict || opts.verbose || !formPayload) {
      return sendImportResult(reply, opts, outcome.accepted, outcome.errors);
    }
  }
  return sendMixpanelOk(reply, opts, outcome.accepted + outcome.ignored, outcome.errors);
}

/** The PostHog capture v1 answer: per-event results keyed by uuid (`drop` for refused events). */
function sendCaptureV1(reply: FastifyReply, outcome: IngestOutcome): FastifyReply {
  const results: Record<string, { result: 'drop'; details: string }> = {};
  for (const error of outcome.errors) {
    if (error.insertId !== null) {
      results[error.insertId] = { result: 'drop', details: `${error.field}: ${error.message}` };
    }
  }
  return reply.code(200).type('application/json').send({ results });
}

async function handlePosthog(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: IngestRouteDeps,
  version: 'v0' | 'v1',
): Promise<FastifyReply> {
  if (applyIngestCors(request, reply)) return reply;
  const projectId = await optionalSecretProject(request, deps);
  const ctx = context(request, deps, 'posthog', 'use-request-ip', projectId ? 'any' : 'recent');
  // Capture v1 (posthog-python `capture_mode="v1"`) sends the project token as a Bearer header.
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header(request, 'authorization') ?? '')?.[1];
  const sentAt = header(request, 'posthog-request-timestamp');
  const mapping: WireMapping = {
    kind: 'posthog',
    engage: request.routeOptions.url?.startsWith('/engage') ?? false,
    ...(version === 'v1' && bearer && !projectId ? { token: bearer } : {}),
    ...(version === 'v1' && sentAt ? { sentAt } : {}),
  };
  const outcome = await deps.pipeline.ingestWire(wire(request, deps, mapping, ctx), {
    ...(projectId ? { projectId } : {}),
    source: sourceOf(request),
  });
  failIfUnattributed(outcome);
  if (version === 'v1') return sendCaptureV1(reply, outcome);
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
    route(url, 'posthog', (req, reply) => handlePosthog(req, reply, deps, 'v0'));
  }
  // posthog-python 7.x `capture_mode="v1"` (Bearer token, per-event results).
  app.route({
    method: ['POST', 'OPTIONS'],
    url: '/i/v1/analytics/events',
    config: { flavor: 'posthog' },
    handler: (req, reply) => handlePosthog(req, reply, deps, 'v1'),
  });

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
