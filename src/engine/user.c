#include "engine/user.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/rng.h"
#include "engine/budget.h"
#include "engine/checks.h"
#include "engine/feeder.h"
#include "engine/plan.h"
#include "engine/target.h"
#include "engine/template.h"
#include "engine/wait.h"
#include "events/events.h"

static void start_task(rl__user *u, int waited);

/* Waits at least this long let the user's connection drop its write
 * buffer (rl__conn_trim): one allocation a task at most once a second. */
#define TRIM_AFTER_WAIT_NS 1000000000ull
static void run_steps(rl__user *u);
static void run_phase(rl__user *u);
static void end_of_steps(rl__user *u);
static void request_ended(rl_request *req, const rl_result *res);
static void request_event(rl_request *req, const rl_result *res,
                          uint64_t time_ns);

/* The open model's idle list (engine/loop.h): newest first, so that the
 * users a modest rate keeps busy are few and their connections warm. */
/* The user's class's place in the plan: its idle list. */
static size_t class_index(const rl__user *u) {
  size_t c = (size_t)(u->cls - u->loop->plan->classes);
  return c < u->loop->n_idle_heads ? c : 0;
}

static void go_idle(rl__user *u) {
  rl_loop *lp = u->loop;
  if (lp->queued && !lp->stopping && !u->retiring) {
    /* An arrival has been waiting for a user: this one runs it now. */
    u->arrival_ns = lp->queue[lp->queue_head];
    lp->queue_head = (lp->queue_head + 1) % lp->queue_cap;
    lp->queued--;
    u->budgeted = lp->budget != NULL;
    u->state = RL__USER_READY;
    start_task(u, 0);
    return;
  }
  u->state = RL__USER_IDLE;
  u->idle_prev = NULL;
  rl__user **head = &lp->idle_heads[class_index(u)];
  u->idle_next = *head;
  if (*head)
    (*head)->idle_prev = u;
  *head = u;
  lp->idle++;
}

static void leave_idle(rl__user *u) {
  rl_loop *lp = u->loop;
  if (u->state != RL__USER_IDLE)
    return;
  if (u->idle_prev)
    u->idle_prev->idle_next = u->idle_next;
  else
    lp->idle_heads[class_index(u)] = u->idle_next;
  if (u->idle_next)
    u->idle_next->idle_prev = u->idle_prev;
  u->idle_prev = u->idle_next = NULL;
  lp->idle--;
  u->state = RL__USER_READY;
}

/* The task the user ran (or is leaving) is over, for -n's count. */
static void task_over(rl__user *u) {
  if (!u->budgeted)
    return;
  u->budgeted = 0;
  rl__budget_done(u->loop->budget);
}

/* Queues the user to act once the current callback is done (the worker
 * runs the queue: engine/loop.h). */
static void enqueue(rl__user *u) {
  rl_loop *lp = u->loop;
  if (u->queued)
    return;
  u->queued = 1;
  u->next_ready = NULL;
  if (lp->ready_tail)
    lp->ready_tail->next_ready = u;
  else
    lp->ready_head = u;
  lp->ready_tail = u;
}

/* Starts the user's request on its target's transport plugin, or on
 * `conn` for a codec plugin. Never fails: failures become events. */
static void submit(rl__user *u, rl_request *req, rl_conn *conn) {
  const rl_plugin *p = &req->target->plugin->desc;
  if (p->kind != RL_PLUGIN_TRANSPORT) {
    rl__conn_submit(conn, req);
    return;
  }
  req->conn = NULL;
  const rl__loop_transport *lt = NULL;
  for (size_t i = 0; i < u->loop->ntransports && !lt; i++)
    if (u->loop->transports[i].target == req->target)
      lt = &u->loop->transports[i];
  if (!lt || !lt->state) {
    rl__request_fail(req,
                     lt && lt->error ? lt->error : "transport not running");
    return;
  }
  rl__request_refuse_begin(req);
  int rc = p->transport_submit(lt->state, req);
  if (rc < 0)
    rl__request_refused(req, p->name, rc);
}

/* The steps of the user's current phase. */
static const rl__plan_step *phase_steps(const rl__user *u, size_t *n) {
  const rl__plan_class *k = u->cls;
  switch (u->phase) {
  case RL__PHASE_START:
    *n = k->n_on_start;
    return k->on_start;
  case RL__PHASE_STOP:
    *n = k->n_on_stop;
    return k->on_stop;
  default:
    *n = k->tasks[u->task].n_steps;
    return k->tasks[u->task].steps;
  }
}

