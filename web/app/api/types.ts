// The shapes the dashboard reads from the API. The OpenAPI document (GET /api/v1/openapi.json)
// declares request bodies but no response schemas, so these are written by hand from
// src/http/routes/*.ts and src/query/format.ts; api/operations.ts lists every call the app makes
// and a test checks each against the OpenAPI document.

export type Role = 'owner' | 'admin' | 'analyst' | 'viewer';
export type AuthMethod = 'passkey' | 'totp' | 'recovery_code';

export interface OrgMembership {
  id: string;
  name: string;
  role: Role;
}

export interface SessionInfo {
  user: { id: string; email: string };
  session: {
    id: string;
    method: string;
    expires_at: string;
    idle_timeout_seconds: number;
    step_up_at: string | null;
  };
  csrf_token: string;
  passkey_required: boolean;
  organisations: OrgMembership[];
}

export interface LoginStarted {
  login_token: string;
  methods: AuthMethod[];
  passkey: unknown;
}

export type InvitationAccepted =
  | { status: 'joined'; org_id: string }
  | { status: 'setup'; setup_token: string; methods: AuthMethod[] };

export interface SetupDone extends SessionInfo {
  recovery_codes: string[];
}

export interface StepUpStarted {
  methods: AuthMethod[];
  passkey: unknown;
}

export interface StepUpDone {
  method: AuthMethod;
  valid_until: string;
  sufficient_for_sensitive_actions: boolean;
}

export interface Project {
  id: string;
  name: string;
  token: string;
  timezone: string;
  created_at: string;
}

export interface OwnSession {
  id: string;
  current: boolean;
  device: string;
  place: string;
  method: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
}

export interface Member {
  user_id: string;
  email: string;
  role: Role;
  status: string;
  joined_at: string;
}

export type KeyScope = 'query' | 'export' | 'import' | 'admin';

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  last_used_place: string | null;
  use_count: number;
  status: 'active' | 'expired' | 'revoked';
}

export interface View {
  id: string;
  name: string;
  query: Record<string, unknown>;
  created_at?: string;
}

// Queries (src/query/model.ts and format.ts).
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

export type Math =
  | 'total'
  | 'unique_users'
  | 'sum'
  | 'avg'
  | 'min'
  | 'max'
  | 'p50'
  | 'p90'
  | 'p99'
  | 'unique_groups'
  | 'weekly_active'
  | 'monthly_active'
  | 'per_user_avg'
  | 'per_user_median'
  | 'per_user_min'
  | 'per_user_max'
  | 'per_user_p90'
  | 'per_user_p99';

export type Interval = 'hour' | 'day' | 'week' | 'month';

/**
 * A breakdown (src/query/model.ts): a property, a list of 1 to 3 properties, or saved cohorts
 * (`{"cohort": id | [ids]}`, one row per cohort, "not set" for users in none of them).
 */
export type Breakdown = string | string[] | { cohort: string | string[] };

/**
 * A breakdown row's value: a property's text, a cohort's id, or one entry per property of a list
 * breakdown (null where that property is not set); null for 'none', 'other' and 'not_set' rows.
 */
export type BreakdownValue = string | (string | null)[] | null;

export type BreakdownKind = 'none' | 'value' | 'other' | 'not_set';

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
}

export interface TrendsSeries {
  event: string | null;
  math: Math;
  property: string | null;
  breakdown_value: BreakdownValue;
  breakdown_kind: BreakdownKind;
  labels: string[];
  values: (number | null)[];
  total: number | null;
  /** With `compare`: the previous period's values, bucket i beside bucket i. */
  previous_values?: (number | null)[];
  previous_total?: number | null;
}

export interface FormulaResult {
  formula: string;
  labels: string[];
  values: (number | null)[];
  total: number | null;
}

