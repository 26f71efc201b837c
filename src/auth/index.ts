// Public entry of accounts and access: organisations, people, factors, sessions, step-up,
// API keys, notices, and the one authorisation decision.
//
// The model (issue 9): an ACCOUNT is a person — one e-mail address, one password, their factors,
// recovery codes, sign-in lock and sessions — and is held by that person alone. A MEMBERSHIP is an
// organisation's GRANT to that account: a role, a session cut-off (sessions started before it no
// longer reach the organisation) and a suspension. One rule, enforced in grants.ts (every
// member-management action) and access.ts (every request):
//   1. An organisation's owners and admins act on their organisation's grant only: role, removal,
//      its sessions (the cut-off), lock-down (the cut-off for every member, plus its projects'
//      keys). Another organisation's grant to the same person is unreachable (not found).
//   2. Acts on the account itself (reset of factors, clearing the sign-in lock, ending every
//      session) are open to an organisation only when it is the person's sole organisation;
//      otherwise 409 MEMBER_ACCOUNT_SHARED, and only the instance operator may (`sillage admin
//      reset`, which needs the master key).
//   3. No link sets credentials on an existing account except that account's own setup link
//      (InvitationRecord.userId); an invitation to an existing address joins only when the
//      account opens it signed in with its own credentials.
//   4. A reset link an admin saw (no SMTP) leaves the grant suspended until the operator confirms
//      the person (`sillage admin confirm`); e-mailed to the person, it does not.
// A session is therefore an account's, not an organisation's: authorize() checks the session
// against the grant of the organisation it acts on, on every request.
export * from './access.js';
export * from './api-keys.js';
export * from './client.js';
export * from './context.js';
export * from './factors.js';
export * from './grants.js';
export * from './notifier.js';
export * from './organisations.js';
export * from './permissions.js';
export * from './sessions.js';
export * from './sign-in.js';
export * from './tokens.js';
export { checkPasswordPolicy, PasswordHasher, passwordPepper } from './passwords.js';
export {
  SourceThrottle,
  SOURCE_THROTTLE_DEFAULTS,
  sourceWait,
  sourceOverLimit,
} from './throttle.js';
export type { SourceLimiter, SourceFailure, SourceThrottleOptions } from './throttle.js';
export { totpCode, totpSealKey } from './totp.js';
export {
  createSmtpMailer,
  NoticeOutbox,
  smtpConfigFromEnv,
  type NoticeDetails,
  type NoticeKind,
  type OrgAccessChange,
  type SmtpConfig,
} from './notices.js';
export type { RelyingParty } from './webauthn.js';
