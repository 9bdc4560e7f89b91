// calibration.js: a calibration (`watchtower calibrate`) in the Experiments view, as the
// server serves it (GET /api/experiments/{id}/calibration, computed by the experiment
// crate): while it runs, its evaluations and simulations against the budget, the least
// loss so far and the point that has it; once finished, the estimates with their 90%
// intervals and standard errors, the moment fit (target, model, se, t), the J test and
// every warning — the numbers `watchtower calibrate --json` prints. Each number says what
// it is (the server's `meaning`, shown as the table's notes and as tooltips). No
// statistics are computed here.

import { h } from './dom.js';
import { count, percent } from './format.js';
import { labelOf } from './controls.js';

/** A number as the server gave it, to `digits` significant digits ('–' for null). */
function num(x, digits = 5) {
  if (x == null || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e6 || a < 1e-4)) return x.toExponential(digits - 1);
  return String(Number(x.toPrecision(digits)));
}

export class Calibration {
  /** Draws into `el`. */
  constructor(el) {
    this.el = el;
    this.answer = null;
  }

  /** Shows why there is nothing to show. */
  refuse(message) {
    this.answer = null;
    this.el.replaceChildren(h('p', { class: 'empty', 'data-testid': 'cal-refused', text: message }));
  }

  /** Shows a served answer. */
  set(a) {
    this.answer = a;
    const m = a.meaning ?? {};
    const share = a.budget ? a.simulations / a.budget : 0;
    const progress = h('div', { class: 'exp-progress' },
      h('progress', { 'data-testid': 'cal-progress', max: Math.max(1, a.budget), value: a.simulations }),
      h('span', { class: 'exp-progress-text', 'data-testid': 'cal-progress-text',
        text: `${count(a.evaluations)} evaluations · ${count(a.simulations)} of ${count(a.budget)} simulations (${percent(share, 0)}) · ${a.status}` }));
    const best = h('dl', { class: 'exp-spec', 'data-testid': 'cal-best' },
      h('dt', { title: m.loss, text: 'Least loss so far' }),
      h('dd', { 'data-testid': 'cal-best-loss', title: m.loss, text: a.best_loss == null ? 'none yet (the first losses come after the target and the covariance runs)' : `${num(a.best_loss)} (evaluation #${a.best_evaluation}; g′Wg, dimensionless, lower fits better)` }),
      ...a.free.flatMap((f) => [
        h('dt', { title: f.key, text: labelOf(f.key) }),
        h('dd', { 'data-testid': 'cal-best-value', 'data-parameter': f.key, title: m.best,
          text: `${a.best?.[f.key] == null ? '–' : num(a.best[f.key])} at the least loss so far (bounds ${num(f.min)} to ${num(f.max)}${f.log ? ', searched on a log scale' : ''})` }),
      ]));
    const parts = [progress,
      h('p', { class: 'card-sub', text: `${a.free.length} free parameter${a.free.length === 1 ? '' : 's'}, ${a.moments.length} moments, ${a.ensemble} seeds a point (common random numbers), ${a.weighting} weighting` }),
      best];
    if (a.result) parts.push(...this.result(a.result, m));
    else if (a.result_note) parts.push(h('p', { class: 'empty', 'data-testid': 'cal-note', text: a.result_note }));
    else if (a.status === 'running') parts.push(h('p', { class: 'empty', 'data-testid': 'cal-waiting', text: 'The estimates, their intervals and the moment fit come when the calibration finishes; read from the store every second.' }));
    else parts.push(h('p', { class: 'empty', 'data-testid': 'cal-note', text: `The calibration is ${a.status}: continue it with watchtower calibrate --resume ${a.id}.` }));
    this.el.replaceChildren(...parts.filter(Boolean));
  }

  /** The finished calibration's estimates, moment fit, J test and warnings. */
  result(r, m) {
    const level = Math.round((r.interval_level ?? 0.9) * 100);
    const estimates = h('table', { class: 'exp-table', 'data-testid': 'cal-estimates' },
      h('thead', {}, h('tr', {}, h('th', { text: 'Parameter' }), h('th', { title: m.estimates, text: 'Estimate' }),
        h('th', { title: m.std_errors, text: 'Std. error' }), h('th', { title: m.intervals, text: `${level}% interval` }))),
      h('tbody', {}, ...Object.keys(r.estimates).map((k) => h('tr', { 'data-parameter': k },
        h('td', { title: k, text: labelOf(k) }),
        h('td', { class: 'num', 'data-testid': 'cal-estimate', text: num(r.estimates[k]) }),
        h('td', { class: 'num', 'data-testid': 'cal-se', text: r.std_errors[k] == null ? 'not identified' : num(r.std_errors[k]) }),
        h('td', { class: 'num', 'data-testid': 'cal-interval', text: `[${num(r.intervals[k][0])}, ${num(r.intervals[k][1])}]` })))));
    const moments = h('table', { class: 'exp-table', 'data-testid': 'cal-moments' },
      h('thead', {}, h('tr', {}, h('th', { text: 'Moment' }), h('th', { title: m.target, text: 'Target' }),
        h('th', { title: m.model, text: 'Model' }), h('th', { title: m.se, text: 'se' }), h('th', { title: m.t, text: 't' }))),
      h('tbody', {}, ...r.moments.map((x) => h('tr', { 'data-testid': 'cal-moment', 'data-moment': x.name, class: x.t != null && Math.abs(x.t) > 2 ? 'cal-miss' : null },
        h('td', { text: x.name }), h('td', { class: 'num', text: num(x.target) }), h('td', { class: 'num', text: num(x.model) }),
        h('td', { class: 'num', text: num(x.se) }), h('td', { class: 'num', text: x.t == null ? '–' : x.t.toFixed(2) })))));
    const j = r.j_test
      ? `J test of the over-identifying restrictions: J = ${num(r.j_test.statistic, 4)} on ${r.j_test.df} degrees of freedom, p = ${num(r.j_test.p_value, 3)} (a small p: the moments cannot all be matched at once)`
      : 'J test: none (as many moments as free parameters)';
    return [
      h('h4', { text: 'Estimates' }), estimates,
      h('p', { class: 'card-sub', text: `${m.std_errors}. ${m.intervals}.` }),
      h('h4', { text: 'Moment fit' }), moments,
      h('p', { class: 'card-sub', text: `target: ${m.target}; model: ${m.model}; se: ${m.se}; t: ${m.t}. Moments are in their indicator's units (fractions a tick, or a period of the data).` }),
      h('p', { 'data-testid': 'cal-j', text: j }),
      h('p', { class: 'card-sub', 'data-testid': 'cal-summary', text: `${count(r.simulations)} simulations, ${count(r.evaluations)} evaluations, loss at the estimate ${num(r.loss)}; ${r.method}` }),
      r.warnings.length ? h('ul', { class: 'sens-notes cal-warnings', 'data-testid': 'cal-warnings' }, ...r.warnings.map((w) => h('li', { text: w }))) : null,
    ];
  }
}
