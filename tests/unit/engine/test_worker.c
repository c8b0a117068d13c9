/*
 * Workers (engine/worker.h): a thread of its own running users of a plan
 * against a line server the test runs on another thread (loopback, port
 * 0), steered from here as the runner does (set_users, command), with
 * what it records merged into a stats hub the test owns. Stop with and
 * without a stop timeout, cut, fewer users, the finished hook, and the
 * stats: what was recorded reaches the hub, cut requests stay out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rpcload/user.h>

#include "engine/cuser.h"
#include "engine/plan.h"
#include "engine/worker.h"
#include "engine_harness.h"
#include "stats/hub.h"

/* ---- the server ------------------------------------------------------------- */

enum reply { AT_ONCE, DELAYED, SILENT };

#define MAX_CLIENTS 32
#define MAX_USER_ID 64

typedef struct server {
  int lfd;
  uint16_t port;
  pthread_t thread;
  atomic_int stop;
  enum reply reply;
  uint64_t delay_ns;
  atomic_ulong lines;                /* request lines received */
  atomic_ulong by_user[MAX_USER_ID]; /* ... by user id */
} server;

typedef struct client {
  int fd;
  char line[256];
  size_t len;
  uint64_t due[64]; /* DELAYED: when each reply is due */
  size_t ndue;
} client;

static void got_line(server *s, client *c, const char *line) {
  const char *u = strstr(line, " u");
  unsigned long id = u ? strtoul(u + 2, NULL, 10) : 0;
  if (id < MAX_USER_ID)
    atomic_fetch_add(&s->by_user[id], 1);
  atomic_fetch_add(&s->lines, 1);
  if (s->reply == AT_ONCE)
    (void)send(c->fd, "ok\n", 3, MSG_NOSIGNAL);
  else if (s->reply == DELAYED && c->ndue < 64)
    c->due[c->ndue++] = rl__now_ns() + s->delay_ns;
}

/* Reads a client; 0 when it has gone. */
static int serve(server *s, client *c) {
  char buf[4096];
  ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
    return 0;
  for (ssize_t i = 0; i < n; i++) {
    if (buf[i] != '\n') {
      if (c->len + 1 < sizeof c->line)
        c->line[c->len++] = buf[i];
      continue;
    }
    c->line[c->len] = '\0';
    c->len = 0;
    got_line(s, c, c->line);
  }
  return 1;
}

