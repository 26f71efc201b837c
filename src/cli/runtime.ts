// The composition root: opens the store, loads the master key, and wires the ingest pipeline.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IngestPipeline } from '../ingest/pipeline.js';
import { openSharedEnrichStage } from '../ingest/enrich-stage.js';
import { createPrivacyStage } from '../ingest/privacy-stage.js';
import { GroupCommitWriter } from '../ingest/writer.js';
import { ByteBudget } from '../ingest/admission.js';
import { memoryCollector, type MemoryFigures } from './memory-report.js';
import { DiskSpaceWatch } from '../shared/disk-space.js';
import { defaultEventWorkers, EventWorkerPool } from '../ingest/event-workers.js';
import { loadMasterKey, masterKeyCheckValue, verifyMasterKey } from '../privacy/index.js';
import { ProjectDirectory } from '../projects/index.js';
import type { ServerConfig } from '../shared/config.js';
import { AppError } from '../shared/errors.js';
import { safeStack, type Logger } from '../shared/log.js';
import {
  QueryEngine,
  type Dialect,
  type RollupsSource,
  type QueryExecutor,
} from '../query/index.js';
import { CLICKHOUSE_COMPILER } from '../query/compile-clickhouse.js';
import type { QueryCompiler } from '../query/engine.js';
import {
  actingAsSystem,
  AlertResponder,
  followAuditLog,
  type AuditEntry,
  type AuditStore,
  AUDIT_JOURNAL_DIR,
  AuditLog,
  auditedAccountStore,
  DEFAULT_DETECTION,
  deriveAuditKeys,
  Detector,
  JournaledAuditStore,
  queryAuditSink,
  READ_KINDS,
} from '../audit/index.js';
import {
  DUCKDB_DIALECT,
  DUCKDB_FILE,
  DuckDbDatabase,
  DuckDbQueryExecutor,
  QueryActivity,
  DuckDbEventStore,
  DuckDbMetaStore,
  DuckDbVaultStore,
  DuckDbAuditStore,
  DuckDbAccountStore,
  type AtRestOptions,
} from '../store/duckdb/index.js';
import { VaultService } from '../projects/vault.js';
import { sizeBytes } from '../store/duckdb/memory-limit.js';
import { cohortSource } from '../projects/cohorts.js';
import {
  ClientDescriber,
  createSmtpMailer,
  DEFAULT_ORG_POLICY,
  NoticeOutbox,
  Notifier,
  PasswordHasher,
  passwordPepper,
  smtpConfigFromEnv,
  SourceThrottle,
  totpSealKey,
  type AuthDeps,
  type SourceLimiter,
} from '../auth/index.js';
import { GeoLocator, type GeoShared } from '../ingest/enrich/index.js';
import { deriveMasterSubkey } from '../privacy/master-key.js';
import type { AccountStore, EventStore, MetaStore, VaultStore } from '../store/index.js';
import type { CommitTarget } from '../ingest/writer.js';
import {
  CLICKHOUSE_DIALECT,
  ClickHouseEventStore,
  ClickHouseQueryExecutor,
} from '../store/clickhouse/index.js';
import {
  PostgresAccountStore,
  PostgresAuditStore,
  PostgresDatabase,
  PostgresMetaStore,
  PostgresSourceThrottle,
  PostgresVaultStore,
} from '../store/postgres/index.js';

const MASTER_KEY_CHECK = 'master_key_check';

/**
 * Running DuckDB statements each hold a libuv pool thread until they finish, and the ingest log's
 * fdatasync (which acknowledgements wait for) needs one too: queries may use all but two of the
 * pool's threads (Node's default pool has 4; `npm start` sets UV_THREADPOOL_SIZE=12, node-flags.ts).
 */
function queryConnections(wanted: number, logger: Logger): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const allowed = Math.max(1, Math.min(wanted, pool - 2));
  if (allowed < wanted)
    logger.warn('query concurrency limited by the thread pool', { queued: allowed });
  return allowed;
}

