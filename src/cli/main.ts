#!/usr/bin/env node
// The `sillage` command: serve, project, import.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import type { PrivacyReportView } from '../projects/privacy-operations.js';
import { loadConfig, type ConfigFlags } from '../shared/config.js';
import { AppError, isAppError } from '../shared/errors.js';
import { usePrivateUmask } from '../shared/file-modes.js';
import { createLogger, SILENT_LOGGER } from '../shared/log.js';
import { callAdmin } from './admin-socket.js';
import { loadMasterKey } from '../privacy/index.js';
import { deriveMasterSubkey } from '../privacy/master-key.js';
import { DRAIN_DEFAULT_WAIT_S, DRAIN_GAVE_UP_EXIT, drainNode } from './drain.js';
import type { PseudonymMatch } from '../privacy/index.js';
import type { ImportSummary } from './import.js';
import type { ImportBatchResult } from '../ingest/file-import.js';
import type { Runtime } from './runtime.js';
import {
  actingAs,
  incidentHtml,
  incidentMarkdown,
  parseCheckpointCopies,
  verifyAuditLog,
  type IncidentReport,
  type VerifyReport,
} from '../audit/index.js';
import { failIfUnfinished } from './unfinished.js';

// The stores, the HTTP server, the account system and the importer take ~1.5 s of CPU to load:
// each command loads what it uses when it runs, so that one a running server answers over the
// admin socket (most of them) starts in a fraction of that.
const adminCommands = () => import('./admin-commands.js');
const privacyOperations = () => import('../projects/privacy-operations.js');
const runtimeModule = () => import('./runtime.js');

const out = (line: string): void => {
  process.stdout.write(line + '\n');
};
const say = (line: string): void => {
  process.stderr.write(line + '\n');
};

/** The at-rest keys of the data directory (the master key must exist: nothing is generated). */
async function atRestOf(config: ReturnType<typeof loadConfig>) {
  const master = await loadMasterKey({
    env: {
      SILLAGE_MASTER_KEY: config.masterKeyHex,
      SILLAGE_MASTER_KEY_FILE: config.masterKeyFile,
      XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME,
    },
    dataDir: config.dataDir,
    homeDir: os.homedir(),
    allowGenerate: false,
  });
  return (await runtimeModule()).atRestOptions(config, master.key);
}

/** Runs `fn` against a running server over the admin socket, or opens the store when stopped. */
async function viaServerOrStore<T>(
  flags: ConfigFlags,
  command: string,
  body: unknown,
  offline: (runtime: Runtime) => Promise<T>,
): Promise<unknown> {
  const config = loadConfig(flags);
  const remote = await callAdmin(config.dataDir, command, body);
  if (remote.reachable) return remote.value;
  const runtime = await (await runtimeModule()).openRuntime(config, SILENT_LOGGER);
  try {
    return await actingAs({ actor: 'cli', source: { kind: 'cli' } }, () => offline(runtime));
  } finally {
    await runtime.close();
  }
}

/**
 * The operator's proof of holding the master key, for account commands that also go through the
 * admin socket (whose file mode only proves access to the data directory).
 */
async function operatorProofFor(
  flags: ConfigFlags,
  command: string,
  email: string,
): Promise<string> {
  const config = loadConfig(flags);
  const master = await loadMasterKey({
    env: {
      SILLAGE_MASTER_KEY: config.masterKeyHex,
      SILLAGE_MASTER_KEY_FILE: config.masterKeyFile,
      XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME,
    },
    dataDir: config.dataDir,
    homeDir: os.homedir(),
    allowGenerate: false,
  });
  const { operatorProof } = await adminCommands();
  return operatorProof(deriveMasterSubkey(master.key, 'operator-command'), command, email);
}

// Everything this process writes (database, WAL, spill files, ingest log, sockets, key files)
// is private to the user it runs as: 0600 files in 0700 directories.
usePrivateUmask();

const program = new Command();
program
  .name('sillage')
  .description('Self-hosted product analytics whose data is harmless if stolen.');

