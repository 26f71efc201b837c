// The local admin socket: lets the CLI act on a running server (the DuckDB file is locked by it).
// A Unix socket inside the data directory, mode 0600: only the owner of the data can use it.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { z } from 'zod';
import { actingAs } from '../audit/index.js';
import { AppError, ERROR_CODES, isAppError, type ErrorCode } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { safeStack } from '../shared/log.js';

export const ADMIN_SOCKET = 'admin.sock';

export const adminSocketPath = (dataDir: string): string => path.join(dataDir, ADMIN_SOCKET);

/** A command the admin socket understands: name → handler of a JSON body. */
export type AdminHandlers = Record<string, (body: unknown) => Promise<unknown>>;

const MAX_ADMIN_BODY = 64 * 1024 * 1024;

/** Starts the admin socket server. Returns a function that closes it and removes the socket. */
export async function startAdminSocket(
  dataDir: string,
  handlers: AdminHandlers,
  logger: Logger,
): Promise<() => Promise<void>> {
  const socketPath = adminSocketPath(dataDir);
  // A socket left by a killed server would block listen(); nobody is listening on it any more
  // (the DuckDB lock we hold proves no other server runs on this data directory).
  fs.rmSync(socketPath, { force: true });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_ADMIN_BODY) req.destroy();
      else chunks.push(chunk);
    });
    req.on('end', () => {
      const name = (req.url ?? '/').replace(/^\//, '');
      const handler = Object.hasOwn(handlers, name) ? handlers[name] : undefined;
      const reply = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (!handler)
        return reply(404, { error: { code: 'NOT_FOUND', message: 'unknown admin command' } });
      let body: unknown;
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
      } catch {
        return reply(400, {
          error: { code: 'INGEST_JSON_INVALID', message: 'admin request is not JSON' },
        });
      }
      // Acts a command causes are recorded as the operator's (`cli`), not `system`.
      actingAs({ actor: 'cli', source: { kind: 'admin-socket' } }, () => handler(body)).then(
        (value) => reply(200, { ok: true, value }),
        (error: unknown) => {
          const e = isAppError(error)
            ? error
            : new AppError('INTERNAL', 'internal error', { cause: error });
          if (!isAppError(error))
            logger.error('admin command failed', { code: e.code, stack: safeStack(error) });
          reply(e.status, { error: { code: e.code, message: e.message } });
        },
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  fs.chmodSync(socketPath, 0o600);
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => {
        fs.rmSync(socketPath, { force: true });
        resolve();
      });
    });
}

const responseSchema = z.union([
  z.object({ ok: z.literal(true), value: z.unknown() }),
  z.object({ error: z.object({ code: z.string(), message: z.string() }) }),
]);

/**
 * Sends a command to a running server. Resolves `{ reachable: false }` when no server listens,
 * so the caller can fall back to opening the store itself.
 */
export function callAdmin(
  dataDir: string,
  command: string,
  body: unknown,
): Promise<{ reachable: false } | { reachable: true; value: unknown }> {
  const socketPath = adminSocketPath(dataDir);
  if (!fs.existsSync(socketPath)) return Promise.resolve({ reachable: false });
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        path: `/${command}`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const parsed = responseSchema.safeParse(
            JSON.parse(Buffer.concat(chunks).toString('utf8')),
          );
          if (!parsed.success)
            return reject(new AppError('INTERNAL', 'unexpected admin socket reply'));
          if ('ok' in parsed.data) return resolve({ reachable: true, value: parsed.data.value });
          const { code, message } = parsed.data.error;
          reject(
            new AppError(
              Object.hasOwn(ERROR_CODES, code) ? (code as ErrorCode) : 'INTERNAL',
              message,
            ),
          );
        });
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      // A stale socket file from a killed server: nobody is listening.
      if (error.code === 'ECONNREFUSED' || error.code === 'ENOENT') resolve({ reachable: false });
      else reject(error);
    });
    req.end(payload);
  });
}
