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
import type { NoticeDetails, NoticeKind } from './notices.js';
import {
  addPasskey,
  confirmTotp,
  newRecoveryCodes,
  passkeyRegistration,
  startTotp,
} from './factors.js';
import { checkPasswordPolicy } from './passwords.js';
import { canManageRole } from './permissions.js';
import { effectivePolicy, issueSession, membershipsOf, passkeyRequiredIn } from './sessions.js';
import { noteDevice, normaliseEmail } from './sign-in.js';
import { hashToken, newId, newToken } from './tokens.js';

/** Setup may take a while (finding the security key, installing an authenticator app). */
const SETUP_TTL_MS = 30 * 60_000;

/** The single-use link a person opens to join (or to set up the first owner). */
export function invitationLink(deps: AuthDeps, token: string): string {
  // In the fragment: never sent to servers, so never in an access log or a Referer header.
  return `${deps.settings.publicUrl.replace(/\/+$/, '')}/setup#token=${token}`;
}

/**
 * Makes a single-use link: an invitation to an e-mail address (`userId` null), or the setup link
 * of one existing account after a reset (`userId` set; earlier setup links of that account stop
 * working, so that only the newest one can set its credentials).
 */
export async function createInvitation(
  deps: AuthDeps,
  what: {
    orgId: string;
    email: string;
    role: Role;
    userId: string | null;
    createdBy: string | null;
  },
): Promise<{ invitation: InvitationRecord; link: string }> {
  const token = newToken(32);
  const now = deps.now();
  const email = normaliseEmail(what.email);
  if (what.userId !== null) {
    for (const old of await deps.store.listInvitationsForEmail(email)) {
      if (old.userId === what.userId) await deps.store.deleteInvitation(old.id);
    }
  }
  const invitation: InvitationRecord = {
    id: newId('inv'),
    orgId: what.orgId,
    userId: what.userId,
    email,
    role: what.role,
    tokenHash: hashToken(token),
    createdBy: what.createdBy,
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
  // An existing account (set up or not) is never given a second setup link this way: only its
  // own (`sillage admin reset`) may set its credentials.
  if (await deps.store.findUserByEmail(normaliseEmail(email))) {
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
  const { invitation, link } = await createInvitation(deps, {
    orgId: org.id,
    email,
    role: 'owner',
    userId: null,
    createdBy: null,
  });
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
  const created = await createInvitation(deps, {
    orgId: org.id,
    email,
    role,
    userId: null,
    createdBy: actor.user.id,
  });
  deps.logger.info('invitation created', { orgId: org.id, userId: actor.user.id, kind: role });
  return created;
}

/** What accepting an invitation leads to. */
export type AcceptResult =
  | { status: 'joined'; orgId: string; suspended: boolean }
  | { status: 'setup'; setupToken: string; methods: ('passkey' | 'totp')[] };

async function openInvitation(deps: AuthDeps, token: string): Promise<InvitationRecord> {
  const invitation = await deps.store.findInvitation(hashToken(token));
  if (
    !invitation ||
    invitation.acceptedAtMs !== null ||
    invitation.expiresAtMs <= deps.now() ||
    // An account's own setup link may come from the operator for an account in no organisation.
    (invitation.userId === null && !(await deps.store.getOrg(invitation.orgId)))
  ) {
    throw new AppError('AUTH_TOKEN_INVALID', 'this link is unknown, used or expired');
  }
  return invitation;
}

/**
 * What a setup in progress leads to: joining the inviting organisation (a new account), or
 * getting an existing account back after a reset (its memberships stay as they are).
 */
type SetupPlan =
  // `invitationId`: the invitation being taken up (null in setups begun before it was kept).
  | { kind: 'join'; orgId: string; role: Role; invitationId: string | null }
  | { kind: 'reset'; linkId: string };

/**
 * Accepts an invitation or a setup link. Issue 9: a link never sets credentials on an account
 * that exists, except that account's own setup link (a reset, `userId` set).
 * - An account's own setup link: choose a new password, then enrol a factor.
 * - An invitation to an address with an account (set up or not): the account must be signed in,
 *   with its own credentials, and just joins. A pending account must first be set up with its
 *   own setup link.
 * - An invitation to a new address: choose a password, then enrol a factor (the account stays
 *   pending, and cannot sign in, until then) — unless the address has an open setup link from the
 *   operator (`sillage admin create`): that link, and only it, sets up that account.
 */
export async function acceptInvitation(
  deps: AuthDeps,
  token: string,
  password: string | null,
  principal: UserPrincipal | null,
): Promise<AcceptResult> {
  const invitation = await openInvitation(deps, token);
  const existing = await deps.store.findUserByEmail(invitation.email);
  const now = deps.now();

  if (invitation.userId !== null) {
    if (!existing || existing.id !== invitation.userId || existing.status !== 'pending') {
      throw new AppError('AUTH_TOKEN_INVALID', 'this link is unknown, used or expired');
    }
    return startSetup(deps, invitation, existing, password, {
      kind: 'reset',
      linkId: invitation.id,
    });
  }

  const org = await deps.store.getOrg(invitation.orgId);
  if (!org) throw new AppError('AUTH_TOKEN_INVALID', 'this link is unknown, used or expired');
  if (existing) {
    if (existing.status !== 'active') {
      throw new AppError(
        'AUTH_REQUIRED',
        'this account is not set up yet: set it up with its own setup link first, then sign in and open this invitation again',
      );
    }
    if (principal?.user.id !== existing.id) {
      throw new AppError('AUTH_REQUIRED', 'sign in to the invited account, then open the link');
    }
    if (!(await deps.store.markInvitationAccepted(invitation.id, now))) {
      throw new AppError('AUTH_TOKEN_INVALID', 'this link is unknown, used or expired');
    }
    // An account on hold after a reset whose link an admin saw joins on hold too.
    const held = (await deps.store.listMemberships(existing.id)).some((m) => m.suspended);
    await deps.store.putMembership({
      orgId: org.id,
      userId: existing.id,
      role: invitation.role,
      createdAtMs: now,
      // Only the session that accepts (and later ones) reach the organisation: a session from
      // before — a lost laptop's, when the person was removed and is now invited back — does not.
      accessFromMs: principal.session.createdAtMs,
      suspended: held ? 'unconfirmed_reset' : null,
    });
    deps.logger.info('member joined', { orgId: org.id, userId: existing.id });
    return { status: 'joined', orgId: org.id, suspended: held };
  }

  const reserved = (await deps.store.listInvitationsForEmail(invitation.email)).some(
    (i) =>
      i.id !== invitation.id &&
      i.createdBy === null &&
      i.acceptedAtMs === null &&
      i.expiresAtMs > now,
  );
  if (reserved) {
    throw new AppError(
      'AUTH_REQUIRED',
      'this address has its own setup link from the server operator: set the account up with it first, then sign in and open this invitation again',
    );
  }
  return startSetup(deps, invitation, null, password, {
    kind: 'join',
    orgId: org.id,
    role: invitation.role,
    invitationId: invitation.id,
  });
}

/** Sets the password of a new account (or of a reset one, through its own link) and starts setup. */
async function startSetup(
  deps: AuthDeps,
  invitation: InvitationRecord,
  existing: UserRecord | null,
  password: string | null,
  plan: SetupPlan,
): Promise<AcceptResult> {
  const now = deps.now();
  if (password === null) throw new AppError('REQUEST_INVALID', 'choose a password');
  const org = invitation.orgId ? await deps.store.getOrg(invitation.orgId) : null;
  const verdict = checkPasswordPolicy(password, {
    email: invitation.email,
    ...(org ? { orgName: org.name } : {}),
  });
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
    data: { ...plan },
    expiresAtMs: now + SETUP_TTL_MS,
  });
  return {
    status: 'setup',
    setupToken,
    methods: (await passkeyRequiredFor(deps, user, plan)) ? ['passkey'] : ['passkey', 'totp'],
  };
}

