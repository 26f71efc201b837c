// Mixpanel raw-export import: records from a JSONL file go through the same pipeline as SDK
// traffic (enrichment, privacy, dedup), committed one batch at a time.
import type { IngestPipeline } from './pipeline.js';
import type { JsonValue, RecordError, RequestContext } from './records.js';
import { mapMixpanelEvents } from './wire/index.js';

/** The result of importing one batch of records. */
export interface ImportBatchResult {
  imported: number;
  duplicates: number;
  ignored: number;
  errors: RecordError[];
}

/**
 * Imports one batch of export records into a project. `firstIndex` is the position of the first
 * record in the file, so that errors name file lines. Export files carry no IP, and their
 * distinct ids are Mixpanel's canonical ids; they are pseudonymised like any other.
 */
export async function importRecords(
  pipeline: IngestPipeline,
  projectId: string,
  records: JsonValue[],
  firstIndex: number,
): Promise<ImportBatchResult> {
  const context: RequestContext = {
    source: 'file-import',
    clientIp: null,
    userAgent: null,
    ipMode: 'ignore-request-ip',
    receivedAtMs: Date.now(),
  };
  const mapped = mapMixpanelEvents(records, context, { importMode: true });
  const outcome = await pipeline.ingest({ ...mapped, context, projectId, exclusive: true });
  return {
    imported: outcome.committed.eventsInserted,
    duplicates: outcome.committed.eventsDuplicate,
    ignored: outcome.ignored,
    errors: outcome.errors.map((e) => ({ ...e, index: e.index + firstIndex })),
  };
}
