// Worker threads for the CPU-heavy part of ingestion: a request body goes to a worker, which
// decodes it and runs enrichment, the privacy stage and row encoding for its events; the thread
// serving HTTP only answers requests and writes the ingest log.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { AppError, type ErrorCode } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { WORKER_YOUNG_GENERATION_MB } from '../shared/node-flags.js';
import type { ProjectContext, ProjectDirectory } from '../projects/index.js';
import type {
  EncodedEventRows,
  IdentityLink,
  PrivacyCountRow,
  ProfileUpdateRow,
} from '../store/types.js';
import type { GeoShared } from './enrich/index.js';
import type { JsonObject, RecordError } from './records.js';
import type { WireRequest } from './wire-input.js';

/** Main → worker. */
export type ToWorker =
  | { type: 'init'; geo: GeoShared; maxHeldChars: number }
  | {
      type: 'project';
      ref: number;
      projectId: string;
      token: string;
      policy: unknown;
      pseudonymKey: Uint8Array;
      groupKeys: string[];
    }
  | { type: 'token'; token: string; ref: number | null }
  | {
      type: 'wire';
      id: number;
      /** The request without its body, which travels as `body` (a copy, transferred). */
      request: WireRequest;
      body: Uint8Array | null;
      fixed: number | null;
    }
  | { type: 'resume' | 'redo' | 'release'; id: number }
  /** Asks for the worker's V8 heap (answered with `kind: 'memory'`, between jobs). */
  | { type: 'memory' };

/** Worker → main. */
export type FromWorker =
  | { id: number; kind: 'rejected'; code: ErrorCode; message: string }
  | { id: number; kind: 'failed'; errorName: string }
  | { id: number; kind: 'needs'; tokens: string[]; heldChars: number }
  | ({ id: number; kind: 'done' } & WorkerResult)
  /** The worker's V8 heap, bytes (committed physical memory). */
  | { id: 0; kind: 'memory'; heapBytes: number };

/** What a worker made of a request. */
export interface WorkerResult {
  lines: Uint8Array;
  count: number;
  /** projectId, alias, canonical, … (pseudonyms), with one time per triple. */
  links: string[];
  linkTimes: number[];
  privacyCounts: PrivacyCountRow[];
  /** Decoding errors, then the events' project resolution errors, in record order. */
  errors: RecordError[];
  accepted: number;
  ignored: number;
  missingToken: number;
  unknownToken: number;
  /** Profile updates after the privacy stage. */
  profileRows: ProfileUpdateRow[];
  /** PII held back for the vault, to seal on the main thread before the commit. */
  vaults: {
    ref: number;
    timeMs: number;
    subjectId: string;
    values: JsonObject;
    mode: 'set' | 'set_once';
  }[];
  /** Group keys the worker learnt from group profiles (project reference, key). */
  groupKeys: [number, string][];
  /** Tokens the worker resolved, with the project reference it used (null: unknown). */
  tokens: [string, number | null][];
  /** Project references used, with the number of group keys the worker knew for each. */
  used: [number, number][];
  /** Decoded JSON characters the worker holds for jobs waiting on this thread (see `hold`). */
  heldChars: number;
}

/** The events of a request, ready for the writer, and what is left for the pipeline. */
export interface PreparedEvents {
  encoded: EncodedEventRows;
  identityLinks: IdentityLink[];
  privacyCounts: PrivacyCountRow[];
  errors: RecordError[];
  accepted: number;
  ignored: number;
  missingToken: number;
  unknownToken: number;
  profileUpdates: ProfileUpdateRow[];
  /** Vault values to seal, with their project, before the commit. */
  vaults: {
    project: ProjectContext;
    subjectId: string;
    values: JsonObject;
    mode: 'set' | 'set_once';
    timeMs: number;
  }[];
}

interface Slot {
  worker: Worker;
  /** Per job: who gets the next message about it. */
  waiting: Map<number, { resolve: (message: FromWorker) => void; reject: (e: unknown) => void }>;
  /** Jobs this worker holds, with their body sizes (reserved before their first message). */
  sizes: Map<number, number>;
  /** Sum of `sizes`. */
  bytes: number;
  /** How many of its jobs are large (at least LARGE_JOB_BYTES): at most one at a time. */
  large: number;
  projects: Set<number>;
  /** Its V8 heap when it last told (see `heapBytes`), bytes. */
  heapBytes: number;
}

