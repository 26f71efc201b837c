// Saved cohorts as a service (issue 12): create, list, read, replace and delete a project's
// cohorts, each definition validated (query/cohorts.ts) before it is stored; and the source the
// query engine reads cohort definitions from.
import { randomBytes } from 'node:crypto';
import type { JsonObject } from '../shared/json.js';
import {
  parseCohortDefinition,
  type CohortDefinition,
  type CohortDefinitionJson,
  type CohortSource,
} from '../query/cohorts.js';
import { refuseTypedPersonalData } from '../privacy/index.js';
import { AppError } from '../shared/errors.js';
import type { MetaStore, StoredCohort } from '../store/types.js';

/** What the API shows of a cohort. */
export interface CohortView {
  id: string;
  name: string;
  match: 'all' | 'any';
  /** As sent, with defaults filled in. */
  conditions: CohortDefinitionJson['conditions'];
  created_at: string;
  updated_at: string;
}

export function cohortView(c: StoredCohort): CohortView {
  const { json } = parseCohortDefinition(c.definition);
  return {
    id: c.id,
    name: c.name,
    match: json.match,
    conditions: json.conditions,
    created_at: new Date(c.createdAtMs).toISOString(),
    updated_at: new Date(c.updatedAtMs).toISOString(),
  };
}

/** A cohort's name and definition, as sent. */
export interface CohortInput {
  name: string;
  match?: unknown;
  conditions?: unknown;
}

function definitionOf(input: CohortInput): JsonObject {
  const { json } = parseCohortDefinition({
    ...(input.match === undefined ? {} : { match: input.match }),
    conditions: input.conditions,
  });
  // Kept on disk: no e-mail, phone or card typed into its name or values (typed-input.ts).
  refuseTypedPersonalData({ name: input.name, conditions: json.conditions });
  return json as unknown as JsonObject;
}

export async function createCohort(
  meta: MetaStore,
  projectId: string,
  input: CohortInput,
  createdBy: string,
  nowMs: number,
): Promise<CohortView> {
  const cohort: StoredCohort = {
    id: `coh_${randomBytes(8).toString('hex')}`,
    projectId,
    name: input.name,
    definition: definitionOf(input),
    createdBy,
    createdAtMs: nowMs,
    updatedAtMs: nowMs,
  };
  await meta.putCohort(cohort);
  return cohortView(cohort);
}

export async function requireCohort(
  meta: MetaStore,
  projectId: string,
  id: string,
): Promise<StoredCohort> {
  const cohort = await meta.getCohort(projectId, id);
  if (!cohort) throw new AppError('NOT_FOUND', 'no such cohort in this project');
  return cohort;
}

export async function updateCohort(
  meta: MetaStore,
  projectId: string,
  id: string,
  input: CohortInput,
  nowMs: number,
): Promise<CohortView> {
  const old = await requireCohort(meta, projectId, id);
  const cohort: StoredCohort = {
    ...old,
    name: input.name,
    definition: definitionOf(input),
    updatedAtMs: nowMs,
  };
  await meta.putCohort(cohort);
  return cohortView(cohort);
}

export async function deleteCohort(meta: MetaStore, projectId: string, id: string): Promise<void> {
  if (!(await meta.deleteCohort(projectId, id)))
    throw new AppError('NOT_FOUND', 'no such cohort in this project');
}

/** The query engine's cohort source: the project's saved definitions (validated on read). */
export function cohortSource(meta: MetaStore): CohortSource {
  return {
    async definitions(projectId, ids) {
      const out = new Map<string, CohortDefinition>();
      for (const id of ids) {
        const stored = await meta.getCohort(projectId, id);
        if (stored) out.set(id, parseCohortDefinition(stored.definition).definition);
      }
      return out;
    },
  };
}
