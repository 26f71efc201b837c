// events.person_id must always equal the identity rule over the links as they are now: after
// events and links arrive in any order and any batching (a link after its events is a
// retroactive merge), after erasures and after retention. Checked against a resolver written
// here in JavaScript from the rule's words, on random histories.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stepBatch } from '../../../test/helpers/store.js';
import type { EventRow, IdentityLink } from '../types.js';
import { DuckDbDatabase } from './database.js';
import { DuckDbEventStore } from './event-store.js';
import { PERSON_LINK_JOINS, PERSON_OF_EVENT } from './persons.js';

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
/** Erasure of one id, and retention up to a day: steps of both random histories. */
const eraseAndRetention = [
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
] as const;
const opArb = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      events: fc.array(eventArb, { maxLength: 8 }),
      links: fc.array(linkArb, { maxLength: 3 }),
    }),
  },
  ...eraseAndRetention,
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

// The upkeep is incremental (only the rows of new events and of aliases that gained a link are
// written); here the column is compared with the rule recomputed over the whole table by DuckDB
// itself (the same SQL a full refresh would run), after every step of random histories that
// interleave segments of many batches (the server's path), batches loaded alone (the
// importer's), links that arrive before, with and after their events (retroactive merges), links
// to an alias already linked (ignored: the first wins), re-sent events (dedup), erasures and
// retention; on a plain store (DuckDB's file reader) and an encrypted one (lines decrypted in
// memory and read from a staging table).
describe('events.person_id kept incrementally equals a full recompute', () => {
  const batchArb = fc.record({
    events: fc.array(
      fc.record({
        user: fc.constantFrom(null, '', 'u1', 'u2', 'd1'),
        device: fc.constantFrom(null, 'd1', 'd2', 'd3', 'u2'),
        distinct: fc.constantFrom(...IDS),
        day: fc.integer({ min: 0, max: 9 }),
        // Re-sends the event of an earlier batch (same dedup key) with these identifiers.
        resend: fc.boolean(),
      }),
      { maxLength: 10 },
    ),
    links: fc.array(linkArb, { maxLength: 4 }),
  });
  const stepArb = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('append' as const), batch: batchArb }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('commit' as const), batch: batchArb }) },
    { weight: 2, arbitrary: fc.constant({ kind: 'flush' as const }) },
    ...eraseAndRetention,
  );

  /** Rows whose stored person differs from the rule over the links as they are now. */
  async function differences(on: DuckDbDatabase, projectId: string): Promise<unknown[][]> {
    return on.read(async (c) =>
      (
        await c.runAndReadAll(
          `SELECT e.user_id, e.device_id, e.distinct_id, e.person_id, ${PERSON_OF_EVENT} AS full
             FROM events e ${PERSON_LINK_JOINS}
            WHERE e.project_id = $1 AND e.person_id IS DISTINCT FROM ${PERSON_OF_EVENT}`,
          [projectId],
        )
      ).getRowsJS(),
    );
  }

  for (const encrypted of [false, true]) {
    it(`after any interleaving of batches, late links, erasures and retention (${encrypted ? 'encrypted' : 'plain'} store)`, async () => {
      const at = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-persons-inc-'));
      const keys = { log: Buffer.alloc(32, 7), db: Buffer.alloc(32, 9) };
      const opened = await DuckDbDatabase.open(at, {
        // A segment holds every batch appended until a flush or a commit, as under load.
        ingest: { maxDelayMs: 60_000 },
        ...(encrypted
          ? {
              atRest: {
                logKey: keys.log,
                databaseKey: keys.db,
                mode: 'on' as const,
                dangerouslyAllowWeakCrypto: true,
              },
            }
          : {}),
      });
      const events = new DuckDbEventStore(opened);
      let run = 0;
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 10 }), async (steps) => {
            const p = `prj_persons_inc_${++run}`;
            const sent: { dedupKey: bigint; timeMs: number }[] = [];
            for (const step of steps) {
              if (step.kind === 'append' || step.kind === 'commit') {
                const batch = stepBatch(p, step.batch, sent, row, T0);
                await (step.kind === 'append' ? events.append(batch) : events.commit(batch));
              } else if (step.kind === 'flush') {
                await events.flush();
              } else if (step.kind === 'erase') {
                await events.eraseSubject(p, step.id);
              } else {
                await events.deleteEventsBefore(p, T0 + step.day * DAY);
              }
              if (step.kind !== 'append') expect(await differences(opened, p)).toEqual([]);
            }
            await events.flush();
            expect(await differences(opened, p)).toEqual([]);
          }),
          { numRuns: encrypted ? 25 : 50 },
        );
      } finally {
        await opened.close();
        fs.rmSync(at, { recursive: true, force: true });
      }
    }, 240_000);
  }
});
