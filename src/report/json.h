/*
 * Stats as JSON (jansson), with Locust's key names wherever Locust has the
 * figure:
 *
 *  - rl__report_json: the final report of `--json` / `--json-file F`:
 *    run info, every entry with its percentiles and its histogram, the
 *    Aggregated total, the errors, and optionally the per-second history;
 *  - rl__report_json_stats_requests: the body of Locust's web UI endpoint
 *    /stats/requests (Locust 2.x keys), for a web UI to serve as is.
 *
 * Units: response times are milliseconds as JSON numbers with decimals
 * (rpcload's histogram keeps 3 significant digits; Locust rounds some of
 * these to whole ms); the histogram buckets are nanoseconds, exact. Rates
 * are per second. Names and error texts are strings as reported, any byte
 * that is not valid UTF-8 replaced by U+FFFD (JSON needs Unicode).
 *
 * Every function returns a new reference the caller owns (json_decref), or
 * NULL when out of memory. Call them under the stats lock while a run goes
 * (`s` is not const only because listing entries refreshes its sorted view).
 */
#ifndef RL_REPORT_JSON_H
#define RL_REPORT_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "engine/lag.h"
#include "stats/history.h"
#include "stats/stats.h"

/* How the report is printed: 2-space indent; 15 significant digits, so a
 * time like 0.523417 ms prints as that, not as 0.52341700000000004. */
#define RL__REPORT_JSON_DUMP_FLAGS (JSON_INDENT(2) | JSON_REAL_PRECISION(15))

typedef struct rl__report_json_info {
  double start_time;     /* Unix time of the run's start, s (0: unknown) */
  double duration_s;     /* the run's length; rates are over it */
  uint32_t users;        /* users asked for (-u) */
  uint32_t user_count;   /* users started when the run ended */
  uint64_t cut_requests; /* cut at the stop and left out of the stats */
  /* The run's protocols with named statuses (report/status.h), for
   * "status_codes"; NULL or 0: no such key. Borrowed for the call. */
  const struct rl__status_names *status;
  size_t n_status;
  /* The open model (NULL: the closed one): the view of latency the
   * tables show ("corrected": from each arrival's intended start, or
   * "uncorrected": from the send) and the other, kept beside it in each
   * entry as "response_times_<other>"; how arrivals were spaced
   * ("even", "poisson") and the pool (--max-inflight). Its iterations
   * (scheduled, dropped) come from the stats. */
  const char *latency, *latency_other, *arrivals;
  uint32_t max_inflight;
  /* A load shape ran (--stages, --rate, --rate-stages): "users" or
   * "rate", what its target counts; NULL: none. History rows then carry
   * "target". */
  const char *shape;
  /* The run has ended and what follows is known (the CLI's final
   * reports): "spawn_complete", "spawn" and "client_lag" are written.
   * 0 (the web UI's report, while a swarm may go on): they are left out. */
  int ended;
  /* The ramp ended by the end of the run (engine/runner.h's ramp_*):
   * spawn_short 1 when it reached spawn_reached of spawn_wanted users at
   * spawn_rate a second in spawn_ns. 0: every user was spawned. */
  int spawn_short;
  uint32_t spawn_reached, spawn_wanted;
  double spawn_rate;
  uint64_t spawn_ns;
  /* The worker loops' stalls (engine/lag.h), zeros when none. */
  rl__lag lag;
} rl__report_json_info;

/*
 * One entry (or the Aggregated total):
 *   method, name, num_requests, num_failures, fail_ratio,
 *   total_response_time, avg_response_time, min_response_time,
 *   max_response_time, median_response_time (ms; 0 without requests),
 *   response_time_percentiles {"0.5": ms, "0.66", "0.75", "0.8", "0.9",
 *     "0.95", "0.98", "0.99", "0.999", "0.9999", "1.0"} (null values
 *     without requests),
 *   total_content_length, avg_content_length (bytes),
 *   total_rps, total_fail_per_sec (over duration_s),
 *   histogram_ns [[upper_ns, count], ...]: the non-empty buckets in
 *     increasing order, each as its highest value (inclusive); a bucket
 *     is at most 1/1024 of its value wide (histogram.h), so upper_ns is the
 *     values to 3 significant digits.
 * The Aggregated total's method is null, as in Locust. In the open model
 * (rl__report_json_info.latency) each also has "response_times_<other>":
 * {avg_response_time, median_response_time, max_response_time,
 * response_time_percentiles} of the other view of latency.
 */
