// Off-box checkpoints: the server pushes its signed head on a schedule to a file and to a webhook
// (a real loopback receiver; the body signed with Ed25519), and `sillage audit verify
// --checkpoints` catches a log rolled back to an old backup (truncated) and one that then grew
// again differently (rewritten), naming the pushed checkpoint. Real server and CLI from dist/.
import { execFile } from 'node:child_process';
import { createPublicKey, verify as verifySignature } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CLI,
  createProject,
  makeTestEnv,
  startServerProcess,
  type ServerProcess,
} from './helpers/server.js';

const execFileAsync = promisify(execFile);

interface Report {
  ok: boolean;
  entries: number;
  outside_checkpoints: number;
  first_bad: {
    seq: number;
    problem: string;
    message: string;
    checkpoint?: { origin: string; seq: number; at: string };
  } | null;
}

interface Pushed {
  type: string;
  seq: number;
  hash: string;
  at: string;
  signature: string;
  public_key: string;
}

describe('audit checkpoints pushed off-box', () => {
  const t = makeTestEnv();
  const received: { body: string; signature: string }[] = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        body: Buffer.concat(chunks).toString('utf8'),
        signature: String(req.headers['x-sillage-signature'] ?? ''),
      });
      res.writeHead(204).end();
    });
  });
  let server: ServerProcess | null = null;

  afterAll(async () => {
    await server?.stop('SIGKILL');
    await new Promise((r) => receiver.close(r));
    fs.rmSync(t.base, { recursive: true, force: true });
  });

  async function verify(
    dataDir: string,
    files: string[],
  ): Promise<{ code: number; report: Report }> {
    const args = [CLI, 'audit', 'verify', '--json', '--data', dataDir];
    if (files.length > 0) args.push('--checkpoints', ...files);
    try {
      const { stdout } = await execFileAsync(process.execPath, args, { env: t.env, cwd: t.base });
      return { code: 0, report: JSON.parse(stdout) as Report };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      if (!e.stdout) throw new Error(`audit verify failed: ${e.stderr}`);
      return { code: e.code, report: JSON.parse(e.stdout) as Report };
    }
  }

  async function queries(s: ServerProcess, projectId: string, secret: string, n: number) {
    for (let i = 0; i < n; i++) {
      const res = await fetch(`${s.url}/api/v1/projects/${projectId}/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          kind: 'trends',
          from: '2026-01-01',
          to: '2026-01-07',
          interval: 'day',
          series: [{ event: 'Signed Up', math: 'total' }],
        }),
      });
      expect(res.status).toBe(200);
    }
  }

  it('pushes signed heads to a file and a webhook, and verify catches a rollback and a rewrite', async () => {
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const address = receiver.address();
    const hookUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/cp`;
    const project = await createProject(t, 'Checkpointed');

    // 1. Some history, then a backup of the data directory (what a rollback restores).
    server = await startServerProcess(t);
    await queries(server, project.project_id, project.secret, 3);
    await server.stop();
    const backup = path.join(t.base, 'backup');
    fs.cpSync(t.dataDir, backup, { recursive: true });
    const before = await verify(t.dataDir, []);
    expect(before.code).toBe(0);

    // 2. The log grows; the head is pushed every 1.2 s to a file and to the webhook.
    const cpFile = path.join(t.base, 'offbox', 'checkpoints.jsonl');
    fs.mkdirSync(path.dirname(cpFile), { mode: 0o700 });
    server = await startServerProcess(t, {
      env: {
        SILLAGE_AUDIT_CHECKPOINT_FILE: cpFile,
        SILLAGE_AUDIT_CHECKPOINT_URL: hookUrl,
        SILLAGE_AUDIT_CHECKPOINT_MINUTES: '0.02',
      },
    });
    const deadline = Date.now() + 30_000;
    while (received.length < 3 && Date.now() < deadline) {
      await queries(server, project.project_id, project.secret, 2);
      await new Promise((r) => setTimeout(r, 400));
    }
    await server.stop();
    server = null;
    expect(received.length).toBeGreaterThanOrEqual(3);

    // The webhook body is signed; the file holds the same checkpoints, the head moving forward.
    const lines = fs.readFileSync(cpFile, 'utf8').trim().split('\n');
    const fromFile = lines.map((l) => JSON.parse(l) as Pushed);
    const fromHook = received.map((r) => JSON.parse(r.body) as Pushed);
    expect(fromHook.map((c) => c.seq)).toEqual(fromFile.map((c) => c.seq));
    const seqs = fromFile.map((c) => c.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length); // pushed only when the head moved
    const key = createPublicKey(fromHook[0]!.public_key);
    for (const r of received) {
      const sig = r.signature.replace(/^ed25519=/, '');
      expect(verifySignature(null, Buffer.from(r.body), key, Buffer.from(sig, 'base64url'))).toBe(
        true,
      );
    }
    const hookFile = path.join(t.base, 'offbox', 'received.jsonl');
    fs.writeFileSync(hookFile, received.map((r) => r.body).join('\n') + '\n');

    const intact = await verify(t.dataDir, [cpFile, hookFile]);
    expect(intact.code).toBe(0);
    expect(intact.report.outside_checkpoints).toBe(lines.length + received.length);
    const lastPushed = Math.max(...seqs);
    expect(intact.report.entries).toBe(lastPushed); // the last push on shutdown covers all

    // 3. Rollback: the old backup is intact on its own, but the pushed copies expose it.
    fs.rmSync(t.dataDir, { recursive: true, force: true });
    fs.cpSync(backup, t.dataDir, { recursive: true });
    expect((await verify(t.dataDir, [])).code).toBe(0);
    const rolledBack = await verify(t.dataDir, [hookFile]);
    expect(rolledBack.code).toBe(1);
    expect(rolledBack.report.first_bad).toMatchObject({
      seq: before.report.entries + 1,
      problem: 'outside_truncated',
      checkpoint: { seq: lastPushed, origin: `${hookFile}:${received.length}` },
    });
    expect(rolledBack.report.first_bad?.message).toContain(`checkpoint of entry ${lastPushed}`);

    // 4. Rewrite: the rolled-back log grows again past the pushed checkpoints, differently.
    server = await startServerProcess(t);
    let rewritten: Report | null = null;
    for (let i = 0; i < 20 && !rewritten; i++) {
      // Each query adds at least one entry: first enough to pass the pushed head, then a few.
      await queries(server, project.project_id, project.secret, i === 0 ? lastPushed : 3);
      const r = await verify(t.dataDir, [cpFile]); // through the admin socket, server running
      if (r.report.first_bad?.problem === 'outside_mismatch') rewritten = r.report;
    }
    await server.stop();
    server = null;
    expect(rewritten?.first_bad).toMatchObject({
      problem: 'outside_mismatch',
      seq: Math.min(...seqs.filter((s) => s > before.report.entries)),
      checkpoint: { origin: expect.stringContaining(cpFile) as string },
    });
  }, 240_000);
});
