// Relative days: each anchor and unit, month-end clamping, week starts, and what is not relative.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRelativeDay, resolveRelativeDay, todayIn, withResolvedDays } from './relative-dates.js';

describe('relative days', () => {
  it.each([
    ['today', '2024-03-31', '2024-03-31'],
    ['yesterday', '2024-03-01', '2024-02-29'],
    ['-7d', '2024-03-03', '2024-02-25'],
    ['+1d', '2024-12-31', '2025-01-01'],
    ['-2w', '2024-03-15', '2024-03-01'],
    ['-1m', '2024-03-31', '2024-02-29'],
    ['-1y', '2024-02-29', '2023-02-28'],
    ['start_of_week', '2024-03-03', '2024-02-26'], // a Sunday: the week began on Monday
    ['start_of_week', '2024-02-26', '2024-02-26'],
    ['start_of_month', '2024-03-31', '2024-03-01'],
    ['start_of_month-1m', '2024-03-31', '2024-02-01'],
    ['start_of_month-1d', '2024-03-31', '2024-02-29'],
    ['start_of_year', '2024-07-04', '2024-01-01'],
    ['yesterday-1w', '2024-03-08', '2024-02-29'],
  ])('%s on %s is %s', (spec, today, want) => {
    expect(isRelativeDay(spec)).toBe(true);
    expect(resolveRelativeDay(spec, today)).toBe(want);
  });

  it('leaves dates and anything else alone', () => {
    for (const v of ['2024-01-01', '', '7d', '-7', '-7h', 'tomorrow', 'today ', '-12345d'])
      expect(isRelativeDay(v)).toBe(false);
    const body = { kind: 'trends', from: '2024-01-01', to: 'nope' };
    expect(withResolvedDays(body, '2024-03-01')).toBe(body);
    expect(withResolvedDays({ from: '-1d', to: 'today', x: '-1d' }, '2024-03-01')).toEqual({
      from: '2024-02-29',
      to: '2024-03-01',
      x: '-1d',
    });
  });

  it("knows today in the project's time zone", () => {
    const ms = Date.parse('2024-03-10T23:30:00Z');
    expect(todayIn('UTC', ms)).toBe('2024-03-10');
    expect(todayIn('Europe/Paris', ms)).toBe('2024-03-11');
    expect(todayIn('America/Los_Angeles', ms)).toBe('2024-03-10');
    expect(todayIn('Pacific/Kiritimati', ms)).toBe('2024-03-11');
    // Chile's midnights around its clock changes of 2024 (back at 03:00 UTC on 7 April, forward
    // at 04:00 UTC on 8 September): the local day turns at 04:00 UTC both times.
    const back = Date.parse('2024-04-07T04:00:00Z');
    expect(todayIn('America/Santiago', back - 1)).toBe('2024-04-06');
    expect(todayIn('America/Santiago', back)).toBe('2024-04-07');
    const forward = Date.parse('2024-09-08T04:00:00Z');
    expect(todayIn('America/Santiago', forward - 1)).toBe('2024-09-07');
    expect(todayIn('America/Santiago', forward)).toBe('2024-09-08');
  });

  it("agrees with the runtime's own calendar at any instant, in every kind of zone", () => {
    const zones = [
      'UTC',
      'Europe/Paris',
      'America/Los_Angeles',
      'Pacific/Kiritimati',
      'Pacific/Pago_Pago',
      'Asia/Kathmandu',
      'Australia/Lord_Howe',
      'America/St_Johns',
      'Pacific/Apia',
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        // Quarter hours from 1900 to 2100 (every local midnight of a zone whose offset is whole
        // quarters falls on one), and the millisecond either side.
        fc.integer({ min: -81_811, max: 151_942 }),
        fc.integer({ min: 0, max: 95 }),
        fc.constantFrom(0, 1, -1),
        (zone, day, quarter, nudge) => {
          const at = day * 86_400_000 + quarter * 900_000 + nudge;
          const expected = new Intl.DateTimeFormat('en-CA', {
            timeZone: zone,
            year: 'numeric',
            month: '2-digit',
            day: '2-digit',
          }).format(new Date(at));
          expect(todayIn(zone, at)).toBe(expected);
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
