// An organisation's grant to a person, and the one rule over it: every act of an organisation's
// owners and admins on a person goes through this file (issue 9; the model is in ./index.ts).
import { AppError } from '../shared/errors.js';
import type {
  InvitationRecord,
  MembershipRecord,
  OrgRecord,
  Role,
  UserRecord,
} from '../store/account-types.js';
import type { AuthDeps, UserPrincipal } from './context.js';
import type { OrgAccessChange } from './notices.js';
import { createInvitation } from './organisations.js';
import { canManageRole, roleAllows } from './permissions.js';
import { liveSessions } from './sessions.js';
import { normaliseEmail } from './sign-in.js';

/** Who acts for an organisation: a signed-in owner or admin (after `authorize`). */
export interface OrgActor {
  org: OrgRecord;
  role: Role;
  principal: UserPrincipal;
}

/** The grant an actor's organisation gave one person: the only thing the actor may act on. */
export interface MemberGrant {
  org: OrgRecord;
  membership: MembershipRecord;
  user: UserRecord;
}

const noMember = (): AppError => new AppError('NOT_FOUND', 'no such member');

/**
 * Resolves the person an organisation acts on, through that organisation's own grant: someone who
 * is not a member of the actor's organisation is "not found", whatever other organisation they
 * belong to. Owners outrank admins (an admin cannot act on an owner).
 */
export async function memberGrant(
  deps: AuthDeps,
  actor: OrgActor,
  userId: string,
  verb: string,
): Promise<MemberGrant> {
  const membership = (await deps.store.listMembers(actor.org.id)).find((m) => m.userId === userId);
  const user = membership ? await deps.store.getUser(userId) : null;
  if (!membership || !user) throw noMember();
  if (!canManageRole(actor.role, membership.role)) {
    throw new AppError('AUTH_FORBIDDEN', `only owners can ${verb} owners`);
  }
  return { org: actor.org, membership, user };
}

/**
 * The one rule for acts on the account itself (its factors, password, sign-in lock, every
 * session): an organisation may do them only when the person belongs to no other organisation,
 * so that nobody else's grant is affected. Otherwise only the instance operator may, from the host.
 */
export async function requireSoleOrganisation(deps: AuthDeps, grant: MemberGrant): Promise<void> {
  const others = (await deps.store.listMemberships(grant.user.id)).filter(
    (m) => m.orgId !== grant.org.id,
  );
  if (others.length > 0) {
    throw new AppError(
      'MEMBER_ACCOUNT_SHARED',
      'this person also belongs to another organisation, so their account (sign-in factors, password, sign-in lock) is not yours to change; they can sign in as usual, or the server operator can reset them with `sillage admin reset --email …`',
    );
  }
}

async function isSoleOrganisation(deps: AuthDeps, orgId: string, userId: string): Promise<boolean> {
  return (await deps.store.listMemberships(userId)).every((m) => m.orgId === orgId);
}

async function tell(
  deps: AuthDeps,
  user: UserRecord,
  org: OrgRecord,
  actor: string,
  change: OrgAccessChange,
  extra: { role?: string } = {},
): Promise<void> {
  await deps.notifier.notify(user, 'org_access_changed', {
    orgName: org.name,
    actor,
    change,
    ...extra,
  });
}

/** How many sessions of a person the server would still accept started before `atMs`. */
async function liveSessionsBefore(deps: AuthDeps, userId: string, atMs: number): Promise<number> {
  return (await liveSessions(deps, userId, atMs)).filter((s) => s.createdAtMs < atMs).length;
}

/**
 * Ends every session of a person outright. Returns how many the server would still have accepted
 * (those that had timed out without a request since end too, uncounted).
 */
async function endSessions(
  deps: AuthDeps,
  userId: string,
  now: number,
  reason: string,
): Promise<number> {
  const live = (await liveSessions(deps, userId, now)).length;
  await deps.store.revokeSessions({ userId }, now, reason);
  return live;
}

/**
 * Ends a person's sessions *for one organisation*: sessions started until now lose their access
 * to it (the membership's cut-off) and keep their access to the person's other organisations and
 * own account. When the organisation is the person's only one, the sessions end outright.
 * Returns how many live sessions lost access.
 */
async function endAccess(
  deps: AuthDeps,
  org: OrgRecord,
  membership: MembershipRecord,
  now: number,
  reason: string,
): Promise<number> {
  if (membership.accessFromMs !== now) {
    await deps.store.putMembership({ ...membership, accessFromMs: now });
  }
  if (await isSoleOrganisation(deps, org.id, membership.userId)) {
    return endSessions(deps, membership.userId, now, reason);
  }
  return liveSessionsBefore(deps, membership.userId, now);
}

