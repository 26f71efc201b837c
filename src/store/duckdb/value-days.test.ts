// Unique users broken down by a standard column answer the same from the per-value rollups
// (`value_days`, `person_value_days`: rollups.ts, compile.ts `compileValueDaysSeries`) as from the
// events, and both as the reference evaluator (query/reference.ts) says. The generator hunts for what the rollups could get wrong: values ranked by events while
// their persons say otherwise (many events without a person, a value seen on fewer days), a value
// seen only on events without a person (its segment still has a row, of 0 users), '' beside an
// unset value, ties in the ranking, SDK bookkeeping events, and buckets of days, weeks and months
// in a zone with a half-hour offset. rollups.test.ts holds the tables to the events; this holds
// the answers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storyEvent } from '../../query/differential-generators.js';
import { QueryEngine } from '../../query/engine.js';
import { parseQuery } from '../../query/model.js';
import { referenceAnswer } from '../../query/reference.js';
import type { EventRow } from '../types.js';
import { DuckDbDatabase } from './database.js';
import { DUCKDB_DIALECT } from './dialect.js';
import { DuckDbEventStore } from './event-store.js';
import { DuckDbQueryExecutor } from './query-executor.js';

const DAY = 86_400_000;
const T0 = Date.parse('2025-03-24T00:00:00Z');
const TIMEZONE = 'Asia/Kolkata';

let dir: string;
let db: DuckDbDatabase;
let store: DuckDbEventStore;
let executor: DuckDbQueryExecutor;
let fromEvents: QueryEngine;
let fromRollups: QueryEngine;
/** The statements the rollups engine ran (to know that it read the tables). */
let texts: string[] = [];
let project = 0;
let key = 1n;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-value-days-'));
  db = await DuckDbDatabase.open(dir);
  store = new DuckDbEventStore(db);
  executor = await DuckDbQueryExecutor.open(db);
  const base = { dialect: DUCKDB_DIALECT, audit: { record: () => undefined } };
  fromEvents = new QueryEngine({ ...base, executor });
  fromRollups = new QueryEngine({
    ...base,
    executor: {
      run: (statement, options) => {
        texts.push(statement.text);
        return executor.run(statement, options);
      },
    },
    rollups: db.rollups,
  });
});

afterAll(async () => {
  await executor.close();
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const eventArb = fc.record({
  // A week and a half: persons often come back the same day with another value.
  day: fc.integer({ min: 0, max: 10 }),
  minute: fc.integer({ min: 0, max: 24 * 60 - 1 }),
  // No id at all (no person) about as often as any one user.
  who: fc.constantFrom(null, null, 'u1', 'u2', 'u3'),
  event: fc.constantFrom('Viewed', 'Viewed', 'Bought', '$identify'),
  browser: fc.constantFrom(null, '', 'A', 'B', 'C'),
  os: fc.constantFrom(null, 'iOS', 'Android'),
  country: fc.constantFrom(null, 'FR', 'US'),
  // The same person again a minute later with another browser: a person under two values of a
  // day, which "other" must count once.
  again: fc.option(fc.constantFrom('', 'A', 'B', 'C'), { nil: null }),
});

const queryArb = fc.record({
  breakdown: fc.constantFrom('$browser', '$browser', '$os', 'mp_country_code'),
  breakdown_limit: fc.integer({ min: 1, max: 4 }),
  interval: fc.constantFrom('day', 'day', 'week', 'month'),
  first: fc.integer({ min: 0, max: 10 }),
  days: fc.integer({ min: 0, max: 10 }),
  compare: fc.boolean(),
});

const dateOf = (day: number): string => new Date(T0 + day * DAY).toISOString().slice(0, 10);

describe('unique users by a standard column', () => {
  it('answer the same from the per-value rollups as from the events, and as the reference', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(eventArb, { minLength: 1, maxLength: 40, size: 'max' }),
        fc.array(queryArb, { minLength: 1, maxLength: 4 }),
        async (events, queries) => {
          const projectId = `prj_value_days_${++project}`;
          const rows: EventRow[] = events.flatMap((e, i) =>
            [e.browser, ...(e.again === null ? [] : [e.again])].map((browser, k) => ({
              projectId,
              dedupKey: key++,
              ...storyEvent(
                T0 + e.day * DAY + (e.minute + k) * 60_000,
                e.event,
                { user: e.who, device: null },
                `i${i}.${k}`,
              ),
              browser,
              os: e.os,
              countryCode: e.country,
            })),
          );
          await store.commit({
            events: rows,
            identityLinks: [],
            profileUpdates: [],
            privacyCounts: [],
          });
          await db.rollups.ensure(projectId, TIMEZONE);
          const ref = { id: projectId, timezone: TIMEZONE };
          const principal = { projectId, actor: 'test' };
          for (const q of queries) {
            const query = {
              kind: 'trends',
              from: dateOf(q.first),
              to: dateOf(Math.min(10, q.first + q.days)),
              interval: q.interval,
              series: [{ math: 'unique_users' }],
              breakdown: q.breakdown,
              breakdown_limit: q.breakdown_limit,
              ...(q.compare ? { compare: 'previous_period' } : {}),
            };
            texts = [];
            const want = referenceAnswer(parseQuery(query), {
              projectId,
              timezone: TIMEZONE,
              events: rows,
              links: [],
              propertySampleSize: 100,
            });
            expect(await fromEvents.run(principal, ref, query)).toEqual(want);
            expect(await fromRollups.run(principal, ref, query)).toEqual(want);
            expect(texts.some((t) => t.includes('person_value_days'))).toBe(true);
          }
        },
      ),
      {
        numRuns: 40,
        // Replay with FC_SEED (printed on failure).
        ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
      },
    );
  }, 300_000);
});
