// Server configuration: parsed once at start-up from flags and environment into one object.
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { AppError } from './errors.js';

/**
 * Where events live (SILLAGE_EVENTS_URL): the embedded DuckDB file (default), or ClickHouse: one
 * server, or the shards of a cluster (one URL per shard, comma-separated, with the cluster's name
 * in SILLAGE_CLICKHOUSE_CLUSTER as the servers' `remote_servers` configuration spells it).
 */
export type EventStoreConfig =
  { kind: 'duckdb' } | { kind: 'clickhouse'; urls: string[]; cluster?: string };

/** Where metadata lives (SILLAGE_META_URL): the embedded DuckDB file (default), or PostgreSQL. */
export type MetaStoreConfig = { kind: 'duckdb' } | { kind: 'postgres'; url: string };

export interface ServerConfig {
  host: string;
  port: number;
  dataDir: string;
  /** CIDRs / addresses whose X-Forwarded-For is believed. */
  trustProxy: string[];
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  limits: {
    /** Largest request body on the wire (compressed), bytes. */
    maxBodyBytes: number;
    /** Largest body after decompression / base64 decoding, bytes. */
    maxDecodedBytes: number;
    maxDepth: number;
    maxRecordsPerRequest: number;
    /** Longest string (key or value) in one record, characters. */
    maxStringLength: number;
    /** Most properties (keys and array elements, every level) in one record. */
    maxPropertiesPerRecord: number;
    /**
     * Largest body of an API request (`/api/…`: queries, sign-in, settings), bytes. Parsed on the
     * thread serving HTTP, so kept far below the ingest bodies' limit (those decode on workers).
     */
    maxApiBodyBytes: number;
  };
  /** Ingest admission: bytes of request bodies held at once (received, decoding, committing). */
  admission: {
    maxQueuedBytes: number;
    /**
     * Resident memory of the process past which new ingest bodies of 256 KiB and more are
     * refused (503 with Retry-After) unless none is held, bytes; 0: no such bound
     * (SILLAGE_MAX_RSS_BYTES).
     */
    maxRssBytes: number;
  };
  /** Connection guards of the HTTP server. */
  http: {
    /** Whole request (headers and body) must arrive within this, ms. */
    requestTimeoutMs: number;
    /** Headers must arrive within this, ms. */
    headersTimeoutMs: number;
    /** An idle keep-alive connection is closed after this, ms. */
    keepAliveTimeoutMs: number;
    /** Open connections allowed per source address (trusted proxies are exempt). */
    maxConnectionsPerSource: number;
    /** Open connections allowed in total. */
    maxConnections: number;
  };
  writer: {
    maxQueuedRecords: number;
    maxRecordsPerCommit: number;
    retryAfterSeconds: number;
  };
  /** Which adapters the composition root opens, and the embedded store's tuning. */
  store: {
    events: EventStoreConfig;
    meta: MetaStoreConfig;
    /** DuckDB worker threads; undefined = one per core. */
    duckdbThreads: number | undefined;
    /** DuckDB WAL size that triggers a checkpoint (`256MB`); undefined = DuckDB's default. */
    duckdbCheckpointThreshold: string | undefined;
    /**
     * DuckDB's `memory_limit` (buffer pool: cached table blocks, hash tables, sorts; past it
     * DuckDB evicts or spills to the data directory). DuckDB's own default is 80 % of RAM, which
     * lets a long-running server's resident memory grow with its database (issue 10).
     */
    duckdbMemoryLimit: string;
    /**
     * DuckDB's `memory_limit` while queries run (and a minute after the last): at least
     * `duckdbMemoryLimit` (defaultDuckDbQueryMemoryLimit).
     */
    duckdbQueryMemoryLimit: string;
    /** Longest an acknowledged event waits in the ingest log before it is loaded (queryable). */
    ingestLoadDelayMs: number;
    /** Below this many free bytes on the data directory's file system, ingest answers 503. */
    minFreeDiskBytes: number;
    /** Worker threads that decode and prepare large request bodies; undefined = one per core but one. */
    ingestWorkers: number | undefined;
    /**
     * Encryption at rest (SILLAGE_ENCRYPTION). `auto`: the ingest log is encrypted, and the
     * database too when DuckDB has a safe crypto module; `on`: both, or refuse to start; `off`:
     * neither (new writes are plain; what is already encrypted stays readable).
     */
    encryption: 'auto' | 'on' | 'off';
    /**
     * Tests and benchmarks only (SILLAGE_DANGEROUSLY_ALLOW_WEAK_DB_CRYPTO=1): lets DuckDB write an
     * encrypted database with its bundled crypto, whose nonces are not from a secure source.
     */
    dangerouslyAllowWeakDbCrypto: boolean;
  };
  /** Analytics queries: guards. */
  query: {
    /** Per-query time limit; the running statement is cancelled when it passes. */
    timeoutMs: number;
    /** Queries run at once (each on its own connection); more wait in a bounded queue. */
    concurrency: number;
    /**
     * Statements one project may run at once (unset: all but one of `concurrency`, at least one),
     * so that another project's query never waits behind a project's long ones.
     */
    concurrencyPerProject: number | undefined;
    /** Most result cells (series × breakdown rows × intervals) a query may ask for. */
    maxCells: number;
    /** DuckDB worker threads while queries run (the store keeps fewer otherwise). */
    threads: number;
  };
  /** A file the server rewrites every 200 ms with where its memory is (figures only); off if unset. */
  memoryReportFile: string | undefined;
  /** PEM files for HTTPS; both set or neither (plain HTTP, e.g. behind a TLS proxy). */
  tls: { certFile: string; keyFile: string } | null;
  /** Master key sources, resolved by the privacy module. */
  masterKeyHex: string | undefined;
  masterKeyFile: string | undefined;
  /** Accounts: where people reach Sillage (passkeys are bound to its host), session defaults. */
  accounts: {
    /** e.g. `https://analytics.example.com`; the WebAuthn relying party is its host name. */
    publicUrl: string;
    /** Session timeouts given to new organisations (NIST AAL2 bounds: idle ≤ 60 min, ≤ 24 h). */
    sessionIdleMinutes: number;
    sessionAbsoluteHours: number;
    /** SILLAGE_SMTP_URL and SILLAGE_SMTP_FROM as given (parsed by the notices module). */
    smtpUrl: string | undefined;
    smtpFrom: string | undefined;
  };
  /** Audit log: detection thresholds, response policy, off-box copies of checkpoints. */
  audit: {
    learningDays: number;
    volumeFactor: number;
    enumerationSubjects: number;
    /** Suspend the principal on a high-severity alert (the default policy). */
    suspend: boolean;
    /** Signed alert webhook (JSON, `X-Sillage-Signature: ed25519=…`). */
    webhookUrl: string | undefined;
    /** Where the signed head is copied on a schedule: a file (appended JSON lines)… */
    checkpointFile: string | undefined;
    /** …and/or a webhook. */
    checkpointUrl: string | undefined;
    checkpointMinutes: number;
  };
}

