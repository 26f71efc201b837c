// Strict IP parsing: canonical forms only, IPv4-mapped IPv6 as IPv4, zone ids dropped.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIp } from './ip.js';

describe('parseIp', () => {
  it.each([
    ['8.8.8.8', '8.8.8.8', 'ipv4'],
    ['::ffff:8.8.8.8', '8.8.8.8', 'ipv4'],
    ['::FFFF:0808:0808', '8.8.8.8', 'ipv4'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1', 'ipv6'],
    ['fe80::1%eth0', 'fe80::1', 'ipv6'],
  ])('parses %s as %s', (text, expected, kind) => {
    const address = parseIp(text);
    expect(address?.toString()).toBe(expected);
    expect(address?.kind()).toBe(kind);
  });

  it.each([
    '',
    '0x7f.0.0.1',
    '010.0.0.1',
    '127.1',
    '2130706433',
    '::ffff:010.0.0.1',
    ' 8.8.8.8',
    '[::1]',
    '1.2.3.4:80',
    'a'.repeat(65),
  ])('rejects %j', (text) => {
    expect(parseIp(text)).toBeNull();
  });

  it('round-trips every generated IPv4 address', () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        expect(parseIp(ip)?.toString()).toBe(ip);
      }),
    );
  });

  it('never throws', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.ipV6(), fc.ipV4Extended()), (s) => {
        parseIp(s);
      }),
    );
  });
});
