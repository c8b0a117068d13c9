/* Durations and numbers as people type them on the command line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "base/units.h"

static uint64_t dur(const char *text) {
  uint64_t ns = 12345;
  assert_int_equal(rl__parse_duration(text, &ns), 0);
  return ns;
}

static void test_durations(void **state) {
  (void)state;
  assert_int_equal(dur("30s"), 30000000000ull);
  assert_int_equal(dur("90"), 90000000000ull);
  assert_int_equal(dur("0.5"), 500000000ull);
  assert_int_equal(dur("5m"), 300000000000ull);
  assert_int_equal(dur("3h"), 10800000000000ull);
  assert_int_equal(dur("1h30m"), 5400000000000ull);
  assert_int_equal(dur("1m30s"), 90000000000ull);
  assert_int_equal(dur("250ms"), 250000000ull);
  assert_int_equal(dur("1.5s"), 1500000000ull);
  assert_int_equal(dur("10us"), 10000ull);
}

static void test_bad_durations(void **state) {
  (void)state;
  uint64_t ns = 7;
  const char *bad[] = {"",    "s",   "10x", "-5",   "1h-3m",        "abc",
                       "1 s", "inf", "nan", "0x10", "99999999999h", "5M"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(rl__parse_duration(bad[i], &ns), RL_ERR_INVAL);
    assert_int_equal(ns, 7); /* untouched on error */
  }
  assert_int_equal(rl__parse_duration(NULL, &ns), RL_ERR_INVAL);
}

static void test_numbers(void **state) {
  (void)state;
  double d;
  long long v;
  assert_int_equal(rl__parse_number("0.25", &d), 0);
  assert_true(d == 0.25);
  assert_int_equal(rl__parse_number("-1", &d), RL_ERR_INVAL);
  assert_int_equal(rl__parse_number("1e3x", &d), RL_ERR_INVAL);
  assert_int_equal(rl__parse_number("inf", &d), RL_ERR_INVAL);
  assert_int_equal(rl__parse_int("42", 1, 100, &v), 0);
  assert_int_equal(v, 42);
  assert_int_equal(rl__parse_int("0", 1, 100, &v), RL_ERR_INVAL);
  assert_int_equal(rl__parse_int("101", 1, 100, &v), RL_ERR_INVAL);
  assert_int_equal(rl__parse_int("4.5", 1, 100, &v), RL_ERR_INVAL);
  assert_int_equal(rl__parse_int("", 1, 100, &v), RL_ERR_INVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_durations),
      cmocka_unit_test(test_bad_durations),
      cmocka_unit_test(test_numbers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
