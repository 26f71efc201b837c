// The client IP of a request, believing X-Forwarded-For only from configured trusted proxies.
import { AppError } from '../../shared/errors.js';
import { parseIp, type IpAddress } from './ip.js';

/**
 * Resolves a request's client IP from its socket peer and `X-Forwarded-For` header. Returns a
 * normalised address (IPv4-mapped IPv6 as IPv4, IPv6 in RFC 5952 form) or null when unknown.
 */
export type ClientIpResolver = (
  socketIp: string | undefined,
  xForwardedFor: string | string[] | undefined,
) => string | null;

type Range = [IpAddress, number];

/** Config values can be long or odd; an error names at most this many characters of one. */
const MAX_ENTRY_IN_MESSAGE = 60;

function invalidEntry(index: number, entry: string, why: string): AppError {
  const shown =
    entry.length > MAX_ENTRY_IN_MESSAGE ? `${entry.slice(0, MAX_ENTRY_IN_MESSAGE)}…` : entry;
  // The value is operator configuration, not user data, so it may be named.
  return new AppError(
    'CONFIG_INVALID',
    `SILLAGE_TRUST_PROXY entry ${index + 1} (${JSON.stringify(shown)}) ${why}`,
  );
}

function parseTrustedRange(entry: string, index: number): Range {
  const slash = entry.indexOf('/');
  const addressText = slash === -1 ? entry : entry.slice(0, slash);
  const address = parseIp(addressText);
  if (address === null) throw invalidEntry(index, entry, 'is not an IP address or CIDR range');
  const writtenAsV6 = addressText.includes(':');
  const writtenBits = writtenAsV6 ? 128 : 32;
  let prefix = writtenBits;
  if (slash !== -1) {
    const prefixText = entry.slice(slash + 1);
    prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
    if (!(prefix >= 0 && prefix <= writtenBits)) {
      throw invalidEntry(index, entry, `has a prefix length outside 0-${writtenBits}`);
    }
  }
  if (writtenAsV6 && address.kind() === 'ipv4') {
    // `::ffff:10.0.0.0/104` is written in IPv6 terms, but addresses are compared as IPv4.
    if (prefix < 96) {
      throw invalidEntry(index, entry, 'mixes IPv4-mapped and native IPv6 (prefix below 96)');
    }
    prefix -= 96;
  }
  return [address, prefix];
}

/** Drops the port some proxies (Azure, IIS ARR) add: `1.2.3.4:5678`, `[2001:db8::1]:443`. */
function withoutPort(token: string): string {
  if (token.startsWith('[')) {
    return /^\[([^\]]+)\](?::\d{1,5})?$/.exec(token)?.[1] ?? token;
  }
  return /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(token)?.[1] ?? token;
}

/**
 * Builds the resolver from `SILLAGE_TRUST_PROXY` entries: single addresses or CIDR ranges, IPv4
 * or IPv6 (an entry may itself hold comma-separated values; blank ones are skipped but counted).
 * Throws `AppError('CONFIG_INVALID')` naming the 1-based position and value of the first bad
 * entry, so a typo stops start-up instead of silently trusting nobody or everybody.
 *
 * Semantics, per request:
 * - a socket peer that is not a trusted proxy is the client: `X-Forwarded-For` is ignored, since
 *   anyone can send it;
 * - from a trusted peer, `X-Forwarded-For` is walked right to left (each proxy appends the address
 *   it received from), skipping trusted proxies; the first untrusted address is the client.
 *   Entries a client prepended sit to the left of it and are never reached, so they cannot
 *   spoof the result;
 * - if every entry is trusted, the leftmost one is returned;
 * - an entry that is not an IP address (`unknown`, blank, garbage) stops the walk and the last
 *   address validated so far (the trusted proxy that forwarded it) is returned: nothing left of
 *   a malformed entry can be believed, and a proxy address geolocates to nothing rather than to
 *   somewhere an attacker chose.
 */
export function createClientIpResolver(trustedProxies: readonly string[]): ClientIpResolver {
  const v4: Range[] = [];
  const v6: Range[] = [];
  const entries = trustedProxies.flatMap((value) => value.split(',')).map((value) => value.trim());
  entries.forEach((entry, index) => {
    if (entry === '') return;
    const range = parseTrustedRange(entry, index);
    (range[0].kind() === 'ipv4' ? v4 : v6).push(range);
  });

  const isTrusted = (address: IpAddress): boolean => {
    const ranges = address.kind() === 'ipv4' ? v4 : v6;
    for (const range of ranges) {
      if (address.match(range)) return true;
    }
    return false;
  };

  if (v4.length === 0 && v6.length === 0) {
    return function resolveClientIpFromSocket(socketIp) {
      return socketIp === undefined ? null : (parseIp(socketIp)?.toString() ?? null);
    };
  }

  return function resolveClientIp(socketIp, xForwardedFor) {
    if (socketIp === undefined) return null;
    const peer = parseIp(socketIp);
    if (peer === null) return null;
    if (!isTrusted(peer)) return peer.toString();
    if (xForwardedFor === undefined) return peer.toString();
    const header = typeof xForwardedFor === 'string' ? xForwardedFor : xForwardedFor.join(',');
    if (header.trim() === '') return peer.toString();
    const hops = header.split(',');
    let last = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = parseIp(withoutPort((hops[i] ?? '').trim()));
      if (hop === null) break;
      if (!isTrusted(hop)) return hop.toString();
      last = hop;
    }
    return last.toString();
  };
}
