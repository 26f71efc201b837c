// PostgreSQL adapter of the MetaStore port: projects, wrapped keys, policies and settings.
import type { ApiKeyRecord } from '../account-types.js';
import type {
  MetaStore,
  PolicyChange,
  PolicyRecord,
  ProjectRecord,
  StoredCohort,
  WrappedKeyRecord,
} from '../types.js';
import { insertApiKey } from './account-store.js';
import { storeError, type PgConnection, type PgRow, type PostgresDatabase } from './database.js';

function toProject(row: PgRow): ProjectRecord {
  return {
    id: String(row.id),
    name: String(row.name),
    token: String(row.token),
    secretHash: String(row.secret_hash),
    timezone: String(row.timezone),
    createdAtMs: Number(row.created_at),
  };
}

const insertKey = (c: PgConnection, key: WrappedKeyRecord) =>
  c.run(
    `INSERT INTO project_keys (project_id, purpose, version, wrapped, created_at)
     VALUES ($1, $2, $3, $4, $5)`,
    [key.projectId, key.purpose, key.version, Buffer.from(key.wrapped), key.createdAtMs],
  );

export class PostgresMetaStore implements MetaStore {
  constructor(private readonly db: PostgresDatabase) {}

  /** LISTEN on `sillage_meta`, which migration 3's triggers notify at each commit. */
  watchProjects(changed: (projectId: string | null) => void): () => Promise<void> {
    return this.db.listen('sillage_meta', {
      message: (projectId) => changed(projectId),
      reset: () => changed(null),
    });
  }

  /** Runs statements in one transaction; any failure rolls all of them back. */
  private transaction<T>(what: string, task: (c: PgConnection) => Promise<T>): Promise<T> {
    return this.db.meta.run(async (c) => {
      await c.run('BEGIN');
      try {
        const result = await task(c);
        await c.run('COMMIT');
        return result;
      } catch (cause) {
        await c.run('ROLLBACK').catch(() => undefined);
        throw storeError(cause, what);
      }
    });
  }

  private async rows(what: string, sql: string, params: unknown[] = []): Promise<PgRow[]> {
    return this.db.meta.run(async (c) => {
      try {
        return (await c.runAndReadAll(sql, params)).getRowObjects();
      } catch (cause) {
        throw storeError(cause, what);
      }
    });
  }

