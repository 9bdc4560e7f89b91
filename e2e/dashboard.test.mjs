// dashboard.test.mjs: end-to-end test of Watchtower's dashboard in headless Chromium.
//
// Starts `watchtower serve` (target/debug/watchtower, or $WATCHTOWER_BIN) on a free port
// with a fresh data directory, opens the URL it prints, and checks what issue 5 asks:
// the page is Online within 5 s; the tick advances; pause / step / resume work; moving
// the income-tax slider is "applied at tick T", appears in the audit log, and
// /api/registry shows the new value; an out-of-range value typed in is rejected with the
// server's message and snaps back; the agent map draws; the page fits 1280×800 and
// 420 px; SIGTERM makes the badge say Offline and a restart on the same port brings it
// back Online by itself. Throughout: no console errors, no failed requests and no
// request off localhost (outside the deliberate outage). Screenshots go to
// e2e/screenshots/. Every wait is bounded; the whole run is capped at 90 s. Shares its
// harness (server, browser, waits) with the what-if and experiments tests: e2e/lib.mjs.
//
// Run: node e2e/dashboard.test.mjs  (or e2e/run.sh, which builds first)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  checkClean, SHOTS, api, check, freePort, harness, launch, log, prepare, servers, sleep, startServer as serve, stopServer, waiters,
} from './lib.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'watchtower-e2e-'));
const dataDir = path.join(tmp, 'data');
let context;
let page;

/** `watchtower serve` on `port`, recording into this test's data directory. */
function startServer(port) {
  return serve(['--bind', `127.0.0.1:${port}`, '--data-dir', dataDir, '--households', '2000', '--firms', '200']);
}

// ---- the test -------------------------------------------------------------------------

