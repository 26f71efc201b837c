// The canary test for the places the first two canary files do not plant: property KEYS that are
// themselves an e-mail or a URL with a token (under names that mean an identifier, a URL or
// personal data, so that they miss the generic key scan), the privacy report's property names,
// URLs with credentials in userinfo, fragments and encoded query strings, identity ids in every
// SDK wire shape (Mixpanel form/JSON/GET, PostHog /e, /capture, /i/v0/e, /i/v1 with gzip and
// lz64), `$merge`, `$create_alias`, `$groupidentify`, IPv6 addresses in headers and properties,
// and error paths. Then every byte of the data directory, a dump of every table, every log line,
// the CLI's output and every error answer are searched: zero hits.
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import LZString from 'lz-string';
import Mixpanel from 'mixpanel';
import { PostHog } from 'posthog-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpAllTables, searchCanaries, type CanaryHit } from './helpers/canary.js';
import { buildWorld, call, FRESH_PASSKEY, mintSession } from './helpers/fixtures.js';
import { importWithPlans, startInProcess } from './helpers/inprocess.js';
import { readSnapshot, type StoreSnapshot } from './helpers/store.js';
import {
  createProject,
  makeTestEnv,
  runCli,
  startServerProcess,
  type CreatedProject,
  type ServerProcess,
} from './helpers/server.js';

// Each group is one kind of place; its needles must be found nowhere.
const KEYS = {
  // A key under a name that means an identifier (pseudonymised value): the key was kept as sent.
  idKeyEmail: 'cnqeka1',
  idKeyUrl: 'cnqekb2',
  // A key under a name that means a URL (cleaned value).
  urlKeyToken: 'cnqekc3',
  // The same, nested.
  nestedIdKey: 'cnqekd4',
  nestedUrlKey: 'cnqeke5',
  // A dropped key (credential, personal data): its name is counted in the privacy report.
  droppedCredentialKey: 'cnqekf6',
  droppedPersonalKey: 'cnqekg7',
  // Profile and group keys under identifier names, `$add` included.
  profileIdKey: 'cnqekh8',
  profileAddKey: 'cnqeki9',
  groupIdKey: 'cnqekj10',
  // A key whose value mixpanel-browser cut in an emoji: counted as `truncated-surrogate`.
  truncatedKey: 'cnqekk11',
  // PostHog `$set` inside an event, key under an identifier name.
  posthogSetKey: 'cnqekl12',
};

const URLS = {
  userinfoUser: 'cnqeua1user',
  userinfoPass: 'cnqeua1pass',
  userinfoEmail: 'cnqeub2',
  fragmentEmail: 'cnqeuc3',
  matrixParam: 'cnqeud4session',
  encodedNext: 'cnqeue5',
  refUserinfo: 'cnqeuf6',
  pathnameQuery: 'cnqeug7',
  eventNameUserinfo: 'cnqeuh8',
  utmEmail: 'cnqeui9',
  ipv6Host: '2001:db8:cafe::17',
  // posthog-js registers `$initial_person_info: {r: referrer, u: url}` on every event and in
  // `$set_once`: `r` is a full referrer (a profile page names its person).
  personInfoRef: 'cnqeuj10.doe',
  personInfoUrl: 'cnqeuk11',
};

const IDS = {
  mpJsonDistinct: 'cnqeid1@example.org',
  mpGetDistinct: 'cnqeid2@example.org',
  mpAnon: 'cnqeid3-anon',
  mpUser: 'cnqeid4-user',
  mergeA: 'cnqeid5-merge-a',
  mergeB: 'cnqeid6-merge-b',
  nodeAlias: 'cnqeid7-alias',
  nodeDistinct: 'cnqeid8-node',
  phCapture: 'cnqeid9@example.org',
  phE: 'cnqeid10@example.org',
  phV0: 'cnqeid11@example.org',
  phV1: 'cnqeid12@example.org',
  phAnon: 'cnqeid13-anon',
  phAlias: 'cnqeid14-alias',
  phGroupKey: 'cnqeid15-company',
  phDevice: 'cnqeid16-device',
  phSession: 'cnqeid17-session',
  phNodeAlias: 'cnqeid18-alias',
  phNodeGroup: 'cnqeid19-group',
  engageGroupId: 'cnqeid20-group',
  importInsert: 'cnqeid21',
  nestedArrayUser: 'cnqeid22-user',
};

