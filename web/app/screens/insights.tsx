// Insights (trends): series of events with a measure, a formula across them, filters (event and
// person properties, cohorts, any/all groups), a breakdown, an interval, a date range (relative
// presets) and a comparison with the previous period; shown as a line or bar chart or a table,
// with the API's CSV and "save to a board".
import { useId, useMemo } from 'preact/hooks';
import { runQuery } from '../api/client';
import type { Filter, Interval, Math, TrendsQuery, TrendsResult } from '../api/types';
import type { ProjectContext } from '../context';
import { useRoute } from '../router';
import { Empty, Show, useDebounced, useLoad } from '../ui/async';
import {
  breakdownBody,
  breakdownStateOf,
  NO_BREAKDOWN,
  segmentNamer,
  type BreakdownState,
} from '../ui/breakdown';
import { BreakdownPicker } from '../ui/breakdown-picker';
import { normaliseRange, rangeFromParams, type DateRange } from '../ui/dates';
import { downloadCsv } from '../ui/csv';
import {
  DateRangePicker,
  filterSetOf,
  FiltersEditor,
  filterTree,
  NamePicker,
  useCohorts,
  useEventNames,
  usePropertyNames,
  type FilterSet,
} from '../ui/query-parts';
import { isObject, useReportState } from '../ui/report-state';
import { mathLabel, TrendsView } from '../ui/results';
import { SaveToBoard } from '../ui/save-to-board';

/** The measures, grouped as the Measure select shows them. */
const MATH_GROUPS: { label: string; maths: Math[] }[] = [
  { label: 'Counts', maths: ['total', 'unique_users', 'weekly_active', 'monthly_active'] },
  { label: 'Groups', maths: ['unique_groups'] },
  {
    label: 'Per user',
    maths: [
      'per_user_avg',
      'per_user_median',
      'per_user_min',
      'per_user_max',
      'per_user_p90',
      'per_user_p99',
    ],
  },
  { label: 'Of a property', maths: ['sum', 'avg', 'min', 'max', 'p50', 'p90', 'p99'] },
];
const PROPERTY_MATHS = new Set<Math>(['sum', 'avg', 'min', 'max', 'p50', 'p90', 'p99']);
const INTERVALS: Interval[] = ['hour', 'day', 'week', 'month'];

/** A series' letter in formulas (A = first). */
export const letterOf = (i: number): string => String.fromCharCode(65 + i);

interface SeriesState {
  event: string;
  math: Math;
  property: string;
  /** For unique_groups: the property holding the group id. */
  groupKey?: string;
}

interface InsightsState {
  series: SeriesState[];
  interval: Interval;
  range: DateRange;
  /** A FilterSet (a plain list in reports kept by earlier versions). */
  filters: FilterSet | Filter[];
  /** Properties or cohorts (one property name, '' for none, in reports kept earlier). */
  breakdown: BreakdownState | string;
  view: 'line' | 'bar' | 'table';
  formula?: string;
  compare?: boolean;
  /** Linear (absent), cumulative or rolling, as Mixpanel's "Analysis". */
  analysis?: Analysis;
  /** With rolling: intervals per window; absent, the interval's default. */
  rollingWindow?: number;
  /** A report nobody has edited yet (it starts on the most frequent event). */
  fresh?: boolean;
}

type Analysis = NonNullable<TrendsQuery['analysis']>;
/** The server's default rolling window per interval (src/query/model.ts ROLLING_WINDOWS). */
export const ROLLING_DEFAULTS: Readonly<Record<Interval, number>> = {
  hour: 12,
  day: 7,
  week: 5,
  month: 3,
};
/** Maths a cumulative trend takes (the server answers 400 for the others). */
const CUMULATIVE_MATHS: ReadonlySet<Math> = new Set(['total', 'sum', 'unique_users']);

const isState = (v: unknown): v is InsightsState => isObject(v) && Array.isArray(v.series);

