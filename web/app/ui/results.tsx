// How each query kind's answer is shown: trends as a line or bar chart with a table, funnels as
// conversion bars with drop-off, retention as a cohort heat map. Used by the report screens and
// by boards.
import type {
  AnyQuery,
  FlowsResult,
  FrequencyResult,
  FunnelResult,
  LifecycleResult,
  FunnelStep,
  RetentionCohort,
  RetentionQuery,
  RetentionResult,
  TrendsResult,
  TrendsSeries,
} from '../api/types';
import { Empty } from './async';
import { breakdownTitle, segmentNamer, type SegmentNamer } from './breakdown';
import { FlowsView } from './flows';
import { LifecycleView } from './lifecycle';
import { FrequencyView } from './frequency';
import { Chart } from './chart';
import { CsvButton, DataTable, formatNumber } from './table';

const MATH_LABELS: Record<string, string> = {
  total: 'Total events',
  unique_users: 'Unique users',
  sum: 'Sum',
  avg: 'Average',
  min: 'Minimum',
  max: 'Maximum',
  p50: 'Median',
  p90: '90th percentile',
  p99: '99th percentile',
  unique_groups: 'Unique groups',
  weekly_active: 'Weekly active users',
  monthly_active: 'Monthly active users',
  per_user_avg: 'Average per user',
  per_user_median: 'Median per user',
  per_user_min: 'Minimum per user',
  per_user_max: 'Maximum per user',
  per_user_p90: '90th percentile per user',
  per_user_p99: '99th percentile per user',
};

export const mathLabel = (math: string): string => MATH_LABELS[math] ?? math;

/** The plain namer of breakdown rows (property values; cohorts by id). */
const plainSegments = segmentNamer(undefined);

export function seriesLabel(s: TrendsSeries, segment: SegmentNamer = plainSegments): string {
  const what = `${s.event ?? 'All events'} · ${mathLabel(s.math)}${s.property ? ` of ${s.property}` : ''}`;
  if (s.breakdown_kind === 'none') return what;
  return `${what} · ${segment(s.breakdown_kind, s.breakdown_value)}`;
}

/** One column of a trend: a series, its previous period (compare) or the formula. */
export interface TrendColumn {
  label: string;
  values: (number | null)[];
  total: number | null;
  previous: boolean;
  /** A formula's column: its unit is its own (read against a second axis). */
  formula: boolean;
  /** Palette entry: a series and its previous period share one. */
  colour: number;
}

/** The columns a trend shows: each series, its previous period (compare) and the formula. */
export function trendColumns(
  result: TrendsResult,
  segment: SegmentNamer = plainSegments,
): TrendColumn[] {
  const out: TrendColumn[] = [];
  result.series.forEach((s, colour) => {
    const label = seriesLabel(s, segment);
    out.push({ label, values: s.values, total: s.total, previous: false, formula: false, colour });
    if (s.previous_values)
      out.push({
        label: `${label} · previous period`,
        values: s.previous_values,
        total: s.previous_total ?? null,
        previous: true,
        formula: false,
        colour,
      });
  });
  const f = result.formula;
  if (f) {
    // The formula over the whole series, then (with a breakdown) per segment.
    const label = `Formula ${f.formula}`;
    out.push({
      label,
      values: f.values,
      total: f.total,
      previous: false,
      formula: true,
      colour: result.series.length,
    });
    (f.breakdowns ?? []).forEach((b, i) =>
      out.push({
        label: `${label} · ${segment(b.breakdown_kind, b.breakdown_value)}`,
        values: b.values,
        total: b.total,
        previous: false,
        formula: true,
        colour: result.series.length + 1 + i,
      }),
    );
  }
  return out;
}

/**
 * The columns a trend's chart draws: all of them, but only the formula's when it is broken down
 * (with ten values and two series that is 13 lines instead of 37; the table keeps them all).
 */
export function chartedColumns(result: TrendsResult, columns: TrendColumn[]): TrendColumn[] {
  return result.formula?.breakdowns ? columns.filter((c) => c.formula) : columns;
}

