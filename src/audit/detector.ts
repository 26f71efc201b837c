// Detection of bulk or unusual access: fixed rules (any raw export, a principal's first export,
// a new country or network, an hour of the day the principal never reads at, volume over N× the
// principal's baseline — rows and subjects an hour, exports a day —, enumeration of subjects)
// over per-principal state learned from the log itself (MCAS/GuardDuty style, §5 of the
// security reference), and volume and enumeration again over all of a person's keys together
// (see `observe`). Pure logic: entries in, triggers out.
import { forEachSubject } from './subjects.js';
import { isReadKind, type AuditEntry } from './types.js';

export type DetectionRule =
  'raw_export' | 'first_export' | 'new_network' | 'unusual_hour' | 'volume' | 'enumeration';

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
  /** The baseline never counts as less than this many rows an hour… */
  volumeFloorRows: number;
  /** …this many distinct subjects an hour… */
  volumeFloorSubjects: number;
  /** …or this many exports (first pages) a day. */
  volumeFloorExports: number;
  /** Distinct subjects returned to one principal within the window that trigger `enumeration`. */
  enumerationSubjects: number;
  enumerationWindowMs: number;
}

export const DEFAULT_DETECTION: DetectionSettings = {
  learningMs: 7 * 86_400_000,
  volumeFactor: 10,
  volumeFloorRows: 1000,
  volumeFloorSubjects: 100,
  volumeFloorExports: 1,
  enumerationSubjects: 1000,
  enumerationWindowMs: 3_600_000,
};

const HOUR = 3_600_000;
const DAY = 86_400_000;
const BASELINE_DAYS = 30;
const BASELINE_HOURS = BASELINE_DAYS * 24;

interface PrincipalState {
  firstSeenMs: number;
  exported: boolean;
  networks: Set<string>;
  countries: Set<string>;
  /** Rows per hour bucket (epoch hour → rows), the last 30 days. */
  hourly: Map<number, number>;
  /** Distinct subjects per past hour bucket (epoch hour → count), the last 30 days… */
  subjectsHourly: Map<number, number>;
  /** …and the distinct subjects of the current hour bucket. */
  subjectsThisHour: { hour: number; subjects: Set<string> };
  /** Exports started (first pages) per day bucket (epoch day → count), the last 30 days. */
  dailyExports: Map<number, number>;
  /** Hours of the day (UTC, 0–23) the principal has read at. */
  hoursOfDay: Set<number>;
  /** Subject → last time it was returned (within the enumeration window). */
  recentSubjects: Map<string, number>;
  /** Rule → last time it fired (one trigger per rule and hour). */
  fired: Map<DetectionRule, number>;
  /** A person's keys' state: key → last time it read (forgotten after an hour). */
  keys: Map<string, number>;
}

/** The state of what all of a person's keys read, beside the person's own. */
const KEYS_OF = '#keys';

/** Entries of `m` at or after `since`, forgetting older ones. */
function countRecent(m: Map<string, number>, since: number): number {
  for (const [k, at] of m) if (at < since) m.delete(k);
  return m.size;
}

/** Not judged: the operator at the console and the server itself. */
const EXEMPT = new Set(['cli', 'system']);

export class Detector {
  private readonly principals = new Map<string, PrincipalState>();

  constructor(private readonly settings: DetectionSettings = DEFAULT_DETECTION) {}

  /**
   * Feeds one durable entry; returns what it triggers (after learning from it). `creator`: the
   * person who made the key that read (`user:…`), for a key's entry. What all of a person's keys
   * read is judged together too, as that person — volume and enumeration only (a key on a server
   * reads from networks and at hours the person does not), and only once two or more of their
   * keys read within the hour: a pull spread over several keys, each under its own thresholds, is
   * one person's pull, while one key over its thresholds (leaked from a server, say) is held on
   * its own without holding the person who made it.
   */
  observe(e: AuditEntry, creator?: string): Trigger[] {
    if (!isReadKind(e.kind) || e.outcome !== 'ok' || EXEMPT.has(e.actor)) return [];
    if (e.kind === 'audit_read' || e.kind === 'incident_report') return [];
    const own = this.judge(e, e.actor, e.actor);
    if (creator === undefined || !e.actor.startsWith('key:') || EXEMPT.has(creator)) return own;
    const spread = this.judge(e, `${creator}${KEYS_OF}`, creator).map((t) => ({
      ...t,
      reason: `${t.reason}, by this person's keys together`,
    }));
    return [...own, ...spread];
  }

