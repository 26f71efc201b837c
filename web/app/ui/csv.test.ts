// CSV quoting follows RFC 4180 and defuses spreadsheet formulas.
import { describe, expect, it } from 'vitest';
import { toCsv } from './csv';

describe('toCsv', () => {
  it('quotes commas, quotes and line breaks, and leaves numbers alone', () => {
    expect(
      toCsv(
        ['a', 'b'],
        [
          ['x,y', 'say "hi"'],
          [1.5, null],
          ['line\nbreak', -3],
        ],
      ),
    ).toBe('a,b\r\n"x,y","say ""hi"""\r\n1.5,\r\n"line\nbreak",-3\r\n');
  });

  it('quotes a semicolon (a list separator in some locales)', () => {
    expect(toCsv(['v'], [['Signup;=1+1']])).toBe('v\r\n"Signup;=1+1"\r\n');
  });

  it('prefixes text that a spreadsheet would evaluate', () => {
    expect(toCsv(['v'], [['=HYPERLINK("x")'], ['+1'], ['@SUM(A1)'], ['-2']])).toBe(
      'v\r\n"\'=HYPERLINK(""x"")"\r\n\'+1\r\n\'@SUM(A1)\r\n\'-2\r\n',
    );
  });
});
