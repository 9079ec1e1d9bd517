// The orderflow console's page: the stack map, dashboard, alarms, dead letters, orders and live tails
// of `orderflow up`, from the console's JSON API and its server-sent events (docs: the console API
// contract). Every string the server sends is untrusted: the DOM is built with el() (textContent and
// setAttribute), never from HTML text.
import uPlot from "./vendor/uPlot.esm.js";

const TOKEN_KEY = "orderflow-token";
const TAIL_LIMIT = 200;
const FLASH_MS = 3000;
const LIVE_LABELS = {
  depth: "depth", inFlight: "in flight", invocations: "invocations", errors: "errors",
  throttles: "throttles", running: "running", items: "items", events: "events",
};
const STATE_CLASS = { OK: "ok", ALARM: "alarm", INSUFFICIENT_DATA: "insufficient" };
const UNIT_SUFFIX = { Milliseconds: "ms", Seconds: "s", Microseconds: "µs", Bytes: "B", Percent: "%" };
const PALETTE = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#be185d", "#4d7c0f"];
const LOG_LEVELS = { WARN: "WARNING", FATAL: "CRITICAL" };

const state = {
  view: null,
  timer: null,
  nodes: new Map(),        // node id → {node, box, live, fields: Map(key → <span data-field>)}
  rows: [],                // the map's rows, top down: {element, ids, lines (how many it wraps into)}
  layoutPending: 0,        // the frame that lays the map out, asked for
  edges: [],
  alarmStates: new Map(),  // alarm name → OK | ALARM | INSUFFICIENT_DATA
  flashes: new Map(),      // alarm name → timeout that ends its row's flash
  dlqDepths: new Map(),    // DLQ node id → depth last seen
  posting: 0,              // POSTs in flight (a redrive, a purge)
  dashboard: null,         // {signature, widgets: [{update, destroy}]}
  redriveQueue: null,      // the queue whose dry run the dialog shows
  redriveRun: 0,           // the newest dry run; older answers are dropped
  purgeQueue: null,        // the queue the purge dialog asks about
  dlqCounts: new Map(),    // DLQ name → depth + in flight, from the last /api/dlq answer
  orderSearch: 0,          // the newest search; older answers are dropped
};

// --- helpers --------------------------------------------------------------------------------

const $ = (selector, root = document) => root.querySelector(selector);

/** An element with attributes and children; strings become text nodes, null/false are skipped. */
function el(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

function svgEl(tag, attrs = {}, ...children) {
  return build(document.createElementNS("http://www.w3.org/2000/svg", tag), attrs, children);
}

function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** A class name part from server text (a status, a kind): letters, digits and dashes only. */
const token = (text) => String(text ?? "").toLowerCase().replace(/[^a-z0-9]+/g, "-");

/** fetch as JSON; a non-2xx answer throws an Error with the server's `error` line (and `status`). */
async function api(path, options = {}) {
  const init = options.body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Orderflow-Token": sessionStorage.getItem(TOKEN_KEY) || "" },
    body: JSON.stringify(options.body),
  };
  // While a redrive or a purge runs, the page lists no dead letters (the server has them take turns too).
  if (init.method) state.posting += 1;
  const response = await fetch(path, init).finally(() => { if (init.method) state.posting -= 1; });
  // An answer that is not JSON (a proxy's error page): its status line says enough.
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    const line = typeof payload?.error === "string" ? payload.error : `${response.status} ${response.statusText}`;
    const error = new Error(line.split("\n")[0]);
    error.status = response.status;
    throw error;
  }
  return payload;
}

const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

function formatNumber(value) {
  return typeof value === "number" && Number.isFinite(value) ? numberFormat.format(value) : String(value ?? "–");
}

/** A value with its CloudWatch unit ("12 ms", "3"); Count and no unit are bare numbers. */
function formatValue(value, unit) {
  if (value === null || value === undefined) return "–";
  const suffix = unit && unit !== "Count" && unit !== "None" ? UNIT_SUFFIX[unit] || unit : "";
  return suffix ? `${formatNumber(value)} ${suffix}` : formatNumber(value);
}

const lastValue = (points) => (points.length ? points[points.length - 1][1] : null);
const seconds = (value) => `${formatNumber(value)} s`;
const plural = (n, word) => `${formatNumber(n)} ${word}${n === 1 ? "" : "s"}`;
const pad = (n) => String(n).padStart(2, "0");

/** Epoch milliseconds or an ISO string (the stored items' times) as a <time>: "HH:MM:SS" in local
 * time, the date before it when not today. */
function timeEl(at) {
  const date = new Date(at ?? NaN);
  if (at === "" || Number.isNaN(date.getTime())) return el("span", {}, at ? String(at) : "–");
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  const today = date.toDateString() === new Date().toDateString();
  return el("time", { datetime: date.toISOString(), title: date.toString() }, today ? time : `${day} ${time}`);
}

/** JSON (or a string holding JSON) indented; any other string as it is. */
function jsonText(value) {
  if (typeof value !== "string") return JSON.stringify(value, null, 2);
  try {
    return JSON.stringify(JSON.parse(value), null, 2);
  } catch {
    return value;
  }
}

/** A <dl> of [label, value] pairs; a value may be an element. */
function facts(pairs) {
  return el("dl", { class: "facts" }, pairs.map(([label, value]) => [el("dt", {}, label), el("dd", {}, value ?? "–")]));
}

function table(headings, rows, attrs = {}) {
  return el("div", { class: "table-scroll" },
    el("table", { class: "data", ...attrs },
      el("thead", {}, el("tr", {}, headings.map((heading) => el("th", { scope: "col" }, heading)))),
      el("tbody", {}, rows)));
}

function showError(view, error) {
  const line = $(`#${view} [data-role="view-error"]`);
  line.textContent = error ? `Could not load: ${error.message}` : "";
  line.hidden = !error;
}

// --- views and tabs -------------------------------------------------------------------------

const VIEWS = {
  map: { load: () => scheduleMapLayout() },
  dashboard: { load: loader("dashboard", "/api/dashboard", renderDashboard), every: 10000 },
  alarms: { load: loader("alarms", "/api/alarms", renderAlarms), every: 5000 },
  dlq: { load: loader("dlq", "/api/dlq", renderDlq) },
  orders: {},
  live: {},
};

/** A view's loader: GET `path` and `render` the answer, or show the error line. One request at a
 * time; a call meanwhile asks for one more after it (so the reload after a redrive is not lost). */
