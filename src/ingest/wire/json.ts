// Safe JSON for untrusted bodies: depth pre-scan, native parse, forbidden-key check, NDJSON, and
// syntax errors located by position without echoing any of the input.
import { AppError } from '../../shared/errors.js';
import type { JsonValue } from '../records.js';

/** Keys refused anywhere in a body: they enable prototype pollution in code that copies objects. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

function isJsonWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** True when the first non-whitespace character is `[` or `{`. */
export function looksLikeJson(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isJsonWhitespace(c)) continue;
    return c === OPEN_ARRAY || c === OPEN_OBJECT;
  }
  return false;
}

/** True when the text holds nothing but JSON whitespace. */
export function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (!isJsonWhitespace(text.charCodeAt(i))) return false;
  }
  return true;
}

interface DepthScan {
  tooDeep: boolean;
  /** Index just after the first top-level container closes; -1 if none closed. */
  firstValueEnd: number;
}

/**
 * Counts bracket depth outside strings, so that a body like `[[[[…` 100k deep is refused before
 * anything recursive touches it. Strings are skipped with `indexOf` (native speed); an escaped
 * quote is one preceded by an odd run of backslashes. On invalid JSON the count may be off, but
 * then the parser rejects the text anyway; depth is clamped at 0 so a stray `]` cannot hide depth.
 */
export function scanDepth(text: string, maxDepth: number): DepthScan {
  const n = text.length;
  let depth = 0;
  let firstValueEnd = -1;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let from = i + 1;
      for (;;) {
        const q = text.indexOf('"', from);
        if (q === -1) return { tooDeep: false, firstValueEnd };
        let b = q - 1;
        while (b > i && text.charCodeAt(b) === BACKSLASH) b--;
        if (((q - 1 - b) & 1) === 0) {
          i = q + 1;
          break;
        }
        from = q + 1;
      }
      continue;
    }
    if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      depth++;
      if (depth > maxDepth) return { tooDeep: true, firstValueEnd };
    } else if ((c === CLOSE_ARRAY || c === CLOSE_OBJECT) && depth > 0) {
      depth--;
      if (depth === 0 && firstValueEnd === -1) firstValueEnd = i + 1;
    }
    i++;
  }
  return { tooDeep: false, firstValueEnd };
}

/** Returns the first forbidden key found in the value tree, or null. Iterative: no stack limit. */
export function findForbiddenKey(root: unknown): string | null {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value !== 'object' || value === null) continue;
    if (Array.isArray(value)) {
      for (const item of value as unknown[]) {
        if (typeof item === 'object' && item !== null) stack.push(item);
      }
      continue;
    }
    const obj = value as Record<string, unknown>;
    for (const key of Object.keys(obj)) {
      if (FORBIDDEN_KEYS.has(key)) return key;
      const child = obj[key];
      if (typeof child === 'object' && child !== null) stack.push(child);
    }
  }
  return null;
}

/**
 * Cheap pre-check: a forbidden key can only be spelled literally or with `\u` escapes. One
 * pass of one regular expression costs a third of four `includes` scans.
 */
const MAY_HOLD_FORBIDDEN_KEY = /__proto__|constructor|prototype|\\u/;

function mayHoldForbiddenKey(text: string): boolean {
  return MAY_HOLD_FORBIDDEN_KEY.test(text);
}

/** Where and why a JSON text is invalid. */
export interface JsonSyntaxProblem {
  position: number;
  reason: string;
}

/**
 * Finds the first syntax error of `text` per RFC 8259, or null if it is one valid JSON value. Used
 * only after `JSON.parse` failed, to give a position and a reason in our own words (V8's messages
 * quote the input). Iterative with an explicit stack, so nesting depth is harmless.
 */
