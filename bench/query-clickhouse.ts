// `npm run bench:query -- --store clickhouse [--events N] [--shards S]`: the benchmark's questions
// on ClickHouse, with DuckDB beside them in the same run, on the same events. The synthetic demo
// data (N events, 1 million by default; N/50 people; 90 days; the seed of bench/query.ts) is
// generated into a fresh embedded store, then copied through the ClickHouse EventStore's own
// row format into throw-away ClickHouse 18.16 servers on loopback: one server, and S shards (2 by
// default, 0 to skip) behind Distributed tables. Each question then runs warm through the query
// engine on each store, alternating, median of BENCH_RUNS; whether the answers are the same; a
// kind ClickHouse does not answer yet (501) prints "not supported" and runs once it is. Load
// averages are printed with the figures: the machine is shared. Growth: run again with another N.
// An engine whose warm-up takes over 10 s is timed by one run (marked `1 run`).
//
// `--users`: instead of the questions, one person's profile and first page of 100 events (and the
// second page when there is one: a cursor read), as the people screen reads them, for people picked
// by activity (the most active, the 1st, 10th and 50th percentile of event counts), on DuckDB and
// on ClickHouse with the one-user statements before and after the id prefilter
// (clickHouseUserStatements in src/query/compile-clickhouse.ts), engines alternating.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { embeddedDatabase, openRuntime } from '../src/cli/runtime.js';
import { CLICKHOUSE_COMPILER, clickHouseUserStatements } from '../src/query/compile-clickhouse.js';
import type { UserStreamReader } from '../src/query/users.js';
import { QueryEngine, type QueryResult } from '../src/query/index.js';
import { loadConfig } from '../src/shared/config.js';
import { AppError } from '../src/shared/errors.js';
import { SILENT_LOGGER } from '../src/shared/log.js';
import {
  CLICKHOUSE_DIALECT,
  ClickHouseEventStore,
  ClickHouseQueryExecutor,
} from '../src/store/clickhouse/index.js';
import { generateDemoData } from '../src/store/duckdb/index.js';
import { eventToRow } from '../src/store/clickhouse/rows.js';
import type { EventRow } from '../src/store/types.js';
import {
  clickHouseAvailable,
  startClickHouse,
  startClickHouseCluster,
  type ClickHouseTestServer,
} from '../test/helpers/clickhouse.js';

export interface ClickHouseBenchQuestion {
  name: string;
  query: Record<string, unknown>;
}

export interface ClickHouseBenchOptions {
  events: number;
  shards: number;
  runs: number;
  seed: number;
  toDay: string;
  questions: readonly ClickHouseBenchQuestion[];
  /** Time the one-user reads instead of the questions (`--users`). */
  users: boolean;
}

const loadAverage = (): string =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const PAGE = 10_000;
/** Past this, a warm-up run is followed by one timed run instead of BENCH_RUNS. */
const SLOW_MS = 10_000;

/**
 * Copies a project's events into a ClickHouse store's `events` table (the row format of its
 * loader, 10,000 rows per INSERT; on shards through the Distributed table, synchronously), and its
 * identity links through the loader (first link wins).
 */
async function copyInto(
  source: Awaited<ReturnType<typeof openRuntime>>,
  target: ClickHouseEventStore,
  projectId: string,
): Promise<number> {
  let after: { timeMs: number; dedupKey: bigint } | undefined;
  let copied = 0;
  // Bounded: each page advances the cursor; at most events / PAGE + 1 pages.
  for (;;) {
    const page: EventRow[] = await source.events.listEvents(projectId, {
      limit: PAGE,
      ...(after ? { after } : {}),
    });
    if (page.length === 0) break;
    await target.client.insert('events', page.map(eventToRow));
    copied += page.length;
    const last = page.at(-1)!;
    after = { timeMs: last.timeMs, dedupKey: last.dedupKey };
  }
  const links = await source.events.listIdentityLinks(projectId);
  await target.append({ events: [], profileUpdates: [], identityLinks: links, privacyCounts: [] });
  await target.flush();
  return copied;
}

