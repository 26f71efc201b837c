// Privacy centre: what the privacy stage caught and redacted in the last 30 days; the project's
// policy with its safe defaults explained and every loosening marked, edited by owners (step-up);
// the retention period; and the erasure of one person (step-up).
import { useId, useState } from 'preact/hooks';
import { ApiError, call } from '../api/client';
import type { Erased, PolicySaved, PrivacyPolicy } from '../api/types';
import { canAdminister, type ProjectContext } from '../context';
import { Empty, ErrorBox, Show, useLoad } from '../ui/async';
import { DataTable } from '../ui/table';

const GEO: Record<PrivacyPolicy['geo'], string> = {
  none: 'No place is stored.',
  country: 'Country only.',
  region: 'Country and region (the default): enough for a map, too coarse to find a person.',
  city: 'Down to the city.',
};

/** Loosenings of a policy being edited, as the server words them (src/privacy/policy.ts). */
export function looseningsOf(policy: PrivacyPolicy): string[] {
  const rank = { none: 0, country: 1, region: 2, city: 3 } as const;
  const out: string[] = [];
  if (rank[policy.geo] > rank.region) out.push(`geolocation stored down to ${policy.geo}`);
  if (policy.keepClickIds) out.push('ad click ids kept');
  if (policy.keepGroupNames) out.push('company and group names kept (scanned)');
  for (const name of policy.keepEventProperties)
    out.push(`event property "${name}" kept (scanned) instead of dropped`);
  if (policy.vault) out.push('profile PII kept in the encrypted vault');
  for (const [name, action] of Object.entries(policy.properties).sort(([a], [b]) =>
    a < b ? -1 : 1,
  )) {
    if (action === 'keep') out.push(`property "${name}" kept as sent, without PII scanning`);
  }
  return out;
}

/** "a, b ,c" → ['a', 'b', 'c'] (empty parts dropped, duplicates too). */
export const listOf = (text: string): string[] => [
  ...new Set(
    text
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  ),
];

const Loosened = () => <span class="badge loose">loosening</span>;

const EVENT_SWITCHES: PrivacyPolicy['keepEventProperties'] = ['name', 'address', 'photo'];
const ACTIONS = ['keep', 'pseudonymise', 'redact', 'drop'] as const;

