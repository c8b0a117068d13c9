/*
 * Connections (engine/conn.h) against a peer the test owns on loopback:
 * bytes both ways, one event per request whoever reports it, the queue
 * and max_concurrent, re-sending after a close, connect refused, the
 * request timeout, shutdown, close_later, drain, request_retry,
 * batched writes, the backoff after failed attempts (a request moved at
 * the close is none). The codec is the harness's "line" plugin; requests
 * are bare rl_requests whose `end` records how they ended.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/conn.h"
#include "engine/request.h"
#include "engine_harness.h"

/* ---- requests that remember their end ---------------------------------- */

typedef struct treq {
  rl_request req; /* first: an rl_request * is a treq * */
  int ends;       /* times `end` was called: must be 1 */
  unsigned order; /* 1-based, among every request's end */
  int by_plugin;  /* ended through host->request_done */
  uint64_t at_ns; /* when it ended */
  char error[160], type[32], name[32];
} treq;

static unsigned end_seq;

static void treq_end(rl_request *r, const rl_result *res) {
  treq *t = (treq *)r;
  t->ends++;
  t->order = ++end_seq;
  t->by_plugin = th_in_request_done > 0;
  t->at_ns = rl__now_ns();
  snprintf(t->error, sizeof t->error, "%s", res->error ? res->error : "");
  snprintf(t->type, sizeof t->type, "%s", res->type ? res->type : "(null)");
  snprintf(t->name, sizeof t->name, "%s", res->name ? res->name : "(null)");
}

/* ---- the fixture ----------------------------------------------------------- */

static struct {
  rl_loop lp;
  th_step step;
  rl__target *t;
  rl_conn c;
  int lfd;
  uint16_t port;
} f;

static void treq_init(treq *r) {
  memset(r, 0, sizeof *r);
  r->req.target = f.t;
  r->req.end = treq_end;
}

static int setup(void **state) {
  (void)state;
  th_reset();
  end_seq = 0;
  memset(&f, 0, sizeof f);
  th_loop_init(&f.lp, NULL);
  f.lfd = th_listen(&f.port);
  f.step = (th_step){.label = "r", .type = "LINE", .name = "req"};
  f.t = th_target_new(&th_line, &f.step, f.port);
  rl__conn_init(&f.c, &f.lp, f.t);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  rl__conn_shutdown(&f.c, RL_ERR_CANCELLED, "test over");
  rl__conn_free(&f.c);
  if (f.lfd >= 0)
    close(f.lfd);
  th_loop_free(&f.lp);
  th_target_free(f.t);
  return 0;
}

/* Ends the connection's request: success from the peer. */
static void ended_ok(const treq *r) {
  assert_int_equal(r->ends, 1);
  assert_string_equal(r->error, "");
  assert_string_equal(r->type, "LINE");
  assert_string_equal(r->name, "req");
  assert_true(r->by_plugin);
}

/* No new connection came while the loop ran for `ms`. */
static void no_new_connection(int ms) {
  th_run_for(&f.lp, (uint64_t)ms * TH_MS);
  assert_false(th_pending(f.lfd));
}

/* ---- tests ------------------------------------------------------------------- */

static void test_bytes_both_ways_and_one_end_per_request(void **state) {
  (void)state;
  treq r1, r2;
  treq_init(&r1);
  treq_init(&r2);
  th_in in = {0};
  rl__conn_submit(&f.c, &r1.req);
  assert_int_equal(r1.ends, 0); /* connects first: nothing ends yet */
  int fd = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd, &in, "r 1\n");
  assert_int_equal(f.c.state, RL__CONN_OPEN);
  assert_int_equal(f.c.inflight, 1);
  assert_int_equal(th_seen.sessions, 1);
  th_send(fd, "ok\n");
  TH_RUN_UNTIL(&f.lp, r1.ends);
  ended_ok(&r1);
  assert_string_equal(th_seen.read, "ok\n"); /* the peer's bytes, as sent */
  assert_int_equal(f.c.inflight, 0);
  /* The next request goes on the same connection. */
  rl__conn_submit(&f.c, &r2.req);
  th_expect(&f.lp, fd, &in, "r 2\n");
  th_send(fd, "err:nope\n");
  TH_RUN_UNTIL(&f.lp, r2.ends);
  assert_string_equal(r2.error, "nope");
  assert_true(r2.by_plugin);
  /* Exactly once each, whatever else the loop does. */
  th_run_for(&f.lp, 20 * TH_MS);
  assert_int_equal(r1.ends, 1);
  assert_int_equal(r2.ends, 1);
  assert_int_equal(th_plugin_dones, 2);
  assert_false(th_pending(f.lfd));
  assert_string_equal(in.data, "r 1\nr 2\n");
  close(fd);
}

/* An idle connection drops its write buffer (a user in a long wait:
 * #17's memory per user) and the next request allocates one again; a
 * buffer with bytes still to go is kept. */
static void test_trim_drops_an_empty_write_buffer(void **state) {
  (void)state;
  treq r1, r2;
  treq_init(&r1);
  treq_init(&r2);
  th_in in = {0};
  rl__conn_submit(&f.c, &r1.req);
  int fd = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd, &in, "r 1\n");
  th_send(fd, "ok\n");
  TH_RUN_UNTIL(&f.lp, r1.ends);
  ended_ok(&r1);
  assert_non_null(f.c.wbuf); /* kept from request to request */
  rl__conn_trim(&f.c);
  assert_null(f.c.wbuf);
  assert_int_equal(f.c.wcap, 0);
  rl__conn_trim(&f.c); /* none: nothing to do */
  assert_null(f.c.wbuf);
  rl__conn_submit(&f.c, &r2.req);
  th_expect(&f.lp, fd, &in, "r 2\n");
  th_send(fd, "ok\n");
  TH_RUN_UNTIL(&f.lp, r2.ends);
  ended_ok(&r2);
  assert_int_equal(f.c.state, RL__CONN_OPEN); /* the same connection */
  assert_false(th_pending(f.lfd));
  /* Bytes not yet sent stay. */
  assert_int_equal(rl__conn_write(&f.c, "x", 1), 0);
  rl__conn_trim(&f.c);
  assert_non_null(f.c.wbuf);
  assert_int_equal(f.c.wlen, 1);
  close(fd);
}

