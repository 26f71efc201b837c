// Per-project rollups of the events, read by the most common trends instead of every event
// (issue 12: at 10M events a daily trend scanned and hashed every row). Two tables, in the
// project's time zone, for the events that "any event" counts or all of them:
// - `person_days`: one row per (project, local day, resolved person) who did any event but SDK
//   bookkeeping that day; daily, weekly and monthly active users read ~1 row per person and
//   active day (~800k at 10M events);
// - `event_days`: one row per (project, local day, event name) with its number of events, SDK
//   bookkeeping included (a query leaves it out by name); total events, of any event or of one,
//   by day, week or month, read a few thousand rows.
//
// Both are built together per project on first use (a query asks `ready`, which answers false
// and builds them in the background; the query scans the events meanwhile), for the time zone the
// project had then; a project whose time zone changed is rebuilt the same way. Once built they
// are kept exactly equal to a rebuild, inside the transaction of every write that changes events,
// so a query never sees the tables and the events disagree:
// - a load adds the pairs and the counts of the rows it inserted (found by their `load_seq`, the
//   load's number);
// - a change of person (a retroactive merge, an erasure) recomputes every person it touched,
//   before and after the change, from that person's events; counts do not depend on persons;
// - an erasure takes away the counts of the rows it deletes, before deleting them;
// - retention drops the days before the cut and recomputes the day it falls in.
// Each pair is held once (a day's users are its row count, compile.ts): every insert is DISTINCT
// and leaves out the pairs already held or first deletes those of the persons it recomputes. Each
// (day, event) is held once too (its primary key), counts added to it in place and rows gone to 0
// deleted. A missed change is not harmless: the property test in rollups.test.ts compares both
// tables, row for row, with what the events give after random histories of every write.
import type { DuckDBConnection, DuckDBType, DuckDBValue } from '@duckdb/node-api';
import { buildClock, DAY_MS, localMs } from '../../query/clock.js';
import { dayOf, localTime } from '../../query/compile.js';
import { SDK_BOOKKEEPING_EVENTS } from '../../query/sdk-events.js';
import { param, raw, sql, type SqlNode } from '../../query/sql.js';
import { safeStack, type Logger } from '../../shared/log.js';
import { DUCKDB_DIALECT } from './dialect.js';
import { bindValue } from './bind.js';
import type { SerialConnection } from './serial-connection.js';

