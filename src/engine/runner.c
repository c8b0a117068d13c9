#include "engine/runner.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <rpcload/plugin.h>

#include "base/clock.h"
#include "base/log.h"
#include "engine/plan.h"
#include "engine/spawn.h"
#include "engine/worker.h"

/* A stop while users are still being spawned (up): how far it got, for
 * the summary. */
static void note_ramp(rl__runner *r) {
  if (atomic_load(&r->state) != RL__STATE_SPAWNING ||
      r->swarm_to <= r->swarm_from || r->spawned >= r->swarm_to)
    return;
  r->ramp_short = 1;
  r->ramp_reached = r->spawned;
  r->ramp_wanted = r->swarm_to;
  r->ramp_rate = r->swarm_rate;
  r->ramp_ns = rl__now_ns() - r->swarm_t0_ns;
}

static void stop_run(rl__runner *r) {
  if (r->stopping)
    return;
  note_ramp(r);
  r->stopping = 1;
  r->users_at_stop = rl__runner_users_running(r);
  pthread_mutex_lock(&r->state_lock);
  atomic_store(&r->state, RL__STATE_ENDING);
  pthread_cond_broadcast(&r->state_cond); /* stop waiters: the run ends */
  pthread_mutex_unlock(&r->state_lock);
  ev_timer_stop(r->loop, &r->spawn_timer);
  ev_timer_stop(r->loop, &r->shape_timer);
  ev_timer_stop(r->loop, &r->run_timer);
  ev_timer_stop(r->loop, &r->autoquit_timer);
  for (uint32_t i = 0; i < r->nworkers; i++)
    rl__worker_command(&r->workers[i], RL__CMD_STOP);
}

static void cut_run(rl__runner *r) {
  stop_run(r);
  for (uint32_t i = 0; i < r->nworkers; i++)
    rl__worker_command(&r->workers[i], RL__CMD_CUT);
}

static void tell_workers(rl__runner *r, uint32_t users) {
  r->spawned = users;
  for (uint32_t k = 0; k < r->nworkers; k++)
    rl__worker_set_users(&r->workers[k],
                         rl__spawn_share(users, k, r->nworkers));
}

/* Locust's line, users per class by name: all users spawned: {"Admin": 1,
 * "Web": 2} (3 total users). */
static void log_spawned(rl__runner *r, uint32_t users) {
  const rl__plan *p = r->plan;
  uint64_t *counts = calloc(p->n_classes, sizeof *counts);
  json_t *j = json_object();
  char *text = NULL;
  if (counts && j) {
    rl__plan_class_counts(p, users, counts);
    for (size_t c = 0; c < p->n_classes; c++) {
      /* Two classes of one name count together. */
      json_t *had = json_object_get(j, p->classes[c].name);
      uint64_t n = counts[c] + (had ? (uint64_t)json_integer_value(had) : 0);
      json_object_set_new(j, p->classes[c].name, json_integer((json_int_t)n));
    }
    text = json_dumps(j, JSON_SORT_KEYS);
  }
  rl__log(RL__LOG_INFO, "all users spawned: %s (%u total users)",
          text ? text : "{}", users);
  free(text);
  json_decref(j);
  free(counts);
}

/* Moves the user count along the current ramp: Locust's schedule (the
 * first change at once, then one every 1/rate s), up or down. */
static void spawn_tick(rl__runner *r) {
  double elapsed = (double)(rl__now_ns() - r->swarm_t0_ns) / 1e9;
  uint32_t up = r->swarm_to >= r->swarm_from;
  uint32_t span =
      up ? r->swarm_to - r->swarm_from : r->swarm_from - r->swarm_to;
  uint32_t step = rl__spawn_due(span, r->swarm_rate, elapsed);
  uint32_t due = up ? r->swarm_from + step : r->swarm_from - step;
  if (due != r->spawned)
    tell_workers(r, due);
  if (step >= span) {
    ev_timer_stop(r->loop, &r->spawn_timer);
    atomic_store(&r->state, RL__STATE_RUNNING);
    if (up && span > 0)
      log_spawned(r, due);
    if (span > 0 && r->cfg->events)
      rl__events_spawning_complete(r->cfg->events, due);
  }
}

static void spawn_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  spawn_tick(t->data);
}

/* The open model's start: the whole pool at once (k6's pre-allocated
 * users: they only connect when an arrival needs them), its arrivals
 * counting from now on every thread. */
static void open_pool(rl__runner *r, uint32_t users) {
  uint64_t t0 = rl__now_ns();
  for (uint32_t k = 0; k < r->nworkers; k++)
    rl__worker_arrivals_from(&r->workers[k], t0);
  r->swarm_from = r->spawned;
  r->swarm_to = users;
  r->swarm_t0_ns = t0;
  tell_workers(r, users);
  atomic_store(&r->state, RL__STATE_RUNNING);
  if (r->cfg->events)
    rl__events_spawning_complete(r->cfg->events, users);
  rl__log(RL__LOG_INFO,
          "open model: %u users to run arrivals at %.6g/s at the start", users,
          rl__profile_value(r->cfg->rate, 0));
}

