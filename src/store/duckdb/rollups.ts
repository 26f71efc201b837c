// Per-project rollups of the events, read by the most common trends instead of every event
// (issue 12: at 10M events a daily trend scanned and hashed every row). Four tables, in the
// project's time zone, for the events that "any event" counts or all of them (the last two per
// column of VALUE_DAYS_COLUMNS: browser, OS, device type, country):
// - `person_days`: one row per (project, local day, resolved person) who did any event but SDK
//   bookkeeping that day; daily, weekly and monthly active users read ~1 row per person and
//   active day (~800k at 10M events);
// - `event_days`: one row per (project, local day, event name) with its number of events, SDK
//   bookkeeping included (a query leaves it out by name); total events, of any event or of one,
//   by day, week or month, read a few thousand rows;
// - `person_value_days`: one row per (project, column, local day, value or NULL, resolved person),
//   like `person_days` per value: unique users broken down by that column;
// - `value_days`: per (project, column, local day, value set or not) the events "any event"
//   counts, persons or not, like `event_days`: they rank the values as the events would;
// - `person_event_days`: one row per (project, event name, local day, resolved person) of every
//   event with a person, SDK bookkeeping included, with the first instant of those events
//   (`first_ms`) and, per column of VALUE_DAYS_COLUMNS, the value on them (of several at that
//   instant the smallest set one, NULL when none is set): retention reads it instead of the
//   events (~570k rows for the 2.8M page views of 10M demo events).
//
// All five are built together per project on first use (a query asks `ready`, which answers false
// and builds them in the background; the query scans the events meanwhile), for the time zone the
// project had then; a project whose time zone changed is rebuilt the same way. A build reads the
// events on a connection of its own, from a snapshot, beside the writer's loads (on the writer it
// held every load ~5 s per 10M events); then, on the writer, it catches up with what was written
// since the snapshot (see `build`). Once built they are kept exactly equal to a rebuild, inside
// the transaction of every write that changes events, so a query never sees the tables and the
// events disagree:
// - a load adds the pairs and the counts of the rows it inserted (found by their `load_seq`, the
//   load's number);
// - a change of person (a retroactive merge, an erasure) recomputes every person it touched,
//   before and after the change, from that person's events; counts do not depend on persons;
// - an erasure takes away the counts of the rows it deletes, before deleting them;
// - retention drops the days before the cut and recomputes the day it falls in.
// Each pair is held once (a day's users are its row count, compile.ts): every insert is DISTINCT
// and leaves out the pairs already held or first deletes those of the persons it recomputes.
// A `person_event_days` key is held once too: a load first brings the rows it holds forward to
// the loaded events' first instant and values when those come earlier (or at the same instant
// with a smaller value), then adds the keys it does not hold. Each
// (day, event) is held once too (its primary key), counts added to it in place and rows gone to 0
// deleted. A missed change is not harmless: the property test in rollups.test.ts compares both
// tables, row for row, with what the events give after random histories of every write.
import type { DuckDBConnection, DuckDBType, DuckDBValue } from '@duckdb/node-api';
import { buildClock, DAY_MS, localMs } from '../../query/clock.js';
import { dayOf, localTime } from '../../query/compile.js';
import { VALUE_DAYS_COLUMNS } from '../../query/plan.js';
import { SDK_BOOKKEEPING_EVENTS } from '../../query/sdk-events.js';
import { param, raw, sql, type SqlNode } from '../../query/sql.js';
import { AppError } from '../../shared/errors.js';
import { safeStack, type Logger } from '../../shared/log.js';
import { DUCKDB_DIALECT } from './dialect.js';
import { bindValue } from './bind.js';
import type { SerialConnection } from './serial-connection.js';

/** "Any event": SDK bookkeeping events do not make a person active (query/sdk-events.ts). */
const COUNTED = raw(
  `(e.event < '$' OR e.event >= '%' OR e.event NOT IN (${SDK_BOOKKEEPING_EVENTS.map((name) => `'${name}'`).join(', ')}))`,
);

/**
 * The columns of `value_days` as rows (`c.col`), to join to the events, and the value of the
 * event's column `c.col` (names from a constant list: no input reaches this text).
 */
const COLUMNS = raw(`(VALUES ${VALUE_DAYS_COLUMNS.map((c) => `('${c}')`).join(', ')}) c(col)`);
const COLUMN_VALUE = raw(
  `CASE c.col ${VALUE_DAYS_COLUMNS.map((c) => `WHEN '${c}' THEN e.${c}`).join(' ')} END`,
);

/** The events (`events`), or a copy of some of them with the columns the tables read (PERSON_EVENTS). */
type EventSource = 'events' | typeof PERSON_EVENTS;

/**
 * The rows (project, column, day, value, person) of the project's events `where` selects (over
 * `events e`, or `from`) that "any event" counts and that have a person, each once; `day` over
 * `e.time`.
 */
