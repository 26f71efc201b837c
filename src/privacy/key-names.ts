// The one table of what key names mean (identifier, personal data, credential, URL, referrer, …),
// read by the sanitizers (at every depth), the policy (what may not be loosened) and the README's
// "What Sillage stores". Exact SDK names first, then rules on the name's words ("tokens"), so that
// a family (`customer_name`, `shippingAddress`, `Home Address`) is caught, not a list of examples.

/** What a key name says about its value. */
export type KeyMeaning =
  /** The client IP: used for geolocation, then dropped. Locked. */
  | 'ip'
  /** The raw user-agent string: parsed, then dropped. Locked. */
  | 'user-agent'
  /** An id of a person, device or session: pseudonymised. */
  | 'identifier'
  /** Passwords, tokens, API keys, authorisation headers, cookies: dropped. Locked. */
  | 'credential'
  /** Personal data (e-mail, name, phone, address, photo, birth date, …): dropped unless kept. */
  | 'personal'
  /** A company or organisation name (a group's name): dropped unless the policy keeps group names. */
  | 'company-name'
  /** A URL: scheme, host and cleaned path, `utm_*` only. */
  | 'url'
  /** A URL path: cleaned segment by segment. */
  | 'path'
  /** A referrer URL: reduced to its domain. */
  | 'referrer'
  /** A referring domain: kept as a (scanned) host name. */
  | 'domain'
  /** A URL's query string by another name: dropped. */
  | 'search'
  /** Precise coordinates: dropped. */
  | 'location'
  /** Anything else: its value is scanned. */
  | 'plain';

/** One row of the table: what it means, the exact names, and a line for the README. */
export interface KeyNameRow {
  meaning: KeyMeaning;
  /** Exact names (SDK properties), compared as sent. */
  exact: readonly string[];
  /** How names are matched beyond the exact list, in words (for the README). */
  rule: string;
  /** What happens to the value. */
  treatment: string;
}

// prettier-ignore
const IDENTIFIER_EXACT = [
  'distinct_id', '$distinct_id', '$device_id', '$user_id', '$anon_distinct_id', '$anon_id',
  '$identified_id', 'alias', '$distinct_ids', '$distinct_id_before_identity', '$session_id',
  '$window_id',
];