static rl_conn *endpoint_conn(rl__user *u, size_t endpoint) {
  return endpoint == 0 ? u->conn : &u->more[endpoint - 1];
}

/* Whether the class has an on_start / on_stop: steps, or a C callback. */
static int has_on_start(const rl__plan_class *k) {
  return k->n_on_start || (k->c && k->c->on_start);
}

static int has_on_stop(const rl__plan_class *k) {
  return k->n_on_stop || (k->c && k->c->on_stop);
}

void rl__user_end(rl__user *u) {
  leave_idle(u);
  if (has_on_stop(u->cls) && u->phase != RL__PHASE_STOP && !u->loop->cutting) {
    ev_timer_stop(u->loop->ev, &u->timer); /* also when pending */
    u->phase = RL__PHASE_STOP;
    u->step = 0;
    u->loop_depth = 0;
    /* on_stop's requests count from their own send, also after an empty
     * task, which leaves first_in_task set with its own start. */
    u->first_in_task = 0;
    u->state = RL__USER_RUNNING;
    run_phase(u);
    return;
  }
  rl__user_stop(u, 0);
}

static void user_timer_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  rl__user *u = t->data;
  if (u->state == RL__USER_SLEEPING) {
    /* A sleep step is over: on to the next step, as after a request. */
    size_t n;
    const rl__plan_step *ps = phase_steps(u, &n);
    u->step_outcome = u->step < n && ps[u->step].stop_user
                          ? RL__ON_FAILURE_STOP_USER
                          : RL__ON_FAILURE_CONTINUE;
    u->state = RL__USER_READY;
    u->step_done = 1;
    enqueue(u);
    u->loop->after_event(u->loop);
    return;
  }
  if (u->state != RL__USER_WAITING)
    return; /* stopped or sent on (on_stop) since the timer was set */
  u->state = RL__USER_READY;
  u->step_done = 0;
  if (u->loop->stopping || u->retiring)
    rl__user_end(u);
  else
    start_task(u, 1);
  u->loop->after_event(u->loop);
}

rl__user *rl__user_new(rl_loop *loop, uint64_t id, const rl__plan_class *cls,
                       rl_conn *shared) {
  rl__user *u = calloc(1, sizeof *u);
  if (!u)
    return NULL;
  const rl__plan *plan = loop->plan;
  u->loop = loop;
  u->id = id;
  u->cls = cls;
  /* Seeded per user so a run with --seed repeats its waits and choices. */
  u->rng = loop->seed ^ (id * 0x9e3779b97f4a7c15ull);
  ev_init(&u->timer, user_timer_cb);
  u->timer.data = u;
  rl__target *first = rl__plan_first_target(plan);
  if (shared) {
    u->conn = shared;
  } else {
    rl__conn_init(&u->own, loop, plan->endpoint_targets[0]);
    u->conn = &u->own;
  }
  int fail = 0;
  if (plan->n_endpoints > 1) {
    u->more = calloc(plan->n_endpoints - 1, sizeof *u->more);
    fail |= !u->more;
    /* Each endpoint's connection is set up with the first step that
     * goes there; any step to the same endpoint may use it. */
    for (size_t e = 1; u->more && e < plan->n_endpoints; e++)
      rl__conn_init(&u->more[e - 1], loop, plan->endpoint_targets[e]);
  }
  if (plan->n_vars) {
    u->vars = calloc(plan->n_vars, sizeof *u->vars);
    fail |= !u->vars;
  }
  /* A C class's requests keep their responses each (engine/cuser.c). */
  if (!cls->c &&
      (cls->checks || loop->print_responses || loop->events_response)) {
    u->resp = calloc(1, sizeof *u->resp);
    fail |= !u->resp;
  }
  if (!fail && cls->c)
    fail |= cls->c->driver->init(u) != 0;
  if (fail) {
    rl__user_del(u);
    return NULL;
  }
  u->req.user = u;
  u->req.target = first;
  u->req.end = request_ended;
  u->req.event = request_event;
  u->phase = has_on_start(cls) ? RL__PHASE_START : RL__PHASE_TASK;
  u->state = RL__USER_READY;
  enqueue(u);
  return u;
}