const intFromEnv = z.coerce.number().int().positive();

/**
 * DuckDB's memory limit unless SILLAGE_DUCKDB_MEMORY_LIMIT says otherwise: enough for the
 * ingest loader and the query guards' result sizes on one node (larger aggregations spill to
 * `data/tmp`), and small enough that the server's resident memory stays within the bound the
 * README documents. Raised while queries run (defaultDuckDbQueryMemoryLimit).
 */
export const DEFAULT_DUCKDB_MEMORY_LIMIT = '256MB';

/**
 * DuckDB's memory limit while queries run, unless SILLAGE_DUCKDB_QUERY_MEMORY_LIMIT says
 * otherwise: a quarter of the memory the process may use (the cgroup's limit, else the
 * machine's), between 256MB and 512MB — 512MB from 2 GB up.
 *
 * It is the cache of the tables' blocks as much as working memory: at 256MB a question that reads
 * three columns of 10M events (flows: person, time, name) found them evicted by whatever ran
 * between two askings and read them back each time (bench:query, alternated with the hand SQL:
 * flows 609 and 617 ms at 256MB, 362 and 371 ms at 512MB; two clients asking alone, p50 of unique
 * users by `$browser` 659 vs 464 ms, of the funnel 674 vs 510 ms). Only while querying: at 512MB
 * throughout, bench:abuse's flooded peak went over 512 MB in 3 runs of 7 (at most 546 MB), at
 * 256MB in none of 10.
 */
