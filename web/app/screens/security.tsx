// Security centre: your sessions (revoke one or all others), your account's factors, recovery
// codes and security notices (screens/account.tsx), the organisation's members (role
// changes and removal behind a step-up, ending one member's or everyone's sessions), invitations,
// the project's secret keys (create and rotate behind a step-up, revoke at once, usage), and the
// emergency lock-down (owners). The audit log, alerts and incident report are on screens/audit.tsx.
import { useId, useState } from 'preact/hooks';
import { ApiError, call } from '../api/client';
import type { KeyScope, Member, Role } from '../api/types';
import { canAdminister, type ProjectContext } from '../context';
import { Empty, ErrorBox, Show, useLoad } from '../ui/async';
import { SecurityNotices, YourAccount } from './account';

const when = (iso: string | null): string =>
  iso === null
    ? '–'
    : new Date(iso).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' });

const asApiError = (e: unknown): ApiError =>
  e instanceof ApiError ? e : new ApiError(0, 'CLIENT', e instanceof Error ? e.message : String(e));

/** Runs an action, keeping its error for display. */
function useAction(): [ApiError | null, (fn: () => Promise<void>) => Promise<void>] {
  const [error, setError] = useState<ApiError | null>(null);
  const run = async (fn: () => Promise<void>): Promise<void> => {
    setError(null);
    try {
      await fn();
    } catch (e) {
      setError(asApiError(e));
    }
  };
  return [error, run];
}

function Sessions() {
  const [sessions, reload] = useLoad(() => call('me.sessions').then((r) => r.sessions), []);
  const [error, run] = useAction();
  return (
    <section aria-labelledby="sessions-title" class="card">
      <h2 id="sessions-title">Your sessions</h2>
      {error && <ErrorBox error={error} />}
      <Show value={sessions} what="sessions" onRetry={reload}>
        {(list) => (
          <>
            <ul class="list" id="session-list">
              {list.map((s) => (
                <li key={s.id} data-session={s.id}>
                  <span>
                    <strong>{s.device || 'Unknown device'}</strong> · {s.place || 'unknown place'} ·
                    signed in {when(s.created_at)} with {s.method} · last seen{' '}
                    {when(s.last_seen_at)} · ends by{' '}
                    <time class="session-end" dateTime={s.expires_at}>
                      {when(s.expires_at)}
                    </time>
                    {s.current && <em> (this session)</em>}
                  </span>
                  {!s.current && (
                    <button
                      type="button"
                      onClick={() =>
                        void run(async () => {
                          await call('me.sessions.revoke', { params: { sessionId: s.id } });
                          reload();
                        })
                      }
                    >
                      Revoke<span class="sr-only"> the session on {s.device}</span>
                    </button>
                  )}
                </li>
              ))}
            </ul>
            {list.length > 1 && (
              <button
                type="button"
                onClick={() =>
                  void run(async () => {
                    await call('me.sessions.revoke-all', { body: { keep_current: true } });
                    reload();
                  })
                }
              >
                Sign out everywhere else
              </button>
            )}
          </>
        )}
      </Show>
    </section>
  );
}

