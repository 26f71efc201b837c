// The per-project privacy policy (zod schema, safe defaults) and how each property name is treated.
import { z } from 'zod';
import { AppError } from '../shared/errors.js';
import { err, ok, type Result } from '../shared/result.js';
import { IDENTITY_ID_NAMES, keyMeaning } from './key-names.js';
import { isClickIdKey } from './url.js';

const GEO_RANK: Readonly<Record<'none' | 'country' | 'region' | 'city', number>> = {
  none: 0,
  country: 1,
  region: 2,
  city: 3,
};

const REFERRER_NAMES = new Map([
  ['$referrer', '$referring_domain'],
  ['$initial_referrer', '$initial_referring_domain'],
  ['$session_entry_referrer', '$session_entry_referring_domain'],
]);
// Profile updates riding on events (PostHog `$set`, `$set_once`, `$groupidentify`'s `$group_set`).
const PROFILE_OP_NAMES = new Set(['$set', '$set_once', '$group_set']);
// prettier-ignore
const GEO_LEVEL = new Map<string, 'country' | 'region' | 'city'>([
  ['mp_country_code', 'country'], ['$country_code', 'country'], ['$geoip_country_code', 'country'],
  ['$geoip_country_name', 'country'], ['$geoip_continent_code', 'country'],
  ['$geoip_continent_name', 'country'], ['$timezone', 'country'], ['$geoip_time_zone', 'country'],
  ['$region', 'region'], ['$geoip_subdivision_1_code', 'region'], ['$geoip_subdivision_1_name', 'region'],
  ['$geoip_subdivision_2_code', 'region'], ['$geoip_subdivision_2_name', 'region'],
  ['$city', 'city'], ['$geoip_city_name', 'city'], ['$geoip_postal_code', 'city'], ['$postal_code', 'city'],
]);

/** How precisely geolocation is stored. */
export type GeoGranularity = 'none' | 'country' | 'region' | 'city';
/** Every granularity, coarsest first. */
export const GEO_GRANULARITIES: readonly GeoGranularity[] = ['none', 'country', 'region', 'city'];

/** What the policy may say about one property. */
export type PropertyAction = 'keep' | 'pseudonymise' | 'redact' | 'drop';
/** Every per-property action. */
export const PROPERTY_ACTIONS: readonly PropertyAction[] = [
  'keep',
  'pseudonymise',
  'redact',
  'drop',
];

/** A project's privacy policy, normalised. */
export interface PrivacyPolicy {
  /** Geolocation stored down to this level (default `region`). */
  readonly geo: GeoGranularity;
  /**
   * Explicit per-property actions, by exact top-level property name. `keep` stores the value as
   * sent, bypassing the PII scanner: it is the loosening that the caller must audit.
   */
  readonly properties: Readonly<Record<string, PropertyAction>>;
  /** Properties holding user-ish ids: pseudonymised in the same domain as distinct_id. */
  readonly identifierProperties: readonly string[];
  /** Mixpanel group keys (`company_id`, …): their values are pseudonymised as group ids. */
  readonly groupKeys: readonly string[];
  /** Keep profile PII sealed in the per-subject encrypted vault instead of dropping it. */
  readonly vault: boolean;
  /** Delete events older than this many days; null keeps them. */
  readonly retentionDays: number | null;
  /** Keep ad click ids (gclid, fbclid, …) as properties and in URLs. */
  readonly keepClickIds: boolean;
  /**
   * Keep company names: a group profile's `name` / `$name` and properties such as `company_name`
   * (scanned, not dropped). Off by default: a small company's name can name a person.
   */
  readonly keepGroupNames: boolean;
  /**
   * Event properties called exactly `name`, `address` or `photo` that are kept (scanned) instead of
   * dropped: many apps use them for things (a product's name, a venue's address, a photo id).
   */
  readonly keepEventProperties: readonly EventPropertySwitch[];
}

/** The event properties a policy may keep by switch (see `keepEventProperties`). */
export type EventPropertySwitch = 'name' | 'address' | 'photo';
export const EVENT_PROPERTY_SWITCHES: readonly EventPropertySwitch[] = ['name', 'address', 'photo'];

