// One user: the SQL behind a pseudonymous user's profile and event stream (newest first, paged).
// The user is resolved through identity links exactly as every query resolves users, so that the
// stream of a person is the set of events the engine counts for them. Row-level reads: callers
// go through the audited service (projects/users.ts), never straight here.
import { STANDARD_EVENT_PROPERTIES } from '../shared/event-schema.js';
import type { EventRow } from '../store/types.js';
import type { Dialect } from './dialect.js';
import type { QueryExecutor, RunOptions } from './execute.js';
import { dedupText } from './compile.js';
import { rowObjects } from './rows.js';
import { call, join, param, raw, sql, withCtes, type SqlNode } from './sql.js';

/** Most events one page may hold. */
export const USER_EVENTS_MAX_PAGE = 1000;
/** Most linked ids a profile lists. */
export const USER_ALIASES_MAX = 1000;

/** The person an id stands for, their linked ids, current profile and first/last seen. */
export interface UserProfileRows {
  /** The id asked for. */
  id: string;
  /** The resolved person: the id's canonical id when it is linked, else the id itself. */
  person: string;
  /** Ids linked to the person (devices, anonymous ids), sorted; at most USER_ALIASES_MAX. */
  aliases: string[];
  /** The person's current profile properties, or null when they have none. */
  properties: Record<string, unknown> | null;
  profileUpdatedAtMs: number | null;
  eventCount: number;
  firstSeenMs: number | null;
  lastSeenMs: number | null;
}

/** Where a page starts: before an instant (exclusive), or after a (time, key) cursor. */
export interface UserEventsPage {
  beforeMs: number | null;
  cursor: { timeMs: number; key: string } | null;
  limit: number;
}

/** One event of a stream, with its stable position in the order (`key`: text of the dedup key). */
export interface UserEvent {
  row: EventRow;
  key: string;
}

/**
 * The statements behind the reader, per backend: DuckDB's below (DUCKDB_USER_STATEMENTS, written
 * with CTEs), ClickHouse 18.16's in compile-clickhouse.ts. Each returns the same columns, and the
 * same rows in the same order, for the same data: the differential tests hold them to it.
 */
export interface UserStreamStatements {
  /** The link of `id` (column `canonical_id`): no row when it has none. */
  link(projectId: string, id: string): SqlNode;
  /**
   * One row about the person: `n` (their events), `first_ms`, `last_ms` (null without events),
   * `properties` (their current profile as JSON text, or null) and `updated_ms`.
   */
  stats(projectId: string, person: string): SqlNode;
  /** The ids linked to the person (column `alias_id`), sorted, at most USER_ALIASES_MAX. */
  aliases(projectId: string, person: string): SqlNode;
  /**
   * One page of the person's events (at most `page.limit + 1`), newest first by time then by the
   * text of the dedup key: columns `t` (epoch ms), `k` (the key's decimal text), `event`,
   * `distinct_id`, `device_id`, `user_id`, `insert_id`, every standard column, `props` (JSON).
   */
  events(projectId: string, person: string, page: UserEventsPage): SqlNode;
}

// The resolution rule of compile.ts (RESOLVED_USER with the l1/l2 joins), spelled out here: the
// differential test holds both to the reference's resolver.
const RESOLVED =
  "coalesce(nullif(e.user_id, ''), l1.canonical_id, l2.canonical_id, nullif(e.distinct_id, ''))";
const JOINS =
  'LEFT JOIN links l1 ON l1.alias_id = e.device_id LEFT JOIN links l2 ON l2.alias_id = e.distinct_id';

/** The typed columns of an event a stream returns, after its ids (users.ts and its backends). */
export const USER_EVENT_COLUMNS = [
  'event',
  'distinct_id',
  'device_id',
  'user_id',
  'insert_id',
  ...STANDARD_EVENT_PROPERTIES.map((d) => d.column),
] as const;

/** The project's links, and the ids whose events may resolve to `person`. */
function personCtes(projectId: string, person: string): { name: string; body: SqlNode }[] {
  return [
    {
      name: 'links',
      body: sql`SELECT alias_id, canonical_id FROM identity_links WHERE project_id = ${param.varchar(projectId)}`,
    },
    {
      name: 'ids',
      body: sql`SELECT alias_id AS id FROM links WHERE canonical_id = ${param.varchar(person)} UNION ALL SELECT ${param.varchar(person)} AS id`,
    },
  ];
}

/**
 * Events whose resolved user is `person`. Candidates are found by id first (an event resolves
 * to the person only through its user id, a linked device or distinct id, or its distinct id),
 * then the full rule decides: an event carrying another user id belongs to that user.
 */
function personEvents(projectId: string, person: string): SqlNode {
  return sql`e.project_id = ${param.varchar(projectId)} AND (e.user_id = ${param.varchar(person)} OR e.device_id IN (SELECT id FROM ids) OR e.distinct_id IN (SELECT id FROM ids)) AND ${raw(RESOLVED)} = ${param.varchar(person)}`;
}