program
  .command('serve')
  .description('run the server (HTTP on 127.0.0.1:8080 by default)')
  .option('--port <port>', 'port to listen on (env PORT)')
  .option('--host <host>', 'address to bind (env SILLAGE_HOST)')
  .option('--data <dir>', 'data directory (env SILLAGE_DATA_DIR, default ./data)')
  .action(async (opts: ConfigFlags) => {
    const config = loadConfig(opts);
    const logger = createLogger({ level: config.logLevel });
    const { startServer } = await import('./serve.js');
    const server = await startServer(config, logger);
    if (server.runtime.masterKeyNotice) say(server.runtime.masterKeyNotice);
    say(`Sillage is listening on ${server.url} (data in ${config.dataDir})`);
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      say('Sillage is stopping: finishing in-flight requests…');
      server.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });

const project = program.command('project').description('manage projects');
project
  .command('create')
  .description('create a project and print its ingest token and secret key (shown once)')
  .requiredOption('--name <name>', 'project name')
  .option('--timezone <tz>', 'IANA time zone used by queries (default UTC)')
  .option('--org <id>', 'organisation (default: the only one, if there is exactly one)')
  .option('--json', 'print JSON: {"project_id","token","secret"}')
  .option('--data <dir>', 'data directory')
  .action(
    async (opts: {
      name: string;
      timezone?: string;
      org?: string;
      json?: boolean;
      data?: string;
    }) => {
      const body = { name: opts.name, timezone: opts.timezone, orgId: opts.org };
      const created = (await viaServerOrStore(
        { data: opts.data },
        'project-create',
        body,
        async (rt) => (await adminCommands()).createProject(rt, body),
      )) as { project_id: string; token: string; secret: string };
      if (opts.json) out(JSON.stringify(created));
      else {
        out(`project_id: ${created.project_id}`);
        out(`token:      ${created.token}   (public: put it in your SDK setup)`);
        out(
          `secret:     ${created.secret}   (shown once: store it safely; it can query and import)`,
        );
      }
    },
  );

const admin = program
  .command('admin')
  .description("accounts: the first owner, the operator's reset and confirmation");
admin
  .command('create')
  .description(
    'create an organisation and print a single-use setup link for its first owner ' +
      '(password plus a passkey or an authenticator app)',
  )
  .requiredOption('--email <address>', "the owner's e-mail address (sign-in name and notices)")
  .option('--org <name>', 'organisation name', 'My organisation')
  .option('--json', 'print JSON')
  .option('--data <dir>', 'data directory')
  .action(async (opts: { email: string; org: string; json?: boolean; data?: string }) => {
    const body = { email: opts.email, org: opts.org };
    const created = (await viaServerOrStore({ data: opts.data }, 'admin-create', body, async (rt) =>
      (await adminCommands()).adminCreate(rt, body),
    )) as { org_id: string; setup_link: string; expires_at: string; adopted_projects: string[] };
    if (opts.json) out(JSON.stringify(created));
    else {
      out(`organisation: ${created.org_id}`);
      out(`setup link:   ${created.setup_link}`);
      out(`              (single use, valid until ${created.expires_at}; send it to the owner)`);
      if (created.adopted_projects.length > 0)
        out(`projects:     ${created.adopted_projects.join(', ')} now belong to it`);
    }
  });

admin
  .command('reset')
  .description(
    'reset an account that lost every factor, whatever organisations it belongs to: removes its ' +
      'factors and recovery codes, ends its sessions, and prints a single-use setup link for ' +
      'that account only (also e-mailed to the person when SMTP is configured)',
  )
  .requiredOption('--email <address>', "the account's e-mail address")
  .option('--json', 'print JSON')
  .option('--data <dir>', 'data directory')
  .action(async (opts: { email: string; json?: boolean; data?: string }) => {
    const body = {
      email: opts.email,
      proof: await operatorProofFor(opts, 'admin-reset', opts.email),
    };
    const done = (await viaServerOrStore({ data: opts.data }, 'admin-reset', body, async (rt) =>
      (await adminCommands()).adminReset(rt, body),
    )) as { setup_link: string; expires_at: string; emailed: boolean };
    if (opts.json) out(JSON.stringify(done));
    else {
      out(`setup link:   ${done.setup_link}`);
      out(
        `              (single use, valid until ${done.expires_at}; ` +
          (done.emailed ? 'also e-mailed to the person)' : 'hand it to the person yourself)'),
      );
    }
  });
