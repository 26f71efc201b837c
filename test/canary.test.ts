// The canary test: plant distinctive PII everywhere an SDK can put it, through every ingest route,
// the real Node SDKs and the Mixpanel-export importer; then search every byte of the data
// directory (and a logical dump of every table) and every log line for it, in plain, lower/upper
// case, URL-encoded and base64 forms. Zero hits — and the analytics still add up.
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import Mixpanel from 'mixpanel';
import { afterAll, describe, expect, it } from 'vitest';
import { PostHog } from 'posthog-node';
import { dumpAllTables, searchCanaries } from './helpers/canary.js';
import { readSnapshot } from './helpers/store.js';
import {
  createProject,
  makeTestEnv,
  runCli,
  startServerProcess,
  type ServerProcess,
} from './helpers/server.js';

const C = {
  email: 'zephyr.canary7f3k@example.org',
  profileEmail: 'quill.canary7f3k@example.net',
  name: 'Zephyrine Canarywood',
  firstName: 'Zephyrinette',
  lastName: 'Canarywoodson',
  phone: '+44 20 7946 0958',
  xffIp: '81.2.69.142',
  propIp: '2.125.160.216',
  engageIp: '89.160.20.112',
  uaToken: 'CanaryBrowser7f3k',
  device: 'canary-device-7f3k-0001',
  org: 'canary-org-7f3k',
  queryToken: 'canaryqs7f3ksecret',
  fragment: 'canaryfrag7f3k',
  pathUuid: 'c0ffee00-dead-4bee-a7f3-0123456789ab',
  refPath: 'canaryref7f3kpath',
  refQuery: 'canaryrefq7f3k',
  card: '4111 1111 1111 1111',
  iban: 'GB82WEST12345698765432',
  jwt: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnk3ZjNrIn0.c2lnbmF0dXJlY2FuYXJ5',
  secretKey: 'sk_live_canary7f3kABCDEFGHIJKLMNOP',
  keyEmail: 'keyed.canary7f3k@example.org',
  importEmail: 'imported.canary7f3k@example.org',
  posthogEmail: 'hedgehog.canary7f3k@example.org',
  nodeEmail: 'noder.canary7f3k@example.org',
  gclid: 'canarygclid7f3kXYZ',
  badBodyEmail: 'broken.canary7f3k@example.org',
};
const CANARY_UA = `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 ${C.uaToken}/1.0`;
const canaries = Object.values(C);