static void test_writes_go_out_when_the_round_flushes(void **state) {
  (void)state;
  treq r1, r2;
  treq_init(&r1);
  treq_init(&r2);
  th_in in = {0};
  rl__conn_submit(&f.c, &r1.req);
  int fd = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd, &in, "r 1\n");
  th_send(fd, "ok\n");
  TH_RUN_UNTIL(&f.lp, r1.ends);
  /* Submitted between callbacks: the session wrote it, the connection
   * holds it on the loop's flush list until the round's flush. */
  rl__conn_submit(&f.c, &r2.req);
  assert_ptr_equal(f.lp.flush_head, &f.c);
  struct pollfd p = {.fd = fd, .events = POLLIN};
  assert_int_equal(poll(&p, 1, 20), 0);
  rl__conn_flush_scheduled(&f.lp);
  assert_null(f.lp.flush_head);
  assert_int_equal(poll(&p, 1, 2000), 1);
  th_expect(&f.lp, fd, &in, "r 2\n");
  close(fd);
}

static void
test_what_a_plugin_does_between_callbacks_takes_effect(void **state) {
  (void)state;
  /* A codec's own timer (ABI 1.4 conn_loop: a stream's next message, a
   * keepalive PING, a connection's max age) writes, drains or closes
   * outside any callback of the connection's: it takes effect when the
   * round ends, as a user's submit does. */
  treq r1;
  treq_init(&r1);
  th_in in = {0};
  rl__conn_submit(&f.c, &r1.req);
  int fd = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd, &in, "r 1\n");
  th_send(fd, "ok\n");
  TH_RUN_UNTIL(&f.lp, r1.ends);
  assert_ptr_equal(th_host.conn_loop(&f.c), &f.lp);
  assert_int_equal(th_host.conn_write(&f.c, "ping\n", 5), 0);
  assert_ptr_equal(f.lp.flush_head, &f.c);
  rl__conn_flush_scheduled(&f.lp);
  th_expect(&f.lp, fd, &in, "r 1\nping\n");
  /* An idle connection asked to drain closes then. */
  th_host.conn_drain(&f.c);
  rl__conn_flush_scheduled(&f.lp);
  assert_int_equal(f.c.state, RL__CONN_CLOSED);
  th_expect_eof(&f.lp, fd, &in);
  close(fd);
}

static void test_queue_waits_for_max_concurrent(void **state) {
  (void)state;
  th_line_conf.max_concurrent = 2;
  treq r[3];
  th_in in = {0};
  for (int i = 0; i < 3; i++) {
    treq_init(&r[i]);
    rl__conn_submit(&f.c, &r[i].req);
  }
  int fd = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd, &in, "r 1\nr 2\n");
  th_run_for(&f.lp, 30 * TH_MS);
  th_read(fd, &in);
  assert_null(strstr(in.data, "r 3")); /* waits for room */
  assert_int_equal(f.c.inflight, 2);
  assert_ptr_equal(f.c.q_head, &r[2].req);
  th_send(fd, "ok\n");
  th_expect(&f.lp, fd, &in, "r 3\n");
  assert_int_equal(r[0].ends, 1);
  assert_int_equal(r[1].ends, 0);
  th_send(fd, "ok ok\n");
  TH_RUN_UNTIL(&f.lp, r[1].ends && r[2].ends);
  for (int i = 0; i < 3; i++) {
    ended_ok(&r[i]);
    assert_int_equal(r[i].order, (unsigned)i + 1);
  }
  close(fd);
}

static void test_peer_close_resends_unsent_requests_once(void **state) {
  (void)state;
  treq r[3];
  th_in in1 = {0}, in2 = {0};
  for (int i = 0; i < 3; i++) {
    treq_init(&r[i]);
    rl__conn_submit(&f.c, &r[i].req);
  }
  int fd1 = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd1, &in1, "r 1\n");
  close(fd1);
  /* The one in flight ends through the session; the two it never took
   * go out again on a new connection (after the backoff: the server
   * completed nothing on this one, which a plain connection to a TLS
   * server also looks like). */
  int fd2 = th_accept(&f.lp, f.lfd);
  assert_int_equal(r[0].ends, 1);
  assert_true(r[0].by_plugin);
  assert_string_equal(r[0].error,
                      "connection closed by server (does it want TLS?)");
  assert_int_equal(th_seen.last_del_err, RL_ERR_CLOSED);
  assert_int_equal(r[1].ends, 0);
  assert_int_equal(r[2].ends, 0);
  th_expect(&f.lp, fd2, &in2, "r 2\n");
  close(fd2);
  /* Closed again: the one in flight fails through the session, the one
   * still queued has had its second chance and fails from the core,
   * under the target's type and name. */
  TH_RUN_UNTIL(&f.lp, r[1].ends && r[2].ends);
  assert_true(r[1].by_plugin);
  assert_string_equal(r[1].error,
                      "connection closed by server (does it want TLS?)");
  assert_false(r[2].by_plugin);
  assert_string_equal(
      r[2].error,
      "connection closed by server (does it want TLS?) (again after "
      "one retry)");
  assert_string_equal(r[2].type, "LINE");
  assert_string_equal(r[2].name, "req");
  no_new_connection(30);
  assert_int_equal(f.c.state, RL__CONN_CLOSED);
  for (int i = 0; i < 3; i++)
    assert_int_equal(r[i].ends, 1);
}

static void test_a_fresh_request_is_resent_behind_a_resent_one(void **state) {
  (void)state;
  /* A shared connection (--connections) queues several users' requests:
   * one that has had its second chance must not take a fresh one down
   * with it. */
  treq r[4];
  th_in in1 = {0}, in2 = {0}, in3 = {0};
  for (int i = 0; i < 3; i++) {
    treq_init(&r[i]);
    rl__conn_submit(&f.c, &r[i].req);
  }
  int fd1 = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd1, &in1, "r 1\n");
  close(fd1);
  int fd2 = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd2, &in2, "r 2\n");
  /* r3 waits on its second connection; r4 joins the queue behind it. */
  treq_init(&r[3]);
  rl__conn_submit(&f.c, &r[3].req);
  close(fd2);
  TH_RUN_UNTIL(&f.lp, r[1].ends && r[2].ends);
  assert_string_equal(
      r[2].error,
      "connection closed by server (does it want TLS?) (again after "
      "one retry)");
  /* r4 was never re-sent: it goes out on a third connection. */
  assert_int_equal(r[3].ends, 0);
  int fd3 = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd3, &in3, "r 3\n");
  th_send(fd3, "ok\n");
  TH_RUN_UNTIL(&f.lp, r[3].ends);
  ended_ok(&r[3]);
  close(fd3);
}

