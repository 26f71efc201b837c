// Response formats: each ingest API answers in the shape its SDK expects, errors included.
import type { FastifyReply } from 'fastify';
import type { AppError } from '../shared/errors.js';
import type { RecordError } from '../ingest/records.js';

/** The response dialect of a route. */
export type Flavor = 'mixpanel' | 'mixpanel-import' | 'posthog' | 'api';

export interface FlavorOptions {
  /** Mixpanel `verbose=1`. */
  verbose: boolean;
  /** Mixpanel `/import?strict=1`. */
  strict: boolean;
}

const IMPORT_STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const POSTHOG_ERROR_TYPE = (status: number): string =>
  status === 401 ? 'authentication_error' : status >= 500 ? 'server_error' : 'validation_error';

/** Sends an AppError in the caller's format. */
export function sendError(
  reply: FastifyReply,
  flavor: Flavor,
  opts: FlavorOptions,
  error: AppError,
): FastifyReply {
  if (error.retryAfterSeconds !== undefined)
    reply.header('Retry-After', String(error.retryAfterSeconds));
  reply.code(error.status);
  switch (flavor) {
    case 'mixpanel':
      if (opts.verbose)
        return reply
          .type('application/json')
          .send({ status: 0, error: error.message, code: error.code });
      return reply.type('text/plain; charset=utf-8').send('0');
    case 'mixpanel-import':
      return reply.type('application/json').send({
        code: error.status,
        error: error.message,
        status: IMPORT_STATUS_TEXT[error.status] ?? 'Error',
        num_records_imported: 0,
      });
    case 'posthog':
      return reply.type('application/json').send({
        type: POSTHOG_ERROR_TYPE(error.status),
        code: error.code,
        detail: error.message,
      });
    case 'api':
      return reply.type('application/json').send({
        error: {
          code: error.code,
          message: error.message,
          ...(error.details ? { details: error.details } : {}),
        },
      });
  }
}

/** Success for Mixpanel /track, /engage, /groups. */
export function sendMixpanelOk(
  reply: FastifyReply,
  opts: FlavorOptions,
  accepted: number,
  errors: RecordError[],
): FastifyReply {
  const ok = accepted > 0 || errors.length === 0;
  if (opts.verbose) {
    return reply
      .code(200)
      .type('application/json')
      .send({
        status: ok ? 1 : 0,
        error: ok ? null : (errors[0]?.message ?? 'no valid record'),
        num_records_accepted: accepted,
        num_records_rejected: errors.length,
      });
  }
  return reply
    .code(200)
    .type('text/plain; charset=utf-8')
    .send(ok ? '1' : '0');
}

/** Success (possibly partial) for Mixpanel /import. */
export function sendImportResult(
  reply: FastifyReply,
  opts: FlavorOptions,
  accepted: number,
  errors: RecordError[],
): FastifyReply {
  if (errors.length > 0 && opts.strict) {
    return reply
      .code(400)
      .type('application/json')
      .send({
        code: 400,
        error: 'some data points in the request failed validation',
        failed_records: errors.map((e) => ({
          index: e.index,
          $insert_id: e.insertId,
          field: e.field,
          message: e.message,
        })),
        num_records_imported: accepted,
        status: 'Bad Request',
      });
  }
  return reply
    .code(200)
    .type('application/json')
    .send({ code: 200, num_records_imported: accepted, status: 'OK' });
}
