// Summaries of audit entries folded in JavaScript, one entry at a time: what the in-memory store
// answers, and what the breach-impact report did before the stores summarised in SQL (kept as
// the same-run baseline of bench/audit.ts).
import { forEachSubject } from './subjects.js';
import {
  isReadKind,
  type AuditEntry,
  type AuditEntryHead,
  type AuditFilter,
  type AuditStore,
  type AuditSummary,
} from './types.js';

/** Whether an entry matches a filter (every condition; `limit` aside). */
export function matchesFilter(e: AuditEntry, f: AuditFilter): boolean {
  return (
    (f.fromMs === undefined || e.atMs >= f.fromMs) &&
    (f.toMs === undefined || e.atMs < f.toMs) &&
    (f.afterSeq === undefined || e.seq > f.afterSeq) &&
    (f.orgId === undefined || e.orgId === f.orgId) &&
    (f.projectId === undefined || e.projectId === f.projectId) &&
    (f.actors === undefined || f.actors.includes(e.actor)) &&
    (f.kinds === undefined || f.kinds.includes(e.kind)) &&
    (f.networks === undefined || (e.network !== null && f.networks.includes(e.network)))
  );
}

const head = (e: AuditEntry): AuditEntryHead => {
  const { subjects: _subjects, ...rest } = e;
  return rest;
};

const sorted = (values: Iterable<string>): string[] => [...values].sort();

/** Folds entries, in sequence order, into an AuditSummary. */
export class SummaryFold {
  private readonly actors = new Set<string>();
  private readonly principals = new Set<string>();
  private readonly byKind: Record<string, number> = {};
  private readonly fields = new Set<string>();
  private readonly events = new Set<string>();
  private readonly projects = new Set<string>();
  private readonly sources = new Set<string>();
  private readonly countries = new Set<string>();
  private readonly networks = new Set<string>();
  private readonly subjects = new Set<string>();
  private readonly readList: AuditEntryHead[] = [];
  private readonly refusedList: AuditEntryHead[] = [];
  private reads = 0;
  private rows = 0;
  private refused = 0;
  private firstMs: number | null = null;
  private lastMs: number | null = null;
  // Field and event lists repeat from entry to entry: parsed once per distinct text.
  private readonly parsed = new Map<string, string[]>();

  constructor(private readonly listLimit: number) {}

  private parse(json: string): string[] {
    let v = this.parsed.get(json);
    if (!v) {
      v = JSON.parse(json) as string[];
      if (this.parsed.size < 10_000) this.parsed.set(json, v);
    }
    return v;
  }

  add(e: AuditEntry): void {
    this.actors.add(e.actor);
    if (e.outcome !== 'ok') {
      this.refused += 1;
      if (this.refusedList.length < this.listLimit) this.refusedList.push(head(e));
      return;
    }
    if (!isReadKind(e.kind)) return;
    this.reads += 1;
    this.rows += e.rows;
    forEachSubject(e.subjects, (x) => this.subjects.add(x));
    for (const x of this.parse(e.fields)) this.fields.add(x);
    for (const x of this.parse(e.eventNames)) this.events.add(x);
    if (e.projectId !== null) this.projects.add(e.projectId);
    this.sources.add(e.source);
    if (e.country !== null) this.countries.add(e.country);
    if (e.network !== null) this.networks.add(e.network);
    this.principals.add(e.actor);
    this.byKind[e.kind] = (this.byKind[e.kind] ?? 0) + 1;
    this.firstMs = this.firstMs === null ? e.atMs : Math.min(this.firstMs, e.atMs);
    this.lastMs = this.lastMs === null ? e.atMs : Math.max(this.lastMs, e.atMs);
    if (this.readList.length < this.listLimit) this.readList.push(head(e));
  }

  result(): AuditSummary {
    return {
      actors: sorted(this.actors),
      principals: [...this.principals],
      reads: this.reads,
      readsByKind: { ...this.byKind },
      rows: this.rows,
      firstMs: this.firstMs,
      lastMs: this.lastMs,
      fields: sorted(this.fields),
      eventNames: sorted(this.events),
      projects: sorted(this.projects),
      sources: sorted(this.sources),
      countries: sorted(this.countries),
      networks: sorted(this.networks),
      subjects: sorted(this.subjects),
      readList: [...this.readList],
      refused: this.refused,
      refusedList: [...this.refusedList],
    };
  }
}

/**
 * A summary built by paging through `store.scan` and folding every entry in JavaScript: what
 * the breach-impact report did before `AuditStore.summarise` (bench/audit.ts's baseline).
 */
export async function summariseByScan(
  store: Pick<AuditStore, 'scan'>,
  filter: AuditFilter,
  listLimit: number,
  pageSize = 50_000,
): Promise<AuditSummary> {
  const fold = new SummaryFold(listLimit);
  const { limit: _limit, ...unbounded } = filter;
  let after = filter.afterSeq ?? 0;
  for (let pages = 0; pages < 1_000_000; pages++) {
    const page = await store.scan({ ...unbounded, afterSeq: after, limit: pageSize });
    for (const e of page) fold.add(e);
    const last = page.at(-1);
    if (page.length < pageSize || !last) break;
    after = last.seq;
  }
  return fold.result();
}
