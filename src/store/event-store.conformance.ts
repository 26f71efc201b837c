// The EventStore conformance suite: every adapter runs it against a real backend (see
// duckdb/event-store.test.ts). It pins what the core relies on: acknowledged = stored, resent
// events counted once (128-bit dedup keys), reads in (time, dedup key) order with a cursor,
// Mixpanel profile semantics, first identity link wins, counters summed, retention and erasure.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommitBatch, EventRow, EventStore, ProfileUpdateRow } from './types.js';

/** What the suite needs from an adapter: a fresh, empty store. */
export interface EventStoreHarness {
  events: EventStore;
  close(): Promise<void>;
}

const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;

/** An event with every typed field set; `i` varies the keys. */
export function eventFixture(i: number, extra: Partial<EventRow> = {}): EventRow {
  return {
    projectId: 'prj_1',
    // Above 2^64: a store must keep all 128 bits of the key.
    dedupKey: (1n << 100n) + BigInt(i) * 7919n,
    timeMs: T0 + i * 1000,
    event: i % 2 === 0 ? 'Viewed' : 'Signed up — é',
    distinctId: `u_${i % 3}`,
    deviceId: `d_${i % 3}`,
    userId: i % 3 === 0 ? null : `u_${i % 3}`,
    insertId: `ins_${i}`,
    browser: 'Chrome',
    browserVersion: '120',
    os: 'Linux',
    deviceType: 'desktop',
    countryCode: 'FR',
    region: 'Île-de-France',
    city: null,
    referringDomain: 'www.google.com',
    currentUrl: 'https://example.com/a',
    utmSource: 'news',
    utmMedium: null,
    utmCampaign: null,
    utmContent: null,
    utmTerm: null,
    lib: 'web',
    properties: { n: i, price: 9.5, tags: ['a', 'b'], nested: { ok: true, none: null } },
    receivedAtMs: T0 + i * 1000 + 250,
    ...extra,
  };
}

const batch = (parts: Partial<CommitBatch>): CommitBatch => ({
  events: [],
  profileUpdates: [],
  identityLinks: [],
  privacyCounts: [],
  ...parts,
});

const update = (
  profileId: string,
  op: ProfileUpdateRow['op'],
  value: ProfileUpdateRow['value'],
  timeMs: number,
  groupKey = '',
): ProfileUpdateRow => ({
  projectId: 'prj_1',
  groupKey,
  profileId,
  op,
  value,
  timeMs,
  ignoreTime: false,
});

