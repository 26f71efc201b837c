// Request body → list of JSON records, for every encoding the Mixpanel and PostHog SDKs use.
import { AppError, type ErrorCode } from '../../shared/errors.js';
import { err, ok, type Result } from '../../shared/result.js';
import type { JsonValue } from '../records.js';
import { decodeBase64Strict } from './base64.js';
import { decompressLz64, gunzipBounded, hasGzipMagic, inflateBounded } from './compression.js';
import { decodeDataField, readFormFields, type PercentProblem } from './form.js';
import { isBlank, looksLikeJson, parseJsonRecords } from './json.js';
import {
  DEFAULT_MAX_PROPERTIES_PER_RECORD,
  DEFAULT_MAX_STRING_LENGTH,
  findRecordLimitProblem,
} from './record-limits.js';
import { decodeUtf8Strict, firstInvalidUtf8Byte } from './utf8.js';
import { readMultipartFields } from './multipart.js';

/** What the HTTP layer knows about a request, before any decoding. */
export interface DecodeInput {
  /** Raw body bytes as received (possibly gzip); null or empty when there is none. */
  body: Buffer | null;
  contentType: string | null;
  contentEncoding: string | null;
  /** Parsed query string (values already percent-decoded by the HTTP layer). */
  query: Record<string, string | undefined>;
}

/** Resource bounds for one request. Field names match `ServerConfig.limits`. */
export interface DecodeLimits {
  /** Largest body accepted as received (compressed), bytes. */
  maxBodyBytes: number;
  /** Largest output of any decoding stage (gunzip, base64, LZ-string), bytes (characters for LZ). */
  maxDecodedBytes: number;
  /** Deepest JSON nesting, counting every `[`/`{` level from the top of the decoded text. */
  maxDepth: number;
  /** Most records per request; a PostHog `{batch: [...]}` counts its events. */
  maxRecordsPerRequest: number;
  /** Longest string (key or value) in a record, in characters (default 65,536). */
  maxStringLength?: number;
  /** Most properties (keys and array elements, every level) in a record (default 2,000). */
  maxPropertiesPerRecord?: number;
}

/** A UTF-16 surrogate without its pair: LZ-string can emit one, and it cannot become UTF-8. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** How the payload says it is compressed (PostHog `compression=`; Mixpanel sends none). */
type CompressionHint = 'gzip' | 'lz64' | 'base64' | null;

/** The text that holds the records, and how to name it in error messages. */
interface Payload {
  text: string;
  where: string;
  hint: string | undefined;
}

function fail(code: ErrorCode, message: string): never {
  throw new AppError(code, message);
}

/** One query value, tolerating repeated keys (some parsers give arrays; the first one wins). */
function queryValue(query: Record<string, unknown>, key: string): string | undefined {
  const value = query[key];
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}

function normaliseHint(raw: string | undefined): CompressionHint {
  switch (raw?.trim().toLowerCase()) {
    case 'gzip':
    case 'gzip-js':
      return 'gzip';
    case 'lz64':
    case 'lz-string':
      return 'lz64';
    case 'base64':
    case 'b64':
      return 'base64';
    default:
      // Unknown hints are ignored: the payload is sniffed anyway.
      return null;
  }
}

