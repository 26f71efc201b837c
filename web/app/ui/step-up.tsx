// The step-up prompt: when the API answers AUTH_STEP_UP_REQUIRED, this modal asks for a fresh
// passkey check (or an authenticator-app code where the organisation allows it); when an
// organisation that requires passkeys refuses a session signed in with a code
// (AUTH_PASSKEY_REQUIRED), it says so and asks for the passkey that lifts the refusal — or, for an
// account with no passkey that counts, says what will. The call that needed it is then retried by
// the client.
import { useEffect, useRef, useState } from 'preact/hooks';
import { stepUpOptions, stepUpWithCode, stepUpWithPasskey } from '../api/auth';
import { ApiError, call, type StepUpCode } from '../api/client';
import type { Factor, StepUpStarted } from '../api/types';
import { ErrorBox } from './async';

export interface StepUpRequest {
  code: StepUpCode;
  reason: string;
  resolve: (ok: boolean) => void;
}

const when = (iso: string): string =>
  new Date(iso).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' });

/**
 * What an account with no passkey that counts can do where a passkey is required: wait for the
 * one it added after a code, or have its sign-in reset (codes neither sign in nor confirm here).
 */
function NoPasskey(props: { required: boolean }) {
  const [pending, setPending] = useState<Factor | null | undefined>(undefined);
  useEffect(() => {
    call('me.get').then(
      (me) =>
        setPending(
          me.factors.find(
            (f) =>
              f.kind === 'passkey' &&
              f.usable_from !== undefined &&
              Date.parse(f.usable_from) > Date.now(),
          ) ?? null,
        ),
      () => setPending(null),
    );
  }, []);
  if (pending === undefined) return null;
  if (pending && pending.usable_from !== undefined) {
    return (
      <p id="step-up-no-passkey">
        Your passkey “{pending.label || 'Passkey'}” counts from {when(pending.usable_from)}: it was
        added after a code, so it waits a day. Confirm with it then.
      </p>
    );
  }
  return props.required ? (
    <p id="step-up-no-passkey">
      Your account has no passkey, and codes are not accepted here. Ask an owner or admin of your
      organisation (or the server's operator) to reset your sign-in: the setup link they get for you
      lets you create a passkey, which counts at once.
    </p>
  ) : (
    <p id="step-up-no-passkey">
      Your account has no factor that can confirm this. Add a passkey under Security, Your account,
      then try again.
    </p>
  );
}

export function StepUpDialog(props: { request: StepUpRequest; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [options, setOptions] = useState<StepUpStarted | null>(null);
  const [code, setCode] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const required = props.request.code === 'AUTH_PASSKEY_REQUIRED';

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
      {required ? (
        <>
          <h2 id="step-up-title">Your organisation requires a passkey</h2>
          <p>
            This session signed in with a code, which your organisation no longer accepts: a code
            can be relayed by a phishing page, a passkey cannot. Confirm with your passkey once and
            this session goes on.
          </p>
        </>
      ) : (
        <>
          <h2 id="step-up-title">Confirm it is you</h2>
          <p>This is a sensitive action. Confirm with your passkey to continue for 5 minutes.</p>
        </>
      )}
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
      {options &&
        !options.methods.includes('passkey') &&
        (required || options.methods.length === 0) && <NoPasskey required={required} />}
      <button type="button" class="link" onClick={() => finish(false)}>
        Cancel
      </button>
    </dialog>
  );
}
