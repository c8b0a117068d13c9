#include "engine/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "engine/conn.h"
#include "engine/plan.h"
#include "engine/request.h"
#include "engine/rtarget.h"
#include "engine/target.h"
#include "engine/user.h"
#include "events/events.h"

#define READ_BUFFER_SIZE ((size_t)64 * 1024)
#define FLUSH_INTERVAL_S 1.0

/* `last`: the worker has ended and records nothing more. Otherwise the
 * hub hears that every request this thread ended before now is merged
 * (the time is taken first: this thread records nothing meanwhile). */
static void flush_stats(rl__worker *w, int last) {
  uint64_t through = last ? UINT64_MAX : rl__now_ns();
  uint64_t cut = w->loop.cut_requests - w->cut_merged;
  w->cut_merged = w->loop.cut_requests;
  if (rl__stats_hub_merge(w->cfg.hub, w->loop.stats, cut, &w->stats_epoch,
                          (uint32_t)w->cfg.index, through))
    rl__log(RL__LOG_WARN, "out of memory merging statistics");
}

/* A reset since our last merge: what we recorded belongs to before it. */
static void sync_epoch(rl__worker *w) {
  unsigned e = rl__stats_hub_epoch(w->cfg.hub);
  if (e == w->stats_epoch)
    return;
  rl__stats_clear(w->loop.stats);
  w->cut_merged = w->loop.cut_requests;
  w->stats_epoch = e;
}

/* Ends the thread's transports; what they still hold is cancelled
 * (counted apart while cutting, like any request cut at the stop). */
static void end_transport(rl__worker *w) {
  for (size_t i = 0; i < w->loop.ntransports; i++) {
    rl__loop_transport *lt = &w->loop.transports[i];
    void *t = lt->state;
    if (!t)
      continue;
    lt->state = NULL;
    lt->target->plugin->desc.transport_del(t, RL_ERR_CANCELLED, "stopped");
  }
}

static void close_pool(rl__worker *w) {
  for (uint32_t i = 0; i < w->npool; i++)
    rl__conn_shutdown(&w->pool[i], RL_ERR_CANCELLED, "stopped");
}

static void arrivals_off(rl__worker *w);
static void drop_queue(rl__worker *w);
static int idle_lists(rl_loop *lp);

static void check_finished(rl__worker *w) {
  if (!w->loop.stopping || w->loop.live_users || w->finished)
    return;
  end_transport(w);
  close_pool(w);
  w->finished = 1;
  struct ev_loop *ev = w->loop.ev;
  ev_timer_stop(ev, &w->flush_timer);
  ev_timer_stop(ev, &w->stop_timer);
  ev_timer_stop(ev, &w->users_stop_timer);
  ev_timer_stop(ev, &w->arrival_timer);
  ev_idle_stop(ev, &w->idle);
  ev_prepare_stop(ev, &w->prepare);
  ev_async_stop(ev, &w->wake);
  rl__lag_meter_stop(&w->lag);
  flush_stats(w, 1);
  if (w->cfg.finished)
    w->cfg.finished(w->cfg.finished_arg);
  ev_break(ev, EVBREAK_ALL);
}

/* A stop of every user is over once none is left: the stats go to the
 * hub at once, so the run's figures are final when the runner says
 * stopped. */
static void check_users_stopped(rl__worker *w) {
  if (!w->users_stopping || w->loop.live_users)
    return;
  w->users_stopping = 0;
  ev_timer_stop(w->loop.ev, &w->users_stop_timer);
  /* The count other threads read says 0 before the runner hears: a stop
   * that cut the users at once (no grace, or the grace's end) reached
   * here before run_ready stored it, and the web UI's first read after
   * "stopped" showed the users still running. */
  atomic_store(&w->users_live, 0);
  flush_stats(w, 0);
  if (w->cfg.users_stopped)
    w->cfg.users_stopped(w->cfg.finished_arg);
}

/* Cuts every user still running (and what the shared connections carry):
 * their requests in flight are counted apart, as at the end of a run. */
static void cut_users(rl__worker *w) {
  close_pool(w);
  for (size_t i = 0; i < w->nusers; i++)
    rl__user_stop(w->users[i], 1);
}

static void users_stop_timer_cb(struct ev_loop *loop, ev_timer *t,
                                int revents) {
  (void)loop;
  (void)revents;
  rl__worker *w = t->data;
  cut_users(w);
  check_users_stopped(w);
}