function loader(view, path, render) {
  let running = false;
  let again = false;
  const load = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      render(await api(path));
      showError(view, null);
    } catch (error) {
      showError(view, error);
    }
    running = false;
    if (again) {
      again = false;
      load();
    }
  };
  return load;
}

function showView(name) {
  if (!Object.prototype.hasOwnProperty.call(VIEWS, name)) name = "map";
  if (state.view === name) return;
  state.view = name;
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== name;
  for (const tab of document.querySelectorAll("[data-view]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.view === name));
  }
  clearInterval(state.timer);
  const view = VIEWS[name];
  if (view.load) view.load();
  // Polls only while the view is shown and the browser tab is visible.
  if (view.every) state.timer = setInterval(() => document.hidden || view.load(), view.every);
}

function bindTabs() {
  const tabs = [...document.querySelectorAll("[data-view]")];
  for (const tab of tabs) {
    tab.addEventListener("click", () => (location.hash = tab.dataset.view));
    // The tablist's arrow keys (WAI-ARIA tabs pattern).
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
      next.focus();
      next.click();
    });
  }
  window.addEventListener("hashchange", () => showView(location.hash.slice(1)));
}

// --- stack map ------------------------------------------------------------------------------

/** The map top down: each column of /api/overview is a row (column 0 at the top), its nodes side by
 * side in the order of what feeds them; a row too wide for the map wraps into lines (layoutMap). */
function renderMap(overview) {
  const columns = Map.groupBy(overview.nodes, (node) => node.column);
  state.nodes.clear();
  const rows = orderRows([...columns.keys()].sort((a, b) => a - b).map((column) => columns.get(column)), overview.edges);
  state.rows = rows.map((nodes) => ({ element: el("div", { class: "map-row", "data-column": nodes[0].column },
    nodes.map(nodeBox)), ids: nodes.map((node) => node.id), lines: 1 }));
  $('#map [data-role="rows"]').replaceChildren(...state.rows.map((row) => row.element));
  state.edges = overview.edges;
  // Lines and edges follow the boxes: a box grows when its numbers arrive, the map with the window.
  const observer = new ResizeObserver(scheduleMapLayout);
  observer.observe($("#map .map-canvas"));
  for (const { box } of state.nodes.values()) observer.observe(box);
}

/** Each row sorted by the mean place of what feeds it in the rows above, so that edges run down rather
 * than across; ties keep the server's order. */
function orderRows(rows, edges) {
  const place = new Map(); // node id → [row, place in its row from 0 to 1]
  const mean = (values) => (values.length ? values.reduce((a, b) => a + b) / values.length : 0.5);
  return rows.map((nodes, row) => {
    const key = (node) => mean(edges.filter((edge) => edge.to === node.id && place.get(edge.from)?.[0] < row)
      .map((edge) => place.get(edge.from)[1]));
    const sorted = nodes.map((node) => [key(node), node]).sort((a, b) => a[0] - b[0]).map(([, node]) => node);
    sorted.forEach((node, index) => place.set(node.id, [row, (index + 0.5) / sorted.length]));
    return sorted;
  });
}

function nodeBox(node) {
  const live = el("div", { class: "node-live" });
  const box = el("div", { class: "node", "data-node": node.id, "data-kind": node.kind, title: node.id },
    el("div", { class: "node-head" }, el("span", { class: "node-kind" }, node.kind),
      node.detail ? el("span", { class: "node-detail" }, node.detail) : null),
    el("div", { class: "node-name" }, node.name), live);
  state.nodes.set(node.id, { node, box, live, fields: new Map() });
  return box;
}

const scheduleMapLayout = () => state.layoutPending || (state.layoutPending = requestAnimationFrame(layoutMap));

/** Each row in as few lines as fit (a CSS grid of --lines rows filled column by column: what sits side
 * by side stays close), then the edges. */
function layoutMap() {
  state.layoutPending = 0;
  if (!$("#map .map-canvas").offsetParent) return; // hidden: laid out when shown
  for (const row of state.rows) {
    row.element.style.setProperty("--lines", 1); // each box in a column of its own: its own width
    const widths = row.ids.map((id) => state.nodes.get(id).box.offsetWidth);
    const gap = parseFloat(getComputedStyle(row.element).columnGap) || 0;
    // Column by column, each as wide as its widest box.
    const wide = (lines) => widths.reduce((sum, w, i) => (i % lines ? sum : sum + gap + Math.max(...widths.slice(i, i + lines))), -gap);
    row.lines = 1;
    while (row.lines < widths.length && wide(row.lines) > row.element.clientWidth) row.lines++;
    row.element.style.setProperty("--lines", row.lines);
  }
  drawEdges();
}

/** The edges: down from a box's bottom to the top of one below (one on a later line of its row: down
 * the gap beside it); back up to an earlier row, or within a row, faint, through the gaps between rows
 * and beside the boxes: never across one. */