export async function clickHouseBench(options: ClickHouseBenchOptions): Promise<void> {
  if (!clickHouseAvailable()) throw new Error('clickhouse-server is not installed here');
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-bench-ch-'));
  const servers: ClickHouseTestServer[] = [];
  const stores: ClickHouseEventStore[] = [];
  try {
    const env = {
      ...process.env,
      SILLAGE_MASTER_KEY: randomBytes(32).toString('hex'),
      SILLAGE_LOG_LEVEL: 'warn',
    };
    const runtime = await openRuntime(
      loadConfig({ data: path.join(base, 'data'), port: 0 }, env),
      SILENT_LOGGER,
    );
    const project = await runtime.projects.create('bench');
    const context = (await runtime.projects.byId(project.project_id))!;
    const t0 = performance.now();
    const generated = await generateDemoData(embeddedDatabase(runtime), {
      projectId: project.project_id,
      events: options.events,
      users: Math.max(1000, Math.round(options.events / 50)),
      days: 90,
      endDay: options.toDay,
      seed: options.seed,
      pseudonymise: context.pseudonymise,
    });
    await embeddedDatabase(runtime).checkpoint();
    console.log(
      `ClickHouse vs DuckDB — ${generated.events.toLocaleString('en-US')} events, ${generated.users.toLocaleString('en-US')} people, ${generated.identityLinks.toLocaleString('en-US')} identity links, generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );

    const targets: { label: string; store: ClickHouseEventStore }[] = [];
    const single = await startClickHouse();
    servers.push(single);
    targets.push({
      label: '1 server',
      store: await ClickHouseEventStore.open({
        url: single.url,
        database: 'bench',
        logDir: path.join(base, 'log-single'),
        logger: SILENT_LOGGER,
      }),
    });
    if (options.shards > 0) {
      const cluster = await startClickHouseCluster(options.shards, 'bench');
      servers.push(...cluster);
      targets.push({
        label: `${options.shards} shards`,
        store: await ClickHouseEventStore.open({
          url: cluster[0]!.url,
          database: 'bench',
          logDir: path.join(base, 'log-sharded'),
          logger: SILENT_LOGGER,
          sharding: { cluster: 'bench', shardUrls: cluster.map((s) => s.url) },
        }),
      });
    }
    for (const t of targets) {
      stores.push(t.store);
      const start = performance.now();
      const n = await copyInto(runtime, t.store, project.project_id);
      const seconds = (performance.now() - start) / 1000;
      console.log(
        `loaded into ClickHouse (${t.label}) (10,000-row INSERTs): ${n.toLocaleString('en-US')} events in ${seconds.toFixed(1)} s (${Math.round(n / seconds).toLocaleString('en-US')}/s; load average ${loadAverage()})`,
      );
    }

    if (options.users) {
      await userStreamBench(runtime, project.project_id, targets, options.runs);
      await runtime.close();
      return;
    }
    const audit = { record: () => undefined };
    const engines = [
      { label: 'DuckDB', run: (q: unknown) => runtime.queries.run(principal, target, q) },
      ...targets.map((t) => {
        const engine = new QueryEngine({
          executor: new ClickHouseQueryExecutor(t.store.client),
          dialect: CLICKHOUSE_DIALECT,
          compiler: CLICKHOUSE_COMPILER,
          audit,
        });
        return { label: `CH ${t.label}`, run: (q: unknown) => engine.run(principal, target, q) };
      }),
    ];
    const principal = { projectId: project.project_id, actor: 'bench' };
    const target = { id: project.project_id, timezone: 'UTC' };

    console.log(
      `\nwarm, median of ${options.runs} runs after one warm-up, engines alternating; load average before: ${loadAverage()}`,
    );
    console.log(
      `${'question'.padEnd(36)} ${engines.map((e) => e.label.padStart(14)).join(' ')}  ${engines
        .slice(1)
        .map((e) => `${e.label}/DuckDB`.padStart(19))
        .join(' ')}  same answer`,
    );
    for (const q of options.questions) {
      const answers: (QueryResult | 'unsupported' | 'timeout')[] = [];
      const warmMs: number[] = [];
      for (const e of engines) {
        try {
          const s = performance.now();
          answers.push(await e.run(q.query));
          warmMs.push(performance.now() - s);
        } catch (error) {
          if (
            error instanceof AppError &&
            (error.code === 'QUERY_UNSUPPORTED' || error.code === 'QUERY_TIMEOUT')
          ) {
            // Printed as "not supported" (501) or "timed out" (the engine's query time limit).
            answers.push(error.code === 'QUERY_TIMEOUT' ? 'timeout' : 'unsupported');
            warmMs.push(0);
          } else throw error;
        }
      }
      const times: number[][] = engines.map(() => []);
      for (let i = 0; i < options.runs; i++) {
        for (const [k, e] of engines.entries()) {
          if (answers[k] === 'unsupported' || answers[k] === 'timeout') continue;
          // An engine slower than SLOW_MS is timed once more only (the bounds of a 2-core box).
          if (warmMs[k]! > SLOW_MS && i > 0) continue;
          const s = performance.now();
          await e.run(q.query);
          times[k]!.push(performance.now() - s);
        }
      }
      const ms = times.map((t) => (t.length ? median(t) : null));
      const duck = ms[0]!;
      const same = answers
        .slice(1)
        .every((a) => a === 'unsupported' || JSON.stringify(a) === JSON.stringify(answers[0]));
      const cells = ms.map((m, k) =>
        m === null
          ? (answers[k] === 'timeout' ? 'timed out' : 'not supported').padStart(14)
          : `${m.toFixed(0).padStart(times[k]!.length === 1 ? 5 : 11)} ms${times[k]!.length === 1 ? ' 1 run' : ''}`,
      );
      const ratios = ms
        .slice(1)
        .map((m) => (m === null ? '-' : `${(m / duck).toFixed(2)}×`).padStart(19));
      console.log(
        `${q.name.padEnd(36)} ${cells.join(' ')}  ${ratios.join(' ')}  ${same ? 'yes' : 'NO'}`,
      );
    }
    console.log(`load average after: ${loadAverage()}`);
    await runtime.close();
  } catch (error) {
    // What the servers said, before their directories go.
    for (const [i, s] of servers.entries()) {
      const log = s.errorLog();
      if (log) console.error(`ClickHouse server ${i + 1}'s error log ends with:\n${log}`);
    }
    throw error;
  } finally {
    for (const s of stores) await s.close().catch(() => undefined);
    for (const s of servers) await s.stop();
    fs.rmSync(base, { recursive: true, force: true });
  }
}

