/* The tinygrad_cnn graph explorer: draws the graph data that viz/explorer_data.py wrote
 * into this page, and lets a reader open layers, hover, search, highlight, pan and zoom.
 *
 * State: which modules are open and which direction is shown. From it, view() builds the
 * boxes that are visible (an op inside a closed module is represented by that module's
 * box), GraphLayout places them (layout.js), draw() writes the SVG once per layout.
 * Highlighting, the tooltip and panning only change classes and one transform.
 */
(function () {
  "use strict";
  const DATA = JSON.parse(document.getElementById("graph-data").textContent);
  const MODULES = DATA.modules, NODES = DATA.nodes, EDGES = DATA.edges;
  const svg = document.getElementById("canvas"), port = document.getElementById("viewport");
  const tip = document.getElementById("tip"), statusLine = document.getElementById("status");
  const searchBox = document.getElementById("search");
  const foundCount = document.getElementById("found-count");
  const isOpen = new Uint8Array(MODULES.length);
  const hasChildren = new Uint8Array(MODULES.length);
  const depth = new Int32Array(MODULES.length);
  MODULES.forEach((m, i) => {
    if (m.parent >= 0) { hasChildren[m.parent] = 1; depth[i] = depth[m.parent] + 1; }
  });
  const measure = document.createElement("canvas").getContext("2d");
  const FONT = getComputedStyle(document.body).getPropertyValue("--font") || "Helvetica";
  let backward = false, current = null, zoom = {x: 0, y: 0, k: 1};
  let picked = null, found = [], foundAt = -1;
  const timings = {};

  // ------------------------------------------------------------------ what is visible
  function closeAll() {  // one box per layer: open a lone model, as collapse="top" draws
    isOpen.fill(0);
    const roots = MODULES.map((m, i) => i).filter(i => MODULES[i].parent < 0);
    if (roots.length === 1 && hasChildren[roots[0]]) isOpen[roots[0]] = 1;
  }

  function nodeLines(i) {
    const node = NODES[i];
    if (!backward) return node.lines;
    if (node.kind === "op") {
      return [[node.step + ". " + node.lines[0][0] + " backward", false]].concat(node.lines.slice(1));
    }
    if (node.kind === "output") return [["start: \u2202output = 1", false]].concat(node.lines.slice(1));
    return node.lines.concat([["\u2192 .grad", true]]);
  }

  const widths = new Map();  // a 10,000-op graph repeats a few hundred texts
  function textWidth(text, bold) {
    const key = (bold ? "b" : "n") + text;
    let w = widths.get(key);
    if (w === undefined) {
      measure.font = (bold ? "bold 12px " : "10px ") + FONT;
      w = measure.measureText(text).width; widths.set(key, w);
    }
    return w;
  }
  function boxSize(lines, badge) {
    let w = 0;
    lines.forEach(([text], j) => { w = Math.max(w, textWidth(text, j === 0) + (j === 0 && badge ? 16 : 0)); });
    return [Math.ceil(w) + 16, 10 + 15 + 13 * (lines.length - 1)];
  }

  function view() {
    const outer = new Int32Array(MODULES.length);  // outermost closed module around m, or -1
    for (let m = 0; m < MODULES.length; m++) {
      const up = MODULES[m].parent >= 0 ? outer[MODULES[m].parent] : -1;
      outer[m] = up >= 0 ? up : (isOpen[m] ? -1 : m);
    }
    const keep = new Uint8Array(NODES.length).fill(1);
    if (backward) {  // backward() walks only what carries a gradient
      NODES.forEach((n, i) => { if (n.kind === "input") keep[i] = 0; });
      for (const e of EDGES) if (e[3]) keep[e[0]] = 1;
    }
    const keyOf = NODES.map((n, i) => {
      const m = n.module >= 0 ? outer[n.module] : -1;
      return m >= 0 ? "m" + m : "n" + i;
    });
    const items = [], byKey = new Map(), clusters = new Set();
    NODES.forEach((n, i) => {
      if (!keep[i] || byKey.has(keyOf[i])) return;
      const key = keyOf[i], m = key[0] === "m" ? +key.slice(1) : -1;
      const lines = m >= 0 ? MODULES[m].lines : nodeLines(i);
      const [w, h] = boxSize(lines, m >= 0);
      const item = {key, w, h, lines, module: m, node: m >= 0 ? -1 : i,
                    cluster: m >= 0 ? MODULES[m].parent : n.module,
                    kind: m >= 0 ? "module" : n.kind, bad: m >= 0 ? MODULES[m].bad : n.bad};
      items.push(item); byKey.set(key, item);
      for (let c = item.cluster; c >= 0 && !clusters.has(c); c = MODULES[c].parent) clusters.add(c);
    });
    const edges = [], seen = new Set();
    for (const [s, t, shape, grad] of EDGES) {
      if ((backward && !grad) || !keep[s] || !keep[t]) continue;
      let a = keyOf[s], b = keyOf[t];
      if (a === b) continue;
      if (backward) [a, b] = [b, a];
      if (seen.has(a + ">" + b)) continue;
      seen.add(a + ">" + b);
      const label = a[0] === "m" || b[0] === "m" ? shape : "";
      edges.push({a, b, label});
    }
    const order = [...clusters].sort((x, y) => x - y);  // parents before children
    measure.font = "bold 12px " + FONT;
    const titleWidth = m => Math.ceil(measure.measureText("\u2212 " + MODULES[m].title).width) + 12;
    return {items, byKey, edges,
            clusters: order.map(m => ({m, parent: MODULES[m].parent, titleWidth: titleWidth(m)}))};
  }

  // ------------------------------------------------------------------ drawing
  const esc = s => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const r1 = v => Math.round(v * 10) / 10;

  function boxSvg(item, far) {
    const x = item.x - item.w / 2, y = item.y - item.h / 2;
    const cls = "node k-" + item.kind + (item.bad ? " bad" : "") + marks(item.key);
    const rx = item.kind === "param" ? 0 : 5;
    let out = `<g class="${cls}" data-key="${item.key}" transform="translate(${r1(x)},${r1(y)})">` +
      `<rect width="${r1(item.w)}" height="${item.h}" rx="${rx}"/>`;
    if (far) return out + "</g>";  // too small to read: the box only
    out += "<text>";
    item.lines.forEach(([text], j) => {
      out += `<tspan x="8" y="${j === 0 ? 17 : 17 + 13 * j}"${j === 0 ? ' class="head"' : ""}>` +
        `${esc(text)}</tspan>`;
    });
    out += "</text>";
    if (item.module >= 0) out += `<text class="badge" x="${r1(item.w - 15)}" y="16">+</text>`;
    return out + "</g>";
  }

  // Only what lies in or near the window is in the SVG (a 10,000-box view would make every
  // pan and zoom restyle 10,000 elements); panning out of that region draws again.
  const CULL_FROM = 400;
  let marked = {lit: new Set(), litEdges: new Set(), picked: null, found: null};
  function marks(key) {
    return (marked.lit.has(key) ? " on" : "") + (marked.picked === key ? " picked" : "") +
      (marked.found === key ? " found" : "");
  }
  function windowRect(margin) {  // the window in graph coordinates, widened by margin
    const box = svg.getBoundingClientRect(), w = box.width / zoom.k, h = box.height / zoom.k;
    const x = -zoom.x / zoom.k, y = -zoom.y / zoom.k;
    return [x - w * margin, y - h * margin, x + w * (1 + margin), y + h * (1 + margin)];
  }
  const meets = (r, x0, y0, x1, y1) => x1 >= r[0] && x0 <= r[2] && y1 >= r[1] && y0 <= r[3];
  function draw() {
    const all = current.items.length < CULL_FROM;
    const r = all ? [-Infinity, -Infinity, Infinity, Infinity] : windowRect(0.6);
    const far = zoom.k < 0.35;
    const parts = [];
    for (const c of current.clusters) {
      if (!meets(r, c.x, c.y, c.x + c.w, c.y + c.h)) continue;
      parts.push(`<g class="cluster d${Math.min(depth[c.m], 2)}${marks("c" + c.m)}" data-key="c${c.m}">` +
        `<rect x="${r1(c.x)}" y="${r1(c.y)}" width="${r1(c.w)}" height="${r1(c.h)}" rx="6"/>` +
        `<text class="ctitle" x="${r1(c.x + 8)}" y="${r1(c.titleY)}">\u2212 ` +
        `${esc(MODULES[c.m].title)}</text></g>`);
    }
    current.edges.forEach((e, j) => {
      const xs = e.points.map(p => p[0]), ys = e.points.map(p => p[1]);
      if (!meets(r, Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys))) return;
      const d = "M" + e.points.map(p => r1(p[0]) + "," + r1(p[1])).join("L");
      const on = marked.litEdges.has(j) ? " on" : "";
      parts.push(`<path class="edge${on}" data-edge="${j}" d="${d}" marker-end="url(#arrow)"/>`);
      if (e.label && !far) parts.push(`<text class="elabel" x="${r1(e.lx)}" y="${r1(e.ly)}">${esc(e.label)}</text>`);
    });
    for (const item of current.items) {
      if (meets(r, item.x - item.w / 2, item.y - item.h / 2, item.x + item.w / 2, item.y + item.h / 2)) {
        parts.push(boxSvg(item, far));
      }
    }
    port.innerHTML = parts.join("");
    current.drawn = {rect: r, far, all};
    svg.classList.toggle("far", far);
  }
  let redrawing = false;
  function redrawIfNeeded() {  // after a pan or zoom: is the window still inside what is drawn?
    if (!current.drawn || redrawing) return;
    const d = current.drawn, w = windowRect(0), far = zoom.k < 0.35;
    if (far === d.far && (d.all || (w[0] >= d.rect[0] && w[1] >= d.rect[1] && w[2] <= d.rect[2] && w[3] <= d.rect[3]))) return;
    redrawing = true;
    requestAnimationFrame(() => { redrawing = false; draw(); });
  }

  function relayout(keepView) {
    const t0 = performance.now();
    const next = view();
    const t1 = performance.now();
    Object.assign(next, GraphLayout.layout(next));
    const t2 = performance.now();
    current = next; picked = null;
    marked = {lit: new Set(), litEdges: new Set(), picked: null, found: null};
    if (keepView) apply(); else readable();
    draw();
    const t3 = performance.now();
    timings.view = t1 - t0; timings.layout = t2 - t1; timings.draw = t3 - t2;
    const ops = NODES.filter(n => n.kind === "op").length;
    statusLine.textContent = `${ops.toLocaleString()} ops, ${MODULES.length} modules; ` +
      `${current.items.length.toLocaleString()} boxes shown; layout ${Math.round(t2 - t1)} ms ` +
      `(${current.engine})` + (backward ? `; backward() runs ${DATA.backward_steps} steps` : "");
    svg.dataset.engine = current.engine;
  }

  // ------------------------------------------------------------------ pan and zoom
  function apply() {
    port.setAttribute("transform", `translate(${r1(zoom.x)},${r1(zoom.y)}) scale(${zoom.k})`);
    redrawIfNeeded();
  }
  function fit() {  // the whole graph in the window
    const box = svg.getBoundingClientRect();
    const k = Math.min(box.width / current.width, box.height / current.height, 1.4);
    zoom = {k, x: (box.width - current.width * k) / 2, y: Math.max(0, (box.height - current.height * k) / 2)};
    apply();
  }
  function readable() {  // fit, unless the text gets too small: then full width, from the top
    fit();
    if (zoom.k >= 0.75) return;
    const box = svg.getBoundingClientRect();
    const k = Math.min(box.width / current.width, 1);
    zoom = {k, x: (box.width - current.width * k) / 2, y: 0};
    apply();
  }
  function zoomAt(factor, px, py) {
    const k = Math.min(Math.max(zoom.k * factor, 0.01), 8);
    zoom.x = px - (px - zoom.x) * k / zoom.k; zoom.y = py - (py - zoom.y) * k / zoom.k; zoom.k = k;
    apply();
  }
  function centreOn(x, y, k) {
    const box = svg.getBoundingClientRect();
    zoom = {k, x: box.width / 2 - x * k, y: box.height / 2 - y * k};
    apply();
  }
  let drag = null;
  svg.addEventListener("pointerdown", ev => {
    drag = {x: ev.clientX, y: ev.clientY, zx: zoom.x, zy: zoom.y, moved: false};
  });
  window.addEventListener("pointermove", ev => {
    if (!drag) return;
    const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    drag.moved = true; svg.classList.add("dragging");
    zoom.x = drag.zx + dx; zoom.y = drag.zy + dy; apply();
  });
  window.addEventListener("pointerup", () => { svg.classList.remove("dragging"); setTimeout(() => { drag = null; }, 0); });
  svg.addEventListener("wheel", ev => {
    ev.preventDefault();
    const box = svg.getBoundingClientRect();
    zoomAt(Math.exp(-ev.deltaY * 0.0015), ev.clientX - box.left, ev.clientY - box.top);
  }, {passive: false});
  document.addEventListener("keydown", ev => {
    if (ev.target === searchBox) {
      if (ev.key === "Escape") { searchBox.blur(); svg.focus(); }
      return;
    }
    const box = svg.getBoundingClientRect(), step = 60;
    const keys = {ArrowLeft: () => { zoom.x += step; apply(); }, ArrowRight: () => { zoom.x -= step; apply(); },
      ArrowUp: () => { zoom.y += step; apply(); }, ArrowDown: () => { zoom.y -= step; apply(); },
      "+": () => zoomAt(1.25, box.width / 2, box.height / 2), "=": () => zoomAt(1.25, box.width / 2, box.height / 2),
      "-": () => zoomAt(0.8, box.width / 2, box.height / 2), "0": fit, b: toggleDirection,
      "/": () => searchBox.focus(), Escape: () => { highlight(null); markFound(null); }};
    if (keys[ev.key]) { ev.preventDefault(); keys[ev.key](); }
  });

  // ------------------------------------------------------------------ tooltip
  function tipHtml(key) {
    const line = ([text, grey], j) => `<div class="${j === 0 ? "head" : grey ? "grey" : ""}">${esc(text)}</div>`;
    if (key[0] === "c" || key[0] === "m") {
      const m = +key.slice(1), mod = MODULES[m];
      return mod.lines.map(line).join("") + `<div class="path">${esc(mod.path)}</div>` +
        (mod.bad ? '<div class="bad">marked: a float64 or a NaN/Inf inside</div>' : "") +
        `<div class="grey">click to ${key[0] === "c" ? "close" : "open"}</div>`;
    }
    const i = +key.slice(1), node = NODES[i];
    const where = node.module >= 0 ? MODULES[node.module].path : "outside any module";
    let out = node.lines.map(line).join("") + `<div class="path">module: ${esc(where)}</div>`;
    if (node.kind === "op") out += `<div class="grey">backward() step ${node.step} of ${DATA.backward_steps}</div>`;
    if (node.bad) out += '<div class="bad">marked: NaN/Inf, or a float64 in a float32 model</div>';
    return out;
  }
  svg.addEventListener("mousemove", ev => {
    const el = ev.target.closest(".node, .ctitle");
    if (!el || drag) { tip.style.display = "none"; return; }
    const key = el.classList.contains("ctitle") ? el.parentNode.dataset.key : el.dataset.key;
    if (tip.dataset.key !== key) { tip.innerHTML = tipHtml(key); tip.dataset.key = key; }
    tip.style.display = "block";
    const w = tip.offsetWidth, h = tip.offsetHeight;
    const x = ev.clientX + 14 + w > window.innerWidth ? ev.clientX - w - 10 : ev.clientX + 14;
    const y = ev.clientY + 14 + h > window.innerHeight ? ev.clientY - h - 10 : ev.clientY + 14;
    tip.style.left = Math.max(0, x) + "px"; tip.style.top = Math.max(0, y) + "px";
  });
  svg.addEventListener("mouseleave", () => { tip.style.display = "none"; });

  // ------------------------------------------------------------------ clicks, highlight
  function highlight(key) {  // what key depends on and what depends on it, in this view
    marked.lit = new Set(); marked.litEdges = new Set(); marked.picked = picked = key;
    if (key !== null) {
      const up = new Map(), down = new Map();
      current.edges.forEach((e, j) => {
        (down.get(e.a) || down.set(e.a, []).get(e.a)).push([e.b, j]);
        (up.get(e.b) || up.set(e.b, []).get(e.b)).push([e.a, j]);
      });
      for (const links of [up, down]) {
        const stack = [key];
        marked.lit.add(key);
        while (stack.length) {
          for (const [other, j] of links.get(stack.pop()) || []) {
            marked.litEdges.add(j);
            if (!marked.lit.has(other)) { marked.lit.add(other); stack.push(other); }
          }
        }
      }
    }
    restyle();
  }
  function restyle() {  // the marks on what is drawn now
    svg.classList.toggle("lit", marked.picked !== null);
    for (const el of port.children) {
      const key = el.dataset.key;
      if (key !== undefined) {
        el.classList.toggle("on", marked.lit.has(key));
        el.classList.toggle("picked", marked.picked === key);
        el.classList.toggle("found", marked.found === key);
      } else if (el.dataset.edge !== undefined) el.classList.toggle("on", marked.litEdges.has(+el.dataset.edge));
    }
  }
  function corner(m) {  // top-left corner of module m, drawn as a box or as a cluster
    const box = current.byKey.get("m" + m);
    if (box) return [box.x - box.w / 2, box.y - box.h / 2];
    const c = current.clusters.find(c => c.m === m);
    return c ? [c.x, c.y] : null;
  }
  function toggleModule(m, open) {  // the module's corner stays where it was on the screen
    const before = corner(m);
    isOpen[m] = open ? 1 : 0;
    relayout(true);
    const after = corner(m);
    if (!before || !after) return;
    zoom.x += (before[0] - after[0]) * zoom.k; zoom.y += (before[1] - after[1]) * zoom.k;
    const width = svg.getBoundingClientRect().width;
    if (current.width * zoom.k <= width) zoom.x = (width - current.width * zoom.k) / 2;
    apply();
  }
  svg.addEventListener("click", ev => {
    if (drag && drag.moved) return;
    const title = ev.target.closest(".ctitle"), el = ev.target.closest(".node");
    if (title) toggleModule(+title.parentNode.dataset.key.slice(1), false);
    else if (el && el.dataset.key[0] === "m") toggleModule(+el.dataset.key.slice(1), true);
    else if (el) highlight(picked === el.dataset.key ? null : el.dataset.key);
    else highlight(null);
    tip.style.display = "none";
  });

  // ------------------------------------------------------------------ search
  function matches(query) {
    const q = query.trim().toLowerCase();
    if (!q) return [];
    const hits = [];
    const rank = name => name === q ? 0 : name.startsWith(q) ? 1 : name.includes(q) ? 2 : -1;
    MODULES.forEach((m, i) => {
      const r = rank(m.title.toLowerCase().split(" (")[0]), r2 = rank(m.title.toLowerCase());
      const best = r >= 0 ? r : r2 >= 0 ? r2 + 1 : -1;
      if (best >= 0) hits.push([best, 0, i, "m"]);
    });
    NODES.forEach((n, i) => {
      if (backward && n.kind === "input") return;
      const r = rank(n.name.toLowerCase());
      if (r >= 0) hits.push([r, n.kind === "op" ? 2 : 1, i, "n"]);
    });
    hits.sort((x, y) => x[0] - y[0] || x[1] - y[1] || x[2] - y[2]);
    return hits.map(([, , i, kind]) => kind + i);
  }
  function reveal(target) {  // open what hides it; its key in the current view
    let m = target[0] === "m" ? MODULES[+target.slice(1)].parent : NODES[+target.slice(1)].module;
    let changed = false;
    for (; m >= 0; m = MODULES[m].parent) if (!isOpen[m]) { isOpen[m] = 1; changed = true; }
    if (changed) relayout(true);
    return target[0] === "m" && isOpen[+target.slice(1)] ? "c" + target.slice(1) : target;
  }
  function markFound(key) { marked.found = key; restyle(); }
  function showFound(step) {
    if (!found.length) { foundCount.textContent = searchBox.value.trim() ? "not found" : ""; markFound(null); return; }
    foundAt = (foundAt + step + found.length) % found.length;
    const key = reveal(found[foundAt]);
    foundCount.textContent = `${foundAt + 1} of ${found.length}`;
    markFound(key);
    const item = current.byKey.get(key) || current.clusters.find(c => "c" + c.m === key);
    if (!item) return;
    const x = item.w !== undefined && key[0] === "c" ? item.x + item.w / 2 : item.x;
    const y = key[0] === "c" ? item.y + item.h / 2 : item.y;
    centreOn(x, y, Math.max(zoom.k, 0.9));
  }
  searchBox.addEventListener("input", () => { found = matches(searchBox.value); foundAt = -1; showFound(1); });
  searchBox.addEventListener("keydown", ev => {
    if (ev.key === "Enter") { ev.preventDefault(); showFound(ev.shiftKey ? -1 : 1); }
  });

  // ------------------------------------------------------------------ buttons
  function toggleDirection() {
    backward = !backward;
    const button = document.getElementById("direction");
    button.textContent = backward ? "Forward view" : "Backward view";
    button.classList.toggle("on", backward);
    relayout(false);
  }
  document.getElementById("open-all").addEventListener("click", () => { isOpen.fill(1); relayout(false); });
  document.getElementById("close-all").addEventListener("click", () => { closeAll(); relayout(false); });
  document.getElementById("direction").addEventListener("click", toggleDirection);
  document.getElementById("fit").addEventListener("click", fit);
  window.addEventListener("resize", fit);

  // what the tests and a curious reader can call from the console
  window.explorer = {
    timings, search(q) { searchBox.value = q; found = matches(q); foundAt = -1; showFound(1); return found; },
    openAll() { isOpen.fill(1); relayout(false); }, closeAll() { closeAll(); relayout(false); },
    toggleDirection, fit, highlight, boxes: () => current.items.length,
  };
  const t0 = performance.now();
  closeAll();
  relayout(false);
  timings.first = performance.now() - t0;
  document.body.dataset.ready = "1";
})();
