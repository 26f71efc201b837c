// The one registry of error codes, each with its HTTP status, and the AppError that carries them.

/** Every error Sillage reports on purpose. Messages never contain values, tokens, IPs or PII. */
export const ERROR_CODES = {
  INGEST_BODY_EMPTY: 400,
  INGEST_BODY_TOO_LARGE: 413,
  INGEST_DECOMPRESSED_TOO_LARGE: 413,
  INGEST_GZIP_INVALID: 400,
  INGEST_BASE64_INVALID: 400,
  INGEST_LZ64_INVALID: 400,
  INGEST_JSON_INVALID: 400,
  INGEST_UTF8_INVALID: 400,
  INGEST_NESTING_TOO_DEEP: 400,
  INGEST_FORBIDDEN_KEY: 400,
  INGEST_TOO_MANY_RECORDS: 413,
  /** A record holds a string longer, or more properties, than the per-record bounds allow. */
  INGEST_RECORD_TOO_LARGE: 413,
  INGEST_PAYLOAD_SHAPE: 400,
  INGEST_TOKEN_MISSING: 401,
  INGEST_TOKEN_UNKNOWN: 401,
  INGEST_CREDENTIALS_INVALID: 401,
  INGEST_ALL_RECORDS_INVALID: 400,
  INGEST_OVERLOADED: 503,
  INGEST_UNSUPPORTED_MEDIA: 415,
  QUERY_INVALID: 400,
  /** The query would return more than the result-size or breakdown limits allow. */
  QUERY_TOO_LARGE: 422,
  /** A query kind the configured event store cannot answer yet (ClickHouse: funnels, retention). */
  QUERY_UNSUPPORTED: 501,
  /** The query ran past its time limit and was cancelled. */
  QUERY_TIMEOUT: 504,
  /** Too many queries waiting: retry later. */
  QUERY_OVERLOADED: 503,
  /**
   * The query was refused memory while other work held most of it (DuckDB's memory limit is shared
   * by the whole store): it may well fit alone; retry after Retry-After seconds.
   */
  QUERY_BUSY: 503,
  AUTH_REQUIRED: 401,
  AUTH_FORBIDDEN: 403,
  /** Sign-in failed: one generic answer whatever was wrong (no account enumeration). */
  AUTH_LOGIN_FAILED: 401,
  /** Too many failed attempts from this account or source: wait Retry-After seconds. */
  AUTH_THROTTLED: 429,
  /** The password breaks the policy (length, common or breached, too guessable). */
  AUTH_PASSWORD_REJECTED: 400,
  /** A one-time code was wrong, expired or already used. */
  AUTH_TOTP_INVALID: 401,
  /** A WebAuthn registration or assertion did not verify (origin, challenge, signature, UV). */
  AUTH_WEBAUTHN_INVALID: 401,
  /** The organisation requires a passkey and this sign-in or step-up used another factor. */
  AUTH_PASSKEY_REQUIRED: 403,
  /** The action needs a fresh second-factor check (step-up) within the last 5 minutes. */
  AUTH_STEP_UP_REQUIRED: 403,
  /** A cookie-authenticated change came without a valid CSRF token or from another origin. */
  AUTH_CSRF_INVALID: 403,
  /** A setup link, invitation or sign-in challenge is unknown, used or expired. */
  AUTH_TOKEN_INVALID: 400,
  /** The session ended (idle or absolute timeout, sign-out, revocation or lock-down). */
  AUTH_SESSION_EXPIRED: 401,
  /**
   * An organisation asked to act on a person's credentials (reset, unlock) while the person also
   * belongs to another organisation: only the instance operator may (`sillage admin reset`).
   */
  MEMBER_ACCOUNT_SHARED: 409,
  /** The organisation ended this session's access to it (member or organisation-wide revocation). */
  AUTH_ORG_ACCESS_ENDED: 401,
  /** The membership is suspended until the instance operator confirms the person (after a reset). */
  AUTH_MEMBERSHIP_SUSPENDED: 403,
  /** The audit log could not record a read or an act: it was refused (fail closed). */
  AUDIT_UNAVAILABLE: 503,
  /** The principal is suspended after unusual access, until an owner lifts the suspension. */
  AUDIT_PRINCIPAL_SUSPENDED: 403,
  /** `sillage audit verify` found the log altered (the message names the first bad entry). */
  AUDIT_TAMPERED: 500,
  /** A file of off-box checkpoint copies named to `audit verify` cannot be read. */
  AUDIT_CHECKPOINTS_UNREADABLE: 400,
  /** The request conflicts with current state (e.g. the last owner or last factor). */
  CONFLICT: 409,
  /** A request body or parameter failed validation (details name the field). */
  REQUEST_INVALID: 400,
  /** An API request body is larger than SILLAGE_MAX_API_BODY_BYTES (ingest routes have their own). */
  REQUEST_TOO_LARGE: 413,
  ORG_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  PROJECT_NOT_FOUND: 404,
  CONFIG_INVALID: 500,
  MASTER_KEY_INVALID: 500,
  MASTER_KEY_MISMATCH: 500,
  MASTER_KEY_MISSING: 500,
  PROJECT_KEY_INVALID: 500,
  VAULT_VALUE_INVALID: 500,
  STORE_UNAVAILABLE: 503,
  STORE_FAILURE: 500,
  /**
   * The store refused memory to this request because other work fills it (DuckDB's memory limit is
   * shared by the whole store): retry after Retry-After seconds.
   */
  STORE_BUSY: 503,
  SHUTTING_DOWN: 503,
  INTERNAL: 500,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error with a registered code. `message` must be safe to show to the caller and to log. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Seconds the caller should wait before retrying (503/429). */
  readonly retryAfterSeconds: number | undefined;
  /** Per-field problems of a rejected request (field path and why; never the value). */
  readonly details: readonly { path: string; message: string }[] | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      cause?: unknown;
      retryAfterSeconds?: number;
      details?: readonly { path: string; message: string }[];
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CODES[code];
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.details = options.details;
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}