/* The next task: in order for a sequential class, else by weight. */
static uint32_t choose_task(rl__user *u) {
  const rl__plan_class *k = u->cls;
  if (k->n_tasks == 1)
    return 0;
  if (k->sequential)
    return u->next_seq_task++ % (uint32_t)k->n_tasks;
  double x =
      (double)(rl__rng_next(&u->rng) >> 11) * 0x1.0p-53 * k->total_weight;
  for (size_t i = 0; i < k->n_tasks; i++)
    if (x < k->cum_weight[i])
      return (uint32_t)i;
  return (uint32_t)k->n_tasks - 1;
}

/* A request of step `s` made ready to submit (its start, its response
 * cleared); the caller picks its connection. */
static void prepare_request(rl__user *u, rl_request *req,
                            const rl__plan_step *s, uint64_t start_ns,
                            rl__response *resp) {
  req->start_ns = start_ns;
  if (u->loop->open)
    req->sent_ns = rl__now_ns();
  req->target = s->target;
  req->step = s;
  req->retries = 0;
  req->seq = ++u->seq;
  req->resp = resp;
  if (resp)
    rl__response_clear(resp);
}

void rl__user_start_request(rl__user *u, rl_request *req,
                            const rl__plan_step *s, uint64_t start_ns,
                            rl__response *resp) {
  prepare_request(u, req, s, start_ns, resp);
  submit(u, req, endpoint_conn(u, s->endpoint));
}

/* The user's run-time connection number `i`, made with `t` the first
 * time; NULL when out of memory. */
static rl_conn *rt_conn(rl__user *u, size_t i, const rl__target *t) {
  if (i >= u->n_rt_conns) {
    size_t n = i + 1 > 2 * u->n_rt_conns ? i + 1 : 2 * u->n_rt_conns;
    rl_conn **v = realloc(u->rt_conns, n * sizeof(rl_conn *));
    if (!v)
      return NULL;
    memset(v + u->n_rt_conns, 0, (n - u->n_rt_conns) * sizeof(rl_conn *));
    u->rt_conns = v;
    u->n_rt_conns = n;
  }
  if (!u->rt_conns[i]) {
    rl_conn *c = calloc(1, sizeof *c);
    if (!c)
      return NULL;
    rl__conn_init(c, u->loop, t);
    u->rt_conns[i] = c;
  }
  return u->rt_conns[i];
}

void rl__user_start_request_rt(rl__user *u, rl_request *req,
                               const rl__plan_step *s, size_t conn,
                               uint64_t start_ns, rl__response *resp) {
  prepare_request(u, req, s, start_ns, resp);
  rl_conn *c = rt_conn(u, conn, s->target);
  if (!c) {
    rl__request_fail(req, "out of memory");
    return;
  }
  rl__conn_submit(c, req);
}

void rl__user_fail_request(rl__user *u, rl_request *req, const rl__plan_step *s,
                           uint64_t start_ns, rl__response *resp,
                           const char *reason) {
  prepare_request(u, req, s, start_ns, resp);
  rl__request_fail(req, reason);
}

/* Starts the request of step `s`. */
static void start_request(rl__user *u, const rl__plan_step *s) {
  u->state = RL__USER_RUNNING;
  /* A task's first request counts from what start_task says (a late
   * schedule's due time, an arrival's intended start), kept in
   * u->req.start_ns; every other one from its own start. */
  uint64_t start = u->first_in_task ? u->req.start_ns : rl__now_ns();
  u->first_in_task = 0;
  rl__user_start_request(u, &u->req, s, start, u->resp);
}

/* The user's current phase: its steps, or its class's code. */
static void run_phase(rl__user *u) {
  if (u->cls->c)
    u->cls->c->driver->begin(u);
  else
    run_steps(u);
}

/* Runs the current phase's steps from u->step: a repeat's markers at
 * once (entering it, or going round again), then the first request or
 * sleep; past the last step, the end of the steps. */
