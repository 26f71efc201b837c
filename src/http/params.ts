// The per-request options of the ingest APIs (Mixpanel's `verbose`, `ip`, `img`, `callback`, …),
// read once from the query string and the form body, and shared by the routes and the error handler.
import type { FastifyRequest } from 'fastify';
import {
  isOn,
  readRequestParams,
  safeCallbackName,
  type RequestParams,
} from '../ingest/wire/index.js';
import type { FlavorOptions } from './responses.js';

const CACHE = new WeakMap<FastifyRequest, RequestParams>();

function header(request: FastifyRequest, name: string): string | null {
  const value = request.headers[name];
  return typeof value === 'string' ? value : Array.isArray(value) ? (value[0] ?? null) : null;
}

/** The request's Mixpanel parameters: query string first, then the form body (read once). */
export function requestParams(request: FastifyRequest): RequestParams {
  let params = CACHE.get(request);
  if (params === undefined) {
    params = readRequestParams({
      query: (request.query ?? {}) as Record<string, unknown>,
      body: Buffer.isBuffer(request.body) ? request.body : null,
      contentType: header(request, 'content-type'),
      contentEncoding: header(request, 'content-encoding'),
    });
    CACHE.set(request, params);
  }
  return params;
}

/** The response options of a request (its answer's format, errors included). */
export function flavorOptions(request: FastifyRequest): FlavorOptions {
  const params = requestParams(request);
  return {
    verbose: isOn(params.verbose),
    strict: isOn(params.strict),
    img: isOn(params.img),
    callback: safeCallbackName(params.callback),
  };
}
