// SDK compatibility: the real `mixpanel` Node SDK against a real Sillage server over HTTPS (the
// SDK sends the project secret only over HTTPS): track, track_batch, import, import_batch (secret
// and service account), every people operation, groups, alias; each call awaited in order, then
// the store is read back and every profile is compared with its value computed by hand.
import Mixpanel from 'mixpanel';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLeaks, storeText } from '../helpers/leaks.js';
import { pseudonymOf, pseudonymsOf } from '../helpers/pseudonyms.js';
import {
  createProject,
  makeTestEnv,
  runCli,
  type CreatedProject,
  type ServerProcess,
} from '../helpers/server.js';
import { readSnapshot, type StoreSnapshot } from '../helpers/store.js';
import {
  makeSelfSignedCert,
  startTlsServerProcess,
  trustCertificateForPort,
} from '../helpers/tls.js';

const require = createRequire(import.meta.url);
const SDK_VERSION = (require('mixpanel/package.json') as { version: string }).version;

type Client = ReturnType<typeof Mixpanel.init>;

/** A public address the bundled DB-IP database places in GB / England / London. */
const CLIENT_IP = '81.2.69.142';
const USER = 'mpn-user-4711';
const DOOMED = 'mpn-user-bob-0042';
const ALIAS = 'mpn-crm-8841';
const COMPANY = 'company';
const ACME = 'mpn-acme-42';
const GLOBEX = 'mpn-globex-7';
/** A group key of the project's own choosing (not one of Sillage's default group keys). */
const WORKSPACE = 'workspace';
const WORKSPACE_ID = 'mpn-ws-lighthouse-9';
const EMAIL = 'alice.node@example.com';
const FULL_NAME = 'Alice Liddell';
const PHONE = '+44 20 7946 0958';
const DAY_MS = 86_400_000;

const t = makeTestEnv();
let server: ServerProcess | undefined;
let untrust: (() => void) | undefined;
let project: CreatedProject;
let serverExit: number | null = null;
let serverOutput = '';
let snapshot: StoreSnapshot;
let users: Map<string, string>;
/** Stored insert ids: keyed pseudonyms of the `$insert_id` values this test sends. */
let insertIds = new Map<string, string>();
const SENT_INSERT_IDS = [
  'mpn-batch-0001',
  'mpn-batch-0002',
  'mpn-legacy-0000',
  'mpn-legacy-0001',
  'mpn-legacy-0002',
  'mpn-legacy-0003',
];
const I = (id: string): string => pseudonymOf(insertIds, id);
let acmePseudonym = '';
let workspacePseudonym = '';
let startedMs = 0;
let endedMs = 0;
/** Error message (or null) each SDK call reported to its callback, by step name. */
const callbacks = new Map<string, string | null>();
/** What the SDK logged (it warns that the project secret is deprecated). */
const sdkWarnings: string[] = [];

const T_SIGNUP = () => startedMs - 60_000;
const T_BATCH = () => startedMs - 30_000;
const T_OLD = () => startedMs - 3 * DAY_MS;

const logger = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message?: unknown) => sdkWarnings.push(String(message)),
  error: (message?: unknown) => sdkWarnings.push(String(message)),
};

/** Runs one SDK call and records what its callback said. */
function step(name: string, fn: (cb: (err: Error | undefined) => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    fn((err) => {
      callbacks.set(name, err ? err.message : null);
      resolve();
    });
  });
}

/** Runs one batch call and records the errors its callback got (null when none). */
function batchStep(
  name: string,
  fn: (cb: (errors: Error[] | undefined | null) => void) => void,
): Promise<void> {
  return new Promise<void>((resolve) => {
    fn((errors) => {
      callbacks.set(
        name,
        errors && errors.length > 0 ? errors.map((e) => e.message).join('; ') : null,
      );
      resolve();
    });
  });
}

function batchEvents() {
  // A fresh list per call: the SDK writes token and time into the objects it is given.
  return [
    {
      event: 'Batch item',
      properties: {
        distinct_id: USER,
        n: 1,
        time: new Date(T_BATCH()),
        $insert_id: 'mpn-batch-0001',
      },
    },
    {
      event: 'Batch item',
      properties: {
        distinct_id: USER,
        n: 2,
        time: new Date(T_BATCH() + 1),
        $insert_id: 'mpn-batch-0002',
      },
    },
    // No $insert_id (the Node SDK never adds one): Sillage derives one from the content.
    { event: 'Batch item', properties: { distinct_id: USER, n: 3, time: new Date(T_BATCH() + 2) } },
  ];
}

