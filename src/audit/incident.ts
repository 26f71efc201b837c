// The breach-impact report: for a key, a person, a session or a network and a time window, every
// read on the record — fields, event names, rows, the exact set of pseudonymous subjects — and the
// GDPR Art. 33(3) fields filled in from it. JSON, Markdown and a printable page.
import { AppError } from '../shared/errors.js';
import type { AuditLog } from './audit-log.js';
import { networksOfCidr } from './network.js';
import {
  READ_KINDS,
  type Actor,
  type AuditEntry,
  type AuditEntryHead,
  type AuditFilter,
  type AuditSummary,
} from './types.js';

export type IncidentScope =
  | { kind: 'key'; keyId: string }
  | { kind: 'user'; email: string }
  | { kind: 'session'; sessionId: string }
  | { kind: 'network'; cidr: string };

/** What the report needs from the account system (resolving people and sessions). */
export interface IncidentDirectory {
  userIdByEmail(email: string): Promise<string | null>;
  /** Whether the person is a member of the organisation now. */
  isMember(orgId: string, userId: string): Promise<boolean>;
  session(id: string): Promise<{ userId: string; fromMs: number; toMs: number } | null>;
  /** The e-mail addresses of the organisation's owners (the Art. 33(3)(b) contact point). */
  ownerEmails(orgId: string): Promise<string[]>;
}

export interface IncidentAccess {
  seq: number;
  at: string;
  kind: string;
  actor: string;
  project_id: string | null;
  outcome: string;
  country: string | null;
  rows: number;
  subjects: number;
  fields: string[];
  event_names: string[];
}

