/*
 * Unit tests for the Locust-compatible CSV files (src/report_csv.c) and the
 * per-entry history they read (src/history.c, full history).
 *
 * The expected _stats.csv bytes of test_stats_values_match_locust were
 * written by Locust 2.12.1 itself (locust.stats.StatsCSV.requests_csv on
 * the same requests, as floats in ms, over a 10 s run).
 */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "report/csv.h"
#include "stats/history.h"
#include "stats/stats.h"

#define T0 1700000000ull

/* ---- helpers ------------------------------------------------------------- */

typedef struct fixture {
  char dir[64];
  char prefix[128];
  rl__stats *run;
  rl__history h;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  const char *tmp = getenv("TMPDIR");
  snprintf(f->dir, sizeof f->dir, "%s/rlcsvXXXXXX",
           tmp && strlen(tmp) < 40 ? tmp : "/tmp");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->prefix, sizeof f->prefix, "%s/run", f->dir);
  f->run = rl__stats_new();
  assert_non_null(f->run);
  rl__history_init(&f->h);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  DIR *d = opendir(f->dir);
  if (d) {
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
      if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
        continue;
      char path[512];
      snprintf(path, sizeof path, "%s/%s", f->dir, de->d_name);
      if (remove(path) != 0)
        rmdir(path);
    }
    closedir(d);
  }
  rmdir(f->dir);
  rl__history_free(&f->h);
  rl__stats_del(f->run);
  free(f);
  return 0;
}

/* The whole content of a file (caller frees); NULL if it cannot be read. */
static char *slurp(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return NULL;
  char *text = NULL;
  size_t len = 0, cap = 0;
  for (int c; (c = fgetc(fp)) != EOF;) {
    if (len + 2 > cap) {
      cap = cap ? cap * 2 : 256;
      char *t = realloc(text, cap);
      assert_non_null(t);
      text = t;
    }
    text[len++] = (char)c;
  }
  fclose(fp);
  if (!text)
    text = calloc(1, 1);
  else
    text[len] = '\0';
  return text;
}

static char *file_of(const fixture *f, const char *suffix) {
  char path[256];
  snprintf(path, sizeof path, "%s%s", f->prefix, suffix);
  return slurp(path);
}

static void assert_file(const fixture *f, const char *suffix,
                        const char *want) {
  char *got = file_of(f, suffix);
  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
}

static int exists(const fixture *f, const char *suffix) {
  char path[256];
  struct stat st;
  snprintf(path, sizeof path, "%s%s", f->prefix, suffix);
  return stat(path, &st) == 0;
}

/*
 * One worker's second, as the worker does it: requests recorded into its
 * own stats, merged into the run's, each entry's times added to the
 * history. `ms` are response times in milliseconds; the request at
 * `fail_at` (-1: none) fails with `error`.
 */
static void feed(fixture *f, uint64_t sec, const char *type, const char *name,
                 const double *ms, size_t n, uint64_t bytes, int fail_at,
                 const char *error) {
  rl__stats *local = rl__stats_new();
  assert_non_null(local);
  rl__stats_entry *e = rl__stats_entry_get(local, type, name);
  assert_non_null(e);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(rl__stats_record(local, e, (uint64_t)llround(ms[i] * 1e6),
                                      bytes, (int)i == fail_at ? error : NULL,
                                      sec),
                     0);
  assert_int_equal(rl__stats_merge(f->run, local), 0);
  assert_int_equal(rl__history_add_entry(&f->h, e), 0);
  rl__stats_del(local);
}

static void tick(fixture *f, uint64_t elapsed, uint32_t users) {
  assert_int_equal(
      rl__history_tick(&f->h, f->run, T0 + elapsed, elapsed, users), 0);
}

/* Locust's requests of test_stats_values_match_locust. */
static void feed_known_set(fixture *f) {
  static const double a[] = {5, 5, 10, 10, 20, 20, 40};
  static const double b[] = {150, 150, 160, 250, 250, 1500, 12000};
  static const double d[] = {0.3, 0.3, 0.3, 0.3, 0.3, 0.6, 0.6, 0.6, 0.6};
  feed(f, 0, "GET", "/a", a, 7, 100, 6, "boom");
  feed(f, 0, "POST", "/b,\"q\"", b, 7, 33, -1, NULL);
  feed(f, 0, "GET", "/d", d, 9, 7, -1, NULL);
  assert_non_null(rl__stats_entry_get(f->run, "GET", "/empty"));
}

/* ---- headers ------------------------------------------------------------- */

static const char stats_header[] =
    "Type,Name,Request Count,Failure Count,Median Response Time,Average "
    "Response Time,Min Response Time,Max Response Time,Average Content "
    "Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,"
    "100%\r\n";
static const char history_header[] =
    "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,"
    "95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure "
    "Count,Total Median Response Time,Total Average Response Time,Total Min "
    "Response Time,Total Max Response Time,Total Average Content Size\r\n";