static void test_connect_refused_fails_under_the_targets_name(void **state) {
  (void)state;
  th_target_free(f.t);
  f.t = th_target_new(&th_line, &f.step, th_closed_port());
  rl__conn_init(&f.c, &f.lp, f.t);
  treq r;
  treq_init(&r);
  rl__conn_submit(&f.c, &r.req);
  TH_RUN_UNTIL(&f.lp, r.ends);
  assert_int_equal(r.ends, 1);
  assert_false(r.by_plugin); /* no session ever took it */
  assert_string_equal(r.error, "connection refused");
  assert_string_equal(r.type, "LINE");
  assert_string_equal(r.name, "req");
  assert_int_equal(th_seen.sessions, 0);
  assert_int_equal(f.c.state, RL__CONN_CLOSED);
  assert_int_equal(f.c.fd, -1);
}

/* Listens on 127.0.0.1:port again (the fixture's port, after closing its
 * listener: a server that comes back). */
static int listen_again(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  assert_true(fd >= 0);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons(port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void test_failed_attempts_back_off(void **state) {
  (void)state;
  /* The server is gone: the first request fails at once, the next ones
   * wait for the short backoff (0.1 s, then 0.2 s +-20%) and fail once
   * per attempt; requests are never failed without an attempt. */
  close(f.lfd);
  f.lfd = -1;
  treq r[4];
  for (int i = 0; i < 4; i++)
    treq_init(&r[i]);
  rl__conn_submit(&f.c, &r[0].req);
  TH_RUN_UNTIL(&f.lp, r[0].ends);
  assert_string_equal(r[0].error, "connection refused");
  uint64_t first = f.c.attempt_ns;
  rl__conn_submit(&f.c, &r[1].req);
  rl__conn_submit(&f.c, &r[2].req); /* both wait for the same attempt */
  assert_int_equal(r[1].ends + r[2].ends, 0);
  TH_RUN_UNTIL(&f.lp, r[1].ends && r[2].ends);
  assert_true(r[1].at_ns >= first + 100 * TH_MS);
  assert_string_equal(r[1].error, "connection refused");
  assert_string_equal(r[2].error, "connection refused");
  assert_false(r[1].by_plugin);
  assert_int_equal(f.c.backoff.failures, 2);
  uint64_t second = f.c.attempt_ns;
  assert_true(second >= first + 100 * TH_MS);
  /* The server comes back: the next attempt, after 0.16 to 0.24 s,
   * works, and a success starts the backoff over. */
  f.lfd = listen_again(f.port);
  if (f.lfd < 0)
    skip(); /* someone took the port meanwhile */
  rl__conn_submit(&f.c, &r[3].req);
  th_in in = {0};
  int fd = th_accept(&f.lp, f.lfd);
  assert_true(f.c.attempt_ns >= second + 160 * TH_MS);
  th_expect(&f.lp, fd, &in, "r 1\n");
  th_send(fd, "ok\n");
  TH_RUN_UNTIL(&f.lp, r[3].ends);
  ended_ok(&r[3]);
  assert_int_equal(f.c.backoff.failures, 0);
  close(fd);
}

static void test_a_close_after_answers_is_not_a_failed_attempt(void **state) {
  (void)state;
  /* The server answered, then closed (keep-alive over): no hint, and the
   * next request connects at once. */
  treq r[2];
  th_in in = {0};
  treq_init(&r[0]);
  treq_init(&r[1]);
  rl__conn_submit(&f.c, &r[0].req);
  int fd = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd, &in, "r 1\n");
  th_send(fd, "ok\n");
  TH_RUN_UNTIL(&f.lp, r[0].ends);
  ended_ok(&r[0]);
  close(fd);
  TH_RUN_UNTIL(&f.lp, f.c.state == RL__CONN_CLOSED);
  assert_int_equal(f.c.backoff.failures, 0);
  assert_true(f.c.retry_ns <= rl__now_ns());
  rl__conn_submit(&f.c, &r[1].req);
  assert_int_not_equal(f.c.state, RL__CONN_CLOSED); /* at once */
  th_in in2 = {0};
  int fd2 = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd2, &in2, "r 2\n");
  close(fd2);
  TH_RUN_UNTIL(&f.lp, r[1].ends);
  /* This one the server closed with a request and no answer: a failed
   * attempt, but no TLS hint, as the server answered plain text before. */
  assert_string_equal(r[1].error, "connection closed by server");
  assert_int_equal(f.c.backoff.failures, 1);
}

static void test_a_request_moved_at_the_end_is_no_failed_attempt(void **state) {
  (void)state;
  /* The server answered (a redirect) and its answer ended with the
   * connection, from which the plugin moves the request on (ABI 1.5): no
   * failed attempt, so the new connection comes at once, not after the
   * backoff. */
  treq r;
  th_in in = {0}, in2 = {0};
  treq_init(&r);
  rl__conn_submit(&f.c, &r.req);
  int fd = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd, &in, "r 1\n");
  th_send(fd, "moveeof\n");
  close(fd);
  TH_RUN_UNTIL(&f.lp, th_seen.sessions_del == 1);
  assert_int_equal(r.ends, 0);
  assert_int_equal(f.c.backoff.failures, 0);
  assert_true(f.c.retry_ns <= rl__now_ns());
  assert_int_not_equal(f.c.state, RL__CONN_CLOSED); /* connecting at once */
  int fd2 = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd2, &in2, "r 2\n");
  th_send(fd2, "ok\n");
  TH_RUN_UNTIL(&f.lp, r.ends);
  ended_ok(&r);
  close(fd2);
}

