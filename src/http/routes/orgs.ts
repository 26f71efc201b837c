// Organisation API: the organisation, its security policy, members and invitations, revoking
// every session, the emergency lock-down, and its projects.
import { z } from 'zod';
import {
  changeRole,
  endMemberSessions,
  invite,
  isPasskey,
  listMembers,
  passkeyRequiredIn,
  passkeyTrusted,
  lockDown,
  membershipsOf,
  removeMember,
  resetMember,
  revokeOrgSessions,
  SESSION_BOUNDS,
  setOrgPolicy,
  unlockMember,
  type AuthDeps,
  type OrgActor,
} from '../../auth/index.js';
import type { ProjectDirectory } from '../../projects/index.js';
import { isTimeZone } from '../../query/clock.js';
import { AppError } from '../../shared/errors.js';
import type { OrgRecord, Role } from '../../store/account-types.js';
import { defineRoute, type ApiRoute, type RouteContext } from '../api/registry.js';
import {
  type OrgResponse,
  type ProjectResponse,
  invitationCreatedResponse,
  invitationsResponse,
  lockdownResponse,
  memberResetResponse,
  membersResponse,
  orgPolicySetResponse,
  orgResponse,
  orgsResponse,
  projectResponse,
  projectsResponse,
  sessionsRevokedResponse,
} from '../api/responses.js';

const role = z.enum(['owner', 'admin', 'analyst', 'viewer']);

export const orgPolicySchema = z.strictObject({
  require_passkeys: z.enum(['none', 'admins', 'everyone']),
  allow_totp_step_up: z.boolean(),
  session_idle_minutes: z
    .number()
    .int()
    .min(SESSION_BOUNDS.idleMinutes.min)
    .max(SESSION_BOUNDS.idleMinutes.max),
  session_absolute_hours: z
    .number()
    .int()
    .min(SESSION_BOUNDS.absoluteHours.min)
    .max(SESSION_BOUNDS.absoluteHours.max),
});

function orgView(org: OrgRecord): OrgResponse {
  return {
    id: org.id,
    name: org.name,
    policy: {
      require_passkeys: org.policy.requirePasskeys,
      allow_totp_step_up: org.policy.allowTotpStepUp,
      session_idle_minutes: org.policy.sessionIdleMinutes,
      session_absolute_hours: org.policy.sessionAbsoluteHours,
    },
    created_at: new Date(org.createdAtMs).toISOString(),
    locked_down_at: org.lockedDownAtMs === null ? null : new Date(org.lockedDownAtMs).toISOString(),
  };
}

/** The organisation and the caller's role there (set by the registry's authorisation). */
function accessOf(ctx: RouteContext<unknown>): { org: OrgRecord; role: Role } {
  const org = ctx.access?.org;
  const r = ctx.access?.role;
  if (!org || !r) throw new AppError('INTERNAL', 'organisation route without access');
  return { org, role: r };
}

export interface OrgRouteDeps {
  auth: AuthDeps;
  projects: ProjectDirectory;
}

/**
 * The signed-in owner or admin acting for the organisation: what every member-management route
 * hands to src/auth/grants.ts, which acts only on this organisation's grant to the person.
 */
function actorOf(ctx: RouteContext<unknown>): OrgActor {
  const { org, role: r } = accessOf(ctx);
  if (!ctx.user) throw new AppError('AUTH_REQUIRED', 'sign in first');
  return { org, role: r, principal: ctx.user };
}

