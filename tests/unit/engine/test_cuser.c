/*
 * Users of a class written in C (engine/cuser.h) on a loop the test
 * drives: the order of the class's calls (on_start, tasks, done callbacks,
 * on_stop, free_data), sends in sequence and side by side, a branch on a
 * status, done never inside rl_user_send, the end of a task once its sends
 * are over, stopping (on_stop, RL_ERR_CANCELLED) and cutting (no done
 * after), variables and data. Requests run on the harness's "tp"
 * transport, whose steps say how each ends.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rpcload/user.h>

#include "engine/cuser.h"
#include "engine/plan.h"
#include "engine/rtarget.h"
#include "engine/user.h"
#include "engine_harness.h"

/* ---- the fixture ----------------------------------------------------------- */

#define NSTEPS 6

static struct {
  rl_loop lp;
  th_step s[NSTEPS]; /* labels "S" "A" "B" "C" "E" "X" */
  rl__target *t[NSTEPS];
  rl__plan *plan;
  rl__user *u;
  char log[1024]; /* what the class's callbacks did, "|"-separated */
  int in_send;    /* inside rl_user_send */
  int freed;      /* free_data calls */
  void *freed_data;
  int calls; /* task calls */
} f;

enum { S, A, B, C, E, X };

static int setup(void **state) {
  (void)state;
  static const char *labels[NSTEPS] = {"S", "A", "B", "C", "E", "X"};
  th_reset();
  memset(&f, 0, sizeof f);
  for (int i = 0; i < NSTEPS; i++) {
    f.s[i] = (th_step){.label = labels[i],
                       .type = "T",
                       .name = labels[i],
                       .latency_ns = 2 * TH_MS,
                       .status = 200};
    f.t[i] = th_target_new(&th_tp, &f.s[i], 1);
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (f.lp.ev) {
    /* Whatever is still running is cut, as a worker's end does. */
    f.lp.stopping = f.lp.cutting = 1;
    if (f.u)
      rl__user_stop(f.u, 1);
    th_loop_end_transports(&f.lp);
    if (f.u)
      rl__user_del(f.u);
    th_loop_free(&f.lp);
  }
  rl__plan_del(f.plan);
  for (int i = 0; i < NSTEPS; i++)
    th_target_free(f.t[i]);
  return 0;
}

static void say(const char *fmt, ...) {
  size_t n = strlen(f.log);
  va_list ap;
  va_start(ap, fmt);
  /* clang-tidy 14's valist checker loses the va_start above (a known false
   * positive of that version, as in base/buf.c). */
  // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
  vsnprintf(f.log + n, sizeof f.log - n, fmt, ap);
  va_end(ap);
  n = strlen(f.log);
  snprintf(f.log + n, sizeof f.log - n, "|");
}

/* The class's callbacks (on_start, one task, on_stop), its requests (the
 * steps' indices, -1 ended), and its wait. Transports run every step but
 * X, whose requests fail at once ("transport not running"). */
static void plan(rl_task_fn on_start, rl_task_fn task, rl_task_fn on_stop,
                 const int *requests, rl__wait wait) {
  rl__plan_class *k;
  rl__plan *p = th_plan_one("C", wait, &k);
  rl__target *t[NSTEPS];
  size_t n = 0;
  while (requests[n] >= 0) {
    t[n] = f.t[requests[n]];
    n++;
  }
  th_plan_cclass(p, k, task, t, n);
  k->c->on_start = on_start;
  k->c->on_stop = on_stop;
  p->has_on_stop = on_stop != NULL;
  f.plan = p;
  th_loop_init(&f.lp, p);
  for (int i = 0; i < NSTEPS; i++)
    if (i != X)
      th_loop_add_transport(&f.lp, f.t[i]);
}

static rl__wait constant(uint64_t ns) {
  return (rl__wait){.kind = RL__WAIT_CONSTANT, .a_ns = ns};
}

static rl__user *spawn(void) {
  f.u = rl__user_new(&f.lp, 1, &f.plan->classes[0], NULL);
  assert_non_null(f.u);
  f.lp.live_users++;
  return f.u;
}

static const rl__stats_entry *entry_named(const char *name) {
  const rl__stats_entry **all;
  size_t n = rl__stats_entries(f.lp.stats, &all);
  for (size_t i = 0; i < n; i++)
    if (strcmp(all[i]->name, name) == 0)
      return all[i];
  return NULL;
}

static uint64_t requests_of(const char *name) {
  const rl__stats_entry *e = entry_named(name);
  return e ? e->num_requests : 0;
}

static int send_req(rl_user *u, size_t i, rl_done_fn done) {
  f.in_send = 1;
  int rc = rl_user_send(u, i, done, NULL);
  f.in_send = 0;
  return rc;
}

/* Done callbacks: each logs the request it saw, and that it did not come
 * from inside rl_user_send. */
static void seen(const rl_send_result *res) {
  assert_false(f.in_send);
  assert_int_equal(res->struct_size, sizeof *res);
  if (res->error)
    say("done %s %s", res->name, res->error);
  else
    say("done %s %d", res->name, res->status);
}

static void done_then_end(rl_user *u, const rl_send_result *res, void *arg) {
  (void)arg;
  seen(res);
  rl_user_task_done(u);
}

static void done_only(rl_user *u, const rl_send_result *res, void *arg) {
  (void)u;
  (void)arg;
  seen(res);
}

/* ---- a task's requests --------------------------------------------------- */

/* Requests: 0 A, 1 B, 2 C. A, then B when A said 200, else C. */
static void branch_done(rl_user *u, const rl_send_result *res, void *arg) {
  (void)arg;
  seen(res);
  assert_int_equal(send_req(u, res->status == 200 ? 1 : 2, done_then_end), 0);
}

static void branch_task(rl_user *u, void *arg) {
  (void)arg;
  say("task");
  assert_int_equal(send_req(u, 0, branch_done), 0);
}

static void
test_a_task_sends_in_sequence_and_branches_on_a_status(void **state) {
  (void)state;
  const int req[] = {A, B, C, -1};
  f.s[A].body = "hello";
  plan(NULL, branch_task, NULL, req, constant(RL__NS_PER_SEC));
  rl__user *u = spawn();
  assert_int_equal(u->state, RL__USER_READY);
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  assert_string_equal(f.log, "task|done A 200|done B 200|");
  assert_string_equal(th_tp_labels(), "A B");
  assert_int_equal(requests_of("A"), 1);
  assert_int_equal(requests_of("B"), 1);
  assert_int_equal(requests_of("C"), 0);
}

static void test_the_other_branch_follows_another_status(void **state) {
  (void)state;
  const int req[] = {A, B, C, -1};
  f.s[A].status = 404; /* a success whose status is not 200 */
  plan(NULL, branch_task, NULL, req, constant(RL__NS_PER_SEC));
  rl__user *u = spawn();
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  assert_string_equal(f.log, "task|done A 404|done C 200|");
  assert_string_equal(th_tp_labels(), "A C");
}

/* The result handed to done: the stats row, the body, the status. */
static void body_done(rl_user *u, const rl_send_result *res, void *arg) {
  (void)arg;
  assert_string_equal(res->type, "T");
  assert_string_equal(res->name, "A");
  assert_int_equal(res->body_len, 5);
  assert_memory_equal(res->body, "hello", 5);
  assert_int_equal(res->response_length, 5);
  assert_null(res->error);
  assert_true(res->response_time_ns > 0);
  say("done");
  rl_user_task_done(u);
}

static void body_task(rl_user *u, void *arg) {
  (void)arg;
  assert_int_equal(send_req(u, 0, body_done), 0);
}

static void test_done_sees_the_response(void **state) {
  (void)state;
  const int req[] = {A, -1};
  f.s[A].body = "hello";
  plan(NULL, body_task, NULL, req, constant(RL__NS_PER_SEC));
  rl__user *u = spawn();
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  assert_string_equal(f.log, "done|");
}

/* ---- done is never called inside rl_user_send ------------------------------ */

static void at_once_task(rl_user *u, void *arg) {
  (void)arg;
  say("task");
  /* X has no transport: its request fails inside the submit. */
  assert_int_equal(send_req(u, 0, done_then_end), 0);
  say("sent");
}

static void
test_done_comes_after_send_even_when_it_fails_at_once(void **state) {
  (void)state;
  const int req[] = {X, -1};
  plan(NULL, at_once_task, NULL, req, constant(RL__NS_PER_SEC));
  rl__user *u = spawn();
  th_run_ready(&f.lp);
  /* The request has ended and been counted; its done waits for the
   * user's next turn. */
  assert_string_equal(f.log, "task|sent|");
  assert_int_equal(requests_of("X"), 1);
  assert_true(u->queued);
  th_run_ready(&f.lp);
  assert_string_equal(f.log, "task|sent|done X transport not running|");
  assert_int_equal(u->state, RL__USER_WAITING);
}

/* ---- side by side ---------------------------------------------------------- */

static void late_done(rl_user *u, const rl_send_result *res, void *arg) {
  (void)arg;
  seen(res);
  /* The task said it is over: nothing more may be sent in it. */
  assert_int_equal(rl_user_send(u, 1, done_only, NULL), RL_ERR_CLOSED);
  assert_int_equal(f.u->state, RL__USER_RUNNING);
}

static void pair_task(rl_user *u, void *arg) {
  (void)arg;
  say("task");
  assert_int_equal(send_req(u, 0, late_done), 0);
  assert_int_equal(send_req(u, 1, late_done), 0);
  rl_user_task_done(u); /* over once both have ended */
}

static void test_two_sends_at_once_end_the_task_after_both(void **state) {
  (void)state;
  const int req[] = {A, B, -1};
  f.s[A].latency_ns = 20 * TH_MS;
  f.s[B].latency_ns = 1 * TH_MS;
  plan(NULL, pair_task, NULL, req, constant(RL__NS_PER_SEC));
  rl__user *u = spawn();
  th_run_ready(&f.lp);
  /* Both went out at once, and the task goes on without them. */
  assert_string_equal(th_tp_labels(), "A B");
  assert_int_equal(u->state, RL__USER_RUNNING);
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  assert_string_equal(f.log, "task|done B 200|done A 200|");
  assert_int_equal(requests_of("A"), 1);
  assert_int_equal(requests_of("B"), 1);
}

/* ---- on_start, on_stop, data ------------------------------------------------- */

static void free_data(void *data, void *arg) {
  (void)arg;
  f.freed++;
  f.freed_data = data;
  free(data);
}

static void start_fn(rl_user *u, void *arg) {
  (void)arg;
  say("start");
  assert_null(rl_user_data(u));
  int *n = calloc(1, sizeof *n);
  assert_non_null(n);
  rl_user_set_data(u, n);
  assert_int_equal(send_req(u, 0, done_then_end), 0);
}

static void counted_task(rl_user *u, void *arg) {
  (void)arg;
  int *n = rl_user_data(u);
  say("task %d", ++*n);
  assert_int_equal(send_req(u, 1, done_then_end), 0);
}

static void stop_fn(rl_user *u, void *arg) {
  (void)arg;
  say("stop");
  assert_int_equal(send_req(u, 2, done_then_end), 0);
}

static void test_on_start_tasks_on_stop_then_free_data(void **state) {
  (void)state;
  const int req[] = {S, A, E, -1};
  plan(start_fn, counted_task, stop_fn, req, constant(50 * TH_MS));
  f.plan->classes[0].c->free_data = free_data;
  rl__user *u = spawn();
  assert_int_equal(u->phase, RL__PHASE_START);
  TH_RUN_UNTIL(&f.lp, th_tp_n == 3 && u->state == RL__USER_WAITING);
  void *data = rl_user_data(u->c);
  assert_non_null(data);
  /* Its life ends between tasks: on_stop, then it stops. */
  rl__user_end(u);
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_STOPPED);
  assert_string_equal(f.log, "start|done S 200|task 1|done A 200|task 2|"
                             "done A 200|stop|done E 200|");
  assert_string_equal(th_tp_labels(), "S A A E");
  /* on_start's and on_stop's requests count from their own sends (no
   * task's start to count from): within the test's time. */
  uint64_t since = rl__now_ns() - f.lp.start_ns;
  assert_true(rl__stats_entry_max_ns(entry_named("S")) <= since);
  assert_true(rl__stats_entry_max_ns(entry_named("E")) <= since);
  assert_int_equal(f.freed, 1);
  assert_ptr_equal(f.freed_data, data);
  assert_null(rl_user_data(u->c));
  assert_int_equal(f.lp.live_users, 0);
}

