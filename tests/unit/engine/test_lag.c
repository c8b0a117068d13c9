/* The client lag meter (engine/lag.h) on a loop the test drives: a
 * callback that blocks makes a long turn, counted with at least its own
 * length. Only lower bounds: a blocking call of N ms makes a turn of N ms
 * or more whatever else the machine does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "base/clock.h"
#include "engine/lag.h"

static void block_ms(unsigned ms) {
  uint64_t until = rl__now_ns() + ms * RL__NS_PER_MS;
  struct timespec ts = {0, 1000000};
  while (rl__now_ns() < until)
    nanosleep(&ts, NULL); /* the thread does nothing else meanwhile */
}

static int fired;

static void blocking_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  block_ms((unsigned)(uintptr_t)t->data);
  fired++;
}

/* Runs `loop` until `n` timers have fired (bounded by 5 s). */
static void run_until_fired(struct ev_loop *loop, int n) {
  uint64_t deadline = rl__now_ns() + 5 * RL__NS_PER_SEC;
  while (fired < n && rl__now_ns() < deadline)
    ev_run(loop, EVRUN_ONCE);
  assert_int_equal(fired, n);
}

static void test_a_blocking_callback_is_a_stall(void **state) {
  (void)state;
  struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
  rl__lag_meter m = {0};
  rl__lag_meter_start(&m, loop);
  ev_timer a, b;
  ev_timer_init(&a, blocking_cb, 0.01, 0.);
  a.data = (void *)(uintptr_t)60;
  ev_timer_init(&b, blocking_cb, 0.2, 0.);
  b.data = (void *)(uintptr_t)30;
  fired = 0;
  ev_timer_start(loop, &a);
  ev_timer_start(loop, &b);
  run_until_fired(loop, 2);
  ev_run(loop, EVRUN_NOWAIT); /* the turn that ran b ends */
  rl__lag lag;
  rl__lag_meter_read(&m, &lag);
  assert_true(lag.stalls >= 2);
  assert_true(lag.max_ns >= 60 * RL__NS_PER_MS);
  assert_true(lag.total_ns >= 90 * RL__NS_PER_MS);
  rl__lag_meter_stop(&m);
  ev_loop_destroy(loop);
}

static void test_sums_add_up(void **state) {
  (void)state;
  rl__lag a = {.stalls = 2, .total_ns = 30, .max_ns = 20};
  rl__lag b = {.stalls = 1, .total_ns = 50, .max_ns = 50};
  rl__lag_add(&a, &b);
  assert_int_equal(a.stalls, 3);
  assert_int_equal(a.total_ns, 80);
  assert_int_equal(a.max_ns, 50);
  rl__lag_meter never = {0};
  rl__lag_meter_stop(&never); /* never started: nothing to stop */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_blocking_callback_is_a_stall),
      cmocka_unit_test(test_sums_add_up),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
