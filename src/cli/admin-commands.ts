// What the admin socket can do on a running server; the CLI falls back to the same functions
// on a stopped one, so both paths behave identically.
import { z } from 'zod';
import { AppError } from '../shared/errors.js';
import { pseudonymsFor, type PseudonymMatch } from '../privacy/index.js';
import { importRecords } from '../ingest/file-import.js';
import {
  eraseSubject,
  getPolicy,
  policyHistory,
  privacyReport,
  revealSubject,
  setPolicy,
} from '../projects/privacy-operations.js';
import type { JsonValue } from '../ingest/records.js';
import type { Runtime } from './runtime.js';
import type { AdminHandlers } from './admin-socket.js';

const createProjectSchema = z.object({
  name: z.string().min(1).max(200),
  timezone: z.string().min(1).max(64).optional(),
});

/** Validates an IANA time zone name with the runtime's own tz database. */
export function assertTimezone(timezone: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
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
  return runtime.projects.create(parsed.data.name, { timezone: parsed.data.timezone });
}

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
export async function matchPseudonyms(runtime: Runtime, body: unknown): Promise<PseudonymMatch[]> {
  const parsed = pseudonymSchema.safeParse(body);
  if (!parsed.success)
    throw new AppError('QUERY_INVALID', 'expected a project id and a list of ids');
  const project = await runtime.projects.byId(parsed.data.projectId);
  if (!project) throw new AppError('PROJECT_NOT_FOUND', 'no such project');
  return pseudonymsFor(project.keyring, parsed.data.ids, parsed.data.groupKey);
}

export function adminHandlers(runtime: Runtime): AdminHandlers {
  return {
    ping: () => Promise.resolve({ ok: true }),
    pseudonyms: (body) => matchPseudonyms(runtime, body),
    'privacy-report': (body) => {
      const b = z
        .object({ projectId: z.string(), from: z.string().optional(), to: z.string().optional() })
        .parse(body);
      return privacyReport(runtime, b.projectId, b);
    },
    'privacy-erase': (body) => {
      const b = z.object({ projectId: z.string(), user: z.string() }).parse(body);
      return eraseSubject(runtime, b.projectId, b.user);
    },
    'privacy-reveal': (body) => {
      const b = z.object({ projectId: z.string(), user: z.string() }).parse(body);
      return revealSubject(runtime, b.projectId, b.user);
    },
    'policy-get': (body) =>
      getPolicy(runtime, z.object({ projectId: z.string() }).parse(body).projectId),
    'policy-set': (body) => {
      const b = z
        .object({ projectId: z.string(), policy: z.unknown(), actor: z.string() })
        .parse(body);
      return setPolicy(runtime, b.projectId, b.policy, b.actor);
    },
    'policy-history': (body) =>
      policyHistory(runtime, z.object({ projectId: z.string() }).parse(body).projectId),
    'project-create': (body) => createProject(runtime, body),
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
