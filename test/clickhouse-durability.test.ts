// Acknowledged = durable on ClickHouse: the ingest log stays in front of it. A writer streams
// batches; mid-stream the ClickHouse server is SIGKILLed (appends keep being acknowledged by the
// log), restarted, and then the writer itself is SIGKILLed, possibly in the middle of a load.
// After a restart every acknowledged event is in ClickHouse exactly once, and the profile `$add`
// and the privacy counters (not idempotent by themselves) count every logged batch once.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SILENT_LOGGER } from '../src/shared/log.js';
import { ClickHouseEventStore } from '../src/store/clickhouse/index.js';
import {
  clickHouseAvailable,
  startClickHouse,
  type ClickHouseTestServer,
} from './helpers/clickhouse.js';
import { ROOT } from './helpers/server.js';

const available = clickHouseAvailable();

/** The stored ids as runs (`0-4159, 4161-4179`), so that a failure shows what is missing. */
function idRuns(ids: readonly number[]): string {
  const sorted = [...ids].sort((a, b) => a - b);
  const runs: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    runs.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return runs.join(', ');
}
const BATCHES = 400;
const PER_BATCH = 20;

describe.skipIf(!available)('ClickHouse: SIGKILL mid-stream loses and doubles nothing', () => {
  let server: ClickHouseTestServer;
  let dir: string;

  beforeAll(async () => {
    server = await startClickHouse();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-chdur-'));
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('every acknowledged event counted once after ClickHouse and Sillage were killed', async () => {
    const logDir = path.join(dir, 'ingest-log');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(ROOT, 'test/helpers/clickhouse-writer.ts'),
        server.url,
        logDir,
        String(BATCHES),
        String(PER_BATCH),
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let acked = -1;
    let killedClickHouse = false;
    let restarted = false;
    const lines = readline.createInterface({ input: child.stdout });
    const deadline = Date.now() + 90_000;
    for await (const line of lines) {
      const m = /^ack (\d+)$/.exec(line);
      if (!m) continue;
      acked = Number(m[1]);
      if (acked === 40 && !killedClickHouse) {
        killedClickHouse = true;
        await server.kill();
      } else if (acked === 120 && !restarted) {
        restarted = true;
        await server.restart();
      } else if (acked >= 200 || Date.now() > deadline) {
        child.kill('SIGKILL');
        break;
      }
    }
    await exited;
    expect(killedClickHouse && restarted).toBe(true);
    expect(acked).toBeGreaterThanOrEqual(200);

    // Restart Sillage's side: the log is replayed into ClickHouse.
    const store = await ClickHouseEventStore.open({
      url: server.url,
      database: 'sillage',
      logDir,
      logger: SILENT_LOGGER,
    });
    try {
      const events = await store.listEvents('prj_durable');
      const ids = events.map((e) => Number(e.insertId.slice(1)));
      // No event twice.
      expect(new Set(ids).size).toBe(ids.length);
      expect(await store.countEvents('prj_durable')).toBe(ids.length);
      // Every acknowledged event present, from the first on; beyond them, what the writer logged
      // before it died: whole batches, and possibly the first part of one more. The log splits a
      // batch that fills a segment (ingest-log.ts `append`: the head ends the segment, the rest
      // starts the next), and a head loaded before the writer died stays loaded; that batch was
      // never acknowledged (`append` resolves once both parts are durable), and a retry of it
      // completes it (same dedup keys).
      const runs = `acknowledged batches 0-${acked}; stored ids: ${idRuns(ids)}`;
      expect(
        ids.sort((a, b) => a - b),
        runs,
      ).toEqual(Array.from({ length: ids.length }, (_, i) => i));
      const logged = Math.floor(ids.length / PER_BATCH);
      expect(logged, runs).toBeGreaterThanOrEqual(acked + 1);
      // Profile `$add` and counters: once per whole logged batch (they travel with a split
      // batch's last part), not once per load attempt.
      const profile = await store.getProfile({
        projectId: 'prj_durable',
        groupKey: '',
        profileId: 'counter',
      });
      expect(profile?.properties).toEqual({ batches: logged });
      const counts = await store.privacyCounts('prj_durable', '2024-01-01', '2024-01-01');
      expect(counts.map((c) => c.count)).toEqual([logged]);
    } finally {
      await store.close();
    }
  }, 150_000);
});