/** Assert that removing or demoting this owner leaves the organisation an owner. */
async function assertNotLastOwner(deps: AuthDeps, orgId: string, userId: string): Promise<void> {
  const owners = (await deps.store.listMembers(orgId)).filter((m) => m.role === 'owner');
  if (owners.length === 1 && owners[0]?.userId === userId) {
    throw new AppError('CONFLICT', 'an organisation keeps at least one owner');
  }
}

/**
 * Changes a member's role in this organisation (owners outrank admins; the last owner stays an
 * owner). The role is read on every request, so it applies at once and no session needs to end.
 * A member who may no longer manage keys and members (an admin made analyst, say) keeps none of
 * what only that right made: the secret keys they created are revoked and their open invitations
 * withdrawn, as on removal — an export key would otherwise go on exporting for an analyst. An
 * owner made admin loses the owner invitations they sent (admins cannot make owners).
 */
export async function changeRole(
  deps: AuthDeps,
  actor: OrgActor,
  userId: string,
  role: Role,
): Promise<void> {
  const grant = await memberGrant(deps, actor, userId, 'change');
  if (!canManageRole(actor.role, role)) {
    throw new AppError('AUTH_FORBIDDEN', 'only owners can make owners');
  }
  if (grant.membership.role === role) return;
  if (grant.membership.role === 'owner') await assertNotLastOwner(deps, actor.org.id, userId);
  await deps.store.putMembership({ ...grant.membership, role });
  if (roleAllows(grant.membership.role, 'keys.write') && !roleAllows(role, 'keys.write')) {
    await withdrawWhatTheyMade(deps, actor.org.id, userId);
  } else {
    // An owner made admin may still invite, but not to roles the new role cannot grant: an owner
    // invitation they sent as an owner would otherwise make an owner on their behalf.
    for (const invitation of await deps.store.listInvitations(actor.org.id)) {
      if (
        invitation.createdBy === userId &&
        invitation.acceptedAtMs === null &&
        !canManageRole(role, invitation.role)
      ) {
        await deps.store.deleteInvitation(invitation.id);
      }
    }
  }
  deps.logger.info('role changed', { orgId: actor.org.id, userId, kind: role });
  await tell(deps, grant.user, actor.org, actor.principal.user.email, 'role_changed', { role });
}

/**
 * Removes a member from this organisation: its grant goes, and with it every session's access
 * (where it was the person's only organisation, the sessions end). What the person made here does
 * not outlive the grant: the secret keys they created for its projects are revoked and the
 * invitations they sent that nobody took up are withdrawn — a key or a link made before the
 * removal would otherwise go on reading, or let someone in, on their behalf.
 */
export async function removeMember(deps: AuthDeps, actor: OrgActor, userId: string): Promise<void> {
  const grant = await memberGrant(deps, actor, userId, 'remove');
  if (grant.membership.role === 'owner') await assertNotLastOwner(deps, actor.org.id, userId);
  const now = deps.now();
  if (await isSoleOrganisation(deps, actor.org.id, userId)) {
    await deps.store.revokeSessions({ userId }, now, 'removed from the organisation');
  }
  await deps.store.removeMembership(actor.org.id, userId);
  await withdrawWhatTheyMade(deps, actor.org.id, userId);
  // A grant on hold after a reset whose link an admin saw: whoever set the account up with that
  // link is not proven to be the person, and the hold lives on the grant. Removed, it must not
  // leave an active account free to be invited back unheld: with no grant the operator vouched
  // for, the account goes back to pending (only the operator's reset sets it up again).
  if (grant.membership.suspended !== null) {
    const vouched = (await deps.store.listMemberships(userId)).some((m) => m.suspended === null);
    if (!vouched) {
      await deps.store.updateUser(userId, { status: 'pending' });
      await deps.store.revokeSessions({ userId }, deps.now(), 'held member removed');
    }
  }
  deps.logger.info('member removed', { orgId: actor.org.id, userId });
  await tell(deps, grant.user, actor.org, actor.principal.user.email, 'removed');
}

/**
 * Revokes the secret keys a person created for this organisation's projects (each recorded as
 * `key_revoked` by the audited store) and withdraws the invitations they sent that nobody took up.
 */
async function withdrawWhatTheyMade(deps: AuthDeps, orgId: string, userId: string): Promise<void> {
  const now = deps.now();
  for (const projectId of await deps.store.listOrgProjects(orgId)) {
    for (const key of await deps.store.listApiKeys(projectId)) {
      if (key.createdBy === userId && key.revokedAtMs === null) {
        await deps.store.revokeApiKey(key.id, now);
      }
    }
  }
  for (const invitation of await deps.store.listInvitations(orgId)) {
    if (invitation.createdBy === userId && invitation.acceptedAtMs === null) {
      await deps.store.deleteInvitation(invitation.id);
    }
  }
}

