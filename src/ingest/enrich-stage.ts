// The enrichment stage of the pipeline: one function from a record to its derived fields.
import { Enricher, type EnrichedFields, type EnrichInput } from './enrich/index.js';
import type { RequestContext } from './records.js';

export type { EnrichedFields } from './enrich/index.js';

/** Derives browser, OS, device and location; the UA and IP it reads are dropped afterwards. */
export type EnrichFn = (record: EnrichInput, context: RequestContext) => EnrichedFields;

/** Opens the geolocation database once and returns the stage function. */
export async function createEnrichStage(): Promise<EnrichFn> {
  const enricher = await Enricher.open();
  return (record) => enricher.enrich(record);
}