async function main() {
  prepare(dataDir);

  const port = await freePort();
  let server = await startServer(port);
  log(`server started: ${server.url.replace(/token=\w+/, 'token=…')}`);
  const base = `http://127.0.0.1:${port}/`;

  context = await launch(tmp);
  page = context.pages()[0] ?? (await context.newPage());

  // Everything the page does is watched; the outage window excuses connection failures.
  const problems = [];
  const offsite = [];
  let outage = null; // {from, to}
  const inOutage = () => outage && (outage.to === undefined || Date.now() <= outage.to + 1_000);
  const onLocalhost = (url) => {
    if (/^(data|blob|about):/.test(url)) return true;
    const host = new URL(url).hostname;
    return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
  };
  let excused = 0;
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (inOutage() && /ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|WebSocket connection/.test(m.text())) {
      excused++;
      return;
    }
    problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => { if (!onLocalhost(r.url())) offsite.push(r.url()); });
  page.on('websocket', (ws) => { if (!onLocalhost(ws.url())) offsite.push(ws.url()); });
  page.on('requestfailed', (r) => {
    if (inOutage()) excused++;
    else problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`);
  });
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });

  const tickNow = async () => Number((await page.textContent('[data-testid=tick]')).replace(/[^0-9]/g, '') || -1);
  const { waitFor, waitText } = waiters(page);

  // 1. Online within 5 s.
  const t0 = Date.now();
  await page.goto(server.url, { timeout: 5_000 });
  await waitText('[data-testid=conn-status]', /^Online$/, Math.max(1, 5_000 - (Date.now() - t0)), 'the badge to say Online');
  check(true, `the badge says Online ${Date.now() - t0} ms after opening the page`);
  check(!page.url().includes('token='), 'the token is gone from the visible URL');
  check(await page.evaluate(() => !!sessionStorage.getItem('watchtower.token')), 'the token is kept in sessionStorage');

  // 2. The tick counter advances.
  const tick1 = await tickNow();
  await waitFor((t) => Number(document.querySelector('[data-testid=tick]').textContent.replace(/[^0-9]/g, '')) > t, tick1, 5_000, 'the tick to advance');
  check(true, `the tick counter advances (${tick1} → ${await tickNow()})`);
  await waitText('[data-testid=tps]', /ticks\/s/, 5_000, 'a ticks/s figure');
  await waitText('[data-testid=money-drift]', /books balanced/, 5_000, 'the books badge');
  check(true, 'ticks per second and "books balanced" are shown');

  // 3. Controls are built from the registry and writable with the token.
  const slider = page.locator('[data-testid="slider-government.income_tax_rate"]');
  await slider.waitFor({ timeout: 5_000 });
  await waitFor(() => document.querySelector('[data-testid=readonly-note]').hidden, null, 5_000, 'the controls to be writable');
  check(true, 'the income-tax slider exists and the controls are writable');
  check(await page.locator('[data-testid="param-firms.initial_production"] .param-note').count() === 1,
    'a start-up-only parameter is shown with its note');

  // 4. Pause, step one tick, resume.
  await page.click('[data-testid=btn-pause]');
  await waitText('[data-testid=sim-status]', /^Paused after tick \d+/, 5_000, 'the pause to apply');
  await sleep(400);
  const pausedAt = await tickNow();
  await sleep(1_200);
  check(await tickNow() === pausedAt, `paused: the tick stays at ${pausedAt}`);
  // Issue 24, item 4: the header, the toolbar and the charts' legends name the same tick,
  // and the speed reads 0 while paused.
  const said = await page.evaluate(() => ({
    toolbar: document.querySelector('[data-testid=sim-status]').textContent,
    legend: window.watchtower.charts.plot('unemployment').data[0].at(-1),
    speed: document.querySelector('[data-testid=tps]').textContent,
  }));
  check(said.toolbar === `Paused after tick ${pausedAt.toLocaleString('en-US')}` && said.legend === pausedAt,
    `the header, the toolbar ("${said.toolbar}") and the charts (last tick ${said.legend}) agree on tick ${pausedAt}`);
  check(/^0 ticks\/s/.test(said.speed), `the speed reads "${said.speed}" while paused`);
  await page.click('[data-testid=btn-step]');
  await waitFor((t) => Number(document.querySelector('[data-testid=tick]').textContent.replace(/[^0-9]/g, '')) === t + 1, pausedAt, 5_000, 'one step');
  check(true, `stepping runs exactly one tick (${pausedAt} → ${pausedAt + 1})`);
  await page.click('[data-testid=btn-pause]');
  await waitText('[data-testid=sim-status]', /^Resumed at tick \d+/, 5_000, 'the resume to apply');
  await waitFor((t) => Number(document.querySelector('[data-testid=tick]').textContent.replace(/[^0-9]/g, '')) > t + 3, pausedAt, 5_000, 'ticks after resuming');
  check(true, 'resumed: the tick advances again');

  // 5. Move the income-tax slider: pending → applied at tick T, audit row, registry value.
  const box = await slider.boundingBox();
  await page.mouse.move(box.x + box.width * 0.22, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2, { steps: 5 });
  await page.mouse.move(box.x + box.width * 0.36, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  const wanted = Number(await slider.inputValue());
  check(Math.abs(wanted - 0.2) > 1e-9, `the slider moved to ${wanted}`);
  const statusSel = '[data-testid="status-government.income_tax_rate"]';
  await waitText(statusSel, /^Applied at tick \d+/, 5_000, 'the change to be applied');
  const applied = await page.textContent(statusSel);
  const appliedTick = Number(/tick (\d+)/.exec(applied)[1]);
  check(true, `the control says "${applied}"`);
  await waitFor((t) => [...document.querySelectorAll('[data-testid=audit-row][data-key="government.income_tax_rate"][data-source=server]')]
    .some((r) => r.textContent.includes(`applied at tick ${t}`)), appliedTick, 5_000, 'the audit row from /api/audit');
  check(true, `the audit log shows the change applied at tick ${appliedTick}`);
  const registry = await api(base, '/api/registry');
  const tax = registry.body.params.find((p) => p.key === 'government.income_tax_rate');
  check(Math.abs(tax.value - wanted) < 1e-9, `/api/registry shows government.income_tax_rate = ${tax.value}`);
  const audit = await api(base, '/api/audit?limit=20');
  check(audit.body.commands.some((c) => c.key === 'government.income_tax_rate' && c.success && c.applied_tick === appliedTick),
    '/api/audit records it');
  const ours = audit.body.commands.find((c) => c.key === 'government.income_tax_rate' && c.applied_tick === appliedTick);
  check(/^websocket 127\.0\.0\.1:\d+$/.test(ours.source), `the audit says who sent it: "${ours.source}"`);
  await sleep(300);
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-1280x800.png') });

  // 6. An out-of-range value typed in is rejected, explained, and snapped back.
  const number = page.locator('[data-testid="input-government.income_tax_rate"]');
  await number.fill('3');
  await number.press('Enter');
  await waitText(statusSel, /out of range/, 5_000, 'the rejection message');
  const rejected = await page.textContent(statusSel);
  check(/between 0 and 0\.9/.test(rejected), `the rejection is shown in words: "${rejected}"`);
  await number.blur();
  check(Math.abs(Number(await number.inputValue()) - wanted) < 1e-9, `the input snapped back to ${wanted}`);
  await waitFor(() => [...document.querySelectorAll('[data-testid=audit-row][data-key="government.income_tax_rate"][data-source=server]')]
    .some((r) => /rejected/.test(r.textContent)), null, 5_000, 'the rejected audit row');
  check(true, 'the audit log shows the rejection');
  const after = (await api(base, '/api/registry')).body.params.find((p) => p.key === 'government.income_tax_rate');
  check(Math.abs(after.value - wanted) < 1e-9, 'the registry kept the applied value');

  // 7. Window selector, agent view and screenshots at 1280×800 and 420 px.
  await page.click('[data-testid=window-2000]');
  check(await page.getAttribute('[data-testid=window-2000]', 'aria-pressed') === 'true', 'the 2,000-tick window is selected');
  await waitText('[data-testid=embedding-status]', /agents at tick \d+/, 20_000, 'the agent map');
  check(await page.locator('[data-testid=embedding-map] canvas').count() === 1, 'the agent map is drawn');
  const map = (await api(base, '/api/admin/embedding-map')).body;
  const counted = await page.$$eval('[data-testid^=map-legend-]', (els) => els.map((e) => Number(e.textContent.match(/: ([\d,]+) drawn$/)[1].replace(/,/g, ''))));
  check(counted.reduce((a, b) => a + b, 0) === map.points.length, `the map's legend counts the ${map.points.length} agents drawn (${counted.join(' + ')}), not the population`);
  check(await page.locator('[data-testid=dist-household_wealth] canvas').count() === 1, 'the wealth histogram is drawn');
  check(await page.locator('[data-testid=dist-household_income] canvas').count() === 1, 'the income histogram is drawn');
  check(await page.locator('[data-testid=dist-firm_size] canvas').count() === 1, 'the firm-size histogram is drawn');
  await page.click('[data-testid=window-200]');
  await sleep(300);
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-1280-full.png'), fullPage: true });
  await page.setViewportSize({ width: 420, height: 800 });
  await sleep(600);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  check(overflow <= 420, `nothing overflows a 420 px window (page width ${overflow})`);
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-420x800.png') });
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-420-full.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  log('screenshots saved in e2e/screenshots/');

  // 8. A dropped socket on the same run (debug builds can crash their server task on
  //    request; the app restarts it): the page reconnects by itself and fills the ticks
  //    it missed from /api/history, so the charts have no hole.
  const token = new URL(server.url).searchParams.get('token');
  await page.evaluate(() => {
    const badge = document.querySelector('[data-testid=conn-status]');
    window.__badges = [badge.textContent];
    new MutationObserver(() => window.__badges.push(badge.textContent)).observe(badge, { childList: true, characterData: true, subtree: true });
  });
  const beforeCrash = await page.evaluate(() => window.watchtower.store.lastTick);
  outage = { from: Date.now() };
  const crash = await fetch(new URL('/api/debug/crash', base), { method: 'POST', headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5_000) })
    .catch(() => ({ status: 0 }));
  if (crash.status === 202) {
    await waitFor(() => window.__badges.includes('Offline') && window.__badges.at(-1) === 'Online', null, 10_000, 'Offline then Online again');
    outage.to = Date.now();
    check(true, `after a dropped socket the badge went ${(await page.evaluate(() => window.__badges)).join(' → ')} by itself`);
    // The outage lasted 10+ ticks (20 ticks/s, over a second offline). Live frames carry
    // every ~2nd tick and may skip more on a loaded machine, so only a fill from
    // /api/history can put 10 consecutive ticks after the crash in the store.
    await waitFor((t) => {
      const { ticks, lastTick } = window.watchtower.store;
      const after = ticks.slice(Math.max(0, ticks.indexOf(t)));
      let run = 1;
      let longest = 1;
      for (let k = 1; k < after.length; k++) {
        run = after[k] - after[k - 1] === 1 ? run + 1 : 1;
        longest = Math.max(longest, run);
      }
      return ticks.includes(t) && lastTick > t + 20 && longest >= 10;
    }, beforeCrash, 5_000, 'the missed ticks to be filled from /api/history');
    check(true, `the ticks missed after ${beforeCrash} were filled from /api/history (no hole in the charts)`);
  } else {
    outage = null;
    log(`skipped the dropped-socket check: POST /api/debug/crash answered ${crash.status} (release build?)`);
  }

  // 9. Kill the server: Offline, by itself; restart it on the same port: Online again.
  outage = { from: Date.now() };
  const code = await stopServer(server.proc);
  check(code === 0, 'the server exits 0 on SIGTERM');
  await waitText('[data-testid=conn-status]', /^Offline$/, 5_000, 'the badge to say Offline');
  check(true, `the badge says Offline ${Date.now() - outage.from} ms after SIGTERM`);
  await waitText('[data-testid=conn-detail]', /reconnecting/, 3_000, 'the reconnect notice');
  check(true, `it says so: "${await page.textContent('[data-testid=conn-detail]')}"`);
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-offline.png') });
  await sleep(1_500);
  server = await startServer(port);
  const restarted = Date.now();
  await waitText('[data-testid=conn-status]', /^Online$/, 15_000, 'the badge to say Online again');
  outage.to = Date.now();
  check(true, `the badge is back to Online ${Date.now() - restarted} ms after the restart, without a reload`);
  await waitText('[data-testid=run]', /run #2/, 5_000, 'the new run');
  const tick2 = await tickNow();
  await waitFor((t) => Number(document.querySelector('[data-testid=tick]').textContent.replace(/[^0-9]/g, '')) > t, tick2, 5_000, 'the tick to advance after the restart');
  check(true, 'the new run streams: the tick advances again');
  await sleep(1_200);
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-reconnected.png') });

  // 10. Nothing went wrong along the way, and nothing left localhost.
  checkClean(offsite, problems);
  log(`(${excused} connection errors were logged while the server was down, as expected)`);
}

await harness('dashboard', 90_000, main, {
  page: () => page,
  context: () => context,
  tmp,
});
