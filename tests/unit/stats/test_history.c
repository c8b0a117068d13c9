/* The per-second history: totals, current rates, and percentiles over the
 * last RL__HISTORY_WINDOW seconds only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "stats/history.h"

#define MS 1000000ull

/* One second of a worker's life: `n` requests of `rt_ns`, merged into the
 * run's stats and the history's current second, as the worker does. */
static void second(rl__stats *run, rl__history *h, uint64_t sec, int n,
                   uint64_t rt_ns, int fail) {
  rl__stats *local = rl__stats_new();
  rl__stats_entry *e = rl__stats_entry_get(local, "GET", "/x");
  for (int i = 0; i < n; i++)
    rl__stats_record(local, e, rt_ns, 100, fail ? "boom" : NULL, sec);
  assert_int_equal(rl__stats_merge(run, local), 0);
  assert_int_equal(rl__history_add_times(h, &e->hist), 0);
  rl__stats_del(local);
}

static void test_rows_and_window(void **state) {
  (void)state;
  rl__stats *run = rl__stats_new();
  rl__history h;
  rl__history_init(&h);
  /* Second 0: slow requests (500 ms); seconds 1..10: fast ones (2 ms). */
  second(run, &h, 0, 10, 500 * MS, 0);
  assert_int_equal(rl__history_tick(&h, run, 1700000000, 1, 3), 0);
  assert_int_equal(h.n, 1);
  assert_int_equal(h.rows[0].requests, 10);
  assert_int_equal(h.rows[0].users, 3);
  assert_int_equal(h.rows[0].unix_time, 1700000000);
  assert_true(h.rows[0].p50_ns >= 500 * MS && h.rows[0].p50_ns < 501 * MS);
  for (uint64_t s = 1; s <= 10; s++) {
    second(run, &h, s, 20, 2 * MS, s == 10);
    assert_int_equal(rl__history_tick(&h, run, 1700000000 + s, s + 1, 3), 0);
  }
  assert_int_equal(h.n, 11);
  const rl__history_row *last = &h.rows[10];
  assert_int_equal(last->requests, 10 + 200);
  assert_int_equal(last->failures, 20);
  /* The 500 ms second has left the 10-second window: even p100 is fast. */
  assert_true(last->p100_ns < 3 * MS);
  assert_true(last->p50_ns >= 2 * MS);
  /* ... but the totals still know about it. */
  assert_true(last->max_ns >= 500 * MS);
  /* Nine seconds after the slow one, it was still in the window. */
  assert_true(h.rows[9].p100_ns >= 500 * MS);
  /* Current rate: 20 per second over the window. */
  assert_true(last->current_rps > 19 && last->current_rps < 21.5);
  assert_true(last->avg_bytes > 99.9 && last->avg_bytes < 100.1);
  rl__history_free(&h);
  rl__stats_del(run);
}

static void test_empty_seconds(void **state) {
  (void)state;
  rl__stats *run = rl__stats_new();
  rl__history h;
  rl__history_init(&h);
  for (int s = 0; s < 3; s++)
    assert_int_equal(rl__history_tick(&h, run, 0, (uint64_t)s, 0), 0);
  assert_int_equal(h.n, 3);
  assert_int_equal(h.rows[2].requests, 0);
  assert_int_equal(h.rows[2].p50_ns, 0);
  rl__history_free(&h);
  rl__stats_del(run);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rows_and_window),
      cmocka_unit_test(test_empty_seconds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
