#include "user.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "runner.h"
#include "target.h"
#include "wait.h"
#include "worker.h"

static void start_task(rl__user *u, int waited);

static void user_timer_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  rl__user *u = t->data;
  u->state = RL__USER_READY;
  u->step_done = 0;
  if (u->w->stopping || u->retiring)
    rl__user_stop(u, 0);
  else
    start_task(u, 1);
  rl__worker_run_ready(u->w);
}

rl__user *rl__user_new(struct rl__worker *w, uint64_t id) {
  rl__user *u = calloc(1, sizeof *u);
  if (!u)
    return NULL;
  const rl__runner *r = w->runner;
  u->w = w;
  u->id = id;
  /* Seeded per user so a run with --seed repeats its waits exactly. */
  u->rng = r->cfg->seed ^ (id * 0x9e3779b97f4a7c15ull);
  ev_init(&u->timer, user_timer_cb);
  u->timer.data = u;
  if (w->npool) {
    u->conn = &w->pool[w->nusers % w->npool];
  } else {
    rl__conn_init(&u->own, w, r->target);
    u->conn = &u->own;
  }
  u->req.user = u;
  u->req.target = r->target;
  u->state = RL__USER_READY;
  rl__worker_enqueue(w, u);
  return u;
}

/* `waited`: the user's wait timer just fired (else it starts at once). */
static void start_task(rl__user *u, int waited) {
  const rl__run_config *cfg = u->w->runner->cfg;
  uint64_t now = rl__now_ns();
  /* Paced users keep a schedule: the next task is due one period after the
   * last one was due. When the last task overran its period, this one
   * starts late, and its first request's response time counts from when it
   * was due (no coordinated omission). When we waited for it, it starts on
   * time but for our own timer's slack, which is not the server's to pay. */
  if (u->started && rl__wait_is_paced(&cfg->wait))
    u->task_start_ns += cfg->wait.a_ns;
  else
    u->task_start_ns = now;
  u->started = 1;
  u->state = RL__USER_RUNNING;
  u->req.start_ns = !waited && u->task_start_ns < now ? u->task_start_ns : now;
  u->req.retries = 0;
  u->seq++;
  rl__worker_submit(u->w, u->conn, &u->req);
}

void rl__user_resume(rl__user *u) {
  rl__worker *w = u->w;
  if (u->state == RL__USER_STOPPED)
    return;
  if (w->stopping || u->retiring) {
    rl__user_stop(u, 0);
    return;
  }
  if (u->step_done) {
    /* The quick command line's task is one request: it has ended. */
    u->step_done = 0;
    const rl__wait *wait = &w->runner->cfg->wait;
    uint64_t pause =
        rl__wait_next(wait, u->task_start_ns, rl__now_ns(), &u->rng);
    if (pause) {
      u->state = RL__USER_WAITING;
      ev_timer_set(&u->timer, (double)pause / 1e9, 0.);
      ev_timer_start(w->loop, &u->timer);
      return;
    }
  }
  start_task(u, 0);
}

void rl__user_stop(rl__user *u, int cut) {
  if (u->state == RL__USER_STOPPED)
    return;
  u->state = RL__USER_STOPPED;
  if (ev_is_active(&u->timer))
    ev_timer_stop(u->w->loop, &u->timer);
  (void)cut;
  /* Cancels what is in flight when cutting; closes an idle connection
   * otherwise. Either way the events it yields are the worker's to
   * discard or count. A shared connection is the worker's to close. */
  if (u->conn == &u->own)
    rl__conn_shutdown(&u->own, RL_ERR_CANCELLED, "stopped");
  u->w->live_users--;
}

void rl__user_retire(rl__user *u) {
  if (u->state == RL__USER_STOPPED || u->retiring)
    return;
  u->retiring = 1;
  if (u->state == RL__USER_WAITING)
    rl__user_stop(u, 0);
  /* RUNNING: stops in resume once its task ends. READY: stops when its
   * turn comes in the ready queue. */
  else if (u->state == RL__USER_READY)
    rl__worker_enqueue(u->w, u);
}

void rl__user_free(rl__user *u) {
  if (u->conn == &u->own)
    rl__conn_free(&u->own);
  if (u->resp) {
    rl__response_free(u->resp);
    free(u->resp);
  }
  free(u);
}

/* ---- the request event ------------------------------------------------ */

static void finish(rl_request *req, const rl_result *res) {
  rl__user *u = req->user;
  rl__worker *w = u->w;
  uint64_t now = rl__now_ns();
  if (w->cutting) {
    w->cut_requests++;
  } else {
    const char *type = res && res->type ? res->type : req->target->type;
    const char *name = res && res->name ? res->name : req->target->name;
    if (type != req->cached_type || name != req->cached_name) {
      req->cached_entry = rl__stats_entry_get(w->stats, type, name);
      req->cached_type = type;
      req->cached_name = name;
    }
    uint64_t rt = now > req->start_ns ? now - req->start_ns : 0;
    uint64_t sec = (now - w->runner->start_ns) / RL__NS_PER_SEC;
    if (req->cached_entry)
      rl__stats_record(w->stats, req->cached_entry, rt,
                       res ? res->response_bytes : 0, res ? res->error : NULL,
                       sec);
  }
  if (u->state == RL__USER_STOPPED)
    return;
  u->state = RL__USER_READY;
  u->step_done = 1;
  rl__worker_enqueue(w, u);
}

void rl__request_done(rl_request *req, const rl_result *result) {
  if (req->conn)
    rl__conn_request_ended(req);
  finish(req, result);
}

void rl__request_fail(rl_request *req, const char *reason) {
  rl_result res = {.type = req->target->type,
                   .name = req->target->name,
                   .response_bytes = 0,
                   .error = reason ? reason : "failed"};
  finish(req, &res);
}