admin
  .command('confirm')
  .description(
    'confirm the person behind an account reset by an organisation admin who saw the setup link: ' +
      'its memberships resume',
  )
  .requiredOption('--email <address>', "the account's e-mail address")
  .option('--json', 'print JSON')
  .option('--data <dir>', 'data directory')
  .action(async (opts: { email: string; json?: boolean; data?: string }) => {
    const body = {
      email: opts.email,
      proof: await operatorProofFor(opts, 'admin-confirm', opts.email),
    };
    const done = (await viaServerOrStore({ data: opts.data }, 'admin-confirm', body, async (rt) =>
      (await adminCommands()).adminConfirm(rt, body),
    )) as { confirmed_orgs: string[] };
    if (opts.json) out(JSON.stringify(done));
    else out(`memberships resumed: ${done.confirmed_orgs.join(', ') || 'none were suspended'}`);
  });

const org = program.command('org').description('organisations');
org
  .command('list')
  .description('list organisations')
  .option('--json', 'print JSON')
  .option('--data <dir>', 'data directory')
  .action(async (opts: { json?: boolean; data?: string }) => {
    const orgs = (await viaServerOrStore({ data: opts.data }, 'org-list', {}, async (rt) =>
      (await adminCommands()).listOrgs(rt),
    )) as { id: string; name: string; members: number; projects: number }[];
    if (opts.json) out(JSON.stringify(orgs));
    else
      for (const o of orgs)
        out(`${o.id}  ${o.name}  (${o.members} members, ${o.projects} projects)`);
  });
org
  .command('lockdown')
  .description(
    'emergency lock-down: revoke every session and every secret key of the organisation now',
  )
  .requiredOption('--org <id>', 'organisation id (see `sillage org list`)')
  .option('--json', 'print JSON')
  .option('--data <dir>', 'data directory')
  .action(async (opts: { org: string; json?: boolean; data?: string }) => {
    const body = { orgId: opts.org };
    const result = (await viaServerOrStore({ data: opts.data }, 'org-lockdown', body, async (rt) =>
      (await adminCommands()).orgLockdown(rt, body),
    )) as { sessions_revoked: number; keys_revoked: number; locked_down_at: string };
    if (opts.json) out(JSON.stringify(result));
    else
      out(
        `locked down at ${result.locked_down_at}: ${result.sessions_revoked} sessions and ` +
          `${result.keys_revoked} secret keys revoked; members must sign in again, ingest continues`,
      );
  });

const audit = program.command('audit').description('the tamper-evident audit log');
audit
  .command('verify')
  .description(
    'recompute the hash chain and check the signed checkpoints: exit 0 when intact, 1 naming the first bad entry',
  )
  .option('--json', 'print JSON')
  .option('--data <dir>', 'data directory')
  .option(
    '--checkpoints <files...>',
    'files of checkpoints pushed off-box (JSON lines; SILLAGE_AUDIT_CHECKPOINT_FILE is read too)',
  )
  .action(async (opts: { json?: boolean; data?: string; checkpoints?: string[] }) => {
    const config = loadConfig({ data: opts.data });
    // The copies are read here, by the operator's process: the server need not be able to.
    const files = [...(opts.checkpoints ?? [])];
    const pushed = config.audit.checkpointFile;
    if (pushed && fs.existsSync(pushed) && !files.includes(pushed)) files.push(pushed);
    const checkpoints = files.flatMap((f) => {
      try {
        return parseCheckpointCopies(fs.readFileSync(f, 'utf8'), f).checkpoints;
      } catch (cause) {
        throw new AppError(
          'AUDIT_CHECKPOINTS_UNREADABLE',
          `cannot read the checkpoint copies in ${f}`,
          { cause },
        );
      }
    });
    const report = (await viaServerOrStore(
      { data: opts.data },
      'audit-verify',
      { checkpoints },
      (rt) => verifyAuditLog(rt.audit.store, rt.audit.signer, checkpoints),
    )) as VerifyReport;
    if (opts.json) out(JSON.stringify(report));
    else if (report.ok)
      out(
        `audit log intact: ${report.entries} entries, signed head at entry ${report.head_seq}, ` +
          `${report.checkpoints} checkpoints, ${report.outside_checkpoints} off-box copies matched` +
          (report.outside_ignored
            ? ` (${report.outside_ignored} copies with a foreign signature ignored)`
            : ''),
      );
    else out(`audit log NOT intact: ${report.first_bad?.message ?? 'unknown problem'}`);
    if (!report.ok) process.exitCode = 1;
  });

