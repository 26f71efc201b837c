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
import { createApiKey, newId, SESSION_COOKIE, type AuthDeps } from '../src/auth/index.js';
import { AlertResponder, type Trigger } from '../src/audit/index.js';
import { totpCode } from '../src/auth/totp.js';
import { createLogger } from '../src/shared/log.js';
import type { KeyScope } from '../src/store/account-types.js';
import {
  buildWorld,
  answerOf,
  declaredRoutes,
  mintMember,
  mintOrg,
  mintSession,
  type Answer,
  type MintedSession,
  type World,
} from './helpers/fixtures.js';
import { AccountClient, linkToken, type ApiAnswer } from './helpers/account-client.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

/** Words that exist only in project C (org Y): none may appear in an answer to org X. */
const CANARY_EVENT = 'CanaryOfYEvent';
const CANARY_VALUE = 'canary-of-y-value';
const CANARY_PLAN = 'canary-of-y-plan';
const CAROL = 'carol-of-y';

type Caller = { session: MintedSession } | { key: string } | null;

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
  return answerOf(res);
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

/** Sets profile properties through `/engage` with the public token; answers the body. */
async function engage(token: string, id: string, set: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${s.server.url}/engage`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body:
      'data=' + encodeURIComponent(JSON.stringify({ $token: token, $distinct_id: id, $set: set })),
  });
  return res.text();
}

const today = new Date().toISOString().slice(0, 10);
const weekAgo = new Date(Date.now() - 7 * 86_400_000).toISOString().slice(0, 10);
const A = (): string => `/api/v1/projects/${world.projectA}`;
const C = (): string => `/api/v1/projects/${world.projectC}`;
const X = (): string => `/api/v1/orgs/${world.orgX}`;

/** Asserts the answer carries nothing of project C. */
function noCanary(answer: Answer, what: string): void {
  for (const word of [CANARY_EVENT, CANARY_VALUE, CANARY_PLAN])
    expect(answer.text, `${what} leaked ${word}`).not.toContain(word);
}

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
  expect(await engage(await tokenOf(world.projectA), 'alice-of-x', { plan: 'free' })).toBe('1');
  const c = await track(await tokenOf(world.projectC), [
    { event: CANARY_EVENT, distinct_id: CAROL, properties: { secret: CANARY_VALUE } },
    { event: 'Signup', distinct_id: CAROL, properties: { plan: CANARY_PLAN } },
  ]);
  expect(c.json.status).toBe(1);
  expect(await engage(await tokenOf(world.projectC), CAROL, { plan: CANARY_PLAN })).toBe('1');
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

/** The responder the runtime hands detection triggers to, over the same stores. */
const responder = (): AlertResponder =>
  new AlertResponder({
    audit: s.server.runtime.audit,
    accounts: auth.store,
    notifier: auth.notifier,
    logger: createLogger({ level: 'error', sink: () => undefined }),
    suspend: true,
    webhookUrl: undefined,
    now: () => auth.now(),
  });

/** What detection hands the responder when `actor` trips the enumeration rule. */
const trigger = (actor: string, orgId: string | null, projectId: string | null): Trigger => ({
  rule: 'enumeration',
  severity: 'suspend',
  actor,
  orgId,
  projectId,
  seq: 0,
  atMs: auth.now(),
  reason: 'red team',
});

describe('a suspended principal trying to keep reading', () => {
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
    // Y's owner is told (Y's key is theirs to decide about); Y's alert names no project of X.
    const notices = await hit(ownerY, 'GET', '/api/v1/me/notices');
    expect(
      (notices.json.notices as { kind: string }[]).some((n) => n.kind === 'access_alert'),
      notices.text,
    ).toBe(true);
    const alerts = await s.server.runtime.audit.store.scan({
      kinds: ['alert'],
      actors: ['system'],
    });
    const inYLog = alerts.filter((e) => e.target === `user:${dual}` && e.orgId === world.orgY);
    expect(inYLog).toHaveLength(1);
    expect(inYLog[0]?.projectId).toBeNull();
    expect(JSON.stringify(inYLog)).not.toContain(world.projectA);
  });
});

describe("ids of another tenant's objects, given to a route of one's own project", () => {
  let cohortOfC: string;
  let viewOfB: string;
  let keyOfB: string;
  let carolInC: string;

  beforeAll(async () => {
    // Y's owner saves a cohort in C; X's owner a view and a key in B (same org, other project).
    const made = await hit(await as(world.ownerY), 'POST', `${C()}/cohorts`, {
      body: {
        name: 'Y people',
        conditions: [{ kind: 'did_event', event: CANARY_EVENT, within_days: 30 }],
      },
    });
    expect(made.status, made.text).toBe(201);
    cohortOfC = made.json.id as string;
    viewOfB = newId('view');
    await auth.store.createView({
      id: viewOfB,
      projectId: world.projectB,
      name: 'B only',
      query: { kind: 'event_names' },
      createdBy: world.usersX.owner,
      createdAtMs: auth.now(),
    });
    keyOfB = (await keyOf(world.projectB, ['query'])).id;
    carolInC = await pseudonymIn(world.projectC, CAROL);
  });

  it("finds no cohort of C through A's cohort routes, and leaves it as it was", async () => {
    const analyst = await as(world.usersX.analyst);
    const owner = await as(world.usersX.owner);
    const body = {
      name: 'taken over',
      conditions: [{ kind: 'did_event', event: 'x', within_days: 1 }],
    };
    for (const [method, path, caller] of [
      ['GET', `${A()}/cohorts/${cohortOfC}`, analyst],
      ['GET', `${A()}/cohorts/${cohortOfC}/size`, analyst],
      ['PUT', `${A()}/cohorts/${cohortOfC}`, analyst],
      ['DELETE', `${A()}/cohorts/${cohortOfC}`, owner],
    ] as const) {
      const res = await hit(caller, method, path, { body });
      expect([res.status, res.code], `${method} ${path}`).toEqual([404, 'NOT_FOUND']);
      noCanary(res, `${method} ${path}`);
    }
    const list = await hit(analyst, 'GET', `${A()}/cohorts`);
    expect(list.text).not.toContain(cohortOfC);
    const kept = await hit(await as(world.ownerY), 'GET', `${C()}/cohorts/${cohortOfC}`);
    expect([kept.status, kept.json.name]).toEqual([200, 'Y people']);
  });

  it("refuses C's cohort inside a query of A (filter, breakdown, saved view), with nothing of C", async () => {
    const analyst = await as(world.usersX.analyst);
    const base = { from: weekAgo, to: today };
    const queries: [string, unknown][] = [
      [
        'trends filter',
        {
          kind: 'trends',
          ...base,
          series: [{ event: 'Signup' }],
          filters: [{ property: 'cohort', op: 'in', value: cohortOfC }],
        },
      ],
      [
        'trends not_in filter',
        {
          kind: 'trends',
          ...base,
          series: [{ event: 'Signup' }],
          filters: [{ property: 'cohort', op: 'not_in', value: [cohortOfC] }],
        },
      ],
      [
        'funnel breakdown',
        {
          kind: 'funnel',
          ...base,
          window_seconds: 86_400,
          steps: [{ event: 'Signup' }, { event: 'Purchase' }],
          breakdown: { cohort: cohortOfC },
        },
      ],
      ['cohort size', { kind: 'cohort_size', cohort: cohortOfC }],
    ];
    for (const [what, query] of queries) {
      const res = await hit(analyst, 'POST', `${A()}/query`, { body: query });
      expect([res.status, res.code], what).toEqual([400, 'QUERY_INVALID']);
      expect(res.text, what).toContain('unknown cohort');
      noCanary(res, what);
      const csv = await hit(analyst, 'POST', `${A()}/query`, { body: query, accept: 'text/csv' });
      expect(csv.status, `${what} as CSV`).toBe(400);
      noCanary(csv, `${what} as CSV`);
    }
    // Saved as a view of A (a viewer then runs it): the cohort is looked up in A when run.
    const saved = await hit(analyst, 'POST', `${A()}/views`, {
      body: { name: 'borrowed cohort', query: queries[0]![1] },
    });
    if (saved.status === 201) {
      const run = await hit(
        await as(world.usersX.viewer),
        'POST',
        `${A()}/views/${saved.json.id as string}/run`,
      );
      expect([run.status, run.code]).toEqual([400, 'QUERY_INVALID']);
      noCanary(run, 'the view');
    } else {
      expect([saved.status, saved.code]).toEqual([400, 'QUERY_INVALID']);
    }
  });

  it('finds no view or key of B (same organisation, other project) through A', async () => {
    const owner = await as(world.usersX.owner);
    for (const [method, path] of [
      ['POST', `${A()}/views/${viewOfB}/run`],
      ['DELETE', `${A()}/views/${viewOfB}`],
      ['POST', `${A()}/keys/${keyOfB}/rotate`],
    ] as const) {
      const res = await hit(owner, method, path, { body: {} });
      expect([res.status, res.code], `${method} ${path}`).toEqual([404, 'NOT_FOUND']);
    }
    expect(await auth.store.getView(viewOfB)).not.toBeNull();
    const key = await auth.store.getApiKey(keyOfB);
    expect([key?.revokedAtMs, key?.expiresAtMs]).toEqual([null, null]);
  });

  it("reads no user of C through A's one-user routes, by C's pseudonym or by the raw id", async () => {
    const callers: [string, Caller][] = [
      ['analyst of X', await as(world.usersX.analyst)],
      ['query key of A', { key: (await keyOf(world.projectA, ['query'])).secret }],
    ];
    for (const [who, caller] of callers) {
      for (const id of [carolInC, CAROL]) {
        const profile = await hit(caller, 'GET', `${A()}/users/${encodeURIComponent(id)}`);
        expect([profile.status, profile.code], `${who} profile`).toEqual([404, 'NOT_FOUND']);
        noCanary(profile, `${who} profile`);
        // The stream of an id with nothing in A is an empty page (as for any unknown id).
        const stream = await hit(caller, 'GET', `${A()}/users/${encodeURIComponent(id)}/events`);
        expect([stream.status, stream.json.events], `${who} events`).toEqual([200, []]);
        noCanary(stream, `${who} events`);
      }
    }
  });

  it("shows nothing of C in A's person properties, discovery, CSV, live events or export", async () => {
    const admin = await as(world.usersX.admin);
    const reads: [string, string, string, unknown?, string?][] = [
      [
        'person.plan breakdown',
        'POST',
        `${A()}/query`,
        {
          kind: 'trends',
          from: weekAgo,
          to: today,
          series: [{ event: 'Signup' }],
          breakdown: 'person.plan',
        },
      ],
      ['event names', 'GET', `${A()}/events?from=${weekAgo}&to=${today}`],
      [
        'event names as CSV',
        'GET',
        `${A()}/events?from=${weekAgo}&to=${today}`,
        undefined,
        'text/csv',
      ],
      ['properties', 'GET', `${A()}/properties?from=${weekAgo}&to=${today}`],
      ['plan values', 'GET', `${A()}/properties/values?property=plan&from=${weekAgo}&to=${today}`],
      [
        'person.plan values',
        'GET',
        `${A()}/properties/values?property=person.plan&from=${weekAgo}&to=${today}`,
      ],
      ['live events', 'GET', `${A()}/events/latest`],
      ['raw export', 'GET', `${A()}/export?from=${weekAgo}&to=${today}`],
    ];
    for (const [what, method, path, body, accept] of reads) {
      const res = await hit(admin, method, path, {
        ...(body !== undefined ? { body } : {}),
        ...(accept ? { accept } : {}),
      });
      expect(res.status, `${what}: ${res.text.slice(0, 300)}`).toBe(200);
      noCanary(res, what);
      expect(res.text, what).not.toContain(carolInC);
    }
    // The reads did see A's own data (so that "nothing of C" is not "nothing at all").
    const names = await hit(admin, 'GET', `${A()}/events?from=${weekAgo}&to=${today}`);
    expect(names.text).toContain('Signup');
  });
});

describe('the audit log, reports and holds of another organisation', () => {
  let keyOfC: { id: string; secret: string };
  let ownerYSession: MintedSession;

  beforeAll(async () => {
    // Y's data is read on the record in Y: by a key of C and by Y's owner.
    keyOfC = await keyOf(world.projectC, ['query']);
    ownerYSession = await mintSession(auth, world.ownerY);
    const carol = await pseudonymIn(world.projectC, CAROL);
    for (const caller of [{ key: keyOfC.secret }, { session: ownerYSession }]) {
      const res = await hit(caller, 'GET', `${C()}/users/${carol}/events`);
      expect(res.status, res.text).toBe(200);
      expect(res.text).toContain(CANARY_EVENT);
    }
  });

  it("X's owner filters X's log by C's project and Y's principals and gets none of Y's entries", async () => {
    const owner = await as(world.usersX.owner);
    for (const filter of [
      `project=${world.projectC}`,
      `actor=key:${keyOfC.id}`,
      `actor=user:${world.ownerY}`,
      'kind=user_read',
      'limit=10000',
    ]) {
      for (const format of ['json', 'ndjson']) {
        const res = await hit(owner, 'GET', `${X()}/audit?${filter}&format=${format}`);
        expect(res.status, `${filter} ${format}: ${res.text.slice(0, 200)}`).toBe(200);
        const entries = (
          format === 'json'
            ? res.json.entries
            : res.text
                .split('\n')
                .filter((l) => l !== '')
                .map((l) => JSON.parse(l) as unknown)
        ) as { kind: string; org_id: string | null; project_id: string | null }[];
        // Naming Y's project or principals finds nothing; the wide reads do find X's own entries.
        const wide = filter === 'kind=user_read' || filter === 'limit=10000';
        expect(entries.length > 0, filter).toBe(wide);
        // X's own readings of its log name the filters asked (C's id among them): the rest
        // must hold nothing of Y.
        const text = JSON.stringify(entries.filter((e) => e.kind !== 'audit_read'));
        for (const word of [world.projectC, keyOfC.id, world.orgY, `user:${world.ownerY}`])
          expect(text, `${filter} ${format}`).not.toContain(word);
        for (const e of entries) {
          expect(e.org_id, filter).toBe(world.orgX);
          expect([null, world.projectA, world.projectB], filter).toContain(e.project_id);
        }
      }
    }
  });

  it("X's owner gets an empty breach report for Y's key, Y's owner's session and Y's owner", async () => {
    const owner = await as(world.usersX.owner);
    const window = {
      from: new Date(Date.now() - 3_600_000).toISOString(),
      to: new Date(Date.now() + 60_000).toISOString(),
    };
    const carol = await pseudonymIn(world.projectC, CAROL);
    for (const scope of [
      { key: keyOfC.id },
      { key: `key:${keyOfC.id}` },
      { session: ownerYSession.session.idHash },
      { user: 'owner@y.example' },
      { network: '127.0.0.0/8' },
    ]) {
      for (const format of ['json', 'markdown', 'html'] as const) {
        const res = await hit(owner, 'POST', `${X()}/incidents/report`, {
          body: { ...scope, ...window, format },
        });
        const what = `${JSON.stringify(scope)} ${format}`;
        expect(res.status, `${what}: ${res.text.slice(0, 200)}`).toBe(200);
        expect(res.text, what).not.toContain(world.projectC);
        expect(res.text, what).not.toContain(`user:${world.ownerY}`);
        expect(res.text, what).not.toContain(CANARY_EVENT);
        if (format === 'json') expect(res.json.principals, what).not.toContain(`key:${keyOfC.id}`);
        if (format === 'json' && !('network' in scope)) {
          // (The network's report holds X's own reads from loopback, this file's included.)
          expect(
            [res.json.accesses, res.json.subjects, res.json.rows_returned, res.json.subject_ids],
            what,
          ).toEqual([0, 0, 0, []]);
        }
      }
    }
    // Y's own owner does see the reads (the report is not empty for the wrong reason).
    const own = await hit(
      await as(world.ownerY),
      'POST',
      `/api/v1/orgs/${world.orgY}/incidents/report`,
      {
        body: { key: keyOfC.id, ...window },
      },
    );
    expect(own.json.subject_ids, own.text).toContain(carol);
  });
});

describe('a suspended key on every route a key may call', () => {
  it('is refused everywhere as AUDIT_PRINCIPAL_SUSPENDED, and cannot import either', async () => {
    const all = await keyOf(world.projectA, ['query', 'export', 'import', 'admin']);
    const before = await hit({ key: all.secret }, 'GET', `${A()}/views`);
    expect(before.status).toBe(200);
    await responder().handle({
      ...trigger(`key:${all.id}`, world.orgX, world.projectA),
      rule: 'volume',
    });
    const keyRoutes = declaredRoutes(s).filter((r) => r.auth === 'session-or-key');
    expect(keyRoutes.length).toBeGreaterThan(15);
    const answered: string[] = [];
    for (const route of keyRoutes) {
      const path = route.url.replace(/:([A-Za-z]+)/g, (_m, name: string) =>
        name === 'projectId' ? world.projectA : `${name}_nope`,
      );
      for (const accept of [undefined, 'text/csv']) {
        const res = await hit({ key: all.secret }, route.method, path, {
          body: {},
          ...(accept ? { accept } : {}),
        });
        if (res.status !== 403 || res.code !== 'AUDIT_PRINCIPAL_SUSPENDED')
          answered.push(
            `${route.id} ${accept ?? ''}: ${res.status} ${res.code ?? res.text.slice(0, 80)}`,
          );
      }
    }
    expect(answered).toEqual([]);
    // Nor does it write history through /import (the import scope).
    const imported = await fetch(`${s.server.url}/import?strict=1`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`${all.secret}:`).toString('base64')}`,
      },
      body: JSON.stringify([
        {
          event: 'Backdated',
          properties: { distinct_id: 'x', time: Date.parse('2021-01-01'), $insert_id: 'bd-1' },
        },
      ]),
    });
    expect(imported.status).toBe(401);
    // Every attempt is on the record as refused.
    const refused = await s.server.runtime.audit.store.scan({ actors: [`key:${all.id}`] });
    expect(refused.filter((e) => e.outcome === 'AUDIT_PRINCIPAL_SUSPENDED').length).toBeGreaterThan(
      keyRoutes.length,
    );
  });

  it('leaves a suspended person no session to lift their own hold with, and no new one', async () => {
    // An owner of Y, phished: detection suspends them while a session is open.
    const phished = await mintMember(auth, world.orgY, 'owner', 'phished-owner@y.example');
    const open = await mintSession(auth, phished);
    await responder().handle(trigger(`user:${phished}`, world.orgY, world.projectC));
    const holds = await s.server.runtime.audit.store.listSuspensions(true);
    const hold = holds.find((h) => h.actor === `user:${phished}`);
    expect(hold?.orgId).toBe(world.orgY);
    const lift = await hit(
      { session: open },
      'POST',
      `/api/v1/orgs/${world.orgY}/suspensions/${hold!.id}/lift`,
    );
    expect(lift.status).toBe(401);
    await expect(mintSession(auth, phished)).rejects.toMatchObject({
      code: 'AUDIT_PRINCIPAL_SUSPENDED',
    });
    expect(s.server.runtime.audit.isSuspended(`user:${phished}`)).toBe(true);
  });
});

