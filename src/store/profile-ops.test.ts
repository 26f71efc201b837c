// Unit tests for Mixpanel profile-update semantics.
import { describe, expect, it } from 'vitest';
import { applyProfileOp } from './profile-ops.js';

describe('applyProfileOp', () => {
  it('$set creates and overwrites', () => {
    expect(applyProfileOp(null, '$set', { a: 1 })).toEqual({ a: 1 });
    expect(applyProfileOp({ a: 1, b: 2 }, '$set', { a: 3 })).toEqual({ a: 3, b: 2 });
  });
  it('$set_once keeps existing values', () => {
    expect(applyProfileOp({ a: 1 }, '$set_once', { a: 2, b: 3 })).toEqual({ a: 1, b: 3 });
  });
  it('$add increments, treating missing as 0 and allowing negatives', () => {
    expect(applyProfileOp({ n: 2 }, '$add', { n: 3, m: -1 })).toEqual({ n: 5, m: -1 });
    expect(applyProfileOp({ n: 'x' }, '$add', { n: 1 })).toEqual({ n: 1 });
  });
  it('$append pushes, turning missing and scalars into lists', () => {
    expect(applyProfileOp({ l: [1] }, '$append', { l: 2, m: 'a' })).toEqual({
      l: [1, 2],
      m: ['a'],
    });
    expect(applyProfileOp({ s: 'x' }, '$append', { s: 'y' })).toEqual({ s: ['x', 'y'] });
  });
  it('$union adds only new values', () => {
    expect(applyProfileOp({ l: [1, 2] }, '$union', { l: [2, 3, 3] })).toEqual({ l: [1, 2, 3] });
    expect(applyProfileOp(null, '$union', { l: 'a' })).toEqual({ l: ['a'] });
  });
  it('$remove removes every equal value and is a no-op when absent', () => {
    expect(applyProfileOp({ l: [1, 2, 1] }, '$remove', { l: 1 })).toEqual({ l: [2] });
    expect(applyProfileOp({ l: [2] }, '$remove', { l: 9, m: 1 })).toEqual({ l: [2] });
  });
  it('$unset removes named properties', () => {
    expect(applyProfileOp({ a: 1, b: 2 }, '$unset', ['a', 'zz'])).toEqual({ b: 2 });
  });
  it('$delete deletes the profile', () => {
    expect(applyProfileOp({ a: 1 }, '$delete', null)).toBeNull();
  });
  it('never mutates its input', () => {
    const before = { l: [1], n: 1 };
    applyProfileOp(before, '$append', { l: 2 });
    applyProfileOp(before, '$add', { n: 2 });
    expect(before).toEqual({ l: [1], n: 1 });
  });
});
