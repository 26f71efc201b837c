// Audit (owners): the audit log viewer with filters and an NDJSON export (reading the log is
// itself recorded), alerts raised on unusual access and the suspensions they caused (lifted
// behind a step-up), and the breach-impact report (step-up) as a page to print, JSON or Markdown.
import { useId, useState } from 'preact/hooks';
import { ApiError, call, callText, type RequestBody } from '../api/client';
import type { AuditEntry, IncidentReport, Suspension } from '../api/types';
import type { ProjectContext } from '../context';
import { Empty, ErrorBox, Loading, Show, useLoad } from '../ui/async';
import { download } from '../ui/csv';

/** Every kind the log records (src/audit/types.ts), reads first. */
export const AUDIT_KINDS = [
  'query',
  'export',
  'live_events',
  'reveal',
  'pseudonym_lookup',
  'user_read',
  'audit_read',
  'incident_report',
  'sign_in',
  'sign_in_failed',
  'session_revoked',
  'factor_added',
  'factor_removed',
  'password_changed',
  'account_status',
  'key_created',
  'key_used',
  'key_rotated',
  'key_revoked',
  'member_changed',
  'member_removed',
  'invitation_created',
  'org_policy_changed',
  'privacy_policy_changed',
  'lockdown',
  'erasure',
  'alert',
  'suspension',
  'suspension_lifted',
] as const;

const HOUR = 3_600_000;

/** `<input type="datetime-local">` value (local time, minutes) of an epoch time. */
export function localInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/** ISO time of a datetime-local value (read in the browser's zone), or undefined when empty. */
export function isoOf(local: string): string | undefined {
  if (!local) return undefined;
  const ms = new Date(local).getTime();
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** The first few items of a long list, and how many more there are. */
export function shortList(items: string[], max = 6): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}

const when = (iso: string): string =>
  new Date(iso).toLocaleString('en-GB', { dateStyle: 'short', timeStyle: 'medium' });

const asApiError = (e: unknown): ApiError =>
  e instanceof ApiError ? e : new ApiError(0, 'CLIENT', e instanceof Error ? e.message : String(e));

/** Principal labels (`user:<id>`, `key:<id>`) as people read them. */
type Names = (actor: string) => string;

function useNames(ctx: ProjectContext): Names {
  const [members] = useLoad(
    () => call('orgs.members.list', { params: { orgId: ctx.org.id } }).then((r) => r.members),
    [ctx.org.id],
  );
  const [keys] = useLoad(
    () => call('keys.list', { params: { projectId: ctx.project.id } }).then((r) => r.keys),
    [ctx.project.id],
  );
  return (actor) => {
    const [kind, id] = actor.split(':', 2);
    if (kind === 'user' && members.state === 'ok') {
      const m = members.value.find((x) => x.user_id === id);
      if (m) return m.email;
    }
    if (kind === 'key' && keys.state === 'ok') {
      const k = keys.value.find((x) => x.id === id);
      if (k) return `key “${k.name}”`;
    }
    return actor;
  };
}

