// Users: one pseudonymous user's profile (linked ids, current profile as stored, first and last
// seen) and event stream (newest first, in pages). Every look is a row-level read the API records
// in the audit log. With the vault on, an owner can open the person's sealed profile values by
// typing the id the app sends for them: a passkey check, and on the record.
import { useEffect, useId, useState } from 'preact/hooks';
import { ApiError, call } from '../api/client';
import type { UserEvents, UserProfile } from '../api/types';
import { canAdminister, type ProjectContext } from '../context';
import { replaceParams, useRoute, userHref } from '../router';
import { Empty, ErrorBox, Loading, Show, useLoad } from '../ui/async';
import { formatNumber } from '../ui/table';

const PAGE = 50;

const text = (v: unknown): string =>
  v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);

const when = (iso: string | null): string =>
  iso ? new Date(iso).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : '–';

function EventStream(props: { ctx: ProjectContext; userId: string }) {
  const { ctx, userId } = props;
  const [pages, setPages] = useState<UserEvents[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<ApiError | null>(null);
  const load = async (cursor: string | null): Promise<void> => {
    setLoading(true);
    setError(null);
    try {
      const page = await call('users.events', {
        params: { projectId: ctx.project.id, userId },
        query: { limit: PAGE, cursor: cursor ?? undefined },
      });
      setPages((p) => (cursor === null ? [page] : [...p, page]));
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, 'CLIENT', String(e)));
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    void load(null);
  }, [userId]);
  const events = pages.flatMap((p) => p.events);
  const next = pages[pages.length - 1]?.next_cursor ?? null;
  return (
    <section aria-labelledby="user-events">
      <h2 id="user-events">Events, newest first</h2>
      {events.length === 0 && !loading && !error && (
        <Empty title="No events">
          <p>This user has no stored event (their events may have been erased or expired).</p>
        </Empty>
      )}
      {events.length > 0 && (
        <div class="scroll" tabIndex={0} role="region" aria-label="The user's events">
          <table class="text" id="user-events-table">
            <caption class="sr-only">The user's events, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Event</th>
                <th scope="col">Id on the event</th>
                <th scope="col">Properties</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e, i) => {
                const props = (e.properties ?? {}) as Record<string, unknown>;
                const distinct = text(props.distinct_id);
                return (
                  <tr key={i}>
                    <td>
                      <time dateTime={e.time}>{when(e.time)}</time>
                    </td>
                    <th scope="row" class="event-name">
                      {text(e.event)}
                    </th>
                    <td>
                      {distinct && distinct !== userId ? (
                        <a href={userHref(ctx.project.id, distinct)}>
                          <code>{distinct}</code>
                        </a>
                      ) : (
                        <code>{distinct}</code>
                      )}
                    </td>
                    <td>
                      <details>
                        <summary>
                          {Object.keys(props).length} properties
                          <span class="sr-only"> of {text(e.event)}</span>
                        </summary>
                        <pre>{JSON.stringify(props, null, 2)}</pre>
                      </details>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {loading && <Loading what="events" />}
      {error && <ErrorBox error={error} onRetry={() => void load(next)} />}
      {next && !loading && (
        <button type="button" onClick={() => void load(next)}>
          Load older events
        </button>
      )}
    </section>
  );
}

/** Opens the person's sealed profile values (owners; the API asks for a passkey check). */
function Reveal(props: { ctx: ProjectContext; profile: UserProfile }) {
  const id = useId();
  const { ctx, profile } = props;
  const [raw, setRaw] = useState('');
  const [answer, setAnswer] = useState<{
    pseudonym: string;
    values: Record<string, unknown>;
  } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const known = new Set([profile.id, profile.person, ...profile.aliases]);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    setAnswer(null);
    try {
      setAnswer(
        await call('privacy.reveal', {
          params: { projectId: ctx.project.id },
          body: { user: raw.trim() },
        }),
      );
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'CLIENT', String(err)));
    }
  };
  return (
    <section aria-labelledby={`${id}-title`} class="card">
      <h2 id={`${id}-title`}>Reveal identity</h2>
      <p class="hint">
        This project keeps profile details sealed in the vault. Sillage cannot turn a pseudonym back
        into an id: type the id your app sends for this person (for example their user id) to open
        their sealed values. Needs a passkey check; recorded in the audit log with this person as
        the subject.
      </p>
      <form class="row" onSubmit={(e) => void submit(e)}>
        <span class="field">
          <label for={`${id}-raw`}>Id as your app sends it</label>
          <input
            id={`${id}-raw`}
            value={raw}
            required
            autocomplete="off"
            onInput={(e) => setRaw(e.currentTarget.value)}
          />
        </span>
        <button type="submit">Reveal</button>
      </form>
      {error && <ErrorBox error={error} />}
      {answer &&
        (known.has(answer.pseudonym) ? (
          Object.keys(answer.values).length === 0 ? (
            <p role="status">The vault holds nothing for this person.</p>
          ) : (
            <dl class="facts" role="status">
              {Object.entries(answer.values).map(([k, v]) => (
                <div key={k}>
                  <dt>{k}</dt>
                  <dd>{text(v)}</dd>
                </div>
              ))}
            </dl>
          )
        ) : (
          <p class="notice error" role="alert">
            That id is not this person's (it stands for <code>{answer.pseudonym}</code>). Nothing of
            theirs is shown.
          </p>
        ))}
    </section>
  );
}

