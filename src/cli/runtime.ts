// The composition root: opens the store, loads the master key, and wires the ingest pipeline.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IngestPipeline } from '../ingest/pipeline.js';
import { openSharedEnrichStage } from '../ingest/enrich-stage.js';
import { createPrivacyStage } from '../ingest/privacy-stage.js';
import { GroupCommitWriter } from '../ingest/writer.js';
import { ByteBudget } from '../ingest/admission.js';
import { DiskSpaceWatch } from '../shared/disk-space.js';
import { defaultEventWorkers, EventWorkerPool } from '../ingest/event-workers.js';
import { loadMasterKey, masterKeyCheckValue, verifyMasterKey } from '../privacy/index.js';
import { ProjectDirectory } from '../projects/index.js';
import type { ServerConfig } from '../shared/config.js';
import { AppError } from '../shared/errors.js';
import { safeStack, type Logger } from '../shared/log.js';
import { QueryEngine } from '../query/index.js';
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
  DuckDbEventStore,
  DuckDbMetaStore,
  DuckDbVaultStore,
  DuckDbAuditStore,
  DuckDbAccountStore,
  type AtRestOptions,
} from '../store/duckdb/index.js';
import { VaultService } from '../projects/vault.js';
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
} from '../auth/index.js';
import { GeoLocator, type GeoShared } from '../ingest/enrich/index.js';
import { deriveMasterSubkey } from '../privacy/master-key.js';
import type { AccountStore, EventStore, MetaStore, VaultStore } from '../store/index.js';
import {
  PostgresAccountStore,
  PostgresAuditStore,
  PostgresDatabase,
  PostgresMetaStore,
  PostgresVaultStore,
} from '../store/postgres/index.js';

const MASTER_KEY_CHECK = 'master_key_check';

/**
 * Running DuckDB statements each hold a libuv pool thread until they finish, and the ingest log's
 * fdatasync (which acknowledgements wait for) needs one too: queries may use all but two of the
 * pool's threads (Node's default pool has 4; set UV_THREADPOOL_SIZE before start to allow more).
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
  for (const entry of past) if (entry.seq <= upTo) detector.observe(entry);
  const responder = new AlertResponder({
    audit,
    accounts: auth.store,
    notifier: auth.notifier,
    logger,
    suspend: config.audit.suspend,
    webhookUrl: config.audit.webhookUrl,
    now: () => auth.now(),
  });
  const judge = async (entry: AuditEntry): Promise<void> => {
    for (const trigger of detector.observe(entry)) {
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
    audit.onEntry((entry) => {
      judge(entry).catch((error: unknown) =>
        logger.error('audit entry not judged', { stack: safeStack(error) }),
      );
    });
    return () => Promise.resolve();
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
    sources: new SourceThrottle(),
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
  return { auth, clients: new ClientDescriber((ip) => locator.lookup(ip)), outbox };
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
        close: () => Promise.resolve(),
      };
    case 'postgres': {
      const pg = await PostgresDatabase.open(choice.url, { logger });
      return {
        meta: new PostgresMetaStore(pg),
        accounts: new PostgresAccountStore(pg),
        vault: new PostgresVaultStore(pg),
        audit: new PostgresAuditStore(pg),
        close: () => pg.close(),
      };
    }
  }
}

/** The embedded database behind each open runtime (see `embeddedDatabase`). */
const EMBEDDED = new WeakMap<Runtime, DuckDbDatabase>();

/**
 * The embedded DuckDB database of a runtime, for the tools that only work on it (`sillage demo`
 * writes synthetic data straight into its tables; test helpers read raw tables).
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

/**
 * Opens the runtime. The master key is checked against the value stored at first start before
 * anything is written, so a wrong key fails here and changes nothing.
 */
export async function openRuntime(config: ServerConfig, logger: Logger): Promise<Runtime> {
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
    },
    logger,
  });
  let metaSide: MetaSide | null = null;
  try {
    if (config.store.events.kind !== 'duckdb') {
      throw new AppError(
        'CONFIG_INVALID',
        'invalid configuration: SILLAGE_EVENTS_URL: the ClickHouse event store is not available in this build',
      );
    }
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

    const events = new DuckDbEventStore(db);
    const projects = new ProjectDirectory(meta, master.key);
    const writer = new GroupCommitWriter(
      events,
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
    const executorOptions = {
      connections: queryConnections(config.query.concurrency, logger),
      threadsWhileQuerying: config.query.threads,
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
    const disk = new DiskSpaceWatch(config.dataDir, config.store.minFreeDiskBytes);
    const queries = new QueryEngine({
      executor: { run: (statement, options) => executor.run(statement, options) },
      dialect: DUCKDB_DIALECT,
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
      admission: new ByteBudget(config.admission.maxQueuedBytes, config.writer.retryAfterSeconds),
      health: () => (!db.healthy ? 'store_unavailable' : disk.low ? 'disk_full' : null),
      masterKeyNotice: master.notice,
      operatorKey: deriveMasterSubkey(master.key, 'operator-command'),
      async close() {
        await stopDetection();
        await audit.drain();
        await auditJournal?.close();
        await outbox?.close(5_000);
        await writer.close();
        await workers.close();
        disk.close();
        await executor.close();
        await metaSide?.close();
        await db.close();
      },
    };
    EMBEDDED.set(runtime, db);
    return runtime;
  } catch (error) {
    await metaSide?.close();
    await db.close();
    throw error;
  }
}
