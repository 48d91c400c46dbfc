// SPDX-License-Identifier: Apache-2.0
// kiln ui: workloads list, slot control, canvas flame graph and symbols table. No
// dependencies: the page is served from the kiln binary and must work offline.
'use strict';

const REFRESH_MS = 2000;
const $ = (sel) => document.querySelector(sel);
const F = window.KilnFlame; // flame.js

const state = {
  id: null, // workload being viewed
  enabled: false,
  tree: null,
  total: 0,
  zoomPath: [], // names from the root's child down to the zoomed node
  search: '',
  sort: 'self',
  rects: [], // drawn frames, for hit testing: {x, y, w, node, path}
  timer: null,
  range: null, // {from, to} in ms since the epoch: the windows shown, null = all
  timeline: [], // [{t, d, samples}]
  drag: null, // timeline drag: {x0, x1}
  diff: null, // {a, b, ta, tb, tree, symbols} while a diff is shown
  sandwich: null, // {name, callers, callees, total}
  timing: null, // last render: {fetch_ms, draw_ms, frames, nodes}
  symbols: [], // rows of the symbols table on screen
  loading: false, // a refresh is in flight
  reload: false, // another refresh was asked for meanwhile
};

// X-Kiln-Request proves a state change comes from this page: a page of another site cannot
// send it without a CORS preflight, which kiln ui never grants.
async function api(method, path) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-Kiln-Request'] = '1';
  const r = await fetch(path, { method, headers, credentials: 'same-origin' });
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) throw new Error((body && body.error) || r.status + ' ' + r.statusText);
  return body;
}

const slotPath = (id) => '/api/slots/' + encodeURIComponent(id);
const fmt = (n) => n.toLocaleString('en-US');
const fmtTime = (ms) => new Date(ms).toLocaleTimeString('en-GB', { hour12: false }) + '.' + String(ms % 1000).padStart(3, '0');
const pct = (n, of) => (of ? (100 * n / of).toFixed(2) : '0.00') + ' %';

function setStatus(text) { $('#status').textContent = text; }

// Workloads list ---------------------------------------------------------------------------

async function loadWorkloads() {
  let list;
  try {
    list = await api('GET', '/api/workloads');
  } catch (e) {
    setStatus('error: ' + e.message);
    return [];
  }
  setStatus('updated ' + new Date().toLocaleTimeString());
  const tbody = $('#workloads tbody');
  tbody.replaceChildren();
  for (const w of list) {
    const tr = document.createElement('tr');
    tr.className = 'click';
    tr.dataset.id = w.id;
    const cells = [w.name || w.id, w.kind || '', w.id, w.rate.toFixed(1)];
    cells.forEach((c, i) => {
      const td = document.createElement('td');
      td.textContent = c;
      if (i === 2) td.className = 'name';
      if (i === 3) td.className = 'num';
      tr.appendChild(td);
    });
    const td = document.createElement('td');
    const pill = document.createElement('span');
    pill.className = 'pill' + (w.slot ? ' on' : '');
    pill.textContent = w.slot ? 'enabled' : 'off';
    td.appendChild(pill);
    tr.appendChild(td);
    const open = document.createElement('td');
    open.innerHTML = '<button type="button">Open</button>';
    tr.appendChild(open);
    tr.addEventListener('click', () => openWorkload(w.id, w.name || w.id, w.slot));
    tbody.appendChild(tr);
  }
  $('#no-workloads').hidden = list.length > 0;
  return list;
}

function showList() {
  state.id = null;
  location.hash = '';
  $('#profile-view').hidden = true;
  $('#workloads-view').hidden = false;
  schedule(loadWorkloads);
}

// Profiling view ---------------------------------------------------------------------------

function openWorkload(id, name, enabled) {
  state.id = id;
  state.enabled = enabled;
  state.tree = null;
  state.zoomPath = [];
  state.range = null;
  state.diff = null;
  state.sandwich = null;
  location.hash = encodeURIComponent(id);
  $('#wl-title').textContent = name;
  $('#workloads-view').hidden = true;
  $('#profile-view').hidden = false;
  updateButtons();
  updateRange();
  draw();
  renderSymbols([]);
  schedule(refreshProfile);
}

function updateButtons() {
  $('#enable').hidden = state.enabled;
  $('#clear').hidden = !state.enabled;
  $('#disable').hidden = !state.enabled;
  $('#flame-empty').textContent = state.enabled
    ? 'Waiting for samples…'
    : 'Profiling is off for this workload: click Enable profiling to start collecting.';
}

