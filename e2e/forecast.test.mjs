// forecast.test.mjs: end-to-end test of the live effect forecast in headless Chromium
// (issue 24, item 3).
//
// Starts its own `watchtower serve` in a temporary directory and checks: "What if…"
// drafts a tax rise; "Forecast the effect" (10 pairs of 150 ticks) starts a forecast in
// the background (POST /api/runs/1/forecast) while the run goes on ticking; the panel
// under the charts says its progress, then shows the effect table with the numbers of
// GET /api/forecasts/{id} (each indicator, effect, interval, unit) and one fan per
// chart's indicator, drawn (its legend names the pairs, its canvas holds the band's
// colour); a second forecast while one runs is refused in words; the draft stays open
// and "Start branch" still starts the single live branch. No console error, no request
// off localhost. The screenshot goes to docs/images/whatif-forecast.png. Bounded at 90 s.
//
// Run: node e2e/forecast.test.mjs  (or e2e/run.sh, which builds first)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ROOT, api, check, checkClean, freePort, harness, launch, prepare, sleep, startServer, stopServer, waiters, watch,
} from './lib.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'watchtower-forecast-'));
const dataDir = path.join(tmp, 'data');
let context;
let page;

const TAX = 'government.income_tax_rate';

async function main() {
  prepare(dataDir);
  const port = await freePort();
  const server = await startServer(['--bind', `127.0.0.1:${port}`, '--data-dir', dataDir, '--households', '1000', '--firms', '100', '--embedding-sample', '0']);
  const base = `http://127.0.0.1:${port}/`;
  context = await launch(tmp);
  page = context.pages()[0] ?? (await context.newPage());
  await page.setViewportSize({ width: 1280, height: 1400 });
  const noMap = (url, status) => status === 404 && url.includes('/api/admin/embedding-map'); // --embedding-sample 0
  const { problems, offsite } = watch(page, noMap);
  const { waitFor, waitText } = waiters(page);
  const token = new URL(server.url).searchParams.get('token');
  const post = (pathname, body) => api(base, pathname, {
    method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });

  await page.goto(server.url, { timeout: 10_000 });
  await waitText('[data-testid=conn-status]', /^Online$/, 10_000, 'the badge to say Online');
  await waitFor(() => document.querySelector('[data-testid=readonly-note]').hidden, null, 5_000, 'the controls to be writable');

  // Draft a tax rise, then forecast it.
  await page.click('[data-testid=whatif-start]');
  const input = page.locator(`[data-testid="input-${TAX}"]`);
  await input.fill('0.3');
  await input.press('Enter');
  await waitText(`[data-testid="status-${TAX}"]`, /^What if: 0\.2 → 0\.3/, 3_000, 'the drafted change');
  await page.fill('[data-testid=whatif-seeds]', '10');
  await page.fill('[data-testid=whatif-ticks]', '150');
  const tickBefore = (await api(base, '/api/snapshot')).body.tick;
  await page.click('[data-testid=whatif-forecast]');
  await waitText('[data-testid=whatif-message]', /Forecast started/, 10_000, 'the forecast to start');
  check(true, `the forecast started: "${await page.textContent('[data-testid=whatif-message]')}"`);

  // One at a time: a second one is refused in words while the first runs.
  const second = await post('/api/runs/1/forecast', { set: { [TAX]: 0.3 } });
  const first = await api(base, '/api/forecasts/1');
  if (first.body.state === 'running') {
    check(second.status === 409 && /one forecast at a time/.test(second.body.error), `a second forecast is refused while one runs (${second.status}: ${second.body.error})`);
  }
  const tooMany = await post('/api/runs/1/forecast', { seeds: 500 });
  check(tooMany.status === 400 && /between 2 and 50 seeds/.test(tooMany.body.error), `500 seeds are refused (${tooMany.body.error})`);

  await waitFor(() => document.querySelector('[data-testid=forecast]')?.dataset.state === 'done', null, 60_000, 'the forecast to finish');
  const done = (await api(base, '/api/forecasts/1')).body;
  check(done.state === 'done' && done.forecast.seeds.length === 10, `the forecast ran 10 pairs in ${done.elapsed_ms} ms`);
  const tickAfter = (await api(base, '/api/snapshot')).body.tick;
  check(tickAfter > tickBefore + 10, `the live run kept ticking meanwhile (tick ${tickBefore} → ${tickAfter})`);

  // The table: every effect the server computed, with its interval and unit.
  const rows = await page.evaluate(() => [...document.querySelectorAll('[data-testid=forecast-table] tbody tr')]
    .map((tr) => ({ indicator: tr.dataset.indicator, cells: [...tr.children].map((td) => td.textContent) })));
  check(rows.length === done.forecast.effects.length, `the table has a row per indicator (${rows.length})`);
  const read = (text) => Number(text.replace(/[+,]/g, ''));
  const close = (shown, x) => Math.abs(shown - x) <= 1e-3 * Math.max(1, Math.abs(x));
  for (const e of done.forecast.effects) {
    const row = rows.find((r) => r.indicator === e.indicator);
    const [lo, hi] = row.cells[2].replace(/[[\]]/g, '').split(', ').map(read);
    check(row.cells[0] === e.label && close(read(row.cells[1]), e.effect) && close(lo, e.lo) && close(hi, e.hi) && row.cells[3] === e.unit,
      `${e.label}: ${row.cells[1]} ${row.cells[2]} ${row.cells[3]} (the server: ${e.effect.toPrecision(4)} [${e.lo.toPrecision(4)}, ${e.hi.toPrecision(4)}])`);
  }
  const unemployment = done.forecast.effects.find((e) => e.indicator === 'unemployment_rate');
  check(unemployment.unit === 'percentage points', 'an unemployment effect is in percentage points');

  // A fan per chart's indicator, drawn.
  const fans = await page.evaluate(() => [...document.querySelectorAll('[data-testid^=forecast-fan-]')].map((el) => {
    const canvas = el.querySelector('canvas');
    const ctx = canvas?.getContext('2d');
    let band = 0;
    if (ctx) {
      const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
      for (let i = 0; i < data.length; i += 4) {
        // The effect's colour (#7c3aed), its line or its translucent band.
        if (data[i + 3] > 0 && data[i + 2] > data[i + 1] + 60 && data[i] > data[i + 1]) band += 1;
      }
    }
    return { id: el.dataset.testid, legend: el.querySelector('.u-legend')?.textContent ?? '', band };
  }));
  check(fans.length === done.forecast.bands.length, `a fan per indicator (${fans.length})`);
  check(fans.every((f) => /effect: mean of 10 pairs/.test(f.legend)), 'each fan\'s legend names its 10 pairs');
  check(fans.every((f) => f.band > 50), `each fan draws its mean and band (${Math.min(...fans.map((f) => f.band))} pixels at least)`);
  // The docs' picture: the table and the first fans, without the sticky toolbar over them.
  const clip = await page.evaluate(() => {
    document.querySelector('.toolbar').style.position = 'static';
    const r = document.querySelector('[data-testid=forecast]').getBoundingClientRect();
    return { x: r.x, y: r.y + window.scrollY, width: r.width, height: Math.min(r.height, 1150) };
  });
  await sleep(300);
  const images = path.join(ROOT, 'docs', 'images');
  fs.mkdirSync(images, { recursive: true });
  await page.screenshot({ path: path.join(images, 'whatif-forecast.png'), fullPage: true, clip });

  // The single live branch is still there to start from the same draft.
  await page.click('[data-testid=whatif-go]');
  await waitFor(() => document.querySelector('[data-testid=run-chip-2]') != null, null, 10_000, 'the branch to appear in the run bar');
  check(true, 'the draft still starts the single live branch');

  // Issue 24, item 4: each of the branch's series has its own shade and dash, which the
  // legend's markers show, and a line in the branch's colour marks its fork tick.
  await waitFor(() => window.watchtower.charts.plot('output')?.series.length === 5 && window.watchtower.charts.plot('output').data[3]?.some((v) => v != null), null, 10_000, 'the branch on the charts');
  await sleep(500);
  const marks = await page.evaluate(() => {
    const u = window.watchtower.charts.plot('output');
    const markers = [...document.querySelectorAll('[data-testid=chart-output] .u-legend .u-marker')].map((m) => m.style.borderStyle);
    const fork = window.watchtower.runs.info(2).forkTick;
    const x = Math.round(u.valToPos(fork, 'x', true));
    const { data } = u.ctx.getImageData(x, u.bbox.top, 1, u.bbox.height);
    let pink = 0; // the first branch's colour, #d6336c
    for (let i = 0; i < data.length; i += 4) if (data[i] > 180 && data[i + 1] < 110 && data[i + 2] > 70 && data[i + 2] < 150) pink += 1;
    return { strokes: [u.series[3].stroke(u, 3), u.series[4].stroke(u, 4)], markers, fork, pink };
  });
  check(marks.strokes[0] !== marks.strokes[1], `the branch's two series differ in colour (${marks.strokes.join(', ')})`);
  check(marks.markers.slice(3).every((m) => m === 'dashed' || m === 'dotted') && marks.markers[3] !== marks.markers[4], `the legend's markers show each branch series' dash (${marks.markers.slice(1).join(', ')})`);
  check(marks.pink > 10, `a line in the branch's colour marks its fork, tick ${marks.fork} (${marks.pink} pixels)`);

  checkClean(offsite, problems);
  check(await stopServer(server.proc) === 0, 'the server exits 0 on SIGTERM');
}

await harness('forecast', 90_000, main, {
  page: () => page,
  context: () => context,
  tmp,
});
