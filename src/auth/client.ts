// What the account system learns about where a request comes from: a device label, a coarse
// place, and a keyed hash of the address for throttling. The address and user agent stay here.
import { createHmac, randomBytes } from 'node:crypto';
import { parseUserAgent } from '../shared/user-agent.js';
import type { ClientInfo } from './context.js';
import { hashToken } from './tokens.js';

/** Looks an address up (the ingest geolocator); null for private or unknown addresses. */
export type PlaceLookup = (
  ip: string,
) => { countryCode: string | null; city: string | null } | null;

/**
 * Describes request sources. The throttling key is an HMAC of the address under `sourceSecret`:
 * the runtime derives it from the master key, so that every node computes the same key for one
 * address (the per-source throttle is shared in PostgreSQL) while the stored hashes stay useless
 * to whoever holds the database without the master key. Default: random, per process.
 */
export class ClientDescriber {
  constructor(
    private readonly geo: PlaceLookup | null,
    private readonly sourceSecret: Buffer = randomBytes(32),
  ) {}

  describe(ip: string | null, userAgent: string | null, deviceCookie: string | null): ClientInfo {
    const ua = parseUserAgent(userAgent);
    const browser = ua.browser
      ? `${ua.browser}${ua.browserVersion ? ` ${ua.browserVersion}` : ''}`
      : null;
    const device =
      browser && ua.os ? `${browser} on ${ua.os}` : (browser ?? ua.os ?? 'unknown device');
    const geo = ip && this.geo ? this.geo(ip) : null;
    const place = geo?.countryCode
      ? geo.city
        ? `${geo.city}, ${geo.countryCode}`
        : geo.countryCode
      : 'unknown place';
    return {
      device: device.slice(0, 100),
      place: place.slice(0, 100),
      sourceKey: createHmac('sha256', this.sourceSecret)
        .update(ip ?? 'unknown')
        .digest('base64url'),
      ip,
      deviceHash: deviceCookie && deviceCookie.length <= 100 ? hashToken(deviceCookie) : null,
    };
  }
}
