/*
 * Unit tests for the console report (src/report/console.c): text from the
 * network reaches the terminal with its control characters escaped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report/console.h"
#include "stats/stats.h"

static void expect_text(const char *in, const char *want) {
  char out[256];
  size_t n = rl__report_console_text(out, sizeof out, in);
  assert_string_equal(out, want);
  assert_int_equal(n, strlen(want));
}

static void test_text(void **state) {
  (void)state;
  expect_text("HTTP 500 Internal Server Error",
              "HTTP 500 Internal Server Error");
  expect_text("a\x1b[2J\x1b[31mred", "a\\x1b[2J\\x1b[31mred");
  expect_text("one\r\ntwo\tthree", "one\\r\\ntwo\\tthree");
  expect_text("bell\a del\x7f", "bell\\x07 del\\x7f");
  /* UTF-8 passes, C1 controls (CSI as U+009B) and stray bytes do not. */
  expect_text("caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac");
  expect_text("\xc2\x9b"
              "31m",
              "\\u009b31m");
  expect_text("\x9b"
              "31m \xff \xc3",
              "\\x9b31m \\xff \\xc3");
  expect_text("\xed\xa0\x80", "\\xed\\xa0\\x80"); /* a surrogate */
  expect_text("", "");
}

/* A cut falls between characters and escapes, never inside one. */
static void test_cut(void **state) {
  (void)state;
  char out[6];
  assert_int_equal(rl__report_console_text(out, sizeof out, "ab\x1b[c"), 2);
  assert_string_equal(out, "ab");
  assert_int_equal(rl__report_console_text(out, sizeof out, "abcd\xc3\xa9"), 4);
  assert_string_equal(out, "abcd");
  assert_int_equal(rl__report_console_text(out, 1, "abc"), 0);
  assert_string_equal(out, "");
}

/* No byte of the printed report is a control character but its line
 * ends, whatever the names and error texts hold. */
static void test_report_escaped(void **state) {
  (void)state;
  rl__stats *s = rl__stats_new();
  assert_non_null(s);
  rl__stats_entry *e = rl__stats_entry_get(s, "GET", "/x\x1b[1A");
  assert_non_null(e);
  assert_int_equal(
      rl__stats_record(s, e, 1000000, 0, "HTTP 500 \x1b[31mboom\r\n\x07", 0),
      0);
  rl__stats *total = rl__stats_new();
  assert_int_equal(rl__stats_merge(total, s), 0);
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  assert_non_null(mem);
  rl__stats_window w = {0, 1};
  rl__report_console_stats(mem, total, w, 0, 0);
  rl__report_console_percentiles(mem, total);
  rl__report_console_errors(mem, total);
  fclose(mem);
  for (size_t i = 0; i < len; i++)
    assert_true((unsigned char)text[i] >= 0x20 || text[i] == '\n');
  assert_non_null(
      strstr(text, "GET /x\\x1b[1A: HTTP 500 \\x1b[31mboom\\r\\n\\x07"));
  assert_non_null(strstr(text, "/x\\x1b[1A "));
  free(text);
  rl__stats_del(total);
  rl__stats_del(s);
}

/* The column of the n-th '|' of a line (-1 if it has fewer). */
static int bar_col(const char *line, int n) {
  for (int i = 0; line[i] && line[i] != '\n'; i++)
    if (line[i] == '|' && n-- == 0)
      return i;
  return -1;
}

/* A stats type of 8 characters or more (the type column's width) must
 * not push the rest of its row out of line with the header. */
static void test_long_type_keeps_the_columns(void **state) {
  (void)state;
  rl__stats *s = rl__stats_new();
  assert_non_null(s);
  const char *types[] = {"GET", "memcache", "memcached", "a_long_type_name"};
  for (size_t i = 0; i < 4; i++) {
    rl__stats_entry *e = rl__stats_entry_get(s, types[i], "/get");
    assert_non_null(e);
    assert_int_equal(rl__stats_record(s, e, 1000000, 0, NULL, 0), 0);
  }
  rl__stats *total = rl__stats_new();
  assert_int_equal(rl__stats_merge(total, s), 0);
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  assert_non_null(mem);
  rl__stats_window w = {0, 1};
  rl__report_console_stats(mem, total, w, 0, 0);
  fclose(mem);
  int want0 = bar_col(text, 0), want1 = bar_col(text, 1);
  assert_true(want0 > 0);
  for (const char *line = text; line && *line;) {
    if (strncmp(line, "--", 2) != 0 && line[0] != '\n') {
      if (bar_col(line, 0) != want0 || bar_col(line, 1) != want1)
        fail_msg("out of line with the header: %.*s", (int)strcspn(line, "\n"),
                 line);
    }
    line = strchr(line, '\n');
    line = line ? line + 1 : NULL;
  }
  free(text);
  rl__stats_del(total);
  rl__stats_del(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text),
      cmocka_unit_test(test_cut),
      cmocka_unit_test(test_report_escaped),
      cmocka_unit_test(test_long_type_keeps_the_columns),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
