// PostgreSQL adapter of the AuditStore port: the audit log of every node sharing SILLAGE_META_URL,
// as one hash chain. An append takes a transaction-scoped advisory lock, reads the chain's last
// entry and periodic checkpoint, has the log seal the batch after them, and writes entries and
// the signed head before COMMIT releases the lock: appends from all nodes are serialised, `seq`
// is dense and becomes visible in order. Every value is bound as a parameter.
import {
  READ_KINDS,
  type AuditCheckpoint,
  type AuditEntry,
  type AuditEntryHead,
  type AuditFilter,
  type AuditStore,
  type AuditSummary,
  type ChainSealer,
  type SealedBatch,
  type SuspensionRecord,
} from '../../audit/types.js';
import { auditStatement, type AuditStatement, type Bind } from '../../audit/sql-filter.js';
import { storeError, type PgConnection, type PgRow, type PostgresDatabase } from './database.js';

/** The cluster's one audit writer lock (any key, as long as every node uses the same one). */
const AUDIT_APPEND_LOCK = 7_240_113;

/** The hash before the first entry (as audit/chain.ts has it). */
const GENESIS_HASH = '0'.repeat(64);

const COLUMNS =
  'seq, at_ms, kind, actor, org_id, project_id, source, country, network, outcome, target, ' +
  'detail, fields, event_names, row_count, subject_count, subjects, prev_hash, hash';
const WIDTH = 19;
/** Rows per INSERT statement (PostgreSQL binds at most 65,535 parameters in one). */
const ROWS_PER_INSERT = 1_000;

/** Every column but the packed subjects (what a summary lists). */
const HEAD_COLUMNS =
  'seq, at_ms, kind, actor, org_id, project_id, source, country, network, outcome, target, ' +
  'detail, fields, event_names, row_count, subject_count, prev_hash, hash';

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function toEntry(row: PgRow): AuditEntry {
  const blob = row.subjects;
  return {
    ...toHead(row),
    subjects: Buffer.isBuffer(blob) ? new Uint8Array(blob) : new Uint8Array(0),
  };
}

function toHead(row: PgRow): AuditEntryHead {
  return {
    seq: Number(row.seq),
    atMs: Number(row.at_ms),
    kind: String(row.kind),
    actor: String(row.actor),
    orgId: str(row.org_id),
    projectId: str(row.project_id),
    source: String(row.source),
    country: str(row.country),
    network: str(row.network),
    outcome: String(row.outcome),
    target: str(row.target),
    detail: String(row.detail),
    fields: String(row.fields),
    eventNames: String(row.event_names),
    rows: Number(row.row_count),
    subjectCount: Number(row.subject_count),
    prevHash: String(row.prev_hash),
    hash: String(row.hash),
  };
}

function entryParams(e: AuditEntry): unknown[] {
  return [
    e.seq,
    e.atMs,
    e.kind,
    e.actor,
    e.orgId,
    e.projectId,
    e.source,
    e.country,
    e.network,
    e.outcome,
    e.target,
    e.detail,
    e.fields,
    e.eventNames,
    e.rows,
    e.subjectCount,
    Buffer.from(e.subjects),
    e.prevHash,
    e.hash,
  ];
}

type Statement = AuditStatement;

/** A statement over the entries `filter` matches (see auditStatement). */
const over = (filter: AuditFilter, make: (where: string, bind: Bind) => string): Statement =>
  auditStatement(
    filter,
    make,
    (column, values, bind) => `${column} = ANY(${bind(values)}::text[])`,
  );

/** The condition of a read: a read kind, released ('ok'). */
const readCondition = (bind: (value: unknown) => string): string =>
  `(outcome = 'ok' AND kind = ANY(${bind([...READ_KINDS])}::text[]))`;

/** Width of one packed subject (see audit/subjects.ts): a prefix byte and 16 bytes. */
const SUBJECT_WIDTH = 17;

