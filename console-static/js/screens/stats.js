// Statistics: charts of the series GET /rc/v1/system/stats serves (docs/console.md §3).
// A member is "<value>:<bucket start>"; it is split at its last ':'. Counter values are
// numbers; average values are "<count>,<sum>" and drawn as sum ÷ count (seconds).
// Charts are drawn with uPlot (vendor/, loaded by index.html as the global `uPlot`).

import { get } from "../api.js";
import { h, pageHeader } from "../dom.js";

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];

const stats = (params) => get(`/rc/v1/system/stats?${new URLSearchParams(params)}`);
/** A series' members; a metric never recorded (404 Unknown metric) has none. */
const metric = (name) =>
  stats({ metric: name, start: 0, finish: -1 }).catch((error) => {
    if (error.status === 404) return [];
    throw error;
  });

/** [seconds, y] of one member; `average` members are "n,sum". */
export function parseMember(member, average) {
  const at = member.lastIndexOf(":");
  const value = member.slice(0, at);
  const x = Number(member.slice(at + 1));
  if (!average) return [x, Number(value)];
  const [n, sum] = value.split(",").map(Number);
  return [x, n ? sum / n : null];
}

export async function screen(ctx) {
  ctx.el.append(pageHeader("Statistics"));
  if (!ctx.info.stats) {
    ctx.el.append(h("p", { class: "note", id: "stats-off" }, "Statistics are off on this server. Set ", h("code", {}, ":stats: true"), " in the settings file to record them."));
    return;
  }
  const alertBox = h("div", { class: "alert", id: "stats-alert", role: "alert", hidden: true });
  const chart = h("div", { class: "chart-area", id: "chart" });
  const nav = h("nav", { class: "accordion", id: "stats-nav", "aria-label": "Statistics" });
  ctx.el.append(h("div", { class: "stats-layout" }, nav, h("div", { class: "chart-panel panel" }, alertBox, chart)));

  let selected = null;
  const choose = async (entry, button) => {
    if (selected) selected.classList.remove("selected");
    selected = button;
    button.classList.add("selected");
    alertBox.hidden = true;
    chart.replaceChildren(h("p", { class: "muted" }, "Loading..."));
    try {
      const view = await entry.load();
      if (!ctx.current() || selected !== button) return;
      draw(chart, entry.title, view);
    } catch (error) {
      if (error.status === 422) return;
      alertBox.textContent = "No Data Available";
      alertBox.title = error.message;
      alertBox.hidden = false;
      chart.replaceChildren();
    }
  };
  const section = (title, entries, open) => {
    const list = h("ul");
    const details = h("details", { open }, h("summary", {}, title), list);
    for (const entry of entries) {
      const b = h("button", { type: "button", class: "entry", dataset: { entry: entry.title } }, entry.label || entry.title);
      b.addEventListener("click", () => choose(entry, b));
      list.append(h("li", {}, b));
    }
    if (!entries.length) list.append(h("li", { class: "muted" }, "Nothing recorded yet."));
    nav.append(details);
    return list;
  };

  const counts = [
    { title: "User Count", load: () => counterView("users", "Users") },
    { title: "Device Count", load: () => counterView("clients", "Devices") },
  ];
  section("Count", counts, true);
  const [sources, httpNames] = await Promise.all([get("/rc/v1/sources/type/all"), stats({ names: "http:*" }).catch(() => [])]);
  section("HTTP Adapter Timing", sources.map((s) => ({ title: `HTTP timing of ${s}`, label: s, load: () => adapterView(s) })));
  section("HTTP Route Timing", routeKeys(httpNames).map((key) => ({ title: key, label: key.replace(/^http:/, ""), load: () => routeView(key) })));
  section("Source Timing", sources.map((s) => ({ title: `Source timing of ${s}`, label: s, load: () => sourceView(s) })));
  const first = nav.querySelector("button.entry");
  if (first) await choose(counts[0], first);
}

/** Route keys: metric names with long id-like path segments collapsed to `*`, de-duplicated. */
function routeKeys(names) {
  const keys = new Set(names.map((n) => n.replace(/\/[0-9a-f]{16,}(?=\/|:|$)/gi, "/*")));
  return [...keys].sort();
}

async function counterView(name, yLabel) {
  const members = await metric(name);
  return { yLabel, series: [{ label: yLabel, points: members.map((m) => parseMember(m, false)) }] };
}

async function timingSeries(names) {
  const all = await Promise.all(names.map(async (n) => ({ label: n.replace(/^(http|source):/, ""), points: (await metric(n)).map((m) => parseMember(m, true)) })));
  return all;
}

async function adapterView(source) {
  const [legacy, v1] = await Promise.all([stats({ names: `http:*:${source}` }), stats({ names: `http:*/app/v1/${source}*` })]);
  const names = [...new Set([...legacy, ...v1])].sort();
  return { yLabel: "Seconds", decimals: 3, series: await timingSeries(names) };
}

