// Client-IP resolution: trusted-proxy semantics, config validation, and anti-spoofing properties.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { createClientIpResolver } from './client-ip.js';
import { parseIp } from './ip.js';

const TRUSTED = ['10.0.0.0/8', '2001:db8:1::/48', '192.0.2.7'];
const resolve = createClientIpResolver(TRUSTED);

describe('createClientIpResolver without trusted proxies', () => {
  const direct = createClientIpResolver([]);

  it('returns the socket IP and ignores X-Forwarded-For', () => {
    expect(direct('203.0.113.9', '1.2.3.4')).toBe('203.0.113.9');
    expect(direct('10.0.0.1', ['1.2.3.4', '5.6.7.8'])).toBe('10.0.0.1');
  });

  it('normalises IPv4-mapped IPv6 and IPv6 spelling', () => {
    expect(direct('::ffff:203.0.113.9', undefined)).toBe('203.0.113.9');
    expect(direct('2001:DB8:0:0:0:0:0:1', undefined)).toBe('2001:db8::1');
  });

  it('returns null for a missing or invalid socket address', () => {
    expect(direct(undefined, '1.2.3.4')).toBeNull();
    expect(direct('not-an-ip', undefined)).toBeNull();
  });
});

describe('createClientIpResolver behind trusted proxies', () => {
  it('ignores X-Forwarded-For from an untrusted peer', () => {
    expect(resolve('198.51.100.1', '1.2.3.4')).toBe('198.51.100.1');
  });

  it('returns the address the trusted proxy appended', () => {
    expect(resolve('10.0.0.1', '203.0.113.9')).toBe('203.0.113.9');
  });

  it('skips trusted proxies from the right and stops at the first untrusted address', () => {
    expect(resolve('10.0.0.1', '6.6.6.6, 203.0.113.9, 10.9.9.9, 192.0.2.7')).toBe('203.0.113.9');
  });

  it('matches IPv6 ranges and single addresses', () => {
    expect(resolve('2001:db8:1::53', '2606:4700::1111')).toBe('2606:4700::1111');
    expect(resolve('192.0.2.7', '203.0.113.9')).toBe('203.0.113.9');
    expect(resolve('192.0.2.8', '203.0.113.9')).toBe('192.0.2.8');
  });

  it('treats an IPv4-mapped peer or entry as the IPv4 address', () => {
    expect(resolve('::ffff:10.0.0.1', '::ffff:203.0.113.9')).toBe('203.0.113.9');
  });

  it('returns the peer when the header is absent or blank', () => {
    expect(resolve('10.0.0.1', undefined)).toBe('10.0.0.1');
    expect(resolve('10.0.0.1', '  ')).toBe('10.0.0.1');
  });

  it('returns the leftmost address when every entry is trusted', () => {
    expect(resolve('10.0.0.1', '10.0.0.3, 10.0.0.2')).toBe('10.0.0.3');
  });

  it('reads repeated headers in order, as one list', () => {
    expect(resolve('10.0.0.1', ['6.6.6.6, 203.0.113.9', '10.0.0.2'])).toBe('203.0.113.9');
  });

  it('drops ports that some proxies add', () => {
    expect(resolve('10.0.0.1', '203.0.113.9:51234')).toBe('203.0.113.9');
    expect(resolve('10.0.0.1', '[2606:4700::1111]:443')).toBe('2606:4700::1111');
    expect(resolve('10.0.0.1', '[2606:4700::1111]')).toBe('2606:4700::1111');
  });

  it('stops at an invalid entry and returns the last validated (trusted) address', () => {
    expect(resolve('10.0.0.1', '203.0.113.9, unknown')).toBe('10.0.0.1');
    expect(resolve('10.0.0.1', '203.0.113.9, garbage, 10.0.0.2')).toBe('10.0.0.2');
    expect(resolve('10.0.0.1', '203.0.113.9,,10.0.0.2')).toBe('10.0.0.2');
    expect(resolve('10.0.0.1', '0x7f.0.0.1')).toBe('10.0.0.1');
  });
});