static void *server_main(void *arg) {
  server *s = arg;
  client clients[MAX_CLIENTS];
  size_t n = 0;
  while (!atomic_load(&s->stop)) {
    struct pollfd p[MAX_CLIENTS + 1];
    p[0] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
    for (size_t i = 0; i < n; i++)
      p[i + 1] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
    (void)poll(p, n + 1, 2);
    if ((p[0].revents & POLLIN) && n < MAX_CLIENTS) {
      int fd = accept(s->lfd, NULL, NULL);
      if (fd >= 0)
        clients[n++] = (client){.fd = fd};
    }
    uint64_t now = rl__now_ns();
    for (size_t i = 0; i < n; i++) {
      client *c = &clients[i];
      if ((p[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) && !serve(s, c)) {
        close(c->fd);
        clients[i--] = clients[--n];
        continue;
      }
      while (c->ndue && c->due[0] <= now) {
        (void)send(c->fd, "ok\n", 3, MSG_NOSIGNAL);
        memmove(c->due, c->due + 1, --c->ndue * sizeof c->due[0]);
      }
    }
  }
  for (size_t i = 0; i < n; i++)
    close(clients[i].fd);
  return NULL;
}

/* ---- the fixture --------------------------------------------------------------- */

static struct {
  server srv, srv2; /* srv2: a new test's host */
  th_step step;
  rl__target *t;
  rl__plan *plan;
  rl__stats *stats;
  rl__stats_hub hub;
  rl__worker w;
  rl__worker_config cfg;
  atomic_int finished, users_stopped;
  /* What rl__worker_users_live said when users_stopped was called. */
  atomic_uint live_at_stop;
  int started, serving, serving2;
} f;

static void finished(void *arg) {
  assert_ptr_equal(arg, &f);
  atomic_fetch_add(&f.finished, 1);
}

static void users_stopped(void *arg) {
  assert_ptr_equal(arg, &f);
  atomic_store(&f.live_at_stop, rl__worker_users_live(&f.w));
  atomic_fetch_add(&f.users_stopped, 1);
}

static int setup(void **state) {
  (void)state;
  th_reset();
  th_line_conf.user_ids = 1;
  memset(&f, 0, sizeof f);
  f.srv.lfd = th_listen(&f.srv.port);
  /* The server thread blocks in poll, not in accept. */
  assert_int_equal(fcntl(f.srv.lfd, F_SETFL, O_NONBLOCK), 0);
  f.step = (th_step){.label = "w", .type = "LINE", .name = "w"};
  f.t = th_target_new(&th_line, &f.step, f.srv.port);
  f.stats = rl__stats_new();
  assert_non_null(f.stats);
  rl__stats_hub_init(&f.hub, f.stats, 0);
  f.cfg = (rl__worker_config){.index = 0,
                              .nworkers = 1,
                              .host = &th_host,
                              .seed = 1,
                              .start_ns = rl__now_ns(),
                              .hub = &f.hub,
                              .finished = finished,
                              .users_stopped = users_stopped,
                              .finished_arg = &f};
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (f.started) {
    rl__worker_command(&f.w, RL__CMD_CUT);
    rl__worker_join(&f.w);
  }
  atomic_store(&f.srv.stop, 1);
  if (f.serving)
    pthread_join(f.srv.thread, NULL);
  close(f.srv.lfd);
  atomic_store(&f.srv2.stop, 1);
  if (f.serving2) {
    pthread_join(f.srv2.thread, NULL);
    close(f.srv2.lfd);
  }
  rl__plan_del(f.plan);
  th_target_free(f.t);
  rl__stats_hub_free(&f.hub);
  rl__stats_del(f.stats);
  return 0;
}

/* Starts the server and the worker: users wait `wait_ns` between tasks,
 * and have `stop_timeout_ns` to finish theirs at a stop. */
static void start(enum reply reply, uint64_t wait_ns,
                  uint64_t stop_timeout_ns) {
  f.srv.reply = reply;
  f.srv.delay_ns = 100 * TH_MS;
  assert_int_equal(pthread_create(&f.srv.thread, NULL, server_main, &f.srv), 0);
  f.serving = 1;
  rl__wait wait = {.kind = RL__WAIT_CONSTANT, .a_ns = wait_ns};
  f.plan = rl__plan_single(f.t, &wait);
  assert_non_null(f.plan);
  f.cfg.plan = f.plan;
  f.cfg.stop_timeout_ns = stop_timeout_ns;
  assert_int_equal(rl__worker_start(&f.w, &f.cfg), 0);
  f.started = 1;
}

/* Waits (main thread) for `cond`, up to the harness's time limit. */
#define WAIT_FOR(cond)                                                         \
  do {                                                                         \
    uint64_t deadline_ = rl__now_ns() + TH_TIMEOUT_NS;                         \
    while (!(cond)) {                                                          \
      if (rl__now_ns() > deadline_)                                            \
        fail_msg("timed out waiting for %s", #cond);                           \
      nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);                 \
    }                                                                          \
  } while (0)

static void pause_ms(long ms) {
  nanosleep(
      &(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000},
      NULL);
}

/* Stops (or cuts) and waits for the worker to say it has finished, up to
 * the harness's time limit (TH_TIMEOUT_NS, 5 s); returns how long that
 * took. The tests assert no upper bound on it (how fast a correct stop is
 * belongs to the machine): a stop that waits out what it should not is
 * given a wait or a stop timeout longer than that limit, and fails at it. */
static uint64_t stop_and_join(enum rl__worker_cmd cmd) {
  uint64_t t0 = rl__now_ns();
  rl__worker_command(&f.w, cmd);
  WAIT_FOR(atomic_load(&f.finished) > 0);
  uint64_t took = rl__now_ns() - t0;
  rl__worker_join(&f.w);
  f.started = 0;
  assert_int_equal(atomic_load(&f.finished), 1);
  return took;
}

/* What the hub holds. */
typedef struct merged {
  uint64_t requests, failures, entry_requests;
  size_t errors;
} merged;

static void read_hub(rl__stats *stats, const rl__history *history, void *arg) {
  (void)history;
  merged *m = arg;
  const rl__stats_entry *total = rl__stats_total(stats);
  m->requests = total->num_requests;
  m->failures = total->num_failures;
  const rl__stats_entry **all;
  size_t n = rl__stats_entries(stats, &all);
  m->entry_requests = 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(all[i]->type, "LINE") == 0 && strcmp(all[i]->name, "w") == 0)
      m->entry_requests = all[i]->num_requests;
  const rl__stats_error **errs;
  m->errors = rl__stats_errors(stats, &errs);
}

