// Organisations: the first owner's setup link, invitations and account setup (password plus a
// mandatory second factor), members and roles, the security policy, and the emergency lock-down.
import { AppError } from '../shared/errors.js';
import type {
  AuthMethod,
  InvitationRecord,
  MembershipRecord,
  OrgPolicy,
  OrgRecord,
  Role,
  SessionRecord,
  UserRecord,
} from '../store/account-types.js';
import type { AuthDeps, ClientInfo, UserPrincipal } from './context.js';
import {
  addPasskey,
  confirmTotp,
  newRecoveryCodes,
  passkeyRegistration,
  startTotp,
} from './factors.js';
import { checkPasswordPolicy } from './passwords.js';
import { canManageRole } from './permissions.js';
import { issueSession, passkeyRequiredIn } from './sessions.js';
import { noteDevice, normaliseEmail } from './sign-in.js';
import { hashToken, newId, newToken } from './tokens.js';

/** Setup may take a while (finding the security key, installing an authenticator app). */
const SETUP_TTL_MS = 30 * 60_000;

/** The single-use link a person opens to join (or to set up the first owner). */
export function invitationLink(deps: AuthDeps, token: string): string {
  // In the fragment: never sent to servers, so never in an access log or a Referer header.
  return `${deps.settings.publicUrl.replace(/\/+$/, '')}/setup#token=${token}`;
}

async function createInvitation(
  deps: AuthDeps,
  org: OrgRecord,
  email: string,
  role: Role,
  createdBy: string | null,
): Promise<{ invitation: InvitationRecord; link: string }> {
  const token = newToken(32);
  const now = deps.now();
  const invitation: InvitationRecord = {
    id: newId('inv'),
    orgId: org.id,
    email: normaliseEmail(email),
    role,
    tokenHash: hashToken(token),
    createdBy,
    createdAtMs: now,
    expiresAtMs: now + deps.settings.invitationTtlMs,
    acceptedAtMs: null,
  };
  await deps.store.createInvitation(invitation);
  return { invitation, link: invitationLink(deps, token) };
}

/**
 * `sillage admin create --email E`: a new organisation and a single-use setup link for its first
 * owner. Projects created before any organisation existed join it.
 */
export async function createOrgWithOwner(
  deps: AuthDeps,
  email: string,
  orgName: string,
): Promise<{ orgId: string; link: string; expiresAtMs: number; adoptedProjects: string[] }> {
  if (!/^[^\s@]+@[^\s@]+$/.test(email.trim())) {
    throw new AppError('REQUEST_INVALID', 'give an e-mail address');
  }
  const existing = await deps.store.findUserByEmail(normaliseEmail(email));
  if (existing?.status === 'active') {
    throw new AppError('CONFLICT', 'an account with this e-mail address exists already');
  }
  const org: OrgRecord = {
    id: newId('org'),
    name: orgName,
    policy: { ...deps.settings.defaultOrgPolicy },
    createdAtMs: deps.now(),
    lockedDownAtMs: null,
    lockedDownBy: null,
  };
  await deps.store.createOrg(org);
  const adopted = await deps.store.listUnassignedProjects();
  for (const projectId of adopted) await deps.store.setProjectOrg(projectId, org.id);
  const { invitation, link } = await createInvitation(deps, org, email, 'owner', null);
  deps.logger.info('organisation created', { orgId: org.id, count: adopted.length });
  return {
    orgId: org.id,
    link,
    expiresAtMs: invitation.expiresAtMs,
    adoptedProjects: adopted,
  };
}

/** An owner or admin invites someone; admins cannot invite owners. */
export async function invite(
  deps: AuthDeps,
  actor: UserPrincipal,
  actorRole: Role,
  org: OrgRecord,
  email: string,
  role: Role,
): Promise<{ invitation: InvitationRecord; link: string }> {
  if (!canManageRole(actorRole, role)) {
    throw new AppError('AUTH_FORBIDDEN', 'only owners can invite owners');
  }
  const user = await deps.store.findUserByEmail(normaliseEmail(email));
  if (user && (await deps.store.listMembers(org.id)).some((m) => m.userId === user.id)) {
    throw new AppError('CONFLICT', 'this person is a member already');
  }
  const created = await createInvitation(deps, org, email, role, actor.user.id);
  deps.logger.info('invitation created', { orgId: org.id, userId: actor.user.id, kind: role });
  return created;
}

/** What accepting an invitation leads to. */
export type AcceptResult =
  | { status: 'joined'; orgId: string }
  | { status: 'setup'; setupToken: string; methods: ('passkey' | 'totp')[] };

