// Tenant attacks (red team): a hostile tenant holding its own project's keys or sessions, a
// hostile insider with a weak role, and a suspended principal, each trying to reach another
// tenant's data or more than their grant allows — over real HTTP on loopback against a real
// server (real DuckDB file). The authorisation matrix (test/authorization-matrix.test.ts) already
// decides every route × role × scope × own/other project; these are the paths it cannot see:
// ids of another tenant's objects given to a route of one's own project, answers that say more
// than the role may know, and what a suspension leaves open.
//
// World (test/helpers/fixtures.ts): org X holds projects A and B and one member of each role;
// org Y holds project C and its owner. C's data carries canary words that must never reach a
// principal of X.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, SESSION_COOKIE, type AuthDeps } from '../src/auth/index.js';
import { AlertResponder, type Trigger } from '../src/audit/index.js';
import { createLogger } from '../src/shared/log.js';
import type { KeyScope } from '../src/store/account-types.js';
import {
  buildWorld,
  mintMember,
  mintSession,
  type MintedSession,
  type World,
} from './helpers/fixtures.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

/** Words that exist only in project C (org Y): none may appear in an answer to org X. */
const CANARY_EVENT = 'CanaryOfYEvent';
const CANARY_VALUE = 'canary-of-y-value';
const CANARY_PLAN = 'canary-of-y-plan';
const CAROL = 'carol-of-y';

type Caller = { session: MintedSession } | { key: string } | null;

interface Answer {
  status: number;
  text: string;
  code: string | null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

let s: InProcess;
let world: World;
let auth: AuthDeps;
let origin: string;

/** One request over loopback HTTP, as the caller (session cookie + CSRF token, or Bearer key). */
async function hit(
  caller: Caller,
  method: string,
  path: string,
  options: { body?: unknown; accept?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { 'user-agent': 'tenant-attacks' };
  if (caller && 'session' in caller) {
    headers.cookie = `${SESSION_COOKIE}=${caller.session.token}`;
    if (method !== 'GET') {
      headers.origin = origin;
      headers['x-csrf-token'] = caller.session.csrf;
    }
  } else if (caller && 'key' in caller) {
    headers.authorization = `Bearer ${caller.key}`;
  }
  if (options.accept) headers.accept = options.accept;
  let body: string | undefined;
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body ?? {});
  }
  const res = await fetch(`${s.server.url}${path}`, { method, headers, body });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  const code = (json as { error?: { code?: unknown } } | null)?.error?.code;
  return {
    status: res.status,
    text,
    code: typeof code === 'string' ? code : null,
    json,
  };
}

const as = async (userId: string): Promise<Caller> => ({
  session: await mintSession(auth, userId),
});

async function keyOf(
  projectId: string,
  scopes: KeyScope[],
  createdBy: string | null = null,
): Promise<{ id: string; secret: string }> {
  const { key, secret } = await createApiKey(
    auth,
    projectId,
    { name: `attack ${scopes.join('+')}`, scopes, expiresAtMs: null, allowedCidrs: [] },
    createdBy,
  );
  return { id: key.id, secret };
}

async function tokenOf(projectId: string): Promise<string> {
  const p = await s.server.runtime.projects.byId(projectId);
  if (!p) throw new Error(`no project ${projectId}`);
  return p.project.token;
}

async function pseudonymIn(projectId: string, raw: string): Promise<string> {
  const p = await s.server.runtime.projects.byId(projectId);
  if (!p) throw new Error(`no project ${projectId}`);
  return p.pseudonymise(raw);
}

/** Sends events through `/track` with the project's public token (what every web page holds). */
async function track(
  token: string,
  events: { event: string; distinct_id: string; properties?: Record<string, unknown> }[],
  headers: Record<string, string> = {},
): Promise<Answer> {
  const data = events.map((e) => ({
    event: e.event,
    properties: { token, distinct_id: e.distinct_id, ...(e.properties ?? {}) },
  }));
  const res = await fetch(`${s.server.url}/track?verbose=1`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: 'data=' + encodeURIComponent(JSON.stringify(data)),
  });
  const text = await res.text();
  return { status: res.status, text, code: null, json: JSON.parse(text) as unknown };
}

const today = new Date().toISOString().slice(0, 10);
const weekAgo = new Date(Date.now() - 7 * 86_400_000).toISOString().slice(0, 10);
const A = (): string => `/api/v1/projects/${world.projectA}`;
const C = (): string => `/api/v1/projects/${world.projectC}`;
const X = (): string => `/api/v1/orgs/${world.orgX}`;

beforeAll(async () => {
  s = await startInProcess({ SILLAGE_PUBLIC_URL: 'https://analytics.example' });
  auth = s.server.runtime.auth;
  origin = new URL(auth.settings.publicUrl).origin;
  world = await buildWorld(s);
  const a = await track(await tokenOf(world.projectA), [
    { event: 'Signup', distinct_id: 'alice-of-x', properties: { plan: 'free' } },
    { event: 'Purchase', distinct_id: 'alice-of-x' },
  ]);
  expect(a.json.status).toBe(1);
  const c = await track(await tokenOf(world.projectC), [
    { event: CANARY_EVENT, distinct_id: CAROL, properties: { secret: CANARY_VALUE } },
    { event: 'Signup', distinct_id: CAROL, properties: { plan: CANARY_PLAN } },
  ]);
  expect(c.json.status).toBe(1);
  const engage = await fetch(`${s.server.url}/engage`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body:
      'data=' +
      encodeURIComponent(
        JSON.stringify({
          $token: await tokenOf(world.projectC),
          $distinct_id: CAROL,
          $set: { plan: CANARY_PLAN },
        }),
      ),
  });
  expect(await engage.text()).toBe('1');
  await s.server.runtime.events.flush();
}, 60_000);

