// The accounts port: organisations, people, factors, sessions, API keys and notices as stored.
// Secrets never arrive here in the clear: tokens and keys are SHA-256 hashes, passwords argon2id
// PHC strings, TOTP seeds sealed under a key derived from the master key.
import type { JsonObject } from '../shared/json.js';

export type Role = 'owner' | 'admin' | 'analyst' | 'viewer';

/** Who must use a passkey (TOTP is a fallback only where the policy allows it). */
export type PasskeyRequirement = 'none' | 'admins' | 'everyone';

/** An organisation's security policy. */
export interface OrgPolicy {
  /** Who must sign in with a passkey: owners and admins, everyone, or nobody in particular. */
  requirePasskeys: PasskeyRequirement;
  /** Whether a fresh TOTP code counts as step-up (default false: only a passkey does). */
  allowTotpStepUp: boolean;
  /** Inactivity timeout of dashboard sessions, minutes (NIST AAL2: ≤ 60). */
  sessionIdleMinutes: number;
  /** Absolute lifetime of dashboard sessions, hours (NIST AAL2: ≤ 24). */
  sessionAbsoluteHours: number;
}

export interface OrgRecord {
  id: string;
  name: string;
  policy: OrgPolicy;
  createdAtMs: number;
  /** When an owner last locked the organisation down, and who (user id). */
  lockedDownAtMs: number | null;
  lockedDownBy: string | null;
}

export type UserStatus = 'pending' | 'active' | 'disabled';

export interface UserRecord {
  id: string;
  /** Normalised (trimmed, lower-cased) e-mail address: the sign-in name and notice address. */
  email: string;
  /** argon2id PHC string, or null until the account is set up. */
  passwordHash: string | null;
  /** 'pending' until a password and a second factor are set; only 'active' accounts sign in. */
  status: UserStatus;
  createdAtMs: number;
  /** Consecutive failed sign-in or second-factor attempts, and the lock that they caused. */
  failedAttempts: number;
  lockedUntilMs: number;
}

/** Why an organisation's grant is on hold. */
export type MembershipSuspension = 'unconfirmed_reset';

/**
 * An organisation's grant to a person: the only thing that organisation's owners and admins act
 * on (role, removal, which of the person's sessions reach it, suspension). See src/auth/index.ts.
 */
export interface MembershipRecord {
  orgId: string;
  userId: string;
  role: Role;
  createdAtMs: number;
  /**
   * Sessions started before this instant have no access to this organisation (the
   * organisation ended them: per member, organisation-wide, lock-down, role change). Null: none.
   * The sessions themselves live on for the person's other organisations and own account.
   */
  accessFromMs: number | null;
  /** Set while the grant is on hold (e.g. a reset whose link an admin saw); null when active. */
  suspended: MembershipSuspension | null;
}

interface FactorBase {
  id: string;
  userId: string;
  label: string;
  createdAtMs: number;
  lastUsedAtMs: number | null;
}

/** A WebAuthn credential (passkey or security key). */
export interface PasskeyFactor extends FactorBase {
  kind: 'passkey';
  /** base64url credential id (unique). */
  credentialId: string;
  publicKey: Uint8Array;
  counter: number;
  transports: string[];
  /** BE/BS flags: a synced passkey (AAL2) rather than a device-bound key (AAL3). */
  backedUp: boolean;
  /**
   * When the passkey starts to count: at once when enrolled at setup or from a session checked
   * with a passkey, a day later when enrolled after a code that a phishing page could relay.
   */
  trustedFromMs: number;
}

/** An authenticator-app secret (not phishing-resistant: a fallback only). */
export interface TotpFactor extends FactorBase {
  kind: 'totp';
  /** The seed, sealed with AES-256-GCM (AAD: the factor id). */
  sealedSecret: string;
  /** The last time step accepted: codes of that step or earlier are replays. */
  lastStep: number | null;
  /** False until the user proved the app works by entering a first code. */
  confirmed: boolean;
}

export type FactorRecord = PasskeyFactor | TotpFactor;

export interface RecoveryCodeRecord {
  userId: string;
  /** SHA-256 hex of the normalised code (codes carry ≥ 120 bits, so no slow hash is needed). */
  codeHash: string;
  usedAtMs: number | null;
}

export type AuthMethod = 'passkey' | 'totp' | 'recovery_code';

export interface SessionRecord {
  /** SHA-256 hex of the opaque cookie token; also the session's id in the API. */
  idHash: string;
  userId: string;
  createdAtMs: number;
  lastSeenAtMs: number;
  /** Absolute end of the session. */
  expiresAtMs: number;
  idleTimeoutMs: number;
  /** The second factor used at sign-in. */
  method: AuthMethod;
  /** Last step-up (fresh second-factor check) and its method. */
  stepUpAtMs: number | null;
  stepUpMethod: AuthMethod | null;
  /** Coarse description for the session list: 'Firefox 131 on macOS', 'Lyon, FR'. */
  device: string;
  place: string;
  revokedAtMs: number | null;
  revokedReason: string | null;
}

