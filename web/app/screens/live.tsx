// Live events: the newest events of the project exactly as Sillage stored them (already scrubbed
// and pseudonymised), for checking an integration. While following, it asks only for what arrived
// since the last answer, every few seconds, and stops on its own after a while (each read is on
// the audit record, so an open tab does not read forever).
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { ApiError, call } from '../api/client';
import type { LiveEvent } from '../api/types';
import { canQuery, type ProjectContext } from '../context';
import { hrefOf, userHref } from '../router';
import { Empty, ErrorBox, Loading } from '../ui/async';

/** How often a following view asks, and for how long it follows before pausing. */
export const POLL_MS = 3000;
export const FOLLOW_MS = 10 * 60_000;
/** Events kept on screen. */
export const KEEP = 200;

/** Merges a newer page (newest first) on top of what is shown, without duplicates. */
export function mergeLive(shown: LiveEvent[], newer: LiveEvent[], keep = KEEP): LiveEvent[] {
  const key = (e: LiveEvent): string => `${e.received_at}|${String(e.properties.$insert_id)}`;
  const seen = new Set(shown.map(key));
  return [...newer.filter((e) => !seen.has(key(e))), ...shown].slice(0, keep);
}

const timeOf = (iso: string): string =>
  new Date(iso).toLocaleTimeString('en-GB', { hour12: false });

/** A property value as text (objects as JSON). */
function text(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** Browser · OS · place, as stored (already parsed and coarsened). */
function context(e: LiveEvent): string {
  const p = e.properties;
  const place = [p.mp_country_code, p.$region, p.$city].map(text).filter(Boolean).join(' / ');
  return [text(p.$browser), text(p.$os), place].filter(Boolean).join(' · ') || '–';
}

export function Live(props: { ctx: ProjectContext }) {
  const { ctx } = props;
  const id = useId();
  const projectId = ctx.project.id;
  const [events, setEvents] = useState<LiveEvent[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [following, setFollowing] = useState(true);
  const [filter, setFilter] = useState('');
  const cursor = useRef<string | null>(null);
  const followedSince = useRef(Date.now());

  const fetchNewer = async (): Promise<void> => {
    try {
      const page = await call('events.latest', {
        params: { projectId },
        query: { limit: 50, after: cursor.current ?? undefined },
      });
      cursor.current = page.cursor;
      setEvents((shown) => mergeLive(shown ?? [], page.events));
      setError(null);
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, 'CLIENT', String(e)));
      setFollowing(false);
    }
  };

  // First page, then (while following) only what arrives; paused when the tab is hidden.
  useEffect(() => {
    if (!canQuery(ctx)) return;
    void fetchNewer();
  }, [projectId]);
  useEffect(() => {
    if (!following) return;
    followedSince.current = Date.now();
    const timer = setInterval(() => {
      if (Date.now() - followedSince.current > FOLLOW_MS) {
        setFollowing(false);
        return;
      }
      if (document.visibilityState === 'visible') void fetchNewer();
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [following, projectId]);

  if (!canQuery(ctx)) {
    return (
      <Empty title="Live events are for analysts">
        <p>Ask an owner or admin of {ctx.org.name} for the analyst role.</p>
      </Empty>
    );
  }

  const names = [...new Set((events ?? []).map((e) => e.event))].sort();
  const shown = (events ?? []).filter((e) => filter === '' || e.event === filter);

  return (
    <section aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`}>Live events</h1>
      <p class="hint">
        The newest events exactly as Sillage stored them: identifiers are already pseudonyms (
        <code>u_…</code>) and personal data already redacted. Use it to check an integration. Each
        look is recorded in the audit log.
      </p>
      <div class="row live-tools">
        <button
          type="button"
          aria-pressed={following}
          onClick={() => {
            if (!following) void fetchNewer();
            setFollowing(!following);
          }}
        >
          {following ? 'Pause' : 'Follow new events'}
        </button>
        <span class="field">
          <label for={`${id}-event`}>Show event</label>
          <select
            id={`${id}-event`}
            value={filter}
            onChange={(e) => setFilter(e.currentTarget.value)}
          >
            <option value="">All events</option>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </span>
        <span role="status" aria-live="polite" class="hint" id="live-status">
          {following
            ? `Following: new events appear every ${POLL_MS / 1000} s.`
            : 'Paused. Follow to see new events.'}
        </span>
      </div>
      {error && <ErrorBox error={error} onRetry={() => setFollowing(true)} />}
      {events === null ? (
        !error && <Loading what="the newest events" />
      ) : events.length === 0 ? (
        <Empty title="No event stored yet">
          <p>
            Send one with an SDK (see <a href={hrefOf(projectId, 'setup')}>Setup</a> for snippets
            with this project's token, or send a test event there): it shows up here within seconds.
          </p>
        </Empty>
      ) : (
        <div class="scroll" tabIndex={0} role="region" aria-label="Live events">
          <table class="text live" id="live-table">
            <caption class="sr-only">The newest events, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Received</th>
                <th scope="col">Event</th>
                <th scope="col">Distinct id</th>
                <th scope="col">Browser · OS · place</th>
                <th scope="col">Properties</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e) => (
                <tr key={`${e.received_at}|${text(e.properties.$insert_id)}`}>
                  <td>
                    <time dateTime={e.received_at} title={`happened ${e.time}`}>
                      {timeOf(e.received_at)}
                    </time>
                  </td>
                  <th scope="row" class="event-name">
                    {e.event}
                  </th>
                  <td>
                    {text(e.properties.distinct_id) ? (
                      <a
                        href={userHref(projectId, text(e.properties.distinct_id))}
                        title="Open this user's profile and events"
                      >
                        <code>{text(e.properties.distinct_id)}</code>
                      </a>
                    ) : (
                      <code />
                    )}
                  </td>
                  <td>{context(e)}</td>
                  <td>
                    <details>
                      <summary>
                        {Object.keys(e.properties).length} properties
                        <span class="sr-only"> of {e.event}</span>
                      </summary>
                      <pre>{JSON.stringify(e.properties, null, 2)}</pre>
                    </details>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