/** The query a report's settings stand for; null while a series is incomplete. */
export function buildTrendsQuery(s: InsightsState): TrendsQuery | null {
  const series = s.series
    .filter((x) => !PROPERTY_MATHS.has(x.math) || x.property !== '')
    .filter((x) => x.math !== 'unique_groups' || (x.groupKey ?? '') !== '')
    .map((x) => ({
      event: x.event === '' ? null : x.event,
      math: x.math,
      ...(PROPERTY_MATHS.has(x.math) ? { property: x.property } : {}),
      ...(x.math === 'unique_groups' ? { group_key: x.groupKey ?? '' } : {}),
    }));
  if (series.length === 0) return null;
  const filters = filterTree(filterSetOf(s.filters));
  const range = normaliseRange(s.range);
  const formula = (s.formula ?? '').trim();
  const breakdown = breakdownBody(s.breakdown);
  return {
    kind: 'trends',
    from: range.from,
    to: range.to,
    interval: s.interval,
    series,
    ...(filters.length > 0 ? { filters } : {}),
    ...(breakdown !== undefined ? { breakdown } : {}),
    ...(formula ? { formula } : {}),
    ...(s.compare ? { compare: 'previous_period' as const } : {}),
    ...analysisBody(s),
  };
}

/** The analysis fields of a report's query (none when linear). */
function analysisBody(s: InsightsState): Pick<TrendsQuery, 'analysis' | 'rolling_window'> {
  if (s.analysis === 'cumulative') return { analysis: 'cumulative' };
  if (s.analysis !== 'rolling') return {};
  const n = s.rollingWindow;
  return {
    analysis: 'rolling',
    ...(n !== undefined && Number.isInteger(n) && n >= 1 && n <= 90 ? { rolling_window: n } : {}),
  };
}