static const char failures_header[] =
    "Method,Name,Error,Occurrences,First Seen,Last Seen\r\n";
static const char exceptions_header[] = "Count,Message,Traceback,Nodes\r\n";

static void test_headers_on_open(void **state) {
  fixture *f = *state;
  assert_string_equal(rl__report_csv_stats_header, stats_header);
  assert_string_equal(rl__report_csv_history_header, history_header);
  assert_string_equal(rl__report_csv_failures_header, failures_header);
  assert_string_equal(rl__report_csv_exceptions_header, exceptions_header);

  rl__report_csv *w;
  char err[256] = "";
  assert_int_equal(rl__report_csv_open(f->prefix, 0, &w, err, sizeof err), 0);
  /* All four exist with their header before the first second. */
  assert_file(f, "_stats.csv", stats_header);
  assert_file(f, "_stats_history.csv", history_header);
  assert_file(f, "_failures.csv", failures_header);
  assert_file(f, "_exceptions.csv", exceptions_header);
  assert_false(exists(f, "_stats.csv.tmp"));
  assert_int_equal(rl__report_csv_close(w, f->run, &f->h, 0, err, sizeof err),
                   0);
  /* A run without requests: the Aggregated row alone. */
  assert_file(f, "_stats.csv",
              "Type,Name,Request Count,Failure Count,Median Response "
              "Time,Average Response Time,Min Response Time,Max Response "
              "Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,"
              "80%,90%,95%,98%,99%,99.9%,99.99%,100%\r\n"
              ",Aggregated,0,0,0,0.0,0,0,0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,"
              "N/A,N/A,N/A,N/A,N/A\r\n");
  assert_file(f, "_exceptions.csv", exceptions_header);
}

static void test_open_fails_with_reason(void **state) {
  fixture *f = *state;
  rl__report_csv *w = (rl__report_csv *)1;
  char err[256] = "";
  char prefix[256];
  snprintf(prefix, sizeof prefix, "%s/no/such/dir/run", f->dir);
  assert_int_equal(rl__report_csv_open(prefix, 0, &w, err, sizeof err),
                   RL_ERR_IO);
  assert_null(w);
  assert_non_null(strstr(err, "no/such/dir/run_stats_history.csv"));
  assert_non_null(strstr(err, "No such file"));
}

/* ---- values -------------------------------------------------------------- */

/* Locust 2.12.1's bytes for the same requests over 10 s. */
static const char locust_stats[] =
    "Type,Name,Request Count,Failure Count,Median Response Time,Average "
    "Response Time,Min Response Time,Max Response Time,Average Content "
    "Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,"
    "100%\r\n"
    "GET,/a,7,1,10,15.714285714285714,5.0,40.0,100.0,0.7,0.1,10,20,20,20,40,"
    "40,40,40,40,40,40\r\n"
    "POST,\"/b,\"\"q\"\"\",7,0,250.0,2065.714285714286,150.0,12000.0,33.0,0.7,"
    "0.0,250,250,1500,1500,12000,12000,12000,12000,12000,12000,12000\r\n"
    "GET,/d,9,0,0.3,0.43333333333333335,0.3,0.6,7.0,0.9,0.0,0,1,1,1,1,1,1,1,"
    "1,1,1\r\n"
    "GET,/empty,0,0,0,0.0,0,0,0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,"
    "N/A,N/A\r\n"
    ",Aggregated,23,1,10,633.6478260869565,0.3,12000.0,43.21739130434783,2.3,"
    "0.1,10,40,150,160,250,1500,12000,12000,12000,12000,12000\r\n";

static void test_stats_values_match_locust(void **state) {
  fixture *f = *state;
  rl__report_csv *w;
  char err[256] = "";
  assert_int_equal(rl__report_csv_open(f->prefix, 0, &w, err, sizeof err), 0);
  feed_known_set(f);
  /* While running: requests/s over the elapsed seconds of the last tick. */
  tick(f, 10, 4);
  assert_int_equal(rl__report_csv_tick(w, f->run, &f->h), 0);
  assert_int_equal(rl__report_csv_write(w, err, sizeof err), 0);
  assert_file(f, "_stats.csv", locust_stats);
  /* At the end: over the duration given. */
  assert_int_equal(
      rl__report_csv_close(w, f->run, &f->h, 10.0, err, sizeof err), 0);
  assert_file(f, "_stats.csv", locust_stats);
  assert_file(f, "_failures.csv",
              "Method,Name,Error,Occurrences,First Seen,Last Seen\r\n"
              "GET,/a,boom,1,1700000000,1700000000\r\n");
}

/* The `n`th comma-separated field (0-based) of the line of `text` that
 * starts with `start`, as a number; NAN when absent. */
static double field_of(const char *text, const char *start, int n) {
  const char *p = strstr(text, start);
  if (!p)
    return NAN;
  for (int i = 0; i < n; i++) {
    p = strchr(p, ',');
    if (!p)
      return NAN;
    p++;
  }
  char *end = NULL;
  double v = strtod(p, &end);
  return end != p && (*end == ',' || *end == '\r') ? v : NAN;
}

