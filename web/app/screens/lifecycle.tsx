// Lifecycle: per day, week or month, the users active in it as new, returning and resurrecting,
// and those who went dormant, as stacked bars (dormant below zero) and a table.
import { useId } from 'preact/hooks';
import { runQuery } from '../api/client';
import type { LifecycleQuery, LifecycleResult } from '../api/types';
import type { ProjectContext } from '../context';
import { useRoute } from '../router';
import { Empty, Show, useDebounced, useLoad } from '../ui/async';
import { downloadCsv } from '../ui/csv';
import { normaliseRange, rangeFromParams, type DateRange } from '../ui/dates';
import { LifecycleView } from '../ui/lifecycle';
import {
  DateRangePicker,
  filterSetOf,
  FiltersEditor,
  filterTree,
  NamePicker,
  PeriodPicker,
  useCohorts,
  useEventNames,
  usePropertyNames,
  type FilterSet,
} from '../ui/query-parts';
import { isObject, useReportState } from '../ui/report-state';
import { SaveToBoard } from '../ui/save-to-board';

interface LifecycleState {
  /** '' for any event. */
  event: string;
  interval: LifecycleQuery['interval'];
  range: DateRange;
  filters: FilterSet;
}

const isState = (v: unknown): v is LifecycleState =>
  isObject(v) && typeof v.event === 'string' && typeof v.interval === 'string';

export function buildLifecycleQuery(s: LifecycleState): LifecycleQuery {
  const range = normaliseRange(s.range);
  const filters = filterTree(filterSetOf(s.filters));
  return {
    kind: 'lifecycle',
    from: range.from,
    to: range.to,
    interval: s.interval,
    ...(s.event === '' ? {} : { event: s.event }),
    ...(filters.length > 0 ? { filters } : {}),
  };
}

export function Lifecycle(props: { ctx: ProjectContext }) {
  const { ctx } = props;
  const route = useRoute();
  const id = useId();
  const [events, reloadEvents] = useEventNames(ctx);
  const properties = usePropertyNames(ctx);
  const cohorts = useCohorts(ctx);
  const [state, setState] = useReportState<LifecycleState>(
    route.params,
    {
      event: '',
      interval: 'day',
      range: rangeFromParams(new URLSearchParams(), ctx.project.timezone, '30d'),
      filters: { match: 'all', items: [] },
    },
    isState,
  );
  const query = buildLifecycleQuery(state);
  const key = useDebounced(JSON.stringify(query), 250);
  const [result, rerun] = useLoad<LifecycleResult>(() => runQuery(ctx.project.id, query), [key]);
  const set = (patch: Partial<LifecycleState>): void => setState({ ...state, ...patch });

  return (
    <section aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`}>Lifecycle</h1>
      <Show value={events} what="event names" onRetry={reloadEvents}>
        {(list) =>
          list.length === 0 ? (
            <Empty title="No events yet">
              <p>
                Lifecycle shows who is new, returning, resurrecting or dormant. Send events first:
                see <a href={`#/p/${ctx.project.id}/setup`}>Setup</a>.
              </p>
            </Empty>
          ) : (
            <>
              <form class="builder" onSubmit={(e) => e.preventDefault()}>
                <fieldset class="inline">
                  <legend>Users active</legend>
                  <NamePicker
                    id={`${id}-event`}
                    label="Doing"
                    names={list}
                    placeholder="Any event"
                    value={state.event}
                    onChange={(event) => set({ event })}
                  />
                  <PeriodPicker
                    id={`${id}-interval`}
                    value={state.interval}
                    onChange={(interval) => set({ interval })}
                  />
                  <span class="hint">
                    New: first time ever. Returning: active the {state.interval} before too.
                    Resurrecting: back after a gap. Dormant: active the {state.interval} before, not
                    this one.
                  </span>
                </fieldset>
                <FiltersEditor
                  filters={filterSetOf(state.filters)}
                  choices={{
                    properties: properties.state === 'ok' ? properties.value : [],
                    cohorts,
                  }}
                  onChange={(filters) => set({ filters })}
                />
                <DateRangePicker
                  value={state.range}
                  timeZone={ctx.project.timezone}
                  onChange={(range) => set({ range })}
                />
              </form>
              <div class="result" aria-live="polite">
                <Show value={result} what="the lifecycle" onRetry={rerun}>
                  {(r) => (
                    <>
                      <LifecycleView
                        result={r}
                        title="Lifecycle"
                        download={() =>
                          downloadCsv(
                            'query.run',
                            { params: { projectId: ctx.project.id }, body: query },
                            'lifecycle.csv',
                          )
                        }
                      />
                      <SaveToBoard ctx={ctx} query={query} suggested="Lifecycle" />
                    </>
                  )}
                </Show>
              </div>
            </>
          )
        }
      </Show>
    </section>
  );
}
