// Flows: the paths users take after (or before) an event, as a Sankey with the users who stopped
// at each step, and a table with every number. Up to 6 steps; per step the most frequent events
// and "Other events".
import { useId, useMemo } from 'preact/hooks';
import { runQuery } from '../api/client';
import type { FlowsQuery, FlowsResult } from '../api/types';
import type { ProjectContext } from '../context';
import { useRoute } from '../router';
import { Empty, Show, useDebounced, useLoad } from '../ui/async';
import { downloadCsv } from '../ui/csv';
import { normaliseRange, rangeFromParams, type DateRange } from '../ui/dates';
import { FlowsView } from '../ui/flows';
import { DateRangePicker, NamePicker, useEventNames } from '../ui/query-parts';
import { isObject, useReportState } from '../ui/report-state';
import { SaveToBoard } from '../ui/save-to-board';

interface FlowsState {
  event: string;
  direction: 'after' | 'before';
  steps: number;
  paths: number;
  range: DateRange;
}

const isState = (v: unknown): v is FlowsState => isObject(v) && typeof v.event === 'string';

export function buildFlowsQuery(s: FlowsState): FlowsQuery | null {
  if (s.event === '') return null;
  const range = normaliseRange(s.range);
  return {
    kind: 'flows',
    from: range.from,
    to: range.to,
    anchor: { event: s.event, direction: s.direction },
    steps: s.steps,
    max_paths_per_step: s.paths,
  };
}

export function Flows(props: { ctx: ProjectContext }) {
  const { ctx } = props;
  const route = useRoute();
  const id = useId();
  const [events, reloadEvents] = useEventNames(ctx);
  const [state, setState] = useReportState<FlowsState>(
    route.params,
    {
      event: '',
      direction: 'after',
      steps: 3,
      paths: 5,
      range: rangeFromParams(new URLSearchParams(), ctx.project.timezone),
    },
    isState,
  );
  const names = events.state === 'ok' ? events.value : [];
  // A new flow starts from the most frequent event.
  const effective = useMemo(
    () => (state.event === '' && names[0] ? { ...state, event: names[0] } : state),
    [state, names],
  );
  const query = buildFlowsQuery(effective);
  const key = useDebounced(JSON.stringify(query), 250);
  const [result, rerun] = useLoad<FlowsResult>(
    query ? () => runQuery(ctx.project.id, query) : null,
    [key],
  );
  const set = (patch: Partial<FlowsState>): void => setState({ ...effective, ...patch });

  return (
    <section aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`}>Flows</h1>
      <Show value={events} what="event names" onRetry={reloadEvents}>
        {(list) =>
          list.length === 0 ? (
            <Empty title="No events yet">
              <p>
                Flows show what users do after or before an event. Send events first: see{' '}
                <a href={`#/p/${ctx.project.id}/setup`}>Setup</a>.
              </p>
            </Empty>
          ) : (
            <>
              <form class="builder" onSubmit={(e) => e.preventDefault()}>
                <fieldset class="inline">
                  <legend>Paths</legend>
                  <span class="field">
                    <label for={`${id}-direction`}>Show what users did</label>
                    <select
                      id={`${id}-direction`}
                      value={effective.direction}
                      onChange={(e) =>
                        set({ direction: e.currentTarget.value as FlowsState['direction'] })
                      }
                    >
                      <option value="after">after</option>
                      <option value="before">before</option>
                    </select>
                  </span>
                  <NamePicker
                    id={`${id}-event`}
                    label="their first"
                    names={list}
                    value={effective.event}
                    onChange={(event) => set({ event })}
                  />
                  <span class="field">
                    <label for={`${id}-steps`}>Steps</label>
                    <select
                      id={`${id}-steps`}
                      value={String(effective.steps)}
                      onChange={(e) => set({ steps: Number(e.currentTarget.value) })}
                    >
                      {[1, 2, 3, 4, 5, 6].map((n) => (
                        <option key={n} value={String(n)}>
                          {n}
                        </option>
                      ))}
                    </select>
                  </span>
                  <span class="field">
                    <label for={`${id}-paths`}>Events per step</label>
                    <select
                      id={`${id}-paths`}
                      value={String(effective.paths)}
                      onChange={(e) => set({ paths: Number(e.currentTarget.value) })}
                    >
                      {[3, 5, 10, 20].map((n) => (
                        <option key={n} value={String(n)}>
                          top {n}
                        </option>
                      ))}
                    </select>
                  </span>
                  <span class="hint">
                    Each user counts once, from their first “{effective.event}” in the range; the
                    rest of a step's events show as “Other events”.
                  </span>
                </fieldset>
                <DateRangePicker
                  value={effective.range}
                  timeZone={ctx.project.timezone}
                  onChange={(range) => set({ range })}
                />
              </form>
              <div class="result" aria-live="polite">
                <Show value={result} what="the flow" onRetry={rerun}>
                  {(r) => (
                    <>
                      <FlowsView
                        result={r}
                        title="Flow"
                        direction={effective.direction}
                        download={
                          query
                            ? () =>
                                downloadCsv(
                                  'query.run',
                                  { params: { projectId: ctx.project.id }, body: query },
                                  'flows.csv',
                                )
                            : undefined
                        }
                      />
                    </>
                  )}
                </Show>
                {query && result.state !== 'error' && (
                  <SaveToBoard ctx={ctx} query={query} suggested="Flow" />
                )}
              </div>
            </>
          )
        }
      </Show>
    </section>
  );
}
