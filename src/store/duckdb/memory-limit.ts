// DuckDB size settings (`SILLAGE_DUCKDB_MEMORY_LIMIT`) in bytes, for the advice a load that ran
// out of memory gives (ingest-loader.ts). The limit itself is the configured one: since schema 13
// nothing held in memory grows with the stored events (the unique index on the dedup key did,
// ~40 bytes per event, and the limit was raised with it).
const UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** Bytes of a DuckDB size setting such as `256MB` or `1.5 GiB` (as config.ts validates them). */
export function sizeBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/i.exec(text.trim());
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new Error(`not a size: ${text}`);
  return Math.ceil(Number(m[1]) * unit);
}
