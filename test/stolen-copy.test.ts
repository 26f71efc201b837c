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
import { DuckDbDatabase, DuckDbMetaStore } from '../src/store/duckdb/index.js';
import { isEncryptedFile } from '../src/store/duckdb/at-rest.js';
import { filesUnder } from './helpers/canary.js';
import { readSnapshot } from './helpers/store.js';
import {
  CLI,
  createProject,
  makeTestEnv,
  runCli,
  startServerProcess,
  type CreatedProject,
  type ServerProcess,
} from './helpers/server.js';

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

// Encryption at rest. DuckDB's bundled crypto module only reads encrypted files; writing needs
// its httpfs extension (OpenSSL), which is not installed here, so these runs use the dangerously
// named switch that lets the bundled module write: the same code path (key, ATTACH, WAL and
// spill-file encryption, migration), with nonces from a weak source (see README).
const ENCRYPTED = { SILLAGE_DANGEROUSLY_ALLOW_WEAK_DB_CRYPTO: '1', SILLAGE_ENCRYPTION: 'on' };

/** An event name, a property key and a value that pass the privacy stage unchanged. */
function plantedEvent() {
  const tag = randomBytes(6).toString('hex');
  return {
    event: `Planted Event ${tag}`,
    key: `planted_key_${tag}`,
    value: `planted value ${tag}`,
  };
}

type Planted = ReturnType<typeof plantedEvent>;

/** Every file of the data directory that holds a planted string, in any byte. */
function bytesHolding(dir: string, planted: Planted): string[] {
  const found: string[] = [];
  for (const file of filesUnder(dir)) {
    const bytes = fs.readFileSync(file);
    for (const text of [planted.event, planted.key, planted.value]) {
      if (bytes.includes(text)) found.push(`${path.relative(dir, file)}: ${text}`);
    }
  }
  return found;
}

async function send(
  server: ServerProcess,
  project: CreatedProject,
  planted: Planted,
  from: number,
  count: number,
): Promise<void> {
  const events = Array.from({ length: count }, (_, i) => ({
    event: planted.event,
    properties: {
      token: project.token,
      distinct_id: `user-${from + i}`,
      $insert_id: `p${from + i}`,
      [planted.key]: planted.value,
    },
  }));
  const res = await fetch(`${server.url}/track`, {
    method: 'POST',
    body: 'data=' + encodeURIComponent(JSON.stringify(events)),
  });
  expect(await res.text()).toBe('1');
}

/** Total of the planted event over today, through the query API. */
async function countOf(server: ServerProcess, project: CreatedProject, event: string) {
  const today = new Date().toISOString().slice(0, 10);
  const res = await fetch(`${server.url}/api/v1/projects/${project.project_id}/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${project.secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      kind: 'trends',
      from: today,
      to: today,
      interval: 'day',
      series: [{ event, math: 'total' }],
    }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { series: { total: number }[] }).series[0]?.total ?? 0;
}

async function waitForCount(
  server: ServerProcess,
  project: CreatedProject,
  event: string,
  expected: number,
): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await countOf(server, project, event)) < expected) {
    if (Date.now() > deadline) throw new Error('the events were not loaded in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a stolen copy of an encrypted data directory', () => {
  it('holds no event name, property key or value: after ingest, mid-run with the WAL, after shutdown', async () => {
    const t = makeTestEnv();
    const planted = plantedEvent();
    const server = await startServerProcess(t, {
      env: { ...ENCRYPTED, SILLAGE_INGEST_LOAD_DELAY_MS: '1500' },
    });
    try {
      const project = await createProject(t, 'Encrypted');
      // Acknowledged: in the (sealed) ingest log, not yet in the database.
      await send(server, project, planted, 0, 30);
      expect(fs.readdirSync(path.join(t.dataDir, 'ingest-log')).length).toBeGreaterThan(0);
      expect(bytesHolding(t.dataDir, planted)).toEqual([]);
      // Loaded: in the database and its WAL, with the server running.
      await waitForCount(server, project, planted.event, 30);
      expect(fs.existsSync(path.join(t.dataDir, 'sillage.duckdb.wal'))).toBe(true);
      expect(bytesHolding(t.dataDir, planted)).toEqual([]);
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0);
    }
    expect(isEncryptedFile(path.join(t.dataDir, 'sillage.duckdb'))).toBe(true);
    expect(bytesHolding(t.dataDir, planted)).toEqual([]);
    // The copy opens with the master key and no other way.
    await expect(DuckDbDatabase.open(t.dataDir)).rejects.toThrow(/encrypted/);
  });

  it('is what an existing plain directory becomes at the first start with encryption', async () => {
    const t = makeTestEnv();
    const planted = plantedEvent();
    // The previous code path: nothing encrypted. Some events loaded into the database...
    const plain = { SILLAGE_ENCRYPTION: 'off', SILLAGE_INGEST_LOAD_DELAY_MS: '60000' };
    let server = await startServerProcess(t, { env: plain });
    const project = await createProject(t, 'Migrated');
    await send(server, project, planted, 0, 20);
    expect(await server.stop('SIGTERM')).toBe(0);
    // ...and some acknowledged but only in the ingest log, as after a crash.
    server = await startServerProcess(t, { env: plain });
    await send(server, project, planted, 20, 5);
    await server.stop('SIGKILL');
    expect(isEncryptedFile(path.join(t.dataDir, 'sillage.duckdb'))).toBe(false);
    const before = bytesHolding(t.dataDir, planted);
    expect(before.some((f) => f.startsWith('sillage.duckdb'))).toBe(true);
    expect(before.some((f) => f.startsWith('ingest-log'))).toBe(true);

    server = await startServerProcess(t, { env: ENCRYPTED });
    try {
      expect(server.output()).toContain('encrypting the existing database at rest');
      expect(server.output()).toContain('the database is now encrypted at rest');
      expect(await countOf(server, project, planted.event)).toBe(25);
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0);
    }
    expect(isEncryptedFile(path.join(t.dataDir, 'sillage.duckdb'))).toBe(true);
    expect(bytesHolding(t.dataDir, planted)).toEqual([]);
  });
});
