// SPDX-License-Identifier: Apache-2.0
// The diff with the real agent: the known-answer workload runs in a cgroup made here (one
// workload for kiln), first as `build/bench/workload --mix alpha=70,beta=30`, then, halfway, as
// `--mix alpha=30,beta=70` (a second process in the same cgroup: the cgroup's mix changes at
// a known time). `kiln agent` samples it, `kiln ui` reads the agent's ring; the page selects
// each half on the timeline (Set as A / Set as B), opens the diff, and alpha must be marked
// shrinking, beta growing, and the table's shares must give alpha / (alpha + beta) = 0.70
// in A and 0.30 in B (± 0.05: sampled; the rest of the workload's samples, clock reads and
// start-up, are in neither). Screenshot
// ui-agent-diff.png. Exits 77 when the kernel refuses the agent or cgroup2 is missing.
//
//   KILN=build/kiln KILN_BUILD=build node tests/browser/test_agent_diff.mjs
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';

import { build, fail, kiln, openPage, playwright, reportFailure, startLine } from './lib.mjs';

const chromiumApi = playwright();
const workload = process.env.KILN_WORKLOAD || path.join(build, 'bench/workload');
const ring = `uiinv-agent-${process.pid}`;
// Windows of 250 ms at 999 Hz: each half lasts until it has HALF_WINDOWS windows and
// MIN_SAMPLES samples (5 s on an idle CPU; longer when the machine is busy).
const HALF_WINDOWS = 20;
const MIN_SAMPLES = 1500;
const TOL = 0.05;

function cgroup2Root() {
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[2] === 'cgroup2') return f[1];
  }
  return null;
}

const root = cgroup2Root();
if (!root) {
  console.error('SKIP: cgroup2 is not mounted');
  process.exit(77);
}
const cgName = `kiln-uiinv-${process.pid}`;
const cg = path.join(root, cgName);

// Runs the workload with MIX inside the cgroup (the shell enters it, then becomes it).
function runWorkload(mix) {
  return spawn('sh', ['-c', `echo $$ > ${cg}/cgroup.procs && exec "$0" --mix "$1" --seconds 60`, workload, mix],
    { stdio: 'ignore' });
}

function exited(p) {
  return new Promise((resolve) => (p.exitCode !== null ? resolve() : p.on('exit', resolve)));
}

