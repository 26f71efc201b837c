// The bounded LRU cache against a simple reference model.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LruCache } from './lru.js';

describe('LruCache', () => {
  it('keeps the most recently used entries within its bound', () => {
    const cache = new LruCache<string, number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1);
    cache.set('c', 3);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(1);
    expect(cache.get('c')).toBe(3);
    expect(cache.size).toBe(2);
  });

  it('behaves like a reference model on random operation sequences', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('get' as const), key: fc.nat(9) }),
      fc.record({ kind: fc.constant('set' as const), key: fc.nat(9), value: fc.integer() }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(op, { maxLength: 60 }), (max, ops) => {
        const cache = new LruCache<number, number>(max);
        let model: [number, number][] = []; // least recent first
        for (const o of ops) {
          if (o.kind === 'get') {
            const hit = model.find(([k]) => k === o.key);
            expect(cache.get(o.key)).toBe(hit?.[1]);
            if (hit) model = [...model.filter(([k]) => k !== o.key), hit];
          } else {
            cache.set(o.key, o.value);
            model = [...model.filter(([k]) => k !== o.key), [o.key, o.value]];
            if (model.length > max) model.shift();
          }
          expect(cache.size).toBe(model.length);
        }
      }),
    );
  });
});
