// lib.mjs: what the dashboard's end-to-end tests share: the binary and Chromium, a
// logger and checks, a free port, `watchtower serve` and `watchtower view` started and
// stopped (by their own process, SIGTERM then SIGKILL), other commands run to the end or
// in the background (killed by PID if the test ends first), a headless Chromium whose
// every request, console error and failed response is watched, and bounded waits.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = process.env.WATCHTOWER_BIN ?? path.join(ROOT, 'target', 'debug', 'watchtower');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const SHOTS = path.join(ROOT, 'e2e', 'screenshots');

const started = Date.now();

export function log(message) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${message}`);
}

export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  log(`ok  ${message}`);
}

export function elapsed() {
  return (Date.now() - started) / 1000;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A port that was free a moment ago (bound to 0, read, released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Runs `watchtower ARGS` to the end (at most `timeout` ms); resolves with its output. */
export function run(args, timeout = 60_000) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d) => { out += d; });
    proc.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`watchtower ${args.join(' ')} took longer than ${timeout / 1000} s:\n${out}`));
    }, timeout);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`watchtower ${args.join(' ')} failed (${code ?? signal}):\n${out}`));
    });
  });
}

export const servers = new Set();

/** Starts `watchtower serve` with `args`; resolves with {proc, url} once it prints its URL. */
export function startServer(args) {
  return start(['serve', ...args], /^Watchtower is running: (http:\/\/\S+)/);
}

/** Starts `watchtower view` (the read-only viewer) with `args`; resolves with {proc, url}. */
export function startViewer(args) {
  return start(['view', ...args], /^Watchtower viewer is running: (http:\/\/\S+)/);
}

/**
 * Starts `watchtower ARGS` in the background, tracked in `servers` (so the harness kills it
 * by its PID whatever happens), with its output kept in `proc.output`.
 */
export function startBackground(args) {
  const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  servers.add(proc);
  proc.output = [];
  for (const stream of [proc.stdout, proc.stderr]) {
    readline.createInterface({ input: stream }).on('line', (line) => {
      proc.output.push(line);
      if (proc.output.length > 200) proc.output.shift();
    });
  }
  proc.once('exit', () => servers.delete(proc));
  return proc;
}

/** Resolves with the exit code of `proc` once it exits, or rejects after `timeout` ms. */
export function exited(proc, timeout) {
  return new Promise((resolve, reject) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      resolve(proc.exitCode ?? proc.signalCode);
      return;
    }
    const timer = setTimeout(() => reject(new Error(`watchtower did not exit within ${timeout / 1000} s:\n${proc.output.join('\n')}`)), timeout);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal);
    });
  });
}

/** Spawns `watchtower ARGS` and resolves once its stdout has a line matching `banner`. */
function start(args, banner) {
  const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  servers.add(proc);
  proc.output = [];
  const keep = (line) => {
    proc.output.push(line);
    if (proc.output.length > 200) proc.output.shift();
  };
  readline.createInterface({ input: proc.stderr }).on('line', keep); // drained for the whole run
  const lines = readline.createInterface({ input: proc.stdout });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not print its URL in 20 s:\n${proc.output.join('\n')}`)), 20_000);
    proc.once('exit', (code, signal) => {
      servers.delete(proc);
      clearTimeout(timer);
      reject(new Error(`server exited early (${code ?? signal}):\n${proc.output.join('\n')}`));
    });
    lines.on('line', (line) => {
      keep(line);
      const match = banner.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve({ proc, url: match[1] });
      }
    });
  });
}

/** SIGTERM, then SIGKILL if it has not exited within 10 s; resolves with the exit code. */
export function stopServer(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      servers.delete(proc);
      resolve(proc.exitCode);
      return;
    }
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      servers.delete(proc);
      resolve(code ?? signal);
    });
    proc.kill('SIGTERM');
  });
}

/** GET (or another method with `init`) as JSON, bounded by 5 s. */
export async function api(base, pathname, init = {}) {
  const response = await fetch(new URL(pathname, base), { signal: AbortSignal.timeout(5_000), ...init });
  return { status: response.status, body: await response.json() };
}

