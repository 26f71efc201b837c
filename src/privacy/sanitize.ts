// Applies a project's privacy policy to event and profile property bags: the privacy stage's core.
import type { JsonObject, JsonValue } from '../shared/json.js';
import type { ProfileOp } from '../shared/profile-op.js';
import type { PrivacyCounters } from './counters.js';
import {
  classifyNestedKey,
  classifyProperty,
  type DropReason,
  type NestedTreatment,
  type PrivacyPolicy,
  type PropertyScope,
  type PropertyTreatment,
} from './policy.js';
import type { Pseudonymiser } from './pseudonymise.js';
import {
  defineEntry,
  hasHits,
  isJsonObject,
  mergeEntries,
  scanKey,
  scanNumber,
  scanText,
  type PiiHits,
} from './scanner.js';
import { cleanUrl, cleanUrlPath, cleanUrlsInText, referringDomain } from './url.js';

/** What the sanitizers need for one project. */
export interface SanitizeContext {
  policy: PrivacyPolicy;
  /** The project's pseudonymiser (current pseudonym key). */
  pseudonymise: Pseudonymiser;
  /** Where redactions and drops are counted, if anywhere. */
  counters?: PrivacyCounters;
}

/** A sanitized profile property bag and the PII held back for the vault (plaintext, to be sealed). */
export interface SanitizedProfile {
  properties: JsonObject;
  /** Empty unless the policy enables the vault. The caller seals it (`sealProperties`) at once. */
  vault: JsonObject;
}

/** The value that replaces a property whose policy action is `redact`. */
export const REDACTED = '[redacted]';

/**
 * Applies the whole privacy policy to an event's properties and returns a new bag (the input is
 * not mutated):
 * - IP and raw user-agent properties are dropped (locked);
 * - identity ids (`$device_id`, `$user_id`, `$anon_distinct_id`, `$anon_id`, `$identified_id`,
 *   `alias`, `$distinct_ids`, `$session_id`, `$window_id`, …) and policy identifier properties become
 *   pseudonyms; `$groups` values, `$group_key` and policy/known group-key properties become group
 *   pseudonyms;
 * - URLs keep scheme, host, cleaned path and `utm_*`; paths are cleaned; `current_url_search` is
 *   dropped; referrers become `$referring_domain` / `$initial_referring_domain` (domain only) when
 *   those are absent, then are dropped;
 * - click ids, precise coordinates, geo finer than the policy and profile PII keys are dropped;
 * - per-property policy actions apply (`keep` bypasses the scanner: audited loosening);
 * - everything else, keys included and at every depth, goes through URL cleaning and the PII
 *   scanner; nested IP, user-agent, PII and click-id keys are dropped too.
 */
export function sanitizeEventProperties(props: JsonObject, ctx: SanitizeContext): JsonObject {
  return sanitizeBag(props, ctx, 'event', true).properties;
}

/**
 * The same rules for a profile's properties (`$set` / `$set_once` objects). Profile PII keys are
 * returned in `vault` when the policy enables the vault, and dropped otherwise.
 */
export function sanitizeProfileProperties(
  props: JsonObject,
  ctx: SanitizeContext,
  scope: 'profile' | 'group' = 'profile',
): SanitizedProfile {
  return sanitizeBag(props, ctx, scope, scope === 'profile');
}

/**
 * Any free text outside a property bag (an event name, a group key, a profile key, an `$unset`
 * name) gets what every string value gets: URLs inside it cleaned, then the PII scanner.
 * Redactions are counted under `property`.
 */
export function sanitizeText(text: string, ctx: SanitizeContext, property: string): string {
  const hits: PiiHits = {};
  const out = cleanText(text, ctx, hits);
  if (hasHits(hits)) ctx.counters?.addHits(property, hits);
  return out;
}

/**
 * Sanitizes the value of one profile operation. Object operations go through
 * `sanitizeProfileProperties` (only `$set` / `$set_once` may feed the vault; PII in `$add`,
 * `$append`, `$union`, `$remove` is dropped); `$unset` names are scanned; `$delete` passes.
 */
export function sanitizeProfileUpdate(
  op: ProfileOp,
  value: JsonValue,
  ctx: SanitizeContext,
  scope: 'profile' | 'group' = 'profile',
): { value: JsonValue; vault: JsonObject } {
  switch (op) {
    case '$delete':
      return { value, vault: {} };
    case '$unset': {
      const names = Array.isArray(value) ? value : [];
      const hits: PiiHits = {};
      const cleaned = [
        ...new Set(
          names
            .filter((n): n is string => typeof n === 'string')
            .map((n) => cleanKey(n, ctx, hits)),
        ),
      ];
      if (hasHits(hits)) ctx.counters?.addHits('$unset', hits);
      return { value: cleaned, vault: {} };
    }
    default: {
      if (!isJsonObject(value)) return { value: {}, vault: {} };
      const allowVault = scope === 'profile' && (op === '$set' || op === '$set_once');
      const out = sanitizeBag(value, ctx, scope, allowVault);
      return { value: out.properties, vault: out.vault };
    }
  }
}