async function drive(mp: Client, serviceAccount: Client, wrongSecret: Client): Promise<void> {
  // Events.
  await step('track Signed up', (cb) =>
    mp.track(
      'Signed up',
      { distinct_id: USER, plan: 'pro', ip: CLIENT_IP, time: new Date(T_SIGNUP()) },
      cb,
    ),
  );
  await step('track Heartbeat', (cb) => mp.track('Heartbeat', { distinct_id: USER }, cb));
  await batchStep('track_batch', (cb) => mp.track_batch(batchEvents(), cb));
  // The same batch again, as an SDK user retrying after a timeout would.
  await batchStep('track_batch resend', (cb) => mp.track_batch(batchEvents(), cb));
  await step('import', (cb) =>
    mp.import(
      'Legacy order',
      new Date(T_OLD()),
      { distinct_id: USER, $insert_id: 'mpn-legacy-0001', amount: 42 },
      cb,
    ),
  );
  await batchStep('import_batch', (cb) =>
    mp.import_batch(
      [
        {
          event: 'Legacy refund',
          properties: {
            distinct_id: USER,
            time: new Date(T_OLD() + 1_000),
            $insert_id: 'mpn-legacy-0002',
            amount: -10,
          },
        },
        {
          event: 'Legacy refund',
          properties: {
            distinct_id: USER,
            time: T_OLD() + 2_000,
            $insert_id: 'mpn-legacy-0003',
            amount: -5,
          },
        },
      ],
      cb,
    ),
  );
  await step('import (service account)', (cb) =>
    serviceAccount.import(
      'Legacy signup',
      new Date(T_OLD() - 1_000),
      { distinct_id: USER, $insert_id: 'mpn-legacy-0000' },
      cb,
    ),
  );
  await step('import (wrong secret)', (cb) =>
    wrongSecret.import(
      'Must not land',
      new Date(T_OLD()),
      { distinct_id: USER, $insert_id: 'mpn-refused-0001' },
      cb,
    ),
  );
  await step('alias', (cb) => mp.alias(USER, ALIAS, cb));

  // People, in an order whose result is computed by hand in the test below.
  await step('people.set', (cb) =>
    mp.people.set(
      USER,
      { plan: 'pro', seats: 3, $email: EMAIL, $name: FULL_NAME, $phone: PHONE, ip: CLIENT_IP },
      cb,
    ),
  );
  await step('people.set_once', (cb) =>
    mp.people.set_once(USER, { first_seen: '2026-01-01', plan: 'free' }, cb),
  );
  // No amount: the SDK adds 1 (an empty modifiers object, as the typings want one before the callback).
  await step('people.increment 1', (cb) => mp.people.increment(USER, 'logins', {}, cb));
  await step('people.increment 2', (cb) =>
    mp.people.increment(USER, { logins: 2, credits: -5 }, cb),
  );
  await step('people.append 1', (cb) => mp.people.append(USER, 'pages', 'home', cb));
  await step('people.append 2', (cb) => mp.people.append(USER, { pages: 'pricing' }, cb));
  await step('people.union 1', (cb) => mp.people.union(USER, { tags: ['a', 'b'] }, cb));
  await step('people.union 2', (cb) => mp.people.union(USER, { tags: ['b', 'c'] }, cb));
  await step('people.remove', (cb) => mp.people.remove(USER, { tags: 'b' }, cb));
  await step('people.unset', (cb) => mp.people.unset(USER, 'seats', cb));
  await step('people.set (doomed)', (cb) => mp.people.set(DOOMED, { plan: 'free' }, cb));
  await step('people.delete_user', (cb) => mp.people.delete_user(DOOMED, cb));

  // Groups.
  await step('groups.set', (cb) =>
    mp.groups.set(COMPANY, ACME, { $name: 'Acme Inc.', industry: 'widgets', employees: 250 }, cb),
  );
  await step('groups.set_once', (cb) =>
    mp.groups.set_once(COMPANY, ACME, { founded: 1999, industry: 'ignored' }, cb),
  );
  await step('groups.union', (cb) =>
    mp.groups.union(COMPANY, ACME, { products: ['anvil', 'rocket'] }, cb),
  );
  await step('groups.remove', (cb) => mp.groups.remove(COMPANY, ACME, { products: 'anvil' }, cb));
  await step('groups.unset', (cb) => mp.groups.unset(COMPANY, ACME, 'employees', cb));
  await step('groups.set (doomed)', (cb) =>
    mp.groups.set(COMPANY, GLOBEX, { industry: 'energy' }, cb),
  );
  await step('groups.delete_group', (cb) => mp.groups.delete_group(COMPANY, GLOBEX, cb));

  await step('groups.set (workspace)', (cb) =>
    mp.groups.set(WORKSPACE, WORKSPACE_ID, { seats: 12 }, cb),
  );

  // Events of the groups (Mixpanel: the group key is an event property holding the group id).
  await step('track Invoice paid', (cb) =>
    mp.track('Invoice paid', { distinct_id: USER, [COMPANY]: ACME, amount: 99 }, cb),
  );
  await step('track Workspace opened', (cb) =>
    mp.track('Workspace opened', { distinct_id: USER, [WORKSPACE]: WORKSPACE_ID }, cb),
  );
}

