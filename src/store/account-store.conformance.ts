// The AccountStore conformance suite: every adapter runs it against a real backend (see
// duckdb/account-store.test.ts). It pins the port's edge semantics: single-use challenges, codes
// and invitations, the TOTP compare-and-set, revocation counts and the bootstrap API key.
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  AccountStore,
  ApiKeyRecord,
  ChallengeRecord,
  InvitationRecord,
  MembershipRecord,
  NoticeRecord,
  OrgRecord,
  PasskeyFactor,
  SavedViewRecord,
  SessionRecord,
  TotpFactor,
  UserRecord,
} from './account-types.js';
import type { MetaStore, ProjectRecord } from './types.js';

/** What the suite needs from an adapter: the store, optionally its MetaStore (for projects). */
export interface AccountStoreHarness {
  store: AccountStore;
  /** The same backend's MetaStore; the tests that need projects are skipped without it. */
  meta?: MetaStore;
  close(): Promise<void>;
}

const T0 = 1_700_000_000_000;
const MINUTE = 60_000;

const hex = (bytes = 32): string => randomBytes(bytes).toString('hex');
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The API key row that creating a project writes for its bootstrap secret. */
export function bootstrapKeyOf(project: ProjectRecord): ApiKeyRecord {
  return {
    id: `key_${project.secretHash.slice(0, 16)}`,
    projectId: project.id,
    name: 'bootstrap secret',
    secretHash: project.secretHash,
    prefix: 'sil_sk_',
    scopes: ['query', 'import'],
    allowedCidrs: [],
    createdBy: null,
    createdAtMs: project.createdAtMs,
    expiresAtMs: null,
    revokedAtMs: null,
    rotatedFrom: null,
    lastUsedAtMs: null,
    lastUsedPlace: null,
    useCount: 0,
  };
}

/** A project record with a fresh secret hash. */
export function projectFixture(id: string, createdAtMs: number): ProjectRecord {
  return {
    id,
    name: `Project ${id}`,
    token: `tok_${hex(8)}`,
    secretHash: sha256(`sil_sk_${hex()}`),
    timezone: 'UTC',
    createdAtMs,
  };
}

const org = (id: string, createdAtMs = T0, extra: Partial<OrgRecord> = {}): OrgRecord => ({
  id,
  name: `Org ${id}`,
  policy: {
    requirePasskeys: 'admins',
    allowTotpStepUp: false,
    sessionIdleMinutes: 30,
    sessionAbsoluteHours: 12,
  },
  createdAtMs,
  lockedDownAtMs: null,
  lockedDownBy: null,
  ...extra,
});

const user = (id: string, extra: Partial<UserRecord> = {}): UserRecord => ({
  id,
  email: `${id}@example.com`,
  passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo',
  status: 'active',
  createdAtMs: T0,
  failedAttempts: 0,
  lockedUntilMs: 0,
  ...extra,
});

const passkey = (
  id: string,
  userId: string,
  extra: Partial<PasskeyFactor> = {},
): PasskeyFactor => ({
  id,
  userId,
  kind: 'passkey',
  label: 'YubiKey 5',
  createdAtMs: T0,
  lastUsedAtMs: null,
  credentialId: `cred-${id}`,
  // Every byte value, so that no encoding step can hide behind text-safe data.
  publicKey: Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + 3) % 256),
  counter: 0,
  transports: ['usb', 'nfc'],
  backedUp: false,
  trustedFromMs: T0 + 86_400_000,
  ...extra,
});

const totp = (id: string, userId: string, extra: Partial<TotpFactor> = {}): TotpFactor => ({
  id,
  userId,
  kind: 'totp',
  label: 'Authenticator',
  createdAtMs: T0,
  lastUsedAtMs: null,
  sealedSecret: `v1.${hex(12)}.${hex(20)}`,
  lastStep: null,
  confirmed: false,
  ...extra,
});

const session = (idHash: string, userId: string, extra: Partial<SessionRecord> = {}) =>
  ({
    idHash,
    userId,
    createdAtMs: T0,
    lastSeenAtMs: T0,
    expiresAtMs: T0 + 12 * 60 * MINUTE,
    idleTimeoutMs: 30 * MINUTE,
    method: 'passkey',
    stepUpAtMs: null,
    stepUpMethod: null,
    device: 'Firefox 131 on macOS',
    place: 'Lyon, FR',
    revokedAtMs: null,
    revokedReason: null,
    ...extra,
  }) satisfies SessionRecord;