/* Starts a ramp from the current user count to `users` at `rate`. */
static void swarm(rl__runner *r, uint32_t users, double rate) {
  if (r->cfg->rate) {
    open_pool(r, users);
    return;
  }
  r->ramp_short = 0; /* a new ramp: the last one's shortfall is history */
  r->swarm_from = r->spawned;
  r->swarm_to = users;
  r->swarm_rate = rate > 0 ? rate : 1;
  r->swarm_t0_ns = rl__now_ns();
  atomic_store(&r->state, RL__STATE_SPAWNING);
  double interval = 1.0 / r->swarm_rate;
  interval = interval < 0.01 ? 0.01 : interval > 1.0 ? 1.0 : interval;
  ev_timer_stop(r->loop, &r->spawn_timer);
  ev_timer_set(&r->spawn_timer, interval, interval);
  ev_timer_start(r->loop, &r->spawn_timer);
  rl__log(RL__LOG_INFO, "%s to %u users at a rate of %.2f per second",
          users >= r->swarm_from ? "ramping" : "ramping down", users,
          r->swarm_rate);
  spawn_tick(r);
}

/* --stages: the user count the profile asks for now. A stage with its
 * own spawn rate is one ramp at that rate (Locust's tick returning
 * (users, rate)); the others follow their line, users added or retired
 * as the count crosses each whole number. */
static void shape_tick(rl__runner *r) {
  const rl__profile *p = r->cfg->user_stages;
  uint64_t t = rl__now_ns() - r->shape_t0_ns;
  uint64_t from;
  size_t si = rl__profile_stage_at(p, t, &from);
  if (si < p->n && p->stages[si].rate > 0) {
    if (si != r->shape_stage) {
      r->shape_stage = si;
      swarm(r, (uint32_t)llround(p->stages[si].target), p->stages[si].rate);
    }
    return;
  }
  r->shape_stage = si;
  uint32_t want = (uint32_t)llround(rl__profile_value(p, t));
  if (want != r->spawned) {
    ev_timer_stop(r->loop, &r->spawn_timer);
    tell_workers(r, want);
  }
  atomic_store(&r->state, RL__STATE_RUNNING);
}

/* shape_fn: what the function asks now; a change is a new ramp from
 * where the users are (Locust's shape runner), nothing else one. */
static void shape_fn_tick(rl__runner *r) {
  double t = (double)(rl__now_ns() - r->shape_t0_ns) / 1e9;
  uint32_t users = 0;
  double rate = 0;
  if (r->cfg->shape_fn(r->cfg->shape_arg, t, &users, &rate)) {
    rl__log(RL__LOG_INFO, "the load shape ended the test after %.1fs", t);
    stop_run(r);
    return;
  }
  if (r->shape_stage != SIZE_MAX && users == (uint32_t)r->shape_users &&
      rate == r->shape_rate)
    return;
  r->shape_stage = 0;
  r->shape_users = users;
  r->shape_rate = rate;
  swarm(r, users, rate);
}

static void shape_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  rl__runner *r = t->data;
  if (r->cfg->shape_fn)
    shape_fn_tick(r);
  else
    shape_tick(r);
}

#define SHAPE_TICK_S 0.05
#define SHAPE_FN_TICK_S 1.0 /* Locust asks its shape once a second */

static void shape_fn_start(rl__runner *r) {
  r->shape_t0_ns = rl__now_ns();
  r->shape_stage = SIZE_MAX;
  ev_timer_set(&r->shape_timer, SHAPE_FN_TICK_S, SHAPE_FN_TICK_S);
  ev_timer_start(r->loop, &r->shape_timer);
  shape_fn_tick(r);
}

static void shape_start(rl__runner *r) {
  r->shape_t0_ns = rl__now_ns();
  r->shape_stage = SIZE_MAX;
  tell_workers(r, (uint32_t)llround(r->cfg->user_stages->start));
  ev_timer_set(&r->shape_timer, SHAPE_TICK_S, SHAPE_TICK_S);
  ev_timer_start(r->loop, &r->shape_timer);
  shape_tick(r);
}

int rl__runner_target(const rl__runner *r, double *value) {
  const rl__run_config *cfg = r->cfg;
  uint64_t now = rl__now_ns();
  if (cfg->shape_fn && !cfg->steered) {
    *value = r->shape_users; /* what the function asked last */
    return 1;
  }
  if (cfg->user_stages) {
    uint64_t t =
        r->shape_t0_ns && now > r->shape_t0_ns ? now - r->shape_t0_ns : 0;
    uint64_t from;
    size_t si = rl__profile_stage_at(cfg->user_stages, t, &from);
    const rl__profile *p = cfg->user_stages;
    *value = si < p->n && p->stages[si].rate > 0 ? p->stages[si].target
                                                 : rl__profile_value(p, t);
    return 1;
  }
  if (cfg->rate) {
    uint64_t t0 = r->swarm_t0_ns;
    *value = rl__profile_value(cfg->rate, t0 && now > t0 ? now - t0 : 0);
    return 1;
  }
  *value = 0;
  return 0;
}

