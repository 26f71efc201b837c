// Public entry of accounts and access: organisations, people, factors, sessions, step-up,
// API keys, notices, and the one authorisation decision.
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
export { SourceThrottle } from './throttle.js';
export { totpCode, totpSealKey } from './totp.js';
export {
  createSmtpMailer,
  NoticeOutbox,
  smtpConfigFromEnv,
  type NoticeKind,
  type OrgAccessChange,
  type SmtpConfig,
} from './notices.js';
export type { RelyingParty } from './webauthn.js';