const procs = [];
let ctx;
let agentErr = '';
try {
  mkdirSync(cg);
} catch (e) {
  // Not root (the agent would need it too): nothing here can run.
  console.error(`SKIP: cannot make the cgroup ${cg}: ${e.message}`);
  process.exit(e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS' ? 77 : 1);
}
try {
  const agent = spawn(kiln, ['agent', '--ring', ring, '-F', '999', '--window-ms', '250'], { stdio: ['ignore', 'ignore', 'pipe'] });
  agent.stderr.on('data', (d) => { agentErr += d; });
  procs.push(agent);
  const ui = await startLine(kiln, ['ui', '--ring', ring, '--listen', '127.0.0.1:0'], /listening on (http:\/\/\S+)\//);
  procs.push(ui.p);
  const base = ui.m[1];
  let w = runWorkload('alpha=70,beta=30');
  procs.push(w);
  const errors = [];
  ctx = await openPage(chromiumApi, base, errors, build);
  const page = ctx.page;
  await page.goto(base + '/');
  const row = page.locator(`#workloads tr[data-id*="${cgName}"]`);
  try {
    await row.first().waitFor({ timeout: 30000 });
  } catch (e) {
    if (agent.exitCode !== null && /permission|not permitted|refus|BPF|perf_event/i.test(agentErr)) {
      console.error('SKIP: the kernel refused the agent: ' + agentErr.trim());
      process.exitCode = 77;
      throw new Error('skip');
    }
    fail(`the workload in ${cgName} never showed up (agent: ${agentErr.trim()})`);
  }
  const wid = await row.first().getAttribute('data-id');
  await row.first().click();
  await page.locator('#enable').click();
  await page.locator('#disable').waitFor({ state: 'visible' });
  // Enough samples for the ratio (binomial sd ~0.012 at 1,500), however busy the machine.
  const busy = (from) => page.waitForFunction(([n, f, m]) => {
    const w = window.kiln.timeline().windows.filter((x) => x.t >= f && x.samples > 0);
    return w.length >= n && w.reduce((a, x) => a + x.samples, 0) >= m;
  }, [HALF_WINDOWS, from, MIN_SAMPLES], { timeout: 150000, polling: 200 });
  await busy(0);
  // Halfway: the 70/30 process ends, the 30/70 one starts in the same cgroup.
  w.kill('SIGTERM');
  await exited(w);
  const switchMs = Date.now();
  w = runWorkload('alpha=30,beta=70');
  procs.push(w);
  await busy(switchMs + 500);
  w.kill('SIGTERM');
  await exited(w);
  // Stop the agent (it flushes its last window): the slot stops changing. Two page refreshes
  // later the page shows all of it.
  agent.kill('SIGTERM');
  await exited(agent);
  const n0 = (await page.evaluate(() => window.kiln.timing())).n;
  await page.waitForFunction((n) => window.kiln.timing().n >= n + 2, n0, { timeout: 30000, polling: 100 });

  // Drag each half on the timeline, leaving the windows around the switch out.
  const tl = await page.locator('#timeline').boundingBox();
  const span = (await page.evaluate(() => window.kiln.timeline())).span;
  const xOf = (t) => tl.x + Math.min(Math.max((t - span.t0) / (span.t1 - span.t0), 0), 1) * tl.width;
  const drag = async (t0, t1) => {
    await page.mouse.move(xOf(t0), tl.y + 30);
    await page.mouse.down();
    await page.mouse.move(xOf(t1), tl.y + 30, { steps: 6 });
    await page.mouse.up();
    try {
      await page.waitForFunction((f) => { const r = window.kiln.timeline().range; return r && Math.abs(r.from - f) < 200; },
        t0, { timeout: 30000 });
    } catch (e) {
      fail(`drag ${t0}..${t1} (x ${xOf(t0)}..${xOf(t1)}, timeline ${JSON.stringify(tl)}): range ` +
        JSON.stringify(await page.evaluate(() => { const t = window.kiln.timeline(); return { range: t.range, span: t.span }; })));
    }
  };
  await drag(span.t0 + 1, switchMs - 300);
  await page.locator('#set-a').click();
  await drag(switchMs + 500, span.t1 - 1);
  await page.locator('#set-b').click();
  await page.locator('#diff-open').click();
  const alphaRow = page.locator('#symbols tbody tr[data-name="alpha"]');
  await alphaRow.waitFor({ timeout: 30000 });
  const r = await alphaRow.evaluate((tr) => ({ cls: tr.className, c: [...tr.cells].map((c) => c.textContent) }));
  const [, a, b, d] = r.c.map((x) => parseFloat(x));
  const betaRow = await page.locator('#symbols tbody tr[data-name="beta"]').evaluate((tr) =>
    ({ cls: tr.className, c: [...tr.cells].map((c) => parseFloat(c.textContent)) }));
  const ra = a / (a + betaRow.c[1]), rb = b / (b + betaRow.c[2]);
  const sides = await page.evaluate(() => window.kiln.diff());
  await page.mouse.move(0, 0);
  await page.screenshot({ path: path.join(build, 'ui-agent-diff.png'), fullPage: true });
  console.log(`agent diff of ${wid}: A ${sides.a.total} samples in ${sides.a.windows} windows, ` +
    `B ${sides.b.total} in ${sides.b.windows}; alpha self ${a} % -> ${b} % (${d} points), ` +
    `beta ${betaRow.c[1]} % -> ${betaRow.c[2]} %; alpha / (alpha + beta) ${ra.toFixed(3)} -> ${rb.toFixed(3)}`);
  if (r.cls !== 'shrank') fail('alpha not marked shrinking: ' + JSON.stringify(r));
  if (betaRow.cls !== 'grew') fail('beta not marked growing: ' + JSON.stringify(betaRow));
  if (Math.abs(ra - 0.7) > TOL || Math.abs(rb - 0.3) > TOL) fail(`alpha / (alpha + beta) ${ra} -> ${rb}, expected 0.70 -> 0.30 ± ${TOL}`);
  if (errors.length) fail('page errors: ' + errors.join('; '));
  console.log('agent diff browser test ok');
} catch (e) {
  reportFailure(e);
} finally {
  if (ctx) await ctx.context.close();
  for (const p of procs.reverse()) {
    if (p.exitCode === null) {
      p.kill('SIGTERM');
      await exited(p);
    }
  }
  if (ctx) rmSync(ctx.userDir, { recursive: true, force: true });
  if (existsSync(cg)) {
    try { rmdirSync(cg); } catch (e) { console.error(`could not remove ${cg}: ${e.message}`); }
  }
  for (const s of ['', '.cons']) rmSync(`/dev/shm/kiln-${ring}${s}`, { force: true });
}