/**
 * True for properties no policy can loosen: the client IP and the raw user agent are inputs to
 * enrichment only, credentials are never analytics, and the identity ids must stay pseudonyms
 * because identity merge and the stored rows rely on it.
 */
export function isLockedProperty(name: string): boolean {
  const meaning = keyMeaning(name);
  return (
    meaning === 'ip' ||
    meaning === 'user-agent' ||
    meaning === 'credential' ||
    IDENTITY_ID_NAMES.has(name) ||
    name === '$groups' ||
    name === '$group_key'
  );
}

const FORBIDDEN_NAMES = new Set(['__proto__', 'constructor', 'prototype']);
const propertyName = z
  .string()
  .min(1)
  .max(255)
  .refine((name) => !FORBIDDEN_NAMES.has(name), { message: 'reserved property name' });

/** Group keys pseudonymised unless a policy says otherwise (Mixpanel's usual group analytics keys). */
export const DEFAULT_GROUP_KEYS: readonly string[] = [
  'company_id',
  'company',
  'organization_id',
  'organisation_id',
  'org_id',
  'account_id',
  'team_id',
  'workspace_id',
  'tenant_id',
];

/** The zod schema of a policy as configured (API, CLI, metadata). Missing fields get defaults. */
export const privacyPolicySchema = z
  .strictObject({
    geo: z.enum(['none', 'country', 'region', 'city']).default('region'),
    properties: z
      .record(propertyName, z.enum(['keep', 'pseudonymise', 'redact', 'drop']))
      .refine((r) => Object.keys(r).length <= 1000, { message: 'at most 1000 property actions' })
      .default({}),
    identifierProperties: z.array(propertyName).max(1000).default([]),
    // Organisation ids were part of the 2025 breach: the usual group keys are pseudonymised by
    // default. A project lists its own (replacing these) in its policy.
    groupKeys: z
      .array(propertyName)
      .max(100)
      .default([...DEFAULT_GROUP_KEYS]),
    vault: z.boolean().default(false),
    retentionDays: z.number().int().min(1).max(36_500).nullable().default(null),
    keepClickIds: z.boolean().default(false),
    keepGroupNames: z.boolean().default(false),
    keepEventProperties: z
      .array(z.enum(['name', 'address', 'photo']))
      .max(3)
      .default([]),
  })
  .superRefine((policy, ctx) => {
    const seen = new Map<string, string>();
    const claim = (name: string, what: string, path: (string | number)[]): void => {
      if (isLockedProperty(name)) {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `"${name}" is handled by Sillage and cannot be set by a policy`,
        });
      }
      const previous = seen.get(name);
      if (previous !== undefined && previous !== what) {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `"${name}" is given two different treatments`,
        });
      }
      seen.set(name, what);
    };
    for (const [name, action] of Object.entries(policy.properties))
      claim(name, action, ['properties', name]);
    policy.identifierProperties.forEach((name, i) =>
      claim(name, 'pseudonymise', ['identifierProperties', i]),
    );
    policy.groupKeys.forEach((name, i) => claim(name, 'group', ['groupKeys', i]));
  });

/** Validates a policy from outside (API, CLI, stored metadata); the error names fields, not values. */
export function parsePrivacyPolicy(input: unknown): Result<PrivacyPolicy, string> {
  const parsed = privacyPolicySchema.safeParse(input);
  if (parsed.success) return ok(freezePolicy(parsed.data));
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'policy';
  return err(`${where}: ${issue?.message ?? 'invalid privacy policy'}`);
}

/**
 * Parses a stored policy, throwing AppError `CONFIG_INVALID` when it is not valid (stored policies
 * were validated when set, so failure here means corrupted metadata).
 */
export function parsePolicy(input: unknown): PrivacyPolicy {
  const parsed = parsePrivacyPolicy(input);
  if (!parsed.ok)
    throw new AppError('CONFIG_INVALID', `Stored privacy policy is invalid (${parsed.error}).`);
  return parsed.value;
}

/** The safe default: region-level geo, nothing kept raw, no vault, no retention limit, no click ids. */
export const DEFAULT_POLICY: PrivacyPolicy = freezePolicy(privacyPolicySchema.parse({}));