/* ---- stopping and cutting --------------------------------------------------- */

static void stopping_done(rl_user *u, const rl_send_result *res, void *arg) {
  (void)arg;
  seen(res);
  /* The run stops and on_stop is to come: the task should end. */
  say("%d", rl_user_send(u, 1, done_only, NULL));
  rl_user_task_done(u);
}

static void stopping_task(rl_user *u, void *arg) {
  (void)arg;
  say("task");
  assert_int_equal(send_req(u, 0, stopping_done), 0);
}

static void test_a_stopping_user_ends_its_task_then_runs_on_stop(void **state) {
  (void)state;
  const int req[] = {A, B, E, -1};
  plan(NULL, stopping_task, stop_fn, req, constant(RL__NS_PER_SEC));
  rl__user *u = spawn();
  th_run_ready(&f.lp);
  assert_string_equal(th_tp_labels(), "A");
  f.lp.stopping = 1; /* the run's stop, with a stop timeout */
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_STOPPED);
  char want[128];
  snprintf(want, sizeof want, "task|done A 200|%d|stop|done E 200|",
           RL_ERR_CANCELLED);
  assert_string_equal(f.log, want);
  assert_string_equal(th_tp_labels(), "A E");
}

static void held_task(rl_user *u, void *arg) {
  (void)arg;
  say("task");
  rl_user_set_data(u, malloc(16));
  assert_int_equal(send_req(u, 0, done_only), 0);
  assert_int_equal(send_req(u, 1, done_only), 0);
}

