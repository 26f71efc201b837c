// Public entry of enrichment: user-agent parsing, geolocation, client-IP resolution, Enricher.
export {
  DEFAULT_USER_AGENT_CACHE_SIZE,
  UserAgentParser,
  parseUserAgent,
  type DeviceType,
  type UserAgentInfo,
  type UserAgentParserOptions,
} from '../../shared/user-agent.js';
export {
  GeoLocator,
  defaultGeoDatabasePaths,
  type GeoLocatorOptions,
  type GeoResult,
  type GeoShared,
} from './geo.js';
export { createClientIpResolver, type ClientIpResolver } from './client-ip.js';
export {
  Enricher,
  type EnrichInput,
  type EnrichedFields,
  type GeoLookup,
  type UserAgentLookup,
} from './enricher.js';