describe('a session still open when its person is suspended', () => {
  // The responder holds the person in memory first, then writes each hold (one durable audit
  // entry per key the person created) and ends their sessions last; detection itself runs after
  // the read that trips it. A session open in between must act on nothing: reads are refused by
  // the read services, but the acts that are no reads (a new key, lifting one's own hold, an
  // invitation for an accomplice) must be refused too, or the person walks out with a principal
  // that is not held.
  it('cannot create a key, invite, or lift its own hold', async () => {
    const owner = await mintMember(auth, world.orgY, 'owner', 'racing-owner@y.example');
    const open = await mintSession(auth, owner);
    const hold = {
      id: `sus_${newId('x').slice(2)}`,
      actor: `user:${owner}`,
      orgId: world.orgY,
      rule: 'enumeration',
      reason: 'red team: the window before the sessions end',
      createdAtMs: auth.now(),
      liftedAtMs: null,
      liftedBy: null,
    };
    await s.server.runtime.audit.store.putSuspension(hold);
    s.server.runtime.audit.markSuspended([hold.actor], true);
    const Y = `/api/v1/orgs/${world.orgY}`;
    const keysBefore = (await auth.store.listApiKeys(world.projectC)).length;
    const attempts: [string, string, string, unknown][] = [
      ['keys.create', 'POST', `${C()}/keys`, { name: 'getaway', scopes: ['export'] }],
      [
        'orgs.invitations.create',
        'POST',
        `${Y}/invitations`,
        { email: 'accomplice@evil.example', role: 'admin' },
      ],
      ['suspensions.lift', 'POST', `${Y}/suspensions/${hold.id}/lift`, {}],
      ['query.run', 'POST', `${C()}/query`, { kind: 'event_names' }],
    ];
    const answered: string[] = [];
    for (const [what, method, path, body] of attempts) {
      const res = await hit({ session: open }, method, path, { body });
      if (res.status !== 403 || res.code !== 'AUDIT_PRINCIPAL_SUSPENDED')
        answered.push(`${what}: ${res.status} ${res.code ?? res.text.slice(0, 120)}`);
    }
    expect(answered).toEqual([]);
    // Each refusal is on the record, a project route's with its project (reports find it there).
    const refused = (await s.server.runtime.audit.store.scan({ actors: [hold.actor] })).filter(
      (e) => e.outcome === 'AUDIT_PRINCIPAL_SUSPENDED',
    );
    const routeOf = (detail: string | null): unknown =>
      (JSON.parse(detail ?? '{}') as { route?: string }).route;
    expect(refused.map((e) => [routeOf(e.detail), e.projectId])).toEqual([
      ['keys.create', world.projectC],
      ['orgs.invitations.create', null],
      ['suspensions.lift', null],
      ['query.run', world.projectC],
    ]);
    expect((await auth.store.listApiKeys(world.projectC)).length).toBe(keysBefore);
    expect(
      (await auth.store.listInvitations(world.orgY)).some(
        (i) => i.email === 'accomplice@evil.example',
      ),
    ).toBe(false);
    expect(s.server.runtime.audit.isSuspended(hold.actor)).toBe(true);
    expect(
      (await s.server.runtime.audit.store.listSuspensions(true)).some((x) => x.id === hold.id),
    ).toBe(true);
  });
});

