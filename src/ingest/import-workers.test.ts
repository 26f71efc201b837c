// The file importer's worker threads and committer: what reaches the writer is privacy-staged rows
// in file order, one identity link per alias (the first one, as the store keeps first links), and
// rejections numbered by file line, in order.
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createPseudonymiser,
  DEFAULT_POLICY,
  generateProjectKeys,
  ProjectKeyring,
} from '../privacy/index.js';
import type { ProjectContext } from '../projects/index.js';
import type { CommitBatch, CommitResult } from '../store/types.js';
import { decodeEventRow } from '../store/row-json.js';
import { openSharedEnrichStage, type SharedEnrichStage } from './enrich-stage.js';
import { FileImporter } from './import-workers.js';
import type { RecordError } from './records.js';
import type { GroupCommitWriter } from './writer.js';

const TOKEN = 'tok_import_test';

function projectContext(): ProjectContext {
  const master = randomBytes(32);
  const keyring = ProjectKeyring.open(master, generateProjectKeys(master, 'prj_import'));
  const pseudonymise = createPseudonymiser(keyring.current('pseudonym').key);
  return {
    project: {
      id: 'prj_import',
      name: 'import',
      token: TOKEN,
      secretHash: '',
      timezone: 'UTC',
      createdAtMs: 0,
    },
    policy: DEFAULT_POLICY,
    keyring,
    pseudonymise,
    pseudonymiserFor: () => pseudonymise,
    groupKeys: new Set<string>(),
  };
}

/** A writer that keeps what it is given and counts every event as inserted. */
function recordingWriter(): { writer: GroupCommitWriter; batches: CommitBatch[] } {
  const batches: CommitBatch[] = [];
  const writer = {
    submit(batch: CommitBatch): Promise<CommitResult> {
      batches.push(batch);
      const events = (batch.encodedEvents ?? []).reduce((n, e) => n + e.count, 0);
      return Promise.resolve({ eventsInserted: events, eventsDuplicate: 0, profilesWritten: 0 });
    },
  } as unknown as GroupCommitWriter;
  return { writer, batches };
}

const line = (props: Record<string, unknown>, event = 'Page view'): string =>
  JSON.stringify({ event, properties: { time: 1_600_000_000, ...props } });

