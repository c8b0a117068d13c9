/*
 * Unit tests for what a master's web UI hands its loop (src/cluster/
 * steer.c): a swarm is taken once with its numbers and host, a later one
 * replaces it; a stop returns when the master says it is done (from
 * another thread), times out when it never does, returns at once when the
 * master has gone, and drops a swarm not yet taken; the workers published
 * are what the web UI reads. No timings asserted: every wait is bounded.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "cluster/steer.h"

static void test_swarm_taken_once(void **state) {
  (void)state;
  rl__cluster_steer s;
  rl__cluster_steer_init(&s);
  uint32_t users = 0;
  double rate = 0;
  char *host = NULL;
  assert_int_equal(rl__cluster_steer_take_swarm(&s, &users, &rate, &host), 0);
  s.remote.swarm(s.remote.arg, 5, 2.5, "http://a");
  s.remote.swarm(s.remote.arg, 7, 3.5, "http://b"); /* the latest wins */
  assert_int_equal(rl__cluster_steer_take_swarm(&s, &users, &rate, &host), 1);
  assert_int_equal(users, 7);
  assert_true(rate == 3.5);
  assert_string_equal(host, "http://b");
  free(host);
  host = NULL;
  assert_int_equal(rl__cluster_steer_take_swarm(&s, &users, &rate, &host), 0);
  s.remote.swarm(s.remote.arg, 1, 1, NULL); /* the workers' own host */
  assert_int_equal(rl__cluster_steer_take_swarm(&s, &users, &rate, &host), 1);
  assert_null(host);
  rl__cluster_steer_free(&s);
}

static void count_wake(void *arg) { (*(int *)arg)++; }

/* The master's loop blocks until its next deadline: a swarm or a stop
 * asked wakes it, and nothing after the wake-up is cleared. */
static void test_asks_wake_the_master(void **state) {
  (void)state;
  rl__cluster_steer s;
  rl__cluster_steer_init(&s);
  int woken = 0;
  s.remote.swarm(s.remote.arg, 1, 1, NULL); /* before: no wake-up set */
  rl__cluster_steer_set_wake(&s, count_wake, &woken);
  s.remote.swarm(s.remote.arg, 2, 1, NULL);
  assert_int_equal(woken, 1);
  rl__cluster_steer_close(&s); /* the stop below returns at once */
  assert_int_not_equal(s.remote.stop(s.remote.arg, 5), 0);
  assert_int_equal(woken, 2);
  rl__cluster_steer_set_wake(&s, NULL, NULL);
  s.remote.swarm(s.remote.arg, 3, 1, NULL);
  assert_int_equal(woken, 2);
  rl__cluster_steer_free(&s);
}

/* The master's loop, on its own thread: finishes every stop it sees
 * (bounded: 5 s). */
static void *master_thread(void *arg) {
  rl__cluster_steer *s = arg;
  for (int i = 0; i < 5000; i++) {
    uint64_t asked = rl__cluster_steer_stops_asked(s);
    if (asked > 0) {
      rl__cluster_steer_stop_done(s, asked);
      return NULL;
    }
    struct timespec ms = {0, 1000000L};
    nanosleep(&ms, NULL);
  }
  return NULL;
}

static void test_stop_waits_for_the_master(void **state) {
  (void)state;
  rl__cluster_steer s;
  rl__cluster_steer_init(&s);
  s.remote.swarm(s.remote.arg, 5, 1, NULL);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, master_thread, &s), 0);
  assert_int_equal(s.remote.stop(s.remote.arg, 10), 0);
  pthread_join(t, NULL);
  /* The swarm asked before the stop is not started after it. */
  uint32_t users = 0;
  double rate = 0;
  char *host = NULL;
  assert_int_equal(rl__cluster_steer_take_swarm(&s, &users, &rate, &host), 0);
  rl__cluster_steer_free(&s);
}

static void test_stop_times_out_or_ends_with_the_master(void **state) {
  (void)state;
  rl__cluster_steer s;
  rl__cluster_steer_init(&s);
  /* Nobody finishes it. */
  assert_int_equal(s.remote.stop(s.remote.arg, 0.05), RL_ERR_TIMEOUT);
  /* The master has gone: no wait. */
  rl__cluster_steer_close(&s);
  assert_int_equal(s.remote.stop(s.remote.arg, 3600), RL_ERR_TIMEOUT);
  rl__cluster_steer_free(&s);
}

static void test_workers_published(void **state) {
  (void)state;
  rl__cluster_steer s;
  rl__cluster_steer_init(&s);
  rl__web_worker out[2];
  assert_int_equal(s.remote.workers(s.remote.arg, out, 2), 0);
  rl__web_worker w[3] = {{.id = "a_1", .state = "running", .users = 3},
                         {.id = "b_2", .state = "missing", .cpu = 12.5},
                         {.id = "c_3", .state = "ready"}};
  rl__cluster_steer_publish(&s, w, 3);
  /* All three counted, two copied (the caller's room). */
  assert_int_equal(s.remote.workers(s.remote.arg, out, 2), 3);
  assert_string_equal(out[0].id, "a_1");
  assert_int_equal(out[0].users, 3);
  assert_string_equal(out[1].state, "missing");
  assert_true(out[1].cpu == 12.5);
  rl__cluster_steer_publish(&s, NULL, 0);
  assert_int_equal(s.remote.workers(s.remote.arg, out, 2), 0);
  rl__cluster_steer_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_swarm_taken_once),
      cmocka_unit_test(test_asks_wake_the_master),
      cmocka_unit_test(test_stop_waits_for_the_master),
      cmocka_unit_test(test_stop_times_out_or_ends_with_the_master),
      cmocka_unit_test(test_workers_published),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
