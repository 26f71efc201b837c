// Breakdowns as edited, sent and named: the state kept in the address (and the single name kept
// by earlier versions), the API body, and the names of the answer's rows.
import { describe, expect, it } from 'vitest';
import {
  breakdownBody,
  breakdownStateOf,
  breakdownTitle,
  chooseBreakdown,
  COHORTS_CHOICE,
  NO_BREAKDOWN,
  segmentNamer,
} from './breakdown';

describe('breakdownStateOf', () => {
  it('reads the single name of earlier versions, and the state now', () => {
    expect(breakdownStateOf('')).toEqual(NO_BREAKDOWN);
    expect(breakdownStateOf(undefined)).toEqual(NO_BREAKDOWN);
    expect(breakdownStateOf('source')).toEqual({ by: 'properties', properties: ['source'] });
    // Kept before cohorts could be combined with properties: none.
    expect(breakdownStateOf({ by: 'cohorts', cohorts: ['c1', 2] })).toEqual({
      by: 'cohorts',
      cohorts: ['c1'],
      properties: [],
    });
    expect(breakdownStateOf({ by: 'properties', properties: ['a', 'b', 'c', 'd'] })).toEqual({
      by: 'properties',
      properties: ['a', 'b', 'c'],
    });
    expect(breakdownStateOf({ by: 'nonsense' })).toEqual(NO_BREAKDOWN);
  });
});

describe('chooseBreakdown', () => {
  it('starts, extends, switches and clears a breakdown as the picker’s rows are set', () => {
    const one = chooseBreakdown(NO_BREAKDOWN, 0, 'platform');
    expect(one).toEqual({ by: 'properties', properties: ['platform'] });
    const two = chooseBreakdown({ by: 'properties', properties: ['platform', ''] }, 1, 'person.');
    expect(two).toEqual({ by: 'properties', properties: ['platform', 'person.'] });
    expect(chooseBreakdown(two, 1, 'person.plan')).toEqual({
      by: 'properties',
      properties: ['platform', 'person.plan'],
    });
    // The second row unchosen keeps the first; "No breakdown" on the first clears them all.
    expect(chooseBreakdown(two, 1, '')).toEqual({ by: 'properties', properties: ['platform', ''] });
    expect(chooseBreakdown(two, 0, '')).toEqual(NO_BREAKDOWN);
    const cohorts = chooseBreakdown(two, 0, COHORTS_CHOICE);
    expect(cohorts).toEqual({ by: 'cohorts', cohorts: [], properties: [] });
    expect(
      chooseBreakdown({ by: 'cohorts', cohorts: ['c1'], properties: [] }, 0, 'source'),
    ).toEqual({
      by: 'properties',
      properties: ['source'],
    });
  });
});

describe('breakdownBody', () => {
  it('sends one property as its name and several as a list, leaving out half-chosen ones', () => {
    expect(breakdownBody(NO_BREAKDOWN)).toBeUndefined();
    expect(breakdownBody('source')).toBe('source');
    expect(breakdownBody({ by: 'properties', properties: ['source', ''] })).toBe('source');
    expect(breakdownBody({ by: 'properties', properties: ['source', 'person.'] })).toBe('source');
    expect(
      breakdownBody({ by: 'properties', properties: ['source', 'person.plan', 'source'] }),
    ).toEqual(['source', 'person.plan']);
    expect(breakdownBody({ by: 'properties', properties: ['', 'person.'] })).toBeUndefined();
  });

  it('sends one cohort as its id and several as a list; none chosen is no breakdown', () => {
    expect(breakdownBody({ by: 'cohorts', cohorts: [], properties: [] })).toBeUndefined();
    expect(breakdownBody({ by: 'cohorts', cohorts: ['c1'], properties: [] })).toEqual({
      cohort: 'c1',
    });
    expect(breakdownBody({ by: 'cohorts', cohorts: ['c1', 'c2', 'c1'], properties: [] })).toEqual({
      cohort: ['c1', 'c2'],
    });
  });
});

describe('cohorts with properties', () => {
  it('sets the rows after the cohorts as properties, and keeps them when the first row changes', () => {
    const picked = { by: 'cohorts' as const, cohorts: ['c1'], properties: ['person.plan'] };
    expect(chooseBreakdown(picked, 1, 'platform')).toEqual({
      by: 'cohorts',
      cohorts: ['c1'],
      properties: ['platform'],
    });
    expect(chooseBreakdown(picked, 0, COHORTS_CHOICE)).toBe(picked);
    expect(chooseBreakdown(picked, 0, 'source')).toEqual({
      by: 'properties',
      properties: ['source', 'person.plan'],
    });
    expect(
      breakdownStateOf({ by: 'cohorts', cohorts: ['c1'], properties: ['a', 'b', 'c'] }),
    ).toEqual({ by: 'cohorts', cohorts: ['c1'], properties: ['a', 'b'] });
  });

  it('sends the cohorts first in a list with the properties chosen, and names each entry', () => {
    expect(breakdownBody({ by: 'cohorts', cohorts: ['c1'], properties: ['source', ''] })).toEqual([
      { cohort: 'c1' },
      'source',
    ]);
    expect(
      breakdownBody({
        by: 'cohorts',
        cohorts: ['c1', 'c2'],
        properties: ['source', 'person.plan'],
      }),
    ).toEqual([{ cohort: ['c1', 'c2'] }, 'source', 'person.plan']);
    expect(breakdownBody({ by: 'cohorts', cohorts: [], properties: ['source'] })).toBeUndefined();
    const b = [{ cohort: ['c1', 'c2'] }, 'source'];
    expect(breakdownTitle(b)).toBe('cohort / source');
    const name = segmentNamer(b, [{ id: 'c1', name: 'Buyers' }]);
    expect(name('value', ['c1', 'ads'])).toBe('Buyers / ads');
    expect(name('value', ['c2', null])).toBe('c2 / (not set)');
    expect(name('value', [null, 'ads'])).toBe('In none of these cohorts / ads');
    expect(name('not_set', null)).toBe('(not set)');
  });
});

describe('breakdownTitle', () => {
  it('names what rows are split by', () => {
    expect(breakdownTitle('source')).toBe('source');
    expect(breakdownTitle(['source', 'person.plan'])).toBe('source / person.plan');
    expect(breakdownTitle({ cohort: ['c1'] })).toBe('cohort');
    expect(breakdownTitle(undefined)).toBe('breakdown value');
  });
});

describe('segmentNamer', () => {
  it('joins a list’s values, naming the missing ones', () => {
    const name = segmentNamer(['source', 'person.plan']);
    expect(name('value', ['ads', 'gold'])).toBe('ads / gold');
    expect(name('value', ['ads', null])).toBe('ads / (not set)');
    expect(name('other', null)).toBe('Other values');
    expect(name('not_set', null)).toBe('(not set)');
  });

  it('names cohorts by name (by id once deleted), and the users in none of them', () => {
    const name = segmentNamer({ cohort: ['c1', 'c2'] }, [{ id: 'c1', name: 'Buyers' }]);
    expect(name('value', 'c1')).toBe('Buyers');
    expect(name('value', 'c2')).toBe('c2');
    expect(name('not_set', null)).toBe('In none of these cohorts');
  });

  it('keeps a single property’s text as it is', () => {
    const name = segmentNamer('source');
    expect(name('value', 'ads')).toBe('ads');
    expect(name('value', 'c1')).toBe('c1');
  });
});
