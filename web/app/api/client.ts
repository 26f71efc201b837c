// The typed API client: openapi-fetch over the types generated from the server's OpenAPI document
// (schema.d.ts, `npm run generate:api`), called by operation id, so that path parameters, query,
// body and answer of every call are checked against the document at compile time. Same-origin
// cookies, the session's CSRF token on every change, the API's error envelope turned into
// ApiError, and two hooks the app shell fills in — what to do when the session has ended, and how
// to run a step-up when the API asks for one, or when an organisation requiring passkeys refuses
// a session that signed in with a code (the call is then retried once).
import createClient from 'openapi-fetch';
import { OPERATIONS, type OperationId } from './operations';
import type { components, operations, paths } from './schema';

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

/** Why a step-up is asked for: a sensitive action, or an organisation that requires a passkey. */
export type StepUpCode = 'AUTH_STEP_UP_REQUIRED' | 'AUTH_PASSKEY_REQUIRED';

interface Hooks {
  /** Runs a step-up; resolves true when the person confirmed, false when they cancelled. */
  stepUp: ((code: StepUpCode, reason: string) => Promise<boolean>) | null;
  /** The session ended (expired, revoked, locked down): go back to sign-in. */
  signedOut: (() => void) | null;
}

const hooks: Hooks = { stepUp: null, signedOut: null };
let csrfToken: string | null = null;
/** The step-up prompt showing now: calls refused meanwhile wait for its answer (one prompt). */
let stepUpShown: Promise<boolean> | null = null;

function stepUp(code: StepUpCode, reason: string): Promise<boolean> {
  if (!hooks.stepUp) return Promise.resolve(false);
  stepUpShown ??= hooks.stepUp(code, reason).finally(() => (stepUpShown = null));
  return stepUpShown;
}

/** Back to the sign-in screen (after signing out, or when the session has ended). */
export function showSignIn(): void {
  hooks.signedOut?.();
}

/**
 * Whether a passkey step-up can lift this refusal: an organisation that requires passkeys refuses
 * its routes to a session that proved none (signed in with a code) until it proves one. The
 * account's own routes (adding an authenticator app) and the sign-in steps are refused for good.
 */
const passkeyStepUpLifts = (id: OperationId): boolean =>
  !id.startsWith('auth.') && !id.startsWith('me.');

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function setClientHooks(next: Partial<Hooks>): void {
  Object.assign(hooks, next);
}

const api = createClient<paths>({ credentials: 'same-origin' });
api.use({
  onRequest({ request }) {
    if (request.method !== 'GET' && csrfToken) request.headers.set('x-csrf-token', csrfToken);
    return request;
  },
});

// What each operation takes and answers, read from the generated document.
type Operation<Id extends OperationId> = operations[Id];
type PathOf<Id extends OperationId> = Operation<Id>['parameters'] extends { path: infer P }
  ? P
  : never;
type QueryOf<Id extends OperationId> = Operation<Id>['parameters'] extends { query?: infer Q }
  ? Q
  : never;
type BodyOf<Id extends OperationId> =
  Operation<Id> extends {
    requestBody: { content: { 'application/json': infer B } };
  }
    ? B
    : never;
type SuccessOf<Id extends OperationId> =
  Operation<Id>['responses'][keyof Operation<Id>['responses'] & (200 | 201 | 204)];
type ContentOf<Id extends OperationId> =
  SuccessOf<Id> extends { content: infer C } ? C : Record<never, never>;

/** The JSON body an operation takes. */
export type RequestBody<Id extends OperationId> = BodyOf<Id>;

/** The JSON a successful call answers (undefined for 204). */
export type Answer<Id extends OperationId> =
  ContentOf<Id> extends { 'application/json': infer J } ? J : undefined;

/** Operations that can also answer as text (CSV, NDJSON, Markdown), and those media types. */
export type TextMediaOf<Id extends OperationId> = Exclude<keyof ContentOf<Id>, 'application/json'> &
  string;
export type TextOperationId = {
  [Id in OperationId]: TextMediaOf<Id> extends never ? never : Id;
}[OperationId];

/** Path parameters, query and body of a call, each where the operation has them. */
export type CallOptions<Id extends OperationId> = ([PathOf<Id>] extends [never]
  ? { params?: undefined }
  : { params: PathOf<Id> }) &
  ([QueryOf<Id>] extends [never] ? { query?: undefined } : { query?: QueryOf<Id> }) &
  ([BodyOf<Id>] extends [never] ? { body?: undefined } : { body: BodyOf<Id> }) & {
    /** Don't run the step-up prompt (for the step-up calls themselves). */
    noStepUp?: boolean;
  };

