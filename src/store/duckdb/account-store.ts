// DuckDB adapter of the AccountStore port: organisations, people, factors, sessions, API keys.
import {
  DuckDBBlobValue,
  DuckDBTimestampTZValue,
  type DuckDBConnection,
  type DuckDBValue,
} from '@duckdb/node-api';
import type { JsonObject } from '../../shared/json.js';
import { AppError } from '../../shared/errors.js';
import type {
  AccountStore,
  ApiKeyRecord,
  AuthMethod,
  ChallengeRecord,
  FactorRecord,
  InvitationRecord,
  KeyScope,
  MembershipRecord,
  MembershipSuspension,
  NoticeRecord,
  OrgPolicy,
  OrgRecord,
  PasskeyFactor,
  Role,
  SavedViewRecord,
  SessionRecord,
  UserRecord,
  UserStatus,
} from '../account-types.js';
import { storeError, type DuckDbDatabase } from './database.js';

type Row = Record<string, DuckDBValue>;

/** A key's uses recorded and not yet written: how many, and the last one's instant and place. */
interface KeyUses {
  count: number;
  atMs: number;
  place: string | null;
}

/** How long recorded uses of API keys wait before they are written, together. */
const KEY_USES_DELAY_MS = 1_000;

const tsValue = (ms: number): DuckDBTimestampTZValue =>
  new DuckDBTimestampTZValue(BigInt(Math.round(ms)) * 1000n);
const tsOrNull = (ms: number | null): DuckDBTimestampTZValue | null =>
  ms === null ? null : tsValue(ms);
const tsMs = (value: DuckDBValue | undefined): number =>
  value instanceof DuckDBTimestampTZValue ? Number(value.micros / 1000n) : Number(value);
const msOrNull = (value: DuckDBValue | undefined): number | null =>
  value === null || value === undefined ? null : tsMs(value);
const str = (value: DuckDBValue | undefined): string => String(value);
const strOrNull = (value: DuckDBValue | undefined): string | null =>
  value === null || value === undefined ? null : String(value);
const parseJson = <T>(value: DuckDBValue | undefined): T => JSON.parse(String(value)) as T;

/** A unique-key clash (an e-mail, credential or secret that exists) is a conflict, not a failure. */
function writeError(cause: unknown, what: string): AppError {
  if (cause instanceof AppError) return cause;
  if (cause instanceof Error && cause.message.startsWith('Constraint Error')) {
    return new AppError('CONFLICT', `conflicts with an existing record: ${what}`, { cause });
  }
  return storeError(cause, what);
}

function toOrg(row: Row): OrgRecord {
  return {
    id: str(row.id),
    name: str(row.name),
    policy: parseJson<OrgPolicy>(row.policy),
    createdAtMs: tsMs(row.created_at),
    lockedDownAtMs: msOrNull(row.locked_down_at),
    lockedDownBy: strOrNull(row.locked_down_by),
  };
}

function toUser(row: Row): UserRecord {
  return {
    id: str(row.id),
    email: str(row.email),
    passwordHash: strOrNull(row.password_hash),
    status: str(row.status) as UserStatus,
    createdAtMs: tsMs(row.created_at),
    failedAttempts: Number(row.failed_attempts),
    lockedUntilMs: tsMs(row.locked_until),
  };
}

function toMembership(row: Row): MembershipRecord {
  return {
    orgId: str(row.org_id),
    userId: str(row.user_id),
    role: str(row.role) as Role,
    createdAtMs: tsMs(row.created_at),
    accessFromMs: msOrNull(row.access_from),
    suspended: strOrNull(row.suspended_reason) as MembershipSuspension | null,
  };
}

function toFactor(row: Row): FactorRecord {
  const base = {
    id: str(row.id),
    userId: str(row.user_id),
    label: str(row.label),
    createdAtMs: tsMs(row.created_at),
    lastUsedAtMs: msOrNull(row.last_used_at),
  };
  if (row.kind === 'passkey') {
    return {
      ...base,
      kind: 'passkey',
      credentialId: str(row.credential_id),
      // A copy: the driver's buffer may be a view into a larger chunk.
      publicKey: Uint8Array.from((row.public_key as DuckDBBlobValue).bytes),
      counter: Number(row.counter),
      transports: parseJson<string[]>(row.transports),
      backedUp: row.backed_up === true,
      trustedFromMs: tsMs(row.trusted_from),
    };
  }
  return {
    ...base,
    kind: 'totp',
    sealedSecret: str(row.sealed_secret),
    lastStep: row.last_step === null ? null : Number(row.last_step),
    confirmed: row.confirmed === true,
  };
}