const incident = program.command('incident').description('breach-impact reports');
incident
  .command('report')
  .description(
    'what a key, person, session or network read between two times, and whose data it was (GDPR Art. 33(3) fields included)',
  )
  .option('--key <id>', 'a secret key id (key_…)')
  .option('--user <email>', "a person's e-mail address")
  .option('--session <id>', 'a session id (as listed by the sessions API)')
  .option('--network <cidr>', 'a network, e.g. 203.0.113.0/24 (matched at /24 or /48)')
  .option('--org <id>', 'only this organisation')
  .requiredOption('--from <time>', 'start, ISO 8601 (e.g. 2026-11-01T00:00Z)')
  .requiredOption('--to <time>', 'end, ISO 8601')
  .option('--json', 'print JSON (the default)')
  .option('--markdown', 'print Markdown')
  .option('--html', 'print a printable HTML page')
  .option('--data <dir>', 'data directory')
  .action(
    async (opts: {
      key?: string;
      user?: string;
      session?: string;
      network?: string;
      org?: string;
      from: string;
      to: string;
      json?: boolean;
      markdown?: boolean;
      html?: boolean;
      data?: string;
    }) => {
      if ([opts.json, opts.markdown, opts.html].filter(Boolean).length > 1)
        throw new AppError('REQUEST_INVALID', 'give at most one of --json, --markdown, --html');
      const scopes = [opts.key, opts.user, opts.session, opts.network].filter(Boolean);
      if (scopes.length !== 1)
        throw new AppError(
          'REQUEST_INVALID',
          'give exactly one of --key, --user, --session, --network',
        );
      const body = {
        key: opts.key,
        user: opts.user,
        session: opts.session,
        network: opts.network,
        org: opts.org,
        from: opts.from,
        to: opts.to,
      };
      const report = (await viaServerOrStore(
        { data: opts.data },
        'incident-report',
        body,
        async (rt) => (await adminCommands()).incidentReport(rt, body),
      )) as IncidentReport;
      out(
        opts.markdown
          ? incidentMarkdown(report)
          : opts.html
            ? incidentHtml(report)
            : JSON.stringify(report),
      );
    },
  );

program
  .command('import')
  .description('import a Mixpanel raw export (JSONL, plain or gzip) through the ingest pipeline')
  .requiredOption('--project <id>', 'project id')
  .option('--format <format>', 'input format (mixpanel)', 'mixpanel')
  .option('--data <dir>', 'data directory')
  .option('--json', 'print the summary as JSON')
  .option('--workers <n>', 'worker threads on a stopped store (default: one per core)', (v) =>
    Number.parseInt(v, 10),
  )
  .argument('<file>', 'export file (.json, .jsonl, optionally gzip-compressed)')
  .action(
    async (
      file: string,
      opts: { project: string; format: string; data?: string; json?: boolean; workers?: number },
    ) => {
      if (opts.format !== 'mixpanel')
        throw new AppError('QUERY_INVALID', 'only --format mixpanel is supported');
      const config = loadConfig({ data: opts.data });
      const remote = await callAdmin(config.dataDir, 'project-check', { projectId: opts.project });
      const { formatSummary, importFile, recordBatchTarget } = await import('./import.js');
      let summary: ImportSummary;
      if (remote.reachable) {
        summary = await importFile(file, (onError) =>
          recordBatchTarget(async (records, firstIndex) => {
            const r = await callAdmin(config.dataDir, 'import-records', {
              projectId: opts.project,
              records,
              firstIndex,
            });
            if (!r.reachable)
              throw new AppError('STORE_UNAVAILABLE', 'the server stopped during the import');
            return r.value as ImportBatchResult;
          }, onError),
        );
      } else {
        // The import owns its file and can run again: a failed load ends it with that load's
        // error instead of being retried (the server's way, for events it acknowledged).
        const runtimes = await runtimeModule();
        const runtime = await runtimes.openRuntime(config, SILENT_LOGGER, { onFailedLoad: 'stop' });
        const { FileImporter } = await import('../ingest/import-workers.js');
        try {
          await (await adminCommands()).assertProject(runtime, opts.project);
          const project = await runtime.projects.byId(opts.project);
          if (!project) throw new AppError('PROJECT_NOT_FOUND', 'no such project');
          // On a stopped store, the file is prepared on worker threads (one per core) and
          // committed in large batches that DuckDB loads with its own reader: on the embedded
          // store straight into its tables (the import owns the store and can run again, so the
          // ingest log in front of them has nothing to protect), on another through the writer.
          const db =
            config.store.events.kind === 'duckdb' ? runtimes.embeddedDatabase(runtime) : null;
          summary = await importFile(
            file,
            (onError) =>
              new FileImporter(runtime.writer, project, runtime.geo, {
                onError,
                workers: opts.workers,
                ...(db ? { load: (batch) => db.ingest.loadDirect(batch) } : {}),
              }),
          );
        } finally {
          await runtime.close();
        }
      }
      if (opts.json) out(JSON.stringify(summary));
      else for (const line of formatSummary(summary)) out(line);
    },
  );

