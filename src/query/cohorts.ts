// Cohorts: saved sets of users defined by behaviour ("did event X at least N times in the last D
// days") and person properties. The public definition (zod, validated at the edge and again when
// read back from storage) and its typed form. The SQL listing a cohort's members is in
// compile.ts ("Cohorts"), the reference's in reference.ts.
import { z } from 'zod';
import { AppError } from '../shared/errors.js';
import {
  COHORT_PROPERTY,
  filterSchema,
  profilePropertyOf,
  type Filter,
  type FieldIssue,
} from './model.js';

export type CountOp = 'gte' | 'lte' | 'eq';

/** One condition on a user. */
export type CohortCondition =
  | {
      kind: 'did_event';
      event: string;
      /** On the event's own properties (standard columns and the bag). */
      filters: Filter[];
      countOp: CountOp;
      count: number;
      /** The events counted are those in [now − withinDays days, now]. */
      withinDays: number;
    }
  | {
      kind: 'person_property';
      /** A filter on `person.<key>`: the user's current profile. */
      filter: Filter;
    };

export interface CohortDefinition {
  match: 'all' | 'any';
  conditions: CohortCondition[];
}

/** A saved cohort (MetaStore). `definition` is the public JSON, validated again on read. */
export interface CohortRecord {
  id: string;
  projectId: string;
  name: string;
  definition: CohortDefinitionJson;
  createdBy: string;
  createdAtMs: number;
  updatedAtMs: number;
}

export const MAX_COHORT_DAYS = 3660;
export const MAX_COHORT_CONDITIONS = 20;

const eventFilters = z
  .array(filterSchema)
  .max(20)
  .default([])
  .superRefine((list, ctx) => {
    list.forEach((f, i) => {
      if (f.property === COHORT_PROPERTY || profilePropertyOf(f.property) !== null)
        ctx.addIssue({
          code: 'custom',
          path: [i, 'property'],
          message: 'a did_event condition filters on event properties only',
        });
    });
  });

const didEvent = z.strictObject({
  kind: z.literal('did_event'),
  event: z.string().min(1).max(255),
  filters: eventFilters,
  count_op: z.enum(['gte', 'lte', 'eq'], { error: 'must be one of gte, lte, eq' }).default('gte'),
  count: z.number().int().min(0).max(1_000_000).default(1),
  within_days: z.number().int().min(1).max(MAX_COHORT_DAYS),
});

const personProperty = z
  .strictObject({
    kind: z.literal('person_property'),
    property: z.string().min(1).max(255),
    op: z.string(),
    value: z.unknown().optional(),
  })
  .transform((c, ctx) => {
    const key = c.property.startsWith('person.') ? c.property.slice('person.'.length) : c.property;
    const parsed = filterSchema.safeParse({
      property: `person.${key}`,
      op: c.op,
      ...(c.value === undefined ? {} : { value: c.value }),
    });
    if (!parsed.success) {
      for (const issue of parsed.error.issues)
        ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
      return z.NEVER;
    }
    return { ...c, property: key };
  });

/** The public definition: `{"match":"all|any","conditions":[…]}`. */
export const cohortDefinitionSchema = z.strictObject({
  match: z.enum(['all', 'any'], { error: 'must be all or any' }).default('all'),
  conditions: z
    .array(z.discriminatedUnion('kind', [didEvent, personProperty]), {
      error: 'must be a list of conditions',
    })
    .min(1, { error: 'needs at least one condition' })
    .max(MAX_COHORT_CONDITIONS, { error: `at most ${MAX_COHORT_CONDITIONS} conditions` }),
});

export type CohortDefinitionJson = z.output<typeof cohortDefinitionSchema>;

/** The typed definition of validated public JSON. */
export function cohortDefinitionOf(json: CohortDefinitionJson): CohortDefinition {
  return {
    match: json.match,
    conditions: json.conditions.map((c): CohortCondition => {
      if (c.kind === 'did_event')
        return {
          kind: 'did_event',
          event: c.event,
          filters: c.filters,
          countOp: c.count_op,
          count: c.count,
          withinDays: c.within_days,
        };
      return {
        kind: 'person_property',
        filter: filterSchema.parse({
          property: `person.${c.property}`,
          op: c.op,
          ...(c.value === undefined ? {} : { value: c.value }),
        }),
      };
    }),
  };
}

/** Validates a definition (HTTP body or stored JSON); the error lists each wrong field. */
export function parseCohortDefinition(value: unknown): {
  json: CohortDefinitionJson;
  definition: CohortDefinition;
} {
  const parsed = cohortDefinitionSchema.safeParse(value);
  if (!parsed.success) {
    const details: FieldIssue[] = parsed.error.issues.slice(0, 10).map((i) => ({
      path: i.path.map(String).join('.'),
      message: i.message,
    }));
    throw new AppError(
      'REQUEST_INVALID',
      `invalid cohort: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`,
      { details },
    );
  }
  return { json: parsed.data, definition: cohortDefinitionOf(parsed.data) };
}

/** The cohorts a query uses, by id, and the instant their "last D days" end at. */
export interface CohortContext {
  nowMs: number;
  byId: ReadonlyMap<string, CohortDefinition>;
}

/** Port: where the engine reads cohort definitions (the MetaStore, through the runtime). */
export interface CohortSource {
  /** The definitions of those of `ids` that exist in the project. */
  definitions(projectId: string, ids: readonly string[]): Promise<Map<string, CohortDefinition>>;
  /** The instant cohorts are evaluated at; default the query's start (tests pin it). */
  now?(): number;
}
