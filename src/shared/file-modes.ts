// Sillage's files are private to the user it runs as: 0600 files in 0700 directories.
import fs from 'node:fs';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';

/** The umask under which every file Sillage (or DuckDB inside it) creates is 0600, 0700 for dirs. */
export const PRIVATE_UMASK = 0o077;
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/**
 * Sets the process umask to PRIVATE_UMASK, so that files created by native code too (DuckDB's
 * database, WAL and spill files) are private from their first byte. A no-op in worker threads,
 * which share the process umask but may not set it.
 */
export function usePrivateUmask(): void {
  if (process.platform === 'win32' || !isMainThread) return;
  process.umask(PRIVATE_UMASK);
}

/**
 * Tightens `dir` and everything below it: directories to 0700, files to 0600 (only bits are
 * removed; symbolic links are not followed). Returns how many entries were changed. Bounded: a
 * data directory holds a few dozen entries, not millions.
 */
export function restrictTree(dir: string, limit = 100_000): number {
  if (process.platform === 'win32') return 0;
  let changed = 0;
  let seen = 0;
  const stack = [dir];
  while (stack.length > 0 && seen < limit) {
    const current = stack.pop() as string;
    let info: fs.Stats;
    try {
      info = fs.lstatSync(current);
    } catch {
      continue; // removed meanwhile
    }
    seen++;
    if (info.isSymbolicLink()) continue;
    const wanted = info.isDirectory() ? PRIVATE_DIR_MODE : PRIVATE_FILE_MODE;
    const mode = info.mode & 0o777;
    if ((mode & ~wanted) !== 0) {
      fs.chmodSync(current, mode & wanted);
      changed++;
    }
    if (info.isDirectory()) {
      for (const name of fs.readdirSync(current)) stack.push(path.join(current, name));
    }
  }
  return changed;
}