describe('canary: a copy of the data directory holds no PII', () => {
  const t = makeTestEnv({ SILLAGE_TRUST_PROXY: '127.0.0.1' });
  let server: ServerProcess | undefined;
  const cliOutput: string[] = [];
  afterAll(async () => {
    await server?.stop('SIGKILL');
  });

  it('plants PII through every route and SDK, then finds none of it anywhere', async () => {
    server = await startServerProcess(t);
    const project = await createProject(t, 'Canary');
    const url = server.url;
    const now = Date.now();
    const headers = { 'user-agent': CANARY_UA, 'x-forwarded-for': `${C.xffIp}` };
    const post = async (
      pathAndQuery: string,
      body: string | Buffer,
      extra: Record<string, string> = {},
    ) => {
      const res = await fetch(url + pathAndQuery, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers, ...extra },
        body: typeof body === 'string' ? body : new Uint8Array(body),
      });
      return { status: res.status, text: await res.text() };
    };
    const form = (v: unknown): string =>
      'data=' + encodeURIComponent(Buffer.from(JSON.stringify(v)).toString('base64'));

    // 1. mixpanel-browser-shaped /track: ids, URLs, referrers, nested and keyed PII, secrets.
    const track = await post(
      '/track/?ip=1&verbose=1',
      form([
        {
          event: 'Signed up',
          properties: {
            token: project.token,
            time: now / 1000 - 60,
            distinct_id: `$device:${C.device}`,
            $device_id: C.device,
            $insert_id: 'canary0001',
            $current_url: `https://shop.example.com/users/${encodeURIComponent(C.email)}/orders/${C.pathUuid}?token=${C.queryToken}&utm_source=newsletter&gclid=${C.gclid}#${C.fragment}`,
            $referrer: `https://www.example.com/${C.refPath}/page?q=${C.refQuery}`,
            $initial_referrer: `https://www.example.com/${C.refPath}/landing?q=${C.refQuery}`,
            gclid: C.gclid,
            ip: C.propIp,
            $email: C.email,
            $name: C.name,
            note: `write to ${C.email} or call ${C.phone}`,
            payment: { card: C.card, iban: C.iban, nested: [{ contact: C.email }, [C.phone]] },
            auth: C.jwt,
            api: C.secretKey,
            [C.keyEmail]: 'a key that is an e-mail',
            company_id: [C.org],
            plan: 'pro',
          },
        },
        {
          event: '$identify',
          properties: {
            token: project.token,
            time: now / 1000 - 50,
            distinct_id: C.email,
            $anon_distinct_id: `$device:${C.device}`,
            $device_id: C.device,
            $user_id: C.email,
            $insert_id: 'canary0002',
          },
        },
        {
          event: 'Purchased',
          properties: {
            token: project.token,
            time: now / 1000 - 40,
            distinct_id: C.email,
            $device_id: C.device,
            $user_id: C.email,
            $insert_id: 'canary0003',
            amount: 42.5,
            company_id: [C.org],
          },
        },
      ]),
    );
    expect(track.status).toBe(200);
    expect(JSON.parse(track.text)).toMatchObject({ status: 1 });

    // 2. /engage: profile PII in $set, $set_once, $union; the $ip modifier.
    const engage = await post(
      '/engage/?ip=1',
      form([
        {
          $token: project.token,
          $distinct_id: C.email,
          $ip: C.engageIp,
          $set: {
            $email: C.profileEmail,
            $name: C.name,
            $first_name: C.firstName,
            $last_name: C.lastName,
            $phone: C.phone,
            email: C.profileEmail,
            first_name: C.firstName,
            bio: `reach me at ${C.profileEmail}`,
            plan: 'pro',
          },
        },
        {
          $token: project.token,
          $distinct_id: C.email,
          $set_once: { first_contact: C.profileEmail },
        },
        {
          $token: project.token,
          $distinct_id: C.email,
          $union: { aliases: [C.email, C.keyEmail] },
        },
      ]),
    );
    expect(engage.text).toBe('1');

    // 3. /groups: the organisation id and its profile.
    const groups = await post(
      '/groups/',
      form({
        $token: project.token,
        $group_key: 'company_id',
        $group_id: C.org,
        $set: { $name: C.name, domain: 'example.org', billing_email: C.profileEmail },
      }),
    );
    expect(groups.text).toBe('1');

    // 4. /import with the secret.
    const imported = await post(
      '/import?strict=1',
      JSON.stringify([
        {
          event: 'Signed up',
          properties: {
            distinct_id: C.importEmail,
            time: now - 30_000,
            $insert_id: 'canary0004',
            $email: C.importEmail,
          },
        },
        {
          event: 'Purchased',
          properties: {
            distinct_id: C.importEmail,
            time: now - 20_000,
            $insert_id: 'canary0005',
            email: C.importEmail,
          },
        },
      ]),
      {
        'content-type': 'application/json',
        authorization: 'Basic ' + Buffer.from(project.secret + ':').toString('base64'),
      },
    );
    expect(JSON.parse(imported.text)).toMatchObject({ code: 200, num_records_imported: 2 });

    // 5. PostHog capture (gzip batch), with $set on the event and a user-id that is an e-mail.
    const ph = await post(
      '/batch/',
      gzipSync(
        JSON.stringify({
          api_key: project.token,
          sent_at: new Date().toISOString(),
          batch: [
            {
              event: 'Signed up',
              distinct_id: C.posthogEmail,
              timestamp: new Date(now - 10_000).toISOString(),
              properties: {
                $current_url: `https://app.example.com/#/${C.fragment}`,
                $ip: C.propIp,
                $set: { email: C.posthogEmail, name: C.name },
                $raw_user_agent: CANARY_UA,
              },
            },
          ],
        }),
      ),
      { 'content-type': 'text/plain' },
    );
    expect(ph.status).toBe(200);

    // 6. The real mixpanel Node SDK (track, people.set, alias).
    const mp = Mixpanel.init(project.token, { host: `127.0.0.1:${server.port}`, protocol: 'http' });
    await new Promise<void>((resolve, reject) =>
      mp.track(
        'Node event',
        { distinct_id: C.nodeEmail, ip: C.propIp, comment: `from ${C.nodeEmail}` },
        (e) => (e ? reject(e) : resolve()),
      ),
    );
    await new Promise<void>((resolve, reject) =>
      mp.people.set(C.nodeEmail, { $email: C.nodeEmail, $name: C.name, $phone: C.phone }, (e) =>
        e ? reject(e) : resolve(),
      ),
    );
    await new Promise<void>((resolve, reject) =>
      mp.alias(C.nodeEmail, C.keyEmail, (e) => (e ? reject(e) : resolve())),
    );

    // 7. The real posthog-node SDK (capture, identify with $set, groupIdentify).
    const posthog = new PostHog(project.token, { host: url, flushAt: 1, flushInterval: 0 });
    posthog.capture({
      distinctId: C.posthogEmail,
      event: 'Node capture',
      properties: { contact: C.posthogEmail, $groups: { company_id: C.org } },
    });
    posthog.identify({
      distinctId: C.posthogEmail,
      properties: { email: C.posthogEmail, name: C.name },
    });
    posthog.groupIdentify({
      groupType: 'company_id',
      groupKey: C.org,
      properties: { name: C.name },
    });
    await posthog.shutdown();

    // 8. Bad requests carrying PII: their errors and logs must not echo it.
    const bad = await post(
      '/track?verbose=1',
      'data=' + encodeURIComponent(`[{"event":"x","properties":{"email":"${C.badBodyEmail}"`),
    );
    expect(bad.status).toBe(400);
    expect(bad.text).not.toContain(C.badBodyEmail);
    const unknown = await post(
      '/track?verbose=1',
      form({ event: 'x', properties: { token: C.badBodyEmail, distinct_id: C.badBodyEmail } }),
    );
    expect(unknown.status).toBe(401);
    expect(unknown.text).not.toContain(C.badBodyEmail);

    // 9. The Mixpanel-export importer (CLI, through the running server's admin socket).
    const exportFile = path.join(t.base, 'export.jsonl');
    fs.writeFileSync(
      exportFile,
      [
        {
          event: 'Exported',
          properties: {
            time: Math.floor(now / 1000) - 5,
            distinct_id: C.importEmail,
            $insert_id: 'canary0006',
            $email: C.importEmail,
            $city: 'London',
            mp_country_code: 'GB',
            note: `call ${C.phone}`,
          },
        },
        {
          event: 'Exported',
          properties: {
            time: Math.floor(now / 1000) - 4,
            distinct_id: C.importEmail,
            $insert_id: 'canary0007',
            $current_url: `https://x.example.com/p?token=${C.queryToken}`,
          },
        },
      ]
        .map((l) => JSON.stringify(l))
        .join('\n') + '\n',
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
    expect(cliOutput.join('\n')).toContain('2 events imported');
    fs.rmSync(exportFile);

    expect(await server.stop('SIGTERM')).toBe(0);

    // The search: every file of the data directory, a dump of every table, every log line.
    const dump = await dumpAllTables(t.dataDir);
    const hits = searchCanaries(
      canaries,
      { 'server log': server.output(), 'table dump': dump, 'cli output': cliOutput.join('\n') },
      t.dataDir,
    );
    expect(hits).toEqual([]);

    // The analytics still work on what was kept.
    const snap = await readSnapshot(t.dataDir, project.project_id);
    const links = new Map(snap.identityLinks.map((l) => [l.aliasId, l.canonicalId]));
    const resolved = (e: (typeof snap.events)[number]): string =>
      e.userId ?? (e.deviceId && links.get(e.deviceId)) ?? links.get(e.distinctId) ?? e.distinctId;
    const byName = (name: string) => snap.events.filter((e) => e.event === name);
    expect(byName('Signed up')).toHaveLength(3);
    expect(byName('Purchased')).toHaveLength(2);
    const signedUp = new Set(byName('Signed up').map(resolved));
    expect(signedUp.size).toBe(3);
    const purchasers = new Set(byName('Purchased').map(resolved));
    // Funnel Signed up → Purchased: the anonymous browser sign-up and the imported user convert.
    expect([...signedUp].filter((u) => purchasers.has(u))).toHaveLength(2);
    // Geolocation happened before the IP was dropped (region granularity: no city).
    const signup = byName('Signed up').find((e) => e.deviceId !== null)!;
    expect(signup).toMatchObject({ countryCode: 'GB', city: null });
    expect(signup.region).not.toBeNull();
    expect(signup.currentUrl).toBe(
      'https://shop.example.com/users/[email]/orders/[uuid]?utm_source=newsletter',
    );
    expect(signup.referringDomain).toBe('www.example.com');
  });
});
