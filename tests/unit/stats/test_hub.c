/*
 * Unit tests for the run's shared stats (src/stats/hub.c): what the span
 * learns from the merges (every worker's progress), from the start and
 * stop of a test and from resets, and the history rows a tick makes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "base/clock.h"
#include "stats/hub.h"

#define S 1000000000ull

typedef struct fixture {
  rl__stats *stats;
  rl__stats_hub hub;
  uint64_t t0;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->stats = rl__stats_new();
  assert_non_null(f->stats);
  rl__stats_hub_init(&f->hub, f->stats, 0);
  f->t0 = 1000 * S;
  assert_int_equal(rl__stats_hub_start(&f->hub, f->t0, 1700000000.0, 2), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  rl__stats_hub_free(&f->hub);
  rl__stats_del(f->stats);
  free(f);
  return 0;
}

/* One worker's merge of `n` requests ended in run second `sec`. */
static void merge(fixture *f, uint32_t worker, uint64_t sec, int n,
                  uint64_t through_ns) {
  rl__stats *local = rl__stats_new();
  assert_non_null(local);
  rl__stats_entry *e = rl__stats_entry_get(local, "GET", "/h");
  for (int i = 0; i < n; i++)
    assert_int_equal(rl__stats_record(local, e, S / 1000, 1, NULL, sec), 0);
  unsigned epoch = f->hub.epoch;
  assert_int_equal(
      rl__stats_hub_merge(&f->hub, local, 0, &epoch, worker, through_ns), 0);
  rl__stats_del(local);
}

/* The span's merge point is the least of the workers': a worker that has
 * not merged a second keeps it out of the current rates. */
static void test_merge_progress(void **state) {
  fixture *f = *state;
  const rl__history_span *sp = &f->hub.history.span;
  assert_int_equal(sp->merged_ns, f->t0);
  merge(f, 0, 0, 5, f->t0 + S + S / 10);
  assert_int_equal(sp->merged_ns, f->t0); /* worker 1 has said nothing */
  merge(f, 1, 0, 5, f->t0 + S / 2);
  assert_int_equal(sp->merged_ns, f->t0 + S / 2);
  merge(f, 1, 1, 5, f->t0 + 2 * S);
  assert_int_equal(sp->merged_ns, f->t0 + S + S / 10);
  merge(f, 0, 1, 5, UINT64_MAX); /* worker 0 has ended */
  assert_int_equal(sp->merged_ns, f->t0 + 2 * S);
  /* A worker index the hub does not know changes nothing. */
  merge(f, 7, 1, 1, f->t0);
  assert_int_equal(sp->merged_ns, f->t0 + 2 * S);
  assert_int_equal(rl__stats_total(f->stats)->num_requests, 21);
}

/* Covering: a start, a stop, a reset while running (from now) and while
 * stopped (nothing). */
static void test_cover_and_reset(void **state) {
  fixture *f = *state;
  const rl__history_span *sp = &f->hub.history.span;
  assert_int_equal(sp->from_ns, 0);
  rl__stats_hub_cover(&f->hub, 1, f->t0 + 3 * S);
  assert_int_equal(sp->from_ns, f->t0 + 3 * S);
  assert_int_equal(sp->to_ns, 0);
  uint64_t before = rl__now_ns();
  rl__stats_hub_reset(&f->hub);
  assert_true(sp->from_ns >= before);
  assert_int_equal(sp->run_start_ns, f->t0); /* kept */
  rl__stats_hub_cover(&f->hub, 0, sp->from_ns + 4 * S);
  assert_int_equal(sp->to_ns - sp->from_ns, 4 * S);
  rl__stats_hub_cover(&f->hub, 0, sp->from_ns + 9 * S); /* already stopped */
  assert_int_equal(sp->to_ns - sp->from_ns, 4 * S);
  rl__stats_hub_reset(&f->hub);
  assert_int_equal(sp->from_ns, 0);
  assert_int_equal(sp->to_ns, 0);
  rl__stats_hub_cover(&f->hub, 0, f->t0 + 20 * S); /* nothing to stop */
  assert_int_equal(sp->to_ns, 0);
}

