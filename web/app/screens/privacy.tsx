// Privacy centre (read-only for now): what the privacy stage caught and redacted in the last 30
// days, and the project's policy with its safe defaults explained and any loosening marked.
import { useId } from 'preact/hooks';
import { call } from '../api/client';
import type { PrivacyPolicy, PrivacyReport } from '../api/types';
import { canAdminister, type ProjectContext } from '../context';
import { Empty, Show, useLoad } from '../ui/async';
import { DataTable } from '../ui/table';

const GEO: Record<PrivacyPolicy['geo'], string> = {
  none: 'No place is stored.',
  country: 'Country only.',
  region: 'Country and region (the default): enough for a map, too coarse to find a person.',
  city: 'Down to the city.',
};

function PolicyView(props: { policy: PrivacyPolicy; loosenings: string[] }) {
  const { policy } = props;
  const actions = Object.entries(policy.properties);
  return (
    <section aria-labelledby="policy-title" class="card">
      <h2 id="policy-title">Policy</h2>
      {props.loosenings.length === 0 ? (
        <p class="notice ok">This project uses the safe defaults: nothing is loosened.</p>
      ) : (
        <div class="notice error">
          <p>
            <strong>Loosened from the safe defaults</strong> (each change is recorded with who made
            it):
          </p>
          <ul id="loosenings">
            {props.loosenings.map((l) => (
              <li key={l}>{l}</li>
            ))}
          </ul>
        </div>
      )}
      <dl class="policy">
        <dt>Client IP and user agent</dt>
        <dd>Used for place and browser, then dropped: never stored, never logged.</dd>
        <dt>Identifiers</dt>
        <dd>
          distinct_id, user and device ids become keyed pseudonyms
          {policy.identifierProperties.length > 0 &&
            `, and so do ${policy.identifierProperties.join(', ')}`}
          . Group keys pseudonymised: {policy.groupKeys.join(', ') || 'none'}.
        </dd>
        <dt>Profile PII (e-mail, name, phone…)</dt>
        <dd>
          {policy.vault
            ? 'Kept sealed in the encrypted vault (one key per person, erased with them).'
            : 'Dropped (the default).'}
        </dd>
        <dt>Place</dt>
        <dd>{GEO[policy.geo]}</dd>
        <dt>Ad click ids</dt>
        <dd>{policy.keepClickIds ? 'Kept.' : 'Dropped (the default).'}</dd>
        <dt>Retention</dt>
        <dd>
          {policy.retentionDays === null
            ? 'Events are kept until erased.'
            : `Events older than ${policy.retentionDays} days are deleted.`}
        </dd>
        <dt>Per-property rules</dt>
        <dd>
          {actions.length === 0
            ? 'None: every string is scanned for PII and redacted to a typed placeholder.'
            : actions.map(([name, action]) => `${name}: ${action}`).join('; ')}
        </dd>
      </dl>
      <p class="hint">
        Changing the policy, and erasing a person, are not on this screen yet: use the privacy API
        (PUT …/privacy/policy, POST …/privacy/erase).
      </p>
    </section>
  );
}

export function Privacy(props: { ctx: ProjectContext }) {
  const { ctx } = props;
  const id = useId();
  const [report, reload] = useLoad(
    canAdminister(ctx)
      ? () => call<PrivacyReport>('privacy.report', { params: { projectId: ctx.project.id } })
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
              <PolicyView policy={r.policy} loosenings={r.loosenings} />
            </>
          )}
        </Show>
      )}
    </section>
  );
}
