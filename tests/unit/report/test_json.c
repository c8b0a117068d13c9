/*
 * Unit tests for the JSON report and Locust's /stats/requests body
 * (src/report_json.c).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "report/json.h"
#include "stats/history.h"
#include "stats/stats.h"

#define MS 1000000ull

static void record(rl__stats *run, uint64_t sec, const char *type,
                   const char *name, const uint64_t *ns, size_t n,
                   uint64_t bytes, const char *error) {
  rl__stats *local = rl__stats_new();
  assert_non_null(local);
  rl__stats_entry *e = rl__stats_entry_get(local, type, name);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(
        rl__stats_record(local, e, ns[i], bytes, i == 0 ? error : NULL, sec),
        0);
  assert_int_equal(rl__stats_merge(run, local), 0);
  rl__stats_del(local);
}

/* Two entries and one error; /b has 4 requests of 1, 2, 3, 100 ms. */
static rl__stats *known_stats(void) {
  rl__stats *s = rl__stats_new();
  assert_non_null(s);
  static const uint64_t a[] = {523417};
  static const uint64_t b[] = {1 * MS, 2 * MS, 3 * MS, 100 * MS};
  record(s, 2, "GET", "/b", b, 4, 10, "HTTP 500");
  record(s, 5, "GET", "/b", b, 1, 10, "HTTP 500");
  record(s, 1, "POST", "/a", a, 1, 3, NULL);
  return s;
}

static const rl__report_json_info run_info = {
    .start_time = 1700000000.0,
    .duration_s = 10.0,
    .users = 20,
    .user_count = 18,
    .cut_requests = 2,
};

static double real_at(const json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  assert_non_null(v);
  assert_true(json_is_number(v));
  return json_number_value(v);
}

static json_int_t int_at(const json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  assert_non_null(v);
  assert_true(json_is_integer(v));
  return json_integer_value(v);
}

static const char *str_at(const json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  assert_non_null(v);
  assert_true(json_is_string(v));
  return json_string_value(v);
}

static void assert_near(double got, double want) {
  assert_true(fabs(got - want) <= fabs(want) * 1e-3 + 1e-9);
}

/* ---- the final report ---------------------------------------------------- */

static void test_report(void **state) {
  (void)state;
  rl__stats *s = known_stats();
  json_t *j = rl__report_json(s, NULL, &run_info);
  assert_non_null(j);
  assert_string_equal(str_at(j, "rpcload_version"), RL_VERSION);
  assert_null(json_object_get(j, "history"));

  const json_t *run = json_object_get(j, "run");
  assert_near(real_at(run, "start_time"), 1700000000.0);
  assert_string_equal(str_at(run, "start_time_iso"), "2023-11-14T22:13:20Z");
  assert_near(real_at(run, "end_time"), 1700000010.0);
  assert_near(real_at(run, "duration"), 10.0);
  assert_int_equal(int_at(run, "users"), 20);
  assert_int_equal(int_at(run, "user_count"), 18);
  assert_int_equal(int_at(run, "cut_requests"), 2);

  const json_t *stats = json_object_get(j, "stats");
  assert_int_equal(json_array_size(stats), 2);
  const json_t *a = json_array_get(stats, 0); /* sorted by name */
  const json_t *b = json_array_get(stats, 1);
  assert_string_equal(str_at(a, "method"), "POST");
  assert_string_equal(str_at(a, "name"), "/a");
  assert_string_equal(str_at(b, "name"), "/b");

  assert_int_equal(int_at(b, "num_requests"), 5);
  assert_int_equal(int_at(b, "num_failures"), 2);
  assert_near(real_at(b, "fail_ratio"), 0.4);
  assert_near(real_at(b, "total_response_time"), 107.0);
  assert_near(real_at(b, "avg_response_time"), 21.4);
  assert_near(real_at(b, "min_response_time"), 1.0);
  assert_near(real_at(b, "max_response_time"), 100.0);
  assert_near(real_at(b, "median_response_time"), 2.0);
  assert_int_equal(int_at(b, "total_content_length"), 50);
  assert_near(real_at(b, "avg_content_length"), 10.0);
  assert_near(real_at(b, "total_rps"), 0.5);
  assert_near(real_at(b, "total_fail_per_sec"), 0.2);
  const json_t *pct = json_object_get(b, "response_time_percentiles");
  assert_int_equal(json_object_size(pct), 11);
  assert_near(real_at(pct, "0.5"), 2.0);
  assert_near(real_at(pct, "0.66"), 3.0);
  assert_near(real_at(pct, "0.8"), 3.0);
  assert_near(real_at(pct, "0.9999"), 100.0);
  assert_near(real_at(pct, "1.0"), 100.0);

  /* The histogram: non-empty buckets, rising, counts adding up, each upper
   * bound within a bucket's width above its values. */
  const json_t *hist = json_object_get(b, "histogram_ns");
  assert_int_equal(json_array_size(hist), 4);
  static const uint64_t values[] = {1 * MS, 2 * MS, 3 * MS, 100 * MS};
  static const json_int_t counts[] = {2, 1, 1, 1};
  for (size_t i = 0; i < 4; i++) {
    const json_t *bucket = json_array_get(hist, i);
    assert_int_equal(json_array_size(bucket), 2);
    json_int_t hi = json_integer_value(json_array_get(bucket, 0));
    assert_true((uint64_t)hi >= values[i]);
    assert_true((uint64_t)hi - values[i] <= values[i] / 1024);
    assert_int_equal(json_integer_value(json_array_get(bucket, 1)), counts[i]);
  }

  const json_t *total = json_object_get(j, "total");
  assert_true(json_is_null(json_object_get(total, "method")));
  assert_string_equal(str_at(total, "name"), "Aggregated");
  assert_int_equal(int_at(total, "num_requests"), 6);
  assert_int_equal(json_array_size(json_object_get(total, "histogram_ns")), 5);

  const json_t *errors = json_object_get(j, "errors");
  assert_int_equal(json_array_size(errors), 1);
  const json_t *e = json_array_get(errors, 0);
  assert_string_equal(str_at(e, "method"), "GET");
  assert_string_equal(str_at(e, "name"), "/b");
  assert_string_equal(str_at(e, "error"), "HTTP 500");
  assert_int_equal(int_at(e, "occurrences"), 2);
  assert_int_equal(int_at(e, "first_seen"), 1700000002);
  assert_int_equal(int_at(e, "last_seen"), 1700000005);
  /* No user code raised anything: an empty exceptions table. */
  assert_int_equal(json_array_size(json_object_get(j, "exceptions")), 0);
  json_decref(j);
  rl__stats_del(s);
}

