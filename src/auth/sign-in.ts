// Signing in (password, then a second factor) and stepping up (a fresh second-factor check before
// a sensitive action), with throttling per account and per source and one generic failure answer.
import { AppError } from '../shared/errors.js';
import type { AuthMethod, SessionRecord, UserRecord } from '../store/account-types.js';
import type { AuthDeps, ClientInfo, UserPrincipal } from './context.js';
import {
  availableMethods,
  challengeOf,
  passkeyRequest,
  verifySecondFactor,
  type SecondFactorProof,
} from './factors.js';
import { checkPasswordPolicy } from './passwords.js';
import { STEP_UP_MAX_AGE_MS } from './permissions.js';
import { effectivePolicy, issueSession, membershipsOf, type EffectivePolicy } from './sessions.js';
import { ACCOUNT_FREE_FAILURES, recordFailure, recordSuccess, retryAfterMs } from './throttle.js';
import { hashToken, newToken } from './tokens.js';

/** Wrong second-factor attempts allowed on one sign-in before the password is asked again. */
const LOGIN_FACTOR_ATTEMPTS = 3;

/** E-mail addresses are compared trimmed and lower-cased. */
export const normaliseEmail = (email: string): string => email.trim().toLowerCase();

const LOGIN_FAILED = (): AppError =>
  new AppError('AUTH_LOGIN_FAILED', 'the e-mail address, password or second factor is wrong');

function throttled(ms: number): AppError {
  return new AppError('AUTH_THROTTLED', 'too many failed attempts; try again later', {
    retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000)),
  });
}

async function checkSource(deps: AuthDeps, client: ClientInfo): Promise<void> {
  const wait = await deps.sources.check(client.sourceKey, deps.now());
  if (wait > 0) {
    deps.logger.warn('sign-in throttled', { outcome: 'throttled', code: 'source' });
    throw throttled(wait);
  }
}

/** Counts a failed attempt against the account and the source; notifies on lock-out. */
async function failAttempt(
  deps: AuthDeps,
  user: UserRecord,
  client: ClientInfo,
  factor: string,
): Promise<void> {
  const now = deps.now();
  await deps.sources.fail(client.sourceKey, user.id, now);
  const next = recordFailure(
    { consecutiveFailures: user.failedAttempts, lockedUntilMs: user.lockedUntilMs },
    now,
  );
  await deps.store.updateUser(user.id, {
    failedAttempts: next.state.consecutiveFailures,
    lockedUntilMs: next.state.lockedUntilMs,
  });
  deps.logger.warn('sign-in failed', { userId: user.id, factor, outcome: 'failure' });
  // One notice when the lock starts and one when the account is disabled, not one per attempt.
  const firstLock = next.lockedOut && next.state.consecutiveFailures === ACCOUNT_FREE_FAILURES + 1;
  if (firstLock || next.disabled) {
    deps.logger.warn('account locked', { userId: user.id, outcome: 'lockout' });
    await deps.notifier.notify(user, 'lockout', {
      device: client.device,
      place: client.place,
      retryAfterMinutes: Math.ceil(retryAfterMs(next.state, now) / 60_000),
    });
  }
}

function accountWait(deps: AuthDeps, user: UserRecord): number {
  return retryAfterMs(
    { consecutiveFailures: user.failedAttempts, lockedUntilMs: user.lockedUntilMs },
    deps.now(),
  );
}

/** What a correct password yields: a short-lived token for the second step and its choices. */
export interface LoginStarted {
  loginToken: string;
  methods: AuthMethod[];
  /** WebAuthn request options when a passkey can be used. */
  passkey: unknown;
}

/** Methods that the policy lets this person sign in with. */
function allowedForSignIn(methods: AuthMethod[], policy: EffectivePolicy): AuthMethod[] {
  // A required passkey excludes the factors a phishing page can relay (TOTP, recovery codes).
  return policy.passkeyRequired ? methods.filter((m) => m === 'passkey') : methods;
}