describe("a suspended person knocking at another organisation's project", () => {
  // The refusal of a suspended person is recorded with the project of the route (so that their
  // own organisation's reports find it). A project of an organisation they do not belong to is
  // not theirs to write into: the entry would land in that organisation's audit log and breach
  // reports, under a name that organisation never had, as often as the person likes.
  it("leaves nothing in Y's log: the refusal is recorded without Y's project", async () => {
    const person = await mintMember(auth, world.orgX, 'analyst', 'held-knocker@x.example');
    const open = await mintSession(auth, person);
    const actor = `user:${person}`;
    s.server.runtime.audit.markSuspended([actor], true);
    for (const [method, path, body] of [
      ['POST', `${C()}/query`, { kind: 'event_names' }],
      ['GET', `${C()}/users/${CAROL}/events`, undefined],
      ['POST', `${A()}/query`, { kind: 'event_names' }],
    ] as const) {
      const res = await hit({ session: open }, method, path, { body });
      expect([res.status, res.code]).toEqual([403, 'AUDIT_PRINCIPAL_SUSPENDED']);
    }
    const entries = (await s.server.runtime.audit.store.scan({ actors: [actor] })).filter(
      (e) => e.outcome === 'AUDIT_PRINCIPAL_SUSPENDED',
    );
    expect(entries.map((e) => [e.projectId, e.orgId])).toEqual([
      [null, null],
      [null, null],
      [world.projectA, world.orgX],
    ]);
    const ownerY = await as(world.ownerY);
    const logY = await hit(ownerY, 'GET', `/api/v1/orgs/${world.orgY}/audit?actor=${actor}`);
    expect(logY.status, logY.text).toBe(200);
    expect(logY.json.entries).toEqual([]);
    s.server.runtime.audit.markSuspended([actor], false);
  });
});