/** The options argument: optional when nothing in it is required. */
type OptionsArg<Id extends OperationId> =
  Record<never, never> extends CallOptions<Id>
    ? [options?: CallOptions<Id>]
    : [options: CallOptions<Id>];

/** OPERATIONS names, for each id, the method and path that lead to that operation. */
type Mismatched = {
  [Id in OperationId]: paths[(typeof OPERATIONS)[Id][1]][Lowercase<
    (typeof OPERATIONS)[Id][0]
  >] extends Operation<Id>
    ? never
    : Id;
}[OperationId];
const operationsMatch: [Mismatched] extends [never] ? true : Mismatched = true;
void operationsMatch;

type ErrorBody = components['schemas']['Error'];

function errorOf(status: number, body: unknown): ApiError {
  const e: Partial<ErrorBody['error']> =
    body !== null && typeof body === 'object' && 'error' in body
      ? ((body as ErrorBody).error ?? {})
      : {};
  return new ApiError(
    status,
    e.code ?? `HTTP_${status}`,
    e.message ?? `The server answered ${status}. Try again; if it persists, check the server log.`,
    e.details ?? [],
  );
}

interface RawOptions {
  params?: Record<string, string> | undefined;
  query?: Record<string, unknown> | undefined;
  body?: unknown;
  noStepUp?: boolean;
}

async function send(id: OperationId, options: RawOptions, accept: string | null): Promise<unknown> {
  const [method, path] = OPERATIONS[id];
  const init = {
    params: { path: options.params ?? {}, query: options.query ?? {} },
    body: options.body,
    headers: { accept: accept ?? 'application/json' },
    parseAs: accept === null ? 'json' : 'text',
  };
  let result: { data?: unknown; error?: unknown; response: Response };
  try {
    // The id fixes method, path and options (checked by call's signature); openapi-fetch's own
    // types want them as literals.
    result = await api.request(method as never, path as never, init as never);
  } catch {
    throw new ApiError(0, 'NETWORK', 'Sillage cannot be reached. Check your connection and retry.');
  }
  if (result.response.ok) return result.data;
  const error = errorOf(result.response.status, result.error);
  if (
    !options.noStepUp &&
    (error.code === 'AUTH_STEP_UP_REQUIRED' ||
      (error.code === 'AUTH_PASSKEY_REQUIRED' && passkeyStepUpLifts(id)))
  ) {
    if (await stepUp(error.code, error.message)) {
      return send(id, { ...options, noStepUp: true }, accept);
    }
  }
  if (
    (error.code === 'AUTH_REQUIRED' || error.code === 'AUTH_SESSION_EXPIRED') &&
    id !== 'auth.session'
  ) {
    hooks.signedOut?.();
  }
  throw error;
}

/** Calls an operation; resolves to its answer, or throws ApiError. */
export async function call<Id extends OperationId>(
  id: Id,
  ...[options]: OptionsArg<Id>
): Promise<Answer<Id>> {
  return (await send(id, (options ?? {}) as RawOptions, null)) as Answer<Id>;
}

/** Calls an operation for one of its text answers (`Accept: text/csv`, …); resolves to the text. */
export async function callText<Id extends TextOperationId>(
  id: Id,
  accept: TextMediaOf<Id>,
  options: CallOptions<Id>,
): Promise<string> {
  return (await send(id, options as RawOptions, accept)) as string;
}

/** What each kind of report query answers (src/query/format.ts). */
interface QueryAnswers {
  trends: components['schemas']['TrendsResult'];
  funnel: components['schemas']['FunnelResult'];
  retention: components['schemas']['RetentionResult'];
  flows: components['schemas']['FlowsResult'];
  lifecycle: components['schemas']['LifecycleResult'];
  frequency: components['schemas']['FrequencyResult'];
}

/** Runs a report query; the answer is the one of the query's kind. */
export async function runQuery<Q extends BodyOf<'query.run'> & { kind: keyof QueryAnswers }>(
  projectId: string,
  query: Q,
): Promise<QueryAnswers[Q['kind']]> {
  // The API answers a query with the result of its kind (QueryResult is the union of them all).
  return (await call('query.run', {
    params: { projectId },
    body: query,
  })) as QueryAnswers[Q['kind']];
}