int rl__runner_shape_progress(const rl__runner *r, rl__shape_progress *out) {
  const rl__run_config *cfg = r->cfg;
  const rl__profile *p = cfg->user_stages ? cfg->user_stages : cfg->rate;
  *out = (rl__shape_progress){0};
  if (!p || !rl__runner_target(r, &out->target))
    return 0;
  uint64_t t0 = cfg->user_stages ? r->shape_t0_ns : r->swarm_t0_ns;
  uint64_t now = rl__now_ns();
  uint64_t t = t0 && now > t0 ? now - t0 : 0;
  uint64_t from;
  out->rate = cfg->user_stages == NULL;
  out->n_stages = p->n;
  out->stage = p->n ? rl__profile_stage_at(p, t, &from) + 1 : 0;
  out->elapsed_s = (double)t / 1e9;
  out->duration_s = (double)rl__profile_duration(p) / 1e9;
  return 1;
}

static void start_run_timer(rl__runner *r) {
  if (r->run_time_ns && !r->stopping && !ev_is_active(&r->run_timer)) {
    /* libev counts a timer from its cached time, which lags the clock by
     * however long the loop was busy (threads starting, a loaded
     * machine): the run would end early by that much, cutting the ramp
     * that began on the clock (swarm_t0_ns). */
    ev_now_update(r->loop);
    ev_timer_set(&r->run_timer, (double)r->run_time_ns / 1e9, 0.);
    ev_timer_start(r->loop, &r->run_timer);
  }
}

/* Frees the plans earlier tests ran, once the workers have ended: a
 * plan's steps are deleted after the load, as plugins are promised
 * (include/rpcload/plugin.h), so old plans stay until then (one per host
 * change: a few targets each). */
static void free_retired(rl__runner *r) {
  while (r->retired) {
    rl__retired_plan *old = r->retired;
    r->retired = old->next;
    rl__plan_del(old->plan);
    free(old);
  }
}

static void events_snapshot(rl__stats *stats, const rl__history *history,
                            void *arg) {
  (void)history;
  rl__events_snapshot(arg, stats);
}

/* Locust's test_start / test_stop, paired: a test that started stops
 * once, at a steered stop or at the run's end. */
static void events_test_start(rl__runner *r) {
  if (!r->cfg->events || r->test_on)
    return;
  r->test_on = 1;
  rl__events_test_start(r->cfg->events);
}

/* The last figures of the test go to the report first, so a listener's
 * per-second rows add up to the test's stats. */
static void events_test_stop(rl__runner *r) {
  if (!r->cfg->events || !r->test_on)
    return;
  r->test_on = 0;
  rl__runner_with_stats(r, events_snapshot, r->cfg->events);
  rl__events_report(r->cfg->events, r->spawned);
  rl__events_test_stop(r->cfg->events);
}

/* Main: a new test starts (from ready or stopped: no user runs). With
 * `plan` (owned from now on) its users run that, and the plan before it
 * is retired (kept until the run ends); the workers drop their stopped
 * users either way, so user ids and classes are dealt afresh. */
static void begin_test(rl__runner *r, rl__plan *plan, int has_run_time,
                       uint64_t run_time_ns) {
  r->test_gen++;
  if (plan) {
    rl__retired_plan *old = NULL;
    if (r->test_plan && !(old = malloc(sizeof *old)))
      rl__log(RL__LOG_WARN, "out of memory: an old test's plan is lost");
    pthread_mutex_lock(&r->plan_lock);
    if (old) {
      *old = (rl__retired_plan){.plan = r->test_plan, .next = r->retired};
      r->retired = old;
    }
    r->test_plan = plan;
    r->plan = plan;
    r->target = rl__plan_first_target(plan);
    pthread_mutex_unlock(&r->plan_lock);
  }
  for (uint32_t k = 0; k < r->nworkers; k++)
    rl__worker_new_test(&r->workers[k], r->plan, r->target, r->test_gen);
  r->run_time_ns = has_run_time ? run_time_ns : r->cfg->run_time_ns;
  ev_timer_stop(r->loop, &r->run_timer);
  start_run_timer(r);
  events_test_start(r);
}

static void swarm(rl__runner *r, uint32_t users, double rate);
static void start_run_timer(rl__runner *r);
static void history_tick(rl__runner *r, int final);

/* A steered run's stop: every user goes, the run (and the web UI) stay.
 * The state is "stopping" until every worker's users have stopped and its
 * stats are merged (finish_stop). */
static void stop_users(rl__runner *r) {
  int state = atomic_load(&r->state);
  if (state == RL__STATE_STOPPING || state == RL__STATE_ENDING)
    return;
  note_ramp(r);
  ev_timer_stop(r->loop, &r->spawn_timer);
  ev_timer_stop(r->loop, &r->shape_timer);
  ev_timer_stop(r->loop, &r->run_timer);
  r->spawned = 0;
  atomic_store(&r->workers_stopped, 0);
  atomic_store(&r->state, RL__STATE_STOPPING);
  rl__log(RL__LOG_INFO, "stopping the test");
  for (uint32_t k = 0; k < r->nworkers; k++)
    rl__worker_stop_users(&r->workers[k]);
}

