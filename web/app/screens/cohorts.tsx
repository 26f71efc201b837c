// Cohorts: saved groups of users — who did an event at least / at most / exactly N times in the
// last D days, and who has a person property — with their size now, and a link that opens
// Insights filtered to the cohort. Analysts and up build, edit and delete them.
import { useId, useState } from 'preact/hooks';
import { ApiError, call } from '../api/client';
import type { Cohort, CohortCondition, FilterOp } from '../api/types';
import { canQuery, type ProjectContext } from '../context';
import { hrefOf } from '../router';
import { Empty, ErrorBox, Show, useLoad } from '../ui/async';
import { filterValueText, NamePicker, useEventNames } from '../ui/query-parts';
import { formatNumber } from '../ui/table';

const COUNT_OPS = [
  { op: 'gte', label: 'at least' },
  { op: 'lte', label: 'at most' },
  { op: 'eq', label: 'exactly' },
] as const;

const PERSON_OPS: { op: FilterOp; label: string }[] = [
  { op: 'eq', label: 'equals' },
  { op: 'neq', label: 'does not equal' },
  { op: 'contains', label: 'contains' },
  { op: 'in', label: 'is one of (comma-separated)' },
  { op: 'gt', label: '>' },
  { op: 'lt', label: '<' },
  { op: 'is_set', label: 'is set' },
  { op: 'is_not_set', label: 'is not set' },
];

/** One condition in words ("did Purchase at least 2 times in the last 30 days"). */
/**
 * A saved condition as the editor holds it: the server checked each operator against the filter
 * operators when the cohort was saved (src/query/cohorts.ts); its answer types them as text.
 */
const editable = (c: Cohort['conditions'][number]): CohortCondition => c as CohortCondition;

export function describeCondition(c: CohortCondition): string {
  if (c.kind === 'did_event') {
    if ((c.count_op === 'lte' || c.count_op === 'eq') && c.count === 0)
      return `did not do ${c.event} in the last ${c.within_days} days`;
    const op = COUNT_OPS.find((o) => o.op === c.count_op)?.label ?? c.count_op;
    return `did ${c.event} ${op} ${c.count} time${c.count === 1 ? '' : 's'} in the last ${c.within_days} days`;
  }
  const op = PERSON_OPS.find((o) => o.op === c.op)?.label ?? c.op;
  const value =
    c.value === undefined
      ? ''
      : ` ${Array.isArray(c.value) ? c.value.join(', ') : String(c.value)}`;
  return `person property ${c.property} ${op}${value}`;
}

/** The Insights link that counts the cohort's unique users over the last 30 days. */
export function insightsForCohort(projectId: string, cohortId: string): string {
  const q = {
    series: [{ event: '', math: 'unique_users', property: '' }],
    filters: { match: 'all', items: [{ property: 'cohort', op: 'in', value: cohortId }] },
  };
  return hrefOf(projectId, 'insights', new URLSearchParams({ q: JSON.stringify(q) }));
}

/** A condition as sent: person-property values typed for their operator. */
export function conditionBody(c: CohortCondition): CohortCondition {
  if (c.kind === 'did_event') return c;
  const { kind, property, op } = c;
  if (op === 'is_set' || op === 'is_not_set') return { kind, property, op };
  const text = filterValueText({ property, op, value: c.value });
  if (op === 'in') {
    const list = text
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean);
    return { kind, property, op, value: list };
  }
  if (op === 'gt' || op === 'lt') return { kind, property, op, value: Number(text) };
  return { kind, property, op, value: text };
}