/** Runs the suite; `open` gives a fresh, empty store for each test. */
export function eventStoreConformance(open: () => Promise<EventStoreHarness>): void {
  let h: EventStoreHarness;
  let store: EventStore;

  beforeEach(async () => {
    h = await open();
    store = h.events;
  });
  afterEach(async () => {
    await h.close();
  });

  describe('events', () => {
    it('stores every field as given and counts a resent event once', async () => {
      const rows = [0, 1, 2, 3].map((i) => eventFixture(i));
      const first = await store.commit(batch({ events: rows }));
      expect(first).toMatchObject({ eventsInserted: 4, eventsDuplicate: 0 });
      // The SDK resends two of them (same dedup keys) with one new event.
      const again = await store.commit(batch({ events: [rows[1]!, rows[3]!, eventFixture(4)] }));
      expect(again).toMatchObject({ eventsInserted: 1, eventsDuplicate: 2 });
      await store.flush();
      expect(await store.countEvents('prj_1')).toBe(5);
      expect(await store.listEvents('prj_1')).toEqual([...rows, eventFixture(4)]);
    });

    it('keeps projects apart', async () => {
      await store.commit(
        batch({
          events: [eventFixture(0), eventFixture(1, { projectId: 'prj_2', dedupKey: 5n })],
        }),
      );
      expect(await store.countEvents('prj_1')).toBe(1);
      expect(await store.countEvents('prj_2')).toBe(1);
      expect(await store.countEvents('prj_none')).toBe(0);
      expect((await store.listEvents('prj_2')).map((e) => e.dedupKey)).toEqual([5n]);
    });

    it('reads in (time, dedup key) order, within [from, to), after a cursor, up to a limit', async () => {
      // Two events share a time: the dedup key orders them.
      const rows = [
        eventFixture(3),
        eventFixture(1),
        eventFixture(2, { timeMs: T0 + 1000, dedupKey: 1n }),
        eventFixture(0),
      ];
      await store.commit(batch({ events: rows }));
      const all = await store.listEvents('prj_1');
      expect(all.map((e) => e.insertId)).toEqual(['ins_0', 'ins_2', 'ins_1', 'ins_3']);
      const page1 = await store.listEvents('prj_1', { limit: 2 });
      const last = page1[1]!;
      const page2 = await store.listEvents('prj_1', {
        limit: 2,
        after: { timeMs: last.timeMs, dedupKey: last.dedupKey },
      });
      expect([...page1, ...page2].map((e) => e.insertId)).toEqual(all.map((e) => e.insertId));
      const window = await store.listEvents('prj_1', { fromMs: T0 + 1000, toMs: T0 + 3000 });
      expect(window.map((e) => e.insertId)).toEqual(['ins_2', 'ins_1']);
    });

    it('deletes events older than a cutoff, in one project only', async () => {
      await store.commit(
        batch({
          events: [
            eventFixture(0, { timeMs: T0 - 48 * HOUR }),
            eventFixture(1, { timeMs: T0 - HOUR }),
            eventFixture(2, { timeMs: T0 }),
            eventFixture(3, { projectId: 'prj_2', timeMs: T0 - 48 * HOUR }),
          ],
        }),
      );
      expect(await store.deleteEventsBefore('prj_1', T0 - 2 * HOUR)).toBe(1);
      expect(await store.deleteEventsBefore('prj_1', T0 - 2 * HOUR)).toBe(0);
      expect((await store.listEvents('prj_1')).map((e) => e.insertId)).toEqual(['ins_1', 'ins_2']);
      expect(await store.countEvents('prj_2')).toBe(1);
    });
  });

  describe('profiles and identities', () => {
    it('applies profile operations in order with Mixpanel semantics', async () => {
      await store.commit(
        batch({
          profileUpdates: [
            update('u_1', '$set', { plan: 'free', seats: 1 }, T0),
            update('u_1', '$set_once', { plan: 'pro', first: 'yes' }, T0 + 1),
            update('u_1', '$add', { seats: 2 }, T0 + 2),
          ],
        }),
      );
      await store.commit(
        batch({
          profileUpdates: [
            update('u_1', '$union', { tags: ['a', 'b'] }, T0 + 3),
            update('u_1', '$unset', ['first'], T0 + 4),
            update('acme', '$set', { name: 'Acme' }, T0 + 5, 'company'),
          ],
        }),
      );
      const profile = await store.getProfile({
        projectId: 'prj_1',
        groupKey: '',
        profileId: 'u_1',
      });
      expect(profile?.properties).toEqual({ plan: 'free', seats: 3, tags: ['a', 'b'] });
      expect(profile?.createdAtMs).toBe(T0);
      expect(profile?.updatedAtMs).toBe(T0 + 4);
      const group = await store.getProfile({
        projectId: 'prj_1',
        groupKey: 'company',
        profileId: 'acme',
      });
      expect(group?.properties).toEqual({ name: 'Acme' });
      expect(
        await store.getProfile({ projectId: 'prj_1', groupKey: 'company', profileId: 'u_1' }),
      ).toBeNull();

      await store.commit(batch({ profileUpdates: [update('u_1', '$delete', null, T0 + 6)] }));
      expect(
        await store.getProfile({ projectId: 'prj_1', groupKey: '', profileId: 'u_1' }),
      ).toBeNull();
    });

    it('keeps the first identity link of an alias', async () => {
      const link = (aliasId: string, canonicalId: string, timeMs: number) => ({
        projectId: 'prj_1',
        aliasId,
        canonicalId,
        timeMs,
      });
      await store.commit(batch({ identityLinks: [link('d_1', 'u_1', T0)] }));
      await store.commit(
        batch({ identityLinks: [link('d_1', 'u_2', T0 + 1), link('d_2', 'u_2', T0 + 2)] }),
      );
      expect(await store.listIdentityLinks('prj_1')).toEqual([
        link('d_1', 'u_1', T0),
        link('d_2', 'u_2', T0 + 2),
      ]);
      expect(await store.listIdentityLinks('prj_2')).toEqual([]);
    });

    it('erases a subject: its events, those of its linked devices, its profile and links', async () => {
      await store.commit(
        batch({
          events: [
            eventFixture(0, { distinctId: 'd_9', deviceId: 'd_9', userId: null }),
            eventFixture(1, { distinctId: 'u_9', deviceId: 'd_9', userId: 'u_9' }),
            eventFixture(2, { distinctId: 'u_8', deviceId: 'd_8', userId: 'u_8' }),
          ],
          identityLinks: [{ projectId: 'prj_1', aliasId: 'd_9', canonicalId: 'u_9', timeMs: T0 }],
          profileUpdates: [
            update('u_9', '$set', { plan: 'pro' }, T0),
            update('u_8', '$set', { plan: 'free' }, T0),
          ],
        }),
      );
      expect(await store.eraseSubject('prj_1', 'u_9')).toBe(2);
      expect((await store.listEvents('prj_1')).map((e) => e.distinctId)).toEqual(['u_8']);
      expect(
        await store.getProfile({ projectId: 'prj_1', groupKey: '', profileId: 'u_9' }),
      ).toBeNull();
      expect(
        await store.getProfile({ projectId: 'prj_1', groupKey: '', profileId: 'u_8' }),
      ).not.toBeNull();
      expect(await store.listIdentityLinks('prj_1')).toEqual([]);
    });
  });

  describe('privacy counters', () => {
    it('sums counters per day, property and kind over an inclusive day range', async () => {
      const count = (day: string, property: string, kind: string, n: number) => ({
        projectId: 'prj_1',
        day,
        property,
        kind,
        count: n,
      });
      await store.commit(
        batch({
          privacyCounts: [
            count('2026-01-01', '$email', 'email', 2),
            count('2026-01-02', 'note', 'phone', 1),
            count('2026-01-03', 'note', 'phone', 9),
          ],
        }),
      );
      await store.commit(batch({ privacyCounts: [count('2026-01-01', '$email', 'email', 3)] }));
      expect(await store.privacyCounts('prj_1', '2026-01-01', '2026-01-02')).toEqual([
        count('2026-01-01', '$email', 'email', 5),
        count('2026-01-02', 'note', 'phone', 1),
      ]);
      expect(await store.privacyCounts('prj_2', '2026-01-01', '2026-01-03')).toEqual([]);
    });
  });
}
