// state.js: the dashboard's state, in one object, and the named updates that change it.
//
// Every part of the page reads what it needs from `state`; only the functions below
// write it, so a new view finds each piece of the page's state (what it means and what
// changes it) here rather than among app.js's functions. The updates change the state
// only: what the page shows follows in app.js, which calls them as messages arrive.

import { RunSet } from './branches.js';
import { CHART_FIELDS } from './charts.js';
import { takeToken } from './session.js';
import { SeriesStore } from './store.js';

/** `/?run=ID`: the run to show, or null. */
function runOfUrl() {
  const v = Number(new URL(location.href).searchParams.get('run'));
  return Number.isInteger(v) && v > 0 ? v : null;
}

const viewRun = runOfUrl();

export const state = {
  // ---- the session ----
  /** The access token (null: none, the page is read-only); moved out of the URL at once. */
  token: takeToken(),
  /** Whether the server accepted the token (hello's `authorized`). */
  authorized: false,
  /** The data directory, when the server is a read-only viewer of one (`watchtower view`). */
  viewer: null,
  /** The run the server records (hello's `run_id`): undefined before the first hello, null without a store. */
  runId: undefined,
  /** Whether the server has a store, so history and the audit log can be read. */
  recorded: false,

  // ---- what the page shows ----
  /** `/?run=ID`: the run to show; one that is not live is shown as recorded. */
  viewRun,
  /** 'live', 'pending' (waiting for the runs message to tell whether `viewRun` is live) or 'recorded'. */
  mode: viewRun == null ? 'live' : 'pending',
  /** The charts' window in ticks (Infinity: all the page holds). */
  chartWindow: 200,

  // ---- the live runs ----
  /** The live main run (the baseline); other run ids are its what-if branches. */
  mainRun: null,
  /** The live runs (RunSet): the baseline and its branches, with their labels and colours. */
  runs: new RunSet(),
  /** The main run's ticks (or, in 'recorded' mode, the recorded run's). */
  store: new SeriesStore(CHART_FIELDS),
  /** Whether the ticks missed before the main run's next frame are to be read from history. */
  needsFill: false,
  /** Whether "All" has read (or is reading) the main run's older ticks. */
  backfilled: false,
  /** Live branches' data: run id -> {store, needsFill}. */
  branches: new Map(),
  /** Branches whose drop was asked for and not yet answered. */
  dropping: new Set(),
  /** The run the controls steer and the header figures show (the main run by default). */
  steer: null,
  /** Whether the charts show each branch's difference from the baseline. */
  diff: false,
  /** Run (the main run: 'main') -> the registry_version loaded. */
  registryVersions: new Map(),
  /** Runs whose registry is being read. */
  registryLoading: new Set(),

  // ---- the page's clock ----
  /** The main run's last frames, {t, tick}, over ~2 s of wall time in this browser. */
  frames: [],
  /** When the last main-run frame arrived (performance.now()). */
  lastFrameAt: 0,
  /** Whether a redraw is queued, and when the charts were last drawn. */
  renderQueued: false,
  lastRender: 0,
};

// ---- the session ----

/** A token pasted in the read-only note. */
export function setToken(token) {
  state.token = token;
}

/** A hello: who the page is to the server, and the server's main run. */
export function setHello({ authorized, viewer, main }) {
  state.authorized = authorized;
  state.viewer = viewer;
  state.mainRun = main;
}

/**
 * The server records run `runId` (a new one: a restarted server): the charts start
 * afresh (a recorded run's page keeps its ticks), with no branch, steering the main run.
 */
export function startRun(runId) {
  state.runId = runId;
  if (state.mode !== 'recorded') state.store.clear();
  state.backfilled = false;
  state.runs.reset(state.mainRun);
  state.branches.clear();
  state.steer = state.mainRun;
}

/**
 * After a (re)connection: whether the server has a store; if so, every live run's gap
 * since its last tick held is read from history; every registry is read again.
 */
export function setRecorded(recorded) {
  state.recorded = recorded;
  state.needsFill = recorded && state.mode !== 'recorded';
  for (const b of state.branches.values()) b.needsFill = recorded;
  state.registryVersions.clear();
}

// ---- what the page shows ----

/** 'live' or 'recorded' (see `state.mode`). */
export function setMode(mode) {
  state.mode = mode;
}

/** The charts' window: a number of ticks, or 'all'. */
export function setWindow(value) {
  state.chartWindow = value === 'all' ? Infinity : Number(value);
}

/** Whether "All" is to read the older ticks now (only once per run, live, with a store). */
export function startBackfill() {
  if (state.backfilled || !state.recorded || state.mode !== 'live') return false;
  state.backfilled = true;
  return true;
}

/** Reading older ticks failed (offline): "All" tries again. */
export function backfillFailed() {
  state.backfilled = false;
}

// ---- the live runs ----

/** A branch became live: its own store, filled from history with its first frame. */
export function addBranch(id) {
  state.branches.set(id, { store: new SeriesStore(CHART_FIELDS), needsFill: state.recorded });
}

/** A branch is no longer live. */
export function removeBranch(id) {
  state.branches.delete(id);
  state.dropping.delete(id);
}

/** No branch is drawn (a recorded run's page). */
export function clearBranches() {
  state.branches.clear();
}

/** Whether run `id`'s (null: the main run's) gap is to be filled now; it is filled once. */
export function takeFill(id) {
  const holder = id == null ? state : state.branches.get(id);
  if (!holder?.needsFill) return false;
  holder.needsFill = false;
  return true;
}

/** The controls (and the header figures) steer run `id` now; its registry is read again. */
export function setSteer(id) {
  state.steer = id;
  state.registryVersions.delete(id);
}

/** Whether the charts show the branches' difference from the baseline. */
export function setDiff(on) {
  state.diff = on;
}

/** Whether branch `id`'s drop may be asked for now (not while one is pending). */
export function startDrop(id) {
  if (state.dropping.has(id)) return false;
  state.dropping.add(id);
  return true;
}

/** Branch `id`'s drop was refused: it may be asked for again. */
export function dropRefused(id) {
  state.dropping.delete(id);
}

/** Whether `key`'s registry may be read now (not while a read is under way). */
export function startRegistryLoad(key) {
  if (state.registryLoading.has(key)) return false;
  state.registryLoading.add(key);
  return true;
}

/** `key`'s registry of version `version` was read. */
export function registryLoaded(key, version) {
  state.registryVersions.set(key, version);
}

/** `key`'s registry read ended (read or not). */
export function registryLoadEnded(key) {
  state.registryLoading.delete(key);
}

// ---- the page's clock ----

/** A main-run frame of tick `tick` arrived: ticks per second over the last ~2 s (null: too few). */
export function frameArrived(tick) {
  const now = performance.now();
  state.lastFrameAt = now;
  const frames = state.frames;
  if (frames.length && tick < frames[frames.length - 1].tick) frames.length = 0;
  frames.push({ t: now, tick });
  while (frames.length > 2 && now - frames[1].t > 2_000) frames.shift();
  const first = frames[0];
  const dt = (now - first.t) / 1000;
  return dt > 0.25 ? (tick - first.tick) / dt : null;
}

/** No frame for a while (paused or stalled): the rate starts afresh. */
export function framesStopped() {
  state.frames.length = 0;
}

/** Whether a redraw is to be queued (not when one already is). */
export function queueRender() {
  if (state.renderQueued) return false;
  state.renderQueued = true;
  return true;
}

/** The queued redraw ran; `drawn`: the charts were drawn. */
export function renderRan(drawn) {
  state.renderQueued = false;
  if (drawn) state.lastRender = performance.now();
}
