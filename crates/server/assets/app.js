// app.js: the Watchtower dashboard's entry point. It wires the page together:
// the session token, the WebSocket connection, the time-series stores and charts,
// the what-if branches, the agent view, the controls, the audit log, and the
// experiments view.
//
// Data flow: telemetry frames (10 Hz, one per live run, each with its run_id) go into
// the run's SeriesStore (the main run's, the baseline, or a branch's) and the header
// figures (of the run the controls steer); charts redraw on the next animation frame.
// On (re)connection the gap since the last tick held is filled from /api/history; a new
// run (the server restarted) starts the charts afresh. A changed registry_version means
// a parameter moved: refetch that run's registry. `runs` messages say which branches
// are live. `/?run=ID` of a run that is not live shows that recorded run's charts from
// the store instead; `#experiments` shows the experiments view. From a read-only viewer
// (`watchtower view`, hello's `viewer`) nothing is live: the page says whose data it
// shows and offers the experiments and recorded runs.
//
// The page's state lives in one object, `state` (state.js), changed only by its named
// updates; this file reacts to messages by calling them and redrawing what they touch.

import { getJSON, history as fetchHistory } from './api.js';
import { AuditLog } from './audit.js';
import { RunBar, resumedText } from './branches.js';
import { Charts, CHART_FIELDS } from './charts.js';
import { Connection } from './connection.js';
import { Controls } from './controls.js';
import { Distributions } from './distributions.js';
import { byId, h, setText } from './dom.js';
import { EmbeddingMap } from './embedding.js';
import { Experiments } from './experiments.js';
import { count, money, number, paramValue, percent } from './format.js';
import { ratePeriod, shownRate, takeTicksPerYear, units } from './units.js';
import { describeRun, loadRecorded } from './recorded.js';
import { commandIds, keepToken } from './session.js';
import {
  addBranch, backfillFailed, clearBranches, dropRefused, frameArrived, framesStopped, queueRender, registryLoadEnded,
  registryLoaded, removeBranch, renderRan, setDiff, setHello, setMode, setRecorded, setSteer, setToken,
  setWindow as setChartWindow, startBackfill, startDrop, startRegistryLoad, startRun, state, takeFill,
} from './state.js';
import { CAP } from './store.js';
import { WhatIf } from './whatif.js';
import { Forecast } from './forecast.js';

const INITIAL_HISTORY = 2_000;
const GAP_HISTORY = 5_000;
const BACKFILL_PAGE = 5_000;
const AUDIT_POLL_MS = 15_000;
const MODELS = { mark0: 'Mark-0 economy', boltzmann: 'Boltzmann wealth model' };

const { prefix: idPrefix, isOwn } = commandIds();
const { store, runs } = state;

// ---- page parts -----------------------------------------------------------------------

function toast(text, kind = 'note') {
  const el = h('div', { class: `toast ${kind}`, role: 'status', text });
  byId('toasts').append(el);
  setTimeout(() => el.remove(), 6_000);
}

const charts = new Charts(byId('charts'), store);
const distributions = new Distributions(byId('distributions'));
const embedding = new EmbeddingMap({
  plot: byId('embedding-plot'), status: byId('embedding-status'), legend: byId('embedding-legend'),
  refresh: byId('embedding-refresh'), color: byId('embedding-color'),
}, toast);
const audit = new AuditLog(byId('audit'), isOwn,
  (run) => ({ label: runs.label(run), color: runs.color(run) }));
