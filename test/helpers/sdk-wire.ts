// Test helper for the wire-level SDK tests (test/sdk-wire/): exact HTTP requests over a real
// loopback socket, each language's JSON and form encodings, each SDK's way of reading an answer,
// and the query API to count what arrived.
import http from 'node:http';
import https from 'node:https';
import { expect } from 'vitest';
import { embeddedDatabase } from '../../src/cli/runtime.js';
import type { InProcess } from './inprocess.js';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

/**
 * Sends one request with exactly these headers (node adds only `Host` and, for a body,
 * `Content-Length` when absent), as the SDK's HTTP client would.
 */
export function send(
  base: string,
  request: {
    method?: string;
    path: string;
    headers?: Record<string, string>;
    body?: Buffer | string;
    /** For an `https` base: the one certificate (PEM) to trust. */
    ca?: string;
  },
): Promise<RawResponse> {
  const url = new URL(request.path, base);
  const body = request.body === undefined ? undefined : Buffer.from(request.body);
  const headers: Record<string, string> = { ...request.headers };
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length'))
    headers['Content-Length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const req = client.request(
      {
        ...(request.ca === undefined ? {} : { ca: request.ca }),
        host: url.hostname,
        port: url.port,
        method: request.method ?? 'POST',
        path: url.pathname + url.search,
        headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const all = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: all,
            text: all.toString(),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const hex4 = (c: string): string => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0');

/** Python's `json.dumps(v, separators=(",", ":"))`: ensure_ascii escapes every non-ASCII unit. */
export function pythonJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u0080-\uffff]/g, hex4);
}

/** PHP's `json_encode`: escapes `/` and every non-ASCII unit. */
export function phpJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/\//g, '\\/')
    .replace(/[\u0080-\uffff]/g, hex4);
}

/** Go's `json.Marshal`: map keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped. */
export function goJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sort(value)).replace(/[<>&\u2028\u2029]/g, hex4);
}

const upperEscape = (c: string): string =>
  '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');