static void stop_users(rl__worker *w) {
  arrivals_off(w);
  drop_queue(w);
  w->users_stopping = 1;
  w->active_users = 0;
  uint64_t grace = atomic_load(&w->stop_timeout_ns);
  if (!grace) {
    cut_users(w);
  } else {
    for (size_t i = 0; i < w->nusers; i++)
      rl__user_retire(w->users[i]);
    ev_timer_set(&w->users_stop_timer, (double)grace / 1e9, 0.);
    ev_timer_start(w->loop.ev, &w->users_stop_timer);
  }
  check_users_stopped(w);
}

static void cut(rl__worker *w) {
  w->loop.stopping = w->loop.cutting = 1;
  arrivals_off(w);
  drop_queue(w);
  end_transport(w);
  close_pool(w);
  for (size_t i = 0; i < w->nusers; i++)
    rl__user_stop(w->users[i], 1);
  ev_timer_stop(w->loop.ev, &w->users_stop_timer);
  check_finished(w);
}

static void begin_stop(rl__worker *w) {
  w->loop.stopping = 1;
  uint64_t grace = atomic_load(&w->stop_timeout_ns);
  if (!grace) {
    cut(w);
    return;
  }
  /* Users between tasks stop now; those in a task finish it (they stop
   * when they next act), until the stop timeout cuts them. */
  arrivals_off(w);
  drop_queue(w);
  for (size_t i = 0; i < w->nusers; i++)
    if (w->users[i]->state == RL__USER_WAITING ||
        w->users[i]->state == RL__USER_IDLE)
      rl__user_end(w->users[i]);
  ev_timer_set(&w->stop_timer, (double)grace / 1e9, 0.);
  ev_timer_start(w->loop.ev, &w->stop_timer);
  check_finished(w);
}

/* A stop: arrivals still waiting for a user will not run: dropped. */
static void drop_queue(rl__worker *w) {
  rl_loop *lp = &w->loop;
  if (!lp->queued)
    return;
  rl__stats_count_iterations(lp->stats, 0, lp->queued);
  lp->queued = 0;
}

/* The open model: no more arrivals (a stop, or the schedule's end). */
static void arrivals_off(rl__worker *w) {
  w->arr_on = 0;
  ev_timer_stop(w->loop.ev, &w->arrival_timer);
}

/* The open model: every arrival due by now goes to an idle user, or is
 * dropped when none is (counted with the rest in the thread's stats);
 * then the timer is set for the next. One pass per timer tick however
 * many are due, so spacing far below the timer's resolution holds.
 *
 * Called at every loop turn, it starts arrivals only when the arrival
 * timer has fired (or is not set yet): a turn that woke for an answer
 * between two ticks starts none. Starting the few arrivals due at each
 * such turn sent them one or two at a time, and each of their answers
 * woke the loop again: a chain of wake-ups (a context switch each, the
 * open model's main extra cost: bench/README.md, shapes.sh) instead of
 * one batch a millisecond, as the closed model's wait timers make. The
 * lateness this adds is within the tick an idle loop waited for anyway
 * (up to 1 ms, the poll's resolution) and, as any late start, it is in
 * the corrected response times. A user that comes free takes a queued
 * arrival at once (go_idle in engine/user.c), not at the next tick. */
static void pump_arrivals(rl__worker *w) {
  rl_loop *lp = &w->loop;
  if (lp->stopping || w->users_stopping) {
    arrivals_off(w);
    return;
  }
  if (ev_is_active(&w->arrival_timer))
    return;
  uint64_t now = rl__now_ns();
  uint64_t rel = now > w->arr_t0 ? now - w->arr_t0 : 0;
  uint64_t slack = w->cfg.arrival_slack_ns;
  uint64_t next, scheduled = 0, dropped = 0;
  while ((next = rl__arrivals_next(&w->arr)) <= rel) {
    /* -n: an arrival takes an iteration (given back when it is dropped);
     * none left and the schedule is over. */
    if (lp->budget && !rl__budget_take(lp->budget)) {
      next = UINT64_MAX;
      break;
    }
    rl__arrivals_pop(&w->arr);
    scheduled++;
    if (rl__user_arrive(lp, w->arr_t0 + next)) {
      dropped++;
      if (lp->budget)
        rl__budget_give_back(lp->budget);
    }
  }
  if (scheduled)
    rl__stats_count_iterations(lp->stats, scheduled, dropped);
  if (next == UINT64_MAX) {
    arrivals_off(w);
    return;
  }
  /* The timer wakes on the millisecond after the next arrival (plus
   * --arrival-slack's D: a batch of D + 1 ms): the loop's poll counts
   * timeouts in whole milliseconds anyway, and every arrival due by then
   * starts in that turn, so at high rates the timer is set once a
   * millisecond, not once an arrival. */
  uint64_t slot = (next + slack) / RL__NS_PER_MS + 1;
  ev_timer_set(&w->arrival_timer, (double)(slot * RL__NS_PER_MS - rel) / 1e9,
               0.);
  ev_timer_start(lp->ev, &w->arrival_timer);
}

