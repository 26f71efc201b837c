// The Node.js flags the server runs with: `npm start` passes them (package.json spells them out;
// node-flags.test.ts keeps the two equal), and so does the ingest benchmark, so that it measures
// what people run.

/**
 * Young-generation semi-space, MB (V8's default is 16 on 64-bit): ingestion allocates many
 * short-lived objects per event, and larger semi-spaces mean fewer scavenges, each finding fewer
 * survivors to copy. 64 measured no better than 32.
 */
const SEMI_SPACE_MB = 32;

/** Flags for `node` when it runs `sillage serve`. */
export const SERVER_NODE_FLAGS: readonly string[] = [`--max-semi-space-size=${SEMI_SPACE_MB}`];

/**
 * The same young generation for worker threads (`resourceLimits.maxYoungGenerationSizeMb`, which
 * counts both semi-spaces and the young large-object space: three semi-spaces), also when the
 * server was started without SERVER_NODE_FLAGS.
 */
export const WORKER_YOUNG_GENERATION_MB = 3 * SEMI_SPACE_MB;