/* Main: every worker's users have stopped and their stats are in. */
static void finish_stop(rl__runner *r) {
  /* The figures stop covering time now, and a history row with the final
   * totals comes at once: a CSV written now must agree with what the API
   * says. */
  rl__stats_hub_cover(&r->hub, 0, rl__now_ns());
  history_tick(r, 1);
  events_test_stop(r);
  pthread_mutex_lock(&r->state_lock);
  /* Users are stopped now, whatever stop was asked meanwhile. */
  r->stops_done = r->stops_asked;
  atomic_store(&r->state, RL__STATE_STOPPED);
  pthread_cond_broadcast(&r->state_cond);
  pthread_mutex_unlock(&r->state_lock);
  uint64_t cut = rl__stats_hub_cut(&r->hub);
  if (cut)
    rl__log(RL__LOG_INFO,
            "test stopped; %llu request(s) in flight were cut and not counted "
            "(--stop-timeout lets them finish)",
            (unsigned long long)cut);
  else
    rl__log(RL__LOG_INFO, "test stopped");
  if (r->cfg->autoquit_s >= 0) {
    ev_timer_set(&r->autoquit_timer, r->cfg->autoquit_s, 0.);
    ev_timer_start(r->loop, &r->autoquit_timer);
  }
  if (r->swarm_pending) {
    r->swarm_pending = 0;
    /* The new test's figures cover time from now (the reset keeps that). */
    rl__stats_hub_cover(&r->hub, 1, rl__now_ns());
    rl__stats_hub_reset(&r->hub); /* a new test starts from clean stats */
    ev_timer_stop(r->loop, &r->autoquit_timer);
    begin_test(r, r->pending_plan, r->pending_has_run_time,
               r->pending_run_time_ns);
    r->pending_plan = NULL;
    swarm(r, r->pending_users, r->pending_rate);
  }
}

/* Clears the merged stats and the history; what workers recorded before
 * is dropped at their next merge (reset_epoch). */
static void reset_stats(rl__runner *r) {
  rl__stats_hub_reset(&r->hub);
  for (uint32_t k = 0; k < r->nworkers; k++)
    rl__worker_wake(&r->workers[k]);
}

static void run_timer_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  rl__runner *r = t->data;
  rl__log(RL__LOG_INFO, "run time limit reached, stopping");
  if (r->cfg->steered)
    stop_users(r);
  else
    stop_run(r);
}

static void autoquit_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  rl__runner *r = t->data;
  rl__log(RL__LOG_INFO, "autoquit: ending");
  stop_run(r);
}

static void ctl_cb(struct ev_loop *loop, ev_async *a, int revents) {
  (void)loop;
  (void)revents;
  rl__runner *r = a->data;
  pthread_mutex_lock(&r->ctl_lock);
  rl__runner_ctl c = r->ctl;
  memset(&r->ctl, 0, sizeof r->ctl);
  pthread_mutex_unlock(&r->ctl_lock);
  /* Custom messages a cluster's wire posted (an empty control wakes us
   * for them): their handlers run here, as every main-thread event. */
  if (r->cfg->events)
    rl__events_deliver_messages(r->cfg->events);
  if (r->stopping) {
    rl__plan_del(c.plan);
    return;
  }
  if (c.quit) {
    rl__plan_del(c.plan); /* a new test's, never to start */
    stop_run(r);
    return;
  }
  if (c.stop) {
    if (r->cfg->steered)
      stop_users(r);
    else
      stop_run(r);
  }
  if (c.swarm) {
    int state = atomic_load(&r->state);
    if (state == RL__STATE_STOPPING) {
      /* Started again before the stop is over: once it is. */
      r->swarm_pending = 1;
      r->pending_users = c.users;
      r->pending_rate = c.spawn_rate;
      if (c.plan) {
        rl__plan_del(r->pending_plan);
        r->pending_plan = c.plan;
      }
      r->pending_has_run_time = c.has_run_time;
      r->pending_run_time_ns = c.run_time_ns;
      return;
    }
    /* A new test after a stop starts from clean stats, as Locust's, and
     * its figures cover time from now (not the idle time before). */
    if (state == RL__STATE_READY || state == RL__STATE_STOPPED) {
      if (state == RL__STATE_STOPPED && !c.reset)
        reset_stats(r);
      rl__stats_hub_cover(&r->hub, 1, rl__now_ns());
      r->swarm_pending = 0;
      ev_timer_stop(r->loop, &r->autoquit_timer);
      begin_test(r, c.plan, c.has_run_time, c.run_time_ns);
    } else {
      if (c.plan) {
        /* The API refuses a new host while a test runs; two swarms that
         * raced may still bring one: users do not change plans mid-test. */
        rl__log(RL__LOG_WARN, "a new host is taken at a new test only: "
                              "stop the test first");
        rl__plan_del(c.plan);
      }
      if (c.has_run_time) {
        /* Locust's: a run time given while running counts from now. */
        r->run_time_ns = c.run_time_ns;
        ev_timer_stop(r->loop, &r->run_timer);
        start_run_timer(r);
      }
    }
    swarm(r, c.users, c.spawn_rate);
  } else if (c.plan) {
    rl__plan_del(c.plan);
  }
}