static void arrivals_on(rl__worker *w) {
  if (w->arr_on || !w->cfg.rate)
    return;
  w->arr_t0 = atomic_load(&w->arrivals_t0);
  if (!w->arr_t0)
    w->arr_t0 = rl__now_ns();
  rl__arrivals_init(&w->arr, w->cfg.rate, (uint32_t)w->cfg.index,
                    w->cfg.nworkers, w->cfg.arrivals,
                    w->cfg.seed ^
                        ((uint64_t)w->cfg.index + 1) * 0xbf58476d1ce4e5b9ull);
  w->arr_on = 1;
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
  uint32_t nthreads = w->cfg.nworkers;
  if (want && !w->loop.stopping && !w->users_stopping)
    arrivals_on(w);
  if (want < w->active_users) {
    retire(w, want);
    return;
  }
  while (w->active_users < want && !w->loop.stopping && !w->users_stopping) {
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
    uint64_t id = (uint64_t)w->nusers * nthreads + (uint64_t)w->cfg.index + 1;
    /* Its class is that of its place among the running users (this
     * thread's j-th is the run's j * nthreads + index-th), not of its id:
     * after lowering retired the newest, new users take their places, so
     * the users running are always the plan's deal of that many users. */
    uint64_t place =
        (uint64_t)w->active_users * nthreads + (uint64_t)w->cfg.index;
    /* The open model's pool: each thread's is the plan's deal on its own,
     * so every thread has users of each class for the arrivals it draws
     * for that class (interleaved, a thread could have none). */
    if (w->loop.open)
      place = w->active_users;
    rl_conn *shared = w->npool ? &w->pool[w->nusers % w->npool] : NULL;
    rl__user *u = rl__user_new(&w->loop, id,
                               rl__plan_class_of(w->cfg.plan, place), shared);
    if (!u) {
      rl__log(RL__LOG_ERROR, "out of memory spawning user %llu",
              (unsigned long long)id);
      break;
    }
    w->users[w->nusers++] = u;
    w->loop.live_users++;
    w->active_users++;
  }
}

/* Lets the queued users act. Users queued while this runs wait for the
 * next call, so a user that fails at once cannot starve the loop. */
static void run_ready(rl__worker *w) {
  rl__user *u = w->loop.ready_head;
  w->loop.ready_head = w->loop.ready_tail = NULL;
  while (u) {
    rl__user *next = u->next_ready;
    u->queued = 0;
    u->next_ready = NULL;
    rl__user_resume(u);
    u = next;
  }
  /* After the queue: users that just went idle take what is due. */
  if (w->arr_on)
    pump_arrivals(w);
  rl__conn_flush_scheduled(&w->loop);
  if (w->loop.ready_head && !w->finished && !ev_is_active(&w->idle))
    ev_idle_start(w->loop.ev, &w->idle);
  atomic_store_explicit(&w->users_live, w->loop.live_users,
                        memory_order_relaxed);
  check_users_stopped(w);
  check_finished(w);
}

static void after_event(rl_loop *loop) { run_ready(loop->owner); }

static void start_transport(rl__worker *w);