const privacy = program.command('privacy').description('privacy tools for key holders');
privacy
  .command('pseudonymise')
  .description(
    'print the pseudonym of each given id (under every key version), to find your own users in the data',
  )
  .requiredOption('--project <id>', 'project id')
  .option('--group-key <key>', 'treat the ids as group ids of this group key')
  .option('--data <dir>', 'data directory')
  .argument('[ids...]', 'ids; when none are given, one id per line is read from standard input')
  .action(async (ids: string[], opts: { project: string; groupKey?: string; data?: string }) => {
    let list = ids;
    if (list.length === 0) {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      list = Buffer.concat(chunks)
        .toString('utf8')
        .split(/\r?\n/)
        .filter((l) => l !== '');
    }
    const body = { projectId: opts.project, ids: list, groupKey: opts.groupKey };
    const matches = (await viaServerOrStore({ data: opts.data }, 'pseudonyms', body, async (rt) =>
      (await adminCommands()).matchPseudonyms(rt, body),
    )) as PseudonymMatch[];
    for (const m of matches) out(JSON.stringify(m));
  });

privacy
  .command('report')
  .description('what the privacy stage caught and dropped, by property and kind')
  .requiredOption('--project <id>', 'project id')
  .option('--from <day>', 'first day, YYYY-MM-DD (default: 30 days ago)')
  .option('--to <day>', 'last day, YYYY-MM-DD (default: today)')
  .option('--json', 'print JSON')
  .option('--data <dir>', 'data directory')
  .action(
    async (opts: {
      project: string;
      from?: string;
      to?: string;
      json?: boolean;
      data?: string;
    }) => {
      const body = { projectId: opts.project, from: opts.from, to: opts.to };
      const report = (await viaServerOrStore(
        { data: opts.data },
        'privacy-report',
        body,
        async (rt) => (await privacyOperations()).privacyReport(rt, opts.project, body),
      )) as PrivacyReportView;
      if (opts.json) return out(JSON.stringify(report));
      out(`Privacy report for ${report.project_id}, ${report.from} to ${report.to}`);
      out(
        `Policy: geolocation to ${report.policy.geo}; vault ${report.policy.vault ? 'on' : 'off'}; retention ${report.policy.retentionDays ?? 'unlimited'} days`,
      );
      if (report.loosenings.length) out(`Looser than the default: ${report.loosenings.join('; ')}`);
      if (report.totals.length === 0) out('Nothing caught in this period.');
      for (const t of report.totals)
        out(`  ${String(t.count).padStart(9)}  ${t.kind.padEnd(28)} ${t.property}`);
    },
  );

privacy
  .command('erase')
  .description("erase one end user's events, profile and identity links (by the id your app uses)")
  .requiredOption('--project <id>', 'project id')
  .requiredOption(
    '--user <id>',
    'the user id as your app sent it (it is pseudonymised, never stored)',
  )
  .option('--data <dir>', 'data directory')
  .action(async (opts: { project: string; user: string; data?: string }) => {
    const body = { projectId: opts.project, user: opts.user };
    const result = await viaServerOrStore({ data: opts.data }, 'privacy-erase', body, async (rt) =>
      (await privacyOperations()).eraseSubject(rt, opts.project, opts.user),
    );
    out(JSON.stringify(result));
  });

privacy
  .command('reveal')
  .description(
    "print a person's profile PII from the encrypted vault (only with the vault enabled)",
  )
  .requiredOption('--project <id>', 'project id')
  .requiredOption('--user <id>', 'the user id as your app sent it')
  .option('--data <dir>', 'data directory')
  .action(async (opts: { project: string; user: string; data?: string }) => {
    const body = { projectId: opts.project, user: opts.user };
    const result = await viaServerOrStore(
      { data: opts.data },
      'privacy-reveal',
      body,
      async (rt) => {
        const { revealSubject, CLI_ACTOR } = await privacyOperations();
        return revealSubject(rt, opts.project, opts.user, CLI_ACTOR);
      },
    );
    out(JSON.stringify(result));
  });

