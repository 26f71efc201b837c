// Demo data: deterministic by seed, forty event names, pseudonymous ids, a journey with drop-off.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbDatabase } from './database.js';
import { DEMO_EVENTS, generateDemoData, projectEventPages } from './demo-data.js';
import { DuckDbEventStore } from './event-store.js';

let dir: string;
let db: DuckDbDatabase;
const pseudonymise = (id: string) =>
  'u_' + createHash('sha256').update(id).digest('base64url').slice(0, 22);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-demo-'));
  db = await DuckDbDatabase.open(dir);
});
afterAll(async () => {
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const digest = (projectId: string) =>
  db.read(async (c) => {
    const r = await c.runAndReadAll(
      `SELECT count(*), count(DISTINCT event), sum(hash(event, distinct_id, epoch_ms(time), properties)) FROM events WHERE project_id = $1`,
      [projectId],
    );
    return r.getRowsJS()[0]!.map(String).join('/');
  });

describe('generateDemoData', () => {
  it('is deterministic by seed', async () => {
    const options = { events: 30_000, endDay: '2025-06-30', pseudonymise };
    const a = await generateDemoData(db, { ...options, projectId: 'a', seed: 1 });
    await generateDemoData(db, { ...options, projectId: 'b', seed: 1 });
    await generateDemoData(db, { ...options, projectId: 'c', seed: 2 });
    expect(await digest('a')).toBe(await digest('b'));
    expect(await digest('a')).not.toBe(await digest('c'));
    expect(a.events).toBeGreaterThan(25_000);
    expect(a.events).toBeLessThan(35_000);
    expect(a.fromDay).toBe('2025-04-02');
  });

  it('writes realistic, pseudonymous rows', async () => {
    const row = await db.read(async (c) => {
      const r = await c.runAndReadAll(
        `SELECT count(DISTINCT event), min(time)::DATE::VARCHAR, max(time)::DATE::VARCHAR,
                bool_and(distinct_id LIKE 'u\\_%' ESCAPE '\\'), count(DISTINCT browser), count(DISTINCT country_code),
                count(*) FILTER (event = 'Signed Up'), count(*) FILTER (event = 'Project Created'),
                count(*) FILTER (event = 'Purchase Completed')
           FROM events WHERE project_id = 'a'`,
      );
      return r.getRowsJS()[0]!;
    });
    expect(Number(row[0])).toBe(DEMO_EVENTS.length);
    expect(DEMO_EVENTS).toHaveLength(40);
    expect(row[1]).toBe('2025-04-02');
    expect(row[2]).toBe('2025-06-30');
    expect(row[3]).toBe(true);
    expect(Number(row[4])).toBeGreaterThan(3);
    expect(Number(row[5])).toBeGreaterThan(10);
    const [signed, created, bought] = [row[6], row[7], row[8]].map(Number);
    expect(signed!).toBeGreaterThan(created!);
    expect(created!).toBeGreaterThan(bought!);
    expect(bought!).toBeGreaterThan(0);
  });

  it('reads a project back page by page exactly as the EventStore port lists it', async () => {
    const listed = await new DuckDbEventStore(db).listEvents('a');
    const pages: number[] = [];
    const read = [];
    for await (const page of projectEventPages(db, 'a', 7_000)) {
      pages.push(page.length);
      read.push(...page);
    }
    expect(listed.length).toBeGreaterThan(25_000);
    expect(pages.slice(0, -1).every((n) => n === 7_000)).toBe(true);
    expect(read).toEqual(listed);
  });
});
