// Per-record bounds on decoded JSON: the longest string (key or value) and the number of properties
// (keys and array elements at every level). With the decoded-size bound of the request they cap
// the work one request can ask of the privacy stage, which scans every string and key.
import type { JsonValue } from '../records.js';

/** Defaults: far above what the SDKs send (mixpanel-browser cuts strings at 255 characters). */
export const DEFAULT_MAX_STRING_LENGTH = 64 * 1024;
export const DEFAULT_MAX_PROPERTIES_PER_RECORD = 2_000;

/** Where a record breaks a bound (the path names keys, never values). */
export interface RecordLimitProblem {
  kind: 'string-too-long' | 'too-many-properties';
  /** Index of the record in the request (the event of a PostHog batch). */
  record: number;
  /** Path of the offending value, e.g. `properties.big` or `properties.list[3]`. */
  path: string;
}

/** A key as it appears in a path: plain names as is, anything else quoted (and cut short). */
function pathKey(key: string): string {
  if (/^[A-Za-z0-9_$]{1,64}$/.test(key)) return key;
  return JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key);
}

/**
 * True when `checkRecord` finds no problem: every string and key within `maxStringLength`, and no
 * more than `maxProperties` properties in all (the walk order changes which problem is named, not
 * whether there is one). Iterative, and allocates only its stack of values.
 */
function withinLimits(root: JsonValue, maxStringLength: number, maxProperties: number): boolean {
  const stack: JsonValue[] = [root];
  let properties = 0;
  while (stack.length > 0) {
    const value = stack.pop() as JsonValue;
    if (typeof value === 'string') {
      if (value.length > maxStringLength) return false;
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (Array.isArray(value)) {
      properties += value.length;
      if (properties > maxProperties) return false;
      for (let i = 0; i < value.length; i++) stack.push(value[i] as JsonValue);
      continue;
    }
    const keys = Object.keys(value);
    properties += keys.length;
    if (properties > maxProperties) return false;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      if (key.length > maxStringLength) return false;
      stack.push(value[key] as JsonValue);
    }
  }
  return true;
}

/**
 * Checks one record; iterative, so that the (already depth-limited) tree cannot exhaust the stack.
 * Paths are built only for the value that fails, and the walk that builds them runs only when the
 * cheap one (`withinLimits`) found a problem.
 */
function checkRecord(
  root: JsonValue,
  record: number,
  maxStringLength: number,
  maxProperties: number,
): RecordLimitProblem | null {
  if (withinLimits(root, maxStringLength, maxProperties)) return null;
  return locateProblem(root, record, maxStringLength, maxProperties);
}

/** The problem `withinLimits` found, with its path (the first one in this walk's order). */
function locateProblem(
  root: JsonValue,
  record: number,
  maxStringLength: number,
  maxProperties: number,
): RecordLimitProblem | null {
  type Frame = { value: JsonValue; path: () => string };
  const stack: Frame[] = [{ value: root, path: () => '' }];
  let properties = 0;
  while (stack.length > 0) {
    const { value, path } = stack.pop() as Frame;
    if (typeof value === 'string') {
      if (value.length > maxStringLength) return { kind: 'string-too-long', record, path: path() };
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (Array.isArray(value)) {
      properties += value.length;
      if (properties > maxProperties) return { kind: 'too-many-properties', record, path: path() };
      for (let i = 0; i < value.length; i++) {
        stack.push({ value: value[i] as JsonValue, path: () => `${path()}[${i}]` });
      }
      continue;
    }
    const keys = Object.keys(value);
    properties += keys.length;
    if (properties > maxProperties) return { kind: 'too-many-properties', record, path: path() };
    for (const key of keys) {
      const child = () => (path() === '' ? pathKey(key) : `${path()}.${pathKey(key)}`);
      if (key.length > maxStringLength) return { kind: 'string-too-long', record, path: child() };
      stack.push({ value: value[key] as JsonValue, path: child });
    }
  }
  return null;
}

/**
 * The first record that breaks a bound, or null. A PostHog batch object `{batch: [...]}` is
 * checked event by event (its other fields as one more record).
 */
export function findRecordLimitProblem(
  records: readonly JsonValue[],
  maxStringLength: number,
  maxProperties: number,
): RecordLimitProblem | null {
  const only = records.length === 1 ? records[0] : undefined;
  if (typeof only === 'object' && only !== null && !Array.isArray(only)) {
    const batch = only.batch;
    if (Array.isArray(batch)) {
      for (let i = 0; i < batch.length; i++) {
        const problem = checkRecord(batch[i] as JsonValue, i, maxStringLength, maxProperties);
        if (problem) return { ...problem, path: `batch[${i}]${dot(problem.path)}` };
      }
      const rest = { ...only, batch: null };
      return checkRecord(rest, 0, maxStringLength, maxProperties);
    }
  }
  for (let i = 0; i < records.length; i++) {
    const problem = checkRecord(records[i] as JsonValue, i, maxStringLength, maxProperties);
    if (problem) return problem;
  }
  return null;
}

function dot(path: string): string {
  return path === '' || path.startsWith('[') ? path : `.${path}`;
}
