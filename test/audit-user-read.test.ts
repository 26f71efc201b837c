// `user_read` entries (the user profile and event-stream routes record one per read, through the
// audit port) count like any other read: enumeration of users through them alerts and suspends
// the principal, and the breach-impact report names exactly the subjects they returned. The
// entries are recorded here directly through the port, as the user-stream service does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIncidentReport } from '../src/audit/index.js';
import { adminCreate } from '../src/cli/admin-commands.js';
import { incidentDirectory } from '../src/http/routes/audit.js';
import { AccountClient } from './helpers/account-client.js';
import { SoftwareAuthenticator } from './helpers/authenticator.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

const ANALYST = 'analyst@example.com';
const subject = (i: number): string => 'u_' + Buffer.alloc(16, i + 1).toString('base64url');

describe('audit: user-stream reads (user_read)', () => {
  const ORIGIN = 'http://localhost:8443';
  let s: InProcess;

  beforeAll(async () => {
    s = await startInProcess({
      SILLAGE_PUBLIC_URL: ORIGIN,
      SILLAGE_AUDIT_ENUMERATION_SUBJECTS: '25',
    });
  });
  afterAll(async () => {
    await s.close();
  });

  it('enumerating users one by one is caught, and the report names exactly who was read', async () => {
    const rt = s.server.runtime;
    const project = s.project;
    const { org_id: orgId, setup_link } = await adminCreate(rt, { email: ANALYST, org: 'Acme' });
    const person = new AccountClient(s.server.url, ORIGIN);
    const setUp = await person.setUpWithPasskey(
      setup_link,
      'copper meadow sixty rails 9',
      new SoftwareAuthenticator(),
    );
    expect(setUp.status).toBe(200);
    const userId = await incidentDirectory(rt.auth).userIdByEmail(ANALYST);
    expect(userId).not.toBeNull();
    const actor = `user:${userId}`;

    // One subject per read, as GET …/users/{pseudonym} and …/events record them; stop when refused.
    const returned: string[] = [];
    let refused: unknown = null;
    const deadline = Date.now() + 30_000;
    for (let i = 0; i < 200 && !refused && Date.now() < deadline; i++) {
      try {
        rt.audit.assertMayRead(actor);
        await rt.audit.record({
          kind: 'user_read',
          actor,
          projectId: project.project_id,
          source: { kind: 'http', ip: '198.51.100.7', place: 'FR' },
          detail: { read: i % 2 ? 'events' : 'profile' },
          fields: ['$browser', 'mp_country_code'],
          eventNames: ['Page viewed'],
          rows: 3,
          subjects: [subject(i)],
        });
        returned.push(subject(i));
      } catch (error) {
        refused = error;
      }
      // The response (suspension) is asynchronous: give it a turn, as request pacing would.
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(refused).toMatchObject({ code: 'AUDIT_PRINCIPAL_SUSPENDED' });
    expect(returned.length).toBeGreaterThan(25);

    // The alert entry follows the suspension (the owners are told in the same response).
    let alerts = await rt.audit.store.scan({ kinds: ['alert'] });
    for (let i = 0; i < 100 && alerts.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      alerts = await rt.audit.store.scan({ kinds: ['alert'] });
    }
    expect(alerts.map((a) => [a.target, JSON.parse(a.detail) as object])).toContainEqual([
      actor,
      expect.objectContaining({ rule: 'enumeration' }),
    ]);
    expect((await rt.audit.store.listSuspensions(true)).map((s) => s.actor)).toContain(actor);

    const report = await buildIncidentReport(
      rt.audit,
      incidentDirectory(rt.auth),
      { kind: 'user', email: ANALYST },
      { fromMs: 0, toMs: Date.now() + 60_000 },
      orgId,
      { actor: 'cli', source: { kind: 'cli' } },
    );
    expect(report.subject_ids).toEqual([...returned].sort());
    expect(report.subjects).toBe(returned.length);
    expect(report.accesses).toBe(returned.length);
    expect(report.rows_returned).toBe(3 * returned.length);
    expect(report.by_kind).toEqual({ user_read: returned.length });
    expect(report.fields).toEqual(['$browser', 'mp_country_code']);
    expect(report.event_names).toEqual(['Page viewed']);
  });
});
