// What the API's routes answer, as zod schemas: the OpenAPI document's response schemas (and so
// the dashboard's generated types, web/app/api/schema.d.ts) come from here. Each route's handler
// is type-checked against its schema (registry.ts `defineRoute`), so the domain types
// (KeyView, TrendsResult, …) are the source and a field they gain or lose breaks the build; the
// schemas are objects without extra keys, so test/openapi-responses.test.ts fails when a real
// answer carries a field the schema does not declare.
import { z } from 'zod';
import { KEY_SCOPES, ROLES } from '../../auth/index.js';
import { privacyPolicySchema, type PrivacyPolicy } from '../../privacy/index.js';
import { MATHS } from '../../query/index.js';
import type { AuthMethod, KeyScope, Role } from '../../store/account-types.js';

const AUTH_METHODS = ['passkey', 'totp', 'recovery_code'] as const satisfies readonly AuthMethod[];
const role = z.enum(ROLES as [Role, ...Role[]]);
const scope = z.enum(KEY_SCOPES as [KeyScope, ...KeyScope[]]);
const authMethod = z.enum(AUTH_METHODS);
/** ISO 8601 time. */
const time = z.string();
/** A JSON object (event properties, profiles, audit details): any keys. */
const jsonObject = z.record(z.string(), z.unknown());
/** WebAuthn options (@simplewebauthn's JSON form), absent when no passkey can be used. */
const passkeyOptions = z.unknown().optional();
const count = (key: string) => z.object({ [key]: z.number().int() });

// Accounts and sessions.
export const sessionResponse = z
  .object({
    user: z.object({ id: z.string(), email: z.string() }),
    session: z.object({
      id: z.string(),
      method: authMethod,
      expires_at: time,
      idle_timeout_seconds: z.number().int(),
      step_up_at: time.nullable(),
    }),
    csrf_token: z.string(),
    passkey_required: z.boolean(),
    organisations: z.array(z.object({ id: z.string(), name: z.string(), role })),
  })
  .meta({ id: 'Session', description: 'The signed-in person, their session and organisations.' });
export type SessionResponse = z.output<typeof sessionResponse>;

export const signedInResponse = sessionResponse
  .extend({ new_device: z.boolean() })
  .meta({ id: 'SignedIn' });
export const setupDoneResponse = sessionResponse
  .extend({ recovery_codes: z.array(z.string()) })
  .meta({ id: 'SetupDone', description: 'The new session, and recovery codes (shown once).' });

export const loginStartedResponse = z
  .object({
    login_token: z.string(),
    methods: z.array(authMethod),
    passkey: passkeyOptions,
  })
  .meta({ id: 'LoginStarted' });
export const stepUpStartedResponse = z
  .object({ methods: z.array(authMethod), passkey: passkeyOptions })
  .meta({ id: 'StepUpStarted' });
export const stepUpDoneResponse = z
  .object({
    method: authMethod,
    valid_until: time,
    sufficient_for_sensitive_actions: z.boolean(),
  })
  .meta({ id: 'StepUpDone' });
export const invitationAcceptedResponse = z
  .discriminatedUnion('status', [
    z.object({ status: z.literal('joined'), org_id: z.string() }),
    z.object({
      status: z.literal('setup'),
      setup_token: z.string(),
      methods: z.array(authMethod),
    }),
  ])
  .meta({ id: 'InvitationAccepted' });
export const passkeyOptionsResponse = z.object({ passkey: z.unknown() });
export const totpStartedResponse = z
  .object({ factor_id: z.string(), secret: z.string(), uri: z.string() })
  .meta({ id: 'TotpStarted' });

// Your own account (src/auth/factors.ts `FactorView`, notices).
export const factorResponse = z
  .object({
    id: z.string(),
    kind: z.enum(['passkey', 'totp']),
    label: z.string(),
    phishing_resistant: z.boolean(),
    created_at: time,
    last_used_at: time.nullable(),
    /** Passkeys: enrolled without a passkey check, they count only from this time. */
    usable_from: time.optional(),
    /** Passkeys: backed up (synced) by their provider. */
    synced: z.boolean().optional(),
  })
  .meta({ id: 'Factor', description: 'A second factor of your account (never its secret).' });
