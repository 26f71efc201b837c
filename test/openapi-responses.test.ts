// Real answers against the response schemas the OpenAPI document declares: a real server (real
// DuckDB file, real Fastify) with events loaded, a call of every JSON route of /api/v1 (those the
// dashboard makes and the others: your account's factors and notices, organisations, policy
// history, pseudonyms, the document itself), and every answer validated with ajv (JSON Schema
// 2020-12, as OpenAPI 3.1 uses); the raw export is checked as the NDJSON it declares. The schemas allow no undeclared keys, so a field the server adds without declaring it
// fails here; so does a declared field it stops sending, or an error outside the envelope.
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../src/auth/totp.js';
import { SoftwareAuthenticator } from './helpers/authenticator.js';
import { buildWorld, call, FRESH_PASSKEY, mintSession, type Caller } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';
import { importWithPlans, startInProcess, type InProcess } from './helpers/inprocess.js';

interface Operation {
  operationId: string;
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
}

const DAY_MS = 86_400_000;
const day = (daysAgo: number): string =>
  new Date(Date.now() - daysAgo * DAY_MS).toISOString().slice(0, 10);

let s: InProcess;
let world: World;
let doc: Document;
let owner: Caller;
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });

beforeAll(async () => {
  s = await startInProcess();
  world = await buildWorld(s);
  owner = {
    kind: 'session',
    session: await mintSession(s.server.runtime.auth, world.usersX.owner, FRESH_PASSKEY),
  };
  const secs = (daysAgo: number) => Math.floor((Date.now() - daysAgo * DAY_MS) / 1000);
  const events = [
    ['Page View', 'alice', 3, { path: '/a' }],
    ['Sign Up', 'alice', 3, {}],
    ['Purchase', 'alice', 2, { amount: 12.5 }],
    ['Page View', 'bob', 2, { path: '/b' }],
    ['Purchase', 'bob', 1, { amount: 3 }],
    ['Page View', 'carol', 1, { path: '/a' }],
  ].map(([event, user, daysAgo, props], i) => ({
    event,
    properties: {
      distinct_id: user,
      $user_id: user,
      ...(props as object),
      time: secs(daysAgo as number),
      $insert_id: `r${i}`,
      token: s.project.token,
    },
  }));
  await importWithPlans(s, events, [
    ['alice', 'gold'],
    ['bob', 'free'],
  ]);
  doc = (await (await fetch(`${s.server.url}/api/v1/openapi.json`)).json()) as Document;
  // Each response schema is compiled with the document's components beside it, so that its
  // `#/components/schemas/…` references resolve.
  ajv.addSchema({ $id: 'sillage', components: doc.components });
});

afterAll(async () => {
  await s?.close();
});

/** The declared operation of `id`: its method, path template and responses. */
function operation(id: string): { method: string; path: string; op: Operation } {
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      if (op.operationId === id) return { method: method.toUpperCase(), path, op };
    }
  }
  throw new Error(`no operation ${id}`);
}

const validators = new Map<string, ReturnType<typeof ajv.compile>>();

/** Validates `body` against the schema declared for `status` (or `default`) of `op`. */
function problems(id: string, op: Operation, status: number, body: unknown): string[] {
  const declared = op.responses[String(status)] ?? op.responses.default;
  const schema = declared?.content?.['application/json']?.schema;
  if (!schema) return [`${id}: no JSON schema declared for ${status}`];
  const key = `${id} ${status}`;
  let validate = validators.get(key);
  if (!validate) {
    const rebased = JSON.parse(
      JSON.stringify(schema).replaceAll('"#/components/', '"sillage#/components/'),
    ) as object;
    validate = ajv.compile(rebased);
    validators.set(key, validate);
  }
  if (validate(body)) return [];
  return (validate.errors ?? []).map(
    (e) =>
      `${id} ${status}: ${e.instancePath || '(root)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`,
  );
}

