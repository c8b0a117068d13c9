/* The HTML report: escaping (JSON in a script element, HTML text), the
 * page's structure, the JSON figures, and write errors. The page in a real
 * browser is tests/integration/test_html_report.py's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "report/html.h"
#include "stats/history.h"
#include "stats/stats.h"

#define MS 1000000ull

/* ---- helpers ------------------------------------------------------------- */

typedef void (*writer)(FILE *out, const char *s);

/* What `w` writes for `s`, NUL-terminated; the caller frees it. */
static char *written(writer w, const char *s) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  w(f, s);
  assert_int_equal(fclose(f), 0);
  return buf;
}

static void expect_written(writer w, const char *in, const char *want) {
  char *got = written(w, in);
  assert_string_equal(got, want);
  free(got);
}

/* Occurrences of `needle` in `hay`, ignoring case. */
static size_t count_ci(const char *hay, const char *needle) {
  size_t n = 0, len = strlen(needle);
  for (const char *p = hay; *p; p++)
    if (strncasecmp(p, needle, len) == 0)
      n++;
  return n;
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0, len = strlen(needle);
  for (const char *p = strstr(hay, needle); p; p = strstr(p + len, needle))
    n++;
  return n;
}

typedef struct report {
  char *page;
  size_t len;
  char *json; /* the rl-data script's text (a copy) */
} report;

static void report_free(report *r) {
  free(r->page);
  free(r->json);
}

static report make_report(const rl__report_html_info *info, rl__stats *s,
                          const rl__history *h) {
  report r = {0};
  FILE *f = open_memstream(&r.page, &r.len);
  assert_non_null(f);
  assert_int_equal(rl__report_html_write(f, info, s, h), 0);
  assert_int_equal(fclose(f), 0);
  assert_int_equal(strlen(r.page), r.len); /* no NUL inside */
  static const char open[] =
      "<script type=\"application/json\" id=\"rl-data\">";
  const char *start = strstr(r.page, open);
  assert_non_null(start);
  start += strlen(open);
  const char *end = strstr(start, "</script>");
  assert_non_null(end);
  r.json = strndup(start, (size_t)(end - start));
  assert_non_null(r.json);
  return r;
}

/* The names and texts that try to break out of where they are put. */
static const char *const evil_name = "/a</script><script>alert(1)</script>";
static const char *const evil_quotes = "/q?x=\"1\"&y='2'\\ <!-- -->";
static const char *const evil_error = "</SCRIPT ><img src=x onerror=alert(2)>";

static void record_n(rl__stats *run, rl__history *h, const char *type,
                     const char *name, int n, uint64_t rt_ns, const char *error,
                     uint64_t sec) {
  rl__stats *local = rl__stats_new();
  assert_non_null(local);
  rl__stats_entry *e = rl__stats_entry_get(local, type, name);
  assert_non_null(e);
  for (int i = 0; i < n; i++)
    assert_int_equal(rl__stats_record(local, e, rt_ns, 100, error, sec), 0);
  assert_int_equal(rl__stats_merge(run, local), 0);
  if (h)
    assert_int_equal(rl__history_add_times(h, &e->hist), 0);
  rl__stats_del(local);
}

/* ---- escaping ------------------------------------------------------------ */

