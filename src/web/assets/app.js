/*
 * rpcload's web UI (served by src/web/ui.c, embedded at build time). It
 * speaks Locust's HTTP API to the rpcload that served it: POST swarm,
 * GET stop and stats/reset, and polls stats/requests every second, as
 * Locust's UI does, appending the figures to live uPlot charts on the
 * client (the server keeps no chart state for the UI).
 *
 * Text from the run (names, errors) only ever goes into the page as
 * textContent, never as markup, and with its control characters made
 * visible (visible() below): a reason phrase or grpc-message is the
 * server's text, and an escape sequence or a right-to-left override in it
 * must not disguise what is shown.
 */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var MAX_POINTS = 3600 * 6; /* six hours of seconds; older points drop */
  var COLORS = {
    rps: "#1f6fd1", fps: "#d62728", p50: "#2ca02c", p95: "#ff7f0e",
    p99: "#9467bd", users: "#17a2b8", target: "#555555"
  };

  function $(id) { return document.getElementById(id); }

  // ---- formatting (as the console report: ms with 2 decimals under 1 s)

  function isNum(v) { return typeof v === "number" && isFinite(v); }
  function ms(v) { return isNum(v) ? (v < 1000 ? v.toFixed(2) : v.toFixed(0)) : ""; }
  function fixed(v, d) { return isNum(v) ? v.toFixed(d) : ""; }
  function count(v) { return isNum(v) ? String(v) : ""; }

  /* Locust sends error rows HTML-escaped (Python's html.escape); the page
   * puts text in as text, so undo it. */
  function unescapeHtml(s) {
    if (typeof s !== "string") return "";
    return s.replace(/&(lt|gt|quot|#x27|#39|amp);/g, function (m, e) {
      return { lt: "<", gt: ">", quot: "\"", "#x27": "'", "#39": "'", amp: "&" }[e];
    });
  }

  /* Control characters (C0, DEL, C1) and the invisible direction marks
   * and overrides, as escapes: "\x1b", "\n", "\u202e". */
  var HIDDEN = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
  var NAMED = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
  function visible(s) {
    if (s === null || s === undefined) return "";
    return String(s).replace(HIDDEN, function (c) {
      if (NAMED[c]) return NAMED[c];
      var code = c.charCodeAt(0);
      var hex = code.toString(16);
      return code < 0x100 ? "\\x" + ("0" + hex).slice(-2) : "\\u" + ("000" + hex).slice(-4);
    });
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = visible(text);
    tr.appendChild(td);
  }

  // ---- messages

  function say(text, isError) {
    var m = $("message");
    m.textContent = text || "";
    m.className = isError ? "error" : "";
    m.hidden = !text;
  }

  // ---- the API

  function get(path) {
    return fetch(path, { cache: "no-store", credentials: "same-origin" });
  }

  function swarm(form) {
    var body = new URLSearchParams(new FormData(form));
    return fetch("swarm", { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (res) {
        if (!res.success) throw new Error(res.message || "refused");
        return res;
      });
  }

  // ---- charts: one point per poll while users run

  var series = { t: [], rps: [], fps: [], p50: [], p95: [], p99: [], users: [],
                 targetRps: [], targetUsers: [] };
  var charts = [];

  function chartData() {
    return [
      [series.t, series.rps, series.fps, series.targetRps],
      [series.t, series.p50, series.p95, series.p99],
      [series.t, series.users, series.targetUsers]
    ];
  }

  function chartWidth() {
    var w = $("tab-charts").clientWidth;
    return Math.max(320, (w || 960) - 8);
  }

  function line(label, color, unit) {
    return {
      label: label, stroke: color, width: 2, spanGaps: false,
      value: function (u, v) { return v == null ? "-" : (unit ? v.toFixed(2) + " " + unit : v.toFixed(1)); }
    };
  }

  function makeCharts() {
    if (charts.length || typeof uPlot === "undefined") return;
    var width = chartWidth();
    var defs = [
      { el: "chart-rps", title: "Total Requests per Second",
        s: [line("RPS", COLORS.rps), line("Failures/s", COLORS.fps),
            /* a load shape's target beside what was achieved */
            { label: "Target RPS", stroke: COLORS.target, width: 1, dash: [6, 4],
              value: function (u, v) { return v == null ? "-" : v.toFixed(1); } }] },
      { el: "chart-rt", title: "Response Times (ms)",
        s: [line("50th percentile", COLORS.p50, "ms"), line("95th percentile", COLORS.p95, "ms"),
            line("99th percentile", COLORS.p99, "ms")] },
      { el: "chart-users", title: "Number of Users",
        s: [{ label: "Users", stroke: COLORS.users, width: 2,
              value: function (u, v) { return v == null ? "-" : String(v); } },
            { label: "Target users", stroke: COLORS.target, width: 1, dash: [6, 4],
              value: function (u, v) { return v == null ? "-" : v.toFixed(1); } }] }
    ];
    var data = chartData();
    defs.forEach(function (d, i) {
      var opts = {
        title: d.title, width: width, height: 280,
        series: [{}].concat(d.s),
        scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, max) * 1.05]; } } },
        axes: [{}, { size: 64 }]
      };
      charts.push(new uPlot(opts, data[i], $(d.el)));
    });
  }

  function redraw() {
    if (!charts.length) return;
    var data = chartData();
    charts.forEach(function (c, i) { c.setData(data[i]); });
  }

  function addPoint(s) {
    var cur = s.current_response_time_percentiles || {};
    function n(v) { return isNum(v) ? v : null; }
    /* A window without requests reports 0 ms: no point, not a dip. */
    function t(v) { return isNum(v) && v > 0 ? v : null; }
    series.t.push(Date.now() / 1000);
    series.rps.push(n(s.total_rps));
    series.fps.push(n(s.total_fail_per_sec));
    series.p50.push(t(cur["response_time_percentile_0.5"]));
    series.p95.push(t(cur["response_time_percentile_0.95"]));
    series.p99.push(t(cur["response_time_percentile_0.99"]));
    series.users.push(n(s.user_count));
    var sh = s.shape || null;
    series.targetRps.push(sh && sh.kind === "rate" ? n(sh.target) : null);
    series.targetUsers.push(sh && sh.kind === "users" ? n(sh.target) : null);
    if (series.t.length > MAX_POINTS)
      Object.keys(series).forEach(function (k) { series[k].shift(); });
    redraw();
  }

  function clearCharts() {
    Object.keys(series).forEach(function (k) { series[k].length = 0; });
    redraw();
  }

  // ---- tables

  function statsRow(body, s, total) {
    var tr = document.createElement("tr");
    cell(tr, total ? "" : (s.method || ""), "type");
    cell(tr, s.name, "name");
    cell(tr, count(s.num_requests), "num");
    cell(tr, count(s.num_failures), "num");
    cell(tr, ms(s.median_response_time), "num");
    cell(tr, ms(s["response_time_percentile_0.95"]), "num");
    cell(tr, ms(s["response_time_percentile_0.99"]), "num");
    cell(tr, ms(s.avg_response_time), "num");
    cell(tr, ms(s.min_response_time), "num");
    cell(tr, ms(s.max_response_time), "num");
    cell(tr, fixed(s.avg_content_length, 0), "num");
    cell(tr, fixed(s.current_rps, 1), "num");
    cell(tr, fixed(s.current_fail_per_sec, 1), "num");
    body.appendChild(tr);
  }

  /* Sorting: a click on a column's head sorts the rows by it, a second
   * reverses; the Aggregated row stays at the foot. */
  var sortKey = null, sortDir = 1;

  function compare(a, b) {
    var x = a[sortKey], y = b[sortKey];
    if (isNum(x) && isNum(y)) return (x - y) * sortDir;
    if (isNum(x) !== isNum(y)) return isNum(x) ? -1 : 1; /* blanks last */
    return String(x || "").localeCompare(String(y || "")) * sortDir;
  }

  function showSort() {
    Array.prototype.forEach.call(document.querySelectorAll("#stats-table thead th"), function (th) {
      var on = th.getAttribute("data-key") === sortKey;
      th.setAttribute("aria-sort", on ? (sortDir > 0 ? "ascending" : "descending") : "none");
    });
  }

  var lastStats = null;

  function renderStats(res) {
    lastStats = res;
    var table = $("stats-table");
    var body = table.tBodies[0], foot = table.tFoot;
    body.textContent = "";
    foot.textContent = "";
    var rows = (res.stats || []).slice();
    var total = rows.length && rows[rows.length - 1].name === "Aggregated" ? rows.pop() : null;
    if (sortKey) {
      /* A stable sort: equal rows keep the server's order. */
      rows = rows.map(function (r, i) { return { r: r, i: i }; })
        .sort(function (a, b) { return compare(a.r, b.r) || a.i - b.i; })
        .map(function (x) { return x.r; });
    }
    rows.forEach(function (s) { statsRow(body, s, false); });
    if (total) statsRow(foot, total, true);
  }

  function sortBy(key) {
    sortDir = sortKey === key ? -sortDir : 1;
    sortKey = key;
    showSort();
    if (lastStats) renderStats(lastStats);
  }

  function renderExceptions(res) {
    var body = $("exceptions-table").tBodies[0];
    body.textContent = "";
    var rows = (res && res.exceptions) || [];
    rows.forEach(function (e) {
      var tr = document.createElement("tr");
      cell(tr, count(e.count), "num");
      cell(tr, unescapeHtml(e.msg), "text");
      cell(tr, unescapeHtml(e.traceback), "text");
      cell(tr, e.nodes || "", "text");
      body.appendChild(tr);
    });
    $("no-exceptions").hidden = rows.length > 0;
  }

  /* A cluster master's Workers tab (Locust's): shown only when the
   * answer lists workers, as Locust shows it on a master only. */
  function renderWorkers(workers) {
    var on = Array.isArray(workers);
    $("workers-tab").hidden = !on;
    if (!on) return;
    var body = $("workers-table").tBodies[0];
    body.textContent = "";
    workers.forEach(function (w) {
      var tr = document.createElement("tr");
      cell(tr, w.id, "text");
      cell(tr, w.state, "text");
      cell(tr, count(w.user_count), "num");
      cell(tr, isNum(w.cpu_usage) ? w.cpu_usage.toFixed(1) + "%" : "", "num");
      body.appendChild(tr);
    });
    $("no-workers").hidden = workers.length > 0;
  }

  /* Locust's Current ratio tab: "75.0% Web" with its tasks under it. */
  function ratioList(ul, items) {
    ul.textContent = "";
    Object.keys(items || {}).forEach(function (name) {
      var item = items[name] || {};
      var li = document.createElement("li");
      var label = document.createElement("span");
      label.className = "ratio-item";
      label.textContent = (isNum(item.ratio) ? (item.ratio * 100).toFixed(1) : "0.0") + "% " + visible(name);
      li.appendChild(label);
      if (item.tasks && Object.keys(item.tasks).length) {
        var sub = document.createElement("ul");
        ratioList(sub, item.tasks);
        li.appendChild(sub);
      }
      ul.appendChild(li);
    });
  }

  function renderRatio(res) {
    ratioList($("ratio-per-class").querySelector("ul"), res && res.per_class);
    ratioList($("ratio-total").querySelector("ul"), res && res.total);
  }

  /* "Admin 1 · Web 3" under the user count (one class: nothing). */
  function renderClasses(counts) {
    var names = Object.keys(counts || {}).sort();
    $("user-classes").textContent = names.length > 1
      ? names.map(function (n) { return visible(n) + " " + counts[n]; }).join(" \u00b7 ")
      : "";
  }

  function renderFailures(res) {
    var body = $("failures-table").tBodies[0];
    body.textContent = "";
    var errors = res.errors || [];
    errors.forEach(function (e) {
      var tr = document.createElement("tr");
      cell(tr, count(e.occurrences), "num");
      cell(tr, e.method || "", "type");
      cell(tr, unescapeHtml(e.name), "name");
      cell(tr, unescapeHtml(e.error), "text");
      body.appendChild(tr);
    });
    $("no-failures").hidden = errors.length > 0;
  }

  // ---- state

  var state = null;
  var editing = false;

  function showPanels() {
    var running = state === "spawning" || state === "running";
    $("start").hidden = !(state === "ready" || (state === "stopped" && startAsked));
    $("edit").hidden = !(running && editing);
    $("edit-button").hidden = !running;
    $("stop-button").hidden = !running;
    $("new-button").hidden = state !== "stopped" || startAsked;
  }
  var startAsked = false; /* "New test" pressed: show the form again */

  function renderBar(res) {
    $("state").textContent = String(res.state || "").toUpperCase();
    $("state").className = "value state-" + (res.state || "");
    $("users").textContent = count(res.user_count);
    $("rps").textContent = fixed(res.total_rps, 1);
    $("fail-ratio").textContent = isNum(res.fail_ratio) ? Math.round(res.fail_ratio * 100) + "%" : "";
    renderShape(res.shape, res.iterations);
  }

  /* A load shape (--stages, --rate...): its target and stage, and the
   * open model's dropped arrivals. The Stop button ends it. */
  function renderShape(sh, it) {
    $("shape-figure").hidden = !sh;
    if (!sh) return;
    $("shape").textContent = fixed(sh.target, sh.kind === "rate" ? 0 : 1) +
      (sh.kind === "rate" ? " /s" : " users");
    var parts = [];
    if (sh.stages) parts.push("stage " + Math.min(sh.stage, sh.stages) + "/" + sh.stages);
    if (sh.duration > 0) parts.push(Math.min(100, Math.round(100 * sh.elapsed / sh.duration)) + "%");
    if (it) parts.push(count(it.dropped) + " dropped of " + count(it.scheduled));
    $("shape-detail").textContent = parts.join(" \u00b7 ");
  }

  function update(res) {
    var was = state;
    state = res.state;
    if (state !== was && state === "spawning" && (was === "ready" || was === "stopped"))
      startAsked = false;
    renderBar(res);
    renderClasses(res.user_classes_count);
    renderStats(res);
    renderFailures(res);
    renderWorkers(res.workers);
    pollTab();
    if (state === "spawning" || state === "running") addPoint(res);
    showPanels();
  }

  var polling = false;
  function poll() {
    if (polling) return; /* one request at a time, however slow */
    polling = true;
    get("stats/requests")
      .then(function (r) {
        if (!r.ok) throw new Error("stats/requests: HTTP " + r.status);
        return r.json();
      })
      .then(function (res) { update(res); })
      .catch(function (e) { say("Cannot reach rpcload: " + e.message, true); })
      .then(function () { polling = false; });
  }

  /* The Exceptions and Current ratio tabs poll their own paths, as
   * Locust's page does, while they are shown. */
  var tabBusy = false;
  function pollTab() {
    var tab = document.querySelector(".tabs button.active");
    var name = tab && tab.getAttribute("data-tab");
    var path = name === "exceptions" ? "exceptions" : name === "ratio" ? "tasks" : null;
    if (!path || tabBusy) return;
    tabBusy = true;
    get(path)
      .then(function (r) {
        if (!r.ok) throw new Error(path + ": HTTP " + r.status);
        return r.json();
      })
      .then(function (res) { if (path === "tasks") renderRatio(res); else renderExceptions(res); })
      .catch(function (e) { say("Cannot reach rpcload: " + e.message, true); })
      .then(function () { tabBusy = false; });
  }

  // ---- charts as images

  /* One chart as a PNG: its title, the plot (uPlot's canvas) and its
   * series' labels in their colours, on white. */
  function saveChart(i) {
    var c = charts[i];
    if (!c) return;
    var plot = c.ctx.canvas;
    var ratio = window.devicePixelRatio || 1;
    var title = c.root.querySelector(".u-title");
    var pad = Math.round(12 * ratio), line = Math.round(20 * ratio);
    var out = document.createElement("canvas");
    out.width = plot.width + 2 * pad;
    out.height = plot.height + 2 * line + 2 * pad;
    var ctx = out.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.fillStyle = "#1d2330";
    ctx.font = "bold " + Math.round(14 * ratio) + "px sans-serif";
    ctx.fillText(title ? title.textContent : "", pad, pad + line * 0.7);
    ctx.drawImage(plot, pad, pad + line);
    ctx.font = Math.round(12 * ratio) + "px sans-serif";
    var x = pad;
    c.series.slice(1).forEach(function (sr) {
      ctx.fillStyle = sr.stroke && typeof sr.stroke === "function" ? sr.stroke(c, 1) : (sr.stroke || "#000");
      ctx.fillText("\u25a0 " + sr.label, x, out.height - pad);
      x += ctx.measureText("\u25a0 " + sr.label).width + pad;
    });
    out.toBlob(function (blob) {
      if (!blob) return;
      var a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = "rpcload_" + ["rps", "response_times", "users"][i] + "_" +
        Math.floor(Date.now() / 1000) + ".png";
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(a.href); }, 10000);
    }, "image/png");
  }

  // ---- wiring

  function showTab(name) {
    Array.prototype.forEach.call(document.querySelectorAll(".tabs button"), function (b) {
      var on = b.getAttribute("data-tab") === name;
      b.classList.toggle("active", on);
      b.setAttribute("aria-selected", on ? "true" : "false");
      $("tab-" + b.getAttribute("data-tab")).hidden = !on;
    });
    if (name === "charts") {
      makeCharts();
      var w = chartWidth();
      charts.forEach(function (c) { c.setSize({ width: w, height: 280 }); });
    }
    pollTab();
  }

  function showHost(host) {
    $("host").textContent = visible(host);
    $("start-host").value = host;
  }

  function init(cfg) {
    showHost(cfg.host);
    if (isNum(cfg.run_time_s))
      $("start-run-time-default").textContent = cfg.run_time_s + "s (-t)";
    $("start-users").value = cfg.users;
    $("start-rate").value = cfg.spawn_rate;
    $("versions").textContent = "rpcload " + cfg.version + " \u00b7 charts by uPlot " + cfg.uplot_version;
    /* As Locust's: the full history exists with --csv-full-history only. */
    $("dl-history").parentNode.hidden = !cfg.full_history;

    Array.prototype.forEach.call(document.querySelectorAll(".tabs button"), function (b) {
      b.addEventListener("click", function () { showTab(b.getAttribute("data-tab")); });
    });

    Array.prototype.forEach.call(document.querySelectorAll("#stats-table thead th"), function (th) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(th.getAttribute("data-key")); });
      th.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sortBy(th.getAttribute("data-key")); }
      });
    });
    Array.prototype.forEach.call(document.querySelectorAll(".save-chart"), function (b) {
      b.addEventListener("click", function () { saveChart(Number(b.getAttribute("data-chart"))); });
    });

    $("start-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      swarm(ev.target).then(function (res) {
        if (typeof res.host === "string") showHost(res.host);
        say("");
        startAsked = false;
        clearCharts();
        $("edit-users").value = $("start-users").value;
        $("edit-rate").value = $("start-rate").value;
        poll();
      }).catch(function (e) { say(e.message, true); });
    });
    $("edit-button").addEventListener("click", function () {
      editing = true;
      showPanels();
    });
    $("cancel-button").addEventListener("click", function () {
      editing = false;
      showPanels();
    });
    $("edit-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      swarm(ev.target).then(function () {
        say("");
        editing = false;
        poll();
      }).catch(function (e) { say(e.message, true); });
    });
    $("stop-button").addEventListener("click", function () {
      get("stop").then(function () { editing = false; poll(); })
        .catch(function (e) { say(e.message, true); });
    });
    $("new-button").addEventListener("click", function () {
      startAsked = true;
      showPanels();
    });
    $("reset-button").addEventListener("click", function () {
      get("stats/reset").then(function () { poll(); })
        .catch(function (e) { say(e.message, true); });
    });
    window.addEventListener("resize", function () {
      var w = chartWidth();
      charts.forEach(function (c) { c.setSize({ width: w, height: 280 }); });
    });
    $("edit-users").value = cfg.users;
    $("edit-rate").value = cfg.spawn_rate;
    poll();
    setInterval(poll, POLL_MS);
  }

  get("config")
    .then(function (r) { return r.json(); })
    .then(init)
    .catch(function (e) { say("Cannot reach rpcload: " + e.message, true); });
})();