export const accountResponse = sessionResponse
  .extend({ factors: z.array(factorResponse), recovery_codes_left: z.number().int() })
  .meta({ id: 'Account', description: 'Your session, your factors and recovery codes left.' });
export const recoveryCodesResponse = z
  .object({ recovery_codes: z.array(z.string()) })
  .meta({ id: 'RecoveryCodes', description: 'New recovery codes (shown once).' });
export const noticesResponse = z.object({
  notices: z.array(
    z
      .object({
        id: z.string(),
        kind: z.string(),
        /** The facts the notice was made from (factor, device, place, actor, …). */
        details: jsonObject,
        /** One line, as the e-mail's subject says it. */
        title: z.string(),
        /** The notice's text, as e-mailed: what happened, when, where, and what to do. */
        text: z.string(),
        created_at: time,
        read: z.boolean(),
      })
      .meta({ id: 'Notice' }),
  ),
});

export const ownSessionsResponse = z.object({
  sessions: z.array(
    z
      .object({
        id: z.string(),
        current: z.boolean(),
        device: z.string(),
        place: z.string(),
        method: authMethod,
        created_at: time,
        last_seen_at: time,
        expires_at: time,
      })
      .meta({ id: 'OwnSession' }),
  ),
});
export const sessionsRevokedResponse = count('sessions_revoked');

// Organisations.
const orgPolicy = z
  .object({
    require_passkeys: z.enum(['none', 'admins', 'everyone']),
    allow_totp_step_up: z.boolean(),
    session_idle_minutes: z.number().int(),
    session_absolute_hours: z.number().int(),
  })
  .meta({ id: 'OrgPolicy' });
export const orgResponse = z
  .object({
    id: z.string(),
    name: z.string(),
    policy: orgPolicy,
    created_at: time,
    locked_down_at: time.nullable(),
  })
  .meta({ id: 'Organisation' });
export type OrgResponse = z.output<typeof orgResponse>;
export const orgsResponse = z.object({
  organisations: z.array(orgResponse.extend({ role }).meta({ id: 'OrganisationMembership' })),
});
export const orgPolicySetResponse = orgResponse
  .extend({
    /** Members this policy shuts out until they enrol a passkey (user ids). */
    members_without_passkey: z.array(z.string()),
  })
  .meta({ id: 'OrganisationPolicySet' });
export const invitationsResponse = z.object({
  invitations: z.array(
    z
      .object({ id: z.string(), email: z.string(), role, created_at: time, expires_at: time })
      .meta({ id: 'Invitation', description: 'An open invitation (never its link).' }),
  ),
});
export const memberResetResponse = z
  .discriminatedUnion('delivery', [
    z.object({ delivery: z.literal('email'), expires_at: time, message: z.string() }),
    z.object({
      delivery: z.literal('shown'),
      link: z.string(),
      expires_at: time,
      membership_suspended: z.literal(true),
      message: z.string(),
    }),
  ])
  .meta({ id: 'MemberReset', description: 'How the new setup link reaches the person.' });
export const membersResponse = z.object({
  members: z.array(
    z
      .object({
        user_id: z.string(),
        email: z.string(),
        role,
        status: z.enum(['pending', 'active', 'disabled']),
        suspended: z.literal('unconfirmed_reset').nullable(),
        joined_at: time,
      })
      .meta({ id: 'Member' }),
  ),
});
export const invitationCreatedResponse = z
  .object({ id: z.string(), email: z.string(), role, link: z.string(), expires_at: time })
  .meta({ id: 'InvitationCreated', description: 'The invitation and its link (shown once).' });
export const lockdownResponse = z
  .object({
    sessions_revoked: z.number().int(),
    keys_revoked: z.number().int(),
    locked_down_at: time,
  })
  .meta({ id: 'Lockdown' });

