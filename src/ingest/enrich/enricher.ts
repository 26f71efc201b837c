// Enrichment of one record: user agent and IP → browser, OS, device type and location.
import { STANDARD_PROPERTY_BY_COLUMN, namesOf } from '../../shared/event-schema.js';
import type { IncomingEvent, JsonObject, JsonValue } from '../records.js';
import { GeoLocator, type GeoLocatorOptions, type GeoResult } from './geo.js';
import { parseUserAgent, type DeviceType, type UserAgentInfo } from '../../shared/user-agent.js';

// The names a sent location may have (the event schema's names of each column, in precedence).
const COUNTRY_NAMES = namesOf(STANDARD_PROPERTY_BY_COLUMN.get('country_code')!);
const REGION_NAMES = namesOf(STANDARD_PROPERTY_BY_COLUMN.get('region')!);
const CITY_NAMES = namesOf(STANDARD_PROPERTY_BY_COLUMN.get('city')!);

/**
 * The values enrichment decides, one per typed column. Mixpanel property names:
 * `$browser`, `$browser_version`, `$os`, `$device_type`, `mp_country_code`, `$region`, `$city`,
 * `$timezone`. Nothing here identifies a person; the raw UA and IP are not part of it.
 */
export interface EnrichedFields {
  browser: string | null;
  /** Major version only, as a string (`"120"`). */
  browserVersion: string | null;
  os: string | null;
  deviceType: DeviceType | null;
  countryCode: string | null;
  region: string | null;
  city: string | null;
  timezone: string | null;
}

/** What enrichment reads from a record. `IncomingEvent` fits; profile updates pass their own. */
export interface EnrichInput {
  userAgent: string | null;
  geoIp: string | null;
  /** Properties as the SDK sent them; values found here win over server-derived ones. */
  properties?: JsonObject | null;
}

/** Anything that geolocates an address; {@link GeoLocator} in production, a fake in tests. */
export interface GeoLookup {
  lookup(ip: string): GeoResult | null;
}

/** Parses a user agent; {@link parseUserAgent} by default. */
export type UserAgentLookup = (ua: string | null) => UserAgentInfo;

const DEVICE_TYPES: ReadonlySet<string> = new Set<DeviceType>([
  'desktop',
  'mobile',
  'tablet',
  'tv',
  'bot',
]);

/** The first of `names` that the SDK sent as a non-empty string. */
function sentText(properties: JsonObject | null | undefined, ...names: string[]): string | null {
  if (!properties) return null;
  for (const name of names) {
    const value = properties[name];
    if (typeof value === 'string' && value !== '') return value;
  }
  return null;
}

/** mixpanel-browser sends `$browser_version` as a number (`120.5`); keep the major part. */
function sentMajorVersion(value: JsonValue | undefined): string | null {
  if (typeof value === 'number') {
    return Number.isFinite(value) && value >= 0 ? String(Math.trunc(value)) : null;
  }
  if (typeof value === 'string') return /^\d+/.exec(value)?.[0] ?? null;
  return null;
}

/** PostHog sends `$device_type` as `Desktop` / `Mobile` / `Tablet`. */
function sentDeviceType(properties: JsonObject | null | undefined): DeviceType | null {
  const value = sentText(properties, '$device_type')?.toLowerCase();
  return value !== undefined && DEVICE_TYPES.has(value) ? (value as DeviceType) : null;
}

/**
 * Combines user-agent parsing and geolocation for one record. Server-derived values only fill in
 * what the SDK did not send: browser SDKs read `navigator` themselves (`$browser`, `$os`, …) and
 * imports carry the location Mixpanel computed at the time, and Mixpanel itself never overwrites
 * location properties set explicitly. Related values are taken as a group so that one record
 * never mixes two sources:
 * - browser: `$browser` sent → it and the sent `$browser_version` (major part) are used, the
 *   parsed version is not (it may be of another browser);
 * - OS: `$os` sent → used;
 * - device type: `$device_type` sent and one of ours (case-insensitive) → used, except that a UA
 *   declaring a crawler makes it `bot` whatever the SDK guessed from the screen size;
 * - location: any of `mp_country_code`, `$region`, `$city` (or PostHog's `$geoip_*` names) sent →
 *   all four location values come from the properties and the IP is not looked up. PostHog's
 *   `$geoip_disable: true` also skips the lookup.
 */
export class Enricher {
  private readonly geo: GeoLookup | null;
  private readonly userAgents: UserAgentLookup;

  constructor(deps: { geo: GeoLookup | null; userAgents?: UserAgentLookup }) {
    this.geo = deps.geo;
    this.userAgents = deps.userAgents ?? parseUserAgent;
  }

  /** An Enricher over the bundled geolocation databases (see {@link GeoLocator.open}). */
  static async open(options?: GeoLocatorOptions): Promise<Enricher> {
    return new Enricher({ geo: await GeoLocator.open(options) });
  }

  /** Enrichment of one event from its transient `userAgent` and `geoIp` and its properties. */
  enrichEvent(e: IncomingEvent): EnrichedFields {
    return this.enrich(e);
  }

  /** Enrichment of any record (events, profile updates). Never throws. */
  enrich(input: EnrichInput): EnrichedFields {
    const props = input.properties;
    const ua = this.userAgents(input.userAgent);

    const sentBrowser = sentText(props, '$browser');
    const sentDevice = sentDeviceType(props);
    const deviceType = ua.deviceType === 'bot' ? 'bot' : (sentDevice ?? ua.deviceType);

    const sentCountry = sentText(props, ...COUNTRY_NAMES);
    const sentRegion = sentText(props, ...REGION_NAMES);
    const sentCity = sentText(props, ...CITY_NAMES);
    let place: GeoResult | null;
    if (sentCountry !== null || sentRegion !== null || sentCity !== null) {
      place = {
        countryCode: sentCountry,
        region: sentRegion,
        city: sentCity,
        timezone: sentText(props, '$timezone', '$geoip_time_zone'),
      };
    } else if (input.geoIp === null || this.geo === null || props?.$geoip_disable === true) {
      place = null;
    } else {
      place = this.geo.lookup(input.geoIp);
    }

    return {
      browser: sentBrowser ?? ua.browser,
      browserVersion:
        sentBrowser !== null ? sentMajorVersion(props?.$browser_version) : ua.browserVersion,
      os: sentText(props, '$os') ?? ua.os,
      deviceType,
      countryCode: place?.countryCode ?? null,
      region: place?.region ?? null,
      city: place?.city ?? null,
      timezone: place?.timezone ?? null,
    };
  }
}
