// The query engine's one entry point and choke point: every query, valid or not, passes through
// `QueryEngine.run`, which records who asked what and how many rows came back (the audit log
// hangs here), then runs the stages model → plan → compile → execute → format.
import { AppError, isAppError, type ErrorCode } from '../shared/errors.js';
import type { RequestSource } from '../shared/request-source.js';
import {
  namedCohorts,
  candidateNames,
  compileKnownKeys as defaultKnownKeys,
  compileSeen as defaultSeen,
  namedProperties,
  unknownPropertiesError,
  unseenNames,
} from './catalog.js';
import type { CohortContext, CohortSource } from './cohorts.js';
import { compile, segmentsOf, type CompiledQuery } from './compile.js';
import {
  readsEventDays,
  readsLifecycleDays,
  readsPersonDays,
  readsPersonEventDays,
  readsValueDays,
  rollingPlans,
  type Plan,
  type TrendsPlan,
} from './plan.js';
import type { Dialect } from './dialect.js';
import { execute, type ExecutedQuery, type QueryExecutor } from './execute.js';
import { format, type QueryResult } from './format.js';
import { parseQuery, type Query, type QueryKind } from './model.js';
import { DEFAULT_PLAN_LIMITS, plan, type PlanLimits } from './plan.js';
import { UserStreamReader, type UserStreamStatements } from './users.js';
import { todayIn } from './relative-dates.js';

/** Who is asking. Structurally compatible with the HTTP layer's Principal. */
export interface QueryPrincipal {
  projectId: string;
  /** Stable, non-secret label of the credential (e.g. `secret-key:1a2b…`). */
  actor: string;
  /** Where the request came from (coarse; for the audit log). */
  source?: RequestSource;
}

/** The project a query runs against. */
export interface QueryProject {
  id: string;
  /** IANA time zone; dates and buckets are local to it. */
  timezone: string;
}

/** One line of the query record. */
export interface QueryAuditEntry {
  atMs: number;
  actor: string;
  projectId: string;
  /** The query kind, or null when the body was not a valid query. */
  kind: QueryKind | null;
  /** The validated query (what was asked), or null when invalid. */
  query: Query | null;
  /** Rows the store returned for it. */
  rows: number;
  durationMs: number;
  outcome: 'ok' | ErrorCode;
  source: RequestSource | undefined;
  /** The result released to the caller (the audit log reads which subjects it names). */
  result: QueryResult | null;
}

/** Port: where query records go (today a log line; the tamper-evident audit log later). */
export interface QueryAuditSink {
  /** Awaited before the result is released: a record that cannot be written fails the query. */
  record(entry: QueryAuditEntry): void | Promise<void>;
  /** Refuses a principal before anything runs (a suspended one); optional. */
  admit?(actor: string): void;
}

export interface QueryLimits extends PlanLimits {
  /** Per-query time limit; the running statement is cancelled when it passes. */
  timeoutMs: number;
  /** Most rows the store may return for one query. */
  maxRows: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = {
  ...DEFAULT_PLAN_LIMITS,
  timeoutMs: 30_000,
  maxRows: 1_000_000,
};

/** How plans become statements: compile.ts by default; a backend may bring statement shapes of
 * its own (ClickHouse 18.16 has no CTEs, ASOF joins or window functions). */
export interface QueryCompiler {
  compile(plan: Plan): CompiledQuery;
  compileSeen(projectId: string, names: string[]): CompiledQuery;
  compileKnownKeys(projectId: string): CompiledQuery;
  /**
   * The statements of the user profile and event stream in this backend's shapes (users.ts's,
   * written with CTEs, when absent).
   */
  userStreams?: UserStreamStatements;
}

const DEFAULT_COMPILER: QueryCompiler = {
  compile,
  compileSeen: defaultSeen,
  compileKnownKeys: defaultKnownKeys,
};

export interface QueryEngineDeps {
  executor: QueryExecutor;
  dialect: Dialect;
  compiler?: QueryCompiler;
  audit: QueryAuditSink;
  /** Saved cohorts (cohort filters); without it, a query naming a cohort is refused. */
  cohorts?: CohortSource;
  limits?: Partial<QueryLimits>;
  now?: () => number;
  /** The instant relative days ("today", "-7d") resolve against; default: `now`. */
  calendarNow?: () => number;
  /** The store's per-day rollups (the embedded store); absent: series read events. */
  rollups?: RollupsSource;
}

/**
 * Port: whether the store keeps per-day rollups of a project's events in a time zone (the
 * `person_days`, `event_days`, `value_days` and `person_value_days` relations compile.ts reads). `ready` answers at once; a store
 * that has not built them yet may start to, and the query reads the events meanwhile.
 */
export interface RollupsSource {
  ready(projectId: string, timezone: string): boolean;
}

/**
 * Most filter values in one query (each item of an `in` / `not_in` list counts one). Each is
 * validated, bound and HMAC'd for the audit log on the thread serving HTTP: a 237 KB query of
 * 60,000 of them held that thread ~650 ms on its own (bench/query-abuse.ts `in-values-60k`).
 */
export const MAX_FILTER_VALUES = 10_000;

/** Filter values in a query body as sent (counted before anything else reads it). */
function filterValueCount(value: unknown, key: string | null = null): number {
  if (key === 'value') return Array.isArray(value) ? value.length : 1;
  let n = 0;
  if (Array.isArray(value)) for (const v of value) n += filterValueCount(v);
  else if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) n += filterValueCount(v, k);
  return n;
}