describe("another project's secret, at the ingest door", () => {
  it("writes nothing into C with A's import key: not by C's token, not by project_id", async () => {
    const importKey = await keyOf(world.projectA, ['import']);
    const before = await s.server.runtime.events.countEvents(world.projectC);
    const tokenC = await tokenOf(world.projectC);
    // /track with A's key (which lifts the 5-day window) and C's token, back-dated.
    const tracked = await track(
      tokenC,
      [
        {
          event: 'Rewritten',
          distinct_id: CAROL,
          properties: { time: Date.parse('2021-01-01') / 1000 },
        },
      ],
      { authorization: `Bearer ${importKey.secret}` },
    );
    expect(tracked.json.status).toBe(0);
    expect(tracked.text).toContain('token does not belong');
    // /import naming C with A's key.
    const imported = await fetch(`${s.server.url}/import?strict=1&project_id=${world.projectC}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`user:${importKey.secret}`).toString('base64')}`,
      },
      body: JSON.stringify([
        {
          event: 'Rewritten',
          properties: {
            token: tokenC,
            distinct_id: CAROL,
            time: Date.parse('2021-01-01'),
            $insert_id: 'rw-1',
          },
        },
      ]),
    });
    expect(imported.status).toBe(401);
    await s.server.runtime.events.flush();
    expect(await s.server.runtime.events.countEvents(world.projectC)).toBe(before);
  });
});