export const projectResponse = z
  .object({
    id: z.string(),
    name: z.string(),
    /** The public, write-only ingest token. */
    token: z.string(),
    timezone: z.string(),
    created_at: time,
  })
  .meta({ id: 'Project' });
export type ProjectResponse = z.output<typeof projectResponse>;
export const projectsResponse = z.object({ projects: z.array(projectResponse) });

// Secret keys.
const apiKey = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string(),
    project_id: z.string(),
    scopes: z.array(scope),
    allowed_cidrs: z.array(z.string()),
    created_at: time,
    expires_at: time.nullable(),
    revoked_at: time.nullable(),
    rotated_from: z.string().nullable(),
    last_used_at: time.nullable(),
    last_used_place: z.string().nullable(),
    use_count: z.number().int(),
    status: z.enum(['active', 'expired', 'revoked']),
  })
  .meta({ id: 'ApiKey' });
export const keysResponse = z.object({ keys: z.array(apiKey) });
export const keyCreatedResponse = z
  .object({ key: apiKey, secret: z.string() })
  .meta({ id: 'KeyCreated', description: 'The key and its secret (shown once).' });

// Queries (src/query/format.ts).
const breakdownValue = z.union([z.string(), z.array(z.string().nullable()), z.null()]);
const segmentKind = z.enum(['value', 'other', 'not_set']);
const quantiles = z
  .object({
    p25: z.number().nullable(),
    p50: z.number().nullable(),
    p75: z.number().nullable(),
    p90: z.number().nullable(),
  })
  .meta({ id: 'TimeQuantiles', description: 'Seconds; each null when nobody reached the step.' });
const funnelStep = z
  .object({
    event: z.string(),
    count: z.number(),
    median_seconds_to_convert: z.number().nullable(),
    time_to_convert: quantiles.nullable(),
    time_from_start: quantiles.nullable(),
  })
  .meta({ id: 'FunnelStep' });
const retentionCohort = z
  .object({ start: z.string(), size: z.number(), counts: z.array(z.number()) })
  .meta({ id: 'RetentionCohort' });
const math = z.enum(MATHS);
const values = z.array(z.number().nullable());
const jsonType = z.enum(['string', 'number', 'boolean', 'array', 'object']);

export const trendsResult = z
  .object({
    series: z.array(
      z
        .object({
          event: z.string().nullable(),
          math,
          property: z.string().nullable(),
          breakdown_value: breakdownValue,
          breakdown_kind: z.enum(['none', 'value', 'other', 'not_set']),
          labels: z.array(z.string()),
          values: values.describe(
            'Per interval: as counted in it (analysis linear), the running total from `from` through it (cumulative), or the mean of the rolling_window intervals ending there (rolling).',
          ),
          total: z
            .number()
            .nullable()
            .describe('Over the range shown, whatever the analysis (as linear).'),
          previous_values: values.optional(),
          previous_total: z.number().nullable().optional(),
        })
        .meta({ id: 'TrendsSeries' }),
    ),
    formula: z
      .object({
        formula: z.string(),
        labels: z.array(z.string()),
        values,
        total: z.number().nullable(),
        breakdowns: z
          .array(
            z.object({
              breakdown_value: breakdownValue,
              breakdown_kind: segmentKind,
              values,
              total: z.number().nullable(),
            }),
          )
          .optional()
          .describe(
            "With a breakdown: the formula per segment (every series split by the first series' values), in the series rows' order; values and total are then over the whole series.",
          ),
      })
      .optional(),
  })
  .meta({ id: 'TrendsResult' });
export const funnelResult = z
  .object({
    steps: z.array(funnelStep),
    breakdowns: z
      .array(
        z.object({
          breakdown_value: breakdownValue,
          breakdown_kind: segmentKind,
          steps: z.array(funnelStep),
        }),
      )
      .optional(),
    conversion_over_time: z
      .object({
        interval: z.enum(['hour', 'day', 'week', 'month']),
        rows: z.array(
          z.object({
            start: z.string(),
            entered: z.number(),
            converted: z.number(),
            steps: z.array(z.number()),
            conversion_rate: z.number().nullable(),
          }),
        ),
      })
      .optional(),
  })
  .meta({ id: 'FunnelResult' });