/* A new test (rl__worker_new_test): every user here has stopped. */
static void new_test(rl__worker *w, unsigned gen) {
  const rl__plan *plan = atomic_load(&w->next_plan);
  int fresh = plan != w->cfg.plan;
  if (w->loop.live_users) {
    /* The runner starts a test once every user has stopped: not yet. */
    rl__log(RL__LOG_ERROR, "thread %d: a new test while %u users run",
            w->cfg.index, w->loop.live_users);
    return;
  }
  if (fresh || w->nusers) {
    /* What the transports still hold ends now, as cut requests of the
     * users it belongs to (stopped, still there to count them). */
    end_transport(w);
    free(w->loop.transports);
    w->loop.transports = NULL;
    w->loop.ntransports = 0;
  }
  /* Stopped users may still sit in the ready queue (they do nothing when
   * resumed) and their closed connections on the flush list: unhook both
   * before the users go. */
  for (rl__user *u = w->loop.ready_head, *next; u; u = next) {
    next = u->next_ready;
    u->next_ready = NULL;
    u->queued = 0;
  }
  w->loop.ready_head = w->loop.ready_tail = NULL;
  rl__conn_flush_scheduled(&w->loop);
  for (size_t i = 0; i < w->nusers; i++)
    rl__user_del(w->users[i]);
  w->nusers = 0;
  w->active_users = 0;
  if (fresh) {
    rl__rt_thread_del(&w->loop); /* the old plan's table */
    const rl__target *pool_target = atomic_load(&w->next_pool_target);
    for (uint32_t i = 0; i < w->npool; i++) {
      rl__conn_shutdown(&w->pool[i], RL_ERR_CANCELLED, "a new test");
      rl__conn_free(&w->pool[i]);
      rl__conn_init(&w->pool[i], &w->loop, pool_target);
    }
    w->cfg.plan = w->loop.plan = plan;
    w->cfg.pool_target = pool_target;
    if (w->loop.open && idle_lists(&w->loop))
      rl__log(RL__LOG_ERROR, "out of memory: no user takes arrivals");
  }
  if (!w->loop.ntransports)
    start_transport(w);
  w->test_seen = gen;
}

static void wake_cb(struct ev_loop *loop, ev_async *a, int revents) {
  (void)loop;
  (void)revents;
  rl__worker *w = a->data;
  sync_epoch(w);
  int cmd = atomic_load(&w->command);
  unsigned gen = atomic_load(&w->stop_gen);
  if (cmd == RL__CMD_CUT && !w->loop.cutting)
    cut(w);
  else if (cmd == RL__CMD_STOP && !w->loop.stopping)
    begin_stop(w);
  else if (cmd == RL__CMD_RUN && gen != w->stop_seen) {
    w->stop_seen = gen;
    stop_users(w);
  } else if (cmd == RL__CMD_RUN) {
    unsigned test = atomic_load(&w->test_gen);
    if (test != w->test_seen && !w->users_stopping)
      new_test(w, test);
    spawn(w, atomic_load(&w->want_users));
  }
  run_ready(w);
}

static void stop_timer_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  cut(t->data);
}

static void flush_timer_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  flush_stats(t->data, 0);
}

static void arrival_timer_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  run_ready(t->data);
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *p, int revents) {
  (void)loop;
  (void)revents;
  run_ready(p->data);
}

static void idle_cb(struct ev_loop *loop, ev_idle *i, int revents) {
  (void)revents;
  rl__worker *w = i->data;
  run_ready(w);
  if (!w->loop.ready_head)
    ev_idle_stop(loop, i);
}

/* One transport plugin's per-thread state, made on the thread it serves. */
static void start_one_transport(rl__worker *w, const rl__target *t) {
  rl_loop *lp = &w->loop;
  const rl_plugin *p = &t->plugin->desc;
  for (size_t i = 0; i < lp->ntransports; i++)
    if (lp->transports[i].target == t)
      return;
  rl__loop_transport *a =
      realloc(lp->transports, (lp->ntransports + 1) * sizeof *a);
  if (!a) {
    rl__log(RL__LOG_ERROR, "out of memory starting a transport");
    return;
  }
  lp->transports = a;
  rl__loop_transport *lt = &a[lp->ntransports++];
  lt->target = t;
  lt->state = NULL;
  lt->error = NULL;
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
  int rc = p->transport_new(lp->host, lp, t->step, &info, &lt->state);
  if (rc < 0) {
    lt->state = NULL;
    lt->error = "transport could not start";
    rl__log(RL__LOG_ERROR, "%s: transport could not start on thread %d: %s",
            p->name, w->cfg.index, rl_strerror(rc));
  }
}

static void start_steps_transports(rl__worker *w, const rl__plan_step *s,
                                   size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i].target && s[i].target->plugin->desc.kind == RL_PLUGIN_TRANSPORT)
      start_one_transport(w, s[i].target);
}

