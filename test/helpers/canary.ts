// Test helper for the canary test: every encoded form of a planted value, and a logical dump of
// every table (DuckDB may compress strings on disk, so a byte search alone could miss a value).
import fs from 'node:fs';
import path from 'node:path';
import { openStopped } from './store.js';

/** The forms a planted value could take on disk or in a log. */
export function canaryForms(canary: string): string[] {
  const forms = new Set<string>([
    canary,
    canary.toLowerCase(),
    canary.toUpperCase(),
    encodeURIComponent(canary),
    encodeURIComponent(canary).replace(/%20/g, '+'),
    JSON.stringify(canary).slice(1, -1),
  ]);
  // base64 at the three alignments, minus the edge characters that depend on neighbours.
  for (const pad of ['', 'x', 'xy']) {
    const b = Buffer.from(pad + canary)
      .toString('base64')
      .replace(/=+$/, '');
    const skip = pad.length === 0 ? 0 : pad.length + 1;
    forms.add(b.slice(skip, b.length - 2));
  }
  return [...forms].filter((f) => f.length >= 6);
}

/** Every regular file below `dir`, bounded. */
export function filesUnder(dir: string, limit = 10_000): string[] {
  const out: string[] = [];
  const stack = [dir];
  while (stack.length > 0 && out.length < limit) {
    const current = stack.pop()!;
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) stack.push(full);
      else if (entry.isFile()) out.push(full);
    }
  }
  return out;
}

/** Every row of every table, as text (a stopped server's data directory). */
export async function dumpAllTables(dataDir: string): Promise<string> {
  const db = await openStopped(dataDir);
  try {
    return await db.read(async (c) => {
      const tables = await c.runAndReadAll(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'",
      );
      let text = '';
      for (const [name] of tables.getRows()) {
        const r = await c.runAndReadAll(`SELECT * FROM "${String(name)}"`);
        text += `\n== ${String(name)}\n` + JSON.stringify(r.getRowObjectsJson());
      }
      return text;
    });
  } finally {
    await db.close();
  }
}

export interface CanaryHit {
  canary: string;
  form: string;
  where: string;
}

/** Searches texts and every file's bytes for every form of every canary. */
export function searchCanaries(
  canaries: readonly string[],
  texts: Record<string, string>,
  dataDir: string,
): CanaryHit[] {
  const hits: CanaryHit[] = [];
  const files = filesUnder(dataDir).map((file) => ({ file, bytes: fs.readFileSync(file) }));
  for (const canary of canaries) {
    for (const form of canaryForms(canary)) {
      for (const [where, text] of Object.entries(texts)) {
        if (text.includes(form)) hits.push({ canary, form, where });
      }
      const needle = Buffer.from(form, 'utf8');
      for (const { file, bytes } of files) {
        if (bytes.includes(needle))
          hits.push({ canary, form, where: path.relative(dataDir, file) });
      }
    }
  }
  return hits;
}
