// Unit tests of the funnel body the screen sends: options left out until they are complete, and
// exclusions kept between steps of the funnel as it is now.
import { describe, expect, it } from 'vitest';
import { buildFunnelQuery, type FunnelState } from './funnels';

const base: FunnelState = {
  steps: ['Opened', 'Carted', 'Paid'],
  window: 86_400,
  range: { preset: 'custom', from: '2026-01-01', to: '2026-01-07' },
  filters: { match: 'all', items: [] },
  order: 'strict',
  exclusions: [],
  hold: [],
  breakdown: '',
  overTime: '',
};

describe('buildFunnelQuery', () => {
  it('sends only the steps, window and range when no option is set', () => {
    expect(buildFunnelQuery(base)).toEqual({
      kind: 'funnel',
      from: '2026-01-01',
      to: '2026-01-07',
      steps: [{ event: 'Opened' }, { event: 'Carted' }, { event: 'Paid' }],
      window_seconds: 86_400,
    });
  });

  it('needs two chosen steps', () => {
    expect(buildFunnelQuery({ ...base, steps: ['Opened', ''] })).toBeNull();
  });

  it('sends every option in the API’s shape', () => {
    const q = buildFunnelQuery({
      ...base,
      order: 'any',
      exclusions: [{ event: 'Cancelled', after: 1, before: 2 }],
      hold: ['platform', 'plan'],
      breakdown: 'source',
      overTime: 'week',
    });
    expect(q).toMatchObject({
      order: 'any',
      exclusions: [{ event: 'Cancelled', after_step: 1, before_step: 2 }],
      hold_constant: ['platform', 'plan'],
      breakdown: 'source',
      conversion_over_time: 'week',
    });
  });

  it('sends a list of properties, or cohorts, as the breakdown', () => {
    const by = (breakdown: FunnelState['breakdown']) =>
      buildFunnelQuery({ ...base, breakdown })?.breakdown;
    expect(by({ by: 'properties', properties: ['source', 'person.plan'] })).toEqual([
      'source',
      'person.plan',
    ]);
    expect(by({ by: 'cohorts', cohorts: ['c1', 'c2'], properties: [] })).toEqual({
      cohort: ['c1', 'c2'],
    });
    expect(by({ by: 'cohorts', cohorts: [], properties: [] })).toBeUndefined();
  });

  it('leaves out half-made options and repeats', () => {
    const q = buildFunnelQuery({
      ...base,
      exclusions: [{ event: '', after: 0, before: 1 }],
      hold: ['', 'platform', 'platform'],
    });
    expect(q?.exclusions).toBeUndefined();
    expect(q?.hold_constant).toEqual(['platform']);
  });

  it('keeps an exclusion inside the funnel when steps are removed', () => {
    const q = buildFunnelQuery({
      ...base,
      steps: ['Opened', 'Carted'],
      exclusions: [{ event: 'Cancelled', after: 1, before: 2 }],
    });
    expect(q?.exclusions).toEqual([{ event: 'Cancelled', after_step: 0, before_step: 1 }]);
  });
});