export const retentionResult = z
  .object({
    cohorts: z.array(retentionCohort),
    breakdowns: z
      .array(
        z.object({
          breakdown_value: breakdownValue,
          breakdown_kind: segmentKind,
          cohorts: z.array(retentionCohort),
        }),
      )
      .optional(),
  })
  .meta({ id: 'RetentionResult' });
export const flowsResult = z
  .object({
    steps: z.array(
      z
        .object({
          step: z.number().int(),
          nodes: z.array(z.object({ event: z.string(), count: z.number() })),
          links: z.array(z.object({ from: z.string(), to: z.string(), count: z.number() })),
          dropoff: z.number(),
        })
        .meta({ id: 'FlowStep' }),
    ),
  })
  .meta({ id: 'FlowsResult' });
export const lifecycleResult = z
  .object({
    labels: z.array(z.string()).describe('The first day of each interval of the range.'),
    new: z
      .array(z.number())
      .describe('Users active in the interval whose first matching event ever is in it.'),
    returning: z
      .array(z.number())
      .describe('Users active in the interval and in the interval before.'),
    resurrecting: z
      .array(z.number())
      .describe('Users active in the interval, not in the one before, but at some time before.'),
    dormant: z
      .array(z.number())
      .describe(
        'Minus the users active in the interval before and not in this one (0 or less, so that a stacked chart draws them below zero).',
      ),
  })
  .meta({ id: 'LifecycleResult' });

const frequencyPeriod = z
  .object({
    start: z.string(),
    end: z.string(),
    complete: z.boolean(),
    intervals: z.number().int(),
    users: z.number(),
    counts: z.array(z.number()),
    cumulative: z.array(z.number()),
  })
  .meta({
    id: 'FrequencyPeriod',
    description:
      'One period (the range, or a week or month cut to it; start and end are its first and last day inside the range, complete whether the whole calendar period is). counts[k-1]: users who did the event on exactly k distinct intervals of it, k = 1 … intervals; cumulative[k-1]: on k or more; users: on at least one.',
  });
export const frequencyResult = z
  .object({
    interval: z.enum(['hour', 'day', 'week', 'month']),
    per: z.enum(['range', 'week', 'month']),
    series: z.array(
      z
        .object({
          event: z.string().nullable(),
          breakdown_value: breakdownValue,
          breakdown_kind: z.enum(['none', 'value', 'other', 'not_set']),
          periods: z.array(frequencyPeriod),
          previous_periods: z
            .array(frequencyPeriod)
            .optional()
            .describe(
              'With compare: the same segment over the range just before (its own periods).',
            ),
        })
        .meta({ id: 'FrequencySeries' }),
    ),
  })
  .meta({ id: 'FrequencyResult' });
export const eventNamesResult = z
  .object({ events: z.array(z.object({ event: z.string(), count: z.number() })) })
  .meta({ id: 'EventNames' });
export const eventPropertiesResult = z
  .object({
    sampled_events: z.number().int(),
    properties: z.array(
      z.object({
        property: z.string(),
        type: jsonType,
        count: z.number(),
        types: z.array(z.object({ type: jsonType, count: z.number() })),
      }),
    ),
  })
  .meta({ id: 'EventProperties' });
export const propertyValuesResult = z
  .object({ values: z.array(z.object({ value: z.string(), count: z.number() })) })
  .meta({ id: 'PropertyValues' });
export const cohortSizeResult = z
  .object({ cohort: z.string(), size: z.number() })
  .meta({ id: 'CohortSize' });
