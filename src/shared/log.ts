// Structured logging by allowlist: only fields named here can ever reach a log line.
//
// There is deliberately no way to log an arbitrary object. Request bodies, headers, IPs,
// user agents and identifiers have no field here, so they cannot be logged by accident.

/** The only fields a log line may carry. Values are numbers, booleans or short safe strings. */
export interface LogFields {
  /** Registered error code or event kind. */
  code?: string;
  /** Route pattern (never the raw URL, whose query string may carry data). */
  route?: string;
  method?: string;
  status?: number;
  durationMs?: number;
  projectId?: string;
  events?: number;
  rejected?: number;
  duplicates?: number;
  batches?: number;
  queued?: number;
  port?: number;
  host?: string;
  path?: string;
  version?: string;
  errorName?: string;
  /** Query kind (trends, funnel, …). */
  kind?: string;
  /** Rows a query returned from the store. */
  rows?: number;
  /** Non-secret label of a credential (`secret-key:<short hash>`). */
  actor?: string;
  /** Stack frames only (file:line), never the message of a foreign error. */
  stack?: string;
  /** Opaque account id (`usr_…`), never the e-mail address. */
  userId?: string;
  orgId?: string;
  /** Authentication factor type of an attempt (ASVS 16.3.1): password, passkey, totp, … */
  factor?: string;
  /** Outcome of a security-relevant action: success, failure, throttled, denied, … */
  outcome?: string;
  /** A count (sessions revoked, keys revoked, notices sent, …). */
  count?: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const ALLOWED_KEYS = new Set<string>([
  'code',
  'route',
  'method',
  'status',
  'durationMs',
  'projectId',
  'events',
  'rejected',
  'duplicates',
  'batches',
  'queued',
  'port',
  'host',
  'path',
  'version',
  'errorName',
  'kind',
  'rows',
  'actor',
  'stack',
  'userId',
  'orgId',
  'factor',
  'outcome',
  'count',
]);

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export type LogSink = (line: string) => void;

/**
 * A JSON-lines logger. `msg` must be a constant string written in the code; every field goes
 * through the allowlist again at run time so that a cast cannot smuggle a field in.
 */
export function createLogger(options: { level?: LogLevel; sink?: LogSink } = {}): Logger {
  const min = LEVEL_ORDER[options.level ?? 'info'];
  const sink: LogSink = options.sink ?? ((line) => process.stderr.write(line + '\n'));
  const write = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (LEVEL_ORDER[level] < min) return;
    const out: Record<string, unknown> = { time: new Date().toISOString(), level, msg };
    if (fields) {
      for (const [key, value] of Object.entries(fields)) {
        if (!ALLOWED_KEYS.has(key)) continue;
        if (typeof value === 'number' || typeof value === 'boolean') out[key] = value;
        else if (typeof value === 'string') out[key] = value.slice(0, 2000);
      }
    }
    sink(JSON.stringify(out));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}

/** Stack frames of an error without its message (foreign messages may quote input). */
export function safeStack(error: unknown): string | undefined {
  if (!(error instanceof Error) || !error.stack) return undefined;
  return error.stack
    .split('\n')
    .filter((line) => line.trimStart().startsWith('at '))
    .slice(0, 12)
    .map((line) => line.trim())
    .join(' | ');
}

/** A logger that drops everything (tests, CLI one-shots). */
export const SILENT_LOGGER: Logger = createLogger({ sink: () => undefined, level: 'error' });
