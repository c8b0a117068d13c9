#include "engine/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "engine/conn.h"
#include "engine/host.h"
#include "engine/plan.h"
#include "engine/request.h"
#include "engine/runner.h"
#include "engine/spawn.h"
#include "engine/target.h"
#include "engine/user.h"

#define READ_BUFFER_SIZE ((size_t)64 * 1024)
#define FLUSH_INTERVAL_S 1.0

static void flush_stats(rl__worker *w) {
  rl__runner *r = w->runner;
  const rl__stats_entry **entries;
  size_t n = rl__stats_entries(w->stats, &entries);
  int rc = 0;
  pthread_mutex_lock(&r->lock);
  /* Stats reset since our last merge: what we hold belongs to before it. */
  if (w->stats_epoch == r->reset_epoch) {
    rc = rl__stats_merge(r->stats, w->stats);
    for (size_t i = 0; i < n; i++)
      rc |= rl__history_add_entry(&r->history, entries[i]);
  }
  w->stats_epoch = r->reset_epoch;
  pthread_mutex_unlock(&r->lock);
  if (rc)
    rl__log(RL__LOG_WARN, "out of memory merging statistics");
  rl__stats_clear(w->stats);
}

/* Ends the thread's transports; what they still hold is cancelled
 * (counted apart while cutting, like any request cut at the stop). */
static void end_transport(rl__worker *w) {
  for (size_t i = 0; i < w->ntransports; i++) {
    void *t = w->transports[i].state;
    if (!t)
      continue;
    w->transports[i].state = NULL;
    w->transports[i].target->plugin->desc.transport_del(t, RL_ERR_CANCELLED,
                                                        "stopped");
  }
}

static void close_pool(rl__worker *w) {
  for (uint32_t i = 0; i < w->npool; i++)
    rl__conn_shutdown(&w->pool[i], RL_ERR_CANCELLED, "stopped");
}

static void check_finished(rl__worker *w) {
  if (!w->stopping || w->live_users || w->finished)
    return;
  end_transport(w);
  close_pool(w);
  w->finished = 1;
  ev_timer_stop(w->loop, &w->flush_timer);
  ev_timer_stop(w->loop, &w->stop_timer);
  ev_idle_stop(w->loop, &w->idle);
  ev_prepare_stop(w->loop, &w->prepare);
  ev_async_stop(w->loop, &w->wake);
  flush_stats(w);
  rl__runner_worker_finished(w->runner);
  ev_break(w->loop, EVBREAK_ALL);
}

static void cut(rl__worker *w) {
  w->stopping = w->cutting = 1;
  end_transport(w);
  close_pool(w);
  for (size_t i = 0; i < w->nusers; i++)
    rl__user_stop(w->users[i], 1);
  check_finished(w);
}

static void begin_stop(rl__worker *w) {
  w->stopping = 1;
  uint64_t grace = w->runner->cfg->stop_timeout_ns;
  if (!grace) {
    cut(w);
    return;
  }
  /* Users between tasks stop now; those in a task finish it (they stop
   * when they next act), until the stop timeout cuts them. */
  for (size_t i = 0; i < w->nusers; i++)
    if (w->users[i]->state == RL__USER_WAITING)
      rl__user_end(w->users[i]);
  ev_timer_set(&w->stop_timer, (double)grace / 1e9, 0.);
  ev_timer_start(w->loop, &w->stop_timer);
  check_finished(w);
}

/* Retires the newest active users until `want` are left (Locust stops
 * the most recently started first). */
static void retire(rl__worker *w, uint32_t want) {
  for (size_t i = w->nusers; i-- > 0 && w->active_users > want;) {
    rl__user *u = w->users[i];
    if (u->state == RL__USER_STOPPED || u->retiring)
      continue;
    rl__user_retire(u);
    w->active_users--;
  }
}

static void spawn(rl__worker *w, uint32_t want) {
  uint32_t nthreads = w->runner->nworkers;
  if (want < w->active_users) {
    retire(w, want);
    return;
  }
  while (w->active_users < want && !w->stopping) {
    if (w->nusers == w->cap) {
      size_t cap = w->cap ? w->cap * 2 : 64;
      struct rl__user **users =
          realloc(w->users, cap * sizeof(struct rl__user *));
      if (!users)
        break;
      w->users = users;
      w->cap = cap;
    }
    /* Users are dealt to threads round-robin: user i lives on thread
     * i % nthreads, so its 1-based id is unique across the run. */
    uint64_t id = (uint64_t)w->nusers * nthreads + (uint64_t)w->index + 1;
    rl__user *u =
        rl__user_new(w, id, rl__plan_class_of(w->runner->plan, id - 1));
    if (!u) {
      rl__log(RL__LOG_ERROR, "out of memory spawning user %llu",
              (unsigned long long)id);
      break;
    }
    w->users[w->nusers++] = u;
    w->live_users++;
    w->active_users++;
  }
}

