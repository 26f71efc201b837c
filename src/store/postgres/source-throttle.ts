// Per-source sign-in throttling shared by every node (PostgreSQL): the same limits and answers as
// the in-memory SourceThrottle, so that guesses spread over several nodes are counted together.
import {
  SOURCE_THROTTLE_DEFAULTS,
  sourceOverLimit,
  sourceWait,
  type SourceFailure,
  type SourceLimiter,
  type SourceThrottleOptions,
} from '../../auth/index.js';
import { storeError, type PostgresDatabase } from './database.js';

/**
 * Failures live in `sign_in_source_failures` (source key = keyed hash of the address, account =
 * opaque id), blocks in `sign_in_source_blocks`. Rows older than the window and the block are
 * deleted as failures arrive, so the tables hold at most the last quarter hour of failures.
 */
export class PostgresSourceThrottle implements SourceLimiter {
  private readonly options: SourceThrottleOptions;

  constructor(
    private readonly db: PostgresDatabase,
    options: Partial<SourceThrottleOptions> = {},
  ) {
    this.options = { ...SOURCE_THROTTLE_DEFAULTS, ...options };
  }

  /** The source's last `maxFailures` failures within the window (oldest first) and its block. */
  private async state(
    key: string,
    nowMs: number,
  ): Promise<{ failures: SourceFailure[]; blockedUntilMs: number }> {
    return this.db.meta
      .run(async (c) => {
        const rows = await c.runAndReadAll(
          `SELECT account, at_ms FROM sign_in_source_failures
            WHERE source_key = $1 AND at_ms > $2 ORDER BY at_ms DESC LIMIT $3`,
          [key, nowMs - this.options.windowMs, this.options.maxFailures],
        );
        const block = await c.runAndReadAll(
          'SELECT blocked_until_ms FROM sign_in_source_blocks WHERE source_key = $1',
          [key],
        );
        const failures = rows
          .getRows()
          .map((row) => ({ account: String(row[0]), atMs: Number(row[1]) }))
          .reverse();
        const until = Number(block.getRows()[0]?.[0] ?? 0);
        return { failures, blockedUntilMs: until > nowMs ? until : 0 };
      })
      .catch((cause: unknown) => {
        throw storeError(cause, 'read sign-in throttle');
      });
  }

  async check(key: string, nowMs: number): Promise<number> {
    const { failures, blockedUntilMs } = await this.state(key, nowMs);
    return sourceWait(failures, blockedUntilMs, nowMs, this.options);
  }

  async fail(key: string, account: string, nowMs: number): Promise<void> {
    const horizon = Math.max(this.options.windowMs, this.options.blockMs);
    await this.db.meta
      .run(async (c) => {
        await c.run(
          'INSERT INTO sign_in_source_failures (source_key, account, at_ms) VALUES ($1, $2, $3)',
          [key, account, nowMs],
        );
        await c.run('DELETE FROM sign_in_source_failures WHERE at_ms <= $1', [nowMs - horizon]);
        await c.run('DELETE FROM sign_in_source_blocks WHERE blocked_until_ms <= $1', [nowMs]);
      })
      .catch((cause: unknown) => {
        throw storeError(cause, 'record sign-in failure');
      });
    const { failures } = await this.state(key, nowMs);
    if (!sourceOverLimit(failures, this.options)) return;
    await this.db.meta
      .run((c) =>
        c.run(
          `INSERT INTO sign_in_source_blocks (source_key, blocked_until_ms) VALUES ($1, $2)
           ON CONFLICT (source_key) DO UPDATE
             SET blocked_until_ms = GREATEST(sign_in_source_blocks.blocked_until_ms, EXCLUDED.blocked_until_ms)`,
          [key, nowMs + this.options.blockMs],
        ),
      )
      .catch((cause: unknown) => {
        throw storeError(cause, 'record sign-in block');
      });
  }

  async succeed(key: string, account: string): Promise<void> {
    await this.db.meta
      .run((c) =>
        c.run('DELETE FROM sign_in_source_failures WHERE source_key = $1 AND account = $2', [
          key,
          account,
        ]),
      )
      .catch((cause: unknown) => {
        throw storeError(cause, 'forgive sign-in failures');
      });
  }
}
