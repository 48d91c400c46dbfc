// SPDX-License-Identifier: Apache-2.0
// The investigation features of the kiln ui page in headless Chromium, on a workload whose
// mix changes from alpha=70,beta=30 to alpha=30,beta=70 halfway (tests/ui/ui_feed through a
// real shm ring, switched by SIGUSR1 once the slot holds windows, so the switch time is
// known to the millisecond):
//
//   1. drag a range on the timeline: the flame graph shows those windows only (70/30);
//   2. Set as A / Set as B / Diff of the two halves: alpha marked shrinking, shares right;
//   3. the sandwich of `shared`, called from `left` and from `right`;
//   4. download pprof, open it with Go pprof (KILN_PPROF; skipped with a message if unset);
//   5. screenshots in the build tree: ui-investigate-{all,range,diff,sandwich}.png.
//
//   KILN=build/kiln KILN_BUILD=build [KILN_PPROF=/tmp/pprof] node tests/browser/test_investigate.mjs
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';

import { build, closeAll, fail, feedBin, playwright, reportFailure, startLine, startUiPage } from './lib.mjs';

const chromiumApi = playwright();
const ring = `uiinv-browser-${process.pid}`;
const wid = 'unit/alpha-beta.service';
const shot = (name) => path.join(build, `ui-investigate-${name}.png`);
// Per window: alpha+beta 1000 samples, shared 200 (left) + 100 (right): 1300 in all.
const WINDOW = 1300;

