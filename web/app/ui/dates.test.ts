// Date presets resolve to inclusive local days in the project's time zone.
import { describe, expect, it } from 'vitest';
import { addDays, rangeFromParams, resolvePreset, todayIn } from './dates';

describe('date presets', () => {
  const now = new Date('2026-03-01T02:30:00Z');

  it('uses the project time zone for today', () => {
    expect(todayIn('UTC', now)).toBe('2026-03-01');
    // 02:30 UTC is still 28 February in New York.
    expect(todayIn('America/New_York', now)).toBe('2026-02-28');
  });

  it('counts the preset days inclusively, ending today', () => {
    expect(resolvePreset('7d', 'UTC', now)).toEqual({
      preset: '7d',
      from: '2026-02-23',
      to: '2026-03-01',
    });
    expect(resolvePreset('today', 'UTC', now)).toMatchObject({
      from: '2026-03-01',
      to: '2026-03-01',
    });
  });

  it('crosses month and leap-year ends', () => {
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(addDays('2024-03-01', -1)).toBe('2024-02-29');
  });

  it('keeps a custom range from the URL and falls back on a bad one', () => {
    const custom = new URLSearchParams('range=custom&from=2026-01-01&to=2026-01-31');
    expect(rangeFromParams(custom, 'UTC')).toEqual({
      preset: 'custom',
      from: '2026-01-01',
      to: '2026-01-31',
    });
    const bad = new URLSearchParams('range=custom&from=junk&to=2026-01-31');
    expect(rangeFromParams(bad, 'UTC', '30d').preset).toBe('30d');
  });
});