function Builder(props: {
  ctx: ProjectContext;
  events: string[];
  editing: Cohort | null;
  onSaved: (c: Cohort) => void;
  onCancel: () => void;
}) {
  const id = useId();
  const { events } = props;
  const [name, setName] = useState(props.editing?.name ?? '');
  const [match, setMatch] = useState<'all' | 'any'>(props.editing?.match ?? 'all');
  const [conditions, setConditions] = useState<CohortCondition[]>(
    props.editing?.conditions.map(editable) ?? [
      { kind: 'did_event', event: events[0] ?? '', count_op: 'gte', count: 1, within_days: 30 },
    ],
  );
  const [error, setError] = useState<ApiError | null>(null);
  const set = (i: number, c: CohortCondition): void =>
    setConditions(conditions.map((x, j) => (j === i ? c : x)));
  const save = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    const body = { name, match, conditions: conditions.map(conditionBody) };
    try {
      const saved = props.editing
        ? await call('cohorts.update', {
            params: { projectId: props.ctx.project.id, cohortId: props.editing.id },
            body,
          })
        : await call('cohorts.create', {
            params: { projectId: props.ctx.project.id },
            body,
          });
      props.onSaved(saved);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'CLIENT', String(err)));
    }
  };
  return (
    <form class="builder card" onSubmit={(e) => void save(e)} aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{props.editing ? `Edit “${props.editing.name}”` : 'New cohort'}</h2>
      <span class="field">
        <label for={`${id}-name`}>Cohort name</label>
        <input
          id={`${id}-name`}
          value={name}
          required
          maxLength={200}
          onInput={(e) => setName(e.currentTarget.value)}
        />
      </span>
      <fieldset>
        <legend>Users who match</legend>
        <span class="field">
          <label for={`${id}-match`}>Conditions to meet</label>
          <select
            id={`${id}-match`}
            value={match}
            onChange={(e) => setMatch(e.currentTarget.value as 'all' | 'any')}
          >
            <option value="all">all of them</option>
            <option value="any">any of them</option>
          </select>
        </span>
        {conditions.map((c, i) => (
          <div class="row" role="group" aria-label={`condition ${i + 1}`} key={i}>
            <span class="field">
              <label for={`${id}-kind-${i}`}>Condition {i + 1}</label>
              <select
                id={`${id}-kind-${i}`}
                value={c.kind}
                onChange={(e) =>
                  set(
                    i,
                    e.currentTarget.value === 'did_event'
                      ? {
                          kind: 'did_event',
                          event: events[0] ?? '',
                          count_op: 'gte',
                          count: 1,
                          within_days: 30,
                        }
                      : { kind: 'person_property', property: '', op: 'eq', value: '' },
                  )
                }
              >
                <option value="did_event">Did an event</option>
                <option value="person_property">Has a person property</option>
              </select>
            </span>
            {c.kind === 'did_event' ? (
              <>
                <NamePicker
                  id={`${id}-event-${i}`}
                  label="Event"
                  names={events}
                  value={c.event}
                  onChange={(event) => set(i, { ...c, event })}
                />
                <span class="field">
                  <label for={`${id}-op-${i}`}>How often</label>
                  <select
                    id={`${id}-op-${i}`}
                    value={c.count_op}
                    onChange={(e) =>
                      set(i, { ...c, count_op: e.currentTarget.value as typeof c.count_op })
                    }
                  >
                    {COUNT_OPS.map((o) => (
                      <option key={o.op} value={o.op}>
                        {o.label}
                      </option>
                    ))}
                  </select>
                </span>
                <span class="field">
                  <label for={`${id}-count-${i}`}>Times</label>
                  <input
                    id={`${id}-count-${i}`}
                    type="number"
                    min={0}
                    max={1_000_000}
                    value={c.count}
                    onInput={(e) => set(i, { ...c, count: Number(e.currentTarget.value) })}
                  />
                </span>
                <span class="field">
                  <label for={`${id}-days-${i}`}>In the last (days)</label>
                  <input
                    id={`${id}-days-${i}`}
                    type="number"
                    min={1}
                    value={c.within_days}
                    onInput={(e) => set(i, { ...c, within_days: Number(e.currentTarget.value) })}
                  />
                </span>
              </>
            ) : (
              <>
                <span class="field">
                  <label for={`${id}-prop-${i}`}>Person property</label>
                  <input
                    id={`${id}-prop-${i}`}
                    value={c.property}
                    placeholder="e.g. plan"
                    required
                    onInput={(e) => set(i, { ...c, property: e.currentTarget.value.trim() })}
                  />
                </span>
                <span class="field">
                  <label for={`${id}-pop-${i}`}>Operator</label>
                  <select
                    id={`${id}-pop-${i}`}
                    value={c.op}
                    onChange={(e) => set(i, { ...c, op: e.currentTarget.value as FilterOp })}
                  >
                    {PERSON_OPS.map((o) => (
                      <option key={o.op} value={o.op}>
                        {o.label}
                      </option>
                    ))}
                  </select>
                </span>
                {c.op !== 'is_set' && c.op !== 'is_not_set' && (
                  <span class="field">
                    <label for={`${id}-val-${i}`}>Value</label>
                    <input
                      id={`${id}-val-${i}`}
                      value={filterValueText({ property: c.property, op: c.op, value: c.value })}
                      onInput={(e) => set(i, { ...c, value: e.currentTarget.value })}
                    />
                  </span>
                )}
              </>
            )}
            {conditions.length > 1 && (
              <button
                type="button"
                class="link"
                aria-label={`Remove condition ${i + 1}`}
                onClick={() => setConditions(conditions.filter((_, j) => j !== i))}
              >
                Remove
              </button>
            )}
          </div>
        ))}
        <button
          type="button"
          onClick={() =>
            setConditions([
              ...conditions,
              {
                kind: 'did_event',
                event: events[0] ?? '',
                count_op: 'gte',
                count: 1,
                within_days: 30,
              },
            ])
          }
        >
          Add condition
        </button>
      </fieldset>
      <p class="hint">
        “In the last D days” is counted back from the moment a report runs, so a cohort stays
        current. “At most 0 times” means users who did not do it.
      </p>
      <div class="row">
        <button type="submit">{props.editing ? 'Save changes' : 'Save cohort'}</button>
        <button type="button" class="link" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
      {error && <ErrorBox error={error} />}
    </form>
  );
}

