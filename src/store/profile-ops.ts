// Mixpanel's profile update semantics ($set, $set_once, $add, …) as one pure function,
// shared by every store adapter so that all backends apply updates identically.
import type { JsonObject, JsonValue } from '../shared/json.js';
import type { ProfileOp } from '../shared/profile-op.js';

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sameJson(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Applies one operation to a profile's properties and returns the new properties, or null when
 * the profile is deleted. `current` is null for a profile that does not exist yet. The input is
 * never mutated. Semantics follow Mixpanel's documented behaviour (see reference §3):
 * - `$set` overwrites; `$set_once` sets only missing properties;
 * - `$add` increments numbers (missing counts as 0; non-numeric current values are replaced);
 * - `$append` pushes onto a list (a missing or scalar property becomes a list);
 * - `$union` adds the values not already in the list; `$remove` removes every equal value;
 * - `$unset` removes the named properties; `$delete` deletes the profile.
 */
export function applyProfileOp(
  current: JsonObject | null,
  op: ProfileOp,
  value: JsonValue,
): JsonObject | null {
  if (op === '$delete') return null;
  const next: JsonObject = { ...(current ?? {}) };
  switch (op) {
    case '$set':
      if (isObject(value)) Object.assign(next, value);
      return next;
    case '$set_once':
      if (isObject(value)) {
        for (const [key, v] of Object.entries(value)) if (!(key in next)) next[key] = v;
      }
      return next;
    case '$add':
      if (isObject(value)) {
        for (const [key, v] of Object.entries(value)) {
          if (typeof v !== 'number') continue;
          const old = next[key];
          next[key] = (typeof old === 'number' ? old : 0) + v;
        }
      }
      return next;
    case '$append':
      if (isObject(value)) {
        for (const [key, v] of Object.entries(value)) {
          const old = next[key];
          next[key] = Array.isArray(old) ? [...old, v] : old === undefined ? [v] : [old, v];
        }
      }
      return next;
    case '$union':
      if (isObject(value)) {
        for (const [key, v] of Object.entries(value)) {
          const old = next[key];
          const list: JsonValue[] = Array.isArray(old) ? [...old] : old === undefined ? [] : [old];
          for (const item of Array.isArray(v) ? v : [v]) {
            if (!list.some((existing) => sameJson(existing, item))) list.push(item);
          }
          next[key] = list;
        }
      }
      return next;
    case '$remove':
      if (isObject(value)) {
        for (const [key, v] of Object.entries(value)) {
          const old = next[key];
          if (Array.isArray(old)) next[key] = old.filter((item) => !sameJson(item, v));
        }
      }
      return next;
    case '$unset':
      if (Array.isArray(value)) {
        for (const key of value) if (typeof key === 'string') delete next[key];
      }
      return next;
  }
}
