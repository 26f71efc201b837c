// Issue 11's findings at the sanitizer: every string is treated the same wherever it appears
// (names, keys, values, any depth), key names mean the same thing at any depth (key-names.ts),
// and the policy's switches keep group names and event `name`/`address`/`photo` when asked.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PrivacyCounters } from './counters.js';
import { keyMeaning } from './key-names.js';
import {
  DEFAULT_POLICY,
  describeLoosenings,
  parsePrivacyPolicy,
  type PrivacyPolicy,
} from './policy.js';
import { createPseudonymiser } from './pseudonymise.js';
import {
  sanitizeEventProperties,
  sanitizeProfileUpdate,
  sanitizeText,
  type SanitizeContext,
} from './sanitize.js';

const ps = createPseudonymiser(randomBytes(32));

function policy(input: unknown): PrivacyPolicy {
  const parsed = parsePrivacyPolicy(input);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

function ctx(p: PrivacyPolicy = DEFAULT_POLICY): SanitizeContext {
  return { policy: p, pseudonymise: ps, counters: new PrivacyCounters() };
}

const SECRET_BITS = ['token=', 'access_token', 's3cr3t', 'abc123def', 'alert('];

function expectNoSecrets(text: string): void {
  for (const bit of SECRET_BITS) expect(text).not.toContain(bit);
}

describe('URLs anywhere: query strings, fragments and token-like segments never survive', () => {
  const texts: Array<[string, string]> = [
    [
      'Viewed https://app.example.com/reset?token=s3cr3t#access_token=abc123def',
      'Viewed https://app.example.com/reset',
    ],
    ['www.example.com/reset?token=s3cr3t', 'www.example.com/reset'],
    ['https:/app.example.com/reset?token=s3cr3t', 'https://app.example.com/reset'],
    ['https: //app.example.com/reset?token=s3cr3t', 'https://app.example.com/reset'],
    [
      'link https://app.example.com/reset password?token=s3cr3t now',
      'link https://app.example.com/reset password now',
    ],
    ['javascript:alert(document.cookie)', 'javascript:'],
    ['go to /reset?token=s3cr3t', 'go to /reset'],
    ['example.com/invite/a1b2c3d4e5f6g7h8i9j0 please', 'example.com/invite/[token] please'],
    ['myapp://open/item?session=s3cr3t', 'myapp://open/item'],
    ['done #access_token=abc123def', 'done'],
  ];

  it.each(texts)('as an event name: %s', (input, expected) => {
    expect(sanitizeText(input, ctx(), '$event_name').trim()).toBe(expected);
  });

  it.each(texts)('as a value, a key, a nested value and an $unset name: %s', (input, expected) => {
    const out = sanitizeEventProperties(
      { note: input, [input]: 1, meta: { deep: [{ text: input }] } },
      ctx(),
    );
    const json = JSON.stringify(out);
    expectNoSecrets(json);
    expect((out.note as string).trim()).toBe(expected);
    const unset = sanitizeProfileUpdate('$unset', [input], ctx());
    expectNoSecrets(JSON.stringify(unset.value));
  });

  it('utm_* parameters stay', () => {
    expect(
      sanitizeText('Opened https://example.com/p?utm_source=news&token=s3cr3t', ctx(), 'e'),
    ).toBe('Opened https://example.com/p?utm_source=news');
  });
});

describe('key names mean the same thing at any depth', () => {
  it('identifiers are pseudonymised wherever they are', () => {
    const out = sanitizeEventProperties(
      {
        user_id: 'user-42',
        customerId: 'cus_123',
        meta: { distinct_id: 'user-42', device: { $device_id: 'dev-9' } },
        list: [{ visitor_uuid: 'v-1' }],
        android_id: '9774d56d682e549c',
        device: { imei: '353456789012345' },
        email_hash: 'a1b2c3',
      },
      ctx(),
    );
    expect(out).toEqual({
      user_id: ps('user-42'),
      customerId: ps('cus_123'),
      meta: { distinct_id: ps('user-42'), device: { $device_id: ps('dev-9') } },
      list: [{ visitor_uuid: ps('v-1') }],
      android_id: ps('9774d56d682e549c'),
      device: { imei: ps('353456789012345') },
      email_hash: ps('a1b2c3'),
    });
  });

  it('personal data under common names is dropped, top-level and nested', () => {
    const names = [
      'customer_name',
      'shipping_address',
      'home_address',
      'company_name',
      'nickname',
      'password',
      'Authorization',
      'billingEmail',
      'First Name',
      'phone_number',
      'address_line_2',
      'profile_photo_url',
      'client_secret',
      'access_token',
      'date_of_birth',
      'birth_date',
      'dateOfBirth',
      'phone_num',
      'mobile_nr',
      'national_id',
      'social_security_number',
      'msisdn',
      'ua',
      'navigator_user_agent',
      'browserUserAgent',
      'user_agent_string',
      '$device_name',
      'computerName',
    ];
    const coordinates = ['latitude', 'gps_longitude', 'userLatitude', 'lat', 'lng'];
    const props = Object.fromEntries([
      ...names.map((n) => [n, 'Jane Secretvalue']),
      ...coordinates.map((n) => [n, 51.5007292]),
    ]);
    const out = sanitizeEventProperties({ ...props, nested: { ...props }, plan: 'pro' }, ctx());
    expect(out).toEqual({ nested: {}, plan: 'pro' });
  });

  it('ordinary analytics names are not personal data', () => {
    for (const name of [
      'plan_name',
      'page_name',
      'event_name',
      'product_name',
      'email_campaign_id',
      'has_email',
      'email_verified',
      'photo_count',
      'mobile_app_version',
      'token_count',
      'order_id',
      'has_user_agent',
      'birth_date_verified',
      'phone_num_count',
      'latitude_precision',
      'is_latitude',
    ]) {
      expect([name, keyMeaning(name)]).toEqual([name, 'plain']);
    }
  });

  it('an Authorization: Basic value is a secret wherever it is', () => {
    const out = sanitizeEventProperties(
      { header: 'Authorization: Basic dXNlcjpodW50ZXIy', note: 'Basic authentication is on' },
      ctx(),
    );
    expect(out).toEqual({ header: 'Authorization: [secret]', note: 'Basic authentication is on' });
  });

  it('referring domains are scanned: an IP inside a host name is redacted', () => {
    const out = sanitizeEventProperties(
      {
        $referring_domain: '203.0.113.37.nip.io',
        $referrer: 'https://host-203-0-113-41.example.net/x?y=1',
        nested: { page_referrer: 'https://198.51.100.7.sslip.io/a' },
      },
      ctx(),
    );
    expect(out).toEqual({
      $referring_domain: '[ip].nip.io',
      nested: { page_referrer: '[ip].sslip.io' },
    });
  });
});

describe('group keys come from the policy, not from traffic', () => {
  it('a property is a group id only when the policy lists it', () => {
    expect(sanitizeEventProperties({ plan: 'pro' }, ctx())).toEqual({ plan: 'pro' });
    const p = policy({ groupKeys: ['plan'] });
    expect(sanitizeEventProperties({ plan: 'pro' }, ctx(p))).toEqual({
      plan: ps.group('plan', 'pro'),
    });
  });
});

describe('policy switches (loosenings, reported)', () => {
  it('group names are dropped by default and kept (scanned) with keepGroupNames', () => {
    const value = { name: 'Acme Inc', $name: 'Acme', company_name: 'Acme', seats: 5 };
    expect(sanitizeProfileUpdate('$set', value, ctx(), 'group').value).toEqual({ seats: 5 });
    const p = policy({ keepGroupNames: true });
    expect(sanitizeProfileUpdate('$set', value, ctx(p), 'group').value).toEqual(value);
    // A person's name on a user profile stays personal data.
    expect(sanitizeProfileUpdate('$set', { name: 'Jane' }, ctx(p)).value).toEqual({});
    expect(describeLoosenings(p)).toEqual(['company and group names kept (scanned)']);
  });

  it('event properties name/address/photo are dropped by default and kept per switch', () => {
    const event = { name: 'Blue shoes', address: '1 Venue Road', photo: 'p-1', note: 'x' };
    expect(sanitizeEventProperties(event, ctx())).toEqual({ note: 'x' });
    const p = policy({ keepEventProperties: ['name', 'photo'] });
    expect(sanitizeEventProperties(event, ctx(p))).toEqual({
      name: 'Blue shoes',
      photo: 'p-1',
      note: 'x',
    });
    // Still scanned, and only on events.
    expect(sanitizeEventProperties({ name: 'mail jane@example.com' }, ctx(p))).toEqual({
      name: 'mail [email]',
    });
    expect(sanitizeProfileUpdate('$set', { name: 'Jane' }, ctx(p)).value).toEqual({});
    expect(describeLoosenings(p)).toEqual([
      'event property "name" kept (scanned) instead of dropped',
      'event property "photo" kept (scanned) instead of dropped',
    ]);
  });
});

describe('a key is free text whatever its name means', () => {
  it('cleans keys that mean an identifier, a URL or a dropped field, and the names counted', () => {
    const c = ctx();
    const out = sanitizeEventProperties(
      {
        'jane@example.org user_id': 'u',
        'https://app.example.com/r?token=s3cr3t customer_id': 'u',
        'https://app.example.com/r?token=s3cr3t link': 'https://app.example.com/',
        'https://app.example.com/r?token=s3cr3t password': 'p',
        'reset?token=s3cr3t email': 'e',
        meta: { 'jane@example.org user_id': 'u', 'x?token=s3cr3t url': 'https://a.example.com/' },
      },
      c,
    );
    expect(Object.keys(out).sort()).toEqual([
      '[email] user_id',
      'https://app.example.com/r customer_id',
      'https://app.example.com/r link',
      'meta',
    ]);
    expect(Object.keys(out.meta as object).sort()).toEqual(['[email] user_id', 'x url']);
    const stored = JSON.stringify([out, c.counters!.entries()]);
    expectNoSecrets(stored);
    expect(stored).not.toContain('jane@');
    const profile = sanitizeProfileUpdate('$add', { 'jane@example.org member_id': 1 }, c);
    expect(JSON.stringify(profile)).not.toContain('jane@');
  });
});

describe("posthog-js's $initial_person_info", () => {
  it('keeps its referrer as a domain and its URL cleaned, on events and in $set_once', () => {
    const info = {
      r: 'https://www.facebook.com/jane.doe.4242/',
      u: 'https://app.example.com/welcome?invite=s3cr3t',
    };
    const out = sanitizeEventProperties(
      {
        $initial_person_info: info,
        $set_once: { $initial_person_info: { ...info, r: '$direct' } },
      },
      ctx(),
    );
    expect(out).toEqual({
      $initial_person_info: { r: 'www.facebook.com', u: 'https://app.example.com/welcome' },
      $set_once: {
        $initial_person_info: { r: '$direct', u: 'https://app.example.com/welcome' },
      },
    });
  });
});
