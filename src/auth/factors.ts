// Second factors: checking a proof (passkey assertion, TOTP code, recovery code), enrolling and
// removing factors, and recovery codes. Passkeys are phishing-resistant; TOTP and recovery codes
// are not, and the policy decides where they count.
import { z } from 'zod';
import { AppError } from '../shared/errors.js';
import type {
  AuthMethod,
  FactorRecord,
  PasskeyFactor,
  TotpFactor,
  UserRecord,
} from '../store/account-types.js';
import type { AuthDeps } from './context.js';
import { generateRecoveryCodes, hashRecoveryCode } from './recovery-codes.js';
import { newTotpSecret, openTotpSecret, sealTotpSecret, totpUri, verifyTotp } from './totp.js';
import { newId } from './tokens.js';
import type { StoredCredential } from './webauthn.js';

/**
 * The passkey module, loaded at the first passkey operation rather than at start-up: through
 * @simplewebauthn/server it loads X.509 and ASN.1 parsers, ~0.3 s of CPU at every start of the
 * server and of every CLI command (most of which never see a passkey).
 */
const webauthn = () => import('./webauthn.js');

/**
 * A passkey enrolled from a session that was not itself opened with a passkey (say, password plus
 * an authenticator-app code, which a phishing page can relay) counts only after this delay. The
 * account gets a notice at once and can remove it: a relayed TOTP code alone never buys a factor
 * that unlocks export or key creation.
 */
export const UNTRUSTED_PASSKEY_DELAY_MS = 24 * 3_600_000;

/** What the client sends to prove a second factor. */
export const secondFactorSchema = z.discriminatedUnion('method', [
  z.object({ method: z.literal('passkey'), response: z.unknown() }),
  z.object({ method: z.literal('totp'), code: z.string().min(1).max(20) }),
  z.object({ method: z.literal('recovery_code'), code: z.string().min(1).max(64) }),
]);
export type SecondFactorProof = z.infer<typeof secondFactorSchema>;

export const isPasskey = (f: FactorRecord): f is PasskeyFactor => f.kind === 'passkey';
export const isConfirmedTotp = (f: FactorRecord): f is TotpFactor =>
  f.kind === 'totp' && f.confirmed;

/** A passkey that may be used now (see UNTRUSTED_PASSKEY_DELAY_MS). */
export const passkeyTrusted = (f: PasskeyFactor, nowMs: number): boolean =>
  f.trustedFromMs <= nowMs;

export const storedCredential = (f: PasskeyFactor): StoredCredential => ({
  credentialId: f.credentialId,
  publicKey: f.publicKey,
  counter: f.counter,
  transports: f.transports,
});

/** The methods a person can use now, given their factors. */
export async function availableMethods(deps: AuthDeps, user: UserRecord): Promise<AuthMethod[]> {
  const factors = await deps.store.listFactors(user.id);
  const now = deps.now();
  const methods: AuthMethod[] = [];
  if (factors.some((f) => isPasskey(f) && passkeyTrusted(f, now))) methods.push('passkey');
  if (factors.some(isConfirmedTotp)) methods.push('totp');
  if ((await deps.store.countUnusedRecoveryCodes(user.id)) > 0) methods.push('recovery_code');
  return methods;
}

/** WebAuthn request options over the person's usable passkeys, or null when they have none. */
export async function passkeyRequest(
  deps: AuthDeps,
  user: UserRecord,
): Promise<{ options: unknown; challenge: string } | null> {
  const now = deps.now();
  const passkeys = (await deps.store.listFactors(user.id))
    .filter(isPasskey)
    .filter((f) => passkeyTrusted(f, now));
  if (passkeys.length === 0) return null;
  return (await webauthn()).authenticationOptions(deps.rp, passkeys.map(storedCredential));
}

/**
 * Checks a second-factor proof for `user`. `webauthnChallenge` is the challenge issued for this
 * attempt (passkeys only). Throws the precise AppError of the method on failure; a TOTP code is
 * accepted once (compare-and-set on its time step) and a recovery code is spent.
 */