/**
 * Jobs a worker may hold at once; past that, the request is processed on the calling thread. The
 * calling thread also parses HTTP and writes the ingest log for every request, so it should take
 * a smaller share of the decoding: on 2 cores, with 32 connections sending 50-event batches, 16
 * gave about 10 % more events/s than 8 (which left the worker idle a third of the time), while 24
 * and more starved the calling thread instead.
 */
export const MAX_JOBS_PER_WORKER = 16;

/**
 * Body bytes a worker may hold queued at once (one job of any size is always allowed): a worker
 * runs its jobs one after the other, so large bodies wait here, where the wait is bounded, rather
 * than inside the worker, where it cannot be.
 */
export const MAX_BYTES_PER_WORKER = 4 * 1024 * 1024;

/**
 * A job at least this large is "large": a worker holds at most one at a time, and waiting small
 * jobs are handed out before waiting large ones. A worker runs its jobs one after the other, so
 * a small batch then waits behind at most one large body (whose cost the per-record limits
 * bound), never behind a queue of them from one flooding client (issue 10, fairness).
 */
export const LARGE_JOB_BYTES = 256 * 1024;

/**
 * The body as bytes whose memory can move to the worker without a copy on this thread. A large
 * body from Fastify owns its whole ArrayBuffer (Buffer.concat allocates outside the shared pool
 * past 4 KiB), so it is handed over as it is: the request's Buffer is then empty (detached), which
 * is fine because nothing reads an ingest body after the pipeline took it (the Mixpanel
 * parameters were read, and cached, before). A body sharing its memory (small, or a view) is
 * copied: transferring it would take the other users' bytes with it.
 */
export function transferable(body: Buffer | null): Uint8Array<ArrayBuffer> | null {
  if (!body) return null;
  const whole = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength;
  if (whole && body.buffer instanceof ArrayBuffer) {
    return new Uint8Array(body.buffer, 0, body.byteLength);
  }
  return new Uint8Array(body);
}

/**
 * The workers' nice value: above the thread serving HTTP (0), so that when decoding and scanning
 * large bodies keeps every core busy, the scheduler still runs the thread that answers /healthz
 * and acknowledges commits first (on Linux, setpriority applies to the calling thread only). Only
 * the relative share changes: an idle core still runs a worker at full speed.
 */
export const WORKER_NICE = 5;

/** A request waiting for a worker. */
interface Waiter {
  id: number;
  size: number;
  /** Whose request it is (see `prepare`): sources with fewer jobs running go first. */
  source: unknown;
  resolve: (slot: Slot) => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Decoded JSON characters a worker keeps for jobs waiting on the main thread (token look-ups, the
 * check after a job) beyond the one job it always may: past it, a waiting job's records are
 * decoded again from its body when it resumes. Bodies are counted by the pool and the admission
 * budget; this bounds what decoding them (gzip, base64, LZ-string) turned them into.
 */
export const DEFAULT_MAX_HELD_DECODED_CHARS = 8 * 1024 * 1024;

/** How long a request may wait for a worker, and what to tell it then. */
export interface WorkerPoolOptions {
  maxWaitMs: number;
  retryAfterSeconds: number;
  /** See DEFAULT_MAX_HELD_DECODED_CHARS. */
  maxHeldDecodedChars?: number;
}

export const DEFAULT_WORKER_POOL_OPTIONS: WorkerPoolOptions = {
  maxWaitMs: 10_000,
  retryAfterSeconds: 2,
};

/**
 * Worker threads to use by default: one per core but one (which serves HTTP and writes the log).
 * A request body is copied to the worker, which is cheap next to decoding and scanning it.
 */
export function defaultEventWorkers(): number {
  const cores = os.availableParallelism();
  return cores < 2 ? 0 : cores - 1;
}

/**
 * Runs requests on `size` worker threads, each on the least busy one that has room (or none: the
 * caller then does the work itself). The workers hold, per project, its pseudonym key, token and
 * policy, sent when first needed; after each job the main thread checks that what a worker used is
 * still current (a policy change is a new project context; group keys only grow) and has the job
 * redone if not, so that a change applies to every request that completes after it.
 */
export class EventWorkerPool {
  private readonly slots: (Slot | null)[];
  private readonly refs = new WeakMap<ProjectContext, number>();
  private readonly contexts = new Map<number, ProjectContext>();
  private nextRef = 1;
  private nextJob = 1;
  private closed = false;
  private heldPeak = 0;
  /** Requests waiting for a worker with room, in arrival order (handed out by `rank`). */
  private readonly queue: Waiter[] = [];
  /** Jobs on a worker, per source. */
  private readonly running = new Map<unknown, number>();
  /** Each job's source, while it is on a worker. */
  private readonly sources = new Map<number, unknown>();

