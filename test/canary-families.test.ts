// The canary test for issue 11's families: every family the outside review found stored as sent
// (URLs outside URL properties, personal data under common names, raw ids, scanner misses) is
// planted as an event name, a property key, a nested value, a profile key, an `$unset` name,
// `$insert_id`, PostHog's `uuid` and a referrer, through /track, /engage, /groups and PostHog's
// /batch on a real server; then every byte of the data directory, a dump of every table and every
// log line are searched: zero hits. Group keys sent by traffic do not turn a property into a group
// pseudonym.
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { dumpAllTables, searchCanaries } from './helpers/canary.js';
import { readSnapshot } from './helpers/store.js';
import {
  createProject,
  makeTestEnv,
  startServerProcess,
  type ServerProcess,
} from './helpers/server.js';

/** A planted value and the distinctive pieces of it that must be found nowhere. */
interface Family {
  value: string;
  needles: string[];
}

const FAMILIES: Record<string, Family> = {
  urlQueryAndFragment: {
    value: 'https://app.example.com/reset?token=cnqTokA11#access_token=cnqFragA11',
    needles: ['cnqTokA11', 'cnqFragA11'],
  },
  urlWithoutScheme: { value: 'www.example.com/reset?token=cnqTokB11', needles: ['cnqTokB11'] },
  urlOneSlash: { value: 'https:/app.example.com/reset?token=cnqTokC11', needles: ['cnqTokC11'] },
  urlWithSpace: {
    value: 'https://app.example.com/reset now?token=cnqTokD11',
    needles: ['cnqTokD11'],
  },
  urlJavascript: { value: "javascript:fetch('cnqJsE11')", needles: ['cnqJsE11'] },
  urlTokenSegment: {
    value: 'app.example.com/invite/cnq7f3k9x2m4p8q1w5/',
    needles: ['cnq7f3k9x2m4p8q1w5'],
  },
  phoneDashed: { value: '1-415-555-0125', needles: ['415-555-0125', '4155550125'] },
  phoneDotted: { value: '1.415.555.0142', needles: ['415.555.0142', '4155550142'] },
  phoneIdd: { value: '0033 6 12 34 56 23', needles: ['6 12 34 56 23', '612345623'] },
  phoneParenPlus: { value: '(+33) 6 12 34 56 48', needles: ['6 12 34 56 48', '612345648'] },
  phoneFullWidth: {
    value: '＋３３ ６ ９８ ７６ ５４ ３２',
    needles: ['６ ９８ ７６ ５４ ３２', '698765432'],
  },
  ipZeroPadded: { value: '203.000.113.041', needles: ['203.000.113.041'] },
  ipInHostName: { value: 'host-203-0-113-44.example.net', needles: ['203-0-113-44'] },
  ipDottedHost: { value: '198.51.100.23.nip.io', needles: ['198.51.100.23'] },
  sillageSecret: {
    value: 'sil_sk_cnqSecretKey11AbCdEfGhIjKlMn',
    needles: ['cnqSecretKey11AbCdEfGhIjKlMn'],
  },
  emailSoftHyphen: { value: 'cnqsoftlocal\u00ad.a@example.org', needles: ['cnqsoftlocal'] },
  emailZeroWidth: { value: 'cnqzwlocal\u200b.b@example.org', needles: ['cnqzwlocal'] },
  emailFullWidthAt: { value: 'cnqfwlocal＠example.org', needles: ['cnqfwlocal'] },
  emailDoubleEncoded: { value: 'cnqpctlocal%2540example.org', needles: ['cnqpctlocal'] },
  cardDotted: { value: '4111.1111.1111.1111', needles: ['4111.1111.1111.1111'] },
  cardDoubleSpaced: { value: '5555  5555  5555  4444', needles: ['5555  5555  5555  4444'] },
  basicAuthorization: {
    value: `Authorization: Basic ${Buffer.from('cnquser11:cnqpass11').toString('base64')}`,
    needles: [Buffer.from('cnquser11:cnqpass11').toString('base64')],
  },
};

// Personal data under common names, and identifiers under names that mean one.
const PERSONAL: Record<string, string> = {
  customer_name: 'Cnqelda Customerson',
  shipping_address: '12 Cnqstreet Road',
  home_address: '7 Cnqhome Lane',
  company_name: 'Cnqcorp Holdings',
  nickname: 'Cnqnickname',
  password: 'cnqPassw0rd11',
  Authorization: 'Bearer cnqBearerToken11abcdefghij',
};
const IDS = {
  userId: 'cnq-user-0042',
  metaDistinct: 'cnq-meta-0043',
  nestedDevice: 'cnq-dev-0044',
  insertId: 'user-cnq0045',
  posthogUuid: 'user-cnq0046',
};

const CANARIES = [
  ...Object.values(FAMILIES).flatMap((f) => f.needles),
  ...Object.values(PERSONAL),
  ...Object.values(IDS),
];

