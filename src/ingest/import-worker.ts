// Worker thread of `sillage import`: takes a chunk of a Mixpanel export (whole JSONL lines), and
// runs the same stages as SDK traffic on it — the safe JSON parser, the /import mapping rules,
// enrichment, the privacy stage — then encodes the rows for the ingest log. Only pseudonyms and
// scanned values leave this thread.
import { parentPort } from 'node:worker_threads';
import { createPseudonymiser, PrivacyCounters, type PrivacyPolicy } from '../privacy/index.js';
import type { ProjectContext } from '../projects/index.js';
import { isAppError } from '../shared/errors.js';
import { encodeEventRow } from '../store/row-json.js';
import { enrichStageFromShared, type EnrichFn } from './enrich-stage.js';
import type { ImportChunkResult, ToImportWorker } from './import-workers.js';
import { createPrivacyStage, privacyCountRows } from './privacy-stage.js';
import type { JsonValue, RecordError, RequestContext } from './records.js';
import { toEventRow } from './rows.js';
import { mapMixpanelEvents, parseJsonRecords } from './wire/index.js';

/** Deepest nesting a line may have (the same as the HTTP routes' JSON limit). */
const MAX_DEPTH = 16;

/** What the privacy stage reads of a project; the rest of ProjectContext stays on the main thread. */
type WorkerProject = Pick<ProjectContext, 'policy' | 'pseudonymise' | 'groupKeys'> & {
  project: { id: string; token: string };
};

const privacy = createPrivacyStage();

/**
 * The chunk's row lines, written as each event is done: held as one string until the end of the
 * chunk, they outlived every scavenge of the chunk (~1 MB of rows copied, then promoted) and the
 * string had to be flattened and measured once more before being encoded. Grown when needed.
 * The buffer itself is transferred with the chunk's result, and the committer sends it back once
 * the rows are loaded (`recycle`): copying the rows into a fresh buffer per chunk was ~3 µs per
 * event of a worker (a 200k-event import's profile: the copy's page faults, on memory the
 * process had just freed), as was writing into fresh memory each time.
 */
const OUT_START = 4 * 1024 * 1024;
const MAX_KEPT_OUT = 16 * 1024 * 1024;
/**
 * Buffers sent back and not yet reused. The committer holds at most two batches of chunks, so
 * few more than that come back; past this, the rest are let go.
 */
const MAX_POOLED = 96;
const pool: Buffer[] = [];
/** Its own memory (not the shared pool's), so that it can be transferred. */
const freshOut = (size: number): Buffer => pool.pop() ?? Buffer.allocUnsafeSlow(size);
let out = freshOut(OUT_START);
let used = 0;

function writeLine(line: string): void {
  // A UTF-16 code unit takes at most 3 bytes of UTF-8; +1 for the newline.
  const room = line.length * 3 + 1;
  if (used + room > out.length) {
    const bigger = Buffer.allocUnsafeSlow(Math.max(out.length * 2, used + room));
    out.copy(bigger, 0, 0, used);
    out = bigger;
  }
  used += out.write(line, used, 'utf8');
  out[used++] = 0x0a;
}
let enrich: EnrichFn | null = null;
let project: WorkerProject | null = null;

/**
 * Prepares one chunk; `firstLine` is the 0-based file line of its first line. Each line goes
 * through every stage and leaves only its row line behind before the next one is parsed, so that
 * the objects made for an event die young (a scavenge finds them dead) instead of being held for
 * the whole chunk and copied into the old generation. Lines are decoded one at a time: the
 * chunk decoded whole was a megabyte string in fresh memory (V8's large-object space) per chunk,
 * whose page faults made it cost ~13 ms a chunk in a 200k-event import's profile.
 */
