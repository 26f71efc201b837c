// The authorisation matrix: every API route × every role (and every key scope, and nobody) × own
// project / other project of the same organisation / project or organisation of another
// organisation → the expected allow or deny. The expectations are written out below from the
// product's rules, not read from auth/permissions.ts, so that a change to either side shows up
// here. A route added without its row, or a row left behind by a removed route, fails the test;
// so does any /api route served by Fastify that did not come through the route registry.
//
// Principals are minted straight through the account store before every request (some routes
// end sessions or revoke keys), with a fresh passkey step-up so that step-up never decides a
// cell of the matrix; step-up and CSRF have their own describes below.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import type { ApiRoute } from '../src/http/api/registry.js';
import { createApiKey, hashToken, newId, newToken } from '../src/auth/index.js';
import type { KeyScope, Role } from '../src/store/account-types.js';
import {
  buildWorld,
  call,
  declaredRoutes,
  errorCode,
  FRESH_PASSKEY,
  mintKey,
  mintMember,
  mintSession,
  routesOfApp,
  type Caller,
  type StepUpState,
  type World,
} from './helpers/fixtures.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

// ---------------------------------------------------------------------------------------------
// The expected matrix.

/**
 * `public`: reachable without signing in (`keys: 'deny'` where a secret key is refused anyway).
 * `self`: a signed-in person's own things (no organisation or project in the path): every
 * signed-in person, never a key, never nobody.
 * `org`: acts on `:orgId`; the roles allowed on their own organisation.
 * `project`: acts on `:projectId`; the roles allowed on a project of their own organisation, and
 * the key scopes allowed on the key's own project.
 */
type Row =
  | { kind: 'public'; keys: 'allow' | 'deny' }
  | { kind: 'self' }
  | { kind: 'org'; roles: readonly Role[] }
  | { kind: 'project'; roles: readonly Role[]; scopes: readonly KeyScope[] };

const EVERYONE: readonly Role[] = ['owner', 'admin', 'analyst', 'viewer'];
const ANALYSTS_UP: readonly Role[] = ['owner', 'admin', 'analyst'];
const ADMINS_UP: readonly Role[] = ['owner', 'admin'];
const OWNERS_ONLY: readonly Role[] = ['owner'];

const PUBLIC: Row = { kind: 'public', keys: 'allow' };
const SELF: Row = { kind: 'self' };
const org = (roles: readonly Role[]): Row => ({ kind: 'org', roles });
const project = (roles: readonly Role[], scopes: readonly KeyScope[] = []): Row => ({
  kind: 'project',
  roles,
  scopes,
});