/**
 * The per-property tally of `sanitizeBag`, shared: it is empty between properties (a nested
 * `sanitizeBag`, for `$set` inside an event, empties it before returning too).
 */
const scratchHits: PiiHits = {};

function clearHits(hits: PiiHits): void {
  for (const kind of Object.keys(hits)) delete hits[kind as keyof PiiHits];
}

function sanitizeBag(
  props: JsonObject,
  ctx: SanitizeContext,
  scope: PropertyScope,
  allowVault: boolean,
): SanitizedProfile {
  const { counters } = ctx;
  const entries = new BagBuilder();
  const vault: Array<[string, JsonValue, string]> = [];
  const derived: Array<[string, string]> = [];
  const drop = (key: string, reason: DropReason): void =>
    counters?.addDrop(safeName(key, ctx), reason);
  // Left over only if a scan threw half-way through an earlier bag.
  if (hasHits(scratchHits)) clearHits(scratchHits);

  for (const key of Object.keys(props)) {
    const value = props[key] as JsonValue;
    const treatment = treatmentOf(key, props, ctx, scope);
    // Most properties find nothing: one scratch tally serves them all and is emptied after a hit.
    const hits = scratchHits;
    // Whatever the name means, the name itself is free text (`<e-mail> user_id`, `https://…?token=…
    // link`): cleaned like any key before it is stored or counted.
    const outKey =
      treatment.action === 'drop' || treatment.action === 'vault' || treatment.action === 'referrer'
        ? key
        : cleanKey(key, ctx, hits);
    let out: JsonValue | undefined;
    switch (treatment.action) {
      case 'drop':
        drop(key, treatment.reason);
        continue;
      case 'keep':
        out = value;
        break;
      case 'redact':
        out = REDACTED;
        break;
      case 'pseudonymise':
        out = pseudonymiseValue(value, ctx.pseudonymise, ctx, outKey);
        break;
      case 'pseudonymise-group':
        out = pseudonymiseValue(
          value,
          (id) => ctx.pseudonymise.group(treatment.groupKey, id),
          ctx,
          outKey,
        );
        break;
      case 'groups':
        out = pseudonymiseGroups(value, ctx, hits);
        break;
      case 'vault':
        if (allowVault) vault.push([key, value, key]);
        else drop(key, 'profile-pii');
        continue;
      case 'url':
        out =
          typeof value === 'string'
            ? (cleanUrl(value, ctx.policy, hits) ?? undefined)
            : deepScan(value, key, ctx, hits);
        break;
      case 'path':
        out =
          typeof value === 'string'
            ? cleanPathValue(value, ctx, hits)
            : deepScan(value, key, ctx, hits);
        break;
      case 'referrer': {
        const domain = typeof value === 'string' ? referringDomain(value, hits) : null;
        if (domain !== null) derived.push([treatment.domainProperty, domain]);
        drop(key, 'referrer');
        continue;
      }
      case 'domain':
        out = typeof value === 'string' ? (referringDomain(value, hits) ?? undefined) : undefined;
        break;
      case 'person-info':
        out = isJsonObject(value)
          ? personInfo(value, outKey, ctx, hits)
          : deepScan(value, outKey, ctx, hits);
        break;
      case 'profile-ops': {
        if (!isJsonObject(value)) {
          out = undefined;
          break;
        }
        const inner = sanitizeBag(value, ctx, 'profile', false);
        out = inner.properties;
        break;
      }
      case 'scan':
        out = deepScan(value, outKey, ctx, hits);
        break;
    }
    if (hasHits(hits)) {
      counters?.addHits(outKey, hits);
      clearHits(hits);
    }
    if (out === undefined) {
      drop(outKey, 'invalid');
      continue;
    }
    entries.push(outKey, out, key);
  }

  // An explicit `$referring_domain` (already normalised above) wins over one derived here.
  for (const [key, domain] of derived) {
    if (!Object.hasOwn(props, key)) entries.push(key, domain, key);
  }
  return { properties: entries.build(), vault: vault.length === 0 ? {} : mergeEntries(vault) };
}

