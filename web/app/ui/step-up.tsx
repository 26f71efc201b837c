// The step-up prompt: when the API answers AUTH_STEP_UP_REQUIRED, this modal asks for a fresh
// passkey check (or an authenticator-app code where the organisation allows it); the call that
// needed it is then retried by the client.
import { useEffect, useRef, useState } from 'preact/hooks';
import { stepUpOptions, stepUpWithCode, stepUpWithPasskey } from '../api/auth';
import { ApiError } from '../api/client';
import type { StepUpStarted } from '../api/types';
import { ErrorBox } from './async';

export interface StepUpRequest {
  reason: string;
  resolve: (ok: boolean) => void;
}

export function StepUpDialog(props: { request: StepUpRequest; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [options, setOptions] = useState<StepUpStarted | null>(null);
  const [code, setCode] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    dialog.current?.showModal();
    stepUpOptions().then(setOptions, (e: unknown) =>
      setError(e instanceof ApiError ? e : new ApiError(0, 'CLIENT', String(e))),
    );
  }, []);

  const finish = (ok: boolean): void => {
    dialog.current?.close();
    props.request.resolve(ok);
    props.onClose();
  };

  // Any check that succeeded is retried: a code is enough for some actions (adding a passkey to
  // your account) though not for the sensitive ones, and the retried call's answer says which.
  const attempt = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      finish(true);
    } catch (e) {
      setError(
        e instanceof ApiError
          ? e
          : new ApiError(
              0,
              'PASSKEY',
              e instanceof Error ? e.message : 'The check did not finish.',
            ),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <dialog
      ref={dialog}
      class="step-up"
      aria-labelledby="step-up-title"
      onCancel={(e) => {
        e.preventDefault();
        finish(false);
      }}
    >
      <h2 id="step-up-title">Confirm it is you</h2>
      <p>This is a sensitive action. Confirm with your passkey to continue for 5 minutes.</p>
      {error && <ErrorBox error={error} />}
      {options?.methods.includes('passkey') && (
        <button
          type="button"
          class="primary"
          disabled={busy}
          onClick={() => void attempt(() => stepUpWithPasskey(options))}
        >
          Confirm with passkey
        </button>
      )}
      {options?.methods.includes('totp') && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void attempt(() => stepUpWithCode(code));
          }}
        >
          <label for="step-up-code">Or a code from your authenticator app</label>
          <input
            id="step-up-code"
            autocomplete="one-time-code"
            inputMode="numeric"
            value={code}
            onInput={(e) => setCode(e.currentTarget.value)}
          />
          <button type="submit" disabled={busy}>
            Confirm with code
          </button>
        </form>
      )}
      {options && options.methods.length === 0 && (
        <p>
          Your account has no factor that can confirm this. Add a passkey under Security, Your
          account, then try again.
        </p>
      )}
      <button type="button" class="link" onClick={() => finish(false)}>
        Cancel
      </button>
    </dialog>
  );
}