// The query of the selected range ("" for all windows).
function rangeQuery(sep) {
  if (!state.range) return '';
  return sep + 'from=' + state.range.from + '&to=' + state.range.to;
}

// "ID" or "ID@FROM..TO": the diff operand of the current view (see docs/ui.md).
function rangeSpec() {
  return state.id + (state.range ? '@' + state.range.from + '..' + state.range.to : '');
}

function updateRange() {
  $('#range-info').textContent = state.range
    ? 'range ' + fmtTime(state.range.from) + ' – ' + fmtTime(state.range.to)
    : 'all windows (drag on the timeline to select a range)';
  $('#range-clear').hidden = !state.range;
  for (const f of ['pprof', 'folded', 'otlp']) {
    if (state.id) $('#dl-' + f).href = slotPath(state.id) + '/profile?format=' + f + rangeQuery('&');
  }
}

async function refreshProfile() {
  if (!state.id || !state.enabled) return;
  // A big slot can take longer to rebuild than the refresh period: never pile requests up.
  if (state.loading) {
    state.reload = true;
    return;
  }
  state.loading = true;
  const id = state.id;
  try {
    const t0 = performance.now();
    // One request for the tree and the table: the server rebuilds the range once.
    const [fg, tl] = await Promise.all([
      api('GET', slotPath(id) + '/flamegraph?symbols=300&sort=' + state.sort + rangeQuery('&')),
      api('GET', slotPath(id) + '/timeline'),
    ]);
    const sy = fg;
    if (state.id !== id) return;
    const t1 = performance.now();
    state.tree = fg.tree;
    state.total = fg.total;
    state.timeline = tl.windows;
    $('#wl-info').textContent = fmt(fg.total) + ' samples in ' + fg.windows + ' of ' + tl.windows.length + ' windows' +
      (fg.truncated ? ' (tree capped at ' + fg.max_nodes + ' nodes)' : '') +
      (tl.dropped ? '; ' + fmt(tl.dropped) + ' oldest windows dropped (slot cap ' + fmt(tl.max_bytes) + ' bytes)' : '');
    drawTimeline();
    state.symbols = sy.symbols;
    if (!state.diff) {
      draw();
      renderSymbols(sy.symbols);
    }
    state.timing = { fetch_ms: t1 - t0, draw_ms: performance.now() - t1, frames: state.rects.length, nodes: fg.nodes,
      n: state.timing ? state.timing.n + 1 : 1 };
    setStatus('updated ' + new Date().toLocaleTimeString());
  } catch (e) {
    // The slot can vanish (TTL, eviction, another user's disable): show it as off.
    if (/no slot/.test(e.message)) {
      state.enabled = false;
      updateButtons();
    }
    setStatus('error: ' + e.message);
  } finally {
    state.loading = false;
  }
  // A change (range, sort) asked for while loading: load again now.
  if (state.reload) {
    state.reload = false;
    refreshProfile();
  }
}

async function slotAction(method, suffix) {
  try {
    await api(method, slotPath(state.id) + suffix);
  } catch (e) {
    setStatus('error: ' + e.message);
    return;
  }
  state.enabled = method !== 'DELETE';
  if (suffix || method === 'DELETE') {
    state.tree = null;
    state.zoomPath = [];
    state.range = null;
    updateRange();
    draw();
    renderSymbols([]);
  }
  updateButtons();
  refreshProfile();
}

// Timeline ---------------------------------------------------------------------------------

function timelineSpan() {
  const w = state.timeline;
  if (!w.length) return null;
  return { t0: w[0].t, t1: w[w.length - 1].t + Math.max(w[w.length - 1].d, 1) };
}

function drawTimeline() {
  const canvas = $('#timeline');
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 800, height = 60;
  canvas.width = width * dpr;
  canvas.height = height * dpr;
  const ctx = canvas.getContext('2d');
  ctx.scale(dpr, dpr);
  ctx.clearRect(0, 0, width, height);
  const span = timelineSpan();
  canvas.dataset.windows = String(state.timeline.length);
  if (!span) return;
  const xOf = (t) => (t - span.t0) / (span.t1 - span.t0) * width;
  let max = 1;
  for (const w of state.timeline) max = Math.max(max, w.samples * 1000 / Math.max(w.d, 1));
  for (const w of state.timeline) {
    const rate = w.samples * 1000 / Math.max(w.d, 1);
    const x = xOf(w.t), bw = Math.max(xOf(w.t + Math.max(w.d, 1)) - x, 1);
    const inside = !state.range || (w.t >= state.range.from && w.t < state.range.to);
    ctx.fillStyle = inside ? '#3b82c4' : '#b8c4d0';
    const h = (height - 14) * rate / max;
    ctx.fillRect(x, height - h, Math.max(bw - 0.5, 0.5), h);
  }
  ctx.fillStyle = '#56606b';
  ctx.font = '10px ui-monospace, monospace';
  ctx.textBaseline = 'top';
  ctx.fillText(fmt(Math.round(max)) + ' samples/s', 4, 1);
  const sel = state.drag ? { a: Math.min(state.drag.x0, state.drag.x1), b: Math.max(state.drag.x0, state.drag.x1) }
    : state.range ? { a: xOf(state.range.from), b: xOf(state.range.to) } : null;
  if (sel) {
    ctx.fillStyle = 'rgba(176, 111, 216, 0.25)';
    ctx.fillRect(sel.a, 0, sel.b - sel.a, height);
  }
}

