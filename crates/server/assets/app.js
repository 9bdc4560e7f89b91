// app.js: the Watchtower dashboard's entry point. It wires the page together:
// the session token, the WebSocket connection, the time-series store and charts,
// the agent view, the controls and the audit log.
//
// Data flow: telemetry frames (10 Hz) go into the SeriesStore and the header figures;
// charts redraw on the next animation frame. On (re)connection the gap since the last
// tick held is filled from /api/history; a new run (the server restarted) starts the
// charts afresh. A changed registry_version means a parameter moved: refetch the registry.

import { getJSON, history as fetchHistory } from './api.js';
import { AuditLog } from './audit.js';
import { Charts, CHART_FIELDS } from './charts.js';
import { Connection } from './connection.js';
import { Controls } from './controls.js';
import { Distributions } from './distributions.js';
import { byId, h, setText } from './dom.js';
import { EmbeddingMap } from './embedding.js';
import { count, money, number, percent } from './format.js';
import { CAP, SeriesStore } from './store.js';

const TOKEN_KEY = 'watchtower.token';
const INITIAL_HISTORY = 2_000;
const GAP_HISTORY = 5_000;
const BACKFILL_PAGE = 5_000;
const AUDIT_POLL_MS = 15_000;
const MODELS = { mark0: 'Mark-0 economy', boltzmann: 'Boltzmann wealth model' };

// ---- the session token: from the URL once, then sessionStorage; never left visible ----

function takeToken() {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    url.searchParams.delete('token');
    window.history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}
let token = takeToken();
// Command ids start with a prefix of this page load; the tab remembers its prefixes so
// the audit log can say "this dashboard" about its commands, even after a reload.
const idPrefix = `dash-${Math.random().toString(16).slice(2, 8)}`;
const ownPrefixes = (() => {
  let list = [];
  try {
    list = JSON.parse(sessionStorage.getItem('watchtower.clients') ?? '[]');
  } catch {
    list = [];
  }
  list = [...(Array.isArray(list) ? list : []), idPrefix].slice(-20);
  sessionStorage.setItem('watchtower.clients', JSON.stringify(list));
  return list;
})();

// ---- state ----------------------------------------------------------------------------

const store = new SeriesStore(CHART_FIELDS);
let runId;
/** The live main run: telemetry of what-if branches (other run ids) is not charted here. */
let mainRun = null;
let recorded = false;
let authorized = false;
let registryVersion = null;
let registryLoading = false;
let needsFill = false;
let chartWindow = 200;
let backfilled = false;
let renderQueued = false;
const tpsSamples = [];
let lastFrameAt = 0;

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
}, () => token, toast);
const audit = new AuditLog(byId('audit'), (id) => typeof id === 'string' && ownPrefixes.some((p) => id.startsWith(`${p}-`)));
const controls = new Controls({
  panel: byId('controls'), note: byId('readonly-note'), noteText: byId('readonly-text'), tokenForm: byId('token-form'),
  pause: byId('btn-pause'), step: byId('btn-step'), speed: byId('speed'), simStatus: byId('sim-status'),
}, {
  send: (m) => connection.send(m),
  onSent: (c) => audit.sent(c),
  idPrefix,
});

const KPIS = [
  ['kpi-gdp', (i) => money(i.gdp)],
  ['kpi-unemployment', (i) => percent(i.unemployment_rate, 1)],
  ['kpi-inflation', (i) => percent(i.inflation, 2)],
  ['kpi-wage', (i) => money(i.average_wage)],
  ['kpi-gini', (i) => number(i.gini_wealth)],
  ['kpi-balance', (i) => money(i.government_balance)],
  ['kpi-debt', (i) => money(i.government_debt)],
  ['kpi-firms', (i) => count(i.active_firms)],
].map(([id, fmt]) => [byId(id), fmt]);

// ---- connection -----------------------------------------------------------------------

function readonlyReason(online) {
  if (!online) return 'Offline: changes cannot be sent until the dashboard reconnects.';
  if (!token) return 'Read-only: this page was opened without the access token. Open the URL that watchtower serve printed (it ends in ?token=…), or paste the token below.';
  return 'Read-only: the server did not accept this session’s token (it may have restarted with a new one). Paste the token it printed below.';
}