/* Locust's exceptions table, as the CSV's and /exceptions: count, message,
 * where (traceback), nodes; in the order first seen. */
static void test_exceptions(void **state) {
  (void)state;
  rl__stats *s = known_stats();
  assert_int_equal(rl__stats_record_exception(s, "t.lua:6: oops", "U.boom", 3),
                   0);
  assert_int_equal(
      rl__stats_record_exception(s, "t.lua:9: no", "U.on_start", 1), 0);
  assert_int_equal(rl__stats_record_exception(s, "t.lua:6: oops", "U.boom", 2),
                   0);
  json_t *j = rl__report_json(s, NULL, &run_info);
  assert_non_null(j);
  const json_t *ex = json_object_get(j, "exceptions");
  assert_int_equal(json_array_size(ex), 2);
  const json_t *a = json_array_get(ex, 0), *b = json_array_get(ex, 1);
  assert_int_equal(int_at(a, "count"), 5);
  assert_string_equal(str_at(a, "msg"), "t.lua:6: oops");
  assert_string_equal(str_at(a, "traceback"), "U.boom");
  assert_string_equal(str_at(a, "nodes"), "local");
  assert_int_equal(int_at(b, "count"), 1);
  assert_string_equal(str_at(b, "traceback"), "U.on_start");
  json_decref(j);
  rl__stats_del(s);
}

/* An entry without requests: zeros, and null percentiles (Locust's N/A). */
static void test_empty_entry(void **state) {
  (void)state;
  rl__stats *s = rl__stats_new();
  assert_non_null(rl__stats_entry_get(s, "GET", "/none"));
  json_t *j = rl__report_json(s, NULL, &run_info);
  assert_non_null(j);
  const json_t *e = json_array_get(json_object_get(j, "stats"), 0);
  assert_int_equal(int_at(e, "num_requests"), 0);
  assert_near(real_at(e, "avg_response_time"), 0);
  assert_near(real_at(e, "min_response_time"), 0);
  assert_near(real_at(e, "fail_ratio"), 0);
  const json_t *pct = json_object_get(e, "response_time_percentiles");
  assert_true(json_is_null(json_object_get(pct, "0.5")));
  assert_int_equal(json_array_size(json_object_get(e, "histogram_ns")), 0);
  json_decref(j);
  rl__stats_del(s);
}

