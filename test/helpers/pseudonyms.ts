// Test helper: the pseudonyms a project gives raw ids, computed by the real `sillage privacy
// pseudonymise` command (the key holder's tool), so that tests never re-implement the HMAC.
import { runCli, type TestEnv } from './server.js';

interface PseudonymLine {
  id: string;
  pseudonyms: Array<{ version: number; pseudonym: string }>;
}

/**
 * Maps each raw id to its pseudonym under the project's newest key version. Works against a
 * running server (admin socket) or a stopped one. With `groupKey`, the ids are group ids.
 */
export async function pseudonymsOf(
  t: TestEnv,
  projectId: string,
  ids: readonly string[],
  groupKey?: string,
): Promise<Map<string, string>> {
  const unique = [...new Set(ids)];
  const args = ['privacy', 'pseudonymise', '--project', projectId];
  if (groupKey !== undefined) args.push('--group-key', groupKey);
  const stdout = await runCli(t, [...args, '--', ...unique]);
  const out = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    const parsed = JSON.parse(line) as PseudonymLine;
    const newest = [...parsed.pseudonyms].sort((a, b) => b.version - a.version)[0];
    if (!newest) throw new Error(`no pseudonym printed for one id`);
    out.set(parsed.id, newest.pseudonym);
  }
  for (const id of unique) {
    if (!out.has(id)) throw new Error(`pseudonymise printed nothing for id #${unique.indexOf(id)}`);
  }
  return out;
}

/** Looks an id up in a map from {@link pseudonymsOf}, failing loudly when it is missing. */
export function pseudonymOf(map: ReadonlyMap<string, string>, id: string): string {
  const p = map.get(id);
  if (p === undefined)
    throw new Error(`no pseudonym computed for an id (did you pass it to pseudonymsOf?)`);
  return p;
}