/**
 * A rolling trend's widened plan with each series (and each of the previous period's) split by
 * the breakdown values it ranked in `shown` (a formula's series: by the first one's, as there).
 */
function givenFrom(read: TrendsPlan, shown: ExecutedQuery): TrendsPlan {
  const split = (p: TrendsPlan, prefix: string): TrendsPlan => {
    if (!p.breakdown) return p;
    const givenBySeries = new Map(
      p.series.map((s) => [
        s.index,
        segmentsOf(shown.results.get(`${prefix}series:${p.segmentsOfFirst ? 0 : s.index}`)),
      ]),
    );
    return { ...p, breakdown: { ...p.breakdown, givenBySeries } };
  };
  const current = split(read, '');
  return read.previous ? { ...current, previous: split(read.previous, 'previous:') } : current;
}

/** Runs queries; the only way in. */
export class QueryEngine {
  private readonly limits: QueryLimits;
  private readonly now: () => number;

  constructor(private readonly deps: QueryEngineDeps) {
    this.limits = { ...DEFAULT_QUERY_LIMITS, ...deps.limits };
    this.now = deps.now ?? Date.now;
  }

  /**
   * Refuses (400, with close matches) a query naming a property the project has never seen.
   * Costs one statement when the query names properties beyond the standard columns.
   */
  private async checkProperties(query: Query, projectId: string, startedAt: number): Promise<void> {
    const named = namedProperties(query);
    if (named.length === 0) return;
    const names = [...new Set(named.map((n) => n.name))];
    const options = {
      deadlineMs: startedAt + this.limits.timeoutMs,
      maxRows: this.limits.maxRows,
      source: projectId,
    };
    const { executor, dialect } = this.deps;
    const compiler = this.deps.compiler ?? DEFAULT_COMPILER;
    const seen = await execute(compiler.compileSeen(projectId, names), dialect, executor, options);
    const unseen = unseenNames(names, seen.results.get('seen')!);
    if (unseen.size === 0) return;
    const known = await execute(compiler.compileKnownKeys(projectId), dialect, executor, options);
    throw unknownPropertiesError(
      named.filter((n) => unseen.has(n.name)),
      candidateNames(known.results.get('known')!),
    );
  }

  /**
   * The cohorts a query names, as of the start of the query (their "last D days" end then); a
   * cohort id the project does not have answers 400 naming where it was used.
   */
  private async loadCohorts(
    query: Query,
    projectId: string,
    startedAt: number,
  ): Promise<CohortContext | null> {
    const named = namedCohorts(query);
    if (named.length === 0) return null;
    const ids = [...new Set(named.map((n) => n.id))];
    const byId = (await this.deps.cohorts?.definitions(projectId, ids)) ?? new Map();
    const missing = named.filter((n) => !byId.has(n.id));
    if (missing.length > 0) {
      const details = missing.map((n) => ({
        path: n.path,
        message: `unknown cohort "${n.id}" in this project`,
      }));
      throw new AppError(
        'QUERY_INVALID',
        `invalid query: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`,
        { details },
      );
    }
    return { nowMs: this.deps.cohorts?.now?.() ?? startedAt, byId };
  }

