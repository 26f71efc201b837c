// Funnels: 2 to 10 steps, a conversion window, filters and a date range; conversion bars with
// drop-off and a table with the median time between steps.
import { useId, useMemo } from 'preact/hooks';
import { call } from '../api/client';
import type { Filter, FunnelQuery, FunnelResult } from '../api/types';
import type { ProjectContext } from '../context';
import { useRoute } from '../router';
import { Empty, Show, useDebounced, useLoad } from '../ui/async';
import { downloadCsv } from '../ui/csv';
import { normaliseRange, rangeFromParams, type DateRange } from '../ui/dates';
import {
  DateRangePicker,
  filterSetOf,
  FiltersEditor,
  filterTree,
  NamePicker,
  useEventNames,
  useCohorts,
  usePropertyNames,
  type FilterSet,
} from '../ui/query-parts';
import { isObject, useReportState } from '../ui/report-state';
import { FunnelView } from '../ui/results';
import { SaveToBoard } from '../ui/save-to-board';

export const WINDOWS = [
  { seconds: 3600, label: '1 hour' },
  { seconds: 86_400, label: '1 day' },
  { seconds: 7 * 86_400, label: '7 days' },
  { seconds: 14 * 86_400, label: '14 days' },
  { seconds: 30 * 86_400, label: '30 days' },
  { seconds: 90 * 86_400, label: '90 days' },
];

interface FunnelState {
  steps: string[];
  window: number;
  range: DateRange;
  /** A FilterSet (a plain list in reports kept by earlier versions). */
  filters: FilterSet | Filter[];
}

const isState = (v: unknown): v is FunnelState => isObject(v) && Array.isArray(v.steps);

export function buildFunnelQuery(s: FunnelState): FunnelQuery | null {
  const steps = s.steps.filter((e) => e !== '');
  if (steps.length < 2) return null;
  const filters = filterTree(filterSetOf(s.filters));
  const range = normaliseRange(s.range);
  return {
    kind: 'funnel',
    from: range.from,
    to: range.to,
    steps: steps.map((event) => ({ event })),
    window_seconds: s.window,
    ...(filters.length > 0 ? { filters } : {}),
  };
}

export function Funnels(props: { ctx: ProjectContext }) {
  const { ctx } = props;
  const route = useRoute();
  const id = useId();
  const [events, reloadEvents] = useEventNames(ctx);
  const properties = usePropertyNames(ctx);
  const cohorts = useCohorts(ctx);
  const [state, setState] = useReportState<FunnelState>(
    route.params,
    {
      steps: ['', ''],
      window: 7 * 86_400,
      range: rangeFromParams(new URLSearchParams(), ctx.project.timezone),
      filters: { match: 'all', items: [] },
    },
    isState,
  );
  const names = events.state === 'ok' ? events.value : [];
  // A new funnel starts on the two most frequent events.
  const effective = useMemo(
    () =>
      state.steps.every((s) => s === '') && names.length >= 2
        ? { ...state, steps: [names[0] ?? '', names[1] ?? ''] }
        : state,
    [state, names],
  );
  const query = buildFunnelQuery(effective);
  // Typing settles before a query runs.
  const key = useDebounced(JSON.stringify(query), 250);
  const [result, rerun] = useLoad<FunnelResult>(
    query
      ? () =>
          call<FunnelResult>('query.run', { params: { projectId: ctx.project.id }, body: query })
      : null,
    [key],
  );
  const csvOf = (q: object) => () =>
    downloadCsv('query.run', { params: { projectId: ctx.project.id }, body: q }, 'funnel.csv');
  const set = (patch: Partial<FunnelState>): void => setState({ ...effective, ...patch });

  return (
    <section aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`}>Funnels</h1>
      <Show value={events} what="event names" onRetry={reloadEvents}>
        {(list) =>
          list.length < 2 ? (
            <Empty title="A funnel needs at least two kinds of event">
              <p>
                Send the events of a journey (for example “Signed up” then “Purchased”); see{' '}
                <a href={`#/p/${ctx.project.id}/setup`}>Setup</a>.
              </p>
            </Empty>
          ) : (
            <>
              <form class="builder" onSubmit={(e) => e.preventDefault()}>
                <fieldset>
                  <legend>Steps, in order</legend>
                  <ol class="steps">
                    {effective.steps.map((step, i) => (
                      <li key={i} class="row">
                        <NamePicker
                          id={`${id}-step-${i}`}
                          label={`Step ${i + 1}`}
                          names={list}
                          value={step}
                          placeholder="Choose an event"
                          onChange={(event) =>
                            set({ steps: effective.steps.map((s, j) => (j === i ? event : s)) })
                          }
                        />
                        {effective.steps.length > 2 && (
                          <button
                            type="button"
                            class="link"
                            aria-label={`Remove step ${i + 1}`}
                            onClick={() =>
                              set({ steps: effective.steps.filter((_, j) => j !== i) })
                            }
                          >
                            Remove
                          </button>
                        )}
                      </li>
                    ))}
                  </ol>
                  {effective.steps.length < 10 && (
                    <button type="button" onClick={() => set({ steps: [...effective.steps, ''] })}>
                      Add step
                    </button>
                  )}
                </fieldset>
                <FiltersEditor
                  filters={filterSetOf(effective.filters)}
                  choices={{
                    properties: properties.state === 'ok' ? properties.value : [],
                    cohorts,
                  }}
                  onChange={(filters) => set({ filters })}
                />
                <fieldset class="inline">
                  <legend>Conversion window</legend>
                  <label for={`${id}-window`}>Each user has</label>
                  <select
                    id={`${id}-window`}
                    value={String(effective.window)}
                    onChange={(e) => set({ window: Number(e.currentTarget.value) })}
                  >
                    {WINDOWS.map((w) => (
                      <option key={w.seconds} value={String(w.seconds)}>
                        {w.label}
                      </option>
                    ))}
                  </select>
                  <span class="hint">from their first step to finish the funnel.</span>
                </fieldset>
                <DateRangePicker
                  value={effective.range}
                  timeZone={ctx.project.timezone}
                  onChange={(range) => set({ range })}
                />
              </form>
              <div class="result" aria-live="polite">
                {!query ? (
                  <p class="hint">Choose at least two steps.</p>
                ) : (
                  <Show value={result} what="the funnel" onRetry={rerun}>
                    {(r) => (
                      <>
                        <FunnelView result={r} title="Funnel" download={csvOf(query)} />
                        <SaveToBoard ctx={ctx} query={query} suggested="Funnel" />
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