/** Whether the account being set up must enrol a passkey (its organisations' policies). */
async function passkeyRequiredFor(
  deps: AuthDeps,
  user: UserRecord,
  plan: SetupPlan,
): Promise<boolean> {
  if (plan.kind === 'join') {
    const org = await deps.store.getOrg(plan.orgId);
    return !org || passkeyRequiredIn(org.policy, plan.role);
  }
  return effectivePolicy(await membershipsOf(deps, user.id)).passkeyRequired;
}

const isRole = (value: unknown): value is Role =>
  value === 'owner' || value === 'admin' || value === 'analyst' || value === 'viewer';

function planOf(data: Record<string, unknown>): SetupPlan | null {
  if (data.kind === 'join' && typeof data.orgId === 'string' && isRole(data.role)) {
    return {
      kind: 'join',
      orgId: data.orgId,
      role: data.role,
      invitationId: typeof data.invitationId === 'string' ? data.invitationId : null,
    };
  }
  if (data.kind === 'reset' && typeof data.linkId === 'string') {
    return { kind: 'reset', linkId: data.linkId };
  }
  return null;
}

interface SetupState {
  user: UserRecord;
  plan: SetupPlan;
  data: Record<string, unknown>;
  expiresAtMs: number;
  idHash: string;
}

/** Reads the setup in progress (and puts it back: it stays valid until completed or expired). */
async function setupState(deps: AuthDeps, setupToken: string): Promise<SetupState> {
  const idHash = hashToken(setupToken);
  const challenge = await deps.store.takeChallenge(idHash, 'setup', deps.now());
  const user = challenge ? await deps.store.getUser(challenge.userId) : null;
  const invalid = (): AppError =>
    new AppError('AUTH_TOKEN_INVALID', 'this setup is unknown, finished or expired');
  if (!challenge || !user || user.status !== 'pending') throw invalid();
  await deps.store.putChallenge(challenge);
  const plan = planOf(challenge.data);
  if (!plan) throw invalid();
  // A newer reset of the account (by the operator, say) supersedes a setup begun with an older
  // link: that link's holder may have been the wrong person.
  if (
    plan.kind === 'reset' &&
    !(await deps.store.listInvitationsForEmail(user.email)).some((i) => i.id === plan.linkId)
  ) {
    throw invalid();
  }
  // An invitation withdrawn (or swept by a lock-down) after its link was opened joins nobody.
  if (
    plan.kind === 'join' &&
    plan.invitationId !== null &&
    !(await deps.store.listInvitations(plan.orgId)).some((i) => i.id === plan.invitationId)
  ) {
    throw invalid();
  }
  return { user, plan, data: challenge.data, expiresAtMs: challenge.expiresAtMs, idHash };
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
  if (await passkeyRequiredFor(deps, state.user, state.plan)) {
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
  if (state.plan.kind === 'join') {
    await deps.store.putMembership({
      orgId: state.plan.orgId,
      userId: user.id,
      role: state.plan.role,
      createdAtMs: now,
      accessFromMs: null,
      suspended: null,
    });
  }
  const recoveryCodes = await newRecoveryCodes(deps, user);
  const { token, session } = await issueSession(deps, user, method, client);
  await noteDevice(deps, user, client, false);
  deps.logger.info('account set up', { userId: user.id, factor: method, kind: state.plan.kind });
  return { token, session, user, recoveryCodes };
}

/** A member as listed (e-mail shown to fellow members only). */
export interface MemberView {
  user_id: string;
  email: string;
  role: Role;
  status: UserRecord['status'];
  /** Set while this organisation's grant is on hold (after a reset whose link an admin saw). */
  suspended: MembershipRecord['suspended'];
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
        suspended: m.suspended,
        joined_at: new Date(m.createdAtMs).toISOString(),
      });
    }
  }
  return out;
}

export async function setOrgPolicy(
  deps: AuthDeps,
  orgId: string,
  policy: OrgPolicy,
): Promise<void> {
  await deps.store.setOrgPolicy(orgId, policy);
  deps.logger.info('organisation policy changed', { orgId });
}

/**
 * Notifies every owner of the organisation a project belongs to (e.g. when its privacy policy is
 * loosened). A project outside any organisation has no owner to tell. Never fails the caller.
 */
export async function notifyProjectOwners(
  deps: AuthDeps,
  projectId: string,
  kind: NoticeKind,
  details: NoticeDetails = {},
): Promise<number> {
  try {
    const orgId = await deps.store.projectOrg(projectId);
    if (orgId === null) return 0;
    let told = 0;
    for (const member of await deps.store.listMembers(orgId)) {
      if (member.role !== 'owner') continue;
      const user = await deps.store.getUser(member.userId);
      if (!user) continue;
      await deps.notifier.notify(user, kind, details);
      told++;
    }
    return told;
  } catch {
    deps.logger.error('owners not notified', { kind, projectId });
    return 0;
  }
}