function toSession(row: Row): SessionRecord {
  return {
    idHash: str(row.id_hash),
    userId: str(row.user_id),
    createdAtMs: tsMs(row.created_at),
    lastSeenAtMs: tsMs(row.last_seen_at),
    expiresAtMs: tsMs(row.expires_at),
    idleTimeoutMs: Number(row.idle_timeout_ms),
    method: str(row.method) as AuthMethod,
    stepUpAtMs: msOrNull(row.step_up_at),
    stepUpMethod: strOrNull(row.step_up_method) as AuthMethod | null,
    device: str(row.device),
    place: str(row.place),
    revokedAtMs: msOrNull(row.revoked_at),
    revokedReason: strOrNull(row.revoked_reason),
  };
}

function toChallenge(row: Row): ChallengeRecord {
  return {
    idHash: str(row.id_hash),
    purpose: str(row.purpose) as ChallengeRecord['purpose'],
    userId: str(row.user_id),
    sessionIdHash: strOrNull(row.session_id_hash),
    data: parseJson<JsonObject>(row.data),
    expiresAtMs: tsMs(row.expires_at),
  };
}

function toInvitation(row: Row): InvitationRecord {
  return {
    id: str(row.id),
    orgId: str(row.org_id),
    userId: strOrNull(row.user_id),
    email: str(row.email),
    role: str(row.role) as Role,
    tokenHash: str(row.token_hash),
    createdBy: strOrNull(row.created_by),
    createdAtMs: tsMs(row.created_at),
    expiresAtMs: tsMs(row.expires_at),
    acceptedAtMs: msOrNull(row.accepted_at),
  };
}

function toApiKey(row: Row): ApiKeyRecord {
  return {
    id: str(row.id),
    projectId: str(row.project_id),
    name: str(row.name),
    secretHash: str(row.secret_hash),
    prefix: str(row.prefix),
    scopes: parseJson<KeyScope[]>(row.scopes),
    allowedCidrs: parseJson<string[]>(row.allowed_cidrs),
    createdBy: strOrNull(row.created_by),
    createdAtMs: tsMs(row.created_at),
    expiresAtMs: msOrNull(row.expires_at),
    revokedAtMs: msOrNull(row.revoked_at),
    rotatedFrom: strOrNull(row.rotated_from),
    lastUsedAtMs: msOrNull(row.last_used_at),
    lastUsedPlace: strOrNull(row.last_used_place),
    useCount: Number(row.use_count),
  };
}

function toNotice(row: Row): NoticeRecord {
  return {
    id: str(row.id),
    userId: str(row.user_id),
    kind: str(row.kind),
    details: parseJson<JsonObject>(row.details),
    createdAtMs: tsMs(row.created_at),
    readAtMs: msOrNull(row.read_at),
  };
}

function toView(row: Row): SavedViewRecord {
  return {
    id: str(row.id),
    projectId: str(row.project_id),
    name: str(row.name),
    query: parseJson<JsonObject>(row.query),
    createdBy: str(row.created_by),
    createdAtMs: tsMs(row.created_at),
  };
}

