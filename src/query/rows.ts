// Result rows as the store returns them to the engine (shared by the compile, execute and format
// stages, so that none of them imports another for it).

/** Rows as plain JS values: numbers, bigints, strings, booleans, null. */
export interface QueryRows {
  columns: string[];
  rows: unknown[][];
}

/** Rows as objects keyed by column name. */
export function rowObjects(rows: QueryRows): Record<string, unknown>[] {
  return rows.rows.map((row) => Object.fromEntries(rows.columns.map((c, i) => [c, row[i]])));
}