const controls = new Controls({
  panel: byId('controls'), note: byId('readonly-note'), noteText: byId('readonly-text'), tokenForm: byId('token-form'),
  steer: byId('steer'), pause: byId('btn-pause'), step: byId('btn-step'), speed: byId('speed'), simStatus: byId('sim-status'),
}, {
  send: (m) => connection.send(m),
  onSent: (c) => audit.sent({ ...c, run_id: c.run ?? state.mainRun }),
  onDraft: () => whatIf?.update(),
  idPrefix,
});
const whatIf = new WhatIf({
  box: byId('whatif'), start: byId('whatif-start'), form: byId('whatif-form'), text: byId('whatif-text'),
  name: byId('whatif-name'), go: byId('whatif-go'), cancel: byId('whatif-cancel'), message: byId('whatif-message'),
  forecast: byId('whatif-forecast'), seeds: byId('whatif-seeds'), ticks: byId('whatif-ticks'),
}, {
  controls,
  forecast: new Forecast({
    box: byId('forecast'), status: byId('forecast-status'), table: byId('forecast-table'), fans: byId('forecast-fans'),
  }),
  onForked(answer) {
    const label = answer.name || runs.label(answer.run_id);
    toast(`What if… branch #${answer.run_id} (${label}) runs from tick ${count(answer.tick)} beside run #${answer.parent}.`);
  },
});
const runBar = new RunBar({ list: byId('run-list'), diff: byId('diff-toggle'), hint: byId('run-hint') }, {
  onSelect: (id) => steerRun(id),
  onDrop: (id) => dropBranch(id),
  onDiff(on) {
    setDiff(on);
    overlay();
  },
});
const experiments = new Experiments(byId('exp-list'), byId('exp-detail'));

const KPIS = [
  ['kpi-gdp', (i) => money(i.gdp)],
  ['kpi-unemployment', (i) => percent(i.unemployment_rate, 1)],
  // The card's label says the period (% a year or a tick): the value alone fits the card.
  ['kpi-inflation', (i) => percent(shownRate(i.inflation), 2)],
  ['kpi-wage', (i) => money(i.average_wage)],
  ['kpi-gini', (i) => number(i.gini_wealth)],
  ['kpi-balance', (i) => money(i.government_balance)],
  ['kpi-debt', (i) => money(i.government_debt)],
  ['kpi-firms', (i) => count(i.active_firms)],
].map(([id, fmt]) => [byId(id), fmt]);

/** The indicators the cards last showed, to show again when the units change. */
let kpiRow = null;

function showKpis(row) {
  kpiRow = row;
  for (const [el, fmt] of KPIS) setText(el, fmt(row));
}

// ---- connection -----------------------------------------------------------------------

function readonlyReason(online) {
  if (state.viewer) return `Read-only viewer of ${state.viewer}: no economy runs here, so nothing can be steered. It shows the experiments and recorded runs as their writer commits them.`;
  if (!online) return 'Offline: changes cannot be sent until the dashboard reconnects.';
  if (!state.token) return 'Read-only: this page was opened without the access token. Open the URL that watchtower serve printed (it ends in ?token=…), or paste the token below.';
  return 'Read-only: the server did not accept this session’s token (it may have restarted with a new one). Paste the token it printed below.';
}

function updateAvailability() {
  const online = connection.state === 'online' || connection.state === 'initializing';
  controls.setAvailability({ authorized: state.authorized, online, reason: readonlyReason(online) });
  whatIf.setAvailable(state.authorized && online && state.mode === 'live');
  renderRuns();
}