beforeAll(async () => {
  const cert = makeSelfSignedCert(t.base);
  server = await startTlsServerProcess(t, cert);
  untrust = trustCertificateForPort(cert.certPem, server.port);
  project = await createProject(t, 'mixpanel-node');
  // Group keys come from the project's policy, never from traffic (issue 11): declare `workspace`.
  const current = JSON.parse(
    await runCli(t, ['privacy', 'policy', 'get', '--project', project.project_id]),
  ) as { policy?: { groupKeys: string[] } } & { groupKeys?: string[] };
  const policy = current.policy ?? current;
  const policyFile = path.join(t.base, 'policy.json');
  fs.writeFileSync(
    policyFile,
    JSON.stringify({ ...policy, groupKeys: [...(policy.groupKeys ?? []), WORKSPACE] }),
  );
  await runCli(t, [
    'privacy',
    'policy',
    'set',
    '--project',
    project.project_id,
    '--file',
    policyFile,
  ]);
  const host = `127.0.0.1:${server.port}`;
  const mp = Mixpanel.init(project.token, {
    host,
    protocol: 'https',
    secret: project.secret,
    logger,
  });
  const serviceAccount = Mixpanel.init(project.token, {
    host,
    protocol: 'https',
    credentials: new Mixpanel.ServiceAccountCredentials(
      'svc-importer',
      project.secret,
      project.project_id,
    ),
    logger,
  });
  const wrongSecret = Mixpanel.init(project.token, {
    host,
    protocol: 'https',
    secret: 'sil_sk_not-the-secret',
    logger,
  });
  startedMs = Date.now();
  await drive(mp, serviceAccount, wrongSecret);
  endedMs = Date.now();
  users = await pseudonymsOf(t, project.project_id, [USER, DOOMED, ALIAS]);
  insertIds = await pseudonymsOf(t, project.project_id, SENT_INSERT_IDS, '$insert_id');
  acmePseudonym = pseudonymOf(await pseudonymsOf(t, project.project_id, [ACME], COMPANY), ACME);
  workspacePseudonym = pseudonymOf(
    await pseudonymsOf(t, project.project_id, [WORKSPACE_ID], WORKSPACE),
    WORKSPACE_ID,
  );
  serverExit = await server.stop('SIGTERM');
  serverOutput = server.output();
  snapshot = await readSnapshot(t.dataDir, project.project_id);
}, 120_000);

afterAll(async () => {
  untrust?.();
  if (server && server.child.exitCode === null) await server.stop('SIGKILL');
});

const P = (id: string): string => pseudonymOf(users, id);
const rows = (event: string) => snapshot.events.filter((e) => e.event === event);