  constructor(
    size: number,
    private readonly geo: GeoShared,
    private readonly projects: ProjectDirectory,
    private readonly logger: Logger,
    private readonly options: WorkerPoolOptions = DEFAULT_WORKER_POOL_OPTIONS,
  ) {
    this.slots = Array.from({ length: size }, () => null);
  }

  get size(): number {
    return this.slots.length;
  }

  /**
   * Decodes and prepares a request on a worker, waiting while every worker is full. Waiting
   * requests are handed out small before large (LARGE_JOB_BYTES), then those whose `source` (the
   * client, as the HTTP layer names it; any value compared by identity) has fewer jobs running,
   * then in arrival order. Throws the wire layer's AppError for bad input, INGEST_OVERLOADED
   * (503 + Retry-After) when no worker had room within `maxWaitMs`, SHUTTING_DOWN once closed.
   * Takes the body: a body owning its memory is moved to the worker, not copied (see
   * `transferable`).
   */
  async prepare(
    request: WireRequest,
    fixed: ProjectContext | null,
    source: unknown = null,
  ): Promise<PreparedEvents> {
    const id = this.nextJob++;
    const size = request.decode.body?.length ?? 0;
    const slot = await this.acquire(id, size, source);
    try {
      return await this.converse(slot, id, request, fixed);
    } finally {
      if (slot.sizes.has(id)) {
        this.finish(slot, id);
        slot.worker.postMessage({ type: 'release', id } satisfies ToWorker);
      }
    }
  }

  /** A worker with room for a job of `size` bytes, reserved for job `id`. */
  private acquire(id: number, size: number, source: unknown): Promise<Slot> {
    if (this.closed || this.slots.length === 0) {
      return Promise.reject(
        new AppError('SHUTTING_DOWN', 'the server is shutting down; retry shortly'),
      );
    }
    return new Promise<Slot>((resolve, reject) => {
      const entry: Waiter = { id, size, source, resolve, reject, timer: undefined };
      this.queue.push(entry);
      this.drain();
      if (!this.queue.includes(entry)) return; // placed at once
      entry.timer = setTimeout(() => {
        const at = this.queue.indexOf(entry);
        if (at !== -1) this.queue.splice(at, 1);
        reject(
          new AppError(
            'INGEST_OVERLOADED',
            'the server is busy preparing events; retry after the delay given',
            { retryAfterSeconds: this.options.retryAfterSeconds },
          ),
        );
      }, this.options.maxWaitMs);
    });
  }

  private reserve(slot: Slot, waiter: Waiter): void {
    slot.sizes.set(waiter.id, waiter.size);
    slot.bytes += waiter.size;
    if (waiter.size >= LARGE_JOB_BYTES) slot.large++;
    this.sources.set(waiter.id, waiter.source);
    this.running.set(waiter.source, (this.running.get(waiter.source) ?? 0) + 1);
    // A worker keeps the process alive only while it has work (the CLI has no server).
    if (slot.sizes.size === 1) slot.worker.ref();
  }

  /** Negative when waiter `a` goes before `b`: small first, then the less busy source, then FIFO. */
  private rank(a: Waiter, b: Waiter): number {
    const largeA = a.size >= LARGE_JOB_BYTES ? 1 : 0;
    const largeB = b.size >= LARGE_JOB_BYTES ? 1 : 0;
    if (largeA !== largeB) return largeA - largeB;
    const busyA = this.running.get(a.source) ?? 0;
    const busyB = this.running.get(b.source) ?? 0;
    return busyA !== busyB ? busyA - busyB : a.id - b.id;
  }

  /** Hands free room to the waiting requests, best ranked first (a linear scan per placement). */
  private drain(): void {
    while (this.queue.length > 0 && !this.closed) {
      let best: { at: number; waiter: Waiter; slot: Slot } | null = null;
      for (let at = 0; at < this.queue.length; at++) {
        const waiter = this.queue[at] as Waiter;
        if (best !== null && this.rank(waiter, best.waiter) >= 0) continue;
        const slot = this.pick(waiter.size);
        if (slot) best = { at, waiter, slot };
      }
      if (best === null) return;
      this.queue.splice(best.at, 1);
      clearTimeout(best.waiter.timer);
      this.reserve(best.slot, best.waiter);
      best.waiter.resolve(best.slot);
    }
  }

