// A request refused for the size of its body is answered once the client has sent it, so that the
// client reads the answer: Fastify answers a body over its limit with `Connection: close` at once,
// and Node then closes the connection while the client is still uploading — the client saw EPIPE
// or ECONNRESET instead of the 413 (an SDK takes that for a network failure and sends it again).
import type { IncomingMessage } from 'node:http';

/** Bytes of a refused body read and dropped before the answer, at most (then it is closed). */
export const DRAIN_MAX_BYTES = 16 * 1024 * 1024;

/** How long a refused body is read and dropped before the answer, at most. */
export const DRAIN_MAX_MS = 5_000;

/**
 * Reads and drops what is left of `request`'s body: resolves at its end, or once DRAIN_MAX_BYTES
 * more arrived or DRAIN_MAX_MS passed (a slow or endless upload, which then sees the answer with
 * its connection closed), whichever comes first. Nothing is kept, so memory does not grow.
 */
export function drainBody(
  request: IncomingMessage,
  bounds: { maxBytes: number; maxMs: number } = {
    maxBytes: DRAIN_MAX_BYTES,
    maxMs: DRAIN_MAX_MS,
  },
): Promise<void> {
  if (request.complete || request.destroyed || request.readableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    let dropped = 0;
    const finish = (): void => {
      clearTimeout(timer);
      request.off('data', onData);
      request.off('end', finish);
      request.off('close', finish);
      request.off('error', finish);
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      dropped += chunk.length;
      if (dropped > bounds.maxBytes) finish();
    };
    const timer = setTimeout(finish, bounds.maxMs);
    timer.unref();
    request.on('data', onData);
    request.once('end', finish);
    request.once('close', finish);
    request.once('error', finish);
    request.resume();
  });
}