/* --csv-decimals: the median and percentiles as the histogram has them
 * (3 significant digits), where Locust's rounding writes 0 and 1 for the
 * sub-millisecond /d; every other column as without it. */
static void test_stats_decimals(void **state) {
  fixture *f = *state;
  rl__report_csv *w;
  char err[256] = "";
  assert_int_equal(rl__report_csv_open(f->prefix, RL__REPORT_CSV_DECIMALS, &w,
                                       err, sizeof err),
                   0);
  feed_known_set(f);
  tick(f, 10, 4);
  assert_int_equal(
      rl__report_csv_close(w, f->run, &f->h, 10.0, err, sizeof err), 0);
  char *text = file_of(f, "_stats.csv");
  /* Median (4), then 50% (11) to 100% (21): 0.3 ms for 5 of 9, 0.6 ms
   * from 66%. */
  static const double want[] = {0.3, 0.3, 0.6, 0.6, 0.6, 0.6,
                                0.6, 0.6, 0.6, 0.6, 0.6, 0.6};
  static const int col[] = {4, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21};
  for (size_t i = 0; i < sizeof col / sizeof col[0]; i++) {
    double v = field_of(text, "GET,/d,", col[i]);
    if (!(fabs(v - want[i]) <= want[i] * 1e-3))
      fail_msg("column %d: %g, want %g within 0.1%%\n%s", col[i], v, want[i],
               text);
  }
  /* The columns Locust writes as floats are unchanged. */
  assert_non_null(strstr(text, "GET,/d,9,0,"));
  assert_non_null(strstr(text, ",0.43333333333333335,0.3,0.6,7.0,0.9,0.0,"));
  /* A whole-ms figure still reads as a float, not "10". */
  assert_true(fabs(field_of(text, "GET,/a,", 4) - 10) <= 10e-3);
  assert_non_null(strstr(text, "N/A,N/A\r\n")); /* /empty as before */
  free(text);
}

static void test_final_rates_use_duration(void **state) {
  fixture *f = *state;
  rl__report_csv *w;
  char err[256] = "";
  static const double one[] = {1};
  assert_int_equal(rl__report_csv_open(f->prefix, 0, &w, err, sizeof err), 0);
  feed(f, 0, "GET", "/", one, 1, 0, 0, "e");
  tick(f, 1, 1);
  assert_int_equal(rl__report_csv_tick(w, f->run, &f->h), 0);
  assert_int_equal(rl__report_csv_close(w, f->run, &f->h, 4.0, err, sizeof err),
                   0);
  assert_file(f, "_stats.csv",
              "Type,Name,Request Count,Failure Count,Median Response "
              "Time,Average Response Time,Min Response Time,Max Response "
              "Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,"
              "80%,90%,95%,98%,99%,99.9%,99.99%,100%\r\n"
              "GET,/,1,1,1,1.0,1.0,1.0,0.0,0.25,0.25,1,1,1,1,1,1,1,1,1,1,1\r\n"
              ",Aggregated,1,1,1,1.0,1.0,1.0,0.0,0.25,0.25,1,1,1,1,1,1,1,1,1,1,"
              "1\r\n");
}

/* Python's csv module: quoted only for , " CR LF; quotes doubled. */
static void test_quoting(void **state) {
  fixture *f = *state;
  rl__report_csv *w;
  char err[256] = "";
  static const double one[] = {2};
  assert_int_equal(rl__report_csv_open(f->prefix, 0, &w, err, sizeof err), 0);
  feed(f, 3, "GET", "plain;name with spaces", one, 1, 0, -1, NULL);
  feed(f, 3, "GET", "a\nb", one, 1, 0, 0, "line1\r\nline2");
  feed(f, 3, "X,Y", "\"q\"", one, 1, 0, 0, "said \"no\", twice");
  tick(f, 4, 1);
  assert_int_equal(rl__report_csv_close(w, f->run, &f->h, 4.0, err, sizeof err),
                   0);
  char *stats = file_of(f, "_stats.csv");
  assert_non_null(stats);
  /* sorted by name: "\"q\"" < "a\nb" < "plain..." */
  const char *rows = strstr(stats, "100%\r\n") + 6;
  const char *first = "\"X,Y\",\"\"\"q\"\"\",1,1,";
  assert_memory_equal(rows, first, strlen(first));
  assert_non_null(strstr(rows, "\r\nGET,\"a\nb\",1,1,"));
  assert_non_null(strstr(rows, "\r\nGET,plain;name with spaces,1,0,"));
  free(stats);
  assert_file(f, "_failures.csv",
              "Method,Name,Error,Occurrences,First Seen,Last Seen\r\n"
              "\"X,Y\",\"\"\"q\"\"\",\"said \"\"no\"\", twice\",1,1700000003,"
              "1700000003\r\n"
              "GET,\"a\nb\",\"line1\r\nline2\",1,1700000003,1700000003\r\n");
}