/* Every transport-plugin target of the plan gets its state here. */
static void start_transport(rl__worker *w) {
  const rl__plan *plan = w->cfg.plan;
  for (size_t c = 0; c < plan->n_classes; c++) {
    const rl__plan_class *k = &plan->classes[c];
    start_steps_transports(w, k->on_start, k->n_on_start);
    start_steps_transports(w, k->on_stop, k->n_on_stop);
    for (size_t t = 0; t < k->n_tasks; t++)
      start_steps_transports(w, k->tasks[t].steps, k->tasks[t].n_steps);
    if (k->c) /* a class written in C: the requests its tasks send */
      start_steps_transports(w, k->c->requests, k->c->n_requests);
  }
}

static void *worker_main(void *arg) {
  rl__worker *w = arg;
  /* The thread's listener contexts live on it, from before its first
   * request to after its last (NULL, and nothing on the request path,
   * when no listener hears requests). */
  w->loop.events = rl__events_thread_new(w->cfg.events, (uint32_t)w->cfg.index);
  start_transport(w);
  ev_run(w->loop.ev, 0);
  rl__events_thread_del(w->loop.events);
  w->loop.events = NULL;
  return NULL;
}

/* The open model's idle lists, one a class of the loop's plan (empty:
 * no user is idle when the plan changes). */
static int idle_lists(rl_loop *lp) {
  size_t n = lp->plan->n_classes ? lp->plan->n_classes : 1;
  struct rl__user **heads = calloc(n, sizeof(struct rl__user *));
  if (!heads)
    return RL_ERR_NOMEM;
  free(lp->idle_heads);
  lp->idle_heads = heads;
  lp->n_idle_heads = n;
  lp->idle = 0;
  return 0;
}

/* The loop every user and connection of this thread runs on. */
static int loop_init(rl__worker *w) {
  rl_loop *lp = &w->loop;
  lp->host = w->cfg.host;
  lp->index = w->cfg.index;
  lp->plan = w->cfg.plan;
  lp->seed = w->cfg.seed;
  lp->start_ns = w->cfg.start_ns;
  lp->gate = (rl__request_gate){.until_ns = w->cfg.warmup_end_ns,
                                .skip_first = w->cfg.skip_first,
                                .skipped = w->cfg.skipped};
  lp->gate.open = !lp->gate.until_ns && !lp->gate.skip_first;
  lp->open = w->cfg.rate != NULL;
  if (lp->open && idle_lists(lp))
    return RL_ERR_NOMEM;
  lp->arrival_rng =
      w->cfg.seed ^ 0x2545f4914f6cdd1dull * (uint64_t)(w->cfg.index + 1);
  lp->latency_uncorrected = w->cfg.latency_uncorrected;
  lp->print_responses = w->cfg.print_responses;
  lp->budget = w->cfg.budget;
  lp->events_table = w->cfg.events;
  lp->events_response = w->cfg.events && w->cfg.events->any_response;
  if (lp->open && w->cfg.queue_cap) {
    lp->queue = malloc(w->cfg.queue_cap * sizeof *lp->queue);
    if (!lp->queue)
      return RL_ERR_NOMEM;
    lp->queue_cap = w->cfg.queue_cap;
  }
  lp->after_event = after_event;
  lp->owner = w;
  lp->rbuf_size = READ_BUFFER_SIZE;
  lp->rbuf = malloc(lp->rbuf_size);
  lp->stats = rl__stats_new();
  if (lp->stats) /* the thread's second of errors stays under the cap too */
    rl__stats_set_max_error_rows(lp->stats, w->cfg.hub->max_error_rows);
  lp->ev = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
  return lp->rbuf && lp->stats && lp->ev ? 0 : RL_ERR_NOMEM;
}

static void watchers_init(rl__worker *w) {
  struct ev_loop *ev = w->loop.ev;
  ev_async_init(&w->wake, wake_cb);
  w->wake.data = w;
  ev_async_start(ev, &w->wake);
  ev_prepare_init(&w->prepare, prepare_cb);
  w->prepare.data = w;
  ev_prepare_start(ev, &w->prepare);
  ev_idle_init(&w->idle, idle_cb);
  w->idle.data = w;
  ev_init(&w->stop_timer, stop_timer_cb);
  w->stop_timer.data = w;
  ev_init(&w->users_stop_timer, users_stop_timer_cb);
  w->users_stop_timer.data = w;
  ev_init(&w->arrival_timer, arrival_timer_cb);
  w->arrival_timer.data = w;
  ev_timer_init(&w->flush_timer, flush_timer_cb, FLUSH_INTERVAL_S,
                FLUSH_INTERVAL_S);
  w->flush_timer.data = w;
  ev_timer_start(ev, &w->flush_timer);
  rl__lag_meter_start(&w->lag, ev);
}