const connection = new Connection({
  onState(now, detail) {
    const badge = byId('conn-status');
    setText(badge, { online: 'Online', initializing: 'Initializing', offline: 'Offline', viewer: 'Viewer' }[now]);
    badge.className = `badge conn ${now}`;
    setText(byId('conn-detail'), detail);
    document.body.dataset.connection = now;
    if (now === 'offline') controls.connectionLost();
    updateAvailability();
  },
  onHello(msg) {
    const before = state.runId;
    setHello({ authorized: !!msg.authorized, viewer: msg.viewer ?? null, main: msg.main ?? msg.run_id ?? null });
    document.body.dataset.viewer = state.viewer ? 'yes' : 'no';
    if (msg.run_id !== before) {
      if (before !== undefined && state.mode !== 'recorded') toast(`The server started a new run (#${msg.run_id}); the charts start afresh.`);
      startRun(msg.run_id);
      audit.clear();
      controls.reset();
      controls.setTarget(null, runLabel(state.mainRun), runs.color(state.mainRun));
      overlay();
      if (state.mode !== 'recorded' && !state.viewer) embedding.start();
      scheduleRender();
    }
    // Without a store (--no-store) there is no history or audit to fetch.
    setRecorded(state.runId != null);
    audit.enabled = state.recorded;
    showRunName();
    if (state.mode !== 'recorded') audit.setRuns(runs.auditRuns());
    audit.refresh();
    updateAvailability();
    setTimeout(refreshThinned, 1_000);
    // A viewer has no live run: `/?run=ID` is a recorded run, and the bare page says
    // what it is and where to look.
    if (state.viewer && state.mode === 'pending') showRecorded(state.viewRun);
    else if (state.viewer && state.mode === 'live') showViewer();
    // A server without a runs message cannot say the run is live: show it as recorded.
    if (state.mode === 'pending') setTimeout(() => { if (state.mode === 'pending') showRecorded(state.viewRun); }, 3_000);
  },
  onRuns(msg) {
    const { added, removed } = runs.update(msg);
    if (state.mode === 'pending') {
      const { viewRun } = state;
      if (viewRun === runs.main || runs.live.has(viewRun)) {
        setMode('live');
        if (viewRun !== runs.main) steerRun(viewRun);
      } else {
        showRecorded(viewRun);
      }
    }
    for (const id of removed) {
      removeBranch(id);
      if (state.steer === id) {
        toast(`Branch #${id} is no longer live; the controls steer the baseline again.`);
        steerRun(state.mainRun);
      }
    }
    for (const id of added) addBranch(id);
    if (state.mode !== 'recorded') audit.setRuns(runs.auditRuns());
    showRunName();
    overlay();
    renderRuns();
  },
  onTelemetry(msg) {
    if (state.mode !== 'live') return; // a recorded run's page draws the store's ticks only
    if (msg.run_id == null || state.mainRun == null || msg.run_id === state.mainRun) frame(msg);
    else branchFrame(msg);
  },
  onResult(msg) {
    controls.result(msg);
    audit.answered(msg);
  },
  onError(msg) {
    toast(`Server: ${msg.message}`, 'error');
  },
});

// ---- telemetry ------------------------------------------------------------------------

function frame(msg) {
  const ind = msg.indicators ?? {};
  // Ticks never go back within a run: an earlier tick means a new engine (e.g. a
  // restarted server without a store, where run ids do not tell).
  if (store.lastTick != null && msg.tick < store.lastTick && !state.needsFill) store.clear();
  if (takeFill(null)) fill(store, null, msg.tick, 0);
  const tps = frameArrived(msg.tick);
  const row = { tps };
  for (const f of CHART_FIELDS) if (f in ind) row[f] = ind[f];

  store.push(msg.tick, row);

  if (tps != null && !document.body.classList.contains('sim-paused')) setText(byId('tps'), `${number(tps)} ticks/s`);
  setText(byId('model'), MODELS[msg.model] ?? msg.model);
  if (state.steer == null || state.steer === state.mainRun) figures(msg);
  if (msg.registry_version !== state.registryVersions.get(state.mainRun ?? 'main')) loadRegistry(state.mainRun, msg.registry_version);
  scheduleRender();
}

/** A what-if branch's frame: its own store, and the header figures when it is steered. */
function branchFrame(msg) {
  const b = state.branches.get(msg.run_id);
  if (!b) return;
  if (takeFill(msg.run_id)) fill(b.store, msg.run_id, msg.tick, runs.info(msg.run_id)?.forkTick ?? 0);
  const ind = msg.indicators ?? {};
  const row = {};
  for (const f of CHART_FIELDS) if (f in ind) row[f] = ind[f];
  b.store.push(msg.tick, row);
  if (state.steer === msg.run_id) {
    figures(msg);
    if (msg.registry_version !== state.registryVersions.get(msg.run_id)) loadRegistry(msg.run_id, msg.registry_version);
  }
  scheduleRender();
}

/** The headline figures, books badge and histograms of the steered run's frame. */
function figures(msg) {
  const ind = msg.indicators ?? {};
  showKpis(ind);
  drift(ind.money_drift);
  distributions.update(msg.distributions, msg.tick);
}

// ---- runs: the baseline and its what-if branches ----------------------------------------

function runLabel(id) {
  return id == null ? 'this run' : `run #${id} · ${runs.label(id)}`;
}

/** The header's run: "run #1", and "resumed at tick T" for a run continued by `--resume`. */
function showRunName() {
  if (state.mode === 'recorded') return;
  if (state.viewer) {
    setText(byId('run'), `viewer of ${state.viewer}`);
    return;
  }
  const { runId } = state;
  const resumed = resumedText(runs.info(runId)?.resumedAt);
  setText(byId('run'), !state.recorded ? 'not recorded' : resumed ? `run #${runId} · ${resumed}` : `run #${runId}`);
}