function Profile(props: { ctx: ProjectContext; userId: string }) {
  const { ctx, userId } = props;
  const [profile, reload] = useLoad(
    () => call('users.get', { params: { projectId: ctx.project.id, userId } }),
    [userId],
  );
  // The vault switch is in the policy, which owners and admins may read.
  const [policy] = useLoad(
    canAdminister(ctx)
      ? () =>
          call('privacy.policy.get', {
            params: { projectId: ctx.project.id },
          }).then((r) => r.policy)
      : null,
    [ctx.project.id],
  );
  return (
    <Show value={profile} what="the user" onRetry={reload}>
      {(p) => (
        <>
          <dl class="facts" id="user-facts">
            <div>
              <dt>Person</dt>
              <dd>
                <code>{p.person}</code>
              </dd>
            </div>
            <div>
              <dt>Linked ids</dt>
              <dd>
                {p.aliases.length === 0
                  ? 'none'
                  : p.aliases.map((a) => (
                      <a key={a} href={userHref(ctx.project.id, a)}>
                        <code>{a}</code>{' '}
                      </a>
                    ))}
              </dd>
            </div>
            <div>
              <dt>Events</dt>
              <dd data-value={String(p.event_count)}>{formatNumber(p.event_count)}</dd>
            </div>
            <div>
              <dt>First seen</dt>
              <dd>{when(p.first_seen)}</dd>
            </div>
            <div>
              <dt>Last seen</dt>
              <dd>{when(p.last_seen)}</dd>
            </div>
          </dl>
          <h2>Profile</h2>
          {p.properties && Object.keys(p.properties).length > 0 ? (
            <table class="text" id="user-profile">
              <caption class="sr-only">Current profile properties, as stored</caption>
              <tbody>
                {Object.entries(p.properties).map(([k, v]) => (
                  <tr key={k}>
                    <th scope="row">{k}</th>
                    <td>{text(v)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p class="hint">No profile stored (the app never sent profile properties for them).</p>
          )}
          {policy.state === 'ok' && policy.value.vault && ctx.org.role === 'owner' && (
            <Reveal ctx={ctx} profile={p} />
          )}
          <EventStream ctx={ctx} userId={p.person} />
        </>
      )}
    </Show>
  );
}

export function Users(props: { ctx: ProjectContext }) {
  const { ctx } = props;
  const id = useId();
  const route = useRoute();
  const userId = route.params.get('id') ?? '';
  const [typed, setTyped] = useState(userId);
  useEffect(() => setTyped(userId), [userId]);
  const open = (e: Event): void => {
    e.preventDefault();
    const next = typed.trim();
    if (!next) return;
    replaceParams(new URLSearchParams({ id: next }));
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  };
  return (
    <section aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`}>Users</h1>
      <p class="hint">
        One user's profile and events, by pseudonymous id (<code>u_…</code>, as Live events and
        other users' streams show them; click one there to open it here). Each look is recorded in
        the audit log.
      </p>
      <form class="row" onSubmit={open}>
        <span class="field">
          <label for={`${id}-id`}>Pseudonymous id</label>
          <input
            id={`${id}-id`}
            value={typed}
            size={40}
            maxLength={255}
            onInput={(e) => setTyped(e.currentTarget.value)}
          />
        </span>
        <button type="submit">Open</button>
      </form>
      {userId === '' ? (
        <Empty title="No user chosen">
          <p>
            Open <a href={`#/p/${ctx.project.id}/live`}>Live events</a> and click a distinct id, or
            paste a pseudonymous id above.
          </p>
        </Empty>
      ) : (
        <Profile ctx={ctx} userId={userId} key={userId} />
      )}
    </section>
  );
}
