// Ingest routes over HTTP (Fastify inject against a real DuckDB file): every encoding the SDKs
// use, the response format each SDK expects, and a precise 4xx for each kind of bad input.
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { compressToBase64 } from 'lz-string';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

let s: InProcess;
beforeAll(async () => {
  s = await startInProcess();
});
afterAll(async () => {
  await s.close();
});

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64');
const form = (v: unknown): string => 'data=' + encodeURIComponent(b64(v));
let n = 0;
const ev = (
  props: Record<string, unknown> = {},
): { event: string; properties: Record<string, unknown> } => ({
  event: 'Probe',
  properties: { token: s.project.token, distinct_id: 'u1', $insert_id: `i${n++}`, ...props },
});

async function inject(opts: {
  method?: 'GET' | 'POST' | 'OPTIONS';
  url: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
}) {
  return s.server.app.inject({
    method: opts.method ?? 'POST',
    url: opts.url,
    payload: opts.body,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...opts.headers },
  });
}

async function countProbe(probe: string): Promise<number> {
  const rows = await s.server.runtime.events.listEvents(s.project.project_id);
  return rows.filter((r) => r.properties.probe === probe).length;
}

describe('Mixpanel /track encodings', () => {
  const cases: [string, (p: string) => Parameters<typeof inject>[0]][] = [
    [
      'url-encoded base64 form (mixpanel-browser)',
      (p) => ({ url: '/track/', body: form([ev({ probe: p })]) }),
    ],
    [
      'un-encoded base64 with + (mixpanel Node SDK)',
      (p) => ({ url: '/track', body: 'data=' + b64([ev({ probe: p, pad: '>>>?' })]) }),
    ],
    [
      'JSON payload form',
      (p) => ({
        url: '/track',
        body: 'data=' + encodeURIComponent(JSON.stringify(ev({ probe: p }))),
      }),
    ],
    [
      'sendBeacon text/plain',
      (p) => ({
        url: '/track',
        body: form(ev({ probe: p })),
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
      }),
    ],
    [
      'GET ?data=',
      (p) => ({ method: 'GET', url: `/track?data=${encodeURIComponent(b64(ev({ probe: p })))}` }),
    ],
    [
      'raw JSON body',
      (p) => ({
        url: '/track',
        body: JSON.stringify([ev({ probe: p })]),
        headers: { 'content-type': 'application/json' },
      }),
    ],
    [
      'NDJSON body',
      (p) => ({
        url: '/track',
        body: JSON.stringify(ev({ probe: p })) + '\n' + JSON.stringify(ev({ probe: p })) + '\n',
        headers: { 'content-type': 'application/x-ndjson' },
      }),
    ],
    [
      'gzip by header',
      (p) => ({
        url: '/track',
        body: gzipSync(JSON.stringify([ev({ probe: p })])),
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      }),
    ],
    [
      'gzip sniffed by magic bytes',
      (p) => ({
        url: '/track',
        body: gzipSync(form([ev({ probe: p })])),
        headers: { 'content-type': 'text/plain' },
      }),
    ],
  ];
  for (const [name, make] of cases) {
    it(`accepts ${name}`, async () => {
      const probe = `track-${name}`;
      const res = await inject(make(probe));
      expect(res.statusCode).toBe(200);
      expect(res.body).toBe('1');
      expect(await countProbe(probe)).toBeGreaterThanOrEqual(1);
    });
  }

  it('answers verbose JSON and CORS for the browser', async () => {
    const res = await inject({
      url: '/track/?verbose=1&ip=1&_=123',
      body: form([ev()]),
      headers: { origin: 'https://app.example.com' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 1, error: null });
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(res.headers['access-control-allow-credentials']).toBe('true');
  });

  it('answers preflights', async () => {
    const res = await inject({
      method: 'OPTIONS',
      url: '/flags/',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-headers': 'authorization,traceparent',
      },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-headers']).toBe('authorization,traceparent');
    expect(res.headers['access-control-allow-methods']).toContain('POST');
  });

  it('drops $ignore events silently', async () => {
    const res = await inject({
      url: '/track',
      body: form([ev({ probe: 'ignored', $ignore: true })]),
    });
    expect(res.body).toBe('1');
    expect(await countProbe('ignored')).toBe(0);
  });

  it('deduplicates resends on (event, distinct_id, time, $insert_id)', async () => {
    // A time inside /track's 5-day window, with a millisecond fraction (mixpanel-browser's float).
    const e = ev({ probe: 'dedup', time: Math.floor(Date.now() / 1000) - 3600 + 0.123 });
    for (let i = 0; i < 3; i++)
      expect((await inject({ url: '/track', body: form([e, e]) })).body).toBe('1');
    expect(await countProbe('dedup')).toBe(1);
  });

  it('derives an insert id when none is sent, so identical resends still dedup', async () => {
    const e = {
      event: 'Probe',
      properties: {
        token: s.project.token,
        distinct_id: 'u9',
        time: Math.floor(Date.now() / 1000) - 3601,
        probe: 'noinsert',
      },
    };
    await inject({ url: '/track', body: form([e]) });
    await inject({ url: '/track', body: form([e]) });
    expect(await countProbe('noinsert')).toBe(1);
  });

  it('acknowledges session replay without storing anything', async () => {
    const before = await s.server.runtime.events.countEvents(s.project.project_id);
    const rec = await inject({
      url: `/record/?format=body&distinct_id=u1&replay_id=r1&seq=0`,
      body: JSON.stringify([{ type: 2, data: { text: 'page text' } }]),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(rec.statusCode).toBe(200);
    expect(rec.json()).toEqual({ code: 200, status: 'OK' });
    const ph = await inject({
      url: '/s/',
      body: JSON.stringify([{ event: '$snapshot', properties: { token: s.project.token } }]),
      headers: { 'content-type': 'application/json' },
    });
    expect(ph.statusCode).toBe(200);
    expect(await s.server.runtime.events.countEvents(s.project.project_id)).toBe(before);
  });

  it('answers /flags with an empty flag set', async () => {
    const res = await inject({ method: 'GET', url: '/flags/?context=%7B%7D&token=x' });
    expect(res.json()).toMatchObject({ flags: {} });
  });
});

describe('PostHog routes', () => {
  const phEvent = (probe: string) => ({
    event: 'ph probe',
    distinct_id: 'ph-user',
    properties: { probe, $lib: 'web' },
    timestamp: new Date().toISOString(),
  });
  it.each(['/e/', '/i/v0/e/', '/batch/', '/capture/'])(
    'accepts %s with a batch object, gzip sniffed',
    async (url) => {
      const probe = `ph-${url}`;
      const body = gzipSync(
        JSON.stringify({
          api_key: s.project.token,
          batch: [phEvent(probe)],
          sent_at: new Date().toISOString(),
        }),
      );
      const res = await inject({ url, body, headers: { 'content-type': 'text/plain' } });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ status: 1 });
      expect(await countProbe(probe)).toBe(1);
    },
  );
  it('accepts a bare array with token in the event, base64 and lz64', async () => {
    const arr = [{ ...phEvent('ph-b64'), api_key: s.project.token }];
    expect(
      (
        await inject({
          url: '/e/?compression=base64',
          body: 'data=' + encodeURIComponent(b64(arr)),
        })
      ).statusCode,
    ).toBe(200);
    const lz = [{ ...phEvent('ph-lz'), api_key: s.project.token }];
    expect(
      (
        await inject({
          url: '/e/?compression=lz64',
          body: 'data=' + encodeURIComponent(compressToBase64(JSON.stringify(lz))),
        })
      ).statusCode,
    ).toBe(200);
    expect(await countProbe('ph-b64')).toBe(1);
    expect(await countProbe('ph-lz')).toBe(1);
  });
});

describe('/import', () => {
  const basic = (user: string, pass = ''): string =>
    'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
  const rec = (probe: string, extra: Record<string, unknown> = {}) => ({
    event: 'Imported',
    properties: {
      distinct_id: 'imp',
      time: Date.now() - 86_400_000,
      $insert_id: `imp-${probe}`,
      probe,
      ...extra,
    },
  });
  it('accepts the secret and answers Mixpanel JSON', async () => {
    const res = await inject({
      url: '/import?strict=1',
      body: JSON.stringify([rec('imp1')]),
      headers: { authorization: basic(s.project.secret), 'content-type': 'application/json' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ code: 200, num_records_imported: 1, status: 'OK' });
  });
  it('refuses the public token and a request without credentials (issue 10)', async () => {
    const offers: Record<string, string>[] = [{ authorization: basic(s.project.token) }, {}];
    for (const headers of offers) {
      const res = await inject({ url: '/import', body: form([rec('imp2')]), headers });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ code: 401, status: 'Unauthorized' });
      expect(res.json().error).toMatch(/^Invalid credentials/);
    }
    expect(await countProbe('imp2')).toBe(0);
  });
  it('answers a data= form with 1, and Mixpanel JSON under strict=1', async () => {
    const res = await inject({
      url: '/import',
      body: form([rec('imp2a')]),
      headers: { authorization: basic(s.project.secret) },
    });
    // A `data=` form (the Node SDK's encoding) gets the SDK's own success body…
    expect(res.body).toBe('1');
    // …and Mixpanel's /import JSON under strict=1.
    const strict = await inject({
      url: '/import?strict=1',
      body: form([rec('imp2b')]),
      headers: { authorization: basic(s.project.secret) },
    });
    expect(strict.json()).toMatchObject({ code: 200, num_records_imported: 1 });
  });
  it('rejects a wrong secret with 401 in Mixpanel format', async () => {
    const res = await inject({
      url: '/import',
      body: JSON.stringify([rec('imp3')]),
      headers: { authorization: basic('sil_sk_wrong'), 'content-type': 'application/json' },
    });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({
      code: 401,
      error: 'Invalid credentials',
      status: 'Unauthorized',
    });
  });
  it('reports failed_records under strict=1 and keeps the valid ones', async () => {
    const res = await inject({
      url: '/import?strict=1',
      body: JSON.stringify([
        rec('imp4'),
        { event: 'Imported', properties: { distinct_id: 'x', $insert_id: 'no-time' } },
      ]),
      headers: { authorization: basic(s.project.secret), 'content-type': 'application/json' },
    });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.num_records_imported).toBe(1);
    expect(body.failed_records).toHaveLength(1);
    expect(body.failed_records[0]).toMatchObject({ index: 1, $insert_id: 'no-time' });
    expect(await countProbe('imp4')).toBe(1);
  });
});

