// whatif.js: the "What if…" action of the policy panel.
//
// "What if…" starts a draft: from then on the sliders hold their changes for a branch
// instead of sending them (controls.js), and the steered run is left as it is. "Start
// branch" sends the drafted changes, with an optional name, to
// POST /api/runs/{run}/fork (with the token); the server copies the run before its next
// tick, applies the changes to the copy and runs both in lockstep. The sliders go back to
// the run's own values, and the new branch appears in the run bar and on every chart.
// The server's refusal (a value out of range, four branches already live) is shown in
// its words. Only a page with the token shows the action.
//
// "Forecast the effect" sends the same drafted changes to POST /api/runs/{run}/forecast
// instead (forecast.js follows and draws it): many futures of the run's state, each
// without and with the changes, in the background. The draft stays open, so the single
// live branch can still be started from it.

import { getJSON } from './api.js';
import { setText } from './dom.js';
import { describeChanges } from './branches.js';
import { state } from './state.js';

export class WhatIf {
  /**
   * `els`: {box, start, form, text, name, go, cancel, message}; `controls`: the Controls;
   * `onForked(answer)`: the server's 201 answer. The token and the run a branch would
   * copy (the steered one) are the page state's.
   */
  constructor(els, { controls, onForked, forecast }) {
    this.els = els;
    this.controls = controls;
    this.onForked = onForked;
    this.forecaster = forecast;
    this.busy = false;
    els.start.addEventListener('click', () => this.open());
    els.forecast.addEventListener('click', () => this.forecast());
    els.cancel.addEventListener('click', () => this.close());
    els.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.fork();
    });
  }

  /** Shown only when the page may steer (token, online). */
  setAvailable(writable) {
    this.els.box.hidden = !writable;
    if (!writable && this.controls.drafting) this.close();
  }

  open() {
    this.controls.startDraft();
    this.els.start.hidden = true;
    this.els.form.hidden = false;
    setText(this.els.message, '');
    this.els.message.className = 'whatif-message';
    this.update();
    this.els.name.focus();
  }

  close() {
    this.controls.endDraft();
    this.els.form.hidden = true;
    this.els.start.hidden = false;
  }

  /** {id, label} of the run a branch would copy: the steered run (the main run by default). */
  parent() {
    const id = state.steer ?? state.mainRun;
    return { id, label: state.runs.label(id) };
  }

  /** The drafted changes moved: say what the branch would be. */
  update() {
    if (!this.controls.drafting) return;
    const set = this.controls.drafts();
    const { id, label } = this.parent();
    const n = Object.keys(set).length;
    setText(this.els.text, n
      ? `A branch of run #${id} (${label}) with ${describeChanges(set)}. Run #${id} itself is not changed.`
      : `Move the sliders below to choose a branch's changes; run #${id} (${label}) is not changed. With no change the branch stays identical to it.`);
    setText(this.els.go, n ? `Start branch (${n} change${n === 1 ? '' : 's'})` : 'Start branch');
    this.els.go.disabled = this.busy;
  }

  async forecast() {
    const set = this.controls.drafts();
    const { id } = this.parent();
    const seeds = Number(this.els.seeds.value);
    const ticks = Number(this.els.ticks.value);
    this.els.forecast.disabled = true;
    this.els.message.className = 'whatif-message pending';
    setText(this.els.message, `Starting a forecast of ${seeds} pairs of ${ticks} ticks…`);
    const refusal = await this.forecaster.start(id, set, seeds, ticks, state.token);
    this.els.forecast.disabled = false;
    if (refusal) {
      this.els.message.className = 'whatif-message error';
      setText(this.els.message, `No forecast: ${refusal}`);
      return;
    }
    this.els.message.className = 'whatif-message';
    setText(this.els.message, 'Forecast started: it runs in the background, under the charts. The draft stays open for a branch.');
  }

  async fork() {
    if (this.busy) return;
    const set = this.controls.drafts();
    const name = this.els.name.value.trim();
    const { id } = this.parent();
    this.busy = true;
    this.els.go.disabled = true;
    this.els.message.className = 'whatif-message pending';
    setText(this.els.message, 'Starting the branch…');
    let answer;
    try {
      answer = await getJSON(`/api/runs/${id}/fork`, { method: 'POST', token: state.token, body: name ? { set, name } : { set }, timeout: 35_000 });
    } catch {
      answer = { status: 0, body: { error: 'no answer from the server' } };
    }
    this.busy = false;
    if (answer.status === 201 && answer.body) {
      this.els.name.value = '';
      this.close();
      this.onForked(answer.body);
      return;
    }
    this.els.go.disabled = false;
    this.els.message.className = 'whatif-message error';
    setText(this.els.message, `Not started: ${(answer.body?.error ?? `the server answered ${answer.status}`).replace(/`/g, '')}`);
  }
}
