// `npm run bench:funnels`: what each funnel option of issue 12 costs. Synthetic demo data
// (deterministic seed; BENCH_EVENTS events, default 2 million, 90 days) in a fresh data directory;
// then, warm, the median of BENCH_RUNS runs of the plain 3-step funnel and of the same funnel with
// each option, alternating with the plain one in the same run so that the machine's load weighs
// on both alike; prints both medians and their ratio.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { embeddedDatabase, openRuntime } from '../src/cli/runtime.js';
import { loadConfig } from '../src/shared/config.js';
import { SILENT_LOGGER } from '../src/shared/log.js';
import { generateDemoData } from '../src/store/duckdb/index.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 2_000_000);
const USERS = Number(process.env.BENCH_USERS ?? Math.round(EVENTS / 50));
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const FROM = '2025-04-02';
const TO = '2025-06-30';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const PLAIN = {
  kind: 'funnel',
  from: FROM,
  to: TO,
  steps: [{ event: 'Signed Up' }, { event: 'Project Created' }, { event: 'Purchase Completed' }],
  window_seconds: 7 * 86_400,
};

const VARIANTS: [string, Record<string, unknown>][] = [
  ['exclusion (Page Viewed, steps 1→2)', { exclusions: [{ event: 'Page Viewed', after_step: 1 }] }],
  ['any order', { order: 'any' }],
  ['hold $browser constant', { hold_constant: ['$browser'] }],
  ['conversion over time, daily', { conversion_over_time: 'day' }],
  [
    'all four together',
    {
      exclusions: [{ event: 'Page Viewed', after_step: 1 }],
      order: 'any',
      hold_constant: ['$browser'],
      conversion_over_time: 'day',
    },
  ],
];

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-bench-funnels-'));
  try {
    const runtime = await openRuntime(
      loadConfig(
        { data: path.join(base, 'data'), port: 0 },
        {
          ...process.env,
          SILLAGE_MASTER_KEY: randomBytes(32).toString('hex'),
          SILLAGE_LOG_LEVEL: 'warn',
        },
      ),
      SILENT_LOGGER,
    );
    const project = await runtime.projects.create('bench');
    const context = (await runtime.projects.byId(project.project_id))!;
    const t0 = performance.now();
    await generateDemoData(embeddedDatabase(runtime), {
      projectId: project.project_id,
      events: EVENTS,
      users: USERS,
      days: 90,
      endDay: TO,
      seed: 20250630,
      pseudonymise: context.pseudonymise,
    });
    await embeddedDatabase(runtime).checkpoint();
    console.log(
      `Funnel options — ${EVENTS.toLocaleString('en-US')} events, ${USERS.toLocaleString('en-US')} people, generated in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${RUNS} warm runs each, medians`,
    );
    const run = (body: Record<string, unknown>) => async () => {
      const t = performance.now();
      const r = (await runtime.queries.run(
        { projectId: project.project_id, actor: 'bench' },
        { id: project.project_id, timezone: 'UTC' },
        body,
      )) as { steps: { count: number }[] };
      return { ms: performance.now() - t, counts: r.steps.map((s) => s.count).join('/') };
    };
    console.log(
      `  ${'variant'.padEnd(38)} ${'plain'.padStart(9)} ${'variant'.padStart(9)} ${'ratio'.padStart(6)}  counts (plain → variant)`,
    );
    for (const [name, extra] of VARIANTS) {
      const plain = run(PLAIN);
      const variant = run({ ...PLAIN, ...extra });
      const first = [await plain(), await variant()];
      const a: number[] = [];
      const b: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        a.push((await plain()).ms);
        b.push((await variant()).ms);
      }
      const ma = median(a);
      const mb = median(b);
      console.log(
        `  ${name.padEnd(38)} ${ma.toFixed(0).padStart(6)} ms ${mb.toFixed(0).padStart(6)} ms ${(mb / ma).toFixed(2).padStart(6)}  ${first[0]!.counts} → ${first[1]!.counts}`,
      );
    }
    await runtime.close();
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

await main();
