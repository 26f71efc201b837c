// Tests for applying the privacy policy to event and profile properties, canary property included.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject, JsonValue } from '../shared/json.js';
import { PrivacyCounters } from './counters.js';
import { DEFAULT_POLICY, parsePrivacyPolicy, type PrivacyPolicy } from './policy.js';
import { createPseudonymiser } from './pseudonymise.js';
import {
  REDACTED,
  sanitizeEventProperties,
  sanitizeProfileProperties,
  sanitizeProfileUpdate,
  type SanitizeContext,
} from './sanitize.js';

const SEED = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = { seed: SEED, numRuns: Number(process.env.FC_RUNS ?? 300) };

const ps = createPseudonymiser(randomBytes(32));

function policy(input: unknown): PrivacyPolicy {
  const parsed = parsePrivacyPolicy(input);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

function ctx(
  p: PrivacyPolicy = DEFAULT_POLICY,
  extra: Partial<SanitizeContext> = {},
): SanitizeContext {
  return { policy: p, pseudonymise: ps, counters: new PrivacyCounters(), ...extra };
}

describe('sanitizeEventProperties: a mixpanel-browser event after identify()', () => {
  const event: JsonObject = {
    $os: 'Mac OS X',
    $browser: 'Chrome',
    $referrer: 'https://www.google.com/search?q=jane+doe+acme',
    $referring_domain: 'www.google.com',
    $current_url:
      'https://app.example.com/users/jane@example.com/billing?utm_source=newsletter&gclid=Cj0KCQ&token=abc#x',
    $browser_version: 120,
    $screen_height: 1080,
    $screen_width: 1920,
    mp_lib: 'web',
    $lib_version: '2.55.0',
    $insert_id: 'k3j4h5g6f7d8s9a0',
    distinct_id: 'user-42',
    $device_id: '18c1f2a3-b4c5-4d6e-8f70-112233445566',
    $user_id: 'user-42',
    $anon_distinct_id: '$device:18c1f2a3-b4c5-4d6e-8f70-112233445566',
    $initial_referrer: '$direct',
    $initial_referring_domain: '$direct',
    utm_source: 'newsletter',
    gclid: 'Cj0KCQ',
    $email: 'jane@example.com',
    $name: 'Jane Doe',
    ip: '203.0.113.7',
    $city: 'Paris',
    $region: 'Île-de-France',
    mp_country_code: 'FR',
    plan: 'pro',
    note: 'call me on +33 6 12 34 56 78',
  };

  it('keeps analytics, pseudonymises ids, minimises URLs and drops the rest', () => {
    const c = ctx();
    const out = sanitizeEventProperties(event, c);
    expect(out).toEqual({
      $os: 'Mac OS X',
      $browser: 'Chrome',
      $referring_domain: 'www.google.com',
      $current_url: 'https://app.example.com/users/[email]/billing?utm_source=newsletter',
      $browser_version: 120,
      $screen_height: 1080,
      $screen_width: 1920,
      mp_lib: 'web',
      $lib_version: '2.55.0',
      $insert_id: 'k3j4h5g6f7d8s9a0',
      distinct_id: ps('user-42'),
      $device_id: ps('18c1f2a3-b4c5-4d6e-8f70-112233445566'),
      $user_id: ps('user-42'),
      $anon_distinct_id: ps('18c1f2a3-b4c5-4d6e-8f70-112233445566'),
      $initial_referring_domain: '$direct',
      utm_source: 'newsletter',
      $region: 'Île-de-France',
      mp_country_code: 'FR',
      plan: 'pro',
      note: 'call me on [phone]',
    });
    const report = c.counters!.report();
    expect(report.dropped).toEqual(
      expect.arrayContaining([
        { property: '$referrer', reason: 'referrer', count: 1 },
        { property: 'gclid', reason: 'click-id', count: 1 },
        { property: '$email', reason: 'profile-pii', count: 1 },
        { property: '$name', reason: 'profile-pii', count: 1 },
        { property: 'ip', reason: 'ip', count: 1 },
        { property: '$city', reason: 'geo', count: 1 },
      ]),
    );
    expect(report.redactions).toEqual([
      { property: '$current_url', kind: 'email', count: 1 },
      { property: 'note', kind: 'phone', count: 1 },
    ]);
  });

  it('does not mutate its input', () => {
    const before = JSON.stringify(event);
    sanitizeEventProperties(event, ctx());
    expect(JSON.stringify(event)).toBe(before);
  });

  it('derives $referring_domain from $referrer when the SDK did not send it', () => {
    const out = sanitizeEventProperties(
      { $referrer: 'https://news.ycombinator.com/item?id=1' },
      ctx(),
    );
    expect(out).toEqual({ $referring_domain: 'news.ycombinator.com' });
  });
});

describe('sanitizeEventProperties: PostHog shapes', () => {
  it('handles $groups, sessions, $set, $pathname, raw user agent and autocapture hrefs', () => {
    const out = sanitizeEventProperties(
      {
        $groups: { company: 'acme', project: ['p1', 'p2'] },
        $session_id: '018f2c4e-0000-7000-8000-000000000001',
        $window_id: '018f2c4e-0000-7000-8000-000000000002',
        $pathname: '/orgs/550e8400-e29b-41d4-a716-446655440000/members',
        $host: 'app.example.com',
        $raw_user_agent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)',
        $ip: '2001:db8::1',
        $set: { email: 'jane@example.com', plan: 'pro' },
        $elements_chain:
          'a:href="https://example.com/reset?token=s3cr3t"nth-child="1";text="jane@example.com"',
      },
      ctx(),
    );
    expect(out).toEqual({
      $groups: {
        company: ps.group('company', 'acme'),
        project: [ps.group('project', 'p1'), ps.group('project', 'p2')],
      },
      $session_id: ps('018f2c4e-0000-7000-8000-000000000001'),
      $window_id: ps('018f2c4e-0000-7000-8000-000000000002'),
      $pathname: '/orgs/[uuid]/members',
      $host: 'app.example.com',
      $set: { plan: 'pro' },
      $elements_chain: 'a:href="https://example.com/reset"nth-child="1";text="[email]"',
    });
  });

  it('pseudonymises $groupidentify group keys by their group type', () => {
    const out = sanitizeEventProperties(
      {
        $group_type: 'company',
        $group_key: 'acme',
        $group_set: { name: 'Acme Inc', employees: 50 },
      },
      ctx(),
    );
    expect(out).toEqual({
      $group_type: 'company',
      $group_key: ps.group('company', 'acme'),
      $group_set: { employees: 50 },
    });
  });
});

