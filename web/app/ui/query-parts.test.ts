// Filters are edited as text and typed for their operator only when sent.
import { describe, expect, it } from 'vitest';
import { completeFilters, withValueText } from './query-parts';

describe('completeFilters', () => {
  it('types numbers and lists, and keeps text as typed', () => {
    expect(
      completeFilters([
        withValueText({ property: 'price', op: 'gte', value: '' }, '12.5'),
        withValueText({ property: '$browser', op: 'in', value: '' }, 'Chrome, Firefox,'),
        withValueText({ property: 'plan', op: 'eq', value: '' }, 'free, paid'),
        { property: 'coupon', op: 'is_set' },
      ]),
    ).toEqual([
      { property: 'price', op: 'gte', value: 12.5 },
      { property: '$browser', op: 'in', value: ['Chrome', 'Firefox'] },
      { property: 'plan', op: 'eq', value: 'free, paid' },
      { property: 'coupon', op: 'is_set' },
    ]);
  });

  it('leaves out what is half typed', () => {
    expect(
      completeFilters([
        { property: '', op: 'eq', value: 'x' },
        { property: 'price', op: 'gt', value: '' },
        { property: 'price', op: 'gt', value: 'abc' },
        { property: 'plan', op: 'in', value: ' , ' },
      ]),
    ).toEqual([]);
  });
});