/* ---- history ------------------------------------------------------------- */

static const char row_a1[] =
    "1700000001,2,GET,/a,2.000000,1.000000,10,10,10,10,10,10,10,10,10,10,10,"
    "2,1,10,10.0,10.0,10.0,5.0\r\n";
static const char row_empty1[] =
    "1700000001,2,GET,/empty,0.000000,0.000000,N/A,N/A,N/A,N/A,N/A,N/A,N/A,"
    "N/A,N/A,N/A,N/A,0,0,0,0.0,0,0,0\r\n";
static const char row_agg1[] =
    "1700000001,2,,Aggregated,2.000000,1.000000,10,10,10,10,10,10,10,10,10,10,"
    "10,2,1,10,10.0,10.0,10.0,5.0\r\n";
static const char row_a2[] =
    "1700000002,2,GET,/a,1.000000,0.500000,10,10,10,10,10,10,10,10,10,10,10,"
    "2,1,10,10.0,10.0,10.0,5.0\r\n";
static const char row_empty2[] =
    "1700000002,2,GET,/empty,0.000000,0.000000,N/A,N/A,N/A,N/A,N/A,N/A,N/A,"
    "N/A,N/A,N/A,N/A,0,0,0,0.0,0,0,0\r\n";
static const char row_agg2[] =
    "1700000002,2,,Aggregated,1.000000,0.500000,10,10,10,10,10,10,10,10,10,10,"
    "10,2,1,10,10.0,10.0,10.0,5.0\r\n";

/* Two seconds: requests in the first, none in the second. */
static void two_seconds(fixture *f, rl__report_csv *w) {
  static const double ten[] = {10, 10};
  char err[256] = "";
  feed(f, 0, "GET", "/a", ten, 2, 5, 1, "x");
  assert_non_null(rl__stats_entry_get(f->run, "GET", "/empty"));
  tick(f, 1, 2);
  assert_int_equal(rl__report_csv_tick(w, f->run, &f->h), 0);
  assert_int_equal(rl__report_csv_write(w, err, sizeof err), 0);
  tick(f, 2, 2);
  assert_int_equal(rl__report_csv_tick(w, f->run, &f->h), 0);
  assert_int_equal(rl__report_csv_write(w, err, sizeof err), 0);
}

static void test_history_aggregated_rows(void **state) {
  fixture *f = *state;
  rl__report_csv *w;
  char err[256] = "";
  assert_int_equal(rl__report_csv_open(f->prefix, 0, &w, err, sizeof err), 0);
  two_seconds(f, w);
  char want[2048];
  snprintf(want, sizeof want, "%s%s%s", history_header, row_agg1, row_agg2);
  /* Appended and flushed each second: readable before the close. */
  assert_file(f, "_stats_history.csv", want);
  assert_int_equal(rl__report_csv_close(w, f->run, &f->h, 2.5, err, sizeof err),
                   0);
  assert_file(f, "_stats_history.csv", want);
}

static void test_history_full(void **state) {
  fixture *f = *state;
  rl__report_csv *w;
  char err[256] = "";
  rl__history_track_entries(&f->h);
  assert_int_equal(rl__report_csv_open(f->prefix, 1, &w, err, sizeof err), 0);
  two_seconds(f, w);
  char want[4096];
  snprintf(want, sizeof want, "%s%s%s%s%s%s%s", history_header, row_a1,
           row_empty1, row_agg1, row_a2, row_empty2, row_agg2);
  assert_file(f, "_stats_history.csv", want);
  assert_int_equal(rl__report_csv_close(w, f->run, &f->h, 2.5, err, sizeof err),
                   0);
  assert_file(f, "_stats_history.csv", want);
}

/* Several history seconds between two CSV ticks: each gets its Aggregated
 * row; entry rows exist for the latest only. A run before any tick still
 * gets every row at the close. */
static void test_history_catches_up(void **state) {
  fixture *f = *state;
  rl__report_csv *w;
  char err[256] = "";
  rl__history_track_entries(&f->h);
  assert_int_equal(rl__report_csv_open(f->prefix, 1, &w, err, sizeof err), 0);
  static const double ten[] = {10, 10};
  feed(f, 0, "GET", "/a", ten, 2, 5, 1, "x");
  assert_non_null(rl__stats_entry_get(f->run, "GET", "/empty"));
  tick(f, 1, 2);
  tick(f, 2, 2);
  assert_int_equal(rl__report_csv_close(w, f->run, &f->h, 2.5, err, sizeof err),
                   0);
  char want[4096];
  snprintf(want, sizeof want, "%s%s%s%s%s", history_header, row_agg1, row_a2,
           row_empty2, row_agg2);
  assert_file(f, "_stats_history.csv", want);
}

/* "Reset stats" mid-run: the history starts again (tracking kept), the
 * CSV history file goes on with the new rows. */
