// Runs the EventStore conformance suite against DuckDB files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe } from 'vitest';
import { eventStoreConformance } from '../event-store.conformance.js';
import { DuckDbDatabase } from './database.js';
import { DuckDbEventStore } from './event-store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('DuckDbEventStore', () => {
  eventStoreConformance(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-events-'));
    dirs.push(dir);
    const db = await DuckDbDatabase.open(dir);
    return { events: new DuckDbEventStore(db), close: () => db.close() };
  });
});
