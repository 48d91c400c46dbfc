// SPDX-License-Identifier: Apache-2.0
// The flame graph drawing of kiln's pages, on its own so that any page (kiln ui, a
// self-contained `kiln record -f html` file) can draw the same tree: a JSON tree
// {name, kind?, self, total, self_b?, total_b?, children} in, a canvas drawn, the frames'
// rectangles out for hit testing. No dependencies, no network.
'use strict';

(function (root) {
  const ROW = 18;

  // Frame kinds as the API names them; native is the default when a node has none.
  const KINDS = {
    kernel: { label: 'kernel', hue: 28, sat: 80 }, // orange
    native: { label: 'native', hue: 2, sat: 75 }, // red
    go: { label: 'Go', hue: 195, sat: 65 }, // cyan
    jit: { label: 'JIT', hue: 95, sat: 55 }, // green
    python: { label: 'Python', hue: 215, sat: 70 }, // blue
    // kiln record's pages put each process under the root; the UI's API has no such frame,
    // so its legend leaves this kind out unless a page asks for it.
    process: { label: 'process', hue: 210, sat: 10 }, // slate
  };

  function hash(name) {
    let h = 0;
    for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
    return h;
  }

  // Colour by kind, varied a little by name so neighbours differ.
  function kindColor(node, dim) {
    const k = KINDS[node.kind] || KINDS.native;
    const h = hash(node.name);
    if (dim) return `hsl(${k.hue}, 12%, 84%)`;
    return `hsl(${k.hue + (h % 16) - 8}, ${k.sat}%, ${58 + ((h >>> 8) % 12)}%)`;
  }

  // A diff frame: red when its share grew from A to B, blue when it shrank, grey unchanged;
  // saturated at +-MAXD points.
  function diffColor(node, ta, tb, dim) {
    const d = share(node.total_b, tb) - share(node.total, ta);
    const MAXD = 0.1;
    const t = Math.min(Math.abs(d) / MAXD, 1);
    if (dim) return 'hsl(0, 0%, 86%)';
    if (Math.abs(d) < 0.0005) return 'hsl(0, 0%, 78%)';
    return d > 0 ? `hsl(0, ${30 + 60 * t}%, ${80 - 28 * t}%)` : `hsl(215, ${30 + 60 * t}%, ${80 - 28 * t}%)`;
  }

  const share = (n, of) => (of ? (n || 0) / of : 0);

  // Weight of a node: its total, or in a diff the mean of its two shares, so that frames that
  // vanished or appeared stay visible and children never outgrow their parent.
  function weight(node, diff) {
    if (!diff) return node.total;
    return (share(node.total, diff.ta) + share(node.total_b, diff.tb)) / 2;
  }

  function depthOf(node) {
    let d = 0;
    for (const c of node.children || []) d = Math.max(d, depthOf(c));
    return d + 1;
  }

  // Resolves ZOOMPATH (names below the root) against TREE: [root, ..., zoomed node].
  function zoomChain(tree, zoomPath) {
    const chain = [tree];
    for (const name of zoomPath || []) {
      const next = (chain[chain.length - 1].children || []).find((c) => c.name === name);
      if (!next) break;
      chain.push(next);
    }
    return chain;
  }

  // Draws TREE on CANVAS. OPTS: zoomPath (names), search (text), diff ({ta, tb}: totals of
  // both sides), invert (root at the bottom: callers of a sandwich), minWidth (px).
  // Returns {rects: [{x, y, w, node, path}], chain, rows, narrow}: narrow counts the call
  // paths left out for being under minWidth (a page may say so).
  function draw(canvas, tree, opts) {
    opts = opts || {};
    const rects = [];
    if (!tree || !weight(tree, opts.diff)) {
      canvas.height = 0;
      canvas.style.height = '0px';
      return { rects, chain: tree ? [tree] : [], rows: 0, narrow: 0 };
    }
    const chain = zoomChain(tree, opts.zoomPath);
    const zoomed = chain[chain.length - 1];
    const rows = chain.length - 1 + depthOf(zoomed);
    const dpr = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 800;
    canvas.width = width * dpr;
    canvas.height = rows * ROW * dpr;
    canvas.style.height = rows * ROW + 'px';
    const ctx = canvas.getContext('2d');
    ctx.scale(dpr, dpr);
    ctx.font = '12px ui-monospace, monospace';
    ctx.textBaseline = 'middle';
    const search = (opts.search || '').toLowerCase();
    const minW = opts.minWidth || 0.3;
    const yOf = (depth) => (opts.invert ? (rows - 1 - depth) * ROW : depth * ROW);

    const frame = (node, x, depth, w, path, ancestor) => {
      const y = yOf(depth);
      const hit = search && node.name.toLowerCase().includes(search);
      const dim = ancestor || (search && !hit);
      ctx.fillStyle = hit ? '#b06fd8' : opts.diff ? diffColor(node, opts.diff.ta, opts.diff.tb, dim) : kindColor(node, dim);
      ctx.fillRect(x, y, Math.max(w - 1, 0.5), ROW - 1);
      if (w > 30) {
        ctx.fillStyle = '#1d232a';
        ctx.save();
        ctx.beginPath();
        ctx.rect(x, y, w - 2, ROW);
        ctx.clip();
        ctx.fillText(node.name, x + 3, y + ROW / 2);
        ctx.restore();
      }
      rects.push({ x, y, w, node, path });
    };
    // Ancestors of the zoomed node span the full width, dimmed; clicking one zooms out.
    chain.slice(0, -1).forEach((n, i) => frame(n, 0, i, width, chain.slice(1, i + 1).map((c) => c.name), true));
    let narrow = 0;
    const walk = (node, x, depth, w, path) => {
      frame(node, x, depth, w, path, false);
      const nw = weight(node, opts.diff);
      let cx = x;
      for (const c of node.children || []) {
        const cw = nw ? w * weight(c, opts.diff) / nw : 0;
        if (cw >= minW) walk(c, cx, depth + 1, cw, path.concat(c.name));
        else narrow++;
        cx += cw;
      }
    };
    walk(zoomed, 0, chain.length - 1, width, chain.slice(1).map((n) => n.name));
    return { rects, chain, rows, narrow };
  }

  // The frame under (X, Y) in canvas coordinates, or undefined.
  function hit(rects, x, y) {
    return rects.find((f) => x >= f.x && x < f.x + f.w && y >= f.y && y < f.y + ROW);
  }

  // Fills ELEMENT with the colour legend (kinds, or the diff's scale). ONLY (a Set of kind
  // names, optional) keeps the kinds a page really holds.
  function legend(element, diff, only) {
    element.replaceChildren();
    const item = (color, text) => {
      const s = document.createElement('span');
      s.className = 'legend-item';
      const sw = document.createElement('i');
      sw.style.background = color;
      s.append(sw, document.createTextNode(text));
      element.appendChild(s);
    };
    if (diff) {
      item('hsl(0, 90%, 52%)', 'share grew (B > A)');
      item('hsl(0, 0%, 78%)', 'unchanged');
      item('hsl(215, 90%, 52%)', 'share shrank (B < A)');
      return;
    }
    const shown = only || new Set(Object.keys(KINDS).filter((k) => k !== 'process'));
    for (const k of Object.keys(KINDS)) if (shown.has(k)) item(`hsl(${KINDS[k].hue}, ${KINDS[k].sat}%, 62%)`, KINDS[k].label);
  }

  root.KilnFlame = { ROW, KINDS, draw, hit, legend, weight, share, zoomChain };
})(window);
