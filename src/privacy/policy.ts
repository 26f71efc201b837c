// The per-project privacy policy (zod schema, safe defaults) and how each property name is treated.
import { z } from 'zod';
import { AppError } from '../shared/errors.js';
import { err, ok, type Result } from '../shared/result.js';
import { isClickIdKey } from './url.js';

const GEO_RANK: Readonly<Record<'none' | 'country' | 'region' | 'city', number>> = {
  none: 0,
  country: 1,
  region: 2,
  city: 3,
};

const IP_NAMES = new Set([
  'ip',
  'ipaddress',
  'clientip',
  'remoteaddr',
  'remoteaddress',
  'xforwardedfor',
]);
const USER_AGENT_NAMES = new Set(['useragent', 'rawuseragent', 'httpuseragent']);
// The ids SDKs send about the user, device or session (sdk-wire-formats.md §2–§3).
// prettier-ignore
const IDENTIFIER_NAMES = new Set([
  'distinct_id', '$distinct_id', '$device_id', '$user_id', '$anon_distinct_id', '$anon_id',
  '$identified_id', 'alias', '$distinct_ids', '$distinct_id_before_identity', '$session_id',
  '$window_id',
]);
const REFERRER_NAMES = new Map([
  ['$referrer', '$referring_domain'],
  ['$initial_referrer', '$initial_referring_domain'],
  ['$session_entry_referrer', '$session_entry_referring_domain'],
]);
const DOMAIN_NAMES = new Set(REFERRER_NAMES.values());
// Profile updates riding on events (PostHog `$set`, `$set_once`, `$groupidentify`'s `$group_set`).
const PROFILE_OP_NAMES = new Set(['$set', '$set_once', '$group_set']);
const URL_NAMES = new Set([
  '$current_url',
  '$initial_current_url',
  '$session_entry_url',
  '$prev_pageview_url',
]);
const PATH_NAMES = new Set([
  'current_url_path',
  '$pathname',
  '$initial_pathname',
  '$session_entry_pathname',
  '$prev_pageview_pathname',
]);
// `mp_keyword` is the search query mixpanel-browser reads from a search-engine referrer: a query
// string by another name (e.g. a health condition), dropped like one.
const SEARCH_NAMES = new Set(['current_url_search', '$initial_current_url_search', 'mp_keyword']);
const LOCATION_NAMES = new Set([
  '$latitude',
  '$longitude',
  '$geoip_latitude',
  '$geoip_longitude',
  '$geoip_accuracy_radius',
]);
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
}

/**
 * True for properties no policy can loosen: the client IP and the raw user agent are inputs to
 * enrichment only, and the identity ids must stay pseudonyms because identity merge and the
 * stored rows rely on it.
 */