async function openInvitation(deps: AuthDeps, token: string): Promise<InvitationRecord> {
  const invitation = await deps.store.findInvitation(hashToken(token));
  if (
    !invitation ||
    invitation.acceptedAtMs !== null ||
    invitation.expiresAtMs <= deps.now() ||
    !(await deps.store.getOrg(invitation.orgId))
  ) {
    throw new AppError('AUTH_TOKEN_INVALID', 'this link is unknown, used or expired');
  }
  return invitation;
}

/**
 * Accepts an invitation. A person who has an account must be signed in as that account and just
 * joins; anyone else chooses a password here and then enrols a second factor (the account stays
 * pending, and cannot sign in, until they do).
 */
export async function acceptInvitation(
  deps: AuthDeps,
  token: string,
  password: string | null,
  principal: UserPrincipal | null,
): Promise<AcceptResult> {
  const invitation = await openInvitation(deps, token);
  const org = (await deps.store.getOrg(invitation.orgId)) as OrgRecord;
  const existing = await deps.store.findUserByEmail(invitation.email);
  const now = deps.now();

  if (existing?.status === 'active') {
    if (principal?.user.id !== existing.id) {
      throw new AppError('AUTH_REQUIRED', 'sign in to the invited account, then open the link');
    }
    if (!(await deps.store.markInvitationAccepted(invitation.id, now))) {
      throw new AppError('AUTH_TOKEN_INVALID', 'this link is unknown, used or expired');
    }
    await deps.store.putMembership({
      orgId: org.id,
      userId: existing.id,
      role: invitation.role,
      createdAtMs: now,
    });
    deps.logger.info('member joined', { orgId: org.id, userId: existing.id });
    return { status: 'joined', orgId: org.id };
  }

  if (password === null) throw new AppError('REQUEST_INVALID', 'choose a password');
  const verdict = checkPasswordPolicy(password, { email: invitation.email, orgName: org.name });
  if (!verdict.ok) throw new AppError('AUTH_PASSWORD_REJECTED', verdict.message);
  if (!(await deps.store.markInvitationAccepted(invitation.id, now))) {
    throw new AppError('AUTH_TOKEN_INVALID', 'this link is unknown, used or expired');
  }
  const passwordHash = await deps.hasher.hash(password);
  let user: UserRecord;
  if (existing) {
    await deps.store.updateUser(existing.id, { passwordHash });
    user = { ...existing, passwordHash };
  } else {
    user = {
      id: newId('usr'),
      email: invitation.email,
      passwordHash,
      status: 'pending',
      createdAtMs: now,
      failedAttempts: 0,
      lockedUntilMs: 0,
    };
    await deps.store.createUser(user);
  }
  const setupToken = newToken(32);
  await deps.store.putChallenge({
    idHash: hashToken(setupToken),
    purpose: 'setup',
    userId: user.id,
    sessionIdHash: null,
    data: { orgId: org.id, role: invitation.role },
    expiresAtMs: now + SETUP_TTL_MS,
  });
  const totpAllowed = !passkeyRequiredIn(org.policy, invitation.role);
  return {
    status: 'setup',
    setupToken,
    methods: totpAllowed ? ['passkey', 'totp'] : ['passkey'],
  };
}

const isRole = (value: unknown): value is Role =>
  value === 'owner' || value === 'admin' || value === 'analyst' || value === 'viewer';

interface SetupState {
  user: UserRecord;
  orgId: string;
  role: Role;
  data: Record<string, unknown>;
  expiresAtMs: number;
  idHash: string;
}

/** Reads the setup in progress (and puts it back: it stays valid until completed or expired). */
async function setupState(deps: AuthDeps, setupToken: string): Promise<SetupState> {
  const idHash = hashToken(setupToken);
  const challenge = await deps.store.takeChallenge(idHash, 'setup', deps.now());
  const user = challenge ? await deps.store.getUser(challenge.userId) : null;
  if (!challenge || !user || user.status !== 'pending') {
    throw new AppError('AUTH_TOKEN_INVALID', 'this setup is unknown, finished or expired');
  }
  await deps.store.putChallenge(challenge);
  const { role, orgId } = challenge.data;
  if (typeof orgId !== 'string' || !isRole(role)) {
    throw new AppError('AUTH_TOKEN_INVALID', 'this setup is unknown, finished or expired');
  }
  return {
    user,
    orgId,
    role,
    data: challenge.data,
    expiresAtMs: challenge.expiresAtMs,
    idHash,
  };
}

async function updateSetup(
  deps: AuthDeps,
  state: SetupState,
  data: Record<string, string>,
): Promise<void> {
  await deps.store.takeChallenge(state.idHash, 'setup', deps.now());
  await deps.store.putChallenge({
    idHash: state.idHash,
    purpose: 'setup',
    userId: state.user.id,
    sessionIdHash: null,
    data: { ...(state.data as Record<string, string>), ...data },
    expiresAtMs: state.expiresAtMs,
  });
}

