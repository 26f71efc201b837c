// Breakdowns as the report screens edit, send and show them: one property, a list of up to 3
// (event or person properties: each combination of values is a row), or saved cohorts (a row
// per cohort, and the users in none of them), alone or with up to 2 properties (a row per
// combination of a cohort and values).
import type { Breakdown, BreakdownKind, BreakdownValue } from '../api/types';

/** The API's limits (src/query/model.ts MAX_BREAKDOWN_PROPERTIES, MAX_BREAKDOWN_COHORTS). */
export const MAX_BREAKDOWN_PROPERTIES = 3;
export const MAX_BREAKDOWN_COHORTS = 10;

/** What a person-property breakdown names until its name is typed. */
export const PERSON = 'person.';

/**
 * A breakdown as edited: properties in order ('' or `person.` while one is being chosen; none
 * is no breakdown), or the ids of the cohorts compared and the properties combined with them
 * (the picker's rows after the cohorts' one).
 */
export type BreakdownState =
  | { by: 'properties'; properties: string[] }
  | { by: 'cohorts'; cohorts: string[]; properties: string[] };

export const NO_BREAKDOWN: BreakdownState = { by: 'properties', properties: [] };

/** The breakdown select's choice of saved cohorts. */
export const COHORTS_CHOICE = 'cohort';

/**
 * The breakdown once row `i`'s select (or person property name) is `choice`: a property name,
 * `person.<name>`, '' (none on the first row, not chosen yet on the others) or COHORTS_CHOICE.
 */
export function chooseBreakdown(state: BreakdownState, i: number, choice: string): BreakdownState {
  // Cohorts start alone ("Add a breakdown property" combines properties with them).
  if (choice === COHORTS_CHOICE)
    return state.by === 'cohorts' ? state : { by: 'cohorts', cohorts: [], properties: [] };
  if (i === 0 && choice === '') return NO_BREAKDOWN;
  if (state.by === 'cohorts') {
    if (i === 0) return { by: 'properties', properties: [choice, ...state.properties] };
    const properties = [...state.properties];
    properties[i - 1] = choice;
    return { ...state, properties };
  }
  const properties = [...state.properties];
  properties[i] = choice;
  return { by: 'properties', properties };
}

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

/** Settings kept by an earlier version (one property name, '' for none) or now. */
export function breakdownStateOf(value: unknown): BreakdownState {
  if (typeof value === 'string')
    return value === '' ? NO_BREAKDOWN : { by: 'properties', properties: [value] };
  if (typeof value !== 'object' || value === null) return NO_BREAKDOWN;
  const v = value as Record<string, unknown>;
  if (v.by === 'cohorts')
    return {
      by: 'cohorts',
      cohorts: strings(v.cohorts),
      properties: strings(v.properties).slice(0, MAX_BREAKDOWN_PROPERTIES - 1),
    };
  if (v.by === 'properties')
    return {
      by: 'properties',
      properties: strings(v.properties).slice(0, MAX_BREAKDOWN_PROPERTIES),
    };
  return NO_BREAKDOWN;
}

/**
 * The breakdown as the API wants it, or undefined for none. Half-chosen properties are left out;
 * one property is sent as its name (rows keep text values, as before lists existed), several as
 * a list; one cohort as its id, several as a list; cohorts with properties as a list whose first
 * entry is the cohorts (`[{"cohort": …}, "source"]`).
 */
export function breakdownBody(value: unknown): Breakdown | undefined {
  const s = breakdownStateOf(value);
  const names = [...new Set(s.properties.filter((p) => p !== '' && p !== PERSON))];
  if (s.by === 'cohorts') {
    const ids = [...new Set(s.cohorts.filter((c) => c !== ''))].slice(0, MAX_BREAKDOWN_COHORTS);
    if (ids.length === 0) return undefined;
    const cohort = { cohort: ids.length === 1 ? (ids[0] ?? '') : ids };
    return names.length === 0 ? cohort : [cohort, ...names.slice(0, MAX_BREAKDOWN_PROPERTIES - 1)];
  }
  if (names.length === 0) return undefined;
  return names.length === 1 ? names[0] : names.slice(0, MAX_BREAKDOWN_PROPERTIES);
}

const isCohortBreakdown = (b: Breakdown | undefined): b is { cohort: string | string[] } =>
  typeof b === 'object' && !Array.isArray(b);

/** A breakdown's name in headings and captions: "source", "source / person.plan", "cohort". */
export function breakdownTitle(b: Breakdown | undefined): string {
  if (b === undefined) return 'breakdown value';
  if (typeof b === 'string') return b;
  if (Array.isArray(b)) return b.map((d) => (typeof d === 'string' ? d : 'cohort')).join(' / ');
  return 'cohort';
}

/** Names a row of a breakdown's answer. */
export type SegmentNamer = (kind: BreakdownKind, value: BreakdownValue) => string;

/**
 * The namer of the rows of `breakdown`'s answer: a list's values joined with " / " ("(not set)"
 * for a property a row lacks; a cohort by its name, "In none of these cohorts" where the user is
 * in none), a cohort by its name (its id if it is gone), "Other values" for the rows past the
 * limit, and "(not set)" — for cohorts alone, "In none of these cohorts".
 */
export function segmentNamer(
  breakdown: Breakdown | undefined,
  cohorts: readonly { id: string; name: string }[] = [],
): SegmentNamer {
  const byCohort = isCohortBreakdown(breakdown);
  const cohortAt = Array.isArray(breakdown)
    ? breakdown.findIndex((d) => typeof d !== 'string')
    : -1;
  const cohortName = (id: string): string => cohorts.find((c) => c.id === id)?.name ?? id;
  return (kind, value) => {
    if (kind === 'other') return 'Other values';
    if (kind === 'not_set') return byCohort ? 'In none of these cohorts' : '(not set)';
    if (kind === 'none') return 'All users';
    if (Array.isArray(value))
      return value
        .map((v, i) =>
          i === cohortAt
            ? v === null
              ? 'In none of these cohorts'
              : cohortName(v)
            : (v ?? '(not set)'),
        )
        .join(' / ');
    if (byCohort && value !== null) return cohortName(value);
    return value ?? '';
  };
}
