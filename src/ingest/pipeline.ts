// The ingest pipeline: normalised records → project → enrichment → privacy → rows → group commit.
import { isAppError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { CommitBatch, CommitResult } from '../store/types.js';
import type { ProjectContext, ProjectDirectory } from '../projects/index.js';
import type { VaultService } from '../projects/vault.js';
import type { EnrichFn } from './enrich-stage.js';
import { privacyCountRows, type PrivacyStage } from './privacy-stage.js';
import { PrivacyCounters } from '../privacy/index.js';
import type {
  IncomingEvent,
  IncomingProfileUpdate,
  RecordError,
  RequestContext,
} from './records.js';
import { toEventRow } from './rows.js';
import type { GroupCommitWriter } from './writer.js';
import type { EventWorkerPool, PreparedEvents } from './event-workers.js';
import { decodeAndMap, type WireRequest } from './wire-input.js';

/**
 * Bodies smaller than this are decoded on the calling thread, where a round trip to a worker
 * would cost more than it saves (a mixpanel-browser event is about 1 KB as sent).
 */
const WORKER_MIN_BODY_BYTES = 8 * 1024;

/**
 * What a small body may decode to on the calling thread (gzip, base64, LZ-string); one that
 * inflates further is handed to a worker, so a small compressed bomb costs this thread at most this.
 */
const CALLING_THREAD_MAX_DECODED = 2 * WORKER_MIN_BODY_BYTES;

/** What happened to a request's records. */
export interface IngestOutcome {
  accepted: number;
  /** Dropped on purpose (`$ignore`). */
  ignored: number;
  errors: RecordError[];
  /** Set when no record could be attributed to a project because of credentials. */
  authFailure: 'missing' | 'unknown' | null;
  /** What the commit holding this request wrote (shared with other requests unless exclusive). */
  committed: CommitResult;
}

export interface IngestInput {
  events: IncomingEvent[];
  updates: IncomingProfileUpdate[];
  /** Errors found while decoding individual records. */
  errors: RecordError[];
  ignored: number;
  context: RequestContext;
  /** Commit alone so that `committed` counts only this request (imports report duplicates). */
  exclusive?: boolean;
  /** Project already established by credentials (`/import` Basic auth); tokens then not needed. */
  projectId?: string;
  /** Events prepared by a worker thread (`events` is then empty; `errors` includes theirs). */
  prepared?: PreparedEvents;
}

export interface PipelineDeps {
  projects: ProjectDirectory;
  /** Worker threads for the decoding and privacy stage of request bodies; without, all runs here. */
  workers?: EventWorkerPool;
  /** The opt-in PII vault (used only by projects whose policy enables it). */
  vault: VaultService;
  enrich: EnrichFn;
  privacy: PrivacyStage;
  writer: GroupCommitWriter;
  logger: Logger;
}

/**
 * One place where every write path (SDK routes, `/import`, `sillage import`) goes through the same
 * stages in the same order. Per-record failures are reported; the rest of the batch proceeds.
 */
export class IngestPipeline {
  constructor(private readonly deps: PipelineDeps) {}

  /**
   * A request body from an ingest route: decoded, then ingested. Large bodies (events and profile
   * updates alike) are decoded and prepared (enrichment, privacy stage, rows) on a worker thread;
   * the outcome and the errors are the same as on this thread. Throws the wire layer's 4xx
   * AppError for a body that cannot be decoded.
   */
  async ingestWire(
    request: WireRequest,
    /** `source`: whose request it is, for the worker pool's fair scheduling (compared by identity). */
    options: { projectId?: string; source?: unknown } = {},
  ): Promise<IngestOutcome> {
    const workers = this.deps.workers;
    if (!workers || workers.size === 0) {
      const mapped = decodeAndMap(request);
      return this.ingest({ ...mapped, context: request.context, projectId: options.projectId });
    }
    const body = request.decode.body;
    const query = request.decode.query.data;
    const size = (body?.length ?? 0) + (query?.length ?? 0);
    if (size < WORKER_MIN_BODY_BYTES) {
      const limits = request.limits;
      const local = Math.min(limits.maxDecodedBytes, CALLING_THREAD_MAX_DECODED);
      try {
        const mapped = decodeAndMap({ ...request, limits: { ...limits, maxDecodedBytes: local } });
        return await this.ingest({
          ...mapped,
          context: request.context,
          projectId: options.projectId,
        });
      } catch (error) {
        const inflates =
          isAppError(error) &&
          error.code === 'INGEST_DECOMPRESSED_TOO_LARGE' &&
          local < limits.maxDecodedBytes;
        if (!inflates) throw error;
      }
    }
    // Every body that can cost real CPU (large, or inflating) is decoded, scanned and encoded on
    // a worker; it waits for one rather than run here (the admission bound caps the wait).
    const fixed = options.projectId ? await this.deps.projects.byId(options.projectId) : null;
    const prepared = await workers.prepare(request, fixed, options.source ?? null);
    return this.ingest({
      events: [],
      updates: [],
      errors: prepared.errors,
      ignored: prepared.ignored,
      context: request.context,
      projectId: options.projectId,
      prepared,
    });
  }

  async ingest(input: IngestInput): Promise<IngestOutcome> {
    const errors = [...input.errors];
    const batch: CommitBatch = {
      events: [],
      profileUpdates: [],
      identityLinks: [],
      privacyCounts: [],
    };
    let missingToken = 0;
    let unknownToken = 0;
    const fixed = input.projectId ? await this.deps.projects.byId(input.projectId) : null;
    const tokens = new Map<string, ProjectContext | null>();

    const resolve = async (
      token: string | null,
      index: number,
      insertId: string | null,
    ): Promise<ProjectContext | null> => {
      if (fixed) {
        // With credentials, a token in the record must still belong to the same project.
        if (token !== null && token !== fixed.project.token) {
          errors.push({
            index,
            insertId,
            field: 'properties.token',
            message: 'token does not belong to the authenticated project',
          });
          return null;
        }
        return fixed;
      }
      if (token === null || token === '') {
        missingToken++;
        errors.push({
          index,
          insertId,
          field: 'properties.token',
          message: 'missing project token',
        });
        return null;
      }
      // The records of a request nearly always share one token: look each token up once.
      let project = tokens.get(token);
      if (project === undefined) {
        project = await this.deps.projects.byToken(token);
        tokens.set(token, project);
      }
      if (!project) {
        unknownToken++;
        errors.push({
          index,
          insertId,
          field: 'properties.token',
          message: 'unknown project token',
        });
      }
      return project;
    };

    let accepted = 0;
    const countersByProject = new Map<string, PrivacyCounters>();
    const countersFor = (project: ProjectContext): PrivacyCounters => {
      let counters = countersByProject.get(project.project.id);
      if (!counters) countersByProject.set(project.project.id, (counters = new PrivacyCounters()));
      return counters;
    };
    for (const event of input.events) {
      // Known tokens resolve without a trip through the microtask queue.
      const known = event.token === null || fixed ? undefined : tokens.get(event.token);
      const project = known ?? (await resolve(event.token, event.index, event.insertId));
      if (!project) continue;
      const enriched = this.deps.enrich(event, input.context);
      const clean = this.deps.privacy.event(project, event, enriched, countersFor(project));
      const row = toEventRow(project.project.id, clean, input.context.receivedAtMs);
      batch.events.push(row);
      for (const link of clean.identityLinks) {
        batch.identityLinks.push({
          projectId: row.projectId,
          aliasId: link.aliasId,
          canonicalId: link.canonicalId,
          timeMs: row.timeMs,
        });
      }
      accepted++;
    }
    // Events a worker already prepared (see ingestWire).
    const prepared = input.prepared;
    if (prepared) {
      (batch.encodedEvents ??= []).push(prepared.encoded);
      for (const link of prepared.identityLinks) batch.identityLinks.push(link);
      for (const count of prepared.privacyCounts) batch.privacyCounts.push(count);
      accepted += prepared.accepted;
      missingToken += prepared.missingToken;
      unknownToken += prepared.unknownToken;
      for (const row of prepared.profileUpdates) batch.profileUpdates.push(row);
      // Vault values are sealed and stored before the request is acknowledged.
      for (const v of prepared.vaults) {
        await this.deps.vault.seal(v.project, v.subjectId, v.values, v.mode, v.timeMs);
      }
    }
    for (const update of input.updates) {
      const project = await resolve(update.token, update.index, null);
      if (!project) continue;
      const enriched = this.deps.enrich(update, input.context);
      const clean = this.deps.privacy.profile(project, update, enriched, countersFor(project));
      batch.profileUpdates.push(...clean.rows);
      // Vault values are sealed and stored before the request is acknowledged.
      if (clean.vault) {
        await this.deps.vault.seal(
          project,
          clean.vault.subjectId,
          clean.vault.values,
          clean.vault.mode,
          update.timeMs,
        );
      }
      accepted++;
    }

    for (const [projectId, counters] of countersByProject) {
      batch.privacyCounts.push(
        ...privacyCountRows(projectId, counters, input.context.receivedAtMs),
      );
    }
    // Resolves only once the batch is durable (or throws: overload, store failure).
    const committed = await this.deps.writer.submit(batch, { exclusive: input.exclusive ?? false });
    const authFailure =
      accepted === 0 && (missingToken > 0 || unknownToken > 0)
        ? unknownToken > 0
          ? 'unknown'
          : 'missing'
        : null;
    return { accepted, ignored: input.ignored, errors, authFailure, committed };
  }
}
