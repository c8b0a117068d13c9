/* The spawn schedule and the dealing of users to threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/spawn.h"

static void test_rate(void **state) {
  (void)state;
  /* -u 100 -r 10: one at once, then ten a second, all in by 9.9 s. */
  assert_int_equal(rl__spawn_due(100, 10, 0), 1);
  assert_int_equal(rl__spawn_due(100, 10, 0.05), 1);
  assert_int_equal(rl__spawn_due(100, 10, 0.1), 2);
  assert_int_equal(rl__spawn_due(100, 10, 1.0), 11);
  assert_int_equal(rl__spawn_due(100, 10, 9.9), 100);
  assert_int_equal(rl__spawn_due(100, 10, 500), 100);
  /* Fractional rates: -r 0.5 is one user every two seconds. */
  assert_int_equal(rl__spawn_due(5, 0.5, 1.9), 1);
  assert_int_equal(rl__spawn_due(5, 0.5, 2.0), 2);
  /* Never more than asked, even for a huge rate. */
  assert_int_equal(rl__spawn_due(3, 1e9, 0.001), 3);
}

static void test_share_deals_round_robin(void **state) {
  (void)state;
  for (uint32_t n = 1; n <= 7; n++)
    for (uint32_t due = 0; due <= 50; due++) {
      uint32_t total = 0, lo = UINT32_MAX, hi = 0;
      for (uint32_t k = 0; k < n; k++) {
        uint32_t s = rl__spawn_share(due, k, n);
        /* user i goes to thread i % n */
        uint32_t expect = 0;
        for (uint32_t i = 0; i < due; i++)
          expect += i % n == k;
        assert_int_equal(s, expect);
        total += s;
        lo = s < lo ? s : lo;
        hi = s > hi ? s : hi;
      }
      assert_int_equal(total, due);
      assert_true(hi - lo <= 1); /* spread evenly */
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rate),
      cmocka_unit_test(test_share_deals_round_robin),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