/** The table. Order matters only for `keyMeaning`'s documentation; names are disjoint. */
export const KEY_NAME_TABLE: readonly KeyNameRow[] = [
  {
    meaning: 'ip',
    exact: ['ip', '$ip'],
    rule: 'ip, ip_address, client_ip, remote_addr, x_forwarded_for in any spelling',
    treatment: 'used for geolocation, then dropped',
  },
  {
    meaning: 'user-agent',
    exact: ['$raw_user_agent', 'user_agent'],
    rule: 'a name ending in user_agent in any spelling (navigator_user_agent, browserUserAgent), user_agent_string, ua, http_ua; not has_/is_ flags',
    treatment: 'parsed to browser, version, OS and device type, then dropped',
  },
  {
    meaning: 'identifier',
    exact: IDENTIFIER_EXACT,
    rule: 'a name ending in id/ids/uuid/guid whose other words name a person, device or session (user_id, customerId, meta.distinct_id, visitor_uuid, …), idfa/idfv/gaid/android_id/imei/udid, and a hash of personal data (email_hash, phone_sha256: the same for that person everywhere)',
    treatment: 'pseudonymised (HMAC-SHA256 under the project key)',
  },
  {
    meaning: 'credential',
    exact: ['authorization', 'cookie', 'set-cookie'],
    rule: 'a name whose last word is password, passwd, passcode, secret, token, cookie, authorization, cvv or cvc, or that ends in api_key/private_key/access_key/secret_key',
    treatment: 'dropped (no policy keeps it)',
  },
  {
    meaning: 'personal',
    exact: ['$email', '$name', '$first_name', '$last_name', '$phone', '$avatar', 'name'],
    rule: 'a name with a word for contact data (email, phone, mobile, address, street, postcode, birthday, date_of_birth, ssn, national_id, passport, …; phone_num, phone_nr too) or a photo (photo, avatar, picture, selfie), or ending in name after a word for a person (customer, user, first, last, full, display, nick, contact, billing, shipping, recipient, …) or for a device its owner names (device, computer: $device_name); not has_/is_ flags',
    treatment:
      'dropped unless the policy keeps it (encrypted vault for profiles, or a documented switch)',
  },
  {
    meaning: 'company-name',
    exact: [],
    rule: 'a name ending in name after company, organisation/organization, org, business, employer or account',
    treatment: 'dropped unless the policy keeps group names',
  },
  {
    meaning: 'url',
    exact: ['$current_url', '$initial_current_url', '$session_entry_url', '$prev_pageview_url'],
    rule: 'a name whose last word is url, uri, href or link',
    treatment: 'scheme, host and cleaned path; only utm_* parameters; no fragment',
  },
  {
    meaning: 'path',
    exact: [
      'current_url_path',
      '$pathname',
      '$initial_pathname',
      '$session_entry_pathname',
      '$prev_pageview_pathname',
    ],
    rule: 'these names only',
    treatment: 'cleaned segment by segment (e-mails, UUIDs, token-like segments redacted)',
  },
  {
    meaning: 'referrer',
    exact: ['$referrer', '$initial_referrer', '$session_entry_referrer'],
    rule: 'a name whose last word is referrer or referer',
    treatment: 'reduced to the domain (scanned: an IP in a host name is redacted)',
  },
  {
    meaning: 'domain',
    exact: ['$referring_domain', '$initial_referring_domain', '$session_entry_referring_domain'],
    rule: 'these names only',
    treatment: 'kept as a host name, scanned',
  },
  {
    meaning: 'search',
    exact: ['current_url_search', '$initial_current_url_search', 'mp_keyword'],
    rule: 'these names only',
    treatment: 'dropped',
  },
  {
    meaning: 'location',
    exact: [
      '$latitude',
      '$longitude',
      '$geoip_latitude',
      '$geoip_longitude',
      '$geoip_accuracy_radius',
    ],
    rule: 'these names, any name ending in latitude or longitude (gps_latitude, userLongitude), and lat, lng, lon',
    treatment: 'dropped',
  },
];

const EXACT = new Map<string, KeyMeaning>();
for (const row of KEY_NAME_TABLE) for (const name of row.exact) EXACT.set(name, row.meaning);

/** The SDK identity ids that are always pseudonyms (identity merge relies on them). */
export const IDENTITY_ID_NAMES: ReadonlySet<string> = new Set(IDENTIFIER_EXACT);

const IP_WORDS = new Set([
  'ip',
  'ipaddress',
  'clientip',
  'remoteaddr',
  'remoteaddress',
  'xforwardedfor',
  'ipv4',
  'ipv6',
]);
const USER_AGENT_WORDS = new Set(['useragent', 'useragentstring', 'ua', 'httpua', 'rawua']);

// Words that make a name an identifier when it ends in id/ids/uuid/guid.
// prettier-ignore
const ID_OWNER_WORDS = new Set([
  'user', 'users', 'distinct', 'device', 'anon', 'anonymous', 'customer', 'client', 'member',
  'person', 'people', 'visitor', 'profile', 'subscriber', 'contact', 'player', 'patient',
  'employee', 'student', 'buyer', 'seller', 'guest', 'installation', 'install', 'advertising',
  'session', 'window', 'login', 'identified', 'external', 'uid', 'owner', 'author', 'actor',
  'recipient', 'sender', 'cookie', 'browser', 'machine', 'hardware',
]);
const ID_WORDS = new Set(['id', 'ids', 'uuid', 'guid', 'uid']);
// prettier-ignore
const STANDALONE_ID_NAMES = new Set([
  'uid', 'userid', 'idfa', 'idfv', 'gaid', 'adid', 'aaid', 'androidid', 'gpsadid', 'imei', 'imsi',
  'meid', 'udid', 'oaid',
]);