function toSuspension(row: PgRow): SuspensionRecord {
  return {
    id: String(row.id),
    actor: String(row.actor),
    orgId: str(row.org_id),
    rule: String(row.rule),
    reason: String(row.reason),
    createdAtMs: Number(row.created_at_ms),
    liftedAtMs: row.lifted_at_ms === null ? null : Number(row.lifted_at_ms),
    liftedBy: str(row.lifted_by),
  };
}

async function insertCheckpoint(
  c: PgConnection,
  kind: 'head' | 'periodic',
  cp: AuditCheckpoint,
): Promise<void> {
  await c.run(
    'INSERT INTO audit_checkpoints (kind, seq, hash, at_ms, signature) VALUES ($1, $2, $3, $4, $5)',
    [kind, cp.seq, cp.hash, cp.atMs, cp.signature],
  );
}

export class PostgresAuditStore implements AuditStore {
  constructor(private readonly db: PostgresDatabase) {}

  async append(seal: ChainSealer): Promise<SealedBatch> {
    return this.db.meta.run(async (c) => {
      await c.run('BEGIN');
      try {
        // Held until COMMIT or ROLLBACK: the one sequencer of the cluster's chain.
        await c.run('SELECT pg_advisory_xact_lock($1)', [AUDIT_APPEND_LOCK]);
        const at = (
          await c.runAndReadAll(
            `SELECT l.seq, l.hash, p.seq AS cp_seq, p.at_ms AS cp_at
               FROM (SELECT 1) one
               LEFT JOIN LATERAL (SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1) l
                 ON true
               LEFT JOIN LATERAL (SELECT seq, at_ms FROM audit_checkpoints
                                   WHERE kind = 'periodic' ORDER BY seq DESC LIMIT 1) p
                 ON true`,
          )
        ).getRowObjects()[0];
        const batch = seal({
          seq: at?.seq == null ? 0 : Number(at.seq),
          hash: typeof at?.hash === 'string' ? at.hash : GENESIS_HASH,
          lastCheckpoint:
            at?.cp_seq == null ? null : { seq: Number(at.cp_seq), atMs: Number(at.cp_at) },
        });
        for (let i = 0; i < batch.entries.length; i += ROWS_PER_INSERT) {
          const rows = batch.entries.slice(i, i + ROWS_PER_INSERT);
          const values = rows
            .map(
              (_, r) =>
                `(${Array.from({ length: WIDTH }, (_, k) => `$${r * WIDTH + k + 1}`).join(', ')})`,
            )
            .join(', ');
          await c.run(
            `INSERT INTO audit_log (${COLUMNS}) VALUES ${values}`,
            rows.flatMap(entryParams),
          );
        }
        await c.run("DELETE FROM audit_checkpoints WHERE kind = 'head'");
        await insertCheckpoint(c, 'head', batch.head);
        if (batch.checkpoint) await insertCheckpoint(c, 'periodic', batch.head);
        await c.run('COMMIT');
        return batch;
      } catch (cause) {
        await c.run('ROLLBACK').catch(() => undefined);
        throw storeError(cause, 'append audit entries');
      }
    });
  }

  async last(): Promise<AuditEntry | null> {
    const rows = await this.read(`SELECT ${COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1`);
    return rows[0] ? toEntry(rows[0]) : null;
  }

  async head(): Promise<AuditCheckpoint | null> {
    return (await this.readCheckpoints('head'))[0] ?? null;
  }

  async checkpoints(): Promise<AuditCheckpoint[]> {
    return this.readCheckpoints('periodic');
  }

  private async readCheckpoints(kind: string): Promise<AuditCheckpoint[]> {
    const rows = await this.read(
      'SELECT seq, hash, at_ms, signature FROM audit_checkpoints WHERE kind = $1 ORDER BY seq',
      [kind],
    );
    return rows.map((row) => ({
      seq: Number(row.seq),
      hash: String(row.hash),
      atMs: Number(row.at_ms),
      signature: String(row.signature),
    }));
  }

  async scan(filter: AuditFilter): Promise<AuditEntry[]> {
    if (filter.actors?.length === 0 || filter.kinds?.length === 0 || filter.networks?.length === 0)
      return [];
    const [sql, params] = over(
      filter,
      (where, bind) =>
        `SELECT ${COLUMNS} FROM audit_log ${where} ORDER BY seq` +
        (filter.limit !== undefined ? ` LIMIT ${bind(filter.limit)}` : ''),
    );
    return (await this.read(sql, params)).map(toEntry);
  }