function drawEdges() {
  const canvas = $("#map .map-canvas");
  const svg = $("#map .map-edges");
  build(svg, { width: canvas.offsetWidth, height: canvas.offsetHeight }, []);
  const origin = canvas.getBoundingClientRect();
  const local = (element) => {
    const r = element.getBoundingClientRect();
    return { left: r.left - origin.left, right: r.right - origin.left, top: r.top - origin.top, bottom: r.bottom - origin.top };
  };
  // Each box: its sides, middle, level (column), row's top and bottom, line in its row, and whether no
  // box is beside it on the left, on the right.
  const place = new Map(state.rows.flatMap((row) => row.ids.map((id, index) => {
    const { box, node } = state.nodes.get(id);
    const [r, column] = [local(box), Math.floor(index / row.lines)];
    return [id, { ...r, x: (r.left + r.right) / 2, y: (r.top + r.bottom) / 2, level: node.column, row: local(row.element),
      line: index % row.lines, outer: { left: column === 0, right: column === Math.ceil(row.ids.length / row.lines) - 1 } }];
  })));
  const width = canvas.clientWidth;
  const gap = parseFloat(getComputedStyle(state.rows[0]?.element ?? canvas).columnGap) || 0;
  const edges = state.edges.filter((edge) => place.has(edge.from) && place.has(edge.to) && edge.from !== edge.to).map((edge) => {
    const [a, b] = [place.get(edge.from), place.get(edge.to)];
    const way = b.level > a.level ? "down" : b.level < a.level ? "back" : "across";
    // A way back leaves by the side of its box where no box is beside it, else by its bottom.
    const side = a.outer.left !== a.outer.right ? (a.outer.left ? "left" : "right") : (a.x + b.x) / 2 < width / 2 ? "left" : "right";
    return { edge, a, b, way, side, exit: way === "back" && a.outer[side], beside: way === "down" && b.line > 0 };
  });
  // Where each edge leaves its box's bottom (x1) and meets the other's top (x2): spread over the box, in
  // the order of the other ends (a way back's: its side of the map).
  const otherX = (e, end) => (e.way === "back" ? (e.side === "left" ? -1 : width + 1) : end === "x1" ? e.b.x : e.a.x);
  for (const end of ["x1", "x2"]) {
    const ported = edges.filter((e) => (end === "x1" ? e.way === "down" || (e.way === "back" && !e.exit) : e.way !== "across"));
    for (const [box, list] of Map.groupBy(ported, (e) => (end === "x1" ? e.a : e.b))) {
      const step = Math.min(26, ((box.right - box.left) * 0.8) / list.length);
      list.sort((e1, e2) => otherX(e1, end) - otherX(e2, end)).forEach((e, i) => (e[end] = box.x + (i - (list.length - 1) / 2) * step));
    }
  }
  // A way back runs up beside the boxes of the rows it passes, the longest outermost.
  const lanes = { left: 0, right: 0 };
  const span = (e) => (e.way === "back" ? e.a.top - e.b.top : 0);
  const paths = edges.sort((e1, e2) => span(e1) - span(e2)).map((e) => {
    const { edge, a, b } = e;
    let d;
    if (e.way === "down") {
      // Below a line of boxes: down the gap beside the box (on the side the edge comes from), in at its top.
      const x = e.beside ? (a.x <= b.x ? b.left - gap / 2 : b.right + gap / 2) : e.x2;
      const y = e.beside ? b.row.top : b.top;
      const bend = Math.max(12, (y - a.bottom) / 2);
      d = `M${e.x1},${a.bottom} C${e.x1},${a.bottom + bend} ${x},${y - bend} ${x},${y}`;
      if (e.beside) d = rounded([[x, y], [x, b.top - 9], [e.x2, b.top - 9], [e.x2, b.top]], d);
    } else if (e.way === "back") {
      const passed = [...place.values()].filter((p) => p.level >= b.level && p.level <= a.level);
      const lane = lanes[e.side]++ * 7 + 14;
      const x = e.side === "left" ? Math.max(6, Math.min(...passed.map((p) => p.left)) - lane)
        : Math.min(width - 6, Math.max(...passed.map((p) => p.right)) + lane);
      const start = e.exit ? [[e.side === "left" ? a.left : a.right, a.y]] : [[e.x1, a.bottom], [e.x1, a.row.bottom + 12]];
      d = rounded([...start, [x, start.at(-1)[1]], [x, b.row.top - 12], [e.x2, b.row.top - 12], [e.x2, b.top]]);
    } else {
      const above = a.row.top - 12; // within a row: over it
      d = rounded([[a.x, a.top], [a.x, above], [b.x, above], [b.x, b.top]]);
    }
    const kind = edge.kind === "dlq" ? "dlq" : "flow";
    const label = `${state.nodes.get(edge.from).node.name} → ${state.nodes.get(edge.to).node.name}${edge.label ? `: ${edge.label}` : ""}`;
    return svgEl("path", { d, class: `edge edge-${kind}${e.way === "down" ? "" : " edge-back"}`, "marker-end": `url(#arrow-${kind})` },
      svgEl("title", {}, e.way === "back" ? `${label} (back up)` : label));
  });
  $('[data-role="edges"]', svg).replaceChildren(...paths);
}

/** A path through `points` (runs across and down) with rounded corners; `d`: the path to the first point. */
function rounded(points, d = `M${points[0]}`) {
  for (let i = 1; i < points.length - 1; i++) {
    const [[px, py], [x, y], [nx, ny]] = [points[i - 1], points[i], points[i + 1]];
    const [r1, r2] = [Math.min(6, Math.hypot(x - px, y - py) / 2), Math.min(6, Math.hypot(nx - x, ny - y) / 2)];
    const [dx, dy, ex, ey] = [Math.sign(x - px), Math.sign(y - py), Math.sign(nx - x), Math.sign(ny - y)];
    d += ` L${x - dx * r1},${y - dy * r1} Q${x},${y} ${x + ex * r2},${y + ey * r2}`;
  }
  return `${d} L${points.at(-1)}`;
}

/** A /api/live payload (or an SSE `live` event): the map's numbers and the alarms' states. */
function applyLive(payload) {
  let dlqChanged = false;
  for (const [id, values] of Object.entries(payload.nodes || {})) {
    const entry = state.nodes.get(id);
    if (!entry) continue;
    for (const [key, value] of Object.entries(values)) {
      let field = entry.fields.get(key);
      if (!field) {
        field = el("span", { "data-field": key });
        entry.live.append(el("span", { class: "stat" }, `${LIVE_LABELS[key] || key} `, field));
        entry.fields.set(key, field);
      }
      field.textContent = formatNumber(value);
      field.parentElement.classList.toggle("bad", (key === "errors" || key === "throttles") && value > 0);
    }
    if (entry.node.kind === "dlq" && "depth" in values) {
      entry.box.classList.toggle("alert", values.depth > 0);
      const before = state.dlqDepths.get(id);
      // a new letter: each listing counts a receive in SQS, so a drop (a redrive, a purge) lists nothing
      if (before !== undefined && values.depth > before) dlqChanged = true;
      state.dlqDepths.set(id, values.depth);
    }
  }
  for (const [name, value] of Object.entries(payload.alarms || {})) setAlarmState(name, value);
  // The dead letters are listed again when a depth moves, not on every tick; a hidden view lists
  // them when it is opened.
  if (dlqChanged && state.view === "dlq" && !state.posting) VIEWS.dlq.load();
}

// --- dashboard ------------------------------------------------------------------------------