describe("canary: issue 11's families leave nothing in the data directory or the logs", () => {
  const t = makeTestEnv();
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop('SIGKILL');
  });

  it('plants every family in every place, then finds none of it anywhere', async () => {
    server = await startServerProcess(t);
    const project = await createProject(t, 'Canary families');
    const url = server.url;
    const now = Date.now();
    const post = async (path: string, body: string | Buffer, type: string) => {
      const res = await fetch(url + path, {
        method: 'POST',
        headers: { 'content-type': type },
        body: typeof body === 'string' ? body : new Uint8Array(body),
      });
      return { status: res.status, text: await res.text() };
    };
    const form = (v: unknown): string =>
      'data=' + encodeURIComponent(Buffer.from(JSON.stringify(v)).toString('base64'));

    // Group-key poisoning: the public token declares `plan` a group key (ignored for events).
    const groups = await post(
      '/groups',
      form([
        {
          $token: project.token,
          $group_key: 'plan',
          $group_id: 'pro',
          $set: { name: PERSONAL.company_name, seats: 5 },
        },
      ]),
      'application/x-www-form-urlencoded',
    );
    expect(groups.text).toBe('1');

    // Every family as an event name, a key, a nested value and a referrer, on /track.
    const events = Object.entries(FAMILIES).map(([family, { value }], i) => ({
      event: `Viewed ${value}`,
      properties: {
        token: project.token,
        distinct_id: `cnq-visitor-${i}`,
        time: now - 60_000 + i,
        $insert_id: `ins-${i}`,
        family,
        plan: 'pro',
        [`k ${value}`]: 1,
        meta: { deep: [value, { note: value }] },
        $referrer: `https://${family.toLowerCase()}.example.com/?q=${encodeURIComponent(value)}`,
      },
    }));
    for (let at = 0; at < events.length; at += 10) {
      const res = await post(
        '/track',
        form(events.slice(at, at + 10)),
        'application/x-www-form-urlencoded',
      );
      expect(res.text).toBe('1');
    }

    // Personal data under common names, ids under names that mean one, ids in $insert_id,
    // a referring domain that is an IP in a host name.
    const personal = await post(
      '/track',
      form([
        {
          event: 'Ordered',
          properties: {
            token: project.token,
            distinct_id: 'cnq-visitor-personal',
            time: now - 30_000,
            $insert_id: IDS.insertId,
            ...PERSONAL,
            user_id: IDS.userId,
            meta: { distinct_id: IDS.metaDistinct, device: { $device_id: IDS.nestedDevice } },
            nested: { ...PERSONAL },
            $referring_domain: FAMILIES.ipDottedHost!.value,
          },
        },
      ]),
      'application/x-www-form-urlencoded',
    );
    expect(personal.text).toBe('1');

    // Profile keys and $unset names.
    const engage = await post(
      '/engage',
      form([
        {
          $token: project.token,
          $distinct_id: 'cnq-visitor-0',
          $set: Object.fromEntries(
            Object.values(FAMILIES).map(({ value }, i) => [`p${i} ${value}`, value]),
          ),
        },
        {
          $token: project.token,
          $distinct_id: 'cnq-visitor-0',
          $unset: Object.values(FAMILIES).map(({ value }) => value),
        },
      ]),
      'application/x-www-form-urlencoded',
    );
    expect(engage.text).toBe('1');

    // PostHog: a user id in `uuid`, families in the event name and properties.
    const ph = await post(
      '/batch/',
      gzipSync(
        JSON.stringify({
          api_key: project.token,
          batch: [
            {
              event: `Clicked ${FAMILIES.urlQueryAndFragment!.value}`,
              distinct_id: 'cnq-visitor-ph',
              uuid: IDS.posthogUuid,
              timestamp: new Date(now - 20_000).toISOString(),
              properties: { note: FAMILIES.emailFullWidthAt!.value, ...PERSONAL },
            },
          ],
        }),
      ),
      'text/plain',
    );
    expect(ph.status).toBe(200);

    expect(await server.stop('SIGTERM')).toBe(0);

    const dump = await dumpAllTables(t.dataDir);
    const hits = searchCanaries(
      CANARIES,
      { 'server log': server.output(), 'table dump': dump },
      t.dataDir,
    );
    expect(hits).toEqual([]);

    // Everything was accepted, and `plan` stayed a plain value despite the `/groups` update.
    const snap = await readSnapshot(t.dataDir, project.project_id);
    const viewed = snap.events.filter((e) => e.event.startsWith('Viewed'));
    expect(viewed).toHaveLength(Object.keys(FAMILIES).length);
    expect(viewed.every((e) => e.properties.plan === 'pro')).toBe(true);
    expect(snap.events.filter((e) => e.event === 'Ordered')).toHaveLength(1);
    expect(
      snap.events.some((e) => e.event.startsWith('Clicked https://app.example.com/reset')),
    ).toBe(true);
  });
});
