// CSV answers (DESIGN.md "Query API, second generation": any query answers CSV when sent
// `Accept: text/csv`). One table per result, RFC 4180: comma-separated, CRLF line ends, a field
// quoted when it holds a quote, comma, semicolon, CR or LF (quotes doubled). Text cells that a
// spreadsheet would run as a formula (starting with = + - @, tab or CR; OWASP "CSV injection") are
// prefixed with a single quote; numbers are written as numbers and never prefixed.
import type {
  BreakdownValue,
  EventNamesResult,
  EventPropertiesResult,
  FrequencyResult,
  FunnelResult,
  LifecycleResult,
  PropertyValuesResult,
  QueryResult,
  RetentionResult,
  TrendsResult,
} from './format.js';

export type CsvCell = string | number | boolean | null | undefined;

const FORMULA_START = /^[=+\-@\t\r]/;

/** One field: numbers as they are, text made inert for spreadsheets, then quoted if needed. */
export function csvField(value: CsvCell): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  let text = typeof value === 'boolean' ? String(value) : value;
  if (FORMULA_START.test(text)) text = `'${text}`;
  // A semicolon too: spreadsheets in locales whose list separator it is split on it.
  return /[",;\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** A table: a header row, then the rows, each line ended by CRLF. */
export function csvTable(header: readonly string[], rows: readonly (readonly CsvCell[])[]): string {
  return [header, ...rows].map((row) => `${row.map(csvField).join(',')}\r\n`).join('');
}

/** A value that is not a scalar (a list, an object) as JSON text in one cell. */
const cell = (value: unknown): CsvCell =>
  value === null ||
  value === undefined ||
  typeof value === 'string' ||
  typeof value === 'number' ||
  typeof value === 'boolean'
    ? value
    : JSON.stringify(value);

/**
 * The breakdown columns: `breakdown_value` (one property, a cohort id), or, when the values are
 * lists (a breakdown by several properties), `breakdown_value_1` … `breakdown_value_n`, one per
 * property, so that a spreadsheet can filter and pivot on each.
 */
function breakdownColumns(values: readonly BreakdownValue[]): {
  header: string[];
  cells: (v: BreakdownValue) => CsvCell[];
} {
  const width = Math.max(0, ...values.map((v) => (Array.isArray(v) ? v.length : 0)));
  if (width === 0) return { header: ['breakdown_value'], cells: (v) => [cell(v)] };
  return {
    header: Array.from({ length: width }, (_, i) => `breakdown_value_${i + 1}`),
    cells: (v) =>
      Array.from({ length: width }, (_, i) => (Array.isArray(v) ? (v[i] ?? null) : null)),
  };
}

function trendsCsv(r: TrendsResult): string {
  const labels = r.series[0]?.labels ?? r.formula?.labels ?? [];
  const hasPrevious = r.series.some((s) => 'previous_values' in s);
  const bd = breakdownColumns(r.series.map((s) => s.breakdown_value));
  const header = ['event', 'math', 'property', 'breakdown_kind', ...bd.header, 'total', ...labels];
  const rows: CsvCell[][] = [];
  for (const s of r.series) {
    const withExtras = s as typeof s & {
      previous_values?: (number | null)[];
      previous_total?: number | null;
    };
    const base = [
      s.event ?? '',
      s.math,
      s.property ?? '',
      s.breakdown_kind,
      ...bd.cells(s.breakdown_value),
    ];
    rows.push([...base, s.total, ...s.values]);
    if (hasPrevious && withExtras.previous_values)
      rows.push([
        ...base.slice(0, 3),
        `${s.breakdown_kind} (previous period)`,
        ...bd.cells(s.breakdown_value),
        withExtras.previous_total ?? null,
        ...withExtras.previous_values,
      ]);
  }
  if (r.formula) {
    // The formula over the whole series, then (with a breakdown) per segment.
    const f = r.formula;
    rows.push([f.formula, 'formula', '', 'none', ...bd.cells(null), f.total, ...f.values]);
    for (const b of f.breakdowns ?? [])
      rows.push([
        f.formula,
        'formula',
        '',
        b.breakdown_kind,
        ...bd.cells(b.breakdown_value),
        b.total,
        ...b.values,
      ]);
  }
  return csvTable(header, rows);
}

/**
 * Funnels: one row per breakdown row and step, with the time-to-convert quantiles; with
 * `conversion_over_time`, then one row per interval and step (`breakdown_kind` "conversion_over_time",
 * `breakdown_value` the interval's start).
 */
function funnelCsv(r: FunnelResult): string {
  const quantiles = ['p25', 'p50', 'p75', 'p90'] as const;
  const bd = breakdownColumns((r.breakdowns ?? []).map((b) => b.breakdown_value));
  const header = [
    'breakdown_kind',
    ...bd.header,
    'step',
    'event',
    'count',
    'median_seconds_to_convert',
    ...quantiles.map((q) => `time_to_convert_${q}`),
    ...quantiles.map((q) => `time_from_start_${q}`),
  ];
  const rows: CsvCell[][] = [];
  const add = (kind: string, value: BreakdownValue, steps: FunnelResult['steps']) =>
    steps.forEach((s, i) =>
      rows.push([
        kind,
        ...bd.cells(value),
        i + 1,
        s.event,
        s.count,
        s.median_seconds_to_convert,
        ...quantiles.map((q) => s.time_to_convert?.[q] ?? null),
        ...quantiles.map((q) => s.time_from_start?.[q] ?? null),
      ]),
    );
  add('none', null, r.steps);
  for (const b of r.breakdowns ?? []) add(b.breakdown_kind, b.breakdown_value, b.steps);
  for (const row of r.conversion_over_time?.rows ?? [])
    row.steps.forEach((count, i) =>
      rows.push([
        'conversion_over_time',
        ...bd.cells(null).slice(1),
        row.start,
        i + 1,
        r.steps[i]!.event,
        count,
        ...Array.from({ length: 9 }, () => null),
      ]),
    );
  return csvTable(header, rows);
}

/**
 * Frequency: one row per series, segment and period (then, with `compare`, the segment's
 * periods of the range before, `range` "previous"): users on exactly 1 … K intervals
 * (`exactly_k`) and on k or more (`at_least_k`), K the most intervals of any period (a period
 * with fewer leaves the rest empty).
 */
function frequencyCsv(r: FrequencyResult): string {
  const all = r.series.flatMap((s) => [...s.periods, ...(s.previous_periods ?? [])]);
  const k = Math.max(0, ...all.map((p) => p.intervals));
  const ks = Array.from({ length: k }, (_, i) => i + 1);
  const compare = r.series.some((s) => s.previous_periods !== undefined);
  const bd = breakdownColumns(r.series.map((s) => s.breakdown_value));
  const rows: CsvCell[][] = [];
  for (const s of r.series) {
    const add = (range: string, periods: FrequencyResult['series'][number]['periods']) => {
      for (const p of periods)
        rows.push([
          s.event,
          s.breakdown_kind,
          ...bd.cells(s.breakdown_value),
          ...(compare ? [range] : []),
          p.start,
          p.end,
          p.complete,
          p.intervals,
          p.users,
          ...ks.map((i) => p.counts[i - 1]),
          ...ks.map((i) => p.cumulative[i - 1]),
        ]);
    };
    add('current', s.periods);
    if (s.previous_periods) add('previous', s.previous_periods);
  }
  return csvTable(
    [
      'event',
      'breakdown_kind',
      ...bd.header,
      ...(compare ? ['range'] : []),
      'start',
      'end',
      'complete',
      'intervals',
      'users',
      ...ks.map((i) => `exactly_${i}`),
      ...ks.map((i) => `at_least_${i}`),
    ],
    rows,
  );
}

/**
 * Retention: one row per cohort; with a breakdown, first the cohorts of every user
 * (`breakdown_kind` "none"), then each segment's.
 */
function retentionCsv(r: RetentionResult): string {
  const periods = Math.max(0, ...r.cohorts.map((c) => c.counts.length));
  const counts = Array.from({ length: periods }, (_, k) => `period_${k}`);
  if (!r.breakdowns)
    return csvTable(
      ['start', 'size', ...counts],
      r.cohorts.map((c) => [c.start, c.size, ...c.counts]),
    );
  const bd = breakdownColumns(r.breakdowns.map((b) => b.breakdown_value));
  const rows: CsvCell[][] = r.cohorts.map((c) => [
    'none',
    ...bd.cells(null),
    c.start,
    c.size,
    ...c.counts,
  ]);
  for (const b of r.breakdowns)
    for (const c of b.cohorts)
      rows.push([b.breakdown_kind, ...bd.cells(b.breakdown_value), c.start, c.size, ...c.counts]);
  return csvTable(['breakdown_kind', ...bd.header, 'start', 'size', ...counts], rows);
}

/**
 * Any other result: the first list of objects in it becomes the table (columns: every key met,
 * in order of appearance; lists and objects inside as JSON text), else the result's own fields.
 */
export function genericCsv(result: object): string {
  const list = Object.values(result).find(
    (v): v is Record<string, unknown>[] =>
      Array.isArray(v) && v.every((x) => x !== null && typeof x === 'object' && !Array.isArray(x)),
  );
  const rows: Record<string, unknown>[] = list ?? [result as Record<string, unknown>];
  const header: string[] = [];
  for (const row of rows)
    for (const key of Object.keys(row)) if (!header.includes(key)) header.push(key);
  return csvTable(
    header,
    rows.map((row) => header.map((key) => cell(row[key]))),
  );
}

/** Lifecycle: one row per interval, its start and the four counts (dormant negative, as in JSON). */
export function lifecycleCsv(r: LifecycleResult): string {
  return csvTable(
    ['start', 'new', 'returning', 'resurrecting', 'dormant'],
    r.labels.map((start, i) => [
      start,
      r.new[i] ?? 0,
      r.returning[i] ?? 0,
      r.resurrecting[i] ?? 0,
      r.dormant[i] ?? 0,
    ]),
  );
}

/** The CSV form of a query's result. */
export function resultToCsv(kind: string, result: QueryResult): string {
  switch (kind) {
    case 'trends':
      return trendsCsv(result as TrendsResult);
    case 'funnel':
      return funnelCsv(result as FunnelResult);
    case 'retention':
      return retentionCsv(result as RetentionResult);
    case 'lifecycle':
      return lifecycleCsv(result as LifecycleResult);
    case 'frequency':
      return frequencyCsv(result as FrequencyResult);
    case 'event_names':
      return csvTable(
        ['event', 'count'],
        (result as EventNamesResult).events.map((e) => [e.event, e.count]),
      );
    case 'event_properties':
      return csvTable(
        ['property', 'type', 'count', 'types'],
        (result as EventPropertiesResult).properties.map((p) => [
          p.property,
          p.type,
          p.count,
          p.types.map((t) => `${t.type}:${t.count}`).join(' '),
        ]),
      );
    case 'property_values':
      return csvTable(
        ['value', 'count'],
        (result as PropertyValuesResult).values.map((v) => [v.value, v.count]),
      );
    default:
      return genericCsv(result);
  }
}

/**
 * Whether an Accept header asks for CSV: text/csv is listed (q > 0) and ranks at least as high
 * as JSON.
 */
export function wantsCsv(accept: string | undefined): boolean {
  if (!accept) return false;
  let csv = -1;
  let json = -1;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q)) continue;
    if (type === 'text/csv') csv = Math.max(csv, q);
    if (type === 'application/json' || type === '*/*' || type === 'application/*')
      json = Math.max(json, type === 'application/json' ? q : q - 0.001);
  }
  return csv > 0 && csv >= json;
}