export function isLockedProperty(name: string): boolean {
  const normal = normaliseName(name);
  return (
    IP_NAMES.has(normal) ||
    USER_AGENT_NAMES.has(normal) ||
    IDENTIFIER_NAMES.has(name) ||
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

const NORMALISED_PII = new Set([...PROFILE_PII_KEYS].map(normaliseName));
// Suffixes that make any name PII (`billing_email`, `contact_phone`); `*_name` is not one of them
// because `plan_name`, `page_name`, `event_name` are ordinary analytics properties.
const PII_SUFFIXES = ['email', 'emailaddress', 'phone', 'phonenumber', 'mobilenumber'];

/** True when a property name denotes profile PII (see `PROFILE_PII_KEYS`). */
export function isProfilePiiKey(name: string): boolean {
  const normal = normaliseName(name);
  if (NORMALISED_PII.has(normal)) return true;
  // Flags such as `has_email` / `is_phone_verified` describe PII without containing it.
  if (normal.startsWith('has') || normal.startsWith('is')) return false;
  return PII_SUFFIXES.some((suffix) => normal.endsWith(suffix) && normal.length > suffix.length);
}

/** Why a property was dropped (reported in the privacy counters). */
export type DropReason =
  | 'ip'
  | 'user-agent'
  | 'click-id'
  | 'profile-pii'
  | 'referrer'
  | 'url-search'
  | 'location'
  | 'geo'
  | 'policy'
  | 'invalid';

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
  | { action: 'profile-ops' };

/** Whether a property bag belongs to an event or to a profile update. */
export type PropertyScope = 'event' | 'profile';

/**
 * Decides the treatment of a top-level property. Order: locked rules (IP, user agent, identity
 * ids) → the policy's explicit actions → click ids → URLs and referrers → precise location and geo
 * finer than the policy → profile PII → everything else is scanned.
 */
export function classifyProperty(
  name: string,
  policy: PrivacyPolicy,
  scope: PropertyScope = 'event',
): PropertyTreatment {
  const normal = normaliseName(name);
  if (IP_NAMES.has(normal)) return DROP_IP;
  if (USER_AGENT_NAMES.has(normal)) return DROP_UA;
  if (IDENTIFIER_NAMES.has(name)) return PSEUDONYMISE;
  if (name === '$groups') return GROUPS;

  const action = Object.hasOwn(policy.properties, name) ? policy.properties[name] : undefined;
  if (action === 'keep') return KEEP;
  if (action === 'redact') return REDACT;
  if (action === 'drop') return DROP_POLICY;
  if (action === 'pseudonymise' || policy.identifierProperties.includes(name)) return PSEUDONYMISE;
  if (policy.groupKeys.includes(name)) return { action: 'pseudonymise-group', groupKey: name };

  if (isClickIdKey(name)) return policy.keepClickIds ? KEEP : DROP_CLICK_ID;
  const referrer = REFERRER_NAMES.get(name);
  if (referrer !== undefined) return { action: 'referrer', domainProperty: referrer };
  if (DOMAIN_NAMES.has(name)) return DOMAIN;
  if (URL_NAMES.has(name)) return URL_TREATMENT;
  if (PATH_NAMES.has(name)) return PATH;
  if (SEARCH_NAMES.has(name)) return DROP_SEARCH;
  if (LOCATION_NAMES.has(name)) return DROP_LOCATION;
  const level = GEO_LEVEL.get(name);
  if (level !== undefined && GEO_RANK[level] > GEO_RANK[policy.geo]) return DROP_GEO;
  if (isProfilePiiKey(name)) return scope === 'profile' && policy.vault ? VAULT : DROP_PII;
  if (scope === 'event' && PROFILE_OP_NAMES.has(name)) return PROFILE_OPS;
  return SCAN;
}

/**
 * The rule for keys inside nested objects, where the policy's per-property actions do not reach:
 * IP, user-agent, precise-location, click-id (unless kept) and profile-PII keys are dropped; null
 * means the entry is scanned like any other.
 */
export function classifyNestedKey(name: string, policy: PrivacyPolicy): DropReason | null {
  const normal = normaliseName(name);
  if (IP_NAMES.has(normal)) return 'ip';
  if (USER_AGENT_NAMES.has(normal)) return 'user-agent';
  if (LOCATION_NAMES.has(name)) return 'location';
  if (!policy.keepClickIds && isClickIdKey(name)) return 'click-id';
  if (isProfilePiiKey(name)) return 'profile-pii';
  return null;
}

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
  });
}

function normaliseName(name: string): string {
  return name
    .replace(/^\$/, '')
    .replace(/[-_\s]/g, '')
    .toLowerCase();
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
const DROP_IP: PropertyTreatment = { action: 'drop', reason: 'ip' };
const DROP_UA: PropertyTreatment = { action: 'drop', reason: 'user-agent' };
const DROP_POLICY: PropertyTreatment = { action: 'drop', reason: 'policy' };
const DROP_CLICK_ID: PropertyTreatment = { action: 'drop', reason: 'click-id' };
const DROP_SEARCH: PropertyTreatment = { action: 'drop', reason: 'url-search' };
const DROP_LOCATION: PropertyTreatment = { action: 'drop', reason: 'location' };
const DROP_GEO: PropertyTreatment = { action: 'drop', reason: 'geo' };
const DROP_PII: PropertyTreatment = { action: 'drop', reason: 'profile-pii' };