export function defaultDuckDbQueryMemoryLimit(available: number = availableMemoryBytes()): string {
  const mb = Math.floor(available / 4 / 1_000_000);
  return `${Math.min(512, Math.max(256, mb))}MB`;
}

/** The memory this process may use: its cgroup's limit when it has one, else the machine's. */
function availableMemoryBytes(): number {
  const total = os.totalmem();
  const constrained = process.constrainedMemory?.() ?? 0;
  return constrained > 0 && constrained < total ? constrained : total;
}

/**
 * Resident memory past which large ingest bodies (256 KiB and more) are refused unless alone, by
 * default (SILLAGE_MAX_RSS_BYTES): none. At 400 MiB it did not measurably lower bench:abuse's
 * flooded peak (the flood's bodies are admitted before a load raises the rest; docs/measurements.md,
 * "Memory"), so it stays for operators to set.
 */
export const DEFAULT_MAX_RSS_BYTES = 0;

/**
 * Largest API request body by default: 256 KiB. V8's JSON.parse of a hostile body costs more than
 * linearly (~25 ms at 256 KiB, ~200 ms at 1 MiB, ~3 s at 10 MiB of `[[[[1]]]]…` or of distinct
 * keys), on the thread that serves every request (bench/query-abuse.ts). A query needs far less:
 * 256 KiB holds `in` lists of ~6,000 36-character ids.
 */
export const DEFAULT_MAX_API_BODY_BYTES = 256 * 1024;

const schema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  dataDir: z.string().min(1).default('./data'),
  trustProxy: z.string().default(''),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  maxBodyBytes: intFromEnv.default(10 * 1024 * 1024),
  maxDecodedBytes: intFromEnv.default(20 * 1024 * 1024),
  maxDepth: intFromEnv.default(16),
  maxRecordsPerRequest: intFromEnv.default(2000),
  maxStringLength: intFromEnv.default(64 * 1024),
  maxPropertiesPerRecord: intFromEnv.default(2000),
  maxApiBodyBytes: intFromEnv.default(DEFAULT_MAX_API_BODY_BYTES),
  maxQueuedBytes: intFromEnv.default(64 * 1024 * 1024),
  maxRssBytes: z.coerce.number().int().min(0).default(DEFAULT_MAX_RSS_BYTES),
  requestTimeoutMs: intFromEnv.default(30_000),
  headersTimeoutMs: intFromEnv.default(10_000),
  keepAliveTimeoutMs: intFromEnv.default(5_000),
  maxConnectionsPerSource: intFromEnv.default(256),
  maxConnections: intFromEnv.default(4096),
  maxQueuedRecords: intFromEnv.default(500_000),
  maxRecordsPerCommit: intFromEnv.default(20_000),
  retryAfterSeconds: intFromEnv.default(2),
  duckdbThreads: intFromEnv.optional(),
  duckdbCheckpointThreshold: z
    .string()
    .regex(/^\d+(?:\.\d+)?\s*(?:B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'a size such as 256MB')
    .optional(),
  duckdbMemoryLimit: z
    .string()
    .regex(/^\d+(?:\.\d+)?\s*(?:B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'a size such as 256MB')
    .default(DEFAULT_DUCKDB_MEMORY_LIMIT),
  duckdbQueryMemoryLimit: z
    .string()
    .regex(/^\d+(?:\.\d+)?\s*(?:B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'a size such as 512MB')
    .optional(),
  ingestLoadDelayMs: intFromEnv.default(5000),
  ingestWorkers: z.coerce.number().int().min(0).max(64).optional(),
  encryption: z.enum(['auto', 'on', 'off']).default('auto'),
  dangerouslyAllowWeakDbCrypto: z.enum(['0', '1']).default('0'),
  minFreeDiskBytes: z.coerce
    .number()
    .int()
    .min(0)
    .default(64 * 1024 * 1024),
  queryTimeoutMs: intFromEnv.default(30_000),
  queryConcurrency: intFromEnv.default(2),
  queryConcurrencyPerProject: intFromEnv.optional(),
  queryMaxCells: intFromEnv.default(200_000),
  queryThreads: intFromEnv.optional(),
  memoryReportFile: z.string().optional(),
  tlsCert: z.string().optional(),
  tlsKey: z.string().optional(),
  masterKeyHex: z.string().optional(),
  masterKeyFile: z.string().optional(),
  publicUrl: z
    .url({ protocol: /^https?$/, error: 'an http(s) URL such as https://analytics.example.com' })
    .optional(),
  sessionIdleMinutes: z.coerce.number().int().min(5).max(60).default(30),
  sessionAbsoluteHours: z.coerce.number().int().min(1).max(24).default(12),
  smtpUrl: z.string().optional(),
  smtpFrom: z.string().optional(),
  auditLearningDays: z.coerce.number().min(0).max(90).default(7),
  auditVolumeFactor: z.coerce.number().min(1).max(1000).default(10),
  auditEnumerationSubjects: intFromEnv.default(1000),
  auditSuspend: z.enum(['on', 'off']).default('on'),
  auditWebhookUrl: z.url({ protocol: /^https?$/ }).optional(),
  auditCheckpointFile: z.string().optional(),
  auditCheckpointUrl: z.url({ protocol: /^https?$/ }).optional(),
  // Fractions allowed (0.05 = every 3 s, for tests); at most once a second.
  auditCheckpointMinutes: z.coerce.number().positive().default(60),
  eventsUrl: z
    .string()
    .regex(
      /^clickhouse:\/\/[^,\s]+(?:,\s*clickhouse:\/\/[^,\s]+)*$/,
      'clickhouse://host:8123/db (several, comma-separated, for a cluster)',
    )
    .optional(),
  clickhouseCluster: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'a cluster name: letters, digits and _')
    .optional(),
  metaUrl: z
    .string()
    .regex(/^postgres(?:ql)?:\/\/\S+$/, 'postgres://user@host:5432/db')
    .optional(),
});