static void test_history_reset(void **state) {
  fixture *f = *state;
  rl__report_csv *w;
  char err[256] = "";
  rl__history_track_entries(&f->h);
  assert_int_equal(rl__report_csv_open(f->prefix, 1, &w, err, sizeof err), 0);
  two_seconds(f, w);
  rl__stats_clear(f->run);
  rl__history_reset(&f->h);
  assert_true(f->h.track_entries);
  assert_int_equal(f->h.n, 0);
  tick(f, 3, 2);
  assert_int_equal(rl__report_csv_tick(w, f->run, &f->h), 0);
  assert_int_equal(rl__report_csv_write(w, err, sizeof err), 0);
  char want[4096];
  snprintf(want, sizeof want, "%s%s%s%s%s%s%s%s%s%s", history_header, row_a1,
           row_empty1, row_agg1, row_a2, row_empty2, row_agg2,
           "1700000003,2,GET,/a,0.000000,0.000000,N/A,N/A,N/A,N/A,N/A,N/A,"
           "N/A,N/A,N/A,N/A,N/A,0,0,0,0.0,0,0,0\r\n",
           "1700000003,2,GET,/empty,0.000000,0.000000,N/A,N/A,N/A,N/A,N/A,"
           "N/A,N/A,N/A,N/A,N/A,N/A,0,0,0,0.0,0,0,0\r\n",
           "1700000003,2,,Aggregated,0.000000,0.000000,N/A,N/A,N/A,N/A,N/A,"
           "N/A,N/A,N/A,N/A,N/A,N/A,0,0,0,0.0,0,0,0\r\n");
  assert_file(f, "_stats_history.csv", want);
  assert_int_equal(rl__report_csv_close(w, f->run, &f->h, 3, err, sizeof err),
                   0);
  assert_file(f, "_stats_history.csv", want);
}

/* The window: an entry's percentiles forget what left the last
 * RL__HISTORY_WINDOW seconds, its totals do not; several workers' deltas in
 * one second fold together. */
static void test_history_entry_window(void **state) {
  fixture *f = *state;
  rl__history_track_entries(&f->h);
  static const double slow[] = {500};
  static const double fast[] = {2, 3};
  feed(f, 0, "GET", "/w", slow, 1, 0, -1, NULL);
  tick(f, 1, 1);
  for (uint64_t s = 1; s <= RL__HISTORY_WINDOW; s++) {
    feed(f, s, "GET", "/w", fast, 2, 0, -1, NULL); /* two workers */
    feed(f, s, "GET", "/w", fast, 2, 0, -1, NULL);
    tick(f, s + 1, 1);
    assert_int_equal(f->h.n_entry_rows, 1);
    const rl__history_row *r = &f->h.entry_rows[0].row;
    if (s < RL__HISTORY_WINDOW)
      assert_true(r->p100_ns >= 500000000ull);
    else
      assert_true(r->p100_ns == 3000000ull);
  }
  const rl__history_entry_row *er = &f->h.entry_rows[0];
  assert_string_equal(er->type, "GET");
  assert_string_equal(er->name, "/w");
  assert_int_equal(er->row.requests, 1 + 4 * RL__HISTORY_WINDOW);
  assert_int_equal(er->row.max_ns, 500000000ull);
  /* 20 values of 2 ms, then 20 of 3 ms */
  assert_true(er->row.p50_ns >= 2000000ull && er->row.p50_ns < 2003000ull);
  assert_int_equal(er->row.p66_ns, 3000000ull);
  assert_int_equal(er->row.p100_ns, 3000000ull);
  assert_int_equal(er->row.elapsed_s, RL__HISTORY_WINDOW + 1);
  /* The entry's row agrees with the Aggregated one: a single entry. */
  const rl__history_row *agg = &f->h.rows[f->h.n - 1];
  assert_int_equal(agg->p50_ns, er->row.p50_ns);
  assert_int_equal(agg->p99_ns, er->row.p99_ns);
  assert_int_equal(agg->median_ns, er->row.median_ns);
}

/* Per-entry window percentiles equal a dense histogram's over the same
 * seconds, whatever the values, as seconds enter and leave the window and
 * several workers' deltas land in one second. */
