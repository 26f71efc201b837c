// Your account, on the Security screen (every role, viewers too): your second factors (add a
// passkey, remove one), recovery codes (how many are left, a new set behind a step-up) and your
// security notices — the in-app copy of what Sillage e-mails (a new device, a factor added, a
// recovery code used, a lock-down, a loosened privacy policy), which the e-mails point to.
import { startRegistration } from '@simplewebauthn/browser';
import { useState } from 'preact/hooks';
import { ApiError, call } from '../api/client';
import type { Factor } from '../api/types';
import { ErrorBox, Show, useLoad } from '../ui/async';

type RegistrationOptions = Parameters<typeof startRegistration>[0]['optionsJSON'];

const when = (iso: string | null): string =>
  iso === null
    ? 'never'
    : new Date(iso).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' });

const asApiError = (e: unknown): ApiError =>
  e instanceof ApiError
    ? e
    : new ApiError(
        0,
        'PASSKEY',
        e instanceof Error ? e.message : 'The passkey was not created. Try again.',
      );

/** What a factor is, and whether it counts yet (a passkey added after a code only after a day). */
function describe(f: Factor, now: number): string {
  const kind = f.kind === 'passkey' ? 'Passkey' : 'Authenticator app';
  const usable = f.usable_from !== undefined && Date.parse(f.usable_from) > now;
  return [
    (f.label || kind) === kind ? null : kind,
    f.phishing_resistant ? 'cannot be phished' : 'codes can be relayed by a phishing page',
    f.synced ? 'synced by its provider' : null,
    `added ${when(f.created_at)}`,
    `last used ${when(f.last_used_at)}`,
    usable
      ? `counts from ${when(f.usable_from ?? null)} (added without a passkey check, so it waits a day)`
      : null,
  ]
    .filter(Boolean)
    .join(' · ');
}

export function YourAccount() {
  const [account, reload] = useLoad(() => call('me.get'), []);
  const [label, setLabel] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);

  const run = async (fn: () => Promise<string | null>): Promise<void> => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      setDone(await fn());
      reload();
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  };

  const addPasskey = (event: Event): void => {
    event.preventDefault();
    void run(async () => {
      const { passkey } = await call('me.passkeys.options');
      const response = await startRegistration({
        optionsJSON: passkey as RegistrationOptions,
      });
      const added = await call('me.passkeys.add', {
        body: { response, label: label.trim() || 'Passkey' },
      });
      setLabel('');
      return `Passkey “${added.label}” added.`;
    });
  };

  const remove = (f: Factor): void => {
    if (!confirm(`Remove “${f.label || f.kind}” from your account?`)) return;
    void run(async () => {
      await call('me.factors.remove', { params: { factorId: f.id } });
      return `“${f.label || f.kind}” removed.`;
    });
  };

  const newCodes = (): void =>
    void run(async () => {
      setCodes((await call('me.recovery-codes')).recovery_codes);
      return null;
    });

  return (
    <section aria-labelledby="account-title" class="card">
      <h2 id="account-title">Your account</h2>
      {error && <ErrorBox error={error} />}
      {done && (
        <p class="notice ok" role="status" id="account-done">
          {done}
        </p>
      )}
      <Show value={account} what="your account" onRetry={reload}>
        {(a) => (
          <>
            <h3>Second factors</h3>
            {!a.factors.some((f) => f.kind === 'passkey') && (
              <p class="notice" id="no-passkey">
                You have no passkey yet. Sensitive actions (keys, members, exports, the privacy
                policy) ask for a passkey check: add one below.
              </p>
            )}
            <ul class="list" id="factor-list">
              {a.factors.map((f) => (
                <li key={f.id} data-factor={f.kind}>
                  <span>
                    <strong>
                      {f.label || (f.kind === 'passkey' ? 'Passkey' : 'Authenticator app')}
                    </strong>{' '}
                    · {describe(f, Date.now())}
                  </span>
                  {a.factors.length > 1 && (
                    <button type="button" disabled={busy} onClick={() => remove(f)}>
                      Remove<span class="sr-only"> {f.label || f.kind}</span>
                    </button>
                  )}
                </li>
              ))}
            </ul>
            <form class="row" onSubmit={addPasskey}>
              <div class="field">
                <label for="passkey-label">Name for a new passkey</label>
                <input
                  id="passkey-label"
                  maxLength={100}
                  placeholder="e.g. work laptop"
                  value={label}
                  onInput={(e) => setLabel(e.currentTarget.value)}
                />
              </div>
              <button type="submit" disabled={busy}>
                Add a passkey
              </button>
            </form>

            <h3>Recovery codes</h3>
            <p id="codes-left">
              <strong>{a.recovery_codes_left}</strong> of your recovery codes are unused. Each signs
              you in once when you have lost your factors.
            </p>
            {codes ? (
              <div class="notice ok" role="status">
                <p>
                  Your new recovery codes, shown only now. Keep them somewhere safe; the old ones no
                  longer work.
                </p>
                <pre class="token" id="new-codes">
                  {codes.join('\n')}
                </pre>
                <button type="button" class="link" onClick={() => setCodes(null)}>
                  I have stored them
                </button>
              </div>
            ) : (
              <button type="button" disabled={busy} onClick={newCodes}>
                New recovery codes
              </button>
            )}
          </>
        )}
      </Show>
    </section>
  );
}

export function SecurityNotices() {
  const [notices, reload] = useLoad(() => call('me.notices').then((r) => r.notices), []);
  const [error, setError] = useState<ApiError | null>(null);
  const markRead = async (): Promise<void> => {
    setError(null);
    try {
      await call('me.notices.read');
      reload();
    } catch (e) {
      setError(asApiError(e));
    }
  };
  return (
    <section aria-labelledby="notices-title" class="card">
      <h2 id="notices-title">Your security notices</h2>
      <p class="hint">
        What happened to your account, as Sillage e-mails it when e-mail is set up. If something
        here was not you: sign out everywhere else, remove any factor you do not know, and tell an
        owner of your organisation.
      </p>
      {error && <ErrorBox error={error} />}
      <Show value={notices} what="notices" onRetry={reload}>
        {(list) =>
          list.length === 0 ? (
            <p>No notice yet.</p>
          ) : (
            <>
              <ul class="list notices" id="notice-list">
                {list.map((n) => (
                  <li key={n.id} data-notice={n.kind} class={n.read ? 'read' : 'unread'}>
                    <details>
                      <summary>
                        {!n.read && <strong>New · </strong>}
                        {n.title} <span class="hint">· {when(n.created_at)}</span>
                      </summary>
                      <pre class="notice-text">{n.text}</pre>
                    </details>
                  </li>
                ))}
              </ul>
              {list.some((n) => !n.read) && (
                <button type="button" onClick={() => void markRead()}>
                  Mark all as read
                </button>
              )}
            </>
          )
        }
      </Show>
    </section>
  );
}