const NETWORK = {
  xffV6: '2a02:c7f:abcd:1234::99',
  ipV6Prop: '2001:db8:85a3::8a2e:370:7334',
  nestedIp: '198.51.100.77',
  uaToken: 'CnqeBrowser9x',
};
const CANARY_UA = `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 ${NETWORK.uaToken}/1.0`;

// Personal data and raw identifiers under common names the key table did not know: a value the
// scanner cannot recognise (a user agent, a date of birth, a phone number without `+`, a device
// id) is only safe if its name is read.
const NAMES = {
  uaShort: 'CnqeShortUa1',
  uaNavigator: 'CnqeNavUa2',
  uaCamel: 'CnqeCamelUa3',
  uaString: 'CnqeStringUa4',
  dateOfBirth: '1961-07-23',
  birthDate: '1962-08-24',
  dateOfBirthCamel: '1963-09-25',
  phoneNum: '447946095813',
  phoneNr: '447946095814',
  mobileNum: '447946095815',
  androidId: '9774d56d682e5cnq',
  imei: '353456789012cnq',
  nationalId: 'QQ123456CNQ',
  // posthog-react-native's `$device_name` is the name the owner gave the phone.
  deviceName: 'Cnqedevname',
  computerName: 'Cnqecompname',
  // Precise coordinates under names other than `$latitude`/`$longitude`.
  latitude: '51.5007292',
  longitude: '-0.1246254',
  lat: '48.8583701',
  lng: '2.2944813',
  gpsLatitude: '40.6892494',
  // An unsalted hash of an e-mail or phone is the same for that person everywhere (ad matching).
  emailHash: 'cnqe0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7',
  hashedEmail: 'cnqe9f8e7d6c5b4a39281706f5e4d3c2b1',
  phoneSha256: 'cnqe11223344556677889900aabbccddeeff11223344556677889900aabbcc',
};
const uaWith = (token: string): string =>
  `Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36 ${token}/2.0`;

const ERRORS = {
  nulKeyEmail: 'cnqeerr1',
  badNumberEmail: 'cnqeerr2',
  importInsertEmail: 'cnqeerr3',
  lz64Broken: 'cnqeerr4',
  // Requests whose path, query string or headers carry an e-mail.
  unknownPath: 'cnqeerr5',
  queryString: 'cnqeerr6',
  callback: 'cnqeerr7',
  projectIdParam: 'cnqeerr8',
  basicUser: 'cnqeerr9',
  bearer: 'cnqeerr10',
  referer: 'cnqeerr11',
  cookie: 'cnqeerr12',
  contentType: 'cnqeerr13',
  arrayToken: 'cnqeerr14',
  decideToken: 'cnqeerr15',
  recording: 'cnqeerr16',
  apiBearer: 'cnqeerr17',
  apiPath: 'cnqeerr18',
};