/** How often a node reads the entries other nodes appended (PostgreSQL audit log). */
const AUDIT_FOLLOW_MS = 500;

/**
 * Detection: learns each principal from the last 30 days of the log (no alerts for the past),
 * then judges every new durable entry; triggers go to the responder at once. On a log shared by
 * several nodes every node judges every node's entries (followed in sequence order), picks up the
 * suspensions others decide, and the node that claims a trigger first responds to it.
 */
async function startDetection(
  audit: AuditLog,
  auth: AuthDeps,
  config: ServerConfig,
  logger: Logger,
  shared: boolean,
): Promise<() => Promise<void>> {
  const detector = new Detector({
    ...DEFAULT_DETECTION,
    learningMs: config.audit.learningDays * 86_400_000,
    volumeFactor: config.audit.volumeFactor,
    enumerationSubjects: config.audit.enumerationSubjects,
  });
  const upTo = (await audit.store.last())?.seq ?? 0;
  const past = await audit.store.scan({
    fromMs: Date.now() - 30 * 86_400_000,
    kinds: [...READ_KINDS],
  });
  // A key's reads are also its creator's (see Detector.observe); who made a key never changes.
  const creators = new Map<string, string | undefined>();
  const creatorOf = async (actor: string): Promise<string | undefined> => {
    if (!actor.startsWith('key:')) return undefined;
    if (!creators.has(actor)) {
      if (creators.size >= 10_000) creators.clear();
      const key = await auth.store.getApiKey(actor.slice(4));
      creators.set(actor, key?.createdBy ? `user:${key.createdBy}` : undefined);
    }
    return creators.get(actor);
  };
  for (const entry of past)
    if (entry.seq <= upTo) detector.observe(entry, await creatorOf(entry.actor));
  const responder = new AlertResponder({
    audit,
    accounts: auth.store,
    notifier: auth.notifier,
    logger,
    suspend: config.audit.suspend,
    webhookUrl: config.audit.webhookUrl,
    now: () => auth.now(),
  });
  // Entries are observed in the order they come, a key's creator looked up first.
  let observed: Promise<unknown> = Promise.resolve();
  const judge = async (entry: AuditEntry): Promise<void> => {
    const triggers = observed.then(async () =>
      detector.observe(entry, await creatorOf(entry.actor)),
    );
    observed = triggers.catch(() => undefined);
    for (const trigger of await triggers) {
      // The response is the log's own act, not the act of whoever's read set it off.
      if (
        await audit.store.claimTrigger(
          `${trigger.rule}:${trigger.actor}:${trigger.seq}`,
          entry.atMs,
        )
      )
        await actingAsSystem(() => responder.handle(trigger));
    }
  };
  if (!shared) {
    // Judged in the background, but stopping waits for the judgements (and responses) under way:
    // one still reading the stores once they are closed crashed the process.
    const inFlight = new Set<Promise<void>>();
    let stopped = false;
    audit.onEntry((entry) => {
      if (stopped) return;
      const judged = judge(entry)
        .catch((error: unknown) =>
          logger.error('audit entry not judged', { stack: safeStack(error) }),
        )
        .finally(() => inFlight.delete(judged));
      inFlight.add(judged);
    });
    return async () => {
      stopped = true;
      while (inFlight.size > 0) await Promise.all(inFlight);
    };
  }
  const follower = followAuditLog(
    audit.store,
    upTo,
    AUDIT_FOLLOW_MS,
    async (entry) => {
      if (entry.kind === 'suspension' || entry.kind === 'suspension_lifted')
        await audit.reloadSuspensions();
      await judge(entry);
    },
    logger,
  );
  return () => follower.stop();
}

/** Invitations and setup links stay valid this long. */
const INVITATION_TTL_MS = 72 * 3_600_000;
/** Between a correct password and the second factor; WebAuthn ceremonies. */
const CHALLENGE_TTL_MS = 5 * 60_000;

