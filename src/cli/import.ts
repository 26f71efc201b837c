// `sillage import --project ID --format mixpanel FILE`: streams a Mixpanel raw export (JSONL,
// plain or gzip) through the ingest pipeline, on a running server or on a stopped store, in
// chunks of whole lines with bounded memory.
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import cliProgress from 'cli-progress';
import type { ImportBatchResult } from '../ingest/file-import.js';
import type { ImportTotals } from '../ingest/import-workers.js';
import type { JsonValue, RecordError } from '../ingest/records.js';
import { checkWireValue, parseJsonRecords } from '../ingest/wire/index.js';
import { AppError, isAppError } from '../shared/errors.js';

/** Sends one batch of parsed records somewhere (the running server's admin socket). */
export type ImportSink = (records: JsonValue[], firstIndex: number) => Promise<ImportBatchResult>;

/**
 * Where the chunks of a file go: `push` takes a chunk of whole lines (from 0-based file line
 * `firstLine`), which is the target's from then on (it may move its memory to another thread),
 * and resolves when there is room for more; `finish` resolves once everything is committed.
 */
export interface ImportTarget {
  push(chunk: Uint8Array, firstLine: number): Promise<void>;
  finish(): Promise<ImportTotals>;
  progress(): ImportTotals;
  /** Stops what the target runs (worker threads) when the import fails before `finish`. */
  close?(): Promise<void>;
}

export interface ImportSummary {
  lines: number;
  imported: number;
  duplicates: number;
  ignored: number;
  rejected: number;
  /** Rejections grouped by field and message, with up to 5 example line numbers each. */
  reasons: { field: string; message: string; count: number; lines: number[] }[];
}

const BATCH = 2000;
const MAX_DEPTH = 16;
/** Bytes of the file read per chunk (cut back to the last whole line). */
const CHUNK_BYTES = 1024 * 1024;

/**
 * The file (gunzipped when it is gzip) in chunks of whole lines of about `chunkBytes` each, with
 * how much of the file has been read. Each chunk is in memory of its own, so that the target can
 * move it to a worker thread instead of copying it (the target owns it once given). A plain file
 * is read straight into the chunk, behind the partial line the previous read ended with (the only
 * bytes copied); a line longer than a chunk is read on into a larger one.
 */
async function openChunks(
  file: string,
  chunkBytes: number,
): Promise<{ chunks: AsyncIterable<Uint8Array>; bytesRead: () => number; total: number }> {
  const total = fs.statSync(file).size;
  const fd = await fs.promises.open(file, 'r');
  const head = Buffer.alloc(2);
  await fd.read(head, 0, 2, 0);
  let bytes = 0;
  if (head[0] === 0x1f && head[1] === 0x8b) {
    await fd.close();
    const raw = fs.createReadStream(file, { highWaterMark: chunkBytes });
    raw.on('data', (chunk) => (bytes += chunk.length));
    const stream: Readable = raw.pipe(zlib.createGunzip({ chunkSize: Math.max(64, chunkBytes) }));
    return {
      chunks: wholeLines(stream as AsyncIterable<Buffer>, chunkBytes),
      bytesRead: () => bytes,
      total,
    };
  }
  async function* read(): AsyncGenerator<Uint8Array> {
    let carry: Buffer | null = null;
    try {
      for (;;) {
        const kept: number = carry?.length ?? 0;
        const chunk = Buffer.allocUnsafeSlow(kept + chunkBytes);
        carry?.copy(chunk, 0);
        const { bytesRead } = await fd.read(chunk, kept, chunkBytes, null);
        bytes += bytesRead;
        const end: number = kept + bytesRead;
        if (bytesRead === 0) {
          if (kept > 0) yield chunk.subarray(0, kept);
          return;
        }
        const cut: number = chunk.lastIndexOf(10, end - 1);
        if (cut === -1) {
          carry = chunk.subarray(0, end);
          continue;
        }
        // A copy: the chunk goes to another thread.
        carry = cut + 1 < end ? Buffer.from(chunk.subarray(cut + 1, end)) : null;
        yield chunk.subarray(0, cut + 1);
      }
    } finally {
      await fd.close();
    }
  }
  return { chunks: read(), bytesRead: () => bytes, total };
}

