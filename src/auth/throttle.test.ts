// Tests for the per-account lock state machine and the per-source limiter (with property tests).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ACCOUNT_FREE_FAILURES,
  ACCOUNT_MAX_FAILURES,
  ACCOUNT_MAX_LOCK_MS,
  accountLockMs,
  isDisabled,
  recordFailure,
  recordSuccess,
  retryAfterMs,
  SourceThrottle,
  SOURCE_THROTTLE_DEFAULTS,
} from './throttle.js';
import type { AccountThrottleState } from './throttle.js';

const NOW = 1_767_225_600_000;
const MIN = 60_000;

/** Fails `count` times, each attempt made as soon as the previous lock allows. */
function failRepeatedly(count: number, start = recordSuccess(), startMs = NOW) {
  let state: AccountThrottleState = start;
  let now = startMs;
  const locks: number[] = [];
  const outcomes = [];
  for (let i = 0; i < count; i += 1) {
    now += retryAfterMs(state, now);
    const outcome = recordFailure(state, now);
    outcomes.push(outcome);
    locks.push(outcome.state.lockedUntilMs > now ? outcome.state.lockedUntilMs - now : 0);
    state = outcome.state;
  }
  return { state, now, locks, outcomes };
}

describe('account throttle', () => {
  it('allows five free failures, then locks 30 s doubling to a 1 h cap', () => {
    const { locks, outcomes } = failRepeatedly(20);
    expect(locks.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(locks.slice(5, 14).map((ms) => ms / 1000)).toEqual([
      30, 60, 120, 240, 480, 960, 1920, 3600, 3600,
    ]);
    expect(locks.slice(14).every((ms) => ms === ACCOUNT_MAX_LOCK_MS)).toBe(true);
    expect(outcomes.map((o) => o.lockedOut)).toEqual([
      ...Array<boolean>(ACCOUNT_FREE_FAILURES).fill(false),
      ...Array<boolean>(20 - ACCOUNT_FREE_FAILURES).fill(true),
    ]);
    expect(outcomes.some((o) => o.disabled)).toBe(false);
  });

  it('reports the remaining wait and allows again when the lock ends', () => {
    const { state, now } = failRepeatedly(ACCOUNT_FREE_FAILURES + 1);
    expect(retryAfterMs(state, now)).toBe(30_000);
    expect(retryAfterMs(state, now + 10_000)).toBe(20_000);
    expect(retryAfterMs(state, now + 30_000)).toBe(0);
    expect(retryAfterMs(recordSuccess(), now)).toBe(0);
  });

  it('disables the account at the 100th consecutive failure', () => {
    const before = failRepeatedly(ACCOUNT_MAX_FAILURES - 1);
    expect(isDisabled(before.state)).toBe(false);
    expect(before.outcomes.some((o) => o.disabled)).toBe(false);
    const at = before.now + retryAfterMs(before.state, before.now);
    const last = recordFailure(before.state, at);
    expect(last).toMatchObject({ lockedOut: true, disabled: true });
    expect(last.state.consecutiveFailures).toBe(ACCOUNT_MAX_FAILURES);
    expect(isDisabled(last.state)).toBe(true);
    // Locked for good, but with a finite Retry-After, even years later.
    expect(retryAfterMs(last.state, at)).toBe(ACCOUNT_MAX_LOCK_MS);
    expect(retryAfterMs(last.state, at + 10 * 365 * 24 * 60 * MIN)).toBe(ACCOUNT_MAX_LOCK_MS);
    expect(Number.isFinite(retryAfterMs(last.state, at))).toBe(true);
    // A further failure changes nothing and is not a new lock-out.
    const again = recordFailure(last.state, at + 1);
    expect(again).toMatchObject({ lockedOut: false, disabled: true });
    expect(again.state.consecutiveFailures).toBe(ACCOUNT_MAX_FAILURES);
  });

  it('resets on success', () => {
    const { state, now } = failRepeatedly(12);
    expect(retryAfterMs(state, now)).toBeGreaterThan(0);
    const reset = recordSuccess();
    expect(reset).toEqual({ consecutiveFailures: 0, lockedUntilMs: 0 });
    // After a reset the five free failures are free again.
    expect(failRepeatedly(5, reset, now).locks).toEqual([0, 0, 0, 0, 0]);
    expect(isDisabled(recordSuccess())).toBe(false);
  });

  it('does not call a failure during an existing lock a new lock-out', () => {
    const { state, now } = failRepeatedly(ACCOUNT_FREE_FAILURES + 1);
    const raced = recordFailure(state, now + 1_000);
    expect(raced.lockedOut).toBe(false);
    expect(raced.state.consecutiveFailures).toBe(ACCOUNT_FREE_FAILURES + 2);
    expect(raced.state.lockedUntilMs).toBe(now + 1_000 + 60_000);
  });

  it('tolerates junk stored state', () => {
    const junk = { consecutiveFailures: Number.NaN, lockedUntilMs: Number.NaN };
    expect(retryAfterMs(junk, NOW)).toBe(0);
    expect(recordFailure(junk, NOW).state).toEqual({ consecutiveFailures: 1, lockedUntilMs: 0 });
  });

  it('never locks longer than an hour, and never for free failures (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -5, max: 10_000 }), (failures) => {
        const ms = accountLockMs(failures);
        expect(ms).toBeGreaterThanOrEqual(0);
        expect(ms).toBeLessThanOrEqual(ACCOUNT_MAX_LOCK_MS);
        expect(ms === 0).toBe(failures <= ACCOUNT_FREE_FAILURES);
        if (failures > ACCOUNT_FREE_FAILURES) {
          expect(accountLockMs(failures + 1)).toBeGreaterThanOrEqual(ms);
        }
      }),
    );
  });
});

