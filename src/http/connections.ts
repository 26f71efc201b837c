// Connection guards of the HTTP server: how long a request, its headers and an idle keep-alive
// connection may take, and how many connections one source may hold open (slow-body floods).
import type { Server } from 'node:net';
import type { Logger } from '../shared/log.js';

/** The limits, from `ServerConfig.http`. */
export interface ConnectionLimits {
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnectionsPerSource: number;
  maxConnections: number;
}

/**
 * Options for `http(s).createServer`: Node checks the request and header timeouts every
 * `connectionsCheckingInterval` (30 s by default, which would let a slow body live for twice its
 * timeout), so the check runs at a tenth of the shorter one.
 */
export function serverTimeoutOptions(limits: ConnectionLimits): {
  requestTimeout: number;
  headersTimeout: number;
  keepAliveTimeout: number;
  connectionsCheckingInterval: number;
} {
  return {
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(
      100,
      Math.min(1_000, Math.floor(Math.min(limits.requestTimeoutMs, limits.headersTimeoutMs) / 10)),
    ),
  };
}

/**
 * Caps open connections per source address (the socket peer: behind a trusted proxy every
 * client shares its address, so trusted proxies are exempt) and in total. A connection over the
 * cap is closed at once, before any byte of it is read.
 */
export function guardConnections(
  server: Server,
  limits: ConnectionLimits,
  isTrustedProxy: (address: string) => boolean,
  logger: Logger,
): void {
  server.maxConnections = limits.maxConnections;
  const open = new Map<string, number>();
  let refusedSinceLog = 0;
  let lastLogMs = 0;
  server.on('connection', (socket) => {
    const address = socket.remoteAddress;
    if (address === undefined || isTrustedProxy(address)) return;
    const count = open.get(address) ?? 0;
    if (count >= limits.maxConnectionsPerSource) {
      socket.destroy();
      refusedSinceLog++;
      // One line per interval at most (the source address itself is never logged).
      const now = Date.now();
      if (now - lastLogMs > 10_000) {
        logger.warn('connections refused: per-source cap reached', { count: refusedSinceLog });
        refusedSinceLog = 0;
        lastLogMs = now;
      }
      return;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
}
