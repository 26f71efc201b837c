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
import type { KeyScope } from '../src/store/account-types.js';
import { buildWorld, mintSession, type MintedSession, type World } from './helpers/fixtures.js';
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

const A = (): string => `/api/v1/projects/${world.projectA}`;

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
