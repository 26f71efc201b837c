// Date presets are relative days, resolved by the server's own rules in the project's time zone.
import { describe, expect, it } from 'vitest';
import {
  addDays,
  normaliseRange,
  presetRange,
  rangeFromParams,
  rangeLabel,
  resolveRange,
  todayIn,
} from './dates';

describe('date presets', () => {
  const now = new Date('2026-03-01T02:30:00Z');

  it('uses the project time zone for today', () => {
    expect(todayIn('UTC', now)).toBe('2026-03-01');
    // 02:30 UTC is still 28 February in New York.
    expect(todayIn('America/New_York', now)).toBe('2026-02-28');
  });

  it('sends presets as relative days and shows the days they cover', () => {
    expect(presetRange('7d')).toEqual({ preset: '7d', from: '-6d', to: 'today' });
    expect(resolveRange(presetRange('7d'), 'UTC', now)).toEqual({
      from: '2026-02-23',
      to: '2026-03-01',
    });
    expect(resolveRange(presetRange('last_month'), 'America/New_York', now)).toEqual({
      from: '2026-01-01',
      to: '2026-01-31',
    });
    expect(resolveRange(presetRange('this_week'), 'UTC', now)).toEqual({
      from: '2026-02-23',
      to: '2026-03-01',
    });
    expect(resolveRange({ from: 'junk', to: 'today' }, 'UTC', now)).toBeNull();
  });

  it('names a saved range by its preset', () => {
    expect(rangeLabel({ from: '-29d', to: 'today' })).toBe('Last 30 days');
    expect(rangeLabel({ from: '2026-01-01', to: '2026-01-31' })).toBe('2026-01-01 – 2026-01-31');
  });

  it('makes a preset kept with old fixed days relative again', () => {
    expect(normaliseRange({ preset: '30d', from: '2025-01-01', to: '2025-01-30' })).toEqual({
      preset: '30d',
      from: '-29d',
      to: 'today',
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
