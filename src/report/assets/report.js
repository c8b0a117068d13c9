/*
 * rpcload's HTML report: turns the JSON in the script element "rl-data" (its
 * layout is in src/report_html.h) into tables and uPlot charts. Embedded
 * into rpcload at build time and written into every report; it runs from
 * disk, offline, in any current browser (ES5 and DOM only, no modules).
 *
 * Text from the run (names, errors, the target) only ever goes into the
 * page as textContent, never as markup.
 */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("rl-data").textContent);
  var root = document.getElementById("rl-report");

  // ---- formatting (as the console report: ms with 2 decimals under 1 s)

  function isNum(v) {
    return typeof v === "number" && isFinite(v);
  }
  function ms(v) {
    if (!isNum(v)) return "";
    return v < 1000 ? v.toFixed(2) : v.toFixed(0);
  }
  function fixed(v, digits) {
    return isNum(v) ? v.toFixed(digits) : "";
  }
  function count(v) {
    return isNum(v) ? String(v) : "";
  }
  function seconds(v) {
    if (!isNum(v)) return "";
    var s = v < 10 ? v.toFixed(1) : v.toFixed(0);
    if (v < 60) return s + " s";
    var t = Math.round(v), h = Math.floor(t / 3600), m = Math.floor(t / 60) % 60;
    var parts = [];
    if (h) parts.push(h + " h");
    if (m) parts.push(m + " min");
    if (t % 60) parts.push((t % 60) + " s");
    return parts.join(" ") + " (" + t + " s)";
  }
  function pctLabel(p) {
    return String(p) + "%";
  }

  // ---- DOM helpers

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // A request name (a gRPC method, a path) may break only after "/", "."
  // and "_", never inside a word: a <wbr> after each; a part wider than
  // the cell widens the table, which then scrolls (.scroll).
  function nameCell(text) {
    var td = el("td", "name");
    var s = text === null || text === undefined ? "" : String(text);
    var from = 0;
    for (var i = 0; i + 1 < s.length; i++) {
      if (s[i] !== "/" && s[i] !== "." && s[i] !== "_") continue;
      td.appendChild(document.createTextNode(s.slice(from, i + 1)));
      td.appendChild(document.createElement("wbr"));
      from = i + 1;
    }
    td.appendChild(document.createTextNode(s.slice(from)));
    return td;
  }

  function section(id, title) {
    var s = el("section");
    s.id = id;
    s.appendChild(el("h2", null, title));
    root.appendChild(s);
    return s;
  }

  // columns: [{label, cls}] (cls "num" right-aligns, "type" never wraps,
  // "name" wraps at / . _ only (nameCell), "text" anywhere); body and foot:
  // rows of cell texts.
  function table(columns, body, foot, cls) {
    var t = el("table", cls);
    var head = t.createTHead().insertRow();
    columns.forEach(function (c) {
      var th = el("th", c.cls === "num" ? "num" : null, c.label);
      th.scope = "col";
      head.appendChild(th);
    });
    function fill(section, rows) {
      rows.forEach(function (cells) {
        var tr = section.insertRow();
        cells.forEach(function (text, i) {
          tr.appendChild(columns[i].cls === "name" ? nameCell(text)
            : el("td", columns[i].cls || "text", text));
        });
      });
    }
    fill(t.appendChild(document.createElement("tbody")), body);
    if (foot && foot.length) fill(t.createTFoot(), foot);
    var wrap = el("div", "scroll");
    wrap.appendChild(t);
    return wrap;
  }

  // ---- run parameters

  function runSection() {
    var r = data.run;
    var s = section("run", "Run");
    var rows = [
      ["Target", r.target],
      ["Plugin", r.plugin],
      ["Users", count(r.users)],
      ["Spawn rate", isNum(r.spawn_rate) ? r.spawn_rate + " users/s" : ""],
      ["Run time", r.run_time_s === null ? "until stopped" : seconds(r.run_time_s)],
      ["Duration", seconds(r.duration_s)],
      ["Start", r.start],
      ["End", r.end],
      ["Command line", r.command],
      ["rpcload version", r.version]
    ];
    if (r.cut_requests)
      rows.push(["Cut at the stop", r.cut_requests + " request(s) in flight, not counted"]);
    if (r.shape)
      rows.push(["Load shape", r.shape]);
    if (r.latency) {
      rows.push(["Response times", r.latency === "corrected"
        ? "corrected: from each arrival's intended start"
        : "uncorrected: from the send"]);
      var due = r.iterations_scheduled || 0, dropped = r.iterations_dropped || 0;
      rows.push(["Iterations", due + " due, " + (due - dropped) + " started, " + dropped +
        " dropped (every user busy)"]);
    }
    var t = el("table", "params");
    var body = t.appendChild(document.createElement("tbody"));
    rows.forEach(function (kv) {
      if (kv[1] === null || kv[1] === undefined || kv[1] === "") return;
      var tr = body.insertRow();
      var th = el("th", null, kv[0]);
      th.scope = "row";
      tr.appendChild(th);
      tr.appendChild(el("td", "text", kv[1]));
    });
    s.appendChild(t);
  }

  // ---- tables

  function statsRow(e) {
    var ratio = e.requests ? (100 * e.failures) / e.requests : 0;
    return [
      e.type, e.name, count(e.requests),
      count(e.failures) + " (" + ratio.toFixed(2) + "%)",
      ms(e.avg_ms), ms(e.min_ms), ms(e.max_ms), ms(e.median_ms),
      fixed(e.avg_bytes, 0), fixed(e.rps, 2), fixed(e.fps, 2)
    ];
  }

  function statsSection() {
    var s = section("stats", "Request statistics");
    var cols = [
      { label: "Type", cls: "type" }, { label: "Name", cls: "name" },
      { label: "# requests", cls: "num" }, { label: "# fails", cls: "num" },
      { label: "Average (ms)", cls: "num" }, { label: "Min (ms)", cls: "num" },
      { label: "Max (ms)", cls: "num" }, { label: "Median (ms)", cls: "num" },
      { label: "Average size (bytes)", cls: "num" },
      { label: "req/s", cls: "num" }, { label: "failures/s", cls: "num" }
    ];
    s.appendChild(table(cols, data.stats.map(statsRow), [statsRow(data.total)], "stats"));
    s.appendChild(el("p", "note",
      "req/s and failures/s are over the whole run (" + seconds(data.run.duration_s) + ")."));
  }

  function percentileRow(e) {
    return [e.type, e.name].concat(e.pct_ms.map(ms), [count(e.requests)]);
  }

  function percentileSection() {
    var s = section("percentiles", "Response time percentiles (ms)");
    var cols = [{ label: "Type", cls: "type" }, { label: "Name", cls: "name" }];
    data.percentiles.forEach(function (p) {
      cols.push({ label: pctLabel(p), cls: "num" });
    });
    cols.push({ label: "# requests", cls: "num" });
    var body = data.stats.filter(function (e) {
      return e.requests > 0;
    }).map(percentileRow);
    var foot = data.total.requests > 0 ? [percentileRow(data.total)] : [];
    s.appendChild(table(cols, body, foot, "percentiles"));
  }

  function errorSection() {
    var s = section("errors", "Errors");
    if (!data.errors.length) {
      s.appendChild(el("p", "note", "No request failed."));
      return;
    }
    var cols = [
      { label: "# occurrences", cls: "num" }, { label: "Type", cls: "type" },
      { label: "Name", cls: "name" }, { label: "Error" }
    ];
    s.appendChild(table(cols, data.errors.map(function (e) {
      return [count(e.occurrences), e.type, e.name, e.error];
    }), null, "errors"));
  }

  function statusSection() {
    var codes = data.status_codes || [];
    if (!codes.length) {
      return;
    }
    var s = section("status", "Status codes");
    var all = codes.reduce(function (a, c) { return a + c.count; }, 0);
    var cols = [
      { label: "Type", cls: "type" }, { label: "Status" },
      { label: "# calls", cls: "num" }, { label: "%", cls: "num" }
    ];
    s.appendChild(table(cols, codes.map(function (c) {
      return [c.type, c.status, count(c.count), fixed(100 * c.count / all, 2)];
    }), null, "status"));
  }

  // ---- charts

  var plots = [];
  var WHOLE_SECONDS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
    7200, 10800, 21600, 43200, 86400, 172800, 604800];

  function chartWidth(box) {
    return Math.max(320, Math.min(1240, box.clientWidth || 800));
  }

  function chart(parent, title, yLabel, series, columns, fmt) {
    var box = el("div", "chart");
    parent.appendChild(box);
    var opts = {
      title: title,
      width: chartWidth(box),
      height: 300,
      scales: { x: { time: true } },
      series: [{ label: "Time" }].concat(series.map(function (sr) {
        return {
          label: sr.label,
          stroke: sr.color,
          width: 2,
          spanGaps: false,
          paths: sr.paths,
          value: function (u, v) {
            return v === null || v === undefined ? "-" : fmt(v);
          }
        };
      })),
      axes: [
        // Whole seconds at least: a short run's axis would otherwise tick
        // at fractions of the one-second history.
        { incrs: WHOLE_SECONDS },
        { label: yLabel, size: 60, values: function (u, ticks) {
          return ticks.map(fmt);
        } }
      ]
    };
    /* global uPlot */
    var plot = new uPlot(opts, [data.history.time].concat(columns), box);
    plots.push({ plot: plot, box: box });
  }

  function chartSection() {
    var s = section("charts", "Charts");
    var h = data.history;
    if (typeof uPlot === "undefined") {
      s.appendChild(el("p", "note", "The charts cannot be drawn: uPlot did not load."));
      return;
    }
    if (!h.time.length) {
      s.appendChild(el("p", "note", "No per-second data: the run ended within its first second."));
      return;
    }
    s.appendChild(el("p", "note",
      "Rates are averaged, and percentiles taken, over the last 10 seconds at each point."));
    var stepped = uPlot.paths && uPlot.paths.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined;
    chart(s, "Requests per second", "per second", [
      { label: "Requests/s", color: "#1f6fd1" },
      { label: "Failures/s", color: "#d62728" }
    ], [h.rps, h.fps], function (v) {
      return fixed(v, v < 10 ? 2 : 0);
    });
    chart(s, "Response time (ms)", "ms", [
      { label: "p50", color: "#2ca02c" },
      { label: "p95", color: "#ff7f0e" },
      { label: "p99", color: "#9467bd" }
    ], [h.p50_ms, h.p95_ms, h.p99_ms], ms);
    chart(s, "Users", "users", [
      { label: "Users", color: "#17a2b8", paths: stepped }
    ], [h.users], function (v) {
      return Math.round(v) === v ? String(v) : ""; // no fractional users on the axis
    });
    var pending = 0;
    window.addEventListener("resize", function () {
      if (pending) return;
      pending = setTimeout(function () {
        pending = 0;
        plots.forEach(function (p) {
          p.plot.setSize({ width: chartWidth(p.box), height: 300 });
        });
      }, 100);
    });
  }

  runSection();
  statsSection();
  percentileSection();
  statusSection();
  errorSection();
  chartSection();
  document.documentElement.setAttribute("data-rl-rendered", "1");
})();
