// Throttling of sign-in and second-factor failures: per account (stored) and per source (memory).

/** Consecutive failures of one account, and until when it is locked. Stored with the account. */
export interface AccountThrottleState {
  consecutiveFailures: number;
  /** Epoch ms before which no attempt is accepted; 0 when not locked. */
  lockedUntilMs: number;
}

/** Failures in a row allowed without any delay (typos, a forgotten caps lock). */
export const ACCOUNT_FREE_FAILURES = 5;
/** Failures in a row after which the account is disabled (NIST 800-63B §3.2.2: at most 100). */
export const ACCOUNT_MAX_FAILURES = 100;
/** The first lock, after failure ACCOUNT_FREE_FAILURES + 1 (NIST's "30 s up to 1 h"). */
export const ACCOUNT_FIRST_LOCK_MS = 30_000;
/** The longest lock; also the retry-after reported for a disabled account. */
export const ACCOUNT_MAX_LOCK_MS = 3_600_000;
/** `lockedUntilMs` of a disabled account: locked until an admin or a recovery resets it. */
const DISABLED_UNTIL_MS = Number.MAX_SAFE_INTEGER;

/** What one more failure did to an account. */
export interface AccountFailureOutcome {
  state: AccountThrottleState;
  /** True exactly when this failure started a lock (the account was not locked just before). */
  lockedOut: boolean;
  /** True when the account reached ACCOUNT_MAX_FAILURES and stays locked until reset. */
  disabled: boolean;
}

/**
 * Counts one failed password or second-factor attempt. The first 5 failures in a row cost
 * nothing; each further one locks the account for 30 s, doubling to at most 1 h (failure 6: 30 s,
 * 7: 60 s, … 13 and later: 1 h); failure 100 disables it. With the 1-hour cap an attacker needs
 * about three and a half days of steady guessing to disable an account, and the per-source limit
 * slows them further; that is the compromise between NIST's 100-failure bound and ASVS 6.1.1's
 * "prevent malicious account lockout". Check `retryAfterMs` before verifying anything: an attempt
 * during a lock must be refused unchecked, not counted.
 */
export function recordFailure(state: AccountThrottleState, nowMs: number): AccountFailureOutcome {
  const failures = Math.min(sanitiseCount(state.consecutiveFailures) + 1, ACCOUNT_MAX_FAILURES);
  if (failures >= ACCOUNT_MAX_FAILURES) {
    return {
      state: { consecutiveFailures: failures, lockedUntilMs: DISABLED_UNTIL_MS },
      // Disabling is a new, open-ended lock unless the account was disabled already.
      lockedOut: !isDisabled(state),
      disabled: true,
    };
  }
  if (failures <= ACCOUNT_FREE_FAILURES) {
    return {
      state: { consecutiveFailures: failures, lockedUntilMs: previousLock(state) },
      lockedOut: false,
      disabled: false,
    };
  }
  const lockMs = accountLockMs(failures);
  return {
    state: {
      consecutiveFailures: failures,
      lockedUntilMs: Math.max(previousLock(state), nowMs + lockMs),
    },
    lockedOut: retryAfterMs(state, nowMs) === 0,
    disabled: false,
  };
}

/** The state after a successful sign-in or an admin or recovery reset: no failures, no lock. */
export function recordSuccess(): AccountThrottleState {
  return { consecutiveFailures: 0, lockedUntilMs: 0 };
}

/**
 * Milliseconds until the account may try again: 0 when allowed, ACCOUNT_MAX_LOCK_MS (finite, for
 * Retry-After) when disabled.
 */
export function retryAfterMs(state: AccountThrottleState, nowMs: number): number {
  if (isDisabled(state)) return ACCOUNT_MAX_LOCK_MS;
  const wait = previousLock(state) - nowMs;
  return wait > 0 ? Math.min(wait, ACCOUNT_MAX_LOCK_MS) : 0;
}

/** Whether the account reached ACCOUNT_MAX_FAILURES and waits for a reset. */
export function isDisabled(state: AccountThrottleState): boolean {
  return sanitiseCount(state.consecutiveFailures) >= ACCOUNT_MAX_FAILURES;
}