describe('sanitizeEventProperties: policy', () => {
  it('applies per-property actions, identifier properties and group keys', () => {
    const p = policy({
      properties: { name: 'keep', notes: 'redact', internal: 'drop', account_ref: 'pseudonymise' },
      identifierProperties: ['invited_by'],
      groupKeys: ['company_id'],
      keepClickIds: true,
    });
    const out = sanitizeEventProperties(
      {
        name: 'Signup button',
        notes: 'anything',
        internal: 1,
        account_ref: 'A-1',
        invited_by: ['u1', 'u2', { nested: true }],
        company_id: 'acme',
        team: 'red',
        gclid: 'abc',
        $current_url: 'https://x.com/?gclid=abc&utm_term=t',
      },
      ctx(p),
    );
    expect(out).toEqual({
      name: 'Signup button',
      notes: REDACTED,
      account_ref: ps('A-1'),
      invited_by: [ps('u1'), ps('u2')],
      company_id: ps.group('company_id', 'acme'),
      team: 'red',
      gclid: 'abc',
      $current_url: 'https://x.com/?gclid=abc&utm_term=t',
    });
  });

  it('drops geo finer than the policy', () => {
    const out = sanitizeEventProperties(
      { $city: 'Paris', $region: 'IDF', mp_country_code: 'FR' },
      ctx(policy({ geo: 'country' })),
    );
    expect(out).toEqual({ mp_country_code: 'FR' });
  });

  it('drops nested IP, user-agent, PII and click-id keys, counted under the top-level property', () => {
    const c = ctx();
    const out = sanitizeEventProperties(
      {
        context: {
          ip: '10.0.0.1',
          userAgent: 'Mozilla/5.0',
          traits: { email: 'a@b.co', firstName: 'Jane', plan: 'pro' },
          fbclid: 'x',
        },
      },
      c,
    );
    expect(out).toEqual({ context: { traits: { plan: 'pro' } } });
    expect(c.counters!.report().dropped).toEqual([
      { property: 'context', reason: 'click-id', count: 1 },
      { property: 'context', reason: 'ip', count: 1 },
      { property: 'context', reason: 'profile-pii', count: 2 },
      { property: 'context', reason: 'user-agent', count: 1 },
    ]);
  });

  it('replaces PII keys and merges collisions deterministically', () => {
    const c = ctx();
    const out = sanitizeEventProperties(
      { 'zoe@example.com': 1, 'amy@example.com': 2, ok: true },
      c,
    );
    expect(out).toEqual({ '[email]': 2, ok: true });
    expect(c.counters!.report().redactions).toEqual([
      { property: '[email]', kind: 'email', count: 2 },
    ]);
  });

  it('drops a malformed $current_url and non-scalar identifiers', () => {
    const c = ctx();
    expect(sanitizeEventProperties({ $current_url: 'not a url', $device_id: { a: 1 } }, c)).toEqual(
      {},
    );
    expect(c.counters!.report().dropped).toEqual([
      { property: '$current_url', reason: 'invalid', count: 1 },
      { property: '$device_id', reason: 'invalid', count: 1 },
    ]);
  });
});