int rl__worker_start(rl__worker *w, const rl__worker_config *cfg) {
  memset(w, 0, sizeof *w);
  w->cfg = *cfg;
  w->stats_epoch = cfg->hub->epoch;
  atomic_init(&w->want_users, 0);
  atomic_init(&w->users_live, 0);
  atomic_init(&w->command, RL__CMD_RUN);
  atomic_init(&w->stop_gen, 0);
  atomic_init(&w->stop_timeout_ns, cfg->stop_timeout_ns);
  atomic_init(&w->next_plan, cfg->plan);
  atomic_init(&w->next_pool_target, cfg->pool_target);
  atomic_init(&w->test_gen, 0);
  atomic_init(&w->arrivals_t0, 0);
  if (loop_init(w))
    return RL_ERR_NOMEM;
  /* --connections N: N in all, dealt to threads like users are. */
  if (cfg->npool) {
    w->pool = calloc(cfg->npool, sizeof *w->pool);
    if (!w->pool)
      return RL_ERR_NOMEM;
    w->npool = cfg->npool;
    for (uint32_t i = 0; i < w->npool; i++)
      rl__conn_init(&w->pool[i], &w->loop, cfg->pool_target);
  }
  watchers_init(w);
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
    rl__user_del(w->users[i]);
  free(w->users);
  w->users = NULL;
  w->nusers = 0;
  for (uint32_t i = 0; i < w->npool; i++)
    rl__conn_free(&w->pool[i]);
  free(w->pool);
  w->pool = NULL;
  w->npool = 0;
  rl_loop *lp = &w->loop;
  rl__rt_thread_del(lp); /* before its loop and its plan go */
  if (lp->ev)
    ev_loop_destroy(lp->ev);
  lp->ev = NULL;
  rl__stats_del(lp->stats);
  lp->stats = NULL;
  free(lp->rbuf);
  lp->rbuf = NULL;
  free(lp->queue);
  lp->queue = NULL;
  free(lp->idle_heads);
  lp->idle_heads = NULL;
  lp->n_idle_heads = 0;
  rl__buf_free(&lp->scratch);
  free(lp->transports);
  lp->transports = NULL;
  lp->ntransports = 0;
}

uint32_t rl__worker_users_live(const rl__worker *w) {
  return atomic_load_explicit(&w->users_live, memory_order_relaxed);
}

void rl__worker_set_users(rl__worker *w, uint32_t n) {
  atomic_store(&w->want_users, n);
  ev_async_send(w->loop.ev, &w->wake);
}

void rl__worker_arrivals_from(rl__worker *w, uint64_t t0_ns) {
  atomic_store(&w->arrivals_t0, t0_ns);
}

void rl__worker_command(rl__worker *w, enum rl__worker_cmd cmd) {
  int cur = atomic_load(&w->command);
  if ((int)cmd > cur)
    atomic_store(&w->command, (int)cmd);
  ev_async_send(w->loop.ev, &w->wake);
}

void rl__worker_stop_users(rl__worker *w) {
  atomic_store(&w->want_users, 0);
  atomic_fetch_add(&w->stop_gen, 1);
  ev_async_send(w->loop.ev, &w->wake);
}

void rl__worker_new_test(rl__worker *w, const rl__plan *plan,
                         const rl__target *pool_target, unsigned gen) {
  atomic_store(&w->next_plan, plan);
  atomic_store(&w->next_pool_target, pool_target);
  atomic_store(&w->test_gen, gen);
  ev_async_send(w->loop.ev, &w->wake);
}

void rl__worker_wake(rl__worker *w) { ev_async_send(w->loop.ev, &w->wake); }

void rl__worker_set_stop_timeout(rl__worker *w, uint64_t ns) {
  atomic_store(&w->stop_timeout_ns, ns);
}

void rl__worker_lag(const rl__worker *w, rl__lag *out) {
  rl__lag_meter_read(&w->lag, out);
}

uint64_t rl__worker_cut_requests(const rl__worker *w) {
  return w->loop.cut_requests;
}
