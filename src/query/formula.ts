// Formulas across trend series ("B / A * 100"): a small recursive-descent parser over letters
// (A = the first series), numbers, + - * /, unary minus and parentheses — no eval, no names, no
// functions. A bucket where a letter has no value, or that divides by zero, is null.

export type FormulaNode =
  | { kind: 'number'; value: number }
  | { kind: 'series'; index: number }
  | { kind: 'negate'; operand: FormulaNode }
  | { kind: 'binary'; op: '+' | '-' | '*' | '/'; left: FormulaNode; right: FormulaNode };

export const MAX_FORMULA_LENGTH = 200;

/** A formula that cannot be parsed: the message says where and why. */
export class FormulaError extends Error {}

type Token =
  { type: 'num'; value: number } | { type: 'letter'; index: number } | { type: 'op'; op: string };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t') {
      i++;
    } else if (/[0-9.]/.test(c)) {
      const m = /^(\d+(\.\d*)?|\.\d+)/.exec(text.slice(i));
      if (!m) throw new FormulaError(`bad number at position ${i + 1}`);
      tokens.push({ type: 'num', value: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z]/.test(c)) {
      if (i + 1 < text.length && /[A-Za-z0-9_]/.test(text[i + 1]!))
        throw new FormulaError(`only single series letters (A, B, …) at position ${i + 1}`);
      tokens.push({ type: 'letter', index: c.toUpperCase().charCodeAt(0) - 65 });
      i++;
    } else if ('+-*/()'.includes(c)) {
      tokens.push({ type: 'op', op: c });
      i++;
    } else {
      throw new FormulaError(`unexpected "${c === '"' ? 'quote' : c}" at position ${i + 1}`);
    }
  }
  return tokens;
}

/** Parses a formula over `seriesCount` series; throws FormulaError with a precise message. */
export function parseFormula(text: string, seriesCount: number): FormulaNode {
  if (text.trim() === '') throw new FormulaError('is empty');
  if (text.length > MAX_FORMULA_LENGTH)
    throw new FormulaError(`must be at most ${MAX_FORMULA_LENGTH} characters`);
  const tokens = tokenize(text);
  let pos = 0;
  let depth = 0;
  const peek = () => tokens[pos];
  const isOp = (op: string) => {
    const t = peek();
    return t?.type === 'op' && t.op === op;
  };
  const expr = (): FormulaNode => {
    let left = term();
    while (isOp('+') || isOp('-')) {
      const op = (tokens[pos++] as { op: '+' | '-' }).op;
      left = { kind: 'binary', op, left, right: term() };
    }
    return left;
  };
  const term = (): FormulaNode => {
    let left = unary();
    while (isOp('*') || isOp('/')) {
      const op = (tokens[pos++] as { op: '*' | '/' }).op;
      left = { kind: 'binary', op, left, right: unary() };
    }
    return left;
  };
  const unary = (): FormulaNode => {
    if (isOp('-')) {
      pos++;
      return { kind: 'negate', operand: unary() };
    }
    if (isOp('+')) {
      pos++;
      return unary();
    }
    return primary();
  };
  const primary = (): FormulaNode => {
    const t = tokens[pos++];
    if (!t) throw new FormulaError('ends too early');
    if (t.type === 'num') return { kind: 'number', value: t.value };
    if (t.type === 'letter') {
      if (t.index >= seriesCount)
        throw new FormulaError(
          `names series ${String.fromCharCode(65 + t.index)} but the query has ${seriesCount} (A${seriesCount > 1 ? `–${String.fromCharCode(64 + seriesCount)}` : ''})`,
        );
      return { kind: 'series', index: t.index };
    }
    if (t.op === '(') {
      if (++depth > 20) throw new FormulaError('nests parentheses too deep');
      const inner = expr();
      if (!isOp(')')) throw new FormulaError('misses a closing parenthesis');
      pos++;
      depth--;
      return inner;
    }
    throw new FormulaError(`unexpected "${t.op}"`);
  };
  const tree = expr();
  if (pos < tokens.length) throw new FormulaError('has something after the end of the expression');
  return tree;
}

/** The formula's value given each series' value (null: no value); null on division by zero. */
export function evaluateFormula(
  node: FormulaNode,
  values: readonly (number | null)[],
): number | null {
  switch (node.kind) {
    case 'number':
      return node.value;
    case 'series':
      return values[node.index] ?? null;
    case 'negate': {
      const v = evaluateFormula(node.operand, values);
      return v === null ? null : -v;
    }
    case 'binary': {
      const a = evaluateFormula(node.left, values);
      const b = evaluateFormula(node.right, values);
      if (a === null || b === null) return null;
      if (node.op === '/' && b === 0) return null;
      const r = node.op === '+' ? a + b : node.op === '-' ? a - b : node.op === '*' ? a * b : a / b;
      return Number.isFinite(r) ? r : null;
    }
  }
}
