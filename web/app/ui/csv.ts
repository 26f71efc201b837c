// CSV (RFC 4180): query answers are downloaded from the API (`Accept: text/csv`, the server's
// own table); other tables are written as shown, by the server's own writer (text cells that a
// spreadsheet would run as a formula prefixed with an apostrophe, OWASP "CSV injection").
import { csvTable } from '../../../src/query/csv.js';
import { callText, type CallOptions, type TextMediaOf, type TextOperationId } from '../api/client';

export type Cell = string | number | null;

export function toCsv(header: string[], rows: Cell[][]): string {
  return csvTable(header, rows);
}

/** Saves `text` as a file through a temporary object URL (no server round trip). */
export function download(filename: string, text: string, type = 'text/csv;charset=utf-8'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Downloads an API answer as CSV (the query routes answer `Accept: text/csv`). */
export async function downloadCsv<Id extends CsvOperationId>(
  id: Id,
  options: CallOptions<Id>,
  filename: string,
): Promise<void> {
  download(filename, await callText(id, 'text/csv' as TextMediaOf<Id>, options));
}

/** The operations that answer `text/csv`. */
type CsvOperationId = {
  [Id in TextOperationId]: 'text/csv' extends TextMediaOf<Id> ? Id : never;
}[TextOperationId];