export function Insights(props: { ctx: ProjectContext }) {
  const { ctx } = props;
  const route = useRoute();
  const id = useId();
  const [events, reloadEvents] = useEventNames(ctx);
  const properties = usePropertyNames(ctx);
  const cohorts = useCohorts(ctx);
  const propertyNames = properties.state === 'ok' ? properties.value : [];
  const firstEvent = events.state === 'ok' ? (events.value[0] ?? '') : '';
  const [state, setState] = useReportState<InsightsState>(
    route.params,
    {
      series: [{ event: '', math: 'total', property: '' }],
      interval: 'day',
      range: rangeFromParams(new URLSearchParams(), ctx.project.timezone),
      filters: { match: 'all', items: [] },
      breakdown: NO_BREAKDOWN,
      view: 'line',
      formula: '',
      compare: false,
      // A report opened from a link (a cohort's, a shared one) is as its author left it.
      fresh: !route.params.has('q'),
    },
    isState,
  );
  // A new report starts on the most frequent event rather than on "all events".
  const effective = useMemo<InsightsState>(
    () =>
      state.fresh && state.series.length === 1 && state.series[0]?.event === '' && firstEvent
        ? { ...state, series: [{ event: firstEvent, math: state.series[0].math, property: '' }] }
        : state,
    [state, firstEvent],
  );
  const query = buildTrendsQuery(effective);
  const brokenDown = query?.breakdown !== undefined;
  // Typing settles before a query runs.
  const key = useDebounced(JSON.stringify(query), 250);
  const [result, rerun] = useLoad<TrendsResult>(
    query && events.state === 'ok' && events.value.length > 0
      ? () => runQuery(ctx.project.id, query)
      : null,
    [key, events.state],
  );
  const set = (patch: Partial<InsightsState>): void =>
    setState({ ...effective, ...patch, fresh: false });
  const setSeries = (i: number, patch: Partial<SeriesState>): void =>
    set({ series: effective.series.map((s, j) => (j === i ? { ...s, ...patch } : s)) });

  return (
    <section aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`}>Insights</h1>
      <Show value={events} what="event names" onRetry={reloadEvents}>
        {(names) =>
          names.length === 0 ? (
            <Empty title="No events yet">
              <p>
                This project has not received any event. Open{' '}
                <a href={`#/p/${ctx.project.id}/setup`}>Setup</a> for the snippet to paste in your
                app, then come back: reports fill in as events arrive.
              </p>
            </Empty>
          ) : (
            <>
              <form class="builder" onSubmit={(e) => e.preventDefault()}>
                <fieldset>
                  <legend>Series</legend>
                  {effective.series.map((s, i) => (
                    <div class="row" key={i}>
                      <NamePicker
                        id={`${id}-event-${i}`}
                        label={`Event ${letterOf(i)}`}
                        names={names}
                        value={s.event}
                        placeholder="All events"
                        onChange={(event) => setSeries(i, { event })}
                      />
                      <span class="field">
                        <label for={`${id}-math-${i}`}>Measure</label>
                        <select
                          id={`${id}-math-${i}`}
                          value={s.math}
                          onChange={(e) => setSeries(i, { math: e.currentTarget.value as Math })}
                        >
                          {MATH_GROUPS.map((g) => (
                            <optgroup key={g.label} label={g.label}>
                              {g.maths.map((m) => (
                                <option key={m} value={m}>
                                  {mathLabel(m)}
                                </option>
                              ))}
                            </optgroup>
                          ))}
                        </select>
                      </span>
                      {PROPERTY_MATHS.has(s.math) && (
                        <NamePicker
                          id={`${id}-prop-${i}`}
                          label="of property"
                          names={propertyNames}
                          value={s.property}
                          placeholder="Choose a numeric property"
                          onChange={(property) => setSeries(i, { property })}
                        />
                      )}
                      {s.math === 'unique_groups' && (
                        <NamePicker
                          id={`${id}-group-${i}`}
                          label="Group id property"
                          names={propertyNames}
                          value={s.groupKey ?? ''}
                          placeholder="Choose the property holding the group id"
                          onChange={(groupKey) => setSeries(i, { groupKey })}
                        />
                      )}
                      {effective.series.length > 1 && (
                        <button
                          type="button"
                          class="link"
                          aria-label={`Remove series ${letterOf(i)}`}
                          onClick={() =>
                            set({ series: effective.series.filter((_, j) => j !== i) })
                          }
                        >
                          Remove
                        </button>
                      )}
                    </div>
                  ))}
                  {effective.series.length < 20 && (
                    <button
                      type="button"
                      onClick={() =>
                        set({
                          series: [
                            ...effective.series,
                            { event: names[0] ?? '', math: 'total', property: '' },
                          ],
                        })
                      }
                    >
                      Add series
                    </button>
                  )}
                  <span class="field formula">
                    <label for={`${id}-formula`}>Formula (optional)</label>
                    <input
                      id={`${id}-formula`}
                      value={effective.formula ?? ''}
                      placeholder={effective.series.length > 1 ? 'e.g. B / A * 100' : 'e.g. A / 7'}
                      aria-describedby={`${id}-formula-help`}
                      onInput={(e) => set({ formula: e.currentTarget.value })}
                    />
                    <span class="hint" id={`${id}-formula-help`}>
                      {`Combines the series by letter (${effective.series
                        .map((_, i) => letterOf(i))
                        .join(', ')}) with + − × ÷ and brackets; a division by zero shows as –.${
                        brokenDown
                          ? ' Broken down, every series is split by the values A ranks first, and the formula is shown per value.'
                          : ''
                      }`}
                    </span>
                  </span>
                </fieldset>
                <FiltersEditor
                  filters={filterSetOf(effective.filters)}
                  choices={{ properties: propertyNames, cohorts }}
                  onChange={(filters) => set({ filters })}
                />
                <BreakdownPicker
                  value={breakdownStateOf(effective.breakdown)}
                  properties={propertyNames}
                  cohorts={cohorts}
                  projectId={ctx.project.id}
                  onChange={(breakdown) => set({ breakdown })}
                />
                <fieldset class="inline">
                  <legend>Shape</legend>
                  <span class="field">
                    <label for={`${id}-interval`}>Interval</label>
                    <select
                      id={`${id}-interval`}
                      value={effective.interval}
                      onChange={(e) => set({ interval: e.currentTarget.value as Interval })}
                    >
                      {INTERVALS.map((i) => (
                        <option key={i} value={i}>
                          {i}
                        </option>
                      ))}
                    </select>
                  </span>
                  <span class="field">
                    <label for={`${id}-view`}>Show as</label>
                    <select
                      id={`${id}-view`}
                      value={effective.view}
                      onChange={(e) =>
                        set({ view: e.currentTarget.value as InsightsState['view'] })
                      }
                    >
                      <option value="line">Line chart</option>
                      <option value="bar">Bar chart</option>
                      <option value="table">Table</option>
                    </select>
                  </span>
                </fieldset>
                <DateRangePicker
                  value={effective.range}
                  timeZone={ctx.project.timezone}
                  onChange={(range) => set({ range })}
                />
                <fieldset class="inline">
                  <legend>Analysis</legend>
                  <select
                    id={`${id}-analysis`}
                    aria-label="Analysis"
                    value={effective.analysis ?? 'linear'}
                    onChange={(e) => set({ analysis: e.currentTarget.value as Analysis })}
                  >
                    <option value="linear">Linear</option>
                    <option
                      value="cumulative"
                      disabled={effective.series.some((x) => !CUMULATIVE_MATHS.has(x.math))}
                    >
                      Cumulative
                    </option>
                    <option value="rolling">Rolling</option>
                  </select>
                  {effective.analysis === 'rolling' && (
                    <>
                      <label for={`${id}-window`}>over</label>
                      <input
                        id={`${id}-window`}
                        type="number"
                        min={1}
                        max={90}
                        value={effective.rollingWindow ?? ROLLING_DEFAULTS[effective.interval]}
                        onInput={(e) => {
                          const n = Number(e.currentTarget.value);
                          set({ rollingWindow: Number.isInteger(n) && n >= 1 ? n : undefined });
                        }}
                      />
                      <span>{`${effective.interval}s`}</span>
                    </>
                  )}
                  <span class="hint">
                    {effective.analysis === 'cumulative'
                      ? 'A running total from the first day; unique users count each person once.'
                      : effective.analysis === 'rolling'
                        ? 'Each point the mean of the intervals ending there, days before the range included.'
                        : 'Each point as counted in its interval.'}
                  </span>
                </fieldset>
                <fieldset class="inline">
                  <legend>Compare</legend>
                  <input
                    id={`${id}-compare`}
                    type="checkbox"
                    checked={effective.compare === true}
                    onChange={(e) => set({ compare: e.currentTarget.checked })}
                  />
                  <label for={`${id}-compare`}>Compare with the previous period</label>
                  <span class="hint">
                    The same number of days just before the range, drawn dashed beside it.
                  </span>
                </fieldset>
              </form>
              <div class="result" aria-live="polite">
                <Show value={result} what="the trend" onRetry={rerun}>
                  {(r) => (
                    <>
                      <TrendsView
                        result={r}
                        view={effective.view}
                        title="Insights"
                        segment={segmentNamer(query?.breakdown, cohorts)}
                        download={
                          query
                            ? () =>
                                downloadCsv(
                                  'query.run',
                                  { params: { projectId: ctx.project.id }, body: query },
                                  'insights.csv',
                                )
                            : undefined
                        }
                      />
                    </>
                  )}
                </Show>
                {query && result.state !== 'error' && (
                  <SaveToBoard ctx={ctx} query={query} suggested="Trend" />
                )}
              </div>
            </>
          )
        }
      </Show>
    </section>
  );
}
