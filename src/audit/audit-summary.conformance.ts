// Conformance suite of AuditStore.summarise, run against every adapter (memory, DuckDB bare and
// behind the journal, PostgreSQL): the summary a store computes where the entries live agrees
// with a plain scan-and-fold over the same entries, on chosen cases and on random entries and
// filters (fast-check).
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import type { AuditStoreFixture } from './audit-store.conformance.js';
import { packSubjects, unpackSubjects } from './subjects.js';
import { summariseByScan } from './summary.js';
import {
  READ_KINDS,
  type AuditEntry,
  type AuditEntryHead,
  type AuditFilter,
  type AuditStore,
  type AuditSummary,
} from './types.js';

/** What a test writes: an entry but for its place in the chain. */
type Draft = Omit<AuditEntry, 'seq' | 'prevHash' | 'hash'>;

/** Appends drafts as one batch (chained by plain hashes: summaries do not verify the chain). */
async function put(store: AuditStore, drafts: readonly Draft[]): Promise<AuditEntry[]> {
  if (drafts.length === 0) return [];
  const batch = await store.append((prev) => {
    let { seq, hash } = prev;
    const entries = drafts.map((d) => {
      seq += 1;
      const next = createHash('sha256').update(`${hash}:${seq}`).digest('hex');
      const e: AuditEntry = { ...d, seq, prevHash: hash, hash: next };
      hash = next;
      return e;
    });
    return { entries, head: { seq, hash, atMs: 0, signature: 'unsigned' }, checkpoint: false };
  });
  return batch.entries;
}

const draft = (over: Partial<Draft> & { subjectIds?: string[] }): Draft => {
  const { subjectIds = [], ...rest } = over;
  const { packed, count } = packSubjects(subjectIds);
  return {
    atMs: 1_000,
    kind: 'query',
    actor: 'key:k1',
    orgId: 'org_a',
    projectId: 'p1',
    source: 'http',
    country: null,
    network: null,
    outcome: 'ok',
    target: null,
    detail: '{}',
    fields: '[]',
    eventNames: '[]',
    rows: 0,
    subjectCount: count,
    subjects: packed,
    ...rest,
  };
};

const head = (e: AuditEntry): AuditEntryHead => {
  const { subjects: _subjects, ...rest } = e;
  return rest;
};

/**
 * The reference: the entries a filter matches, folded one by one — written apart from every
 * adapter (and from the memory store's fold) so that it can disagree with them.
 */
export function referenceSummary(
  entries: readonly AuditEntry[],
  f: AuditFilter,
  listLimit: number,
): AuditSummary {
  const matched = entries
    .filter(
      (e) =>
        (f.fromMs === undefined || e.atMs >= f.fromMs) &&
        (f.toMs === undefined || e.atMs < f.toMs) &&
        (f.afterSeq === undefined || e.seq > f.afterSeq) &&
        (f.orgId === undefined || e.orgId === f.orgId) &&
        (f.projectId === undefined || e.projectId === f.projectId) &&
        (!f.actors || f.actors.includes(e.actor)) &&
        (!f.kinds || f.kinds.includes(e.kind)) &&
        (!f.networks || f.networks.some((n) => n === e.network)),
    )
    .sort((a, b) => a.seq - b.seq);
  const reads = matched.filter(
    (e) => e.outcome === 'ok' && (READ_KINDS as readonly string[]).includes(e.kind),
  );
  const refused = matched.filter((e) => e.outcome !== 'ok');
  const distinct = (values: (string | null)[]): string[] =>
    [...new Set(values.filter((v): v is string => v !== null))].sort();
  const readsByKind: Record<string, number> = {};
  for (const e of reads) readsByKind[e.kind] = (readsByKind[e.kind] ?? 0) + 1;
  return {
    actors: distinct(matched.map((e) => e.actor)),
    principals: [...new Set(reads.map((e) => e.actor))],
    reads: reads.length,
    readsByKind,
    rows: reads.reduce((n, e) => n + e.rows, 0),
    firstMs: reads.length ? Math.min(...reads.map((e) => e.atMs)) : null,
    lastMs: reads.length ? Math.max(...reads.map((e) => e.atMs)) : null,
    fields: distinct(reads.flatMap((e) => JSON.parse(e.fields) as string[])),
    eventNames: distinct(reads.flatMap((e) => JSON.parse(e.eventNames) as string[])),
    projects: distinct(reads.map((e) => e.projectId)),
    sources: distinct(reads.map((e) => e.source)),
    countries: distinct(reads.map((e) => e.country)),
    networks: distinct(reads.map((e) => e.network)),
    subjects: distinct(reads.flatMap((e) => unpackSubjects(e.subjects))),
    readList: reads.slice(0, listLimit).map(head),
    refused: refused.length,
    refusedList: refused.slice(0, listLimit).map(head),
  };
}

/** A summary with the order of `readsByKind`'s keys made visible to toEqual. */
const comparable = (s: AuditSummary) => ({ ...s, readsByKind: Object.entries(s.readsByKind) });

/** Pseudonyms whose base64url spelling has `-` and `_` in it, of users and of groups. */
const POOL = Array.from({ length: 10 }, (_, i) => {
  const bytes = createHash('sha256').update(`subject ${i}`).digest().subarray(0, 16);
  if (i === 8) bytes.fill(0xff);
  if (i === 9) bytes.fill(0xfb);
  return (i % 3 === 0 ? 'g_' : 'u_') + bytes.toString('base64url');
});

