// The ingest byte budget: bounded, refuses past the bound, always lets one body through alone.
import { describe, expect, it } from 'vitest';
import { ByteBudget, RSS_SAMPLE_MS } from './admission.js';
import { LARGE_JOB_BYTES } from './event-workers.js';

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

  it('under a memory bound, large bodies get only what the rest of the process leaves; past the bound, one alone', () => {
    // Resident memory and time as the test sets them (the process's own, every 25 ms, otherwise).
    const K = LARGE_JOB_BYTES;
    let rss = 0;
    let now = 0;
    const budget = new ByteBudget(100 * K, 2, {
      maxRssBytes: 1_000 * K,
      rss: () => rss,
      now: () => now,
    });
    // The rest of the process holds 850: 150 left under the bound, more than the budget's 100.
    rss = 850 * K;
    const a = budget.open('a');
    expect(a.grow(60 * K)).toBe(true);
    // A load grows the rest by 100 (the 60 held are in the resident memory too): 50 left.
    rss = (850 + 100 + 60) * K;
    now += RSS_SAMPLE_MS;
    const b = budget.open('b');
    expect(b.grow(40 * K)).toBe(false);
    expect(b.overMemory).toBe(true);
    expect(budget.stats()).toMatchObject({ refused: 1, refusedOverMemory: 1 });
    // A small body (an SDK's batch) is not held to the memory bound, only to the budget.
    const small = budget.open('small');
    expect(small.grow(K - 1)).toBe(true);
    // The same reading serves until the next sample is due, even if memory fell meanwhile.
    rss = 0;
    expect(budget.open('b').grow(40 * K)).toBe(false);
    // Past the bound (the rest alone over it), no large body while another body is held...
    rss = (1_200 + 60) * K;
    now += RSS_SAMPLE_MS;
    expect(budget.open('c').grow(K)).toBe(false);
    // ...but one alone still gets through, so large bodies are slowed, never stopped.
    a.release();
    small.release();
    const alone = budget.open('c');
    expect(alone.grow(K)).toBe(true);
    expect(alone.overMemory).toBe(false);
    // Once the rest is back under the bound, the whole budget again.
    rss = 500 * K;
    now += RSS_SAMPLE_MS;
    expect(budget.open('d').grow(60 * K)).toBe(true);
    // Refused for the budget itself: not counted as the memory bound's.
    const e = budget.open('e');
    expect(e.grow(40 * K)).toBe(false);
    expect(e.overMemory).toBe(false);
  });

  it('answers 503 with Retry-After', () => {
    const e = new ByteBudget(1, 7).overloaded();
    expect([e.status, e.code, e.retryAfterSeconds]).toEqual([503, 'INGEST_OVERLOADED', 7]);
    expect(new ByteBudget(1, 7).overloaded(true).message).toMatch(/memory bound/);
  });
});