/** Any query's answer; which one follows from the query's `kind`. */
export const queryResult = z
  .union([
    trendsResult,
    funnelResult,
    retentionResult,
    flowsResult,
    lifecycleResult,
    frequencyResult,
    eventNamesResult,
    eventPropertiesResult,
    propertyValuesResult,
    cohortSizeResult,
  ])
  .meta({ id: 'QueryResult', description: "The answer's shape follows the query's kind." });

// Saved views.
const view = z
  .object({ id: z.string(), name: z.string(), query: jsonObject, created_at: time })
  .meta({ id: 'View' });
export const viewsResponse = z.object({ views: z.array(view) });
export const viewCreatedResponse = view.omit({ created_at: true }).meta({ id: 'ViewCreated' });

// Live events, users, cohorts.
export const livePageResponse = z
  .object({
    events: z.array(
      z
        .object({ event: z.string(), time, received_at: time, properties: jsonObject })
        .meta({ id: 'LiveEvent' }),
    ),
    cursor: z.string().nullable(),
  })
  .meta({ id: 'LivePage' });
export const userProfileResponse = z
  .object({
    id: z.string(),
    person: z.string(),
    aliases: z.array(z.string()),
    properties: jsonObject.nullable(),
    profile_updated_at: time.nullable(),
    event_count: z.number().int(),
    first_seen: time.nullable(),
    last_seen: time.nullable(),
  })
  .meta({ id: 'UserProfile' });
export const userEventsResponse = z
  .object({
    person: z.string(),
    /** Mixpanel export shape, plus the time as ISO text. */
    events: z.array(z.looseObject({ time })),
    next_cursor: z.string().nullable(),
  })
  .meta({ id: 'UserEvents' });
