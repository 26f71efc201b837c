// SDK compatibility: the real `mixpanel-import` package (npm; Mixpanel's importer for back-filling
// events, profiles and groups) against a real Sillage server over HTTPS on a loopback socket.
// The package has no host setting (its API host is fixed in its code), so the test routes that one
// host name to the server as an /etc/hosts line and an installed CA would: the package's own HTTP
// clients (undici by default, `got` on request) open a real TLS connection that checks the
// certificate against the name. It authenticates with the project secret, back-dates events
// (allowed on /import with a secret), gzips event batches, sends `ip=0&verbose=1&strict=1`, and
// reads per-record failures from the answer. Counts and unique users are read through the query
// API; a second import of the same file adds nothing (`$insert_id`).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcess } from '../helpers/inprocess.js';
import { countEvent, groupProfiles, profileOfDoer } from '../helpers/sdk-wire.js';
import { makeSelfSignedCert, routeHostToLoopback } from '../helpers/tls.js';

const require = createRequire(import.meta.url);
const SDK_VERSION = (require('mixpanel-import/package.json') as { version: string }).version;

/** What `mixpanel-import` resolves to (its own types are loose; only what is read here). */
interface ImportResults {
  success: number;
  failed: number;
  total: number;
  batches: number;
  requests: number;
  retries: number;
  errors: Record<string, number>;
}
type Importer = (
  creds: Record<string, unknown>,
  data: unknown,
  options: Record<string, unknown>,
) => Promise<ImportResults>;

const MIXPANEL_HOST = 'api.mixpanel.com';
const DAY_MS = 86_400_000;
const USERS = ['mpi-user-1', 'mpi-user-2', 'mpi-user-3'];

let s: InProcess;
let unroute = (): void => undefined;
let importer: Importer;
const startedMs = Date.now();

/** 120 purchases by three users over the last 20 days, one VIP event, one refused record. */
function events(): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < 120; i += 1) {
    out.push({
      event: 'mpi_purchase',
      properties: {
        time: startedMs - (1 + (i % 20)) * DAY_MS,
        distinct_id: USERS[i % USERS.length],
        $insert_id: `mpi-purchase-${String(i).padStart(4, '0')}`,
        amount: i,
      },
    });
  }
  out.push({
    event: 'mpi_vip',
    properties: {
      time: startedMs - 2 * DAY_MS,
      distinct_id: USERS[0],
      $insert_id: 'mpi-vip-0001',
    },
  });
  // Refused per record (a NUL in the event name), with the field named in failed_records.
  out.push({
    event: 'mpi_bad\u0000name',
    properties: { time: startedMs - DAY_MS, distinct_id: USERS[1], $insert_id: 'mpi-bad-0001' },
  });
  return out;
}

beforeAll(async () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-mpi-cert-'));
  const cert = makeSelfSignedCert(base, [MIXPANEL_HOST]);
  s = await startInProcess({ SILLAGE_TLS_CERT: cert.certFile, SILLAGE_TLS_KEY: cert.keyFile });
  unroute = routeHostToLoopback(MIXPANEL_HOST, Number(new URL(s.server.url).port), cert.certPem);
  importer = require('mixpanel-import') as Importer;
});
afterAll(async () => {
  unroute();
  await s.close();
});

const options = (extra: Record<string, unknown>): Record<string, unknown> => ({
  verbose: false,
  logs: false,
  showProgress: false,
  strict: true,
  workers: 2,
  maxRetries: 2,
  ...extra,
});

describe(`mixpanel-import ${SDK_VERSION}`, () => {
  it('imports back-dated events with the project secret, gzip batches, per-record refusals', async () => {
    const creds = { secret: s.project.secret, project: s.project.project_id };
    const first = await importer(
      creds,
      events(),
      options({ recordType: 'event', recordsPerBatch: 50, compress: true }),
    );
    expect(first, JSON.stringify(first.errors)).toMatchObject({ success: 121, failed: 1 });
    expect(first.batches).toBe(3);
    // The refusal is read from failed_records, field named. (The package also tallies the batch
    // as "unknown error": its stored summary drops `error` when failed_records is present.)
    expect(first.errors).toMatchObject({ 'event name must not contain NUL characters': 1 });
    expect(first.retries).toBe(0);
    const range = { fromMs: startedMs - 21 * DAY_MS, toMs: startedMs };
    expect(await countEvent(s, 'mpi_purchase', range)).toMatchObject({ total: 120, users: 3 });
    expect(await countEvent(s, 'mpi_vip', range)).toMatchObject({ total: 1, users: 1 });

    // The same file again, through the package's other HTTP client: nothing counted twice.
    const again = await importer(
      creds,
      events(),
      options({ recordType: 'event', recordsPerBatch: 50, compress: false, transport: 'got' }),
    );
    expect(again).toMatchObject({ success: 121, failed: 1 });
    expect(await countEvent(s, 'mpi_purchase', range)).toMatchObject({ total: 120, users: 3 });
  });

  it('refuses the public token on /import: nothing lands', async () => {
    const result = await importer(
      { token: s.project.token },
      [
        {
          event: 'mpi_forged',
          properties: { time: startedMs - 400 * DAY_MS, distinct_id: 'x', $insert_id: 'f-1' },
        },
      ],
      options({ recordType: 'event' }),
    );
    expect(result.success).toBe(0);
    expect(
      await countEvent(s, 'mpi_forged', { fromMs: startedMs - 401 * DAY_MS, toMs: startedMs }),
    ).toMatchObject({ total: 0 });
  });

  it('imports user profiles (/engage) and group profiles (/groups)', async () => {
    const users = await importer(
      { secret: s.project.secret, token: s.project.token },
      [
        { $distinct_id: USERS[0], $set: { plan: 'enterprise', seats: 40 } },
        { $distinct_id: USERS[1], $set: { plan: 'starter' } },
      ],
      options({ recordType: 'user', fixData: true }),
    );
    expect(users, JSON.stringify(users.errors)).toMatchObject({ success: 2, failed: 0 });
    expect(await profileOfDoer(s, 'mpi_vip')).toMatchObject({ plan: 'enterprise', seats: 40 });

    const groups = await importer(
      { secret: s.project.secret, token: s.project.token, groupKey: 'company' },
      [{ $group_key: 'company', $group_id: 'mpi-acme', $set: { employees: 250 } }],
      options({ recordType: 'group', fixData: true }),
    );
    expect(groups, JSON.stringify(groups.errors)).toMatchObject({ success: 1, failed: 0 });
    expect(await groupProfiles(s, 'company')).toEqual([
      expect.objectContaining({ employees: 250 }),
    ]);
  });
});
