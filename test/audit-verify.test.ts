// The audit log is tamper-evident: `sillage audit verify` passes on an intact log and, on copies
// where one byte was flipped, one entry deleted, two entries reordered or the tail truncated,
// exits 1 naming the first bad entry. Real DuckDB files, the real CLI from dist/.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRuntime } from '../src/cli/runtime.js';
import { CLI_ACTOR, revealSubject } from '../src/projects/privacy-operations.js';
import { loadConfig } from '../src/shared/config.js';
import { SILENT_LOGGER } from '../src/shared/log.js';
import { DUCKDB_FILE } from '../src/store/duckdb/index.js';
import { makeTestEnv, type TestEnv } from './helpers/server.js';

const execFileAsync = promisify(execFile);
const CLI = path.resolve('dist/cli/main.js');
const ENTRIES = 12;

interface Report {
  ok: boolean;
  entries: number;
  first_bad: { seq: number; problem: string; message: string } | null;
}

async function verify(t: TestEnv, dataDir: string): Promise<{ code: number; report: Report }> {
  try {
    const { stdout } = await execFileAsync(
      process.execPath,
      [CLI, 'audit', 'verify', '--json', '--data', dataDir],
      { env: t.env, cwd: t.base },
    );
    return { code: 0, report: JSON.parse(stdout) as Report };
  } catch (error) {
    const e = error as { code: number; stdout: string };
    return { code: e.code, report: JSON.parse(e.stdout) as Report };
  }
}

async function tamper(dataDir: string, statements: string[]): Promise<void> {
  const instance = await DuckDBInstance.create(path.join(dataDir, DUCKDB_FILE));
  const c = await instance.connect();
  for (const sql of statements) await c.run(sql);
  c.closeSync();
  instance.closeSync();
}