// The time at X, on the scale the drag started with (windows arriving meanwhile rescale the
// timeline, which must not move the selection under the mouse).
function timeAt(x, span) {
  const width = $('#timeline').clientWidth || 800;
  return Math.round(span.t0 + Math.min(Math.max(x / width, 0), 1) * (span.t1 - span.t0));
}

function setRange(range) {
  state.range = range;
  state.zoomPath = [];
  updateRange();
  drawTimeline();
  refreshProfile();
}

function initTimeline() {
  const canvas = $('#timeline');
  const xOf = (ev) => ev.clientX - canvas.getBoundingClientRect().left;
  canvas.addEventListener('mousedown', (ev) => {
    if (!timelineSpan()) return;
    state.drag = { x0: xOf(ev), x1: xOf(ev), span: timelineSpan() };
    ev.preventDefault();
  });
  window.addEventListener('mousemove', (ev) => {
    if (!state.drag) return;
    state.drag.x1 = xOf(ev);
    drawTimeline();
  });
  window.addEventListener('mouseup', () => {
    if (!state.drag) return;
    const d = state.drag;
    state.drag = null;
    // A click (no drag) clears the selection.
    if (Math.abs(d.x1 - d.x0) < 3) return setRange(null);
    const from = timeAt(Math.min(d.x0, d.x1), d.span), to = timeAt(Math.max(d.x0, d.x1), d.span);
    setRange({ from, to: Math.max(to, from + 1) });
  });
  $('#range-clear').addEventListener('click', () => setRange(null));
}

// Flame graph ------------------------------------------------------------------------------

function draw() {
  const canvas = $('#flame');
  const tree = state.diff ? state.diff.tree : state.tree;
  const diff = state.diff ? { ta: state.diff.ta, tb: state.diff.tb } : null;
  const empty = !tree || !F.weight(tree, diff);
  $('#flame-empty').hidden = !empty;
  const r = F.draw(canvas, empty ? null : tree, { zoomPath: state.zoomPath, search: state.search, diff });
  state.rects = r.rects;
  canvas.dataset.frames = String(r.rects.length);
  if (empty) return;
  state.zoomPath = r.chain.slice(1).map((n) => n.name);
  canvas.dataset.zoom = r.chain[r.chain.length - 1].name;
  $('#zoom-path').textContent = state.zoomPath.length ? 'zoomed: ' + state.zoomPath.join(' › ') : '';
  F.legend($('#legend'), !!diff);
}

function hitAt(canvas, rects, ev) {
  const r = canvas.getBoundingClientRect();
  return F.hit(rects, ev.clientX - r.left, ev.clientY - r.top);
}

function showTooltip(ev, rects, total, diff) {
  const f = hitAt(ev.currentTarget, rects, ev);
  const tip = $('#tooltip');
  if (!f) { tip.hidden = true; return; }
  const n = f.node;
  if (diff) {
    const a = 100 * F.share(n.total, diff.ta), b = 100 * F.share(n.total_b, diff.tb);
    tip.textContent = `${n.name}\nA: ${fmt(n.total)} (${a.toFixed(2)} %)\nB: ${fmt(n.total_b || 0)} (${b.toFixed(2)} %)\n` +
      `change: ${(b - a >= 0 ? '+' : '') + (b - a).toFixed(2)} points`;
  } else {
    tip.textContent = `${n.name}${n.kind ? ' [' + n.kind + ']' : ''}\nSelf: ${fmt(n.self)} (${pct(n.self, total)})\n` +
      `Total: ${fmt(n.total)} (${pct(n.total, total)})\nright-click: sandwich`;
  }
  tip.hidden = false;
  tip.style.left = Math.min(ev.clientX + 12, window.innerWidth - 300) + 'px';
  tip.style.top = ev.clientY + 14 + 'px';
}