json_t *rl__report_json_entry(const rl__stats_entry *e, double duration_s);

/*
 * The final report:
 *   {"rpcload_version", "run": {start_time, start_time_iso, end_time,
 *    duration, users, user_count, cut_requests, and with run->ended:
 *    spawn_complete,
 *    spawn (only when spawn_complete is false: {reached, wanted, rate,
 *    seconds, seconds_needed}: the run of `seconds` ended with `reached`
 *    of `wanted` users spawned at `rate` a second, all of whom take
 *    seconds_needed), client_lag {stalls, threshold_ms, lost_ms,
 *    longest_ms} (stalls of threshold_ms or more, their time added up,
 *    the longest: engine/lag.h; zeros when none)},
 *    "stats": [entries, sorted as the console table], "total": {...},
 *    "errors": [{method, name, error, occurrences, first_seen, last_seen}],
 *    "status_codes": [{type, status, count}] (with run->n_status only),
 *    "history": [...]}
 * errors: most frequent first; first_seen/last_seen are Unix seconds
 * (start_time + the run second; run seconds when start_time is 0).
 * history (only when `h` is not NULL): one object per second: time (Unix
 * s), elapsed, user_count, current_rps, current_fail_per_sec,
 * num_requests, num_failures (totals so far), avg_response_time,
 * response_time_percentiles (over the last RL__HISTORY_WINDOW s; null
 * values when that window saw no request).
 */
json_t *rl__report_json(rl__stats *s, const rl__history *h,
                        const rl__report_json_info *run);

/* rl__report_json printed to `out` with RL__REPORT_JSON_DUMP_FLAGS and a final
 * newline. 0, RL_ERR_NOMEM or RL_ERR_IO. */
int rl__report_json_write(FILE *out, rl__stats *s, const rl__history *h,
                          const rl__report_json_info *run);

/* The same into file `path`, replaced whole (written to PATH.tmp, renamed
 * over PATH when complete: report/file.h), so a kill or a full disk leaves
 * the old file or the new one. 0, or RL_ERR_NOMEM / RL_ERR_IO with the
 * reason naming the file in `err`. */
int rl__report_json_file(const char *path, rl__stats *s, const rl__history *h,
                         const rl__report_json_info *run, char *err,
                         size_t errlen);

/*
 * Locust's /stats/requests body, current rates over the window `w`
 * (rl__history_window at the time of the request):
 *   {"stats": [one object per entry, then the Aggregated one: method, name,
 *     safe_name (HTML-escaped name), num_requests, num_failures,
 *     avg_response_time, min_response_time, max_response_time,
 *     current_rps, current_fail_per_sec, median_response_time,
 *     ninetieth_response_time, ninety_ninth_response_time,
 *     avg_content_length, and response_time_percentile_0.5 ... _1.0],
 *    "errors": [{method, name, error, occurrences}] (name and error
 *     HTML-escaped, as Locust sends them),
 *    "total_rps", "total_fail_per_sec", "total_avg_response_time",
 *    "fail_ratio", "current_response_time_percentile_95",
 *    "current_response_time_percentile_50",
 *    "current_response_time_percentiles": {"response_time_percentile_0.5",
 *     "response_time_percentile_0.95"},
 *    "state", "user_count"}
 * total_rps and total_fail_per_sec are the Aggregated current rates (as
 * Locust's), the current_* percentiles come from the latest history row
 * (null without one). Locust truncates to 500 rows; so does this.
 */
json_t *rl__report_json_stats_requests(rl__stats *s, const rl__history *h,
                                       rl__stats_window w, const char *state,
                                       uint32_t user_count);

#endif /* RL_REPORT_JSON_H */