function renderRuns() {
  runBar.render(runs, state.steer, state.authorized && connection.state !== 'offline', state.dropping);
}

/** Overlays the live branches on every chart (or their difference from the baseline). */
function overlay() {
  const list = runs.branches().filter((r) => state.branches.has(r.id))
    .map((r) => ({ id: r.id, label: r.label, color: r.color, forkTick: r.forkTick, store: state.branches.get(r.id).store }));
  if (!list.length && state.diff) {
    setDiff(false);
    byId('diff-toggle').checked = false;
  }
  charts.setBranches(list, state.diff);
  scheduleRender();
}

/** The controls (and the header figures) now steer run `id`. */
function steerRun(id) {
  if (id == null) return;
  setSteer(id);
  controls.setTarget(id === state.mainRun ? null : id, runLabel(id), runs.color(id));
  whatIf.update();
  loadRegistry(id);
  renderRuns();
}

/** Drops branch `id` (DELETE /api/runs/{id}); its rows stay in the database. */
async function dropBranch(id) {
  if (!startDrop(id)) return;
  renderRuns();
  let answer;
  try {
    answer = await getJSON(`/api/runs/${id}`, { method: 'DELETE', token: state.token, timeout: 35_000 });
  } catch {
    answer = { status: 0, body: null };
  }
  if (answer.status === 200) {
    toast(`Branch #${id} dropped at tick ${count(answer.body?.tick)}; its ticks stay in the database.`);
  } else {
    dropRefused(id);
    toast(`Branch #${id} was not dropped: ${answer.body?.error ?? `the server answered ${answer.status}`}`, 'error');
  }
  renderRuns();
}

function drift(cents) {
  const badge = charts.badge('money-drift');
  const balanced = cents === 0;
  setText(badge, balanced ? 'books balanced' : `drift ${count(cents)} ¢ of the ledger's unit`);
  badge.className = `badge ${balanced ? 'ok' : 'error'}`;
  badge.title = balanced ? 'Every balance sums to zero, to the cent.' : 'The sum of every balance is not zero: money was created or lost outside the books.';
  const kpi = byId('kpi-books');
  setText(kpi, balanced ? 'balanced' : `${count(cents)} ¢`);
  kpi.classList.toggle('bad', !balanced);
}

/**
 * Fills the ticks of `into` (run `run`; null: the main run) missed before `tick` (first
 * load or after reconnecting) from history, from `first` on at the earliest.
 */
async function fill(into, run, tick, first) {
  const session = state.runId;
  const last = into.lastTick;
  const from = Math.max(first, last == null || last >= tick ? tick - INITIAL_HISTORY + 1 : Math.max(last + 1, tick - GAP_HISTORY + 1));
  if (from > tick - 1) return;
  try {
    const answer = await fetchHistory(from, tick - 1, run);
    const wanted = run ?? state.runId;
    if (session !== state.runId || (answer.run != null && answer.run !== wanted)) return;
    into.merge(answer.ticks);
    scheduleRender();
  } catch {
    // offline again; the next connection retries
  }
}

/** A viewer's page without `/?run=ID`: what it is, and links to what it can show. */
function showViewer() {
  const note = byId('recorded-note');
  note.hidden = false;
  note.replaceChildren(h('strong', { 'data-testid': 'viewer-note', text: `Read-only viewer of ${state.viewer}` }),
    ': no economy runs here and nothing can be steered. See the ',
    h('a', { href: '#experiments', text: 'experiments' }),
    ' (a running one is followed as its writer commits), or a recorded run’s charts at /?run=ID.');
}

/**
 * Beside the charts, what retention (`--keep-ticks`) thinned of the run shown: its older
 * ticks are 1 in K, so the long chart there is sparser than the window's.
 */
function showThinned(text) {
  const note = byId('thinned-note');
  note.hidden = !text;
  setText(note, text ? `Older history thinned: ${text}; every tick from there on is kept.` : '');
}

