// The shapes the dashboard reads from and sends to the API. What the API answers comes from the
// types generated from its OpenAPI document (schema.d.ts, `npm run generate:api`), named here for
// the screens; what the screens build (queries, filters, cohort conditions) is written here,
// narrower than the document allows, and the typed client (client.ts) checks it against the
// document's request bodies at compile time.
import type { components } from './schema';

type Schemas = components['schemas'];

export type Role = Schemas['Member']['role'];
export type AuthMethod = Schemas['StepUpDone']['method'];
export type KeyScope = Schemas['ApiKey']['scopes'][number];

export type SessionInfo = Schemas['Session'];
export type SignedIn = Schemas['SignedIn'];
export type LoginStarted = Schemas['LoginStarted'];
export type InvitationAccepted = Schemas['InvitationAccepted'];
export type SetupDone = Schemas['SetupDone'];
export type StepUpStarted = Schemas['StepUpStarted'];
export type StepUpDone = Schemas['StepUpDone'];
export type OrgMembership = SessionInfo['organisations'][number];
export type Project = Schemas['Project'];
export type OwnSession = Schemas['OwnSession'];
export type Account = Schemas['Account'];
export type Factor = Schemas['Factor'];
export type Notice = Schemas['Notice'];
export type Member = Schemas['Member'];
export type ApiKey = Schemas['ApiKey'];
export type View = Schemas['View'];
export type ViewCreated = Schemas['ViewCreated'];

// Query answers (src/query/format.ts).
export type TrendsSeries = Schemas['TrendsSeries'];
export type TrendsResult = Schemas['TrendsResult'];
export type FormulaResult = NonNullable<TrendsResult['formula']>;
/**
 * A breakdown row's value: a property's text, a cohort's id, or one entry per property of a list
 * breakdown (null where that property is not set); null for 'none', 'other' and 'not_set' rows.
 */
export type BreakdownValue = TrendsSeries['breakdown_value'];
export type BreakdownKind = TrendsSeries['breakdown_kind'];
export type TimeQuantiles = Schemas['TimeQuantiles'];
export type FunnelStep = Schemas['FunnelStep'];
export type FunnelResult = Schemas['FunnelResult'];
export type FunnelOverTime = NonNullable<FunnelResult['conversion_over_time']>;
export type RetentionCohort = Schemas['RetentionCohort'];
export type RetentionResult = Schemas['RetentionResult'];
export type FlowStep = Schemas['FlowStep'];
export type FlowsResult = Schemas['FlowsResult'];
export type LifecycleResult = Schemas['LifecycleResult'];
export type FrequencyResult = Schemas['FrequencyResult'];
export type FrequencySeries = Schemas['FrequencySeries'];
export type FrequencyPeriod = Schemas['FrequencyPeriod'];
export type EventNames = Schemas['EventNames'];
export type EventProperties = Schemas['EventProperties'];
export type PropertyValues = Schemas['PropertyValues'];
export type CohortSize = Schemas['CohortSize'];

// People, privacy, audit.
export type Cohort = Schemas['Cohort'];
export type UserProfile = Schemas['UserProfile'];
export type UserEvents = Schemas['UserEvents'];
export type PrivacyPolicy = Schemas['PrivacyPolicy'];
export type PolicySaved = Schemas['PolicySaved'];
export type Erased = Schemas['Erased'];
export type PrivacyReport = Schemas['PrivacyReport'];
export type LiveEvent = Schemas['LiveEvent'];
export type LivePage = Schemas['LivePage'];
export type AuditEntry = Schemas['AuditEntry'];
export type AuditPage = Schemas['AuditPage'];
export type Suspension = Schemas['Suspension'];
export type IncidentReport = Schemas['IncidentReport'];

// What the screens send (src/query/model.ts, src/query/cohorts.ts).
export type FilterOp =
  | 'eq'
  | 'neq'
  | 'in'
  | 'not_in'
  | 'contains'
  | 'not_contains'
  | 'gt'
  | 'gte'
  | 'lt'
  | 'lte'
  | 'is_set'
  | 'is_not_set';

