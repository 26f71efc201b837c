// The privacy API: the report counts what the pipeline caught; policy changes (the host CLI's or
// an owner's, never a key's) take effect, are recorded with who made them, and are refused when
// invalid; the public token reads nothing; the secret `project create` prints cannot loosen the
// policy or look up pseudonyms, nor can a key with every scope (issue 11).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/index.js';
import { adminCreate, adminHandlers } from '../src/cli/admin-commands.js';
import { setPolicy } from '../src/projects/privacy-operations.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

let s: InProcess;
let adminKey: string;
let everyScopeKey: string;
beforeAll(async () => {
  s = await startInProcess();
  const auth = s.server.runtime.auth;
  const key = (scopes: Array<'query' | 'export' | 'import' | 'admin'>) =>
    createApiKey(
      auth,
      s.project.project_id,
      { name: scopes.join('+'), scopes, expiresAtMs: null, allowedCidrs: [] },
      null,
    );
  adminKey = (await key(['admin'])).secret;
  everyScopeKey = (await key(['query', 'export', 'import', 'admin'])).secret;
});
afterAll(async () => {
  await s.close();
});

const api = (method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown, key = adminKey) =>
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
    expect((await api('GET', '/report', undefined, s.project.secret)).statusCode).toBe(403);
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

  it('counts the SDK-truncation normalisation (a lone emoji half removed at unit 255)', async () => {
    // mixpanel-browser cuts every string at 255 UTF-16 units: an emoji across that boundary
    // leaves its high surrogate alone. The wire layer removes it (the one normalisation) and the
    // report says so, per property: `dropped:truncated-surrogate` (issue 10).
    const cut = 'x'.repeat(254) + '\ud83d';
    expect((await track({ caption: cut, $insert_id: 't1' })).statusCode).toBe(200);
    expect((await track({ caption: cut, $insert_id: 't2' })).statusCode).toBe(200);
    const engage = await s.server.app.inject({
      method: 'POST',
      url: '/engage',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify([
        { $token: s.project.token, $distinct_id: 'd', $set: { bio: { text: cut } } },
      ]),
    });
    expect(engage.statusCode).toBe(200);
    const report = (await api('GET', '/report')).json();
    const count = (property: string) =>
      report.totals.find(
        (t: { property: string; kind: string }) =>
          t.property === property && t.kind === 'dropped:truncated-surrogate',
      )?.count ?? 0;
    expect(count('caption')).toBe(2);
    expect(count('bio')).toBe(1);
  });

  it('refuses the public token, a wrong key and another project', async () => {
    expect((await api('GET', '/report', undefined, s.project.token)).statusCode).toBe(401);
    expect((await api('GET', '/report', undefined, 'sil_sk_nope')).statusCode).toBe(401);
    const other = await s.server.runtime.projects.create('Other');
    const cross = await s.server.app.inject({
      method: 'GET',
      url: `/api/v1/projects/${other.project_id}/privacy/report`,
      headers: { authorization: `Bearer ${adminKey}` },
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
    const loosening = {
      geo: 'city',
      keepClickIds: true,
      properties: { search_term: 'drop' },
    };
    // No key loosens the policy: not the printed secret, not a key with every scope.
    for (const key of [s.project.secret, adminKey, everyScopeKey]) {
      expect((await api('PUT', '/policy', loosening, key)).statusCode).toBe(403);
    }
    expect((await api('GET', '/policy')).json().policy.geo).toBe('region');
    // The host's CLI does (an owner with a step-up does too: see the authorization matrix).
    const res = await setPolicy(s.server.runtime, s.project.project_id, loosening, 'cli:operator');
    expect(res.loosenings).toEqual(
      expect.arrayContaining(['geolocation stored down to city', 'ad click ids kept']),
    );
    expect(res.new_loosenings).toEqual(res.loosenings);
    // Takes effect for the next events: a dropped property is gone, click ids are kept.
    await track({ search_term: 'shoes', gclid: 'kept-click', marker: 'r2' });
    const rows = await s.server.runtime.events.listEvents(s.project.project_id);
    const last = rows.find((r) => r.properties.marker === 'r2')!;
    expect(last.properties).not.toHaveProperty('search_term');
    expect(last.properties.gclid).toBe('kept-click');
    const history = (await api('GET', '/policy/history')).json().changes;
    expect(history).toHaveLength(1);
    expect(history[0].actor).toBe('cli:operator');
    expect(history[0].before.geo).toBe('region');
    expect(history[0].after.geo).toBe('city');
  });

  it('refuses an invalid policy with the field at fault, and changes nothing', async () => {
    await expect(
      setPolicy(s.server.runtime, s.project.project_id, { geo: 'street' }, 'cli:operator'),
    ).rejects.toThrow(/geo/);
    for (const name of ['$ip', 'password', 'Authorization']) {
      await expect(
        setPolicy(
          s.server.runtime,
          s.project.project_id,
          { properties: { [name]: 'keep' } },
          'cli:operator',
        ),
      ).rejects.toThrow(/cannot be set by a policy/);
    }
    expect((await api('GET', '/policy')).json().policy.geo).toBe('city');
  });

  it('never computes pseudonyms for a key (no dictionary attack with a leaked secret)', async () => {
    for (const key of [s.project.secret, adminKey, everyScopeKey]) {
      expect((await api('POST', '/pseudonyms', { ids: ['d'] }, key)).statusCode).toBe(403);
    }
  });

  it('tells every owner about each loosening, once', async () => {
    const runtime = s.server.runtime;
    const { org_id: orgId } = await adminCreate(runtime, {
      email: 'first@example.com',
      org: 'Acme',
    });
    const store = runtime.auth.store;
    expect(await store.projectOrg(s.project.project_id)).toBe(orgId);
    // Two owners and an admin (as accepted invitations would leave them).
    const person = async (email: string, role: 'owner' | 'admin') => {
      const user = {
        id: `usr_${email.slice(0, 2)}`,
        email,
        passwordHash: null,
        status: 'active' as const,
        createdAtMs: Date.now(),
        failedAttempts: 0,
        lockedUntilMs: 0,
      };
      await store.createUser(user);
      await store.putMembership({
        orgId,
        userId: user.id,
        role,
        createdAtMs: Date.now(),
        accessFromMs: null,
        suspended: null,
      });
      return user;
    };
    const owners = [
      await person('o1@example.com', 'owner'),
      await person('o2@example.com', 'owner'),
    ];
    const admin = await person('ad@example.com', 'admin');
    const set = adminHandlers(runtime)['policy-set']!;
    const notices = async (userId: string) =>
      (await store.listNotices(userId, 50)).filter((n) => n.kind === 'privacy_loosened');
    const policy = { geo: 'city', keepGroupNames: true };
    await set({ projectId: s.project.project_id, policy, actor: 'cli:operator' });
    for (const owner of owners) {
      const got = await notices(owner.id);
      expect(got).toHaveLength(1);
      expect(got[0]!.details).toMatchObject({ actor: 'cli:operator' });
      expect(got[0]!.details.loosened as string).toContain('company and group names kept');
    }
    expect(await notices(admin.id)).toHaveLength(0);
    // The same policy again loosens nothing new: no second notice.
    await set({ projectId: s.project.project_id, policy, actor: 'cli:operator' });
    for (const owner of owners) expect(await notices(owner.id)).toHaveLength(1);
  });
});