export interface TrendsResult {
  series: TrendsSeries[];
  formula?: FormulaResult;
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

/** Seconds, as continuous quantiles; each null when nobody reached the step. */
export interface TimeQuantiles {
  p25: number | null;
  p50: number | null;
  p75: number | null;
  p90: number | null;
}

export interface FunnelStep {
  event: string;
  count: number;
  median_seconds_to_convert: number | null;
  /** From the previous step (null for step 1; absent in answers kept by older servers). */
  time_to_convert?: TimeQuantiles | null;
  /** From the entry to this step (the last step's: the whole funnel). */
  time_from_start?: TimeQuantiles | null;
}

export interface FunnelOverTime {
  interval: 'hour' | 'day' | 'week' | 'month';
  rows: {
    start: string;
    entered: number;
    converted: number;
    steps: number[];
    conversion_rate: number | null;
  }[];
}

export interface FunnelResult {
  steps: FunnelStep[];
  breakdowns?: {
    breakdown_value: BreakdownValue;
    breakdown_kind: Exclude<BreakdownKind, 'none'>;
    steps: FunnelStep[];
  }[];
  conversion_over_time?: FunnelOverTime;
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

export interface RetentionCohort {
  start: string;
  size: number;
  counts: number[];
}

export interface RetentionResult {
  /** Every user (a user in several cohort segments counts once here). */
  cohorts: RetentionCohort[];
  /** With a breakdown: the same periods, per segment. */
  breakdowns?: {
    breakdown_value: BreakdownValue;
    breakdown_kind: Exclude<BreakdownKind, 'none'>;
    cohorts: RetentionCohort[];
  }[];
}

export interface FlowsQuery {
  kind: 'flows';
  from: string;
  to: string;
  anchor: { event: string; direction: 'after' | 'before' };
  steps: number;
  max_paths_per_step?: number;
}

export interface FlowStep {
  step: number;
  nodes: { event: string; count: number }[];
  links: { from: string; to: string; count: number }[];
  dropoff: number;
}

export interface FlowsResult {
  steps: FlowStep[];
}

export type AnyQuery = TrendsQuery | FunnelQuery | RetentionQuery | FlowsQuery;

// Cohorts (src/query/cohorts.ts).
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

export interface Cohort {
  id: string;
  name: string;
  match: 'all' | 'any';
  conditions: CohortCondition[];
  created_at: string;
  updated_at: string;
}

export interface CohortSize {
  cohort: string;
  size: number;
}

// One user (src/projects/users.ts).
export interface UserProfile {
  id: string;
  person: string;
  aliases: string[];
  properties: Record<string, unknown> | null;
  profile_updated_at: string | null;
  event_count: number;
  first_seen: string | null;
  last_seen: string | null;
}

export interface UserEvents {
  person: string;
  events: (Record<string, unknown> & { time: string })[];
  next_cursor: string | null;
}

export interface EventNames {
  events: { event: string; count: number }[];
}

export interface EventProperties {
  sampled_events: number;
  properties: { property: string; type: string; count: number }[];
}

export interface PropertyValues {
  values: { value: string; count: number }[];
}

export interface PrivacyPolicy {
  geo: 'none' | 'country' | 'region' | 'city';
  properties: Record<string, 'keep' | 'pseudonymise' | 'redact' | 'drop'>;
  identifierProperties: string[];
  groupKeys: string[];
  vault: boolean;
  retentionDays: number | null;
  keepClickIds: boolean;
  keepGroupNames: boolean;
  keepEventProperties: ('name' | 'address' | 'photo')[];
}

export interface PolicySaved {
  policy: PrivacyPolicy;
  loosenings: string[];
  new_loosenings: string[];
}

export interface Erased {
  pseudonyms: string[];
  events_deleted: number;
  vault_key_deleted: boolean;
}

export interface PrivacyReport {
  from: string;
  to: string;
  policy: PrivacyPolicy;
  loosenings: string[];
  totals: { property: string; kind: string; count: number }[];
}

export interface LiveEvent {
  event: string;
  time: string;
  received_at: string;
  properties: Record<string, unknown>;
}

export interface LivePage {
  events: LiveEvent[];
  cursor: string | null;
}

export interface AuditEntry {
  seq: number;
  at: string;
  kind: string;
  actor: string;
  org_id: string | null;
  project_id: string | null;
  source: string;
  country: string | null;
  outcome: string;
  target: string | null;
  detail: Record<string, unknown>;
  fields: string[];
  event_names: string[];
  rows: number;
  subjects: string[];
}

export interface AuditPage {
  entries: AuditEntry[];
  next_after: number | null;
}

export interface Suspension {
  id: string;
  principal: string;
  rule: string;
  reason: string;
  created_at: string;
  lifted_at: string | null;
  lifted_by: string | null;
}

export interface IncidentReport {
  scope: { kind: string; value: string; note?: string };
  organisation: string | null;
  from: string;
  to: string;
  generated_at: string;
  accesses: number;
  rows_returned: number;
  subjects: number;
  subject_ids: string[];
  fields: string[];
  event_names: string[];
  projects: string[];
  principals: string[];
  first_access: string | null;
  last_access: string | null;
  by_kind: Record<string, number>;
  art33: {
    nature: string;
    categories_of_data_subjects: string;
    approximate_number_of_data_subjects: number;
    categories_of_personal_data_records: string;
    approximate_number_of_personal_data_records: number;
    likely_consequences: string;
    measures_taken: string;
  };
}
