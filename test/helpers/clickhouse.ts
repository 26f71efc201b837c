// Test harness: a throw-away clickhouse-server (Debian's package) on loopback, with random ports
// and a temporary data directory; never the system service. Killed (and its files removed) after.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './server.js';

/** Where Debian installs the server binary (`apt-get install clickhouse-server`). */
export const CLICKHOUSE_SERVER_BIN =
  process.env.SILLAGE_CLICKHOUSE_SERVER_BIN ?? '/usr/sbin/clickhouse-server';

/**
 * Whether a real server can be started here. When not, suites report themselves as skipped;
 * CI sets SILLAGE_REQUIRE_CLICKHOUSE=1, which turns a missing binary into a failure instead.
 */
export function clickHouseAvailable(): boolean {
  const present = fs.existsSync(CLICKHOUSE_SERVER_BIN);
  if (!present && process.env.SILLAGE_REQUIRE_CLICKHOUSE === '1') {
    throw new Error(`SILLAGE_REQUIRE_CLICKHOUSE=1 but ${CLICKHOUSE_SERVER_BIN} is missing`);
  }
  return present;
}

const START_TIMEOUT_MS = 30_000;

export interface ClickHouseTestServer {
  /** `http://127.0.0.1:<port>` of the HTTP interface. */
  url: string;
  /** The server's process id (to SIGKILL it in failure tests). */
  readonly pid: number;
  /** SIGKILLs the process and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts the server again on the same ports and data directory (after `kill`). */
  restart(): Promise<void>;
  /** Kills the server and removes its directory. */
  stop(): Promise<void>;
  /** The end of the server's error log (why it refused or failed), '' when it has none. */
  errorLog(): string;
}

function configXml(dir: string, httpPort: number, tcpPort: number, extra = ''): string {
  return `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/server.log</log><errorlog>${dir}/server.err.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>0</uncompressed_cache_size>
  <max_concurrent_queries>32</max_concurrent_queries>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <profiles><default><max_threads>2</max_threads></default></profiles>
  <quotas><default></default></quotas>
${extra}</yandex>
`;
}

function errorLogTail(dir: string): string {
  const file = `${dir}/server.err.log`;
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').slice(-2000) : '';
}

async function waitReady(url: string, child: ChildProcess, dir: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`clickhouse-server exited during start: ${errorLogTail(dir)}`);
    }
    try {
      const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`clickhouse-server did not answer within ${START_TIMEOUT_MS} ms`);
}

interface StartOptions {
  httpPort?: number;
  tcpPort?: number;
  /** More top-level configuration (e.g. `<remote_servers>`). */
  extraConfig?: string;
}

/**
 * Removes a stopped server's directory in a process of its own that outlives the test process: a
 * differential run leaves tens of thousands of part files, and removing them took 187 s of an
 * `afterAll` (over its time limit) on a machine whose disk was busy.
 */
function removeLater(dir: string): void {
  spawn('rm', ['-rf', '--', dir], { detached: true, stdio: 'ignore' }).unref();
}

/** Starts a server on random loopback ports in a fresh temporary directory. */
export async function startClickHouse(options: StartOptions = {}): Promise<ClickHouseTestServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-ch-'));
  const httpPort = options.httpPort ?? (await freePort());
  const tcpPort = options.tcpPort ?? (await freePort());
  const config = path.join(dir, 'config.xml');
  fs.writeFileSync(config, configXml(dir, httpPort, tcpPort, options.extraConfig));
  const url = `http://127.0.0.1:${httpPort}`;
  let child: ChildProcess;
  const launch = async () => {
    child = spawn(CLICKHOUSE_SERVER_BIN, [`--config-file=${config}`], {
      cwd: dir,
      stdio: 'ignore',
    });
    await waitReady(url, child, dir);
  };
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  };
  await launch();
  return {
    url,
    get pid() {
      return child.pid ?? -1;
    },
    kill,
    restart: launch,
    async stop() {
      await kill();
      removeLater(dir);
    },
    errorLog: () => errorLogTail(dir),
  };
}

/**
 * `shards` servers on loopback, each one shard (one replica) of the cluster `cluster` in every
 * server's `remote_servers` (the 18.16 format: <cluster><shard><replica><host/><port/>, the
 * native TCP port). Started in parallel; stop each.
 */
export async function startClickHouseCluster(
  shards: number,
  cluster: string,
): Promise<ClickHouseTestServer[]> {
  const ports: { httpPort: number; tcpPort: number }[] = [];
  for (let i = 0; i < shards; i++)
    ports.push({ httpPort: await freePort(), tcpPort: await freePort() });
  const remote = `  <remote_servers><${cluster}>${ports
    .map(
      (p) =>
        `<shard><internal_replication>false</internal_replication><replica><host>127.0.0.1</host><port>${p.tcpPort}</port></replica></shard>`,
    )
    .join('')}</${cluster}></remote_servers>\n`;
  return Promise.all(ports.map((p) => startClickHouse({ ...p, extraConfig: remote })));
}