/** A headless Chromium at 1280×800 with its own profile under `dir`. */
export function launch(dir) {
  return chromium.launchPersistentContext(path.join(dir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

function onLocalhost(url) {
  if (/^(data|blob|about):/.test(url)) return true;
  const host = new URL(url).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
}

/**
 * Watches `page`: console errors, page errors, failed requests, responses ≥ 400 (except
 * those `allow(url, status)` accepts) and any request off localhost.
 */
export function watch(page, allow = () => false) {
  const problems = [];
  const offsite = [];
  let allowed = 0; // responses allowed to fail, whose console line is excused
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (allowed > 0 && /^Failed to load resource: the server responded with a status of \d+/.test(m.text())) {
      allowed--;
      return;
    }
    problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.stack ?? e.message}`));
  page.on('request', (r) => { if (!onLocalhost(r.url())) offsite.push(r.url()); });
  page.on('websocket', (ws) => { if (!onLocalhost(ws.url())) offsite.push(ws.url()); });
  // ERR_ABORTED is the page cancelling its own request (a poll in flight when the test
  // navigates away): never the server's failure, which shows as a status or a network error.
  page.on('requestfailed', (r) => {
    const error = r.failure()?.errorText;
    if (error !== 'net::ERR_ABORTED') problems.push(`request failed: ${r.url()} (${error})`);
  });
  page.on('response', (r) => {
    if (r.status() < 400) return;
    if (allow(r.url(), r.status())) allowed++;
    else problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  return { problems, offsite };
}

/** Bounded waits on `page`. */
export function waiters(page) {
  const waitFor = (fn, arg, timeout, what) => page.waitForFunction(fn, arg, { timeout, polling: 50 })
    .catch((e) => { throw new Error(`timed out after ${timeout} ms waiting for ${what}: ${e.message.split('\n')[0]}`); });
  const waitText = (selector, pattern, timeout, what) => waitFor(
    ([s, p]) => new RegExp(p).test(document.querySelector(s)?.textContent ?? ''), [selector, pattern.source], timeout, what);
  return { waitFor, waitText };
}

/**
 * Runs `main` with a watchdog of `limit` ms; on failure saves a screenshot of `page()`
 * as `failure-NAME.png` and prints the servers' last lines. Whatever happens, the
 * browser `context()` is closed, every server still running is stopped by its PID and
 * the scratch directory `tmp` is removed.
 */
export async function harness(name, limit, main, { page, context, tmp }) {
  const cleanup = async () => {
    try {
      await context()?.close();
    } catch {
      // already gone
    }
    await Promise.all([...servers].map(stopServer));
    fs.rmSync(tmp, { recursive: true, force: true });
  };
  const watchdog = setTimeout(() => {
    console.error(`FAIL: ${name} took longer than ${limit / 1000} s`);
    for (const proc of servers) proc.kill('SIGKILL');
    process.exit(1);
  }, limit);
  try {
    await main();
    await cleanup();
    clearTimeout(watchdog);
    log(`PASS ${name} (${elapsed().toFixed(1)} s)`);
  } catch (error) {
    console.error(`FAIL: ${error.message}`);
    try {
      const p = page();
      if (p) await p.screenshot({ path: path.join(SHOTS, `failure-${name}.png`), fullPage: true });
    } catch {
      // no screenshot
    }
    for (const proc of servers) {
      const lines = proc.output.slice(-20).join('\n').replace(/token=\w+/g, 'token=…');
      console.error(`server output (last lines):\n${lines}`);
    }
    await cleanup();
    clearTimeout(watchdog);
    process.exit(1);
  }
}

/** The page's last checks: no request left localhost, no console error or failed request. */
export function checkClean(offsite, problems, when = '') {
  check(offsite.length === 0, `every request stayed on localhost${offsite.length ? `: ${offsite.join(', ')}` : ''}`);
  check(problems.length === 0, `no console errors or failed requests${when}${problems.length ? `:\n  ${problems.join('\n  ')}` : ''}`);
}

/** Makes `dir` (and e2e/screenshots/) exist. */
export function prepare(dir) {
  fs.mkdirSync(SHOTS, { recursive: true });
  fs.mkdirSync(dir, { recursive: true });
  check(fs.existsSync(BIN), `the binary exists (${path.relative(ROOT, BIN)})`);
  check(fs.existsSync(CHROMIUM), `Chromium exists (${CHROMIUM})`);
}
