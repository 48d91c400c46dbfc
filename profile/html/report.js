// SPDX-License-Identifier: Apache-2.0
// kiln record -f html: draws the profile embedded in this page (no network, no other file).
'use strict';
(() => {
  const ROW = 18;
  const data = JSON.parse(document.getElementById('kiln-data').textContent);
  const $ = (sel) => document.querySelector(sel);
  // Hue range start, width and saturation per kind: native red, kernel amber, Python teal-blue.
  const KIND_HUE = { process: [210, 0, 10], kernel: [36, 14, 85], native: [352, 20, 75], python: [180, 35, 70], go: [270, 25, 55], jit: [100, 25, 55] };
  const KIND_LABEL = { process: 'process', native: 'native', kernel: 'kernel', python: 'Python', go: 'Go', jit: 'JIT' };

  // The call tree: parents come before their children in data.nodes.
  const nodes = data.nodes.f.map((f, i) => ({
    i, frame: f, parent: data.nodes.p[i], total: data.nodes.t[i], self: data.nodes.s[i], children: [],
    name: f < 0 ? 'all' : data.frames[f][0], module: f < 0 ? '' : data.frames[f][1], kind: f < 0 ? 'process' : data.frames[f][2],
  }));
  for (const n of nodes) if (n.parent >= 0) nodes[n.parent].children.push(n);
  const root = nodes[0];
  const total = data.total;
  const state = { zoom: 0, search: '', sort: 'total', rects: [] };

  const fmt = (n) => n.toLocaleString('en-US');
  const pct = (n, d) => (d ? (100 * n / d).toFixed(2) : '0.00') + ' %';

  function color(n, dim) {
    let h = 0;
    for (let i = 0; i < n.name.length; i++) h = (h * 31 + n.name.charCodeAt(i)) >>> 0;
    const [base, range, sat] = KIND_HUE[n.kind] || KIND_HUE.native;
    const hue = (base + (range ? h % range : 0)) % 360;
    const light = 55 + ((h >>> 8) % 15);
    return dim ? `hsl(${hue}, ${Math.min(sat, 15)}%, 85%)` : `hsl(${hue}, ${sat}%, ${light}%)`;
  }

  const matches = (n) => state.search && n.name.toLowerCase().includes(state.search);

  // Samples under a matching frame, each counted once (not again under a matching caller).
  function matchedSamples(n) {
    if (n !== root && matches(n)) return n.total;
    let s = 0;
    for (const c of n.children) s += matchedSamples(c);
    return s;
  }

  function chain() {
    const c = [];
    for (let n = nodes[state.zoom]; n; n = n.parent >= 0 ? nodes[n.parent] : null) c.unshift(n);
    return c;
  }

  function depthOf(n) {
    let d = 0;
    for (const c of n.children) d = Math.max(d, depthOf(c));
    return d + 1;
  }

  function draw() {
    const canvas = $('#flame');
    state.rects = [];
    $('#flame-empty').hidden = !!total;
    if (!total) { canvas.height = 0; return; }
    const ch = chain();
    const zoomed = ch[ch.length - 1];
    const rows = ch.length - 1 + depthOf(zoomed);
    const dpr = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 800;
    canvas.width = width * dpr;
    canvas.height = rows * ROW * dpr;
    canvas.style.height = rows * ROW + 'px';
    const ctx = canvas.getContext('2d');
    ctx.scale(dpr, dpr);
    ctx.font = '12px ui-monospace, monospace';
    ctx.textBaseline = 'middle';
    const box = (n, x, y, w, dim) => {
      ctx.fillStyle = matches(n) ? '#b06fd8' : color(n, dim || (state.search && !matches(n)));
      ctx.fillRect(x, y, Math.max(w - 1, 0.5), ROW - 1);
      if (w > 30) {
        ctx.save();
        ctx.beginPath();
        ctx.rect(x, y, w - 2, ROW);
        ctx.clip();
        ctx.fillStyle = '#1d232a';
        ctx.fillText(n.name, x + 3, y + ROW / 2);
        ctx.restore();
      }
      state.rects.push({ x, y, w, n });
    };
    // The zoomed frame's callers span the whole width, dimmed; clicking one zooms out to it.
    ch.slice(0, -1).forEach((n, d) => box(n, 0, d * ROW, width, true));
    let narrow = 0;
    const walk = (n, x, d, w) => {
      box(n, x, d * ROW, w, false);
      let cx = x;
      for (const c of n.children) {
        const cw = n.total ? w * c.total / n.total : 0;
        if (cw >= 0.3) walk(c, cx, d + 1, cw);
        else narrow++;
        cx += cw;
      }
    };
    walk(zoomed, 0, ch.length - 1, width);
    $('#narrow').textContent = narrow ? `${fmt(narrow)} call paths too narrow to draw: zoom in to see them` : '';
    $('#zoom-path').textContent = state.zoom ? 'zoomed: ' + ch.slice(1).map((n) => n.name).join(' › ') : '';
    $('#matched').textContent = state.search ? 'matched: ' + pct(matchedSamples(root), total) + ' of samples' : '';
  }

  function renderSymbols() {
    const tbody = $('#symbols tbody');
    tbody.replaceChildren();
    const rows = data.symbols.filter((s) => !state.search || s[0].toLowerCase().includes(state.search));
    const key = state.sort === 'self' ? 2 : 3, other = 5 - key;
    rows.sort((a, b) => b[key] - a[key] || b[other] - a[other] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const s of rows.slice(0, 2000)) {
      const tr = document.createElement('tr');
      if (state.search) tr.className = 'hl';
      const name = document.createElement('td');
      name.className = 'name';
      name.title = s[1] ? `${s[0]} (${s[1]})` : s[0];
      name.textContent = s[0];
      if (s[1]) {
        const mod = document.createElement('span');
        mod.className = 'mod';
        mod.textContent = s[1];
        name.appendChild(mod);
      }
      const self = document.createElement('td');
      self.className = 'num self';
      self.textContent = pct(s[2], total);
      self.title = fmt(s[2]) + ' samples';
      const tot = document.createElement('td');
      tot.className = 'num total';
      tot.textContent = pct(s[3], total);
      tot.title = fmt(s[3]) + ' samples';
      tr.dataset.name = s[0];
      tr.append(name, self, tot);
      tr.addEventListener('click', () => { $('#search').value = s[0]; setSearch(s[0]); });
      tbody.appendChild(tr);
    }
    document.querySelectorAll('#symbols th.sortable').forEach((th) =>
      th.classList.toggle('active', th.dataset.sort === state.sort));
  }

  function setSearch(text) {
    state.search = text.trim().toLowerCase();
    draw();
    renderSymbols();
  }

  function hit(ev) {
    const r = $('#flame').getBoundingClientRect();
    const x = ev.clientX - r.left, y = ev.clientY - r.top;
    return state.rects.find((f) => x >= f.x && x < f.x + f.w && y >= f.y && y < f.y + ROW);
  }

  function tooltip(ev) {
    const f = hit(ev);
    const tip = $('#tooltip');
    if (!f) { tip.hidden = true; return; }
    const n = f.n;
    tip.textContent = `${n.name}${n.module ? ' (' + n.module + ')' : ''}\n${n.kind}\n` +
      `Self: ${fmt(n.self)} (${pct(n.self, total)})\nTotal: ${fmt(n.total)} (${pct(n.total, total)})`;
    tip.hidden = false;
    tip.style.left = Math.min(ev.clientX + 12, window.innerWidth - 300) + 'px';
    tip.style.top = ev.clientY + 14 + 'px';
  }

  function legend() {
    const kinds = new Set(data.frames.map((f) => f[2]));
    for (const k of Object.keys(KIND_LABEL)) {
      if (!kinds.has(k)) continue;
      const s = document.createElement('span');
      const i = document.createElement('i');
      i.style.background = color({ name: '', kind: k }, false);
      s.append(i, KIND_LABEL[k]);
      $('#legend').appendChild(s);
    }
  }

  document.title = data.title;
  $('#title').textContent = data.title;
  $('#info').textContent = `${fmt(total)} samples` + (data.period_ns ? ` at ${Math.round(1e9 / data.period_ns)} Hz` : '') +
    (data.duration_ns ? `, ${(data.duration_ns / 1e9).toFixed(1)} s` : '');
  legend();
  $('#search').addEventListener('input', (e) => setSearch(e.target.value));
  $('#reset').addEventListener('click', () => { state.zoom = 0; draw(); });
  const canvas = $('#flame');
  canvas.addEventListener('click', (ev) => {
    const f = hit(ev);
    if (!f) return;
    state.zoom = f.n.i;
    draw();
  });
  canvas.addEventListener('mousemove', tooltip);
  canvas.addEventListener('mouseleave', () => { $('#tooltip').hidden = true; });
  document.querySelectorAll('#symbols th.sortable').forEach((th) =>
    th.addEventListener('click', () => { state.sort = th.dataset.sort; renderSymbols(); }));
  window.addEventListener('resize', draw);
  draw();
  renderSymbols();

  // For tests and scripts: what is drawn, and where.
  window.kilnReport = {
    frames: () => state.rects.map((f) => ({ x: f.x, y: f.y, w: f.w, name: f.n.name, total: f.n.total })),
    zoomed: () => nodes[state.zoom].name,
    width: () => canvas.clientWidth,
  };
})();