describe("another project's token in a body sent with one's own key, on every door and path", () => {
  /**
   * PostHog's batch route with the key `auth`, the batch's token `batchToken` and `n` events, each
   * padded when `large` so that the body (~10 KB) is decoded on a worker (8 KiB and more).
   */
  async function posthogBatch(auth: string, batchToken: string, n: number, large: boolean) {
    const res = await fetch(`${s.server.url}/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${auth}` },
      body: JSON.stringify({
        api_key: batchToken,
        batch: Array.from({ length: n }, (_, i) => ({
          event: 'Batched',
          distinct_id: `${CAROL}-${i}`,
          properties: large ? { pad: 'x'.repeat(400) } : {},
          timestamp: new Date().toISOString(),
        })),
      }),
    });
    return { status: res.status, text: await res.text() };
  }

  // (/engage and /groups read no credential at all: a project's token alone decides there, as in
  // Mixpanel, so a key adds nothing to what the public token already allows.)
  it("writes nothing into C with A's key, whether the body is decoded inline or on a worker", async () => {
    const importKey = await keyOf(world.projectA, ['import']);
    const [tokenA, tokenC] = [await tokenOf(world.projectA), await tokenOf(world.projectC)];
    const count = (p: string) => s.server.runtime.events.countEvents(p);
    await s.server.runtime.events.flush();
    const [beforeA, beforeC] = [await count(world.projectA), await count(world.projectC)];
    // /track, a body past the worker threshold (8 KiB): C's token in every event.
    const padded = Array.from({ length: 40 }, (_, i) => ({
      event: 'Rewritten',
      distinct_id: `${CAROL}-${i}`,
      properties: { pad: 'x'.repeat(400) },
    }));
    const withKey = { authorization: `Bearer ${importKey.secret}` };
    const big = await track(tokenC, padded, withKey);
    expect(big.json, big.text).toMatchObject({ status: 0 });
    expect(big.text).toContain('token does not belong');
    // PostHog's batch with A's key and C's token, small (inline) and large (worker).
    for (const large of [false, true]) {
      const refused = await posthogBatch(importKey.secret, tokenC, 20, large);
      expect(refused.status, refused.text).not.toBe(200);
      expect(refused.text).toContain('token does not belong');
    }
    await s.server.runtime.events.flush();
    expect(await count(world.projectC)).toBe(beforeC);
    // The same requests with A's own token are taken (so the refusals above are the token's).
    const own = await track(tokenA, padded, withKey);
    expect(own.json, own.text).toMatchObject({ status: 1 });
    for (const large of [false, true]) {
      const taken = await posthogBatch(importKey.secret, tokenA, 20, large);
      expect(taken.status, taken.text).toBe(200);
    }
    await s.server.runtime.events.flush();
    expect(await count(world.projectA)).toBe(beforeA + 40 + 20 + 20);
    expect(await count(world.projectC)).toBe(beforeC);
  });
});

