// Accepted means durable: SIGKILL the server while the real `mixpanel` Node SDK sends, restart it,
// and find every acknowledged event exactly once; resending everything does not double count.
import Mixpanel from 'mixpanel';
import { afterAll, describe, expect, it } from 'vitest';
import { readEvents } from './helpers/store.js';
import {
  createProject,
  makeTestEnv,
  startServerProcess,
  type ServerProcess,
} from './helpers/server.js';

const ROUNDS = 3;
const CLIENTS = 8;
const BATCH = 50;

interface ProbeEvent {
  event: string;
  properties: { distinct_id: string; $insert_id: string; probe: string; time: number };
}

interface Sent {
  id: string;
  acked: boolean;
  event: ProbeEvent;
}

function trackBatch(mp: ReturnType<typeof Mixpanel.init>, events: ProbeEvent[]): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    // One request per call (≤ 50 events): the SDK reports only the last request group's errors.
    mp.track_batch(events, { max_batch_size: BATCH }, (errors) => resolve(!errors));
  });
}

function sendUntilKilled(
  server: ServerProcess,
  token: string,
  round: number,
  sent: Map<string, Sent>,
): { acked: () => number; stop: () => Promise<void> } {
  const mp = Mixpanel.init(token, {
    host: `127.0.0.1:${server.port}`,
    protocol: 'http',
    keepAlive: true,
  });
  let running = true;
  let seq = 0;
  let acked = 0;
  const client = async (c: number): Promise<void> => {
    // Bounded: at most 400 batches per client, and the loop ends when the server dies.
    for (let i = 0; running && i < 400; i++) {
      const events = Array.from({ length: BATCH }, (): ProbeEvent => {
        const id = `r${round}c${c}n${seq++}`;
        const event = {
          event: 'Durability probe',
          properties: { distinct_id: `user-${c}`, $insert_id: id, probe: id, time: Date.now() },
        };
        sent.set(id, { id, acked: false, event });
        return event;
      });
      const ok = await trackBatch(mp, events);
      if (!ok) return;
      for (const e of events) sent.get(e.properties.$insert_id)!.acked = true;
      acked += events.length;
    }
  };
  const all = Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  return {
    acked: () => acked,
    stop: async () => {
      running = false;
      await all;
    },
  };
}

describe('durability under SIGKILL', () => {
  const t = makeTestEnv();
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop('SIGKILL');
  });

  it('keeps every acknowledged event exactly once across kills and resends', async () => {
    server = await startServerProcess(t);
    const project = await createProject(t);
    const sent = new Map<string, Sent>();
    for (let round = 0; round < ROUNDS; round++) {
      const load = sendUntilKilled(server, project.token, round, sent);
      // Kill at a different moment each round, while batches are in flight: after a number of
      // acknowledged events that grows with the round (not after a fixed time, which on a busy
      // machine could pass before the first answer), or after 30 s at most.
      const until = Date.now() + 30_000;
      while (load.acked() < 200 + round * 250 && Date.now() < until)
        await new Promise((r) => setTimeout(r, 20));
      await server.stop('SIGKILL');
      await load.stop();
      server = await startServerProcess(t, { port: server.port });
    }
    const acked = [...sent.values()].filter((s) => s.acked);
    expect(acked.length).toBeGreaterThan(500);
    expect(acked.length).toBeLessThan(sent.size); // some requests really were cut off

    // SDK retries: send every event again, acknowledged or not; nothing may double count.
    const mp = Mixpanel.init(project.token, { host: `127.0.0.1:${server.port}`, protocol: 'http' });
    const all = [...sent.values()].map((s) => s.event);
    for (let i = 0; i < all.length; i += BATCH) {
      expect(await trackBatch(mp, all.slice(i, i + BATCH))).toBe(true);
    }
    await server.stop('SIGTERM');

    const rows = await readEvents(t.dataDir, project.project_id);
    const counts = new Map<string, number>();
    for (const row of rows) {
      const probe = row.properties.probe as string;
      counts.set(probe, (counts.get(probe) ?? 0) + 1);
    }
    const missing = acked.filter((s) => !counts.has(s.id)).map((s) => s.id);
    expect(missing).toEqual([]);
    const doubled = [...counts].filter(([, n]) => n !== 1);
    expect(doubled).toEqual([]);
    // After the resend, every event ever sent is there exactly once.
    expect(counts.size).toBe(sent.size);
    // Four server starts, three kills and a resend of every event: minutes on a busy machine.
  }, 240_000);
});