/** One series: every metric matching the key, averaged per hour. */
async function routeView(key) {
  const names = await stats({ names: key });
  const hours = new Map();
  for (const name of names) {
    for (const member of await metric(name)) {
      const at = member.lastIndexOf(":");
      const [n, sum] = member.slice(0, at).split(",").map(Number);
      const hour = Math.floor(Number(member.slice(at + 1)) / 3600) * 3600;
      const acc = hours.get(hour) || [0, 0];
      hours.set(hour, [acc[0] + n, acc[1] + sum]);
    }
  }
  const points = [...hours.entries()].sort((a, b) => a[0] - b[0]).map(([x, [n, sum]]) => [x, n ? sum / n : null]);
  return { yLabel: "Seconds", decimals: 3, series: [{ label: key.replace(/^http:/, ""), points }] };
}

/** The first operation is drawn; the others are offered as pills above the chart. */
async function sourceView(source) {
  const names = (await stats({ names: `source:*:${source}` })).sort();
  const series = await timingSeries(names);
  return { yLabel: "Seconds", decimals: 3, series: series.slice(0, 1), pills: series };
}

function draw(chart, title, view) {
  const drawn = view.series.filter((s) => s.points.length);
  chart.replaceChildren();
  if (view.pills && view.pills.length > 1) {
    const pills = h("div", { class: "pills", role: "group", "aria-label": "Operations" });
    view.pills.forEach((s) => {
      const b = h("button", { type: "button", class: "pill" }, s.label);
      b.addEventListener("click", () => draw(chart, title, { ...view, series: [s] }));
      pills.append(b);
    });
    chart.append(pills);
  }
  if (!drawn.length) {
    chart.append(h("p", { class: "no-data" }, `No data for ${title}`));
    chart.dataset.points = "0";
    return;
  }
  const xs = [...new Set(drawn.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const columns = drawn.map((s) => {
    const byX = new Map(s.points);
    return xs.map((x) => (byX.has(x) ? byX.get(x) : null));
  });
  const plot = h("div", { class: "plot" });
  chart.append(h("h2", { class: "chart-title" }, title), plot, dataTable(xs, drawn, columns, view.decimals));
  chart.dataset.points = String(columns.reduce((n, c) => n + c.filter((v) => v !== null).length, 0));
  chart.dataset.series = drawn.map((s) => s.label).join("|");
  const fmt = (v) => (v === null || v === undefined ? "—" : view.decimals ? v.toFixed(view.decimals) : String(v));
  const width = Math.max(260, plot.clientWidth || chart.clientWidth || 640);
  // eslint-disable-next-line no-undef
  const u = new uPlot(
    {
      width,
      height: 340,
      cursor: { drag: { x: true, y: false } },
      // One point alone: an hour either side of it, not uPlot's guess of years.
      scales: { x: xs.length === 1 ? { time: true, auto: false, range: [xs[0] - 3600, xs[0] + 3600] } : { time: true } },
      series: [
        { label: "Time" },
        ...drawn.map((s, i) => ({
          label: s.label,
          stroke: COLORS[i % COLORS.length],
          width: 2,
          spanGaps: true,
          points: { show: true, size: 6 },
          value: (u, v) => fmt(v),
        })),
      ],
      axes: [
        {},
        view.decimals
          ? { label: view.yLabel, values: (u, ticks) => ticks.map((t) => t.toFixed(tickDecimals(ticks, view.decimals))), size: 70 }
          : { label: view.yLabel, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000], size: 60 },
      ],
    },
    [xs, ...columns],
    plot,
  );
  // The plot follows its box when the window is resized (a phone turned, a window narrowed).
  if (chart.resizeObserver) chart.resizeObserver.disconnect();
  chart.resizeObserver = new ResizeObserver(() => {
    const w = Math.max(260, plot.clientWidth);
    if (plot.isConnected && Math.abs(w - u.width) > 2) u.setSize({ width: w, height: 340 });
  });
  chart.resizeObserver.observe(plot);
}

/** Enough decimals that neighbouring ticks read differently (at least `least`). */
function tickDecimals(ticks, least) {
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 0;
  return step > 0 ? Math.min(6, Math.max(least, Math.ceil(-Math.log10(step) - 1e-9))) : least;
}

function dataTable(xs, series, columns, decimals) {
  const rows = xs.map((x, i) =>
    h(
      "tr",
      {},
      h("td", {}, new Date(x * 1000).toLocaleString()),
      columns.map((c) => h("td", {}, c[i] === null ? "" : decimals ? c[i].toFixed(decimals) : String(c[i]))),
    ),
  );
  return h(
    "details",
    { class: "data-table" },
    h("summary", {}, `Data (${xs.length} points)`),
    h("table", { class: "grid", id: "chart-data" }, h("thead", {}, h("tr", {}, h("th", {}, "Time"), series.map((s) => h("th", {}, s.label)))), h("tbody", {}, rows)),
  );
}