/**
 * Profile PII dropped by default (or sealed in the vault when the policy enables it): Mixpanel's
 * reserved names and the common spellings SDK users send. Matching ignores case, a leading `$`,
 * and `_`, `-`, spaces (so `firstName`, `first_name`, `First Name` all match).
 */
// prettier-ignore
export const PROFILE_PII_KEYS: ReadonlySet<string> = new Set([
  '$email', '$name', '$first_name', '$last_name', '$phone', '$avatar',
  'email', 'e-mail', 'e_mail', 'mail', 'email_address', 'emailAddress',
  'name', 'full_name', 'fullName', 'first_name', 'firstName', 'firstname', 'last_name', 'lastName',
  'lastname', 'surname', 'given_name', 'family_name', 'middle_name', 'display_name', 'username',
  'user_name', 'phone', 'phone_number', 'phoneNumber', 'mobile', 'mobile_number', 'mobile_phone',
  'telephone', 'tel', 'cell_phone', 'avatar', 'avatar_url', 'avatarUrl', 'photo', 'photo_url',
  'picture', 'profile_picture', 'profile_image', 'address', 'street', 'street_address',
  'address_line1', 'address_line2', 'mac_address', 'birthday', 'birthdate', 'date_of_birth', 'dob', 'ssn',
]);

/** True when a property name denotes personal data (see key-names.ts: `PROFILE_PII_KEYS` and families). */
export function isProfilePiiKey(name: string): boolean {
  const meaning = keyMeaning(name);
  return meaning === 'personal' || meaning === 'company-name';
}

/** Why a property was dropped (reported in the privacy counters). */
export type DropReason =
  | 'ip'
  | 'user-agent'
  | 'click-id'
  | 'profile-pii'
  | 'credential'
  | 'referrer'
  | 'url-search'
  | 'location'
  | 'geo'
  | 'policy'
  | 'invalid'
  /**
   * Not a dropped property: the lone half of an emoji that an SDK's 255-unit truncation cut was
   * removed from the value (the wire layer's one normalisation); the property was kept.
   */
  | 'truncated-surrogate';

/** What happens to one top-level property. */
export type PropertyTreatment =
  | { action: 'scan' }
  | { action: 'keep' }
  | { action: 'redact' }
  | { action: 'drop'; reason: DropReason }
  | { action: 'pseudonymise' }
  | { action: 'pseudonymise-group'; groupKey: string }
  | { action: 'groups' }
  | { action: 'vault' }
  | { action: 'url' }
  | { action: 'path' }
  | { action: 'referrer'; domainProperty: string }
  | { action: 'domain' }
  | { action: 'profile-ops' }
  | { action: 'person-info' };

/** Whether a property bag belongs to an event, a user profile or a group profile. */
export type PropertyScope = 'event' | 'profile' | 'group';

/**
 * Decides the treatment of a top-level property. Order: locked rules (IP, user agent, identity
 * ids, credentials) → the policy's explicit actions → click ids → what the name means (key-names.ts:
 * URLs, referrers, precise location, geo finer than the policy, personal data, identifiers) →
 * everything else is scanned.
 */
export function classifyProperty(
  name: string,
  policy: PrivacyPolicy,
  scope: PropertyScope = 'event',
): PropertyTreatment {
  const meaning = keyMeaning(name);
  if (meaning === 'ip') return DROP_IP;
  if (meaning === 'user-agent') return DROP_UA;
  if (IDENTITY_ID_NAMES.has(name)) return PSEUDONYMISE;
  if (name === '$groups') return GROUPS;
  if (meaning === 'credential') return DROP_CREDENTIAL;

  const action = Object.hasOwn(policy.properties, name) ? policy.properties[name] : undefined;
  if (action === 'keep') return KEEP;
  if (action === 'redact') return REDACT;
  if (action === 'drop') return DROP_POLICY;
  if (action === 'pseudonymise' || policy.identifierProperties.includes(name)) return PSEUDONYMISE;
  if (policy.groupKeys.includes(name)) return { action: 'pseudonymise-group', groupKey: name };

  if (isClickIdKey(name)) return policy.keepClickIds ? KEEP : DROP_CLICK_ID;
  const referrer = REFERRER_NAMES.get(name);
  if (referrer !== undefined) return { action: 'referrer', domainProperty: referrer };
  if (name === '$initial_person_info') return PERSON_INFO;
  const level = GEO_LEVEL.get(name);
  if (level !== undefined) return GEO_RANK[level] > GEO_RANK[policy.geo] ? DROP_GEO : SCAN;
  switch (meaning) {
    case 'referrer':
    case 'domain':
      return DOMAIN;
    case 'url':
      return URL_TREATMENT;
    case 'path':
      return PATH;
    case 'search':
      return DROP_SEARCH;
    case 'location':
      return DROP_LOCATION;
    case 'identifier':
      return PSEUDONYMISE;
    case 'company-name':
      return policy.keepGroupNames ? SCAN : DROP_PII;
    case 'personal':
      return personalTreatment(name, policy, scope);
    default:
      break;
  }
  if (scope === 'event' && PROFILE_OP_NAMES.has(name)) return PROFILE_OPS;
  return SCAN;
}

