/*
 * Users (engine/user.h) on a loop the test drives: the state machine
 * (READY, RUNNING, WAITING, STOPPED), steps in order with the wait after
 * the task, on_start and on_stop, stop, retire, end and cut, captures
 * that stop a task, pacing's response times, and the request event in
 * the loop's stats. Most steps run on the harness's "tp" transport, whose
 * steps say how each request ends; the connection tests use the "line"
 * codec against peers on loopback.
 */
#include <string.h>
#include <unistd.h>

#include "engine/checks.h"
#include "engine/conn.h"
#include "engine/plan.h"
#include "engine/user.h"
#include "engine_harness.h"

/* ---- the fixture ----------------------------------------------------------- */

#define NSTEPS 6

static struct {
  rl_loop lp;
  th_step s[NSTEPS]; /* labels "S" "A" "B" "C" "E" "F" */
  rl__target *t[NSTEPS];
  rl__plan *plan;
  rl__user *u[2];
  int lfd[2];
  uint16_t port[2];
} f;

enum { S, A, B, C, E, F_ };

static int setup(void **state) {
  (void)state;
  static const char *labels[NSTEPS] = {"S", "A", "B", "C", "E", "F"};
  static const char *types[NSTEPS] = {"TS", "TA", "TB", "TC", "TE", "TF"};
  th_reset();
  memset(&f, 0, sizeof f);
  for (int i = 0; i < NSTEPS; i++) {
    f.s[i] = (th_step){.label = labels[i],
                       .type = types[i],
                       .name = labels[i],
                       .latency_ns = 2 * TH_MS};
    f.t[i] = th_target_new(&th_tp, &f.s[i], 1);
  }
  f.lfd[0] = f.lfd[1] = -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (f.lp.ev) {
    /* Whatever is still running is cut, as a worker's end does. */
    f.lp.stopping = f.lp.cutting = 1;
    for (int i = 0; i < 2; i++)
      if (f.u[i])
        rl__user_stop(f.u[i], 1);
    th_loop_end_transports(&f.lp);
    for (int i = 0; i < 2; i++)
      if (f.u[i])
        rl__user_del(f.u[i]);
    th_loop_free(&f.lp);
  }
  rl__plan_del(f.plan);
  for (int i = 0; i < NSTEPS; i++)
    th_target_free(f.t[i]);
  for (int i = 0; i < 2; i++)
    if (f.lfd[i] >= 0)
      close(f.lfd[i]);
  return 0;
}

/* Plan steps running the given targets (-1 ends the list). */
static rl__plan_step *steps_of(rl__plan *p, const int *idx, size_t *n) {
  size_t k = 0;
  while (idx && idx[k] >= 0)
    k++;
  *n = k;
  if (!k)
    return NULL;
  rl__plan_step *s = calloc(k, sizeof *s);
  assert_non_null(s);
  for (size_t i = 0; i < k; i++) {
    s[i].target = f.t[idx[i]];
    assert_int_equal(rl__plan_endpoint(p, s[i].target, &s[i].endpoint), 0);
  }
  return s;
}

/* A plan of one class running on_start, one task and on_stop (lists of
 * step indices, -1 ended; NULL: none) with `wait`, on a loop of its own.
 * The transports of every step are started on the loop. */
static rl__plan_class *plan(const int *on_start, const int *task,
                            const int *on_stop, rl__wait wait) {
  rl__plan_class *k;
  rl__plan *p = th_plan_one("U", wait, &k);
  k->on_start = steps_of(p, on_start, &k->n_on_start);
  k->tasks[0].steps = steps_of(p, task, &k->tasks[0].n_steps);
  k->on_stop = steps_of(p, on_stop, &k->n_on_stop);
  p->has_on_stop = k->n_on_stop > 0;
  f.plan = p;
  th_loop_init(&f.lp, p);
  for (int i = 0; i < NSTEPS; i++)
    if (f.t[i]->plugin == &th_tp)
      th_loop_add_transport(&f.lp, f.t[i]);
  return k;
}

static rl__wait constant(uint64_t ns) {
  return (rl__wait){.kind = RL__WAIT_CONSTANT, .a_ns = ns};
}

/* A new user with id `id` on the loop, counted live as the worker does. */
static rl__user *spawn(int slot, uint64_t id, rl_conn *shared) {
  rl__user *u =
      rl__user_new(&f.lp, id, rl__plan_class_of(f.plan, id - 1), shared);
  assert_non_null(u);
  f.lp.live_users++;
  f.u[slot] = u;
  return u;
}

static const rl__stats_entry *entry(const char *type, const char *name) {
  const rl__stats_entry **all;
  size_t n = rl__stats_entries(f.lp.stats, &all);
  for (size_t i = 0; i < n; i++)
    if (strcmp(all[i]->type, type) == 0 && strcmp(all[i]->name, name) == 0)
      return all[i];
  return NULL;
}