static void test_history_entry_percentiles_exact(void **state) {
  fixture *f = *state;
  rl__history_track_entries(&f->h);
  enum { SECONDS = 25, PER_WORKER = 97 };
  rl__histogram dense[SECONDS];
  uint64_t x = 88172645463325252ull; /* xorshift64 */
  double ms[PER_WORKER];
  for (uint64_t s = 0; s < SECONDS; s++) {
    rl__histogram_init(&dense[s]);
    /* A quiet second now and then, and a spread that moves. */
    int workers = s % 7 == 3 ? 0 : 1 + (int)(s % 3);
    for (int wk = 0; wk < workers; wk++) {
      for (size_t i = 0; i < PER_WORKER; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ms[i] = (double)(x % (500000 * (s % 5 + 1))) / 1000.0;
        assert_int_equal(
            rl__histogram_record(&dense[s], (uint64_t)llround(ms[i] * 1e6)), 0);
      }
      feed(f, s, "GET", "/r", ms, PER_WORKER, 0, -1, NULL);
    }
    tick(f, s + 1, 1);

    rl__histogram window;
    rl__histogram_init(&window);
    for (uint64_t w = s + 1 > RL__HISTORY_WINDOW ? s + 1 - RL__HISTORY_WINDOW
                                                 : 0;
         w <= s; w++)
      assert_int_equal(rl__histogram_merge(&window, &dense[w]), 0);
    uint64_t want[RL__HISTORY_NPCT];
    rl__history_percentiles(&window, want);
    for (size_t i = 0; i < RL__HISTORY_NPCT; i++)
      assert_int_equal(want[i], window.count
                                    ? rl__histogram_percentile(
                                          &window, rl__history_percents[i])
                                    : 0);
    rl__histogram_free(&window);

    assert_int_equal(f->h.n_entry_rows, 1);
    const rl__history_row *r = &f->h.entry_rows[0].row;
    const uint64_t got[RL__HISTORY_NPCT] = {
        r->p50_ns, r->p66_ns, r->p75_ns,  r->p80_ns,   r->p90_ns, r->p95_ns,
        r->p98_ns, r->p99_ns, r->p999_ns, r->p9999_ns, r->p100_ns};
    for (size_t i = 0; i < RL__HISTORY_NPCT; i++)
      assert_int_equal(got[i], want[i]);
  }
  for (uint64_t s = 0; s < SECONDS; s++)
    rl__histogram_free(&dense[s]);
}

/* ---- files on disk ------------------------------------------------------- */

/* _stats.csv is replaced, never rewritten in place: a reader that opened the
 * old one keeps reading it whole, and no temp file is left behind. */
static void test_replaced_by_rename(void **state) {
  fixture *f = *state;
  rl__report_csv *w;
  char err[256] = "";
  static const double one[] = {1};
  assert_int_equal(rl__report_csv_open(f->prefix, 0, &w, err, sizeof err), 0);
  feed(f, 0, "GET", "/first", one, 1, 0, -1, NULL);
  tick(f, 1, 1);
  assert_int_equal(rl__report_csv_tick(w, f->run, &f->h), 0);
  assert_int_equal(rl__report_csv_write(w, err, sizeof err), 0);

  char path[256];
  snprintf(path, sizeof path, "%s_stats.csv", f->prefix);
  struct stat before, after;
  assert_int_equal(stat(path, &before), 0);
  FILE *reader = fopen(path, "rb");
  assert_non_null(reader);

  feed(f, 1, "GET", "/second", one, 1, 0, -1, NULL);
  tick(f, 2, 1);
  assert_int_equal(rl__report_csv_tick(w, f->run, &f->h), 0);
  assert_int_equal(rl__report_csv_write(w, err, sizeof err), 0);
  assert_int_equal(stat(path, &after), 0);
  assert_true(before.st_ino != after.st_ino);
  assert_false(exists(f, "_stats.csv.tmp"));
  assert_false(exists(f, "_failures.csv.tmp"));

  char old[4096];
  size_t n = fread(old, 1, sizeof old - 1, reader);
  old[n] = '\0';
  fclose(reader);
  assert_non_null(strstr(old, "GET,/first,"));
  assert_null(strstr(old, "/second"));
  char *now = file_of(f, "_stats.csv");
  assert_non_null(strstr(now, "GET,/second,"));
  free(now);
  assert_int_equal(rl__report_csv_close(w, f->run, &f->h, 2, err, sizeof err),
                   0);
}

/* A failing write is reported once and keeps the last good file; writing
 * recovers when the cause goes away. */
static void test_write_failure(void **state) {
  fixture *f = *state;
  rl__report_csv *w;
  char err[256] = "";
  static const double one[] = {1};
  assert_int_equal(rl__report_csv_open(f->prefix, 0, &w, err, sizeof err), 0);
  feed(f, 0, "GET", "/ok", one, 1, 0, -1, NULL);
  tick(f, 1, 1);
  assert_int_equal(rl__report_csv_tick(w, f->run, &f->h), 0);
  assert_int_equal(rl__report_csv_write(w, err, sizeof err), 0);
  char *good = file_of(f, "_stats.csv");

  /* A directory where the temp file goes: fopen fails. */
  char tmp[256];
  snprintf(tmp, sizeof tmp, "%s_stats.csv.tmp", f->prefix);
  assert_int_equal(mkdir(tmp, 0700), 0);
  feed(f, 1, "GET", "/lost", one, 1, 0, -1, NULL);
  tick(f, 2, 1);
  assert_int_equal(rl__report_csv_tick(w, f->run, &f->h), 0);
  assert_int_equal(rl__report_csv_write(w, err, sizeof err), RL_ERR_IO);
  assert_non_null(strstr(err, "run_stats.csv.tmp"));
  tick(f, 3, 1);
  assert_int_equal(rl__report_csv_tick(w, f->run, &f->h), 0);
  err[0] = '\0';
  assert_int_equal(rl__report_csv_write(w, err, sizeof err), 0); /* quiet */
  assert_string_equal(err, "");
  char *kept = file_of(f, "_stats.csv");
  assert_string_equal(kept, good);
  free(kept);
  free(good);
  /* The history went on. */
  char *hist = file_of(f, "_stats_history.csv");
  assert_non_null(strstr(hist, "\r\n1700000003,1,,Aggregated,"));
  free(hist);

  /* The cause goes: the close completes the files and all is well. */
  assert_int_equal(rmdir(tmp), 0);
  assert_int_equal(rl__report_csv_close(w, f->run, &f->h, 3, err, sizeof err),
                   0);
  char *final = file_of(f, "_stats.csv");
  assert_non_null(strstr(final, "GET,/lost,"));
  free(final);
}

