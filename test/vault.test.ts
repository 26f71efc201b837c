// The opt-in vault: with it on, profile PII is kept sealed under a per-person key — never in
// clear on disk — the key holder can reveal it, and erasing the person deletes the key so that
// nothing of it can be opened again (and, after compaction, nothing of it is left).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dumpAllTables, searchCanaries } from './helpers/canary.js';
import { readSnapshot } from './helpers/store.js';
import {
  createProject,
  makeTestEnv,
  runCli,
  startServerProcess,
  type ServerProcess,
} from './helpers/server.js';

const EMAIL = 'vaulted.person.7f3k@example.org';
const NAME = 'Valentina Vaultkeeper';

describe('profile PII vault', () => {
  const t = makeTestEnv();
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop('SIGKILL');
  });

  it('seals PII, reveals it to the key holder, and erases it by deleting one key', async () => {
    server = await startServerProcess(t);
    const project = await createProject(t, 'Vault');
    const policyFile = path.join(t.base, 'policy.json');
    fs.writeFileSync(policyFile, JSON.stringify({ vault: true }));
    const set = JSON.parse(
      await runCli(t, [
        'privacy',
        'policy',
        'set',
        '--project',
        project.project_id,
        '--file',
        policyFile,
        '--actor',
        'dpo@example.com',
      ]),
    );
    expect(set.loosenings).toContain('profile PII kept in the encrypted vault');

    const engage = (body: unknown) =>
      fetch(`${server!.url}/engage`, {
        method: 'POST',
        body: 'data=' + encodeURIComponent(JSON.stringify(body)),
      }).then((r) => r.text());
    expect(
      await engage({
        $token: project.token,
        $distinct_id: 'user-42',
        $set: { $email: EMAIL, $name: NAME, plan: 'gold' },
      }),
    ).toBe('1');
    expect(
      await engage({
        $token: project.token,
        $distinct_id: 'user-42',
        $set_once: { $email: 'ignored@example.org' },
      }),
    ).toBe('1');

    const revealed = JSON.parse(
      await runCli(t, ['privacy', 'reveal', '--project', project.project_id, '--user', 'user-42']),
    );
    expect(revealed.values).toEqual({ $email: EMAIL, $name: NAME });
    await server.stop('SIGTERM');

    // On disk: the profile holds only the ordinary property; the PII exists only sealed.
    const snap = await readSnapshot(t.dataDir, project.project_id);
    expect(snap.profiles.map((p) => p.properties)).toEqual([{ plan: 'gold' }]);
    const dumpBefore = await dumpAllTables(t.dataDir);
    expect(searchCanaries([EMAIL, NAME], { dump: dumpBefore }, t.dataDir)).toEqual([]);
    const sealed = [...dumpBefore.matchAll(/"sealed":"(v1\.[^"]+)"/g)].map((m) => m[1]!);
    expect(sealed).toHaveLength(2);

    // Erase: the key goes, so the sealed values are dead; after compaction no byte remains.
    server = await startServerProcess(t);
    const erased = JSON.parse(
      await runCli(t, ['privacy', 'erase', '--project', project.project_id, '--user', 'user-42']),
    );
    expect(erased.vault_key_deleted).toBe(true);
    const after = JSON.parse(
      await runCli(t, ['privacy', 'reveal', '--project', project.project_id, '--user', 'user-42']),
    );
    expect(after.values).toEqual({});
    await server.stop('SIGTERM');
    await runCli(t, ['compact']);
    const leftovers = searchCanaries(
      [...sealed.map((v) => v.slice(0, 40)), erased.pseudonyms[0]],
      { dump: await dumpAllTables(t.dataDir) },
      t.dataDir,
    );
    expect(leftovers).toEqual([]);

    // The change of policy is on the record with who made it.
    const history = JSON.parse(
      await runCli(t, ['privacy', 'policy', 'history', '--project', project.project_id]),
    );
    expect(history.map((h: { actor: string }) => h.actor)).toEqual(['dpo@example.com']);
  });
});
