// The ingest byte budget: bounded, refuses past the bound, always lets one body through alone.
import { describe, expect, it } from 'vitest';
import { ByteBudget, RSS_SAMPLE_MS } from './admission.js';

describe('ByteBudget', () => {
  it('holds up to its bound, refuses past it, and gets bytes back on release', () => {
    const budget = new ByteBudget(100, 2);
    const a = budget.open();
    const b = budget.open();
    expect(a.grow(60)).toBe(true);
    expect(b.grow(30)).toBe(true);
    expect(b.grow(20)).toBe(false);
    expect(b.bytes).toBe(30);
    expect(budget.stats()).toMatchObject({ heldBytes: 90, maxBytes: 100, refused: 1 });
    a.release();
    a.release();
    expect(budget.stats().heldBytes).toBe(30);
    expect(b.grow(70)).toBe(true);
    b.release();
    expect(budget.stats().heldBytes).toBe(0);
  });

  it('lets a single body larger than the bound through when nothing else is held', () => {
    const budget = new ByteBudget(10, 2);
    const a = budget.open();
    expect(a.grow(50)).toBe(true);
    expect(a.grow(50)).toBe(true);
    const b = budget.open();
    expect(b.grow(1)).toBe(false);
    a.release();
    expect(b.grow(1)).toBe(true);
  });

  it('keeps the last quarter for sources under their fair share: one source cannot starve others', () => {
    const budget = new ByteBudget(100, 2);
    const flood = {};
    // One source (a token, or a client's connection) with many large requests at once.
    const big = Array.from({ length: 10 }, () => budget.open(flood));
    const admitted = big.filter((r) => r.grow(20)).length;
    // Alone it may take up to the fair-share line, never the last quarter.
    expect(admitted).toBe(3);
    expect(budget.stats()).toMatchObject({ heldBytes: 60, sources: 1, refusedOverShare: 7 });
    // Another source still gets in, in the last quarter too, up to its share (100 / (1 + 1)).
    const other = budget.open('other');
    expect(other.grow(30)).toBe(true);
    // ... but not past it (100 / (2 + 1)): the rest stays for a source yet to come.
    expect(budget.open('other').grow(10)).toBe(false);
    const third = budget.open('third');
    expect(third.grow(5)).toBe(true);
    // The flooding source gets nothing more while the others hold their share.
    expect(budget.open(flood).grow(1)).toBe(false);
    // The hard bound still holds for everyone.
    expect(budget.open('fourth').grow(6)).toBe(false);
    // Bytes of a source are given back with its reservations.
    for (const r of big) r.release();
    expect(budget.stats()).toMatchObject({ heldBytes: 35, sources: 2 });
    expect(budget.open(flood).grow(20)).toBe(true);
  });

  it('under a memory bound, shrinks by what the rest of the process holds; past the bound, admits only a request alone', () => {
    // Resident memory and time as the test sets them (the process's own, every 25 ms, otherwise).
    let rss = 0;
    let now = 0;
    const budget = new ByteBudget(100, 2, { maxRssBytes: 1_000, rss: () => rss, now: () => now });
    // The rest of the process holds 850: 150 left under the bound, more than the budget's 100.
    rss = 850;
    const a = budget.open('a');
    expect(a.grow(60)).toBe(true);
    // A load grows the rest by 100 (the 60 held are in the resident memory too): 50 left.
    rss = 850 + 100 + 60;
    now += RSS_SAMPLE_MS;
    const b = budget.open('b');
    expect(b.grow(40)).toBe(false);
    expect(b.overMemory).toBe(true);
    expect(budget.stats()).toMatchObject({ refused: 1, refusedOverMemory: 1 });
    // The same reading serves until the next sample is due, even if memory fell meanwhile.
    rss = 0;
    expect(budget.open('b').grow(40)).toBe(false);
    // Past the bound (the rest alone over it), nothing more while a body is held...
    rss = 1_200 + 60;
    now += RSS_SAMPLE_MS;
    expect(budget.open('c').grow(1)).toBe(false);
    // ...but a request alone still gets through, so ingest never stops altogether.
    a.release();
    const alone = budget.open('c');
    expect(alone.grow(10)).toBe(true);
    expect(alone.overMemory).toBe(false);
    // Once the rest is back under the bound, the whole budget again.
    rss = 500;
    now += RSS_SAMPLE_MS;
    expect(budget.open('d').grow(60)).toBe(true);
    // Refused for the budget itself: not counted as the memory bound's.
    const e = budget.open('e');
    expect(e.grow(40)).toBe(false);
    expect(e.overMemory).toBe(false);
    expect(budget.stats()).toMatchObject({ refused: 4, refusedOverMemory: 3 });
  });

  it('answers 503 with Retry-After', () => {
    const e = new ByteBudget(1, 7).overloaded();
    expect([e.status, e.code, e.retryAfterSeconds]).toEqual([503, 'INGEST_OVERLOADED', 7]);
    expect(new ByteBudget(1, 7).overloaded(true).message).toMatch(/memory bound/);
  });
});
