// `npm run bench:rollups`: what the per-day rollups' upkeep (store/duckdb/rollups.ts) adds to a
// load. Two projects with the same demo data in one database, one with its rollups built (every
// load into it adds its rows' person days and event counts in the load's transaction), one
// without; loads of the same size go to each in turn, and the medians are printed side by side.
//
// Env: BENCH_EVENTS (demo events per project, default 500,000), BENCH_BATCHES (events per load,
// default "1000,20000"), BENCH_RUNS (loads per size and project, default 7).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { storyEvent } from '../src/query/differential-generators.js';
import { DuckDbDatabase, DuckDbEventStore, generateDemoData } from '../src/store/duckdb/index.js';
import type { CommitBatch } from '../src/store/types.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 500_000);
const BATCHES = (process.env.BENCH_BATCHES ?? '1000,20000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const END_DAY = '2025-06-30';
const LAST_DAY_MS = Date.parse(`${END_DAY}T00:00:00Z`);
const NAMES = ['Page Viewed', 'Signed Up', 'Purchase Completed', '$identify'];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

let serial = 0;
/** `size` new events of `projectId` on the data's last day, some users returning, some new. */
function batch(projectId: string, size: number): CommitBatch {
  const events = Array.from({ length: size }, (_, i) => {
    const n = ++serial;
    return {
      projectId,
      dedupKey: BigInt(n) + (1n << 40n),
      ...storyEvent(
        LAST_DAY_MS + ((n * 7919) % 86_400_000),
        NAMES[i % NAMES.length]!,
        { user: `bench-user-${n % 3000}`, device: null },
        `bench-${n}`,
      ),
    };
  });
  return { events, identityLinks: [], profileUpdates: [], privacyCounts: [] };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-bench-rollups-'));
  const db = await DuckDbDatabase.open(dir);
  const store = new DuckDbEventStore(db);
  try {
    const built = 'prj_rollups_built';
    const plain = 'prj_rollups_not_built';
    for (const projectId of [built, plain]) {
      const t = performance.now();
      const demo = await generateDemoData(db, {
        projectId,
        events: EVENTS,
        seed: 7,
        endDay: END_DAY,
        pseudonymise: (id) => `u_${id}`,
      });
      console.log(
        `${projectId}: ${demo.events.toLocaleString('en-US')} demo events in ${((performance.now() - t) / 1000).toFixed(1)} s`,
      );
    }
    const t = performance.now();
    await db.rollups.ensure(built, 'Europe/Paris');
    console.log(`rollups of ${built} built in ${(performance.now() - t).toFixed(0)} ms`);
    console.log(
      `\n${'events per load'.padEnd(16)} ${'built'.padStart(9)} ${'not built'.padStart(10)} ${'ratio'.padStart(6)}  (median of ${RUNS} loads each, alternating)`,
    );
    for (const size of BATCHES) {
      const times: Record<string, number[]> = { [built]: [], [plain]: [] };
      // One load each first: the first load of a size warms the caches for both.
      await store.commit(batch(built, size));
      await store.commit(batch(plain, size));
      for (let i = 0; i < RUNS; i++) {
        for (const projectId of i % 2 === 0 ? [built, plain] : [plain, built]) {
          const next = batch(projectId, size);
          const started = performance.now();
          await store.commit(next);
          times[projectId]!.push(performance.now() - started);
        }
      }
      const a = median(times[built]!);
      const b = median(times[plain]!);
      console.log(
        `${size.toLocaleString('en-US').padEnd(16)} ${a.toFixed(1).padStart(6)} ms ${b.toFixed(1).padStart(7)} ms ${(a / b).toFixed(2).padStart(6)}`,
      );
    }
    console.log(
      `load average after: ${os
        .loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
