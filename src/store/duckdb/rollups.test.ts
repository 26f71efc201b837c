// `person_days` must always hold exactly the (local day, resolved person) pairs of the project's
// events that "any event" counts, and `event_days` exactly the number of events per (local day,
// event name); `person_value_days` the (column, local day, value or NULL, person) rows of those
// events with a person, and `value_days` their number per (column, local day, value or unset),
// persons or not — with values that are NULL, '' and text, which the tables must keep apart;
// all in the time zone they were built for: after random histories of
// segments of many batches and batches loaded alone, links that arrive before, with and after
// their events (retroactive merges), re-sent events, erasures, retention, a build in the middle
// of the history and a change of time zone. The expected rows are computed here in JavaScript
// from the stored events, with the day from the runtime's tz data (no SQL of the upkeep).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stepBatch } from '../../../test/helpers/store.js';
import { offsetAt } from '../../query/clock.js';
import { storyEvent } from '../../query/differential-generators.js';
import type { EventRow } from '../types.js';
import { DuckDbDatabase } from './database.js';
import { generateDemoData } from './demo-data.js';
import { DuckDbEventStore } from './event-store.js';
import { eventLine } from './log-codec.js';
import { BUILD_LIMITS, spansOf, type BuildPoint } from './rollups.js';

const IDS = ['', 'u1', 'u2', 'd1', 'd2', 'd3', 'x1'];
const DEFAULT_CHUNK = BUILD_LIMITS.personEventDaysChunk;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// A DST change in France (2025-03-30) falls inside the ten days.
const T0 = Date.parse('2025-03-25T00:00:00Z');
// Whole hours, half an hour (India), DST at midnight (Chile), a half-hour DST (Lord Howe).
const ZONES = ['UTC', 'Europe/Paris', 'Asia/Kolkata', 'America/Santiago', 'Australia/Lord_Howe'];

let serial = 0;
function row(
  projectId: string,
  e: {
    user: string | null;
    device: string | null;
    distinct: string;
    day: number;
    minute: number;
    sdk: boolean;
    bought: boolean;
    browser?: string | null;
    os?: string | null;
  },
): EventRow {
  const n = ++serial;
  return {
    projectId,
    dedupKey: BigInt(n),
    ...storyEvent(
      T0 + e.day * DAY + e.minute * 60_000,
      e.sdk ? '$identify' : e.bought ? 'Bought' : 'Viewed',
      { user: e.user, device: e.device },
      `i${n}`,
    ),
    distinctId: e.distinct,
    browser: e.browser ?? null,
    os: e.os ?? null,
    // The other columns the tables keep: one with a value on every event, one never set.
    deviceType: 'Desktop',
  };
}

const batchArb = fc.record({
  events: fc.array(
    fc.record({
      user: fc.constantFrom(null, '', 'u1', 'u2', 'd1'),
      device: fc.constantFrom(null, 'd1', 'd2', 'd3', 'u2'),
      distinct: fc.constantFrom(...IDS),
      // Or day 3 at 10:00 often, so that events of one person and name share an instant across
      // loads (their first values tie: the smallest set one is kept).
      day: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.constant(3)),
      // Any minute of the day: local days start at every hour and half hour of UTC here.
      minute: fc.oneof(fc.integer({ min: 0, max: 24 * 60 - 1 }), fc.constant(600)),
      sdk: fc.boolean(),
      bought: fc.boolean(),
      browser: fc.constantFrom(null, '', 'Chrome', 'Safari'),
      os: fc.constantFrom(null, 'iOS'),
      resend: fc.boolean(),
    }),
    { maxLength: 10 },
  ),
  links: fc.array(
    fc.record({
      alias: fc.constantFrom(...IDS.slice(1)),
      canonical: fc.constantFrom(...IDS.slice(1)),
    }),
    { maxLength: 4 },
  ),
});
const commitArb = fc.record({ kind: fc.constant('commit' as const), batch: batchArb });
const eraseArb = fc.record({ kind: fc.constant('erase' as const), id: fc.constantFrom(...IDS) });
const retentionArb = fc.record({
  kind: fc.constant('retention' as const),
  day: fc.integer({ min: 0, max: 9 }),
  minute: fc.integer({ min: 0, max: 24 * 60 - 1 }),
  // Or up to 3 hours before an event sent earlier (the n-th, modulo), so that the day of the
  // cut keeps events after it — the rows retention must count again — far more often than a
  // random instant does.
  before: fc.option(fc.record({ n: fc.nat(), minutes: fc.integer({ min: 0, max: 180 }) }), {
    nil: null,
  }),
});