const challenge = (idHash: string, extra: Partial<ChallengeRecord> = {}): ChallengeRecord => ({
  idHash,
  purpose: 'login',
  userId: 'usr_a',
  sessionIdHash: null,
  data: {},
  expiresAtMs: T0 + 5 * MINUTE,
  ...extra,
});

const invitation = (id: string, extra: Partial<InvitationRecord> = {}): InvitationRecord => ({
  id,
  orgId: 'org_a',
  email: `${id}@example.com`,
  role: 'analyst',
  tokenHash: sha256(id),
  createdBy: 'usr_owner',
  createdAtMs: T0,
  expiresAtMs: T0 + 7 * 24 * 60 * MINUTE,
  acceptedAtMs: null,
  userId: null,
  ...extra,
});

const apiKey = (
  id: string,
  projectId: string,
  extra: Partial<ApiKeyRecord> = {},
): ApiKeyRecord => ({
  id,
  projectId,
  name: `key ${id}`,
  secretHash: sha256(`sil_sk_${id}_${hex()}`),
  prefix: 'sil_sk_AbC',
  scopes: ['query', 'export'],
  allowedCidrs: ['10.0.0.0/8', '2001:db8::/32'],
  createdBy: 'usr_a',
  createdAtMs: T0,
  expiresAtMs: null,
  revokedAtMs: null,
  rotatedFrom: null,
  lastUsedAtMs: null,
  lastUsedPlace: null,
  useCount: 0,
  ...extra,
});