function personValues(
  projectId: string,
  day: SqlNode,
  where: SqlNode,
  from: EventSource = 'events',
): SqlNode {
  return sql`SELECT DISTINCT e.project_id, c.col, ${day} AS day, ${COLUMN_VALUE} AS value, e.person_id
               FROM ${raw(from)} e CROSS JOIN ${COLUMNS}
              WHERE e.project_id = ${param.varchar(projectId)} AND ${where}
                AND e.person_id IS NOT NULL AND ${COUNTED}`;
}

/**
 * The value of the event's column `col` on its first event of the key, as an aggregate: of the
 * events at the first instant, the smallest set value (NULL sorts after any text in a struct,
 * so the flag comes first), NULL when none is set; the same rule as compile.ts's retention.
 */
const firstValue = (col: string): string =>
  `min({'t': epoch_ms(e.time), 'unset': e.${col} IS NULL, 'v': e.${col}}).v AS ${col}`;

/**
 * The rows (project, event, day, person, first instant, first values) of the project's events
 * `where` selects (over `events e`, or `from`) that have a person, one per key; `day` over
 * `e.time`.
 */
function personEvents(
  projectId: string,
  day: SqlNode,
  where: SqlNode,
  from: EventSource = 'events',
): SqlNode {
  return sql`SELECT e.project_id, e.event, ${day} AS day, e.person_id, min(epoch_ms(e.time)) AS first_ms,
                    ${raw(VALUE_DAYS_COLUMNS.map(firstValue).join(', '))}
               FROM ${raw(from)} e
              WHERE e.project_id = ${param.varchar(projectId)} AND ${where} AND e.person_id IS NOT NULL
              GROUP BY e.project_id, e.event, day, e.person_id`;
}

/**
 * A held `person_event_days` row `d` merged with the same key's row `n` of newer events, where
 * `n` starts no later: its instant, and per column the value on the earlier instant (at the
 * same one, the smaller by the rule of `firstValue`).
 */
const MERGED = raw(
  [
    'first_ms = n.first_ms',
    ...VALUE_DAYS_COLUMNS.map(
      (c) =>
        `${c} = CASE WHEN n.first_ms < d.first_ms THEN n.${c} ELSE least({'unset': d.${c} IS NULL, 'v': d.${c}}, {'unset': n.${c} IS NULL, 'v': n.${c}}).v END`,
    ),
  ].join(', '),
);

/** The local day of `e.time` in `timezone`, by the query engine's own expression. */
function localDayOf(timezone: string, fromMs: number, toMs: number): SqlNode {
  return dayOf(localTime(buildClock(timezone, fromMs, toMs)));
}

function rendered(tree: SqlNode): [string, DuckDBValue[], DuckDBType[]] {
  const r = DUCKDB_DIALECT.render(tree);
  const bound = r.params.map(bindValue);
  return [r.text, bound.map((b) => b.value), bound.map((b) => b.type)];
}

async function runTree(c: DuckDBConnection, tree: SqlNode): Promise<number> {
  return Number((await c.run(...rendered(tree))).rowsChanged);
}

/** The first and last instants (ms) of the rows `tree` (min and max of `epoch_ms(time)`) reads. */
async function spanOf(c: DuckDBConnection, tree: SqlNode): Promise<[number, number] | null> {
  const [from, to] = (await c.runAndReadAll(...rendered(tree))).getRows()[0] ?? [null, null];
  return from == null || to == null ? null : [Number(from), Number(to)];
}

type CountTable = 'event_days' | 'value_days';

/**
 * Adds to `event_days` the counts per (local day, event), and to `value_days` those per (column,
 * local day, value), of the project's rows `where` selects (over `events e`), in the project's
 * `timezone`; `sign` -1 takes them away (rows about to be deleted), and a count gone to 0 goes.
 * `known`: the rows' first and last instants, when the caller has them; `tables`: which of the two.
 */
async function addCounts(
  c: DuckDBConnection,
  projectId: string,
  timezone: string,
  where: SqlNode,
  sign: 1 | -1,
  known?: [number, number],
  tables: readonly CountTable[] = ['event_days', 'value_days'],
): Promise<void> {
  const rows = sql`FROM events e WHERE e.project_id = ${param.varchar(projectId)} AND ${where}`;
  const span =
    known ?? (await spanOf(c, sql`SELECT min(epoch_ms(e.time)), max(epoch_ms(e.time)) ${rows}`));
  if (!span) return;
  const day = localDayOf(timezone, ...span);
  const count = raw(`${sign < 0 ? '-' : ''}count(*)`);
  if (tables.includes('event_days')) {
    await runTree(
      c,
      sql`INSERT INTO event_days
          SELECT e.project_id, ${day} AS day, e.event, ${count} ${rows}
           GROUP BY ALL
          ON CONFLICT DO UPDATE SET n = n + EXCLUDED.n`,
    );
  }
  // Per column and value, the events "any event" counts, with or without a person (they rank the
  // values; a key holds no NULL: an unset value is `is_set` false and '').
  if (tables.includes('value_days')) {
    await runTree(
      c,
      sql`INSERT INTO value_days
          SELECT project_id, col, day, value IS NOT NULL, coalesce(value, ''), ${count} FROM (
            SELECT e.project_id, c.col, ${day} AS day, ${COLUMN_VALUE} AS value
              FROM events e CROSS JOIN ${COLUMNS}
             WHERE e.project_id = ${param.varchar(projectId)} AND ${where} AND ${COUNTED})
           GROUP BY ALL
          ON CONFLICT DO UPDATE SET n = n + EXCLUDED.n`,
    );
  }
  if (sign < 0) {
    for (const table of tables) {
      await c.run(`DELETE FROM ${table} WHERE project_id = $1 AND n = 0`, [projectId]);
    }
  }
}

