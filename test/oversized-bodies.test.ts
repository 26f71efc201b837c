// A client still uploading a body over its route's size limit reads the 413, in the route's own
// format, instead of a connection closed under it (EPIPE / ECONNRESET, which SDKs take for a
// network failure and send again): the server reads and drops the rest of the body before it
// answers, and only so much of it (src/http/drain.ts). Real server, raw sockets on loopback.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRAIN_MAX_BYTES } from '../src/http/drain.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

/** The ingest routes' limit for this server (the default, 10 MiB, would make the test slow). */
const INGEST_LIMIT = 1024 * 1024;

let s: InProcess;

beforeAll(async () => {
  s = await startInProcess({ SILLAGE_MAX_BODY_BYTES: String(INGEST_LIMIT) });
});

afterAll(async () => {
  await s.close();
});

interface Upload {
  status: number | null;
  body: string;
  /** The socket error the client met (EPIPE, ECONNRESET), if any. */
  error: string | null;
  written: number;
}

/**
 * POSTs `size` bytes declared by Content-Length (or sent chunked), written in 64 KiB pieces as
 * fast as the socket takes them, and reads whatever answer comes until the server closes the
 * connection.
 */
function upload(
  path: string,
  size: number,
  headers: Record<string, string> = {},
  chunked = false,
): Promise<Upload> {
  const { port } = new URL(s.server.url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    const piece = Buffer.alloc(64 * 1024, 0x20);
    let received = '';
    let error: string | null = null;
    let written = 0;
    socket.on('connect', () => {
      const head = Object.entries({ 'content-type': 'application/json', ...headers })
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      const framing = chunked ? 'transfer-encoding: chunked' : `content-length: ${size}`;
      socket.write(`POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n${framing}\r\n${head}\r\n`);
      const pump = (): void => {
        while (written < size && !socket.destroyed) {
          const n = Math.min(piece.length, size - written);
          written += n;
          const data = n === piece.length ? piece : piece.subarray(0, n);
          const more = chunked
            ? [`${n.toString(16)}\r\n`, data, written === size ? '\r\n0\r\n\r\n' : '\r\n']
                .map((part) => socket.write(part))
                .every(Boolean)
            : socket.write(data);
          if (!more) {
            socket.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.on('close', () => {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(received);
      resolve({
        status: status ? Number(status[1]) : null,
        body: received.slice(received.indexOf('\r\n\r\n') + 4),
        error,
        written,
      });
    });
  });
}

describe('a body over its size limit, still being uploaded', () => {
  it('gets the 413 in the format of its route, its connection whole', async () => {
    const secret = { authorization: `Bearer ${s.project.secret}` };
    const basic = {
      authorization: `Basic ${Buffer.from(`${s.project.secret}:`).toString('base64')}`,
    };
    const cases: [string, number, Record<string, string>, (body: string) => void][] = [
      // API routes: SILLAGE_MAX_API_BODY_BYTES (256 KiB); the sign-in route needs no credential.
      [
        '/api/v1/auth/login',
        4 * 1024 * 1024,
        {},
        (b) => expect(JSON.parse(b)).toMatchObject({ error: { code: 'REQUEST_TOO_LARGE' } }),
      ],
      [
        `/api/v1/projects/${s.project.project_id}/query`,
        4 * 1024 * 1024,
        secret,
        (b) => expect(JSON.parse(b)).toMatchObject({ error: { code: 'REQUEST_TOO_LARGE' } }),
      ],
      // Ingest routes: SILLAGE_MAX_BODY_BYTES, each answering as its SDK expects.
      ['/track', 4 * INGEST_LIMIT, {}, (b) => expect(b).toBe('0')],
      [
        '/track?verbose=1',
        4 * INGEST_LIMIT,
        {},
        (b) => expect(JSON.parse(b)).toMatchObject({ status: 0, code: 'INGEST_BODY_TOO_LARGE' }),
      ],
      [
        '/import',
        4 * INGEST_LIMIT,
        basic,
        (b) => expect(JSON.parse(b)).toMatchObject({ code: 413, num_records_imported: 0 }),
      ],
      [
        '/batch',
        4 * INGEST_LIMIT,
        {},
        (b) =>
          expect(JSON.parse(b)).toMatchObject({
            type: 'validation_error',
            code: 'INGEST_BODY_TOO_LARGE',
          }),
      ],
    ];
    for (const [path, size, headers, check] of cases) {
      const answer = await upload(path, size, headers);
      expect({ path, status: answer.status, error: answer.error }).toEqual({
        path,
        status: 413,
        error: null,
      });
      check(answer.body);
      expect(answer.written).toBe(size);
    }
    // Chunked, its size unknown until it overflows.
    const chunked = await upload('/track?verbose=1', 4 * INGEST_LIMIT, {}, true);
    expect({ status: chunked.status, error: chunked.error }).toEqual({ status: 413, error: null });
    expect(JSON.parse(chunked.body)).toMatchObject({ code: 'INGEST_BODY_TOO_LARGE' });
    // The server still serves.
    expect((await fetch(`${s.server.url}/healthz`)).status).toBe(200);
  });

  it('is read only so far: an endless upload has its connection closed', async () => {
    const size = INGEST_LIMIT + 4 * DRAIN_MAX_BYTES;
    const answer = await upload('/track?verbose=1', size);
    // Closed once DRAIN_MAX_BYTES more had come (the 413 sent first: whether the client reads it
    // before the reset is the kernel's race), long before the client was done.
    expect(answer.written).toBeLessThan(size);
  });
});
