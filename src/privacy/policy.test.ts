// Tests for the privacy policy: defaults, validation, property classification, geo granularity.
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_GROUP_KEYS,
  applyGeoGranularity,
  classifyNestedKey,
  classifyProperty,
  DEFAULT_POLICY,
  describeLoosenings,
  isProfilePiiKey,
  parsePolicy,
  parsePrivacyPolicy,
  type PrivacyPolicy,
} from './policy.js';

function policy(input: unknown): PrivacyPolicy {
  const parsed = parsePrivacyPolicy(input);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

describe('DEFAULT_POLICY', () => {
  it('is the safe default and immutable', () => {
    expect(DEFAULT_POLICY).toEqual({
      geo: 'region',
      properties: {},
      identifierProperties: [],
      groupKeys: [...DEFAULT_GROUP_KEYS],
      vault: false,
      retentionDays: null,
      keepClickIds: false,
      keepGroupNames: false,
      keepEventProperties: [],
    });
    expect(Object.isFrozen(DEFAULT_POLICY)).toBe(true);
    expect(Object.isFrozen(DEFAULT_POLICY.properties)).toBe(true);
    expect(describeLoosenings(DEFAULT_POLICY)).toEqual([]);
  });
});

describe('parsePrivacyPolicy', () => {
  it('fills defaults for missing fields', () => {
    expect(policy({ geo: 'country', retentionDays: 395 })).toMatchObject({
      geo: 'country',
      retentionDays: 395,
      vault: false,
    });
  });

  it.each([
    ['an unknown field', { extra: true }, /Unrecognized key/],
    ['an unknown granularity', { geo: 'street' }, /^geo:/],
    ['an unknown action', { properties: { plan: 'encrypt' } }, /^properties/],
    ['a zero retention', { retentionDays: 0 }, /^retentionDays/],
    ['loosening the IP', { properties: { $ip: 'keep' } }, /cannot be set by a policy/],
    [
      'loosening a user-agent spelling',
      { properties: { userAgent: 'keep' } },
      /cannot be set by a policy/,
    ],
    [
      'touching distinct_id',
      { identifierProperties: ['distinct_id'] },
      /cannot be set by a policy/,
    ],
    [
      'two treatments for one name',
      { properties: { org: 'drop' }, groupKeys: ['org'] },
      /two different treatments/,
    ],
    ['a reserved name', { identifierProperties: ['constructor'] }, /reserved/],
  ])('rejects %s, naming the field', (_name, input, message) => {
    const parsed = parsePrivacyPolicy(input);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(message);
  });

  it('parsePolicy throws CONFIG_INVALID for a corrupted stored policy', () => {
    expect(() => parsePolicy({ geo: 7 })).toThrow(/privacy policy is invalid/);
    expect(parsePolicy({})).toEqual(DEFAULT_POLICY);
  });
});

describe('isProfilePiiKey', () => {
  it.each([
    '$email',
    'email',
    'e-mail',
    'Email',
    'EMAIL_ADDRESS',
    'emailAddress',
    '$name',
    'name',
    'firstName',
    'first_name',
    'First Name',
    'lastName',
    'last_name',
    '$phone',
    'phone_number',
    'phoneNumber',
    'mobile',
    '$avatar',
    'avatar_url',
    'billing_email',
    'contact_phone',
    'username',
  ])('%s is PII', (key) => expect(isProfilePiiKey(key)).toBe(true));
  it.each([
    'plan',
    'plan_name',
    'page_name',
    'event_name',
    'has_email',
    'is_phone_verified',
    'email_verified',
    'company',
    '$browser',
    'mp_lib',
  ])('%s is not', (key) => expect(isProfilePiiKey(key)).toBe(false));
});

describe('classifyProperty', () => {
  it.each([
    ['ip', { action: 'drop', reason: 'ip' }],
    ['$ip', { action: 'drop', reason: 'ip' }],
    ['$raw_user_agent', { action: 'drop', reason: 'user-agent' }],
    ['$device_id', { action: 'pseudonymise' }],
    ['$user_id', { action: 'pseudonymise' }],
    ['$anon_distinct_id', { action: 'pseudonymise' }],
    ['alias', { action: 'pseudonymise' }],
    ['$distinct_ids', { action: 'pseudonymise' }],
    ['$groups', { action: 'groups' }],
    ['gclid', { action: 'drop', reason: 'click-id' }],
    ['$referrer', { action: 'referrer', domainProperty: '$referring_domain' }],
    ['$initial_referrer', { action: 'referrer', domainProperty: '$initial_referring_domain' }],
    ['$referring_domain', { action: 'domain' }],
    ['$current_url', { action: 'url' }],
    ['current_url_path', { action: 'path' }],
    ['$pathname', { action: 'path' }],
    ['current_url_search', { action: 'drop', reason: 'url-search' }],
    ['$latitude', { action: 'drop', reason: 'location' }],
    ['$city', { action: 'drop', reason: 'geo' }],
    ['$region', { action: 'scan' }],
    ['mp_country_code', { action: 'scan' }],
    ['$email', { action: 'drop', reason: 'profile-pii' }],
    ['$set', { action: 'profile-ops' }],
    ['plan', { action: 'scan' }],
  ])('%s under the default policy (event)', (name, expected) => {
    expect(classifyProperty(name, DEFAULT_POLICY)).toEqual(expected);
  });

  it('applies the policy: actions, identifiers, group keys, click ids, vault, geo', () => {
    const p = policy({
      geo: 'city',
      properties: { name: 'keep', notes: 'redact', internal: 'drop', account_id: 'pseudonymise' },
      identifierProperties: ['referrer_user'],
      groupKeys: ['company_id'],
      keepClickIds: true,
      vault: true,
    });
    expect(classifyProperty('name', p)).toEqual({ action: 'keep' });
    expect(classifyProperty('notes', p)).toEqual({ action: 'redact' });
    expect(classifyProperty('internal', p)).toEqual({ action: 'drop', reason: 'policy' });
    expect(classifyProperty('account_id', p)).toEqual({ action: 'pseudonymise' });
    expect(classifyProperty('referrer_user', p)).toEqual({ action: 'pseudonymise' });
    expect(classifyProperty('company_id', p)).toEqual({
      action: 'pseudonymise-group',
      groupKey: 'company_id',
    });
    expect(classifyProperty('gclid', p)).toEqual({ action: 'keep' });
    expect(classifyProperty('$city', p)).toEqual({ action: 'scan' });
    expect(classifyProperty('$email', p, 'profile')).toEqual({ action: 'vault' });
    expect(classifyProperty('$email', p, 'event')).toEqual({
      action: 'drop',
      reason: 'profile-pii',
    });
    expect(classifyProperty('$ip', p)).toEqual({ action: 'drop', reason: 'ip' });
    expect(classifyProperty('mp_country_code', policy({ geo: 'none' }))).toEqual({
      action: 'drop',
      reason: 'geo',
    });
  });

  it('describes every loosening for the audit log', () => {
    const p = policy({
      geo: 'city',
      keepClickIds: true,
      vault: true,
      properties: { name: 'keep', $email: 'pseudonymise', notes: 'redact' },
    });
    expect(describeLoosenings(p)).toEqual([
      'geolocation stored down to city',
      'ad click ids kept',
      'profile PII kept in the encrypted vault',
      'property "$email" pseudonymised instead of dropped',
      'property "name" kept as sent, without PII scanning',
    ]);
  });

  it('nested keys: IP, user agent, location, click ids and PII are dropped', () => {
    const drop = (reason: string) => ({ action: 'drop', reason });
    expect(classifyNestedKey('ip_address', DEFAULT_POLICY)).toEqual(drop('ip'));
    expect(classifyNestedKey('userAgent', DEFAULT_POLICY)).toEqual(drop('user-agent'));
    expect(classifyNestedKey('$latitude', DEFAULT_POLICY)).toEqual(drop('location'));
    expect(classifyNestedKey('fbclid', DEFAULT_POLICY)).toEqual(drop('click-id'));
    expect(classifyNestedKey('fbclid', policy({ keepClickIds: true }))).toEqual({ action: 'scan' });
    expect(classifyNestedKey('email', DEFAULT_POLICY)).toEqual(drop('profile-pii'));
    expect(classifyNestedKey('password', DEFAULT_POLICY)).toEqual(drop('credential'));
    expect(classifyNestedKey('distinct_id', DEFAULT_POLICY)).toEqual({ action: 'pseudonymise' });
    expect(classifyNestedKey('$device_id', DEFAULT_POLICY)).toEqual({ action: 'pseudonymise' });
    expect(classifyNestedKey('user_id', DEFAULT_POLICY)).toEqual({ action: 'pseudonymise' });
    expect(classifyNestedKey('page_url', DEFAULT_POLICY)).toEqual({ action: 'url' });
    expect(classifyNestedKey('$referring_domain', DEFAULT_POLICY)).toEqual({ action: 'domain' });
    expect(classifyNestedKey('sku', DEFAULT_POLICY)).toEqual({ action: 'scan' });
  });
});

describe('applyGeoGranularity', () => {
  const geo = { countryCode: 'FR', region: 'Île-de-France', city: 'Paris' };
  it.each([
    ['none', { countryCode: null, region: null, city: null }],
    ['country', { countryCode: 'FR', region: null, city: null }],
    ['region', { countryCode: 'FR', region: 'Île-de-France', city: null }],
    ['city', geo],
  ] as const)('%s', (granularity, expected) => {
    expect(applyGeoGranularity(geo, granularity)).toEqual(expected);
  });
});
