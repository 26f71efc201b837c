// The Mixpanel request parameters (`verbose`, `ip`, `img`, …), read from the query string and the
// form body: mixpanel-python and mixpanel-ruby post them in the urlencoded body, next to `data`.
import { decodeFormComponent } from './form.js';
import { readMultipartFields } from './multipart.js';

/** Every parameter the official Mixpanel SDKs and Mixpanel's HTTP API documentation use. */
export const MIXPANEL_PARAMS = [
  'verbose',
  'ip',
  'img',
  'callback',
  'strict',
  'project_id',
  'test',
  'api_key',
  'redirect',
] as const;

export type MixpanelParam = (typeof MIXPANEL_PARAMS)[number];

/** The parameters a request carries (absent ones are undefined). */
export type RequestParams = Partial<Record<MixpanelParam, string>>;

const PARAM_NAMES: ReadonlySet<string> = new Set(MIXPANEL_PARAMS);
/** Parameter values are short (flags, ids, a JSONP function name); longer ones are ignored. */
const MAX_PARAM_VALUE = 256;
/** A name is looked for only this far from the field start (a raw base64 body is one long name). */
const MAX_NAME = 64;

/** Where a request's body may hold form fields. */
export interface ParamSource {
  query: Record<string, unknown>;
  body: Buffer | null;
  contentType: string | null;
  contentEncoding: string | null;
}

function queryValue(query: Record<string, unknown>, key: string): string | undefined {
  const value = query[key];
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}

function mediaType(contentType: string | null): string {
  if (!contentType) return '';
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

/** True when a body may be a urlencoded form: not gzip, not JSON. */
function mayBeForm(body: Buffer, contentEncoding: string | null): boolean {
  const encoding = contentEncoding?.trim().toLowerCase() ?? '';
  if (encoding !== '' && encoding !== 'identity') return false;
  if (body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b) return false;
  for (const byte of body.subarray(0, 64)) {
    if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
    return byte !== 0x5b && byte !== 0x7b; // `[` or `{`: a JSON body
  }
  return true;
}

/**
 * The named parameters of a urlencoded body, scanned on the bytes without copying the body: each
 * `&`-separated field whose name (≤ 64 bytes) is one of `MIXPANEL_PARAMS` and whose value is at most
 * 256 bytes. The first occurrence wins. Linear in the body length.
 */
export function readFormParams(body: Buffer): RequestParams {
  const out: RequestParams = {};
  let start = 0;
  while (start < body.length) {
    let stop = body.indexOf(0x26, start); // '&'
    if (stop === -1) stop = body.length;
    const nameEnd = body.subarray(start, Math.min(stop, start + MAX_NAME + 1)).indexOf(0x3d); // '='
    if (nameEnd !== -1 && stop - (start + nameEnd + 1) <= MAX_PARAM_VALUE) {
      const name = decodeFormComponent(body.toString('latin1', start, start + nameEnd));
      if (
        name.ok &&
        PARAM_NAMES.has(name.value) &&
        out[name.value as MixpanelParam] === undefined
      ) {
        const value = decodeFormComponent(body.toString('utf8', start + nameEnd + 1, stop));
        if (value.ok) out[name.value as MixpanelParam] = value.value;
      }
    }
    start = stop + 1;
  }
  return out;
}

/**
 * A request's Mixpanel parameters: the query string first, then the form body (urlencoded, or
 * multipart/form-data), whichever carries each one. A gzip or JSON body carries none.
 */
export function readRequestParams(source: ParamSource): RequestParams {
  const out: RequestParams = {};
  for (const name of MIXPANEL_PARAMS) {
    const value = queryValue(source.query, name);
    if (value !== undefined) out[name] = value;
  }
  const body = source.body;
  if (body === null || body.length === 0 || !mayBeForm(body, source.contentEncoding)) return out;
  const type = mediaType(source.contentType);
  let fromBody: RequestParams;
  if (type === 'multipart/form-data') {
    const parts = readMultipartFields(body, source.contentType ?? '');
    fromBody = {};
    if (parts.ok) {
      for (const name of MIXPANEL_PARAMS) {
        const part = parts.fields.get(name);
        if (part !== undefined && part.length <= MAX_PARAM_VALUE) fromBody[name] = part.toString();
      }
    }
  } else {
    fromBody = readFormParams(body);
  }
  for (const name of MIXPANEL_PARAMS) {
    if (out[name] === undefined && fromBody[name] !== undefined) out[name] = fromBody[name];
  }
  return out;
}

/** Mixpanel flag semantics for `verbose`, `strict`, `img`, `test`: `1` or `true`. */
export function isOn(value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  return v === '1' || v === 'true';
}

/** `ip=0` / `ip=false`: do not geolocate with the request's address (absent means use it). */
export function ipOff(value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  return v === '0' || v === 'false';
}

/** A JSONP callback name Sillage will echo: a dotted JavaScript identifier, nothing else. */
export function safeCallbackName(value: string | undefined): string | null {
  if (value === undefined) return null;
  return /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$/.test(value) && value.length <= 128
    ? value
    : null;
}