const KINDS = ['query', 'export', 'user_read', 'audit_read', 'key_used', 'sign_in_failed'];
const ACTORS = ['key:k1', 'key:k2', 'user:u1'];
const ORGS = [null, 'org_a', 'org_b'];
const NETWORKS = [null, 'n1', 'n2'];

const draftArb: fc.Arbitrary<Draft> = fc
  .record({
    atMs: fc.integer({ min: 0, max: 40 }),
    kind: fc.constantFrom(...KINDS),
    actor: fc.constantFrom(...ACTORS),
    orgId: fc.constantFrom(...ORGS),
    projectId: fc.constantFrom(null, 'p1', 'p2'),
    source: fc.constantFrom('http', 'cli'),
    country: fc.constantFrom(null, 'FR', 'DE'),
    network: fc.constantFrom(...NETWORKS),
    outcome: fc.constantFrom('ok', 'ok', 'ok', 'AUDIT_PRINCIPAL_SUSPENDED', 'QUERY_INVALID'),
    fields: fc.subarray(['$browser', 'plan', 'a,b', 'é ✓']),
    eventNames: fc.subarray(['Signed Up', 'Page viewed', '"quoted"']),
    rows: fc.nat(1_000),
    subjectIds: fc.subarray(POOL),
  })
  .map(({ fields, eventNames, ...rest }) =>
    draft({ ...rest, fields: JSON.stringify(fields), eventNames: JSON.stringify(eventNames) }),
  );

const filterArb: fc.Arbitrary<AuditFilter> = fc.record(
  {
    fromMs: fc.integer({ min: 0, max: 40 }),
    toMs: fc.integer({ min: 0, max: 41 }),
    actors: fc.subarray(ACTORS),
    kinds: fc.subarray([...KINDS, 'sign_in']),
    orgId: fc.constantFrom(...ORGS),
    projectId: fc.constantFrom('p1', 'p2'),
    networks: fc.subarray(['n1', 'n2', 'n3']),
    afterSeq: fc.nat(60),
  },
  { requiredKeys: [] },
);

export function auditSummaryConformance(open: () => Promise<AuditStoreFixture>): void {
  it('summarises reads, refusals and the exact set of subjects, with bounded lists', async () => {
    const f = await open();
    try {
      const [u1, u2, g1] = [POOL[1]!, POOL[8]!, POOL[0]!];
      const written = await put(f.store, [
        draft({ atMs: 100, subjectIds: [u1, u2], rows: 5, fields: '["$browser","plan"]' }),
        draft({ atMs: 90, kind: 'export', subjectIds: [u2, g1], rows: 7, eventNames: '["A"]' }),
        draft({ atMs: 95, outcome: 'AUDIT_PRINCIPAL_SUSPENDED', subjectIds: [POOL[2]!] }),
        draft({ atMs: 96, kind: 'key_used', actor: 'key:k9' }),
        draft({ atMs: 97, kind: 'sign_in_failed', actor: 'user:u1', orgId: null, outcome: 'x' }),
        draft({ atMs: 98, actor: 'key:k2', country: 'FR', network: 'n1', subjectIds: [u1] }),
        draft({ atMs: 500, subjectIds: [POOL[3]!] }),
      ]);
      const filter: AuditFilter = { fromMs: 0, toMs: 200 };
      const s = await f.store.summarise(filter, 2);
      expect(comparable(s)).toEqual(comparable(referenceSummary(written, filter, 2)));
      expect(s).toMatchObject({
        actors: ['key:k1', 'key:k2', 'key:k9', 'user:u1'],
        principals: ['key:k1', 'key:k2'],
        reads: 3,
        rows: 12,
        firstMs: 90,
        lastMs: 100,
        fields: ['$browser', 'plan'],
        eventNames: ['A'],
        countries: ['FR'],
        networks: ['n1'],
        subjects: [g1, u1, u2].sort(),
        refused: 2,
      });
      expect(Object.keys(s.readsByKind)).toEqual(['query', 'export']);
      expect(s.readList.map((e) => e.seq)).toEqual([1, 2]);
      expect(s.refusedList.map((e) => e.seq)).toEqual([3, 5]);
      expect(s.refusedList[0]).toEqual(head(written[2]!));
      const none = await f.store.summarise({ ...filter, orgId: null, kinds: ['query'] }, 10);
      expect(comparable(none)).toEqual(
        comparable(referenceSummary(written, { ...filter, orgId: null, kinds: ['query'] }, 10)),
      );
      expect(none.actors).toEqual([]);
      const nobody = await f.store.summarise({ actors: [] }, 10);
      expect(nobody).toMatchObject({ actors: [], reads: 0, subjects: [], firstMs: null });
    } finally {
      await f.close();
    }
  });

  it('agrees with a scan-and-fold of the same entries on random entries and filters', async () => {
    const f = await open();
    try {
      const written: AuditEntry[] = [];
      await fc.assert(
        fc.asyncProperty(
          fc.array(draftArb, { maxLength: 25 }),
          filterArb,
          fc.integer({ min: 0, max: 6 }),
          async (drafts, filter, listLimit) => {
            // One log for every run (a fresh database per run would be slow): the reference
            // folds everything written so far.
            written.push(...(await put(f.store, drafts)));
            const got = await f.store.summarise(filter, listLimit);
            expect(comparable(got)).toEqual(
              comparable(referenceSummary(written, filter, listLimit)),
            );
            // …and with the store's own scan, folded page by page.
            expect(comparable(got)).toEqual(
              comparable(await summariseByScan(f.store, filter, listLimit, 7)),
            );
          },
        ),
        { numRuns: 40 },
      );
    } finally {
      await f.close();
    }
  });
}