function PolicyEditor(props: {
  ctx: ProjectContext;
  policy: PrivacyPolicy;
  onSaved: (saved: PolicySaved) => void;
}) {
  const { ctx } = props;
  const id = useId();
  const owner = ctx.org.role === 'owner';
  const [p, setP] = useState<PrivacyPolicy>(props.policy);
  const [identifiers, setIdentifiers] = useState(props.policy.identifierProperties.join(', '));
  const [groups, setGroups] = useState(props.policy.groupKeys.join(', '));
  const [rules, setRules] = useState<[string, (typeof ACTIONS)[number]][]>(
    Object.entries(props.policy.properties),
  );
  const [saved, setSaved] = useState<PolicySaved | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const edited: PrivacyPolicy = {
    ...p,
    identifierProperties: listOf(identifiers),
    groupKeys: listOf(groups),
    properties: Object.fromEntries(rules.filter(([name]) => name.trim() !== '')),
  };
  const loose = looseningsOf(edited);
  const set = (patch: Partial<PrivacyPolicy>): void => setP({ ...p, ...patch });

  const save = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(null);
    try {
      const result = await call('privacy.policy.set', {
        params: { projectId: ctx.project.id },
        body: edited,
      });
      setSaved(result);
      props.onSaved(result);
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, 'CLIENT', String(e)));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="policy-title" class="card">
      <h2 id="policy-title">Policy</h2>
      {loose.length === 0 ? (
        <p class="notice ok" id="policy-state">
          This project uses the safe defaults: nothing is loosened.
        </p>
      ) : (
        <div class="notice error" id="policy-state">
          <p>
            <strong>Loosened from the safe defaults</strong> (each change is recorded with who made
            it, and every owner is told):
          </p>
          <ul id="loosenings">
            {loose.map((l) => (
              <li key={l}>{l}</li>
            ))}
          </ul>
        </div>
      )}
      <p class="hint">
        Always, whatever the policy: the client IP and the raw user agent are used for place and
        browser, then dropped (never stored, never logged); distinct_id, user and device ids become
        keyed pseudonyms; every string is scanned for e-mails, phone and card numbers, IBANs, IP
        addresses, tokens and secrets, which are replaced by a placeholder such as [email].
        {!owner && ' Only owners change the policy.'}
      </p>
      {error && <ErrorBox error={error} />}
      {saved && (
        <div class="notice ok" role="status" id="policy-saved">
          <p>
            <strong>Policy saved.</strong> It applies to events from now on.
          </p>
          {saved.new_loosenings.length > 0 && (
            <p>Newly loosened (every owner was told): {saved.new_loosenings.join('; ')}.</p>
          )}
        </div>
      )}
      <form onSubmit={(e) => void save(e)} class="policy-form">
        <fieldset disabled={!owner}>
          <legend>Place</legend>
          <p class="hint">
            Safe default: country and region, enough for a map, too coarse to find a person.
          </p>
          {(['none', 'country', 'region', 'city'] as const).map((g) => (
            <label key={g} class="check">
              <input
                type="radio"
                name={`${id}-geo`}
                value={g}
                checked={p.geo === g}
                onChange={() => set({ geo: g })}
              />{' '}
              {GEO[g]} {g === 'city' && <Loosened />}
            </label>
          ))}
        </fieldset>
        <fieldset disabled={!owner}>
          <legend>Kept instead of dropped</legend>
          <p class="hint">Safe default: all of these are dropped.</p>
          <label class="check">
            <input
              type="checkbox"
              checked={p.vault}
              onChange={(e) => set({ vault: e.currentTarget.checked })}
            />{' '}
            Profile PII (e-mail, name, phone…) sealed in the encrypted vault, one key per person,
            erased with them <Loosened />
          </label>
          <label class="check">
            <input
              type="checkbox"
              checked={p.keepClickIds}
              onChange={(e) => set({ keepClickIds: e.currentTarget.checked })}
            />{' '}
            Ad click ids (gclid, fbclid…) <Loosened />
          </label>
          <label class="check">
            <input
              type="checkbox"
              checked={p.keepGroupNames}
              onChange={(e) => set({ keepGroupNames: e.currentTarget.checked })}
            />{' '}
            Company and group names (still scanned) <Loosened />
          </label>
          {EVENT_SWITCHES.map((name) => (
            <label key={name} class="check">
              <input
                type="checkbox"
                checked={p.keepEventProperties.includes(name)}
                onChange={(e) =>
                  set({
                    keepEventProperties: e.currentTarget.checked
                      ? [...p.keepEventProperties, name]
                      : p.keepEventProperties.filter((x) => x !== name),
                  })
                }
              />{' '}
              Event property “{name}” (still scanned) <Loosened />
            </label>
          ))}
        </fieldset>
        <fieldset disabled={!owner}>
          <legend>Retention</legend>
          <p class="hint">
            Safe default: kept until erased. A period deletes older events every day.
          </p>
          <label class="check">
            <input
              type="checkbox"
              checked={p.retentionDays !== null}
              onChange={(e) => set({ retentionDays: e.currentTarget.checked ? 395 : null })}
            />{' '}
            Delete events older than a period
          </label>
          {p.retentionDays !== null && (
            <span class="field">
              <label for={`${id}-days`}>Days kept</label>
              <input
                id={`${id}-days`}
                type="number"
                min={1}
                max={36500}
                required
                value={p.retentionDays}
                onInput={(e) => set({ retentionDays: Number(e.currentTarget.value) })}
              />
            </span>
          )}
        </fieldset>
        <fieldset disabled={!owner}>
          <legend>Identifiers</legend>
          <span class="field">
            <label for={`${id}-ids`}>More properties holding user ids (pseudonymised)</label>
            <input
              id={`${id}-ids`}
              value={identifiers}
              placeholder="e.g. account_owner_id"
              onInput={(e) => setIdentifiers(e.currentTarget.value)}
            />
          </span>
          <span class="field">
            <label for={`${id}-groups`}>Group keys (their values pseudonymised)</label>
            <input
              id={`${id}-groups`}
              value={groups}
              onInput={(e) => setGroups(e.currentTarget.value)}
            />
          </span>
        </fieldset>
        <fieldset disabled={!owner}>
          <legend>Per-property rules</legend>
          <p class="hint">
            Safe default: none, every string is scanned. “keep” stores a value as sent, without
            scanning.
          </p>
          {rules.map(([name, action], i) => (
            <div class="row" key={i}>
              <span class="field">
                <label for={`${id}-rule-${i}`}>Property</label>
                <input
                  id={`${id}-rule-${i}`}
                  value={name}
                  onInput={(e) => {
                    const next = [...rules];
                    next[i] = [e.currentTarget.value, action];
                    setRules(next);
                  }}
                />
              </span>
              <span class="field">
                <label for={`${id}-action-${i}`}>Action</label>
                <select
                  id={`${id}-action-${i}`}
                  value={action}
                  onChange={(e) => {
                    const next = [...rules];
                    next[i] = [name, e.currentTarget.value as (typeof ACTIONS)[number]];
                    setRules(next);
                  }}
                >
                  {ACTIONS.map((a) => (
                    <option key={a} value={a}>
                      {a}
                    </option>
                  ))}
                </select>
              </span>
              {action === 'keep' && <Loosened />}
              <button type="button" onClick={() => setRules(rules.filter((_, j) => j !== i))}>
                Remove<span class="sr-only"> the rule for {name}</span>
              </button>
            </div>
          ))}
          <button type="button" onClick={() => setRules([...rules, ['', 'redact']])}>
            Add a rule
          </button>
        </fieldset>
        {owner && (
          <button type="submit" class="primary" disabled={busy}>
            Save the policy
          </button>
        )}
      </form>
    </section>
  );
}