export function orgRoutes({ auth: deps, projects }: OrgRouteDeps): ApiRoute<unknown>[] {
  const base = '/api/v1/orgs/:orgId';
  return [
    defineRoute({
      id: 'orgs.list',
      method: 'GET',
      url: '/api/v1/orgs',
      summary: 'Your organisations and your role in each.',
      tag: 'organisations',
      response: orgsResponse,
      auth: 'session',
      handler: async (ctx) => ({
        organisations: (await membershipsOf(deps, ctx.user?.user.id ?? '')).map((m) => ({
          ...orgView(m.org),
          role: m.membership.role,
        })),
      }),
    }),
    defineRoute({
      id: 'orgs.get',
      method: 'GET',
      url: base,
      summary: 'The organisation and its security policy.',
      tag: 'organisations',
      response: orgResponse,
      auth: 'session',
      action: 'org.read',
      target: 'orgId',
      handler: (ctx) => Promise.resolve(orgView(accessOf(ctx).org)),
    }),
    defineRoute({
      id: 'orgs.policy.set',
      method: 'PUT',
      url: `${base}/policy`,
      summary:
        'Sets the security policy (owners, step-up): who must use passkeys, whether TOTP counts as step-up, session timeouts within NIST AAL2 bounds.',
      tag: 'organisations',
      response: orgPolicySetResponse,
      auth: 'session',
      action: 'org.policy',
      target: 'orgId',
      body: orgPolicySchema,
      handler: async (ctx) => {
        const { org } = accessOf(ctx);
        await setOrgPolicy(deps, org.id, {
          requirePasskeys: ctx.body.require_passkeys,
          allowTotpStepUp: ctx.body.allow_totp_step_up,
          sessionIdleMinutes: ctx.body.session_idle_minutes,
          sessionAbsoluteHours: ctx.body.session_absolute_hours,
        });
        const updated = await deps.store.getOrg(org.id);
        if (!updated) throw new AppError('ORG_NOT_FOUND', 'no such organisation');
        // Who this policy shuts out until they enrol a passkey (they can still be reset).
        const now = deps.now();
        const withoutPasskey: string[] = [];
        for (const m of await deps.store.listMembers(org.id)) {
          if (!passkeyRequiredIn(updated.policy, m.role)) continue;
          const factors = await deps.store.listFactors(m.userId);
          if (!factors.some((f) => isPasskey(f) && passkeyTrusted(f, now))) {
            withoutPasskey.push(m.userId);
          }
        }
        return { ...orgView(updated), members_without_passkey: withoutPasskey };
      },
    }),
    defineRoute({
      id: 'orgs.members.list',
      method: 'GET',
      url: `${base}/members`,
      summary: 'Members and roles.',
      tag: 'organisations',
      response: membersResponse,
      auth: 'session',
      action: 'org.read',
      target: 'orgId',
      handler: async (ctx) => ({ members: await listMembers(deps, accessOf(ctx).org.id) }),
    }),
    defineRoute({
      id: 'orgs.members.update',
      method: 'PATCH',
      url: `${base}/members/:userId`,
      summary:
        "Changes a member's role in this organisation (step-up; admins cannot touch owners). A role without managing keys and members (an admin made analyst or viewer) also revokes the secret keys the person created for its projects and withdraws their invitations nobody took up. The person is told.",
      tag: 'organisations',
      success: { status: 204, description: 'Done (no content).' },
      auth: 'session',
      action: 'members.write',
      target: 'orgId',
      body: z.strictObject({ role }),
      handler: async (ctx) => {
        await changeRole(deps, actorOf(ctx), ctx.params.userId ?? '', ctx.body.role);
        return undefined;
      },
    }),
    defineRoute({
      id: 'orgs.members.remove',
      method: 'DELETE',
      url: `${base}/members/:userId`,
      summary:
        "Removes a member from this organisation (step-up): its sessions lose access to it (they end where it was the person's only organisation), the secret keys the person created for its projects are revoked and their invitations nobody took up withdrawn; the person's account and other organisations are untouched — except that a member on hold after a reset whose link an admin saw, with no grant the operator vouched for, goes back to pending (only the operator's reset sets the account up again).",
      tag: 'organisations',
      success: { status: 204, description: 'Done (no content).' },
      auth: 'session',
      action: 'members.write',
      target: 'orgId',
      handler: async (ctx) => {
        await removeMember(deps, actorOf(ctx), ctx.params.userId ?? '');
        return undefined;
      },
    }),
    defineRoute({
      id: 'orgs.invitations.list',
      method: 'GET',
      url: `${base}/invitations`,
      summary: 'Open invitations (never their links).',
      tag: 'organisations',
      response: invitationsResponse,
      auth: 'session',
      action: 'members.read',
      target: 'orgId',
      handler: async (ctx) => {
        const now = deps.now();
        return {
          invitations: (await deps.store.listInvitations(accessOf(ctx).org.id))
            .filter((i) => i.acceptedAtMs === null && i.expiresAtMs > now)
            .map((i) => ({
              id: i.id,
              email: i.email,
              role: i.role,
              created_at: new Date(i.createdAtMs).toISOString(),
              expires_at: new Date(i.expiresAtMs).toISOString(),
            })),
        };
      },
    }),
    defineRoute({
      id: 'orgs.invitations.create',
      method: 'POST',
      url: `${base}/invitations`,
      summary: 'Invites someone by a single-use link (step-up). The link is shown once.',
      tag: 'organisations',
      response: invitationCreatedResponse,
      auth: 'session',
      action: 'members.write',
      target: 'orgId',
      body: z.strictObject({ email: z.string().trim().email().max(320), role }),
      success: { status: 201, description: 'the invitation and its link' },
      handler: async (ctx) => {
        const a = accessOf(ctx);
        if (!ctx.user) throw new AppError('AUTH_REQUIRED', 'sign in first');
        const { invitation, link } = await invite(
          deps,
          ctx.user,
          a.role,
          a.org,
          ctx.body.email,
          ctx.body.role,
        );
        return {
          id: invitation.id,
          email: invitation.email,
          role: invitation.role,
          link,
          expires_at: new Date(invitation.expiresAtMs).toISOString(),
        };
      },
    }),
    defineRoute({
      id: 'orgs.invitations.delete',
      method: 'DELETE',
      url: `${base}/invitations/:invitationId`,
      summary: 'Withdraws an invitation (a setup begun with its link then joins nobody).',
      tag: 'organisations',
      auth: 'session',
      action: 'members.write',
      target: 'orgId',
      success: { status: 204, description: 'Done (no content).' },
      handler: async (ctx) => {
        const org = accessOf(ctx).org;
        const id = ctx.params.invitationId ?? '';
        if (!(await deps.store.listInvitations(org.id)).some((i) => i.id === id)) {
          throw new AppError('NOT_FOUND', 'no such invitation');
        }
        await deps.store.deleteInvitation(id);
        return undefined;
      },
    }),
    defineRoute({
      id: 'orgs.sessions.revoke',
      method: 'POST',
      url: `${base}/sessions/revoke`,
      summary:
        "Ends every member's sessions for this organisation (yours too). Members' other organisations are untouched; everyone is told.",
      tag: 'organisations',
      response: sessionsRevokedResponse,
      auth: 'session',
      action: 'org.sessions',
      target: 'orgId',
      handler: async (ctx) => ({
        sessions_revoked: await revokeOrgSessions(deps, actorOf(ctx)),
      }),
    }),
    defineRoute({
      id: 'orgs.members.sessions.revoke',
      method: 'POST',
      url: `${base}/members/:userId/sessions/revoke`,
      summary:
        "Ends one member's sessions for this organisation (ASVS 7.4.5), e.g. a lost laptop's; their other organisations are untouched. The person is told.",
      tag: 'organisations',
      response: sessionsRevokedResponse,
      auth: 'session',
      action: 'org.sessions',
      target: 'orgId',
      handler: async (ctx) => ({
        sessions_revoked: await endMemberSessions(deps, actorOf(ctx), ctx.params.userId ?? ''),
      }),
    }),
    defineRoute({
      id: 'orgs.members.reset',
      method: 'POST',
      url: `${base}/members/:userId/reset`,
      summary:
        'Account recovery (step-up) for a member who lost every factor and belongs to no other organisation (else 409 MEMBER_ACCOUNT_SHARED): removes their factors, ends their sessions, and makes a single-use setup link for that account only. The link is e-mailed to the person when SMTP is configured; otherwise it is in the answer, and the membership stays suspended until the server operator confirms the person.',
      tag: 'organisations',
      response: memberResetResponse,
      auth: 'session',
      action: 'members.write',
      target: 'orgId',
      success: { status: 201, description: 'how the new setup link reaches the person' },
      handler: async (ctx) => {
        const done = await resetMember(deps, actorOf(ctx), ctx.params.userId ?? '');
        const expires_at = new Date(done.expiresAtMs).toISOString();
        return done.delivery === 'email'
          ? {
              delivery: 'email' as const,
              expires_at,
              message: 'the new setup link was e-mailed to the person',
            }
          : {
              delivery: 'shown' as const,
              link: done.link,
              expires_at,
              membership_suspended: true as const,
              message:
                'no e-mail is configured: hand this link to the person yourself; their membership stays suspended until the server operator confirms them (sillage admin confirm --email …)',
            };
      },
    }),
    defineRoute({
      id: 'orgs.members.unlock',
      method: 'POST',
      url: `${base}/members/:userId/unlock`,
      summary:
        "Clears a member's failed sign-in count (step-up): the way back after 100 failures disabled sign-in. Only for a member who belongs to no other organisation (else 409 MEMBER_ACCOUNT_SHARED). The person is told.",
      tag: 'organisations',
      auth: 'session',
      action: 'members.write',
      target: 'orgId',
      success: { status: 204, description: 'Done (no content).' },
      handler: async (ctx) => {
        await unlockMember(deps, actorOf(ctx), ctx.params.userId ?? '');
        return undefined;
      },
    }),
    defineRoute({
      id: 'orgs.lockdown',
      method: 'POST',
      url: `${base}/lockdown`,
      summary:
        "Emergency lock-down (owners): every session loses its access to the organisation, every secret key of its projects is revoked and every invitation its members made withdrawn in one step; who did it is recorded and every member told. Members' other organisations are untouched. Ingest keeps working.",
      tag: 'organisations',
      response: lockdownResponse,
      auth: 'session',
      action: 'org.lockdown',
      target: 'orgId',
      handler: async (ctx) => {
        const { org } = accessOf(ctx);
        const user = ctx.user;
        if (!user) throw new AppError('AUTH_REQUIRED', 'sign in first');
        return lockDown(deps, org.id, { userId: user.user.id, label: user.user.email });
      },
    }),
    defineRoute({
      id: 'orgs.projects.list',
      method: 'GET',
      url: `${base}/projects`,
      summary: 'Projects of the organisation (with their public, write-only ingest tokens).',
      tag: 'organisations',
      response: projectsResponse,
      auth: 'session',
      action: 'org.read',
      target: 'orgId',
      handler: async (ctx) => {
        const out: ProjectResponse[] = [];
        for (const id of await deps.store.listOrgProjects(accessOf(ctx).org.id)) {
          const p = await projects.byId(id);
          if (p) out.push(projectView(p.project));
        }
        return { projects: out };
      },
    }),
    defineRoute({
      id: 'orgs.projects.create',
      method: 'POST',
      url: `${base}/projects`,
      summary:
        'Creates a project. Answers its public ingest token; secret keys are created separately (step-up).',
      tag: 'organisations',
      response: projectResponse,
      auth: 'session',
      action: 'project.create',
      target: 'orgId',
      body: z.strictObject({
        name: z.string().trim().min(1).max(200),
        timezone: z.string().max(64).refine(isTimeZone, 'not an IANA time zone').optional(),
      }),
      success: { status: 201, description: 'the project' },
      handler: async (ctx) => {
        const { org } = accessOf(ctx);
        const created = await projects.create(ctx.body.name, {
          ...(ctx.body.timezone ? { timezone: ctx.body.timezone } : {}),
        });
        await deps.store.setProjectOrg(created.project_id, org.id);
        // Only the CLI (which holds the disk) gets a secret with a new project: over the API,
        // key creation is its own step-up action.
        for (const key of await deps.store.listApiKeys(created.project_id)) {
          await deps.store.revokeApiKey(key.id, deps.now());
        }
        const p = await projects.byId(created.project_id);
        if (!p) throw new AppError('PROJECT_NOT_FOUND', 'the project was removed as it was made');
        return projectView(p.project);
      },
    }),
  ];
}

export function projectView(p: {
  id: string;
  name: string;
  token: string;
  timezone: string;
  createdAtMs: number;
}): ProjectResponse {
  return {
    id: p.id,
    name: p.name,
    token: p.token,
    timezone: p.timezone,
    created_at: new Date(p.createdAtMs).toISOString(),
  };
}