describe('FileImporter', () => {
  let enrich: SharedEnrichStage;
  beforeAll(async () => {
    enrich = await openSharedEnrichStage();
  });

  it('commits rows in file order, the first link of each alias, and rejections by line', async () => {
    const project = projectContext();
    const { writer, batches } = recordingWriter();
    const errors: RecordError[] = [];
    const importer = new FileImporter(writer, project, enrich.geo, {
      workers: 2,
      onError: (e) => errors.push(e),
    });
    const text =
      [
        line({ distinct_id: 'alice', $device_id: 'dev-1', $user_id: 'alice', $insert_id: 'a1' }),
        line({ distinct_id: 'bob', $device_id: 'dev-1', $user_id: 'bob', $insert_id: 'a2' }),
        '{"event": not json',
        line({ distinct_id: 'carol', token: 'someone-else', $insert_id: 'a3' }),
        '',
        line({ distinct_id: 'alice', $device_id: 'dev-2', $user_id: 'alice', $insert_id: 'a4' }),
      ].join('\n') + '\n';
    // Two chunks, so that the second worker's result joins after the first one's.
    const second =
      line({ distinct_id: 'dan', $device_id: 'dev-1', $user_id: 'dan', $insert_id: 'a5' }) +
      '\n' +
      line({ distinct_id: 'erin', $insert_id: 'a6', email: 'erin@example.com' }) +
      '\n';
    await importer.push(new Uint8Array(Buffer.from(text)), 0);
    await importer.push(new Uint8Array(Buffer.from(second)), 6);
    const totals = await importer.finish();

    expect(totals).toEqual({ lines: 7, imported: 5, duplicates: 0, ignored: 0 });
    expect(errors.map((e) => [e.index, e.field])).toEqual([
      [2, 'line'],
      [3, 'properties.token'],
    ]);
    const rows = batches
      .flatMap((b) => b.encodedEvents ?? [])
      .flatMap((e) => Buffer.from(e.lines).toString('utf8').split('\n').filter(Boolean))
      .map(decodeEventRow);
    const p = project.pseudonymise;
    expect(rows.map((r) => r.distinctId)).toEqual(['alice', 'bob', 'alice', 'dan', 'erin'].map(p));
    // The privacy stage ran on the worker: no raw id or e-mail in what reaches the writer.
    const bytes = Buffer.concat(
      batches.flatMap((b) => (b.encodedEvents ?? []).map((e) => Buffer.from(e.lines))),
    ).toString('utf8');
    for (const raw of ['alice', 'bob', 'dev-1', 'erin@example.com']) {
      expect(bytes).not.toContain(raw);
    }
    // Within a chunk only an alias's first link travels (bob's link of dev-1 changes nothing: the
    // store keeps first links); the next chunk's link comes after it, for the loader to skip.
    const links = batches.flatMap((b) => b.identityLinks);
    const aliases = links.map((l) => [l.aliasId, l.canonicalId]);
    expect(aliases.filter(([alias]) => alias === p('dev-1'))).toEqual([
      [p('dev-1'), p('alice')],
      [p('dev-1'), p('dan')],
    ]);
    expect(aliases).toContainEqual([p('dev-2'), p('alice')]);
  });
  it("with a direct load, hands each loaded chunk's memory back to the workers, whose later rows read right", async () => {
    const { writer } = recordingWriter();
    const loaded: string[] = [];
    const given: Uint8Array[] = [];
    const importer = new FileImporter(writer, projectContext(), enrich.geo, {
      workers: 1,
      commitEvents: 2,
      load: (batch) => {
        for (const chunk of batch.chunks) {
          given.push(chunk);
          loaded.push(...Buffer.from(chunk).toString('utf8').split('\n').filter(Boolean));
        }
        return Promise.resolve({
          eventsInserted: batch.eventRows,
          eventsDuplicate: 0,
          profilesWritten: 0,
        });
      },
    });
    // Long lines first: a buffer written again with shorter ones still holds them past its rows.
    for (let c = 0; c < 6; c++) {
      const pad = 'x'.repeat(c < 3 ? 2000 : 10);
      const text = [0, 1]
        .map((k) => line({ distinct_id: 'u', $insert_id: `r${2 * c + k}`, n: 2 * c + k, pad }))
        .join('\n');
      await importer.push(new Uint8Array(Buffer.from(`${text}\n`)), 2 * c);
    }
    const totals = await importer.finish();
    expect(totals).toEqual({ lines: 12, imported: 12, duplicates: 0, ignored: 0 });
    expect(loaded.map((l) => decodeEventRow(l).properties.n)).toEqual(
      Array.from({ length: 12 }, (_, i) => i),
    );
    // Moved back to the worker once loaded (a transferred buffer reads as empty here).
    expect(given).toHaveLength(6);
    expect(given.map((chunk) => chunk.buffer.byteLength)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('decodes each line from the chunk bytes: multi-byte characters, blank and CRLF lines', async () => {
    const { writer, batches } = recordingWriter();
    const errors: RecordError[] = [];
    const importer = new FileImporter(writer, projectContext(), enrich.geo, {
      workers: 1,
      onError: (e) => errors.push(e),
    });
    const text = [
      line({ distinct_id: 'a', $insert_id: 'm1' }, 'Achat réussi ☕'),
      '   ',
      line({ distinct_id: 'b', $insert_id: 'm2', plan: 'ünï 😀' }, 'Ünïcödé') + '\r',
      '',
      line({ distinct_id: 'c', $insert_id: 'm3' }, '日本語'),
    ].join('\n');
    await importer.push(new Uint8Array(Buffer.from(text)), 0);
    const totals = await importer.finish();
    expect(errors).toEqual([]);
    expect(totals).toEqual({ lines: 3, imported: 3, duplicates: 0, ignored: 0 });
    const rows = batches
      .flatMap((b) => b.encodedEvents ?? [])
      .flatMap((e) => Buffer.from(e.lines).toString('utf8').split('\n').filter(Boolean))
      .map(decodeEventRow);
    expect(rows.map((r) => r.event)).toEqual(['Achat réussi ☕', 'Ünïcödé', '日本語']);
    expect(rows[1]?.properties).toMatchObject({ plan: 'ünï 😀' });
  });
});
