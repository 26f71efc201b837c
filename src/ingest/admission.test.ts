// The ingest byte budget: bounded, refuses past the bound, always lets one body through alone.
import { describe, expect, it } from 'vitest';
import { ByteBudget } from './admission.js';

describe('ByteBudget', () => {
  it('holds up to its bound, refuses past it, and gets bytes back on release', () => {
    const budget = new ByteBudget(100, 2);
    const a = budget.open();
    const b = budget.open();
    expect(a.grow(60)).toBe(true);
    expect(b.grow(30)).toBe(true);
    expect(b.grow(20)).toBe(false);
    expect(b.bytes).toBe(30);
    expect(budget.stats()).toEqual({ heldBytes: 90, maxBytes: 100, refused: 1 });
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

  it('answers 503 with Retry-After', () => {
    const e = new ByteBudget(1, 7).overloaded();
    expect([e.status, e.code, e.retryAfterSeconds]).toEqual([503, 'INGEST_OVERLOADED', 7]);
  });
});