static void test_a_cut_user_hears_nothing_more(void **state) {
  (void)state;
  const int req[] = {A, X, -1};
  f.s[A].hold = 1; /* never ends on its own */
  plan(NULL, held_task, NULL, req, constant(RL__NS_PER_SEC));
  f.plan->classes[0].c->free_data = free_data;
  rl__user *u = spawn();
  th_run_ready(&f.lp);
  /* X has ended (a failure, counted), its done waits for the user's next
   * turn; A is in flight. The cut comes first. */
  assert_int_equal(requests_of("X"), 1);
  assert_true(u->queued);
  f.lp.stopping = f.lp.cutting = 1;
  rl__user_stop(u, 1);
  assert_int_equal(f.freed, 1); /* its data went at the stop */
  th_run_ready(&f.lp);
  /* A ends now, cut: counted apart, and no done for it either. */
  th_loop_end_transports(&f.lp);
  th_run_ready(&f.lp);
  assert_string_equal(f.log, "task|");
  assert_int_equal(f.lp.cut_requests, 1);
  assert_int_equal(requests_of("A"), 0);
}

/* ---- a host not declared (rl_send_opts.host, API 1.6) ----------------------- */

/* The run-time table's builder: a "line" target to the peer for any
 * host but "nowhere", once the test lets it go (held: the build is
 * under way). */
