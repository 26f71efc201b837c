// What an event worker spends per batched event, stage by stage, in CPU time (not wall time, so
// that other processes on a shared machine blur it less): decode + map, enrichment + privacy
// stage, store row, row JSON; on the `bench:ingest` batched bodies (50 mixpanel-browser events).
// `npm run build`, then `node --import tsx bench/ingest-stages.ts [dist …]`: each build's `dist`
// directory (default this checkout's) is measured in its own process, alternated `ROUNDS` times
// (BENCH_ROUNDS, default 3), so that two builds compare in the same run.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as EnrichStage from '../src/ingest/enrich-stage.js';
import type * as PrivacyStage from '../src/ingest/privacy-stage.js';
import type { RequestContext } from '../src/ingest/records.js';
import type * as Rows from '../src/ingest/rows.js';
import type * as WireInput from '../src/ingest/wire-input.js';
import type * as Privacy from '../src/privacy/index.js';
import type { ProjectContext } from '../src/projects/index.js';
import type * as RowJson from '../src/store/row-json.js';
import { browserEvent } from './browser-event.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BODIES = 400;
const BATCH = 50;
const MEDIAN_OF = 7;
const STAGES = ['decode', 'privacy', 'row', 'rowJson'] as const;
type Stage = (typeof STAGES)[number];

const UA =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Measures one build in this process and prints one JSON line of µs per event per stage. */
async function measure(dist: string): Promise<void> {
  const load = <T>(module: string): Promise<T> =>
    import(pathToFileURL(path.join(dist, module)).href) as Promise<T>;
  const wire = await load<typeof WireInput>('ingest/wire-input.js');
  const stage = await load<typeof PrivacyStage>('ingest/privacy-stage.js');
  const enrichStage = await load<typeof EnrichStage>('ingest/enrich-stage.js');
  const rows = await load<typeof Rows>('ingest/rows.js');
  const rowJson = await load<typeof RowJson>('store/row-json.js');
  const privacy = await load<typeof Privacy>('privacy/index.js');
  const token = 'tok_bench';
  let seq = 0;
  const bodies = Array.from({ length: BODIES }, () => {
    const batch = Array.from({ length: BATCH }, () =>
      browserEvent(token, seq++, randomBytes(8).toString('hex'), Date.now() / 1000),
    );
    const data = Buffer.from(JSON.stringify(batch)).toString('base64');
    return Buffer.from('data=' + encodeURIComponent(data));
  });
  const master = randomBytes(32);
  const keyring = privacy.ProjectKeyring.open(
    master,
    privacy.generateProjectKeys(master, 'prj_bench'),
  );
  const project = {
    project: { id: 'prj_bench', name: 'bench', token, secretHash: '', timezone: 'UTC' },
    policy: privacy.DEFAULT_POLICY,
    keyring,
    pseudonymise: privacy.createPseudonymiser(keyring.current('pseudonym').key),
    groupKeys: new Set<string>(),
  } as unknown as ProjectContext;
  const context = {
    source: 'track',
    clientIp: '81.2.69.142',
    userAgent: UA,
    ipMode: 'use-request-ip',
    receivedAtMs: Date.now(),
    window: 'recent',
  } as unknown as RequestContext;
  const enrich = await enrichStage.createEnrichStage();
  const privacyStage = stage.createPrivacyStage();
  const limits = {
    maxBodyBytes: 10e6,
    maxDecodedBytes: 20e6,
    maxDepth: 16,
    maxRecordsPerRequest: 2000,
  };
  const spent: Record<Stage, number> = { decode: 0, privacy: 0, row: 0, rowJson: 0 };
  let events = 0;
  let sink = 0;
  const pass = (): void => {
    for (const body of bodies) {
      const t0 = cpuMs();
      const mapped = wire.decodeAndMap({
        decode: {
          body,
          contentType: 'application/x-www-form-urlencoded',
          contentEncoding: null,
          query: { ip: '1', verbose: '1' },
        },
        limits,
        mapping: { kind: 'mixpanel-events', importMode: false },
        context,
      });
      const t1 = cpuMs();
      const counters = new privacy.PrivacyCounters();
      const clean = mapped.events.map((e) =>
        privacyStage.event(project, e, enrich(e, context), counters),
      );
      const t2 = cpuMs();
      const eventRows = clean.map((c) => rows.toEventRow('prj_bench', c, context.receivedAtMs));
      const t3 = cpuMs();
      sink += rowJson.encodeEventRows(eventRows).count;
      const t4 = cpuMs();
      spent.decode += t1 - t0;
      spent.privacy += t2 - t1;
      spent.row += t3 - t2;
      spent.rowJson += t4 - t3;
      events += mapped.events.length;
    }
  };
  pass();
  pass(); // warm-up
  const rounds: Record<Stage, number>[] = [];
  for (let r = 0; r < MEDIAN_OF; r++) {
    for (const s of STAGES) spent[s] = 0;
    events = 0;
    pass();
    rounds.push(Object.fromEntries(STAGES.map((s) => [s, (spent[s] * 1000) / events])) as never);
  }
  const median = (values: number[]): number =>
    values.sort((a, b) => a - b)[values.length >> 1] ?? 0;
  const result = Object.fromEntries(STAGES.map((s) => [s, median(rounds.map((r) => r[s]))]));
  const total = median(rounds.map((r) => STAGES.reduce((n, s) => n + r[s], 0)));
  console.log(JSON.stringify({ ...result, total, sink: sink > 0 }));
}

async function main(): Promise<void> {
  const child = process.argv[2] === '--measure' ? process.argv[3] : undefined;
  if (child !== undefined) return measure(child);
  const dists = process.argv.slice(2);
  if (dists.length === 0) dists.push(path.join(ROOT, 'dist'));
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  console.log(
    `Event worker CPU per batched event, µs (CPU time, median of ${MEDIAN_OF} passes over ${BODIES * BATCH} events):`,
  );
  for (let r = 0; r < rounds; r++) {
    for (const dist of dists) {
      const run = spawnSync(
        process.execPath,
        ['--import', 'tsx', fileURLToPath(import.meta.url), '--measure', path.resolve(dist)],
        { encoding: 'utf8', cwd: ROOT },
      );
      if (run.status !== 0) throw new Error(`measuring ${dist} failed: ${run.stderr}`);
      const figures = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as Record<
        Stage | 'total',
        number
      >;
      const cells = [...STAGES, 'total' as const].map((s) => `${s} ${figures[s].toFixed(2)}`);
      console.log(`  ${dist}: ${cells.join('  ')}`);
    }
  }
}

await main();