export function TrendsView(props: {
  result: TrendsResult;
  view: 'line' | 'bar' | 'table';
  title: string;
  /** Downloads the answer as CSV from the API (else the table as shown). */
  download?: () => Promise<void>;
  /** Names breakdown rows (cohorts by name); property values as they are by default. */
  segment?: SegmentNamer;
}) {
  const { series } = props.result;
  const labels = series[0]?.labels ?? props.result.formula?.labels ?? [];
  if (series.length === 0 || series.every((s) => (s.total ?? 0) === 0 && s.values.every((v) => !v)))
    return (
      <Empty title="No events match">
        <p>
          Nothing was counted in this range. Widen the date range, remove a filter, or check on the
          Setup screen that events are arriving.
        </p>
      </Empty>
    );
  const columns = trendColumns(props.result, props.segment);
  const names = columns.map((c) => c.label);
  const perInterval = labels.map((l, i) => [l, ...columns.map((c) => c.values[i] ?? null)]);
  const totals = ['Total', ...columns.map((c) => c.total)];
  const charted = chartedColumns(props.result, columns);
  const formulaOnly = charted.length < columns.length;
  return (
    <>
      {props.view !== 'table' && (
        <Chart
          kind={props.view}
          labels={labels}
          series={charted.map((c) => ({
            label: c.label,
            values: c.values,
            dashed: c.previous,
            colour: c.colour,
            // A formula beside the series has its own unit: the right-hand axis.
            secondAxis: c.formula && !formulaOnly,
          }))}
          title={`${props.title}: ${props.view} chart of ${charted.map((c) => c.label).join(', ')}`}
        />
      )}
      {props.view !== 'table' && formulaOnly && (
        <p class="hint">The chart shows the formula for each value; the table has every series.</p>
      )}
      <DataTable
        caption={`${props.title}${props.view === 'table' ? ' per interval' : ': totals'}`}
        csvName="insights.csv"
        header={['Interval', ...names]}
        rows={props.view === 'table' ? [...perInterval, totals] : [totals]}
        csv={{ header: ['Interval', ...names], rows: [...perInterval, totals] }}
        download={props.download}
      />
    </>
  );
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null) return '–';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} days`;
}

const pct = (part: number, whole: number): string =>
  whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '–';

/**
 * The time-to-convert rows of a funnel: each step from the previous one, then the whole funnel
 * (first step to last) — the quartiles and the 90th percentile, in seconds (null: nobody).
 */
export function timeToConvertRows(steps: FunnelStep[]): [string, ...(number | null)[]][] {
  const q = (t: FunnelStep['time_to_convert']): (number | null)[] =>
    t ? [t.p25, t.p50, t.p75, t.p90] : [null, null, null, null];
  const rows: [string, ...(number | null)[]][] = steps
    .slice(1)
    .map((s, i) => [`${i + 2}. ${s.event} (from step ${i + 1})`, ...q(s.time_to_convert)]);
  const last = steps[steps.length - 1];
  if (steps.length > 2 && last)
    rows.push([`Whole funnel (step 1 to ${steps.length})`, ...q(last.time_from_start)]);
  return rows;
}

export function FunnelView(props: {
  result: FunnelResult;
  title: string;
  /** What the funnel is broken down by ("source", "source / person.plan", "cohort"), if any. */
  breakdown?: string;
  download?: () => Promise<void>;
  /** Names breakdown rows (cohorts by name); property values as they are by default. */
  segment?: SegmentNamer;
}) {
  const segment = props.segment ?? plainSegments;
  const steps = props.result.steps;
  const first = steps[0]?.count ?? 0;
  if (first === 0)
    return (
      <Empty title="Nobody entered this funnel">
        <p>
          No user did the first step in this range. Pick a first step people do, or widen the date
          range.
        </p>
      </Empty>
    );
  const labels = steps.map((s, i) => `${i + 1}. ${s.event}`);
  const overTime = props.result.conversion_over_time;
  const breakdowns = props.result.breakdowns;
  const hasQuantiles = steps.slice(1).some((s) => s.time_to_convert !== undefined);
  return (
    <>
      <p class="headline">
        <strong>{pct(steps[steps.length - 1]?.count ?? 0, first)}</strong> of {formatNumber(first)}{' '}
        users converted from the first to the last step.
      </p>
      <Chart
        kind="bar"
        labels={labels}
        series={[
          { label: 'Reached the step', values: steps.map((s) => s.count) },
          {
            label: 'Dropped off before it',
            values: steps.map((s, i) => (i === 0 ? 0 : (steps[i - 1]?.count ?? 0) - s.count)),
          },
        ]}
        title={`${props.title}: users reaching each step and dropping off`}
      />
      <DataTable
        caption={`${props.title}: conversion per step`}
        csvName="funnel.csv"
        download={props.download}
        header={[
          'Step',
          'Users',
          'Conversion from previous',
          'Conversion overall',
          'Dropped off',
          'Median time to convert',
        ]}
        rows={steps.map((s, i) => [
          labels[i] ?? s.event,
          s.count,
          i === 0 ? '–' : pct(s.count, steps[i - 1]?.count ?? 0),
          pct(s.count, first),
          i === 0 ? 0 : (steps[i - 1]?.count ?? 0) - s.count,
          formatDuration(s.median_seconds_to_convert),
        ])}
      />
      {hasQuantiles && (
        <section class="funnel-part" aria-label="Time to convert">
          <h2>Time to convert</h2>
          <p class="hint">
            Over the users who reached each step: a quarter of them took less than the 25th
            percentile, half less than the median, nine in ten less than the 90th percentile.
          </p>
          <DataTable
            caption={`${props.title}: time to convert`}
            csvName="funnel-time-to-convert.csv"
            header={['Step', '25th percentile', 'Median', '75th percentile', '90th percentile']}
            rows={timeToConvertRows(steps).map(([label, ...q]) => [
              label,
              ...q.map((v) => formatDuration(v)),
            ])}
            csv={{
              header: ['Step', 'p25_seconds', 'p50_seconds', 'p75_seconds', 'p90_seconds'],
              rows: timeToConvertRows(steps),
            }}
          />
        </section>
      )}
      {overTime && (
        <section class="funnel-part" aria-label="Conversion over time">
          <h2>Conversion over time</h2>
          <p class="hint">
            Users who entered the funnel in each {overTime.interval}, and the share of them who
            reached the last step within the window.
          </p>
          <Chart
            kind="line"
            labels={overTime.rows.map((r) => r.start)}
            series={[
              {
                label: 'Conversion (%)',
                spanGaps: true,
                values: overTime.rows.map((r) =>
                  r.conversion_rate === null ? null : Math.round(r.conversion_rate * 1000) / 10,
                ),
              },
            ]}
            title={`${props.title}: conversion per ${overTime.interval} of entry, in percent`}
          />
          <DataTable
            caption={`${props.title}: conversion per ${overTime.interval} of entry`}
            csvName="funnel-over-time.csv"
            header={['Entered in', 'Entered', 'Converted', 'Conversion']}
            rows={overTime.rows.map((r) => [
              r.start,
              r.entered,
              r.converted,
              pct(r.converted, r.entered),
            ])}
          />
        </section>
      )}
      {breakdowns && breakdowns.length > 0 && (
        <section class="funnel-part" aria-label="Breakdown">
          <h2>By {props.breakdown ?? 'breakdown'}</h2>
          <DataTable
            caption={`${props.title}: users reaching each step, by ${props.breakdown ?? 'breakdown value'}`}
            csvName="funnel-breakdown.csv"
            header={[props.breakdown ?? 'Value', ...labels, 'Conversion overall']}
            rows={breakdowns.map((b) => [
              segment(b.breakdown_kind, b.breakdown_value),
              ...b.steps.map((s) => s.count),
              pct(b.steps[b.steps.length - 1]?.count ?? 0, b.steps[0]?.count ?? 0),
            ])}
          />
        </section>
      )}
    </>
  );
}

/** Heat-map shade for a retention rate in [0, 1]: one hue, lightness by rate. */
export function heatColour(rate: number): { background: string; color: string } {
  const r = Math.max(0, Math.min(1, rate));
  const lightness = 96 - r * 58;
  return {
    background: `hsl(217 80% ${lightness.toFixed(0)}%)`,
    color: lightness < 60 ? '#fff' : '#1a1a1a',
  };
}

/** A retention grid's header and rows: cohort, size, then "n% (count)" per period. */
export function retentionRows(
  cohorts: RetentionCohort[],
  periods: number,
  unit: RetentionQuery['period'],
): { header: string[]; rows: (string | number)[][] } {
  return {
    header: ['Cohort', 'Users', ...Array.from({ length: periods }, (_, k) => `${unit} ${k}`)],
    rows: cohorts.map((c) => [
      c.start,
      c.size,
      ...Array.from({ length: periods }, (_, k) => {
        const n = c.counts[k];
        return n === undefined ? '' : `${pct(n, c.size)} (${n})`;
      }),
    ]),
  };
}

function RetentionGrid(props: {
  cohorts: RetentionCohort[];
  periods: number;
  unit: RetentionQuery['period'];
  caption: string;
  download?: () => Promise<void>;
  noTools?: boolean;
}) {
  const { cohorts } = props;
  const { header, rows } = retentionRows(cohorts, props.periods, props.unit);
  return (
    <DataTable
      caption={props.caption}
      csvName="retention.csv"
      download={props.download}
      noTools={props.noTools}
      header={header}
      rows={rows}
      cellClass={(_r, c) => (c >= 2 ? 'heat' : undefined)}
      cellStyle={(r, c) => {
        const cohort = cohorts[r];
        const n = cohort?.counts[c - 2];
        if (c < 2 || !cohort || n === undefined || cohort.size === 0) return undefined;
        return heatColour(n / cohort.size);
      }}
    />
  );
}

/**
 * The blocks of a retention answer: every user, then one per breakdown row (named by
 * `segment`); only the first without a breakdown.
 */
export function retentionBlocks(
  result: RetentionResult,
  segment: SegmentNamer = plainSegments,
): { label: string; cohorts: RetentionCohort[] }[] {
  return [
    { label: 'All users', cohorts: result.cohorts },
    ...(result.breakdowns ?? []).map((b) => ({
      label: segment(b.breakdown_kind, b.breakdown_value),
      cohorts: b.cohorts,
    })),
  ];
}

export function RetentionView(props: {
  result: RetentionResult;
  period: RetentionQuery['period'];
  title: string;
  download?: () => Promise<void>;
  /** Names breakdown rows (cohorts by name); property values as they are by default. */
  segment?: SegmentNamer;
}) {
  const cohorts = props.result.cohorts;
  if (cohorts.length === 0 || cohorts.every((c) => c.size === 0))
    return (
      <Empty title="No cohorts in this range">
        <p>
          No user did the start event in this range. Pick another start event or widen the range.
        </p>
      </Empty>
    );
  const unit = props.period;
  const blocks = retentionBlocks(props.result, props.segment);
  const periods = Math.max(...blocks.flatMap((b) => b.cohorts.map((c) => c.counts.length)));
  const caption = (label: string): string =>
    `${props.title}${label ? `, ${label}` : ''}: share of each cohort returning, per ${unit}`;
  if (!props.result.breakdowns)
    return (
      <RetentionGrid
        cohorts={cohorts}
        periods={periods}
        unit={unit}
        caption={caption('')}
        download={props.download}
      />
    );
  // One heat map per segment, after every user's; one CSV of them all.
  const grids = blocks.map((b) => ({ ...b, ...retentionRows(b.cohorts, periods, unit) }));
  return (
    <>
      <CsvButton
        csvName="retention.csv"
        download={props.download}
        csv={{
          header: ['Segment', ...(grids[0]?.header ?? [])],
          rows: grids.flatMap((g) => g.rows.map((r) => [g.label, ...r])),
        }}
      />
      {blocks.map((b, i) => (
        <section class="segment" key={i} aria-label={`${props.title}, ${b.label}`}>
          <h2>
            {b.label}{' '}
            <span class="hint">
              · {formatNumber(b.cohorts.reduce((a, c) => a + c.size, 0))} in cohorts
            </span>
          </h2>
          <RetentionGrid
            cohorts={b.cohorts}
            periods={periods}
            unit={unit}
            caption={caption(b.label)}
            noTools
          />
        </section>
      ))}
    </>
  );
}

/** Any saved query's answer, by kind (boards). */
export function ResultView(props: {
  query: AnyQuery;
  result: unknown;
  title: string;
  download?: () => Promise<void>;
  /** The project's cohorts, to name the rows of a cohort breakdown. */
  cohorts?: readonly { id: string; name: string }[];
}) {
  const segment =
    props.query.kind === 'flows' || props.query.kind === 'lifecycle'
      ? plainSegments
      : segmentNamer(props.query.breakdown, props.cohorts);
  switch (props.query.kind) {
    case 'trends':
      return (
        <TrendsView
          result={props.result as TrendsResult}
          view="line"
          title={props.title}
          download={props.download}
          segment={segment}
        />
      );
    case 'frequency':
      return (
        <FrequencyView
          result={props.result as FrequencyResult}
          title={props.title}
          mode="exactly"
          download={props.download}
          segment={segment}
        />
      );
    case 'flows':
      return (
        <FlowsView
          result={props.result as FlowsResult}
          title={props.title}
          direction={props.query.anchor.direction}
          download={props.download}
        />
      );
    case 'funnel':
      return (
        <FunnelView
          result={props.result as FunnelResult}
          title={props.title}
          breakdown={
            props.query.breakdown === undefined ? undefined : breakdownTitle(props.query.breakdown)
          }
          download={props.download}
          segment={segment}
        />
      );
    case 'retention':
      return (
        <RetentionView
          result={props.result as RetentionResult}
          period={props.query.period}
          title={props.title}
          download={props.download}
          segment={segment}
        />
      );
    case 'lifecycle':
      return (
        <LifecycleView
          result={props.result as LifecycleResult}
          title={props.title}
          {...(props.download ? { download: props.download } : {})}
        />
      );
  }
}