static uint64_t requests_of(const char *type, const char *name) {
  const rl__stats_entry *e = entry(type, name);
  return e ? e->num_requests : 0;
}

static uint64_t recorded(void) {
  const rl__stats_entry **all;
  size_t n = rl__stats_entries(f.lp.stats, &all);
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += all[i]->num_requests;
  return sum;
}

/* Runs the loop while `u` waits; returns the clock's last read before
 * the round that ended the wait. */
static uint64_t run_out_the_wait(rl__user *u) {
  assert_int_equal(u->state, RL__USER_WAITING);
  uint64_t seen = rl__now_ns(), deadline = seen + TH_TIMEOUT_NS;
  while (u->state == RL__USER_WAITING) {
    seen = rl__now_ns();
    if (seen > deadline)
      fail_msg("the user's wait did not end");
    ev_run(f.lp.ev, EVRUN_ONCE);
  }
  return seen;
}

/* The gap between the i-th and j-th submissions. */
static uint64_t gap(size_t i, size_t j) {
  return th_tp_log[j].at_ns - th_tp_log[i].at_ns;
}

/* ---- the state machine -------------------------------------------------------- */

static void test_a_new_user_is_queued_then_runs(void **state) {
  (void)state;
  const int task[] = {A, -1};
  plan(NULL, task, NULL, constant(RL__NS_PER_SEC));
  rl__user *u = spawn(0, 7, NULL);
  /* Queued to act once the current callback is done, not acting yet. */
  assert_int_equal(u->state, RL__USER_READY);
  assert_true(u->queued);
  assert_ptr_equal(f.lp.ready_head, u);
  assert_int_equal(th_tp_n, 0);
  assert_ptr_equal(u->conn, &u->own);
  assert_null(u->resp); /* its steps check nothing: no responses kept */
  assert_null(u->vars);
  th_run_ready(&f.lp);
  assert_int_equal(u->state, RL__USER_RUNNING);
  assert_false(u->queued);
  assert_string_equal(th_tp_labels(), "A");
  assert_int_equal(th_tp_log[0].user_id, 7);
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  assert_int_equal(requests_of("TA", "A"), 1);
  rl__user_stop(u, 0);
  assert_int_equal(u->state, RL__USER_STOPPED);
  assert_int_equal(f.lp.live_users, 0);
}

static void
test_steps_run_in_order_and_the_wait_follows_the_task(void **state) {
  (void)state;
  const int start[] = {S, -1}, task[] = {A, B, -1}, stop[] = {E, -1};
  plan(start, task, stop, constant(100 * TH_MS));
  rl__user *u = spawn(0, 1, NULL);
  /* on_start leads straight into the first task, a task's steps follow
   * each other at once, and the wait comes after the task. "At once" is
   * told by the user's state, not by wall time, which a slow machine
   * stretches: a wait would show as WAITING after some loop round before
   * the request that should follow (a wait is a timer, due a round later
   * at the soonest). libev runs every timer on its own clock, so a fake
   * clock in place of rl__now_ns would not move them; the wait's lower
   * bound stays in real time, which a timer never undercuts. */
  TH_RUN_UNTIL(&f.lp, th_tp_n == 3 || u->state == RL__USER_WAITING);
  assert_string_equal(th_tp_labels(), "S A B");
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  assert_string_equal(th_tp_labels(), "S A B");
  assert_int_equal(u->phase, RL__PHASE_TASK);
  TH_RUN_UNTIL(&f.lp, th_tp_n == 4);
  assert_true(gap(2, 3) >= 100 * TH_MS);
  TH_RUN_UNTIL(&f.lp, th_tp_n == 5 || u->state == RL__USER_WAITING);
  assert_string_equal(th_tp_labels(), "S A B A B");
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  assert_string_equal(th_tp_labels(), "S A B A B");
  /* Its life ends between tasks: on_stop, then it stops. */
  rl__user_end(u);
  assert_int_equal(u->phase, RL__PHASE_STOP);
  assert_int_equal(u->state, RL__USER_RUNNING);
  assert_string_equal(th_tp_labels(), "S A B A B E");
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_STOPPED);
  assert_int_equal(f.lp.live_users, 0);
  assert_int_equal(requests_of("TE", "E"), 1);
  /* Its wait timer is gone with it. */
  th_run_for(&f.lp, 120 * TH_MS);
  assert_int_equal(th_tp_n, 6);
}

