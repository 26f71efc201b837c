// PostgreSQL adapter of the VaultStore port: wrapped per-subject keys and sealed values.
import type { VaultStore, WrappedSubjectKey } from '../types.js';
import { storeError, type PgConnection, type PostgresDatabase } from './database.js';

export class PostgresVaultStore implements VaultStore {
  constructor(private readonly db: PostgresDatabase) {}

  private run<T>(what: string, task: (c: PgConnection) => Promise<T>): Promise<T> {
    return this.db.meta.run(async (c) => {
      try {
        return await task(c);
      } catch (cause) {
        await c.run('ROLLBACK').catch(() => undefined);
        throw storeError(cause, what);
      }
    });
  }

  async getSubjectKey(projectId: string, subjectId: string): Promise<WrappedSubjectKey | null> {
    return this.run('get subject key', async (c) => {
      const r = await c.runAndReadAll(
        `SELECT vault_key_version, wrapped FROM vault_subject_keys
          WHERE project_id = $1 AND subject_id = $2`,
        [projectId, subjectId],
      );
      const row = r.getRows()[0];
      return row
        ? { vaultKeyVersion: Number(row[0]), wrapped: Uint8Array.from(row[1] as Buffer) }
        : null;
    });
  }

  async putSubjectKeyIfAbsent(
    projectId: string,
    subjectId: string,
    key: WrappedSubjectKey,
  ): Promise<WrappedSubjectKey> {
    await this.run('put subject key', (c) =>
      c.run(
        `INSERT INTO vault_subject_keys (project_id, subject_id, vault_key_version, wrapped, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (project_id, subject_id) DO NOTHING`,
        [projectId, subjectId, key.vaultKeyVersion, Buffer.from(key.wrapped), Date.now()],
      ),
    );
    const stored = await this.getSubjectKey(projectId, subjectId);
    if (!stored) throw storeError(undefined, 'put subject key');
    return stored;
  }

  async putValues(
    projectId: string,
    subjectId: string,
    sealed: Readonly<Record<string, string>>,
    mode: 'set' | 'set_once',
    atMs: number,
  ): Promise<void> {
    const conflict =
      mode === 'set'
        ? 'DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at'
        : 'DO NOTHING';
    await this.run('put vault values', async (c) => {
      await c.run('BEGIN');
      for (const [property, value] of Object.entries(sealed)) {
        await c.run(
          `INSERT INTO vault_values (project_id, subject_id, property, sealed, updated_at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (project_id, subject_id, property) ${conflict}`,
          [projectId, subjectId, property, value, atMs],
        );
      }
      await c.run('COMMIT');
    });
  }

  async getValues(projectId: string, subjectId: string): Promise<Record<string, string>> {
    return this.run('get vault values', async (c) => {
      const r = await c.runAndReadAll(
        `SELECT property, sealed FROM vault_values WHERE project_id = $1 AND subject_id = $2
          ORDER BY property`,
        [projectId, subjectId],
      );
      const out: Record<string, string> = {};
      for (const row of r.getRows()) {
        Object.defineProperty(out, String(row[0]), {
          value: String(row[1]),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    });
  }

  async eraseSubject(projectId: string, subjectId: string): Promise<boolean> {
    return this.run('erase vault subject', async (c) => {
      await c.run('BEGIN');
      const keys = await c.run(
        'DELETE FROM vault_subject_keys WHERE project_id = $1 AND subject_id = $2',
        [projectId, subjectId],
      );
      await c.run('DELETE FROM vault_values WHERE project_id = $1 AND subject_id = $2', [
        projectId,
        subjectId,
      ]);
      await c.run('COMMIT');
      return keys.rowsChanged > 0;
    });
  }
}
