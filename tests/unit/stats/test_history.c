/* The per-second history: totals, current rates, and percentiles over the
 * last RL__HISTORY_WINDOW seconds only. */
#include <math.h>
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

#define S 1000000000ull

/* The span a hub keeps: current rates over whole seconds between the
 * start (or reset) and the earliest of now, the stop and the merges;
 * covered time from the start to the stop or now. A reset keeps it. */
static void test_span(void **state) {
  (void)state;
  rl__history h;
  rl__history_init(&h);
  const uint64_t t0 = 1000 * S;
  rl__stats_window w = rl__history_window(&h, t0);
  assert_int_equal(w.end_sec, 0); /* no span: covers nothing */
  assert_true(rl__history_covered_s(&h, t0) == 0);
  assert_true(rl__history_from_unix(&h) == 0);

  h.span.run_start_ns = t0;
  h.span.run_start_unix = 1700000000.25;
  h.span.from_ns = t0 + 2 * S + S / 2; /* a start 2.5 s in */
  h.span.merged_ns = t0 + 7 * S + S / 5;
  w = rl__history_window(&h, t0 + 9 * S + 9 * S / 10);
  assert_int_equal(w.from_sec, 3); /* second 2 is not whole */
  assert_int_equal(w.end_sec, 7);  /* 7 is not merged yet */
  assert_true(fabs(rl__history_covered_s(&h, t0 + 10 * S) - 7.5) < 1e-9);
  assert_true(fabs(rl__history_from_unix(&h) - 1700000002.75) < 1e-6);
  h.span.to_ns = t0 + 6 * S + S / 2; /* stopped at 6.5 s */
  w = rl__history_window(&h, t0 + 20 * S);
  assert_int_equal(w.end_sec, 6);
  assert_true(fabs(rl__history_covered_s(&h, t0 + 20 * S) - 4.0) < 1e-9);
  /* Just started: no whole second yet. */
  h.span.to_ns = 0;
  h.span.merged_ns = 0;
  w = rl__history_window(&h, t0 + 2 * S + 9 * S / 10);
  assert_true(w.end_sec <= w.from_sec);

  rl__history_reset(&h);
  assert_int_equal(h.span.run_start_ns, t0);
  assert_int_equal(h.span.from_ns, t0 + 2 * S + S / 2);
  rl__history_free(&h);
}

/* A row under a span: its current rate averages only whole seconds since
 * the start, its covered time runs from the start, its totals stop at
 * its second. */
static void test_row_in_span(void **state) {
  (void)state;
  rl__stats *run = rl__stats_new();
  rl__history h;
  rl__history_init(&h);
  h.span.run_start_ns = 1000 * S;
  h.span.from_ns = h.span.run_start_ns + 3 * S + S / 2; /* started at 3.5 s */
  for (uint64_t sec = 3; sec <= 7; sec++)
    second(run, &h, sec, 10, MS, 0);
  /* The row of second 7: seconds 4, 5 and 6 are whole and in; second 7's
   * requests (already merged) come after it. */
  assert_int_equal(rl__history_tick(&h, run, 1700000007, 7, 5), 0);
  const rl__history_row *r = &h.rows[0];
  assert_true(r->current_rps == 10.0);
  assert_int_equal(r->requests, 40);
  assert_true(fabs(r->covered_s - 3.5) < 1e-9);
  rl__history_free(&h);
  rl__stats_del(run);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rows_and_window),
      cmocka_unit_test(test_empty_seconds),
      cmocka_unit_test(test_span),
      cmocka_unit_test(test_row_in_span),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
