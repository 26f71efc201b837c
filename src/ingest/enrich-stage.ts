// The enrichment stage of the pipeline: one function from a record to its derived fields.
import {
  Enricher,
  GeoLocator,
  type EnrichedFields,
  type EnrichInput,
  type GeoShared,
} from './enrich/index.js';
import type { RequestContext } from './records.js';

export type { EnrichedFields } from './enrich/index.js';

/** Derives browser, OS, device and location; the UA and IP it reads are dropped afterwards. */
export type EnrichFn = (record: EnrichInput, context: RequestContext) => EnrichedFields;

/** Opens the geolocation database once and returns the stage function. */
export async function createEnrichStage(): Promise<EnrichFn> {
  const enricher = await Enricher.open();
  return (record) => enricher.enrich(record);
}

/** The stage function and the geolocation databases in shared memory (for worker threads). */
export interface SharedEnrichStage {
  enrich: EnrichFn;
  geo: GeoShared;
}

/** Opens the geolocation database once, in memory that worker threads can share. */
export async function openSharedEnrichStage(): Promise<SharedEnrichStage> {
  const geo = await GeoLocator.open();
  const enricher = new Enricher({ geo });
  return { enrich: (record) => enricher.enrich(record), geo: geo.shared() };
}

/** The stage over databases opened by another thread (see openSharedEnrichStage). */
export function enrichStageFromShared(geo: GeoShared): EnrichFn {
  const enricher = new Enricher({ geo: GeoLocator.fromShared(geo) });
  return (record) => enricher.enrich(record);
}
