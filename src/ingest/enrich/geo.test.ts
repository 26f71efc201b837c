// Geolocation against the bundled DB-IP Lite databases: public, skipped and invalid addresses.
import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { Reader } from 'maxmind';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { GeoLocator, defaultGeoDatabasePaths } from './geo.js';
import { loadMmdb, MmdbFile } from './mmdb-file.js';
import { parseIp } from './ip.js';

let geo: GeoLocator;

beforeAll(async () => {
  geo = await GeoLocator.open();
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('GeoLocator.lookup on public addresses', () => {
  // Expected values are those of the DB-IP Lite edition pinned in package-lock.json.
  it('places 8.8.8.8 in the US', () => {
    expect(geo.lookup('8.8.8.8')?.countryCode).toBe('US');
  });

  it('places 81.2.69.142 in London, England, GB', () => {
    expect(geo.lookup('81.2.69.142')).toEqual({
      countryCode: 'GB',
      region: 'England',
      city: 'London',
      // DB-IP Lite leaves `timezone` empty; empty strings become null.
      timezone: null,
    });
  });

  it('looks IPv6 up in the IPv6 database', () => {
    expect(geo.lookup('2620:fe::fe')?.countryCode).toBe('US'); // Quad9
    expect(geo.lookup('2a00:1450:4009:81f::200e')).toMatchObject({
      countryCode: 'GB',
      city: 'London',
    });
  });

  it('turns empty database strings into null', () => {
    // Singapore has no first-level subdivision in DB-IP: state1 is "".
    expect(geo.lookup('2404:6800:4003:c00::8a')).toMatchObject({ countryCode: 'SG', region: null });
  });

  it('treats IPv4-mapped IPv6 as IPv4', () => {
    const plain = geo.lookup('81.2.69.142');
    expect(geo.lookup('::ffff:81.2.69.142')).toEqual(plain);
    expect(geo.lookup('::ffff:5102:458e')).toEqual(plain);
  });

  it('accepts upper-case and zone-suffixed IPv6', () => {
    expect(geo.lookup('2620:FE::FE')?.countryCode).toBe('US');
    expect(geo.lookup('2620:fe::fe%eth0')?.countryCode).toBe('US');
  });
});

describe('GeoLocator.lookup on addresses it must not look up', () => {
  const NOT_PUBLIC = [
    '10.1.2.3',
    '172.16.5.4',
    '192.168.1.1',
    '127.0.0.1',
    '169.254.10.20',
    '100.64.0.1', // carrier-grade NAT
    '192.0.2.1', // documentation
    '224.0.0.251',
    '0.0.0.0',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1',
    'fd12:3456:789a::1',
    '2001:db8::1',
    'ff02::1',
    '::ffff:192.168.1.1',
    '::ffff:127.0.0.1',
  ];

  it.each(NOT_PUBLIC)('returns null for %s without reading the database', (ip) => {
    const get = vi.spyOn(MmdbFile.prototype, 'get');
    expect(geo.lookup(ip)).toBeNull();
    expect(get).not.toHaveBeenCalled();
  });

  it('does read the database for a public address (the spy works)', () => {
    const get = vi.spyOn(MmdbFile.prototype, 'get');
    geo.lookup('8.8.8.8');
    expect(get).toHaveBeenCalledTimes(1);
  });
});

describe('GeoLocator.lookup on invalid input', () => {
  const INVALID = [
    '',
    'garbage',
    '1.2.3',
    '256.1.1.1',
    '8.8.8.8 ',
    ' 8.8.8.8',
    '8.8.8.8/32',
    '8.8.8.8:443',
    '0x08.8.8.8', // inet_aton forms ipaddr.js would accept
    '010.8.8.8',
    '134744072',
    '[2001:4860::8888]',
    '1::2::3',
    '::ffff:8.8.8',
    'x'.repeat(100_000),
  ];

  it.each(INVALID.map((ip) => [ip.length > 40 ? `${ip.slice(0, 10)}…` : ip, ip]))(
    'returns null for %j',
    (_label, ip) => {
      expect(geo.lookup(ip)).toBeNull();
    },
  );

  it('never throws, and answers null or a well-formed result', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary' }), fc.ipV4(), fc.ipV6(), fc.ipV4Extended()),
        (ip) => {
          const r = geo.lookup(ip);
          if (r !== null) {
            expect(r.countryCode === null || /^[A-Z]{2}$/.test(r.countryCode)).toBe(true);
            for (const v of Object.values(r))
              expect(v === null || (typeof v === 'string' && v !== '')).toBe(true);
          }
        },
      ),
    );
  });
});

describe('GeoLocator.open', () => {
  it('resolves the default database files from the installed package', () => {
    const { ipv4Path, ipv6Path } = defaultGeoDatabasePaths();
    expect(existsSync(ipv4Path)).toBe(true);
    expect(existsSync(ipv6Path)).toBe(true);
  });

  it('fails with CONFIG_INVALID naming the file when a database is missing', async () => {
    const missing = '/nonexistent/sillage/geo-v4.mmdb';
    const error: unknown = await GeoLocator.open({ ipv4Path: missing }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('CONFIG_INVALID');
    expect((error as AppError).message).toContain(missing);
  });

  it('fails with CONFIG_INVALID when a file is not an MMDB database', async () => {
    const notMmdb = new URL('./geo.ts', import.meta.url).pathname;
    await expect(GeoLocator.open({ ipv6Path: notMmdb })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
  });
});

describe('MmdbFile (search tree read from the file, data section in memory)', () => {
  // Differential: the same answers as maxmind's Reader over the whole file read into memory,
  // which is what Sillage did before (issue 10: 134 MB of resident memory).
  const paths = defaultGeoDatabasePaths();
  const oracle = {
    v4: new Reader(readFileSync(paths.ipv4Path)),
    v6: new Reader(readFileSync(paths.ipv6Path)),
  };
  let files: { v4: MmdbFile; v6: MmdbFile };

  beforeAll(async () => {
    files = {
      v4: new MmdbFile(await loadMmdb(paths.ipv4Path)),
      v6: new MmdbFile(await loadMmdb(paths.ipv6Path)),
    };
  });

  it('answers every address as maxmind does (fast-check, IPv4 and IPv6)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (ip) => {
        const address = parseIp(ip);
        if (address === null) return;
        const text = address.toString();
        const bytes = Uint8Array.from(address.toByteArray());
        const [mine, theirs] =
          address.kind() === 'ipv4'
            ? [files.v4.get(bytes), oracle.v4.get(text)]
            : [files.v6.get(bytes), oracle.v6.get(text)];
        expect(mine).toEqual(theirs);
      }),
      { numRuns: 3000 },
    );
  });

  it('finds the documented places (not only nulls)', () => {
    expect(files.v4.get(Uint8Array.of(81, 2, 69, 142))).toMatchObject({ city: 'London' });
    expect(files.v4.get(Uint8Array.of(81, 2, 69, 142))).toEqual(oracle.v4.get('81.2.69.142'));
  });

  it('keeps only the data section in memory', async () => {
    const v4 = await loadMmdb(paths.ipv4Path);
    const fileBytes = readFileSync(paths.ipv4Path).length;
    expect(v4.data.byteLength).toBeLessThan(fileBytes / 2);
    expect(v4.data.byteLength).toBeGreaterThan(0);
  });
});
