// forecast.js: the effect forecast of a drafted what-if, under the macro charts.
//
// "Forecast the effect" (whatif.js) sends the drafted changes to
// POST /api/runs/{run}/forecast: the server copies the run's state and, in the
// background, runs that many pairs of futures re-seeded alike, without and with the
// change. This panel follows GET /api/forecasts/{id} (progress, then the result) and
// shows what the server computed, as it is: the effect table (indicator, effect, 95%
// interval, unit, baseline level) and, per chart, the effect tick by tick as a fan (mean
// and 95% band, drawn by fan.js) from the fork tick on. The page computes no statistic.

import { getJSON } from './api.js';
import { h, setText } from './dom.js';
import { FanChart } from './fan.js';
import { CHARTS } from './charts.js';
import { count } from './format.js';

const POLL_MS = 500;

/** An effect for people: four significant figures, signed. */
function signed(x) {
  if (x == null || Number.isNaN(x)) return '–';
  if (x === 0) return '0';
  const text = Math.abs(x) >= 1000
    ? Math.round(x).toLocaleString('en-US')
    : x.toPrecision(4).replace(/\.?0+$/, (m) => (m.includes('.') ? '' : m));
  return x > 0 ? `+${text}` : text;
}

function level(x) {
  if (x == null || Number.isNaN(x)) return '–';
  return Math.abs(x) >= 1000 ? Math.round(x).toLocaleString('en-US') : x.toPrecision(4);
}

export class Forecast {
  /** `els`: {box, status, table, fans}. */
  constructor(els) {
    this.els = els;
    this.id = null;
    this.timer = null;
    this.fans = [];
  }

  /** Whether a forecast of this page is still running. */
  get running() {
    return this.timer != null;
  }

  /**
   * Asks for a forecast of `set` from run `run` (`seeds` pairs of `ticks` ticks).
   * Resolves to null once started, or to the server's refusal in words.
   */
  async start(run, set, seeds, ticks, token) {
    let answer;
    try {
      answer = await getJSON(`/api/runs/${run}/forecast`, { method: 'POST', token, body: { set, seeds, ticks }, timeout: 35_000 });
    } catch {
      return 'no answer from the server';
    }
    if (answer.status !== 202 || !answer.body) {
      return (answer.body?.error ?? `the server answered ${answer.status}`).replace(/`/g, '');
    }
    this.follow(answer.body);
    return null;
  }

  follow(status) {
    this.id = status.id;
    this.els.box.hidden = false;
    this.els.box.dataset.state = status.state;
    this.clear();
    this.progress(status);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.poll(), POLL_MS);
  }

  async poll() {
    const id = this.id;
    let answer;
    try {
      answer = await getJSON(`/api/forecasts/${id}`);
    } catch {
      answer = { status: 0 };
    }
    if (id !== this.id) return;
    const status = answer.body;
    if (answer.status !== 200 || !status) {
      this.timer = null;
      setText(this.els.status, `Forecast ${id}: the server no longer has it (${answer.status || 'no answer'}).`);
      return;
    }
    this.els.box.dataset.state = status.state;
    if (status.state === 'running') {
      this.progress(status);
      this.timer = setTimeout(() => this.poll(), POLL_MS);
      return;
    }
    this.timer = null;
    if (status.state === 'failed') {
      setText(this.els.status, `Forecast ${id} failed after ${(status.elapsed_ms / 1000).toFixed(1)} s: ${status.error}`);
      return;
    }
    this.render(status);
  }

  describe(status) {
    const changes = Object.entries(status.changes).map(([k, v]) => `${k} = ${v}`).join(', ') || 'no change';
    return `run #${status.run} from tick ${count(status.fork_tick)}, ${count(status.ticks)} ticks, ${status.seeds} pairs of futures (common random numbers); change: ${changes}`;
  }

  progress(status) {
    setText(this.els.status, `Forecasting ${this.describe(status)} · ${status.pairs_done} of ${status.seeds} pairs done · ${(status.elapsed_ms / 1000).toFixed(1)} s`);
  }

  clear() {
    for (const fan of this.fans) fan.destroy();
    this.fans = [];
    this.els.table.replaceChildren();
    this.els.fans.replaceChildren();
  }

  /** Draws a finished forecast: the table, then a fan per chart's indicator. */
  render(status) {
    const f = status.forecast;
    setText(this.els.status, `Effect of the change: ${this.describe(status)} · ${(status.elapsed_ms / 1000).toFixed(1)} s. Effect = branch − baseline averaged over the ticks, mean across the pairs, with its 95% interval (Student's t).`);
    this.clear();
    const head = h('tr', {}, ...['Indicator', 'Effect', '95% interval', 'Unit', 'Baseline level'].map((t) => h('th', { text: t })));
    const rows = f.effects.map((e) => h('tr', { 'data-indicator': e.indicator },
      h('td', { text: e.label }),
      h('td', { class: 'num', 'data-testid': `effect-${e.indicator}`, text: signed(e.effect) }),
      h('td', { class: 'num', text: `[${signed(e.lo)}, ${signed(e.hi)}]` }),
      h('td', { text: e.unit }),
      h('td', { class: 'num', text: `${level(e.baseline)} ${e.level_unit}` })));
    this.els.table.append(h('table', { class: 'exp-table forecast-table', 'data-testid': 'forecast-table' }, h('thead', {}, head), h('tbody', {}, ...rows)));
    const bands = new Map(f.bands.map((b) => [b.indicator, b]));
    const labels = new Map(f.effects.map((e) => [e.indicator, e.label]));
    for (const chart of CHARTS) {
      for (const series of chart.series) {
        const band = bands.get(series.field);
        if (!band) continue;
        const box = h('div', { class: 'forecast-fan-plot' });
        this.els.fans.append(h('div', { class: 'forecast-fan', 'data-testid': `forecast-fan-${band.indicator}` },
          h('h4', { text: `${labels.get(band.indicator)} · ${chart.title}` }),
          h('p', { class: 'card-sub', text: `effect in ${band.unit}; dotted line: the fork, tick ${count(f.fork_tick)}` }),
          box));
        const fan = new FanChart(box, { height: 150 });
        fan.set({
          fork_tick: f.fork_tick,
          arms: [{ arm: 'effect', runs: f.seeds.length, points: band.points }],
        });
        this.fans.push(fan);
      }
    }
  }
}
