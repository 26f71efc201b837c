// The wire layer's public entry: SDK request bodies → JSON records → normalised ingest records.
export { decodePayload, type DecodeInput, type DecodeLimits, type DecodeMeter } from './body.js';
export { parseJsonRecords, FORBIDDEN_KEYS } from './json.js';
export { checkWireValue } from './values.js';
export {
  mapMixpanelEvents,
  mapMixpanelProfiles,
  type MixpanelEventOptions,
  type MixpanelProfileOptions,
} from './mixpanel.js';
export { mapPosthogRecords, type PosthogOptions } from './posthog.js';
export type { MappedRecords, WireContext } from './fields.js';
export {
  MIXPANEL_PARAMS,
  ipOff,
  isOn,
  readRequestParams,
  safeCallbackName,
  type MixpanelParam,
  type RequestParams,
} from './params.js';