/**
 * `mergeEntries` over [cleanKey, value, originalKey] entries, built as they come: while every key
 * is unchanged and new (nearly always), the object is filled directly; the first renamed or
 * repeated key switches to collecting entries for `mergeEntries`, which settles collisions.
 */
class BagBuilder {
  private readonly direct: JsonObject = {};
  private entries: Array<[string, JsonValue, string]> | null = null;

  push(key: string, value: JsonValue, original: string): void {
    if (this.entries === null) {
      if (key === original && !Object.hasOwn(this.direct, key)) {
        defineEntry(this.direct, key, value);
        return;
      }
      this.entries = Object.keys(this.direct).map((k) => [k, this.direct[k] as JsonValue, k]);
    }
    this.entries.push([key, value, original]);
  }

  build(): JsonObject {
    return this.entries === null ? this.direct : mergeEntries(this.entries);
  }
}

function treatmentOf(
  key: string,
  props: JsonObject,
  ctx: SanitizeContext,
  scope: PropertyScope,
): PropertyTreatment {
  // PostHog `$groupidentify`: `$group_key` is the group id of type `$group_type`.
  if (key === '$group_key') {
    const type = props.$group_type;
    return { action: 'pseudonymise-group', groupKey: typeof type === 'string' ? type : '' };
  }
  // Group keys come from the policy only, never from traffic (issue 11: a `/groups` update with
  // the public token could make any property a group id).
  return classifyTreatment(key, ctx.policy, scope);
}

// Property names repeat across millions of events: memoise their classification per policy.
const MEMO_LIMIT = 10_000;
interface TreatmentMemo {
  event: Map<string, PropertyTreatment>;
  profile: Map<string, PropertyTreatment>;
  group: Map<string, PropertyTreatment>;
  nested: Map<string, NestedTreatment>;
}
const memos = new WeakMap<PrivacyPolicy, TreatmentMemo>();

function memoFor(policy: PrivacyPolicy): TreatmentMemo {
  let memo = memos.get(policy);
  if (!memo) {
    memo = { event: new Map(), profile: new Map(), group: new Map(), nested: new Map() };
    memos.set(policy, memo);
  }
  return memo;
}

function classifyTreatment(
  key: string,
  policy: PrivacyPolicy,
  scope: PropertyScope,
): PropertyTreatment {
  const memo = memoFor(policy)[scope];
  let treatment = memo.get(key);
  if (treatment === undefined) {
    treatment = classifyProperty(key, policy, scope);
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(key, treatment);
  }
  return treatment;
}

function nestedTreatment(key: string, policy: PrivacyPolicy): NestedTreatment {
  const memo = memoFor(policy).nested;
  let treatment = memo.get(key);
  if (treatment === undefined) {
    treatment = classifyNestedKey(key, policy);
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(key, treatment);
  }
  return treatment;
}

function pseudonymiseValue(
  value: JsonValue,
  make: (id: string) => string,
  ctx: SanitizeContext,
  property: string,
): JsonValue | undefined {
  if (value === null) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    ctx.counters?.addPseudonymised(property);
    return make(String(value));
  }
  if (Array.isArray(value)) {
    const out: JsonValue[] = [];
    for (const item of value) {
      // Only scalars are ids; a nested structure in an id list is dropped rather than stored.
      if (item === null || isJsonObject(item) || Array.isArray(item)) continue;
      const p = pseudonymiseValue(item, make, ctx, property);
      if (p !== undefined) out.push(p);
    }
    return out;
  }
  return undefined;
}

function pseudonymiseGroups(
  value: JsonValue,
  ctx: SanitizeContext,
  hits: PiiHits,
): JsonValue | undefined {
  if (!isJsonObject(value)) return undefined;
  const entries: Array<[string, JsonValue, string]> = [];
  for (const [type, ids] of Object.entries(value)) {
    const out = pseudonymiseValue(ids, (id) => ctx.pseudonymise.group(type, id), ctx, '$groups');
    if (out !== undefined) entries.push([cleanKey(type, ctx, hits), out, type]);
  }
  return mergeEntries(entries);
}

function cleanPathValue(value: string, ctx: SanitizeContext, hits: PiiHits): string {
  if (value.startsWith('/')) return cleanUrl(value, ctx.policy, hits) ?? cleanUrlPath(value, hits);
  return cleanText(cleanUrlPath(value, hits), ctx, hits);
}

/** A string anywhere: URLs inside it cleaned, then the PII scanner. */
function cleanText(value: string, ctx: SanitizeContext, hits: PiiHits): string {
  return scanText(cleanUrlsInText(value, ctx.policy, hits), hits);
}

