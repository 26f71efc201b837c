// The account commands of the CLI against a running server (through the admin socket) and a
// stopped one (opening the store): `admin create` prints a working setup link, `org lockdown`
// revokes every session and secret key at once, and projects join the organisation.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { AccountClient } from './helpers/account-client.js';
import { SoftwareAuthenticator } from './helpers/authenticator.js';
import {
  createProject,
  makeTestEnv,
  runCli,
  startServerProcess,
  type ServerProcess,
} from './helpers/server.js';

const ORIGIN = 'http://localhost:8443';

describe('sillage admin create / org lockdown', () => {
  const t = makeTestEnv({ SILLAGE_PUBLIC_URL: ORIGIN });
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop('SIGKILL');
  });

  it(
    'creates the first owner on a stopped server and locks down from a running one',
    { timeout: 180_000 },
    async () => {
      // Stopped: the CLI opens the store itself.
      const early = await createProject(t, 'Before any organisation');
      const created = JSON.parse(
        await runCli(t, [
          'admin',
          'create',
          '--email',
          'Owner@Example.com',
          '--org',
          'Acme',
          '--json',
        ]),
      ) as { org_id: string; setup_link: string; adopted_projects: string[] };
      expect(created.setup_link).toMatch(
        /^http:\/\/localhost:8443\/setup#token=[A-Za-z0-9_-]{43}$/,
      );
      expect(created.adopted_projects).toEqual([early.project_id]);

      server = await startServerProcess(t);
      const owner = new AccountClient(server.url, ORIGIN);
      const key = new SoftwareAuthenticator();
      const setup = await owner.setUpWithPasskey(
        created.setup_link,
        'granite swallow 88 over the weir',
        key,
      );
      expect(setup.status).toBe(200);
      expect(setup.body.user.email).toBe('owner@example.com');

      // Running: through the admin socket. The new project joins the only organisation.
      const later = JSON.parse(
        await runCli(t, ['project', 'create', '--name', 'Later', '--json']),
      ) as { project_id: string; secret: string; org_id: string };
      expect(later.org_id).toBe(created.org_id);
      const listed = await owner.call('GET', `/api/v1/orgs/${created.org_id}/projects`);
      expect(listed.body.projects.map((p: { id: string }) => p.id).sort()).toEqual(
        [early.project_id, later.project_id].sort(),
      );

      const orgs = JSON.parse(await runCli(t, ['org', 'list', '--json'])) as { id: string }[];
      expect(orgs.map((o) => o.id)).toEqual([created.org_id]);

      const locked = JSON.parse(
        await runCli(t, ['org', 'lockdown', '--org', created.org_id, '--json']),
      ) as { sessions_revoked: number; keys_revoked: number };
      expect(locked.sessions_revoked).toBe(1);
      expect(locked.keys_revoked).toBe(2);
      expect((await owner.call('GET', '/api/v1/me')).status).toBe(401);
      const machine = await new AccountClient(server.url, ORIGIN).call(
        'GET',
        `/api/v1/projects/${later.project_id}`,
        undefined,
        { authorization: `Bearer ${later.secret}` },
      );
      expect(machine.status).toBe(401);

      const wrong = await runCli(t, ['org', 'lockdown', '--org', 'org_nope', '--json']).catch(
        (error: { stderr?: string }) => error.stderr ?? '',
      );
      expect(wrong).toMatch(/no such organisation/);
    },
  );

  it(
    'resets an account with the master key only, stopped or running; the link sets it up again',
    { timeout: 240_000 },
    async () => {
      // The server of the first test was locked down and its owner is set up: stop it first.
      await server?.stop('SIGTERM');
      server = undefined;
      const email = 'owner@example.com';
      const wrongKey = {
        ...t,
        env: {
          ...t.env,
          SILLAGE_MASTER_KEY_FILE: '',
          SILLAGE_MASTER_KEY: randomBytes(32).toString('hex'),
        },
      };
      const refused = (args: string[], env: typeof t) =>
        runCli(env, args).then(
          () => 'accepted',
          (error: { stderr?: string }) => error.stderr ?? 'failed',
        );
      // Stopped: the wrong master key opens nothing.
      expect(await refused(['admin', 'reset', '--email', email, '--json'], wrongKey)).toMatch(
        /master key/i,
      );
      const stopped = JSON.parse(
        await runCli(t, ['admin', 'reset', '--email', email, '--json']),
      ) as {
        setup_link: string;
        emailed: boolean;
      };
      expect(stopped.setup_link).toMatch(
        /^http:\/\/localhost:8443\/setup#token=[A-Za-z0-9_-]{43}$/,
      );
      expect(stopped.emailed).toBe(false);

      // Running: through the admin socket, which still asks for proof of the master key.
      server = await startServerProcess(t);
      expect(await refused(['admin', 'reset', '--email', email, '--json'], wrongKey)).toMatch(
        /master key/i,
      );
      const running = JSON.parse(
        await runCli(t, ['admin', 'reset', '--email', email, '--json']),
      ) as {
        setup_link: string;
      };
      const person = new AccountClient(server.url, ORIGIN);
      // The newer reset supersedes the older link.
      expect(
        (await person.accept(stopped.setup_link, 'granite swallow 88 over the weir')).status,
      ).toBe(400);
      const key = new SoftwareAuthenticator();
      const back = await person.setUpWithPasskey(
        running.setup_link,
        'a fresh start 42 on the hill',
        key,
      );
      expect(back.status).toBe(200);
      expect(back.body.organisations).toMatchObject([{ role: 'owner' }]);
      expect(JSON.parse(await runCli(t, ['admin', 'confirm', '--email', email, '--json']))).toEqual(
        {
          confirmed_orgs: [],
        },
      );
      const unknown = await refused(['admin', 'reset', '--email', 'nobody@example.com'], t);
      expect(unknown).toMatch(/no account/);
    },
  );
});
