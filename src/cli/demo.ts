// `sillage demo`: creates a project filled with realistic synthetic analytics (people with
// power-law activity, sessions, a sign-up → activation → purchase journey with drop-off,
// browsers, OSes and countries with real-world shares, 90 days), deterministic by seed.
//
// On the embedded DuckDB store the generator writes the store's tables directly. On any other
// store the data is generated in a scratch DuckDB database (DuckDB expands the planned sessions
// into events in one statement) and then written to the configured event store the way ingestion
// writes (the group-commit writer into the store's ingest log, then the EventStore port's
// flush). The same seed gives the same events, identity links and answers on every store.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { embeddedDatabase, type Runtime } from './runtime.js';
import {
  DuckDbDatabase,
  DuckDbEventStore,
  generateDemoData,
  projectEventPages,
  type DemoDataSummary,
} from '../store/duckdb/index.js';
import type { CommitBatch, EventRow, IdentityLink } from '../store/index.js';
import { AppError } from '../shared/errors.js';

export interface DemoOptions {
  events: number;
  seed: number;
  days: number;
  /** Last day of data (YYYY-MM-DD, UTC); default today. */
  endDay: string;
  name: string;
  timezone: string | undefined;
  users: number | undefined;
}

export interface DemoResult {
  project_id: string;
  token: string;
  secret: string;
  summary: DemoDataSummary;
}

/** Events per batch written to the event store (one DuckDB row group; about one ClickHouse load). */
const COPY_PAGE = 122_880;

/** Creates the demo project and fills it; the caller has the runtime open (server stopped). */
export async function createDemo(
  runtime: Runtime,
  options: DemoOptions,
  progress: (step: string) => void,
): Promise<DemoResult> {
  if (!Number.isInteger(options.events) || options.events < 1000 || options.events > 100_000_000)
    throw new AppError(
      'QUERY_INVALID',
      '--events must be a whole number between 1000 and 100000000',
    );
  if (!Number.isInteger(options.days) || options.days < 1 || options.days > 730)
    throw new AppError('QUERY_INVALID', '--days must be between 1 and 730');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(options.endDay) || Number.isNaN(Date.parse(options.endDay)))
    throw new AppError('QUERY_INVALID', '--end must be a date YYYY-MM-DD');
  const created = await runtime.projects.create(options.name, { timezone: options.timezone });
  const project = await runtime.projects.byId(created.project_id);
  if (!project) throw new AppError('PROJECT_NOT_FOUND', 'the demo project vanished');
  const generate = {
    projectId: created.project_id,
    events: options.events,
    users: options.users,
    days: options.days,
    endDay: options.endDay,
    seed: options.seed,
    pseudonymise: project.pseudonymise,
    onProgress: progress,
  };
  // On the embedded store the generator writes the store's own tables in one statement: ~4x less
  // CPU than through the ingest path (300k events: 8-10 s against 32-43 s), and the same rows.
  if (runtime.config.store.events.kind === 'duckdb') {
    const db = embeddedDatabase(runtime);
    const summary = await generateDemoData(db, generate);
    await db.checkpoint();
    return { ...created, summary };
  }
  // Scratch space inside the data directory (DuckDB may spill there, as the store's own files
  // do); it holds only synthetic rows with pseudonymous ids, and is removed whatever happens.
  const scratchDir = path.join(
    runtime.config.dataDir,
    `demo-scratch-${randomBytes(6).toString('hex')}`,
  );
  const scratch = await DuckDbDatabase.open(scratchDir, {
    tuning: {
      threads: runtime.config.store.duckdbThreads,
      memoryLimit: runtime.config.store.duckdbMemoryLimit,
    },
  });
  try {
    const summary = await generateDemoData(scratch, generate);
    progress(`writing ${summary.events.toLocaleString('en-US')} events to the event store`);
    const copied = await writeEvents(
      runtime,
      created.project_id,
      await new DuckDbEventStore(scratch).listIdentityLinks(created.project_id),
      projectEventPages(scratch, created.project_id, COPY_PAGE),
    );
    if (copied !== summary.events)
      throw new AppError(
        'STORE_UNAVAILABLE',
        `the event store took ${copied} of ${summary.events} demo events`,
      );
    return { ...created, summary };
  } finally {
    await scratch.close();
    fs.rmSync(scratchDir, { recursive: true, force: true });
  }
}

/**
 * Writes identity links, then event pages, the way ingestion writes: through the group-commit
 * writer (durable in the store's ingest log once accepted), each page loaded (`flush`) before the
 * next is submitted, so the writer's queue bound holds; the next page is read meanwhile. Returns
 * the project's events as the store then counts them (duplicates counted once).
 */
export async function writeEvents(
  runtime: Pick<Runtime, 'writer' | 'events'>,
  projectId: string,
  identityLinks: IdentityLink[],
  pages: AsyncIterable<EventRow[]>,
): Promise<number> {
  const none = { events: [], profileUpdates: [], identityLinks: [], privacyCounts: [] };
  const write = async (batch: CommitBatch): Promise<void> => {
    await runtime.writer.submit(batch);
    await runtime.events.flush();
  };
  // A load the store retries waits on an unref'd timer: keep this process alive meanwhile (a
  // failed load is retried from the log; a CLI with nothing else pending would exit instead).
  const alive = setInterval(() => undefined, 1000);
  let pending: Promise<void> | null = null;
  try {
    await write({ ...none, identityLinks });
    for await (const events of pages) {
      await pending;
      pending = write({ ...none, events });
      // Awaited on the next turn; meanwhile a failure must not count as unhandled.
      pending.catch(() => undefined);
    }
  } finally {
    try {
      await pending;
    } finally {
      clearInterval(alive);
    }
  }
  return runtime.events.countEvents(projectId);
}