const policy = privacy.command('policy').description("read or change a project's privacy policy");
policy
  .command('get')
  .requiredOption('--project <id>', 'project id')
  .option('--data <dir>', 'data directory')
  .action(async (opts: { project: string; data?: string }) => {
    const body = { projectId: opts.project };
    out(
      JSON.stringify(
        await viaServerOrStore({ data: opts.data }, 'policy-get', body, async (rt) =>
          (await privacyOperations()).getPolicy(rt, opts.project),
        ),
        null,
        2,
      ),
    );
  });
policy
  .command('set')
  .description('replace the policy with a JSON document (recorded with who changed it)')
  .requiredOption('--project <id>', 'project id')
  .requiredOption('--file <path>', "policy JSON file ('-' for standard input)")
  .option('--actor <name>', 'who is making the change (recorded)', `cli:${os.userInfo().username}`)
  .option('--data <dir>', 'data directory')
  .action(async (opts: { project: string; file: string; actor: string; data?: string }) => {
    const text =
      opts.file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(opts.file, 'utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new AppError('QUERY_INVALID', 'the policy file is not valid JSON');
    }
    const body = { projectId: opts.project, policy: parsed, actor: opts.actor };
    out(
      JSON.stringify(
        await viaServerOrStore({ data: opts.data }, 'policy-set', body, async (rt) =>
          (await privacyOperations()).setPolicy(rt, opts.project, parsed, opts.actor),
        ),
        null,
        2,
      ),
    );
  });
policy
  .command('history')
  .requiredOption('--project <id>', 'project id')
  .option('--data <dir>', 'data directory')
  .action(async (opts: { project: string; data?: string }) => {
    const body = { projectId: opts.project };
    out(
      JSON.stringify(
        await viaServerOrStore({ data: opts.data }, 'policy-history', body, async (rt) =>
          (await privacyOperations()).policyHistory(rt, opts.project),
        ),
        null,
        2,
      ),
    );
  });

program
  .command('compact')
  .description(
    'rewrite the database file without deleted rows, so that erased data is physically gone (server stopped)',
  )
  .option('--data <dir>', 'data directory')
  .action(async (opts: { data?: string }) => {
    const config = loadConfig({ data: opts.data });
    if ((await callAdmin(config.dataDir, 'ping', {})).reachable) {
      throw new AppError('STORE_UNAVAILABLE', 'the server is running: stop it before compacting');
    }
    // The key is only needed for an encrypted database (compactDatabase says so if it is).
    const atRest = await atRestOf(config).catch(() => undefined);
    const { compactDatabase } = await import('../store/duckdb/index.js');
    const result = await compactDatabase(config.dataDir, atRest);
    out(
      `compacted: ${result.beforeBytes.toLocaleString('en-US')} → ${result.afterBytes.toLocaleString('en-US')} bytes`,
    );
  });

program
  .command('drain')
  .description(
    "load a stopped node's ingest log into the event store, then exit: after a node's loss, run it with the cluster's configuration on any machine that mounts the lost node's data directory",
  )
  .option('--data <dir>', "the stopped node's data directory")
  .option(
    '--wait <seconds>',
    `how long to wait for the event store to answer and take the log (exit code ${DRAIN_GAVE_UP_EXIT} after it)`,
    String(DRAIN_DEFAULT_WAIT_S),
  )
  .action(async (opts: { data?: string; wait: string }) => {
    const config = loadConfig({ data: opts.data });
    const waitS = Number(opts.wait);
    if (!Number.isFinite(waitS) || waitS < 0) {
      throw new AppError('CONFIG_INVALID', '--wait is a number of seconds (0 or more)');
    }
    // Only a node's own directory: opening an empty one would create a node with a new key.
    const nodeFile = path.join(config.dataDir, 'node-id');
    if (!fs.existsSync(nodeFile)) {
      throw new AppError(
        'CONFIG_INVALID',
        `${config.dataDir} is not a Sillage node's data directory (it has no node-id)`,
      );
    }
    if ((await callAdmin(config.dataDir, 'ping', {})).reachable) {
      throw new AppError(
        'STORE_UNAVAILABLE',
        'a server is running on this data directory: it drains its own log',
      );
    }
    // Opening takes the directory's lock (a node that starts meanwhile is refused) and queues
    // every logged segment the store has not applied under that node's name.
    const node = fs.readFileSync(nodeFile, 'utf8').trim();
    const result = await drainNode(config, createLogger({ level: config.logLevel }), {
      waitMs: waitS * 1000,
      say,
    });
    if (!result.drained) {
      say(
        `sillage drain: gave up after ${result.waitedS} s: the event store did not take all of ${node}'s ingest log (ClickHouse unreachable or refusing the loads). Nothing is lost: what is not loaded stays in ${result.logDir}; run sillage drain again once ClickHouse answers [DRAIN_INCOMPLETE]`,
      );
      process.exit(DRAIN_GAVE_UP_EXIT);
    }
    out(
      `drained ${node}: ${result.events.toLocaleString('en-US')} events in ${result.segments} log segments loaded; nothing is left in its log`,
    );
  });

