// `sillage drain` against a real ClickHouse 18.16 that is down, or goes down in the middle of a
// load. A node acknowledges SDK batches into its ingest log (its load delay keeps them there) and
// is SIGKILLed; then its log is drained:
//  1. ClickHouse down, `--wait 2`: drain gives up (exit code 75, [DRAIN_INCOMPLETE]); the log is
//     still there.
//  2. ClickHouse up, but killed when the load records the segment as applied (the events are in,
//     the segment is not marked): drain waits for the retries, gives up at `--wait`, and still
//     ends (the store's close makes one last attempt instead of waiting for ClickHouse).
//  3. ClickHouse down at first: drain waits; once it is back, the replay is killed at the same
//     point again, and ClickHouse restarted while drain retries: drain completes (exit 0). Before,
//     a drain waiting on a retry timer had nothing keeping its process alive and ended as
//     [INCOMPLETE].
// Then every acknowledged event is in ClickHouse once, and a second drain finds nothing.
// ClickHouse is reached through a loopback TCP relay that only watches for that INSERT (to kill
// the real server at the right moment) and passes every byte through unchanged.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import Mixpanel from 'mixpanel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseClient } from '../src/store/clickhouse/index.js';
import {
  clickHouseAvailable,
  startClickHouse,
  type ClickHouseTestServer,
} from './helpers/clickhouse.js';
import {
  CLI,
  createProject,
  makeTestEnv,
  startServerProcess,
  type CreatedProject,
  type TestEnv,
} from './helpers/server.js';

const available = clickHouseAvailable();
const DATABASE = 'sillage_drain';
const BATCHES = 6;
const PER_BATCH = 20;
const TOTAL = BATCHES * PER_BATCH;
/** The request that records a segment as applied: its events are in, the mark is not. */
const MARK = /INSERT\+INTO\+ingest_log_state/;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe.skipIf(!available)('sillage drain waits for ClickHouse, boundedly', () => {
  let server: ClickHouseTestServer;
  let relay: net.Server;
  let relayPort = 0;
  /** When set, the next request recording a segment kills ClickHouse instead of reaching it. */
  let trip: (() => void) | null = null;
  let t: TestEnv;
  let project: CreatedProject;

  beforeAll(async () => {
    server = await startClickHouse();
    const upstream = Number(new URL(server.url).port);
    relay = net.createServer((client) => {
      const up = net.connect(upstream, '127.0.0.1');
      up.on('error', () => client.destroy());
      client.on('error', () => up.destroy());
      up.pipe(client);
      client.on('data', (chunk) => {
        if (trip && MARK.test(chunk.toString('latin1'))) {
          const fire = trip;
          trip = null;
          client.pause();
          void server.kill().then(() => {
            fire();
            client.destroy();
            up.destroy();
          });
          return;
        }
        up.write(chunk);
      });
      client.on('end', () => up.end());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    relayPort = (relay.address() as net.AddressInfo).port;
    t = makeTestEnv({
      SILLAGE_EVENTS_URL: `clickhouse://127.0.0.1:${relayPort}/${DATABASE}`,
      // What the node acknowledges stays in its log until it is killed.
      SILLAGE_INGEST_LOAD_DELAY_MS: '60000',
    });
    project = await createProject(t);
  }, 120_000);

  afterAll(async () => {
    trip = null;
    await new Promise((resolve) => relay?.close(resolve));
    await server?.stop();
    if (t) fs.rmSync(t.base, { recursive: true, force: true });
  });

  /** Runs `sillage drain` as a process; `onLine` sees its stderr lines as they come. */
  const drain = (args: string[], onLine: (line: string) => void = () => undefined) =>
    new Promise<Run>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'drain', ...args], { env: t.env, cwd: t.base });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => {
        const text = d.toString();
        stderr += text;
        for (const line of text.split('\n')) if (line) onLine(line);
      });
      // Bounded: the drains below wait at most 120 s.
      const guard = setTimeout(() => child.kill('SIGKILL'), 180_000);
      child.on('exit', (code) => {
        clearTimeout(guard);
        resolve({ code, stdout, stderr });
      });
    });

  const logSegments = (): string[] =>
    fs
      .readdirSync(path.join(t.dataDir, 'clickhouse-ingest-log'))
      .filter((f) => f.startsWith('seg-'));

  it('gives up with exit code 75, or loads every acknowledged event once', async () => {
    // A node acknowledges the batches into its log, and is killed.
    const node = await startServerProcess(t);
    const mp = Mixpanel.init(project.token, { host: `127.0.0.1:${node.port}`, protocol: 'http' });
    const now = Date.now();
    for (let b = 0; b < BATCHES; b++) {
      const batch = Array.from({ length: PER_BATCH }, (_, j) => ({
        event: 'Page View',
        properties: {
          distinct_id: `drain-user-${j % 7}`,
          $insert_id: `drain-${b * PER_BATCH + j}`,
          time: now - 3_600_000 + (b * PER_BATCH + j) * 1000,
        },
      }));
      await new Promise<void>((resolve, reject) =>
        mp.track_batch(batch, (errors) =>
          errors && errors.length > 0 ? reject(new Error(String(errors[0]))) : resolve(),
        ),
      );
    }
    await node.stop('SIGKILL');
    const segments = logSegments();
    expect(segments.length).toBeGreaterThan(0);

    // 1. ClickHouse down: gives up after --wait.
    await server.kill();
    const down = await drain(['--wait', '2']);
    expect(down.code, down.stderr).toBe(75);
    expect(down.stderr).toMatch(/gave up after \d+ s: .*Nothing is lost.*\[DRAIN_INCOMPLETE\]/);
    expect(logSegments()).toEqual(segments);

    // 2. ClickHouse up, killed as the load marks the segment: gives up at --wait, and ends.
    await server.restart();
    let killed = false;
    trip = () => (killed = true);
    const started = Date.now();
    const stuck = await drain(['--wait', '6']);
    expect(killed).toBe(true);
    expect(stuck.code, stuck.stderr).toBe(75);
    expect(stuck.stderr).toContain('[DRAIN_INCOMPLETE]');
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(logSegments()).toEqual(segments);

    // 3. Down at first, back, killed again mid-load, back again while drain retries: completes.
    let retries = 0;
    let phase: 'down' | 'up' | 'killed' | 'back' = 'down';
    const restart = () => void server.restart().catch(() => undefined);
    trip = () => (phase = 'killed');
    const done = await drain([], (line) => {
      if (phase === 'down' && line.includes('waiting for ClickHouse')) {
        phase = 'up';
        restart();
      }
      if (phase === 'killed' && line.includes('retrying') && ++retries === 2) {
        phase = 'back';
        restart();
      }
    });
    expect(phase, done.stderr).toBe('back');
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(
      new RegExp(
        `^drained node_[0-9a-f]+: ${TOTAL} events in ${segments.length} log segments loaded`,
      ),
    );
    expect(done.stderr).not.toContain('INCOMPLETE');

    // Every acknowledged event once (copies from the replays collapse), and nothing left.
    const ch = new ClickHouseClient({ url: server.url, database: DATABASE });
    const where = `project_id = '${project.project_id}'`;
    const counted = await ch.query(
      `SELECT count(), uniqExact(insert_id) FROM events FINAL WHERE ${where}`,
    );
    expect(counted.rows[0]!.map(Number)).toEqual([TOTAL, TOTAL]);
    expect(logSegments()).toEqual([]);
    const again = await drain([]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/: 0 events in 0 log segments loaded/);
  }, 300_000);
});
