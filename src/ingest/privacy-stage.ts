// The privacy stage of the pipeline: the one place where a record loses everything that would
// hurt if stolen. Identifiers become keyed pseudonyms, the IP and user agent are reduced to the
// enrichment's coarse fields, URLs are cut down, profile PII is dropped, and every remaining
// string (keys included) goes through the PII scanner.
import { createHash } from 'node:crypto';
import type { PrivacyCounters } from '../privacy/index.js';
import {
  countAlteration,
  defineEntry,
  applyGeoGranularity,
  sanitizeEventProperties,
  sanitizeProfileUpdate,
  sanitizeText,
  type SanitizeContext,
} from '../privacy/index.js';
import type { ProjectContext } from '../projects/index.js';
import { ENRICHED_PROPERTIES } from '../shared/event-schema.js';
import type { PrivacyCountRow, ProfileUpdateRow } from '../store/types.js';
import type { EnrichedFields } from './enrich-stage.js';
import type { IncomingEvent, IncomingProfileUpdate, JsonObject, JsonValue } from './records.js';

/** An event after the privacy stage: only pseudonyms and scanned values remain. */
export interface CleanEvent {
  event: string;
  timeMs: number;
  /** Pseudonym of the distinct id ('' for none). */
  distinctId: string;
  deviceId: string | null;
  userId: string | null;
  insertId: string;
  properties: JsonObject;
  /** alias → canonical pseudonym pairs this event establishes (identity merge). */
  identityLinks: { aliasId: string; canonicalId: string }[];
}

/** The stage, with per-request counters for the privacy report. */
export interface PrivacyStage {
  event(
    project: ProjectContext,
    e: IncomingEvent,
    enriched: EnrichedFields,
    counters: PrivacyCounters,
  ): CleanEvent;
  profile(
    project: ProjectContext,
    u: IncomingProfileUpdate,
    enriched: EnrichedFields,
    counters: PrivacyCounters,
  ): CleanProfileUpdate;
}

/** A profile update after the privacy stage, and the PII it holds back for the vault (if on). */
export interface CleanProfileUpdate {
  rows: ProfileUpdateRow[];
  /** Plaintext PII to seal under the subject's key before acknowledging; null when none. */
  vault: { subjectId: string; values: JsonObject; mode: 'set' | 'set_once' } | null;
}

/**
 * The stored insert id: a keyed pseudonym of the one the SDK sent (`$insert_id`, PostHog `uuid`),
 * because apps put user ids there too (`user-42-…`), yet resends still dedup: the same id gives
 * the same pseudonym within the project. Ids nobody sent are derived from the event's content.
 */
function storedInsertId(project: ProjectContext, sent: string | null): string | null {
  if (sent === null || sent === '') return null;
  return project.pseudonymise.group('$insert_id', sent);
}

function asId(value: JsonValue | undefined): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

/** A stable insert id for events sent without one, so that identical resends dedup. */
function deriveInsertId(
  event: string,
  distinctId: string,
  timeMs: number,
  properties: JsonObject,
): string {
  return createHash('sha256')
    .update(`${event}\u0000${distinctId}\u0000${timeMs}\u0000${JSON.stringify(properties)}`)
    .digest('base64url')
    .slice(0, 22);
}

// The event schema's enriched properties: Mixpanel's event names, and its profile names.
const EVENT_ENRICHMENT_KEYS = ENRICHED_PROPERTIES.map((def) => def.property);
const PROFILE_ENRICHMENT_KEYS = ENRICHED_PROPERTIES.map((def) => def.profileProperty);
const ENRICHED_FIELDS = ENRICHED_PROPERTIES.map((def) => def.field);
const EVENT_ENRICHMENT_INDEX = new Map<string, number>(EVENT_ENRICHMENT_KEYS.map((k, i) => [k, i]));
const PROFILE_ENRICHMENT_INDEX = new Map<string, number>(
  PROFILE_ENRICHMENT_KEYS.map((k, i) => [k, i]),
);

/**
 * Adds the enrichment's fields as Mixpanel properties, at the policy's geo granularity: a field
 * with a value replaces the property (in its place), a field without one removes it. Built in one
 * pass, without `delete` (which would turn the object into a slow dictionary).
 */
function withEnrichment(
  props: JsonObject,
  enriched: EnrichedFields,
  project: ProjectContext,
  profile: boolean,
): JsonObject {
  const geo = applyGeoGranularity(enriched, project.policy.geo);
  const keys = profile ? PROFILE_ENRICHMENT_KEYS : EVENT_ENRICHMENT_KEYS;
  const index = profile ? PROFILE_ENRICHMENT_INDEX : EVENT_ENRICHMENT_INDEX;
  const values = ENRICHED_FIELDS.map((field) =>
    field === 'countryCode' || field === 'region' || field === 'city'
      ? geo[field]
      : enriched[field],
  );
  const out: JsonObject = {};
  for (const key of Object.keys(props)) {
    const at = index.get(key);
    if (at === undefined) defineEntry(out, key, props[key] as JsonValue);
    else if (values[at] !== null) out[key] = values[at] as string;
  }
  for (let i = 0; i < keys.length; i++) {
    const value = values[i];
    if (value !== null && value !== undefined && !Object.hasOwn(props, keys[i] as string)) {
      out[keys[i] as string] = value;
    }
  }
  return out;
}

