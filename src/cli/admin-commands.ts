// What the admin socket can do on a running server; the CLI falls back to the same functions
// on a stopped one, so both paths behave identically.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '../shared/errors.js';
import type { PseudonymMatch } from '../privacy/index.js';
import {
  buildIncidentReport,
  verifyAuditLog,
  type Actor,
  type IncidentReport,
} from '../audit/index.js';
import { incidentDirectory, scopeOf } from '../http/routes/audit.js';
import { importRecords } from '../ingest/file-import.js';
import {
  eraseSubject,
  getPolicy,
  policyHistory,
  privacyReport,
  revealSubject,
  setPolicy,
  lookUpPseudonyms,
  CLI_ACTOR,
} from '../projects/privacy-operations.js';
import type { JsonValue } from '../ingest/records.js';
import type { Runtime } from './runtime.js';
import { isTimeZone } from '../query/clock.js';
import {
  createOrgWithOwner,
  lockDown,
  notifyProjectOwners,
  operatorConfirm,
  operatorReset,
} from '../auth/index.js';
import type { AdminHandlers } from './admin-socket.js';

const createProjectSchema = z.object({
  name: z.string().min(1).max(200),
  timezone: z.string().min(1).max(64).optional(),
  orgId: z.string().min(1).max(100).optional(),
});

/** Validates an IANA time zone name with the runtime's own tz database. */
export function assertTimezone(timezone: string): void {
  if (!isTimeZone(timezone)) {
    throw new AppError(
      'QUERY_INVALID',
      'unknown time zone (expected an IANA name such as Europe/Paris)',
    );
  }
}

/** Creates a project; shared by the admin socket and the offline CLI path. */
export async function createProject(runtime: Runtime, body: unknown) {
  const parsed = createProjectSchema.safeParse(body);
  if (!parsed.success) throw new AppError('QUERY_INVALID', 'project name must be 1–200 characters');
  if (parsed.data.timezone) assertTimezone(parsed.data.timezone);
  // The project joins the given organisation, or the only one there is; with none yet, it
  // joins the first organisation created (`sillage admin create`).
  const orgs = await runtime.auth.store.listOrgs();
  let orgId: string | null = null;
  if (parsed.data.orgId) {
    if (!orgs.some((o) => o.id === parsed.data.orgId)) {
      throw new AppError('ORG_NOT_FOUND', 'no such organisation (see `sillage org list`)');
    }
    orgId = parsed.data.orgId;
  } else if (orgs.length === 1) {
    orgId = orgs[0]?.id ?? null;
  } else if (orgs.length > 1) {
    throw new AppError('REQUEST_INVALID', 'several organisations exist: choose one with --org');
  }
  const created = await runtime.projects.create(parsed.data.name, {
    timezone: parsed.data.timezone,
  });
  if (orgId) await runtime.auth.store.setProjectOrg(created.project_id, orgId);
  return { ...created, org_id: orgId };
}

const adminCreateSchema = z.object({
  email: z.string().min(3).max(320),
  org: z.string().min(1).max(200),
});

/** `sillage admin create`: a new organisation and its first owner's single-use setup link. */
export async function adminCreate(runtime: Runtime, body: unknown) {
  const b = adminCreateSchema.parse(body);
  const created = await createOrgWithOwner(runtime.auth, b.email, b.org);
  return {
    org_id: created.orgId,
    setup_link: created.link,
    expires_at: new Date(created.expiresAtMs).toISOString(),
    adopted_projects: created.adoptedProjects,
  };
}

const accountSchema = z.object({
  email: z.string().min(3).max(320),
  proof: z.string().max(100).optional(),
});

/**
 * What the CLI sends to prove it holds the master key (the socket alone only proves access to
 * the data directory): HMAC-SHA256 of the command and e-mail under a key derived from it.
 */
export function operatorProof(operatorKey: Buffer, command: string, email: string): string {
  return createHmac('sha256', operatorKey).update(`${command}\n${email}`).digest('base64url');
}