/** The lock imposed by failure number `failures` (1-based): 0, then 30 s doubling to 1 h. */
export function accountLockMs(failures: number): number {
  if (failures <= ACCOUNT_FREE_FAILURES) return 0;
  const doublings = failures - ACCOUNT_FREE_FAILURES - 1;
  // 2^7 × 30 s already exceeds the cap; stop before the exponent grows.
  return doublings >= 7
    ? ACCOUNT_MAX_LOCK_MS
    : Math.min(ACCOUNT_FIRST_LOCK_MS * 2 ** doublings, ACCOUNT_MAX_LOCK_MS);
}

function sanitiseCount(count: number): number {
  return Number.isFinite(count) && count > 0 ? Math.floor(count) : 0;
}

function previousLock(state: AccountThrottleState): number {
  return Number.isFinite(state.lockedUntilMs) && state.lockedUntilMs > 0 ? state.lockedUntilMs : 0;
}

/** Limits of a `SourceThrottle`. */
export interface SourceThrottleOptions {
  /** Failures one source may make within `windowMs`, across all accounts (default 30). */
  maxFailures: number;
  /** Distinct accounts one source may fail against within `windowMs` (default 10). */
  maxAccounts: number;
  /** The sliding window (default 15 min). */
  windowMs: number;
  /** How long a source that reached a limit is blocked (default 15 min). */
  blockMs: number;
  /** Sources remembered at most; the least recently failing are forgotten first (default 100k). */
  maxEntries: number;
}

/** The defaults of `SourceThrottle`. */
export const SOURCE_THROTTLE_DEFAULTS: Readonly<SourceThrottleOptions> = Object.freeze({
  maxFailures: 30,
  maxAccounts: 10,
  windowMs: 15 * 60_000,
  blockMs: 15 * 60_000,
  maxEntries: 100_000,
});

/** One failed attempt by a source, against an (opaque) account. */
export interface SourceFailure {
  atMs: number;
  account: string;
}

/**
 * Where per-source failures are kept: this process's memory (`SourceThrottle`, one node), or a
 * database every node shares (PostgreSQL, several nodes: an attacker cannot spread guesses over
 * them). Same limits, same answers.
 */
export interface SourceLimiter {
  /** Milliseconds until `key` may try again; 0 when allowed. Call before checking credentials. */
  check(key: string, nowMs: number): number | Promise<number>;
  /** Counts a failed attempt by `key` against `account`. */
  fail(key: string, account: string, nowMs: number): void | Promise<void>;
  /** Forgives the failures `key` made against `account` (see `SourceThrottle.succeed`). */
  succeed(key: string, account: string): void | Promise<void>;
}

/**
 * The wait of a source given its failures within the window (oldest first, the last
 * `maxFailures` at most) and its block: the sliding-window limits hold on their own, whatever
 * `blockMs` is. Shared by every SourceLimiter.
 */
export function sourceWait(
  failures: readonly SourceFailure[],
  blockedUntilMs: number,
  nowMs: number,
  options: Pick<SourceThrottleOptions, 'maxFailures' | 'maxAccounts' | 'windowMs'>,
): number {
  const { maxFailures, maxAccounts, windowMs } = options;
  let until = blockedUntilMs;
  if (failures.length >= maxFailures) {
    const nth = failures[failures.length - maxFailures];
    if (nth !== undefined) until = Math.max(until, nth.atMs + windowMs);
  }
  const latest = new Map<string, number>();
  for (const failure of failures) latest.set(failure.account, failure.atMs);
  const lastByAccount = [...latest.values()].sort((a, b) => a - b);
  if (lastByAccount.length >= maxAccounts) {
    // Wait until enough accounts leave the window to be below the limit again.
    const leaving = lastByAccount[lastByAccount.length - maxAccounts];
    if (leaving !== undefined) until = Math.max(until, leaving + windowMs);
  }
  return until > nowMs ? until - nowMs : 0;
}

/** Whether one more failure puts the source over a limit (then it is blocked for `blockMs`). */
export function sourceOverLimit(
  failures: readonly SourceFailure[],
  options: Pick<SourceThrottleOptions, 'maxFailures' | 'maxAccounts'>,
): boolean {
  return (
    failures.length >= options.maxFailures ||
    new Set(failures.map((f) => f.account)).size >= options.maxAccounts
  );
}

interface SourceEntry {
  /** Failures within the window, oldest first; never more than maxFailures. */
  failures: SourceFailure[];
  blockedUntilMs: number;
  lastFailureMs: number;
}

