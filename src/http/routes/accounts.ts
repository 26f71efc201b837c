// Account API: sign-in (password, then a second factor), sign-out, step-up, invitations and
// account setup, and a person's own factors, sessions and notices.
import { z } from 'zod';
import {
  acceptInvitation,
  addPasskey,
  challengeOf,
  changePassword,
  completeLogin,
  completeSetup,
  completeStepUp,
  confirmTotp,
  csrfTokenFor,
  effectivePolicy,
  factorView,
  hashToken,
  hasRecentCheck,
  listOwnSessions,
  liveSessions,
  membershipsOf,
  newRecoveryCodes,
  newToken,
  passkeyRegistration,
  removeFactor,
  revokeOwnSession,
  secondFactorSchema,
  sessionLimits,
  sessionPublicId,
  setupPasskeyOptions,
  setupTotpStart,
  startLogin,
  startStepUp,
  startTotp,
  type AuthDeps,
  type ClientInfo,
  type NoticeDetails,
  type NoticeKind,
  type UserPrincipal,
} from '../../auth/index.js';
import { AppError } from '../../shared/errors.js';
import type { SessionRecord, UserRecord } from '../../store/account-types.js';
import {
  clearedSessionCookie,
  defineRoute,
  deviceCookie,
  sessionCookie,
  type ApiRoute,
  type RouteContext,
} from '../api/registry.js';
import {
  type SessionResponse,
  accountResponse,
  factorResponse,
  invitationAcceptedResponse,
  loginStartedResponse,
  noticesResponse,
  ownSessionsResponse,
  passkeyOptionsResponse,
  recoveryCodesResponse,
  sessionResponse,
  sessionsRevokedResponse,
  setupDoneResponse,
  signedInResponse,
  stepUpDoneResponse,
  stepUpStartedResponse,
  totpStartedResponse,
} from '../api/responses.js';

const email = z.string().trim().min(3).max(320);
// Passwords are checked whole, never truncated; the policy's own limit gives the precise error.
const password = z.string().min(1).max(4096);
const label = z.string().trim().max(100).optional();

/** Gives the browser a device id when it has none, so that new devices can be noticed. */
function withDevice(ctx: RouteContext<unknown>): ClientInfo {
  if (ctx.client.deviceHash) return ctx.client;
  const id = newToken(16);
  void ctx.reply.header('Set-Cookie', deviceCookie(id));
  return { ...ctx.client, deviceHash: hashToken(id) };
}

function setSession(ctx: RouteContext<unknown>, token: string): void {
  const cookies = ctx.reply.getHeader('Set-Cookie');
  const list = Array.isArray(cookies) ? cookies : typeof cookies === 'string' ? [cookies] : [];
  void ctx.reply.header('Set-Cookie', [...list, sessionCookie(token)]);
}

/** What a signed-in person's client needs: who they are, the CSRF token, the session's limits. */
async function sessionView(
  deps: AuthDeps,
  user: UserRecord,
  session: SessionRecord,
): Promise<SessionResponse> {
  const memberships = await membershipsOf(deps, user.id);
  const policy = effectivePolicy(memberships);
  // The limits the server enforces now, which the organisations' policy may have shortened.
  const limits = sessionLimits(session, policy);
  return {
    user: { id: user.id, email: user.email },
    session: {
      id: sessionPublicId(session),
      method: session.method,
      expires_at: new Date(limits.expiresAtMs).toISOString(),
      idle_timeout_seconds: Math.round(limits.idleTimeoutMs / 1000),
      step_up_at: session.stepUpAtMs === null ? null : new Date(session.stepUpAtMs).toISOString(),
    },
    csrf_token: csrfTokenFor(deps, session),
    passkey_required: policy.passkeyRequired,
    organisations: memberships.map((m) => ({
      id: m.org.id,
      name: m.org.name,
      role: m.membership.role,
    })),
  };
}

const requireUser = (ctx: RouteContext<unknown>): UserPrincipal => {
  if (!ctx.user) throw new AppError('AUTH_REQUIRED', 'sign in first');
  return ctx.user;
};