const cohort = z
  .object({
    id: z.string(),
    name: z.string(),
    match: z.enum(['all', 'any']),
    conditions: z.array(
      z
        .discriminatedUnion('kind', [
          z.object({
            kind: z.literal('did_event'),
            event: z.string(),
            /** Filters on the event's properties, as in queries. */
            filters: z.array(z.unknown()),
            count_op: z.enum(['gte', 'lte', 'eq']),
            count: z.number().int(),
            within_days: z.number().int(),
          }),
          z.object({
            kind: z.literal('person_property'),
            property: z.string(),
            op: z.string(),
            value: z.unknown().optional(),
          }),
        ])
        .meta({ id: 'CohortCondition' }),
    ),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Cohort' });
export const cohortResponse = cohort;
export const cohortsResponse = z.object({ cohorts: z.array(cohort) });

// Privacy.
/** The policy as the server holds it: every field given (defaults filled in), frozen. */
const policy = privacyPolicySchema.meta({ id: 'PrivacyPolicy' }) as unknown as z.ZodType<
  PrivacyPolicy,
  unknown
>;
export const policyResponse = z.object({ policy });
export const policySavedResponse = z
  .object({ policy, loosenings: z.array(z.string()), new_loosenings: z.array(z.string()) })
  .meta({ id: 'PolicySaved' });
export const privacyReportResponse = z
  .object({
    project_id: z.string(),
    from: z.string(),
    to: z.string(),
    policy,
    loosenings: z.array(z.string()),
    totals: z.array(z.object({ property: z.string(), kind: z.string(), count: z.number() })),
    by_day: z.array(
      z.object({ day: z.string(), property: z.string(), kind: z.string(), count: z.number() }),
    ),
  })
  .meta({ id: 'PrivacyReport' });
export const policyHistoryResponse = z
  .object({
    changes: z.array(
      z
        .object({
          projectId: z.string(),
          actor: z.string(),
          /** Milliseconds since the epoch. */
          atMs: z.number(),
          before: jsonObject.nullable(),
          after: jsonObject,
        })
        .meta({
          id: 'PolicyChange',
          description: 'Who changed the policy, when, before and after.',
        }),
    ),
  })
  .meta({ id: 'PolicyHistory' });
export const pseudonymsResponse = z
  .object({
    matches: z.array(
      z.object({
        /** The id as the caller gave it. */
        id: z.string(),
        pseudonyms: z.array(z.object({ version: z.number().int(), pseudonym: z.string() })),
      }),
    ),
  })
  .meta({ id: 'PseudonymMatches', description: "Each id's pseudonym under every key version." });
export const erasedResponse = z
  .object({
    pseudonyms: z.array(z.string()),
    events_deleted: z.number().int(),
    vault_key_deleted: z.boolean(),
  })
  .meta({ id: 'Erased' });
export const revealedResponse = z
  .object({ pseudonym: z.string(), values: jsonObject })
  .meta({ id: 'Revealed' });

// Audit.
export const auditEntryResponse = z
  .object({
    seq: z.number().int(),
    at: time,
    kind: z.string(),
    actor: z.string(),
    org_id: z.string().nullable(),
    project_id: z.string().nullable(),
    source: z.string(),
    country: z.string().nullable(),
    network_hmac: z.string().nullable(),
    outcome: z.string(),
    target: z.string().nullable(),
    detail: z.unknown(),
    fields: z.array(z.string()),
    event_names: z.array(z.string()),
    rows: z.number().int(),
    subjects: z.array(z.string()),
    hash: z.string(),
  })
  .meta({ id: 'AuditEntry' });
export type AuditEntryResponse = z.output<typeof auditEntryResponse>;
export const auditPageResponse = z
  .object({ entries: z.array(auditEntryResponse), next_after: z.number().int().nullable() })
  .meta({ id: 'AuditPage' });
const incidentAccess = z
  .object({
    seq: z.number().int(),
    at: time,
    kind: z.string(),
    actor: z.string(),
    project_id: z.string().nullable(),
    outcome: z.string(),
    country: z.string().nullable(),
    rows: z.number().int(),
    subjects: z.number().int(),
    fields: z.array(z.string()),
    event_names: z.array(z.string()),
  })
  .meta({ id: 'IncidentAccess' });
export const incidentReportResponse = z
  .object({
    scope: z.object({
      kind: z.enum(['key', 'user', 'session', 'network']),
      value: z.string(),
      note: z.string().optional(),
    }),
    organisation: z.string().nullable(),
    from: time,
    to: time,
    generated_at: time,
    accesses: z.number().int(),
    rows_returned: z.number().int(),
    subjects: z.number().int(),
    subject_ids: z.array(z.string()),
    fields: z.array(z.string()),
    event_names: z.array(z.string()),
    projects: z.array(z.string()),
    principals: z.array(z.string()),
    first_access: time.nullable(),
    last_access: time.nullable(),
    by_kind: z.record(z.string(), z.number()),
    access_list: z.array(incidentAccess),
    refused_attempts: z.number().int(),
    refused_list: z.array(incidentAccess),
    art33: z.object({
      nature: z.string(),
      categories_of_data_subjects: z.string(),
      approximate_number_of_data_subjects: z.number(),
      categories_of_personal_data_records: z.string(),
      approximate_number_of_personal_data_records: z.number(),
      contact_point: z.string(),
      likely_consequences: z.string(),
      measures_taken: z.string(),
    }),
  })
  .meta({ id: 'IncidentReport' });
export const suspensionsResponse = z.object({
  suspensions: z.array(
    z
      .object({
        id: z.string(),
        principal: z.string(),
        rule: z.string(),
        reason: z.string(),
        created_at: time,
        lifted_at: time.nullable(),
        lifted_by: z.string().nullable(),
      })
      .meta({ id: 'Suspension' }),
  ),
});
export const suspensionLiftedResponse = z.object({
  id: z.string(),
  principal: z.string(),
  lifted_by: z.string().nullable(),
});

// The document itself (OpenAPI 3.1): its top level; the rest is OpenAPI's own schema.
export const openApiResponse = z
  .looseObject({
    openapi: z.string(),
    info: z.looseObject({ title: z.string(), version: z.string() }),
    paths: jsonObject,
    components: jsonObject,
  })
  .meta({ id: 'OpenApiDocument' });
export type OpenApiResponse = z.output<typeof openApiResponse>;