  async summarise(filter: AuditFilter, listLimit: number): Promise<AuditSummary> {
    const sets = ['fields', 'event_names', 'project_id', 'source', 'country', 'network'] as const;
    const statements = {
      kinds: over(
        filter,
        (where, bind) =>
          `SELECT kind, count(*) AS n, sum(row_count) AS row_sum, min(seq) AS first,
                  min(at_ms) AS first_ms, max(at_ms) AS last_ms
             FROM audit_log ${where} AND ${readCondition(bind)} GROUP BY kind ORDER BY first`,
      ),
      actors: over(
        filter,
        (where, bind) =>
          `SELECT actor, min(seq) FILTER (WHERE ${readCondition(bind)}) AS first
             FROM audit_log ${where} GROUP BY actor ORDER BY first NULLS LAST, actor`,
      ),
      // One pass over the reads: each read gives its six values, hashed together.
      distinct: over(
        filter,
        (where, bind) =>
          `SELECT DISTINCT v.what, v.value
             FROM audit_log,
                  LATERAL (VALUES ${sets.map((column, i) => `(${i}, ${column})`).join(', ')}) AS v(what, value)
            ${where} AND ${readCondition(bind)} AND v.value IS NOT NULL`,
      ),
      refused: over(
        filter,
        (where) => `SELECT count(*) AS n FROM audit_log ${where} AND outcome <> 'ok'`,
      ),
      readList: over(
        filter,
        (where, bind) =>
          `SELECT ${HEAD_COLUMNS} FROM audit_log ${where} AND ${readCondition(bind)}
            ORDER BY seq LIMIT ${bind(listLimit)}`,
      ),
      refusedList: over(
        filter,
        (where, bind) =>
          `SELECT ${HEAD_COLUMNS} FROM audit_log ${where} AND outcome <> 'ok'
            ORDER BY seq LIMIT ${bind(listLimit)}`,
      ),
      // Each distinct packed set is unpacked once; the pseudonyms are spelled as subjects.ts
      // spells them (`u_`/`g_` and base64url) and come back sorted, as one text.
      subjects: over(
        filter,
        (where, bind) => `
          WITH sets AS (SELECT DISTINCT subjects FROM audit_log
                         ${where} AND ${readCondition(bind)}
                           AND length(subjects) >= ${SUBJECT_WIDTH}),
            one AS (SELECT DISTINCT substring(subjects FROM i * ${SUBJECT_WIDTH} + 1
                                              FOR ${SUBJECT_WIDTH}) AS b
                      FROM sets, generate_series(0, length(subjects) / ${SUBJECT_WIDTH} - 1) AS i),
            named AS (SELECT CASE WHEN get_byte(b, 0) = 0 THEN 'u_' ELSE 'g_' END
                               || rtrim(translate(encode(substring(b FROM 2 FOR 16), 'base64'),
                                                  '+/', '-_'), '=') AS p
                        FROM one)
          SELECT string_agg(p, ',' ORDER BY p COLLATE "C") AS subjects FROM named`,
      ),
    };
    let rows: Record<keyof typeof statements, PgRow[]>;
    try {
      rows = await this.db.meta.run(async (c) => {
        // One snapshot for every aggregate: appends by other nodes land before or after it.
        await c.run('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        try {
          const out: Partial<Record<keyof typeof statements, PgRow[]>> = {};
          for (const [name, [sql, params]] of Object.entries(statements))
            out[name as keyof typeof statements] = (
              await c.runAndReadAll(sql, params)
            ).getRowObjects();
          await c.run('COMMIT');
          return out as Record<keyof typeof statements, PgRow[]>;
        } catch (error) {
          await c.run('ROLLBACK').catch(() => undefined);
          throw error;
        }
      });
    } catch (cause) {
      throw storeError(cause, 'summarise the audit log');
    }
    const found = sets.map(() => new Set<string>());
    for (const { what, value } of rows.distinct) {
      const set = found[Number(what)]!;
      // Field and event-name lists are JSON text: each distinct text is parsed once.
      if (Number(what) < 2) for (const x of JSON.parse(String(value)) as string[]) set.add(x);
      else set.add(String(value));
    }
    const [fields, eventNames, projects, sources, countries, networks] = found.map((s) =>
      [...s].sort(),
    ) as [string[], string[], string[], string[], string[], string[]];
    const readsByKind: Record<string, number> = {};
    for (const r of rows.kinds) readsByKind[String(r.kind)] = Number(r.n);
    const text = rows.subjects[0]?.subjects;
    return {
      actors: rows.actors.map((r) => String(r.actor)).sort(),
      principals: rows.actors.filter((r) => r.first !== null).map((r) => String(r.actor)),
      reads: rows.kinds.reduce((n, r) => n + Number(r.n), 0),
      readsByKind,
      rows: rows.kinds.reduce((n, r) => n + Number(r.row_sum), 0),
      firstMs: rows.kinds.length ? Math.min(...rows.kinds.map((r) => Number(r.first_ms))) : null,
      lastMs: rows.kinds.length ? Math.max(...rows.kinds.map((r) => Number(r.last_ms))) : null,
      fields,
      eventNames,
      projects,
      sources,
      countries,
      networks,
      subjects: typeof text === 'string' && text !== '' ? text.split(',') : [],
      readList: rows.readList.map(toHead),
      refused: Number(rows.refused[0]?.n ?? 0),
      refusedList: rows.refusedList.map(toHead),
    };
  }