/** Wires the account system: store, keys derived from the master key, notices, relying party. */
function accountSystem(
  store: AccountStore,
  sources: SourceLimiter,
  config: ServerConfig,
  masterKey: Buffer,
  geo: Parameters<typeof GeoLocator.fromShared>[0],
  logger: Logger,
): { auth: AuthDeps; clients: ClientDescriber; outbox: NoticeOutbox | null } {
  const publicUrl = new URL(config.accounts.publicUrl);
  const smtp = smtpConfigFromEnv({
    SILLAGE_SMTP_URL: config.accounts.smtpUrl,
    SILLAGE_SMTP_FROM: config.accounts.smtpFrom,
  });
  const outbox = smtp ? new NoticeOutbox(createSmtpMailer(smtp, logger), logger) : null;
  const locator = GeoLocator.fromShared(geo);
  const auth: AuthDeps = {
    store,
    hasher: new PasswordHasher(passwordPepper(masterKey)),
    totpKey: totpSealKey(masterKey),
    csrfKey: deriveMasterSubkey(masterKey, 'csrf-token'),
    rp: { id: publicUrl.hostname, name: 'Sillage', origins: [publicUrl.origin] },
    notifier: new Notifier(store, outbox, config.accounts.publicUrl, logger),
    sources,
    settings: {
      publicUrl: config.accounts.publicUrl,
      defaultOrgPolicy: {
        ...DEFAULT_ORG_POLICY,
        sessionIdleMinutes: config.accounts.sessionIdleMinutes,
        sessionAbsoluteHours: config.accounts.sessionAbsoluteHours,
      },
      invitationTtlMs: INVITATION_TTL_MS,
      loginChallengeTtlMs: CHALLENGE_TTL_MS,
    },
    logger,
    now: Date.now,
  };
  // Every node derives the same throttling key for one address (the throttle may be shared).
  const clients = new ClientDescriber(
    (ip) => locator.lookup(ip),
    deriveMasterSubkey(masterKey, 'sign-in-source'),
  );
  return { auth, clients, outbox };
}

/**
 * Encryption at rest of the data directory: the database and the ingest log each under their own
 * key derived from the master key (HKDF labels `database` and `ingest-log`).
 */
export function atRestOptions(config: ServerConfig, masterKey: Buffer): AtRestOptions {
  return {
    logKey: deriveMasterSubkey(masterKey, 'ingest-log'),
    databaseKey: deriveMasterSubkey(masterKey, 'database'),
    mode: config.store.encryption,
    dangerouslyAllowWeakCrypto: config.store.dangerouslyAllowWeakDbCrypto,
  };
}

/** The metadata side: projects, accounts and the vault, on one database (one transaction). */
interface MetaSide {
  meta: MetaStore;
  accounts: AccountStore;
  vault: VaultStore;
  /** The audit log every node shares, or null: the embedded journal and DuckDB of this node. */
  audit: AuditStore | null;
  /** Per-source sign-in throttling: in memory on one node, in the shared database otherwise. */
  sources: SourceLimiter;
  close(): Promise<void>;
}

/** Picks the metadata adapters from the configuration's `store.meta` kind. */
async function openMetaSide(
  config: ServerConfig,
  db: DuckDbDatabase,
  logger: Logger,
): Promise<MetaSide> {
  const choice = config.store.meta;
  switch (choice.kind) {
    case 'duckdb':
      return {
        meta: new DuckDbMetaStore(db),
        accounts: new DuckDbAccountStore(db),
        vault: new DuckDbVaultStore(db),
        audit: null,
        sources: new SourceThrottle(),
        close: () => Promise.resolve(),
      };
    case 'postgres': {
      const pg = await PostgresDatabase.open(choice.url, { logger });
      return {
        meta: new PostgresMetaStore(pg),
        accounts: new PostgresAccountStore(pg),
        vault: new PostgresVaultStore(pg),
        audit: new PostgresAuditStore(pg),
        sources: new PostgresSourceThrottle(pg),
        close: () => pg.close(),
      };
    }
  }
}