static uint64_t f_scheduled, f_dropped;
static void read_iterations(rl__stats *stats, const rl__history *history,
                            void *arg) {
  (void)history;
  (void)arg;
  rl__stats_iterations(stats, &f_scheduled, &f_dropped);
}

static merged hub(void) {
  merged m;
  rl__stats_hub_read(&f.hub, read_hub, &m);
  return m;
}

static unsigned long by_user(unsigned id) {
  return atomic_load(&f.srv.by_user[id]);
}

/* ---- tests --------------------------------------------------------------------- */

static void test_runs_users_merges_stats_and_counts_cuts_apart(void **state) {
  (void)state;
  /* The second of two workers: its users are 2, 4, 6. */
  f.cfg.index = 1;
  f.cfg.nworkers = 2;
  start(AT_ONCE, 5 * TH_MS, 0);
  rl__worker_set_users(&f.w, 3);
  WAIT_FOR(atomic_load(&f.srv.lines) >= 30 && by_user(2) && by_user(4) &&
           by_user(6));
  for (unsigned id = 0; id < MAX_USER_ID; id++)
    if (id != 2 && id != 4 && id != 6)
      assert_int_equal(by_user(id), 0);
  /* Merged into the hub while it runs (once a second). */
  WAIT_FOR(hub().requests > 0);
  /* No stop timeout: the stop cuts what is in flight. */
  stop_and_join(RL__CMD_STOP);
  merged m = hub();
  uint64_t cut = rl__worker_cut_requests(&f.w);
  assert_true(cut <= 3);
  /* Every request a plugin ended is in the hub or among the cut ones,
   * and the cut ones are neither successes nor failures there. */
  assert_int_equal(m.requests + cut, th_plugin_dones);
  assert_int_equal(m.entry_requests, m.requests);
  assert_int_equal(m.failures, 0);
  assert_int_equal(m.errors, 0);
  assert_true(m.requests >= 27);
}

static void test_stop_lets_tasks_in_flight_finish(void **state) {
  (void)state;
  /* Replies come 100 ms late; after their task users would wait 10 s,
   * and the stop timeout is 30 s: a stop that waited out either would
   * not finish within stop_and_join's limit. */
  start(DELAYED, 10 * RL__NS_PER_SEC, 30 * RL__NS_PER_SEC);
  rl__worker_set_users(&f.w, 2);
  WAIT_FOR(atomic_load(&f.srv.lines) == 2);
  stop_and_join(RL__CMD_STOP);
  /* Both answers arrived and counted. */
  assert_int_equal(rl__worker_cut_requests(&f.w), 0);
  merged m = hub();
  assert_int_equal(m.requests, 2);
  assert_int_equal(m.failures, 0);
  assert_int_equal(atomic_load(&f.srv.lines), 2);
}

static void test_the_stop_timeout_cuts_what_is_left(void **state) {
  (void)state;
  start(SILENT, 10 * RL__NS_PER_SEC, 150 * TH_MS);
  rl__worker_set_users(&f.w, 2);
  WAIT_FOR(atomic_load(&f.srv.lines) == 2);
  /* The replies never come: only the stop timeout ends the stop (a
   * stop that ignored it would not finish within stop_and_join's limit),
   * and not before its time. */
  uint64_t took = stop_and_join(RL__CMD_STOP);
  assert_true(took >= 140 * TH_MS);
  assert_int_equal(rl__worker_cut_requests(&f.w), 2);
  merged m = hub();
  assert_int_equal(m.requests, 0);
  assert_int_equal(m.errors, 0);
}

