// `sillage serve`: runs the HTTP server and the admin socket until SIGTERM/SIGINT.
import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../shared/errors.js';
import { buildApp } from '../http/app.js';
import { createClientIpResolver } from '../ingest/enrich/index.js';
import type { ServerConfig } from '../shared/config.js';
import type { Logger } from '../shared/log.js';
import { safeStack } from '../shared/log.js';
import { runRetention } from '../projects/privacy-operations.js';
import { startAdminSocket } from './admin-socket.js';
import { startMemoryReport } from './memory-report.js';
import { adminHandlers } from './admin-commands.js';
import { openRuntime, type Runtime } from './runtime.js';
import { authenticateApiKey } from '../auth/index.js';
import { SILLAGE_VERSION } from '../shared/version.js';
import { pushCheckpoint } from '../audit/index.js';

export interface RunningServer {
  app: FastifyInstance;
  runtime: Runtime;
  /** The address actually bound (port 0 picks a free one). */
  url: string;
  close(): Promise<void>;
}

/** Starts everything; resolves once the server accepts events. */
export async function startServer(config: ServerConfig, logger: Logger): Promise<RunningServer> {
  const runtime = await openRuntime(config, logger);
  let ready = false;
  let tls: { key: Buffer; cert: Buffer } | null = null;
  if (config.tls) {
    try {
      tls = {
        key: fs.readFileSync(config.tls.keyFile),
        cert: fs.readFileSync(config.tls.certFile),
      };
    } catch (cause) {
      await runtime.close();
      throw new AppError('CONFIG_INVALID', 'cannot read the TLS key or certificate file', {
        cause,
      });
    }
  }
  const clientIp = createClientIpResolver(config.trustProxy);
  const app = await buildApp({
    tls,
    logger,
    privacyOps: runtime,
    queries: runtime.queries,
    health: () => {
      if (closing) return 'shutting_down';
      if (!ready) return 'starting';
      return runtime.health();
    },
    admission: runtime.admission,
    connections: config.http,
    pipeline: runtime.pipeline,
    projects: runtime.projects,
    limits: config.limits,
    maxApiBodyBytes: config.limits.maxApiBodyBytes,
    clientIp,
    auth: runtime.auth,
    clients: runtime.clients,
    events: runtime.events,
    audit: runtime.audit,
    version: SILLAGE_VERSION,
    importKeyProject: async (secret, ip) => {
      try {
        const principal = await authenticateApiKey(
          runtime.auth,
          secret,
          runtime.clients.describe(ip, null, null),
        );
        return principal.key.scopes.includes('import') ? principal.key.projectId : null;
      } catch {
        return null;
      }
    },
  });
  let closeAdmin: (() => Promise<void>) | undefined;
  let closing: Promise<void> | undefined;
  try {
    await app.listen({ host: config.host, port: config.port });
    closeAdmin = await startAdminSocket(config.dataDir, adminHandlers(runtime), logger);
  } catch (error) {
    await app.close();
    await runtime.close();
    throw error;
  }
  ready = true;
  // The retention job: hourly, and once shortly after start. Unref'd so it never holds the process.
  // A run under way when the server stops is waited for before the stores close.
  let retentionRun: Promise<void> | null = null;
  const retention = (): void => {
    if (retentionRun) return;
    retentionRun = runRetention(runtime, logger)
      .then(() => undefined)
      .catch((error: unknown) => logger.error('retention job failed', { stack: safeStack(error) }))
      .finally(() => (retentionRun = null));
  };
  const retentionTimer = setInterval(retention, 3_600_000);
  retentionTimer.unref();
  const firstRetention = setTimeout(retention, 10_000);
  firstRetention.unref();
  // Off-box copies of the audit log's signed head, on a schedule (and once at start).
  const checkpointTarget = {
    file: config.audit.checkpointFile,
    url: config.audit.checkpointUrl,
  };
  let pushedSeq = 0;
  let pushing: Promise<void> | null = null;
  const pushHead = (): void => {
    if (!checkpointTarget.file && !checkpointTarget.url) return;
    if (pushing) return;
    pushing = pushCheckpoint(runtime.audit, checkpointTarget, logger, pushedSeq)
      .then((seq) => {
        if (seq !== null) pushedSeq = seq;
      })
      .catch((error: unknown) =>
        logger.error('audit checkpoint not pushed', { stack: safeStack(error) }),
      )
      .finally(() => {
        pushing = null;
      });
  };
  const checkpointTimer = setInterval(
    pushHead,
    Math.max(1_000, config.audit.checkpointMinutes * 60_000),
  );
  checkpointTimer.unref();
  pushHead();
  const stopMemoryReport = config.memoryReportFile
    ? startMemoryReport(config.memoryReportFile, () => runtime.memory(), logger)
    : null;
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    app,
    runtime,
    url: `${tls ? 'https' : 'http'}://${host}:${port}`,
    close() {
      closing ??= (async () => {
        ready = false;
        clearInterval(retentionTimer);
        clearInterval(checkpointTimer);
        clearTimeout(firstRetention);
        stopMemoryReport?.();
        // Stop taking requests, let in-flight ones finish (their events commit), then close.
        await app.close();
        await closeAdmin?.();
        await retentionRun;
        await pushing;
        // A last copy of the head off-box, so that a shutdown leaves nothing uncovered.
        if (checkpointTarget.file || checkpointTarget.url) {
          await runtime.audit.drain();
          await pushCheckpoint(runtime.audit, checkpointTarget, logger, pushedSeq).catch(
            (error: unknown) =>
              logger.error('audit checkpoint not pushed', { stack: safeStack(error) }),
          );
        }
        await runtime.close();
      })();
      return closing;
    },
  };
}
