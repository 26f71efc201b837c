// Worker thread of the ingest pipeline: decodes a request body, then runs enrichment, the privacy
// stage and row encoding for its events and profile updates, off the thread that serves HTTP. PII
// held back for the vault goes back to the main thread, which seals it.
import os from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { parentPort } from 'node:worker_threads';
import { createPseudonymiser, PrivacyCounters, type PrivacyPolicy } from '../privacy/index.js';
import type { ProjectContext } from '../projects/index.js';
import { isAppError } from '../shared/errors.js';
import { encodeEventRows } from '../store/row-json.js';
import type { EventRow, PrivacyCountRow, ProfileUpdateRow } from '../store/types.js';
import { enrichStageFromShared, type EnrichFn } from './enrich-stage.js';
import {
  DEFAULT_MAX_HELD_DECODED_CHARS,
  WORKER_NICE,
  type FromWorker,
  type ToWorker,
  type WorkerResult,
} from './event-workers.js';
import { createPrivacyStage, privacyCountRows } from './privacy-stage.js';
import type { RecordError } from './records.js';
import { toEventRow } from './rows.js';
import { decodeAndMap, type WireRequest } from './wire-input.js';
import type { MappedRecords } from './wire/index.js';

/** What the privacy stage reads of a project; the rest of ProjectContext stays on the main thread. */
type WorkerProject = Pick<ProjectContext, 'policy' | 'pseudonymise' | 'groupKeys'> & {
  project: { id: string; token: string };
};

interface Job {
  request: WireRequest;
  /** Null while set aside (see `hold`): decoded again from `body` when needed. */
  mapped: MappedRecords | null;
  body: Uint8Array | null;
  /** Length of the decoded JSON: what holding `mapped` costs, roughly. */
  chars: number;
  /** The project established by credentials (`/import`), if any. */
  fixed: number | null;
}

// Below the thread serving HTTP (see WORKER_NICE).
try {
  os.setPriority(WORKER_NICE);
} catch {
  // Not permitted here (some containers); the worker then runs at the same priority.
}

/** Like ProjectDirectory's negative cache: a token unknown now may belong to a project soon. */
const UNKNOWN_TOKEN_MS = 5_000;

const projects = new Map<number, WorkerProject>();
const tokens = new Map<string, { ref: number | null; atMs: number }>();
const jobs = new Map<number, Job>();
/** Decoded JSON characters this worker may hold for jobs between their messages (see `hold`). */
let maxHeldChars = DEFAULT_MAX_HELD_DECODED_CHARS;

/** Decoded characters held by jobs other than `except`. */
function heldChars(except: Job | null): number {
  let held = 0;
  for (const job of jobs.values()) if (job !== except && job.mapped) held += job.chars;
  return held;
}

/**
 * Called when a job waits for the main thread (project tokens, or the check after `done`): its
 * decoded records stay only while this worker holds fewer than `maxHeldChars` for others, so that
 * a caller sending random unknown tokens cannot make it hold unbounded decoded jobs; past that, the
 * records are dropped and decoded again from the body (whose bytes the pool already counts).
 * Returns what the worker holds now.
 */
function hold(job: Job): number {
  const others = heldChars(job);
  if (job.mapped && others > 0 && others + job.chars > maxHeldChars) job.mapped = null;
  return others + (job.mapped ? job.chars : 0);
}

/** Decodes the body of a job into its records (again, if they were set aside). */
function decode(
  request: WireRequest,
  body: Uint8Array | null,
): { mapped: MappedRecords; chars: number } {
  const meter = { jsonChars: 0 };
  const mapped = decodeAndMap(
    {
      ...request,
      decode: {
        ...request.decode,
        body: body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : null,
      },
    },
    meter,
  );
  return { mapped, chars: meter.jsonChars };
}
const privacy = createPrivacyStage();
let enrich: EnrichFn | null = null;

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  parentPort?.postMessage(message, transfer);
}

/** The project of a token: a ref, null when the token is unknown, undefined when not known here. */
function lookup(token: string): number | null | undefined {
  const entry = tokens.get(token);
  if (!entry) return undefined;
  if (entry.ref === null && Date.now() - entry.atMs > UNKNOWN_TOKEN_MS) {
    tokens.delete(token);
    return undefined;
  }
  return entry.ref;
}

