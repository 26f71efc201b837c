// events.person_id must always equal the identity rule over the links as they are now: after
// events and links arrive in any order and any batching (a link after its events is a
// retroactive merge), after erasures and after retention. Checked against a resolver written
// here in JavaScript from the rule's words, on random histories.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventRow, IdentityLink } from '../types.js';
import { DuckDbDatabase } from './database.js';
import { DuckDbEventStore } from './event-store.js';

const IDS = ['', 'u1', 'u2', 'd1', 'd2', 'd3', 'x1'];
const DAY = 86_400_000;
const T0 = Date.parse('2025-03-01T00:00:00Z');

const eventArb = fc.record({
  user: fc.constantFrom(null, '', 'u1', 'u2', 'd1'),
  device: fc.constantFrom(null, 'd1', 'd2', 'd3', 'u2'),
  distinct: fc.constantFrom(...IDS),
  day: fc.integer({ min: 0, max: 9 }),
});
const linkArb = fc.record({
  alias: fc.constantFrom(...IDS.slice(1)),
  canonical: fc.constantFrom(...IDS.slice(1)),
});
const opArb = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      events: fc.array(eventArb, { maxLength: 8 }),
      links: fc.array(linkArb, { maxLength: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('erase' as const),
      id: fc.constantFrom(...IDS.slice(1)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('retention' as const),
      day: fc.integer({ min: 0, max: 9 }),
    }),
  },
);

let dir: string;
let db: DuckDbDatabase;
let store: DuckDbEventStore;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-persons-'));
  db = await DuckDbDatabase.open(dir);
  store = new DuckDbEventStore(db);
});
afterAll(async () => {
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The rule, from its words: user id, else device id's link, else distinct id's link, else distinct id. */
function resolve(
  e: { user_id: string | null; device_id: string | null; distinct_id: string },
  links: Map<string, string>,
): string | null {
  if (e.user_id) return e.user_id;
  if (e.device_id !== null && links.has(e.device_id)) return links.get(e.device_id)!;
  if (links.has(e.distinct_id)) return links.get(e.distinct_id)!;
  return e.distinct_id === '' ? null : e.distinct_id;
}

async function mismatches(projectId: string): Promise<string[]> {
  await store.flush();
  return db.read(async (c) => {
    const links = new Map(
      (
        await c.runAndReadAll(
          'SELECT alias_id, canonical_id FROM identity_links WHERE project_id = $1',
          [projectId],
        )
      ).getRowsJS() as [string, string][],
    );
    const rows = (
      await c.runAndReadAll(
        'SELECT user_id, device_id, distinct_id, person_id FROM events WHERE project_id = $1',
        [projectId],
      )
    ).getRowsJS() as [string | null, string | null, string, string | null][];
    const out: string[] = [];
    for (const [user_id, device_id, distinct_id, person] of rows) {
      const want = resolve({ user_id, device_id, distinct_id }, links);
      if (want !== person)
        out.push(`${JSON.stringify([user_id, device_id, distinct_id])}: ${person} ≠ ${want}`);
    }
    return out;
  });
}

let serial = 0;
function row(
  projectId: string,
  e: { user: string | null; device: string | null; distinct: string; day: number },
): EventRow {
  const n = ++serial;
  return {
    projectId,
    dedupKey: BigInt(n),
    timeMs: T0 + e.day * DAY + n,
    event: 'E',
    distinctId: e.distinct,
    deviceId: e.device,
    userId: e.user,
    insertId: `i${n}`,
    browser: null,
    browserVersion: null,
    os: null,
    deviceType: null,
    countryCode: null,
    region: null,
    city: null,
    referringDomain: null,
    currentUrl: null,
    utmSource: null,
    utmMedium: null,
    utmCampaign: null,
    utmContent: null,
    utmTerm: null,
    lib: 'web',
    properties: {},
    receivedAtMs: 0,
  };
}

describe('events.person_id (the resolved person kept by the store)', () => {
  it('a link that arrives after the events merges them (retroactive merge)', async () => {
    const p = 'prj_persons_late_link';
    await store.commit({
      events: [row(p, { user: null, device: 'd1', distinct: 'd1', day: 0 })],
      identityLinks: [],
      profileUpdates: [],
      privacyCounts: [],
    });
    await store.commit({
      events: [],
      identityLinks: [{ projectId: p, aliasId: 'd1', canonicalId: 'u1', timeMs: T0 }],
      profileUpdates: [],
      privacyCounts: [],
    });
    await store.flush();
    const persons = await db.read(async (c) =>
      (
        await c.runAndReadAll('SELECT person_id FROM events WHERE project_id = $1', [p])
      ).getRowsJS(),
    );
    expect(persons).toEqual([['u1']]);
    expect(await mismatches(p)).toEqual([]);
  });

  it('equals the rule over the current links after any history of commits, erasures and retention', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 8 }), async (ops) => {
        const p = `prj_persons_${++run}`;
        for (const op of ops) {
          if (op.kind === 'commit') {
            const links: IdentityLink[] = op.links.map((l) => ({
              projectId: p,
              aliasId: l.alias,
              canonicalId: l.canonical,
              timeMs: T0,
            }));
            await store.commit({
              events: op.events.map((e) => row(p, e)),
              identityLinks: links,
              profileUpdates: [],
              privacyCounts: [],
            });
          } else if (op.kind === 'erase') {
            await store.eraseSubject(p, op.id);
          } else {
            await store.deleteEventsBefore(p, T0 + op.day * DAY);
          }
          expect(await mismatches(p)).toEqual([]);
        }
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});