// prettier-ignore
const CREDENTIAL_LAST_WORDS = new Set([
  'password', 'passwd', 'pwd', 'passcode', 'passphrase', 'secret', 'token', 'cookie', 'cookies',
  'authorization', 'cvv', 'cvc', 'otp', 'apikey', 'jwt', 'credentials', 'credential',
]);
const KEY_QUALIFIERS = new Set(['api', 'private', 'access', 'secret', 'signing', 'encryption']);

// Words that, as the last word of a name (after dropping words such as `line`, `number` or `url`:
// `address_line_2`, `phone_number`, `photo_url`), mean data about a person.
// prettier-ignore
const PERSONAL_WORDS = new Set([
  'email', 'emails', 'mail', 'emailaddress', 'phone', 'phonenumber', 'mobile', 'telephone',
  'tel', 'cellphone', 'fax', 'address', 'addresses', 'street', 'streetaddress', 'postcode',
  'zipcode', 'birthday', 'birthdate', 'dob', 'ssn', 'passport', 'nationalid', 'taxid',
  'avatar', 'photo', 'photos', 'picture', 'selfie', 'headshot', 'portrait',
  'surname', 'firstname', 'lastname', 'fullname', 'nickname', 'username', 'displayname',
  'givenname', 'familyname', 'middlename', 'maidenname', 'realname', 'msisdn',
]);
// prettier-ignore
const TRAILING_DETAIL_WORDS = new Set([
  'line', 'line1', 'line2', 'line3', '1', '2', '3', 'number', 'num', 'nr', 'no', 'value', 'text', 'raw',
  'plain', 'original', 'url', 'uri', 'link', 'src', 'image', 'img', 'full', 'code',
]);
// Words after which `name` is a person's name.
// prettier-ignore
const PERSON_NAME_QUALIFIERS = new Set([
  'user', 'customer', 'client', 'first', 'last', 'full', 'given', 'family', 'middle', 'maiden',
  'display', 'nick', 'contact', 'billing', 'shipping', 'recipient', 'sender', 'member', 'person',
  'owner', 'employee', 'patient', 'guest', 'buyer', 'seller', 'cardholder', 'holder', 'legal',
  'real', 'login', 'profile', 'author', 'player', 'student', 'parent', 'child',
  'spouse', 'emergency', 'passenger', 'traveler', 'traveller', 'applicant', 'candidate', 'sur',
  // The name its owner gave a phone or a computer ("Jane Doe's iPhone"; posthog-react-native's
  // `$device_name`).
  'device', 'computer',
]);
const COMPANY_NAME_QUALIFIERS = new Set([
  'company',
  'organization',
  'organisation',
  'org',
  'business',
  'employer',
  'group',
  'firm',
  'account',
]);
// Words that turn a PII word into a fact about it ("email_verified", "phone_count").
// prettier-ignore
const FLAG_PREFIXES = new Set(['has', 'is', 'was', 'can', 'should', 'num', 'count']);
// prettier-ignore
const FACT_SUFFIXES = new Set([
  'verified', 'confirmed', 'count', 'type', 'provider', 'domain', 'length', 'status', 'opt',
  'optin', 'optout', 'consent', 'enabled', 'valid', 'set', 'changed', 'sent', 'format', 'country',
  'prefix', 'reset', 'strength', 'policy', 'expired', 'expires', 'expiry', 'updated', 'required',
  'field', 'input', 'error', 'errors', 'step', 'page', 'screen', 'form', 'modal', 'button',
  'clicked', 'submitted', 'shown', 'opened', 'uploaded', 'size', 'width', 'height', 'mode',
]);
const URL_LAST_WORDS = new Set(['url', 'uri', 'href', 'link']);
const COORDINATE_LAST_WORDS = new Set(['latitude', 'longitude']);
const COORDINATE_NAMES = new Set(['lat', 'lng', 'lon', 'geolat', 'geolng', 'geolon']);
const HASH_WORDS = new Set(['hash', 'hashed', 'sha256', 'sha1', 'md5', 'digest']);
const REFERRER_LAST_WORDS = new Set(['referrer', 'referer']);