void rl__runner_control(rl__runner *r, const rl__runner_ctl *c) {
  /* A reset is done here and now: a read right after sees nothing from
   * before it. */
  if (c->reset)
    rl__runner_reset(r);
  if (c->stop) {
    pthread_mutex_lock(&r->state_lock);
    r->stops_asked++;
    pthread_mutex_unlock(&r->state_lock);
  }
  pthread_mutex_lock(&r->ctl_lock);
  if (c->swarm) {
    r->ctl.swarm = 1;
    r->ctl.users = c->users;
    r->ctl.spawn_rate = c->spawn_rate;
    r->ctl.has_run_time = c->has_run_time;
    r->ctl.run_time_ns = c->run_time_ns;
    if (c->plan) {
      rl__plan_del(r->ctl.plan); /* never seen by a worker */
      r->ctl.plan = c->plan;
    }
  }
  r->ctl.stop |= c->stop;
  r->ctl.reset |= c->reset;
  r->ctl.quit |= c->quit;
  if (c->swarm && c->reset)
    r->ctl.reset = 1; /* a new test that starts from clean stats */
  struct ev_loop *loop = r->loop;
  if (loop)
    ev_async_send(loop, &r->ctl_async);
  pthread_mutex_unlock(&r->ctl_lock);
}

const char *rl__run_state_name(int state) {
  switch (state) {
  case RL__STATE_READY:
    return "ready";
  case RL__STATE_SPAWNING:
    return "spawning";
  case RL__STATE_RUNNING:
    return "running";
  case RL__STATE_STOPPING:
    return "stopping";
  case RL__STATE_STOPPED:
    return "stopped";
  default:
    return "quitting";
  }
}

static void report_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  rl__runner *r = t->data;
  /* A steered run waiting for a start, or stopped, has nothing new to
   * show: no table every 2 s then (Locust's web mode prints none). */
  int state = atomic_load(&r->state);
  if (state == RL__STATE_READY || state == RL__STATE_STOPPED)
    return;
  if (r->hooks.report && !r->stopping)
    r->hooks.report(r, r->hooks.arg);
}

/* A history row (`final`: the figures as they are, after a stop), then
 * the per-second hook (the CSV files). */
void rl__runner_set_stop_timeout(rl__runner *r, uint64_t ns) {
  for (uint32_t k = 0; k < r->nworkers; k++)
    rl__worker_set_stop_timeout(&r->workers[k], ns);
}

uint32_t rl__runner_users_running(const rl__runner *r) {
  uint32_t n = atomic_load(&r->remote_users);
  for (uint32_t i = 0; i < r->nworkers; i++)
    n += rl__worker_users_live(&r->workers[i]);
  return n;
}

static void history_tick(rl__runner *r, int final) {
  double target;
  r->hub.target = rl__runner_target(r, &target) ? target : -1;
  /* The users running, not those asked for: a user that stopped itself
   * has left (Locust's user_count). */
  uint32_t users = rl__runner_users_running(r);
  if (rl__stats_hub_tick(&r->hub, rl__now_ns(), users, final))
    rl__log(RL__LOG_WARN, "out of memory recording the history");
  if (r->hooks.second)
    r->hooks.second(r, r->hooks.arg);
  if (r->cfg->events && r->test_on) {
    rl__runner_with_stats(r, events_snapshot, r->cfg->events);
    rl__events_report(r->cfg->events, r->spawned);
  }
}

/* Seconds with a lot of client lag are told as they happen: the
 * response times measured then hold the client's own delay. Shorter
 * stalls are only counted (the end of the run sums them up). */
#define LAG_TELL_NS (100 * RL__NS_PER_MS)

static void tell_lag(rl__runner *r) {
  rl__lag now;
  rl__runner_client_lag(r, &now);
  uint64_t added = now.total_ns - r->lag_said.total_ns;
  if (added >= LAG_TELL_NS)
    rl__log(RL__LOG_INFO,
            "client lag: the worker threads lost %.0f ms to stalls of their "
            "loops in the last second (longest stall so far %.0f ms); "
            "response times then hold the client's own delay",
            (double)added / 1e6, (double)now.max_ns / 1e6);
  r->lag_said = now;
}

static void history_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  history_tick(t->data, 0);
  tell_lag(t->data);
}

static void signal_cb(struct ev_loop *loop, ev_signal *s, int revents) {
  (void)loop;
  (void)revents;
  rl__runner *r = s->data;
  if (r->signals++ == 0) {
    rl__log(RL__LOG_INFO,
            r->cfg->stop_timeout_ns
                ? "stopping: in-flight tasks get up to the stop timeout "
                  "(signal again to end at once)"
                : "stopping");
    stop_run(r);
  } else {
    rl__log(RL__LOG_INFO, "ending at once");
    cut_run(r);
  }
}

/* Once the run is over, while the caller writes its final reports: a
 * signal is noted, once, and ignored. The first one already stopped the
 * run, and a report cut short is worse than a late exit. Only what is
 * async-signal-safe: a flag and write(2). */
static volatile sig_atomic_t held_noted;

static void held_signal(int sig) {
  (void)sig;
  if (held_noted)
    return;
  held_noted = 1;
  static const char line[] =
      "rpcload: the run is over and its reports are being written: signal "
      "ignored\n";
  int saved = errno;
  ssize_t n = write(STDERR_FILENO, line, sizeof line - 1);
  (void)n;
  errno = saved;
}

