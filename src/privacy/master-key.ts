// The master key: where it comes from (env, key file, first-start generation), and its check value.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { chmod, mkdir, open, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../shared/errors.js';

/** Bytes in the master key and in every key derived from it (AES-256, HMAC-SHA256). */
export const KEY_BYTES = 32;
const MAX_KEY_FILE_BYTES = 1024;
const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const CHECK_PREFIX = 'v1:';

/** Where `loadMasterKey` looks, and whether it may create a key. */
export interface MasterKeyOptions {
  /** Usually `process.env`; reads SILLAGE_MASTER_KEY, SILLAGE_MASTER_KEY_FILE, XDG_CONFIG_HOME. */
  env: Readonly<Record<string, string | undefined>>;
  /** The data directory; the key file must not be inside it. */
  dataDir: string;
  /** The user's home directory (`os.homedir()`), for the default key location. */
  homeDir: string;
  /**
   * Whether a missing default key file may be generated (default true). Pass false once the data
   * directory holds a check value: a fresh key could never open it, so failing is kinder.
   */
  allowGenerate?: boolean;
}

/** The loaded master key and how it was found. `notice` is for the operator (print it once). */
export interface LoadedMasterKey {
  key: Buffer;
  source: 'env' | 'file' | 'generated';
  /** The key file used or created (absent for `env`). */
  path?: string;
  /** Something the operator must know: where a new key was written, or a permission warning. */
  notice?: string;
}

/**
 * Finds the master key: `SILLAGE_MASTER_KEY` (64 hex characters), else the file named by
 * `SILLAGE_MASTER_KEY_FILE`, else the default file `$XDG_CONFIG_HOME/sillage/master.key`
 * (`~/.config/sillage/master.key`), generated on first start with mode 0600 in a 0700 directory.
 * Setting both variables is refused as ambiguous; a key file inside the data directory is refused
 * because a copy of that directory must reveal nothing. An explicitly named file that does not
 * exist is an error rather than generated: it usually means a missing mount, and a new key would
 * lock existing data out. Errors are AppError `MASTER_KEY_INVALID` / `MASTER_KEY_MISSING`; their
 * messages name settings and paths, never key material.
 */
export async function loadMasterKey(options: MasterKeyOptions): Promise<LoadedMasterKey> {
  const { env } = options;
  const hex = nonEmpty(env.SILLAGE_MASTER_KEY);
  const file = nonEmpty(env.SILLAGE_MASTER_KEY_FILE);
  if (hex !== undefined && file !== undefined) {
    throw new AppError(
      'MASTER_KEY_INVALID',
      'Both SILLAGE_MASTER_KEY and SILLAGE_MASTER_KEY_FILE are set; set only one of them.',
    );
  }
  if (hex !== undefined) {
    return { key: parseHexKey(hex, 'SILLAGE_MASTER_KEY'), source: 'env' };
  }
  const dataDir = await realpathNearest(path.resolve(options.dataDir));
  if (file !== undefined) {
    const keyPath = path.resolve(file);
    await refuseInsideDataDir(keyPath, dataDir, 'SILLAGE_MASTER_KEY_FILE');
    return readKeyFile(keyPath, 'SILLAGE_MASTER_KEY_FILE');
  }
  const keyPath = defaultKeyPath(env, options.homeDir);
  await refuseInsideDataDir(keyPath, dataDir, 'the default master key location');
  if (await exists(keyPath)) return readKeyFile(keyPath, 'the master key file');
  if (options.allowGenerate === false) {
    throw new AppError(
      'MASTER_KEY_MISSING',
      `No master key is configured and none exists at ${keyPath}, but the data directory was ` +
        'initialised with one. Set SILLAGE_MASTER_KEY or SILLAGE_MASTER_KEY_FILE to that key.',
    );
  }
  return generateKeyFile(keyPath);
}