describe('bad input gets a precise 4xx and changes nothing else', () => {
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  const cases: [string, Parameters<typeof inject>[0], number, string][] = [
    ['malformed base64', { url: '/track?verbose=1', body: 'data=%%%%***' }, 400, 'INGEST'],
    [
      'malformed JSON',
      { url: '/track?verbose=1', body: 'data=' + encodeURIComponent('[{"event":') },
      400,
      'INGEST_JSON_INVALID',
    ],
    [
      'malformed gzip',
      {
        url: '/track?verbose=1',
        body: Buffer.from([0x1f, 0x8b, 0x08, 0, 1, 2, 3]),
        headers: { 'content-encoding': 'gzip' },
      },
      400,
      'INGEST_GZIP_INVALID',
    ],
    [
      'gzip bomb',
      { url: '/track?verbose=1', body: bomb, headers: { 'content-encoding': 'gzip' } },
      413,
      'INGEST_DECOMPRESSED_TOO_LARGE',
    ],
    [
      'deep nesting',
      { url: '/track?verbose=1', body: deep, headers: { 'content-type': 'application/json' } },
      400,
      'INGEST_NESTING_TOO_DEEP',
    ],
    [
      '__proto__ key',
      {
        url: '/track?verbose=1',
        body: '[{"event":"x","properties":{"__proto__":{"polluted":1}}}]',
        headers: { 'content-type': 'application/json' },
      },
      400,
      'INGEST_FORBIDDEN_KEY',
    ],
    [
      'invalid UTF-8',
      {
        url: '/track?verbose=1',
        body: Buffer.concat([
          Buffer.from('[{"event":"'),
          Buffer.from([0xff, 0xfe]),
          Buffer.from('"}]'),
        ]),
        headers: { 'content-type': 'application/json' },
      },
      400,
      'INGEST_UTF8_INVALID',
    ],
    [
      'unknown token',
      { url: '/track?verbose=1', body: form([{ event: 'x', properties: { token: 'nope' } }]) },
      401,
      'INGEST_TOKEN_UNKNOWN',
    ],
    [
      'missing token',
      { url: '/track?verbose=1', body: form([{ event: 'x', properties: {} }]) },
      401,
      'INGEST_TOKEN_MISSING',
    ],
    ['empty body', { url: '/track?verbose=1', body: '' }, 400, 'INGEST_BODY_EMPTY'],
  ];
  for (const [name, req, status, code] of cases) {
    it(`${name} → ${status}`, async () => {
      const before = await s.server.runtime.events.countEvents(s.project.project_id);
      const res = await inject(req);
      expect(res.statusCode).toBe(status);
      const body = res.json();
      expect(body.status).toBe(0);
      expect(body.code).toMatch(new RegExp('^' + code));
      expect(typeof body.error).toBe('string');
      expect((await inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      expect(await s.server.runtime.events.countEvents(s.project.project_id)).toBe(before);
    });
  }

  it('answers plain 0 without verbose, and PostHog JSON errors on PostHog routes', async () => {
    const mp = await inject({ url: '/track', body: 'data=%%%' });
    expect(mp.statusCode).toBe(400);
    expect(mp.body).toBe('0');
    const ph = await inject({
      url: '/e/',
      body: '{"batch":',
      headers: { 'content-type': 'application/json' },
    });
    expect(ph.statusCode).toBe(400);
    expect(ph.json()).toMatchObject({ type: 'validation_error', code: 'INGEST_JSON_INVALID' });
  });

  it('refuses a body over the wire limit with 413', async () => {
    const res = await inject({
      url: '/track?verbose=1',
      body: Buffer.alloc(11 * 1024 * 1024, 0x61),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ status: 0, code: 'INGEST_BODY_TOO_LARGE' });
  });

  it('never answers 5xx to random or mutated bodies on any ingest route (fast-check)', async () => {
    const routes = [
      '/track',
      '/engage',
      '/groups',
      '/import',
      '/e/',
      '/i/v0/e/',
      '/batch/',
      '/capture/',
    ];
    const valid = form([ev({ probe: 'fuzz' })]);
    const mutate = (text: string, at: number, byte: number): Buffer => {
      const buf = Buffer.from(text);
      if (buf.length > 0) buf[at % buf.length] = byte;
      return buf;
    };
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)),
      fc.string({ maxLength: 256 }).map((t) => 'data=' + t),
      fc.json().map((j) => Buffer.from(j)),
      fc
        .tuple(fc.nat(), fc.integer({ min: 0, max: 255 }))
        .map(([at, byte]) => mutate(valid, at, byte)),
      fc.nat({ max: valid.length }).map((cut) => Buffer.from(valid.slice(0, cut))),
      fc.json().map((j) => gzipSync(j)),
    );
    const contentType = fc.constantFrom(
      'application/x-www-form-urlencoded',
      'text/plain',
      'application/json',
      'application/octet-stream',
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        body,
        contentType,
        fc.boolean(),
        async (url, payload, ct, gz) => {
          const res = await inject({
            url,
            body: payload,
            headers: { 'content-type': ct, ...(gz ? { 'content-encoding': 'gzip' } : {}) },
          });
          expect(res.statusCode).toBeLessThan(500);
        },
      ),
      { numRuns: 400 },
    );
    expect((await inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

describe('profiles', () => {
  it('applies /engage operations in order', async () => {
    const p = (op: string, value: unknown) => ({
      $token: s.project.token,
      $distinct_id: 'profile-1',
      [op]: value,
    });
    const updates = [
      p('$set', { plan: 'free', tags: ['a'] }),
      p('$set_once', { first_seen: '2024-01-01', plan: 'ignored' }),
      p('$add', { logins: 2 }),
      p('$add', { logins: 3 }),
      p('$append', { tags: 'b' }),
      p('$union', { tags: ['b', 'c'] }),
      p('$remove', { tags: 'a' }),
      p('$unset', ['first_seen']),
      p('$set', { $email: 'someone@example.com', $name: 'Some One' }),
    ];
    expect((await inject({ url: '/engage#people.set', body: form(updates) })).body).toBe('1');
    const [match] = (await import('../src/privacy/index.js')).pseudonymsFor(
      (await s.server.runtime.projects.byId(s.project.project_id))!.keyring,
      ['profile-1'],
    );
    const profile = await s.server.runtime.events.getProfile({
      projectId: s.project.project_id,
      groupKey: '',
      profileId: match!.pseudonyms[0]!.pseudonym,
    });
    expect(profile?.properties).toEqual({ plan: 'free', tags: ['b', 'c'], logins: 5 });
  });
});