describe('mixpanel (Node SDK) over HTTPS', () => {
  it('the server stops cleanly', () => {
    expect(serverExit).toBe(0);
  });

  it('reports success for track, track_batch, alias, people and groups calls', () => {
    const others = Object.fromEntries(
      [...callbacks].filter(([name]) => !name.startsWith('import')),
    );
    // 4 track calls, alias, 12 people calls, 8 groups calls, 2 more track calls.
    expect(Object.keys(others)).toHaveLength(27);
    expect(others).toEqual(Object.fromEntries(Object.keys(others).map((name) => [name, null])));
  });

  it('refuses /import with a wrong secret, and the SDK sees the error', () => {
    expect(callbacks.get('import (wrong secret)')).toMatch(/Invalid credentials|401/);
    expect(rows('Must not land')).toEqual([]);
  });

  it('track: explicit time (ms Date), properties.ip geolocated then dropped, lib "node"', () => {
    const [row, ...more] = rows('Signed up');
    expect(more).toEqual([]);
    expect(row).toMatchObject({
      timeMs: T_SIGNUP(),
      distinctId: P(USER),
      deviceId: null,
      userId: null,
      browser: null,
      os: null,
      deviceType: null,
      countryCode: 'GB',
      region: 'England',
      city: null,
      currentUrl: null,
      referringDomain: null,
      lib: 'node',
      properties: { plan: 'pro', $lib_version: SDK_VERSION },
    });
    // No $insert_id from this SDK: one is derived from the content, so that resends dedup.
    expect(row!.insertId).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('track without time: stored at the receive time; ip=0 and no properties.ip: no location', () => {
    const [row, ...more] = rows('Heartbeat');
    expect(more).toEqual([]);
    expect(row!.timeMs).toBeGreaterThanOrEqual(startedMs);
    expect(row!.timeMs).toBeLessThanOrEqual(endedMs);
    expect(row).toMatchObject({
      distinctId: P(USER),
      countryCode: null,
      region: null,
      city: null,
      lib: 'node',
    });
    expect(row!.properties).toEqual({ $lib_version: SDK_VERSION });
  });

  it('track_batch: three events, stored once each although the batch was sent twice', () => {
    const batch = rows('Batch item');
    expect(
      batch.map((r) => ({ n: r.properties.n, timeMs: r.timeMs, distinctId: r.distinctId })),
    ).toEqual([
      { n: 1, timeMs: T_BATCH(), distinctId: P(USER) },
      { n: 2, timeMs: T_BATCH() + 1, distinctId: P(USER) },
      { n: 3, timeMs: T_BATCH() + 2, distinctId: P(USER) },
    ]);
    // Sent insert ids are stored as their keyed pseudonyms (issue 11); resends still dedup.
    expect(batch[0]!.insertId).toBe(I('mpn-batch-0001'));
    expect(batch[1]!.insertId).toBe(I('mpn-batch-0002'));
    expect(batch[2]!.insertId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    // track_batch and import_batch only add `token`: no mp_lib / $lib_version, so no lib column.
    for (const r of batch) {
      expect(r.properties).toEqual({ n: r.properties.n });
      expect(r.lib).toBeNull();
    }
  });

  it('import, import_batch and a service-account import store the historical events', () => {
    const imported = snapshot.events
      .filter((e) => e.event.startsWith('Legacy'))
      .map((e) => ({
        event: e.event,
        timeMs: e.timeMs,
        insertId: e.insertId,
        distinctId: e.distinctId,
        props: e.properties,
      }));
    expect(imported).toEqual([
      {
        event: 'Legacy signup',
        timeMs: T_OLD() - 1_000,
        insertId: I('mpn-legacy-0000'),
        distinctId: P(USER),
        props: { $lib_version: SDK_VERSION },
      },
      {
        event: 'Legacy order',
        timeMs: T_OLD(),
        insertId: I('mpn-legacy-0001'),
        distinctId: P(USER),
        props: { amount: 42, $lib_version: SDK_VERSION },
      },
      {
        event: 'Legacy refund',
        timeMs: T_OLD() + 1_000,
        insertId: I('mpn-legacy-0002'),
        distinctId: P(USER),
        props: { amount: -10 },
      },
      {
        event: 'Legacy refund',
        timeMs: T_OLD() + 2_000,
        insertId: I('mpn-legacy-0003'),
        distinctId: P(USER),
        props: { amount: -5 },
      },
    ]);
  });

  it('import and import_batch report success to the SDK (it treats any body but "1" as an error)', () => {
    expect({
      import: callbacks.get('import'),
      import_batch: callbacks.get('import_batch'),
      serviceAccount: callbacks.get('import (service account)'),
    }).toEqual({ import: null, import_batch: null, serviceAccount: null });
  });

  it('alias: a $create_alias event and an alias → user identity link', () => {
    const [row, ...more] = rows('$create_alias');
    expect(more).toEqual([]);
    expect(row).toMatchObject({
      distinctId: P(USER),
      properties: { alias: P(ALIAS), $lib_version: SDK_VERSION },
    });
    expect(
      snapshot.identityLinks.map(({ aliasId, canonicalId }) => ({ aliasId, canonicalId })),
    ).toEqual([{ aliasId: P(ALIAS), canonicalId: P(USER) }]);
  });

  it('people: every operation applied in order; $email, $name, $phone dropped; $ip gives the location', () => {
    const profile = snapshot.profiles.find((p) => p.groupKey === '' && p.profileId === P(USER));
    expect(profile?.properties).toEqual({
      plan: 'pro', // $set, and $set_once did not overwrite it
      first_seen: '2026-01-01', // $set_once
      logins: 3, // $add 1 (default), then $add 2
      credits: -5, // $add of a negative number from nothing
      pages: ['home', 'pricing'], // $append twice
      tags: ['a', 'c'], // $union [a,b] ∪ [b,c], then $remove b
      // seats: $unset; $email/$name/$phone: profile PII, dropped by the default policy
      $country_code: 'GB', // from `ip` in people.set, moved by the SDK to `$ip`
      $region: 'England',
    });
  });

  it('people.delete_user deletes the profile', () => {
    expect(snapshot.profiles.find((p) => p.profileId === P(DOOMED))).toBeUndefined();
  });

  it('groups: set, set_once, union, remove, unset on the group profile; delete_group deletes one', () => {
    const groups = snapshot.profiles
      .filter((p) => p.groupKey !== '')
      .map(({ groupKey, profileId, properties }) => ({ groupKey, profileId, properties }));
    expect(groups).toEqual(
      [
        {
          groupKey: COMPANY,
          profileId: acmePseudonym,
          // `$name` is profile PII by the default policy, dropped for groups too.
          properties: { industry: 'widgets', founded: 1999, products: ['rocket'] },
        },
        { groupKey: WORKSPACE, profileId: workspacePseudonym, properties: { seats: 12 } },
      ].sort((a, b) => (a.groupKey < b.groupKey ? -1 : 1)),
    );
    expect(acmePseudonym).toMatch(/^g_[A-Za-z0-9_-]{22}$/);
    // Exactly three profiles in all: the user and the two groups.
    expect(snapshot.profiles).toHaveLength(3);
  });

  it('an event’s default group-key property (company) carries the group pseudonym, as the group profile id does', () => {
    const [row] = rows('Invoice paid');
    expect(row?.properties.amount).toBe(99);
    expect(row?.properties[COMPANY]).toBe(acmePseudonym);
    expect(storeText(snapshot)).not.toContain(ACME);
  });

  it('an event’s property named after a group key used on /groups carries the group pseudonym too', () => {
    const [row] = rows('Workspace opened');
    // DESIGN.md: group ids become keyed pseudonyms. `workspace` is a group key of this project
    // (its policy declares it), so its ids on events must match its profile's id, not stay raw.
    expect(row?.properties[WORKSPACE]).toBe(workspacePseudonym);
    expect(findLeaks([WORKSPACE_ID], { store: storeText(snapshot) }, t.dataDir)).toEqual([]);
  });

  it('keeps no raw id, PII, IP or the project secret, in the store, its files or the logs', () => {
    const needles = [
      USER,
      DOOMED,
      ALIAS,
      GLOBEX,
      EMAIL,
      FULL_NAME,
      PHONE,
      'Acme Inc.',
      CLIENT_IP,
      project.secret,
    ];
    expect(findLeaks(needles, { store: storeText(snapshot), serverOutput }, t.dataDir)).toEqual([]);
    // Control: the file scan does see stored strings.
    expect(findLeaks([P(USER)], {}, t.dataDir)).not.toEqual([]);
  });

  it('the SDK only warned about the deprecated secret (no request errors were logged)', () => {
    expect(sdkWarnings.every((w) => w.includes('DEPRECATION WARNING'))).toBe(true);
  });
});