/** Python `urllib.parse.urlencode` (what requests does to `data=dict`): quote_plus per value. */
export function pythonForm(fields: [string, string | number][]): string {
  const q = (s: string): string =>
    encodeURIComponent(s)
      .replace(/[!'()*]/g, upperEscape)
      .replace(/%20/g, '+');
  return fields.map(([k, v]) => `${q(k)}=${q(String(v))}`).join('&');
}

/** Ruby `URI.encode_www_form` (Net::HTTP#set_form_data): only `*-._` and alphanumerics stay. */
export function rubyForm(fields: [string, string | number][]): string {
  const q = (s: string): string =>
    encodeURIComponent(s)
      .replace(/[!'()~]/g, upperEscape)
      .replace(/%20/g, '+');
  return fields.map(([k, v]) => `${q(k)}=${q(String(v))}`).join('&');
}

/** Go `url.Values.Encode()`: keys sorted, `url.QueryEscape` (space as `+`, `~` kept). */
export function goForm(fields: Record<string, string>): string {
  const q = (s: string): string =>
    encodeURIComponent(s)
      .replace(/[!'()*]/g, upperEscape)
      .replace(/%20/g, '+');
  return Object.keys(fields)
    .sort()
    .map((k) => `${q(k)}=${q(fields[k] ?? '')}`)
    .join('&');
}

export const basicAuth = (user: string, password: string): string =>
  'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

/** Flushes the writer, then runs a query with the project secret; returns the parsed answer. */
export async function runQuery(s: InProcess, body: unknown): Promise<Record<string, unknown>> {
  await s.server.runtime.events.flush();
  const res = await send(s.server.url, {
    path: `/api/v1/projects/${s.project.project_id}/query`,
    headers: { authorization: `Bearer ${s.project.secret}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...(s.ca === undefined ? {} : { ca: s.ca }),
  });
  expect(res.status, res.text).toBe(200);
  return JSON.parse(res.text) as Record<string, unknown>;
}

const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** Total and unique users of one event over [from, to] (UTC days; the project's zone is UTC). */
export async function countEvent(
  s: InProcess,
  event: string,
  options: { fromMs?: number; toMs?: number; filters?: unknown[]; breakdown?: string } = {},
): Promise<{ total: number; users: number; byBreakdown: Map<unknown, number> }> {
  const now = Date.now();
  const range = { from: day(options.fromMs ?? now - 86_400_000), to: day(options.toMs ?? now) };
  const base = { kind: 'trends', ...range, interval: 'day', filters: options.filters ?? [] };
  const total = await runQuery(s, {
    ...base,
    series: [{ event, math: 'total' }],
    ...(options.breakdown ? { breakdown: options.breakdown } : {}),
  });
  const users = await runQuery(s, { ...base, series: [{ event, math: 'unique_users' }] });
  type Series = { total: number; breakdown_value?: unknown }[];
  const totals = total.series as Series;
  const byBreakdown = new Map<unknown, number>();
  for (const row of totals) byBreakdown.set(row.breakdown_value ?? null, row.total);
  return {
    total: totals.reduce((sum, row) => sum + row.total, 0),
    users: (users.series as Series)[0]?.total ?? 0,
    byBreakdown,
  };
}

/** What an SDK did with an answer: it went on, raised its own error, or crashed (a bug). */
export type SdkReading =
  | { kind: 'ok'; value?: unknown }
  | { kind: 'sdk-error'; error: string }
  | { kind: 'crash'; error: string };

/**
 * mixpanel-python 5.3 `Consumer._write_request`: `response.json()` (ValueError → its
 * MixpanelException), then `response_dict["status"] != 1` → MixpanelException(error). Indexing a
 * non-dict raises TypeError (the crash of issue 10), a dict without `status` a KeyError.
 */
export function readAsMixpanelPython(res: RawResponse): SdkReading {
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.text);
  } catch {
    return { kind: 'sdk-error', error: `Cannot interpret Mixpanel server response: ${res.text}` };
  }
  if (typeof parsed === 'string') return { kind: 'crash', error: 'TypeError: string indices' };
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    return { kind: 'crash', error: `TypeError: '${typeof parsed}' object is not subscriptable` };
  const dict = parsed as Record<string, unknown>;
  if (!('status' in dict)) return { kind: 'crash', error: "KeyError: 'status'" };
  if (dict.status !== 1 && dict.status !== true) {
    if (!('error' in dict)) return { kind: 'crash', error: "KeyError: 'error'" };
    return { kind: 'sdk-error', error: `Mixpanel error: ${String(dict.error)}` };
  }
  return { kind: 'ok' };
}

/**
 * mixpanel-ruby 3.3 `Consumer#send!`: a non-200 leaves `result = {}` (ServerError); a 200 body goes
 * through `JSON.parse` (quirks mode: `1` parses to an Integer), then `result['status'] != 1` —
 * Integer#[] or Array#[] with a String raises TypeError (the crash of issue 10).
 */
export function readAsMixpanelRuby(res: RawResponse): SdkReading {
  if (res.status !== 200)
    return {
      kind: 'sdk-error',
      error: `Could not write to Mixpanel, server responded with ${res.status}`,
    };
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.text);
  } catch {
    return { kind: 'sdk-error', error: 'Could not interpret Mixpanel server response' };
  }
  if (typeof parsed === 'number' || Array.isArray(parsed))
    return { kind: 'crash', error: 'TypeError: no implicit conversion of String into Integer' };
  const status =
    parsed !== null && typeof parsed === 'object'
      ? (parsed as Record<string, unknown>).status
      : null;
  if (status !== 1) return { kind: 'sdk-error', error: 'Could not write to Mixpanel' };
  return { kind: 'ok' };
}

/** mixpanel-go `processPeopleRequestResponse` (people, groups, alias, merge): 200 + JSON int ≠ 0. */
export function readAsGoPeople(res: RawResponse): SdkReading {
  if (res.status !== 200) return { kind: 'sdk-error', error: `HttpError ${res.status}` };
  const parsed: unknown = (() => {
    try {
      return JSON.parse(res.text);
    } catch {
      return undefined;
    }
  })();
  if (typeof parsed !== 'number' || !Number.isInteger(parsed))
    return { kind: 'sdk-error', error: 'failed to decode response: not an int' };
  return parsed === 0 ? { kind: 'sdk-error', error: 'api return code 0' } : { kind: 'ok' };
}

/** mixpanel-go `Track` → `parseVerboseApiError`: decode `{error, status}`; status 0 is an error. */
export function readAsGoTrack(res: RawResponse): SdkReading {
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.text);
  } catch {
    return { kind: 'sdk-error', error: 'failed to json decode response body' };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    return { kind: 'sdk-error', error: 'cannot unmarshal into VerboseError' };
  const r = parsed as { status?: unknown; error?: unknown };
  if (typeof r.status !== 'number') return { kind: 'sdk-error', error: 'status is not an int' };
  return r.status === 0 ? { kind: 'sdk-error', error: String(r.error) } : { kind: 'ok' };
}

/** mixpanel-go `Import`: 200 → ImportSuccess; 400 → ImportFailedValidationError; 401/413/429 → generic. */
export function readAsGoImport(res: RawResponse): SdkReading {
  const parsed = JSON.parse(res.text) as Record<string, unknown>;
  const intField = (name: string) => {
    const v = parsed[name];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v)))
      throw new Error(`cannot unmarshal ${name} into int`);
  };
  intField('code');
  intField('num_records_imported');
  if (res.status === 200) return { kind: 'ok', value: parsed };
  if ([400, 401, 413, 429].includes(res.status))
    return { kind: 'sdk-error', error: String(parsed.error) };
  return { kind: 'sdk-error', error: `unexpected status code: ${res.status}` };
}

/** mixpanel-php CurlConsumer: `"1" != trim($response)` is a failure (handed to error_callback). */
export function readAsPhp(res: RawResponse): SdkReading {
  return res.text.trim() === '1' ? { kind: 'ok' } : { kind: 'sdk-error', error: res.text };
}

/** posthog-python v0 `batch_post` → `_process_response`: 200 is success; else `json()["detail"]`. */
export function readAsPosthogPythonV0(res: RawResponse): SdkReading {
  if (res.status === 200) return { kind: 'ok' };
  try {
    const detail = (JSON.parse(res.text) as Record<string, unknown>).detail;
    if (detail === undefined) throw new Error('KeyError');
    return { kind: 'sdk-error', error: `APIError(${res.status}, ${JSON.stringify(detail)})` };
  } catch {
    return { kind: 'sdk-error', error: `APIError(${res.status}, ${res.text})` };
  }
}

/**
 * posthog-python capture v1 `_parse_v1_response`: a 2xx must hold `results` (a map of uuid →
 * `{result, details}`; unparseable is a terminal error); `drop` entries become CaptureV1Error.
 */
export function readAsPosthogPythonV1(res: RawResponse): SdkReading {
  if (res.status < 200 || res.status >= 300) {
    const payload = JSON.parse(res.text) as Record<string, unknown>;
    const message = payload.error_description ?? payload.error ?? payload.detail ?? res.text;
    const text = typeof message === 'string' ? message : JSON.stringify(message);
    return { kind: 'sdk-error', error: `CaptureV1Error(${res.status}, ${text})` };
  }
  let results: Record<string, { result?: string; details?: string }>;
  try {
    results = (JSON.parse(res.text) as { results: typeof results }).results;
    if (results === null || typeof results !== 'object') throw new Error('malformed');
  } catch {
    return {
      kind: 'sdk-error',
      error: 'capture v1 returned a success status with an unparseable body',
    };
  }
  const drops = Object.entries(results).filter(([, r]) => r.result === 'drop');
  if (drops.length > 0)
    return { kind: 'sdk-error', error: `${drops.length} event(s) dropped by the server` };
  return { kind: 'ok', value: results };
}

/** The stored profile (properties) of the one user who did `event`; null when it has none. */
export async function profileOfDoer(
  s: InProcess,
  event: string,
): Promise<Record<string, unknown> | null> {
  await s.server.runtime.events.flush();
  const rows = await s.server.runtime.events.listEvents(s.project.project_id);
  const doers = new Set(rows.filter((r) => r.event === event).map((r) => r.distinctId));
  expect(doers.size, `users who did ${event}`).toBe(1);
  const profile = await s.server.runtime.events.getProfile({
    projectId: s.project.project_id,
    groupKey: '',
    profileId: [...doers][0] ?? '',
  });
  return profile ? profile.properties : null;
}

/** Every group profile of a group key (the ids are pseudonyms), as property objects. */
export async function groupProfiles(
  s: InProcess,
  groupKey: string,
): Promise<Record<string, unknown>[]> {
  await s.server.runtime.events.flush();
  const ids = await embeddedDatabase(s.server.runtime).read(async (c) => {
    const r = await c.runAndReadAll(
      'SELECT profile_id FROM profiles WHERE project_id = $1 AND group_key = $2 ORDER BY profile_id',
      [s.project.project_id, groupKey],
    );
    return r.getRows().map((row) => String(row[0]));
  });
  const out: Record<string, unknown>[] = [];
  for (const profileId of ids) {
    const p = await s.server.runtime.events.getProfile({
      projectId: s.project.project_id,
      groupKey,
      profileId,
    });
    if (p) out.push(p.properties);
  }
  return out;
}
