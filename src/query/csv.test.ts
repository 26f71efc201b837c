// CSV: RFC 4180 quoting, formula-injection defence on text only, each result kind's table, and
// the Accept header's negotiation.
import { describe, expect, it } from 'vitest';
import { csvField, csvTable, genericCsv, resultToCsv, wantsCsv } from './csv.js';

describe('CSV', () => {
  it('quotes per RFC 4180 and defuses spreadsheet formulas in text', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\rhere')).toBe('"cr\rhere"');
    for (const start of ['=', '+', '-', '@', '\t'])
      expect(
        csvField(`${start}SUM(A1)`).startsWith(`'${start}`) ||
          csvField(`${start}SUM(A1)`).startsWith(`"'${start}`),
      ).toBe(true);
    expect(csvField('=1+2,3')).toBe(`"'=1+2,3"`);
    expect(csvField('\rX')).toBe(`"'\rX"`);
    // Numbers are numbers: a negative count is not a formula.
    expect(csvField(-2)).toBe('-2');
    expect(csvField(1.5)).toBe('1.5');
    expect(csvField(null)).toBe('');
    expect(csvField(Number.NaN)).toBe('');
    expect(csvField(true)).toBe('true');
    expect(csvTable(['a', 'b'], [[1, 'x']])).toBe('a,b\r\n1,x\r\n');
  });

  it('quotes a semicolon, so that a spreadsheet splitting on it finds no cell starting a formula', () => {
    // Excel in locales whose list separator is ";" opens a .csv by splitting on it: unquoted,
    // an event name "Signup;=cmd|…" became a second cell that ran as a formula (found by review).
    const name = "Signup;=cmd|' /C calc'!A0";
    expect(csvField(name)).toBe(`"${name}"`);
    expect(csvField('a;b')).toBe('"a;b"');
    expect(csvTable(['event'], [[name]])).toBe(`event\r\n"${name}"\r\n`);
  });

  it('writes one table per result kind', () => {
    expect(
      resultToCsv('trends', {
        series: [
          {
            event: null,
            math: 'unique_users',
            property: null,
            breakdown_value: '-1',
            breakdown_kind: 'value',
            labels: ['2024-01-01', '2024-01-02'],
            values: [1, null],
            total: 1,
          },
        ],
      }),
    ).toBe(
      "event,math,property,breakdown_kind,breakdown_value,total,2024-01-01,2024-01-02\r\n,unique_users,,value,'-1,1,1,\r\n",
    );
    expect(
      resultToCsv('retention', { cohorts: [{ start: '2024-01-01', size: 2, counts: [2, 1] }] }),
    ).toBe('start,size,period_0,period_1\r\n2024-01-01,2,2,1\r\n');
    expect(resultToCsv('event_names', { events: [{ event: '@home', count: 3 }] })).toBe(
      "event,count\r\n'@home,3\r\n",
    );
    // A kind this file does not know: its first list of objects is the table.
    expect(
      genericCsv({
        steps: [
          { step: 1, nodes: [{ event: 'a' }] },
          { step: 2, dropoff: 3 },
        ],
      }),
    ).toBe('step,nodes,dropoff\r\n1,"[{""event"":""a""}]",\r\n2,,3\r\n');
  });

  it('negotiates on the Accept header', () => {
    expect(wantsCsv(undefined)).toBe(false);
    expect(wantsCsv('text/csv')).toBe(true);
    expect(wantsCsv('text/csv, application/json')).toBe(true);
    expect(wantsCsv('application/json, text/csv;q=0.5')).toBe(false);
    expect(wantsCsv('text/csv;q=0')).toBe(false);
    expect(wantsCsv('*/*')).toBe(false);
    expect(wantsCsv('text/csv, */*;q=0.8')).toBe(true);
    expect(wantsCsv('TEXT/CSV; charset=utf-8')).toBe(true);
  });
});
