/* Where the explorer's boxes go (tinygrad_cnn graph explorer, see viz/explorer.py).
 *
 * A view is {items, clusters, edges}: items are boxes {key, w, h, cluster} (cluster: the
 * open module around the box, -1 for none), clusters are open modules {m, parent}, edges
 * {a, b, label} join item keys. Both layouts set item.x, item.y (the centre), each cluster's
 * x, y, w, h (its top-left corner and size) and titleY (the baseline of its title, which
 * is titleWidth wide), each edge's points and label position, and
 * return the drawing's width and height.
 *
 * dagre (vendored, MIT) lays small views out well: few crossings, clusters kept together.
 * It grows faster than linear, so a view with more boxes than DAGRE_LIMIT gets the quick
 * layout: each box on the rank one below its lowest input (longest path, linear time),
 * boxes of a rank side by side in forward order, straight edges.
 */
(function () {
  "use strict";
  const DAGRE_LIMIT = 700;
  const CLUSTER_PAD = 10, CLUSTER_TITLE = 20, RANK_GAP = 34, BOX_GAP = 18;

  function withDagre(view) {
    const g = new dagre.graphlib.Graph({compound: true});
    g.setGraph({rankdir: "TB", nodesep: BOX_GAP, ranksep: 20, edgesep: 8,
                marginx: 20, marginy: 20});
    g.setDefaultEdgeLabel(() => ({}));
    for (const item of view.items) g.setNode(item.key, {width: item.w, height: item.h});
    for (const c of view.clusters) g.setNode("c" + c.m, {});
    for (const c of view.clusters) if (c.parent >= 0) g.setParent("c" + c.m, "c" + c.parent);
    for (const item of view.items) if (item.cluster >= 0) g.setParent(item.key, "c" + item.cluster);
    const clusterOf = new Map(view.items.map(item => [item.key, item.cluster]));
    for (const e of view.edges) {
      // an edge into another cluster spans two ranks: room for one cluster's bottom and the
      // next one's title, so that clusters stack instead of standing side by side
      const minlen = clusterOf.get(e.a) === clusterOf.get(e.b) ? 1 : 2;
      g.setEdge(e.a, e.b, e.label ? {width: 6 * e.label.length, height: 11, labelpos: "r",
                                     labeloffset: 4, minlen} : {minlen});
    }
    // dagre keeps no room for a cluster's title: a box of its size, above everything else
    // in the cluster (an edge to each box or inner cluster that no edge inside enters),
    // takes that room
    const parentOf = new Map(view.clusters.map(c => [c.m, c.parent]));
    const within = (item, m) => {  // whether the box lies inside cluster m
      for (let c = item.cluster; c >= 0; c = parentOf.get(c)) if (c === m) return true;
      return false;
    };
    const byKey = new Map(view.items.map(item => [item.key, item]));
    const entered = new Set();  // boxes and clusters with an input from inside their parent
    for (const e of view.edges) {
      const a = byKey.get(e.a), b = byKey.get(e.b);
      if (b.cluster >= 0 && within(a, b.cluster)) entered.add(b.key);
      for (let c = b.cluster; c >= 0; c = parentOf.get(c)) {
        if (within(a, c)) break;
        if (parentOf.get(c) >= 0 && within(a, parentOf.get(c))) entered.add("c" + c);
      }
    }
    for (const c of view.clusters) {
      g.setNode("t" + c.m, {width: c.titleWidth, height: 14});
      g.setParent("t" + c.m, "c" + c.m);
      if (c.parent >= 0 && !entered.has("c" + c.m)) g.setEdge("t" + c.parent, "t" + c.m, {});
    }
    for (const item of view.items) {
      if (item.cluster >= 0 && !entered.has(item.key)) g.setEdge("t" + item.cluster, item.key, {});
    }
    dagre.layout(g);
    for (const item of view.items) { const n = g.node(item.key); item.x = n.x; item.y = n.y; }
    for (const c of view.clusters) {
      const n = g.node("c" + c.m);
      c.x = n.x - n.width / 2; c.y = n.y - n.height / 2; c.w = n.width; c.h = n.height;
      c.titleY = g.node("t" + c.m).y + 5;
    }
    for (const e of view.edges) {
      const d = g.edge(e.a, e.b);
      e.points = d.points.map(p => [p.x, p.y]);
      if (e.label) { e.lx = d.x - d.width / 2 + 2; e.ly = d.y + 3; }
    }
    const size = g.graph();
    return {width: size.width, height: size.height, engine: "dagre"};
  }

  function quick(view) {
    const index = new Map(view.items.map((item, i) => [item.key, i]));
    const n = view.items.length, rank = new Int32Array(n), indegree = new Int32Array(n);
    const next = view.items.map(() => []);
    for (const e of view.edges) { next[index.get(e.a)].push(index.get(e.b)); indegree[index.get(e.b)]++; }
    const queue = [];
    for (let i = 0; i < n; i++) if (indegree[i] === 0) queue.push(i);
    for (let head = 0; head < queue.length; head++) {  // Kahn's order: inputs before users
      const i = queue[head];
      for (const j of next[i]) {
        rank[j] = Math.max(rank[j], rank[i] + 1);
        if (--indegree[j] === 0) queue.push(j);
      }
    }
    const ranks = [];
    for (let i = 0; i < n; i++) (ranks[rank[i]] = ranks[rank[i]] || []).push(i);
    let y = 20, width = 0;
    const rows = [];
    for (const row of ranks) {
      if (!row) continue;
      let w = -BOX_GAP, h = 0;
      for (const i of row) { w += view.items[i].w + BOX_GAP; h = Math.max(h, view.items[i].h); }
      rows.push({row, w, h, y}); width = Math.max(width, w); y += h + RANK_GAP;
    }
    for (const {row, w, h, y: top} of rows) {
      let x = 20 + (width - w) / 2;
      for (const i of row) {
        const item = view.items[i];
        item.x = x + item.w / 2; item.y = top + h / 2; x += item.w + BOX_GAP;
      }
    }
    // a cluster is drawn around its boxes and inner clusters, innermost first
    const byModule = new Map(view.clusters.map(c => [c.m, c]));
    for (const c of view.clusters) { c.x0 = c.y0 = Infinity; c.x1 = c.y1 = -Infinity; }
    const grow = (c, x0, y0, x1, y1) => {
      c.x0 = Math.min(c.x0, x0); c.y0 = Math.min(c.y0, y0);
      c.x1 = Math.max(c.x1, x1); c.y1 = Math.max(c.y1, y1);
    };
    for (const item of view.items) {
      if (item.cluster >= 0) grow(byModule.get(item.cluster), item.x - item.w / 2,
                                  item.y - item.h / 2, item.x + item.w / 2, item.y + item.h / 2);
    }
    for (let k = view.clusters.length - 1; k >= 0; k--) {  // parents come before children
      const c = view.clusters[k];
      c.x = c.x0 - CLUSTER_PAD; c.y = c.y0 - CLUSTER_TITLE;
      c.w = c.x1 - c.x0 + 2 * CLUSTER_PAD; c.h = c.y1 - c.y0 + CLUSTER_TITLE + CLUSTER_PAD;
      c.titleY = c.y + 14;
      if (c.parent >= 0) grow(byModule.get(c.parent), c.x, c.y, c.x + c.w, c.y + c.h);
    }
    for (const e of view.edges) {
      const a = view.items[index.get(e.a)], b = view.items[index.get(e.b)];
      e.points = [[a.x, a.y + a.h / 2], [b.x, b.y - b.h / 2]];
      if (e.label) { e.lx = (a.x + b.x) / 2 + 4; e.ly = (a.y + a.h / 2 + b.y - b.h / 2) / 2 + 3; }
    }
    return {width: width + 40, height: y, engine: "quick"};
  }

  window.GraphLayout = {
    DAGRE_LIMIT,
    layout(view) {
      return view.items.length + view.edges.length / 2 <= DAGRE_LIMIT ? withDagre(view) : quick(view);
    },
  };
})();