static void test_each_request_is_recorded_in_the_loops_stats(void **state) {
  (void)state;
  const int task[] = {A, B, C, -1};
  f.s[A].latency_ns = 20 * TH_MS;
  f.s[B].error = "boom";
  f.s[C].null_type = 1;
  /* C's plugin reports no type and name: the target's defaults count. */
  f.t[C]->type = "DEF";
  f.t[C]->name = "default";
  plan(NULL, task, NULL, constant(RL__NS_PER_SEC));
  rl__user *u = spawn(0, 1, NULL);
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  const rl__stats_entry *a = entry("TA", "A");
  const rl__stats_entry *b = entry("TB", "B");
  const rl__stats_entry *c = entry("DEF", "default");
  assert_non_null(a);
  assert_non_null(b);
  assert_non_null(c);
  assert_int_equal(a->num_requests, 1);
  assert_int_equal(a->num_failures, 0);
  assert_true(rl__stats_entry_min_ns(a) >= 15 * TH_MS); /* its latency */
  assert_int_equal(b->num_requests, 1);
  assert_int_equal(b->num_failures, 1);
  assert_int_equal(c->num_requests, 1);
  assert_null(entry("TC", "C"));
  const rl__stats_error **errs;
  assert_int_equal(rl__stats_errors(f.lp.stats, &errs), 1);
  assert_string_equal(errs[0]->type, "TB");
  assert_string_equal(errs[0]->name, "B");
  assert_string_equal(errs[0]->error, "boom");
  assert_int_equal(errs[0]->occurrences, 1);
  /* A failed request does not end the task: C ran after B. */
  assert_string_equal(th_tp_labels(), "A B C");
}

static void test_a_requests_events_count_in_their_own_rows(void **state) {
  (void)state;
  /* ABI 1.4 request_event: a stream's messages, each a row of its own,
   * while the request itself counts once under its name. */
  const int task[] = {A, -1};
  f.s[A].latency_ns = 20 * TH_MS;
  f.s[A].events = 3;
  f.s[A].event_name = "A [recv]";
  plan(NULL, task, NULL, constant(RL__NS_PER_SEC));
  rl__user *u = spawn(0, 1, NULL);
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  const rl__stats_entry *a = entry("TA", "A"), *m = entry("TA", "A [recv]");
  assert_non_null(a);
  assert_non_null(m);
  assert_int_equal(a->num_requests, 1);
  assert_int_equal(m->num_requests, 3);
  assert_int_equal(m->num_failures, 0);
  /* The first counts from the request's start, the others from the one
   * before (an instant here): together they take no longer than the
   * request, which ends after them (counted from its start, they would
   * take about three times as long). Sums of the same clock's reads, not
   * a bound in wall time, which a slow machine stretches. */
  assert_true(rl__stats_entry_max_ns(m) >= 15 * TH_MS);
  assert_true(m->total_ns <= a->total_ns);
}

static void test_skip_first_leaves_the_first_requests_out(void **state) {
  (void)state;
  /* --skip-first 3: the run's first three requests, with their events,
   * are left out; the count is shared (an atomic of the run's). */
  _Atomic uint64_t taken = 0;
  const int task[] = {A, -1};
  f.s[A].latency_ns = 1 * TH_MS;
  f.s[A].events = 2;
  f.s[A].event_name = "A [recv]";
  plan(NULL, task, NULL, constant(0));
  f.lp.gate = (rl__request_gate){.skip_first = 3, .skipped = &taken};
  spawn(0, 1, NULL);
  TH_RUN_UNTIL(&f.lp, requests_of("TA", "A") >= 5);
  /* Eight ended, the first three left out; the ninth may have started. */
  assert_int_equal(requests_of("TA", "A"), 5);
  assert_true(th_tp_n == 8 || th_tp_n == 9);
  assert_int_equal(requests_of("TA", "A [recv]"), 10);
  assert_true(f.lp.gate.open);
  assert_int_equal(taken, 4); /* then this thread stopped asking */
}

static void test_warmup_leaves_its_requests_out(void **state) {
  (void)state;
  const int task[] = {A, -1};
  f.s[A].latency_ns = 5 * TH_MS;
  plan(NULL, task, NULL, constant(0));
  uint64_t until = rl__now_ns() + 300 * TH_MS;
  f.lp.gate = (rl__request_gate){.until_ns = until};
  spawn(0, 1, NULL);
  /* Requests end every 5 ms: none counts before the warm-up's end. */
  TH_RUN_UNTIL(&f.lp, th_tp_n >= 4 || rl__now_ns() >= until);
  if (rl__now_ns() < until) {
    assert_int_equal(recorded(), 0);
    assert_false(f.lp.gate.open);
  }
  TH_RUN_UNTIL(&f.lp, recorded() >= 3);
  assert_true(rl__now_ns() >= until);
  assert_true(f.lp.gate.open);
  assert_true(recorded() < th_tp_n); /* some were left out */
}