function updateAvailability() {
  const online = connection.state === 'online' || connection.state === 'initializing';
  controls.setAvailability({ authorized, online, reason: readonlyReason(online) });
}

const connection = new Connection({
  onState(state, detail) {
    const badge = byId('conn-status');
    setText(badge, { online: 'Online', initializing: 'Initializing', offline: 'Offline' }[state]);
    badge.className = `badge conn ${state}`;
    setText(byId('conn-detail'), detail);
    document.body.dataset.connection = state;
    if (state === 'offline') controls.connectionLost();
    updateAvailability();
  },
  onHello(msg) {
    authorized = !!msg.authorized;
    mainRun = msg.main ?? msg.run_id ?? null;
    if (msg.run_id !== runId) {
      if (runId !== undefined) toast(`The server started a new run (#${msg.run_id}); the charts start afresh.`);
      runId = msg.run_id;
      store.clear();
      backfilled = false;
      audit.clear();
      controls.reset();
      embedding.start();
      scheduleRender();
    }
    // Without a store (--no-store) there is no history or audit to fetch.
    recorded = runId != null;
    audit.enabled = recorded;
    setText(byId('run'), recorded ? `run #${runId}` : 'not recorded');
    needsFill = recorded;
    registryVersion = null;
    audit.refresh();
    updateAvailability();
  },
  onTelemetry(msg) {
    if (msg.run_id != null && mainRun != null && msg.run_id !== mainRun) return; // a branch's frame
    frame(msg);
  },
  onResult(msg) {
    controls.result(msg);
    audit.answered(msg);
  },
  onError(msg) {
    toast(`Server: ${msg.message}`, 'error');
  },
}, () => token);

// ---- telemetry ------------------------------------------------------------------------

/** Ticks per second over the last ~2 s of frames (wall time in this browser). */
function measureTps(tick) {
  const now = performance.now();
  lastFrameAt = now;
  if (tpsSamples.length && tick < tpsSamples[tpsSamples.length - 1].tick) tpsSamples.length = 0;
  tpsSamples.push({ t: now, tick });
  while (tpsSamples.length > 2 && now - tpsSamples[1].t > 2_000) tpsSamples.shift();
  const first = tpsSamples[0];
  const dt = (now - first.t) / 1000;
  return dt > 0.25 ? (tick - first.tick) / dt : null;
}

function frame(msg) {
  const ind = msg.indicators ?? {};
  // Ticks never go back within a run: an earlier tick means a new engine (e.g. a
  // restarted server without a store, where run ids do not tell).
  if (store.lastTick != null && msg.tick < store.lastTick && !needsFill) store.clear();
  if (needsFill) {
    needsFill = false;
    fill(msg.tick);
  }
  const tps = measureTps(msg.tick);
  const row = { tps };
  for (const f of CHART_FIELDS) if (f in ind) row[f] = ind[f];
  store.push(msg.tick, row);

  setText(byId('tick'), count(msg.tick));
  if (tps != null) setText(byId('tps'), `${number(tps)} ticks/s`);
  setText(byId('model'), MODELS[msg.model] ?? msg.model);
  for (const [el, fmt] of KPIS) setText(el, fmt(ind));
  drift(ind.money_drift);
  distributions.update(msg.distributions, msg.tick);
  if (msg.registry_version !== registryVersion) loadRegistry(msg.registry_version);
  scheduleRender();
}

function drift(cents) {
  const badge = charts.badge('money-drift');
  const balanced = cents === 0;
  setText(badge, balanced ? 'books balanced' : `drift ${money(cents)} (${count(cents)} ¢)`);
  badge.className = `badge ${balanced ? 'ok' : 'error'}`;
  badge.title = balanced ? 'Every balance sums to zero, to the cent.' : 'The sum of every balance is not zero: money was created or lost outside the books.';
  const kpi = byId('kpi-books');
  setText(kpi, balanced ? 'balanced' : money(cents));
  kpi.classList.toggle('bad', !balanced);
}