  async walk(visit: (page: AuditEntry[]) => void, pageSize = 50_000): Promise<void> {
    // Keyset paging: `seq` is the primary key, so no entry appears twice or is skipped.
    let after = -1;
    for (;;) {
      const rows = (
        await this.read(`SELECT ${COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`, [
          after,
          pageSize,
        ])
      ).map(toEntry);
      if (rows.length === 0) return;
      visit(rows);
      after = rows.at(-1)!.seq;
    }
  }

  async putSuspension(s: SuspensionRecord): Promise<void> {
    await this.write(
      `INSERT INTO audit_suspensions
         (id, actor, org_id, rule, reason, created_at_ms, lifted_at_ms, lifted_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [s.id, s.actor, s.orgId, s.rule, s.reason, s.createdAtMs, s.liftedAtMs, s.liftedBy],
    );
  }

  async liftSuspension(id: string, atMs: number, by: string): Promise<boolean> {
    return (
      (await this.write(
        'UPDATE audit_suspensions SET lifted_at_ms = $1, lifted_by = $2 WHERE id = $3 AND lifted_at_ms IS NULL',
        [atMs, by, id],
      )) > 0
    );
  }

  async listSuspensions(activeOnly: boolean): Promise<SuspensionRecord[]> {
    const rows = await this.read(
      'SELECT id, actor, org_id, rule, reason, created_at_ms, lifted_at_ms, lifted_by FROM audit_suspensions' +
        (activeOnly ? ' WHERE lifted_at_ms IS NULL' : '') +
        ' ORDER BY created_at_ms, id',
    );
    return rows.map(toSuspension);
  }

  async claimTrigger(key: string, atMs: number): Promise<boolean> {
    return (
      (await this.write(
        'INSERT INTO audit_trigger_claims (key, at_ms) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING',
        [key, atMs],
      )) === 1
    );
  }

  private async read(sql: string, params: unknown[] = []): Promise<PgRow[]> {
    try {
      return await this.db.meta.run(async (c) =>
        (await c.runAndReadAll(sql, params)).getRowObjects(),
      );
    } catch (cause) {
      throw storeError(cause, 'read the audit log');
    }
  }

  private async write(sql: string, params: unknown[]): Promise<number> {
    try {
      return await this.db.meta.run(async (c) => (await c.run(sql, params)).rowsChanged);
    } catch (cause) {
      throw storeError(cause, 'write the audit log');
    }
  }
}
