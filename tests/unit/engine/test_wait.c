/* Wait strategies, as Locust defines them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "engine/wait.h"

#define S 1000000000ull

static rl__wait parse_ok(const char *spec) {
  rl__wait w;
  char err[256] = "";
  int rc = rl__wait_parse(spec, &w, err, sizeof err);
  if (rc)
    fail_msg("'%s' refused: %s", spec, err);
  return w;
}

static void test_constant(void **state) {
  (void)state;
  rl__wait w = parse_ok("constant:1.5");
  uint64_t rng = 1;
  assert_int_equal(rl__wait_next(&w, 0, 10 * S, &rng), 1500000000ull);
  assert_false(rl__wait_is_paced(&w));
  w = parse_ok("none");
  assert_int_equal(rl__wait_next(&w, 0, 10 * S, &rng), 0);
}

static void test_between_is_uniform_in_range(void **state) {
  (void)state;
  rl__wait w = parse_ok("between:0.5,2");
  uint64_t rng = 42, min = UINT64_MAX, max = 0;
  double sum = 0;
  const int n = 100000;
  for (int i = 0; i < n; i++) {
    uint64_t v = rl__wait_next(&w, 0, 0, &rng);
    assert_true(v >= S / 2 && v <= 2 * S);
    min = v < min ? v : min;
    max = v > max ? v : max;
    sum += (double)v;
  }
  /* Uniform on [0.5, 2]: mean 1.25 s, and both ends are reached. */
  assert_true(sum / n > 1.24e9 && sum / n < 1.26e9);
  assert_true(min < S / 2 + S / 100);
  assert_true(max > 2 * S - S / 100);
  /* The same seed gives the same waits (--seed). */
  uint64_t a = 7, b = 7;
  for (int i = 0; i < 100; i++)
    assert_int_equal(rl__wait_next(&w, 0, 0, &a), rl__wait_next(&w, 0, 0, &b));
}

static void test_pacing_counts_from_task_start(void **state) {
  (void)state;
  rl__wait w = parse_ok("pacing:2");
  uint64_t rng = 1;
  assert_true(rl__wait_is_paced(&w));
  /* A task started at 10 s that took 0.5 s waits 1.5 s. */
  assert_int_equal(rl__wait_next(&w, 10 * S, 10 * S + S / 2, &rng), 3 * S / 2);
  /* One that overran its period does not wait. */
  assert_int_equal(rl__wait_next(&w, 10 * S, 13 * S, &rng), 0);
}

static void test_throughput_is_pacing_of_inverse(void **state) {
  (void)state;
  rl__wait w = parse_ok("throughput:4");
  uint64_t rng = 1;
  assert_int_equal(w.kind, RL__WAIT_PACING);
  assert_int_equal(w.a_ns, S / 4);
  assert_int_equal(rl__wait_next(&w, 0, S / 10, &rng), S / 4 - S / 10);
}

static void test_bad_specs(void **state) {
  (void)state;
  const char *bad[] = {"",           "constant",    "constant:",
                       "constant:x", "constant:-1", "between:2,1",
                       "between:1",  "between:a,b", "throughput:0",
                       "pacing:0",   "sometimes:1", "none:1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rl__wait w;
    char err[256] = "";
    assert_int_equal(rl__wait_parse(bad[i], &w, err, sizeof err), RL_ERR_INVAL);
    assert_true(strlen(err) > 10); /* a reason for the person who typed it */
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_constant),
      cmocka_unit_test(test_between_is_uniform_in_range),
      cmocka_unit_test(test_pacing_counts_from_task_start),
      cmocka_unit_test(test_throughput_is_pacing_of_inverse),
      cmocka_unit_test(test_bad_specs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
