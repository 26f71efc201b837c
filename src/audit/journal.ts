// The audit log's write-ahead journal: each group commit is one O_DSYNC append to a file of JSON
// lines, made on the thread pool so that other requests go on while the disk flushes, and the
// database copy — what scans, verification and reports read — is loaded from it in the
// background, in bigger transactions. A read is released only once its entry is durable in the
// journal; a journal that cannot be written refuses it.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../shared/log.js';
import { Serial } from '../shared/serial.js';
import { GENESIS_HASH } from './chain.js';
import type {
  AuditCheckpoint,
  AuditEntry,
  AuditFilter,
  AuditStore,
  AuditSummary,
  ChainPosition,
  ChainSealer,
  SealedBatch,
  SuspensionRecord,
} from './types.js';

/** Directory of the journal inside the data directory. */
export const AUDIT_JOURNAL_DIR = 'audit-journal';

const SEGMENT = /^(\d{12})\.jsonl$/;

type Batch = SealedBatch;

interface Waiter {
  seal: ChainSealer;
  resolve: (batch: SealedBatch) => void;
  reject: (error: Error) => void;
}

/** Where the chain stands after `batch`. */
function after(position: ChainPosition, batch: Batch): ChainPosition {
  const last = batch.entries.at(-1);
  if (!last) return position;
  return {
    seq: last.seq,
    hash: last.hash,
    lastCheckpoint: batch.checkpoint
      ? { seq: batch.head.seq, atMs: batch.head.atMs }
      : position.lastCheckpoint,
  };
}

/** One write(2) on the thread pool; resolves with the bytes written. */
function writeAt(fd: number, bytes: Buffer, offset: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.write(fd, bytes, offset, bytes.length - offset, null, (error, written) => {
      if (error) reject(error);
      else resolve(written);
    });
  });
}

/**
 * Hands the inner store a batch already chained here, refusing it unless it continues exactly the
 * chain the inner store holds (the journal is the one writer of its data directory's log).
 */
function continuing(batch: Batch): ChainSealer {
  return (prev) => {
    const first = batch.entries[0];
    if (first && (first.seq !== prev.seq + 1 || first.prevHash !== prev.hash))
      throw new Error('the audit journal does not continue the stored chain');
    return batch;
  };
}

export interface JournalOptions {
  /** Load into the database this long after the first unloaded batch… */
  loadDelayMs?: number;
  /** …or at once when this many entries wait. */
  loadEntries?: number;
  /**
   * Seals every batch (AES-256-GCM) under this key (derived from the master key): entries name
   * events, properties and subjects, and the journal sits in the data directory next to the
   * encrypted database. Without it the journal is plain JSON lines.
   */
  key?: Buffer;
}

const SEAL_INFO = 'sillage/v1/audit-journal/batch';
const SEAL_AAD = Buffer.from('sillage audit journal batch');

/**
 * Keys of sealed batches: one per process start (a random salt), each batch's nonce a counter
 * under it, so no nonce repeats under a key and no random-nonce limit applies.
 */
class JournalSeal {
  private readonly salt = randomBytes(32);
  private readonly writeKey: Buffer;
  private counter = 0n;
  private readonly readKeys = new Map<string, Buffer>();

  constructor(private readonly key: Buffer) {
    this.writeKey = this.keyFor(this.salt);
  }

  private keyFor(salt: Buffer): Buffer {
    const id = salt.toString('base64');
    let k = this.readKeys.get(id);
    if (!k) {
      k = Buffer.from(hkdfSync('sha256', this.key, salt, SEAL_INFO, 32));
      this.readKeys.set(id, k);
    }
    return k;
  }

  seal(plain: Buffer): string {
    const nonce = Buffer.alloc(12);
    nonce.writeBigUInt64BE(this.counter++, 4);
    const cipher = createCipheriv('aes-256-gcm', this.writeKey, nonce);
    cipher.setAAD(SEAL_AAD);
    const body = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return JSON.stringify({
      t: 's',
      s: this.salt.toString('base64'),
      n: nonce.toString('base64'),
      c: body.toString('base64'),
    });
  }