/** Fills the ticks missed before `tick` (first load or after reconnecting) from history. */
async function fill(tick) {
  const run = runId;
  const last = store.lastTick;
  const from = last == null || last >= tick ? Math.max(0, tick - INITIAL_HISTORY + 1) : Math.max(last + 1, tick - GAP_HISTORY + 1);
  if (from > tick - 1) return;
  try {
    const answer = await fetchHistory(from, tick - 1);
    if (run !== runId || (answer.run != null && answer.run !== runId)) return;
    store.merge(answer.ticks);
    scheduleRender();
  } catch {
    // offline again; the next connection retries
  }
}

/** "All": loads older ticks, page by page, until the store holds the run or CAP ticks. */
async function backfill() {
  if (backfilled || !recorded) return;
  backfilled = true;
  const run = runId;
  const status = byId('window-status');
  while (run === runId && store.length < CAP && store.firstTick > 0) {
    const to = store.firstTick - 1;
    const from = Math.max(0, to - Math.min(BACKFILL_PAGE, CAP - store.length) + 1);
    setText(status, `loading ticks ${count(from)}–${count(to)}…`);
    let answer;
    try {
      answer = await fetchHistory(from, to);
    } catch {
      backfilled = false;
      break;
    }
    if (run !== runId || !answer.ticks.length) break;
    store.merge(answer.ticks);
    scheduleRender();
  }
  showHeld();
}

/** Under "All": where the held ticks start, when that is not the run's beginning. */
function showHeld() {
  const first = store.firstTick;
  const text = !Number.isFinite(chartWindow) && first > 0 ? `from tick ${count(first)} (the page keeps ${count(CAP)} ticks)` : '';
  setText(byId('window-status'), text);
}

async function loadRegistry(version) {
  if (registryLoading) return;
  registryLoading = true;
  try {
    const { status, body } = await getJSON('/api/registry');
    if (status === 200 && body?.params) {
      registryVersion = version ?? body.version;
      controls.setRegistry(body);
      if (version != null && body.version !== version) registryVersion = body.version;
      audit.refreshSoon();
    }
  } catch {
    // retried with the next frame
  } finally {
    registryLoading = false;
  }
}

// ---- rendering ------------------------------------------------------------------------

/** Redraws on the next animation frame (none while the tab is hidden); a long "all"
 * window is redrawn at most twice a second. */
let lastRender = 0;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  const heavy = !Number.isFinite(chartWindow) && store.length > 5_000;
  const wait = heavy ? Math.max(0, 500 - (performance.now() - lastRender)) : 0;
  setTimeout(() => requestAnimationFrame(() => {
    renderQueued = false;
    lastRender = performance.now();
    charts.render(chartWindow);
  }), wait);
}

function setWindow(value) {
  chartWindow = value === 'all' ? Infinity : Number(value);
  for (const b of document.querySelectorAll('[data-window]')) b.setAttribute('aria-pressed', String(b.dataset.window === value));
  if (value === 'all') backfill();
  showHeld();
  scheduleRender();
}

for (const b of document.querySelectorAll('[data-window]')) b.addEventListener('click', () => setWindow(b.dataset.window));

// A paused or stalled engine sends no frames: show 0 ticks/s rather than a stale rate.
setInterval(() => {
  if (connection.state === 'online' && performance.now() - lastFrameAt > 1_500) {
    setText(byId('tps'), document.body.classList.contains('sim-paused') ? 'paused' : '0 ticks/s');
    tpsSamples.length = 0;
  }
}, 1_000);
setInterval(() => { if (connection.state === 'online') audit.refresh(); }, AUDIT_POLL_MS);

byId('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = byId('token-input');
  let value = input.value.trim();
  try {
    value = new URL(value).searchParams.get('token') ?? value;
  } catch {
    // not a URL: the token itself
  }
  if (!value) return;
  token = value;
  sessionStorage.setItem(TOKEN_KEY, token);
  input.value = '';
  connection.connect();
});

// For the browser console (and the end-to-end test): the data this page holds.
window.watchtower = Object.freeze({ store, connection });

setWindow('200');
connection.connect();
