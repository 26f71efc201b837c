// Formulas: precedence, unary minus, null and division by zero, and precise refusals.
import { describe, expect, it } from 'vitest';
import { FormulaError, evaluateFormula, parseFormula } from './formula.js';

const run = (text: string, values: (number | null)[]) =>
  evaluateFormula(parseFormula(text, values.length), values);

describe('formulas', () => {
  it('computes with the usual precedence', () => {
    expect(run('B / A * 100', [4, 1])).toBe(25);
    expect(run('A + B * 2', [1, 3])).toBe(7);
    expect(run('(A + B) * 2', [1, 3])).toBe(8);
    expect(run('2 - -A', [3])).toBe(5);
    expect(run('a / b', [1, 4])).toBe(0.25);
    expect(run('.5 * A', [4])).toBe(2);
  });

  it('is null on division by zero or a missing value', () => {
    expect(run('A / B', [1, 0])).toBeNull();
    expect(run('A / (B - B)', [1, 2])).toBeNull();
    expect(run('A + B', [1, null])).toBeNull();
  });

  it('refuses anything but letters, numbers and arithmetic', () => {
    const error = (text: string, count = 2) => {
      try {
        parseFormula(text, count);
      } catch (e) {
        if (e instanceof FormulaError) return e.message;
        throw e;
      }
      return null;
    };
    expect(error('C + A')).toBe('names series C but the query has 2 (A–B)');
    expect(error('Math.max(A)')).toContain('only single series letters');
    expect(error('A +')).toBe('ends too early');
    expect(error('(A')).toBe('misses a closing parenthesis');
    expect(error('A B')).toBe('has something after the end of the expression');
    expect(error('A; process.exit()')).toBe('unexpected ";" at position 2');
    expect(error('')).toBe('is empty');
    expect(error('A'.padEnd(201, '+'))).toContain('at most 200');
    expect(error('('.repeat(30) + 'A' + ')'.repeat(30))).toBe('nests parentheses too deep');
  });
});