static void run_steps(rl__user *u) {
  size_t n;
  const rl__plan_step *ps = phase_steps(u, &n);
  while (u->step < n) {
    const rl__plan_step *s = &ps[u->step];
    switch (s->kind) {
    case RL__STEP_REPEAT:
      u->loop_i[u->loop_depth++] = 0;
      u->step++;
      continue;
    case RL__STEP_END:
      if (++u->loop_i[u->loop_depth - 1] < ps[s->jump].count) {
        u->step = s->jump + 1;
      } else {
        u->loop_depth--;
        u->step++;
      }
      continue;
    case RL__STEP_SLEEP:
      u->first_in_task = 0;
      u->state = RL__USER_SLEEPING;
      ev_timer_set(&u->timer, (double)s->sleep_ns / 1e9, 0.);
      ev_timer_start(u->loop->ev, &u->timer);
      return;
    default:
      start_request(u, s);
      return;
    }
  }
  end_of_steps(u);
}

/* `waited`: the user's wait timer just fired (else it starts at once). */
/* The user's row of its class's data file for the task run to come
 * (engine/feeder.h). 0, or -1 when the file has none left for it: the
 * user has then stopped (its first: at once; later: through on_stop, as
 * Locust's StopUser on an empty queue). */
static int take_row(rl__user *u) {
  int first = !u->has_row;
  const char *const *row =
      rl__feeder_draw(u->cls->feeder, u->id, &u->rng, first, u->row);
  if (!row) {
    if (first)
      rl__user_stop(u, 0);
    else
      rl__user_end(u);
    return -1;
  }
  u->row = row;
  u->has_row = 1;
  return 0;
}

static void start_task(rl__user *u, int waited) {
  /* A later task run takes a row of its own (the first shares on_start's,
   * taken at the user's first act). */
  rl_loop *lp = u->loop;
  if (u->started && u->cls->feeder && take_row(u)) {
    task_over(u); /* an arrival's iteration that could not run */
    return;
  }
  /* -n: the closed model takes its iteration here; the open model's
   * worker took it with the arrival. None left: the user is done. */
  if (lp->budget && !lp->open && !u->budgeted) {
    if (!rl__budget_take(lp->budget)) {
      rl__user_end(u);
      return;
    }
    u->budgeted = 1;
  }
  u->started = 1;
  u->phase = RL__PHASE_TASK;
  u->task = choose_task(u);
  u->step = 0;
  u->loop_depth = 0;
  u->first_in_task = 1;
  u->has_next_wait = 0;
  /* The first request's response time counts from its send, but for a
   * schedule that has fallen behind (engine/wait.h). */
  u->req.start_ns = lp->open ? u->arrival_ns
                             : rl__wait_task_start(&u->cls->wait, &u->wait,
                                                   rl__now_ns(), waited);
  run_phase(u);
}

/* The task (or on_start / on_stop) ended: wait, then the next task. */
static void end_of_steps(rl__user *u) {
  if (u->phase == RL__PHASE_TASK)
    task_over(u);
  if (u->phase == RL__PHASE_STOP) {
    rl__user_stop(u, 0);
    return;
  }
  if (u->loop->stopping || u->retiring) {
    rl__user_end(u);
    return;
  }
  if (u->loop->open) {
    /* The open model: the next task comes with an arrival. */
    go_idle(u);
    return;
  }
  if (u->phase == RL__PHASE_START) {
    /* Locust starts the first task right after on_start. */
    start_task(u, 0);
    return;
  }
  uint64_t pause =
      u->has_next_wait
          ? u->next_wait_ns
          : rl__wait_after_task(&u->cls->wait, &u->wait, rl__now_ns(), &u->rng);
  if (pause) {
    u->state = RL__USER_WAITING;
    /* A long wait: its own connection's write buffer goes meanwhile
     * (#17's memory per user); short waits keep it, so the hot path
     * allocates nothing per request. */
    if (pause >= TRIM_AFTER_WAIT_NS && u->conn == &u->own)
      rl__conn_trim(&u->own);
    ev_timer_set(&u->timer, (double)pause / 1e9, 0.);
    ev_timer_start(u->loop->ev, &u->timer);
    return;
  }
  if (u->first_in_task) {
    /* An empty task (Locust's `pass`) and no wait: the next task after
     * the loop has had its turn, not at once (that would never return). */
    u->state = RL__USER_READY;
    u->step_done = 0;
    enqueue(u);
    return;
  }
  start_task(u, 0);
}

/* The step that just ended asked the user to stop: through on_stop (a
 * StopUser), or at once (a failure in on_start: Locust's exception
 * there ends the user without on_stop). */
