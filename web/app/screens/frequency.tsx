// Frequency (stickiness): how many users did an event on exactly 1, 2, … N distinct days (hours,
// weeks, months) of the range — PostHog's stickiness — or of each week or month of it —
// Mixpanel's frequency report; as bars and a table, exactly N or N or more; with filters and a
// breakdown (properties, person properties, cohorts) as Insights has them.
import { useId, useMemo } from 'preact/hooks';
import { runQuery } from '../api/client';
import type { FrequencyQuery, FrequencyResult } from '../api/types';
import type { ProjectContext } from '../context';
import { useRoute } from '../router';
import { Empty, Show, useDebounced, useLoad } from '../ui/async';
import {
  NO_BREAKDOWN,
  breakdownBody,
  breakdownStateOf,
  segmentNamer,
  type BreakdownState,
} from '../ui/breakdown';
import { BreakdownPicker } from '../ui/breakdown-picker';
import { downloadCsv } from '../ui/csv';
import { normaliseRange, rangeFromParams, type DateRange } from '../ui/dates';
import { FrequencyView, type FrequencyMode } from '../ui/frequency';
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
import { SaveToBoard } from '../ui/save-to-board';

type Interval = NonNullable<FrequencyQuery['interval']>;
type Per = NonNullable<FrequencyQuery['per']>;

interface FrequencyState {
  event: string;
  interval: Interval;
  per: Per;
  mode: FrequencyMode;
  compare: boolean;
  range: DateRange;
  /** Left out by reports saved before filters and breakdowns were offered here. */
  filters?: FilterSet;
  breakdown?: BreakdownState;
}

const isState = (v: unknown): v is FrequencyState =>
  isObject(v) && typeof v.event === 'string' && typeof v.per === 'string';

/** The intervals a period holds (the API refuses the others). */
export const INTERVALS_OF: Record<Per, Interval[]> = {
  range: ['hour', 'day', 'week', 'month'],
  week: ['hour', 'day'],
  month: ['hour', 'day', 'week'],
};

export function buildFrequencyQuery(s: FrequencyState): FrequencyQuery | null {
  if (s.event === '') return null;
  const range = normaliseRange(s.range);
  const filters = filterTree(filterSetOf(s.filters));
  const breakdown = breakdownBody(s.breakdown);
  return {
    kind: 'frequency',
    from: range.from,
    to: range.to,
    series: [{ event: s.event }],
    interval: INTERVALS_OF[s.per].includes(s.interval) ? s.interval : 'day',
    per: s.per,
    ...(filters.length > 0 ? { filters } : {}),
    ...(breakdown !== undefined ? { breakdown } : {}),
    ...(s.compare ? { compare: 'previous_period' as const } : {}),
  };
}

export function Frequency(props: { ctx: ProjectContext }) {
  const { ctx } = props;
  const route = useRoute();
  const id = useId();
  const [events, reloadEvents] = useEventNames(ctx);
  const properties = usePropertyNames(ctx);
  const cohorts = useCohorts(ctx);
  const propertyNames = properties.state === 'ok' ? properties.value : [];
  const [state, setState] = useReportState<FrequencyState>(
    route.params,
    {
      event: '',
      interval: 'day',
      per: 'range',
      mode: 'exactly',
      compare: false,
      range: rangeFromParams(new URLSearchParams(), ctx.project.timezone),
      filters: { match: 'all', items: [] },
      breakdown: NO_BREAKDOWN,
    },
    isState,
  );
  const names = events.state === 'ok' ? events.value : [];
  const effective = useMemo(
    () => (state.event === '' && names[0] ? { ...state, event: names[0] } : state),
    [state, names],
  );
  const query = buildFrequencyQuery(effective);
  const key = useDebounced(JSON.stringify(query), 250);
  const [result, rerun] = useLoad<FrequencyResult>(
    query ? () => runQuery(ctx.project.id, query) : null,
    [key],
  );
  const set = (patch: Partial<FrequencyState>): void => setState({ ...effective, ...patch });
  const intervals = INTERVALS_OF[effective.per];

  return (
    <section aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`}>Frequency</h1>
      <Show value={events} what="event names" onRetry={reloadEvents}>
        {(list) =>
          list.length === 0 ? (
            <Empty title="No events yet">
              <p>
                Frequency shows on how many days users do an event. Send events first: see{' '}
                <a href={`#/p/${ctx.project.id}/setup`}>Setup</a>.
              </p>
            </Empty>
          ) : (
            <>
              <form class="builder" onSubmit={(e) => e.preventDefault()}>
                <fieldset class="inline">
                  <legend>Question</legend>
                  <NamePicker
                    id={`${id}-event`}
                    label="Users who did"
                    names={list}
                    value={effective.event}
                    onChange={(event) => set({ event })}
                  />
                  <span class="field">
                    <label for={`${id}-interval`}>on how many distinct</label>
                    <select
                      id={`${id}-interval`}
                      value={intervals.includes(effective.interval) ? effective.interval : 'day'}
                      onChange={(e) => set({ interval: e.currentTarget.value as Interval })}
                    >
                      {intervals.map((i) => (
                        <option key={i} value={i}>
                          {i}s
                        </option>
                      ))}
                    </select>
                  </span>
                  <span class="field">
                    <label for={`${id}-per`}>of</label>
                    <select
                      id={`${id}-per`}
                      value={effective.per}
                      onChange={(e) => set({ per: e.currentTarget.value as Per })}
                    >
                      <option value="range">the whole range</option>
                      <option value="week">each week</option>
                      <option value="month">each month</option>
                    </select>
                  </span>
                  <span class="field">
                    <label for={`${id}-mode`}>Count users on</label>
                    <select
                      id={`${id}-mode`}
                      value={effective.mode}
                      onChange={(e) => set({ mode: e.currentTarget.value as FrequencyMode })}
                    >
                      <option value="exactly">exactly N</option>
                      <option value="at_least">N or more</option>
                    </select>
                  </span>
                  <span class="field">
                    <input
                      id={`${id}-compare`}
                      type="checkbox"
                      checked={effective.compare}
                      onChange={(e) => set({ compare: e.currentTarget.checked })}
                    />
                    <label for={`${id}-compare`}>Compare with the period before</label>
                  </span>
                  <span class="hint">
                    Weeks start on Monday, in the project's time zone; a week or month cut by the
                    range counts only its days inside it (marked partial).
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
                <DateRangePicker
                  value={effective.range}
                  timeZone={ctx.project.timezone}
                  onChange={(range) => set({ range })}
                />
              </form>
              <div class="result" aria-live="polite">
                <Show value={result} what="the frequency" onRetry={rerun}>
                  {(r) => (
                    <FrequencyView
                      result={r}
                      title={effective.event}
                      mode={effective.mode}
                      segment={segmentNamer(query?.breakdown, cohorts)}
                      download={
                        query
                          ? () =>
                              downloadCsv(
                                'query.run',
                                { params: { projectId: ctx.project.id }, body: query },
                                'frequency.csv',
                              )
                          : undefined
                      }
                    />
                  )}
                </Show>
                {query && result.state !== 'error' && (
                  <SaveToBoard ctx={ctx} query={query} suggested="Frequency" />
                )}
              </div>
            </>
          )
        }
      </Show>
    </section>
  );
}