export interface IncidentReport {
  scope: { kind: IncidentScope['kind']; value: string; note?: string };
  organisation: string | null;
  from: string;
  to: string;
  generated_at: string;
  accesses: number;
  rows_returned: number;
  subjects: number;
  subject_ids: string[];
  fields: string[];
  event_names: string[];
  projects: string[];
  principals: string[];
  first_access: string | null;
  last_access: string | null;
  by_kind: Record<string, number>;
  access_list: IncidentAccess[];
  /**
   * Attempts that released nothing: reads refused (a suspended principal, a denied scope, a
   * failed query) and sign-ins or key uses refused, with their outcome codes.
   */
  refused_attempts: number;
  refused_list: IncidentAccess[];
  /** GDPR Art. 33(3) (a)–(d), drafted from the record. */
  art33: {
    nature: string;
    categories_of_data_subjects: string;
    approximate_number_of_data_subjects: number;
    categories_of_personal_data_records: string;
    approximate_number_of_personal_data_records: number;
    /** (b) who the authority can ask: the organisation's owners until a DPO is named. */
    contact_point: string;
    likely_consequences: string;
    /** (d) what the record shows was done: alerts, suspensions, lifts (then the rest, by hand). */
    measures_taken: string;
  };
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Acts that are on the report only when refused (sign-in and key authentication attempts). */
const REFUSAL_KINDS = ['sign_in_failed', 'key_used'] as const;

/** Most accesses (and refused attempts) listed one by one; the totals count them all. */
const MAX_LISTED = 10_000;

function scopeValue(scope: IncidentScope): string {
  switch (scope.kind) {
    case 'key':
      return scope.keyId;
    case 'user':
      return scope.email;
    case 'session':
      return scope.sessionId;
    case 'network':
      return scope.cidr;
  }
}

/** Builds the report; the building is itself a read on the record. */
export async function buildIncidentReport(
  audit: AuditLog,
  directory: IncidentDirectory,
  scope: IncidentScope,
  window: { fromMs: number; toMs: number },
  orgId: string | null,
  by: Actor,
): Promise<IncidentReport> {
  if (!(window.fromMs < window.toMs))
    throw new AppError('REQUEST_INVALID', 'from must be before to', {
      details: [{ path: 'from', message: 'after to' }],
    });
  const attempt = {
    kind: 'incident_report' as const,
    actor: by.actor,
    orgId,
    source: by.source,
    target: scope.kind,
    sensitive: { scope: scopeValue(scope) },
    detail: { from_ms: window.fromMs, to_ms: window.toMs },
  };
  await audit.admitRead(attempt);
  const filter: AuditFilter = {
    fromMs: window.fromMs,
    toMs: window.toMs,
    // Reads of data, and the attempts refused at the door (a suspended person signing in again,
    // a suspended key presented): evidence of what was tried, listed apart from what was read.
    kinds: [
      ...READ_KINDS.filter((k) => k !== 'audit_read' && k !== 'incident_report'),
      ...REFUSAL_KINDS,
    ],
    ...(orgId ? { orgId } : {}),
  };
  let note: string | undefined;
  /** The person the scope names (a user or a session's), whose sign-ins may belong to no org. */
  let person: string | null = null;
  switch (scope.kind) {
    case 'key':
      filter.actors = [`key:${scope.keyId}`];
      break;
    case 'user': {
      const id = await directory.userIdByEmail(scope.email);
      filter.actors = id ? [`user:${id}`] : [];
      person = id;
      // An organisation's owner learns nothing about people outside it, not even whether an
      // address has an account; a former member's entries in the organisation still show.
      if (orgId && !(id && (await directory.isMember(orgId, id))))
        note = 'no member of this organisation has this e-mail address';
      else if (!id) note = 'no account has this e-mail address';
      break;
    }
    case 'session': {
      const s = await directory.session(scope.sessionId);
      if (!s) {
        filter.actors = [];
        note = 'no such session';
      } else {
        filter.actors = [`user:${s.userId}`];
        person = s.userId;
        filter.fromMs = Math.max(window.fromMs, s.fromMs);
        filter.toMs = Math.min(window.toMs, s.toMs + 1);
        note = "the session's person, within the session's lifetime";
      }
      break;
    }
    case 'network': {
      const { networks, granularity } = networksOfCidr(scope.cidr);
      filter.networks = networks.map((n) => audit.networkKey(n));
      note = `matched by ${granularity} network (addresses are never stored)`;
      break;
    }
  }
  // The store summarises the window where the entries live (bench/audit.ts: 1,000,000 entries):
  // totals, the exact set of subjects, and the first MAX_LISTED accesses and attempts.
  const summary = await audit.store.summarise(filter, MAX_LISTED);
  const actors = new Set(summary.actors);
  let refusedList = summary.refusedList;
  let refusedCount = summary.refused;
  if (orgId && person !== null && (await directory.isMember(orgId, person))) {
    // A person's refused sign-ins belong to no organisation: a member's are listed in the
    // organisation's report (an outsider's are not the organisation's to read).
    const signIns = await audit.store.summarise(
      { ...filter, orgId: null, kinds: ['sign_in_failed'] },
      MAX_LISTED,
    );
    for (const a of signIns.actors) actors.add(a);
    refusedCount += signIns.refused;
    refusedList = refusedList.concat(signIns.refusedList).slice(0, MAX_LISTED);
  }
  // What was done about them, from the window's start until now (a suspension may come later).
  const responses = (
    await audit.store.scan({
      fromMs: window.fromMs,
      kinds: ['alert', 'suspension', 'suspension_lifted'],
      ...(orgId ? { orgId } : {}),
    })
  ).filter((e) => e.target !== null && actors.has(e.target));
  const owners = orgId ? await directory.ownerEmails(orgId) : [];
  const report = reportOf(summary, refusedCount, refusedList, scope, window, orgId, note, {
    measures: measuresTaken(responses),
    contact: owners.length
      ? `The owners of the organisation: ${owners.join(', ')} (name your data protection officer here if you have one).`
      : 'Name and contact details of the data protection officer or other contact point: to be completed.',
  });
  await audit.record({
    ...attempt,
    detail: { ...attempt.detail, accesses: report.accesses },
  });
  return report;
}

/** Drafts Art. 33(3)(d) from the responses on record: alerts, suspensions and their lifting. */
function measuresTaken(responses: readonly AuditEntry[]): string {
  const said: string[] = ['Every access is recorded in the tamper-evident audit log.'];
  for (const e of responses) {
    const d = JSON.parse(e.detail) as { rule?: string; reason?: string };
    const who = e.target ?? 'the principal';
    if (e.kind === 'alert')
      said.push(
        `${iso(e.atMs)}: detection rule ${d.rule ?? '?'} (${d.reason ?? ''}) alerted the owners about ${who}.`,
      );
    else if (e.kind === 'suspension')
      said.push(
        `${iso(e.atMs)}: ${who} suspended (its sessions ended; reads refused until an owner decides).`,
      );
    else said.push(`${iso(e.atMs)}: the suspension of ${who} was lifted by ${e.actor}.`);
  }
  if (responses.length === 0) said.push('No alert or suspension is on record for this access.');
  said.push(
    'To complete: organisational measures (keys rotated, credentials reset, subjects informed).',
  );
  return said.join(' ');
}

const listed = (e: AuditEntryHead, f: string[], ev: string[]): IncidentAccess => ({
  seq: e.seq,
  at: iso(e.atMs),
  kind: e.kind,
  actor: e.actor,
  project_id: e.projectId,
  outcome: e.outcome,
  country: e.country,
  rows: e.rows,
  subjects: e.subjectCount,
  fields: f,
  event_names: ev,
});

function reportOf(
  s: AuditSummary,
  refusedCount: number,
  refusedEntries: readonly AuditEntryHead[],
  scope: IncidentScope,
  window: { fromMs: number; toMs: number },
  orgId: string | null,
  note: string | undefined,
  drafted: { measures: string; contact: string },
): IncidentReport {
  // Field and event lists repeat from entry to entry: parsed once per distinct text.
  const parsed = new Map<string, string[]>();
  const parse = (json: string): string[] => {
    let v = parsed.get(json);
    if (!v) {
      v = JSON.parse(json) as string[];
      parsed.set(json, v);
    }
    return v;
  };
  const entry = (e: AuditEntryHead) => listed(e, parse(e.fields), parse(e.eventNames));
  const { subjects: subjectIds, fields, eventNames: events, readsByKind: byKind } = s;
  const { reads: accesses, rows, firstMs, lastMs } = s;
  // Sign-ins belong to no organisation and were summarised apart: attempts in sequence order.
  const refused = refusedEntries.map(entry).sort((a, b) => a.seq - b.seq);
  const rawRows = (byKind.export ?? 0) > 0;
  return {
    scope: { kind: scope.kind, value: scopeValue(scope), ...(note ? { note } : {}) },
    organisation: orgId,
    from: iso(window.fromMs),
    to: iso(window.toMs),
    generated_at: iso(Date.now()),
    accesses,
    rows_returned: rows,
    subjects: subjectIds.length,
    subject_ids: subjectIds,
    fields,
    event_names: events,
    projects: s.projects.filter((p) => p !== ''),
    principals: [...s.principals].sort(),
    first_access: firstMs === null ? null : iso(firstMs),
    last_access: lastMs === null ? null : iso(lastMs),
    by_kind: byKind,
    access_list: s.readList.map(entry),
    refused_attempts: refusedCount,
    refused_list: refused,
    art33: {
      nature:
        accesses === 0 || firstMs === null || lastMs === null
          ? 'No read of personal data by this principal is on the record in this window.'
          : `Access to analytics data by ${s.principals.join(', ')} between ${iso(firstMs)} and ${iso(lastMs)}: ` +
            `${accesses} reads (${Object.entries(byKind)
              .map(([k, n]) => `${n} ${k}`)
              .join(', ')}) ` +
            (rawRows ? 'including raw event rows (export).' : 'of query results (no raw export).'),
      categories_of_data_subjects:
        'End users (and, for group pseudonyms, customer organisations) of the product being measured, identified only by keyed pseudonyms.',
      approximate_number_of_data_subjects: subjectIds.length,
      categories_of_personal_data_records:
        `Product-usage events${events.length ? ` (${events.slice(0, 20).join(', ')})` : ''}` +
        `${fields.length ? ` with the fields ${fields.slice(0, 30).join(', ')}` : ''}; ` +
        'identifiers are HMAC pseudonyms, IP addresses and raw user agents are not stored, profile PII is dropped or sealed.',
      approximate_number_of_personal_data_records: rows,
      contact_point: drafted.contact,
      likely_consequences:
        subjectIds.length === 0
          ? 'No individual subject appears in what was returned (aggregates only).'
          : 'The recipient holds pseudonymous usage histories: linkable to people only with the project pseudonym key (not in the data) or by matching ids they already know. Risk of profiling of the listed subjects.',
      measures_taken: drafted.measures,
    },
  };
}

/**
 * Text from the data (event and field names, which anyone holding a project's public token
 * chooses) as inert Markdown on one line: control characters written as their escapes (a newline
 * in an event name forged paragraphs of the Art. 33 draft), and the punctuation that makes
 * emphasis, links, code, tables or HTML backslash-escaped (CommonMark).
 */
function markdownText(s: string): string {
  return s
    .replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) =>
      c === '\n'
        ? '\\n'
        : c === '\r'
          ? '\\r'
          : c === '\t'
            ? '\\t'
            : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    )
    .replace(/[\\`*_{}[\]()#+!|<>&~]/g, (c) => `\\${c}`);
}

/** The report as Markdown (for a ticket or a notification draft). */
export function incidentMarkdown(r: IncidentReport): string {
  const lines = [
    `# Breach-impact report`,
    '',
    `- Scope: ${r.scope.kind} \`${r.scope.value}\`${r.scope.note ? ` (${r.scope.note})` : ''}`,
    `- Window: ${r.from} to ${r.to}`,
    `- Generated: ${r.generated_at}`,
    `- Accesses: ${r.accesses}; rows returned: ${r.rows_returned}; subjects: ${r.subjects}`,
    `- Fields: ${r.fields.map(markdownText).join(', ') || '—'}`,
    `- Event names: ${r.event_names.map(markdownText).join(', ') || '—'}`,
    '',
    '## GDPR Art. 33(3)',
    '',
    `**(a) Nature of the breach.** ${r.art33.nature}`,
    '',
    `**Categories of data subjects.** ${r.art33.categories_of_data_subjects} Approximate number: ${r.art33.approximate_number_of_data_subjects}.`,
    '',
    `**Categories of personal data records.** ${markdownText(r.art33.categories_of_personal_data_records)} Approximate number: ${r.art33.approximate_number_of_personal_data_records}.`,
    '',
    `**(b) Contact point.** ${r.art33.contact_point}`,
    '',
    `**(c) Likely consequences.** ${r.art33.likely_consequences}`,
    '',
    `**(d) Measures taken.** ${r.art33.measures_taken}`,
    '',
    '## Accesses',
    '',
    '| # | time | kind | principal | project | rows | subjects |',
    '|---|---|---|---|---|---|---|',
    ...r.access_list.map(
      (a) =>
        `| ${a.seq} | ${a.at} | ${a.kind} | ${a.actor} | ${a.project_id ?? ''} | ${a.rows} | ${a.subjects} |`,
    ),
    '',
    `## Refused attempts (${r.refused_attempts})`,
    '',
    ...(r.refused_list.length === 0
      ? ['None on record.']
      : [
          '| # | time | kind | principal | project | outcome |',
          '|---|---|---|---|---|---|',
          ...r.refused_list.map(
            (a) =>
              `| ${a.seq} | ${a.at} | ${a.kind} | ${a.actor} | ${a.project_id ?? ''} | ${a.outcome} |`,
          ),
        ]),
    '',
    '## Subjects (pseudonyms; match them against your own ids with `sillage privacy pseudonymise`)',
    '',
    ...r.subject_ids.map((s) => `- ${s}`),
    '',
  ];
  return lines.join('\n');
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The report as a printable HTML page (no script, inline style only). */
export function incidentHtml(r: IncidentReport): string {
  const md = incidentMarkdown(r);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Breach-impact report</title><style>body{font:14px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto}pre{white-space:pre-wrap}@media print{body{margin:0}}</style></head><body><pre>${escapeHtml(md)}</pre></body></html>`;
}
