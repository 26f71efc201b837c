// One user over HTTP (issue 12): a pseudonymous user's profile and event stream, resolved through
// identity links; every read on the audit record with its subjects (so that reading many users'
// streams is caught as enumeration and shows in the breach-impact report); another tenant, and
// the public ingest token, get nothing. The same on both event stores: the embedded DuckDB file and
// ClickHouse 18.16 (a real server on loopback).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unpackSubjects } from '../src/audit/index.js';
import {
  clickHouseAvailable,
  startClickHouse,
  type ClickHouseTestServer,
} from './helpers/clickhouse.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';
import { pollUntil } from './helpers/wait.js';

const BACKENDS = [
  { name: 'DuckDB', clickhouse: false },
  ...(clickHouseAvailable() ? [{ name: 'ClickHouse', clickhouse: true }] : []),
];

describe.each(BACKENDS)('events in $name', ({ clickhouse }) => {
  let s: InProcess;
  let ch: ClickHouseTestServer | undefined;
  let other: { project_id: string; token: string; secret: string };
  let alice = '';
  let aliceDevice = '';
  const visitors: string[] = [];

  const DAY = '2025-03-10';
  const at = (hhmm: string): number => Date.parse(`${DAY}T${hhmm}:00Z`) / 1000;
  const DEVICE = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';

  async function importEvents(
    project: { token: string; secret: string },
    events: { event: string; properties: Record<string, unknown> }[],
  ): Promise<void> {
    const res = await s.server.app.inject({
      method: 'POST',
      url: '/import',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`${project.secret}:`).toString('base64')}`,
      },
      payload: JSON.stringify(
        events.map((e) => ({ ...e, properties: { ...e.properties, token: project.token } })),
      ),
    });
    expect(res.statusCode).toBe(200);
  }

  beforeAll(async () => {
    let events: Record<string, string> = {};
    if (clickhouse) {
      ch = await startClickHouse();
      events = {
        SILLAGE_EVENTS_URL: `clickhouse://127.0.0.1:${new URL(ch.url).port}/sillage_users`,
      };
    }
    // Small enumeration threshold: a test-sized pull of user streams is "bulk".
    s = await startInProcess({ SILLAGE_AUDIT_ENUMERATION_SUBJECTS: '5', ...events });
    other = await s.server.runtime.projects.create('Other tenant');
    await importEvents(s.project, [
      {
        event: 'Page View',
        properties: {
          time: at('09:00'),
          distinct_id: `$device:${DEVICE}`,
          $device_id: DEVICE,
          $insert_id: 'u1',
        },
      },
      {
        event: 'Sign Up',
        properties: {
          time: at('09:05'),
          distinct_id: 'alice@example.com',
          $device_id: DEVICE,
          $user_id: 'alice@example.com',
          $insert_id: 'u2',
        },
      },
      // Two events at the same instant: paging must neither skip nor repeat one.
      ...['u3', 'u4'].map((id) => ({
        event: 'Purchase',
        properties: {
          time: at('09:30'),
          distinct_id: 'alice@example.com',
          $user_id: 'alice@example.com',
          price: 30,
          $insert_id: id,
        },
      })),
      ...[1, 2, 3, 4].map((n) => ({
        event: 'Page View',
        properties: {
          time: at(`1${n}:00`),
          distinct_id: `$device:visitor-${n}`,
          $device_id: `visitor-${n}`,
          $insert_id: `v${n}`,
        },
      })),
    ]);
    // The other tenant has a user with the same raw id: a different pseudonym, never visible here.
    await importEvents(other, [
      {
        event: 'Secret Event',
        properties: { time: at('09:00'), distinct_id: 'alice@example.com', $insert_id: 'o1' },
      },
    ]);
    const profile = await s.server.app.inject({
      method: 'POST',
      url: '/engage',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload:
        'data=' +
        encodeURIComponent(
          JSON.stringify({
            $token: s.project.token,
            $distinct_id: 'alice@example.com',
            $set: { plan: 'gold', $email: 'alice@example.com' },
          }),
        ),
    });
    expect(profile.body).toBe('1');
    await s.server.runtime.events.flush();
    const rows = await s.server.runtime.events.listEvents(s.project.project_id);
    alice = rows.find((r) => r.event === 'Sign Up')!.userId!;
    aliceDevice = rows.find((r) => r.event === 'Sign Up')!.deviceId!;
    for (const r of rows)
      if (r.event === 'Page View' && r.deviceId !== aliceDevice) visitors.push(r.distinctId);
    expect(visitors).toHaveLength(4);
  }, 120_000);

  afterAll(async () => {
    await s?.close();
    await ch?.stop();
  });

  const get = (url: string, secret: string | null = s.project.secret) =>
    s.server.app.inject({
      method: 'GET',
      url,
      headers: secret === null ? {} : { authorization: `Bearer ${secret}` },
    });
  const userUrl = (id: string, project = s.project.project_id) =>
    `/api/v1/projects/${project}/users/${encodeURIComponent(id)}`;

  describe('one user: profile', () => {
    it('resolves a device id to its person: linked ids, current profile, first and last seen', async () => {
      const res = await get(userUrl(aliceDevice));
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body).toMatchObject({
        id: aliceDevice,
        person: alice,
        event_count: 4,
        first_seen: `${DAY}T09:00:00.000Z`,
        last_seen: `${DAY}T09:30:00.000Z`,
      });
      expect(body.aliases).toContain(aliceDevice);
      expect(body.properties.plan).toBe('gold');
      // Profile PII is dropped by default: nothing to show, and no raw id anywhere.
      expect(res.body).not.toContain('alice@example.com');
      expect(res.body).not.toContain(DEVICE);
      // The person's own id answers the same person.
      const direct = (await get(userUrl(alice))).json();
      expect(direct.person).toBe(alice);
      expect(direct.event_count).toBe(4);
    });

    it('answers 404 for an id with nothing in the project, and for a raw (unpseudonymised) id', async () => {
      expect((await get(userUrl('u_AAAAAAAAAAAAAAAAAAAAAA'))).statusCode).toBe(404);
      expect((await get(userUrl('alice@example.com'))).statusCode).toBe(404);
    });
  });

  describe('one user: event stream', () => {
    it('pages newest first with a cursor that splits ties exactly', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 10; page++) {
        const url: string = `${userUrl(aliceDevice)}/events?limit=1${cursor ? `&cursor=${cursor}` : ''}`;
        const res = await get(url);
        expect(res.statusCode).toBe(200);
        const body = res.json();
        expect(body.person).toBe(alice);
        for (const e of body.events) seen.push(`${e.event}@${e.time}#${e.properties.$insert_id}`);
        cursor = body.next_cursor;
        if (!cursor) break;
      }
      expect(seen.map((x) => x.replace(/#.*/, ''))).toEqual([
        `Purchase@${DAY}T09:30:00.000Z`,
        `Purchase@${DAY}T09:30:00.000Z`,
        `Sign Up@${DAY}T09:05:00.000Z`,
        `Page View@${DAY}T09:00:00.000Z`,
      ]);
      expect(new Set(seen).size).toBe(4);
      const all = (await get(`${userUrl(alice)}/events`)).json();
      expect(all.events).toHaveLength(4);
      expect(all.next_cursor).toBeNull();
      expect(all.events[0].properties.price).toBe(30);
    });

    it('starts before an instant (epoch ms or ISO), and validates its parameters', async () => {
      const before = Date.parse(`${DAY}T09:30:00Z`);
      const page = (await get(`${userUrl(alice)}/events?before=${before}`)).json();
      expect(page.events.map((e: { event: string }) => e.event)).toEqual(['Sign Up', 'Page View']);
      const iso = (await get(`${userUrl(alice)}/events?before=${DAY}T09:01:00Z`)).json();
      expect(iso.events.map((e: { event: string }) => e.event)).toEqual(['Page View']);
      for (const bad of ['limit=0', 'limit=1001', 'limit=x', 'before=yesterday', 'cursor=abc']) {
        const res = await get(`${userUrl(alice)}/events?${bad}`);
        expect(res.statusCode, bad).toBe(400);
        expect(res.json().error.code).toBe('REQUEST_INVALID');
      }
    });
  });

  describe('one user: another tenant and the ingest token', () => {
    it("gives another tenant's key nothing, not even whether the user exists", async () => {
      for (const url of [userUrl(alice), `${userUrl(alice)}/events`]) {
        const res = await get(url, other.secret);
        expect(res.statusCode).toBeGreaterThanOrEqual(403);
        expect(res.statusCode).toBeLessThan(405);
        expect(res.body).not.toContain('Purchase');
        expect(res.body).not.toContain('gold');
      }
    });

    it("does not read this tenant's user through the other tenant's project", async () => {
      const otherAlice = (await s.server.runtime.events.listEvents(other.project_id))[0]!
        .distinctId;
      expect(otherAlice).not.toBe(alice);
      // Own key, other project in the path: refused. Other project's key, own user id: 404.
      const crossed = await get(userUrl(otherAlice, other.project_id));
      expect([403, 404]).toContain(crossed.statusCode);
      expect(crossed.body).not.toContain('Secret Event');
      expect((await get(userUrl(alice, other.project_id), other.secret)).statusCode).toBe(404);
      expect(
        (await get(`${userUrl(alice, other.project_id)}/events`, other.secret)).json(),
      ).toEqual({
        person: alice,
        events: [],
        next_cursor: null,
      });
      // And this project never shows the other tenant's events under its own pseudonym.
      expect((await get(userUrl(otherAlice))).statusCode).toBe(404);
    });

    it('refuses the public ingest token and anonymous callers', async () => {
      expect((await get(userUrl(alice), s.project.token)).statusCode).toBe(401);
      expect((await get(userUrl(alice), null)).statusCode).toBe(401);
    });
  });

  describe('one user: on the record', () => {
    it('records every read as user_read with the subjects returned, never the raw id', async () => {
      const entries = await s.server.runtime.audit.store.scan({ kinds: ['user_read'] });
      const ok = entries.filter((e) => e.outcome === 'ok');
      expect(ok.length).toBeGreaterThan(5);
      const subjects = new Set(ok.flatMap((e) => unpackSubjects(e.subjects)));
      expect(subjects).toContain(alice);
      expect(subjects).toContain(aliceDevice);
      const streams = ok.filter((e) => JSON.parse(e.detail).read === 'events');
      expect(streams.some((e) => JSON.parse(e.eventNames).includes('Purchase'))).toBe(true);
      expect(entries.some((e) => e.outcome === 'NOT_FOUND')).toBe(true);
      expect(JSON.stringify(entries)).not.toContain('alice@example.com');
    });

    it('counts user-stream reads as enumeration: past the threshold the key is suspended', async () => {
      for (const v of visitors) expect((await get(`${userUrl(v)}/events`)).statusCode).toBe(200);
      const suspended = await pollUntil('the enumeration suspension', async () => {
        const res = await get(userUrl(alice));
        return res.statusCode === 403 && res.json().error.code === 'AUDIT_PRINCIPAL_SUSPENDED';
      });
      expect(suspended).toBe(true);
      await pollUntil('the enumeration alert on the record', async () => {
        const alerts = await s.server.runtime.audit.store.scan({ kinds: ['alert'] });
        return alerts.some((a) => JSON.parse(a.detail).rule === 'enumeration');
      });
    });
  });
});