/** Step one: e-mail and password. Unknown accounts take as long as known ones. */
export async function startLogin(
  deps: AuthDeps,
  email: string,
  password: string,
  client: ClientInfo,
): Promise<LoginStarted> {
  await checkSource(deps, client);
  const user = await deps.store.findUserByEmail(normaliseEmail(email));
  if (!user || user.status !== 'active' || user.passwordHash === null) {
    await deps.hasher.verifyDummy(password);
    await deps.sources.fail(
      client.sourceKey,
      `unknown:${hashToken(normaliseEmail(email))}`,
      deps.now(),
    );
    deps.logger.warn('sign-in failed', { factor: 'password', outcome: 'failure' });
    throw LOGIN_FAILED();
  }
  const wait = accountWait(deps, user);
  if (wait > 0) {
    await deps.hasher.verifyDummy(password);
    throw throttled(wait);
  }
  const verdict = await deps.hasher.verify(user.passwordHash, password);
  if (!verdict.ok) {
    await failAttempt(deps, user, client, 'password');
    throw LOGIN_FAILED();
  }
  if (verdict.needsRehash) {
    await deps.store.updateUser(user.id, { passwordHash: await deps.hasher.hash(password) });
  }
  const policy = effectivePolicy(await membershipsOf(deps, user.id));
  const methods = allowedForSignIn(await availableMethods(deps, user), policy);
  const passkey = methods.includes('passkey') ? await passkeyRequest(deps, user) : null;
  const loginToken = newToken(32);
  await deps.store.putChallenge({
    idHash: hashToken(loginToken),
    purpose: 'login',
    userId: user.id,
    sessionIdHash: null,
    data: { webauthnChallenge: passkey?.challenge ?? null, attempts: 0 },
    expiresAtMs: deps.now() + deps.settings.loginChallengeTtlMs,
  });
  return { loginToken, methods, passkey: passkey?.options ?? null };
}

/** A completed sign-in: the session cookie token and whether the device was new. */
export interface LoginCompleted {
  token: string;
  session: SessionRecord;
  user: UserRecord;
  newDevice: boolean;
}

/** Step two: the second factor. Opens the session. */
export async function completeLogin(
  deps: AuthDeps,
  loginToken: string,
  proof: SecondFactorProof,
  client: ClientInfo,
): Promise<LoginCompleted> {
  await checkSource(deps, client);
  const challenge = await deps.store.takeChallenge(hashToken(loginToken), 'login', deps.now());
  if (!challenge) {
    throw new AppError('AUTH_TOKEN_INVALID', 'the sign-in expired or was completed; start again');
  }
  const user = await deps.store.getUser(challenge.userId);
  if (!user || user.status !== 'active') throw LOGIN_FAILED();
  const wait = accountWait(deps, user);
  if (wait > 0) throw throttled(wait);

  const retry = async (): Promise<void> => {
    const attempts = Number(challenge.data.attempts ?? 0) + 1;
    if (attempts < LOGIN_FACTOR_ATTEMPTS) {
      await deps.store.putChallenge({ ...challenge, data: { ...challenge.data, attempts } });
    }
  };

  const policy = effectivePolicy(await membershipsOf(deps, user.id));
  if (policy.passkeyRequired && proof.method !== 'passkey') {
    await retry();
    deps.logger.warn('sign-in refused', {
      userId: user.id,
      factor: proof.method,
      outcome: 'passkey required',
    });
    throw new AppError(
      'AUTH_PASSKEY_REQUIRED',
      'your organisation requires a passkey to sign in; codes are not accepted',
    );
  }
  let method: AuthMethod;
  try {
    const webauthnChallenge = challenge.data.webauthnChallenge;
    method = await verifySecondFactor(
      deps,
      user,
      proof,
      typeof webauthnChallenge === 'string' ? webauthnChallenge : null,
    );
  } catch (error) {
    await failAttempt(deps, user, client, proof.method);
    await retry();
    throw error;
  }
  await deps.store.updateUser(user.id, recordSuccessPatch());
  await deps.sources.succeed(client.sourceKey, user.id);
  const { token, session } = await issueSession(deps, user, method, client);
  const newDevice = await noteDevice(deps, user, client);
  deps.logger.info('signed in', { userId: user.id, factor: method, outcome: 'success' });
  return { token, session, user, newDevice };
}