  /** Validates `body` as a query and answers it for `project`, on the record. */
  async run(principal: QueryPrincipal, project: QueryProject, body: unknown): Promise<QueryResult> {
    const startedAt = this.now();
    const entry: QueryAuditEntry = {
      atMs: startedAt,
      actor: principal.actor,
      projectId: project.id,
      kind: null,
      query: null,
      rows: 0,
      durationMs: 0,
      outcome: 'ok',
      source: principal.source,
      result: null,
    };
    try {
      this.deps.audit.admit?.(principal.actor);
      if (principal.projectId !== project.id)
        throw new AppError('AUTH_FORBIDDEN', 'this key does not grant access to that project');
      if (filterValueCount(body) > MAX_FILTER_VALUES) {
        const message = `at most ${MAX_FILTER_VALUES} filter values in one query (each item of an in or not_in list counts)`;
        throw new AppError('QUERY_INVALID', `invalid query: filters: ${message}`, {
          details: [{ path: 'filters', message }],
        });
      }
      // Relative days ("-7d", "today") resolve against today in the project's time zone.
      const query = parseQuery(body, {
        today: todayIn(project.timezone, this.deps.calendarNow?.() ?? startedAt),
      });
      entry.kind = query.kind;
      entry.query = query;
      await this.checkProperties(query, project.id, startedAt);
      const cohorts = await this.loadCohorts(query, project.id, startedAt);
      const context = {
        projectId: project.id,
        timezone: project.timezone,
        limits: this.limits,
        ...(cohorts ? { cohorts } : {}),
      };
      const run = (p: Plan) =>
        execute(
          (this.deps.compiler ?? DEFAULT_COMPILER).compile(p),
          this.deps.dialect,
          this.deps.executor,
          {
            deadlineMs: startedAt + this.limits.timeoutMs,
            maxRows: this.limits.maxRows,
            source: project.id,
          },
        );
      let result: QueryResult;
      if (query.kind === 'trends' && query.analysis === 'rolling') {
        // The trend shown first (its totals, and the values each series ranks over the range
        // shown), then the trend from the first day a window reads, split by those values.
        const plans = rollingPlans(query, context);
        const shown = await run(this.withRollups(plans.shown, project));
        const read = this.withRollups(givenFrom(plans.read, shown), project);
        const executed = await run(read);
        entry.rows = shown.rowCount + executed.rowCount;
        result = format(query, read, executed, shown);
      } else {
        const planned = this.withRollups(plan(query, context), project);
        const executed = await run(planned);
        entry.rows = executed.rowCount;
        result = format(query, planned, executed);
      }
      entry.durationMs = this.now() - startedAt;
      entry.result = result;
      await this.deps.audit.record(entry);
      return result;
    } catch (error) {
      entry.outcome = isAppError(error) ? error.code : 'INTERNAL';
      entry.durationMs = this.now() - startedAt;
      // The failure is what the caller needs to see, even when recording it failed too.
      await Promise.resolve(this.deps.audit.record(entry)).catch(() => undefined);
      throw error;
    }
  }

  /** A trends, retention, lifecycle or flows plan that can read the per-day rollups, when the store has them. */
  private withRollups(planned: Plan, project: QueryProject): Plan {
    const source = this.deps.rollups;
    if (!source) return planned;
    if (planned.kind === 'lifecycle')
      return readsLifecycleDays(planned) && source.ready(project.id, project.timezone)
        ? { ...planned, rollups: true }
        : planned;
    if (planned.kind === 'flows')
      return source.ready(project.id, project.timezone) ? { ...planned, rollups: true } : planned;
    if (planned.kind === 'retention') {
      return readsPersonEventDays(planned) && source.ready(project.id, project.timezone)
        ? { ...planned, rollups: true }
        : planned;
    }
    if (planned.kind !== 'trends') return planned;
    const reads = planned.series.some(
      (s) =>
        readsPersonDays(planned, s) || readsEventDays(planned, s) || readsValueDays(planned, s),
    );
    if (!reads || !source.ready(project.id, project.timezone)) return planned;
    return {
      ...planned,
      rollups: true,
      ...(planned.previous ? { previous: { ...planned.previous, rollups: true } } : {}),
    };
  }

  /**
   * Row-level reads of one user (profile, event stream) on the engine's executor, dialect and
   * limits. Not audited here: the service in projects/users.ts records every read.
   */
  userStreams(): UserStreamReader {
    return new UserStreamReader(
      this.deps.executor,
      this.deps.dialect,
      () => ({ deadlineMs: this.now() + this.limits.timeoutMs, maxRows: this.limits.maxRows }),
      this.deps.compiler?.userStreams,
    );
  }
}
