// Tests for the privacy counters (bounded, mergeable, flat rows for the store).
import { describe, expect, it } from 'vitest';
import { OTHER_PROPERTY, PrivacyCounters } from './counters.js';

describe('PrivacyCounters', () => {
  it('accumulates redactions, drops and pseudonyms, and reports them sorted', () => {
    const c = new PrivacyCounters();
    c.addHits('notes', { email: 2, phone: 1 });
    c.addHits('notes', { email: 1 });
    c.addDrop('ip', 'ip');
    c.addDrop('$email', 'profile-pii');
    c.addPseudonymised('$device_id', 2);
    expect(c.report()).toEqual({
      redactions: [
        { property: 'notes', kind: 'email', count: 3 },
        { property: 'notes', kind: 'phone', count: 1 },
      ],
      dropped: [
        { property: '$email', reason: 'profile-pii', count: 1 },
        { property: 'ip', reason: 'ip', count: 1 },
      ],
      pseudonymised: [{ property: '$device_id', count: 2 }],
    });
    expect(c.entries()).toContainEqual({ property: 'ip', kind: 'dropped:ip', count: 1 });
    expect(c.entries()).toContainEqual({ property: '$device_id', kind: 'pseudonymised', count: 2 });
  });

  it('caps distinct property names (client-controlled) under $other', () => {
    const c = new PrivacyCounters(3);
    for (let i = 0; i < 100; i++) c.addHits(`p${i}`, { email: 1 });
    const names = new Set(c.report().redactions.map((r) => r.property));
    expect(names.size).toBe(4);
    expect(c.report().redactions.find((r) => r.property === OTHER_PROPERTY)?.count).toBe(97);
  });

  it('merges and clears', () => {
    const a = new PrivacyCounters();
    const b = new PrivacyCounters();
    a.addHits('x', { ip: 1 });
    b.addHits('x', { ip: 2 });
    b.addDrop('gclid', 'click-id');
    a.merge(b);
    expect(a.report().redactions).toEqual([{ property: 'x', kind: 'ip', count: 3 }]);
    expect(a.isEmpty()).toBe(false);
    a.clear();
    expect(a.isEmpty()).toBe(true);
  });
});
