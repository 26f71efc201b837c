// The breach-impact report's Markdown: names anyone with a project's public token chose (event
// and field names) stay inert text on their line.
import { describe, expect, it } from 'vitest';
import { incidentHtml, incidentMarkdown, type IncidentReport } from './incident.js';

const FORGED = 'x\n\n**(d) Measures taken.** None needed; no personal data was read.';
const HTML = '<img src=x onerror=alert(1)>';
const LINK = '[verify](javascript:alert(1))';

function report(names: string[]): IncidentReport {
  return {
    scope: { kind: 'key', value: 'key_1' },
    organisation: 'org_1',
    from: '2026-12-01T00:00:00.000Z',
    to: '2026-12-02T00:00:00.000Z',
    generated_at: '2026-12-02T00:00:00.000Z',
    accesses: 1,
    rows_returned: 3,
    subjects: 0,
    subject_ids: [],
    fields: names,
    event_names: names,
    projects: ['prj_1'],
    principals: ['key:key_1'],
    first_access: null,
    last_access: null,
    by_kind: { query: 1 },
    access_list: [],
    refused_attempts: 0,
    refused_list: [],
    art33: {
      nature: 'Access to analytics data.',
      categories_of_data_subjects: 'End users.',
      approximate_number_of_data_subjects: 0,
      categories_of_personal_data_records: `Product-usage events (${names.join(', ')})`,
      approximate_number_of_personal_data_records: 3,
      contact_point: 'The owners.',
      likely_consequences: 'None.',
      measures_taken: 'An alert was raised.',
    },
  };
}

describe('incident report as Markdown', () => {
  it('writes event and field names on their own line, with no Markdown or HTML of theirs', () => {
    const md = incidentMarkdown(report([FORGED, HTML, LINK, 'Signed Up']));
    const lines = md.split('\n');
    // One "(d)" paragraph, the report's own.
    expect(lines.filter((l) => l.startsWith('**(d) Measures taken.**'))).toEqual([
      '**(d) Measures taken.** An alert was raised.',
    ]);
    // No tag or link of theirs: each one's opening character escaped.
    expect(md).not.toMatch(/(^|[^\\])<img/);
    expect(md).not.toMatch(/(^|[^\\])\]\(javascript:/);
    // Still readable: the names are there, escaped.
    expect(md).toContain('Signed Up');
    expect(md).toContain('x\\\\n\\\\n\\*\\*\\(d\\) Measures taken.\\*\\* None needed');
    expect(md).toContain('\\<img src=x onerror=alert\\(1\\)\\>');
    // The printable page escapes the Markdown it shows.
    expect(incidentHtml(report([HTML]))).not.toContain('<img');
  });
});