static void stop_from_step(rl__user *u, uint8_t outcome) {
  if (u->phase == RL__PHASE_TASK)
    task_over(u);
  if (outcome == RL__ON_FAILURE_END_USER) {
    rl__user_stop(u, 0);
    return;
  }
  rl__user_end(u);
}

void rl__user_resume(rl__user *u) {
  const rl_loop *lp = u->loop;
  if (u->state == RL__USER_STOPPED)
    return;
  if (!u->step_done) {
    /* Its first act, or a retire/stop while it was queued. */
    if (lp->stopping || u->retiring) {
      if (u->phase != RL__PHASE_STOP)
        rl__user_end(u);
      return;
    }
    if (u->cls->feeder && !u->has_row && take_row(u))
      return;
    if (u->phase == RL__PHASE_START)
      run_phase(u);
    else if (lp->open)
      go_idle(u); /* its first task comes with an arrival */
    else
      start_task(u, 0);
    return;
  }
  u->step_done = 0;
  if (u->cls->c) {
    /* Its requests that ended: their done callbacks, and maybe the end
     * of its phase. */
    u->cls->c->driver->resume(u);
    return;
  }
  uint8_t outcome = u->step_outcome;
  u->step_outcome = RL__ON_FAILURE_CONTINUE;
  if (outcome >= RL__ON_FAILURE_STOP_USER) {
    stop_from_step(u, outcome);
    return;
  }
  /* A failed capture (or a step's on_failure: stop_task) ends the steps
   * there: the later ones would use a value that is not there. Stopping
   * with on_stop to run, a task ends at its next step. */
  if (outcome == RL__ON_FAILURE_STOP_TASK ||
      (u->phase == RL__PHASE_TASK && (lp->stopping || u->retiring) &&
       u->cls->n_on_stop)) {
    u->loop_depth = 0;
    end_of_steps(u);
    return;
  }
  u->step++;
  run_steps(u);
}

void rl__user_stop(rl__user *u, int cut) {
  if (u->state == RL__USER_STOPPED)
    return;
  leave_idle(u);
  if (u->phase == RL__PHASE_TASK)
    task_over(u); /* cut in its task, or stopped by it */
  u->state = RL__USER_STOPPED;
  /* Not only when active: a wait timer that expired in this loop round is
   * inactive but still pending, and its callback would bring the user
   * back (and count its stop twice). ev_timer_stop clears both. */
  ev_timer_stop(u->loop->ev, &u->timer);
  (void)cut;
  /* Cancels what is in flight when cutting; closes an idle connection
   * otherwise. Either way the events it yields are the worker's to
   * discard or count. A shared connection is the worker's to close. */
  if (u->conn == &u->own)
    rl__conn_shutdown(&u->own, RL_ERR_CANCELLED, "stopped");
  size_t more = u->more ? u->loop->plan->n_endpoints - 1 : 0;
  for (size_t i = 0; i < more; i++)
    rl__conn_shutdown(&u->more[i], RL_ERR_CANCELLED, "stopped");
  for (size_t i = 0; i < u->n_rt_conns; i++)
    if (u->rt_conns[i])
      rl__conn_shutdown(u->rt_conns[i], RL_ERR_CANCELLED, "stopped");
  /* What plugins kept for it goes now, not when the run ends: users
   * lowered and raised again in the web UI would pile it up. */
  rl__user_slots_release(u->slots);
  if (u->c)
    u->cls->c->driver->stop(u);
  u->loop->live_users--;
}

void rl__user_retire(rl__user *u) {
  if (u->state == RL__USER_STOPPED || u->retiring)
    return;
  u->retiring = 1;
  if (u->state == RL__USER_WAITING || u->state == RL__USER_IDLE)
    rl__user_end(u);
  /* RUNNING: ends in resume once its task ends. READY: when its turn
   * comes in the ready queue. */
  else if (u->state == RL__USER_READY)
    enqueue(u);
}

void rl__user_del(rl__user *u) {
  if (u->conn == &u->own)
    rl__conn_free(&u->own);
  if (u->more) {
    size_t more = u->loop->plan->n_endpoints - 1;
    for (size_t i = 0; i < more; i++)
      rl__conn_free(&u->more[i]);
    free(u->more);
  }
  for (size_t i = 0; i < u->n_rt_conns; i++)
    if (u->rt_conns[i]) {
      rl__conn_free(u->rt_conns[i]);
      free(u->rt_conns[i]);
    }
  free(u->rt_conns);
  if (u->vars) {
    for (size_t i = 0; i < u->loop->plan->n_vars; i++)
      free(u->vars[i]);
    free(u->vars);
  }
  if (u->resp) {
    rl__response_free(u->resp);
    free(u->resp);
  }
  rl__user_slots_free(&u->slots);
  if (u->c)
    u->cls->c->driver->del(u);
  free(u);
}