static struct {
  atomic_int hold, builds;
  th_step step;
  uint16_t port;
  int lfd;
} rt;

static int rt_build(void *ctx, const rl__plan_class *cls, size_t request,
                    const char *host, rl__plan_step *out, char *err,
                    size_t errlen) {
  (void)ctx;
  (void)cls;
  (void)request;
  atomic_fetch_add(&rt.builds, 1);
  uint64_t until = rl__now_ns() + TH_TIMEOUT_NS;
  while (atomic_load(&rt.hold) && rl__now_ns() < until) {
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  if (strcmp(host, "nowhere") == 0) {
    snprintf(err, errlen, "cannot resolve host 'nowhere'");
    return RL_ERR_INVAL;
  }
  *out = (rl__plan_step){.kind = RL__STEP_REQUEST,
                         .target = th_target_new(&th_line, &rt.step, rt.port)};
  return 0;
}

static void rt_plan(rl_task_fn task) {
  const int req[] = {A, -1};
  memset(&rt, 0, sizeof rt);
  rt.step = (th_step){.label = "L", .type = "T", .name = "L"};
  rt.lfd = th_listen(&rt.port);
  plan(NULL, task, NULL, req, constant(RL__NS_PER_SEC));
  f.plan->rt = rl__rtargets_new(0, rt_build, NULL, NULL);
  f.plan->rt_del = rl__rtargets_del;
  assert_non_null(f.plan->rt);
}

/* Sends request 0 (A) to "peer", or "nowhere" once f.calls is set. */
static void rt_task(rl_user *u, void *arg) {
  (void)arg;
  say("task");
  rl_send_opts o = {.struct_size = sizeof o,
                    .host = f.calls ? "nowhere" : "peer"};
  f.in_send = 1;
  assert_int_equal(rl_user_send_opts(u, 0, &o, done_then_end, NULL), 0);
  f.in_send = 0;
}

static void test_a_send_to_a_new_host_waits_for_its_target(void **state) {
  (void)state;
  rt_plan(rt_task);
  atomic_store(&rt.hold, 1);
  rl__user *u = spawn();
  th_run_ready(&f.lp);
  /* The target builds: nothing sent yet, the task still on. */
  th_run_for(&f.lp, 20 * TH_MS);
  assert_string_equal(f.log, "task|");
  assert_false(th_pending(rt.lfd));
  assert_int_equal(u->state, RL__USER_RUNNING);
  atomic_store(&rt.hold, 0);
  int fd = th_accept(&f.lp, rt.lfd);
  th_in in = {0};
  th_expect(&f.lp, fd, &in, "L 1\n");
  th_send(fd, "ok\n");
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  assert_string_equal(f.log, "task|done L -1|");
  assert_int_equal(requests_of("L"), 1);
  assert_int_equal(requests_of("A"), 0);
  assert_int_equal(atomic_load(&rt.builds), 1);
  close(fd);
  close(rt.lfd);
}

static void test_a_host_that_fails_to_build_fails_its_send(void **state) {
  (void)state;
  rt_plan(rt_task);
  f.calls = 1; /* "nowhere" */
  rl__user *u = spawn();
  th_run_ready(&f.lp);
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  /* Counted under its request's row (A: the declared step's name). */
  assert_string_equal(f.log, "task|done A cannot resolve host 'nowhere'|");
  const rl__stats_entry *e = entry_named("A");
  assert_non_null(e);
  assert_int_equal(e->num_requests, 1);
  assert_int_equal(e->num_failures, 1);
  close(rt.lfd);
}

static void test_a_cut_user_waiting_for_a_target_hears_nothing(void **state) {
  (void)state;
  rt_plan(rt_task);
  atomic_store(&rt.hold, 1);
  rl__user *u = spawn();
  th_run_ready(&f.lp);
  assert_string_equal(f.log, "task|");
  f.lp.stopping = f.lp.cutting = 1;
  rl__user_stop(u, 1);
  atomic_store(&rt.hold, 0);
  /* Built now: no send goes, no done comes. */
  th_run_for(&f.lp, 30 * TH_MS);
  th_run_ready(&f.lp);
  assert_string_equal(f.log, "task|");
  assert_false(th_pending(rt.lfd));
  assert_int_equal(requests_of("L"), 0);
  close(rt.lfd);
}

/* A send that reuses the object of one that got a response: its failure
 * shows no response (status -1, no body), not the one before. */
static void status_done(rl_user *u, const rl_send_result *res, void *arg) {
  (void)arg;
  say("done %s %d %zu", res->name, res->status, res->body_len);
  rl_user_task_done(u);
}

static void reuse_task(rl_user *u, void *arg) {
  (void)arg;
  rl_send_opts o = {.struct_size = sizeof o,
                    .host = f.calls++ ? "nowhere" : NULL};
  assert_int_equal(rl_user_send_opts(u, 0, &o, status_done, NULL), 0);
}

static void test_a_failed_host_shows_no_earlier_response(void **state) {
  (void)state;
  rt_plan(reuse_task);
  f.s[A].body = "hello";
  f.plan->classes[0].wait = constant(0);
  (void)spawn();
  TH_RUN_UNTIL(&f.lp, strstr(f.log, "done A -1") != NULL);
  assert_memory_equal(f.log, "done A 200 5|done A -1 0|", 25);
  close(rt.lfd);
}

/* ---- what rl_user_send refuses ---------------------------------------------- */

static void refusing_task(rl_user *u, void *arg) {
  (void)arg;
  assert_int_equal(rl_user_send(u, 1, done_only, NULL), RL_ERR_INVAL);
  assert_int_equal(rl_user_send(u, 0, NULL, NULL), RL_ERR_INVAL);
  rl_user_task_done(u);
  assert_int_equal(rl_user_send(u, 0, done_only, NULL), RL_ERR_CLOSED);
  say("task");
}

static void test_send_refuses_what_cannot_be_sent(void **state) {
  (void)state;
  const int req[] = {A, -1};
  plan(NULL, refusing_task, NULL, req, constant(RL__NS_PER_SEC));
  rl__user *u = spawn();
  th_run_ready(&f.lp);
  assert_string_equal(f.log, "task|");
  assert_int_equal(u->state, RL__USER_WAITING);
  assert_int_equal(th_tp_n, 0);
}

static void flood_task(rl_user *u, void *arg) {
  (void)arg;
  int rc = 0;
  size_t sent = 0;
  while (sent < RL_USER_MAX_INFLIGHT + 5 &&
         (rc = rl_user_send(u, 0, done_only, NULL)) == 0)
    sent++;
  assert_int_equal(sent, RL_USER_MAX_INFLIGHT);
  assert_int_equal(rc, RL_ERR_BUSY);
  rl_user_task_done(u);
}

static void test_sends_in_flight_are_capped(void **state) {
  (void)state;
  const int req[] = {A, -1};
  plan(NULL, flood_task, NULL, req, constant(RL__NS_PER_SEC));
  rl__user *u = spawn();
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  assert_int_equal(requests_of("A"), RL_USER_MAX_INFLIGHT);
}

/* ---- a task that ends at once -------------------------------------------------- */

static void empty_task(rl_user *u, void *arg) {
  (void)arg;
  f.calls++;
  rl_user_task_done(u);
}

static void
test_a_task_that_sends_nothing_waits_for_the_next_turn(void **state) {
  (void)state;
  const int req[] = {A, -1}; /* never sent */
  plan(NULL, empty_task, NULL, req, constant(0));
  spawn();
  /* No wait and nothing sent: the next task comes at the loop's next
   * turn, not at once (that would never return). */
  th_run_ready(&f.lp);
  assert_int_equal(f.calls, 1);
  th_run_ready(&f.lp);
  assert_int_equal(f.calls, 2);
}

/* ---- variables ---------------------------------------------------------------- */

static void vars_task(rl_user *u, void *arg) {
  (void)arg;
  assert_int_equal(rl_user_id(u), 1);
  assert_null(rl_user_get_var(u, "token"));
  assert_int_equal(rl_user_set_var(u, "token", "abc"), 0);
  assert_string_equal(rl_user_get_var(u, "token"), "abc");
  /* Where the requests' templates read it. */
  assert_string_equal(f.u->vars[0], "abc");
  /* A name no request uses: the class's own. */
  assert_int_equal(rl_user_set_var(u, "mine", "x"), 0);
  assert_int_equal(rl_user_set_var(u, "mine", "y"), 0);
  assert_string_equal(rl_user_get_var(u, "mine"), "y");
  assert_int_equal(rl_user_set_var(u, "mine", NULL), 0);
  assert_null(rl_user_get_var(u, "mine"));
  assert_int_equal(rl_user_set_var(u, "", "x"), RL_ERR_INVAL);
  assert_int_equal(rl_user_set_var(u, NULL, "x"), RL_ERR_INVAL);
  assert_int_equal(rl_user_set_var(u, "other", "z"), 0);
  say("task");
  rl_user_task_done(u);
}

static void test_variables_are_the_users(void **state) {
  (void)state;
  const int req[] = {A, -1};
  plan(NULL, vars_task, NULL, req, constant(RL__NS_PER_SEC));
  size_t at;
  assert_int_equal(rl__plan_var(f.plan, "token", &at), 0);
  rl__user *u = spawn();
  th_run_ready(&f.lp);
  assert_string_equal(f.log, "task|");
  assert_int_equal(u->state, RL__USER_WAITING);
}

/* ---- API 1.1: a send's own name, its outcome decided, sleeps ------------------- */

static void named_done(rl_user *u, const rl_send_result *res, void *arg) {
  (void)arg;
  seen(res);
  rl_user_task_done(u);
}

static void named_task(rl_user *u, void *arg) {
  (void)arg;
  rl_send_opts o = {.struct_size = sizeof o, .name = "/items?id=[id]"};
  assert_int_equal(rl_user_send_opts(u, 0, &o, named_done, NULL), 0);
  o.struct_size = 4; /* too small to hold the name */
  assert_int_equal(rl_user_send_opts(u, 0, &o, named_done, NULL), RL_ERR_INVAL);
}

static void test_a_send_counts_under_its_own_name(void **state) {
  (void)state;
  const int req[] = {A, -1};
  plan(NULL, named_task, NULL, req, constant(RL__NS_PER_SEC));
  rl__user *u = spawn();
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  assert_string_equal(f.log, "done /items?id=[id] 200|");
  assert_int_equal(requests_of("/items?id=[id]"), 1);
  assert_int_equal(requests_of("A"), 0);
}

/* A listener that reads responses (on_request with wants_response) gets
 * the header fields too: the plugin is asked for all of it (ABI 1.8). */
static void test_listeners_reading_responses_get_every_part(void **state) {
  (void)state;
  const int req[] = {A, -1};
  plan(NULL, named_task, NULL, req, constant(RL__NS_PER_SEC));
  f.lp.events_response = 1;
  rl__user *u = spawn();
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  assert_int_equal(requests_of("/items?id=[id]"), 1);
  assert_int_equal(th_tp_last_parts, RL_RESPONSE_ALL);
}

/* Each done decides differently: A1 fails it, A2 leaves the protocol's
 * success, X (a transport failure) is made a success; a send without
 * decide cannot be decided. */
static void decide_done(rl_user *u, const rl_send_result *res, void *arg) {
  int which = (int)(intptr_t)arg;
  seen(res);
  /* A deciding send is counted only once its done returns (A2 sees A1's
   * count, not its own); B, not deciding, was counted when it ended. */
  static const uint64_t counted_before[] = {0, 0, 1, 0, 1};
  assert_int_equal(requests_of(res->name), counted_before[which]);
  if (which == 1)
    assert_int_equal(rl_user_decide(u, res, "no price"), 0);
  if (which == 3)
    assert_int_equal(rl_user_decide(u, res, NULL), 0);
  if (which == 4)
    assert_int_equal(rl_user_decide(u, res, "x"), RL_ERR_INVAL);
}

static void decide_task(rl_user *u, void *arg) {
  (void)arg;
  rl_send_opts o = {.struct_size = sizeof o, .decide = 1};
  assert_int_equal(rl_user_send_opts(u, 0, &o, decide_done, (void *)1), 0);
  assert_int_equal(rl_user_send_opts(u, 0, &o, decide_done, (void *)2), 0);
  assert_int_equal(rl_user_send_opts(u, 1, &o, decide_done, (void *)3), 0);
  assert_int_equal(rl_user_send(u, 2, decide_done, (void *)4), 0);
  rl_user_task_done(u);
}

static void test_a_deciding_send_counts_what_done_decided(void **state) {
  (void)state;
  const int req[] = {A, X, B, -1};
  plan(NULL, decide_task, NULL, req, constant(RL__NS_PER_SEC));
  rl__user *u = spawn();
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  const rl__stats_entry *a = entry_named("A"), *x = entry_named("X");
  assert_non_null(a);
  assert_non_null(x);
  assert_int_equal(a->num_requests, 2);
  assert_int_equal(a->num_failures, 1);
  assert_int_equal(x->num_requests, 1);
  assert_int_equal(x->num_failures, 0);
  assert_int_equal(requests_of("B"), 1);
  /* Its done reads the status and the body (rl_send_result), never the
   * header fields: the plugin is not asked for them (ABI 1.8). */
  assert_int_equal(th_tp_last_parts, RL_RESPONSE_STATUS | RL_RESPONSE_BODY);
  /* Outside a done: nothing to decide. */
  rl_send_result r = {.struct_size = sizeof r};
  assert_int_equal(rl_user_decide(u->c, &r, "x"), RL_ERR_INVAL);
}

static void woke(rl_user *u, void *arg) {
  (void)arg;
  say("woke");
  rl_user_task_done(u);
}

static void sleep_task(rl_user *u, void *arg) {
  (void)arg;
  say("sleep");
  assert_int_equal(rl_user_sleep(u, -1, woke, NULL), RL_ERR_INVAL);
  assert_int_equal(rl_user_sleep(u, 0.01, NULL, NULL), RL_ERR_INVAL);
  assert_int_equal(rl_user_sleep(u, 0.01, woke, NULL), 0);
  assert_int_equal(rl_user_sleep(u, 0.01, woke, NULL), RL_ERR_BUSY);
  /* Said done, but the sleep holds the task. */
  rl_user_task_done(u);
}

static void test_a_sleep_wakes_the_user_and_holds_its_task(void **state) {
  (void)state;
  const int req[] = {A, -1};
  plan(NULL, sleep_task, NULL, req, constant(RL__NS_PER_SEC));
  rl__user *u = spawn();
  th_run_ready(&f.lp);
  assert_string_equal(f.log, "sleep|");
  assert_int_equal(u->state, RL__USER_RUNNING);
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  assert_string_equal(f.log, "sleep|woke|");
}

static void test_a_cut_user_is_not_woken(void **state) {
  (void)state;
  const int req[] = {A, -1};
  plan(NULL, sleep_task, NULL, req, constant(RL__NS_PER_SEC));
  rl__user *u = spawn();
  th_run_ready(&f.lp);
  f.lp.stopping = f.lp.cutting = 1;
  rl__user_stop(u, 1);
  /* Past the sleep's end, the loop has nothing to wake it with. */
  th_run_for(&f.lp, 30 * TH_MS);
  assert_string_equal(f.log, "sleep|");
}

/* ---- API 1.3: the task's own wait, StopUser ---------------------------------- */

static void start_cannot_wait(rl_user *u, void *arg) {
  (void)arg;
  say("start %d", rl_user_wait_next(u, 0.5));
  rl_user_task_done(u);
}

/* Its first run asks for a 20 ms wait; later ones leave the class's. */
static void waits_once_task(rl_user *u, void *arg) {
  (void)arg;
  say("task %d", ++f.calls);
  assert_int_equal(rl_user_wait_next(u, -1), RL_ERR_INVAL);
  if (f.calls == 1)
    assert_int_equal(rl_user_wait_next(u, 0.02), 0);
  assert_int_equal(send_req(u, 0, done_then_end), 0);
}

static void test_a_task_sets_its_own_wait(void **state) {
  (void)state;
  const int req[] = {A, -1};
  plan(start_cannot_wait, waits_once_task, NULL, req, constant(RL__NS_PER_SEC));
  rl__user *u = spawn();
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  char want[64];
  snprintf(want, sizeof want, "start %d|task 1|done A 200|", RL_ERR_CLOSED);
  assert_string_equal(f.log, want);
  /* The timer holds what the task asked, not the class's 1 s. */
  assert_true(ev_timer_remaining(f.lp.ev, &u->timer) <= 0.0201);
  TH_RUN_UNTIL(&f.lp, f.calls == 2 && u->state == RL__USER_WAITING);
  assert_true(ev_timer_remaining(f.lp.ev, &u->timer) > 0.5);
}

static void stop_user_task(rl_user *u, void *arg) {
  (void)arg;
  say("task %d", ++f.calls);
  assert_int_equal(rl_user_stop(u), 0);
  assert_int_equal(send_req(u, 0, done_then_end), 0);
}

static void test_stop_user_ends_the_user_through_on_stop(void **state) {
  (void)state;
  const int req[] = {A, B, E, -1};
  plan(NULL, stop_user_task, stop_fn, req, constant(0));
  rl__user *u = spawn();
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_STOPPED);
  /* The task's request finished, then on_stop, and no second task. */
  assert_string_equal(f.log, "task 1|done A 200|stop|done E 200|");
  assert_string_equal(th_tp_labels(), "A E");
  assert_int_equal(f.lp.live_users, 0);
}