function renderDashboard(dashboard) {
  $('[data-role="dashboard-name"]').textContent = dashboard.name || "";
  const widgets = dashboard.widgets || [];
  // The same widgets as last time (all but their points): their charts are given the new points.
  const signature = JSON.stringify(widgets, (key, value) => (key === "points" ? undefined : value));
  if (state.dashboard && state.dashboard.signature === signature) {
    widgets.forEach((widget, index) => state.dashboard.widgets[index].update(widget));
    return;
  }
  if (state.dashboard) state.dashboard.widgets.forEach((widget) => widget.destroy());
  const built = widgets.map(buildWidget);
  $('[data-role="widgets"]').replaceChildren(...(built.length ? built.map((widget) => widget.element)
    : [el("p", { class: "none" }, dashboard.problem || "This stack's template has no dashboard.")]));
  built.forEach((widget) => widget.mount()); // uPlot sizes its chart to the box, once placed
  state.dashboard = { signature, widgets: built };
}

/** A widget placed on CloudWatch's 24-column grid (the CSS reads the custom properties). */
function buildWidget(widget) {
  const box = el("article", { class: `widget widget-${token(widget.type)}`, "data-title": widget.title || "" });
  box.style.setProperty("--col", (widget.x || 0) + 1);
  box.style.setProperty("--row", (widget.y || 0) + 1);
  box.style.setProperty("--w", Math.max(1, Math.min(24, widget.width || 6)));
  box.style.setProperty("--h", Math.max(1, widget.height || 6));
  if (widget.title) box.append(el("h3", {}, widget.title));
  const parts = widget.type === "metric" ? metricWidget(box, widget)
    : widget.type === "alarm" ? alarmWidget(box, widget)
    : textWidget(box, widget);
  return { element: box, mount: () => {}, update: () => {}, destroy: () => {}, ...parts };
}

function textWidget(box, widget) {
  box.append(el("pre", { class: "markdown" }, widget.markdown || ""));
  return {};
}

function alarmWidget(box, widget) {
  box.append(el("ul", { class: "alarm-list" }, (widget.alarms || []).map((name) =>
    el("li", { "data-widget-alarm": name }, paintState(el("span"), state.alarmStates.get(name)), " ", name))));
  return {};
}

function metricWidget(box, widget) {
  const legend = el("ul", { class: "legend" });
  const period = el("p", { class: "period" },
    `period ${seconds(widget.period)} (${seconds(widget.templatePeriod)} on AWS)`);
  if (widget.view === "singleValue") {
    const values = el("div", { class: "single-values" });
    box.append(values, period);
    const update = (w) => values.replaceChildren(...w.series.map((s) => el("div", { class: "single" },
      el("span", { class: "big" }, formatValue(lastValue(s.points), s.unit)), el("span", { class: "label" }, `${s.label} (${s.stat})`))));
    update(widget);
    return { update };
  }
  // The axes' labels are drawn on the canvas: the units are said in text too.
  const { left, right } = unitLabels(widget);
  const chartBox = el("div", { class: "chart", role: "img",
    "aria-label": [left && `left axis: ${left}`, right && `right axis: ${right}`].filter(Boolean).join("; ") });
  box.append(chartBox, legend, period);
  // Each series titled with its metric and dimensions; then the alarms' thresholds, dashed as on the chart.
  const fillLegend = (w) => legend.replaceChildren(...w.series.map((s, i) => {
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = PALETTE[i % PALETTE.length];
    const title = [s.metric, ...Object.entries(s.dimensions || {}).map(([name, value]) => `${name}=${value}`)];
    return el("li", { title: title.filter(Boolean).join(" ") || null }, swatch, `${s.label} `,
      el("span", { class: "muted" }, `${s.stat}${s.axis === "right" ? ", right" : ""}`),
      " ", el("span", { class: "last" }, formatValue(lastValue(s.points), s.unit)));
  }), ...(w.thresholds || []).map((t) => el("li", { class: "threshold", title: `alarm ${t.label}: threshold ${t.value}` },
    el("span", { class: "swatch" }), `${t.label} `, el("span", { class: "last" }, formatNumber(t.value)))));
  const fill = (w) => {
    fillLegend(w);
    chartBox.classList.toggle("no-data", !w.series.some((s) => s.points.length));
  };
  fill(widget);
  let chart = null;
  let observer = null;
  return {
    mount() {
      const { width, height } = chartBox.getBoundingClientRect();
      chart = new uPlot(chartOptions(widget, width, height), chartData(widget.series), chartBox);
      observer = new ResizeObserver(([entry]) => {
        const size = entry.contentRect;
        if (size.width > 0 && size.height > 0) chart.setSize({ width: size.width, height: size.height });
      });
      observer.observe(chartBox);
    },
    update(w) {
      chart.setData(chartData(w.series));
      fill(w);
    },
    destroy() {
      observer.disconnect();
      chart.destroy();
    },
  };
}

/** The series on one x (seconds, uPlot's time unit); points a series lacks are gaps it spans. */
function chartData(series) {
  if (!series.length) return [[]];
  return uPlot.join(series.map((s) => {
    const points = [...s.points].sort((a, b) => a[0] - b[0]);
    return [points.map((p) => p[0] / 1000), points.map((p) => p[1])];
  }));
}

/** Each y axis's label: its series' units ("No unit" for none); the left one when nothing is right. */
function unitLabels(widget) {
  const units = (right) => [...new Set(widget.series.filter((s) => (s.axis === "right") === right)
    .map((s) => s.unit || "No unit"))].join(", ");
  const right = units(true);
  return { left: units(false) || (right ? null : "No unit"), right: right || null };
}

function chartOptions(widget, width, height) {
  const { left, right } = unitLabels(widget);
  // The time axis in 24-hour local time (uPlot's default is "8:35pm"), seconds when ticks are that close.
  const clock = (t, incr) => {
    const date = new Date(t * 1000);
    const hhmm = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
    return incr < 60 ? `${hhmm}:${pad(date.getSeconds())}` : hhmm;
  };
  const axes = [{ stroke: "#57606a", values: (u, splits, axis, space, incr) => splits.map((t) => clock(t, incr)) }];
  if (left) axes.push({ scale: "y", label: left, stroke: "#57606a" });
  if (right) axes.push({ scale: "right", side: 1, label: right, stroke: "#57606a", grid: { show: false } });
  const thresholds = widget.thresholds || [];
  // The left axis reaches the thresholds, as CloudWatch's does: a line off the chart says nothing.
  const limits = thresholds.map((t) => t.value).filter(Number.isFinite);
  const range = (u, min, max) => uPlot.rangeNum(Math.min(min ?? Infinity, ...limits), Math.max(max ?? -Infinity, ...limits), 0.1, true);
  return {
    width: Math.max(width, 120),
    height: Math.max(height, 80),
    legend: { show: false },
    scales: limits.length ? { x: { time: true }, y: { range } } : { x: { time: true } },
    series: [{}, ...widget.series.map((s, i) => ({
      label: `${s.label} (${s.stat})`,
      stroke: PALETTE[i % PALETTE.length],
      width: 1.5,
      scale: s.axis === "right" ? "right" : "y",
    }))],
    axes,
    // An alarm annotation's threshold as a dashed line on the left axis (CloudWatch draws it too).
    hooks: thresholds.length ? { draw: [(u) => drawThresholds(u, thresholds)] } : {},
  };
}

