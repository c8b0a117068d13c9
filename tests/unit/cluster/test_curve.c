/*
 * --cluster-key (src/cluster/curve.c, wire.c's _curve variants) on
 * loopback, ports the kernel picks: keys read from a string and from files,
 * a worker with the master's key is admitted and its frame arrives, one
 * with another key, with none, or with the master's public key but a key
 * pair of its own is refused and nothing of it arrives. Waits are bounded
 * (5 s) and wait for events (the guard's count), not for time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "cluster/curve.h"
#include "cluster/wire.h"

static void new_key(rl__curve_key *k) {
  char pub[41], sec[41];
  assert_int_equal(zmq_curve_keypair(pub, sec), 0);
  char err[256];
  assert_int_equal(rl__curve_key_read(sec, k, err, sizeof err), 0);
  assert_string_equal(k->public, pub);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_key_sources(void **state) {
  (void)state;
  char pub[41], sec[41], err[256] = "", path[] = "/tmp/rl-curve-XXXXXX";
  assert_int_equal(zmq_curve_keypair(pub, sec), 0);
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  rl__curve_key k;
  /* A bare key on a line of its own, with blanks and a comment around. */
  char text[256];
  snprintf(text, sizeof text, "# the cluster's key\n\n  %s  \n", sec);
  write_file(path, text);
  assert_int_equal(rl__curve_key_read(path, &k, err, sizeof err), 0);
  assert_string_equal(k.public, pub);
  /* ZeroMQ's certificate file (zmq.auth.create_certificates). */
  snprintf(text, sizeof text,
           "metadata\ncurve\n    public-key = \"%s\"\n    secret-key = "
           "\"%s\"\n",
           pub, sec);
  write_file(path, text);
  assert_int_equal(rl__curve_key_read(path, &k, err, sizeof err), 0);
  assert_string_equal(k.secret, sec);
  /* A public certificate alone holds no secret key. */
  snprintf(text, sizeof text, "curve\n    public-key = \"%s\"\n", pub);
  write_file(path, text);
  assert_int_equal(rl__curve_key_read(path, &k, err, sizeof err), RL_ERR_INVAL);
  assert_non_null(strstr(err, "no key in the file"));
  assert_null(strstr(err, pub));
  unlink(path);
  /* Neither a key nor a file. */
  assert_int_equal(rl__curve_key_read("short", &k, err, sizeof err),
                   RL_ERR_INVAL);
  assert_non_null(strstr(err, "neither a key"));
}

/* Waits (5 s at most) until the master has refused `n` clients. */
static void wait_refused(rl__wire *master, unsigned long n) {
  for (int i = 0; i < 500 && rl__wire_refused(master) < n; i++)
    nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
  assert_true(rl__wire_refused(master) >= n);
}

static void assert_nothing_came(rl__wire *master) {
  char *from = NULL;
  void *frame = NULL;
  size_t len = 0;
  assert_int_equal(rl__wire_recv(master, 0, &from, &frame, &len),
                   RL_ERR_TIMEOUT);
}

static void test_admits_only_the_key(void **state) {
  (void)state;
  rl__curve_key key, other;
  new_key(&key);
  new_key(&other);
  char err[256] = "";
  rl__wire *master = NULL, *good = NULL, *bad = NULL, *plain = NULL;
  assert_int_equal(
      rl__wire_bind_curve("127.0.0.1", 0, &key, &master, err, sizeof err), 0);
  int port = rl__wire_port(master);

  /* Another key: the handshake fails, the guard says so. */
  assert_int_equal(rl__wire_connect_curve("127.0.0.1", port, "bad_1", &other,
                                          &bad, err, sizeof err),
                   0);
  assert_int_equal(rl__wire_send(bad, NULL, "let me in", 9), 0);
  wait_refused(master, 1);
  /* No key (a Locust worker, say): refused too. */
  assert_int_equal(
      rl__wire_connect("127.0.0.1", port, "plain_1", &plain, err, sizeof err),
      0);
  assert_int_equal(rl__wire_send(plain, NULL, "me too", 6), 0);
  wait_refused(master, 2);

  /* The right key: admitted, its frame arrives (and only its). */
  assert_int_equal(rl__wire_connect_curve("127.0.0.1", port, "good_1", &key,
                                          &good, err, sizeof err),
                   0);
  assert_int_equal(rl__wire_send(good, NULL, "hello", 5), 0);
  char *from = NULL;
  void *frame = NULL;
  size_t len = 0;
  assert_int_equal(rl__wire_recv(master, 5000, &from, &frame, &len), 0);
  assert_string_equal(from, "good_1");
  assert_memory_equal(frame, "hello", 5);
  free(from);
  free(frame);
  assert_int_equal(rl__wire_send(master, "good_1", "back", 4), 0);
  assert_int_equal(rl__wire_recv(good, 5000, NULL, &frame, &len), 0);
  assert_memory_equal(frame, "back", 4);
  free(frame);
  assert_nothing_came(master);
  rl__wire_del(bad, 0);
  rl__wire_del(plain, 0);
  rl__wire_del(good, 0);
  rl__wire_del(master, 0);
}

/* A client that knows the master's public key but holds a key pair of its
 * own finishes the handshake; ZAP refuses it. */
static void test_zap_refuses_a_stranger(void **state) {
  (void)state;
  rl__curve_key key;
  new_key(&key);
  char err[256] = "", pub[41], sec[41];
  rl__wire *master = NULL;
  assert_int_equal(
      rl__wire_bind_curve("127.0.0.1", 0, &key, &master, err, sizeof err), 0);
  char addr[64];
  snprintf(addr, sizeof addr, "tcp://127.0.0.1:%d", rl__wire_port(master));
  assert_int_equal(zmq_curve_keypair(pub, sec), 0);
  void *ctx = zmq_ctx_new();
  void *s = zmq_socket(ctx, ZMQ_DEALER);
  int zero = 0;
  zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
  zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, key.public, 40);
  zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 40);
  zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40);
  assert_int_equal(zmq_connect(s, addr), 0);
  assert_int_equal(zmq_send(s, "hi", 2, ZMQ_DONTWAIT), 2);
  wait_refused(master, 1);
  assert_nothing_came(master);
  zmq_close(s);
  zmq_ctx_term(ctx);
  rl__wire_del(master, 0);
}

static void test_loopback_only(void **state) {
  (void)state;
  assert_true(rl__wire_loopback_only("127.0.0.1"));
  assert_true(rl__wire_loopback_only("127.3.2.1"));
  assert_true(rl__wire_loopback_only("::1"));
  assert_true(rl__wire_loopback_only("[::1]"));
  assert_true(rl__wire_loopback_only("localhost"));
  assert_false(rl__wire_loopback_only("*"));
  assert_false(rl__wire_loopback_only("0.0.0.0"));
  assert_false(rl__wire_loopback_only("10.0.0.5"));
  assert_false(rl__wire_loopback_only("::"));
  assert_false(rl__wire_loopback_only("eth0"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_sources),
      cmocka_unit_test(test_admits_only_the_key),
      cmocka_unit_test(test_zap_refuses_a_stranger),
      cmocka_unit_test(test_loopback_only),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