/** Calls operation `id` (as the owner, or `as`) and checks the answer against its declaration. */
async function check(
  id: string,
  params: Record<string, string>,
  options: { body?: unknown; query?: Record<string, string>; expect?: number; as?: Caller } = {},
): Promise<unknown> {
  const { method, path, op } = operation(id);
  let url = path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`${id}: missing ${name}`);
    return encodeURIComponent(value);
  });
  if (options.query) url += `?${new URLSearchParams(options.query).toString()}`;
  const res = await call(s, options.as ?? owner, method, url, { body: options.body });
  const success = Object.keys(op.responses).find((k) => /^2\d\d$/.test(k));
  const status = options.expect ?? Number(success);
  expect(res.statusCode, `${id}: ${res.body.slice(0, 300)}`).toBe(status);
  if (status === 204) {
    expect(res.body).toBe('');
    expect(success).toBe('204');
    return undefined;
  }
  const body: unknown = res.json();
  expect(problems(id, op, status, body)).toEqual([]);
  return body;
}

describe('real answers match the OpenAPI response schemas', () => {
  const project = () => ({ projectId: world.projectA });
  const org = () => ({ orgId: world.orgX });

  it('accounts, organisations, projects and keys', async () => {
    await check('auth.session', {});
    await check('me.sessions', {});
    await check('orgs.members.list', org());
    await check('orgs.projects.list', org());
    await check('projects.get', project());
    const made = (await check('keys.create', project(), {
      body: { name: 'ci', scopes: ['query'] },
    })) as { key: { id: string } };
    await check('keys.list', project());
    await check('keys.rotate', { ...project(), keyId: made.key.id }, { body: {} });
    await check('orgs.invitations.create', org(), {
      body: { email: 'new@x.example', role: 'viewer' },
    });
  });

  it('every kind of report query, and discovery', async () => {
    const range = { from: day(10), to: day(0) };
    await check('query.run', project(), {
      body: {
        kind: 'trends',
        ...range,
        interval: 'day',
        series: [{ event: 'Purchase', math: 'total' }],
        breakdown: 'path',
        compare: 'previous_period',
      },
    });
    await check('query.run', project(), {
      body: {
        kind: 'trends',
        ...range,
        interval: 'day',
        series: [
          { event: 'Purchase', math: 'sum', property: 'amount' },
          { event: 'Purchase', math: 'unique_users' },
        ],
        formula: 'A / B',
      },
    });
    await check('query.run', project(), {
      body: {
        kind: 'funnel',
        ...range,
        steps: [{ event: 'Page View' }, { event: 'Purchase' }],
        window_seconds: 7 * 86_400,
        breakdown: 'person.plan',
        conversion_over_time: 'day',
      },
    });
    await check('query.run', project(), {
      body: {
        kind: 'retention',
        ...range,
        start_event: 'Page View',
        return_event: 'Purchase',
        period: 'day',
        periods: 3,
        breakdown: ['person.plan', 'path'],
      },
    });
    await check('query.run', project(), {
      body: {
        kind: 'flows',
        ...range,
        anchor: { event: 'Page View', direction: 'after' },
        steps: 2,
      },
    });
    await check('query.run', project(), {
      body: { kind: 'lifecycle', ...range, interval: 'day', event: 'Page View' },
    });
    await check('query.run', project(), {
      body: {
        kind: 'frequency',
        ...range,
        series: [{ event: 'Purchase' }, {}],
        per: 'week',
        breakdown: 'path',
        compare: 'previous_period',
      },
    });
    await check('query.events', project(), { query: range });
    await check('query.properties', project(), { query: { ...range, event: 'Purchase' } });
    await check('query.property-values', project(), { query: { ...range, property: 'path' } });
    await check('events.latest', project(), { query: { limit: '5' } });
  });

  it('views, cohorts and users', async () => {
    const view = (await check('views.create', project(), {
      body: {
        name: 'Purchases',
        query: {
          kind: 'trends',
          from: '-7d',
          to: 'today',
          series: [{ event: 'Purchase', math: 'unique_users' }],
        },
      },
    })) as { id: string };
    await check('views.list', project());
    await check('views.run', { ...project(), viewId: view.id });
    const cohort = (await check('cohorts.create', project(), {
      body: {
        name: 'Gold buyers',
        match: 'all',
        conditions: [
          {
            kind: 'did_event',
            event: 'Purchase',
            filters: [{ property: 'amount', op: 'gt', value: 1 }],
            within_days: 30,
          },
          { kind: 'person_property', property: 'plan', op: 'eq', value: 'gold' },
        ],
      },
    })) as { id: string };
    await check('cohorts.list', project());
    await check('cohorts.size', { ...project(), cohortId: cohort.id });
    // Users are known by their pseudonyms, as the live view shows them.
    const latest = (await check('events.latest', project())) as {
      events: { properties: { distinct_id: string } }[];
    };
    const userId = latest.events[0]?.properties.distinct_id ?? '';
    await check('users.get', { ...project(), userId });
    await check('users.events', { ...project(), userId }, { query: { limit: '2' } });
    await check('views.delete', { ...project(), viewId: view.id });
  });

  it('privacy, audit and the error envelope', async () => {
    await check('privacy.policy.get', project());
    await check('privacy.report', project());
    await check('privacy.erase', project(), { body: { user: 'carol' } });
    await check('audit.list', org(), { query: { limit: '20' } });
    await check('suspensions.list', org());
    await check('incidents.report', org(), {
      body: {
        user: 'owner@x.example',
        from: new Date(Date.now() - DAY_MS).toISOString(),
        to: new Date(Date.now() + 60_000).toISOString(),
      },
    });
    // Errors: a query the API refuses (with details) and a project that is not there.
    await check('query.run', project(), { body: { kind: 'trends' }, expect: 400 });
    await check('projects.get', { projectId: 'prj_missing' }, { expect: 404 });
  });
  it('your account, organisations, the rest of privacy, the export and the document', async () => {
    const auth = s.server.runtime.auth;
    const origin = new URL(auth.settings.publicUrl).origin;
    // Your account: a passkey added, new recovery codes, the notices they caused.
    const options = (await check('me.passkeys.options', {})) as {
      passkey: Parameters<SoftwareAuthenticator['createCredential']>[0];
    };
    await check(
      'me.passkeys.add',
      {},
      {
        body: {
          response: new SoftwareAuthenticator().createCredential(options.passkey, origin),
          label: 'laptop',
        },
      },
    );
    await check('me.recovery-codes', {});
    await check('me.get', {});
    const notices = (await check('me.notices', {})) as { notices: { title: string }[] };
    expect(notices.notices.length).toBeGreaterThan(0);
    // An authenticator app, by a member whose organisation does not require passkeys of them.
    const analyst: Caller = {
      kind: 'session',
      session: await mintSession(auth, world.usersX.analyst, FRESH_PASSKEY),
    };
    const totp = (await check('me.totp.start', {}, { body: { label: 'phone' }, as: analyst })) as {
      factor_id: string;
      secret: string;
    };
    await check(
      'me.totp.confirm',
      { factorId: totp.factor_id },
      { body: { code: await totpCode(totp.secret, Date.now()) }, as: analyst },
    );

    // Organisations.
    await check('orgs.list', {});
    await check('orgs.get', org());
    await check('orgs.policy.set', org(), {
      body: {
        require_passkeys: 'admins',
        allow_totp_step_up: false,
        session_idle_minutes: 30,
        session_absolute_hours: 12,
      },
    });
    await check('orgs.invitations.list', org());
    await check('orgs.members.reset', { ...org(), userId: world.usersX.viewer });

    // Privacy: a policy change to list, and pseudonyms of raw ids.
    await check('privacy.policy.set', project(), { body: { geo: 'country' } });
    const history = (await check('privacy.policy.history', project())) as { changes: unknown[] };
    expect(history.changes.length).toBeGreaterThan(0);
    await check('privacy.pseudonyms', project(), { body: { ids: ['alice', 'nobody'] } });

    // The raw export answers the NDJSON it declares, one event a line.
    const exported = operation('export.events');
    expect(Object.keys(exported.op.responses['200']?.content ?? {})).toEqual([
      'application/x-ndjson',
    ]);
    const res = await call(
      s,
      owner,
      'GET',
      `/api/v1/projects/${world.projectA}/export?from=${day(10)}&to=${day(0)}`,
    );
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    expect(res.headers['content-type']).toContain('application/x-ndjson');
    const lines = res.body.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(JSON.parse(l)).toHaveProperty('event');

    // The document describes itself.
    await check('openapi', {});
  });
});
