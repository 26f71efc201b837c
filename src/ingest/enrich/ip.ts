// Strict parsing of IP address text, shared by client-IP resolution and geolocation (internal).
import { isIPv4, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';

/** A parsed address; IPv4-mapped IPv6 (`::ffff:1.2.3.4`) is always returned as IPv4. */
export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

/** Longer than any address text (45 characters) plus a reasonable zone id: not an address. */
const MAX_IP_TEXT_LENGTH = 64;

/**
 * Parses `text` as an IP address, or returns null. Validation is Node's (`net.isIPv4/isIPv6`,
 * i.e. inet_pton): stricter than `ipaddr.parse`, which also reads the inet_aton forms (`0x7f.1`,
 * `010.0.0.1` as octal, `2130706433`) that no socket or proxy writes and that only serve to
 * disguise an address. No surrounding spaces, brackets or ports. Never throws.
 */
export function parseIp(text: string): IpAddress | null {
  if (text.length === 0 || text.length > MAX_IP_TEXT_LENGTH) return null;
  if (isIPv4(text)) return new ipaddr.IPv4(text.split('.').map(Number));
  if (!isIPv6(text)) return null;
  let v6: ipaddr.IPv6;
  try {
    v6 = ipaddr.IPv6.parse(text);
  } catch {
    return null; // a zone id Node accepts but ipaddr.js does not
  }
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address();
  // A zone id (`%eth0`) names an interface of the sender's host: meaningless here, so dropped.
  return v6.zoneId === undefined ? v6 : new ipaddr.IPv6(v6.parts);
}
