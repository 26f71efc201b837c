// Hand-built funnel and retention shapes with hand-counted answers, on a real DuckDB file, sized
// past DuckDB's small-input switches (an ASOF join of fewer than 64 left rows runs as a nested
// loop, whose NULL handling differs from the real operator's). Issue 12: a user who never reached
// step 2 was credited with step 3, even with a step-3 event before their entry.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbDatabase, DuckDbEventStore } from '../store/duckdb/index.js';
import { DUCKDB_DIALECT } from '../store/duckdb/dialect.js';
import { DuckDbQueryExecutor } from '../store/duckdb/query-executor.js';
import type { EventRow } from '../store/types.js';
import { QueryEngine } from './engine.js';
import { parseQuery } from './model.js';
import { referenceAnswer } from './reference.js';

const PROJECT = 'prj_shapes';
const BASE = Date.parse('2025-03-10T00:00:00Z');
const HOUR = 3_600_000;
const USERS = Number(process.env.SHAPE_USERS ?? 1000);

let db: DuckDbDatabase;
let executor: DuckDbQueryExecutor;
let engine: QueryEngine;
let dir: string;
const events: EventRow[] = [];
let key = 1n;

function event(user: string, name: string, atMs: number): EventRow {
  return {
    projectId: PROJECT,
    dedupKey: key++,
    timeMs: atMs,
    event: name,
    distinctId: user,
    deviceId: null,
    userId: user,
    insertId: `i${key}`,
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

beforeAll(async () => {
  // USERS users of each shape (enough that DuckDB plans its real ASOF operator): some buy before
  // they sign up and never view (a purchase before sign-up must not count); some sign up and buy
  // without viewing (the middle step is missing); some go through all three; some sign up, view,
  // then buy after the window.
  for (let i = 0; i < USERS; i++) {
    events.push(event(`early${i}`, 'Purchase', BASE + 1 * HOUR));
    events.push(event(`early${i}`, 'Sign up', BASE + 2 * HOUR));
    events.push(event(`skip${i}`, 'Sign up', BASE + 2 * HOUR));
    events.push(event(`skip${i}`, 'Purchase', BASE + 3 * HOUR));
    events.push(event(`full${i}`, 'Sign up', BASE + 2 * HOUR));
    events.push(event(`full${i}`, 'View', BASE + 3 * HOUR));
    events.push(event(`full${i}`, 'Purchase', BASE + 4 * HOUR));
    events.push(event(`late${i}`, 'Sign up', BASE + 2 * HOUR));
    events.push(event(`late${i}`, 'View', BASE + 3 * HOUR));
    events.push(event(`late${i}`, 'Purchase', BASE + 30 * HOUR));
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-shapes-'));
  db = await DuckDbDatabase.open(dir);
  await new DuckDbEventStore(db).commit({
    events,
    identityLinks: [],
    profileUpdates: [],
    privacyCounts: [],
  });
  executor = await DuckDbQueryExecutor.open(db);
  engine = new QueryEngine({
    executor,
    dialect: DUCKDB_DIALECT,
    audit: { record: () => undefined },
  });
});

afterAll(async () => {
  await executor.close();
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const ask = (body: Record<string, unknown>) =>
  engine.run({ projectId: PROJECT, actor: 'test' }, { id: PROJECT, timezone: 'UTC' }, body);

describe('funnel shapes at scale (hand-counted)', () => {
  it('credits a step only to users who reached the step before it', async () => {
    const body = {
      kind: 'funnel',
      from: '2025-03-10',
      to: '2025-03-10',
      steps: [{ event: 'Sign up' }, { event: 'View' }, { event: 'Purchase' }],
      window_seconds: 86_400,
    };
    const result = await ask(body);
    expect(result).toMatchObject({
      steps: [
        { event: 'Sign up', count: 4 * USERS },
        { event: 'View', count: 2 * USERS },
        { event: 'Purchase', count: USERS },
      ],
    });
    const reference = referenceAnswer(parseQuery(body), {
      projectId: PROJECT,
      timezone: 'UTC',
      events,
      links: [],
      propertySampleSize: 100,
    });
    expect(result).toEqual(reference);
  });

  it('counts retention returns only after the cohort start, per user', async () => {
    const result = await ask({
      kind: 'retention',
      from: '2025-03-10',
      to: '2025-03-10',
      start_event: 'Sign up',
      return_event: 'Purchase',
      period: 'day',
      periods: 2,
    });
    // Everyone signs up on the 10th; only the late buyers purchase on a later day (the 11th).
    expect(result).toEqual({
      cohorts: [{ start: '2025-03-10', size: 4 * USERS, counts: [4 * USERS, USERS, 0] }],
    });
  });
});
