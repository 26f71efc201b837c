// CORS for ingest routes only: echo the Origin with credentials, as the SDKs require.
import type { FastifyReply, FastifyRequest } from 'fastify';

const ALLOWED_HEADERS =
  'Authorization, Content-Type, Content-Encoding, traceparent, X-Requested-With';

/** Adds CORS headers for an ingest route; answers preflights. Returns true when it replied. */
export function applyIngestCors(request: FastifyRequest, reply: FastifyReply): boolean {
  const origin = request.headers.origin;
  if (origin) {
    // mixpanel-browser sends withCredentials=true, so `*` is not allowed: echo the exact origin.
    reply.header('Access-Control-Allow-Origin', origin);
    reply.header('Access-Control-Allow-Credentials', 'true');
    reply.header('Access-Control-Expose-Headers', 'Retry-After');
    reply.header('Vary', 'Origin');
  }
  if (request.method !== 'OPTIONS') return false;
  const requested = request.headers['access-control-request-headers'];
  reply.header(
    'Access-Control-Allow-Headers',
    typeof requested === 'string' && /^[A-Za-z0-9\-_, ]{1,512}$/.test(requested)
      ? requested
      : ALLOWED_HEADERS,
  );
  reply.header('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
  reply.header('Access-Control-Max-Age', '86400');
  void reply.code(204).send();
  return true;
}