const EXPECTED: Readonly<Record<string, Row>> = {
  // Sign-in, setup and invitations: public.
  'auth.login': PUBLIC,
  'auth.login.verify': PUBLIC,
  'auth.setup.passkey-options': PUBLIC,
  'auth.setup.totp': PUBLIC,
  'auth.setup.complete': PUBLIC,
  // Accepting an invitation is for people (signed in or not); a secret key sent to it is refused.
  'auth.invitation.accept': { kind: 'public', keys: 'deny' },
  openapi: PUBLIC,

  // The signed-in person's own session, factors, sessions and notices.
  'auth.logout': SELF,
  'auth.session': SELF,
  'auth.step-up.options': SELF,
  'auth.step-up': SELF,
  'me.get': SELF,
  'me.passkeys.options': SELF,
  'me.passkeys.add': SELF,
  'me.totp.start': SELF,
  'me.totp.confirm': SELF,
  'me.factors.remove': SELF,
  'me.recovery-codes': SELF,
  'me.password': SELF,
  'me.sessions': SELF,
  'me.sessions.revoke': SELF,
  'me.sessions.revoke-all': SELF,
  'me.notices': SELF,
  'me.notices.read': SELF,
  'orgs.list': SELF,

  // Organisations.
  'orgs.get': org(EVERYONE),
  'orgs.policy.set': org(OWNERS_ONLY),
  'orgs.members.list': org(EVERYONE),
  'orgs.members.update': org(ADMINS_UP),
  'orgs.members.remove': org(ADMINS_UP),
  'orgs.invitations.list': org(ADMINS_UP),
  'orgs.invitations.create': org(ADMINS_UP),
  'orgs.invitations.delete': org(ADMINS_UP),
  'orgs.sessions.revoke': org(ADMINS_UP),
  'orgs.members.sessions.revoke': org(ADMINS_UP),
  'orgs.members.unlock': org(ADMINS_UP),
  'orgs.members.reset': org(ADMINS_UP),
  'orgs.lockdown': org(OWNERS_ONLY),
  'orgs.projects.list': org(EVERYONE),
  'orgs.projects.create': org(ADMINS_UP),

  // Projects.
  'projects.get': project(EVERYONE, ['query', 'export', 'admin']),
  'keys.list': project(ADMINS_UP),
  'keys.create': project(ADMINS_UP),
  'keys.rotate': project(ADMINS_UP),
  'keys.revoke': project(ADMINS_UP),
  'query.run': project(ANALYSTS_UP, ['query']),
  'query.events': project(ANALYSTS_UP, ['query']),
  'query.properties': project(ANALYSTS_UP, ['query']),
  'query.property-values': project(ANALYSTS_UP, ['query']),
  // Live events are rows (pseudonymised): analysts and up, in the dashboard only (no key).
  'events.latest': project(ANALYSTS_UP),
  'views.list': project(EVERYONE, ['query']),
  'views.create': project(ANALYSTS_UP),
  'views.run': project(EVERYONE, ['query']),
  'views.delete': project(ANALYSTS_UP),
  'export.events': project(ADMINS_UP, ['export']),
  'privacy.report': project(ADMINS_UP, ['admin']),
  'privacy.policy.get': project(ADMINS_UP, ['admin']),
  // Loosening the policy is an owner's action with a step-up, never a key's (issue 11).
  'privacy.policy.set': project(OWNERS_ONLY),
  'privacy.policy.history': project(ADMINS_UP, ['admin']),
  'privacy.pseudonyms': project(OWNERS_ONLY),
  'privacy.erase': project(ADMINS_UP, ['admin']),
  'privacy.reveal': project(OWNERS_ONLY),
  // One user (issue 12): row-level reads, as ad-hoc queries are (analysts and the query scope).
  'users.get': project(ANALYSTS_UP, ['query']),
  'users.events': project(ANALYSTS_UP, ['query']),
  // Cohorts: read like saved views (every member, the query scope), changed by analysts and up.
  'cohorts.list': project(EVERYONE, ['query']),
  'cohorts.get': project(EVERYONE, ['query']),
  'cohorts.size': project(EVERYONE, ['query']),
  'cohorts.create': project(ANALYSTS_UP),
  'cohorts.update': project(ANALYSTS_UP),
  'cohorts.delete': project(ANALYSTS_UP),

  // The audit log, the breach-impact report and suspensions: owners of their own organisation.
  'audit.list': org(OWNERS_ONLY),
  'incidents.report': org(OWNERS_ONLY),
  'suspensions.list': org(OWNERS_ONLY),
  'suspensions.lift': org(OWNERS_ONLY),
};

/**
 * Routes that need a fresh passkey step-up (TOTP does not count under the default policy):
 * policy and member changes, invitations, key creation and rotation, raw export, privacy-policy
 * changes, erasure and pseudonym look-up, identity reveal, and removing a factor or replacing the
 * recovery codes.
 */
const STEP_UP_ROUTES: readonly string[] = [
  'orgs.policy.set',
  'orgs.members.update',
  'orgs.members.remove',
  'orgs.members.unlock',
  'orgs.members.reset',
  'orgs.invitations.create',
  // Withdrawing an invitation is a member change too (same permission as inviting).
  'orgs.invitations.delete',
  'keys.create',
  'keys.rotate',
  'export.events',
  'privacy.policy.set',
  // Beyond the list, by design (auth/permissions.ts): erasure cannot be undone, and a
  // pseudonym look-up finds one named person in the data.
  'privacy.erase',
  'privacy.pseudonyms',
  'privacy.reveal',
  // Reporting on a breach and lifting a suspension (reading the log itself needs no step-up).
  'incidents.report',
  'suspensions.lift',
  'me.factors.remove',
  'me.recovery-codes',
  'me.password',
];

/** Routes that enrol a factor: any second-factor check in the last 5 minutes (TOTP included). */
const RECENT_CHECK_ROUTES: readonly string[] = [
  'me.passkeys.options',
  'me.passkeys.add',
  'me.totp.start',
  'me.totp.confirm',
];

/** Bodies that pass validation, where a check sits in the handler (after validation). */
const VALID_BODIES: Readonly<Record<string, unknown>> = {
  'me.passkeys.add': { response: {} },
  'me.totp.confirm': { code: '000000' },
};

// ---------------------------------------------------------------------------------------------
// Principals, targets, outcomes.

type PrincipalName =
  Role | 'owner of Y' | 'key:query' | 'key:export' | 'key:import' | 'key:admin' | 'anonymous';