/** Erases one person (step-up): events, profile, identity links and vault key. */
function Erase(props: { ctx: ProjectContext }) {
  const id = useId();
  const [user, setUser] = useState('');
  const [sure, setSure] = useState(false);
  const [done, setDone] = useState<(Erased & { user: string }) | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const erase = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const r = await call('privacy.erase', {
        params: { projectId: props.ctx.project.id },
        body: { user },
      });
      setDone({ ...r, user });
      setUser('');
      setSure(false);
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, 'CLIENT', String(e)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="erase-title" class="card danger-zone">
      <h2 id="erase-title">Erase a person</h2>
      <p>
        For a deletion request (GDPR Art. 17): give the id your app sends as distinct_id or user id.
        Sillage turns it into its pseudonyms and deletes that person's events, profile, identity
        links and vault key. It cannot be undone, and it asks for a fresh passkey check. The id
        itself is not kept: the audit log records only a keyed hash of it.
      </p>
      {error && <ErrorBox error={error} />}
      {done && (
        <p class="notice ok" role="status" id="erased">
          Erased: {done.events_deleted} events deleted
          {done.vault_key_deleted ? ', vault key deleted' : ''} ({done.pseudonyms.length} pseudonym
          {done.pseudonyms.length === 1 ? '' : 's'} searched).
        </p>
      )}
      <form class="row" onSubmit={(e) => void erase(e)}>
        <span class="field">
          <label for={`${id}-user`}>User id as your app sends it</label>
          <input
            id={`${id}-user`}
            required
            maxLength={1024}
            autocomplete="off"
            value={user}
            onInput={(e) => setUser(e.currentTarget.value)}
          />
        </span>
        <label class="check">
          <input
            type="checkbox"
            checked={sure}
            onChange={(e) => setSure(e.currentTarget.checked)}
          />{' '}
          I understand this cannot be undone
        </label>
        <button type="submit" class="danger" disabled={!sure || busy}>
          Erase this person
        </button>
      </form>
    </section>
  );
}

export function Privacy(props: { ctx: ProjectContext }) {
  const { ctx } = props;
  const id = useId();
  const [report, reload] = useLoad(
    canAdminister(ctx)
      ? () => call('privacy.report', { params: { projectId: ctx.project.id } })
      : null,
    [ctx.project.id],
  );
  return (
    <section aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`}>Privacy</h1>
      {!canAdminister(ctx) ? (
        <Empty title="Owners and admins see the privacy report">
          <p>Ask an owner or admin of {ctx.org.name} for it.</p>
        </Empty>
      ) : (
        <Show value={report} what="the privacy report" onRetry={reload}>
          {(r) => (
            <>
              <section aria-labelledby="caught-title" class="card">
                <h2 id="caught-title">
                  Caught and redacted, {r.from} – {r.to}
                </h2>
                {r.totals.length === 0 ? (
                  <p>
                    Nothing caught: no e-mail, phone, card number, IBAN, IP address, token or secret
                    reached the privacy stage in these 30 days.
                  </p>
                ) : (
                  <DataTable
                    caption="PII found in incoming events, per property and kind (the values were replaced by a placeholder such as [email] before storage)"
                    csvName="privacy-report.csv"
                    header={['Property', 'Kind', 'Values redacted']}
                    rows={r.totals.map((t) => [t.property, t.kind, t.count])}
                  />
                )}
              </section>
              <PolicyEditor ctx={ctx} policy={r.policy} onSaved={() => undefined} />
              <Erase ctx={ctx} />
            </>
          )}
        </Show>
      )}
    </section>
  );
}