afterAll(async () => {
  await s?.close();
});

describe('privacy.erase as a pseudonym oracle', () => {
  // Looking up pseudonyms is an owner's act with a step-up, never a key's (issue 11: a leaked
  // key must not run a dictionary of guessed ids through the pseudonymiser). Erasure computes the
  // same pseudonyms; its answer must not hand them to a principal that may not look them up —
  // for a guess that names nobody, the "erasure" deletes nothing and is a free look-up.
  it('gives an admin key and an admin no pseudonym of the id they name', async () => {
    const adminKey = await keyOf(world.projectA, ['admin']);
    const callers: [string, Caller][] = [
      ['admin key', { key: adminKey.secret }],
      ['admin', await as(world.usersX.admin)],
    ];
    for (const [who, caller] of callers) {
      const guess = `guess-${who.replace(/ /g, '-')}@example.com`;
      const pseudonym = await pseudonymIn(world.projectA, guess);
      const res = await hit(caller, 'POST', `${A()}/privacy/erase`, { body: { user: guess } });
      expect(res.status, `${who}: ${res.text}`).toBe(200);
      expect(res.json.events_deleted).toBe(0);
      expect(res.json.pseudonyms, who).toEqual([]);
      expect(res.text, who).not.toContain(pseudonym);
      // The look-up route itself stays refused to both.
      const lookUp = await hit(caller, 'POST', `${A()}/privacy/pseudonyms`, {
        body: { ids: [guess] },
      });
      expect([lookUp.status, lookUp.code]).toEqual([403, 'AUTH_FORBIDDEN']);
    }
  });

  it("still tells an owner (who may look pseudonyms up) the erased person's pseudonyms", async () => {
    const guess = 'guess-owner@example.com';
    const res = await hit(await as(world.usersX.owner), 'POST', `${A()}/privacy/erase`, {
      body: { user: guess },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json.pseudonyms).toContain(await pseudonymIn(world.projectA, guess));
  });
});

describe('a suspended principal trying to keep reading', () => {
  const silent = createLogger({ level: 'error', sink: () => undefined });
  /** The responder the runtime hands detection triggers to, over the same stores. */
  const responder = (): AlertResponder =>
    new AlertResponder({
      audit: s.server.runtime.audit,
      accounts: auth.store,
      notifier: auth.notifier,
      logger: silent,
      suspend: true,
      webhookUrl: undefined,
      now: () => auth.now(),
    });
  const trigger = (actor: string, orgId: string | null, projectId: string | null): Trigger => ({
    rule: 'enumeration',
    severity: 'suspend',
    actor,
    orgId,
    projectId,
    seq: 0,
    atMs: auth.now(),
    reason: 'red team: a walk over the user streams',
  });
  const trends = { kind: 'trends', from: weekAgo, to: today, series: [{ event: 'Signup' }] };

  it('holds every key the person created, in each of their organisations', async () => {
    // An admin of X who also administers Y, with a query key in each organisation's project.
    const dual = await mintMember(auth, world.orgX, 'admin', 'dual-admin@x.example');
    await auth.store.putMembership({
      orgId: world.orgY,
      userId: dual,
      role: 'admin',
      createdAtMs: auth.now(),
      accessFromMs: null,
      suspended: null,
    });
    const inX = await keyOf(world.projectA, ['query'], dual);
    const inY = await keyOf(world.projectC, ['query'], dual);
    for (const [k, base] of [
      [inX, A()],
      [inY, C()],
    ] as const) {
      const before = await hit({ key: k.secret }, 'POST', `${base}/query`, { body: trends });
      expect(before.status, before.text).toBe(200);
    }
    // Detection fires on their reads in X (the trigger names X).
    await responder().handle(trigger(`user:${dual}`, world.orgX, world.projectA));
    for (const [where, k, base] of [
      ['X', inX, A()],
      ['Y', inY, C()],
    ] as const) {
      const after = await hit({ key: k.secret }, 'POST', `${base}/query`, { body: trends });
      expect([after.status, after.code], `key created in ${where}`).toEqual([
        403,
        'AUDIT_PRINCIPAL_SUSPENDED',
      ]);
    }
    // Y's owner sees the hold on the key of Y's project, and may lift it.
    const ownerY = await as(world.ownerY);
    const listed = await hit(ownerY, 'GET', `/api/v1/orgs/${world.orgY}/suspensions`);
    expect(listed.status).toBe(200);
    const hold = (listed.json.suspensions as { id: string; principal: string }[]).find(
      (x) => x.principal === `key:${inY.id}`,
    );
    expect(hold, listed.text).toBeDefined();
    // X's owner does not see (nor lift) Y's hold.
    const fromX = await hit(await as(world.usersX.owner), 'GET', `${X()}/suspensions`);
    expect(fromX.text).not.toContain(inY.id);
    const liftFromX = await hit(
      await as(world.usersX.owner),
      'POST',
      `${X()}/suspensions/${hold!.id}/lift`,
    );
    expect([liftFromX.status, liftFromX.code]).toEqual([404, 'NOT_FOUND']);
    const stillHeld = await hit({ key: inY.secret }, 'POST', `${C()}/query`, { body: trends });
    expect(stillHeld.code).toBe('AUDIT_PRINCIPAL_SUSPENDED');
  });
});
