// A request body as the ingest routes receive it, and how to turn it into normalised records:
// shared by the pipeline (on the thread serving HTTP) and its worker threads.
import type { RequestContext } from './records.js';
import {
  decodePayload,
  mapMixpanelEvents,
  mapMixpanelProfiles,
  mapPosthogRecords,
  type DecodeInput,
  type DecodeLimits,
  type DecodeMeter,
  type MappedRecords,
} from './wire/index.js';
import { parseTime } from './wire/fields.js';

/** Which SDK format the body is in, and how its records map (see the ingest routes). */
export type WireMapping =
  | { kind: 'mixpanel-events'; importMode: boolean }
  | { kind: 'mixpanel-profiles'; target: 'user' | 'group' }
  | {
      kind: 'posthog';
      engage: boolean;
      /** Capture v1: the project token from `Authorization: Bearer`. */
      token?: string;
      /** Capture v1: `PostHog-Request-Timestamp`, the client's send time (clock-skew correction). */
      sentAt?: string;
    };

/** A request's body and everything needed to decode it. */
export interface WireRequest {
  decode: DecodeInput;
  limits: DecodeLimits;
  mapping: WireMapping;
  context: RequestContext;
}

/**
 * Decodes and maps a body; throws the wire layer's 4xx AppError for bad input. `meter` receives
 * the decoded JSON's length (what holding the records costs, roughly).
 */
export function decodeAndMap(request: WireRequest, meter?: DecodeMeter): MappedRecords {
  const decoded = decodePayload(request.decode, request.limits, meter);
  if (!decoded.ok) throw decoded.error;
  const { mapping, context } = request;
  switch (mapping.kind) {
    case 'mixpanel-events':
      return mapMixpanelEvents(decoded.value, context, { importMode: mapping.importMode });
    case 'mixpanel-profiles':
      return {
        ...mapMixpanelProfiles(decoded.value, context, { target: mapping.target }),
        events: [],
        ignored: 0,
      };
    case 'posthog':
      return mapPosthogRecords(decoded.value, context, {
        engage: mapping.engage,
        token: mapping.token ?? null,
        sentAtMs: mapping.sentAt === undefined ? null : parseTime(mapping.sentAt),
      });
  }
}