static void test_a_plugins_prefix_goes_before_the_cores_reason(void **state) {
  (void)state;
  /* ABI 1.4: gRPC's failures read "UNAVAILABLE: connection refused", as a
   * gRPC client shows them, so they group with the server's own. */
  th_line.desc.host_error_prefix = "UNAVAILABLE: ";
  th_target_free(f.t);
  f.t = th_target_new(&th_line, &f.step, th_closed_port());
  rl__conn_init(&f.c, &f.lp, f.t);
  treq r;
  treq_init(&r);
  rl__conn_submit(&f.c, &r.req);
  TH_RUN_UNTIL(&f.lp, r.ends);
  assert_false(r.by_plugin);
  assert_string_equal(r.error, "UNAVAILABLE: connection refused");
  assert_string_equal(r.name, "req");
}

static void test_connect_timeout(void **state) {
  (void)state;
  /* A listener whose backlog is full drops the SYN: the connect hangs
   * until its timeout. */
  close(f.lfd);
  f.lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons(f.port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(f.lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(f.lfd, 0) != 0)
    skip();
  int fill[4];
  for (int i = 0; i < 4; i++) {
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    (void)connect(fill[i], (struct sockaddr *)&a, sizeof a);
  }
  f.t->connect_timeout_ns = 100 * TH_MS;
  treq r;
  treq_init(&r);
  uint64_t t0 = rl__now_ns();
  rl__conn_submit(&f.c, &r.req);
  TH_RUN_UNTIL(&f.lp, r.ends);
  if (strcmp(r.error, "connect timed out after 0.1s") != 0) {
    /* The kernel took the connection after all (tcp settings): the
     * timeout cannot be shown here. */
    for (int i = 0; i < 4; i++)
      close(fill[i]);
    skip();
  }
  assert_true(rl__now_ns() - t0 >= 90 * TH_MS);
  assert_false(r.by_plugin);
  assert_string_equal(r.type, "LINE");
  assert_int_equal(f.c.state, RL__CONN_CLOSED);
  for (int i = 0; i < 4; i++)
    close(fill[i]);
}

static void test_session_refusals_fail_from_the_core(void **state) {
  (void)state;
  th_line_conf.refuse_submit = 1;
  treq r1, r2;
  treq_init(&r1);
  treq_init(&r2);
  rl__conn_submit(&f.c, &r1.req);
  int fd = th_accept(&f.lp, f.lfd);
  TH_RUN_UNTIL(&f.lp, r1.ends);
  assert_false(r1.by_plugin);
  assert_string_equal(r1.error,
                      "line refused the request: no capacity for another "
                      "request");
  assert_string_equal(r1.type, "LINE");
  assert_int_equal(f.c.inflight, 0);
  close(fd);
  rl__conn_shutdown(&f.c, RL_ERR_CANCELLED, "again");
  th_line_conf.refuse_submit = 0;
  th_line_conf.fail_session = 1;
  rl__conn_submit(&f.c, &r2.req);
  fd = th_accept(&f.lp, f.lfd);
  TH_RUN_UNTIL(&f.lp, r2.ends);
  assert_false(r2.by_plugin);
  assert_string_equal(r2.error,
                      "line could not start a session: protocol error (again "
                      "after one retry)");
  assert_int_equal(f.c.state, RL__CONN_CLOSED);
  close(fd);
}

/* ABI 1.6: a submit that refuses with its own reason fails the request
 * with that text, not the core's generic one. */
static void test_a_refusal_carries_the_plugins_reason(void **state) {
  (void)state;
  th_line_conf.refuse_reason = "key longer than 250 bytes after expansion";
  treq r;
  treq_init(&r);
  rl__conn_submit(&f.c, &r.req);
  int fd = th_accept(&f.lp, f.lfd);
  TH_RUN_UNTIL(&f.lp, r.ends);
  assert_false(r.by_plugin);
  assert_string_equal(r.error, "key longer than 250 bytes after expansion");
  assert_int_equal(f.c.inflight, 0);
  /* A reason given outside a submit is ignored: the next refusal without
   * one reads as before. */
  th_line_conf.refuse_reason = NULL;
  th_line_conf.refuse_submit = 1;
  th_host.request_refuse(&r.req, "stale");
  treq r2;
  treq_init(&r2);
  rl__conn_submit(&f.c, &r2.req);
  TH_RUN_UNTIL(&f.lp, r2.ends);
  assert_string_equal(r2.error, "line refused the request: no capacity for "
                                "another request");
  close(fd);
}

/* ABI 1.6: session_new learns its step (conn_step) and sends a preface;
 * no request reaches the session before the preface's reply. */
static void test_requests_wait_for_the_preface(void **state) {
  (void)state;
  th_line_conf.preface = 1;
  treq r1, r2;
  treq_init(&r1);
  treq_init(&r2);
  th_in in = {0};
  rl__conn_submit(&f.c, &r1.req);
  int fd = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd, &in, "hello r\n");
  rl__conn_submit(&f.c, &r2.req);
  th_run_for(&f.lp, 30 * TH_MS);
  assert_int_equal(th_seen.submits, 0); /* held back */
  assert_int_equal(in.len, strlen("hello r\n"));
  assert_int_equal(r1.ends + r2.ends, 0);
  th_send(fd, "ready\n");
  th_expect(&f.lp, fd, &in, "hello r\nr 1\n");
  th_send(fd, "ok\n");
  TH_RUN_UNTIL(&f.lp, r1.ends);
  ended_ok(&r1);
  th_expect(&f.lp, fd, &in, "hello r\nr 1\nr 2\n");
  th_send(fd, "ok\n");
  TH_RUN_UNTIL(&f.lp, r2.ends);
  ended_ok(&r2);
  close(fd);
}

/* ABI 1.6: a preface the server refuses fails the connection with the
 * plugin's reason, and the requests waiting with it (not re-sent). */
static void test_a_refused_preface_fails_with_the_plugins_reason(void **state) {
  (void)state;
  th_line_conf.preface = 1;
  treq r;
  treq_init(&r);
  th_in in = {0};
  rl__conn_submit(&f.c, &r.req);
  int fd = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd, &in, "hello r\n");
  th_send(fd, "fail:AUTH_failed:_WRONGPASS\n");
  TH_RUN_UNTIL(&f.lp, r.ends);
  assert_false(r.by_plugin);
  assert_string_equal(r.error, "AUTH_failed:_WRONGPASS");
  assert_string_equal(th_seen.last_del_reason, "AUTH_failed:_WRONGPASS");
  assert_int_equal(th_seen.last_del_err, RL_ERR_PROTO);
  assert_int_equal(th_seen.submits, 0);
  assert_int_equal(f.c.state, RL__CONN_CLOSED);
  no_new_connection(30); /* not re-sent on a new connection */
  th_expect_eof(&f.lp, fd, &in);
  close(fd);
}