/** The instant of a retention step's cut (`sent`: the events sent so far). */
function cutOf(
  step: { day: number; minute: number; before: { n: number; minutes: number } | null },
  sent: readonly { timeMs: number }[],
): number {
  const event = step.before && sent.length > 0 ? sent[step.before.n % sent.length] : undefined;
  return event && step.before
    ? event.timeMs - step.before.minutes * 60_000
    : T0 + step.day * DAY + step.minute * 60_000;
}
const stepArb = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('append' as const), batch: batchArb }) },
  { weight: 3, arbitrary: commitArb },
  { weight: 2, arbitrary: fc.constant({ kind: 'flush' as const }) },
  { weight: 1, arbitrary: eraseArb },
  // Often enough that a cut falls inside a day with events after it (the day kept in part).
  { weight: 2, arbitrary: retentionArb },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('timezone' as const),
      zone: fc.constantFrom(...ZONES),
    }),
  },
);

/**
 * The pairs and counts as the tables hold them, and as the events say they should be, sorted;
 * `held` and `want` are both, pairs first.
 */
async function pairs(
  db: DuckDbDatabase,
  projectId: string,
  timezone: string,
): Promise<{ held: string[]; want: string[] }> {
  return db.read(async (c) => {
    const held = (
      await c.runAndReadAll(
        'SELECT day, person_id FROM person_days WHERE project_id = $1 ORDER BY ALL',
        [projectId],
      )
    ).getRowsJS() as [number, string][];
    const counts = (
      await c.runAndReadAll(
        'SELECT day, event, n FROM event_days WHERE project_id = $1 ORDER BY ALL',
        [projectId],
      )
    ).getRowsJS() as [number, string, bigint][];
    const valueRows = (
      await c.runAndReadAll(
        'SELECT col, day, value, person_id FROM person_value_days WHERE project_id = $1',
        [projectId],
      )
    ).getRowsJS() as [string, number, string | null, string][];
    const valueCounts = (
      await c.runAndReadAll(
        'SELECT col, day, is_set, value, n FROM value_days WHERE project_id = $1',
        [projectId],
      )
    ).getRowsJS() as [string, number, boolean, string, bigint][];
    const firsts = (
      await c.runAndReadAll(
        `SELECT event, day, person_id, first_ms, browser, os, device_type, country_code
           FROM person_event_days WHERE project_id = $1`,
        [projectId],
      )
    ).getRowsJS() as [string, number, string, bigint, ...(string | null)[]][];
    const events = (
      await c.runAndReadAll(
        `SELECT epoch_ms(time), event, person_id, browser, os, device_type, country_code
           FROM events WHERE project_id = $1`,
        [projectId],
      )
    ).getRowsJS() as [bigint, string, string | null, ...(string | null)[]][];
    const want = new Set<string>();
    const perDay = new Map<string, number>();
    const wantValues = new Set<string>();
    const perValue = new Map<string, number>();
    // Per (event, day, person): the first instant and, per column, the values at it.
    const wantFirsts = new Map<string, { ms: number; values: (string | null)[][] }>();
    // A value as text: NULL apart from every string ('' included).
    const shown = (v: string | null): string => (v === null ? 'NULL' : JSON.stringify(v));
    for (const [time, event, person, ...values] of events) {
      const ms = Number(time);
      const day = Math.floor((ms + offsetAt(timezone, ms)) / DAY);
      if (person !== null) {
        const k = `${event}|${day}|${person}`;
        const held = wantFirsts.get(k);
        if (!held || ms < held.ms) wantFirsts.set(k, { ms, values: values.map((v) => [v]) });
        else if (ms === held.ms) values.forEach((v, i) => held.values[i]!.push(v));
      }
      // The same order as the table's (day, then event name; names here are ASCII).
      const key = `${String(day).padStart(8, '0')}|${event}`;
      perDay.set(key, (perDay.get(key) ?? 0) + 1);
      if (event === '$identify') continue;
      for (const [i, col] of ['browser', 'os', 'device_type', 'country_code'].entries()) {
        const v = `${col}|${day}|${shown(values[i] ?? null)}`;
        perValue.set(v, (perValue.get(v) ?? 0) + 1);
        if (person !== null) wantValues.add(`${v}|${person}`);
      }
      if (person === null) continue;
      want.add(`${day}|${person}`);
    }
    return {
      held: [
        ...held.map(([day, person]) => `${day}|${person}`),
        ...counts.map(([day, event, n]) => `${String(day).padStart(8, '0')}|${event} ${n}`),
        ...valueRows.map(([col, day, v, person]) => `${col}|${day}|${shown(v)}|${person}`).sort(),
        ...valueCounts
          .map(([col, day, set, v, n]) => `${col}|${day}|${shown(set ? v : null)} ${n}`)
          .sort(),
        ...firsts
          .map(
            ([event, day, person, ms, ...values]) =>
              `${event}|${day}|${person} ${ms} ${values.map(shown).join(' ')}`,
          )
          .sort(),
      ],
      want: [
        ...[...want].sort(),
        ...[...perDay.keys()].sort().map((key) => `${key} ${perDay.get(key)}`),
        ...[...wantValues].sort(),
        ...[...perValue.keys()].map((key) => `${key} ${perValue.get(key)}`).sort(),
        ...[...wantFirsts]
          .map(([key, { ms, values }]) => {
            // Of the values at the first instant, the smallest set one (by code unit: the
            // values here are ASCII, where that is byte order), else unset.
            const first = values.map(
              (vs) => vs.filter((v): v is string => v !== null).sort()[0] ?? null,
            );
            return `${key} ${ms} ${first.map(shown).join(' ')}`;
          })
          .sort(),
      ],
    };
  });
}