describe('SourceThrottle', () => {
  it('blocks a source for 15 min at its 30th failure in 15 min', () => {
    const sources = new SourceThrottle();
    for (let i = 0; i < 29; i += 1) {
      expect(sources.check('s1', NOW + i * 1000)).toBe(0);
      sources.fail('s1', `acct-${i % 3}`, NOW + i * 1000);
    }
    expect(sources.check('s1', NOW + 29_000)).toBe(0);
    sources.fail('s1', 'acct-0', NOW + 29_000);
    expect(sources.check('s1', NOW + 29_000)).toBe(15 * MIN);
    expect(sources.check('s1', NOW + 29_000 + 15 * MIN - 1)).toBe(1);
    expect(sources.check('s1', NOW + 29_000 + 15 * MIN)).toBe(0);
    // Other sources are unaffected.
    expect(sources.check('s2', NOW + 29_000)).toBe(0);
  });

  it('forgets failures older than the window', () => {
    const sources = new SourceThrottle();
    for (let i = 0; i < 29; i += 1) sources.fail('s1', 'acct', NOW);
    sources.fail('s1', 'acct', NOW + 15 * MIN);
    expect(sources.check('s1', NOW + 15 * MIN)).toBe(0);
    // The same with a longer block, so that the source is still remembered: the window is
    // (now - 15 min, now], and failures exactly 15 min old have left it.
    const remembered = new SourceThrottle({ blockMs: 20 * MIN });
    for (let i = 0; i < 29; i += 1) remembered.fail('s1', 'acct', NOW);
    remembered.fail('s1', 'acct', NOW + 15 * MIN - 1);
    expect(remembered.check('s1', NOW + 15 * MIN - 1)).toBe(20 * MIN);
    const edge = new SourceThrottle({ blockMs: 20 * MIN });
    for (let i = 0; i < 29; i += 1) edge.fail('s1', 'acct', NOW);
    edge.fail('s1', 'acct', NOW + 15 * MIN);
    expect(edge.check('s1', NOW + 15 * MIN)).toBe(0);
    expect(edge.size).toBe(1);
  });

  it('blocks password spraying: failures against 10 distinct accounts', () => {
    const sources = new SourceThrottle();
    for (let i = 0; i < 9; i += 1) sources.fail('s1', `acct-${i}`, NOW + i);
    expect(sources.check('s1', NOW + 9)).toBe(0);
    // Repeating known accounts is not spraying.
    sources.fail('s1', 'acct-0', NOW + 9);
    expect(sources.check('s1', NOW + 9)).toBe(0);
    sources.fail('s1', 'acct-9', NOW + 10);
    expect(sources.check('s1', NOW + 10)).toBe(15 * MIN);
  });

  it('on success forgives only the failures against the account that signed in', () => {
    const sources = new SourceThrottle();
    for (let i = 0; i < 8; i += 1) sources.fail('s1', `victim-${i}`, NOW);
    sources.fail('s1', 'mine', NOW);
    sources.succeed('s1', 'mine');
    sources.fail('s1', 'victim-8', NOW + 1);
    expect(sources.check('s1', NOW + 1)).toBe(0); // 9 distinct accounts: allowed
    sources.succeed('s1', 'mine');
    sources.fail('s1', 'victim-9', NOW + 2);
    expect(sources.check('s1', NOW + 2)).toBeGreaterThan(0); // success did not reset the rest
    const solo = new SourceThrottle();
    for (let i = 0; i < 4; i += 1) solo.fail('s2', 'typo', NOW);
    solo.succeed('s2', 'typo');
    expect(solo.size).toBe(0);
  });

  it('prunes expired sources and evicts the least recent beyond maxEntries', () => {
    const sources = new SourceThrottle({ maxEntries: 3 });
    for (const key of ['a', 'b', 'c']) sources.fail(key, 'acct', NOW);
    sources.fail('a', 'acct', NOW + 1); // 'a' is now the most recent
    sources.fail('d', 'acct', NOW + 2);
    expect(sources.size).toBe(3);
    // 'b' was the least recent: forgotten, so its failure no longer counts.
    for (let i = 0; i < 29; i += 1) sources.fail('b', 'acct', NOW + 3);
    expect(sources.check('b', NOW + 3)).toBe(0);
    expect(sources.check('x', NOW + 16 * MIN)).toBe(0);
    expect(sources.size).toBe(0);
  });

  it('refuses nonsensical options', () => {
    expect(() => new SourceThrottle({ maxFailures: 0 })).toThrow(RangeError);
    expect(() => new SourceThrottle({ windowMs: Number.POSITIVE_INFINITY })).toThrow(RangeError);
  });

  // The caller's contract: check, and only when it returns 0 try the credentials (which fail).
  const sourceOptions = fc.record({
    maxFailures: fc.integer({ min: 1, max: 12 }),
    maxAccounts: fc.integer({ min: 1, max: 6 }),
    windowMs: fc.integer({ min: 1, max: 20 }).map((n) => n * 1000),
    blockMs: fc.integer({ min: 1, max: 20 }).map((n) => n * 1000),
  });
  const attempts = fc.array(
    fc.record({
      advanceMs: fc.integer({ min: 0, max: 3_000 }),
      source: fc.constantFrom('s1', 's2', 's3'),
      account: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'),
    }),
    { maxLength: 300 },
  );

  it('never lets a source fail more than maxFailures times, or against more than maxAccounts accounts, within a window (property)', () => {
    fc.assert(
      fc.property(sourceOptions, attempts, (options, steps) => {
        const sources = new SourceThrottle(options);
        const allowed = new Map<string, { atMs: number; account: string }[]>();
        let now = NOW;
        for (const step of steps) {
          now += step.advanceMs;
          if (sources.check(step.source, now) !== 0) continue;
          sources.fail(step.source, step.account, now);
          const list = allowed.get(step.source) ?? [];
          list.push({ atMs: now, account: step.account });
          allowed.set(step.source, list);
        }
        for (const list of allowed.values()) {
          for (let i = 0; i < list.length; i += 1) {
            // Failures in the window (t_i - W, t_i] ending at each failure.
            const inWindow = list.filter(
              (f) => f.atMs > list[i]!.atMs - options.windowMs && f.atMs <= list[i]!.atMs,
            );
            expect(inWindow.length).toBeLessThanOrEqual(options.maxFailures);
            expect(new Set(inWindow.map((f) => f.account)).size).toBeLessThanOrEqual(
              options.maxAccounts,
            );
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('lets a source that waits as told try again (property)', () => {
    fc.assert(
      fc.property(sourceOptions, attempts, (options, steps) => {
        const sources = new SourceThrottle(options);
        let now = NOW;
        for (const step of steps) {
          now += step.advanceMs;
          const wait = sources.check(step.source, now);
          expect(wait).toBeGreaterThanOrEqual(0);
          expect(wait).toBeLessThanOrEqual(Math.max(options.windowMs, options.blockMs));
          if (wait > 0) expect(sources.check(step.source, now + wait)).toBe(0);
          else sources.fail(step.source, step.account, now);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps memory bounded: at most maxEntries sources, none once all expired (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(
          fc.record({
            advanceMs: fc.integer({ min: 0, max: 120_000 }),
            source: fc.integer({ min: 0, max: 60 }).map((n) => `src-${n}`),
            account: fc.integer({ min: 0, max: 40 }).map((n) => `acct-${n}`),
            succeed: fc.boolean(),
          }),
          { maxLength: 400 },
        ),
        (maxEntries, steps) => {
          const sources = new SourceThrottle({ maxEntries });
          let now = NOW;
          for (const step of steps) {
            now += step.advanceMs;
            if (step.succeed) sources.succeed(step.source, step.account);
            else sources.fail(step.source, step.account, now);
            expect(sources.size).toBeLessThanOrEqual(maxEntries);
          }
          const { windowMs, blockMs } = SOURCE_THROTTLE_DEFAULTS;
          sources.check('anyone', now + Math.max(windowMs, blockMs));
          expect(sources.size).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });
});