describe('createClientIpResolver configuration', () => {
  it('accepts comma-separated values in one entry and blank entries', () => {
    const r = createClientIpResolver(['10.0.0.0/8, 172.16.0.0/12', '']);
    expect(r('172.16.1.1', '203.0.113.9')).toBe('203.0.113.9');
  });

  it('accepts IPv4-mapped IPv6 ranges as their IPv4 range', () => {
    const r = createClientIpResolver(['::ffff:10.0.0.0/104']);
    expect(r('10.200.0.1', '203.0.113.9')).toBe('203.0.113.9');
    expect(r('11.0.0.1', '203.0.113.9')).toBe('11.0.0.1');
  });

  it.each([
    [['10.0.0.0/8', 'proxy.internal'], 'entry 2 ("proxy.internal")'],
    [['10.0.0.0/33'], 'entry 1 ("10.0.0.0/33")'],
    [['2001:db8::/129'], 'entry 1'],
    [['10.0.0.0/'], 'entry 1'],
    [['10.0.0.0/8/8'], 'entry 1'],
    [['10.0.0.0/-1'], 'entry 1'],
    [['010.0.0.0/8'], 'entry 1'],
    [['::ffff:10.0.0.0/64'], 'entry 1'],
    [['10.0.0.0/8,,bad'], 'entry 3 ("bad")'],
  ])('rejects %j with CONFIG_INVALID naming %s', (entries, named) => {
    let error: unknown;
    try {
      createClientIpResolver(entries);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('CONFIG_INVALID');
    expect((error as AppError).message).toContain(named);
    expect((error as AppError).message).toContain('SILLAGE_TRUST_PROXY');
  });
});

describe('createClientIpResolver properties', () => {
  const trustedV4 = fc
    .tuple(fc.nat(255), fc.nat(255), fc.nat(255))
    .map(([a, b, c]) => `10.${a}.${b}.${c}`);
  const trustedV6 = fc.nat(0xffff).map((n) => `2001:db8:1::${n.toString(16)}`);
  const trustedProxy = fc.oneof(trustedV4, trustedV6, fc.constant('192.0.2.7'));
  const isTrusted = (ip: string): boolean => {
    const a = parseIp(ip);
    if (a === null) return false;
    return resolve(a.toString(), '203.0.113.250') === '203.0.113.250';
  };
  /** Valid addresses outside the trusted ranges, in any spelling fast-check produces. */
  const untrusted = fc
    .oneof(fc.ipV4(), fc.ipV6())
    .filter((ip) => parseIp(ip) !== null && !isTrusted(ip));
  const junkEntry = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.ipV4(),
    fc.ipV6(),
    trustedProxy,
    fc.constant('unknown'),
  );
  const header = fc.oneof(
    fc.constant(undefined),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.array(junkEntry, { maxLength: 8 }).map((xs) => xs.join(', ')),
    fc.array(fc.string({ maxLength: 40 }), { maxLength: 3 }),
  );
  const normalised = (ip: string): string => parseIp(ip)!.toString();

  it('returns an untrusted socket IP as is, whatever X-Forwarded-For says', () => {
    fc.assert(
      fc.property(untrusted, header, (socketIp, xff) => {
        expect(resolve(socketIp, xff)).toBe(normalised(socketIp));
      }),
    );
  });

  it('ignores anything a client prepends when trusted proxies append the real client', () => {
    fc.assert(
      fc.property(
        fc.array(junkEntry, { maxLength: 8 }),
        untrusted,
        fc.array(trustedProxy, { maxLength: 3 }),
        trustedProxy,
        (prepended, client, chain, peer) => {
          const honest = [client, ...chain].join(', ');
          const spoofed = [...prepended, client, ...chain].join(', ');
          expect(resolve(peer, spoofed)).toBe(normalised(client));
          expect(resolve(peer, spoofed)).toBe(resolve(peer, honest));
        },
      ),
    );
  });

  it('only ever answers null or a normalised address taken from the socket or the header', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constant(undefined), untrusted, trustedProxy, fc.string()),
        header,
        (socketIp, xff) => {
          const result = resolve(socketIp, xff);
          if (result === null) {
            expect(socketIp === undefined || parseIp(socketIp) === null).toBe(true);
            return;
          }
          expect(parseIp(result)?.toString()).toBe(result);
          const seen = [
            socketIp ?? '',
            ...(xff === undefined ? [] : [xff].flat().join(',').split(',')),
          ]
            .map((s) =>
              s
                .trim()
                .replace(/^\[(.*)\](:\d+)?$/, '$1')
                .replace(/^(\d+\.\d+\.\d+\.\d+):\d+$/, '$1'),
            )
            .map((s) => parseIp(s)?.toString());
          expect(seen).toContain(result);
        },
      ),
    );
  });
});
