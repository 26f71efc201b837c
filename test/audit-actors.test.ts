// Acts an owner does to someone else are on the record under the owner's name, not `system`:
// invitation, role change, sessions ended, reset (factors removed, password cleared) and removal
// each name the acting owner as actor and the member as target. Real server in process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCreate } from '../src/cli/admin-commands.js';
import { AccountClient } from './helpers/account-client.js';
import { SoftwareAuthenticator } from './helpers/authenticator.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

const ORIGIN = 'http://localhost:8443';
const OWNER = 'owner@example.com';
const MEMBER = 'member@example.com';

describe('audit: the acting principal of admin-initiated acts', () => {
  let s: InProcess;
  let orgId = '';
  let ownerActor = '';
  let memberActor = '';
  const ownerKey = new SoftwareAuthenticator();
  let owner: AccountClient;

  beforeAll(async () => {
    s = await startInProcess({ SILLAGE_PUBLIC_URL: ORIGIN });
    owner = new AccountClient(s.server.url, ORIGIN);
    const created = await adminCreate(s.server.runtime, { email: OWNER, org: 'Acme' });
    orgId = created.org_id;
    expect(
      (
        await owner.setUpWithPasskey(
          created.setup_link,
          'harbour violet engine 4410 mist',
          ownerKey,
        )
      ).status,
    ).toBe(200);
    const me = await owner.call('GET', '/api/v1/me');
    ownerActor = `user:${(me.body.user as { id: string }).id}`;
  });
  afterAll(async () => {
    await s.close();
  });

  it('names the owner who invited, changed the role, ended sessions, reset and removed', async () => {
    const member = new AccountClient(s.server.url, ORIGIN);
    const invited = await owner.call('POST', `/api/v1/orgs/${orgId}/invitations`, {
      email: MEMBER,
      role: 'analyst',
    });
    expect(invited.status).toBe(201);
    expect(
      (
        await member.setUpWithPasskey(
          invited.body.link as string,
          'copper meadow sixty rails 9',
          new SoftwareAuthenticator(),
        )
      ).status,
    ).toBe(200);
    const memberMe = await member.call('GET', '/api/v1/me');
    memberActor = `user:${(memberMe.body.user as { id: string }).id}`;
    const audit = s.server.runtime.audit;
    const since = (await audit.store.last())?.seq ?? 0;

    expect((await owner.stepUpWithPasskey(ownerKey)).status).toBe(200);
    const path = `/api/v1/orgs/${orgId}/members/${memberActor.slice(5)}`;
    expect((await owner.call('PATCH', path, { role: 'admin' })).status).toBe(204);
    expect((await owner.call('POST', `${path}/sessions/revoke`)).status).toBe(200);
    expect((await owner.call('POST', `${path}/reset`)).status).toBe(201);
    expect((await owner.call('DELETE', path)).status).toBe(204);

    const acts = await audit.store.scan({ afterSeq: since });
    const byKind = (kind: string) => acts.filter((e) => e.kind === kind);
    expect(byKind('member_changed').map((e) => [e.actor, e.target])).toContainEqual([
      ownerActor,
      memberActor,
    ]);
    expect(byKind('session_revoked').map((e) => e.actor)).toContain(ownerActor);
    expect(byKind('factor_removed').length).toBeGreaterThan(0);
    expect(byKind('member_removed').map((e) => [e.actor, e.target])).toEqual([
      [ownerActor, memberActor],
    ]);
    // Nothing the owner did here is left to `system`; each carries the owner's coarse source.
    const ownerActs = acts.filter((e) =>
      ['member_changed', 'session_revoked', 'factor_removed', 'member_removed'].includes(e.kind),
    );
    expect(ownerActs.filter((e) => e.actor !== ownerActor)).toEqual([]);
    expect(ownerActs.every((e) => e.source === 'http')).toBe(true);

    const invitation = (await audit.store.scan({ kinds: ['invitation_created'] })).at(-1);
    expect(invitation?.actor).toBe(ownerActor);
  });
});