describe('profiles', () => {
  const props: JsonObject = {
    $email: 'jane@example.com',
    $name: 'Jane Doe',
    $phone: '+33 6 12 34 56 78',
    plan: 'pro',
    $initial_referrer: 'https://google.com/search?q=jane',
    $city: 'Paris',
  };

  it('drops profile PII by default', () => {
    expect(sanitizeProfileProperties(props, ctx())).toEqual({
      properties: { plan: 'pro', $initial_referring_domain: 'google.com' },
      vault: {},
    });
  });

  it('holds it back for the vault when enabled', () => {
    expect(sanitizeProfileProperties(props, ctx(policy({ vault: true, geo: 'city' })))).toEqual({
      properties: { plan: 'pro', $initial_referring_domain: 'google.com', $city: 'Paris' },
      vault: { $email: 'jane@example.com', $name: 'Jane Doe', $phone: '+33 6 12 34 56 78' },
    });
  });

  it('sanitizes each profile operation', () => {
    const vaultCtx = ctx(policy({ vault: true }));
    expect(sanitizeProfileUpdate('$set_once', { $email: 'a@b.co', n: 1 }, vaultCtx)).toEqual({
      value: { n: 1 },
      vault: { $email: 'a@b.co' },
    });
    expect(sanitizeProfileUpdate('$append', { $email: 'a@b.co', tags: 'x' }, vaultCtx)).toEqual({
      value: { tags: 'x' },
      vault: {},
    });
    expect(sanitizeProfileUpdate('$unset', ['plan', 'a@b.co', 7], vaultCtx)).toEqual({
      value: ['plan', '[email]'],
      vault: {},
    });
    expect(sanitizeProfileUpdate('$delete', null, vaultCtx)).toEqual({ value: null, vault: {} });
    expect(sanitizeProfileUpdate('$set', 'oops', vaultCtx)).toEqual({ value: {}, vault: {} });
  });
});

// ---- canary property: plant PII everywhere an SDK can put it; none of it may come out ----