  private async converse(
    slot: Slot,
    id: number,
    request: WireRequest,
    fixed: ProjectContext | null,
  ): Promise<PreparedEvents> {
    const fixedRef = fixed ? this.ensureProject(slot, fixed) : null;
    const body = transferable(request.decode.body);
    let reply = await this.send(
      slot,
      id,
      {
        type: 'wire',
        id,
        request: { ...request, decode: { ...request.decode, body: null } },
        body,
        fixed: fixedRef,
      },
      body ? [body.buffer] : [],
    );
    for (;;) {
      switch (reply.kind) {
        case 'rejected':
          throw new AppError(reply.code, reply.message);
        case 'failed':
          throw new Error(`event worker failed: ${reply.errorName}`);
        case 'needs':
          for (const token of reply.tokens) {
            const project = await this.projects.byToken(token);
            const ref = project ? this.ensureProject(slot, project) : null;
            slot.worker.postMessage({ type: 'token', token, ref } satisfies ToWorker);
          }
          reply = await this.send(slot, id, { type: 'resume', id });
          continue;
        case 'done': {
          // Group keys learnt from group profiles hold for every later request too.
          for (const [ref, key] of reply.groupKeys) this.contexts.get(ref)?.groupKeys.add(key);
          if (await this.stale(slot, reply)) {
            reply = await this.send(slot, id, { type: 'redo', id });
            continue;
          }
          const identityLinks: IdentityLink[] = [];
          for (let i = 0; i < reply.linkTimes.length; i++) {
            identityLinks.push({
              projectId: reply.links[3 * i] as string,
              aliasId: reply.links[3 * i + 1] as string,
              canonicalId: reply.links[3 * i + 2] as string,
              timeMs: reply.linkTimes[i] as number,
            });
          }
          return {
            encoded: { lines: reply.lines, count: reply.count },
            identityLinks,
            privacyCounts: reply.privacyCounts,
            errors: reply.errors,
            accepted: reply.accepted,
            ignored: reply.ignored,
            missingToken: reply.missingToken,
            unknownToken: reply.unknownToken,
            profileUpdates: reply.profileRows,
            vaults: reply.vaults.map(({ ref, ...vault }) => {
              const project = this.contexts.get(ref);
              if (!project) throw new Error('event worker used an unknown project');
              return { project, ...vault };
            }),
          };
        }
      }
    }
  }