/** Setup, passkey route, step 1: registration options. */
export async function setupPasskeyOptions(deps: AuthDeps, setupToken: string): Promise<unknown> {
  const state = await setupState(deps, setupToken);
  const { options, challenge } = await passkeyRegistration(deps, state.user);
  await updateSetup(deps, state, { webauthnChallenge: challenge });
  return options;
}

/** Setup, authenticator-app route, step 1: the secret to scan (refused where passkeys are required). */
export async function setupTotpStart(
  deps: AuthDeps,
  setupToken: string,
): Promise<{ factorId: string; secret: string; uri: string }> {
  const state = await setupState(deps, setupToken);
  const org = await deps.store.getOrg(state.orgId);
  if (!org || passkeyRequiredIn(org.policy, state.role)) {
    throw new AppError('AUTH_PASSKEY_REQUIRED', 'your organisation requires a passkey');
  }
  const started = await startTotp(deps, state.user, 'Authenticator app');
  await updateSetup(deps, state, { totpFactorId: started.factorId });
  return started;
}

/** The end of setup: the account is active, joins the organisation and is signed in. */
export interface SetupCompleted {
  token: string;
  session: SessionRecord;
  user: UserRecord;
  recoveryCodes: string[];
}

/** Setup, step 2: verifies the new factor, activates the account and opens a session. */
export async function completeSetup(
  deps: AuthDeps,
  setupToken: string,
  proof:
    { method: 'passkey'; response: unknown; label?: string } | { method: 'totp'; code: string },
  client: ClientInfo,
): Promise<SetupCompleted> {
  const state = await setupState(deps, setupToken);
  let method: AuthMethod;
  if (proof.method === 'passkey') {
    const challenge = state.data.webauthnChallenge;
    if (typeof challenge !== 'string') {
      throw new AppError('AUTH_WEBAUTHN_INVALID', 'ask for passkey options first');
    }
    // The setup link is the proof of identity: the first passkey is trusted at once.
    await addPasskey(deps, state.user, proof.response, challenge, proof.label ?? '', true);
    method = 'passkey';
  } else {
    const factorId = state.data.totpFactorId;
    if (typeof factorId !== 'string') {
      throw new AppError('AUTH_TOTP_INVALID', 'start the authenticator app setup first');
    }
    await confirmTotp(deps, state.user, factorId, proof.code);
    method = 'totp';
  }
  await deps.store.takeChallenge(state.idHash, 'setup', deps.now());
  const now = deps.now();
  await deps.store.updateUser(state.user.id, { status: 'active' });
  const user: UserRecord = { ...state.user, status: 'active' };
  await deps.store.putMembership({
    orgId: state.orgId,
    userId: user.id,
    role: state.role,
    createdAtMs: now,
  });
  const recoveryCodes = await newRecoveryCodes(deps, user);
  const { token, session } = await issueSession(deps, user, method, client);
  await noteDevice(deps, user, client, false);
  deps.logger.info('account set up', { userId: user.id, orgId: state.orgId, factor: method });
  return { token, session, user, recoveryCodes };
}

/** A member as listed (e-mail shown to fellow members only). */
export interface MemberView {
  user_id: string;
  email: string;
  role: Role;
  status: UserRecord['status'];
  joined_at: string;
}

export async function listMembers(deps: AuthDeps, orgId: string): Promise<MemberView[]> {
  const out: MemberView[] = [];
  for (const m of await deps.store.listMembers(orgId)) {
    const user = await deps.store.getUser(m.userId);
    if (user) {
      out.push({
        user_id: user.id,
        email: user.email,
        role: m.role,
        status: user.status,
        joined_at: new Date(m.createdAtMs).toISOString(),
      });
    }
  }
  return out;
}

async function memberOf(deps: AuthDeps, orgId: string, userId: string): Promise<MembershipRecord> {
  const m = (await deps.store.listMembers(orgId)).find((x) => x.userId === userId);
  if (!m) throw new AppError('NOT_FOUND', 'no such member');
  return m;
}

async function assertNotLastOwner(deps: AuthDeps, orgId: string, userId: string): Promise<void> {
  const owners = (await deps.store.listMembers(orgId)).filter((m) => m.role === 'owner');
  if (owners.length === 1 && owners[0]?.userId === userId) {
    throw new AppError('CONFLICT', 'an organisation keeps at least one owner');
  }
}

/** Changes a member's role (owners outrank admins; the last owner stays an owner). */
export async function changeRole(
  deps: AuthDeps,
  actorRole: Role,
  orgId: string,
  userId: string,
  role: Role,
): Promise<void> {
  const member = await memberOf(deps, orgId, userId);
  if (!canManageRole(actorRole, member.role) || !canManageRole(actorRole, role)) {
    throw new AppError('AUTH_FORBIDDEN', 'only owners can change owners');
  }
  if (member.role === 'owner' && role !== 'owner') await assertNotLastOwner(deps, orgId, userId);
  await deps.store.putMembership({ ...member, role });
  // A demoted person's open sessions carried the old role's reach: end them.
  await deps.store.revokeSessions({ userId }, deps.now(), 'role changed');
  deps.logger.info('role changed', { orgId, userId, kind: role });
}

