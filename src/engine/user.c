#include "engine/user.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/rng.h"
#include "engine/checks.h"
#include "engine/plan.h"
#include "engine/target.h"
#include "engine/wait.h"

static void start_task(rl__user *u, int waited);
static void start_step(rl__user *u);
static void request_ended(rl_request *req, const rl_result *res);

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
static void submit(rl__user *u, rl_conn *conn) {
  rl_request *req = &u->req;
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
  int rc = p->transport_submit(lt->state, req);
  if (rc < 0) {
    char why[160];
    snprintf(why, sizeof why, "%s refused the request: %s", p->name,
             rl_strerror(rc));
    rl__request_fail(req, why);
  }
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

void rl__user_end(rl__user *u) {
  if (u->cls->n_on_stop && u->phase != RL__PHASE_STOP && !u->loop->cutting) {
    ev_timer_stop(u->loop->ev, &u->timer); /* also when pending */
    u->phase = RL__PHASE_STOP;
    u->step = 0;
    u->state = RL__USER_RUNNING;
    start_step(u);
    return;
  }
  rl__user_stop(u, 0);
}

static void user_timer_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  rl__user *u = t->data;
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
  if (cls->checks) {
    u->resp = calloc(1, sizeof *u->resp);
    fail |= !u->resp;
  }
  if (fail) {
    rl__user_del(u);
    return NULL;
  }
  u->req.user = u;
  u->req.target = first;
  u->req.end = request_ended;
  u->phase = cls->n_on_start ? RL__PHASE_START : RL__PHASE_TASK;
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

/* Starts the current step of the current phase. */
static void start_step(rl__user *u) {
  size_t n;
  const rl__plan_step *ps = phase_steps(u, &n);
  const rl__plan_step *s = &ps[u->step];
  u->state = RL__USER_RUNNING;
  /* A task's first request counts from when the task was due (pacing);
   * every other one from its own start. */
  if (u->phase != RL__PHASE_TASK || u->step > 0)
    u->req.start_ns = rl__now_ns();
  u->req.target = s->target;
  u->req.retries = 0;
  u->seq++;
  if (u->resp)
    rl__response_clear(u->resp);
  submit(u, endpoint_conn(u, s->endpoint));
}

/* `waited`: the user's wait timer just fired (else it starts at once). */
static void start_task(rl__user *u, int waited) {
  const rl__wait *wait = &u->cls->wait;
  uint64_t now = rl__now_ns();
  /* Paced users keep a schedule: the next task is due one period after the
   * last one was due. When the last task overran its period, this one
   * starts late, and its first request's response time counts from when it
   * was due (no coordinated omission). When we waited for it, it starts on
   * time but for our own timer's slack, which is not the server's to pay. */
  if (u->started && rl__wait_is_paced(wait))
    u->task_start_ns += wait->a_ns;
  else
    u->task_start_ns = now;
  u->started = 1;
  u->phase = RL__PHASE_TASK;
  u->task = choose_task(u);
  u->step = 0;
  u->req.start_ns = !waited && u->task_start_ns < now ? u->task_start_ns : now;
  start_step(u);
}

/* The task (or on_start / on_stop) ended: wait, then the next task. */
static void end_of_steps(rl__user *u) {
  if (u->phase == RL__PHASE_STOP) {
    rl__user_stop(u, 0);
    return;
  }
  if (u->loop->stopping || u->retiring) {
    rl__user_end(u);
    return;
  }
  if (u->phase == RL__PHASE_START) {
    /* Locust starts the first task right after on_start. */
    start_task(u, 0);
    return;
  }
  uint64_t pause =
      rl__wait_next(&u->cls->wait, u->task_start_ns, rl__now_ns(), &u->rng);
  if (pause) {
    u->state = RL__USER_WAITING;
    ev_timer_set(&u->timer, (double)pause / 1e9, 0.);
    ev_timer_start(u->loop->ev, &u->timer);
    return;
  }
  start_task(u, 0);
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
    if (u->phase == RL__PHASE_START)
      start_step(u);
    else
      start_task(u, 0);
    return;
  }
  u->step_done = 0;
  size_t n;
  phase_steps(u, &n);
  /* A failed capture ends the task there: its later steps would use a
   * value that is not there. */
  if (!u->capture_failed && u->step + 1 < n &&
      !(u->phase == RL__PHASE_TASK && (lp->stopping || u->retiring) &&
        u->cls->n_on_stop)) {
    u->step++;
    start_step(u);
    return;
  }
  u->capture_failed = 0;
  end_of_steps(u);
}

void rl__user_stop(rl__user *u, int cut) {
  if (u->state == RL__USER_STOPPED)
    return;
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
  /* What plugins kept for it goes now, not when the run ends: users
   * lowered and raised again in the web UI would pile it up. */
  rl__user_slots_release(u->slots);
  u->loop->live_users--;
}

void rl__user_retire(rl__user *u) {
  if (u->state == RL__USER_STOPPED || u->retiring)
    return;
  u->retiring = 1;
  if (u->state == RL__USER_WAITING)
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
  free(u);
}

/* ---- the request event ------------------------------------------------ */

/* The plan step the user's request runs. */
static const rl__plan_step *current_step(const rl__user *u) {
  size_t n;
  const rl__plan_step *ps = phase_steps(u, &n);
  return u->step < n ? &ps[u->step] : NULL;
}

/* The user's request has ended (req->end): the request event, with the
 * step's checks deciding its outcome; then the user acts again once the
 * current callback is done. A request of a stopped user was cut at a stop
 * (a stop never leaves a request in flight otherwise): it is counted
 * apart, neither a success nor the server's failure. */
static void request_ended(rl_request *req, const rl_result *res) {
  rl__user *u = req->user;
  rl_loop *lp = u->loop;
  uint64_t now = rl__now_ns();
  uint64_t rt = now > req->start_ns ? now - req->start_ns : 0;
  if (lp->cutting || u->state == RL__USER_STOPPED) {
    lp->cut_requests++;
  } else {
    const char *error = res ? res->error : NULL;
    char why[256];
    const rl__plan_step *ps = u->cls->checks ? current_step(u) : NULL;
    if (ps && ps->has_checks) {
      int stop_task = 0;
      error = rl__checks_apply(&ps->checks, u->resp, error, rt, u->vars, why,
                               sizeof why, &stop_task);
      u->capture_failed = (uint8_t)stop_task;
    }
    rl__request_record(lp->stats, req, res, error, rt,
                       (now - lp->start_ns) / RL__NS_PER_SEC);
  }
  if (u->state == RL__USER_STOPPED)
    return;
  u->state = RL__USER_READY;
  u->step_done = 1;
  enqueue(u);
}
