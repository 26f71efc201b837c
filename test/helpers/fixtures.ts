// Test helper: organisations, people, sessions and secret keys minted straight through the
// account store (no password or passkey ceremony), and requests made as any of them.
import type { LightMyRequestResponse } from 'fastify';
import {
  createApiKey,
  csrfTokenFor,
  hashToken,
  newId,
  newToken,
  SESSION_COOKIE,
  type AuthDeps,
} from '../../src/auth/index.js';
import { apiRoutes, type AppDeps } from '../../src/http/app.js';
import type { ApiRoute } from '../../src/http/api/registry.js';
import { createClientIpResolver } from '../../src/ingest/enrich/index.js';
import { createLogger } from '../../src/shared/log.js';
import type {
  AuthMethod,
  KeyScope,
  OrgRecord,
  Role,
  SessionRecord,
} from '../../src/store/account-types.js';
import type { InProcess } from './inprocess.js';

/** Far enough ahead that no session minted here times out during a test run. */
const LONG_MS = 7 * 24 * 3_600_000;

/** How a minted session last proved a second factor. */
export interface StepUpState {
  /** Milliseconds before now of the last step-up, or null for none. */
  agoMs: number | null;
  method: AuthMethod | null;
}

export const FRESH_PASSKEY: StepUpState = { agoMs: 0, method: 'passkey' };

/** How a minted session was opened, how long ago, and its timeouts (default: a fresh passkey one of 7 days). */
export interface SessionShape {
  method?: AuthMethod;
  ageMs?: number;
  idleMs?: number;
  absoluteMs?: number;
  idleTimeoutMs?: number;
}