  async createProject(
    project: ProjectRecord,
    keys: WrappedKeyRecord[],
    bootstrapKey: ApiKeyRecord,
  ): Promise<void> {
    await this.transaction('create project', async (c) => {
      await c.run(
        `INSERT INTO projects (id, name, token, secret_hash, timezone, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [
          project.id,
          project.name,
          project.token,
          project.secretHash,
          project.timezone,
          project.createdAtMs,
        ],
      );
      await insertApiKey(c, bootstrapKey);
      for (const key of keys) await insertKey(c, key);
    });
  }

  async getProject(id: string): Promise<ProjectRecord | null> {
    const [row] = await this.rows('get project', 'SELECT * FROM projects WHERE id = $1', [id]);
    return row ? toProject(row) : null;
  }

  async findProjectByToken(token: string): Promise<ProjectRecord | null> {
    const [row] = await this.rows('find project', 'SELECT * FROM projects WHERE token = $1', [
      token,
    ]);
    return row ? toProject(row) : null;
  }

  async listProjects(): Promise<ProjectRecord[]> {
    const rows = await this.rows('list projects', 'SELECT * FROM projects ORDER BY created_at, id');
    return rows.map(toProject);
  }

  async listKeys(projectId: string): Promise<WrappedKeyRecord[]> {
    const rows = await this.rows(
      'list keys',
      'SELECT * FROM project_keys WHERE project_id = $1 ORDER BY purpose, version',
      [projectId],
    );
    return rows.map((row) => ({
      projectId,
      purpose: String(row.purpose) as WrappedKeyRecord['purpose'],
      version: Number(row.version),
      wrapped: Uint8Array.from(row.wrapped as Buffer),
      createdAtMs: Number(row.created_at),
    }));
  }

  async addKey(key: WrappedKeyRecord): Promise<void> {
    await this.transaction('add key', (c) => insertKey(c, key));
  }

  async getPolicy(projectId: string): Promise<PolicyRecord | null> {
    const [row] = await this.rows(
      'get policy',
      'SELECT policy FROM project_policies WHERE project_id = $1',
      [projectId],
    );
    return row ? (JSON.parse(String(row.policy)) as PolicyRecord) : null;
  }

  async setPolicy(projectId: string, policy: PolicyRecord, change: PolicyChange): Promise<void> {
    await this.transaction('set policy', async (c) => {
      await c.run(
        `INSERT INTO project_policies (project_id, policy, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (project_id) DO UPDATE SET policy = excluded.policy,
           updated_at = excluded.updated_at`,
        [projectId, JSON.stringify(policy), change.atMs],
      );
      await c.run(
        `INSERT INTO policy_changes (project_id, actor, changed_at, policy_before, policy_after)
         VALUES ($1, $2, $3, $4, $5)`,
        [
          projectId,
          change.actor,
          change.atMs,
          change.before === null ? null : JSON.stringify(change.before),
          JSON.stringify(change.after),
        ],
      );
    });
  }

  async listPolicyChanges(projectId: string): Promise<PolicyChange[]> {
    const rows = await this.rows(
      'list policy changes',
      'SELECT * FROM policy_changes WHERE project_id = $1 ORDER BY changed_at, seq',
      [projectId],
    );
    return rows.map((row) => ({
      projectId,
      actor: String(row.actor),
      atMs: Number(row.changed_at),
      before:
        row.policy_before === null
          ? null
          : (JSON.parse(String(row.policy_before as string)) as PolicyRecord),
      after: JSON.parse(String(row.policy_after)) as PolicyRecord,
    }));
  }

  async getSetting(name: string): Promise<string | null> {
    const [row] = await this.rows('get setting', 'SELECT value FROM settings WHERE name = $1', [
      name,
    ]);
    return row ? String(row.value) : null;
  }

  async setSetting(name: string, value: string): Promise<void> {
    await this.transaction('set setting', (c) =>
      c.run(
        `INSERT INTO settings (name, value) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
        [name, value],
      ),
    );
  }

  async listCohorts(projectId: string): Promise<StoredCohort[]> {
    return (
      await this.rows(
        'list cohorts',
        'SELECT * FROM cohorts WHERE project_id = $1 ORDER BY name, id',
        [projectId],
      )
    ).map(pgCohort);
  }

  async getCohort(projectId: string, id: string): Promise<StoredCohort | null> {
    const [row] = await this.rows(
      'get cohort',
      'SELECT * FROM cohorts WHERE project_id = $1 AND id = $2',
      [projectId, id],
    );
    return row ? pgCohort(row) : null;
  }

  async putCohort(cohort: StoredCohort): Promise<void> {
    await this.transaction('put cohort', (c) =>
      c.run(
        `INSERT INTO cohorts (id, project_id, name, definition, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET project_id = excluded.project_id, name = excluded.name,
           definition = excluded.definition, created_by = excluded.created_by,
           created_at = excluded.created_at, updated_at = excluded.updated_at`,
        [
          cohort.id,
          cohort.projectId,
          cohort.name,
          JSON.stringify(cohort.definition),
          cohort.createdBy,
          cohort.createdAtMs,
          cohort.updatedAtMs,
        ],
      ),
    );
  }

  async deleteCohort(projectId: string, id: string): Promise<boolean> {
    const deleted = await this.rows(
      'delete cohort',
      'DELETE FROM cohorts WHERE project_id = $1 AND id = $2 RETURNING id',
      [projectId, id],
    );
    return deleted.length > 0;
  }
}

function pgCohort(row: PgRow): StoredCohort {
  return {
    id: String(row.id),
    projectId: String(row.project_id),
    name: String(row.name),
    definition: JSON.parse(String(row.definition)) as StoredCohort['definition'],
    createdBy: String(row.created_by),
    createdAtMs: Number(row.created_at),
    updatedAtMs: Number(row.updated_at),
  };
}