/* ABI 1.6: a preface nobody answers ends within the connect timeout. */
static void test_an_unanswered_preface_times_out(void **state) {
  (void)state;
  th_line_conf.preface = 1;
  f.t->connect_timeout_ns = 100 * TH_MS;
  treq r;
  treq_init(&r);
  rl__conn_submit(&f.c, &r.req);
  int fd = th_accept(&f.lp, f.lfd);
  TH_RUN_UNTIL(&f.lp, r.ends);
  assert_false(r.by_plugin);
  assert_string_equal(r.error, "connection preface timed out after 0.1s");
  assert_int_equal(th_seen.submits, 0);
  close(fd);
}

static void test_request_timeout_closes_the_connection(void **state) {
  (void)state;
  f.t->request_timeout_ns = 50 * TH_MS;
  treq r;
  treq_init(&r);
  th_in in = {0};
  rl__conn_submit(&f.c, &r.req);
  int fd = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd, &in, "r 1\n");
  uint64_t t0 = rl__now_ns();
  TH_RUN_UNTIL(&f.lp, r.ends);
  assert_true(rl__now_ns() - t0 >= 40 * TH_MS);
  /* Without session_cancel the whole connection goes, and the session
   * ends what it holds with the reason. */
  assert_true(r.by_plugin);
  assert_string_equal(r.error, "timed out after 0.05s");
  assert_int_equal(th_seen.last_del_err, RL_ERR_TIMEOUT);
  th_expect_eof(&f.lp, fd, &in);
  close(fd);
}

static void test_request_timeout_cancels_one_request(void **state) {
  (void)state;
  th_line.desc.session_cancel = th_line_cancel;
  th_line_conf.max_concurrent = 4;
  f.t->request_timeout_ns = 400 * TH_MS;
  treq r1, r2, r3;
  treq_init(&r1);
  treq_init(&r2);
  treq_init(&r3);
  th_in in = {0};
  rl__conn_submit(&f.c, &r1.req);
  int fd = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd, &in, "r 1\n");
  th_run_for(&f.lp, 100 * TH_MS);
  uint64_t t2 = rl__now_ns();
  rl__conn_submit(&f.c, &r2.req);
  th_expect(&f.lp, fd, &in, "r 2\n");
  TH_RUN_UNTIL(&f.lp, r1.ends);
  assert_string_equal(r1.error, "timed out after 0.4s");
  assert_int_equal(th_seen.cancels, 1);
  assert_int_equal(r2.ends, 0); /* its own time is not up */
  /* The timer re-arms for what the next one has left: it ends 0.4 s
   * after it was handed over, not 0.4 s after the first one ended. Told
   * by when the timer is due, not by how late it came (a slow machine
   * delays any timer): r1 ended at 0.4 s past its hand-over or later, so
   * what r2 has left is at most the time between their hand-overs. The
   * timer was armed in the loop round that just ran, whose clock libev
   * has not moved since, so its remaining time is what it was armed for. */
  assert_true(ev_is_active(&f.c.timer));
  double left_s = ev_timer_remaining(f.lp.ev, &f.c.timer);
  uint64_t between_ns = r2.req.handed_ns - r1.req.handed_ns;
  if (left_s > (double)between_ns / 1e9 + 1e-6)
    fail_msg("r2's timeout is due in %.3f s, not within the %.3f s between "
             "the hand-overs",
             left_s, (double)between_ns / 1e9);
  TH_RUN_UNTIL(&f.lp, r2.ends);
  uint64_t r2_took = rl__now_ns() - t2;
  assert_true(r2_took >= 390 * TH_MS);
  assert_string_equal(r2.error, "timed out after 0.4s");
  assert_int_equal(th_seen.cancels, 2);
  /* The connection lives on for the next request. */
  assert_int_equal(th_seen.sessions_del, 0);
  rl__conn_submit(&f.c, &r3.req);
  th_expect(&f.lp, fd, &in, "r 3\n");
  th_send(fd, "ok\n");
  TH_RUN_UNTIL(&f.lp, r3.ends);
  ended_ok(&r3);
  no_new_connection(10);
  close(fd);
}

/* A request's own timeout (rl_request.timeout_ns: a Lua request's
 * timeout=) in place of the target's, on one connection with others: the
 * shorter own one ends first although it was handed later, the target's
 * still ends the one without, a longer own one outlives the target's. */
static void test_a_requests_own_timeout_replaces_the_targets(void **state) {
  (void)state;
  th_line.desc.session_cancel = th_line_cancel;
  th_line_conf.max_concurrent = 4;
  f.t->request_timeout_ns = 400 * TH_MS;
  treq r1, r2, r3;
  treq_init(&r1);
  treq_init(&r2);
  treq_init(&r3);
  r2.req.timeout_ns = 50 * TH_MS;
  r3.req.timeout_ns = 10000 * TH_MS;
  th_in in = {0};
  rl__conn_submit(&f.c, &r1.req);
  int fd = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd, &in, "r 1\n");
  rl__conn_submit(&f.c, &r2.req);
  rl__conn_submit(&f.c, &r3.req);
  th_expect(&f.lp, fd, &in, "r 2\nr 3\n");
  TH_RUN_UNTIL(&f.lp, r2.ends);
  assert_string_equal(r2.error, "timed out after 0.05s");
  assert_int_equal(r1.ends + r3.ends, 0);
  TH_RUN_UNTIL(&f.lp, r1.ends);
  assert_string_equal(r1.error, "timed out after 0.4s");
  assert_int_equal(r3.ends, 0);
  assert_int_equal(th_seen.cancels, 2);
  th_send(fd, "ok\n");
  TH_RUN_UNTIL(&f.lp, r3.ends);
  ended_ok(&r3);
  assert_int_equal(th_seen.sessions_del, 0);
  close(fd);
}