static void test_cut_ends_a_stop_at_once(void **state) {
  (void)state;
  start(SILENT, 10 * RL__NS_PER_SEC, 10 * RL__NS_PER_SEC);
  rl__worker_set_users(&f.w, 2);
  WAIT_FOR(atomic_load(&f.srv.lines) == 2);
  rl__worker_command(&f.w, RL__CMD_STOP);
  pause_ms(20);
  assert_int_equal(atomic_load(&f.finished), 0); /* in the grace period */
  /* The stop timeout (10 s) outlasts stop_and_join's limit: the cut
   * ended the stop. */
  stop_and_join(RL__CMD_CUT);
  assert_int_equal(rl__worker_cut_requests(&f.w), 2);
  assert_int_equal(hub().requests, 0);
}

static void test_a_stop_without_users_finishes(void **state) {
  (void)state;
  start(AT_ONCE, TH_MS, RL__NS_PER_SEC);
  stop_and_join(RL__CMD_STOP);
  assert_int_equal(hub().requests, 0);
  assert_int_equal(rl__worker_cut_requests(&f.w), 0);
  assert_int_equal(atomic_load(&f.srv.lines), 0);
}

static void test_fewer_users_retire_the_newest(void **state) {
  (void)state;
  start(AT_ONCE, 5 * TH_MS, 0);
  rl__worker_set_users(&f.w, 4);
  WAIT_FOR(by_user(1) >= 3 && by_user(2) >= 3 && by_user(3) >= 3 &&
           by_user(4) >= 3);
  rl__worker_set_users(&f.w, 2);
  pause_ms(50); /* the retiring ones finish their task */
  unsigned long before[5];
  for (unsigned id = 1; id <= 4; id++)
    before[id] = by_user(id);
  pause_ms(100);
  assert_int_equal(by_user(3), before[3]);
  assert_int_equal(by_user(4), before[4]);
  assert_true(by_user(1) > before[1]);
  assert_true(by_user(2) > before[2]);
  /* And back up: new users, new ids. */
  rl__worker_set_users(&f.w, 3);
  WAIT_FOR(by_user(5) > 0);
  assert_int_equal(by_user(3), before[3]);
  stop_and_join(RL__CMD_STOP);
  merged m = hub();
  assert_int_equal(m.requests + rl__worker_cut_requests(&f.w), th_plugin_dones);
  assert_int_equal(m.failures, 0);
}

static void test_users_failing_at_once_do_not_starve_the_loop(void **state) {
  (void)state;
  /* The session refuses every request and users do not wait: every
   * request fails as fast as it can be made, and the worker still hears
   * the stop. */
  th_line_conf.refuse_submit = 1;
  start(SILENT, 0, RL__NS_PER_SEC); /* constant 0: no wait */
  rl__worker_set_users(&f.w, 2);
  pause_ms(100);
  /* A starved loop would never hear it (nor run its stop timeout's
   * timer): stop_and_join's limit fails it. */
  stop_and_join(RL__CMD_STOP);
  merged m = hub();
  assert_true(m.requests > 10);
  assert_int_equal(m.failures, m.requests);
  assert_int_equal(m.errors, 1);        /* one row: "line refused ..." */
  assert_int_equal(th_plugin_dones, 0); /* all failed by the core */
}

/* A new test (the web UI's, after a stop) on another target: the stopped
 * users go, user ids start at 1 again, and the new plan's users talk to
 * the new server only. */
