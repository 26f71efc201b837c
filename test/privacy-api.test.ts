// The privacy API: the report counts what the pipeline caught; policy changes take effect, are
// recorded with who made them, and are refused when invalid; the public token reads nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

let s: InProcess;
beforeAll(async () => {
  s = await startInProcess();
});
afterAll(async () => {
  await s.close();
});

const api = (
  method: 'GET' | 'PUT' | 'POST',
  path: string,
  body?: unknown,
  key = s.project.secret,
) =>
  s.server.app.inject({
    method,
    url: `/api/v1/projects/${s.project.project_id}/privacy${path}`,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });

const track = (properties: Record<string, unknown>) =>
  s.server.app.inject({
    method: 'POST',
    url: '/track',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload:
      'data=' +
      encodeURIComponent(
        JSON.stringify([
          { event: 'E', properties: { token: s.project.token, distinct_id: 'd', ...properties } },
        ]),
      ),
  });

describe('privacy API', () => {
  it('reports what was caught, by property and kind', async () => {
    await track({
      note: 'mail a@example.com and b@example.com',
      $email: 'c@example.com',
      gclid: 'abc',
      $insert_id: 'r1',
    });
    const res = await api('GET', '/report');
    expect(res.statusCode).toBe(200);
    const report = res.json();
    const count = (property: string, kind: string) =>
      report.totals.find(
        (t: { property: string; kind: string }) => t.property === property && t.kind === kind,
      )?.count ?? 0;
    expect(count('note', 'email')).toBe(2);
    expect(
      report.totals.some(
        (t: { property: string; kind: string }) =>
          t.property === '$email' && t.kind.startsWith('dropped:'),
      ),
    ).toBe(true);
    expect(
      report.totals.some(
        (t: { property: string; kind: string }) =>
          t.property === 'gclid' && t.kind.startsWith('dropped:'),
      ),
    ).toBe(true);
    expect(report.by_day.length).toBeGreaterThan(0);
    expect(report.loosenings).toEqual([]);
  });

  it('refuses the public token, a wrong key and another project', async () => {
    expect((await api('GET', '/report', undefined, s.project.token)).statusCode).toBe(401);
    expect((await api('GET', '/report', undefined, 'sil_sk_nope')).statusCode).toBe(401);
    const other = await s.server.runtime.projects.create('Other');
    const cross = await s.server.app.inject({
      method: 'GET',
      url: `/api/v1/projects/${other.project_id}/privacy/report`,
      headers: { authorization: `Bearer ${s.project.secret}` },
    });
    // Another project is "not found", not "forbidden": its existence is not disclosed.
    expect(cross.statusCode).toBe(404);
    expect(cross.json()).toMatchObject({ error: { code: 'PROJECT_NOT_FOUND' } });
  });

  it('applies, records and explains a policy change', async () => {
    const before = await api('GET', '/policy');
    expect(before.json().policy).toMatchObject({
      geo: 'region',
      vault: false,
      keepClickIds: false,
    });
    const res = await api('PUT', '/policy', {
      geo: 'city',
      keepClickIds: true,
      properties: { search_term: 'drop' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().loosenings).toEqual(
      expect.arrayContaining(['geolocation stored down to city', 'ad click ids kept']),
    );
    // Takes effect for the next events: a dropped property is gone, click ids are kept.
    await track({ search_term: 'shoes', gclid: 'kept-click', $insert_id: 'r2' });
    const rows = await s.server.runtime.events.listEvents(s.project.project_id);
    const last = rows.find((r) => r.insertId === 'r2')!;
    expect(last.properties).not.toHaveProperty('search_term');
    expect(last.properties.gclid).toBe('kept-click');
    const history = (await api('GET', '/policy/history')).json().changes;
    expect(history).toHaveLength(1);
    expect(history[0].actor).toMatch(/^key:key_[0-9a-f]{16}$/);
    expect(history[0].before.geo).toBe('region');
    expect(history[0].after.geo).toBe('city');
  });

  it('refuses an invalid policy with the field at fault, and changes nothing', async () => {
    const res = await api('PUT', '/policy', { geo: 'street' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/geo/);
    const locked = await api('PUT', '/policy', { properties: { $ip: 'keep' } });
    expect(locked.statusCode).toBe(400);
    expect((await api('GET', '/policy')).json().policy.geo).toBe('city');
  });

  it('matches ids to pseudonyms for the key holder', async () => {
    const res = await api('POST', '/pseudonyms', { ids: ['d'] });
    const pseudonym = res.json().matches[0].pseudonyms[0].pseudonym as string;
    const rows = await s.server.runtime.events.listEvents(s.project.project_id);
    expect(rows.every((r) => r.distinctId === pseudonym)).toBe(true);
  });
});
