import { describe, expect, it } from 'vitest';
import { stackedValues } from './chart';
import { lifecycleRows, lifecycleSeries } from './lifecycle';

const result = {
  labels: ['2024-03-01', '2024-03-02'],
  new: [2, 0],
  returning: [0, 3],
  resurrecting: [1, 1],
  dormant: [0, -2],
};

describe('lifecycle chart and table', () => {
  it('stacks new, resurrecting and returning above zero and dormant below it', () => {
    // Each bar is drawn up to its value and those of the same sign listed after it: returning
    // (last) nearest to zero, new on top; dormant alone below zero; a zero draws nothing.
    expect(stackedValues(lifecycleSeries(result))).toEqual([
      [3, 0],
      [1, 4],
      [0, 3],
      [0, -2],
    ]);
  });

  it('lists one row per interval with the four counts as answered', () => {
    expect(lifecycleRows(result)).toEqual([
      ['2024-03-01', 2, 0, 1, 0],
      ['2024-03-02', 0, 3, 1, -2],
    ]);
  });
});