function checkOperatorProof(
  runtime: Runtime,
  command: string,
  body: { email: string; proof?: string | undefined },
): void {
  const expected = Buffer.from(operatorProof(runtime.operatorKey, command, body.email));
  const given = Buffer.from(body.proof ?? '');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    throw new AppError(
      'AUTH_FORBIDDEN',
      'this command needs the master key (SILLAGE_MASTER_KEY or SILLAGE_MASTER_KEY_FILE)',
    );
  }
}

/**
 * `sillage admin reset --email E`: the instance operator resets any account, whatever
 * organisations it belongs to (an organisation may not when it is not the person's only one).
 */
export async function adminReset(runtime: Runtime, body: unknown) {
  const b = accountSchema.parse(body);
  checkOperatorProof(runtime, 'admin-reset', b);
  const done = await operatorReset(runtime.auth, b.email);
  return {
    setup_link: done.link,
    expires_at: new Date(done.expiresAtMs).toISOString(),
    emailed: done.emailed,
  };
}

/** `sillage admin confirm --email E`: lifts the suspension left by a reset whose link an admin saw. */
export async function adminConfirm(runtime: Runtime, body: unknown) {
  const b = accountSchema.parse(body);
  checkOperatorProof(runtime, 'admin-confirm', b);
  const done = await operatorConfirm(runtime.auth, b.email);
  return { confirmed_orgs: done.confirmed };
}

/** Organisations with their member and project counts. */
export async function listOrgs(runtime: Runtime) {
  const out = [];
  for (const org of await runtime.auth.store.listOrgs()) {
    out.push({
      id: org.id,
      name: org.name,
      members: (await runtime.auth.store.listMembers(org.id)).length,
      projects: (await runtime.auth.store.listOrgProjects(org.id)).length,
      locked_down_at:
        org.lockedDownAtMs === null ? null : new Date(org.lockedDownAtMs).toISOString(),
    });
  }
  return out;
}

/** The lock-down from the server's own console (whoever holds the machine is an owner here). */
export async function orgLockdown(runtime: Runtime, body: unknown) {
  const b = z.object({ orgId: z.string().min(1) }).parse(body);
  if (!(await runtime.auth.store.getOrg(b.orgId))) {
    throw new AppError('ORG_NOT_FOUND', 'no such organisation (see `sillage org list`)');
  }
  return lockDown(runtime.auth, b.orgId, {
    userId: 'operator',
    label: 'the server operator (sillage org lockdown)',
  });
}

/** Off-box checkpoint copies the CLI read and sends along (`audit verify --checkpoints`). */
const outsideCheckpoints = z.object({
  checkpoints: z
    .array(
      z.object({
        seq: z.number().int(),
        hash: z.string(),
        atMs: z.number(),
        signature: z.string(),
        origin: z.string(),
      }),
    )
    .optional(),
});

const importSchema = z.object({
  projectId: z.string().min(1),
  records: z.array(z.unknown()).max(10_000),
  firstIndex: z.number().int().min(0),
});

/** Checks the project exists before an import starts. */
export async function assertProject(runtime: Runtime, projectId: string): Promise<void> {
  if (!(await runtime.projects.byId(projectId)))
    throw new AppError('PROJECT_NOT_FOUND', 'no such project');
}

const pseudonymSchema = z.object({
  projectId: z.string().min(1),
  ids: z.array(z.string()).max(100_000),
  groupKey: z.string().optional(),
});

/**
 * The key holder's way to find their own users among pseudonyms (to notify or erase them):
 * computes the pseudonym of each given id under every key version. Nothing is stored.
 */
export async function matchPseudonyms(
  runtime: Runtime,
  body: unknown,
  by: Actor = CLI_ACTOR,
): Promise<PseudonymMatch[]> {
  const parsed = pseudonymSchema.safeParse(body);
  if (!parsed.success)
    throw new AppError('QUERY_INVALID', 'expected a project id and a list of ids');
  return lookUpPseudonyms(
    runtime,
    parsed.data.projectId,
    parsed.data.ids,
    parsed.data.groupKey,
    by,
  );
}

const incidentSchema = z.object({
  key: z.string().optional(),
  user: z.string().optional(),
  session: z.string().optional(),
  network: z.string().optional(),
  org: z.string().optional(),
  from: z.string(),
  to: z.string(),
});

