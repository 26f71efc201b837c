// Unit tests of detection: each fixed rule and each per-principal baseline (rows and subjects an
// hour, exports a day, networks and countries, hours of the day) fires when it should and stays
// quiet while the principal is learned, for refused reads, and for the console and the server.
import { describe, expect, it } from 'vitest';
import { DEFAULT_DETECTION, Detector, type DetectionSettings, type Trigger } from './detector.js';
import { packSubjects } from './subjects.js';
import type { AuditEntry } from './types.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Midnight UTC, a Monday. */
const T0 = Date.UTC(2026, 10, 2);
const subject = (i: number): string => {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(i + 1, 12);
  return 'u_' + b.toString('base64url');
};
const subjects = (from: number, n: number): string[] =>
  Array.from({ length: n }, (_, i) => subject(from + i));

let seq = 0;
function entry(over: Partial<AuditEntry> & { atMs: number; who?: string[] }): AuditEntry {
  const { packed, count } = packSubjects(over.who ?? []);
  return {
    seq: ++seq,
    kind: 'query',
    actor: 'key:job',
    orgId: 'org_1',
    projectId: 'prj_1',
    source: 'http',
    country: 'FR',
    network: 'net-a',
    outcome: 'ok',
    target: null,
    detail: '{}',
    fields: '[]',
    eventNames: '[]',
    rows: 10,
    prevHash: '',
    hash: '',
    ...over,
    subjectCount: count,
    subjects: packed,
  };
}

const SETTINGS: DetectionSettings = { ...DEFAULT_DETECTION, learningMs: 7 * DAY };
const rules = (triggers: Trigger[]): string[] => triggers.map((t) => t.rule);

/**
 * A principal learned over 8 days: each day at 09:00 and 10:00 UTC, one read of 100 rows naming
 * 20 subjects (the same 20), and one export (two pages) a day.
 */
function learned(settings = SETTINGS): Detector {
  const d = new Detector(settings);
  for (let day = 0; day < 8; day++) {
    for (const h of [9, 10]) {
      const at = T0 + day * DAY + h * HOUR;
      expect(d.observe(entry({ atMs: at, rows: 100, who: subjects(0, 20) })), `day ${day}`).toEqual(
        [],
      );
    }
    const at = T0 + day * DAY + 9 * HOUR + 60_000;
    d.observe(entry({ atMs: at, kind: 'export', detail: '{"page":"first"}', rows: 5 }));
    d.observe(entry({ atMs: at + 1000, kind: 'export', detail: '{"page":"next"}', rows: 5 }));
  }
  return d;
}
const DAY9 = T0 + 8 * DAY;

