// Acknowledged = durable for the audit log too: the embedded runtime records entries from 16
// concurrent clients (group commits in flight all the time, loads into DuckDB in the background)
// and is SIGKILLed mid-stream, with entries still waiting for their write. Afterwards, with a torn
// group appended to the journal as a crash mid-write leaves it, `sillage audit verify` (real CLI,
// dist/) passes, every acknowledged entry is in the log at the sequence number it was
// acknowledged with, and a restarted process chains its entries after them.
import { spawn } from 'node:child_process';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { AUDIT_JOURNAL_DIR } from '../src/audit/index.js';
import { DUCKDB_FILE } from '../src/store/duckdb/index.js';
import { CLI, makeTestEnv, ROOT, type TestEnv } from './helpers/server.js';

const execFileAsync = promisify(execFile);
const CLIENTS = 16;
const PER_CLIENT = 200;
/** Acknowledgements before the kill. */
const KILL_AFTER = 400;

interface Run {
  acks: { seq: number; actor: string; rows: number }[];
  /** Entries sent and not yet acknowledged when the kill was decided. */
  waitingAtKill: number;
  done: boolean;
}

/** Runs the writer; with `killAfter`, SIGKILLs it once that many entries were acknowledged. */
async function runWriter(t: TestEnv, clients: number, perClient: number, killAfter?: number) {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(ROOT, 'test/helpers/audit-writer.ts'),
      t.dataDir,
      String(clients),
      String(perClient),
    ],
    { cwd: ROOT, env: t.env, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const run: Run = { acks: [], waitingAtKill: 0, done: false };
  let sent = 0;
  let killed = false;
  const deadline = Date.now() + 90_000;
  // Read to the end: acknowledgements printed before the kill landed count too.
  for await (const line of readline.createInterface({ input: child.stdout })) {
    if (line === 'done') run.done = true;
    if (line.startsWith('sent ')) sent += 1;
    const m = /^ack (\d+) (\d+) (\d+)$/.exec(line);
    if (m) run.acks.push({ seq: Number(m[1]), actor: `key:c${m[2]}`, rows: Number(m[3]) });
    if (
      !killed &&
      killAfter !== undefined &&
      (run.acks.length >= killAfter || Date.now() > deadline)
    ) {
      killed = true;
      run.waitingAtKill = sent - run.acks.length;
      child.kill('SIGKILL');
    }
  }
  await exited;
  return run;
}

async function verify(t: TestEnv) {
  try {
    const { stdout } = await execFileAsync(
      process.execPath,
      [CLI, 'audit', 'verify', '--json', '--data', t.dataDir],
      { env: t.env, cwd: t.base },
    );
    return { code: 0, report: JSON.parse(stdout) as Record<string, unknown> };
  } catch (error) {
    const e = error as { code: number; stdout: string };
    return { code: e.code, report: JSON.parse(e.stdout) as Record<string, unknown> };
  }
}

async function storedEntries(dataDir: string) {
  const instance = await DuckDBInstance.create(path.join(dataDir, DUCKDB_FILE));
  const c = await instance.connect();
  const rows = (
    await c.runAndReadAll('SELECT seq, actor, row_count FROM audit_log ORDER BY seq')
  ).getRows();
  c.closeSync();
  instance.closeSync();
  return new Map(
    rows.map(([seq, actor, rows]) => [Number(seq), `${String(actor)} ${Number(rows)}`]),
  );
}

describe('audit journal: SIGKILL with group commits in flight', () => {
  const t = makeTestEnv();
  afterAll(() => fs.rmSync(t.base, { recursive: true, force: true }));

  it('keeps every acknowledged entry at its place in one verifiable chain', async () => {
    const crashed = await runWriter(t, CLIENTS, PER_CLIENT, KILL_AFTER);
    expect(crashed.done).toBe(false);
    expect(crashed.acks.length).toBeGreaterThanOrEqual(KILL_AFTER);
    expect(crashed.waitingAtKill).toBeGreaterThan(0); // entries were waiting for a write

    // A crash in the middle of a group write leaves part of a line: add one to the tail.
    const journal = path.join(t.dataDir, AUDIT_JOURNAL_DIR);
    const segments = fs.readdirSync(journal).sort();
    const last = path.join(journal, segments.at(-1)!);
    const sample = fs
      .readFileSync(path.join(journal, segments[0]!), 'utf8')
      .split('\n')
      .find((l) => l.length > 0);
    fs.appendFileSync(last, (sample ?? '{"t":"s","s":"').slice(0, 60));

    const { code, report } = await verify(t);
    expect(code).toBe(0);
    expect(report.ok).toBe(true);
    const maxAcked = Math.max(...crashed.acks.map((a) => a.seq));
    expect(report.entries).toBeGreaterThanOrEqual(maxAcked);
    expect(report.head_seq).toBe(report.entries);
    const stored = await storedEntries(t.dataDir);
    for (const a of crashed.acks) expect(stored.get(a.seq)).toBe(`${a.actor} ${a.rows}`);

    // Restarted, the process chains after what the crash left.
    const after = await runWriter(t, 2, 5);
    expect(after.done).toBe(true);
    expect(Math.min(...after.acks.map((a) => a.seq))).toBe(Number(report.entries) + 1);
    const again = await verify(t);
    expect(again.report).toMatchObject({ ok: true, entries: Number(report.entries) + 10 });
  }, 180_000);
});
