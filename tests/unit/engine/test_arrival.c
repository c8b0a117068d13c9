/* engine/arrival.c: the open model's schedule, shared by threads. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "engine/arrival.h"

#define S 1000000000ull

/* Arrivals of thread k of n before `until` ns. */
static uint64_t count_until(const rl__profile *rate, uint32_t k, uint32_t n,
                            int kind, uint64_t until, uint64_t *last) {
  rl__arrivals a;
  rl__arrivals_init(&a, rate, k, n, kind, 42);
  uint64_t c = 0, prev = 0;
  while (rl__arrivals_next(&a) < until) {
    assert_true(rl__arrivals_next(&a) >= prev); /* never backwards */
    prev = rl__arrivals_next(&a);
    c++;
    rl__arrivals_pop(&a);
  }
  if (last)
    *last = prev;
  return c;
}

static void test_even_interleaves_threads(void **state) {
  (void)state;
  rl__profile rate;
  rl__profile_constant(&rate, 1000); /* 1000/s: one every ms */
  /* One thread: arrivals at 0.5, 1.5, 2.5 ms... */
  rl__arrivals a;
  rl__arrivals_init(&a, &rate, 0, 1, RL__ARRIVALS_EVEN, 1);
  assert_int_equal(rl__arrivals_next(&a), 500000);
  rl__arrivals_pop(&a);
  assert_int_equal(rl__arrivals_next(&a), 1500000);
  /* Two threads share one schedule: thread 1 takes the odd ones. */
  rl__arrivals_init(&a, &rate, 1, 2, RL__ARRIVALS_EVEN, 1);
  assert_int_equal(rl__arrivals_next(&a), 1500000);
  rl__arrivals_pop(&a);
  assert_int_equal(rl__arrivals_next(&a), 3500000);
  /* Over 10 s, 3 threads make exactly the run's 10,000. */
  uint64_t total = 0;
  for (uint32_t k = 0; k < 3; k++)
    total += count_until(&rate, k, 3, RL__ARRIVALS_EVEN, 10 * S, NULL);
  assert_int_equal(total, 10000);
}

static void test_poisson_mean_rate(void **state) {
  (void)state;
  rl__profile rate;
  rl__profile_constant(&rate, 2000);
  uint64_t total = 0;
  for (uint32_t k = 0; k < 2; k++)
    total += count_until(&rate, k, 2, RL__ARRIVALS_POISSON, 20 * S, NULL);
  /* 40,000 expected; a Poisson count's sd is 200: within 5 sd. */
  if (llabs((long long)total - 40000) > 1000)
    fail_msg("poisson made %llu arrivals in 20 s at 2000/s",
             (unsigned long long)total);
  /* Same seed, same schedule. */
  assert_int_equal(count_until(&rate, 0, 2, RL__ARRIVALS_POISSON, S, NULL),
                   count_until(&rate, 0, 2, RL__ARRIVALS_POISSON, S, NULL));
}

static void test_ramps_and_the_end(void **state) {
  (void)state;
  rl__profile rate;
  char err[128];
  /* Up to 1000/s in 10 s, hold 10 s, down to 0 in 10 s: 20,000 in all,
   * and none after. */
  assert_int_equal(rl__profile_parse("10s:1000,10s:1000,10s:0", 0, 0, &rate,
                                     err, sizeof err),
                   0);
  uint64_t last = 0;
  assert_int_equal(
      count_until(&rate, 0, 1, RL__ARRIVALS_EVEN, UINT64_MAX, &last), 20000);
  assert_true(last <= 30 * S);
  /* The first 10 s hold a quarter of them. */
  assert_int_equal(count_until(&rate, 0, 1, RL__ARRIVALS_EVEN, 10 * S, NULL),
                   5000);
  rl__profile_free(&rate);
}

static void test_parse(void **state) {
  (void)state;
  int kind = -1;
  assert_int_equal(rl__arrivals_parse("even", &kind), 0);
  assert_int_equal(kind, RL__ARRIVALS_EVEN);
  assert_int_equal(rl__arrivals_parse("poisson", &kind), 0);
  assert_int_equal(kind, RL__ARRIVALS_POISSON);
  assert_int_equal(rl__arrivals_parse("uniform", &kind), RL_ERR_INVAL);
  assert_int_equal(rl__arrivals_parse(NULL, &kind), RL_ERR_INVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_even_interleaves_threads),
      cmocka_unit_test(test_poisson_mean_rate),
      cmocka_unit_test(test_ramps_and_the_end),
      cmocka_unit_test(test_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