const PRINCIPALS: readonly PrincipalName[] = [
  'owner',
  'admin',
  'analyst',
  'viewer',
  'owner of Y',
  'key:query',
  'key:export',
  'key:import',
  'key:admin',
  'anonymous',
];

/** A: own project (org X); B: another project of org X; C: a project of org Y. */
type Target = 'A' | 'B' | 'C' | 'X' | 'Y' | '-';

/** Denials: authentication, function-level and object-level authorisation, step-up, CSRF. */
const DENY_CODES: ReadonlySet<string> = new Set([
  'AUTH_REQUIRED',
  'AUTH_FORBIDDEN',
  'PROJECT_NOT_FOUND',
  'ORG_NOT_FOUND',
  'AUTH_STEP_UP_REQUIRED',
  'AUTH_CSRF_INVALID',
  'AUTH_SESSION_EXPIRED',
]);

/** 'allow', or the deny codes acceptable for the cell. */
type Expected = 'allow' | readonly string[];

function expectedOutcome(row: Row, who: PrincipalName, target: Target): Expected {
  const isKey = who.startsWith('key:');
  if (row.kind === 'public') return isKey && row.keys === 'deny' ? ['AUTH_FORBIDDEN'] : 'allow';
  if (who === 'anonymous') return ['AUTH_REQUIRED'];
  if (row.kind === 'self') return isKey ? ['AUTH_FORBIDDEN'] : 'allow';
  // Keys never act on organisations; a key bound to A finds no other project.
  if (isKey) {
    if (row.kind === 'org') return ['AUTH_FORBIDDEN'];
    if (target !== 'A') return ['PROJECT_NOT_FOUND', 'AUTH_FORBIDDEN'];
    return row.scopes.includes(who.slice(4) as KeyScope) ? 'allow' : ['AUTH_FORBIDDEN'];
  }
  // People: membership is per organisation; outside it nothing is disclosed (404).
  const role: Role = who === 'owner of Y' ? 'owner' : (who as Role);
  const home = who === 'owner of Y' ? ['Y', 'C'] : ['X', 'A', 'B'];
  if (!home.includes(target)) return [row.kind === 'org' ? 'ORG_NOT_FOUND' : 'PROJECT_NOT_FOUND'];
  return row.roles.includes(role) ? 'allow' : ['AUTH_FORBIDDEN'];
}

function outcomeOf(res: LightMyRequestResponse): string {
  const code = errorCode(res);
  if (res.statusCode >= 500) return `error ${res.statusCode} ${code ?? ''}`.trim();
  if ([401, 403, 404].includes(res.statusCode) && code !== null && DENY_CODES.has(code)) {
    return code;
  }
  return 'allow';
}

const matches = (expected: Expected, actual: string): boolean =>
  expected === 'allow' ? actual === 'allow' : expected.includes(actual);

const show = (expected: Expected): string =>
  expected === 'allow' ? 'allow' : `deny ${expected.join('|')}`;

/** Sub-resources that do not exist: destructive routes find nothing once authorised. */
const MISSING_IDS: Readonly<Record<string, string>> = {
  keyId: 'key_nope',
  viewId: 'view_nope',
  userId: 'usr_nope',
  invitationId: 'inv_nope',
  factorId: 'fac_nope',
  sessionId: 'ses_nope',
};

function targetsOf(route: ApiRoute<unknown>): Target[] {
  if (route.url.includes(':projectId')) return ['A', 'B', 'C'];
  if (route.url.includes(':orgId')) return ['X', 'Y'];
  return ['-'];
}

function urlFor(route: ApiRoute<unknown>, target: Target, world: World): string {
  const ids: Record<Target, string> = {
    A: world.projectA,
    B: world.projectB,
    C: world.projectC,
    X: world.orgX,
    Y: world.orgY,
    '-': '',
  };
  return route.url.replace(/:([A-Za-z]+)/g, (_m, name: string) => {
    if (name === 'projectId' || name === 'orgId') return ids[target];
    return MISSING_IDS[name] ?? `${name}_nope`;
  });
}

/** The row the test expects of a route's shape (what its path acts on). */
function kindOfUrl(url: string): 'project' | 'org' | 'none' {
  if (url.includes(':projectId')) return 'project';
  if (url.includes(':orgId')) return 'org';
  return 'none';
}

// ---------------------------------------------------------------------------------------------

let s: InProcess;
let world: World;
let routes: ApiRoute<unknown>[];

beforeAll(async () => {
  s = await startInProcess();
  world = await buildWorld(s);
  routes = declaredRoutes(s);
});
afterAll(async () => {
  await s.close();
});