  /** Stops the workers (jobs still running fail). */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.queue.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new AppError('SHUTTING_DOWN', 'the server is shutting down; retry shortly'));
    }
    await Promise.all(
      this.slots.map(async (slot, i) => {
        this.slots[i] = null;
        if (slot) await slot.worker.terminate();
      }),
    );
  }

  /** Whether the worker used a project state that has changed since (then told the new one). */
  private async stale(slot: Slot, result: WorkerResult): Promise<boolean> {
    let stale = false;
    for (const [token, ref] of result.tokens) {
      const project = await this.projects.byToken(token);
      const current = project ? this.ensureProject(slot, project) : null;
      if (current !== ref) {
        slot.worker.postMessage({ type: 'token', token, ref: current } satisfies ToWorker);
        stale = true;
      }
    }
    for (const [ref, groupKeys] of result.used) {
      const project = this.contexts.get(ref);
      if (project && project.groupKeys.size !== groupKeys) {
        slot.worker.postMessage(this.projectMessage(ref, project));
        stale = true;
      }
    }
    return stale;
  }

  private projectMessage(ref: number, project: ProjectContext): ToWorker {
    return {
      type: 'project',
      ref,
      projectId: project.project.id,
      token: project.project.token,
      policy: project.policy,
      pseudonymKey: new Uint8Array(project.keyring.current('pseudonym').key),
      groupKeys: [...project.groupKeys],
    };
  }

  /** The project's reference, sent to the worker if it does not have it yet. */
  private ensureProject(slot: Slot, project: ProjectContext): number {
    let ref = this.refs.get(project);
    if (ref === undefined) {
      ref = this.nextRef++;
      this.refs.set(project, ref);
      this.contexts.set(ref, project);
    }
    if (!slot.projects.has(ref)) {
      slot.worker.postMessage(this.projectMessage(ref, project));
      slot.projects.add(ref);
    }
    return ref;
  }

  private send(
    slot: Slot,
    id: number,
    message: ToWorker,
    transfer: ArrayBuffer[] = [],
  ): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      slot.waiting.set(id, { resolve, reject });
      slot.worker.postMessage(message, transfer);
    });
  }

  private finish(slot: Slot, id: number): void {
    slot.waiting.delete(id);
    const size = slot.sizes.get(id);
    if (size === undefined) return;
    slot.sizes.delete(id);
    slot.bytes -= size;
    if (size >= LARGE_JOB_BYTES) slot.large--;
    const source = this.sources.get(id);
    this.sources.delete(id);
    const left = (this.running.get(source) ?? 1) - 1;
    if (left > 0) this.running.set(source, left);
    else this.running.delete(source);
    if (slot.sizes.size === 0) slot.worker.unref();
    this.drain();
  }

  /** The most decoded JSON characters a worker reported holding for waiting jobs (tests). */
  get heldDecodedCharsPeak(): number {
    return this.heldPeak;
  }

  /**
   * The workers' V8 heaps together, bytes, as each last reported it; asks each for a new figure
   * (answered between jobs), so that calling this now and then keeps it current.
   */
  heapBytes(): number {
    let bytes = 0;
    for (const slot of this.slots) {
      if (!slot) continue;
      bytes += slot.heapBytes;
      slot.worker.postMessage({ type: 'memory' } satisfies ToWorker);
    }
    return bytes;
  }

  /** Body bytes held by the workers' jobs now. */
  get heldBodyBytes(): number {
    return this.slots.reduce((n, slot) => n + (slot?.bytes ?? 0), 0);
  }

  /** Requests waiting for a worker (for health and tests). */
  get waiting(): number {
    return this.queue.length;
  }

  /** The least busy worker with room for `size` more body bytes (any idle one has room). */
  private pick(size: number): Slot | null {
    let best: Slot | null = null;
    for (let i = 0; i < this.slots.length; i++) {
      const slot = this.slots[i] ?? this.spawn(i);
      const jobs = slot.sizes.size;
      if (jobs >= MAX_JOBS_PER_WORKER) continue;
      if (jobs > 0 && slot.bytes + size > MAX_BYTES_PER_WORKER) continue;
      if (size >= LARGE_JOB_BYTES && slot.large > 0) continue;
      if (best === null || jobs < best.sizes.size) best = slot;
    }
    return best;
  }

  private spawn(index: number): Slot {
    // Compiled, the worker is a .js file beside this one; from sources (tests), a .ts file that
    // tsx (a development dependency) compiles on the fly.
    const fromSource = import.meta.url.endsWith('.ts');
    // The main thread's young generation (see shared/node-flags.ts), whatever flags node got.
    const resourceLimits = { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB };
    const worker = fromSource
      ? new Worker(
          `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(
            new URL('./event-worker.ts', import.meta.url).href,
          )}); });`,
          { eval: true, resourceLimits },
        )
      : new Worker(new URL('./event-worker.js', import.meta.url), { resourceLimits });
    worker.unref();
    const slot: Slot = {
      worker,
      waiting: new Map(),
      sizes: new Map(),
      bytes: 0,
      large: 0,
      projects: new Set(),
      heapBytes: 0,
    };
    worker.postMessage({
      type: 'init',
      geo: this.geo,
      maxHeldChars: this.options.maxHeldDecodedChars ?? DEFAULT_MAX_HELD_DECODED_CHARS,
    } satisfies ToWorker);
    const fail = (error: unknown): void => {
      if (this.slots[index] === slot) this.slots[index] = null;
      const failure = new AppError(
        'STORE_UNAVAILABLE',
        'the events could not be processed; retry later',
        {
          cause: error,
        },
      );
      for (const w of slot.waiting.values()) w.reject(failure);
      slot.waiting.clear();
      slot.sizes.clear();
      slot.bytes = 0;
      // The slot's jobs are gone: waiting requests may now try a new worker.
      this.drain();
    };
    worker.on('message', (message: FromWorker) => {
      if (message.kind === 'memory') {
        slot.heapBytes = message.heapBytes;
        return;
      }
      if (message.kind === 'needs' || message.kind === 'done') {
        this.heldPeak = Math.max(this.heldPeak, message.heldChars);
      }
      const w = slot.waiting.get(message.id);
      if (!w) return;
      // The job stays registered until `finish`: later replies about it reuse its place.
      w.resolve(message);
      if (message.kind === 'rejected' || message.kind === 'failed') this.finish(slot, message.id);
    });
    worker.on('error', (error) => {
      this.logger.error('event worker failed', { errorName: error.name });
      fail(error);
    });
    worker.on('exit', () => fail(new Error('event worker exited')));
    this.slots[index] = slot;
    return slot;
  }
}
