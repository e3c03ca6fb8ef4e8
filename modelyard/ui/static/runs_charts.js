// The experiment's chart view (runs page, ?view=charts): a chart per chosen metric for the runs on
// the page (same filter, order and page as the table), each run in its own colour (charts.runColor,
// the same on every page), runs shown or hidden with their box, a parameter-vs-metric scatter, and
// a refresh every few seconds while a run on the page is running ("Live").
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  const my = window.modelyard, charts = my.charts;
  const holder = document.getElementById("chart-view-data");
  if (!holder) return;
  const data = JSON.parse(holder.textContent);
  const byId = {};
  data.runs.forEach(function (r) { byId[r.id] = r; });
  const hidden = new Set();
  const points = {};  // metric key -> {run_id: [points]}
  const grid = document.getElementById("view-charts");
  const live = document.getElementById("live-state");
  const BATCH = 100;  // run ids per history request

  const options = charts.controls(document.getElementById("chart-controls"), renderAll);

  function visibleRuns() { return data.runs.filter(function (r) { return !hidden.has(r.id); }); }

  async function fetchKey(key) {
    const ids = data.runs.map(function (r) { return r.id; });
    const merged = {};
    for (let i = 0; i < ids.length; i += BATCH) {
      Object.assign(merged, await charts.histories(ids.slice(i, i + BATCH), key, data.points));
    }
    points[key] = merged;
  }

  function render(el) {
    const byRun = points[el.dataset.metric];
    if (!byRun) return Promise.resolve();
    const series = visibleRuns().map(function (r) { return { id: r.id, name: r.name, points: byRun[r.id] || [] }; });
    return charts.draw(el, series, options()).then(function () { el.dataset.state = "done"; });
  }
  function renderAll() {
    grid.querySelectorAll(".view-chart").forEach(render);
    drawScatter();
  }

  async function load(el) {
    el.dataset.state = "loading";
    try {
      await fetchKey(el.dataset.metric);
      await render(el);
    } catch (e) {
      el.dataset.state = "error";
      el.textContent = "Could not draw this chart: " + e.message;
    }
  }

  function addChart(key) {
    const figure = document.createElement("figure");
    figure.className = "card chart-card";
    figure.dataset.metric = key;
    const caption = document.createElement("figcaption");
    caption.className = "mono";
    caption.textContent = key;
    caption.title = key;
    const el = document.createElement("div");
    el.className = "chart view-chart";
    el.dataset.metric = key;
    el.dataset.state = "pending";
    el.setAttribute("role", "img");
    el.setAttribute("aria-label", "Chart of " + key + " for the runs shown");
    figure.append(caption, el);
    grid.appendChild(figure);
    my.whenVisible([el], load);
  }

  function chosen() {
    return Array.from(document.querySelectorAll(".chart-metric:checked")).map(function (b) { return b.value; });
  }
  function syncCharts() {
    const keys = chosen();
    grid.querySelectorAll("figure[data-metric]").forEach(function (f) {
      if (keys.indexOf(f.dataset.metric) < 0) f.remove();
    });
    keys.forEach(function (key) {
      if (!grid.querySelector("figure[data-metric='" + CSS.escape(key) + "']")) addChart(key);
    });
    const url = new URL(window.location.href);  // the chosen charts stay in the (shareable) URL
    url.searchParams.delete("chart");
    keys.forEach(function (k) { url.searchParams.append("chart", k); });
    window.history.replaceState(null, "", url.toString());
  }
  document.querySelectorAll(".chart-metric").forEach(function (b) { b.addEventListener("change", syncCharts); });
  data.chosen.forEach(addChart);

  // -- show / hide runs -------------------------------------------------------------------------
  function setShown(id, shown) {
    if (shown) hidden.delete(id); else hidden.add(id);
    const label = document.querySelector(".run-list label[data-run-id='" + CSS.escape(id) + "']");
    if (label) {
      label.classList.toggle("hidden-run", !shown);
      label.querySelector(".show-run").checked = shown;
    }
  }
  document.querySelectorAll(".show-run").forEach(function (box) {
    box.addEventListener("change", function () { setShown(box.value, box.checked); renderAll(); });
  });
  [["show-all-runs", true], ["hide-all-runs", false]].forEach(function (pair) {
    const button = document.getElementById(pair[0]);
    if (button) button.addEventListener("click", function () {
      data.runs.forEach(function (r) { setShown(r.id, pair[1]); });
      renderAll();
    });
  });

  // -- parameter vs metric ----------------------------------------------------------------------
  const paramSelect = document.getElementById("scatter-param"), metricSelect = document.getElementById("scatter-metric");
  function asNumber(v) { const n = Number(v); return v !== null && v !== "" && isFinite(n) ? n : null; }
  async function drawScatter() {
    const el = document.getElementById("view-scatter");
    if (!el) return;
    const param = paramSelect.value, metric = metricSelect.value;
    const shown = visibleRuns().filter(function (r) { return r.params[param] !== undefined && r.metrics[metric] != null; });
    const numeric = shown.every(function (r) { return asNumber(r.params[param]) !== null; });
    const Plotly = await charts.loadPlotly();
    await Plotly.react(el, [{
      type: "scatter", mode: "markers",
      x: shown.map(function (r) { return numeric ? asNumber(r.params[param]) : charts.plain(r.params[param]); }),
      y: shown.map(function (r) { return r.metrics[metric]; }),
      text: shown.map(function (r) { return charts.plain(r.name); }),
      marker: { size: 11, color: shown.map(function (r) { return charts.runColor(r.id); }) },
      hovertemplate: "%{text}<br>%{x}, %{y}<extra></extra>",
    }], {
      margin: { l: 60, r: 20, t: 10, b: 44 }, font: { size: 12 }, hovermode: "closest", showlegend: false,
      xaxis: { title: { text: charts.plain(param) }, type: numeric ? "linear" : "category", automargin: true },
      yaxis: { title: { text: charts.plain(metric) }, automargin: true, type: options().log ? "log" : "linear" },
    }, { displaylogo: false, responsive: true });
    el.dataset.points = String(shown.length);
  }
  if (paramSelect) {
    paramSelect.addEventListener("change", drawScatter);
    metricSelect.addEventListener("change", drawScatter);
    my.whenVisible([document.getElementById("view-scatter")], drawScatter);
  }

  // -- live -------------------------------------------------------------------------------------
  function running() { return data.runs.filter(function (r) { return r.status === "RUNNING"; }); }
  async function refresh() {
    try {
      for (const r of running()) {
        const run = (await my.api("runs/get", { run_id: r.id }, "GET")).run;
        r.status = run.info.status;
        (run.data.metrics || []).forEach(function (m) { r.metrics[m.key] = typeof m.value === "number" ? m.value : null; });
        const badge = document.querySelector(".run-list label[data-run-id='" + CSS.escape(r.id) + "'] .run-status");
        if (badge) { badge.textContent = r.status; badge.className = "badge status-" + r.status + " run-status"; }
      }
      const drawn = Array.from(grid.querySelectorAll(".view-chart[data-state='done']"));
      for (const el of drawn) await fetchKey(el.dataset.metric);
      renderAll();
      live.dataset.updated = new Date().toLocaleTimeString();
      live.title = "Refreshed at " + live.dataset.updated;
    } catch (e) {
      live.title = "Could not refresh: " + e.message;
    }
    if (running().length) setTimeout(refresh, data.live_ms);
    else live.hidden = true;
  }
  if (running().length) {
    live.hidden = false;
    setTimeout(refresh, data.live_ms);
  }
});