/**
 * A short-lived server-side challenge: a sign-in between password and second factor, a WebAuthn
 * challenge for registration, sign-in or step-up, or a setup/invitation acceptance in progress.
 */
export interface ChallengeRecord {
  /** SHA-256 hex of the token the client holds (or of the WebAuthn challenge). */
  idHash: string;
  purpose: 'login' | 'passkey_register' | 'passkey_login' | 'passkey_step_up' | 'setup';
  userId: string;
  /** Session it belongs to (step-up, registration from a signed-in session), if any. */
  sessionIdHash: string | null;
  /** Purpose-specific data, e.g. the WebAuthn challenge to expect. */
  data: JsonObject;
  expiresAtMs: number;
}

/**
 * A single-use link: an invitation to an organisation (to an e-mail address), the first owner's
 * setup link, or the setup link of one existing account after a reset (`userId` set).
 */
export interface InvitationRecord {
  id: string;
  /** The organisation joined; for an account's own setup link, the organisation that reset it
   * ('' when the instance operator reset an account that belongs to none). */
  orgId: string;
  /**
   * Set on an account's own setup link (a reset): only this link may set that account's password
   * and first factor. Null on invitations, which never set credentials on an existing account.
   */
  userId: string | null;
  email: string;
  role: Role;
  tokenHash: string;
  createdBy: string | null;
  createdAtMs: number;
  expiresAtMs: number;
  acceptedAtMs: number | null;
}

export type KeyScope = 'query' | 'export' | 'import' | 'admin';

export interface ApiKeyRecord {
  /** Public id shown in lists, e.g. 'key_3f9a…'. */
  id: string;
  /** The one project the key works on (its organisation is the project's). */
  projectId: string;
  name: string;
  /** SHA-256 hex of the whole secret (`sil_sk_…`). */
  secretHash: string;
  /** First characters of the secret, for recognising it in lists ('sil_sk_AbC'). */
  prefix: string;
  scopes: KeyScope[];
  /** CIDR allow-list; empty means any source. */
  allowedCidrs: string[];
  createdBy: string | null;
  createdAtMs: number;
  expiresAtMs: number | null;
  revokedAtMs: number | null;
  /** The key this one replaced in a rotation (the old one expires after the overlap). */
  rotatedFrom: string | null;
  lastUsedAtMs: number | null;
  /** Coarse place of the last use ('FR', 'Lyon, FR'); never the address. */
  lastUsedPlace: string | null;
  useCount: number;
}

/** A security notice to one account (also e-mailed when SMTP is configured). */
export interface NoticeRecord {
  id: string;
  userId: string;
  kind: string;
  details: JsonObject;
  createdAtMs: number;
  readAtMs: number | null;
}

/** A saved query (what viewers may run: no raw rows, no ad-hoc queries). */
export interface SavedViewRecord {
  id: string;
  projectId: string;
  name: string;
  query: JsonObject;
  createdBy: string;
  createdAtMs: number;
}

/** Port: accounts and access. Every method is one transaction. */
export interface AccountStore {
  // Organisations and members.
  createOrg(org: OrgRecord): Promise<void>;
  getOrg(id: string): Promise<OrgRecord | null>;
  listOrgs(): Promise<OrgRecord[]>;
  setOrgPolicy(id: string, policy: OrgPolicy): Promise<void>;
  markLockedDown(id: string, atMs: number, byUserId: string): Promise<void>;
  /** Projects belong to one organisation (null: created before any organisation existed). */
  setProjectOrg(projectId: string, orgId: string): Promise<void>;
  projectOrg(projectId: string): Promise<string | null>;
  listOrgProjects(orgId: string): Promise<string[]>;
  /** Projects that belong to no organisation (created by the CLI before the first owner). */
  listUnassignedProjects(): Promise<string[]>;

  createUser(user: UserRecord): Promise<void>;
  getUser(id: string): Promise<UserRecord | null>;
  findUserByEmail(email: string): Promise<UserRecord | null>;
  updateUser(
    id: string,
    patch: Partial<
      Pick<UserRecord, 'passwordHash' | 'status' | 'failedAttempts' | 'lockedUntilMs'>
    >,
  ): Promise<void>;