/** A fresh caller for `who` (sessions and keys may have been ended by the previous request). */
async function callerFor(who: PrincipalName, stepUp: StepUpState = FRESH_PASSKEY): Promise<Caller> {
  const auth = s.server.runtime.auth;
  if (who === 'anonymous') return { kind: 'anonymous' };
  if (who.startsWith('key:')) {
    return { kind: 'key', secret: await mintKey(auth, world.projectA, who.slice(4) as KeyScope) };
  }
  const userId = who === 'owner of Y' ? world.ownerY : world.usersX[who as Role];
  return { kind: 'session', session: await mintSession(auth, userId, stepUp) };
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-+-'), ...rows.map(line)].join('\n');
}

describe('authorisation matrix', () => {
  it('has a row for every declared route, and a route for every row', () => {
    const ids = routes.map((r) => r.id);
    expect(new Set(ids).size, 'route ids are unique').toBe(ids.length);
    const missingRows = ids.filter((id) => !(id in EXPECTED));
    const staleRows = Object.keys(EXPECTED).filter((id) => !ids.includes(id));
    expect({ missingRows, staleRows }).toEqual({ missingRows: [], staleRows: [] });
  });

  it("matches each row's kind to what the route's path acts on", () => {
    const wrong = routes.flatMap((route) => {
      const row = EXPECTED[route.id];
      if (!row) return [];
      const shape = kindOfUrl(route.url);
      const want = row.kind === 'org' || row.kind === 'project' ? row.kind : 'none';
      return shape === want ? [] : [`${route.id}: row ${row.kind}, path ${route.url}`];
    });
    expect(wrong).toEqual([]);
  });

  it('serves no /api route that did not come through the route registry', async () => {
    const served = routesOfApp(s.server.app.printRoutes({ commonPrefix: false }));
    // The parser must see the whole tree (ingest routes included) to be trusted.
    expect(served).toContainEqual({ method: 'GET', url: '/healthz' });
    expect(served).toContainEqual({ method: 'POST', url: '/engage' });
    const servedApi = served
      .filter((r) => r.url.startsWith('/api/'))
      .map((r) => `${r.method} ${r.url}`)
      .sort();
    const declared = routes.map((r) => `${r.method} ${r.url}`).sort();
    expect(servedApi).toEqual(declared);
    for (const route of routes) {
      expect(s.server.app.hasRoute({ method: route.method, url: route.url }), route.id).toBe(true);
    }
    // Routes registered by the registry carry their id in the route config, which app.ts turns
    // into a same-origin resource policy: a hand-registered route at the same path would not.
    const unregistered: string[] = [];
    for (const route of routes) {
      const res = await call(s, { kind: 'anonymous' }, route.method, urlFor(route, 'A', world));
      if (res.headers['cross-origin-resource-policy'] !== 'same-origin') {
        unregistered.push(`${route.id} ${route.method} ${route.url}`);
      }
    }
    expect(unregistered).toEqual([]);
  });

  it('allows and denies exactly as the matrix says', { timeout: 180_000 }, async () => {
    const mismatches: string[][] = [];
    let cases = 0;
    for (const route of routes) {
      const row = EXPECTED[route.id];
      if (!row) continue; // reported by the completeness test
      for (const target of targetsOf(route)) {
        const url = urlFor(route, target, world);
        for (const who of PRINCIPALS) {
          const want = expectedOutcome(row, who, target);
          const res = await call(s, await callerFor(who), route.method, url);
          const got = outcomeOf(res);
          cases += 1;
          if (!matches(want, got)) {
            mismatches.push([
              route.id,
              `${route.method} ${route.url}`,
              who,
              target,
              show(want),
              `${got} (${res.statusCode} ${errorCode(res) ?? '-'})`,
            ]);
          }
        }
      }
    }
    expect(cases).toBeGreaterThan(routes.length * PRINCIPALS.length);
    const report = table(
      ['route', 'method and path', 'principal', 'target', 'expected', 'actual'],
      mismatches,
    );
    expect(
      mismatches.length,
      `${mismatches.length} of ${cases} cells differ from the matrix:\n${report}\n`,
    ).toBe(0);
  });
});

