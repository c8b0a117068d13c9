/* Connection backoff (engine/backoff.h): gRPC's rules and the short one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/clock.h"
#include "engine/backoff.h"

#define S RL__NS_PER_SEC

static void test_grpc_rules(void **state) {
  (void)state;
  const rl__backoff_policy *p = rl__backoff_for_scheme("grpc");
  assert_ptr_equal(p, &rl__backoff_grpc);
  assert_ptr_equal(rl__backoff_for_scheme("grpcs"), &rl__backoff_grpc);
  rl__backoff b = {0};
  uint64_t rng = 3;
  /* The first retry is due 1 s after the failed attempt started, whole. */
  assert_int_equal(rl__backoff_failed(p, &b, 10 * S, &rng), 11 * S);
  /* Then 1.6, 2.56, ... times 1 s, each within +-20%, up to 120 s. */
  double want = 1.0;
  int capped = 0;
  for (int i = 0; i < 30; i++) {
    want = want * 1.6 > 120 ? 120 : want * 1.6;
    uint64_t at = rl__backoff_failed(p, &b, 100 * S, &rng);
    double wait = (double)(at - 100 * S) / 1e9;
    assert_true(wait >= want * 0.8 - 1e-6 && wait <= want * 1.2 + 1e-6);
    capped |= want == 120;
  }
  assert_true(capped);
  assert_int_equal(b.current_ns, 120 * S);
  /* A connection that worked starts over. */
  rl__backoff_reset(&b);
  assert_int_equal(rl__backoff_failed(p, &b, 0, &rng), S);
}

static void test_short_rule_for_the_others(void **state) {
  (void)state;
  const rl__backoff_policy *p = rl__backoff_for_scheme("http");
  assert_ptr_equal(p, &rl__backoff_short);
  assert_ptr_equal(rl__backoff_for_scheme(NULL), &rl__backoff_short);
  rl__backoff b = {0};
  uint64_t rng = 5;
  assert_int_equal(rl__backoff_failed(p, &b, 0, &rng), S / 10);
  uint64_t prev = S / 10;
  for (int i = 0; i < 10; i++) {
    uint64_t w = rl__backoff_failed(p, &b, 0, &rng);
    uint64_t base = prev * 2 > 2 * S ? 2 * S : prev * 2;
    assert_true(w >= base * 8 / 10 && w <= base * 12 / 10);
    prev = base;
  }
  assert_int_equal(b.current_ns, 2 * S);
  assert_int_equal(b.failures, 11);
}

static void test_jitter_spreads_both_ways(void **state) {
  (void)state;
  uint64_t rng = 11, lo = UINT64_MAX, hi = 0;
  for (int i = 0; i < 1000; i++) {
    rl__backoff b = {.failures = 1, .current_ns = S};
    uint64_t w = rl__backoff_failed(&rl__backoff_grpc, &b, 0, &rng);
    lo = w < lo ? w : lo;
    hi = w > hi ? w : hi;
  }
  /* Around 1.6 s: both ends of +-20% are reached. */
  assert_true(lo < 1.6 * 0.82 * S && lo >= 1.6 * 0.8 * S - 1);
  assert_true(hi > 1.6 * 1.18 * S && hi <= 1.6 * 1.2 * S + 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_grpc_rules),
      cmocka_unit_test(test_short_rule_for_the_others),
      cmocka_unit_test(test_jitter_spreads_both_ways),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
