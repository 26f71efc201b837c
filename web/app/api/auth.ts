// Sign-in, step-up and sign-out over the account API, with passkey ceremonies run by
// @simplewebauthn/browser (the same library the server verifies with).
import { startAuthentication } from '@simplewebauthn/browser';
import { call, setCsrfToken } from './client';
import type { LoginStarted, SessionInfo, StepUpDone, StepUpStarted } from './types';

type AuthOptions = Parameters<typeof startAuthentication>[0]['optionsJSON'];

/** The current session, or null when signed out. */
export async function currentSession(): Promise<SessionInfo | null> {
  try {
    const session = await call('auth.session');
    setCsrfToken(session.csrf_token);
    return session;
  } catch (error) {
    if ((error as { status?: number }).status === 401) return null;
    throw error;
  }
}

export function startLogin(email: string, password: string): Promise<LoginStarted> {
  return call('auth.login', { body: { email, password } });
}

/** Step 2 with the passkey: the browser asks the authenticator for an assertion. */
export async function finishLoginWithPasskey(started: LoginStarted): Promise<SessionInfo> {
  const response = await startAuthentication({ optionsJSON: started.passkey as AuthOptions });
  const session = await call('auth.login.verify', {
    body: { login_token: started.login_token, method: 'passkey', response },
  });
  setCsrfToken(session.csrf_token);
  return session;
}

/** Step 2 with a code: six digits are an authenticator-app code, anything else a recovery code. */
export async function finishLoginWithCode(
  started: LoginStarted,
  code: string,
): Promise<SessionInfo> {
  const trimmed = code.trim();
  const method = /^\d{6}$/.test(trimmed) ? 'totp' : 'recovery_code';
  const session = await call('auth.login.verify', {
    body: { login_token: started.login_token, method, code: trimmed },
  });
  setCsrfToken(session.csrf_token);
  return session;
}

export function stepUpOptions(): Promise<StepUpStarted> {
  return call('auth.step-up.options', { noStepUp: true });
}

export async function stepUpWithPasskey(started: StepUpStarted): Promise<StepUpDone> {
  const response = await startAuthentication({ optionsJSON: started.passkey as AuthOptions });
  return call('auth.step-up', {
    body: { method: 'passkey', response },
    noStepUp: true,
  });
}

export function stepUpWithCode(code: string): Promise<StepUpDone> {
  return call('auth.step-up', {
    body: { method: 'totp', code: code.trim() },
    noStepUp: true,
  });
}

export async function signOut(): Promise<void> {
  try {
    await call('auth.logout');
  } finally {
    setCsrfToken(null);
  }
}
