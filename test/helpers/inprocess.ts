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
