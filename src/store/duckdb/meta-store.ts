// DuckDB adapter of the MetaStore port: projects, wrapped keys and instance settings.
import { DuckDBBlobValue, DuckDBTimestampTZValue } from '@duckdb/node-api';
import type {
  MetaStore,
  PolicyChange,
  PolicyRecord,
  ProjectRecord,
  StoredCohort,
  WrappedKeyRecord,
} from '../types.js';
import type { ApiKeyRecord } from '../account-types.js';
import { insertApiKey } from './account-store.js';
import { storeError, type DuckDbDatabase } from './database.js';

const tsValue = (ms: number): DuckDBTimestampTZValue =>
  new DuckDBTimestampTZValue(BigInt(Math.round(ms)) * 1000n);
const tsMs = (value: unknown): number =>
  value instanceof DuckDBTimestampTZValue ? Number(value.micros / 1000n) : Number(value);

function toProject(row: Record<string, unknown>): ProjectRecord {
  return {
    id: String(row.id),
    name: String(row.name),
    token: String(row.token),
    secretHash: String(row.secret_hash),
    timezone: String(row.timezone),
    createdAtMs: tsMs(row.created_at),
  };
}

function toCohort(row: Record<string, unknown>): StoredCohort {
  return {
    id: String(row.id),
    projectId: String(row.project_id),
    name: String(row.name),
    definition: JSON.parse(String(row.definition)) as StoredCohort['definition'],
    createdBy: String(row.created_by),
    createdAtMs: tsMs(row.created_at),
    updatedAtMs: tsMs(row.updated_at),
  };
}

/** Metadata lives in the same DuckDB file as events, on its own serialised connection. */
export class DuckDbMetaStore implements MetaStore {
  constructor(private readonly db: DuckDbDatabase) {}

  async createProject(
    project: ProjectRecord,
    keys: WrappedKeyRecord[],
    bootstrapKey: ApiKeyRecord,
  ): Promise<void> {
    await this.db.meta.run(async (c) => {
      await c.run('BEGIN TRANSACTION');
      try {
        await c.run('INSERT INTO projects VALUES ($1, $2, $3, $4, $5, $6)', [
          project.id,
          project.name,
          project.token,
          project.secretHash,
          project.timezone,
          tsValue(project.createdAtMs),
        ]);
        await insertApiKey(c, bootstrapKey);
        for (const key of keys) {
          await c.run('INSERT INTO project_keys VALUES ($1, $2, $3, $4, $5)', [
            key.projectId,
            key.purpose,
            key.version,
            new DuckDBBlobValue(key.wrapped),
            tsValue(key.createdAtMs),
          ]);
        }
        await c.run('COMMIT');
      } catch (cause) {
        await c.run('ROLLBACK');
        throw storeError(cause, 'create project');
      }
    });
  }

  async getProject(id: string): Promise<ProjectRecord | null> {
    return this.db.lookups.run(async (c) => {
      const r = await c.runAndReadAll('SELECT * FROM projects WHERE id = $1', [id]);
      const row = r.getRowObjects()[0];
      return row ? toProject(row) : null;
    });
  }

  async findProjectByToken(token: string): Promise<ProjectRecord | null> {
    return this.db.lookups.run(async (c) => {
      const r = await c.runAndReadAll('SELECT * FROM projects WHERE token = $1', [token]);
      const row = r.getRowObjects()[0];
      return row ? toProject(row) : null;
    });
  }

  async getPolicy(projectId: string): Promise<PolicyRecord | null> {
    return this.db.meta.run(async (c) => {
      const r = await c.runAndReadAll('SELECT policy FROM project_policies WHERE project_id = $1', [
        projectId,
      ]);
      const row = r.getRows()[0];
      return row ? (JSON.parse(String(row[0])) as PolicyRecord) : null;
    });
  }

  async setPolicy(projectId: string, policy: PolicyRecord, change: PolicyChange): Promise<void> {
    await this.db.meta.run(async (c) => {
      await c.run('BEGIN TRANSACTION');
      try {
        await c.run('INSERT OR REPLACE INTO project_policies VALUES ($1, $2, $3)', [
          projectId,
          JSON.stringify(policy),
          tsValue(change.atMs),
        ]);
        await c.run('INSERT INTO policy_changes VALUES ($1, $2, $3, $4, $5)', [
          projectId,
          change.actor,
          tsValue(change.atMs),
          change.before === null ? null : JSON.stringify(change.before),
          JSON.stringify(change.after),
        ]);
        await c.run('COMMIT');
      } catch (cause) {
        await c.run('ROLLBACK');
        throw storeError(cause, 'set policy');
      }
    });
  }