static void test_the_reported_name_counts_not_its_address(void **state) {
  (void)state;
  /* rl_result's strings are only borrowed for the request_done call: a
   * plugin may report each request's name from one buffer it rewrites.
   * Each request counts under the name it reported then. */
  static char name[16] = "first";
  const int task[] = {A, -1};
  f.s[A].name = name;
  plan(NULL, task, NULL, constant(5 * TH_MS));
  spawn(0, 1, NULL);
  TH_RUN_UNTIL(&f.lp, recorded() == 1);
  strcpy(name, "second");
  TH_RUN_UNTIL(&f.lp, recorded() == 2);
  strcpy(name, "first");
  TH_RUN_UNTIL(&f.lp, recorded() == 3);
  assert_int_equal(requests_of("TA", "first"), 2);
  assert_int_equal(requests_of("TA", "second"), 1);
}

static void test_retire_while_waiting_runs_on_stop_at_once(void **state) {
  (void)state;
  const int task[] = {A, -1}, stop[] = {E, -1};
  plan(NULL, task, stop, constant(10 * RL__NS_PER_SEC));
  rl__user *u = spawn(0, 1, NULL);
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  rl__user_retire(u);
  assert_true(u->retiring);
  assert_string_equal(th_tp_labels(), "A E");
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_STOPPED);
  assert_int_equal(f.lp.live_users, 0);
  rl__user_retire(u); /* a stopped user: nothing */
  assert_int_equal(u->state, RL__USER_STOPPED);
}

/* Retired (or the run stopping) in the middle of a task without on_stop:
 * the task's steps all run, then the user stops without waiting. */
static void finishes_the_task(int by_retire) {
  const int task[] = {A, B, -1};
  f.s[A].latency_ns = 30 * TH_MS;
  plan(NULL, task, NULL, constant(10 * RL__NS_PER_SEC));
  rl__user *u = spawn(0, 1, NULL);
  TH_RUN_UNTIL(&f.lp, th_tp_n == 1);
  assert_int_equal(u->state, RL__USER_RUNNING);
  if (by_retire)
    rl__user_retire(u);
  else
    f.lp.stopping = 1;
  /* Without waiting: told by the state it reaches after B, not by how
   * long that took (a slow machine's business). */
  TH_RUN_UNTIL(&f.lp,
               u->state == RL__USER_STOPPED || u->state == RL__USER_WAITING);
  assert_int_equal(u->state, RL__USER_STOPPED);
  assert_string_equal(th_tp_labels(), "A B");
  assert_int_equal(recorded(), 2);
  assert_int_equal(f.lp.live_users, 0);
}

static void test_retire_while_running_finishes_the_task(void **state) {
  (void)state;
  finishes_the_task(1);
}

static void test_stopping_lets_the_task_finish(void **state) {
  (void)state;
  finishes_the_task(0);
}

static void test_stop_between_tasks_ends_the_wait(void **state) {
  (void)state;
  const int task[] = {A, -1};
  plan(NULL, task, NULL, constant(30 * TH_MS));
  rl__user *u = spawn(0, 1, NULL);
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  rl__user_stop(u, 0);
  assert_int_equal(u->state, RL__USER_STOPPED);
  assert_int_equal(f.lp.live_users, 0);
  rl__user_stop(u, 0); /* idempotent: counted once */
  assert_int_equal(f.lp.live_users, 0);
  th_run_for(&f.lp, 80 * TH_MS);
  assert_int_equal(th_tp_n, 1);
  assert_int_equal(u->state, RL__USER_STOPPED);
}

static void test_a_cut_request_is_counted_apart(void **state) {
  (void)state;
  const int task[] = {A, B, -1};
  f.s[A].hold = 1;
  plan(NULL, task, NULL, constant(RL__NS_PER_SEC));
  rl__user *u = spawn(0, 1, NULL);
  TH_RUN_UNTIL(&f.lp, th_tp_n == 1);
  f.lp.stopping = f.lp.cutting = 1;
  rl__user_stop(u, 1);
  assert_int_equal(u->state, RL__USER_STOPPED);
  /* What was in flight ends (the transport goes), as a cut request: not
   * in the stats, and the user stays stopped. */
  th_loop_end_transports(&f.lp);
  assert_int_equal(f.lp.cut_requests, 1);
  assert_int_equal(recorded(), 0);
  assert_int_equal(u->state, RL__USER_STOPPED);
  assert_null(f.lp.ready_head);
  th_run_for(&f.lp, 20 * TH_MS);
  assert_string_equal(th_tp_labels(), "A");
}