function CohortCard(props: {
  ctx: ProjectContext;
  cohort: Cohort;
  onEdit: () => void;
  onDeleted: () => void;
}) {
  const { ctx, cohort } = props;
  const [size, recount] = useLoad(
    () =>
      call('cohorts.size', {
        params: { projectId: ctx.project.id, cohortId: cohort.id },
      }),
    [cohort.id, cohort.updated_at],
  );
  const [error, setError] = useState<ApiError | null>(null);
  const remove = async (): Promise<void> => {
    if (!confirm(`Delete the cohort “${cohort.name}”? Reports filtered by it will stop working.`))
      return;
    try {
      await call('cohorts.delete', { params: { projectId: ctx.project.id, cohortId: cohort.id } });
      props.onDeleted();
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, 'CLIENT', String(e)));
    }
  };
  return (
    <article class="card cohort" aria-labelledby={`cohort-${cohort.id}`}>
      <header class="card-head">
        <h2 id={`cohort-${cohort.id}`}>{cohort.name}</h2>
        <span class="size" aria-live="polite">
          <Show value={size} what="its size" onRetry={recount}>
            {(s) => (
              <>
                <strong data-value={String(s.size)}>{formatNumber(s.size)}</strong> users now
              </>
            )}
          </Show>
        </span>
      </header>
      <p>Users who match {cohort.match === 'all' ? 'all' : 'any'} of:</p>
      <ul>
        {cohort.conditions.map((c, i) => (
          <li key={i}>{describeCondition(editable(c))}</li>
        ))}
      </ul>
      <div class="row">
        <a href={insightsForCohort(ctx.project.id, cohort.id)}>
          Use as a filter in Insights<span class="sr-only"> ({cohort.name})</span>
        </a>
        {canQuery(ctx) && (
          <>
            <button type="button" class="link" onClick={props.onEdit}>
              Edit<span class="sr-only"> {cohort.name}</span>
            </button>
            <button type="button" class="link" onClick={() => void remove()}>
              Delete<span class="sr-only"> {cohort.name}</span>
            </button>
          </>
        )}
      </div>
      {error && <ErrorBox error={error} />}
    </article>
  );
}

export function Cohorts(props: { ctx: ProjectContext }) {
  const { ctx } = props;
  const id = useId();
  const [events] = useEventNames(ctx);
  const [cohorts, reload] = useLoad(
    () => call('cohorts.list', { params: { projectId: ctx.project.id } }).then((r) => r.cohorts),
    [ctx.project.id],
  );
  const [editing, setEditing] = useState<Cohort | 'new' | null>(null);
  const names = events.state === 'ok' ? events.value : [];
  return (
    <section aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`}>Cohorts</h1>
      {canQuery(ctx) && editing === null && (
        <button type="button" onClick={() => setEditing('new')}>
          New cohort
        </button>
      )}
      {editing !== null && (
        <Builder
          key={editing === 'new' ? 'new' : editing.id}
          ctx={ctx}
          events={names}
          editing={editing === 'new' ? null : editing}
          onSaved={() => {
            setEditing(null);
            reload();
          }}
          onCancel={() => setEditing(null)}
        />
      )}
      <Show value={cohorts} what="cohorts" onRetry={reload}>
        {(list) =>
          list.length === 0 ? (
            <Empty title="No cohort yet">
              <p>
                A cohort is a group of users you can filter any report by: for example “bought at
                least twice in the last 30 days” or “on the paid plan”. Press “New cohort” to build
                one; its size shows here.
              </p>
            </Empty>
          ) : (
            <div class="cards">
              {list.map((c) => (
                <CohortCard
                  key={c.id}
                  ctx={ctx}
                  cohort={c}
                  onEdit={() => setEditing(c)}
                  onDeleted={reload}
                />
              ))}
            </div>
          )
        }
      </Show>
    </section>
  );
}
