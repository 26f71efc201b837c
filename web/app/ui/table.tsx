// A data table with a caption and a CSV download of exactly what it shows.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { download, toCsv, type Cell } from './csv';

export function formatNumber(v: number | null): string {
  if (v === null) return '–';
  return Number.isInteger(v)
    ? v.toLocaleString('en-US')
    : v.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

/**
 * "Download CSV": from the API when `download` is given (errors shown beside the button), else
 * the `csv` table as written here.
 */
export function CsvButton(props: {
  csvName: string;
  csv: { header: string[]; rows: Cell[][] };
  download?: () => Promise<void>;
}) {
  const [error, setError] = useState<string | null>(null);
  return (
    <div class="table-tools">
      <button
        type="button"
        onClick={() => {
          setError(null);
          if (props.download)
            props
              .download()
              .catch((e: unknown) =>
                setError(
                  `The CSV could not be downloaded: ${e instanceof Error ? e.message : String(e)}`,
                ),
              );
          else download(props.csvName, toCsv(props.csv.header, props.csv.rows));
        }}
      >
        Download CSV
      </button>
      {error && <span role="alert">{error}</span>}
    </div>
  );
}

export function DataTable(props: {
  caption: string;
  header: string[];
  rows: Cell[][];
  csvName: string;
  /** What the CSV holds when it is more than the table shows (e.g. every interval). */
  csv?: { header: string[]; rows: Cell[][] };
  /** Optional per-cell decoration (heat map). */
  cellClass?: (row: number, col: number) => string | undefined;
  cellStyle?: (row: number, col: number) => Record<string, string> | undefined;
  footer?: ComponentChildren;
  /** Downloads the CSV from the API instead of writing the table shown. */
  download?: () => Promise<void>;
  /** No "Download CSV" of its own (one button serves several tables). */
  noTools?: boolean;
}) {
  return (
    <div class="table-wrap">
      {!props.noTools && (
        <CsvButton
          csvName={props.csvName}
          csv={props.csv ?? { header: props.header, rows: props.rows }}
          download={props.download}
        />
      )}
      <div class="scroll" tabIndex={0} role="region" aria-label={props.caption}>
        <table>
          <caption>{props.caption}</caption>
          <thead>
            <tr>
              {props.header.map((h, i) => (
                <th key={i} scope="col">
                  {h}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {props.rows.map((row, r) => (
              <tr key={r}>
                {row.map((cell, c) =>
                  c === 0 ? (
                    <th key={c} scope="row">
                      {cell}
                    </th>
                  ) : (
                    <td
                      key={c}
                      class={props.cellClass?.(r, c)}
                      style={props.cellStyle?.(r, c)}
                      data-value={cell === null ? '' : String(cell)}
                    >
                      {typeof cell === 'number' || cell === null ? formatNumber(cell) : cell}
                    </td>
                  ),
                )}
              </tr>
            ))}
          </tbody>
          {props.footer}
        </table>
      </div>
    </div>
  );
}
