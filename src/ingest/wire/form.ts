// Hand-rolled form parsing for SDK bodies: `data=` with and without URL-encoding, `compression=`.
import { looksLikeJson } from './json.js';

/** A percent-decoding failure; `position` indexes the raw (still encoded) text. */
export interface PercentProblem {
  position: number;
  kind: 'bad-escape' | 'bad-utf8';
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** Error path only: first `%` not followed by two hex digits, else the bytes were not UTF-8. */
function locatePercentProblem(raw: string): PercentProblem {
  for (let i = raw.indexOf('%'); i !== -1; i = raw.indexOf('%', i + 1)) {
    if (!isHex(raw.charCodeAt(i + 1)) || !isHex(raw.charCodeAt(i + 2))) {
      return { position: i, kind: 'bad-escape' };
    }
  }
  return { position: raw.indexOf('%'), kind: 'bad-utf8' };
}

/** `application/x-www-form-urlencoded` component decoding: `+` is a space, `%XX` a UTF-8 byte. */
export function decodeFormComponent(
  raw: string,
): { ok: true; value: string } | { ok: false; problem: PercentProblem } {
  const spaced = raw.includes('+') ? raw.replaceAll('+', ' ') : raw;
  if (!spaced.includes('%')) return { ok: true, value: spaced };
  try {
    return { ok: true, value: decodeURIComponent(spaced) };
  } catch {
    return { ok: false, problem: locatePercentProblem(raw) };
  }
}

/**
 * Decodes the value of a `data` field. mixpanel-node (and mixpanel-js before 2.39) post
 * `data=<base64>` without URL-encoding it, so a literal `+` is base64, not a space; the Mixpanel API
 * accepts both forms (mixpanel-js PR #258). Rule: URL-decode; if the result is not JSON, every space
 * was a `+`. Base64 never holds spaces, and JSON payloads keep the standard form semantics.
 */
export function decodeDataField(
  raw: string,
): { ok: true; value: string } | { ok: false; problem: PercentProblem } {
  if (!raw.includes('%')) {
    // Fast path (the Node SDK's raw base64): decide JSON-ness on the first significant character.
    let i = 0;
    while (
      i < raw.length &&
      (raw[i] === '+' || raw[i] === ' ' || raw[i] === '\t' || raw[i] === '\r' || raw[i] === '\n')
    )
      i++;
    const json = raw[i] === '[' || raw[i] === '{';
    if (json) return { ok: true, value: raw.includes('+') ? raw.replaceAll('+', ' ') : raw };
    return { ok: true, value: raw.includes(' ') ? raw.replaceAll(' ', '+') : raw };
  }
  const decoded = decodeFormComponent(raw);
  if (!decoded.ok) return decoded;
  const value = decoded.value;
  if (!looksLikeJson(value) && value.includes(' '))
    return { ok: true, value: value.replaceAll(' ', '+') };
  return decoded;
}

/** The fields of a form body that the SDKs use. */
export interface FormFields {
  /** Raw (still encoded) `data` value, or undefined when the body has no `data` field. */
  data: string | undefined;
  /** Decoded `compression` value (PostHog), or undefined. */
  compression: string | undefined;
}

/**
 * Splits `a=1&b=2` without building a map: only `data` and `compression` matter, and the `data`
 * value can be megabytes that must not be copied more than once. The first occurrence wins; names
 * longer than 64 characters are skipped unread (a raw base64 body is one long "name").
 */
export function readFormFields(text: string): FormFields {
  const fields: FormFields = { data: undefined, compression: undefined };
  let start = 0;
  while (start < text.length) {
    let stop = text.indexOf('&', start);
    if (stop === -1) stop = text.length;
    // Look for '=' only within a name's reach: an unbounded search would make `a&a&a&…=` quadratic.
    const nameEnd = text.slice(start, Math.min(stop, start + 65)).indexOf('=');
    const eq = nameEnd === -1 ? -1 : start + nameEnd;
    if (eq !== -1) {
      const rawName = text.slice(start, eq);
      const name =
        rawName.includes('%') || rawName.includes('+')
          ? decodeFormComponent(rawName)
          : { ok: true as const, value: rawName };
      if (name.ok && name.value === 'data') {
        fields.data ??= text.slice(eq + 1, stop);
      } else if (name.ok && name.value === 'compression' && fields.compression === undefined) {
        const value = decodeFormComponent(text.slice(eq + 1, stop));
        if (value.ok) fields.compression = value.value;
      }
    }
    start = stop + 1;
  }
  return fields;
}
