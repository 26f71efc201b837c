// `sillage import`: a Mixpanel raw export (gzip JSONL) through the ingest pipeline on a stopped
// store, with dedup, per-line rejections and a summary; importing twice adds nothing.
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { dumpAllTables, searchCanaries } from './helpers/canary.js';
import { readEvents } from './helpers/store.js';
import { createProject, makeTestEnv, runCli } from './helpers/server.js';

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
});
