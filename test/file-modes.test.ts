// Everything Sillage writes is private to its user: 0600 files in 0700 directories (the data
// directory, the database, its WAL, the ingest log, the admin socket, a generated key file), and
// a data directory left looser by an earlier version is tightened on start.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createProject, makeTestEnv, startServerProcess } from './helpers/server.js';

/** Every entry below `dir` (itself included) whose permission bits reach beyond its owner. */
function looseEntries(dir: string): string[] {
  const loose: string[] = [];
  const stack = [dir];
  while (stack.length > 0) {
    const current = stack.pop()!;
    const info = fs.lstatSync(current);
    const mode = info.mode & 0o777;
    const wanted = info.isDirectory() ? 0o700 : 0o600;
    if ((mode & ~wanted) !== 0)
      loose.push(`${path.relative(dir, current) || '.'} ${mode.toString(8)}`);
    if (info.isDirectory()) {
      for (const name of fs.readdirSync(current)) stack.push(path.join(current, name));
    }
  }
  return loose;
}

function entriesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String);
}

async function track(url: string, token: string, n: number): Promise<void> {
  const events = Array.from({ length: n }, (_, i) => ({
    event: 'Mode Check',
    properties: { token, distinct_id: `u${i}`, $insert_id: `m${i}`, plan: 'pro' },
  }));
  const res = await fetch(`${url}/track`, {
    method: 'POST',
    body: 'data=' + encodeURIComponent(JSON.stringify(events)),
  });
  expect(await res.text()).toBe('1');
}

describe.skipIf(process.platform === 'win32')('file modes', () => {
  it('are 0600 files in 0700 directories after a real ingest, and loose ones are tightened', async () => {
    const t = makeTestEnv();
    // A generated key file (outside the data directory) rather than the harness's own.
    const config = path.join(t.base, 'config');
    delete t.env.SILLAGE_MASTER_KEY_FILE;
    t.env.XDG_CONFIG_HOME = config;
    // The server inherits the test runner's umask (usually 022): its modes must not depend on it.
    const server = await startServerProcess(t, {
      env: { SILLAGE_INGEST_LOAD_DELAY_MS: '60000' },
    });
    try {
      const project = await createProject(t, 'Modes');
      await track(server.url, project.token, 50);
      // Mid-run: the ingest log segment is open, the database and its WAL exist.
      const names = entriesUnder(t.dataDir);
      expect(names).toContain('sillage.duckdb');
      expect(names.some((n) => n.endsWith('.wal'))).toBe(true);
      expect(names.some((n) => n.startsWith(`ingest-log${path.sep}seg-`))).toBe(true);
      expect(looseEntries(t.dataDir)).toEqual([]);
      expect(looseEntries(path.join(config, 'sillage'))).toEqual([]);
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0);
    }
    expect(looseEntries(t.dataDir)).toEqual([]);

    // What an earlier version left: a 0755 directory with 0644 files. The next start tightens it.
    for (const name of ['.', ...entriesUnder(t.dataDir)]) {
      const full = path.join(t.dataDir, name);
      fs.chmodSync(full, fs.statSync(full).isDirectory() ? 0o755 : 0o644);
    }
    expect(looseEntries(t.dataDir).length).toBeGreaterThan(1);
    const again = await startServerProcess(t);
    try {
      expect(looseEntries(t.dataDir)).toEqual([]);
      expect(again.output()).toContain('tightened file modes');
    } finally {
      expect(await again.stop('SIGTERM')).toBe(0);
    }
  });
});
