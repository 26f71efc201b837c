// The days each person was active: one row per (project, local day, resolved person) for the
// events that "any event" counts (SDK bookkeeping left out), in the project's time zone. Daily,
// weekly and monthly active users read these ~1 row per person and active day instead of every
// event (issue 12: a daily unique-users trend over 10M events scanned and hashed 10M rows; the
// table holds ~800k there).
//
// The table is built per project on first use (a query asks `ready`, which answers false and
// builds it in the background; the query scans the events meanwhile), for the time zone the
// project had then; a project whose time zone changed is rebuilt the same way. Once built it is
// kept exactly equal to a rebuild, inside the transaction of every write that changes events, so
// a query never sees the table and the events disagree:
// - a load adds the pairs of the rows it inserted (found by their `load_seq`, the load's number);
// - a change of person (a retroactive merge, an erasure) recomputes every person it touched,
//   before and after the change, from that person's events;
// - retention drops the days before the cut and recomputes the day it falls in.
// Each pair is held once (a day's users are its row count, compile.ts): every insert is DISTINCT
// and leaves out the pairs already held or first deletes those of the persons it recomputes. The
// pairs are derived from the events as they are, so recomputing a person who did not change is
// harmless; a missed change is not, and the property test in person-days.test.ts compares the
// table, row for row, with the pairs of the events after random histories of every write.
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
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

async function runTree(c: DuckDBConnection, tree: SqlNode): Promise<number> {
  const rendered = DUCKDB_DIALECT.render(tree);
  const bound = rendered.params.map(bindValue);
  const result = await c.run(
    rendered.text,
    bound.map((b) => b.value),
    bound.map((b) => b.type),
  );
  return Number(result.rowsChanged);
}

const msOf = (value: unknown): number => Number(value);

/** Persons whose pairs are recomputed at the end of a write (see `collect`). */
const STAGING = 'staging_person_days';

export class PersonDays {
  /** Built projects and the time zone of their days (mirrors `person_days_state`). */
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
    const rows = await c.runAndReadAll('SELECT project_id, timezone FROM person_days_state');
    this.built.clear();
    for (const [projectId, timezone] of rows.getRowsJS() as [string, string][]) {
      this.built.set(projectId, timezone);
    }
  }

  /**
   * Whether queries on `projectId` in `timezone` may read the table now. When not, it is built
   * in the background (on the writer connection, between loads) and later queries read it.
   */
  ready(projectId: string, timezone: string): boolean {
    if (this.built.get(projectId) === timezone) return true;
    void this.ensure(projectId, timezone).catch((error: unknown) => {
      this.logger.warn('the per-day person table could not be built', {
        stack: safeStack(error),
      });
    });
    return false;
  }

  /** Builds the table for the project in `timezone` unless it is already; resolves when done. */
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
        const span = await c.runAndReadAll(
          'SELECT min(epoch_ms(time)), max(epoch_ms(time)) FROM events WHERE project_id = $1',
          [projectId],
        );
        const [from, to] = span.getRows()[0] ?? [null, null];
        let inserted = 0;
        if (from != null && to != null) {
          inserted = await runTree(
            c,
            sql`INSERT INTO person_days SELECT DISTINCT e.project_id, ${localDayOf(timezone, msOf(from), msOf(to))}, e.person_id
                  FROM events e
                 WHERE e.project_id = ${param.varchar(projectId)} AND e.person_id IS NOT NULL AND ${COUNTED}`,
          );
        }
        await c.run('INSERT OR REPLACE INTO person_days_state VALUES ($1, $2, now())', [
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
    this.logger.info('per-day person table built', {
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
   * transaction: the pairs of the inserted rows that the table does not have yet.
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
    }
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
   * days before the cut go, and the day it falls in keeps only the persons still seen in it.
   */
  async afterRetention(c: DuckDBConnection, projectId: string, cutoffMs: number): Promise<void> {
    const timezone = this.built.get(projectId);
    if (timezone === undefined) return;
    // Offsets change by hours at most: two days after the cut, every local day is past it.
    const untilMs = cutoffMs + 2 * DAY_MS;
    const clock = buildClock(timezone, cutoffMs, untilMs);
    const cutDay = Math.floor(localMs(clock, cutoffMs) / DAY_MS);
    await c.run('DELETE FROM person_days WHERE project_id = $1 AND day <= $2', [projectId, cutDay]);
    await runTree(
      c,
      sql`INSERT INTO person_days SELECT DISTINCT project_id, day, person_id FROM (
            SELECT e.project_id, ${dayOf(localTime(clock))} AS day, e.person_id FROM events e
             WHERE e.project_id = ${param.varchar(projectId)} AND e.time >= ${param.timestamp(cutoffMs)}
               AND e.time < ${param.timestamp(untilMs)} AND e.person_id IS NOT NULL AND ${COUNTED})
           WHERE day <= ${param.bigint(cutDay)}`,
    );
  }

  /**
   * After a write outside the upkeep above (the demo generator, on a connection of its own, not
   * in a transaction): the project's pairs are built again, in one transaction.
   */
  async rebuildIfBuilt(c: DuckDBConnection, projectId: string): Promise<void> {
    if (!this.built.has(projectId)) return;
    await c.run('BEGIN TRANSACTION');
    try {
      await c.run('DELETE FROM person_days WHERE project_id = $1', [projectId]);
      await this.collect(c, 'project_id = $1', [projectId]);
      await this.recompute(c);
      await c.run('COMMIT');
    } catch (error) {
      await c.run('ROLLBACK').catch(() => undefined);
      this.collected = false;
      throw error;
    }
  }
}