// Symbols table ----------------------------------------------------------------------------

function cell(text, cls, title) {
  const td = document.createElement('td');
  if (cls) td.className = cls;
  td.textContent = text;
  if (title) td.title = title;
  return td;
}

function setHeader(cols) {
  const tr = $('#symbols thead tr');
  tr.replaceChildren();
  for (const c of cols) {
    const th = document.createElement('th');
    th.textContent = c.label;
    if (c.num) th.className = 'num';
    if (c.sort) {
      th.classList.add('sortable');
      th.dataset.sort = c.sort;
      th.classList.toggle('active', c.sort === state.sort);
      th.addEventListener('click', () => { state.sort = c.sort; refreshProfile(); });
    }
    tr.appendChild(th);
  }
}

function renderSymbols(rows) {
  setHeader([{ label: 'Function' }, { label: 'Self', num: true, sort: 'self' }, { label: 'Total', num: true, sort: 'total' }, { label: '' }]);
  const tbody = $('#symbols tbody');
  tbody.replaceChildren();
  const search = state.search.toLowerCase();
  for (const s of rows) {
    const tr = document.createElement('tr');
    tr.className = 'click' + (search && s.name.toLowerCase().includes(search) ? ' hl' : '');
    const sw = document.createElement('td');
    sw.innerHTML = '<button type="button" class="sw" title="callers and callees">sandwich</button>';
    sw.firstChild.addEventListener('click', (ev) => { ev.stopPropagation(); openSandwich(s.name); });
    tr.append(cell(s.name, 'name', s.name), cell(s.self_percent.toFixed(2) + ' %', 'num', fmt(s.self) + ' samples'),
      cell(s.total_percent.toFixed(2) + ' %', 'num', fmt(s.total) + ' samples'), sw);
    tr.addEventListener('click', () => { $('#search').value = s.name; setSearch(s.name); });
    tbody.appendChild(tr);
  }
}

function renderDiffSymbols(rows) {
  setHeader([{ label: 'Function' }, { label: 'A self', num: true }, { label: 'B self', num: true },
    { label: 'Δ self', num: true }, { label: 'A total', num: true }, { label: 'B total', num: true }, { label: 'Δ total', num: true }]);
  const tbody = $('#symbols tbody');
  tbody.replaceChildren();
  const p = (v) => v.toFixed(2) + ' %';
  const d = (v) => (v > 0 ? '+' : '') + v.toFixed(2);
  for (const s of rows) {
    const tr = document.createElement('tr');
    tr.className = s.self_diff > 0.005 ? 'grew' : s.self_diff < -0.005 ? 'shrank' : '';
    tr.dataset.name = s.name;
    tr.append(cell(s.name, 'name', s.name), cell(p(s.self_percent_a), 'num'), cell(p(s.self_percent_b), 'num'),
      cell(d(s.self_diff), 'num delta'), cell(p(s.total_percent_a), 'num'), cell(p(s.total_percent_b), 'num'),
      cell(d(s.total_diff), 'num delta'));
    tbody.appendChild(tr);
  }
}

// Search is local: the frames and rows on screen are redrawn, nothing is fetched.
function setSearch(text) {
  state.search = text;
  draw();
  if (state.sandwich) drawSandwich();
  if (!state.diff) renderSymbols(state.symbols);
}

// Diff -------------------------------------------------------------------------------------

async function openDiff() {
  const a = $('#diff-a').value.trim(), b = $('#diff-b').value.trim();
  if (!a || !b) { setStatus('diff: set A and B first (a range, then "Set as A" / "Set as B")'); return; }
  try {
    const d = await api('GET', '/api/diff?a=' + encodeURIComponent(a) + '&b=' + encodeURIComponent(b) + '&limit=300');
    state.diff = { a: d.a, b: d.b, ta: d.a.total, tb: d.b.total, tree: d.tree, symbols: d.symbols };
    state.zoomPath = [];
    $('#diff-info').textContent = `A: ${fmt(d.a.total)} samples in ${d.a.windows} windows; B: ${fmt(d.b.total)} in ${d.b.windows}`;
    $('#diff-close').hidden = false;
    $('#flame-pane-title').textContent = 'Diff: red = larger share in B, blue = smaller';
    $('#flame-pane-title').hidden = false;
    $('.symbols-pane').classList.add('wide');
    draw();
    renderDiffSymbols(d.symbols);
  } catch (e) {
    setStatus('diff: ' + e.message);
  }
}

function closeDiff() {
  state.diff = null;
  state.zoomPath = [];
  $('#diff-close').hidden = true;
  $('#diff-info').textContent = '';
  $('#flame-pane-title').hidden = true;
  $('.symbols-pane').classList.remove('wide');
  refreshProfile();
}