function personalTreatment(
  name: string,
  policy: PrivacyPolicy,
  scope: PropertyScope,
): PropertyTreatment {
  // A group's `name` is the company's name.
  if (scope === 'group' && (name === 'name' || name === '$name'))
    return policy.keepGroupNames ? SCAN : DROP_PII;
  if (scope === 'event' && (policy.keepEventProperties as readonly string[]).includes(name))
    return SCAN;
  return scope === 'profile' && policy.vault ? VAULT : DROP_PII;
}

/** What happens to an entry of a nested object, by its key (the policy's per-property actions do not reach there). */
export type NestedTreatment =
  | { action: 'drop'; reason: DropReason }
  | { action: 'pseudonymise' }
  | { action: 'url' }
  | { action: 'domain' }
  | { action: 'scan' };

/**
 * The rule for keys inside nested objects, from the same key-name table: IP, user-agent,
 * credential, precise-location, search, click-id (unless kept) and personal-data keys are dropped;
 * identifier keys are pseudonymised (`meta.distinct_id`, a nested `$device_id`); URL keys cleaned;
 * referrer and domain keys reduced to a scanned domain; everything else is scanned.
 */
export function classifyNestedKey(name: string, policy: PrivacyPolicy): NestedTreatment {
  switch (keyMeaning(name)) {
    case 'ip':
      return NESTED_DROP_IP;
    case 'user-agent':
      return NESTED_DROP_UA;
    case 'credential':
      return NESTED_DROP_CREDENTIAL;
    case 'location':
      return NESTED_DROP_LOCATION;
    case 'search':
      return NESTED_DROP_SEARCH;
    case 'personal':
      return NESTED_DROP_PII;
    case 'company-name':
      return policy.keepGroupNames ? NESTED_SCAN : NESTED_DROP_PII;
    case 'identifier':
      return NESTED_PSEUDONYMISE;
    case 'url':
      return NESTED_URL;
    case 'referrer':
    case 'domain':
      return NESTED_DOMAIN;
    default:
      break;
  }
  if (!policy.keepClickIds && isClickIdKey(name)) return NESTED_DROP_CLICK_ID;
  return NESTED_SCAN;
}

const NESTED_DROP_IP: NestedTreatment = { action: 'drop', reason: 'ip' };
const NESTED_DROP_UA: NestedTreatment = { action: 'drop', reason: 'user-agent' };
const NESTED_DROP_CREDENTIAL: NestedTreatment = { action: 'drop', reason: 'credential' };
const NESTED_DROP_LOCATION: NestedTreatment = { action: 'drop', reason: 'location' };
const NESTED_DROP_SEARCH: NestedTreatment = { action: 'drop', reason: 'url-search' };
const NESTED_DROP_PII: NestedTreatment = { action: 'drop', reason: 'profile-pii' };
const NESTED_DROP_CLICK_ID: NestedTreatment = { action: 'drop', reason: 'click-id' };
const NESTED_PSEUDONYMISE: NestedTreatment = { action: 'pseudonymise' };
const NESTED_URL: NestedTreatment = { action: 'url' };
const NESTED_DOMAIN: NestedTreatment = { action: 'domain' };
const NESTED_SCAN: NestedTreatment = { action: 'scan' };

/** Geolocation as enrichment produced it. */
export interface GeoFields {
  countryCode: string | null;
  region: string | null;
  city: string | null;
}