/** Runs the AccountStore conformance suite; `open` gives a fresh, empty backend each time. */
export function accountStoreConformance(open: () => Promise<AccountStoreHarness>): void {
  let h: AccountStoreHarness;
  let store: AccountStore;

  beforeEach(async () => {
    h = await open();
    store = h.store;
  });
  afterEach(async () => {
    await h.close();
  });

  describe('organisations and members', () => {
    it('round-trips organisations, lists them by creation time, updates policy and lock-down', async () => {
      await store.createOrg(org('org_b', T0 + 1000));
      await store.createOrg(org('org_a', T0));
      expect(await store.getOrg('org_a')).toEqual(org('org_a', T0));
      expect(await store.getOrg('org_missing')).toBeNull();
      expect((await store.listOrgs()).map((o) => o.id)).toEqual(['org_a', 'org_b']);

      const policy = {
        requirePasskeys: 'everyone',
        allowTotpStepUp: true,
        sessionIdleMinutes: 15,
        sessionAbsoluteHours: 8,
      } as const;
      await store.setOrgPolicy('org_a', policy);
      await store.markLockedDown('org_a', T0 + 5000, 'usr_owner');
      expect(await store.getOrg('org_a')).toEqual({
        ...org('org_a', T0),
        policy,
        lockedDownAtMs: T0 + 5000,
        lockedDownBy: 'usr_owner',
      });
      expect(await store.getOrg('org_b')).toEqual(org('org_b', T0 + 1000));
    });

    it('round-trips users, finds them by e-mail and applies partial updates', async () => {
      const pending = user('usr_a', { passwordHash: null, status: 'pending' });
      await store.createUser(pending);
      expect(await store.getUser('usr_a')).toEqual(pending);
      expect(await store.findUserByEmail('usr_a@example.com')).toEqual(pending);
      expect(await store.findUserByEmail('nobody@example.com')).toBeNull();
      expect(await store.getUser('usr_missing')).toBeNull();

      await store.updateUser('usr_a', { passwordHash: '$argon2id$new', status: 'active' });
      await store.updateUser('usr_a', { failedAttempts: 3, lockedUntilMs: T0 + MINUTE });
      await store.updateUser('usr_a', {});
      expect(await store.getUser('usr_a')).toEqual({
        ...pending,
        passwordHash: '$argon2id$new',
        status: 'active',
        failedAttempts: 3,
        lockedUntilMs: T0 + MINUTE,
      });
      await store.updateUser('usr_a', { passwordHash: null });
      expect((await store.getUser('usr_a'))?.passwordHash).toBeNull();
    });

    it('refuses a second user with the same e-mail as a conflict, without quoting it', async () => {
      await store.createUser(user('usr_a', { email: 'same@example.com' }));
      const error: unknown = await store
        .createUser(user('usr_b', { email: 'same@example.com' }))
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(error).toMatchObject({ code: 'CONFLICT' });
      expect(String((error as Error).message)).not.toContain('same@example.com');
      expect(await store.getUser('usr_b')).toBeNull();
      expect((await store.findUserByEmail('same@example.com'))?.id).toBe('usr_a');
    });

    it('puts, replaces, lists and removes memberships', async () => {
      const m = (orgId: string, userId: string, createdAtMs: number): MembershipRecord => ({
        orgId,
        userId,
        role: 'viewer',
        createdAtMs,
        accessFromMs: null,
        suspended: null,
      });
      await store.putMembership(m('org_b', 'usr_a', T0 + 2));
      await store.putMembership(m('org_a', 'usr_a', T0 + 1));
      await store.putMembership(m('org_a', 'usr_b', T0 + 3));
      await store.putMembership({ ...m('org_a', 'usr_a', T0 + 1), role: 'admin' });

      expect(await store.listMemberships('usr_a')).toEqual([
        { ...m('org_a', 'usr_a', T0 + 1), role: 'admin' },
        m('org_b', 'usr_a', T0 + 2),
      ]);
      expect(await store.listMembers('org_a')).toEqual([
        { ...m('org_a', 'usr_a', T0 + 1), role: 'admin' },
        m('org_a', 'usr_b', T0 + 3),
      ]);
      await store.removeMembership('org_a', 'usr_a');
      expect((await store.listMembers('org_a')).map((x) => x.userId)).toEqual(['usr_b']);
      expect((await store.listMemberships('usr_a')).map((x) => x.orgId)).toEqual(['org_b']);
      expect(await store.listMembers('org_missing')).toEqual([]);
    });

    it("keeps an organisation's grant: session cut-off and suspension, per organisation", async () => {
      const m = (orgId: string, userId: string): MembershipRecord => ({
        orgId,
        userId,
        role: 'viewer',
        createdAtMs: T0,
        accessFromMs: null,
        suspended: null,
      });
      await store.putMembership(m('org_a', 'usr_a'));
      await store.putMembership(m('org_a', 'usr_b'));
      await store.putMembership(m('org_b', 'usr_a'));
      await store.putMembership({ ...m('org_b', 'usr_b'), suspended: 'unconfirmed_reset' });
      expect(await store.endOrgAccess('org_a', T0 + 5)).toBe(2);
      expect(await store.endOrgAccess('org_none', T0 + 5)).toBe(0);
      expect(await store.listMembers('org_a')).toEqual([
        { ...m('org_a', 'usr_a'), accessFromMs: T0 + 5 },
        { ...m('org_a', 'usr_b'), accessFromMs: T0 + 5 },
      ]);
      // The other organisation's grants to the same people are untouched.
      expect(await store.listMembers('org_b')).toEqual([
        m('org_b', 'usr_a'),
        { ...m('org_b', 'usr_b'), suspended: 'unconfirmed_reset' },
      ]);
      await store.putMembership({ ...m('org_b', 'usr_b'), accessFromMs: T0 + 7 });
      expect((await store.listMemberships('usr_b')).find((x) => x.orgId === 'org_b')).toEqual({
        ...m('org_b', 'usr_b'),
        accessFromMs: T0 + 7,
      });
    });

    it('assigns projects to organisations and lists the unassigned ones', async (ctx) => {
      const meta = h.meta;
      if (!meta) return ctx.skip();
      const p1 = projectFixture('prj_1', T0 + 1);
      const p2 = projectFixture('prj_2', T0 + 2);
      const p3 = projectFixture('prj_3', T0 + 3);
      // Created out of order: lists follow creation time, not insertion order.
      for (const p of [p3, p1, p2]) await meta.createProject(p, [], bootstrapKeyOf(p));
      expect(await store.listUnassignedProjects()).toEqual(['prj_1', 'prj_2', 'prj_3']);

      await store.setProjectOrg('prj_3', 'org_a');
      await store.setProjectOrg('prj_1', 'org_a');
      await store.setProjectOrg('prj_2', 'org_b');
      expect(await store.projectOrg('prj_1')).toBe('org_a');
      expect(await store.projectOrg('prj_missing')).toBeNull();
      expect(await store.listOrgProjects('org_a')).toEqual(['prj_1', 'prj_3']);
      expect(await store.listUnassignedProjects()).toEqual([]);

      await store.setProjectOrg('prj_3', 'org_b');
      expect(await store.projectOrg('prj_3')).toBe('org_b');
      expect(await store.listOrgProjects('org_a')).toEqual(['prj_1']);
      expect(await store.listOrgProjects('org_b')).toEqual(['prj_2', 'prj_3']);
    });
  });

  describe('factors and recovery codes', () => {
    it('round-trips passkeys (public key byte for byte) and TOTP factors', async () => {
      const pk = passkey('fac_pk', 'usr_a', { createdAtMs: T0 + 2, backedUp: true });
      const bare = passkey('fac_bare', 'usr_a', {
        createdAtMs: T0 + 3,
        transports: [],
        publicKey: new Uint8Array(0),
        lastUsedAtMs: T0 + 9,
        counter: 4_294_967_295,
      });
      const tp = totp('fac_totp', 'usr_a', { createdAtMs: T0 + 1 });
      const other = totp('fac_other', 'usr_b', { lastStep: 123, confirmed: true });
      for (const f of [pk, bare, tp, other]) await store.addFactor(f);

      const listed = await store.listFactors('usr_a');
      expect(listed).toEqual([tp, pk, bare]);
      const storedKey = (listed[1] as PasskeyFactor).publicKey;
      expect(storedKey).toBeInstanceOf(Uint8Array);
      expect(Array.from(storedKey)).toEqual(Array.from(pk.publicKey));
      expect(await store.listFactors('usr_b')).toEqual([other]);
      expect(await store.listFactors('usr_none')).toEqual([]);

      expect(await store.findPasskey('cred-fac_pk')).toEqual(pk);
      expect(await store.findPasskey('cred-missing')).toBeNull();
    });

    it('refuses a duplicate credential id but allows many TOTP factors', async () => {
      await store.addFactor(passkey('fac_1', 'usr_a', { credentialId: 'same' }));
      await expect(
        store.addFactor(passkey('fac_2', 'usr_b', { credentialId: 'same' })),
      ).rejects.toMatchObject({ code: 'CONFLICT' });
      await store.addFactor(totp('fac_3', 'usr_a'));
      await store.addFactor(totp('fac_4', 'usr_a'));
      expect((await store.listFactors('usr_a')).map((f) => f.id).sort()).toEqual([
        'fac_1',
        'fac_3',
        'fac_4',
      ]);
      expect((await store.findPasskey('same'))?.userId).toBe('usr_a');
    });

    it('updates factor use and removes factors', async () => {
      const pk = passkey('fac_pk', 'usr_a');
      const tp = totp('fac_totp', 'usr_a', { createdAtMs: T0 + 1 });
      await store.addFactor(pk);
      await store.addFactor(tp);
      await store.updateFactorUse('fac_pk', { lastUsedAtMs: T0 + 10, counter: 7 });
      await store.updateFactorUse('fac_totp', {
        lastUsedAtMs: T0 + 20,
        lastStep: 56_666_666,
        confirmed: true,
      });
      expect(await store.listFactors('usr_a')).toEqual([
        { ...pk, lastUsedAtMs: T0 + 10, counter: 7 },
        { ...tp, lastUsedAtMs: T0 + 20, lastStep: 56_666_666, confirmed: true },
      ]);
      await store.updateFactorUse('fac_pk', { lastUsedAtMs: T0 + 30 });
      expect(await store.findPasskey(pk.credentialId)).toEqual({
        ...pk,
        lastUsedAtMs: T0 + 30,
        counter: 7,
      });

      await store.removeFactor('fac_pk');
      expect(await store.findPasskey(pk.credentialId)).toBeNull();
      expect((await store.listFactors('usr_a')).map((f) => f.id)).toEqual(['fac_totp']);
    });

    it('claims a TOTP step only when it is newer than the last one', async () => {
      await store.addFactor(totp('fac_totp', 'usr_a'));
      await store.addFactor(passkey('fac_pk', 'usr_a'));
      expect(await store.claimTotpStep('fac_totp', 100, T0 + 1)).toBe(true);
      expect(await store.claimTotpStep('fac_totp', 100, T0 + 2)).toBe(false);
      expect(await store.claimTotpStep('fac_totp', 99, T0 + 3)).toBe(false);
      expect(await store.claimTotpStep('fac_totp', 101, T0 + 4)).toBe(true);
      expect(await store.claimTotpStep('fac_missing', 500, T0 + 5)).toBe(false);
      expect(await store.claimTotpStep('fac_pk', 500, T0 + 5)).toBe(false);
      const [factor] = await store
        .listFactors('usr_a')
        .then((fs) => fs.filter((f) => f.id === 'fac_totp'));
      expect(factor).toMatchObject({ lastStep: 101, lastUsedAtMs: T0 + 4 });
    });

    it('moves a passkey counter only from the value it was verified against', async () => {
      await store.addFactor(passkey('fac_pk', 'usr_a', { counter: 5 }));
      await store.addFactor(totp('fac_totp', 'usr_a'));
      const racing = await Promise.all([
        store.claimPasskeyCounter('fac_pk', 5, 6, T0 + 1),
        store.claimPasskeyCounter('fac_pk', 5, 6, T0 + 2),
      ]);
      expect(racing.filter(Boolean)).toHaveLength(1);
      expect(await store.claimPasskeyCounter('fac_pk', 5, 7, T0 + 3)).toBe(false);
      expect(await store.claimPasskeyCounter('fac_pk', 6, 7, T0 + 4)).toBe(true);
      expect(await store.claimPasskeyCounter('fac_totp', 0, 1, T0 + 5)).toBe(false);
      expect(await store.findPasskey('cred-fac_pk')).toMatchObject({
        counter: 7,
        lastUsedAtMs: T0 + 4,
      });
    });

    it('lets exactly one of several concurrent claims of one step win', async () => {
      await store.addFactor(totp('fac_totp', 'usr_a', { lastStep: 10 }));
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.claimTotpStep('fac_totp', 11, T0 + i)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store.claimTotpStep('fac_totp', 11, T0 + 100)).toBe(false);
    });

    it('uses each recovery code once and replaces the whole set', async () => {
      const codes = ['a', 'b', 'c'].map(sha256);
      await store.replaceRecoveryCodes('usr_a', codes, T0);
      await store.replaceRecoveryCodes('usr_b', [sha256('b')], T0);
      expect(await store.countUnusedRecoveryCodes('usr_a')).toBe(3);

      expect(await store.useRecoveryCode('usr_a', codes[1]!, T0 + 1)).toBe(true);
      expect(await store.useRecoveryCode('usr_a', codes[1]!, T0 + 2)).toBe(false);
      expect(await store.useRecoveryCode('usr_a', sha256('nope'), T0 + 3)).toBe(false);
      expect(await store.useRecoveryCode('usr_c', codes[0]!, T0 + 3)).toBe(false);
      expect(await store.countUnusedRecoveryCodes('usr_a')).toBe(2);
      // Another account's identical code is its own.
      expect(await store.countUnusedRecoveryCodes('usr_b')).toBe(1);

      const racing = await Promise.all([
        store.useRecoveryCode('usr_a', codes[2]!, T0 + 4),
        store.useRecoveryCode('usr_a', codes[2]!, T0 + 4),
      ]);
      expect(racing.filter(Boolean)).toHaveLength(1);

      await store.replaceRecoveryCodes('usr_a', ['d', 'e'].map(sha256), T0 + 10);
      expect(await store.countUnusedRecoveryCodes('usr_a')).toBe(2);
      expect(await store.useRecoveryCode('usr_a', codes[0]!, T0 + 11)).toBe(false);
      expect(await store.useRecoveryCode('usr_a', sha256('d'), T0 + 11)).toBe(true);
      await store.replaceRecoveryCodes('usr_a', [], T0 + 12);
      expect(await store.countUnusedRecoveryCodes('usr_a')).toBe(0);
      expect(await store.countUnusedRecoveryCodes('usr_none')).toBe(0);
    });
  });

  describe('sessions, challenges and devices', () => {
    it('round-trips sessions, touches them, records step-ups and lists them', async () => {
      const s1 = session('s1', 'usr_a', { createdAtMs: T0 + 5 });
      const s2 = session('s2', 'usr_a', {
        method: 'recovery_code',
        stepUpAtMs: T0 + 2,
        stepUpMethod: 'totp',
        revokedAtMs: T0 + 3,
        revokedReason: 'signed out',
        place: '',
      });
      await store.createSession(s1);
      await store.createSession(s2);
      await store.createSession(session('s3', 'usr_b'));
      expect(await store.getSession('s1')).toEqual(s1);
      expect(await store.getSession('s2')).toEqual(s2);
      expect(await store.getSession('s_missing')).toBeNull();
      expect(await store.listSessions('usr_a')).toEqual([s2, s1]);

      await store.touchSession('s1', T0 + 60_000);
      await store.markStepUp('s1', T0 + 61_000, 'passkey');
      expect(await store.getSession('s1')).toEqual({
        ...s1,
        lastSeenAtMs: T0 + 60_000,
        stepUpAtMs: T0 + 61_000,
        stepUpMethod: 'passkey',
      });
    });

    it('revokes sessions by id and by user, counting only live ones', async () => {
      await store.createSession(session('a1', 'usr_a'));
      await store.createSession(session('a2', 'usr_a'));
      await store.createSession(session('b1', 'usr_b'));
      await store.createSession(session('b2', 'usr_b'));
      await store.createSession(session('c1', 'usr_c'));

      expect(await store.revokeSessions({ idHash: 'a1' }, T0 + 1, 'signed out')).toBe(1);
      expect(await store.revokeSessions({ idHash: 'a1' }, T0 + 2, 'again')).toBe(0);
      expect(await store.revokeSessions({ idHash: 'missing' }, T0 + 2, 'x')).toBe(0);
      expect(await store.getSession('a1')).toMatchObject({
        revokedAtMs: T0 + 1,
        revokedReason: 'signed out',
      });

      expect(await store.revokeSessions({ userId: 'usr_b' }, T0 + 3, 'password changed')).toBe(2);
      expect(await store.revokeSessions({ userId: 'usr_b' }, T0 + 4, 'again')).toBe(0);

      expect(await store.getSession('b1')).toMatchObject({
        revokedAtMs: T0 + 3,
        revokedReason: 'password changed',
      });
      expect(await store.getSession('c1')).toMatchObject({
        revokedAtMs: null,
        revokedReason: null,
      });
    });

    it('takes a challenge once, only for its purpose and before it expires', async () => {
      const c = challenge('ch1', {
        purpose: 'passkey_step_up',
        sessionIdHash: 's1',
        data: { challenge: 'q83vEjRWeJA', nested: { list: [1, 'two', null, true], empty: {} } },
      });
      await store.putChallenge(c);
      expect(await store.takeChallenge('ch1', 'passkey_login', T0)).toBeNull();
      expect(await store.takeChallenge('ch1', 'passkey_step_up', T0)).toEqual(c);
      expect(await store.takeChallenge('ch1', 'passkey_step_up', T0)).toBeNull();
      expect(await store.takeChallenge('ch_missing', 'login', T0)).toBeNull();

      await store.putChallenge(challenge('ch2', { expiresAtMs: T0 + 1000 }));
      expect(await store.takeChallenge('ch2', 'login', T0 + 1000)).toBeNull();
    });

    it('deletes expired challenges while taking others', async () => {
      await store.putChallenge(challenge('old', { expiresAtMs: T0 + 1000 }));
      await store.putChallenge(challenge('new', { expiresAtMs: T0 + 10_000 }));
      expect(await store.takeChallenge('new', 'login', T0 + 2000)).not.toBeNull();
      // Taken "in the past", `old` would still be valid, had it not been swept.
      expect(await store.takeChallenge('old', 'login', T0)).toBeNull();
    });

    it('gives a challenge to exactly one of several concurrent takers', async () => {
      await store.putChallenge(challenge('ch', { purpose: 'setup' }));
      const taken = await Promise.all(
        Array.from({ length: 5 }, () => store.takeChallenge('ch', 'setup', T0)),
      );
      expect(taken.filter((t) => t !== null)).toHaveLength(1);
    });

    it('remembers devices per user', async () => {
      expect(await store.knownDevice('usr_a', 'dev1')).toBe(false);
      await store.rememberDevice('usr_a', 'dev1', T0);
      await store.rememberDevice('usr_a', 'dev1', T0 + 1);
      expect(await store.knownDevice('usr_a', 'dev1')).toBe(true);
      expect(await store.knownDevice('usr_b', 'dev1')).toBe(false);
      expect(await store.knownDevice('usr_a', 'dev2')).toBe(false);
    });
  });

  describe('invitations', () => {
    it('round-trips invitations, accepts each once, lists and deletes them', async () => {
      const i1 = invitation('inv_1', { createdAtMs: T0 + 2 });
      const i2 = invitation('inv_2', { createdAtMs: T0 + 1, createdBy: null, role: 'owner' });
      await store.createInvitation(i1);
      await store.createInvitation(i2);
      await store.createInvitation(invitation('inv_3', { orgId: 'org_b' }));
      expect(await store.findInvitation(i1.tokenHash)).toEqual(i1);
      expect(await store.findInvitation(sha256('missing'))).toBeNull();
      expect(await store.listInvitations('org_a')).toEqual([i2, i1]);

      expect(await store.markInvitationAccepted('inv_1', T0 + 10)).toBe(true);
      expect(await store.markInvitationAccepted('inv_1', T0 + 11)).toBe(false);
      expect(await store.markInvitationAccepted('inv_missing', T0 + 11)).toBe(false);
      expect(await store.findInvitation(i1.tokenHash)).toEqual({ ...i1, acceptedAtMs: T0 + 10 });

      const racing = await Promise.all([
        store.markInvitationAccepted('inv_2', T0 + 12),
        store.markInvitationAccepted('inv_2', T0 + 12),
      ]);
      expect(racing.filter(Boolean)).toHaveLength(1);

      await store.deleteInvitation('inv_1');
      expect(await store.findInvitation(i1.tokenHash)).toBeNull();
      expect((await store.listInvitations('org_a')).map((i) => i.id)).toEqual(['inv_2']);
      await store.createInvitation(
        invitation('inv_4', {
          email: 'inv_2@example.com',
          userId: 'usr_a',
          orgId: '',
          createdAtMs: T0 + 5,
        }),
      );
      expect(await store.listInvitationsForEmail('inv_2@example.com')).toEqual([
        { ...i2, acceptedAtMs: T0 + 12 },
        invitation('inv_4', {
          email: 'inv_2@example.com',
          userId: 'usr_a',
          orgId: '',
          createdAtMs: T0 + 5,
        }),
      ]);
      expect(await store.listInvitationsForEmail('nobody@example.com')).toEqual([]);
    });
  });

  describe('API keys', () => {
    it('round-trips keys, lists, list fields included, and refuses a duplicate secret', async () => {
      const k1 = apiKey('key_1', 'prj_1', { createdAtMs: T0 + 2, rotatedFrom: 'key_0' });
      const k2 = apiKey('key_2', 'prj_1', {
        createdAtMs: T0 + 1,
        scopes: [],
        allowedCidrs: [],
        createdBy: null,
        expiresAtMs: T0 + MINUTE,
        lastUsedAtMs: T0 + 5,
        lastUsedPlace: 'FR',
        useCount: 12,
      });
      await store.createApiKey(k1);
      await store.createApiKey(k2);
      await store.createApiKey(apiKey('key_3', 'prj_2'));
      expect(await store.getApiKey('key_1')).toEqual(k1);
      expect(await store.findApiKeyByHash(k2.secretHash)).toEqual(k2);
      expect(await store.findApiKeyByHash(sha256('missing'))).toBeNull();
      expect(await store.getApiKey('key_missing')).toBeNull();
      expect(await store.listApiKeys('prj_1')).toEqual([k2, k1]);
      expect(await store.listApiKeys('prj_none')).toEqual([]);

      await expect(
        store.createApiKey(apiKey('key_4', 'prj_1', { secretHash: k1.secretHash })),
      ).rejects.toMatchObject({ code: 'CONFLICT' });
    });

    it('revokes, expires and records use; revoked and expired keys are still found', async () => {
      const k = apiKey('key_1', 'prj_1');
      await store.createApiKey(k);
      await store.recordApiKeyUse('key_1', T0 + 10, 'Lyon, FR');
      await store.recordApiKeyUse('key_1', T0 + 20, null);
      await store.recordApiKeyUse('key_1', T0 + 30, 'FR');
      expect(await store.getApiKey('key_1')).toEqual({
        ...k,
        lastUsedAtMs: T0 + 30,
        lastUsedPlace: 'FR',
        useCount: 3,
      });

      await store.setApiKeyExpiry('key_1', T0 + 40);
      await store.revokeApiKey('key_1', T0 + 50);
      await store.revokeApiKey('key_1', T0 + 60);
      expect(await store.findApiKeyByHash(k.secretHash)).toMatchObject({
        id: 'key_1',
        expiresAtMs: T0 + 40,
        revokedAtMs: T0 + 50,
      });
    });

    it("revokes every live key of an organisation's projects, and only those", async (ctx) => {
      const meta = h.meta;
      if (!meta) return ctx.skip();
      const projects = ['prj_a1', 'prj_a2', 'prj_b', 'prj_free'].map((id, i) =>
        projectFixture(id, T0 + i),
      );
      for (const p of projects) await meta.createProject(p, [], bootstrapKeyOf(p));
      await store.setProjectOrg('prj_a1', 'org_a');
      await store.setProjectOrg('prj_a2', 'org_a');
      await store.setProjectOrg('prj_b', 'org_b');
      await store.createApiKey(apiKey('key_a1', 'prj_a1'));
      await store.createApiKey(apiKey('key_a1_old', 'prj_a1', { revokedAtMs: T0 + 5 }));
      await store.createApiKey(apiKey('key_a2', 'prj_a2', { expiresAtMs: T0 + MINUTE }));
      await store.createApiKey(apiKey('key_b', 'prj_b'));

      // Two bootstrap keys, key_a1 and key_a2; key_a1_old was revoked already.
      expect(await store.revokeOrgApiKeys('org_a', T0 + 100)).toBe(4);
      expect(await store.revokeOrgApiKeys('org_a', T0 + 200)).toBe(0);
      for (const p of projects) {
        for (const k of await store.listApiKeys(p.id)) {
          const expected =
            k.id === 'key_a1_old' ? T0 + 5 : p.id.startsWith('prj_a') ? T0 + 100 : null;
          expect({ id: k.id, revokedAtMs: k.revokedAtMs }).toEqual({
            id: k.id,
            revokedAtMs: expected,
          });
        }
      }
      expect(await store.revokeOrgApiKeys('org_none', T0 + 300)).toBe(0);
    });

    it("stores a new project's bootstrap secret as an API key", async (ctx) => {
      const meta = h.meta;
      if (!meta) return ctx.skip();
      const p = projectFixture('prj_new', T0 + 7);
      await meta.createProject(p, [], bootstrapKeyOf(p));
      expect(await store.findApiKeyByHash(p.secretHash)).toEqual(bootstrapKeyOf(p));
      expect(await store.listApiKeys('prj_new')).toEqual([bootstrapKeyOf(p)]);
      expect(await store.listUnassignedProjects()).toEqual(['prj_new']);
    });
  });

  describe('notices and saved views', () => {
    it('lists the most recent notices first, up to the limit, and marks them read', async () => {
      const n = (id: string, createdAtMs: number, extra: Partial<NoticeRecord> = {}) =>
        ({
          id,
          userId: 'usr_a',
          kind: 'new_sign_in',
          details: { device: 'Firefox', place: 'Lyon, FR', flags: [] },
          createdAtMs,
          readAtMs: null,
          ...extra,
        }) satisfies NoticeRecord;
      const read = n('n1', T0 + 1, { readAtMs: T0 + 2, details: {} });
      await store.addNotice(read);
      await store.addNotice(n('n3', T0 + 3));
      await store.addNotice(n('n2', T0 + 2, { kind: 'api_key_created' }));
      await store.addNotice(n('n_other', T0 + 4, { userId: 'usr_b' }));

      expect(await store.listNotices('usr_a', 10)).toEqual([
        n('n3', T0 + 3),
        n('n2', T0 + 2, { kind: 'api_key_created' }),
        read,
      ]);
      expect((await store.listNotices('usr_a', 2)).map((x) => x.id)).toEqual(['n3', 'n2']);

      await store.markNoticesRead('usr_a', T0 + 10);
      expect((await store.listNotices('usr_a', 10)).map((x) => [x.id, x.readAtMs])).toEqual([
        ['n3', T0 + 10],
        ['n2', T0 + 10],
        ['n1', T0 + 2],
      ]);
      expect((await store.listNotices('usr_b', 10))[0]?.readAtMs).toBeNull();
    });

    it('round-trips saved views, lists and deletes them', async () => {
      const v = (id: string, createdAtMs: number): SavedViewRecord => ({
        id,
        projectId: 'prj_1',
        name: `View ${id}`,
        query: {
          kind: 'insights',
          events: ['Signed up', 'Purchased'],
          breakdown: null,
          filters: [{ property: 'plan', op: 'eq', value: 'pro' }],
          range: { lastDays: 30 },
          options: {},
        },
        createdBy: 'usr_a',
        createdAtMs,
      });
      await store.createView(v('view_2', T0 + 2));
      await store.createView(v('view_1', T0 + 1));
      await store.createView({ ...v('view_3', T0), projectId: 'prj_2' });
      expect(await store.getView('view_1')).toEqual(v('view_1', T0 + 1));
      expect(await store.getView('view_missing')).toBeNull();
      expect(await store.listViews('prj_1')).toEqual([v('view_1', T0 + 1), v('view_2', T0 + 2)]);
      await store.deleteView('view_1');
      expect(await store.getView('view_1')).toBeNull();
      expect((await store.listViews('prj_1')).map((x) => x.id)).toEqual(['view_2']);
    });
  });
}