/* The class an arrival is for: drawn by the classes' weights (a
 * fixed_count class weighs its count), as Locust deals users. */
static double class_weight(const rl__plan_class *k) {
  return k->has_fixed ? (double)k->fixed : k->weight;
}

static size_t arrival_class(rl_loop *loop) {
  const rl__plan *p = loop->plan;
  if (loop->n_idle_heads <= 1)
    return 0;
  double total = 0;
  for (size_t c = 0; c < loop->n_idle_heads; c++)
    total += class_weight(&p->classes[c]);
  double x = rl__rng_double(&loop->arrival_rng) * total;
  for (size_t c = 0; c < loop->n_idle_heads; c++) {
    x -= class_weight(&p->classes[c]);
    if (x < 0)
      return c;
  }
  return loop->n_idle_heads - 1;
}

int rl__user_arrive(rl_loop *loop, uint64_t intended_ns) {
  rl__user *u = loop->idle ? loop->idle_heads[arrival_class(loop)] : NULL;
  if (!u) {
    if (loop->queued == loop->queue_cap)
      return -1;
    loop->queue[(loop->queue_head + loop->queued) % loop->queue_cap] =
        intended_ns;
    loop->queued++;
    return 0;
  }
  leave_idle(u);
  u->budgeted = loop->budget != NULL;
  u->arrival_ns = intended_ns;
  u->step_done = 0;
  start_task(u, 0);
  return 0;
}

void rl__user_template_ctx(rl__user *u, const rl_request *req,
                           rl__template_ctx *out) {
  *out =
      (rl__template_ctx){.user_id = u->id,
                         .seq = req ? req->seq : u->seq,
                         .rng = &u->rng,
                         .vars = u->vars,
                         .n_vars = u->vars ? u->loop->plan->n_vars : 0,
                         .i = u->loop_depth ? u->loop_i[u->loop_depth - 1] : 0,
                         .row = u->row};
}

/* ---- the request event ------------------------------------------------ */

int rl__user_wants_response(const rl_request *req) {
  const rl__user *u = req->user;
  if (!u || !req->resp)
    return 0;
  if (u->cls->checks || u->loop->events_response)
    return 1;
  /* Printing only: the step's first responses. Several users may collect
   * one at once; print_response decides which are printed. */
  const rl__plan_step *s = req->step;
  return s && atomic_load_explicit(&s->printed, memory_order_relaxed) <
                  u->loop->print_responses;
}

unsigned rl__user_response_parts(const rl_request *req) {
  if (!rl__user_wants_response(req))
    return 0;
  const rl__user *u = req->user;
  const rl__plan_step *s = req->step;
  if (u->loop->events_response || u->loop->print_responses ||
      (s && s->has_checks))
    return RL_RESPONSE_ALL;
  return RL_RESPONSE_STATUS | RL_RESPONSE_BODY;
}

/* Bodies and messages are printed up to this many bytes: enough to see
 * what a server says, not a flood. */
#define PRINT_MAX_BODY 2048

/* --print-responses: prints the response of step s on stderr when it is
 * one of the step's first N, with the row it counts in, its outcome and
 * response time. One write per response, so that threads' outputs do not
 * interleave. */
static void print_response(rl__user *u, const rl_request *req,
                           const rl_result *res, const char *error,
                           uint64_t rt) {
  const rl__plan_step *s = req->step;
  rl_loop *lp = u->loop;
  /* Past N the counter is only read, so it stops growing (threads racing
   * at N take it a few past, no more, however long the run). */
  if (atomic_load_explicit(&s->printed, memory_order_relaxed) >=
      lp->print_responses)
    return;
  unsigned k = atomic_fetch_add_explicit((atomic_uint *)&s->printed, 1,
                                         memory_order_relaxed);
  if (k >= lp->print_responses)
    return;
  rl__buf out;
  rl__buf_init(&out);
  const rl__response *r = req->resp && req->resp->have ? req->resp : NULL;
  rl__buf_printf(&out, "--- response %u/%u of %s %s (user %llu): ", k + 1,
                 (unsigned)lp->print_responses,
                 res && res->type ? res->type : "?",
                 res && res->name ? res->name : "?", (unsigned long long)u->id);
  if (r && r->status >= 0)
    rl__buf_printf(&out, "status %d, ", r->status);
  rl__buf_printf(&out, "%s, %.3f ms\n", error ? error : "ok", (double)rt / 1e6);
  if (r)
    rl__response_format(r, PRINT_MAX_BODY, &out);
  else
    rl__buf_str(&out, "(no response: nothing came back)\n");
  if (!out.oom && out.p)
    fwrite(out.p, 1, out.len, stderr);
  rl__buf_free(&out);
}

