/*
 * The Prometheus exposition (src/prometheus.c): the families and their
 * samples, the histogram's cumulative buckets, _sum and _count, label
 * escaping, and write errors. tests/integration/test_web_ui.py parses a
 * live scrape with Prometheus's own Python parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* GCC 12 at -O3 takes the text open_memstream() hands back for a pointer
 * into exposition()'s frame (its `buf` local) and warns on every use;
 * the text is heap memory the caller frees. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif

#include <rpcload/plugin.h>

#include "engine/runner.h"
#include "report/prometheus.h"
#include "stats/stats.h"

#define US 1000ull
#define MS 1000000ull
#define SEC 1000000000ull

/* What rl__report_prometheus_write writes for `s`, NUL-terminated; caller frees. */
static char *exposition(rl__stats *s, const rl__report_prometheus_info *info) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  assert_int_equal(rl__report_prometheus_write(f, s, info), 0);
  assert_int_equal(fclose(f), 0);
  return buf;
}

/* Whether `text` has `line` as one whole line. */
static int has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  /* Offsets rather than pointers: GCC's -Wdangling-pointer misreads the
   * pointer walk at -O3. */
  for (size_t off = 0; text[off]; off++) {
    if ((off == 0 || text[off - 1] == '\n') &&
        strncmp(text + off, line, n) == 0 && text[off + n] == '\n')
      return 1;
  }
  return 0;
}

static void expect_line(const char *text, const char *line) {
  if (!has_line(text, line))
    fail_msg("missing line: %s\n--- in ---\n%s", line, text);
}

/* A run's stats as the runner has them: recorded into a worker's copy,
 * then merged (which also fills the Aggregated total). */
static rl__stats *run_stats(void) {
  rl__stats *local = rl__stats_new(), *run = rl__stats_new();
  assert_non_null(local);
  assert_non_null(run);
  rl__stats_entry *hello = rl__stats_entry_get(local, "GET", "/hello");
  static const uint64_t times[] = {50 * US, 200 * US, 900 * US, 3 * MS,
                                   70 * SEC};
  for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
    assert_int_equal(rl__stats_record(local, hello, times[i], 10,
                                      i == 4 ? "timed out" : NULL, 1),
                     0);
  rl__stats_entry *post = rl__stats_entry_get(local, "POST", "/orders");
  assert_int_equal(rl__stats_record(local, post, 20 * MS, 2, NULL, 1), 0);
  assert_int_equal(rl__stats_merge(run, local), 0);
  rl__stats_del(local);
  return run;
}

static void test_counters_and_gauges(void **state) {
  (void)state;
  rl__stats *s = run_stats();
  rl__report_prometheus_info info = {
      .users = 7, .state = RL__STATE_RUNNING, .window = {0, 2}};
  char *text = exposition(s, &info);
  expect_line(text, "# TYPE rpcload_requests_total counter");
  expect_line(text, "rpcload_requests_total{method=\"GET\",name=\"/hello\"} 5");
  expect_line(text,
              "rpcload_requests_total{method=\"POST\",name=\"/orders\"} 1");
  expect_line(text, "rpcload_failures_total{method=\"GET\",name=\"/hello\"} 1");
  expect_line(
      text, "rpcload_response_bytes_total{method=\"GET\",name=\"/hello\"} 50");
  expect_line(text, "# TYPE rpcload_current_rps gauge");
  expect_line(text, "rpcload_errors_total{method=\"GET\",name=\"/hello\","
                    "error=\"timed out\"} 1");
  expect_line(text, "# TYPE rpcload_users gauge");
  expect_line(text, "rpcload_users 7");
  expect_line(text, "rpcload_state{state=\"running\"} 1");
  expect_line(text, "rpcload_state{state=\"ready\"} 0");
  expect_line(text, "rpcload_state{state=\"stopped\"} 0");
  /* Prometheus sums series itself: an Aggregated one would count twice. */
  assert_null(strstr(text, "Aggregated"));
  /* Every family is declared once, before its samples. */
  const char *help = strstr(text, "# HELP rpcload_requests_total ");
  const char *sample = strstr(text, "rpcload_requests_total{");
  assert_non_null(help);
  assert_true(help < sample);
  assert_null(strstr(help + 1, "# HELP rpcload_requests_total "));
  free(text);
  rl__stats_del(s);
}