/* A regular tick, half a second into a second, tells of that second's
 * start; a second tick in the same second adds nothing; the final tick
 * after a stop has every request. */
static void test_ticks(void **state) {
  fixture *f = *state;
  rl__stats_hub_cover(&f->hub, 1, f->t0);
  for (uint64_t sec = 0; sec < 3; sec++) {
    merge(f, 0, sec, 10, f->t0 + (sec + 1) * S);
    merge(f, 1, sec, 10, f->t0 + (sec + 1) * S);
  }
  merge(f, 0, 3, 4, f->t0 + 3 * S + S / 10); /* early in second 3 */
  assert_int_equal(rl__stats_hub_tick(&f->hub, f->t0 + 3 * S + S / 2, 2, 0), 0);
  const rl__history *h = &f->hub.history;
  assert_int_equal(h->n, 1);
  assert_int_equal(h->rows[0].elapsed_s, 3);
  assert_int_equal(h->rows[0].unix_time, 1700000003);
  assert_int_equal(h->rows[0].requests, 60); /* second 3's 4 come later */
  assert_true(h->rows[0].current_rps == 20.0);
  assert_true(h->rows[0].covered_s == 3.0);
  assert_int_equal(
      rl__stats_hub_tick(&f->hub, f->t0 + 3 * S + S * 7 / 10, 2, 0), 0);
  assert_int_equal(h->n, 1);
  rl__stats_hub_cover(&f->hub, 0, f->t0 + 3 * S + S * 3 / 10);
  assert_int_equal(
      rl__stats_hub_tick(&f->hub, f->t0 + 3 * S + S * 8 / 10, 0, 1), 0);
  assert_int_equal(h->n, 2);
  assert_int_equal(h->rows[1].elapsed_s, 4);
  assert_int_equal(h->rows[1].requests, 64);
  assert_true(h->rows[1].covered_s > 3.29 && h->rows[1].covered_s < 3.31);
  /* The next regular tick, in the second the final row named: none. */
  assert_int_equal(rl__stats_hub_tick(&f->hub, f->t0 + 4 * S + S / 2, 0, 0), 0);
  assert_int_equal(h->n, 2);
}

/* A run that ends just after a whole second: the final row takes that
 * second (timestamps follow one another) and still counts every request,
 * those of the second itself too; it covers up to the stop. */
static void test_final_in_next_second(void **state) {
  fixture *f = *state;
  rl__stats_hub_cover(&f->hub, 1, f->t0);
  for (uint64_t sec = 0; sec < 3; sec++) {
    merge(f, 0, sec, 10, f->t0 + (sec + 1) * S);
    merge(f, 1, sec, 10, f->t0 + (sec + 1) * S);
  }
  assert_int_equal(rl__stats_hub_tick(&f->hub, f->t0 + 3 * S + S / 2, 2, 0), 0);
  merge(f, 0, 3, 10, UINT64_MAX);
  merge(f, 1, 4, 3, UINT64_MAX); /* ended 4.05 s in */
  rl__stats_hub_cover(&f->hub, 0, f->t0 + 4 * S + S / 20);
  assert_int_equal(rl__stats_hub_tick(&f->hub, f->t0 + 4 * S + S / 10, 2, 1),
                   0);
  const rl__history *h = &f->hub.history;
  assert_int_equal(h->n, 2);
  assert_int_equal(h->rows[1].elapsed_s, 4);
  assert_int_equal(h->rows[1].unix_time, 1700000004);
  assert_int_equal(h->rows[1].requests, 73);
  assert_true(h->rows[1].covered_s > 4.04 && h->rows[1].covered_s < 4.06);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_merge_progress, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cover_and_reset, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ticks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_final_in_next_second, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
