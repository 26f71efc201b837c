// A pool of worker threads for the CPU-heavy part of event ingestion (privacy stage, store rows,
// row JSON), so that the thread serving HTTP only decodes requests and writes the log.
import os from 'node:os';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { AppError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { ProjectContext } from '../projects/index.js';
import type { EncodedEventRows, IdentityLink, PrivacyCountRow } from '../store/types.js';
import type { EnrichedFields } from './enrich-stage.js';
import type { IncomingEvent } from './records.js';

/** The part of an IncomingEvent the privacy stage reads (never the transient IP or user agent). */
export type WorkerEvent = Pick<
  IncomingEvent,
  'event' | 'timeMs' | 'distinctId' | 'insertId' | 'properties'
>;

/** Main → worker: a project's privacy state, sent once per project context and worker. */
export interface ProjectMessage {
  type: 'project';
  ref: number;
  projectId: string;
  policy: unknown;
  pseudonymKey: Uint8Array;
  groupKeys: string[];
}

/** Main → worker: one request's events for one project. */
export interface EventJob {
  type: 'events';
  id: number;
  project: number;
  groupKeys: string[];
  events: WorkerEvent[];
  enriched: EnrichedFields[];
  receivedAtMs: number;
}

export type WorkerRequest = ProjectMessage | EventJob;

/** Worker → main. */
export interface EventJobResult {
  id: number;
  lines: Uint8Array;
  count: number;
  /** alias, canonical, alias, canonical, … (pseudonyms), with one time per pair. */
  links: string[];
  linkTimes: number[];
  privacyCounts: PrivacyCountRow[];
}

/** What the pipeline gets back for a job. */
export interface EncodedEvents {
  encoded: EncodedEventRows;
  identityLinks: IdentityLink[];
  privacyCounts: PrivacyCountRow[];
}

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (r: EventJobResult) => void; reject: (e: unknown) => void }>;
  projects: Set<number>;
}

const SAMPLE_MS = 100;
/** Event-loop utilisation above which this thread hands work to idle workers. */
const BUSY_UTILISATION = 0.5;

/**
 * Worker threads to use by default: one per core beyond two. One core serves HTTP and writes the
 * log, one loads it into DuckDB; handing events to a worker costs CPU in all (they are copied),
 * which pays only when cores would otherwise sit idle.
 */
export function defaultEventWorkers(): number {
  return Math.max(0, os.availableParallelism() - 2);
}

/**
 * Runs event jobs on `size` worker threads, each job on the least busy one. The workers hold each
 * project's pseudonym key and policy (sent once per project context: a changed policy is a new
 * context) and nothing else; a worker that fails is replaced and its jobs fail with a 503.
 */
export class EventWorkerPool {
  private readonly slots: (Slot | null)[];
  private readonly refs = new WeakMap<ProjectContext, number>();
  private nextRef = 1;
  private nextJob = 1;
  private closed = false;
  /** Event-loop utilisation of this thread over the last sampling period. */
  private utilisation = 0;
  private lastSample: EventLoopUtilization = performance.eventLoopUtilization();
  private readonly sampler: NodeJS.Timeout | null = null;

  constructor(
    size: number,
    private readonly logger: Logger,
  ) {
    this.slots = Array.from({ length: size }, () => null);
    if (size > 0) {
      this.sampler = setInterval(() => {
        const now = performance.eventLoopUtilization();
        this.utilisation = performance.eventLoopUtilization(now, this.lastSample).utilization;
        this.lastSample = now;
      }, SAMPLE_MS);
      this.sampler.unref();
    }
  }

  get size(): number {
    return this.slots.length;
  }

  /**
   * Whether a job should go to a worker now. Handing events over costs more CPU in all than doing
   * them here (they are copied to the worker), so work moves only while this thread is busy and a
   * worker is free: each thread then takes what it can, and on two cores the main thread stays
   * responsive without the copies eating the cycles they were meant to free.
   */
  shouldOffload(): boolean {
    if (this.closed || this.slots.length === 0 || this.utilisation < BUSY_UTILISATION) return false;
    return this.slots.some((slot) => slot === null || slot.pending.size === 0);
  }

