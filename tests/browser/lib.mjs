// SPDX-License-Identifier: Apache-2.0
// Helpers of the investigation browser tests: find Chromium and playwright-core (skip or
// fail with the reason), start processes and wait for a line, launch a headless page that
// may load nothing but the UI.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const here = path.dirname(new URL(import.meta.url).pathname);
export const build = process.env.KILN_BUILD || path.join(here, '../../build');
export const kiln = process.env.KILN || path.join(build, 'kiln');
export const feedBin = path.join(build, 'tests/ui/ui_feed');
export const chromium = process.env.KILN_CHROMIUM || '/usr/bin/chromium';

export function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exitCode = 1;
  throw new Error(msg);
}

// A test's catch: says why it failed unless fail() already did, and sets the exit code.
export function reportFailure(e) {
  if (!process.exitCode) {
    console.error('FAIL: ' + (e.stack || e));
    process.exitCode = 1;
  }
}

// A test's finally: closes the page opened by openPage (CTX may be undefined), stops PROCS
// (newest first) and removes the browser's profile directory.
export async function closeAll(ctx, procs) {
  if (ctx) await ctx.context.close();
  for (const p of procs.reverse()) p.kill('SIGTERM');
  if (ctx) rmSync(ctx.userDir, { recursive: true, force: true });
}

// Exits 77 without Chromium; 1 without playwright-core (an install step was missed).
export function playwright() {
  if (!existsSync(chromium)) {
    console.error(`SKIP: no Chromium at ${chromium} (apt-get install chromium)`);
    process.exit(77);
  }
  try {
    return createRequire(import.meta.url)('playwright-core').chromium;
  } catch (e) {
    console.error('FAIL: playwright-core is missing: run `npm ci` in tests/browser');
    process.exit(1);
  }
}

// Starts CMD; resolves with {p, m, lines} at the first stdout line matching RE. Later
// lines go on to ONLINE (if given).
export function startLine(cmd, args, re, opts = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...(opts.env || {}) } });
    const rl = readline.createInterface({ input: p.stdout });
    let done = false;
    const timer = setTimeout(() => reject(new Error(`${cmd}: no line matching ${re}`)), opts.timeout || 15000);
    rl.on('line', (line) => {
      if (done) {
        if (opts.online) opts.online(line);
        return;
      }
      const m = line.match(re);
      if (m) {
        done = true;
        clearTimeout(timer);
        resolve({ p, m });
      }
    });
    p.on('exit', (code) => { if (!done) reject(new Error(`${cmd} exited with ${code}`)); });
  });
}

// A headless page that may load only BASE; page errors and outside requests are collected
// into ERRORS.
export async function openPage(chromiumApi, base, errors, downloadsPath) {
  const userDir = mkdtempSync(path.join(tmpdir(), 'kiln-chromium-'));
  const context = await chromiumApi.launchPersistentContext(userDir, {
    executablePath: chromium,
    headless: true,
    acceptDownloads: true,
    downloadsPath,
    viewport: { width: 1400, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.route('**/*', (route) =>
    route.request().url().startsWith(base) ? route.continue() : (errors.push('external: ' + route.request().url()), route.abort()));
  return { context, page, userDir };
}

// Starts `kiln ui` on RING (pushed on PROCS; UIENV added to its environment), opens its page
// (openPage, errors into ERRORS) and enables workload WID there. Returns {base, ctx}; the
// caller closes ctx (closeAll). Should enabling fail, the page is closed before the throw.
export async function startUiPage(chromiumApi, ring, wid, procs, errors, uiEnv) {
  const ui = await startLine(kiln, ['ui', '--ring', ring, '--listen', '127.0.0.1:0'], /listening on (http:\/\/\S+)\//,
    { env: uiEnv });
  procs.push(ui.p);
  const base = ui.m[1];
  const ctx = await openPage(chromiumApi, base, errors, build);
  try {
    await openAndEnable(ctx.page, base, wid);
  } catch (e) {
    await closeAll(ctx, []);
    throw e;
  }
  return { base, ctx };
}

// Opens workload WID from the list and enables its slot.
export async function openAndEnable(page, base, wid) {
  await page.goto(base + '/');
  const row = page.locator(`#workloads tr[data-id="${wid}"]`);
  await row.waitFor({ timeout: 15000 });
  await row.click();
  await page.locator('#profile-view').waitFor({ state: 'visible' });
  await page.locator('#enable').click();
  await page.locator('#disable').waitFor({ state: 'visible' });
}