/* ---- API 1.5: requests the class fires, sends that are no event ------- */

/* A's send is no request event; its done fires what the class timed. */
static void fire_done(rl_user *u, const rl_send_result *res, void *arg) {
  (void)arg;
  seen(res);
  rl_fired_request r = {.struct_size = sizeof r,
                        .type = "manual",
                        .name = "wrapped",
                        .response_time_ns = 3 * TH_MS,
                        .response_length = 7};
  assert_int_equal(rl_user_fire_request(u, &r), 0);
  r.error = "it broke";
  assert_int_equal(rl_user_fire_request(u, &r), 0);
  /* What cannot be a stats row, or an older caller's struct. */
  r.name = "";
  assert_int_equal(rl_user_fire_request(u, &r), RL_ERR_INVAL);
  r.name = "wrapped";
  r.struct_size = 4;
  assert_int_equal(rl_user_fire_request(u, &r), RL_ERR_INVAL);
  assert_int_equal(rl_user_fire_request(u, NULL), RL_ERR_INVAL);
  rl_user_task_done(u);
}

static void fire_task(rl_user *u, void *arg) {
  (void)arg;
  rl_send_opts o = {.struct_size = sizeof o, .decide = 1, .no_event = 1};
  assert_int_equal(rl_user_send_opts(u, 0, &o, fire_done, NULL), 0);
}

