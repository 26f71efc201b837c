// Tests for master-key loading (env, key file, first-start generation) and the check value.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../shared/errors.js';
import { loadMasterKey, masterKeyCheckValue, verifyMasterKey } from './master-key.js';

let root: string;
let home: string;
let dataDir: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'sillage-mk-'));
  home = path.join(root, 'home');
  dataDir = path.join(root, 'data');
  await mkdir(home);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function expectAppError(
  promise: Promise<unknown>,
  code: string,
  forbidden: string[] = [],
): Promise<AppError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  const appError = error as AppError;
  expect(appError.code).toBe(code);
  for (const secret of forbidden) expect(appError.message).not.toContain(secret);
  return appError;
}

const posix = process.platform !== 'win32';

describe('loadMasterKey from SILLAGE_MASTER_KEY', () => {
  it('accepts 64 hex characters (either case, surrounding space)', async () => {
    const key = randomBytes(32);
    const loaded = await loadMasterKey({
      env: { SILLAGE_MASTER_KEY: ` ${key.toString('hex').toUpperCase()}\n` },
      dataDir,
      homeDir: home,
    });
    expect(loaded.source).toBe('env');
    expect(loaded.key.equals(key)).toBe(true);
    expect(loaded.path).toBeUndefined();
  });

  it.each([
    ['too short', 'ab'.repeat(31)],
    ['too long', 'ab'.repeat(33)],
    ['not hex', `${'ab'.repeat(31)}zz`],
    ['base64 instead of hex', randomBytes(32).toString('base64')],
    ['a constant placeholder', '0'.repeat(64)],
  ])('rejects a key that is %s, without echoing it', async (_name, value) => {
    await expectAppError(
      loadMasterKey({ env: { SILLAGE_MASTER_KEY: value }, dataDir, homeDir: home }),
      'MASTER_KEY_INVALID',
      [value],
    );
  });

  it('refuses both variables at once', async () => {
    await expectAppError(
      loadMasterKey({
        env: {
          SILLAGE_MASTER_KEY: randomBytes(32).toString('hex'),
          SILLAGE_MASTER_KEY_FILE: path.join(root, 'k'),
        },
        dataDir,
        homeDir: home,
      }),
      'MASTER_KEY_INVALID',
    );
  });
});

describe('loadMasterKey from SILLAGE_MASTER_KEY_FILE', () => {
  it('reads a hex key file', async () => {
    const key = randomBytes(32);
    const file = path.join(root, 'secrets', 'master.key');
    await mkdir(path.dirname(file));
    await writeFile(file, `${key.toString('hex')}\n`, { mode: 0o600 });
    const loaded = await loadMasterKey({
      env: { SILLAGE_MASTER_KEY_FILE: file },
      dataDir,
      homeDir: home,
    });
    expect(loaded).toMatchObject({ source: 'file', path: file });
    expect(loaded.key.equals(key)).toBe(true);
    expect(loaded.notice).toBeUndefined();
  });

  it.runIf(posix)('warns when the key file is readable by others', async () => {
    const file = path.join(root, 'master.key');
    await writeFile(file, randomBytes(32).toString('hex'), { mode: 0o644 });
    const loaded = await loadMasterKey({
      env: { SILLAGE_MASTER_KEY_FILE: file },
      dataDir,
      homeDir: home,
    });
    expect(loaded.notice).toMatch(/chmod 600/);
  });

  it('refuses a key file inside the data directory', async () => {
    await mkdir(dataDir, { recursive: true });
    const file = path.join(dataDir, 'keys', 'master.key');
    await mkdir(path.dirname(file));
    await writeFile(file, randomBytes(32).toString('hex'), { mode: 0o600 });
    const error = await expectAppError(
      loadMasterKey({ env: { SILLAGE_MASTER_KEY_FILE: file }, dataDir, homeDir: home }),
      'MASTER_KEY_INVALID',
    );
    expect(error.message).toMatch(/inside the data directory/);
  });

  it('refuses a key file inside the data directory even when the data directory is not created yet', async () => {
    const file = path.join(dataDir, 'master.key');
    await expectAppError(
      loadMasterKey({
        env: { SILLAGE_MASTER_KEY_FILE: file },
        dataDir: `${dataDir}/`,
        homeDir: home,
      }),
      'MASTER_KEY_INVALID',
    );
  });

  it.runIf(posix)(
    'sees through symlinks: a data directory linked to where the key lives',
    async () => {
      const real = path.join(root, 'real');
      await mkdir(real);
      const file = path.join(real, 'master.key');
      await writeFile(file, randomBytes(32).toString('hex'), { mode: 0o600 });
      await symlink(real, dataDir);
      await expectAppError(
        loadMasterKey({ env: { SILLAGE_MASTER_KEY_FILE: file }, dataDir, homeDir: home }),
        'MASTER_KEY_INVALID',
      );
    },
  );

  it('accepts a key next to (not inside) the data directory with a similar name', async () => {
    const file = path.join(`${dataDir}-keys`, 'master.key');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, randomBytes(32).toString('hex'), { mode: 0o600 });
    const loaded = await loadMasterKey({
      env: { SILLAGE_MASTER_KEY_FILE: file },
      dataDir,
      homeDir: home,
    });
    expect(loaded.source).toBe('file');
  });

  it('reports a missing file as invalid, and does not create it', async () => {
    const file = path.join(root, 'missing.key');
    await expectAppError(
      loadMasterKey({ env: { SILLAGE_MASTER_KEY_FILE: file }, dataDir, homeDir: home }),
      'MASTER_KEY_INVALID',
    );
    await expect(stat(file)).rejects.toThrow();
  });

  it('rejects a malformed key file without quoting its content', async () => {
    const file = path.join(root, 'bad.key');
    const content = 'correct horse battery staple';
    await writeFile(file, content, { mode: 0o600 });
    await expectAppError(
      loadMasterKey({ env: { SILLAGE_MASTER_KEY_FILE: file }, dataDir, homeDir: home }),
      'MASTER_KEY_INVALID',
      [content],
    );
  });

  it('rejects a directory or a large file', async () => {
    await expectAppError(
      loadMasterKey({ env: { SILLAGE_MASTER_KEY_FILE: root }, dataDir, homeDir: home }),
      'MASTER_KEY_INVALID',
    );
    const big = path.join(root, 'big.key');
    await writeFile(big, 'a'.repeat(5000));
    await expectAppError(
      loadMasterKey({ env: { SILLAGE_MASTER_KEY_FILE: big }, dataDir, homeDir: home }),
      'MASTER_KEY_INVALID',
    );
  });
});