/** `$XDG_CONFIG_HOME/sillage/master.key`, or `~/.config/sillage/master.key`. */
export function defaultKeyPath(
  env: Readonly<Record<string, string | undefined>>,
  homeDir: string,
): string {
  const xdg = nonEmpty(env.XDG_CONFIG_HOME);
  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  if (xdg !== undefined && path.isAbsolute(xdg)) return path.join(xdg, 'sillage', 'master.key');
  if (homeDir === '') {
    throw new AppError(
      'MASTER_KEY_MISSING',
      'No master key is configured and no home directory is known; set SILLAGE_MASTER_KEY_FILE.',
    );
  }
  return path.join(homeDir, '.config', 'sillage', 'master.key');
}

/**
 * A value to store in metadata at first start and compare at every start: HMAC-SHA256 of a
 * constant under a key derived from the master key. It reveals nothing about the key.
 */
export function masterKeyCheckValue(key: Buffer): string {
  return CHECK_PREFIX + checkMac(key).toString('base64url');
}

/**
 * Throws AppError `MASTER_KEY_MISMATCH` unless `key` produced `storedCheck`. Call it before
 * anything is written, so that a wrong key changes nothing.
 */
export function verifyMasterKey(key: Buffer, storedCheck: string): void {
  const expected = checkMac(key);
  const stored = storedCheck.startsWith(CHECK_PREFIX)
    ? Buffer.from(storedCheck.slice(CHECK_PREFIX.length), 'base64url')
    : Buffer.alloc(0);
  if (stored.length !== expected.length || !timingSafeEqual(stored, expected)) {
    throw new AppError(
      'MASTER_KEY_MISMATCH',
      'The master key does not match the key this data directory was created with. Start with ' +
        'the original key (SILLAGE_MASTER_KEY or SILLAGE_MASTER_KEY_FILE); nothing was changed.',
    );
  }
}

/**
 * A key derived from the master key for one use (HKDF-SHA256, RFC 5869), so that the wrapping
 * cipher and the check MAC never share a key.
 */
export function deriveMasterSubkey(
  master: Buffer,
  use:
    | 'key-wrap'
    | 'check'
    | 'password-pepper'
    | 'totp-seal'
    | 'csrf-token'
    | 'operator-command'
    | 'ingest-log'
    | 'database'
    | 'audit-journal'
    | 'sign-in-source',
): Buffer {
  assertKeyLength(master);
  return Buffer.from(
    hkdfSync('sha256', master, Buffer.alloc(0), `sillage/v1/master/${use}`, KEY_BYTES),
  );
}

/** Throws MASTER_KEY_INVALID unless the buffer is a 32-byte key. */
export function assertKeyLength(key: Uint8Array): void {
  if (key.length !== KEY_BYTES) {
    throw new AppError('MASTER_KEY_INVALID', 'The master key must be exactly 32 bytes.');
  }
}

function checkMac(key: Buffer): Buffer {
  return createHmac('sha256', deriveMasterSubkey(key, 'check'))
    .update('sillage master key check v1')
    .digest();
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function parseHexKey(text: string, origin: string): Buffer {
  const hex = text.trim();
  if (!HEX_KEY.test(hex)) {
    throw new AppError(
      'MASTER_KEY_INVALID',
      `${origin} must hold exactly 64 hexadecimal characters (a 32-byte key).`,
    );
  }
  const key = Buffer.from(hex, 'hex');
  // A constant key is a placeholder someone forgot to replace, not a secret.
  if (key.every((byte) => byte === key[0])) {
    throw new AppError(
      'MASTER_KEY_INVALID',
      `${origin} holds a constant placeholder, not a random key.`,
    );
  }
  return key;
}

async function readKeyFile(keyPath: string, origin: string): Promise<LoadedMasterKey> {
  let info;
  try {
    info = await stat(keyPath);
  } catch (cause) {
    throw new AppError(
      'MASTER_KEY_INVALID',
      `Cannot read ${origin} at ${keyPath} (${errnoOf(cause)}).`,
      {
        cause,
      },
    );
  }
  if (!info.isFile() || info.size > MAX_KEY_FILE_BYTES) {
    throw new AppError(
      'MASTER_KEY_INVALID',
      `${origin} at ${keyPath} is not a small regular file.`,
    );
  }
  let text: string;
  try {
    text = await readFile(keyPath, 'utf8');
  } catch (cause) {
    throw new AppError(
      'MASTER_KEY_INVALID',
      `Cannot read ${origin} at ${keyPath} (${errnoOf(cause)}).`,
      {
        cause,
      },
    );
  }
  const key = parseHexKey(text, `${origin} at ${keyPath}`);
  const loaded: LoadedMasterKey = { key, source: 'file', path: keyPath };
  // Warn rather than refuse: mounted secrets (Kubernetes, Docker) are often 0644 by default.
  if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
    loaded.notice =
      `Warning: the master key file ${keyPath} is readable by other users; ` +
      `restrict it with: chmod 600 ${keyPath}`;
  }
  return loaded;
}