/** Asks /api/runs what was thinned of the live run (it changes as the run goes). */
function refreshThinned() {
  if (state.mode !== 'live' || !state.recorded || state.runId == null || connection.state !== 'online') return;
  describeRun(state.runId).then((known) => showThinned(known?.thinned ?? '')).catch(() => {
    // the note stays as it was
  });
}

/** `/?run=ID` of a run that is not live: its charts from the store, nothing live. */
async function showRecorded(id) {
  setMode('recorded');
  document.body.dataset.mode = 'recorded';
  store.clear();
  clearBranches();
  overlay();
  setText(byId('run'), `recorded run #${id}`);
  setText(byId('charts-sub'), 'Recorded ticks of this run, from the store · hover a chart to read every chart at that tick · money in genesis currency units');
  const note = byId('recorded-note');
  note.hidden = false;
  const status = h('span', { 'data-testid': 'recorded-status', text: 'loading its ticks…' });
  const about = h('span', { 'data-testid': 'recorded-about' });
  note.replaceChildren(h('strong', { text: `Recorded run #${id}` }), about, ' · ', status, ' · ',
    h('a', { href: '/', 'data-testid': 'to-live', text: state.viewer ? 'back to the viewer' : 'back to the live economy' }));
  describeRun(id).then((known) => {
    if (!known) return;
    if (known.resumed) setText(byId('run'), `recorded run #${id} · ${known.resumed}`);
    showThinned(known.thinned);
    if (takeTicksPerYear(known.parameters)) unitsChanged();
    setText(about, known.notes.length ? ` (${known.notes.join(' · ')})` : '');
  }).catch(() => {
    // the note stays without it
  });
  audit.setRuns([id]);
  audit.refresh();
  updateAvailability();
  setWindow('all');
  try {
    const answer = await loadRecorded(id, store, scheduleRender);
    if (!answer.row) {
      setText(status, answer.empty ? 'no ticks stored' : `not readable (${answer.status})`);
      return;
    }
    const last = store.lastTick;
    showKpis(answer.row);
    drift(answer.row.money_drift);
    setText(byId('tick'), count(last));
    setText(byId('tps'), '–');
    setText(status, `ticks ${count(store.firstTick)}–${count(last)} from the store; not live`);
    showHeld();
  } catch {
    setText(status, 'its ticks could not be loaded');
  }
}

/** "All": loads older ticks, page by page, until the store holds the run or CAP ticks. */
async function backfill() {
  if (!startBackfill()) return;
  const run = state.runId;
  const status = byId('window-status');
  while (run === state.runId && store.length < CAP && store.firstTick > 0) {
    const to = store.firstTick - 1;
    const from = Math.max(0, to - Math.min(BACKFILL_PAGE, CAP - store.length) + 1);
    setText(status, `loading ticks ${count(from)}–${count(to)}…`);
    let answer;
    try {
      answer = await fetchHistory(from, to);
    } catch {
      backfillFailed();
      break;
    }
    if (run !== state.runId || !answer.ticks.length) break;
    store.merge(answer.ticks);
    scheduleRender();
  }
  showHeld();
}

/** Under "All": where the held ticks start, when that is not the run's beginning. */
function showHeld() {
  const first = store.firstTick;
  const text = !Number.isFinite(state.chartWindow) && first > 0 ? `from tick ${count(first)} (the page keeps ${count(CAP)} ticks)` : '';
  setText(byId('window-status'), text);
}

/** Loads run `run`'s registry (null or the main run: /api/registry). */
async function loadRegistry(run, version) {
  const key = run ?? 'main';
  if (!startRegistryLoad(key)) return;
  try {
    const main = run == null || run === state.mainRun;
    const { status, body } = await getJSON(main ? '/api/registry' : `/api/registry?run=${run}`);
    if (status === 200 && body?.params) {
      registryLoaded(key, version != null && body.version === version ? version : body.version);
      if (main) controls.setSimRegistry(body);
      if (main && takeTicksPerYear(body.params)) unitsChanged();
      if ((state.steer ?? state.mainRun) === run || (main && state.steer == null)) controls.setRegistry(body);
      audit.refreshSoon();
    }
  } catch {
    // retried with the next frame
  } finally {
    registryLoadEnded(key);
  }
}

