// Tallies of what the privacy stage redacted and dropped, per property, for the privacy report.
import type { DropReason } from './policy.js';
import type { PiiHits, RedactionKind } from './scanner.js';

/** A snapshot of the counters, sorted by property then kind/reason. */
export interface PrivacyReport {
  redactions: Array<{ property: string; kind: RedactionKind; count: number }>;
  dropped: Array<{ property: string; reason: DropReason; count: number }>;
  /** Identifier values replaced by pseudonyms, per property. */
  pseudonymised: Array<{ property: string; count: number }>;
}

/** One flat counter row, shaped for the store's PrivacyCountRow (minus project and day). */
export interface PrivacyCountEntry {
  property: string;
  /** A redaction kind (`email`, …), `dropped:<reason>`, or `pseudonymised`. */
  kind: string;
  count: number;
}

/** Property name that absorbs counts once `maxProperties` distinct names have been seen. */
export const OTHER_PROPERTY = '$other';
const MAX_NAME_LENGTH = 255;

/**
 * Accumulates (property, kind) → count and (property, reason) → count. Property names come from
 * clients, so the number of distinct names is capped (`maxProperties`, default 1000) and further
 * names are counted under `$other`: the counters cannot grow without bound. Callers pass names
 * that were already scanned, so no PII reaches the report.
 */
export class PrivacyCounters {
  private readonly redactions = new Map<string, Map<RedactionKind, number>>();
  private readonly drops = new Map<string, Map<DropReason, number>>();
  private readonly pseudonyms = new Map<string, number>();
  private readonly names = new Set<string>();

  constructor(private readonly maxProperties = 1000) {}

  /** Adds the hits found in one property. */
  addHits(property: string, hits: PiiHits): void {
    const name = this.admit(property);
    for (const [kind, n] of Object.entries(hits) as Array<[RedactionKind, number]>) {
      if (n > 0) bump(this.redactions, name, kind, n);
    }
  }

  /** Counts a dropped property (or nested entry, under its top-level property). */
  addDrop(property: string, reason: DropReason, n = 1): void {
    bump(this.drops, this.admit(property), reason, n);
  }

  /** Counts identifier values of a property that became pseudonyms. */
  addPseudonymised(property: string, n = 1): void {
    const name = this.admit(property);
    this.pseudonyms.set(name, (this.pseudonyms.get(name) ?? 0) + n);
  }

  /** Adds everything another accumulator counted. */
  merge(other: PrivacyCounters): void {
    for (const [property, kinds] of other.redactions) {
      for (const [kind, n] of kinds) bump(this.redactions, this.admit(property), kind, n);
    }
    for (const [property, reasons] of other.drops) {
      for (const [reason, n] of reasons) bump(this.drops, this.admit(property), reason, n);
    }
    for (const [property, n] of other.pseudonyms) this.addPseudonymised(property, n);
  }

  /** True when nothing was counted. */
  isEmpty(): boolean {
    return this.redactions.size === 0 && this.drops.size === 0 && this.pseudonyms.size === 0;
  }

  /** A sorted snapshot. */
  report(): PrivacyReport {
    const redactions: PrivacyReport['redactions'] = [];
    for (const [property, kinds] of this.redactions) {
      for (const [kind, count] of kinds) redactions.push({ property, kind, count });
    }
    const dropped: PrivacyReport['dropped'] = [];
    for (const [property, reasons] of this.drops) {
      for (const [reason, count] of reasons) dropped.push({ property, reason, count });
    }
    const order = (a: { property: string }, b: { property: string }): number =>
      a.property < b.property ? -1 : a.property > b.property ? 1 : 0;
    redactions.sort((a, b) => order(a, b) || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0));
    dropped.sort((a, b) => order(a, b) || (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0));
    const pseudonymised = [...this.pseudonyms].map(([property, count]) => ({ property, count }));
    pseudonymised.sort(order);
    return { redactions, dropped, pseudonymised };
  }

  /** Every counter as a flat row (for `PrivacyCountRow`), in report order. */
  entries(): PrivacyCountEntry[] {
    const report = this.report();
    return [
      ...report.redactions.map(({ property, kind, count }) => ({ property, kind, count })),
      ...report.dropped.map(({ property, reason, count }) => ({
        property,
        kind: `dropped:${reason}`,
        count,
      })),
      ...report.pseudonymised.map(({ property, count }) => ({
        property,
        kind: 'pseudonymised',
        count,
      })),
    ];
  }

  /** Forgets everything (after the report was persisted). */
  clear(): void {
    this.redactions.clear();
    this.drops.clear();
    this.pseudonyms.clear();
    this.names.clear();
  }

  private admit(property: string): string {
    const name = property.length > MAX_NAME_LENGTH ? property.slice(0, MAX_NAME_LENGTH) : property;
    if (this.names.has(name)) return name;
    if (this.names.size >= this.maxProperties) return OTHER_PROPERTY;
    this.names.add(name);
    return name;
  }
}

function bump<K>(map: Map<string, Map<K, number>>, property: string, key: K, n: number): void {
  let inner = map.get(property);
  if (!inner) {
    inner = new Map();
    map.set(property, inner);
  }
  inner.set(key, (inner.get(key) ?? 0) + n);
}
