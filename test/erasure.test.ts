// Erasure: after `erase` (API) and `sillage compact`, nothing of the subject is left in any byte of
// the data directory — not its pseudonym, not its events — while everyone else's data remains.
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

describe('subject erasure', () => {
  const t = makeTestEnv();
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop('SIGKILL');
  });

  it('removes the subject physically after compaction and keeps the others', async () => {
    server = await startServerProcess(t);
    const project = await createProject(t);
    const events = ['erase-me@example.com', 'keep-me@example.com'].flatMap((user, u) =>
      Array.from({ length: 20 }, (_, i) => ({
        event: i % 2 ? 'Viewed' : 'Clicked',
        properties: {
          token: project.token,
          distinct_id: user,
          $device_id: `dev-${u}`,
          $user_id: user,
          $insert_id: `e${u}-${i}`,
          n: i,
        },
      })),
    );
    const send = await fetch(`${server.url}/track`, {
      method: 'POST',
      body: 'data=' + encodeURIComponent(JSON.stringify(events)),
    });
    expect(await send.text()).toBe('1');
    const profile = await fetch(`${server.url}/engage`, {
      method: 'POST',
      body:
        'data=' +
        encodeURIComponent(
          JSON.stringify({
            $token: project.token,
            $distinct_id: 'erase-me@example.com',
            $set: { plan: 'gold' },
          }),
        ),
    });
    expect(await profile.text()).toBe('1');

    const [match] = (
      await runCli(t, [
        'privacy',
        'pseudonymise',
        '--project',
        project.project_id,
        'erase-me@example.com',
        'dev-0',
      ])
    )
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { pseudonyms: { pseudonym: string }[] });
    const pseudonym = match!.pseudonyms[0]!.pseudonym;

    const denied = await fetch(
      `${server.url}/api/v1/projects/${project.project_id}/privacy/erase`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${project.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'erase-me@example.com' }),
      },
    );
    expect(denied.status).toBe(401); // the public token can read and erase nothing
    // The secret `project create` prints imports and queries; erasing is the host CLI's (or an
    // admin's, or an `admin`-scoped key's).
    const printed = await fetch(
      `${server.url}/api/v1/projects/${project.project_id}/privacy/erase`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${project.secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'erase-me@example.com' }),
      },
    );
    expect(printed.status).toBe(403);
    const erased = JSON.parse(
      (
        await runCli(t, [
          'privacy',
          'erase',
          '--project',
          project.project_id,
          '--user',
          'erase-me@example.com',
        ])
      ).trim(),
    ) as unknown;
    expect(erased).toMatchObject({
      events_deleted: 20,
      pseudonyms: [pseudonym],
      vault_key_deleted: false,
    });
    await server.stop('SIGTERM');

    expect(await runCli(t, ['compact'])).toContain('compacted');
    const snap = await readSnapshot(t.dataDir, project.project_id);
    expect(snap.events).toHaveLength(20);
    expect(snap.profiles).toHaveLength(0);
    const hits = searchCanaries(
      [pseudonym],
      { 'table dump': await dumpAllTables(t.dataDir) },
      t.dataDir,
    );
    expect(hits).toEqual([]);

    // The compacted database still works: the server starts and accepts events again.
    server = await startServerProcess(t);
    const again = await fetch(`${server.url}/track`, {
      method: 'POST',
      body:
        'data=' +
        encodeURIComponent(
          JSON.stringify([
            { event: 'Back', properties: { token: project.token, distinct_id: 'x' } },
          ]),
        ),
    });
    expect(await again.text()).toBe('1');
  });
});