/** The tables of persons (recomputed per person). */
const PERSON_TABLES = ['person_days', 'person_value_days', 'person_event_days'];

/** Every row of the project in the five tables (before a build). */
async function deleteProject(c: DuckDBConnection, projectId: string): Promise<void> {
  for (const table of [...PERSON_TABLES, 'event_days', 'value_days']) {
    await c.run(`DELETE FROM ${table} WHERE project_id = $1`, [projectId]);
  }
}

const msOf = (value: unknown): number => Number(value);

/** Persons whose pairs are recomputed at the end of a write (see `collect`). */
const STAGING = 'staging_person_days';

/** Runs `body` in a transaction on `c`: committed when it resolves, rolled back when it throws. */
async function inTransactionOf<T>(c: DuckDBConnection, body: () => Promise<T>): Promise<T> {
  await c.run('BEGIN TRANSACTION');
  try {
    const result = await body();
    await c.run('COMMIT');
    return result;
  } catch (error) {
    await c.run('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * At most this many events with a person per statement of `person_event_days`' build (tests make
 * it small, so that spans end inside their data); fewer under a memory limit: `eventsPerSpan`.
 */
export const BUILD_LIMITS = { personEventDaysChunk: 2_000_000 };

/**
 * DuckDB memory per row of `person_event_days` being built, with room to spare: its group in the
 * hash aggregate with the four first-value states (measured on an import whose persons have
 * about one event per name and day, where nearly every event is a row of its own: a span of 640k
 * events made 469k rows in 42 MB of `HASH_TABLE`; one of 2M events, 1.45M rows, filled 233 of
 * the 244 MiB of a 256MB limit).
 */
const BUILD_BYTES_PER_ROW = 160;
/** The share of DuckDB's memory limit a span's aggregate may take (the rest: the load, queries). */
const BUILD_MEMORY_SHARE = 0.4;

/**
 * Events per statement of the build under DuckDB's `memory_limit` (bytes; unset: none): a span
 * of n events makes at most n rows, so its aggregate stays within the share above whatever the
 * data's shape (2M-event spans filled a 256MB limit on such an import, where the build then ran
 * out of memory once in three; at 256MB a span is now 640k events).
 */
export function eventsPerSpan(memoryLimitBytes: number | undefined): number {
  const cap = BUILD_LIMITS.personEventDaysChunk;
  if (memoryLimitBytes === undefined) return cap;
  const fits = Math.floor((memoryLimitBytes * BUILD_MEMORY_SHARE) / BUILD_BYTES_PER_ROW);
  return Math.max(1, Math.min(cap, Math.max(fits, 50_000)));
}

/** The first pause before a failed build is tried again, and the longest (doubled in between). */
const RETRY_FIRST_MS = 5 * 60_000;
const RETRY_MOST_MS = 6 * 3_600_000;

/**
 * Consecutive days (`[day, events]`, in order) in spans of at most `most` events — a day of more
 * being a span of its own —, as `[first day, last day]`.
 */
export function spansOf(
  days: readonly (readonly [number, number])[],
  most: number,
): [number, number][] {
  const spans: [number, number][] = [];
  let span: [number, number] | null = null;
  let events = 0;
  for (const [day, n] of days) {
    if (span && events + n <= most) {
      span[1] = day;
      events += n;
    } else {
      if (span) spans.push(span);
      span = [day, day];
      events = n;
    }
  }
  if (span) spans.push(span);
  return spans;
}

/** The pairs and counts of every event of the project (whose rows are none yet); the pairs made. */
async function insertProject(
  c: DuckDBConnection,
  projectId: string,
  timezone: string,
  spanEvents: number,
): Promise<number> {
  const span = await spanOf(
    c,
    sql`SELECT min(epoch_ms(time)), max(epoch_ms(time)) FROM events WHERE project_id = ${param.varchar(projectId)}`,
  );
  if (!span) return 0;
  const day = localDayOf(timezone, ...span);
  // A few days at a time: the first values of `person_event_days` are aggregate states DuckDB
  // cannot spill, and all of 30.6M events at once ran out of memory at the default 256MB (after
  // 164 s); the distinct rows of `person_value_days` (four per event) for all of an imported
  // project's 7.7M events ran out of memory at 256MB in two builds of four (at 128MB in every
  // one). Each span of whole local days is read by its instants (±2 days, so that zone maps skip
  // the rest) and its days — the tables' rows are per day, so no row spans two —, and
  // `person_event_days` in the order retention reads it (one event name, a span of days), so that
  // the zone maps of the row groups skip the other names.
  const days = (
    await c.runAndReadAll(
      ...rendered(
        sql`SELECT ${day} AS d, count(*) AS n FROM events e
             WHERE e.project_id = ${param.varchar(projectId)} AND e.person_id IS NOT NULL
             GROUP BY d ORDER BY d`,
      ),
    )
  )
    .getRows()
    .map(([d, n]) => [Number(d), Number(n)] as const);
  let inserted = 0;
  for (const [first, last] of spansOf(days, spanEvents)) {
    const within = sql`e.time >= ${param.timestamp((first - 2) * DAY_MS)} AND e.time < ${param.timestamp((last + 3) * DAY_MS)} AND ${day} BETWEEN ${param.bigint(first)} AND ${param.bigint(last)}`;
    inserted += await runTree(
      c,
      sql`INSERT INTO person_days SELECT DISTINCT e.project_id, ${day}, e.person_id
            FROM events e
           WHERE e.project_id = ${param.varchar(projectId)} AND ${within} AND e.person_id IS NOT NULL AND ${COUNTED}`,
    );
    await runTree(c, sql`INSERT INTO person_value_days ${personValues(projectId, day, within)}`);
    await runTree(
      c,
      sql`INSERT INTO person_event_days SELECT * FROM (${personEvents(projectId, day, within)}) ORDER BY event, day`,
    );
  }
  await addCounts(c, projectId, timezone, raw('TRUE'), 1, span);
  return inserted;
}

/**
 * Adds the pairs that the table does not hold yet and the counts of the project's rows `where`
 * selects (over `events e`: rows just inserted), in `timezone`. `known`: their first and last
 * instants, when the caller has them.
 */
async function addRows(
  c: DuckDBConnection,
  projectId: string,
  timezone: string,
  where: SqlNode,
  known?: [number, number],
): Promise<void> {
  const span =
    known ??
    (await spanOf(
      c,
      sql`SELECT min(epoch_ms(e.time)), max(epoch_ms(e.time)) FROM events e
           WHERE e.project_id = ${param.varchar(projectId)} AND ${where}`,
    ));
  if (!span) return;
  const [from, to] = span;
  const clock = buildClock(timezone, from, to);
  const firstDay = Math.floor(localMs(clock, from) / DAY_MS);
  const lastDay = Math.floor(localMs(clock, to) / DAY_MS);
  await runTree(
    c,
    sql`INSERT INTO person_days
        SELECT n.project_id, n.day, n.person_id FROM (
          SELECT DISTINCT e.project_id, ${dayOf(localTime(clock))} AS day, e.person_id FROM events e
           WHERE ${where} AND e.project_id = ${param.varchar(projectId)}
             AND e.person_id IS NOT NULL AND ${COUNTED}) n
        WHERE NOT EXISTS (
          SELECT 1 FROM person_days d
           WHERE d.project_id = n.project_id AND d.day = n.day AND d.person_id = n.person_id
             AND d.day BETWEEN ${param.bigint(firstDay - 1)} AND ${param.bigint(lastDay + 1)})`,
  );
  // The same for the values (an unset one is NULL here: compared as a value, not as unknown).
  await runTree(
    c,
    sql`INSERT INTO person_value_days
        SELECT n.* FROM (${personValues(projectId, dayOf(localTime(clock)), where)}) n
        WHERE NOT EXISTS (
          SELECT 1 FROM person_value_days d
           WHERE d.project_id = n.project_id AND d.col = n.col AND d.day = n.day
             AND d.value IS NOT DISTINCT FROM n.value AND d.person_id = n.person_id
             AND d.day BETWEEN ${param.bigint(firstDay - 1)} AND ${param.bigint(lastDay + 1)})`,
  );
  // Per event name, day and person, in one statement: a key held is brought forward to the new
  // rows' first instant and values where those come no later, a key not held is added.
  await runTree(
    c,
    sql`MERGE INTO person_event_days AS d
        USING (${personEvents(projectId, dayOf(localTime(clock)), where)}) AS n
           ON d.project_id = n.project_id AND d.event = n.event AND d.day = n.day AND d.person_id = n.person_id
              AND d.day BETWEEN ${param.bigint(firstDay - 1)} AND ${param.bigint(lastDay + 1)}
         WHEN MATCHED AND n.first_ms <= d.first_ms THEN UPDATE SET ${MERGED}
         WHEN NOT MATCHED THEN INSERT VALUES (n.project_id, n.event, n.day, n.person_id, n.first_ms, ${raw(VALUE_DAYS_COLUMNS.map((c) => `n.${c}`).join(', '))})`,
  );
  await addCounts(c, projectId, timezone, where, 1, span);
}

/**
 * The events of the persons being recomputed, with the columns their pairs are made of: read
 * from the events in one scan, then by each of the tables, instead of a scan of every event per
 * table (at 10M events those four scans were seconds of every load that brought a link; issue 12).
 */
const PERSON_EVENTS = 'staging_person_events';
const PERSON_EVENTS_COLUMNS = ['project_id', 'time', 'event', 'person_id', ...VALUE_DAYS_COLUMNS];

/** The persons of the project in `STAGING`: their pairs again, from their events as they are now. */
async function recomputeProject(
  c: DuckDBConnection,
  projectId: string,
  timezone: string,
): Promise<void> {
  const persons = `SELECT person_id FROM ${STAGING} WHERE project_id = $1`;
  for (const table of PERSON_TABLES) {
    await c.run(`DELETE FROM ${table} WHERE project_id = $1 AND person_id IN (${persons})`, [
      projectId,
    ]);
  }
  const columns = PERSON_EVENTS_COLUMNS.join(', ');
  await c.run(
    `CREATE TEMP TABLE IF NOT EXISTS ${PERSON_EVENTS} AS SELECT ${columns} FROM events LIMIT 0`,
  );
  await c.run(
    `INSERT INTO ${PERSON_EVENTS} SELECT ${columns} FROM events
      WHERE project_id = $1 AND person_id IN (${persons})`,
    [projectId],
  );
  try {
    const span = await c.runAndReadAll(
      `SELECT min(epoch_ms(time)), max(epoch_ms(time)) FROM ${PERSON_EVENTS}`,
    );
    const [from, to] = span.getRows()[0] ?? [null, null];
    if (from == null || to == null) return;
    const day = localDayOf(timezone, msOf(from), msOf(to));
    const all = raw('TRUE');
    await runTree(
      c,
      sql`INSERT INTO person_days SELECT DISTINCT e.project_id, ${day}, e.person_id
            FROM ${raw(PERSON_EVENTS)} e
           WHERE e.project_id = ${param.varchar(projectId)} AND ${COUNTED}`,
    );
    await runTree(
      c,
      sql`INSERT INTO person_value_days ${personValues(projectId, day, all, PERSON_EVENTS)}`,
    );
    await runTree(
      c,
      sql`INSERT INTO person_event_days ${personEvents(projectId, day, all, PERSON_EVENTS)}`,
    );
  } finally {
    // After a failure the caller's ROLLBACK empties it (and this DELETE fails in the aborted
    // transaction).
    await c.run(`DELETE FROM ${PERSON_EVENTS}`).catch(() => undefined);
  }
}

/** Puts `persons` of the project in `STAGING` (on the writer, for `recomputeProject`). */
async function stagePersons(
  c: DuckDBConnection,
  projectId: string,
  persons: ReadonlySet<string>,
): Promise<void> {
  await c.run(`CREATE TEMP TABLE IF NOT EXISTS ${STAGING} (project_id VARCHAR, person_id VARCHAR)`);
  const appender = await c.createAppender(STAGING, 'main', 'temp');
  for (const person of persons) {
    appender.appendVarchar(projectId);
    appender.appendVarchar(person);
    appender.endRow();
  }
  appender.closeSync();
}

/** Where a build may be held (`ensure`'s `pause`, for tests): after its snapshot, before its commit. */
export type BuildPoint = 'snapshot' | 'inserted';

/** A project being built off the writer: what the writer did to it since the build's snapshot. */
interface Pending {
  /** Persons whose pairs a merge changed (their pairs are recomputed by the catch-up). */
  readonly persons: Set<string>;
  /**
   * A write the catch-up does not replay (an erasure or retention deletes rows the snapshot
   * counted; demo data is written without a load number): the catch-up builds on the writer.
   */
  invalid: boolean;
}

export class ProjectRollups {
  /** Built projects and the time zone of their days (mirrors `rollups_state`). */
  private readonly built = new Map<string, string>();
  private readonly building = new Map<string, Promise<void>>();
  /** Projects whose build has taken its snapshot and not yet caught up (see `build`). */
  private readonly pending = new Map<string, Pending>();
  /** Builds run one at a time (each reads a whole project), in the order asked. */
  private queue: Promise<unknown> = Promise.resolve();
  /** The running build's own connection (interrupted by `stopBuilds`). */
  private builder: DuckDBConnection | null = null;
  private stopped = false;
  /** Whether `collect` noted persons since the last `recompute` (in this transaction). */
  private collected = false;

  /** Builds that failed (not stopped), by project and zone: when queries may try again. */
  private readonly failures = new Map<string, { retryAtMs: number; waitMs: number }>();

  constructor(
    private readonly writer: SerialConnection,
    /** A new connection to the database (a build reads on one of its own). */
    private readonly connect: () => Promise<DuckDBConnection>,
    private readonly logger: Logger,
    private readonly options: {
      /** DuckDB's `memory_limit` in bytes, when set: sizes the build's spans. */
      memoryLimitBytes?: number | undefined;
      now?: () => number;
    } = {},
  ) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** Events per statement of `person_event_days`' build, under this database's memory limit. */
  private spanEvents(): number {
    return eventsPerSpan(this.options.memoryLimitBytes);
  }

  /** Reads which projects are built (once, when the database opens). */
  async load(c: DuckDBConnection): Promise<void> {
    const rows = await c.runAndReadAll('SELECT project_id, timezone FROM rollups_state');
    this.built.clear();
    for (const [projectId, timezone] of rows.getRowsJS() as [string, string][]) {
      this.built.set(projectId, timezone);
    }
  }

  /**
   * Whether queries on `projectId` in `timezone` may read the tables now. When not, they are
   * built in the background (off the writer, then caught up on it) and later queries read them.
   */
  ready(projectId: string, timezone: string): boolean {
    if (this.built.get(projectId) === timezone) return true;
    const key = `${projectId}\u0000${timezone}`;
    // A build that failed is not started again by every query (each would read the whole
    // project again, and fail again if it ran out of memory): after 5 minutes, then twice as
    // long after each new failure, up to 6 hours. Meanwhile queries read the events.
    const failed = this.failures.get(key);
    if (failed && this.now() < failed.retryAtMs) return false;
    // Queries during a build wait for the one running (one failure, one warning).
    if (this.building.has(key)) return false;
    void this.ensure(projectId, timezone).then(
      () => this.failures.delete(key),
      (error: unknown) => {
        // Stopped by a close or a reopen: built on a later query.
        if (this.stopped) return;
        const waitMs = failed ? Math.min(failed.waitMs * 2, RETRY_MOST_MS) : RETRY_FIRST_MS;
        this.failures.set(key, { retryAtMs: this.now() + waitMs, waitMs });
        this.logger.warn(
          'the per-day rollups could not be built: queries read the events, and one tries again after durationMs',
          {
            projectId,
            durationMs: waitMs,
            stack: safeStack(error),
          },
        );
      },
    );
    return false;
  }

  /**
   * Builds the tables for the project in `timezone` unless they are already; resolves when done.
   * `pause` (tests) holds the build at each point until it resolves, so that writes land meanwhile.
   */
  ensure(
    projectId: string,
    timezone: string,
    pause?: (at: BuildPoint) => Promise<void>,
  ): Promise<void> {
    if (this.built.get(projectId) === timezone) return Promise.resolve();
    const key = `${projectId}\u0000${timezone}`;
    let pending = this.building.get(key);
    if (!pending) {
      pending = this.queue
        .then(() => this.build(projectId, timezone, pause))
        .finally(() => this.building.delete(key));
      this.queue = pending.catch(() => undefined);
      this.building.set(key, pending);
    }
    return pending;
  }

  /**
   * Interrupts the running build and waits for every build asked so far to end (before the
   * database closes or reopens); builds asked later fail until `resumeBuilds`.
   */
  async stopBuilds(): Promise<void> {
    this.stopped = true;
    this.builder?.interrupt();
    await this.queue;
  }

  private checkStopped(): void {
    if (this.stopped) {
      throw new AppError('STORE_UNAVAILABLE', 'the database is closing or reopening');
    }
  }

  /** After a reopen: builds run again. */
  resumeBuilds(): void {
    this.stopped = false;
  }

  /**
   * Builds the project's rows in three steps, so that the writer is held only for short tasks:
   * 1. on the writer, between two of its tasks: the project's rows go (another zone's, or those
   *    of a build that failed after its commit), it is marked pending, and the build's own
   *    connection takes its snapshot — no write is in flight, so every write the snapshot misses
   *    commits later, with the project pending, and a load's rows carry a higher `load_seq`;
   * 2. on that connection, from the snapshot: the pairs and counts of every event, committed
   *    (no other transaction writes the project's rows: the writer keeps only built projects);
   * 3. on the writer, in one transaction: the pairs and counts of the rows loaded since the
   *    snapshot, the pairs of the persons merged since recomputed, and the mark. After an erasure,
   *    retention or demo data meanwhile, the rows are built again here instead.
   */
  private async build(
    projectId: string,
    timezone: string,
    pause?: (at: BuildPoint) => Promise<void>,
  ): Promise<void> {
    if (this.built.get(projectId) === timezone) return;
    this.checkStopped();
    const startedAt = Date.now();
    const builder = await this.connect();
    this.builder = builder;
    let inTransaction = false;
    try {
      const since = await this.writer.run(async (c) => {
        this.built.delete(projectId);
        await inTransactionOf(c, async () => {
          await deleteProject(c, projectId);
          await c.run('DELETE FROM rollups_state WHERE project_id = $1', [projectId]);
        });
        this.pending.set(projectId, { persons: new Set(), invalid: false });
        await builder.run('BEGIN TRANSACTION');
        inTransaction = true;
        // The snapshot starts with the transaction's first read: this one.
        const max = (await builder.runAndReadAll('SELECT max(load_seq) FROM events')).getRows();
        return max[0]?.[0] == null ? null : Number(max[0][0]);
      });
      await pause?.('snapshot');
      this.checkStopped();
      const rows = await insertProject(builder, projectId, timezone, this.spanEvents());
      await pause?.('inserted');
      this.checkStopped();
      await builder.run('COMMIT');
      inTransaction = false;
      const caughtUp = await this.writer.run((c) =>
        inTransactionOf(c, async () => {
          const state = this.pending.get(projectId);
          let rebuilt = 0;
          if (!state || state.invalid) {
            await deleteProject(c, projectId);
            rebuilt = await insertProject(c, projectId, timezone, this.spanEvents());
          } else {
            await addRows(
              c,
              projectId,
              timezone,
              since === null
                ? raw('e.load_seq IS NOT NULL')
                : sql`e.load_seq > ${param.bigint(since)}`,
            );
            if (state.persons.size > 0) {
              await stagePersons(c, projectId, state.persons);
              await recomputeProject(c, projectId, timezone);
              await c.run(`DELETE FROM ${STAGING}`);
            }
          }
          await c.run('INSERT OR REPLACE INTO rollups_state VALUES ($1, $2, now())', [
            projectId,
            timezone,
          ]);
          return { rebuilt: state === undefined || state.invalid, rows: rebuilt };
        }).then(
          (result) => {
            // Before the writer takes its next task: a load after this must keep the days.
            this.built.set(projectId, timezone);
            this.pending.delete(projectId);
            return result;
          },
          (error: unknown) => {
            this.pending.delete(projectId);
            throw error;
          },
        ),
      );
      this.logger.info('per-day rollups built', {
        rows: caughtUp.rebuilt ? caughtUp.rows : rows,
        durationMs: Date.now() - startedAt,
      });
    } finally {
      this.pending.delete(projectId);
      if (inTransaction) await builder.run('ROLLBACK').catch(() => undefined);
      this.builder = null;
      builder.closeSync();
    }
  }

  /** Whether any project is built (no upkeep is needed otherwise). */
  get active(): boolean {
    return this.built.size > 0 || this.pending.size > 0;
  }

  /**
   * After a load numbered `loadSeq` inserted events and its persons were resolved, inside its
   * transaction: the pairs of the inserted rows that the table does not have yet, and their counts.
   */
  async afterLoad(c: DuckDBConnection, loadSeq: number): Promise<void> {
    if (!this.active) return;
    const spans = await c.runAndReadAll(
      `SELECT project_id, min(epoch_ms(time)), max(epoch_ms(time)) FROM events
        WHERE load_seq = $1 GROUP BY project_id`,
      // As BIGINT, the column's type: the row groups of earlier loads are skipped by their
      // min/max instead of each value being cast and compared.
      [BigInt(loadSeq)],
    );
    for (const [projectId, from, to] of spans.getRows()) {
      const timezone = this.built.get(String(projectId));
      if (timezone === undefined || from == null || to == null) continue;
      await addRows(c, String(projectId), timezone, sql`e.load_seq = ${param.bigint(loadSeq)}`, [
        msOf(from),
        msOf(to),
      ]);
    }
  }

  /**
   * Before the project's rows `where` selects (over `events e`) are deleted, inside the
   * caller's transaction: their counts are taken away. (Their persons are `collect`ed apart.)
   */
  async beforeDelete(c: DuckDBConnection, projectId: string, where: SqlNode): Promise<void> {
    this.invalidate(projectId);
    const timezone = this.built.get(projectId);
    if (timezone !== undefined) await addCounts(c, projectId, timezone, where, -1);
  }

  /**
   * Notes the persons of the rows `condition` selects (SQL over `events`, no alias), inside the
   * caller's transaction; called before and after a write that changes or deletes those rows,
   * then `recompute` rebuilds the pairs of every person noted.
   */
  async collect(c: DuckDBConnection, condition: string, params: DuckDBValue[] = []): Promise<void> {
    if (!this.active) return;
    // Temporary tables are per connection and go with a rolled-back transaction or a reopen.
    await c.run(
      `CREATE TEMP TABLE IF NOT EXISTS ${STAGING} (project_id VARCHAR, person_id VARCHAR)`,
    );
    this.collected = true;
    await c.run(
      `INSERT INTO ${STAGING} SELECT DISTINCT project_id, person_id FROM events
        WHERE person_id IS NOT NULL AND (${condition})`,
      params,
    );
  }

  /** A write a pending build's catch-up cannot replay: that build's rows are made on the writer. */
  private invalidate(projectId: string): void {
    const state = this.pending.get(projectId);
    if (state) state.invalid = true;
  }

  /** After a ROLLBACK: what was noted went with the transaction. */
  rolledBack(): void {
    this.collected = false;
  }

  /** The pairs of every person noted by `collect`, from their events as they are now. */
  async recompute(c: DuckDBConnection): Promise<void> {
    if (!this.collected) return;
    this.collected = false;
    const projects = await c.runAndReadAll(`SELECT DISTINCT project_id FROM ${STAGING}`);
    for (const [value] of projects.getRows()) {
      const projectId = String(value);
      const timezone = this.built.get(projectId);
      if (timezone !== undefined) {
        await recomputeProject(c, projectId, timezone);
        continue;
      }
      // Being built: its catch-up recomputes them (a person noted in a write that rolls back is
      // recomputed for nothing, never wrongly).
      const state = this.pending.get(projectId);
      if (!state) continue;
      const persons = await c.runAndReadAll(
        `SELECT DISTINCT person_id FROM ${STAGING} WHERE project_id = $1`,
        [projectId],
      );
      for (const [person] of persons.getRows()) state.persons.add(String(person));
    }
    await c.run(`DELETE FROM ${STAGING}`);
  }

  /**
   * After retention deleted the project's events before `cutoffMs`, inside its transaction: the
   * days before the cut go, and the day it falls in keeps only the persons and counts of the events
   * still in it.
   */
  async afterRetention(c: DuckDBConnection, projectId: string, cutoffMs: number): Promise<void> {
    this.invalidate(projectId);
    const timezone = this.built.get(projectId);
    if (timezone === undefined) return;
    // Offsets change by hours at most: two days after the cut, every local day is past it.
    const untilMs = cutoffMs + 2 * DAY_MS;
    const clock = buildClock(timezone, cutoffMs, untilMs);
    const cutDay = Math.floor(localMs(clock, cutoffMs) / DAY_MS);
    const remaining = sql`SELECT e.project_id, ${dayOf(localTime(clock))} AS day, e.person_id, e.event FROM events e
             WHERE e.project_id = ${param.varchar(projectId)} AND e.time >= ${param.timestamp(cutoffMs)}
               AND e.time < ${param.timestamp(untilMs)}`;
    await c.run('DELETE FROM person_days WHERE project_id = $1 AND day <= $2', [projectId, cutDay]);
    await runTree(
      c,
      sql`INSERT INTO person_days SELECT DISTINCT project_id, day, person_id FROM (${remaining} AND e.person_id IS NOT NULL AND ${COUNTED})
           WHERE day <= ${param.bigint(cutDay)}`,
    );
    await c.run('DELETE FROM event_days WHERE project_id = $1 AND day <= $2', [projectId, cutDay]);
    await runTree(
      c,
      sql`INSERT INTO event_days SELECT project_id, day, event, count(*) FROM (${remaining})
           WHERE day <= ${param.bigint(cutDay)} GROUP BY ALL`,
    );
    const kept = sql`e.time >= ${param.timestamp(cutoffMs)} AND e.time < ${param.timestamp(untilMs)}`;
    await c.run('DELETE FROM person_value_days WHERE project_id = $1 AND day <= $2', [
      projectId,
      cutDay,
    ]);
    await runTree(
      c,
      sql`INSERT INTO person_value_days SELECT * FROM (${personValues(projectId, dayOf(localTime(clock)), kept)})
           WHERE day <= ${param.bigint(cutDay)}`,
    );
    await c.run('DELETE FROM person_event_days WHERE project_id = $1 AND day <= $2', [
      projectId,
      cutDay,
    ]);
    await runTree(
      c,
      sql`INSERT INTO person_event_days SELECT * FROM (${personEvents(projectId, dayOf(localTime(clock)), kept)})
           WHERE day <= ${param.bigint(cutDay)}`,
    );
    await c.run('DELETE FROM value_days WHERE project_id = $1 AND day <= $2', [projectId, cutDay]);
    await addCounts(
      c,
      projectId,
      timezone,
      sql`${kept} AND ${dayOf(localTime(clock))} <= ${param.bigint(cutDay)}`,
      1,
      undefined,
      ['value_days'],
    );
  }

  /**
   * After a write outside the upkeep above (the demo generator, on a connection of its own, not
   * in a transaction): the project's rollups are built again, in one transaction.
   */
  async rebuildIfBuilt(c: DuckDBConnection, projectId: string): Promise<void> {
    this.invalidate(projectId);
    const timezone = this.built.get(projectId);
    if (timezone === undefined) return;
    await c.run('BEGIN TRANSACTION');
    try {
      await deleteProject(c, projectId);
      await this.collect(c, 'project_id = $1', [projectId]);
      await this.recompute(c);
      await addCounts(c, projectId, timezone, raw('TRUE'), 1);
      await c.run('COMMIT');
    } catch (error) {
      await c.run('ROLLBACK').catch(() => undefined);
      this.collected = false;
      throw error;
    }
  }
}
