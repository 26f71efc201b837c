// Differential property tests for the funnel options of issue 12: exclusion steps, any-order
// steps, a property held constant, conversion over time and time-to-convert quantiles. Random
// datasets and, above all, "stories" built around the funnel asked so that the shapes random data
// rarely makes come every run: later steps before the entry, missing middle steps, steps in
// reverse order, repeated entries, ties, events exactly at the window's end and 1 ms past it,
// excluded events exactly on a step's instant, 1 ms inside and outside, before the entry and
// after the last step, held values that change mid-funnel or are not set, identity merges
// mid-funnel, entries on the range's first and last local millisecond and on offset changes, and
// attempts entered at one instant that only held values tell apart (the tie rule decides whose
// times count; random data gets such twins too). The stories are differential-generators.ts's
// funnelStory, which the ClickHouse differential test runs as well. The SQL engine on a real
// DuckDB file (both DuckDB plan shapes) must answer exactly what the plain-TypeScript reference
// answers. Reproduce a failure with FC_SEED=<seed printed below>.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../shared/json.js';
import { DuckDbDatabase, DuckDbEventStore } from '../store/duckdb/index.js';
import { DUCKDB_DIALECT } from '../store/duckdb/dialect.js';
import { DuckDbQueryExecutor } from '../store/duckdb/query-executor.js';
import type { EventRow, IdentityLink, ProfileUpdateRow, StoredProfile } from '../store/types.js';
import {
  RUNS,
  SAMPLE_SIZE,
  SEED,
  funnelStory,
  funnelWithOptions,
  storyEvent,
  withFunnelTwins,
  type Dataset,
} from './differential-generators.js';
import { QueryEngine } from './engine.js';
import { parseQuery } from './model.js';
import { referenceAnswer, unknownProperties } from './reference.js';

let db: DuckDbDatabase;
let store: DuckDbEventStore;
let executors: DuckDbQueryExecutor[] = [];
let engines: QueryEngine[] = [];
let dir: string;
let nextProject = 0;
let nextKey = 1n;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-diff-funnels-'));
  db = await DuckDbDatabase.open(dir);
  store = new DuckDbEventStore(db);
  executors = [
    await DuckDbQueryExecutor.open(db),
    await DuckDbQueryExecutor.open(db, { planAsAtScale: true }),
  ];
  engines = executors.map(
    (executor) =>
      new QueryEngine({
        executor,
        dialect: DUCKDB_DIALECT,
        audit: { record: () => undefined },
        limits: { propertySampleSize: SAMPLE_SIZE },
      }),
  );
  console.info(`funnel differential tests: FC_SEED=${SEED}`);
});

afterAll(async () => {
  for (const executor of executors) await executor.close();
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Stores a dataset under a fresh project id (plus noise in another project). */
async function load(d: Dataset): Promise<{
  projectId: string;
  events: EventRow[];
  links: IdentityLink[];
  profiles: StoredProfile[];
}> {
  const projectId = `prj_fun_${nextProject++}`;
  const noiseId = `${projectId}_noise`;
  const events: EventRow[] = [];
  for (const e of d.events) {
    events.push({ ...e, projectId, dedupKey: nextKey++ });
    if (events.length % 4 === 0) events.push({ ...e, projectId: noiseId, dedupKey: nextKey++ });
  }
  const links: IdentityLink[] = d.links.flatMap((l) => [
    { projectId, ...l, timeMs: 0 },
    { projectId: noiseId, aliasId: l.aliasId, canonicalId: 'u9', timeMs: 0 },
  ]);
  const profileUpdates: ProfileUpdateRow[] = d.profiles.map((p) => ({
    projectId,
    ...p,
    op: '$set' as const,
    value: p.properties,
    timeMs: 0,
    ignoreTime: false,
  }));
  await store.commit({ events, identityLinks: links, profileUpdates, privacyCounts: [] });
  const stored: StoredProfile[] = [];
  for (const p of d.profiles) {
    const got = await store.getProfile({ projectId, groupKey: p.groupKey, profileId: p.profileId });
    if (got) stored.push(got);
  }
  return { projectId, events, links, profiles: stored };
}

const json = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

async function agree(d: Dataset, body: Record<string, unknown>): Promise<void> {
  const { projectId, events, links, profiles } = await load(d);
  const data = {
    projectId,
    timezone: d.timezone,
    events,
    links,
    profiles,
    propertySampleSize: SAMPLE_SIZE,
  };
  const query = parseQuery(body);
  const unknown = unknownProperties(query, data);
  for (const engine of engines) {
    const run = engine.run(
      { projectId, actor: 'test' },
      { id: projectId, timezone: d.timezone },
      body,
    );
    if (unknown.length > 0) {
      const error = await run.then(
        () => null,
        (e: unknown) => e as { code?: string },
      );
      expect(error?.code).toBe('QUERY_INVALID');
      continue;
    }
    expect(json(await run)).toEqual(json(referenceAnswer(query, data)));
  }
}

describe(`funnels: SQL engine = reference evaluator (FC_SEED=${SEED})`, () => {
  const params = (runs: number) => ({
    seed: SEED,
    numRuns: Math.round(runs * RUNS),
    interruptAfterTimeLimit: 120_000,
    markInterruptAsFailure: true,
    ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}),
  });

  it('stories: exclusions, any order, held values, over time at the edges', async () => {
    await fc.assert(
      fc.asyncProperty(funnelStory, (st) => agree(st.dataset, st.funnel)),
      params(100),
    );
  }, 300_000);

  it('random data, every option', async () => {
    await fc.assert(
      fc.asyncProperty(withFunnelTwins(funnelWithOptions), ([d, q]) => agree(d, q)),
      params(60),
    );
  }, 300_000);
});

