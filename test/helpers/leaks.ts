// Test helper: looks for raw identifiers and PII where Sillage must never keep them — the store
// as read back, every byte of the data directory, and the server's own output.
import fs from 'node:fs';
import { filesUnder } from './canary.js';
import path from 'node:path';

export interface Leak {
  /** The planted value that was found (test data, safe to print). */
  needle: string;
  where: string;
}

/**
 * Returns where each needle was found: in `texts` (named), or in any file of `dataDir` (as
 * UTF-8 bytes). DuckDB may compress strings on disk, so an absence in the files is weaker
 * evidence than a presence, which is always a leak.
 */
export function findLeaks(
  needles: readonly string[],
  texts: Record<string, string>,
  dataDir: string,
): Leak[] {
  const leaks: Leak[] = [];
  const files = filesUnder(dataDir).map((file) => ({ file, bytes: fs.readFileSync(file) }));
  for (const needle of needles) {
    if (needle.length < 4) throw new Error('needles must be distinctive (at least 4 characters)');
    for (const [name, text] of Object.entries(texts)) {
      if (text.includes(needle)) leaks.push({ needle, where: name });
    }
    const bytes = Buffer.from(needle, 'utf8');
    for (const { file, bytes: content } of files) {
      if (content.includes(bytes)) leaks.push({ needle, where: path.relative(dataDir, file) });
    }
  }
  return leaks;
}

/** JSON text of anything read from the store (bigint dedup keys as strings). */
export function storeText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}
