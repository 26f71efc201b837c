// The audit log (the port every read and every security act goes through): entries are chained,
// written in group commits with a signed head, and a read whose entry cannot be written — or
// whose principal is suspended — is refused (fail closed, as Vault's audit devices do).
import { createHmac, hkdfSync } from 'node:crypto';
import type { JsonObject } from '../shared/json.js';
import { AppError, isAppError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { CheckpointSigner, entryHash } from './chain.js';
import { coarseNetwork, countryOf, networkHmac } from './network.js';
import { packSubjects } from './subjects.js';
import {
  isReadKind,
  type AuditEntry,
  type AuditInput,
  type AuditStore,
  type ChainPosition,
  type ReadAttempt,
  type SealedBatch,
} from './types.js';

/** The audit log's keys, derived from the master key (HKDF): nothing of them is stored. */
export interface AuditKeys {
  /** HMAC key of sensitive values and networks. */
  hmac: Buffer;
  /** Ed25519 seed of the checkpoint signer. */
  signingSeed: Buffer;
}

export function deriveAuditKeys(masterKey: Buffer): AuditKeys {
  const derive = (use: string): Buffer =>
    Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), `sillage/v1/master/${use}`, 32));
  return { hmac: derive('audit-hmac'), signingSeed: derive('audit-signing') };
}

/** Resolves a project's organisation (entries carry it so owners can read their own). */
export type OrgResolver = (projectId: string) => Promise<string | null>;

export type AuditListener = (entry: AuditEntry) => void;

export interface AuditLogOptions {
  /** A periodic checkpoint (kept for ever, pushed off-box) every this many entries… */
  checkpointEvery?: number;
  /** …or this long after the previous one, whichever comes first. */
  checkpointIntervalMs?: number;
  now?: () => number;
}

interface Pending {
  entry: Omit<AuditEntry, 'seq' | 'prevHash' | 'hash'>;
  resolve: (e: AuditEntry) => void;
  reject: (error: unknown) => void;
}

/** The audit log. Open with {@link AuditLog.open}; `record` is the one way in. */
export class AuditLog {
  readonly signer: CheckpointSigner;
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private readonly suspended = new Set<string>();
  private readonly listeners: AuditListener[] = [];
  private readonly orgCache = new Map<string, string | null>();
  private readonly now: () => number;
  private readonly openedAtMs: number;
  private readonly checkpointEvery: number;
  private readonly checkpointIntervalMs: number;

  private constructor(
    readonly store: AuditStore,
    private readonly keys: AuditKeys,
    private readonly orgOf: OrgResolver,
    private readonly logger: Logger,
    options: AuditLogOptions,
  ) {
    this.signer = new CheckpointSigner(keys.signingSeed);
    this.now = options.now ?? Date.now;
    this.openedAtMs = this.now();
    this.checkpointEvery = options.checkpointEvery ?? 10_000;
    this.checkpointIntervalMs = options.checkpointIntervalMs ?? 3_600_000;
  }

  static async open(
    store: AuditStore,
    keys: AuditKeys,
    orgOf: OrgResolver,
    logger: Logger,
    options: AuditLogOptions = {},
  ): Promise<AuditLog> {
    const log = new AuditLog(store, keys, orgOf, logger, options);
    await log.reloadSuspensions();
    return log;
  }

  /** Reads the active suspensions again (another node may have suspended or lifted one). */
  async reloadSuspensions(): Promise<void> {
    const active = await this.store.listSuspensions(true);
    this.suspended.clear();
    for (const s of active) this.suspended.add(s.actor);
  }

  /** Called after each entry is durable (the detectors listen here). */
  onEntry(listener: AuditListener): void {
    this.listeners.push(listener);
  }

  /** HMAC of a sensitive value under the audit key (an investigator can recompute it). */
  hmacValue(name: string, value: string): string {
    return createHmac('sha256', this.keys.hmac)
      .update(`${name}\u0000${value}`)
      .digest('hex')
      .slice(0, 32);
  }

  /** HMAC of a coarse network (`203.0.113.0/24`). */
  networkKey(network: string): string {
    return networkHmac(this.keys.hmac, network);
  }

  isSuspended(actor: string): boolean {
    return this.suspended.has(actor);
  }

  /** Marks actors suspended in memory (the store row is written by the responder). */
  markSuspended(actors: readonly string[], suspended: boolean): void {
    for (const a of actors) {
      if (suspended) this.suspended.add(a);
      else this.suspended.delete(a);
    }
  }

  /**
   * Refuses a read by a suspended principal before any data is touched (services call this
   * first, then `record` once they know what was returned).
   */
  assertMayRead(actor: string): void {
    if (this.suspended.has(actor)) {
      throw new AppError(
        'AUDIT_PRINCIPAL_SUSPENDED',
        'this account or key is suspended after unusual access; an owner must lift it',
      );
    }
  }

  /**
   * Admits a read before it touches data. A suspended principal's attempt is refused — and put on
   * the record first (kind, target, source, outcome AUDIT_PRINCIPAL_SUSPENDED): what a suspended
   * attacker keeps trying is evidence. When even that entry cannot be written the read is refused
   * all the same.
   */
  async admitRead(attempt: ReadAttempt): Promise<void> {
    if (!this.suspended.has(attempt.actor)) return;
    const refusal = new AppError(
      'AUDIT_PRINCIPAL_SUSPENDED',
      'this account or key is suspended after unusual access; an owner must lift it',
    );
    try {
      await this.record({ ...attempt, outcome: refusal.code });
    } catch (cause) {
      this.logger.error('refused read not recorded', {
        code: isAppError(cause) ? cause.code : 'STORE_FAILURE',
      });
    }
    throw refusal;
  }