async function generateKeyFile(keyPath: string): Promise<LoadedMasterKey> {
  const dir = path.dirname(keyPath);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // Tighten our own directory even if it pre-existed; ~/.config itself is left alone.
    await chmod(dir, 0o700).catch(() => undefined);
  } catch (cause) {
    throw new AppError(
      'MASTER_KEY_INVALID',
      `Cannot create the key directory ${dir} (${errnoOf(cause)}).`,
      {
        cause,
      },
    );
  }
  const key = randomBytes(KEY_BYTES);
  let handle;
  try {
    // 'wx' = O_CREAT|O_EXCL: two servers starting at once cannot both write a key.
    handle = await open(
      keyPath,
      fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL,
      0o600,
    );
  } catch (cause) {
    if (errnoOf(cause) === 'EEXIST') return readKeyFile(keyPath, 'the master key file');
    throw new AppError(
      'MASTER_KEY_INVALID',
      `Cannot create the key file ${keyPath} (${errnoOf(cause)}).`,
      {
        cause,
      },
    );
  }
  try {
    await handle.writeFile(`${key.toString('hex')}\n`, 'utf8');
    // Losing the key loses the data it protects: make it durable before anything is encrypted.
    await handle.sync();
  } finally {
    await handle.close();
  }
  await syncDirectory(dir);
  return {
    key,
    source: 'generated',
    path: keyPath,
    notice:
      `Generated a new Sillage master key at ${keyPath} (mode 0600). It protects every ` +
      "project's pseudonymisation and vault keys and is deliberately kept outside the data " +
      'directory: back it up separately. Losing it loses those keys (pseudonyms can no longer ' +
      'be matched, vault values can no longer be read). To keep it elsewhere, move it and set ' +
      'SILLAGE_MASTER_KEY_FILE.',
  };
}

async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the file itself is synced.
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (cause) {
    if (errnoOf(cause) === 'ENOENT') return false;
    throw new AppError('MASTER_KEY_INVALID', `Cannot inspect ${file} (${errnoOf(cause)}).`, {
      cause,
    });
  }
}

async function refuseInsideDataDir(
  keyPath: string,
  realDataDir: string,
  origin: string,
): Promise<void> {
  const realKey = await realpathNearest(keyPath);
  if (isInside(realKey, realDataDir)) {
    throw new AppError(
      'MASTER_KEY_INVALID',
      `${origin} (${keyPath}) is inside the data directory; keep the master key outside it so ` +
        'that a copy of the data directory reveals nothing.',
    );
  }
}

/** realpath of the longest existing prefix, with the missing tail appended (symlinks resolved). */
async function realpathNearest(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    const parent = path.dirname(p);
    if (parent === p) return p;
    return path.join(await realpathNearest(parent), path.basename(p));
  }
}

function isInside(child: string, parent: string): boolean {
  const fold = process.platform === 'darwin' || process.platform === 'win32';
  const rel = path.relative(
    fold ? parent.toLowerCase() : parent,
    fold ? child.toLowerCase() : child,
  );
  return rel === '' || !(rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel));
}

function errnoOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'error';
}
