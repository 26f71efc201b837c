// The audit log on PostgreSQL (SILLAGE_META_URL): two nodes write one hash chain. A leaked key
// spreads a bulk pull over both nodes so that neither alone sees enough to trip detection; each
// node judges the whole cluster's entries, so the pull is caught, exactly one node responds (one
// alert, one signed webhook), the key is refused on both nodes, the chain verifies from either
// (and a row altered in PostgreSQL is named),
// and the incident report from the other node names exactly the subjects the key was given.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIncidentReport, verifyAuditLog } from '../src/audit/index.js';
import { incidentDirectory } from '../src/http/routes/audit.js';
import { startInProcess, type InProcess } from './helpers/inprocess.js';
import { freshPostgresDatabase, pgRows, postgresAvailable } from './helpers/postgres.js';

const suite = postgresAvailable() ? describe : describe.skip;
const MASTER_KEY = randomBytes(32).toString('hex');
const EVENTS = ['Report viewed', 'Report shared', 'Report exported', 'Report deleted'];
const PER_EVENT = 15;
/** Above what either node serves alone (30 and 15 subjects), below what both serve (45). */
const ENUMERATION = 40;

suite('audit log shared by several nodes (PostgreSQL)', () => {
  let database: Awaited<ReturnType<typeof freshPostgresDatabase>>;
  let nodeA: InProcess;
  let nodeB: InProcess;
  const hooks: Record<string, unknown>[] = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hooks.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });

  beforeAll(async () => {
    database = await freshPostgresDatabase();
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const env = {
      SILLAGE_META_URL: database.url,
      SILLAGE_MASTER_KEY: MASTER_KEY,
      SILLAGE_INGEST_LOAD_DELAY_MS: '50',
      SILLAGE_AUDIT_ENUMERATION_SUBJECTS: String(ENUMERATION),
      SILLAGE_AUDIT_WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`,
    };
    nodeA = await startInProcess(env);
    nodeB = await startInProcess(env);
  });
  afterAll(async () => {
    await nodeA?.close();
    await nodeB?.close();
    await database?.drop();
    await new Promise((r) => receiver.close(r));
  });

  it('catches a pull spread over two nodes, once, and reports it from either', async () => {
    const project = nodeA.project;
    // Events stay on each node's embedded store here: both nodes get the same events.
    const now = Math.floor(Date.now() / 1000) - 3600;
    const body = JSON.stringify(
      EVENTS.flatMap((event, e) =>
        Array.from({ length: PER_EVENT }, (_, i) => ({
          event,
          properties: {
            token: project.token,
            distinct_id: `user-${e}-${i}`,
            company_id: `company-${e}-${i}`,
            time: now,
            $insert_id: `ins-${e}-${i}`,
          },
        })),
      ),
    );
    for (const node of [nodeA, nodeB]) {
      const res = await fetch(`${node.server.url}/track`, {
        method: 'POST',
        body: 'data=' + encodeURIComponent(body),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(await res.text()).toBe('1');
      const deadline = Date.now() + 30_000;
      while ((await node.server.runtime.events.countEvents(project.project_id)) < 60) {
        if (Date.now() > deadline) throw new Error('events not loaded');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const [key] = (await pgRows(
      database.url,
      "SELECT id FROM api_keys WHERE project_id = $1 AND name = 'bootstrap secret'",
      [project.project_id],
    )) as { id: string }[];
    const principal = `key:${key!.id}`;
    // The events' own day: an hour before now is yesterday in the first hour of a UTC day.
    const day = new Date(now * 1000).toISOString().slice(0, 10);
    const query = (node: InProcess, event: string) =>
      fetch(`${node.server.url}/api/v1/projects/${project.project_id}/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${project.secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          kind: 'trends',
          from: day,
          to: day,
          interval: 'day',
          series: [{ event, math: 'total' }],
          breakdown: 'company_id',
          breakdown_limit: 100,
        }),
      });

    const from = Date.now() - 1000;
    const pulled = new Set<string>();
    const startedAt = Date.now();
    for (const [node, event] of [
      [nodeA, EVENTS[0]!],
      [nodeB, EVENTS[1]!],
      [nodeA, EVENTS[2]!],
    ] as const) {
      const res = await query(node, event);
      expect(res.status).toBe(200);
      const answer = (await res.json()) as { series: { breakdown_value: string }[] };
      for (const s of answer.series) pulled.add(s.breakdown_value);
    }
    expect(pulled.size).toBe(3 * PER_EVENT);

    // Both nodes hold the key off within 60 s; one of them responded.
    while (Date.now() - startedAt < 60_000) {
      if (nodeA.server.runtime.audit.isSuspended(principal))
        if (nodeB.server.runtime.audit.isSuspended(principal)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(nodeA.server.runtime.audit.isSuspended(principal)).toBe(true);
    expect(nodeB.server.runtime.audit.isSuspended(principal)).toBe(true);
    expect(Date.now() - startedAt).toBeLessThan(60_000);
    for (const node of [nodeA, nodeB]) {
      const refused = await query(node, EVENTS[3]!);
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
        'AUDIT_PRINCIPAL_SUSPENDED',
      );
    }
    // Give a slower node time to (wrongly) respond a second time before counting.
    await new Promise((r) => setTimeout(r, 1500));
    const store = nodeB.server.runtime.audit.store;
    const alerts = (await store.scan({ kinds: ['alert'] })).filter((e) => e.target === principal);
    expect(alerts.map((e) => (JSON.parse(e.detail) as { rule: string }).rule)).toEqual([
      'enumeration',
    ]);
    expect(hooks.filter((h) => h.principal === principal && h.rule === 'enumeration')).toHaveLength(
      1,
    );
    expect((await store.listSuspensions(true)).filter((s) => s.actor === principal)).toHaveLength(
      1,
    );

    // One chain, written by both nodes, intact whichever node verifies it.
    const queries = await store.scan({ kinds: ['query'], actors: [principal] });
    expect(queries.map((e) => e.outcome)).toEqual(['ok', 'ok', 'ok']);
    for (const node of [nodeA, nodeB]) {
      const report = await verifyAuditLog(
        node.server.runtime.audit.store,
        node.server.runtime.audit.signer,
      );
      expect(report).toMatchObject({ ok: true, first_bad: null });
      expect(report.head_seq).toBe(report.entries);
    }

    // Tampering in the shared database is caught by either node, naming the entry.
    await pgRows(database.url, 'UPDATE audit_log SET row_count = row_count + 1 WHERE seq = $1', [
      queries[1]!.seq,
    ]);
    const tampered = await verifyAuditLog(
      nodeA.server.runtime.audit.store,
      nodeA.server.runtime.audit.signer,
    );
    expect(tampered.first_bad).toMatchObject({ seq: queries[1]!.seq, problem: 'altered' });
    await pgRows(database.url, 'UPDATE audit_log SET row_count = row_count - 1 WHERE seq = $1', [
      queries[1]!.seq,
    ]);

    // The report, built on node B, covers the reads node A served.
    const report = await buildIncidentReport(
      nodeB.server.runtime.audit,
      incidentDirectory(nodeB.server.runtime.auth),
      { kind: 'key', keyId: key!.id },
      { fromMs: from, toMs: Date.now() + 60_000 },
      null,
      { actor: 'cli', source: { kind: 'cli' } },
    );
    expect(report.accesses).toBe(3);
    expect(report.subject_ids).toEqual([...pulled].sort());
    expect(report.art33.approximate_number_of_data_subjects).toBe(pulled.size);
    expect(report.art33.measures_taken).toContain(`${principal} suspended`);
  });
});