/** Runs a decoded job, or asks for the projects of tokens this thread does not know yet. */
function run(id: number): void {
  const job = jobs.get(id);
  if (!job || !enrich) return;
  job.mapped ??= decode(job.request, job.body).mapped;
  const mapped = job.mapped;
  const { events, updates } = mapped;
  if (job.fixed === null) {
    const missing = new Set<string>();
    for (const r of [...events, ...updates]) {
      if (r.token !== null && r.token !== '' && lookup(r.token) === undefined) missing.add(r.token);
    }
    if (missing.size > 0) {
      post({ id, kind: 'needs', tokens: [...missing], heldChars: hold(job) });
      return;
    }
  }
  const fixed = job.fixed === null ? null : (projects.get(job.fixed) ?? null);
  // The same resolution rules, and error texts, as IngestPipeline.ingest.
  const errors: RecordError[] = [...mapped.errors];
  let missingToken = 0;
  let unknownToken = 0;
  let accepted = 0;
  const usedTokens = new Map<string, number | null>();
  const counters = new Map<number, PrivacyCounters>();
  const countersFor = (ref: number): PrivacyCounters => {
    let c = counters.get(ref);
    if (!c) counters.set(ref, (c = new PrivacyCounters()));
    return c;
  };
  const resolve = (token: string | null, index: number, insertId: string | null): number | null => {
    if (fixed !== null) {
      if (token !== null && token !== fixed.project.token) {
        errors.push({
          index,
          insertId,
          field: 'properties.token',
          message: 'token does not belong to the authenticated project',
        });
        return null;
      }
      return job.fixed;
    }
    if (token === null || token === '') {
      missingToken++;
      errors.push({ index, insertId, field: 'properties.token', message: 'missing project token' });
      return null;
    }
    const ref = lookup(token) ?? null;
    usedTokens.set(token, ref);
    if (ref === null) {
      unknownToken++;
      errors.push({ index, insertId, field: 'properties.token', message: 'unknown project token' });
    }
    return ref;
  };
  const projectOf = (ref: number): WorkerProject => {
    const project = projects.get(ref);
    if (!project) throw new Error('project not sent to the worker');
    return project;
  };
  const rows: EventRow[] = [];
  const links: string[] = [];
  const linkTimes: number[] = [];
  const context = job.request.context;
  for (const event of events) {
    const ref = resolve(event.token, event.index, event.insertId);
    if (ref === null) continue;
    const project = projectOf(ref);
    const clean = privacy.event(
      project as unknown as ProjectContext,
      event,
      enrich(event, context),
      countersFor(ref),
    );
    const row = toEventRow(project.project.id, clean, context.receivedAtMs);
    rows.push(row);
    for (const link of clean.identityLinks) {
      links.push(row.projectId, link.aliasId, link.canonicalId);
      linkTimes.push(row.timeMs);
    }
    accepted++;
  }
  // Profile updates: the same privacy stage; vault values go back to be sealed on the main thread.
  const profileRows: ProfileUpdateRow[] = [];
  const vaults: WorkerResult['vaults'] = [];
  const groupKeys: [number, string][] = [];
  for (const update of updates) {
    const ref = resolve(update.token, update.index, null);
    if (ref === null) continue;
    const project = projectOf(ref);
    const known = project.groupKeys.size;
    const clean = privacy.profile(
      project as unknown as ProjectContext,
      update,
      enrich(update, context),
      countersFor(ref),
    );
    if (update.target.kind === 'group' && project.groupKeys.size !== known) {
      groupKeys.push([ref, update.target.groupKey]);
    }
    for (const row of clean.rows) profileRows.push(row);
    if (clean.vault) vaults.push({ ref, timeMs: update.timeMs, ...clean.vault });
    accepted++;
  }
  const privacyCounts: PrivacyCountRow[] = [];
  const used: [number, number][] = [];
  for (const [ref, projectCounters] of counters) {
    const project = projectOf(ref);
    privacyCounts.push(
      ...privacyCountRows(project.project.id, projectCounters, context.receivedAtMs),
    );
    used.push([ref, project.groupKeys.size]);
  }
  const encoded = encodeEventRows(rows);
  // Transferred, not copied: it must own its memory (small Buffers share a pool).
  const lines =
    encoded.lines.byteOffset === 0 && encoded.lines.byteLength === encoded.lines.buffer.byteLength
      ? encoded.lines
      : new Uint8Array(encoded.lines);
  post(
    {
      id,
      kind: 'done',
      lines,
      count: encoded.count,
      links,
      linkTimes,
      privacyCounts,
      errors,
      accepted,
      ignored: mapped.ignored,
      missingToken,
      unknownToken,
      profileRows,
      vaults,
      groupKeys,
      tokens: [...usedTokens],
      used,
      heldChars: hold(job),
    },
    [lines.buffer as ArrayBuffer],
  );
}

function handle(message: ToWorker): void {
  switch (message.type) {
    case 'init':
      enrich = enrichStageFromShared(message.geo);
      maxHeldChars = message.maxHeldChars;
      return;
    case 'project':
      projects.set(message.ref, {
        project: { id: message.projectId, token: message.token },
        policy: message.policy as PrivacyPolicy,
        pseudonymise: createPseudonymiser(Buffer.from(message.pseudonymKey)),
        groupKeys: new Set(message.groupKeys),
      });
      return;
    case 'token':
      tokens.set(message.token, { ref: message.ref, atMs: Date.now() });
      return;
    case 'wire': {
      let decoded: { mapped: MappedRecords; chars: number };
      try {
        decoded = decode(message.request, message.body);
      } catch (error) {
        if (!isAppError(error)) throw error;
        post({ id: message.id, kind: 'rejected', code: error.code, message: error.message });
        return;
      }
      jobs.set(message.id, {
        request: message.request,
        mapped: decoded.mapped,
        body: message.body,
        chars: decoded.chars,
        fixed: message.fixed,
      });
      run(message.id);
      return;
    }
    case 'resume':
    case 'redo':
      run(message.id);
      return;
    case 'release':
      jobs.delete(message.id);
      return;
    case 'memory':
      post({ id: 0, kind: 'memory', heapBytes: getHeapStatistics().total_physical_size });
      return;
  }
}

parentPort?.on('message', (message: ToWorker) => {
  try {
    handle(message);
  } catch (error) {
    if ('id' in message) {
      jobs.delete(message.id);
      post({
        id: message.id,
        kind: 'failed',
        errorName: error instanceof Error ? error.name : 'Error',
      });
    }
  }
});
