// Security acts on the record without touching the account services: the account store is wrapped
// so that every sign-in, failure, factor, session, key, member, invitation, policy and lock-down
// write also appends an audit entry (API, CLI and admin-socket paths alike). The wrapper is also
// where a suspended principal is held off: no new session for a suspended person, no
// authentication with a suspended key.
import type { JsonObject } from '../shared/json.js';
import type { AccountStore } from '../store/account-types.js';
import { AppError } from '../shared/errors.js';
import { actingPrincipal } from './acting.js';
import type { AuditLog } from './audit-log.js';
import type { AuditInput } from './types.js';

const userActor = (id: string | null | undefined): string => (id ? `user:${id}` : 'system');

/**
 * The initiator of an act the store cannot see: the principal of the request or command being
 * served (an owner changing someone's role), else `system` (expiry, the log's own responses).
 */
const initiator = (): Pick<AuditInput, 'actor' | 'source'> => {
  const a = actingPrincipal();
  return a ? { actor: a.actor, source: a.source } : { actor: 'system' };
};

/** Wraps an account store; reads pass through, security-relevant writes are recorded after. */
export function auditedAccountStore(inner: AccountStore, audit: AuditLog): AccountStore {
  const after =
    <A extends unknown[], R>(
      call: (...args: A) => Promise<R>,
      entry: (result: R, ...args: A) => AuditInput | null | Promise<AuditInput | null>,
    ) =>
    async (...args: A): Promise<R> => {
      const result = await call(...args);
      const input = await entry(result, ...args);
      if (input) {
        const by = actingPrincipal();
        await audit.record(
          input.source === undefined && by ? { ...input, source: by.source } : input,
        );
      }
      return result;
    };

  /** Records a refused attempt; the refusal stands even when the entry cannot be written. */
  const refusal = (input: Omit<AuditInput, 'outcome'>): Promise<unknown> =>
    audit.record({ ...input, outcome: 'AUDIT_PRINCIPAL_SUSPENDED' }).catch(() => undefined);

  const wrapped: Partial<AccountStore> = {
    createSession: async (session) => {
      if (audit.isSuspended(userActor(session.userId))) {
        // The refused sign-in is evidence (the credentials still work for whoever holds them).
        await refusal({
          kind: 'sign_in_failed',
          actor: userActor(session.userId),
          source: { kind: 'http', ip: null, place: session.place },
          detail: { method: session.method, device: session.device },
        });
        throw new AppError(
          'AUDIT_PRINCIPAL_SUSPENDED',
          'this account is suspended after unusual access; an owner must lift it',
        );
      }
      await inner.createSession(session);
      await audit.record({
        kind: 'sign_in',
        actor: userActor(session.userId),
        source: { kind: 'http', ip: null, place: session.place },
        target: `session:${session.idHash.slice(0, 16)}`,
        detail: { method: session.method, device: session.device },
      });
    },
    setProjectOrg: async (projectId, orgId) => {
      await inner.setProjectOrg(projectId, orgId);
      // Entries carry the project's organisation: the log's cache of it must follow the move.
      audit.forgetProjectOrg(projectId);
    },
    // A suspended key is refused where its use is recorded, which knows where it came from
    // (authentication checks revocation, expiry and networks first; every read admits again).
    recordApiKeyUse: async (id, at, place) => {
      const actor = `key:${id}`;
      const projectId = (await inner.getApiKey(id))?.projectId ?? null;
      const source = { kind: 'http' as const, ip: null, place };
      if (audit.isSuspended(actor)) {
        await refusal({ kind: 'key_used', actor, projectId, source });
        throw new AppError(
          'AUDIT_PRINCIPAL_SUSPENDED',
          'this key is suspended after unusual access; an owner must lift it',
        );
      }
      await inner.recordApiKeyUse(id, at, place);
      await audit.record({ kind: 'key_used', actor, projectId, source });
    },
    revokeSessions: after(inner.revokeSessions.bind(inner), (count, filter, _at, reason) =>
      count > 0
        ? {
            kind: 'session_revoked',
            actor:
              actingPrincipal()?.actor ??
              ('userId' in filter ? userActor(filter.userId) : 'system'),
            target:
              'idHash' in filter
                ? `session:${filter.idHash.slice(0, 16)}`
                : `user:${filter.userId}`,
            detail: { reason, count },
          }
        : null,
    ),
    updateUser: after(inner.updateUser.bind(inner), (_r, id, patch): AuditInput | null => {
      // The person themselves, or an admin acting on them (a reset): both named.
      const by = actingPrincipal()?.actor ?? userActor(id);
      if (patch.passwordHash !== undefined)
        return { kind: 'password_changed', actor: by, target: userActor(id) };
      if (patch.failedAttempts !== undefined && patch.failedAttempts > 0)
        return {
          kind: 'sign_in_failed',
          actor: userActor(id),
          outcome: 'AUTH_LOGIN_FAILED',
          detail: { failed_attempts: patch.failedAttempts },
        };
      if (patch.status !== undefined)
        return {
          kind: 'account_status',
          actor: by,
          target: userActor(id),
          detail: { status: patch.status },
        };
      return null;
    }),
    addFactor: after(inner.addFactor.bind(inner), (_r, factor) => ({
      kind: 'factor_added',
      actor: userActor(factor.userId),
      target: factor.id,
      detail: { factor: factor.kind },
    })),
    removeFactor: after(inner.removeFactor.bind(inner), (_r, id) => ({
      kind: 'factor_removed',
      ...initiator(),
      target: id,
    })),
    replaceRecoveryCodes: after(inner.replaceRecoveryCodes.bind(inner), (_r, userId) => ({
      kind: 'factor_added',
      actor: userActor(userId),
      detail: { factor: 'recovery_codes' },
    })),
    createApiKey: after(inner.createApiKey.bind(inner), (_r, key) => ({
      kind: key.rotatedFrom ? 'key_rotated' : 'key_created',
      actor: userActor(key.createdBy),
      projectId: key.projectId,
      target: `key:${key.id}`,
      detail: {
        scopes: key.scopes,
        ...(key.rotatedFrom ? { rotated_from: key.rotatedFrom } : {}),
      },
    })),
    revokeApiKey: after(inner.revokeApiKey.bind(inner), async (_r, id) => ({
      kind: 'key_revoked',
      ...initiator(),
      projectId: (await inner.getApiKey(id))?.projectId ?? null,
      target: `key:${id}`,
    })),
    revokeOrgApiKeys: after(inner.revokeOrgApiKeys.bind(inner), (count, orgId) => ({
      kind: 'key_revoked',
      ...initiator(),
      orgId,
      target: `org:${orgId}`,
      detail: { count },
    })),
    putMembership: after(inner.putMembership.bind(inner), (_r, m) => ({
      kind: 'member_changed',
      ...initiator(),
      orgId: m.orgId,
      target: userActor(m.userId),
      detail: { role: m.role },
    })),
    removeMembership: after(inner.removeMembership.bind(inner), (_r, orgId, userId) => ({
      kind: 'member_removed',
      ...initiator(),
      orgId,
      target: userActor(userId),
    })),
    createInvitation: after(inner.createInvitation.bind(inner), (_r, inv) => ({
      kind: 'invitation_created',
      actor: userActor(inv.createdBy),
      orgId: inv.orgId,
      target: inv.id,
      detail: { role: inv.role },
      sensitive: { email: inv.email },
    })),
    setOrgPolicy: after(inner.setOrgPolicy.bind(inner), (_r, orgId, policy) => ({
      kind: 'org_policy_changed',
      ...initiator(),
      orgId,
      detail: { ...policy } as unknown as JsonObject,
    })),
    markLockedDown: after(inner.markLockedDown.bind(inner), (_r, orgId, _at, by) => ({
      kind: 'lockdown',
      actor: userActor(by),
      orgId,
    })),
  };
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && Object.hasOwn(wrapped, prop))
        return wrapped[prop as keyof AccountStore];
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}