static void test_a_failed_capture_stops_the_task(void **state) {
  (void)state;
  const int task[] = {A, B, -1};
  f.s[A].status = 200;
  f.s[A].body = "{}";
  rl__plan_class *k = plan(NULL, task, NULL, constant(20 * TH_MS));
  size_t var;
  assert_int_equal(rl__plan_var(f.plan, "token", &var), 0);
  rl__jsonpath *path = NULL;
  char err[128];
  assert_int_equal(rl__jsonpath_new("$.token", &path, NULL, err, sizeof err),
                   0);
  rl__capture cap = {.var = "token",
                     .kind = RL__CAPTURE_JSON,
                     .source = "$.token",
                     .arg = "$.token",
                     .path = path};
  rl__plan_step *sa = &k->tasks[0].steps[0];
  sa->capture_vars = malloc(sizeof *sa->capture_vars);
  assert_non_null(sa->capture_vars);
  sa->capture_vars[0] = var;
  sa->checks = (rl__step_checks){
      .captures = &cap, .n_captures = 1, .capture_vars = sa->capture_vars};
  sa->has_checks = 1;
  k->checks = 1;
  rl__user *u = spawn(0, 1, NULL);
  assert_non_null(u->resp); /* it keeps responses for its checks */
  assert_non_null(u->vars);
  /* Nothing to capture: A fails with the capture's text, B is skipped,
   * and the next task starts after the wait. */
  TH_RUN_UNTIL(&f.lp, th_tp_n == 2);
  assert_string_equal(th_tp_labels(), "A A");
  assert_true(gap(0, 1) >= 20 * TH_MS);
  const rl__stats_error **errs;
  assert_int_equal(rl__stats_errors(f.lp.stats, &errs), 1);
  assert_string_equal(errs[0]->error,
                      "capture token: $.token not found in the response");
  assert_null(u->vars[var]);
  /* Once there is a token, the task goes on with it. */
  f.s[A].body = "{\"token\":\"t1\"}";
  TH_RUN_UNTIL(&f.lp, strstr(th_tp_labels(), "A B") != NULL);
  assert_string_equal(u->vars[var], "t1");
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  rl__user_stop(u, 0);
  rl__jsonpath_del(path);
}

/* A task's flat steps made by hand: kinds with their target or count
 * (REPEAT: count; SLEEP: ms; END: its REPEAT's index), as compile.c
 * flattens a scenario's steps. */
typedef struct hand_step {
  int kind, arg;
} hand_step;

static void set_steps(rl__plan_step **out, size_t *n, const hand_step *h,
                      size_t count) {
  rl__plan_step *s = calloc(count ? count : 1, sizeof *s);
  assert_non_null(s);
  for (size_t i = 0; i < count; i++) {
    s[i].kind = (uint8_t)h[i].kind;
    switch (h[i].kind) {
    case RL__STEP_REQUEST:
      s[i].target = f.t[h[i].arg];
      assert_int_equal(rl__plan_endpoint(f.plan, s[i].target, &s[i].endpoint),
                       0);
      break;
    case RL__STEP_SLEEP:
      s[i].sleep_ns = (uint64_t)h[i].arg * TH_MS;
      break;
    case RL__STEP_REPEAT:
      s[i].count = (uint32_t)h[i].arg;
      break;
    default: /* END */
      s[i].jump = (uint32_t)h[i].arg;
      s[h[i].arg].jump = (uint32_t)i;
    }
  }
  free(*out);
  *out = s;
  *n = count;
}

static void test_repeat_and_sleep_steps(void **state) {
  (void)state;
  const int task[] = {A, -1};
  rl__plan_class *k = plan(NULL, task, NULL, constant(RL__NS_PER_SEC));
  /* repeat 2 (A, repeat 2 (B)), sleep 50 ms, C */
  const hand_step h[] = {{RL__STEP_REPEAT, 2}, {RL__STEP_REQUEST, A},
                         {RL__STEP_REPEAT, 2}, {RL__STEP_REQUEST, B},
                         {RL__STEP_END, 2},    {RL__STEP_END, 0},
                         {RL__STEP_SLEEP, 50}, {RL__STEP_REQUEST, C}};
  set_steps(&k->tasks[0].steps, &k->tasks[0].n_steps, h, 8);
  rl__user *u = spawn(0, 1, NULL);
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_SLEEPING);
  assert_string_equal(th_tp_labels(), "A B B A B B");
  assert_int_equal(u->loop_depth, 0);
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  assert_string_equal(th_tp_labels(), "A B B A B B C");
  /* The sleep came between the last B and C; timers never fire early. */
  assert_true(gap(5, 6) >= 50 * TH_MS);
  /* A user sleeping in a task is in it: a retire lets it finish. */
  rl__user_stop(u, 0);
}

