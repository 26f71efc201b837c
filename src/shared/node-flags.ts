// The Node.js flags the server runs with: `npm start` passes them (package.json spells them out;
// node-flags.test.ts keeps the two equal), and so does the ingest benchmark, so that it measures
// what people run.

/**
 * Young-generation semi-space of the ingest workers, MB (V8's default on 64-bit, spelled out).
 * Decoding allocates many short-lived objects per event, and larger semi-spaces mean fewer
 * scavenges: 32 measured about 5 % more ingest throughput than 16 (64 no better than 32), but
 * every isolate then keeps up to twice as much young generation resident: at 32, the main V8 heap
 * peaked at 133 MB and the workers' at ~90–100 MB under bench:ingest's full segment (issue 16:
 * peak RSS is the target now; README "Hostile traffic" has the figures).
 */
const SEMI_SPACE_MB = 16;

/**
 * The main thread's semi-space, MB: half the workers'. Its young generation sat at its full
 * size with a third of it in use (main V8 heap 63–67 MB, 26–39 used, at bench:abuse's peaks); at
 * 8 MB it holds ~16 MB less at every peak (46–49 MB), and ingest throughput did not move
 * (bench:ingest against a 16 MB build, ten single-event runs: 83–113 %, mean 99 %; batched 97 and
 * 102 %). Issue 10's flooded peak had missed 512 MB by 2 MB.
 */
const MAIN_SEMI_SPACE_MB = 8;

/** Flags for `node` when it runs `sillage serve`. */
export const SERVER_NODE_FLAGS: readonly string[] = [`--max-semi-space-size=${MAIN_SEMI_SPACE_MB}`];

/**
 * Environment `npm start` sets for the server process. `MALLOC_ARENA_MAX=2`: glibc gives each
 * thread that allocates (DuckDB's, libuv's pool, the ingest workers, V8's helpers) an arena of its
 * own, up to 8 per core, and memory freed in one arena is not reused by another; with two arenas
 * the server's peak resident memory under bench:abuse dropped by 70–100 MB (433 → 365 MB with
 * benign traffic, 545 → 444 MB flooded, one run each on 2 busy cores). Read by the C library at
 * process start, so it can only come from the environment (a service manager sets it the same way).
 *
 * `UV_THREADPOOL_SIZE=12`: every running DuckDB statement holds a thread of libuv's pool (4 by
 * default) until it ends, and so does every fdatasync that an acknowledgement or an audit entry
 * waits for. The store runs statements on up to 8 connections at once (writer, metadata, lookups,
 * 2 readers, a rollups build, 2 queries): with 2 queries, a load and a checkpoint on the metadata
 * connection, 4 threads were all taken for seconds, and requests waited for a thread to sync
 * their audit entry (issue 12: 1.1 s probes, a 16 ms answer that took 2.9 s). Node sizes the pool
 * from the environment before any JavaScript runs (setting it in the process is too late).
 */
export const SERVER_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  UV_THREADPOOL_SIZE: '12',
};

/**
 * The same young generation for worker threads (`resourceLimits.maxYoungGenerationSizeMb`, which
 * counts both semi-spaces and the young large-object space: three semi-spaces), also when the
 * server was started without SERVER_NODE_FLAGS.
 */
export const WORKER_YOUNG_GENERATION_MB = 3 * SEMI_SPACE_MB;
