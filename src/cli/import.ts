// `sillage import --project ID --format mixpanel FILE`: streams a Mixpanel raw export (JSONL,
// plain or gzip) through the ingest pipeline, on a running server or on a stopped store.
import fs from 'node:fs';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import cliProgress from 'cli-progress';
import type { ImportBatchResult } from '../ingest/file-import.js';
import type { JsonValue, RecordError } from '../ingest/records.js';
import { parseJsonRecords } from '../ingest/wire/index.js';
import { AppError, isAppError } from '../shared/errors.js';

/** Sends one batch somewhere (admin socket or local pipeline). */
export type ImportSink = (records: JsonValue[], firstIndex: number) => Promise<ImportBatchResult>;

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

async function openLines(
  file: string,
): Promise<{ lines: AsyncIterable<string>; bytesRead: () => number; total: number }> {
  const total = fs.statSync(file).size;
  const fd = await fs.promises.open(file, 'r');
  const head = Buffer.alloc(2);
  await fd.read(head, 0, 2, 0);
  await fd.close();
  const raw = fs.createReadStream(file);
  let bytes = 0;
  raw.on('data', (chunk) => (bytes += chunk.length));
  const gzip = head[0] === 0x1f && head[1] === 0x8b;
  const stream: Readable = gzip ? raw.pipe(zlib.createGunzip()) : raw;
  return {
    lines: readline.createInterface({ input: stream, crlfDelay: Infinity }),
    bytesRead: () => bytes,
    total,
  };
}

/** Imports a file; progress goes to stderr when it is a terminal (or `progress` is forced). */
export async function importFile(
  file: string,
  sink: ImportSink,
  options: { progress?: boolean } = {},
): Promise<ImportSummary> {
  if (!fs.existsSync(file)) throw new AppError('NOT_FOUND', 'import file not found');
  const { lines, bytesRead, total } = await openLines(file);
  const showProgress = options.progress ?? process.stderr.isTTY;
  const bar = showProgress
    ? new cliProgress.SingleBar(
        {
          format: 'importing [{bar}] {percentage}% | {imported} imported, {rejected} rejected',
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(total, 0, { imported: 0, rejected: 0 });

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

  let batch: JsonValue[] = [];
  let batchStart = 0;
  // Records keep their file line index; a line that is not JSON is rejected on its own.
  let indexInBatch: number[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const result = await sink(batch, 0);
    summary.imported += result.imported;
    summary.duplicates += result.duplicates;
    summary.ignored += result.ignored;
    for (const e of result.errors) reject({ ...e, index: indexInBatch[e.index] ?? batchStart });
    batch = [];
    indexInBatch = [];
    bar?.update(bytesRead(), { imported: summary.imported, rejected: summary.rejected });
  };

  let lineNo = 0;
  for await (const line of lines) {
    const index = lineNo++;
    if (line.trim() === '') continue;
    summary.lines++;
    try {
      const records = parseJsonRecords(line, MAX_DEPTH, `line ${index + 1}`);
      for (const record of records) {
        if (batch.length === 0) batchStart = index;
        batch.push(record);
        indexInBatch.push(index);
      }
    } catch (error) {
      reject({
        index,
        insertId: null,
        field: 'line',
        message: isAppError(error) ? error.message : 'not valid JSON',
      });
    }
    if (batch.length >= BATCH) await flush();
  }
  await flush();
  bar?.update(total, { imported: summary.imported, rejected: summary.rejected });
  bar?.stop();
  summary.reasons = [...reasons.values()].sort((a, b) => b.count - a.count);
  return summary;
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
