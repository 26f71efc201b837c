// Funnels: 2 to 10 steps in strict or any order, a conversion window, exclusions between steps,
// properties held constant, filters, a breakdown and a date range; conversion bars with drop-off,
// time to convert (quartiles and p90), conversion over time and the breakdown's table.
import { useId, useMemo } from 'preact/hooks';
import { runQuery } from '../api/client';
import type { Filter, FunnelQuery, FunnelResult } from '../api/types';
import type { ProjectContext } from '../context';
import { useRoute } from '../router';
import { Empty, Show, useDebounced, useLoad } from '../ui/async';
import {
  breakdownBody,
  breakdownStateOf,
  breakdownTitle,
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

export const OVER_TIME = ['hour', 'day', 'week', 'month'] as const;
export type OverTime = (typeof OVER_TIME)[number];

/** An event between two steps (0-based) that disqualifies an attempt. */
export interface ExclusionState {
  event: string;
  after: number;
  before: number;
}

export interface FunnelState {
  steps: string[];
  window: number;
  range: DateRange;
  /** A FilterSet (a plain list in reports kept by earlier versions). */
  filters: FilterSet | Filter[];
  order: 'strict' | 'any';
  exclusions: ExclusionState[];
  /** Properties held constant; '' while one is being chosen. */
  hold: string[];
  /** Properties or cohorts (one property name, '' for none, in reports kept earlier). */
  breakdown: BreakdownState | string;
  /** Conversion per interval of entry, or '' for none. */
  overTime: OverTime | '';
}

export const MAX_EXCLUSIONS = 5;
export const MAX_HOLD = 3;

const isState = (v: unknown): v is FunnelState => isObject(v) && Array.isArray(v.steps);

/**
 * The API body of a funnel, or null while it has fewer than two steps. Half-made parts (an
 * exclusion without its event, a held property not chosen yet) are left out; an exclusion's
 * steps are kept inside the funnel, so that removing a step never makes the query invalid.
 */
export function buildFunnelQuery(s: FunnelState): FunnelQuery | null {
  const steps = s.steps.filter((e) => e !== '');
  if (steps.length < 2) return null;
  const last = steps.length - 1;
  const filters = filterTree(filterSetOf(s.filters));
  const range = normaliseRange(s.range);
  const exclusions = (s.exclusions ?? [])
    .filter((x) => x.event !== '')
    .map((x) => {
      const before = Math.min(Math.max(x.before, 1), last);
      return {
        event: x.event,
        after_step: Math.min(Math.max(x.after, 0), before - 1),
        before_step: before,
      };
    })
    .slice(0, MAX_EXCLUSIONS);
  const hold = [...new Set((s.hold ?? []).filter((h) => h !== ''))].slice(0, MAX_HOLD);
  const breakdown = breakdownBody(s.breakdown);
  return {
    kind: 'funnel',
    from: range.from,
    to: range.to,
    steps: steps.map((event) => ({ event })),
    window_seconds: s.window,
    ...(filters.length > 0 ? { filters } : {}),
    ...(s.order === 'any' ? { order: 'any' as const } : {}),
    ...(exclusions.length > 0 ? { exclusions } : {}),
    ...(hold.length > 0 ? { hold_constant: hold } : {}),
    ...(breakdown !== undefined ? { breakdown } : {}),
    ...(s.overTime ? { conversion_over_time: s.overTime } : {}),
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
      order: 'strict',
      exclusions: [],
      hold: [],
      breakdown: NO_BREAKDOWN,
      overTime: '',
    },
    isState,
  );
  const names = events.state === 'ok' ? events.value : [];
  const propertyList = properties.state === 'ok' ? properties.value : [];
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
    query ? () => runQuery(ctx.project.id, query) : null,
    [key],
  );
  const csvOf = (q: FunnelQuery) => () =>
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
                  choices={{ properties: propertyList, cohorts }}
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
                <fieldset class="inline">
                  <legend>Order</legend>
                  <span class="field">
                    <label for={`${id}-order`}>Later steps happen</label>
                    <select
                      id={`${id}-order`}
                      value={effective.order}
                      onChange={(e) =>
                        set({ order: e.currentTarget.value === 'any' ? 'any' : 'strict' })
                      }
                    >
                      <option value="strict">in this order</option>
                      <option value="any">in any order</option>
                    </select>
                  </span>
                  <span class="hint">
                    {effective.order === 'any'
                      ? 'after the first step, in any order, inside the window.'
                      : 'each after the one before; other events may happen in between.'}
                  </span>
                </fieldset>
                <fieldset>
                  <legend>Exclusions</legend>
                  {effective.exclusions.length === 0 && (
                    <p class="hint">
                      Leave out the attempts in which an event happens between two steps (for
                      example “Cancelled” between “Checkout” and “Purchase”).
                    </p>
                  )}
                  {effective.exclusions.map((x, i) => {
                    const change = (patch: Partial<ExclusionState>): void =>
                      set({
                        exclusions: effective.exclusions.map((y, j) =>
                          j === i ? { ...y, ...patch } : y,
                        ),
                      });
                    const stepChoice = (k: number) => (
                      <option key={k} value={String(k)}>
                        {`Step ${k + 1}${effective.steps[k] ? ` (${effective.steps[k]})` : ''}`}
                      </option>
                    );
                    return (
                      <div key={i} class="row" role="group" aria-label={`Exclusion ${i + 1}`}>
                        <NamePicker
                          id={`${id}-exclude-${i}`}
                          label={`Exclude users who did`}
                          names={list}
                          value={x.event}
                          placeholder="Choose an event"
                          onChange={(event) => change({ event })}
                        />
                        <span class="field">
                          <label for={`${id}-exclude-${i}-after`}>after</label>
                          <select
                            id={`${id}-exclude-${i}-after`}
                            value={String(x.after)}
                            onChange={(e) => {
                              const after = Number(e.currentTarget.value);
                              change({ after, before: Math.max(x.before, after + 1) });
                            }}
                          >
                            {effective.steps.slice(0, -1).map((_, k) => stepChoice(k))}
                          </select>
                        </span>
                        <span class="field">
                          <label for={`${id}-exclude-${i}-before`}>and before</label>
                          <select
                            id={`${id}-exclude-${i}-before`}
                            value={String(x.before)}
                            onChange={(e) => {
                              const before = Number(e.currentTarget.value);
                              change({ before, after: Math.min(x.after, before - 1) });
                            }}
                          >
                            {effective.steps.map((_, k) => (k === 0 ? null : stepChoice(k)))}
                          </select>
                        </span>
                        <button
                          type="button"
                          class="link"
                          aria-label={`Remove exclusion ${i + 1}`}
                          onClick={() =>
                            set({ exclusions: effective.exclusions.filter((_, j) => j !== i) })
                          }
                        >
                          Remove
                        </button>
                      </div>
                    );
                  })}
                  {effective.exclusions.length < MAX_EXCLUSIONS && (
                    <button
                      type="button"
                      onClick={() =>
                        set({
                          exclusions: [
                            ...effective.exclusions,
                            { event: '', after: 0, before: effective.steps.length - 1 },
                          ],
                        })
                      }
                    >
                      Add exclusion
                    </button>
                  )}
                </fieldset>
                <fieldset>
                  <legend>Hold constant</legend>
                  {effective.hold.length === 0 && (
                    <p class="hint">
                      Count a conversion only when every step has the entry’s value of a property
                      (for example the same device or plan).
                    </p>
                  )}
                  {effective.hold.map((h, i) => (
                    <div key={i} class="row">
                      <NamePicker
                        id={`${id}-hold-${i}`}
                        label={`Same value at every step of`}
                        names={propertyList.filter((n) => n === h || !effective.hold.includes(n))}
                        value={h}
                        placeholder="Choose a property"
                        onChange={(name) =>
                          set({ hold: effective.hold.map((g, j) => (j === i ? name : g)) })
                        }
                      />
                      <button
                        type="button"
                        class="link"
                        aria-label={`Remove held property ${i + 1}`}
                        onClick={() => set({ hold: effective.hold.filter((_, j) => j !== i) })}
                      >
                        Remove
                      </button>
                    </div>
                  ))}
                  {effective.hold.length < MAX_HOLD && (
                    <button type="button" onClick={() => set({ hold: [...effective.hold, ''] })}>
                      Hold a property constant
                    </button>
                  )}
                </fieldset>
                <BreakdownPicker
                  value={breakdownStateOf(effective.breakdown)}
                  properties={propertyList}
                  cohorts={cohorts}
                  projectId={ctx.project.id}
                  onChange={(breakdown) => set({ breakdown })}
                />
                <fieldset class="inline">
                  <legend>Shape</legend>
                  <span class="field">
                    <label for={`${id}-over-time`}>Conversion over time</label>
                    <select
                      id={`${id}-over-time`}
                      value={effective.overTime}
                      onChange={(e) => {
                        const v = e.currentTarget.value;
                        set({ overTime: OVER_TIME.find((o) => o === v) ?? '' });
                      }}
                    >
                      <option value="">Not shown</option>
                      {OVER_TIME.map((o) => (
                        <option key={o} value={o}>
                          {`per ${o}`}
                        </option>
                      ))}
                    </select>
                  </span>
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
                        <FunnelView
                          result={r}
                          title="Funnel"
                          breakdown={
                            query.breakdown === undefined
                              ? undefined
                              : breakdownTitle(query.breakdown)
                          }
                          segment={segmentNamer(query.breakdown, cohorts)}
                          download={csvOf(query)}
                        />
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
