// The Sankey chart of a flow, drawn by Apache ECharts (Sankey series, canvas renderer). Loaded on
// demand by the Flows screen and boards, so it is not part of the first load. ECharts' tooltip
// writes inline styles (refused by the page's CSP), so it is off: the table beside the chart has
// every number.
import { SankeyChart } from 'echarts/charts';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([SankeyChart, CanvasRenderer]);

export interface SankeyNode {
  id: string;
  label: string;
  depth: number;
  dropoff: boolean;
}

export interface SankeyLink {
  source: string;
  target: string;
  value: number;
}

const COLOURS = ['#2563eb', '#d9480f', '#2b8a3e', '#9c36b5', '#0b7285', '#c2255c', '#5c940d'];

/** Draws the flow into `el`; returns a function that resizes it and one that removes it. */
export function drawSankey(
  el: HTMLElement,
  nodes: SankeyNode[],
  links: SankeyLink[],
): { resize: () => void; dispose: () => void } {
  const chart = echarts.init(el, undefined, { renderer: 'canvas' });
  const colourOf = new Map<string, string>();
  chart.setOption({
    animation: false,
    series: [
      {
        type: 'sankey',
        left: 8,
        right: 120,
        top: 8,
        bottom: 8,
        nodeGap: 10,
        layoutIterations: 32,
        emphasis: { focus: 'adjacency' },
        data: nodes.map((n) => {
          const colour = n.dropoff
            ? '#adb5bd'
            : (colourOf.get(n.label) ??
              (colourOf.set(n.label, COLOURS[colourOf.size % COLOURS.length] ?? '#2563eb'),
              colourOf.get(n.label)));
          return {
            name: n.id,
            depth: n.depth,
            itemStyle: { color: colour },
            label: { formatter: () => n.label },
          };
        }),
        links: links.map((l) => ({ source: l.source, target: l.target, value: l.value })),
        lineStyle: { color: 'source', opacity: 0.35, curveness: 0.5 },
        label: { fontSize: 12, color: '#1a1a1a' },
      },
    ],
  });
  return { resize: () => chart.resize(), dispose: () => chart.dispose() };
}
