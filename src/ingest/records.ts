// The records that flow through the ingest pipeline, stage by stage:
// wire decoding → IncomingEvent / IncomingProfileUpdate → enrichment → privacy → store rows.

import type { JsonObject, JsonValue } from '../shared/json.js';
import type { ProfileOp } from '../shared/profile-op.js';

export type { JsonObject, JsonValue } from '../shared/json.js';
export { PROFILE_OPS, type ProfileOp } from '../shared/profile-op.js';

/** Where a batch came from; decides auth, response format and a few semantics. */
export type IngestSource = 'track' | 'engage' | 'groups' | 'import' | 'posthog' | 'file-import';

/** How the client IP may be used for geolocation of this request (Mixpanel `ip=` param). */
export type IpMode = 'use-request-ip' | 'ignore-request-ip';

/** Per-request facts that never reach the store; they feed enrichment and are dropped. */
export interface RequestContext {
  source: IngestSource;
  /** Client IP after trusted-proxy resolution; null when unknown. Transient. */
  clientIp: string | null;
  /** Raw User-Agent header. Transient. */
  userAgent: string | null;
  ipMode: IpMode;
  /** Server receive time, epoch ms. */
  receivedAtMs: number;
  /**
   * Earliest event time this request may carry (epoch ms): `/track` and the PostHog routes accept
   * the last 5 days unless the request carries the project secret. Absent: no lower bound.
   */
  earliestTimeMs?: number;
}

/** One event after wire decoding and normalisation, before enrichment and privacy. */
export interface IncomingEvent {
  /** Index of the record in the request body, for per-record error reports. */
  index: number;
  token: string | null;
  event: string;
  /** Epoch milliseconds, resolved from seconds/ms/ISO/offset and clamped to now. */
  timeMs: number;
  /** Raw distinct id as sent ('' = no user). Becomes a pseudonym in the privacy stage. */
  distinctId: string;
  /** `$insert_id` (or PostHog `uuid`) when the SDK sent one. */
  insertId: string | null;
  /** All remaining properties as sent, minus the ones consumed above (token, time, ip, …). */
  properties: JsonObject;
  /** IP to geolocate (request IP, `properties.ip`), or null. Transient: dropped after enrichment. */
  geoIp: string | null;
  /** User agent to parse. Transient: dropped after enrichment. */
  userAgent: string | null;
  /**
   * Top-level properties whose value the wire layer normalised (mixpanel-browser's 255-unit
   * truncation cutting an emoji: the lone half removed); counted in the privacy report.
   */
  normalised?: readonly string[];
}

export type ProfileTarget =
  { kind: 'user'; distinctId: string } | { kind: 'group'; groupKey: string; groupId: string };

/** One profile operation (`/engage`, `/groups`, PostHog `$set` on events). */
export interface IncomingProfileUpdate {
  index: number;
  token: string | null;
  target: ProfileTarget;
  op: ProfileOp;
  /** Object for $set/$set_once/$add/$append/$union/$remove; string[] for $unset; null for $delete. */
  value: JsonValue;
  timeMs: number;
  /** Do not bump `$last_seen`. */
  ignoreTime: boolean;
  geoIp: string | null;
  userAgent: string | null;
  /** As {@link IncomingEvent.normalised}: keys of `value` the wire layer normalised. */
  normalised?: readonly string[];
}

/** A record that could not be accepted, reported back per Mixpanel's `failed_records`. */
export interface RecordError {
  index: number;
  insertId: string | null;
  field: string;
  message: string;
}