  async listPolicyChanges(projectId: string): Promise<PolicyChange[]> {
    return this.db.meta.run(async (c) => {
      const r = await c.runAndReadAll(
        'SELECT actor, changed_at, policy_before, policy_after FROM policy_changes WHERE project_id = $1 ORDER BY changed_at',
        [projectId],
      );
      return r.getRows().map((row) => ({
        projectId,
        actor: String(row[0]),
        atMs: tsMs(row[1]),
        before: row[2] === null ? null : (JSON.parse(String(row[2])) as PolicyRecord),
        after: JSON.parse(String(row[3])) as PolicyRecord,
      }));
    });
  }

  async listProjects(): Promise<ProjectRecord[]> {
    return this.db.meta.run(async (c) => {
      const r = await c.runAndReadAll('SELECT * FROM projects ORDER BY created_at, id');
      return r.getRowObjects().map(toProject);
    });
  }

  async listKeys(projectId: string): Promise<WrappedKeyRecord[]> {
    return this.db.meta.run(async (c) => {
      const r = await c.runAndReadAll(
        'SELECT purpose, version, wrapped, created_at FROM project_keys WHERE project_id = $1 ORDER BY purpose, version',
        [projectId],
      );
      return r.getRows().map((row) => ({
        projectId,
        purpose: String(row[0]) as WrappedKeyRecord['purpose'],
        version: Number(row[1]),
        wrapped: (row[2] as DuckDBBlobValue).bytes,
        createdAtMs: tsMs(row[3]),
      }));
    });
  }

  async addKey(key: WrappedKeyRecord): Promise<void> {
    await this.db.meta.run((c) =>
      c.run('INSERT INTO project_keys VALUES ($1, $2, $3, $4, $5)', [
        key.projectId,
        key.purpose,
        key.version,
        new DuckDBBlobValue(key.wrapped),
        tsValue(key.createdAtMs),
      ]),
    );
  }

  async getSetting(name: string): Promise<string | null> {
    return this.db.meta.run(async (c) => {
      const r = await c.runAndReadAll('SELECT value FROM settings WHERE name = $1', [name]);
      const row = r.getRows()[0];
      return row ? String(row[0]) : null;
    });
  }

  async listCohorts(projectId: string): Promise<StoredCohort[]> {
    return this.db.meta.run(async (c) => {
      const r = await c.runAndReadAll(
        'SELECT * FROM cohorts WHERE project_id = $1 ORDER BY name, id',
        [projectId],
      );
      return r.getRowObjects().map(toCohort);
    });
  }

  async getCohort(projectId: string, id: string): Promise<StoredCohort | null> {
    return this.db.meta.run(async (c) => {
      const r = await c.runAndReadAll('SELECT * FROM cohorts WHERE project_id = $1 AND id = $2', [
        projectId,
        id,
      ]);
      const row = r.getRowObjects()[0];
      return row ? toCohort(row) : null;
    });
  }

  async putCohort(cohort: StoredCohort): Promise<void> {
    await this.db.meta.run((c) =>
      c.run('INSERT OR REPLACE INTO cohorts VALUES ($1, $2, $3, $4, $5, $6, $7)', [
        cohort.id,
        cohort.projectId,
        cohort.name,
        JSON.stringify(cohort.definition),
        cohort.createdBy,
        tsValue(cohort.createdAtMs),
        tsValue(cohort.updatedAtMs),
      ]),
    );
  }

  async deleteCohort(projectId: string, id: string): Promise<boolean> {
    return this.db.meta.run(async (c) => {
      const r = await c.run('DELETE FROM cohorts WHERE project_id = $1 AND id = $2', [
        projectId,
        id,
      ]);
      return r.rowsChanged > 0;
    });
  }

  async setSetting(name: string, value: string): Promise<void> {
    await this.db.meta.run((c) =>
      c.run('INSERT OR REPLACE INTO settings VALUES ($1, $2)', [name, value]),
    );
  }
}