static void test_a_class_fires_its_own_requests(void **state) {
  (void)state;
  const int req[] = {A, -1};
  plan(NULL, fire_task, NULL, req, constant(RL__NS_PER_SEC));
  rl__user *u = spawn();
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  /* A went out and its done saw it, but only the fired ones count. */
  assert_string_equal(f.log, "done A 200|");
  assert_string_equal(th_tp_labels(), "A");
  assert_int_equal(requests_of("A"), 0);
  const rl__stats_entry *e = entry_named("wrapped");
  assert_non_null(e);
  assert_string_equal(e->type, "manual");
  assert_int_equal(e->num_requests, 2);
  assert_int_equal(e->num_failures, 1);
  /* Stopped: nothing more counts. */
  f.lp.stopping = f.lp.cutting = 1;
  rl__user_stop(u, 1);
  rl_fired_request r = {
      .struct_size = sizeof r, .type = "manual", .name = "wrapped"};
  assert_int_equal(rl_user_fire_request(u->c, &r), RL_ERR_CLOSED);
  assert_int_equal(e->num_requests, 2);
}

/* API 1.6: a send with on_message gets the response's messages, in
 * order, from the user's turn (never inside rl_user_send or the plugin's
 * callback), before its done; a class that holds them makes the host
 * answer the plugin 1 (pause); hold and cancel name an in-flight send by
 * its arg, and refuse another. */