/** Nulls every field finer than the granularity (`region` keeps country and region). */
export function applyGeoGranularity(geo: GeoFields, granularity: GeoGranularity): GeoFields {
  const rank = GEO_RANK[granularity];
  return {
    countryCode: rank >= GEO_RANK.country ? geo.countryCode : null,
    region: rank >= GEO_RANK.region ? geo.region : null,
    city: rank >= GEO_RANK.city ? geo.city : null,
  };
}

/**
 * The ways a policy is looser than `DEFAULT_POLICY`, as short sentences for the audit log (the
 * design requires every loosening to be audited).
 */
export function describeLoosenings(policy: PrivacyPolicy): string[] {
  const out: string[] = [];
  if (GEO_RANK[policy.geo] > GEO_RANK[DEFAULT_POLICY.geo])
    out.push(`geolocation stored down to ${policy.geo}`);
  if (policy.keepClickIds) out.push('ad click ids kept');
  if (policy.keepGroupNames) out.push('company and group names kept (scanned)');
  for (const name of policy.keepEventProperties)
    out.push(`event property "${name}" kept (scanned) instead of dropped`);
  if (policy.vault) out.push('profile PII kept in the encrypted vault');
  for (const [name, action] of Object.entries(policy.properties).sort(([a], [b]) =>
    a < b ? -1 : 1,
  )) {
    const before = classifyProperty(name, DEFAULT_POLICY).action;
    if (action === 'keep') out.push(`property "${name}" kept as sent, without PII scanning`);
    else if (action === 'pseudonymise' && before === 'drop')
      out.push(`property "${name}" pseudonymised instead of dropped`);
  }
  return out;
}

function freezePolicy(policy: z.output<typeof privacyPolicySchema>): PrivacyPolicy {
  // Rebuild the record with own data properties only, then freeze everything.
  const properties: Record<string, PropertyAction> = {};
  for (const [name, action] of Object.entries(policy.properties)) {
    Object.defineProperty(properties, name, { value: action, enumerable: true });
  }
  return Object.freeze({
    geo: policy.geo,
    properties: Object.freeze(properties),
    identifierProperties: Object.freeze([...policy.identifierProperties]),
    groupKeys: Object.freeze([...policy.groupKeys]),
    vault: policy.vault,
    retentionDays: policy.retentionDays,
    keepClickIds: policy.keepClickIds,
    keepGroupNames: policy.keepGroupNames,
    keepEventProperties: Object.freeze([...new Set(policy.keepEventProperties)].sort()),
  });
}

const SCAN: PropertyTreatment = { action: 'scan' };
const KEEP: PropertyTreatment = { action: 'keep' };
const REDACT: PropertyTreatment = { action: 'redact' };
const PSEUDONYMISE: PropertyTreatment = { action: 'pseudonymise' };
const GROUPS: PropertyTreatment = { action: 'groups' };
const VAULT: PropertyTreatment = { action: 'vault' };
const URL_TREATMENT: PropertyTreatment = { action: 'url' };
const PATH: PropertyTreatment = { action: 'path' };
const DOMAIN: PropertyTreatment = { action: 'domain' };
const PROFILE_OPS: PropertyTreatment = { action: 'profile-ops' };
// posthog-js's `{r: first referrer, u: first URL}`: `r` a referrer, `u` a URL (sanitize.ts).
const PERSON_INFO: PropertyTreatment = { action: 'person-info' };
const DROP_IP: PropertyTreatment = { action: 'drop', reason: 'ip' };
const DROP_UA: PropertyTreatment = { action: 'drop', reason: 'user-agent' };
const DROP_POLICY: PropertyTreatment = { action: 'drop', reason: 'policy' };
const DROP_CLICK_ID: PropertyTreatment = { action: 'drop', reason: 'click-id' };
const DROP_SEARCH: PropertyTreatment = { action: 'drop', reason: 'url-search' };
const DROP_LOCATION: PropertyTreatment = { action: 'drop', reason: 'location' };
const DROP_GEO: PropertyTreatment = { action: 'drop', reason: 'geo' };
const DROP_PII: PropertyTreatment = { action: 'drop', reason: 'profile-pii' };
const DROP_CREDENTIAL: PropertyTreatment = { action: 'drop', reason: 'credential' };
