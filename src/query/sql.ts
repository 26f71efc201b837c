// SQL as a tree of pieces: trusted text written in this codebase, bound values, and portable
// function calls that each dialect spells its own way. User input can only enter as a bound value:
// the `sql` tag accepts pieces, never plain strings, so a value cannot be concatenated by accident.

/** A value bound as a statement parameter, with the type it is bound as. */
export type SqlValue =
  | { type: 'varchar'; value: string }
  | { type: 'bigint'; value: number }
  | { type: 'double'; value: number }
  | { type: 'boolean'; value: boolean }
  /** Epoch milliseconds, bound as a timestamp with time zone. */
  | { type: 'timestamp'; value: number };

/**
 * Operations whose spelling differs between databases. Each dialect renders every one of them
 * with exactly the semantics documented here (the differential tests hold them to it).
 */
export type SqlFunction =
  /** (timestamp) → BIGINT epoch milliseconds. */
  | 'epoch_ms'
  /**
   * (json, key) → the property's text or NULL: strings unquoted, numbers and booleans as JSON
   * text, arrays and objects as compact JSON; NULL when missing or JSON null. `key` is bound.
   */
  | 'json_text'
  /**
   * (text) → DOUBLE or NULL: the text as a number when it is a JSON number literal whose value
   * is finite, else NULL (booleans, words, `0x1`, ` 1`, `1e999` are not numbers).
   */
  | 'to_number'
  /** (haystack, needle) → BOOLEAN, case-sensitive substring test. */
  | 'contains'
  /** (a, b) → BIGINT a divided by b rounded down, for b > 0. */
  | 'floor_div'
  /** (day number since 1970-01-01) → BIGINT month index (year − 1970) × 12 + month − 1. */
  | 'month_of_day'
  /** (x) → BIGINT count of distinct non-NULL x. */
  | 'count_distinct'
  /** (x, fraction literal) → DOUBLE continuous (linearly interpolated) quantile. */
  | 'quantile'
  /** (x) → 1 when x is a rolled-up (total) row of GROUPING SETS, else 0. */
  | 'grouping'
  /** (value, order) → the value of the row with the smallest order. */
  | 'arg_min'
  /**
   * (text) → VARCHAR: the text's UTF-8 bytes in upper-case hexadecimal (`é` → `C3A9`), so that
   * byte order of texts is the order of their hex forms; NULL for NULL.
   */
  | 'hex'
  /**
   * (type column of a `json_each` relation) → 'string' | 'number' | 'boolean' | 'array' |
   * 'object' | 'null'.
   */
  | 'json_type_name';

export type SqlNode =
  | { kind: 'text'; text: string }
  | { kind: 'param'; value: SqlValue }
  | { kind: 'seq'; parts: SqlNode[] }
  | { kind: 'call'; fn: SqlFunction; args: SqlNode[] }
  /** A common table expression; `materialize` asks the dialect to compute it once. */
  | { kind: 'with'; ctes: { name: string; body: SqlNode; materialize: boolean }[]; body: SqlNode }
  /**
   * `<left> ASOF LEFT JOIN <right> ON left.key = right.key AND right.time > left.time`: for each
   * left row, the right row with the same key and the smallest time strictly after. Times are
   * BIGINT (epoch milliseconds). A left row whose key or time is NULL matches nothing (DuckDB's
   * ASOF operator matched a NULL left time as if it were before every right time: issue 12).
   */
  | {
      kind: 'asof_next_join';
      right: SqlNode;
      rightAlias: string;
      leftKey: SqlNode;
      rightKey: SqlNode;
      leftTime: SqlNode;
      rightTime: SqlNode;
    }
  /**
   * A relation of one row per top-level entry of a JSON object, with columns `<alias>.key` and
   * `<alias>.type` (the latter only to be read through `json_type_name`). Joined laterally.
   */
  | { kind: 'json_each'; json: SqlNode; alias: string };

const IDENT = /^[a-z_][a-z0-9_]*$/;

