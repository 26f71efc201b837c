// Dashboard sessions: opaque cookie tokens stored hashed, idle and absolute timeouts, CSRF tokens,
// and the organisation policies that decide which factors a person may use.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../shared/errors.js';
import type {
  AuthMethod,
  MembershipRecord,
  OrgPolicy,
  OrgRecord,
  SessionRecord,
  UserRecord,
} from '../store/account-types.js';
import type { AuthDeps, ClientInfo, UserPrincipal } from './context.js';
import { DEFAULT_ORG_POLICY } from './context.js';
import { hashToken, newToken } from './tokens.js';

/** `__Host-` prefix: Secure, Path=/, no Domain (NIST 800-63B §5.1.1). */
export const SESSION_COOKIE = '__Host-sillage_session';
/** A random id the browser keeps so that sign-ins from new devices can be noticed. */
export const DEVICE_COOKIE = '__Host-sillage_device';

/** Last-seen times are written at most this often (every request would be a write). */
const TOUCH_INTERVAL_MS = 15_000;

/** A person's organisations with their role and policy. */
export interface MembershipView {
  membership: MembershipRecord;
  org: OrgRecord;
}

export async function membershipsOf(deps: AuthDeps, userId: string): Promise<MembershipView[]> {
  const out: MembershipView[] = [];
  for (const membership of await deps.store.listMemberships(userId)) {
    const org = await deps.store.getOrg(membership.orgId);
    if (org) out.push({ membership, org });
  }
  return out;
}

/** Whether an organisation's policy makes this member sign in and step up with a passkey only. */
export function passkeyRequiredIn(policy: OrgPolicy, role: MembershipRecord['role']): boolean {
  if (policy.requirePasskeys === 'everyone') return true;
  return policy.requirePasskeys === 'admins' && (role === 'owner' || role === 'admin');
}

/** The strictest rules over all of a person's organisations. */
export interface EffectivePolicy {
  passkeyRequired: boolean;
  allowTotpStepUp: boolean;
  idleMs: number;
  absoluteMs: number;
}

export function effectivePolicy(views: readonly MembershipView[]): EffectivePolicy {
  const policies = views.length > 0 ? views.map((v) => v.org.policy) : [DEFAULT_ORG_POLICY];
  return {
    passkeyRequired: views.some((v) => passkeyRequiredIn(v.org.policy, v.membership.role)),
    allowTotpStepUp:
      views.every((v) => !passkeyRequiredIn(v.org.policy, v.membership.role)) &&
      policies.every((p) => p.allowTotpStepUp),
    idleMs: Math.min(...policies.map((p) => p.sessionIdleMinutes)) * 60_000,
    absoluteMs: Math.min(...policies.map((p) => p.sessionAbsoluteHours)) * 3_600_000,
  };
}

/**
 * Opens a session after a complete sign-in (password and second factor, or setup). The sign-in
 * itself counts as a fresh check of its factor, so step-up right after signing in needs no second
 * prompt when the factor qualifies.
 */
export async function issueSession(
  deps: AuthDeps,
  user: UserRecord,
  method: AuthMethod,
  client: ClientInfo,
): Promise<{ token: string; session: SessionRecord }> {
  const policy = effectivePolicy(await membershipsOf(deps, user.id));
  const now = deps.now();
  const token = newToken(32);
  const session: SessionRecord = {
    idHash: hashToken(token),
    userId: user.id,
    createdAtMs: now,
    lastSeenAtMs: now,
    expiresAtMs: now + policy.absoluteMs,
    idleTimeoutMs: policy.idleMs,
    method,
    stepUpAtMs: method === 'recovery_code' ? null : now,
    stepUpMethod: method === 'recovery_code' ? null : method,
    device: client.device,
    place: client.place,
    revokedAtMs: null,
    revokedReason: null,
  };
  await deps.store.createSession(session);
  deps.logger.info('session started', { userId: user.id, factor: method, outcome: 'success' });
  return { token, session };
}

/**
 * The limits the server enforces on a session now: those it was issued with, shortened by the
 * strictest *current* timeouts of the person's organisations (an owner who shortens them, or an
 * invitation into a stricter organisation, shortens the sessions already open too; a laxer policy
 * never lengthens one). Enforcement and every report of a session's expiry use this, so that what
 * the person is shown is what will happen.
 */
export interface SessionLimits {
  idleTimeoutMs: number;
  expiresAtMs: number;
}

export function sessionLimits(session: SessionRecord, policy: EffectivePolicy): SessionLimits {
  return {
    idleTimeoutMs: Math.min(session.idleTimeoutMs, policy.idleMs),
    expiresAtMs: Math.min(session.expiresAtMs, session.createdAtMs + policy.absoluteMs),
  };
}