static void test_json_string(void **state) {
  (void)state;
  writer w = rl__report_html_json_string;
  expect_written(w, "/hello", "\"/hello\"");
  expect_written(w, NULL, "\"\"");
  expect_written(w, "", "\"\"");
  expect_written(w, "a\"b\\c", "\"a\\\"b\\\\c\"");
  expect_written(w, "</script>", "\"\\u003c/script\\u003e\"");
  expect_written(w, "<!-- & -->", "\"\\u003c!-- \\u0026 --\\u003e\"");
  expect_written(w, "t\tn\nr\r\x01\x1f\x7f",
                 "\"t\\tn\\nr\\r\\u0001\\u001f\\u007f\"");
  /* valid UTF-8 passes through; U+2028 and U+2029 are escaped */
  expect_written(w, "caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80",
                 "\"caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80\"");
  expect_written(w,
                 "a\xe2\x80\xa8"
                 "b\xe2\x80\xa9",
                 "\"a\\u2028b\\u2029\"");
  /* invalid UTF-8: each bad byte becomes U+FFFD, the rest survives */
  expect_written(w, "x\xffy", "\"x\\ufffdy\"");
  expect_written(w, "\xc0\xaf", "\"\\ufffd\\ufffd\""); /* overlong '/' */
  expect_written(w, "\xed\xa0\x80",
                 "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
  expect_written(w, "\xf4\x90\x80\x80",
                 "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  /* > U+10FFFF */
  expect_written(w, "\xe2\x98", "\"\\ufffd\\ufffd\""); /* cut short */
  expect_written(w, "\xe2\x98<", "\"\\ufffd\\ufffd\\u003c\"");
}

static void test_html_text(void **state) {
  (void)state;
  writer w = rl__report_html_text;
  expect_written(w, "plain /path", "plain /path");
  expect_written(w, NULL, "");
  expect_written(w, "<b a=\"1\" c='2'>&amp;</b>",
                 "&lt;b a=&quot;1&quot; c=&#39;2&#39;&gt;&amp;amp;&lt;/b&gt;");
  expect_written(w, "tab\tnl\n", "tab\tnl\n");
  expect_written(w, "nul?\x01\x7f", "nul?\xef\xbf\xbd\xef\xbf\xbd");
  expect_written(w, "caf\xc3\xa9\xff", "caf\xc3\xa9\xef\xbf\xbd");
}

/* ---- the page ------------------------------------------------------------ */

static void test_page_structure_and_escaping(void **state) {
  (void)state;
  rl__stats *s = rl__stats_new();
  rl__history h;
  rl__history_init(&h);
  for (uint64_t sec = 0; sec < 3; sec++) {
    record_n(s, &h, "GET", "/hello", 10, 2 * MS, NULL, sec);
    record_n(s, &h, "GET", evil_name, 5, 1500000 /* 1.5 ms */, NULL, sec);
    record_n(s, &h, "POST", evil_quotes, 2, 4 * MS, evil_error, sec);
    assert_int_equal(rl__history_tick(&h, s, 1700000001 + sec, sec + 1,
                                      (uint32_t)(10 * (sec + 1))),
                     0);
  }
  rl__report_html_info info = {
      .target = "http://h/</title><script>alert(3)</script>",
      .plugin = "http1",
      .command_line = "rpcload -u 30 \"</script>\"",
      .users = 30,
      .spawn_rate = 10,
      .run_time_ns = 3000000000ull,
      .duration_s = 3,
      .start_unix_s = 1700000000,
      .end_unix_s = 1700000003,
      .cut_requests = 2,
  };
  report r = make_report(&info, s, &h);
  const char *p = r.page;

  /* One document, with its three scripts (data, uPlot, the report's) and
   * nothing that could close one early or open a comment. */
  assert_true(strncmp(p, "<!DOCTYPE html>\n<html lang=\"en\">", 31) == 0);
  assert_true(r.len > 50000); /* uPlot is in */
  assert_string_equal(p + r.len - 8, "</html>\n");
  assert_int_equal(count_ci(p, "<script"), 3);
  assert_int_equal(count_ci(p, "</script"), 3);
  assert_int_equal(count_ci(p, "<style"), 2);
  assert_int_equal(count_ci(p, "</style"), 2);
  assert_int_equal(count(p, "<!--"), 0);
  assert_int_equal(count_ci(p, "<title>"), 1);
  assert_int_equal(count_ci(p, "</title>"), 1);
  assert_non_null(
      strstr(p, "<script type=\"application/json\" id=\"rl-data\">"));
  assert_non_null(strstr(p, "<main id=\"rl-report\"></main>"));
  /* Self-contained: a CSP that allows no fetch, no external reference. */
  assert_non_null(strstr(p, "content=\"default-src 'none'; script-src "
                            "'unsafe-inline'; style-src 'unsafe-inline'"));
  assert_null(strstr(p, "<link"));
  assert_null(strstr(p, "<script src"));
  /* uPlot and its license */
  assert_non_null(strstr(p, "var uPlot="));
  assert_non_null(strstr(p, "Permission is hereby granted"));
  assert_non_null(strstr(p, ".uplot"));
  /* the report's own script and stylesheet */
  assert_non_null(strstr(p, "data-rl-rendered"));
  assert_non_null(strstr(p, "td.num"));

  /* The target, HTML-escaped in the title and header. */
  assert_non_null(strstr(p, "<title>rpcload report: http://h/&lt;/title&gt;"
                            "&lt;script&gt;alert(3)&lt;/script&gt;</title>"));
  assert_non_null(strstr(p, "<p class=\"target\">http://h/&lt;/title&gt;"));

  /* The JSON: strings escaped for a script element. */
  const char *j = r.json;
  assert_null(strchr(j, '<'));
  assert_null(strchr(j, '>'));
  assert_null(strchr(j, '&'));
  assert_non_null(strstr(j, "\"name\":\"/a\\u003c/script\\u003e\\u003cscript"
                            "\\u003ealert(1)\\u003c/script\\u003e\""));
  assert_non_null(strstr(j, "\"name\":\"/q?x=\\\"1\\\"\\u0026y='2'\\\\ "
                            "\\u003c!-- --\\u003e\""));
  assert_non_null(strstr(j, "\"error\":\"\\u003c/SCRIPT \\u003e\\u003cimg "
                            "src=x onerror=alert(2)\\u003e\""));
  assert_non_null(strstr(j, "\"command\":\"rpcload -u 30 \\\"\\u003c/script"
                            "\\u003e\\\"\""));
  /* No number JSON cannot read. */
  assert_null(strstr(j, "nan"));
  assert_null(strstr(j, "inf"));

  /* The run. */
  assert_non_null(strstr(j, "\"version\":\"" RL_VERSION "\""));
  assert_non_null(strstr(j, "\"uplot_version\":\""));
  assert_non_null(strstr(j, "\"users\":30,\"spawn_rate\":10,\"run_time_s\":3,"
                            "\"duration_s\":3,\"start_unix\":1700000000,"
                            "\"end_unix\":1700000003,\"start\":\"20"));
  assert_non_null(strstr(j, "\"plugin\":\"http1\""));
  assert_non_null(
      strstr(j, "\"cut_requests\":2,\"shape\":null,\"latency\":null}"));
  /* The stats, in Locust's order (by name: "/a<..." < "/hello" < "/q?..."),
   * times exact in ms, rates over the duration. */
  const char *a = strstr(j, "\"name\":\"/a\\u003c");
  const char *hello = strstr(j, "\"name\":\"/hello\"");
  const char *q = strstr(j, "\"name\":\"/q?");
  assert_true(a && hello && q && a < hello && hello < q);
  assert_non_null(strstr(j, "{\"type\":\"GET\",\"name\":\"/hello\","
                            "\"requests\":30,\"failures\":0,\"avg_ms\":2,"
                            "\"min_ms\":2,\"max_ms\":2,\"median_ms\":2,"
                            "\"avg_bytes\":100,\"rps\":10,\"fps\":0,"
                            "\"pct_ms\":[2,2,2,2,2,2,2,2,2,2,2]}"));
  assert_non_null(strstr(a, "\"requests\":15,\"failures\":0,\"avg_ms\":1.5,"
                            "\"min_ms\":1.5,\"max_ms\":1.5,\"median_ms\":1.5"));
  assert_non_null(strstr(q, "\"requests\":6,\"failures\":6,"));
  assert_non_null(strstr(q, "\"fps\":2,"));
  assert_non_null(strstr(j, "\"total\":{\"type\":\"\",\"name\":\"Aggregated\","
                            "\"requests\":51,\"failures\":6,"));
  assert_non_null(strstr(j, "\"percentiles\":[50,66,75,80,90,95,98,99,99.9,"
                            "99.99,100]"));
  /* The errors. */
  assert_non_null(strstr(j,
                         "\"errors\":[\n{\"occurrences\":6,\"type\":\"POST\","
                         "\"name\":\"/q?x="));
  assert_non_null(strstr(j, "\"first_s\":0,\"last_s\":2}]"));
  /* The history, as columns. */
  assert_non_null(strstr(j, "\"time\":[1700000001,1700000002,1700000003]"));
  assert_non_null(strstr(j, "\"elapsed_s\":[1,2,3]"));
  assert_non_null(strstr(j, "\"users\":[10,20,30]"));
  assert_non_null(strstr(j, "\"requests\":[17,34,51]"));
  assert_non_null(strstr(j, "\"failures\":[2,4,6]"));
  /* the window mixes 1.5, 2 and 4 ms: p50 is 2 ms to 3 digits, p99 the max */
  assert_non_null(strstr(j, "\"p50_ms\":[2.00"));
  assert_non_null(strstr(j, "\"p99_ms\":[4,4,4]"));

  report_free(&r);
  rl__history_free(&h);
  rl__stats_del(s);
}

/* No request, no history, no info: still a whole page, with empty tables
 * and nulls where there is no figure. */
static void test_empty_run(void **state) {
  (void)state;
  rl__stats *s = rl__stats_new();
  assert_non_null(rl__stats_entry_get(s, "GET", "/never"));
  report r = make_report(NULL, s, NULL);
  const char *j = r.json;
  assert_non_null(strstr(r.page, "<title>rpcload report</title>"));
  assert_non_null(
      strstr(j, "\"target\":\"\",\"plugin\":null,\"command\":null"));
  assert_non_null(strstr(j, "\"run_time_s\":null,\"duration_s\":0,"
                            "\"start_unix\":null,\"end_unix\":null,"
                            "\"start\":null,\"end\":null"));
  assert_non_null(strstr(j,
                         "{\"type\":\"GET\",\"name\":\"/never\","
                         "\"requests\":0,\"failures\":0,\"avg_ms\":null,"
                         "\"min_ms\":null,\"max_ms\":null,\"median_ms\":null,"
                         "\"avg_bytes\":0,\"rps\":null,\"fps\":null,"
                         "\"pct_ms\":[null,null,null,null,null,null,null,"
                         "null,null,null,null]}"));
  assert_non_null(strstr(j, "\"errors\":[]"));
  assert_non_null(strstr(j, "\"time\":[]"));
  assert_non_null(strstr(j, "\"p99_ms\":[]}"));
  assert_int_equal(count_ci(r.page, "</script"), 3);
  report_free(&r);
  rl__stats_del(s);
}

/* A second without requests leaves a gap (null) in the percentile lines,
 * and the start time comes from the history when not given. */
static void test_history_gaps_and_start(void **state) {
  (void)state;
  rl__stats *s = rl__stats_new();
  rl__history h;
  rl__history_init(&h);
  assert_int_equal(rl__history_tick(&h, s, 1700000101, 1, 1), 0);
  record_n(s, &h, "GET", "/x", 4, 7 * MS, NULL, 1);
  assert_int_equal(rl__history_tick(&h, s, 1700000102, 2, 2), 0);
  rl__report_html_info info = {.target = "t", .duration_s = 2.5};
  report r = make_report(&info, s, &h);
  assert_non_null(strstr(r.json, "\"p50_ms\":[null,7]"));
  assert_non_null(strstr(r.json, "\"start_unix\":1700000100,"
                                 "\"end_unix\":1700000102.5,"));
  assert_non_null(strstr(r.json, "\"rps\":1.6,\"fps\":0,"));
  report_free(&r);
  rl__history_free(&h);
  rl__stats_del(s);
}

/* ---- errors -------------------------------------------------------------- */

static void test_write_errors(void **state) {
  (void)state;
  rl__stats *s = rl__stats_new();
  /* A full device: the page is far larger than a stdio buffer. */
  FILE *full = fopen("/dev/full", "w");
  if (full) {
    assert_int_equal(rl__report_html_write(full, NULL, s, NULL), RL_ERR_IO);
    fclose(full);
    char err[256] = "";
    assert_int_equal(
        rl__report_html_save("/dev/full", NULL, s, NULL, err, sizeof err),
        RL_ERR_IO);
    assert_non_null(strstr(err, "/dev/full"));
  }
  char err[256] = "";
  assert_int_equal(rl__report_html_save("/nonexistent-dir/r.html", NULL, s,
                                        NULL, err, sizeof err),
                   RL_ERR_IO);
  assert_string_equal(err, "cannot write the HTML report "
                           "/nonexistent-dir/r.html: cannot create "
                           "/nonexistent-dir/r.html.tmp: No such file or "
                           "directory");
  assert_int_equal(
      rl__report_html_save("/nonexistent-dir/r.html", NULL, s, NULL, NULL, 0),
      RL_ERR_IO);

  /* And a good file: the same bytes as rl__report_html_write. */
  char path[] = "/tmp/rl_report_html_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(rl__report_html_save(path, NULL, s, NULL, err, sizeof err),
                   0);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long size = ftell(f);
  fclose(f);
  unlink(path);
  report r = make_report(NULL, s, NULL);
  assert_int_equal((size_t)size, r.len);
  report_free(&r);
  rl__stats_del(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_string),
      cmocka_unit_test(test_html_text),
      cmocka_unit_test(test_page_structure_and_escaping),
      cmocka_unit_test(test_empty_run),
      cmocka_unit_test(test_history_gaps_and_start),
      cmocka_unit_test(test_write_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
