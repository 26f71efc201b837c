// Who may do what: the role table for people, the scope table for API keys, and which actions
// need a fresh second-factor check. One table, read by the one authorisation function.
import type { KeyScope, Role } from '../store/account-types.js';

/** Every action a route can require. */
export type Action =
  | 'org.read'
  | 'org.policy'
  | 'org.lockdown'
  | 'org.sessions'
  | 'members.read'
  | 'members.write'
  | 'project.create'
  | 'project.read'
  | 'keys.read'
  | 'keys.write'
  | 'keys.revoke'
  | 'query'
  | 'views.read'
  | 'views.write'
  | 'cohorts.read'
  | 'cohorts.write'
  | 'export'
  | 'privacy.read'
  | 'privacy.write'
  | 'privacy.erase'
  | 'privacy.pseudonyms'
  | 'privacy.reveal'
  | 'audit.read'
  | 'audit.respond';

export const ROLES: readonly Role[] = ['owner', 'admin', 'analyst', 'viewer'];
export const KEY_SCOPES: readonly KeyScope[] = ['query', 'export', 'import', 'admin'];

const ALL_MEMBERS: readonly Role[] = ROLES;
const ANALYSTS: readonly Role[] = ['owner', 'admin', 'analyst'];
const ADMINS: readonly Role[] = ['owner', 'admin'];
const OWNERS: readonly Role[] = ['owner'];

/** The roles allowed each action. Viewers see saved views only: no ad-hoc query, no raw rows. */
export const ROLE_ACTIONS: Readonly<Record<Action, readonly Role[]>> = {
  'org.read': ALL_MEMBERS,
  'org.policy': OWNERS,
  'org.lockdown': OWNERS,
  'org.sessions': ADMINS,
  'members.read': ADMINS,
  'members.write': ADMINS,
  'project.create': ADMINS,
  'project.read': ALL_MEMBERS,
  'keys.read': ADMINS,
  'keys.write': ADMINS,
  'keys.revoke': ADMINS,
  query: ANALYSTS,
  'views.read': ALL_MEMBERS,
  'views.write': ANALYSTS,
  // Cohorts (issue 12): like saved views, every member reads them, analysts and up change them.
  'cohorts.read': ALL_MEMBERS,
  'cohorts.write': ANALYSTS,
  export: ADMINS,
  'privacy.read': ADMINS,
  // Loosening the policy and finding a person's pseudonym are owners' (issue 11).
  'privacy.write': OWNERS,
  'privacy.erase': ADMINS,
  'privacy.pseudonyms': OWNERS,
  'privacy.reveal': OWNERS,
  'audit.read': OWNERS,
  'audit.respond': OWNERS,
};

/**
 * What a secret key's scopes allow. Keys never manage keys, members or the organisation, never
 * change the privacy policy, never look up pseudonyms and never reveal identities: those need an
 * owner with a fresh passkey check (or the host's CLI). A key leaked from an app server can then
 * neither loosen the policy nor run a dictionary of guessed ids through the pseudonymiser.
 */
export const SCOPE_ACTIONS: Readonly<Record<KeyScope, readonly Action[]>> = {
  query: ['project.read', 'query', 'views.read', 'cohorts.read'],
  export: ['project.read', 'export'],
  import: [],
  admin: ['project.read', 'privacy.read', 'privacy.erase'],
};

/**
 * Actions that need a step-up (a fresh passkey check, or TOTP where the organisation allows it)
 * within STEP_UP_MAX_AGE_MS: raw-data export, identity reveal, key creation, member and policy
 * changes (the list), and two more: erasure (irreversible) and pseudonym look-up (it
 * finds one named person in the data). Disabling a factor needs one too (see the account routes).
 */
export const STEP_UP_ACTIONS: ReadonlySet<Action> = new Set<Action>([
  'org.policy',
  'members.write',
  'keys.write',
  'export',
  'privacy.write',
  'privacy.erase',
  'privacy.pseudonyms',
  'privacy.reveal',
  'audit.respond',
]);

/** How fresh a step-up must be. */
export const STEP_UP_MAX_AGE_MS = 5 * 60_000;

export function roleAllows(role: Role, action: Action): boolean {
  return ROLE_ACTIONS[action].includes(role);
}

export function scopesAllow(scopes: readonly KeyScope[], action: Action): boolean {
  return scopes.some((scope) => SCOPE_ACTIONS[scope].includes(action));
}

/** Owners outrank admins: an admin cannot create, change or remove an owner. */
export function canManageRole(actor: Role, target: Role): boolean {
  if (actor === 'owner') return true;
  return actor === 'admin' && target !== 'owner';
}
