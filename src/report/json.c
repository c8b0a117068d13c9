/*
 * Stats as JSON (see report_json.h for the shapes).
 *
 * Building stops caring about allocation failures midway: jansson's setters
 * refuse a NULL value (and release a value they could not store), so each
 * builder only remembers that something failed (`ok`) and the top level
 * returns NULL then.
 */
#include "report/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rpcload/plugin.h>

#include "report/file.h"
#include "report/status.h"

static const double percents[] = {50, 66, 75,   80,    90, 95,
                                  98, 99, 99.9, 99.99, 100};
/* Python's str() of the fractions, as Locust's keys spell them. */
static const char *const fraction_names[] = {"0.5",   "0.66",   "0.75", "0.8",
                                             "0.9",   "0.95",   "0.98", "0.99",
                                             "0.999", "0.9999", "1.0"};
#define NPCT (sizeof percents / sizeof percents[0])
#define STATS_REQUESTS_MAX_ROWS 500 /* Locust's web.py truncation */

/* ---- values -------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if it is not one.
 * Stops at the terminator, which is never a continuation byte. */
static size_t utf8_seq(const unsigned char *p) {
  unsigned c = p[0];
#define CONT(x) (((x)&0xC0u) == 0x80u)
  if (c < 0x80)
    return 1;
  if (c < 0xC2)
    return 0; /* continuation byte or overlong 2-byte lead */
  if (c < 0xE0)
    return CONT(p[1]) ? 2 : 0;
  if (c < 0xF0) {
    if (!CONT(p[1]) || !CONT(p[2]))
      return 0;
    if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
      return 0; /* overlong, or a UTF-16 surrogate */
    return 3;
  }
  if (c < 0xF5) {
    if (!CONT(p[1]) || !CONT(p[2]) || !CONT(p[3]))
      return 0;
    if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
      return 0; /* overlong, or above U+10FFFF */
    return 4;
  }
  return 0;
#undef CONT
}

/* A JSON string of `s`, every byte that is not valid UTF-8 replaced by
 * U+FFFD. */
static json_t *str(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t bad = 0, len = 0;
  for (size_t n; p[len]; len += n ? n : 1) {
    n = utf8_seq(p + len);
    bad += n == 0;
  }
  if (bad == 0)
    return json_stringn(s, len);
  char *clean = malloc(len + 2 * bad + 1); /* 1 byte becomes 3 */
  if (!clean)
    return NULL;
  size_t k = 0;
  for (size_t i = 0, n; p[i]; i += n ? n : 1) {
    n = utf8_seq(p + i);
    if (n) {
      memcpy(clean + k, p + i, n);
      k += n;
    } else { /* U+FFFD */
      clean[k++] = '\xEF';
      clean[k++] = '\xBF';
      clean[k++] = '\xBD';
    }
  }
  json_t *j = json_stringn(clean, k);
  free(clean);
  return j;
}

/* html.escape(s, quote): & < > and, with quote, " and '. */
static json_t *html_str(const char *s, int quote) {
  size_t len = 0;
  for (const char *p = s; *p; p++) {
    switch (*p) {
    case '&':
      len += 5;
      break;
    case '<':
    case '>':
      len += 4;
      break;
    case '"':
    case '\'':
      len += quote ? 6 : 1;
      break;
    default:
      len += 1;
      break;
    }
  }
  char *out = malloc(len + 1);
  if (!out)
    return NULL;
  char *o = out;
  for (const char *p = s; *p; p++) {
    const char *rep = NULL;
    switch (*p) {
    case '&':
      rep = "&amp;";
      break;
    case '<':
      rep = "&lt;";
      break;
    case '>':
      rep = "&gt;";
      break;
    case '"':
      rep = quote ? "&quot;" : NULL;
      break;
    case '\'':
      rep = quote ? "&#x27;" : NULL;
      break;
    default:
      break;
    }
    if (rep) {
      size_t n = strlen(rep);
      memcpy(o, rep, n);
      o += n;
    } else {
      *o++ = *p;
    }
  }
  *o = '\0';
  json_t *j = str(out);
  free(out);
  return j;
}

/* jansson refuses NaN and infinities. */
static json_t *num(double v) { return json_real(isfinite(v) ? v : 0.0); }