export function locateJsonError(text: string): JsonSyntaxProblem | null {
  const end = text.length;
  const stack: number[] = [];
  let i = 0;
  const problem = (reason: string): JsonSyntaxProblem => ({ position: i, reason });
  const skipWs = (): void => {
    while (i < end && isJsonWhitespace(text.charCodeAt(i))) i++;
  };
  const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
  const isHex = (c: number): boolean =>
    isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

  const readString = (): JsonSyntaxProblem | null => {
    i++; // opening quote
    while (i < end) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        i++;
        return null;
      }
      if (c < 0x20) return problem('control character inside a string');
      if (c === BACKSLASH) {
        i++;
        if (i >= end) break;
        const e = text.charCodeAt(i);
        if (e === 0x75) {
          for (let k = 1; k <= 4; k++) {
            if (i + k >= end || !isHex(text.charCodeAt(i + k))) {
              i += k;
              return problem('invalid \\u escape in a string');
            }
          }
          i += 5;
          continue;
        }
        // " \ / b f n r t
        if (
          e !== QUOTE &&
          e !== BACKSLASH &&
          e !== 0x2f &&
          e !== 0x62 &&
          e !== 0x66 &&
          e !== 0x6e &&
          e !== 0x72 &&
          e !== 0x74
        ) {
          return problem('invalid escape in a string');
        }
      }
      i++;
    }
    return problem('unterminated string');
  };

  const readNumber = (): JsonSyntaxProblem | null => {
    if (text.charCodeAt(i) === 0x2d) i++;
    if (i >= end || !isDigit(text.charCodeAt(i))) return problem('invalid number');
    if (text.charCodeAt(i) === 0x30) i++;
    else while (i < end && isDigit(text.charCodeAt(i))) i++;
    if (i < end && text.charCodeAt(i) === 0x2e) {
      i++;
      if (i >= end || !isDigit(text.charCodeAt(i))) return problem('invalid number');
      while (i < end && isDigit(text.charCodeAt(i))) i++;
    }
    if (i < end && (text.charCodeAt(i) === 0x65 || text.charCodeAt(i) === 0x45)) {
      i++;
      if (i < end && (text.charCodeAt(i) === 0x2b || text.charCodeAt(i) === 0x2d)) i++;
      if (i >= end || !isDigit(text.charCodeAt(i))) return problem('invalid number');
      while (i < end && isDigit(text.charCodeAt(i))) i++;
    }
    return null;
  };

  // Reads `"key" :` and leaves `i` at the value. Called with `i` at the key's opening quote.
  const readKey = (): JsonSyntaxProblem | null => {
    if (i >= end || text.charCodeAt(i) !== QUOTE)
      return problem("expected a property name in double quotes or '}'");
    const bad = readString();
    if (bad) return bad;
    skipWs();
    if (i >= end || text.charCodeAt(i) !== 0x3a)
      return problem("expected ':' after a property name");
    i++;
    skipWs();
    return null;
  };

  skipWs();
  for (;;) {
    // Expect a value at i.
    if (i >= end) return problem('unexpected end of JSON');
    const c = text.charCodeAt(i);
    let bad: JsonSyntaxProblem | null = null;
    let scalarDone = true;
    if (c === OPEN_OBJECT) {
      i++;
      skipWs();
      if (i < end && text.charCodeAt(i) === CLOSE_OBJECT) {
        i++;
      } else {
        bad = readKey();
        if (bad) return bad;
        stack.push(OPEN_OBJECT);
        scalarDone = false;
      }
    } else if (c === OPEN_ARRAY) {
      i++;
      skipWs();
      if (i < end && text.charCodeAt(i) === CLOSE_ARRAY) {
        i++;
      } else {
        stack.push(OPEN_ARRAY);
        scalarDone = false;
      }
    } else if (c === QUOTE) {
      bad = readString();
    } else if (c === 0x2d || isDigit(c)) {
      bad = readNumber();
    } else if (c === 0x74 || c === 0x66 || c === 0x6e) {
      const literal = c === 0x74 ? 'true' : c === 0x66 ? 'false' : 'null';
      if (text.startsWith(literal, i)) i += literal.length;
      else if (i + literal.length > end && literal.startsWith(text.slice(i))) {
        i = end;
        return problem('unexpected end of JSON');
      } else return problem('invalid literal (expected true, false or null)');
    } else {
      return problem('unexpected character where a value was expected');
    }
    if (bad) return bad;
    if (!scalarDone) continue;

    // After a complete value: close containers, or move to the next element.
    for (;;) {
      skipWs();
      const top = stack[stack.length - 1];
      if (top === undefined) {
        return i >= end ? null : problem('unexpected data after the JSON value');
      }
      if (i >= end) return problem('unexpected end of JSON');
      const d = text.charCodeAt(i);
      const close = top === OPEN_ARRAY ? CLOSE_ARRAY : CLOSE_OBJECT;
      if (d === close) {
        stack.pop();
        i++;
        continue;
      }
      if (d !== 0x2c) {
        return problem(
          top === OPEN_ARRAY
            ? "expected ',' or ']' after an array element"
            : "expected ',' or '}' after a property value",
        );
      }
      i++;
      skipWs();
      if (top === OPEN_OBJECT) {
        bad = readKey();
        if (bad) return bad;
      }
      break;
    }
  }
}

