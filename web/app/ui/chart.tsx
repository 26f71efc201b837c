// Charts drawn by uPlot (line or bars) over categorical x labels, sized to their container. The
// chart is an image for assistive technology; every screen shows the same numbers in a table.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export const PALETTE = [
  '#2563eb',
  '#d9480f',
  '#2b8a3e',
  '#9c36b5',
  '#e8590c',
  '#0b7285',
  '#c2255c',
  '#5c940d',
  '#364fc7',
  '#862e9c',
];

const INTEGER_INCRS = [1, 2, 5]
  .flatMap((m) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8].map((p) => m * p))
  .sort((a, b) => a - b);

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  /** Drawn dashed (a previous period beside the current one). */
  dashed?: boolean;
  /** Read against a second axis on the right (a formula, whose unit is its own). */
  secondAxis?: boolean;
  /** Palette entry (defaults to the series' position): a previous period keeps its series'. */
  colour?: number;
  /** A line drawn across missing values (a rate where nobody entered) instead of broken. */
  spanGaps?: boolean;
}

export function Chart(props: {
  kind: 'line' | 'bar';
  labels: string[];
  series: ChartSeries[];
  title: string;
  height?: number;
  /**
   * Bars stacked: positive values upwards and negative ones downwards from zero, the last
   * series of each sign nearest to it; the legend reads each series' own value.
   */
  stacked?: boolean;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const { labels, series, kind } = props;
    const n = Math.max(series.length, 1);
    const integers = series.every((s) => s.values.every((v) => v === null || Number.isInteger(v)));
    // Two series stand side by side; more are nested, widest first, so each stays visible.
    const stacked = props.stacked === true && kind === 'bar';
    const bars = (i: number): uPlot.Series.PathBuilder | undefined =>
      stacked
        ? uPlot.paths.bars?.({ size: [0.6, 80] })
        : n === 2
          ? uPlot.paths.bars?.({ size: [0.4, 60], align: i === 0 ? -1 : 1 })
          : uPlot.paths.bars?.({ size: [(0.8 * (n - i)) / n, 80] });
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 280),
      height: props.height ?? 300,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: false, range: (_u, min, max) => [min - 0.5, max + 0.5] },
        // Counts and sums read from zero.
        y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.08 : 1] },
        y2: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.08 : 1] },
      },
      axes: [
        {
          // One tick per label while they fit, else every k-th label.
          splits: (u) => {
            const fit = Math.max(1, Math.floor(u.bbox.width / devicePixelRatio / 90));
            const step = Math.ceil(labels.length / fit);
            return labels.map((_, i) => i).filter((i) => i % step === 0);
          },
          values: (_u, ticks) => ticks.map((t) => labels[t] ?? ''),
        },
        {
          size: 60,
          // Counts get whole-number ticks.
          ...(integers ? { incrs: INTEGER_INCRS } : {}),
        },
        ...(series.some((s) => s.secondAxis)
          ? [{ scale: 'y2', side: 1, size: 60, grid: { show: false } } as uPlot.Axis]
          : []),
      ],
      series: [
        { label: 'Interval', value: (_u, v) => (v === null ? '' : (labels[Math.round(v)] ?? '')) },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: PALETTE[(s.colour ?? i) % PALETTE.length],
          scale: s.secondAxis ? 'y2' : 'y',
          fill:
            kind === 'bar'
              ? // Stacked bars are opaque: each is painted over the taller ones below it.
                `${PALETTE[(s.colour ?? i) % PALETTE.length]}${s.dashed ? '66' : stacked ? '' : 'cc'}`
              : undefined,
          width: kind === 'bar' ? 0 : 2,
          ...(s.dashed && kind === 'line' ? { dash: [6, 4] } : {}),
          points: { show: kind === 'line' && labels.length <= 60 },
          ...(s.spanGaps ? { spanGaps: true } : {}),
          paths: kind === 'bar' ? bars(i) : undefined,
          ...(stacked
            ? {
                value: (_u: uPlot, _v: number | null, _s: number, at: number | null) =>
                  at === null ? '' : String(s.values[at] ?? ''),
              }
            : {}),
        })),
      ],
    };
    const data: uPlot.AlignedData = [
      labels.map((_, i) => i),
      ...(stacked ? stackedValues(series) : series.map((s) => s.values)),
    ];
    const plot = new uPlot(opts, data, el);
    const resize = new ResizeObserver(() => {
      plot.setSize({ width: Math.max(el.clientWidth, 280), height: props.height ?? 300 });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [props.kind, props.labels, props.series, props.height]);
  return <div class="chart" ref={box} role="img" aria-label={props.title} />;
}

/**
 * The heights stacked bars are drawn at: each value plus the values of the same sign of the
 * series listed after it. uPlot paints later series over earlier ones, so each shows its own
 * part and the last series of each sign sits nearest to zero.
 */
export function stackedValues(series: readonly ChartSeries[]): (number | null)[][] {
  return series.map((s, i) =>
    s.values.map((v, at) => {
      if (v === null) return null;
      const sign = Math.sign(v);
      let sum = 0;
      for (const other of series.slice(i)) {
        const w = other.values[at] ?? 0;
        if (Math.sign(w) === sign) sum += w;
      }
      return sum;
    }),
  );
}