  /** The batch's plain lines, or null when it does not open (damaged, or another key). */
  open(line: { s?: unknown; n?: unknown; c?: unknown }): string | null {
    if (typeof line.s !== 'string' || typeof line.n !== 'string' || typeof line.c !== 'string')
      return null;
    try {
      const body = Buffer.from(line.c, 'base64');
      const decipher = createDecipheriv(
        'aes-256-gcm',
        this.keyFor(Buffer.from(line.s, 'base64')),
        Buffer.from(line.n, 'base64'),
      );
      decipher.setAAD(SEAL_AAD);
      decipher.setAuthTag(body.subarray(body.length - 16));
      return Buffer.concat([
        decipher.update(body.subarray(0, body.length - 16)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      return null;
    }
  }
}

type EntryLine = Omit<AuditEntry, 'subjects'> & { t: 'e'; subjects: string };
type HeadLine = AuditCheckpoint & { t: 'h'; checkpoint: boolean };
type SealedLine = { t: 's'; s?: unknown; n?: unknown; c?: unknown };

function entryLine(e: AuditEntry): string {
  const line: EntryLine = { t: 'e', ...e, subjects: Buffer.from(e.subjects).toString('base64') };
  return JSON.stringify(line);
}

function encodeBatch(b: Batch, seal: JournalSeal | null): Buffer {
  const head: HeadLine = { t: 'h', ...b.head, checkpoint: b.checkpoint };
  const plain = b.entries.map(entryLine).join('\n') + '\n' + JSON.stringify(head) + '\n';
  // Sealed: the whole batch is one line, so a torn write is one unreadable (unacknowledged) line.
  return Buffer.from(seal ? seal.seal(Buffer.from(plain)) + '\n' : plain);
}

/**
 * The complete batches of one segment, in order. A batch counts only with its head line (it is
 * written last, in the same write): a torn tail is a batch that was never acknowledged.
 */
export function parseSegment(text: string, key?: Buffer): Batch[] {
  return parseLines(text.split('\n'), key ? new JournalSeal(key) : null);
}

function parseLines(lines: string[], seal: JournalSeal | null): Batch[] {
  const batches: Batch[] = [];
  let entries: AuditEntry[] = [];
  for (const line of lines) {
    if (line === '') continue;
    let parsed: EntryLine | HeadLine | SealedLine;
    try {
      parsed = JSON.parse(line) as EntryLine | HeadLine | SealedLine;
    } catch {
      break;
    }
    if (parsed.t === 's') {
      // A sealed batch: whole, or (torn, damaged, another key) the end of what can be read.
      const plain = seal?.open(parsed) ?? null;
      if (plain === null || entries.length > 0) break;
      const inner = parseLines(plain.split('\n'), null);
      if (inner.length !== 1) break;
      batches.push(inner[0]!);
      continue;
    }
    if (parsed.t === 'e') {
      const { t: _t, subjects, ...rest } = parsed;
      entries.push({ ...rest, subjects: new Uint8Array(Buffer.from(subjects, 'base64')) });
    } else if (parsed.t === 'h') {
      const { t: _t, checkpoint, ...head } = parsed;
      batches.push({ entries, head, checkpoint });
      entries = [];
    } else {
      break;
    }
  }
  return batches;
}

/**
 * An AuditStore that makes appends durable in a journal first and loads them into `inner` in
 * the background. Reads wait for the load, so they see every acknowledged entry.
 */
export class JournaledAuditStore implements AuditStore {
  private fd: number;
  private segment: number;
  private size = 0;
  private pending: Batch[] = [];
  private pendingEntries = 0;
  /** Appends waiting for the write in flight; they go together in the next one. */
  private waiting: Waiter[] = [];
  /** Whether a group write is queued on `writes` (and will take everything waiting). */
  private groupQueued = false;
  /** Group writes and segment rotation, one at a time. */
  private readonly writes = new Serial();
  private readonly loadSerial = new Serial();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly loadDelayMs: number;
  private readonly loadEntries: number;
  private readonly seal: JournalSeal | null;

  private constructor(
    private readonly dir: string,
    private readonly inner: AuditStore,
    private readonly logger: Logger,
    fd: number,
    segment: number,
    private position: ChainPosition,
    options: JournalOptions,
  ) {
    this.fd = fd;
    this.segment = segment;
    this.loadDelayMs = options.loadDelayMs ?? 1_000;
    this.loadEntries = options.loadEntries ?? 2_000;
    this.seal = options.key ? new JournalSeal(options.key) : null;
  }

  /**
   * Opens the journal in `dir`: batches a crash left unloaded go into `inner` first (a later batch
   * reusing sequence numbers — written after a failed one — replaces it), then old segments go.
   */
  static async open(
    dir: string,
    inner: AuditStore,
    logger: Logger,
    options: JournalOptions = {},
  ): Promise<JournaledAuditStore> {
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
    const segments = (await fs.promises.readdir(dir))
      .map((name) => SEGMENT.exec(name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const lastSeq = (await inner.last())?.seq ?? 0;
    let entries: AuditEntry[] = [];
    let head: AuditCheckpoint | null = null;
    let checkpoint = false;
    for (const n of segments) {
      const text = await fs.promises.readFile(path.join(dir, segmentName(n)), 'utf8');
      for (const b of parseSegment(text, options.key)) {
        const first = b.entries[0]?.seq ?? b.head.seq + 1;
        entries = entries.filter((e) => e.seq < first).concat(b.entries);
        head = b.head;
        checkpoint ||= b.checkpoint;
      }
    }
    entries = entries.filter((e) => e.seq > lastSeq);
    if (head && entries.length > 0) {
      await inner.append(continuing({ entries, head, checkpoint }));
      logger.info('audit journal replayed', { count: entries.length });
    }
    for (const n of segments) await fs.promises.rm(path.join(dir, segmentName(n)));
    const next = (segments.at(-1) ?? 0) + 1;
    const last = await inner.last();
    const cp = (await inner.checkpoints()).at(-1);
    const position: ChainPosition = {
      seq: last?.seq ?? 0,
      hash: last?.hash ?? GENESIS_HASH,
      lastCheckpoint: cp ? { seq: cp.seq, atMs: cp.atMs } : null,
    };
    return new JournaledAuditStore(
      dir,
      inner,
      logger,
      openSegment(dir, next),
      next,
      position,
      options,
    );
  }

  /**
   * Appends one batch and resolves once it is on disk. Appends arriving while a write is in
   * flight wait for it, then go together: each is chained after the one before it, in the order
   * of the calls, and the group is one O_DSYNC write (group commit). The write runs on the thread
   * pool, so the process goes on serving other requests while the disk flushes; a batch is
   * acknowledged only once the write that holds it has returned, and a failed write refuses every
   * batch in it.
   */
  append(seal: ChainSealer): Promise<SealedBatch> {
    if (this.closed) return Promise.reject(new Error('the audit journal is closed'));
    return new Promise<SealedBatch>((resolve, reject) => {
      this.waiting.push({ seal, resolve, reject });
      if (this.groupQueued) return;
      this.groupQueued = true;
      // Serial with rotation too: a segment is never closed under a write in flight.
      void this.writes.run(() => this.writeGroup());
    });
  }

  /** Writes every append waiting now as one group; never throws (each waiter hears). */
  private async writeGroup(): Promise<void> {
    this.groupQueued = false;
    const group = this.waiting;
    this.waiting = [];
    let position = this.position;
    const sealed: { waiter: Waiter; batch: Batch }[] = [];
    const parts: Buffer[] = [];
    for (const waiter of group) {
      try {
        const batch = waiter.seal(position);
        parts.push(encodeBatch(batch, this.seal));
        sealed.push({ waiter, batch });
        position = after(position, batch);
      } catch (error) {
        // This batch alone is refused; the next one is chained after the one before it.
        waiter.reject(error instanceof Error ? error : new Error(String(error)));
      }
    }
    if (sealed.length === 0) return;
    try {
      await this.writeDurably(Buffer.concat(parts));
    } catch (error) {
      const refusal = error instanceof Error ? error : new Error(String(error));
      for (const { waiter } of sealed) waiter.reject(refusal);
      return;
    }
    this.position = position;
    for (const { batch } of sealed) {
      this.pending.push(batch);
      this.pendingEntries += batch.entries.length;
    }
    this.schedule();
    for (const { waiter, batch } of sealed) waiter.resolve(batch);
  }

  /** One append to the open segment, resolved once the bytes are durable (O_DSYNC). */
  private async writeDurably(bytes: Buffer): Promise<void> {
    const fd = this.fd;
    const start = this.size;
    try {
      let done = 0;
      while (done < bytes.length) done += await writeAt(fd, bytes, done);
    } catch (error) {
      // Take the failed group back out so a later batch (same sequence numbers) follows a
      // clean line; if even that fails, the next append goes to a new segment.
      try {
        fs.ftruncateSync(fd, start);
      } catch {
        try {
          this.rotate();
        } catch {
          // The next append fails too, and says so.
        }
      }
      throw error;
    }
    this.size += bytes.length;
  }

  private schedule(): void {
    if (this.pendingEntries >= this.loadEntries) {
      this.loadSoon(0);
    } else if (!this.timer) {
      this.loadSoon(this.loadDelayMs);
    }
  }

  private loadSoon(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.settle().catch((error: unknown) =>
        this.logger.error('audit journal not loaded into the database', {
          errorName: error instanceof Error ? error.name : typeof error,
        }),
      );
    }, delayMs);
    this.timer.unref();
  }

  /** Opens the next segment for appends; returns the number of the one it replaced. */
  private rotate(): number {
    const old = this.segment;
    try {
      fs.closeSync(this.fd);
    } catch {
      // Already closed or broken: the new segment takes over either way.
    }
    this.segment = old + 1;
    this.size = 0;
    this.fd = openSegment(this.dir, this.segment);
    return old;
  }

  /** Loads every journaled batch into the database (reads call this first). */
  settle(): Promise<void> {
    return this.loadSerial.run(async () => {
      // Between two group writes: every batch taken is in a segment up to `upTo`, and the
      // segment closed by the rotation has no write in flight.
      // (Taken only once the rotation succeeded: a failed one leaves them pending.)
      const { batches, upTo } = await this.writes.run(() => {
        if (this.pending.length === 0) return Promise.resolve({ batches: [], upTo: 0 });
        const rotatedFrom = this.closed ? this.segment : this.rotate();
        const taken = this.pending;
        this.pending = [];
        this.pendingEntries = 0;
        return Promise.resolve({ batches: taken, upTo: rotatedFrom });
      });
      if (batches.length === 0) return;
      // One transaction per run of batches up to a periodic checkpoint, so that the checkpoint
      // stays at the entry it was signed for.
      let loaded = 0;
      try {
        while (loaded < batches.length) {
          let end = loaded;
          while (end < batches.length - 1 && !batches[end]!.checkpoint) end += 1;
          const run = batches.slice(loaded, end + 1);
          await this.inner.append(
            continuing({
              entries: run.flatMap((b) => b.entries),
              head: run.at(-1)!.head,
              checkpoint: run.at(-1)!.checkpoint,
            }),
          );
          loaded = end + 1;
        }
      } catch (error) {
        // Still durable in the journal: put them back for the next try.
        this.pending = batches.slice(loaded).concat(this.pending);
        this.pendingEntries = this.pending.reduce((n, b) => n + b.entries.length, 0);
        throw error;
      }
      for (const name of fs.readdirSync(this.dir)) {
        const n = Number(SEGMENT.exec(name)?.[1] ?? NaN);
        if (n <= upTo) fs.rmSync(path.join(this.dir, name), { force: true });
      }
    });
  }

  /** Loads what is pending and closes the journal (shutdown). */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.closed = true;
    try {
      // Appends made before the close are written (and acknowledged) first.
      await this.writes.run(() => Promise.resolve());
      await this.settle();
    } finally {
      try {
        fs.closeSync(this.fd);
      } catch {
        // Closed already.
      }
    }
  }

  async last(): Promise<AuditEntry | null> {
    await this.settle();
    return this.inner.last();
  }

  async head(): Promise<AuditCheckpoint | null> {
    await this.settle();
    return this.inner.head();
  }

  async checkpoints(): Promise<AuditCheckpoint[]> {
    await this.settle();
    return this.inner.checkpoints();
  }

  async scan(filter: AuditFilter): Promise<AuditEntry[]> {
    await this.settle();
    return this.inner.scan(filter);
  }

  async summarise(filter: AuditFilter, listLimit: number): Promise<AuditSummary> {
    await this.settle();
    return this.inner.summarise(filter, listLimit);
  }

  async walk(visit: (page: AuditEntry[]) => void, pageSize?: number): Promise<void> {
    await this.settle();
    return this.inner.walk(visit, pageSize);
  }

  putSuspension(s: SuspensionRecord): Promise<void> {
    return this.inner.putSuspension(s);
  }

  liftSuspension(id: string, atMs: number, by: string): Promise<boolean> {
    return this.inner.liftSuspension(id, atMs, by);
  }

  listSuspensions(activeOnly: boolean): Promise<SuspensionRecord[]> {
    return this.inner.listSuspensions(activeOnly);
  }

  claimTrigger(key: string, atMs: number): Promise<boolean> {
    return this.inner.claimTrigger(key, atMs);
  }
}

function segmentName(n: number): string {
  return `${String(n).padStart(12, '0')}.jsonl`;
}

/** Appends only, and a write returns once its bytes are on disk (O_DSYNC). */
function openSegment(dir: string, n: number): number {
  const { O_APPEND, O_CREAT, O_WRONLY, O_DSYNC } = fs.constants;
  return fs.openSync(
    path.join(dir, segmentName(n)),
    O_APPEND | O_CREAT | O_WRONLY | O_DSYNC,
    0o600,
  );
}