static void wake_cb(struct ev_loop *loop, ev_async *a, int revents) {
  (void)loop;
  (void)revents;
  rl__worker *w = a->data;
  int cmd = atomic_load(&w->command);
  if (cmd == RL__CMD_CUT && !w->cutting)
    cut(w);
  else if (cmd == RL__CMD_STOP && !w->stopping)
    begin_stop(w);
  else if (cmd == RL__CMD_RUN)
    spawn(w, atomic_load(&w->want_users));
  rl__worker_run_ready(w);
}

static void stop_timer_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  cut(t->data);
}

static void flush_timer_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  flush_stats(t->data);
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *p, int revents) {
  (void)loop;
  (void)revents;
  rl__worker_run_ready(p->data);
}

static void idle_cb(struct ev_loop *loop, ev_idle *i, int revents) {
  (void)revents;
  rl__worker *w = i->data;
  rl__worker_run_ready(w);
  if (!w->ready_head)
    ev_idle_stop(loop, i);
}

void rl__worker_enqueue(rl__worker *w, struct rl__user *u) {
  if (u->queued)
    return;
  u->queued = 1;
  u->next_ready = NULL;
  if (w->ready_tail)
    w->ready_tail->next_ready = u;
  else
    w->ready_head = u;
  w->ready_tail = u;
}

void rl__worker_run_ready(rl__worker *w) {
  rl__user *u = w->ready_head;
  w->ready_head = w->ready_tail = NULL;
  while (u) {
    rl__user *next = u->next_ready;
    u->queued = 0;
    u->next_ready = NULL;
    rl__user_resume(u);
    u = next;
  }
  rl__conn_flush_scheduled(w);
  if (w->ready_head && !w->finished && !ev_is_active(&w->idle))
    ev_idle_start(w->loop, &w->idle);
  check_finished(w);
}

void rl__worker_submit(rl__worker *w, rl_conn *conn, rl_request *req) {
  const rl_plugin *p = &req->target->plugin->desc;
  if (p->kind != RL_PLUGIN_TRANSPORT) {
    rl__conn_submit(conn, req);
    return;
  }
  req->conn = NULL;
  struct rl__worker_transport *wt = NULL;
  for (size_t i = 0; i < w->ntransports && !wt; i++)
    if (w->transports[i].target == req->target)
      wt = &w->transports[i];
  if (!wt || !wt->state) {
    rl__request_fail(req,
                     wt && wt->error ? wt->error : "transport not running");
    return;
  }
  int rc = p->transport_submit(wt->state, req);
  if (rc < 0) {
    char why[160];
    snprintf(why, sizeof why, "%s refused the request: %s", p->name,
             rl_strerror(rc));
    rl__request_fail(req, why);
  }
}

/* One transport plugin's per-thread state, made on the thread it serves. */
static void start_one_transport(rl__worker *w, const rl__target *t) {
  const rl_plugin *p = &t->plugin->desc;
  for (size_t i = 0; i < w->ntransports; i++)
    if (w->transports[i].target == t)
      return;
  struct rl__worker_transport *a =
      realloc(w->transports, (w->ntransports + 1) * sizeof *a);
  if (!a) {
    rl__log(RL__LOG_ERROR, "out of memory starting a transport");
    return;
  }
  w->transports = a;
  struct rl__worker_transport *wt = &a[w->ntransports++];
  wt->target = t;
  wt->state = NULL;
  wt->error = NULL;
  rl_transport_info info = {
      .struct_size = sizeof info,
      .host = t->host,
      .port = t->port,
      .tls = t->tls,
      .addr = &t->addr,
      .addrlen = (uint32_t)t->addrlen,
      .connect_timeout_ns = t->connect_timeout_ns,
      .request_timeout_ns = t->request_timeout_ns,
  };
  int rc =
      p->transport_new(rl__host(), &w->loop_handle, t->step, &info, &wt->state);
  if (rc < 0) {
    wt->state = NULL;
    wt->error = "transport could not start";
    rl__log(RL__LOG_ERROR, "%s: transport could not start on thread %d: %s",
            p->name, w->index, rl_strerror(rc));
  }
}