/**
 * Starts the project's build and resolves once it is held at `point` (or has ended): writes from
 * then on are ones it did not see, until `release`; `done` is the build.
 */
async function heldBuild(
  db: DuckDbDatabase,
  projectId: string,
  zone: string,
  point: BuildPoint,
): Promise<{ release: () => void; done: Promise<void> }> {
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let reached = (): void => undefined;
  const atPoint = new Promise<void>((resolve) => (reached = resolve));
  const done = db.rollups.ensure(projectId, zone, async (at) => {
    if (at !== point) return;
    reached();
    await gate;
  });
  await Promise.race([atPoint, done]);
  return { release, done };
}

describe('spansOf (the build of person_event_days, a few days at a time)', () => {
  it('cuts consecutive days into spans of at most so many events, a larger day alone', () => {
    const days: [number, number][] = [
      [10, 3],
      [11, 4],
      [12, 9],
      [14, 1],
      [15, 2],
      [16, 5],
    ];
    expect(spansOf(days, 7)).toEqual([
      [10, 11],
      [12, 12],
      [14, 15],
      [16, 16],
    ]);
    expect(spansOf(days, 100)).toEqual([[10, 16]]);
    expect(spansOf([], 5)).toEqual([]);
  });
});

describe('the per-day rollups kept incrementally equal the pairs and counts of the events', () => {
  for (const encrypted of [false, true]) {
    it(`after any history of loads, merges, erasures, retention and time zone changes (${encrypted ? 'encrypted' : 'plain'} store)`, async () => {
      const at = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-rollups-'));
      const opened = await DuckDbDatabase.open(at, {
        // A segment holds every batch appended until a flush or a commit, as under load.
        ingest: { maxDelayMs: 60_000 },
        ...(encrypted
          ? {
              atRest: {
                logKey: Buffer.alloc(32, 7),
                databaseKey: Buffer.alloc(32, 9),
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
          fc.asyncProperty(
            fc.array(stepArb, { minLength: 1, maxLength: 10 }),
            fc.nat(10),
            fc.constantFrom(...ZONES),
            // The build is held at a point for that many steps (0: it runs alone): the writes
            // meanwhile are what its catch-up must replay (or, for some, build again).
            fc.record({
              steps: fc.nat(3),
              at: fc.constantFrom<BuildPoint>('snapshot', 'inserted'),
            }),
            // Events per statement of a build: small, so that its spans of days end inside the
            // data (a span of one day larger than it included).
            fc.integer({ min: 1, max: 40 }),
            async (steps, buildAt, firstZone, hold, chunk) => {
              BUILD_LIMITS.personEventDaysChunk = chunk;
              const p = `prj_person_days_${++run}`;
              const sent: { dedupKey: bigint; timeMs: number }[] = [];
              let zone: string | null = null;
              let held: { release: () => void; done: Promise<void>; until: number } | null = null;
              const check = async (): Promise<void> => {
                if (zone === null || held) return;
                const { held: rows, want } = await pairs(opened, p, zone);
                // Equal as lists: no pair missing, none stale, none twice.
                expect(rows).toEqual(want);
              };
              const finishBuild = async (): Promise<void> => {
                if (!held) return;
                const { release, done } = held;
                held = null;
                release();
                await done;
              };
              for (const [i, step] of steps.entries()) {
                if (i === buildAt) {
                  zone = firstZone;
                  await events.flush();
                  if (hold.steps === 0) {
                    await opened.rollups.ensure(p, zone);
                  } else {
                    // Its snapshot is taken: every step from here on is a write it did not see.
                    const build = await heldBuild(opened, p, zone, hold.at);
                    held = { ...build, until: i + hold.steps - 1 };
                  }
                  await check();
                }
                if (step.kind === 'append' || step.kind === 'commit') {
                  const batch = stepBatch(p, step.batch, sent, row, T0);
                  await (step.kind === 'append' ? events.append(batch) : events.commit(batch));
                } else if (step.kind === 'flush') {
                  await events.flush();
                } else if (step.kind === 'erase') {
                  await events.eraseSubject(p, step.id);
                } else if (step.kind === 'retention') {
                  await events.deleteEventsBefore(p, cutOf(step, sent));
                } else if (zone !== null) {
                  await finishBuild();
                  zone = step.zone;
                  await opened.rollups.ensure(p, zone);
                }
                if (held && i >= held.until) await finishBuild();
                if (step.kind !== 'append') await check();
              }
              await finishBuild();
              await events.flush();
              await check();
            },
          ),
          {
            numRuns: encrypted ? 25 : 40,
            // Replay with FC_SEED (printed on failure); FC_SHRINK=1 shrinks the counterexample.
            ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
            endOnFailure: !process.env.FC_SHRINK,
          },
        );
      } finally {
        BUILD_LIMITS.personEventDaysChunk = DEFAULT_CHUNK;
        await opened.close();
        fs.rmSync(at, { recursive: true, force: true });
      }
    }, 240_000);
  }

  it('a build off the writer catches up with the loads, merges, erasures and retention made while it read', async () => {
    const at = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-rollups-'));
    const opened = await DuckDbDatabase.open(at, { ingest: { maxDelayMs: 60_000 } });
    const events = new DuckDbEventStore(opened);
    // Writes while the build is held: loads (with links that merge persons the snapshot saw)
    // most often, the deletions that make the catch-up build again now and then.
    const duringArb = fc.oneof(
      { weight: 6, arbitrary: commitArb },
      { weight: 1, arbitrary: eraseArb },
      { weight: 1, arbitrary: retentionArb },
    );
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(batchArb, { minLength: 1, maxLength: 4 }),
          fc.array(duringArb, { minLength: 1, maxLength: 4 }),
          fc.constantFrom<BuildPoint>('snapshot', 'inserted'),
          fc.constantFrom(...ZONES),
          async (before, during, point, zone) => {
            const p = `prj_rollups_held_${++run}`;
            const sent: { dedupKey: bigint; timeMs: number }[] = [];
            for (const batch of before) await events.commit(stepBatch(p, batch, sent, row, T0));
            const { release, done: built } = await heldBuild(opened, p, zone, point);
            for (const step of during) {
              if (step.kind === 'commit') {
                await events.commit(stepBatch(p, step.batch, sent, row, T0));
              } else if (step.kind === 'erase') {
                await events.eraseSubject(p, step.id);
              } else {
                await events.deleteEventsBefore(p, cutOf(step, sent));
              }
            }
            expect(opened.rollups.ready(p, zone)).toBe(false);
            release();
            await built;
            const { held, want } = await pairs(opened, p, zone);
            expect(held).toEqual(want);
            // And kept from then on, by the writer's upkeep.
            await events.commit(stepBatch(p, before[0]!, sent, row, T0));
            const after = await pairs(opened, p, zone);
            expect(after.held).toEqual(after.want);
          },
        ),
        {
          numRuns: 40,
          ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
          endOnFailure: !process.env.FC_SHRINK,
        },
      );
    } finally {
      await opened.close();
      fs.rmSync(at, { recursive: true, force: true });
    }
  }, 240_000);

  it('builds person_event_days a day at a time in a zone far behind UTC, late evenings included', async () => {
    const at = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-rollups-'));
    const opened = await DuckDbDatabase.open(at);
    BUILD_LIMITS.personEventDaysChunk = 1;
    try {
      const events = new DuckDbEventStore(opened);
      const p = 'prj_person_event_days_late';
      // 23:30 in Honolulu (UTC−10) is 09:30 UTC the next day: every span of one local day has
      // its event past the UTC end of that day.
      const rows = Array.from({ length: 5 }, (_, day) =>
        row(p, {
          user: 'u1',
          device: null,
          distinct: 'u1',
          day: day + 1,
          minute: 9 * 60 + 30,
          sdk: false,
          bought: false,
        }),
      );
      await events.commit({
        events: rows,
        identityLinks: [],
        profileUpdates: [],
        privacyCounts: [],
      });
      await opened.rollups.ensure(p, 'Pacific/Honolulu');
      const { held, want } = await pairs(opened, p, 'Pacific/Honolulu');
      expect(held.filter((h) => h.startsWith('Viewed|'))).toHaveLength(5);
      expect(held).toEqual(want);
    } finally {
      BUILD_LIMITS.personEventDaysChunk = DEFAULT_CHUNK;
      await opened.close();
      fs.rmSync(at, { recursive: true, force: true });
    }
  });

  it("keeps each person's first event of a name per day as loads bring events at, before and after it", async () => {
    const at = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-rollups-'));
    const opened = await DuckDbDatabase.open(at);
    try {
      const events = new DuckDbEventStore(opened);
      const p = 'prj_person_event_days';
      const load = (minute: number, browser: string | null, os: string | null = null) =>
        events.commit({
          events: [
            row(p, {
              user: 'u1',
              device: null,
              distinct: 'u1',
              day: 1,
              minute,
              sdk: false,
              bought: false,
              browser,
              os,
            }),
          ],
          identityLinks: [],
          profileUpdates: [],
          privacyCounts: [],
        });
      await load(600, 'Safari');
      await opened.rollups.ensure(p, 'UTC');
      const first = async () =>
        (await pairs(opened, p, 'UTC')).held.filter((h) => h.startsWith('Viewed|'));
      const day = Math.floor((T0 + DAY) / DAY);
      const at10 = T0 + DAY + 600 * 60_000;
      // Loads one at a time, each merged with what is held: at the same instant the smallest set
      // value stays (per column: `os` set by a later load at that instant), a later event changes
      // nothing, an earlier one replaces every value, unset ones included.
      await load(600, 'Chrome');
      await load(600, null, 'iOS');
      await load(600, 'Firefox');
      await load(700, '');
      expect(await first()).toEqual([`Viewed|${day}|u1 ${at10} "Chrome" "iOS" "Desktop" NULL`]);
      await load(500, null);
      expect(await first()).toEqual([
        `Viewed|${day}|u1 ${T0 + DAY + 500 * 60_000} NULL NULL "Desktop" NULL`,
      ]);
      const { held, want } = await pairs(opened, p, 'UTC');
      expect(held).toEqual(want);
    } finally {
      await opened.close();
      fs.rmSync(at, { recursive: true, force: true });
    }
  });

  it('a direct load (sillage import on a stopped store) keeps them equal to the events, merges and duplicates included', async () => {
    const at = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-rollups-direct-'));
    const opened = await DuckDbDatabase.open(at);
    try {
      const p = 'prj_rollups_direct';
      const zone = 'Asia/Kolkata';
      const chunk = (rows: EventRow[]): Uint8Array =>
        Buffer.from(rows.map((r) => `${eventLine(r)}\n`).join(''));
      const ev = (e: Partial<Parameters<typeof row>[1]>): EventRow =>
        row(p, {
          user: null,
          device: 'd1',
          distinct: 'd1',
          day: 0,
          minute: 0,
          sdk: false,
          bought: false,
          ...e,
        });
      const load = (rows: EventRow[][], links: [string, string][] = []) =>
        opened.ingest.loadDirect({
          chunks: rows.map(chunk),
          eventRows: rows.reduce((n, r) => n + r.length, 0),
          identityLinks: links.map(([aliasId, canonicalId]) => ({
            projectId: p,
            aliasId,
            canonicalId,
            timeMs: T0,
          })),
          privacyCounts: [],
        });
      // Built first (a project someone queried), then imported into.
      await load([[ev({ user: 'u1', distinct: 'u1', minute: 10 })]]);
      await opened.rollups.ensure(p, zone);
      expect(opened.rollups.ready(p, zone)).toBe(true);
      // Anonymous events of d1 over three days, one of them twice, then d1 linked to u2: its
      // earlier rows change person in the same transaction.
      const anonymous = [0, 1, 2].map((day) =>
        ev({ day, minute: 20 * (day + 1), browser: 'Firefox' }),
      );
      expect(await load([anonymous, [anonymous[1] as EventRow]])).toMatchObject({
        eventsInserted: 3,
        eventsDuplicate: 1,
      });
      expect(
        await load(
          [[ev({ user: 'u2', distinct: 'u2', device: 'd1', day: 3, minute: 5, bought: true })]],
          [['d1', 'u2']],
        ),
      ).toMatchObject({ eventsInserted: 1, eventsDuplicate: 0 });
      const { held, want } = await pairs(opened, p, zone);
      expect(held).toEqual(want);
      expect(held).toContain(`${Math.floor((T0 + 20 * 60_000 + 5.5 * HOUR) / DAY)}|u2`);
    } finally {
      await opened.close();
      fs.rmSync(at, { recursive: true, force: true });
    }
  });

  it('is read only once built for the time zone asked, and built in the background on first ask', async () => {
    const at = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-rollups-'));
    const opened = await DuckDbDatabase.open(at);
    try {
      const events = new DuckDbEventStore(opened);
      const p = 'prj_person_days_ready';
      await events.commit({
        events: [
          row(p, {
            user: 'u1',
            device: null,
            distinct: 'u1',
            day: 0,
            minute: 30,
            sdk: false,
            bought: false,
          }),
        ],
        identityLinks: [],
        profileUpdates: [],
        privacyCounts: [],
      });
      expect(opened.rollups.ready(p, 'Europe/Paris')).toBe(false);
      await opened.rollups.ensure(p, 'Europe/Paris');
      expect(opened.rollups.ready(p, 'Europe/Paris')).toBe(true);
      // Another time zone: not ready until built again for it.
      expect(opened.rollups.ready(p, 'Asia/Kolkata')).toBe(false);
      await opened.rollups.ensure(p, 'Asia/Kolkata');
      expect(opened.rollups.ready(p, 'Asia/Kolkata')).toBe(true);
      const day = Math.floor((T0 + 30 * 60_000 + 5.5 * HOUR) / DAY);
      expect((await pairs(opened, p, 'Asia/Kolkata')).held).toEqual([
        `${day}|u1`,
        `${String(day).padStart(8, '0')}|Viewed 1`,
        `browser|${day}|NULL|u1`,
        `country_code|${day}|NULL|u1`,
        `device_type|${day}|"Desktop"|u1`,
        `os|${day}|NULL|u1`,
        `browser|${day}|NULL 1`,
        `country_code|${day}|NULL 1`,
        `device_type|${day}|"Desktop" 1`,
        `os|${day}|NULL 1`,
        `Viewed|${day}|u1 ${T0 + 30 * 60_000} NULL NULL "Desktop" NULL`,
      ]);
      // What is built is on record: a reopened database still has it.
      await opened.close();
      const again = await DuckDbDatabase.open(at);
      try {
        expect(again.rollups.ready(p, 'Asia/Kolkata')).toBe(true);
      } finally {
        await again.close();
      }
    } finally {
      await opened.close();
      fs.rmSync(at, { recursive: true, force: true });
    }
  });

  it('a build asked as the database closes ends with it, and is made after the next open', async () => {
    const at = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-rollups-'));
    const p = 'prj_rollups_closing';
    const first = await DuckDbDatabase.open(at);
    await new DuckDbEventStore(first).commit(
      stepBatch(
        p,
        {
          events: [
            {
              user: 'u1',
              device: null,
              distinct: 'u1',
              day: 0,
              minute: 30,
              sdk: false,
              bought: false,
              resend: false,
            },
          ],
          links: [],
        },
        [],
        row,
        T0,
      ),
    );
    const built = first.rollups.ensure(p, 'UTC');
    await first.close();
    await expect(built).rejects.toThrow(/closing/);
    const again = await DuckDbDatabase.open(at);
    try {
      expect(again.rollups.ready(p, 'UTC')).toBe(false);
      await again.rollups.ensure(p, 'UTC');
      const { held, want } = await pairs(again, p, 'UTC');
      expect(held).toEqual(want);
      // One pair, one count, per column one person's value and its count, and the first event.
      expect(held.length).toBe(11);
    } finally {
      await again.close();
      fs.rmSync(at, { recursive: true, force: true });
    }
  });

  it('is built again after demo data is written outside the ingest path', async () => {
    const at = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-rollups-'));
    const opened = await DuckDbDatabase.open(at);
    try {
      const p = 'prj_rollups_demo';
      await new DuckDbEventStore(opened).commit({
        events: [
          row(p, {
            user: 'u1',
            device: null,
            distinct: 'u1',
            day: 0,
            minute: 30,
            sdk: false,
            bought: true,
          }),
        ],
        identityLinks: [],
        profileUpdates: [],
        privacyCounts: [],
      });
      await opened.rollups.ensure(p, 'Asia/Kolkata');
      await generateDemoData(opened, {
        projectId: p,
        events: 3_000,
        seed: 1,
        endDay: '2025-04-02',
        pseudonymise: (id) => `u_${id}`,
      });
      const { held, want } = await pairs(opened, p, 'Asia/Kolkata');
      expect(want.length).toBeGreaterThan(100);
      expect(held).toEqual(want);
    } finally {
      await opened.close();
      fs.rmSync(at, { recursive: true, force: true });
    }
  });
});