/* What the user does after step `s`: on a failure, what the step says
 * (on_failure); a capture that found nothing ends the steps at least;
 * stop_user stops the user whatever happened. */
static uint8_t outcome_of(const rl__plan_step *s, int failed, int stop_task) {
  uint8_t o = failed ? s->on_failure : RL__ON_FAILURE_CONTINUE;
  if (stop_task && o < RL__ON_FAILURE_STOP_TASK)
    o = RL__ON_FAILURE_STOP_TASK;
  if (s->stop_user && o < RL__ON_FAILURE_STOP_USER)
    o = RL__ON_FAILURE_STOP_USER;
  return o;
}

/* The request event for listeners (events/events.h), with the outcome the
 * checks gave; returns the outcome they leave. Only reached when some
 * listener hears requests. */
static const char *tell_listeners(rl__user *u, rl_request *req,
                                  const rl_result *res, const char *error,
                                  uint64_t rt) {
  rl_request_event ev = {
      .type = res && res->type ? res->type : req->target->type,
      .name = res && res->name ? res->name : req->target->name,
      .response_time_ns = rt,
      .response_length = res ? res->response_bytes : 0,
      .error = error,
      .user_id = u->id,
      .user_class = u->cls->name,
      .start_ns = req->start_ns};
  const rl__response *r = req->resp;
  if (u->loop->events_response && r && r->have) {
    ev.has_response = 1;
    ev.status = r->status;
    ev.body = r->has_json ? r->json : r->body;
    ev.body_len = r->has_json ? strlen(r->json) : r->body_len;
    ev.body_cut = r->body_cut;
    ev.headers = r->hdr;
    ev.n_headers = r->n_headers;
  }
  return rl__events_request(u->loop->events, &ev);
}

/* A failed step that ends the task or the user: Locust's user_error (an
 * exception out of a task), queued for the main thread. */
static void tell_user_error(rl__user *u, const rl_request *req,
                            const rl_result *res, const char *error) {
  rl_user_error e = {.struct_size = sizeof e,
                     .user_id = u->id,
                     .user_class = u->cls->name,
                     .type = res && res->type ? res->type : req->target->type,
                     .name = res && res->name ? res->name : req->target->name,
                     .error = error};
  rl__events_user_error(u->loop->events_table, &e);
}

void rl__user_record(rl__user *u, rl_request *req, const rl_result *res,
                     char *why, size_t whylen, rl__user_outcome *out) {
  rl__user_record_at(u, req, res, rl__now_ns(), why, whylen, out);
}

void rl__user_record_at(rl__user *u, rl_request *req, const rl_result *res,
                        uint64_t now, char *why, size_t whylen,
                        rl__user_outcome *out) {
  rl_loop *lp = u->loop;
  uint64_t rt = now > req->start_ns ? now - req->start_ns : 0;
  /* The open model: both views, the tables showing the one asked for
   * (--latency); rt below is the shown one. */
  uint64_t alt = 0;
  if (lp->open) {
    uint64_t sent = now > req->sent_ns ? now - req->sent_ns : 0;
    alt = lp->latency_uncorrected ? rt : sent;
    rt = lp->latency_uncorrected ? sent : rt;
  }
  *out = (rl__user_outcome){.rt_ns = rt};
  if (lp->cutting || u->state == RL__USER_STOPPED) {
    lp->cut_requests++;
    out->cut = 1;
    return;
  }
  const char *error = res ? res->error : NULL;
  const rl__plan_step *ps = req->step;
  if (ps && ps->has_checks) {
    rl__template_ctx tctx;
    rl__user_template_ctx(u, req, &tctx);
    error = rl__checks_apply(&ps->checks, req->resp, error, rt, &tctx, u->vars,
                             why, whylen, &out->stop_task);
  }
  if (lp->events && rl__request_counts(&lp->gate, req))
    error = tell_listeners(u, req, res, error, rt);
  if (ps && lp->print_responses)
    print_response(u, req, res, error, rt);
  out->error = error;
  rl__stats_entry *e =
      rl__request_record(lp->stats, &lp->gate, req, res, error, rt,
                         (now - lp->start_ns) / RL__NS_PER_SEC);
  if (e && lp->open)
    rl__stats_record_alt(e, alt);
}

