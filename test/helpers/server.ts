// Test harness: runs the real `sillage` binary (built dist/) as a child process on loopback.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CLI = path.join(ROOT, 'dist/cli/main.js');

export interface TestEnv {
  /** Temporary folder holding the data directory, the key file and logs. */
  base: string;
  dataDir: string;
  keyFile: string;
  env: NodeJS.ProcessEnv;
}

/** A fresh data directory and a master key file outside it. */
export function makeTestEnv(extra: NodeJS.ProcessEnv = {}): TestEnv {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-test-'));
  const dataDir = path.join(base, 'data');
  const keyDir = path.join(base, 'keys');
  fs.mkdirSync(keyDir, { mode: 0o700 });
  const keyFile = path.join(keyDir, 'master.key');
  fs.writeFileSync(keyFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: base,
    SILLAGE_DATA_DIR: dataDir,
    SILLAGE_MASTER_KEY_FILE: keyFile,
    ...extra,
  };
  return { base, dataDir, keyFile, env };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Runs the CLI to completion and returns stdout. */
export async function runCli(t: TestEnv, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(process.execPath, [CLI, ...args], {
    env: t.env,
    cwd: t.base,
  });
  return stdout;
}

export interface CreatedProject {
  project_id: string;
  token: string;
  secret: string;
}

export async function createProject(t: TestEnv, name = 'Test'): Promise<CreatedProject> {
  return JSON.parse(
    await runCli(t, ['project', 'create', '--name', name, '--json']),
  ) as CreatedProject;
}

export interface ServerProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the server wrote to stdout and stderr (for log-content assertions). */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `sillage serve` on a free loopback port and waits for /healthz. */
export async function startServerProcess(
  t: TestEnv,
  options: {
    env?: NodeJS.ProcessEnv;
    port?: number;
    /** `https` when the env turns TLS on; `healthz` then checks with the test's own CA. */
    scheme?: 'http' | 'https';
    healthz?: (url: string) => Promise<number>;
  } = {},
): Promise<ServerProcess> {
  const port = options.port ?? (await freePort());
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--port', String(port), '--host', '127.0.0.1'],
    {
      env: { ...t.env, SILLAGE_LOG_LEVEL: 'debug', ...options.env },
      cwd: t.base,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString('utf8')));
  const url = `${options.scheme ?? 'http'}://127.0.0.1:${port}`;
  const healthz =
    options.healthz ?? (async (base: string) => (await fetch(`${base}/healthz`)).status);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`server exited early (${child.exitCode}): ${output}`);
    try {
      if ((await healthz(url)) === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not become healthy: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    child,
    output: () => output,
    stop: (signal: NodeJS.Signals = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill(signal);
      }),
  };
}
