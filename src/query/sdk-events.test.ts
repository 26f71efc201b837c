// The SQL of "any event" (compile.ts, store/duckdb/rollups.ts) skips the list of SDK
// bookkeeping events for every name that does not start with `$`: a name added to the list
// without that prefix would be counted as a user's action.
import { describe, expect, it } from 'vitest';
import { isSdkBookkeepingEvent, SDK_BOOKKEEPING_EVENTS } from './sdk-events.js';

describe('SDK bookkeeping events', () => {
  it('all start with $, the byte the any-event condition tests first', () => {
    expect(SDK_BOOKKEEPING_EVENTS.length).toBeGreaterThan(0);
    for (const name of SDK_BOOKKEEPING_EVENTS) {
      // Byte order: '$' ≤ name < '%' exactly when the name's first byte is '$'.
      expect(name >= '$' && name < '%').toBe(true);
      expect(isSdkBookkeepingEvent(name)).toBe(true);
    }
    expect(isSdkBookkeepingEvent('$pageview')).toBe(false);
  });
});