static void test_shutdown_ends_in_flight_through_the_session(void **state) {
  (void)state;
  treq r1, r2, r3;
  treq_init(&r1);
  treq_init(&r2);
  treq_init(&r3);
  th_in in = {0}, in2 = {0};
  rl__conn_submit(&f.c, &r1.req);
  rl__conn_submit(&f.c, &r2.req);
  int fd = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd, &in, "r 1\n");
  rl__conn_shutdown(&f.c, RL_ERR_CANCELLED, "stopped");
  /* At once, in this call: in flight through session_del, queued from
   * the core; nothing is re-sent after a cancel. */
  assert_int_equal(r1.ends, 1);
  assert_true(r1.by_plugin);
  assert_string_equal(r1.error, "stopped");
  assert_int_equal(th_seen.last_del_err, RL_ERR_CANCELLED);
  assert_int_equal(r2.ends, 1);
  assert_false(r2.by_plugin);
  assert_string_equal(r2.error, "stopped");
  assert_string_equal(r2.type, "LINE");
  assert_int_equal(f.c.state, RL__CONN_CLOSED);
  assert_null(f.c.session);
  th_expect_eof(&f.lp, fd, &in);
  no_new_connection(20);
  close(fd);
  /* Idle again, and reusable (r2 never reached a session: r3 is the
   * second request the plugin sees). */
  rl__conn_submit(&f.c, &r3.req);
  fd = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd, &in2, "r 2\n");
  th_send(fd, "ok\n");
  TH_RUN_UNTIL(&f.lp, r3.ends);
  ended_ok(&r3);
  close(fd);
}

static void test_close_later_closes_after_the_callback(void **state) {
  (void)state;
  treq r1, r2;
  treq_init(&r1);
  treq_init(&r2);
  th_in in1 = {0}, in2 = {0};
  rl__conn_submit(&f.c, &r1.req);
  rl__conn_submit(&f.c, &r2.req);
  int fd1 = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd1, &in1, "r 1\n");
  th_send(fd1, "ok close\n");
  th_expect_eof(&f.lp, fd1, &in1);
  ended_ok(&r1);
  assert_int_equal(th_seen.last_del_err, RL_ERR_CLOSED);
  /* The request the session never took goes on a new connection. */
  int fd2 = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd2, &in2, "r 2\n");
  assert_null(strstr(in1.data, "r 2"));
  th_send(fd2, "ok\n");
  TH_RUN_UNTIL(&f.lp, r2.ends);
  ended_ok(&r2);
  close(fd1);
  close(fd2);
}

static void test_drain_waits_for_in_flight_then_moves_on(void **state) {
  (void)state;
  th_line_conf.max_concurrent = 2;
  treq r1, r2, r3;
  treq_init(&r1);
  treq_init(&r2);
  treq_init(&r3);
  th_in in1 = {0}, in2 = {0};
  rl__conn_submit(&f.c, &r1.req);
  rl__conn_submit(&f.c, &r2.req);
  int fd1 = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd1, &in1, "r 1\nr 2\n");
  th_send(fd1, "ok drain\n");
  TH_RUN_UNTIL(&f.lp, r1.ends);
  /* Draining: open while r2 is in flight, but takes nothing new. */
  rl__conn_submit(&f.c, &r3.req);
  th_run_for(&f.lp, 30 * TH_MS);
  th_read(fd1, &in1);
  assert_false(in1.eof);
  assert_null(strstr(in1.data, "r 3"));
  assert_false(th_pending(f.lfd));
  th_send(fd1, "ok\n");
  th_expect_eof(&f.lp, fd1, &in1);
  ended_ok(&r2);
  int fd2 = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd2, &in2, "r 3\n");
  th_send(fd2, "ok\n");
  TH_RUN_UNTIL(&f.lp, r3.ends);
  ended_ok(&r3);
  close(fd1);
  close(fd2);
}

static void test_request_retry_resends_once(void **state) {
  (void)state;
  treq r;
  treq_init(&r);
  th_in in1 = {0}, in2 = {0};
  rl__conn_submit(&f.c, &r.req);
  int fd1 = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd1, &in1, "r 1\n");
  th_send(fd1, "retry\n");
  /* Handed back: this connection drains and closes, the request goes
   * out again on a new one. */
  th_expect_eof(&f.lp, fd1, &in1);
  int fd2 = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd2, &in2, "r 2\n");
  assert_int_equal(r.ends, 0);
  /* A second hand-back fails it with the plugin's reason. */
  th_send(fd2, "retry\n");
  TH_RUN_UNTIL(&f.lp, r.ends);
  assert_string_equal(r.error, "handed back (again after one retry)");
  assert_string_equal(r.type, "LINE");
  th_run_for(&f.lp, 20 * TH_MS);
  assert_int_equal(r.ends, 1);
  close(fd1);
  close(fd2);
}

static void test_protocol_error_closes_with_the_plugins_name(void **state) {
  (void)state;
  treq r;
  treq_init(&r);
  th_in in = {0};
  rl__conn_submit(&f.c, &r.req);
  int fd = th_accept(&f.lp, f.lfd);
  th_expect(&f.lp, fd, &in, "r 1\n");
  th_send(fd, "proto\n");
  TH_RUN_UNTIL(&f.lp, r.ends);
  assert_true(r.by_plugin);
  /* Nothing completed on this plain connection: TLS may be wanted. */
  assert_string_equal(r.error,
                      "line: protocol error from server (does it want TLS?)");
  assert_int_equal(th_seen.last_del_err, RL_ERR_PROTO);
  th_expect_eof(&f.lp, fd, &in);
  close(fd);
}

/* Counts what arrives on fd until the newline ending a request. */
static int drained(int fd, size_t *total) {
  char buf[65536];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0)
      return 0;
    *total += (size_t)n;
    if (buf[n - 1] == '\n')
      return 1;
  }
}

