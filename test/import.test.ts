// `sillage import`: a Mixpanel raw export (gzip JSONL) through the ingest pipeline on a stopped
// store, with dedup, per-line rejections and a summary; importing twice adds nothing.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { dumpAllTables, searchCanaries } from './helpers/canary.js';
import { INGEST_LOG_DIR } from '../src/store/duckdb/ingest-log.js';
import { readEvents, runOnStoppedFile } from './helpers/store.js';
import {
  CLI,
  createProject,
  makeTestEnv,
  runCli,
  startServerProcess,
  type TestEnv,
} from './helpers/server.js';

/** Runs the CLI (bounded in time) and returns its exit code and output, whatever the code. */
function runCliOutcome(
  t: TestEnv,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: t.env, cwd: t.base, timeout: 120_000 },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : null) : 0,
          stdout,
          stderr,
        }),
    );
  });
}

interface Summary {
  lines: number;
  imported: number;
  duplicates: number;
  rejected: number;
  reasons: { field: string; count: number; lines: number[] }[];
}

describe('sillage import --format mixpanel', () => {
  it('imports, dedups and reports rejections by line', async () => {
    const t = makeTestEnv();
    const project = await createProject(t, 'Import');
    const base = 1_700_000_000;
    const rec = (i: number) => ({
      event: i % 2 ? 'Viewed' : 'Signed up',
      properties: {
        time: base + i,
        distinct_id: `user-${i % 3}`,
        $insert_id: `ins-${i}`,
        mp_country_code: 'FR',
        $city: 'Paris',
        plan: 'pro',
      },
    });
    const lines = [
      JSON.stringify(rec(0)),
      JSON.stringify(rec(1)),
      JSON.stringify(rec(2)),
      '{"event": "broken", ',
      JSON.stringify(rec(3)),
      JSON.stringify(rec(1)), // a duplicate, as raw exports contain
      JSON.stringify({ event: 'No time', properties: { distinct_id: 'x', $insert_id: 'nt' } }),
      '',
      JSON.stringify(rec(4)),
    ];
    const file = path.join(t.base, 'export.json.gz');
    fs.writeFileSync(file, gzipSync(lines.join('\n') + '\n'));

    const first = JSON.parse(
      await runCli(t, [
        'import',
        '--project',
        project.project_id,
        '--format',
        'mixpanel',
        '--json',
        file,
      ]),
    ) as Summary;
    expect(first).toMatchObject({ lines: 8, imported: 5, duplicates: 1, rejected: 2 });
    expect(first.reasons.map((r) => [r.field, r.lines])).toEqual(
      expect.arrayContaining([
        ['line', [4]],
        [expect.stringContaining('time'), [7]],
      ]),
    );

    const second = JSON.parse(
      await runCli(t, ['import', '--project', project.project_id, '--json', file]),
    ) as Summary;
    expect(second).toMatchObject({ imported: 0, duplicates: 6, rejected: 2 });

    const rows = await readEvents(t.dataDir, project.project_id);
    expect(rows).toHaveLength(5);
    expect(rows.map((r) => r.timeMs)).toEqual([0, 1, 2, 3, 4].map((i) => (base + i) * 1000));
    // Region granularity applies to imported locations too: the city is not kept.
    expect(rows.every((r) => r.countryCode === 'FR' && r.city === null)).toBe(true);

    const human = await runCli(t, ['import', '--project', project.project_id, file]);
    expect(human).toContain('0 events imported');
    expect(human).toContain('duplicates skipped');

    await expect(runCli(t, ['import', '--project', 'prj_missing', file])).rejects.toThrow(
      /no such project/,
    );
  });

  it('refuses a number no double holds (1e309) by its field, whether the server runs or not', async () => {
    const t = makeTestEnv();
    const project = await createProject(t, 'Import numbers');
    const time = 1_700_000_000;
    const file = path.join(t.base, 'numbers.jsonl');
    fs.writeFileSync(
      file,
      `{"event":"Paid","properties":{"time":${time},"distinct_id":"a","$insert_id":"n1","price":1e309}}\n` +
        `{"event":"Paid","properties":{"time":${time},"distinct_id":"a","$insert_id":"n2","price":9.5}}\n`,
    );
    const run = async (): Promise<Summary> =>
      JSON.parse(
        await runCli(t, ['import', '--project', project.project_id, '--json', file]),
      ) as Summary;
    // Through a running server's admin socket (where a record travels as JSON: 1e309 → null).
    const server = await startServerProcess(t);
    let live: Summary;
    try {
      live = await run();
    } finally {
      await server.stop('SIGTERM');
    }
    // On the stopped store, through the worker threads.
    const stopped = await run();
    for (const summary of [live, stopped]) {
      expect(summary).toMatchObject({ lines: 2, rejected: 1 });
      expect(summary.reasons.map((r) => [r.field, r.lines])).toEqual([['properties.price', [1]]]);
    }
    expect(live.imported).toBe(1);
    expect(stopped).toMatchObject({ imported: 0, duplicates: 1 });
    const rows = await readEvents(t.dataDir, project.project_id);
    expect(rows.map((r) => r.properties.price)).toEqual([9.5]);
  });

  it('on a stopped store, the worker threads apply the privacy stage before anything is written', async () => {
    const t = makeTestEnv();
    const project = await createProject(t, 'Import canary');
    const email = 'import.canary.7f3a@example.org';
    const phone = '+44 20 7946 0958';
    const rawUser = 'crm-user-7f3a-481516';
    const base = 1_700_000_000;
    // Enough lines for several 1 MB chunks, so that both workers and the ordering are exercised.
    const lines: string[] = [];
    for (let i = 0; i < 6000; i++) {
      lines.push(
        JSON.stringify({
          event: i % 1000 === 0 ? `Mailed ${email}` : 'Viewed',
          properties: {
            time: base + i,
            distinct_id: i % 2 ? rawUser : email,
            $insert_id: `canary-${i}`,
            note: `call ${phone} or write to ${email}`,
            $current_url: `https://shop.example.com/p?email=${encodeURIComponent(email)}&utm_source=x`,
            padding: 'p'.repeat(200),
          },
        }),
      );
    }
    const file = path.join(t.base, 'canary-export.jsonl');
    fs.writeFileSync(file, lines.join('\n') + '\n');
    const out = await runCli(t, ['import', '--project', project.project_id, '--json', file]);
    expect(JSON.parse(out)).toMatchObject({ lines: 6000, imported: 6000, rejected: 0 });
    fs.rmSync(file);
    const dump = await dumpAllTables(t.dataDir);
    expect(dump).toContain('[email]');
    const hits = searchCanaries(
      [email, phone, rawUser, encodeURIComponent(email)],
      { 'table dump': dump, 'cli output': out },
      t.dataDir,
    );
    expect(hits).toEqual([]);
    const rows = await readEvents(t.dataDir, project.project_id);
    expect(rows).toHaveLength(6000);
    expect(new Set(rows.map((r) => r.distinctId)).size).toBe(2);
    expect(rows.every((r) => /^u_[A-Za-z0-9_-]{22}$/.test(r.distinctId))).toBe(true);
  });
  it('stops at the first load that fails, with its reason and what is stored, leaving nothing of it behind; importing again after the fix stores every event once', async () => {
    const t = makeTestEnv();
    const project = await createProject(t, 'Import stop');
    const base = 1_700_000_000;
    const lines = Array.from({ length: 40 }, (_, i) =>
      JSON.stringify({
        event: 'Viewed',
        properties: { time: base + i, distinct_id: `user-${i % 4}`, $insert_id: `stop-${i}` },
      }),
    );
    const file = path.join(t.base, 'export.jsonl');
    fs.writeFileSync(file, lines.join('\n') + '\n');
    // A store whose events table refuses what the import loads (no imported event keeps a city),
    // as a full memory or a damaged file would: every loader fails on the batch.
    await runOnStoppedFile(t.dataDir, 'ALTER TABLE events ALTER COLUMN city SET NOT NULL');
    const args = ['import', '--project', project.project_id, '--json', file];

    const failed = await runCliOutcome(t, args);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe('');
    // The load's own reason (DuckDB's type; its message may quote a value, so it is left out),
    // what is stored, and that a second run is safe. Not the generic [INCOMPLETE].
    expect(failed.stderr).toContain(
      'sillage: the import stopped: a batch of 40 events could not be loaded into the database: ' +
        'Constraint Error (its message is not shown: it may quote event data). Stored before ' +
        'it: 0 events imported, 0 duplicates skipped. Importing the same file again is safe',
    );
    expect(failed.stderr).toMatch(/\[STORE_UNAVAILABLE\]\n$/);
    expect(failed.stderr).not.toContain('INCOMPLETE');
    // The batch is loaded straight into the tables (its transaction rolled back), not through
    // the ingest log: nothing of it is left anywhere to load later.
    expect(
      fs.readdirSync(path.join(t.dataDir, INGEST_LOG_DIR)).filter((f) => /^seg-/.test(f)),
    ).toEqual([]);

    // While the cause remains, the next run stops at the same load, saying why.
    const again = await runCliOutcome(t, args);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(
      'sillage: the import stopped: a batch of 40 events could not be loaded into the database: ' +
        'Constraint Error',
    );

    // Once the cause is gone, the import stores every event once.
    await runOnStoppedFile(t.dataDir, 'ALTER TABLE events ALTER COLUMN city DROP NOT NULL');
    const fixed = await runCliOutcome(t, args);
    expect(fixed.code).toBe(0);
    expect(JSON.parse(fixed.stdout)).toMatchObject({ lines: 40, imported: 40, duplicates: 0 });
    const rerun = await runCliOutcome(t, args);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ lines: 40, imported: 0, duplicates: 40 });
    const rows = await readEvents(t.dataDir, project.project_id);
    expect(rows).toHaveLength(40);
    expect(new Set(rows.map((r) => r.insertId)).size).toBe(40);
  });
});