/**
 * In-memory limiter of failed sign-in and second-factor attempts per source, across accounts:
 * credential stuffing and password spraying try few passwords on many accounts, which the
 * per-account counter never sees. A source that reaches `maxFailures` failures, or fails against
 * `maxAccounts` distinct accounts, within the sliding window is blocked for `blockMs`.
 *
 * The key is an opaque string the caller derives from the client address (for example an HMAC of
 * the IPv4 address or of the IPv6 /64): never a raw IP. Accounts are opaque too (a user id, or a
 * hash of an unknown e-mail address). Memory is bounded: expired sources are pruned as time
 * passes, and beyond `maxEntries` the least recently failing source is forgotten (each entry
 * holds at most `maxFailures` failures, so the worst case is about maxEntries × maxFailures × 60
 * bytes). State is per process and lost on restart; the per-account state is the durable bound.
 */
export class SourceThrottle implements SourceLimiter {
  readonly #options: SourceThrottleOptions;
  /** Insertion order is the order of last failure, so the least recent is first. */
  readonly #entries = new Map<string, SourceEntry>();

  constructor(options: Partial<SourceThrottleOptions> = {}) {
    const merged = { ...SOURCE_THROTTLE_DEFAULTS, ...options };
    for (const [name, value] of Object.entries(merged)) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(`SourceThrottle ${name} must be a positive integer.`);
      }
    }
    this.#options = merged;
  }

  /** Milliseconds until `key` may try again; 0 when allowed. Call before checking credentials. */
  check(key: string, nowMs: number): number {
    this.#prune(nowMs);
    const entry = this.#entries.get(key);
    if (entry === undefined) return 0;
    this.#dropExpiredFailures(entry, nowMs);
    return this.#wait(entry, nowMs);
  }

  /** Counts a failed attempt by `key` against `account`. */
  fail(key: string, account: string, nowMs: number): void {
    this.#prune(nowMs);
    const { maxFailures, blockMs, maxEntries } = this.#options;
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = { failures: [], blockedUntilMs: 0, lastFailureMs: nowMs };
    } else {
      this.#entries.delete(key); // re-inserted below as the most recent
      this.#dropExpiredFailures(entry, nowMs);
    }
    entry.failures.push({ atMs: nowMs, account });
    if (entry.failures.length > maxFailures) entry.failures.shift();
    entry.lastFailureMs = Math.max(entry.lastFailureMs, nowMs);
    if (sourceOverLimit(entry.failures, this.#options)) {
      entry.blockedUntilMs = Math.max(entry.blockedUntilMs, nowMs + blockMs);
    }
    this.#entries.set(key, entry);
    while (this.#entries.size > maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }

  /**
   * Forgives the failures `key` made against `account`, once that account signed in from it (the
   * person mistyped, then got it right). Failures against other accounts and any block stay:
   * otherwise an attacker holding one valid account could sign into it between guesses at others
   * and never be limited.
   */
  succeed(key: string, account: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    entry.failures = entry.failures.filter((failure) => failure.account !== account);
    if (entry.failures.length === 0 && entry.blockedUntilMs === 0) this.#entries.delete(key);
  }

  /** Sources currently remembered (for metrics and tests). */
  get size(): number {
    return this.#entries.size;
  }

  #wait(entry: SourceEntry, nowMs: number): number {
    return sourceWait(entry.failures, entry.blockedUntilMs, nowMs, this.#options);
  }

  #dropExpiredFailures(entry: SourceEntry, nowMs: number): void {
    const cutoff = nowMs - this.#options.windowMs;
    let drop = 0;
    for (const failure of entry.failures) {
      if (failure.atMs > cutoff) break;
      drop += 1;
    }
    if (drop > 0) entry.failures.splice(0, drop);
    if (entry.blockedUntilMs <= nowMs) entry.blockedUntilMs = 0;
  }

  /** Forgets sources whose failures and block have all expired, least recent first. */
  #prune(nowMs: number): void {
    const horizon = Math.max(this.#options.windowMs, this.#options.blockMs);
    for (const [key, entry] of this.#entries) {
      if (nowMs - entry.lastFailureMs < horizon || entry.blockedUntilMs > nowMs) break;
      this.#entries.delete(key);
    }
  }
}
