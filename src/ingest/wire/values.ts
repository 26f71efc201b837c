// Values JSON can carry but Sillage will not store as sent: non-finite numbers (`1e309` parses to
// Infinity, which would be stored as null), NUL characters in names and keys, and lone UTF-16
// surrogates (`"\ud800"`, which UTF-8 cannot hold and would silently become U+FFFD).
import type { JsonObject, JsonValue } from '../records.js';

/** A problem with one field of a record, named for the caller (never quoting the value). */
export interface ValueProblem {
  field: string;
  message: string;
}

const SURROGATE = /[\uD800-\uDFFF]/;
/** A surrogate without its pair (a high one not followed by a low one, or a low one alone). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/**
 * mixpanel-browser truncates every string property to 255 UTF-16 units (`_.truncate` slices), so a
 * string that had an emoji across that boundary arrives with its high surrogate alone at the end.
 * Refusing it would drop a whole event the SDK cannot resend differently: that one unit is
 * removed instead (documented in docs/sdk-wire-formats.md).
 */
const TRUNCATION_LENGTH = 255;

/** True when a string has a lone surrogate. */
export function hasLoneSurrogate(text: string): boolean {
  return SURROGATE.test(text) && LONE_SURROGATE.test(text);
}

/** A name for a key in an error: itself when it is a plain identifier, else its position. */
function keyName(parent: string, key: string, position: number): string {
  return /^[A-Za-z_$][\w$ -]{0,63}$/.test(key)
    ? `${parent}.${key}`
    : `${parent}[key #${position + 1}]`;
}

/** A problem with a name or id string (event name, key, distinct id), or null. */
export function checkName(text: string, field: string, what: string): ValueProblem | null {
  if (text.includes('\u0000')) return { field, message: `${what} must not contain NUL characters` };
  if (hasLoneSurrogate(text)) {
    return { field, message: `${what} has an unpaired UTF-16 surrogate (invalid Unicode)` };
  }
  return null;
}

type Checked = { ok: true; value: JsonValue } | { ok: false; problem: ValueProblem };

/** Collects the top-level property names whose value was normalised (for the privacy report). */
type Normalised = { top: string | null; names: string[] };

function checkString(text: string, field: string, normalised: Normalised): Checked {
  if (!SURROGATE.test(text) || !LONE_SURROGATE.test(text)) return { ok: true, value: text };
  const last = text.charCodeAt(text.length - 1);
  if (text.length === TRUNCATION_LENGTH && last >= 0xd800 && last <= 0xdbff) {
    const trimmed = text.slice(0, -1);
    if (!LONE_SURROGATE.test(trimmed)) {
      if (normalised.top !== null && !normalised.names.includes(normalised.top)) {
        normalised.names.push(normalised.top);
      }
      return { ok: true, value: trimmed };
    }
  }
  return {
    ok: false,
    problem: { field, message: 'string has an unpaired UTF-16 surrogate (invalid Unicode)' },
  };
}

/**
 * True when `checkTree` would find nothing to refuse or normalise: no string or key holds a
 * surrogate (paired or not: those go to the full check), no key holds NUL, every number is finite.
 * Builds nothing; recursion as deep as `checkTree`'s (the body's depth is bounded before parsing).
 */
function isPlainTree(value: JsonValue): boolean {
  if (typeof value === 'string') return !SURROGATE.test(value);
  if (typeof value === 'number') return Number.isFinite(value);
  if (value === null || typeof value === 'boolean') return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!isPlainTree(value[i] ?? null)) return false;
    return true;
  }
  for (const key of Object.keys(value)) {
    if (key.includes('\u0000') || SURROGATE.test(key)) return false;
    if (!isPlainTree(value[key] ?? null)) return false;
  }
  return true;
}

function checkTree(value: JsonValue, field: string, normalised: Normalised): Checked {
  if (typeof value === 'string') return checkString(value, field, normalised);
  if (typeof value === 'number') {
    return Number.isFinite(value)
      ? { ok: true, value }
      : {
          ok: false,
          problem: { field, message: 'number is out of range (not a finite double, e.g. 1e309)' },
        };
  }
  if (value === null || typeof value === 'boolean') return { ok: true, value };
  if (Array.isArray(value)) {
    let copy: JsonValue[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const item = value[i] ?? null;
      const checked = checkTree(item, `${field}[${i}]`, normalised);
      if (!checked.ok) return checked;
      if (checked.value !== item) (copy ??= value.slice())[i] = checked.value;
    }
    return { ok: true, value: copy ?? value };
  }
  let copy: JsonObject | null = null;
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] ?? '';
    const name = keyName(field, key, i);
    const bad = checkName(key, name, 'property name');
    if (bad) return { ok: false, problem: bad };
    const item = value[key] ?? null;
    const atRoot = normalised.top === null;
    if (atRoot) normalised.top = key;
    const checked = checkTree(item, name, normalised);
    if (atRoot) normalised.top = null;
    if (!checked.ok) return checked;
    if (checked.value !== item) (copy ??= { ...value })[key] = checked.value;
  }
  return { ok: true, value: copy ?? value };
}

/**
 * Checks every key and value under `value` (named `field` in errors): a non-finite number, a key
 * with NUL or a lone surrogate, or a string value with a lone surrogate is a problem naming its
 * path (`properties.price`, `properties.tags[2]`; a key that is not a plain identifier is named by
 * position). The one normalisation is mixpanel-browser's truncation artefact (see above). Returns
 * the value itself when nothing changed, else a copy (the input is never modified), and the
 * top-level property names whose value was normalised, which the privacy stage counts in the
 * privacy report (`truncated-surrogate`).
 */
export function checkWireValue<T extends JsonValue>(
  value: T,
  field: string,
): { ok: true; value: T; normalised: string[] } | { ok: false; problem: ValueProblem } {
  // Nearly every value holds no surrogate, NUL key or non-finite number: then the walk below
  // would return it unchanged, and it is returned without building a path per key.
  if (isPlainTree(value)) return { ok: true, value, normalised: [] };
  return checkWireValueWalk(value, field);
}

/** `checkWireValue` without its fast path: the full walk (exported for the property test). */
export function checkWireValueWalk<T extends JsonValue>(
  value: T,
  field: string,
): { ok: true; value: T; normalised: string[] } | { ok: false; problem: ValueProblem } {
  const normalised: Normalised = { top: null, names: [] };
  const checked = checkTree(value, field, normalised);
  return checked.ok
    ? { ok: true, value: checked.value as T, normalised: normalised.names }
    : checked;
}
