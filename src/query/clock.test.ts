// Local time without the database: offset step functions, buckets and labels.
import { describe, expect, it, vi } from 'vitest';
import {
  bucketLabel,
  bucketOfDay,
  bucketOfLocal,
  bucketStartLocal,
  buildClock,
  dayNumber,
  localMs,
  offsetAt,
} from './clock.js';

const utc = (iso: string) => Date.parse(iso);

describe('clock', () => {
  it('finds DST changes to the second', () => {
    const clock = buildClock(
      'Europe/Paris',
      utc('2024-03-01T00:00:00Z'),
      utc('2024-11-30T00:00:00Z'),
    );
    expect(clock.segments).toEqual([
      { fromMs: -Infinity, offsetMs: 3_600_000 },
      { fromMs: utc('2024-03-31T01:00:00Z'), offsetMs: 7_200_000 },
      { fromMs: utc('2024-10-27T01:00:00Z'), offsetMs: 3_600_000 },
    ]);
    expect(localMs(clock, utc('2024-03-31T00:59:59.999Z'))).toBe(utc('2024-03-31T01:59:59.999Z'));
    expect(localMs(clock, utc('2024-03-31T01:00:00Z'))).toBe(utc('2024-03-31T03:00:00Z'));
  });

  it('handles half-hour changes and fixed offsets', () => {
    const lordHowe = buildClock(
      'Australia/Lord_Howe',
      utc('2024-03-01T00:00:00Z'),
      utc('2024-05-01T00:00:00Z'),
    );
    expect(lordHowe.segments.map((s) => s.offsetMs)).toEqual([11 * 3_600_000, 10.5 * 3_600_000]);
    expect(
      buildClock('Asia/Kathmandu', 0, utc('2024-01-01T00:00:00Z')).segments.length,
    ).toBeGreaterThan(0);
    expect(offsetAt('Asia/Kathmandu', utc('2024-06-01T00:00:00Z'))).toBe(5.75 * 3_600_000);
    expect(
      buildClock('UTC', utc('2024-01-01T00:00:00Z'), utc('2025-01-01T00:00:00Z')).segments,
    ).toEqual([{ fromMs: -Infinity, offsetMs: 0 }]);
  });

  it('asks the tz data about each year once, whatever span covers it', () => {
    const tenYears = (day: number) =>
      buildClock('America/Denver', Date.UTC(2011, 6, day), Date.UTC(2021, 6, day + 2));
    const first = tenYears(1);
    const asks = vi.spyOn(Intl.DateTimeFormat.prototype, 'formatToParts');
    try {
      // A span moved by a day (a new span: not kept whole) reads the years sampled for the first.
      const moved = tenYears(2);
      expect(asks.mock.calls.length).toBeLessThanOrEqual(2);
      expect(moved.segments.slice(1)).toEqual(
        first.segments.slice(1).filter((s) => s.fromMs > Date.UTC(2011, 6, 2)),
      );
    } finally {
      asks.mockRestore();
    }
  });

  it('numbers buckets with Monday weeks and calendar months', () => {
    const monday = dayNumber('2024-12-30');
    expect(bucketOfDay('week', monday)).toBe(bucketOfDay('week', dayNumber('2025-01-05')));
    expect(bucketOfDay('week', monday)).toBe(bucketOfDay('week', dayNumber('2024-12-29')) + 1);
    expect(bucketLabel('week', bucketOfDay('week', dayNumber('2025-01-01')))).toBe('2024-12-30');
    expect(bucketLabel('month', bucketOfDay('month', dayNumber('2024-02-29')))).toBe('2024-02-01');
    expect(bucketLabel('day', dayNumber('2024-02-29'))).toBe('2024-02-29');
    expect(bucketLabel('hour', bucketOfLocal('hour', utc('2024-02-29T13:45:00Z')))).toBe(
      '2024-02-29T13:00',
    );
    expect(bucketStartLocal('month', bucketOfDay('month', dayNumber('2024-03-15')))).toBe(
      utc('2024-03-01T00:00:00Z'),
    );
    expect(bucketStartLocal('week', bucketOfDay('week', dayNumber('2024-03-15')))).toBe(
      utc('2024-03-11T00:00:00Z'),
    );
  });
});