describe('step-up', () => {
  const SESSIONS: Record<string, StepUpState> = {
    'passkey 6 minutes ago': { agoMs: 6 * 60_000, method: 'passkey' },
    'no step-up': { agoMs: null, method: null },
    'fresh TOTP (default policy)': { agoMs: 0, method: 'totp' },
    'fresh passkey': FRESH_PASSKEY,
  };

  it('the default organisation policy does not count TOTP as step-up', async () => {
    const x = await s.server.runtime.auth.store.getOrg(world.orgX);
    expect(x?.policy.allowTotpStepUp).toBe(false);
  });

  it('lists only declared routes', () => {
    const ids = new Set(routes.map((r) => r.id));
    expect([...STEP_UP_ROUTES, ...RECENT_CHECK_ROUTES].filter((id) => !ids.has(id))).toEqual([]);
  });

  it('is required by exactly the listed routes', async () => {
    const mismatches: string[][] = [];
    for (const route of routes) {
      const target = targetsOf(route)[0] === 'X' ? 'X' : 'A';
      const url = urlFor(route, target, world);
      const stepUp = STEP_UP_ROUTES.includes(route.id);
      const recent = RECENT_CHECK_ROUTES.includes(route.id);
      for (const [state, stepUpState] of Object.entries(SESSIONS)) {
        const required =
          state === 'fresh passkey'
            ? false
            : state === 'fresh TOTP (default policy)'
              ? stepUp
              : stepUp || recent;
        const res = await call(s, await callerFor('owner', stepUpState), route.method, url, {
          body: VALID_BODIES[route.id] ?? {},
        });
        const got = errorCode(res) === 'AUTH_STEP_UP_REQUIRED';
        if (got !== required) {
          mismatches.push([
            route.id,
            state,
            required ? 'AUTH_STEP_UP_REQUIRED' : 'no step-up asked',
            `${res.statusCode} ${errorCode(res) ?? '-'}`,
          ]);
        }
        if (got && res.statusCode !== 403) {
          mismatches.push([route.id, state, 'status 403', String(res.statusCode)]);
        }
      }
    }
    expect(
      mismatches.length,
      `step-up differs from the lists:\n${table(['route', 'session', 'expected', 'actual'], mismatches)}\n`,
    ).toBe(0);
  });
});

describe('CSRF', () => {
  const cookieRoutes = (): ApiRoute<unknown>[] => routes.filter((r) => r.auth !== 'none');

  it('refuses a cookie-authenticated change without the session token, from another site', async () => {
    const unsafe = cookieRoutes().filter((r) => r.method !== 'GET');
    expect(unsafe.length).toBeGreaterThan(10);
    const auth = s.server.runtime.auth;
    const ownOrigin = new URL(auth.settings.publicUrl).origin;
    const failures: string[][] = [];
    for (const route of unsafe) {
      const target = targetsOf(route)[0] === 'X' ? 'X' : 'A';
      const url = urlFor(route, target, world);
      const other = await mintSession(auth, world.usersX.owner);
      const attempts: [string, Parameters<typeof call>[4]][] = [
        ['no X-CSRF-Token', { omitCsrf: true }],
        ["another session's token", { csrfToken: other.csrf }],
        ['a forged token', { csrfToken: 'x'.repeat(other.csrf.length) }],
        ['Origin of another site', { origin: 'https://evil.example' }],
        ['Origin of another port', { origin: `${ownOrigin.replace(/:\d+$/, '')}:1` }],
        ['Sec-Fetch-Site: cross-site', { secFetchSite: 'cross-site' }],
        ['Sec-Fetch-Site: same-site', { secFetchSite: 'same-site' }],
      ];
      for (const [what, options] of attempts) {
        const res = await call(s, await callerFor('owner'), route.method, url, options);
        if (res.statusCode !== 403 || errorCode(res) !== 'AUTH_CSRF_INVALID') {
          failures.push([route.id, what, `${res.statusCode} ${errorCode(res) ?? '-'}`]);
        }
      }
      const ok = await call(s, await callerFor('owner'), route.method, url, {
        secFetchSite: 'same-origin',
      });
      if (errorCode(ok) === 'AUTH_CSRF_INVALID') {
        failures.push([route.id, 'valid token, same origin', 'AUTH_CSRF_INVALID']);
      }
    }
    expect(
      failures.length,
      `not refused as AUTH_CSRF_INVALID:\n${table(['route', 'request', 'answer'], failures)}\n`,
    ).toBe(0);
  });

  it('does not ask a CSRF token of reads', async () => {
    const reads = cookieRoutes().filter((r) => r.method === 'GET');
    expect(reads.length).toBeGreaterThan(5);
    const failures: string[] = [];
    for (const route of reads) {
      const target = targetsOf(route)[0] === 'X' ? 'X' : 'A';
      const res = await call(s, await callerFor('owner'), 'GET', urlFor(route, target, world), {
        origin: 'https://evil.example',
      });
      if (errorCode(res) === 'AUTH_CSRF_INVALID') failures.push(route.id);
    }
    expect(failures).toEqual([]);
  });

  it('does not ask a CSRF token of secret keys', async () => {
    const route = routes.find((r) => r.id === 'query.run');
    expect(route).toBeDefined();
    const res = await call(s, await callerFor('key:query'), 'POST', urlFor(route!, 'A', world), {
      origin: 'https://evil.example',
    });
    expect(outcomeOf(res)).toBe('allow');
  });
});