/** Ends one member's sessions for this organisation (ASVS 7.4.5, e.g. a lost laptop's). */
export async function endMemberSessions(
  deps: AuthDeps,
  actor: OrgActor,
  userId: string,
): Promise<number> {
  const grant = await memberGrant(deps, actor, userId, 'sign out');
  const count = await endAccess(
    deps,
    actor.org,
    grant.membership,
    deps.now(),
    'revoked by an admin',
  );
  deps.logger.warn('member sessions revoked', { orgId: actor.org.id, userId, count });
  await tell(deps, grant.user, actor.org, actor.principal.user.email, 'sessions_ended');
  return count;
}

async function endEveryMembersAccess(
  deps: AuthDeps,
  org: OrgRecord,
  now: number,
  reason: string,
): Promise<{ count: number; members: UserRecord[] }> {
  const members: UserRecord[] = [];
  let count = 0;
  for (const m of await deps.store.listMembers(org.id)) {
    const user = await deps.store.getUser(m.userId);
    if (user) members.push(user);
    count += (await isSoleOrganisation(deps, org.id, m.userId))
      ? await endSessions(deps, m.userId, now, reason)
      : await liveSessionsBefore(deps, m.userId, now);
  }
  await deps.store.endOrgAccess(org.id, now);
  return { count, members };
}

/** Ends every member's sessions for this organisation (yours too); every member is told. */
export async function revokeOrgSessions(deps: AuthDeps, actor: OrgActor): Promise<number> {
  const { count, members } = await endEveryMembersAccess(
    deps,
    actor.org,
    deps.now(),
    'revoked by an admin',
  );
  deps.logger.warn('organisation sessions revoked', { orgId: actor.org.id, count });
  for (const user of members) {
    await tell(deps, user, actor.org, actor.principal.user.email, 'sessions_ended');
  }
  return count;
}

/** What a lock-down did. */
export interface LockdownResult {
  sessions_revoked: number;
  keys_revoked: number;
  locked_down_at: string;
}

/**
 * The emergency lock-down: every session loses its access to the organisation, every secret key of
 * its projects is revoked, who did it is recorded, every member is told. Members' other
 * organisations are untouched. Ingest tokens stay valid (they are write-only), so the product
 * keeps collecting. Also run by the operator (`sillage org lockdown`).
 */
export async function lockDown(
  deps: AuthDeps,
  orgId: string,
  actor: { userId: string; label: string },
): Promise<LockdownResult> {
  const org = await deps.store.getOrg(orgId);
  if (!org) throw new AppError('ORG_NOT_FOUND', 'no such organisation');
  const now = deps.now();
  const { count, members } = await endEveryMembersAccess(deps, org, now, 'organisation lock-down');
  const keys = await deps.store.revokeOrgApiKeys(orgId, now);
  // Every invitation a member made goes too, open or being taken up: one planted by whoever the
  // lock-down is against would otherwise join the organisation afterwards. The operator's own
  // setup links (`createdBy` null, from the host) stay.
  for (const invitation of await deps.store.listInvitations(orgId)) {
    if (invitation.createdBy !== null) await deps.store.deleteInvitation(invitation.id);
  }
  await deps.store.markLockedDown(orgId, now, actor.userId);
  deps.logger.warn('organisation locked down', {
    orgId,
    userId: actor.userId,
    count: count + keys,
  });
  await deps.notifier.notifyAll(members, 'lockdown', { actor: actor.label, orgName: org.name });
  return {
    sessions_revoked: count,
    keys_revoked: keys,
    locked_down_at: new Date(now).toISOString(),
  };
}

/**
 * Clears a member's failed sign-in count: an act on the account (its sign-in lock protects every
 * organisation it belongs to), so only where this organisation is the person's only one.
 */
export async function unlockMember(deps: AuthDeps, actor: OrgActor, userId: string): Promise<void> {
  const grant = await memberGrant(deps, actor, userId, 'unlock');
  await requireSoleOrganisation(deps, grant);
  await deps.store.updateUser(userId, { failedAttempts: 0, lockedUntilMs: 0 });
  deps.logger.warn('member unlocked', { orgId: actor.org.id, userId });
  await tell(deps, grant.user, actor.org, actor.principal.user.email, 'unlocked');
}

/** How a reset's new setup link reached the person. */
export type ResetDelivery =
  | { delivery: 'email'; expiresAtMs: number }
  | { delivery: 'shown'; link: string; expiresAtMs: number };

/**
 * Wipes an account back to enrolment (ASVS 6.4.4): factors, recovery codes and the sign-in lock
 * go, every session ends, the account is pending, and a single-use setup link bound to this
 * account (only it can set the account's password and factor) is made.
 */