static json_t *u64(uint64_t v) {
  return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static json_t *ms(uint64_t ns) { return num((double)ns / 1e6); }

/* The mean response time in ms: the sum over the count, in floating point
 * (rl__stats_entry_avg_ns truncates to whole ns), as the CSV files have
 * it. */
static json_t *avg_ms(const rl__stats_entry *e) {
  return num(e->num_requests
                 ? (double)e->total_ns / 1e6 / (double)e->num_requests
                 : 0.0);
}

static void put(json_t *obj, const char *key, json_t *value, int *ok) {
  if (json_object_set_new(obj, key, value) != 0)
    *ok = 0;
}

static void push(json_t *arr, json_t *value, int *ok) {
  if (json_array_append_new(arr, value) != 0)
    *ok = 0;
}

/* Returns `j`, or NULL (freeing it) when a part could not be built. */
static json_t *done(json_t *j, int ok) {
  if (ok)
    return j;
  json_decref(j);
  return NULL;
}

static double ratio(uint64_t a, uint64_t b) {
  return b ? (double)a / (double)b : 0.0;
}

static double per_sec(uint64_t n, double seconds) {
  return seconds > 0 ? (double)n / seconds : 0.0;
}

/* The method: null for the Aggregated total (Locust's None). */
static json_t *method(const rl__stats_entry *e, const rl__stats_entry *total) {
  return e == total ? json_null() : str(e->type);
}

/* ---- the final report ---------------------------------------------------- */

static int push_bucket(uint64_t lo, uint64_t hi, uint64_t count, void *arg) {
  (void)lo;
  json_t *pair = json_array();
  int ok = pair != NULL;
  push(pair, u64(hi), &ok);
  push(pair, u64(count), &ok);
  push(arg, pair, &ok);
  return ok ? 0 : RL_ERR_NOMEM;
}

/* The open model's other view of an entry's latency (stats.h hist_alt). */
static json_t *other_view(const rl__stats_entry *e) {
  json_t *j = json_object();
  int ok = j != NULL;
  uint64_t n = e->hist_alt.count;
  put(j, "avg_response_time",
      num(n ? (double)e->total_alt_ns / 1e6 / (double)n : 0.0), &ok);
  put(j, "median_response_time", ms(rl__histogram_percentile(&e->hist_alt, 50)),
      &ok);
  put(j, "max_response_time", ms(e->hist_alt.max), &ok);
  json_t *pct = json_object();
  for (size_t i = 0; i < NPCT; i++)
    put(pct, fraction_names[i],
        n ? ms(rl__histogram_percentile(&e->hist_alt, percents[i]))
          : json_null(),
        &ok);
  put(j, "response_time_percentiles", pct, &ok);
  return done(j, ok);
}

static json_t *entry(const rl__stats_entry *e, const rl__stats_entry *total,
                     double duration_s, const char *other) {
  json_t *j = json_object();
  int ok = j != NULL;
  uint64_t n = e->num_requests;
  put(j, "method", method(e, total), &ok);
  put(j, "name", str(e->name), &ok);
  put(j, "num_requests", u64(n), &ok);
  put(j, "num_failures", u64(e->num_failures), &ok);
  put(j, "fail_ratio", num(ratio(e->num_failures, n)), &ok);
  put(j, "total_response_time", ms(e->total_ns), &ok);
  put(j, "avg_response_time", avg_ms(e), &ok);
  put(j, "min_response_time", ms(rl__stats_entry_min_ns(e)), &ok);
  put(j, "max_response_time", ms(rl__stats_entry_max_ns(e)), &ok);
  put(j, "median_response_time", ms(rl__histogram_percentile(&e->hist, 50)),
      &ok);
  json_t *pct = json_object();
  for (size_t i = 0; i < NPCT; i++)
    put(pct, fraction_names[i],
        n ? ms(rl__histogram_percentile(&e->hist, percents[i])) : json_null(),
        &ok);
  put(j, "response_time_percentiles", pct, &ok);
  put(j, "total_content_length", u64(e->bytes), &ok);
  put(j, "avg_content_length", num(ratio(e->bytes, n)), &ok);
  put(j, "total_rps", num(per_sec(n, duration_s)), &ok);
  put(j, "total_fail_per_sec", num(per_sec(e->num_failures, duration_s)), &ok);
  json_t *buckets = json_array();
  if (!buckets || rl__histogram_foreach(&e->hist, push_bucket, buckets) != 0)
    ok = 0;
  put(j, "histogram_ns", buckets, &ok);
  if (other) {
    char key[64];
    snprintf(key, sizeof key, "response_times_%s", other);
    put(j, key, other_view(e), &ok);
  }
  return done(j, ok);
}

json_t *rl__report_json_entry(const rl__stats_entry *e, double duration_s) {
  return entry(e, NULL, duration_s, NULL);
}

static json_t *iso_time(double unix_s) {
  time_t t = (time_t)unix_s;
  struct tm tm;
  char text[32];
  if (unix_s <= 0 || !gmtime_r(&t, &tm) ||
      strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    return json_null();
  return json_string(text);
}

static json_t *open_model(rl__stats *s, const rl__report_json_info *run) {
  json_t *j = json_object();
  int ok = j != NULL;
  uint64_t scheduled, dropped;
  rl__stats_iterations(s, &scheduled, &dropped);
  put(j, "latency", str(run->latency), &ok);
  put(j, "arrivals", str(run->arrivals), &ok);
  put(j, "max_inflight", u64(run->max_inflight), &ok);
  put(j, "iterations_scheduled", u64(scheduled), &ok);
  put(j, "iterations_started", u64(scheduled - dropped), &ok);
  put(j, "iterations_dropped", u64(dropped), &ok);
  return done(j, ok);
}

/* What the console's summary says of the ramp (cli/summary.c), as data. */
static json_t *spawn_info(const rl__report_json_info *run) {
  json_t *j = json_object();
  int ok = j != NULL;
  put(j, "reached", u64(run->spawn_reached), &ok);
  put(j, "wanted", u64(run->spawn_wanted), &ok);
  put(j, "rate", num(run->spawn_rate), &ok);
  put(j, "seconds", num((double)run->spawn_ns / 1e9), &ok);
  /* Locust's schedule: the first user at once, then one every 1/rate s. */
  put(j, "seconds_needed",
      num(run->spawn_rate > 0 && run->spawn_wanted > 0
              ? (double)(run->spawn_wanted - 1) / run->spawn_rate
              : 0),
      &ok);
  return done(j, ok);
}

static json_t *lag_info(const rl__lag *lag) {
  json_t *j = json_object();
  int ok = j != NULL;
  put(j, "stalls", u64(lag->stalls), &ok);
  put(j, "threshold_ms", num((double)RL__LAG_MIN_NS / 1e6), &ok);
  put(j, "lost_ms", num((double)lag->total_ns / 1e6), &ok);
  put(j, "longest_ms", num((double)lag->max_ns / 1e6), &ok);
  return done(j, ok);
}

static json_t *run_info(rl__stats *s, const rl__report_json_info *run) {
  json_t *j = json_object();
  int ok = j != NULL;
  put(j, "start_time", num(run->start_time), &ok);
  put(j, "start_time_iso", iso_time(run->start_time), &ok);
  put(j, "end_time",
      num(run->start_time > 0 ? run->start_time + run->duration_s : 0), &ok);
  put(j, "duration", num(run->duration_s), &ok);
  put(j, "users", u64(run->users), &ok);
  put(j, "user_count", u64(run->user_count), &ok);
  put(j, "cut_requests", u64(run->cut_requests), &ok);
  if (run->ended) {
    put(j, "spawn_complete", json_boolean(!run->spawn_short), &ok);
    if (run->spawn_short)
      put(j, "spawn", spawn_info(run), &ok);
    put(j, "client_lag", lag_info(&run->lag), &ok);
  }
  if (run->latency)
    put(j, "open_model", open_model(s, run), &ok);
  if (run->shape)
    put(j, "shape", str(run->shape), &ok);
  return done(j, ok);
}

static json_t *errors_report(rl__stats *s, uint64_t start) {
  json_t *arr = json_array();
  int ok = arr != NULL;
  const rl__stats_error **errors;
  size_t n = rl__stats_errors(s, &errors);
  for (size_t i = 0; i < n && ok; i++) {
    const rl__stats_error *e = errors[i];
    json_t *j = json_object();
    ok = j != NULL;
    put(j, "method", str(e->type), &ok);
    put(j, "name", str(e->name), &ok);
    put(j, "error", str(e->error), &ok);
    put(j, "occurrences", u64(e->occurrences), &ok);
    put(j, "first_seen", u64(start + e->first_sec), &ok);
    put(j, "last_seen", u64(start + e->last_sec), &ok);
    push(arr, j, &ok);
  }
  return done(arr, ok);
}

/* Locust's exceptions table (the CSV's _exceptions.csv, /exceptions): what a
 * user class's code raised, by message, where it was raised, how often. */
static json_t *exceptions_report(const rl__stats *s) {
  json_t *arr = json_array();
  int ok = arr != NULL;
  const rl__stats_exception *x;
  size_t n = rl__stats_exceptions(s, &x);
  for (size_t i = 0; i < n && ok; i++) {
    json_t *j = json_object();
    ok = j != NULL;
    put(j, "count", u64(x[i].count), &ok);
    put(j, "msg", str(x[i].msg), &ok);
    put(j, "traceback", str(x[i].traceback), &ok);
    put(j, "nodes", str("local"), &ok);
    push(arr, j, &ok);
  }
  return done(arr, ok);
}

static json_t *history_report(const rl__history *h,
                              const rl__report_json_info *run) {
  json_t *arr = json_array();
  int ok = arr != NULL;
  for (size_t i = 0; i < h->n && ok; i++) {
    const rl__history_row *r = &h->rows[i];
    const uint64_t v[NPCT] = {r->p50_ns,  r->p66_ns,   r->p75_ns, r->p80_ns,
                              r->p90_ns,  r->p95_ns,   r->p98_ns, r->p99_ns,
                              r->p999_ns, r->p9999_ns, r->p100_ns};
    /* A window without requests has every percentile 0; p100 (its max)
     * is 0 only then, or for 0 ns responses. */
    int empty = r->p100_ns == 0;
    json_t *j = json_object();
    ok = j != NULL;
    put(j, "time", u64(r->unix_time), &ok);
    put(j, "elapsed", u64(r->elapsed_s), &ok);
    put(j, "user_count", u64(r->users), &ok);
    put(j, "current_rps", num(r->current_rps), &ok);
    put(j, "current_fail_per_sec", num(r->current_fps), &ok);
    put(j, "num_requests", u64(r->requests), &ok);
    put(j, "num_failures", u64(r->failures), &ok);
    put(j, "avg_response_time",
        num(r->requests ? (double)r->total_ns / 1e6 / (double)r->requests
                        : 0.0),
        &ok);
    json_t *pct = json_object();
    for (size_t p = 0; p < NPCT; p++)
      put(pct, fraction_names[p], empty ? json_null() : ms(v[p]), &ok);
    put(j, "response_time_percentiles", pct, &ok);
    if (run->shape && r->target >= 0)
      put(j, "target", num(r->target), &ok);
    if (run->latency) {
      put(j, "iterations_scheduled", u64(r->scheduled), &ok);
      put(j, "iterations_dropped", u64(r->dropped), &ok);
    }
    push(arr, j, &ok);
  }
  return done(arr, ok);
}

json_t *rl__report_json(rl__stats *s, const rl__history *h,
                        const rl__report_json_info *run) {
  json_t *j = json_object();
  int ok = j != NULL;
  put(j, "rpcload_version", json_string(RL_VERSION), &ok);
  put(j, "run", run_info(s, run), &ok);
  const rl__stats_entry *total = rl__stats_total(s);
  const rl__stats_entry **entries;
  size_t n = rl__stats_entries(s, &entries);
  json_t *stats = json_array();
  ok = ok && stats != NULL;
  for (size_t i = 0; i < n && ok; i++)
    push(stats, entry(entries[i], total, run->duration_s, run->latency_other),
         &ok);
  put(j, "stats", stats, &ok);
  put(j, "total", entry(total, total, run->duration_s, run->latency_other),
      &ok);
  uint64_t start = run->start_time > 0 ? (uint64_t)run->start_time : 0;
  put(j, "errors", errors_report(s, start), &ok);
  put(j, "exceptions", exceptions_report(s), &ok);
  if (run->n_status)
    put(j, "status_codes",
        rl__report_json_status(s, run->status, run->n_status), &ok);
  if (h)
    put(j, "history", history_report(h, run), &ok);
  return done(j, ok);
}

int rl__report_json_write(FILE *out, rl__stats *s, const rl__history *h,
                          const rl__report_json_info *run) {
  json_t *j = rl__report_json(s, h, run);
  if (!j)
    return RL_ERR_NOMEM;
  int rc = json_dumpf(j, out, RL__REPORT_JSON_DUMP_FLAGS);
  json_decref(j);
  if (rc != 0 || fputc('\n', out) == EOF || fflush(out) != 0)
    return RL_ERR_IO;
  return 0;
}

int rl__report_json_file(const char *path, rl__stats *s, const rl__history *h,
                         const rl__report_json_info *run, char *err,
                         size_t errlen) {
  rl__report_file rf;
  int rc = rl__report_file_begin(&rf, path, err, errlen);
  if (rc)
    return rc;
  errno = 0;
  rc = rl__report_json_write(rf.f, s, h, run);
  if (rc == 0)
    return rl__report_file_commit(&rf, 1, err, errlen);
  int errnum = errno;
  rl__report_file_abort(&rf);
  if (err && errlen) {
    char text[256] = "I/O error";
    if (errnum && rc == RL_ERR_IO)
      strerror_r(errnum, text, sizeof text);
    snprintf(err, errlen, "%s %s: %s",
             rc == RL_ERR_NOMEM ? "out of memory writing" : "cannot write",
             path, rc == RL_ERR_NOMEM ? "no memory for the JSON" : text);
  }
  return rc;
}

/* ---- Locust's /stats/requests -------------------------------------------- */

static json_t *request_row(const rl__stats_entry *e,
                           const rl__stats_entry *total, rl__stats_window w) {
  json_t *j = json_object();
  int ok = j != NULL;
  /* Locust's /stats/requests: the total's method is "" (Locust clears
   * its stats at every start, making it ""), not the final report's null. */
  put(j, "method", str(e == total ? "" : e->type), &ok);
  put(j, "name", str(e->name), &ok);
  put(j, "safe_name", html_str(e->name, 0), &ok);
  put(j, "num_requests", u64(e->num_requests), &ok);
  put(j, "num_failures", u64(e->num_failures), &ok);
  put(j, "avg_response_time", avg_ms(e), &ok);
  put(j, "min_response_time", ms(rl__stats_entry_min_ns(e)), &ok);
  put(j, "max_response_time", ms(rl__stats_entry_max_ns(e)), &ok);
  put(j, "current_rps", num(rl__stats_entry_current_rps(e, w)), &ok);
  put(j, "current_fail_per_sec", num(rl__stats_entry_current_fps(e, w)), &ok);
  put(j, "median_response_time", ms(rl__histogram_percentile(&e->hist, 50)),
      &ok);
  put(j, "ninetieth_response_time", ms(rl__histogram_percentile(&e->hist, 90)),
      &ok);
  put(j, "ninety_ninth_response_time",
      ms(rl__histogram_percentile(&e->hist, 99)), &ok);
  put(j, "avg_content_length", num(ratio(e->bytes, e->num_requests)), &ok);
  for (size_t i = 0; i < NPCT; i++) {
    char key[48];
    snprintf(key, sizeof key, "response_time_percentile_%s", fraction_names[i]);
    put(j, key, ms(rl__histogram_percentile(&e->hist, percents[i])), &ok);
  }
  return done(j, ok);
}

json_t *rl__report_json_stats_requests(rl__stats *s, const rl__history *h,
                                       rl__stats_window w, const char *state,
                                       uint32_t user_count) {
  json_t *j = json_object();
  int ok = j != NULL;
  const rl__stats_entry *total = rl__stats_total(s);
  const rl__stats_entry **entries;
  size_t n = rl__stats_entries(s, &entries);
  json_t *stats = json_array();
  ok = ok && stats != NULL;
  for (size_t i = 0; i < n && i < STATS_REQUESTS_MAX_ROWS && ok; i++)
    push(stats, request_row(entries[i], total, w), &ok);
  push(stats, request_row(total, total, w), &ok);
  put(j, "stats", stats, &ok);

  json_t *errs = json_array();
  ok = ok && errs != NULL;
  const rl__stats_error **errors;
  size_t ne = rl__stats_errors(s, &errors);
  for (size_t i = 0; i < ne && i < STATS_REQUESTS_MAX_ROWS && ok; i++) {
    json_t *e = json_object();
    ok = e != NULL;
    put(e, "method", str(errors[i]->type), &ok);
    put(e, "name", html_str(errors[i]->name, 1), &ok);
    put(e, "error", html_str(errors[i]->error, 1), &ok);
    put(e, "occurrences", u64(errors[i]->occurrences), &ok);
    push(errs, e, &ok);
  }
  put(j, "errors", errs, &ok);

  put(j, "total_rps", num(rl__stats_entry_current_rps(total, w)), &ok);
  put(j, "total_fail_per_sec", num(rl__stats_entry_current_fps(total, w)), &ok);
  put(j, "total_avg_response_time", avg_ms(total), &ok);
  put(j, "fail_ratio", num(ratio(total->num_failures, total->num_requests)),
      &ok);
  const rl__history_row *last = h && h->n ? &h->rows[h->n - 1] : NULL;
  put(j, "current_response_time_percentile_95",
      last ? ms(last->p95_ns) : json_null(), &ok);
  put(j, "current_response_time_percentile_50",
      last ? ms(last->p50_ns) : json_null(), &ok);
  json_t *cur = json_object();
  put(cur, "response_time_percentile_0.5",
      last ? ms(last->p50_ns) : json_null(), &ok);
  put(cur, "response_time_percentile_0.95",
      last ? ms(last->p95_ns) : json_null(), &ok);
  put(j, "current_response_time_percentiles", cur, &ok);
  put(j, "state", str(state ? state : ""), &ok);
  put(j, "user_count", u64(user_count), &ok);
  return done(j, ok);
}