function Members(props: { ctx: ProjectContext }) {
  const { ctx } = props;
  const orgId = ctx.org.id;
  const [members, reload] = useLoad(
    () => call('orgs.members.list', { params: { orgId } }).then((r) => r.members),
    [orgId],
  );
  const [error, run] = useAction();
  const [done, setDone] = useState<string | null>(null);
  const admin = canAdminister(ctx);
  const me = ctx.session.user.id;
  // Admins cannot change or remove owners, nor make anyone an owner (the API refuses too).
  const manageable = (m: Member): boolean =>
    admin && m.user_id !== me && (ctx.org.role === 'owner' || m.role !== 'owner');
  const act = (fn: () => Promise<string>): void =>
    void run(async () => {
      setDone(null);
      setDone(await fn());
      reload();
    });
  return (
    <section aria-labelledby="members-title" class="card">
      <h2 id="members-title">Members of {ctx.org.name}</h2>
      {admin && (
        <p class="hint">
          Changing a role or removing someone asks for a fresh passkey check; the person is told.
          Ending someone's sessions signs them out of {ctx.org.name} everywhere (a lost laptop).
        </p>
      )}
      {error && <ErrorBox error={error} />}
      {done && (
        <p class="notice ok" role="status">
          {done}
        </p>
      )}
      <Show value={members} what="members" onRetry={reload}>
        {(list) => (
          <div class="scroll" tabIndex={0} role="region" aria-label="Members">
            <table class="text" id="member-table">
              <caption class="sr-only">Members and their roles</caption>
              <thead>
                <tr>
                  <th scope="col">E-mail</th>
                  <th scope="col">Role</th>
                  <th scope="col">Status</th>
                  <th scope="col">Joined</th>
                  {admin && (
                    <th scope="col">
                      <span class="sr-only">Actions</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {list.map((m) => (
                  <tr key={m.user_id} data-member={m.email}>
                    <th scope="row">{m.email}</th>
                    <td>
                      {manageable(m) ? (
                        <select
                          aria-label={`Role of ${m.email}`}
                          value={m.role}
                          onChange={(e) => {
                            const role = e.currentTarget.value as Role;
                            act(async () => {
                              await call('orgs.members.update', {
                                params: { orgId, userId: m.user_id },
                                body: { role },
                              });
                              return `${m.email} is now ${role}.`;
                            });
                          }}
                        >
                          {ROLES.filter((r) => ctx.org.role === 'owner' || r.role !== 'owner').map(
                            (r) => (
                              <option key={r.role} value={r.role}>
                                {r.role}
                              </option>
                            ),
                          )}
                        </select>
                      ) : (
                        m.role
                      )}
                    </td>
                    <td>{m.status}</td>
                    <td>{when(m.joined_at)}</td>
                    {admin && (
                      <td>
                        {manageable(m) && (
                          <>
                            <button
                              type="button"
                              onClick={() =>
                                act(async () => {
                                  const r = await call('orgs.members.sessions.revoke', {
                                    params: { orgId, userId: m.user_id },
                                  });
                                  return `${r.sessions_revoked} session(s) of ${m.email} ended.`;
                                })
                              }
                            >
                              End sessions<span class="sr-only"> of {m.email}</span>
                            </button>{' '}
                            <button
                              type="button"
                              class="danger"
                              onClick={() => {
                                if (!confirm(`Remove ${m.email} from ${ctx.org.name}?`)) return;
                                act(async () => {
                                  await call('orgs.members.remove', {
                                    params: { orgId, userId: m.user_id },
                                  });
                                  return `${m.email} was removed from ${ctx.org.name}.`;
                                });
                              }}
                            >
                              Remove<span class="sr-only"> {m.email}</span>
                            </button>
                          </>
                        )}
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Show>
      {admin && <Invite ctx={ctx} />}
      {admin && <EndAllSessions ctx={ctx} />}
    </section>
  );
}

/** Ends every member's sessions for this organisation (yours too). */
function EndAllSessions(props: { ctx: ProjectContext }) {
  const [confirming, setConfirming] = useState(false);
  const [error, run] = useAction();
  return (
    <>
      <h3>Every session</h3>
      {error && <ErrorBox error={error} />}
      {!confirming ? (
        <button type="button" onClick={() => setConfirming(true)}>
          End every session in {props.ctx.org.name}…
        </button>
      ) : (
        <div role="group" aria-label="Confirm ending every session">
          <p>
            Everyone, you included, signs in again. Secret keys keep working (lock down to stop them
            too).
          </p>
          <button
            type="button"
            class="danger"
            onClick={() =>
              void run(async () => {
                await call('orgs.sessions.revoke', { params: { orgId: props.ctx.org.id } });
              })
            }
          >
            Yes, end every session
          </button>{' '}
          <button type="button" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </div>
      )}
    </>
  );
}

const ROLES: { role: Role; label: string }[] = [
  { role: 'viewer', label: 'viewer (boards only)' },
  { role: 'analyst', label: 'analyst (reports)' },
  { role: 'admin', label: 'admin (members and keys)' },
  { role: 'owner', label: 'owner' },
];

/** Invites someone by a single-use link (step-up), shown once to pass on. */
function Invite(props: { ctx: ProjectContext }) {
  const id = useId();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [link, setLink] = useState<{ email: string; link: string } | null>(null);
  const [error, run] = useAction();
  const invite = (event: Event): void => {
    event.preventDefault();
    void run(async () => {
      const made = await call('orgs.invitations.create', {
        params: { orgId: props.ctx.org.id },
        body: { email, role },
      });
      setLink({ email: made.email, link: made.link });
      setEmail('');
    });
  };
  return (
    <>
      <h3>Invite someone</h3>
      {error && <ErrorBox error={error} />}
      {link && (
        <div class="notice ok" role="status">
          <p>
            Send this single-use link to <strong>{link.email}</strong> (shown only now):
          </p>
          <code class="token" id="invitation-link">
            {link.link}
          </code>
        </div>
      )}
      <form onSubmit={invite} class="row">
        <span class="field">
          <label for={`${id}-email`}>E-mail address</label>
          <input
            id={`${id}-email`}
            type="email"
            required
            value={email}
            onInput={(e) => setEmail(e.currentTarget.value)}
          />
        </span>
        <span class="field">
          <label for={`${id}-role`}>Role</label>
          <select
            id={`${id}-role`}
            value={role}
            onChange={(e) => setRole(e.currentTarget.value as Role)}
          >
            {ROLES.map((r) => (
              <option key={r.role} value={r.role}>
                {r.label}
              </option>
            ))}
          </select>
        </span>
        <button type="submit">Create invitation link</button>
      </form>
    </>
  );
}

const SCOPES: { scope: KeyScope; label: string }[] = [
  { scope: 'query', label: 'query (read aggregated reports)' },
  { scope: 'export', label: 'export (raw events)' },
  { scope: 'import', label: 'import (send historical events)' },
  { scope: 'admin', label: 'admin' },
];

function Keys(props: { ctx: ProjectContext }) {
  const id = useId();
  const projectId = props.ctx.project.id;
  const [keys, reload] = useLoad(
    () => call('keys.list', { params: { projectId } }).then((r) => r.keys),
    [projectId],
  );
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<KeyScope[]>(['query']);
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);
  const [error, run] = useAction();

  const create = (event: Event): void => {
    event.preventDefault();
    void run(async () => {
      const made = await call('keys.create', {
        params: { projectId },
        body: { name, scopes },
      });
      setSecret({ name: made.key.name, secret: made.secret });
      setName('');
      reload();
    });
  };

  return (
    <section aria-labelledby="keys-title" class="card">
      <h2 id="keys-title">Secret keys of {props.ctx.project.name}</h2>
      <p class="hint">
        Secret keys let scripts query or export. Creating or rotating one asks for a fresh passkey
        check; revoking never does.
      </p>
      {error && <ErrorBox error={error} />}
      {secret && (
        <div class="notice ok" role="status">
          <p>
            The secret of <strong>{secret.name}</strong>, shown only now. Store it in your secret
            manager:
          </p>
          <code class="token" id="new-secret">
            {secret.secret}
          </code>
          <button type="button" class="link" onClick={() => setSecret(null)}>
            I have stored it
          </button>
        </div>
      )}
      <Show value={keys} what="keys" onRetry={reload}>
        {(list) =>
          list.length === 0 ? (
            <p>No secret key yet.</p>
          ) : (
            <div class="scroll" tabIndex={0} role="region" aria-label="Secret keys">
              <table id="key-table" class="text">
                <caption class="sr-only">Secret keys</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Prefix</th>
                    <th scope="col">Scopes</th>
                    <th scope="col">Status</th>
                    <th scope="col">Last used</th>
                    <th scope="col">Uses</th>
                    <th scope="col">
                      <span class="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((k) => (
                    <tr key={k.id} data-key={k.id}>
                      <th scope="row">{k.name}</th>
                      <td>
                        <code>{k.prefix}</code>
                      </td>
                      <td>{k.scopes.join(', ')}</td>
                      <td>{k.status}</td>
                      <td class="wrap">
                        {when(k.last_used_at)}
                        {k.last_used_place ? ` (${k.last_used_place})` : ''}
                      </td>
                      <td>{k.use_count}</td>
                      <td>
                        {k.status === 'active' && (
                          <>
                            <button
                              type="button"
                              onClick={() =>
                                void run(async () => {
                                  const made = await call('keys.rotate', {
                                    params: { projectId, keyId: k.id },
                                    body: {},
                                  });
                                  setSecret({ name: made.key.name, secret: made.secret });
                                  reload();
                                })
                              }
                            >
                              Rotate<span class="sr-only"> {k.name}</span>
                            </button>{' '}
                            <button
                              type="button"
                              class="danger"
                              onClick={() =>
                                void run(async () => {
                                  await call('keys.revoke', { params: { projectId, keyId: k.id } });
                                  reload();
                                })
                              }
                            >
                              Revoke<span class="sr-only"> {k.name}</span>
                            </button>
                          </>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Show>
      <form onSubmit={create} class="row">
        <span class="field">
          <label for={`${id}-name`}>New key name</label>
          <input
            id={`${id}-name`}
            required
            maxLength={100}
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </span>
        <fieldset class="inline">
          <legend>Scopes</legend>
          {SCOPES.map((s) => (
            <label key={s.scope} class="check">
              <input
                type="checkbox"
                checked={scopes.includes(s.scope)}
                onChange={(e) =>
                  setScopes(
                    e.currentTarget.checked
                      ? [...scopes, s.scope]
                      : scopes.filter((x) => x !== s.scope),
                  )
                }
              />{' '}
              {s.label}
            </label>
          ))}
        </fieldset>
        <button type="submit" disabled={scopes.length === 0}>
          Create key
        </button>
      </form>
    </section>
  );
}

function LockDown(props: { ctx: ProjectContext }) {
  const [confirming, setConfirming] = useState(false);
  const [done, setDone] = useState<{ sessions_revoked: number; keys_revoked: number } | null>(null);
  const [error, run] = useAction();
  return (
    <section aria-labelledby="lockdown-title" class="card danger-zone">
      <h2 id="lockdown-title">Emergency lock-down</h2>
      <p>
        Ends every session and revokes every secret key of {props.ctx.org.name} at once, you
        included, and tells every member. Events keep arriving. Use it when an account or a key may
        be in the wrong hands.
      </p>
      {error && <ErrorBox error={error} />}
      {done ? (
        <p role="status">
          Locked down: {done.sessions_revoked} sessions ended and {done.keys_revoked} keys revoked.{' '}
          <a href="/">Sign in again</a>.
        </p>
      ) : !confirming ? (
        <button type="button" class="danger" onClick={() => setConfirming(true)}>
          Lock down {props.ctx.org.name}…
        </button>
      ) : (
        <div role="group" aria-label="Confirm the lock-down">
          <p>
            <strong>
              Everyone will be signed out, and every script using a secret key will stop.
            </strong>
          </p>
          <button
            type="button"
            class="danger"
            onClick={() =>
              void run(async () => {
                setDone(
                  await call('orgs.lockdown', {
                    params: { orgId: props.ctx.org.id },
                  }),
                );
              })
            }
          >
            Yes, lock down now
          </button>{' '}
          <button type="button" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </div>
      )}
    </section>
  );
}

export function Security(props: { ctx: ProjectContext }) {
  const { ctx } = props;
  return (
    <section aria-labelledby="security-title">
      <h1 id="security-title">Security</h1>
      <Sessions />
      <YourAccount />
      <SecurityNotices />
      <Members ctx={ctx} />
      {canAdminister(ctx) ? (
        <Keys ctx={ctx} />
      ) : (
        <Empty title="Secret keys">
          <p>Owners and admins manage the project's secret keys.</p>
        </Empty>
      )}
      {ctx.org.role === 'owner' && <LockDown ctx={ctx} />}
    </section>
  );
}
