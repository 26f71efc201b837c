// A copy of the data directory alone (no master key) reveals nothing: the server refuses to open
// it and changes nothing, wrapped keys cannot be unwrapped, and no pseudonym can be linked to a
// known id by anything found in the copy. The key holder, and only they, can match ids.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { unwrapKey } from '../src/privacy/index.js';
import { DuckDbDatabase, DuckDbMetaStore } from '../src/store/index.js';
import { filesUnder } from './helpers/canary.js';
import { readSnapshot } from './helpers/store.js';
import { CLI, createProject, makeTestEnv, runCli, startServerProcess } from './helpers/server.js';

const execFileAsync = promisify(execFile);
const KNOWN_IDS = ['alice@example.com', 'bob@example.com', '42', 'device-0001'];

function digestOfDir(dir: string): string {
  const h = createHash('sha256');
  for (const file of filesUnder(dir).sort()) h.update(file).update(fs.readFileSync(file));
  return h.digest('hex');
}

async function cliFails(env: NodeJS.ProcessEnv, args: string[]): Promise<string> {
  try {
    await execFileAsync(process.execPath, [CLI, ...args], { env });
  } catch (error) {
    return String((error as { stderr?: string }).stderr ?? '');
  }
  throw new Error('the command was expected to fail');
}

describe('a stolen copy of the data directory', () => {
  it('cannot be opened, unwrapped or linked without the master key', async () => {
    const t = makeTestEnv();
    const server = await startServerProcess(t);
    const project = await createProject(t, 'Victim');
    const events = KNOWN_IDS.map((id, i) => ({
      event: 'Seen',
      properties: {
        token: project.token,
        distinct_id: id,
        $device_id: `device-000${i}`,
        $user_id: id,
        $insert_id: `s${i}`,
      },
    }));
    const res = await fetch(`${server.url}/track`, {
      method: 'POST',
      body: 'data=' + encodeURIComponent(JSON.stringify(events)),
    });
    expect(await res.text()).toBe('1');
    await server.stop('SIGTERM');

    // The thief's copy: the data directory alone.
    const stolen = path.join(t.base, 'stolen');
    fs.cpSync(t.dataDir, stolen, { recursive: true });
    const before = digestOfDir(stolen);

    // Without any key: refused, and nothing in the copy changes.
    const thiefHome = fs.mkdtempSync(path.join(t.base, 'home-'));
    const noKey = await cliFails(
      { PATH: process.env.PATH, HOME: thiefHome, SILLAGE_DATA_DIR: stolen },
      ['project', 'create', '--name', 'x', '--json'],
    );
    expect(noKey).toContain('MASTER_KEY_MISSING');
    // With a guessed key: refused as a mismatch, nothing changes.
    const wrongKey = await cliFails(
      {
        PATH: process.env.PATH,
        HOME: thiefHome,
        SILLAGE_DATA_DIR: stolen,
        SILLAGE_MASTER_KEY: randomBytes(32).toString('hex'),
      },
      ['project', 'create', '--name', 'x', '--json'],
    );
    expect(wrongKey).toContain('MASTER_KEY_MISMATCH');
    expect(digestOfDir(stolen)).toBe(before);

    // Reading the copy directly: the wrapped project keys do not open with another master key.
    const db = await DuckDbDatabase.open(stolen);
    const wrapped = await new DuckDbMetaStore(db).listKeys(project.project_id);
    await db.close();
    expect(wrapped.length).toBeGreaterThanOrEqual(2);
    for (const key of wrapped) {
      expect(() =>
        unwrapKey(
          randomBytes(32),
          { projectId: key.projectId, purpose: key.purpose, version: key.version },
          key.wrapped,
        ),
      ).toThrow();
    }

    // No pseudonym is linkable to a known id with anything found in the copy: not a plain hash,
    // not an HMAC under any byte string stored there (wrapped keys, check value, tokens).
    const snap = await readSnapshot(stolen, project.project_id);
    const stored = new Set(
      snap.events
        .flatMap((e) => [e.distinctId, e.userId, e.deviceId])
        .filter((v): v is string => !!v),
    );
    const candidateKeys = [
      ...wrapped.map((k) => Buffer.from(k.wrapped)),
      Buffer.from(project.token),
      Buffer.alloc(32),
    ];
    for (const id of [...KNOWN_IDS, 'device-0000', 'device-0001', 'device-0002', 'device-0003']) {
      const guesses = [
        createHash('sha256').update(id).digest('base64url').slice(0, 22),
        ...candidateKeys.map((k) =>
          createHmac('sha256', k).update(`id:${id}`).digest().subarray(0, 16).toString('base64url'),
        ),
      ];
      for (const g of guesses) expect(stored.has(`u_${g}`)).toBe(false);
    }
    expect(stored.size).toBeGreaterThanOrEqual(KNOWN_IDS.length);

    // The key holder, with the master key, can match their own ids against the pseudonyms.
    const match = (
      await runCli(t, [
        'privacy',
        'pseudonymise',
        '--project',
        project.project_id,
        'alice@example.com',
      ])
    ).trim();
    const pseudonym = (JSON.parse(match) as { pseudonyms: { pseudonym: string }[] }).pseudonyms[0]!
      .pseudonym;
    expect(stored.has(pseudonym)).toBe(true);
  });
});