static void test_a_new_test_runs_a_new_plan_with_new_users(void **state) {
  (void)state;
  start(AT_ONCE, 5 * TH_MS, 0);
  rl__worker_set_users(&f.w, 2);
  WAIT_FOR(by_user(1) >= 3 && by_user(2) >= 3);
  rl__worker_stop_users(&f.w);
  WAIT_FOR(atomic_load(&f.users_stopped) == 1);
  /* Cut at once (no grace): the count others read was 0 before the
   * runner heard, else "stopped" could show users (the web UI did). */
  assert_int_equal(atomic_load(&f.live_at_stop), 0);
  unsigned long first = atomic_load(&f.srv.lines);

  f.srv2.lfd = th_listen(&f.srv2.port);
  assert_int_equal(fcntl(f.srv2.lfd, F_SETFL, O_NONBLOCK), 0);
  f.srv2.reply = AT_ONCE;
  assert_int_equal(pthread_create(&f.srv2.thread, NULL, server_main, &f.srv2),
                   0);
  f.serving2 = 1;
  th_step step2 = {.label = "w2", .type = "LINE", .name = "w2"};
  rl__target *t2 = th_target_new(&th_line, &step2, f.srv2.port);
  rl__wait wait = {.kind = RL__WAIT_CONSTANT, .a_ns = 5 * TH_MS};
  rl__plan *plan2 = rl__plan_single(t2, &wait);
  assert_non_null(plan2);
  rl__worker_new_test(&f.w, plan2, t2, 1);
  rl__worker_set_users(&f.w, 2);
  WAIT_FOR(atomic_load(&f.srv2.by_user[1]) >= 3 &&
           atomic_load(&f.srv2.by_user[2]) >= 3);
  /* Two users again, ids 1 and 2: the old ones were dropped, not kept
   * beside (ids 3 and 4 would be the new ones then). */
  assert_int_equal(atomic_load(&f.srv2.by_user[3]), 0);
  assert_int_equal(atomic_load(&f.srv2.by_user[4]), 0);
  assert_int_equal(atomic_load(&f.srv.lines), first);
  stop_and_join(RL__CMD_STOP);
  merged m = hub();
  assert_int_equal(m.failures, 0);
  rl__plan_del(plan2);
  th_target_free(t2);
}

static void test_a_dead_server_costs_one_failure_per_attempt(void **state) {
  (void)state;
  /* Nothing listens and users do not wait: each user's connection backs
   * off after each refusal (0.1 s, then 0.2 s, 0.4 s... +-20%), and its
   * requests wait for the next attempt, so a user fails about once per
   * attempt, not as fast as it can. */
  th_target_free(f.t);
  f.t = th_target_new(&th_line, &f.step, th_closed_port());
  uint64_t t0 = rl__now_ns();
  start(SILENT, 0, 0); /* constant 0: no wait */
  rl__worker_set_users(&f.w, 2);
  pause_ms(350);
  stop_and_join(RL__CMD_STOP);
  uint64_t elapsed = rl__now_ns() - t0;
  /* Attempts a user can have made by then, at the shortest waits. */
  uint64_t attempts = 1, at = 0, wait = 100 * TH_MS;
  for (int k = 0; k < 30; k++) {
    at += k == 0 ? wait : wait * 8 / 10;
    if (at > elapsed)
      break;
    attempts++;
    wait = k == 0 ? 200 * TH_MS : wait * 2;
  }
  merged m = hub();
  assert_true(m.requests >= 2);
  assert_true(m.requests <= 2 * attempts);
  assert_int_equal(m.failures, m.requests);
  assert_int_equal(m.errors, 1); /* one row: "connection refused" */
}

/* ---- the open model and -n ---------------------------------------------- */

static void iterations(uint64_t *scheduled, uint64_t *dropped) {
  rl__stats_hub_read(&f.hub, read_iterations, NULL);
  *scheduled = f_scheduled;
  *dropped = f_dropped;
}

static uint64_t scheduled_so_far(void) {
  uint64_t scheduled, dropped;
  iterations(&scheduled, &dropped);
  return scheduled;
}

static void test_open_model_queues_then_drops_and_counts_all(void **state) {
  (void)state;
  /* 200 arrivals a second for three users against a server that never
   * answers: three are sent, five wait in the queue, the rest are
   * dropped; the five too at the stop. Every arrival is accounted for. */
  rl__profile rate;
  rl__profile_constant(&rate, 200);
  f.cfg.rate = &rate;
  f.cfg.queue_cap = 5;
  start(SILENT, 10 * RL__NS_PER_SEC, 0);
  rl__worker_set_users(&f.w, 3);
  WAIT_FOR(atomic_load(&f.srv.lines) == 3);
  /* Until 50 arrivals are counted (what the hub has been told: a count,
   * not a time, so a loaded machine only makes it wait longer). */
  WAIT_FOR(scheduled_so_far() >= 50);
  assert_int_equal(atomic_load(&f.srv.lines), 3);
  stop_and_join(RL__CMD_STOP);
  uint64_t scheduled, dropped;
  iterations(&scheduled, &dropped);
  assert_true(scheduled >= 50);
  assert_int_equal(scheduled, 3 + dropped);
  assert_int_equal(rl__worker_cut_requests(&f.w), 3);
  assert_int_equal(hub().requests, 0);
  rl__profile_free(&rate);
}

