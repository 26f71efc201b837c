// The admission hook on its own: a body the byte budget refuses after Fastify has stopped reading
// it (the answer already sent, e.g. a 4xx before the body ended) must not become an uncaught
// exception, which would take the whole server down (found by the fuzz test in ingest-http).
import { EventEmitter } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../ingest/admission.js';
import { isAppError } from '../shared/errors.js';
import { admitBodies } from './admission.js';

type Hook = (
  request: unknown,
  reply: unknown,
  payload: Readable,
  done: (error: Error | null, stream?: Readable) => void,
) => void;

/** The preParsing hook admitBodies registers, called the way Fastify calls it. */
function admissionHook(budget: ByteBudget): Hook {
  let hook: Hook | null = null;
  const app = {
    addHook: (name: string, fn: Hook) => {
      if (name === 'preParsing') hook = fn;
    },
  } as unknown as FastifyInstance;
  admitBodies(app, budget);
  if (!hook) throw new Error('no preParsing hook');
  return hook;
}

function start(hook: Hook, headers: Record<string, string>) {
  const payload = new PassThrough();
  const raw = new EventEmitter();
  let stream: Readable | null = null;
  hook({ headers, raw: { socket: {} } }, { raw }, payload, (error, s) => {
    if (error) throw error;
    stream = s ?? null;
  });
  if (!stream) throw new Error('hook gave no stream');
  return { payload, raw, stream: stream as Readable };
}

describe('admitBodies', () => {
  it('a body refused after nobody reads it any more ends quietly, with no uncaught exception', async () => {
    const budget = new ByteBudget(1_000, 2);
    const hook = admissionHook(budget);
    // Another request holds most of the budget.
    const other = budget.open('other');
    expect(other.grow(900)).toBe(true);
    // A chunked body (no Content-Length): admitted chunk by chunk.
    const { payload, stream } = start(hook, {});
    const uncaught: unknown[] = [];
    let settle: () => void = () => undefined;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const onUncaught = (e: unknown) => {
      uncaught.push(e);
      settle();
    };
    process.on('uncaughtException', onUncaught);
    stream.once('close', () => settle());
    try {
      // Fastify read the first chunk, then answered (say 4xx) and stopped listening: nothing but
      // the hook's own listener is left on the stream, which keeps flowing to its end.
      stream.once('data', () => undefined);
      payload.write(Buffer.alloc(50));
      await new Promise((r) => setImmediate(r));
      stream.resume();
      payload.write(Buffer.alloc(500));
      payload.end();
      // Ends either way: closed, or (without the hook's error listener) an uncaught exception.
      await settled;
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(uncaught).toEqual([]);
    // The stream ended with the budget's 503, which a listening Fastify would have answered.
    const error = (stream as Readable & { errored: unknown }).errored;
    expect(isAppError(error) && error.status === 503 && error.code).toBe('INGEST_OVERLOADED');
    // What the refused request held went back.
    expect(budget.stats().heldBytes).toBe(900);
  });

  it('hands a body admitted whole by its Content-Length over as it is, holding its bytes', () => {
    const budget = new ByteBudget(1_000, 2);
    const { payload, raw, stream } = start(admissionHook(budget), { 'content-length': '300' });
    // Nothing left to meter: Node's parser delivers at most Content-Length bytes.
    expect(stream).toBe(payload);
    expect(budget.stats().heldBytes).toBe(300);
    raw.emit('close');
    expect(budget.stats().heldBytes).toBe(0);
  });

  it('meters a body whose Content-Length the budget refuses, and ends it with a 503', async () => {
    const budget = new ByteBudget(1_000, 2);
    const other = budget.open('other');
    expect(other.grow(900)).toBe(true);
    const { payload, stream } = start(admissionHook(budget), { 'content-length': '300' });
    expect(stream).not.toBe(payload);
    const ended = new Promise<unknown>((resolve) => stream.once('error', resolve));
    stream.resume();
    payload.end(Buffer.alloc(300));
    const error = await ended;
    expect(isAppError(error) && error.code).toBe('INGEST_OVERLOADED');
    expect(budget.stats().heldBytes).toBe(900);
  });

  it('gives its bytes back once the answer is sent', () => {
    const budget = new ByteBudget(1_000, 2);
    const { raw } = start(admissionHook(budget), { 'content-length': '300' });
    expect(budget.stats().heldBytes).toBe(300);
    raw.emit('close');
    expect(budget.stats().heldBytes).toBe(0);
  });
});