static void test_on_failure_and_stop_user(void **state) {
  (void)state;
  const int task[] = {A, B, -1}, stop[] = {E, -1};
  f.s[A].error = "boom";
  rl__plan_class *k = plan(NULL, task, stop, constant(20 * TH_MS));
  /* on_failure: continue (a task's default): B runs after A fails. */
  rl__user *u = spawn(0, 1, NULL);
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  assert_string_equal(th_tp_labels(), "A B");
  /* stop_task: the rest of the task is skipped. */
  k->tasks[0].steps[0].on_failure = RL__ON_FAILURE_STOP_TASK;
  TH_RUN_UNTIL(&f.lp, th_tp_n == 3 && u->state == RL__USER_WAITING);
  assert_string_equal(th_tp_labels(), "A B A");
  /* stop_user: Locust's StopUser, through on_stop. */
  k->tasks[0].steps[0].on_failure = RL__ON_FAILURE_STOP_USER;
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_STOPPED);
  assert_string_equal(th_tp_labels(), "A B A A E");
  assert_int_equal(f.lp.live_users, 0);
  /* stop_user: true after a success too. */
  f.s[A].error = NULL;
  k->tasks[0].steps[0].on_failure = RL__ON_FAILURE_CONTINUE;
  k->tasks[0].steps[0].stop_user = 1;
  rl__user *v = spawn(1, 2, NULL);
  TH_RUN_UNTIL(&f.lp, v->state == RL__USER_STOPPED);
  assert_string_equal(th_tp_labels(), "A B A A E A E");
}

static void test_a_failed_on_start_ends_the_user(void **state) {
  (void)state;
  const int start[] = {S, A, -1}, task[] = {B, -1}, stop[] = {E, -1};
  f.s[S].error = "login refused";
  rl__plan_class *k = plan(start, task, stop, constant(20 * TH_MS));
  /* What compile.c gives on_start's steps: Locust's exception in on_start
   * ends the user, without on_stop. */
  k->on_start[0].on_failure = RL__ON_FAILURE_END_USER;
  k->on_start[1].on_failure = RL__ON_FAILURE_END_USER;
  rl__user *u = spawn(0, 1, NULL);
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_STOPPED);
  assert_string_equal(th_tp_labels(), "S");
  assert_int_equal(f.lp.live_users, 0);
  th_run_for(&f.lp, 30 * TH_MS);
  assert_int_equal(th_tp_n, 1);
  /* Unless the step says to go on. */
  k->on_start[0].on_failure = RL__ON_FAILURE_CONTINUE;
  rl__user *v = spawn(1, 2, NULL);
  TH_RUN_UNTIL(&f.lp, v->state == RL__USER_WAITING);
  assert_string_equal(th_tp_labels(), "S S A B");
  rl__user_stop(v, 0);
}

static void test_an_empty_task_yields(void **state) {
  (void)state;
  const int task[] = {A, -1};
  rl__plan_class *k = plan(NULL, task, NULL, (rl__wait){0});
  set_steps(&k->tasks[0].steps, &k->tasks[0].n_steps, NULL, 0);
  rl__user *u = spawn(0, 1, NULL);
  /* Locust's `pass` with no wait: each round of the loop starts the next
   * (empty) task once, and the call returns. */
  for (int i = 0; i < 5; i++) {
    th_run_ready(&f.lp);
    assert_int_equal(u->state, RL__USER_READY);
    assert_true(u->queued);
  }
  assert_int_equal(th_tp_n, 0);
  rl__user_stop(u, 0);
  f.lp.ready_head = f.lp.ready_tail = NULL;
}

/* on_stop after an empty task: its first request counts from its own
 * send, not from the empty task's start (which the user kept). */
static void
test_on_stop_after_an_empty_task_counts_from_its_send(void **state) {
  (void)state;
  const int task[] = {A, -1}, stop[] = {E, -1};
  rl__plan_class *k = plan(NULL, task, stop, constant(10 * RL__NS_PER_SEC));
  set_steps(&k->tasks[0].steps, &k->tasks[0].n_steps, NULL, 0);
  rl__user *u = spawn(0, 1, NULL);
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  uint64_t task_start = u->req.start_ns;
  uint64_t before_stop = rl__now_ns();
  while (rl__now_ns() == before_stop)
    ;                 /* the clock moves on: "after" is then strictly after */
  rl__user_retire(u); /* on_stop at once */
  assert_string_equal(th_tp_labels(), "E");
  assert_true(u->req.start_ns > task_start);
  assert_true(u->req.start_ns >= before_stop);
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_STOPPED);
  assert_int_equal(recorded(), 1);
}

static rl__wait paced(uint64_t period_ns) {
  return (rl__wait){.kind = RL__WAIT_PACING, .a_ns = period_ns};
}