function mediaType(contentType: string | null): string {
  if (!contentType) return '';
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

function utf8OrFail(bytes: Uint8Array, where: string): string {
  const text = decodeUtf8Strict(bytes);
  if (text === null) {
    fail(
      'INGEST_UTF8_INVALID',
      `${where} is not valid UTF-8 (byte ${firstInvalidUtf8Byte(bytes)})`,
    );
  }
  return text;
}

function gunzipOrFail(bytes: Uint8Array, limits: DecodeLimits, where: string): Buffer {
  const result = gunzipBounded(bytes, limits.maxDecodedBytes);
  if (result.ok) return result.value;
  if (result.kind === 'too-large') {
    fail(
      'INGEST_DECOMPRESSED_TOO_LARGE',
      `${where} decompresses to more than ${limits.maxDecodedBytes} bytes`,
    );
  }
  fail('INGEST_GZIP_INVALID', `${where} is not valid gzip: ${result.reason}`);
}

/** Undoes the HTTP Content-Encoding; gzip is also sniffed, whatever the header says (PostHog does). */
function undoContentEncoding(
  body: Buffer,
  contentEncoding: string | null,
  limits: DecodeLimits,
): Buffer {
  const encoding = contentEncoding?.trim().toLowerCase() ?? '';
  const declaredGzip = encoding === 'gzip' || encoding === 'x-gzip';
  if (encoding === 'deflate') {
    const result = inflateBounded(body, limits.maxDecodedBytes);
    if (result.ok) return result.value;
    if (result.kind === 'too-large') {
      fail(
        'INGEST_DECOMPRESSED_TOO_LARGE',
        `request body decompresses to more than ${limits.maxDecodedBytes} bytes`,
      );
    }
    fail('INGEST_GZIP_INVALID', `request body is not valid deflate data: ${result.reason}`);
  }
  if (!declaredGzip && encoding !== '' && encoding !== 'identity') {
    fail(
      'INGEST_UNSUPPORTED_MEDIA',
      'unsupported Content-Encoding (gzip and deflate are accepted)',
    );
  }
  if (!declaredGzip && !hasGzipMagic(body)) return body;
  if (!hasGzipMagic(body))
    fail('INGEST_GZIP_INVALID', 'request body is declared gzip but is not gzip data');
  return gunzipOrFail(body, limits, 'request body');
}

function percentFailure(where: string, problem: PercentProblem): never {
  if (problem.kind === 'bad-escape') {
    fail(
      'INGEST_PAYLOAD_SHAPE',
      `${where} has an invalid percent-escape (position ${problem.position})`,
    );
  }
  fail('INGEST_UTF8_INVALID', `${where} has percent-escapes that are not valid UTF-8`);
}

/** Finds the payload in a body's text: JSON/NDJSON as is, a form's `data` field, or raw base64/LZ. */
function payloadFromBodyText(text: string, contentType: string): Payload {
  if (looksLikeJson(text)) return { text, where: 'request body', hint: undefined };
  const form = readFormFields(text);
  if (form.data !== undefined) {
    const where = "form field 'data'";
    const decoded = decodeDataField(form.data);
    if (!decoded.ok) percentFailure(where, decoded.problem);
    if (isBlank(decoded.value)) fail('INGEST_BODY_EMPTY', `${where} is empty`);
    return { text: decoded.value, where, hint: form.compression };
  }
  if (contentType === 'application/x-www-form-urlencoded') {
    fail('INGEST_PAYLOAD_SHAPE', "form body has no 'data' field");
  }
  return { text: text.trim(), where: 'request body', hint: undefined };
}

/** The `data` (and `compression`) fields of a multipart/form-data body (`curl -F data=…`). */
function payloadFromMultipart(body: Buffer, rawType: string, contentType: string): Payload {
  if (contentType !== 'multipart/form-data') {
    fail('INGEST_UNSUPPORTED_MEDIA', `${contentType} is not supported; send multipart/form-data`);
  }
  const parts = readMultipartFields(body, rawType);
  if (!parts.ok) fail('INGEST_PAYLOAD_SHAPE', parts.reason);
  const data = parts.fields.get('data');
  if (data === undefined) fail('INGEST_PAYLOAD_SHAPE', "multipart body has no 'data' field");
  const where = "multipart field 'data'";
  const text = utf8OrFail(data, where);
  if (isBlank(text)) fail('INGEST_BODY_EMPTY', `${where} is empty`);
  const compression = parts.fields.get('compression');
  return {
    text: looksLikeJson(text) ? text : text.trim(),
    where,
    hint: compression === undefined ? undefined : compression.toString('latin1'),
  };
}

/** Payload text (JSON, base64 or LZ-string base64, the bytes maybe gzip) → records. */
function recordsFromPayload(
  payload: Payload,
  hint: CompressionHint,
  limits: DecodeLimits,
  meter?: DecodeMeter,
): JsonValue[] {
  const { text, where } = payload;
  const parse = (json: string, at: string): JsonValue[] => {
    if (meter) meter.jsonChars = json.length;
    return parseJsonRecords(json, limits.maxDepth, at);
  };
  if (looksLikeJson(text)) return parse(text, where);
  if (hint === 'lz64') {
    const result = decompressLz64(text.trim(), limits.maxDecodedBytes);
    if (!result.ok) {
      if (result.kind === 'too-large') {
        fail(
          'INGEST_DECOMPRESSED_TOO_LARGE',
          `${where} decompresses to more than ${limits.maxDecodedBytes} characters`,
        );
      }
      const at = result.position === undefined ? '' : ` (position ${result.position})`;
      fail('INGEST_LZ64_INVALID', `${where} is not valid LZ-string base64: ${result.reason}${at}`);
    }
    if (LONE_SURROGATE.test(result.value))
      fail('INGEST_LZ64_INVALID', `${where} decompresses to text with unpaired surrogates`);
    return parse(result.value, `${where} (decompressed)`);
  }
  const decoded = decodeBase64Strict(text.trim());
  if (!decoded.ok) {
    fail(
      'INGEST_BASE64_INVALID',
      `${where} is not valid base64: ${decoded.reason} (position ${decoded.position})`,
    );
  }
  let bytes: Buffer = decoded.bytes;
  let inner = `${where} (base64-decoded)`;
  // posthog-js may gzip before base64; sniff rather than trust the hint.
  if (hasGzipMagic(bytes)) {
    bytes = gunzipOrFail(bytes, limits, inner);
    inner = `${where} (decompressed)`;
  }
  return parse(utf8OrFail(bytes, inner), inner);
}

/** Records a request carries: a PostHog batch object counts its events. */
function recordCount(records: JsonValue[]): number {
  const only = records.length === 1 ? records[0] : undefined;
  if (typeof only === 'object' && only !== null && !Array.isArray(only)) {
    const batch = only.batch;
    if (Array.isArray(batch)) return batch.length;
  }
  return records.length;
}

/** What decoding measured: the JSON text's length, for callers that hold records in memory. */
export interface DecodeMeter {
  jsonChars: number;
}

function decodeOrThrow(input: DecodeInput, limits: DecodeLimits, meter?: DecodeMeter): JsonValue[] {
  const contentType = mediaType(input.contentType);
  const query = input.query as Record<string, unknown>;
  let payload: Payload | null = null;
  const body = input.body;
  if (body !== null && body.length > 0) {
    if (body.length > limits.maxBodyBytes) {
      fail('INGEST_BODY_TOO_LARGE', `request body is larger than ${limits.maxBodyBytes} bytes`);
    }
    const bytes = undoContentEncoding(body, input.contentEncoding, limits);
    if (contentType.startsWith('multipart/')) {
      payload = payloadFromMultipart(bytes, input.contentType ?? '', contentType);
    } else {
      const text = utf8OrFail(bytes, 'request body');
      if (!isBlank(text)) payload = payloadFromBodyText(text, contentType);
    }
  }
  if (payload === null) {
    // GET ?data= (mixpanel-node for single calls, legacy image/JSONP transports).
    const data = queryValue(query, 'data');
    if (data === undefined || isBlank(data)) {
      fail('INGEST_BODY_EMPTY', "request body is empty and there is no 'data' query parameter");
    }
    if (data.length > limits.maxBodyBytes) {
      fail(
        'INGEST_BODY_TOO_LARGE',
        `query parameter 'data' is larger than ${limits.maxBodyBytes} bytes`,
      );
    }
    // The HTTP layer already URL-decoded it, turning an unescaped base64 `+` into a space.
    const text = looksLikeJson(data) || !data.includes(' ') ? data : data.replaceAll(' ', '+');
    payload = { text, where: "query parameter 'data'", hint: undefined };
  }
  const hint = normaliseHint(payload.hint ?? queryValue(query, 'compression'));
  const records = recordsFromPayload(payload, hint, limits, meter);
  if (recordCount(records) > limits.maxRecordsPerRequest) {
    fail('INGEST_TOO_MANY_RECORDS', `request has more than ${limits.maxRecordsPerRequest} records`);
  }
  const maxString = limits.maxStringLength ?? DEFAULT_MAX_STRING_LENGTH;
  const maxProperties = limits.maxPropertiesPerRecord ?? DEFAULT_MAX_PROPERTIES_PER_RECORD;
  const problem = findRecordLimitProblem(records, maxString, maxProperties);
  if (problem) {
    const at = problem.path === '' ? 'the record' : problem.path;
    fail(
      'INGEST_RECORD_TOO_LARGE',
      problem.kind === 'string-too-long'
        ? `record ${problem.record}: ${at} is longer than ${maxString} characters`
        : `record ${problem.record}: more than ${maxProperties} properties (at ${at})`,
    );
  }
  return records;
}

/**
 * Decodes an ingest request into its records, per the SDK wire formats (reference §7.2):
 * 1. gunzip when `Content-Encoding: gzip` or the body starts with 1f 8b (bounded by
 *    `maxDecodedBytes`; other encodings are refused);
 * 2. strict UTF-8;
 * 3. a body starting with `[`/`{` is JSON or NDJSON; otherwise the `data` field of a form body (any
 *    Content-Type: sendBeacon sends text/plain), or else the whole body (raw base64); with no body,
 *    the `data` query parameter (GET);
 * 4. the payload is JSON, or LZ-string base64 when `compression=lz64|lz-string` (form or query), or
 *    else strict base64 whose bytes may be gzip again (sniffed);
 * 5. safe JSON parsing: depth checked before parsing, `__proto__`/`constructor`/`prototype` keys
 *    refused.
 *
 * An array gives its elements, an object itself, NDJSON one record per line. A PostHog batch
 * object `{api_key, batch, sent_at}` is returned whole (one record) so the mapper keeps its
 * batch-level fields; its events count towards `maxRecordsPerRequest`. Never throws for bad input:
 * every failure is a 4xx AppError whose message names the problem and never quotes the input.
 */
export function decodePayload(
  input: DecodeInput,
  limits: DecodeLimits,
  meter?: DecodeMeter,
): Result<JsonValue[], AppError> {
  try {
    return ok(decodeOrThrow(input, limits, meter));
  } catch (error) {
    if (error instanceof AppError) return err(error);
    throw error;
  }
}