  /**
   * The rules for one principal's state (`key`), fired as `actor`; a person's keys' state
   * (`key` ≠ `actor`) keeps volume and enumeration only, and fires once two keys read in the hour.
   */
  private judge(e: AuditEntry, key: string, actor: string): Trigger[] {
    const direct = key === actor;
    let s = this.principals.get(key);
    if (!s) {
      s = {
        firstSeenMs: e.atMs,
        exported: false,
        networks: new Set(),
        countries: new Set(),
        hourly: new Map(),
        subjectsHourly: new Map(),
        subjectsThisHour: { hour: Math.floor(e.atMs / HOUR), subjects: new Set() },
        dailyExports: new Map(),
        hoursOfDay: new Set(),
        recentSubjects: new Map(),
        fired: new Map(),
        keys: new Map(),
      };
      this.principals.set(key, s);
    }
    const out: Trigger[] = [];
    const learned = e.atMs - s.firstSeenMs >= this.settings.learningMs;
    if (!direct) s.keys.set(e.actor, e.atMs);
    const spread = direct || countRecent(s.keys, e.atMs - HOUR) >= 2;
    const fire = (rule: DetectionRule, severity: Trigger['severity'], reason: string): void => {
      if (!spread) return;
      const last = s.fired.get(rule);
      if (last !== undefined && e.atMs - last < HOUR && rule !== 'raw_export') return;
      s.fired.set(rule, e.atMs);
      out.push({
        rule,
        severity,
        actor,
        orgId: e.orgId,
        projectId: e.projectId,
        seq: e.seq,
        atMs: e.atMs,
        reason,
      });
    };

    const hour = Math.floor(e.atMs / HOUR);
    // Hours of the baseline: since the principal was first seen, at most 30 days.
    const baselineHours = Math.max(
      1,
      Math.min(BASELINE_HOURS, hour - Math.floor(s.firstSeenMs / HOUR)),
    );

    if (e.kind === 'export' && direct) {
      fire('raw_export', 'notice', `raw export of ${e.rows} events (${e.subjectCount} subjects)`);
      if (!s.exported) fire('first_export', 'notice', 'first raw export by this principal');
      s.exported = true;
      // An export runs page after page: its first page starts one.
      if (exportStarts(e)) {
        const day = Math.floor(e.atMs / DAY);
        const today = (s.dailyExports.get(day) ?? 0) + 1;
        s.dailyExports.set(day, today);
        let total = 0;
        for (const [d, n] of s.dailyExports) {
          if (d === day) continue;
          if (d < day - BASELINE_DAYS) s.dailyExports.delete(d);
          else total += n;
        }
        const days = Math.max(1, Math.min(BASELINE_DAYS, Math.ceil(baselineHours / 24)));
        const baseline = Math.max(this.settings.volumeFloorExports, total / days);
        if (learned && today > this.settings.volumeFactor * baseline)
          fire(
            'volume',
            'suspend',
            `${today} exports today, over ${this.settings.volumeFactor}× the baseline of ${baseline.toFixed(1)} a day`,
          );
      }
    }

    // Hours of the day: a read at an hour the principal never reads at, nor next to one.
    const hourOfDay = new Date(e.atMs).getUTCHours();
    if (
      direct &&
      learned &&
      s.hoursOfDay.size > 0 &&
      ![-1, 0, 1].some((d) => s.hoursOfDay.has((hourOfDay + d + 24) % 24))
    )
      fire('unusual_hour', 'notice', `first access at ${hourOfDay}:00–${hourOfDay}:59 UTC`);
    if (direct) s.hoursOfDay.add(hourOfDay);

    const newNetwork = direct && e.network !== null && !s.networks.has(e.network);
    const newCountry = direct && e.country !== null && !s.countries.has(e.country);
    if (learned && (newNetwork || newCountry)) {
      fire(
        'new_network',
        'notice',
        newCountry ? `first access from country ${e.country}` : 'first access from this network',
      );
    }
    if (direct && e.network !== null) s.networks.add(e.network);
    if (direct && e.country !== null) s.countries.add(e.country);

    // Volume against the principal's own hourly baseline.
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
      hours = baselineHours;
      const baseline = Math.max(this.settings.volumeFloorRows, total / hours);
      const now = before + e.rows;
      if (now > this.settings.volumeFactor * baseline)
        fire(
          'volume',
          'suspend',
          `${now} rows this hour, over ${this.settings.volumeFactor}× the baseline of ${Math.round(baseline)}`,
        );
    }

    // Distinct subjects this hour against the principal's own hourly baseline.
    if (s.subjectsThisHour.hour !== hour) {
      const past = s.subjectsThisHour;
      if (past.subjects.size > 0) s.subjectsHourly.set(past.hour, past.subjects.size);
      s.subjectsThisHour = { hour, subjects: new Set() };
    }
    if (e.subjectCount > 0) {
      const current = s.subjectsThisHour.subjects;
      forEachSubject(e.subjects, (subject) => current.add(subject));
      if (learned) {
        let total = 0;
        for (const [h, n] of s.subjectsHourly) {
          if (h < hour - BASELINE_HOURS) s.subjectsHourly.delete(h);
          else total += n;
        }
        const baseline = Math.max(this.settings.volumeFloorSubjects, total / baselineHours);
        if (current.size > this.settings.volumeFactor * baseline)
          fire(
            'volume',
            'suspend',
            `${current.size} distinct subjects this hour, over ${this.settings.volumeFactor}× the baseline of ${Math.round(baseline)}`,
          );
      }
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

/** Whether an export entry is the first page of an export (later pages continue it). */
function exportStarts(e: AuditEntry): boolean {
  try {
    return (JSON.parse(e.detail) as { page?: unknown }).page !== 'next';
  } catch {
    return true;
  }
}
