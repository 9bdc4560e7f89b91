// fan.js: an ensemble experiment's fan chart, drawn with uPlot: an indicator over
// ticks, the mean across the runs (seeds) and its 95% confidence band, for the baseline
// and, with a fork, the branch from its fork on (a dotted line marks the fork). The
// numbers come from GET /api/experiments/{id}/fan, the same the CLI's PNG draws. A live
// effect forecast (forecast.js) draws its per-tick effect bands with it too, as one
// `effect` arm over a dotted zero line.

import { fitWidth, h } from './dom.js';
import { axisValues, count, number } from './format.js';

const uPlot = window.uPlot;
const HEIGHT = 260;
const ARMS = {
  baseline: { color: '#2563eb', fill: 'rgba(37, 99, 235, 0.16)' },
  branch: { color: '#c2410c', fill: 'rgba(194, 65, 12, 0.16)' },
  effect: { color: '#7c3aed', fill: 'rgba(124, 58, 237, 0.18)' },
};

export class FanChart {
  constructor(container, { height = HEIGHT } = {}) {
    this.container = container;
    this.height = height;
    this.u = null;
    this.resizer = new ResizeObserver(() => fitWidth(this.u, this.container, this.height));
    this.resizer.observe(container);
  }

  destroy() {
    this.resizer.disconnect();
    this.u?.destroy();
    this.u = null;
  }

  /** Draws `fan` (the endpoint's answer). */
  set(fan) {
    this.fan = fan;
    this.u?.destroy();
    const arms = fan.arms.filter((a) => a.points.length);
    if (!arms.length) {
      this.u = null;
      this.container.replaceChildren(h('p', { class: 'empty', text: 'No traces: no run has finished yet.' }));
      return;
    }
    this.container.replaceChildren();
    const xs = [...new Set(arms.flatMap((a) => a.points.map((p) => p.tick)))].sort((a, b) => a - b);
    const data = [xs];
    const series = [{ label: 'Tick', value: (u, v) => (v == null ? '–' : count(v)) }];
    const bands = [];
    const label = (a) => (a.arm === 'baseline' && fan.fork_tick == null ? 'runs' : a.arm === 'effect' ? 'effect' : a.arm);
    const what = (a) => (a.arm === 'effect' ? 'pair' : 'run');
    for (const a of arms) {
      const at = new Map(a.points.map((p) => [p.tick, p]));
      const col = (k) => xs.map((x) => at.get(x)?.[k] ?? null);
      const { color, fill } = ARMS[a.arm] ?? ARMS.baseline;
      const first = data.length;
      data.push(col('mean'), col('hi'), col('lo'));
      series.push(
        { label: `${label(a)}: mean of ${a.runs} ${what(a)}${a.runs === 1 ? '' : 's'}`, stroke: color, width: 2, value: (u, v) => number(v), points: { show: false } },
        { label: `${label(a)}: 95% high`, stroke: fill, width: 1, value: (u, v) => number(v), points: { show: false } },
        { label: `${label(a)}: 95% low`, stroke: fill, width: 1, value: (u, v) => number(v), points: { show: false } },
      );
      bands.push({ series: [first + 1, first + 2], fill });
    }
    const forkTick = fan.fork_tick;
    const opts = {
      width: Math.max(280, Math.floor(this.container.clientWidth || 600)),
      height: this.height,
      scales: { x: { time: false } },
      legend: { live: true },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      series,
      bands,
      axes: [
        { stroke: '#5b6673', grid: { stroke: '#edf0f3' }, values: axisValues('int'), size: 30 },
        { stroke: '#5b6673', grid: { stroke: '#edf0f3' }, values: axisValues('number'), size: 60 },
      ],
      hooks: forkTick == null ? {} : {
        draw: [(u) => {
          const x = u.valToPos(forkTick, 'x', true);
          const { ctx, bbox } = u;
          ctx.save();
          ctx.strokeStyle = '#5b6673';
          ctx.setLineDash([3, 3]);
          ctx.beginPath();
          ctx.moveTo(x, bbox.top);
          ctx.lineTo(x, bbox.top + bbox.height);
          // An effect's zero: where the change would make no difference.
          if (arms.some((a) => a.arm === 'effect')) {
            const y = u.valToPos(0, 'y', true);
            if (y >= bbox.top && y <= bbox.top + bbox.height) {
              ctx.moveTo(bbox.left, y);
              ctx.lineTo(bbox.left + bbox.width, y);
            }
          }
          ctx.stroke();
          ctx.restore();
        }],
      },
    };
    // Not hovered: the legend reads the last block's numbers rather than blanks.
    const latest = (u) => { if (u.cursor.idx == null) u.setLegend({ idx: xs.length - 1 }); };
    opts.hooks.setCursor = [latest];
    opts.hooks.setSize = [latest];
    this.u = new uPlot(opts, data, this.container);
    latest(this.u);
  }
}