  /** Creates or replaces a membership (every field, including the cut-off and suspension). */
  putMembership(m: MembershipRecord): Promise<void>;
  /**
   * Ends the access of every session started before `atMs` to the organisation, for every
   * member (organisation-wide revocation, lock-down). Returns how many memberships it touched.
   */
  endOrgAccess(orgId: string, atMs: number): Promise<number>;
  removeMembership(orgId: string, userId: string): Promise<void>;
  listMemberships(userId: string): Promise<MembershipRecord[]>;
  listMembers(orgId: string): Promise<MembershipRecord[]>;

  // Factors and recovery codes.
  addFactor(factor: FactorRecord): Promise<void>;
  listFactors(userId: string): Promise<FactorRecord[]>;
  findPasskey(credentialId: string): Promise<PasskeyFactor | null>;
  updateFactorUse(
    id: string,
    patch: { lastUsedAtMs: number; counter?: number; lastStep?: number; confirmed?: boolean },
  ): Promise<void>;
  /**
   * Advances a TOTP factor's last step only if `step` is newer (compare-and-set): two requests
   * racing with one code cannot both succeed. Returns whether this call won.
   */
  claimTotpStep(id: string, step: number, atMs: number): Promise<boolean>;
  /**
   * Moves a passkey's signature counter from `seen` (what was verified against) to `next`, only if
   * it still is `seen` (compare-and-set): of two assertions racing with the same counter, as a
   * cloned authenticator would send, one wins. Returns whether this call won.
   */
  claimPasskeyCounter(id: string, seen: number, next: number, atMs: number): Promise<boolean>;
  removeFactor(id: string): Promise<void>;

  replaceRecoveryCodes(userId: string, hashes: string[], atMs: number): Promise<void>;
  /** Marks an unused code used; returns false when it does not exist or was used already. */
  useRecoveryCode(userId: string, codeHash: string, atMs: number): Promise<boolean>;
  countUnusedRecoveryCodes(userId: string): Promise<number>;

  // Sessions and challenges.
  createSession(session: SessionRecord): Promise<void>;
  getSession(idHash: string): Promise<SessionRecord | null>;
  touchSession(idHash: string, atMs: number): Promise<void>;
  markStepUp(idHash: string, atMs: number, method: AuthMethod): Promise<void>;
  listSessions(userId: string): Promise<SessionRecord[]>;
  /** Revokes matching live sessions; returns how many were revoked. */
  revokeSessions(
    filter: { idHash: string } | { userId: string },
    atMs: number,
    reason: string,
  ): Promise<number>;

  putChallenge(challenge: ChallengeRecord): Promise<void>;
  /** Reads and deletes a challenge (single use); null when absent or expired. */
  takeChallenge(
    idHash: string,
    purpose: ChallengeRecord['purpose'],
    nowMs: number,
  ): Promise<ChallengeRecord | null>;

  /** Devices (hashed device-cookie ids) a user signed in from before. */
  knownDevice(userId: string, deviceHash: string): Promise<boolean>;
  rememberDevice(userId: string, deviceHash: string, atMs: number): Promise<void>;

  // Invitations and setup links.
  createInvitation(invitation: InvitationRecord): Promise<void>;
  findInvitation(tokenHash: string): Promise<InvitationRecord | null>;
  markInvitationAccepted(id: string, atMs: number): Promise<boolean>;
  listInvitations(orgId: string): Promise<InvitationRecord[]>;
  /** Every link (used or not) made for this normalised e-mail address, oldest first. */
  listInvitationsForEmail(email: string): Promise<InvitationRecord[]>;
  deleteInvitation(id: string): Promise<void>;

  // API keys.
  createApiKey(key: ApiKeyRecord): Promise<void>;
  findApiKeyByHash(secretHash: string): Promise<ApiKeyRecord | null>;
  getApiKey(id: string): Promise<ApiKeyRecord | null>;
  listApiKeys(projectId: string): Promise<ApiKeyRecord[]>;
  revokeApiKey(id: string, atMs: number): Promise<void>;
  /** Revokes every live secret key of the organisation's projects (by project); returns how many. */
  revokeOrgApiKeys(orgId: string, atMs: number): Promise<number>;
  setApiKeyExpiry(id: string, expiresAtMs: number): Promise<void>;
  recordApiKeyUse(id: string, atMs: number, place: string | null): Promise<void>;

  // Notices and saved views.
  addNotice(notice: NoticeRecord): Promise<void>;
  listNotices(userId: string, limit: number): Promise<NoticeRecord[]>;
  markNoticesRead(userId: string, atMs: number): Promise<void>;

  createView(view: SavedViewRecord): Promise<void>;
  getView(id: string): Promise<SavedViewRecord | null>;
  listViews(projectId: string): Promise<SavedViewRecord[]>;
  deleteView(id: string): Promise<void>;
}
