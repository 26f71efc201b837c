// Test helper: read what landed in a (stopped) server's data directory through the store port.
import { DuckDbDatabase, DuckDbEventStore, type EventRow } from '../../src/store/index.js';

/** Opens the data directory of a stopped server and returns every event of a project. */
export async function readEvents(dataDir: string, projectId: string): Promise<EventRow[]> {
  const db = await DuckDbDatabase.open(dataDir);
  try {
    return await new DuckDbEventStore(db).listEvents(projectId);
  } finally {
    await db.close();
  }
}

/** Runs a function against the store of a stopped server. */
export async function withStore<T>(dataDir: string, fn: (store: DuckDbEventStore) => Promise<T>): Promise<T> {
  const db = await DuckDbDatabase.open(dataDir);
  try {
    return await fn(new DuckDbEventStore(db));
  } finally {
    await db.close();
  }
}