const procs = [];
let ctx;
const lines = [];
try {
  const feed = await startLine(feedBin, ['--ring', ring, '--key', wid, '--name', 'alpha-beta.service',
    '--mix', 'alpha=70,beta=30', '--mix-after', 'usr1:alpha=30,beta=70', '--shared', '--interval-ms', '100'],
  /^window/, { online: (l) => lines.push(l) });
  procs.push(feed.p);
  const errors = [];
  ({ ctx } = await startUiPage(chromiumApi, ring, wid, procs, errors));
  const page = ctx.page;

  // 20 windows of 70/30 in the slot, then the switch, then 20 windows of 30/70.
  await page.waitForFunction(() => window.kiln.timeline().windows.length >= 20, null, { timeout: 30000, polling: 100 });
  feed.p.kill('SIGUSR1');
  const deadline = Date.now() + 10000;
  while (!lines.some((l) => l.startsWith('switch ')) && Date.now() < deadline)
    await page.waitForTimeout(50); // polls the feed's output, bounded
  const sw = lines.find((l) => l.startsWith('switch '));
  if (!sw) fail('ui_feed did not switch its mix');
  const switchMs = Number(sw.split(' ')[1]);
  await page.waitForFunction((s) => window.kiln.timeline().windows.filter((w) => w.t >= s).length >= 20,
    switchMs, { timeout: 30000, polling: 100 });
  // Stop the feed: the slot's content stops changing while we look at it. Two page refreshes
  // later the page's timeline holds every window (its scale no longer moves).
  feed.p.kill('SIGTERM');
  await new Promise((resolve) => (feed.p.exitCode !== null ? resolve() : feed.p.on('exit', resolve)));
  const n0 = (await page.evaluate(() => window.kiln.timing())).n;
  await page.waitForFunction((n) => window.kiln.timing().n >= n + 2, n0, { timeout: 30000, polling: 100 });
  await page.locator('#reset').click();
  await page.waitForFunction(() => window.kiln.frames().some((f) => f.name === 'alpha'));
  const ratio = (frames) => {
    const a = frames.find((f) => f.name === 'alpha'), b = frames.find((f) => f.name === 'beta');
    return a && b ? a.w / (a.w + b.w) : NaN;
  };
  const allRatio = ratio(await page.evaluate(() => window.kiln.frames()));
  await page.screenshot({ path: shot('all'), fullPage: true });

  // 1. Drag the first half on the timeline.
  const tl = await page.locator('#timeline').boundingBox();
  const span = (await page.evaluate(() => window.kiln.timeline())).span;
  const xOf = (t) => tl.x + (t - span.t0) / (span.t1 - span.t0) * tl.width;
  const drag = async (t0, t1) => {
    await page.mouse.move(xOf(t0), tl.y + 30);
    await page.mouse.down();
    await page.mouse.move((xOf(t0) + xOf(t1)) / 2, tl.y + 30, { steps: 4 });
    await page.mouse.move(xOf(t1), tl.y + 30, { steps: 4 });
    await page.mouse.up();
  };
  // Windows start every ~100 ms: 50 ms either side of the switch separates the halves.
  await drag(span.t0 + 1, switchMs - 50);
  await page.waitForFunction(() => window.kiln.timeline().range !== null);
  await page.waitForFunction((r0) => {
    const f = window.kiln.frames();
    const a = f.find((x) => x.name === 'alpha'), b = f.find((x) => x.name === 'beta');
    return a && b && Math.abs(a.w / (a.w + b.w) - r0) > 0.1;
  }, allRatio, { timeout: 10000, polling: 100 });
  const rangeRatio = ratio(await page.evaluate(() => window.kiln.frames()));
  // Expected from the windows the range holds (70/30 before the switch, 30/70 after).
  const tlA = await page.evaluate(() => window.kiln.timeline());
  const wsA = tlA.windows.filter((w) => w.t >= tlA.range.from && w.t < tlA.range.to);
  const oldA = wsA.filter((w) => w.t < switchMs).length;
  const wantRatio = (oldA * 0.7 + (wsA.length - oldA) * 0.3) / wsA.length;
  if (oldA < 15 || Math.abs(rangeRatio - wantRatio) > 0.01)
    fail(`first half: alpha/(alpha+beta) ${rangeRatio}, expected ${wantRatio.toFixed(3)} (${oldA} of ${wsA.length} windows before the switch)`);
  const rangeInfo = await page.locator('#wl-info').innerText();
  await page.screenshot({ path: shot('range'), fullPage: true });
  console.log(`range: all windows alpha ratio ${allRatio.toFixed(3)} -> first half ${rangeRatio.toFixed(3)} (${rangeInfo})`);

  // 2. A = first half, B = second half, Diff. The shares expected are those of the windows
  // each range really holds (a window belongs to a range when its start is in it): windows
  // starting before the switch are 70/30, the others 30/70. A drag's ends land on pixels, so
  // the test does not assume where they fall; it requires only that B is mostly new windows.
  const rangeA = (await page.evaluate(() => window.kiln.timeline())).range;
  await page.locator('#set-a').click();
  await drag(switchMs - 50, span.t1 - 1);
  await page.waitForFunction((s) => { const r = window.kiln.timeline().range; return r && r.from > s - 100; }, switchMs);
  const tlB = await page.evaluate(() => window.kiln.timeline());
  const rangeB = tlB.range;
  const alphaShare = (r) => {
    const ws = tlB.windows.filter((w) => w.t >= r.from && w.t < r.to);
    const old = ws.filter((w) => w.t < switchMs).length;
    return { n: ws.length, old, pct: 100 * (old * 700 + (ws.length - old) * 300) / (ws.length * WINDOW) };
  };
  const inA = alphaShare(rangeA), inB = alphaShare(rangeB);
  if (inB.n - inB.old < 15 || inA.old < 15)
    fail(`ranges: A holds ${inA.old} of ${inA.n} windows before the switch, B ${inB.n - inB.old} of ${inB.n} after`);
  await page.locator('#set-b').click();
  await page.locator('#diff-open').click();
  const alphaRow = page.locator('#symbols tbody tr[data-name="alpha"]');
  await alphaRow.waitFor({ timeout: 10000 });
  const cells = await alphaRow.evaluate((tr) => ({ cls: tr.className, c: [...tr.cells].map((c) => c.textContent) }));
  const [, aSelf, bSelf, dSelf] = cells.c.map((t) => parseFloat(t));
  const wantA = inA.pct, wantB = inB.pct;
  if (cells.cls !== 'shrank') fail('alpha row not marked shrinking: ' + JSON.stringify(cells));
  if (Math.abs(aSelf - wantA) > 0.5 || Math.abs(bSelf - wantB) > 0.5 || Math.abs(dSelf - (wantB - wantA)) > 0.5)
    fail(`diff shares of alpha ${aSelf} -> ${bSelf} (${dSelf}), expected ${wantA.toFixed(2)} -> ${wantB.toFixed(2)}`);
  const betaCls = await page.locator('#symbols tbody tr[data-name="beta"]').getAttribute('class');
  if (betaCls !== 'grew') fail('beta row not marked growing: ' + betaCls);
  const diffFrames = await page.evaluate(() => window.kiln.frames());
  const da = diffFrames.find((f) => f.name === 'alpha');
  if (!da || !(da.total_b < da.total)) fail('alpha frame of the diff: ' + JSON.stringify(da));
  await page.mouse.move(0, 0);
  await page.screenshot({ path: shot('diff'), fullPage: true });
  console.log(`diff: alpha self ${aSelf} % -> ${bSelf} % (${dSelf} points), expected ${wantA.toFixed(2)} -> ${wantB.toFixed(2)} (A: ${inA.old} of ${inA.n} windows before the switch, B: ${inB.n - inB.old} of ${inB.n} after)`);
  await page.locator('#diff-close').click();
  await page.locator('#range-clear').click();

  // 3. The sandwich of `shared`: callers left (2/3) and right (1/3, via a Python frame),
  // callee the kernel's __x64_sys_read.
  const swButton = page.locator('#symbols tbody tr', { hasText: /^shared/ }).locator('button.sw');
  await swButton.first().click();
  await page.locator('#sandwich').waitFor({ state: 'visible' });
  await page.waitForFunction(() => window.kiln.sandwich() && window.kiln.sandwich().callers.length > 3);
  const sw2 = await page.evaluate(() => window.kiln.sandwich());
  const left = sw2.callers.find((f) => f.name === 'left'), right = sw2.callers.find((f) => f.name === 'right');
  const py = sw2.callers.find((f) => f.name === 'app.py:handler');
  const kern = sw2.callees.find((f) => f.name === '__x64_sys_read');
  if (!left || !right || !py || !kern) fail('sandwich frames: ' + JSON.stringify(sw2));
  if (Math.abs(left.w / (left.w + right.w) - 2 / 3) > 0.01) fail(`callers left/right ${left.w} / ${right.w}`);
  if (py.kind !== 'python' || kern.kind !== 'kernel') fail(`kinds ${py.kind} ${kern.kind}`);
  await page.locator('#sandwich').scrollIntoViewIfNeeded();
  await page.screenshot({ path: shot('sandwich'), fullPage: true });
  console.log(`sandwich of shared: callers left ${left.total}, right ${right.total}; callee ${kern.name} [${kern.kind}]`);

  // 4. Download pprof and open it with Go pprof.
  const [dl] = await Promise.all([page.waitForEvent('download'), page.locator('#dl-pprof').click()]);
  const file = path.join(build, 'ui-investigate.pb.gz');
  await dl.saveAs(file);
  if (statSync(file).size < 100) fail('pprof download too small');
  const pprof = process.env.KILN_PPROF;
  if (pprof && existsSync(pprof)) {
    const top = execFileSync(pprof, ['-top', '-nodecount=20', file], { encoding: 'utf8' });
    if (!/\balpha\b/.test(top) || !/\bbeta\b/.test(top) || !/__x64_sys_read/.test(top)) fail('go pprof -top: ' + top);
    console.log('go pprof opened the download:\n' + top.split('\n').slice(0, 12).join('\n'));
  } else {
    console.log('SKIP (step 4 only): KILN_PPROF is not set: the pprof download was not opened with Go pprof');
  }
  if (errors.length) fail('page errors: ' + errors.join('; '));
  console.log('investigation browser test ok; screenshots ' + shot('*'));
} catch (e) {
  reportFailure(e);
} finally {
  await closeAll(ctx, procs);
}
