// The one audited escaping function of the ClickHouse adapter. ClickHouse 18.16 (Debian's) has no
// query parameters, so every value reaches SQL text through `quoteString` or `literal`, and every
// name through `quoteIdentifier`; nothing else in the adapter concatenates a value into SQL.
// Property-tested against injection by round trips through a real server (escape.test.ts).
import type { SqlValue } from '../../query/index.js';

// ClickHouse's quoted-string grammar: a backslash escapes the next character (`\\`, `\'`, and
// the C escapes `\0 \b \f \n \r \t`); every other byte stands for itself. Only `\` and `'` must
// be escaped for safety; control characters are escaped too, so that statement text stays
// printable and a NUL never reaches a C string in the server.
const STRING_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  "'": "\\'",
  '\0': '\\0',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

// Identifiers use back quotes with the same backslash escapes.
const IDENTIFIER_ESCAPES: Readonly<Record<string, string>> = {
  ...STRING_ESCAPES,
  "'": "'",
  '`': '\\`',
};

// A UTF-16 surrogate without its pair has no UTF-8 encoding: it would reach the server as U+FFFD,
// a different string. Refused rather than silently changed.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function escapeWith(value: string, table: Readonly<Record<string, string>>): string {
  if (LONE_SURROGATE.test(value)) throw new RangeError('string has an unpaired surrogate');
  let out = '';
  for (const ch of value) out += table[ch] ?? ch;
  return out;
}

/** A ClickHouse string literal whose value is exactly `value` (as UTF-8). */
export function quoteString(value: string): string {
  return `'${escapeWith(value, STRING_ESCAPES)}'`;
}

/** A back-quoted ClickHouse identifier naming exactly `name`. */
export function quoteIdentifier(name: string): string {
  if (name.length === 0) throw new RangeError('empty identifier');
  return `\`${escapeWith(name, IDENTIFIER_ESCAPES)}\``;
}

/** An integer literal; refuses anything that is not a safe integer. */
export function integerLiteral(value: number | bigint): string {
  if (typeof value === 'bigint') return value.toString();
  if (!Number.isSafeInteger(value)) throw new RangeError('not a safe integer');
  return String(value);
}

/** A Float64 literal; refuses NaN and infinities (no query here needs them). */
export function doubleLiteral(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError('not a finite number');
  // A numeric literal, not `toFloat64('…')`: 18.16's string-to-float conversion can be one unit
  // in the last place off (5.804569546880256e-200), its SQL literal parser is exact. It refuses
  // subnormal numbers (5e-324) though: those are spelled by their IEEE 754 bytes.
  if (value !== 0 && Math.abs(value) < 2.2250738585072014e-308) {
    const bytes = Buffer.alloc(8);
    bytes.writeDoubleLE(value);
    return `reinterpretAsFloat64(unhex('${bytes.toString('hex')}'))`;
  }
  return `toFloat64(${String(value)})`;
}

/**
 * A bound value of the engine's SQL pieces as a literal. Timestamps are epoch milliseconds:
 * the adapter stores times as Int64 milliseconds (18.16 has no DateTime64).
 */
export function literal(value: SqlValue): string {
  switch (value.type) {
    case 'varchar':
      return quoteString(value.value);
    case 'bigint':
    case 'timestamp':
      // A bare literal: LIMIT and OFFSET take nothing else.
      return integerLiteral(value.value);
    case 'double':
      return doubleLiteral(value.value);
    case 'boolean':
      return value.value ? '1' : '0';
  }
}