function recordSuccessPatch(): { failedAttempts: number; lockedUntilMs: number } {
  const state = recordSuccess();
  return { failedAttempts: state.consecutiveFailures, lockedUntilMs: state.lockedUntilMs };
}

/** Remembers the device and sends a notice when the person never signed in from it before. */
export async function noteDevice(
  deps: AuthDeps,
  user: UserRecord,
  client: ClientInfo,
  notify = true,
): Promise<boolean> {
  if (client.deviceHash && (await deps.store.knownDevice(user.id, client.deviceHash))) return false;
  if (client.deviceHash) await deps.store.rememberDevice(user.id, client.deviceHash, deps.now());
  if (notify) {
    await deps.notifier.notify(user, 'new_device', { device: client.device, place: client.place });
  }
  return true;
}

/**
 * Changes the password: the current one must be right (a stolen session alone cannot), the new
 * one must pass the policy; other sessions end (ASVS 7.4.3) and the account is told.
 */
export async function changePassword(
  deps: AuthDeps,
  principal: UserPrincipal,
  current: string,
  next: string,
  client: ClientInfo,
): Promise<void> {
  const user = principal.user;
  const wait = accountWait(deps, user);
  if (wait > 0) throw throttled(wait);
  const verdict = user.passwordHash ? await deps.hasher.verify(user.passwordHash, current) : null;
  if (!verdict?.ok) {
    await failAttempt(deps, user, client, 'password');
    throw new AppError('AUTH_LOGIN_FAILED', 'the current password is wrong');
  }
  const memberships = await membershipsOf(deps, user.id);
  const policy = checkPasswordPolicy(next, {
    email: user.email,
    ...(memberships[0] ? { orgName: memberships[0].org.name } : {}),
  });
  if (!policy.ok) throw new AppError('AUTH_PASSWORD_REJECTED', policy.message);
  await deps.store.updateUser(user.id, { passwordHash: await deps.hasher.hash(next) });
  const now = deps.now();
  for (const s of await deps.store.listSessions(user.id)) {
    if (s.revokedAtMs === null && s.idHash !== principal.session.idHash) {
      await deps.store.revokeSessions({ idHash: s.idHash }, now, 'password changed');
    }
  }
  deps.logger.info('password changed', { userId: user.id });
  await deps.notifier.notify(user, 'password_changed', {
    device: client.device,
    place: client.place,
  });
}

/** Starts a step-up: WebAuthn options when the person has a usable passkey. */
export async function startStepUp(
  deps: AuthDeps,
  principal: UserPrincipal,
): Promise<{ methods: AuthMethod[]; passkey: unknown }> {
  const policy = effectivePolicy(await membershipsOf(deps, principal.user.id));
  const methods = (await availableMethods(deps, principal.user)).filter(
    (m) => m === 'passkey' || (m === 'totp' && !policy.passkeyRequired),
  );
  const passkey = methods.includes('passkey') ? await passkeyRequest(deps, principal.user) : null;
  if (passkey) {
    await deps.store.putChallenge({
      idHash: hashToken(passkey.challenge),
      purpose: 'passkey_step_up',
      userId: principal.user.id,
      sessionIdHash: principal.session.idHash,
      data: { webauthnChallenge: passkey.challenge },
      expiresAtMs: deps.now() + deps.settings.loginChallengeTtlMs,
    });
  }
  return { methods, passkey: passkey?.options ?? null };
}