describe('loadMasterKey on first start (nothing configured)', () => {
  it('generates ~/.config/sillage/master.key (0600 in a 0700 directory) and says where', async () => {
    const loaded = await loadMasterKey({ env: {}, dataDir, homeDir: home });
    const expected = path.join(home, '.config', 'sillage', 'master.key');
    expect(loaded.source).toBe('generated');
    expect(loaded.path).toBe(expected);
    expect(loaded.notice).toContain(expected);
    expect(loaded.notice).toMatch(/losing it loses/i);
    expect(loaded.notice).not.toContain(loaded.key.toString('hex'));
    expect((await readFile(expected, 'utf8')).trim()).toBe(loaded.key.toString('hex'));
    if (posix) {
      expect((await stat(expected)).mode & 0o777).toBe(0o600);
      expect((await stat(path.dirname(expected))).mode & 0o777).toBe(0o700);
    }

    const again = await loadMasterKey({ env: {}, dataDir, homeDir: home });
    expect(again.source).toBe('file');
    expect(again.key.equals(loaded.key)).toBe(true);
    expect(again.notice).toBeUndefined();
  });

  it('respects an absolute XDG_CONFIG_HOME and ignores a relative one', async () => {
    const xdg = path.join(root, 'xdg');
    const loaded = await loadMasterKey({ env: { XDG_CONFIG_HOME: xdg }, dataDir, homeDir: home });
    expect(loaded.path).toBe(path.join(xdg, 'sillage', 'master.key'));
    const relative = await loadMasterKey({
      env: { XDG_CONFIG_HOME: 'relative/dir' },
      dataDir,
      homeDir: home,
    });
    expect(relative.path).toBe(path.join(home, '.config', 'sillage', 'master.key'));
  });

  it('two processes starting at once end up with one key', async () => {
    const [a, b] = await Promise.all([
      loadMasterKey({ env: {}, dataDir, homeDir: home }),
      loadMasterKey({ env: {}, dataDir, homeDir: home }),
    ]);
    expect(a.key.equals(b.key)).toBe(true);
  });

  it('does not generate when told the data directory is already initialised', async () => {
    await expectAppError(
      loadMasterKey({ env: {}, dataDir, homeDir: home, allowGenerate: false }),
      'MASTER_KEY_MISSING',
    );
    await expect(stat(path.join(home, '.config', 'sillage'))).rejects.toThrow();
  });

  it('refuses a default location inside the data directory, creating nothing', async () => {
    const configAsData = path.join(home, '.config');
    await expectAppError(
      loadMasterKey({ env: {}, dataDir: configAsData, homeDir: home }),
      'MASTER_KEY_INVALID',
    );
    await expect(stat(path.join(configAsData, 'sillage'))).rejects.toThrow();
  });
});

describe('check value', () => {
  it('verifies the same key and rejects another one with MASTER_KEY_MISMATCH', () => {
    const key = randomBytes(32);
    const check = masterKeyCheckValue(key);
    expect(check).toMatch(/^v1:[A-Za-z0-9_-]{43}$/);
    expect(check).not.toContain(key.toString('hex'));
    expect(() => verifyMasterKey(key, check)).not.toThrow();
    let error: unknown;
    try {
      verifyMasterKey(randomBytes(32), check);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('MASTER_KEY_MISMATCH');
    expect((error as AppError).message).toMatch(/nothing was changed/);
  });

  it('treats a malformed stored check as a mismatch', () => {
    const key = randomBytes(32);
    for (const stored of ['', 'v1:', 'v2:abc', masterKeyCheckValue(key).slice(0, -2)]) {
      expect(() => verifyMasterKey(key, stored)).toThrow(AppError);
    }
  });

  it('is stable for a key', () => {
    const key = randomBytes(32);
    expect(masterKeyCheckValue(key)).toBe(masterKeyCheckValue(Buffer.from(key)));
  });
});