/** Flags given on the command line (they win over the environment). */
export interface ConfigFlags {
  host?: string | undefined;
  port?: string | number | undefined;
  data?: string | undefined;
}

/** Builds the configuration from flags and environment variables; throws CONFIG_INVALID. */
export function loadConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const raw = {
    host: flags.host ?? env.SILLAGE_HOST,
    port: flags.port ?? env.PORT ?? env.SILLAGE_PORT,
    dataDir: flags.data ?? env.SILLAGE_DATA_DIR,
    trustProxy: env.SILLAGE_TRUST_PROXY,
    logLevel: env.SILLAGE_LOG_LEVEL,
    maxBodyBytes: env.SILLAGE_MAX_BODY_BYTES,
    maxDecodedBytes: env.SILLAGE_MAX_DECODED_BYTES,
    maxDepth: env.SILLAGE_MAX_DEPTH,
    maxRecordsPerRequest: env.SILLAGE_MAX_RECORDS_PER_REQUEST,
    maxStringLength: env.SILLAGE_MAX_STRING_LENGTH,
    maxPropertiesPerRecord: env.SILLAGE_MAX_PROPERTIES_PER_RECORD,
    maxApiBodyBytes: env.SILLAGE_MAX_API_BODY_BYTES,
    maxQueuedBytes: env.SILLAGE_MAX_QUEUED_BYTES,
    maxRssBytes: env.SILLAGE_MAX_RSS_BYTES,
    requestTimeoutMs: env.SILLAGE_REQUEST_TIMEOUT_MS,
    headersTimeoutMs: env.SILLAGE_HEADERS_TIMEOUT_MS,
    keepAliveTimeoutMs: env.SILLAGE_KEEP_ALIVE_TIMEOUT_MS,
    maxConnectionsPerSource: env.SILLAGE_MAX_CONNECTIONS_PER_SOURCE,
    maxConnections: env.SILLAGE_MAX_CONNECTIONS,
    maxQueuedRecords: env.SILLAGE_MAX_QUEUED_RECORDS,
    maxRecordsPerCommit: env.SILLAGE_MAX_RECORDS_PER_COMMIT,
    retryAfterSeconds: env.SILLAGE_RETRY_AFTER_SECONDS,
    duckdbThreads: env.SILLAGE_DUCKDB_THREADS,
    duckdbCheckpointThreshold: env.SILLAGE_DUCKDB_CHECKPOINT_THRESHOLD,
    duckdbMemoryLimit: env.SILLAGE_DUCKDB_MEMORY_LIMIT,
    duckdbQueryMemoryLimit: env.SILLAGE_DUCKDB_QUERY_MEMORY_LIMIT,
    ingestLoadDelayMs: env.SILLAGE_INGEST_LOAD_DELAY_MS,
    ingestWorkers: env.SILLAGE_INGEST_WORKERS,
    encryption: env.SILLAGE_ENCRYPTION,
    dangerouslyAllowWeakDbCrypto: env.SILLAGE_DANGEROUSLY_ALLOW_WEAK_DB_CRYPTO,
    minFreeDiskBytes: env.SILLAGE_MIN_FREE_DISK_BYTES,
    queryTimeoutMs: env.SILLAGE_QUERY_TIMEOUT_MS,
    queryConcurrency: env.SILLAGE_QUERY_CONCURRENCY,
    queryConcurrencyPerProject: env.SILLAGE_QUERY_CONCURRENCY_PER_PROJECT,
    queryMaxCells: env.SILLAGE_QUERY_MAX_CELLS,
    queryThreads: env.SILLAGE_QUERY_THREADS,
    memoryReportFile: env.SILLAGE_MEMORY_REPORT_FILE,
    tlsCert: env.SILLAGE_TLS_CERT,
    tlsKey: env.SILLAGE_TLS_KEY,
    masterKeyHex: env.SILLAGE_MASTER_KEY || undefined,
    masterKeyFile: env.SILLAGE_MASTER_KEY_FILE || undefined,
    publicUrl: env.SILLAGE_PUBLIC_URL,
    sessionIdleMinutes: env.SILLAGE_SESSION_IDLE_MINUTES,
    sessionAbsoluteHours: env.SILLAGE_SESSION_ABSOLUTE_HOURS,
    smtpUrl: env.SILLAGE_SMTP_URL,
    smtpFrom: env.SILLAGE_SMTP_FROM,
    auditLearningDays: env.SILLAGE_AUDIT_LEARNING_DAYS,
    auditVolumeFactor: env.SILLAGE_AUDIT_VOLUME_FACTOR,
    auditEnumerationSubjects: env.SILLAGE_AUDIT_ENUMERATION_SUBJECTS,
    auditSuspend: env.SILLAGE_AUDIT_SUSPEND,
    auditWebhookUrl: env.SILLAGE_AUDIT_WEBHOOK_URL,
    auditCheckpointFile: env.SILLAGE_AUDIT_CHECKPOINT_FILE,
    auditCheckpointUrl: env.SILLAGE_AUDIT_CHECKPOINT_URL,
    auditCheckpointMinutes: env.SILLAGE_AUDIT_CHECKPOINT_MINUTES,
    eventsUrl: env.SILLAGE_EVENTS_URL,
    clickhouseCluster: env.SILLAGE_CLICKHOUSE_CLUSTER,
    metaUrl: env.SILLAGE_META_URL,
  };
  const parsed = schema.safeParse(
    Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined && v !== '')),
  );
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // Name the setting, never its value (SILLAGE_MASTER_KEY is a secret).
    throw new AppError(
      'CONFIG_INVALID',
      `invalid configuration: ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  const c = parsed.data;
  const eventsUrls = c.eventsUrl?.split(',').map((u) => u.trim()) ?? [];
  if (eventsUrls.length > 1 && !c.clickhouseCluster) {
    throw new AppError(
      'CONFIG_INVALID',
      'invalid configuration: SILLAGE_EVENTS_URL names several ClickHouse servers: they are the shards of a cluster, named in SILLAGE_CLICKHOUSE_CLUSTER',
    );
  }
  if (c.clickhouseCluster && eventsUrls.length === 0) {
    throw new AppError(
      'CONFIG_INVALID',
      'invalid configuration: SILLAGE_CLICKHOUSE_CLUSTER needs SILLAGE_EVENTS_URL (one clickhouse:// URL per shard)',
    );
  }
  if (Boolean(c.tlsCert) !== Boolean(c.tlsKey)) {
    throw new AppError(
      'CONFIG_INVALID',
      'invalid configuration: set both SILLAGE_TLS_CERT and SILLAGE_TLS_KEY, or neither',
    );
  }
  return {
    host: c.host,
    port: c.port,
    dataDir: path.resolve(c.dataDir),
    trustProxy: c.trustProxy
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    logLevel: c.logLevel,
    limits: {
      maxBodyBytes: c.maxBodyBytes,
      maxDecodedBytes: c.maxDecodedBytes,
      maxDepth: c.maxDepth,
      maxRecordsPerRequest: c.maxRecordsPerRequest,
      maxStringLength: c.maxStringLength,
      maxPropertiesPerRecord: c.maxPropertiesPerRecord,
      maxApiBodyBytes: c.maxApiBodyBytes,
    },
    admission: { maxQueuedBytes: c.maxQueuedBytes, maxRssBytes: c.maxRssBytes },
    http: {
      requestTimeoutMs: c.requestTimeoutMs,
      // Node requires headersTimeout <= requestTimeout.
      headersTimeoutMs: Math.min(c.headersTimeoutMs, c.requestTimeoutMs),
      keepAliveTimeoutMs: c.keepAliveTimeoutMs,
      maxConnectionsPerSource: c.maxConnectionsPerSource,
      maxConnections: c.maxConnections,
    },
    writer: {
      maxQueuedRecords: c.maxQueuedRecords,
      maxRecordsPerCommit: c.maxRecordsPerCommit,
      retryAfterSeconds: c.retryAfterSeconds,
    },
    store: {
      events:
        eventsUrls.length === 0
          ? { kind: 'duckdb' }
          : {
              kind: 'clickhouse',
              urls: eventsUrls,
              ...(c.clickhouseCluster ? { cluster: c.clickhouseCluster } : {}),
            },
      meta: c.metaUrl ? { kind: 'postgres', url: c.metaUrl } : { kind: 'duckdb' },
      duckdbThreads: c.duckdbThreads,
      duckdbCheckpointThreshold: c.duckdbCheckpointThreshold,
      duckdbMemoryLimit: c.duckdbMemoryLimit,
      duckdbQueryMemoryLimit: c.duckdbQueryMemoryLimit ?? defaultDuckDbQueryMemoryLimit(),
      ingestLoadDelayMs: c.ingestLoadDelayMs,
      ingestWorkers: c.ingestWorkers,
      encryption: c.encryption,
      dangerouslyAllowWeakDbCrypto: c.dangerouslyAllowWeakDbCrypto === '1',
      minFreeDiskBytes: c.minFreeDiskBytes,
    },
    query: {
      timeoutMs: c.queryTimeoutMs,
      concurrency: c.queryConcurrency,
      concurrencyPerProject: c.queryConcurrencyPerProject,
      maxCells: c.queryMaxCells,
      threads: c.queryThreads ?? os.availableParallelism(),
    },
    memoryReportFile: c.memoryReportFile ? path.resolve(c.memoryReportFile) : undefined,
    tls:
      c.tlsCert && c.tlsKey
        ? { certFile: path.resolve(c.tlsCert), keyFile: path.resolve(c.tlsKey) }
        : null,
    masterKeyHex: c.masterKeyHex,
    masterKeyFile: c.masterKeyFile,
    accounts: {
      publicUrl: (c.publicUrl ?? `${c.tlsCert ? 'https' : 'http'}://localhost:${c.port}`).replace(
        /\/+$/,
        '',
      ),
      sessionIdleMinutes: c.sessionIdleMinutes,
      sessionAbsoluteHours: c.sessionAbsoluteHours,
      smtpUrl: c.smtpUrl,
      smtpFrom: c.smtpFrom,
    },
    audit: {
      learningDays: c.auditLearningDays,
      volumeFactor: c.auditVolumeFactor,
      enumerationSubjects: c.auditEnumerationSubjects,
      suspend: c.auditSuspend === 'on',
      webhookUrl: c.auditWebhookUrl,
      checkpointFile: c.auditCheckpointFile ? path.resolve(c.auditCheckpointFile) : undefined,
      checkpointUrl: c.auditCheckpointUrl,
      checkpointMinutes: c.auditCheckpointMinutes,
    },
  };
}
