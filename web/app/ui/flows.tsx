// How a flows answer is shown: a Sankey of the paths (ECharts, loaded on demand) with a node per
// step for the users who stopped there, and a table with every number of the answer.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { FlowsResult } from '../api/types';
import { Empty } from './async';
import type { SankeyLink, SankeyNode } from './sankey';
import { DataTable } from './table';

const OTHER = '$other';
const label = (event: string): string => (event === OTHER ? 'Other events' : event);

/**
 * Nodes and links of the Sankey. Node ids are `<step>:<event>`; at each step after the anchor a
 * "stopped" node takes, from each node of the step before, the users it sends nowhere (its count
 * minus its outgoing links). Before the anchor the arrows run from earlier steps to later ones.
 */
export function sankeyOf(
  result: FlowsResult,
  direction: 'after' | 'before',
): { nodes: SankeyNode[]; links: SankeyLink[] } {
  const last = result.steps.length - 1;
  const depthOf = (step: number): number => (direction === 'after' ? step : last - step);
  const nodes: SankeyNode[] = [];
  const links: SankeyLink[] = [];
  const stop = direction === 'after' ? 'Stopped here' : 'No earlier event';
  for (const s of result.steps) {
    for (const n of s.nodes)
      nodes.push({
        id: `${s.step}:${n.event}`,
        label: label(n.event),
        depth: depthOf(s.step),
        dropoff: false,
      });
    if (s.step === 0) continue;
    const prev = result.steps[s.step - 1];
    const edge = (from: string, to: string, value: number): SankeyLink =>
      direction === 'after'
        ? { source: from, target: to, value }
        : { source: to, target: from, value };
    for (const l of s.links)
      links.push(edge(`${s.step - 1}:${l.from}`, `${s.step}:${l.to}`, l.count));
    let stopped = 0;
    for (const n of prev?.nodes ?? []) {
      const out = s.links.filter((l) => l.from === n.event).reduce((a, l) => a + l.count, 0);
      if (n.count - out > 0) {
        links.push(edge(`${s.step - 1}:${n.event}`, `${s.step}:$stop`, n.count - out));
        stopped += n.count - out;
      }
    }
    if (stopped > 0)
      nodes.push({ id: `${s.step}:$stop`, label: stop, depth: depthOf(s.step), dropoff: true });
  }
  return { nodes, links };
}

function Sankey(props: { result: FlowsResult; direction: 'after' | 'before'; title: string }) {
  const box = useRef<HTMLDivElement>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    let chart: { resize: () => void; dispose: () => void } | null = null;
    let gone = false;
    const resize = new ResizeObserver(() => chart?.resize());
    import('./sankey').then(
      ({ drawSankey }) => {
        if (gone) return;
        const { nodes, links } = sankeyOf(props.result, props.direction);
        chart = drawSankey(el, nodes, links);
        el.dataset.drawn = 'true';
        resize.observe(el);
      },
      () => setFailed(true),
    );
    return () => {
      gone = true;
      resize.disconnect();
      chart?.dispose();
    };
  }, [props.result, props.direction]);
  if (failed)
    return (
      <p class="notice error" role="alert">
        The chart could not be loaded; the table below has every number. Reload the page to retry.
      </p>
    );
  const depth = props.result.steps.length;
  const tallest = Math.max(...props.result.steps.map((s) => s.nodes.length + 1), 1);
  return (
    <div
      class="sankey"
      ref={box}
      role="img"
      aria-label={props.title}
      style={{
        height: `${Math.max(260, Math.min(640, tallest * 46))}px`,
        minWidth: `${depth * 90}px`,
      }}
    />
  );
}

export function FlowsView(props: {
  result: FlowsResult;
  title: string;
  direction?: 'after' | 'before';
  download?: () => Promise<void>;
}) {
  const direction = props.direction ?? 'after';
  const { steps } = props.result;
  const anchor = steps[0]?.nodes[0];
  if (!anchor || anchor.count === 0)
    return (
      <Empty title="Nobody did this event in the range">
        <p>
          Pick an event people do (the list is ordered by how often it happens), or widen the date
          range.
        </p>
      </Empty>
    );
  const rows: (string | number)[][] = [];
  for (const s of steps) {
    const where =
      s.step === 0 ? 'Anchor' : `${s.step} ${direction === 'after' ? 'after' : 'before'}`;
    for (const n of s.nodes) {
      const from =
        s.step === 0
          ? ''
          : s.links
              .filter((l) => l.to === n.event)
              .map((l) => `${label(l.from)} (${l.count})`)
              .join(', ');
      rows.push([where, label(n.event), n.count, from]);
    }
    if (s.step > 0)
      rows.push([
        where,
        direction === 'after' ? 'Stopped (no further event)' : 'No earlier event',
        s.dropoff,
        '',
      ]);
  }
  return (
    <>
      <div class="scroll-x">
        <Sankey
          result={props.result}
          direction={direction}
          title={`${props.title}: paths ${direction} ${anchor.event} (${anchor.count} users)`}
        />
      </div>
      <DataTable
        caption={`${props.title}: users at each step`}
        csvName="flows.csv"
        // Before the anchor, a step's links come from the step nearer the anchor: later in time.
        header={['Step', 'Event', 'Users', direction === 'after' ? 'Came from' : 'Followed by']}
        rows={rows}
        download={props.download}
      />
    </>
  );
}