/** "Any event": SDK bookkeeping events do not make a person active (query/sdk-events.ts). */
const COUNTED = raw(
  `(e.event < '$' OR e.event >= '%' OR e.event NOT IN (${SDK_BOOKKEEPING_EVENTS.map((name) => `'${name}'`).join(', ')}))`,
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

/**
 * Adds to `event_days` the counts per (local day, event) of the project's rows `where` selects
 * (over `events e`), in the project's `timezone`; `sign` -1 takes them away (rows about to be
 * deleted), and a count gone to 0 goes. `known`: the rows' first and last instants, when the
 * caller has them.
 */
async function addCounts(
  c: DuckDBConnection,
  projectId: string,
  timezone: string,
  where: SqlNode,
  sign: 1 | -1,
  known?: [number, number],
): Promise<void> {
  const rows = sql`FROM events e WHERE e.project_id = ${param.varchar(projectId)} AND ${where}`;
  const span =
    known ?? (await spanOf(c, sql`SELECT min(epoch_ms(e.time)), max(epoch_ms(e.time)) ${rows}`));
  if (!span) return;
  await runTree(
    c,
    sql`INSERT INTO event_days
        SELECT e.project_id, ${localDayOf(timezone, ...span)} AS day, e.event, ${raw(sign < 0 ? '-' : '')}count(*) ${rows}
         GROUP BY ALL
        ON CONFLICT DO UPDATE SET n = n + EXCLUDED.n`,
  );
  if (sign < 0) await c.run('DELETE FROM event_days WHERE project_id = $1 AND n = 0', [projectId]);
}

const msOf = (value: unknown): number => Number(value);

/** Persons whose pairs are recomputed at the end of a write (see `collect`). */
const STAGING = 'staging_person_days';

export class ProjectRollups {
  /** Built projects and the time zone of their days (mirrors `rollups_state`). */
  private readonly built = new Map<string, string>();
  private readonly building = new Map<string, Promise<void>>();
  /** Whether `collect` noted persons since the last `recompute` (in this transaction). */
  private collected = false;

  constructor(
    private readonly writer: SerialConnection,
    private readonly logger: Logger,
  ) {}

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
   * built in the background (on the writer connection, between loads) and later queries read them.
   */
  ready(projectId: string, timezone: string): boolean {
    if (this.built.get(projectId) === timezone) return true;
    void this.ensure(projectId, timezone).catch((error: unknown) => {
      this.logger.warn('the per-day rollups could not be built', {
        stack: safeStack(error),
      });
    });
    return false;
  }

  /** Builds the tables for the project in `timezone` unless they are already; resolves when done. */
  ensure(projectId: string, timezone: string): Promise<void> {
    if (this.built.get(projectId) === timezone) return Promise.resolve();
    const key = `${projectId}\u0000${timezone}`;
    let pending = this.building.get(key);
    if (!pending) {
      pending = this.build(projectId, timezone).finally(() => this.building.delete(key));
      this.building.set(key, pending);
    }
    return pending;
  }

  private async build(projectId: string, timezone: string): Promise<void> {
    const startedAt = Date.now();
    const rows = await this.writer.run(async (c) => {
      await c.run('BEGIN TRANSACTION');
      try {
        await c.run('DELETE FROM person_days WHERE project_id = $1', [projectId]);
        await c.run('DELETE FROM event_days WHERE project_id = $1', [projectId]);
        const span = await spanOf(
          c,
          sql`SELECT min(epoch_ms(time)), max(epoch_ms(time)) FROM events WHERE project_id = ${param.varchar(projectId)}`,
        );
        let inserted = 0;
        if (span) {
          inserted = await runTree(
            c,
            sql`INSERT INTO person_days SELECT DISTINCT e.project_id, ${localDayOf(timezone, ...span)}, e.person_id
                  FROM events e
                 WHERE e.project_id = ${param.varchar(projectId)} AND e.person_id IS NOT NULL AND ${COUNTED}`,
          );
          await addCounts(c, projectId, timezone, raw('TRUE'), 1);
        }
        await c.run('INSERT OR REPLACE INTO rollups_state VALUES ($1, $2, now())', [
          projectId,
          timezone,
        ]);
        // A rebuild for another zone: no query reads the old zone's mark while the new days
        // commit (they scan the events until the mark below).
        this.built.delete(projectId);
        await c.run('COMMIT');
        // Before the writer takes its next task: a load queued behind this build must keep the
        // project's days up to date.
        this.built.set(projectId, timezone);
        return inserted;
      } catch (error) {
        await c.run('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
    this.logger.info('per-day rollups built', {
      rows,
      durationMs: Date.now() - startedAt,
    });
  }

  /** Whether any project is built (no upkeep is needed otherwise). */
  get active(): boolean {
    return this.built.size > 0;
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
      const clock = buildClock(timezone, msOf(from), msOf(to));
      const firstDay = Math.floor(localMs(clock, msOf(from)) / DAY_MS);
      const lastDay = Math.floor(localMs(clock, msOf(to)) / DAY_MS);
      await runTree(
        c,
        sql`INSERT INTO person_days
            SELECT n.project_id, n.day, n.person_id FROM (
              SELECT DISTINCT e.project_id, ${dayOf(localTime(clock))} AS day, e.person_id FROM events e
               WHERE e.load_seq = ${param.bigint(loadSeq)} AND e.project_id = ${param.varchar(String(projectId))}
                 AND e.person_id IS NOT NULL AND ${COUNTED}) n
            WHERE NOT EXISTS (
              SELECT 1 FROM person_days d
               WHERE d.project_id = n.project_id AND d.day = n.day AND d.person_id = n.person_id
                 AND d.day BETWEEN ${param.bigint(firstDay - 1)} AND ${param.bigint(lastDay + 1)})`,
      );
      await addCounts(
        c,
        String(projectId),
        timezone,
        sql`e.load_seq = ${param.bigint(loadSeq)}`,
        1,
        [msOf(from), msOf(to)],
      );
    }
  }

  /**
   * Before the project's rows `where` selects (over `events e`) are deleted, inside the
   * caller's transaction: their counts are taken away. (Their persons are `collect`ed apart.)
   */
  async beforeDelete(c: DuckDBConnection, projectId: string, where: SqlNode): Promise<void> {
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
      if (timezone === undefined) continue;
      const persons = `SELECT person_id FROM ${STAGING} WHERE project_id = $1`;
      await c.run(`DELETE FROM person_days WHERE project_id = $1 AND person_id IN (${persons})`, [
        projectId,
      ]);
      const span = await c.runAndReadAll(
        `SELECT min(epoch_ms(time)), max(epoch_ms(time)) FROM events
          WHERE project_id = $1 AND person_id IN (${persons})`,
        [projectId],
      );
      const [from, to] = span.getRows()[0] ?? [null, null];
      if (from == null || to == null) continue;
      await runTree(
        c,
        sql`INSERT INTO person_days SELECT DISTINCT e.project_id, ${localDayOf(timezone, msOf(from), msOf(to))}, e.person_id
              FROM events e
             WHERE e.project_id = ${param.varchar(projectId)} AND ${COUNTED}
               AND e.person_id IN (SELECT person_id FROM ${raw(STAGING)} WHERE project_id = ${param.varchar(projectId)})`,
      );
    }
    await c.run(`DELETE FROM ${STAGING}`);
  }

  /**
   * After retention deleted the project's events before `cutoffMs`, inside its transaction: the
   * days before the cut go, and the day it falls in keeps only the persons and counts of the events
   * still in it.
   */
  async afterRetention(c: DuckDBConnection, projectId: string, cutoffMs: number): Promise<void> {
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
  }

  /**
   * After a write outside the upkeep above (the demo generator, on a connection of its own, not
   * in a transaction): the project's rollups are built again, in one transaction.
   */
  async rebuildIfBuilt(c: DuckDBConnection, projectId: string): Promise<void> {
    const timezone = this.built.get(projectId);
    if (timezone === undefined) return;
    await c.run('BEGIN TRANSACTION');
    try {
      await c.run('DELETE FROM person_days WHERE project_id = $1', [projectId]);
      await c.run('DELETE FROM event_days WHERE project_id = $1', [projectId]);
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