describe('canary edges: keys, report names, URLs, ids in every wire shape, error paths', () => {
  const t = makeTestEnv({ SILLAGE_TRUST_PROXY: '127.0.0.1' });
  let server: ServerProcess | undefined;
  let project: CreatedProject;
  const answers: string[] = [];
  const cliOutput: string[] = [];
  let texts: Record<string, string> = {};
  let snap: StoreSnapshot;
  const now = Date.now();

  const post = async (
    pathAndQuery: string,
    body: string | Buffer,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; text: string }> => {
    const res = await fetch(server!.url + pathAndQuery, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'user-agent': CANARY_UA,
        'x-forwarded-for': NETWORK.xffV6,
        ...headers,
      },
      body: typeof body === 'string' ? body : new Uint8Array(body),
    });
    const text = await res.text();
    answers.push(text);
    return { status: res.status, text };
  };
  const form = (v: unknown): string =>
    'data=' + encodeURIComponent(Buffer.from(JSON.stringify(v)).toString('base64'));
  const hitsOf = (needles: Record<string, string>): CanaryHit[] =>
    searchCanaries(Object.values(needles), texts, t.dataDir);

  afterAll(async () => {
    await server?.stop('SIGKILL');
  });

  beforeAll(async () => {
    server = await startServerProcess(t);
    project = await createProject(t, 'Canary edges');
    const token = project.token;
    const secretAuth = 'Basic ' + Buffer.from(project.secret + ':').toString('base64');

    // 1. Keys that miss the generic key scan because their name means something.
    const emojiCut = 'x'.repeat(254) + '\ud83d';
    const keyed = await post(
      '/track',
      form([
        {
          event: 'Keyed',
          properties: {
            token,
            distinct_id: 'cnqe-visitor-keys',
            time: now - 90_000,
            [`${KEYS.idKeyEmail}@example.org user_id`]: 'v1',
            [`https://app.example.com/r?token=${KEYS.idKeyUrl}&a=1 customer_id`]: 'v2',
            [`https://app.example.com/r?token=${KEYS.urlKeyToken}&a=1 link`]:
              'https://app.example.com/',
            meta: {
              [`${KEYS.nestedIdKey}@example.org user_id`]: 'v3',
              [`https://app.example.com/?token=${KEYS.nestedUrlKey} url`]: 'https://a.example.com/',
            },
            [`https://app.example.com/r?token=${KEYS.droppedCredentialKey} password`]: 'hunter2',
            [`reset?token=${KEYS.droppedPersonalKey} email`]: 'someone',
            [`https://app.example.com/r?token=${KEYS.truncatedKey}`]: emojiCut,
          },
        },
      ]),
    );
    expect(keyed.text).toBe('1');
    const engage = await post(
      '/engage',
      form([
        {
          $token: token,
          $distinct_id: 'cnqe-visitor-keys',
          $set: { [`${KEYS.profileIdKey}@example.org customer_id`]: 'v4' },
        },
        {
          $token: token,
          $distinct_id: 'cnqe-visitor-keys',
          $add: { [`https://app.example.com/?token=${KEYS.profileAddKey} user_id`]: 1 },
        },
      ]),
    );
    expect(engage.text).toBe('1');
    const groups = await post(
      '/groups',
      form({
        $token: token,
        $group_key: 'company_id',
        $group_id: IDS.engageGroupId,
        $set: { [`${KEYS.groupIdKey}@example.org member_id`]: 'v5', seats: 3 },
      }),
    );
    expect(groups.text).toBe('1');
    const phKeys = await post(
      '/batch/',
      gzipSync(
        JSON.stringify({
          api_key: token,
          batch: [
            {
              event: 'Keyed ph',
              distinct_id: 'cnqe-visitor-phkeys',
              timestamp: new Date(now - 85_000).toISOString(),
              properties: { $set: { [`${KEYS.posthogSetKey}@example.org user_id`]: 'v6' } },
            },
          ],
        }),
      ),
      { 'content-type': 'text/plain' },
    );
    expect(phKeys.status).toBe(200);

    // 2. URLs: credentials in userinfo, e-mails in userinfo and fragment, matrix parameters,
    //    an encoded `next=` carrying a token, a pathname with a query, an IPv6 host, utm e-mails.
    const urls = await post(
      '/track',
      form([
        {
          event: `Opened https://${URLS.eventNameUserinfo}:pw@app.example.com/`,
          properties: {
            token,
            distinct_id: 'cnqe-visitor-urls',
            time: now - 80_000,
            $current_url: `https://${URLS.userinfoUser}:${URLS.userinfoPass}@app.example.com/p`,
            $initial_current_url: `https://alice.${URLS.userinfoEmail}%40example.com:pw@app.example.com/`,
            landing_url: `https://app.example.com/p#${URLS.fragmentEmail}@example.org`,
            page_url: `https://app.example.com/p;jsessionid=${URLS.matrixParam}`,
            next_href: `https://app.example.com/login?next=%2Freset%3Ftoken%3D${URLS.encodedNext}`,
            $referrer: `https://${URLS.refUserinfo}:pw@ref.example.com/x`,
            $pathname: `/reset/x?token=${URLS.pathnameQuery}`,
            host_url: `https://[${URLS.ipv6Host}]/p`,
            note: `see http://[${URLS.ipv6Host}]:8080/admin`,
            $current_url_alt: `https://app.example.com/?utm_source=${URLS.utmEmail}%40example.org`,
            utm_campaign: `${URLS.utmEmail}@example.org`,
          },
        },
      ]),
    );
    expect(urls.text).toBe('1');
    const personInfo = {
      r: `https://www.facebook.com/${URLS.personInfoRef}.4242/`,
      u: `https://app.example.com/welcome?invite=${URLS.personInfoUrl}`,
    };
    const posthogJs = await post(
      '/e/?compression=gzip-js',
      gzipSync(
        JSON.stringify([
          {
            event: '$pageview',
            distinct_id: 'cnqe-visitor-phjs',
            timestamp: new Date(now - 79_000).toISOString(),
            properties: {
              token,
              $initial_person_info: personInfo,
              $set_once: { $initial_person_info: personInfo },
            },
          },
        ]),
      ),
      { 'content-type': 'text/plain' },
    );
    expect(posthogJs.status).toBe(200);

    // 3. Identity ids in every Mixpanel wire shape: JSON body, GET, $identify, $merge (import).
    const mpJson = await post(
      '/track',
      JSON.stringify([
        {
          event: '$identify',
          properties: {
            token,
            distinct_id: IDS.mpJsonDistinct,
            $anon_distinct_id: IDS.mpAnon,
            $user_id: IDS.mpUser,
            time: now - 70_000,
            items: [{ user_id: IDS.nestedArrayUser, ip: NETWORK.nestedIp }],
            ipv6: NETWORK.ipV6Prop,
            $ip: NETWORK.ipV6Prop,
            userAgent: CANARY_UA,
          },
        },
      ]),
      { 'content-type': 'application/json' },
    );
    expect(mpJson.status).toBe(200);
    const getData = Buffer.from(
      JSON.stringify({
        event: 'Got',
        properties: { token, distinct_id: IDS.mpGetDistinct, time: now - 69_000 },
      }),
    ).toString('base64');
    const got = await fetch(`${server.url}/track?data=${encodeURIComponent(getData)}`, {
      headers: { 'user-agent': CANARY_UA, 'x-forwarded-for': NETWORK.xffV6 },
    });
    answers.push(await got.text());
    expect(got.status).toBe(200);
    const merged = await post(
      '/import?strict=1',
      JSON.stringify([
        {
          event: '$merge',
          properties: {
            distinct_id: IDS.mergeA,
            $distinct_ids: [IDS.mergeA, IDS.mergeB],
            time: now - 60_000,
            $insert_id: IDS.importInsert,
          },
        },
      ]),
      { 'content-type': 'application/json', authorization: secretAuth },
    );
    expect(JSON.parse(merged.text)).toMatchObject({ code: 200, num_records_imported: 1 });

    // 4. The mixpanel Node SDK: alias ($create_alias) and group profiles.
    const mp = Mixpanel.init(token, { host: `127.0.0.1:${server.port}`, protocol: 'http' });
    await new Promise<void>((resolve, reject) =>
      mp.alias(IDS.nodeDistinct, IDS.nodeAlias, (e) => (e ? reject(e) : resolve())),
    );

    // 5. PostHog: /capture, /e (lz64 form), /i/v0/e, /i/v1 (Bearer, gzip); $identify,
    //    $create_alias, $groupidentify, $device_id, $session_id, $groups.
    const phEvent = (event: string, distinctId: string, properties: Record<string, unknown>) => ({
      event,
      distinct_id: distinctId,
      timestamp: new Date(now - 50_000).toISOString(),
      properties,
    });
    const capture = await post(
      '/capture/',
      JSON.stringify({
        api_key: token,
        ...phEvent('$identify', IDS.phCapture, {
          $anon_distinct_id: IDS.phAnon,
          $device_id: IDS.phDevice,
          $session_id: IDS.phSession,
          $set: { email: IDS.phCapture },
        }),
      }),
      { 'content-type': 'application/json' },
    );
    expect(capture.status).toBe(200);
    const lz = LZString.compressToBase64(
      JSON.stringify([
        {
          ...phEvent('$create_alias', IDS.phE, { token, alias: IDS.phAlias }),
        },
        {
          ...phEvent('$groupidentify', IDS.phE, {
            token,
            $group_type: 'company',
            $group_key: IDS.phGroupKey,
            $group_set: { name: 'Cnqe Corp' },
          }),
        },
      ]),
    );
    const e = await post('/e/?compression=lz64', 'data=' + encodeURIComponent(lz));
    expect(e.status).toBe(200);
    const v0 = await post(
      '/i/v0/e/',
      gzipSync(
        JSON.stringify({
          api_key: token,
          batch: [phEvent('Viewed', IDS.phV0, { $groups: { company: IDS.phGroupKey } })],
        }),
      ),
      { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    );
    expect(v0.status).toBe(200);
    const v1 = await post(
      '/i/v1/analytics/events',
      gzipSync(
        JSON.stringify({
          created_at: new Date().toISOString(),
          batch: [
            {
              ...phEvent('Viewed v1', IDS.phV1, {}),
              uuid: '0190b2a4-1c4e-7c8a-9d2f-3e4b5c6d7e8f',
              session_id: IDS.phSession,
            },
          ],
        }),
      ),
      {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        authorization: `Bearer ${token}`,
      },
    );
    expect(v1.status).toBe(200);
    const posthog = new PostHog(token, { host: server.url, flushAt: 1, flushInterval: 0 });
    posthog.alias({ distinctId: IDS.phV0, alias: IDS.phNodeAlias });
    posthog.groupIdentify({
      groupType: 'company',
      groupKey: IDS.phNodeGroup,
      properties: { plan: 'pro' },
    });
    await posthog.shutdown();

    // 6. Personal data and device ids under common names, top level and nested.
    const personalNames = {
      ua: uaWith(NAMES.uaShort),
      navigator_user_agent: uaWith(NAMES.uaNavigator),
      browserUserAgent: uaWith(NAMES.uaCamel),
      user_agent_string: uaWith(NAMES.uaString),
      date_of_birth: NAMES.dateOfBirth,
      birth_date: NAMES.birthDate,
      dateOfBirth: NAMES.dateOfBirthCamel,
      phone_num: Number(NAMES.phoneNum),
      phone_nr: NAMES.phoneNr,
      mobile_num: NAMES.mobileNum,
      android_id: NAMES.androidId,
      imei: NAMES.imei,
      national_id: NAMES.nationalId,
      latitude: Number(NAMES.latitude),
      longitude: Number(NAMES.longitude),
      coords: { lat: Number(NAMES.lat), lng: Number(NAMES.lng) },
      gps_latitude: NAMES.gpsLatitude,
      email_hash: NAMES.emailHash,
      hashed_email: NAMES.hashedEmail,
      phoneSha256: NAMES.phoneSha256,
    };
    const named = await post(
      '/track',
      form([
        {
          event: 'Named',
          properties: {
            token,
            distinct_id: 'cnqe-visitor-names',
            time: now - 45_000,
            ...personalNames,
            context: { ...personalNames },
          },
        },
      ]),
    );
    expect(named.text).toBe('1');
    const namedProfile = await post(
      '/engage',
      form({ $token: token, $distinct_id: 'cnqe-visitor-names', $set: personalNames }),
    );
    expect(namedProfile.text).toBe('1');
    const rn = await post(
      '/batch/',
      JSON.stringify({
        api_key: token,
        batch: [
          phEvent('Application Opened', 'cnqe-visitor-rn', {
            $device_name: `${NAMES.deviceName} Doe's iPhone`,
            $device_model: 'iPhone15,2',
            $os_name: 'iOS',
            computer_name: `${NAMES.computerName}-MacBook-Pro`,
          }),
        ],
      }),
      { 'content-type': 'application/json' },
    );
    expect(rn.status).toBe(200);

    // 7. Error paths: a NUL in a key that is an e-mail, 1e309 under an e-mail key, an $insert_id
    //    that is an e-mail (strict /import), broken lz64 — neither the answer nor the log quotes
    //    them; and the CLI importer's rejection summary.
    const nul = await post(
      '/track?verbose=1',
      form({
        event: 'x',
        properties: { token, distinct_id: 'd', [`${ERRORS.nulKeyEmail}@example.org\u0000`]: 1 },
      }),
    );
    expect(JSON.parse(nul.text)).toMatchObject({ status: 0 });
    const badNumber = await post(
      '/import?strict=1',
      `[{"event":"x","properties":{"distinct_id":"d","time":${now},"${ERRORS.badNumberEmail}@example.org":1e309}}]`,
      { 'content-type': 'application/json', authorization: secretAuth },
    );
    expect(badNumber.status).toBe(400);
    const badInsert = await post(
      '/import?strict=1',
      JSON.stringify([
        {
          event: 'x',
          properties: {
            distinct_id: 'd',
            time: now,
            $insert_id: `${ERRORS.importInsertEmail}@example.org`,
          },
        },
      ]),
      { 'content-type': 'application/json', authorization: secretAuth },
    );
    expect(badInsert.status).toBe(400);
    const brokenLz = await post(
      '/e/?compression=lz64',
      'data=' + encodeURIComponent(`${ERRORS.lz64Broken}@example.org!!`),
    );
    expect(brokenLz.status).toBe(400);
    const mail = (local: string): string => `${local}@example.org`;
    const plain = async (method: string, at: string, headers: Record<string, string> = {}) => {
      const res = await fetch(server!.url + at, { method, headers });
      answers.push(await res.text());
      return res.status;
    };
    expect(await plain('GET', `/nope/${mail(ERRORS.unknownPath)}`)).toBe(404);
    const queried = await post(
      `/track?verbose=1&email=${mail(ERRORS.queryString)}&callback=${mail(ERRORS.callback)}`,
      form({ event: 'Queried', properties: { token, distinct_id: 'cnqe-q', time: now - 40_000 } }),
      {
        referer: `https://app.example.com/?email=${mail(ERRORS.referer)}`,
        cookie: `mp_${token}_mixpanel=${encodeURIComponent(mail(ERRORS.cookie))}`,
      },
    );
    expect(queried.status).toBe(200);
    const wrongProject = await post(
      `/import?strict=1&project_id=${mail(ERRORS.projectIdParam)}`,
      JSON.stringify([{ event: 'x', properties: { distinct_id: 'd', time: now } }]),
      { 'content-type': 'application/json', authorization: secretAuth },
    );
    expect(wrongProject.status).toBeGreaterThanOrEqual(400);
    const wrongUser = await post(
      '/import?strict=1',
      JSON.stringify([{ event: 'x', properties: { distinct_id: 'd', time: now } }]),
      {
        'content-type': 'application/json',
        authorization: 'Basic ' + Buffer.from(`${mail(ERRORS.basicUser)}:pw`).toString('base64'),
      },
    );
    expect(wrongUser.status).toBe(401);
    const wrongBearer = await post(
      '/i/v1/analytics/events',
      JSON.stringify({ batch: [{ event: 'x', distinct_id: 'd', uuid: 'u' }] }),
      { 'content-type': 'application/json', authorization: `Bearer ${mail(ERRORS.bearer)}` },
    );
    expect(wrongBearer.status).toBeGreaterThanOrEqual(400);
    const oddType = await post(
      '/track',
      form({ event: 'Typed', properties: { token, distinct_id: 'cnqe-t', time: now - 39_000 } }),
      { 'content-type': `application/x-www-form-urlencoded; charset=${mail(ERRORS.contentType)}` },
    );
    expect(oddType.status).toBeLessThan(500);
    expect(await plain('GET', `/array/${mail(ERRORS.arrayToken)}/config`)).toBeLessThan(500);
    expect(await plain('GET', `/decide/?v=3&token=${mail(ERRORS.decideToken)}`)).toBeLessThan(500);
    const recording = await post(
      '/s/',
      JSON.stringify({ api_key: token, data: { email: mail(ERRORS.recording) } }),
      { 'content-type': 'application/json' },
    );
    expect(recording.status).toBeLessThan(500);
    const api = `/api/v1/projects/${project.project_id}/users/${encodeURIComponent(mail(ERRORS.apiPath))}`;
    expect(await plain('GET', api, { authorization: `Bearer ${mail(ERRORS.apiBearer)}` })).toBe(
      401,
    );
    const exportFile = path.join(t.base, 'edges.jsonl');
    fs.writeFileSync(
      exportFile,
      `{"event":"Exported","properties":{"time":${Math.floor(now / 1000)},"distinct_id":"d","${ERRORS.badNumberEmail}@example.org":1e309}}\n` +
        JSON.stringify({
          event: 'Exported',
          properties: {
            time: Math.floor(now / 1000),
            distinct_id: 'd',
            [`${KEYS.idKeyEmail}@example.org user_id`]: 'v7',
          },
        }) +
        '\n',
    );
    cliOutput.push(
      await runCli(t, [
        'import',
        '--project',
        project.project_id,
        '--format',
        'mixpanel',
        exportFile,
      ]),
    );
    fs.rmSync(exportFile);

    expect(await server.stop('SIGTERM')).toBe(0);
    texts = {
      'server log': server.output(),
      'table dump': await dumpAllTables(t.dataDir),
      'cli output': cliOutput.join('\n'),
      'http answers': answers.join('\n'),
    };
    snap = await readSnapshot(t.dataDir, project.project_id);
  }, 120_000);

  it('keeps no key that is an e-mail or a URL with a token, under any name, nor in the privacy report', () => {
    expect(hitsOf(KEYS)).toEqual([]);
  });

  it('keeps no userinfo, fragment, matrix parameter, encoded query or IPv6 host of a URL', () => {
    expect(hitsOf(URLS)).toEqual([]);
  });

  it('keeps no raw id from any SDK wire shape, alias, merge or group identify', () => {
    expect(hitsOf(IDS)).toEqual([]);
  });

  it('keeps no IPv6 address from a header or a property, nor a user agent under userAgent', () => {
    expect(hitsOf(NETWORK)).toEqual([]);
  });

  it('keeps no user agent, birth date, phone number, device id or coordinate under a common name', () => {
    expect(hitsOf(NAMES)).toEqual([]);
  });

  it('quotes no planted value in an error answer, a log line or the CLI summary', () => {
    expect(hitsOf(ERRORS)).toEqual([]);
  });

  it('still accepted every event it was sent, and links the identities', () => {
    const names = snap.events.map((e) => e.event);
    for (const name of [
      'Keyed',
      'Keyed ph',
      '$identify',
      'Got',
      '$merge',
      'Viewed',
      'Viewed v1',
      'Named',
    ]) {
      expect(names).toContain(name);
    }
    expect(names.some((n) => n.startsWith('Opened https://app.example.com/'))).toBe(true);
    expect(names).toContain('$create_alias');
    expect(names).toContain('Exported');
    // $identify, $merge, $create_alias (Mixpanel and PostHog) each made a link.
    expect(snap.identityLinks.length).toBeGreaterThanOrEqual(5);
  });
});