static int msg_tag;

static void on_msg(rl_user *u, const char *json, size_t len, void *arg) {
  (void)u;
  assert_false(f.in_send);
  assert_ptr_equal(arg, &msg_tag);
  assert_int_equal(strlen(json), len);
  say("msg %s", json);
}

static void msg_task(rl_user *u, void *arg) {
  (void)arg;
  if (f.calls++)
    return;
  rl_send_opts o = {.struct_size = sizeof o, .on_message = on_msg};
  f.in_send = 1;
  assert_int_equal(rl_user_send_opts(u, 0, &o, done_then_end, &msg_tag), 0);
  f.in_send = 0;
  assert_int_equal(rl_user_hold_messages(u, &msg_tag, 1), 0);
  assert_int_equal(rl_user_hold_messages(u, &f, 1), RL_ERR_INVAL);
  assert_int_equal(rl_user_cancel(u, &f, "no"), RL_ERR_INVAL);
  /* A transport's request is held by no session: nothing to cancel. */
  assert_int_equal(rl_user_cancel(u, &msg_tag, "no"), RL_ERR_INVAL);
}

static void test_a_send_takes_its_messages_as_they_come(void **state) {
  (void)state;
  f.s[A].events = 3;
  f.s[A].event_name = "A [recv]";
  const int req[] = {A, -1};
  plan(NULL, msg_task, NULL, req, constant(RL__NS_PER_SEC));
  rl__user *u = spawn();
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  assert_string_equal(f.log,
                      "msg {\"i\":1}|msg {\"i\":2}|msg {\"i\":3}|done A 200|");
  assert_int_equal(th_tp_holds, 3); /* held: each answered 1 */
  assert_int_equal(requests_of("A"), 1);
  assert_int_equal(requests_of("A [recv]"), 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
      T(test_a_task_sends_in_sequence_and_branches_on_a_status),
      T(test_the_other_branch_follows_another_status),
      T(test_done_sees_the_response),
      T(test_done_comes_after_send_even_when_it_fails_at_once),
      T(test_two_sends_at_once_end_the_task_after_both),
      T(test_on_start_tasks_on_stop_then_free_data),
      T(test_a_stopping_user_ends_its_task_then_runs_on_stop),
      T(test_a_cut_user_hears_nothing_more),
      T(test_send_refuses_what_cannot_be_sent),
      T(test_sends_in_flight_are_capped),
      T(test_a_task_that_sends_nothing_waits_for_the_next_turn),
      T(test_variables_are_the_users),
      T(test_a_send_counts_under_its_own_name),
      T(test_a_deciding_send_counts_what_done_decided),
      T(test_a_sleep_wakes_the_user_and_holds_its_task),
      T(test_a_cut_user_is_not_woken),
      T(test_a_task_sets_its_own_wait),
      T(test_stop_user_ends_the_user_through_on_stop),
      T(test_a_class_fires_its_own_requests),
      T(test_listeners_reading_responses_get_every_part),
      T(test_a_send_takes_its_messages_as_they_come),
      T(test_a_send_to_a_new_host_waits_for_its_target),
      T(test_a_host_that_fails_to_build_fails_its_send),
      T(test_a_cut_user_waiting_for_a_target_hears_nothing),
      T(test_a_failed_host_shows_no_earlier_response),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