int rl__user_fire(rl__user *u, const char *type, const char *name,
                  uint64_t rt_ns, uint64_t bytes, const char *error) {
  rl_loop *lp = u->loop;
  if (lp->cutting || u->state == RL__USER_STOPPED)
    return -1; /* as a request cut at a stop: not counted */
  /* A request of no plugin: only what its event and the gate read (its
   * own type and name, never the target's; when it began, for the
   * listeners' start_ns; whether the warm-up or --skip-first leave it
   * out, decided here as a request's at its end). */
  uint64_t now = rl__now_ns();
  rl_request req = {.user = u, .start_ns = now > rt_ns ? now - rt_ns : 0};
  rl_result res = {
      .type = type, .name = name, .response_bytes = bytes, .error = error};
  if (lp->events && rl__request_counts(&lp->gate, &req))
    res.error = tell_listeners(u, &req, &res, error, rt_ns);
  rl__stats_entry *e =
      rl__request_record(lp->stats, &lp->gate, &req, &res, res.error, rt_ns,
                         (now - lp->start_ns) / RL__NS_PER_SEC);
  /* The open model's other view: the caller gave one time, both are it. */
  if (e && lp->open)
    rl__stats_record_alt(e, rt_ns);
  return 0;
}

/* The user's request has ended (req->end): the request event, with the
 * step's checks deciding its outcome; then the user acts again once the
 * current callback is done. A request of a stopped user was cut at a stop
 * (a stop never leaves a request in flight otherwise): it is counted
 * apart, neither a success nor the server's failure. */
static void request_ended(rl_request *req, const rl_result *res) {
  rl__user *u = req->user;
  char why[256];
  rl__user_outcome o;
  rl__user_record(u, req, res, why, sizeof why, &o);
  if (!o.cut) {
    const rl__plan_step *ps = req->step;
    u->step_outcome = ps ? outcome_of(ps, o.error != NULL, o.stop_task) : 0;
    /* A failed step that ends the task or the user: Locust's user_error
     * (an exception out of a task). */
    if (o.error && u->step_outcome >= RL__ON_FAILURE_STOP_TASK &&
        u->loop->events_table)
      tell_user_error(u, req, res, o.error);
  }
  if (u->state == RL__USER_STOPPED)
    return;
  u->state = RL__USER_READY;
  u->step_done = 1;
  enqueue(u);
}

void rl__user_wake(rl__user *u) {
  u->step_done = 1;
  enqueue(u);
}

void rl__user_phase_over(rl__user *u) {
  if (u->stop_after) {
    /* rl_user_stop: as a step's stop_user (on_stop's end stops anyway). */
    u->stop_after = 0;
    if (u->phase != RL__PHASE_STOP) {
      stop_from_step(u, RL__ON_FAILURE_STOP_USER);
      return;
    }
  }
  end_of_steps(u);
}

/* An event of the user's request while it goes on (a stream's message):
 * recorded as the plugin says, the step's checks are the request's own.
 * Dropped when the user stopped or the run cuts: the request itself is
 * then counted apart. */
static void request_event(rl_request *req, const rl_result *res,
                          uint64_t time_ns) {
  rl__user *u = req->user;
  rl_loop *lp = u->loop;
  if (lp->cutting || u->state == RL__USER_STOPPED)
    return;
  rl_result failed;
  if (lp->events && rl__request_counts(&lp->gate, req)) {
    const char *error = tell_listeners(u, req, res, res->error, time_ns);
    if (error != res->error) {
      failed = *res;
      failed.error = error;
      res = &failed;
    }
  }
  rl__request_record_event(lp->stats, &lp->gate, req, res, time_ns,
                           (rl__now_ns() - lp->start_ns) / RL__NS_PER_SEC);
}
