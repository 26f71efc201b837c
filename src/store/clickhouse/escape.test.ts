// The escaping function against injection: random strings (quotes, backslashes, NULs, control
// characters, any unicode) go through a real ClickHouse SELECT and must come back unchanged, as
// one value in one column of one row; identifiers likewise name exactly the column they spell.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clickHouseAvailable,
  startClickHouse,
  type ClickHouseTestServer,
} from '../../../test/helpers/clickhouse.js';
import { ClickHouseClient } from './client.js';
import { doubleLiteral, literal, quoteIdentifier, quoteString } from './escape.js';

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() % 2 ** 31;

/** Strings built from the characters that matter to a quoted literal, and any unicode. */
const hostile = fc.oneof(
  fc.string({ unit: 'grapheme' }),
  fc.string({
    unit: fc.constantFrom(
      "'",
      '\\',
      '"',
      '`',
      '\0',
      '\n',
      '\r',
      '\t',
      '?',
      '{',
      '}',
      ';',
      '-',
      '/',
      '*',
      'a',
      'é',
      '😀',
      '\u2028',
      '\x7f',
    ),
  }),
  fc.string({ unit: 'binary' }).filter((s) => !/[\uD800-\uDFFF]/.test(s)),
  fc.constantFrom(
    "' OR 1=1 --",
    "\\' OR 1=1 --",
    "\\\\'; DROP TABLE t; --",
    "'\\",
    '\\',
    "''",
    "x'||'y",
  ),
);

describe('quoteString (unit)', () => {
  it('escapes quotes, backslashes and control characters', () => {
    expect(quoteString("a'b\\c\0\n")).toBe("'a\\'b\\\\c\\0\\n'");
    expect(quoteIdentifier('a`b')).toBe('`a\\`b`');
  });
  it('refuses unpaired surrogates and non-finite numbers', () => {
    expect(() => quoteString('\uD800x')).toThrow(RangeError);
    expect(() => quoteString('x\uDC00')).toThrow(RangeError);
    expect(quoteString('😀')).toBe("'😀'");
    expect(() => doubleLiteral(Number.NaN)).toThrow(RangeError);
    expect(() => literal({ type: 'bigint', value: 2 ** 60 })).toThrow(RangeError);
  });
});

const available = clickHouseAvailable();

describe.skipIf(!available)(`escaping round trips through ClickHouse (FC_SEED=${SEED})`, () => {
  let server: ClickHouseTestServer;
  let client: ClickHouseClient;

  beforeAll(async () => {
    server = await startClickHouse();
    client = new ClickHouseClient({ url: server.url, database: 'default' });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('a string literal selects exactly its value, alone', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(hostile, { minLength: 1, maxLength: 8 }), async (values) => {
        // Several literals in one statement: a broken one would shift or merge the others.
        const select = values.map((v, i) => `${quoteString(v)} AS c${i}`).join(', ');
        const r = await client.query(`SELECT ${select}, length(${quoteString(values[0]!)}) AS n`);
        expect(r.rows).toHaveLength(1);
        expect(r.rows[0]!.slice(0, values.length)).toEqual(values);
        expect(Number(r.rows[0]![values.length])).toBe(Buffer.byteLength(values[0]!, 'utf8'));
      }),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('an identifier names exactly its column', async () => {
    await fc.assert(
      fc.asyncProperty(
        hostile.filter((s) => s.length > 0 && !s.includes('\0')),
        async (name) => {
          const r = await client.query(`SELECT 1 AS ${quoteIdentifier(name)}`);
          expect(r.columns).toEqual([name]);
          const t = await client.query(
            `SELECT ${quoteIdentifier(name)} FROM (SELECT 42 AS ${quoteIdentifier(name)})`,
          );
          expect(t.rows).toEqual([[42]]);
        },
      ),
      { seed: SEED, numRuns: 100 },
    );
  });

  it('numbers and timestamps come back as the same values', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }),
        async (d, n) => {
          const r = await client.query(
            `SELECT ${literal({ type: 'double', value: d })} AS d, toString(${literal({ type: 'bigint', value: n })}) AS n`,
          );
          expect(Object.is(r.rows[0]![0], d) || r.rows[0]![0] === d).toBe(true);
          expect(r.rows[0]![1]).toBe(String(n));
        },
      ),
      { seed: SEED, numRuns: 100 },
    );
  });
});
