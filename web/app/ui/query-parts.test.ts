// Filters are edited as text and typed for their operator only when sent.
import { describe, expect, it } from 'vitest';
import { completeFilters, filterSetOf, filterTree, withValueText } from './query-parts';

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

describe('filterTree', () => {
  const chrome = { property: '$browser', op: 'eq' as const, value: 'Chrome' };
  const paid = { property: 'person.plan', op: 'eq' as const, value: 'paid' };
  it('sends all-of entries as the list and any-of as one OR group', () => {
    expect(filterTree({ match: 'all', items: [chrome, paid] })).toEqual([chrome, paid]);
    expect(filterTree({ match: 'any', items: [chrome, paid] })).toEqual([{ any: [chrome, paid] }]);
    expect(filterTree({ match: 'any', items: [chrome] })).toEqual([chrome]);
  });

  it('nests groups, drops empty ones and unwraps a group of one', () => {
    expect(
      filterTree({
        match: 'all',
        items: [
          chrome,
          { match: 'any', filters: [paid, { property: 'price', op: 'gt', value: '10' }] },
          { match: 'all', filters: [{ property: 'person.', op: 'eq', value: 'x' }] },
          { match: 'any', filters: [paid] },
        ],
      }),
    ).toEqual([chrome, { any: [paid, { property: 'price', op: 'gt', value: 10 }] }, paid]);
  });

  it('sends cohort conditions as lists of ids, and reads old plain lists', () => {
    expect(
      filterTree({
        match: 'all',
        items: [
          { property: 'cohort', op: 'not_in', value: 'c_1' },
          { property: 'cohort', op: 'in', value: '' },
        ],
      }),
    ).toEqual([{ property: 'cohort', op: 'not_in', value: ['c_1'] }]);
    expect(filterSetOf([chrome])).toEqual({ match: 'all', items: [chrome] });
    expect(filterSetOf(null)).toEqual({ match: 'all', items: [] });
  });
});
