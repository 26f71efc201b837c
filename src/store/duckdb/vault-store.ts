// DuckDB adapter of the VaultStore port: wrapped subject keys and sealed profile values.
import { DuckDBBlobValue, DuckDBTimestampTZValue } from '@duckdb/node-api';
import type { VaultStore, WrappedSubjectKey } from '../types.js';
import { storeError, type DuckDbDatabase } from './database.js';

const tsValue = (ms: number): DuckDBTimestampTZValue =>
  new DuckDBTimestampTZValue(BigInt(Math.round(ms)) * 1000n);

/** The vault lives in the same file, on the metadata connection (low volume, opt-in). */
export class DuckDbVaultStore implements VaultStore {
  constructor(private readonly db: DuckDbDatabase) {}

  async getSubjectKey(projectId: string, subjectId: string): Promise<WrappedSubjectKey | null> {
    return this.db.meta.run(async (c) => {
      const r = await c.runAndReadAll(
        'SELECT vault_key_version, wrapped FROM vault_subject_keys WHERE project_id = $1 AND subject_id = $2',
        [projectId, subjectId],
      );
      const row = r.getRows()[0];
      return row
        ? { vaultKeyVersion: Number(row[0]), wrapped: (row[1] as DuckDBBlobValue).bytes }
        : null;
    });
  }

  async putSubjectKeyIfAbsent(
    projectId: string,
    subjectId: string,
    key: WrappedSubjectKey,
  ): Promise<WrappedSubjectKey> {
    await this.db.meta.run((c) =>
      c.run('INSERT OR IGNORE INTO vault_subject_keys VALUES ($1, $2, $3, $4, now())', [
        projectId,
        subjectId,
        key.vaultKeyVersion,
        new DuckDBBlobValue(key.wrapped),
      ]),
    );
    const stored = await this.getSubjectKey(projectId, subjectId);
    if (!stored) throw storeError(null, 'vault key write');
    return stored;
  }

  async putValues(
    projectId: string,
    subjectId: string,
    sealed: Readonly<Record<string, string>>,
    mode: 'set' | 'set_once',
    atMs: number,
  ): Promise<void> {
    const entries = Object.entries(sealed);
    if (entries.length === 0) return;
    await this.db.meta.run(async (c) => {
      await c.run('BEGIN TRANSACTION');
      try {
        for (const [property, value] of entries) {
          await c.run(
            mode === 'set'
              ? 'INSERT OR REPLACE INTO vault_values VALUES ($1, $2, $3, $4, $5)'
              : 'INSERT OR IGNORE INTO vault_values VALUES ($1, $2, $3, $4, $5)',
            [projectId, subjectId, property, value, tsValue(atMs)],
          );
        }
        await c.run('COMMIT');
      } catch (cause) {
        await c.run('ROLLBACK');
        throw storeError(cause, 'vault write');
      }
    });
  }

  async getValues(projectId: string, subjectId: string): Promise<Record<string, string>> {
    return this.db.meta.run(async (c) => {
      const r = await c.runAndReadAll(
        'SELECT property, sealed FROM vault_values WHERE project_id = $1 AND subject_id = $2 ORDER BY property',
        [projectId, subjectId],
      );
      const out: Record<string, string> = {};
      for (const [property, sealed] of r.getRows()) {
        Object.defineProperty(out, String(property), { value: String(sealed), enumerable: true });
      }
      return out;
    });
  }

  async eraseSubject(projectId: string, subjectId: string): Promise<boolean> {
    return this.db.meta.run(async (c) => {
      await c.run('BEGIN TRANSACTION');
      try {
        const r = await c.run(
          'DELETE FROM vault_subject_keys WHERE project_id = $1 AND subject_id = $2',
          [projectId, subjectId],
        );
        await c.run('DELETE FROM vault_values WHERE project_id = $1 AND subject_id = $2', [
          projectId,
          subjectId,
        ]);
        await c.run('COMMIT');
        return Number(r.rowsChanged) > 0;
      } catch (cause) {
        await c.run('ROLLBACK');
        throw storeError(cause, 'vault erase');
      }
    });
  }
}