function AuditLog(props: { ctx: ProjectContext; names: Names }) {
  const { ctx, names } = props;
  const id = useId();
  const [from, setFrom] = useState(() => localInput(Date.now() - 24 * HOUR));
  const [to, setTo] = useState('');
  const [kind, setKind] = useState('');
  const [actor, setActor] = useState('');
  const [thisProject, setThisProject] = useState(false);
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [nextAfter, setNextAfter] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const filters = (): Record<string, string | undefined> => ({
    from: isoOf(from),
    to: isoOf(to),
    kind: kind || undefined,
    actor: actor.trim() || undefined,
    project: thisProject ? ctx.project.id : undefined,
  });

  const load = async (after: number | null): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const page = await call('audit.list', {
        params: { orgId: ctx.org.id },
        query: { ...filters(), limit: 200, after: after ?? undefined },
      });
      setEntries((shown) => (after === null ? page.entries : [...(shown ?? []), ...page.entries]));
      setNextAfter(page.next_after);
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  };

  const exportAll = async (): Promise<void> => {
    setError(null);
    try {
      const text = await callText('audit.list', 'application/x-ndjson', {
        params: { orgId: ctx.org.id },
        query: { ...filters(), limit: 10_000, format: 'ndjson' },
      });
      download(
        `sillage-audit-${new Date().toISOString().slice(0, 10)}.ndjson`,
        text,
        'application/x-ndjson',
      );
    } catch (e) {
      setError(asApiError(e));
    }
  };

  const shown = entries ? [...entries].reverse() : null;
  return (
    <section aria-labelledby={`${id}-title`} class="card">
      <h2 id={`${id}-title`}>Audit log</h2>
      <p class="hint">
        Every read of data and every security act, in a tamper-evident chain. Looking at the log is
        recorded too.
      </p>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          void load(null);
        }}
      >
        <span class="field">
          <label for={`${id}-from`}>From</label>
          <input
            id={`${id}-from`}
            type="datetime-local"
            value={from}
            onInput={(e) => setFrom(e.currentTarget.value)}
          />
        </span>
        <span class="field">
          <label for={`${id}-to`}>To</label>
          <input
            id={`${id}-to`}
            type="datetime-local"
            value={to}
            onInput={(e) => setTo(e.currentTarget.value)}
          />
        </span>
        <span class="field">
          <label for={`${id}-kind`}>Kind</label>
          <select id={`${id}-kind`} value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
            <option value="">Any kind</option>
            {AUDIT_KINDS.map((k) => (
              <option key={k} value={k}>
                {k.replace(/_/g, ' ')}
              </option>
            ))}
          </select>
        </span>
        <span class="field">
          <label for={`${id}-actor`}>Principal (user:… or key:…)</label>
          <input
            id={`${id}-actor`}
            value={actor}
            placeholder="any"
            onInput={(e) => setActor(e.currentTarget.value)}
          />
        </span>
        <label class="check">
          <input
            type="checkbox"
            checked={thisProject}
            onChange={(e) => setThisProject(e.currentTarget.checked)}
          />{' '}
          Only {ctx.project.name}
        </label>
        <button type="submit" class="primary" disabled={busy}>
          Show entries
        </button>
        <button type="button" onClick={() => void exportAll()}>
          Export NDJSON
        </button>
      </form>
      {error && <ErrorBox error={error} />}
      {busy && <Loading what="the audit log" />}
      {shown &&
        (shown.length === 0 ? (
          <p>No entry matches these filters.</p>
        ) : (
          <div class="scroll" tabIndex={0} role="region" aria-label="Audit entries">
            <table class="text" id="audit-table">
              <caption class="sr-only">Audit entries, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Time</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Who</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Rows</th>
                  <th scope="col">Subjects</th>
                  <th scope="col">Fields and events</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((e) => (
                  <tr key={e.seq} data-kind={e.kind}>
                    <td>{e.seq}</td>
                    <td>{when(e.at)}</td>
                    <th scope="row">{e.kind.replace(/_/g, ' ')}</th>
                    <td title={e.actor}>
                      {names(e.actor)}
                      {e.country ? ` (${e.country})` : ''}
                    </td>
                    <td>{e.outcome}</td>
                    <td>{e.rows}</td>
                    <td>{e.subjects.length}</td>
                    <td class="wrap" title={[...e.fields, ...e.event_names].join(', ')}>
                      {shortList([...e.event_names.map((n) => `“${n}”`), ...e.fields])}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
      {nextAfter !== null && (
        <button type="button" disabled={busy} onClick={() => void load(nextAfter)}>
          Load more
        </button>
      )}
    </section>
  );
}

function Alerts(props: { ctx: ProjectContext; names: Names }) {
  const { ctx, names } = props;
  const orgId = ctx.org.id;
  const [alerts, reloadAlerts] = useLoad(
    () =>
      call('audit.list', {
        params: { orgId },
        query: { kind: 'alert', from: new Date(Date.now() - 30 * 24 * HOUR).toISOString() },
      }).then((r) => [...r.entries].reverse()),
    [orgId],
  );
  const [suspensions, reload] = useLoad(
    () => call('suspensions.list', { params: { orgId } }).then((r) => r.suspensions),
    [orgId],
  );
  const [error, setError] = useState<ApiError | null>(null);
  const lift = async (s: Suspension): Promise<void> => {
    setError(null);
    try {
      await call('suspensions.lift', { params: { orgId, suspensionId: s.id } });
      reload();
      reloadAlerts();
    } catch (e) {
      setError(asApiError(e));
    }
  };
  return (
    <section aria-labelledby="alerts-title" class="card">
      <h2 id="alerts-title">Alerts and suspensions</h2>
      <p class="hint">
        Raised at once on a raw export, a first export, a new country or network, a volume far over
        a principal's habit, or many distinct people returned. Volume and enumeration suspend the
        principal until an owner lifts it. Owners are also told by notice (and e-mail, when
        configured).
      </p>
      {error && <ErrorBox error={error} />}
      <Show value={suspensions} what="suspensions" onRetry={reload}>
        {(list) => {
          const active = list.filter((s) => s.lifted_at === null);
          return active.length === 0 ? (
            <p class="notice ok">No principal is suspended.</p>
          ) : (
            <ul class="list" id="suspension-list">
              {active.map((s) => (
                <li key={s.id}>
                  <span>
                    <strong>{names(s.principal)}</strong> suspended {when(s.created_at)} ({s.rule}):{' '}
                    {s.reason}
                  </span>
                  <button type="button" onClick={() => void lift(s)}>
                    Lift<span class="sr-only"> the suspension of {names(s.principal)}</span>
                  </button>
                </li>
              ))}
            </ul>
          );
        }}
      </Show>
      <h3>Alerts of the last 30 days</h3>
      <Show value={alerts} what="alerts" onRetry={reloadAlerts}>
        {(list) =>
          list.length === 0 ? (
            <p>No alert in the last 30 days.</p>
          ) : (
            <div class="scroll" tabIndex={0} role="region" aria-label="Alerts">
              <table class="text" id="alert-table">
                <caption class="sr-only">Alerts, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Time</th>
                    <th scope="col">Rule</th>
                    <th scope="col">Who</th>
                    <th scope="col">Why</th>
                    <th scope="col">Response</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((a) => {
                    const d = a.detail as {
                      rule?: string;
                      reason?: string;
                      severity?: string;
                      suspended?: boolean;
                    };
                    return (
                      <tr key={a.seq}>
                        <td>{when(a.at)}</td>
                        <th scope="row">{(d.rule ?? '').replace(/_/g, ' ')}</th>
                        <td>{a.target ? names(a.target) : '–'}</td>
                        <td class="wrap">{d.reason}</td>
                        <td>{d.suspended ? 'suspended' : 'notice'}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )
        }
      </Show>
    </section>
  );
}

type ScopeKind = 'user' | 'key' | 'network' | 'session';

const SCOPE_LABELS: Record<ScopeKind, string> = {
  user: 'A person (e-mail)',
  key: 'A secret key (id)',
  network: 'A network (CIDR)',
  session: 'A session (id)',
};

function IncidentReportForm(props: { ctx: ProjectContext }) {
  const { ctx } = props;
  const id = useId();
  const [scope, setScope] = useState<ScopeKind>('user');
  const [value, setValue] = useState('');
  const [from, setFrom] = useState(() => localInput(Date.now() - 7 * 24 * HOUR));
  const [to, setTo] = useState(() => localInput(Date.now() + 60_000));
  const [report, setReport] = useState<IncidentReport | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const body = (format?: 'markdown'): RequestBody<'incidents.report'> => ({
    ...({ [scope]: value.trim() } as Partial<Record<ScopeKind, string>>),
    from: isoOf(from) ?? '',
    to: isoOf(to) ?? '',
    ...(format ? { format } : {}),
  });

  const run = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      setReport(
        await call('incidents.report', {
          params: { orgId: ctx.org.id },
          body: body(),
        }),
      );
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  };

  const markdown = async (): Promise<void> => {
    setError(null);
    try {
      const text = await callText('incidents.report', 'text/markdown', {
        params: { orgId: ctx.org.id },
        body: body('markdown'),
      });
      download('breach-impact-report.md', text, 'text/markdown;charset=utf-8');
    } catch (e) {
      setError(asApiError(e));
    }
  };

  return (
    <section aria-labelledby="incident-title" class="card incident">
      <h2 id="incident-title">Breach-impact report</h2>
      <p class="hint no-print">
        What a person, a key, a network or a session saw in a time window, and whose data it was:
        every read, the fields and events exposed, the rows, the exact pseudonymous subjects, and
        the GDPR Art. 33(3) fields drafted from the record. Needs a fresh passkey check.
      </p>
      <form
        class="row no-print"
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        <span class="field">
          <label for={`${id}-scope`}>Report on</label>
          <select
            id={`${id}-scope`}
            value={scope}
            onChange={(e) => setScope(e.currentTarget.value as ScopeKind)}
          >
            {(Object.keys(SCOPE_LABELS) as ScopeKind[]).map((k) => (
              <option key={k} value={k}>
                {SCOPE_LABELS[k]}
              </option>
            ))}
          </select>
        </span>
        <span class="field">
          <label for={`${id}-value`}>Who or what</label>
          <input
            id={`${id}-value`}
            required
            value={value}
            placeholder={scope === 'network' ? '203.0.113.0/24' : ''}
            onInput={(e) => setValue(e.currentTarget.value)}
          />
        </span>
        <span class="field">
          <label for={`${id}-from`}>From</label>
          <input
            id={`${id}-from`}
            type="datetime-local"
            required
            value={from}
            onInput={(e) => setFrom(e.currentTarget.value)}
          />
        </span>
        <span class="field">
          <label for={`${id}-to`}>To</label>
          <input
            id={`${id}-to`}
            type="datetime-local"
            required
            value={to}
            onInput={(e) => setTo(e.currentTarget.value)}
          />
        </span>
        <button type="submit" class="primary" disabled={busy}>
          Build the report
        </button>
      </form>
      {error && <ErrorBox error={error} />}
      {busy && <Loading what="the report" />}
      {report && (
        <div id="incident-report">
          <h3>
            {SCOPE_LABELS[report.scope.kind]}: {report.scope.value}, {when(report.from)} –{' '}
            {when(report.to)}
          </h3>
          {report.scope.note && <p class="hint">{report.scope.note}</p>}
          <dl class="policy">
            <dt>Accesses</dt>
            <dd data-field="accesses">{report.accesses}</dd>
            <dt>Rows returned</dt>
            <dd data-field="rows_returned">{report.rows_returned}</dd>
            <dt>People whose data was returned</dt>
            <dd data-field="subjects">{report.subjects}</dd>
            <dt>Fields</dt>
            <dd>{report.fields.join(', ') || '–'}</dd>
            <dt>Events</dt>
            <dd>{report.event_names.join(', ') || '–'}</dd>
            <dt>First and last access</dt>
            <dd>
              {report.first_access ? when(report.first_access) : '–'} –{' '}
              {report.last_access ? when(report.last_access) : '–'}
            </dd>
          </dl>
          <h3>GDPR Art. 33(3)</h3>
          <dl class="policy" id="art33">
            <dt>Nature of the breach</dt>
            <dd>{report.art33.nature}</dd>
            <dt>Categories of data subjects</dt>
            <dd>{report.art33.categories_of_data_subjects}</dd>
            <dt>Approximate number of data subjects</dt>
            <dd>{report.art33.approximate_number_of_data_subjects}</dd>
            <dt>Categories of personal data records</dt>
            <dd>{report.art33.categories_of_personal_data_records}</dd>
            <dt>Approximate number of records</dt>
            <dd>{report.art33.approximate_number_of_personal_data_records}</dd>
            <dt>Likely consequences</dt>
            <dd>{report.art33.likely_consequences}</dd>
            <dt>Measures taken</dt>
            <dd>{report.art33.measures_taken}</dd>
          </dl>
          {report.subject_ids.length > 0 && (
            <details>
              <summary>The {report.subject_ids.length} pseudonymous subjects</summary>
              <p class="wrap">
                <code>{report.subject_ids.join(' ')}</code>
              </p>
            </details>
          )}
          <div class="row no-print">
            <button type="button" onClick={() => window.print()}>
              Print
            </button>
            <button
              type="button"
              onClick={() =>
                download(
                  'breach-impact-report.json',
                  JSON.stringify(report, null, 2),
                  'application/json',
                )
              }
            >
              Download JSON
            </button>
            <button type="button" onClick={() => void markdown()}>
              Download Markdown
            </button>
          </div>
        </div>
      )}
    </section>
  );
}

export function Audit(props: { ctx: ProjectContext }) {
  const { ctx } = props;
  if (ctx.org.role !== 'owner') {
    return (
      <Empty title="The audit log is for owners">
        <p>Ask an owner of {ctx.org.name}.</p>
      </Empty>
    );
  }
  return <OwnersAudit ctx={ctx} />;
}

function OwnersAudit(props: { ctx: ProjectContext }) {
  const { ctx } = props;
  const names = useNames(ctx);
  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit</h1>
      <Alerts ctx={ctx} names={names} />
      <AuditLog ctx={ctx} names={names} />
      <IncidentReportForm ctx={ctx} />
    </section>
  );
}