/** Tagged template: the literal parts are trusted SQL; interpolations must be pieces. */
export function sql(strings: TemplateStringsArray, ...pieces: SqlNode[]): SqlNode {
  const parts: SqlNode[] = [];
  strings.forEach((text, i) => {
    if (text) parts.push({ kind: 'text', text });
    const piece = pieces[i];
    if (piece) parts.push(piece);
  });
  return { kind: 'seq', parts };
}

/** Trusted SQL text. Only for constants written in this codebase, never for input. */
export function raw(text: string): SqlNode {
  return { kind: 'text', text };
}

/** A column or CTE name chosen by the compiler from a closed set. */
export function ident(name: string): SqlNode {
  if (!IDENT.test(name)) throw new Error(`not a safe identifier: ${name}`);
  return { kind: 'text', text: name };
}

export const param = {
  varchar: (value: string): SqlNode => ({ kind: 'param', value: { type: 'varchar', value } }),
  bigint: (value: number): SqlNode => {
    if (!Number.isSafeInteger(value)) throw new RangeError('bigint parameter must be an integer');
    return { kind: 'param', value: { type: 'bigint', value } };
  },
  double: (value: number): SqlNode => ({ kind: 'param', value: { type: 'double', value } }),
  timestamp: (ms: number): SqlNode => ({ kind: 'param', value: { type: 'timestamp', value: ms } }),
};

/**
 * An integer the planner derived (a UTC offset, a bucket width), never a request value: rendered
 * as text so that the database can see through bucket arithmetic (statistics, small-range group
 * keys). A bound offset made daily buckets about twice as slow on 10 M events.
 */
export function integerLiteral(value: number): SqlNode {
  if (!Number.isSafeInteger(value)) throw new RangeError('literal must be a safe integer');
  return { kind: 'text', text: String(value) };
}

/** A numeric literal from a closed set (quantile fractions): rendered as text, not bound. */
export function numberLiteral(value: number): SqlNode {
  if (!Number.isFinite(value)) throw new RangeError('literal must be finite');
  return { kind: 'text', text: String(value) };
}

export function call(fn: SqlFunction, ...args: SqlNode[]): SqlNode {
  return { kind: 'call', fn, args };
}

/** Joins pieces with a separator (trusted text). */
export function join(pieces: SqlNode[], separator: string): SqlNode {
  const parts: SqlNode[] = [];
  pieces.forEach((p, i) => {
    if (i > 0) parts.push({ kind: 'text', text: separator });
    parts.push(p);
  });
  return { kind: 'seq', parts };
}

/** `a AND b AND …`, or TRUE for none. */
export function and(conditions: SqlNode[]): SqlNode {
  if (conditions.length === 0) return raw('TRUE');
  return sql`(${join(conditions, ') AND (')})`;
}

/** `a OR b OR …`, or FALSE for none. */
export function or(conditions: SqlNode[]): SqlNode {
  if (conditions.length === 0) return raw('FALSE');
  return sql`(${join(conditions, ') OR (')})`;
}

/** Lateral relation of a JSON object's entries (see the `json_each` node). */
export function jsonEach(json: SqlNode, alias: string): SqlNode {
  ident(alias);
  return { kind: 'json_each', json, alias };
}

export function withCtes(
  ctes: { name: string; body: SqlNode; materialize?: boolean }[],
  body: SqlNode,
): SqlNode {
  for (const c of ctes) ident(c.name);
  return {
    kind: 'with',
    ctes: ctes.map((c) => ({ name: c.name, body: c.body, materialize: c.materialize ?? false })),
    body,
  };
}

/** Every bound value of a tree, in order (tests use this to prove values are never inlined). */
export function boundValues(node: SqlNode): SqlValue[] {
  const out: SqlValue[] = [];
  const walk = (n: SqlNode): void => {
    switch (n.kind) {
      case 'text':
        return;
      case 'param':
        out.push(n.value);
        return;
      case 'seq':
        n.parts.forEach(walk);
        return;
      case 'call':
        n.args.forEach(walk);
        return;
      case 'with':
        n.ctes.forEach((c) => walk(c.body));
        walk(n.body);
        return;
      case 'asof_next_join':
        [n.right, n.leftKey, n.rightKey, n.leftTime, n.rightTime].forEach(walk);
        return;
      case 'json_each':
        walk(n.json);
        return;
    }
  };
  walk(node);
  return out;
}
