/*
 * The HTML report (--html FILE): one self-contained page that opens from
 * disk with no network. It holds the run's parameters, the stats table,
 * the response time percentiles (per entry and Aggregated, ms), the errors,
 * and charts over time (requests/s and failures/s; response time p50, p95
 * and p99; users), drawn with uPlot.
 *
 * Everything the page needs is inside it: uPlot's script and stylesheet and
 * the report's own (src/report/assets/report.js and report.css) are embedded
 * into rpcload at build time (cmake/report_html_assets.cmake), and a
 * Content-Security-Policy forbids the page any fetch. The figures go in as
 * one JSON document in <script type="application/json" id="rl-data">, which
 * the report's script turns into tables (as text, never as markup) and
 * charts. Every string from the run is escaped for where it lands: JSON
 * strings have '<', '>' and '&' as \u escapes, so no name can close the
 * script element; the <title> is HTML-escaped; invalid UTF-8 becomes U+FFFD.
 *
 * The JSON document ("rl-data"), times in ms, rates per second:
 *   run:   target, plugin, command (null when not given), version, users,
 *          spawn_rate, run_time_s (null: until stopped), duration_s,
 *          start_unix, end_unix (s, null when unknown), start, end (local
 *          time as "YYYY-MM-DD HH:MM:SS +hhmm", null when unknown),
 *          cut_requests
 *   percentiles: [50, 66, 75, 80, 90, 95, 98, 99, 99.9, 99.99, 100]
 *   stats: one object per entry in Locust's order (name, then type):
 *          type, name, requests, failures, avg_ms, min_ms, max_ms,
 *          median_ms, avg_bytes, rps, fps (over duration_s, as the final
 *          console table), pct_ms (one per percentile; null when no request)
 *   total: the same for the Aggregated row (type "", name "Aggregated")
 *   errors: occurrences, type, name, error, first_s, last_s (most first)
 *   status_codes: type, status, count: the status code distribution
 *          (report/status.h), [] without protocols with named statuses
 *   history: columns, one value per second of the run: time (unix s),
 *          elapsed_s, users, requests, failures (totals so far), rps, fps
 *          (current, over the last 10 s), p50_ms, p95_ms, p99_ms (over the
 *          last 10 s; null when that window saw no request)
 */
#ifndef RL_REPORT_HTML_H
#define RL_REPORT_HTML_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "stats/history.h"
#include "stats/stats.h"

/* What the report says about the run besides its stats. Strings may be
 * NULL; they are only read during the call. */
typedef struct rl__report_html_info {
  const char *target;       /* what was load-tested, e.g. the URL */
  const char *plugin;       /* protocol plugin name; NULL: not shown */
  const char *command_line; /* as typed; NULL: not shown */
  const char *version;      /* NULL: RL_VERSION, this build's */
  uint32_t users;           /* -u: peak concurrent users */
  double spawn_rate;        /* -r: users started per second */
  uint64_t run_time_ns;     /* -t: 0 when it ran until stopped */
  double duration_s;        /* how long it ran; req/s = requests / this */
  /* Wall clock, Unix seconds (fractions allowed). 0: start is derived from
   * the history's first row and end from start + duration_s. */
  double start_unix_s, end_unix_s;
  uint64_t cut_requests; /* in flight at the stop, not counted */
  /* The run's protocols with named statuses (report/status.h); NULL or 0:
   * no status code table. Borrowed for the call. */
  const struct rl__status_names *status;
  size_t n_status;
  /* A load shape (issue #15): how the load was given, e.g. "--rate 2000/s
   * (even arrivals), 400 users (--max-inflight)"; NULL: none. In the open
   * model also the latency view the tables show ("corrected" or
   * "uncorrected"); NULL otherwise. Its iterations come from the stats. */
  const char *shape;
  const char *latency;
} rl__report_html_info;

/*
 * Writes the report to `out`. The caller holds the stats lock, or the run
 * has ended. `stats` is only read (its entry order is refreshed, as every
 * reporter does); `history` may be NULL or empty (the charts then say there
 * is no data). Returns 0, or RL_ERR_IO when writing to `out` failed.
 */
int rl__report_html_write(FILE *out, const rl__report_html_info *info,
                          rl__stats *stats, const rl__history *history);

/*
 * rl__report_html_write() into the file `path`, replaced whole (written to
 * PATH.tmp, renamed over PATH when complete: report/file.h), so a kill or a
 * full disk leaves the old file or the new one. Returns 0, or RL_ERR_IO
 * with a reason naming the file in `err` (may be NULL).
 */
int rl__report_html_save(const char *path, const rl__report_html_info *info,
                         rl__stats *stats, const rl__history *history,
                         char *err, size_t errlen);

/*
 * Building blocks, exposed for the tests. Each writes `s` (NUL-terminated;
 * NULL writes as empty) to `out`; invalid UTF-8 sequences become U+FFFD.
 *   json_string: a JSON string with its quotes, safe inside an HTML
 *       <script> element: '<', '>', '&', control characters, U+2028 and
 *       U+2029 are \u escapes.
 *   html_text: text for HTML content or a quoted attribute: & < > " ' as
 *       character references; control characters other than tab, line
 *       feed and carriage return become U+FFFD.
 */
void rl__report_html_json_string(FILE *out, const char *s);
void rl__report_html_text(FILE *out, const char *s);

#endif /* RL_REPORT_HTML_H */
