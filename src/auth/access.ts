// The one authorisation decision: may this principal do this action on this organisation or
// project? Function-level (role or scope), object-level (membership, key binding) and step-up.
import { AppError } from '../shared/errors.js';
import type { OrgRecord, Role } from '../store/account-types.js';
import type { AuthDeps, Principal } from './context.js';
import { roleAllows, scopesAllow, STEP_UP_ACTIONS, type Action } from './permissions.js';
import { passkeyRequiredIn } from './sessions.js';
import { requireStepUp } from './sign-in.js';

/** What a request acts on. Exactly one of the two is given. */
export type Target = { orgId: string } | { projectId: string };

/** The access granted: the organisation involved and the person's role there (null for keys). */
export interface Access {
  orgId: string | null;
  org: OrgRecord | null;
  role: Role | null;
}

// Objects outside a principal's reach are "not found", not "forbidden": their existence is not
// disclosed across organisation boundaries (OWASP API1 BOLA).
const noProject = (): AppError => new AppError('PROJECT_NOT_FOUND', 'no such project');
const noOrg = (): AppError => new AppError('ORG_NOT_FOUND', 'no such organisation');

export async function authorize(
  deps: AuthDeps,
  principal: Principal,
  action: Action,
  target: Target,
): Promise<Access> {
  const projectId = 'projectId' in target ? target.projectId : null;
  const orgId =
    projectId !== null
      ? await deps.store.projectOrg(projectId)
      : (target as { orgId: string }).orgId;

  if (principal.kind === 'api-key') {
    if (projectId === null) {
      deps.logger.warn('access denied', {
        actor: principal.actor,
        kind: action,
        outcome: 'denied',
      });
      throw new AppError('AUTH_FORBIDDEN', 'secret keys cannot act on organisations');
    }
    if (principal.key.projectId !== projectId) throw noProject();
    if (!scopesAllow(principal.key.scopes, action)) {
      deps.logger.warn('access denied', {
        actor: principal.actor,
        kind: action,
        outcome: 'denied',
      });
      throw new AppError('AUTH_FORBIDDEN', `this key's scopes do not allow ${action}`);
    }
    return { orgId, org: orgId ? await deps.store.getOrg(orgId) : null, role: null };
  }

  const org = orgId !== null ? await deps.store.getOrg(orgId) : null;
  const membership = org
    ? (await deps.store.listMemberships(principal.user.id)).find((m) => m.orgId === org.id)
    : undefined;
  if (!org || !membership) throw projectId !== null ? noProject() : noOrg();
  // The organisation's grant decides, not the account: a suspended grant reaches nothing, and a
  // session started before the organisation last ended its members' sessions no longer reaches it
  // (the same session keeps the person's other organisations).
  if (membership.suspended !== null) {
    throw new AppError(
      'AUTH_MEMBERSHIP_SUSPENDED',
      'your access to this organisation is on hold until the server operator confirms you (after an account reset)',
    );
  }
  if (membership.accessFromMs !== null && principal.session.createdAtMs < membership.accessFromMs) {
    throw new AppError(
      'AUTH_ORG_ACCESS_ENDED',
      'this organisation ended your session; sign in again to use it',
    );
  }
  // Where the organisation requires passkeys of this role, only a session that proved a passkey
  // (signed in with one, or stepped up with one since) reaches it. Sign-in applies the rule, but
  // never saw a session opened with a code before the owner required passkeys, nor one opened
  // under another organisation's laxer policy that then accepted this one's invitation.
  if (
    passkeyRequiredIn(org.policy, membership.role) &&
    principal.session.method !== 'passkey' &&
    principal.session.stepUpMethod !== 'passkey'
  ) {
    throw new AppError(
      'AUTH_PASSKEY_REQUIRED',
      'this organisation requires a passkey: sign in again with your passkey',
    );
  }
  if (!roleAllows(membership.role, action)) {
    deps.logger.warn('access denied', {
      actor: principal.actor,
      orgId: org.id,
      kind: action,
      outcome: 'denied',
    });
    throw new AppError('AUTH_FORBIDDEN', `the ${membership.role} role does not allow ${action}`);
  }
  if (STEP_UP_ACTIONS.has(action)) await requireStepUp(deps, principal);
  return { orgId: org.id, org, role: membership.role };
}
