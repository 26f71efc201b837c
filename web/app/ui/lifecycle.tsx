// Lifecycle: per interval, the users active in it split into new, returning and resurrecting
// (stacked above zero) and the users who went dormant (below zero), and a table of every number.
import type { LifecycleResult } from '../api/types';
import { Empty } from './async';
import { Chart, type ChartSeries } from './chart';
import { DataTable } from './table';

/** The statuses in the order the table lists them, with the names the screen shows. */
export const LIFECYCLE_STATUSES = [
  { key: 'new', label: 'New' },
  { key: 'returning', label: 'Returning' },
  { key: 'resurrecting', label: 'Resurrecting' },
  { key: 'dormant', label: 'Dormant' },
] as const;

/** Table rows: one per interval, its start and the four counts (dormant negative, as answered). */
export function lifecycleRows(r: LifecycleResult): (string | number)[][] {
  return r.labels.map((label, i) => [label, ...LIFECYCLE_STATUSES.map((s) => r[s.key][i] ?? 0)]);
}

/** Chart series: returning nearest to zero, then resurrecting and new; dormant below zero. */
export function lifecycleSeries(r: LifecycleResult): ChartSeries[] {
  return [
    { label: 'New', values: r.new, colour: 2 },
    { label: 'Resurrecting', values: r.resurrecting, colour: 1 },
    { label: 'Returning', values: r.returning, colour: 0 },
    { label: 'Dormant', values: r.dormant, colour: 6 },
  ];
}

export function LifecycleView(props: {
  result: LifecycleResult;
  title: string;
  download?: () => Promise<void>;
}) {
  const r = props.result;
  const empty = LIFECYCLE_STATUSES.every((s) => r[s.key].every((v) => v === 0));
  if (empty)
    return (
      <Empty title="No active users in this range">
        <p>No user did this event in the range or the interval before it. Widen the range.</p>
      </Empty>
    );
  return (
    <>
      <Chart
        kind="bar"
        stacked
        labels={r.labels}
        series={lifecycleSeries(r)}
        title={`${props.title}: new, returning and resurrecting users above zero, dormant users below`}
      />
      <DataTable
        caption={`${props.title}: users per interval (dormant counted negative)`}
        header={['Interval', ...LIFECYCLE_STATUSES.map((s) => s.label)]}
        rows={lifecycleRows(r)}
        csvName="lifecycle.csv"
        {...(props.download ? { download: props.download } : {})}
      />
    </>
  );
}