export async function verifySecondFactor(
  deps: AuthDeps,
  user: UserRecord,
  proof: SecondFactorProof,
  webauthnChallenge: string | null,
): Promise<AuthMethod> {
  const now = deps.now();
  switch (proof.method) {
    case 'passkey': {
      if (!webauthnChallenge) {
        throw new AppError('AUTH_WEBAUTHN_INVALID', 'no passkey challenge was issued; start again');
      }
      const { credentialIdOf, verifyAuthentication } = await webauthn();
      const credentialId = credentialIdOf(proof.response);
      const factor = credentialId ? await deps.store.findPasskey(credentialId) : null;
      if (!factor || factor.userId !== user.id || !passkeyTrusted(factor, now)) {
        throw new AppError(
          'AUTH_WEBAUTHN_INVALID',
          'this passkey is not registered to the account',
        );
      }
      const result = await verifyAuthentication(
        deps.rp,
        proof.response,
        webauthnChallenge,
        storedCredential(factor),
      );
      const claimed = await deps.store.claimPasskeyCounter(
        factor.id,
        factor.counter,
        result.newCounter,
        now,
      );
      if (!claimed) {
        throw new AppError(
          'AUTH_WEBAUTHN_INVALID',
          'this passkey was used at the same moment; retry',
        );
      }
      return 'passkey';
    }
    case 'totp': {
      const factors = (await deps.store.listFactors(user.id)).filter(isConfirmedTotp);
      let replayed = false;
      for (const factor of factors) {
        const secret = openTotpSecret(deps.totpKey, factor.id, factor.sealedSecret);
        const verdict = await verifyTotp(secret, proof.code, factor.lastStep, now);
        if (verdict.ok) {
          // Two requests racing with one code: only one may win (NIST: accept an OTP once).
          if (await deps.store.claimTotpStep(factor.id, verdict.step, now)) return 'totp';
          replayed = true;
        } else if (verdict.reason === 'replayed') {
          replayed = true;
        }
      }
      throw new AppError(
        'AUTH_TOTP_INVALID',
        replayed ? 'this code was already used; wait for the next one' : 'invalid code',
      );
    }
    case 'recovery_code': {
      const hash = hashRecoveryCode(proof.code);
      if (hash === null || !(await deps.store.useRecoveryCode(user.id, hash, now))) {
        throw new AppError('AUTH_LOGIN_FAILED', 'invalid or used recovery code');
      }
      const left = await deps.store.countUnusedRecoveryCodes(user.id);
      await deps.notifier.notify(user, 'recovery_code_used', {
        factorKind: 'recovery_codes',
        factorLabel: `${left} recovery codes left`,
      });
      return 'recovery_code';
    }
  }
}

/** Starts a passkey registration: the options for `navigator.credentials.create`. */
export async function passkeyRegistration(
  deps: AuthDeps,
  user: UserRecord,
): Promise<{ options: unknown; challenge: string }> {
  const existing = (await deps.store.listFactors(user.id)).filter(isPasskey);
  return (await webauthn()).registrationOptions(
    deps.rp,
    { id: user.id, name: user.email },
    existing.map(storedCredential),
  );
}

/** Verifies a registration response and stores the passkey. */
export async function addPasskey(
  deps: AuthDeps,
  user: UserRecord,
  response: unknown,
  challenge: string,
  label: string,
  trusted: boolean,
): Promise<PasskeyFactor> {
  const verified = await (await webauthn()).verifyRegistration(deps.rp, response, challenge);
  if (await deps.store.findPasskey(verified.credential.credentialId)) {
    throw new AppError('CONFLICT', 'this passkey is already registered');
  }
  const now = deps.now();
  const factor: PasskeyFactor = {
    kind: 'passkey',
    id: newId('fac'),
    userId: user.id,
    label: label || 'Passkey',
    createdAtMs: now,
    lastUsedAtMs: null,
    credentialId: verified.credential.credentialId,
    publicKey: verified.credential.publicKey,
    counter: verified.credential.counter,
    transports: verified.credential.transports,
    backedUp: verified.backedUp,
    trustedFromMs: trusted ? now : now + UNTRUSTED_PASSKEY_DELAY_MS,
  };
  await deps.store.addFactor(factor);
  await deps.notifier.notify(user, 'factor_added', {
    factorKind: 'passkey',
    factorLabel: factor.label,
  });
  deps.logger.info('factor added', { userId: user.id, factor: 'passkey' });
  return factor;
}

/** Creates an unconfirmed authenticator-app factor and returns its secret and URI (shown once). */
export async function startTotp(
  deps: AuthDeps,
  user: UserRecord,
  label: string,
): Promise<{ factorId: string; secret: string; uri: string }> {
  const secret = newTotpSecret();
  const id = newId('fac');
  const factor: TotpFactor = {
    kind: 'totp',
    id,
    userId: user.id,
    label: label || 'Authenticator app',
    createdAtMs: deps.now(),
    lastUsedAtMs: null,
    sealedSecret: sealTotpSecret(deps.totpKey, id, secret),
    lastStep: null,
    confirmed: false,
  };
  await deps.store.addFactor(factor);
  return { factorId: id, secret, uri: totpUri(secret, user.email) };
}