function drawThresholds(u, thresholds) {
  const { ctx } = u;
  ctx.save();
  ctx.strokeStyle = "#dc2626";
  ctx.setLineDash([6, 4]);
  for (const { value } of thresholds) {
    const y = u.valToPos(value, "y", true);
    if (!Number.isFinite(y) || y < u.bbox.top || y > u.bbox.top + u.bbox.height) continue;
    ctx.beginPath();
    ctx.moveTo(u.bbox.left, y);
    ctx.lineTo(u.bbox.left + u.bbox.width, y);
    ctx.stroke();
  }
  ctx.restore();
}

// --- alarms ---------------------------------------------------------------------------------

function renderAlarms(alarms) {
  for (const alarm of alarms) state.alarmStates.set(alarm.name, alarm.state);
  $('[data-role="alarm-rows"]').replaceChildren(...(alarms.length ? alarms.map(alarmRow)
    : [el("tr", {}, el("td", { colspan: 6, class: "none" }, "This stack has no alarms."))]));
  updateAlarmSummary();
}

function alarmRow(alarm) {
  return el("tr", { "data-alarm": alarm.name, class: state.flashes.has(alarm.name) ? "changed" : null },
    el("td", { class: "name" }, alarm.name, alarm.description ? el("div", { class: "muted" }, alarm.description) : null),
    el("td", {}, paintState(el("span", { "data-field": "state" }), alarm.state),
      el("div", { class: "reason", "data-field": "reason" }, alarm.reason || "")),
    el("td", {}, el("code", { class: "metric" }, alarm.metric),
      el("div", { class: "muted" }, `${alarm.statistic}, period ${seconds(alarm.localPeriod)} (${seconds(alarm.period)} on AWS)`)),
    el("td", {}, `${alarm.comparison} ${formatValue(alarm.threshold, alarm.unit)}`,
      el("div", { class: "muted" }, `for ${plural(alarm.evaluationPeriods, "period")}`)),
    el("td", {}, sparkline(alarm.points || [], alarm.threshold),
      el("div", { class: "values" }, lastValues(alarm.points || [], alarm.unit))),
    el("td", { "data-field": "since" }, timeEl(alarm.since)));
}

/** The state's text and class (ok / alarm / insufficient) on `span`, which is returned. */
function paintState(span, value) {
  span.textContent = value || "unknown";
  span.className = `state ${STATE_CLASS[value] || "unknown"}`;
  return span;
}

function lastValues(points, unit) {
  if (!points.length) return "no data";
  return `last: ${points.slice(-3).map((p) => formatValue(p[1], unit)).join(", ")}`;
}

/** The points as a line on a small canvas, the threshold dashed. */
function sparkline(points, threshold) {
  const width = 120;
  const height = 32;
  const ratio = window.devicePixelRatio || 1;
  const canvas = el("canvas", { class: "sparkline", width: width * ratio, height: height * ratio, "aria-hidden": "true" });
  if (!points.length) return canvas;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  const times = points.map((p) => p[0]);
  const values = points.map((p) => p[1]).concat(typeof threshold === "number" ? [threshold] : []);
  const [t0, t1] = [Math.min(...times), Math.max(...times)];
  const [v0, v1] = [Math.min(0, ...values), Math.max(...values)];
  const x = (t) => (t1 === t0 ? width / 2 : ((t - t0) / (t1 - t0)) * (width - 4) + 2);
  const y = (v) => (v1 === v0 ? height / 2 : height - 2 - ((v - v0) / (v1 - v0)) * (height - 4));
  const stroke = (color, dash, coords) => {
    ctx.strokeStyle = color;
    ctx.setLineDash(dash);
    ctx.beginPath();
    coords.forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
    ctx.stroke();
  };
  if (typeof threshold === "number") stroke("#dc2626", [3, 3], [[0, y(threshold)], [width, y(threshold)]]);
  ctx.lineWidth = 1.5;
  stroke("#2563eb", [], points.map(([t, v]) => [x(t), y(v)]));
  ctx.fillStyle = "#2563eb";
  if (points.length === 1) ctx.fillRect(x(times[0]) - 1.5, y(points[0][1]) - 1.5, 3, 3); // a lone point: a dot
  return canvas;
}

/** An alarm's state from /api/live or an `alarm` event (`change`: its from/to/reason/at). */
function setAlarmState(name, value, change = null) {
  const previous = state.alarmStates.get(name);
  state.alarmStates.set(name, value);
  const row = $(`#alarms tr[data-alarm="${CSS.escape(name)}"]`);
  if (row) {
    paintState($('[data-field="state"]', row), value);
    if (change) {
      $('[data-field="reason"]', row).textContent = change.reason || "";
      $('[data-field="since"]', row).replaceChildren(timeEl(change.at));
    }
    if (change || (previous !== undefined && previous !== value)) flashRow(name);
  }
  for (const item of document.querySelectorAll("[data-widget-alarm]")) {
    if (item.dataset.widgetAlarm === name) paintState(item.querySelector(".state"), value);
  }
  updateAlarmSummary();
}

function flashRow(name) {
  const rowOf = () => $(`#alarms tr[data-alarm="${CSS.escape(name)}"]`);
  clearTimeout(state.flashes.get(name));
  state.flashes.set(name, setTimeout(() => {
    state.flashes.delete(name);
    const row = rowOf();
    if (row) row.classList.remove("changed");
  }, FLASH_MS));
  const row = rowOf();
  row.classList.remove("changed");
  void row.offsetWidth; // restarts the CSS animation of a row flashing already
  row.classList.add("changed");
}

function updateAlarmSummary() {
  const states = [...state.alarmStates.values()];
  const inAlarm = states.filter((value) => value === "ALARM").length;
  const summary = $("#alarm-summary");
  summary.textContent = `${inAlarm} of ${states.length} in ALARM`;
  summary.classList.toggle("alarm", inAlarm > 0);
}

