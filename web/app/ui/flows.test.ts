// The Sankey's nodes and links: one node per step and event, and a "stopped" node that takes what
// each node of the step before sends nowhere.
import { describe, expect, it } from 'vitest';
import type { FlowsResult } from '../api/types';
import { sankeyOf } from './flows';

const RESULT: FlowsResult = {
  steps: [
    { step: 0, nodes: [{ event: 'View', count: 6 }], links: [], dropoff: 0 },
    {
      step: 1,
      nodes: [
        { event: 'Sign up', count: 3 },
        { event: '$other', count: 1 },
      ],
      links: [
        { from: 'View', to: 'Sign up', count: 3 },
        { from: 'View', to: '$other', count: 1 },
      ],
      dropoff: 2,
    },
    {
      step: 2,
      nodes: [{ event: 'Buy', count: 2 }],
      links: [{ from: 'Sign up', to: 'Buy', count: 2 }],
      dropoff: 2,
    },
  ],
};

describe('sankeyOf', () => {
  it('links each step to the next and sends the rest to a stopped node', () => {
    const { nodes, links } = sankeyOf(RESULT, 'after');
    expect(nodes.map((n) => [n.id, n.label, n.depth, n.dropoff])).toEqual([
      ['0:View', 'View', 0, false],
      ['1:Sign up', 'Sign up', 1, false],
      ['1:$other', 'Other events', 1, false],
      ['1:$stop', 'Stopped here', 1, true],
      ['2:Buy', 'Buy', 2, false],
      ['2:$stop', 'Stopped here', 2, true],
    ]);
    expect(links).toEqual([
      { source: '0:View', target: '1:Sign up', value: 3 },
      { source: '0:View', target: '1:$other', value: 1 },
      { source: '0:View', target: '1:$stop', value: 2 },
      { source: '1:Sign up', target: '2:Buy', value: 2 },
      { source: '1:Sign up', target: '2:$stop', value: 1 },
      { source: '1:$other', target: '2:$stop', value: 1 },
    ]);
    // What stops at a step is the answer's drop-off.
    for (const s of RESULT.steps.slice(1)) {
      const stopped = links
        .filter((l) => l.target === `${s.step}:$stop`)
        .reduce((a, l) => a + l.value, 0);
      expect(stopped).toBe(s.dropoff);
    }
  });

  it('runs from earlier steps to later ones before the anchor', () => {
    const { nodes, links } = sankeyOf(RESULT, 'before');
    expect(nodes.find((n) => n.id === '0:View')?.depth).toBe(2);
    expect(nodes.find((n) => n.id === '2:Buy')?.depth).toBe(0);
    expect(links[0]).toEqual({ source: '1:Sign up', target: '0:View', value: 3 });
    expect(nodes.find((n) => n.id === '1:$stop')?.label).toBe('No earlier event');
  });
});