/** Confirms an authenticator-app factor with a first code (which is then spent). */
export async function confirmTotp(
  deps: AuthDeps,
  user: UserRecord,
  factorId: string,
  code: string,
): Promise<TotpFactor> {
  const factor = (await deps.store.listFactors(user.id)).find(
    (f): f is TotpFactor => f.kind === 'totp' && f.id === factorId,
  );
  if (!factor) throw new AppError('NOT_FOUND', 'no such authenticator app factor');
  if (factor.confirmed) throw new AppError('CONFLICT', 'this factor is already confirmed');
  const now = deps.now();
  const verdict = await verifyTotp(
    openTotpSecret(deps.totpKey, factor.id, factor.sealedSecret),
    code,
    factor.lastStep,
    now,
  );
  if (!verdict.ok || !(await deps.store.claimTotpStep(factor.id, verdict.step, now))) {
    throw new AppError('AUTH_TOTP_INVALID', 'invalid code');
  }
  await deps.store.updateFactorUse(factor.id, { lastUsedAtMs: now, confirmed: true });
  await deps.notifier.notify(user, 'factor_added', {
    factorKind: 'totp',
    factorLabel: factor.label,
  });
  deps.logger.info('factor added', { userId: user.id, factor: 'totp' });
  return { ...factor, confirmed: true, lastStep: verdict.step };
}

/** Replaces the recovery codes; returns the new ones (shown once). */
export async function newRecoveryCodes(deps: AuthDeps, user: UserRecord): Promise<string[]> {
  const { codes, hashes } = generateRecoveryCodes();
  await deps.store.replaceRecoveryCodes(user.id, hashes, deps.now());
  return codes;
}

/** The factor list a person sees (no secret material). */
export interface FactorView {
  id: string;
  kind: 'passkey' | 'totp';
  label: string;
  phishing_resistant: boolean;
  created_at: string;
  last_used_at: string | null;
  /** Passkeys enrolled without a passkey check count only from this time. */
  usable_from?: string;
  synced?: boolean;
}

export function factorView(f: FactorRecord): FactorView {
  const base = {
    id: f.id,
    label: f.label,
    created_at: new Date(f.createdAtMs).toISOString(),
    last_used_at: f.lastUsedAtMs === null ? null : new Date(f.lastUsedAtMs).toISOString(),
  };
  return f.kind === 'passkey'
    ? {
        ...base,
        kind: 'passkey',
        phishing_resistant: true,
        usable_from: new Date(f.trustedFromMs).toISOString(),
        synced: f.backedUp,
      }
    : { ...base, kind: 'totp', phishing_resistant: false };
}

/**
 * Removes a factor. Refused when it would leave the account without a second factor, or without
 * a passkey while a policy requires one.
 */
export async function removeFactor(
  deps: AuthDeps,
  user: UserRecord,
  factorId: string,
  passkeyRequired: boolean,
): Promise<void> {
  const factors = await deps.store.listFactors(user.id);
  const target = factors.find((f) => f.id === factorId);
  if (!target) throw new AppError('NOT_FOUND', 'no such factor');
  const rest = factors.filter((f) => f.id !== factorId && (isPasskey(f) || isConfirmedTotp(f)));
  if (rest.length === 0) {
    throw new AppError('CONFLICT', 'every account keeps at least one second factor');
  }
  if (passkeyRequired && !rest.some(isPasskey)) {
    throw new AppError('CONFLICT', 'your organisation requires a passkey: add another one first');
  }
  await deps.store.removeFactor(factorId);
  await deps.notifier.notify(user, 'factor_removed', {
    factorKind: target.kind,
    factorLabel: target.label,
  });
  deps.logger.info('factor removed', { userId: user.id, factor: target.kind });
}

/** The challenge a WebAuthn response answers (from its clientDataJSON), or null. */
export function challengeOf(response: unknown): string | null {
  const clientData = (response as { response?: { clientDataJSON?: unknown } } | null)?.response
    ?.clientDataJSON;
  if (typeof clientData !== 'string' || clientData.length > 4096) return null;
  try {
    const parsed = JSON.parse(Buffer.from(clientData, 'base64url').toString('utf8')) as unknown;
    const challenge = (parsed as { challenge?: unknown } | null)?.challenge;
    return typeof challenge === 'string' && challenge.length <= 256 ? challenge : null;
  } catch {
    return null;
  }
}