// --- dead letters ---------------------------------------------------------------------------

function renderDlq({ queues }) {
  state.dlqCounts = new Map(queues.map((queue) => [queue.name, (queue.depth || 0) + (queue.inFlight || 0)]));
  $('[data-role="dlq-queues"]').replaceChildren(...(queues.length ? queues.map(dlqQueue)
    : [el("p", { class: "none" }, "This stack has no dead letter queue.")]));
}

function dlqQueue(queue) {
  const letters = queue.letters || [];
  return el("article", { class: "dlq-queue", "data-queue": queue.name },
    el("header", { class: "dlq-head" },
      el("h3", {}, queue.name),
      el("span", { class: "muted" },
        `depth ${formatNumber(queue.depth)} · in flight ${formatNumber(queue.inFlight)} · source ${queue.source || "none (a pipe's or a rule's)"}`),
      el("button", { type: "button", "data-action": "redrive", "data-queue": queue.name, disabled: !queue.source,
        title: queue.source ? `Send its letters back to ${queue.source}`
          : "a pipe's or a rule's DLQ: no source queue to send its letters back to" }, "Redrive…"),
      el("button", { type: "button", class: "danger", "data-action": "purge", "data-queue": queue.name }, "Purge…")),
    letters.length
      ? table(["Message", "Error code", "Reason", "Receives", "Redrives", "Moved by", "Already stored", "Body"],
        letters.map(letterRow), { class: "data letters" })
      : el("p", { class: "none" }, "No dead letters."));
}

function letterRow(letter) {
  const stored = letter.alreadyStored === true ? "yes" : letter.alreadyStored === false ? "no" : "not checked";
  return el("tr", { "data-letter": letter.messageId },
    el("td", { class: "ids" }, el("code", {}, letter.sourceMessageId),
      letter.messageId !== letter.sourceMessageId ? el("div", { class: "copy-id" }, `DLQ copy ${letter.messageId}`) : null),
    el("td", {}, el("code", {}, letter.errorCode || "–")),
    el("td", { class: "reason" }, letter.reason, el("div", { class: "muted" }, `from ${letter.reasonSource || "unknown"}`)),
    el("td", { class: "num" }, formatNumber(letter.receiveCount)),
    el("td", { class: "num" }, formatNumber(letter.redriveCount)),
    el("td", {}, letter.movedBy),
    el("td", {}, stored),
    el("td", { class: "body" }, el("details", {}, el("summary", {}, `${String(letter.body ?? "").length} chars`),
      el("pre", {}, letter.body))));
}

function setRedriveResult(text, isError = false) {
  const result = $('[data-role="redrive-result"]');
  result.textContent = text;
  result.classList.toggle("error", isError);
}

const redriveDialog = () => $("#redrive-dialog");
const dryRun = (queue, includeRejected) => api("/api/dlq/redrive", { body: { queue, dryRun: true, includeRejected } });

/** The dry run, then the dialog saying what a redrive would do; its checkbox starts unchecked. */
async function startRedrive(button) {
  const queue = button.dataset.queue;
  setRedriveResult("");
  button.disabled = true;
  try {
    const plan = await dryRun(queue, false);
    const checkbox = $('input[name="include-rejected"]', redriveDialog());
    checkbox.checked = checkbox.disabled = false;
    state.redriveQueue = queue;
    state.redriveRun++; // a checkbox's dry run still under way (the dialog was closed) is not shown
    $("#redrive-title").textContent = `Redrive ${queue}`;
    showPlan(plan);
    redriveDialog().showModal();
  } catch (error) {
    setRedriveResult(error.message, true);
  } finally {
    button.disabled = false;
  }
}

/** The checkbox changed: the dry run again with its value; the confirm button waits for the answer. */
async function rerunDryRun(checkbox) {
  const queue = state.redriveQueue;
  const run = ++state.redriveRun;
  $('[data-action="redrive-confirm"]', redriveDialog()).disabled = true;
  $('[data-role="redrive-plan"]', redriveDialog()).classList.add("busy");
  const plan = await dryRun(queue, checkbox.checked).catch((error) => ({ error: error.message }));
  if (run === state.redriveRun && queue === state.redriveQueue) showPlan(plan); // else a newer one is coming
}

function showPlan(plan) {
  const moving = plan.wouldMove || [];
  const skipped = plan.skipped || [];
  const shown = plan.error ? [el("p", { class: "error" }, plan.error)] : [
    el("p", { "data-field": "would-move" }, `Would move ${moving.length}${moving.length ? ":" : "."}`),
    moving.length ? el("ul", { class: "ids" }, moving.map((id) => el("li", {}, el("code", {}, id)))) : null,
    el("p", { "data-field": "deleted-stored" }, `Already stored, deleted: ${formatNumber(plan.deletedStored || 0)}`),
    el("p", { "data-field": "skipped" }, `Skipped: ${skipped.length}${skipped.length ? ":" : ""}`),
    skipped.length ? el("ul", { class: "ids" }, skipped.map(([id, why]) => el("li", {}, el("code", {}, id), ` ${why}`))) : null,
    plan.message ? el("p", { class: "muted" }, plan.message) : null];
  const box = $('[data-role="redrive-plan"]', redriveDialog());
  box.classList.remove("busy");
  box.replaceChildren(...shown.filter(Boolean)); // (a null would become the text "null")
  const confirm = $('[data-action="redrive-confirm"]', redriveDialog());
  confirm.textContent = `Redrive ${moving.length}`;
  confirm.disabled = Boolean(plan.error) || (moving.length === 0 && !plan.deletedStored);
}

function confirmRedrive(button) {
  const checkbox = $('input[name="include-rejected"]', redriveDialog());
  button.disabled = checkbox.disabled = true;
  act(redriveDialog(), "/api/dlq/redrive", { queue: state.redriveQueue, dryRun: false, includeRejected: checkbox.checked });
}

/** The purge's confirmation: all N messages, N the queue's depth and in flight in the last /api/dlq answer. */
function startPurge(button) {
  const queue = button.dataset.queue;
  const dialog = $("#purge-dialog");
  setRedriveResult("");
  state.purgeQueue = queue;
  $("#purge-title").textContent = `Purge ${queue}`;
  $('[data-role="purge-question"]', dialog).textContent =
    `Delete all ${plural(state.dlqCounts.get(queue) ?? 0, "message")} of ${queue}? This cannot be undone.`;
  $('[data-action="purge-confirm"]', dialog).disabled = false;
  dialog.showModal();
}