describe('Detector', () => {
  it('alerts on every raw export and on a principal first one, without suspending', () => {
    const d = new Detector(SETTINGS);
    const first = d.observe(entry({ atMs: T0, kind: 'export', rows: 3 }));
    expect(first.map((t) => [t.rule, t.severity])).toEqual([
      ['raw_export', 'notice'],
      ['first_export', 'notice'],
    ]);
    expect(rules(d.observe(entry({ atMs: T0 + 1000, kind: 'export' })))).toEqual(['raw_export']);
  });

  it('learns networks and countries first, then alerts on a new one', () => {
    const d = new Detector(SETTINGS);
    expect(d.observe(entry({ atMs: T0 + 9 * HOUR }))).toEqual([]);
    // During learning a new network is learned, not judged.
    expect(d.observe(entry({ atMs: T0 + DAY + 9 * HOUR, network: 'net-b' }))).toEqual([]);
    expect(d.observe(entry({ atMs: DAY9 + 9 * HOUR, network: 'net-b' }))).toEqual([]);
    const elsewhere = d.observe(entry({ atMs: DAY9 + 10 * HOUR, network: 'net-c' }));
    expect(elsewhere.map((t) => [t.rule, t.severity])).toEqual([['new_network', 'notice']]);
    const abroad = d.observe(entry({ atMs: DAY9 + 11 * HOUR, network: 'net-a', country: 'KP' }));
    expect(abroad.map((t) => t.reason)).toEqual(['first access from country KP']);
  });

  it('alerts on a read at an hour of the day the principal never reads at', () => {
    const d = learned();
    // Next to the learned hours (08:00, 11:00): usual enough.
    expect(d.observe(entry({ atMs: DAY9 + 8 * HOUR, rows: 1 }))).toEqual([]);
    expect(d.observe(entry({ atMs: DAY9 + 11 * HOUR, rows: 1 }))).toEqual([]);
    const night = d.observe(entry({ atMs: DAY9 + 3 * HOUR + 5 * 60_000, rows: 1 }));
    expect(night.map((t) => [t.rule, t.severity, t.reason])).toEqual([
      ['unusual_hour', 'notice', 'first access at 3:00–3:59 UTC'],
    ]);
    // Learned from then on.
    expect(d.observe(entry({ atMs: DAY9 + DAY + 3 * HOUR, rows: 1 }))).toEqual([]);
  });

  it('suspends on rows in an hour over N× the principal baseline', () => {
    const d = learned();
    // Baseline: 2 × 100 rows a day, below the floor of 1,000 an hour: 10× is 10,000.
    expect(d.observe(entry({ atMs: DAY9 + 9 * HOUR, rows: 9_000 }))).toEqual([]);
    const bulk = d.observe(entry({ atMs: DAY9 + 9 * HOUR + 1000, rows: 1_500 }));
    expect(bulk.map((t) => [t.rule, t.severity])).toEqual([['volume', 'suspend']]);
    expect(bulk[0]?.reason).toMatch(/^10500 rows this hour, over 10× the baseline of 1000$/);
    // One trigger per rule and hour.
    expect(d.observe(entry({ atMs: DAY9 + 9 * HOUR + 2000, rows: 5_000 }))).toEqual([]);
  });

  it('suspends on distinct subjects in an hour over N× the principal baseline', () => {
    const d = learned({ ...SETTINGS, enumerationSubjects: 100_000 });
    // Baseline floor 100 subjects an hour: 1,000 distinct subjects pass, 1,001 trip it.
    expect(d.observe(entry({ atMs: DAY9 + 10 * HOUR, who: subjects(0, 600), rows: 1 }))).toEqual(
      [],
    );
    // The same subjects again count once.
    expect(
      d.observe(entry({ atMs: DAY9 + 10 * HOUR + 1, who: subjects(0, 600), rows: 1 })),
    ).toEqual([]);
    expect(
      d.observe(entry({ atMs: DAY9 + 10 * HOUR + 2, who: subjects(600, 400), rows: 1 })),
    ).toEqual([]);
    const more = d.observe(entry({ atMs: DAY9 + 10 * HOUR + 3, who: subjects(1000, 1), rows: 1 }));
    expect(more.map((t) => [t.rule, t.severity, t.reason])).toEqual([
      ['volume', 'suspend', '1001 distinct subjects this hour, over 10× the baseline of 100'],
    ]);
  });

  it('the subjects baseline is the principal own: a reader of many stays quiet at its usual pace', () => {
    const d = new Detector({ ...SETTINGS, learningMs: DAY, enumerationSubjects: 1_000_000 });
    // 2,000 distinct subjects every hour for a day and a bit (10× the floor would be 1,000).
    for (let h = 0; h < 26; h++)
      d.observe(entry({ atMs: T0 + h * HOUR, who: subjects(h * 2000, 2000), rows: 1 }));
    const usual = d.observe(entry({ atMs: T0 + 26 * HOUR, who: subjects(9e6, 2000), rows: 1 }));
    expect(usual).toEqual([]);
  });

  it('suspends on exports in a day over N× the principal baseline (pages of one export count once)', () => {
    const d = learned({ ...SETTINGS, volumeFactor: 3 });
    const exp = (i: number, page: 'first' | 'next') =>
      d.observe(
        entry({ atMs: DAY9 + 12 * HOUR + i * 1000, kind: 'export', detail: `{"page":"${page}"}` }),
      );
    // Baseline: one export a day; 3× allows three.
    for (let i = 0; i < 3; i++) {
      expect(rules(exp(i * 2, 'first'))).not.toContain('volume');
      expect(rules(exp(i * 2 + 1, 'next'))).not.toContain('volume');
    }
    const fourth = exp(10, 'first').filter((t) => t.rule === 'volume');
    expect(fourth.map((t) => [t.severity, t.reason])).toEqual([
      ['suspend', '4 exports today, over 3× the baseline of 1.0 a day'],
    ]);
  });

  it('suspends on enumeration: more distinct subjects within the window than the threshold', () => {
    const d = new Detector({ ...SETTINGS, enumerationSubjects: 50 });
    // Learning does not hold enumeration back: it is a fixed rule.
    expect(d.observe(entry({ atMs: T0, who: subjects(0, 30) }))).toEqual([]);
    // Subjects outside the window are forgotten.
    expect(d.observe(entry({ atMs: T0 + 2 * HOUR, who: subjects(100, 30) }))).toEqual([]);
    const walk = d.observe(entry({ atMs: T0 + 2 * HOUR + 1, who: subjects(200, 21) }));
    expect(walk.map((t) => [t.rule, t.severity, t.reason])).toEqual([
      ['enumeration', 'suspend', '51 distinct subjects returned within 60 minutes'],
    ]);
  });

  it("judges a person on all their keys' reads together: a pull spread over keys is caught", () => {
    const d = new Detector({ ...SETTINGS, enumerationSubjects: 50 });
    const by = (key: string, from: number, at: number): Trigger[] =>
      d.observe(entry({ atMs: at, actor: key, who: subjects(from, 20) }), 'user:admin');
    // Three keys of one person, 20 subjects each: no key reaches 50, the person does (60).
    expect(by('key:a', 0, T0)).toEqual([]);
    expect(by('key:b', 20, T0 + 1)).toEqual([]);
    const third = by('key:c', 40, T0 + 2);
    expect(third.map((t) => [t.rule, t.actor, t.severity, t.reason])).toEqual([
      [
        'enumeration',
        'user:admin',
        'suspend',
        "60 distinct subjects returned within 60 minutes, by this person's keys together",
      ],
    ]);
    // One key over the threshold is held as itself: its maker is not (a key leaked from a server
    // does not lock out the person who made it).
    const leaked = new Detector({ ...SETTINGS, enumerationSubjects: 50 });
    expect(
      leaked.observe(entry({ atMs: T0, actor: 'key:a', who: subjects(0, 30) }), 'user:admin'),
    ).toEqual([]);
    const over = leaked.observe(
      entry({ atMs: T0 + 1, actor: 'key:a', who: subjects(30, 30) }),
      'user:admin',
    );
    expect(over.map((t) => [t.rule, t.actor])).toEqual([['enumeration', 'key:a']]);
    // Without the creator, the same reads stay under each key's threshold.
    const alone = new Detector({ ...SETTINGS, enumerationSubjects: 50 });
    for (const [i, key] of ['key:a', 'key:b', 'key:c'].entries())
      expect(alone.observe(entry({ atMs: T0 + i, actor: key, who: subjects(20 * i, 20) }))).toEqual(
        [],
      );
  });

  it("keeps a key's networks, hours and exports off its creator's own rules", () => {
    const d = new Detector(SETTINGS);
    // The person reads from their own network at 09:00 for 8 days; their key, from a server's.
    for (let day = 0; day < 8; day++)
      d.observe(entry({ atMs: T0 + day * DAY + 9 * HOUR, actor: 'user:admin', network: 'office' }));
    const at = T0 + 8 * DAY + 3 * HOUR;
    const key = d.observe(
      entry({ atMs: at, actor: 'key:etl', kind: 'export', network: 'datacenter', country: 'US' }),
      'user:admin',
    );
    // The key is judged as itself (its raw export); the person is not told of a new network,
    // an unusual hour or a first export for it.
    expect(key.map((t) => [t.rule, t.actor])).toEqual([
      ['raw_export', 'key:etl'],
      ['first_export', 'key:etl'],
    ]);
    const own = d.observe(entry({ atMs: at + 1, actor: 'user:admin', network: 'office' }));
    expect(rules(own)).toEqual(['unusual_hour']);
  });

  it('judges neither refused reads, nor acts, nor reading the log, nor the console and the server', () => {
    const d = new Detector({ ...SETTINGS, enumerationSubjects: 5 });
    const many = subjects(0, 50);
    expect(
      d.observe(
        entry({ atMs: T0, kind: 'export', outcome: 'AUDIT_PRINCIPAL_SUSPENDED', who: many }),
      ),
    ).toEqual([]);
    expect(d.observe(entry({ atMs: T0, kind: 'sign_in', who: many }))).toEqual([]);
    expect(d.observe(entry({ atMs: T0, kind: 'audit_read', who: many }))).toEqual([]);
    expect(d.observe(entry({ atMs: T0, kind: 'incident_report', who: many }))).toEqual([]);
    expect(d.observe(entry({ atMs: T0, actor: 'cli', kind: 'export', who: many }))).toEqual([]);
    expect(d.observe(entry({ atMs: T0, actor: 'system', kind: 'export', who: many }))).toEqual([]);
  });
});
