// Boards: the project's saved views, each run through the API (viewers may run them; they see
// aggregated answers only). Relative ranges stay relative ("Last 7 days" always ends today).
// Analysts and up can remove a view.
import { useId } from 'preact/hooks';
import { call } from '../api/client';
import type { AnyQuery, View } from '../api/types';
import { canQuery, type ProjectContext } from '../context';
import { Empty, Show, useLoad } from '../ui/async';
import { downloadCsv } from '../ui/csv';
import { rangeLabel } from '../ui/dates';
import { ResultView } from '../ui/results';

/**
 * Whether a saved query is broken down by cohorts, alone or with properties (its rows are then
 * named from the cohorts).
 */
const byCohort = (view: View): boolean => {
  const b: unknown = view.query.breakdown;
  if (Array.isArray(b)) return b.some((d) => typeof d === 'object' && d !== null);
  return typeof b === 'object' && b !== null;
};

function SavedView(props: {
  ctx: ProjectContext;
  view: View;
  cohorts: { id: string; name: string }[];
  onDeleted: () => void;
}) {
  const { ctx, view } = props;
  const [result, rerun] = useLoad<unknown>(
    () => call('views.run', { params: { projectId: ctx.project.id, viewId: view.id } }),
    [view.id],
  );
  const query = view.query as unknown as AnyQuery;
  const remove = async (): Promise<void> => {
    await call('views.delete', { params: { projectId: ctx.project.id, viewId: view.id } });
    props.onDeleted();
  };
  return (
    <article class="card" aria-labelledby={`view-${view.id}`}>
      <header class="card-head">
        <h2 id={`view-${view.id}`}>{view.name}</h2>
        <span class="hint">
          {query.kind} · {rangeLabel(view.query)}
        </span>
        {canQuery(ctx) && (
          <button type="button" class="link" onClick={() => void remove()}>
            Remove<span class="sr-only"> {view.name}</span>
          </button>
        )}
      </header>
      <Show value={result} what={view.name} onRetry={rerun}>
        {(r) => (
          <ResultView
            query={query}
            result={r}
            title={view.name}
            cohorts={props.cohorts}
            download={() =>
              downloadCsv(
                'views.run',
                { params: { projectId: ctx.project.id, viewId: view.id } },
                `${view.name.replace(/[^\w.-]+/g, '-')}.csv`,
              )
            }
          />
        )}
      </Show>
    </article>
  );
}

export function Boards(props: { ctx: ProjectContext }) {
  const { ctx } = props;
  const id = useId();
  const [views, reload] = useLoad(
    () => call('views.list', { params: { projectId: ctx.project.id } }).then((r) => r.views),
    [ctx.project.id],
  );
  // Cohort names, for the rows of cohort breakdowns (every member may list the cohorts).
  const needCohorts = views.state === 'ok' && views.value.some((v) => byCohort(v));
  const [cohorts] = useLoad(
    needCohorts
      ? () =>
          call('cohorts.list', {
            params: { projectId: ctx.project.id },
          }).then((r) => r.cohorts)
      : null,
    [ctx.project.id, needCohorts],
  );
  return (
    <section aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`}>Board</h1>
      <Show value={views} what="saved reports" onRetry={reload}>
        {(list) =>
          list.length === 0 ? (
            <Empty title="Nothing on the board yet">
              {canQuery(ctx) ? (
                <p>
                  Build a report in <a href={`#/p/${ctx.project.id}/insights`}>Insights</a>,{' '}
                  <a href={`#/p/${ctx.project.id}/funnels`}>Funnels</a> or{' '}
                  <a href={`#/p/${ctx.project.id}/retention`}>Retention</a> and press “Save to
                  board”: it appears here for everyone in the project, viewers included.
                </p>
              ) : (
                <p>
                  An analyst of this project has not saved any report yet. Ask one to save the
                  reports you need.
                </p>
              )}
            </Empty>
          ) : (
            <div class="cards">
              {list.map((v) => (
                <SavedView
                  key={v.id}
                  ctx={ctx}
                  view={v}
                  cohorts={cohorts.state === 'ok' ? cohorts.value : []}
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