/** Hand-counted: the semantics the README states, on one small dataset. */
describe('funnels: hand-counted cases', () => {
  const T = Date.parse('2024-03-05T10:00:00Z');
  const MIN = 60_000;
  let nextHand = 0;
  const ev = (
    minutes: number,
    event: string,
    user: string,
    extra: Partial<Dataset['events'][number]> = {},
  ) => ({
    ...storyEvent(T + minutes * MIN, event, { user, device: null }, `h${nextHand++}`),
    ...extra,
  });
  const base = {
    kind: 'funnel',
    from: '2024-03-05',
    to: '2024-03-05',
    steps: [{ event: 'A' }, { event: 'B' }, { event: 'C' }],
    window_seconds: 3600,
  };
  const d: Dataset = {
    timezone: 'UTC',
    baseDay: '2024-03-04',
    links: [],
    profiles: [] as { groupKey: string; profileId: string; properties: JsonObject }[],
    events: [
      // u1: A B C in order, X between B and C.
      ev(0, 'A', 'u1', { browser: 'Chrome' }),
      ev(10, 'B', 'u1', { browser: 'Chrome' }),
      ev(15, 'X', 'u1'),
      ev(20, 'C', 'u1', { browser: 'Firefox' }),
      // u2: A C B (reverse order), X exactly at B's instant.
      ev(0, 'A', 'u2', { browser: 'Chrome' }),
      ev(5, 'C', 'u2', { browser: 'Chrome' }),
      ev(30, 'B', 'u2', { browser: 'Chrome' }),
      ev(30, 'X', 'u2'),
      // u3: C before the entry, then A B.
      ev(-5, 'C', 'u3'),
      ev(0, 'A', 'u3'),
      ev(50, 'B', 'u3'),
    ],
  };
  const counts = async (extra: Record<string, unknown>): Promise<number[]> => {
    const { projectId } = await load(d);
    const got = (await engines[1]!.run(
      { projectId, actor: 'test' },
      { id: projectId, timezone: 'UTC' },
      { ...base, ...extra },
    )) as { steps: { count: number }[] };
    return got.steps.map((s) => s.count);
  };

  it('counts each option as documented', async () => {
    expect(await counts({})).toEqual([3, 3, 1]);
    expect(await counts({ order: 'any' })).toEqual([3, 3, 2]);
    // X strictly between B and C disqualifies u1's only attempt; at B's instant (u2) it does not.
    // u2 never reached C and its X is at B's very instant (not after it): it keeps its attempt.
    expect(await counts({ exclusions: [{ event: 'X', after_step: 1, before_step: 2 }] })).toEqual([
      2, 2, 0,
    ]);
    expect(
      await counts({ order: 'any', exclusions: [{ event: 'X', after_step: 1, before_step: 2 }] }),
    ).toEqual([2, 2, 1]);
    // Held browser: u1's C is Firefox; u3 has no browser on any step (not set = not set).
    expect(await counts({ hold_constant: ['$browser'] })).toEqual([3, 3, 0]);
  });

  it('between attempts entered at one instant, takes the one earliest at step 2, then 3', async () => {
    // u1 enters twice at 0: on Chrome (B at 50, C at 55) and without a browser (B at 5, C at 58).
    // Both reach C; with $browser held the browserless attempt counts (its B came first), though
    // its C came later. u2: the same pair, but B at one instant; C decides (Chrome's at 20).
    const tied: Dataset = {
      ...d,
      events: [
        ev(0, 'A', 'u1', { browser: 'Chrome' }),
        ev(50, 'B', 'u1', { browser: 'Chrome' }),
        ev(55, 'C', 'u1', { browser: 'Chrome' }),
        ev(0, 'A', 'u1'),
        ev(5, 'B', 'u1'),
        ev(58, 'C', 'u1'),
        ev(0, 'A', 'u2'),
        ev(10, 'B', 'u2'),
        ev(30, 'C', 'u2'),
        ev(0, 'A', 'u2', { browser: 'Chrome' }),
        ev(10, 'B', 'u2', { browser: 'Chrome' }),
        ev(20, 'C', 'u2', { browser: 'Chrome' }),
      ],
    };
    const body = { ...base, hold_constant: ['$browser'] };
    for (const order of ['strict', 'any']) {
      const { projectId } = await load(tied);
      for (const engine of engines) {
        const got = (await engine.run(
          { projectId, actor: 'test' },
          { id: projectId, timezone: 'UTC' },
          { ...body, order },
        )) as { steps: { count: number; time_to_convert: { p25: number; p75: number } | null }[] };
        expect(got.steps.map((s) => s.count)).toEqual([2, 2, 2]);
        // Step 2: u1 5 min, u2 10 min; step 3: u1 53 min, u2 10 min.
        expect(got.steps[1]!.time_to_convert).toMatchObject({ p25: 300 + 75, p75: 600 - 75 });
        expect(got.steps[2]!.time_to_convert).toMatchObject({ p25: 600 + 645, p75: 3180 - 645 });
      }
    }
  });
});