function confirmPurge(button) {
  if (state.purgeQueue === null) return;
  button.disabled = true;
  act($("#purge-dialog"), "/api/dlq/purge", { queue: state.purgeQueue });
}

/** A confirmed POST: its answer's `message` (or error line) in the result line, the dialog closed, the list reloaded. */
async function act(dialog, path, body) {
  try {
    setRedriveResult((await api(path, { body })).message || "Done.");
  } catch (error) {
    setRedriveResult(error.message, true);
  } finally {
    dialog.close();
    VIEWS.dlq.load();
  }
}

// --- orders ---------------------------------------------------------------------------------

async function searchOrders(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const by = form.elements.by.value === "customer" ? "customer" : "id";
  const query = form.elements.query.value.trim();
  if (!query) return;
  const search = ++state.orderSearch;
  const results = $("#order-results");
  results.replaceChildren(el("p", { class: "muted" }, "Searching…"));
  let content;
  try {
    const { orders } = await api(`/api/orders?${new URLSearchParams({ [by]: query })}`);
    // Several (a customer's): how many, each folded but the first.
    content = orders.length > 1 ? [el("p", { class: "muted" }, `${plural(orders.length, "order")} for customer “${query}”.`)] : [];
    content.push(...orders.map((order, index) => orderCard(order, index === 0)));
    if (!orders.length) content = [noOrder(by, query)];
  } catch (error) {
    content = [error.status === 404 ? noOrder(by, query) : el("p", { class: "error" }, error.message)];
  }
  if (search === state.orderSearch) results.replaceChildren(...content);
}

function noOrder(by, query) {
  return el("p", { class: "empty" }, `No order found for ${by === "customer" ? "customer" : "order id"} “${query}”.`);
}

function orderCard(order, open) {
  const total = `${formatNumber(order.total)} ${order.currency || ""}`.trim();
  const count = (order.items || []).reduce((sum, item) => sum + (Number(item?.quantity) || 0), 0);
  return el("article", { class: "order", "data-order": order.orderId }, el("details", { open },
    el("summary", { class: "order-head" },
      el("h3", {}, order.orderId), " ",
      el("span", { class: `status status-${token(order.status)}` }, order.status || "unknown"), " ",
      el("span", { class: "muted" }, `version ${order.version ?? "–"} · `, el("strong", {}, total),
        ` · ${plural(count, "item")} · created `, timeEl(order.createdAt))),
    el("div", { class: "order-body" },
      el("div", {},
        facts([["Customer", order.customerId], ["E-mail", order.customerEmail]]),
        el("h4", {}, "Items"), itemsTable(order.items || []),
        el("h4", {}, "Payment"), paymentFacts(order.payment)),
      el("div", {},
        el("h4", {}, "E-mails"), emailsTable(order.emails || []),
        el("h4", {}, "History"), historyTable(order.history || []))),
    el("details", { class: "raw" }, el("summary", {}, "Stored item"), el("pre", {}, jsonText(order.item)))));
}

/** A stored item's key in words: "unitPrice" → "Unit price". */
const words = (key) => String(key).replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase().replace(/^./, (c) => c.toUpperCase());

function cellValue(value) {
  return value !== null && typeof value === "object" ? JSON.stringify(value) : formatNumber(value);
}

function itemsTable(items) {
  if (!items.length) return el("p", { class: "none" }, "none");
  const first = ["productId", "productName", "quantity", "unitPrice", "price"];
  const keys = [...new Set(items.flatMap((item) => Object.keys(item)))]
    .sort((a, b) => (first.indexOf(a) + 1 || 99) - (first.indexOf(b) + 1 || 99));
  return table(keys.map(words), items.map((item) => el("tr", {}, keys.map((key) => el("td", {}, cellValue(item[key]))))));
}

function paymentFacts(payment) {
  if (!payment) return el("p", { class: "none" }, "no payment yet");
  const shown = new Set(["status", "amount", "currency", "orderId", "customerId", "createdAt"]);
  const rest = Object.keys(payment).filter((key) => !shown.has(key)).sort();
  return facts([
    ["Status", el("span", { class: `status status-${token(payment.status)}` }, payment.status || "unknown")],
    ["Amount", `${payment.amount ?? "–"} ${payment.currency || ""}`.trim()],
    ...rest.map((key) => [words(key), key.endsWith("At") ? timeEl(payment[key]) : cellValue(payment[key])]),
  ]);
}

function emailsTable(emails) {
  if (!emails.length) return el("p", { class: "none" }, "none");
  return table(["Time", "Subject", "Notification"],
    emails.map((mail) => el("tr", {}, el("td", {}, timeEl(mail.at)), el("td", {}, mail.subject), el("td", {}, mail.notification))));
}

function historyTable(history) {
  if (!history.length) return el("p", { class: "none" }, "none");
  const at = (entry) => new Date(entry.at).getTime() || 0;
  const sorted = [...history].sort((a, b) => at(a) - at(b)); // stable: ties keep the server's order
  return table(["Time", "Event", "Detail"], sorted.map((entry) =>
    el("tr", {}, el("td", {}, timeEl(entry.at)), el("td", {}, entry.event),
      el("td", {}, typeof entry.detail === "string" ? entry.detail : cellValue(entry.detail)))));
}

/** An order id in a tail: a button that looks the order up. */
function orderLink(orderId) {
  if (!orderId) return el("span", { class: "muted" }, "no order");
  return el("button", { type: "button", class: "link", "data-action": "open-order", "data-order-id": orderId }, orderId);
}

function openOrder(orderId) {
  const form = $("#order-search");
  form.elements.by.value = "id";
  form.elements.query.value = orderId;
  location.hash = "orders";
  form.requestSubmit();
}

// --- live tails -----------------------------------------------------------------------------

const TAILS = { log: logEntry, event: eventEntry, mail: mailEntry, ledger: ledgerEntry };

function addTail(kind, data) {
  const list = $(`#tail-${kind} [data-role="entries"]`);
  const entry = TAILS[kind](data);
  const at = Number(data.at) || 0;
  Object.assign(entry.dataset, { tail: kind, at });
  // Newest on top, by time: a function's lines arrive when its invocation ends.
  let next = list.firstElementChild;
  while (next && Number(next.dataset.at) > at) next = next.nextElementSibling;
  list.insertBefore(entry, next);
  while (list.childElementCount > TAIL_LIMIT) list.lastElementChild.remove();
}

