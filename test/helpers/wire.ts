// Test helper: an independent decoder of what the SDKs put on the wire, so that tests can assert
// the transport (base64 or JSON, batched or not, gzip) and learn the ids the SDK generated.
import { gunzipSync } from 'node:zlib';

/** One SDK request as seen on the wire, with its decoded records. */
export interface WireRequest {
  method: string;
  /** Path without the query string, e.g. `/track/`. */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: Buffer;
  /** HTTP status of the response; 0 when the request failed. */
  status: number;
  responseText: string;
  /** How the payload was encoded. */
  encoding: 'base64' | 'json' | 'gzip-json' | 'none';
  /** True when the payload was a JSON array or a PostHog `{batch: [...]}` object. */
  batched: boolean;
  /** The records (events or profile updates), unwrapped from arrays and batch objects. */
  records: Array<Record<string, unknown>>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Form body or query `data=` → JSON text, and whether it was base64. */
function fromDataField(raw: string): { text: string; base64: boolean } {
  const trimmed = raw.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) return { text: trimmed, base64: false };
  // mixpanel-node posts `data=<base64>` without URL-encoding, so a '+' is a real '+' there.
  return { text: Buffer.from(trimmed.replace(/ /g, '+'), 'base64').toString('utf8'), base64: true };
}

function dataParam(form: string): string | null {
  for (const pair of form.split('&')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq) === 'data') {
      const value = pair.slice(eq + 1);
      // A URL-encoded value has no raw '+' that means '+': decode only when it was escaped.
      return value.includes('%') ? decodeURIComponent(value) : value;
    }
  }
  return null;
}

/** Decodes one request's payload (Mixpanel form/query `data=`, PostHog JSON or gzip JSON). */
export function decodeWire(input: {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Buffer;
  status: number;
  responseText: string;
}): WireRequest {
  const url = new URL(input.url);
  let encoding: WireRequest['encoding'] = 'none';
  let text: string | null = null;
  let body = input.body;
  if (body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b) {
    body = gunzipSync(body);
    encoding = 'gzip-json';
  }
  const bodyText = body.toString('utf8');
  const trimmedBody = bodyText.trimStart();
  const jsonBody = trimmedBody.startsWith('{') || trimmedBody.startsWith('[');
  const fromQuery = url.searchParams.get('data');
  const fromForm = !jsonBody && trimmedBody !== '' ? dataParam(trimmedBody) : null;
  const field = fromForm ?? (jsonBody ? null : fromQuery);
  if (field !== null && encoding !== 'gzip-json') {
    const decoded = fromDataField(field);
    text = decoded.text;
    encoding = decoded.base64 ? 'base64' : 'json';
  } else if (bodyText.trim() !== '') {
    text = bodyText;
    if (encoding === 'none') encoding = 'json';
  }
  let records: Array<Record<string, unknown>> = [];
  let batched = false;
  if (text !== null) {
    const parsed: unknown = JSON.parse(text);
    if (Array.isArray(parsed)) {
      batched = true;
      records = parsed.filter(isRecord);
    } else if (isRecord(parsed) && Array.isArray(parsed.batch) && !('event' in parsed)) {
      batched = true;
      records = parsed.batch.filter(isRecord);
    } else if (isRecord(parsed)) {
      records = [parsed];
    }
  }
  return {
    method: input.method,
    path: url.pathname,
    query: url.searchParams,
    headers: input.headers,
    body: input.body,
    status: input.status,
    responseText: input.responseText,
    encoding,
    batched,
    records,
  };
}