  /**
   * Records one entry and resolves once it is durable. A read whose entry cannot be written
   * is refused with AUDIT_UNAVAILABLE; so is any act by a suspended principal's read.
   */
  async record(input: AuditInput): Promise<AuditEntry> {
    if (isReadKind(input.kind) && input.outcome === undefined && this.suspended.has(input.actor)) {
      // Suspended while this read ran (it was admitted before): the answer is withheld, and the
      // attempt goes on the record as one refused at admission would — what was asked, not what
      // was found, since nothing of it leaves.
      const { actor, orgId, projectId, source, target, detail, sensitive } = input;
      await this.admitRead({
        kind: input.kind,
        actor,
        orgId,
        projectId,
        source,
        target,
        detail,
        sensitive,
      });
    }
    const orgId =
      input.orgId !== undefined && input.orgId !== null
        ? input.orgId
        : input.projectId
          ? await this.projectOrg(input.projectId)
          : null;
    const source = input.source ?? { kind: 'system' as const };
    const http = source.kind === 'http' ? source : null;
    const network = http ? coarseNetwork(http.ip) : null;
    const detail: JsonObject = { ...(input.detail ?? {}) };
    if (input.sensitive) {
      for (const [name, value] of Object.entries(input.sensitive)) {
        detail[`${name}_hmac`] = this.hmacValue(name, value);
      }
    }
    const { packed, count } = packSubjects(input.subjects ?? []);
    const entry: Pending['entry'] = {
      atMs: this.now(),
      kind: input.kind,
      actor: input.actor,
      orgId,
      projectId: input.projectId ?? null,
      source: source.kind,
      country: http ? countryOf(http.place) : null,
      network: network ? this.networkKey(network) : null,
      outcome: input.outcome ?? 'ok',
      target: input.target ?? null,
      detail: JSON.stringify(detail),
      fields: JSON.stringify([...new Set(input.fields ?? [])].sort()),
      eventNames: JSON.stringify([...new Set(input.eventNames ?? [])].sort()),
      rows: input.rows ?? 0,
      subjectCount: count,
      subjects: packed,
    };
    const written = await new Promise<AuditEntry>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      this.kick();
    });
    for (const listener of this.listeners) {
      try {
        listener(written);
      } catch (error) {
        this.logger.error('audit listener failed', {
          errorName: error instanceof Error ? error.name : typeof error,
        });
      }
    }
    return written;
  }

  private async projectOrg(projectId: string): Promise<string | null> {
    if (this.orgCache.has(projectId)) return this.orgCache.get(projectId) ?? null;
    const org = await this.orgOf(projectId);
    this.orgCache.set(projectId, org);
    return org;
  }

  /** A project joined or changed organisation (the audited account store calls this). */
  forgetProjectOrg(projectId: string): void {
    this.orgCache.delete(projectId);
  }

  /** Starts a flush unless one runs; the running one picks up what queued meanwhile. */
  private kick(): void {
    if (this.flushing) return;
    this.flushing = (async () => {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        await this.flush(batch);
      }
    })().finally(() => {
      this.flushing = null;
      if (this.queue.length > 0) this.kick();
    });
  }

  /**
   * Chains a batch after the store's position and signs the new head (the store calls this under
   * its write lock, so that several nodes sharing one store extend one chain).
   */
  private seal(drafts: readonly Pending['entry'][], prev: ChainPosition): SealedBatch {
    let { seq, hash } = prev;
    const entries: AuditEntry[] = drafts.map((entry) => {
      seq += 1;
      const withChain = { ...entry, seq, prevHash: hash };
      hash = entryHash(withChain);
      return { ...withChain, hash };
    });
    const last = entries.at(-1);
    if (!last) throw new Error('an empty audit batch');
    const atMs = last.atMs;
    const since = prev.lastCheckpoint ?? { seq: 0, atMs: this.openedAtMs };
    return {
      entries,
      head: this.signer.sign({ seq: last.seq, hash: last.hash, atMs }),
      checkpoint:
        last.seq - since.seq >= this.checkpointEvery ||
        atMs - since.atMs >= this.checkpointIntervalMs,
    };
  }

  private async flush(batch: Pending[]): Promise<void> {
    if (batch.length === 0) return;
    const drafts = batch.map((p) => p.entry);
    let sealed: SealedBatch;
    try {
      sealed = await this.store.append((prev) => this.seal(drafts, prev));
    } catch (cause) {
      this.logger.error('audit entry not written', {
        count: batch.length,
        code: isAppError(cause) ? cause.code : 'STORE_FAILURE',
      });
      const error = new AppError(
        'AUDIT_UNAVAILABLE',
        'the audit log cannot be written: the request was refused',
        { cause },
      );
      for (const p of batch) p.reject(error);
      return;
    }
    sealed.entries.forEach((e, i) => batch[i]?.resolve(e));
  }

  /** Waits for queued entries (shutdown). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }
}