function logEntry(log) {
  const level = LOG_LEVELS[String(log.level || "").toUpperCase()] || String(log.level || "").toUpperCase();
  noteFunction(log.function);
  const metrics = level ? null : metricsText(log.message);
  const entry = el("li", { "data-function": log.function || "", "data-level": level },
    el("details", {},
      el("summary", {}, timeEl(log.at), " ", el("span", { class: "fn" }, log.function || "?"), " ",
        el("span", { class: `level level-${token(level) || "none"}` }, level || (metrics ? "metrics" : "–")), " ",
        el("span", { class: "msg" }, metrics ?? log.message ?? "")),
      el("pre", {}, log.text ?? "")));
  entry.hidden = !logMatches(entry);
  return entry;
}

/** A line in CloudWatch's embedded metric format (JSON with "_aws"): "OrdersStored 1 · ColdStart 1"; else null. */
function metricsText(message) {
  let line;
  try {
    line = JSON.parse(message);
  } catch {
    return null;
  }
  const names = [line?._aws?.CloudWatchMetrics ?? []].flat().flatMap((one) => one?.Metrics ?? []).map((metric) => metric?.Name);
  return names.length ? names.map((name) => `${name} ${[line[name]].flat().map(formatNumber).join(", ")}`).join(" · ") : null;
}

function eventEntry(event) {
  return el("li", {},
    el("details", {},
      el("summary", {}, timeEl(event.at), " ", el("strong", {}, event.detailType), " ", orderLink(event.orderId), " ",
        el("span", { class: "muted source" }, event.source)),
      el("pre", {}, jsonText(event.detail))));
}

function mailEntry(mail) {
  return el("li", { class: "line" },
    el("div", {}, timeEl(mail.at), " ", el("span", { class: "tag" }, mail.notification), " ", orderLink(mail.orderId)),
    el("div", {}, el("strong", {}, mail.subject), " ", el("span", { class: "muted" }, `to ${[mail.to].flat().join(", ")}`)));
}

function ledgerEntry(entry) {
  const kind = ["charge", "refund", "decline"].includes(entry.kind) ? entry.kind : "other";
  return el("li", { class: "line" },
    el("div", {}, timeEl(entry.at), " ", el("span", { class: `tag kind-${kind}` }, entry.kind), " ", orderLink(entry.orderId),
      " ", el("span", { class: "amount" }, `${entry.amount ?? "–"} ${entry.currency || ""}`)),
    el("code", { class: "key", title: entry.key }, entry.key));
}

/** A function seen in the logs joins the filter's choices, in name order. */
function noteFunction(name) {
  if (!name) return;
  const select = $('#tail-log select[name="function"]');
  const options = [...select.options].slice(1);
  if (options.some((option) => option.value === name)) return;
  const after = options.find((option) => option.value.localeCompare(name) > 0);
  select.insertBefore(el("option", { value: name }, name), after || null);
}

function logMatches(entry) {
  const fn = $('#tail-log select[name="function"]').value;
  const level = $('#tail-log select[name="level"]').value;
  return (fn === "all" || entry.dataset.function === fn) && (level === "all" || entry.dataset.level === level);
}

function filterLogs() {
  for (const entry of document.querySelectorAll('#tail-log [data-tail="log"]')) entry.hidden = !logMatches(entry);
}

// --- the event stream -----------------------------------------------------------------------

/** Changed only when it changes: the indicator is a live region, read out on every change. */
function setConnection(live) {
  const indicator = $("#connection");
  const text = live ? "live" : "reconnecting";
  if (indicator.textContent !== text) indicator.textContent = indicator.className = text;
}

const STREAM_HANDLERS = {
  live: applyLive,
  alarm: (change) => setAlarmState(change.name, change.to, change),
  ...Object.fromEntries(Object.keys(TAILS).map((kind) => [kind, (data) => addTail(kind, data)])),
};

function subscribe() {
  const source = new EventSource("/api/stream");
  source.addEventListener("open", () => setConnection(true));
  source.addEventListener("error", () => {
    setConnection(false);
    // The browser retries a dropped connection by itself, but gives up after an HTTP error
    // answer (a restarting server's 502): then a new EventSource, a little later.
    if (source.readyState === EventSource.CLOSED) setTimeout(subscribe, 5000);
  });
  for (const [name, handle] of Object.entries(STREAM_HANDLERS)) {
    source.addEventListener(name, (message) => {
      setConnection(true);
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return; // a malformed event is dropped
      }
      handle(data);
    });
  }
}

// --- start ----------------------------------------------------------------------------------

/** The token from the page's URL (?token=…), kept for the POSTs and taken out of the address bar. */
function takeToken() {
  const params = new URLSearchParams(location.search);
  const value = params.get("token");
  if (value === null) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  params.delete("token");
  const query = params.toString();
  history.replaceState(history.state, "", `${location.pathname}${query ? `?${query}` : ""}${location.hash}`);
}

function bindActions() {
  const actions = {
    "dlq-refresh": () => {
      setRedriveResult("");
      VIEWS.dlq.load();
    },
    redrive: startRedrive,
    "redrive-cancel": () => redriveDialog().close(),
    "redrive-confirm": confirmRedrive,
    purge: startPurge,
    "purge-cancel": () => $("#purge-dialog").close(),
    "purge-confirm": confirmPurge,
    "open-order": (button) => openOrder(button.dataset.orderId),
  };
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (button && actions[button.dataset.action]) actions[button.dataset.action](button);
  });
  redriveDialog().addEventListener("close", () => (state.redriveQueue = null));
  $('#redrive-dialog input[name="include-rejected"]').addEventListener("change", (event) => rerunDryRun(event.target));
  $("#purge-dialog").addEventListener("close", () => (state.purgeQueue = null));
  $("#order-search").addEventListener("submit", searchOrders);
  for (const select of document.querySelectorAll("#tail-log select")) select.addEventListener("change", filterLogs);
}

async function start() {
  takeToken();
  bindTabs();
  bindActions();
  showView(location.hash.slice(1));
  try {
    renderMap(await api("/api/overview"));
    applyLive(await api("/api/live"));
    showError("map", null);
  } catch (error) {
    showError("map", error);
  }
  subscribe();
}

start();