/** A key anywhere: as any string, with the scanner's memory of clean keys. */
function cleanKey(key: string, ctx: SanitizeContext, hits: PiiHits): string {
  return scanKey(cleanUrlsInText(key, ctx.policy, hits), hits);
}

/**
 * posthog-js's `$initial_person_info` (registered on every event and sent in `$set_once`): `r`
 * is the first referrer, kept as its domain like every referrer (a full referrer's path can name
 * a person: a profile page), `u` the first URL, cleaned like every URL; anything else as any
 * nested value.
 */
function personInfo(
  value: JsonObject,
  property: string,
  ctx: SanitizeContext,
  hits: PiiHits,
): JsonValue {
  const { r, u, ...rest } = value;
  const out = deepScan(rest, property, ctx, hits) as JsonObject;
  const entries: Array<[string, JsonValue, string]> = Object.keys(out).map((k) => [
    k,
    out[k] as JsonValue,
    k,
  ]);
  if (typeof r === 'string') {
    const domain = referringDomain(r, hits);
    if (domain !== null) entries.push(['r', domain, 'r']);
    else ctx.counters?.addDrop(safeName(property, ctx), 'referrer');
  } else if (r !== undefined) entries.push(['r', deepScan(r, property, ctx, hits), 'r']);
  if (typeof u === 'string') {
    entries.push(['u', cleanUrl(u, ctx.policy, hits) ?? cleanText(u, ctx, hits), 'u']);
  } else if (u !== undefined) entries.push(['u', deepScan(u, property, ctx, hits), 'u']);
  return mergeEntries(entries);
}

/**
 * The scanner's walk with the sanitizer's rules, at any depth: URLs inside strings are cleaned
 * before the PII scan, and nested keys are treated by what their name means (key-names.ts):
 * identifiers pseudonymised, URLs cleaned, referrers reduced to a domain, IP, user-agent,
 * credential, personal-data, location and click-id keys dropped (counted under the top-level
 * property).
 */
function deepScan(
  value: JsonValue,
  property: string,
  ctx: SanitizeContext,
  hits: PiiHits,
): JsonValue {
  if (typeof value === 'string') return cleanText(value, ctx, hits);
  if (typeof value === 'number') return scanNumber(value, hits);
  if (value === null || typeof value === 'boolean') return value;
  if (Array.isArray(value)) {
    let out: JsonValue[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const item = value[i] as JsonValue;
      const cleaned = deepScan(item, property, ctx, hits);
      if (cleaned !== item && out === null) out = value.slice(0, i);
      if (out !== null) out.push(cleaned);
    }
    return out ?? value;
  }
  const entries: Array<[string, JsonValue, string]> = [];
  let changed = false;
  for (const [key, v] of Object.entries(value)) {
    const treatment = nestedTreatment(key, ctx.policy);
    let out: JsonValue | undefined;
    // Nested names are free text too, whatever they mean (see sanitizeBag).
    const cleanKeyName = treatment.action === 'drop' ? key : cleanKey(key, ctx, hits);
    switch (treatment.action) {
      case 'drop':
        ctx.counters?.addDrop(safeName(property, ctx), treatment.reason);
        changed = true;
        continue;
      case 'pseudonymise':
        out = pseudonymiseValue(v, ctx.pseudonymise, ctx, property);
        break;
      case 'url':
        out =
          typeof v === 'string'
            ? (cleanUrl(v, ctx.policy, hits) ?? cleanText(v, ctx, hits))
            : deepScan(v, property, ctx, hits);
        break;
      case 'domain':
        out = typeof v === 'string' ? (referringDomain(v, hits) ?? undefined) : undefined;
        break;
      case 'scan':
        out = deepScan(v, property, ctx, hits);
        break;
    }
    if (out === undefined) {
      ctx.counters?.addDrop(safeName(property, ctx), 'invalid');
      changed = true;
      continue;
    }
    if (cleanKeyName !== key || out !== v) changed = true;
    entries.push([cleanKeyName, out, key]);
  }
  return changed ? mergeEntries(entries) : value;
}

/**
 * Counts, in the privacy report, a value the wire layer altered before this stage (see
 * {@link DropReason} `truncated-surrogate`), under the property's scanned name.
 */
export function countAlteration(ctx: SanitizeContext, property: string, reason: DropReason): void {
  ctx.counters?.addDrop(safeName(property, ctx), reason);
}

/** Counter names are cleaned like any key (URLs too; a key can itself be PII), hits not counted. */
function safeName(key: string, ctx: SanitizeContext): string {
  return cleanKey(key, ctx, {});
}