/** Pieces of a stream (gunzipped bytes) gathered into chunks of whole lines of their own. */
async function* wholeLines(
  pieces: AsyncIterable<Buffer>,
  chunkBytes: number,
): AsyncGenerator<Uint8Array> {
  let held: Buffer[] = [];
  let size = 0;
  // Memory of its own: Buffer.concat takes a small result from the shared pool, which cannot move.
  const joined = (): Buffer => {
    const chunk = Buffer.allocUnsafeSlow(size);
    let at = 0;
    for (const piece of held) at += piece.copy(chunk, at);
    return chunk;
  };
  const cut = function* (): Generator<Uint8Array> {
    const chunk = joined();
    const at = chunk.lastIndexOf(10);
    if (at === -1) {
      held = [chunk];
      return;
    }
    held = at + 1 < size ? [Buffer.from(chunk.subarray(at + 1))] : [];
    size = held[0]?.length ?? 0;
    yield chunk.subarray(0, at + 1);
  };
  for await (const piece of pieces) {
    held.push(piece);
    size += piece.length;
    if (size >= chunkBytes) yield* cut();
  }
  if (size > 0) yield joined();
}

/** Newlines in a buffer. */
function countLines(buffer: Uint8Array): number {
  let n = 0;
  let at = buffer.indexOf(10);
  while (at !== -1) {
    n++;
    at = buffer.indexOf(10, at + 1);
  }
  return n;
}

/** "1h 02m", "3m 05s", "12s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '…';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (h > 0) return `${h}h ${pad(m)}m`;
  if (m > 0) return `${m}m ${pad(s % 60)}s`;
  return `${s % 60}s`;
}

/** The progress bar's figures: events per second so far, and the time left at that pace. */
export function progressFigures(
  events: number,
  bytesDone: number,
  bytesTotal: number,
  elapsedMs: number,
): { rate: string; left: string } {
  const seconds = elapsedMs / 1000;
  const rate = seconds > 0 ? Math.round(events / seconds) : 0;
  const left =
    bytesDone > 0 && seconds > 0 ? ((bytesTotal - bytesDone) * seconds) / bytesDone : Infinity;
  return { rate: rate.toLocaleString('en-US'), left: formatDuration(left) };
}

/** How progress is shown: a redrawn bar (a terminal), plain lines now and then, or nothing. */
export type ProgressMode = 'bar' | 'lines' | 'off';

/** Seconds between two plain progress lines (a log file or a CI job needs no more). */
const PROGRESS_LINE_MS = 10_000;

/** One plain progress line: the figures of the bar, for output that is not a terminal. */
export function progressLine(p: {
  percent: number;
  imported: number;
  rejected: number;
  rate: string;
  left: string;
}): string {
  return `importing: ${Math.floor(p.percent)}% | ${p.imported.toLocaleString('en-US')} imported, ${p.rejected.toLocaleString('en-US')} rejected | ${p.rate} events/s | ${p.left} left`;
}

/**
 * Imports a file through `target` (made with the summary's error callback). Progress goes to
 * stderr: bytes read, events/s and the time left, as a bar on a terminal and as a plain line every
 * 10 s otherwise (`progress` forces a mode; `write` and `progressEveryMs` are for tests).
 */
