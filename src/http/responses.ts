// Response formats: each ingest API answers in the shape its SDK expects, errors included.
import type { FastifyReply } from 'fastify';
import type { AppError } from '../shared/errors.js';
import type { RecordError } from '../ingest/records.js';

/** The response dialect of a route. */
export type Flavor = 'mixpanel' | 'mixpanel-import' | 'posthog' | 'api';

export interface FlavorOptions {
  /** Mixpanel `verbose=1`: a JSON `{"status","error"}` answer instead of `1`/`0`. */
  verbose: boolean;
  /** Mixpanel `strict=1`: per-record `failed_records` (and a 400 when some failed). */
  strict: boolean;
  /** Mixpanel `img=1`: a 1×1 GIF (for an `<img>` tracking pixel). */
  img: boolean;
  /** Mixpanel `callback=<fn>`: JSONP; only a dotted JavaScript identifier is echoed. */
  callback: string | null;
}

/** A transparent 1×1 GIF, Mixpanel's `img=1` answer. */
const PIXEL_GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

/**
 * A Mixpanel `/track`-style answer in the form the request asked for: JSONP (`callback`), a pixel
 * (`img=1`), verbose JSON, or the plain `1`/`0` every SDK parses by default.
 */
function sendMixpanelAnswer(
  reply: FastifyReply,
  opts: FlavorOptions,
  ok: boolean,
  verboseBody: Record<string, unknown>,
): FastifyReply {
  if (opts.callback !== null) {
    const value = opts.verbose ? JSON.stringify(verboseBody) : ok ? '1' : '0';
    return reply.type('application/javascript; charset=utf-8').send(`${opts.callback}(${value});`);
  }
  if (opts.img) return reply.type('image/gif').send(PIXEL_GIF);
  if (opts.verbose) return reply.type('application/json').send(verboseBody);
  return reply.type('text/plain; charset=utf-8').send(ok ? '1' : '0');
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
      return sendMixpanelAnswer(reply, opts, false, {
        status: 0,
        error: error.message,
        code: error.code,
      });
    case 'mixpanel-import':
      // mixpanel-python and -ruby post `verbose=1` and read `status` (1 = success) and `error`.
      return reply.type('application/json').send({
        code: error.status,
        error: error.message,
        status: opts.verbose ? 0 : (IMPORT_STATUS_TEXT[error.status] ?? 'Error'),
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
  if (opts.strict && errors.length > 0) return sendFailedRecords(reply, opts, accepted, errors);
  const ok = accepted > 0 || errors.length === 0;
  reply.code(200);
  return sendMixpanelAnswer(reply, opts, ok, {
    status: ok ? 1 : 0,
    error: ok ? null : errors[0] ? `${errors[0].field}: ${errors[0].message}` : 'no valid record',
    num_records_accepted: accepted,
    num_records_rejected: errors.length,
    ...(errors.length > 0 ? { failed_records: failedRecords(errors) } : {}),
  });
}

function failedRecords(errors: RecordError[]) {
  return errors.map((e) => ({
    index: e.index,
    $insert_id: e.insertId,
    field: e.field,
    message: e.message,
  }));
}

/** Mixpanel's `strict=1` answer when some records failed: 400 with `failed_records`. */
function sendFailedRecords(
  reply: FastifyReply,
  opts: FlavorOptions,
  accepted: number,
  errors: RecordError[],
): FastifyReply {
  return reply
    .code(400)
    .type('application/json')
    .send({
      code: 400,
      error: 'some data points in the request failed validation',
      failed_records: failedRecords(errors),
      num_records_imported: accepted,
      status: opts.verbose ? 0 : 'Bad Request',
    });
}

/**
 * Success (possibly partial) for Mixpanel /import in its JSON: `status` is `"OK"` as Mixpanel
 * documents it, or `1` under `verbose=1` (mixpanel-python and -ruby compare it with 1).
 */
export function sendImportResult(
  reply: FastifyReply,
  opts: FlavorOptions,
  accepted: number,
  errors: RecordError[],
): FastifyReply {
  if (errors.length > 0 && opts.strict) return sendFailedRecords(reply, opts, accepted, errors);
  const ok = accepted > 0 || errors.length === 0;
  return reply
    .code(200)
    .type('application/json')
    .send({
      code: 200,
      num_records_imported: accepted,
      status: opts.verbose ? (ok ? 1 : 0) : 'OK',
      ...(opts.verbose
        ? {
            error: ok
              ? null
              : `${errors[0]?.field ?? 'record'}: ${errors[0]?.message ?? 'invalid'}`,
          }
        : {}),
      ...(errors.length > 0 ? { failed_records: failedRecords(errors) } : {}),
    });
}