// One context per (project, request counters): the events of a request share it.
const contexts = new WeakMap<PrivacyCounters, { project: ProjectContext; ctx: SanitizeContext }>();

function sanitizeContext(project: ProjectContext, counters: PrivacyCounters): SanitizeContext {
  const known = contexts.get(counters);
  if (known?.project === project) return known.ctx;
  const ctx: SanitizeContext = {
    policy: project.policy,
    pseudonymise: project.pseudonymise,
    counters,
  };
  contexts.set(counters, { project, ctx });
  return ctx;
}

/** Identity links an event establishes, from its already-pseudonymised properties. */
function identityLinks(
  event: string,
  distinctId: string,
  props: JsonObject,
  deviceId: string | null,
  userId: string | null,
) {
  const links: { aliasId: string; canonicalId: string }[] = [];
  const link = (alias: string | null, canonical: string | null): void => {
    if (alias && canonical && alias !== canonical)
      links.push({ aliasId: alias, canonicalId: canonical });
  };
  // Simplified ID Merge: the first event carrying both ids links the device to the user.
  link(deviceId, userId);
  if (event === '$identify') {
    link(asId(props.$anon_distinct_id), distinctId);
    link(asId(props.$anon_id), asId(props.$identified_id));
  } else if (event === '$create_alias') {
    link(asId(props.alias), distinctId);
  } else if (event === '$merge' && Array.isArray(props.$distinct_ids)) {
    const [a, b] = props.$distinct_ids;
    link(asId(b), asId(a));
  }
  return links;
}

/** Builds the privacy stage (stateless; all project state comes in the ProjectContext). */
export function createPrivacyStage(): PrivacyStage {
  return {
    event(project, e, enriched, counters) {
      const ctx = sanitizeContext(project, counters);
      for (const property of e.normalised ?? []) {
        countAlteration(ctx, property, 'truncated-surrogate');
      }
      const properties = sanitizeEventProperties(
        withEnrichment(e.properties, enriched, project, false),
        ctx,
      );
      // An event name is free text like any value: URLs in it cleaned, PII redacted.
      const name = sanitizeText(e.event, ctx, '$event_name');
      const distinctId = project.pseudonymise(e.distinctId);
      const deviceId = asId(properties.$device_id);
      const userId = asId(properties.$user_id);
      const insertId =
        storedInsertId(project, e.insertId) ??
        deriveInsertId(name, distinctId, e.timeMs, properties);
      return {
        event: name,
        timeMs: e.timeMs,
        distinctId,
        deviceId,
        userId,
        insertId,
        properties,
        identityLinks: identityLinks(name, distinctId, properties, deviceId, userId),
      };
    },

    profile(project, u, enriched, counters) {
      // A group key named on a `/groups` update does NOT make that property a group id on events:
      // group keys come from the project's policy only (issue 11, group-key poisoning).
      const ctx = sanitizeContext(project, counters);
      for (const property of u.normalised ?? []) {
        countAlteration(ctx, property, 'truncated-surrogate');
      }
      const scope = u.target.kind === 'group' ? 'group' : 'profile';
      const { value, vault } = sanitizeProfileUpdate(u.op, u.value, ctx, scope);
      const base =
        u.target.kind === 'user'
          ? {
              projectId: project.project.id,
              groupKey: '',
              profileId: project.pseudonymise(u.target.distinctId),
            }
          : {
              projectId: project.project.id,
              groupKey: sanitizeText(u.target.groupKey, ctx, '$group_key'),
              profileId: project.pseudonymise.group(u.target.groupKey, u.target.groupId),
            };
      const rows: ProfileUpdateRow[] = [
        { ...base, op: u.op, value, timeMs: u.timeMs, ignoreTime: u.ignoreTime },
      ];
      // Mixpanel overwrites a profile's location on every update made with an IP.
      if (u.op !== '$delete' && u.geoIp !== null) {
        const geoProps = withEnrichment(
          {},
          { ...enriched, browser: null, browserVersion: null, os: null, deviceType: null },
          project,
          true,
        );
        if (Object.keys(geoProps).length > 0) {
          rows.push({ ...base, op: '$set', value: geoProps, timeMs: u.timeMs, ignoreTime: true });
        }
      }
      const sealed =
        Object.keys(vault).length > 0 && (u.op === '$set' || u.op === '$set_once')
          ? {
              subjectId: base.profileId,
              values: vault,
              mode: u.op === '$set' ? ('set' as const) : ('set_once' as const),
            }
          : null;
      return { rows, vault: sealed };
    },
  };
}

/** Flattens a request's counters into store rows for the privacy report. */
export function privacyCountRows(
  projectId: string,
  counters: PrivacyCounters,
  atMs: number,
): PrivacyCountRow[] {
  const day = new Date(atMs).toISOString().slice(0, 10);
  return counters.entries().map((entry) => ({ projectId, day, ...entry }));
}
