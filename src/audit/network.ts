// Coarse networks: an address is reduced to its /24 (IPv4) or /48 (IPv6) before it is hashed
// under the audit key, so the log can answer "from which network" without holding an address.
import { createHmac } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { AppError } from '../shared/errors.js';

const V4_BITS = 24;
const V6_BITS = 48;
/** A CIDR wider than this many coarse networks is refused (bounded work per report). */
const MAX_NETWORKS = 65_536;

function parse(text: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  try {
    const a = ipaddr.process(text);
    return a;
  } catch {
    return null;
  }
}

/** The coarse network of an address as text (`203.0.113.0/24`), or null. */
export function coarseNetwork(ip: string | null): string | null {
  if (!ip) return null;
  const a = parse(ip);
  if (!a) return null;
  if (a.kind() === 'ipv4') {
    const o = (a as ipaddr.IPv4).octets;
    return `${o[0]}.${o[1]}.${o[2]}.0/${V4_BITS}`;
  }
  const p = (a as ipaddr.IPv6).parts;
  return `${(p[0] ?? 0).toString(16)}:${(p[1] ?? 0).toString(16)}:${(p[2] ?? 0).toString(16)}::/${V6_BITS}`;
}

/** HMAC of a coarse network under the audit key (what the log stores). */
export function networkHmac(key: Buffer, network: string): string {
  return createHmac('sha256', key).update(`net\u0000${network}`).digest('hex').slice(0, 32);
}

/**
 * The coarse networks a CIDR touches (a /16 gives 256 /24s; a /28 gives its one /24, so a search
 * narrower than the coarse network answers at the coarse network's granularity).
 */
export function networksOfCidr(cidr: string): { networks: string[]; granularity: string } {
  let range: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    range = ipaddr.parseCIDR(cidr);
  } catch {
    throw new AppError('REQUEST_INVALID', 'network: expected a CIDR such as 203.0.113.0/24', {
      details: [{ path: 'network', message: 'not a CIDR' }],
    });
  }
  const [address, bits] = range;
  if (address.kind() === 'ipv4') {
    const count = bits >= V4_BITS ? 1 : 2 ** (V4_BITS - bits);
    if (count > MAX_NETWORKS) throw tooWide();
    const base = (address as ipaddr.IPv4).octets;
    const start = ((base[0]! << 16) | (base[1]! << 8) | base[2]!) & ~(count - 1);
    const networks: string[] = [];
    for (let i = 0; i < count; i++) {
      const n = start + i;
      networks.push(`${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}.0/${V4_BITS}`);
    }
    return { networks, granularity: `/${V4_BITS}` };
  }
  const count = bits >= V6_BITS ? 1 : 2 ** (V6_BITS - bits);
  if (count > MAX_NETWORKS) throw tooWide();
  const parts = (address as ipaddr.IPv6).parts;
  const top = ((parts[0] ?? 0) * 65_536 + (parts[1] ?? 0)) * 65_536 + (parts[2] ?? 0);
  const start = top - (top % count);
  const networks: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = start + i;
    const a = Math.floor(n / 2 ** 32) & 0xffff;
    const b = Math.floor(n / 65_536) & 0xffff;
    const c = n & 0xffff;
    networks.push(`${a.toString(16)}:${b.toString(16)}:${c.toString(16)}::/${V6_BITS}`);
  }
  return { networks, granularity: `/${V6_BITS}` };
}

function tooWide(): AppError {
  return new AppError('REQUEST_INVALID', 'network: at most 65,536 coarse networks (an IPv4 /8)', {
    details: [{ path: 'network', message: 'too wide' }],
  });
}

/** The country part of a coarse place ('Lyon, FR' → 'FR'; 'unknown place' → null). */
export function countryOf(place: string | null): string | null {
  if (!place) return null;
  const m = /(?:^|, )([A-Z]{2})$/.exec(place);
  return m?.[1] ?? null;
}