/** An HTTP answer read whole: status, text, parsed JSON (or null) and its error code (or null). */
export interface Answer {
  status: number;
  text: string;
  code: string | null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export async function answerOf(res: Response): Promise<Answer> {
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  const code = (json as { error?: { code?: unknown } } | null)?.error?.code;
  return { status: res.status, text, code: typeof code === 'string' ? code : null, json };
}

export interface MintedSession {
  token: string;
  session: SessionRecord;
  csrf: string;
}

/** A session opened directly in the store for `userId`. */
export async function mintSession(
  auth: AuthDeps,
  userId: string,
  stepUp: StepUpState = FRESH_PASSKEY,
  shape: SessionShape = {},
): Promise<MintedSession> {
  const now = auth.now();
  const {
    method = 'passkey',
    ageMs = 0,
    idleMs = 0,
    absoluteMs = LONG_MS,
    idleTimeoutMs = LONG_MS,
  } = shape;
  const token = newToken(32);
  const session: SessionRecord = {
    idHash: hashToken(token),
    userId,
    createdAtMs: now - ageMs,
    lastSeenAtMs: now - idleMs,
    expiresAtMs: now - ageMs + absoluteMs,
    idleTimeoutMs,
    method,
    stepUpAtMs: stepUp.agoMs === null ? null : now - stepUp.agoMs,
    stepUpMethod: stepUp.agoMs === null ? null : stepUp.method,
    device: 'test device',
    place: 'test place',
    revokedAtMs: null,
    revokedReason: null,
  };
  await auth.store.createSession(session);
  return { token, session, csrf: csrfTokenFor(auth, session) };
}

/** A live secret key of `projectId` with exactly one scope. */
export async function mintKey(auth: AuthDeps, projectId: string, scope: KeyScope): Promise<string> {
  const { secret } = await createApiKey(
    auth,
    projectId,
    { name: `matrix ${scope}`, scopes: [scope], expiresAtMs: null, allowedCidrs: [] },
    null,
  );
  return secret;
}

export async function mintOrg(auth: AuthDeps, name: string): Promise<OrgRecord> {
  const org: OrgRecord = {
    id: newId('org'),
    name,
    policy: { ...auth.settings.defaultOrgPolicy },
    createdAtMs: auth.now(),
    lockedDownAtMs: null,
    lockedDownBy: null,
  };
  await auth.store.createOrg(org);
  return org;
}

/** An active account that is a member of `orgId` with `role`. */
export async function mintMember(
  auth: AuthDeps,
  orgId: string,
  role: Role,
  email: string,
): Promise<string> {
  const id = newId('usr');
  const now = auth.now();
  await auth.store.createUser({
    id,
    email,
    passwordHash: null,
    status: 'active',
    createdAtMs: now,
    failedAttempts: 0,
    lockedUntilMs: 0,
  });
  await auth.store.putMembership({
    orgId,
    userId: id,
    role,
    createdAtMs: now,
    accessFromMs: null,
    suspended: null,
  });
  return id;
}

/**
 * Two organisations: X holds projects A (the in-process server's) and B and one member of each
 * role; Y holds project C and its own owner.
 */
export interface World {
  orgX: string;
  orgY: string;
  projectA: string;
  projectB: string;
  projectC: string;
  /** Members of X by role. */
  usersX: Record<Role, string>;
  ownerY: string;
}

export const ROLE_LIST: readonly Role[] = ['owner', 'admin', 'analyst', 'viewer'];

export async function buildWorld(s: InProcess): Promise<World> {
  const auth = s.server.runtime.auth;
  const x = await mintOrg(auth, 'Org X');
  const y = await mintOrg(auth, 'Org Y');
  const projectA = s.project.project_id;
  await auth.store.setProjectOrg(projectA, x.id);
  const projectB = (await s.server.runtime.projects.create('Project B')).project_id;
  await auth.store.setProjectOrg(projectB, x.id);
  const projectC = (await s.server.runtime.projects.create('Project C')).project_id;
  await auth.store.setProjectOrg(projectC, y.id);
  const usersX = {} as Record<Role, string>;
  for (const role of ROLE_LIST) {
    usersX[role] = await mintMember(auth, x.id, role, `${role}@x.example`);
  }
  const ownerY = await mintMember(auth, y.id, 'owner', 'owner@y.example');
  return { orgX: x.id, orgY: y.id, projectA, projectB, projectC, usersX, ownerY };
}

/** Every declared API route, built from the running server's own services. */
export function declaredRoutes(s: InProcess): ApiRoute<unknown>[] {
  const runtime = s.server.runtime;
  const deps: AppDeps = {
    pipeline: runtime.pipeline,
    projects: runtime.projects,
    limits: runtime.config.limits,
    clientIp: createClientIpResolver(runtime.config.trustProxy),
    importKeyProject: () => Promise.resolve(null),
    privacyOps: runtime,
    queries: runtime.queries,
    auth: runtime.auth,
    clients: runtime.clients,
    events: runtime.events,
    audit: runtime.audit,
    version: 'test',
    tls: null,
    logger: createLogger({ level: 'error', sink: () => undefined }),
    health: () => null,
    admission: runtime.admission,
    connections: runtime.config.http,
  };
  return apiRoutes(deps);
}

/**
 * The routes Fastify holds, read from `printRoutes` (a radix tree: each line's text continues its
 * parent's). HEAD routes Fastify adds for GET are left out.
 */
export function routesOfApp(tree: string): { method: string; url: string }[] {
  const out: { method: string; url: string }[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = (match[1] ?? '').length / 4;
    const path = (stack[depth - 1] ?? '') + (match[2] ?? '');
    stack.length = depth;
    stack.push(path);
    const methods = (match[3] ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter((m) => m !== '');
    for (const method of methods) {
      if (method === 'HEAD' && methods.includes('GET')) continue;
      out.push({ method, url: path });
    }
  }
  return out;
}

/** Who makes a request. */
export type Caller =
  | { kind: 'anonymous' }
  | { kind: 'session'; session: MintedSession }
  | { kind: 'key'; secret: string };

export interface RequestOptions {
  /** Leave the CSRF token out. */
  omitCsrf?: boolean;
  /** Send this CSRF token instead of the session's. */
  csrfToken?: string;
  origin?: string;
  secFetchSite?: string;
  body?: unknown;
}

/** One request through Fastify's inject (loopback address, no network). */
export async function call(
  s: InProcess,
  caller: Caller,
  method: string,
  url: string,
  options: RequestOptions = {},
): Promise<LightMyRequestResponse> {
  const auth = s.server.runtime.auth;
  const headers: Record<string, string> = { 'user-agent': 'authorization-matrix' };
  const safe = method === 'GET' || method === 'HEAD';
  if (caller.kind === 'session') {
    headers.cookie = `${SESSION_COOKIE}=${caller.session.token}`;
    if (!safe) {
      headers.origin = options.origin ?? new URL(auth.settings.publicUrl).origin;
      if (!options.omitCsrf) headers['x-csrf-token'] = options.csrfToken ?? caller.session.csrf;
    }
  } else if (caller.kind === 'key') {
    headers.authorization = `Bearer ${caller.secret}`;
  }
  if (options.origin !== undefined) headers.origin = options.origin;
  if (options.secFetchSite !== undefined) headers['sec-fetch-site'] = options.secFetchSite;
  if (safe) return s.server.app.inject({ method: method as 'GET', url, headers });
  headers['content-type'] = 'application/json';
  return s.server.app.inject({
    method: method as 'POST',
    url,
    headers,
    payload: JSON.stringify(options.body ?? {}),
  });
}

/** The error code of an API error answer, or null. */
export function errorCode(res: LightMyRequestResponse): string | null {
  try {
    const body = JSON.parse(res.body) as { error?: { code?: unknown } } | null;
    const code = body?.error?.code;
    return typeof code === 'string' ? code : null;
  } catch {
    return null;
  }
}