/** The events side: the EventStore port, what the writer commits to, and how queries run. */
interface EventSide {
  events: EventStore;
  /** The same store as the writer sees it (`append`/`backlog` when it logs ahead). */
  commitTarget: CommitTarget;
  /** Runs compiled statements; `close` ends its connections. */
  executor: QueryExecutor & { close(): Promise<void> };
  dialect: Dialect;
  /** The compiler for this dialect (DuckDB: the query module's default). */
  compiler?: QueryCompiler;
  /** The per-day rollups the store keeps (DuckDB), read by user and event counts. */
  rollups?: RollupsSource;
  close(): Promise<void>;
}

/**
 * With metadata several nodes share, a cached project context (record, keys, policy) is reloaded
 * at the latest this long after it was read, even if a change announcement was missed.
 */
export const PROJECT_CACHE_MAX_AGE_MS = 30_000;

/** The folder (in the data directory) of the ingest log in front of ClickHouse. */
export const CLICKHOUSE_LOG_DIR = 'clickhouse-ingest-log';

/** Where a ClickHouse URL points: `clickhouse://host:8123/db` → HTTP interface and database. */
export function clickHouseTarget(url: string): { httpUrl: string; database: string } {
  const parsed = new URL(url.replace(/^clickhouse:/, 'http:'));
  const database = decodeURIComponent(parsed.pathname.replace(/^\/+|\/+$/g, '')) || 'sillage';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(database)) {
    throw new AppError(
      'CONFIG_INVALID',
      'invalid configuration: SILLAGE_EVENTS_URL: the database name must be letters, digits and _',
    );
  }
  return { httpUrl: `http://${parsed.host}`, database };
}

/**
 * This node's name among the nodes sharing one ClickHouse database: each node drains its own
 * ingest log and records how far it got under this name. Random at first start, kept in the data
 * directory (whose ingest log it names).
 */
