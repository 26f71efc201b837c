// Test helper: a real server in this process (real DuckDB file, real Fastify) for inject tests.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { loadConfig } from '../../src/shared/config.js';
import { createLogger, type LogSink } from '../../src/shared/log.js';

export interface InProcess {
  server: RunningServer;
  dataDir: string;
  base: string;
  logLines: string[];
  project: { project_id: string; token: string; secret: string };
  /** The server's certificate (PEM) when it serves HTTPS (SILLAGE_TLS_CERT/KEY in `env`). */
  ca?: string;
  close(): Promise<void>;
}

/** Starts a server on a free loopback port with a fresh data directory and one project. */
export async function startInProcess(env: Record<string, string> = {}): Promise<InProcess> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-inproc-'));
  const dataDir = path.join(base, 'data');
  const config = loadConfig(
    { port: 0, host: '127.0.0.1', data: dataDir },
    { SILLAGE_MASTER_KEY: randomBytes(32).toString('hex'), ...env },
  );
  const logLines: string[] = [];
  const sink: LogSink = (line) => logLines.push(line);
  const server = await startServer(config, createLogger({ level: 'debug', sink }));
  const project = await server.runtime.projects.create('Test');
  return {
    server,
    dataDir,
    base,
    logLines,
    project,
    ...(config.tls ? { ca: fs.readFileSync(config.tls.certFile, 'utf8') } : {}),
    close: () => server.close(),
  };
}

/**
 * Loads Mixpanel-shaped events through `/import` with the project secret and sets each person's
 * `plan` through `/engage`, as an SDK would; then waits until all of it is queryable.
 */
export async function importWithPlans(
  s: InProcess,
  events: unknown[],
  plans: readonly (readonly [string, string])[],
): Promise<void> {
  const res = await s.server.app.inject({
    method: 'POST',
    url: '/import',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`${s.project.secret}:`).toString('base64')}`,
    },
    payload: JSON.stringify(events),
  });
  if (res.statusCode !== 200) throw new Error(`/import answered ${res.statusCode}: ${res.body}`);
  // A record refused (an invalid $insert_id, say) must not quietly leave a test counting less.
  const imported = res.json<{ num_records_imported?: unknown }>().num_records_imported;
  if (imported !== events.length)
    throw new Error(`/import took ${String(imported)} of ${events.length} records: ${res.body}`);
  for (const [id, plan] of plans) {
    const p = await s.server.app.inject({
      method: 'POST',
      url: '/engage',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload:
        'data=' +
        encodeURIComponent(
          JSON.stringify({ $token: s.project.token, $distinct_id: id, $set: { plan } }),
        ),
    });
    if (p.body !== '1') throw new Error(`/engage answered ${p.body}`);
  }
  await s.server.runtime.events.flush();
}

/**
 * One Mixpanel-shaped event of user `id` for `/import` (distinct_id and $user_id both `id`), at
 * `time` (epoch seconds), with its $insert_id and the project's token.
 */
export function importEvent(
  s: InProcess,
  event: string,
  id: string,
  time: number,
  insertId: string,
  properties: Record<string, unknown> = {},
) {
  return {
    event,
    properties: {
      distinct_id: id,
      $user_id: id,
      ...properties,
      time,
      $insert_id: insertId,
      token: s.project.token,
    },
  };
}

/** POSTs a query to the project's query route with the project's secret (and `headers`). */
export function postQuery(s: InProcess, body: unknown, headers: Record<string, string> = {}) {
  return s.server.app.inject({
    method: 'POST',
    url: `/api/v1/projects/${s.project.project_id}/query`,
    headers: {
      authorization: `Bearer ${s.project.secret}`,
      'content-type': 'application/json',
      ...headers,
    },
    payload: JSON.stringify(body),
  });
}

/**
 * Days counted back from yesterday (UTC): `day(k)` is the date k days before yesterday, `at(k,
 * minute)` that day's noon plus `minute` minutes in epoch seconds. Yesterday ends a test's
 * range, so that every event is in the past whatever the hour.
 */
export function daysBeforeYesterday(): {
  day: (k: number) => string;
  at: (k: number, minute?: number) => number;
} {
  const DAY = 86_400_000;
  const now = new Date();
  const yesterday = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - 1);
  return {
    day: (k) => new Date(yesterday - k * DAY).toISOString().slice(0, 10),
    at: (k, minute = 0) => Math.floor((yesterday - k * DAY) / 1000) + 43_200 + minute * 60,
  };
}

/**
 * The days of a range that starts `back` days ago (UTC): `D(k)` is its k-th day (from 0), `at(k,
 * hour)` that day's hour in epoch seconds.
 */
export function rangeStartingDaysAgo(back: number): {
  D: (k: number) => string;
  at: (k: number, hour: number) => number;
} {
  const DAY = 86_400_000;
  const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const first = Date.parse(`${dayOf(Date.now() - back * DAY)}T00:00:00Z`);
  return {
    D: (k) => dayOf(first + k * DAY),
    at: (k, hour) => Math.floor((first + k * DAY + hour * 3_600_000) / 1000),
  };
}
