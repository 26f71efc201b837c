// Tests for the shared field helpers: time parsing, flags, ids.
import { describe, expect, it } from 'vitest';
import { idToString, isTruthyFlag, parseIsoTime, parseTime } from './fields.js';

describe('parseTime', () => {
  it.each([
    ['float seconds (mixpanel-browser)', 1700000000.123, 1700000000123],
    ['integer seconds (export)', 1602611311, 1602611311000],
    ['milliseconds (mixpanel-node Date, /import examples)', 1618716477000, 1618716477000],
    ['fractional milliseconds', 1618716477000.6, 1618716477001],
    ['numeric string, seconds', '1700000000', 1700000000000],
    ['numeric string, ms', ' 1618716477000 ', 1618716477000],
    ['just below the threshold is seconds', 1e11 - 1, (1e11 - 1) * 1000],
    ['just above the threshold is ms', 1e11 + 1, 1e11 + 1],
    ['ISO with Z', '2024-01-15T10:30:00Z', Date.UTC(2024, 0, 15, 10, 30)],
    [
      'ISO without zone is UTC (mixpanel-browser dates)',
      '2024-01-15T10:30:00',
      Date.UTC(2024, 0, 15, 10, 30),
    ],
    ['ISO with offset', '2024-01-15T10:30:00+01:00', Date.UTC(2024, 0, 15, 9, 30)],
    ['ISO with compact offset', '2024-01-15T10:30:00-0230', Date.UTC(2024, 0, 15, 13, 0)],
    ['ISO with microseconds', '2024-01-15T10:30:00.123456Z', Date.UTC(2024, 0, 15, 10, 30, 0, 123)],
    ['ISO with space separator', '2024-01-15 10:30:00.5', Date.UTC(2024, 0, 15, 10, 30, 0, 500)],
    ['date only', '2024-02-29', Date.UTC(2024, 1, 29)],
  ])('%s', (_name, input, expected) => {
    expect(parseTime(input)).toBe(expected);
  });

  it.each([
    ['2023-02-29T00:00:00Z'],
    ['2024-13-01'],
    ['2024-01-15T24:00:00Z'],
    ['2024-01-15T10:60:00Z'],
    ['15/01/2024'],
    ['yesterday'],
    [''],
    [true],
    [null],
    [[1700000000]],
    [{ t: 1 }],
  ])('refuses %j', (input) => {
    expect(parseTime(input)).toBeNull();
  });

  it('does not depend on the server time zone for zone-less ISO times', () => {
    expect(parseIsoTime('1999-12-31T23:59:59')).toBe(Date.UTC(1999, 11, 31, 23, 59, 59));
  });
});

describe('isTruthyFlag', () => {
  it.each([
    [true, true],
    [1, true],
    ['true', true],
    ['1', true],
    ['yes', true],
    [{}, true],
    [false, false],
    [0, false],
    ['', false],
    ['false', false],
    ['FALSE', false],
    ['0', false],
    [null, false],
    [undefined, false],
  ])('%j → %s', (value, expected) => {
    expect(isTruthyFlag(value)).toBe(expected);
  });
});

describe('idToString', () => {
  it('accepts strings and numbers only', () => {
    expect(idToString('u1')).toBe('u1');
    expect(idToString(42)).toBe('42');
    expect(idToString(1.5)).toBe('1.5');
    expect(idToString(true)).toBeNull();
    expect(idToString(null)).toBeNull();
    expect(idToString(['a'])).toBeNull();
  });
});