/**
 * Completes a step-up. A passkey check lets the session do sensitive actions for
 * STEP_UP_MAX_AGE_MS; a TOTP check counts only where the policy allows it (`sufficient`), and
 * otherwise only lets the person enrol another factor.
 */
export async function completeStepUp(
  deps: AuthDeps,
  principal: UserPrincipal,
  proof: SecondFactorProof,
  client: ClientInfo,
): Promise<{ method: AuthMethod; validUntil: number; sufficient: boolean }> {
  const policy = effectivePolicy(await membershipsOf(deps, principal.user.id));
  if (proof.method === 'recovery_code' || (proof.method === 'totp' && policy.passkeyRequired)) {
    throw new AppError(
      'AUTH_PASSKEY_REQUIRED',
      'this check needs a passkey; one-time codes can be relayed by a phishing page',
    );
  }
  await checkSource(deps, client);
  const wait = accountWait(deps, principal.user);
  if (wait > 0) throw throttled(wait);
  let webauthnChallenge: string | null = null;
  if (proof.method === 'passkey') {
    const expected = challengeOf(proof.response);
    const challenge = expected
      ? await deps.store.takeChallenge(hashToken(expected), 'passkey_step_up', deps.now())
      : null;
    if (
      !challenge ||
      challenge.sessionIdHash !== principal.session.idHash ||
      challenge.userId !== principal.user.id
    ) {
      throw new AppError('AUTH_WEBAUTHN_INVALID', 'no matching step-up challenge; start again');
    }
    webauthnChallenge = expected;
  }
  let method: AuthMethod;
  try {
    method = await verifySecondFactor(deps, principal.user, proof, webauthnChallenge);
  } catch (error) {
    await failAttempt(deps, principal.user, client, proof.method);
    throw error;
  }
  const now = deps.now();
  await deps.store.updateUser(principal.user.id, recordSuccessPatch());
  await deps.store.markStepUp(principal.session.idHash, now, method);
  principal.session.stepUpAtMs = now;
  principal.session.stepUpMethod = method;
  deps.logger.info('step-up', { userId: principal.user.id, factor: method, outcome: 'success' });
  return {
    method,
    validUntil: now + STEP_UP_MAX_AGE_MS,
    sufficient: method === 'passkey' || policy.allowTotpStepUp,
  };
}

/**
 * Whether the session holds a fresh step-up that counts under the policy: a passkey check, or a
 * TOTP check where every organisation of the person allows TOTP step-up.
 */
export async function hasFreshStepUp(deps: AuthDeps, principal: UserPrincipal): Promise<boolean> {
  const s = principal.session;
  if (s.stepUpAtMs === null || deps.now() - s.stepUpAtMs > STEP_UP_MAX_AGE_MS) return false;
  if (s.stepUpMethod === 'passkey') return true;
  if (s.stepUpMethod !== 'totp') return false;
  return effectivePolicy(await membershipsOf(deps, principal.user.id)).allowTotpStepUp;
}

/** Throws AUTH_STEP_UP_REQUIRED unless the session holds a fresh, sufficient step-up. */
export async function requireStepUp(deps: AuthDeps, principal: UserPrincipal): Promise<void> {
  if (!(await hasFreshStepUp(deps, principal))) {
    throw new AppError(
      'AUTH_STEP_UP_REQUIRED',
      'confirm with your passkey first (POST /api/v1/auth/step-up), then retry within 5 minutes',
    );
  }
}

/**
 * Whether the session had any second-factor check in the last 5 minutes (sign-in or step-up, any
 * method): enough to enrol an additional factor, which is then untrusted for a day unless the
 * check was a passkey.
 */
export function hasRecentCheck(deps: AuthDeps, principal: UserPrincipal): boolean {
  const s = principal.session;
  return s.stepUpAtMs !== null && deps.now() - s.stepUpAtMs <= STEP_UP_MAX_AGE_MS;
}