/* The run's end: the ramp's shortfall and the client lag, as the console
 * summary says them; left out of a report made while a run goes. */
static void test_run_spawn_and_lag(void **state) {
  (void)state;
  rl__stats *s = rl__stats_new();
  rl__report_json_info run = run_info;
  json_t *j = rl__report_json(s, NULL, &run);
  const json_t *r = json_object_get(j, "run");
  assert_null(json_object_get(r, "spawn_complete"));
  assert_null(json_object_get(r, "client_lag"));
  json_decref(j);

  run.ended = 1;
  run.spawn_short = 1;
  run.spawn_reached = 2;
  run.spawn_wanted = 50;
  run.spawn_rate = 1;
  run.spawn_ns = 3000000000ull;
  run.lag = (rl__lag){.stalls = 3, .total_ns = 1500000000, .max_ns = 900000000};
  j = rl__report_json(s, NULL, &run);
  r = json_object_get(j, "run");
  assert_true(json_is_false(json_object_get(r, "spawn_complete")));
  const json_t *sp = json_object_get(r, "spawn");
  assert_int_equal(int_at(sp, "reached"), 2);
  assert_int_equal(int_at(sp, "wanted"), 50);
  assert_near(real_at(sp, "rate"), 1);
  assert_near(real_at(sp, "seconds"), 3);
  assert_near(real_at(sp, "seconds_needed"), 49);
  const json_t *lag = json_object_get(r, "client_lag");
  assert_int_equal(int_at(lag, "stalls"), 3);
  assert_near(real_at(lag, "threshold_ms"), 10);
  assert_near(real_at(lag, "lost_ms"), 1500);
  assert_near(real_at(lag, "longest_ms"), 900);
  json_decref(j);

  run.spawn_short = 0;
  j = rl__report_json(s, NULL, &run);
  r = json_object_get(j, "run");
  assert_true(json_is_true(json_object_get(r, "spawn_complete")));
  assert_null(json_object_get(r, "spawn"));
  json_decref(j);
  rl__stats_del(s);
}

/* How numbers print: ms with no binary noise. */
static void test_dump_text(void **state) {
  (void)state;
  rl__stats *s = known_stats();
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  assert_non_null(mem);
  assert_int_equal(rl__report_json_write(mem, s, NULL, &run_info), 0);
  fclose(mem);
  assert_non_null(strstr(text, "\"min_response_time\": 0.523417,"));
  assert_non_null(strstr(text, "\"total_rps\": 0.5,"));
  assert_non_null(strstr(text, "\n  \"stats\": [\n"));
  assert_true(len > 0 && text[len - 1] == '\n');
  json_error_t jerr;
  json_t *back = json_loads(text, 0, &jerr);
  assert_non_null(back);
  json_decref(back);
  free(text);
  rl__stats_del(s);
}

/* Names and errors go through as given; bytes that are not UTF-8 become
 * U+FFFD, so the output is always valid JSON. */