const PII_VALUES = [
  'jane.doe@example.com',
  '+33 6 12 34 56 78',
  '(415) 555-2671',
  '4111 1111 1111 1111',
  'FR7630006000011234567890189',
  '198.51.100.23',
  '2001:db8:85a3::8a2e:370:7334',
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
  'ghp_A1b2C3d4E5A1b2C3d4E5A1b2C3d4E5A1b2C3',
];
const NAME = 'Zelda Quillfeather';
const RAW_ID = 'customer-8391-zq';
const UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';
const QUERY_SECRET = 'resettokenqq';
const FRAGMENT_SECRET = 'accesstokenff';
const REFERRER_PATH = 'searchpathrr';

describe(`canary (fast-check seed ${SEED}; rerun with FC_SEED=${SEED})`, () => {
  const word = fc.stringMatching(/^[a-z]{1,8}$/);
  const pii = fc.constantFrom(...PII_VALUES);
  const inText = fc.tuple(word, pii, word).map(([a, p, b]) => `${a} ${p} ${b}`);
  const value: fc.Arbitrary<JsonValue> = fc.letrec<{ v: JsonValue }>((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      word,
      inText,
      fc.integer(),
      fc.array(tie('v'), { maxLength: 3 }),
      fc.dictionary(fc.oneof(word, pii), tie('v'), { maxKeys: 3 }),
    ),
  })).v;
  const planted: fc.Arbitrary<Record<string, JsonValue>> = fc.record({
    $current_url: fc.constantFrom(
      `https://app.example.com/u/jane.doe@example.com/r?token=${QUERY_SECRET}&utm_source=x#${FRAGMENT_SECRET}`,
      `https://app.example.com/u/${encodeURIComponent('jane.doe@example.com')}?${QUERY_SECRET}=1`,
    ),
    $referrer: fc.constant(`https://search.example.org/${REFERRER_PATH}?q=jane`),
    $initial_referrer: fc.constant(`https://mail.example.net/${REFERRER_PATH}`),
    current_url_search: fc.constant(`?token=${QUERY_SECRET}`),
    current_url_path: fc.constant('/users/jane.doe@example.com'),
    distinct_id: fc.constant(RAW_ID),
    $device_id: fc.constant(RAW_ID),
    $user_id: fc.constant(RAW_ID),
    $anon_distinct_id: fc.constant(RAW_ID),
    alias: fc.constant(RAW_ID),
    $distinct_ids: fc.constant([RAW_ID, `${RAW_ID}-2`]),
    $groups: fc.constant({ company: RAW_ID }),
    ip: fc.constant('198.51.100.23'),
    $ip: fc.constant('198.51.100.23'),
    $raw_user_agent: fc.constant(UA),
    $email: fc.constant('jane.doe@example.com'),
    $name: fc.constant(NAME),
    first_name: fc.constant(NAME),
    phone: fc.constant('0612345678'),
    gclid: fc.constant(QUERY_SECRET),
    $latitude: fc.constant(48.8566),
  });
  const bag = fc
    .tuple(planted, fc.dictionary(fc.oneof(word, pii), value, { maxKeys: 6 }))
    .map(([known, random]): JsonObject => ({
      ...(random as JsonObject),
      ...(known as JsonObject),
    }));

  it('no planted PII, raw identifier, IP, user agent, query string, fragment or referrer path survives', () => {
    fc.assert(
      fc.property(bag, fc.boolean(), (props, asProfile) => {
        const c = ctx(policy({ vault: true }));
        const out = asProfile
          ? sanitizeProfileProperties(props, c).properties
          : sanitizeEventProperties(props, c);
        const text = JSON.stringify(out).toLowerCase();
        const decoded = decodeURIComponent(text);
        for (const secret of [
          ...PII_VALUES,
          NAME,
          RAW_ID,
          UA,
          QUERY_SECRET,
          FRAGMENT_SECRET,
          REFERRER_PATH,
          '0612345678',
          '48.8566',
        ]) {
          expect(decoded).not.toContain(secret.toLowerCase());
          expect(text).not.toContain(JSON.stringify(secret).slice(1, -1).toLowerCase());
        }
      }),
      RUNS,
    );
  });
});
