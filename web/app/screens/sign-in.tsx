// Sign-in: e-mail and password, then the passkey first; an authenticator-app code or a recovery
// code as the labelled fallback. New accounts are set up from their setup link (/setup).
import { useState } from 'preact/hooks';
import { finishLoginWithCode, finishLoginWithPasskey, startLogin } from '../api/auth';
import { ApiError } from '../api/client';
import type { LoginStarted, SessionInfo } from '../api/types';
import { ErrorBox } from '../ui/async';

const toApiError = (e: unknown): ApiError =>
  e instanceof ApiError
    ? e
    : new ApiError(
        0,
        'PASSKEY',
        e instanceof Error ? e.message : 'The passkey check did not finish.',
      );

export function SignIn(props: { onSignedIn: (session: SessionInfo) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [started, setStarted] = useState<LoginStarted | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const run = async (fn: () => Promise<void>): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await fn();
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };

  const submitPassword = (event: Event): void => {
    event.preventDefault();
    void run(async () => setStarted(await startLogin(email, password)));
  };
  const usePasskey = (): void => {
    if (started) void run(async () => props.onSignedIn(await finishLoginWithPasskey(started)));
  };
  const submitCode = (event: Event): void => {
    event.preventDefault();
    if (started) void run(async () => props.onSignedIn(await finishLoginWithCode(started, code)));
  };

  const hasPasskey = started?.methods.includes('passkey') ?? false;
  const hasCode = started?.methods.some((m) => m === 'totp' || m === 'recovery_code') ?? false;

  return (
    <main class="auth" id="main">
      <h1>Sillage</h1>
      {error && <ErrorBox error={error} />}
      {!started ? (
        <form onSubmit={submitPassword} aria-labelledby="signin-title">
          <h2 id="signin-title">Sign in</h2>
          <label for="signin-email">E-mail address</label>
          <input
            id="signin-email"
            type="email"
            autocomplete="username webauthn"
            required
            value={email}
            onInput={(e) => setEmail(e.currentTarget.value)}
          />
          <label for="signin-password">Password</label>
          <input
            id="signin-password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
          <button type="submit" class="primary" disabled={busy}>
            Continue
          </button>
          <p class="hint">
            New here? Open the setup link your administrator sent you (it starts with /setup).
          </p>
        </form>
      ) : (
        <section aria-labelledby="factor-title">
          <h2 id="factor-title">Second factor</h2>
          {hasPasskey && (
            <>
              <button type="button" class="primary" onClick={usePasskey} disabled={busy}>
                Use your passkey
              </button>
              <p class="hint">A passkey only answers this site, so it cannot be phished.</p>
            </>
          )}
          {hasCode && (
            <form onSubmit={submitCode}>
              <label for="signin-code">
                {hasPasskey ? 'Or enter a ' : 'Enter a '}code from your authenticator app, or a
                recovery code
              </label>
              <input
                id="signin-code"
                autocomplete="one-time-code"
                required
                value={code}
                onInput={(e) => setCode(e.currentTarget.value)}
              />
              <button type="submit" disabled={busy}>
                Sign in with the code
              </button>
            </form>
          )}
          {!hasPasskey && !hasCode && (
            <p class="notice" id="signin-no-factor">
              Your organisation requires a passkey, and your account has none that counts yet (codes
              are not accepted). A passkey added after signing in with a code counts a day later; or
              ask an owner or admin of your organisation, or the server's operator, to reset your
              sign-in: their setup link lets you create a passkey at once.
            </p>
          )}
          <button
            type="button"
            class="link"
            onClick={() => {
              setStarted(null);
              setError(null);
            }}
          >
            Start again
          </button>
        </section>
      )}
    </main>
  );
}