/* History rows that cannot be written (here: the file size limit, as a
 * full disk would) are reported once while running, and by the close. */
static void test_history_rows_lost(void **state) {
  fixture *f = *state;
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    rl__report_csv *w;
    char err[256] = "";
    static const double one[] = {4};
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {2000, 2000};
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
      _exit(10);
    if (rl__report_csv_open(f->prefix, 0, &w, err, sizeof err) != 0)
      _exit(11);
    int reported = 0;
    for (uint64_t s = 0; s < 40; s++) {
      feed(f, s, "GET", "/k", one, 1, 0, -1, NULL);
      tick(f, s + 1, 1);
      if (rl__report_csv_tick(w, f->run, &f->h) != 0)
        _exit(12);
      if (rl__report_csv_write(w, err, sizeof err) != 0) {
        reported++;
        if (!strstr(err, "run_stats_history.csv: File too large"))
          _exit(13);
      }
    }
    if (reported != 1)
      _exit(14);
    err[0] = '\0';
    if (rl__report_csv_close(w, f->run, &f->h, 40, err, sizeof err) !=
        RL_ERR_IO)
      _exit(15);
    if (!strstr(err, "File too large (history rows of "))
      _exit(16);
    _exit(0);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  /* _stats.csv stayed small enough: whole, with every request. */
  char *stats = file_of(f, "_stats.csv");
  assert_non_null(strstr(stats, "\r\nGET,/k,40,0,"));
  free(stats);
}

/* Every line of `text` after the header: whole history rows (24 fields,
 * none quoted here) for seconds T0+1, T0+2, ... in order. Returns the
 * number of rows. */
static size_t whole_history_rows(const char *text) {
  const char *p = strstr(text, "\r\n");
  assert_non_null(p);
  p += 2;
  size_t rows = 0;
  while (*p) {
    const char *end = strstr(p, "\r\n");
    assert_non_null(end); /* no half row at the end */
    size_t commas = 0;
    for (const char *q = p; q < end; q++)
      commas += *q == ',';
    assert_int_equal(commas, 23);
    assert_int_equal(strtoull(p, NULL, 10), T0 + rows + 1);
    rows++;
    p = end + 2;
  }
  return rows;
}

/* A disk that fills and frees (here: the file size limit, lowered then
 * raised again): the failure is reported once, the history keeps whole
 * rows only, and once there is room the rows that waited are written,
 * whole and in order; the recovery is said once too. */
static void test_history_disk_frees(void **state) {
  fixture *f = *state;
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    rl__report_csv *w;
    char err[256] = "";
    static const double one[] = {4};
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim;
    if (getrlimit(RLIMIT_FSIZE, &lim) != 0)
      _exit(10);
    rlim_t hard = lim.rlim_max;
    lim.rlim_cur = 2000;
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
      _exit(10);
    if (rl__report_csv_open(f->prefix, 0, &w, err, sizeof err) != 0)
      _exit(11);
    int failed = 0, recovered = 0;
    for (uint64_t s = 0; s < 40; s++) {
      if (s == 25) { /* the disk frees */
        lim.rlim_cur = hard;
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
          _exit(10);
      }
      feed(f, s, "GET", "/k", one, 1, 0, -1, NULL);
      tick(f, s + 1, 1);
      if (rl__report_csv_tick(w, f->run, &f->h) != 0)
        _exit(12);
      int rc = rl__report_csv_write(w, err, sizeof err);
      if (rc == RL_ERR_IO) {
        failed++;
        if (!strstr(err, "run_stats_history.csv: File too large"))
          _exit(13);
      } else if (rc == RL__REPORT_CSV_RECOVERED) {
        recovered++;
        if (!strstr(err, "every history row included"))
          _exit(14);
      } else if (rc != 0) {
        _exit(15);
      }
      if (s == 20) {
        /* While full: the file holds whole rows only. */
        char *hist = file_of(f, "_stats_history.csv");
        size_t n = whole_history_rows(hist);
        free(hist);
        if (n < 5 || n >= 21) /* some rows written, not all 21 */
          _exit(16);
      }
    }
    if (failed != 1 || recovered != 1)
      _exit(17);
    if (rl__report_csv_close(w, f->run, &f->h, 40, err, sizeof err) != 0)
      _exit(18);
    _exit(0);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  char *hist = file_of(f, "_stats_history.csv");
  assert_int_equal(whole_history_rows(hist), 40);
  free(hist);
}

