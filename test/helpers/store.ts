// Test helper: read what landed in a (stopped) server's data directory through the store port.
import fs from 'node:fs';
import path from 'node:path';
import { deriveMasterSubkey } from '../../src/privacy/master-key.js';
import { SILENT_LOGGER } from '../../src/shared/log.js';
import { ATTACHED_NAME, openAtRest } from '../../src/store/duckdb/at-rest.js';
import { DUCKDB_FILE } from '../../src/store/duckdb/database.js';
import { DuckDbDatabase, DuckDbEventStore } from '../../src/store/duckdb/index.js';
import type { CommitBatch, EventRow, IdentityLink, StoredProfile } from '../../src/store/index.js';

/**
 * Opens a stopped server's data directory. With the harness's master key (next to the data
 * directory, see makeTestEnv), what is encrypted at rest opens too; nothing is encrypted or
 * migrated by opening it here (`off`).
 */
export async function openStopped(dataDir: string): Promise<DuckDbDatabase> {
  const keyFile = path.join(path.dirname(dataDir), 'keys', 'master.key');
  if (!fs.existsSync(keyFile)) return DuckDbDatabase.open(dataDir);
  const master = Buffer.from(fs.readFileSync(keyFile, 'utf8').trim(), 'hex');
  return DuckDbDatabase.open(dataDir, {
    atRest: {
      logKey: deriveMasterSubkey(master, 'ingest-log'),
      databaseKey: deriveMasterSubkey(master, 'database'),
      mode: 'off',
      dangerouslyAllowWeakCrypto: true,
    },
  });
}

/**
 * Runs SQL on a stopped server's database file without opening the store: no migration and no
 * replay of the ingest log (to damage a store on purpose, or to repair it, around a failed load).
 */
export async function runOnStoppedFile(dataDir: string, sql: string): Promise<void> {
  const keyFile = path.join(path.dirname(dataDir), 'keys', 'master.key');
  const master = fs.existsSync(keyFile)
    ? Buffer.from(fs.readFileSync(keyFile, 'utf8').trim(), 'hex')
    : null;
  const { instance, encrypted } = await openAtRest(
    path.join(dataDir, DUCKDB_FILE),
    {},
    master === null
      ? undefined
      : {
          logKey: deriveMasterSubkey(master, 'ingest-log'),
          databaseKey: deriveMasterSubkey(master, 'database'),
          mode: 'off',
          dangerouslyAllowWeakCrypto: true,
        },
    SILENT_LOGGER,
  );
  const c = await instance.connect();
  try {
    if (encrypted) await c.run(`USE ${ATTACHED_NAME}`);
    await c.run(sql);
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

/** Opens the data directory of a stopped server and returns every event of a project. */
export async function readEvents(dataDir: string, projectId: string): Promise<EventRow[]> {
  const db = await openStopped(dataDir);
  try {
    return await new DuckDbEventStore(db).listEvents(projectId);
  } finally {
    await db.close();
  }
}

/** Runs a function against the store of a stopped server. */
export async function withStore<T>(
  dataDir: string,
  fn: (store: DuckDbEventStore) => Promise<T>,
): Promise<T> {
  const db = await openStopped(dataDir);
  try {
    return await fn(new DuckDbEventStore(db));
  } finally {
    await db.close();
  }
}

/** Everything one project holds in a stopped server's store. */
export interface StoreSnapshot {
  events: EventRow[];
  /** User profiles (groupKey '') and group profiles, ordered by group key then profile id. */
  profiles: StoredProfile[];
  identityLinks: IdentityLink[];
}

/** Reads a project's events, profiles and identity links from a stopped server's data directory. */
export async function readSnapshot(dataDir: string, projectId: string): Promise<StoreSnapshot> {
  const db = await openStopped(dataDir);
  try {
    const store = new DuckDbEventStore(db);
    const events = await store.listEvents(projectId);
    const identityLinks = await store.listIdentityLinks(projectId);
    // The port has no "list profiles" (only get by key); tests need every profile to prove that
    // nothing unexpected (a raw id, a deleted profile) is there.
    const keys = await db.read(async (c) => {
      const r = await c.runAndReadAll(
        'SELECT group_key, profile_id FROM profiles WHERE project_id = $1 ORDER BY group_key, profile_id',
        [projectId],
      );
      return r
        .getRows()
        .map((row) => ({ projectId, groupKey: String(row[0]), profileId: String(row[1]) }));
    });
    const profiles: StoredProfile[] = [];
    for (const key of keys) {
      const profile = await store.getProfile(key);
      if (profile) profiles.push(profile);
    }
    return { events, profiles, identityLinks };
  } finally {
    await db.close();
  }
}

/**
 * A property test's batch for `projectId`: its events as rows (`row`), an event marked `resend`
 * sent again under the dedup key and time of one sent before (`sent`, which grows with every new
 * key; a key determines its time, as in `EventRow`) with its own identifiers, and its links
 * written at `linkTimeMs`.
 */
export function stepBatch<E extends { resend: boolean }>(
  projectId: string,
  batch: { events: readonly E[]; links: readonly { alias: string; canonical: string }[] },
  sent: { dedupKey: bigint; timeMs: number }[],
  row: (projectId: string, event: E) => EventRow,
  linkTimeMs: number,
): CommitBatch {
  return {
    events: batch.events.map((e) => {
      const r = row(projectId, e);
      const again = e.resend && sent.length > 0 ? sent[r.timeMs % sent.length] : undefined;
      if (again === undefined) sent.push({ dedupKey: r.dedupKey, timeMs: r.timeMs });
      return again === undefined ? r : { ...r, ...again };
    }),
    identityLinks: batch.links.map((l) => ({
      projectId,
      aliasId: l.alias,
      canonicalId: l.canonical,
      timeMs: linkTimeMs,
    })),
    profileUpdates: [],
    privacyCounts: [],
  };
}