/**
 * Splits a key name into lower-case words: snake_case, kebab-case, dotted, spaced and camelCase
 * (`shippingAddress` → shipping, address; `$initial_referrer` → initial, referrer).
 */
export function keyWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

const MEMO = new Map<string, KeyMeaning>();
const MEMO_LIMIT = 20_000;

/** What a key name means (see KEY_NAME_TABLE). Memoised: key names repeat. */
export function keyMeaning(name: string): KeyMeaning {
  let meaning = MEMO.get(name);
  if (meaning === undefined) {
    meaning = classify(name);
    if (MEMO.size >= MEMO_LIMIT) MEMO.clear();
    MEMO.set(name, meaning);
  }
  return meaning;
}

function classify(name: string): KeyMeaning {
  const exact = EXACT.get(name);
  if (exact !== undefined) return exact;
  if (name.length > 200) return 'plain';
  const words = keyWords(name);
  if (words.length === 0 || words.length > 12) return 'plain';
  const joined = words.join('');
  if (IP_WORDS.has(joined)) return 'ip';
  const last = words[words.length - 1] as string;
  const first = words[0] as string;
  const flag = words.length > 1 && FLAG_PREFIXES.has(first);
  // `navigator_user_agent`, `browserUserAgent`: the raw string under any qualifier (not a flag).
  if (USER_AGENT_WORDS.has(joined) || (!flag && joined.endsWith('useragent'))) return 'user-agent';
  const fact = words.length > 1 && FACT_SUFFIXES.has(last);
  if (COORDINATE_NAMES.has(joined) || (!flag && COORDINATE_LAST_WORDS.has(last))) return 'location';

  if (!flag && !fact) {
    if (CREDENTIAL_LAST_WORDS.has(last) || CREDENTIAL_LAST_WORDS.has(joined)) return 'credential';
    if (last === 'key' && words.length > 1 && KEY_QUALIFIERS.has(words[words.length - 2] as string))
      return 'credential';
  }
  if (STANDALONE_ID_NAMES.has(joined)) return 'identifier';
  // An unsalted hash of an e-mail or a phone number identifies its person everywhere.
  if (!flag && HASH_WORDS.has(last) && words.slice(0, -1).some((w) => PERSONAL_WORDS.has(w)))
    return 'identifier';
  if (ID_WORDS.has(last) && words.slice(0, -1).some((w) => ID_OWNER_WORDS.has(w)))
    return 'identifier';
  if (REFERRER_LAST_WORDS.has(last)) return 'referrer';
  if (flag || fact) return URL_LAST_WORDS.has(last) ? 'url' : 'plain';
  if (last === 'name' || last === 'names') {
    if (words.length === 1) return 'personal';
    const before = words[words.length - 2] as string;
    if (COMPANY_NAME_QUALIFIERS.has(before)) return 'company-name';
    if (PERSON_NAME_QUALIFIERS.has(before)) return 'personal';
  }
  let end = words.length;
  while (end > 1 && TRAILING_DETAIL_WORDS.has(words[end - 1] as string)) end--;
  if (PERSONAL_WORDS.has(words[end - 1] as string)) return 'personal';
  // Compound spellings written as one word ("emailaddress", "homeaddress", "customername").
  if (PERSONAL_SUFFIX.test(words.slice(0, end).join('')) || PERSONAL_SUFFIX.test(joined))
    return 'personal';
  if (URL_LAST_WORDS.has(last)) return 'url';
  return 'plain';
}

const PERSONAL_SUFFIX =
  /(?:email|phone|phonenumber|address|firstname|lastname|fullname|customername|username|zipcode|postalcode|birthdate|dateofbirth|nationalid|socialsecurity|devicename|computername)$/;
