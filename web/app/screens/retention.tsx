// Retention: who did the start event, and how many came back to do the return event in each
// following day, week or month; shown as a cohort heat map.
import { useId, useMemo } from 'preact/hooks';
import { runQuery } from '../api/client';
import type { Filter, RetentionQuery, RetentionResult, RetentionType } from '../api/types';
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
import { downloadCsv } from '../ui/csv';
import { normaliseRange, rangeFromParams, type DateRange } from '../ui/dates';
import {
  DateRangePicker,
  filterSetOf,
  FiltersEditor,
  filterTree,
  NamePicker,
  PeriodPicker,
  useEventNames,
  useCohorts,
  usePropertyNames,
  type FilterSet,
} from '../ui/query-parts';
import { isObject, useReportState } from '../ui/report-state';
import { RetentionView } from '../ui/results';
import { SaveToBoard } from '../ui/save-to-board';

interface RetentionState {
  startEvent: string;
  returnEvent: string;
  period: RetentionQuery['period'];
  periods: number;
  /** Absent in reports kept by earlier versions: first_in_range. */
  retentionType?: RetentionType;
  range: DateRange;
  /** A FilterSet (a plain list in reports kept by earlier versions). */
  filters: FilterSet | Filter[];
  /** Properties or cohorts; absent in reports kept by earlier versions. */
  breakdown?: BreakdownState;
}

/** The API's retention types, each with the one line the screen shows under the selector. */
export const RETENTION_TYPES: readonly { value: RetentionType; label: string; hint: string }[] = [
  {
    value: 'first_in_range',
    label: 'first in range',
    hint: 'Each user counts once, from the period of their first start event in the date range.',
  },
  {
    value: 'first_time',
    label: 'first time',
    hint: 'Only users whose first start event ever falls in the date range: new users.',
  },
  {
    value: 'recurring',
    label: 'recurring',
    hint: 'Every period in which a user does the start event begins a cohort for them.',
  },
];

const isState = (v: unknown): v is RetentionState => isObject(v) && typeof v.period === 'string';

export function buildRetentionQuery(s: RetentionState): RetentionQuery | null {
  if (!s.startEvent || !s.returnEvent) return null;
  const filters = filterTree(filterSetOf(s.filters));
  const range = normaliseRange(s.range);
  const breakdown = breakdownBody(s.breakdown);
  return {
    kind: 'retention',
    from: range.from,
    to: range.to,
    start_event: s.startEvent,
    return_event: s.returnEvent,
    period: s.period,
    periods: s.periods,
    // The API's default is left out, so reports saved before the selector stay the same.
    ...(s.retentionType && s.retentionType !== 'first_in_range'
      ? { retention_type: s.retentionType }
      : {}),
    ...(filters.length > 0 ? { filters } : {}),
    ...(breakdown !== undefined ? { breakdown } : {}),
  };
}

export function Retention(props: { ctx: ProjectContext }) {
  const { ctx } = props;
  const route = useRoute();
  const id = useId();
  const [events, reloadEvents] = useEventNames(ctx);
  const properties = usePropertyNames(ctx);
  const cohorts = useCohorts(ctx);
  const [state, setState] = useReportState<RetentionState>(
    route.params,
    {
      startEvent: '',
      returnEvent: '',
      period: 'day',
      periods: 7,
      range: rangeFromParams(new URLSearchParams(), ctx.project.timezone, '30d'),
      filters: { match: 'all', items: [] },
      breakdown: NO_BREAKDOWN,
    },
    isState,
  );
  const names = events.state === 'ok' ? events.value : [];
  const effective = useMemo(
    () =>
      !state.startEvent && names[0]
        ? { ...state, startEvent: names[0], returnEvent: state.returnEvent || names[0] }
        : state,
    [state, names],
  );
  const query = buildRetentionQuery(effective);
  // Typing settles before a query runs.
  const key = useDebounced(JSON.stringify(query), 250);
  const [result, rerun] = useLoad<RetentionResult>(
    query ? () => runQuery(ctx.project.id, query) : null,
    [key],
  );
  const csvOf = (q: RetentionQuery) => () =>
    downloadCsv('query.run', { params: { projectId: ctx.project.id }, body: q }, 'retention.csv');
  const set = (patch: Partial<RetentionState>): void => setState({ ...effective, ...patch });

  return (
    <section aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`}>Retention</h1>
      <Show value={events} what="event names" onRetry={reloadEvents}>
        {(list) =>
          list.length === 0 ? (
            <Empty title="No events yet">
              <p>
                Retention needs events from returning users. See{' '}
                <a href={`#/p/${ctx.project.id}/setup`}>Setup</a> to start sending them.
              </p>
            </Empty>
          ) : (
            <>
              <form class="builder" onSubmit={(e) => e.preventDefault()}>
                <fieldset class="inline">
                  <legend>Who and what</legend>
                  <NamePicker
                    id={`${id}-start`}
                    label="Users who did"
                    names={list}
                    value={effective.startEvent}
                    onChange={(startEvent) => set({ startEvent })}
                  />
                  <NamePicker
                    id={`${id}-return`}
                    label="and came back to do"
                    names={list}
                    value={effective.returnEvent}
                    onChange={(returnEvent) => set({ returnEvent })}
                  />
                </fieldset>
                <fieldset class="inline">
                  <legend>Periods</legend>
                  <PeriodPicker
                    id={`${id}-period`}
                    value={effective.period}
                    onChange={(period) => set({ period })}
                  />
                  <span class="field">
                    <label for={`${id}-type`}>Counting</label>
                    <select
                      id={`${id}-type`}
                      aria-describedby={`${id}-type-hint`}
                      value={effective.retentionType ?? 'first_in_range'}
                      onChange={(e) =>
                        set({ retentionType: e.currentTarget.value as RetentionType })
                      }
                    >
                      {RETENTION_TYPES.map((t) => (
                        <option key={t.value} value={t.value}>
                          {t.label}
                        </option>
                      ))}
                    </select>
                    <small id={`${id}-type-hint`} class="hint">
                      {
                        RETENTION_TYPES.find(
                          (t) => t.value === (effective.retentionType ?? 'first_in_range'),
                        )?.hint
                      }
                    </small>
                  </span>
                  <span class="field">
                    <label for={`${id}-periods`}>Periods shown</label>
                    <input
                      id={`${id}-periods`}
                      type="number"
                      min={1}
                      max={60}
                      value={effective.periods}
                      onInput={(e) => {
                        const n = Number(e.currentTarget.value);
                        if (Number.isInteger(n) && n >= 1 && n <= 60) set({ periods: n });
                      }}
                    />
                  </span>
                </fieldset>
                <FiltersEditor
                  filters={filterSetOf(effective.filters)}
                  choices={{
                    properties: properties.state === 'ok' ? properties.value : [],
                    cohorts,
                  }}
                  onChange={(filters) => set({ filters })}
                />
                <BreakdownPicker
                  value={breakdownStateOf(effective.breakdown)}
                  properties={properties.state === 'ok' ? properties.value : []}
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
                {query && (
                  <Show value={result} what="retention" onRetry={rerun}>
                    {(r) => (
                      <>
                        <RetentionView
                          result={r}
                          period={effective.period}
                          title="Retention"
                          segment={segmentNamer(query.breakdown, cohorts)}
                          download={query ? csvOf(query) : undefined}
                        />
                        <SaveToBoard ctx={ctx} query={query} suggested="Retention" />
                      </>
                    )}
                  </Show>
                )}
              </div>
            </>
          )
        }
      </Show>
    </section>
  );
}
