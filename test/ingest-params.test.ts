// Issue 10 over HTTP (inject against a real DuckDB file): Mixpanel parameters from the form body,
// img/callback answers, multipart bodies, the /track window, and wire values refused by name.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

let s: InProcess;
beforeAll(async () => {
  s = await startInProcess();
});
afterAll(async () => {
  await s.close();
});

const FORM = 'application/x-www-form-urlencoded';
const ev = (name: string, props: Record<string, unknown> = {}) => ({
  event: name,
  properties: { token: s.project.token, distinct_id: 'prm', ...props },
});
const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  s.server.app.inject({
    method: 'POST',
    url,
    payload: body,
    headers: { 'content-type': FORM, ...headers },
  });
async function count(name: string): Promise<number> {
  await s.server.runtime.events.flush();
  return (await s.server.runtime.events.listEvents(s.project.project_id)).filter(
    (r) => r.event === name,
  ).length;
}

describe('Mixpanel parameters in the form body', () => {
  it('verbose=1 in the body gets verbose JSON, on success and on error', async () => {
    const ok = await post(
      '/track',
      `data=${encodeURIComponent(JSON.stringify(ev('prm_a')))}&verbose=1`,
    );
    expect(ok.json()).toMatchObject({ status: 1, error: null });
    const bad = await post('/track', `data=%%%&verbose=1`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ status: 0, code: 'INGEST_PAYLOAD_SHAPE' });
  });
  it('callback= answers JSONP; an unsafe name is not echoed', async () => {
    const data = encodeURIComponent(JSON.stringify(ev('prm_b')));
    const res = await post('/track', `data=${data}&callback=mp.cb_7`);
    expect(res.headers['content-type']).toMatch(/^application\/javascript/);
    expect(res.body).toBe('mp.cb_7(1);');
    const verbose = await post('/track', `data=${data}&callback=cb&verbose=1`);
    expect(verbose.body).toMatch(/^cb\(\{"status":1,"error":null/);
    const evil = await post('/track', `data=${data}&callback=${encodeURIComponent('x;alert(1)')}`);
    expect(evil.body).toBe('1');
  });
  it('multipart/form-data (curl -F) is decoded, parameters included', async () => {
    const body =
      '--b0\r\nContent-Disposition: form-data; name="data"\r\n\r\n' +
      JSON.stringify([ev('prm_c')]) +
      '\r\n--b0\r\nContent-Disposition: form-data; name="verbose"\r\n\r\n1\r\n--b0--\r\n';
    const res = await post('/track', body, { 'content-type': 'multipart/form-data; boundary=b0' });
    expect(res.json()).toMatchObject({ status: 1 });
    expect(await count('prm_c')).toBe(1);
  });
  it('strict=1 on /track lists failed_records with a 400, keeping the valid events', async () => {
    const res = await post(
      '/track?strict=1',
      `data=${encodeURIComponent(JSON.stringify([ev('prm_d'), ev('prm_d', { n: 'INF' })]).replace('"INF"', '1e400'))}`,
    );
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      num_records_imported: 1,
      failed_records: [{ index: 1, field: 'properties.n' }],
    });
    expect(await count('prm_d')).toBe(1);
  });
});

describe('the /track window and secrets', () => {
  const sixDays = () => Date.now() - 6 * 86_400_000;
  it('refuses an event older than 5 days, naming the field', async () => {
    const res = await post(
      '/track?verbose=1',
      `data=${encodeURIComponent(JSON.stringify(ev('prm_old', { time: sixDays() })))}`,
    );
    expect(res.json()).toMatchObject({
      status: 0,
      error: expect.stringMatching(/^properties\.time: time is more than 5 days in the past/),
      num_records_rejected: 1,
    });
    expect(await count('prm_old')).toBe(0);
  });
  it('accepts it with the project secret (Basic), and then only for that project', async () => {
    const auth = 'Basic ' + Buffer.from(`${s.project.secret}:`).toString('base64');
    const res = await post(
      '/track?verbose=1',
      `data=${encodeURIComponent(JSON.stringify(ev('prm_old2', { time: sixDays() })))}`,
      { authorization: auth },
    );
    expect(res.json()).toMatchObject({ status: 1 });
    expect(await count('prm_old2')).toBe(1);
    const other = await s.server.runtime.projects.create('Other');
    const foreign = await post(
      '/track?verbose=1',
      `data=${encodeURIComponent(JSON.stringify({ event: 'prm_x', properties: { token: other.token, time: sixDays() } }))}`,
      { authorization: auth },
    );
    expect(foreign.json()).toMatchObject({
      status: 0,
      error: expect.stringMatching(/token does not belong/),
    });
  });
  it('PostHog /batch/ applies the same window; a fresh event in the same batch is kept', async () => {
    const res = await s.server.app.inject({
      method: 'POST',
      url: '/batch/',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({
        api_key: s.project.token,
        batch: [
          { event: 'prm_ph', distinct_id: 'p', timestamp: new Date(sixDays()).toISOString() },
          { event: 'prm_ph', distinct_id: 'p', timestamp: new Date().toISOString() },
        ],
      }),
    });
    expect(res.statusCode).toBe(200);
    expect(await count('prm_ph')).toBe(1);
  });
});

describe('wire values refused with the field named', () => {
  it.each([
    [
      '1e309',
      '{"event":"prm_v","properties":{"token":"T","distinct_id":"u","price":1e309}}',
      'properties.price',
    ],
    [
      'NUL in the event name',
      '{"event":"prm\\u0000v","properties":{"token":"T","distinct_id":"u"}}',
      'event',
    ],
    [
      'NUL in a key',
      '{"event":"prm_v","properties":{"token":"T","a\\u0000b":1}}',
      'properties[key #2]',
    ],
    [
      'a lone surrogate',
      '{"event":"prm_v","properties":{"token":"T","name":"\\ud800"}}',
      'properties.name',
    ],
  ])('%s', async (_label, json, field) => {
    const body = `data=${encodeURIComponent(json.replace('"T"', JSON.stringify(s.project.token)))}&verbose=1`;
    const res = await post('/track', body);
    expect(res.json()).toMatchObject({ status: 0, error: expect.stringContaining(`${field}: `) });
    const ph = await s.server.app.inject({
      method: 'POST',
      url: '/i/v0/e/',
      headers: { 'content-type': 'application/json' },
      payload: json
        .replace('"T"', JSON.stringify(s.project.token))
        .replace('"properties"', '"distinct_id":"u","properties"'),
    });
    expect(ph.statusCode).toBe(400);
    expect(ph.json().detail).toContain(`${field}: `);
    expect(await count('prm_v')).toBe(0);
  });
});