/* From the loop's signal watchers to held_signal, with both signals
 * blocked meanwhile so that none meets the default action in between
 * (stopping the watchers restores it). SA_RESTART: a report being written
 * to a pipe (--json on stdout) must not fail with EINTR. */
static void hold_signals(rl__runner *r) {
  sigset_t both, old;
  sigemptyset(&both);
  sigaddset(&both, SIGINT);
  sigaddset(&both, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &both, &old);
  ev_signal_stop(r->loop, &r->sigint_watcher);
  ev_signal_stop(r->loop, &r->sigterm_watcher);
  held_noted = 0; /* each run notes its own (both signals are blocked) */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = held_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  r->signals_held = 1;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void done_cb(struct ev_loop *loop, ev_async *a, int revents) {
  (void)revents;
  rl__runner *r = a->data;
  if (atomic_load(&r->finished_workers) == r->nworkers) {
    ev_break(loop, EVBREAK_ALL);
    return;
  }
  if (atomic_load(&r->state) == RL__STATE_STOPPING &&
      atomic_load(&r->workers_stopped) == r->nworkers)
    finish_stop(r);
}

/* Worker thread: a worker has ended (its last stats merged). */
static void worker_finished(void *arg) {
  rl__runner *r = arg;
  atomic_fetch_add(&r->finished_workers, 1);
  ev_async_send(r->loop, &r->done_async);
}

/* Worker thread: a worker's users have all stopped (a steered stop). */
static void worker_users_stopped(void *arg) {
  rl__runner *r = arg;
  atomic_fetch_add(&r->workers_stopped, 1);
  ev_async_send(r->loop, &r->done_async);
}

void rl__runner_reset(rl__runner *r) {
  rl__stats_hub_reset(&r->hub);
  pthread_mutex_lock(&r->ctl_lock);
  /* Workers exist (and their loops) only while the run does. */
  if (r->loop)
    for (uint32_t k = 0; k < r->nworkers; k++)
      rl__worker_wake(&r->workers[k]);
  pthread_mutex_unlock(&r->ctl_lock);
}

int rl__runner_stop_wait(rl__runner *r, double timeout_s) {
  rl__runner_ctl stop = {.stop = 1};
  pthread_mutex_lock(&r->state_lock);
  uint64_t mine = r->stops_asked + 1;
  pthread_mutex_unlock(&r->state_lock);
  rl__runner_control(r, &stop);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  double end = (double)until.tv_sec + (double)until.tv_nsec / 1e9 + timeout_s;
  until.tv_sec = (time_t)end;
  until.tv_nsec = (long)((end - (double)until.tv_sec) * 1e9);
  int rc = 0;
  pthread_mutex_lock(&r->state_lock);
  /* Every stop asked ends in finish_stop (users or none: the workers say
   * so at once), or in the run's end. */
  while (r->stops_done < mine) {
    if (atomic_load(&r->state) == RL__STATE_ENDING) {
      rc = RL_ERR_CLOSED;
      break;
    }
    if (pthread_cond_timedwait(&r->state_cond, &r->state_lock, &until)) {
      rc = RL_ERR_TIMEOUT;
      break;
    }
  }
  pthread_mutex_unlock(&r->state_lock);
  return rc;
}

void rl__runner_with_plan(rl__runner *r,
                          void (*fn)(const rl__plan *plan, void *arg),
                          void *arg) {
  pthread_mutex_lock(&r->plan_lock);
  fn(r->plan, arg);
  pthread_mutex_unlock(&r->plan_lock);
}

void rl__runner_with_stats(rl__runner *r, rl__stats_reader fn, void *arg) {
  rl__stats_hub_read(&r->hub, fn, arg);
}

void rl__runner_free(rl__runner *r) {
  if (r->signals_held) {
    sigaction(SIGINT, &r->saved_sigint, NULL);
    sigaction(SIGTERM, &r->saved_sigterm, NULL);
    r->signals_held = 0;
  }
  rl__stats_hub_free(&r->hub);
}

/* -n: the last iteration has ended (a worker's thread): the run stops
 * on the main loop. */
static void iterations_done(void *arg) {
  rl__runner *r = arg;
  ev_async_send(r->loop, &r->iter_async);
}

static void iterations_done_cb(struct ev_loop *loop, ev_async *a, int revents) {
  (void)loop;
  (void)revents;
  rl__runner *r = a->data;
  rl__log(RL__LOG_INFO, "all %llu iterations done: stopping",
          (unsigned long long)r->budget.total);
  stop_run(r);
}

/* What worker `index` needs of the run. */
static rl__worker_config worker_config(rl__runner *r, uint32_t index) {
  const rl__run_config *cfg = r->cfg;
  return (rl__worker_config){
      .index = (int)index,
      .nworkers = r->nworkers,
      .host = r->host,
      .plan = r->plan,
      .seed = cfg->seed,
      .start_ns = r->start_ns,
      .warmup_end_ns = cfg->warmup_ns ? r->start_ns + cfg->warmup_ns : 0,
      .skip_first = cfg->skip_first,
      .skipped = &r->skipped,
      .stop_timeout_ns = cfg->stop_timeout_ns,
      /* --connections N: N in all, dealt to threads like users are. */
      .npool = cfg->connections
                   ? rl__spawn_share(cfg->connections, index, r->nworkers)
                   : 0,
      .pool_target = r->target,
      .hub = &r->hub,
      .rate = cfg->rate,
      .arrivals = cfg->arrivals,
      .latency_uncorrected = cfg->latency_uncorrected,
      .print_responses = cfg->print_responses,
      .queue_cap = rl__spawn_share(cfg->max_queue, index, r->nworkers),
      .arrival_slack_ns = cfg->arrival_slack_ns,
      .budget = cfg->iterations ? &r->budget : NULL,
      .events = cfg->events,
      .finished = worker_finished,
      .users_stopped = worker_users_stopped,
      .finished_arg = r,
  };
}

void rl__runner_client_lag(const rl__runner *r, rl__lag *out) {
  *out = (rl__lag){0};
  if (!r->workers) {
    *out = r->lag;
    return;
  }
  for (uint32_t i = 0; i < r->nworkers; i++) {
    rl__lag one;
    rl__worker_lag(&r->workers[i], &one);
    rl__lag_add(out, &one);
  }
}

uint64_t rl__runner_elapsed_sec(const rl__runner *r) {
  return (rl__now_ns() - r->start_ns) / RL__NS_PER_SEC;
}

double rl__runner_counted_s(const rl__runner *r) {
  uint64_t from = r->start_ns + r->cfg->warmup_ns;
  return r->end_ns > from ? (double)(r->end_ns - from) / 1e9 : 0.0;
}

int rl__runner_run(rl__runner *r, const rl__run_config *cfg,
                   const rl_host *host, const struct rl__target *target,
                   rl__stats *stats, const rl__runner_hooks *hooks) {
  memset(r, 0, sizeof *r);
  r->cfg = cfg;
  r->host = host;
  rl__stats_hub_init(&r->hub, stats, cfg->full_history);
  if (cfg->max_error_rows)
    rl__stats_hub_set_max_error_rows(
        &r->hub, cfg->max_error_rows == UINT32_MAX ? 0 : cfg->max_error_rows);
  r->plan = cfg->plan;
  if (!r->plan) {
    r->own_plan = rl__plan_single((struct rl__target *)target, &cfg->wait);
    if (!r->own_plan)
      return RL_ERR_NOMEM;
    r->plan = r->own_plan;
  }
  r->target = rl__plan_first_target(r->plan);
  r->run_time_ns = cfg->run_time_ns;
  if (hooks)
    r->hooks = *hooks;
  r->nworkers = cfg->threads ? cfg->threads : 1;
  pthread_mutex_init(&r->ctl_lock, NULL);
  pthread_mutex_init(&r->state_lock, NULL);
  pthread_mutex_init(&r->plan_lock, NULL);
  pthread_cond_init(&r->state_cond, NULL);
  atomic_init(&r->workers_stopped, 0);
  atomic_init(&r->state, RL__STATE_READY);
  atomic_init(&r->finished_workers, 0);
  atomic_init(&r->skipped, 0);
  /* Our own loop, not libev's default: the default loop would also reap
   * children (SIGCHLD) behind the caller's back. */
  r->loop = ev_loop_new(EVFLAG_AUTO);
  r->workers = calloc(r->nworkers, sizeof *r->workers);
  if (!r->loop || !r->workers) {
    free(r->workers);
    if (r->loop)
      ev_loop_destroy(r->loop);
    pthread_mutex_destroy(&r->ctl_lock);
    pthread_mutex_destroy(&r->state_lock);
    pthread_mutex_destroy(&r->plan_lock);
    pthread_cond_destroy(&r->state_cond);
    rl__plan_del(r->own_plan);
    r->own_plan = NULL;
    return RL_ERR_NOMEM;
  }
  ev_async_init(&r->ctl_async, ctl_cb);
  r->ctl_async.data = r;
  ev_async_start(r->loop, &r->ctl_async);
  ev_init(&r->spawn_timer, spawn_cb);
  r->spawn_timer.data = r;
  ev_init(&r->run_timer, run_timer_cb);
  r->run_timer.data = r;
  ev_init(&r->autoquit_timer, autoquit_cb);
  r->autoquit_timer.data = r;
  ev_async_init(&r->done_async, done_cb);
  r->done_async.data = r;
  ev_async_start(r->loop, &r->done_async);
  ev_init(&r->shape_timer, shape_cb);
  r->shape_timer.data = r;
  ev_async_init(&r->iter_async, iterations_done_cb);
  r->iter_async.data = r;
  ev_async_start(r->loop, &r->iter_async);
  if (cfg->iterations)
    rl__budget_init(&r->budget, cfg->iterations, iterations_done, r);

  /* Signals go to the main thread only: workers start with them blocked. */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  r->start_ns = rl__now_ns();
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  if (rl__stats_hub_start(&r->hub, r->start_ns,
                          (double)wall.tv_sec + (double)wall.tv_nsec / 1e9,
                          r->nworkers))
    rl__log(RL__LOG_WARN, "out of memory: current rates may read low");
  int rc = 0;
  uint32_t started = 0;
  for (; started < r->nworkers; started++) {
    rl__worker_config wc = worker_config(r, started);
    if ((rc = rl__worker_start(&r->workers[started], &wc)))
      break; /* rl__worker_join below frees what it set up */
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);

  if (rc == 0 && !cfg->no_signals) {
    /* What the caller had, for rl__runner_free to put back. */
    sigaction(SIGINT, NULL, &r->saved_sigint);
    sigaction(SIGTERM, NULL, &r->saved_sigterm);
    ev_signal_init(&r->sigint_watcher, signal_cb, SIGINT);
    r->sigint_watcher.data = r;
    ev_signal_start(r->loop, &r->sigint_watcher);
    ev_signal_init(&r->sigterm_watcher, signal_cb, SIGTERM);
    r->sigterm_watcher.data = r;
    ev_signal_start(r->loop, &r->sigterm_watcher);
  }
  if (rc == 0) {
    if (!cfg->steered || cfg->autostart) {
      events_test_start(r);
      rl__stats_hub_cover(&r->hub, 1, rl__now_ns());
      if (cfg->shape_fn && !cfg->steered)
        shape_fn_start(r);
      else if (cfg->user_stages)
        shape_start(r);
      else
        swarm(r, cfg->users, cfg->spawn_rate);
      start_run_timer(r);
    }
    /* Rows half a second after each whole run second: the workers merge
     * on whole seconds, so the second a row tells of is complete by then
     * (rl__stats_hub_tick). */
    ev_now_update(r->loop);
    double phase = 1.5 - (double)(rl__now_ns() - r->start_ns) / 1e9;
    ev_timer_init(&r->history_timer, history_cb, phase > 0.5 ? phase : 0.5,
                  1.0);
    r->history_timer.data = r;
    ev_timer_start(r->loop, &r->history_timer);
    if (r->hooks.report && cfg->report_interval_s > 0) {
      ev_timer_init(&r->report_timer, report_cb, cfg->report_interval_s,
                    cfg->report_interval_s);
      r->report_timer.data = r;
      ev_timer_start(r->loop, &r->report_timer);
    }
    if (r->hooks.started)
      r->hooks.started(r, r->hooks.arg);
    ev_run(r->loop, 0);
    if (!cfg->no_signals)
      hold_signals(r);
  } else {
    rl__log(RL__LOG_ERROR, "cannot start worker thread %u", started);
    for (uint32_t i = 0; i < started; i++)
      rl__worker_command(&r->workers[i], RL__CMD_CUT);
  }
  r->end_ns = rl__now_ns();
  rl__stats_hub_cover(&r->hub, 0, r->end_ns); /* unless a stop did */
  for (uint32_t i = 0; i < r->nworkers; i++) {
    rl__worker_join(&r->workers[i]);
    r->cut_requests += rl__worker_cut_requests(&r->workers[i]);
    rl__lag one;
    rl__worker_lag(&r->workers[i], &one);
    rl__lag_add(&r->lag, &one);
  }
  /* Every worker's last stats are in: a last history row with the final
   * totals, so the history ends where the other reports do. */
  double shape_now;
  r->hub.target = rl__runner_target(r, &shape_now) ? shape_now : -1;
  if (rc == 0 && rl__stats_hub_tick(&r->hub, rl__now_ns(), r->users_at_stop, 1))
    rl__log(RL__LOG_WARN, "out of memory recording the history");
  if (rc == 0)
    events_test_stop(r);
  if (rc == 0 && r->hooks.ended)
    r->hooks.ended(r, r->hooks.arg);
  ev_timer_stop(r->loop, &r->spawn_timer);
  ev_timer_stop(r->loop, &r->run_timer);
  ev_timer_stop(r->loop, &r->report_timer);
  ev_timer_stop(r->loop, &r->history_timer);
  ev_timer_stop(r->loop, &r->autoquit_timer);
  pthread_mutex_lock(&r->ctl_lock);
  ev_async_stop(r->loop, &r->ctl_async);
  ev_signal_stop(r->loop, &r->sigint_watcher);
  ev_signal_stop(r->loop, &r->sigterm_watcher);
  ev_async_stop(r->loop, &r->done_async);
  ev_loop_destroy(r->loop);
  r->loop = NULL;
  /* New tests' plans nobody ran, or ran: the workers have ended. */
  rl__plan_del(r->ctl.plan);
  r->ctl.plan = NULL;
  pthread_mutex_unlock(&r->ctl_lock);
  rl__plan_del(r->pending_plan);
  r->pending_plan = NULL;
  free_retired(r);
  free(r->workers);
  r->workers = NULL;
  pthread_mutex_destroy(&r->ctl_lock);
  pthread_mutex_destroy(&r->state_lock);
  pthread_cond_destroy(&r->state_cond);
  /* The caller's plan and target again, for whoever reads r after the run
   * (a new test's were freed with its plan). */
  r->plan = cfg->plan;
  r->target = target;
  rl__plan_del(r->test_plan);
  r->test_plan = NULL;
  pthread_mutex_destroy(&r->plan_lock);
  rl__plan_del(r->own_plan);
  r->own_plan = NULL;
  return rc;
}
