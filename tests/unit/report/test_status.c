/*
 * The status code distribution (report/status.h), read off hand-made
 * stats: successes are OK, failures go by the status their text starts
 * with, the rest are "other"; a stream's per-message rows and other types
 * are left out; the console table and the JSON say the same.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report/json.h"
#include "report/status.h"
#include "stats/stats.h"

static const char *const names[] = {
    "OK",       "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
    "NOT_FOUND"};
static const rl__status_names grpc = {"grpc", names, 6};

static void record(rl__stats *s, const char *type, const char *name,
                   const char *error, int times) {
  rl__stats_entry *e = rl__stats_entry_get(s, type, name);
  assert_non_null(e);
  for (int i = 0; i < times; i++)
    assert_int_equal(rl__stats_record(s, e, 1000, 0, error, 0), 0);
}

static rl__stats *sample(void) {
  rl__stats *s = rl__stats_new();
  assert_non_null(s);
  record(s, "grpc", "/a.S/M", NULL, 7);
  record(s, "grpc", "/a.S/M", "DEADLINE_EXCEEDED: Deadline Exceeded", 2);
  record(s, "grpc", "/a.S/M", "NOT_FOUND: no such user", 3);
  record(s, "grpc", "/a.S/N", "NOT_FOUND", 1);
  record(s, "grpc", "/a.S/N", "expected status OK, got NOT_FOUND", 1);
  record(s, "grpc", "/a.S/N", "NOT_FOUNDLING: a longer word", 1);
  /* Not calls, not gRPC. */
  record(s, "grpc", "/a.S/M [recv]", NULL, 50);
  record(s, "grpc", "/a.S/M [send]", "NOT_FOUND: x", 5);
  record(s, "GET", "/x", "HTTP 404 Not Found", 4);
  return s;
}

static void test_rows(void **state) {
  (void)state;
  rl__stats *s = sample();
  rl__status_row rows[8];
  size_t n = rl__report_status_rows(s, &grpc, 1, rows, 8);
  assert_int_equal(n, 4);
  assert_string_equal(rows[0].status, "OK");
  assert_int_equal(rows[0].count, 7);
  assert_string_equal(rows[1].status, "NOT_FOUND");
  assert_int_equal(rows[1].count, 4);
  assert_string_equal(rows[2].status, "DEADLINE_EXCEEDED");
  assert_int_equal(rows[2].count, 2);
  assert_string_equal(rows[3].status, "other");
  assert_int_equal(rows[3].count, 2);
  assert_string_equal(rows[3].type, "grpc");
  /* Room for two: the count says four. */
  assert_int_equal(rl__report_status_rows(s, &grpc, 1, rows, 2), 4);
  assert_string_equal(rows[1].status, "NOT_FOUND");
  rl__stats_del(s);
}

static void test_console_and_json(void **state) {
  (void)state;
  rl__stats *s = sample();
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  assert_non_null(mem);
  rl__report_console_status(mem, s, &grpc, 1);
  fclose(mem);
  assert_non_null(strstr(text, "Status code distribution\n"));
  assert_non_null(strstr(text, "grpc     OK                                  7"
                               "   46.67%\n"));
  assert_non_null(strstr(text, "grpc     other"));
  free(text);
  json_t *j = rl__report_json_status(s, &grpc, 1);
  assert_non_null(j);
  assert_int_equal(json_array_size(j), 4);
  json_t *first = json_array_get(j, 0);
  assert_string_equal(json_string_value(json_object_get(first, "status")),
                      "OK");
  assert_int_equal(json_integer_value(json_object_get(first, "count")), 7);
  json_decref(j);
  /* No call of the type: nothing printed. */
  rl__stats *empty = rl__stats_new();
  text = NULL;
  mem = open_memstream(&text, &len);
  rl__report_console_status(mem, empty, &grpc, 1);
  fclose(mem);
  assert_int_equal(len, 0);
  free(text);
  rl__stats_del(empty);
  rl__stats_del(s);
}

/* The JSON report has "status_codes" when told the status names. */
static void test_json_report_key(void **state) {
  (void)state;
  rl__stats *s = sample();
  rl__report_json_info info = {.duration_s = 1, .status = &grpc, .n_status = 1};
  json_t *with = rl__report_json(s, NULL, &info);
  assert_non_null(with);
  json_t *codes = json_object_get(with, "status_codes");
  assert_true(json_is_array(codes));
  assert_int_equal(json_array_size(codes), 4);
  info.n_status = 0;
  json_t *without = rl__report_json(s, NULL, &info);
  assert_null(json_object_get(without, "status_codes"));
  json_decref(with);
  json_decref(without);
  rl__stats_del(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rows),
      cmocka_unit_test(test_console_and_json),
      cmocka_unit_test(test_json_report_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
