// retention.test.mjs: what `--keep-ticks` thinned, beside the charts, in headless Chromium.
//
// Starts `watchtower serve` (target/debug/watchtower, or $WATCHTOWER_BIN) on a free port
// with a small economy at full speed, `--keep-ticks 500` and a checkpoint every 200 ticks,
// waits until /api/runs says older rows were thinned, opens the dashboard and checks that
// the note under the charts' title says it in the API's numbers ("ticks 0–N kept 1 in
// 100"), for the live run, and for `/?run=1` read back by `watchtower view` once the
// server has stopped. No console error,
// no failed request, nothing off localhost. Every wait is bounded; the run is capped at
// 60 s.
//
// Run: node e2e/retention.test.mjs  (or e2e/run.sh, which builds first)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  api, check, checkClean, harness, launch, prepare, sleep, startServer, startViewer, stopServer, watch, waiters,
} from './lib.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'watchtower-e2e-retention-'));
const dataDir = path.join(tmp, 'data');
let context;
let page;

async function main() {
  prepare(dataDir);
  const server = await startServer(['--bind', '127.0.0.1:0', '--data-dir', dataDir, '--households', '300', '--firms', '30',
    '--tick-rate', '0', '--embedding-sample', '0', '--keep-ticks', '500', '--checkpoint-every', '200']);
  const { url } = server;
  const base = new URL(url).origin;
  let thinned;
  for (let i = 0; i < 300 && !thinned; i++) {
    thinned = (await api(base, '/api/runs')).body.runs?.[0]?.thinned;
    if (!thinned) await sleep(50);
  }
  check(thinned?.every === 100, `/api/runs says older rows were thinned: ${JSON.stringify(thinned)}`);

  context = await launch(tmp);
  page = context.pages()[0] ?? await context.newPage();
  // The embedding map is switched off: its 404 is the server saying so.
  const { problems, offsite } = watch(page, (u) => u.includes('/api/admin/embedding-map'));
  const { waitText } = waiters(page);
  const note = /^Older history thinned: ticks 0–([\d,]+) kept 1 in 100 \(--keep-ticks\); every tick from there on is kept\.$/;
  await page.goto(url);
  await waitText('[data-testid=thinned-note]', note, 5_000, 'the live run\'s thinned note');
  const live = await page.textContent('[data-testid=thinned-note]');
  const last = Number(live.match(note)[1].replace(/,/g, ''));
  check(last + 1 >= thinned.before, `the live note is the API's (${live})`);

  // Stopped, and read back through the viewer: the recorded run says it too.
  check(await stopServer(server.proc) === 0, 'the server exits 0 on SIGTERM');
  const viewer = await startViewer(['--bind', '127.0.0.1:0', '--data-dir', dataDir]);
  await page.goto(`${new URL(viewer.url).origin}/?run=1`);
  await waitText('[data-testid=thinned-note]', note, 5_000, 'the recorded run\'s thinned note');
  check(true, `a recorded run says it too: ${await page.textContent('[data-testid=thinned-note]')}`);
  checkClean(offsite, problems);
  check(await stopServer(viewer.proc) === 0, 'the viewer exits 0 on SIGTERM');
}

await harness('retention', 60_000, main, {
  page: () => page,
  context: () => context,
  tmp,
});
