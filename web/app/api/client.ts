// A thin typed client over fetch: same-origin cookies, the session's CSRF token on every change,
// the API's error envelope turned into ApiError, and two hooks the app shell fills in — what to
// do when the session has ended, and how to run a step-up when the API asks for one (the call is
// then retried once).
import { OPERATIONS, type OperationId } from './operations';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: { path: string; message: string }[] = [],
  ) {
    super(message);
  }
}

interface Hooks {
  /** Runs a step-up; resolves true when the person confirmed, false when they cancelled. */
  stepUp: ((reason: string) => Promise<boolean>) | null;
  /** The session ended (expired, revoked, locked down): go back to sign-in. */
  signedOut: (() => void) | null;
}

const hooks: Hooks = { stepUp: null, signedOut: null };
let csrfToken: string | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function setClientHooks(next: Partial<Hooks>): void {
  Object.assign(hooks, next);
}

export interface CallOptions {
  params?: Record<string, string>;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Accept header (e.g. text/csv); the answer is then returned as text. */
  accept?: string;
  /** Don't run the step-up prompt (for the step-up calls themselves). */
  noStepUp?: boolean;
}

/** Fills `{name}` from params (URI-encoded) and appends the query string. */
export function urlOf(id: OperationId, options: CallOptions = {}): string {
  const [, template] = OPERATIONS[id];
  const path = template.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const value = options.params?.[name];
    if (value === undefined) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(value);
  });
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(options.query ?? {}))
    if (v !== undefined) q.set(k, String(v));
  const qs = q.toString();
  return qs ? `${path}?${qs}` : path;
}

async function send(id: OperationId, options: CallOptions): Promise<Response> {
  const [method] = OPERATIONS[id];
  const headers: Record<string, string> = { accept: options.accept ?? 'application/json' };
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    if (csrfToken) headers['x-csrf-token'] = csrfToken;
  }
  return fetch(urlOf(id, options), {
    method,
    headers,
    credentials: 'same-origin',
    body: method === 'GET' || options.body === undefined ? undefined : JSON.stringify(options.body),
  });
}

async function errorOf(res: Response): Promise<ApiError> {
  let payload: { error?: { code?: string; message?: string; details?: [] } } = {};
  try {
    payload = (await res.json()) as typeof payload;
  } catch {
    // Not JSON (a proxy's error page): the status says enough.
  }
  const e = payload.error ?? {};
  return new ApiError(
    res.status,
    e.code ?? `HTTP_${res.status}`,
    e.message ??
      `The server answered ${res.status}. Try again; if it persists, check the server log.`,
    e.details ?? [],
  );
}

/** Calls an operation; resolves to the parsed JSON (or text with `accept`), or throws ApiError. */
export async function call<T>(id: OperationId, options: CallOptions = {}): Promise<T> {
  let res: Response;
  try {
    res = await send(id, options);
  } catch {
    throw new ApiError(0, 'NETWORK', 'Sillage cannot be reached. Check your connection and retry.');
  }
  if (!res.ok) {
    const error = await errorOf(res);
    if (error.code === 'AUTH_STEP_UP_REQUIRED' && !options.noStepUp && hooks.stepUp) {
      if (await hooks.stepUp(error.message)) return call<T>(id, { ...options, noStepUp: true });
    }
    if (
      (error.code === 'AUTH_REQUIRED' || error.code === 'AUTH_SESSION_EXPIRED') &&
      id !== 'auth.session'
    ) {
      hooks.signedOut?.();
    }
    throw error;
  }
  if (res.status === 204) return undefined as T;
  if (options.accept && options.accept !== 'application/json') return (await res.text()) as T;
  return (await res.json()) as T;
}
