// What the account services share: the store, the clock, keys, the relying party, settings, and
// the principal (who is asking) that every authorised request carries.
import type { Logger } from '../shared/log.js';
import type {
  AccountStore,
  ApiKeyRecord,
  OrgPolicy,
  SessionRecord,
  UserRecord,
} from '../store/account-types.js';
import type { PasswordHasher } from './passwords.js';
import type { RelyingParty } from './webauthn.js';
import type { SourceLimiter } from './throttle.js';
import type { Notifier } from './notifier.js';

/** Settings of the account system (parsed once from the server config). */
export interface AuthSettings {
  /** Where the dashboard and API are reached, e.g. `https://analytics.example.com`. */
  publicUrl: string;
  /** Policy given to new organisations. */
  defaultOrgPolicy: OrgPolicy;
  /** Lifetime of invitation and setup links. */
  invitationTtlMs: number;
  /** Time between a correct password and the second factor. */
  loginChallengeTtlMs: number;
}

/** NIST SP 800-63B-4 AAL2 bounds and ASVS 5.0 V7 defaults (idle 30 min, absolute 12 h). */
export const SESSION_BOUNDS = {
  idleMinutes: { min: 5, max: 60, default: 30 },
  absoluteHours: { min: 1, max: 24, default: 12 },
} as const;

export const DEFAULT_ORG_POLICY: OrgPolicy = {
  requirePasskeys: 'none',
  allowTotpStepUp: false,
  sessionIdleMinutes: SESSION_BOUNDS.idleMinutes.default,
  sessionAbsoluteHours: SESSION_BOUNDS.absoluteHours.default,
};

export interface AuthDeps {
  store: AccountStore;
  hasher: PasswordHasher;
  /** Key that seals TOTP seeds at rest. */
  totpKey: Buffer;
  /** Key of the CSRF tokens (HMAC of the session id). */
  csrfKey: Buffer;
  rp: RelyingParty;
  notifier: Notifier;
  sources: SourceLimiter;
  settings: AuthSettings;
  logger: Logger;
  now: () => number;
}

/** Where a request comes from, reduced to what the account system may keep. */
export interface ClientInfo {
  /** 'Firefox 131 on macOS'; 'unknown device' when there is no user agent. */
  device: string;
  /** 'Lyon, FR', 'FR' or 'unknown place': never the address. */
  place: string;
  /** Keyed hash of the address (key derived from the master key), for per-source throttling. */
  sourceKey: string;
  /** The address itself, for CIDR allow-lists only: never stored, never logged. */
  ip: string | null;
  /** Hash of the device cookie (a random id the browser keeps), when it sent one. */
  deviceHash: string | null;
}

/** A signed-in person, through a session cookie. */
export interface UserPrincipal {
  kind: 'user';
  user: UserRecord;
  session: SessionRecord;
  /** Non-secret label for records: `user:<id>`. */
  actor: string;
}

/** A secret API key (machine access, bound to one project). */
export interface KeyPrincipal {
  kind: 'api-key';
  key: ApiKeyRecord;
  /** Non-secret label for records: `key:<id>`. */
  actor: string;
}

export type Principal = UserPrincipal | KeyPrincipal;