describe('sub-resources of another project, organisation or person', () => {
  it('are not found through a parent the caller may act on, and stay untouched', async () => {
    const auth = s.server.runtime.auth;
    const store = auth.store;
    const now = auth.now();
    // Objects of project C / org Y / the owner of Y, and of project B (same org, other project).
    const keyOfC = await createApiKey(
      auth,
      world.projectC,
      { name: 'c', scopes: ['query'], expiresAtMs: null, allowedCidrs: [] },
      null,
    );
    const keyOfB = await createApiKey(
      auth,
      world.projectB,
      { name: 'b', scopes: ['query'], expiresAtMs: null, allowedCidrs: [] },
      null,
    );
    const viewOfC = newId('view');
    await store.createView({
      id: viewOfC,
      projectId: world.projectC,
      name: 'c view',
      query: { kind: 'event_names' },
      createdBy: world.ownerY,
      createdAtMs: now,
    });
    const invitationOfY = newId('inv');
    await store.createInvitation({
      id: invitationOfY,
      orgId: world.orgY,
      userId: null,
      email: 'someone@y.example',
      role: 'viewer',
      tokenHash: hashToken(newToken(32)),
      createdBy: world.ownerY,
      createdAtMs: now,
      expiresAtMs: now + 3_600_000,
      acceptedAtMs: null,
    });
    const factorOfY = newId('fac');
    await store.addFactor({
      id: factorOfY,
      userId: world.ownerY,
      kind: 'totp',
      label: 'y app',
      createdAtMs: now,
      lastUsedAtMs: null,
      sealedSecret: 'unused',
      lastStep: null,
      confirmed: false,
    });
    const sessionOfY = await mintSession(auth, world.ownerY);

    const A = `/api/v1/projects/${world.projectA}`;
    const X = `/api/v1/orgs/${world.orgX}`;
    const attempts: [string, string, string, unknown?][] = [
      ['keys.revoke (key of C)', 'DELETE', `${A}/keys/${keyOfC.key.id}`],
      ['keys.revoke (key of B)', 'DELETE', `${A}/keys/${keyOfB.key.id}`],
      ['keys.rotate (key of C)', 'POST', `${A}/keys/${keyOfC.key.id}/rotate`],
      ['views.run (view of C)', 'POST', `${A}/views/${viewOfC}/run`],
      ['views.delete (view of C)', 'DELETE', `${A}/views/${viewOfC}`],
      [
        'orgs.members.update (owner of Y)',
        'PATCH',
        `${X}/members/${world.ownerY}`,
        { role: 'viewer' },
      ],
      ['orgs.members.remove (owner of Y)', 'DELETE', `${X}/members/${world.ownerY}`],
      ['orgs.invitations.delete (of Y)', 'DELETE', `${X}/invitations/${invitationOfY}`],
      ['me.factors.remove (factor of Y owner)', 'DELETE', `/api/v1/me/factors/${factorOfY}`],
      [
        'me.totp.confirm (factor of Y owner)',
        'POST',
        `/api/v1/me/totp/${factorOfY}/confirm`,
        { code: '000000' },
      ],
      [
        'me.sessions.revoke (session of Y owner)',
        'DELETE',
        `/api/v1/me/sessions/${sessionOfY.session.idHash.slice(0, 16)}`,
      ],
    ];
    const failures: string[][] = [];
    for (const [what, method, url, body] of attempts) {
      const res = await call(s, await callerFor('owner'), method, url, { body: body ?? {} });
      if (res.statusCode !== 404)
        failures.push([what, `${res.statusCode} ${errorCode(res) ?? '-'}`]);
    }
    expect(failures, table(['request', 'answer'], failures)).toEqual([]);

    // Nothing happened to them.
    expect((await store.getApiKey(keyOfC.key.id))?.revokedAtMs).toBeNull();
    expect((await store.getApiKey(keyOfC.key.id))?.expiresAtMs).toBeNull();
    expect((await store.getApiKey(keyOfB.key.id))?.revokedAtMs).toBeNull();
    expect(await store.getView(viewOfC)).not.toBeNull();
    expect(await store.listMemberships(world.ownerY)).toEqual([
      expect.objectContaining({ orgId: world.orgY, role: 'owner' }),
    ]);
    expect((await store.listInvitations(world.orgY)).map((i) => i.id)).toContain(invitationOfY);
    expect((await store.listFactors(world.ownerY)).map((f) => f.id)).toContain(factorOfY);
    expect((await store.getSession(sessionOfY.session.idHash))?.revokedAtMs).toBeNull();
  });

  it('lists show only what belongs to the caller', async () => {
    const owner = await callerFor('owner');
    const orgs = (await call(s, owner, 'GET', '/api/v1/orgs')).json();
    expect(orgs.organisations.map((o: { id: string }) => o.id)).toEqual([world.orgX]);
    const projects = (
      await call(s, await callerFor('owner'), 'GET', `/api/v1/orgs/${world.orgX}/projects`)
    ).json();
    expect(projects.projects.map((p: { id: string }) => p.id).sort()).toEqual(
      [world.projectA, world.projectB].sort(),
    );
    const members = (
      await call(s, await callerFor('viewer'), 'GET', `/api/v1/orgs/${world.orgX}/members`)
    ).json();
    expect(members.members.map((m: { user_id: string }) => m.user_id)).not.toContain(world.ownerY);
    const keys = (
      await call(s, await callerFor('admin'), 'GET', `/api/v1/projects/${world.projectA}/keys`)
    ).json();
    expect(keys.keys.every((k: { project_id: string }) => k.project_id === world.projectA)).toBe(
      true,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Issue 9: a person who belongs to two organisations. X's owners and admins act on X's grant to
// her only: never on her account (factors, sign-in lock) and never on Y's grant.

/** What an actor of X may do to a member of X who also owns Y, per member-management route. */
const SHARED_MEMBER_ROWS: readonly {
  id: string;
  method: string;
  path: (org: string, user: string) => string;
  body?: unknown;
  /** Outcome for X's owner, X's admin, and the shared person herself (a viewer in X). */
  expect: { owner: string; admin: string; self: string };
}[] = [
  {
    id: 'orgs.members.update',
    method: 'PATCH',
    path: (o, u) => `/api/v1/orgs/${o}/members/${u}`,
    body: { role: 'analyst' },
    expect: { owner: 'allow', admin: 'allow', self: 'AUTH_FORBIDDEN' },
  },
  {
    id: 'orgs.members.remove',
    method: 'DELETE',
    path: (o, u) => `/api/v1/orgs/${o}/members/${u}`,
    expect: { owner: 'allow', admin: 'allow', self: 'AUTH_FORBIDDEN' },
  },
  {
    id: 'orgs.members.sessions.revoke',
    method: 'POST',
    path: (o, u) => `/api/v1/orgs/${o}/members/${u}/sessions/revoke`,
    expect: { owner: 'allow', admin: 'allow', self: 'AUTH_FORBIDDEN' },
  },
  {
    id: 'orgs.members.unlock',
    method: 'POST',
    path: (o, u) => `/api/v1/orgs/${o}/members/${u}/unlock`,
    expect: {
      owner: 'MEMBER_ACCOUNT_SHARED',
      admin: 'MEMBER_ACCOUNT_SHARED',
      self: 'AUTH_FORBIDDEN',
    },
  },
  {
    id: 'orgs.members.reset',
    method: 'POST',
    path: (o, u) => `/api/v1/orgs/${o}/members/${u}/reset`,
    expect: {
      owner: 'MEMBER_ACCOUNT_SHARED',
      admin: 'MEMBER_ACCOUNT_SHARED',
      self: 'AUTH_FORBIDDEN',
    },
  },
  {
    id: 'orgs.sessions.revoke',
    method: 'POST',
    path: (o) => `/api/v1/orgs/${o}/sessions/revoke`,
    expect: { owner: 'allow', admin: 'allow', self: 'AUTH_FORBIDDEN' },
  },
  {
    id: 'orgs.lockdown',
    method: 'POST',
    path: (o) => `/api/v1/orgs/${o}/lockdown`,
    expect: { owner: 'allow', admin: 'AUTH_FORBIDDEN', self: 'AUTH_FORBIDDEN' },
  },
  {
    id: 'orgs.invitations.create',
    method: 'POST',
    path: (o) => `/api/v1/orgs/${o}/invitations`,
    // Filled in per case with the shared person's address: she is a member already.
    expect: { owner: 'CONFLICT', admin: 'CONFLICT', self: 'AUTH_FORBIDDEN' },
  },
];

describe('a member of two organisations (issue 9)', () => {
  it('covers every member-management route', () => {
    const memberRoutes = routes
      .filter((r) => r.action === 'members.write' || r.action === 'org.sessions')
      .map((r) => r.id)
      .concat(routes.filter((r) => r.action === 'org.lockdown').map((r) => r.id));
    const covered = SHARED_MEMBER_ROWS.map((r) => r.id);
    expect(memberRoutes.filter((id) => !covered.includes(id))).toEqual([
      'orgs.invitations.delete', // acts on an invitation of the organisation, not on a person
    ]);
  });

  it("X's owner and admin reach only X's grant; Y's grant, her factors and her Y session stay", async () => {
    const auth = s.server.runtime.auth;
    const store = auth.store;
    const mismatches: string[][] = [];
    let n = 0;
    for (const row of SHARED_MEMBER_ROWS) {
      for (const actor of ['owner', 'admin', 'self'] as const) {
        n += 1;
        // A fresh person each time: viewer in X, owner of Y, with a factor and a Y session.
        const email = `shared-${n}@two.example`;
        const shared = await mintMember(auth, world.orgX, 'viewer', email);
        await store.putMembership({
          orgId: world.orgY,
          userId: shared,
          role: 'owner',
          createdAtMs: auth.now(),
          accessFromMs: null,
          suspended: null,
        });
        await store.addFactor({
          id: newId('fac'),
          userId: shared,
          kind: 'totp',
          label: 'her app',
          createdAtMs: auth.now(),
          lastUsedAtMs: null,
          sealedSecret: 'unused',
          lastStep: null,
          confirmed: true,
        });
        await store.updateUser(shared, {
          failedAttempts: 7,
          lockedUntilMs: auth.now() + 3_600_000,
        });
        const herSession: Caller = { kind: 'session', session: await mintSession(auth, shared) };
        const caller: Caller =
          actor === 'self'
            ? { kind: 'session', session: await mintSession(auth, shared) }
            : await callerFor(actor);
        const body =
          row.id === 'orgs.invitations.create'
            ? { email, role: 'viewer' }
            : (row.body ?? undefined);
        const res = await call(s, caller, row.method, row.path(world.orgX, shared), {
          ...(body !== undefined ? { body } : {}),
        });
        const got = res.statusCode < 300 ? 'allow' : (errorCode(res) ?? String(res.statusCode));
        const problems: string[] = [];
        if (got !== row.expect[actor])
          problems.push(`answered ${got}, expected ${row.expect[actor]}`);
        const y = (await store.listMemberships(shared)).find((m) => m.orgId === world.orgY);
        if (!y || y.role !== 'owner' || y.accessFromMs !== null || y.suspended !== null) {
          problems.push("Y's grant changed");
        }
        const user = await store.getUser(shared);
        if (user?.status !== 'active' || user.failedAttempts !== 7)
          problems.push('account changed');
        if ((await store.listFactors(shared)).length !== 1) problems.push('factors changed');
        const inY = await call(s, herSession, 'GET', `/api/v1/orgs/${world.orgY}`);
        if (inY.statusCode !== 200) problems.push(`her Y session answered ${inY.statusCode}`);
        if (problems.length > 0) mismatches.push([row.id, actor, problems.join('; ')]);
        // Keep X usable for the next cases.
        if (row.id === 'orgs.lockdown' && got === 'allow') {
          await store.endOrgAccess(world.orgX, 0);
        }
      }
    }
    expect(mismatches, table(['route', 'actor', 'problem'], mismatches)).toEqual([]);
  }, 120_000);

  it("Y's owner (the shared person) finds no member of X through Y", async () => {
    const auth = s.server.runtime.auth;
    const shared = await mintMember(auth, world.orgX, 'viewer', 'shared-y@two.example');
    await auth.store.putMembership({
      orgId: world.orgY,
      userId: shared,
      role: 'owner',
      createdAtMs: auth.now(),
      accessFromMs: null,
      suspended: null,
    });
    const her: Caller = { kind: 'session', session: await mintSession(auth, shared) };
    const xMember = world.usersX.analyst;
    const before = await auth.store.listMemberships(xMember);
    for (const row of SHARED_MEMBER_ROWS.filter((r) => r.path('o', 'u').includes('/members/'))) {
      const res = await call(s, her, row.method, row.path(world.orgY, xMember), {
        ...(row.body !== undefined ? { body: row.body } : {}),
      });
      expect(`${row.id} ${res.statusCode} ${errorCode(res) ?? ''}`).toBe(`${row.id} 404 NOT_FOUND`);
    }
    expect(await auth.store.listMemberships(xMember)).toEqual(before);
    expect(before).toEqual([expect.objectContaining({ orgId: world.orgX, role: 'analyst' })]);
  });
});