/** Removes a member and ends their sessions. */
export async function removeMember(
  deps: AuthDeps,
  actorRole: Role,
  orgId: string,
  userId: string,
): Promise<void> {
  const member = await memberOf(deps, orgId, userId);
  if (!canManageRole(actorRole, member.role)) {
    throw new AppError('AUTH_FORBIDDEN', 'only owners can remove owners');
  }
  if (member.role === 'owner') await assertNotLastOwner(deps, orgId, userId);
  await deps.store.removeMembership(orgId, userId);
  await deps.store.revokeSessions({ userId }, deps.now(), 'removed from organisation');
  deps.logger.info('member removed', { orgId, userId });
}

/**
 * Account recovery for a member who lost every factor (ASVS 6.4.4: back to enrolment): their
 * factors and recovery codes go, their sessions end, the account is pending again, and a new
 * single-use link lets them choose a password and enrol a factor. The person is told.
 */
export async function resetMember(
  deps: AuthDeps,
  actor: UserPrincipal,
  actorRole: Role,
  org: OrgRecord,
  userId: string,
): Promise<{ invitation: InvitationRecord; link: string }> {
  const member = await memberOf(deps, org.id, userId);
  if (!canManageRole(actorRole, member.role)) {
    throw new AppError('AUTH_FORBIDDEN', 'only owners can reset owners');
  }
  if (userId === actor.user.id) {
    throw new AppError('CONFLICT', 'ask another owner or admin to reset your own account');
  }
  const user = await deps.store.getUser(userId);
  if (!user) throw new AppError('NOT_FOUND', 'no such member');
  const now = deps.now();
  for (const factor of await deps.store.listFactors(userId)) {
    await deps.store.removeFactor(factor.id);
  }
  await deps.store.replaceRecoveryCodes(userId, [], now);
  await deps.store.updateUser(userId, { status: 'pending', failedAttempts: 0, lockedUntilMs: 0 });
  await deps.store.revokeSessions({ userId }, now, 'account reset');
  const created = await createInvitation(deps, org, user.email, member.role, actor.user.id);
  deps.logger.warn('member reset', { orgId: org.id, userId });
  await deps.notifier.notify(user, 'factor_removed', {
    factorKind: 'passkey',
    factorLabel: 'every factor (account reset by an administrator)',
    actor: actor.user.email,
  });
  return created;
}

export async function setOrgPolicy(
  deps: AuthDeps,
  orgId: string,
  policy: OrgPolicy,
): Promise<void> {
  await deps.store.setOrgPolicy(orgId, policy);
  deps.logger.info('organisation policy changed', { orgId });
}

/** Ends every session of every member (admins, e.g. after a suspected compromise). */
export async function revokeOrgSessions(deps: AuthDeps, orgId: string): Promise<number> {
  const count = await deps.store.revokeSessions({ orgId }, deps.now(), 'revoked by an admin');
  deps.logger.warn('organisation sessions revoked', { orgId, count });
  return count;
}

/** What a lock-down did. */
export interface LockdownResult {
  sessions_revoked: number;
  keys_revoked: number;
  locked_down_at: string;
}

/**
 * The emergency lock-down: every session of every member and every secret key of every project of
 * the organisation revoked in one action, who did it recorded, every member told. Ingest tokens
 * stay valid (they are write-only: they read nothing), so the product keeps collecting.
 */
export async function lockDown(
  deps: AuthDeps,
  orgId: string,
  actor: { userId: string; label: string },
): Promise<LockdownResult> {
  const now = deps.now();
  const sessions = await deps.store.revokeSessions({ orgId }, now, 'organisation lock-down');
  const keys = await deps.store.revokeOrgApiKeys(orgId, now);
  await deps.store.markLockedDown(orgId, now, actor.userId);
  deps.logger.warn('organisation locked down', {
    orgId,
    userId: actor.userId,
    count: sessions + keys,
  });
  const org = await deps.store.getOrg(orgId);
  const members: UserRecord[] = [];
  for (const m of await deps.store.listMembers(orgId)) {
    const user = await deps.store.getUser(m.userId);
    if (user) members.push(user);
  }
  await deps.notifier.notifyAll(members, 'lockdown', {
    actor: actor.label,
    ...(org ? { orgName: org.name } : {}),
  });
  return {
    sessions_revoked: sessions,
    keys_revoked: keys,
    locked_down_at: new Date(now).toISOString(),
  };
}
