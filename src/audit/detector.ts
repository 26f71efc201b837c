// Detection of bulk or unusual access: fixed rules (any raw export, a principal's first export,
// a new country or network, volume over N× the principal's baseline, enumeration of subjects)
// over per-principal state learned from the log itself (MCAS/GuardDuty style, §5 of the
// security reference). Pure logic: entries in, triggers out.
import { forEachSubject } from './subjects.js';
import { isReadKind, type AuditEntry } from './types.js';

export type DetectionRule =
  'raw_export' | 'first_export' | 'new_network' | 'volume' | 'enumeration';

export interface Trigger {
  rule: DetectionRule;
  /** `suspend` rules hold the principal off data until an owner decides (default policy). */
  severity: 'notice' | 'suspend';
  actor: string;
  orgId: string | null;
  projectId: string | null;
  seq: number;
  atMs: number;
  reason: string;
}

export interface DetectionSettings {
  /** New principals are learned, not judged, for this long (new network, volume). */
  learningMs: number;
  /** Rows in an hour above this factor × the principal's hourly baseline trigger `volume`. */
  volumeFactor: number;
  /** The baseline never counts as less than this many rows an hour. */
  volumeFloorRows: number;
  /** Distinct subjects returned to one principal within the window that trigger `enumeration`. */
  enumerationSubjects: number;
  enumerationWindowMs: number;
}

export const DEFAULT_DETECTION: DetectionSettings = {
  learningMs: 7 * 86_400_000,
  volumeFactor: 10,
  volumeFloorRows: 1000,
  enumerationSubjects: 1000,
  enumerationWindowMs: 3_600_000,
};

const HOUR = 3_600_000;
const BASELINE_HOURS = 30 * 24;

interface PrincipalState {
  firstSeenMs: number;
  exported: boolean;
  networks: Set<string>;
  countries: Set<string>;
  /** Rows per hour bucket (epoch hour → rows), the last 30 days. */
  hourly: Map<number, number>;
  /** Subject → last time it was returned (within the enumeration window). */
  recentSubjects: Map<string, number>;
  /** Rule → last time it fired (one trigger per rule and hour). */
  fired: Map<DetectionRule, number>;
}

/** Not judged: the operator at the console and the server itself. */
const EXEMPT = new Set(['cli', 'system']);

export class Detector {
  private readonly principals = new Map<string, PrincipalState>();

  constructor(private readonly settings: DetectionSettings = DEFAULT_DETECTION) {}

  /** Feeds one durable entry; returns what it triggers (after learning from it). */
  observe(e: AuditEntry): Trigger[] {
    if (!isReadKind(e.kind) || e.outcome !== 'ok' || EXEMPT.has(e.actor)) return [];
    if (e.kind === 'audit_read' || e.kind === 'incident_report') return [];
    let s = this.principals.get(e.actor);
    if (!s) {
      s = {
        firstSeenMs: e.atMs,
        exported: false,
        networks: new Set(),
        countries: new Set(),
        hourly: new Map(),
        recentSubjects: new Map(),
        fired: new Map(),
      };
      this.principals.set(e.actor, s);
    }
    const out: Trigger[] = [];
    const learned = e.atMs - s.firstSeenMs >= this.settings.learningMs;
    const fire = (rule: DetectionRule, severity: Trigger['severity'], reason: string): void => {
      const last = s.fired.get(rule);
      if (last !== undefined && e.atMs - last < HOUR && rule !== 'raw_export') return;
      s.fired.set(rule, e.atMs);
      out.push({
        rule,
        severity,
        actor: e.actor,
        orgId: e.orgId,
        projectId: e.projectId,
        seq: e.seq,
        atMs: e.atMs,
        reason,
      });
    };

    if (e.kind === 'export') {
      fire('raw_export', 'notice', `raw export of ${e.rows} events (${e.subjectCount} subjects)`);
      if (!s.exported) fire('first_export', 'notice', 'first raw export by this principal');
      s.exported = true;
    }

    const newNetwork = e.network !== null && !s.networks.has(e.network);
    const newCountry = e.country !== null && !s.countries.has(e.country);
    if (learned && (newNetwork || newCountry)) {
      fire(
        'new_network',
        'notice',
        newCountry ? `first access from country ${e.country}` : 'first access from this network',
      );
    }
    if (e.network !== null) s.networks.add(e.network);
    if (e.country !== null) s.countries.add(e.country);

    // Volume against the principal's own hourly baseline.
    const hour = Math.floor(e.atMs / HOUR);
    const before = s.hourly.get(hour) ?? 0;
    s.hourly.set(hour, before + e.rows);
    if (learned) {
      let total = 0;
      let hours = 0;
      for (const [h, rows] of s.hourly) {
        if (h === hour) continue;
        if (h < hour - BASELINE_HOURS) s.hourly.delete(h);
        else total += rows;
      }
      hours = Math.max(1, Math.min(BASELINE_HOURS, hour - Math.floor(s.firstSeenMs / HOUR)));
      const baseline = Math.max(this.settings.volumeFloorRows, total / hours);
      const now = before + e.rows;
      if (now > this.settings.volumeFactor * baseline)
        fire(
          'volume',
          'suspend',
          `${now} rows this hour, over ${this.settings.volumeFactor}× the baseline of ${Math.round(baseline)}`,
        );
    }

    // Enumeration: many distinct subjects returned within the window.
    if (e.subjectCount > 0) {
      const cutoff = e.atMs - this.settings.enumerationWindowMs;
      forEachSubject(e.subjects, (subject) => s.recentSubjects.set(subject, e.atMs));
      if (s.recentSubjects.size > this.settings.enumerationSubjects) {
        for (const [subject, at] of s.recentSubjects)
          if (at < cutoff) s.recentSubjects.delete(subject);
      }
      if (s.recentSubjects.size > this.settings.enumerationSubjects)
        fire(
          'enumeration',
          'suspend',
          `${s.recentSubjects.size} distinct subjects returned within ${Math.round(this.settings.enumerationWindowMs / 60_000)} minutes`,
        );
    }
    return out;
  }
}
