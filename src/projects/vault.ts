// The opt-in PII vault of a project: profile PII sealed under a per-subject data key, itself
// wrapped by the project's vault key (which the master key wraps). Erasing a subject deletes
// its key, after which no copy of its sealed values can be opened.
import {
  generateSubjectKey,
  openProperties,
  sealProperties,
  unwrapSubjectKey,
  wrapSubjectKey,
} from '../privacy/index.js';
import type { JsonObject } from '../shared/json.js';
import { AppError } from '../shared/errors.js';
import type { VaultStore } from '../store/types.js';
import type { ProjectContext } from './index.js';

/** Seals, reveals and erases vault values for one store. */
export class VaultService {
  constructor(private readonly store: VaultStore) {}

  /** The subject's data key, created on first use. */
  private async subjectKey(
    project: ProjectContext,
    subjectId: string,
    create: boolean,
  ): Promise<Buffer | null> {
    const projectId = project.project.id;
    let wrapped = await this.store.getSubjectKey(projectId, subjectId);
    if (!wrapped) {
      if (!create) return null;
      const vaultKey = project.keyring.current('vault');
      const fresh = generateSubjectKey();
      wrapped = await this.store.putSubjectKeyIfAbsent(projectId, subjectId, {
        vaultKeyVersion: vaultKey.version,
        wrapped: wrapSubjectKey(
          vaultKey.key,
          { projectId, subjectId, vaultKeyVersion: vaultKey.version },
          fresh,
        ),
      });
    }
    const vaultKey = project.keyring.byVersion('vault', wrapped.vaultKeyVersion);
    if (!vaultKey)
      throw new AppError('PROJECT_KEY_INVALID', 'the vault key of this subject is missing');
    return unwrapSubjectKey(
      vaultKey.key,
      { projectId, subjectId, vaultKeyVersion: wrapped.vaultKeyVersion },
      wrapped.wrapped,
    );
  }

  /** Seals profile PII for a subject (pseudonym) and stores it before the request is acknowledged. */
  async seal(
    project: ProjectContext,
    subjectId: string,
    values: JsonObject,
    mode: 'set' | 'set_once',
    atMs: number,
  ): Promise<void> {
    if (Object.keys(values).length === 0) return;
    const key = await this.subjectKey(project, subjectId, true);
    if (!key) return;
    await this.store.putValues(
      project.project.id,
      subjectId,
      sealProperties(key, values),
      mode,
      atMs,
    );
  }

  /** Opens a subject's vault values (a sensitive action: callers must authorise and record it). */
  async reveal(project: ProjectContext, subjectId: string): Promise<JsonObject> {
    const key = await this.subjectKey(project, subjectId, false);
    if (!key) return {};
    return openProperties(key, await this.store.getValues(project.project.id, subjectId));
  }

  /** Deletes the subject's key and sealed values. */
  async erase(project: ProjectContext, subjectId: string): Promise<boolean> {
    return this.store.eraseSubject(project.project.id, subjectId);
  }
}