/** The user-stream statements of the default (DuckDB) compiler. */
export const DUCKDB_USER_STATEMENTS: UserStreamStatements = {
  link: (projectId, id) =>
    sql`SELECT canonical_id FROM identity_links WHERE project_id = ${param.varchar(projectId)} AND alias_id = ${param.varchar(id)}`,

  stats(projectId, person) {
    const project = param.varchar(projectId);
    const who = param.varchar(person);
    return withCtes(
      [
        ...personCtes(projectId, person),
        {
          name: 'mine',
          body: sql`SELECT e.time FROM events e ${raw(JOINS)} WHERE ${personEvents(projectId, person)}`,
        },
      ],
      sql`SELECT (SELECT count(*) FROM mine) AS n, (SELECT ${call('epoch_ms', raw('min(time)'))} FROM mine) AS first_ms, (SELECT ${call('epoch_ms', raw('max(time)'))} FROM mine) AS last_ms, (SELECT CAST(p.properties AS VARCHAR) FROM profiles p WHERE p.project_id = ${project} AND p.group_key = '' AND p.profile_id = ${who}) AS properties, (SELECT ${call('epoch_ms', raw('p.updated_at'))} FROM profiles p WHERE p.project_id = ${project} AND p.group_key = '' AND p.profile_id = ${who}) AS updated_ms`,
    );
  },

  aliases: (projectId, person) =>
    sql`SELECT alias_id FROM identity_links WHERE project_id = ${param.varchar(projectId)} AND canonical_id = ${param.varchar(person)} ORDER BY alias_id LIMIT ${param.bigint(USER_ALIASES_MAX)}`,

  events(projectId, person, page) {
    const conditions: SqlNode[] = [personEvents(projectId, person)];
    const t = call('epoch_ms', raw('e.time'));
    // The key's decimal text (ties of an instant; cursors carry it), through the cheap cast.
    const k = dedupText('e.dedup_key');
    if (page.beforeMs !== null) conditions.push(sql`${t} < ${param.bigint(page.beforeMs)}`);
    if (page.cursor !== null) {
      const at = param.bigint(page.cursor.timeMs);
      conditions.push(
        sql`e.time < ${param.timestamp(page.cursor.timeMs + 1)} AND (${t} < ${at} OR (${t} = ${at} AND ${k} < ${param.varchar(page.cursor.key)}))`,
      );
    }
    const columns = USER_EVENT_COLUMNS.map((c) => `e.${c}`).join(', ');
    return withCtes(
      personCtes(projectId, person),
      sql`SELECT ${t} AS t, ${k} AS k, ${raw(columns)}, CAST(e.properties AS VARCHAR) AS props FROM events e ${raw(JOINS)} WHERE ${join(conditions, ' AND ')} ORDER BY t DESC, k DESC LIMIT ${param.bigint(page.limit + 1)}`,
    );
  },
};

const text = (v: unknown): string | null => {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
};

/** Reads one user's rows through the query executor (same connections, deadline and dialect). */
export class UserStreamReader {
  constructor(
    private readonly executor: QueryExecutor,
    private readonly dialect: Dialect,
    private readonly options: () => RunOptions,
    private readonly statements: UserStreamStatements = DUCKDB_USER_STATEMENTS,
  ) {}

  private async rows(node: SqlNode) {
    return rowObjects(await this.executor.run(this.dialect.render(node), this.options()));
  }

  /** The person `id` stands for (its canonical id when linked). */
  async resolve(projectId: string, id: string): Promise<string> {
    const rows = await this.rows(this.statements.link(projectId, id));
    return text(rows[0]?.canonical_id) ?? id;
  }

  /** The profile of the person `id` stands for; null when nothing of theirs exists. */
  async profile(projectId: string, id: string): Promise<UserProfileRows | null> {
    const person = await this.resolve(projectId, id);
    const [stats] = await this.rows(this.statements.stats(projectId, person));
    const aliases = (await this.rows(this.statements.aliases(projectId, person))).map((r) =>
      String(r.alias_id),
    );
    const count = Number(stats?.n ?? 0);
    const properties = text(stats?.properties);
    if (count === 0 && properties === null && aliases.length === 0) return null;
    const ms = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
    return {
      id,
      person,
      aliases,
      properties: properties === null ? null : (JSON.parse(properties) as Record<string, unknown>),
      profileUpdatedAtMs: ms(stats?.updated_ms),
      eventCount: count,
      firstSeenMs: ms(stats?.first_ms),
      lastSeenMs: ms(stats?.last_ms),
    };
  }

  /**
   * One page of the person's events, newest first: by time, then by the text of the dedup key
   * (both descending), so that a cursor splits ties exactly. Reads `limit + 1` rows to know
   * whether another page follows.
   */
  async events(projectId: string, person: string, page: UserEventsPage): Promise<UserEvent[]> {
    const rows = await this.rows(this.statements.events(projectId, person, page));
    return rows.map((r) => {
      const standard = Object.fromEntries(
        STANDARD_EVENT_PROPERTIES.map((d) => [d.field, text(r[d.column])]),
      ) as Pick<EventRow, (typeof STANDARD_EVENT_PROPERTIES)[number]['field']>;
      return {
        key: String(r.k),
        row: {
          projectId,
          dedupKey: BigInt(String(r.k)),
          timeMs: Number(r.t),
          event: String(r.event),
          distinctId: String(r.distinct_id),
          deviceId: text(r.device_id),
          userId: text(r.user_id),
          insertId: String(r.insert_id),
          ...standard,
          properties: JSON.parse(String(r.props)) as EventRow['properties'],
          receivedAtMs: 0,
        },
      };
    });
  }
}