// Sandwich ---------------------------------------------------------------------------------

async function openSandwich(name) {
  try {
    const s = await api('GET', slotPath(state.id) + '/sandwich?name=' + encodeURIComponent(name) + rangeQuery('&'));
    state.sandwich = { name, callers: s.callers, callees: s.callees, total: s.total, all: s.all, rc: [], re: [] };
    $('#sandwich').hidden = false;
    $('#sw-title').textContent = `${name}: in ${pct(s.total, s.all)} of samples. Callers above (outermost at the top), callees below`;
    drawSandwich();
  } catch (e) {
    setStatus('sandwich: ' + e.message);
  }
}

function drawSandwich() {
  const s = state.sandwich;
  // Both trees are "all" -> the function -> ...: the function itself is the useful root.
  const top = (t) => (t.children && t.children.length === 1 ? t.children[0] : t);
  s.rc = F.draw($('#sw-callers'), top(s.callers), { invert: true, search: state.search }).rects;
  s.re = F.draw($('#sw-callees'), top(s.callees), { search: state.search }).rects;
  $('#sw-callers').dataset.frames = String(s.rc.length);
  $('#sw-callees').dataset.frames = String(s.re.length);
}

// Refresh loop -----------------------------------------------------------------------------

function schedule(fn) {
  clearInterval(state.timer);
  fn();
  state.timer = setInterval(fn, REFRESH_MS);
}

function init() {
  $('#back').addEventListener('click', showList);
  $('#enable').addEventListener('click', () => slotAction('POST', ''));
  $('#clear').addEventListener('click', () => slotAction('POST', '/clear'));
  $('#disable').addEventListener('click', () => slotAction('DELETE', ''));
  $('#reset').addEventListener('click', () => { state.zoomPath = []; draw(); });
  $('#search').addEventListener('input', (e) => setSearch(e.target.value));
  $('#set-a').addEventListener('click', () => { $('#diff-a').value = rangeSpec(); });
  $('#set-b').addEventListener('click', () => { $('#diff-b').value = rangeSpec(); });
  $('#diff-open').addEventListener('click', openDiff);
  $('#diff-close').addEventListener('click', closeDiff);
  $('#sw-close').addEventListener('click', () => { state.sandwich = null; $('#sandwich').hidden = true; });
  initTimeline();
  const canvas = $('#flame');
  canvas.addEventListener('click', (ev) => {
    const f = hitAt(canvas, state.rects, ev);
    if (!f) return;
    state.zoomPath = f.path;
    draw();
  });
  canvas.addEventListener('contextmenu', (ev) => {
    const f = hitAt(canvas, state.rects, ev);
    if (!f || state.diff || f.node.name === 'all') return;
    ev.preventDefault();
    openSandwich(f.node.name);
  });
  canvas.addEventListener('mousemove', (ev) => showTooltip(ev, state.rects, state.total,
    state.diff ? { ta: state.diff.ta, tb: state.diff.tb } : null));
  for (const [id, key] of [['#sw-callers', 'rc'], ['#sw-callees', 're']]) {
    $(id).addEventListener('mousemove', (ev) => state.sandwich && showTooltip(ev, state.sandwich[key], state.sandwich.all, null));
    $(id).addEventListener('mouseleave', () => { $('#tooltip').hidden = true; });
  }
  canvas.addEventListener('mouseleave', () => { $('#tooltip').hidden = true; });
  window.addEventListener('resize', () => { draw(); drawTimeline(); });
  const id = decodeURIComponent(location.hash.slice(1));
  if (id) {
    // A reload of a profiling view: the slot survives closing the page.
    api('GET', slotPath(id)).then(() => openWorkload(id, id, true),
      () => openWorkload(id, id, false));
  } else {
    showList();
  }
}

// Test hooks: the drawn frames (to click one), the timeline's extent, the last render's cost.
const framesOf = (rects) => rects.map((f) => ({ x: f.x, y: f.y, w: f.w, name: f.node.name, kind: f.node.kind || 'native',
  total: f.node.total, total_b: f.node.total_b }));
window.kiln = {
  frames: () => framesOf(state.rects),
  sandwich: () => state.sandwich && { callers: framesOf(state.sandwich.rc), callees: framesOf(state.sandwich.re) },
  timeline: () => ({ windows: state.timeline, span: timelineSpan(), range: state.range }),
  timing: () => state.timing,
  diff: () => state.diff && { a: state.diff.a, b: state.diff.b },
};

init();
