// Runs kbgen/assets/graph.js in node with a minimal DOM/canvas stand-in and prints, as JSON,
// what a local graph drew: nodes kept, omitted count, label boxes (screen px) and texts.
// Usage: node graph_harness.js <graph.js> <json {nodes, links, center, max, width, height}>
"use strict";
const fs = require("fs");
const [graphJs, specJson] = process.argv.slice(2);
const spec = JSON.parse(specJson);
const texts = [];
const ctx = new Proxy({}, {
  get(target, name) {
    if (name === "measureText") return (t) => ({ width: 12 * [...t].length });
    if (name === "fillText") return (t) => texts.push(t);
    if (name in target) return target[name];
    return () => {};
  },
  set(target, name, value) { target[name] = value; return true; },
});
function element(attrs) {
  return {
    attrs: Object.assign({}, attrs), style: {}, children: [],
    getAttribute(n) { return n in this.attrs ? this.attrs[n] : null; },
    setAttribute(n, v) { this.attrs[n] = String(v); },
    appendChild(c) { this.children.push(c); },
    addEventListener() {}, setPointerCapture() {},
    getBoundingClientRect() { return { left: 0, top: 0, width: spec.width || 600, height: spec.height || 300 }; },
    getContext() { return ctx; },
  };
}
const el = element({ "class": "kbgen-graph" });
if (spec.center) el.setAttribute("data-node", spec.center);
if (spec.max) el.setAttribute("data-max", spec.max);
global.window = global;
global.addEventListener = () => {};
global.location = { href: "http://localhost/a/b.html" };
global.document = {
  currentScript: null, readyState: "complete", body: {},
  querySelectorAll: (sel) => (sel === ".kb-graph" ? [el] : []),
  createElement: () => element({}), addEventListener() {},
};
global.getComputedStyle = () => ({ getPropertyValue: () => "" });
global.MutationObserver = class { observe() {} };
global.requestAnimationFrame = () => {};
global.devicePixelRatio = 1;
window.kbgenGraph = { nodes: spec.nodes, links: spec.links };
eval(fs.readFileSync(graphJs, "utf8"));
const g = el.kbgenGraph;
for (let i = 0; i < 400; i++) { g.step(); g.autofit(); }
texts.length = 0;
g.draw();
process.stdout.write(JSON.stringify({
  nodes: g.nodes.map((n) => n.id), omitted: g.omitted, labels: g.labels, texts,
  aria: g.canvas.getAttribute("aria-label"),
}));