export interface Filter {
  property: string;
  op: FilterOp;
  value?: string | number | boolean | (string | number | boolean)[];
}

/** A filter list entry: a condition, or a group where any (OR) or all (AND) entries must match. */
export type FilterNode = Filter | { any: FilterNode[] } | { all: FilterNode[] };

/** A series' math: the query model's list, as the API's answer declares it. */
export type Math = TrendsSeries['math'];

export type Interval = 'hour' | 'day' | 'week' | 'month';

/**
 * A breakdown (src/query/model.ts): a property, a list of 1 to 3 properties (one of them may be
 * saved cohorts: a row per combination), or saved cohorts (`{"cohort": id | [ids]}`, one row per
 * cohort, "not set" for users in none of them).
 */
export type Breakdown =
  string | (string | { cohort: string | string[] })[] | { cohort: string | string[] };

export interface TrendsQuery {
  kind: 'trends';
  from: string;
  to: string;
  interval: Interval;
  series: { event: string | null; math: Math; property?: string; group_key?: string }[];
  filters?: FilterNode[];
  breakdown?: Breakdown;
  formula?: string;
  compare?: 'previous_period';
  /** `linear` (the default), `cumulative` (running totals) or `rolling` (means over a window). */
  analysis?: 'linear' | 'cumulative' | 'rolling';
  /** With `rolling`: intervals per window (default 12 hours, 7 days, 5 weeks, 3 months). */
  rolling_window?: number;
}

export interface FunnelQuery {
  kind: 'funnel';
  from: string;
  to: string;
  steps: { event: string; filters?: FilterNode[] }[];
  window_seconds: number;
  filters?: FilterNode[];
  breakdown?: Breakdown;
  /** `strict` (the default): each step after the one before; `any`: later steps in any order. */
  order?: 'strict' | 'any';
  /** An event between two steps (0-based; default first and last) disqualifies the attempt. */
  exclusions?: {
    event: string;
    filters?: FilterNode[];
    after_step?: number;
    before_step?: number;
  }[];
  /** Properties every step must share with the entry (1 to 3). */
  hold_constant?: string[];
  conversion_over_time?: 'hour' | 'day' | 'week' | 'month';
}

export interface RetentionQuery {
  kind: 'retention';
  from: string;
  to: string;
  start_event: string;
  return_event: string;
  period: 'day' | 'week' | 'month';
  periods: number;
  /** Default first_in_range (src/query/model.ts RetentionType). */
  retention_type?: RetentionType;
  filters?: FilterNode[];
  breakdown?: Breakdown;
}

export type RetentionType = 'first_in_range' | 'first_time' | 'recurring';

export interface FlowsQuery {
  kind: 'flows';
  from: string;
  to: string;
  anchor: { event: string; direction: 'after' | 'before' };
  steps: number;
  max_paths_per_step?: number;
}

export interface LifecycleQuery {
  kind: 'lifecycle';
  from: string;
  to: string;
  interval: 'day' | 'week' | 'month';
  /** Left out: any event. */
  event?: string;
  filters?: FilterNode[];
}

/** Users per number of distinct intervals of each period (src/query/model.ts FrequencyQuery). */
export interface FrequencyQuery {
  kind: 'frequency';
  from: string;
  to: string;
  series: { event?: string | null; filters?: FilterNode[] }[];
  interval?: 'hour' | 'day' | 'week' | 'month';
  per?: 'range' | 'week' | 'month';
  filters?: FilterNode[];
  breakdown?: Breakdown;
  compare?: 'previous_period';
}

export type AnyQuery =
  TrendsQuery | FunnelQuery | RetentionQuery | FlowsQuery | LifecycleQuery | FrequencyQuery;

export type CohortCondition =
  | {
      kind: 'did_event';
      event: string;
      filters?: Filter[];
      count_op: 'gte' | 'lte' | 'eq';
      count: number;
      within_days: number;
    }
  | { kind: 'person_property'; property: string; op: FilterOp; value?: Filter['value'] };