static void test_pacing_after_an_overrun_starts_afresh_as_locust(void **state) {
  (void)state;
  /* Locust's constant_pacing(0.1): the second task takes 250 ms, over
   * two periods. The next starts at once and the one after it a whole
   * period after that: no backlog of missed tasks sent back to back, and
   * every response time counts from its own send. */
  const int task[] = {A, -1};
  f.s[A].latency_ns = 5 * TH_MS;
  plan(NULL, task, NULL, paced(100 * TH_MS));
  spawn(0, 1, NULL);
  TH_RUN_UNTIL(&f.lp, th_tp_n == 1);
  f.s[A].latency_ns = 250 * TH_MS; /* the second request is slow */
  TH_RUN_UNTIL(&f.lp, th_tp_n == 2);
  f.s[A].latency_ns = 5 * TH_MS; /* the later ones fast again */
  TH_RUN_UNTIL(&f.lp, th_tp_n == 5);
  /* After the first task, the whole period (Locust 2.12). */
  assert_true(gap(0, 1) >= 100 * TH_MS);
  assert_true(gap(1, 2) >= 250 * TH_MS);
  /* 4 waited 100 - 5 ms after 3 started, 5 as long after 4. */
  assert_true(gap(2, 3) >= 95 * TH_MS);
  assert_true(gap(3, 4) >= 95 * TH_MS);
  /* The slow one counts its 250 ms; no fast one counts a backlog: each
   * counts from its own task's start, after the request before it ended
   * (a backlog's slot, 100 ms after the slow one's start, came before its
   * end). Told by where their times count from, not by a bound in wall
   * time, which a slow machine stretches. */
  TH_RUN_UNTIL(&f.lp, requests_of("TA", "A") == 4);
  const rl__stats_entry *a = entry("TA", "A");
  assert_true(rl__stats_entry_max_ns(a) >= 250 * TH_MS);
  assert_true(th_tp_log[2].start_ns >= th_tp_log[1].end_ns);
  assert_true(th_tp_log[3].start_ns >= th_tp_log[2].end_ns);
}

static void
test_a_paced_task_that_waited_does_not_count_the_wait(void **state) {
  (void)state;
  /* Paced with room to spare: the user waits, and the next task's
   * response time starts when it is sent. */
  const int task[] = {A, -1};
  f.s[A].latency_ns = 10 * TH_MS;
  plan(NULL, task, NULL, paced(150 * TH_MS));
  rl__user *u = spawn(0, 1, NULL);
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  uint64_t waited_until = run_out_the_wait(u);
  TH_RUN_UNTIL(&f.lp, requests_of("TA", "A") == 2);
  assert_true(gap(0, 1) >= 140 * TH_MS);
  /* Where the second's time counts from: after the wait, not from a bound
   * in wall time on it, which a slow machine stretches. */
  assert_true(th_tp_log[1].start_ns >= waited_until);
}

/* ---- connections ------------------------------------------------------------ */

static void use_line_targets(void) {
  th_line_conf.user_ids = 1;
  for (int i = 0; i < 2; i++) {
    f.lfd[i] = th_listen(&f.port[i]);
    th_target_free(f.t[A + i]);
    f.t[A + i] = th_target_new(&th_line, &f.s[A + i], f.port[i]);
  }
}

static void test_own_connection_closed_at_stop_shared_one_kept(void **state) {
  (void)state;
  use_line_targets();
  const int task[] = {A, -1};
  plan(NULL, task, NULL, constant(10 * RL__NS_PER_SEC));
  rl_conn pool;
  rl__conn_init(&pool, &f.lp, f.t[A]);
  rl__user *u1 = spawn(0, 1, NULL);
  rl__user *u2 = spawn(1, 2, &pool);
  assert_ptr_equal(u2->conn, &pool);
  th_in in1 = {0}, in2 = {0};
  int fd1 = th_accept(&f.lp, f.lfd[0]);
  int fd2 = th_accept(&f.lp, f.lfd[0]);
  th_read(fd1, &in1);
  th_read(fd2, &in2);
  /* Which is which: the request line names the user. */
  TH_RUN_UNTIL(&f.lp,
               (th_read(fd1, &in1), th_read(fd2, &in2), in1.len && in2.len));
  if (strstr(in1.data, "u2")) {
    int t = fd1;
    fd1 = fd2;
    fd2 = t;
  }
  th_send(fd1, "ok\n");
  th_send(fd2, "ok\n");
  TH_RUN_UNTIL(&f.lp,
               u1->state == RL__USER_WAITING && u2->state == RL__USER_WAITING);
  assert_int_equal(requests_of("TA", "A"), 2);
  rl__user_stop(u1, 0);
  rl__user_stop(u2, 0);
  memset(&in1, 0, sizeof in1);
  memset(&in2, 0, sizeof in2);
  th_expect_eof(&f.lp, fd1, &in1);
  th_run_for(&f.lp, 30 * TH_MS);
  th_read(fd2, &in2);
  assert_false(in2.eof); /* the pool's connection is its owner's to close */
  assert_int_equal(pool.state, RL__CONN_OPEN);
  rl__conn_shutdown(&pool, RL_ERR_CANCELLED, "test over");
  rl__conn_free(&pool);
  close(fd1);
  close(fd2);
}

