// Metric charts shared by the run page, the compare page and the experiment's chart view, so a
// metric is drawn the same way everywhere:
// - a run has one colour, derived from its id, on every page (runColor);
// - one point is a value, not a line on a -1..1 axis; one point per run is a bar per run;
// - histories are lines over step, wall time or time since the run's first point, optionally on a
//   log scale and smoothed (exponential moving average, debiased; the raw line stays, faint).
// Exposed as window.modelyard.charts. plotly.js is loaded on first use.
(function () {
  "use strict";

  // A stable colour per run id: an FNV-1a hash of the id picks one of 36 hues (10 degrees apart)
  // and one of two lightnesses, so 72 colours, the same for a run on every page.
  function runColor(runId) {
    let h = 0x811c9dc5;
    for (let i = 0; i < runId.length; i++) {
      h ^= runId.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    const hue = (h % 36) * 10, light = (h >>> 8) % 2 ? 38 : 52;
    return "hsl(" + hue + ", 70%, " + light + "%)";
  }

  let plotly = null;
  function loadPlotly() {
    if (window.Plotly) return Promise.resolve(window.Plotly);
    if (!plotly) {
      plotly = new Promise(function (resolve, reject) {
        const script = document.createElement("script");
        script.src = "/static/vendor/plotly.min.js";
        script.onload = function () { resolve(window.Plotly); };
        script.onerror = function () { reject(new Error("plotly.js could not be loaded")); };
        document.head.appendChild(script);
      });
    }
    return plotly;
  }

  // plotly reads a little HTML in labels: hand it text with <, > and & escaped.
  function plain(s) { return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }
  function number(v) { return typeof v === "number" && isFinite(v) ? v : null; }  // NaN/inf: gaps

  // {run_id: [{step, timestamp, value}]} of one metric for some runs, sampled by the server.
  async function histories(runIds, key, maxPoints) {
    const query = new URLSearchParams();
    runIds.forEach(function (id) { query.append("run_ids", id); });
    query.append("metric_key", key);
    query.append("max_results", String(maxPoints || 1000));
    const out = await window.modelyard.api("metrics/get-history-bulk-interval?" + query.toString());
    const byRun = {};
    (out.metrics || []).forEach(function (m) { (byRun[m.run_id] = byRun[m.run_id] || []).push(m); });
    Object.keys(byRun).forEach(function (id) { byRun[id].sort(function (a, b) { return a.step - b.step; }); });
    return byRun;
  }

  function smooth(ys, weight) {
    if (!weight) return ys;
    let last = 0, n = 0;
    return ys.map(function (y) {
      if (y === null) return null;
      n += 1;
      last = last * weight + (1 - weight) * y;
      return last / (1 - Math.pow(weight, n));
    });
  }

  function xValues(points, xAxis) {
    if (xAxis === "wall") return points.map(function (p) { return new Date(p.timestamp); });
    if (xAxis === "relative") {
      const t0 = points.length ? points[0].timestamp : 0;
      return points.map(function (p) { return (p.timestamp - t0) / 1000; });
    }
    return points.map(function (p) { return p.step; });
  }

  const X_TITLES = { step: "step", wall: "time", relative: "seconds since the run's first point" };
  const BASE_LAYOUT = {
    margin: { l: 56, r: 16, t: 12, b: 44 }, showlegend: false, hovermode: "closest",
    font: { family: "system-ui, sans-serif", size: 12, color: "#1d2430" },
    paper_bgcolor: "#ffffff", plot_bgcolor: "#ffffff",
  };
  const CONFIG = { displaylogo: false, responsive: true };

  function format(v) {
    if (v === null) return "NaN";
    return Math.abs(v) >= 1e6 || (Math.abs(v) < 1e-4 && v !== 0) ? v.toExponential(4) : String(+v.toPrecision(6));
  }

  // Draw one metric into el. series: [{id, name, points: [{step, timestamp, value}]}] (runs with
  // no point are left out). options: {xAxis: "step"|"wall"|"relative", log: bool, smoothing: 0..0.99}.
  // Sets el.dataset.drawn to "value", "bar" or "lines" (what the user sees).
  async function draw(el, series, options) {
    options = options || {};
    series = series.filter(function (s) { return s.points.length; });
    if (!series.length) {
      if (window.Plotly) window.Plotly.purge(el);
      el.textContent = "No points yet.";
      el.dataset.drawn = "empty";
      return;
    }
    const single = series.every(function (s) { return s.points.length === 1; });
    if (single && series.length === 1) {  // one value: say it, no chart
      if (window.Plotly) window.Plotly.purge(el);
      const p = series[0].points[0];
      el.textContent = "";
      const value = document.createElement("div");
      value.className = "metric-value";
      value.textContent = format(number(p.value));
      const note = document.createElement("div");
      note.className = "muted";
      note.textContent = "one value, at step " + p.step;
      el.append(value, note);
      el.dataset.drawn = "value";
      return;
    }
    const Plotly = await loadPlotly();
    if (!el.querySelector(".plot-container")) el.textContent = "";
    const yaxis = { zeroline: false, automargin: true, type: options.log ? "log" : "linear" };
    if (single) {  // one value per run (a final score): a bar per run, in the run's colour
      await Plotly.react(el, [{
        type: "bar", x: series.map(function (s) { return plain(s.name); }),
        y: series.map(function (s) { return number(s.points[0].value); }),
        marker: { color: series.map(function (s) { return runColor(s.id); }) },
        hovertemplate: "%{x}: %{y}<extra></extra>",
      }], Object.assign({}, BASE_LAYOUT, { xaxis: { type: "category", automargin: true }, yaxis: yaxis }), CONFIG);
      el.dataset.drawn = "bar";
      return;
    }
    const xAxis = options.xAxis || "step";
    const weight = Math.min(Math.max(Number(options.smoothing) || 0, 0), 0.99);
    const traces = [];
    series.forEach(function (s) {
      const color = runColor(s.id);
      const x = xValues(s.points, xAxis);
      const y = s.points.map(function (p) { return number(p.value); });
      const mode = s.points.length === 1 ? "markers" : (s.points.length > 50 ? "lines" : "lines+markers");
      traces.push({
        type: "scatter", mode: mode, x: x, y: y, name: plain(s.name), legendgroup: s.id,
        line: { color: color, width: 1.5 }, marker: { color: color, size: 5 }, opacity: weight ? 0.25 : 1,
        hovertemplate: plain(s.name) + "<br>%{x}: %{y}<extra></extra>", showlegend: !weight,
      });
      if (weight) {
        traces.push({
          type: "scatter", mode: "lines", x: x, y: smooth(y, weight), name: plain(s.name), legendgroup: s.id,
          line: { color: color, width: 2 }, hovertemplate: plain(s.name) + " (smoothed)<br>%{x}: %{y}<extra></extra>",
        });
      }
    });
    await Plotly.react(el, traces, Object.assign({}, BASE_LAYOUT, {
      xaxis: { title: { text: X_TITLES[xAxis] || "step" }, zeroline: false, type: xAxis === "wall" ? "date" : "linear" },
      yaxis: yaxis,
      showlegend: series.length > 1 && !options.noLegend,
      legend: { orientation: "h", y: -0.3 },
    }), CONFIG);
    el.dataset.drawn = "lines";
  }

  // The chart controls of a page (x axis, log scale, smoothing): {xAxis, log, smoothing}, and a
  // callback when one changes. Controls are optional: a page without them gets the defaults.
  function controls(root, onChange) {
    const x = root && root.querySelector("[name=chart-x]");
    const log = root && root.querySelector("[name=chart-log]");
    const smoothing = root && root.querySelector("[name=chart-smoothing]");
    const value = root && root.querySelector(".smoothing-value");
    function read() {
      if (value && smoothing) value.textContent = Number(smoothing.value).toFixed(2);
      return { xAxis: x ? x.value : "step", log: log ? log.checked : false, smoothing: smoothing ? Number(smoothing.value) : 0 };
    }
    [x, log, smoothing].forEach(function (input) {
      if (input) input.addEventListener("input", function () { onChange(read()); });
    });
    return read;
  }

  // Every page: a run's swatch (<span class="run-swatch" data-run-id>) takes the run's colour.
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".run-swatch[data-run-id]").forEach(function (el) {
      el.style.background = runColor(el.dataset.runId);
    });
  });

  window.modelyard = window.modelyard || {};
  window.modelyard.charts = { runColor: runColor, loadPlotly: loadPlotly, histories: histories, draw: draw,
                              controls: controls, plain: plain, smooth: smooth };
})();
