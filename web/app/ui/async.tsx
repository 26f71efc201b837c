// Loading, error and empty states, and a hook that runs an API call and tracks its state. Every
// error says what to do next; empty states teach what would fill them.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { signOut } from '../api/auth';
import { ApiError, showSignIn } from '../api/client';

export type Loadable<T> =
  | { state: 'idle' }
  | { state: 'loading' }
  | { state: 'ok'; value: T }
  | { state: 'error'; error: ApiError };

const asApiError = (e: unknown): ApiError =>
  e instanceof ApiError ? e : new ApiError(0, 'CLIENT', e instanceof Error ? e.message : String(e));

/** Runs `load` when `deps` change (or on `reload()`); stale answers are ignored. */
export function useLoad<T>(
  load: (() => Promise<T>) | null,
  deps: unknown[],
): [Loadable<T>, () => void] {
  const [state, setState] = useState<Loadable<T>>({ state: load ? 'loading' : 'idle' });
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  useEffect(() => {
    if (!load) {
      setState({ state: 'idle' });
      return;
    }
    const mine = ++seq.current;
    setState({ state: 'loading' });
    load().then(
      (value) => mine === seq.current && setState({ state: 'ok', value }),
      (error: unknown) =>
        mine === seq.current && setState({ state: 'error', error: asApiError(error) }),
    );
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return [state, reload];
}

/** `value`, once it has stopped changing for `ms` (so that typing does not run a query per key). */
export function useDebounced<T>(value: T, ms = 300): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/** What to do about an error, by its code. */
export function adviceFor(error: ApiError): string {
  switch (error.code) {
    case 'NETWORK':
      return 'Check that the Sillage server is running and reachable, then retry.';
    case 'AUTH_REQUIRED':
    case 'AUTH_SESSION_EXPIRED':
      return 'Your session has ended. Sign in again.';
    case 'AUTH_FORBIDDEN':
      return 'Your role does not allow this. Ask an owner or admin of the organisation.';
    case 'AUTH_STEP_UP_REQUIRED':
      return 'This action needs a fresh passkey check. Retry and confirm when asked; if you have no passkey (an authenticator-app code is not enough here), add one under Security, Your account.';
    case 'AUTH_PASSKEY_REQUIRED':
      return 'Your organisation requires a passkey, and this session signed in with a code. Retry and confirm with your passkey when asked (or sign in again with it); if you have none, ask an owner or admin to reset your sign-in so that you can create one.';
    case 'AUTH_ORG_ACCESS_ENDED':
      return 'The organisation ended the sessions opened before a change (an owner or admin ended your sessions, changed your role or locked it down). Sign in again to go on.';
    case 'QUERY_INVALID':
      return 'Adjust the report settings highlighted in the message, then run it again.';
    case 'QUERY_UNSUPPORTED':
      return 'This server stores events where this kind of report cannot be computed yet. Use another report, or ask the operator.';
    case 'QUERY_TIMEOUT':
    case 'QUERY_OVERLOADED':
      return 'The server is busy. Narrow the date range or retry in a moment.';
    case 'QUERY_BUSY':
    case 'STORE_BUSY':
      // Refused memory while other reports held it: this one may well fit in a moment.
      return 'The server is busy with other reports right now. Try again in a few seconds; there is no need to change this report.';
    default:
      return error.status >= 500 ? 'Retry in a moment; if it persists, check the server log.' : '';
  }
}

export function ErrorBox(props: { error: ApiError; onRetry?: () => void }) {
  const advice = adviceFor(props.error);
  return (
    <div class="notice error" role="alert">
      <p>
        <strong>{props.error.message}</strong>
      </p>
      {props.error.details.length > 1 && (
        <ul>
          {props.error.details.map((d) => (
            <li key={d.path}>
              {d.path}: {d.message}
            </li>
          ))}
        </ul>
      )}
      {advice && <p>{advice}</p>}
      {props.error.code === 'AUTH_ORG_ACCESS_ENDED' && (
        <button
          type="button"
          class="primary"
          onClick={() => void signOut().then(showSignIn, showSignIn)}
        >
          Sign in again
        </button>
      )}
      {props.onRetry && props.error.code !== 'AUTH_ORG_ACCESS_ENDED' && (
        <button type="button" onClick={props.onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

export function Loading(props: { what: string }) {
  return (
    <p class="loading" role="status" aria-live="polite">
      Loading {props.what}…
    </p>
  );
}

export function Empty(props: { title: string; children: ComponentChildren }) {
  return (
    <div class="notice empty">
      <h3>{props.title}</h3>
      {props.children}
    </div>
  );
}

/** Renders a Loadable: loading, error (with retry), or the value. */
export function Show<T>(props: {
  value: Loadable<T>;
  what: string;
  onRetry?: () => void;
  children: (value: T) => ComponentChildren;
}) {
  const v = props.value;
  if (v.state === 'idle') return null;
  if (v.state === 'loading') return <Loading what={props.what} />;
  if (v.state === 'error') return <ErrorBox error={v.error} onRetry={props.onRetry} />;
  return <>{props.children(v.value)}</>;
}
