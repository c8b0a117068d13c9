/*
 * Unit tests for the cluster's ZeroMQ sockets (src/cluster/wire.c) on
 * loopback, ports the kernel picks: a worker's frame reaches the master
 * with the worker's id, the master's reaches that worker, an unknown
 * worker is an error, a port in use says so, and node ids look like
 * Locust's; a wake-up from another thread ends a wait that has no
 * deadline. Every wait is bounded (5 s; the wake-up's, by the test's).
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

#include "cluster/wire.h"

static void test_round_trip(void **state) {
  (void)state;
  char err[256] = "";
  rl__wire *master = NULL, *worker = NULL;
  assert_int_equal(rl__wire_bind("127.0.0.1", 0, &master, err, sizeof(err)), 0);
  int port = rl__wire_port(master);
  assert_true(port > 0);
  assert_true(rl__wire_fd(master) >= 0);
  assert_int_equal(rl__wire_connect("127.0.0.1", port, "host_abc", &worker, err,
                                    sizeof(err)),
                   0);
  assert_int_equal(rl__wire_send(worker, NULL, "hello", 5), 0);
  char *from = NULL;
  void *frame = NULL;
  size_t len = 0;
  assert_int_equal(rl__wire_recv(master, 5000, &from, &frame, &len), 0);
  assert_string_equal(from, "host_abc");
  assert_int_equal(len, 5);
  assert_memory_equal(frame, "hello", 5);
  free(from);
  free(frame);

  assert_int_equal(rl__wire_send(master, "host_abc", "back", 4), 0);
  assert_int_equal(rl__wire_recv(worker, 5000, NULL, &frame, &len), 0);
  assert_int_equal(len, 4);
  assert_memory_equal(frame, "back", 4);
  free(frame);

  /* Nothing more: a timeout, not a hang. */
  assert_int_equal(rl__wire_recv(worker, 10, NULL, &frame, &len),
                   RL_ERR_TIMEOUT);
  assert_int_equal(rl__wire_recv(master, 0, &from, &frame, &len),
                   RL_ERR_TIMEOUT);
  /* To a worker that never connected. */
  assert_int_equal(rl__wire_send(master, "nobody", "x", 1), RL_ERR_NOTFOUND);
  rl__wire_del(worker, 0);
  rl__wire_del(master, 0);
}

static void *wake_later(void *arg) {
  struct timespec ms20 = {0, 20000000L};
  nanosleep(&ms20, NULL);
  rl__wire_wake(arg);
  return NULL;
}

/* A master's loop waits until its next deadline; the web UI, a custom
 * message sent or a signal ends the wait (rl__wire_wake). */
static void test_wake_ends_a_wait(void **state) {
  (void)state;
  char err[256] = "";
  rl__wire *master = NULL, *worker = NULL;
  assert_int_equal(rl__wire_bind("127.0.0.1", 0, &master, err, sizeof(err)), 0);
  char *from = NULL;
  void *frame = NULL;
  size_t len = 0;
  /* Woken before the wait: it returns at once, nothing received. */
  rl__wire_wake(master);
  rl__wire_wake(master);
  assert_int_equal(rl__wire_recv(master, -1, &from, &frame, &len),
                   RL_ERR_TIMEOUT);
  assert_null(frame);
  /* Both wake-ups were taken by that wait. */
  assert_int_equal(rl__wire_recv(master, 10, &from, &frame, &len),
                   RL_ERR_TIMEOUT);
  /* Woken from another thread while waiting with no deadline. */
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, wake_later, master), 0);
  assert_int_equal(rl__wire_recv(master, -1, &from, &frame, &len),
                   RL_ERR_TIMEOUT);
  pthread_join(t, NULL);
  /* A frame still comes after a wake-up. */
  assert_int_equal(rl__wire_connect("127.0.0.1", rl__wire_port(master),
                                    "host_w", &worker, err, sizeof(err)),
                   0);
  rl__wire_wake(master);
  assert_int_equal(rl__wire_send(worker, NULL, "hi", 2), 0);
  int rc = rl__wire_recv(master, 5000, &from, &frame, &len);
  if (rc == RL_ERR_TIMEOUT) /* the wake-up came first */
    rc = rl__wire_recv(master, 5000, &from, &frame, &len);
  assert_int_equal(rc, 0);
  assert_string_equal(from, "host_w");
  assert_memory_equal(frame, "hi", 2);
  free(from);
  free(frame);
  rl__wire_del(worker, 0);
  rl__wire_del(master, 0);
}

/* A worker's socket says when its master's connection is gone (killed:
 * closed at once) and not back: rl__wire_lost_s, from the monitor. */
static void test_lost_master(void **state) {
  (void)state;
  char err[256] = "";
  rl__wire *master = NULL, *worker = NULL;
  assert_int_equal(rl__wire_bind("127.0.0.1", 0, &master, err, sizeof(err)), 0);
  assert_int_equal(rl__wire_connect("127.0.0.1", rl__wire_port(master),
                                    "host_l", &worker, err, sizeof(err)),
                   0);
  char *from = NULL;
  void *frame = NULL;
  size_t len = 0;
  assert_int_equal(rl__wire_send(worker, NULL, "hi", 2), 0);
  assert_int_equal(rl__wire_recv(master, 5000, &from, &frame, &len), 0);
  free(from);
  free(frame);
  assert_true(rl__wire_lost_s(worker) == 0); /* connected */
  assert_true(rl__wire_lost_s(master) == 0); /* a master's: always 0 */
  rl__wire_del(master, 0);
  /* Bounded: 50 waits of at most 100 ms for the monitor's word. */
  double lost = 0;
  for (int i = 0; i < 50 && lost == 0; i++) {
    rl__wire_recv(worker, 100, NULL, &frame, &len);
    lost = rl__wire_lost_s(worker);
  }
  assert_true(lost > 0);
  rl__wire_del(worker, 0);
}

static void test_port_in_use(void **state) {
  (void)state;
  char err[256] = "";
  rl__wire *a = NULL, *b = NULL;
  assert_int_equal(rl__wire_bind("127.0.0.1", 0, &a, err, sizeof(err)), 0);
  int rc = rl__wire_bind("127.0.0.1", rl__wire_port(a), &b, err, sizeof(err));
  assert_int_equal(rc, RL_ERR_IO);
  assert_null(b);
  assert_non_null(strstr(err, "in use"));
  assert_non_null(strstr(err, "127.0.0.1"));
  rl__wire_del(a, 0);

  assert_int_equal(rl__wire_connect("127.0.0.1", 0, "x", &b, err, sizeof(err)),
                   RL_ERR_INVAL);
  assert_int_equal(
      rl__wire_connect("127.0.0.1", 5557, "", &b, err, sizeof(err)),
      RL_ERR_INVAL);
}

static void test_node_id(void **state) {
  (void)state;
  char *a = rl__wire_node_id_new(), *b = rl__wire_node_id_new();
  assert_non_null(a);
  assert_non_null(b);
  assert_string_not_equal(a, b);
  const char *us = strrchr(a, '_');
  assert_non_null(us);
  assert_int_equal(strlen(us + 1), 32);
  assert_int_equal(strspn(us + 1, "0123456789abcdef"), 32);
  free(a);
  free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_wake_ends_a_wait),
      cmocka_unit_test(test_lost_master),
      cmocka_unit_test(test_port_in_use),
      cmocka_unit_test(test_node_id),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