export function nodeName(dataDir: string): string {
  const file = path.join(dataDir, 'node-id');
  try {
    const existing = fs.readFileSync(file, 'utf8').trim();
    if (/^node_[0-9a-f]{16}$/.test(existing)) return existing;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const name = `node_${randomBytes(8).toString('hex')}`;
  fs.writeFileSync(file, `${name}\n`, { mode: 0o600, flag: 'wx' });
  return name;
}

/** Picks the events adapters from the configuration's `store.events` kind. */
async function openEventSide(
  config: ServerConfig,
  db: DuckDbDatabase,
  masterKey: Buffer,
  logger: Logger,
): Promise<EventSide> {
  const choice = config.store.events;
  switch (choice.kind) {
    case 'duckdb': {
      const events = new DuckDbEventStore(db);
      // Loads wait for running queries (bounded: IngestLoader.deferWhileQuerying).
      const activity = new QueryActivity();
      db.ingest.deferWhileQuerying(activity);
      const executorOptions = {
        connections: queryConnections(config.query.concurrency, logger),
        threadsWhileQuerying: config.query.threads,
        memoryWhileQuerying: sizeBytes(config.store.duckdbQueryMemoryLimit),
        activity,
        ...(config.query.concurrencyPerProject === undefined
          ? {}
          : { perSource: config.query.concurrencyPerProject }),
      };
      let executor = await DuckDbQueryExecutor.open(db, executorOptions);
      // After a fatal error (a full disk) the database reopens itself; the executor's own
      // connections are closed before and opened again after.
      db.onReopen({
        before: () => executor.close(),
        after: async () => {
          executor = await DuckDbQueryExecutor.open(db, executorOptions);
        },
      });
      return {
        events,
        commitTarget: events,
        executor: {
          run: (statement, options) => executor.run(statement, options),
          close: () => executor.close(),
        },
        dialect: DUCKDB_DIALECT,
        rollups: db.rollups,
        close: () => Promise.resolve(),
      };
    }
    case 'clickhouse': {
      const targets = choice.urls.map(clickHouseTarget);
      const target = targets[0];
      if (target === undefined) {
        throw new AppError('CONFIG_INVALID', 'invalid configuration: SILLAGE_EVENTS_URL: empty');
      }
      if (targets.some((t) => t.database !== target.database)) {
        throw new AppError(
          'CONFIG_INVALID',
          'invalid configuration: SILLAGE_EVENTS_URL: every shard must name the same database',
        );
      }
      const atRest = atRestOptions(config, masterKey);
      const store = await ClickHouseEventStore.open({
        // The first server listed takes this node's reads and inserts (on a cluster, through the
        // Distributed tables; list the shards in another order on another node to spread them).
        url: target.httpUrl,
        database: target.database,
        ...(choice.cluster
          ? { sharding: { cluster: choice.cluster, shardUrls: targets.map((t) => t.httpUrl) } }
          : {}),
        // The ingest log stays in front of ClickHouse: acknowledged = fdatasynced here.
        logDir: path.join(config.dataDir, CLICKHOUSE_LOG_DIR),
        logger,
        ingest: { maxDelayMs: config.store.ingestLoadDelayMs, node: nodeName(config.dataDir) },
        logKeys: { read: atRest.logKey, write: atRest.mode === 'off' ? null : atRest.logKey },
      });
      const executor = new ClickHouseQueryExecutor(store.client);
      return {
        events: store,
        commitTarget: store,
        executor: {
          run: (statement, options) => executor.run(statement, options),
          close: () => Promise.resolve(),
        },
        dialect: CLICKHOUSE_DIALECT,
        compiler: CLICKHOUSE_COMPILER,
        close: () => store.close(),
      };
    }
  }
}

/** The embedded database behind each open runtime (see `embeddedDatabase`). */
const EMBEDDED = new WeakMap<Runtime, DuckDbDatabase>();

/**
 * The embedded DuckDB database of a runtime, for the tools that only work on it (the benchmarks
 * write synthetic data straight into its tables; test helpers read raw tables). `sillage demo`
 * does not: it writes through the EventStore port, on any store.
 */
export function embeddedDatabase(runtime: Runtime): DuckDbDatabase {
  const db = EMBEDDED.get(runtime);
  if (!db) throw new AppError('STORE_UNAVAILABLE', 'this runtime has no embedded database');
  return db;
}

/** Everything a running Sillage process holds open. */
export interface Runtime {
  config: ServerConfig;
  /** The ports; which adapters stand behind them is the configuration's `store` choice. */
  events: EventStore;
  meta: MetaStore;
  projects: ProjectDirectory;
  writer: GroupCommitWriter;
  pipeline: IngestPipeline;
  vault: VaultService;
  /** Analytics queries (the one choke point every read of event data passes through). */
  queries: QueryEngine;
  /** The tamper-evident audit log every read and security act goes through. */
  audit: AuditLog;
  /** Accounts and access. */
  auth: AuthDeps;
  clients: ClientDescriber;
  /** The geolocation databases in shared memory (for worker threads). */
  geo: GeoShared;
  /** The byte budget of request bodies (SILLAGE_MAX_QUEUED_BYTES). */
  admission: ByteBudget;
  /** Where the memory is now (SILLAGE_MEMORY_REPORT_FILE, benchmarks). */
  memory(): Promise<MemoryFigures>;
  /** Null while the store accepts and serves; otherwise why not (for /healthz). */
  health(): 'store_unavailable' | 'disk_full' | null;
  /** Where the master key came from, for the start-up message. */
  masterKeyNotice: string | undefined;
  /**
   * Key of the operator's account commands over the admin socket (`admin reset`, `admin
   * confirm`): the CLI proves it holds the master key, not only access to the socket.
   */
  operatorKey: Buffer;
  close(): Promise<void>;
}

/** How the runtime is used, where it changes what the store does. */
export interface RuntimeOptions {
  /**
   * What a failed load into DuckDB does: `retry` (the server: acknowledged events wait in the
   * ingest log) or `stop` (`sillage import`, which owns its file and can run again: the import
   * ends with the load's own error instead of waiting for ever).
   */
  onFailedLoad?: 'retry' | 'stop';
}

/**
 * Opens the runtime. The master key is checked against the value stored at first start before
 * anything is written, so a wrong key fails here and changes nothing.
 */
export async function openRuntime(
  config: ServerConfig,
  logger: Logger,
  options: RuntimeOptions = {},
): Promise<Runtime> {
  const existing = fs.existsSync(path.join(config.dataDir, DUCKDB_FILE));
  const master = await loadMasterKey({
    env: {
      SILLAGE_MASTER_KEY: config.masterKeyHex,
      SILLAGE_MASTER_KEY_FILE: config.masterKeyFile,
      XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME,
    },
    dataDir: config.dataDir,
    homeDir: os.homedir(),
    // A new key could never open existing data: refuse instead of generating one.
    allowGenerate: !existing,
  });
  // The key is checked before migrations run: a wrong key fails here and changes nothing.
  const db = await DuckDbDatabase.open(config.dataDir, {
    beforeMigrate: async (readSetting) => {
      const stored = await readSetting(MASTER_KEY_CHECK);
      if (stored !== null) verifyMasterKey(master.key, stored);
    },
    tuning: {
      threads: config.store.duckdbThreads,
      checkpointThreshold: config.store.duckdbCheckpointThreshold,
      memoryLimit: config.store.duckdbMemoryLimit,
    },
    atRest: atRestOptions(config, master.key),
    // Acknowledged batches wait in the ingest log; the writer's queue bound covers them too.
    ingest: {
      maxDelayMs: config.store.ingestLoadDelayMs,
      backlogLimit: config.writer.maxQueuedRecords,
      onFailedLoad: options.onFailedLoad ?? 'retry',
    },
    logger,
  });
  let metaSide: MetaSide | null = null;
  let eventSide: EventSide | null = null;
  let stopWatching: (() => Promise<void>) | null = null;
  try {
    // The embedded file keeps its own check value, whichever side holds the metadata.
    const embeddedMeta = new DuckDbMetaStore(db);
    if ((await embeddedMeta.getSetting(MASTER_KEY_CHECK)) === null) {
      await embeddedMeta.setSetting(MASTER_KEY_CHECK, masterKeyCheckValue(master.key));
    }
    metaSide = await openMetaSide(config, db, logger);
    const meta = metaSide.meta;
    if (config.store.meta.kind !== 'duckdb') {
      // A shared metadata database is checked too: a node with another key changes nothing.
      const stored = await meta.getSetting(MASTER_KEY_CHECK);
      if (stored !== null) verifyMasterKey(master.key, stored);
      else await meta.setSetting(MASTER_KEY_CHECK, masterKeyCheckValue(master.key));
    }

    eventSide = await openEventSide(config, db, master.key, logger);
    const { events, executor } = eventSide;
    // Shared metadata: other nodes' changes arrive by the store's change feed (PostgreSQL
    // LISTEN/NOTIFY, within milliseconds); a context is reloaded after PROJECT_CACHE_MAX_AGE_MS
    // whatever happens, which bounds a missed announcement.
    const projects = new ProjectDirectory(
      meta,
      master.key,
      meta.watchProjects ? PROJECT_CACHE_MAX_AGE_MS : Infinity,
    );
    stopWatching =
      meta.watchProjects?.((projectId) =>
        projectId === null ? projects.invalidateAll() : projects.invalidate(projectId),
      ) ?? null;
    const writer = new GroupCommitWriter(
      eventSide.commitTarget,
      logger,
      config.writer,
      () => (!db.healthy || disk.low ? 'the data directory cannot be written; retry later' : null),
      {
        succeeded: () => disk.noteWriteSucceeded(),
        failed: (error) => disk.noteWriteFailed(error),
      },
    );
    const { enrich, geo } = await openSharedEnrichStage();
    const { auth, clients, outbox } = accountSystem(
      metaSide.accounts,
      metaSide.sources,
      config,
      master.key,
      geo,
      logger,
    );
    const accountStore = auth.store;
    // Embedded: entries are durable in the journal (one fdatasync per group commit) and loaded
    // into the database in the background: the audit log costs a query little (bench/audit.ts).
    // Shared (PostgreSQL): an entry is durable once committed there, where every node sees it.
    const sharedAudit = metaSide.audit;
    const auditJournal = sharedAudit
      ? null
      : await JournaledAuditStore.open(
          path.join(config.dataDir, AUDIT_JOURNAL_DIR),
          new DuckDbAuditStore(db),
          logger,
          // Sealed always: entries name events, properties and pseudonymous subjects.
          { key: deriveMasterSubkey(master.key, 'audit-journal') },
        );
    const audit = await AuditLog.open(
      sharedAudit ?? auditJournal!,
      deriveAuditKeys(master.key),
      (projectId) => accountStore.projectOrg(projectId),
      logger,
    );
    // Security acts on the record (every path), and suspended principals held off.
    auth.store = auditedAccountStore(accountStore, audit);
    const stopDetection = await startDetection(audit, auth, config, logger, sharedAudit !== null);
    const vault = new VaultService(metaSide.vault);
    const disk = new DiskSpaceWatch(config.dataDir, config.store.minFreeDiskBytes);
    const queries = new QueryEngine({
      executor,
      dialect: eventSide.dialect,
      ...(eventSide.compiler ? { compiler: eventSide.compiler } : {}),
      ...(eventSide.rollups ? { rollups: eventSide.rollups } : {}),
      audit: queryAuditSink(audit, logger),
      cohorts: cohortSource(meta),
      limits: { timeoutMs: config.query.timeoutMs, maxCells: config.query.maxCells },
    });
    const workers = new EventWorkerPool(
      config.store.ingestWorkers ?? defaultEventWorkers(),
      geo,
      projects,
      logger,
      { maxWaitMs: 10_000, retryAfterSeconds: config.writer.retryAfterSeconds },
    );
    const pipeline = new IngestPipeline({
      projects,
      vault,
      enrich,
      privacy: createPrivacyStage(),
      workers,
      writer,
      logger,
    });
    const admission = new ByteBudget(
      config.admission.maxQueuedBytes,
      config.writer.retryAfterSeconds,
      config.admission.maxRssBytes > 0 ? { maxRssBytes: config.admission.maxRssBytes } : null,
    );
    const commitTarget = eventSide.commitTarget;
    const runtime: Runtime = {
      config,
      events,
      meta,
      projects,
      writer,
      pipeline,
      vault,
      queries,
      audit,
      auth,
      clients,
      geo,
      admission,
      memory: memoryCollector({
        db,
        admission,
        workers,
        writer,
        backlog: () => commitTarget.backlog?.() ?? 0,
      }),
      health: () => (!db.healthy ? 'store_unavailable' : disk.low ? 'disk_full' : null),
      masterKeyNotice: master.notice,
      operatorKey: deriveMasterSubkey(master.key, 'operator-command'),
      async close() {
        // Entries written so far are judged, and the responses to them are on the record.
        await audit.drain();
        await stopDetection();
        await audit.drain();
        await auditJournal?.close();
        await outbox?.close(5_000);
        await writer.close();
        await workers.close();
        disk.close();
        await executor.close();
        await eventSide?.close();
        await stopWatching?.();
        await metaSide?.close();
        await db.close();
      },
    };
    // Tools that write DuckDB's event tables directly (benchmarks) only make sense when events
    // live there.
    if (config.store.events.kind === 'duckdb') EMBEDDED.set(runtime, db);
    return runtime;
  } catch (error) {
    await eventSide?.close().catch(() => undefined);
    await stopWatching?.();
    await metaSide?.close();
    await db.close();
    throw error;
  }
}