/** People of the project by activity: the most active, then the 1st, 10th and 50th percentile. */
async function peopleByActivity(
  runtime: Awaited<ReturnType<typeof openRuntime>>,
  projectId: string,
): Promise<{ person: string; events: number }[]> {
  const rows = await embeddedDatabase(runtime).read(async (c) =>
    (
      await c.runAndReadAll(
        'SELECT person_id, count(*) FROM events WHERE project_id = $1 GROUP BY person_id ORDER BY 2 DESC, 1',
        [projectId],
      )
    ).getRowsJS(),
  );
  return [0, 0.01, 0.1, 0.5].map((q) => {
    const [person, events] = rows[Math.floor(q * (rows.length - 1))]!;
    return { person: person as string, events: Number(events) };
  });
}

/** One person's profile and first page (and the second, through its cursor) as the screen reads. */
async function readPerson(
  reader: UserStreamReader,
  projectId: string,
  id: string,
): Promise<string> {
  const profile = await reader.profile(projectId, id);
  if (profile === null) return 'null';
  const page = { beforeMs: null, cursor: null, limit: 100 };
  const first = await reader.events(projectId, profile.person, page);
  const last = first[99];
  const second = last
    ? await reader.events(projectId, profile.person, {
        ...page,
        cursor: { timeMs: last.row.timeMs, key: last.key },
      })
    : [];
  return JSON.stringify([profile, first.map((e) => e.key), second.map((e) => e.key)]);
}

async function userStreamBench(
  runtime: Awaited<ReturnType<typeof openRuntime>>,
  projectId: string,
  targets: { label: string; store: ClickHouseEventStore }[],
  runs: number,
): Promise<void> {
  const audit = { record: () => undefined };
  const readers: { label: string; reader: UserStreamReader }[] = [
    { label: 'DuckDB', reader: runtime.queries.userStreams() },
  ];
  for (const t of targets) {
    for (const prefilter of [false, true]) {
      const engine = new QueryEngine({
        executor: new ClickHouseQueryExecutor(t.store.client),
        dialect: CLICKHOUSE_DIALECT,
        compiler: { ...CLICKHOUSE_COMPILER, userStreams: clickHouseUserStatements(prefilter) },
        audit,
      });
      readers.push({
        label: `CH ${t.label} ${prefilter ? 'after' : 'before'}`,
        reader: engine.userStreams(),
      });
    }
  }
  console.log(
    `\none person: profile + first page of 100 (+ the second page when there is one), warm, median of ${runs} runs after one warm-up, engines alternating; load average before: ${loadAverage()}`,
  );
  console.log(
    `${'person (events)'.padEnd(18)} ${readers.map((r) => r.label.padStart(22)).join(' ')}  same answer`,
  );
  for (const { person, events } of await peopleByActivity(runtime, projectId)) {
    const answers: string[] = [];
    for (const r of readers) answers.push(await readPerson(r.reader, projectId, person));
    const times: number[][] = readers.map(() => []);
    for (let i = 0; i < runs; i++) {
      for (const [k, r] of readers.entries()) {
        const s = performance.now();
        await readPerson(r.reader, projectId, person);
        times[k]!.push(performance.now() - s);
      }
    }
    const same = answers.every((a) => a === answers[0]);
    console.log(
      `${`#${events.toLocaleString('en-US')} events`.padEnd(18)} ${times.map((t) => `${median(t).toFixed(0)} ms`.padStart(22)).join(' ')}  ${same ? 'yes' : 'NO'}`,
    );
  }
  console.log(`load average after: ${loadAverage()}`);
}