export async function importFile(
  file: string,
  makeTarget: (onError: (e: RecordError) => void) => ImportTarget | Promise<ImportTarget>,
  options: {
    progress?: ProgressMode | boolean;
    chunkBytes?: number;
    progressEveryMs?: number;
    write?: (line: string) => void;
  } = {},
): Promise<ImportSummary> {
  if (!fs.existsSync(file)) throw new AppError('NOT_FOUND', 'import file not found');
  const summary: ImportSummary = {
    lines: 0,
    imported: 0,
    duplicates: 0,
    ignored: 0,
    rejected: 0,
    reasons: [],
  };
  const reasons = new Map<string, ImportSummary['reasons'][number]>();
  const reject = (e: RecordError): void => {
    summary.rejected++;
    const key = `${e.field}\u0000${e.message}`;
    let r = reasons.get(key);
    if (!r) reasons.set(key, (r = { field: e.field, message: e.message, count: 0, lines: [] }));
    r.count++;
    if (r.lines.length < 5) r.lines.push(e.index + 1);
  };
  const target = await makeTarget(reject);
  const { chunks, bytesRead, total } = await openChunks(file, options.chunkBytes ?? CHUNK_BYTES);
  const mode: ProgressMode =
    options.progress === true
      ? 'bar'
      : options.progress === false
        ? 'off'
        : (options.progress ?? (process.stderr.isTTY ? 'bar' : 'lines'));
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const bar =
    mode === 'bar'
      ? new cliProgress.SingleBar(
          {
            format:
              'importing [{bar}] {percentage}% | {imported} imported, {rejected} rejected | {rate} events/s | {left} left',
            stream: process.stderr,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  const started = performance.now();
  const update = (done: number): void => {
    const p = target.progress();
    const figures = progressFigures(
      p.imported + p.duplicates,
      done,
      total,
      performance.now() - started,
    );
    if (bar) {
      bar.update(done, {
        imported: p.imported.toLocaleString('en-US'),
        rejected: summary.rejected,
        ...figures,
      });
    } else if (mode === 'lines') {
      write(
        progressLine({
          percent: total > 0 ? (done / total) * 100 : 100,
          imported: p.imported,
          rejected: summary.rejected,
          ...figures,
        }),
      );
    }
  };
  bar?.start(total, 0, { imported: 0, rejected: 0, rate: 0, left: '…' });
  const timer =
    mode === 'off'
      ? null
      : setInterval(
          () => update(bytesRead()),
          bar ? 500 : (options.progressEveryMs ?? PROGRESS_LINE_MS),
        );
  try {
    let line = 0;
    for await (const chunk of chunks) {
      // Counted before it is handed over: the target may move the chunk's memory elsewhere.
      const lines = countLines(chunk);
      await target.push(chunk, line);
      line += lines;
    }
    const totals = await target.finish();
    summary.lines = totals.lines;
    summary.imported = totals.imported;
    summary.duplicates = totals.duplicates;
    summary.ignored = totals.ignored;
  } catch (error) {
    bar?.stop();
    await target.close?.();
    throw error;
  } finally {
    if (timer) clearInterval(timer);
  }
  update(total);
  bar?.stop();
  summary.reasons = [...reasons.values()].sort((a, b) => b.count - a.count);
  return summary;
}

/**
 * A target that parses lines here and sends batches of records to `sink` one after the other
 * (the running server's admin socket, where the server's own pipeline prepares them).
 */
/** What the ingest path's value checks refuse in a record (its properties, as /import names them). */
function valueProblem(record: JsonValue): { field: string; message: string } | null {
  const properties =
    record !== null && typeof record === 'object' && !Array.isArray(record)
      ? record.properties
      : undefined;
  const checked =
    properties !== null && typeof properties === 'object' && !Array.isArray(properties)
      ? checkWireValue(properties, 'properties')
      : checkWireValue(record, 'record');
  return checked.ok ? null : checked.problem;
}

export function recordBatchTarget(
  sink: ImportSink,
  onError: (e: RecordError) => void,
): ImportTarget {
  const totals: ImportTotals = { lines: 0, imported: 0, duplicates: 0, ignored: 0 };
  let batch: JsonValue[] = [];
  // Records keep their file line index; a line that is not JSON is rejected on its own.
  let indexInBatch: number[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const result = await sink(batch, 0);
    totals.imported += result.imported;
    totals.duplicates += result.duplicates;
    totals.ignored += result.ignored;
    for (const e of result.errors) onError({ ...e, index: indexInBatch[e.index] ?? 0 });
    batch = [];
    indexInBatch = [];
  };
  return {
    progress: () => ({ ...totals }),
    async push(chunk, firstLine) {
      const text = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8');
      let index = firstLine;
      for (const line of text.split('\n')) {
        const at = index++;
        if (line.trim() === '') continue;
        totals.lines++;
        try {
          for (const record of parseJsonRecords(line, MAX_DEPTH, `line ${at + 1}`)) {
            // The records cross the admin socket as JSON, where 1e309 would become null: the
            // server would store a null where the file has a number. So the checks on values
            // the server makes (values.ts) are made here first, with the same answer.
            const problem = valueProblem(record);
            if (problem) {
              onError({ index: at, insertId: null, ...problem });
              continue;
            }
            batch.push(record);
            indexInBatch.push(at);
          }
        } catch (error) {
          onError({
            index: at,
            insertId: null,
            field: 'line',
            message: isAppError(error) ? error.message : 'not valid JSON',
          });
        }
        if (batch.length >= BATCH) await flush();
      }
    },
    async finish() {
      await flush();
      return { ...totals };
    },
  };
}

/** Human-readable summary lines. */
export function formatSummary(s: ImportSummary): string[] {
  const out = [
    `${s.lines.toLocaleString('en-US')} lines read`,
    `${s.imported.toLocaleString('en-US')} events imported`,
    `${s.duplicates.toLocaleString('en-US')} duplicates skipped (same event, distinct_id, time and $insert_id)`,
  ];
  if (s.ignored > 0) out.push(`${s.ignored.toLocaleString('en-US')} events ignored ($ignore)`);
  out.push(`${s.rejected.toLocaleString('en-US')} records rejected`);
  for (const r of s.reasons)
    out.push(
      `  ${r.count} × ${r.field}: ${r.message} (lines ${r.lines.join(', ')}${r.count > r.lines.length ? ', …' : ''})`,
    );
  return out;
}