async function wipeAccount(
  deps: AuthDeps,
  user: UserRecord,
  orgId: string,
  role: Role,
  createdBy: string | null,
): Promise<{ invitation: InvitationRecord; link: string }> {
  const now = deps.now();
  for (const factor of await deps.store.listFactors(user.id)) {
    await deps.store.removeFactor(factor.id);
  }
  await deps.store.replaceRecoveryCodes(user.id, [], now);
  await deps.store.updateUser(user.id, { status: 'pending', failedAttempts: 0, lockedUntilMs: 0 });
  await deps.store.revokeSessions({ userId: user.id }, now, 'account reset');
  return createInvitation(deps, { orgId, email: user.email, role, userId: user.id, createdBy });
}

/**
 * Account recovery by an organisation for a member who lost every factor. Only where the person
 * belongs to no other organisation (else MEMBER_ACCOUNT_SHARED). The new setup link is e-mailed to
 * the person when SMTP is configured; otherwise it is shown to the admin to hand over, and the
 * membership stays suspended until the server operator confirms the person
 * (`sillage admin confirm --email …`): whoever holds a link they were shown is not proven to be
 * the person.
 */
export async function resetMember(
  deps: AuthDeps,
  actor: OrgActor,
  userId: string,
): Promise<ResetDelivery> {
  if (userId === actor.principal.user.id) {
    throw new AppError('CONFLICT', 'ask another owner or admin to reset your own account');
  }
  const grant = await memberGrant(deps, actor, userId, 'reset');
  await requireSoleOrganisation(deps, grant);
  const { invitation, link } = await wipeAccount(
    deps,
    grant.user,
    actor.org.id,
    grant.membership.role,
    actor.principal.user.id,
  );
  const emailed = deps.notifier.emails;
  deps.logger.warn('member reset', {
    orgId: actor.org.id,
    userId,
    outcome: emailed ? 'email' : 'shown',
  });
  await deps.notifier.notify(grant.user, 'account_reset', {
    orgName: actor.org.name,
    actor: actor.principal.user.email,
    ...(emailed ? { setupLink: link } : {}),
  });
  if (emailed) return { delivery: 'email', expiresAtMs: invitation.expiresAtMs };
  await deps.store.putMembership({ ...grant.membership, suspended: 'unconfirmed_reset' });
  await tell(deps, grant.user, actor.org, actor.principal.user.email, 'suspended');
  return { delivery: 'shown', link, expiresAtMs: invitation.expiresAtMs };
}

async function accountByEmail(deps: AuthDeps, email: string): Promise<UserRecord> {
  const user = await deps.store.findUserByEmail(normaliseEmail(email));
  if (!user) throw new AppError('NOT_FOUND', 'no account with this e-mail address');
  return user;
}

/**
 * `sillage admin reset --email E`: the instance operator (who holds the host and the master key)
 * resets any account, whatever organisations it belongs to. The link is printed for the operator
 * to hand over (and e-mailed when SMTP is configured); the operator vouches for the person, so the
 * memberships are not suspended (and suspensions of an earlier reset are lifted).
 */
export async function operatorReset(
  deps: AuthDeps,
  email: string,
): Promise<{ link: string; expiresAtMs: number; emailed: boolean }> {
  const user = await accountByEmail(deps, email);
  const memberships = await deps.store.listMemberships(user.id);
  const first = memberships[0];
  const { invitation, link } = await wipeAccount(
    deps,
    user,
    first?.orgId ?? '',
    first?.role ?? 'viewer',
    null,
  );
  for (const m of memberships) {
    if (m.suspended) await deps.store.putMembership({ ...m, suspended: null });
  }
  deps.logger.warn('account reset by the operator', { userId: user.id });
  await deps.notifier.notify(user, 'account_reset', {
    actor: 'the server operator',
    ...(deps.notifier.emails ? { setupLink: link } : {}),
  });
  return { link, expiresAtMs: invitation.expiresAtMs, emailed: deps.notifier.emails };
}

/**
 * `sillage admin confirm --email E`: the operator confirms that the person who set the account up
 * again after a reset whose link an admin saw is the person; their memberships resume.
 */
export async function operatorConfirm(
  deps: AuthDeps,
  email: string,
): Promise<{ confirmed: string[] }> {
  const user = await accountByEmail(deps, email);
  const confirmed: string[] = [];
  for (const m of await deps.store.listMemberships(user.id)) {
    if (!m.suspended) continue;
    await deps.store.putMembership({ ...m, suspended: null });
    confirmed.push(m.orgId);
    const org = await deps.store.getOrg(m.orgId);
    if (org) await tell(deps, user, org, 'the server operator', 'confirmed');
  }
  deps.logger.warn('account confirmed by the operator', {
    userId: user.id,
    count: confirmed.length,
  });
  return { confirmed };
}