function invalidJson(where: string, problem: JsonSyntaxProblem | null, line?: number): AppError {
  if (line === undefined) {
    const detail = problem ? `: ${problem.reason} (position ${problem.position})` : '';
    return new AppError('INGEST_JSON_INVALID', `${where} is not valid JSON${detail}`);
  }
  const detail = problem
    ? `: ${problem.reason} (line ${line}, column ${problem.position + 1})`
    : ` (line ${line})`;
  return new AppError('INGEST_JSON_INVALID', `${where} is not valid NDJSON${detail}`);
}

/**
 * NDJSON when the first top-level container is followed, on the same line, only by blanks and
 * then by a newline and more data. Anything else is one JSON text (and trailing data an error).
 */
function isNdjson(text: string, firstValueEnd: number): boolean {
  if (firstValueEnd === -1) return false;
  let i = firstValueEnd;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) return !isBlank(text.slice(i));
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
    i++;
  }
  return false;
}

/**
 * Parses a JSON document or an NDJSON stream (one value per line, blank lines ignored) into a list
 * of records: a JSON array contributes its elements, any other JSON value itself; each NDJSON line
 * contributes its value as one record. A top-level scalar is refused. Throws AppError for invalid JSON, nesting deeper than
 * `maxDepth` (every `[`/`{` level from the top of the text counts) and forbidden keys. The values
 * returned are plain objects free of forbidden keys.
 */
export function parseJsonRecords(text: string, maxDepth: number, where: string): JsonValue[] {
  const scan = scanDepth(text, maxDepth);
  if (scan.tooDeep) {
    throw new AppError('INGEST_NESTING_TOO_DEEP', `JSON nesting deeper than ${maxDepth} levels`);
  }
  let values: unknown[];
  if (!isNdjson(text, scan.firstValueEnd)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw invalidJson(where, locateJsonError(text));
    }
    if (typeof value !== 'object' || value === null) {
      throw new AppError('INGEST_PAYLOAD_SHAPE', `${where} must hold a JSON object or array`);
    }
    values = Array.isArray(value) ? (value as unknown[]) : [value];
  } else {
    values = [];
    let start = 0;
    let line = 0;
    while (start < text.length) {
      let stop = text.indexOf('\n', start);
      if (stop === -1) stop = text.length;
      line++;
      const chunk = text.slice(start, stop);
      if (!isBlank(chunk)) {
        try {
          values.push(JSON.parse(chunk));
        } catch {
          throw invalidJson(where, locateJsonError(chunk), line);
        }
      }
      start = stop + 1;
    }
  }
  if (mayHoldForbiddenKey(text)) {
    const key = findForbiddenKey(values);
    if (key !== null) {
      throw new AppError('INGEST_FORBIDDEN_KEY', `JSON key "${key}" is not allowed`);
    }
  }
  return values as JsonValue[];
}