program
  .command('demo')
  .description(
    'create a demo project filled with realistic synthetic analytics, deterministic by seed (server stopped)',
  )
  .option('--events <n>', 'approximate number of events', '300000')
  .option('--seed <n>', 'random seed: the same seed gives the same data', '42')
  .option('--days <n>', 'days of history', '90')
  .option('--end <day>', 'last day of data, YYYY-MM-DD (default: today, UTC)')
  .option('--users <n>', 'number of people (default: one per 50 events)')
  .option('--name <name>', 'project name', 'Demo')
  .option('--timezone <tz>', 'IANA time zone of the project (default UTC)')
  .option('--data <dir>', 'data directory')
  .option('--json', 'print JSON')
  .action(
    async (opts: {
      events: string;
      seed: string;
      days: string;
      end?: string;
      users?: string;
      name: string;
      timezone?: string;
      data?: string;
      json?: boolean;
    }) => {
      const config = loadConfig({ data: opts.data });
      if ((await callAdmin(config.dataDir, 'ping', {})).reachable) {
        throw new AppError(
          'STORE_UNAVAILABLE',
          'the server is running: stop it, run the demo, start it again',
        );
      }
      if (opts.timezone) (await adminCommands()).assertTimezone(opts.timezone);
      const { createDemo } = await import('./demo.js');
      const runtime = await (await runtimeModule()).openRuntime(config, SILENT_LOGGER);
      try {
        const started = Date.now();
        const result = await createDemo(
          runtime,
          {
            events: Number(opts.events),
            seed: Number(opts.seed),
            days: Number(opts.days),
            endDay: opts.end ?? new Date().toISOString().slice(0, 10),
            name: opts.name,
            timezone: opts.timezone,
            users: opts.users === undefined ? undefined : Number(opts.users),
          },
          (step) => {
            if (!opts.json) say(`demo: ${step}…`);
          },
        );
        if (opts.json) return out(JSON.stringify(result));
        const s = result.summary;
        out(`Demo project created in ${((Date.now() - started) / 1000).toFixed(1)} s:`);
        out(
          `  ${s.events.toLocaleString('en-US')} events from ${s.users.toLocaleString('en-US')} people (${s.signedUp.toLocaleString('en-US')} signed up), ${s.sessions.toLocaleString('en-US')} sessions, ${s.fromDay} to ${s.toDay}`,
        );
        out(`project_id: ${result.project_id}`);
        out(`token:      ${result.token}`);
        out(`secret:     ${result.secret}   (shown once: it can query)`);
        out('Try, once the server runs:');
        out(
          `  curl -s -H "Authorization: Bearer ${result.secret}" -H 'content-type: application/json' \\\n` +
            `    -d '{"kind":"funnel","from":"${s.fromDay}","to":"${s.toDay}","steps":[{"event":"Signed Up"},{"event":"Project Created"},{"event":"Purchase Completed"}],"window_seconds":604800}' \\\n` +
            `    http://127.0.0.1:8080/api/v1/projects/${result.project_id}/query`,
        );
      } finally {
        await runtime.close();
      }
    },
  );

failIfUnfinished(program.parseAsync(process.argv), say).catch((error: unknown) => {
  if (isAppError(error)) say(`sillage: ${error.message} [${error.code}]`);
  else say('sillage: unexpected error' + (error instanceof Error ? ` (${error.name})` : ''));
  process.exit(1);
});
