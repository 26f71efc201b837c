// SDK compatibility: the real posthog-js-lite package (npm, with its @posthog/core) against a real
// Sillage server over a loopback socket: init (its /flags/?v=2 call), capture, identify (anonymous
// id merged into the user), alias, group, and batches flushed as gzip to /batch/. The package
// targets browsers; here it runs in Node 20 (global fetch and CompressionStream) with a minimal
// `window` describing a page, and memory persistence. Counts and unique users are read back
// through the query API.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcess } from '../helpers/inprocess.js';
import { countEvent, groupProfiles, profileOfDoer } from '../helpers/sdk-wire.js';
import { ROOT } from '../helpers/server.js';

const SDK_VERSION = (
  JSON.parse(
    fs.readFileSync(path.join(ROOT, 'node_modules/posthog-js-lite/package.json'), 'utf8'),
  ) as { version: string }
).version;

let s: InProcess;
const errors: unknown[] = [];
const requests: string[] = [];
/** Content-Encoding of each /batch/ request (gzip when the runtime has CompressionStream). */
const batchEncodings: string[] = [];
let restoreFetch = (): void => undefined;
beforeAll(async () => {
  s = await startInProcess();
  // Record what the SDK asks and what it is answered (its fetch is the global one).
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const res = await realFetch(input, init);
    const url = new URL(input instanceof Request ? input.url : String(input));
    requests.push(`${init?.method ?? 'GET'} ${url.pathname} ${res.status}`);
    if (url.pathname === '/batch/')
      batchEncodings.push(new Headers(init?.headers).get('content-encoding') ?? 'identity');
    return res;
  };
  restoreFetch = () => {
    globalThis.fetch = realFetch;
  };
  // The page the SDK thinks it is on.
  (globalThis as Record<string, unknown>).window = {
    navigator: {
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36',
      vendor: '',
    },
    location: { href: 'https://shop.example/cart', host: 'shop.example', pathname: '/cart' },
    document: { referrer: '' },
    screen: { height: 900, width: 1440 },
    devicePixelRatio: 1,
  };
});
afterAll(async () => {
  restoreFetch();
  delete (globalThis as Record<string, unknown>).window;
  await s.close();
});

describe(`posthog-js-lite ${SDK_VERSION}`, () => {
  it('captures, identifies, aliases and groups; every batch is accepted', async () => {
    const { PostHog } = await import('posthog-js-lite');
    const posthog = new PostHog(s.project.token, {
      host: s.server.url,
      persistence: 'memory',
      flushAt: 3,
      flushInterval: 0,
    });
    posthog.on('error', (error: unknown) => errors.push(error));
    const anonymous = posthog.getDistinctId();
    posthog.capture('lite_view', { step: 1 });
    posthog.capture('lite_view', { step: 2 });
    posthog.identify('lite-user-1', { $set: { plan: 'starter' } });
    posthog.capture('lite_view', { step: 3 });
    posthog.group('company', 'lite-co', { employees: 12 });
    posthog.alias('lite-user-1-crm');
    posthog.capture('lite_done');
    await posthog.flush();
    await posthog.shutdown();
    expect(errors).toEqual([]);
    expect(anonymous).not.toBe('lite-user-1');
    expect(requests, requests.join(', ')).toContain('POST /batch/ 200');
    expect(requests).toContain('POST /flags/ 200');
    // Each batch gzipped by the SDK (Node 20 has CompressionStream) and decoded by the server.
    expect(batchEncodings.length).toBeGreaterThan(0);
    expect(new Set(batchEncodings)).toEqual(new Set(['gzip']));
    expect(requests.filter((r) => / (?!200)\d+$/.test(r))).toEqual([]);
    // The anonymous views and the identified one belong to one person.
    expect(await countEvent(s, 'lite_view')).toMatchObject({ total: 3, users: 1 });
    expect(await profileOfDoer(s, 'lite_done')).toMatchObject({ plan: 'starter' });
    expect(await groupProfiles(s, 'company')).toEqual([expect.objectContaining({ employees: 12 })]);
  });
});