// ---- rendering ------------------------------------------------------------------------

/** Redraws on the next animation frame (none while the tab is hidden); a long "all"
 * window is redrawn at most twice a second. */
function scheduleRender() {
  if (!queueRender()) return;
  const heavy = !Number.isFinite(state.chartWindow) && store.length > 5_000;
  const wait = heavy ? Math.max(0, 500 - (performance.now() - state.lastRender)) : 0;
  setTimeout(() => requestAnimationFrame(() => {
    const drawn = document.body.dataset.view !== 'experiments'; // drawn again on the way back
    renderRan(drawn);
    // The header, the toolbar and the charts' legends name the same tick: the last drawn.
    if (store.lastTick != null) {
      setText(byId('tick'), count(store.lastTick));
      controls.settled(store.lastTick);
    }
    if (drawn) charts.render(state.chartWindow);
  }), wait);
}

function setWindow(value) {
  setChartWindow(value);
  for (const b of document.querySelectorAll('[data-window]')) b.setAttribute('aria-pressed', String(b.dataset.window === value));
  if (value === 'all') backfill();
  showHeld();
  scheduleRender();
}

for (const b of document.querySelectorAll('[data-window]')) b.addEventListener('click', () => setWindow(b.dataset.window));

/** Rates per year or per tick, time in ticks or years (units.js): the toolbar's toggles. */
function unitsChanged() {
  for (const b of document.querySelectorAll('[data-rates]')) b.setAttribute('aria-pressed', String((b.dataset.rates === 'annual') === units.annual));
  for (const b of document.querySelectorAll('[data-time]')) b.setAttribute('aria-pressed', String((b.dataset.time === 'years') === units.years));
  setText(byId('kpi-inflation-label'), `Inflation, % ${ratePeriod()}`);
  const tpy = byId('ticks-per-year');
  setText(tpy, `1 year = ${paramValue(units.ticksPerYear)} ticks`);
  tpy.title = 'economy.ticks_per_year, a scenario setting (docs/MODEL.md): rates per tick compound to annual rates over this many ticks';
  charts.unitsChanged();
  if (kpiRow) showKpis(kpiRow);
  scheduleRender();
}

for (const b of document.querySelectorAll('[data-rates]')) b.addEventListener('click', () => { units.annual = b.dataset.rates === 'annual'; unitsChanged(); });
for (const b of document.querySelectorAll('[data-time]')) b.addEventListener('click', () => { units.years = b.dataset.time === 'years'; unitsChanged(); });

// A paused or stalled engine runs no tick: the speed reads 0, never a stale rate.
setInterval(() => {
  const paused = document.body.classList.contains('sim-paused');
  if (connection.state === 'online' && (paused || performance.now() - state.lastFrameAt > 1_500)) {
    setText(byId('tps'), paused ? '0 ticks/s (paused)' : '0 ticks/s');
    if (performance.now() - state.lastFrameAt > 1_500) framesStopped();
  }
}, 1_000);
setInterval(() => { if (connection.state === 'online') audit.refresh(); }, AUDIT_POLL_MS);
// What retention thinned moves slowly (a batch per commit, a new boundary per checkpoint).
setInterval(refreshThinned, 30_000);

byId('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = byId('token-input');
  const value = keepToken(input.value);
  if (!value) return;
  setToken(value);
  input.value = '';
  connection.connect();
});

// ---- views: live (the default) and experiments (#experiments) -------------------------

function route() {
  const view = location.hash.startsWith('#experiments') ? 'experiments' : 'live';
  document.body.dataset.view = view;
  for (const [id, name] of [['tab-live', 'live'], ['tab-experiments', 'experiments']]) {
    if (view === name) byId(id).setAttribute('aria-current', 'page');
    else byId(id).removeAttribute('aria-current');
  }
  if (view === 'experiments') experiments.show(location.hash);
  else {
    experiments.hide();
    charts.resize();
    scheduleRender();
  }
}
window.addEventListener('hashchange', route);

// For the browser console (and the end-to-end test): the data this page holds.
window.watchtower = Object.freeze({ state, store, connection, charts, runs, branches: state.branches, experiments, steered: () => state.steer });

setWindow('200');
unitsChanged();
route();
connection.connect();