/** Inserts one API key row (also used by DuckDbMetaStore.createProject, in its transaction). */
export async function insertApiKey(c: DuckDBConnection, key: ApiKeyRecord): Promise<void> {
  await c.run(
    `INSERT INTO api_keys (id, project_id, name, secret_hash, prefix, scopes, allowed_cidrs,
       created_by, created_at, expires_at, revoked_at, rotated_from, last_used_at,
       last_used_place, use_count)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
    [
      key.id,
      key.projectId,
      key.name,
      key.secretHash,
      key.prefix,
      JSON.stringify(key.scopes),
      JSON.stringify(key.allowedCidrs),
      key.createdBy,
      tsValue(key.createdAtMs),
      tsOrNull(key.expiresAtMs),
      tsOrNull(key.revokedAtMs),
      key.rotatedFrom,
      tsOrNull(key.lastUsedAtMs),
      key.lastUsedPlace,
      key.useCount,
    ],
  );
}

/** Accounts live in the same file as events, on the serialised metadata connection. */
export class DuckDbAccountStore implements AccountStore {
  /**
   * Uses of API keys recorded and not yet written, by key id (`recordApiKeyUse`): those waiting,
   * and those in the transaction that writes them.
   */
  private waitingUses = new Map<string, KeyUses>();
  private writingUses = new Map<string, KeyUses>();
  /** Counts the writes of uses committed (a read of keys that spans one reads again). */
  private usesWritten = 0;
  private usesTimer: NodeJS.Timeout | null = null;
  private usesWrite: Promise<void> | null = null;

  constructor(private readonly db: DuckDbDatabase) {
    db.beforeClose(() => {
      if (this.usesTimer) clearTimeout(this.usesTimer);
      this.usesTimer = null;
      return this.writeUses();
    });
  }

  /**
   * Runs one statement and returns its rows. A SELECT runs on the lookup connection, never
   * behind a write on the metadata connection: a commit there may fold what the loader wrote
   * into the file (DuckDB's automatic checkpoint, seconds on a busy store), and a request's
   * authentication would wait for it.
   */
  private rows(what: string, sql: string, params: DuckDBValue[] = []): Promise<Row[]> {
    const connection = /^\s*SELECT\b/i.test(sql) ? this.db.lookups : this.db.meta;
    return connection.run(async (c) => {
      try {
        return (await c.runAndReadAll(sql, params)).getRowObjects();
      } catch (cause) {
        throw writeError(cause, what);
      }
    });
  }

  /** Runs one statement and returns how many rows it changed. */
  private exec(what: string, sql: string, params: DuckDBValue[]): Promise<number> {
    return this.db.meta.run(async (c) => {
      try {
        return (await c.run(sql, params)).rowsChanged;
      } catch (cause) {
        throw writeError(cause, what);
      }
    });
  }

  /** Runs several statements in one transaction. */
  private transaction<T>(what: string, task: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    return this.db.meta.run(async (c) => {
      await c.run('BEGIN TRANSACTION');
      try {
        const result = await task(c);
        await c.run('COMMIT');
        return result;
      } catch (cause) {
        // A failed COMMIT has already rolled back; the original error is the one to report.
        await c.run('ROLLBACK').catch(() => undefined);
        throw writeError(cause, what);
      }
    });
  }

  // Organisations and members.

  async createOrg(org: OrgRecord): Promise<void> {
    await this.exec(
      'create organisation',
      'INSERT INTO orgs (id, name, policy, created_at, locked_down_at, locked_down_by) VALUES ($1, $2, $3, $4, $5, $6)',
      [
        org.id,
        org.name,
        JSON.stringify(org.policy),
        tsValue(org.createdAtMs),
        tsOrNull(org.lockedDownAtMs),
        org.lockedDownBy,
      ],
    );
  }

  async getOrg(id: string): Promise<OrgRecord | null> {
    const [row] = await this.rows('get organisation', 'SELECT * FROM orgs WHERE id = $1', [id]);
    return row ? toOrg(row) : null;
  }

  async listOrgs(): Promise<OrgRecord[]> {
    const rows = await this.rows(
      'list organisations',
      'SELECT * FROM orgs ORDER BY created_at, id',
    );
    return rows.map(toOrg);
  }

  async setOrgPolicy(id: string, policy: OrgPolicy): Promise<void> {
    await this.exec('set organisation policy', 'UPDATE orgs SET policy = $2 WHERE id = $1', [
      id,
      JSON.stringify(policy),
    ]);
  }

  async markLockedDown(id: string, atMs: number, byUserId: string): Promise<void> {
    await this.exec(
      'mark organisation locked down',
      'UPDATE orgs SET locked_down_at = $2, locked_down_by = $3 WHERE id = $1',
      [id, tsValue(atMs), byUserId],
    );
  }

  async setProjectOrg(projectId: string, orgId: string): Promise<void> {
    await this.exec(
      'set project organisation',
      'INSERT INTO project_orgs (project_id, org_id) VALUES ($1, $2) ON CONFLICT (project_id) DO UPDATE SET org_id = excluded.org_id',
      [projectId, orgId],
    );
  }

  async projectOrg(projectId: string): Promise<string | null> {
    const [row] = await this.rows(
      'get project organisation',
      'SELECT org_id FROM project_orgs WHERE project_id = $1',
      [projectId],
    );
    return row ? str(row.org_id) : null;
  }

  async listOrgProjects(orgId: string): Promise<string[]> {
    const rows = await this.rows(
      'list organisation projects',
      `SELECT o.project_id FROM project_orgs o LEFT JOIN projects p ON p.id = o.project_id
       WHERE o.org_id = $1 ORDER BY p.created_at NULLS LAST, o.project_id`,
      [orgId],
    );
    return rows.map((row) => str(row.project_id));
  }

  async listUnassignedProjects(): Promise<string[]> {
    const rows = await this.rows(
      'list unassigned projects',
      `SELECT p.id FROM projects p
       WHERE NOT EXISTS (SELECT 1 FROM project_orgs o WHERE o.project_id = p.id)
       ORDER BY p.created_at, p.id`,
    );
    return rows.map((row) => str(row.id));
  }

  async createUser(user: UserRecord): Promise<void> {
    await this.exec(
      'create user',
      `INSERT INTO users (id, email, password_hash, status, created_at, failed_attempts, locked_until)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        user.id,
        user.email,
        user.passwordHash,
        user.status,
        tsValue(user.createdAtMs),
        user.failedAttempts,
        tsValue(user.lockedUntilMs),
      ],
    );
  }

  async getUser(id: string): Promise<UserRecord | null> {
    const [row] = await this.rows('get user', 'SELECT * FROM users WHERE id = $1', [id]);
    return row ? toUser(row) : null;
  }

  async findUserByEmail(email: string): Promise<UserRecord | null> {
    const [row] = await this.rows('find user', 'SELECT * FROM users WHERE email = $1', [email]);
    return row ? toUser(row) : null;
  }

  async updateUser(
    id: string,
    patch: Partial<
      Pick<UserRecord, 'passwordHash' | 'status' | 'failedAttempts' | 'lockedUntilMs'>
    >,
  ): Promise<void> {
    const params: DuckDBValue[] = [id];
    const sets: string[] = [];
    const set = (column: string, value: DuckDBValue): void => {
      params.push(value);
      sets.push(`${column} = $${params.length}`);
    };
    if (patch.passwordHash !== undefined) set('password_hash', patch.passwordHash);
    if (patch.status !== undefined) set('status', patch.status);
    if (patch.failedAttempts !== undefined) set('failed_attempts', patch.failedAttempts);
    if (patch.lockedUntilMs !== undefined) set('locked_until', tsValue(patch.lockedUntilMs));
    if (sets.length === 0) return;
    await this.exec('update user', `UPDATE users SET ${sets.join(', ')} WHERE id = $1`, params);
  }

  async putMembership(m: MembershipRecord): Promise<void> {
    await this.exec(
      'put membership',
      `INSERT INTO memberships (org_id, user_id, role, created_at, access_from, suspended_reason)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role,
         created_at = excluded.created_at, access_from = excluded.access_from,
         suspended_reason = excluded.suspended_reason`,
      [m.orgId, m.userId, m.role, tsValue(m.createdAtMs), tsOrNull(m.accessFromMs), m.suspended],
    );
  }

  async endOrgAccess(orgId: string, atMs: number): Promise<number> {
    return this.exec(
      'end organisation access',
      'UPDATE memberships SET access_from = $2 WHERE org_id = $1',
      [orgId, tsValue(atMs)],
    );
  }

  async removeMembership(orgId: string, userId: string): Promise<void> {
    await this.exec(
      'remove membership',
      'DELETE FROM memberships WHERE org_id = $1 AND user_id = $2',
      [orgId, userId],
    );
  }

  async listMemberships(userId: string): Promise<MembershipRecord[]> {
    const rows = await this.rows(
      'list memberships',
      'SELECT * FROM memberships WHERE user_id = $1 ORDER BY created_at, org_id',
      [userId],
    );
    return rows.map(toMembership);
  }

  async listMembers(orgId: string): Promise<MembershipRecord[]> {
    const rows = await this.rows(
      'list members',
      'SELECT * FROM memberships WHERE org_id = $1 ORDER BY created_at, user_id',
      [orgId],
    );
    return rows.map(toMembership);
  }

  // Factors and recovery codes.

  async addFactor(factor: FactorRecord): Promise<void> {
    const passkey = factor.kind === 'passkey' ? factor : null;
    const totp = factor.kind === 'totp' ? factor : null;
    await this.exec(
      'add factor',
      `INSERT INTO factors (id, user_id, kind, label, created_at, last_used_at, credential_id,
         public_key, counter, transports, backed_up, trusted_from, sealed_secret, last_step,
         confirmed)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      [
        factor.id,
        factor.userId,
        factor.kind,
        factor.label,
        tsValue(factor.createdAtMs),
        tsOrNull(factor.lastUsedAtMs),
        passkey?.credentialId ?? null,
        passkey ? new DuckDBBlobValue(passkey.publicKey) : null,
        passkey?.counter ?? null,
        passkey ? JSON.stringify(passkey.transports) : null,
        passkey?.backedUp ?? null,
        passkey ? tsValue(passkey.trustedFromMs) : null,
        totp?.sealedSecret ?? null,
        totp?.lastStep ?? null,
        totp?.confirmed ?? null,
      ],
    );
  }

  async listFactors(userId: string): Promise<FactorRecord[]> {
    const rows = await this.rows(
      'list factors',
      'SELECT * FROM factors WHERE user_id = $1 ORDER BY created_at, id',
      [userId],
    );
    return rows.map(toFactor);
  }

  async findPasskey(credentialId: string): Promise<PasskeyFactor | null> {
    const [row] = await this.rows(
      'find passkey',
      "SELECT * FROM factors WHERE credential_id = $1 AND kind = 'passkey'",
      [credentialId],
    );
    const factor = row ? toFactor(row) : null;
    return factor?.kind === 'passkey' ? factor : null;
  }

  async updateFactorUse(
    id: string,
    patch: { lastUsedAtMs: number; counter?: number; lastStep?: number; confirmed?: boolean },
  ): Promise<void> {
    const params: DuckDBValue[] = [id, tsValue(patch.lastUsedAtMs)];
    const sets = ['last_used_at = $2'];
    const set = (column: string, value: DuckDBValue): void => {
      params.push(value);
      sets.push(`${column} = $${params.length}`);
    };
    if (patch.counter !== undefined) set('counter', patch.counter);
    if (patch.lastStep !== undefined) set('last_step', patch.lastStep);
    if (patch.confirmed !== undefined) set('confirmed', patch.confirmed);
    await this.exec('update factor', `UPDATE factors SET ${sets.join(', ')} WHERE id = $1`, params);
  }

  async claimTotpStep(id: string, step: number, atMs: number): Promise<boolean> {
    // One conditional UPDATE: the row's current step decides, whatever order requests arrive in.
    const won = await this.rows(
      'claim TOTP step',
      `UPDATE factors SET last_step = $2, last_used_at = $3
       WHERE id = $1 AND kind = 'totp' AND (last_step IS NULL OR last_step < $2)
       RETURNING id`,
      [id, step, tsValue(atMs)],
    );
    return won.length === 1;
  }

  async claimPasskeyCounter(
    id: string,
    seen: number,
    next: number,
    atMs: number,
  ): Promise<boolean> {
    const won = await this.rows(
      'claim passkey counter',
      `UPDATE factors SET counter = $3, last_used_at = $4
       WHERE id = $1 AND kind = 'passkey' AND counter = $2
       RETURNING id`,
      [id, seen, next, tsValue(atMs)],
    );
    return won.length === 1;
  }

  async removeFactor(id: string): Promise<void> {
    await this.exec('remove factor', 'DELETE FROM factors WHERE id = $1', [id]);
  }

  async replaceRecoveryCodes(userId: string, hashes: string[], atMs: number): Promise<void> {
    await this.transaction('replace recovery codes', async (c) => {
      await c.run('DELETE FROM recovery_codes WHERE user_id = $1', [userId]);
      for (const hash of new Set(hashes)) {
        await c.run(
          'INSERT INTO recovery_codes (user_id, code_hash, created_at, used_at) VALUES ($1, $2, $3, NULL)',
          [userId, hash, tsValue(atMs)],
        );
      }
    });
  }

  async useRecoveryCode(userId: string, codeHash: string, atMs: number): Promise<boolean> {
    const used = await this.rows(
      'use recovery code',
      `UPDATE recovery_codes SET used_at = $3
       WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL
       RETURNING code_hash`,
      [userId, codeHash, tsValue(atMs)],
    );
    return used.length === 1;
  }

  async countUnusedRecoveryCodes(userId: string): Promise<number> {
    const [row] = await this.rows(
      'count recovery codes',
      'SELECT count(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL',
      [userId],
    );
    return Number(row?.n ?? 0);
  }

  // Sessions and challenges.

  async createSession(session: SessionRecord): Promise<void> {
    await this.exec(
      'create session',
      `INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, idle_timeout_ms,
         method, step_up_at, step_up_method, device, place, revoked_at, revoked_reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
      [
        session.idHash,
        session.userId,
        tsValue(session.createdAtMs),
        tsValue(session.lastSeenAtMs),
        tsValue(session.expiresAtMs),
        session.idleTimeoutMs,
        session.method,
        tsOrNull(session.stepUpAtMs),
        session.stepUpMethod,
        session.device,
        session.place,
        tsOrNull(session.revokedAtMs),
        session.revokedReason,
      ],
    );
  }

  async getSession(idHash: string): Promise<SessionRecord | null> {
    const [row] = await this.rows('get session', 'SELECT * FROM sessions WHERE id_hash = $1', [
      idHash,
    ]);
    return row ? toSession(row) : null;
  }

  async touchSession(idHash: string, atMs: number): Promise<void> {
    await this.exec('touch session', 'UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1', [
      idHash,
      tsValue(atMs),
    ]);
  }

  async markStepUp(idHash: string, atMs: number, method: AuthMethod): Promise<void> {
    await this.exec(
      'mark step-up',
      'UPDATE sessions SET step_up_at = $2, step_up_method = $3 WHERE id_hash = $1',
      [idHash, tsValue(atMs), method],
    );
  }

  async listSessions(userId: string): Promise<SessionRecord[]> {
    const rows = await this.rows(
      'list sessions',
      'SELECT * FROM sessions WHERE user_id = $1 ORDER BY created_at, id_hash',
      [userId],
    );
    return rows.map(toSession);
  }

  async revokeSessions(
    filter: { idHash: string } | { userId: string },
    atMs: number,
    reason: string,
  ): Promise<number> {
    const [where, value] =
      'idHash' in filter ? ['id_hash = $3', filter.idHash] : ['user_id = $3', filter.userId];
    return this.exec(
      'revoke sessions',
      `UPDATE sessions SET revoked_at = $1, revoked_reason = $2
       WHERE revoked_at IS NULL AND ${where}`,
      [tsValue(atMs), reason, value],
    );
  }

  async putChallenge(challenge: ChallengeRecord): Promise<void> {
    await this.exec(
      'put challenge',
      `INSERT INTO challenges (id_hash, purpose, user_id, session_id_hash, data, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [
        challenge.idHash,
        challenge.purpose,
        challenge.userId,
        challenge.sessionIdHash,
        JSON.stringify(challenge.data),
        tsValue(challenge.expiresAtMs),
      ],
    );
  }

  async takeChallenge(
    idHash: string,
    purpose: ChallengeRecord['purpose'],
    nowMs: number,
  ): Promise<ChallengeRecord | null> {
    return this.transaction('take challenge', async (c) => {
      const now = tsValue(nowMs);
      // Expired challenges are of no use to anyone: sweep them while we are here.
      await c.run('DELETE FROM challenges WHERE expires_at <= $1', [now]);
      const taken = await c.runAndReadAll(
        'DELETE FROM challenges WHERE id_hash = $1 AND purpose = $2 AND expires_at > $3 RETURNING *',
        [idHash, purpose, now],
      );
      const row = taken.getRowObjects()[0];
      return row ? toChallenge(row) : null;
    });
  }

  async knownDevice(userId: string, deviceHash: string): Promise<boolean> {
    const rows = await this.rows(
      'check device',
      'SELECT 1 FROM devices WHERE user_id = $1 AND device_hash = $2',
      [userId, deviceHash],
    );
    return rows.length > 0;
  }

  async rememberDevice(userId: string, deviceHash: string, atMs: number): Promise<void> {
    await this.exec(
      'remember device',
      `INSERT INTO devices (user_id, device_hash, first_seen_at, last_seen_at) VALUES ($1, $2, $3, $3)
       ON CONFLICT (user_id, device_hash) DO UPDATE SET last_seen_at = excluded.last_seen_at`,
      [userId, deviceHash, tsValue(atMs)],
    );
  }

  // Invitations and setup links.

  async createInvitation(invitation: InvitationRecord): Promise<void> {
    await this.exec(
      'create invitation',
      `INSERT INTO invitations (id, org_id, email, role, token_hash, created_by, created_at,
         expires_at, accepted_at, user_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        invitation.id,
        invitation.orgId,
        invitation.email,
        invitation.role,
        invitation.tokenHash,
        invitation.createdBy,
        tsValue(invitation.createdAtMs),
        tsValue(invitation.expiresAtMs),
        tsOrNull(invitation.acceptedAtMs),
        invitation.userId,
      ],
    );
  }

  async findInvitation(tokenHash: string): Promise<InvitationRecord | null> {
    const [row] = await this.rows(
      'find invitation',
      'SELECT * FROM invitations WHERE token_hash = $1',
      [tokenHash],
    );
    return row ? toInvitation(row) : null;
  }

  async markInvitationAccepted(id: string, atMs: number): Promise<boolean> {
    const accepted = await this.rows(
      'accept invitation',
      'UPDATE invitations SET accepted_at = $2 WHERE id = $1 AND accepted_at IS NULL RETURNING id',
      [id, tsValue(atMs)],
    );
    return accepted.length === 1;
  }

  async listInvitations(orgId: string): Promise<InvitationRecord[]> {
    const rows = await this.rows(
      'list invitations',
      'SELECT * FROM invitations WHERE org_id = $1 ORDER BY created_at, id',
      [orgId],
    );
    return rows.map(toInvitation);
  }

  async listInvitationsForEmail(email: string): Promise<InvitationRecord[]> {
    const rows = await this.rows(
      'list invitations for an address',
      'SELECT * FROM invitations WHERE email = $1 ORDER BY created_at, id',
      [email],
    );
    return rows.map(toInvitation);
  }

  async deleteInvitation(id: string): Promise<void> {
    await this.exec('delete invitation', 'DELETE FROM invitations WHERE id = $1', [id]);
  }

  // API keys.

  async createApiKey(key: ApiKeyRecord): Promise<void> {
    await this.db.meta.run(async (c) => {
      try {
        await insertApiKey(c, key);
      } catch (cause) {
        throw writeError(cause, 'create API key');
      }
    });
  }

  /** Keys as stored, with the uses recorded and not yet written (`recordApiKeyUse`). */
  private async apiKeys(what: string, sql: string, params: DuckDBValue[]): Promise<ApiKeyRecord[]> {
    // A write of uses that commits while the rows are read may or may not be in them: read again
    // (writes are a second apart, reads take milliseconds).
    for (let attempt = 1; ; attempt++) {
      const written = this.usesWritten;
      const rows = await this.rows(what, sql, params);
      if (written === this.usesWritten || attempt === 5) {
        return rows.map((row) => {
          let key = toApiKey(row);
          for (const uses of [this.writingUses.get(key.id), this.waitingUses.get(key.id)]) {
            if (uses) {
              key = {
                ...key,
                lastUsedAtMs: uses.atMs,
                lastUsedPlace: uses.place,
                useCount: key.useCount + uses.count,
              };
            }
          }
          return key;
        });
      }
    }
  }

  async findApiKeyByHash(secretHash: string): Promise<ApiKeyRecord | null> {
    // Revoked and expired keys too: the caller refuses them and can say why.
    const [key] = await this.apiKeys(
      'find API key',
      'SELECT * FROM api_keys WHERE secret_hash = $1',
      [secretHash],
    );
    return key ?? null;
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | null> {
    const [key] = await this.apiKeys('get API key', 'SELECT * FROM api_keys WHERE id = $1', [id]);
    return key ?? null;
  }

  async listApiKeys(projectId: string): Promise<ApiKeyRecord[]> {
    return this.apiKeys(
      'list API keys',
      'SELECT * FROM api_keys WHERE project_id = $1 ORDER BY created_at, id',
      [projectId],
    );
  }

  async revokeApiKey(id: string, atMs: number): Promise<void> {
    // The first revocation time stands.
    await this.exec(
      'revoke API key',
      'UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL',
      [id, tsValue(atMs)],
    );
  }

  async revokeOrgApiKeys(orgId: string, atMs: number): Promise<number> {
    return this.exec(
      'revoke organisation API keys',
      `UPDATE api_keys SET revoked_at = $2
       WHERE revoked_at IS NULL
         AND project_id IN (SELECT project_id FROM project_orgs WHERE org_id = $1)`,
      [orgId, tsValue(atMs)],
    );
  }

  async setApiKeyExpiry(id: string, expiresAtMs: number): Promise<void> {
    await this.exec('set API key expiry', 'UPDATE api_keys SET expires_at = $2 WHERE id = $1', [
      id,
      tsValue(expiresAtMs),
    ]);
  }

  /**
   * Noted at once and written within a second, the uses of every key together, in one
   * transaction on the metadata connection: a request does not wait for a commit (which may fold
   * what the loader wrote into the file: seconds, issue 12). Reads of keys count the uses not yet
   * written; a crash loses at most the last second's counts (the audit log has every use).
   */
  recordApiKeyUse(id: string, atMs: number, place: string | null): Promise<void> {
    const uses = this.waitingUses.get(id);
    if (uses) {
      uses.count += 1;
      uses.atMs = atMs;
      uses.place = place;
    } else {
      this.waitingUses.set(id, { count: 1, atMs, place });
    }
    this.scheduleUses();
    return Promise.resolve();
  }

  private scheduleUses(): void {
    if (this.usesTimer) return;
    this.usesTimer = setTimeout(() => {
      this.usesTimer = null;
      // A failed write keeps its uses for the next one.
      this.writeUses().catch(() => this.scheduleUses());
    }, KEY_USES_DELAY_MS);
    this.usesTimer.unref();
  }

  /** Writes the uses recorded so far (and those recorded while it runs); before a close too. */
  private writeUses(): Promise<void> {
    this.usesWrite ??= (async () => {
      try {
        while (this.waitingUses.size > 0) {
          this.writingUses = this.waitingUses;
          this.waitingUses = new Map();
          const writing = [...this.writingUses];
          try {
            await this.transaction('record API key use', async (c) => {
              for (const [id, uses] of writing) {
                await c.run(
                  `UPDATE api_keys SET last_used_at = $2, last_used_place = $3,
                     use_count = use_count + $4
                   WHERE id = $1`,
                  [id, tsValue(uses.atMs), uses.place, BigInt(uses.count)],
                );
              }
            });
          } catch (error) {
            // Back in front of those recorded since (theirs is the later use).
            for (const [id, uses] of writing) {
              const later = this.waitingUses.get(id);
              this.waitingUses.set(
                id,
                later ? { ...later, count: later.count + uses.count } : uses,
              );
            }
            this.writingUses = new Map();
            throw error;
          }
          this.writingUses = new Map();
          this.usesWritten += 1;
        }
      } finally {
        this.usesWrite = null;
      }
    })();
    return this.usesWrite;
  }

  // Notices and saved views.

  async addNotice(notice: NoticeRecord): Promise<void> {
    await this.exec(
      'add notice',
      `INSERT INTO notices (id, user_id, kind, details, created_at, read_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [
        notice.id,
        notice.userId,
        notice.kind,
        JSON.stringify(notice.details),
        tsValue(notice.createdAtMs),
        tsOrNull(notice.readAtMs),
      ],
    );
  }

  /** The `limit` most recent notices, newest first. */
  async listNotices(userId: string, limit: number): Promise<NoticeRecord[]> {
    const rows = await this.rows(
      'list notices',
      'SELECT * FROM notices WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2',
      [userId, Math.max(0, Math.floor(limit))],
    );
    return rows.map(toNotice);
  }

  async markNoticesRead(userId: string, atMs: number): Promise<void> {
    await this.exec(
      'mark notices read',
      'UPDATE notices SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL',
      [userId, tsValue(atMs)],
    );
  }

  async createView(view: SavedViewRecord): Promise<void> {
    await this.exec(
      'create view',
      `INSERT INTO saved_views (id, project_id, name, query, created_by, created_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [
        view.id,
        view.projectId,
        view.name,
        JSON.stringify(view.query),
        view.createdBy,
        tsValue(view.createdAtMs),
      ],
    );
  }

  async getView(id: string): Promise<SavedViewRecord | null> {
    const [row] = await this.rows('get view', 'SELECT * FROM saved_views WHERE id = $1', [id]);
    return row ? toView(row) : null;
  }

  async listViews(projectId: string): Promise<SavedViewRecord[]> {
    const rows = await this.rows(
      'list views',
      'SELECT * FROM saved_views WHERE project_id = $1 ORDER BY created_at, id',
      [projectId],
    );
    return rows.map(toView);
  }

  async deleteView(id: string): Promise<void> {
    await this.exec('delete view', 'DELETE FROM saved_views WHERE id = $1', [id]);
  }
}