describe('sillage audit verify', () => {
  const t = makeTestEnv();
  const copies: Record<string, string> = {};

  beforeAll(async () => {
    const config = loadConfig({ data: t.dataDir }, t.env);
    const rt = await openRuntime(config, SILENT_LOGGER);
    try {
      const project = await rt.projects.create('Audited');
      // One real read through the CLI path (identity reveal), the rest direct entries.
      await revealSubject(rt, project.project_id, 'alice@example.com', CLI_ACTOR);
      for (let i = 2; i <= ENTRIES; i++) {
        await rt.audit.record({
          kind: i % 2 ? 'query' : 'key_used',
          actor: `user:usr_${i}`,
          projectId: project.project_id,
          source: { kind: 'http', ip: `203.0.113.${i}`, place: 'Lyon, FR' },
          rows: i,
          subjects: ['u_' + Buffer.alloc(16, i).toString('base64url')],
        });
      }
    } finally {
      await rt.close();
    }
    for (const name of ['intact', 'flip', 'delete', 'reorder', 'truncate']) {
      copies[name] = path.join(t.base, `copy-${name}`);
      fs.cpSync(t.dataDir, copies[name], { recursive: true });
    }
  });
  afterAll(() => fs.rmSync(t.base, { recursive: true, force: true }));

  it('passes an intact log, and the reveal on the CLI path is in it', async () => {
    const { code, report } = await verify(t, copies.intact!);
    expect(code).toBe(0);
    expect(report).toMatchObject({ ok: true, entries: ENTRIES, head_seq: ENTRIES });
    expect(report.first_bad).toBeNull();
    const instance = await DuckDBInstance.create(path.join(copies.intact!, DUCKDB_FILE));
    const c = await instance.connect();
    const rows = (
      await c.runAndReadAll('SELECT kind, actor, source, detail FROM audit_log WHERE seq = 1')
    ).getRows();
    c.closeSync();
    instance.closeSync();
    expect(rows[0]?.slice(0, 3)).toEqual(['reveal', 'cli', 'cli']);
    // The raw id is kept only as an HMAC.
    expect(String(rows[0]?.[3])).not.toContain('alice');
    expect(String(rows[0]?.[3])).toContain('user_id_hmac');
  });

  it('sillage incident report --network finds the reads from that network, by keyed hash', async () => {
    const { stdout } = await execFileAsync(
      process.execPath,
      [
        CLI,
        'incident',
        'report',
        '--network',
        '203.0.113.0/25',
        '--from',
        '2000-01-01T00:00:00Z',
        '--to',
        '2100-01-01T00:00:00Z',
        '--json',
        '--data',
        copies.intact!,
      ],
      { env: t.env, cwd: t.base },
    );
    const report = JSON.parse(stdout) as { accesses: number; subjects: number; by_kind: object };
    // Entries 3, 5, 7, 9, 11 are queries from 203.0.113.x (the others are key uses, not reads).
    expect(report).toMatchObject({ accesses: 5, subjects: 5, by_kind: { query: 5 } });
    expect(stdout).not.toContain('203.0.113.3');
  });

  it('sillage incident report --markdown and --html: the same report, for a ticket and for print', async () => {
    const run = async (...format: string[]): Promise<string> =>
      (
        await execFileAsync(
          process.execPath,
          [
            CLI,
            'incident',
            'report',
            '--network',
            '203.0.113.0/25',
            '--from',
            '2000-01-01T00:00:00Z',
            '--to',
            '2100-01-01T00:00:00Z',
            ...format,
            '--data',
            copies.intact!,
          ],
          { env: t.env, cwd: t.base },
        )
      ).stdout;
    const md = await run('--markdown');
    expect(md).toMatch(/^# Breach-impact report\n/);
    expect(md).toContain('- Accesses: 5; rows returned:');
    for (const part of [
      '(a) Nature',
      '(b) Contact point',
      '(c) Likely consequences',
      '(d) Measures',
    ])
      expect(md).toContain(`**${part}`);
    expect(md.match(/^\| \d+ \| .* \| query \| /gm)).toHaveLength(5);
    expect(md).toContain('## Refused attempts (0)');
    const html = await run('--html');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('@media print');
    expect(html).not.toMatch(/<script/i);
    // The page is the Markdown, escaped (the principal and field names are untrusted text).
    expect(html).toContain('# Breach-impact report');
    expect(html).toContain('**(a) Nature of the breach.**');
    await expect(run('--json', '--html')).rejects.toMatchObject({ code: 1 });
  });

  it('names the entry whose byte was flipped', async () => {
    // One byte of the stored row count of entry 5 (5 → 4).
    await tamper(copies.flip!, ['UPDATE audit_log SET row_count = 4 WHERE seq = 5']);
    const { code, report } = await verify(t, copies.flip!);
    expect(code).toBe(1);
    expect(report.first_bad).toMatchObject({ seq: 5, problem: 'altered' });
  });

  it('names the deleted entry', async () => {
    await tamper(copies.delete!, ['DELETE FROM audit_log WHERE seq = 7']);
    const { code, report } = await verify(t, copies.delete!);
    expect(code).toBe(1);
    expect(report.first_bad).toMatchObject({ seq: 7, problem: 'missing' });
  });

  it('names the first of two reordered entries', async () => {
    await tamper(copies.reorder!, [
      'UPDATE audit_log SET seq = -1 WHERE seq = 4',
      'UPDATE audit_log SET seq = 4 WHERE seq = 6',
      'UPDATE audit_log SET seq = 6 WHERE seq = -1',
    ]);
    const { code, report } = await verify(t, copies.reorder!);
    expect(code).toBe(1);
    expect(report.first_bad?.seq).toBe(4);
    expect(report.first_bad?.message).toContain('entry 4');
  });

  it('names the first entry cut from the tail', async () => {
    await tamper(copies.truncate!, ['DELETE FROM audit_log WHERE seq > 9']);
    const { code, report } = await verify(t, copies.truncate!);
    expect(code).toBe(1);
    expect(report.first_bad).toMatchObject({ seq: 10, problem: 'truncated' });
  });

  it('fails when the signed head was forged without the master key', async () => {
    const forged = path.join(t.base, 'copy-forged');
    fs.cpSync(copies.intact!, forged, { recursive: true });
    await tamper(forged, [
      "UPDATE audit_checkpoints SET signature = 'AAAA' || substr(signature, 5) WHERE kind = 'head'",
    ]);
    const { code, report } = await verify(t, forged);
    expect(code).toBe(1);
    expect(report.first_bad?.problem).toBe('checkpoint_signature');
  });
});
