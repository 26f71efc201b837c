// A frequency answer (stickiness): users per number of distinct days (hours, weeks, months) of
// each period, as bars and as a table, exactly k or k or more.
import type { FrequencyResult } from '../api/types';
import { Empty } from './async';
import { segmentNamer, type SegmentNamer } from './breakdown';
import { Chart } from './chart';
import type { Cell } from './csv';
import { DataTable } from './table';

export type FrequencyMode = 'exactly' | 'at_least';

const UNITS = { hour: 'hour', day: 'day', week: 'week', month: 'month' } as const;

/** "3 days" / "3+ days". */
export function frequencyLabel(
  k: number,
  interval: FrequencyResult['interval'],
  mode: FrequencyMode,
): string {
  const unit = UNITS[interval];
  return `${k}${mode === 'at_least' ? '+' : ''} ${unit}${k === 1 && mode === 'exactly' ? '' : 's'}`;
}

/**
 * The table of an answer: one row per series, segment and period (periods of the range before
 * after the segment's, marked), its users, then users per k (`mode`) up to the longest period.
 */
export function frequencyTable(
  result: FrequencyResult,
  mode: FrequencyMode,
  segment: SegmentNamer = segmentNamer(undefined),
): { header: string[]; rows: Cell[][]; widest: number } {
  const periods = result.series.flatMap((s) => [...s.periods, ...(s.previous_periods ?? [])]);
  const widest = Math.max(0, ...periods.map((p) => p.intervals));
  const header = [
    'Series',
    'Period',
    'Users',
    ...Array.from({ length: widest }, (_, i) => frequencyLabel(i + 1, result.interval, mode)),
  ];
  const rows: Cell[][] = [];
  for (const s of result.series) {
    const name = [
      s.event ?? 'Any event',
      ...(s.breakdown_kind === 'none' ? [] : [segment(s.breakdown_kind, s.breakdown_value)]),
    ].join(' · ');
    const add = (list: FrequencyResult['series'][number]['periods'], before: boolean) => {
      for (const p of list) {
        const values = mode === 'exactly' ? p.counts : p.cumulative;
        const when = p.start === p.end ? p.start : `${p.start} – ${p.end}`;
        rows.push([
          name,
          `${before ? 'Before: ' : ''}${when}${p.complete ? '' : ' (partial)'}`,
          p.users,
          ...Array.from({ length: widest }, (_, i) => values[i] ?? null),
        ]);
      }
    };
    add(s.periods, false);
    if (s.previous_periods) add(s.previous_periods, true);
  }
  return { header, rows, widest };
}

/** The most bar series one chart shows (the first rows'; the table has them all). */
const MAX_BARS = 6;

export function FrequencyView(props: {
  result: FrequencyResult;
  title: string;
  mode: FrequencyMode;
  download?: () => Promise<void>;
  segment?: SegmentNamer;
}) {
  const { result, mode } = props;
  if (result.series.every((s) => s.periods.every((p) => p.users === 0)))
    return (
      <Empty title="Nobody did it in this range">
        <p>No user did this event in the range. Pick another event or widen the range.</p>
      </Empty>
    );
  const table = frequencyTable(result, mode, props.segment);
  // Bars: per series and segment (per range), or per period of the first one (per week/month).
  const labels = Array.from({ length: table.widest }, (_, i) =>
    frequencyLabel(i + 1, result.interval, mode),
  );
  const series = table.rows.slice(0, MAX_BARS).map((r) => ({
    label: result.per === 'range' ? String(r[0]) : `${String(r[0])} · ${String(r[1])}`,
    values: r.slice(3).map((v) => (typeof v === 'number' ? v : null)),
  }));
  const per = result.per === 'range' ? 'the range' : `each ${result.per}`;
  return (
    <>
      <Chart
        kind="bar"
        labels={labels}
        series={series}
        title={`${props.title}: users by ${UNITS[result.interval]}s active in ${per}`}
      />
      <DataTable
        caption={`${props.title}: users who did it on ${mode === 'exactly' ? 'exactly' : 'at least'} k ${UNITS[result.interval]}s of ${per}`}
        csvName="frequency.csv"
        download={props.download}
        header={table.header}
        rows={table.rows}
      />
    </>
  );
}
