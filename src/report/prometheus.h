/*
 * The run's current stats in the Prometheus text exposition format
 * (version 0.0.4), served at /metrics by the web UI and, headless, by
 * `--prometheus-port P` (src/web_ui.c).
 *
 * Metrics, one series per stats entry with labels method (the request
 * type) and name; the Aggregated row is left out, as Prometheus sums
 * series itself and a sum() over every series would count it twice:
 *
 *   rpcload_requests_total          counter  requests finished
 *   rpcload_failures_total          counter  of which failed
 *   rpcload_response_bytes_total    counter  response bytes received
 *   rpcload_current_rps             gauge    requests/s over the last
 *   rpcload_current_fail_per_sec    gauge    RL__STATS_CURRENT_WINDOW s
 *   rpcload_response_time_seconds   histogram (_bucket{le}, _sum, _count)
 *   rpcload_errors_total            counter  labels method, name, error
 *                                            (the row of texts past the
 *                                            cap: error="(other errors)")
 *   rpcload_users                   gauge    users asked for now
 *   rpcload_state                   gauge    1 for the run's state, 0 for
 *                                            the others (label state)
 *
 * A "reset stats" sets the counters back to 0, which Prometheus reads as a
 * counter reset, as after a restart.
 *
 * Histogram buckets: the fixed ladder rl__report_prometheus_bounds_ns (100 us to
 * 60 s in 1-2.5-5 steps), then +Inf. rpcload's own histogram is finer
 * (log-linear, 3 significant digits): each of its buckets is counted under
 * the first bound at or above the bucket's upper edge, so a bucket
 * straddling a bound (it is at most 1/1024 of its value wide) counts
 * above it. _count is the +Inf bucket, _sum the exact sum of the times.
 *
 * Label values are escaped as the format asks (backslash, double quote and
 * line feed as \\, \" and \n) and any byte that is not valid UTF-8 is
 * replaced by U+FFFD (the format is UTF-8).
 */
#ifndef RL_PROMETHEUS_H
#define RL_PROMETHEUS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "stats/stats.h"

/* The Content-Type of the text format. */
#define RL__REPORT_PROMETHEUS_CONTENT_TYPE                                     \
  "text/plain; version=0.0.4; charset=utf-8"

/* The histogram's bucket bounds in nanoseconds, increasing, and their
 * `le` label texts in seconds (e.g. "0.0025"); +Inf comes after them. */
#define RL__REPORT_PROMETHEUS_NBOUNDS 18
extern const uint64_t
    rl__report_prometheus_bounds_ns[RL__REPORT_PROMETHEUS_NBOUNDS];
extern const char
    *const rl__report_prometheus_bounds_text[RL__REPORT_PROMETHEUS_NBOUNDS];

/* What the exposition says about the run besides its stats. */
typedef struct rl__report_prometheus_info {
  uint32_t users;          /* rpcload_users */
  int state;               /* enum rl__run_state (runner.h) */
  rl__stats_window window; /* for the current rates (rl__history_window) */
} rl__report_prometheus_info;

/*
 * Writes the exposition of `s` to `out`. `s` is only read (its sorted
 * views are refreshed, as every reporter does): call under the stats lock
 * while a run goes, and write `out`'s bytes to a socket after releasing
 * it (an open_memstream is the intended `out`). Returns 0, or RL_ERR_IO
 * when writing to `out` failed.
 */
int rl__report_prometheus_write(FILE *out, rl__stats *s,
                                const rl__report_prometheus_info *info);

/* A label value, without its quotes, escaped as above (exposed for the
 * tests). NULL writes as empty. */
void rl__report_prometheus_label_value(FILE *out, const char *s);

#endif /* RL_PROMETHEUS_H */