/* kill -9 in the middle of a run leaves every second up to the last one:
 * history rows flushed, _stats.csv complete as of the last second. */
static void test_survives_kill(void **state) {
  fixture *f = *state;
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    rl__report_csv *w;
    char err[256];
    static const double one[] = {4};
    if (rl__report_csv_open(f->prefix, 0, &w, err, sizeof err) != 0)
      _exit(3);
    for (uint64_t s = 0; s < 3; s++) {
      feed(f, s, "GET", "/k", one, 1, 0, -1, NULL);
      tick(f, s + 1, 1);
      if (rl__report_csv_tick(w, f->run, &f->h) != 0 ||
          rl__report_csv_write(w, err, sizeof err) != 0)
        _exit(4);
    }
    raise(SIGKILL);
    _exit(5);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  char *hist = file_of(f, "_stats_history.csv");
  assert_non_null(hist);
  int rows = 0;
  for (const char *p = hist; (p = strstr(p, ",Aggregated,")) != NULL; p++)
    rows++;
  assert_int_equal(rows, 3);
  assert_non_null(strstr(hist, "\r\n1700000003,1,,Aggregated,1.000000,"));
  size_t len = strlen(hist);
  assert_true(len > 2 && hist[len - 2] == '\r' && hist[len - 1] == '\n');
  free(hist);
  assert_file(f, "_stats.csv",
              "Type,Name,Request Count,Failure Count,Median Response "
              "Time,Average Response Time,Min Response Time,Max Response "
              "Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,"
              "80%,90%,95%,98%,99%,99.9%,99.99%,100%\r\n"
              "GET,/k,3,0,4,4.0,4.0,4.0,0.0,1.0,0.0,4,4,4,4,4,4,4,4,4,4,4\r\n"
              ",Aggregated,3,0,4,4.0,4.0,4.0,0.0,1.0,0.0,4,4,4,4,4,4,4,4,4,4,"
              "4\r\n");
  assert_false(exists(f, "_stats.csv.tmp"));
}

/* ---- Python's float repr ------------------------------------------------- */

static void test_py_float(void **state) {
  (void)state;
  static const struct {
    double v;
    const char *repr;
  } cases[] = {
      {0.0, "0.0"},
      {-0.0, "-0.0"},
      {1.5, "1.5"},
      {150.0, "150.0"},
      {0.1 + 0.2, "0.30000000000000004"},
      {1e16, "1e+16"},
      {1e-5, "1e-05"},
      {0.0001, "0.0001"},
      {123456789.0, "123456789.0"},
      {1234567890123456.0, "1234567890123456.0"},
      {1.2345678901234567e17, "1.2345678901234566e+17"},
      {110.0 / 7, "15.714285714285714"},
      {-2.5, "-2.5"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {0.523417, "0.523417"},
      {1e22, "1e+22"},
      {12345.678, "12345.678"},
      {0.5, "0.5"},
      /* powers of two: the shortest decimal lies above the value */
      {0x1p-24, "5.960464477539063e-08"},
      {0x1p89, "6.189700196426902e+26"},
      {0x1p-44, "5.684341886080802e-14"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[48];
    rl__report_csv_py_float(cases[i].v, buf, sizeof buf);
    assert_string_equal(buf, cases[i].repr);
  }
}

static void test_null_writer(void **state) {
  fixture *f = *state;
  char err[16];
  assert_int_equal(rl__report_csv_tick(NULL, f->run, &f->h), 0);
  assert_int_equal(rl__report_csv_write(NULL, err, sizeof err), 0);
  assert_int_equal(
      rl__report_csv_close(NULL, f->run, &f->h, 1, err, sizeof err), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_headers_on_open, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_fails_with_reason, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_stats_decimals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stats_values_match_locust, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_final_rates_use_duration, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_quoting, setup, teardown),
      cmocka_unit_test_setup_teardown(test_history_aggregated_rows, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_history_full, setup, teardown),
      cmocka_unit_test_setup_teardown(test_history_catches_up, setup, teardown),
      cmocka_unit_test_setup_teardown(test_history_reset, setup, teardown),
      cmocka_unit_test_setup_teardown(test_history_entry_window, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_history_entry_percentiles_exact,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_replaced_by_rename, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_history_rows_lost, setup, teardown),
      cmocka_unit_test_setup_teardown(test_history_disk_frees, setup, teardown),
      cmocka_unit_test_setup_teardown(test_survives_kill, setup, teardown),
      cmocka_unit_test(test_py_float),
      cmocka_unit_test_setup_teardown(test_null_writer, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