/** Enrolling another factor needs a second-factor check in the last 5 minutes (ASVS 7.5.1). */
function requireRecentCheck(deps: AuthDeps, user: UserPrincipal): void {
  if (!hasRecentCheck(deps, user)) {
    throw new AppError(
      'AUTH_STEP_UP_REQUIRED',
      'confirm with a second factor first (POST /api/v1/auth/step-up), then retry within 5 minutes',
    );
  }
}

export function accountRoutes(deps: AuthDeps): ApiRoute<unknown>[] {
  return [
    defineRoute({
      id: 'auth.login',
      method: 'POST',
      url: '/api/v1/auth/login',
      summary:
        'Sign in, step 1: e-mail and password. Answers a login token and the second factors allowed.',
      tag: 'auth',
      response: loginStartedResponse,
      auth: 'none',
      body: z.strictObject({ email, password }),
      handler: async (ctx) => {
        const started = await startLogin(deps, ctx.body.email, ctx.body.password, ctx.client);
        return {
          login_token: started.loginToken,
          methods: started.methods,
          passkey: started.passkey,
        };
      },
    }),
    defineRoute({
      id: 'auth.login.verify',
      method: 'POST',
      url: '/api/v1/auth/login/verify',
      summary:
        'Sign in, step 2: a passkey assertion, a TOTP code or a recovery code. Sets the session cookie.',
      tag: 'auth',
      response: signedInResponse,
      auth: 'none',
      body: z.intersection(
        z.object({ login_token: z.string().min(1).max(200) }),
        secondFactorSchema,
      ),
      handler: async (ctx) => {
        const client = withDevice(ctx);
        const { login_token: loginToken, ...proof } = ctx.body;
        const done = await completeLogin(deps, loginToken, proof, client);
        setSession(ctx, done.token);
        return {
          ...(await sessionView(deps, done.user, done.session)),
          new_device: done.newDevice,
        };
      },
    }),
    defineRoute({
      id: 'auth.logout',
      method: 'POST',
      url: '/api/v1/auth/logout',
      summary: 'Sign out: ends this session on the server and clears the cookie.',
      tag: 'auth',
      success: { status: 204, description: 'Done (no content).' },
      auth: 'session',
      handler: async (ctx) => {
        const user = requireUser(ctx);
        await deps.store.revokeSessions({ idHash: user.session.idHash }, deps.now(), 'signed out');
        void ctx.reply.header('Set-Cookie', clearedSessionCookie());
        void ctx.reply.header('Clear-Site-Data', '"cookies", "storage"');
        return undefined;
      },
    }),
    defineRoute({
      id: 'auth.session',
      method: 'GET',
      url: '/api/v1/auth/session',
      summary: 'The signed-in person, their organisations and roles, and the CSRF token.',
      tag: 'auth',
      response: sessionResponse,
      auth: 'session',
      handler: async (ctx) => {
        const user = requireUser(ctx);
        return sessionView(deps, user.user, user.session);
      },
    }),
    defineRoute({
      id: 'auth.step-up.options',
      method: 'POST',
      url: '/api/v1/auth/step-up/options',
      summary: 'Starts a step-up: passkey request options and the methods that count.',
      tag: 'auth',
      response: stepUpStartedResponse,
      auth: 'session',
      handler: async (ctx) => startStepUp(deps, requireUser(ctx)),
    }),
    defineRoute({
      id: 'auth.step-up',
      method: 'POST',
      url: '/api/v1/auth/step-up',
      summary:
        'Completes a step-up with a passkey (or TOTP where the policy allows): sensitive actions are open for 5 minutes.',
      tag: 'auth',
      response: stepUpDoneResponse,
      auth: 'session',
      body: secondFactorSchema,
      handler: async (ctx) => {
        const done = await completeStepUp(deps, requireUser(ctx), ctx.body, ctx.client);
        return {
          method: done.method,
          valid_until: new Date(done.validUntil).toISOString(),
          sufficient_for_sensitive_actions: done.sufficient,
        };
      },
    }),
    defineRoute({
      id: 'auth.invitation.accept',
      method: 'POST',
      url: '/api/v1/auth/invitations/accept',
      summary:
        'Accepts an invitation or setup link: new people choose a password and get a setup token; existing accounts join while signed in.',
      tag: 'auth',
      response: invitationAcceptedResponse,
      auth: 'optional-session',
      body: z.strictObject({ token: z.string().min(1).max(200), password: password.optional() }),
      handler: async (ctx) => {
        const result = await acceptInvitation(
          deps,
          ctx.body.token,
          ctx.body.password ?? null,
          ctx.user,
        );
        return result.status === 'joined'
          ? { status: 'joined' as const, org_id: result.orgId }
          : { status: 'setup' as const, setup_token: result.setupToken, methods: result.methods };
      },
    }),
    defineRoute({
      id: 'auth.setup.passkey-options',
      method: 'POST',
      url: '/api/v1/auth/setup/passkey/options',
      summary: 'Account setup: passkey registration options.',
      tag: 'auth',
      response: passkeyOptionsResponse,
      auth: 'none',
      body: z.strictObject({ setup_token: z.string().min(1).max(200) }),
      handler: async (ctx) => ({ passkey: await setupPasskeyOptions(deps, ctx.body.setup_token) }),
    }),
    defineRoute({
      id: 'auth.setup.totp',
      method: 'POST',
      url: '/api/v1/auth/setup/totp',
      summary:
        'Account setup: an authenticator-app secret (not phishing-resistant; refused where passkeys are required).',
      tag: 'auth',
      response: totpStartedResponse,
      auth: 'none',
      body: z.strictObject({ setup_token: z.string().min(1).max(200) }),
      handler: async (ctx) => {
        const started = await setupTotpStart(deps, ctx.body.setup_token);
        return { factor_id: started.factorId, secret: started.secret, uri: started.uri };
      },
    }),
    defineRoute({
      id: 'auth.setup.complete',
      method: 'POST',
      url: '/api/v1/auth/setup/complete',
      summary:
        'Account setup: verifies the first second factor, activates the account, signs in, and returns recovery codes (shown once).',
      tag: 'auth',
      response: setupDoneResponse,
      auth: 'none',
      body: z.intersection(
        z.object({ setup_token: z.string().min(1).max(200) }),
        z.discriminatedUnion('method', [
          z.object({ method: z.literal('passkey'), response: z.unknown(), label }),
          z.object({ method: z.literal('totp'), code: z.string().min(1).max(20) }),
        ]),
      ),
      handler: async (ctx) => {
        const client = withDevice(ctx);
        const { setup_token: setupToken, ...proof } = ctx.body;
        const done = await completeSetup(deps, setupToken, proof, client);
        setSession(ctx, done.token);
        return {
          ...(await sessionView(deps, done.user, done.session)),
          recovery_codes: done.recoveryCodes,
        };
      },
    }),

    defineRoute({
      id: 'me.get',
      method: 'GET',
      url: '/api/v1/me',
      summary:
        'Your account: factors (phishing-resistant or not), recovery codes left, organisations.',
      tag: 'me',
      response: accountResponse,
      auth: 'session',
      handler: async (ctx) => {
        const user = requireUser(ctx);
        return {
          ...(await sessionView(deps, user.user, user.session)),
          factors: (await deps.store.listFactors(user.user.id))
            .filter((f) => f.kind === 'passkey' || f.confirmed)
            .map(factorView),
          recovery_codes_left: await deps.store.countUnusedRecoveryCodes(user.user.id),
        };
      },
    }),
    defineRoute({
      id: 'me.passkeys.options',
      method: 'POST',
      url: '/api/v1/me/passkeys/options',
      summary:
        'Adding a passkey, step 1: registration options (needs a second-factor check in the last 5 minutes).',
      tag: 'me',
      response: passkeyOptionsResponse,
      auth: 'session',
      handler: async (ctx) => {
        const user = requireUser(ctx);
        requireRecentCheck(deps, user);
        const { options, challenge } = await passkeyRegistration(deps, user.user);
        await deps.store.putChallenge({
          idHash: hashToken(challenge),
          purpose: 'passkey_register',
          userId: user.user.id,
          sessionIdHash: user.session.idHash,
          data: { webauthnChallenge: challenge },
          expiresAtMs: deps.now() + deps.settings.loginChallengeTtlMs,
        });
        return { passkey: options };
      },
    }),
    defineRoute({
      id: 'me.passkeys.add',
      method: 'POST',
      url: '/api/v1/me/passkeys',
      summary:
        'Adding a passkey, step 2. Usable at once when this session checked a passkey; otherwise after 24 hours (a relayed code must not buy a passkey). Notifies the account.',
      tag: 'me',
      response: factorResponse,
      auth: 'session',
      body: z.strictObject({ response: z.unknown(), label }),
      success: { status: 201, description: 'the passkey' },
      handler: async (ctx) => {
        const user = requireUser(ctx);
        requireRecentCheck(deps, user);
        const expected = challengeOf(ctx.body.response);
        const challenge = expected
          ? await deps.store.takeChallenge(hashToken(expected), 'passkey_register', deps.now())
          : null;
        if (!challenge || challenge.sessionIdHash !== user.session.idHash || !expected) {
          throw new AppError('AUTH_WEBAUTHN_INVALID', 'no matching registration; start again');
        }
        const trusted = user.session.stepUpMethod === 'passkey';
        const factor = await addPasskey(
          deps,
          user.user,
          ctx.body.response,
          expected,
          ctx.body.label ?? '',
          trusted,
        );
        return factorView(factor);
      },
    }),
    defineRoute({
      id: 'me.totp.start',
      method: 'POST',
      url: '/api/v1/me/totp',
      summary:
        'Adding an authenticator app (not phishing-resistant), step 1: the secret, shown once.',
      tag: 'me',
      response: totpStartedResponse,
      auth: 'session',
      body: z.strictObject({ label }),
      success: { status: 201, description: 'the unconfirmed factor and its secret' },
      handler: async (ctx) => {
        const user = requireUser(ctx);
        requireRecentCheck(deps, user);
        if (effectivePolicy(await membershipsOf(deps, user.user.id)).passkeyRequired) {
          throw new AppError('AUTH_PASSKEY_REQUIRED', 'your organisation requires passkeys');
        }
        const started = await startTotp(deps, user.user, ctx.body.label ?? '');
        return { factor_id: started.factorId, secret: started.secret, uri: started.uri };
      },
    }),
    defineRoute({
      id: 'me.totp.confirm',
      method: 'POST',
      url: '/api/v1/me/totp/:factorId/confirm',
      summary: 'Adding an authenticator app, step 2: a first code. Notifies the account.',
      tag: 'me',
      response: factorResponse,
      auth: 'session',
      body: z.strictObject({ code: z.string().min(1).max(20) }),
      handler: async (ctx) => {
        const user = requireUser(ctx);
        requireRecentCheck(deps, user);
        const factorId = ctx.params.factorId ?? '';
        return factorView(await confirmTotp(deps, user.user, factorId, ctx.body.code));
      },
    }),
    defineRoute({
      id: 'me.factors.remove',
      method: 'DELETE',
      url: '/api/v1/me/factors/:factorId',
      summary:
        'Removes a factor (step-up). The last factor, or the last passkey where one is required, stays.',
      tag: 'me',
      auth: 'session',
      stepUp: true,
      success: { status: 204, description: 'Done (no content).' },
      handler: async (ctx) => {
        const user = requireUser(ctx);
        const policy = effectivePolicy(await membershipsOf(deps, user.user.id));
        await removeFactor(deps, user.user, ctx.params.factorId ?? '', policy.passkeyRequired);
        return undefined;
      },
    }),
    defineRoute({
      id: 'me.password',
      method: 'POST',
      url: '/api/v1/me/password',
      summary:
        'Changes your password (step-up, and the current password). Ends your other sessions and notifies you.',
      tag: 'me',
      auth: 'session',
      stepUp: true,
      body: z.strictObject({ current_password: password, new_password: password }),
      success: { status: 204, description: 'Done (no content).' },
      handler: async (ctx) => {
        const user = requireUser(ctx);
        await changePassword(
          deps,
          user,
          ctx.body.current_password,
          ctx.body.new_password,
          ctx.client,
        );
        return undefined;
      },
    }),
    defineRoute({
      id: 'me.recovery-codes',
      method: 'POST',
      url: '/api/v1/me/recovery-codes',
      summary: 'New recovery codes (step-up); the old ones stop working. Shown once.',
      tag: 'me',
      response: recoveryCodesResponse,
      auth: 'session',
      stepUp: true,
      handler: async (ctx) => {
        const user = requireUser(ctx);
        const codes = await newRecoveryCodes(deps, user.user);
        await deps.notifier.notify(user.user, 'factor_added', { factorKind: 'recovery_codes' });
        return { recovery_codes: codes };
      },
    }),
    defineRoute({
      id: 'me.sessions',
      method: 'GET',
      url: '/api/v1/me/sessions',
      summary: 'Your active sessions with device and coarse place.',
      tag: 'me',
      response: ownSessionsResponse,
      auth: 'session',
      handler: async (ctx) => ({ sessions: await listOwnSessions(deps, requireUser(ctx)) }),
    }),
    defineRoute({
      id: 'me.sessions.revoke',
      method: 'DELETE',
      url: '/api/v1/me/sessions/:sessionId',
      summary: 'Ends one of your sessions.',
      tag: 'me',
      success: { status: 204, description: 'Done (no content).' },
      auth: 'session',
      handler: async (ctx) => {
        await revokeOwnSession(deps, requireUser(ctx), ctx.params.sessionId ?? '');
        return undefined;
      },
    }),
    defineRoute({
      id: 'me.sessions.revoke-all',
      method: 'POST',
      url: '/api/v1/me/sessions/revoke-all',
      summary: 'Ends all your sessions (or all but this one, with keep_current).',
      tag: 'me',
      response: sessionsRevokedResponse,
      auth: 'session',
      body: z.strictObject({ keep_current: z.boolean().optional() }),
      handler: async (ctx) => {
        const user = requireUser(ctx);
        const now = deps.now();
        // Counted: the sessions the server would still have accepted (not those already timed out).
        const live = new Set((await liveSessions(deps, user.user.id, now)).map((s) => s.idHash));
        let revoked = 0;
        for (const s of await deps.store.listSessions(user.user.id)) {
          if (s.revokedAtMs !== null) continue;
          if (ctx.body.keep_current && s.idHash === user.session.idHash) continue;
          await deps.store.revokeSessions({ idHash: s.idHash }, now, 'revoked by user');
          if (live.has(s.idHash)) revoked++;
        }
        if (revoked > 0) {
          await deps.notifier.notify(user.user, 'sessions_revoked', {
            device: ctx.client.device,
            place: ctx.client.place,
          });
        }
        return { sessions_revoked: revoked };
      },
    }),
    defineRoute({
      id: 'me.notices',
      method: 'GET',
      url: '/api/v1/me/notices',
      summary:
        'Your security notices (new factor, removed factor, lock-out, new device, lock-down).',
      tag: 'me',
      response: noticesResponse,
      auth: 'session',
      handler: async (ctx) => {
        const user = requireUser(ctx);
        const notices = await deps.store.listNotices(user.user.id, 100);
        return {
          notices: notices.map((n) => ({
            id: n.id,
            kind: n.kind,
            details: n.details,
            ...deps.notifier.render(
              n.kind as NoticeKind,
              n.details as NoticeDetails,
              n.createdAtMs,
            ),
            created_at: new Date(n.createdAtMs).toISOString(),
            read: n.readAtMs !== null,
          })),
        };
      },
    }),
    defineRoute({
      id: 'me.notices.read',
      method: 'POST',
      url: '/api/v1/me/notices/read',
      summary: 'Marks your notices read.',
      tag: 'me',
      auth: 'session',
      success: { status: 204, description: 'Done (no content).' },
      handler: async (ctx) => {
        await deps.store.markNoticesRead(requireUser(ctx).user.id, deps.now());
        return undefined;
      },
    }),
  ];
}