static void test_one_connection_per_endpoint(void **state) {
  (void)state;
  use_line_targets();
  const int task[] = {A, B, A, -1};
  plan(NULL, task, NULL, constant(20 * TH_MS));
  assert_int_equal(f.plan->n_endpoints, 2);
  rl__user *u = spawn(0, 1, NULL);
  assert_non_null(u->more);
  th_in ina = {0}, inb = {0};
  int fa = th_accept(&f.lp, f.lfd[0]);
  th_expect(&f.lp, fa, &ina, "A 1 u1\n");
  th_send(fa, "ok\n");
  int fb = th_accept(&f.lp, f.lfd[1]);
  th_expect(&f.lp, fb, &inb, "B 2 u1\n");
  th_send(fb, "ok\n");
  /* Back to the first endpoint: the same connection. */
  th_expect(&f.lp, fa, &ina, "A 3 u1\n");
  th_send(fa, "ok\n");
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_WAITING);
  TH_RUN_UNTIL(&f.lp, u->state == RL__USER_RUNNING);
  th_expect(&f.lp, fa, &ina, "A 4 u1\n");
  assert_false(th_pending(f.lfd[0]));
  assert_false(th_pending(f.lfd[1]));
  /* A stop closes all of them. */
  rl__user_stop(u, 0);
  th_expect_eof(&f.lp, fa, &ina);
  th_expect_eof(&f.lp, fb, &inb);
  close(fa);
  close(fb);
}

/* ---- what plugins keep per user (ABI 1.5) ------------------------------------ */

static int states_freed;
static void free_state(void *state) {
  states_freed++;
  free(state);
}

static void test_plugin_state_goes_when_the_user_stops(void **state) {
  (void)state;
  const int task[] = {A, -1};
  plan(NULL, task, NULL, constant(RL__NS_PER_SEC));
  rl__user *u = spawn(0, 1, NULL);
  states_freed = 0;
  /* One slot per key, made on first use, empty. */
  rl_user_slot *s = th_host.request_user_slot(&u->req, "rpcload.test");
  assert_non_null(s);
  assert_null(s->state);
  assert_ptr_equal(th_host.request_user_slot(&u->req, "rpcload.test"), s);
  rl_user_slot *other = th_host.request_user_slot(&u->req, "other");
  assert_non_null(other);
  assert_ptr_not_equal(other, s);
  s->state = malloc(16);
  s->del = free_state;
  other->state = malloc(16);
  other->del = free_state;
  /* The user stops: every state goes, the slots stay, empty. */
  rl__user_stop(u, 0);
  assert_int_equal(states_freed, 2);
  assert_null(s->state);
  assert_null(s->del);
  /* One stored afterwards (a late response on a shared connection) goes
   * with the user (teardown frees it). */
  s = th_host.request_user_slot(&u->req, "rpcload.test");
  assert_non_null(s);
  s->state = malloc(16);
  s->del = free_state;
  /* Off the ready queue first, as a worker's new test does. */
  f.lp.ready_head = f.lp.ready_tail = NULL;
  rl__user_del(u);
  f.u[0] = NULL;
  assert_int_equal(states_freed, 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
      T(test_a_new_user_is_queued_then_runs),
      T(test_steps_run_in_order_and_the_wait_follows_the_task),
      T(test_each_request_is_recorded_in_the_loops_stats),
      T(test_a_requests_events_count_in_their_own_rows),
      T(test_skip_first_leaves_the_first_requests_out),
      T(test_warmup_leaves_its_requests_out),
      T(test_the_reported_name_counts_not_its_address),
      T(test_retire_while_waiting_runs_on_stop_at_once),
      T(test_retire_while_running_finishes_the_task),
      T(test_stopping_lets_the_task_finish),
      T(test_stop_between_tasks_ends_the_wait),
      T(test_a_cut_request_is_counted_apart),
      T(test_a_failed_capture_stops_the_task),
      T(test_repeat_and_sleep_steps),
      T(test_on_failure_and_stop_user),
      T(test_a_failed_on_start_ends_the_user),
      T(test_an_empty_task_yields),
      T(test_on_stop_after_an_empty_task_counts_from_its_send),
      T(test_pacing_after_an_overrun_starts_afresh_as_locust),
      T(test_a_paced_task_that_waited_does_not_count_the_wait),
      T(test_own_connection_closed_at_stop_shared_one_kept),
      T(test_plugin_state_goes_when_the_user_stops),
      T(test_one_connection_per_endpoint),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