function prepare(bytes: Buffer, firstLine: number): ImportChunkResult {
  if (!enrich || !project) throw new Error('import worker not initialised');
  const errors: RecordError[] = [];
  // Export files carry no IP and no user agent: locations come from the exported properties.
  const context: RequestContext = {
    source: 'file-import',
    clientIp: null,
    userAgent: null,
    ipMode: 'ignore-request-ip',
    receivedAtMs: Date.now(),
  };
  const counters = new PrivacyCounters();
  used = 0;
  let count = 0;
  let ignored = 0;
  const links: string[] = [];
  const linkTimes: number[] = [];
  // Identity links are first-wins per alias: a later link of the same alias changes nothing, so
  // only the first one in the chunk travels to the committer.
  const linked = new Set<string>();
  let lines = 0;
  let start = 0;
  let line = firstLine;
  while (start < bytes.length) {
    let stop = bytes.indexOf(0x0a, start);
    if (stop === -1) stop = bytes.length;
    const index = line++;
    // Whole lines only, so a multi-byte character is never cut.
    const chunk = stop > start ? bytes.toString('utf8', start, stop) : '';
    start = stop + 1;
    if (chunk.trim() === '') continue;
    lines++;
    let records: JsonValue[];
    try {
      records = parseJsonRecords(chunk, MAX_DEPTH, `line ${index + 1}`);
    } catch (error) {
      errors.push({
        index,
        insertId: null,
        field: 'line',
        message: isAppError(error) ? error.message : 'not valid JSON',
      });
      continue;
    }
    const mapped = mapMixpanelEvents(records, context, { importMode: true });
    for (const e of mapped.errors) errors.push({ ...e, index });
    ignored += mapped.ignored;
    for (const event of mapped.events) {
      // The same rule as IngestPipeline.ingest for a project fixed by credentials.
      if (event.token !== null && event.token !== project.project.token) {
        errors.push({
          index,
          insertId: event.insertId,
          field: 'properties.token',
          message: 'token does not belong to the authenticated project',
        });
        continue;
      }
      const clean = privacy.event(
        project as unknown as ProjectContext,
        event,
        enrich(event, context),
        counters,
      );
      const row = toEventRow(project.project.id, clean, context.receivedAtMs);
      writeLine(encodeEventRow(row));
      count++;
      for (const link of clean.identityLinks) {
        if (link.aliasId === link.canonicalId || linked.has(link.aliasId)) continue;
        linked.add(link.aliasId);
        links.push(link.aliasId, link.canonicalId);
        linkTimes.push(row.timeMs);
      }
    }
  }
  // The rows go with their buffer (transferred); the next chunk writes into another one.
  const encoded = out.subarray(0, used);
  out = freshOut(OUT_START);
  return {
    lines,
    encoded,
    count,
    links,
    linkTimes,
    privacyCounts: privacyCountRows(project.project.id, counters, context.receivedAtMs),
    errors,
    ignored,
  };
}

function handle(message: ToImportWorker): void {
  switch (message.type) {
    case 'init':
      enrich = enrichStageFromShared(message.geo);
      project = {
        project: { id: message.projectId, token: message.token },
        policy: message.policy as PrivacyPolicy,
        // No memo: an export's ids rarely recur within a memo's reach (see PseudonymiserOptions),
        // so it would cost a map insertion and old-generation garbage per id for few hits.
        pseudonymise: createPseudonymiser(Buffer.from(message.pseudonymKey), { cacheSize: 0 }),
        groupKeys: new Set(),
      };
      return;
    case 'recycle':
      for (const buffer of message.buffers) {
        // A chunk of exceptionally long lines leaves no oversized buffer behind.
        if (pool.length < MAX_POOLED && buffer.byteLength <= MAX_KEPT_OUT) {
          pool.push(Buffer.from(buffer));
        }
      }
      return;
    case 'chunk': {
      const bytes = Buffer.from(
        message.text.buffer,
        message.text.byteOffset,
        message.text.byteLength,
      );
      const result = prepare(bytes, message.firstLine);
      parentPort?.postMessage({ id: message.id, kind: 'done', ...result }, [
        result.encoded.buffer as ArrayBuffer,
      ]);
      return;
    }
  }
}

parentPort?.on('message', (message: ToImportWorker) => {
  try {
    handle(message);
  } catch (error) {
    if (message.type === 'chunk') {
      parentPort?.postMessage({
        id: message.id,
        kind: 'failed',
        errorName: error instanceof Error ? error.name : 'Error',
      });
    }
  }
});
