/* kbgen graph: a small force-directed graph of the vault on a <canvas>.
 * Data comes from graph-data.js (window.kbgenGraph = {nodes: [{id, t, u}], links: [[i, j]]}),
 * loaded as a script so the site works from file:// (no fetch). Node URLs are relative to
 * the site root, which is derived from this script's own URL (assets/kbgen/graph.js).
 * Interaction: drag a node, drag the background to pan, wheel to zoom, click to open.
 * A local graph (data-node) shows the note and its neighbours only, at most data-max of them
 * (default 24; the best-linked are kept). Labels never overlap: they are placed in priority
 * order (this note, the hovered one and its neighbours, then by links) and a label that would
 * cover one already drawn is left out (hover a node to read it). */
(function () {
  "use strict";
  var script = document.currentScript;
  var root = script ? new URL("../../", script.src) : new URL("./", location.href);

  function cssVar(el, name, fallback) {
    var v = getComputedStyle(el).getPropertyValue(name).trim();
    return v || fallback;
  }

  function Graph(el) {
    var data = window.kbgenGraph;
    if (!data) return;
    this.el = el;
    el.kbgenGraph = this; // for tests and debugging
    this.center = el.getAttribute("data-node");
    var keep = null, nodes = data.nodes, i;
    this.omitted = 0;
    if (this.center) {
      var c = -1, degree = {}, near = [];
      for (i = 0; i < nodes.length; i++) if (nodes[i].id === this.center) c = i;
      if (c < 0) return;
      data.links.forEach(function (l) {
        degree[l[0]] = (degree[l[0]] || 0) + 1; degree[l[1]] = (degree[l[1]] || 0) + 1;
        if (l[0] === c) near.push(l[1]); if (l[1] === c) near.push(l[0]);
      });
      var cap = parseInt(el.getAttribute("data-max") || "24", 10);
      near.sort(function (a, b) { return (degree[b] - degree[a]) || (a - b); });
      this.omitted = Math.max(near.length - cap, 0);
      keep = {}; keep[c] = true;
      near.slice(0, cap).forEach(function (n) { keep[n] = true; });
    }
    var map = {}, self = this;
    this.nodes = [];
    nodes.forEach(function (n, idx) {
      if (keep && !keep[idx]) return;
      var a = self.nodes.length * 2.399963, r = 12 * Math.sqrt(self.nodes.length + 1);
      map[idx] = self.nodes.length;
      self.nodes.push({ id: n.id, t: n.t, u: n.u, x: r * Math.cos(a), y: r * Math.sin(a), vx: 0, vy: 0,
                        deg: 0, me: n.id === self.center });
    });
    this.links = [];
    data.links.forEach(function (l) {
      if (map[l[0]] === undefined || map[l[1]] === undefined) return;
      var s = self.nodes[map[l[0]]], t = self.nodes[map[l[1]]];
      s.deg++; t.deg++;
      self.links.push([s, t]);
    });
    this.canvas = document.createElement("canvas");
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", (this.center ? "Local graph of " : "Graph of ") + this.nodes.length + " notes" +
                             (this.omitted ? " (" + this.omitted + " more linked notes not shown)" : ""));
    el.appendChild(this.canvas);
    this.tip = document.createElement("div");
    this.tip.className = "kb-graph-tip";
    el.appendChild(this.tip);
    this.scale = 1; this.tx = 0; this.ty = 0; this.alpha = 1; this.hover = null;
    this.colors();
    this.resize();
    this.bind();
    this.fit = true;
    this.kick();
    new MutationObserver(function () { self.colors(); self.draw(); })
      .observe(document.body, { attributes: true, attributeFilter: ["data-md-color-scheme", "data-md-color-primary", "data-md-color-accent"] });
    window.addEventListener("resize", function () { self.resize(); self.draw(); });
  }

  Graph.prototype.colors = function () {
    var b = document.body;
    this.c = {
      fg: cssVar(b, "--md-default-fg-color--light", "#888"),
      text: cssVar(b, "--md-default-fg-color", "#222"),
      link: cssVar(b, "--md-default-fg-color--lighter", "rgba(128,128,128,.35)"),
      accent: cssVar(b, "--md-accent-fg-color", "#526cfe"),
      primary: cssVar(b, "--md-typeset-a-color", cssVar(b, "--md-primary-fg-color", "#4051b5"))
    };
  };

  Graph.prototype.resize = function () {
    // The inner box (clientWidth/Height, without the border): a canvas as wide as the border box
    // would overflow its container by the border's width.
    var r = this.el.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    this.w = Math.max(this.el.clientWidth || r.width, 100); this.h = Math.max(this.el.clientHeight || r.height, 100);
    this.canvas.width = this.w * dpr; this.canvas.height = this.h * dpr;
    this.canvas.style.width = this.w + "px"; this.canvas.style.height = this.h + "px";
    this.dpr = dpr;
  };

  Graph.prototype.step = function () {
    var n = this.nodes, i, j, a, b, dx, dy, d2, f, k = this.alpha;
    var rep = n.length > 400 ? 900 : 1400;
    for (i = 0; i < n.length; i++) {
      a = n[i];
      for (j = i + 1; j < n.length; j++) {
        b = n[j]; dx = a.x - b.x; dy = a.y - b.y; d2 = dx * dx + dy * dy + 0.01;
        if (d2 > 250000) continue;
        f = rep * k / d2; a.vx += dx * f; a.vy += dy * f; b.vx -= dx * f; b.vy -= dy * f;
      }
    }
    this.links.forEach(function (l) {
      var s = l[0], t = l[1], dx = t.x - s.x, dy = t.y - s.y, d = Math.sqrt(dx * dx + dy * dy) || 1;
      var f = (d - 60) * 0.04 * k / d;
      s.vx += dx * f; s.vy += dy * f; t.vx -= dx * f; t.vy -= dy * f;
    });
    for (i = 0; i < n.length; i++) {
      a = n[i];
      a.vx -= a.x * 0.004 * k; a.vy -= a.y * 0.004 * k;
      if (a === this.dragging) { a.vx = a.vy = 0; continue; }
      a.vx *= 0.6; a.vy *= 0.6; a.x += a.vx; a.y += a.vy;
    }
    this.alpha *= 0.985;
  };

  Graph.prototype.kick = function () {
    var self = this;
    this.alpha = Math.max(this.alpha, 0.3);
    if (this.running) return;
    this.running = true;
    (function tick() {
      self.step();
      if (self.fit) self.autofit();
      self.draw();
      if (self.alpha > 0.02 || self.dragging) requestAnimationFrame(tick);
      else { self.running = false; self.fit = false; }
    })();
  };

  Graph.prototype.autofit = function () {
    var minx = 1e9, miny = 1e9, maxx = -1e9, maxy = -1e9;
    this.nodes.forEach(function (p) { minx = Math.min(minx, p.x); maxx = Math.max(maxx, p.x); miny = Math.min(miny, p.y); maxy = Math.max(maxy, p.y); });
    var s = Math.min(this.w / (maxx - minx + 80), this.h / (maxy - miny + 80), 2);
    this.scale = s; this.tx = this.w / 2 - s * (minx + maxx) / 2; this.ty = this.h / 2 - s * (miny + maxy) / 2;
  };

  Graph.prototype.radius = function (p) { return 3 + Math.min(Math.sqrt(p.deg) * 1.6, 9); };

  Graph.prototype.draw = function () {
    var ctx = this.canvas.getContext("2d"), self = this, c = this.c, h = this.hover;
    var near = {};
    if (h) { near[h.id] = true; this.links.forEach(function (l) { if (l[0] === h) near[l[1].id] = true; if (l[1] === h) near[l[0].id] = true; }); }
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.w, this.h);
    ctx.translate(this.tx, this.ty); ctx.scale(this.scale, this.scale);
    ctx.lineWidth = 1 / this.scale;
    this.links.forEach(function (l) {
      var on = h && (l[0] === h || l[1] === h);
      ctx.strokeStyle = on ? c.accent : c.link;
      ctx.globalAlpha = h && !on ? 0.3 : 1;
      ctx.beginPath(); ctx.moveTo(l[0].x, l[0].y); ctx.lineTo(l[1].x, l[1].y); ctx.stroke();
    });
    this.nodes.forEach(function (p) {
      var dim = h && !near[p.id];
      ctx.globalAlpha = dim ? 0.25 : 1;
      ctx.fillStyle = p.me || p === h ? c.accent : c.primary;
      ctx.beginPath(); ctx.arc(p.x, p.y, self.radius(p), 0, 6.2832); ctx.fill();
    });
    ctx.globalAlpha = 1;
    this.drawLabels(ctx, near);
    if (this.omitted) {
      ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
      ctx.font = "11px sans-serif"; ctx.textAlign = "right"; ctx.fillStyle = c.fg;
      ctx.fillText("+" + this.omitted, this.w - 6, this.h - 6);
    }
  };

  /* Labels in priority order, each only where it covers no label already placed (screen px). */
  Graph.prototype.drawLabels = function (ctx, near) {
    var self = this, h = this.hover, size = 12, placed = [];
    var order = this.nodes.slice().sort(function (a, b) {
      function rank(p) { return p.me ? 0 : p === h ? 1 : (h && near[p.id]) ? 2 : 3; }
      return (rank(a) - rank(b)) || (b.deg - a.deg) || (a.id < b.id ? -1 : 1);
    });
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.font = size + "px sans-serif";
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    order.forEach(function (p) {
      var x = p.x * self.scale + self.tx, y = (p.y + self.radius(p)) * self.scale + self.ty + 2;
      var w = ctx.measureText(p.t).width, box = { x: x - w / 2 - 2, y: y - 1, w: w + 4, h: size + 3, id: p.id };
      if (box.x + box.w < 0 || box.x > self.w || box.y > self.h || box.y + box.h < 0) return;
      for (var i = 0; i < placed.length; i++) {
        var o = placed[i];
        if (box.x < o.x + o.w && o.x < box.x + box.w && box.y < o.y + o.h && o.y < box.y + box.h) return;
      }
      placed.push(box);
      ctx.globalAlpha = h && !near[p.id] ? 0.35 : 1;
      ctx.fillStyle = self.c.text;
      ctx.fillText(p.t, x, y);
    });
    ctx.globalAlpha = 1;
    this.labels = placed; // for tests: the label boxes drawn, in screen pixels
  };

  Graph.prototype.at = function (ev) {
    var r = this.canvas.getBoundingClientRect();
    var x = (ev.clientX - r.left - this.tx) / this.scale, y = (ev.clientY - r.top - this.ty) / this.scale;
    var best = null, bd = 1e9, self = this;
    this.nodes.forEach(function (p) {
      var d = (p.x - x) * (p.x - x) + (p.y - y) * (p.y - y), rr = self.radius(p) + 4 / self.scale;
      if (d < rr * rr && d < bd) { bd = d; best = p; }
    });
    return { node: best, x: x, y: y };
  };

  Graph.prototype.bind = function () {
    var self = this, cv = this.canvas, down = null;
    cv.addEventListener("pointerdown", function (ev) {
      var hit = self.at(ev);
      down = { x: ev.clientX, y: ev.clientY, tx: self.tx, ty: self.ty, node: hit.node, moved: false };
      if (hit.node) { self.dragging = hit.node; self.fit = false; self.kick(); }
      cv.setPointerCapture(ev.pointerId);
    });
    cv.addEventListener("pointermove", function (ev) {
      if (!down) {
        var hit = self.at(ev).node;
        if (hit !== self.hover) {
          self.hover = hit; cv.style.cursor = hit ? "pointer" : "grab";
          self.tip.textContent = hit ? hit.t : ""; self.tip.style.display = hit ? "block" : "none";
          self.draw();
        }
        return;
      }
      if (Math.abs(ev.clientX - down.x) + Math.abs(ev.clientY - down.y) > 4) down.moved = true;
      if (down.node) { var p = self.at(ev); down.node.x = p.x; down.node.y = p.y; self.kick(); }
      else { self.tx = down.tx + ev.clientX - down.x; self.ty = down.ty + ev.clientY - down.y; self.fit = false; self.draw(); }
    });
    cv.addEventListener("pointerup", function () {
      if (down && down.node && !down.moved) window.location.href = new URL(down.node.u, root).href;
      down = null; self.dragging = null;
    });
    cv.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var r = cv.getBoundingClientRect(), mx = ev.clientX - r.left, my = ev.clientY - r.top;
      var f = Math.exp(-ev.deltaY * 0.0015), s = Math.min(Math.max(self.scale * f, 0.1), 8);
      self.tx = mx - (mx - self.tx) * s / self.scale; self.ty = my - (my - self.ty) * s / self.scale;
      self.scale = s; self.fit = false; self.draw();
    }, { passive: false });
  };

  /* Hover previews: a link to a note shows its title, description and opening text; a link to a
   * section shows that section's opening text (n.x, n.s[id] from graph-data.js: offline). */
  var byUrl = null, preview = null;
  function pageKey(href) {
    var u = new URL(href, location.href);
    u.hash = ""; u.search = "";
    var s = u.href;
    return /\/$/.test(s) ? s + "index.html" : s;
  }
  function nodeFor(a) {
    var data = window.kbgenGraph;
    if (!data) return null;
    if (!byUrl) {
      byUrl = {};
      data.nodes.forEach(function (n) { byUrl[pageKey(new URL(n.u, root).href)] = n; });
    }
    return byUrl[pageKey(a.href)] || null;
  }
  document.addEventListener("mouseover", function (ev) {
    var a = ev.target.closest && ev.target.closest("a.kb-link, .kb-backlinks a");
    if (!a) return;
    var n = nodeFor(a);
    if (!n) return;
    if (!preview) { preview = document.createElement("div"); preview.className = "kb-preview md-typeset"; document.body.appendChild(preview); }
    preview.textContent = "";
    var t = document.createElement("strong"); t.textContent = n.t; preview.appendChild(t);
    if (n.d) { var d = document.createElement("div"); d.textContent = n.d; preview.appendChild(d); }
    var frag = a.hash ? decodeURIComponent(a.hash.slice(1)) : "";
    var text = (frag && n.s && n.s[frag]) || n.x;
    if (text) { var x = document.createElement("p"); x.className = "kb-preview__text"; x.textContent = text; preview.appendChild(x); }
    var r = a.getBoundingClientRect();
    preview.style.left = Math.min(r.left + window.scrollX, window.scrollX + document.documentElement.clientWidth - 320) + "px";
    preview.style.top = (r.bottom + window.scrollY + 6) + "px";
    preview.style.display = "block";
  });
  document.addEventListener("mouseout", function (ev) {
    if (preview && ev.target.closest && ev.target.closest("a.kb-link, .kb-backlinks a")) preview.style.display = "none";
  });

  function init() {
    var els = document.querySelectorAll(".kb-graph");
    for (var i = 0; i < els.length; i++) {
      if (els[i].getAttribute("data-ready")) continue;
      els[i].setAttribute("data-ready", "1");
      new Graph(els[i]);
    }
  }
  window.kbgenGraphInit = init;
  // Material's instant navigation swaps pages without reloading scripts.
  if (window.document$ && window.document$.subscribe) window.document$.subscribe(init);
  else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