static void test_large_writes_and_reads_arrive_whole(void **state) {
  (void)state;
  /* 8 MiB: more than the socket takes at once, so the rest waits for
   * the socket to drain (the io watcher then asks for writability). */
  f.step.pad = (size_t)8 << 20;
  treq r;
  treq_init(&r);
  rl__conn_submit(&f.c, &r.req);
  int fd = th_accept(&f.lp, f.lfd);
  size_t total = 0;
  TH_RUN_UNTIL(&f.lp, drained(fd, &total));
  assert_int_equal(total, strlen("r 1") + f.step.pad + 1);
  /* A response longer than the loop's read buffer reaches the session
   * whole. */
  size_t big = 3 * f.lp.rbuf_size + 17;
  char *reply = malloc(big + 5);
  assert_non_null(reply);
  memset(reply, 'x', big);
  memcpy(reply + big, "\nok\n", 5);
  th_send_big(&f.lp, fd, reply, big + 4);
  free(reply);
  TH_RUN_UNTIL(&f.lp, r.ends);
  ended_ok(&r);
  assert_int_equal(th_seen.read_total, big + 4);
  close(fd);
}

/* ---- TLS ----------------------------------------------------------------- */

/* The server side: a self-signed certificate made here, and an ALPN pick
 * (NULL: none agreed). */
static SSL_CTX *server_ctx(const char *alpn_pick);

static int alpn_select(SSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg) {
  (void)ssl;
  const char *pick = arg;
  size_t n = strlen(pick);
  for (unsigned i = 0; i < inlen; i += 1u + in[i])
    if (in[i] == n && memcmp(in + i + 1, pick, n) == 0) {
      *out = in + i + 1;
      *outlen = in[i];
      return SSL_TLSEXT_ERR_OK;
    }
  return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *server_ctx(const char *alpn_pick) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *cert = X509_new();
  assert_non_null(key);
  assert_non_null(cert);
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_NAME *name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             (const unsigned char *)"localhost", -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, key);
  assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  assert_non_null(ctx);
  assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
  assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
  X509_free(cert);
  EVP_PKEY_free(key);
  if (alpn_pick)
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)alpn_pick);
  return ctx;
}

typedef struct tls_peer {
  int fd;
  SSL *ssl;
  int done, failed; /* handshake */
  th_in in;
} tls_peer;

/* One step of the server's handshake (non-blocking); 1 once it is over. */
static int server_handshake(tls_peer *p) {
  if (p->done)
    return 1;
  int r = SSL_do_handshake(p->ssl);
  if (r == 1) {
    p->done = 1;
    return 1;
  }
  int e = SSL_get_error(p->ssl, r);
  if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
    p->done = p->failed = 1;
  return p->done;
}

static void tls_accept(tls_peer *p, SSL_CTX *ctx) {
  memset(p, 0, sizeof *p);
  p->fd = th_accept(&f.lp, f.lfd);
  p->ssl = SSL_new(ctx);
  assert_non_null(p->ssl);
  SSL_set_fd(p->ssl, p->fd);
  SSL_set_accept_state(p->ssl);
}

static int tls_read(tls_peer *p, const char *want) {
  if (!server_handshake(p) || p->failed)
    return 0;
  for (;;) {
    size_t room = sizeof p->in.data - 1 - p->in.len;
    int n = SSL_read(p->ssl, p->in.data + p->in.len, (int)room);
    if (n <= 0)
      break;
    p->in.len += (size_t)n;
  }
  p->in.data[p->in.len] = '\0';
  return strstr(p->in.data, want) != NULL;
}

static void tls_send(tls_peer *p, const char *text) {
  assert_int_equal(SSL_write(p->ssl, text, (int)strlen(text)),
                   (int)strlen(text));
}

static void tls_close(tls_peer *p) {
  if (p->ssl) {
    if (p->done && !p->failed)
      (void)SSL_shutdown(p->ssl);
    SSL_free(p->ssl);
  }
  close(p->fd);
  p->ssl = NULL;
}

/* Two line plugins over TLS: "line" offers h2, "line-h1" http/1.1, and
 * the target lists them in that order (h2 first, as rl__target_new puts
 * it). */
static rl__plugin line_h1;

static void use_tls(int verify, int alpn_required) {
  static const char *const h2[] = {"h2", NULL};
  static const char *const h1[] = {"http/1.1", NULL};
  static const char *const offer[] = {"h2", "http/1.1", NULL};
  th_line.desc.alpn = h2;
  line_h1 = th_line;
  line_h1.desc.name = "line-h1";
  line_h1.desc.alpn = h1;
  f.t->tls = 1;
  f.t->verify = verify;
  f.t->alpn_required = alpn_required;
  f.t->v[1] = f.t->v[0];
  f.t->v[1].plugin = &line_h1;
  f.t->nv = 2;
  rl__tls_options o = {.insecure = !verify};
  char err[256] = "";
  f.t->ssl_ctx = rl__tls_ctx_new(&o, offer, err, sizeof err);
  if (!f.t->ssl_ctx)
    fail_msg("%s", err);
  rl__conn_init(&f.c, &f.lp, f.t);
}

static void test_tls_alpn_picks_the_plugin(void **state) {
  (void)state;
  use_tls(0, 0);
  /* What the server agrees to picks the plugin; none: HTTP/1.1's. */
  const char *picks[] = {"http/1.1", "h2", NULL};
  const rl__plugin *want[] = {&line_h1, &th_line, &line_h1};
  for (int i = 0; i < 3; i++) {
    SSL_CTX *ctx = server_ctx(picks[i]);
    treq r;
    treq_init(&r);
    tls_peer p;
    char line[16];
    snprintf(line, sizeof line, "r %d\n", i + 1);
    rl__conn_submit(&f.c, &r.req);
    tls_accept(&p, ctx);
    TH_RUN_UNTIL(&f.lp, tls_read(&p, line));
    assert_ptr_equal(f.c.v->plugin, want[i]);
    tls_send(&p, "ok\n");
    TH_RUN_UNTIL(&f.lp, r.ends);
    ended_ok(&r);
    rl__conn_shutdown(&f.c, RL_ERR_CANCELLED, "next");
    tls_close(&p);
    SSL_CTX_free(ctx);
  }
}