static void start_steps_transports(rl__worker *w, const rl__plan_step *s,
                                   size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i].target->plugin->desc.kind == RL_PLUGIN_TRANSPORT)
      start_one_transport(w, s[i].target);
}

/* Every transport-plugin target of the plan gets its state here. */
static void start_transport(rl__worker *w) {
  const rl__plan *plan = w->runner->plan;
  for (size_t c = 0; c < plan->n_classes; c++) {
    const rl__plan_class *k = &plan->classes[c];
    start_steps_transports(w, k->on_start, k->n_on_start);
    start_steps_transports(w, k->on_stop, k->n_on_stop);
    for (size_t t = 0; t < k->n_tasks; t++)
      start_steps_transports(w, k->tasks[t].steps, k->tasks[t].n_steps);
  }
}

static void *worker_main(void *arg) {
  rl__worker *w = arg;
  start_transport(w);
  ev_run(w->loop, 0);
  rl__host_thread_exit();
  return NULL;
}

int rl__worker_start(rl__worker *w, struct rl__runner *r, int index) {
  memset(w, 0, sizeof *w);
  w->index = index;
  w->runner = r;
  w->rbuf_size = READ_BUFFER_SIZE;
  w->rbuf = malloc(w->rbuf_size);
  w->stats = rl__stats_new();
  w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
  w->loop_handle.w = w;
  /* --connections N: N in all, dealt to threads like users are. */
  w->npool = r->cfg->connections ? rl__spawn_share(r->cfg->connections,
                                                   (uint32_t)index, r->nworkers)
                                 : 0;
  if (w->npool) {
    w->pool = calloc(w->npool, sizeof *w->pool);
    if (!w->pool)
      return RL_ERR_NOMEM;
    for (uint32_t i = 0; i < w->npool; i++)
      rl__conn_init(&w->pool[i], w, r->target);
  }
  if (!w->rbuf || !w->stats || !w->loop)
    return RL_ERR_NOMEM;
  atomic_init(&w->want_users, 0);
  atomic_init(&w->command, RL__CMD_RUN);
  ev_async_init(&w->wake, wake_cb);
  w->wake.data = w;
  ev_async_start(w->loop, &w->wake);
  ev_prepare_init(&w->prepare, prepare_cb);
  w->prepare.data = w;
  ev_prepare_start(w->loop, &w->prepare);
  ev_idle_init(&w->idle, idle_cb);
  w->idle.data = w;
  ev_init(&w->stop_timer, stop_timer_cb);
  w->stop_timer.data = w;
  ev_timer_init(&w->flush_timer, flush_timer_cb, FLUSH_INTERVAL_S,
                FLUSH_INTERVAL_S);
  w->flush_timer.data = w;
  ev_timer_start(w->loop, &w->flush_timer);
  if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
    return RL_ERR_NOMEM;
  w->thread_started = 1;
  return 0;
}

void rl__worker_join(rl__worker *w) {
  if (w->thread_started)
    pthread_join(w->thread, NULL);
  w->thread_started = 0;
  for (size_t i = 0; i < w->nusers; i++)
    rl__user_free(w->users[i]);
  free(w->users);
  w->users = NULL;
  w->nusers = 0;
  for (uint32_t i = 0; i < w->npool; i++)
    rl__conn_free(&w->pool[i]);
  free(w->pool);
  w->pool = NULL;
  w->npool = 0;
  if (w->loop)
    ev_loop_destroy(w->loop);
  w->loop = NULL;
  rl__stats_del(w->stats);
  w->stats = NULL;
  free(w->rbuf);
  w->rbuf = NULL;
  free(w->transports);
  w->transports = NULL;
  w->ntransports = 0;
}

void rl__worker_set_users(rl__worker *w, uint32_t n) {
  atomic_store(&w->want_users, n);
  ev_async_send(w->loop, &w->wake);
}

void rl__worker_command(rl__worker *w, enum rl__worker_cmd cmd) {
  int cur = atomic_load(&w->command);
  if ((int)cmd > cur)
    atomic_store(&w->command, (int)cmd);
  ev_async_send(w->loop, &w->wake);
}