/** `sillage incident report`: the breach-impact report, from the console (all organisations). */
export async function incidentReport(
  runtime: Runtime,
  body: unknown,
  by: Actor = CLI_ACTOR,
): Promise<IncidentReport> {
  const parsed = incidentSchema.safeParse(body);
  if (!parsed.success) throw new AppError('REQUEST_INVALID', 'expected a scope, --from and --to');
  const b = parsed.data;
  const fromMs = Date.parse(b.from);
  const toMs = Date.parse(b.to);
  if (Number.isNaN(fromMs) || Number.isNaN(toMs))
    throw new AppError('REQUEST_INVALID', '--from and --to: ISO times such as 2026-11-01T00:00Z');
  return buildIncidentReport(
    runtime.audit,
    incidentDirectory(runtime.auth),
    scopeOf(b),
    { fromMs, toMs },
    b.org ?? null,
    by,
  );
}

/** The operator through the admin socket (the CLI talking to a running server). */
const SOCKET_ACTOR: Actor = { actor: 'cli', source: { kind: 'admin-socket' } };

export function adminHandlers(runtime: Runtime): AdminHandlers {
  return {
    ping: () => Promise.resolve({ ok: true }),
    pseudonyms: (body) => matchPseudonyms(runtime, body, SOCKET_ACTOR),
    'privacy-report': (body) => {
      const b = z
        .object({ projectId: z.string(), from: z.string().optional(), to: z.string().optional() })
        .parse(body);
      return privacyReport(runtime, b.projectId, b);
    },
    'privacy-erase': (body) => {
      const b = z.object({ projectId: z.string(), user: z.string() }).parse(body);
      return eraseSubject(runtime, b.projectId, b.user, SOCKET_ACTOR);
    },
    'privacy-reveal': (body) => {
      const b = z.object({ projectId: z.string(), user: z.string() }).parse(body);
      return revealSubject(runtime, b.projectId, b.user, SOCKET_ACTOR);
    },
    'policy-get': (body) =>
      getPolicy(runtime, z.object({ projectId: z.string() }).parse(body).projectId),
    'policy-set': async (body) => {
      const b = z
        .object({ projectId: z.string(), policy: z.unknown(), actor: z.string() })
        .parse(body);
      const result = await setPolicy(runtime, b.projectId, b.policy, b.actor, SOCKET_ACTOR.source);
      if (result.new_loosenings.length > 0) {
        await notifyProjectOwners(runtime.auth, b.projectId, 'privacy_loosened', {
          actor: b.actor,
          loosened: result.new_loosenings.join('; '),
        });
      }
      return result;
    },
    'policy-history': (body) =>
      policyHistory(runtime, z.object({ projectId: z.string() }).parse(body).projectId),
    'project-create': (body) => createProject(runtime, body),
    'admin-create': (body) => adminCreate(runtime, body),
    'admin-reset': (body) => adminReset(runtime, body),
    'admin-confirm': (body) => adminConfirm(runtime, body),
    'org-list': () => listOrgs(runtime),
    'org-lockdown': (body) => orgLockdown(runtime, body),
    'audit-verify': (body) =>
      verifyAuditLog(
        runtime.audit.store,
        runtime.audit.signer,
        outsideCheckpoints.parse(body ?? {}).checkpoints ?? [],
      ),
    'incident-report': (body) => incidentReport(runtime, body, SOCKET_ACTOR),
    'project-check': async (body) => {
      const parsed = z.object({ projectId: z.string() }).parse(body);
      await assertProject(runtime, parsed.projectId);
      return { ok: true };
    },
    'import-records': async (body) => {
      const parsed = importSchema.safeParse(body);
      if (!parsed.success) throw new AppError('INGEST_PAYLOAD_SHAPE', 'malformed import batch');
      await assertProject(runtime, parsed.data.projectId);
      return importRecords(
        runtime.pipeline,
        parsed.data.projectId,
        parsed.data.records as JsonValue[],
        parsed.data.firstIndex,
      );
    },
  };
}