/** Why a session that is not revoked has ended at `nowMs` under `limits`, or null while it is live. */
export function sessionEnded(
  session: SessionRecord,
  limits: SessionLimits,
  nowMs: number,
): 'idle' | 'expired' | null {
  if (nowMs - session.lastSeenAtMs > limits.idleTimeoutMs) return 'idle';
  if (nowMs >= limits.expiresAtMs) return 'expired';
  return null;
}

/** A person's sessions that the server would still accept at `atMs` (not revoked, within sessionLimits). */
export async function liveSessions(
  deps: AuthDeps,
  userId: string,
  atMs: number,
): Promise<SessionRecord[]> {
  const policy = effectivePolicy(await membershipsOf(deps, userId));
  return (await deps.store.listSessions(userId)).filter(
    (s) => s.revokedAtMs === null && sessionEnded(s, sessionLimits(s, policy), atMs) === null,
  );
}

/** Resolves a session cookie to the signed-in person, enforcing both timeouts. */
export async function authenticateSession(deps: AuthDeps, token: string): Promise<UserPrincipal> {
  const session = await deps.store.getSession(hashToken(token));
  if (!session) throw new AppError('AUTH_REQUIRED', 'not signed in');
  const now = deps.now();
  if (session.revokedAtMs !== null) {
    throw new AppError('AUTH_SESSION_EXPIRED', 'the session was ended; sign in again');
  }
  const policy = effectivePolicy(await membershipsOf(deps, session.userId));
  const ended = sessionEnded(session, sessionLimits(session, policy), now);
  if (ended) {
    await deps.store.revokeSessions({ idHash: session.idHash }, now, ended);
    throw new AppError('AUTH_SESSION_EXPIRED', 'the session timed out; sign in again');
  }
  const user = await deps.store.getUser(session.userId);
  if (!user || user.status !== 'active') {
    await deps.store.revokeSessions({ idHash: session.idHash }, now, 'account disabled');
    throw new AppError('AUTH_SESSION_EXPIRED', 'the session was ended; sign in again');
  }
  if (now - session.lastSeenAtMs >= TOUCH_INTERVAL_MS) {
    await deps.store.touchSession(session.idHash, now);
    session.lastSeenAtMs = now;
  }
  return { kind: 'user', user, session, actor: `user:${user.id}` };
}

/**
 * The CSRF token of a session (synchroniser token pattern without storage): an HMAC of the
 * session id under a server key. NIST 800-63B §5.1.1: "POST/PUT content SHALL contain a session
 * identifier that the RP SHALL verify".
 */
export function csrfTokenFor(deps: AuthDeps, session: SessionRecord): string {
  return createHmac('sha256', deps.csrfKey).update(session.idHash).digest('base64url');
}

export function csrfTokenValid(deps: AuthDeps, session: SessionRecord, provided: string): boolean {
  const expected = Buffer.from(csrfTokenFor(deps, session));
  const given = Buffer.from(provided);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** The session list a person sees: no token, no hash beyond a short id. */
export interface SessionView {
  id: string;
  current: boolean;
  device: string;
  place: string;
  method: AuthMethod;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
}

export const sessionPublicId = (session: SessionRecord): string => session.idHash.slice(0, 16);

/** The person's live sessions, each with the expiry the server will enforce (sessionLimits). */
export async function listOwnSessions(
  deps: AuthDeps,
  principal: UserPrincipal,
): Promise<SessionView[]> {
  const now = deps.now();
  const policy = effectivePolicy(await membershipsOf(deps, principal.user.id));
  const out: SessionView[] = [];
  for (const s of await deps.store.listSessions(principal.user.id)) {
    const limits = sessionLimits(s, policy);
    if (s.revokedAtMs !== null || sessionEnded(s, limits, now) !== null) continue;
    out.push({
      id: sessionPublicId(s),
      current: s.idHash === principal.session.idHash,
      device: s.device,
      place: s.place,
      method: s.method,
      created_at: new Date(s.createdAtMs).toISOString(),
      last_seen_at: new Date(s.lastSeenAtMs).toISOString(),
      expires_at: new Date(limits.expiresAtMs).toISOString(),
    });
  }
  return out;
}

/** Revokes one of the person's own sessions by its public id. */
export async function revokeOwnSession(
  deps: AuthDeps,
  principal: UserPrincipal,
  publicId: string,
): Promise<void> {
  const target = (await deps.store.listSessions(principal.user.id)).find(
    (s) => sessionPublicId(s) === publicId && s.revokedAtMs === null,
  );
  if (!target) throw new AppError('NOT_FOUND', 'no such session');
  await deps.store.revokeSessions({ idHash: target.idHash }, deps.now(), 'revoked by user');
}
