// `sillage demo`: creates a project filled with realistic synthetic analytics (people with
// power-law activity, sessions, a sign-up → activation → purchase journey with drop-off,
// browsers, OSes and countries with real-world shares, 90 days), deterministic by seed.
import { embeddedDatabase, type Runtime } from './runtime.js';
import { generateDemoData, type DemoDataSummary } from '../store/duckdb/index.js';
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
  const db = embeddedDatabase(runtime);
  const summary = await generateDemoData(db, {
    projectId: created.project_id,
    events: options.events,
    users: options.users,
    days: options.days,
    endDay: options.endDay,
    seed: options.seed,
    pseudonymise: project.pseudonymise,
    onProgress: progress,
  });
  await db.checkpoint();
  return { ...created, summary };
}