describe('a key fenced to a network, from outside it', () => {
  it('is not let in by an X-Forwarded-For naming the network (no proxy is trusted by default)', async () => {
    const { secret } = await createApiKey(
      auth,
      world.projectA,
      {
        name: 'fenced',
        scopes: ['query', 'import'],
        expiresAtMs: null,
        allowedCidrs: ['10.0.0.0/8'],
      },
      null,
    );
    for (const xff of [undefined, '10.1.2.3', '10.1.2.3, 127.0.0.1', '127.0.0.1, 10.1.2.3']) {
      const headers: Record<string, string> = { authorization: `Bearer ${secret}` };
      if (xff) headers['x-forwarded-for'] = xff;
      const res = await fetch(`${s.server.url}${A()}/events?from=${weekAgo}&to=${today}`, {
        headers,
      });
      expect(res.status, `X-Forwarded-For: ${xff ?? '(none)'}`).toBe(403);
      const imported = await fetch(`${s.server.url}/import?strict=1`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Basic ${Buffer.from(`${secret}:`).toString('base64')}`,
          ...(xff ? { 'x-forwarded-for': xff } : {}),
        },
        body: JSON.stringify([
          { event: 'E', properties: { distinct_id: 'd', time: Date.now(), $insert_id: 'f-1' } },
        ]),
      });
      expect(imported.status, `/import, X-Forwarded-For: ${xff ?? '(none)'}`).toBe(401);
    }
  });
});

describe('an admin reaching for the owner role', () => {
  it('cannot make anyone an owner, nor touch an owner; the last owner stays one', async () => {
    const z = await mintOrg(auth, 'Org Z');
    const owner = await mintMember(auth, z.id, 'owner', 'owner@z.example');
    const admin = await mintMember(auth, z.id, 'admin', 'admin@z.example');
    const analyst = await mintMember(auth, z.id, 'analyst', 'analyst@z.example');
    const Z = `/api/v1/orgs/${z.id}`;
    const asAdmin = await as(admin);
    const attempts: [string, string, string, unknown?][] = [
      ['promote self to owner', 'PATCH', `${Z}/members/${admin}`, { role: 'owner' }],
      ['promote an analyst to owner', 'PATCH', `${Z}/members/${analyst}`, { role: 'owner' }],
      ['invite an owner', 'POST', `${Z}/invitations`, { email: 'new@z.example', role: 'owner' }],
      ['demote the owner', 'PATCH', `${Z}/members/${owner}`, { role: 'viewer' }],
      ['remove the owner', 'DELETE', `${Z}/members/${owner}`],
      ['reset the owner', 'POST', `${Z}/members/${owner}/reset`],
      ['unlock the owner', 'POST', `${Z}/members/${owner}/unlock`],
      ["end the owner's sessions", 'POST', `${Z}/members/${owner}/sessions/revoke`],
    ];
    const answered: string[] = [];
    for (const [what, method, path, body] of attempts) {
      const res = await hit(asAdmin, method, path, { body: body ?? {} });
      if (res.status !== 403 || res.code !== 'AUTH_FORBIDDEN')
        answered.push(`${what}: ${res.status} ${res.code ?? res.text.slice(0, 100)}`);
    }
    expect(answered).toEqual([]);
    const roles = Object.fromEntries(
      (await auth.store.listMembers(z.id)).map((m) => [m.userId, m.role]),
    );
    expect(roles).toEqual({ [owner]: 'owner', [admin]: 'admin', [analyst]: 'analyst' });
    expect((await auth.store.listInvitations(z.id)).length).toBe(0);
    expect((await auth.store.getUser(owner))?.status).toBe('active');
    // The only owner can neither step down nor leave.
    const asOwner = await as(owner);
    const down = await hit(asOwner, 'PATCH', `${Z}/members/${owner}`, { body: { role: 'admin' } });
    expect([down.status, down.code]).toEqual([409, 'CONFLICT']);
    const leave = await hit(asOwner, 'DELETE', `${Z}/members/${owner}`);
    expect([leave.status, leave.code]).toEqual([409, 'CONFLICT']);
    expect((await auth.store.listMembers(z.id)).find((m) => m.userId === owner)?.role).toBe(
      'owner',
    );
  });
});

describe('a viewer running a saved view', () => {
  it('cannot turn it into an ad-hoc query with a body of their own', async () => {
    const view = newId('view');
    await auth.store.createView({
      id: view,
      projectId: world.projectA,
      name: 'signups',
      query: { kind: 'trends', from: '-6d', to: 'today', series: [{ event: 'Signup' }] },
      createdBy: world.usersX.analyst,
      createdAtMs: auth.now(),
    });
    const viewer = await as(world.usersX.viewer);
    const plain = await hit(viewer, 'POST', `${A()}/views/${view}/run`);
    expect(plain.status, plain.text).toBe(200);
    for (const body of [
      { kind: 'event_properties', from: weekAgo, to: today },
      { query: { kind: 'trends', series: [{ event: 'Purchase' }], breakdown: 'distinct_id' } },
      { breakdown: 'distinct_id', filters: [{ property: 'plan', op: 'eq', value: 'free' }] },
    ]) {
      const res = await hit(viewer, 'POST', `${A()}/views/${view}/run`, { body });
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(res.json, JSON.stringify(body)).toEqual(plain.json);
    }
    // And the ad-hoc route stays closed to them, in every format.
    for (const accept of [undefined, 'text/csv']) {
      const res = await hit(viewer, 'POST', `${A()}/query`, {
        body: { kind: 'event_names' },
        ...(accept ? { accept } : {}),
      });
      expect([res.status, res.code]).toEqual([403, 'AUTH_FORBIDDEN']);
    }
  });
});

describe('an invitation taken back', () => {
  const PASSWORD = 'a long passphrase the stranger chose 2026';

  /** An owner of a fresh organisation invites `email` as an admin; answers the link and id. */
  async function invited(email: string) {
    const z = await mintOrg(auth, `Org of ${email}`);
    const owner = await mintMember(auth, z.id, 'owner', `owner-of-${email}`);
    const asOwner = await as(owner);
    const made = await hit(asOwner, 'POST', `/api/v1/orgs/${z.id}/invitations`, {
      body: { email, role: 'admin' },
    });
    expect(made.status, made.text).toBe(201);
    return { orgId: z.id, asOwner, link: made.json.link as string, id: made.json.id as string };
  }

  /** Whoever holds the link finishes the setup with an authenticator app. */
  async function finish(link: string): Promise<{ accept: number; complete: ApiAnswer | null }> {
    const stranger = new AccountClient(s.server.url, origin);
    const accepted = await stranger.accept(link, PASSWORD);
    if (accepted.status !== 200) return { accept: accepted.status, complete: null };
    const setupToken = accepted.body.setup_token as string;
    const started = await stranger.call('POST', '/api/v1/auth/setup/totp', {
      setup_token: setupToken,
    });
    if (started.status !== 200) return { accept: accepted.status, complete: started };
    const complete = await stranger.call('POST', '/api/v1/auth/setup/complete', {
      setup_token: setupToken,
      method: 'totp',
      code: await totpCode(started.body.secret as string, Date.now()),
    });
    return { accept: accepted.status, complete };
  }

  it('withdrawn after the stranger opened the link: the setup does not join the organisation', async () => {
    const email = 'mistyped-admin@x.example';
    const inv = await invited(email);
    const stranger = new AccountClient(s.server.url, origin);
    const accepted = await stranger.accept(inv.link, PASSWORD);
    expect(accepted.status).toBe(200);
    // The owner sees the mistake and withdraws the invitation.
    const withdrawn = await hit(
      inv.asOwner,
      'DELETE',
      `/api/v1/orgs/${inv.orgId}/invitations/${inv.id}`,
    );
    expect(withdrawn.status, withdrawn.text).toBe(204);
    const setupToken = accepted.body.setup_token as string;
    const started = await stranger.call('POST', '/api/v1/auth/setup/totp', {
      setup_token: setupToken,
    });
    const complete =
      started.status === 200
        ? await stranger.call('POST', '/api/v1/auth/setup/complete', {
            setup_token: setupToken,
            method: 'totp',
            code: await totpCode(started.body.secret as string, Date.now()),
          })
        : started;
    expect([complete.status, (complete.body as { error?: { code?: string } }).error?.code]).toEqual(
      [400, 'AUTH_TOKEN_INVALID'],
    );
    const account = await auth.store.findUserByEmail(email);
    const memberships = account ? await auth.store.listMemberships(account.id) : [];
    expect(memberships).toEqual([]);
  });

  it('created by a person detection then suspends: the planted link joins nobody', async () => {
    // A phished admin invites an address the attacker holds, in each of their organisations,
    // and the attacker opens one link at once; then detection suspends the admin.
    const z = await mintOrg(auth, 'Org of a phished admin');
    const phished = await mintMember(auth, z.id, 'admin', 'phished-admin@z.example');
    await auth.store.putMembership({
      orgId: world.orgY,
      userId: phished,
      role: 'admin',
      createdAtMs: auth.now(),
      accessFromMs: null,
      suspended: null,
    });
    const asPhished = await as(phished);
    const links: string[] = [];
    for (const orgId of [z.id, world.orgY]) {
      const made = await hit(asPhished, 'POST', `/api/v1/orgs/${orgId}/invitations`, {
        body: { email: `planted-${orgId}@evil.example`, role: 'admin' },
      });
      expect(made.status, made.text).toBe(201);
      links.push(made.json.link as string);
    }
    const early = new AccountClient(s.server.url, origin);
    const opened = await early.accept(links[0]!, PASSWORD);
    expect(opened.status).toBe(200);
    await responder().handle(trigger(`user:${phished}`, z.id, null));
    // The link opened before: its setup stops. The other one: refused at once.
    const started = await early.call('POST', '/api/v1/auth/setup/totp', {
      setup_token: opened.body.setup_token as string,
    });
    expect(started.status).toBe(400);
    const { accept } = await finish(links[1]!);
    expect(accept).toBe(400);
    for (const orgId of [z.id, world.orgY]) {
      const account = await auth.store.findUserByEmail(`planted-${orgId}@evil.example`);
      const memberships = account ? await auth.store.listMemberships(account.id) : [];
      expect(memberships, orgId).toEqual([]);
    }
  });

  it('sent by a member who is then removed: it joins nobody, and their keys and sessions stop', async () => {
    // An admin of X (their only organisation) plants a key and an invitation, then is removed.
    const admin = await mintMember(auth, world.orgX, 'admin', 'leaving-admin@x.example');
    const asAdmin = await as(admin);
    const key = await keyOf(world.projectA, ['query'], admin);
    const trends = { kind: 'trends', from: '-6d', to: 'today', series: [{ event: 'Signup' }] };
    const planted = await hit(asAdmin, 'POST', `${X()}/invitations`, {
      body: { email: 'sock-puppet@x.example', role: 'admin' },
    });
    expect(planted.status, planted.text).toBe(201);
    expect((await hit({ key: key.secret }, 'POST', `${A()}/query`, { body: trends })).status).toBe(
      200,
    );
    const removed = await hit(await as(world.usersX.owner), 'DELETE', `${X()}/members/${admin}`);
    expect(removed.status, removed.text).toBe(204);
    const read = await hit({ key: key.secret }, 'POST', `${A()}/query`, { body: trends });
    expect(read.status, read.text).toBe(401);
    expect((await hit(asAdmin, 'GET', '/api/v1/me')).status).toBe(401);
    const { accept, complete } = await finish(planted.json.link as string);
    expect([accept, complete?.status ?? null]).not.toContainEqual(200);
    const puppet = await auth.store.findUserByEmail('sock-puppet@x.example');
    expect(puppet ? await auth.store.listMemberships(puppet.id) : []).toEqual([]);
  });

  it('sent by an admin who is then made analyst: it joins nobody, and their keys stop', async () => {
    // Demoted, the admin may no longer make keys or invite: what that right made goes with it.
    const admin = await mintMember(auth, world.orgX, 'admin', 'demoted-admin@x.example');
    const asAdmin = await as(admin);
    const key = await keyOf(world.projectA, ['query', 'export'], admin);
    const trends = { kind: 'trends', from: '-6d', to: 'today', series: [{ event: 'Signup' }] };
    const planted = await hit(asAdmin, 'POST', `${X()}/invitations`, {
      body: { email: 'demoted-puppet@x.example', role: 'admin' },
    });
    expect(planted.status, planted.text).toBe(201);
    expect((await hit({ key: key.secret }, 'POST', `${A()}/query`, { body: trends })).status).toBe(
      200,
    );
    const demoted = await hit(await as(world.usersX.owner), 'PATCH', `${X()}/members/${admin}`, {
      body: { role: 'analyst' },
    });
    expect(demoted.status, demoted.text).toBe(204);
    const read = await hit({ key: key.secret }, 'POST', `${A()}/query`, { body: trends });
    expect(read.status, read.text).toBe(401);
    // The person still works here, as an analyst, with their own session.
    expect((await hit(asAdmin, 'POST', `${A()}/query`, { body: trends })).status).toBe(200);
    const { accept, complete } = await finish(planted.json.link as string);
    expect([accept, complete?.status ?? null]).not.toContainEqual(200);
    const puppet = await auth.store.findUserByEmail('demoted-puppet@x.example');
    expect(puppet ? await auth.store.listMemberships(puppet.id) : []).toEqual([]);
    // An admin made owner keeps what they made.
    const promoted = await mintMember(auth, world.orgX, 'admin', 'promoted-admin@x.example');
    const kept = await keyOf(world.projectA, ['query'], promoted);
    const up = await hit(await as(world.usersX.owner), 'PATCH', `${X()}/members/${promoted}`, {
      body: { role: 'owner' },
    });
    expect(up.status, up.text).toBe(204);
    expect((await hit({ key: kept.secret }, 'POST', `${A()}/query`, { body: trends })).status).toBe(
      200,
    );
  });

  it('for an owner, sent by an owner who is then made admin: it makes nobody an owner', async () => {
    // Admins cannot make owners (invite, promote); an owner made admin keeps inviting, but not the
    // owner invitations they sent as an owner: those would make an owner on their behalf.
    const z = await mintOrg(auth, 'Org demoting an owner');
    const Z = `/api/v1/orgs/${z.id}`;
    const keeper = await mintMember(auth, z.id, 'owner', 'keeper@demote.example');
    const demoted = await mintMember(auth, z.id, 'owner', 'demoted-owner@demote.example');
    const asDemoted = await as(demoted);
    const planted = await hit(asDemoted, 'POST', `${Z}/invitations`, {
      body: { email: 'owner-puppet@demote.example', role: 'owner' },
    });
    expect(planted.status, planted.text).toBe(201);
    const adminInvite = await hit(asDemoted, 'POST', `${Z}/invitations`, {
      body: { email: 'analyst-invitee@demote.example', role: 'analyst' },
    });
    expect(adminInvite.status, adminInvite.text).toBe(201);
    const down = await hit(await as(keeper), 'PATCH', `${Z}/members/${demoted}`, {
      body: { role: 'admin' },
    });
    expect(down.status, down.text).toBe(204);
    const { accept, complete } = await finish(planted.json.link as string);
    expect([accept, complete?.status ?? null]).not.toContainEqual(200);
    const puppet = await auth.store.findUserByEmail('owner-puppet@demote.example');
    expect(puppet ? await auth.store.listMemberships(puppet.id) : []).toEqual([]);
    // The invitation an admin may send stays open.
    const open = await hit(await as(keeper), 'GET', `${Z}/invitations`);
    expect(open.json.invitations.map((i: { email: string }) => i.email)).toEqual([
      'analyst-invitee@demote.example',
    ]);
  });

  it('open when the organisation is locked down: the link no longer joins it', async () => {
    const email = 'planted-admin@x.example';
    const inv = await invited(email);
    const locked = await hit(inv.asOwner, 'POST', `/api/v1/orgs/${inv.orgId}/lockdown`);
    expect(locked.status, locked.text).toBe(200);
    const { accept, complete } = await finish(inv.link);
    expect([accept, complete?.status ?? null]).not.toContainEqual(200);
    const account = await auth.store.findUserByEmail(email);
    const memberships = account ? await auth.store.listMemberships(account.id) : [];
    expect(memberships).toEqual([]);
  });
});

describe('a reset whose link the admin saw', () => {
  const PASSWORD = 'the admin chose this for the victim 2026';
  it('cannot be laundered by removing the held member and inviting the account again', async () => {
    // No SMTP: the reset link is shown to the admin, and the membership stays on hold until the
    // operator confirms the person. A hostile admin uses the link themselves...
    const z = await mintOrg(auth, 'Org with a hostile admin');
    await mintMember(auth, z.id, 'owner', 'owner@hostile.example');
    const admin = await mintMember(auth, z.id, 'admin', 'admin@hostile.example');
    const victimEmail = 'victim@hostile.example';
    const victim = await mintMember(auth, z.id, 'analyst', victimEmail);
    const Z = `/api/v1/orgs/${z.id}`;
    const asAdmin = await as(admin);
    const reset = await hit(asAdmin, 'POST', `${Z}/members/${victim}/reset`);
    expect([reset.status, reset.json.delivery], reset.text).toEqual([201, 'shown']);
    const impostor = new AccountClient(s.server.url, origin);
    const { answer } = await impostor.setUpWithTotp(
      reset.json.link as string,
      PASSWORD,
      Date.now(),
    );
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const held = await impostor.call('GET', `${Z}`);
    expect(held.status).toBe(403);
    // ...then removes the held membership and invites the (now impostor-held) account again.
    const removed = await hit(asAdmin, 'DELETE', `${Z}/members/${victim}`);
    expect(removed.status, removed.text).toBe(204);
    const again = await hit(asAdmin, 'POST', `${Z}/invitations`, {
      body: { email: victimEmail, role: 'analyst' },
    });
    if (again.status === 201) {
      await impostor.call('POST', '/api/v1/auth/invitations/accept', {
        token: linkToken(again.json.link as string),
      });
    }
    // Whatever was answered, the account the admin set up does not reach the organisation.
    const reach = await impostor.call('GET', `${Z}`);
    expect(reach.status).not.toBe(200);
    const unheld = (await auth.store.listMemberships(victim)).filter(
      (m) => m.orgId === z.id && m.suspended === null,
    );
    expect(unheld).toEqual([]);
  });
});

describe('a session from before a member was removed', () => {
  it('does not reach the organisation again when the person is invited back', async () => {
    const z = await mintOrg(auth, 'Org re-adding a member');
    const owner = await mintMember(auth, z.id, 'owner', 'owner@readd.example');
    const email = 'laptop-lost@readd.example';
    const member = await mintMember(auth, z.id, 'analyst', email);
    // A member of another organisation too: their sessions outlive the removal (in an only
    // organisation they end, the test above).
    const other = await mintOrg(auth, 'Another organisation of the member');
    await auth.store.putMembership({
      orgId: other.id,
      userId: member,
      role: 'viewer',
      createdAtMs: auth.now(),
      accessFromMs: null,
      suspended: null,
    });
    const Z = `/api/v1/orgs/${z.id}`;
    // The member's laptop, with a live session, is lost; the owner removes the member at once.
    const stolen = await mintSession(auth, member);
    expect((await hit({ session: stolen }, 'GET', Z)).status).toBe(200);
    const asOwner = await as(owner);
    expect((await hit(asOwner, 'DELETE', `${Z}/members/${member}`)).status).toBe(204);
    expect((await hit({ session: stolen }, 'GET', Z)).status).toBe(404);
    // Later the owner invites the person back, who signs in on a new device and accepts.
    const invited = await hit(asOwner, 'POST', `${Z}/invitations`, {
      body: { email, role: 'analyst' },
    });
    expect(invited.status, invited.text).toBe(201);
    await new Promise((r) => setTimeout(r, 5));
    const fresh = await mintSession(auth, member);
    const accepted = await hit({ session: fresh }, 'POST', '/api/v1/auth/invitations/accept', {
      body: { token: linkToken(invited.json.link as string) },
    });
    expect([accepted.status, accepted.json.status], accepted.text).toEqual([200, 'joined']);
    expect((await hit({ session: fresh }, 'GET', Z)).status).toBe(200);
    const old = await hit({ session: stolen }, 'GET', Z);
    expect([old.status, old.code]).toEqual([401, 'AUTH_ORG_ACCESS_ENDED']);
  });
});