  /** Runs the privacy stage and row encoding of `events` (all of `project`) on a worker. */
  async run(
    project: ProjectContext,
    events: readonly IncomingEvent[],
    enriched: readonly EnrichedFields[],
    receivedAtMs: number,
  ): Promise<EncodedEvents> {
    if (this.closed)
      throw new AppError('SHUTTING_DOWN', 'the server is shutting down; retry shortly');
    const slot = this.pick();
    let ref = this.refs.get(project);
    if (ref === undefined) this.refs.set(project, (ref = this.nextRef++));
    if (!slot.projects.has(ref)) {
      const message: ProjectMessage = {
        type: 'project',
        ref,
        projectId: project.project.id,
        policy: project.policy,
        pseudonymKey: new Uint8Array(project.keyring.current('pseudonym').key),
        groupKeys: [...project.groupKeys],
      };
      slot.worker.postMessage(message);
      slot.projects.add(ref);
    }
    const job: EventJob = {
      type: 'events',
      id: this.nextJob++,
      project: ref,
      groupKeys: [...project.groupKeys],
      events: events.map((e) => ({
        event: e.event,
        timeMs: e.timeMs,
        distinctId: e.distinctId,
        insertId: e.insertId,
        properties: e.properties,
      })),
      enriched: enriched as EnrichedFields[],
      receivedAtMs,
    };
    const result = await new Promise<EventJobResult>((resolve, reject) => {
      // A worker keeps the process alive only while it has work (the CLI importer has no server).
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(job.id, { resolve, reject });
      slot.worker.postMessage(job);
    });
    const projectId = project.project.id;
    const identityLinks: IdentityLink[] = [];
    for (let i = 0; i < result.linkTimes.length; i++) {
      identityLinks.push({
        projectId,
        aliasId: result.links[2 * i] as string,
        canonicalId: result.links[2 * i + 1] as string,
        timeMs: result.linkTimes[i] as number,
      });
    }
    return {
      encoded: { lines: result.lines, count: result.count },
      identityLinks,
      privacyCounts: result.privacyCounts,
    };
  }

  /** Stops the workers (jobs still running fail). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.sampler) clearInterval(this.sampler);
    await Promise.all(
      this.slots.map(async (slot, i) => {
        this.slots[i] = null;
        if (slot) await slot.worker.terminate();
      }),
    );
  }

  private pick(): Slot {
    let best = -1;
    for (let i = 0; i < this.slots.length; i++) {
      const slot = this.slots[i];
      if (!slot) {
        best = i;
        break;
      }
      if (best === -1 || slot.pending.size < (this.slots[best]?.pending.size ?? Infinity)) best = i;
    }
    return this.slots[best] ?? this.spawn(best);
  }

  private spawn(index: number): Slot {
    // Compiled, the worker is a .js file beside this one; from sources (tests), a .ts file that
    // tsx (a development dependency) compiles on the fly.
    const fromSource = import.meta.url.endsWith('.ts');
    const worker = fromSource
      ? new Worker(
          `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(
            new URL('./event-worker.ts', import.meta.url).href,
          )}); });`,
          { eval: true },
        )
      : new Worker(new URL('./event-worker.js', import.meta.url));
    worker.unref();
    const slot: Slot = { worker, pending: new Map(), projects: new Set() };
    const fail = (error: unknown): void => {
      if (this.slots[index] === slot) this.slots[index] = null;
      const failure = new AppError(
        'STORE_UNAVAILABLE',
        'the events could not be processed; retry later',
        {
          cause: error,
        },
      );
      for (const p of slot.pending.values()) p.reject(failure);
      slot.pending.clear();
    };
    worker.on('message', (result: EventJobResult | { id: number; error: string }) => {
      const p = slot.pending.get(result.id);
      if (!p) return;
      slot.pending.delete(result.id);
      if (slot.pending.size === 0) slot.worker.unref();
      if ('error' in result) p.reject(new Error(`event worker failed: ${result.error}`));
      else p.resolve(result);
    });
    worker.on('error', (error) => {
      this.logger.error('event worker failed', { errorName: error.name });
      fail(error);
    });
    worker.on('exit', (code) => {
      if (!this.closed && code !== 0)
        this.logger.error('event worker exited', { code: String(code) });
      fail(new Error('event worker exited'));
    });
    this.slots[index] = slot;
    return slot;
  }
}