static void test_tls_cname_is_the_name_sent(void **state) {
  (void)state;
  /* --cname: SNI (and the certificate check) name it, not the host: an
   * address literal here, which by itself sends no SNI. */
  use_tls(0, 0);
  SSL_CTX *ctx = server_ctx("h2");
  const char *names[] = {NULL, "api.example"};
  for (int i = 0; i < 2; i++) {
    f.t->tls_name = names[i] ? strdup(names[i]) : NULL;
    treq r;
    treq_init(&r);
    tls_peer p;
    rl__conn_submit(&f.c, &r.req);
    tls_accept(&p, ctx);
    TH_RUN_UNTIL(&f.lp, tls_read(&p, i == 0 ? "r 1\n" : "r 2\n"));
    const char *sni = SSL_get_servername(p.ssl, TLSEXT_NAMETYPE_host_name);
    if (names[i] == NULL)
      assert_null(sni);
    else
      assert_string_equal(sni, names[i]);
    tls_send(&p, "ok\n");
    TH_RUN_UNTIL(&f.lp, r.ends);
    ended_ok(&r);
    rl__conn_shutdown(&f.c, RL_ERR_CANCELLED, "next");
    tls_close(&p);
    free(f.t->tls_name);
    f.t->tls_name = NULL;
  }
  SSL_CTX_free(ctx);
}

static void test_tls_without_an_agreed_protocol_fails(void **state) {
  (void)state;
  use_tls(0, 1); /* --http2: ALPN must agree */
  SSL_CTX *ctx = server_ctx(NULL);
  treq r;
  treq_init(&r);
  tls_peer p;
  rl__conn_submit(&f.c, &r.req);
  tls_accept(&p, ctx);
  TH_RUN_UNTIL(&f.lp, (server_handshake(&p), r.ends));
  assert_false(r.by_plugin);
  assert_string_equal(r.error, "server agreed to no protocol line speaks "
                               "(ALPN: none; offered: h2)");
  assert_string_equal(r.type, "LINE");
  assert_int_equal(th_seen.sessions, 0);
  assert_int_equal(f.c.state, RL__CONN_CLOSED);
  tls_close(&p);
  SSL_CTX_free(ctx);
}

static void test_tls_verification_failure_fails_the_request(void **state) {
  (void)state;
  use_tls(1, 0); /* the system's CAs never signed the test's certificate */
  SSL_CTX *ctx = server_ctx("h2");
  treq r;
  treq_init(&r);
  tls_peer p;
  rl__conn_submit(&f.c, &r.req);
  tls_accept(&p, ctx);
  TH_RUN_UNTIL(&f.lp, (server_handshake(&p), r.ends));
  assert_false(r.by_plugin);
  const char *prefix = "TLS handshake failed: certificate verify failed: ";
  if (strncmp(r.error, prefix, strlen(prefix)) != 0)
    fail_msg("unexpected error: %s", r.error);
  assert_non_null(strstr(r.error, "self"));
  assert_string_equal(r.type, "LINE");
  assert_int_equal(th_seen.sessions, 0);
  tls_close(&p);
  SSL_CTX_free(ctx);
}

static void test_tls_handshake_within_the_connect_timeout(void **state) {
  (void)state;
  use_tls(0, 0);
  f.t->connect_timeout_ns = 100 * TH_MS;
  treq r;
  treq_init(&r);
  rl__conn_submit(&f.c, &r.req);
  int fd = th_accept(&f.lp, f.lfd); /* TCP only: no TLS from this side */
  TH_RUN_UNTIL(&f.lp, r.ends);
  assert_false(r.by_plugin);
  assert_string_equal(r.error, "TLS handshake timed out after 0.1s");
  close(fd);
}

static void test_tls_session_resumed_on_reconnect(void **state) {
  (void)state;
  use_tls(0, 0);
  SSL_CTX *ctx = server_ctx("h2");
  for (int i = 0; i < 2; i++) {
    treq r;
    treq_init(&r);
    tls_peer p;
    char line[16];
    snprintf(line, sizeof line, "r %d\n", i + 1);
    rl__conn_submit(&f.c, &r.req);
    tls_accept(&p, ctx);
    TH_RUN_UNTIL(&f.lp, tls_read(&p, line));
    /* The second connection resumes the first one's session. */
    assert_int_equal(SSL_session_reused(p.ssl), i);
    tls_send(&p, "ok\n");
    TH_RUN_UNTIL(&f.lp, r.ends);
    ended_ok(&r);
    /* The server closes; the next request reconnects. */
    tls_close(&p);
    TH_RUN_UNTIL(&f.lp, f.c.state == RL__CONN_CLOSED);
  }
  SSL_CTX_free(ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
      T(test_bytes_both_ways_and_one_end_per_request),
      T(test_writes_go_out_when_the_round_flushes),
      T(test_trim_drops_an_empty_write_buffer),
      T(test_what_a_plugin_does_between_callbacks_takes_effect),
      T(test_queue_waits_for_max_concurrent),
      T(test_peer_close_resends_unsent_requests_once),
      T(test_a_fresh_request_is_resent_behind_a_resent_one),
      T(test_connect_refused_fails_under_the_targets_name),
      T(test_failed_attempts_back_off),
      T(test_a_close_after_answers_is_not_a_failed_attempt),
      T(test_a_request_moved_at_the_end_is_no_failed_attempt),
      T(test_a_plugins_prefix_goes_before_the_cores_reason),
      T(test_connect_timeout),
      T(test_session_refusals_fail_from_the_core),
      T(test_a_refusal_carries_the_plugins_reason),
      T(test_requests_wait_for_the_preface),
      T(test_a_refused_preface_fails_with_the_plugins_reason),
      T(test_an_unanswered_preface_times_out),
      T(test_request_timeout_closes_the_connection),
      T(test_request_timeout_cancels_one_request),
      T(test_a_requests_own_timeout_replaces_the_targets),
      T(test_shutdown_ends_in_flight_through_the_session),
      T(test_close_later_closes_after_the_callback),
      T(test_drain_waits_for_in_flight_then_moves_on),
      T(test_request_retry_resends_once),
      T(test_protocol_error_closes_with_the_plugins_name),
      T(test_large_writes_and_reads_arrive_whole),
      T(test_tls_alpn_picks_the_plugin),
      T(test_tls_cname_is_the_name_sent),
      T(test_tls_without_an_agreed_protocol_fails),
      T(test_tls_verification_failure_fails_the_request),
      T(test_tls_handshake_within_the_connect_timeout),
      T(test_tls_session_resumed_on_reconnect),
#undef T
  };
  /* As cli/main.c does: OpenSSL writes with write(), so a peer that has
   * closed would raise SIGPIPE (plain sockets send with MSG_NOSIGNAL). */
  signal(SIGPIPE, SIG_IGN);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