// What an analyst types: filter values of queries, saved cohorts and saved views. Stored events
// hold `[email]` where an e-mail was, so a typed e-mail can only ever match nothing; it must not be
// kept either (the audit log keeps filter values as HMACs).
const TYPED = {
  cohortValue: 'cnqety1',
  cohortName: 'cnqety2',
  viewValue: 'cnqety3',
  viewName: 'cnqety4',
  queryValue: 'cnqety5',
};

describe('canary edges: what an analyst types into queries, cohorts and views', () => {
  it('keeps no e-mail typed into a filter, a cohort or a view', async () => {
    const s = await startInProcess();
    let closed = false;
    try {
      const world = await buildWorld(s);
      await importWithPlans(
        s,
        [
          {
            event: 'Page View',
            properties: {
              token: s.project.token,
              distinct_id: 'cnqe-analysed',
              time: Math.floor(Date.now() / 1000) - 60,
              $insert_id: 'cnqe-typed-1',
              note: 'hello',
            },
          },
        ],
        [['cnqe-analysed', 'gold']],
      );
      const analyst = {
        kind: 'session' as const,
        session: await mintSession(s.server.runtime.auth, world.usersX.analyst, FRESH_PASSKEY),
      };
      const base = `/api/v1/projects/${world.projectA}`;
      const day = new Date().toISOString().slice(0, 10);
      const filter = (local: string) => [
        { property: 'note', op: 'eq', value: `${local}@example.org` },
      ];
      const query = (local: string) => ({
        kind: 'trends',
        from: day,
        to: day,
        interval: 'day',
        series: [{ event: 'Page View' }],
        filters: filter(local),
      });
      const ran = await call(s, analyst, 'POST', `${base}/query`, {
        body: query(TYPED.queryValue),
      });
      expect(ran.statusCode, ran.body).toBe(200);
      const cohort = await call(s, analyst, 'POST', `${base}/cohorts`, {
        body: {
          name: `Friends of ${TYPED.cohortName}@example.org`,
          conditions: [
            {
              kind: 'person_property',
              property: 'plan',
              op: 'eq',
              value: `${TYPED.cohortValue}@example.org`,
            },
          ],
        },
      });
      // Refused, the place named (an e-mail can match no stored value); without it, saved.
      expect([cohort.statusCode, cohort.json().error.details]).toEqual([
        400,
        [{ path: 'name', message: expect.stringContaining('email') }],
      ]);
      const cohortValue = await call(s, analyst, 'POST', `${base}/cohorts`, {
        body: {
          name: 'Gold',
          conditions: [
            {
              kind: 'person_property',
              property: 'plan',
              op: 'eq',
              value: `${TYPED.cohortValue}@example.org`,
            },
          ],
        },
      });
      expect(cohortValue.json().error.details[0].path).toBe('conditions.0.value');
      const view = await call(s, analyst, 'POST', `${base}/views`, {
        body: { name: `Pages of ${TYPED.viewName}@example.org`, query: query('x') },
      });
      expect(view.json().error.details[0].path).toBe('name');
      const viewValue = await call(s, analyst, 'POST', `${base}/views`, {
        body: { name: 'Pages', query: query(TYPED.viewValue) },
      });
      expect(viewValue.json().error.details[0].path).toBe('query.filters.0.value');
      const saved = await call(s, analyst, 'POST', `${base}/views`, {
        body: {
          name: 'Pages about example.org',
          query: { ...query('x'), filters: [{ property: 'note', op: 'eq', value: 'hello' }] },
        },
      });
      expect(saved.statusCode, saved.body).toBe(201);
      const answers = [ran, cohort, cohortValue, view, viewValue, saved].map((r) => r.body);
      await s.close();
      closed = true;
      const hits = searchCanaries(
        Object.values(TYPED),
        {
          'server log': s.logLines.join('\n'),
          'table dump': await dumpAllTables(s.dataDir),
          'http answers': answers.join('\n'),
        },
        s.dataDir,
      );
      expect(hits).toEqual([]);
    } finally {
      if (!closed) await s.close();
    }
  }, 60_000);
});
