// The distributed rewrite's spelling fix (see distributed-text.ts); its effect on a real
// two-shard cluster is proven by test/cluster.test.ts (breakdowns resolving identities).
import { describe, expect, it } from 'vitest';
import { distributedSafe } from './distributed-text.js';
import { quoteString } from './escape.js';

describe('distributedSafe', () => {
  it('gives tupleElement a non-literal index', () => {
    expect(
      distributedSafe('SELECT tupleElement(links, 2)[indexOf(tupleElement(links, 1), x)]'),
    ).toBe('SELECT tupleElement(links, toUInt8(2))[indexOf(tupleElement(links, toUInt8(1)), x)]');
  });

  it('leaves quoted strings and identifiers, and other names, as they are', () => {
    const value = quoteString("it's tupleElement(links, 2) \\ ' tupleElement(a, 1)");
    const text = `SELECT ${value}, \`tupleElement(b, 1)\`, mytupleElement(c, 1), tupleElement(d, 3)`;
    expect(distributedSafe(text)).toBe(
      `SELECT ${value}, \`tupleElement(b, 1)\`, mytupleElement(c, 1), tupleElement(d, toUInt8(3))`,
    );
    expect(distributedSafe('SELECT 1')).toBe('SELECT 1');
  });
});