static void test_histogram(void **state) {
  (void)state;
  rl__stats *s = run_stats();
  rl__report_prometheus_info info = {.state = RL__STATE_RUNNING};
  char *text = exposition(s, &info);
  expect_line(text, "# TYPE rpcload_response_time_seconds histogram");
  /* 50 us, 200 us, 900 us, 3 ms, 70 s: cumulative counts per bound. */
  static const struct {
    const char *le;
    unsigned n;
  } want[] = {{"0.0001", 1}, {"0.00025", 2}, {"0.0005", 2}, {"0.001", 3},
              {"0.0025", 3}, {"0.005", 4},   {"0.01", 4},   {"1", 4},
              {"60", 4},     {"+Inf", 5}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    char line[160];
    snprintf(line, sizeof line,
             "rpcload_response_time_seconds_bucket{method=\"GET\","
             "name=\"/hello\",le=\"%s\"} %u",
             want[i].le, want[i].n);
    expect_line(text, line);
  }
  expect_line(text, "rpcload_response_time_seconds_count{method=\"GET\","
                    "name=\"/hello\"} 5");
  /* The exact sum, in seconds. */
  expect_line(text, "rpcload_response_time_seconds_sum{method=\"GET\","
                    "name=\"/hello\"} 70.004150000");
  expect_line(text, "rpcload_response_time_seconds_bucket{method=\"POST\","
                    "name=\"/orders\",le=\"0.01\"} 0");
  expect_line(text, "rpcload_response_time_seconds_bucket{method=\"POST\","
                    "name=\"/orders\",le=\"0.025\"} 1");
  /* One +Inf bucket per entry, bounds in increasing order. */
  size_t infs = 0;
  for (const char *p = strstr(text, "le=\"+Inf\""); p;
       p = strstr(p + 1, "le=\"+Inf\""))
    infs++;
  assert_int_equal(infs, 2);
  for (size_t i = 1; i < RL__REPORT_PROMETHEUS_NBOUNDS; i++) {
    assert_true(rl__report_prometheus_bounds_ns[i - 1] <
                rl__report_prometheus_bounds_ns[i]);
    assert_true(strtod(rl__report_prometheus_bounds_text[i], NULL) * 1e9 ==
                (double)rl__report_prometheus_bounds_ns[i]);
  }
  free(text);
  rl__stats_del(s);
}

static void test_empty(void **state) {
  (void)state;
  rl__stats *s = rl__stats_new();
  rl__report_prometheus_info info = {.state = RL__STATE_READY};
  char *text = exposition(s, &info);
  /* The families are declared even without a sample, so a scrape before
   * the first request is valid and names what will come. */
  expect_line(text, "# TYPE rpcload_requests_total counter");
  expect_line(text, "# TYPE rpcload_response_time_seconds histogram");
  expect_line(text, "rpcload_users 0");
  expect_line(text, "rpcload_state{state=\"ready\"} 1");
  assert_null(strstr(text, "rpcload_requests_total{"));
  free(text);
  rl__stats_del(s);
}

static char *label(const char *in) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  rl__report_prometheus_label_value(f, in);
  assert_int_equal(fclose(f), 0);
  return buf;
}

static void expect_label(const char *in, const char *want) {
  char *got = label(in);
  assert_string_equal(got, want);
  free(got);
}

static void test_label_escaping(void **state) {
  (void)state;
  expect_label("/plain", "/plain");
  expect_label(NULL, "");
  /* The three escapes the format has. */
  expect_label("a\"b\\c\nd", "a\\\"b\\\\c\\nd");
  /* Other bytes pass as they are, tabs and carriage returns included. */
  expect_label("t\tr\r{}=,", "t\tr\r{}=,");
  /* UTF-8 stays; a byte that is not UTF-8 becomes U+FFFD, one each. */
  expect_label("caf\xc3\xa9 \xe2\x98\x95", "caf\xc3\xa9 \xe2\x98\x95");
  expect_label("bad\xff\xfe!", "bad\xef\xbf\xbd\xef\xbf\xbd!");
  expect_label("cut\xe2\x98", "cut\xef\xbf\xbd\xef\xbf\xbd");
  expect_label("overlong\xc0\xaf", "overlong\xef\xbf\xbd\xef\xbf\xbd");
  expect_label("surrogate\xed\xa0\x80",
               "surrogate\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");

  /* In a whole sample line. */
  rl__stats *local = rl__stats_new(), *s = rl__stats_new();
  rl__stats_entry *e = rl__stats_entry_get(local, "GET", "/q?a=\"1\"\\\n");
  rl__stats_record(local, e, 1 * MS, 0, "bad \"thing\"", 0);
  rl__stats_merge(s, local);
  rl__report_prometheus_info info = {.state = RL__STATE_RUNNING};
  char *text = exposition(s, &info);
  expect_line(text, "rpcload_requests_total{method=\"GET\","
                    "name=\"/q?a=\\\"1\\\"\\\\\\n\"} 1");
  expect_line(text, "rpcload_errors_total{method=\"GET\","
                    "name=\"/q?a=\\\"1\\\"\\\\\\n\",error=\"bad "
                    "\\\"thing\\\"\"} 1");
  free(text);
  rl__stats_del(local);
  rl__stats_del(s);
}

static void test_write_error(void **state) {
  (void)state;
  rl__stats *s = run_stats();
  FILE *f = fopen("/dev/null", "r"); /* every write fails */
  assert_non_null(f);
  rl__report_prometheus_info info = {.state = RL__STATE_RUNNING};
  assert_int_equal(rl__report_prometheus_write(f, s, &info), RL_ERR_IO);
  fclose(f);
  rl__stats_del(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counters_and_gauges),
      cmocka_unit_test(test_histogram),
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_label_escaping),
      cmocka_unit_test(test_write_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