static void test_strings(void **state) {
  (void)state;
  rl__stats *s = rl__stats_new();
  static const uint64_t one[] = {MS};
  const char *name = "q\"b\\s/\n\t\x01 \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";
  record(s, 0, "GET", name, one, 1, 0, NULL);
  /* truncated sequence, lone continuation, overlong, surrogate, > U+10FFFF */
  record(s, 0, "GET",
         "a\xC3"
         "b\x80"
         "c\xC0\xAF"
         "d\xED\xA0\x80"
         "e\xF4\x90\x80\x80",
         one, 1, 0, "bad \xFF byte");
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  assert_int_equal(rl__report_json_write(mem, s, NULL, &run_info), 0);
  fclose(mem);
  json_error_t jerr;
  json_t *j = json_loads(text, 0, &jerr);
  assert_non_null(j);
  const json_t *stats = json_object_get(j, "stats");
  assert_string_equal(str_at(json_array_get(stats, 1), "name"), name);
  assert_string_equal(str_at(json_array_get(stats, 0), "name"),
                      "a\xEF\xBF\xBD"
                      "b\xEF\xBF\xBD"
                      "c\xEF\xBF\xBD\xEF\xBF\xBD"
                      "d\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                      "e\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  const json_t *e = json_array_get(json_object_get(j, "errors"), 0);
  assert_string_equal(str_at(e, "error"), "bad \xEF\xBF\xBD byte");
  json_decref(j);
  free(text);
  rl__stats_del(s);
}

static void test_history(void **state) {
  (void)state;
  rl__stats *s = rl__stats_new();
  rl__history h;
  rl__history_init(&h);
  rl__history_track_entries(&h);
  rl__stats *local = rl__stats_new();
  rl__stats_entry *e = rl__stats_entry_get(local, "GET", "/h");
  for (int i = 0; i < 10; i++)
    rl__stats_record(local, e, 5 * MS, 1, NULL, 0);
  assert_int_equal(rl__stats_merge(s, local), 0);
  assert_int_equal(rl__history_add_entry(&h, e), 0);
  rl__stats_del(local);
  assert_int_equal(rl__history_tick(&h, s, 1700000001, 1, 7), 0);
  for (uint64_t t = 2; t <= 11; t++)
    assert_int_equal(rl__history_tick(&h, s, 1700000000 + t, t, 7), 0);

  json_t *j = rl__report_json(s, &h, &run_info);
  assert_non_null(j);
  const json_t *hist = json_object_get(j, "history");
  assert_int_equal(json_array_size(hist), 11);
  const json_t *r0 = json_array_get(hist, 0);
  assert_int_equal(int_at(r0, "time"), 1700000001);
  assert_int_equal(int_at(r0, "elapsed"), 1);
  assert_int_equal(int_at(r0, "user_count"), 7);
  assert_near(real_at(r0, "current_rps"), 10.0);
  assert_int_equal(int_at(r0, "num_requests"), 10);
  assert_near(real_at(r0, "avg_response_time"), 5.0);
  assert_near(real_at(json_object_get(r0, "response_time_percentiles"), "0.95"),
              5.0);
  /* Ten seconds later the window is empty: null percentiles. */
  const json_t *r10 = json_array_get(hist, 10);
  assert_true(json_is_null(json_object_get(
      json_object_get(r10, "response_time_percentiles"), "0.5")));
  assert_int_equal(int_at(r10, "num_requests"), 10);
  json_decref(j);
  rl__history_free(&h);
  rl__stats_del(s);
}

static void test_report_file(void **state) {
  (void)state;
  rl__stats *s = known_stats();
  char dir[] = "/tmp/rljsonXXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[128], err[256] = "";
  snprintf(path, sizeof path, "%s/out.json", dir);
  assert_int_equal(
      rl__report_json_file(path, s, NULL, &run_info, err, sizeof err), 0);
  json_error_t jerr;
  json_t *j = json_load_file(path, 0, &jerr);
  assert_non_null(j);
  assert_int_equal(int_at(json_object_get(j, "total"), "num_requests"), 6);
  json_decref(j);
  assert_int_equal(unlink(path), 0);

  snprintf(path, sizeof path, "%s/missing/out.json", dir);
  assert_int_equal(
      rl__report_json_file(path, s, NULL, &run_info, err, sizeof err),
      RL_ERR_IO);
  assert_non_null(strstr(err, "missing/out.json"));
  assert_non_null(strstr(err, "No such file"));
  assert_int_equal(rmdir(dir), 0);
  rl__stats_del(s);
}

/* ---- Locust's /stats/requests -------------------------------------------- */

static void test_stats_requests(void **state) {
  (void)state;
  rl__stats *s = known_stats();
  static const uint64_t one[] = {MS};
  record(s, 3, "GET", "/x?a=1&b=<2>", one, 1, 0, "it's \"bad\" <b>&</b>");
  rl__history h;
  rl__history_init(&h);
  /* No history yet: the current percentiles are unknown. */
  json_t *j = rl__report_json_stats_requests(s, &h, (rl__stats_window){0, 6},
                                             "running", 18);
  assert_non_null(j);
  assert_true(
      json_is_null(json_object_get(j, "current_response_time_percentile_95")));
  json_decref(j);
  rl__history_add_times(&h, &rl__stats_total(s)->hist);
  assert_int_equal(rl__history_tick(&h, s, 1700000006, 6, 18), 0);

  j = rl__report_json_stats_requests(s, &h, (rl__stats_window){0, 6}, "running",
                                     18);
  assert_non_null(j);
  static const char *const keys[] = {"stats",
                                     "errors",
                                     "total_rps",
                                     "total_fail_per_sec",
                                     "total_avg_response_time",
                                     "fail_ratio",
                                     "current_response_time_percentile_95",
                                     "current_response_time_percentile_50",
                                     "current_response_time_percentiles",
                                     "state",
                                     "user_count"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    assert_non_null(json_object_get(j, keys[i]));
  assert_string_equal(str_at(j, "state"), "running");
  assert_int_equal(int_at(j, "user_count"), 18);
  assert_near(real_at(j, "fail_ratio"), 3.0 / 7.0);
  /* window: 0.52, 1, 1, 1, 2, 3, 100 ms */
  assert_near(real_at(j, "current_response_time_percentile_50"), 1.0);
  assert_near(real_at(j, "current_response_time_percentile_95"), 100.0);
  assert_near(real_at(json_object_get(j, "current_response_time_percentiles"),
                      "response_time_percentile_0.95"),
              100.0);
  /* Rates over the 10 s window before second 6: 7 requests in 6 s. */
  assert_near(real_at(j, "total_rps"), 7.0 / 6.0);

  const json_t *stats = json_object_get(j, "stats");
  assert_int_equal(json_array_size(stats), 4);
  const json_t *b = json_array_get(stats, 1);
  static const char *const row_keys[] = {"method",
                                         "name",
                                         "safe_name",
                                         "num_requests",
                                         "num_failures",
                                         "avg_response_time",
                                         "min_response_time",
                                         "max_response_time",
                                         "current_rps",
                                         "current_fail_per_sec",
                                         "median_response_time",
                                         "ninetieth_response_time",
                                         "ninety_ninth_response_time",
                                         "avg_content_length",
                                         "response_time_percentile_0.5",
                                         "response_time_percentile_0.95",
                                         "response_time_percentile_0.9999",
                                         "response_time_percentile_1.0"};
  for (size_t i = 0; i < sizeof row_keys / sizeof row_keys[0]; i++)
    assert_non_null(json_object_get(b, row_keys[i]));
  assert_string_equal(str_at(b, "name"), "/b");
  assert_near(real_at(b, "median_response_time"), 2.0);
  assert_near(real_at(b, "ninetieth_response_time"), 100.0);
  assert_near(real_at(b, "current_rps"), 5.0 / 6.0);
  const json_t *x = json_array_get(stats, 2);
  assert_string_equal(str_at(x, "name"), "/x?a=1&b=<2>");
  assert_string_equal(str_at(x, "safe_name"), "/x?a=1&amp;b=&lt;2&gt;");
  /* Locust sends "" as the Aggregated row's method (its stats are
   * cleared at every start, which makes the total's method ""). */
  const json_t *total = json_array_get(stats, 3);
  assert_string_equal(str_at(total, "method"), "");
  assert_string_equal(str_at(total, "name"), "Aggregated");

  const json_t *errors = json_object_get(j, "errors");
  assert_int_equal(json_array_size(errors), 2);
  const json_t *e = json_array_get(errors, 1);
  assert_string_equal(str_at(e, "name"), "/x?a=1&amp;b=&lt;2&gt;");
  assert_string_equal(str_at(e, "error"),
                      "it&#x27;s &quot;bad&quot; &lt;b&gt;&amp;&lt;/b&gt;");
  assert_int_equal(int_at(e, "occurrences"), 1);
  json_decref(j);
  rl__history_free(&h);
  rl__stats_del(s);
}

/* Locust sends at most 500 rows, plus the Aggregated one. */
static void test_stats_requests_truncates(void **state) {
  (void)state;
  rl__stats *s = rl__stats_new();
  for (int i = 0; i < 505; i++) {
    char name[16];
    snprintf(name, sizeof name, "/%03d", i);
    assert_non_null(rl__stats_entry_get(s, "GET", name));
  }
  json_t *j = rl__report_json_stats_requests(s, NULL, (rl__stats_window){0, 1},
                                             "stopped", 0);
  assert_non_null(j);
  const json_t *stats = json_object_get(j, "stats");
  assert_int_equal(json_array_size(stats), 501);
  assert_string_equal(str_at(json_array_get(stats, 499), "name"), "/499");
  assert_string_equal(str_at(json_array_get(stats, 500), "name"), "Aggregated");
  json_decref(j);
  rl__stats_del(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_report),
      cmocka_unit_test(test_exceptions),
      cmocka_unit_test(test_empty_entry),
      cmocka_unit_test(test_run_spawn_and_lag),
      cmocka_unit_test(test_dump_text),
      cmocka_unit_test(test_strings),
      cmocka_unit_test(test_history),
      cmocka_unit_test(test_report_file),
      cmocka_unit_test(test_stats_requests),
      cmocka_unit_test(test_stats_requests_truncates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
