// Privacy operations on a project, shared by the HTTP API and the CLI: the privacy report, the
// policy (every change recorded with who made it), subject erasure and the retention job.
import type { Actor, AuditPort } from '../audit/types.js';
import {
  DEFAULT_POLICY,
  describeLoosenings,
  parsePrivacyPolicy,
  pseudonymsFor,
  type PrivacyPolicy,
  type PseudonymMatch,
} from '../privacy/index.js';
import { AppError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { EventStore, MetaStore, PolicyChange } from '../store/types.js';
import type { ProjectDirectory } from './index.js';
import type { VaultService } from './vault.js';
import type { JsonObject } from '../shared/json.js';

export interface PrivacyOperationsDeps {
  projects: ProjectDirectory;
  events: EventStore;
  meta: MetaStore;
  vault: VaultService;
  /** Reveals, look-ups, erasures and policy changes are recorded here (fail closed). */
  audit: AuditPort;
}

/** The operator at the server's console (the CLI, directly or through the admin socket). */
export const CLI_ACTOR: Actor = { actor: 'cli', source: { kind: 'cli' } };

/** The privacy report: what the pipeline caught, by property and kind, over time. */
export interface PrivacyReportView {
  project_id: string;
  from: string;
  to: string;
  policy: PrivacyPolicy;
  /** How the policy is looser than the safe default, in words. */
  loosenings: string[];
  totals: { property: string; kind: string; count: number }[];
  by_day: { day: string; property: string; kind: string; count: number }[];
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

async function requireProject(deps: PrivacyOperationsDeps, projectId: string) {
  const project = await deps.projects.byId(projectId);
  if (!project) throw new AppError('PROJECT_NOT_FOUND', 'no such project');
  return project;
}

/** Builds the privacy report for [from, to] (UTC days, inclusive; default the last 30 days). */
export async function privacyReport(
  deps: PrivacyOperationsDeps,
  projectId: string,
  range: { from?: string; to?: string } = {},
): Promise<PrivacyReportView> {
  const project = await requireProject(deps, projectId);
  const to = range.to ?? isoDay(Date.now());
  const from = range.from ?? isoDay(Date.parse(to) - 29 * 86_400_000);
  if (
    !DAY.test(from) ||
    !DAY.test(to) ||
    Number.isNaN(Date.parse(from)) ||
    Number.isNaN(Date.parse(to))
  ) {
    throw new AppError('QUERY_INVALID', 'from and to must be dates as YYYY-MM-DD');
  }
  if (from > to) throw new AppError('QUERY_INVALID', 'from must not be after to');
  const rows = await deps.events.privacyCounts(projectId, from, to);
  const totals = new Map<string, { property: string; kind: string; count: number }>();
  for (const row of rows) {
    const key = `${row.property}\u0000${row.kind}`;
    const t = totals.get(key) ?? { property: row.property, kind: row.kind, count: 0 };
    t.count += row.count;
    totals.set(key, t);
  }
  return {
    project_id: projectId,
    from,
    to,
    policy: project.policy,
    loosenings: describeLoosenings(project.policy),
    totals: [...totals.values()].sort(
      (a, b) => b.count - a.count || (a.property < b.property ? -1 : 1),
    ),
    by_day: rows.map(({ day, property, kind, count }) => ({ day, property, kind, count })),
  };
}

/** Reads the effective policy. */
export async function getPolicy(
  deps: PrivacyOperationsDeps,
  projectId: string,
): Promise<PrivacyPolicy> {
  return (await requireProject(deps, projectId)).policy;
}

/**
 * Replaces a project's policy. The change (before, after, who, when) is recorded in the same
 * transaction; the response lists the ways the new policy is looser than the default.
 */
export async function setPolicy(
  deps: PrivacyOperationsDeps,
  projectId: string,
  input: unknown,
  actor: string,
  source: Actor['source'] = { kind: 'cli' },
): Promise<{ policy: PrivacyPolicy; loosenings: string[]; new_loosenings: string[] }> {
  await requireProject(deps, projectId);
  const parsed = parsePrivacyPolicy(input);
  if (!parsed.ok) throw new AppError('QUERY_INVALID', `invalid policy: ${parsed.error}`);
  const before = await deps.meta.getPolicy(projectId);
  const after = JSON.parse(JSON.stringify(parsed.value)) as PolicyChange['after'];
  await deps.meta.setPolicy(projectId, after, {
    projectId,
    actor,
    atMs: Date.now(),
    before: before ?? (JSON.parse(JSON.stringify(DEFAULT_POLICY)) as PolicyChange['after']),
    after,
  });
  deps.projects.invalidate(projectId);
  const loosenings = describeLoosenings(parsed.value);
  const parsedBefore = before === null ? null : parsePrivacyPolicy(before);
  const previous = new Set(parsedBefore?.ok ? describeLoosenings(parsedBefore.value) : []);
  await deps.audit.record({
    kind: 'privacy_policy_changed',
    actor,
    projectId,
    source,
    detail: { policy: after, loosenings },
  });
  return {
    policy: parsed.value,
    loosenings,
    // What this change loosened: every owner is told (the caller notifies).
    new_loosenings: loosenings.filter((l) => !previous.has(l)),
  };
}

/** The record of policy changes, oldest first. */
export async function policyHistory(
  deps: PrivacyOperationsDeps,
  projectId: string,
): Promise<PolicyChange[]> {
  await requireProject(deps, projectId);
  return deps.meta.listPolicyChanges(projectId);
}

/**
 * Erases one subject, named by the raw id the customer knows (never stored): its pseudonym is
 * computed under every key version, then its events, profile and identity links are deleted.
 */
export async function eraseSubject(
  deps: PrivacyOperationsDeps,
  projectId: string,
  rawUserId: string,
  by: Actor = CLI_ACTOR,
): Promise<{ pseudonyms: string[]; events_deleted: number; vault_key_deleted: boolean }> {
  const project = await requireProject(deps, projectId);
  if (rawUserId === '') throw new AppError('QUERY_INVALID', 'the user id must not be empty');
  const pseudonyms = project.keyring
    .all('pseudonym')
    .map((k) => project.pseudonymiserFor(k.version)(rawUserId));
  let deleted = 0;
  let vaultKeyDeleted = false;
  for (const pseudonym of pseudonyms) {
    deleted += await deps.events.eraseSubject(projectId, pseudonym);
    // Deleting the subject's vault key makes every copy of its sealed PII unreadable.
    if (await deps.vault.erase(project, pseudonym)) vaultKeyDeleted = true;
  }
  await deps.audit.record({
    kind: 'erasure',
    actor: by.actor,
    projectId,
    source: by.source,
    sensitive: { user_id: rawUserId },
    // The erased person's pseudonyms are not written here: only the HMAC of the id asked for.
    detail: { events_deleted: deleted, vault_key_deleted: vaultKeyDeleted },
  });
  return { pseudonyms, events_deleted: deleted, vault_key_deleted: vaultKeyDeleted };
}

/**
 * Opens a subject's vault values (profile PII kept sealed when the policy enables the vault): a
 * sensitive read, released only once its audit entry is durable, whatever the path (API, CLI,
 * admin socket).
 */
export async function revealSubject(
  deps: PrivacyOperationsDeps,
  projectId: string,
  rawUserId: string,
  by: Actor,
): Promise<{ pseudonym: string; values: JsonObject }> {
  await deps.audit.admitRead({
    kind: 'reveal',
    actor: by.actor,
    projectId,
    source: by.source,
    sensitive: { user_id: rawUserId },
  });
  const project = await requireProject(deps, projectId);
  const pseudonym = project.pseudonymise(rawUserId);
  const values = await deps.vault.reveal(project, pseudonym);
  await deps.audit.record({
    kind: 'reveal',
    actor: by.actor,
    projectId,
    source: by.source,
    sensitive: { user_id: rawUserId },
    fields: Object.keys(values),
    rows: Object.keys(values).length > 0 ? 1 : 0,
    subjects: [pseudonym],
  });
  return { pseudonym, values };
}

/**
 * The pseudonyms of raw identifiers (finding named people in the data): recorded with the
 * identifiers as HMACs and the pseudonyms found, before the answer is released.
 */
export async function lookUpPseudonyms(
  deps: PrivacyOperationsDeps,
  projectId: string,
  ids: readonly string[],
  groupKey: string | undefined,
  by: Actor,
): Promise<PseudonymMatch[]> {
  await deps.audit.admitRead({
    kind: 'pseudonym_lookup',
    actor: by.actor,
    projectId,
    source: by.source,
    detail: { ids: ids.length, ...(groupKey ? { group_key: groupKey } : {}) },
  });
  const project = await requireProject(deps, projectId);
  const matches = pseudonymsFor(project.keyring, [...ids], groupKey);
  const subjects = new Set<string>();
  for (const m of matches) for (const p of m.pseudonyms) subjects.add(p.pseudonym);
  await deps.audit.record({
    kind: 'pseudonym_lookup',
    actor: by.actor,
    projectId,
    source: by.source,
    detail: { ids: ids.length, ...(groupKey ? { group_key: groupKey } : {}) },
    rows: matches.length,
    subjects,
  });
  return matches;
}

/** Deletes events older than each project's retention period; returns counts per project. */
export async function runRetention(
  deps: PrivacyOperationsDeps,
  logger: Logger,
  nowMs = Date.now(),
): Promise<{ projectId: string; deleted: number }[]> {
  const out: { projectId: string; deleted: number }[] = [];
  for (const record of await deps.meta.listProjects()) {
    const project = await deps.projects.byId(record.id);
    const days = project?.policy.retentionDays;
    if (!project || days === null || days === undefined) continue;
    const deleted = await deps.events.deleteEventsBefore(record.id, nowMs - days * 86_400_000);
    if (deleted > 0)
      logger.info('retention deleted events', { projectId: record.id, events: deleted });
    out.push({ projectId: record.id, deleted });
  }
  return out;
}