static atomic_int all_done_calls;
static void all_done(void *arg) {
  (void)arg;
  atomic_fetch_add(&all_done_calls, 1);
}

static void test_iterations_stop_at_exactly_n(void **state) {
  (void)state;
  /* -n 40: closed model, three users that never wait; then the open
   * model at 2000/s with four. Exactly 40 requests reach the server and
   * the budget says so once. */
  for (int open = 0; open < 2; open++) {
    rl__budget budget;
    rl__budget_init(&budget, 40, all_done, NULL);
    atomic_store(&all_done_calls, 0);
    rl__profile rate;
    rl__profile_constant(&rate, 2000);
    f.cfg.rate = open ? &rate : NULL;
    f.cfg.queue_cap = 4;
    f.cfg.budget = &budget;
    if (!open) {
      start(AT_ONCE, 0, 0);
    } else {
      f.cfg.plan = f.plan;
      atomic_store(&f.finished, 0);
      assert_int_equal(rl__worker_start(&f.w, &f.cfg), 0);
      f.started = 1;
    }
    rl__worker_set_users(&f.w, open ? 4 : 3);
    WAIT_FOR(atomic_load(&all_done_calls) == 1);
    pause_ms(100);
    assert_int_equal(atomic_load(&f.srv.lines), 40 * (open + 1));
    stop_and_join(RL__CMD_STOP);
    assert_int_equal(atomic_load(&all_done_calls), 1);
    rl__profile_free(&rate);
  }
  assert_int_equal(hub().requests, 80);
}

/* A class written in C whose task sends one request on the "tp"
 * transport: the worker starts the transports its requests need, as for
 * steps. */
static atomic_ulong c_ok, c_failed;

static void c_done(rl_user *u, const rl_send_result *res, void *arg) {
  (void)arg;
  atomic_fetch_add(res->error ? &c_failed : &c_ok, 1);
  rl_user_task_done(u);
}

static void c_task(rl_user *u, void *arg) {
  (void)arg;
  assert_int_equal(rl_user_send(u, 0, c_done, NULL), 0);
}

static void test_a_c_classs_requests_get_their_transport(void **state) {
  (void)state;
  th_step step = {.label = "T", .type = "TP", .name = "t", .latency_ns = TH_MS};
  rl__target *t = th_target_new(&th_tp, &step, 1);
  rl__plan_class *k;
  rl__plan *p = th_plan_one(
      "C", (rl__wait){.kind = RL__WAIT_CONSTANT, .a_ns = 2 * TH_MS}, &k);
  th_plan_cclass(p, k, c_task, &t, 1);
  /* Its request is the plan's first target too (the runner's main one). */
  assert_ptr_equal(rl__plan_first_target(p), t);
  f.plan = p;
  f.cfg.plan = p;
  assert_int_equal(rl__worker_start(&f.w, &f.cfg), 0);
  f.started = 1;
  rl__worker_set_users(&f.w, 2);
  WAIT_FOR(atomic_load(&c_ok) >= 10);
  stop_and_join(RL__CMD_CUT);
  assert_int_equal(atomic_load(&c_failed), 0);
  rl__plan_del(p);
  f.plan = NULL;
  th_target_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
      T(test_runs_users_merges_stats_and_counts_cuts_apart),
      T(test_stop_lets_tasks_in_flight_finish),
      T(test_the_stop_timeout_cuts_what_is_left),
      T(test_cut_ends_a_stop_at_once),
      T(test_a_stop_without_users_finishes),
      T(test_fewer_users_retire_the_newest),
      T(test_users_failing_at_once_do_not_starve_the_loop),
      T(test_a_new_test_runs_a_new_plan_with_new_users),
      T(test_a_dead_server_costs_one_failure_per_attempt),
      T(test_open_model_queues_then_drops_and_counts_all),
      T(test_iterations_stop_at_exactly_n),
      T(test_a_c_classs_requests_get_their_transport),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
